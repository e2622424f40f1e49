#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# scripts/arm64-vm.sh [-f FILE]... [-p PATH]... CMD
#
# Boots Debian's arm64 kernel in qemu-system-aarch64 (-M virt, TCG) with an
# initramfs made here, runs `sh -c CMD` in it as root, prints its output and
# exits with its status. See doc/arm64.md.
#
#   -f FILE  copied into the VM's current directory (/vm) under its base name
#   -p PATH  an absolute file or directory copied to the same absolute path
#            in the VM (the C suite keeps its library paths this way)
#
# Inside the VM: a static busybox (sh and the usual tools), Debian's arm64
# libc6, libgcc-s1 and libstdc++6, and our arm64 libpsx.so.2 (from
# build/arm64/lib, made by `make ARCH=arm64`) in /usr/lib/aarch64-linux-gnu,
# where the dynamic linker finds it without any RPATH; /proc, /sys, /dev
# are mounted; /tmp is the initramfs's own (writable, in memory): a tmpfs on
# it would hide -p files that live under /tmp on the host.
#
# Environment:
#   PSX_VM_TIMEOUT  seconds for the whole VM, boot included (default 1800)
#   PSX_VM_MEM      guest memory in MiB (default 2048)
#   PSX_VM_SMP      guest CPUs (default 2)
#   PSX_VM_CPU      qemu -cpu (default max,pauth-impdef=on: every feature,
#                   with pointer authentication's cheap-to-emulate hash)
#   PSX_VM_SUITE    a Debian suite (e.g. trixie) whose libc6, libgcc-s1
#                   and libstdc++6 the VM gets instead of the host's apt
#                   sources' (Debian 12: glibc 2.36), fetched with
#                   scripts/debian-fetch.sh; the kernel and busybox stay
#   PSX_VM_CACHE    where the Debian arm64 packages are unpacked
#                   (default $PSX_ROOT/build/arm64/vm, or .../vm-SUITE)
#   PSX_VM_LOG      where the whole console output is kept
#                   (default $PSX_VM_CACHE/console.log)
#
# Needs: qemu-system-aarch64 (Debian qemu-system-arm), cpio, and
# `dpkg --add-architecture arm64 && apt-get update` once, so that
# apt-get download finds the arm64 packages.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
PSX_VM_TIMEOUT=${PSX_VM_TIMEOUT:-1800}
PSX_VM_MEM=${PSX_VM_MEM:-2048}
PSX_VM_SMP=${PSX_VM_SMP:-2}
PSX_VM_CPU=${PSX_VM_CPU:-max,pauth-impdef=on}
PSX_VM_SUITE=${PSX_VM_SUITE:-}
cache=${PSX_VM_CACHE:-$PSX_ROOT/build/arm64/vm${PSX_VM_SUITE:+-$PSX_VM_SUITE}}
log=${PSX_VM_LOG:-$cache/console.log}
so=$PSX_ROOT/build/arm64/lib/libpsx.so.2

die() {
    echo "arm64-vm: $*" >&2
    exit 125
}
usage() {
    echo "usage: $0 [-f FILE]... [-p ABSOLUTE_PATH]... CMD" >&2
    exit 125
}

files=
paths=
while getopts f:p: opt; do
    case $opt in
    f)
        [ -f "$OPTARG" ] || die "-f $OPTARG: no such file"
        files="$files
