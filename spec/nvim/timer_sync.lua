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
local harness = require "spec.nvim.harness"
local seen = {}

local idle = harness.idle(seen)
local br = require "codearts.batchresult"
local list = harness.pairs()
local once, mark = idle.once, idle.mark

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

idle.run(br, {
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
})
