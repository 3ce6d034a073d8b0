-- Garbage of a size that varies with no period: called before each call a
-- spec wants finalizers to run inside, it moves the collector's next step
-- to a different point of that call each time.  A size that cycled (i % 13)
-- could fall into step with the collector: in one environment, LuaJIT
-- then ran no finalizer inside the call in 20,000 calls.
local state = 7
return function()
  -- Park and Miller's generator: exact in a double, the same on every Lua
  state = state * 16807 % 2147483647
  local pad = {}
  for k = 1, state % 13 do pad[k] = {} end
  return pad
end
