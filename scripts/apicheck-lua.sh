#!/bin/sh
# Builds Lua 5.4 with the C API's own checks (LUA_USE_APICHECK) into
# build/apicheck-lua/, once, and prints the interpreter's path.  make
# test-asan runs the suite under it: a binding that pushes past the stack
# slots it reserved, or hands the API a bad index, aborts there at once,
# where the stock interpreter has slack and goes on (a review found one
# slot too few that way).  The source is the one Debian builds its
# liblua5.4-dev from, fetched from where apt fetches that package and
# checked against its SHA-256, so that the module built against that
# package's header runs in it; its default paths are the system
# interpreter's, so that busted and the Lua modules Debian installs load.
set -eu

version=5.4.4
sha256=164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61
dir=build/apicheck-lua
lua=$dir/lua-$version/src/lua

if [ -x "$lua" ]; then
    echo "$lua"
    exit 0
fi
have=$(dpkg-query -W -f '${Version}' liblua5.4-dev 2>/dev/null || true)
case $have in
"$version"-*) ;;
*)
    echo "apicheck-lua.sh: liblua5.4-dev is '$have', not $version: update the version and SHA-256 here," \
        "or give make test-asan APICHECK_LUA=lua5.4 (no API checks)" >&2
    exit 1
    ;;
esac
# Where apt gets liblua5.4-dev from (its own sources and mirror, not a
# parse of them), whose pool directory holds the source too; through the
# proxy apt is given, if any.
deb=$(apt-get download --print-uris "liblua5.4-dev=$have" 2>/dev/null | sed -n "1s/^'\([^']*\)'.*/\1/p")
pool=${deb%/*}
[ -n "$deb" ] || pool=http://deb.debian.org/debian/pool/main/l/lua5.4
proxy=""
eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null)" || proxy=""
tarball=$dir/lua5.4_$version.orig.tar.gz
mkdir -p "$dir"
if ! curl -fsS --connect-timeout 20 --speed-limit 1024 --speed-time 30 --max-time 600 ${proxy:+--proxy "$proxy"} -o "$tarball.part" "$pool/lua5.4_$version.orig.tar.gz"; then
    echo "apicheck-lua.sh: cannot fetch Lua $version's source from $pool" >&2
    exit 1
fi
if [ "$(sha256sum "$tarball.part" | cut -d' ' -f1)" != "$sha256" ]; then
    echo "apicheck-lua.sh: Lua $version's source from $pool is not the one expected (SHA-256)" >&2
    exit 1
fi
mv "$tarball.part" "$tarball"
tar -xzf "$tarball" -C "$dir"
path=$(env -u LUA_PATH -u LUA_PATH_5_4 lua5.4 -e 'io.write(package.path)')
cpath=$(env -u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 -e 'io.write(package.cpath)')
make -s -C "$dir/lua-$version" linux \
    MYCFLAGS="-DLUA_USE_APICHECK -DLUA_PATH_DEFAULT='\"$path\"' -DLUA_CPATH_DEFAULT='\"$cpath\"'" >&2
echo "$lua"
