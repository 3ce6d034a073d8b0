--- The OpenResty transport: requests go over ngx_lua cosockets, each in
-- its own ngx.thread, so a call yields to nginx's event loop while it
-- waits and never blocks the worker.  It offers the calls documented at
-- the top of transport/curl.lua (start, wait, cancel, close).
--
-- HTTP goes through lua-resty-http when `require "resty.http"` works, and
-- otherwise through the small HTTP/1.1 client below (Debian packages no
-- lua-resty-http; this client is the one that usually runs).
--
-- What nginx decides, not this module:
--   * Trusted CAs.  ngx_lua (0.10.23) verifies a server against the
--     `lua_ssl_trusted_certificate` file given to nginx, and cannot take a
--     CA file per socket, so the ca_file and ca_path options are refused
--     here: set `lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;`
--     (and `lua_ssl_verify_depth`) in the http block instead.  Without it,
--     every verified handshake fails, which is the safe way to fail.
--   * Name resolution.  Cosockets resolve names with nginx's `resolver`
--     directive, which reads no /etc/hosts; the endpoint's host needs one
--     (`resolver 127.0.0.53;` or the like).  "localhost" is the exception:
--     it always means the loopback address (RFC 6761), so it is connected
--     to as 127.0.0.1 while TLS still checks the name "localhost".
--   * Proxies.  The built-in client speaks to the endpoint directly; the
--     proxy option is refused unless lua-resty-http is there to use it.
--
-- Only the phases that may yield have cosockets; M.available() says
-- whether this is one of them.
local config = require "codearts.batchresult.config"

local M = {}

-- The phases (ngx.get_phase() names) in which ngx_lua 0.10.23 lets Lua
-- yield, and so offers cosockets, ngx.thread and ngx.sleep.
local YIELDABLE = {
  server_rewrite = true, rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

--- Whether this code runs inside nginx's Lua VM (ngx_lua or the resty
-- CLI), where a call must not block.
function M.inside_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
    and type(ngx.socket) == "table" and ngx.config ~= nil and ngx.config.ngx_lua_version ~= nil
end

--- true when cosockets can be used here and now; else false and why:
-- the phase, and where to go instead.
function M.available()
  if not M.inside_nginx() then
    return false, "the ngx transport works only inside nginx (OpenResty / ngx_lua)"
  end
  local phase = ngx.get_phase()
  if YIELDABLE[phase] then return true end
  return false, ("cannot send from nginx's %s phase: ngx_lua offers no cosockets there, and a "
    .. "blocking call would stall the whole worker; run the call in a timer instead, "
    .. "ngx.timer.at(0, function() … end)"):format(phase)
end

-- Connections are kept for a minute, up to 32 per pool, as long as the
-- server does not ask to close them.
local KEEPALIVE_MS, POOL_SIZE = 60000, 32
-- The most a status line plus headers may take.
local MAX_HEADER_BYTES = config.LIMITS.max_header_bytes
local HEAD_TOO_LARGE = ("the answer's headers or trailers exceed %d bytes"):format(MAX_HEADER_BYTES)
local READ_CHUNK = 65536

local function too_large(limit)
  return ("the answer is larger than the limit of %d bytes"):format(limit)
end

--- url -> { scheme, host (as connected to), name (for SNI and the
-- certificate check), port, path }, or nil, message.
local function parse_url(url)
  local scheme, authority, path = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil, "not an absolute URL: " .. url end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return nil, "unsupported scheme " .. scheme end
  local host, rest = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, rest = authority:match("^([^:%[%]]+)(.*)$") end
  if not host then return nil, "no host in " .. url end
  local port = scheme == "https" and 443 or 80
  if rest ~= "" then
    port = tonumber(rest:match("^:(%d+)$"))
    if not port or port < 1 or port > 65535 then return nil, "bad port in " .. url end
  end
  host = host:lower()
  -- name is what TLS checks the certificate against (and sends in SNI:
  -- ngx_lua uses one value for both).  nginx checks it as a DNS name only,
  -- so an IP address endpoint verifies only against a certificate that
  -- carries the address as a name, and fails closed otherwise; it is
  -- never left out, which would skip the check altogether.
  local name = host
  if host:sub(1, 1) == "[" then
    -- An IPv6 literal: cosockets take it with its brackets.
    name = host:sub(2, -2)
  elseif host == "localhost" then
    host = "127.0.0.1"
  end
  if path == "" then path = "/" end
  return { scheme = scheme, host = host, name = name, port = port, path = path }
