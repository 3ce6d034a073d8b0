-- Run by spec/nvim_spec.lua inside `nvim --headless`: a call in the
-- callback mode whose on_progress yields as async plugins do, to a
-- scheduler of the plugin's that resumes it later from a libuv timer, so
-- that the answer and that resume meet.  Once the stand-in has the call's
-- request, the editor is kept busy until the stand-in has written the
-- answer, and the scheduler's timer is started (due at once) just before
-- the editor is free: the next turn of the loop then runs that timer,
-- which queues the resume, and then finds the answer (libuv runs timers
-- before it polls), which has the pump queue a wake-up behind the resume;
-- the resume runs the call to its end.  (Ordered by what the stand-in
-- saw, not by times: on a busy machine a timer of 50 ms ran before the
-- request was out.)  Writes how many times the callback came, with what,
-- and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = { calls = 0 }
harness.guard(seen)
local br = require "codearts.batchresult"
local c = harness.client(br)

local once_counted, busy_until_counted = harness.once_counted, harness.busy_until_counted

--- The plugin's scheduler: resumes co from a timer.
local function resume_soon(co)
  local t = uv.new_timer()
  t:start(0, 0, function()
    t:close()
    vim.schedule(function() seen.resume = tostring((coroutine.resume(co))) end)
  end)
end

assert(c:query(harness.pairs(), {
  on_progress = function(done)
    if done ~= 0 then return end
    local co = coroutine.running()
    once_counted("requests", 1, function()
      busy_until_counted("ok", 1)
      resume_soon(co)
    end)
    coroutine.yield()
  end,
  callback = function(results, err)
    seen.calls = seen.calls + 1
    seen["cb" .. seen.calls] = results and ("results " .. #results) or (err.code .. ": " .. err.message)
    -- Two turns later: a second callback, from a wake-up queued before
    -- this one, would have come by then.
    if seen.calls == 1 then
      vim.schedule(function() vim.schedule(function() harness.finish(seen) end) end)
    end
  end,
}))
