#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Builds and runs the demo (`make demo`): the C library the demo dlopen()s,
# then the Rust example (default `std` feature), under a timeout.
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
exec timeout 60 target/debug/examples/demo "$PSX_ROOT/$out/demo_plugin.so"
