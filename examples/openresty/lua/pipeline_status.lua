-- GET /pipelines/status?runs=PIPELINE_ID:RUN_ID,PIPELINE_ID:RUN_ID,...
-- answers how those CodeArts Pipeline runs started, one line each.  Loaded
-- by nginx.conf (README: OpenResty); requests go over nginx's cosockets and
-- never block the worker.
local br = require "codearts.batchresult"

local M = {}

-- One client per nginx worker, shared by its requests and made by the
-- first of them (nothing happens at require, in the master).  AK/SK and
-- project come from the HUAWEICLOUD_SDK_* variables nginx.conf lets
-- through with `env`.
local client

local function shared_client()
  if not client then
    local c, err = br.new { region = "cn-north-4" }
    if not c then return nil, err end
    client = c
  end
  return client
end

-- "a:b,c:d" -> { { pipeline_id = "a", pipeline_run_id = "b" }, ... }; the
-- client checks the ids themselves.
local function parse_runs(arg)
  local runs = {}
  for item in (arg or ""):gmatch("[^,]+") do
    local pipeline_id, pipeline_run_id = item:match("^([^:]*):([^:]*)$")
    if not pipeline_id then return nil, "runs: expected PIPELINE_ID:RUN_ID, got " .. item end
    runs[#runs + 1] = { pipeline_id = pipeline_id, pipeline_run_id = pipeline_run_id }
  end
  if #runs == 0 then return nil, "runs: none given" end
  return runs
end

function M.handler()
  -- The value percent-decoded: URL libraries (Python's urlencode, JavaScript's
  -- URLSearchParams) send ":" as %3A and "," as %2C.
  local arg = ngx.var.arg_runs
  local runs, bad = parse_runs(arg and ngx.unescape_uri(arg))
  if not runs then
    ngx.status = ngx.HTTP_BAD_REQUEST
    ngx.say(bad)
    return
  end
  -- err is a table: tostring gives "CODE (HTTP status): message [request id]".
  local c, err = shared_client()
  if not c then
    -- nginx's own setup (credentials, project): no fault of the caller's,
    -- and not the caller's to read
    ngx.log(ngx.ERR, "pipeline status: ", tostring(err))
    return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
  end
  local results
  results, err = c:query(runs)
  if not results then
    ngx.log(ngx.ERR, "pipeline status: ", tostring(err))
    ngx.status = err.code == "INVALID_ARGUMENT" and ngx.HTTP_BAD_REQUEST or ngx.HTTP_BAD_GATEWAY
    ngx.say(tostring(err))
    return
  end
  -- Results are the server's data, as it sent them, and a server may
  -- echo a credential into one: redacted before the caller reads them
  -- (and before tostring cuts long names, which could leave a piece).
  ngx.say(tostring(c:redact(results)))
end

return M
