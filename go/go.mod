module psx.example/psx

go 1.19
