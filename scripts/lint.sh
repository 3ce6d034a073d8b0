#!/bin/sh
# make lint: every Lua file through luacheck (settings: .luacheckrc), and
# src/ through cppcheck and clang-tidy (checks: .clang-tidy).  The C is
# checked as compiled for Lua 5.4 and for Lua 5.1, so that both sides of
# compat.h are seen.  Fails on any finding; each tool runs even when an
# earlier one failed.
set -u
failed=""

echo "== luacheck"
luacheck --codes --quiet --no-color lua bin/codearts-batchresult spec bench fuzz scripts examples ./*.rockspec .luacheckrc || failed="$failed luacheck"

# cppcheck reads no system header: the library versions that
# src/requirements.h checks are given as the Debian 12 ones, and Linux's
# MADV_WIPEONFORK (so that src/multi.c's use of it is checked too).
versions="-DLIBCURL_VERSION_NUM=0x075801 -DOPENSSL_VERSION_MAJOR=3 -DMADV_WIPEONFORK=18
          -DCJSON_VERSION_MAJOR=1 -DCJSON_VERSION_MINOR=7 -DCJSON_VERSION_PATCH=15"
for num in 504 501; do
    echo "== cppcheck (LUA_VERSION_NUM $num)"
    # variableScope is off: declarations open their block in this code.
    # shellcheck disable=SC2086
    cppcheck --quiet --error-exitcode=1 --std=c99 --library=posix --force \
        --enable=warning,style,performance,portability,information \
        --suppress=variableScope --suppress=missingIncludeSystem \
        --suppress-xml=scripts/cppcheck-suppressions.xml \
        -D_POSIX_C_SOURCE=200809L -DLUA_VERSION_NUM=$num $versions -Isrc src ||
        failed="$failed cppcheck-$num"
done

for lua in lua5.4 lua5.1; do
    echo "== clang-tidy ($lua headers)"
    flags="-std=c99 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags "$lua" libcurl libcrypto)"
    for f in src/*.c; do
        # shellcheck disable=SC2086
        clang-tidy --quiet "$f" -- $flags 2>/dev/null ||
            failed="$failed clang-tidy:$f($lua)"
    done
done

if [ -n "$failed" ]; then
    echo "lint: findings from:$failed"
    exit 1
fi
echo "lint: no findings"
