#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Consumer tests: programs this project did not write, and the ways C
# programs link libpsx, run against this project's libpsx.
#
#   1. Debian's prebuilt psx_test and libcap_psx_test (apt-get download
#      libcap-dev libcap2, dpkg -x) run with our libpsx.so.2
#   2. Debian's libcap (shared and static): cap_set_proc() with 8 threads,
#      in both link orders
#   3. make install PREFIX=tmp (and DESTDIR=), then a program built only from pkg-config
#      (C89, C11, C++17; shared and static)
#   4. link matrix {shared, archive, -static} x {--wrap, none}; exported
#      symbols, SONAME, sizes
#   5. libpsx.a linked beside other Rust staticlibs
#
# Stops at the first failure (exit 1). Needs root, cc, c++, pkg-config,
# cargo, libcap-dev (libcap.so, libcap.a) and apt-get download access.
# Every program runs under timeout. Work files: build/consumers/, mktemp.
#
# PSX_UNDER_TEST=debian runs what applies against Debian's libpsx instead
# (to develop the harness; checks that only mean something for ours are
# reported as not applicable). The default, and CI, is ours.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
export PSX_ROOT
UNDER_TEST=${PSX_UNDER_TEST:-ours}
W=$PSX_ROOT/build/consumers
SRC=$here/src
CC=${CC:-cc}
CXX=${CXX:-c++}
RUN_TIMEOUT=${RUN_TIMEOUT:-30}
MARKER=psx-rust-engine
# The six symbols of libcap's <sys/psx_syscall.h>, sorted.
PUBLIC_SYMBOLS="__psx_syscall __wrap_pthread_create psx_load_syscalls psx_set_sensitivity psx_syscall3 psx_syscall6"
# Does -lcap before -lpsx (libcap.so.2 first in NEEDED) reach every thread?
# Ours: "yes", because -lpsx finds libpsx.so, an ld script that also links
# libpsx_load.o (a psx_load_syscalls inside the program, which the dynamic
# linker finds before libcap.so.2's weak one). Debian's libpsx.so is a
# symlink: "no", libcap.so.2's own weak psx_load_syscalls wins the lookup
# and only the calling thread changes; the test then asserts that.
case ${PSX_UNDER_TEST:-ours} in
ours) LIBCAP_FIRST_WORKS=${LIBCAP_FIRST_WORKS:-yes} ;;
*) LIBCAP_FIRST_WORKS=${LIBCAP_FIRST_WORKS:-no} ;;
esac
# Sections to run (development aid; CI runs all of them).
SECTIONS=${PSX_CONSUMER_SECTIONS:-1 2 3 4 5}
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

passed=0
logs=$W/logs

say() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); say "PASS: $*"; }
info() { say "INFO: $*"; }
fail() {
    say "FAIL: $*" >&2
    say "consumers: $passed passed, 1 failed"
    exit 1
}
# show FILE: prints a log file (indented) to stderr.
show() { [ -s "$1" ] && sed 's/^/    | /' "$1" >&2 || true; }

# build NAME CMD...: runs a compiler/linker command under timeout, log in
# $logs/NAME.build; fails with the log.
build() {
    b_name=$1
    shift
    if ! timeout 120 "$@" >"$logs/$b_name.build" 2>&1; then
        show "$logs/$b_name.build"
        fail "$b_name: build failed: $*"
    fi
}

# runprog NAME EXPECT_SO PROG [ARGS]: runs a test program under timeout with
# PSX_EXPECT_SO (path of the libpsx.so.2 that must be mapped, or "none") and
# the marker to find in it. Sets $rc; output in $logs/NAME.out.
runprog() {
    r_name=$1 r_so=$2
    shift 2
    rc=0
    PSX_EXPECT_SO=$r_so PSX_EXPECT_MARKER=$LIBMARKER timeout "$RUN_TIMEOUT" "$@" \
        >"$logs/$r_name.out" 2>&1 || rc=$?
    if [ "$rc" = 124 ]; then
        show "$logs/$r_name.out"
        fail "$r_name: timed out after ${RUN_TIMEOUT}s"
    fi
}

# expect_pass NAME EXPECT_SO PROG...: the program must exit 0.
expect_pass() {
    e_name=$1
    runprog "$@"
    if [ "$rc" != 0 ]; then
        show "$logs/$e_name.out"
        fail "$e_name: exit status $rc"
    fi
    pass "$e_name"
}

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }

# assert_static_psx NAME EXE: libpsx is inside EXE (ours: marker found),
# and EXE does not need any libpsx shared object.
assert_static_psx() {
    case " $(needed "$2")" in
    *" libpsx"*) fail "$1: $2 needs a shared libpsx: $(needed "$2")" ;;
    esac
    if [ -n "$LIBMARKER" ] && ! grep -q "$LIBMARKER" "$2"; then
        fail "$1: $2 does not contain the marker $LIBMARKER: our engine was not linked in"
    fi
}

# assert_shared_psx NAME EXE: EXE needs libpsx.so.2.
assert_shared_psx() {
    case " $(needed "$2") " in
    *" libpsx.so.2 "*) ;;
    *) fail "$1: $2 does not need libpsx.so.2 (NEEDED: $(needed "$2"))" ;;
    esac
}

[ "$(id -u)" = 0 ] || fail "consumer tests must run as root (CI does): capabilities, setfsuid, setresgid"
for tool in "$CC" "$CXX" pkg-config readelf nm strip ar dpkg apt-get cargo make timeout; do
    command -v "$tool" >/dev/null 2>&1 || fail "required tool not found: $tool"
