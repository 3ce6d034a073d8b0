-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after a delay.  Rounds of K queries with a callback on one
-- client, all in flight together, each asking one pair (the K-th its
-- list's (K % 6 + 1)-th).  Per round (K = 50, then 200):
--   answered_K  callbacks called
--   wrong_K     callbacks given an error, or another pair's answer
--   examined_K  calls examined to find whom to wake: every call:ready()
--               asked, and every call multi:news() listed
-- and, for each pair j, answer_j: its status|reason, the same in every
-- answer ("mixed" if not).  Writes key=value lines and quits.
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"
local core = require "codearts.batchresult.core"
local list = harness.pairs()

-- What a pump examines, counted by wrapping the methods every call and
-- handle share (their metatables'), made before any client: the real
-- methods still answer.
local examined = 0
local probe = assert(core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 })
local call_methods, multi_methods = debug.getmetatable(probe:call()).__index, debug.getmetatable(probe).__index
probe:close()
local ready, news = call_methods.ready, multi_methods.news
call_methods.ready = function(c)
  examined = examined + 1
  return ready(c)
end
multi_methods.news = function(m)
  local groups = news(m)
  examined = examined + (groups and #groups or 0)
  return groups
end

-- A callback's answer for pair j, checked against the others' for it.
local function note(k, j, results, err)
  local r = results and #results == 1 and results[1]
  if err or not r or r.pipeline_id ~= list[j].pipeline_id or r.pipeline_run_id ~= list[j].pipeline_run_id then
    seen["wrong_" .. k] = seen["wrong_" .. k] + 1
    return
  end
  local answer = r.status .. "|" .. (r.reason or "-")
  local key = "answer_" .. j
  seen[key] = (seen[key] == nil or seen[key] == answer) and answer or "mixed"
end

-- K calls at once on a new client; done() once every callback came.
local function round(k, done)
  local c, left = harness.client(br), k
  seen["answered_" .. k], seen["wrong_" .. k] = 0, 0
  examined = 0
  for i = 1, k do
    local j = i % #list + 1
    assert(c:query({ list[j] }, { callback = function(results, err)
      seen["answered_" .. k] = seen["answered_" .. k] + 1
      note(k, j, results, err)
      left = left - 1
      if left == 0 then
        seen["examined_" .. k] = examined
        c:close()
        vim.schedule(done)
      end
    end }))
  end
end

round(50, function() round(200, function() harness.finish(seen) end) end)
