#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Builds and runs the demo (`make demo`): the C library the demo dlopen()s,
# then the Rust example (default `std` feature), under a timeout.
# PSX_RUN_PREFIX: a command (split into words) the demo runs under, e.g.
# "scripts/in-userland.sh build/userland/sid" (`make test-userlands`); it is
# still built on this host.
set -eu
PSX_ROOT=${PSX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$PSX_ROOT"
CC=${CC:-cc}
CARGO=${CARGO:-cargo}
out=build/demo
mkdir -p "$out"
"$CC" -shared -fPIC -pthread -O2 -Wall -Wextra -Werror \
    -o "$out/demo_plugin.so" examples/demo_plugin.c
"$CARGO" build --quiet --example demo
exec timeout 60 ${PSX_RUN_PREFIX:-} target/debug/examples/demo "$PSX_ROOT/$out/demo_plugin.so"
