--- The libcurl transport: one multi handle per client, whose transfers
-- share one connection cache, so consecutive calls and concurrent batches
-- reuse connections (and multiplex on HTTP/2 where the server offers it).
-- It blocks the calling thread while it waits.
--
-- Every transport offers the same calls, which the request loop in
-- batch.lua drives:
--   t:start(req, opts) -> token | nil, kind, message
--       hand a request over; opts.timeout_ms (whole milliseconds) bounds
--       this attempt, and opts.idempotent says whether it may be sent twice
--   t:wait([seconds]) -> token, response
--                      | token, nil, kind, message, not_sent
--                      | nil, "idle"    nothing in flight (after sleeping
--                                       `seconds`, when given)
--                      | nil, "waited"  `seconds` passed first
--   t:cancel()                    abandon all in flight
-- where req is { method, url, headers, body }, response is
-- { status, body, request_id, date, retry_after }, kind is NETWORK,
-- TIMEOUT, TLS, RESPONSE_TOO_LARGE or INTERNAL, and not_sent is true when
-- the request provably never reached the server.
local config = require "codearts.batchresult.config"
local core = require "codearts.batchresult.core"

local Transport = {}
Transport.__index = Transport

local M = {}

--- cfg: the client's configuration (timeouts, TLS, proxy, size limit).
function M.new(cfg)
  local m, msg = core.multi {
    connect_timeout_ms = config.ms(cfg.connect_timeout),
    ca_file = cfg.ca_file, ca_path = cfg.ca_path, tls_verify = cfg.tls_verify,
    proxy = cfg.proxy, max_response_bytes = cfg.max_response_bytes,
  }
  if not m then return nil, "INTERNAL", msg end
  return setmetatable({ m = m }, Transport)
end

function Transport:start(req, opts)
  return self.m:start(req.method, req.url, req.headers, req.body, opts.timeout_ms)
end

function Transport:wait(seconds)
  local slot, status, body, request_id, date, retry_after = self.m:next(seconds)
  if not slot then return nil, status end
  if not status then return slot, nil, body, request_id, date end
  return slot, { status = status, body = body, request_id = request_id, date = date,
                 retry_after = retry_after }
end

function Transport:cancel()
  self.m:cancel()
end

function Transport:close()
  self.m:close()
end

return M
