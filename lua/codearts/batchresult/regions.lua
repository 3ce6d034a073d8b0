--- The CodeArts Pipeline endpoints by region (spec/fixtures/FACTS.md, "Endpoints").
local text = require "codearts.batchresult.text"

local M = {}

local patterns = {
  ["cloudpipeline-ext"] = { "cn-north-1", "cn-north-4", "cn-south-1", "cn-south-2", "cn-east-2",
    "cn-east-3", "cn-southwest-2", "ap-southeast-3", "sa-brazil-1", "la-north-2" },
  ["pipeline-external"] = { "tr-west-1", "la-south-2" },
  ["pipeline"] = { "af-north-1", "me-east-1", "af-south-1" },
}

-- region name -> "https://…" endpoint: the module's own, never handed out
-- (M.copy), so that no caller's change moves a client's endpoint.
local endpoints = {}
for prefix, names in pairs(patterns) do
  for _, region in ipairs(names) do
    endpoints[region] = "https://" .. prefix .. "." .. region .. ".myhuaweicloud.com"
  end
end

--- The environment variable that overrides a region's endpoint, as the
-- official SDKs read it: HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4.
-- Only ASCII's letters raised (text.upper): string.upper follows the
-- locale a host (Neovim) may have set, and in tr_TR.ISO-8859-9 raises
-- sa-brazil-1's "i" to "\221".
function M.env_name(region)
  return "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_" .. text.upper(region):gsub("-", "_")
end

--- The endpoint for region, or nil (and why, when the override is what
-- is wrong).  The environment override wins; like the SDKs, it may list
-- several endpoints separated by commas, of which the first is used:
-- all of it up to the first comma, less the white space at its ends (a
-- space inside it is the endpoint's, for new() to refuse, not an end to
-- cut it at).
function M.resolve(region, getenv)
  local name = M.env_name(region)
  local env = (getenv or os.getenv)(name)
  if env and text.trim(env) ~= "" then
    local first = text.trim(env:match("^[^,]*"))
    if first == "" then return nil, name .. " is set, but names no endpoint first" end
    return first
  end
  return endpoints[region]
end

--- region name -> endpoint, a table of the caller's own (br.regions).
function M.copy()
  local t = {}
  for name, url in pairs(endpoints) do t[name] = url end
  return t
end

--- The region names, sorted.
function M.names()
  local t = {}
  for name in pairs(endpoints) do t[#t + 1] = name end
  table.sort(t)
  return t
end

return M
