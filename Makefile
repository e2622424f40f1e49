# Makefile around cargo: builds the C artifacts of psx and runs every test.
#
#   make            libpsx.so.2 (+ libpsx.so link), libpsx.a, the header, libpsx.pc in build/
#   make test       cargo test, then every C test (static and shared), the
#                   consumer tests (Debian's programs, libcap, pkg-config, link
#                   matrix) and the Go package's tests; stops at the first failure
#   make demo       builds everything and shows, thread by thread, what psx changes
#   make bench      side-by-side benchmark against glibc and Debian's libpsx
#   make install    PREFIX=/usr/local DESTDIR= ; libraries, header, .pc, man pages

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

CARGO   ?= cargo
OUT     := build
LIBOUT  := $(OUT)/lib
RUSTOUT := target/release

SHLIB   := $(LIBOUT)/libpsx.so.2
STLIB   := $(LIBOUT)/libpsx.a
HEADER  := include/sys/psx_syscall.h
PCFILE  := $(OUT)/libpsx.pc

export PSX_ROOT := $(CURDIR)

.PHONY: all lib test cargo-test c-test consumer-test go-test demo bench install clean lint

all: lib $(PCFILE)

# The C artifacts are the no_std engine: no Rust runtime inside, panic=abort.
lib:
	$(CARGO) build --release --no-default-features --lib
	mkdir -p $(LIBOUT)
	cp -f $(RUSTOUT)/libpsx.so $(SHLIB).tmp && mv -f $(SHLIB).tmp $(SHLIB)
	ln -sfn libpsx.so.2 $(LIBOUT)/libpsx.so
	sh scripts/make-archive.sh $(RUSTOUT)/libpsx.a $(STLIB)

$(PCFILE): psx.pc.in Cargo.toml
	mkdir -p $(OUT)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

test: all cargo-test c-test consumer-test go-test
	@echo "make test: all tests passed"

cargo-test:
	$(CARGO) test

c-test: all
	sh c-tests/run.sh

consumer-test: all
	sh consumers/run.sh

go-test: all
	sh go/run-tests.sh

demo: all
	sh examples/run-demo.sh

bench: all
	sh bench/run.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --lib -- -D warnings

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/sys $(DESTDIR)$(MANDIR)/man3
	install -m 0755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libpsx.so.2
	ln -sfn libpsx.so.2 $(DESTDIR)$(LIBDIR)/libpsx.so
	install -m 0644 $(STLIB) $(DESTDIR)$(LIBDIR)/libpsx.a
	install -m 0644 $(HEADER) $(DESTDIR)$(INCDIR)/sys/psx_syscall.h
	install -m 0644 $(PCFILE) $(DESTDIR)$(LIBDIR)/pkgconfig/libpsx.pc
	for m in doc/*.3; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man3/ || true; done

clean:
	$(CARGO) clean
	rm -rf $(OUT)
