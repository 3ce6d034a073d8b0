#!/bin/sh
# The functions are called through section() and traps, not unreachable:
# shellcheck disable=SC2317
# make bench: speed and memory figures, each printed beside its comparison
# measured in the same run, and a PASS/MISS verdict per target (issue 12).
#
#   1. signing      cab_sign() vs the raw OpenSSL work it contains   (<= 1.5x)
#                   br.sign{...} from Lua, key each call, vs the same (<= 2.0x)
#   2. decoding     br.decode() vs lua-cjson on a 100-result answer,
#                   Lua 5.4 and LuaJIT                                (<= 1.0x)
#   3. round trips  client:query() vs a bare libcurl loop sending the same
#                   request (bench/curl_bare.c), same local nginx, with
#                   the library's C transport alone (bench/multi_loop.c),
#                   interleaved rounds, Lua 5.4 and LuaJIT:  HTTP     (>= 0.85x)
#                                                            HTTPS    (>= 0.9x)
#                   and, for context, vs wrk -t1 -c1 over HTTP        (>= 0.5x)
#   4. batching     10,000 pairs, batches of 100, 8 at once, 50 ms answers,
#                   median of 300 calls vs the ideal 650 ms           (<= 1.10x)
#   5. memory       300 more such calls in that process, made first, each
#                   after a full collection, from call 100 to 300:
#                   Lua heap growth (< 64 KB), VmRSS growth (<= 1 MB)
#   6. the CLI      its own work beside the library call it makes    (< 10%)
#   7. Neovim       wake-ups while a query with a callback waits 2 s for
#                   its answer, vs the 5 ms polling it replaced       (<= 10)
#
# Usage (from the repository root): sh bench/run.sh [lua interpreter]
# The decoding and the round trips run under that Lua and LuaJIT (the
# module built for each: make bench builds both); the rest under that Lua.  Shorter runs:
# BENCH_RT_ROUNDS (9) and BENCH_RT_REQUESTS (3000 a side and round),
# BENCH_BATCH_RUNS (300 a pass, two passes: most of the run's time, at
# 0.7 s a call),
# BENCH_CLI_RUNS (10).  Generated files go to bench/out/.  Exits 0 even
# when a target is missed (the MISS is printed); non-zero only when the
# helpers could not be built.
set -u

LUA=${1:-lua5.4}
OUT=bench/out

version_of() { # interpreter -> the Lua version its build directory is named for
    case "$1" in
        luajit*) echo jit ;;
        lua5.*) echo "${1#lua}" ;;
        *) echo 5.4 ;;
    esac
}
pc_of() { if [ "$1" = jit ]; then echo luajit; else echo "lua$1"; fi; }

[ -f src/sign.c ] || { echo "bench/run.sh: run from the repository root" >&2; exit 2; }
mkdir -p "$OUT"

fail() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

# The Lua modules: the library's, the specs' stand-in, and bench/'s.
: "${LUA_PATH:=./?.lua;./lua/?.lua;./lua/?/init.lua;;}"
LUA_PATH="./bench/?.lua;$LUA_PATH"
export LUA_PATH
# Runs a command with the C modules built for Lua version $1: the library
# (build/$1/) and the bench's clock (bench/out/$1/).
with_lua() {
    v=$1
    shift
    LUA_CPATH="./$OUT/$v/?.so;./build/$v/?.so;;" "$@"
}

# ---- the machine ----------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
mhz=$(sed -n 's/^cpu MHz[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "machine: $(nproc) CPU(s), ${cpu:-unknown CPU}${mhz:+ @ ${mhz%.*} MHz}, $(uname -sr)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "software: $("$LUA" -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $(luajit -v 2>&1 | head -n 1 | cut -d' ' -f1-2)," \
    "$(openssl version 2>/dev/null | cut -d' ' -f1-2), $(curl-config --version 2>/dev/null || echo libcurl)," \
    "$(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"

# ---- helpers compiled here -------------------------------------------------
MAIN_V=$(version_of "$LUA")
RT_LUAS=$LUA
[ "$MAIN_V" = jit ] || RT_LUAS="$LUA luajit"
CC=${CC:-cc}
CFLAGS_BENCH="-O2 -std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L"
# shellcheck disable=SC2086
$CC $CFLAGS_BENCH -Isrc bench/sign_bench.c src/sign.c src/buf.c -lcrypto -o "$OUT/sign_bench" ||
    fail "cannot compile bench/sign_bench.c"
# shellcheck disable=SC2086,SC2046
$CC $CFLAGS_BENCH bench/curl_bare.c -o "$OUT/curl_bare" $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl) ||
    fail "cannot compile bench/curl_bare.c"
# shellcheck disable=SC2086,SC2046
$CC $CFLAGS_BENCH -Isrc bench/multi_loop.c src/multi.c src/easy.c src/head.c src/conns.c src/buf.c \
    $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl) -lpthread -o "$OUT/multi_loop" ||
    fail "cannot compile bench/multi_loop.c"
