# Makefile around cargo: builds the C artifacts of psx and runs every test.
#
#   make            libpsx.so.2, libpsx.so (linker script), libpsx_load.o, libpsx.a,
#                   the header, libpsx.pc in build/
#   make test       cargo test, then every C test (static and shared), the
#                   consumer tests (Debian's programs, libcap, pkg-config, link
#                   matrix) and the Go package's tests, then the userland matrix;
#                   stops at the first failure
#   make test-userlands  the C tests, Go tests and demo again inside Debian 13
#                   and unstable userlands (other glibc versions; needs root and
#                   debootstrap; USERLANDS="trixie sid" picks, USERLANDS= skips)
#   make demo       builds everything and shows, thread by thread, what psx changes
#   make bench      side-by-side benchmark against glibc and Debian's libpsx
#   make install    PREFIX=/usr/local DESTDIR= ; libraries, header, .pc, man pages,
#                   psx-check
#   make psx-check  build/bin/psx-check, the thread-credentials checker
#   make header     regenerates include/sys/psx_syscall.h with cbindgen
#                   (tools/header-gen); make header-check fails when the
#                   committed header differs from what cbindgen makes
#   make package-check  cargo package + publish --dry-run, docs as docs.rs
#
#   make ARCH=arm64 the same C artifacts cross-built for aarch64, in build/arm64/
#                   (and `make ARCH=arm64 c-test-build` the C tests for arm64)
#   make test-arm64 cross-builds, then runs the C suite, the Rust tests and
#                   the demo in an arm64 VM (qemu-system-aarch64, Debian's
#                   arm64 kernel): doc/arm64.md; the last step of make test

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
# The crate's own release (Cargo.toml), and the libcap interface it replaces
# (LIBPSX_MAJOR.LIBPSX_MINOR of the header): libpsx.pc's Version is the
# latter, so that `pkg-config --atleast-version=2.50 libpsx` means what it
# means with libcap.
CRATE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
VERSION := $(shell sed -n 's/^\#define LIBPSX_MAJOR \([0-9]*\)$$/\1/p' include/sys/psx_syscall.h).$(shell sed -n 's/^\#define LIBPSX_MINOR \([0-9]*\)$$/\1/p' include/sys/psx_syscall.h)
ifeq ($(VERSION),.)
$(error include/sys/psx_syscall.h defines no LIBPSX_MAJOR/LIBPSX_MINOR)
endif

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
CHECKBIN := $(OUT)/bin/psx-check
# psx-check needs the std feature; built in a target directory of its own
# so that it never replaces the no_std libpsx.so/libpsx.a in $(RUSTOUT).
TOOLTARGET := target/tools

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
	-e 's|@INCDIR@|$(2)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@CRATE_VERSION@|$(CRATE_VERSION)|g' psx.pc.in

export PSX_ROOT := $(CURDIR)
# man-db runs its helpers in a seccomp sandbox; on a kernel whose BPF JIT is
# wedged (seen on this project's machines) that hangs every `man` call.
export MAN_DISABLE_SECCOMP := 1

.PHONY: all lib psx-check header header-check package-check test test-userlands host-glibc cargo-test model-test c-test c-test-build consumer-test go-test man-test demo bench install clean lint lint-arm64 test-arm64

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

psx-check:
	$(CARGO) build --release --bin psx-check --target-dir $(TOOLTARGET)
	mkdir -p $(OUT)/bin
	cp -f $(TOOLTARGET)/release/psx-check $(CHECKBIN).tmp && mv -f $(CHECKBIN).tmp $(CHECKBIN)

# The header is committed; cbindgen runs only here, from a tool crate of
# its own, never from build.rs.
HEADERGEN = $(CARGO) run --quiet --manifest-path tools/header-gen/Cargo.toml \
	--target-dir target/header-gen -- $(CURDIR)
header:
	$(HEADERGEN) > $(HEADER).tmp && mv -f $(HEADER).tmp $(HEADER)

header-check:
	mkdir -p $(OUT)
	$(HEADERGEN) > $(OUT)/psx_syscall.h.generated
	@diff -u $(HEADER) $(OUT)/psx_syscall.h.generated || \
	    { echo "$(HEADER) differs from what cbindgen makes of src/ffi.rs and cbindgen.toml: run make header and commit it"; exit 1; }
	@echo "header: $(HEADER) is what cbindgen makes"

package-check:
	sh scripts/check-package.sh

$(PCFILE): psx.pc.in Cargo.toml $(HEADER)
	mkdir -p $(OUT)
	$(call pcgen,$(LIBDIR),$(INCDIR)) > $@

# Userlands built (once, cached in build/userland) by scripts/userland.sh.
USERLANDS ?= trixie sid

