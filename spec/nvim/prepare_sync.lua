-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 2 s.  A plugin's own libuv prepare handle, started
-- before the client's first call (so before the library's: libuv runs
-- prepare handles newest first, and the plugin's runs after the
-- library's), drives the client while a query X in the callback mode
-- waits, the editor otherwise idle (no vim.wait, no key, and an
-- 'updatetime' longer than the run), one case after the other:
--   sync   400 ms after X started, the prepare handle makes a synchronous
--          query on the same client, which takes X's answer in while it
--          waits
--   close  400 ms after X started, the prepare handle closes the client
-- (400 ms: earlier, the pump's timer for libcurl's next timeout in X's
-- start was still due, and woke the loop soon after.)
-- Once the prepare handle is done, a marker timer (the editor's next
-- event) is set 1 s ahead: when it fires, X must have called back (with
-- CLOSED after the close: case=called back, close_code=CLOSED).  Writes
-- key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
-- (the 'updatetime' wait, every 4 s by default, would wake the editor
-- before the marker now and then)
vim.o.updatetime = 60000
local br = require "codearts.batchresult"
local list = harness.pairs()

-- The handles of the case running, closed when it is over, not in their
-- callbacks: a handle closing makes the loop's next wait for events a
-- mere look, which woke the editor.
local handles = {}

-- fn in ms from now.  A timer counts from the loop's clock, read when its
-- iteration began (a synchronous query behind, in the prepare handle): the
-- lag is added, not the clock updated, as spec/nvim/timer_sync.lua does.
local function once(ms, fn)
  local timer = uv.new_timer()
  handles[#handles + 1] = timer
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

-- The plugin's prepare handle: drive(c) in it once, on the loop's turn
-- after X's start plus 400 ms, then the marker.
local function case(name, drive)
  return function(c, next)
    local go, called = false, false
    local prepare = uv.new_prepare()
    handles[#handles + 1] = prepare
    prepare:start(function()
      if not go then return end
      go = false
      drive(c)
      mark(name, function() return called and "called back" or "waiting" end, function() return called end, next)
    end)
    local armed = false
    assert(c:query(list, {
      on_progress = function()
        if armed then return end
        armed = true
        once(400, function() go = true end)
      end,
      callback = function(results, err)
        if not results then
          seen[name .. "_code"] = err.code
          if name ~= "close" then seen.error = tostring(err) end
        end
        called = true
      end,
    }))
  end
end

local cases = {
  case("sync", function(c)
    local results, err = c:query(list)
    if not results then seen.error = tostring(err) end
  end),
  case("close", function(c) c:close() end),
}

local function run(i)
  if not cases[i] then return harness.finish(seen) end
  local c = harness.client(br)
  cases[i](c, function()
    c:close()
    for j, handle in ipairs(handles) do
      handle:close()
      handles[j] = nil
    end
    vim.schedule(function() run(i + 1) end)
  end)
end
run(1)
