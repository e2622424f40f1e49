#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds, once, the Debian userlands the test suite also runs in (see
# scripts/in-userland.sh and `make test-userlands`), and prints their
# directories, one per line, on stdout.
#
#   scripts/userland.sh [NAME...]        (default: trixie sid)
#
#   trixie  Debian 13: `debootstrap --variant=minbase` (glibc 2.41)
#   sid     a copy of trixie with Debian unstable's libc6, libc-bin,
#           libgcc-s1 and libstdc++6 unpacked over it (glibc 2.43 in 2026)
#
# Each lands in $PSX_ROOT/build/userland/NAME and is re-used while its stamp
# file (build/userland/NAME.stamp) names the current recipe; delete the
# directory or the stamp to rebuild. Runs as root; needs debootstrap,
# apt-get, dpkg-deb and unshare.
#
# Packages come from the Debian mirror this machine's apt already uses
# (scripts/debian-fetch.sh; PSX_DEBIAN_MIRROR overrides), signatures checked
# against the host's debian-archive-keyring.
#
# Why there is no glibc 2.39 or 2.40 userland: no Debian suite on the mirror
# carries those versions (bookworm has 2.36, trixie 2.41, unstable 2.43,
# experimental 2.44), the pool keeps only files some suite refers to, and
# Debian's snapshot archive, the only store of superseded packages, is
# not reachable from the machines this project is tested on.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
base=$PSX_ROOT/build/userland
# Bump when what a userland contains changes: stamps of another recipe are
# rebuilt.
RECIPE=3
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What the tests' host-built programs load: the C library and its tools
# (getconf), the C++ runtime (t01b), libgcc_s (unwinding, t12; Go's cgo).
OVERLAY_PKGS="libc6 libc-bin libgcc-s1 libstdc++6"

die() {
    echo "userland.sh: $*" >&2
    exit 1
}
log() { echo "userland.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mounts)"
for tool in debootstrap apt-get dpkg-deb unshare flock; do
    command -v $tool >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install debootstrap)"
done
[ -r "$KEYRING" ] || die "$KEYRING is missing (Debian: apt-get install debian-archive-keyring)"

mirror=$(sh "$here/debian-fetch.sh" mirror) || exit 1
arch=$(dpkg --print-architecture)

glibc_of() { # ROOT: the glibc version the userland's getconf reports
    unshare -m sh -c 'mount -t proc proc "$1/proc" && exec chroot "$1" getconf GNU_LIBC_VERSION' \
        sh "$1" 2>/dev/null | sed -n 's/^glibc //p'
}

# Stamp: "recipe=N glibc=X.YY mirror=URI"; valid when the recipe matches and
# the directory is there.
is_current() { # NAME
    [ -d "$base/$1" ] && [ -f "$base/$1.stamp" ] &&
        grep -q "^recipe=$RECIPE " "$base/$1.stamp"
}

