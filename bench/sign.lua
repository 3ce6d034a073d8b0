--- Target 1: signing.  Reads the C figures (raw OpenSSL, cab_sign) from
-- the file named by arg[1], times br.sign{...} (the key given each call,
-- as a sans-I/O user calls it) and client:prepare here, and prints them
-- side by side with the verdicts.
--
-- The Lua figures are set against the same raw OpenSSL work timed in this
-- process (benchclock.raw_sign: 2x SHA-256 and one HMAC, algorithms
-- fetched and the HMAC keyed once), interleaved with them in slices,
-- because this machine's speed drifts; the medians of RUNS runs count.
-- For context, br.sign is also set against the same work with the HMAC
-- keyed each call, as br.sign, given the key each call, must key it.
local common = require "common"
local clock = require "benchclock"
local br = require "codearts.batchresult"

local c = common.read_kv(assert(arg[1], "usage: sign.lua <sign_bench output>"))
local SECONDS, RUNS, SLICES = 0.5, 5, 10
local now, median = common.now, common.median

-- The request a client signs for 6 pairs, taken from client:prepare.
local list = common.pairs(6)
local client = assert(br.new {
  endpoint = "https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com",
  project_id = common.PROJECT_ID, ak = common.AK, sk = common.SK,
})
local req = assert(client:prepare(list))
local headers = {}
for name, value in pairs(req.headers) do
  if name ~= "Authorization" then headers[name] = value end
end
local path = assert(req.url:match("^https://[^/]+(/.*)$"))
local sign_args = { method = "POST", path = path, headers = headers, body = req.body, ak = common.AK, sk = common.SK }
-- br.sign on the same request signs the same: the cross-check that both
-- sides below do the same work.
local auth, details = assert(br.sign(sign_args))
assert(auth == req.headers.Authorization, "br.sign and client:prepare signed differently")
local body, canonical, sts = req.body, details.canonical_request, details.string_to_sign

local function raw_sign(n) return (clock.raw_sign(n, common.SK, body, canonical, sts)) end
local function raw_sign_rekeyed(n) return (clock.raw_sign(n, common.SK, body, canonical, sts, true)) end
assert(select(2, clock.raw_sign(1, common.SK, body, canonical, sts))
  == select(2, clock.raw_sign(1, common.SK, body, canonical, sts, true)), "keying the HMAC each time changed it")

--- fn against the raw work (raw_sign, or raw when given), interleaved in
-- slices, RUNS runs of >= SECONDS a side: the median run's seconds per
-- call of each, and the median of the per-run ratios fn/raw.
local function against_raw(fn, raw)
  raw = raw or raw_sign
  local n = common.calibrate(fn, SECONDS)
  local nr = 1000
  raw(nr) -- warm-up
  while true do
    local t = raw(nr)
    if t >= 0.05 then nr = math.floor(nr * SECONDS * 1.05 / t) + 1 break end
    nr = nr * 4
  end
  local per, per_raw = math.floor(n / SLICES) + 1, math.floor(nr / SLICES) + 1
  local ours, raws, ratios = {}, {}, {}
  for r = 1, RUNS do
    collectgarbage("collect")
    local sum, sum_raw = 0, 0
    for _ = 1, SLICES do
      sum_raw = sum_raw + raw(per_raw)
      local t = now()
      for _ = 1, per do fn() end
      sum = sum + (now() - t)
    end
    raws[r], ours[r] = sum_raw / (per_raw * SLICES), sum / (per * SLICES)
    ratios[r] = ours[r] / raws[r]
  end
  return median(ours), median(raws), median(ratios)
end

local sign = br.sign
local lua_s, lua_raw, lua_ratio = against_raw(function() sign(sign_args) end)
local rekeyed_s, rekeyed_raw, rekeyed_ratio = against_raw(function() sign(sign_args) end, raw_sign_rekeyed)
local prep_s, prep_raw, prep_ratio = against_raw(function() client:prepare(list) end)
client:close()

local function row(label, us, tail)
  print(("   %-52s %8.3f us/op   %s"):format(label, us, tail))
end
print(("1. Signing a 6-pair ShowBatchRunResult request (body %d B, canonical request %d B, "
  .. "string to sign %d B)"):format(#body, #canonical, #sts))
if #body ~= c.body_len or #canonical ~= c.canonical_len then
  print(("   note: the C bench signs a %d B body, %d B canonical request"):format(c.body_len, c.canonical_len))
end
print(("   in C (bench/sign_bench.c), interleaved, median of %d runs:"):format(c.runs))
row("(a) raw OpenSSL: 2x SHA-256 + 1 HMAC, prefetched", c.raw_us, "1.00x")
row("(b) cab_sign(): the client's signing path", c.sign_us,
  ("%.2fx (a)   target <= 1.50x"):format(c.median_ratio))
print(("   in %s, each interleaved with (a) timed in this process, median of %d runs:")
  :format(common.LUA_NAME, RUNS))
row("(a) raw OpenSSL, as above", lua_raw * 1e6, "1.00x")
row("(c) br.sign{...}, the key given each call", lua_s * 1e6,
  ("%.2fx (a)   target <= 2.00x"):format(lua_ratio))
row("(a') raw OpenSSL, the HMAC keyed each call", rekeyed_raw * 1e6, "1.00x")
row("(c) br.sign{...}, as above", rekeyed_s * 1e6, ("%.2fx (a')   for context"):format(rekeyed_ratio))
row("(a) raw OpenSSL, as above", prep_raw * 1e6, "1.00x")
row("(d) client:prepare(6 pairs): check, encode, sign", prep_s * 1e6,
  ("%.2fx (a)   for context"):format(prep_ratio))
print("   for scale: official Node.js SDK signer about 20 us/op (not run here)")
common.verdict(1, "signing, cab_sign in C", c.median_ratio <= 1.5,
  ("cab_sign %.3f us = %.2fx the raw OpenSSL work's %.3f us, target <= 1.50x")
    :format(c.sign_us, c.median_ratio, c.raw_us))
common.verdict(1, "signing, br.sign, " .. common.LUA_SHORT, lua_ratio <= 2.0,
  ("br.sign %.3f us = %.2fx the raw OpenSSL work's %.3f us, target <= 2.00x")
    :format(lua_s * 1e6, lua_ratio, lua_raw * 1e6))
