--- Target 2: decoding a 100-result answer (about 20 KB) into Lua tables,
-- ours against lua-cjson on the same body, in alternating rounds; the
-- medians of the rounds count.
local common = require "common"
local br = require "codearts.batchresult"
local cjson = require "cjson"

local ROUNDS, SECONDS = 11, 0.2
local N = 100
local body = common.result_body(N)

-- Same content either way (a JSON null: absent in ours, cjson.null there).
local decoded = assert(br.decode(body))
assert(#decoded == N, "decode returned " .. #decoded .. " results")
local theirs = cjson.decode(body).result
for i = 1, N do
  for _, k in ipairs({ "pipeline_id", "pipeline_name", "pipeline_run_id", "status" }) do
    assert(decoded[i][k] == theirs[i][k], "result " .. i .. " differs in " .. k)
  end
  local r = theirs[i].reason
  assert(decoded[i].reason == (r ~= cjson.null and r or nil), "result " .. i .. " differs in reason")
end

local decode, cjson_decode = br.decode, cjson.decode
local function f_ours() decode(body) end
local function f_cjson() cjson_decode(body) end

local n_ours, n_cjson = common.calibrate(f_ours, SECONDS), common.calibrate(f_cjson, SECONDS)
local ours, cjsons, ratios = {}, {}, {}
for r = 1, ROUNDS do
  -- ABBA order: neither side always runs first.
  if r % 2 == 0 then cjsons[r] = common.run(f_cjson, n_cjson) end
  ours[r] = common.run(f_ours, n_ours)
  if r % 2 == 1 then cjsons[r] = common.run(f_cjson, n_cjson) end
  ratios[r] = ours[r] / cjsons[r]
end

local o_s, c_s, ratio = common.median(ours), common.median(cjsons), common.median(ratios)
print(("2. Decoding a %d-result answer (%d B) into Lua tables, %s, %d alternating rounds of about %.1f s"
  .. " a side, medians"):format(N, #body, common.LUA_NAME, ROUNDS, SECONDS))
print(("   %-42s %9.2f us/op  %6.1f MB/s  1.000x")
  :format("lua-cjson " .. (cjson._VERSION or "") .. ": cjson.decode(body)", c_s * 1e6, #body / c_s / 1e6))
print(("   %-42s %9.2f us/op  %6.1f MB/s  %s cjson (the median of the rounds' ratios)   target <= 1.00x")
  :format("ours: br.decode(body)", o_s * 1e6, #body / o_s / 1e6, common.x(ratio)))
common.verdict(2, "decoding, " .. common.LUA_SHORT, common.judged(ratio) <= 1.0,
  common.ratio_detail("br.decode / lua-cjson", ratio, ROUNDS .. " rounds",
    ("br.decode %.1f us"):format(o_s * 1e6), ("lua-cjson %.1f us"):format(c_s * 1e6), "<= 1.00x"))
