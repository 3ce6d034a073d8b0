-- The API boundary: every caller's table is read once, raw, into the
-- library's own copy; limits are the same in every layer; the decoder
-- returns what it checked; the binding keeps no state between calls.  Run
-- under every Lua, and under ASan and valgrind (make test-asan,
-- make test-valgrind), where a pointer into a freed string would show.
local br = require "codearts.batchresult"
local core = require "codearts.batchresult.core"
local standin = require "spec.support.standin"
local allocator = require "spec.support.allocator"
local model = require "spec.standin.model"

local creds = model.credentials.permanent
local PROJECT = model.seed_project

local function seed_pairs() return model.seed_query end

local expected = model.expected

-- A metatable whose every metamethod counts its calls: the library must
-- never run one.
local function watched(fields)
  local calls = { n = 0 }
  local function count(name)
    return function(...)
      calls.n = calls.n + 1
      calls[name] = (calls[name] or 0) + 1
      if name == "__index" then
        local _, k = ...
        return fields and fields[k]
      end
      if name == "__len" then return 3 end
      if name == "__pairs" then return next, fields or {}, nil end
    end
  end
  local mt = { __index = count("__index"), __len = count("__len"), __pairs = count("__pairs"),
               __newindex = count("__newindex"), __call = count("__call"), __tostring = count("__tostring") }
  return mt, calls
end

local child = require "spec.support.child"

-- What a child script of core's functions starts with.
local CORE_CHILD = 'local core = require "codearts.batchresult.core"; '
  .. 'local on_collect = require "spec.support.on_collect"; '
  .. 'local each_collection = require "spec.support.each_collection"\n'

--- Checks a child's run (its output and whether it exited 0) that ends in
-- "<done> N <closed> M": every one of its total tries ended one way or
-- the other.
local function counted(out, ok, done, closed, total)
  assert.is_true(ok, out)
  local a, b = out:match(done .. " (%d+) " .. closed .. " (%d+)$")
  assert.are.equal(total, tonumber(a) + tonumber(b), out)
end