done
MA=$($CC -print-multiarch)
[ -n "$MA" ] || fail "$CC -print-multiarch printed nothing"

rm -rf "$logs"
mkdir -p "$W" "$logs"

# The library under test: LIBDIR (libpsx.so.2, libpsx.so, libpsx.a) and
# INCDIR (sys/psx_syscall.h).
case $UNDER_TEST in
ours)
    LIBDIR=$PSX_ROOT/build/lib
    INCDIR=$PSX_ROOT/include
    LIBMARKER=$MARKER
    for f in "$LIBDIR/libpsx.so.2" "$LIBDIR/libpsx.so" "$LIBDIR/libpsx.a" \
        "$INCDIR/sys/psx_syscall.h"; do
        [ -e "$f" ] || fail "$f missing: run make first"
    done
    grep -q "$MARKER" "$LIBDIR/libpsx.so.2" || fail "$LIBDIR/libpsx.so.2 lacks the marker $MARKER"
    grep -q "$MARKER" "$LIBDIR/libpsx.a" || fail "$LIBDIR/libpsx.a lacks the marker $MARKER"
    ;;
debian)
    LIBDIR=$W/debian-lib
    INCDIR=$W/debian-include
    LIBMARKER=
    rm -rf "$LIBDIR" "$INCDIR"
    mkdir -p "$LIBDIR" "$INCDIR/sys"
    cp "$(readlink -f "/usr/lib/$MA/libpsx.so.2")" "$LIBDIR/libpsx.so.2"
    ln -s libpsx.so.2 "$LIBDIR/libpsx.so"
    cp "/usr/lib/$MA/libpsx.a" "$LIBDIR/libpsx.a"
    cp /usr/include/sys/psx_syscall.h "$INCDIR/sys/"
    ;;
*) fail "PSX_UNDER_TEST must be ours or debian, not $UNDER_TEST" ;;
esac
SO=$LIBDIR/libpsx.so.2
SHARED="-L$LIBDIR -Wl,-rpath,$LIBDIR"
WRAP=-Wl,--wrap=pthread_create
# Expected outcome of cap_set_proc() with 8 threads (see cap_case): libcap
# linked before libpsx, and libpsx linked without --wrap.
if [ "$LIBCAP_FIRST_WORKS" = yes ]; then capfirst=all; else capfirst=one; fi
case $UNDER_TEST in
ours) nowrap=all ;;
debian) nowrap=one ;; # Debian's libpsx only reaches threads its wrapper registered
esac
say "consumers: testing $UNDER_TEST libpsx from $LIBDIR"

###########################################################################
if want 1; then
say "== 1. Debian's prebuilt psx programs with our libpsx.so.2"
debs=$W/debs
mkdir -p "$debs"
have_debs() {
    set -- "$debs"/libcap-dev_*.deb
    [ -e "$1" ] || return 1
    set -- "$debs"/libcap2_*.deb
    [ -e "$1" ]
}
if ! have_debs; then
    dl=$(mktemp -d)
    if ! (cd "$dl" && timeout 300 apt-get download libcap-dev libcap2) >"$logs/apt-download.log" 2>&1; then
        show "$logs/apt-download.log"
        rm -rf "$dl"
        fail "apt-get download libcap-dev libcap2 failed (needs Debian's package registry)"
    fi
    mv "$dl"/*.deb "$debs/"
    rm -rf "$dl"
fi
have_debs || fail "no libcap-dev/libcap2 .deb in $debs after apt-get download"
debroot=$W/debroot
rm -rf "$debroot"
mkdir -p "$debroot"
for deb in "$debs"/libcap-dev_*.deb "$debs"/libcap2_*.deb; do
    timeout 60 dpkg -x "$deb" "$debroot" || fail "dpkg -x $deb"
done
tests=$debroot/usr/lib/$MA/libcap2/tests
# Only libcap.so.2 from the package, in a directory of its own, so that the
# package's libpsx.so.2 cannot be picked up by mistake.
deblibcap=$W/deb-libcap
rm -rf "$deblibcap"
mkdir -p "$deblibcap"
for d in "$debroot/lib/$MA" "$debroot/usr/lib/$MA"; do
    [ -e "$d/libcap.so.2" ] && ln -s "$(readlink -f "$d/libcap.so.2")" "$deblibcap/libcap.so.2" && break
done
[ -e "$deblibcap/libcap.so.2" ] || fail "libcap.so.2 not found in the extracted libcap2 package"

for prog in psx_test libcap_psx_test; do
    exe=$tests/$prog
    [ -x "$exe" ] || fail "$exe not in the extracted libcap-dev package"
    # What the program takes from libpsx: it must use the wrapper (it was
    # linked with --wrap=pthread_create) and, for psx_test, the macro's target.
    imports=$(nm -D --undefined-only "$exe" | awk '{print $NF}' | sed 's/@.*//' | sort | tr '\n' ' ')
    case $prog in
    psx_test) want="__psx_syscall __wrap_pthread_create" ;;
    libcap_psx_test) want="__wrap_pthread_create cap_set_proc" ;;
    esac
    for sym in $want; do
        case " $imports" in
        *" $sym "*) ;;
        *) fail "$prog does not import $sym (imports: $imports)" ;;
        esac
    done
    case " $(needed "$exe") " in
    *" libpsx.so.2 "*) ;;
    *) fail "$prog does not need libpsx.so.2" ;;
    esac
    pass "$prog imports $want from NEEDED [$(needed "$exe")]"

    out=$logs/$prog.out err=$logs/$prog.err
    rc=0
    (cd "$tests" && LD_LIBRARY_PATH="$LIBDIR:$deblibcap" LD_DEBUG=libs \
        timeout "$RUN_TIMEOUT" "./$prog") >"$out" 2>"$err" || rc=$?
    if [ "$rc" != 0 ]; then
        show "$out"
        grep -v '^ *[0-9]*:' "$err" >&2 || true
        fail "$prog exited with status $rc"
    fi
    # The dynamic linker says which file it initialised for libpsx.so.2.
    inits=$(sed -n 's/.*calling init: \(.*libpsx[^ ]*\).*/\1/p' "$err" | sort -u)
    [ "$inits" = "$SO" ] || fail "$prog: libpsx initialised from [$inits], expected $SO"
    if [ "$prog" = libcap_psx_test ]; then
        grep -q "calling init: $deblibcap/libcap.so.2" "$err" ||
            fail "$prog: did not load libcap.so.2 from $deblibcap"
    fi
    grep -q 'PASSED' "$out" || { show "$out"; fail "$prog did not print PASSED"; }
    if grep -qi 'FAIL' "$out"; then show "$out"; fail "$prog printed a failure"; fi
    if [ "$prog" = psx_test ]; then
        # Each thread prints what it saw; check them ourselves too.
        seen=$(grep -c 'keepcaps=' "$out" || true)
        bad=$(sed -n 's/.*keepcaps=\([0-9-]*\) vs\. want=\([0-9-]*\)).*/\1 \2/p' "$out" |
            awk '$1 != $2' | wc -l)
        [ "$seen" -ge 13 ] && [ "$bad" = 0 ] ||
            { show "$out"; fail "$prog: $seen per-thread keepcaps lines, $bad wrong"; }
        pass "$prog: PASSED with $SO (LD_DEBUG=libs), $seen per-thread keepcaps lines all as wanted"
    else
        pass "$prog: PASSED with $SO and $deblibcap/libcap.so.2 (LD_DEBUG=libs)"
    fi
