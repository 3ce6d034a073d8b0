--- Target 5: memory over many batched calls (bench/batched.lua) in one
-- process.  From call CALLS/3 to call CALLS (100 to 300 by default), the
-- Lua heap must grow by less than 64 KB and the resident size (VmRSS) by
-- at most 1 MB.  Readings from call 100 on, not from the start: the
-- allocator keeps what the first calls took (two result sets can be alive
-- at once), which a delta from the start would read as growth.  The
-- stand-in answers at once: the delay of target 4 would only space the
-- same requests out, and 300 calls would take 4 minutes.
local common = require "common"
local batched = require "batched"

local CALLS = tonumber(arg[1]) or 300
assert(CALLS >= 3, "memory.lua: at least 3 calls")
local FROM = math.floor(CALLS / 3)
local HEAP_KB, RSS_KB = 64, 1024

local function rss_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return assert(tonumber(s:match(field .. ":%s*(%d+) kB")), field .. " not in /proc/self/status")
end

batched.run(0, function(call)
  -- Readings after full collections (two: objects with finalizers go in
  -- the second), at the first call, at FROM, halfway to CALLS and at CALLS.
  local marks = { [1] = true, [FROM] = true, [math.floor((FROM + CALLS) / 2)] = true, [CALLS] = true }
  local at, heap, rss = {}, {}, {}
  local t = common.now()
  for i = 1, CALLS do
    call()
    if marks[i] then
      collectgarbage("collect")
      collectgarbage("collect")
      at[#at + 1], heap[i], rss[i] = i, collectgarbage("count"), rss_kb("VmRSS")
    end
  end
  t = common.now() - t

  local heap_growth, rss_growth = heap[CALLS] - heap[FROM], rss[CALLS] - rss[FROM]
  print(("5. Memory over %d batched calls in one process (%d pairs, batch size %d, concurrency %d, %s;"
    .. " %.1f s)"):format(CALLS, batched.PAIRS, batched.BATCH, batched.CONCURRENCY, common.LUA_NAME, t))
  print("   after call              " .. ("%10d"):rep(#at):format((table.unpack or unpack)(at)))
  local heaps, rsss = {}, {}
  for k, i in ipairs(at) do heaps[k], rsss[k] = heap[i], rss[i] / 1024 end
  print("   Lua heap (KB)           " .. ("%10.0f"):rep(#at):format((table.unpack or unpack)(heaps)))
  print("   VmRSS (MB)              " .. ("%10.2f"):rep(#at):format((table.unpack or unpack)(rsss)))
  print(("   from call %d to %d: Lua heap %+.1f KB (target < %d KB), VmRSS %+.2f MB (target <= 1 MB);"
    .. " peak RSS %.1f MB"):format(FROM, CALLS, heap_growth, HEAP_KB, rss_growth / 1024, rss_kb("VmHWM") / 1024))
  common.verdict(5, "memory, Lua heap", heap_growth < HEAP_KB,
    ("%.0f KB after call %d, %.0f KB after call %d: %+.1f KB, target < %d KB")
      :format(heap[FROM], FROM, heap[CALLS], CALLS, heap_growth, HEAP_KB))
  common.verdict(5, "memory, RSS", rss_growth <= RSS_KB,
    ("%.2f MB after call %d, %.2f MB after call %d: %+.2f MB, target <= 1 MB")
      :format(rss[FROM] / 1024, FROM, rss[CALLS] / 1024, CALLS, rss_growth / 1024))
end)
