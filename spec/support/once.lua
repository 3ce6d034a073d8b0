-- For specs whose subject does not depend on the Lua running the suite
-- (builds, installs, shell how-tos): they run once per `make test`, under
-- Lua 5.4, and are pending under the other Luas.
--
--   local once = require "spec.support.once"
--   once.describe("luarocks builds", function() ... end)
local busted = require "busted"

local M = {}

M.here = _VERSION == "Lua 5.4" and not rawget(_G, "jit")

function M.describe(name, fn)
  if M.here then
    busted.describe(name, fn)
  else
    busted.pending(name .. " (runs under Lua 5.4 only, once per make test)")
  end
end

return M
