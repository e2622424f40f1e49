#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The crate as crates.io and docs.rs would see it (`make package-check`,
# part of `make test`):
#   1. cargo package: the file list holds what a user needs and nothing of
#      the repository's harnesses; cargo's verification then builds the
#      packaged copy on its own, which also fails if building writes into
#      its source directory.
#   2. cargo publish --dry-run: the manifest is acceptable to the registry.
#   3. cargo doc on the packaged copy the way docs.rs builds it (its
#      metadata's features, DOCS_RS=1, --cfg docsrs, no network), with
#      warnings as errors.
# --allow-dirty: what is packaged is the working tree, committed or not.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
CARGO=${CARGO:-cargo}

fail() {
    echo "check-package: FAIL: $*" >&2
    exit 1
}

name=$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | head -1)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ "$name" != psx ] || fail "the package is called psx, a PlayStation 1 SDK's name on crates.io"

list=$(timeout 600 "$CARGO" package --allow-dirty --list) || fail "cargo package --list"
for f in Cargo.toml README.md LICENSE build.rs src/lib.rs src/ffi.rs src/bin/psx-check.rs \
    include/sys/psx_syscall.h doc/psx-check.1 doc/psx_syscall3.3; do
    printf '%s\n' "$list" | grep -qx "$f" || fail "the package lacks $f"
done
if printf '%s\n' "$list" | grep -E '^(c-tests|consumers|go|bench|tools|\.ci|target|build)/'; then
    fail "the package holds repository-only files (above)"
fi
echo "check-package: $(printf '%s\n' "$list" | wc -l) files in $name-$version.crate"

timeout 1200 "$CARGO" package --allow-dirty || fail "cargo package (with verification)"
echo "check-package: cargo package: ok (target/package/$name-$version.crate, verified)"

# The packaged copy was just built by the verification above.
timeout 600 "$CARGO" publish --dry-run --allow-dirty --no-verify || fail "cargo publish --dry-run"
echo "check-package: cargo publish --dry-run: ok"

pkg=target/package/$name-$version
[ -d "$pkg" ] || fail "$pkg was not unpacked by cargo package"
features=$(sed -n '/^\[package.metadata.docs.rs\]/,/^\[/s/^features = \[\(.*\)\]/\1/p' Cargo.toml | tr -d '" ')
target=$(sed -n '/^\[package.metadata.docs.rs\]/,/^\[/s/^default-target = "\(.*\)"/\1/p' Cargo.toml)
(
    cd "$pkg"
    DOCS_RS=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_NET_OFFLINE=true \
        timeout 600 "$CARGO" doc --no-deps --lib --features "$features" --target "$target" \
        --target-dir "$here/target/docsrs"
) || fail "cargo doc as docs.rs builds it (features $features, target $target)"
[ -f "target/docsrs/$target/doc/psx/index.html" ] || fail "no target/docsrs/$target/doc/psx/index.html"
echo "check-package: docs as on docs.rs: ok (features $features, target $target)"
