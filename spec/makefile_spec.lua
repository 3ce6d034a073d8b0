-- The Makefile's own checks of what it is given, before it builds anything.
local shell = require "spec.support.shell"
local q = shell.quote

local root = shell.repo_root()

describe("the Makefile", function()
  -- make takes a value apart at its spaces: such a directory stops it at
  -- once, named, whichever it is (LuaRocks passes them all).
  for _, var in ipairs({ "LUA_INCDIR", "CURL_INCDIR", "CJSON_LIBDIR" }) do
    it("refuses " .. var .. " with a space in it, saying so", function()
      local out, ok = shell.run(("cd %s && make DEPS=none %s='/tmp/a b' all"):format(q(root), var))
      assert.is_false(ok, out)
      assert.truthy(out:find(var .. "=/tmp/a b holds a space, which make cannot pass on: name the directory"
        .. " by a path without one (a symbolic link to it).  Stop.\n", 1, true), out)
    end)
  end
end)
