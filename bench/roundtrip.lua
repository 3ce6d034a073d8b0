--- Target 3: round trips.  Sequential client:query(6 pairs) against the
-- local nginx of bench/nginx.sh (one worker, a canned answer, keep-alive),
-- beside a bare libcurl loop (bench/curl_bare.c: one easy handle POSTing
-- the very request client:query sends) and, over HTTP, wrk -t1 -c1 for
-- context.  The sides take turns in ROUNDS rounds of N requests each (the
-- order flips each round), because this machine's speed drifts; each
-- side's figure is the median of its rounds' rates, and the ratio the
-- median of the per-round ratios.  Beside the library's work per call
-- (ours minus bare), figures that show where it goes: the library's C
-- transport sending the same request from C (bench/multi_loop.c, timed
-- in the same rounds); three more runs of each, with the call's time split
-- into the transport's calls and the library's own work between them; and
-- the library's work timed with no network, back to back and after an
-- idle sleep before each call.
--
--   roundtrip.lua http|https PORT CHECK_PORT CHECK_LOG CURL_BARE MULTI_LOOP OUT_DIR [CA_FILE]
--
-- Before timing, one request of each client goes to CHECK_PORT, whose
-- access log (CHECK_LOG) must show them alike: the same method, URI,
-- request length (as nginx counts it) and Content-Length.  It logs
-- lengths only, no header or body bytes.
local common = require "common"
local clock = require "benchclock"
local br = require "codearts.batchresult"
local transport = require "codearts.batchresult.transport"

local scheme, port, check_port, check_log, curl_bare, multi_loop, out, ca = ...
port, check_port = tonumber(port), tonumber(check_port)
assert((scheme == "http" or scheme == "https") and port and check_port and check_log and curl_bare and multi_loop
  and out, "usage: roundtrip.lua http|https PORT CHECK_PORT CHECK_LOG CURL_BARE MULTI_LOOP OUT_DIR [CA_FILE]")
assert(scheme == "http" or ca, "https needs the CA's certificate")
local ROUNDS = tonumber(os.getenv("BENCH_RT_ROUNDS")) or 9
local N = tonumber(os.getenv("BENCH_RT_REQUESTS")) or 3000 -- of each side in a round
local WRK_SECONDS = 1
local now = common.now
local TLS = scheme == "https"
local tag = (TLS and "TLS " or "") .. "round trips, " .. common.LUA_SHORT

local list = common.pairs(6)
local ANSWER_BYTES = #common.result_body(6) -- what nginx answers (run.sh)

local function client_for(url_scheme, p, ca_file)
  return assert(br.new {
    endpoint = url_scheme .. "://127.0.0.1:" .. p,
    project_id = common.PROJECT_ID, ak = common.AK, sk = common.SK, ca_file = ca_file,
  })
end

-- The request file curl_bare reads: the URL, the headers, an empty line,
-- the body, as client:prepare gives them (signed a moment ago; nginx
-- checks no signature).
local function write_request(client, path)
  local req = assert(client:prepare(list))
  local f = assert(io.open(path, "wb"))
  f:write(req.url, "\n")
  for name, value in pairs(req.headers) do f:write(name, ": ", value, "\n") end
  f:write("\n", req.body)
  f:close()
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- A C loop's run of n requests (program: curl_bare, or multi_loop):
-- seconds (after its warm-up request).
local function c_loop(program, request_file, n, ca_file)
  local err_file = out .. "/c_loop.err"
  local cmd = table.concat({ shell_quote(program), shell_quote(request_file), tostring(n),
                             ca_file and shell_quote(ca_file) or "", "2>" .. shell_quote(err_file) }, " ")
  local p = assert(io.popen(cmd))
  local line = p:read("*a")
  p:close()
  local secs, reqs, bytes = line:match("^seconds (%S+) requests (%d+) bytes (%d+)")
  if not secs then
    local f = io.open(err_file)
    error(program .. " failed: " .. (f and f:read("*a") or line), 0)
  end
  assert(tonumber(reqs) == n and tonumber(bytes) == n * ANSWER_BYTES,
    ("%s got %s bytes for %s requests, expected %d each"):format(program, bytes, reqs, ANSWER_BYTES))
  return tonumber(secs)
end
local function bare(request_file, n, ca_file) return c_loop(curl_bare, request_file, n, ca_file) end

--- wrk -t1 -c1 for WRK_SECONDS: its requests per second; fails on any
-- error or non-2xx answer it saw.
local function wrk(url)
  local p = assert(io.popen(("wrk -t1 -c1 -d%ds %s 2>&1"):format(WRK_SECONDS, shell_quote(url))))
  local text = p:read("*a")
  p:close()
  local rps = tonumber(text:match("Requests/sec:%s*([%d.]+)"))
  if not rps or text:find("Non%-2xx") or text:find("Socket errors") then
    error("wrk failed or saw errors:\n" .. text, 0)
  end
  return rps
