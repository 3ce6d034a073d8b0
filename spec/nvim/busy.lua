-- Run by spec/nvim_spec.lua inside `nvim --headless`, against the stand-in
-- answering after 600 ms: a call in the callback mode with a timeout of
-- 1 s, while the editor's own code keeps it busy from the time its
-- request is out and libcurl waits for nothing but the answer, until the
-- stand-in has written the answer and the timeout is over.
-- The answer came within the timeout, so it counts, although the pump's
-- timer for the timeout fires (libuv runs timers before it polls) before
-- the socket's event.  Writes key=value lines and quits.
-- (The busy time starts and ends at what the stand-in and the library
-- did, not at set times: on a busy machine the request may not be out
-- 400 ms after the call started.)
local harness = require "spec.nvim.harness"
local seen = {}
local TIMEOUT_MS = 1000

harness.guard(seen)
local once_counted, busy_until_counted = harness.once_counted, harness.busy_until_counted

-- (after the timer above, so that it counts the library's wake-ups only)
local wakeups = harness.count_wakeups()
local br = require "codearts.batchresult"
local c = harness.client(br, { timeout = TIMEOUT_MS / 1000, max_retries = 0 })

-- The editor's own code, from the time the stand-in has the request: the
-- timeout is over 1 s later at the latest (it started before).
local function busy()
  local over = harness.now_ms() + TIMEOUT_MS
  busy_until_counted("ok", 1)
  repeat until harness.now_ms() >= over
end

-- Calls fn once the library has woken after now.  libcurl keeps a timer
-- of its own from the connect (200 ms, for happy eyeballs): due when the
-- editor is free again, it would run the transfer, socket read and all,
-- before the timeout's.
local function after_a_wakeup(fn)
  local since = wakeups()
  local function look()
    if wakeups() > since then return fn() end
    vim.defer_fn(look, 10)
  end
  look()
end

assert(c:query(harness.pairs(), {
  on_progress = function(done)
    if done == 0 then once_counted("requests", 1, function() after_a_wakeup(busy) end) end
  end,
  callback = function(results, err)
    seen.results = results and #results or 0
    seen.code = err and err.code or "none"
    c:close()
    harness.finish(seen)
  end,
}))
