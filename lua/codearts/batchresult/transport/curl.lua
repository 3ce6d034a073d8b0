--- The libcurl transport: one multi handle per client, whose transfers
-- share one connection cache, so consecutive calls and concurrent batches
-- reuse connections (and multiplex on HTTP/2 where the server offers it).
-- It blocks the calling thread while it waits.
--
-- Every transport offers the same three calls, which the request loop in
-- codearts.batchresult drives:
--   t:start(req)  -> token | nil, kind, message      hand a request over
--   t:wait()      -> token, response | token, nil, kind, message
--                  | nil when nothing is in flight   the next one answered
--   t:cancel()                                        abandon all in flight
-- where req is { method, url, headers, body }, response is
-- { status, body, request_id, date, retry_after } and kind is NETWORK,
-- TIMEOUT, TLS or INTERNAL.
local core = require "codearts.batchresult.core"

local Transport = {}
Transport.__index = Transport

local M = {}

--- cfg: timeout, connect_timeout, ca_file, proxy (seconds, paths, URL).
function M.new(cfg)
  local m, msg = core.multi {
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout,
    ca_file = cfg.ca_file, proxy = cfg.proxy,
  }
  if not m then return nil, "INTERNAL", msg end
  return setmetatable({ m = m }, Transport)
end

function Transport:start(req)
  return self.m:start(req.method, req.url, req.headers, req.body)
end

function Transport:wait()
  local slot, status, body, request_id, date, retry_after = self.m:next()
  if not slot then return nil end
  if not status then return slot, nil, body, request_id end
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
