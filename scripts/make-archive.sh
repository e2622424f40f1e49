#!/bin/sh
# Turns cargo's staticlib into the libpsx.a we ship: one relocatable object
# in which only the public C symbols stay global.
#
# Why: cargo's archive holds our LTO'd object plus every member of core,
# compiler_builtins and libc, all with Rust's global symbols. A C program
# that also links another Rust staticlib would then see duplicate symbols.
# So: link our object with just the members it needs (ld -r pulls archive
# members on demand), drop the embedded LLVM bitcode (a GNU ld with LLVM's
# gold plugin installed would try to read it), and make every symbol local
# except the six of the C API.
#
# Then __real_pthread_create (see scripts/real-pthread-create-ref.c): the
# engine's weak reference becomes strong, so that a -static program linked
# with --wrap=pthread_create pulls libc.a's pthread_create in, and a second
# member defines __real_pthread_create for programs linked without --wrap.
set -eu
in=$(realpath "$1") out=$2
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-cc}
# CROSS_COMPILE: binutils prefix when building for another architecture
# (e.g. aarch64-linux-gnu-); empty for the host's own tools.
CROSS_COMPILE=${CROSS_COMPILE:-}
LD=${CROSS_COMPILE}ld OBJCOPY=${CROSS_COMPILE}objcopy AR=${CROSS_COMPILE}ar NM=${CROSS_COMPILE}nm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/x"
(cd "$tmp/x" && $AR x "$in")
for o in "$tmp"/x/*.o; do
    $OBJCOPY --remove-section=.llvmbc --remove-section=.llvmcmd "$o"
done
main=$(ls "$tmp"/x/psx-*.o "$tmp"/x/psx.*.o 2>/dev/null | head -1)
[ -n "$main" ] || { echo "make-archive: no psx object in $in" >&2; exit 1; }
mv "$main" "$tmp/main.o"
$AR rcs "$tmp/rest.a" "$tmp"/x/*.o
cat > "$tmp/keep" <<KEEP
psx_syscall3
psx_syscall6
__psx_syscall
psx_set_sensitivity
psx_load_syscalls
__wrap_pthread_create
KEEP
# --gc-sections drops what the six entry points (and the load-time
# constructor, which ld keeps as .init_array) cannot reach: C programs are
# usually linked without it, so it has to happen here to keep them small.
roots=$(sed 's/^/-u /' "$tmp/keep")
# shellcheck disable=SC2086
$LD -r --gc-sections $roots "$tmp/main.o" "$tmp/rest.a" -o "$tmp/engine.o"
# Added after --gc-sections, which would drop the unreferenced pointer.
$CC -O2 -fPIC -Wall -Werror -c "$here/real-pthread-create-ref.c" -o "$tmp/ref.o"
$LD -r "$tmp/engine.o" "$tmp/ref.o" -o "$tmp/psx.o"
$OBJCOPY --keep-global-symbols="$tmp/keep" "$tmp/psx.o"
# Check what the combination must give: the reference is strong now.
$NM "$tmp/psx.o" | grep -q ' U __real_pthread_create$' ||
    { echo "make-archive: __real_pthread_create is not a strong reference in psx.o" >&2; exit 1; }
$CC -O2 -fPIC -Wall -Werror -Wmissing-prototypes -c "$here/real-pthread-create.c" \
    -o "$tmp/psx-real-pthread-create.o"
rm -f "$out.tmp"
$AR rcs "$out.tmp" "$tmp/psx.o" "$tmp/psx-real-pthread-create.o"
mv -f "$out.tmp" "$out"