end

local client = client_for(scheme, port, ca)
local function ours(n)
  local query = client.query
  local t = now()
  for i = 1, n do
    local res, err = query(client, list)
    if not res or #res ~= 6 then
      error(("client:query failed at request %d of %d: %s"):format(i, n, tostring(err or #res .. " results")), 0)
    end
  end
  return now() - t
end

-- The same request from both sides, as nginx received them.
local function check_same_request()
  local f = io.open(check_log, "rb")
  local start = f and f:seek("end") or 0
  if f then f:close() end
  local checker = client_for("http", check_port)
  local res = assert(checker:query(list))
  assert(#res == 6 and res[1].pipeline_id == list[1].pipeline_id and res[1].status, "unexpected answer shape")
  local file = out .. "/check-request.txt"
  write_request(checker, file)
  checker:close()
  bare(file, 1) -- a warm-up request and a timed one
  c_loop(multi_loop, file, 1)
  f = assert(io.open(check_log, "rb"))
  f:seek("set", start)
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  assert(#lines == 5, "the check server logged " .. #lines .. " requests, expected 5")
  for i = 2, 5 do
    if lines[i] ~= lines[1] then
      error(("client:query, curl_bare and multi_loop sent different requests:\n  %s\n  %s")
        :format(lines[1], lines[i]), 0)
    end
  end
  return lines[1]
end

--- Seconds per client:query(list) with no network: a transport that
-- answers every request at once with nginx's canned answer, so that the
-- library's own work runs alone, beside what it costs between real round
-- trips.  With nap, each call is timed alone after sleeping nap seconds,
-- which leaves the CPU idle as a wait on the network does.
local function library_work(n, nap)
  local canned = { status = 200, body = common.result_body(6) }
  local Canned = {}
  Canned.__index = Canned
  function Canned:start() self.pending = true return 1 end
  function Canned:wait()
    if not self.pending then return nil, "idle" end
    self.pending = false
    return 1, canned
  end
  function Canned.ack() end
  function Canned.cancel() end
  function Canned.close() end
  local for_call = transport.for_call
  transport.for_call = function() return setmetatable({}, Canned) end
  local ok, secs = pcall(function()
    if not nap then return ours(n) end
    local sum = 0
    for _ = 1, n do
      clock.sleep(nap)
      sum = sum + ours(1)
    end
    return sum
  end)
  transport.for_call = for_call
  if not ok then error(secs, 0) end
  return secs / n
end

--- Where a call's time goes between real round trips: seconds per
-- client:query(list) over n calls against nginx, and of them the seconds
-- spent inside the transport's calls (getting it, start, wait, close):
-- the rest is the library's own work, measured in the same traffic.
local function split(n)
  local inside = 0
  local function add(t0, ...)
    inside = inside + now() - t0
    return ...
  end
  local for_call = transport.for_call
  transport.for_call = function(c)
    local t = add(now(), for_call(c))
    return {
      start = function(_, ...) return add(now(), t:start(...)) end,
      wait = function(_, ...) return add(now(), t:wait(...)) end,
      ack = function() return add(now(), t:ack()) end,
      cancel = function() return add(now(), t:cancel()) end,
      close = function() return add(now(), t:close()) end,
    }
  end
  local ok, secs = pcall(ours, n)
  transport.for_call = for_call
  if not ok then error(secs, 0) end
  return secs / n, inside / n
end

--- Seconds of the raw OpenSSL work of k signatures, back to back and
-- after sleeping nap seconds before each: how much a small working set
-- slows after the same idle wait.
local function raw_after_nap(n, k, nap)
  local body, cr, sts = common.result_body(6), ("c"):rep(900), ("s"):rep(120)
  local warm, cold = clock.raw_sign(n * k, common.SK, body, cr, sts) / n, 0
  for _ = 1, n do
    clock.sleep(nap)
    cold = cold + clock.raw_sign(k, common.SK, body, cr, sts)
  end
  return warm, cold / n
end

local same = check_same_request()
local request_file = ("%s/request-%s-%s.txt"):format(out, scheme, rawget(_G, "jit") and "jit" or _VERSION:sub(5))
write_request(client, request_file)
local url = ("%s://127.0.0.1:%d/v5/%s/api/pipelines/batch-runs/result"):format(scheme, port, common.PROJECT_ID)

ours(math.floor(N / 2)) -- warm-up

local rate_ours, rate_bare, rate_multi, rate_wrk, vs_bare, multi_vs_bare, vs_wrk = {}, {}, {}, {}, {}, {}, {}
for r = 1, ROUNDS do
  local a, b, m, w
  if not TLS and r % 2 == 0 then w = wrk(url) end
  if r % 2 == 1 then a = ours(N) else m = c_loop(multi_loop, request_file, N, ca) end
  b = bare(request_file, N, ca)
  if r % 2 == 0 then a = ours(N) else m = c_loop(multi_loop, request_file, N, ca) end
  if not TLS and r % 2 == 1 then w = wrk(url) end
  rate_ours[r], rate_bare[r], rate_multi[r], vs_bare[r], multi_vs_bare[r] = N / a, N / b, N / m, b / a, b / m
  if w then rate_wrk[r], vs_wrk[r] = w, (N / a) / w end
end
local SPLIT_RUNS = 3
local split_multi, split_call, split_inside = {}, {}, {}
for r = 1, SPLIT_RUNS do
  split_multi[r] = c_loop(multi_loop, request_file, N, ca) / N
  split_call[r], split_inside[r] = split(N)
end
local NAP = 100e-6
local warm, after_nap = library_work(N), library_work(N, NAP)
local RAW_K = math.max(1, math.floor(warm / 1.5e-6 + 0.5)) -- about as long as the library's work
local raw_warm, raw_nap = raw_after_nap(N, RAW_K, NAP)
client:close()

local median = common.median
local ours_rps, bare_rps, ratio = median(rate_ours), median(rate_bare), median(vs_bare)
local function row(label, r, tail)
  print(("   %-50s %9.0f req/s  %7.1f us/req  %s"):format(label, r, 1e6 / r, tail))
end
print(("3. Round trips%s, %s: sequential client:query(6 pairs), local nginx (1 worker, canned answer, keep-alive)")
  :format(TLS and " over TLS (private CA, verified)" or "", common.LUA_NAME))
print(("   %d rounds of %d requests a side, alternating; medians of the rounds (each ratio the median of the rounds'"
  .. " ratios)"):format(ROUNDS, N))
row("bare libcurl loop (bench/curl_bare.c), same request", bare_rps, "1.000x")
row("our C transport alone, from C (bench/multi_loop.c)", median(rate_multi),
  common.x(median(multi_vs_bare)) .. " bare")
row("ours: client:query(6 pairs)", ours_rps,
  ("%s bare   target >= %.2fx"):format(common.x(ratio), TLS and 0.9 or 0.85))
local shown = {}
for i, v in ipairs(vs_bare) do shown[i] = ("%.3f"):format(v) end
print(("      (each signs, POSTs, decodes; library work per call about %.1f us; per-round ratios %s)")
  :format(1e6 / ours_rps - 1e6 / bare_rps, table.concat(shown, " ")))
local call_s, inside_s = median(split_call), median(split_inside)
print(("      (%d more runs of each, medians: a call %.1f us, of which %.1f us inside the transport's calls, which"
  .. " multi_loop does in %.1f us; the library's own work between them %.1f us)")
  :format(SPLIT_RUNS, call_s * 1e6, inside_s * 1e6, median(split_multi) * 1e6, (call_s - inside_s) * 1e6))
print(("      (the same library work with no network, a transport answering at once: %.1f us per call;"
  .. " after sleeping %.0f us before each call, as the CPU idles between round trips: %.1f us)")
  :format(warm * 1e6, NAP * 1e6, after_nap * 1e6))
print(("      (for scale, the raw OpenSSL work of %d signatures, which touches little memory: %.1f us back to back,"
  .. " %.1f us after the same sleep)"):format(RAW_K, raw_warm * 1e6, raw_nap * 1e6))
print(("      (nginx saw all three as: %s)"):format(same))
local target = TLS and 0.9 or 0.85
common.verdict(3, tag, common.judged(ratio) >= target,
  common.ratio_detail("ours / bare libcurl", ratio, ROUNDS .. " rounds", ("ours %.0f req/s"):format(ours_rps),
    ("bare %.0f req/s"):format(bare_rps), (">= %.2fx"):format(target)))
if not TLS then
  local wrk_rps, wrk_ratio = median(rate_wrk), median(vs_wrk)
  row(("context: wrk -t1 -c1 -d%ds, GET, same location"):format(WRK_SECONDS), wrk_rps,
    ("ours %s wrk   target >= 0.50x"):format(common.x(wrk_ratio)))
  common.verdict(3, "vs wrk, " .. common.LUA_SHORT, common.judged(wrk_ratio) >= 0.5,
    common.ratio_detail("ours / wrk", wrk_ratio, ROUNDS .. " rounds", ("ours %.0f req/s"):format(ours_rps),
      ("wrk %.0f req/s"):format(wrk_rps), ">= 0.50x"))
end
