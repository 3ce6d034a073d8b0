-- A finalizer, run at every collection (each_collection), that rewrites the
-- table last handed to it, once: every key cleared and 64 others set.  For
-- specs of the library's reads of a caller's table, which a collection step
-- may interrupt (Lua 5.1 may run one at each call of next).
--   local rewrite = require("spec.support.rewritten")()
--   rewrite(t)  ...the call that reads t...  rewrite(nil)
return function()
  local t
  require("spec.support.each_collection")(function()
    if t then
      for k in pairs(t) do rawset(t, k, nil) end
      for i = 1, 64 do rawset(t, "z" .. i, i) end
      t = nil
    end
  end)
  return function(x) t = x end
end
