#!/bin/sh
# Cuts release VERSION from the checkout's HEAD (README: Releasing): tags it,
# packs the source rock from the tag, builds that rock offline (its Lua
# dependencies must be installed already) into a
# scratch tree, and checks that it reports VERSION.
#
#   sh examples/release.sh 0.1.0
set -eu
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: sh examples/release.sh X.Y.Z, in the checkout (README: Releasing)" >&2
    exit 2
fi
version=$1
# The rocks would fetch from github.com/OWNER, which is no one's.
placeholders=$(grep -l 'github\.com/OWNER/' ./*.rockspec | tr '\n' ' ')
if [ -n "$placeholders" ]; then
    echo "release.sh: replace OWNER, a placeholder, in the source.url of $placeholders(README: Releasing)" >&2
    exit 1
fi
# The tag holds HEAD: what is not committed (a new file too) would not be
# released.
if [ -n "$(git status --porcelain)" ]; then
    echo "release.sh: the checkout has changes not committed; commit them first (README: Releasing)" >&2
    exit 1
fi
rockspec=codearts-batchresult-$version-1.rockspec
if ! git cat-file -e "HEAD:$rockspec" 2>/dev/null; then
    echo "release.sh: HEAD holds no $rockspec; rename the release rockspec first (README: Releasing)" >&2
    exit 1
fi
# make rock packs the tag the rockspec names: a rockspec renamed for this
# version but naming the last release's tag would be packed from that one
# (or fail naming it), with this version's tag already made.
said=$(git show "HEAD:$rockspec" | lua5.4 -e '
  local spec = {}
  assert(load(io.read("a"), "=rockspec", "t", spec))()
  io.write(tostring(spec.version), " ", tostring(spec.source and spec.source.tag))')
if [ "$said" != "$version-1 v$version" ]; then
    echo "release.sh: $rockspec says version '${said% *}' and source.tag '${said#* }', not '$version-1' and" \
        "'v$version': set both (README: Releasing)" >&2
    exit 1
fi
git tag -a "v$version" -m "codearts-batchresult $version"
make rock RELEASE_ROCKSPEC="$rockspec"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
luarocks --lua-version=5.4 build --deps-mode=none --tree="$tree" "codearts-batchresult-$version-1.src.rock"
# Lua 5.4 reads LUA_PATH_5_4 and LUA_CPATH_5_4, where set, instead of these:
# it would check another copy.
unset LUA_PATH_5_4 LUA_CPATH_5_4
VERSION=$version LUA_PATH="$tree/share/lua/5.4/?.lua" LUA_CPATH="$tree/lib/lua/5.4/?.so" lua5.4 -e '
  local want = os.getenv("VERSION")
  for _, name in ipairs { "codearts.batchresult", "codearts.batchresult.core" } do
    local got = require(name).VERSION
    assert(got == want, name .. " says it is version " .. got .. ", not " .. want)
  end
  print("codearts-batchresult-" .. want .. "-1.src.rock builds and loads")'
