--- One row per API operation: everything query, run, run_and_query and
-- prepare need to know of it, in one place.  The call (call.lua) reads a
-- row; nothing else names a method, a path or a codec.
--
--   name        the API's own name, for messages
--   method      the HTTP method
--   path        the path, with {project_id} standing for the client's
--   what        how messages name the caller's list ("pairs[2]…")
--   fields      an item's id fields; also the batch key: answers are
--               matched to the items they are for by these, and items
--               given twice are asked once
--   bare        items are the id strings themselves (a single field)
--   encode      function(flat, first, last) -> body | nil, message: the
--               body for items first..last of the flat list input.lua made
--   answer      the answer's shape: its items are listed under `list`, and
--               each is an object holding the string members `ids` (with no
--               ids, any value); `made` (when given) names the members the
--               server makes (a run's id), in words:
--               one that is not 32 letters or digits fails the call
--               (DECODE), its answer kept as given
--   wrap        (optional) function(array) -> array: what the call returns
--   idempotent  whether sending the request twice does no harm (RFC 9110
--               9.2.2); a request that is not is sent at most once per
--               attempt the retry policy decides on (retry.lua), and
--               retried only when it provably never reached the service:
--               it never left, or the gateway refused it (retry.lua's
--               before_service)
--
-- Adding an operation (say ShowPipelineRunDetail, a GET with a query
-- string) takes a row here and, for a new body or answer shape, its codec
-- in src/codec.c bound in src/core_codec.c; a query string, a field of
-- the row that call.lua's request reads (none has one yet).
local core = require "codearts.batchresult.core"
local results = require "codearts.batchresult.results"

local M = {}

--- ShowBatchRunResult: how did these runs start?  A read.
M.query = {
  name = "ShowBatchRunResult",
  method = "POST",
  path = "/v5/{project_id}/api/pipelines/batch-runs/result",
  what = "pairs",
  fields = { "pipeline_id", "pipeline_run_id" },
  encode = core.encode_query,
  answer = { list = "result", ids = { "pipeline_id", "pipeline_run_id" } },
  wrap = results.wrap,
  idempotent = true,
}

--- BatchRunPipeline: start these pipelines.  Sending it twice could start
-- them twice.
M.run = {
  name = "BatchRunPipeline",
  method = "POST",
  path = "/v5/{project_id}/api/pipelines/batch-runs",
  what = "pipeline_ids",
  fields = { "pipeline_id" },
  bare = true,
  encode = function(flat, first, last) return core.encode_ids("pipeline_ids", flat, first, last) end,
  -- (no member must be a string, nor any item an object: an item that is
  -- no run of a pipeline asked is call.lua's to refuse, so that the run
  -- ids of the batch's other pipelines, which started, are kept)
  answer = { list = "result", ids = {}, made = { pipeline_run_id = "run id" } },
  idempotent = false,
}

--- The row's path for a client's project.
function M.path(row, project_id)
  return (row.path:gsub("{project_id}", project_id))
end

return M
