#!/bin/sh
# Installs codearts-batchresult from this checkout with LuaRocks, offline:
# for Lua 5.1 (which LuaJIT, OpenResty and Neovim load too) and for Lua 5.4.
# As root it installs under /usr/local; extra arguments go to luarocks
# (--local: under ~/.luarocks; --tree=DIR: into DIR).
set -e
luarocks --lua-version=5.1 make "$@" codearts-batchresult-0.1.0-1.rockspec
luarocks --lua-version=5.4 make "$@" codearts-batchresult-0.1.0-1.rockspec
