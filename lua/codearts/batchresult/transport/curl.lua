--- The libcurl transport.  A client has one libcurl multi handle (M.new),
-- whose connections every call shares, so that consecutive calls and
-- concurrent batches reuse connections (and multiplex on HTTP/2 where the
-- server offers it).  Each call works through a view of its own
-- (handle:call()): it sees only its own answers and cancels only its own
-- requests, so a call made from another's callback, or one left in a
-- coroutine that is never resumed, cannot take or spoil the other's.  It
-- blocks the calling thread while it waits.
--
-- Every transport offers the same calls, which the request loop in
-- batch.lua drives:
--   t:start(req, opts) -> token | nil, kind, message
--       hand a request over; opts.timeout_ms (whole milliseconds) bounds
--       this attempt, and opts.idempotent = false says that it must reach
--       the network at most once: no transport sends it again by itself,
--       nor writes it on a kept-alive connection the server may have closed
--   t:wait([seconds]) -> token, response
--                      | token, nil, kind, message, not_sent, cut
--                      | nil, "idle"    nothing in flight (after sleeping
--                                       `seconds`, when given)
--                      | nil, "waited"  `seconds` passed first
--                      | nil, "closed"  the client was closed meanwhile
--   t:ready() -> token, response | token, nil, kind, message, not_sent, cut
--              | nil
--       an outcome already in, as wait gives it, or nil when none is,
--       without waiting or reading anything more; also after a cancel,
--       and once the client was closed (which cancels every call's).
--       First the one wait or ready gave last, until t:ack()
--   t:ack()       the outcome given last is noted: ready() gives it no more
--                 (the next wait drops it too).  Until then a caller
--                 stopped (Ctrl-C) before it noted it finds it again
--   t:cancel()    abandon all in flight: no late answer surfaces
--                 afterwards; the outcomes already in stay, for ready()
--                 (a run's answer is the only word of what it started)
--   t:close()     the call is over (cancels, and drops those too)
-- where req is { method, url, headers, body }, response is
-- { status, body, request_id, date, retry_after, resent } (resent: a
-- request of the attempt went out before the one answered, on a
-- kept-alive connection that died before answering it, and the server
-- may have read it), kind is NETWORK,
-- TIMEOUT, TLS, RESPONSE_TOO_LARGE, PROTOCOL (the answer is not HTTP, or
-- breaks its framing) or INTERNAL, and not_sent is true when the request
-- provably never reached the server.  cut is true when the message ends
-- with words cut short where they were written (libcurl's, to its 255
-- bytes), which may end in the start of a secret (exchange.lua).
local config = require "codearts.batchresult.config"
local core = require "codearts.batchresult.core"

local M = {}

local Handle = {}
Handle.__index = Handle

local Transport = {}
Transport.__index = Transport

--- The client's handle, made with the client, opened by its first call
-- that uses libcurl (Handle:open; core.multi says why not at that call).
-- Its field m is the core's multi handle, which transport/nvim.lua drives
-- from Neovim's loop; its field drove, when set (by that transport's
-- pump), is called after each drive of m made through the handle, a
-- view's wait or the handle's close, either of which may take other
-- calls' answers in.
function M.new()
  return setmetatable({ m = core.multi(), is_open = false }, Handle)
end

--- Opens the handle, once: cfg is the client's configuration (connect
-- timeout, TLS, proxy, size limit).  true, or nil, kind, message.
function Handle:open(cfg)
  if self.is_open then return true end
  local ok, msg = self.m:open {
    connect_timeout_ms = config.ms(cfg.connect_timeout),
    ca_file = cfg.ca_file, ca_path = cfg.ca_path, tls_verify = cfg.tls_verify,
    -- Settled by new() (config.lua), so that libcurl reads no proxy
    -- variable of its own: an http:// endpoint's is "", as one off this
    -- machine would get its credentials unencrypted.
    proxy = cfg.libcurl_proxy, noproxy = cfg.libcurl_noproxy,
    max_response_bytes = cfg.max_response_bytes,
  }
  if not ok then return nil, "INTERNAL", msg end
  self.is_open = true
  return true
end

--- A transport for one call, or nil when the handle is closed (a
-- finalizer may close the client while a call begins).
function Handle:call()
  local c = self.m:call()
  return c and setmetatable({ c = c, handle = self }, Transport)
end

--- Whether this handle was made by another process, which this one was
-- forked from (still true once closed): its connections are the parent's,
-- and it must be closed (the C side then only closes this process's
-- descriptors of them, and never frees it) and replaced.
function Handle:inherited()
  return self.m:inherited()
end

function Handle:close()
  self.m:close()
  if self.drove then self.drove() end
end

function Transport:start(req, opts)
  return self.c:start(req.method, req.url, req.headers, req.body, opts.timeout_ms, opts.idempotent == false)
end

-- A wait comes back to Lua at least this often, so that the standalone
-- interpreter's Ctrl-C (a hook that runs at the next Lua instruction)
-- stops it within a slice, not when an answer comes or a retry's delay
-- (up to max_retry_wait) ends.
local SLICE = 0.25
local now = core.now

--- A table for an answer, made before the view gives the answer up: once
-- it has (c:next(), c:take()), a memory error making the table would lose
-- it, and a run's answer is the only word of which pipelines started.
-- Filling its keys then allocates nothing.
local function response_table()
  return { status = false, body = false, request_id = false, date = false, retry_after = false, resent = false }
end

--- An outcome as the view gives it, as wait gives it: the answer in res
-- (response_table's).
local function outcome(res, slot, status, body, request_id, date, retry_after, resent)
  -- (then: kind, message, not_sent, cut)
  if not status then return slot, nil, body, request_id, date, retry_after end
  res.status, res.body, res.request_id, res.date, res.retry_after = status, body, request_id, date, retry_after
  res.resent = resent
  return slot, res
end

function Transport:wait(seconds)
  local slot, status, body, request_id, date, retry_after, resent
  local res = response_table()
  local due = seconds and now() + seconds
  repeat
    local left = due and math.max(0, due - now())
    -- (with nothing in flight, a slice slept says "idle"; given no
    -- seconds, there is nothing to sleep for: "idle" at once)
    slot, status, body, request_id, date, retry_after, resent =
      self.c:next(left and math.min(left, SLICE) or SLICE, not due)
    local again = status == "waited" or (status == "idle" and due)
  until slot or not again or (due and now() >= due)
  local drove = self.handle.drove
  if drove then drove() end
  if not slot then
    if status == "INTERNAL" then return nil, "closed" end
    return nil, status
  end
  return outcome(res, slot, status, body, request_id, date, retry_after, resent)
end

function Transport:ready()
  local res = response_table()
  local slot, status, body, request_id, date, retry_after, resent = self.c:take()
  if slot then return outcome(res, slot, status, body, request_id, date, retry_after, resent) end
end

function Transport:ack()
  self.c:ack()
end

function Transport:cancel()
  self.c:cancel()
end

function Transport:close()
  self.c:close()
end

return M
