-- Runs f at every collection from now on (a finalizer that renews itself),
-- with a collector that runs often: for specs of what a finalizer may do
-- at any allocation of the library's.
local on_collect = require "spec.support.on_collect"

return function(f)
  local function fin()
    f()
    on_collect(fin)
  end
  on_collect(fin)
  collectgarbage("setpause", 100)
  collectgarbage("setstepmul", 1000)
end
