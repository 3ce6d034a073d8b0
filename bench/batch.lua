--- Targets 4 and 5: a large batched call.  10,000 pairs, batch size 100,
-- concurrency 8, against the local stand-in answering each request after
-- 50 ms.  The ideal is ceil(100 batches / 8) * 50 ms = 650 ms; the target
-- is at most 1.25x that.  Then memory: the run repeated RUNS times in one
-- process, whose resident size must not grow by 1 MB or more.
local common = require "common"
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local PAIRS, BATCH, CONCURRENCY, DELAY_MS = 10000, 100, 8, 50
local RUNS = tonumber(arg[1]) or 100
local IDEAL = math.ceil(PAIRS / BATCH / CONCURRENCY) * DELAY_MS / 1000

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+) kB"))
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

  -- Warm-up runs open the connections, fill the stand-in's answers and let
  -- the heap reach its working size (two result sets can be alive at once:
  -- the last run's, not yet collected, and the new one).  Growth is
  -- measured from there.
  for _ = 1, 3 do
    local warm = assert(client:query(list, opts))
    assert(#warm == PAIRS and #warm.missing == 0, "incomplete answer")
  end
  collectgarbage("collect")
  local rss_start = status_kb("VmRSS")

  local times = {}
  for r = 1, RUNS do
    local t = common.now()
    local results = client:query(list, opts)
    times[r] = common.now() - t
    assert(results and #results == PAIRS, "run " .. r .. " failed")
  end
  collectgarbage("collect")
  local rss_end, peak = status_kb("VmRSS"), status_kb("VmHWM")
  local in_flight = server:stats().max_in_flight
  client:close()

  table.sort(times)
  local median = times[math.ceil(#times / 2)]
  print(("4. A batched call: %d pairs, batch size %d, concurrency %d, stand-in answering after %d ms")
    :format(PAIRS, BATCH, CONCURRENCY, DELAY_MS))
  print(("   ideal: ceil(%d/%d) x %d ms                    %7.0f ms   1.00x")
    :format(PAIRS / BATCH, CONCURRENCY, DELAY_MS, IDEAL * 1000))
  print(("   ours, median of %3d runs                      %7.0f ms   %.2fx ideal   target <= 1.25x")
    :format(RUNS, median * 1000, median / IDEAL))
  print(("   ours, fastest and slowest run                 %7.0f ms, %.0f ms  (%.2fx, %.2fx)")
    :format(times[1] * 1000, times[#times] * 1000, times[1] / IDEAL, times[#times] / IDEAL))
  print(("   requests in flight at once, as the stand-in saw them: %d"):format(in_flight))
  common.verdict(4, "batching", median / IDEAL <= 1.25,
    ("median %.0f ms = %.2fx the ideal %.0f ms, target <= 1.25x"):format(median * 1000, median / IDEAL, IDEAL * 1000))
  print()
  print(("5. Memory of the same call, %d runs in one process (%s)"):format(RUNS, common.LUA_NAME))
  print(("   peak RSS of the process                      %7.1f MB"):format(peak / 1024))
  print(("   RSS before the runs, after them               %7.1f MB, %.1f MB   growth %+.2f MB   target < 1 MB")
    :format(rss_start / 1024, rss_end / 1024, (rss_end - rss_start) / 1024))
  common.verdict(5, "memory", rss_end - rss_start < 1024,
    ("RSS grew %.2f MB over %d runs, target < 1 MB"):format((rss_end - rss_start) / 1024, RUNS))
end)
server:stop()
if not ok then error(err, 0) end
