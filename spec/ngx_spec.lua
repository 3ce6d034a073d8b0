-- The client inside nginx (OpenResty's ngx_lua): requests go over
-- cosockets in ngx.threads and never block the worker.  A real nginx (one
-- worker) runs the handlers of spec/nginx/app.lua; this spec drives it over
-- HTTP with the curl CLI, against the local CodeArts stand-in, and compares
-- with what the libcurl transport answers here, in plain Lua.  nginx runs
-- LuaJIT whatever Lua runs the suite, so the blocks inside it run once per
-- `make test` (spec.support.once); the transport outside nginx is tested
-- under each Lua.
--
-- Needs nginx and libnginx-mod-http-lua (Debian), and the C module built
-- for LuaJIT (`make LUA_VERSION=jit`).
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local nginx = require "spec.support.nginx"
local shell = require "spec.support.shell"
local model = require "spec.standin.model"
local cjson = require "cjson"
local once = require "spec.support.once"

local creds = model.credentials.permanent
local PROJECT = model.seed_project

local APP = 'local app = require "spec.nginx.app"; '

--- s as a URL's query value.
local function escaped(s)
  return (s:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- s in base64, as coreutils' base64 gives it (s holds no single quote).
local function base64(s)
  local p = assert(io.popen("printf %s '" .. s .. "' | base64 -w0"))
  local out = p:read("*a")
  p:close()
  return out
end

local LOCATIONS = {
  "location = /query { content_by_lua_block { " .. APP .. "app.query_handler() } }",
  "location = /box { content_by_lua_block { " .. APP .. "app.box_handler() } }",
  "location = /run_aborted { lua_check_client_abort on; content_by_lua_block { " .. APP
    .. "app.run_aborted_handler() } }",
  "location = /timer { content_by_lua_block { " .. APP .. "app.timer_handler() } }",
  "location = /available { content_by_lua_block { " .. APP .. "app.available_handler() } }",
  "location = /fake_mode { content_by_lua_block { " .. APP .. "app.fake_mode_handler() } }",
  "location = /resty { content_by_lua_block { " .. APP .. "app.resty_handler() } }",
  "location = /resty_proxy { content_by_lua_block { " .. APP .. "app.resty_proxy_handler() } }",
  "location = /callbacks { content_by_lua_block { " .. APP .. "app.callbacks_handler() } }",
  "location = /query_then_run { content_by_lua_block { " .. APP .. "app.query_then_run_handler() } }",
  "location = /ending { content_by_lua_block { " .. APP .. "app.ending_handler() } }",
  "location = /raw_steps { client_body_buffer_size 1m; content_by_lua_block { " .. APP
    .. "app.raw_steps_handler() } }",
  "location = /attempt { content_by_lua_block { " .. APP .. "app.attempt_handler() } }",
  "location = /one { content_by_lua_block { " .. APP .. "app.one_handler() } }",
  -- the ngx transport's wait of 0.5 ms, one request of a query in flight:
  -- whether it yielded, which lets a light thread woken just before it
  -- run: { yielded, status }
  [[location = /short_wait { content_by_lua_block {
      local app = require "spec.nginx.app"
      local t = assert(require("codearts.batchresult.transport.ngx").new({ timeout = 5, connect_timeout = 2,
        tls_verify = true, max_response_bytes = 1048576 }, {}))
      assert(t:start(assert(app.client("default"):prepare(require("spec.standin.model").seed_query)),
        { timeout_ms = 5000, idempotent = true }))
      local woken, yielded = require("ngx.semaphore").new(0), false
      ngx.thread.spawn(function() woken:wait(5) yielded = true end)
      woken:post(1)
      local _, status = t:wait(0.0005)
      t:close()
      ngx.say(require("cjson").encode({ yielded = yielded, status = status }))
  } }]],
  -- over this nginx's HTTPS: the server name (SNI) the client sent, in brackets
  'location = /sni { return 200 "[$ssl_server_name]"; }',
  -- a query of two batches at once (one client timeout of 1 s) whose
  -- on_progress blocks the worker 1.5 s at the first answer:
  -- { code, seconds }
  [[location = /blocking { content_by_lua_block {
      local model = require "spec.standin.model"
      local creds = model.credentials.permanent
      local c = assert(require("codearts.batchresult").new { endpoint = os.getenv("STANDIN_URL"),
        project_id = model.seed_project, ak = creds.ak, sk = creds.sk, timeout = 1, max_retries = 0 })
      local blocked = false
      ngx.update_time()
      local started = ngx.now()
      local _, err = c:query(model.make_pairs("ngx", 2), { batch_size = 1, concurrency = 2,
        on_progress = function(done)
          if done > 0 and not blocked then
            blocked = true
            os.execute("sleep 1.5")
          end
        end })
      ngx.update_time()
      ngx.say(require("cjson").encode({ code = err and err.code, seconds = ngx.now() - started }))
    } }]],
  -- a run of two batches at once whose on_progress, at the first answer,
  -- sleeps while the other batch's thread takes its answer in, then
  -- closes the client: { code, results, unanswered }
  [[location = /close_kept { content_by_lua_block {
      local model = require "spec.standin.model"
      local creds = model.credentials.permanent
      local c = assert(require("codearts.batchresult").new { endpoint = os.getenv("STANDIN_URL"),
        project_id = model.seed_project, ak = creds.ak, sk = creds.sk })
      local _, err = c:run({ model.make_id("ngx-kept", 1), model.make_id("ngx-kept", 2) }, { batch_size = 1,
        concurrency = 2, on_progress = function(done)
          if done ~= 1 then return end
          ngx.sleep(0.3)
          c:close()
        end })
      ngx.say(require("cjson").encode({ code = err and err.code, results = err and #err.results,
        unanswered = err and #err.unanswered }))
    } }]],
  -- one attempt, through ?http=builtin|resty (the test double standing in
  -- for resty.http), of a request with a body of ?bytes= bytes to the
  -- stand-in: { status, body, kind, message }
  [[location = /big_request { content_by_lua_block {
      local model = require "spec.standin.model"
      package.loaded["resty.http"] = require "spec.nginx.fake_resty_http"
      local t = assert(require("codearts.batchresult.transport.ngx").new({ timeout = 5, connect_timeout = 2,
        max_response_bytes = 1048576 }, { http = ngx.var.arg_http }))
      package.loaded["resty.http"] = nil
      local url = os.getenv("STANDIN_URL") .. "/v5/" .. model.seed_project .. "/api/pipelines/batch-runs"
      assert(t:start({ method = "POST", url = url, headers = { Host = url:match("^http://([^/]+)") },
        body = ("x"):rep(tonumber(ngx.var.arg_bytes)) }, { timeout_ms = 5000, idempotent = false }))
      local _, res, kind, msg = t:wait()
      t:close()
      ngx.say(require("cjson").encode({ status = res and res.status, body = res and res.body, kind = kind,
        message = msg }))
    } }]],
  -- the query in other phases that may yield
  [[location = /rewrite {
      rewrite_by_lua_block { ]] .. APP .. [[ngx.ctx.out = app.run_query(ngx.req.get_uri_args()) }
      content_by_lua_block { ngx.say(require("cjson").encode(ngx.ctx.out)) }
    }]],
  [[location = /access {
      access_by_lua_block { ]] .. APP .. [[ngx.ctx.out = app.run_query(ngx.req.get_uri_args()) }
      content_by_lua_block { ngx.say(require("cjson").encode(ngx.ctx.out)) }
    }]],
  -- and in one that may not: the log phase runs after the answer is sent
  [[location = /log {
      content_by_lua_block { ngx.say("logged") }
      log_by_lua_block { ]] .. APP .. [[app.query_into_box("log:" .. ngx.var.arg_key) }
    }]],
  -- and where Lua cannot yield, in a phase that may: a string.gsub
  -- callback, a module's main chunk that require runs
  -- (or a metamethod, which LuaJIT yields across); then a light thread
  -- that sleeps, which nothing the call left behind may wake early
  [[location = /no_yield { content_by_lua_block { ]] .. APP .. [[
      local out
      if ngx.var.arg_in == "require" then
        package.preload.no_yield = function() return app.run_query({}) end
        out = require "no_yield"
        package.loaded.no_yield = nil
      elseif ngx.var.arg_in == "__index" then
        out = setmetatable({}, { __index = function() return app.run_query({}) end }).x
      elseif ngx.var.arg_in == "xpcall" then
        -- the handler of an error the VM raised (indexing nil)
        xpcall(function() local none; return none.x end, function(e) out = app.run_query({}) return e end)
      elseif ngx.var.arg_in == "__gc" then
        -- a finalizer the collector runs while Lua allocates
        local p = newproxy(true)
        getmetatable(p).__gc = function() out = out or app.run_query({}) end
        p = nil -- luacheck: ignore 311
        local keep = {}
        for i = 1, 1e6 do
          if out then break end
          keep[i % 64] = { i }
        end
      else
        string.gsub("x", "x", function() out = app.run_query({}) end)
      end
      out.after = { ngx.thread.wait(ngx.thread.spawn(function() ngx.sleep(0.1) return "slept" end)) }
      ngx.say(require("cjson").encode(out))
    } }]],
  -- a fake API served by this nginx (SELF_URL), for chunked and closing answers
  "location /v5/ { content_by_lua_block { " .. APP .. "app.fake_api() } }",
  "location @fake_close { keepalive_timeout 0; content_by_lua_block { " .. APP .. "app.fake_api('close') } }",
}

local HTTP = {
  "lua_shared_dict box 1m;",
  -- a client made in nginx's master, which its workers inherit
  "init_by_lua_block { " .. APP .. "app.master_client = require('codearts.batchresult').new { "
    .. "endpoint = os.getenv('STANDIN_URL'), project_id = '" .. PROJECT .. "', ak = '" .. creds.ak
    .. "', sk = '" .. creds.sk .. "' } }",
  -- one query in init_worker (no cosockets there) and one in a timer it starts
  "init_worker_by_lua_block { " .. APP
    .. "app.query_into_box('init_worker'); app.query_in_timer('init_worker_timer') }",
}

-- The reference page's six pairs (the model's own list; nothing changes it).
local function seed_pairs() return model.seed_query end

local function generated(n) return model.make_pairs("ngx", n) end

-- A result set as plain data: { results = {...}, missing = {...} }.
local function plain(results)
  local list = {}
  for i, r in ipairs(results) do
    local t = {}
    for k, v in pairs(r) do t[k] = v end
    list[i] = t
  end
  local missing = {}
  for i, p in ipairs(results.missing or {}) do missing[i] = p end
  return { results = list, missing = missing }
end

local function expected(list)
  return { results = model.results_for(list), missing = {} }
end

-- A 200 answer's body and status line with chunks, as the answers below
-- are written.
local ANSWER_BODY = cjson.encode({ result = model.results_for(model.seed_query) })
local function chunked(size_line, data, rest)
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. size_line .. "\r\n" .. data .. rest
end

-- Answers the cosockets must read as libcurl does (README: Retries), as
-- the stand-in's banner_first writes them: each case a name and its
-- answers, { code, raw } for a failure, { true, raw } for one taken.
-- nginx's halves run once per make test (inside nginx, below); libcurl's,
-- in the Lua running the suite, run under each Lua, ASan and memcheck
-- (the only specs of some of src/easy.c's readings).
local READ_ALIKE
do
  local body = ANSWER_BODY
  local head = "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: "
  local chunks = ("%x\r\n%s\r\n0\r\n"):format(#body, body)
  local te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
  -- The client takes each line and chunk where it stands in what it
  -- read: cut off it, each copied all that followed (review).  (The
  -- stand-in's config goes on curl's command line: no larger answer.)
  local padded, bytes = (" "):rep(8000 - #body) .. body, {}
  for i = 1, #padded do
    bytes[i] = (i % 7 == 0 and "1;n=v\r\n%s\r\n" or "1\r\n%s\r\n"):format(padded:sub(i, i))
  end
  READ_ALIKE = {
    { "refuses a Transfer-Encoding other than chunked, taking chunked named whole in any case beside empty items", {
      { "PROTOCOL", head .. "foo\r\n\r\n" .. body },
      { "PROTOCOL", head .. "xchunked\r\n\r\n" .. chunks .. "\r\n" },
      { true, head .. " , Chunked ,\r\n\r\n" .. chunks .. "\r\n" } } },
    -- Content-Length says where the JSON ends; libcurl ignores it and
    -- takes the bytes after it too, which are no JSON
    { "reads the body until the connection closes under a Transfer-Encoding naming no coding", {
      { "DECODE", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body .. "xyz" },
      { "DECODE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: , \r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
        .. "xyz" } } },
    { "skips a chunk size line's rest however long", {
      { true, chunked(("%x;"):format(#body) .. ("x"):rep(2000), body, "\r\n0\r\n\r\n") },
      { true, chunked(("%x"):format(#body) .. (" junk"):rep(300), body, "\r\n0\r\n\r\n") } } },
    { "takes anything after a chunk size's hex digits up to the line's end", {
      { true, chunked(("%x junk"):format(#body), body, "\r\n0z\r\n\r\n") } } },
    { "takes an answer of 8,000 one-byte chunks and 500 trailers", {
      { true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. table.concat(bytes) .. "0\r\n"
        .. ("X-T: t\r\n"):rep(500) .. "\r\n" } } },
    -- (a valid one beside chunks says nothing: the chunks frame the body)
    { "refuses a bad or a second Content-Length in any head or trailer, chunked too", {
      { "PROTOCOL", te .. "Content-Length: abc\r\n\r\n" .. chunks .. "\r\n" },
      { "PROTOCOL", te .. "Content-Length: 5\r\nContent-Length: 6\r\n\r\n" .. chunks .. "\r\n" },
      { "PROTOCOL", te .. "\r\n" .. chunks .. "Content-Length: abc\r\n\r\n" },
      { "PROTOCOL", te .. "Content-Length: 5\r\n\r\n" .. chunks .. "Content-Length: 6\r\n\r\n" },
      { "PROTOCOL", "HTTP/1.1 100 Continue\r\nContent-Length: abc\r\n\r\nHTTP/1.1 200 OK\r\n"
        .. "Content-Length: " .. #body .. "\r\n\r\n" .. body },
      { "PROTOCOL", "HTTP/1.1 304 Not Modified\r\nContent-Length: abc\r\n\r\n" },
      { true, te .. "Content-Length: 5\r\n\r\n" .. chunks .. "\r\n" } } },
    { "refuses a trailer line that is no header", {
      { "PROTOCOL", te .. "\r\n" .. chunks .. "Bad Trailer\r\n\r\n" } } },
    { "refuses a chunk size of more than 16 hex digits, leading zeros counted", {
      { "PROTOCOL", chunked(("%017x"):format(#body), body, "\r\n0\r\n\r\n") },
      { "PROTOCOL", chunked(("%x"):format(#body), body, "\r\n" .. ("0"):rep(17) .. "\r\n\r\n") },
      { true, chunked(("%016x"):format(#body), body, "\r\n" .. ("0"):rep(16) .. "\r\n\r\n") } } },
    { "refuses a status line of another HTTP/1.x than 1.0 and 1.1", {
      { "PROTOCOL", "HTTP/1.2 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body },
      { "PROTOCOL", "HTTP/1.9 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body } } },
  }
end

--- What nginx n put in its box under key, polled for until it is there
-- (10 s at most).
local function boxed_in(n, key)
  for _ = 1, 200 do
    local status, body = n:get("/box?key=" .. key)
    if status == 200 then return cjson.decode(body) end
    os.execute(standin.clean_env .. "sleep 0.05")
  end
  error("nothing in the box under " .. key .. "\n" .. n:error_log())
end

once.describe("inside nginx (ngx_lua cosockets)", function()
  local server, tls_server, untrusted_server, v6_server, cert_server, n
  local ca, other_ca
  local dead_url

  -- Decoded JSON from nginx's path, which must answer 200.
  local function call(path)
    local status, body = n:get(path)
    assert(status == 200, ("GET %s answered %s: %s\n%s"):format(path, status, body, n:error_log()))
    return cjson.decode(body)
  end

  -- What a query through nginx gave, as plain data; raises on failure.
  local function ok_outcome(out)
    assert(out.ok, "the query failed: " .. cjson.encode(out.err or out))
    return { results = out.results, missing = out.missing }
  end

  local function boxed(key) return boxed_in(n, key) end

  -- A plain-Lua client (libcurl) with nginx's client options.
  local function curl_client(opts)
    return assert(br.new(server:options(opts)))
  end

  standin.for_block(function(s)
    server = s
    ca, other_ca = standin.make_ca(), standin.make_ca()
    tls_server = standin.start { tls = ca }
    untrusted_server = standin.start { tls = other_ca }
    -- (on ::1, where the loopback has it: the cases that need it say so)
    v6_server = nginx.has_ipv6_loopback() and standin.start { host = "::1" } or nil
    cert_server = require("spec.support.client_cert").start(ca, "-tls1_3")
    -- a port where nothing listens: a stand-in's, once it has stopped
    local gone = standin.start()
    dead_url = gone.url
    gone:stop()
    local http = { (table.unpack or unpack)(HTTP) }
    http[#http + 1] = "lua_ssl_trusted_certificate " .. ca.ca .. ";"
    http[#http + 1] = "lua_ssl_verify_depth 2;"
    n = nginx.start {
      locations = LOCATIONS,
      http = http,
      -- nginx's own HTTPS, with the stand-in's certificate (127.0.0.1 and localhost)
      tls = ca,
      env = {
        STANDIN_URL = s.url,
        DEAD_URL = dead_url,
        TLS_URL = "https://localhost:" .. tls_server.port,
        TLS_IP_URL = tls_server.url,
        UNTRUSTED_URL = "https://localhost:" .. untrusted_server.port,
        CA_FILE = ca.ca,
        V6_URL = v6_server and "http://[::1]:" .. v6_server.port,
        LOCALHOST_V6_URL = v6_server and "http://localhost:" .. v6_server.port,
        CLIENT_CERT_URL = "https://localhost:" .. cert_server.port,
      },
    }
  end, function()
    if n then n:stop() end
    if tls_server then tls_server:stop() end
    if untrusted_server then untrusted_server:stop() end
    if v6_server then v6_server:stop() end
    if cert_server then cert_server.stop() end
    if ca then standin.remove_ca(ca) end
    if other_ca then standin.remove_ca(other_ca) end
  end)

  it("picks cosockets by itself: three concurrent requests finish together, not one by one", function()
    server:config { delay_ms = 1000 }
    -- Warm up: the worker loads the module and makes its shared client.
    ok_outcome(call("/query"))
    local answers = n:get_many { "/query", "/query", "/query" }
    -- The one worker had the three out at once: a client that blocked it
    -- would have sent each only after the one before was answered.
    local most = server:stats().max_in_flight
    assert(most >= 3, ("the stand-in had at most %d requests at once"):format(most))
    local want = plain(assert(curl_client():query(seed_pairs())))
    assert.are.same(expected(seed_pairs()), want)
    for i, a in ipairs(answers) do
      assert(a.status == 200, ("request %d answered %d: %s"):format(i, a.status, a.body))
      local out = cjson.decode(a.body)
      assert.are.same(want, ok_outcome(out))
      -- Each waited for its own answer, not its turn behind the others' on
      -- the shared client: its span inside nginx, by nginx's clock, which
      -- such a queue would stretch to two and three times the delay.
      assert(out.seconds < 2, ("request %d took %.2f s in the worker"):format(i, out.seconds))
    end
  end)

  it("also with transport = 'ngx' named", function()
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=named")))
  end)

  it("goes through lua-resty-http when it loads (a test double here)", function()
    local out = call("/resty")
    assert.are.equal("resty", out.http)
    assert.is_true(out.same_token)
    assert.are.equal(200, out.status)
    assert.truthy(out.request_id and #out.request_id > 0)
    assert.are.same(model.results_for(seed_pairs()), out.results)
    assert.is_true(out.log.connect.ssl_verify)
    assert.are.equal("http", out.log.connect.scheme)
    assert.are.equal("127.0.0.1", out.log.connect.host)
    assert.are.equal(server.port, out.log.connect.port)
    assert.are.same({ "POST", "/v5/" .. PROJECT .. "/api/pipelines/batch-runs/result" },
      { out.log.request.method, out.log.request.path })
    -- connect bounded by connect_timeout, the rest by the request's 3 s,
    -- less the loop's turn before a pooled connection is taken (1 ms and
    -- what the worker did meanwhile, as nginx's clock, read once a turn in
    -- whole milliseconds, tells it: often nothing; http1.resending), each
    -- later read by what is left of them
    local first = out.log.timeouts[1]
    assert.are.equal(2000, first[1])
    assert.are.equal(first[2], first[3])
    assert.is_true(first[2] >= 2900 and first[2] <= 3000, "send and read " .. first[2])
    for _, t in ipairs(out.log.timeouts) do
      assert.is_true(t[1] <= 3000 and t[2] <= 3000 and t[3] <= 3000)
    end
    assert.are.same({ 60000, 256 }, out.log.keepalive)
    -- a request that must go at most once connects through a pool no
    -- connection is ever put in, and closes its connection
    assert.are.same({ status = 200, pool = "codearts.batchresult:fresh", keepalives = 0 }, out.run)
  end)

  it("hands resty.http a proxy's login as Proxy-Authorization, never in a pool's name; refuses other proxies",
    function()
    local out = call("/resty_proxy")
    assert.are.equal(200, out.status)
    -- resty.http reads no login in a proxy URL: it goes as a header, its
    -- percent-encoding undone as libcurl undoes it ("+" is no space)
    local basic = "Basic " .. base64("al@ice:S3cret:p+w")
    assert.are.same({ http_proxy = "http://127.0.0.1:9", https_proxy = "http://127.0.0.1:9",
                      http_proxy_authorization = basic, https_proxy_authorization = basic }, out.proxy_opts)
    -- resty.http and nginx's debug log print pool names
    assert.is_nil(out.pool:find("S3cret", 1, true), out.pool)
    assert.truthy(out.pool:find("http://127.0.0.1:9#login", 1, true), out.pool)
    assert.are.same({ made = false, kind = "INVALID_ARGUMENT",
      message = "the proxy option's scheme is socks5, and lua-resty-http speaks only to http:// proxies" },
      out.refused)
    -- a failure to connect is no TLS failure, whatever the host's name says
    assert.are.equal("NETWORK", out.unresolved.kind, out.unresolved.message)
    assert.truthy(out.unresolved.message:find("ssl-gw", 1, true), out.unresolved.message)
    assert.is_true(out.unresolved.not_sent)
  end)

  it("reuses its connections across requests", function()
    for _ = 1, 5 do ok_outcome(call("/query")) end
    local s = server:stats()
    assert.are.equal(5, s.requests)
    -- kept alive in the worker's pool (fresh ones only after a reset)
    assert.is_true(s.connections <= 1)
  end)

  local function without_ipv6()
    if v6_server then return false end
    pending("this machine's loopback has no ::1")
    return true
  end

  it("reaches an IPv6 endpoint", function()
    if without_ipv6() then return end
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=v6")))
  end)

  -- libcurl tries both of localhost's addresses; a server listening on
  -- ::1 alone (Node's often do) refuses 127.0.0.1
  it("reaches localhost on ::1 when 127.0.0.1 refuses, as libcurl does, a run too", function()
    if without_ipv6() then return end
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=localhost_v6")))
    local url = escaped("http://localhost:" .. v6_server.port .. "/_standin/config")
    for _, http in ipairs({ "builtin", "resty" }) do
      for _, idempotent in ipairs({ "1", "0" }) do
        local out = call(("/one?http=%s&idempotent=%s&url=%s"):format(http, idempotent, url))
        assert.are.equal(200, out.status, cjson.encode(out))
      end
    end
    local _, want = curl_client({ endpoint = "http://localhost:" .. v6_server.port }):query(seed_pairs())
    assert.is_nil(want)
  end)

  it("works in the rewrite and access phases", function()
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/rewrite")))
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/access")))
  end)

  it("sends batches concurrently: the stand-in sees them in flight together", function()
    server:config { delay_ms = 300 }
    local out = call("/query?n=300&batch_size=100")
    assert.are.same(expected(generated(300)), ok_outcome(out))
    local s = server:stats()
    assert.are.equal(3, s.requests)
    assert.is_true(s.max_in_flight >= 2, "max_in_flight " .. tostring(s.max_in_flight))
  end)

  it("sends a request larger than one send's piece (16 KB): 200 pairs in one batch", function()
    local out = call("/query?n=200&batch_size=200")
    assert.are.same(expected(generated(200)), ok_outcome(out))
    assert.are.equal(1, server:stats().requests)
  end)

  it("waits for answers, not in a spin, while a retry is due and every slot is busy", function()
    -- Batch 1 is refused with Retry-After: 1 while batches 2 and 3 stall
    -- for 2 s: from 1 s on, the retry waits for a free slot.  A spin there
    -- never yields, and the worker would hang for good.
    local list = generated(3)
    server:config { fail_ids = { list[1].pipeline_run_id }, fail_status = 503, retry_after = "1",
                    stall_body_first = 2, stall_ms = 2000 }
    local out = call("/query?client=retry_once&n=3&batch_size=1&concurrency=2")
    assert.is_false(out.ok)
    assert.are.equal(503, out.err.status)
    assert.are.equal(1, out.err.unanswered)
    assert.are.equal(4, server:stats().requests)
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=once")))
  end)

  -- ngx.semaphore counts whole milliseconds: a wait under one came back
  -- at once, and a call whose retry was due in less spun until it was
  -- (review).
  it("yields in a wait shorter than a millisecond with a request in flight", function()
    server:config { stall_body_first = 1, stall_ms = 2000 }
    assert.are.same({ yielded = true, status = "waited" }, call("/short_wait"))
  end)

  it("abandons the requests in flight when on_progress raises", function()
    server:config { delay_ms = 200 }
    -- batches 1 and 2 go out together; the first answer stops the call,
    -- with the other batch still out and batch 3 never sent
    local status, body = n:get("/query?n=30&batch_size=10&concurrency=2&raise_after=10")
    assert.are.equal(200, status)
    local out = cjson.decode(body)
    assert.are.same({ ok = false, err = { code = "RAISED", message = "stop here" } }, out)
    assert.are.equal(2, server:stats().requests)
    -- the worker is none the worse: the next call on the same client works
    server:config { delay_ms = 0 }
    assert.are.same(expected(seed_pairs()), ok_outcome(call("/query")))
  end)

  it("cuts off at once a request still out when on_progress raises", function()
    -- of the two batches out together, one answer stalls for 3 s
    server:config { stall_body_first = 1, stall_ms = 3000 }
    local answers, seconds = n:get_many { "/query?n=20&batch_size=10&concurrency=2&raise_after=10" }
    assert.are.same({ ok = false, err = { code = "RAISED", message = "stop here" } }, cjson.decode(answers[1].body))
    assert.is_true(seconds < 1.5, ("answered after %.2f s"):format(seconds))
  end)

  it("bounds each request by what is left of the call's deadline", function()
    server:config { delay_ms = 1500 }
    local started = br.now()
    local out = call("/query?deadline=0.4")
    assert.is_false(out.ok)
    assert.are.equal("TIMEOUT", out.err.code)
    local took = br.now() - started
    assert.is_true(took < 1.5, ("took %.2f s, with the answer due at 1.5 s"):format(took))
  end)

  it("bounds each attempt by timeout even under a far deadline", function()
    server:config { delay_ms = 1000 }
    local out = call("/query?client=short&deadline=10")
    assert.is_false(out.ok)
    assert.are.equal("TIMEOUT", out.err.code)
    assert.is_true(out.seconds >= 0.29 and out.seconds < 0.8, ("TIMEOUT after %.3f s"):format(out.seconds))
    assert.are.equal(1, server:stats().requests)
  end)

  it("times out a request on time after a callback blocked the worker past its timeout", function()
    -- One batch answers at once, the other stalls in its body for 3 s;
    -- the first answer's on_progress holds the worker until 1.5 s, when
    -- the stalled request's 1 s is long gone.  (libcurl says TIMEOUT at
    -- once then, 1.6 s in.)
    server:config { stall_body_first = 1, stall_ms = 3000 }
    local out = call("/blocking")
    assert.are.equal("TIMEOUT", out.code, cjson.encode(out))
    assert.is_true(out.seconds >= 1.5 and out.seconds < 2.1, ("TIMEOUT after %.2f s"):format(out.seconds))
  end)

  describe("leaves the client clean however a call ends", function()
    it("close() from on_progress: CLOSED, every pair accounted for, the closed client refuses", function()
      server:config { delay_ms = 100 }
      local out = call("/ending?case=close")
      assert.is_false(out.ok)
      assert.are.equal("CLOSED", out.err.code, out.err.text)
      assert.are.equal(30, out.err.results + out.err.unanswered)
      assert.is_true(out.closed_raises)
      -- the batch still out was cancelled, and none sent after
      assert.is_true(server:stats().requests <= 2)
    end)

    it("close() from on_progress once the other batch's run is in: CLOSED, that run kept, not unanswered",
      function()
      server:reset()
      assert.are.same({ code = "CLOSED", results = 2, unanswered = 0 }, call("/close_kept"))
      assert.are.equal(2, server:stats().run_pipelines)
    end)

    it("a call left in a coroutine never resumed spoils nothing: the next call gets whole results", function()
      server:config { delay_ms = 100 }
      local out = call("/ending?case=abandon")
      assert.are.equal("left", out.left)
      assert.are.same(expected(generated(12)), ok_outcome(out))
    end)

    it("a logger that raises ends the call with its error, raised; the next call works", function()
      local out = call("/ending?case=logger_raises")
      assert.are.same({ ok = false, raised = "logger says no" }, out.first)
      assert.are.same(expected(generated(12)), ok_outcome(out))
    end)

    it("close() elsewhere (a timer) ends a call waiting out a retry's delay at once, and one awaiting an answer",
      function()
      local waits = { { fail_first = 1, fail_first_status = 503, retry_after = "20" }, { delay_ms = 10000 } }
      for _, wait in ipairs(waits) do
        server:reset()
        server:config(wait)
        local out = call("/ending?case=closed_elsewhere")
        assert.is_false(out.ok)
        assert.are.equal("CLOSED", out.err.code, out.err.text)
        assert.is_true(out.seconds < 2, ("took %.2f s"):format(out.seconds))
        assert.are.equal(1, server:stats().requests)
      end
    end)

    it("a client made in nginx's master (init_by_lua) works in the worker", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/ending?case=master")))
    end)
  end)

  describe("starts pipelines at most once", function()
    it("never sends a run twice, not even after a query left a connection alive", function()
      -- the stand-in reads the whole run request and closes without answering
      server:config { reset_first = 1, fault_route = "run" }
      local out = call("/query_then_run")
      assert.are.same(expected(seed_pairs()), ok_outcome(out.query))
      local run = out.runs[1]
      assert.is_false(run.ok)
      assert.are.equal("NETWORK", run.err.code)
      assert.is_false(run.err.retryable)
      assert.are.equal(1, run.err.attempts)
      assert.are.equal(6, run.err.unanswered)
      local s = server:stats()
      assert.are.same({ result = 1, run = 1, other = 0 }, s.routes)
      -- the run went on a connection of its own, not the query's kept-alive one
      assert.are.equal(2, s.connections)
    end)

    -- A call that nginx ends (the client going away) reports nothing;
    -- README's recipe, ngx.on_abort closing the request's own client,
    -- ends it with CLOSED, every pipeline accounted for (review ngx45).
    it("accounts for every pipeline when the request's client goes away, with ngx.on_abort closing the client",
      function()
      server:config { delay_ms = 500 }
      assert.are.equal(0, (n:get("/run_aborted?key=aborted", 0.2)))
      local out = boxed("aborted")
      assert.are.equal("CLOSED", out.code, cjson.encode(out))
      assert.are.equal(#seed_pairs(), out.results + out.unanswered, cjson.encode(out))
      -- (the call was under way: its first batches had gone out)
      assert.is_true(server:stats().requests >= 1)
    end)

    it("gives each run a fresh connection and closes it, while queries reuse theirs", function()
      local out = call("/query_then_run?runs=3")
      ok_outcome(out.query)
      for i = 1, 3 do assert.is_true(out.runs[i].ok, cjson.encode(out.runs[i])) end
      local s = server:stats()
      assert.are.same({ result = 1, run = 3, other = 0 }, s.routes)
      assert.are.equal(4, s.connections)
      assert.are.equal(3, s.runs)
      -- and the query's connection is still there for the next query
      ok_outcome(call("/query"))
      assert.are.equal(4, server:stats().connections)
    end)
  end)

  describe("lets on_progress and logger yield, at any concurrency", function()
    local ACTIONS = { sleep = "slept", cosocket = "200", nested = "nested 6" }
    for _, hook in ipairs { "progress", "logger" } do
      for _, action in ipairs { "sleep", "cosocket", "nested" } do
        for _, concurrency in ipairs { 1, 4 } do
          it(("%s that %s, concurrency %d"):format(hook == "progress" and "on_progress" or "logger",
            action == "sleep" and "calls ngx.sleep" or action == "cosocket" and "uses a cosocket"
              or "runs a nested query on the same client", concurrency), function()
            -- answers slow enough that batches are still out while a callback runs
            server:config { delay_ms = 100 }
            local out = call(("/callbacks?hook=%s&action=%s&concurrency=%d"):format(hook, action, concurrency))
            assert.are.same(expected(generated(40)), ok_outcome(out.outcome))
            -- on_progress at the start and after each of the 4 batches,
            -- logger after each attempt
            local own = hook == "progress" and 5 or 4
            assert.are.same({ [ACTIONS[action]] = own }, out.did)
            -- the nested queries' attempts reach the logger too
            assert.are.equal(own + ((hook == "logger" and action == "nested") and 4 or 0), out.calls)
          end)
        end
      end
    end
  end)

  describe("reports errors as the libcurl transport does", function()
    it("a wrong SK: APIGW.0301, status 401", function()
      local out = call("/query?client=wrong_sk")
      assert.is_false(out.ok)
      local _, want = curl_client({ sk = "not-the-right-secret-key-0001" }):query(seed_pairs())
      assert.are.equal("APIGW.0301", out.err.code)
      assert.are.equal(401, out.err.status)
      assert.are.equal(want.code, out.err.code)
      assert.are.equal(want.status, out.err.status)
      -- the stand-in quotes the canonical request it computed: the same
      -- but for the second each request was signed in
      local function undated(m) return (m:gsub("%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ", "<X-Sdk-Date>")) end
      assert.are.equal(undated(want.message), undated(out.err.message))
      assert.are.equal(want.retryable, out.err.retryable)
      assert.truthy(out.err.request_id and #out.err.request_id > 0)
      assert.is_nil(out.err.text:find("not-the-right-secret-key-0001", 1, true))
    end)

    it("a stopped server: NETWORK, every pair unanswered", function()
      local out = call("/query?client=dead")
      assert.is_false(out.ok)
      local _, want = curl_client({ endpoint = dead_url, max_retries = 1 }):query(seed_pairs())
      assert.are.equal("NETWORK", want.code)
      assert.are.equal(want.code, out.err.code)
      assert.are.equal(want.retryable, out.err.retryable)
      assert.are.equal(6, out.err.unanswered)
      assert.truthy(out.err.message:find("refused", 1, true), out.err.message)
    end)

    it("an answer cut short: NETWORK", function()
      server:config { truncate_first = 1 }
      local out = call("/query?client=once")
      assert.is_false(out.ok)
      assert.are.equal("NETWORK", out.err.code)
      assert.are.equal(1, server:stats().faults.truncate_first)
    end)

    it("a connection closed without an answer is retried, as with libcurl", function()
      server:config { reset_first = 1 }
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/query")))
      assert.are.equal(1, server:stats().faults.reset_first)
    end)

    it("503 with Retry-After, then success", function()
      server:config { fail_first = 1, retry_after = "0" }
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/query")))
      assert.are.equal(2, server:stats().requests)
    end)

    it("an answer over max_response_bytes: RESPONSE_TOO_LARGE", function()
      server:config { huge_body_bytes = 100000 }
      local out = call("/query?client=small")
      assert.is_false(out.ok)
      local _, want = curl_client({ max_response_bytes = 4096, max_retries = 0 }):query(seed_pairs())
      assert.are.equal("RESPONSE_TOO_LARGE", want.code)
      assert.are.equal(want.code, out.err.code)
      assert.are.equal(want.message, out.err.message)
    end)

    it("a slow answer past the timeout: TIMEOUT", function()
      server:config { delay_ms = 1500 }
      local out = call("/query?client=short")
      assert.is_false(out.ok)
      assert.are.equal("TIMEOUT", out.err.code)
      assert.is_true(out.err.retryable)
    end)
  end)

  describe("takes an answer the server wrote before it read the whole request, as libcurl does", function()
    local REFUSED = '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}'
    -- 8 MiB: more than Linux lets the client's send buffer (4 MiB at
    -- most, tcp_wmem) and the server's window hold together, so that the
    -- send is still going when the stand-in, which reads only the head,
    -- answers and resets the connection: the send fails, the answer
    -- already in the client's socket
    for _, http in ipairs({ "builtin", "resty" }) do
      it(http .. ": a 401 written on the request's head, then an RST in the middle of the body", function()
        server:config { early_first = 1, banner = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
          .. "Content-Length: " .. #REFUSED .. "\r\n\r\n" .. REFUSED }
        local out = call("/big_request?bytes=8388608&http=" .. http)
        assert.are.same({ status = 401, body = REFUSED }, out)
        assert.are.equal(1, server:stats().faults.early_first)
      end)
    end
  end)

  describe("reads HTTP/1.1 strictly (the stand-in's banner_first writes the answer)", function()
    local body = ANSWER_BODY
    local function answered(raw)
      server:config { banner_first = 1, banner = raw }
      return call("/query?client=once")
    end
    local function fails(kind, out)
      assert.is_false(out.ok, cjson.encode(out))
      assert.are.equal(kind, out.err.code, out.err.text)
      assert.is_false(out.err.retryable)
    end

    -- (libcurl's halves: "the libcurl transport, on the answers the
    -- cosockets must read as it does", below)
    for _, case in ipairs(READ_ALIKE) do
      it(case[1] .. ", as libcurl does", function()
        for _, answer in ipairs(case[2]) do
          if answer[1] == true then
            assert.are.same(expected(seed_pairs()), ok_outcome(answered(answer[2])))
          else
            fails(answer[1], answered(answer[2]))
          end
        end
      end)
    end

    -- The client cut a server's words to 8192 bytes before redaction,
    -- which shrinks them: so the cut was no later cut, and could end the
    -- message with the first bytes of a secret, too few to read as one
    -- (review).
    it("quotes a bad status line redacted whole, ending in no start of a secret", function()
      local line = "HTTP/1.1 abc " .. creds.sk:rep(300)
      for pad = 0, #creds.sk - 1 do
        local out = answered(line:sub(1, 13) .. ("x"):rep(pad) .. line:sub(14) .. "\r\n\r\n")
        fails("PROTOCOL", out)
        local message = out.err.message:gsub("…$", "")
        assert.truthy(message:find("[REDACTED]", 1, true), message)
        for len = 1, #creds.sk - 1 do
          assert.are_not.equal(creds.sk:sub(1, len), message:sub(-len), ("pad %d: %s"):format(pad, message))
        end
      end
    end)

    -- A cut short where libcurl's words were written is said beside them,
    -- never read from them: a server's own "…" cuts nothing (review).
    it("quotes a server's words that end with an ellipsis whole", function()
      for _, case in ipairs({
        { "HTTP/1.1 abc The gateway is restarting, please wait…\r\n\r\n", "please wait…" },
        { "SSH-2.0-OpenSSH…\r\n", "SSH-2.0-OpenSSH…" },
      }) do
        server:config { banner_first = 1, banner_hex = (case[1]:gsub(".", function(c)
          return ("%02x"):format(c:byte())
        end)) }
        local out = call("/query?client=once")
        fails("PROTOCOL", out)
        assert.truthy(out.err.message:find(case[2], 1, true), out.err.message)
      end
    end)

    it("takes folded headers, a repeated equal Content-Length and chunk extensions", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(answered("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n"
        .. "Content-Length: " .. #body .. ", " .. #body .. "\r\n\r\n" .. body)))
      assert.are.same(expected(seed_pairs()),
        ok_outcome(answered(chunked(("%x;name=value"):format(#body), body, "\r\n0\r\n\r\n"))))
    end)

    it("reads a header line of 60,000 spaces in its own time, bounded by the attempt's timeout", function()
      -- A pattern that trims with backtracking takes seconds of CPU on it.
      local spaces = (" "):rep(60000)
      for _, head in ipairs({ "X-Pad: a" .. spaces .. "b\r\n", "X-Pad:" .. spaces .. "\r\n",
                              "X-Pad: a\r\n" .. spaces .. "\r\n" }) do
        local out = answered("HTTP/1.1 200 OK\r\n" .. head .. "Content-Length: " .. #body .. "\r\n\r\n" .. body)
        assert.are.same(expected(seed_pairs()), ok_outcome(out))
        assert.is_true(out.seconds < 2, ("%.1f s"):format(out.seconds))
      end
    end)

    it("refuses a status that is not three digits, a header line without a colon: PROTOCOL", function()
      fails("PROTOCOL", answered("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"))
      fails("PROTOCOL", answered("HTTP/1.1 200 OK\r\nthis is no header\r\nContent-Length: 0\r\n\r\n"))
      fails("PROTOCOL", answered("HTTP/2 200\r\n\r\n"))
    end)

    it("refuses two different Content-Lengths and a chunk not followed by CRLF: PROTOCOL", function()
      fails("PROTOCOL", answered("HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}"))
      fails("PROTOCOL", answered(chunked(("%x"):format(#body), body, "XX0\r\n\r\n")))
    end)

    it("refuses gzip before chunked, a transfer coding it never asks for, naming it: PROTOCOL", function()
      -- (libcurl would inflate a real gzip body: README, OpenResty)
      local out = answered("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        .. ("%x\r\n%s\r\n0\r\n\r\n"):format(#body, body))
      fails("PROTOCOL", out)
      assert.truthy(out.err.message:find("Transfer-Encoding", 1, true), out.err.message)
      assert.truthy(out.err.message:find("gzip, chunked", 1, true), out.err.message)
    end)

    it("asks for the body as it is, and refuses a coded one, naming the coding: PROTOCOL", function()
      local gz = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
      local out = answered(gz)
      fails("PROTOCOL", out)
      assert.truthy(out.err.message:find("(Content-Encoding: gzip)", 1, true), out.err.message)
      assert.are.equal("identity", server:last().headers["accept-encoding"])
      assert.are.same(expected(seed_pairs()), ok_outcome(answered("HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n"
        .. "Content-Length: " .. #body .. "\r\n\r\n" .. body)))
    end)

    it("refuses trailers over 64 KiB in all, in lines of 100 bytes: RESPONSE_TOO_LARGE", function()
      local trailers = ("X-Padding: " .. ("p"):rep(87) .. "\r\n"):rep(700)
      fails("RESPONSE_TOO_LARGE", answered(chunked(("%x"):format(#body), body, "\r\n0\r\n" .. trailers .. "\r\n")))
      -- the same lines in the head
      fails("RESPONSE_TOO_LARGE", answered("HTTP/1.1 200 OK\r\n" .. trailers .. "Content-Length: " .. #body
        .. "\r\n\r\n" .. body))
    end)

    it("takes a connection closed in the middle of a chunk as a body cut short: NETWORK", function()
      local out = answered(chunked(("%x"):format(#body), body:sub(1, 10), ""))
      assert.is_false(out.ok)
      assert.are.equal("NETWORK", out.err.code, out.err.text)
    end)
  end)

  describe("over HTTPS", function()
    it("verifies the server against nginx's lua_ssl_trusted_certificate", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=tls")))
    end)

    it("checks the name: an IP address endpoint fails closed (nginx checks DNS names only)", function()
      local out = call("/query?client=tls_ip")
      assert.is_false(out.ok)
      assert.are.equal("TLS", out.err.code, out.err.text)
      assert.is_false(out.err.retryable)
      assert.truthy(out.err.message:find("cannot check a certificate against an IP address", 1, true),
        out.err.message)
    end)

    -- RFC 6066 3 allows no IP address as the server name; libcurl sends none
    for _, http in ipairs({ "builtin", "resty" }) do
      it(http .. ": sends an IP address endpoint no server name (SNI), a named one its name", function()
        local function sni(url, verify)
          return call(("/one?http=%s&verify=%s&url=%s"):format(http, verify, escaped(url .. "/sni")))
        end
        local port = n.tls_port
        local addresses = { "https://127.0.0.1:" .. port }
        if nginx.has_ipv6_loopback() then addresses[2] = "https://[::1]:" .. port end
        for _, url in ipairs(addresses) do assert.are.same({ status = 200, body = "[]" }, sni(url, "0")) end
        assert.are.same({ status = 200, body = "[localhost]" }, sni("https://localhost:" .. port, "1"))
        -- verified, an address still fails closed
        for _, url in ipairs(addresses) do
          local out = sni(url, "1")
          assert.are.equal("TLS", out.kind, cjson.encode(out))
          assert.truthy(out.message:find("cannot check a certificate against an IP address", 1, true), out.message)
        end
        -- its chain checked first: an untrusted one fails as such, in the
        -- handshake, or (ngx_lua resuming a session an earlier unverified
        -- connection made) as nginx closing the connection after it
        local out = sni(untrusted_server.url, "1")
        assert.are.equal("TLS", out.kind, cjson.encode(out))
        assert.truthy(out.message:find("unable to verify the first certificate", 1, true)
          or out.message:find("failed: nginx closed the connection", 1, true), out.message)
      end)
    end

    it("refuses a server whose CA nginx does not trust: TLS", function()
      local out = call("/query?client=untrusted")
      assert.is_false(out.ok)
      assert.are.equal("TLS", out.err.code, out.err.text)
      assert.is_false(out.err.retryable)
    end)

    -- Under TLS 1.3 a server's refusal of a client with no certificate
    -- comes after the request left (review tls48), as libcurl finds too.
    it("refuses a server that requires a client certificate: TLS, not retried", function()
      local out = call("/query?client=client_cert")
      assert.is_false(out.ok)
      assert.are.same({ "TLS", false, 1 }, { out.err.code, out.err.retryable, out.err.attempts }, out.err.text)
    end)

    it("skips verification only with tls_verify = false", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=insecure")))
    end)

    it("refuses ca_file, which ngx_lua cannot take per connection, naming it; not for http://", function()
      local out = call("/query?client=ca_file")
      assert.is_false(out.ok)
      assert.are.equal("INVALID_ARGUMENT", out.err.code)
      assert.are.equal("ca_file", out.err.option)
      assert.truthy(out.err.message:find("lua_ssl_trusted_certificate", 1, true), out.err.message)
      -- refused before sending, as a bad pair is: no accounting (README)
      assert.is_nil(out.err.unanswered)
      assert.is_nil(out.err.batches)
      -- (an http:// endpoint, on loopback, uses no CA: review)
      assert.are.same(expected(seed_pairs()), ok_outcome(call("/query?client=ca_file_http")))
    end)
  end)

  describe("reads every shape of HTTP/1.1 answer (nginx as the fake API)", function()
    local function self_query(mode, client)
      assert.are.equal(200, (n:get("/fake_mode?mode=" .. mode)))
      return call("/query?client=" .. (client or "self"))
    end

    it("a chunked body", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(self_query("chunked")))
    end)

    it("Connection: close, twice in a row", function()
      assert.are.same(expected(seed_pairs()), ok_outcome(self_query("close")))
      assert.are.same(expected(seed_pairs()), ok_outcome(self_query("close")))
    end)

    it("a chunked body past max_response_bytes: RESPONSE_TOO_LARGE", function()
      local out = self_query("huge_chunked", "self_small")
      assert.is_false(out.ok)
      assert.are.equal("RESPONSE_TOO_LARGE", out.err.code)
    end)
  end)

  describe("reads raw answers alike through the built-in client and resty.http (a test double)", function()
    -- One attempt against this nginx's fake API writing steps (strings
    -- written, numbers of seconds waited) on the raw connection.
    -- (settle: see app.attempt_handler)
    local function attempt(http, steps, timeout_ms, settle, pooled)
      assert.are.equal(200, (n:get("/fake_mode?mode=raw")))
      assert.are.equal(200, (n:get("/raw_steps", nil, cjson.encode(steps))))
      return call(("/attempt?http=%s&timeout_ms=%d"):format(http, timeout_ms or 3000)
        .. (settle and "&settle=" .. settle or "") .. (pooled and "&pooled=1" or ""))
    end
    local body = cjson.encode({ result = model.results_for(seed_pairs()) })

    for _, http in ipairs({ "builtin", "resty" }) do
      -- ngx_lua refuses to pool a socket whose own buffer holds bytes past
      -- the answer ("unread data in buffer"), and it stayed open, in no
      -- pool, until the request ended (review ngx47).  The fake API holds
      -- its end open 0.3 s; the worker's sockets are counted after 0.6.  (A body past the
      -- socket's first read, which ngx_lua makes lua_socket_buffer_size
      -- long, is read with what follows it into that buffer.)
      it(http .. ": closes a connection whose answer came with bytes past it", function()
        local long = body .. (" "):rep(16384)
        local extra = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        local out = attempt(http, { "HTTP/1.1 200 OK\r\nContent-Length: " .. #long .. "\r\n\r\n" .. long .. extra,
                                    0.3 }, 3000, 0.6)
        -- (fewer, when a connection of an earlier case closed meanwhile)
        assert.is_true(out.status == 200 and out.sockets <= 0, cjson.encode(out))
      end)

      -- RFC 9110 7.6.1: a Connection field's lines make one list, and a
      -- "close" in any of them ends the connection after the answer, as
      -- libcurl reads it.  resty.http 0.17 lowers the field through pcall,
      -- which fails on a repeated one (a list), and then keeps the
      -- connection (the double does so too): the adapter decides itself.
      it(http .. ": does not pool a connection whose answer says close on one of its Connection lines", function()
        local got, pooled = {}, false
        for _, lines in ipairs({ "Connection: keep-alive\r\nConnection: close\r\n", "Connection: close\r\n" }) do
          local out = attempt(http, { "HTTP/1.1 200 OK\r\n" .. lines .. "Content-Length: " .. #body .. "\r\n\r\n"
            .. body, 0.5 }, 3000, nil, true)
          got[#got + 1] = cjson.encode(out)
          pooled = pooled or out.status ~= 200 or out.pooled ~= false
        end
        assert.is_false(pooled, table.concat(got, "\n"))
      end)

      it(http .. ": bounds the attempt by its timeout while the head's lines drip in: TIMEOUT", function()
        local steps = { "HTTP/1.1 200 OK\r\n" }
        for _ = 1, 10 do
          steps[#steps + 1] = 0.2
          steps[#steps + 1] = "X-A: b\r\n"
        end
        steps[#steps + 1] = "Content-Length: " .. #body .. "\r\n\r\n" .. body
        local out = attempt(http, steps, 1000)
        assert.are.equal("TIMEOUT", out.kind, cjson.encode(out))
        assert.is_true(out.seconds < 1.3, ("TIMEOUT after %.2f s"):format(out.seconds))
      end)

      it(http .. ": bounds the attempt by its timeout while a header line, the body or a chunk drips in: TIMEOUT",
        function()
        -- text's bytes in 10 pieces, 0.2 s apart: each gap far shorter
        -- than the timeout, all of them twice as long
        local function dripping(steps, text)
          local step = math.ceil(#text / 10)
          for i = 1, #text, step do
            steps[#steps + 1] = 0.2
            steps[#steps + 1] = text:sub(i, i + step - 1)
          end
          return steps
        end
        local head = "HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n"
        local answers = {
          { "a header line", dripping({ head }, "X-Pad: " .. ("p"):rep(40) .. "\r\n") },
          { "the body", dripping({ head .. "\r\n" }, body) },
          { "a chunk", dripping({ ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n"):format(#body) },
            body .. "\r\n0\r\n\r\n") },
        }
        -- every case tried before any is judged, so that a failure shows all
        local got, late = {}, false
        for _, a in ipairs(answers) do
          local out = attempt(http, a[2], 1000)
          got[#got + 1] = a[1] .. ": " .. cjson.encode(out)
          late = late or out.kind ~= "TIMEOUT" or out.seconds >= 1.3
        end
        assert.is_false(late, table.concat(got, "\n"))
      end)

      -- RFC 9112 5: a field's value is trimmed of the spaces around it, as
      -- libcurl trims it; resty.http keeps the trailing ones, and picks its
      -- chunk reader only for a value of "chunked" exactly
      it(http .. ": reads chunks whose Transfer-Encoding ends in spaces, as libcurl does", function()
        local out = attempt(http, { ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \t\r\n\r\n%x\r\n%s\r\n0\r\n\r\n")
          :format(#body, body) })
        assert.are.equal(200, out.status, cjson.encode(out))
      end)

      it(http .. ": refuses a status of four digits, or of none, and an HTTP/1.x other than 1.0 and 1.1: PROTOCOL",
        function()
        local got, taken = {}, false
        for _, line in ipairs({ "HTTP/1.1 2000 OK", "HTTP/1.1 200OK", "HTTP/1.2 200 OK", "HTTP/1.1 OK",
                                "HTTP/1.1  200 OK" }) do
          local out = attempt(http, { line .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body })
          got[#got + 1] = line .. ": " .. cjson.encode(out)
          taken = taken or out.kind ~= "PROTOCOL"
        end
        assert.is_false(taken, table.concat(got, "\n"))
      end)

      -- (resty.http takes a field from anywhere in a line, and ends a head
      -- at a line it finds none in: the rest of the head was the body)
      it(http .. ": refuses a header line that is no field: PROTOCOL, naming it", function()
        local got, taken = {}, false
        for _, line in ipairs({ "X-Note Content-Length: 2", "this is no header", "Content-Length : 2" }) do
          local out = attempt(http, { "HTTP/1.1 200 OK\r\n" .. line .. "\r\nContent-Length: " .. #body .. "\r\n\r\n"
            .. body })
          got[#got + 1] = line .. ": " .. cjson.encode(out)
          taken = taken or out.kind ~= "PROTOCOL" or out.message ~= "bad header line in the answer: " .. line
        end
        assert.is_false(taken, table.concat(got, "\n"))
      end)

      it(http .. ": refuses a NUL byte in a header line: PROTOCOL", function()
        local out = attempt(http, { "HTTP/1.1 200 OK\r\nX-Foo: a\0b\r\nContent-Length: " .. #body .. "\r\n\r\n"
          .. body })
        assert.are.equal("PROTOCOL", out.kind, cjson.encode(out))
        -- the same answer without it is taken
        assert.are.equal(200, attempt(http, { "HTTP/1.1 200 OK\r\nX-Foo: ab\r\nContent-Length: " .. #body
          .. "\r\n\r\n" .. body }).status)
      end)
    end
  end)

  describe("phases without cosockets", function()
    it("init_worker: nil, err naming the phase and ngx.timer.at", function()
      local out = boxed("init_worker")
      assert.are.equal("init_worker", out.phase)
      assert.is_false(out.ok)
      assert.truthy(out.err.message:find("init_worker", 1, true), out.err.message)
      assert.truthy(out.err.message:find("ngx.timer.at", 1, true), out.err.message)
    end)

    it("log: nil, err naming the phase and ngx.timer.at", function()
      assert.are.equal("logged\n", select(2, n:get("/log?key=1")))
      local out = boxed("log:1")
      assert.are.equal("log", out.phase)
      assert.is_false(out.ok)
      assert.truthy(out.err.message:find("log phase", 1, true), out.err.message)
      assert.truthy(out.err.message:find("ngx.timer.at", 1, true), out.err.message)
      assert.are.equal(0, server:stats().requests)
    end)

    for _, within in ipairs({ "gsub", "require", "xpcall", "__gc" }) do
      it("where Lua cannot yield (" .. within .. "): nil, err, nothing sent, the request answered", function()
        local out = call("/no_yield?in=" .. within)
        assert.is_false(out.ok)
        assert.are.equal("UNSUPPORTED_CONTEXT", out.err.code)
        assert.truthy(out.err.message:find("cannot yield", 1, true), out.err.message)
        assert.are.equal(6, out.err.unanswered)
        assert.are.equal(0, server:stats().requests)
        -- nothing left to wake the request early, and the worker goes on
        assert.are.same({ true, "slept" }, out.after)
        assert.are.same(expected(seed_pairs()), ok_outcome(call("/query")))
      end)
    end

    it("inside a metamethod, which LuaJIT yields across, the call is made", function()
      local out = call("/no_yield?in=__index")
      assert.are.same(expected(seed_pairs()), ok_outcome(out))
      assert.are.same({ true, "slept" }, out.after)
    end)

    it("a timer started in init_worker works", function()
      local out = boxed("init_worker_timer")
      assert.are.equal("timer", out.phase)
      assert.are.same(expected(seed_pairs()), ok_outcome(out))
    end)

    it("ngx.timer.at(0, …) from a request works", function()
      local status = n:get("/timer?key=t1")
      assert.are.equal(202, status)
      local out = boxed("t1")
      assert.are.equal("timer", out.phase)
      assert.are.same(expected(seed_pairs()), ok_outcome(out))
      assert.are.equal(1, server:stats().requests)
    end)

    it("available() says true where cosockets are", function()
      local out = call("/available")
      assert.are.same({ phase = "content", ok = true }, out)
    end)
  end)
end)

once.describe("inside nginx, the phases at its edges", function()
  -- A call in nginx's master (init_by_lua), in a TLS session lookup
  -- (ssl_session_fetch_by_lua: ngx_lua documents it as yieldable, but this
  -- nginx's OpenSSL cannot wait there, and a yield kills the handler past
  -- any pcall) and in an exiting worker (exit_worker_by_lua): each returns
  -- UNSUPPORTED_CONTEXT, advice that works there, and sends nothing.
  local server, n, ca

  local function boxed(key) return boxed_in(n, key) end

  local function refused(out, phase)
    assert.are.equal(phase, out.phase)
    assert.is_false(out.ok)
    assert.are.equal("UNSUPPORTED_CONTEXT", out.err.code, cjson.encode(out))
    assert.truthy(out.err.message:find("nginx's " .. phase .. " phase", 1, true), out.err.message)
    assert.are.equal(6, out.err.unanswered)
  end

  standin.for_block(function(s)
    server = s
    ca = standin.make_ca()
    n = nginx.start {
      locations = { "location = /box { content_by_lua_block { " .. APP .. "app.box_handler() } }",
        -- (the phases README names beside the usual ones, which may yield:
        -- once each, in a handshake and in a request for /server_rewrite)
        "ssl_certificate_by_lua_block { if not ngx.shared.box:get('ssl_cert') then " .. APP
          .. "app.query_into_box('ssl_cert') end }",
        "server_rewrite_by_lua_block { if ngx.var.uri == '/server_rewrite' then " .. APP
          .. "app.query_into_box('server_rewrite') end }",
        "location = /server_rewrite { return 204; }" },
      -- TLS 1.2 and no tickets: a client resumes a session by its id,
      -- which nginx looks up through ssl_session_fetch_by_lua
      http = { "lua_shared_dict box 1m;", "ssl_protocols TLSv1.2;", "ssl_session_tickets off;",
        "init_by_lua_block { " .. APP .. "app.query_into_box('init') }",
        "ssl_session_fetch_by_lua_block { " .. APP .. "app.query_into_box('ssl_session_fetch') }",
        "exit_worker_by_lua_block { " .. APP .. "app.query_into_log('exit_worker') }" },
      tls = ca,
      env = { STANDIN_URL = s.url },
    }
  end, function()
    if n then n:stop() end
    if ca then standin.remove_ca(ca) end
  end)

  it("ssl_certificate_by_lua and server_rewrite_by_lua: the query is answered, over cosockets", function()
    local out, ok = shell.run(("openssl s_client -tls1_2 -connect 127.0.0.1:%d </dev/null"):format(n.tls_port))
    assert(ok, out)
    assert.are.equal(204, (n:get("/server_rewrite")))
    for _, phase in ipairs({ "ssl_cert", "server_rewrite" }) do
      out = boxed(phase)
      assert.are.same({ phase, true, true }, { out.phase, out.ok, out.available[1] }, cjson.encode(out))
      assert.are.same(model.results_for(model.seed_query), out.results)
    end
  end)

  it("init_by_lua: nil, err pointing to a timer started in init_worker_by_lua", function()
    local out = boxed("init")
    refused(out, "init")
    assert.truthy(out.err.message:find("from init_worker_by_lua instead, in a timer", 1, true), out.err.message)
  end)

  it("ssl_session_fetch_by_lua: nil, err pointing to ngx.timer.at; the handler and the handshake go on", function()
    -- a session, then a handshake that offers it back
    local sess = n.prefix .. "/session.pem"
    local connect = ("openssl s_client -tls1_2 -connect 127.0.0.1:%d "):format(n.tls_port)
    local out, ok = shell.run(connect .. "-sess_out " .. sess .. " </dev/null")
    assert(ok, out)
    out, ok = shell.run(connect .. "-sess_in " .. sess .. " </dev/null")
    assert(ok, out)
    assert.truthy(out:find("Verify return code", 1, true), out)
    out = boxed("ssl_session_fetch")
    refused(out, "ssl_session_fetch")
    assert.truthy(out.err.message:find("ngx.timer.at(0", 1, true), out.err.message)
    assert.is_nil(n:error_log():find("cannot yield", 1, true), n:error_log())
    assert.are.equal(0, server:stats().requests)
  end)

  -- (last: it stops nginx)
  it("exit_worker_by_lua: nil, err saying that no call can be made there", function()
    n:stop()
    local box = n:error_log():match("box%[exit_worker%]=(%b{})")
    assert(box, n:error_log())
    local out = cjson.decode(box)
    refused(out, "exit_worker")
    assert.truthy(out.err.message:find("no call can be made there", 1, true), out.err.message)
    assert.is_nil(out.err.message:find("ngx.timer.at", 1, true), out.err.message)
    assert.are.equal(0, server:stats().requests)
  end)
end)

once.describe("inside nginx, with the system's clock stepped during an attempt", function()
  -- nginx and its worker run with the wall clock moved by the seconds in
  -- a file (spec/support/clockshift.c, preloaded), as NTP or `date -s`
  -- move it; an attempt is timed by the monotonic clock, as libcurl's is.
  local server, n, dir, shift_file

  local function shift(seconds)
    local f = assert(io.open(shift_file, "w"))
    f:write(tostring(seconds))
    f:close()
  end

  standin.for_block(function(s)
    server = s
    dir = os.tmpname()
    os.remove(dir)
    shift_file = dir .. "/shift"
    local lib = dir .. "/clockshift.so"
    assert(os.execute(("mkdir -p '%s' && cc -shared -fPIC -O1 -o '%s' spec/support/clockshift.c -ldl")
      :format(dir, lib)))
    shift(0)
    -- /stepped?timeout=T&step=S: a query whose attempt may take T s,
    -- the clock stepped S s 0.3 s into it: { code, seconds }
    n = nginx.start {
      locations = { [[location = /stepped { content_by_lua_block {
        local core = require "codearts.batchresult.core"
        local model = require "spec.standin.model"
        local args = ngx.req.get_uri_args()
        local c = assert(require("codearts.batchresult").new { endpoint = os.getenv("STANDIN_URL"),
          project_id = model.seed_project, ak = model.credentials.permanent.ak,
          sk = model.credentials.permanent.sk, timeout = tonumber(args.timeout), max_retries = 0 })
        assert(ngx.timer.at(0.3, function()
          local f = assert(io.open(os.getenv("CLOCK_SHIFT_FILE"), "w"))
          f:write(args.step)
          f:close()
        end))
        local started = core.now()
        local _, err = c:query(model.seed_query)
        ngx.say(require("cjson").encode({ code = err and err.code, seconds = core.now() - started }))
      } }]] },
      env = { STANDIN_URL = s.url, CLOCK_SHIFT_FILE = shift_file, LD_PRELOAD = lib },
    }
  end, function()
    if n then n:stop() end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  before_each(function() shift(0) end)

  -- The answer's head and half its body come 0.5 s in, after the step,
  -- and the rest stall_ms later: the attempt reads on across the step.
  it("an hour forward does not end an attempt early", function()
    server:config { delay_ms = 500, stall_body_first = 1, stall_ms = 1000 }
    local status, body = n:get("/stepped?timeout=3&step=3600")
    assert.are.equal(200, status, body)
    local out = cjson.decode(body)
    assert.is_nil(out.code, body)
    assert.is_true(out.seconds >= 1.4 and out.seconds < 3, body)
  end)

  it("an hour back does not stretch an attempt past its timeout", function()
    server:config { delay_ms = 500, stall_body_first = 1, stall_ms = 2000 }
    local status, body = n:get("/stepped?timeout=1&step=-3600")
    assert.are.equal(200, status, body)
    local out = cjson.decode(body)
    assert.are.equal("TIMEOUT", out.code, body)
    assert.is_true(out.seconds >= 0.9 and out.seconds < 2, body)
  end)
end)

-- libcurl's halves of READ_ALIKE, in the Lua running the suite: the
-- reference the cosockets must agree with.
describe("the libcurl transport, on the answers the cosockets must read as it does", function()
  local server
  standin.for_block(function(s) server = s end)

  for _, case in ipairs(READ_ALIKE) do
    it(case[1], function()
      for _, answer in ipairs(case[2]) do
        server:config { banner_first = 1, banner = answer[2] }
        local c = assert(br.new(server:options { max_retries = 0 }))
        local results, err = c:query(seed_pairs())
        c:close()
        if answer[1] == true then
          assert(results, tostring(err))
          assert.are.same(expected(seed_pairs()), plain(results))
        else
          assert.are.equal(answer[1], err and err.code, tostring(err))
          assert.is_false(err.retryable)
        end
      end
    end)
  end
end)

describe("the ngx transport outside nginx", function()
  local ngx_transport = require "codearts.batchresult.transport.ngx"

  it("is not available, and says why", function()
    assert.is_false(ngx_transport.inside_nginx())
    local ok, why = ngx_transport.available()
    assert.is_false(ok)
    assert.truthy(why:find("only inside nginx", 1, true))
    -- ngx.run_worker_thread's Lua: nginx's, without cosockets (review:
    -- it was told it was not inside nginx)
    rawset(_G, "ngx", { get_phase = function() return "timer" end, config = { ngx_lua_version = 10023 } })
    ok, why = ngx_transport.available()
    rawset(_G, "ngx", nil)
    assert.is_false(ok)
    assert.truthy(why:find("ngx.run_worker_thread's Lua has none of", 1, true), why)
    local t, kind = ngx_transport.new({})
    assert.is_nil(t)
    assert.are.equal("INTERNAL", kind)
  end)

  -- libcurl looks at the transfer's time before each step of it, and sends
  -- no request once it is gone: so neither may the built-in client, not
  -- even within the grace it gives a read (a run sent there would start
  -- pipelines its attempt then calls a TIMEOUT that may have sent them)
  it("sends no request once the attempt's time ran out while connecting: TIMEOUT, not sent", function()
    local http1 = require "codearts.batchresult.transport.http1"
    local now = require("codearts.batchresult.core").now
    local sent, closed = {}, false
    local sock = {
      settimeouts = function() end,
      -- (a connect that took past the attempt's end)
      connect = function()
        local by = now() + 0.03
        repeat until now() >= by
        return true
      end,
      getreusedtimes = function() return 0 end,
      send = function(_, data) sent[#sent + 1] = data return #data end,
      receiveany = function() return nil, "timeout" end,
      close = function() closed = true return true end,
      setkeepalive = function() return true end,
    }
    rawset(_G, "ngx", { socket = { tcp = function() return sock end }, sleep = function() end })
    local ok, res, kind, msg, not_sent = pcall(http1.send, { connect_timeout = 10, max_response_bytes = 1024 },
      { method = "POST", url = "http://127.0.0.1:9/v5/x", headers = {}, body = "{}" },
      { scheme = "http", host = "127.0.0.1", port = 9, path = "/v5/x" },
      { pool = "p", keep = false, resend = false }, now() + 0.01)
    rawset(_G, "ngx", nil)
    assert.is_true(ok, res)
    assert.is_nil(res)
    assert.are.same({ "TIMEOUT", 0, true, true }, { kind, #sent, not_sent, closed }, msg)
  end)

  it("parses the URLs it is given", function()
    local parse = ngx_transport._parse_url
    assert.are.same({ scheme = "https", host = "example.com", name = "example.com", port = 443, path = "/v5/x" },
      parse("https://example.com/v5/x"))
    -- an IP address is no name, to send as SNI or check a certificate against
    assert.are.same({ scheme = "http", host = "127.0.0.1", port = 8080, path = "/" },
      parse("http://127.0.0.1:8080"))
    -- IPv6 literals keep their brackets (ngx_lua wants them)
    assert.are.same({ scheme = "https", host = "[::1]", port = 8443, path = "/a?b=c" },
      parse("https://[::1]:8443/a?b=c"))
    -- localhost is the loopback address whatever nginx's resolver says,
    -- ::1 when 127.0.0.1 refuses, and TLS still checks the name localhost
    assert.are.same({ scheme = "https", host = "127.0.0.1", name = "localhost", port = 443, path = "/",
                      fallback = "[::1]" }, parse("HTTPS://LocalHost/"))
    assert.is_nil(parse("ftp://example.com/"))
    assert.is_nil(parse("https://example.com:0/"))
    assert.is_nil(parse("https://example.com:99999/"))
    assert.is_nil(parse("example.com/v5"))
  end)
end)

once.describe("inside nginx, the transport's pools", function()
  local server, n

  -- Decoded JSON from nginx's path, which must answer 200.
  local function call(path)
    local status, body = n:get(path)
    assert(status == 200, ("GET %s answered %s: %s\n%s"):format(path, status, body, n:error_log()))
    return cjson.decode(body)
  end

  standin.for_block(function(s)
    server = s
    n = nginx.start {
      locations = {
        "location = /query { content_by_lua_block { " .. APP .. "app.query_handler() } }",
        "location = /proxy_logins { content_by_lua_block { "
          .. "require('spec.nginx.pools').proxy_logins_handler() } }",
      },
      env = { STANDIN_URL = s.url },
    }
  end, function()
    if n then n:stop() end
  end)

  it("keep a call's connections at concurrency 64: later calls connect no more", function()
    -- 128 batches of one pair, 64 at once: each held 100 ms, so that all
    -- 64 are out together
    server:config { delay_ms = 100 }
    local query = "/query?n=128&batch_size=1&concurrency=64"
    assert.is_true(call(query).ok)
    local first = server:stats()
    assert.is_true(first.max_in_flight > 32, "max_in_flight " .. first.max_in_flight)
    for _ = 1, 3 do assert.is_true(call(query).ok) end
    local after = server:stats()
    assert.are.equal(4 * 128, after.requests)
    -- (a pool smaller than 64 closes what does not fit in it at each
    -- call's end, and the next call connects as many again)
    assert.is_true(after.connections - first.connections <= 2,
      ("connections: %d after the first call, %d after three more"):format(first.connections, after.connections))
  end)

  it("name a proxy login's pools by no password, keep no login, and never mix two logins", function()
    local out = call("/proxy_logins?used=20&made=4000")
    local alice_a, alice_b, bob_a, alice_a_again = (table.unpack or unpack)(out.pools)
    assert.are_not.equal(alice_a, alice_b)
    assert.are_not.equal(alice_a, bob_a)
    assert.are.equal(alice_a, alice_a_again)
    for _, pool in ipairs(out.pools) do
      assert.truthy(pool:find("http://127.0.0.1:9#login", 1, true), pool)
      assert.is_nil(pool:find("alice", 1, true), pool)
      assert.is_nil(pool:find(out.marker, 1, true), pool)
    end
    -- nothing the worker can still reach holds a password of a transport
    -- closed, nor grows with every login seen
    assert.are.equal(0, out.held, out.held_first)
    assert.is_true(out.grew_kb < 64, ("the heap grew %.0f kB across 4000 logins"):format(out.grew_kb))
  end)
end)
