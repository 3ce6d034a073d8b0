#!/bin/sh
# Makes sure the Debian packages a target needs are present.  Missing ones
# are installed with apt-get when we are root on Debian; otherwise the
# script names them and fails.  Usage: deps.sh build [test] [bench] [check] [fuzz] [lint]
set -eu

build="lua5.4 liblua5.4-dev lua5.1 liblua5.1-0-dev lua5.3 liblua5.3-dev luajit2 libluajit2-5.1-dev
       libcurl4-openssl-dev libcjson-dev libssl-dev pkg-config make gcc"
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
