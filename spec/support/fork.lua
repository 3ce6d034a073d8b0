-- fork(), wait() and exit() for the specs, from spec/support/fork.c,
-- compiled on first use for the Lua running the suite.
local M = {}

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out:match("^(.-)exit=(%d+)%s*$")
end

local pc = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local dir = os.tmpname()
os.remove(dir)
local src = debug.getinfo(1, "S").source:match("^@(.*)fork%.lua$") .. "fork.c"
local so = dir .. "/specfork.so"
local out, status = sh(("mkdir -p '%s' && cc -shared -fPIC -O1 -o '%s' '%s' $(pkg-config --cflags %s)")
  :format(dir, so, src, pc))
assert(status == "0", "cannot build spec/support/fork.c: " .. tostring(out))
local lib = assert(package.loadlib(so, "luaopen_specfork"))()
os.remove(so)
os.remove(dir)

M.fork, M.wait, M.exit = lib.fork, lib.wait, lib.exit
return M
