--- The request loop: runs a call's batches through a transport, at most
-- `concurrency` at once, hands each answer to the caller as it comes, and
-- sends a batch again when the caller asks for a retry.  It lives in Lua,
-- not C, so that a transport may yield (OpenResty) or resume a coroutine
-- from a callback (Neovim) inside t:wait().
local core = require "codearts.batchresult.core"

local M = {}

local now = core.now

--- Runs jobs[1..n] through transport t.
-- build(job) -> req, opts or nil, err: the request to send, built (and
--   signed) when it starts, so each attempt has a fresh X-Sdk-Date, and the
--   transport's options for it (see transport/curl.lua).
-- done(job, response) or done(job, nil, kind, message, not_sent) is called
--   when an attempt ends, in completion order; it returns nil when the job
--   is finished, or a number of seconds after which to send it again.
-- stopped() says whether the call must end now (checked after every
--   attempt that ends, before every one that starts).
-- Returns true when every job finished, false when stopped; either way
-- nothing is left in flight.  What done or build raises goes on up: the
-- caller cancels the transport.
function M.run(t, jobs, concurrency, build, done, stopped)
  local fresh, in_flight, by_token = 1, 0, {}
  local delayed = {} -- { job, due } of jobs waiting to be sent again

  local function finish(job, res, kind, msg, not_sent)
    local again = done(job, res, kind, msg, not_sent)
    if again then delayed[#delayed + 1] = { job = job, due = now() + again } end
  end

  local function start(job)
    local req, opts_or_err = build(job)
    if not req then
      return finish(job, nil, opts_or_err.code, opts_or_err.message, true)
    end
    local token, kind, msg = t:start(req, opts_or_err)
    if not token then return finish(job, nil, kind, msg, true) end
    by_token[token] = job
    in_flight = in_flight + 1
  end

  -- The next job to send: a retry whose time has come, else a fresh one.
  local function next_job()
    local clock = now()
    for i, d in ipairs(delayed) do
      if d.due <= clock then
        table.remove(delayed, i)
        return d.job
      end
    end
    if fresh <= #jobs then
      fresh = fresh + 1
      return jobs[fresh - 1]
    end
  end

  while true do
    while in_flight < concurrency and not stopped() do
      local job = next_job()
      if not job then break end
      start(job)
    end
    if stopped() then
      t:cancel()
      return false
    end
    if in_flight == 0 and #delayed == 0 and fresh > #jobs then return true end
    -- Wait for an answer, but no longer than the next retry is due.
    local wait
    for _, d in ipairs(delayed) do
      local left = math.max(0, d.due - now())
      if not wait or left < wait then wait = left end
    end
    local token, res, kind, msg, not_sent = t:wait(wait)
    local job = token and by_token[token]
    if job then -- (an answer to no request of this call is dropped)
      by_token[token] = nil
      in_flight = in_flight - 1
      finish(job, res, kind, msg, not_sent)
    end
  end
end

return M
