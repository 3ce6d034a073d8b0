#!/bin/sh
# make test: the whole busted suite under one Lua, ending with a plain
# "N passed, N failed" line.  Usage: test.sh LUA [busted args...]
set -u
lua=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
busted --lua="$lua" "$@" spec 2>&1 | tee "$out"
status=$(tail -n 50 "$out" | grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' | tail -n 1)
passed=$(echo "$status" | sed -E 's/^([0-9]+) success.*/\1/')
failures=$(echo "$status" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
errors=$(echo "$status" | sed -E 's/.* ([0-9]+) errors?.*/\1/')
if [ -z "$status" ]; then
    echo "$lua: busted printed no summary"
    exit 1
fi
echo "$lua: $passed passed, $((failures + errors)) failed"
[ "$((failures + errors))" -eq 0 ]