done
# libcap_psx_test lists libcap.so.2 before libpsx.so.2: which
# psx_load_syscalls did libcap bind to? (Information: the program does not
# check other threads, so it passes either way.)
bind=$(cd "$tests" && LD_LIBRARY_PATH="$LIBDIR:$deblibcap" LD_DEBUG=bindings \
    timeout "$RUN_TIMEOUT" ./libcap_psx_test 2>&1 >/dev/null |
    sed -n "s/.*binding file \([^ ]*\) .* to \([^ ]*\) .*psx_load_syscalls.*/\1 -> \2/p" | sort -u | head -3)
info "libcap_psx_test (NEEDED: $(needed "$tests/libcap_psx_test")): psx_load_syscalls bound: ${bind:-<none>}"
bind=$(cd "$tests" && LD_PRELOAD=$SO LD_LIBRARY_PATH="$LIBDIR:$deblibcap" LD_DEBUG=bindings \
    timeout "$RUN_TIMEOUT" ./libcap_psx_test 2>&1 >/dev/null |
    sed -n "s/.*binding file \([^ ]*\) .* to \([^ ]*\) .*psx_load_syscalls.*/\2/p" | sort -u)
[ "$bind" = "$SO" ] || fail "libcap_psx_test with LD_PRELOAD=$SO: libcap bound psx_load_syscalls to [$bind]"
pass "libcap_psx_test with LD_PRELOAD=libpsx.so.2: libcap.so.2 binds psx_load_syscalls to $SO"

fi
###########################################################################
if want 2; then
say "== 2. Debian's libcap: cap_set_proc() on 8 threads + main"
[ -e "/usr/lib/$MA/libcap.so" ] || fail "/usr/lib/$MA/libcap.so missing: install libcap-dev"
[ -e "/usr/lib/$MA/libcap.a" ] || fail "/usr/lib/$MA/libcap.a missing: install libcap-dev"
capdir=$W/cap
rm -rf "$capdir"
mkdir -p "$capdir"
CAPCC="$CC -O2 -Wall -Werror -I$INCDIR -I$SRC"

# cap_case NAME EXPECT SHARED|STATIC LINK...: EXPECT is all (every thread
# drops the capability), one (only the caller: libcap used its own
# single-thread capset) or dropped (libpsx not linked at all).
cap_case() {
    name=cap-$1 expect=$2 kind=$3
    shift 3
    exe=$capdir/$name
    build "$name" $CAPCC -o "$exe" "$SRC/cap_drop.c" "$@"
    so=$SO
    case $expect in
    dropped)
        case " $(needed "$exe")" in
        *" libpsx"*) fail "$name: expected the linker to drop libpsx, NEEDED: $(needed "$exe")" ;;
        esac
        pass "$name: libpsx.so.2 dropped by the linker (NEEDED: $(needed "$exe"))"
        return
        ;;
    esac
    if [ "$kind" = static ]; then
        assert_static_psx "$name" "$exe"
        so=none
    else
        assert_shared_psx "$name" "$exe"
    fi
    runprog "$name" "$so" "$exe"
    case $expect:$rc in
    all:0) pass "$name: all 9 threads dropped CAP_NET_RAW (NEEDED: $(needed "$exe"))" ;;
    one:3)
        grep -q 'only 1 of 9 threads' "$logs/$name.out" ||
            { show "$logs/$name.out"; fail "$name: expected exactly 1 of 9 threads to change"; }
        b=$(LD_DEBUG=bindings PSX_EXPECT_SO=$so timeout "$RUN_TIMEOUT" "$exe" 2>&1 >/dev/null |
            sed -n 's/.*binding file \([^ ]*\) .* to \([^ ]*\) .*psx_load_syscalls.*/\1 -> \2/p' | sort -u)
        pass "$name: as documented, only the calling thread changed: NEEDED [$(needed "$exe")], psx_load_syscalls bound $b"
        ;;
    *)
        show "$logs/$name.out"
        fail "$name: expected '$expect', exit status $rc"
        ;;
    esac
}

