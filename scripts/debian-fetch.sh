#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Debian packages of another suite or architecture, without touching the
# host's apt configuration or package lists (scripts/userland.sh and
# scripts/arm64-vm.sh use it).
#
#   scripts/debian-fetch.sh mirror
#       prints the URI of the Debian mirror this machine's apt uses
#   scripts/debian-fetch.sh download SUITE ARCH DIR PKG...
#       downloads PKG... of SUITE for ARCH into DIR (verified .debs)
#
# The mirror is read at run time from /etc/apt/sources.list.d/*.sources
# (deb822, field URIs) or the one-line /etc/apt/sources.list and *.list;
# PSX_DEBIAN_MIRROR overrides. Signatures are checked against the host's
# debian-archive-keyring. apt-get works in a private state directory with a
# private sources list.
set -eu

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
    echo "debian-fetch.sh: $*" >&2
    exit 1
}

# The URI of the host's main Debian archive: the first "deb" source with a
# plain suite (no -updates, -security, ...) and the main component.
host_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && comps ~ /(^| )main( |$)/) {
                    n = split(suites, s, " ")
                    for (i = 1; i <= n; i++)
                        if (s[i] !~ /[-\/]/ && uris != "") {
                            split(uris, u, " ")
                            print u[1]
                            found = 1
                            exit
                        }
                }
                types = uris = suites = comps = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '
            $1 != "deb" { next }
            {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; suite = $(i + 1); main = 0
                for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
                if (main && suite !~ /[-\/]/) { print uri; exit }
            }
        ' "$f"
    done
}

mirror() {
    m=${PSX_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
    [ -n "$m" ] || die "found no Debian mirror in /etc/apt/sources.list{,.d/*}; set PSX_DEBIAN_MIRROR"
    echo "$m"
}

download() { # SUITE ARCH DIR PKG...
    suite=$1 arch=$2 dir=$3
    shift 3
    [ -r "$KEYRING" ] || die "$KEYRING is missing (Debian: apt-get install debian-archive-keyring)"
    m=$(mirror)
    apt=$(mktemp -d)
    trap 'rm -rf "$apt"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$dir"
    echo "deb [arch=$arch signed-by=$KEYRING target=Packages] $m $suite main" >"$apt/sources.list"
    pkgs=$*
    set -- -o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" \
        -o Dir::State::status=/dev/null -o Dir::Cache="$apt" \
        -o Dir::Cache::archives="$apt/archives" \
        -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=- \
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=- \
        -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    apt-get "$@" -q update >"$apt/update.log" 2>&1 ||
        { cat "$apt/update.log" >&2; die "apt-get update for $suite ($arch) failed"; }
    (cd "$dir" && apt-get "$@" -q download $pkgs) >"$apt/download.log" 2>&1 ||
        { cat "$apt/download.log" >&2; die "apt-get download of $pkgs from $suite ($arch) failed"; }
}

case ${1:-} in
mirror) mirror ;;
download)
    [ $# -ge 5 ] || die "usage: $0 download SUITE ARCH DIR PKG..."
    shift
    download "$@"
    ;;
*) die "usage: $0 mirror | download SUITE ARCH DIR PKG..." ;;
esac
