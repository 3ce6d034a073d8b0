#!/bin/sh
# make test-valgrind: memcheck over the module in build/<version>/ (make
# builds it), in two runs:
#
#   1. scripts/valgrind_driver.lua: one pass over everything the module
#      does (signing, decoding, batched and failing queries, run, a raising
#      on_progress, timeouts, clients closed and collected) and over the
#      binding's hostile cases (proxies whose __index makes fresh strings,
#      lists whose __len lies, finalizers that decode and encode during a
#      large decode, one that closes the client mid-query);
#   2. the busted suite (VALGRIND_SUITE=no skips it).
#
# Each fails on any memcheck error and on any block definitely lost; blocks
# still reachable at exit (libcurl's, OpenSSL's, the interpreter's) are not
# errors.  Only the Lua process is traced: the stand-in, curl and the
# other programs it starts are not.  Logs: build/valgrind-*.log.
#
# Usage: test-valgrind.sh LUA
set -u
. "$(dirname "$0")/suite-env.sh"
lua=${1:-lua5.4}
mkdir -p build

# Lua's own sources come first on the path, as for the specs.
export LUA_PATH="./?.lua;./lua/?.lua;./lua/?/init.lua;;"
version=$("$lua" -e 'io.write(rawget(_G, "jit") and "jit" or _VERSION:match("%d+%.%d+"))')
export LUA_CPATH="./build/$version/?.so;;"

# --keep-debuginfo: Lua unloads C modules at exit, before the leak check
# (this one stays: src/core.c pins it; cjson and the specs' helpers go),
# and their stack frames would otherwise show as ???.  The driver also gets
# --track-origins (where an uninitialised value came from), which would
# double the suite's time.
memcheck() {
    log=$1
    origins=$2
    shift 2
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
        --track-origins="$origins" --keep-debuginfo=yes --log-file="$log" "$@"
}

# What memcheck said, and whether it was clean; $1 = log, $2 = exit status.
verdict() {
    grep -E 'ERROR SUMMARY|definitely lost:|no leaks are possible' "$1" | sed 's/^==[0-9]*== *//'
    if [ "$2" -eq 99 ]; then
        # The reports themselves, without valgrind's preamble.
        sed -n '/^==[0-9]*== *$/,$p' "$1" | head -n 300
        echo "$lua: memcheck found errors or definitely-lost blocks (full log: $1)"
        return 1
    fi
    return 0
}

failed=0

log=build/valgrind-driver-$version.log
echo "test-valgrind: $lua scripts/valgrind_driver.lua (log: $log)"
start=$(date +%s)
memcheck "$log" yes "$lua" scripts/valgrind_driver.lua
status=$?
if ! verdict "$log" "$status"; then
    failed=1
elif [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "$lua: the driver failed (exit $status; log: $log)"
    failed=1
else
    echo "$lua: driver clean under memcheck ($(($(date +%s) - start)) s)"
fi

if [ "${VALGRIND_SUITE:-yes}" != no ]; then
    # busted runs in the traced process itself (its --lua would exec a new
    # interpreter outside valgrind).
    busted=$(command -v busted)
    log=build/valgrind-suite-$version.log
    out=build/valgrind-suite-$version.out
    echo "test-valgrind: the busted suite under $lua (log: $log)"
    start=$(date +%s)
    # (the specs whose work is all in processes of their own ran in make
    # test: memcheck would not watch them; spec/support/once.lua)
    export CODEARTS_SPEC_ONCE=no
    memcheck "$log" no "$lua" "$busted" spec >"$out" 2>&1
    status=$?
    summary=$(grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$out" | tail -n 1)
    if ! verdict "$log" "$status"; then
        failed=1
    elif [ "$status" -ne 0 ]; then
        tail -n 60 "$out"
        echo "$lua: the suite failed under valgrind (exit $status): ${summary:-no summary}"
        failed=1
    else
        echo "$lua: suite clean under memcheck, $summary ($(($(date +%s) - start)) s)"
    fi
fi

[ "$failed" -eq 0 ] || exit 1
echo "$lua: memcheck clean: 0 errors, 0 bytes definitely lost"