cap_case shared-psx-cap-wrap all shared $SHARED -lpsx -lcap -lpthread $WRAP
cap_case shared-psx-cap-nowrap $nowrap shared -Wl,--no-as-needed $SHARED -lpsx -lcap -lpthread
cap_case shared-psx-cap-wrap-asneeded all shared -Wl,--as-needed $SHARED -lpsx -lcap -lpthread $WRAP
if [ "$LIBCAP_FIRST_WORKS" = yes ]; then
    cap_case shared-psx-cap-nowrap-asneeded $nowrap shared -Wl,--as-needed $SHARED -lpsx -lcap -lpthread
else
    # Nothing in the program refers to libpsx: --as-needed drops it.
    cap_case shared-psx-cap-nowrap-asneeded dropped shared -Wl,--as-needed $SHARED -lpsx -lcap -lpthread
fi
cap_case shared-cap-psx-wrap $capfirst shared $SHARED -lcap -lpsx -lpthread $WRAP
cap_case shared-cap-psx-wrap-asneeded $capfirst shared -Wl,--as-needed $SHARED -lcap -lpsx -lpthread $WRAP
cap_case shared-cap-psx-nowrap "$([ $capfirst = all ] && echo $nowrap || echo one)" shared \
    -Wl,--no-as-needed $SHARED -lcap -lpsx -lpthread
if [ "$LIBCAP_FIRST_WORKS" = yes ]; then
    cap_case shared-cap-psx-nowrap-asneeded $nowrap shared -Wl,--as-needed $SHARED -lcap -lpsx -lpthread
    cap_case shared-cap-psx-wrap-gc all shared -ffunction-sections -Wl,--gc-sections \
        $SHARED -lcap -lpsx -lpthread $WRAP
    # -lpsx twice (Go's cgo does it): libpsx_load.o is linked once.
    cap_case shared-cap-psx-twice all shared $SHARED -lcap -lpsx -lpthread $WRAP -lpsx
    # How: the program defines psx_load_syscalls (from libpsx_load.o) and
    # exports it, and libcap.so.2 binds to the program's.
    exe=$capdir/cap-shared-cap-psx-wrap
    nm -D --defined-only "$exe" | grep -q ' T psx_load_syscalls$' ||
        fail "cap-shared-cap-psx-wrap does not define and export psx_load_syscalls: libpsx.so is not the ld script with libpsx_load.o?"
    b=$(LD_DEBUG=bindings PSX_EXPECT_SO=$SO timeout "$RUN_TIMEOUT" "$exe" 2>&1 >/dev/null |
        sed -n 's/.*binding file \([^ ]*\) .* to \([^ ]*\) .*psx_load_syscalls.*/\1 -> \2/p' | sort -u)
    case $b in
    *"libcap.so.2 -> $exe") ;;
    *) fail "cap-shared-cap-psx-wrap: libcap.so.2 bound psx_load_syscalls as [$b], expected to $exe" ;;
    esac
    pass "cap-shared-cap-psx-wrap exports psx_load_syscalls; libcap.so.2 binds it to the program"
fi
# At run time, LD_PRELOAD puts libpsx.so.2 ahead of libcap.so.2 in the
# lookup scope, whatever the program's NEEDED order.
runprog cap-shared-cap-psx-wrap-preload "$SO" env LD_PRELOAD="$SO" "$capdir/cap-shared-cap-psx-wrap"
[ "$rc" = 0 ] || { show "$logs/cap-shared-cap-psx-wrap-preload.out"; fail "cap-shared-cap-psx-wrap with LD_PRELOAD=$SO: exit status $rc"; }
pass "cap-shared-cap-psx-wrap with LD_PRELOAD=libpsx.so.2: all 9 threads dropped CAP_NET_RAW"
# Our archive + Debian's libcap.so.2: the executable itself defines
# psx_load_syscalls and exports it (libcap.so.2 mentions the symbol), so it
# comes first in the lookup whatever the order.
cap_case archive-psx-cap-wrap all static "$LIBDIR/libpsx.a" -lcap -lpthread -ldl $WRAP
cap_case archive-cap-psx-wrap all static -lcap "$LIBDIR/libpsx.a" -lpthread -ldl $WRAP
# Without --wrap and without any psx call nothing pulls libpsx.a's object
# in unless asked: -Wl,-u,psx_syscall3 does (not -u psx_load_syscalls,
# which -lcap placed first would satisfy with its own weak definition).
if [ "$UNDER_TEST" = ours ]; then
    cap_case archive-cap-psx-nowrap-u $nowrap static -Wl,-u,psx_syscall3 -lcap \
        "$LIBDIR/libpsx.a" -lpthread -ldl
else
    info "archive without --wrap: not applicable (Debian's libpsx.a needs __real_pthread_create from --wrap)"
fi
# Both archives: libcap.a's weak psx_load_syscalls loses to libpsx.a's.
cap_case archive-psx-libcap.a-wrap all static "$LIBDIR/libpsx.a" "/usr/lib/$MA/libcap.a" -lpthread -ldl $WRAP
cap_case archive-libcap.a-psx-wrap all static "/usr/lib/$MA/libcap.a" "$LIBDIR/libpsx.a" -lpthread -ldl $WRAP
cap_case fullstatic-libcap.a-psx-wrap all static -static "/usr/lib/$MA/libcap.a" "$LIBDIR/libpsx.a" -lpthread $WRAP

