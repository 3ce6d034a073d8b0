-- Run by spec/nvim_spec.lua inside `nvim --headless`: one asynchronous
-- query, which the stand-in answers after its delay (or after a retry),
-- and how many times the event loop woke the library meanwhile.  Writes
-- key=value lines and quits.
local harness = require "spec.nvim.harness"

harness.guard()
local wakeups = harness.count_wakeups()
local br = require "codearts.batchresult"
local client = harness.client(br, { timeout = tonumber(os.getenv("NVIM_TEST_TIMEOUT")) })

local started = harness.now_ms()
local ok, err = client:query(harness.pairs(), {
  callback = function(results, qerr)
    harness.finish {
      wakeups = wakeups(), elapsed_ms = harness.now_ms() - started,
      error = qerr and tostring(qerr) or "", count = results and #results or -1,
    }
  end,
})
if not ok then harness.finish { error = "query refused: " .. tostring(err) } end
