#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# scripts/hog-runs.sh [RUNS]   (default 20)
#
# The stress the engine issues' "Done when" name: `make c-test` RUNS times in
# a row while two CPU hogs (busy shell loops, one per core of a 2-core
# machine) compete with every test. Stops at the first failing run; with
# PSX_KEEP_GOING=1 every run runs every test (c-tests/run.sh goes on past a
# failure) and the end lists how often each failing test failed. Each run's
# output is kept in build/hog-runs/run-N.log; one line per run is printed.
# Not part of `make test` (about 4 minutes per run). With PSX_TESTS set
# (c-tests/run.sh's list), each run is `sh c-tests/run.sh` for those tests
# only, both link modes, instead of `make c-test`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PSX_ROOT=${PSX_ROOT:-$(cd "$here/.." && pwd)}
runs=${1:-20}
logs=$PSX_ROOT/build/hog-runs
mkdir -p "$logs"

sh -c 'while :; do :; done' &
hog1=$!
sh -c 'while :; do :; done' &
hog2=$!
trap 'kill $hog1 $hog2 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -n "${PSX_TESTS:-}" ]; then
    what="c-tests/run.sh for $PSX_TESTS"
    set -- sh "$PSX_ROOT/c-tests/run.sh"
else
    what="make c-test"
    set -- make -s -C "$PSX_ROOT" c-test
fi
echo "hog-runs: $runs runs of $what, hogs $hog1 $hog2, logs in $logs"

i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    start=$(date +%s)
    rc=0
    "$@" >"$logs/run-$i.log" 2>&1 || rc=$?
    summary=$(grep -E 'c-tests: [0-9]+ passed' "$logs/run-$i.log" | tail -1)
    echo "run $i: rc=$rc, $(($(date +%s) - start)) s, ${summary:-no summary}"
    if [ "$rc" -ne 0 ]; then
        grep -E '^FAIL|FAILED' "$logs/run-$i.log" | head -5
        failed_runs=$((${failed_runs:-0} + 1))
        if [ -z "${PSX_KEEP_GOING:-}" ]; then
            echo "hog-runs: run $i of $runs failed"
            exit 1
        fi
    fi
done
if [ -n "${failed_runs:-}" ]; then
    echo "hog-runs: $failed_runs of $runs runs failed; failures per test and mode:"
    cat "$logs"/run-*.log | sed -n 's/^c-tests: FAILED: \([a-z]*\) \([^:]*\):.*/\1 \2/p' |
        sort | uniq -c
    exit 1
fi
echo "hog-runs: $runs of $runs runs passed with two CPU hogs"
