--- The request loop: runs a call's batches through a transport, at most
-- `concurrency` at once, hands each answer to the caller as it comes, and
-- sends a batch again when the caller asks for a retry.  It lives in Lua,
-- not C, so that a transport may yield (OpenResty) or resume a coroutine
-- from a callback (Neovim) inside t:wait().
local core = require "codearts.batchresult.core"
local guard = require "codearts.batchresult.guard"

local M = {}

local now = core.now

-- The jobs waiting to be sent again: a binary heap on when each is due,
-- the next at [1].  Adding one or taking the next costs log n, so that
-- thousands of retries waiting (a 503 with Retry-After on every batch)
-- stay cheap; a list scanned at every step made them quadratic.
local function push(heap, job, due)
  local i = #heap + 1
  heap[i] = { job = job, due = due }
  while i > 1 do
    local up = math.floor(i / 2)
    if heap[up].due <= heap[i].due then break end
    heap[up], heap[i] = heap[i], heap[up]
    i = up
  end
end

local function pop(heap)
  local top, n = heap[1], #heap
  local last = heap[n]
  heap[n] = nil
  n = n - 1
  if n > 0 then
    heap[1] = last
    local i = 1
    while true do
      local least, l = i, 2 * i
      if l <= n and heap[l].due < heap[least].due then least = l end
      if l + 1 <= n and heap[l + 1].due < heap[least].due then least = l + 1 end
      if least == i then break end
      heap[i], heap[least] = heap[least], heap[i]
      i = least
    end
  end
  return top.job
end

--- The call ends early (stopped, or the client closed): the rest is
-- abandoned, and the outcomes already in go to call:done, without a wait
-- or a read more, so that a run's answer the process has read (the only
-- word of which pipelines it started) is kept rather than called
-- unanswered, "may have started": first the outcome in hand (loop), should
-- Ctrl-C have stopped call:done before it took it in (an attempt that
-- failed before the service is unsent, and failed), then those the
-- transport holds, the one it gave last first when the loop was stopped
-- before it held it (t:ack).  Cancelled first: the outcomes are then kept
-- by the transport, where one whose making runs out of memory stays for
-- the next try.  done runs no callback once the call is stopped, and a
-- batch it would send again stays unsent.
local function stop(t, by_token, call, hand)
  local held = hand.job
  if held then t:ack() end
  hand.job = false
  if held and held.took ~= held.attempts then
    call:done(held, hand.res or nil, hand.kind or nil, hand.msg or nil, hand.not_sent, hand.cut)
  end
  t:cancel()
  while true do
    -- (its strings made once more should memory run out: the outcome
    -- stays kept for that, and a run's answer is all it says it started)
    local token, res, kind, msg, not_sent, cut = guard.again_on_memory(t.ready, t)
    if not token then break end
    local job = by_token[token]
    t:ack()
    by_token[token] = nil
    if job then call:done(job, res, kind, msg, not_sent, cut) end
  end
  return false
end

--- The request loop of M.run (below), by_token the jobs in flight by the
-- transport's tokens; hand, the attempt whose outcome call:done is being
-- given (its fields there from the start: setting them allocates nothing).
local function loop(t, jobs, concurrency, call, by_token, hand)
  local fresh, in_flight = 1, 0
  local delayed = {} -- the jobs waiting to be sent again (push, pop)

  while true do
    while in_flight < concurrency and not call:stopped() do
      -- The next job to send: the retry due first, once its time has come
      -- (or at once, when the call drains), else a fresh one.
      local job
      if delayed[1] and (delayed[1].due <= now() or call:draining()) then job = pop(delayed) end
      if not job and fresh <= #jobs then
        job, fresh = jobs[fresh], fresh + 1
      end
      if not job then break end
      local req, opts_or_err = call:build(job)
      local token, kind, msg
      if req then
        token, kind, msg = t:start(req, opts_or_err)
      else
        kind, msg = opts_or_err.code, opts_or_err.message
      end
      if token then
        job.state = "sent"
        by_token[token] = job
        in_flight = in_flight + 1
      else
        local again = call:done(job, nil, kind, msg, true)
        if again then push(delayed, job, now() + again) end
      end
    end
    if call:stopped() then return stop(t, by_token, call, hand) end
    if in_flight == 0 and #delayed == 0 and fresh > #jobs then return true end
    -- Wait for an answer, but, when a slot is free for it, no longer than
    -- the next retry is due (with every slot busy, a retry that is due
    -- would make the wait 0, again and again: a spin, and inside nginx a
    -- worker that never yields).
    local wait = in_flight < concurrency and delayed[1] and math.max(0, delayed[1].due - now()) or nil
    local token, res, kind, msg, not_sent, cut = t:wait(wait)
    -- Closed under the call (the client closed, or this process a child
    -- forked during it): nothing more will come.
    if res == "closed" then return stop(t, by_token, call, hand) end
    -- The job in flight the outcome is for (none: an answer to no request
    -- of this call, dropped), held before the transport lets the outcome
    -- go (ack): Ctrl-C anywhere from the transport's giving it finds it
    -- in one or the other (stop).
    local job = token and by_token[token]
    if job then
      -- (false for nil: a field set to nil is gone, and setting it again
      -- would allocate; the job last, which says the rest is there)
      hand.res, hand.kind, hand.msg = res or false, kind or false, msg or false
      hand.not_sent, hand.cut = not_sent or false, cut or false
      hand.job = job
    end
    if token then
      t:ack()
      by_token[token] = nil
    end
    if job then
      in_flight = in_flight - 1
      local again = call:done(job, res, kind, msg, not_sent, cut)
      hand.job = false
      if again then push(delayed, job, now() + again) end
    end
  end
end

--- Runs jobs[1..n] through transport t, for call, which answers:
-- call:build(job) -> req, opts or nil, err: the request to send, built (and
--   signed) when it starts, so each attempt has a fresh X-Sdk-Date, and the
--   transport's options for it (see transport/curl.lua).
-- call:done(job, response) or call:done(job, nil, kind, message, not_sent, cut)
--   when an attempt ends, in completion order: nil when the job is
--   finished, or a number of seconds after which to send it again.
-- call:stopped(): whether the call must end now (asked after every attempt
--   that ends, before every one that starts).
-- call:halt(v): whether v, raised in the loop, is Ctrl-C or Lua's memory
--   error, which stop the call (stopped() true from then on).
-- call:draining(): whether the call sends nothing more: a job waiting to
--   be sent again is built at once (which fails, and goes to done), and
--   the attempts in flight end as they do.
-- A job's state becomes "sent" once the transport has taken its attempt,
-- not before: until then, a job whose last attempt failed is still one
-- that failed (call.lua's Call:batch_counts).
-- Returns true when every job finished, false when stopped or when the
-- transport says it was closed; either way nothing is left in flight,
-- and every outcome that was already in went to done (stop).
-- What build or done raises goes on up: the caller cancels the transport.
-- Ctrl-C or a memory error, which the interpreter raises at whatever line
-- of the loop runs next, goes up too, but after the outcomes already in
-- went to done, as for any stop, the one done was reading included: a
-- run's answer the process read is the only word of which pipelines it
-- started.
function M.run(t, jobs, concurrency, call)
  local by_token = {}
  local hand = { job = false, res = false, kind = false, msg = false, not_sent = false, cut = false }
  local ok, finished = guard.pcall(loop, t, jobs, concurrency, call, by_token, hand)
  if ok then return finished end
  if call:halt(finished) then stop(t, by_token, call, hand) end
  error(finished, 0)
end

return M
