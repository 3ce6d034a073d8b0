-- Run by spec/nvim_spec.lua inside `nvim --headless`, as on a Neovim built
-- on PUC Lua 5.1 (as Debian builds it where LuaJIT is missing): guard.lua
-- loaded as it loads there, where a call runs in coroutines of guard's,
-- made inside the callback call's own.  A query and a run_and_query with
-- a callback, one after the other, while a 50 ms timer counts ticks
-- (a call that waits synchronously freezes the editor: no tick).  Writes
-- key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
-- (PUC Lua 5.1 has no jit: guard.lua picks its coroutine-wrapped pcall)
local luajit = jit
jit = nil -- luacheck: ignore
local guard = require "codearts.batchresult.guard"
jit = luajit -- luacheck: ignore
seen.guard_coroutines = tostring(guard.pcall ~= pcall)

local br = require "codearts.batchresult"
local client = harness.client(br)
local list = harness.pairs()

local ticks = 0
local ticker = uv.new_timer()
ticker:start(50, 50, function() ticks = ticks + 1 end)

local function measured(name, method, arg, next)
  local ticks_before, started = ticks, harness.now_ms()
  assert(client[method](client, arg, { callback = function(_, err)
    seen[name .. "_code"] = err and err.code or "none"
    seen[name .. "_ms"] = math.floor(harness.now_ms() - started)
    seen[name .. "_ticks"] = ticks - ticks_before
    next()
  end }))
end

measured("query", "query", list, function()
  measured("raq", "run_and_query", { list[1].pipeline_id }, function()
    ticker:close()
    harness.finish(seen)
  end)
end)
