-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 400 ms.  A call X in the callback mode whose answer
-- libcurl takes in outside the pump, while the editor is busy elsewhere:
--   inner  in another call Y's wait: X starts once the stand-in has Y's
--          first request, so X's answer comes after Y's; Y's on_progress
--          keeps the editor busy until the stand-in has written X's answer
--          (once X's request is out), then Y sends its next batch and waits
--   sync   in a synchronous query on the same client, made once the
--          stand-in has X's request, so X's answer comes while it waits;
--          after it a call Z in the callback mode starts and waits (it
--          starts on the next turn, but once it joined the pump on the
--          same turn)
-- X's callback must come as soon as the editor is free again (the *_ms:
-- how long after), not when Y's or Z's answer happens to wake the pump.
-- Each order is made by what the stand-in saw, not by timers: on a busy
-- machine a timer ran late, and X's answer came first.
-- Writes key=value lines and quits.
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"
local list = harness.pairs()

local stats_now, once_counted, busy_until_counted = harness.stats_now, harness.once_counted, harness.busy_until_counted

local cases
local function run(i)
  local case = cases[i]
  if not case then return harness.finish(seen) end
  local c, left, free_at = harness.client(br), 2, nil
  -- (the stand-in's counts go on from the cases before)
  local before = stats_now()
  local function over(results, err)
    if not results then seen.error = tostring(err) end
    left = left - 1
    if left == 0 then
      c:close()
      vim.schedule(function() run(i + 1) end)
    end
  end
  -- X, which the case makes a busy editor of: it calls free() when the
  -- editor is free again.
  local function x()
    assert(c:query(list, { callback = function(results, err)
      if not free_at then
        seen.error = case.name .. ": X's callback came before the editor was busy and free again"
        return harness.finish(seen)
      end
      seen[case.name .. "_ms"] = harness.now_ms() - free_at
      over(results, err)
    end }))
  end
  case.busy(c, x, function() free_at = harness.now_ms() end, over, before)
end

cases = {
  { name = "inner", busy = function(c, x, free, over, before)
    -- Y: two batches, one after the other; X's answer comes while Y's
    -- on_progress is busy after the first.
    assert(c:query(list, { batch_size = 3, concurrency = 1, callback = over, on_progress = function(done)
      if done ~= 3 then return end
      -- (X's request must be out before the editor stops; on_progress may
      -- yield, and the call goes on at the editor's next turn)
      while stats_now().requests < before.requests + 2 do coroutine.yield() end
      busy_until_counted("ok", before.ok + 2) -- Y's first answer and X's
      free()
    end }))
    once_counted("requests", before.requests + 1, x)
  end },
  { name = "sync", busy = function(c, x, free, over, before)
    x()
    once_counted("requests", before.requests + 1, function()
      local results, err = c:query(list)
      free()
      if not results then seen.error = tostring(err) end
      assert(c:query(list, { callback = over })) -- Z
    end)
  end },
}
run(1)
