-- Run by spec/nvim_spec.lua inside `nvim --headless`: starts an asynchronous
-- query while a 50 ms timer counts ticks, then writes what it saw as
-- key=value lines and quits.  Settings come from the environment.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local finish = harness.finish

harness.guard()

local ok, br = pcall(require, "codearts.batchresult")
if not ok then return finish { error = "require failed: " .. tostring(br) } end

local client = harness.client(br)
local pairs_list = harness.pairs()

local ticks = 0
local ticker = uv.new_timer()
ticker:start(50, 50, function() ticks = ticks + 1 end)

local started = harness.now_ms()
local returned = client:query(pairs_list, {
  callback = function(results, err)
    ticker:stop()
    local t = {
      elapsed_ms = harness.now_ms() - started, ticks = ticks,
      in_main_loop = pcall(vim.api.nvim_get_current_buf),
      error = err and tostring(err) or "",
      count = results and #results or -1,
    }
    for i, r in ipairs(results or {}) do
      t["r" .. i] = table.concat({ r.pipeline_id, r.pipeline_run_id, r.status, r.reason or "-" }, "|")
    end
    -- Without a callback, a call in Neovim is synchronous, as in plain Lua.
    local sync = client:query({ pairs_list[1] })
    t.sync_count = sync and #sync or -1
    finish(t)
  end,
})
-- The call returned at once, before the answer (which takes a second).
if returned ~= true then finish { error = "query returned " .. tostring(returned) } end
local blocked_ms = harness.now_ms() - started
if blocked_ms > 200 then finish { error = "query blocked for " .. blocked_ms .. " ms" } end
