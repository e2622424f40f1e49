#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds and runs the C tests of psx, each one twice: linked statically with
# libpsx.a and dynamically with libpsx.so.2. Stops at the first failure.
#
# Every program is linked the way existing libpsx users link it
# (-Wl,--wrap=pthread_create -lpthread -ldl) and runs under `timeout`.
# Each program is itself a driver that runs its sub-cases in fresh processes
# with their own, shorter timeouts (see common.c).
#
# Which library is tested, and how we know:
#   shared: the executable's NEEDED libpsx.so.2 is found through an RPATH to
#           the library's directory; each sub-case checks in /proc/self/maps
#           that the mapped libpsx is exactly realpath($PSX_SHARED); here we
#           check that file carries the marker "psx-rust-engine".
#   static: the executable must contain the marker and have no NEEDED
#           libpsx; each sub-case checks that no libpsx is mapped.
#
# Environment:
#   PSX_ROOT      repository root (default: this script's parent directory)
#   PSX_STATIC    static library  (default $PSX_ROOT/build/lib/libpsx.a)
#   PSX_SHARED    shared library  (default $PSX_ROOT/build/lib/libpsx.so.2)
#   PSX_INCLUDE   header directory (default $PSX_ROOT/include)
#   PSX_NO_MARKER=1  skip the marker checks (to run the suite against another
#                 libpsx, e.g. Debian's: PSX_SHARED=/usr/lib/x86_64-linux-gnu/libpsx.so
#                 PSX_STATIC=/usr/lib/x86_64-linux-gnu/libpsx.a PSX_INCLUDE=/usr/include)
#   PSX_MODES     "static shared" (default) or one of them
#   PSX_TESTS     space-separated test names to run (default: all)
#   PSX_NOT_RUN   "NAMES:REASON": tests (space-separated names, before the first
#                 colon) not run here; each is
#                 printed as NOT RUN with the reason, never counted as passed
#   PSX_KEEP_GOING=1  do not stop at the first failure (for surveys)
#   CT_ONLY       run only this sub-case of each selected program
#   PSX_RUN_PREFIX  a command (split into words) each test program runs under,
#                 inside the timeout; programs are still built and checked on
#                 this host. `make test-userlands` sets it to
#                 "scripts/in-userland.sh build/userland/NAME" to run them
#                 with another userland's C library.
#   PSX_TIMEOUT_SCALE  integer factor for every timeout: the ones below and
#                 each program's per-case timeouts (default 1; 6 with PSX_CROSS)
#   PSX_CROSS=arm64  cross mode (doc/arm64.md): build here with Debian's
#                 aarch64-linux-gnu- toolchain against build/arm64/lib, then run
#                 every program in an arm64 VM (scripts/arm64-vm.sh), where the
#                 files keep the absolute paths they have here
#   PSX_BUILD_ONLY=1  build and check the programs, run none (nothing passes)
#   PSX_EXPECT_GLIBC  cross mode: fail unless the VM's glibc is this version
#                 (with PSX_VM_SUITE, scripts/arm64-vm.sh)
#   PSX_SOAK_SECONDS, PSX_SOAK_SEED, PSX_T14_SECONDS, PSX_T14_ITERS,
#   PSX_T13_ROUNDS  the programs' own knobs (t16_soak.c, t14_exits.c,
#                 t13_invisible.c); passed on to the VM in cross mode
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
PSX_CROSS=${PSX_CROSS:-}
PSX_BUILD_ONLY=${PSX_BUILD_ONLY:-}
case $PSX_CROSS in
"")
    build=$PSX_ROOT/build
    CROSS_COMPILE=
    CC=${CC:-cc}
    CXX=${CXX:-c++}
    PSX_TIMEOUT_SCALE=${PSX_TIMEOUT_SCALE:-1}
    ;;
arm64)
    build=$PSX_ROOT/build/arm64
    CROSS_COMPILE=${CROSS_COMPILE:-aarch64-linux-gnu-}
    CC=${CC:-${CROSS_COMPILE}gcc}
    CXX=${CXX:-${CROSS_COMPILE}g++}
    # The VM emulates the CPU: system calls and signals take 3-10 times
    # longer there, more on a loaded host (doc/arm64.md).
    PSX_TIMEOUT_SCALE=${PSX_TIMEOUT_SCALE:-6}
    ;;
