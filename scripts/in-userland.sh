#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs a program built on this host inside one of the userlands of
# scripts/userland.sh, so that it loads that userland's C library:
#
#   scripts/in-userland.sh ROOT CMD [ARG...]
#
# First prints "glibc X.YY (userland NAME)" (NAME: ROOT's last component),
# the version the userland's own getconf reports, then runs CMD with the
# environment and working directory it was given.
#
# Everything happens in a private mount namespace (`unshare -m`, private
# propagation), where ROOT gets /proc, /sys (read-only), /dev (bound),
# a fresh /dev/shm and /tmp (tmpfs), and the repository bound at its own
# absolute path, so build/ paths, RPATHs and PSX_ROOT mean the same inside.
# When CMD ends the namespace and all those mounts are gone; ROOT itself is
# not written to (but for the mount point of the repository, made when
# missing). The process that runs CMD is this script's own (every
# step execs the next), so a `timeout` around this script times CMD itself,
# and CMD's exit status is the script's.
set -eu

[ $# -ge 2 ] || {
    echo "usage: $0 ROOT CMD [ARG...]" >&2
    exit 2
}
root=$(cd "$1" && pwd) || exit 2
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$root/usr/bin/getconf" ] || {
    echo "in-userland.sh: $root is not a userland (no usr/bin/getconf); run scripts/userland.sh" >&2
    exit 2
}

exec unshare -m --propagation private sh -c '
    set -eu
    root=$1 repo=$2 cwd=$3
    shift 3
    mount -t proc proc "$root/proc"
    mount --bind /sys "$root/sys"
    mount -o remount,bind,ro "$root/sys"
    mount --bind /dev "$root/dev"
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
    mkdir -p "$root$repo"
    mount --bind "$repo" "$root$repo"
    echo "$(chroot "$root" getconf GNU_LIBC_VERSION) (userland ${root##*/})"
    exec chroot "$root" /bin/sh -c '\''cd "$1" 2>/dev/null || cd /; shift; exec "$@"'\'' sh "$cwd" "$@"
' sh "$root" "$repo" "$(pwd)" "$@"
