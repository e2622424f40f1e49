# Makefile around cargo: builds the C artifacts of psx and runs every test.
#
#   make            libpsx.so.2, libpsx.so (linker script), libpsx_load.o, libpsx.a,
#                   the header, libpsx.pc in build/
#   make test       cargo test, then every C test (static and shared), the
#                   consumer tests (Debian's programs, libcap, pkg-config, link
#                   matrix) and the Go package's tests; stops at the first failure
#   make demo       builds everything and shows, thread by thread, what psx changes
#   make bench      side-by-side benchmark against glibc and Debian's libpsx
#   make install    PREFIX=/usr/local DESTDIR= ; libraries, header, .pc, man pages
#
#   make ARCH=arm64 the same C artifacts cross-built for aarch64, in build/arm64/
#                   (and `make ARCH=arm64 c-test-build` the C tests for arm64)
#   make test-arm64 cross-builds, then runs the C suite, the Rust tests and
#                   the demo in an arm64 VM (qemu-system-aarch64, Debian's
#                   arm64 kernel): doc/arm64.md

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

CARGO   ?= cargo
# ARCH=arm64 cross-builds the C artifacts for aarch64 into build/arm64/ with
# Debian's aarch64-linux-gnu- toolchain (see doc/arm64.md); empty: the host.
ARCH    ?=
ifeq ($(ARCH),)
OUT     := build
RUSTOUT := target/release
CARGOFLAGS :=
else ifeq ($(ARCH),arm64)
CROSS_COMPILE ?= aarch64-linux-gnu-
OUT     := build/arm64
RUSTOUT := target/aarch64-unknown-linux-gnu/release
CARGOFLAGS := --target aarch64-unknown-linux-gnu
CC      := $(CROSS_COMPILE)gcc
CXX     := $(CROSS_COMPILE)g++
export CROSS_COMPILE
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER ?= $(CROSS_COMPILE)gcc
else
$(error ARCH=$(ARCH): only ARCH=arm64 (or no ARCH, the host) is supported)
endif
LIBOUT  := $(OUT)/lib

SHLIB   := $(LIBOUT)/libpsx.so.2
STLIB   := $(LIBOUT)/libpsx.a
HEADER  := include/sys/psx_syscall.h
PCFILE  := $(OUT)/libpsx.pc
LOADOBJ := $(LIBOUT)/libpsx_load.o

# libpsx.so, what -lpsx finds, is a GNU ld script and not a symlink to
# libpsx.so.2: libcap.so.2 has a weak psx_load_syscalls of its own, and the
# dynamic linker binds the first one in load order, so with `-lcap -lpsx`
# cap_set_proc() would change only the calling thread. The script also
# links libpsx_load.o (scripts/psx-load.c), which puts a strong
# psx_load_syscalls into the program itself; ld exports it when libcap.so.2
# names it and it then wins in either order. $(1): directory of the files.
ldscript = printf '%s\n' '/* GNU ld script: see psx Makefile. libpsx_load.o defines' \
	'   psx_load_syscalls in the program, so libcap finds ours first. */' \
	'INPUT("$(1)/libpsx_load.o" "$(1)/libpsx.so.2")'
# The .pc file for libraries in $(1), headers in $(2).
pcgen = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(1)|g' \
	-e 's|@INCDIR@|$(2)|g' -e 's|@VERSION@|$(VERSION)|g' psx.pc.in

export PSX_ROOT := $(CURDIR)
# man-db runs its helpers in a seccomp sandbox; on a kernel whose BPF JIT is
# wedged (seen on this project's machines) that hangs every `man` call.
export MAN_DISABLE_SECCOMP := 1

.PHONY: all lib test cargo-test c-test c-test-build consumer-test go-test man-test demo bench install clean lint test-arm64

all: lib $(PCFILE)

