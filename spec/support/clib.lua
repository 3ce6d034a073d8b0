-- A C helper of the specs' (spec/support/NAME.c, test code only), compiled
-- on first use for the Lua running the suite and loaded:
--   local lib = require("spec.support.clib")("fork")  -- luaopen_specfork
local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out:match("^(.-)exit=(%d+)%s*$")
end

local pc = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local here = debug.getinfo(1, "S").source:match("^@(.*)clib%.lua$")

return function(name)
  local dir = os.tmpname()
  os.remove(dir)
  local src, so = here .. name .. ".c", dir .. "/spec" .. name .. ".so"
  local out, status = sh(("mkdir -p '%s' && cc -shared -fPIC -O1 -o '%s' '%s' $(pkg-config --cflags %s)")
    :format(dir, so, src, pc))
  assert(status == "0", "cannot build " .. src .. ": " .. tostring(out))
  local lib = assert(package.loadlib(so, "luaopen_spec" .. name))()
  os.remove(so)
  os.remove(dir)
  return lib
end
