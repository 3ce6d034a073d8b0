-- What the library itself answers, in the process running the specs, for
-- pairs asked of a stand-in: what the example specs compare a program's
-- output with.
local br = require "codearts.batchresult"
local model = require "spec.standin.model"

local M = {}

--- tostring() of the result set the stand-in at server gives for list.
function M.shown(server, list)
  local c = model.credentials.permanent
  local client = assert(br.new { endpoint = server.url, project_id = model.seed_project, ak = c.ak, sk = c.sk })
  local results = assert(client:query(list))
  client:close()
  return tostring(results)
end

return M
