--- Target 4: a large batched call (bench/batched.lua) against the stand-in
-- answering each request after 50 ms.  The ideal is ceil(100 batches / 8)
-- * 50 ms = 650 ms; the target is at most 1.10x that, for the median of
-- RUNS calls.
local common = require "common"
local batched = require "batched"

local DELAY_MS = 50
local RUNS = tonumber(arg[1]) or 21
local IDEAL = math.ceil(batched.PAIRS / batched.BATCH / batched.CONCURRENCY) * DELAY_MS / 1000

batched.run(DELAY_MS, function(call, server)
  -- Warm-up calls open the connections and fill the stand-in's answers.
  for _ = 1, 3 do call() end
  local times = {}
  for r = 1, RUNS do
    local t = common.now()
    call()
    times[r] = common.now() - t
  end
  local in_flight = server:stats().max_in_flight

  local median = common.median(times)
  table.sort(times)
  print(("4. A batched call: %d pairs, batch size %d, concurrency %d, stand-in answering after %d ms (%s)")
    :format(batched.PAIRS, batched.BATCH, batched.CONCURRENCY, DELAY_MS, common.LUA_NAME))
  print(("   ideal: ceil(%d/%d) x %d ms                    %7.0f ms   1.00x")
    :format(batched.PAIRS / batched.BATCH, batched.CONCURRENCY, DELAY_MS, IDEAL * 1000))
  print(("   ours, median of %3d calls                     %7.0f ms   %.2fx ideal   target <= 1.10x")
    :format(RUNS, median * 1000, median / IDEAL))
  print(("   ours, fastest and slowest call                %7.0f ms, %.0f ms  (%.2fx, %.2fx)")
    :format(times[1] * 1000, times[#times] * 1000, times[1] / IDEAL, times[#times] / IDEAL))
  print(("   requests in flight at once, as the stand-in saw them: %d"):format(in_flight))
  common.verdict(4, "batching", median / IDEAL <= 1.10,
    ("median %.0f ms = %.2fx the ideal %.0f ms, %d calls, target <= 1.10x")
      :format(median * 1000, median / IDEAL, IDEAL * 1000, RUNS))
end)