*)
    echo "c-tests: PSX_CROSS=$PSX_CROSS: only arm64 is supported" >&2
    exit 1
    ;;
esac
PSX_STATIC=${PSX_STATIC:-$build/lib/libpsx.a}
PSX_SHARED=${PSX_SHARED:-$build/lib/libpsx.so.2}
PSX_INCLUDE=${PSX_INCLUDE:-$PSX_ROOT/include}
PSX_NO_MARKER=${PSX_NO_MARKER:-}
PSX_MODES=${PSX_MODES:-static shared}
PSX_KEEP_GOING=${PSX_KEEP_GOING:-}
PSX_EXPECT_GLIBC=${PSX_EXPECT_GLIBC:-}
PSX_RUN_PREFIX=${PSX_RUN_PREFIX:-}
OUT=$build/c-tests
MARKER=psx-rust-engine
READELF=${CROSS_COMPILE}readelf
NM=${CROSS_COMPILE}nm
CXXFLAGS="-O2 -g -Wall -Wextra -D_GNU_SOURCE -I$PSX_INCLUDE -I$here"
CFLAGS="$CXXFLAGS -Werror=implicit-function-declaration"
LINKFLAGS="-Wl,--wrap=pthread_create -lpthread -ldl"

# name:kind:timeout(s) -- kind c (C, psx-linked), cc (C++, psx-linked),
# dl (C, not linked with psx: dlopen()s libpsx.so.2 itself; shared only)
TESTS="
t00_api:c:200
t01_dlopen_threads:c:60
t01b_cxx_threads:cc:60
t01c_dlopen_psx:dl:60
t02_main_exit:c:60
t03_chroot_fds:c:150
t04_fork:c:120
t05_sigmask:c:60
t06_churn:c:120
t07_setxid:c:120
t08_signals:c:150
t09_errno:c:90
t10_unresponsive:c:90
t11_10k_threads:c:120
t12_unwind:c:60
t13_invisible:c:180
t14_exits:c:240
t15_forged:c:90
t16_soak:c:200
t17_cancel:c:200
t18_proc_view:c:90
t19_inherited:c:90
t20_create_reentry:c:60
"

passed=0
failed=0
not_run=
die() {
    echo "c-tests: FAILED: $*" >&2
    echo "c-tests: $passed passed, $((failed + 1)) failed"
    exit 1
}
fail() {
    if [ -n "$PSX_KEEP_GOING" ]; then
        echo "c-tests: FAILED: $*" >&2
        failed=$((failed + 1))
        return 0
    fi
    die "$@"
}

for f in "$PSX_STATIC" "$PSX_SHARED" "$PSX_INCLUDE/sys/psx_syscall.h"; do
    [ -e "$f" ] || die "$f does not exist (run 'make' first)"
done
so_real=$(readlink -f "$PSX_SHARED")
so_dir=$(dirname "$so_real")
if [ -z "$PSX_NO_MARKER" ]; then
    grep -q -a -F "$MARKER" "$so_real" ||
        die "$so_real does not contain the marker '$MARKER': not psx's library"
    grep -q -a -F "$MARKER" "$PSX_STATIC" ||
        die "$PSX_STATIC does not contain the marker '$MARKER': not psx's library"
    # The static check below finds the marker in the executables: it must
    # come from the archive, never from the tests' own code.
    if grep -l -F "$MARKER" "$here"/*.c "$here"/*.h "$here"/*.cc >/dev/null 2>&1; then
        die "a test source contains the marker string; the static check would be void"
    fi
else
    echo "c-tests: PSX_NO_MARKER set: testing $so_real / $PSX_STATIC without the marker check"
fi
soname=$($READELF -d "$so_real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libpsx.so.2 ] || die "$so_real has SONAME '$soname', want libpsx.so.2"

mkdir -p "$OUT/static" "$OUT/shared" "$OUT/obj"
# In cross mode each run is written to this script, which the VM runs.
runlist=$OUT/run-in-vm.sh
if [ -n "$PSX_CROSS" ]; then
    knobs=
    for k in CT_ONLY PSX_SOAK_SECONDS PSX_SOAK_SEED PSX_T14_SECONDS PSX_T14_ITERS PSX_T13_ROUNDS; do
        eval "v=\${$k:-}"
        [ -z "$v" ] || knobs="$knobs $k='$v'"
    done
    cat > "$runlist" <<RUNLIST
# Generated by c-tests/run.sh (PSX_CROSS=$PSX_CROSS): runs in the VM.
for libc in /lib/aarch64-linux-gnu/libc.so.6 /usr/lib/aarch64-linux-gnu/libc.so.6; do
    [ -x "\$libc" ] && break
done
glibc=\$("\$libc" | sed -n '1s/.* release version \([0-9]*\.[0-9]*\).*/\1/p')
echo "c-tests: running on \$(uname -m), kernel \$(uname -r), \$(nproc) CPUs, glibc \$glibc"
if [ -n '$PSX_EXPECT_GLIBC' ] && [ "\$glibc" != '$PSX_EXPECT_GLIBC' ]; then
    echo "c-tests: FAILED: the VM runs glibc \$glibc, not $PSX_EXPECT_GLIBC"
    exit 1