$OPTARG"
        ;;
    p)
        case $OPTARG in /*) ;; *) die "-p $OPTARG: the path must be absolute" ;; esac
        [ -e "$OPTARG" ] || die "-p $OPTARG: no such file or directory"
        paths="$paths
$OPTARG"
        ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
cmd=$1

command -v qemu-system-aarch64 >/dev/null ||
    die "qemu-system-aarch64 not found (apt-get install qemu-system-arm)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
[ -f "$so" ] || die "$so not found: run 'make ARCH=arm64' first"

# --- Debian's arm64 packages, downloaded once and unpacked in $cache.
# linux-image-arm64 is a metapackage: the kernel is in the package it
# depends on (linux-image-<version>-arm64).
fetch() {
    mkdir -p "$cache/debs"
    (
        cd "$cache/debs"
        kpkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
            sed -n 's/.*Depends: \(linux-image-[^:]*\).*/\1/p' | head -1)
        [ -n "$kpkg" ] || {
            echo "arm64-vm: apt knows no linux-image-arm64:arm64; run" \
                "'dpkg --add-architecture arm64 && apt-get update'" >&2
            exit 1
        }
        rm -f ./*.deb
        # apt-get download drops privileges to _apt when it can write here.
        chmod 0777 . 2>/dev/null || true
        # The C and C++ runtime: the host's suite, or $PSX_VM_SUITE's.
        libs="libc6 libgcc-s1 libstdc++6"
        apt-get download -q "$kpkg:arm64" busybox-static:arm64 >&2 || exit 1
        if [ -n "$PSX_VM_SUITE" ]; then
            sh "$here/debian-fetch.sh" download "$PSX_VM_SUITE" arm64 . $libs
        else
            # shellcheck disable=SC2086 # one word per package
            apt-get download -q $(printf '%s:arm64 ' $libs) >&2
        fi
    ) || die "downloading the arm64 packages failed"
    rm -rf "$cache/kernel" "$cache/root"
    mkdir -p "$cache/kernel" "$cache/root"
    # Only the kernel image: its modules (about 290 MB) are never loaded,
    # the virt machine's devices psx needs are built in.
    dpkg-deb --fsys-tarfile "$cache"/debs/linux-image-[0-9]*.deb |
        tar -x -C "$cache/kernel" --wildcards './boot/vmlinuz-*' ||
        die "unpacking the kernel image failed"
    for d in "$cache"/debs/busybox-static_*.deb "$cache"/debs/libc6_*.deb \
        "$cache"/debs/libgcc-s1_*.deb "$cache"/debs/libstdc++6_*.deb; do
        dpkg -x "$d" "$cache/root"
    done
    # What the initramfs does not need: documentation, locales, gconv. The
    # packages themselves go too (a new fetch downloads them again): disk
    # is short on some CI machines.
    rm -rf "$cache/root/usr/share" "$cache/root/usr/lib/aarch64-linux-gnu/gconv" "$cache/debs"
    echo "suite=${PSX_VM_SUITE:-host}" >"$cache/ready"
}
# Fetched again when the cache holds another suite's packages (a shared
# PSX_VM_CACHE).
[ "$(cat "$cache/ready" 2>/dev/null)" = "suite=${PSX_VM_SUITE:-host}" ] || fetch
kernel=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$kernel" ] || die "no kernel in $cache/kernel/boot (remove $cache/ready to fetch again)"

# --- The initramfs: the unpacked packages, our library, the files, an init.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
root=$work/root
cp -a "$cache/root" "$root"
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/vm" \
    "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc"
# Debian 12's libc6 still ships /lib/ld-linux-aarch64.so.1 and
# /lib/aarch64-linux-gnu; later ones ship /usr/lib only and leave the /lib
# link (where programs look for the dynamic linker) to base-files.
libdir=$root/usr/lib/aarch64-linux-gnu
[ -d "$root/lib/aarch64-linux-gnu" ] && libdir=$root/lib/aarch64-linux-gnu
[ -e "$root/lib" ] || [ -L "$root/lib" ] || ln -s usr/lib "$root/lib"
cp "$so" "$libdir/libpsx.so.2"
printf '%s\n' "$files" | while IFS= read -r f; do
    if [ -n "$f" ]; then cp -L "$f" "$root/vm/"; fi
done
printf '%s\n' "$paths" | while IFS= read -r p; do
    if [ -n "$p" ]; then
        mkdir -p "$root$(dirname "$p")"
        cp -a -L "$p" "$root$(dirname "$p")/"
    fi
done
printf '%s' "$cmd" > "$root/vm.cmd"
echo 'root:x:0:0:root:/vm:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
# The markers are written by init, never by the command: the host takes the
# command's output from between them and its status from the end marker.
begin=@@psx-vm-begin-$$@@
end=@@psx-vm-end-$$@@
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/vm
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
cd /vm
echo "$begin"
sh -c "\$(cat /vm.cmd)" </dev/null 2>&1
status=\$?
echo "$end status=\$status"
sync
poweroff -f
INIT
chmod 0755 "$root/init"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) > "$work/initrd" ||
    die "making the initramfs failed"

# --- Boot. The console is the PL011 UART (ttyAMA0), built into Debian's
# kernel. No KVM: an x86_64 host emulates the arm64 CPU (TCG).
mkdir -p "$(dirname "$log")"
echo "arm64-vm: booting $(basename "$kernel") (TCG, -cpu $PSX_VM_CPU, -smp $PSX_VM_SMP, ${PSX_VM_MEM} MiB); console log: $log" >&2
start=$(date +%s)
rc=0
timeout -k 10 "$PSX_VM_TIMEOUT" qemu-system-aarch64 \
    -M virt -cpu "$PSX_VM_CPU" -smp "$PSX_VM_SMP" -m "$PSX_VM_MEM" \
    -display none -monitor none -serial stdio -nic none -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
    </dev/null 2>&1 | tr -d '\r' | tee "$log" |
    awk -v b="$begin" -v e="$end" '
        $0 == b { on = 1; next }
        index($0, e) == 1 { on = 0; next }
        on { print; fflush() }
    ' || rc=$?
elapsed=$(($(date +%s) - start))
status=$(sed -n "s/^$end status=\([0-9]*\)\$/\1/p" "$log" | tail -1)
if [ -z "$status" ]; then
    echo "arm64-vm: the VM ended without the command's status after ${elapsed}s" \
        "(timeout ${PSX_VM_TIMEOUT}s); last console lines:" >&2
    tail -20 "$log" >&2
    exit 125
fi
echo "arm64-vm: exit status $status; the VM ran ${elapsed}s" >&2
exit "$status"
