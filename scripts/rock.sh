#!/bin/sh
# make rock: the source rock of a release rockspec, made by `luarocks pack`
# as it would be from the public repository, but fetched from this
# checkout: git's url.<base>.insteadOf points the rockspec's source.url
# here, so nothing goes over the network.  The rock holds the tagged
# commit (the rockspec's source.tag) and its rockspec, not the working tree.
# Usage: rock.sh ROCKSPEC     (writes NAME-VERSION.src.rock here)
set -eu
rockspec=$1

# A rockspec's source.url, without LuaRocks' "git+" prefix, and source.tag.
fields() {
    ROCKSPEC=$1 lua5.4 -e '
      local spec = {}
      assert(loadfile(os.getenv("ROCKSPEC"), "t", spec))()
      io.write((spec.source.url:gsub("^git%+", "")), " ", spec.source.tag or "")'
}
tag=$(fields "$rockspec")
tag=${tag#* }
if [ -z "$tag" ]; then
    echo "rock.sh: $rockspec names no source.tag" >&2
    exit 1
fi
if ! git rev-parse -q --verify "refs/tags/$tag^{commit}" >/dev/null; then
    echo "rock.sh: there is no tag $tag here; tag the release first (README: Releasing)" >&2
    exit 1
fi
# The rockspec as tagged, whose source.url LuaRocks will clone.
tagged=$(mktemp -d)
trap 'rm -rf "$tagged"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
spec=$tagged/$(basename "$rockspec")
if ! git show "$tag:$rockspec" >"$spec"; then
    echo "rock.sh: tag $tag holds no $rockspec" >&2
    exit 1
fi
url=$(fields "$spec")
if [ "${url#* }" != "$tag" ]; then
    echo "rock.sh: $rockspec as tagged $tag names source.tag ${url#* }" >&2
    exit 1
fi
url=${url% *}
# (LuaRocks clones the tag, a detached head: git need not say so.)
GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0="url.file://$(pwd)/.insteadOf" GIT_CONFIG_VALUE_0="$url" \
    GIT_CONFIG_KEY_1=advice.detachedHead GIT_CONFIG_VALUE_1=false \
    luarocks pack "$spec"
