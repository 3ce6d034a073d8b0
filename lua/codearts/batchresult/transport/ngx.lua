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
--     to as 127.0.0.1, and as ::1 when that is refused (as libcurl tries
--     both), while TLS still checks the name "localhost".
--   * Proxies.  The built-in client speaks to the endpoint directly; the
--     proxy option is refused unless lua-resty-http is there to use it,
--     and then unless it is an http:// proxy, the only kind resty.http
--     speaks to.
--
-- Only the phases that may yield have cosockets; M.available() says
-- whether this is one of them.
local config = require "codearts.batchresult.config"
local core = require "codearts.batchresult.core"
local lower = require("codearts.batchresult.text").lower

local M = {}

-- The phases (ngx.get_phase() names) in which ngx_lua 0.10.23 lets Lua
-- yield, and so offers cosockets, ngx.thread and ngx.sleep.  Not
-- ssl_client_hello: ngx_lua documents it as yieldable, but under Debian's
-- nginx a yield there aborts the handshake.  Nor ssl_session_fetch, for
-- the same reason: its OpenSSL has no asynchronous session lookup, and
-- ngx_lua kills the handler at its first yield, past any pcall ("cannot
-- yield in sess get cb"), so that the call would never return.
local YIELDABLE = {
  server_rewrite = true, rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true,
}

-- What to do instead of a call in a phase without cosockets: run it in a
-- timer, which every such phase may start but these two.
local TIMER = "run the call in a timer instead, ngx.timer.at(0, function() … end)"
local INSTEAD = {
  -- (nginx's master, before any worker runs: a timer there fails, "no request")
  init = "make it from init_worker_by_lua instead, in a timer started there, ngx.timer.at(0, function() … end)",
  -- (the worker is exiting: ngx_lua disables timers there too)
  exit_worker = "no call can be made there, as ngx_lua disables timers there too: make it before the worker exits",
}

--- Whether this code runs inside nginx's Lua VM (ngx_lua or the resty
-- CLI), where a call must not block: the transport a call picks when the
-- client names none.  ngx.run_worker_thread's Lua has ngx.get_phase but
-- no ngx.socket, and there libcurl may block, as that thread is for.
-- Read raw: ngx_lua's fields are the table's own, and a test's stand-in
-- for ngx may raise at a field it lacks.
function M.inside_nginx()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" then return false end
  local ngx_config = rawget(ngx, "config")
  return type(rawget(ngx, "get_phase")) == "function" and type(rawget(ngx, "socket")) == "table"
    and type(ngx_config) == "table" and rawget(ngx_config, "ngx_lua_version") ~= nil
end

--- true when cosockets can be used here and now; else false and why:
-- the phase, and where to go instead.
function M.available()
  if not M.inside_nginx() then
    local ngx = rawget(_G, "ngx")
    if type(ngx) == "table" and type(rawget(ngx, "get_phase")) == "function" and rawget(ngx, "socket") == nil then
      return false, "the ngx transport needs cosockets, which ngx.run_worker_thread's Lua has none of: "
        .. "leave the transport unset there, and libcurl is used"
    end
    return false, "the ngx transport works only inside nginx (OpenResty / ngx_lua)"
  end
  local phase = ngx.get_phase()
  if YIELDABLE[phase] then return true end
  return false, ("cannot send from nginx's %s phase: ngx_lua offers no cosockets there, and a "
    .. "blocking call would stall the whole process; %s"):format(phase, INSTEAD[phase] or TIMER)
end

--- true when the running code may yield, as a call waiting on cosockets
-- does; else false and why.  In a phase that may, Lua still cannot yield
-- inside some calls: string.gsub's or table.sort's callback, a module's
-- main chunk that require runs, an error handler, a finalizer.  A light
-- thread spawned there makes ngx_lua abort the request, past any pcall,
-- so this asks the VM first (core.can_yield; LuaJIT has it).  Not with a
-- probe such as ngx.sleep(0), which leaves its timer armed when it fails.
function M.yieldable()
  if core.can_yield() ~= false then return true end
  return false, "cannot send from here: Lua cannot yield here (a string.gsub or table.sort callback, a "
    .. "module's main chunk that require runs, an error handler, a finalizer); call from the handler itself, "
    .. "or from a timer, ngx.timer.at(0, function() … end)"
end

--- url -> { scheme, host (as connected to), name (for SNI and the
-- certificate check; nil for an IP address), port, path, fallback (where
-- to connect when host refuses: localhost's ::1; nil) }, or nil, message.
local function parse_url(url)
  local scheme, host, port, path = config.split_url(url)
  if not scheme then return nil, "the URL " .. host end
  if scheme ~= "http" and scheme ~= "https" then return nil, "unsupported scheme " .. scheme end
  port = port or (scheme == "https" and 443 or 80)
  -- name is what TLS checks the certificate against, and sends as the
  -- server name (SNI): ngx_lua uses one value for both.  An IP address
  -- (an IPv6 literal, in the brackets cosockets take it with) is no name:
  -- RFC 6066 3 forbids sending it, and libcurl sends none.  Without a
  -- name ngx_lua checks only the chain, so such an endpoint fails closed
  -- once verified (http1.unchecked_name).
  local name, fallback = host, nil
  if host:sub(1, 1) == "[" or host:find("^%d+%.%d+%.%d+%.%d+$") then
    name = nil
  elseif host == "localhost" then
    host, fallback = "127.0.0.1", "[::1]"
  end
  if path == "" then path = "/" end
  return { scheme = scheme, host = host, name = name, port = port, path = path, fallback = fallback }
end

-- Pools ----------------------------------------------------------------------

-- Connections are kept for a minute, as long as the server does not ask
-- to close them, as many per pool as a client may have in flight: a pool
-- smaller than the call's concurrency closes the rest at setkeepalive, so
-- that every call reconnects them.  ngx_lua fixes a pool's size when it
-- first makes it, whatever later calls ask for, so one size serves every
-- client: the largest concurrency allowed.
local KEEPALIVE_MS, POOL_SIZE = 60000, config.LIMITS.max_concurrency

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
-- A query that found a pooled connection dead goes once more through it
-- too (http1.resending), so on a new connection.
local FRESH_POOL = "codearts.batchresult:fresh"

--- Where the connection for a request to u comes from, and where it goes
-- after: { pool, keep (hand it back to the pool), resend (the link to send
-- once more through when a pooled connection turns out dead, or false),
-- keepalive_ms, pool_size, proxy_opts (resty.http's) }.  t: the transport.
local function link_for(t, u, idempotent)
  local fresh = { pool = FRESH_POOL, keep = false, resend = false, proxy_opts = t.proxy_opts }
  if idempotent == false then return fresh end
  -- One pool per scheme, host, port, name, TLS verification and proxy: a
  -- connection verified for one name, or not verified at all, must never
  -- serve another client's request, nor a tunnel opened with one proxy
  -- login another login's.
  return {
    pool = ("codearts.batchresult:%s:%s:%d:%s:%s:%s"):format(u.scheme, u.host, u.port, u.name or "",
      t.cfg.tls_verify == false and "noverify" or "verify", t.proxy_pool or ""),
    keep = true, resend = fresh, keepalive_ms = KEEPALIVE_MS, pool_size = POOL_SIZE,
    proxy_opts = t.proxy_opts,
  }
end

-- The key of the digest that names a proxy login's pools: resty.http
-- and nginx's debug log print pool names, so a name must not show the
-- login, nor let a short password be found by digesting guesses.  Made
-- once per Lua VM (OpenSSL's generator, through core.random; should it
-- fail, the key is known, and a name still shows no login), so that a
-- login's name is the same for every client, and the worker keeps no
-- login at all.
local LOGIN_KEY = ("%.17g:%.17g:%.17g:%.17g"):format(core.random(), core.random(), core.random(),
  core.random())

--- The proxy options resty.http takes for cfg.proxy (an http:// URL, the
-- only kind it speaks to), and the proxy's part of a pool name; or nil,
-- why.  resty.http reads no user information in a proxy URL (it would take
-- the user name for the host): the login goes as Proxy-Authorization.
local function resty_proxy(proxy)
  local url, login = config.proxy_parts(proxy)
  local scheme = lower(url:match("^[^:]*"))
  if scheme ~= "http" then
    return nil, "the proxy option's scheme is " .. scheme .. ", and lua-resty-http speaks only to http:// proxies"
  end
  local opts = { http_proxy = url, https_proxy = url }
  local pool = url
  if login then
    local user, password = login:match("^([^:]*):?(.*)$")
    -- (decoded as libcurl reads a URL's login: ngx.unescape_uri would make
    -- a "+" a space, as in a form)
    local decoded = config.percent_decoded
    local auth = "Basic " .. ngx.encode_base64(decoded(user) .. ":" .. decoded(password))
    opts.http_proxy_authorization, opts.https_proxy_authorization = auth, auth
    -- named by what opens the tunnel, so that two logins never share one
    pool = pool .. "#login" .. ngx.encode_base64(ngx.hmac_sha1(LOGIN_KEY, auth))
  end
  return opts, pool
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

-- What a wait on a semaphore asks for when it may take as long as it
-- takes: every request in flight ends within its own timeout, so this is
-- only the unit of a loop (ngx.semaphore counts milliseconds in an int).
local WAIT_SLICE = 3600

--- seconds as a semaphore is to wait them: it counts whole milliseconds,
-- and would return from a wait under one at once, without yielding, so
-- that a call waiting for a retry's time to come would spin until it came
-- (seen: 42 turns).  0 stays a look at what is in.
local function sema_seconds(seconds)
  return seconds > 0 and math.max(seconds, 0.001) or 0
end

-- How the threads are arranged.  Each request runs in a light thread of
-- its own, so that the call's coroutine may do anything between two waits
-- (a callback that sleeps, uses a cosocket or runs another call): the
-- threads go on, put their outcomes in the transport's queue and post its
-- semaphore, and wait() takes them from there.
--
-- Those threads are not the call's children but a dispatcher's, a light
-- thread that starts, reaps and kills them on the call's orders.  ngx_lua
-- lets only a thread's parent wait on it or kill it, and keeps a thread
-- that ended, with its request open, until its parent waits on it or
-- ends: were the call's coroutine the parent, a call left in a coroutine
-- that is never resumed would hold its nginx request open for good.  The
-- dispatcher is spawned from a coroutine that ends at once, so it has no
-- parent to keep it: it ends (and is gone) once it has no thread left,
-- and a later request spawns another.

local unpack = table.unpack or unpack

--- Spawns f(...) as a light thread with no live parent.  Returns true,
-- or nil, why.
local function spawn_orphan(f, ...)
  local args = { n = select("#", ...), ... }
  local ok, err = coroutine.resume(coroutine.create(function()
    return ngx.thread.spawn(f, unpack(args, 1, args.n))
  end))
  if not ok then return nil, err end
  return true
end

--- Puts an outcome where wait() takes it, unless the transport was
-- cancelled since the request started (epoch).
local function deliver(self, epoch, token, res, kind, msg, not_sent)
  if self.epoch ~= epoch then return end
  self.tail = self.tail + 1
  self.queue[self.tail] = { token, res, kind, msg, not_sent == true }
  self.sema:post(1)
end

local dispatch -- the dispatcher's body, below

--- Gives the dispatcher an order: { "start", token, epoch, req, u, link,
-- deadline }, { "reap", token } or { "kill" }; spawns one when none runs.
-- Returns true, or nil, why.
local function order(self, o)
  self.orders[#self.orders + 1] = o
  if self.dispatching then
    self.order_sema:post(1)
    return true
  end
  self.dispatching = true
  local ok, why = spawn_orphan(dispatch, self)
  if not ok then self.dispatching = false end
  return ok, why
end

--- One request, in a thread of the dispatcher's.
local function run_request(self, token, epoch, req, u, link, deadline)
  -- The sender reports network events as kinds; pcall turns a bug into a
  -- kind too, so that the call always learns how the request ended.
  local done, res, kind, msg, not_sent = pcall(self.send, self.cfg, req, u, link, deadline)
  if not done then res, kind, msg, not_sent = nil, "INTERNAL", tostring(res), false end
  deliver(self, epoch, token, res, kind, msg, not_sent)
  order(self, { "reap", token })
end

--- The dispatcher's body: carries out the orders as they come, and ends
-- when no request is left running.
function dispatch(self)
  local threads = {} -- token -> the light thread running that request
  while true do
    local orders = self.orders
    self.orders = {}
    for _, o in ipairs(orders) do
      local what, token = o[1], o[2]
      if what == "start" then
        local ok, thread = pcall(ngx.thread.spawn, run_request, self, unpack(o, 2, 7))
        if ok then
          threads[token] = thread
        else
          deliver(self, o[3], token, nil, "INTERNAL", "cannot start a light thread: " .. tostring(thread), true)
        end
      elseif what == "reap" then
        -- the thread has ended: waiting on it returns at once, and frees it
        if threads[token] then ngx.thread.wait(threads[token]) end
        threads[token] = nil
      else -- kill; a killed thread's cosocket is closed, never reused
        for _, thread in pairs(threads) do ngx.thread.kill(thread) end
        threads = {}
      end
    end
    if next(threads) == nil and #self.orders == 0 then
      self.dispatching = false
      return
    end
    if #self.orders == 0 then self.order_sema:wait(WAIT_SLICE) end
  end
end

local Transport = {}
Transport.__index = Transport

--- cfg: the client's configuration (timeouts, TLS, proxy, size limit).
-- how (optional): { http = "builtin" | "resty" } picks the HTTP client;
-- by default lua-resty-http when it loads, else the built-in one.  The
-- transport, or nil, kind, message and, when an option is why, its name.
function M.new(cfg, how)
  if not M.inside_nginx() then
    return nil, "INTERNAL", "the ngx transport works only inside nginx (OpenResty / ngx_lua)"
  end
  how = how or {}
  -- (an http:// endpoint, on loopback, trusts no CA)
  if (cfg.ca_file or cfg.ca_path) and not cfg.endpoint:find("^http://") then
    return nil, "INVALID_ARGUMENT", "ca_file and ca_path cannot be used inside nginx: ngx_lua takes "
      .. "trusted CAs only from nginx's lua_ssl_trusted_certificate directive; set it there",
      cfg.ca_file and "ca_file" or "ca_path"
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
  local send, proxy_opts, proxy_pool
  if http then
    local adapter = require "codearts.batchresult.transport.resty_http"
    send = function(...) return adapter.send(http, ...) end
    which = "resty"
    if cfg.proxy then
      proxy_opts, proxy_pool = resty_proxy(cfg.proxy)
      if not proxy_opts then return nil, "INVALID_ARGUMENT", proxy_pool, "proxy" end
    end
  else
    if cfg.proxy then
      return nil, "INVALID_ARGUMENT", "the proxy option needs lua-resty-http inside nginx; "
        .. "the built-in client connects directly", "proxy"
    end
    send = require("codearts.batchresult.transport.http1").send
    which = "builtin"
  end
  -- lua-resty-core, which ngx_lua 0.10.16 and later cannot run without.
  local semaphore = require "ngx.semaphore"
  local sema, why = semaphore.new(0)
  local order_sema = sema and semaphore.new(0)
  if not order_sema then return nil, "INTERNAL", "cannot make a semaphore: " .. tostring(why) end
  return setmetatable({
    cfg = cfg, send = send, http = which, semaphore = semaphore,
    proxy_opts = proxy_opts, proxy_pool = proxy_pool,
    next_token = 0,
    -- the call's side: requests started whose outcome was not yet let
    -- go (ack), and their outcomes, oldest first (queue[head..tail]), with
    -- the semaphore posted once for each but the one given (queue[head],
    -- when given)
    in_flight = 0, queue = {}, head = 1, tail = 0, given = false, sema = sema,
    -- bumped by cancel(): an outcome of an earlier epoch is dropped
    epoch = 0,
    -- the dispatcher's side: its orders, and whether it runs
    orders = {}, order_sema = order_sema, dispatching = false,
  }, Transport)
end

function Transport:start(req, opts)
  if self.closed then return nil, "INTERNAL", "the transport is closed" end
  local ok, why = M.available()
  if not ok then return nil, "INTERNAL", why end
  local u
  u, why = parse_url(req.url)
  if not u then return nil, "INTERNAL", why end
  -- (nginx times the cosocket's waits by its cached clock: fresh, as in
  -- wait(); the attempt itself is timed by the monotonic clock, http1.lua)
  ngx.update_time()
  local deadline = core.now() + opts.timeout_ms / 1000
  self.next_token = self.next_token + 1
  local token = self.next_token
  ok, why = order(self, { "start", token, self.epoch, req, u, link_for(self, u, opts.idempotent), deadline })
  if not ok then
    self.orders = {}
    return nil, "INTERNAL", "cannot start a light thread: " .. tostring(why)
  end
  self.in_flight = self.in_flight + 1
  return token
end

--- The oldest outcome queued, given: it stays first in the queue, which
-- ready() gives again, until ack() (or the next wait) lets it go.
local function give(self)
  local out = self.queue[self.head]
  self.given = true
  if out[2] then return out[1], out[2] end
  return out[1], nil, out[3], out[4], out[5]
end

function Transport:ack()
  if not self.given then return end
  local head = self.head
  self.queue[head], self.head, self.given = nil, head + 1, false
  self.in_flight = self.in_flight - 1
end

function Transport:wait(seconds)
  -- The caller's code ran since the last wait, and may have blocked the
  -- worker (os.execute in a callback, say) while nginx's cached clock
  -- stood still.  nginx times its next event wait by that clock: stale,
  -- a read timer already due looks as far off as it was before the block,
  -- and would fire that much late (a whole timeout late, seen).
  ngx.update_time()
  self:ack()
  if self.in_flight == 0 then
    -- Slept on the semaphore, which cancel() posts, so that a client
    -- closed elsewhere ends a call waiting out a retry's delay at once.
    if seconds and seconds > 0 then self.sema:wait(sema_seconds(seconds)) end
    return nil, "idle"
  end
  local sema, epoch = self.sema, self.epoch
  local ok, err
  repeat
    ok, err = sema:wait(seconds and sema_seconds(seconds) or WAIT_SLICE)
  until ok or seconds or err ~= "timeout"
  if self.epoch ~= epoch then return nil, "idle" end -- cancelled while waiting
  if not ok then
    if err == "timeout" then return nil, "waited" end
    -- Not a network event: the semaphore refused to wait here at all.
    error("the ngx transport cannot wait: " .. tostring(err), 0)
  end
  return give(self)
end

function Transport:ready()
  if self.given then return give(self) end
  if self.head > self.tail then return nil end
  -- (the semaphore's post for it, which its count holds: 0 never yields)
  self.sema:wait(0)
  return give(self)
end

--- Abandons every request this transport started and has no outcome of
-- yet, from whatever coroutine (client:close() cancels its calls'
-- transports): no outcome of theirs surfaces afterwards, the dispatcher
-- kills their threads as soon as it runs, and a caller waiting is woken.
-- The outcomes already queued stay, for ready() (and wait) to give, as
-- the transport contract has it (transport/curl.lua).
function Transport:cancel()
  local old, queued = self.sema, self.tail - self.head + 1
  self.in_flight = queued
  self.epoch = self.epoch + 1
  -- (posted once for each outcome queued, as deliver does, but the one
  -- given, whose post was taken)
  self.sema = self.semaphore.new(self.given and queued - 1 or queued) or old
  local waiting = -old:count()
  if waiting > 0 then old:post(waiting) end
  if self.dispatching then order(self, { "kill" }) end
end

function Transport:close()
  self:cancel()
  self.queue, self.head, self.tail, self.in_flight, self.given = {}, 1, 0, 0, false
  self.closed = true
end

-- For the specs, which check it outside nginx.
M._parse_url = parse_url

return M
