#!/bin/sh
# Makes sure the Debian packages a target needs are present.  Missing ones
# are installed with apt-get when we are root on Debian; otherwise the
# script names them and fails.  Where there is no dpkg-query (not Debian),
# it names what the sets hold, Debian's names, and leaves the check to the
# build.  Usage: deps.sh build [luas] [demo] [test] [bench] [check] [fuzz] [lint]
# (build: for the Lua LUA_VERSION names, 5.1, 5.2, 5.3, 5.4 or jit, default 5.4,
# or none when the caller names its own headers (LUA_INCDIR); luas: all five).
#
# a|b: either package will do.  Debian's luajit and the luajit2 fork
# conflict, and a machine may have either (Neovim runs on both): the one
# present counts, and when neither is, the first that installs without
# removing anything is installed.  apt-get never removes a package here
# (--no-remove): a package that conflicts with one installed stops it.
set -eu

lua_pkgs() {
    case "$1" in
        none) ;;
        5.1) echo "lua5.1 liblua5.1-0-dev" ;;
        jit) echo "luajit2|luajit libluajit2-5.1-dev|libluajit-5.1-dev" ;;
        *) echo "lua$1 liblua$1-dev" ;;
    esac
}
# libc6-dev: gcc only recommends it, and no recommends are installed here;
# liblua5.x-dev depends on it, but nothing LuaJIT's or LUA_INCDIR's build
# installs does.
build="$(lua_pkgs "${LUA_VERSION:-5.4}") libcurl4-openssl-dev libcjson-dev libssl-dev pkg-config make gcc libc6-dev"
luas="$(lua_pkgs 5.4) $(lua_pkgs 5.1) $(lua_pkgs 5.3) $(lua_pkgs 5.2) $(lua_pkgs jit)"
# make demo's stand-in (spec/standin/server.lua) runs on LuaJIT with these.
demo="luajit2|luajit lua-http lua-luaossl lua-cjson"
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

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
missing=""
for group in $want; do
    found=no
    for p in $(echo "$group" | tr '|' ' '); do
        if installed "$p"; then found=yes; break; fi
    done
    [ $found = yes ] || missing="$missing $group"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # make -j runs the deps.sh of two targets at once, and apt-get refuses
    # a second run while one holds its lock: the second waits for the
    # first here, then looks again at what is missing.
    if [ -z "${CAB_DEPS_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
        locks=/run/lock
        [ -d $locks ] || locks=/tmp
        CAB_DEPS_LOCKED=1 exec flock $locks/codearts-batchresult-deps sh "$0" "$@"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # Of each group, the first alternative apt can install without
    # removing anything (else the first, and apt says what is in the way).
    install=""
    for group in $missing; do
        pick=${group%%|*}
        case $group in *"|"*)
            for p in $(echo "$group" | tr '|' ' '); do
                if apt-get install -s -q --no-remove --no-install-recommends "$p" >/dev/null 2>&1; then
                    pick=$p; break
                fi
            done ;;
        esac
        install="$install $pick"
    done
    echo "installing missing Debian packages:$install" >&2
    # shellcheck disable=SC2086
    if ! apt-get install -y -q --no-remove --no-install-recommends $install >&2; then
        echo "deps.sh: apt-get did not install$install (above; it is not let remove" \
            "a package here): install them yourself and run make again" >&2
        exit 1
    fi
else
    echo "missing packages (a|b: either):$missing" >&2
    echo "install them (e.g. sudo apt-get install$(echo "$missing" | sed 's/|[^ ]*//g')) and run make again" >&2
    exit 1
fi
