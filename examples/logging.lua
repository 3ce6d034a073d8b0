-- A client that logs each attempt of each request on standard error.
--
--   HUAWEICLOUD_SDK_AK=… HUAWEICLOUD_SDK_SK=… HUAWEICLOUD_SDK_PROJECT_ID=… \
--   lua5.4 examples/logging.lua
local br = require "codearts.batchresult"

-- readme:begin logging
local client, why = br.new {
  region = "cn-north-4",
  logger = function(e)
    io.stderr:write(("%s %s attempt %d: %s %.3fs %s\n"):format(e.method, e.url, e.attempt,
      e.status or "-", e.duration, e.error or ""))
  end,
}
-- readme:end logging
-- (error(tostring(err)), not assert: the assert of Lua 5.1 and 5.2 takes no table)
if not client then error(tostring(why), 0) end
local results, err = client:query {
  { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" },
}
client:close()
if not results then error(tostring(err), 0) end
