local br = require "codearts.batchresult"

local client, err = br.new {
  region = "cn-north-4",                          -- or endpoint = "https://…"
  project_id = "db8d07265e24426598b3eb03a7818972", -- default: $HUAWEICLOUD_SDK_PROJECT_ID
  ak = os.getenv("MY_AK"), sk = os.getenv("MY_SK"), -- default: $HUAWEICLOUD_SDK_AK / _SK
}
if not client then error(tostring(err)) end       -- e.g. "INVALID_ARGUMENT: unknown region 'cn-nort-4' …"

local results, err = client:query {
  { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" },
  { pipeline_id = "d7013d2402ff4cc88489ee5af324e049", pipeline_run_id = "3d8143d197dd4fa5b23f20ee39179af3" },
}
if not results then
  print(err)            -- APIGW.0301 (HTTP 401): Incorrect IAM authentication information … [request 5f1…]
  return
end
for _, r in ipairs(results) do
  print(r.pipeline_name, r.status, r.reason)   -- Pipeline 1  START_FAILED  Current pipeline is banned.
end                                            -- Pipeline 2  START_SUCCESS nil
client:close()                                 -- or let the GC do it; `local c <close> = …` on 5.4
