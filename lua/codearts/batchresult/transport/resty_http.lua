--- The nginx transport's lua-resty-http adapter (transport/ngx.lua uses it
-- when `require "resty.http"` works): one request through resty.http's
-- streaming interface, with the same signature and the same kinds of
-- failure as the built-in client (transport/http1.lua):
--
-- M.send(http, cfg, req, u, link, deadline) -> response
--                                            | nil, kind, message, not_sent
-- http is resty.http's module.
--
-- resty.http keeps no limit on an answer's head; the one every transport
-- keeps is checked on the headers it parsed.
--
-- resty.http says that an answer is not HTTP only in words (its tests pin
-- "couldn't parse HTTP version from response status line: …" and
-- "unable to read chunksize"); those words, and a status or
-- Content-Length that is no number, are PROTOCOL.  It never sends a
-- request twice by itself.
local config = require "codearts.batchresult.config"
local http1 = require "codearts.batchresult.transport.http1"

local M = {}

local READ_CHUNK = 65536
local kind_of, too_large = http1.kind_of, http1.too_large

-- resty.http's own words for an answer it cannot parse as HTTP.
local NOT_HTTP = { "couldn't parse", "unable to read chunksize" }

--- A failure resty.http reported, as a kind.
local function kind_of_error(err)
  local e = tostring(err)
  for _, words in ipairs(NOT_HTTP) do
    if e:find(words, 1, true) then return "PROTOCOL" end
  end
  return kind_of(err)
end

local left_ms = http1.left_ms

--- The bytes of the head that headers (resty.http's table: a repeated
-- header's values in a list) stand for: "Name: value\r\n" each.
local function head_bytes(headers)
  local n = 0
  for name, v in pairs(headers) do
    if type(v) ~= "table" then v = { v } end
    for _, one in ipairs(v) do n = n + #tostring(name) + #tostring(one) + 4 end
  end
  return n
end

--- Reads the body through res.body_reader, each read bounded by what is
-- left of the attempt.  body, or nil, kind, message.
local function read_body(httpc, res, deadline, limit)
  local parts, size = {}, 0
  if not res.body_reader then return "" end
  while true do
    local ms = left_ms(deadline)
    if not ms then return nil, "TIMEOUT", "reading the answer: timeout" end
    httpc:set_timeouts(ms, ms, ms)
    local chunk, err = res.body_reader(READ_CHUNK)
    if err then return nil, kind_of_error(err), "reading the answer: " .. tostring(err) end
    if not chunk then return table.concat(parts) end
    size = size + #chunk
    if size > limit then return nil, "RESPONSE_TOO_LARGE", too_large(limit) end
    parts[#parts + 1] = chunk
  end
end

--- One attempt over one connection: response, or nil, kind, message,
-- not_sent, stale (stale: a pooled connection failed before any answer
-- came, so the server most likely closed it while idle).
local function send_once(http, cfg, req, u, link, deadline)
  local ms = left_ms(deadline) or 1
  local httpc = http.new()
  httpc:set_timeouts(math.min(ms, config.ms(cfg.connect_timeout)), ms, ms)
  local ok, err = httpc:connect {
    scheme = u.scheme, host = u.host, port = u.port, pool = link.pool,
    ssl_server_name = u.name, ssl_verify = cfg.tls_verify ~= false,
    proxy_opts = cfg.proxy and { http_proxy = cfg.proxy, https_proxy = cfg.proxy } or nil,
  }
  if not ok then
    -- resty.http reports a failed handshake through connect too; either
    -- way no byte of the request left.
    local e = tostring(err)
    if e:find("handshake", 1, true) or e:find("certificate", 1, true) or e:find("ssl", 1, true) then
      return nil, e:find("timeout", 1, true) and "TIMEOUT" or "TLS", e, true
    end
    return nil, kind_of(err), e, true
  end
  ms = left_ms(deadline)
  if not ms then
    httpc:close()
    return nil, "TIMEOUT", "connecting: timeout", true
  end
  httpc:set_timeouts(ms, ms, ms)
  local res
  local headers = { ["Accept-Encoding"] = http1.ACCEPT_ENCODING }
  for name, value in pairs(req.headers) do headers[name] = value end
  res, err = httpc:request { method = req.method, path = u.path, headers = headers, body = req.body }
  if not res then
    local kind = kind_of_error(err)
    local stale = (httpc:get_reused_times() or 0) > 0 and kind == "NETWORK"
    httpc:close()
    return nil, kind, "sending the request or reading the answer: " .. tostring(err), false, stale
  end
  local h = res.headers or {}
  if head_bytes(h) > http1.MAX_HEADER_BYTES then
    httpc:close()
    return nil, "RESPONSE_TOO_LARGE", http1.HEAD_TOO_LARGE, false
  end
  local function header(name)
    -- resty.http's header table ignores case; a plain one may not.
    local v = h[name] or h[name:lower()]
    if type(v) == "table" then v = table.concat(v, ", ") end
    return v
  end
  local status = res.status
  if type(status) ~= "number" or status < 100 or status > 999 or status % 1 ~= 0 then
    httpc:close()
    return nil, "PROTOCOL", "bad status line in the answer", false
  end
  local length = header("Content-Length")
  if length and not header("Transfer-Encoding") and not tostring(length):match("^%s*%d+%s*$") then
    httpc:close()
    return nil, "PROTOCOL", "bad Content-Length in the answer: " .. http1.quoted(tostring(length)), false
  end
  local body, kind, msg = read_body(httpc, res, deadline, cfg.max_response_bytes)
  if not body then
    httpc:close()
    return nil, kind, msg, false
  end
  msg = http1.coded(header("Content-Encoding"))
  if msg then
    httpc:close()
    return nil, "PROTOCOL", msg, false
  end
  -- resty.http reads a chunked answer's trailers only when the answer
  -- announces them (Trailer), and otherwise leaves them on the connection,
  -- where the next answer would begin: such a connection is not pooled.
  local chunked = (header("Transfer-Encoding") or ""):lower():find("chunked", 1, true)
  if link.keep and not chunked then
    httpc:set_keepalive(link.keepalive_ms, link.pool_size)
  else
    httpc:close()
  end
  return {
    status = status, body = body, request_id = header("X-Request-Id"),
    date = header("Date"), retry_after = header("Retry-After"),
  }
end

function M.send(http, cfg, req, u, link, deadline)
  return http1.resending(link, send_once, http, cfg, req, u, link, deadline)
end

return M
