--- Targets 4 and 5: a large batched call, RUNS times in one process.
-- 10,000 pairs, batch size 100, concurrency 8, against the local stand-in
-- answering each request after 50 ms.
--   4. Its median wall time: the ideal is ceil(100 batches / 8) * 50 ms =
--      650 ms; the target at most 1.10x that.
--   5. Its memory, from call RUNS/3 to call RUNS (100 to 300 by default):
--      the Lua heap must grow by less than 64 KB and the resident size
--      (VmRSS) by at most 1 MB.  Read from call 100 on, not from the
--      start: the allocator keeps what the first calls took, which a delta
--      from the start would read as growth.  The verdict reads a pass of
--      RUNS calls made first, each after a full collection (untimed): the
--      resident size keeps the highest peak the Lua heap reaches in a
--      call, and that peak moves with where the collector's cycle falls in
--      the call (9.5 to 18.2 MB over the 300 calls of one run, the
--      resident size stepping up 2.4 MB with it while the heap after each
--      call stayed the same to the kilobyte), which is not growth.  The
--      timed pass's own readings are printed beside it, for context.
local common = require "common"
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local PAIRS, BATCH, CONCURRENCY, DELAY_MS = 10000, 100, 8, 50
local RUNS = tonumber(arg[1]) or 300
assert(RUNS >= 3, "batch.lua: at least 3 runs")
local FROM = math.floor(RUNS / 3)
local IDEAL = math.ceil(PAIRS / BATCH / CONCURRENCY) * DELAY_MS / 1000
local HEAP_KB, RSS_KB = 64, 1024
local unpack = table.unpack or unpack

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return assert(tonumber(s:match(field .. ":%s*(%d+) kB")), field .. " not in /proc/self/status")
end

local server = standin.start()
local ok, err = pcall(function()
  server:config { delay_ms = DELAY_MS, max_items = BATCH }
  local creds = model.credentials.permanent
  local client = assert(br.new { endpoint = server.url, project_id = model.seed_project,
                                 ak = creds.ak, sk = creds.sk })
  local list = {}
  for i = 1, PAIRS do
    list[i] = { pipeline_id = ("a%031x"):format(i), pipeline_run_id = ("b%031x"):format(i) }
  end
  local opts = { batch_size = BATCH, concurrency = CONCURRENCY }
  local function call()
    local results, cerr = client:query(list, opts)
    if not results then error("the batched call failed: " .. tostring(cerr), 0) end
    assert(#results == PAIRS and #results.missing == 0, "incomplete answer")
  end

  -- Warm-up calls open the connections and fill the stand-in's answers.
  for _ = 1, 3 do call() end
  -- Memory readings after full collections, outside the timed calls,
  -- after the calls in at.  The bench's own tables are full-sized before
  -- the first reading, so that their growth is not counted.
  local at = { 1, FROM, math.floor((FROM + RUNS) / 2), RUNS }
  --- RUNS calls (settled: each after a full collection): their times, and
  -- the heap and VmRSS after the calls in at.
  local function pass(settled)
    local times, heap, rss, k = {}, { 0, 0, 0, 0 }, { 0, 0, 0, 0 }, 1
    for r = 1, RUNS do times[r] = 0 end
    for r = 1, RUNS do
      if settled then collectgarbage("collect") end
      local t = common.now()
      call()
      times[r] = common.now() - t
      while at[k] == r do -- twice when FROM is 1
        -- (two: objects with finalizers go in the second)
        collectgarbage("collect")
        collectgarbage("collect")
        heap[k], rss[k] = collectgarbage("count"), status_kb("VmRSS")
        k = k + 1
      end
    end
    return times, heap, rss
  end
  -- The settled pass first: a higher peak the other pass reached would
  -- leave the allocator room that growth could fill unseen.
  local _, heap, rss = pass(true)
  local settled_hwm = status_kb("VmHWM")
  local times, free_heap, free_rss = pass(false)
  local in_flight = server:stats().max_in_flight
  client:close()

  local median = common.median(times)
  table.sort(times)
  print(("4. A batched call: %d pairs, batch size %d, concurrency %d, stand-in answering after %d ms (%s)")
    :format(PAIRS, BATCH, CONCURRENCY, DELAY_MS, common.LUA_NAME))
  print(("   ideal: ceil(%d/%d) x %d ms                    %7.0f ms   1.000x")
    :format(PAIRS / BATCH, CONCURRENCY, DELAY_MS, IDEAL * 1000))
  print(("   ours, median of %3d calls                     %7.0f ms   %.3fx ideal   target <= 1.10x")
    :format(RUNS, median * 1000, median / IDEAL))
  print(("   ours, fastest and slowest call                %7.0f ms, %.0f ms  (%.3fx, %.3fx)")
    :format(times[1] * 1000, times[#times] * 1000, times[1] / IDEAL, times[#times] / IDEAL))
  print(("   requests in flight at once, as the stand-in saw them: %d"):format(in_flight))
  common.verdict(4, "batching", common.judged(median / IDEAL) <= 1.10,
    ("median %.1f ms = %.3fx the ideal %.0f ms, %d calls, target <= 1.10x")
      :format(median * 1000, median / IDEAL, IDEAL * 1000, RUNS))

  local function mb(t)
    local out = {}
    for i, v in ipairs(t) do out[i] = v / 1024 end
    return unpack(out)
  end
  local heap_growth, rss_growth = heap[4] - heap[2], rss[4] - rss[2]
  print()
  print(("5. Memory of %d other calls like those, made before them (%s), each after a full collection (untimed)")
    :format(RUNS, common.LUA_NAME))
  print("   after call              " .. ("%10d"):rep(#at):format(unpack(at)))
  print("   Lua heap (KB)           " .. ("%10.0f"):rep(#at):format(unpack(heap)))
  print("   VmRSS (MB)              " .. ("%10.2f"):rep(#at):format(mb(rss)))
  print(("   from call %d to %d: Lua heap %+.1f KB (target < %d KB), VmRSS %+.2f MB (target <= 1 MB);"
    .. " peak RSS %.1f MB"):format(FROM, RUNS, heap_growth, HEAP_KB, rss_growth / 1024, settled_hwm / 1024))
  print("   for context, the timed calls, one after another, after these:")
  print("   Lua heap (KB)           " .. ("%10.0f"):rep(#at):format(unpack(free_heap)))
  print("   VmRSS (MB)              " .. ("%10.2f"):rep(#at):format(mb(free_rss)))
  print(("   from call %d to %d: Lua heap %+.1f KB, VmRSS %+.2f MB (the collector's phase in each call)")
    :format(FROM, RUNS, free_heap[4] - free_heap[2], (free_rss[4] - free_rss[2]) / 1024))
  common.verdict(5, "memory, Lua heap", heap_growth < HEAP_KB,
    ("%.0f KB after call %d, %.0f KB after call %d: %+.1f KB, target < %d KB")
      :format(heap[2], FROM, heap[4], RUNS, heap_growth, HEAP_KB))
  common.verdict(5, "memory, RSS", rss_growth <= RSS_KB,
    ("%.2f MB after call %d, %.2f MB after call %d: %+.2f MB, target <= 1 MB")
      :format(rss[2] / 1024, FROM, rss[4] / 1024, RUNS, rss_growth / 1024))
end)
server:stop()
if not ok then error(err, 0) end
