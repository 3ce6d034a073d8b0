-- Run by spec/nvim_spec.lua inside `nvim --headless`: calls in the
-- callback mode whose on_progress or logger raises, or closes the client,
-- one after the other; writes what each callback got and quits.
local harness = require "spec.nvim.harness"
local seen = {}

local function finish() harness.finish(seen) end
harness.guard(seen)

local br = require "codearts.batchresult"
local function client(extra) return harness.client(br, extra) end

local list = {}
for i = 1, 12 do
  list[i] = { pipeline_id = ("%032x"):format(i), pipeline_run_id = ("%032x"):format(100 + i) }
end

local ids = {}
for i, pair in ipairs(list) do ids[i] = pair.pipeline_id end
local ops = {} -- the operations run_and_query's on_progress saw

local bomb_ran = false
local bomb = setmetatable({}, { __tostring = function() bomb_ran = true error("tostring ran") end })

-- Each case: a name, the client's extra options, the call's options, the
-- method (query when none), and whether to close the client at once.
local cases
local c
cases = {
  { "progress", nil, { on_progress = function(done) if done > 0 then error("progress broke") end end } },
  { "logger", { logger = function() error("logger broke") end }, {} },
  { "close", nil, { on_progress = function(done) if done > 0 then c:close() end end } },
  -- a value whose __tostring raises too: the library never runs it
  { "bomb", nil, { on_progress = function(done) if done > 0 then error(bomb) end end } },
  -- raising in run_and_query's first half ends the whole call: no status
  -- request follows
  { "raq", nil, { on_progress = function(done, _, op)
    ops[#ops + 1] = op
    if done > 0 then error("raq broke") end
  end }, "run_and_query" },
  -- callbacks that yield, and that use vim.api (which libuv's callbacks
  -- may not): the call goes on, and ends with every result
  { "yield", { logger = function() coroutine.yield() end },
    { on_progress = function() coroutine.yield() end } },
  { "api", { logger = function() vim.api.nvim_buf_set_lines(0, 0, -1, false, { "logged" }) end },
    { on_progress = function(done) vim.api.nvim_buf_set_lines(0, 0, -1, false, { tostring(done) }) end } },
  -- a call without the callback option, made from a callback: it waits
  -- synchronously, as anywhere else (here inside a C function, gsub, which
  -- a wait that yields could not cross)
  { "sync", nil, { on_progress = function(done)
    if done ~= 4 then return end
    local other = client()
    seen.sync_inner = ("x"):gsub("x", function() return tostring(#assert(other:query(list))) end)
    other:close()
  end } },
  -- a run whose on_progress, at the first answer, waits until the
  -- stand-in answered the other batch too, reads that answer in with a
  -- synchronous query of its own on the client, then closes it: CLOSED,
  -- that run kept (err.results), none unanswered
  { "close_kept", nil, { batch_size = 6, concurrency = 2, on_progress = function(done)
    if done == 0 then seen.close_kept_runs = harness.stats_now().runs end
    if done ~= 6 then return end
    harness.busy_until_counted("runs", seen.close_kept_runs + 2)
    assert(c:query(list))
    c:close()
  end }, "run" },
  -- a dry run whose client is closed on the same turn, before the call
  -- starts on the next: CLOSED, every item accounted for, as any call
  { "dry_closed", nil, { dry_run = true }, nil, "close at once" },
}

local function run(i)
  local case = cases[i]
  if not case then return finish() end
  c = client(case[2])
  local opts = { batch_size = 4, concurrency = 1 }
  for k, v in pairs(case[3]) do opts[k] = v end
  opts.callback = function(results, err)
    local name = case[1]
    seen[name .. "_results"] = results and #results or tostring(results)
    seen[name .. "_code"] = err and err.code or "none"
    seen[name .. "_message"] = err and err.message or ""
    seen[name .. "_accounted"] = err and (#err.results + #err.results.missing + #err.unanswered) or -1
    seen[name .. "_unanswered"] = err and #err.unanswered or -1
    seen[name .. "_raised"] = err and tostring(rawequal(err.raised, bomb)) or "none"
    seen[name .. "_tostring_ran"] = tostring(bomb_ran)
    seen[name .. "_ops"] = table.concat(ops, ",")
    vim.schedule(function() run(i + 1) end)
  end
  local method = case[4] or "query"
  local ok, err = c[method](c, method == "query" and list or ids, opts)
  if not ok then seen[case[1] .. "_refused"] = tostring(err) end
  if case[5] then c:close() end
end
run(1)
