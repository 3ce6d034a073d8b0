--- The libcurl transport: one easy handle per client, kept alive between
-- calls so that they share one connection.  It blocks the calling thread
-- until the answer is in.
local core = require "codearts.batchresult.core"

local Transport = {}
Transport.__index = Transport

local M = {}

--- cfg: timeout, connect_timeout, ca_file, proxy (seconds, paths, URL).
function M.new(cfg)
  local h, msg = core.http {
    timeout = cfg.timeout, connect_timeout = cfg.connect_timeout,
    ca_file = cfg.ca_file, proxy = cfg.proxy,
  }
  if not h then return nil, "INTERNAL", msg end
  return setmetatable({ h = h }, Transport)
end

--- Sends req ({method, url, headers, body}).  Returns
-- { status, body, request_id, date, retry_after }, or nil, kind, message
-- where kind is NETWORK, TIMEOUT, TLS or INTERNAL.
function Transport:send(req)
  local status, body, request_id, date, retry_after =
    self.h:request(req.method, req.url, req.headers, req.body)
  if not status then
    local kind = body
    if kind ~= "NETWORK" and kind ~= "TIMEOUT" and kind ~= "TLS" then kind = "INTERNAL" end
    return nil, kind, request_id
  end
  return { status = status, body = body, request_id = request_id, date = date,
           retry_after = retry_after }
end

function Transport:close()
  self.h:close()
end

return M
