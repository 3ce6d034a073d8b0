-- The Lua side of spec/ngx_spec.lua: what nginx's Lua handlers run.  Loaded
-- inside nginx (LuaJIT, ngx_lua), once per worker; the spec starts nginx
-- with spec/support/nginx.lua and drives these handlers over HTTP.
--
-- Environment (nginx `env` directives): STANDIN_URL (the stand-in), DEAD_URL
-- (where nothing listens), TLS_URL (the stand-in over HTTPS, its CA given to
-- nginx as lua_ssl_trusted_certificate), TLS_IP_URL (the same by IP address),
-- UNTRUSTED_URL (HTTPS with a CA nginx does not trust), CA_FILE (a CA file),
-- V6_URL (a stand-in on [::1]), LOCALHOST_V6_URL (the same as localhost),
-- CLIENT_CERT_URL (HTTPS, TLS 1.3, requiring a client certificate).
local br = require "codearts.batchresult"
local ngx_transport = require "codearts.batchresult.transport.ngx"
local model = require "spec.standin.model"
local cjson = require "cjson.safe"

local M = {}

local creds = model.credentials.permanent

-- Clients shared by every request of this worker, made on first use.
local clients = {}

-- name -> the options of that client (endpoint filled in later).
local PROFILES = {
  default = {},
  -- the same, with the transport named, as a user may do
  named = { transport = "ngx" },
  wrong_sk = { sk = "not-the-right-secret-key-0001" },
  dead = { endpoint_env = "DEAD_URL", max_retries = 1 },
  once = { max_retries = 0 },
  retry_once = { max_retries = 1 },
  small = { max_response_bytes = 4096, max_retries = 0 },
  short = { timeout = 0.3, max_retries = 0 },
  v6 = { endpoint_env = "V6_URL" },
  localhost_v6 = { endpoint_env = "LOCALHOST_V6_URL" },
  tls = { endpoint_env = "TLS_URL" },
  tls_ip = { endpoint_env = "TLS_IP_URL" },
  untrusted = { endpoint_env = "UNTRUSTED_URL", max_retries = 0 },
  client_cert = { endpoint_env = "CLIENT_CERT_URL", max_retries = 2, max_retry_wait = 0.05 },
  insecure = { endpoint_env = "UNTRUSTED_URL", tls_verify = false },
  ca_file = { endpoint_env = "TLS_URL", ca_file_env = "CA_FILE" },
  ca_file_http = { ca_file_env = "CA_FILE" },
  -- this nginx itself, as the fake API below
  self = { endpoint_env = "SELF_URL", max_retries = 0 },
  self_small = { endpoint_env = "SELF_URL", max_retries = 0, max_response_bytes = 4096 },
}

function M.client(name)
  local c = clients[name]
  if c then return c end
  local p = PROFILES[name]
  if not p then return nil, "no client profile " .. tostring(name) end
  local endpoint = os.getenv(p.endpoint_env or "STANDIN_URL")
  if p.endpoint_env == "SELF_URL" then
    -- this nginx's port is known only once it runs
    endpoint = "http://127.0.0.1:" .. ngx.var.server_port
  end
  local o = { endpoint = endpoint, project_id = model.seed_project, ak = creds.ak, sk = creds.sk }
  for k, v in pairs(p) do
    if k == "ca_file_env" then
      o.ca_file = os.getenv(v)
    elseif k ~= "endpoint_env" then
      o[k] = v
    end
  end
  local err
  c, err = br.new(o)
  if not c then return nil, err end
  clients[name] = c
  return c
end

--- n distinct generated pairs.
local function generated(n) return model.make_pairs("ngx", n) end

--- A query's outcome as plain JSON-able data.
local function outcome(results, err)
  if results then
    local list = {}
    for i, r in ipairs(results) do list[i] = r end
    return { ok = true, results = list, missing = results.missing }
  end
  if type(err) ~= "table" then return { ok = false, err = { code = "?", message = tostring(err) } } end
  return {
    ok = false,
    err = {
      code = err.code, message = err.message, status = err.status, request_id = err.request_id,
      retryable = err.retryable, attempts = err.attempts, text = tostring(err), option = err.option,
      unanswered = err.unanswered and #err.unanswered, batches = err.batches,
      failed_batches = err.failed_batches,
    },
  }
