#!/bin/sh
# Installs codearts-batchresult from this checkout with LuaRocks, offline:
# for Lua 5.1 (which LuaJIT, OpenResty and Neovim load too) and for Lua 5.4.
# The Lua modules the command-line tool needs (argparse, lua-cjson,
# lua-term) come from Debian's packages, so LuaRocks is told not to fetch
# them (drop --deps-mode=none to have it fetch them from luarocks.org).
# As root it installs under /usr/local; extra arguments go to luarocks
# (--local: under ~/.luarocks; --tree=DIR: into DIR).
set -e
luarocks --lua-version=5.1 make --deps-mode=none "$@" codearts-batchresult-0.1.0-1.rockspec
luarocks --lua-version=5.4 make --deps-mode=none "$@" codearts-batchresult-0.1.0-1.rockspec