fi
passed=0 failed=0 keep_going='$PSX_KEEP_GOING'
run() { # mode name testmode limit
    echo "== \$1 \$2"
    rc=0 t0=\$(date +%s)
    env PSX_TEST_MODE=\$3 PSX_TEST_SO='$so_real' PSX_TEST_PLUGIN='$OUT/obj/libt01plugin.so' \\
        PSX_TIMEOUT_SCALE=$PSX_TIMEOUT_SCALE LD_PRELOAD=$knobs \\
        timeout -s KILL "\$4" "$OUT/\$1/\$2" || rc=\$?
    if [ \$rc -eq 0 ]; then
        passed=\$((passed + 1))
        echo "PASS \$1 \$2 (\$((\$(date +%s) - t0)) s)"
        return 0
    fi
    failed=\$((failed + 1))
    if [ \$rc -eq 137 ]; then
        echo "c-tests: FAILED: \$1 \$2: timed out after \$4 s"
    else
        echo "c-tests: FAILED: \$1 \$2: exit status \$rc"
    fi
    if [ -z "\$keep_going" ]; then
        echo "c-tests: \$passed passed, \$failed failed"
        exit 1
    fi
}
RUNLIST
fi
echo "c-tests: building into $OUT"
[ -z "$PSX_RUN_PREFIX" ] || echo "c-tests: running each program under: $PSX_RUN_PREFIX"
$CC $CFLAGS -c "$here/common.c" -o "$OUT/obj/common.o" || die "compiling common.c"
# A library with threads of its own, linked without psx and without --wrap.
$CC $CFLAGS -shared -fPIC "$here/t01_plugin.c" -o "$OUT/obj/libt01plugin.so" -lpthread ||
    die "building the plugin"
if $READELF -d "$OUT/obj/libt01plugin.so" | grep -q 'libpsx' ||
    $NM -D "$OUT/obj/libt01plugin.so" | grep -q '__wrap_pthread_create'; then
    die "the plugin must not be linked with psx nor wrapped"
fi

build() { # mode name kind
    mode=$1 name=$2 kind=$3
    exe=$OUT/$mode/$name
    src=$here/$name.c
    comp="$CC $CFLAGS"
    [ "$kind" = cc ] && { src=$here/$name.cc; comp="$CXX $CXXFLAGS"; }
    case $kind:$mode in
    dl:*)
        # Not linked with psx at all (and so without --wrap).
        $CC $CFLAGS "$src" "$OUT/obj/common.o" -o "$exe" -lpthread -ldl
        ;;
    *:static)
        $comp "$src" "$OUT/obj/common.o" "$PSX_STATIC" -o "$exe" $LINKFLAGS
        ;;
    *:shared)
        $comp "$src" "$OUT/obj/common.o" "$so_real" -o "$exe" \
            -Wl,--disable-new-dtags -Wl,-rpath,"$so_dir" $LINKFLAGS
        ;;
    esac
}

