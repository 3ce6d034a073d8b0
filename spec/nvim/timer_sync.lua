-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 1 s.  A synchronous query made inside a libuv timer's
-- callback, while the editor is otherwise idle (no vim.wait, no key, and
-- an 'updatetime' longer than the run), one case after the other:
--   sync_50, sync_400  a query X in the callback mode has started; a timer
--          set then, 50 or 400 ms later, makes the synchronous query on
--          the same client, which takes X's answer in while it waits
--   start  a timer makes a synchronous query on a client; a second one,
--          due meanwhile, starts a query Y in the callback mode
-- Once the synchronous query is over, a marker timer (the editor's next
-- event) is set 1 s ahead: when it fires, X must have called back, and Y
-- must have started (case=called back, started).  Writes key=value lines
-- and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
-- (the 'updatetime' wait, every 4 s by default, would wake the editor
-- before the marker now and then)
vim.o.updatetime = 60000
local br = require "codearts.batchresult"
local list = harness.pairs()

-- fn in ms from now.  A timer counts from the loop's clock, read when its
-- iteration began (a synchronous query behind, in a timer's callback): the
-- lag is added, not the clock updated, which would have the loop run
-- timers that fell due meanwhile right away, where a plugin's would run
-- them at its next turn.  The timers close when the case is over, not in
-- their callbacks: a handle closing makes the loop's next wait for events
-- a mere look, which woke the editor.
local timers = {}
local function once(ms, fn)
  local timer = uv.new_timer()
  timers[#timers + 1] = timer
  timer:start(ms + math.max(0, math.floor(harness.now_ms() - uv.now())), 0, fn)
end

-- The marker: name's outcome is what said() tells 1 s after now; then
-- next() once over() tells that the case is over too.
local function mark(name, said, over, next)
  once(1000, function()
    seen[name] = said()
    local function wait() if over() then next() else once(50, wait) end end
    wait()
  end)
end

local cases
local function run(i)
  local case = cases[i]
  if not case then return harness.finish(seen) end
  local c = harness.client(br)
  case(c, function()
    c:close()
    for j, timer in ipairs(timers) do
      timer:close()
      timers[j] = nil
    end
    vim.schedule(function() run(i + 1) end)
  end)
end

local function sync_after(ms)
  return function(c, next)
    local name, called, armed = "sync_" .. ms, false, false
    assert(c:query(list, {
      on_progress = function()
        if armed then return end
        armed = true
        once(ms, function()
          local results, err = c:query(list)
          if not results then seen.error = tostring(err) end
          mark(name, function() return called and "called back" or "waiting" end,
            function() return called end, next)
        end)
      end,
      callback = function(results, err)
        if not results then seen.error = tostring(err) end
        called = true
      end,
    }))
  end
end

cases = {
  sync_after(50),
  sync_after(400),
  function(c, next)
    local started, called = false, false
    once(50, function()
      local results, err = c:query(list)
      if not results then seen.error = tostring(err) end
      mark("start", function() return started and "started" or "not started" end,
        function() return called end, next)
    end)
    once(100, function()
      assert(c:query(list, {
        on_progress = function() started = true end,
        callback = function(results, err)
          if not results then seen.error = tostring(err) end
          called = true
        end,
      }))
    end)
  end,
}
run(1)