# The clock and the raw signing work for the Lua side, built per Lua.
for lua in $RT_LUAS; do
    v=$(version_of "$lua")
    [ -f "build/$v/codearts/batchresult/core.so" ] || fail "no module in build/$v/: make LUA_VERSION=$v first"
    mkdir -p "$OUT/$v"
    # shellcheck disable=SC2086,SC2046
    $CC $CFLAGS_BENCH -fPIC -shared $(pkg-config --cflags "$(pc_of "$v")") bench/clock.c -lcrypto \
        -o "$OUT/$v/benchclock.so" || fail "cannot compile bench/clock.c for Lua $v"
done

verdicts=""
section() { # name, then the command; prints its report and keeps its verdicts
    name=$1
    shift
    echo
    if "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err"; then
        cat "$OUT/$name.txt"
    else
        cat "$OUT/$name.txt" "$OUT/$name.err"
        echo "VERDICT - $name MISS *** (the bench failed to run; see above)" | tee -a "$OUT/$name.txt"
    fi
    verdicts="$verdicts$(grep '^VERDICT' "$OUT/$name.txt")
"
}

# ---- 1. signing ------------------------------------------------------------
sign_target() {
    "$OUT/sign_bench" >"$OUT/sign_c.txt" || return 1
    with_lua "$MAIN_V" "$LUA" bench/sign.lua "$OUT/sign_c.txt"
}
section sign sign_target

# ---- 2. decoding -----------------------------------------------------------
# On both Luas of the round trips: lua-cjson is markedly faster on LuaJIT.
for lua in $RT_LUAS; do
    v=$(version_of "$lua")
    section "decode-$v" with_lua "$v" "$lua" bench/decode.lua
done

# ---- 3. round trips --------------------------------------------------------
. bench/nginx.sh
NGX_DIR=$(cd "$OUT" && pwd)/nginx
trap 'stop_nginx' EXIT
trap 'stop_nginx; exit 130' INT
trap 'stop_nginx; exit 143' TERM

roundtrip() { # lua, http|https
    v=$(version_of "$1")
    if [ "$2" = https ]; then set -- "$1" https "$NGX_TLS_PORT" "$NGX_CA"; else set -- "$1" http "$NGX_PORT"; fi
    with_lua "$v" "$1" bench/roundtrip.lua "$2" "$3" "$NGX_CHECK_PORT" "$NGX_CHECK_LOG" "$OUT/curl_bare" "$OUT/multi_loop" \
        "$OUT" ${4:+"$4"}
}

rm -rf "$NGX_DIR"
mkdir -p "$NGX_DIR"
# The canned answer: 6 results, as the API gives them.
if with_lua "$MAIN_V" "$LUA" -e 'io.write(require("common").result_body(6))' >"$NGX_DIR/answer.json" &&
    start_nginx 2>"$OUT/nginx.err"; then
    for scheme in http https; do
        for lua in $RT_LUAS; do section "roundtrip-$scheme-$(version_of "$lua")" roundtrip "$lua" "$scheme"; done
    done
    stop_nginx
else
    nginx_failed() { cat "$OUT/nginx.err" >&2; return 1; }
    section roundtrip nginx_failed
fi

# ---- 4, 5 and 6: a batched call, its memory, the CLI -------------------------
section batch with_lua "$MAIN_V" "$LUA" bench/batch.lua "${BENCH_BATCH_RUNS:-300}"
section cli with_lua "$MAIN_V" "$LUA" bench/cli.lua "${BENCH_CLI_RUNS:-10}"

# ---- 7. Neovim without polling ------------------------------------------------
# Inside Neovim, on the module built for LuaJIT (make bench builds it); the
# Lua paths are bench/nvim.lua's own, not the ones exported above.
nvim_target() {
    command -v nvim >/dev/null || { echo "nvim not found" >&2; return 1; }
    [ -f build/jit/codearts/batchresult/core.so ] || { echo "no build/jit/ (make LUA_VERSION=jit)" >&2; return 1; }
    rm -f "$OUT/nvim.report"
    env -u LUA_PATH -u LUA_CPATH BENCH_NVIM_OUT="$OUT/nvim.report" \
        timeout -k 5 120 nvim --headless -u NONE -i NONE -c "luafile bench/nvim.lua" </dev/null >/dev/null 2>"$OUT/nvim.log"
    [ -s "$OUT/nvim.report" ] || { cat "$OUT/nvim.log" >&2; return 1; }
    cat "$OUT/nvim.report"
    ! grep -q '^bench/nvim.lua: ' "$OUT/nvim.report"
}
section nvim nvim_target

# ---- summary ---------------------------------------------------------------
echo
echo "summary (load average now $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)):"
printf '%s' "$verdicts" | sed 's/^VERDICT /  /'
case "$verdicts" in
    *MISS*) echo "  (at least one target MISSED; figures above)" ;;
    *) echo "  (all targets met)" ;;
esac
exit 0
