--- The libcurl transport's view class (transport/curl.lua's Transport:
-- start, wait, ready, cancel, close), which the module keeps local: specs
-- wrap a method of it to fail or count at a given moment.  Reached
-- through the upvalues of curl.new and its Handle class.
local curl = require "codearts.batchresult.transport.curl"

--- The value of f's upvalue called name.
local function upvalue(f, name)
  for i = 1, math.huge do
    local n, v = debug.getupvalue(f, i)
    if n == name or n == nil then return v end
  end
end

return upvalue(upvalue(curl.new, "Handle").call, "Transport")