fi
###########################################################################
if want 3; then
say "== 3. make install + pkg-config consumer outside the tree"
prefix=$W/prefix
rm -rf "$prefix"
if [ "$UNDER_TEST" = ours ]; then
    if ! timeout 900 make -C "$PSX_ROOT" install PREFIX="$prefix" >"$logs/make-install.log" 2>&1; then
        show "$logs/make-install.log"
        fail "make install PREFIX=$prefix failed"
    fi
else
    # Debian mode: lay out the same files by hand, .pc from our template.
    mkdir -p "$prefix/lib/pkgconfig" "$prefix/include/sys"
    cp "$LIBDIR/libpsx.so.2" "$LIBDIR/libpsx.a" "$prefix/lib/"
    ln -s libpsx.so.2 "$prefix/lib/libpsx.so"
    cp "$INCDIR/sys/psx_syscall.h" "$prefix/include/sys/"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$prefix/lib|g" -e "s|@INCDIR@|$prefix/include|g" \
        -e "s|@VERSION@|0|g" -e "s|@CRATE_VERSION@|debian|g" "$PSX_ROOT/psx.pc.in" >"$prefix/lib/pkgconfig/libpsx.pc"
fi
for f in lib/libpsx.so.2 lib/libpsx.so lib/libpsx.a lib/pkgconfig/libpsx.pc include/sys/psx_syscall.h; do
    [ -e "$prefix/$f" ] || fail "make install did not install $prefix/$f"
done
if [ "$UNDER_TEST" = ours ]; then
    # libpsx.so: an ld script naming the installed files by absolute path.
    [ -f "$prefix/lib/libpsx_load.o" ] || fail "make install did not install $prefix/lib/libpsx_load.o"
    [ ! -L "$prefix/lib/libpsx.so" ] || fail "installed libpsx.so is a symlink, expected an ld script"
    grep -qx "INPUT(\"$prefix/lib/libpsx_load.o\" \"$prefix/lib/libpsx.so.2\")" "$prefix/lib/libpsx.so" ||
        { show "$prefix/lib/libpsx.so"; fail "installed libpsx.so does not name $prefix/lib/libpsx_load.o and libpsx.so.2"; }
    pass "installed libpsx.so: ld script naming $prefix/lib/libpsx_load.o and libpsx.so.2"

    # DESTDIR (packaging): files under DESTDIR, paths inside without it.
    # An earlier libpsx.so symlink must be replaced, not written through.
    dest=$W/destdir
    dprefix=/opt/psx-consumer-test
    rm -rf "$dest"
    mkdir -p "$dest$dprefix/lib"
    ln -s libpsx.so.2 "$dest$dprefix/lib/libpsx.so"
    if ! timeout 900 make -C "$PSX_ROOT" install PREFIX="$dprefix" DESTDIR="$dest" \
        >"$logs/make-install-destdir.log" 2>&1; then
        show "$logs/make-install-destdir.log"
        fail "make install PREFIX=$dprefix DESTDIR=$dest failed"
    fi
    for f in lib/libpsx.so.2 lib/libpsx.so lib/libpsx_load.o lib/libpsx.a lib/pkgconfig/libpsx.pc \
        include/sys/psx_syscall.h; do
        [ -e "$dest$dprefix/$f" ] || fail "make install DESTDIR=$dest did not install $dest$dprefix/$f"
    done
    cmp -s "$dest$dprefix/lib/libpsx.so.2" "$SO" ||
        fail "DESTDIR install: $dest$dprefix/lib/libpsx.so.2 differs from $SO (written through the old libpsx.so symlink?)"
    grep -qx "INPUT(\"$dprefix/lib/libpsx_load.o\" \"$dprefix/lib/libpsx.so.2\")" "$dest$dprefix/lib/libpsx.so" ||
        { show "$dest$dprefix/lib/libpsx.so"; fail "DESTDIR install: libpsx.so does not name $dprefix/lib (without DESTDIR)"; }
    grep -qx "libdir=$dprefix/lib" "$dest$dprefix/lib/pkgconfig/libpsx.pc" &&
        grep -qx "includedir=$dprefix/include" "$dest$dprefix/lib/pkgconfig/libpsx.pc" ||
        { show "$dest$dprefix/lib/pkgconfig/libpsx.pc"; fail "DESTDIR install: libpsx.pc does not point at $dprefix"; }
    if grep -q "$dest" "$dest$dprefix/lib/libpsx.so" "$dest$dprefix/lib/pkgconfig/libpsx.pc"; then
        fail "DESTDIR install: $dest leaked into libpsx.so or libpsx.pc"
    fi
    pass "make install DESTDIR=$dest PREFIX=$dprefix: files under DESTDIR, paths in libpsx.so and libpsx.pc without it"
    rm -rf "$dest"
fi
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
pc() { pkg-config "$@" libpsx || fail "pkg-config $* libpsx failed"; }
pclib=$(pc --variable=libdir)
pcinc=$(pc --variable=includedir)
[ "$pclib" = "$prefix/lib" ] && [ "$pcinc" = "$prefix/include" ] ||
    fail "installed libpsx.pc points at libdir=$pclib includedir=$pcinc, not $prefix (stale .pc from an earlier PREFIX?)"