end

--- A cosocket error as the kind of failure it is.
local function kind_of(err)
  if err == "timeout" then return "TIMEOUT" end
  return "NETWORK"
end

-- Reading an answer --------------------------------------------------------

--- Reads lines and counted bytes from sock, keeping what one read brought
-- beyond the line asked for.  Every read first checks the deadline.
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline, timeouts)
  return setmetatable({ sock = sock, buf = "", deadline = deadline, timeouts = timeouts,
                        got_any = false }, Reader)
end

-- The read timeout is what is left of the request's time, so that slow
-- drips of bytes cannot stretch it.
function Reader:arm()
  local left = self.deadline - ngx.now()
  if left <= 0 then return nil, "timeout" end
  local ms = math.max(1, math.floor(left * 1000))
  self.sock:settimeouts(self.timeouts.connect, ms, ms)
  return true
end

--- More bytes into buf; nil, err at the end of the stream or on failure.
function Reader:fill()
  local ok, err = self:arm()
  if not ok then return nil, err end
  local data
  data, err = self.sock:receiveany(READ_CHUNK)
  if not data then return nil, err end
  self.got_any = true
  self.buf = self.buf .. data
  return true
end

--- One line without its CRLF; nil, err, or nil, "too large" past limit
-- bytes.
function Reader:line(limit)
  while true do
    local nl = self.buf:find("\n", 1, true)
    if nl then
      local line = self.buf:sub(1, nl - 1)
      self.buf = self.buf:sub(nl + 1)
      if line:sub(-1) == "\r" then line = line:sub(1, -2) end
      return line
    end
    if #self.buf > limit then return nil, "too large" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

