--- Shared helpers for the Lua benchmarks: a monotonic clock, test data,
-- timed runs, medians and verdict lines.  Loaded by bench/*.lua with
-- package.path set by bench/run.sh.
local M = {}

-- A monotonic clock (os.clock is CPU time, os.time whole seconds), from
-- the helper bench/run.sh builds (bench/clock.c).
M.now = require("benchclock").now
local now = M.now

--- 32 lower-case hex characters, deterministic in seed.
function M.hex_id(seed)
  -- An LCG in plain arithmetic (no bit operators: Lua 5.1 and LuaJIT too);
  -- every product stays below 2^53, so floats and integers agree.
  local x = (seed * 7919 + 12345) % 4294967296
  local out = {}
  for i = 1, 32 do
    x = (x * 69069 + 1) % 4294967296
    out[i] = ("%x"):format(math.floor(x / 268435456) % 16)
  end
  return table.concat(out)
end

--- "Lua 5.4", or "LuaJIT 2.1.…" under LuaJIT; LUA_SHORT: "Lua 5.4" or
-- "LuaJIT", for verdict names.
M.LUA_NAME = rawget(_G, "jit") and jit.version or _VERSION
M.LUA_SHORT = rawget(_G, "jit") and "LuaJIT" or _VERSION

M.PROJECT_ID = "0123456789abcdef0123456789abcdef"
M.AK = "AKBENCHACCESSKEY0123"
M.SK = "SKbenchSecretKey0123456789abcdefghijklmn"

--- n { pipeline_id, pipeline_run_id } pairs.
function M.pairs(n)
  local list = {}
  for i = 1, n do
    list[i] = { pipeline_id = M.hex_id(2 * i - 1), pipeline_run_id = M.hex_id(2 * i) }
  end
  return list
end

--- A ShowBatchRunResult answer for n results: every third one failed to
-- start (with a reason), the others started (reason null).
function M.result_body(n)
  local items = {}
  for i = 1, n do
    local failed = i % 3 == 0
    items[i] = ('{"pipeline_id":"%s","pipeline_name":"Pipeline %d","pipeline_run_id":"%s",'
      .. '"status":"%s","reason":%s}'):format(
      M.hex_id(2 * i - 1), i, M.hex_id(2 * i),
      failed and "START_FAILED" or "START_SUCCESS",
      failed and '"The pipeline is already running: a new run cannot start until the current run '
        .. 'of this pipeline completes or is cancelled. Retry later."' or "null")
  end
  return '{"result":[' .. table.concat(items, ",") .. "]}"
end

--- Iterations of fn that last about `seconds`, after a warm-up.
function M.calibrate(fn, seconds)
  local n = 100
  while true do
    local t = now()
    for _ = 1, n do fn() end
    t = now() - t
    if t >= 0.05 then return math.floor(n * seconds * 1.05 / t) + 1 end
    n = n * 4
  end
end

--- Seconds per call of one run of n calls (a full GC first, so that
-- one run does not pay for the garbage of the one before).
function M.run(fn, n)
  collectgarbage("collect")
  local t = now()
  for _ = 1, n do fn() end
  return (now() - t) / n
end

--- The median of the numbers in t (t is left as it was).
function M.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

--- "key value" lines of a file into a table (numbers where they parse).
function M.read_kv(path)
  local t = {}
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    local k, v = line:match("^(%S+)%s+(.-)%s*$")
    if k then t[k] = tonumber(v) or v end
  end
  f:close()
  return t
end

--- A verdict line: the figure's number and name, PASS or MISS, and the
-- measured value beside its comparison and the target (detail).
function M.verdict(n, name, ok, detail)
  print(("VERDICT %d %-26s %s  (%s)"):format(n, name, ok and "PASS" or "MISS ***", detail))
end

--- A ratio as the rows and verdicts print it: three decimals, so that one
-- just past its target (2.004 against <= 2.00x) does not print as the
-- target itself beside a MISS.
function M.x(ratio)
  return ("%.3fx"):format(ratio)
end

--- The ratio a verdict judges: the one it prints (M.x), so that the two
-- never disagree (2.0004 printed 2.000x beside a MISS).
function M.judged(ratio)
  return tonumber(("%.3f"):format(ratio))
end

--- A verdict's detail for a ratio that is the median of per-round ratios
-- (what: "ours / theirs"; rounds: "5 runs", "9 rounds"), with each side's
-- median (a, b: name and figure) for scale.  Not "A = r x B": the two
-- medians may come from different rounds, so A / B need not be r.
function M.ratio_detail(what, ratio, rounds, a, b, target)
  return ("%s %s, the median of %s' ratios (medians: %s, %s), target %s")
    :format(what, M.x(ratio), rounds, a, b, target)
end

return M