pass "installed libpsx.pc: libdir=$pclib includedir=$pcinc"
if [ "$UNDER_TEST" = ours ]; then
    # Build-time version checks, as against libcap 2.76: the .pc's Version
    # is the interface's (2.76), the crate's own release is in Description,
    # the header's LIBPSX_MAJOR/LIBPSX_MINOR agree with the .pc, and the
    # library's marker names the crate's release.
    crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$PSX_ROOT/Cargo.toml" | head -1)
    modversion=$(pc --modversion)
    for v in 2.50 2.71 2.76; do
        pkg-config --atleast-version=$v libpsx ||
            fail "pkg-config --atleast-version=$v libpsx rejects ours (Version: $modversion)"
    done
    desc=$(sed -n 's/^Description: //p' "$prefix/lib/pkgconfig/libpsx.pc")
    case $desc in
    *"psx $crate_version,"*) ;;
    *) fail "libpsx.pc Description does not name the crate's release $crate_version: $desc" ;;
    esac
    vexe=$W/version-check
    build version-check $CC -std=c99 -Wall -Werror $(pc --cflags) -o "$vexe" "$SRC/version_check.c"
    hversion=$(timeout 30 "$vexe") || fail "version-check did not run"
    [ "$hversion" = "$modversion" ] ||
        fail "header says LIBPSX_MAJOR.LIBPSX_MINOR $hversion, libpsx.pc says Version: $modversion"
    grep -aq "psx-rust-engine $crate_version: " "$prefix/lib/libpsx.so.2" ||
        fail "installed libpsx.so.2 has no marker 'psx-rust-engine $crate_version: '"
    # psx-check and its man page, installed and working.
    [ -x "$prefix/bin/psx-check" ] && [ -f "$prefix/share/man/man1/psx-check.1" ] ||
        fail "make install did not install bin/psx-check and share/man/man1/psx-check.1"
    timeout 60 "$prefix/bin/psx-check" $$ >"$logs/psx-check-installed.out" 2>&1 ||
        { show "$logs/psx-check-installed.out"; fail "installed psx-check on this shell (pid $$) failed"; }
    MAN_DISABLE_SECCOMP=1 timeout 60 man -l "$prefix/share/man/man1/psx-check.1" 2>&1 | grep -q '^NAME' ||
        fail "installed psx-check(1) does not render"
    pass "installed psx-check and psx-check(1)"
    pass "version: libpsx.pc $modversion (>= 2.50, 2.71, 2.76), header LIBPSX_MAJOR.MINOR $hversion, crate $crate_version in Description and marker"
fi
cflags=$(pc --cflags)
libs=$(pc --libs)
slibs=$(pc --static --libs)
info "pkg-config --cflags: $cflags"
info "pkg-config --libs: $libs"
info "pkg-config --static --libs: $slibs"

cons=$(mktemp -d "${TMPDIR:-/tmp}/psx-consumer.XXXXXX")
trap 'rm -rf "$cons"' EXIT
cp "$SRC/pc_consumer.c" "$SRC/threadcheck.h" "$cons/"
cd "$cons"
for std in c89 c11 c++17; do
    case $std in
    c++*) comp="$CXX -x c++" ;;
    *) comp=$CC ;;
    esac
    exe=$cons/pc-$std
    build "pc-$std" $comp -std=$std -Wall -Wextra -Werror $cflags -o "$exe" pc_consumer.c $libs
    assert_shared_psx "pc-$std" "$exe"
    expect_pass "pc-$std-shared" "$prefix/lib/libpsx.so.2" env LD_LIBRARY_PATH="$prefix/lib" "$exe"
done
# The archive, from the same .pc: only libpsx linked statically.
for std in c89 c11 c++17; do
    case $std in
    c++*) comp="$CXX -x c++" ;;
    *) comp=$CC ;;
    esac
    exe=$cons/pc-$std-archive
    build "pc-$std-archive" $comp -std=$std -Wall -Wextra -Werror $cflags -o "$exe" pc_consumer.c \
        -Wl,-Bstatic $slibs -Wl,-Bdynamic
    assert_static_psx "pc-$std-archive" "$exe"
    expect_pass "pc-$std-archive" none "$exe"
done
# A libcap consumer built from pkg-config, libcap first on the line.
cp "$SRC/cap_drop.c" "$cons/"
exe=$cons/pc-cap-first
build pc-cap-first $CC -O2 -Wall -Werror $cflags -o "$exe" cap_drop.c -lcap $libs
assert_shared_psx pc-cap-first "$exe"
runprog pc-cap-first "$prefix/lib/libpsx.so.2" env LD_LIBRARY_PATH="$prefix/lib" "$exe"
case $capfirst:$rc in
all:0) pass "pc-cap-first (-lcap \$(pkg-config --libs libpsx)): all 9 threads dropped CAP_NET_RAW" ;;
one:3) pass "pc-cap-first (-lcap \$(pkg-config --libs libpsx)): as documented, only the calling thread changed" ;;
*) show "$logs/pc-cap-first.out"; fail "pc-cap-first: expected '$capfirst', exit status $rc" ;;
esac
# Fully static executable from pkg-config --static.
exe=$cons/pc-c11-static
build pc-c11-static $CC -static -std=c11 -Wall -Wextra -Werror $cflags -o "$exe" pc_consumer.c $slibs
assert_static_psx pc-c11-static "$exe"
expect_pass pc-c11-static none "$exe"
# C89 with -pedantic-errors: the header's psx_syscall() macro is variadic
# (a C99 feature). Reported, not required.
if $CC -std=c89 -pedantic-errors $cflags -c pc_consumer.c -o /dev/null >"$logs/c89-pedantic.log" 2>&1; then
    info "-std=c89 -pedantic-errors with -I$pcinc: accepted"
