-- Run by spec/nvim_spec.lua inside `nvim --headless`: a call in the
-- callback mode whose on_progress yields as async plugins do (a timer of
-- the plugin's resumes it 100 ms later), while the editor is busy from
-- 50 ms to 350 ms, so that the answer and that resume meet.  Writes how
-- many times the callback came, with what, and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = { calls = 0 }
harness.guard(seen)
local br = require "codearts.batchresult"
local c = harness.client(br)

assert(c:query(harness.pairs(), {
  on_progress = function(done)
    if done ~= 0 then return end
    local co = coroutine.running()
    local t = uv.new_timer()
    t:start(100, 0, function()
      t:close()
      vim.schedule(function() seen.resume = tostring((coroutine.resume(co))) end)
    end)
    coroutine.yield()
  end,
  callback = function(results, err)
    seen.calls = seen.calls + 1
    seen["cb" .. seen.calls] = results and ("results " .. #results) or (err.code .. ": " .. err.message)
  end,
}))

vim.defer_fn(function()
  local t = uv.hrtime()
  while uv.hrtime() - t < 300e6 do end
end, 50)
vim.defer_fn(function() harness.finish(seen) end, 1500)