describe("the caller's tables are read once, raw", function()
  local server
  standin.for_block(function(s) server = s end)

  local function options(extra) return server:options(extra) end

  -- Options with a metatable are refused whole: read raw, what it serves
  -- (defaults, say) would be lost without a word (review inputs).
  it("new() refuses options with a metatable, and runs none of its methods", function()
    local mt, calls = watched({ user_agent = "x\r\nX-Injected: 1", token = "t\r\nX-Injected: 1", timeuot = 5 })
    for _, t in ipairs({ options(), {} }) do
      local none, err = br.new(setmetatable(t, mt))
      assert.is_nil(none)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find("options must be a plain table, got one with a metatable", 1, true), err.message)
    end
    assert.are.equal(0, calls.n)
  end)

  it("a NUL in an option's name or value does not cut the message short (Lua 5.1's format did)", function()
    local function with(k, v)
      local t = { endpoint = "http://127.0.0.1:9", project_id = ("0"):rep(32), ak = "AK", sk = "SK" }
      t[k] = v
      return t
    end
    local _, err = br.new(with("time\0out", 1))
    assert.are.equal("unknown option 'time out'", err.message)
    _, err = br.new(with("transport", "cu\0rl"))
    assert.are.equal('option transport must be "curl" or "ngx", got "cu rl"', err.message)
    _, err = br.sign { ["bo\0dy"] = "x" }
    assert.are.equal("unknown sign field 'bo dy'", err.message)
  end)

  it("br.regions is the caller's copy: changing it moves no client, nor breaks new()", function()
    local real = br.regions["cn-north-4"]
    br.regions["cn-north-4"], br.regions["my-own-region"] = "http://127.0.0.1:9", "https://x.example"
    br.regions[1] = "x"
    local c = assert(br.new { region = "cn-north-4", project_id = ("0"):rep(32), ak = "AK", sk = "SK" })
    assert.are.equal(real, c.endpoint)
    local none, err = br.new { region = "my-own-region", project_id = ("0"):rep(32), ak = "AK", sk = "SK" }
    assert.is_nil(none)
    assert.truthy(err.message:find("unknown region 'my-own-region'", 1, true), err.message)
    br.regions["cn-north-4"], br.regions["my-own-region"], br.regions[1] = real, nil, nil
  end)

  it("an unknown option's key is named without running its __tostring", function()
    local mt, calls = watched()
    local key = setmetatable({}, mt)
    mt.__tostring = function() calls.n = calls.n + 1; return {} end -- would raise in tostring
    for _, entry in ipairs({
      function(t) return br.new(t) end,
      function(t) return assert(br.new(options())):query({}, t) end,
      function(t) return assert(br.new(options())):prepare({}, t) end,
      function(t) return br.sign(t) end,
    }) do
      local none, err = entry({ [key] = 1 })
      assert.is_nil(none)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find("of type table", 1, true), err.message)
      assert.are.equal(key, err.option)
    end
    local _, err = br.new({ [2.5] = 1 })
    assert.truthy(err.message:find("unknown option 2.5", 1, true), err.message)
    assert.are.equal(0, calls.n)
  end)

  it("core.read_items names the offending field as the string it was given", function()
    local name = "pipe\0line_id"
    local flat, index, field, problem = core.read_items({ { [name] = "x" } }, name)
    assert.is_nil(flat)
    assert.are.same({ 1, name, "format" }, { index, field, problem })
  end)

  it("the codec refuses member names that hold a NUL, which C would cut", function()
    local body = '{"result":[{"pipeline_id":"a","pipeline_run_id":"b"}]}'
    assert.has_error(function() core.decode_results(body, "result", "pipeline_id\0x") end)
    assert.has_error(function() core.decode_results(body, "result\0x", "pipeline_id") end)
    assert.has_error(function() core.encode_ids("pipeline_ids\0x", { seed_pairs()[1].pipeline_id }, 1, 1) end)
    assert.are.equal(1, #core.decode_results(body, "result", "pipeline_id"))
  end)

  it("pairs: items and ids behind __index are not read, and nothing is sent", function()
    local c = assert(br.new(options()))
    local before = server:stats().requests
    local fresh = 0
    -- Each read would make a new string: the binding must never keep a
    -- pointer into one (ASan would see it).
    local item = setmetatable({}, { __index = function(_, k)
      fresh = fresh + 1
      return (k == "pipeline_id" and "6ba9a2dbc7024c22a9a6614516dc22db" or "e41fe3981361476eb6dad17ad98c683c")
        :sub(1, 31) .. tostring(fresh % 10)
    end })
    local results, err = c:query({ item })
    assert.is_nil(results)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.truthy(err.message:find("pairs[1].pipeline_id is missing (tables are read raw", 1, true), err.message)
    assert.are.equal(1, err.index)
    assert.are.equal("pipeline_id", err.field)
    assert.are.equal(0, fresh)
    local mt, calls = watched(seed_pairs())
    results, err = c:query(setmetatable({}, mt))
    assert.is_nil(results)
    assert.truthy(err.message:find("pairs is empty (tables are read raw", 1, true), err.message)
    assert.are.equal(0, calls.n)
    assert.are.equal(before, server:stats().requests)
  end)

  it("a list with a metatable still gives its own items, whatever __len says", function()
    local mt, calls = watched()
    local list = {}
    for i, p in ipairs(seed_pairs()) do
      list[i] = setmetatable({ pipeline_id = p.pipeline_id, pipeline_run_id = p.pipeline_run_id }, mt)
    end
    local results = assert(assert(br.new(options())):query(setmetatable(list, mt)))
    assert.are.same(expected(seed_pairs()), results)
    assert.are.equal(0, calls.n)
  end)

  it("a hole is an error naming it, not a silent end of the list", function()
    local p = seed_pairs()
    local c = assert(br.new(options()))
    local results, err = c:query({ p[1], nil, p[3] })
    assert.is_nil(results)
    assert.truthy(err.message:find("pairs[2] is missing, but the list goes on to pairs[3]", 1, true), err.message)
    assert.are.equal(2, err.index)
    assert.is_nil(err.field)
    local runs, rerr = c:run({ [1] = p[1].pipeline_id, [5] = p[2].pipeline_id })
    assert.is_nil(runs)
    assert.truthy(rerr.message:find("pipeline_ids[2] is missing, but the list goes on to pipeline_ids[5]", 1, true),
      rerr.message)
    -- A key too large for a whole number's digits is named as a number.
    runs, rerr = c:run({ [1] = p[1].pipeline_id, [1e300] = p[2].pipeline_id })
    assert.is_nil(runs)
    assert.truthy(rerr.message:find("but the list goes on to pipeline_ids[1.0000000000000001e+300]", 1, true),
      rerr.message)
    -- An integer key past 2^53 as the list holds it, not as the double it
    -- compares as (which named 9007199254740992: review inputs2).
    if math.type then
      for _, k in ipairs({ 9007199254740993, math.maxinteger }) do
        runs, rerr = c:run({ [1] = p[1].pipeline_id, [k] = p[2].pipeline_id })
        assert.is_nil(runs)
        assert.truthy(rerr.message:find(("but the list goes on to pipeline_ids[%d]"):format(k), 1, true), rerr.message)
      end
      local two53, two60 = math.tointeger(2 ^ 53), math.tointeger(2 ^ 60)
      -- Among keys that compare equal as doubles, the largest, whatever
      -- order the table is walked in (the first met was named: review
      -- cfix24).
      for _, keys in ipairs({ { two53, two53 + 1 }, { two53 + 1, two53 },
                              { math.maxinteger - 1, math.maxinteger }, { math.maxinteger, math.maxinteger - 1 } }) do
        local list = { p[1].pipeline_id }
        for _, k in ipairs(keys) do list[k] = p[2].pipeline_id end
        runs, rerr = c:run(list)
        assert.is_nil(runs)
        assert.truthy(rerr.message:find(("but the list goes on to pipeline_ids[%d]"):format(math.max(keys[1], keys[2])),
          1, true), rerr.message)
      end
      local list = { p[1].pipeline_id }
      for i = 0, 20 do list[two60 + i] = p[2].pipeline_id end
      runs, rerr = c:run(list)
      assert.is_nil(runs)
      assert.truthy(rerr.message:find(("but the list goes on to pipeline_ids[%d]"):format(two60 + 20), 1, true),
        rerr.message)
    end
    assert.are.equal(0, server:stats().requests)
  end)

  it("other keys of a list are not items: a result set can be asked again", function()
    local c = assert(br.new(options()))
    local first = assert(c:query(seed_pairs()))
    assert.are.same(expected(seed_pairs()), assert(c:query(first)))
  end)

  it("changing the caller's list during the call changes nothing", function()
    local list = {}
    for i = 1, 30 do list[i] = { pipeline_id = model.make_id("bd", i), pipeline_run_id = model.make_id("be", i) } end
    local copy = {}
    for i, p in ipairs(list) do copy[i] = { pipeline_id = p.pipeline_id, pipeline_run_id = p.pipeline_run_id } end
    local results = assert(assert(br.new(options())):query(list, {
      batch_size = 10, concurrency = 1,
      on_progress = function()
        for i = #list, 1, -1 do list[i] = nil end
        copy[1].pipeline_id = nil -- and the items the library could have kept
      end,
    }))
    copy[1].pipeline_id = model.make_id("bd", 1)
    assert.are.same(expected(copy), results)
  end)

  it("a call refuses options with a metatable, sends nothing, and runs none of its methods", function()
    local mt, calls = watched({ deadline = 1e300, batch_size = 0, nonsense = true })
    server:reset()
    local results, err = assert(br.new(options())):query(seed_pairs(), setmetatable({}, mt))
    assert.is_nil(results)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.truthy(err.message:find("must be a plain table, got one with a metatable", 1, true), err.message)
    assert.are.equal(0, server:stats().requests)
    assert.are.equal(0, calls.n)
  end)

  it("br.sign refuses a table or headers with a metatable, and runs none of its methods", function()
    local mt, calls = watched({ ["X-Evil"] = "a\r\nInjected: 1" })
    local plain = { ["X-Sdk-Date"] = "20200101T000000Z", Host = "h" }
    for _, t in ipairs({
      setmetatable({ method = "GET", path = "/", headers = plain, ak = "AK", sk = "SK" }, mt),
      { method = "GET", path = "/", headers = setmetatable(plain, mt), ak = "AK", sk = "SK" },
    }) do
      local auth, err = br.sign(t)
      assert.is_nil(auth)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find("must be a plain table, got one with a metatable", 1, true), err.message)
    end
    assert.are.equal(0, calls.n)
  end)

  -- next's order follows the string hash seed, a new one each run on Lua
  -- 5.2 and later and on LuaJIT: the first bad option next met was named,
  -- batch_size one run, timeout the next (review).
  it("of several bad options, fields or keys, the same one is named in every run", function()
    local code = [[
      local br = require "codearts.batchresult"
      local function say(err) io.write(err.message, " (", tostring(err.option), ")\n") end
      say(select(2, br.new { timeout = -1, batch_size = 0, concurrency = 0, max_retries = -1, logger = 5,
                             zeta = 1, alpha = 1 }))
      say(select(2, br.new { zeta = 1, [true] = 1, [2.5] = 1, alpha = 1, beta = 1 }))
      local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = ("a"):rep(32), token = "t-0001" })
      say(select(2, c:query({}, { deadline = -1, concurrency = 0, batch_size = 0, bogus = 1 })))
      say(select(2, br.sign { method = 1, path = 2, query = 3, zz = 1, aa = 2 }))
      say(select(2, br.sign { method = "GET", path = "/", headers = {}, ak = "AK", sk = "SK",
                              zz = 1, aa = 2, [7] = 1, ["a\0"] = 1, [false] = 1 }))
    ]]
    local first = child.run(code)
    assert.are.equal(table.concat({
      "option batch_size must be a whole number from 1 to 10000, got 0 (batch_size)",
      -- ("'" sorts before the digits, and they before "of type …")
      "unknown option 'alpha' (alpha)",
      "call option batch_size must be a whole number from 1 to 10000, got 0 (batch_size)",
      "sign field method must be a string, got number (method)",
      -- (a NUL sorts first, and shows as a space)
      "unknown sign field 'a ' (a\0)",
    }, "\n") .. "\n", first)
    for _ = 2, 20 do assert.are.equal(first, (child.run(code))) end
  end)

  -- README (Errors, INVALID_ARGUMENT) names the one in two rounds; its
  -- words had said "the first by name" of every bad value (claims review).
  it("of several bad options, names the one README's two rounds name", function()
    local id = ("a"):rep(32)
    for _, case in ipairs({
      -- the first round: each option's own rule, else an unknown name
      { { endpoint = "ftp://x", timeout = -1 }, "timeout" },
      { { ca_file = "/nonexistent", timeout = -1 }, "timeout" },
      { { project_id = "x", timeout = -1 }, "timeout" },
      { { endpoint = "ftp://x", zzz = 1 }, "zzz" },
      { { project_id = "x", endpoint = "https://a.example", proxy = "" }, "proxy" },
      -- the second: endpoint and region, project_id, credentials, CA, proxy
      { { project_id = "x", endpoint = "ftp://x" }, "endpoint" },
      { { project_id = "x", endpoint = "https://a.example", token = "t", ca_file = "/nonexistent" }, "project_id" },
      { { project_id = id, endpoint = "https://a.example", token = "t", ca_file = "/nonexistent",
          proxy = "ftp://q" }, "ca_file" },
      { { project_id = id, endpoint = "https://a.example", token = "t", proxy = "ftp://q" }, "proxy" },
    }) do
      local c, err = br.new(case[1])
      assert.is_nil(c)
      assert.are.equal(case[2], err.option, err.message)
    end
  end)

  -- tostring worded a refused number by Lua: -0 as "-0" on 5.1 and
  -- LuaJIT, "-0.0" on 5.3 and 5.4; 2^53 as "9.007199254741e+15" or
  -- "9007199254740992"; NaN as "nan" or "-nan" (stop 34's note).
  it("words a refused number alike on every Lua", function()
    local seconds = "option timeout must be a number of seconds > 0 and <= "
      .. require("codearts.batchresult.core").limits.max_seconds .. ", got "
    local whole = "option batch_size must be a whole number from 1 to 10000, got "
    -- (not the literal -0.0: 5.1 keeps one constant for it and 0, and
    -- 1 / 0 was then 1 / -0.0 in this function)
    local negative_zero = tonumber("-0.0")
    for _, case in ipairs({
      { { timeout = negative_zero }, seconds .. "0" }, { { timeout = 0 / 0 }, seconds .. "nan" },
      { { timeout = -(0 / 0) }, seconds .. "nan" }, { { timeout = -1 / 0 }, seconds .. "-inf" },
      { { timeout = 1e300 }, seconds .. "1e+300" }, { { timeout = -2.5 }, seconds .. "-2.5" },
      { { batch_size = negative_zero }, whole .. "0" }, { { batch_size = 2.5 }, whole .. "2.5" },
      { { batch_size = 2 ^ 53 }, whole .. "9007199254740992" },
      { { batch_size = 2 ^ 60 }, whole .. "1.152921504606847e+18" },
      { { batch_size = -2 ^ 63 }, whole .. "-9.223372036854776e+18" },
      { { batch_size = math.mininteger or -2 ^ 63 }, whole .. "-9.223372036854776e+18" },
      -- (as few digits as read back as the number: in 14, both read as
      -- allowed; review)
      { { timeout = 86400.00000000001 }, seconds .. "86400.00000000001" },
      { { batch_size = 2 + 2 ^ -51 }, whole .. "2.0000000000000004" },
      { { batch_size = 1 / 0 }, whole .. "inf" },
    }) do
      local c, err = br.new(case[1])
      assert.is_nil(c)
      assert.are.equal(case[2], err.message)
    end
  end)
end)