else
    info "-std=c89 -pedantic-errors with -I$pcinc: rejected: $(grep -m1 -o 'error: .*' "$logs/c89-pedantic.log")"
fi
if $CC -std=c89 -pedantic-errors -isystem "$pcinc" -c pc_consumer.c -o /dev/null >"$logs/c89-pedantic-isystem.log" 2>&1; then
    info "-std=c89 -pedantic-errors with the header in a system directory (-isystem): accepted"
else
    info "-std=c89 -pedantic-errors -isystem: rejected: $(grep -m1 -o 'error: .*' "$logs/c89-pedantic-isystem.log")"
fi
cd "$PSX_ROOT"

fi
###########################################################################
if want 4; then
say "== 4. link matrix, exports, sizes"
lm=$W/linkmode
rm -rf "$lm"
mkdir -p "$lm"
LMCC="$CC -O2 -Wall -Werror -I$INCDIR -I$SRC"
for wrap in wrap nowrap; do
    w=
    [ $wrap = wrap ] && w=$WRAP
    build "shared-$wrap" $LMCC -o "$lm/shared-$wrap" "$SRC/linkmode.c" $SHARED -lpsx -lpthread $w
    assert_shared_psx "shared-$wrap" "$lm/shared-$wrap"
    expect_pass "linkmode shared-$wrap" "$SO" "$lm/shared-$wrap"
    build "archive-$wrap" $LMCC -o "$lm/archive-$wrap" "$SRC/linkmode.c" "$LIBDIR/libpsx.a" -lpthread -ldl $w
    assert_static_psx "archive-$wrap" "$lm/archive-$wrap"
    expect_pass "linkmode archive-$wrap" none "$lm/archive-$wrap"
    build "static-$wrap" $LMCC -static -o "$lm/static-$wrap" "$SRC/linkmode.c" "$LIBDIR/libpsx.a" -lpthread $w
    assert_static_psx "static-$wrap" "$lm/static-$wrap"
    case " $(needed "$lm/static-$wrap")" in
    " ") ;;
    *) fail "static-$wrap is not fully static: NEEDED $(needed "$lm/static-$wrap")" ;;
    esac
    expect_pass "linkmode static-$wrap (-static)" none "$lm/static-$wrap"
done

if [ "$UNDER_TEST" = ours ]; then
    exports=$(nm -D --defined-only "$SO" | awk '{print $NF}' | sed 's/@.*//' | sort | tr '\n' ' ')
    [ "$exports" = "$PUBLIC_SYMBOLS " ] || fail "libpsx.so.2 exports [$exports], expected [$PUBLIC_SYMBOLS ]"
    pass "libpsx.so.2 exports exactly: $exports"
    soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = libpsx.so.2 ] || fail "SONAME is '$soname', expected libpsx.so.2"
    pass "SONAME libpsx.so.2"
    # The archive: psx.o defines the six public globals (no Rust symbols)
    # and refers STRONGLY to __real_pthread_create (so that --wrap in a
    # -static link pulls libc.a's pthread_create); a second member defines
    # only __real_pthread_create, for links without --wrap.
    members=$(ar t "$LIBDIR/libpsx.a" | tr '\n' ' ')
    [ "$members" = "psx.o psx-real-pthread-create.o " ] ||
        fail "libpsx.a members: [$members], expected [psx.o psx-real-pthread-create.o ]"
    # Globals per member: nm -A prints ARCHIVE:MEMBER:VALUE TYPE NAME.
    agl() {
        nm -A -g --defined-only "$LIBDIR/libpsx.a" 2>/dev/null |
            sed -n "s|^[^ ]*:$1:[0-9a-f]* [A-Za-z] ||p" | sort | tr '\n' ' '
    }
    aglobals=$(agl psx.o)
    [ "$aglobals" = "$PUBLIC_SYMBOLS " ] || fail "libpsx.a(psx.o) defines globals [$aglobals], expected [$PUBLIC_SYMBOLS ]"
    aglobals=$(agl psx-real-pthread-create.o)
    [ "$aglobals" = "__real_pthread_create " ] ||
        fail "libpsx.a(psx-real-pthread-create.o) defines globals [$aglobals], expected [__real_pthread_create ]"
    ref=$(nm -A "$LIBDIR/libpsx.a" 2>/dev/null | sed -n 's|^[^ ]*:psx\.o: *\([A-Za-z]\) __real_pthread_create$|\1|p')
    [ "$ref" = U ] || fail "libpsx.a(psx.o): __real_pthread_create is [$ref], expected a strong undefined reference (U)"
    # Which __real_pthread_create the static programs got: the fallback
    # member only without --wrap.
    for wrap in wrap nowrap; do
        def=$(nm "$lm/static-$wrap" | sed -n 's/^[0-9a-f]* \([A-Za-z]\) __real_pthread_create$/\1/p')
        case $wrap:$def in
        wrap:) ;;
        nowrap:T) ;;
        *) fail "static-$wrap: __real_pthread_create defined as [$def] (the fallback member must be linked only without --wrap)" ;;
        esac
    done
    pass "libpsx.a: psx.o defines the six public globals and needs __real_pthread_create; fallback member only used without --wrap"
    # libpsx.so (what -lpsx finds) is an ld script, not a symlink.
    [ ! -L "$LIBDIR/libpsx.so" ] || fail "$LIBDIR/libpsx.so is a symlink, expected an ld script"
    grep -qx "INPUT(\"$LIBDIR/libpsx_load.o\" \"$LIBDIR/libpsx.so.2\")" "$LIBDIR/libpsx.so" ||
        { show "$LIBDIR/libpsx.so"; fail "$LIBDIR/libpsx.so does not name libpsx_load.o and libpsx.so.2"; }
    lglobals=$(nm -g --defined-only "$LIBDIR/libpsx_load.o" | awk '{print $NF}' | tr '\n' ' ')
    [ "$lglobals" = "psx_load_syscalls " ] || fail "libpsx_load.o defines [$lglobals], expected [psx_load_syscalls ]"
    nm "$lm/shared-nowrap" | grep -q ' T psx_load_syscalls$' ||
        fail "shared-nowrap (-lpsx) does not define psx_load_syscalls: libpsx_load.o not linked"
    pass "libpsx.so: ld script with libpsx_load.o (psx_load_syscalls only) and libpsx.so.2"
    strip -o "$lm/libpsx.so.2.stripped" "$SO"
    sosize=$(wc -c <"$lm/libpsx.so.2.stripped")
    [ "$sosize" -le 65536 ] || fail "stripped libpsx.so.2 is $sosize bytes (> 64 KiB)"
    pass "stripped libpsx.so.2: $sosize bytes (<= 65536)"
    cat >"$lm/size_probe.c" <<'EOF'
