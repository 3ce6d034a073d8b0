#!/bin/sh
# Runs a script against the checkout without installing anything: the C
# module built into build/5.4/, the Lua sources from lua/.
set -e
make LUA_VERSION=5.4
# Lua 5.4 reads LUA_PATH_5_4 and LUA_CPATH_5_4, where set, instead of these.
unset LUA_PATH_5_4 LUA_CPATH_5_4
LUA_PATH="lua/?.lua;;" LUA_CPATH="build/5.4/?.so;;" lua5.4 examples/query.lua
