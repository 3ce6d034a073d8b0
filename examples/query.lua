-- Asks CodeArts Pipeline how six pipeline runs started and prints a table.
--
--   HUAWEICLOUD_SDK_AK=… HUAWEICLOUD_SDK_SK=… HUAWEICLOUD_SDK_PROJECT_ID=… \
--   CODEARTS_REGION=cn-north-4 lua5.4 examples/query.lua
--
-- CODEARTS_ENDPOINT (e.g. https://…) may name the endpoint instead of a
-- region; `make demo` points it at the local stand-in.
local br = require "codearts.batchresult"

local client, err = br.new {
  endpoint = os.getenv("CODEARTS_ENDPOINT"),
  region = not os.getenv("CODEARTS_ENDPOINT") and (os.getenv("CODEARTS_REGION") or "cn-north-4") or nil,
}
if not client then
  io.stderr:write("cannot create the client: ", tostring(err), "\n")
  os.exit(2)
end

-- The six runs of the API reference's example.
local runs = {
  { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" },
  { pipeline_id = "d7013d2402ff4cc88489ee5af324e049", pipeline_run_id = "3d8143d197dd4fa5b23f20ee39179af3" },
  { pipeline_id = "2eb1fc4d750546b3bbc2566a7cf34d5b", pipeline_run_id = "ba15657cb88d46deb9e17f203a061f21" },
  { pipeline_id = "cce81e5f7e604b609172aafcae73c025", pipeline_run_id = "73861d5a72e6417a81abb1baba1a8d16" },
  { pipeline_id = "1d5107b3cd4746a3a03efef83b9e4e45", pipeline_run_id = "f68aa7ca562f4f31bfbb63628de0e2cd" },
  { pipeline_id = "70aa57009b0d433587b58faf05e4fd7f", pipeline_run_id = "cd96020f0e2748048a6b4d1a15091c9b" },
}

local results, qerr = client:query(runs)
if not results then
  io.stderr:write("query failed: ", tostring(qerr), "\n")
  os.exit(1)
end

print(("%-10s  %-32s  %-13s  %s"):format("PIPELINE", "RUN", "STATUS", "REASON"))
for _, r in ipairs(results) do
  print(("%-10s  %-32s  %-13s  %s"):format(r.pipeline_name or "?", r.pipeline_run_id, r.status or "?",
    r.reason or "-"))
end
client:close()