describe("limits are the same in every layer", function()
  local server
  standin.for_block(function(s) server = s end)
  local L = core.limits

  local function refused(extra, pattern)
    local c, err = br.new(server:options(extra))
    assert.is_nil(c)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.truthy(err.message:find(pattern, 1, true), err.message)
  end

  it("new() refuses what no transport could take, naming the limit", function()
    refused({ timeout = 1e9 }, "option timeout must be a number of seconds > 0 and <= " .. L.max_seconds)
    refused({ connect_timeout = 2 ^ 53 }, "option connect_timeout must be")
    refused({ max_retry_wait = 0 / 0 }, "option max_retry_wait must be")
    refused({ max_response_bytes = 2 ^ 53 }, "from 1 to " .. L.max_response_bytes)
    refused({ max_response_bytes = 1.5 }, "option max_response_bytes must be a whole number")
    refused({ batch_size = 1e6 }, "option batch_size must be a whole number from 1 to 10000")
    refused({ concurrency = math.huge }, "option concurrency must be a whole number from 1 to 256")
  end)

  it("what new() accepts at the limits, a call uses", function()
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                              timeout = L.max_seconds, connect_timeout = L.max_seconds,
                              max_retry_wait = L.max_seconds, max_response_bytes = L.max_response_bytes,
                              batch_size = 10000, concurrency = 256, max_retries = 100 })
    assert.are.same(expected(seed_pairs()), assert(c:query(seed_pairs(), { deadline = L.max_seconds })))
  end)

  it("a call's deadline beyond the limit is refused, not raised", function()
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk })
    for _, d in ipairs({ 1e300, L.max_seconds + 1, 0, -1 }) do
      local results, err = c:query(seed_pairs(), { deadline = d })
      assert.is_nil(results)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find("call option deadline must be", 1, true), err.message)
    end
    assert.are.equal(0, server:stats().requests)
  end)

  it("a timeout under a millisecond rounds up to 1 ms, never to 'no timeout'", function()
    server:config({ delay_ms = 1000 })
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                              timeout = 0.0004, max_retries = 0 })
    local t0 = core.now()
    local results, err = c:query(seed_pairs())
    assert.is_nil(results)
    assert.are.equal("TIMEOUT", err.code)
    assert.is_true(core.now() - t0 < 0.5)
  end)

  it("the signer and the transport take the same number of headers", function()
    local headers = { ["X-Sdk-Date"] = "20200101T000000Z" }
    for i = 1, L.max_headers - 1 do headers["X-H" .. i] = "v" end
    assert(br.sign { method = "GET", path = "/", headers = headers, ak = "AK", sk = "SK" })
    local m = assert(core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 })
    headers.Host = "127.0.0.1:" .. server.port
    local _, err = br.sign { method = "GET", path = "/", headers = headers, ak = "AK", sk = "SK" }
    assert.truthy(err.message:find("more than " .. L.max_headers .. " headers", 1, true), err.message)
    local call = m:call()
    local ok, why = pcall(call.start, call, "GET", server.url .. "/", headers, "", 1000)
    assert.is_false(ok)
    assert.truthy(tostring(why):find("more than " .. L.max_headers .. " headers", 1, true), why)
    m:close()
  end)


  it("a memory error while a keyring or a transport hands out an answer leaves nothing pinned", function()
    -- Each allocation of a sign, and of the pushes of an answer, fails in
    -- turn; close() must then close at once (the SK wiped, the handle and
    -- its connections gone), not wait for the collector.
    if not allocator.other(pending) then return end
    local out, ok = child.run([[
      local core = require "codearts.batchresult.core"
      local oom = require("spec.support.clib")("oom")
      local url = os.getenv("URL")
      local headers = { Host = "h", ["X-Sdk-Date"] = "20260101T000000Z" }
      local failed, open = { keyring = 0, transport = 0 }, 0
      for n = 1, 20 do
        local k = core.keyring("SKsecretSKsecret0123456789")
        if not oom.pcall(n, k.sign, k, "AK", "POST", "/p", "", headers, "{}") then
          failed.keyring = failed.keyring + 1
        end
        k:close()
        if not tostring(k):find("(closed)", 1, true) then open = open + 1 end
      end
      for n = 1, 10 do
        local m = assert(core.multi { connect_timeout_ms = 2000, max_response_bytes = 100000 })
        local c = m:call()
        assert(c:start("POST", url, { ["Content-Type"] = "application/json" }, "{}", 5000, false))
        -- (next allocates nothing of Lua's before it pushes the answer)
        if not oom.pcall(n, c.next, c, 5) then failed.transport = failed.transport + 1 end
        c:close()
        m:close()
        if not tostring(m):find("(closed)", 1, true) then open = open + 1 end
      end
      io.write(("failed %d %d still open %d"):format(failed.keyring, failed.transport, open))
    ]], { URL = server.url .. "/v5/" .. model.seed_project .. "/api/pipelines/batch-runs/result" })
    assert.is_true(ok, out)
    assert.truthy(out:find("still open 0$"), out)
    local keyring, transport = out:match("failed (%d+) (%d+)")
    assert.is_true(tonumber(keyring) > 0 and tonumber(transport) > 0, "no call failed: " .. out)
  end)

  --- spec/support/failmalloc.c built for a child to preload (removed
  -- when the case ends); nil, the case pending, under a preloaded
  -- sanitizer, whose runtime would have to come first.
  local function failmalloc()
    local lib, remove = require("spec.support.failmalloc").build()
    if not lib then
      pending("under a preloaded sanitizer")
      return nil
    end
    finally(remove)
    return lib
  end

  --- What code, run in a child with env (failmalloc preloaded), writes
  -- with the FAILMALLOC_AT-th allocation of env.FAILMALLOC_IN's failing,
  -- for n = 1, 2, … up to max, until a run makes fewer: the list of what
  -- each run wrote (failmalloc's line taken out), and whether a run made
  -- fewer (how many there are depends a little on timing).
  local function each_failing(code, env, max)
    local outs = {}
    for n = 1, max do
      env.FAILMALLOC_AT = tostring(n)
      local out = child.run(code, env)
      local at = out:match("failmalloc: failed (%d+) of")
      assert(at, out)
      if at == "0" then return outs, true end
      outs[n] = (out:gsub("failmalloc: [^\n]*\n?", ""))
    end
    return outs, false
  end

  -- A query of the seed pairs against the stand-in, writing how it ended.
  local QUERY = [[
    local br = require "codearts.batchresult"
    local list = require("spec.standin.model").seed_query
    local c, err = br.new { endpoint = os.getenv("URL"), project_id = os.getenv("PROJECT"),
                            ak = os.getenv("AK"), sk = os.getenv("SK"), max_retries = 0 }
    if not c then io.write("new: ", err.code, ": ", err.message) return end
    local ok, results, qerr = pcall(c.query, c, list)
    if not ok then io.write("raised: ", tostring(results)) return end
    if results then io.write("results: ", #results) return end
    io.write("error: ", qerr.code, ": ", qerr.message, " accounted: ",
      tostring(#qerr.results + #qerr.unanswered == #list))
  ]]

  --- QUERY's outcomes under failmalloc, with allocations of the object
  -- whose path holds within failing in turn; each checked to be an end a
  -- query may have: results, or nil, err with every item accounted for.
  local function failing_queries(lib, within)
    local outs, ended = each_failing(QUERY, { URL = server.url, PROJECT = PROJECT, AK = creds.ak, SK = creds.sk,
                                              LD_PRELOAD = lib, FAILMALLOC_IN = within }, 400)
    for _, out in ipairs(outs) do
      assert.is_nil(out:find("raised: ", 1, true), out)
      assert.truthy(out:find("^new: INTERNAL: ") or out == "results: " .. #seed_pairs()
        or out:find("^error: [%u_]+: .* accounted: true$"), out)
    end
    assert.is_true(ended and #outs > 10, table.concat(outs, "\n"))
    return outs
  end

  -- Each says so in the library's words: the answer's body's buffer
  -- failing said libcurl's "Failure writing output to destination".
  it("each allocation of the C module's own failing in turn ends a query with nil, err, never a raise, "
    .. "as out of memory", function()
    local lib = failmalloc()
    if not lib then return end
    local outs = failing_queries(lib, "codearts/batchresult/core.so")
    for _, out in ipairs(outs) do
      -- (no other code: a socket that could not be recorded said NETWORK,
      -- libcurl's "could not connect"; review fixes45b)
      assert.truthy(out:find("^error: ") == nil or out:find("^error: INTERNAL: out of memory"), out)
    end
    local all = table.concat(outs, "\n")
    assert.truthy(all:find("INTERNAL: out of memory (reading the answer's body)", 1, true), all)
    assert.truthy(all:find("INTERNAL: out of memory (recording a connection)", 1, true), all)
  end)

  -- libcurl 7.71 to 8.5 say of their memory running out in the middle of
  -- a head what they say of a header line longer than their own 100 KB
  -- (an answer of faults.lua's): a head of a few hundred bytes was said to
  -- exceed 64 KiB.  It cannot be told which, and the words say so.
  it("libcurl's memory failing in the middle of a small head never says the head exceeded the limit", function()
    local lib = failmalloc()
    if not lib then return end
    for _, out in ipairs(failing_queries(lib, "libcurl")) do
      assert.is_nil(out:find("exceed", 1, true), out)
      if out:find("RESPONSE_TOO_LARGE", 1, true) then assert.truthy(out:find("ran out of memory", 1, true), out) end
    end
  end)

  -- The decoder's own allocations (a body's copy that mends a lone
  -- surrogate, the check for names given twice) failing say INTERNAL: the
  -- body is right (review: they said DECODE).
  it("each allocation of br.decode's own failing in turn gives results or INTERNAL, never DECODE", function()
    local lib = failmalloc()
    if not lib then return end
    local code = [[
      local br = require "codearts.batchresult"
      local r, err = br.decode('{"result":[{"pipeline_id":"p","pipeline_run_id":"r","pipeline_name":"x\\ud83d"},'
        .. '{"pipeline_id":"q","pipeline_run_id":"s"}]}')
      io.write(r and ("results: " .. #r) or (err.code .. ": " .. err.message))
    ]]
    local outs = each_failing(code, { LD_PRELOAD = lib, FAILMALLOC_IN = "codearts/batchresult/core.so" }, 50)
    local internal = 0
    for _, out in ipairs(outs) do
      assert.truthy(out == "results: 2" or out:find("^INTERNAL: out of memory"), out)
      if out:find("^INTERNAL") then internal = internal + 1 end
    end
    assert.is_true(internal >= 1, table.concat(outs, "\n"))
  end)

  -- cJSON says no more when its memory runs out than when a body is bad:
  -- a right answer read as "invalid JSON near byte 1", and an API error
  -- as a bare HTTP 401 (review c46).
  -- An answer holding a number goes through cJSON's tree; the usual one
  -- (strings and nulls) is read straight into tables, with no allocation
  -- of cJSON's to fail.
  it("each allocation of cJSON's failing in turn gives results, or INTERNAL, never DECODE nor a bare HTTP",
    function()
    local lib = failmalloc()
    if not lib then return end
    local code = [[
      local br = require "codearts.batchresult"
      local items = '[{"pipeline_id":"p","pipeline_run_id":"r","pipeline_name":"x"},'
        .. '{"pipeline_id":"q","pipeline_run_id":"s"}]'
      for _, body in ipairs({ '{"total":2,"result":' .. items .. '}', '{"result":' .. items .. '}' }) do
        local r, err = br.decode(body)
        io.write(r and ("results: " .. #r) or (err.code .. ": " .. err.message), "\n")
      end
      local _, e = br.decode('{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}', 401)
      io.write(e.code, ": ", e.message)
    ]]
    local outs, ended = each_failing(code, { LD_PRELOAD = lib, FAILMALLOC_IN = "libcjson" }, 50)
    assert.is_true(ended and #outs >= 10, table.concat(outs, "\n"))
    local internal = { 0, 0 }
    for _, out in ipairs(outs) do
      local decoded, usual, api = out:match("^([^\n]*)\n([^\n]*)\n(.*)$")
      assert.truthy(decoded == "results: 2" or decoded == "INTERNAL: out of memory parsing the body (126 bytes)", out)
      assert.are.equal("results: 2", usual, out)
      assert.truthy(api == "APIGW.0301: Incorrect IAM authentication information"
        or api == "INTERNAL: out of memory reading the answer's error body (HTTP 401)", out)
      if decoded:find("^INTERNAL") then internal[1] = internal[1] + 1 end
      if api:find("^INTERNAL") then internal[2] = internal[2] + 1 end
    end
    assert.is_true(internal[1] >= 1 and internal[2] >= 1, table.concat(outs, "\n"))
  end)

  -- The SK pasted as an option's value or name went out whole when memory
  -- ran out redacting it (review): new() dropped the INTERNAL its
  -- redaction gave, and a refused name was kept unless its redaction held
  -- a marker, which "(not shown: out of memory)" does not.
  it("each allocation of the C module's own failing in turn never shows the SK that refused options quote",
    function()
    local lib = failmalloc()
    if not lib then return end
    local code = [[
      local br = require "codearts.batchresult"
      local sk, url, project = os.getenv("SK"), os.getenv("URL"), os.getenv("PROJECT")
      local function said(_, err) io.write(err.code, ": ", err.message, " | ", tostring(err.option), "\n") end
      said(br.new { endpoint = url, project_id = project, ak = "AK", sk = sk, transport = sk })
      said(br.new { endpoint = url, project_id = project, ak = "AK", sk = sk, [sk] = 1 })
      local c, err = br.new { endpoint = url, project_id = project, ak = "AK", sk = sk }
      if not c then return said(c, err) end
      said(c:query(require("spec.standin.model").seed_query, { [sk] = true }))
    ]]
    local outs, ended = each_failing(code, { URL = server.url, PROJECT = PROJECT, SK = creds.sk, LD_PRELOAD = lib,
                                             FAILMALLOC_IN = "codearts/batchresult/core.so" }, 200)
    local all = table.concat(outs, "\n")
    assert.is_true(ended, all)
    for n, out in ipairs(outs) do assert.is_nil(out:find(creds.sk, 1, true), n .. ": " .. out) end
    -- (each way to fail was met: new()'s redactor, and a name's redaction)
    assert.truthy(all:find("INTERNAL: out of memory | nil", 1, true), all)
    assert.truthy(all:find("| (not shown: out of memory)\n", 1, true), all)
  end)

  -- A run of two ids at once whose on_progress, once the stand-in
  -- started both runs, reads the other answer into the run's view (a
  -- query of its own) and stops the call: STOP "close" closes the client,
  -- "raise" raises Ctrl-C's error.  The module's allocations count
  -- (failmalloc) only as the stop keeps that answer: in the close, or in
  -- the transport's cancel.  Writes how the call ended.
  local STOPPED_KEEPING = [[
    local br = require "codearts.batchresult"
    local model = require "spec.standin.model"
    local setenv = require("spec.support.clib")("setenv")
    local function keeping(f, ...)
      setenv("KEEPING", "1")
      local ok, e = pcall(f, ...)
      setenv("KEEPING", "0")
      if not ok then error(e, 0) end
    end
    local Transport = require "spec.support.curl_view"
    local cancel = Transport.cancel
    Transport.cancel = function(t) keeping(cancel, t) end
    local function both_run()
      local r = os.execute(os.getenv("BOTH_RUN"))
      return r == true or r == 0
    end
    local c = assert(br.new { endpoint = os.getenv("URL"), project_id = os.getenv("PROJECT"),
                              ak = os.getenv("AK"), sk = os.getenv("SK") })
    local ids = { model.make_id("kept", 1), model.make_id("kept", 2) }
    local ok, runs, err = pcall(c.run, c, ids, { batch_size = 1, concurrency = 2, on_progress = function(done)
      if done ~= 1 then return end
      local since = br.now()
      while not both_run() do assert(br.now() - since < 10, "the stand-in started no second run") end
      c:query(model.make_pairs("inner", 1))
      if os.getenv("STOP") == "close" then keeping(c.close, c) else error("interrupted!", 0) end
    end })
    err = ok and err or runs
    io.write(err.code, " results ", #err.results, " unanswered ", #err.unanswered, "\n")
  ]]

  -- A stop (a close from a callback, Ctrl-C, a raise) keeps the answers
  -- already read before their transfers go, by copying them: when that
  -- copy found no memory, the answer was dropped, and a run the stand-in
  -- started was reported unanswered (review).  Each allocation of the
  -- keeping fails in turn, until it makes none.
  it("keeps a run's answer already read whichever allocation fails as a stop keeps it", function()
    local lib = failmalloc()
    if not lib then return end
    for _, stop in ipairs({ "close", "raise" }) do
      local code = stop == "close" and "CLOSED" or "INTERRUPTED"
      local n, at = 0
      repeat
        n = n + 1
        server:reset()
        local out = child.run(STOPPED_KEEPING, { URL = server.url, PROJECT = PROJECT, AK = creds.ak, SK = creds.sk,
          STOP = stop, BOTH_RUN = server:stats_reach("runs", 2), LD_PRELOAD = lib,
          FAILMALLOC_IN = "codearts/batchresult/core.so", FAILMALLOC_WHILE = "KEEPING", FAILMALLOC_AT = tostring(n) })
        at = assert(out:match("failmalloc: failed (%d+) of"), out)
        local started = server:stats().run_pipelines
        assert.are.equal(2, started, out)
        assert.are.equal(("%s results %d unanswered 0\n"):format(code, started),
          (out:gsub("failmalloc: [^\n]*\n?", "")), stop .. ", allocation " .. n)
      until at == "0" or n == 20
      assert.are.equal("0", at, stop .. ": the keeping still allocates after 20")
    end
  end)

  it("Lua's memory error in a call's own work ends it with INTERNAL, every item accounted for, never a raise",
    function()
    -- Every allocation over 512 KB fails: the 1 MB answers' bodies as they
    -- become Lua strings, which the transport raises as Lua's memory error.
    if not allocator.other(pending) then return end
    server:config { huge_body_bytes = 1024 * 1024 }
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local oom = require("spec.support.clib")("oom")
      local c = assert(br.new { endpoint = os.getenv("URL"), project_id = os.getenv("PROJECT"),
                                ak = os.getenv("AK"), sk = os.getenv("SK"), max_retries = 0 })
      local list = require("spec.standin.model").seed_query
      local runs = {}
      for i = 1, 3 do runs[i] = ("%032x"):format(i) end
      for _, call in ipairs({ { c.query, list }, { c.run, runs } }) do
        local ok, res, err = oom.pcall_over(512 * 1024, call[1], c, call[2], { batch_size = 2 })
        if not ok then io.write("raised: ", tostring(res), "\n")
        elseif res then io.write("results: ", #res, "\n")
        else
          io.write(err.code, " ", err.message, " accounted: ",
            tostring(#err.results + #err.results.missing + #err.unanswered == #call[2]), "\n")
        end
      end
    ]], { URL = server.url, PROJECT = PROJECT, AK = creds.ak, SK = creds.sk })
    assert.is_true(ok, out)
    assert.are.equal(("INTERNAL out of memory during the call accounted: true\n"):rep(2), out)
  end)

  it("a Lua stack that cannot grow for a signature's headers is out of memory to every caller, "
    .. "never a raise of other words", function()
    -- Lua 5.2 and later say a stack that could not grow for want of memory
    -- by lua_checkstack's 0, not by their memory error: the signer raised
    -- an "out of memory" of its own, which no caller took for one (a call
    -- raised it again, after requests had gone out).  A fresh coroutine's
    -- stack is small, and every block over `over` bytes fails: the grown
    -- stack among them, at some sizes before anything else.
    if not allocator.other(pending) then return end
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local oom = require("spec.support.clib")("oom")
      local list = require("spec.standin.model").seed_query
      local c = assert(br.new { endpoint = os.getenv("URL"), project_id = os.getenv("PROJECT"),
                                ak = os.getenv("AK"), sk = os.getenv("SK"), max_retries = 0 })
      local signed = { method = "GET", path = "/", headers = { Host = "h", ["X-Sdk-Date"] = "20260101T000000Z" },
                       ak = "AK", sk = "SK" }
      local calls = { prepare = function() return c:prepare(list) end, query = function() return c:query(list) end,
                      sign = function() return br.sign(signed) end }
      for over = 1000, 8000, 250 do
        for _, name in ipairs({ "prepare", "query", "sign" }) do
          local ok, res, err = coroutine.wrap(function() return oom.pcall_over(over, calls[name]) end)()
          if not ok then io.write(name, " raised: ", tostring(res), "\n")
          elseif res then io.write(name, " results\n")
          else
            local lost = name == "query" and #err.results + #err.results.missing + #err.unanswered ~= #list
            io.write(name, " ", err.code, ": ", err.message, lost and " (not accounted)" or "", "\n")
          end
        end
      end
    ]], { URL = server.url, PROJECT = PROJECT, AK = creds.ak, SK = creds.sk })
    assert.is_true(ok, out)
    for line in out:gmatch("[^\n]+") do
      local said = line:match("^%a+ (.*)$")
      assert.truthy(said == "results" or said == "raised: not enough memory" or said:find("^INTERNAL: .*out of memory"),
        line)
      assert.is_nil(said:find("not accounted", 1, true), line)
    end
    -- (Lua 5.1 raises its memory error where the stack cannot grow)
    if _VERSION ~= "Lua 5.1" then
      assert.truthy(out:find("\nsign INTERNAL: sign: Lua's stack cannot grow for the headers (out of memory, or at "
        .. "its limit)\n", 1, true), out)
    end
  end)

  it("a Lua stack that cannot grow for a deep answer's tables is out of memory (INTERNAL), never a body nested "
    .. "too deeply", function()
    -- The decoder caps nesting where the stack fits it, so a stack that
    -- cannot grow (5.2 and later: lua_checkstack's 0) is memory that ran
    -- out: a DECODE error would call a right body wrong.  A member 995
    -- deep, under the cap, and every block over `over` bytes failing: the
    -- grown stack among them.
    if not allocator.other(pending) then return end
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local oom = require("spec.support.clib")("oom")
      local id, depth = ("a"):rep(32), 995
      local body = '{"result":[{"pipeline_id":"' .. id .. '","pipeline_run_id":"' .. id .. '","x":'
        .. ('{"a":'):rep(depth) .. "1" .. ("}"):rep(depth) .. "}]}"
      assert(br.decode(body), "the body is right")
      for over = 1024, 65536, 1024 do
        local ok, res, err = coroutine.wrap(function() return oom.pcall_over(over, br.decode, body) end)()
        if not ok then io.write("raised: ", tostring(res), "\n")
        elseif res then io.write("results\n")
        else io.write(err.code, ": ", err.message, "\n") end
      end
    ]])
    assert.is_true(ok, out)
    for line in out:gmatch("[^\n]+") do
      assert.truthy(line == "results" or line == "raised: not enough memory" or line:find("^INTERNAL: .*out of memory"),
        line)
    end
    -- (Lua 5.1 raises its memory error where the stack cannot grow)
    if _VERSION ~= "Lua 5.1" then
      assert.truthy(out:find("\nINTERNAL: Lua's stack cannot grow for the answer's items (out of memory, or at its "
        .. "limit)\n", 1, true), out)
    end
  end)

  it("any one of a run's allocations failing raises only before a request went out (Lua 5.1's guard)", function()
    -- Lua 5.3 and 5.4 collect and try a failed allocation again, and 5.2+
    -- and LuaJIT protect with pcall itself; 5.1's guard runs a call made
    -- inside a coroutine in a coroutine of its own (so the calls here are
    -- made in one), and what it does once the call has ended must not
    -- allocate, or a memory error there loses the started runs.
    if _VERSION ~= "Lua 5.1" or rawget(_G, "jit") then
      pending("Lua 5.1's guard only")
      return
    end
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local oom = require("spec.support.clib")("oom")
      local url = os.getenv("URL")
      local c = assert(br.new { endpoint = url, project_id = os.getenv("PROJECT"),
                                ak = os.getenv("AK"), sk = os.getenv("SK"), max_retries = 0 })
      local function runs_seen()
        -- (curl without the sanitizer a test run may preload: under it,
        -- curl hangs in setlocale)
        local p = io.popen(require("spec.support.standin").clean_env .. "curl -s " .. url .. "/_standin/stats")
        local stats = p:read("*a")
        p:close()
        return tonumber(stats:match("\"routes\":%b{}"):match("\"run\":(%d+)"))
      end
      local runs = {}
      for i = 1, 3 do runs[i] = ("%032x"):format(i) end
      local failed = 0
      for _, call in ipairs({ c.run, c.run_and_query }) do
        local n, came = 0, true
        while came do
          n = n + 1
          local before = runs_seen()
          local ok, res, err
          came, ok, res, err = coroutine.wrap(function()
            return oom.pcall_once(n, call, c, runs, { batch_size = 2 })
          end)()
          if not ok then
            if runs_seen() > before then io.write(n, ": raised after a request: ", tostring(res), "\n") end
          elseif not res then
            failed = failed + 1
            local r = err.results
            if #r + #r.missing + #(r.not_started or {}) + #err.unanswered + #(err.unqueried or {}) ~= #runs then
              io.write(n, ": ", err.code, " not accounted\n")
            end
          end
        end
      end
      io.write("failed ", failed)
    ]], { URL = server.url, PROJECT = PROJECT, AK = creds.ak, SK = creds.sk })
    assert.is_true(ok, out)
    assert.truthy(out:find("^failed %d+$"), out)
    assert.is_true(tonumber(out:match("%d+$")) > 20, out)
  end)

  it("a table size hint out of range is clamped: an empty table, never an error or a huge allocation", function()
    for _, sizes in ipairs({ { 0, 0 }, { 3, 2 }, { -1, -5 }, { 2 ^ 40, 2 ^ 40 } }) do
      collectgarbage("collect")
      local before = collectgarbage("count")
      local t = core.new_table(sizes[1], sizes[2])
      assert.is_nil(next(t))
      assert.is_true(collectgarbage("count") - before < 8 * 1024, "took under 8 MB")
      t[1], t.k = 1, 2
      assert.are.same({ 1, k = 2 }, t)
    end
    assert.has_error(function() core.new_table("many", 0) end)
  end)
end)

describe("decoding returns what it checked", function()
  local good = "6ba9a2dbc7024c22a9a6614516dc22db"

  local function refused(body, pattern)
    local r, err = br.decode(body)
    assert.is_nil(r)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(pattern, 1, true), err.message)
  end

  it("a member named twice is refused, wherever it is", function()
    refused('{"result":[{"pipeline_id":"' .. good .. '","pipeline_run_id":"' .. good
      .. '","pipeline_id":{"x":1}}]}', 'result[1] names the member "pipeline_id" twice')
    refused('{"result":[{"pipeline_id":"' .. good .. '","pipeline_run_id":"' .. good .. '","meta":{"a":1,"a":2}}]}',
      'result[1] names the member "a" twice')
    refused('{"result":[],"result":[{"pipeline_id":1}]}', 'the body names the member "result" twice')
    -- In a later item, which an item that names the same members before it
    -- lets the check skip comparing pairs: a name its own, or inside.
    local item = '{"pipeline_id":"' .. good .. '","pipeline_run_id":"' .. good .. '"'
    refused('{"result":[' .. item .. ',"m":{}},' .. item .. ',"m":{"a":1,"a":2}}]}',
      'result[2] names the member "a" twice')
    refused('{"result":[' .. item .. ',"m":1},' .. item .. ',"pipeline_id":1}]}',
      'result[2] names the member "pipeline_id" twice')
    refused('{"result":[' .. item .. '},' .. item .. '},' .. item .. ',"pipeline_run_id":"x"}]}',
      'result[3] names the member "pipeline_run_id" twice')
    -- Many members: the check sorts rather than comparing every pair.
    local members = {}
    for i = 1, 5000 do members[i] = ('"m%d":%d'):format(i, i) end
    members[#members + 1] = '"m17":0'
    refused('{"result":[{"pipeline_id":"a","pipeline_run_id":"b",' .. table.concat(members, ",") .. '}]}',
      'names the member "m17" twice')
    -- A name too long, or not plain ASCII, is named by its length: a cut or
    -- rewritten one could end in the start of a secret the redaction then
    -- misses.
    local long = ("x"):rep(33) .. "SKsecretSKsecret0123456789"
    refused('{"result":[],"' .. long .. '":1,"' .. long .. '":2}', "the body names the member of 59 bytes twice")
    refused('{"result":[],"caf\\u00e9":1,"caf\\u00e9":2}', "the body names the member of 5 bytes twice")
  end)

  it("the same names in different objects are no duplicates", function()
    local r = assert(br.decode('{"result":[{"pipeline_id":"a","pipeline_run_id":"b","m":{"pipeline_id":"c"}},'
      .. '{"pipeline_id":"d","pipeline_run_id":"e"}]}'))
    assert.are.equal("c", r[1].m.pipeline_id)
    assert.are.equal("d", r[2].pipeline_id)
  end)
end)

describe("the binding keeps no state between calls", function()
  it("a finalizer may close a client while its keyring hands out a signature or a redaction", function()
    -- Lua 5.1 and LuaJIT collect before they copy a pushed string: a
    -- finalizer run there that closes the client must not free what is
    -- being copied.  What comes back is whole, or says the client closed.
    -- In a fresh interpreter, whose small heap makes the collector's
    -- cycles short, so that finalizers run inside the calls.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local on_collect = require "spec.support.on_collect"
      local model = require "spec.standin.model"
      local ak, sk = model.credentials.permanent.ak, model.credentials.permanent.sk
      local project, list = model.seed_project, model.seed_query
      local AUTH = "^SDK%-HMAC%-SHA256 Access=" .. ak .. ", SignedHeaders=[%w;%-]+, Signature=%x+$"
      local text = "quoted: " .. sk .. " and more text after it"
      collectgarbage("setpause", 100)
      collectgarbage("setstepmul", 1000)
      local n = { whole = 0, closed = 0, bad = 0 }
      -- Where the collector's steps fall varies from run to run, and with
      -- what new() allocates: a little garbage of a varying size before
      -- each call moves them about.  Go on until enough calls have met a
      -- close.
      for i = 1, 20000 do
        if n.closed >= 100 then break end
        local c = assert(br.new { endpoint = "http://127.0.0.1:1", project_id = project, ak = ak, sk = sk })
        for _ = 1, 20 do on_collect(function() c:close() end) end
        for _ = 1, i % 61 do local _ = { i } end
        local done, req = pcall(c.prepare, c, list)
        if not (done and req) then
          n.closed = n.closed + 1 -- nil, CLOSED; or raised: closed before the call
        elseif req.headers.Authorization:find(AUTH) then
          n.whole = n.whole + 1
        else
          n.bad = n.bad + 1
          io.write("garbled: ", req.headers.Authorization, "\n")
        end
        local said
        done, said = pcall(c.redact, c, text)
        if done and said ~= "quoted: [REDACTED] and more text after it"
            and said ~= "(not shown: the client was closed)" then
          n.bad = n.bad + 1
          io.write("garbled: ", said, "\n")
        end
      end
      io.write(("whole %d closed %d bad %d"):format(n.whole, n.closed, n.bad))
    ]])
    assert.is_true(ok, out)
    local whole, closed, bad = out:match("whole (%d+) closed (%d+) bad (%d+)$")
    assert.are.equal("0", bad, out)
    assert.is_true(tonumber(whole) > 0, out)
    -- On the Luas that collect before they copy, closes must have come
    -- inside calls, or the test proved nothing.  (5.3 and 5.4 copy first;
    -- 5.3's collector, seeded with the time and addresses, may finalize
    -- only between calls in a whole run.)
    if rawget(_G, "jit") or _VERSION == "Lua 5.1" then assert.is_true(tonumber(closed) > 0, out) end
  end)

  it("a finalizer may sign and redact with the same client while its keyring hands out either", function()
    -- A keyring's signature and redaction are written into its own
    -- buffers; on 5.1 and LuaJIT a finalizer run while one is pushed may
    -- sign or redact with the same client, and so rewrite (or move) the
    -- buffer being copied.  Each call must still get its own answer.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local on_collect = require "spec.support.on_collect"
      local scatter = require "spec.support.scatter"
      local model = require "spec.standin.model"
      local ak, sk = model.credentials.permanent.ak, model.credentials.permanent.sk
      local c = assert(br.new { endpoint = "http://127.0.0.1:1", project_id = model.seed_project, ak = ak, sk = sk })
      local other = { { pipeline_id = ("1"):rep(32), pipeline_run_id = ("2"):rep(32) } }
      local text, other_text = "quoted: " .. sk .. " and more", ("x"):rep(3000) .. sk
      local function signature_of(req)
        local headers = {}
        for k, v in pairs(req.headers) do if k ~= "Authorization" then headers[k] = v end end
        return assert(br.sign { method = req.method, path = req.url:match("^https?://[^/]+(/.*)$"),
                                headers = headers, body = req.body, ak = ak, sk = sk })
      end
      collectgarbage("setpause", 100)
      collectgarbage("setstepmul", 1000)
      local n, inside = { during = 0, bad = 0 }, false
      local function finalizer()
        if inside then n.during = n.during + 1 end
        c:prepare(other)
        c:redact(other_text)
      end
      for _ = 1, 20000 do
        if n.during >= 200 then break end
        for _ = 1, 5 do on_collect(finalizer) end
        scatter()
        inside = true
        local req = assert(c:prepare(model.seed_query))
        local said = c:redact(text)
        inside = false
        if req.headers.Authorization ~= signature_of(req) then n.bad = n.bad + 1 end
        if said ~= "quoted: [REDACTED] and more" then n.bad = n.bad + 1 end
      end
      io.write(("during %d bad %d"):format(n.during, n.bad))
    ]])
    assert.is_true(ok, out)
    local during, bad = out:match("during (%d+) bad (%d+)$")
    assert.are.equal("0", bad, out)
    if rawget(_G, "jit") or _VERSION == "Lua 5.1" then assert.is_true(tonumber(during) > 0, out) end
  end)

  it("a finalizer that redacts at every collection does not keep a signature or a redaction from ending", function()
    -- Each call made its answer again whenever allocating the answer's
    -- copy ran such a finalizer, and allocated again: with the collector
    -- at pause 50 and stepmul 400 every allocation ran one, and the first
    -- call never ended.  The child stops itself if a call runs the
    -- finalizer 10,000 times (they run at most a few hundred).
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local on_collect = require "spec.support.on_collect"
      local sk = ("s3cr3t-"):rep(10)
      local c = assert(br.new { endpoint = "http://127.0.0.1:1", project_id = ("a"):rep(32), ak = "AK", sk = sk })
      local pairs_ = { { pipeline_id = ("1"):rep(32), pipeline_run_id = ("2"):rep(32) } }
      local during, most = 0, 0
      local function finalizer()
        during = during + 1
        if during > 10000 then io.write("stuck") os.exit(1) end
        c:redact("x" .. sk)
        on_collect(finalizer)
      end
      on_collect(finalizer)
      local text = ("y"):rep(4000) .. sk
      if _VERSION == "Lua 5.4" then collectgarbage("incremental", 50, 400, 0)
      else collectgarbage("setpause", 50); collectgarbage("setstepmul", 400) end
      local bad = 0
      for _ = 1, 100 do
        during = 0
        if c:redact(text) ~= ("y"):rep(4000) .. "[REDACTED]" then bad = bad + 1 end
        most = math.max(most, during)
        during = 0
        local req = assert(c:prepare(pairs_))
        if not req.headers.Authorization:find("Signature=%x+$") then bad = bad + 1 end
        most = math.max(most, during)
      end
      io.write(("bad %d most %d"):format(bad, most))
    ]])
    assert.is_true(ok, out)
    local bad, most = out:match("bad (%d+) most (%d+)$")
    assert.are.equal("0", bad, out)
    -- (or the test proved nothing)
    assert.is_true(tonumber(most) > 0, out)
  end)

  it("a finalizer may redact text with no secret while its keyring hands out a redaction", function()
    -- Such a redaction gives its text back as it came, but has rewritten
    -- the keyring's buffer all the same: it once left that unsaid, and the
    -- call it ran inside copied the buffer into a block of its own text's
    -- size (a heap overflow with the longer text, the other text with the
    -- shorter).  Texts with no secret, alone in the finalizers.
    for _, other in ipairs({ "plain text, no secret", ("y"):rep(3000) }) do
      local out, ok = child.run([[
        local br = require "codearts.batchresult"
        local on_collect = require "spec.support.on_collect"
        local scatter = require "spec.support.scatter"
        local sk = "SKsecretSKsecret0123456789"
        local c = assert(br.new { endpoint = "http://127.0.0.1:1", project_id = ("a"):rep(32), ak = "AK", sk = sk })
        local text, other = "quoted: " .. sk .. " and more", os.getenv("OTHER")
        collectgarbage("setpause", 100)
        collectgarbage("setstepmul", 1000)
        local bad = 0
        for _ = 1, 20000 do
          for _ = 1, 5 do on_collect(function() c:redact(other) end) end
          scatter()
          if c:redact(text) ~= "quoted: [REDACTED] and more" then bad = bad + 1 end
        end
        io.write(("bad %d"):format(bad))
      ]], { OTHER = other })
      assert.is_true(ok, out)
      assert.are.equal("bad 0", out:match("bad %d+$"), out)
    end
  end)

  it("a finalizer may close a keyring while its sign turns a number argument into a string", function()
    -- keyring:sign checked that it was open, then read its arguments; a
    -- number's string allocates, and a finalizer run by that closed it:
    -- it then signed with no signer (a segmentation fault).
    local out, ok = child.run([[
      local core = require "codearts.batchresult.core"
      local on_collect = require "spec.support.on_collect"
      local scatter = require "spec.support.scatter"
      collectgarbage("setpause", 100)
      collectgarbage("setstepmul", 1000)
      local n = { signed = 0, closed = 0 }
      local headers = { Host = "h", ["X-Sdk-Date"] = "20261201T120000Z" }
      for i = 1, 20000 do
        local k = assert(core.keyring("SKsecretSKsecret0123456789"))
        for _ = 1, 5 do on_collect(function() k:close() end) end
        scatter()
        local auth, _, code = k:sign("AK", "GET", "/p", 67890 + i, headers, 3.5 + i)
        if auth then n.signed = n.signed + 1 elseif code == "CLOSED" then n.closed = n.closed + 1 end
      end
      io.write(("signed %d closed %d"):format(n.signed, n.closed))
    ]])
    counted(out, ok, "signed", "closed", 20000)
  end)

  it("a finalizer may call br.sign, with another key, while br.sign hands out a signature", function()
    -- br.sign keeps one signer per Lua state between calls; a call made
    -- while another pushes its strings (a finalizer, on 5.1 and LuaJIT)
    -- must sign on a signer of its own and leave the first one's alone.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local on_collect = require "spec.support.on_collect"
      local scatter = require "spec.support.scatter"
      local function args(ak, sk, project)
        return { method = "POST", path = "/v5/" .. project .. "/api/pipelines/batch-runs/result",
                 headers = { Host = "example.com", ["X-Sdk-Date"] = "20261201T120000Z" },
                 body = '{"query":[]}', ak = ak, sk = sk }
      end
      local outer = args("OUTERAK", string.rep("o", 40), string.rep("a", 32))
      local inner = args("INNERAK", string.rep("i", 80), string.rep("b", 32))
      local want_outer, want_details = br.sign(outer)
      local want_inner = br.sign(inner)
      collectgarbage("setpause", 100)
      collectgarbage("setstepmul", 1000)
      local n, inside = { during = 0, bad = 0, calls = 0 }, false
      local function finalizer()
        if inside then n.during = n.during + 1 end
        if br.sign(inner) ~= want_inner then n.bad = n.bad + 1 end
      end
      for _ = 1, 20000 do
        if n.during >= 100 then break end
        for _ = 1, 5 do on_collect(finalizer) end
        scatter()
        inside = true
        local auth, details = br.sign(outer)
        inside = false
        n.calls = n.calls + 1
        if auth ~= want_outer or details.canonical_request ~= want_details.canonical_request
            or details.string_to_sign ~= want_details.string_to_sign
            or details.signed_headers ~= want_details.signed_headers then
          n.bad = n.bad + 1
        end
      end
      io.write(("calls %d during %d bad %d"):format(n.calls, n.during, n.bad))
    ]])
    assert.is_true(ok, out)
    local during, bad = out:match("during (%d+) bad (%d+)$")
    assert.are.equal("0", bad, out)
    if rawget(_G, "jit") or _VERSION == "Lua 5.1" then assert.is_true(tonumber(during) > 0, out) end
  end)

  it("a finalizer may decode while a large decode builds its tables", function()
    -- In a child: whether a collector cycle ends inside a decode, which
    -- the case needs, depends on the heap, and the spec files run before
    -- this one may leave any amount of it live (128 MB made every cycle
    -- longer than 200 decodes, review fixes53b).  The collector never
    -- rests, so that finalizers run in the steps the decode's own
    -- allocations make; decodes go on, 200 at most, until one has met a
    -- finalizer.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local core = require "codearts.batchresult.core"
      local model = require "spec.standin.model"
      local on_collect = require "spec.support.on_collect"
      local items = {}
      for i = 1, 3000 do
        items[i] = ('{"pipeline_id":"%s","pipeline_run_id":"%s","n":%d}'):format(model.make_id("fa", i),
          model.make_id("fb", i), i)
      end
      local big = '{"result":[' .. table.concat(items, ",") .. "]}"
      local small = '{"result":[{"pipeline_id":"x","pipeline_run_id":"y"}]}'
      local pairs_list = model.seed_query
      local during, wrong, inside, rounds = 0, 0, false, 0
      local function finalizer()
        local r = br.decode(small)
        if not (r and r[1].pipeline_id == "x") then wrong = wrong + 1 end
        local body = core.encode_query(core.read_items(pairs_list, "pipeline_id", "pipeline_run_id"), 1, 2)
        if not (body and body:find(pairs_list[2].pipeline_run_id, 1, true)) then wrong = wrong + 1 end
        if inside then during = during + 1 end
      end
      collectgarbage("setpause", 100)
      collectgarbage("setstepmul", 1000)
      while rounds < 5 or (during == 0 and rounds < 200) do
        rounds = rounds + 1
        for _ = 1, 2000 do on_collect(finalizer) end
        inside = true
        local r = assert(br.decode(big))
        inside = false
        assert(#r == 3000)
        for i = 1, 3000, 97 do
          assert(r[i].pipeline_id == model.make_id("fa", i) and r[i].n == i, "result " .. i)
        end
      end
      collectgarbage()
      io.write(("rounds %d during %d wrong %d"):format(rounds, during, wrong))
    ]])
    assert.is_true(ok, out)
    local during, wrong = out:match("during (%d+) wrong (%d+)$")
    assert.are.equal("0", wrong, out)
    assert.is_true(tonumber(during) > 0, "no finalizer ran during a decode: " .. out)
  end)
