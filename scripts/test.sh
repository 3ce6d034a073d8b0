#!/bin/sh
# make test: the whole busted suite under each Lua given, then one plain
# "N passed, N failed" line for them all.  Usage: test.sh LUA... (e.g.
# lua5.4 luajit lua5.1 lua5.3 lua5.2; the module for each must be built).
#
# TEST_JOBS (default 2) suites run at once: each spends most of its time
# waiting on its servers and timers, so two share a 2-core machine at
# little cost to either.  That many lanes each take the next Lua not yet
# taken, in the order given, whenever they are free (Lua 5.4's suite is
# the longest: it alone runs the once-only specs); the output is printed
# whole once all end (with TEST_JOBS=1, as it runs).
#
# Each failure is printed again at the very end (or, when busted died
# before its summary, its last lines), and after them a line naming each
# failed test, so that a log cut to its tail (as CI's is) still names it.
set -u
. "$(dirname "$0")/suite-env.sh"

# A lane: the suite of each Lua it takes, in turn, its output into
# DIR/<place from 1>.out.  A lane takes a Lua by making DIR/<place>.taken,
# which only one mkdir can do.
if [ "${1:-}" = --lane ]; then
    dir=$2
    shift 2
    i=0
    for lua in "$@"; do
        i=$((i + 1))
        mkdir "$dir/$i.taken" 2>/dev/null || continue
        echo "== $lua: started ($(date +%H:%M:%S))"
        busted --lua="$lua" spec >"$dir/$i.out" 2>&1
        echo "== $lua: done ($(date +%H:%M:%S))"
    done
    exit 0
fi

if [ $# -eq 0 ]; then
    echo "test.sh: no Lua to run the suite under (TEST_LUAS names none)" >&2
    exit 2
fi
jobs=${TEST_JOBS:-2}
case $jobs in '' | *[!0-9]*) jobs=0 ;; esac
if [ "$jobs" -lt 1 ]; then
    echo "TEST_JOBS must be a whole number above 0, not '${TEST_JOBS:-}'" >&2
    exit 2
fi
dir=$(mktemp -d)
lanes=""
# A lane runs in a session of its own, so that it can be stopped whole:
# busted takes SIGINT for the failure of one test and goes on, and the
# servers the specs start would outlive it.
# (dash's kill takes no "--"; "-PID" after the signal is a group.)
stop_lanes() {
    for pid in $lanes; do kill -TERM "-$pid" 2>/dev/null; done
    exit "$1"
}
trap 'rm -rf "$dir"' EXIT
trap 'stop_lanes 130' INT
trap 'stop_lanes 143' TERM
trap 'stop_lanes 129' HUP

if [ "$jobs" -eq 1 ] || [ $# -le 1 ]; then
    i=0
    for lua in "$@"; do
        i=$((i + 1))
        echo "== busted under $lua"
        busted --lua="$lua" spec 2>&1 | tee "$dir/$i.out"
    done
else
    lane=0
    while [ "$lane" -lt "$jobs" ]; do
        setsid -w sh "$0" --lane "$dir" "$@" &
        lanes="$lanes $!"
        lane=$((lane + 1))
    done
    wait
    i=0
    for lua in "$@"; do
        i=$((i + 1))
        echo
        echo "== busted under $lua"
        cat "$dir/$i.out"
    done
fi

total_passed=0
total_failed=0
failures_seen=$dir/failures
failures_named=$dir/failures_named
: >"$failures_seen"
: >"$failures_named"
i=0
echo
for lua in "$@"; do
    i=$((i + 1))
    out=$dir/$i.out
    status=$(grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' "$out" | tail -n 1)
    if [ -z "$status" ]; then
        echo "$lua: busted printed no summary"
        { echo "[$lua] no summary; its last lines:"; tail -n 20 "$out"; echo; } >>"$failures_seen"
        total_failed=$((total_failed + 1))
        continue
    fi
    passed=$(echo "$status" | sed -E 's/^([0-9]+) success.*/\1/')
    failures=$(echo "$status" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
    errors=$(echo "$status" | sed -E 's/.* ([0-9]+) errors?.*/\1/')
    echo "$lua: $passed passed, $((failures + errors)) failed"
    if [ $((failures + errors)) -gt 0 ]; then
        # busted's report: blank-line separated blocks after the summary.
        awk -v lua="$lua" 'BEGIN { RS = "" } /^(Failure|Error) / { print "[" lua "] " $0 "\n" }' \
            "$out" >>"$failures_seen"
        # (and its first two lines, where and which test, for the list
        # printed last: a block may run to megabytes of a tool's output)
        awk -v lua="$lua" 'BEGIN { RS = ""; FS = "\n" } /^(Failure|Error) / { print "[" lua "] " $1 ": " $2 }' \
            "$out" >>"$failures_named"
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failures + errors))
done
echo
if [ -s "$failures_seen" ]; then
    echo "== what failed"
    cat "$failures_seen"
    if [ -s "$failures_named" ]; then
        echo "== the tests that failed"
        cat "$failures_named"
    fi
fi
echo "all: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
