#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# make bench: one all-threads call, side by side, in one run:
#   A  this project's libpsx.a        (static, -Wl,--wrap=pthread_create)
#   B  Debian's libpsx.a (libcap-dev)  (static, -Wl,--wrap=pthread_create)
#   C  glibc's setresuid(-1,-1,-1)     (glibc's own setxid broadcast)
#   H  A again in psx's opt-in hold mode (PSX_HOLD_THREADS=1): broadcasts
#      and producer/consumer only
# The three executables run alternately (A B C A B C ...), one batch each per
# round; the table shows the median across rounds.
#
# Variables:
#   PSX_ROOT        repo root (default: this script's parent directory)
#   BENCH_QUICK=1   smoke run: 2 rounds, short batches, up to 128 threads
#   BENCH_ROUNDS    rounds (default 7; quick: 2)
#   BENCH_BUDGET_MS time spent calling per batch (default 150; quick: 20)
#   BENCH_OURS_LIB  archive for slot A (default $PSX_ROOT/build/lib/libpsx.a);
#                   anything else is reported as "not ours" in the output
#   BENCH_OURS_INC  include dir for slot A (default $PSX_ROOT/include)
#   CC              C compiler (default cc)
#   BENCH_ROOT      a userland of scripts/userland.sh (build/userland/trixie,
#                   .../sid): the executables, built here, run inside it with
#                   its glibc (glibc's column is then that glibc's setxid)
set -eu

PSX_ROOT=${PSX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
export PSX_ROOT
CC=${CC:-cc}
B=$PSX_ROOT/build/bench
mkdir -p "$B"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-2}
    BUDGET=${BENCH_BUDGET_MS:-20}
    COUNTS="1 16 128"
    CREATES=200
else
    ROUNDS=${BENCH_ROUNDS:-7}
    BUDGET=${BENCH_BUDGET_MS:-150}
    COUNTS="1 16 128 1024 4096"
    CREATES=3000
fi

fail() { echo "bench: FAIL: $*" >&2; exit 1; }

# --- Debian's libpsx, fetched as a package (never the installed copy) -----
DEB=$B/debian
if [ ! -f "$DEB/root/usr/lib/x86_64-linux-gnu/libpsx.a" ]; then
    rm -rf "$DEB" && mkdir -p "$DEB/dl"
    echo "bench: fetching libcap-dev with apt-get download"
    if ! (cd "$DEB/dl" && timeout 120 apt-get download libcap-dev) >"$DEB/apt.log" 2>&1; then
        echo "bench: apt-get download failed; running apt-get update once" >&2
        timeout 300 apt-get update >>"$DEB/apt.log" 2>&1 || true
        (cd "$DEB/dl" && timeout 120 apt-get download libcap-dev) >>"$DEB/apt.log" 2>&1 \
            || { cat "$DEB/apt.log" >&2; fail "cannot fetch libcap-dev"; }
    fi
    dpkg -x "$DEB"/dl/libcap-dev_*.deb "$DEB/root"
