#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# `make ARCH=arm64 cargo-test`: cross-builds the Rust tests (unit and
# integration, default `std` feature) for aarch64 and runs every test
# program in the arm64 VM (scripts/arm64-vm.sh, doc/arm64.md), as root.
# Fails if any program fails or the VM does not come back.
set -eu
PSX_ROOT=${PSX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$PSX_ROOT"
CARGO=${CARGO:-cargo}
CROSS_COMPILE=${CROSS_COMPILE:-aarch64-linux-gnu-}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-${CROSS_COMPILE}gcc}"
# Optimized, as the C tests' release library is, debug assertions kept:
# unoptimized, psx's broadcaster under emulation could not catch up with
# the Rust churn test's threads made around the wrapper (tests/churn.rs
# passed 2 of 9 runs in the VM, each failure over a minute; at opt-level 2
# 6 of 6 in about 2 s, without the 1 s escalation).
export CARGO_PROFILE_TEST_OPT_LEVEL=2
out=build/arm64/cargo-test
rm -rf "$out"
mkdir -p "$out"
"$CARGO" test --target aarch64-unknown-linux-gnu --no-run
# The test programs cargo test would run (artifacts built with the test
# profile); examples are built, not run. Binaries the tests run themselves
# (psx-check, through CARGO_BIN_EXE_*, an absolute path) go into the VM at
# the same path.
json=$("$CARGO" test --target aarch64-unknown-linux-gnu --no-run --message-format=json 2>/dev/null)
# (The target's "test" field is true for both; the profile's is false for
# a plain build.)
exes=$(printf '%s\n' "$json" | grep -v '"test":false' | grep -v '"kind":\["example"\]' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
bins=$(printf '%s\n' "$json" | grep '"test":false' | grep '"kind":\["bin"\]' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
[ -n "$exes" ] || { echo "cargo-test-arm64: cargo built no test program" >&2; exit 1; }
set --
for bin in $bins; do
    set -- "$@" -p "$bin"
done
{
    echo 'echo "cargo tests: running on $(uname -m)"; failed=0 n=0'
    for exe in $exes; do
        name=$(basename "$exe")
        cp "$exe" "$out/$name"
        set -- "$@" -f "$out/$name"
        # The same bound as `make cargo-test` gives the whole run, per program.
        echo "n=\$((n + 1)); echo \"== $name\"; timeout -s KILL 900 ./$name || { echo \"FAILED: $name (status \$?)\"; failed=\$((failed + 1)); }"
    done
    echo 'echo "cargo tests: $((n - failed)) of $n programs passed"; [ "$failed" -eq 0 ]'
} > "$out/run.sh"
exec sh scripts/arm64-vm.sh "$@" -f "$out/run.sh" 'sh ./run.sh'
