-- The command-line tool's reader of PIPELINE_ID RUN_ID lines, where it
-- reads in C (core.usual_pair): the usual line, read as Lua's pattern
-- reads it in the C locale, the one every Lua here runs in.
local core = require "codearts.batchresult.core"
local input = require "codearts.batchresult.cli.input"

local USUAL_PAIR = "^(%w+)[ \t,:](%w+)\r?\n()"

describe("the command-line tool's reader of pairs", function()
  local seed
  before_each(function()
    seed = os.time()
    math.randomseed(seed)
  end)

  local function same(text, at, why)
    local want = { text:match(USUAL_PAIR, at) }
    local got = { core.usual_pair(text, at) }
    assert.are.same(want, got, why)
  end

  it("reads the usual line as the pattern does, whichever byte stands wherever in it", function()
    local line = "ab1 Z9\r\n"
    for b = 0, 255 do
      local c = string.char(b)
      for at = 1, #line do
        local text = line:sub(1, at - 1) .. c .. line:sub(at + 1)
        for start = 1, #text + 1 do
          same(text, start, ("byte %d for byte %d, read from %d"):format(b, at, start))
        end
        same(line:sub(1, at - 1) .. c, 1, ("byte %d ending the text at %d"):format(b, at))
      end
    end
  end)

  it("reads random lines as the pattern does", function()
    local alphabet = { " ", "\t", ",", ":", "\r", "\n", "\0", "#", "-", "_", "\128", "\255", "\194\160", "a", "Z", "0" }
    for _ = 1, 3000 do
      local parts = {}
      for i = 1, math.random(0, 14) do
        parts[i] = math.random(0, 2) == 0 and alphabet[math.random(#alphabet)] or ("x9"):rep(math.random(0, 3))
      end
      local text = table.concat(parts)
      for start = 1, #text + 1 do
        same(text, start, ("seed %d: %q from %d"):format(seed, text, start))
      end
    end
  end)

  it("refuses a position outside the text, as a misuse", function()
    assert.has_error(function() core.usual_pair("a b\n", 0) end)
    assert.has_error(function() core.usual_pair("a b\n", 6) end)
    assert.are.same({}, { core.usual_pair("a b\n", 5) })
  end)

  it("gives the same items whichever way each line is read", function()
    local items = input.items("pairs", function(s) return s end)
    local text = "p1 r1\np2,r2\r\n  p3:r3 # a comment\n\n# only a comment\np4\tr4"
    assert.is_true(input.from_text(items, text, "input"))
    local got = {}
    for i = 1, items.n do
      local pair = items.list[i]
      got[i] = pair.pipeline_id .. "=" .. pair.pipeline_run_id .. "@" .. items:where(i)
    end
    assert.are.same({ "p1=r1@input line 1", "p2=r2@input line 2", "p3=r3@input line 3", "p4=r4@input line 6" }, got)
  end)
end)
