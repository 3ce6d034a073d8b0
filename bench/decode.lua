--- Target 2: decoding a 100-result answer (about 20 KB) into Lua tables,
-- ours against lua-cjson on the same body, alternating, best of several
-- rounds.
local common = require "common"
local br = require "codearts.batchresult"

local ok_cjson, cjson = pcall(require, "cjson")
local ROUNDS, SECONDS = 12, 0.2

local body = common.result_body(100)

-- Same content either way (a JSON null: absent in ours, cjson.null there).
local ours = assert(br.decode(body))
assert(#ours == 100, "decode returned " .. #ours .. " results")
if ok_cjson then
  local theirs = cjson.decode(body).result
  for i = 1, 100 do
    for _, k in ipairs({ "pipeline_id", "pipeline_name", "pipeline_run_id", "status" }) do
      assert(ours[i][k] == theirs[i][k], "result " .. i .. " differs in " .. k)
    end
    local r = theirs[i].reason
    assert(ours[i].reason == (r ~= cjson.null and r or nil), "result " .. i .. " differs in reason")
  end
end

local decode = br.decode
local function f_ours() decode(body) end
local f_cjson = ok_cjson and function() cjson.decode(body) end

local n_ours = common.calibrate(f_ours, SECONDS)
local n_cjson = ok_cjson and common.calibrate(f_cjson, SECONDS)
local best_ours, best_cjson = math.huge, math.huge
local ratios = {}
for r = 1, ROUNDS do
  -- ABBA order: neither side always runs first.
  local t, tc
  if ok_cjson and r % 2 == 0 then tc = common.run(f_cjson, n_cjson) end
  t = common.run(f_ours, n_ours)
  if ok_cjson and r % 2 == 1 then tc = common.run(f_cjson, n_cjson) end
  if t < best_ours then best_ours = t end
  if tc then
    if tc < best_cjson then best_cjson = tc end
    ratios[#ratios + 1] = t / tc
  end
end
table.sort(ratios)

local o_us = best_ours * 1e6
print(("2. Decoding a %d-result answer (%d B) into Lua tables, best of %d alternating rounds")
  :format(#ours, #body, ROUNDS))
if not ok_cjson then
  print(("   ours: br.decode(body)  %9.2f us/op   (lua-cjson not installed: no comparison)")
    :format(o_us))
  common.verdict(2, "decoding", false, "lua-cjson missing, nothing to compare with")
  return
end
local c_us = best_cjson * 1e6
print(("   %-42s %9.2f us/op  %6.1f MB/s  1.00x")
  :format("lua-cjson " .. (cjson._VERSION or "") .. ": cjson.decode(body)", c_us, #body / best_cjson / 1e6))
print(("   %-42s %9.2f us/op  %6.1f MB/s  %.2fx cjson   target <= 1.00x")
  :format("ours: codearts.batchresult.decode(body)", o_us, #body / best_ours / 1e6, o_us / c_us))
print(("   (rounds of about %.1f s a side, in ABBA order; median of the per-round ratios: %.2fx)")
  :format(SECONDS, ratios[math.floor((#ratios + 1) / 2)]))
local median = ratios[math.floor((#ratios + 1) / 2)]
local pass = o_us <= c_us
common.verdict(2, "decoding", pass,
  ("ours %.2fx lua-cjson's time, target <= 1.00x"):format(o_us / c_us)
  .. ((pass ~= (median <= 1)) and ("; BORDERLINE: median per-round ratio %.2fx"):format(median) or ""))
