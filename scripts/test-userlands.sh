#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The userland matrix (`make test-userlands`, the last step of `make test`):
# the C tests (static and shared), the Go package's tests (cgo-shared,
# cgo-static, no-cgo) and the demo, all built on this host and dynamically
# linked with its C library, run again inside each userland of
# scripts/userland.sh, so that they load that userland's glibc. Stops at
# the first failure. Needs root and `make` to have built the library.
#
#   PSX_USERLANDS  userlands to run in (default "trixie sid"; make passes
#                  USERLANDS); empty: nothing is run and this says so
#   PSX_TESTS, PSX_KEEP_GOING, CT_ONLY: as for c-tests/run.sh
#
# Each program run prints "glibc X.YY (userland NAME)" first; the last line
# lists every version the suite passed in. (The no-cgo Go tests are static
# Go programs that never load glibc; they run too, as a check of the kernel
# interface from inside the chroot.)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
export PSX_ROOT
PSX_USERLANDS=${PSX_USERLANDS-trixie sid}

fail() {
    echo "test-userlands: FAILED: $*" >&2
    exit 1
}

if [ -z "$PSX_USERLANDS" ]; then
    echo "test-userlands: NOT RUN: no userland selected (PSX_USERLANDS is empty)"
    exit 0
fi

roots=$(sh "$here/userland.sh" $PSX_USERLANDS) || fail "building the userlands"
passed=
for root in $roots; do
    run="$here/in-userland.sh $root"
    version=$($run true) || fail "cannot run a program in $root"
    name=${root##*/}
    echo "=== userland $name: $version"
    export PSX_RUN_PREFIX="$run"
    sh "$PSX_ROOT/c-tests/run.sh" || fail "C tests in $version"
    sh "$PSX_ROOT/go/run-tests.sh" || fail "Go tests in $version"
    sh "$PSX_ROOT/examples/run-demo.sh" || fail "demo in $version"
    passed="$passed${passed:+, }${version#glibc }"
done
echo "test-userlands: C tests, Go tests and demo passed with glibc $passed"
