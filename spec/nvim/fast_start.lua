-- Run by spec/nvim_spec.lua inside `nvim --headless`: calls in the callback
-- mode started inside a libuv timer's callback, where vim.api may not be
-- called, with an on_progress and a logger that call it; and bad input
-- given there.  Writes key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"

local timer = uv.new_timer()
timer:start(0, 0, function()
  timer:close()
  local c = harness.client(br, { logger = function(e)
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { "attempt " .. e.attempt })
  end })
  local progressed = false
  local ok = c:query(harness.pairs(), {
    on_progress = function(done, total)
      progressed = true
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { done .. "/" .. total })
    end,
    callback = function(results, qerr)
      seen.count, seen.error = results and #results or -1, qerr and tostring(qerr) or ""
      c:close()
      harness.finish(seen)
    end,
  })
  seen.returned, seen.progressed_before = tostring(ok), tostring(progressed)
  local bad, bad_err = c:query({ { pipeline_id = "x" } }, { callback = function() seen.bad_called = true end })
  seen.bad, seen.bad_code = tostring(bad), bad_err and bad_err.code
end)