end

--- Runs a query as args say: client (profile name), n (generated pairs;
-- the seed's six when absent), batch_size, concurrency, deadline, and
-- raise_after (an on_progress that raises once that many pairs are done).
function M.run_query(args)
  local c, cerr = M.client(args.client or "default")
  if not c then return outcome(nil, cerr) end
  local list = model.seed_query
  if args.n then list = generated(tonumber(args.n)) end
  local opts = {}
  if args.batch_size then opts.batch_size = tonumber(args.batch_size) end
  if args.concurrency then opts.concurrency = tonumber(args.concurrency) end
  if args.deadline then opts.deadline = tonumber(args.deadline) end
  if args.raise_after then
    opts.on_progress = function(done)
      if done >= tonumber(args.raise_after) then error("stop here", 0) end
    end
  end
  ngx.update_time()
  local started = ngx.now()
  local ok, results, err = pcall(c.query, c, list, opts)
  if not ok then return { ok = false, err = { code = "RAISED", message = tostring(results) } } end
  local out = outcome(results, err)
  ngx.update_time()
  out.seconds = ngx.now() - started
  return out
end

--- content_by_lua: GET /query?client=…&n=… -> the outcome as JSON.
function M.query_handler()
  local out = M.run_query(ngx.req.get_uri_args())
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end

--- Stores a query's outcome (and the phase it ran in) in the `box`
-- shared dict under key.
function M.query_into_box(key, args)
  local ok, out = pcall(M.run_query, args or {})
  if not ok then out = { ok = false, err = { code = "RAISED", message = tostring(out) } } end
  out.phase = ngx.get_phase()
  out.available = { ngx_transport.available() }
  ngx.shared.box:set(key, cjson.encode(out))
end

--- query_into_box, and then the box's entry in nginx's error log (at
-- warn), for a phase after which no request reads the box: exit_worker.
function M.query_into_log(key)
  M.query_into_box(key)
  ngx.log(ngx.WARN, "box[", key, "]=", ngx.shared.box:get(key))
end

--- A timer that runs the query and stores its outcome under key.
function M.query_in_timer(key, args)
  return ngx.timer.at(0, function(premature)
    if premature then return end
    M.query_into_box(key, args)
  end)
end

--- content_by_lua: GET /box?key=… -> what was stored there (404 when
-- nothing yet).
function M.box_handler()
  local v = ngx.shared.box:get(ngx.var.arg_key)
  if not v then return ngx.exit(404) end
  ngx.header.content_type = "application/json"
  ngx.say(v)
end

--- content_by_lua: GET /timer?key=…&client=… -> 202 at once; the query
-- runs in a timer.
function M.timer_handler()
  local args = ngx.req.get_uri_args()
  local ok, err = M.query_in_timer(args.key, args)
  if not ok then
    ngx.status = 500
    return ngx.say(err)
  end
  ngx.status = 202
  ngx.say("started")
end

-- A fake API answered by this same nginx, for the shapes of answer the
-- stand-in never sends: chunked bodies, `Connection: close`, interim 100s,
-- and raw bytes (mode "raw").
-- The mode comes from the `box` dict (key "fake_mode").
function M.fake_api(forced)
  local mode = forced or ngx.shared.box:get("fake_mode") or "chunked"
  if mode == "close" and not forced then
    -- keepalive_timeout 0 there: nginx itself says `Connection: close`
    -- and closes after the answer.
    return ngx.exec("@fake_close")
  end
  ngx.req.read_body()
  if mode == "raw" then
    -- bytes no HTTP server would write, as the spec gave them (box
    -- "raw_steps": strings to write, numbers of seconds to wait), on the
    -- raw connection, closed after them
    local sock = assert(ngx.req.socket(true))
    for _, step in ipairs(cjson.decode(ngx.shared.box:get("raw_steps"))) do
      if type(step) == "number" then ngx.sleep(step) else sock:send(step) end
    end
    return
  end
  local req = cjson.decode(ngx.req.get_body_data() or "") or {}
  local body = cjson.encode({ result = model.results_for(req.query or {}) })
  ngx.header.content_type = "application/json;charset=UTF-8"
  ngx.header["X-Request-Id"] = "fake-" .. ngx.var.request_id
  if mode == "close" then
    ngx.header["Content-Length"] = #body
    ngx.print(body)
    return
  end
  if mode == "huge_chunked" then
    -- a body growing past any small limit, its size never announced
    ngx.print(body:sub(1, -2))
    for _ = 1, 64 do
      ngx.print((" "):rep(1024))
      ngx.flush(true)
    end
    ngx.print("}")
    return
  end
  -- chunked: several flushes, so the body travels in several chunks
  local step = math.max(1, math.floor(#body / 5))
  for i = 1, #body, step do
    ngx.print(body:sub(i, i + step - 1))
    ngx.flush(true)
  end
end

--- content_by_lua: GET /fake_mode?mode=…
function M.fake_mode_handler()
  ngx.shared.box:set("fake_mode", ngx.var.arg_mode)
  ngx.say("ok")
end

--- content_by_lua: GET /resty -> one request through the ngx transport's
-- resty.http path (with the test double standing in for lua-resty-http),
-- driven by hand: { http, status, request_id, results, log }.
function M.resty_handler()
  local fake = require "spec.nginx.fake_resty_http"
  package.loaded["resty.http"] = fake
  local t, kind, msg = ngx_transport.new({ timeout = 5, connect_timeout = 2, tls_verify = true,
                                           max_response_bytes = 1048576 }, { http = "resty" })
  package.loaded["resty.http"] = nil
  if not t then return ngx.say(cjson.encode({ error = kind .. ": " .. msg })) end
  local req = assert(M.client("default"):prepare(model.seed_query))
  local token = assert(t:start(req, { timeout_ms = 3000, idempotent = true }))
  local got, res, wkind, wmsg = t:wait()
  -- what the double was asked for this request (the next one adds to it)
  local log = { timeouts = { unpack(fake.log.timeouts) } }
  for k, v in pairs(fake.log) do log[k] = log[k] or v end
  local out = { http = t.http, same_token = got == token, log = log }
  -- then a request that must go at most once: its own connection, closed after
  local ids = {}
  for i, r in ipairs(model.seed_query) do ids[i] = r.pipeline_id end
  local keepalives = fake.log.keepalives
  assert(t:start(assert(M.client("default"):prepare(ids, { operation = "run" })),
    { timeout_ms = 3000, idempotent = false }))
  local _, run_res = t:wait()
  t:close()
  out.run = { status = run_res and run_res.status, pool = fake.log.connect.pool,
              keepalives = fake.log.keepalives - keepalives }
  if res then
    out.status, out.request_id = res.status, res.request_id
    local list = {}
    for i, r in ipairs(assert(br.decode(res.body))) do list[i] = r end
    out.results = list
  else
    out.error = tostring(wkind) .. ": " .. tostring(wmsg)
  end
  ngx.say(cjson.encode(out))
end

--- content_by_lua: GET /resty_proxy -> what the transport hands
-- resty.http (the test double) for a proxy with a login; how it refuses a
-- proxy resty.http cannot speak to; and how it names a failure to
-- connect to a host whose name holds "ssl" (no resolver here): { status,
-- pool, proxy_opts, refused, unresolved }.
function M.resty_proxy_handler()
  local fake = require "spec.nginx.fake_resty_http"
  package.loaded["resty.http"] = fake
  local function cfg(proxy)
    return { timeout = 5, connect_timeout = 2, tls_verify = true, max_response_bytes = 1048576, proxy = proxy }
  end
  -- (the double connects to the endpoint itself, whatever the proxy)
  local t = assert(ngx_transport.new(cfg("http://al%40ice:S3cret%3Ap+w@127.0.0.1:9"), { http = "resty" }))
  assert(t:start(assert(M.client("default"):prepare(model.seed_query)), { timeout_ms = 3000, idempotent = true }))
  local _, res = t:wait()
  t:close()
  local out = { status = res and res.status, pool = fake.log.connect.pool, proxy_opts = fake.log.connect.proxy_opts }
  local refused, kind, msg = ngx_transport.new(cfg("socks5://127.0.0.1:9"), { http = "resty" })
  out.refused = { made = refused ~= nil, kind = kind, message = msg }
  t = assert(ngx_transport.new(cfg(), { http = "resty" }))
  assert(t:start({ method = "POST", url = "https://ssl-gw.example.invalid/v5/x", headers = {}, body = "{}" },
    { timeout_ms = 3000, idempotent = true }))
  local _, _, fkind, fmsg, not_sent = t:wait()
  t:close()
  out.unresolved = { kind = fkind, message = fmsg, not_sent = not_sent }
  package.loaded["resty.http"] = nil
  ngx.say(cjson.encode(out))
end

--- content_by_lua: POST /raw_steps with the steps' JSON as its body (its
-- location keeps a body that long in memory) -> stored for the fake API's
-- raw mode.
function M.raw_steps_handler()
  ngx.req.read_body()
  ngx.shared.box:set("raw_steps", ngx.req.get_body_data())
  ngx.say("ok")
end

--- The sockets this worker holds open.
local function open_sockets()
  local p = assert(io.popen("ls -l /proc/" .. ngx.worker.pid() .. "/fd"))
  local n = select(2, p:read("*a"):gsub("socket:", ""))
  p:close()
  return n
end

--- content_by_lua: GET /attempt?http=builtin|resty&timeout_ms=n[&settle=s][&pooled=1]
-- -> one attempt of a query of this nginx's fake API through that client
-- (the test double standing in for resty.http), driven by hand: { status,
-- kind, message, seconds }, and with settle, sockets: how many more this
-- worker holds s seconds after the attempt than before it; with pooled,
-- pooled: whether the attempt left its connection in its pool (a socket
-- connected through the pool's name, as transport/ngx.lua's link_for
-- names it, took one).
function M.attempt_handler()
  local args = ngx.req.get_uri_args()
  local before = args.settle and open_sockets()
  package.loaded["resty.http"] = require "spec.nginx.fake_resty_http"
  local t = assert(ngx_transport.new({ timeout = 5, connect_timeout = 2, tls_verify = true,
                                       max_response_bytes = 1048576 }, { http = args.http }))
  package.loaded["resty.http"] = nil
  ngx.update_time()
  local started = ngx.now()
  assert(t:start(assert(M.client("self"):prepare(model.seed_query)),
    { timeout_ms = tonumber(args.timeout_ms), idempotent = true }))
  local _, res, kind, msg = t:wait()
  ngx.update_time()
  local seconds = ngx.now() - started
  local pooled
  if args.pooled then
    local port = tonumber(ngx.var.server_port)
    local probe = ngx.socket.tcp()
    probe:settimeouts(1000, 1000, 1000)
    local pool = ("codearts.batchresult:http:127.0.0.1:%d::verify:"):format(port)
    local ok = probe:connect("127.0.0.1", port, { pool = pool })
    pooled = ok and (probe:getreusedtimes() or 0) > 0
    probe:close()
  end
  local sockets
  if args.settle then
    ngx.sleep(tonumber(args.settle))
    sockets = open_sockets() - before
  end
  t:close()
  ngx.say(cjson.encode({ status = res and res.status, kind = kind, message = msg, seconds = seconds,
                         sockets = sockets, pooled = pooled }))
end

-- Yielding callbacks -------------------------------------------------------

--- A fresh client for the stand-in, with opts over the defaults.
local function standin_client(opts)
  local o = { endpoint = os.getenv("STANDIN_URL"), project_id = model.seed_project, ak = creds.ak, sk = creds.sk }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(br.new(o))
end

--- content_by_lua, with lua_check_client_abort on: GET /run_aborted?key=…
-- runs six pipelines on a client of the request's own, which an
-- ngx.on_abort handler closes (README's recipe for a request whose client
-- goes away): the outcome goes to the box under key, as no one is left
-- to answer.
function M.run_aborted_handler()
  local c = standin_client { batch_size = 2, concurrency = 2, max_retries = 0 }
  assert(ngx.on_abort(function() c:close() end))
  local ids = {}
  for i, p in ipairs(model.seed_query) do ids[i] = p.pipeline_id end
  local runs, err = c:run(ids)
  ngx.shared.box:set(ngx.var.arg_key, cjson.encode({ n = runs and #runs, code = err and err.code,
    results = err and #err.results, unanswered = err and #err.unanswered }))
end

--- What a callback does between two waits of the call: ngx.sleep, a
-- cosocket of its own (a GET of the stand-in's control URL), or a nested
-- query on the same client.  Returns a short word for what came of it.
local ACTIONS = {
  sleep = function()
    ngx.sleep(0.05)
    return "slept"
  end,
  cosocket = function()
    local host, port = os.getenv("STANDIN_URL"):match("^http://([^:/]+):(%d+)")
    local sock = ngx.socket.tcp()
    sock:settimeouts(2000, 2000, 2000)
    local ok, err = sock:connect(host, tonumber(port))
    if not ok then return "connect: " .. err end
    sock:send("GET /_standin/config HTTP/1.1\r\nHost: standin\r\nConnection: close\r\n\r\n")
    local line
    line, err = sock:receive("*l")
    sock:close()
    return line and line:match("^HTTP/1%.1 (%d+)") or ("receive: " .. tostring(err))
  end,
  nested = function(client)
    local results, err = client:query(model.seed_query)
    if not results then return "nested: " .. tostring(err) end
    return "nested " .. #results
  end,
}

--- content_by_lua: GET /callbacks?action=sleep|cosocket|nested&hook=progress|logger
-- &concurrency=n -> a query of 40 pairs in batches of 10 whose on_progress
-- (or logger) does the action each time: { outcome, calls, did = { word
-- -> times } }.
function M.callbacks_handler()
  local args = ngx.req.get_uri_args()
  local action, hook = ACTIONS[args.action], args.hook
  local did, calls, depth = {}, 0, 0
  local client
  local function callback()
    calls = calls + 1
    -- a nested query's own attempts reach the logger too: act on the outer call's only
    if depth > 0 then return end
    depth = depth + 1
    local word = action(client)
    depth = depth - 1
    did[word] = (did[word] or 0) + 1
  end
  client = standin_client { logger = hook == "logger" and callback or nil }
  local opts = { batch_size = 10, concurrency = tonumber(args.concurrency) }
  if hook == "progress" then opts.on_progress = callback end
  local ok, results, qerr = pcall(client.query, client, generated(40), opts)
  if not ok then results, qerr = nil, { code = "RAISED", message = tostring(results) } end
  local out = outcome(results, qerr)
  client:close()
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode({ outcome = out, calls = calls, did = did }))
end

-- How a call ends --------------------------------------------------------------

local ENDINGS = {
  -- close() from on_progress once the first batch is done
  close = function()
    local c = standin_client()
    local results, err = c:query(generated(30), { batch_size = 10, concurrency = 2, on_progress = function(done)
      if done > 0 then c:close() end
    end })
    local out = outcome(results, err)
    if err then out.err.results = #err.results + #err.results.missing end
    out.closed_raises = not pcall(c.query, c, model.seed_query)
    return out
  end,
  -- a call whose coroutine yields from on_progress, its other batches out,
  -- and is never resumed; then a call on the same client
  abandon = function()
    local c = standin_client()
    local co = coroutine.create(function()
      return c:query(generated(30), { batch_size = 10, concurrency = 2, on_progress = function(done)
        if done > 0 then coroutine.yield("left") end
      end })
    end)
    local resumed, said = coroutine.resume(co)
    local out = outcome(c:query(generated(12)))
    out.left = resumed and said
    c:close()
    return out
  end,
  -- a logger that raises; then a call on the same client
  logger_raises = function()
    local raise = true
    local c = standin_client { logger = function() if raise then error("logger says no", 0) end end }
    local ok, e = pcall(c.query, c, generated(30), { batch_size = 10, concurrency = 2 })
    raise = false
    local out = outcome(c:query(generated(12)))
    out.first = { ok = ok, raised = tostring(e) }
    c:close()
    return out
  end,
  -- closed by a timer 0.5 s into the call, which is then waiting out a
  -- retry's delay (the stand-in's Retry-After) or a batch's answer (its
  -- delay): the call ends at once
  closed_elsewhere = function()
    local c = standin_client { timeout = 20 }
    assert(ngx.timer.at(0.5, function() c:close() end))
    ngx.update_time()
    local started = ngx.now()
    local results, err = c:query(model.seed_query)
    ngx.update_time()
    local out = outcome(results, err)
    out.seconds = ngx.now() - started
    return out
  end,
  -- the client nginx's master made in init_by_lua, used by this worker
  master = function()
    return outcome(M.master_client:query(model.seed_query))
  end,
}

--- content_by_lua: GET /ending?case=close|abandon|logger_raises|master ->
-- what came of it, as JSON.
function M.ending_handler()
  local out = ENDINGS[ngx.var.arg_case]()
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end

-- At most once --------------------------------------------------------------

--- content_by_lua: GET /query_then_run?runs=n -> one query on a fresh
-- client (its connection kept alive), then n runs of the seed's
-- pipelines on it, one after the other: { query = outcome, runs = {
-- outcome, … } }.
function M.query_then_run_handler()
  local c = standin_client { max_retry_wait = 0.05 }
  local out = { query = outcome(c:query(model.seed_query)), runs = {} }
  local ids = {}
  for i, r in ipairs(model.seed_query) do ids[i] = r.pipeline_id end
  for i = 1, tonumber(ngx.var.arg_runs or 1) do
    local runs, err = c:run(ids)
    out.runs[i] = outcome(runs, err)
    if err then out.runs[i].err.attempts = err.attempts end
  end
  c:close()
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end

-- The fault table -------------------------------------------------------------

--- content_by_lua: GET /fault?row=n -> the outcome of row n of
-- spec/support/faults.lua, run here, as JSON; with resty_connects, how
-- many connections the resty.http test double has made so far, when this
-- nginx loaded it in place of resty.http.
function M.fault_handler()
  local faults = require "spec.support.faults"
  local row = faults.rows[tonumber(ngx.var.arg_row)]
  local out
  faults.run(br, row, { standin = os.getenv("STANDIN_URL"), dead = os.getenv("DEAD_URL") },
    function(o) out = o end)
  local fake = package.loaded["spec.nginx.fake_resty_http"]
  out.resty_connects = fake and fake.log.connects
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end

--- content_by_lua: GET /one?url=U&http=builtin|resty&verify=0|1
-- &idempotent=0|1 -> one GET of U through the transport (with the test
-- double standing in for resty.http), driven by hand: { status, body,
-- kind, message }.
function M.one_handler()
  local args = ngx.req.get_uri_args()
  package.loaded["resty.http"] = require "spec.nginx.fake_resty_http"
  local t = assert(ngx_transport.new({ timeout = 5, connect_timeout = 2, tls_verify = args.verify ~= "0",
                                       max_response_bytes = 1048576 }, { http = args.http }))
  package.loaded["resty.http"] = nil
  assert(t:start({ method = "GET", url = args.url, headers = { Host = args.url:match("^%a+://([^/]+)") } },
    { timeout_ms = 5000, idempotent = args.idempotent ~= "0" }))
  local _, res, kind, msg = t:wait()
  t:close()
  ngx.say(cjson.encode({ status = res and res.status, body = res and res.body, kind = kind, message = msg }))
end

--- content_by_lua: GET /available -> the phase and available() in it.
function M.available_handler()
  local ok, why = ngx_transport.available()
  ngx.say(cjson.encode({ phase = ngx.get_phase(), ok = ok, why = why }))
end

return M
