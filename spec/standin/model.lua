-- Deterministic data model of the CodeArts ShowBatchRunResult (and
-- BatchRunPipeline) stand-in.
--
-- Shared by the stand-in server (spec/standin/server.lua) and by the specs,
-- so that both agree on credentials, on the answer for any
-- (pipeline_id, pipeline_run_id) pair, on the run ids BatchRunPipeline hands
-- out and on the shuffle mode's order.  Pure Lua: runs on Lua 5.1-5.4 and
-- LuaJIT, no C modules.

local model = {}

-- Credentials the stand-in accepts.  Nothing else is accepted.
model.credentials = {
  permanent = {
    ak = "STANDINPERMANENTAK01",
    sk = "standin/permanent+secret/key-0001",
  },
  temporary = {
    ak = "STANDINTEMPORARYAK01",
    sk = "standin/temporary+secret/key-0001",
    security_token = "standin-security-token-0001/abc+def=",
  },
  iam_token = "standin-iam-token-0001.MIIabc+def/ghi=",
}

-- Statuses and reasons documented by the API reference.
model.START_SUCCESS = "START_SUCCESS"
model.START_FAILED = "START_FAILED"
model.REASON_BANNED = "Current pipeline is banned."
model.REASON_QUEUED = "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state."
model.REASON_CHANGE_REQUEST = "The change request pipeline can not batch run."

-- The project of the reference page's example request.
model.seed_project = "db8d07265e24426598b3eb03a7818972"

-- The example request's six pairs, in order, with the example response's
-- results (reason nil where the documented reason is null).
model.seed = {
  { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_name = "Pipeline 1",
    pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c", status = "START_FAILED",
    reason = "Current pipeline is banned." },
  { pipeline_id = "d7013d2402ff4cc88489ee5af324e049", pipeline_name = "Pipeline 2",
    pipeline_run_id = "3d8143d197dd4fa5b23f20ee39179af3", status = "START_SUCCESS",
    reason = nil },
  { pipeline_id = "2eb1fc4d750546b3bbc2566a7cf34d5b", pipeline_name = "Pipeline 3",
    pipeline_run_id = "ba15657cb88d46deb9e17f203a061f21", status = "START_SUCCESS",
    reason = nil },
  { pipeline_id = "cce81e5f7e604b609172aafcae73c025", pipeline_name = "Pipeline 4",
    pipeline_run_id = "73861d5a72e6417a81abb1baba1a8d16", status = "START_FAILED",
    reason = "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." },
  { pipeline_id = "1d5107b3cd4746a3a03efef83b9e4e45", pipeline_name = "Pipeline 5",
    pipeline_run_id = "f68aa7ca562f4f31bfbb63628de0e2cd", status = "START_FAILED",
    reason = "The change request pipeline can not batch run." },
  { pipeline_id = "70aa57009b0d433587b58faf05e4fd7f", pipeline_name = "Pipeline 6",
    pipeline_run_id = "cd96020f0e2748048a6b4d1a15091c9b", status = "START_SUCCESS",
    reason = nil },
}

-- The example request's query items: { {pipeline_id=, pipeline_run_id=}, ... }.
model.seed_query = {}
for i, r in ipairs(model.seed) do
  model.seed_query[i] = { pipeline_id = r.pipeline_id, pipeline_run_id = r.pipeline_run_id }
end

local seed_index = {}
for _, r in ipairs(model.seed) do
  seed_index[r.pipeline_id .. "/" .. r.pipeline_run_id] = r
end

-- true when s is exactly 32 ASCII letters or digits.
function model.is_id(s)
  return type(s) == "string" and #s == 32 and s:find("^[0-9A-Za-z]+$") ~= nil
end

-- The (status, reason) chosen for a non-seed pair, by k = byte sum % 5.
local by_k = {
  [0] = { "START_SUCCESS", nil },
  [1] = { "START_SUCCESS", nil },
  [2] = { "START_FAILED", "Current pipeline is banned." },
  [3] = { "START_FAILED", "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." },
  [4] = { "START_FAILED", "The change request pipeline can not batch run." },
}

local function byte_sum(s)
  local sum = 0
  for i = 1, #s do
    sum = sum + s:byte(i)
  end
  return sum
end

