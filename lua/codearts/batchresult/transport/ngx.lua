--- The OpenResty transport: requests go over ngx_lua cosockets, each in
-- its own ngx.thread, so a call yields to nginx's event loop while it
-- waits and never blocks the worker.  It offers the calls documented at
-- the top of transport/curl.lua (start, wait, cancel, close).
--
-- This file holds the transport: the phases it works in, the light
-- threads and the waiting, and which pooled connection a request may
-- use.  HTTP goes through lua-resty-http when `require "resty.http"`
-- works (transport/resty_http.lua adapts it), and otherwise through the
-- built-in HTTP/1.1 client (transport/http1.lua; Debian packages no
-- lua-resty-http, so that is the one that usually runs).
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

-- Pools ----------------------------------------------------------------------

-- Connections are kept for a minute, up to 32 per pool, as long as the
-- server does not ask to close them.
local KEEPALIVE_MS, POOL_SIZE = 60000, 32

-- A request that must go on the network at most once (BatchRunPipeline:
-- opts.idempotent == false) never takes a pooled connection.  A kept-alive
-- connection may have been closed by the server while idle, and a request
-- written on it can fail in a way that cannot tell "the server never read
-- it" from "the server read it and died": the usual answer (libcurl's, and
-- this transport's for reads) is to send it again, which could start the
-- pipelines twice.  So such a request connects through this pool name,
-- into which no connection is ever put (it is closed after its answer,
-- never handed to setkeepalive): ngx_lua finds nothing to reuse there and
-- makes a new connection, whose failure before the request was written is
-- a plain failure to connect (not_sent), and whose failure after it is
-- final.  The price is one connection setup (and TLS handshake) per
-- BatchRunPipeline batch, which starts pipelines: a rare, slow call.
local FRESH_POOL = "codearts.batchresult:fresh"

--- Where the connection for a request to u comes from, and where it goes
-- after: { pool, keep (hand it back to the pool), resend (send once more
-- when a pooled connection turns out dead), keepalive_ms, pool_size }.
local function link_for(cfg, u, idempotent)
  if idempotent == false then
    return { pool = FRESH_POOL, keep = false, resend = false }
  end
  -- One pool per scheme, host, port, name, TLS verification and proxy: a
  -- connection verified for one name, or not verified at all, must never
  -- serve another client's request.
  return {
    pool = ("codearts.batchresult:%s:%s:%d:%s:%s:%s"):format(u.scheme, u.host, u.port, u.name,
      cfg.tls_verify == false and "noverify" or "verify", cfg.proxy or ""),
    keep = true, resend = true, keepalive_ms = KEEPALIVE_MS, pool_size = POOL_SIZE,
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

-- What wait() asks the semaphore for when told to wait as long as it
-- takes: every request in flight ends within its own timeout, so this is
-- only the unit of a loop (ngx.semaphore counts milliseconds in an int).
local WAIT_SLICE = 3600

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
  local which, http = how.http, nil
  if which == "resty" then
    local ok, mod = pcall(require, "resty.http")
    if not ok or type(mod) ~= "table" then
      return nil, "INTERNAL", "resty.http cannot be loaded: " .. tostring(mod)
    end
    http = mod
  elseif which ~= "builtin" then
    http = find_resty_http()
  end
  local send
  if http then
    local adapter = require "codearts.batchresult.transport.resty_http"
    send = function(...) return adapter.send(http, ...) end
    which = "resty"
  else
    if cfg.proxy then
      return nil, "INVALID_ARGUMENT", "the proxy option needs lua-resty-http inside nginx; "
        .. "the built-in client connects directly"
    end
    send = require("codearts.batchresult.transport.http1").send
    which = "builtin"
  end
  -- lua-resty-core, which ngx_lua 0.10.16 and later cannot run without.
  local semaphore = require "ngx.semaphore"
  local sema, why = semaphore.new(0)
  if not sema then return nil, "INTERNAL", "cannot make a semaphore: " .. tostring(why) end
  return setmetatable({
    cfg = cfg, send = send, http = which, semaphore = semaphore, sema = sema,
    next_token = 0,
    -- token -> { thread, co }: the light thread running that request and
    -- the coroutine that spawned it (the only one ngx_lua lets wait on it
    -- or kill it)
    threads = {},
    in_flight = 0,
    -- outcomes not yet taken by wait(), oldest first: queue[head..tail]
    queue = {}, head = 1, tail = 0,
    -- bumped by cancel(): a thread of an earlier epoch reports nothing
    epoch = 0,
  }, Transport)
end

--- Starts req in a light thread, which puts its outcome in the queue and
-- posts the semaphore.  Each request of a call has a thread of its own, so
-- the call's coroutine may do anything between two waits (a callback that
-- sleeps, uses a cosocket or runs another call): the threads go on, and
-- wait() finds their outcomes queued.
function Transport:start(req, opts)
  if self.closed then return nil, "INTERNAL", "the transport is closed" end
  local ok, why = M.available()
  if not ok then return nil, "INTERNAL", why end
  local u
  u, why = parse_url(req.url)
  if not u then return nil, "INTERNAL", why end
  ngx.update_time()
  local deadline = ngx.now() + opts.timeout_ms / 1000
  local link = link_for(self.cfg, u, opts.idempotent)
  self.next_token = self.next_token + 1
  local token, epoch, send, cfg = self.next_token, self.epoch, self.send, self.cfg
  self.in_flight = self.in_flight + 1
  local spawned, thread = pcall(ngx.thread.spawn, function()
    -- The sender reports network events as kinds; pcall turns a bug into
    -- a kind too, so that the call always learns how the request ended.
    local done, res, kind, msg, not_sent = pcall(send, cfg, req, u, link, deadline)
    if self.epoch ~= epoch then return end -- cancelled: nobody wants it
    if not done then res, kind, msg, not_sent = nil, "INTERNAL", tostring(res), false end
    self.tail = self.tail + 1
    self.queue[self.tail] = { token, res, kind, msg, not_sent == true }
    self.sema:post(1)
  end)
  if not spawned then
    self.in_flight = self.in_flight - 1
    return nil, "INTERNAL", "cannot start a light thread: " .. tostring(thread)
  end
  self.threads[token] = { thread = thread, co = coroutine.running() }
  return token