test: all host-glibc header-check package-check cargo-test model-test c-test consumer-test go-test man-test test-userlands test-arm64
	@if [ -n "$(strip $(USERLANDS))" ]; then \
	    echo "make test: all tests passed (host glibc $$(getconf GNU_LIBC_VERSION | sed 's/^glibc //'), userlands: $(strip $(USERLANDS)); arm64 VM)"; \
	else \
	    echo "make test: host and arm64 tests passed; the userland matrix was NOT run (USERLANDS is empty)"; \
	fi

host-glibc:
	@echo "host suite: $$(getconf GNU_LIBC_VERSION) (host)"

# The runs after the host's keep CI under 20 minutes: a shorter soak, t14
# cases and t13 EINTR rounds there (the host runs them at full length);
# set the variables to override.
SECOND_RUN_KNOBS = PSX_SOAK_SECONDS=$${PSX_SOAK_SECONDS:-15} \
    PSX_T14_SECONDS=$${PSX_T14_SECONDS:-4} PSX_T13_ROUNDS=$${PSX_T13_ROUNDS:-5}

test-userlands: all
	$(SECOND_RUN_KNOBS) PSX_USERLANDS="$(strip $(USERLANDS))" sh scripts/test-userlands.sh

# Each test binary has its own watchdog; this bounds the whole run.
ifeq ($(ARCH),)
cargo-test:
	timeout 900 $(CARGO) test
else
# Cross: the test programs run in the arm64 VM (doc/arm64.md).
cargo-test:
	sh scripts/cargo-test-arm64.sh
endif

# The model of the broadcast protocol (model/README.md): an exhaustive
# search of its interleavings; PSX_MODEL_BOUNDS widens it.
model-test:
	timeout 600 $(CARGO) test --manifest-path model/Cargo.toml --release -- --nocapture --test-threads=1

# Every man page renders without groff warnings, and man -l shows its NAME.
man-test:
	for m in doc/*.1 doc/*.3; do \
	    grep -q '^\.so ' "$$m" && continue; \
	    out=$$(groff -man -ww -z "$$m" 2>&1); [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; \
	    timeout 60 man -l "$$m" 2>&1 | grep -q '^NAME' || { echo "man -l $$m does not render"; exit 1; }; \
	done
	@echo "man pages: ok"

ifeq ($(ARCH),)
c-test: all
	sh c-tests/run.sh
	@echo "c-tests: again in the opt-in hold mode (PSX_HOLD_THREADS=1): $(HOLD_MODE_TESTS)"
	PSX_HOLD_THREADS=1 PSX_TESTS="$(HOLD_MODE_TESTS)" sh c-tests/run.sh
else
# Cross: builds on this machine, then runs the programs in an arm64 VM.
c-test: all
	PSX_CROSS=$(ARCH) CC=$(CC) CXX=$(CXX) sh c-tests/run.sh
endif

# The tests whose sub-cases take no mode of their own (c-tests/README.md),
# run a second time in the hold mode; t14, t17, t19 and t20 have hold-* cases.
HOLD_MODE_TESTS = t02_main_exit t04_fork t06_churn t10_unresponsive t15_forged t16_soak t18_proc_view

# Builds (and checks the linking of) the C tests without running them.
c-test-build: all
	PSX_CROSS=$(ARCH) PSX_BUILD_ONLY=1 CC=$(CC) CXX=$(CXX) sh c-tests/run.sh

# The C suite on a real arm64 kernel: doc/arm64.md. Then the tests whose
# outcome depends on glibc's cancellation and signal code again with Debian
# 13's arm64 glibc (2.41, which has the cancellation bridge psx's handler
# recognises; shared mode, the engine is the same).
ARM64_NEWER_GLIBC_TESTS = t13_invisible t17_cancel

test-arm64:
	$(SECOND_RUN_KNOBS) PSX_EXPECT_GLIBC=2.36 $(MAKE) ARCH=arm64 c-test
	$(SECOND_RUN_KNOBS) PSX_VM_SUITE=trixie PSX_EXPECT_GLIBC=2.41 PSX_MODES=shared \
	    PSX_TESTS="$(ARM64_NEWER_GLIBC_TESTS)" $(MAKE) ARCH=arm64 c-test
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

# What CI checks before the tests (.ci/run calls this).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --release --no-default-features --lib -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

# The same lints for the aarch64 code paths (needs rustup's aarch64 target).
lint-arm64:
	$(CARGO) clippy --target aarch64-unknown-linux-gnu --all-targets -- -D warnings
	$(CARGO) clippy --target aarch64-unknown-linux-gnu --release --no-default-features --lib -- -D warnings

# libpsx.so (ld script) and libpsx.pc are written here for this PREFIX/LIBDIR,
# not copied from build/ (made for the PREFIX of the first `make`); the
# paths inside them do not include DESTDIR.
install: all psx-check
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/sys $(DESTDIR)$(MANDIR)/man3
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(CHECKBIN) $(DESTDIR)$(BINDIR)/psx-check
	install -m 0644 doc/psx-check.1 $(DESTDIR)$(MANDIR)/man1/psx-check.1
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
