-- client:query and client:prepare end to end, over real HTTP, against the
-- local CodeArts stand-in (which checks signatures with its own HMAC).
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"
local child = require "spec.support.child"
local cjson = require "cjson"

local creds = model.credentials
local PROJECT = model.seed_project

-- The reference page's six pairs (the model's own list; nothing changes it).
local function seed_pairs() return model.seed_query end

local expected = model.expected

--- A child Lua's query of the first seed pair with a client made from
-- the environment env (ENDPOINT too): what it wrote (the pipeline's name,
-- "|", tostring of the client), and whether it succeeded.
local function query_from_env(env)
  return child.run([[
    local br = require "codearts.batchresult"
    local c = assert(br.new { endpoint = os.getenv("ENDPOINT") })
    local r = assert(c:query { { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db",
                                 pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" } })
    io.write(r[1].pipeline_name, "|", tostring(c))
  ]], env)
end

local function hex_id(n)
  return ("%032x"):format(n)
end

describe("client:query against the stand-in", function()
  local server
  standin.for_block(function(s) server = s end)

  local function client(opts)
    return assert(br.new(server:options(opts)))
  end

  it("answers the seed's six pairs as the reference documents them", function()
    local c = client()
    local results, err = c:query(seed_pairs())
    assert.is_nil(err)
    assert.are.same(expected(seed_pairs()), results)
    assert.are.equal("Pipeline 1", results[1].pipeline_name)
    assert.are.equal("START_FAILED", results[1].status)
    assert.are.equal("Current pipeline is banned.", results[1].reason)
    assert.are.equal(1, server:stats().ok)
  end)

  it("sends a request with its ak, security_token and user_agent each at its longest", function()
    local t = model.credentials.temporary
    local c = client({ ak = t.ak .. ("A"):rep(1024 - #t.ak), sk = t.sk, user_agent = ("u"):rep(256 * 1024),
                       security_token = ("t"):rep(256 * 1024), max_retries = 0 })
    local results, err = c:query(seed_pairs())
    c:close()
    -- (the stand-in refuses so long a head: what matters is that it was
    -- sent, where libcurl refuses one over 1 MiB as INTERNAL)
    assert.is_nil(results)
    assert.are_not.equal("INTERNAL", err.code, tostring(err))
    assert.is_number(err.status, tostring(err))
  end)

  it("reaches loopback over http:// written as an IPv6 address that maps 127.0.0.1", function()
    local c = client({ endpoint = "http://[::ffff:127.0.0.1]:" .. server.port })
    local results = assert(c:query(seed_pairs()))
    assert.are.same(expected(seed_pairs()), results)
  end)

  it("sends with libcurl where ngx.get_phase exists but no cosockets do (ngx.run_worker_thread's Lua), "
    .. "or an ngx table is not ngx_lua's (no ngx.config.ngx_lua_version)", function()
    local function phase() return "content" end
    -- (the last a test's strict stand-in, raising at a field it lacks)
    local strict = setmetatable({ get_phase = phase }, { __index = function(_, k) error("no ngx." .. k) end })
    for _, fake in ipairs({ { get_phase = phase }, { get_phase = phase, socket = {} },
                            { get_phase = phase, socket = {}, config = {} }, strict }) do
      rawset(_G, "ngx", fake)
      local ok, results, err = pcall(function() return client():query(seed_pairs()) end)
      rawset(_G, "ngx", nil)
      assert.is_true(ok, tostring(results))
      assert.is_nil(err)
      assert.are.same(expected(seed_pairs()), results)
    end
  end)

  it("leaves no C1 control (U+009B is a terminal's CSI) in an error's message", function()
    local body = '{"error_code":"DEV.1","error_msg":"bad \\u009b2J\\u009b31m news"}'
    server:config { banner_first = 1, banner = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
      .. "Content-Length: %d\r\n\r\n%s"):format(#body, body) }
    local _, err = client():query(seed_pairs())
    assert.are.equal("DEV.1", err.code)
    assert.are.equal("bad  2J 31m news", err.message)
  end)

  it("takes a blank error code or message from the server for none: HTTP, and the body's start", function()
    for _, body in ipairs({ '{"error_code":"","error_msg":""}', '{"error_code":"   ","error_msg":" "}',
                            '{"code":"","message":""}', '{"error_code":"\\u0007","error_msg":"\\u001b\\u0085"}' }) do
      server:config { banner_first = 1, banner = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\n\r\n%s"):format(#body, body) }
      local _, err = client():query(seed_pairs())
      assert.are.equal("HTTP", err.code, body)
      assert.are.equal(400, err.status)
      assert.are.equal("the server answered HTTP 400: " .. body, err.message)
    end
    -- blank past the length a code or message is cut to (whose "…" is no text)
    for _, body in ipairs({ '{"error_code":"' .. (" "):rep(200) .. '","error_msg":"' .. ("\\t"):rep(5000) .. '"}',
                            '{"error_code":"X.1","error_msg":"' .. ("\\u0001"):rep(5000) .. '"}' }) do
      server:config { banner_first = 1, banner = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\n\r\n%s"):format(#body, body) }
      local _, err = client():query(seed_pairs())
      assert.are.equal(body:find("X.1", 1, true) and "X.1" or "HTTP", err.code)
      assert.truthy(err.message:find("^the server answered HTTP 400: {"), err.message)
    end
  end)

  it("raises a callback's own error again, even one that ends in interrupted!", function()
    local ok, e = pcall(client().query, client(), seed_pairs(), {
      on_progress = function() error("stop: interrupted!", 0) end })
    assert.is_false(ok)
    assert.are.equal("stop: interrupted!", e)
  end)

  it("turns a JSON null reason into an absent field", function()
    local results = assert(client():query(seed_pairs()))
    assert.are.equal("START_SUCCESS", results[2].status)
    assert.is_nil(results[2].reason)
    assert.is_nil(rawget(results[2], "reason"))
  end)

  -- README (client:query): answers are matched by both ids, exactly; a
  -- second answer for a pair, or one for a pair not asked (an id in
  -- another case included), is ignored, and a pair left without one is
  -- missing (review results55: no case held it).
  it("ignores a second answer for a pair, and answers for pairs not asked, ids in another case included", function()
    local p1, r1, p2, r2 = hex_id(0xa1), hex_id(0xb2), hex_id(0xc3), hex_id(0xd4)
    local function item(p, r, status)
      return ('{"pipeline_id":"%s","pipeline_run_id":"%s","status":"%s"}'):format(p, r, status)
    end
    local body = '{"result":[' .. table.concat({ item(p1, r1, "FIRST"), item(p1, r1, "SECOND"),
      item(p1, r1:upper(), "CASE"), item(p2:upper(), r2, "CASE"), item(p2, r1, "NOT_ASKED") }, ",") .. "]}"
    server:config { banner_first = 1, fault_route = "result", banner = ("HTTP/1.1 200 OK\r\nContent-Type: "
      .. "application/json\r\nContent-Length: %d\r\n\r\n%s"):format(#body, body) }
    local c = client()
    local results, err = c:query({ { pipeline_id = p1, pipeline_run_id = r1 },
                                   { pipeline_id = p2, pipeline_run_id = r2 },
                                   { pipeline_id = p1, pipeline_run_id = r1 } })
    c:close()
    assert.is_nil(err)
    assert.are.same({ { pipeline_id = p1, pipeline_run_id = r1, status = "FIRST" } }, { results[1], results[2] })
    assert.are.same({ { pipeline_id = p2, pipeline_run_id = r2 } }, results.missing)
  end)

  it("sends the headers it signs", function()
    assert(client():query(seed_pairs()))
    local last = server:last()
    assert.are.equal("application/json;charset=UTF-8", last.headers["content-type"])
    assert.are.equal(PROJECT, last.headers["x-project-id"])
    assert.are.equal("codearts-batchresult/" .. br.VERSION, last.headers["user-agent"])
    assert.truthy(last.headers["x-sdk-date"]:match("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$"))
    local signed = last.headers["authorization"]:match("SignedHeaders=([^,]+)")
    assert.are.equal("content-type;host;user-agent;x-project-id;x-sdk-date", signed)
    assert.are.equal("/v5/" .. PROJECT .. "/api/pipelines/batch-runs/result", last.path)
    assert.are.same({ query = seed_pairs() }, cjson.decode(last.body))
  end)

  it("uses a custom user agent", function()
    assert(client({ user_agent = "my-dashboard/2.0" }):query(seed_pairs()))
    assert.are.equal("my-dashboard/2.0", server:last().headers["user-agent"])
  end)

  it("answers many generated pairs with the model's results", function()
    local list = {}
    for i = 1, 150 do list[i] = { pipeline_id = hex_id(i), pipeline_run_id = hex_id(1000 + i) } end
    local results = assert(client():query(list))
    assert.are.same(expected(list), results)
  end)

  it("reuses one connection over 20 calls", function()
    local c = client()
    for _ = 1, 20 do assert(c:query(seed_pairs())) end
    local s = server:stats()
    assert.are.equal(20, s.requests)
    assert.are.equal(1, s.connections)
  end)

  -- A run batch's fresh connection stayed in libcurl's cache after its
  -- answer, never reused by another run, up to 256 a client, and every
  -- forked child inherited them (review fork44).
  -- (in a Lua of its own: the count is the process's, and the other
  -- clients of the suite, which the collector finalizes whenever it finds
  -- them, came and went in it: 59 sockets before the runs and 26 after,
  -- once, in a CI)
  it("closes each run batch's connection after its answer", function()
    local out, ok = child.run(([[
      local br = require "codearts.batchresult"
      local model = require "spec.standin.model"
      local function open_sockets()
        local stat = assert(io.open("/proc/self/stat"))
        local pid = stat:read("*l"):match("^%%d+")
        stat:close()
        -- (a descriptor ls lists may close before it reads its link: ls says so
        -- on stderr, which is no count)
        local p = assert(io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null"))
        local n = select(2, p:read("*a"):gsub("socket:", ""))
        p:close()
        return n
      end
      local c = assert(br.new { endpoint = %q, project_id = model.seed_project,
                                ak = model.credentials.permanent.ak, sk = model.credentials.permanent.sk })
      assert(c:query(model.seed_query)) -- (its connection stays, for the next query)
      local before, ids = open_sockets(), {}
      for i, pair in ipairs(model.seed_query) do ids[i] = pair.pipeline_id end
      for _ = 1, 3 do assert(c:run(ids, { batch_size = 1 })) end
      local after = open_sockets()
      assert(c:query(model.seed_query))
      c:close()
      io.write(before, " ", after)
    ]]):format(server.url))
    assert.is_true(ok, out)
    local before, after = out:match("^(%d+) (%d+)$")
    assert.truthy(before, out)
    assert.are.equal(before, after)
  end)

  describe("reports the API's errors as values", function()
    it("a wrong AK: APIGW.0301 with status and request id", function()
      local results, err = client({ ak = "WRONGACCESSKEY00001" }):query(seed_pairs())
      assert.is_nil(results)
      assert.are.equal("APIGW.0301", err.code)
      assert.are.equal(401, err.status)
      assert.truthy(err.request_id and #err.request_id > 0)
      assert.is_false(err.retryable)
      assert.truthy(tostring(err):find("^APIGW%.0301 %(HTTP 401%): Incorrect IAM authentication information"))
      assert.truthy(tostring(err):find("[request " .. err.request_id .. "]", 1, true))
      -- joined by .. as tostring shows it, on either side
      assert.are.equal("failed: " .. tostring(err) .. "!", "failed: " .. err .. "!")
      assert.are.equal(tostring(err) .. 7, err .. 7)
      -- (and nothing else, as .. joins nothing else: a caller's bug)
      assert.has_error(function() return err .. nil end, "attempt to concatenate a nil value")
      assert.has_error(function() return {} .. err end, "attempt to concatenate a table value")
      assert.is_true(br.Error.is(err))
      assert.is_false(br.Error.is({ code = "APIGW.0301" }))
    end)

    it("a wrong SK: APIGW.0301, and the SK appears nowhere", function()
      local c = client({ sk = "not-the-right-secret-key-0001" })
      local results, err = c:query(seed_pairs())
      assert.is_nil(results)
      assert.are.equal("APIGW.0301", err.code)
      assert.are.equal(401, err.status)
      assert.is_nil(tostring(err):find("not-the-right-secret-key-0001", 1, true))
      assert.is_nil(tostring(c):find("not-the-right-secret-key-0001", 1, true))
    end)

    it("a bad request: HTTP 400 with the API's code", function()
      server:config({ max_items = 2 })
      local results, err = client():query(seed_pairs())
      assert.is_nil(results)
      assert.are.equal(400, err.status)
      assert.are.equal("DEVPIPE.00011001", err.code)
      assert.truthy(err.message:find("at most 2", 1, true))
      assert.truthy(err.request_id)
    end)

    it("a network failure: NETWORK, retryable", function()
      local dead = standin.start()
      local url = dead.url
      dead:stop()
      local c = assert(br.new { endpoint = url, project_id = PROJECT, ak = "AK", sk = "SK", max_retries = 0 })
      local results, err = c:query(seed_pairs())
      assert.is_nil(results)
      assert.are.equal("NETWORK", err.code)
      assert.is_nil(err.status)
      assert.is_true(err.retryable)
    end)

    it("a slow server: TIMEOUT after the configured time", function()
      server:config({ delay_ms = 2000 })
      local c = client({ timeout = 0.3, max_retries = 0 })
      local t0 = br.now()
      local results, err = c:query(seed_pairs())
      assert.is_nil(results)
      assert.are.equal("TIMEOUT", err.code)
      assert.is_true(err.retryable)
      local took = br.now() - t0
      assert.is_true(took >= 0.25 and took < 1.5, ("took %.2f s"):format(took))
    end)
  end)

  -- After more than five AK/SK failures in a row the key is locked for five
  -- minutes: a call that sent each of its batches with credentials the
  -- server refused would lock the key by itself.
  describe("a refused credential (401) ends the call: no other batch, nor a retry, goes out", function()
    local SIGNED_WRONG = { sk = "not-the-right-secret-key-0001" }

    local function pairs_of(n)
      local list = {}
      for i = 1, n do list[i] = { pipeline_id = hex_id(i), pipeline_run_id = hex_id(1000 + i) } end
      return list
    end

    local function ids_of(n)
      local list = {}
      for i = 1, n do list[i] = hex_id(i) end
      return list
    end

    --- err is the 401 (code) that ended a call of given items, after the
    -- server got requests: nothing else went.  batches: how many were sent
    -- (err.batches), and failed (err.failed_batches).
    local function ended_by(err, code, given, requests, batches, failed)
      assert.are.equal(code, err.code, tostring(err))
      assert.are.equal(401, err.status)
      assert.are.equal(requests, server:stats().requests)
      assert.are.equal(batches, err.batches)
      assert.are.equal(failed, err.failed_batches)
      assert.are.equal(given, #err.results + #err.results.missing + #err.unanswered)
    end

    it("query, a pair a batch: one request of twelve, signed or with a token", function()
      for _, creds_of in ipairs({ SIGNED_WRONG, { token = "wrong-token" } }) do
        server:reset()
        local _, err = client(creds_of):query(pairs_of(12), { batch_size = 1, concurrency = 1 })
        ended_by(err, "APIGW.0301", 12, 1, 1, 1)
        assert.are.equal(12, #err.unanswered)
      end
    end)

    it("run, 700 ids in batches of 100: one request at concurrency 1; at 4, the four in flight end", function()
      for _, concurrency in ipairs({ 1, 4 }) do
        server:reset()
        local logged = {}
        local c = client { sk = SIGNED_WRONG.sk, logger = function(e) logged[#logged + 1] = e.status end }
        local _, err = c:run(ids_of(700), { batch_size = 100, concurrency = concurrency })
        ended_by(err, "APIGW.0301", 700, concurrency, concurrency, concurrency)
        assert.are.equal(concurrency, server:stats().routes.run)
        assert.are.equal(700, #err.unanswered)
        for i = 1, concurrency do assert.are.equal(401, logged[i]) end
        assert.are.equal(concurrency, #logged)
      end
    end)

    it("query: another batch's retry is not sent either", function()
      -- (the first batch's 503 asks for a retry in a second; meanwhile the
      -- second batch goes, and is refused)
      server:config { fail_first = 1, fail_first_status = 503, retry_after = "1" }
      local _, err = client(SIGNED_WRONG):query(pairs_of(12), { batch_size = 1, concurrency = 1 })
      -- (the batch whose retry was waiting ended in its 503: failed too)
      ended_by(err, "APIGW.0301", 12, 2, 2, 2)
      assert.are.equal(12, #err.unanswered)
    end)

    -- A batch in flight that fails once the call drains is not told it
    -- will be sent again, counts as failed, and every batch reaches
    -- on_progress, as a deadline's do (review).
    it("query: a batch in flight whose 503 comes after the 401 is not retried, and progress reaches the total",
      function()
      local body = '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}'
      local list = pairs_of(3)
      -- (the first request to come gets the 401 at once, the other the
      -- 503 a second later; the third pair would be answered 200, were it
      -- sent)
      server:config { banner_first = 1, banner = ("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\n\r\n%s"):format(#body, body), delay_ms = 1000, fail_status = 503,
        fail_ids = { list[1].pipeline_run_id, list[2].pipeline_run_id } }
      local events, progress = {}, {}
      local c = client { logger = function(e) events[#events + 1] = e end }
      local _, err = c:query(list, { batch_size = 1, concurrency = 2,
                                     on_progress = function(done) progress[#progress + 1] = done end })
      assert.are.equal("APIGW.0301", err.code, tostring(err))
      -- On a loaded machine the two requests may reach the stand-in a
      -- second apart, the 503 then first: its retry is due, and the third
      -- batch may go, before the 401 drains the call.  Whatever comes after
      -- the 401 is sent no more.  (Batches, not the requests the stand-in
      -- counts: libcurl may send a query again by itself on a connection
      -- the 401 closed, README: Errors.)
      local refused_at
      for i, e in ipairs(events) do
        if e.status == 401 then refused_at = refused_at or i end
        if refused_at and i > refused_at then assert.is_nil(e.retry_in, e.error) end
      end
      assert.truthy(refused_at)
      local third_sent = server:stats().statuses["200"] ~= nil
      assert.are.equal(third_sent and 3 or 2, err.batches)
      assert.are.equal(err.batches, #events)
      assert.are.equal(2, err.failed_batches)
      assert.are.equal(third_sent and 2 or 3, #err.unanswered)
      assert.are.same({ 0, 1, 2, 3 }, progress)
    end)

    it("APIGW.0303 whose Date cannot set the clock: one request", function()
      -- (the server's clock 200 years ahead: a Date no client believes)
      server:config { clock_offset_s = 200 * 365 * 86400 }
      local _, err = client():query(pairs_of(12), { batch_size = 1, concurrency = 1 })
      ended_by(err, "APIGW.0303", 12, 1, 1, 1)
    end)

    it("APIGW.0303 again once the clock was set: two requests", function()
      local body = '{"error_code":"APIGW.0303","error_msg":"Incorrect app authentication information"}'
      server:config { banner_first = 2, banner = ("HTTP/1.1 401 Unauthorized\r\nDate: %s\r\n"
        .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
        :format(os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 7200), #body, body) }
      local _, err = client():query(pairs_of(12), { batch_size = 1, concurrency = 1 })
      ended_by(err, "APIGW.0303", 12, 2, 1, 1)
      assert.are.equal(2, err.attempts)
    end)

    it("APIGW.0303 that set the clock is no refusal: with max_retries 0 the other batches go, signed right",
      function()
      server:config { clock_offset_s = 3600 }
      local _, err = client({ max_retries = 0 }):query(pairs_of(12), { batch_size = 1, concurrency = 1 })
      ended_by(err, "APIGW.0303", 12, 12, 12, 1)
      assert.are.equal(11, #err.results)
    end)

    --- The stand-in's clock an hour ahead, so that a first request sets
    -- the client's, and every answer after the first `after` an APIGW.0303
    -- dated by that clock: refused, however it is signed.
    local function expired_after(after)
      local body = '{"error_code":"APIGW.0303","error_msg":"Incorrect app authentication information"}'
      server:config { clock_offset_s = 3600, fault_after = after, banner_first = 10,
        banner = ("HTTP/1.1 401 Unauthorized\r\nDate: %s\r\nContent-Type: application/json\r\n"
          .. "Content-Length: %d\r\n\r\n%s")
          :format(os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600), #body, body) }
    end

    it("APIGW.0303 on a later batch, signed by the clock an earlier one set, is a refusal", function()
      expired_after(2)
      local _, err = client({ max_retries = 0 }):query(pairs_of(5), { batch_size = 1, concurrency = 1 })
      ended_by(err, "APIGW.0303", 5, 3, 3, 2)
      assert.are.equal(1, #err.results)
    end)

    it("run_and_query: an APIGW.0303 that set the clock stops neither half", function()
      server:config { clock_offset_s = 3600 }
      local ids = ids_of(4)
      local _, err = client({ max_retries = 0 }):run_and_query(ids, { batch_size = 1, concurrency = 1 })
      assert.are.equal("APIGW.0303", err.code, tostring(err))
      assert.are.equal(4, server:stats().routes.run)
      assert.are.equal(3, #err.results)
      assert.are.equal(0, #err.unqueried)
      assert.are.same({ ids[1] }, err.unanswered)
    end)

    -- One method, one clock: what the first half set right, the second
    -- does not learn again from an APIGW.0303 on a request signed by it
    -- (review).
    it("run_and_query: APIGW.0303 in the second half, signed by the clock the first set, is a refusal", function()
      expired_after(2)
      local ids = ids_of(2)
      local _, err = client():run_and_query(ids, { batch_size = 2 })
      assert.are.equal("APIGW.0303", err.code, tostring(err))
      assert.are.equal(2, server:stats().routes.run)
      assert.are.equal(1, server:stats().routes.result)
      assert.are.equal(2, #err.unqueried)
    end)

    -- The two halves are one method: their batches count together
    -- (review: the counts were the failing half's alone).
    it("run_and_query: err.batches and err.failed_batches count both halves", function()
      local ids = ids_of(3)
      server:config { fail_ids = { ids[2], model.run_id_for(ids[1], 1) }, fail_status = 502 }
      local _, err = client({ max_retries = 0 }):run_and_query(ids, { batch_size = 1, concurrency = 1 })
      assert.are.equal(3, server:stats().routes.run)
      assert.are.equal(2, server:stats().routes.result)
      assert.are.equal(5, err.batches, tostring(err))
      assert.are.equal(2, err.failed_batches)
    end)

    it("run_and_query: the runs that started before it are not queried with the refused credential", function()
      local ids = ids_of(4)
      server:config { fail_ids = { ids[3] }, fail_status = 401 }
      local _, err = client():run_and_query(ids, { batch_size = 2, concurrency = 1 })
      assert.are.equal(401, err.status, tostring(err))
      assert.are.equal(2, server:stats().routes.run)
      assert.are.equal(2, server:stats().requests)
      assert.are.equal(2, #err.unqueried)
      assert.are.same({ ids[3], ids[4] }, err.unanswered)
      assert.are.equal(0, #err.results)
    end)
  end)

  describe("credentials", function()
    it("an IAM token, sent as X-Auth-Token without a signature", function()
      assert.are.same(expected(seed_pairs()), assert(client({ token = creds.iam_token }):query(seed_pairs())))
      local h = server:last().headers
      assert.are.equal(creds.iam_token, h["x-auth-token"])
      assert.is_nil(h["authorization"])
      local _, err = client({ token = "wrong-token" }):query(seed_pairs())
      assert.are.equal(401, err.status)
    end)

    it("a temporary AK/SK with its security token, signed", function()
      local t = creds.temporary
      local c = client({ ak = t.ak, sk = t.sk, security_token = t.security_token })
      assert.are.same(expected(seed_pairs()), assert(c:query(seed_pairs())))
      local h = server:last().headers
      assert.are.equal(t.security_token, h["x-security-token"])
      assert.truthy(h["authorization"]:find("x-security-token", 1, true))
      assert.is_nil(tostring(c):find(t.security_token, 1, true))
    end)

    it("never shows a security token the server echoes back", function()
      local t = creds.temporary
      local c = client({ ak = t.ak, sk = "wrong-secret", security_token = t.security_token })
      local _, err = c:query(seed_pairs())
      assert.are.equal("APIGW.0301", err.code)
      assert.is_nil(tostring(err):find(t.security_token, 1, true))
    end)

    it("from the environment, as the official SDKs read it", function()
      local out, ok = query_from_env({ ENDPOINT = server.url, HUAWEICLOUD_SDK_AK = creds.temporary.ak,
        HUAWEICLOUD_SDK_SK = creds.temporary.sk, HUAWEICLOUD_SDK_SECURITY_TOKEN = creds.temporary.security_token,
        HUAWEICLOUD_SDK_PROJECT_ID = PROJECT })
      assert.is_true(ok, out)
      assert.truthy(out:find("^Pipeline 1|"), out)
      assert.is_nil(out:find(creds.temporary.sk, 1, true))
      assert.are.equal(creds.temporary.security_token, server:last().headers["x-security-token"])
    end)

    it("never through a proxy the environment names, for an http:// (loopback) endpoint", function()
      -- A proxy off this machine would get the credentials unencrypted:
      -- here a port where nothing listens stands for it, and the call must
      -- not go there.
      local dead = standin.start()
      local proxy = dead.url
      dead:stop()
      local out, ok = child.run([[
        local br = require "codearts.batchresult"
        local c = assert(br.new { endpoint = os.getenv("ENDPOINT"), max_retries = 0 })
        local r = assert(c:query { { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db",
                                     pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" } })
        io.write(r[1].pipeline_name)
      ]], { ENDPOINT = server.url, http_proxy = proxy, ALL_PROXY = proxy, all_proxy = proxy,
            HUAWEICLOUD_SDK_AK = creds.permanent.ak, HUAWEICLOUD_SDK_SK = creds.permanent.sk,
            HUAWEICLOUD_SDK_PROJECT_ID = PROJECT })
      assert.is_true(ok, out)
      assert.are.equal("Pipeline 1", out)
    end)

    it("through the proxy option, whatever no_proxy says; through the environment's proxy as new() found it",
      function()
      -- Ports where nothing listens stand for the endpoint (9) and the
      -- proxy: a failed connection's message names the one it tried.
      local dead = standin.start()
      local proxy_port = dead.url:match(":(%d+)$")
      dead:stop()
      local password = "s3cretProxyPassword"
      local out, ok = child.run([[
        local br = require "codearts.batchresult"
        local setenv = require("spec.support.clib")("setenv")
        local list = { { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db",
                         pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" } }
        local function tried(c)
          local _, err = c:query(list)
          return (err.message:match("port (%d+)") or err.message) .. "\n"
        end
        local port = os.getenv("PROXY_PORT")
        local opts = { endpoint = "https://127.0.0.1:9", max_retries = 0, proxy = "http://127.0.0.1:" .. port }
        -- the option, with NO_PROXY naming every host
        io.write(tried(assert(br.new(opts))))
        -- none named at new(): a variable set after it is not read
        opts.proxy = nil
        setenv("NO_PROXY", "")
        local c = assert(br.new(opts))
        setenv("https_proxy", "ftp://alice:" .. os.getenv("PASSWORD") .. "@127.0.0.1:" .. port)
        io.write(tried(c))
        -- one named at new(), with no_proxy naming another host
        setenv("https_proxy", "http://alice:" .. os.getenv("PASSWORD") .. "@127.0.0.1:" .. port)
        setenv("NO_PROXY", "example.com")
        io.write(tried(assert(br.new(opts))))
        -- an empty variable is unset, as libcurl reads them: the next counts
        setenv("https_proxy", "")
        setenv("HTTPS_PROXY", "http://127.0.0.1:" .. port)
        io.write(tried(assert(br.new(opts))))
        setenv("no_proxy", "")
        setenv("NO_PROXY", "127.0.0.1")
        io.write(tried(assert(br.new(opts))))
      ]], { PROXY_PORT = proxy_port, PASSWORD = password, NO_PROXY = "*", https_proxy = false,
            HTTPS_PROXY = false, all_proxy = false, ALL_PROXY = false, no_proxy = false,
            HUAWEICLOUD_SDK_AK = creds.permanent.ak, HUAWEICLOUD_SDK_SK = creds.permanent.sk,
            HUAWEICLOUD_SDK_PROJECT_ID = PROJECT })
      assert.is_true(ok, out)
      assert.is_nil(out:find(password, 1, true), out)
      assert.are.equal(proxy_port .. "\n9\n" .. proxy_port .. "\n" .. proxy_port .. "\n9\n", out)
    end)

    it("a region whose endpoint the environment overrides", function()
      local out, ok = child.run([[
        local br = require "codearts.batchresult"
        local c = assert(br.new { region = "cn-north-4" })
        io.write(c.endpoint, "|", #assert(c:query { { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db",
                                                       pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" } }))
      ]], { HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4 = server.url, HUAWEICLOUD_SDK_AK = creds.permanent.ak,
            HUAWEICLOUD_SDK_SK = creds.permanent.sk, HUAWEICLOUD_SDK_PROJECT_ID = PROJECT })
      assert.is_true(ok, out)
      assert.are.equal(server.url .. "|1", out)
    end)
  end)

  describe("client:prepare", function()
    it("gives a signed request that another HTTP client (curl) can send", function()
      local c = client()
      local req = assert(c:prepare(seed_pairs()))
      assert.are.equal("POST", req.method)
      assert.are.equal(server.url .. "/v5/" .. PROJECT .. "/api/pipelines/batch-runs/result", req.url)
      local body = require("spec.support.curl").send(req)
      -- decode cannot know what was asked, so it reports nothing missing.
      local want = expected(seed_pairs())
      want.missing = nil
      assert.are.same(want, assert(br.decode(body)))
      assert.are.equal(0, server:stats().requests - 1)
    end)

    it("hides the credentials when printed", function()
      local t = creds.temporary
      local req = assert(client({ ak = t.ak, sk = t.sk, security_token = t.security_token }):prepare(seed_pairs()))
      local s = tostring(req)
      assert.truthy(s:find("Authorization: [REDACTED]", 1, true))
      assert.is_nil(s:find(t.security_token, 1, true))
      assert.truthy(s:find(req.body, 1, true))
      -- The request is the caller's, who may name its headers in lower
      -- case (as HTTP/2 does): the signature showed whole (review inputs3).
      local signature = req.headers.Authorization:match("Signature=(%x+)")
      local lower = {}
      for k, v in pairs(req.headers) do lower[k:lower()] = v end
      req.headers = lower
      s = tostring(req)
      assert.truthy(s:find("authorization: [REDACTED]", 1, true), s)
      assert.truthy(s:find("x-security-token: [REDACTED]", 1, true), s)
      assert.is_nil(s:find(signature, 1, true), s)
    end)

    -- The names were lowered by string.lower, the C library's tolower,
    -- which follows the locale a host (Neovim) sets: in tr_TR.ISO-8859-9
    -- "I" lowers to the dotless "\253", so a request whose headers the
    -- caller named in upper case showed AUTHORIZATION's signature whole
    -- (review api56).  Here string.lower does as that locale's.
    it("hides the credential headers whatever the C locale's tolower makes of their names", function()
      local t = creds.temporary
      local req = assert(client({ ak = t.ak, sk = t.sk, security_token = t.security_token }):prepare(seed_pairs()))
      local signature = req.headers.Authorization:match("Signature=(%x+)")
      local upper = {}
      for k, v in pairs(req.headers) do upper[k:upper()] = v end
      req.headers = upper
      local lower = string.lower
      string.lower = function(s) return lower((s:gsub("I", "\253"))) end -- luacheck: ignore 122
      local ok, s = pcall(tostring, req)
      string.lower = lower -- luacheck: ignore 122
      assert(ok, s)
      assert.truthy(s:find("AUTHORIZATION: [REDACTED]", 1, true), s)
      assert.truthy(s:find("X-SECURITY-TOKEN: [REDACTED]", 1, true), s)
      assert.is_nil(s:find(signature, 1, true), s)
    end)
  end)

  describe("dry_run", function()
    it("returns the requests query would send, one per batch, and sends nothing", function()
      local list = {}
      for i = 1, 25 do list[i] = { pipeline_id = hex_id(i), pipeline_run_id = hex_id(500 + i) } end
      list[26] = list[3] -- given twice: asked once
      local reqs = assert(client():query(list, { dry_run = true, batch_size = 10 }))
      assert.are.equal(3, #reqs)
      local seen = {}
      for i, req in ipairs(reqs) do
        assert.are.equal("POST", req.method)
        assert.are.equal(server.url .. "/v5/" .. PROJECT .. "/api/pipelines/batch-runs/result", req.url)
        assert.truthy(req.headers.Authorization:find("^SDK%-HMAC%-SHA256 "))
        assert.truthy(tostring(req):find("Authorization: [REDACTED]", 1, true))
        for _, p in ipairs(cjson.decode(req.body).query) do seen[#seen + 1] = p end
        assert.are.equal(i < 3 and 10 or 5, #cjson.decode(req.body).query)
      end
      local want = {}
      for i = 1, 25 do want[i] = list[i] end
      assert.are.same(want, seen)
      assert.are.equal(0, server:stats().requests)
    end)

    it("works for run, and run_and_query refuses it", function()
      local ids = { hex_id(1), hex_id(2) }
      local reqs = assert(client():run(ids, { dry_run = true }))
      assert.are.equal(1, #reqs)
      assert.are.equal(server.url .. "/v5/" .. PROJECT .. "/api/pipelines/batch-runs", reqs[1].url)
      assert.are.same({ pipeline_ids = ids }, cjson.decode(reqs[1].body))
      local none, err = client():run_and_query(ids, { dry_run = true })
      assert.is_nil(none)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.are.equal(0, server:stats().requests)
    end)

    it("prepare signs one request for either operation", function()
      local ids = { hex_id(7), hex_id(8), hex_id(7) }
      local req = assert(client():prepare(ids, { operation = "run" }))
      assert.are.same({ pipeline_ids = { hex_id(7), hex_id(8) } }, cjson.decode(req.body))
      local _, err = client():prepare(ids, { operation = "delete" })
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.are.equal(0, server:stats().requests)
    end)
  end)

  describe("bad input is refused and nothing is sent", function()
    local function refused(list, pattern)
      local c = client()
      local before = server:stats().requests
      local results, err = c:query(list)
      assert.is_nil(results)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find(pattern, 1, true), err.message)
      local req, perr = c:prepare(list)
      assert.is_nil(req)
      assert.are.equal(err.message, perr.message)
      assert.are.equal(before, server:stats().requests)
    end
    local good = "6ba9a2dbc7024c22a9a6614516dc22db"

    it("a non-table", function() refused("pairs", "got string") end)
    it("an empty list", function() refused({}, "empty") end)
    it("one pair not in a list, or a list of other keys: empty, saying what it holds", function()
      refused({ pipeline_id = good, pipeline_run_id = good },
        "pairs is empty (it is one item, not a list of them: give { { pipeline_id = …, … } })")
      refused({ pipeline_run_id = good }, "pairs is empty (it is one item, not a list of them")
      refused({ first = { pipeline_id = good, pipeline_run_id = good } },
        "pairs is empty (it holds keys other than 1..n)")
      local _, err = client():run({ a = good })
      assert.are.equal("pipeline_ids is empty (it holds keys other than 1..n)", err.message)
    end)
    -- (both said "fields behind a metatable do not count": review inputs2)
    it("a call's error given for its err.unanswered, or a result set a filter emptied: empty, naming it", function()
      local c = client()
      server:config { fail_ids = { good }, fail_status = 400 }
      local _, failed = c:query({ { pipeline_id = good, pipeline_run_id = good } })
      assert.are.equal(400, failed.status)
      server:config { fail_ids = {} }
      refused(failed, "pairs is empty (it is an error: its items are err.unanswered)")
      local _, err = c:run(failed)
      assert.are.equal("pipeline_ids is empty (it is an error: its items are err.unanswered)", err.message)
      local none = assert(c:query(seed_pairs())):where(function() return false end)
      refused(none, "pairs is empty (an empty result set)")
    end)
    it("an item that is not a table", function() refused({ 42 }, "pairs[1] must be a table") end)
    it("a missing field", function()
      refused({ { pipeline_id = good, pipeline_run_id = good }, { pipeline_id = good } },
        "pairs[2].pipeline_run_id is missing")
    end)
    it("an id of the wrong length", function()
      refused({ { pipeline_id = good:sub(2), pipeline_run_id = good } },
        "pairs[1].pipeline_id must be 32 letters or digits")
    end)
    it("an id with other characters", function()
      refused({ { pipeline_id = good, pipeline_run_id = good:sub(1, 31) .. "-" } }, "pairs[1].pipeline_run_id")
      refused({ { pipeline_id = good:sub(1, 30) .. "\r\n", pipeline_run_id = good } }, "pairs[1].pipeline_id")
      refused({ { pipeline_id = good:sub(1, 31) .. "\0", pipeline_run_id = good } }, "pairs[1].pipeline_id")
      refused({ { pipeline_id = good:sub(1, 30) .. "é", pipeline_run_id = good } }, "pairs[1].pipeline_id")
    end)
    it("an id that is not a string", function()
      refused({ { pipeline_id = 12345, pipeline_run_id = good } }, "got number")
    end)
  end)
end)

describe("br.new refuses", function()
  local base = { endpoint = "https://example.com", project_id = PROJECT, ak = "AK", sk = "SK" }
  local function refused(changes, pattern)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(changes) do
      if v == false then o[k] = nil else o[k] = v end
    end
    local c, err = br.new(o)
    assert.is_nil(c)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.truthy(err.message:find(pattern, 1, true), err.message)
    return err
  end

  it("an unknown region", function()
    refused({ endpoint = false, region = "xx-nowhere-1" }, "unknown region 'xx-nowhere-1'")
    refused({ endpoint = false, region = "CN-North-4" }, "; names are lower case: 'cn-north-4')")
  end)
  it("a region whose override in the environment names no endpoint, naming the variable", function()
    local config = require "codearts.batchresult.config"
    local o = { region = "cn-north-4", project_id = PROJECT, ak = "AK", sk = "SK" }
    local _, err = config.build(o, function(name)
      if name == "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4" then return " , https://a.example" end
    end)
    assert.are.equal("HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4 is set, but names no endpoint first",
      err.message)
  end)
  it("an empty user_agent, which libcurl would leave out of a request that signs it", function()
    refused({ user_agent = "" }, "user_agent must not be empty")
  end)
  it("a user_agent, security_token or token that libcurl or the signer would not send as given", function()
    -- libcurl leaves out a header whose value is only white space, after it was signed
    for _, v in ipairs({ "   ", "\t", " \v\f " }) do
      refused({ user_agent = v }, "user_agent must not be empty or only white space")
      -- (in words whole: white space alone is no key to redact, review)
      assert.are.equal("security_token", refused({ security_token = v },
        "security_token must not be empty or only white space").option)
      assert.are.equal("token", refused({ ak = false, sk = false, token = v },
        "token must not be empty or only white space").option)
    end
    -- a control character other than a tab is no field value (RFC 9110 5.5): the signer refuses it
    refused({ user_agent = "app\1" }, "user_agent must not contain a control character other than a tab")
    refused({ security_token = "tok\127en" }, "security_token must not contain a control character")
    refused({ ak = false, sk = false, token = "tok\31en" }, "token must not contain a control character")
    -- from the environment, naming the variable
    local config = require "codearts.batchresult.config"
    local env = { HUAWEICLOUD_SDK_AK = "AK", HUAWEICLOUD_SDK_SK = "SK", HUAWEICLOUD_SDK_SECURITY_TOKEN = "  " }
    local _, err = config.build({ endpoint = "https://example.com", project_id = PROJECT },
      function(name) return env[name] end)
    assert.are.equal("environment variable HUAWEICLOUD_SDK_SECURITY_TOKEN must not be empty or only white space",
      err.message)
    -- of two bad variables, the same one named in every process (the order
    -- was pairs', which Lua 5.4 seeds anew in each; review)
    for _ = 1, 8 do
      local out, ok = child.run([[
        local env = { HUAWEICLOUD_SDK_AK = "A\rK", HUAWEICLOUD_SDK_SK = "S\rK",
                      HUAWEICLOUD_SDK_SECURITY_TOKEN = "T\rT" }
        local _, err = require("codearts.batchresult.config").build({ endpoint = "https://example.com",
          project_id = ("a"):rep(32) }, function(name) return env[name] end)
        io.write(err.message)
      ]])
      assert.is_true(ok, out)
      assert.are.equal("environment variable HUAWEICLOUD_SDK_AK must not contain CR, LF or NUL", out)
    end
    -- a tab inside is a field value's own
    assert.truthy(br.new { endpoint = "https://example.com", project_id = PROJECT, ak = "AK", sk = "SK",
      user_agent = "app\t1.0", security_token = "a\tb" }):close()
    -- past 256 KiB: three such values would pass the 1 MiB request head
    -- libcurl refuses at every call ("Out of memory")
    local long = ("x"):rep(256 * 1024 + 1)
    refused({ user_agent = long }, "user_agent must be at most 262144 bytes")
    refused({ security_token = long }, "security_token must be at most 262144 bytes")
    refused({ ak = false, sk = false, token = long }, "token must be at most 262144 bytes")
    assert.truthy(br.new { endpoint = "https://example.com", project_id = PROJECT, ak = "AK", sk = "SK",
      user_agent = long:sub(2), security_token = long:sub(2) }):close()
  end)
  -- A key shorter than the shortest run redaction matches, or white space
  -- alone, is no key: redacted from a refusal, it blanked its letters out
  -- of it ("proj[REDACTED]ct_id" for the sk "e"; review).  From the
  -- shortest run on, a key pasted into the wrong option is redacted.
  it("in words whole, when a key given is too short to redact or only white space", function()
    local short = PROJECT:sub(2)
    local min = require("codearts.batchresult.core").limits.redact_min_run
    assert.are.equal('project_id must be 32 letters or digits, got "' .. short .. '"',
      refused({ project_id = short, sk = "e" }, "project_id").message)
    assert.are.equal("sk is only white space", refused({ sk = " \t " }, "sk").message)
    local key = ("k"):rep(min - 1)
    assert.are.equal('project_id must be 32 letters or digits, got "' .. key .. '"',
      refused({ project_id = key, security_token = key }, "project_id").message)
    key = ("k"):rep(min)
    assert.are.equal('project_id must be 32 letters or digits, got "[REDACTED]"',
      refused({ project_id = key, security_token = key }, "project_id").message)
    key = ("t"):rep(min)
    assert.are.equal('project_id must be 32 letters or digits, got "[REDACTED]"',
      refused({ project_id = key, ak = false, sk = false, token = key }, "project_id").message)
  end)
  -- A key of control characters is a key, but its one line (as a message
  -- shows it) was a space: redacted, that blanked every space out of every
  -- message, the one refusing it too (review).
  it("in words whole, when a key of control characters is refused, or held from the environment", function()
    local message = refused({ sk = ("\0"):rep(8) }, "sk").message
    assert.is_nil(message:find("[REDACTED]", 1, true), message)
    assert.truthy(message:find("sk must not contain", 1, true), message)
    -- a client's own such key, and the messages of its calls
    local client = assert(br.new { endpoint = "https://example.com", project_id = PROJECT, ak = "AK",
                                   sk = "\1\2\3\4\5\6\7\8" })
    local _, e = client:query({ { pipeline_id = "abc" } })
    client:close()
    assert.are.equal("INVALID_ARGUMENT", e.code)
    assert.is_nil(e.message:find("[REDACTED]", 1, true), e.message)
    local config = require "codearts.batchresult.config"
    local env = { HUAWEICLOUD_SDK_SK = ("\0"):rep(8) }
    local _, err = config.build({ endpoint = "https://example.com", project_id = "abc", ak = "AK", sk = "SK" },
      function(name) return env[name] end)
    assert.are.equal('project_id must be 32 letters or digits, got "abc"', err.message)
    -- a key whose one line (its tabs one space) is short is still a key:
    -- pasted into another option, its one line is redacted (review)
    local sk = "ABC\t\t\t\t\t\tDEF"
    message = refused({ sk = sk, transport = sk }, "transport").message
    assert.are.equal('option transport must be "curl" or "ngx", got "[REDACTED]"', message)
  end)
  it("a user_agent, security_token or endpoint host that the signer would refuse, by the signer's own rule", function()
    -- every white space beyond ASCII, and a few characters that are none, at each end and inside
    local chars = { "\194\133", "\194\160", "\225\154\128", "\226\128\128", "\226\128\138", "\226\128\168",
      "\226\128\169", "\226\128\175", "\226\129\159", "\227\128\128", "\239\187\191",
      "\226\128\139", "\195\169", "\194\161" }
    for _, c in ipairs(chars) do
      for _, v in ipairs({ c .. "app", "app" .. c, " \t" .. c .. "app", "app" .. c .. "\t ", "a" .. c .. "pp" }) do
        local signed = br.sign { method = "GET", path = "/", body = "", ak = "AK", sk = "SK",
          headers = { ["X-Sdk-Date"] = "20261203T000000Z", ["User-Agent"] = v } }
        local o = { endpoint = "https://example.com", project_id = PROJECT, ak = "AK", sk = "SK" }
        for _, name in ipairs({ "user_agent", "security_token" }) do
          o[name] = v
          local c2, err = br.new(o)
          assert.are.equal(signed ~= nil, c2 ~= nil, ("%s %q: %s"):format(name, v, tostring(err)))
          if c2 then c2:close() else assert.are.equal(name, err.option) end
          o[name] = nil
        end
      end
    end
    refused({ endpoint = "https://example.com\194\160" }, "white space beyond ASCII")
  end)
  it("a missing credential", function()
    refused({ sk = false }, "missing credential: sk")
    refused({ ak = false }, "missing credential: ak")
  end)
  -- Taken, either failed every call: libcurl refuses a request head over
  -- 1 MiB ("Out of memory") and a host name over 65535 bytes (inputs50).
  it("an ak longer than 1024 bytes, and an endpoint's or a proxy's host longer than 253", function()
    local err = refused({ ak = ("A"):rep(1025) }, "ak must be at most 1024 bytes")
    assert.are.equal("ak", err.option)
    local long = ("a."):rep(126) .. "bc"
    err = refused({ endpoint = "https://" .. long }, "has a host longer than 253 bytes")
    assert.are.equal("endpoint", err.option)
    refused({ proxy = "http://" .. long .. ":3128" }, "has a host longer than 253 bytes")
    -- (a final dot is no part of the name's length)
    for _, host in ipairs({ long:sub(2), long:sub(2) .. "." }) do
      local c = assert(br.new { endpoint = "https://" .. host, project_id = PROJECT, ak = ("A"):rep(1024), sk = "SK" })
      c:close()
    end
  end)
  -- A value pasted whole (a file read into the wrong option, say) was
  -- quoted whole: a message of megabytes.  Quoted cut, once its secrets are
  -- redacted, the message still says why after it.
  it("a value of any length, quoted cut to 256 bytes with the reason after it, no piece of a secret at the cut",
    function()
    local huge, sk = ("x"):rep(5000), "Zq8vN3kLmR7tY2wXc5bHj9dFg4sAe6uPo1iKy0"
    local function cut(changes, says, option)
      changes.sk = sk
      local err = refused(changes, says)
      assert.is_true(#err.message < 600, err.message)
      assert.are.equal(option, err.option)
      return err
    end
    cut({ endpoint = "https://" .. huge .. "/ x" }, "'… must not contain white space or control characters", "endpoint")
    cut({ proxy = "http://" .. huge .. "/ x" }, "'… must not contain white space or control characters", "proxy")
    cut({ ca_file = "/" .. huge }, "'… is not a file that can be read", "ca_file")
    cut({ ca_path = "/" .. huge }, "'… is not a directory that can be read", "ca_path")
    cut({ endpoint = false, region = huge }, "'… (known: ", "region")
    cut({ transport = huge }, 'option transport must be "curl" or "ngx", got "xxx', "transport")
    cut({ [huge] = 1 }, "unknown option 'xxx", huge)
    -- with no secret to redact, cut all the same
    local err = refused({ ak = false, sk = false, [huge] = 1 }, "unknown option 'xxx")
    assert.is_true(#err.message < 300, err.message)
    -- a region's shape names the variable that sets its endpoint, which is
    -- the name upper-cased: not for a name that long, nor for one holding
    -- a secret (a proxy's password, here), which it would show
    err = cut({ endpoint = false, region = ("a"):rep(5000) .. "-b-1" }, "'… (known: ", "region")
    assert.is_nil(err.message:find("or set", 1, true), err.message)
    err = refused({ endpoint = false, region = "correct-horse-42", proxy = "http://u:correct-horse-42@proxy.example" },
      "unknown region '[REDACTED]' (known: ")
    assert.is_nil(err.message:find("HORSE", 1, true), err.message)
    refused({ endpoint = false, region = "xx-north-9" }, "; or set HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_XX_NORTH_9)")
    -- nor for one that is a secret in another case, '_' for '-', as the
    -- variable's name would show it (and no redaction would find it there)
    for _, secret in ipairs({ "Horse_Battery_42", "HORSE_BATTERY_42" }) do
      err = refused({ endpoint = false, region = "horse-battery-42", sk = secret }, "unknown region 'horse-battery-42'")
      assert.is_nil(err.message:find("or set", 1, true), err.message)
    end
    for pad = 230, 262 do
      local at_cut = cut({ endpoint = "https://" .. ("x"):rep(pad) .. sk .. "/ x" }, "must not contain white space",
        "endpoint")
      for n = 4, #sk do assert.is_nil(at_cut.message:find(sk:sub(1, n), 1, true), at_cut.message) end
    end
  end)
  it("a project_id that is not 32 letters or digits", function()
    refused({ project_id = "abc" }, "project_id must be 32 letters or digits")
    refused({ project_id = PROJECT:sub(2) .. "/" }, "project_id")
  end)
  it("http:// to a host that is not loopback", function()
    refused({ endpoint = "http://example.com" }, "loopback")
    refused({ endpoint = "http://10.0.0.1:8080" }, "loopback")
    refused({ endpoint = "http://128.0.0.1" }, "loopback")
    -- libcurl reads a leading zero as octal: 0127.0.0.1 is 87.0.0.1
    refused({ endpoint = "http://0127.0.0.1" }, "loopback")
    refused({ endpoint = "http://127.0.0.01:8080" }, "loopback")
    for _, host in ipairs({ "[::2]", "[1::1]", "[::1:0]", "[::1:1]", "[::ffff:128.0.0.1]", "[::fffe:127.0.0.1]",
                            "[::127.0.0.1]", "[::ffff:0:127.0.0.1]", "[1:2]" }) do
      refused({ endpoint = "http://" .. host }, "loopback")
    end
  end)
  it("an endpoint with a path or user information", function()
    refused({ endpoint = "https://example.com/v5" }, "no path")
    refused({ endpoint = "https://user:pw@example.com" }, "user information")
    -- quoted without the user information, which may hold a password
    local err = refused({ endpoint = "https://user:hunter2secret@example.com" }, "'https://…@example.com'")
    assert.is_nil(err.message:find("hunter2", 1, true), err.message)
    refused({ endpoint = "ftp://example.com" }, "scheme")
  end)
  it("an unknown option, so that a typo cannot pass", function()
    refused({ timeuot = 5 }, "unknown option 'timeuot'")
  end)
  it("an option of the wrong type", function() refused({ timeout = "5" }, "timeout must be a number") end)
  it("a non-positive timeout", function() refused({ timeout = 0 }, "timeout") end)
  it("CR, LF or NUL in a header-bound option", function()
    refused({ user_agent = "x\r\nX-Injected: 1" }, "user_agent")
    refused({ security_token = "t\n" }, "security_token")
    refused({ token = "t\0", ak = false, sk = false }, "token")
  end)
  it("a token together with an AK/SK", function() refused({ token = "an-IAM-token-0001" }, "not both") end)
  it("an endpoint and a region, or neither, naming endpoint in err.option", function()
    assert.are.equal("endpoint", refused({ region = "cn-north-4" }, "give endpoint or region, not both").option)
    assert.are.equal("endpoint", refused({ endpoint = false }, "endpoint or region is required").option)
  end)
  it("a proxy for an http:// endpoint, which is for loopback only", function()
    refused({ endpoint = "http://127.0.0.1:8080", proxy = "http://192.0.2.1:3128" },
      "proxy cannot serve an http:// endpoint")
  end)
  it("a proxy URL libcurl cannot take, quoted without its user information (it failed every call later, "
    .. "retried as NETWORK, quoting the password)", function()
    local function bad_proxy(url, says)
      local err = refused({ proxy = url }, says)
      assert.are.equal("proxy", err.option)
      assert.is_nil(err.message:find("s3cretpass", 1, true), err.message)
    end
    bad_proxy("http://user:s3cretpass@127.0.0.1:99999", "proxy 'http://…@127.0.0.1:99999' has a bad port")
    bad_proxy("not a url at all", "must not contain white space")
    bad_proxy("ftp://u:s3cretpass@proxy.example:21", "scheme must be http, https, socks4, socks4a, socks5 or socks5h")
    bad_proxy("http://proxy.example:3128/path", "with no path")
    bad_proxy("proxy.example:3128", "must be scheme://host[:port]")
    -- user information is all up to the last '@', whatever the URL
    bad_proxy("alice:s3cretpass@proxy.example:3128", "proxy '…@proxy.example:3128' must be scheme://host[:port]")
    for _, c in ipairs({ "/", "?", "#", "@" }) do
      bad_proxy("http://alice:s3cret" .. c .. "pass@proxy.example:3128",
        "proxy 'http://…@proxy.example:3128' must percent-encode '/', '?', '#' and '@' in its user information")
    end
    bad_proxy("http://alice:s3cretpass@pro!xy:3128", "proxy 'http://…@pro!xy:3128' has a bad host")
    -- libcurl turns a host beyond ASCII into its IDNA form in the locale's
    -- character set, which is ASCII unless the host program set another:
    -- every call failed, as INTERNAL; and an IPv6 address that is none
    -- failed every call as NETWORK, retried (review secrets49)
    bad_proxy("http://alice:s3cretpass@b\195\188cher.example:3128",
      "proxy 'http://…@b\195\188cher.example:3128' has a host beyond ASCII: give its xn-- form")
    bad_proxy("http://alice:s3cretpass@[1:2]:3128", "proxy 'http://…@[1:2]:3128' has a bad IPv6 address")
    -- libcurl dropped such a proxy, and connected directly (review tls48)
    for _, info in ipairs({ "alice:s3cret%00pass", "al%0d%0aice:s3cretpass", "alice:s3cretpass%1F" }) do
      bad_proxy("http://" .. info .. "@proxy.example:3128", "proxy 'http://…@proxy.example:3128' must not "
        .. "percent-encode control characters in its user information")
    end
    -- a login libcurl cannot send: it failed every call, as NETWORK,
    -- retried, or as INTERNAL (review tls50)
    local long = ("p"):rep(256)
    for _, url in ipairs({ "socks5://" .. long .. ":s3cretpass@proxy.example",
                           "socks5h://alice:" .. long .. "@proxy.example",
                           "socks5://" .. ("%41"):rep(256) .. "@proxy.example" }) do
      bad_proxy(url, "must have a user name and a password of at most 255 bytes each (SOCKS5's limit, RFC 1929)")
    end
    bad_proxy("http://alice:" .. ("s3cretpass"):rep(6554) .. "@proxy.example",
      "proxy 'http://…@proxy.example' must have user information of at most 65536 bytes")
    -- what libcurl takes: user information where the scheme's letters are
    -- too, none, '_' in a host name, an IDNA name, IPv6 addresses, and the
    -- longest logins
    for _, url in ipairs({ "http://proxy.example:3128", "https://u:pw@proxy.example", "socks5h://127.0.0.1:1080/",
                           "socks5://" .. long:sub(2) .. ":" .. long:sub(2) .. "@proxy.example",
                           "socks4://" .. ("%41"):rep(255) .. "@proxy.example",
                           -- (SOCKS4's user name has no such limit, and it sends no password)
                           "socks4a://" .. long:rep(8) .. ":" .. long .. "@proxy.example",
                           "http://" .. ("u"):rep(32767) .. ":" .. ("%41"):rep(32768) .. "@proxy.example",
                           "http://tp@proxy.example:3128", "http://@proxy.example:3128", "http://:@proxy.example",
                           "http://my_proxy:3128", "http://xn--bcher-kva.example:3128", "http://[::1]:3128",
                           "http://[2001:db8::8a2e:370:7334]:3128", "http://[::ffff:192.0.2.1]:3128" }) do
      local o = { proxy = url }
      for k, v in pairs(base) do o[k] = v end
      local c = assert(br.new(o), url)
      -- a user name alone is no secret: a short one redacted would blank
      -- its letters out of every message (and out of err.option)
      local _, err = c:query({}, { batch_size = 0 })
      assert.are.equal("batch_size", err.option, url)
      c:close()
    end
    refused({ endpoint = "https://tp@h.example" }, "endpoint 'https://…@h.example' must not contain user information")
    -- a host libcurl refuses at every call (INTERNAL), or decodes ('%')
    -- to connect elsewhere than the Host signed; one beyond ASCII, which
    -- it would turn into its IDNA form while the Host signed stays as given
    for _, url in ipairs({ "https://a!b.example", "https://h\\evil.example", "https://ex%61mple.com", 'https://h"o',
                           "https://h;x.example" }) do
      refused({ endpoint = url }, "endpoint '" .. url .. "' has a bad host")
    end
    refused({ endpoint = "https://b\195\188cher.example" }, "has a host beyond ASCII: give its xn-- form")
    for _, v6 in ipairs({ "1:2", "1::2::3", "::1.2.3.256", "1:2:3:4:5:6:7:8:9", "12345::", ":1:2:3:4:5:6:7" }) do
      refused({ endpoint = "https://[" .. v6 .. "]" }, "endpoint 'https://[" .. v6 .. "]' has a bad IPv6 address")
    end
  end)
  -- It was libcurl's to read: a typo failed every call later, as NETWORK,
  -- retried (review net43).
  it("the environment's proxy as the option is, naming its variable, its user information unquoted", function()
    local function refusal(env)
      return child.run([[
        local c, err = require("codearts.batchresult").new { endpoint = "https://example.invalid",
          project_id = ("a"):rep(32), ak = "AK", sk = "SK" }
        io.write(c and "made" or (err.option .. ": " .. tostring(err)))
      ]], env)
    end
    local out, ok = refusal { https_proxy = "http://alice:S3cretPassw0rd@pro!xy:3128" }
    assert.is_true(ok, out)
    assert.is_nil(out:find("S3cret", 1, true), out)
    assert.are.equal("proxy: INVALID_ARGUMENT: proxy 'http://…@pro!xy:3128' (environment variable https_proxy) has a "
      .. "bad host", out)
    out, ok = refusal { HTTPS_PROXY = "http://127.0.0.1:99999" }
    assert.is_true(ok, out)
    assert.are.equal("proxy: INVALID_ARGUMENT: proxy 'http://127.0.0.1:99999' (environment variable HTTPS_PROXY) "
      .. "has a bad port", out)
    -- (libcurl takes one with no scheme for http://)
    assert.are.equal("made", (refusal { ALL_PROXY = "127.0.0.1:3128" }))
  end)
  it("a security_token without the AK/SK it goes with, which the environment's must not make whole", function()
    refused({ ak = false, sk = false, security_token = "a-temporary-token" },
      "security_token is given without ak and sk: give all three, or take all from the environment")
  end)
  it("options a finalizer rewrites while new() reads them: refused, never raised (5.1 raised 'invalid key to "
    .. "next')", function()
    -- Lua 5.1 may run a collection step at each call of next, so a walk
    -- in Lua met the finalizer mid-way; a fresh interpreter keeps the
    -- collector's cycles short.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local rewrite = require("spec.support.rewritten")()
      local raised, refused = 0, 0
      for _ = 1, 2000 do
        local o = { endpoint = "http://127.0.0.1:1", project_id = ("a"):rep(32), ak = "AK", sk = "SK" }
        for j = 1, 40 do o["opt" .. j] = j end
        rewrite(o)
        local done, c, err = pcall(br.new, o)
        rewrite(nil)
        if not done then raised = raised + 1
        elseif not c and err.code == "INVALID_ARGUMENT" then refused = refused + 1 end
      end
      io.write(("raised %d refused %d"):format(raised, refused))
    ]])
    assert.is_true(ok, out)
    assert.are.equal("raised 0 refused 2000", out)
  end)
  it("naming the option each refusal is about in err.option, as the README says", function()
    local cases = {
      { { endpoint = false, region = "xx-nowhere-1" }, "region" },
      { { endpoint = "https://example.com/v5" }, "endpoint" },
      { { project_id = "abc" }, "project_id" },
      { { token = "an-IAM-token-0001" }, "token" },
      { { token = "", ak = false, sk = false }, "token" },
      { { ak = false, sk = false, security_token = "a-temporary-token" }, "security_token" },
      { { ak = false }, "ak" },
      { { ak = "A K" }, "ak" },
      { { endpoint = "http://127.0.0.1:8080", proxy = "http://192.0.2.1:3128" }, "proxy" },
    }
    for _, case in ipairs(cases) do
      assert.are.equal(case[2], refused(case[1], "").option, next(case[1]))
    end
    local c = assert(br.new(base))
    local ids = { ("%032x"):format(1) }
    local _, err = c:run_and_query(ids, { dry_run = true })
    assert.are.same({ "INVALID_ARGUMENT", "dry_run" }, { err.code, err.option })
    _, err = c:query({ { pipeline_id = ids[1], pipeline_run_id = ids[1] } }, { callback = function() end })
    assert.are.same({ "INVALID_ARGUMENT", "callback" }, { err.code, err.option })
    -- with the other options, before the list (named first though it is
    -- empty) and keep (left as it was: README), on each operation (it
    -- emptied keep, and the list was read first: review inputs47)
    for _, call in ipairs({ "query", "run", "run_and_query" }) do
      local keep = { "before", "before" }
      _, err = c[call](c, {}, { callback = function() end, keep = keep })
      assert.are.same({ "INVALID_ARGUMENT", "callback", "before", "before" },
        { err.code, err.option, keep[1], keep[2] }, call)
    end
    c:close()
  end)
  it("a bad value from the environment, naming the variable", function()
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local _, e1 = br.new { endpoint = "https://example.com", ak = "AK", sk = "SK" }
      local _, e2 = br.new { endpoint = "https://example.com", project_id = ("a"):rep(32) }
      local _, e3 = br.new { region = "cn-north-4", project_id = ("a"):rep(32), ak = "AK", sk = "SK" }
      io.write(e1.message, "|", tostring(e1.option), "|", e2.message, "|", tostring(e2.option), "|", e3.message,
        "|", tostring(e3.option))
    ]], { HUAWEICLOUD_SDK_PROJECT_ID = "not-an-id", HUAWEICLOUD_SDK_AK = "A K", HUAWEICLOUD_SDK_SK = "SK",
          HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4 = "ftp://x.example" })
    assert.is_true(ok, out)
    assert.are.equal("environment variable HUAWEICLOUD_SDK_PROJECT_ID must be 32 letters or digits, got "
      .. '"not-an-id"|nil|'
      .. "environment variable HUAWEICLOUD_SDK_AK holds a space, comma, control or non-ASCII character|nil|"
      .. "endpoint 'ftp://x.example' (from environment variable HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4) "
      .. "scheme must be https (or http on loopback)|nil", out)
  end)
  it("options that are not a table", function()
    local c, err = br.new("https://example.com")
    assert.is_nil(c)
    assert.are.equal("INVALID_ARGUMENT", err.code)
  end)
  -- An empty security_token was taken for none: the client signed as a
  -- permanent key, with no X-Security-Token, saying nothing (review).
  it("an empty security_token, as one of white space, and sends nothing; an empty variable is unset", function()
    local server = standin.start()
    finally(function() server:stop() end)
    local t = creds.temporary
    for _, v in ipairs({ "", " " }) do
      local c, err = br.new(server:options({ ak = t.ak, sk = t.sk, security_token = v }))
      assert.is_nil(c)
      assert.are.same({ "INVALID_ARGUMENT", "security_token", "security_token must not be empty or only white space" },
        { err.code, err.option, err.message })
    end
    assert.are.equal(0, server:stats().requests)
    -- the environment's, empty, is none: a permanent key is signed without it
    local p = creds.permanent
    local out, ok = query_from_env({ ENDPOINT = server.url, HUAWEICLOUD_SDK_AK = p.ak, HUAWEICLOUD_SDK_SK = p.sk,
                                     HUAWEICLOUD_SDK_SECURITY_TOKEN = "", HUAWEICLOUD_SDK_PROJECT_ID = PROJECT })
    assert.is_true(ok, out)
    assert.truthy(out:find("^Pipeline 1|"), out)
    assert.is_nil(out:find("temporary", 1, true), out)
    assert.is_nil(server:last().headers["x-security-token"])
  end)
  -- A control character was refused as "a space, comma or non-ASCII
  -- character", which it is none of (review).
  it("an ak holding a control character, saying so", function()
    for _, ak in ipairs({ "AK\1ID", "AK\127ID" }) do
      local err = refused({ ak = ak }, "")
      assert.are.same({ "ak", "ak holds a space, comma, control or non-ASCII character" }, { err.option, err.message })
    end
  end)
end)

describe("br.new accepts", function()
  it("every region of the official table, with its host pattern", function()
    local hosts = {
      ["cn-north-4"] = "https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com",
      ["la-north-2"] = "https://cloudpipeline-ext.la-north-2.myhuaweicloud.com",
      ["tr-west-1"] = "https://pipeline-external.tr-west-1.myhuaweicloud.com",
      ["la-south-2"] = "https://pipeline-external.la-south-2.myhuaweicloud.com",
      ["af-north-1"] = "https://pipeline.af-north-1.myhuaweicloud.com",
      ["me-east-1"] = "https://pipeline.me-east-1.myhuaweicloud.com",
      ["af-south-1"] = "https://pipeline.af-south-1.myhuaweicloud.com",
    }
    local n = 0
    for region, endpoint in pairs(br.regions) do
      n = n + 1
      local c = assert(br.new { region = region, project_id = PROJECT, ak = "AK", sk = "SK" })
      assert.are.equal(endpoint, c.endpoint)
      if hosts[region] then assert.are.equal(hosts[region], endpoint) end
    end
    assert.are.equal(15, n)
  end)

  it("loopback http endpoints, IPv6 included", function()
    -- (::1 as RFC 4291 lets it be written, and 127.0.0.0/8 mapped into IPv6)
    for _, ep in ipairs({ "http://127.0.0.1:8080", "http://localhost", "http://[::1]:9/", "http://127.1.2.3",
                          "http://[0::1]", "http://[::0001]:9", "http://[0:0:0:0:0:0:0:1]", "http://[0000::0:1]",
                          "http://[::ffff:127.0.0.1]", "http://[::FFFF:7f01:203]:9",
                          "http://[0:0::ffff:127.9.9.9]" }) do
      assert(br.new { endpoint = ep, project_id = PROJECT, token = "t" })
    end
  end)

  it("whole numbers given as floats, kept as integers", function()
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, token = "an-IAM-token-0001",
                              batch_size = 2.0, concurrency = 3.0 })
    assert.are.equal("2", tostring(c.batch_size))
    assert.are.equal("3", tostring(c.concurrency))
    local seen = {}
    local pairs6 = seed_pairs()
    assert(c:query(pairs6, { dry_run = true, batch_size = 4.0, on_progress = function(done, total)
      seen[#seen + 1] = tostring(done) .. "/" .. tostring(total)
    end }))
    for _, s in ipairs(seen) do assert.is_nil(s:find(".", 1, true), s) end
  end)

  it("a method called with a dot: a raise that names the misuse, at the caller's line", function()
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, token = "an-IAM-token-0001" })
    -- (not tail calls, which would leave no caller's line to point at)
    for _, f in ipairs({ function() local r = c.query(seed_pairs()) return r end,
                         function() local r = c.prepare(nil) return r end }) do
      local ok, e = pcall(f)
      assert.is_false(ok)
      local where = "^spec/query_spec%.lua:%d+: "
      assert.truthy(e:find(where .. "codearts%.batchresult: a client's methods are called with a colon"), e)
    end
  end)

  -- Every method was named client:query(…); redact checked its text
  -- first; close called with a dot returned, having closed nothing (review).
  it("a method called with a dot is named, whichever it is; close too, and redact before its text", function()
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, token = "an-IAM-token-0001" })
    local function raised(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return e:match("^spec/query_spec%.lua:%d+: (.*)$") or e
    end
    local function misuse(method, got)
      return "codearts.batchresult: a client's methods are called with a colon (client:" .. method
        .. "(…)), got " .. got .. " as the client"
    end
    -- (not tail calls, which would leave no caller's line to point at)
    assert.are.equal(misuse("run", "table"), raised(function() local r = c.run(seed_pairs()) return r end))
    assert.are.equal(misuse("clock_skew", "nil"), raised(function() local r = c.clock_skew() return r end))
    local alias = c.run_and_query -- (named by what it is, not by the name it was called by)
    assert.are.equal(misuse("run_and_query", "nil"), raised(function() local r = alias() return r end))
    assert.are.equal(misuse("redact", "string"), raised(function() local r = c.redact("text") return r end))
    assert.are.equal(misuse("close", "nil"), raised(function() local r = c.close() return r end))
    assert.are.equal(0, c:clock_skew()) -- (still open)
    c:close()
    c:close() -- (a closed client's close does nothing)
    assert.are.equal("codearts.batchresult: the client is closed",
      raised(function() local r = c:redact(5) return r end))
  end)

  -- %q left a tab and an escape raw on Lua 5.1, which the one-line message
  -- made spaces: "ab c" there, "ab\9c" on 5.2 and later (review).
  it("quotes a refused id the same on every Lua: control bytes as Lua 5.4's %q writes them", function()
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, token = "an-IAM-token-0001" })
    local id = 'ab\tc\27[2J"q\\\0' .. '1\r\n\127x\0'
    local _, err = c:query({ { pipeline_id = id, pipeline_run_id = ("b"):rep(32) } })
    local quoted = [["ab\9c\27[2J\"q\\\0001\13\n\127x\0"]]
    assert.are.equal("pairs[1].pipeline_id must be 32 letters or digits, got " .. quoted, err.message)
    -- (Lua 5.4's own %q, where it is 5.4's: a line feed there is a
    -- backslash and the line feed)
    if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
      assert.are.equal(quoted, (("%q"):format(id):gsub("\\\n", "\\n")))
    end
  end)

  -- An id pasted with an invisible character was quoted looking whole
  -- (review data46).
  it("quotes a refused id's bytes past ASCII as decimal escapes: a zero-width space shows", function()
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, token = "an-IAM-token-0001" })
    local id = ("a"):rep(32) .. "\226\128\139"
    local _, err = c:query({ { pipeline_id = ("b"):rep(32), pipeline_run_id = id } })
    assert.are.equal('pairs[1].pipeline_run_id must be 32 letters or digits, got "' .. ("a"):rep(32)
      .. '\\226\\128\\139"', err.message)
    local _, run_err = c:run({ "\194\173" .. ("b"):rep(32) })
    assert.truthy(run_err.message:find('got "\\194\\173bbb', 1, true), run_err.message)
  end)

  -- The message's cut fell inside an escape: br.new's message ended
  -- "\226\1…", where \1 was what was left of \130 (review fixes47c).
  it("cuts a message that quotes a long bad value between escapes, never inside one", function()
    for _, value in ipairs({ ("\226\130\172"):rep(120), ("x\\"):rep(300), ("\\"):rep(301), ("a\1"):rep(100) }) do
      for shift = 0, 3 do
        local _, err = br.new { endpoint = "http://127.0.0.1:9", project_id = ("y"):rep(shift) .. value,
                                token = "an-IAM-token-0001" }
        local message = err.message
        assert.are.equal("…", message:sub(-3), message)
        -- What the quote holds, read back as Lua reads such escapes, is
        -- the value's start: no escape was cut into another one.
        local quoted = assert(message:match('got "(.*)…$'), message)
        local read = assert((loadstring or load)('return "' .. quoted .. '"'), message)()
        assert.are.equal(value:sub(1, #read - shift), read:sub(shift + 1), message)
        assert.is_true(#message <= 256 + #"…", message)
      end
    end
  end)

  it("redacts a secret with a tab, pasted into an id, and as a refusal quotes it", function()
    local sk = "Abc\tDef\tGhi\tJkl\tMno" -- (each piece shorter than a run that counts)
    local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, ak = "AK", sk = sk })
    local _, err = c:query({ { pipeline_id = "x" .. sk, pipeline_run_id = ("b"):rep(32) } })
    assert.are.equal('pairs[1].pipeline_id must be 32 letters or digits, got "x[REDACTED]"', err.message)
    -- (the form a refusal quotes it in: for a message of the caller's own)
    local said = "got " .. require("codearts.batchresult.input").quoted(sk)
    assert.are.equal('got "Abc\\9Def\\9Ghi\\9Jkl\\9Mno"', said)
    assert.are.equal('got "[REDACTED]"', c:redact(said))
  end)

  it("shows no secret in tostring", function()
    local c = assert(br.new { endpoint = "https://example.com", project_id = PROJECT, ak = "AKIDEXAMPLE",
                              sk = "very-secret-key", security_token = "very-secret-token" })
    local s = tostring(c)
    assert.is_nil(s:find("very-secret", 1, true))
    assert.is_nil(s:find("AKIDEXAMPLE", 1, true))
    for k, v in pairs(c) do
      assert.is_nil(tostring(v):find("very-secret", 1, true), k)
    end
  end)
end)
