--- Target 3: round trips.  Sequential client:query(six pairs) against the
-- local nginx that bench/run.sh started, for about SECONDS, beside the
-- rate wrk -t1 -c1 reached there (arg[2], measured just before).
local common = require "common"
local br = require "codearts.batchresult"

local port = assert(tonumber(arg[1]), "usage: roundtrip.lua <port> <wrk req/s> [seconds]")
local wrk_rps = tonumber(arg[2])
local SECONDS = tonumber(arg[3]) or 5
local floor_rps = tonumber(arg[4])
local now = common.now

local client = assert(br.new {
  endpoint = "http://127.0.0.1:" .. port,
  project_id = common.PROJECT_ID, ak = common.AK, sk = common.SK,
})
local list = common.pairs(6)

-- The first call connects; check the answer once, then warm up.
local res, err = client:query(list)
if not res then error("client:query failed: " .. tostring(err)) end
assert(#res == 6 and res[1].pipeline_id and res[1].status, "unexpected answer shape")
local t0 = now()
while now() - t0 < 0.5 do assert(client:query(list)) end

collectgarbage("collect")
local n, t = 0, now()
local stop = t + SECONDS
repeat
  -- Check the clock every 16 calls: the clock is cheap, but not free.
  for _ = 1, 16 do
    res, err = client:query(list)
    if not res then error("client:query failed after " .. n .. " calls: " .. tostring(err)) end
  end
  n = n + 16
until now() >= stop
local elapsed = now() - t
local body_bytes = #assert(client:prepare(list)).body
client:close()

local rps = n / elapsed
local function row(label, r, tail)
  print(("   %-46s %9.0f req/s  %7.1f us/req  %s"):format(label, r, 1e6 / r, tail))
end
print(("3. Round trips to a local nginx (127.0.0.1:%d, 1 worker, canned 6-result answer, keep-alive)")
  :format(port))
if not wrk_rps then
  row("ours: client:query(6 pairs), sequential", rps, "(wrk failed: no comparison)")
  common.verdict(3, "round trips", false, "no wrk figure to compare with")
  return
end
row("wrk -t1 -c1 -d5s, GET, same location + answer", wrk_rps, "1.00x")
row("ours: client:query(6 pairs), sequential", rps,
  ("%.2fx wrk   target >= 0.50x"):format(rps / wrk_rps))
print(("      (%s: %d calls in %.2f s; each signs, POSTs %d B, decodes the answer)"):format(
  common.LUA_NAME, n, elapsed, body_bytes))
if floor_rps then
  row("context: transport floor, src/multi.c from C", floor_rps,
    ("%.2fx wrk   (ours is %.2fx it)"):format(floor_rps / wrk_rps, rps / floor_rps))
  print("      (the same POST through src/multi.c alone; nothing signed, encoded or decoded)")
end
print("   for scale: official Node.js SDK core about 1,400 req/s; wrk about 36,000 req/s")
print("              (figures from the issue, not run here)")
common.verdict(3, "round trips", rps / wrk_rps >= 0.5,
  ("ours %.2fx wrk's rate, target >= 0.50x"):format(rps / wrk_rps))
