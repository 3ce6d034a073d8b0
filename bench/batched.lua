--- The batched call of targets 4 and 5: 10,000 pairs, batch size 100,
-- concurrency 8, against the local stand-in (spec/support/standin.lua).
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local M = { PAIRS = 10000, BATCH = 100, CONCURRENCY = 8 }

--- Starts the stand-in answering each request after delay_ms, and calls
-- fn(call, server), where call() makes the batched call once and returns
-- its results (failing on any error or missing result); stops the
-- stand-in however fn ends.
function M.run(delay_ms, fn)
  local server = standin.start()
  local ok, err = pcall(function()
    server:config { delay_ms = delay_ms, max_items = M.BATCH }
    local creds = model.credentials.permanent
    local client = assert(br.new { endpoint = server.url, project_id = model.seed_project,
                                   ak = creds.ak, sk = creds.sk })
    local list = {}
    for i = 1, M.PAIRS do
      list[i] = { pipeline_id = ("a%031x"):format(i), pipeline_run_id = ("b%031x"):format(i) }
    end
    local opts = { batch_size = M.BATCH, concurrency = M.CONCURRENCY }
    local function call()
      local results, cerr = client:query(list, opts)
      if not results then error("the batched call failed: " .. tostring(cerr), 0) end
      assert(#results == M.PAIRS and #results.missing == 0, "incomplete answer")
      return results
    end
    fn(call, server)
    client:close()
  end)
  server:stop()
  if not ok then error(err, 0) end
end

return M