# The C artifacts are the no_std engine: no Rust runtime inside, panic=abort.
lib:
	$(CARGO) build --release --no-default-features --lib $(CARGOFLAGS)
	mkdir -p $(LIBOUT)
	cp -f $(RUSTOUT)/libpsx.so $(SHLIB).tmp && mv -f $(SHLIB).tmp $(SHLIB)
	$(CC) -O2 -fPIC -Wall -Werror -Iinclude -c scripts/psx-load.c -o $(LOADOBJ).tmp
	mv -f $(LOADOBJ).tmp $(LOADOBJ)
	$(call ldscript,$(CURDIR)/$(LIBOUT)) > $(LIBOUT)/libpsx.so.tmp
	mv -f $(LIBOUT)/libpsx.so.tmp $(LIBOUT)/libpsx.so
	CC="$(CC)" sh scripts/make-archive.sh $(RUSTOUT)/libpsx.a $(STLIB)

$(PCFILE): psx.pc.in Cargo.toml
	mkdir -p $(OUT)
	$(call pcgen,$(LIBDIR),$(INCDIR)) > $@

test: all cargo-test c-test consumer-test go-test man-test
	@echo "make test: all tests passed"

# Each test binary has its own watchdog; this bounds the whole run.
ifeq ($(ARCH),)
cargo-test:
	timeout 900 $(CARGO) test
else
# Cross: the test programs run in the arm64 VM (doc/arm64.md).
cargo-test:
	sh scripts/cargo-test-arm64.sh
endif

# Every man page renders without groff warnings, and man -l shows its NAME.
man-test:
	for m in doc/*.3; do \
	    grep -q '^\.so ' "$$m" && continue; \
	    out=$$(groff -man -ww -z "$$m" 2>&1); [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; \
	    timeout 60 man -l "$$m" 2>&1 | grep -q '^NAME' || { echo "man -l $$m does not render"; exit 1; }; \
	done
	@echo "man pages: ok"

ifeq ($(ARCH),)
c-test: all
	sh c-tests/run.sh
else
# Cross: builds on this machine, then runs the programs in an arm64 VM.
c-test: all
	PSX_CROSS=$(ARCH) CC=$(CC) CXX=$(CXX) sh c-tests/run.sh
endif

# Builds (and checks the linking of) the C tests without running them.
c-test-build: all
	PSX_CROSS=$(ARCH) PSX_BUILD_ONLY=1 CC=$(CC) CXX=$(CXX) sh c-tests/run.sh

# The C suite on a real arm64 kernel: doc/arm64.md.
test-arm64:
	$(MAKE) ARCH=arm64 c-test
	$(MAKE) ARCH=arm64 cargo-test
	$(MAKE) ARCH=arm64 demo

consumer-test: all
	sh consumers/run.sh

go-test: all
	sh go/run-tests.sh

demo: all
	PSX_CROSS=$(ARCH) CC=$(CC) sh examples/run-demo.sh

bench: all
	sh bench/run.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --lib -- -D warnings

# libpsx.so (ld script) and libpsx.pc are written here for this PREFIX/LIBDIR,
# not copied from build/ (made for the PREFIX of the first `make`); the
# paths inside them do not include DESTDIR.
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/sys $(DESTDIR)$(MANDIR)/man3
	install -m 0755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libpsx.so.2
	install -m 0644 $(LOADOBJ) $(DESTDIR)$(LIBDIR)/libpsx_load.o
	rm -f $(DESTDIR)$(LIBDIR)/libpsx.so
	$(call ldscript,$(LIBDIR)) > $(DESTDIR)$(LIBDIR)/libpsx.so
	chmod 0644 $(DESTDIR)$(LIBDIR)/libpsx.so
	install -m 0644 $(STLIB) $(DESTDIR)$(LIBDIR)/libpsx.a
	install -m 0644 $(HEADER) $(DESTDIR)$(INCDIR)/sys/psx_syscall.h
	$(call pcgen,$(LIBDIR),$(INCDIR)) > $(DESTDIR)$(LIBDIR)/pkgconfig/libpsx.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/libpsx.pc
	for m in doc/*.3; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man3/ || true; done

clean:
	$(CARGO) clean
	rm -rf $(OUT)