end

--- Collects a light thread that has ended, so that a long-lived coroutine
-- (a timer looping over calls) does not keep every one it spawned.
local function reap(t)
  if t and t.co == coroutine.running() and coroutine.status(t.thread) ~= "suspended" then
    pcall(ngx.thread.wait, t.thread)
  end
end

function Transport:wait(seconds)
  if self.in_flight == 0 then
    -- ngx.sleep counts whole milliseconds, and ngx.sleep(0) only yields
    -- (loudly, in Debian's nginx, which lacks OpenResty's patch for it).
    if seconds and seconds > 0 then ngx.sleep(math.max(seconds, 0.001)) end
    return nil, "idle"
  end
  local sema, epoch = self.sema, self.epoch
  local ok, err
  repeat
    ok, err = sema:wait(seconds or WAIT_SLICE)
  until ok or seconds or err ~= "timeout"
  if self.epoch ~= epoch then return nil, "idle" end -- cancelled while waiting
  if not ok then
    if err == "timeout" then return nil, "waited" end
    -- Not a network event: the semaphore refused to wait here at all.
    error("the ngx transport cannot wait: " .. tostring(err), 0)
  end
  local head = self.head
  local out = self.queue[head]
  self.queue[head], self.head = nil, head + 1
  self.in_flight = self.in_flight - 1
  local token = out[1]
  reap(self.threads[token])
  self.threads[token] = nil
  if out[2] then return token, out[2] end
  return token, nil, out[3], out[4], out[5]
end

--- Abandons every request this transport started: their threads are
-- killed where ngx_lua allows it (from the coroutine that spawned them);
-- any other ends by itself within its timeout, and reports nothing.  A
-- caller waiting is woken, and finds nothing in flight.
function Transport:cancel()
  local me = coroutine.running()
  for _, t in pairs(self.threads) do
    -- Killing a thread closes its cosocket: the connection is not reused.
    if t.co == me then pcall(ngx.thread.kill, t.thread) end
  end
  local old = self.sema
  self.threads, self.queue, self.head, self.tail, self.in_flight = {}, {}, 1, 0, 0
  self.epoch = self.epoch + 1
  self.sema = self.semaphore.new(0) or old
  local waiting = -old:count()
  if waiting > 0 then old:post(waiting) end
end

function Transport:close()
  self:cancel()
  self.closed = true
end

-- For the specs, which check it outside nginx.
M._parse_url = parse_url

return M