fi
DEB_LIB=$(ls "$DEB"/root/usr/lib/*/libpsx.a | head -1)
DEB_INC=$DEB/root/usr/include
DEB_VER=$(dpkg-deb -f "$DEB"/dl/libcap-dev_*.deb Version)
[ -f "$DEB_LIB" ] && [ -f "$DEB_INC/sys/psx_syscall.h" ] || fail "no libpsx.a/header in the libcap-dev package"

# --- build ------------------------------------------------------------------
OURS_LIB=${BENCH_OURS_LIB:-$PSX_ROOT/build/lib/libpsx.a}
OURS_INC=${BENCH_OURS_INC:-$PSX_ROOT/include}
[ -f "$OURS_LIB" ] || fail "$OURS_LIB missing: run make first"
[ -f "$OURS_INC/sys/psx_syscall.h" ] || fail "$OURS_INC/sys/psx_syscall.h missing"

CFLAGS="-O2 -Wall -Wextra -pthread"
SRC=$PSX_ROOT/bench/bench.c
$CC $CFLAGS -DBENCH_PSX -I"$OURS_INC" -c "$SRC" -o "$B/bench-psx-ours.o"
$CC $CFLAGS -DBENCH_PSX -I"$DEB_INC" -c "$SRC" -o "$B/bench-psx-debian.o"
$CC $CFLAGS -c "$SRC" -o "$B/bench-glibc.o"
$CC -pthread "$B/bench-psx-ours.o" "$OURS_LIB" -ldl -Wl,--wrap=pthread_create -o "$B/bench-ours"
$CC -pthread "$B/bench-psx-debian.o" "$DEB_LIB" -Wl,--wrap=pthread_create -o "$B/bench-debian"
$CC -pthread "$B/bench-glibc.o" -o "$B/bench-glibc"

# --- prove which library each executable contains ---------------------------
MARK=psx-rust-engine
proof() { # exe -> "marker=N needed-libpsx=... wrap=..."
    m=$(grep -c "$MARK" "$1" || true)
    n=$(readelf -d "$1" | grep NEEDED | grep -c libpsx || true)
    w=$(nm "$1" | grep -c ' T __wrap_pthread_create$' || true)
    echo "marker($MARK)=$m NEEDED-libpsx=$n __wrap_pthread_create-defined=$w"
}
P_OURS=$(proof "$B/bench-ours")
P_DEB=$(proof "$B/bench-debian")
P_GLIBC=$(proof "$B/bench-glibc")
case $P_DEB in *"marker($MARK)=0 NEEDED-libpsx=0 __wrap_pthread_create-defined=1") ;;
    *) fail "bench-debian is not a static Debian libpsx build: $P_DEB" ;; esac
case $P_GLIBC in *"marker($MARK)=0 NEEDED-libpsx=0 __wrap_pthread_create-defined=0") ;;
    *) fail "bench-glibc contains a libpsx: $P_GLIBC" ;; esac
case $P_OURS in
    *"marker($MARK)=0 "*)
        if [ -z "${BENCH_OURS_LIB:-}" ]; then
            fail "bench-ours lacks the $MARK marker: $OURS_LIB is not this project's engine"
        fi
        A_NAME="A: NOT ours ($OURS_LIB, no marker)" A_COL="A (NOT ours)" ;;
    *"NEEDED-libpsx=0 __wrap_pthread_create-defined=1") A_NAME="ours" A_COL="ours" ;;
    *) fail "bench-ours is not a static libpsx build: $P_OURS" ;;
esac

# --- machine ------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
NCPU=$(nproc)
KERNEL=$(uname -r)
ROOT=${BENCH_ROOT:-}
if [ -n "$ROOT" ]; then
    [ -x "$ROOT/usr/bin/getconf" ] || fail "BENCH_ROOT=$ROOT is not a userland (run scripts/userland.sh)"
    GLIBC="$(chroot "$ROOT" getconf GNU_LIBC_VERSION) (userland $ROOT)"
else
    GLIBC=$(getconf GNU_LIBC_VERSION)
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- run, interleaved ---------------------------------------------------------
RES=$B/results.txt
: >"$RES"
T0=$(date +%s)
run1() { # impl args... ; appends "impl key=value..." to $RES
    impl=$1; shift
    exe=$impl hold=
    if [ "$impl" = hold ]; then
        exe=ours hold=1 # the same executable, psx's hold mode
    fi
    if [ -n "$ROOT" ]; then
        # in-userland.sh prints the userland's glibc first: dropped here.
        out=$(PSX_HOLD_THREADS=$hold timeout 120 sh "$PSX_ROOT/scripts/in-userland.sh" "$ROOT" "$B/bench-$exe" "$@") \
            || fail "bench-$exe $* (hold=$hold) failed in $ROOT (exit $?)"
        out=$(printf '%s\n' "$out" | sed 1d)
    else
        out=$(PSX_HOLD_THREADS=$hold timeout 120 "$B/bench-$exe" "$@") \
            || fail "bench-$exe $* (hold=$hold) failed (exit $?)"
    fi
    echo "$impl $* $out" >>"$RES"
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
    echo "bench: round $r/$ROUNDS" >&2
    # Rotate who goes first (A B C H, B C H A, ...): the first run after a
    # 4096-thread one pays for the kernel tearing those threads down.
    case $((r % 4)) in
        1) ORDER="ours debian glibc hold" ;;
        2) ORDER="debian glibc hold ours" ;;
        3) ORDER="glibc hold ours debian" ;;
        0) ORDER="hold ours debian glibc" ;;
    esac
    for mode in idle mixed; do
        for n in $COUNTS; do
            for impl in $ORDER; do
                [ "$n" = 4096 ] && [ "$impl" = debian ] && continue
                run1 $impl call $mode $n "$BUDGET"
            done
        done
    done
    for impl in $ORDER; do
        [ "$impl" = hold ] || run1 $impl create $CREATES
        run1 $impl pc $((BUDGET * 4))
    done
    r=$((r + 1))
done
T1=$(date +%s)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table --------------------------------------------------------------------
{
echo "Machine: $CPU, $NCPU cores, kernel $KERNEL, $GLIBC; load average $LOAD0 at start, $LOAD1 at end."
echo "Medians of $ROUNDS rounds (each round runs A, B, C, H one after another, who goes first rotating; a batch is ~${BUDGET} ms of calls, its median per call is kept); $((T1 - T0)) s in all."
echo
echo "Executables: ours = bench-ours [$A_NAME] $P_OURS;"
echo "Debian = bench-debian [libcap-dev $DEB_VER, $(basename "$DEB_LIB") from apt-get download] $P_DEB;"
echo "glibc = bench-glibc $P_GLIBC."
echo
awk -v A="$A_COL" '
function med(key,   n, i, j, v, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0 || vals[key] == "") return ""
    for (i = 2; i <= n; i++) { v = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function kv(name,   i, p) {
    for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2)
    return ""
}
function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v }
function fmt(x) { return x == "" ? "-" : (x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x)) }
function ratio(x, y) { return (x == "" || y == "" || y == 0) ? "-" : sprintf("%.2f", x / y) }
$2 == "call" {
    add($1 SUBSEP $3 SUBSEP $4, kv("median_us"))
    if ($3 == "idle" && $4 == 1024) add($1 SUBSEP "hwm", kv("vmhwm_kb"))
    if (!($4 in seen)) { seen[$4] = 1; ns[++nn] = $4 }
}
$2 == "create" { add($1 SUBSEP "create", kv("create_us")); add($1 SUBSEP "real", kv("real_us")) }
$2 == "pc" { add($1 SUBSEP "pc", kv("items_per_s")) }
END {
    for (m = 1; m <= 2; m++) {
        mode = m == 1 ? "idle" : "mixed"
        if (mode == "idle") print "One call on every thread, threads idle in a condition variable (microseconds per call, median):"
        else print "Mixed: 2 threads spinning (1 when N=1), the others half in a condition variable, half blocked in read() (microseconds per call, median):"
        print ""
        printf "| threads | %s | Debian libpsx | glibc setxid | %s/glibc | %s/Debian | %s, hold mode | hold/glibc |\n", A, A, A, A
        print "|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (k = 1; k <= nn; k++) {
            n = ns[k]
            o = med("ours" SUBSEP mode SUBSEP n); d = med("debian" SUBSEP mode SUBSEP n); g = med("glibc" SUBSEP mode SUBSEP n)
            h = med("hold" SUBSEP mode SUBSEP n)
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", n, fmt(o), fmt(d), fmt(g), ratio(o, g), ratio(o, d), fmt(h), ratio(h, g)
            T[mode, n, "ours"] = o; T[mode, n, "glibc"] = g
        }
        print ""
        if ((mode, 4096, "ours") in T && (mode, 1024, "ours") in T) {
            printf "Scaling (%s), time per thread at 4096 / at 1024 (1.00 = linear): ours %s, glibc %s\n\n", mode,
                ratio(T[mode, 4096, "ours"] / 4096, T[mode, 1024, "ours"] / 1024),
                ratio(T[mode, 4096, "glibc"] / 4096, T[mode, 1024, "glibc"] / 1024)
        }
    }
    oc = med("ours" SUBSEP "create"); orl = med("ours" SUBSEP "real")
    dc = med("debian" SUBSEP "create"); drl = med("debian" SUBSEP "real"); gc = med("glibc" SUBSEP "create")
    print "pthread_create + pthread_join (microseconds, median):"
    print ""
    printf "| %s, through the wrapper | %s, __real_pthread_create | wrapper/plain | Debian, through its wrapper | Debian wrapper/plain | glibc, no libpsx |\n", A, A
    print "|---:|---:|---:|---:|---:|---:|"
    printf "| %s | %s | %s | %s | %s | %s |\n\n", fmt(oc), fmt(orl), ratio(oc, orl), fmt(dc), ratio(dc, drl), fmt(gc)
    op = med("ours" SUBSEP "pc"); dp = med("debian" SUBSEP "pc"); gp = med("glibc" SUBSEP "pc")
    hp = med("hold" SUBSEP "pc")
    print "Producer/consumer on a condition variable while another thread broadcasts back to back (items per second, median; higher is better):"
    print ""
    printf "| %s | Debian libpsx | glibc setresuid loop | glibc/%s | Debian/%s | %s, hold mode | glibc/hold |\n", A, A, A, A
    print "|---:|---:|---:|---:|---:|---:|---:|"
    printf "| %s | %s | %s | %s | %s | %s | %s |\n\n", fmt(op), fmt(dp), fmt(gp), ratio(gp, op), ratio(dp, op), fmt(hp), ratio(gp, hp)
    oh = med("ours" SUBSEP "hwm"); dh = med("debian" SUBSEP "hwm"); gh = med("glibc" SUBSEP "hwm")
    if (oh != "") {
        print "Peak memory (VmHWM) with 1024 idle threads (128 KiB stacks), KiB:"
        print ""
        printf "| %s | Debian libpsx | glibc | (%s - glibc) per thread | (Debian - glibc) per thread |\n", A, A
        print "|---:|---:|---:|---:|---:|"
        # a difference in KiB spread over 1024 threads is that many bytes each
        printf "| %d | %d | %d | %d bytes | %d bytes |\n", oh, dh, gh, oh - gh, dh - gh
    }
}' "$RES"
} | tee "$B/table.md"
echo "bench: raw results in $RES, table in $B/table.md" >&2
