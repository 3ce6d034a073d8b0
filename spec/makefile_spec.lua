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

  -- make test's log is cut to its tail in CI, where one failure's message
  -- (a tool's whole output) filled it, and no line said which test failed.
  it("test: names each failed test on a line of its own after every failure's message", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    assert(select(2, shell.run("mkdir " .. q(dir .. "/spec"))))
    local f = assert(io.open(dir .. "/spec/x_spec.lua", "w"))
    f:write([[describe("x", function()
      it("fails, with a long message", function() error(("a line\n\n"):rep(500)) end)
      it("passes", function() end)
    end)]])
    f:close()
    local interpreter = require("spec.support.child").interpreter
    local out, ok = shell.run(("cd %s && sh %s %s %s"):format(q(dir), q(root .. "/scripts/test.sh"), interpreter,
      interpreter))
    assert.is_false(ok, out)
    local tail = out:match("== the tests that failed\n(.*)$")
    assert.are.equal(("[%s] Error -> spec/x_spec.lua @ 2: x fails, with a long message\n"):rep(2):format(
      interpreter, interpreter) .. "all: 2 passed, 2 failed\n", tail, out:sub(-2000))
  end)
end)
