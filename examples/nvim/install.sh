#!/bin/sh
# In the checkout (~/src/codearts-batchresult in init.lua): builds the C
# module for Neovim's LuaJIT and puts it where Neovim's require finds it,
# beside the Lua sources; then copies the example plugin into your
# configuration (README: Neovim).  Run it again after updating the checkout:
# the copy is not rebuilt by make.
set -e
make LUA_VERSION=jit
# A new file, not the old one written over: a Neovim that has the old copy
# loaded would crash on its next call into it.
install -m 0755 build/jit/codearts/batchresult/core.so lua/codearts/batchresult/core.so
mkdir -p ~/.config/nvim
cp -r examples/nvim/plugin examples/nvim/lua ~/.config/nvim/