--- Exactly n bytes: what is buffered, then straight from the socket.
function Reader:exact(n)
  if #self.buf >= n then
    local s = self.buf:sub(1, n)
    self.buf = self.buf:sub(n + 1)
    return s
  end
  local head = self.buf
  self.buf = ""
  local ok, err = self:arm()
  if not ok then return nil, err end
  local rest
  rest, err = self.sock:receive(n - #head)
  if not rest then return nil, err end
  self.got_any = true
  return head .. rest
end

--- Everything up to the end of the stream, at most limit bytes.
function Reader:rest(limit)
  local parts, size = { self.buf }, #self.buf
  self.buf = ""
  while size <= limit do
    local ok, err = self:arm()
    if not ok then return nil, err end
    local data
    data, err = self.sock:receiveany(READ_CHUNK)
    if not data then
      if err == "closed" then return table.concat(parts) end
      return nil, err
    end
    parts[#parts + 1] = data
    size = size + #data
  end
  return nil, "too large"
end

--- The status and headers (lower-case names; repeated ones joined with
-- ", "), skipping 1xx interim answers.  nil, kind, message on failure.
local function read_head(r)
  local budget = MAX_HEADER_BYTES
  while true do
    local line, err = r:line(budget)
    if not line then
      if err == "too large" then return nil, "NETWORK", HEAD_TOO_LARGE end
      return nil, kind_of(err), "reading the answer's status line: " .. err
    end
    budget = budget - #line
    local minor, status = line:match("^HTTP/1%.(%d) (%d%d%d)")
    if not status then
      return nil, "NETWORK", "not an HTTP/1.x answer: " .. line:sub(1, 60)
    end
    status = tonumber(status)
    local headers = {}
    while true do
      line, err = r:line(budget)
      if not line then
        if err == "too large" then return nil, "NETWORK", HEAD_TOO_LARGE end
        return nil, kind_of(err), "reading the answer's headers: " .. err
      end
      budget = budget - #line
      if line == "" then break end
      local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = name:lower()
        headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      end
    end
    if status >= 200 or status < 100 then
      return status, headers, minor == "0"
    end
  end
end

--- A chunked body, at most limit bytes.
local function read_chunked(r, limit)
  local parts, size = {}, 0
  while true do
    local line, err = r:line(1024)
    if not line then
      if err == "too large" then return nil, "NETWORK", "a chunk size line is too long" end
      return nil, kind_of(err), "the answer was cut short: " .. err
    end
    local hex = line:match("^(%x+)")
    local n = hex and #hex <= 15 and tonumber(hex, 16)
    if not n then return nil, "NETWORK", "bad chunk size line in the answer" end
    if n == 0 then break end
    size = size + n
    if size > limit then return nil, "RESPONSE_TOO_LARGE", too_large(limit) end
    local data
    data, err = r:exact(n + 2)
    if not data then return nil, kind_of(err), "the answer was cut short: " .. err end
    if data:sub(-2) ~= "\r\n" then return nil, "NETWORK", "bad chunk framing in the answer" end
    parts[#parts + 1] = data:sub(1, -3)
  end
  -- Trailers, if any, up to the empty line that ends the message.
  while true do
    local line, err = r:line(MAX_HEADER_BYTES)
    if not line then
      if err == "too large" then return nil, "NETWORK", HEAD_TOO_LARGE end
      return nil, kind_of(err), "the answer was cut short: " .. err
    end
    if line == "" then break end
  end
  return table.concat(parts)
end

-- Sending one request with the built-in client ------------------------------

--- The request as the pieces of one send() call.
local function request_bytes(req, u)
  local parts = { req.method, " ", u.path, " HTTP/1.1\r\n" }
  local body = req.body or ""
  local have_host, have_length = false, false
  for name, value in pairs(req.headers or {}) do
    name, value = tostring(name), tostring(value)
    -- Values are checked when a client is made; a header split here
    -- would be a request smuggled by whoever chose the value.
    if name:find("[%c%s:]") or value:find("[\r\n%z]") then
      return nil, "header " .. name .. " holds a control character"
    end
    local lower = name:lower()
    if lower == "host" then have_host = true end
    if lower == "content-length" then have_length = true end
    parts[#parts + 1] = name
    parts[#parts + 1] = ": "
    parts[#parts + 1] = value
    parts[#parts + 1] = "\r\n"
  end
  if not have_host then
    parts[#parts + 1] = "Host: " .. req.url:match("^%a[%w+.-]*://([^/?#]*)") .. "\r\n"
  end
  if not have_length and (#body > 0 or req.method == "POST" or req.method == "PUT") then
    parts[#parts + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  parts[#parts + 1] = "\r\n"
  parts[#parts + 1] = body
  return parts
end

--- Connects (or takes a pooled connection) and, for https, shakes hands.
-- Returns sock, or nil, kind, message, not_sent.
local function connect(cfg, u, deadline, timeouts)
  local sock = ngx.socket.tcp()
  local left = math.max(1, math.floor((deadline - ngx.now()) * 1000))
  sock:settimeouts(math.min(timeouts.connect, left), left, left)
  -- One pool per scheme, host, port and TLS verification: a connection
  -- verified for one name, or not verified at all, must never serve
  -- another client's request.
  local pool = ("codearts.batchresult:%s:%s:%d:%s:%s"):format(u.scheme, u.host, u.port,
    u.name, cfg.tls_verify == false and "noverify" or "verify")
  local ok, err = sock:connect(u.host, u.port, { pool = pool })
  if not ok then
    -- Nothing reached the server: the request may safely go again.
    return nil, kind_of(err), ("cannot connect to %s:%d: %s"):format(u.host, u.port, err), true
  end
  if u.scheme == "https" and sock:getreusedtimes() == 0 then
    -- A pooled connection has shaken hands already.
    -- false: no session object is wanted back.
    ok, err = sock:sslhandshake(false, u.name, cfg.tls_verify ~= false)
    if not ok then
      sock:close()
      if err == "timeout" then return nil, "TIMEOUT", "TLS handshake with " .. u.host .. ": timeout" end
      return nil, "TLS", "TLS handshake with " .. u.name .. " failed: " .. tostring(err)
    end
    -- ngx_lua 0.10.23 may report success for a handshake whose host name
    -- check failed (seen when the server resumes a session), having
    -- closed the connection and logged why; that is still a failure.
    if not sock:getreusedtimes() then
      return nil, "TLS", "TLS handshake with " .. u.name .. " failed: nginx closed the "
        .. "connection (its error log says why, e.g. a certificate that does not match the host name)"
    end
  end
  return sock
end

--- One attempt over one connection.  Returns response, or nil, kind,
-- message, not_sent, stale (stale: a pooled connection died before any
-- byte of an answer came, so the server most likely closed it while idle).
local function exchange_once(cfg, req, u, deadline, timeouts, limit)
  local sock, kind, msg, not_sent = connect(cfg, u, deadline, timeouts)
  if not sock then return nil, kind, msg, not_sent end
  local reused = (sock:getreusedtimes() or 0) > 0
  local bytes, why = request_bytes(req, u)
  if not bytes then
    sock:close()
    return nil, "INTERNAL", why, true
  end
  local _, err = sock:send(bytes)
  if err then
    sock:close()
    return nil, kind_of(err), "sending the request: " .. err, false, reused and err ~= "timeout"
  end

  local r = new_reader(sock, deadline, timeouts)
  local status, headers, http10 = read_head(r)
  if not status then
    sock:close()
    local stale = reused and not r.got_any and headers ~= "TIMEOUT"
    return nil, headers, http10, false, stale
  end

  local body
  local te = headers["transfer-encoding"]
  local length = headers["content-length"]
  local until_close = false
  if te and te:lower():find("chunked%s*$") then
    body, kind, msg = read_chunked(r, limit)
  elseif te then
    -- Some other coding: the body ends with the connection.
    until_close = true
  elseif length then
    local n = length:match("^%s*(%d+)%s*$")
    n = n and #n <= 15 and tonumber(n)
    if not n then
      body, kind, msg = nil, "NETWORK", "bad Content-Length in the answer: " .. length:sub(1, 40)
    elseif n > limit then
      body, kind, msg = nil, "RESPONSE_TOO_LARGE", too_large(limit)
    elseif n == 0 then
      body = ""
    else
      body, err = r:exact(n)
      if not body then
        kind, msg = kind_of(err), ("the answer was cut short (%d bytes announced): %s"):format(n, err)
      end
    end
  elseif status == 204 or status == 304 or req.method == "HEAD" then
    body = ""
  else
    until_close = true
  end
  if until_close then
    body, err = r:rest(limit)
    if not body then
      if err == "too large" then
        kind, msg = "RESPONSE_TOO_LARGE", too_large(limit)
      else
        kind, msg = kind_of(err), "reading the answer: " .. err
      end
    end
  end
  if not body then
    sock:close()
    return nil, kind, msg, false
  end

  local conn = (headers.connection or ""):lower()
  if until_close or r.buf ~= "" or conn:find("close", 1, true)
      or (http10 and not conn:find("keep-alive", 1, true)) then
    sock:close()
  else
    sock:setkeepalive(KEEPALIVE_MS, POOL_SIZE)
  end
  return {
    status = status, body = body, request_id = headers["x-request-id"], date = headers.date,
    retry_after = headers["retry-after"],
  }
end

--- Sends req with the built-in client.  Returns response, or nil, kind,
-- message, not_sent.
local function builtin_send(cfg, req, opts)
  local u, why = parse_url(req.url)
  if not u then return nil, "INTERNAL", why, true end
  ngx.update_time()
  local deadline = ngx.now() + opts.timeout_ms / 1000
  local timeouts = { connect = config.ms(cfg.connect_timeout) }
  local limit = cfg.max_response_bytes
  local res, kind, msg, not_sent, stale = exchange_once(cfg, req, u, deadline, timeouts, limit)
  if not res and stale then
    -- As libcurl does: a kept-alive connection the server had closed is
    -- no failure of this request; send it once more on a new one.
    res, kind, msg, not_sent = exchange_once(cfg, req, u, deadline, timeouts, limit)
  end
  if res then return res end
  return nil, kind, msg, not_sent
end

-- Sending one request with lua-resty-http -----------------------------------

local function resty_send(http, cfg, req, opts)
  local u, why = parse_url(req.url)
  if not u then return nil, "INTERNAL", why, true end
  local ms = opts.timeout_ms
  local httpc = http.new()
  httpc:set_timeouts(math.min(ms, config.ms(cfg.connect_timeout)), ms, ms)
  -- No pool name: resty.http makes one from the scheme, host, port, TLS
  -- settings and proxy, which is what keeps pooled connections apart.
  local ok, err = httpc:connect {
    scheme = u.scheme, host = u.host, port = u.port,
    ssl_server_name = u.name, ssl_verify = cfg.tls_verify ~= false,
    proxy_opts = cfg.proxy and { http_proxy = cfg.proxy, https_proxy = cfg.proxy } or nil,
  }
  if not ok then
    -- resty.http reports a failed handshake through connect too.
    local e = tostring(err)
    if e:find("handshake", 1, true) or e:find("certificate", 1, true) or e:find("ssl", 1, true) then
      return nil, e:find("timeout", 1, true) and "TIMEOUT" or "TLS", e
    end
    return nil, kind_of(err), e, true
  end
  local res
  res, err = httpc:request { method = req.method, path = u.path, headers = req.headers, body = req.body }
  if not res then
    httpc:close()
    return nil, kind_of(err), "sending the request: " .. tostring(err), false
  end
  local limit = cfg.max_response_bytes
  local parts, size = {}, 0
  if res.body_reader then
    while true do
      local chunk
      chunk, err = res.body_reader(READ_CHUNK)
      if err then
        httpc:close()
        return nil, kind_of(err), "reading the answer: " .. tostring(err), false
      end
      if not chunk then break end
      size = size + #chunk
      if size > limit then
        httpc:close()
        return nil, "RESPONSE_TOO_LARGE", too_large(limit), false
      end
      parts[#parts + 1] = chunk
    end
  end
  httpc:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
  local h = res.headers or {}
  local function header(name)
    -- resty.http's header table ignores case; a plain one may not.
    local v = h[name] or h[name:lower()]
    if type(v) == "table" then v = table.concat(v, ", ") end
    return v
  end
  return {
    status = res.status, body = table.concat(parts), request_id = header("X-Request-Id"),
    date = header("Date"), retry_after = header("Retry-After"),
  }
end

-- The transport ------------------------------------------------------------

-- lua-resty-http's module, or false when it cannot be loaded: looked up
-- once per worker, since a failed require searches the file system again
-- each time (and a transport is made for every call).
local resty_http
local function find_resty_http()
  if resty_http == nil then
    local ok, mod = pcall(require, "resty.http")
    resty_http = ok and type(mod) == "table" and mod or false
  end
  return resty_http
end

local Transport = {}
Transport.__index = Transport

--- cfg: the client's configuration (timeouts, TLS, proxy, size limit).
-- how (optional): { http = "builtin" | "resty" } picks the HTTP client;
-- by default lua-resty-http when it loads, else the built-in one.
function M.new(cfg, how)
  if not M.inside_nginx() then
    return nil, "INTERNAL", "the ngx transport works only inside nginx (OpenResty / ngx_lua)"
  end
  how = how or {}
  if cfg.ca_file or cfg.ca_path then
    return nil, "INVALID_ARGUMENT", "ca_file and ca_path cannot be used inside nginx: ngx_lua takes "
      .. "trusted CAs only from nginx's lua_ssl_trusted_certificate directive; set it there"
  end
  local send
  local which = how.http
  local http
  if which == "resty" then
    local ok, mod = pcall(require, "resty.http")
    if not ok or type(mod) ~= "table" then
      return nil, "INTERNAL", "resty.http cannot be loaded: " .. tostring(mod)
    end
    http = mod
  elseif which ~= "builtin" then
    http = find_resty_http()
  end
  if http then
    send = function(req, opts) return resty_send(http, cfg, req, opts) end
    which = "resty"
  else
    if cfg.proxy then
      return nil, "INVALID_ARGUMENT", "the proxy option needs lua-resty-http inside nginx; "
        .. "the built-in client connects directly"
    end
    send = function(req, opts) return builtin_send(cfg, req, opts) end
    which = "builtin"
  end
  return setmetatable({
    send = send, http = which, next_token = 0,
    -- What each caller has in flight, by the coroutine that called start:
    -- only the coroutine that spawned a light thread may wait on it or
    -- kill it, and one client may serve many requests at once.
    calls = setmetatable({}, { __mode = "k" }),
  }, Transport)
end

--- The current request's context table, or false where there is none
-- (ngx.ctx is missing from the ssl_* phases).
local function request_ctx()
  local ok, ctx = pcall(function() return ngx.ctx end)
  return ok and ctx or false
end

--- The caller's in-flight state, made when missing.  ngx_lua recycles
-- coroutines from one request to the next, so state left by a request
-- that ended mid-call (its threads gone with it) is dropped.
function Transport:state(create)
  local co = coroutine.running()
  local key = co or "main"
  local st = self.calls[key]
  local ctx = request_ctx()
  if st and st.ctx ~= ctx then
    st = nil
    self.calls[key] = nil
  end
  if not st and create then
    st = { ctx = ctx, threads = {}, by_token = {}, token_of = {} }
    self.calls[key] = st
  end
  return st
end

function Transport:start(req, opts)
  if self.closed then return nil, "INTERNAL", "the transport is closed" end
  local ok, why = M.available()
  if not ok then return nil, "INTERNAL", why end
  local st = self:state(true)
  self.next_token = self.next_token + 1
  local token = self.next_token
  local send = self.send
  local spawned, thread = pcall(ngx.thread.spawn, function()
    -- The thread always reports its token, an error included, so the
    -- waiting side knows which request ended.
    local done, res, kind, msg, not_sent = pcall(send, req, opts)
    if not done then return token, nil, "INTERNAL", tostring(res), false end
    return token, res, kind, msg, not_sent
  end)
  if not spawned then return nil, "INTERNAL", tostring(thread) end
  st.threads[#st.threads + 1] = thread
  st.by_token[token], st.token_of[thread] = thread, token
  return token
end

local function sleeper(seconds)
  ngx.sleep(seconds)
  return false
end

local unpack = table.unpack or unpack

--- Forgets thread, which has ended.
local function forget(st, thread, token)
  st.token_of[thread] = nil
  for i, t in ipairs(st.threads) do
    if t == thread then
      table.remove(st.threads, i)
      break
    end
  end
  if token then st.by_token[token] = nil end
end

function Transport:wait(seconds)
  local st = self:state(false)
  if not st or #st.threads == 0 then
    -- ngx.sleep counts whole milliseconds, and ngx.sleep(0) only yields
    -- (loudly, in Debian's nginx, which lacks OpenResty's patch for it).
    if seconds and seconds > 0 then ngx.sleep(math.max(seconds, 0.001)) end
    return nil
  end
  local list = { unpack(st.threads) }
  local timer
  if seconds then
    -- ngx.thread.wait takes no timeout: a sleeping thread stands for one.
    timer = ngx.thread.spawn(sleeper, math.max(seconds, 0.001))
    list[#list + 1] = timer
  end
  local ok, token, res, kind, msg, not_sent = ngx.thread.wait(unpack(list))
  if timer then ngx.thread.kill(timer) end
  if ok and token == false then return nil end
  if not ok then
    -- The thread body cannot raise (it runs under pcall), so this is a
    -- thread ended from elsewhere; report it as failed all the same, so
    -- that the caller's count of requests in flight stays true.
    local gone = st.threads[1]
    for _, t in ipairs(st.threads) do
      if coroutine.status(t) == "dead" then
        gone = t
        break
      end
    end
    pcall(ngx.thread.kill, gone)
    local lost = st.token_of[gone]
    forget(st, gone, lost)
    return lost, nil, "INTERNAL", "the request's light thread ended abnormally: " .. tostring(token), false
  end
  forget(st, st.by_token[token], token)
  if not res then return token, nil, kind, msg, not_sent == true end
  return token, res
end

function Transport:cancel()
  local st = self:state(false)
  if not st then return end
  for _, thread in ipairs(st.threads) do
    -- Killing a thread closes its cosocket: the connection is not reused.
    pcall(ngx.thread.kill, thread)
  end
  st.threads, st.by_token, st.token_of = {}, {}, {}
end

function Transport:close()
  self:cancel()
  self.closed = true
end

-- For the specs, which check it outside nginx.
M._parse_url = parse_url

return M
