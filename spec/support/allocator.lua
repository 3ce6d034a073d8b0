--- Whether this Lua takes another allocator, for the specs that fail
-- allocations on purpose (spec/support/oom.c): PUC Lua does; LuaJIT on
-- 64 bits takes none, and one swapped in anyway crashes it.
local M = {}

--- true, or false with the running case made pending through pending
-- (busted's, which a module cannot see: the spec hands it over).
function M.other(pending)
  if not rawget(_G, "jit") then return true end
  pending("LuaJIT on 64 bits takes no other allocator")
  return false
end

return M
