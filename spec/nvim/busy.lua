-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 600 ms: a call in the callback mode with a timeout of
-- 1 s, while the editor's own code keeps it busy from 400 ms after the
-- call started to 2.4 s.
-- The answer came within the timeout, so it counts, although the pump's
-- timer for the timeout fires (libuv runs timers before it polls) before
-- the socket's event.  Writes key=value lines and quits.
local harness = require "spec.nvim.harness"
local uv = vim.uv or vim.loop
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"
local c = harness.client(br, { timeout = 1, max_retries = 0 })
local function busy()
  local start = uv.hrtime()
  while uv.hrtime() - start < 2e9 do end
end
assert(c:query(harness.pairs(), {
  -- (the call starts on the editor's next turn: from there, 400 ms)
  on_progress = function(done) if done == 0 then vim.defer_fn(busy, 400) end end,
  callback = function(results, err)
    seen.results = results and #results or 0
    seen.code = err and err.code or "none"
    c:close()
    harness.finish(seen)
  end,
}))
