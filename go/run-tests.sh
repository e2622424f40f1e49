#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs go vet and go test for the Go package in three builds:
#   cgo-shared  CGO_ENABLED=1, linked with $PSX_ROOT/build/lib/libpsx.so.2
#   cgo-static  CGO_ENABLED=1, linked with $PSX_ROOT/build/lib/libpsx.a
#   no-cgo      CGO_ENABLED=0, syscall.AllThreadsSyscall
# Needs `make` to have built the library first. Works offline: no module
# is downloaded (the module has no dependencies), caches live in build/.
# Exits non-zero on any failure, and when Go is missing.
#
# PSX_RUN_PREFIX: a command (split into words; absolute paths, as go runs it
# from each package's directory) the test binaries run under, via
# `go test -exec`. They are still built on this host, in build/go/tmp so
# that a chroot which binds the repository sees them; go vet, which runs
# nothing, is then skipped. `make test-userlands` sets it to
# "$PSX_ROOT/scripts/in-userland.sh $PSX_ROOT/build/userland/NAME".

set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${PSX_ROOT:=$(cd "$here/.." && pwd)}"
export PSX_ROOT

fail() {
	echo "go/run-tests.sh: FAIL: $*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 ||
	fail "the go command is not installed (Debian: apt-get install golang-go); the Go package cannot be tested"
command -v timeout >/dev/null 2>&1 || fail "timeout (coreutils) is missing"

lib="$PSX_ROOT/build/lib"
[ -f "$lib/libpsx.so.2" ] || fail "$lib/libpsx.so.2 is missing: run make first"
[ -f "$lib/libpsx.a" ] || fail "$lib/libpsx.a is missing: run make first"
[ -f "$PSX_ROOT/include/sys/psx_syscall.h" ] || fail "$PSX_ROOT/include/sys/psx_syscall.h is missing"

work="$PSX_ROOT/build/go"
PSX_RUN_PREFIX=${PSX_RUN_PREFIX:-}
mkdir -p "$work/cache" "$work/path" "$work/static-lib"
# A directory holding only the archive, so that -lpsx finds libpsx.a.
rm -f "$work/static-lib/libpsx.a"
cp "$lib/libpsx.a" "$work/static-lib/libpsx.a"

export GOCACHE="$work/cache" GOPATH="$work/path" GOMODCACHE="$work/path/pkg/mod"
export GOPROXY=off GOTOOLCHAIN=local GOFLAGS= GOWORK=off GO111MODULE=on GONOSUMDB= GOSUMDB=off
# Go 1.19 accepts -Wl,-wrap,pthread_create from #cgo LDFLAGS; older
# toolchains need this.
export CGO_LDFLAGS_ALLOW='-Wl,-?-wrap[=,][^-.@][^,]*'
# The tests' defaults are the strict ones: our library, with its marker.
unset PSX_GO_LIBPSX PSX_GO_MARKER PSX_GO_LINK PSX_GO_SCENARIO || true

echo "go/run-tests.sh: $(go version), PSX_ROOT=$PSX_ROOT"
cd "$here"

if [ -n "$PSX_RUN_PREFIX" ]; then
	echo "go/run-tests.sh: running the test binaries under: $PSX_RUN_PREFIX"
	mkdir -p "$work/tmp"
	export GOTMPDIR="$work/tmp"
fi

run() {
	mode=$1
	shift
	if [ -z "$PSX_RUN_PREFIX" ]; then
		echo "== go vet ($mode)"
		env "$@" timeout 300 go vet ./... || fail "go vet ($mode)"
	fi
	echo "== go test ($mode)"
	env "$@" timeout 300 go test -count=1 -timeout 240s -v ${PSX_RUN_PREFIX:+-exec "$PSX_RUN_PREFIX"} ./... ||
		fail "go test ($mode)"
}

inc="-I$PSX_ROOT/include"
run cgo-shared CGO_ENABLED=1 CGO_CFLAGS="$inc" \
	CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
run cgo-static CGO_ENABLED=1 CGO_CFLAGS="$inc" \
	CGO_LDFLAGS="-L$work/static-lib" PSX_GO_LINK=static
run no-cgo CGO_ENABLED=0

# Another libpsx where cgo looks by default: Debian's libcap-dev puts its
# header in /usr/include and libpsx.so (same SONAME, libpsx.so.2) in the
# multiarch directory. Both mix-ups must fail with a message that says
# what was found and how to point cgo at ours; nothing silent.
deb_lib=/usr/lib/x86_64-linux-gnu
[ -f /usr/include/sys/psx_syscall.h ] && [ -e "$deb_lib/libpsx.so" ] ||
	fail "Debian's libcap-dev is not installed (/usr/include/sys/psx_syscall.h, $deb_lib/libpsx.so): the foreign-library checks cannot run (.ci/run installs it)"
grep -q PSX_RUST_ENGINE /usr/include/sys/psx_syscall.h &&
	fail "/usr/include/sys/psx_syscall.h is psx's own header, not Debian's: the foreign-library checks would prove nothing"

echo "== go build with Debian's header and library (no CGO_CFLAGS/CGO_LDFLAGS)"
if env CGO_ENABLED=1 CGO_CFLAGS= CGO_LDFLAGS= timeout 300 go build . >"$work/foreign-header.log" 2>&1; then
	cat "$work/foreign-header.log"
	fail "go build succeeded against Debian's <sys/psx_syscall.h>; it must fail and say so"
fi
grep -q "psx: cgo found libcap's <sys/psx_syscall.h> (older than 2.71" "$work/foreign-header.log" &&
	grep -q "CGO_CFLAGS=-I<psx>/include" "$work/foreign-header.log" || {
	cat "$work/foreign-header.log"
	fail "go build against Debian's header failed without saying which header and how to fix it"
}
echo "go build refused Debian's header:"
grep "psx: cgo found" "$work/foreign-header.log" | head -1

echo "== go test with psx's header and Debian's library (-lpsx from $deb_lib)"
env CGO_ENABLED=1 CGO_CFLAGS="$inc" CGO_LDFLAGS= PSX_GO_FOREIGN_LIBPSX="$deb_lib/libpsx.so.2" \
	timeout 300 go test -count=1 -timeout 120s -v -run '^TestForeignLibraryRefused$' . \
	>"$work/foreign-lib.log" 2>&1 || { cat "$work/foreign-lib.log"; fail "foreign library test"; }
grep -q -- '--- PASS: TestForeignLibraryRefused' "$work/foreign-lib.log" ||
	{ cat "$work/foreign-lib.log"; fail "TestForeignLibraryRefused did not pass (skipped?)"; }
grep -m1 'psx: the libpsx loaded is' "$work/foreign-lib.log"

echo "go/run-tests.sh: all Go tests passed (cgo-shared, cgo-static, no-cgo, foreign header and library refused)"