# Every mount debootstrap makes (it mounts /proc and /sys in the target while
# configuring packages) lives in a namespace of its own, so none survives a
# failure and `rm -rf` never walks into the host's /proc.
build_trixie() { # DIR
    log "debootstrap trixie into $1 from $mirror"
    unshare -m debootstrap --variant=minbase --arch="$arch" --keyring="$KEYRING" \
        --include=procps,libstdc++6,libgcc-s1 trixie "$1" "$mirror" >"$base/trixie.debootstrap.log" 2>&1 ||
        { tail -n 20 "$base/trixie.debootstrap.log" >&2; die "debootstrap failed (log: $base/trixie.debootstrap.log)"; }
    # What no test reads: apt's package lists and caches, translations,
    # documentation (about 140 of 220 MB; disk is short on some CI machines).
    rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/usr/share/locale/* \
        "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/info/*
}

# Unlinks from DIR every non-directory DEB is about to unpack: DIR shares
# its files with trixie by hard links, and none may be written through.
unshare_files_of() ( # DEB DIR
    deb=$1 dir=$2
    dpkg-deb --fsys-tarfile "$deb" | tar -t | grep -v '/$' | while IFS= read -r path; do
        rm -f "$dir/${path#./}"
    done
)

# A copy of trixie with SUITE's C library and C/C++ runtimes unpacked over
# it (scripts/debian-fetch.sh leaves the host's apt state alone). The copy
# is of hard links, not of data (a full copy, about 200 MB, once ran a CI
# machine out of disk): a file the overlay replaces is unlinked first, and
# at the end trixie must still run its own glibc.
build_overlay() ( # DIR SUITE
    dir=$1 suite=$2
    trixie=$(ensure trixie)
    trixie_glibc=$(glibc_of "$trixie")
    log "linking trixie to $dir, unpacking $suite's $OVERLAY_PKGS over it"
    cp -al "$trixie" "$dir"
    apt=$dir.apt
    rm -rf "$apt"
    sh "$here/debian-fetch.sh" download "$suite" "$arch" "$apt/debs" $OVERLAY_PKGS ||
        die "fetching $suite's $OVERLAY_PKGS failed"
    for deb in "$apt"/debs/*.deb; do
        log "  unpacking $(basename "$deb")"
        unshare_files_of "$deb" "$dir"
        dpkg-deb -x "$deb" "$dir"
    done
    # The dynamic linker cache must list the new libraries, as dpkg's
    # trigger would have done (ldconfig replaces files by rename; the cache
    # goes first all the same).
    rm -f "$dir/etc/ld.so.cache"
    chroot "$dir" /sbin/ldconfig
    want=$(dpkg-deb -f "$apt"/debs/libc6_*.deb Version | sed 's/-.*//')
    rm -rf "$apt"
    got=$(glibc_of "$dir")
    [ "$got" = "$want" ] || die "$dir runs glibc '$got', but $suite's libc6 is $want"
    got=$(glibc_of "$trixie")
    [ "$got" = "$trixie_glibc" ] || die "$trixie runs glibc '$got' after the overlay, not $trixie_glibc: a shared file was written"
)

# (Subshell bodies: build_overlay calls ensure, whose variables are its own.)
ensure() ( # NAME: builds it unless current; prints its directory
    name=$1
    dir=$base/$name
    if is_current "$name"; then
        echo "$dir"
        return 0
    fi
    case $name in
    trixie | sid) ;;
    *) die "unknown userland '$name' (known: trixie sid)" ;;
    esac
    rm -rf "$dir" "$dir.tmp" "$base/$name.stamp"
    start=$(date +%s)
    case $name in
    trixie) build_trixie "$dir.tmp" ;;
    sid) build_overlay "$dir.tmp" unstable ;;
    esac
    # Where scripts/in-userland.sh binds the repository, /tmp it mounts over.
    mkdir -p "$dir.tmp$PSX_ROOT"
    # dev/fd, dev/stdin... point into /proc: seen from the host they lead
    # back into the tree, and cargo, walking the repository, warns of a
    # file system loop. in-userland.sh mounts the host's /dev over them.
    find "$dir.tmp/dev" -maxdepth 1 -type l -lname '/proc/*' -delete
    glibc=$(glibc_of "$dir.tmp")
    [ -n "$glibc" ] || die "getconf GNU_LIBC_VERSION does not run in $dir.tmp"
    mv "$dir.tmp" "$dir"
    echo "recipe=$RECIPE glibc=$glibc mirror=$mirror" >"$base/$name.stamp"
    log "$name ready: glibc $glibc, built in $(($(date +%s) - start)) s"
    echo "$dir"
)

mkdir -p "$base"
# One builder at a time: a second `make test` waits for the first's build.
exec 9>"$base/.lock"
flock 9
[ $# -gt 0 ] || set -- trixie sid
for name in "$@"; do
    ensure "$name"
done
