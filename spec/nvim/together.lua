-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 1 s.  Calls on one client that wait at the same time,
-- one case after the other:
--   two   two queries with a callback, started together
--   sync  a query with a callback, then, once it has started (the next
--         turn), one without (synchronous, so the editor waits in it, and
--         libcurl runs both there)
--   short the same, the synchronous one with a deadline of 0.3 s
--   close a query with a callback whose client a timer closes after 300 ms
-- and then the editor's open descriptors, against the count before the
-- first client was made.  Writes key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

local function open_fds() return #vim.fn.readdir("/proc/self/fd") end

harness.guard(seen)
local fds_before = open_fds()
local br = require "codearts.batchresult"
local function client() return harness.client(br) end
local list = harness.pairs()

-- What a call returned, in one line: the error's code, or each result.
local function summary(results, err)
  if not results then return err and err.code or "none" end
  local parts = {}
  for i, r in ipairs(results) do parts[i] = r.pipeline_run_id .. "=" .. r.status end
  return table.concat(parts, ",")
end

local cases
local function run(i)
  local case = cases[i]
  if not case then
    -- Every client is closed and unreachable: nothing of theirs is left open.
    collectgarbage("collect")
    collectgarbage("collect")
    seen.fds_before, seen.fds_after = fds_before, open_fds()
    return harness.finish(seen)
  end
  case(function() vim.schedule(function() run(i + 1) end) end)
end

-- A query with a callback, then one without (with a deadline); next() once
-- both are over.
local function sync_beside(next, name, deadline)
  local c, started, left = client(), harness.now_ms(), 2
  local function over()
    left = left - 1
    if left == 0 then
      c:close()
      next()
    end
  end
  assert(c:query(list, { callback = function(results, err)
    seen[name .. "_async"] = summary(results, err)
    seen[name .. "_async_ms"] = harness.now_ms() - started
    over()
  end }))
  -- The first one starts on the loop's next turn: this waits behind it.
  vim.schedule(function()
    seen[name .. "_sync"] = summary(c:query(list, { deadline = deadline }))
    over()
  end)
end

-- Each case calls next() once all its callbacks came.
cases = {
  function(next)
    local c, started, left = client(), harness.now_ms(), 2
    for _, name in ipairs({ "two_a", "two_b" }) do
      assert(c:query(list, { callback = function(results, err)
        seen[name] = summary(results, err)
        seen[name .. "_ms"] = harness.now_ms() - started
        left = left - 1
        if left == 0 then
          c:close()
          next()
        end
      end }))
    end
  end,
  function(next) sync_beside(next, "sync", nil) end,
  -- The synchronous call gives up while the other still waits: libcurl ran
  -- that one in the synchronous wait (it connected there), and the event
  -- loop must watch it from where it is now.
  function(next) sync_beside(next, "short", 0.3) end,
  function(next)
    local c, started = client(), harness.now_ms()
    assert(c:query(list, { callback = function(results, err)
      seen.close = summary(results, err)
      seen.close_ms = harness.now_ms() - started
      seen.close_accounted = err and (#err.results + #err.results.missing + #err.unanswered) or -1
      next()
    end }))
    local closer = uv.new_timer()
    closer:start(300, 0, function()
      closer:close()
      c:close()
    end)
  end,
}
run(1)