/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
int main(void)
{
    long r = 0;
#ifdef USE_PSX
    r = psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
#endif
    printf("%ld\n", r);
    return 0;
}
EOF
    build size-without $CC -O2 -I"$INCDIR" -o "$lm/size-without" "$lm/size_probe.c" -lpthread
    build size-with $CC -O2 -DUSE_PSX -I"$INCDIR" -o "$lm/size-with" "$lm/size_probe.c" \
        "$LIBDIR/libpsx.a" -lpthread -ldl $WRAP
    assert_static_psx size-with "$lm/size-with"
    strip "$lm/size-without" "$lm/size-with"
    s0=$(wc -c <"$lm/size-without")
    s1=$(wc -c <"$lm/size-with")
    [ $((s1 - s0)) -le 65536 ] || fail "libpsx.a adds $((s1 - s0)) bytes to a stripped program (> 64 KiB)"
    pass "libpsx.a adds $((s1 - s0)) bytes to a stripped program ($s0 -> $s1, <= 65536)"
else
    info "exports/SONAME/size limits: not applicable to Debian's libpsx"
fi

fi
###########################################################################
if want 5; then
say "== 5. libpsx.a beside other Rust staticlibs"
co=$W/coexist
rm -rf "$co"
mkdir -p "$co"
cp -r "$here/coexist/other-std" "$here/coexist/other-nostd" "$co/"
for crate in other-std other-nostd; do
    if ! (cd "$co/$crate" && CARGO_TARGET_DIR=$co/target timeout 600 cargo build --release --offline) \
        >"$logs/cargo-$crate.log" 2>&1; then
        show "$logs/cargo-$crate.log"
        fail "cargo build of the second Rust staticlib $crate failed"
    fi
done
# What a std staticlib needs from the system, as rustc reports it.
(cd "$co/other-std" && CARGO_TARGET_DIR=$co/target timeout 600 cargo rustc --release --offline -- \
    --print native-static-libs) >"$logs/native-libs.log" 2>&1 || true
native=$(sed -n 's/.*native-static-libs: //p' "$logs/native-libs.log" | tail -1)
[ -n "$native" ] || { show "$logs/native-libs.log"; fail "rustc did not print native-static-libs"; }
stdlib=$co/target/release/libother_std.a
nostdlib=$co/target/release/libother_nostd.a
COCC="$CC -O2 -Wall -Werror -I$INCDIR -I$SRC"
build co-psx-std $COCC -DWITH_STD -o "$co/psx-std" "$SRC/coexist.c" "$LIBDIR/libpsx.a" "$stdlib" $WRAP $native
build co-std-psx $COCC -DWITH_STD -o "$co/std-psx" "$SRC/coexist.c" "$stdlib" "$LIBDIR/libpsx.a" $WRAP $native
build co-psx-nostd $COCC -DWITH_NOSTD -o "$co/psx-nostd" "$SRC/coexist.c" "$LIBDIR/libpsx.a" "$nostdlib" -lpthread -ldl $WRAP
build co-nostd-psx $COCC -DWITH_NOSTD -o "$co/nostd-psx" "$SRC/coexist.c" "$nostdlib" "$LIBDIR/libpsx.a" -lpthread -ldl $WRAP
for t in psx-std std-psx psx-nostd nostd-psx; do
    assert_static_psx "coexist-$t" "$co/$t"
    expect_pass "coexist $t (libpsx.a + a second Rust staticlib)" none "$co/$t"
done
# For the record: cargo's own archive, before scripts/make-archive.sh.
raw=$PSX_ROOT/target/release/libpsx.a
if [ "$UNDER_TEST" = ours ] && [ -e "$raw" ]; then
    if $COCC -DWITH_STD -o "$co/raw-std" "$SRC/coexist.c" "$raw" "$stdlib" $WRAP $native \
        >"$logs/co-raw-std.build" 2>&1; then
        info "cargo's unprocessed target/release/libpsx.a also links beside a std staticlib"
    else
        info "cargo's unprocessed target/release/libpsx.a clashes with a std staticlib: $(grep -m1 -o 'multiple definition of [^;]*' "$logs/co-raw-std.build" || tail -1 "$logs/co-raw-std.build")"
    fi
fi

fi
say "consumers: $passed passed, 0 failed"
