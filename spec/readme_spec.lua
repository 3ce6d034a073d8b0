-- README.md's code is the code in examples/, which the specs run.  Every
-- fenced block other than ```text is marked, on the line before it, with
-- the file it shows:
--
--   <!-- example: examples/use.lua -->            the whole file
--   <!-- example: examples/batches.lua#query -->  the lines between
--                                                 "readme:begin query" and
--                                                 "readme:end query" in it
--
-- and equals it byte for byte; every file in examples/ is shown or named
-- in the README.  A ```text block marked <!-- output of: make demo --> is
-- what that command prints ("..." standing for lines left out).
local files = require "spec.support.files"
local once = require "spec.support.once"
local shell = require "spec.support.shell"

local README = "README.md"

-- { { line =, lang =, marker =, output =, body = } ... }: the README's
-- fenced blocks, with what the line above each marks it as.
local function fenced_blocks(text)
  local blocks, current, previous = {}, nil, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if current then
      if line == "```" then
        blocks[#blocks + 1] = current
        current = nil
      else
        current.body[#current.body + 1] = line .. "\n"
      end
    else
      local lang = line:match("^```(%S*)%s*$")
      if lang then
        current = { line = n, lang = lang, body = {},
                    marker = previous and previous:match("^<!%-%- example: (%S+) %-%->$"),
                    output = previous and previous:match("^<!%-%- output of: (.-) %-%->$") }
      end
    end
    previous = line
  end
  assert(not current, "README.md: the block opened on line " .. (current and current.line or 0) .. " never closes")
  for _, b in ipairs(blocks) do b.body = table.concat(b.body) end
  return blocks
end

-- The text a marker names: a whole file, or one of its readme:begin/end parts.
local function shown_text(marker)
  local path, part = marker:match("^([^#]+)#(.+)$")
  path = path or marker
  local text = files.read(path)
  if not text then return nil, path .. " does not exist" end
  if not part then return text end
  local lines, inside, found = {}, false, false
  for line in text:gmatch("([^\n]*)\n") do
    if line:match("readme:end " .. part .. "$") then
      inside = false
    elseif inside then
      lines[#lines + 1] = line .. "\n"
    elseif line:match("readme:begin " .. part .. "$") then
      assert(not found, path .. ": part " .. part .. " begins twice")
      inside, found = true, true
    end
  end
  if not found then return nil, path .. " has no part " .. part end
  return table.concat(lines)
end

describe("README.md", function()
  local readme = assert(files.read(README))
  local blocks = fenced_blocks(readme)

  it("has code blocks, each marked with the example it shows", function()
    assert.is_true(#blocks >= 10)
    for _, b in ipairs(blocks) do
      if b.lang ~= "text" then
        assert(b.marker, ("README.md:%d: a ```%s block without an <!-- example: … --> line above it")
          :format(b.line, b.lang))
        assert(b.marker:match("^examples/"), ("README.md:%d: %s is not under examples/"):format(b.line, b.marker))
      end
    end
  end)

  for _, b in ipairs(blocks) do
    if b.marker then
      it(("line %d shows %s exactly"):format(b.line, b.marker), function()
        local text, why = shown_text(b.marker)
        assert(text, why)
        assert.are.equal(text, b.body)
      end)
    end
  end

  it("shows or names every file in examples/", function()
    local out, ok = shell.run("find examples -type f | sort")
    assert.is_true(ok, out)
    local listed = 0
    for path in out:gmatch("[^\n]+") do
      listed = listed + 1
      assert(readme:find(path, 1, true), "README.md never mentions " .. path)
    end
    assert.is_true(listed >= 10)
  end)

  it("gives user_agent's default as the library sends it", function()
    local config = require "codearts.batchresult.config"
    local row = readme:match("\n| `user_agent` | `([^`]*)` |")
    assert.are.equal(config.DEFAULT_USER_AGENT, row)
  end)

  once.describe("make demo", function()
    it("shows what make demo prints", function()
      local shown
      for _, b in ipairs(blocks) do
        if b.lang == "text" and b.output == "make demo" then shown = b.body end
      end
      assert(shown, "README.md shows no output of make demo")
      -- (whatever Lua's own path variables say: Lua 5.3 and 5.4 read them first)
      local out, ok = shell.run("LUA_PATH_5_4='/nonexistent/?.lua' LUA_CPATH_5_4='/nonexistent/?.so'"
        .. " LUA_PATH_5_3='/nonexistent/?.lua' LUA_CPATH_5_3='/nonexistent/?.so' make demo")
      assert.is_true(ok, out)
      for line in shown:gmatch("[^\n]+") do
        if line ~= "..." then
          assert(out:find(line .. "\n", 1, true), "make demo did not print: " .. line .. "\n" .. out)
        end
      end
    end)
  end)
end)
