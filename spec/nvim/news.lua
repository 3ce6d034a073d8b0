-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 400 ms.  A call X in the callback mode whose answer
-- libcurl takes in outside the pump, while the editor is busy elsewhere:
--   inner  in another call Y's wait: Y's on_progress keeps the editor busy
--          while X's answer comes, then Y sends its next batch and waits
--   sync   in a synchronous query on the same client, after which a call
--          Z in the callback mode starts and waits (it starts on the next
--          turn, but once it joined the pump on the same turn)
-- X's callback must come as soon as the editor is free again (the *_ms:
-- how long after), not when Y's or Z's answer happens to wake the pump.
-- Writes key=value lines and quits.
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"
local list = harness.pairs()
local DELAY = 400

local cases
local function run(i)
  local case = cases[i]
  if not case then return harness.finish(seen) end
  local c, left, free_at = harness.client(br), 2, nil
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
      seen[case.name .. "_ms"] = harness.now_ms() - free_at
      over(results, err)
    end }))
  end
  case.busy(c, x, function() free_at = harness.now_ms() end, over)
end

cases = {
  { name = "inner", busy = function(c, x, free, over)
    -- Y: two batches; X starts halfway through Y's first, so its answer
    -- comes while Y's on_progress is busy for DELAY ms.
    assert(c:query(list, { batch_size = 3, concurrency = 1, callback = over, on_progress = function(done)
      if done ~= 3 then return end
      local till = harness.now_ms() + DELAY
      repeat until harness.now_ms() >= till
      free()
    end }))
    vim.defer_fn(x, DELAY / 2)
  end },
  { name = "sync", busy = function(c, x, free, over)
    x()
    vim.defer_fn(function()
      local results, err = c:query(list)
      free()
      if not results then seen.error = tostring(err) end
      assert(c:query(list, { callback = over })) -- Z
    end, DELAY / 2)
  end },
}
run(1)
