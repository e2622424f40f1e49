#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Builds and runs the demo (`make demo`): the C library the demo dlopen()s,
# then the Rust example (default `std` feature), under a timeout.
# PSX_RUN_PREFIX: a command (split into words) the demo runs under, e.g.
# "scripts/in-userland.sh build/userland/sid" (`make test-userlands`); it is
# still built on this host.
#
# PSX_CROSS=arm64 (`make ARCH=arm64 demo`): both are cross-built for aarch64
# and run in the arm64 VM of scripts/arm64-vm.sh (doc/arm64.md), as root.
set -eu
PSX_ROOT=${PSX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$PSX_ROOT"
CARGO=${CARGO:-cargo}
case ${PSX_CROSS:-} in
"")
    CC=${CC:-cc}
    out=build/demo
    ;;
arm64)
    CROSS_COMPILE=${CROSS_COMPILE:-aarch64-linux-gnu-}
    CC=${CC:-${CROSS_COMPILE}gcc}
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-${CROSS_COMPILE}gcc}"
    out=build/arm64/demo
    ;;
*)
    echo "run-demo: PSX_CROSS=$PSX_CROSS: only arm64 is supported" >&2
    exit 1
    ;;
esac
mkdir -p "$out"
"$CC" -shared -fPIC -pthread -O2 -Wall -Wextra -Werror \
    -o "$out/demo_plugin.so" examples/demo_plugin.c
if [ -n "${PSX_CROSS:-}" ]; then
    "$CARGO" build --quiet --example demo --target aarch64-unknown-linux-gnu
    cp target/aarch64-unknown-linux-gnu/debug/examples/demo "$out/demo"
    exec sh scripts/arm64-vm.sh -f "$out/demo" -f "$out/demo_plugin.so" \
        'uname -m; NO_COLOR=1 timeout -s KILL 300 ./demo /vm/demo_plugin.so'
fi
"$CARGO" build --quiet --example demo
exec timeout 60 ${PSX_RUN_PREFIX:-} target/debug/examples/demo "$PSX_ROOT/$out/demo_plugin.so"
