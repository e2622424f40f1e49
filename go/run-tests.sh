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

echo "go/run-tests.sh: all Go tests passed (cgo-shared, cgo-static, no-cgo)"