-- The result the stand-in gives for one pair: a fresh table
-- {pipeline_id, pipeline_name, pipeline_run_id, status, reason}; reason is
-- nil for START_SUCCESS (serialised as JSON null by the server).
function model.result_for(pipeline_id, pipeline_run_id)
  assert(type(pipeline_id) == "string", "pipeline_id must be a string")
  assert(type(pipeline_run_id) == "string", "pipeline_run_id must be a string")
  local s = seed_index[pipeline_id .. "/" .. pipeline_run_id]
  if s then
    return {
      pipeline_id = s.pipeline_id,
      pipeline_name = s.pipeline_name,
      pipeline_run_id = s.pipeline_run_id,
      status = s.status,
      reason = s.reason,
    }
  end
  local k = byte_sum(pipeline_run_id) % 5
  local choice = by_k[k]
  return {
    pipeline_id = pipeline_id,
    pipeline_name = "Pipeline " .. pipeline_id:sub(1, 8),
    pipeline_run_id = pipeline_run_id,
    status = choice[1],
    reason = choice[2],
  }
end

-- Results for a whole query (array of {pipeline_id=, pipeline_run_id=}),
-- in query order, as the server answers them.
function model.results_for(query)
  local out = {}
  for i, q in ipairs(query) do
    out[i] = model.result_for(q.pipeline_id, q.pipeline_run_id)
  end
  return out
end

-- What client:query returns for query when the server is this model: the
-- results in query order, with nothing missing.
function model.expected(query)
  local out = model.results_for(query)
  out.missing = {}
  return out
end

-- A deterministic valid id (32 lower-case hex digits) derived from a seed
-- string and a number, for specs that need many distinct ids.
function model.make_id(prefix, n)
  local hex = "0123456789abcdef"
  local s = tostring(prefix or "") .. ":" .. tostring(n or 0)
  local h = 2166136261
  local out = {}
  for i = 1, 32 do
    for j = 1, #s do
      h = (h * 31 + s:byte(j) + i) % 4294967296
    end
    local d = math.floor(h / 65536) % 16
    out[i] = hex:sub(d + 1, d + 1)
  end
  return table.concat(out)
end

--- n distinct pairs, from make_id(tag .. "-p", i) and make_id(tag .. "-r", i).
function model.make_pairs(tag, n)
  local list = {}
  for i = 1, n do
    list[i] = { pipeline_id = model.make_id(tag .. "-p", i), pipeline_run_id = model.make_id(tag .. "-r", i) }
  end
  return list
end

-- 32-bit string hashing for the run ids and the shuffle below.  Plain
-- arithmetic (no bit operators, every intermediate below 2^53) so that Lua
-- 5.1's doubles, LuaJIT and 5.3+'s integers all give the same numbers: the
-- server (lua5.1) and the specs (any Lua) must agree on them.
local TWO32 = 4294967296

local function fold(h, s)
  for i = 1, #s do
    h = (h * 69069 + s:byte(i) + 1) % TWO32
  end
  -- a few rounds that feed the high bits back down, so that a change in the
  -- last byte reaches every hex digit, not only the low ones
  for _ = 1, 4 do
    h = (h * 69069 + math.floor(h / 65536) + 12345) % TWO32
  end
  return h
end

local function hex8(h)
  local hex = "0123456789abcdef"
  local out = {}
  for i = 8, 1, -1 do
    local d = h % 16
    out[i] = hex:sub(d + 1, d + 1)
    h = math.floor(h / 16)
  end
  return table.concat(out)
end

-- The pipeline_run_id the stand-in's BatchRunPipeline gives the n-th run it
-- starts (n counts runs since the server started or was last reset, from
-- 1), for pipeline_id: 32 lower-case hex digits.  n is part of the id so
-- that two runs of one pipeline get different ids, and the id is a pure
-- function of both so that specs can predict it.
function model.run_id_for(pipeline_id, n)
  assert(type(pipeline_id) == "string", "pipeline_id must be a string")
  assert(type(n) == "number" and n >= 0 and math.floor(n) == n, "n must be an integer >= 0")
  -- "%d", not tostring: a count decoded from JSON is 3.0 on Lua 5.3+
  local s = pipeline_id .. "#" .. string.format("%d", n)
  local out = {}
  for lane = 1, 4 do
    out[lane] = hex8(fold((2166136261 + lane * 40503) % TWO32, s))
  end
  return table.concat(out)
end

-- A copy of list in the order the stand-in's shuffle mode answers it,
-- decided by the string seed alone.  Sattolo's variant of Fisher-Yates: the
-- result is one cycle, so with two items or more none stays in place and
-- the order always differs from the input's.
function model.shuffled(list, seed)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  local h = fold(2166136261, tostring(seed or ""))
  for i = #out, 2, -1 do
    h = (h * 69069 + 1) % TWO32
    local j = math.floor(h * (i - 1) / TWO32) + 1 -- 1 .. i-1
    out[i], out[j] = out[j], out[i]
  end
  return out
end

return model
