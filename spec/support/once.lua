-- For specs whose subject does not depend on the Lua running the suite
-- (builds, installs, shell how-tos, servers of the specs' own, and the
-- library inside nginx and Neovim, which run their own LuaJIT): they run
-- once per `make test`, under Lua 5.4, and are pending under the other
-- Luas.  Also pending under ASan and memcheck (CODEARTS_SPEC_ONCE=no, set
-- by scripts/test-asan.sh and test-valgrind.sh): their work is done in
-- processes of their own, which neither checker watches, so those suites
-- would only do it again.
--
--   local once = require "spec.support.once"
--   once.describe("luarocks builds", function() ... end)
local busted = require "busted"

local M = {}

-- (under ASan or memcheck)
local checked = os.getenv("CODEARTS_SPEC_ONCE") == "no"

M.here = _VERSION == "Lua 5.4" and not rawget(_G, "jit") and not checked

function M.describe(name, fn)
  if M.here then
    busted.describe(name, fn)
  else
    busted.pending(name .. " (runs once per make test, under Lua 5.4)")
  end
end

-- For specs whose work is all in processes of their own that load a
-- plain module (the command-line tool, which finds the checkout's
-- build/<version> itself whatever the suite loads; luarocks and what it
-- installs): they run under every Lua in `make test`, and are pending
-- under ASan and memcheck.  memcheck does not trace those processes; the
-- ASan runtime they inherit (the tool's do) sees only the plain module's
-- calls into libc, none of its own code.
--
--   once.unchecked("codearts-batchresult", function() ... end)
function M.unchecked(name, fn)
  if checked then
    busted.pending(name .. " (processes of its own, loading a plain module: make test runs it)")
  else
    busted.describe(name, fn)
  end
end

return M