end)

-- The internal core API, driven by hostile Lua: a finalizer runs at any
-- allocation (before a string is copied, on 5.1 and LuaJIT), and may
-- change or free what a C function is reading.  Each case failed before
-- its fix on some Lua (noted), and holds on all four.
describe("core's functions read what a finalizer may change", function()
  local server
  standin.for_block(function(s) server = s end)

  it("a finalizer may cancel a call while next() hands out one of its answers", function()
    -- The cancel gave the slot being read to the next request, whose
    -- answer then overwrote it: 5.3 returned another request's request
    -- id; 5.1 and LuaJIT read freed memory (ASan).  The call's other
    -- request goes to a port that never answers, so the cancel has
    -- something to cancel.
    -- (from a file: run with -e, the child's collector ran a finalizer
    -- too seldom to meet the moment.  How often it meets it varies with
    -- the Lua and the heap's layout, from 7 in 100 to all, and it met it
    -- in none in one CI run beside the valgrind suite: not asserted.)
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    local f = assert(io.open(path, "w"))
    f:write((CORE_CHILD .. [[
      local peer = require("cqueues.socket").listen("127.0.0.1", 0)
      assert(peer:listen())
      local _, _, port = peer:localname()
      local URL, STALL = %q, "http://127.0.0.1:" .. port .. "/"
      local m = assert(core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000000 })
      local c, armed, other, fired, wrong = nil, false, nil, 0, 0
      each_collection(function()
        -- (c's transfers: the only call on m until this makes c2)
        if not (armed and m:pending() == 1) then return end
        armed, fired = false, fired + 1
        c:cancel()
        local c2 = m:call()
        assert(c2:start("GET", URL .. "/other", {}, ("b"):rep(200000), 5000, false))
        local _, status, _, rid = c2:next()
        other = status and rid
        c2:close()
      end)
      -- (Lua 5.1 marks a frame's stack up to its top: a stale slot of
      -- this chunk's held the first garbage each_collection made, and no
      -- finalizer ever ran; a call's locals write over them)
      local function wipe() local _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18,
        _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30 end
      wipe()
      if _VERSION == "Lua 5.4" then collectgarbage("incremental", 0, 1000, 0)
      else collectgarbage("setpause", 0); collectgarbage("setstepmul", 100000) end
      for _ = 1, 100 do
        c = assert(m:call())
        assert(c:start("GET", URL .. "/first", {}, "", 5000, false))
        assert(c:start("GET", STALL, {}, "", 5000, false))
        armed, other = true, nil
        local _, status, body, rid = c:next()
        armed = false
        if status ~= 404 or not body:find("APIG.0101", 1, true) or (other and rid == other) then
          wrong = wrong + 1
        end
        c:close()
      end
      io.write(("fired %%d wrong %%d"):format(fired, wrong))
    ]]):format(server.url))
    f:close()
    local out, ok = child.run_file(path)
    assert.is_true(ok, out)
    assert.are.equal("0", out:match("wrong (%d+)$"), out)
  end)

  it("a finalizer may close the client while call:start turns number arguments into strings", function()
    -- start checked the call, then converted its arguments: a finalizer
    -- run by that closed the handle, and start used it (a segmentation
    -- fault on 5.1, 5.3 and LuaJIT).
    local out, ok = child.run(CORE_CHILD .. [[
      collectgarbage("setpause", 0)
      collectgarbage("setstepmul", 100000)
      local started, closed = 0, 0
      for i = 1, 300 do
        local m = assert(core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 })
        local c = assert(m:call())
        on_collect(function() m:close() end)
        local slot, kind = c:start(1e300 + i, 2e300 + i, {}, 3e300, 1000, false)
        if slot then started = started + 1 elseif kind == "INTERNAL" then closed = closed + 1 end
        m:close()
      end
      io.write(("started %d closed %d"):format(started, closed))
    ]])
    counted(out, ok, "started", "closed", 300)
  end)

  it("a finalizer may drop core.multi's options from their table while it reads them", function()
    -- A string option was read, then popped, while the table held it; a
    -- finalizer run by a later read could take it out and have it
    -- collected before it was copied (ASan: use after free, 5.1 and 5.3).
    local out, ok = child.run(CORE_CHILD .. [[
      local t, armed, n = nil, false, 0
      each_collection(function()
        if not armed then return end
        n = n + 1
        if t.ca_file and n == 3 then armed = false; t.ca_file = nil; collectgarbage() end
      end)
      collectgarbage("setpause", 0)
      collectgarbage("setstepmul", 100000)
      for i = 1, 50 do
        t = { connect_timeout_ms = 1000, max_response_bytes = 1000, ca_file = ("/no/such/ca-"):rep(8) .. i }
        n, armed = 0, true
        local m = assert(core.multi(t))
        armed = false
        m:close()
      end
      io.write("made 50")
    ]])
    assert.is_true(ok, out)
    assert.truthy(out:find("made 50$"), out)
  end)

  it("a finalizer may change the list core's encoders read while they allocate the body", function()
    -- The ids were read, then the body allocated, then written from what
    -- was read: a finalizer run by that allocation could put other ids in
    -- the caller's list and have the first collected.  The body is
    -- written from the ids the list holds once it is allocated (before the
    -- fix, 5.3 and 5.4 wrote others, and 5.1 and LuaJIT failed).
    local out, ok = child.run(CORE_CHILD .. [[
      local flat, armed, n, wrong, changed = nil, false, 0, 0, 0
      local function id(i, tag) return ("%s%030d"):format(tag, i) end
      each_collection(function()
        if not armed then return end
        n = n + 1
        if n == 2 then
          armed, changed = false, changed + 1
          for i = 1, #flat do flat[i] = false end
          collectgarbage()
          for i = 1, #flat do flat[i] = id(i, "zz") end
        end
      end)
      collectgarbage("setpause", 0)
      collectgarbage("setstepmul", 100000)
      for round = 1, 200 do
        flat = {}
        for i = 1, 4 do flat[i] = id(i + round, "aa") end
        n, armed = 0, true
        local body = round % 2 == 0 and core.encode_ids("pipeline_ids", flat, 1, 4) or core.encode_query(flat, 1, 2)
        armed = false
        -- (the ids it read first, when the finalizer ran only as the body
        -- was handed out)
        local first = 1
        if not body:find(flat[1], 1, true) then first = 2 end
        for i = 1, 4 do
          local want = first == 1 and flat[i] or id(i + round, "aa")
          if not body:find(want, 1, true) then wrong = wrong + 1 end
        end
      end
      io.write(("changed %d wrong %d"):format(changed, wrong))
    ]])
    assert.is_true(ok, out)
    assert.are.equal("0", out:match("wrong (%d+)$"), out)
  end)

  it("a finalizer may change the caller's list while core.read_items allocates its copy", function()
    -- read_items counted the list's items, then made the copy's table,
    -- then read the items: a finalizer run by that allocation could give
    -- the list another length, and the read mixed the two lists (5.3 and
    -- 5.4: { B } of { B, C }, an item silently left out, or a spurious
    -- "pipeline_ids[2] is missing").  The list is read as it stands at
    -- one moment: { A } or { B, C }, never anything else.
    local out, ok = child.run(CORE_CHILD .. [[
      local A, B, C = ("a"):rep(32), ("b"):rep(32), ("c"):rep(32)
      local list = { A }
      each_collection(function()
        if list[2] then list[1], list[2] = A, nil else list[1], list[2] = B, C end
      end)
      local seen = { A = 0, BC = 0, other = 0 }
      for _ = 1, 100000 do
        local flat, n = core.read_items(list)
        if flat and n == 1 and flat[1] == A then seen.A = seen.A + 1
        elseif flat and n == 2 and flat[1] == B and flat[2] == C then seen.BC = seen.BC + 1
        else seen.other = seen.other + 1 end
      end
      io.write(("A %d BC %d other %d"):format(seen.A, seen.BC, seen.other))
    ]])
    assert.is_true(ok, out)
    assert.are.equal("0", out:match("other (%d+)$"), out)
  end)
end)
