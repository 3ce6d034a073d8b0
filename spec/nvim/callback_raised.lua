-- Run by spec/nvim_spec.lua inside `nvim --headless`: a query whose
-- on_progress raises $NVIM_TEST_SAID once a batch is done (with
-- NVIM_TEST_SAID unset, a call's INTERRUPTED error, as one kept from an
-- earlier call); writes the CALLBACK error the callback got and quits.
local harness = require "spec.nvim.harness"
local seen = {}
harness.guard(seen)

local br = require "codearts.batchresult"
local said = os.getenv("NVIM_TEST_SAID")
  or require("codearts.batchresult.error").new("INTERRUPTED", "interrupted (Ctrl-C) during the call")
assert(harness.client(br):query({ { pipeline_id = ("a"):rep(32), pipeline_run_id = ("b"):rep(32) } }, {
  on_progress = function(done) if done > 0 then error(said, 0) end end,
  callback = function(_, err)
    seen.code, seen.message, seen.shown, seen.raised = err.code, err.message, tostring(err), err.raised == said
    harness.finish(seen)
  end,
}))
