#!/bin/sh
# make test: the whole busted suite under each Lua given, then one plain
# "N passed, N failed" line for them all.  Usage: test.sh LUA... (e.g.
# lua5.4 lua5.1 lua5.3 luajit; the module for each must be built).
# Each failure is printed again at the very end (or, when busted died
# before its summary, its last lines), so that a log cut to its tail (as
# CI's is) still names it.
set -u
out=$(mktemp)
failures_seen=$(mktemp)
trap 'rm -f "$out" "$failures_seen"' EXIT
total_passed=0
total_failed=0
for lua in "$@"; do
    echo "== busted under $lua"
    busted --lua="$lua" spec 2>&1 | tee "$out"
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
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failures + errors))
done
echo
if [ -s "$failures_seen" ]; then
    echo "== what failed"
    cat "$failures_seen"
fi
echo "all: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
