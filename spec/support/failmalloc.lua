--- spec/support/failmalloc.c built for a child to preload: the specs of
-- what the library does when an allocation of its own fails.
local M = {}

--- The library's path and a function that removes it; nil under a
-- preloaded sanitizer, whose runtime would have to come first.
function M.build()
  if os.getenv("LD_PRELOAD") then return nil end
  local dir = os.tmpname()
  os.remove(dir)
  local lib = dir .. "/failmalloc.so"
  assert(os.execute(("mkdir -p '%s' && cc -shared -fPIC -O1 -o '%s' spec/support/failmalloc.c -ldl")
    :format(dir, lib)))
  return lib, function() os.remove(lib) os.remove(dir) end
end

return M
