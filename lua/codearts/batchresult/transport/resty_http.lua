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
-- resty.http says that an answer is not HTTP only in words ("couldn't
-- parse HTTP version from response status line: …", "unable to read
-- chunksize"), which never come here: each status line is judged before
-- resty.http parses it, and chunks are read here.  A Content-Length that
-- is no number is PROTOCOL.  It never sends a request twice by itself.
local config = require "codearts.batchresult.config"
local http1 = require "codearts.batchresult.transport.http1"
local trim = require("codearts.batchresult.text").trim_ows
local lower = require("codearts.batchresult.text").lower

local M = {}

local READ_CHUNK = 65536
local kind_of, too_large = http1.kind_of, http1.too_large

--- A failure resty.http reported, as a kind.
local function kind_of_error(err)
  local e = tostring(err)
  -- a line too long, as the socket below (bounded) reports it
  if e == http1.HEAD_TOO_LARGE then return "RESPONSE_TOO_LARGE" end
  return kind_of(err)
end

local left_ms = http1.left_ms

--- The bytes of the head that headers (resty.http's table: a repeated
-- header's values in a list) stand for: "Name: value\r\n" each; and
-- whether a NUL byte is among them.
local function head_bytes(headers)
  local n, nul = 0, false
  for name, v in pairs(headers) do
    if type(v) ~= "table" then v = { v } end
    for _, one in ipairs(v) do
      local line = tostring(name) .. tostring(one)
      n = n + #line + 4
      nul = nul or line:find("\0", 1, true) ~= nil
    end
  end
  return n, nul
end

-- The socket methods that wait on the network, besides the reads.
local WAITS = { connect = true, sslhandshake = true, tlshandshake = true }

--- A socket method's results, as they are, noting in seen when it failed.
local function noted(seen, name, ok, ...)
  if not ok then seen.failed = name end
  return ok, ...
end

--- The reads resty.http makes (receive("*l"), receive(n), receive("*a"),
-- receiveany(max)), and its sends, each made by r (an http1 reader), which
-- reads in pieces of what has come and sends in pieces, each wait armed to
-- what is left of the attempt (http1's Reader:piece and Reader:send say
-- why).  A line is read through r's buffer: the bytes that came after it
-- stay there for the next read.
local BY_READER = {
  send = function(r, data) return r:send(data) end,
  receive = function(r, pattern)
    if type(pattern) == "number" then return r:exact(pattern) end
    if pattern == "*l" or pattern == "l" then
      -- (no line of a head may be longer than all of it)
      local line, err = r:line(http1.MAX_HEADER_BYTES)
      if line and r.status_line == false then
        -- the status line next_head awaits, kept for it to judge; a bad
        -- one ends resty.http's read at once, not after a head to come
        r.status_line = line
        if not http1.status_line(line) then return nil, "bad status line" end
      elseif line and r.status_line and line ~= "" and not line:find("^[ \t]") and not http1.header_line(line) then
        -- a line of its head that is no field (a folded one aside, which
        -- ends resty.http's head): resty.http would take a field from
        -- anywhere in it ("X-Note Content-Length: 2"), or end the head
        -- there, the rest of it taken for the body
        r.bad_line = line
        return nil, "bad header line"
      end
      if line then return line end
      if err == "too large" then err = http1.HEAD_TOO_LARGE end
      return nil, err
    end
    if pattern == "*a" or pattern == "a" then return r:rest(math.huge) end
    error("the resty.http adapter reads no pattern " .. tostring(pattern), 2)
  end,
  receiveany = function(r, max) return r:some(max) end,
}

--- sock as resty.http is to see it, and the http1 reader its reads go
-- through, which is also the attempt (wait_ms's) until deadline: before
-- each wait, its timeouts are re-armed to what is left of the attempt
-- (connecting and the handshake also to at most connect_ms), and once
-- nothing is left the wait fails at once with "timeout".  resty.http sets
-- timeouts once, and a cosocket's bound each wait alone, so a head whose
-- lines drip in would stretch the attempt without end.  seen.failed names
-- the last wait that failed, for the kind of a failure resty.http reports
-- only in words.
local function bounded(sock, deadline, connect_ms, seen)
  local r = http1.reader(sock, deadline, connect_ms)
  return setmetatable({}, { __index = function(_, name)
    local method = sock[name]
    if BY_READER[name] then
      return function(_, ...) return noted(seen, name, BY_READER[name](r, ...)) end
    end
    if not WAITS[name] then
      if type(method) ~= "function" then return method end
      return function(_, ...) return method(sock, ...) end
    end
    return function(_, ...)
      local ok, err = r:arm()
      if not ok then return noted(seen, name, nil, err) end
      return noted(seen, name, method(sock, ...))
    end
  end }), r
end

local HANDSHAKES = { sslhandshake = true, tlshandshake = true }

--- Reads a body that ends with the connection (no length, no chunks)
-- through res.body_reader, each read bounded (through the socket) by what
-- is left of the attempt, and asking for no more than the byte past
-- limit: the bytes are counted as they come, as libcurl counts them.
-- resty.http hands over the last bytes with the error "closed".  body,
-- or nil, kind, message.
local function read_body(res, limit)
  local parts, size = {}, 0
  if not res.body_reader then return "" end
  while true do
    local chunk, err = res.body_reader(math.min(READ_CHUNK, limit - size + 1))
    local last = err == "closed"
    if err and not last then return nil, kind_of_error(err), "reading the answer: " .. tostring(err) end
    if not chunk then return table.concat(parts) end
    size = size + #chunk
    if size > limit then return nil, "RESPONSE_TOO_LARGE", too_large(limit) end
    parts[#parts + 1] = chunk
    if last then return table.concat(parts) end
  end
end

--- Header name's lines in a head's headers hs, as given: a string, or a
-- list when repeated.  resty.http's header table ignores case, a plain one
-- may not.
local function lines_of(hs, name)
  hs = hs or {}
  return hs[name] or hs[lower(name)]
end

--- Its value.  A repeated one's lines are joined with ", "; but of a
-- field the client reads as one value (single), the last line counts,
-- trimmed, as the other transports keep it.

local function header_of(hs, name, single)
  local v = lines_of(hs, name)
  if type(v) == "table" then v = single and v[#v] or table.concat(v, ", ") end
  if v and single then v = trim(v) end
  return v
end

--- The next head resty.http reads (read_response's res), the first bytes
-- of its status line judged first as the built-in client and libcurl
-- judge them, before resty.http waits for the line's end, and then the
-- whole line: resty.http reads the status from its 10th to 12th bytes
-- whatever comes around them, and takes any HTTP/1.x ("HTTP/1.1 2000" is
-- a 200 to it).  res, or nil, kind, message; the line's HTTP/1.x minor
-- version is left in reader.minor.
local function next_head(httpc, params, reader)
  local ok, kind, msg = http1.await_status_line(reader)
  if not ok then return nil, kind, msg end
  reader.status_line, reader.bad_line = false, nil
  local res, err = httpc:read_response(params)
  local line = reader.status_line
  reader.status_line = nil
  if line then
    local minor, why = http1.status_line(line)
    if not minor then return nil, "PROTOCOL", why end
    reader.minor = minor
  end
  if reader.bad_line then return nil, "PROTOCOL", "bad header line in the answer: " .. reader.bad_line end
  if not res then return nil, kind_of_error(err), "reading the answer: " .. tostring(err) end
  return res
end

--- One attempt over one connection: response, or nil, kind, message,
-- not_sent, stale (stale: a pooled connection failed before any answer
-- came, so the server most likely closed it while idle).
local function send_once(link, http, cfg, req, u, deadline)
  local connect_ms = config.ms(cfg.connect_timeout)
  local ms = left_ms(deadline) or 1
  local httpc, seen = http.new(), {}
  local sock, reader = bounded(httpc.sock, deadline, connect_ms, seen)
  httpc.sock = sock
  httpc:set_timeouts(math.min(ms, connect_ms), ms, ms)
  -- (ssl_server_name nil, for an IP address: resty.http then sends none)
  local ok, err = http1.connect_to(u, function(host)
    return httpc:connect {
      scheme = u.scheme, host = host, port = u.port, pool = link.pool,
      ssl_server_name = u.name, ssl_verify = cfg.tls_verify ~= false,
      proxy_opts = link.proxy_opts,
    }
  end)
  if not ok then
    -- resty.http reports a failed handshake through connect too, in words
    -- that may quote a host name ("ssl-gw…"): the socket says which wait
    -- failed.  Either way no byte of the request left.
    local e = tostring(err)
    if HANDSHAKES[seen.failed] then return nil, e:find("timeout", 1, true) and "TIMEOUT" or "TLS", e, true end
    return nil, kind_of(err), e, true
  end
  if u.scheme == "https" and not httpc.sock:getreusedtimes() then return nil, "TLS", http1.closed_handshake(u), true end
  local unchecked = http1.unchecked_name(cfg, u)
  if unchecked then
    httpc:close()
    return nil, "TLS", unchecked, true
  end
  if not left_ms(deadline) then
    -- (said here, while it is sure that no byte of the request left)
    httpc:close()
    return nil, "TIMEOUT", "the attempt's time ran out before its request was sent", true
  end
  local function fail(kind, msg)
    httpc:close()
    return nil, kind, msg, false
  end
  local headers = { ["Accept-Encoding"] = http1.ACCEPT_ENCODING }
  for name, value in pairs(req.headers) do headers[name] = value end
  local params = { method = req.method, path = u.path, headers = headers, body = req.body }
  -- resty.http's request(), in its two steps: a server may answer before
  -- it has read the whole request (a refusal on its head alone, say) and
  -- close, so that the send fails with the answer already in the socket,
  -- which is read all the same, as libcurl and the built-in client read
  -- it.  Only when no byte of an answer came is the send's failure the
  -- attempt's.
  local sent, send_err = httpc:send_request(params)
  local res, kind, msg = next_head(httpc, params, reader)
  if not res then
    if not sent and not reader.got_any then
      kind, msg = kind_of_error(send_err), "sending the request: " .. tostring(send_err)
    end
    -- (as the built-in client and libcurl: only when no byte of an answer
    -- came; after some, the server had read the request)
    local stale = (httpc:get_reused_times() or 0) > 0 and kind == "NETWORK" and not reader.got_any
    httpc:close()
    return nil, kind, msg, false, stale
  end
  -- resty.http hands over an interim answer (1xx) as the answer: the
  -- real one, still to come, is read after it, every head counting
  -- towards the limit (as libcurl counts them).  But 101 switches to
  -- another protocol, never asked for: it is the answer, as under libcurl.
  local head, length, why = 0
  while true do
    local status = res.status
    if type(status) ~= "number" or status < 100 or status > 999 or status % 1 ~= 0 then
      return fail("PROTOCOL", "bad status line in the answer")
    end
    local bytes, nul = head_bytes(res.headers or {})
    head = head + bytes
    if head > http1.MAX_HEADER_BYTES then return fail("RESPONSE_TOO_LARGE", http1.HEAD_TOO_LARGE) end
    -- (as the built-in client and libcurl refuse it)
    if nul then return fail("PROTOCOL", "a NUL byte in a header line of the answer") end
    -- Every head's Content-Length is checked, as the built-in client and
    -- libcurl check it.
    local lines = lines_of(res.headers, "Content-Length")
    local fits
    if type(lines) == "string" then lines = { lines } end
    fits, length, msg = http1.head_length(lines, status, cfg.max_response_bytes)
    if not fits then return fail(length, msg) end
    if status >= 200 or status == 101 then break end
    res, kind, msg = next_head(httpc, params, reader)
    if not res then return fail(kind, msg) end
  end
  local function header(name) return header_of(res.headers, name) end
  local status, limit = res.status, cfg.max_response_bytes
  -- Only an answer read to its end, by its length or its chunks and
  -- trailers, goes back to the pool: a 204 or 304 may have a body on the
  -- wire all the same, and after a 101 comes another protocol.
  local body, whole
  if status == 101 or status == 204 or status == 304 then
    body = ""
  else
    -- Only chunked alone frames a body in chunks; any other coding is
    -- refused, as the built-in client and libcurl refuse it.
    local chunked
    chunked, why = http1.chunked_coding(header("Transfer-Encoding"))
    if chunked == nil then return fail("PROTOCOL", why) end
    if not chunked and header("Transfer-Encoding") ~= nil then
      -- A Transfer-Encoding naming no coding still overrides the length,
      -- as libcurl reads it: the body ends with the connection (resty.http
      -- would go by the length; its reads are all in reader's buffer).
      body, err = reader:rest(limit)
      if err == "too large" then
        kind, msg = "RESPONSE_TOO_LARGE", too_large(limit)
      elseif not body then
        kind, msg = kind_of(err), "reading the answer: " .. tostring(err)
      end
    elseif chunked then
      -- Read here, by http1's rules, as libcurl reads them: resty.http
      -- takes a body for chunks only when its Transfer-Encoding is
      -- "chunked" exactly ("chunked " is not, though RFC 9112 5 trims the
      -- space), and would otherwise hand over their framing as the body.
      local closed
      body, closed, msg = http1.read_chunked(reader, limit, header("Content-Length"))
      if body then whole = not closed else kind = closed end
    elseif length then
      -- Read here, by http1's rules: resty.http takes no list of equal
      -- lengths (RFC 9110 8.6), and would wait for a length over the limit.
      if length > limit then return fail("RESPONSE_TOO_LARGE", too_large(limit)) end
      body = ""
      if length > 0 then body, err = httpc.sock:receive(length) end
      if not body then
        kind, msg = kind_of(err), ("the answer was cut short (%d bytes announced): %s"):format(length, err)
      end
      whole = true
    else
      body, kind, msg = read_body(res, limit)
    end
  end
  if not body then return fail(kind, msg) end
  -- (a 101 is the answer, and no body follows it: HTTP 101, as libcurl)
  msg = status ~= 101 and http1.coded(header("Content-Encoding"))
  if msg then return fail("PROTOCOL", msg) end
  -- (bytes past the body, read with its last line, are an answer no
  -- request asked for; set_keepalive refuses those still in the socket's
  -- own buffer, and leaves it open)
  -- Whether the server keeps the connection is read here, as the built-in
  -- client reads it (http1.closes): resty.http lowers Connection through a
  -- pcall that a repeated field (its list) fails, and then keeps the
  -- connection ("Connection: keep-alive" and "Connection: close" on two
  -- lines).
  if not (link.keep and whole and sent and not http1.closes(header("Connection"), reader.minor)
          and reader:left() == 0
          and httpc:set_keepalive(link.keepalive_ms, link.pool_size)) then
    httpc:close()
  end
  return {
    status = status, body = body, request_id = header_of(res.headers, "X-Request-Id", true),
    date = header_of(res.headers, "Date", true), retry_after = header_of(res.headers, "Retry-After", true),
  }
end

function M.send(http, cfg, req, u, link, deadline)
  return http1.resending(link, send_once, http, cfg, req, u, deadline)
end

return M
