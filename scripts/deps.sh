#!/bin/sh
# Makes sure the Debian packages a target needs are present.  Missing ones
# are installed with apt-get when we are root on Debian; otherwise the
# script names them and fails.  Where there is no dpkg-query (not Debian),
# it names what the sets hold, Debian's names, and leaves the check to the
# build.  Usage: deps.sh build [luas] [test] [bench] [check] [fuzz] [lint]
# (build: for the Lua LUA_VERSION names, 5.1, 5.3, 5.4 or jit, default 5.4;
# luas: all four).
set -eu

lua_pkgs() {
    case "$1" in
        5.1) echo "lua5.1 liblua5.1-0-dev" ;;
        jit) echo "luajit2 libluajit2-5.1-dev" ;;
        *) echo "lua$1 liblua$1-dev" ;;
    esac
}
build="$(lua_pkgs "${LUA_VERSION:-5.4}") libcurl4-openssl-dev libcjson-dev libssl-dev pkg-config make gcc"
luas="$(lua_pkgs 5.4) $(lua_pkgs 5.1) $(lua_pkgs 5.3) $(lua_pkgs jit)"
test="lua-busted luarocks lua-http lua-luaossl lua-cjson curl openssl ca-certificates nginx libnginx-mod-http-lua neovim git
      lua-argparse lua-term bsdutils"
bench="nginx wrk openssl lua-cjson"
check="valgrind"
fuzz="clang-14 libclang-rt-14-dev llvm-14"
lint="lua-check cppcheck clang-tidy"

want=""
for set in "$@"; do
    eval "want=\"\$want \$$set\""
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    echo "deps.sh: not Debian, so not checking for (Debian's names):" $want >&2
    exit 0
fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing missing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >&2
else
    echo "missing packages:$missing" >&2
    echo "install them (e.g. sudo apt-get install$missing) and run make again" >&2
    exit 1
fi
