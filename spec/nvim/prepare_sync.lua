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
local br = require "codearts.batchresult"
local seen = {}
local idle, list = harness.idle(seen), harness.pairs()

-- The plugin's prepare handle: drive(c) in it once, on the loop's turn
-- after X's start plus 400 ms, then the marker.
local function case(name, drive)
  return function(c, next)
    local go, called = false, false
    local prepare = idle.keep(uv.new_prepare())
    prepare:start(function()
      if not go then return end
      go = false
      drive(c)
      idle.mark(name, function() return called and "called back" or "waiting" end, function() return called end, next)
    end)
    local armed = false
    assert(c:query(list, {
      on_progress = function()
        if armed then return end
        armed = true
        idle.once(400, function() go = true end)
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

idle.run(br, {
  case("sync", function(c)
    local results, err = c:query(list)
    if not results then seen.error = tostring(err) end
  end),
  case("close", function(c) c:close() end),
})
