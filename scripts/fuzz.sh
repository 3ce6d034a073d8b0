#!/bin/sh
# make fuzz / fuzz-regress / fuzz-coverage: runs the libFuzzer harnesses
# built in build/fuzz/ (see fuzz/README.md).
#
#   fuzz.sh run SECONDS HARNESS...    fuzz each harness for SECONDS
#   fuzz.sh replay 0 HARNESS...       run each once over its shipped seeds
#                                     and regressions, no fuzzing
#   fuzz.sh coverage 0 HARNESS...     run the coverage builds over every
#                                     input (shipped and found) and report
#                                     line coverage of src/, and of the
#                                     library's Lua that the binding
#                                     harness runs
#
# Seeds: fuzz/corpus/<harness>/ and fuzz/regressions/<harness>/, read only.
# Inputs found while fuzzing go to build/fuzz/corpus/<harness>/ (kept
# between runs, so coverage grows, and never committed); a crash, leak or
# failed check leaves its input in build/fuzz/crashes/<harness>/.
# FUZZ_ARGS adds libFuzzer flags (e.g. FUZZ_ARGS=-jobs=2).
set -u
mode=$1
seconds=$2
shift 2

out=build/fuzz
failed=""
summary=""

# Leaks are checked (LeakSanitizer runs after each input that allocated
# more than it freed); any sanitizer report ends the run.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
unset LD_PRELOAD

# The seed directories of harness $1 that exist.
seed_dirs() {
    for d in "fuzz/corpus/$1" "fuzz/regressions/$1"; do
        [ -d "$d" ] && printf ' %s' "$d"
    done
}

# The files under the directories given that exist, sorted; none when
# none exists (find given no directory would list ".", the checkout).
input_files() {
    # shellcheck disable=SC2046
    set -- $(for d in "$@"; do [ -d "$d" ] && printf '%s\n' "$d"; done)
    [ $# -eq 0 ] || find "$@" -type f | sort
}

if [ "$mode" = coverage ]; then
    profiles=$out/cov/profiles
    rm -rf "$profiles"
    mkdir -p "$profiles"
    objects=""
    for h in "$@"; do
        # shellcheck disable=SC2046
        files=$(input_files $(seed_dirs "$h") "$out/corpus/$h")
        # (a harness given no input fuzzes until stopped)
        if [ -z "$files" ]; then
            echo "== $h: no inputs: fuzz/corpus/$h and fuzz/regressions/$h hold none, nor $out/corpus/$h"
            failed="$failed $h"
            continue
        fi
        n=$(echo "$files" | grep -c .)
        echo "== $h: $n inputs"
        # shellcheck disable=SC2086
        LLVM_PROFILE_FILE="$profiles/$h.profraw" FUZZ_LUA_LINES="$out/cov/$h.lua-lines" \
            "$out/cov/$h" -timeout=10 $files \
            >"$out/cov/$h.log" 2>&1 || { tail -n 20 "$out/cov/$h.log"; failed="$failed $h"; }
        # llvm-cov takes the first binary bare, the others as -object.
        objects="$objects${objects:+ -object=}$out/cov/$h"
    done
    [ -n "$objects" ] || { echo "fuzz-coverage: failed:$failed"; exit 1; }
    llvm-profdata-14 merge -sparse "$profiles"/*.profraw -o "$profiles/all.profdata" || exit 1
    # shellcheck disable=SC2086
    llvm-cov-14 report -instr-profile="$profiles/all.profdata" $objects src/codec.c src/sign.c src/buf.c src/redact.c src/head.c \
        src/answer.c src/core_codec.c src/core_keyring.c
    # The Lua lines the binding harness ran (its FUZZ_LUA_LINES), of the
    # lines luac gives code to.
    if [ -s "$out/cov/binding.lua-lines" ]; then
        echo "Lua lines run by the binding harness:"
        for f in lua/codearts/batchresult.lua lua/codearts/batchresult/input.lua \
                 lua/codearts/batchresult/config.lua lua/codearts/batchresult/call.lua \
                 lua/codearts/batchresult/exchange.lua; do
            luac5.4 -l -l -p "$f" | sed -n 's/^[[:space:]]*[0-9]*[[:space:]]*\[\([0-9]*\)\].*/\1/p' | sort -u >"$out/cov/lines.all"
            sed -n "s|^\./$f ||p" "$out/cov/binding.lua-lines" | sort -u >"$out/cov/lines.run"
            all=$(wc -l <"$out/cov/lines.all")
            run=$(comm -12 "$out/cov/lines.all" "$out/cov/lines.run" | wc -l)
            printf '  %-40s %4d of %4d lines (%d%%)\n' "$f" "$run" "$all" $((100 * run / all))
        done
    fi
    echo "(line by line: llvm-cov-14 show -instr-profile=$profiles/all.profdata $objects src/sign.c)"
    [ -z "$failed" ] || { echo "fuzz-coverage: failed:$failed"; exit 1; }
    exit 0
fi

for h in "$@"; do
    bin=$out/$h
    dirs=$(seed_dirs "$h")
    mkdir -p "$out/corpus/$h" "$out/crashes/$h" "$out/logs"
    log=$out/logs/$h.log
    if [ "$mode" = replay ]; then
        # Every seed and regression, each run once (a list of files, not
        # directories, so libFuzzer only executes them).
        # shellcheck disable=SC2086
        files=$(input_files $dirs)
        # (a harness given no input fuzzes until stopped)
        if [ -z "$files" ]; then
            echo "== $h: no inputs: fuzz/corpus/$h and fuzz/regressions/$h hold none"
            failed="$failed $h"
            continue
        fi
        n=$(echo "$files" | grep -c .)
        echo "== $h: replaying $n inputs"
        # shellcheck disable=SC2086
        if "$bin" -timeout=10 -rss_limit_mb=2048 $files >"$log" 2>&1; then
            summary="$summary$h: $n inputs replayed, no report
"
        else
            failed="$failed $h"
            grep -v -E '^(Running|Executed) ' "$log" | tail -n 60
        fi
        continue
    fi
    dict=""
    [ -f "fuzz/$h.dict" ] && dict="-dict=fuzz/$h.dict"
    echo "== $h: fuzzing for ${seconds} s (seeds:$dirs; new inputs: $out/corpus/$h)"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$out/crashes/$h/" $dict ${FUZZ_ARGS:-} \
        "$out/corpus/$h" $dirs >"$log" 2>&1
    status=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$done_line" | sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    if [ "$status" -eq 0 ]; then
        summary="$summary$h: ${execs:-?} execs in ${seconds} s (${rate:-?}/s), edges ${cov:-?}, features ${ft:-?}, corpus ${corp:-?}
"
    else
        failed="$failed $h"
        summary="$summary$h: FAILED after ${execs:-?} execs, see $log
"
        echo "---- $h failed; the end of $log:"
        tail -n 60 "$log"
        echo "---- the input is in $out/crashes/$h/; to replay it:"
        echo "     $bin $out/crashes/$h/<file>"
        echo "     once understood, keep it as fuzz/regressions/$h/<name>"
    fi
done
printf '%s' "$summary"
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