verify() { # mode exe kind: prove which library the executable uses
    mode=$1 exe=$2 kind=$3
    needed=$($READELF -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    if [ "$kind" = dl ]; then
        echo "$needed" | grep -q libpsx && die "$exe must not be linked with libpsx"
        return 0
    fi
    case $mode in
    static)
        echo "$needed" | grep -q libpsx && die "$exe (static) has NEEDED libpsx: $needed"
        if [ -z "$PSX_NO_MARKER" ]; then
            grep -q -a -F "$MARKER" "$exe" ||
                die "$exe (static) does not contain '$MARKER': psx's archive was not linked in"
        fi
        ;;
    shared)
        echo "$needed" | grep -qx libpsx.so.2 || die "$exe (shared) has no NEEDED libpsx.so.2: $needed"
        if [ -n "$PSX_CROSS" ]; then
            # ldd cannot load a foreign executable: check the RPATH the
            # dynamic linker searches first (the program checks the mapping).
            rpath=$($READELF -d "$exe" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
            [ "$rpath" = "$so_dir" ] || die "$exe has RPATH '$rpath', not $so_dir"
            return 0
        fi
        resolved=$(LD_LIBRARY_PATH= ldd "$exe" | sed -n 's/.*libpsx\.so\.2 => \([^ ]*\).*/\1/p')
        [ "$(readlink -f "$resolved")" = "$so_real" ] ||
            die "$exe resolves libpsx.so.2 to '$resolved', not $so_real"
        ;;
    esac
}

selected=0
for mode in $PSX_MODES; do
    for entry in $TESTS; do
        name=${entry%%:*}
        rest=${entry#*:}
        kind=${rest%%:*}
        limit=${rest#*:}
        if [ -n "${PSX_TESTS:-}" ]; then
            case " $PSX_TESTS " in *" $name "*) ;; *) continue ;; esac
        fi
        case " ${PSX_NOT_RUN:+${PSX_NOT_RUN%%:*}} " in *" $name "*)
            echo "NOT RUN $mode $name: ${PSX_NOT_RUN#*:}"
            not_run=$((not_run + 1))
            continue ;;
        esac
        if [ "$kind" = dl ] && [ "$mode" = static ]; then
            echo "-- $name: shared mode only (the program dlopen()s libpsx.so.2; there is nothing to link statically)"
            continue
        fi
        selected=$((selected + 1))
        build "$mode" "$name" "$kind" || die "building $mode $name"
        exe=$OUT/$mode/$name
        verify "$mode" "$exe" "$kind"
        testmode=$mode
        [ "$kind" = dl ] && testmode=dlopen
        limit=$((limit * PSX_TIMEOUT_SCALE))
        if [ -n "$PSX_CROSS" ]; then
            echo "run $mode $name $testmode $limit" >> "$runlist"
            echo "-- built $mode $name"
            continue
        fi
        [ -n "$PSX_BUILD_ONLY" ] && { echo "-- built $mode $name"; continue; }
        echo "== $mode $name"
        rc=0 t0=$(date +%s)
        env PSX_TEST_MODE=$testmode PSX_TEST_SO="$so_real" \
            PSX_TEST_PLUGIN="$OUT/obj/libt01plugin.so" LD_PRELOAD= \
            PSX_TIMEOUT_SCALE=$PSX_TIMEOUT_SCALE \
            timeout -k 5 "$limit" $PSX_RUN_PREFIX "$exe" || rc=$?
        if [ $rc -eq 0 ]; then
            passed=$((passed + 1))
            echo "PASS $mode $name ($(($(date +%s) - t0)) s)"
        elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            fail "$mode $name: timed out after $limit s"
        else
            fail "$mode $name: exit status $rc"
        fi
    done
done
# A selection that names no program (a renamed test, a typo) must not pass.
[ "$selected" -gt 0 ] || die "PSX_TESTS='${PSX_TESTS:-}' PSX_MODES='$PSX_MODES' select no program"
if [ -n "$PSX_CROSS" ]; then
    echo 'echo "c-tests: $passed passed, $failed failed"; [ "$failed" -eq 0 ]' >> "$runlist"
fi
if [ -n "$PSX_BUILD_ONLY" ]; then
    echo "c-tests: built only (PSX_BUILD_ONLY): nothing was run, nothing passed"
    exit 0
fi
if [ -n "$PSX_CROSS" ]; then
    # The programs, the plugin and the library keep their paths in the VM.
    exec sh "$PSX_ROOT/scripts/arm64-vm.sh" -p "$OUT" -p "$so_dir" "sh $runlist"
fi
echo "c-tests: $passed passed, $failed failed${not_run:+, $not_run skipped}"
[ "$failed" -eq 0 ]
