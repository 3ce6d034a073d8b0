#!/bin/sh
# Prints which Lua the headers a compiler finds belong to: 5.1, 5.2, 5.3,
# 5.4, or jit (LuaJIT, whose lua.h says 5.1 and has luajit.h beside it).
# The Makefile names build directories by it, so that objects made for one
# Lua are never linked into another's module.
#
# Usage: lua-abi.sh CC [CFLAGS...]     e.g. lua-abi.sh gcc -I/usr/include/lua5.1
set -eu
cc=$1
shift

# (the compiler's messages kept: when it cannot read the headers, a C
# library's header missing say, its first error says why)
out=$(printf '#include <lua.h>\ncab_lua_version_num LUA_VERSION_NUM\n' |
    "$cc" "$@" -E -P -x c - 2>&1) || true
num=$(printf '%s\n' "$out" | sed -n 's/^cab_lua_version_num  *//p')
case $num in
    501|502|503|504) ;;
    *)
        why=$(printf '%s\n' "$out" | grep -m 1 -E 'error|No such file' || true)
        echo "lua-abi.sh: no usable lua.h with: $cc $*${why:+ ($why)}" >&2
        exit 1
        ;;
esac

# The lua.h the compiler took, from its dependency list.
header=$(printf '#include <lua.h>\n' | "$cc" "$@" -M -x c - 2>/dev/null |
    tr ' \\' '\n\n' | grep '/lua\.h$' | head -n 1)
if [ -n "$header" ] && [ -f "$(dirname "$header")/luajit.h" ]; then
    echo jit
else
    echo "$((num / 100)).$((num % 100))"
fi
