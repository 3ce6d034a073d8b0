-- make test-valgrind runs this under valgrind's memcheck (see
-- scripts/test-valgrind.sh): one pass over everything the C module does,
-- against the local stand-in, ending with every client closed or
-- collected and the Lua state closed, so that memory the module forgets
-- to free shows up as "definitely lost".
--
--   LUA_PATH='./?.lua;./lua/?.lua;;' LUA_CPATH='./build/5.4/?.so;;' lua5.4 scripts/valgrind_driver.lua
--
-- Any wrong answer raises an error (exit status 1).  Runs on Lua 5.1-5.4
-- and LuaJIT.

-- Made before the library, so that as the state closes its finalizer runs
-- after the library's own (Lua finalizes the newest first): a br.sign, a
-- core.keyring and a core.multi there must keep nothing that no finalizer
-- will free (reviews core44, fixes44).  Kept in package.loaded until the
-- state closes; an error raised there would be lost, so it exits.
package.loaded["valgrind_driver.late_signer"] = require "spec.support.on_collect"(function()
  local auth = require("codearts.batchresult").sign {
    method = "GET", path = "/", headers = { ["X-Sdk-Date"] = "20200101T000000Z" }, ak = "AK", sk = "SK" }
  local core = require "codearts.batchresult.core"
  local _, refusal = core.keyring("SK")
  local _, multi_refusal = core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 }
  if not auth or refusal ~= "the Lua state is closing" or multi_refusal ~= refusal then
    io.stderr:write("valgrind driver: as the state closed, br.sign gave ", tostring(auth), ", core.keyring ",
                    tostring(refusal), " and core.multi ", tostring(multi_refusal), "\n")
    os.exit(1)
  end
  io.stderr:write("valgrind driver: signed as the state closed, and refused a keyring and a handle\n")
end)

local br = require "codearts.batchresult"
local core = require "codearts.batchresult.core"
local standin = require "spec.support.standin"
local on_collect = require "spec.support.on_collect"
local model = require "spec.standin.model"

local creds = model.credentials.permanent
local PROJECT = model.seed_project
local steps = 0

local function step(name, f)
  f()
  steps = steps + 1
  io.stderr:write(("valgrind driver: %-58s ok\n"):format(name))
end

local function check(cond, ...)
  if not cond then
    local words = { ... }
    for i = 1, select("#", ...) do words[i] = tostring(words[i]) end
    error(table.concat(words, " "), 2)
  end
  return cond
end

local function id(prefix, n)
  return ("%s%031x"):format(prefix, n)
end

local function make_pairs(n)
  local t = {}
  for i = 1, n do t[i] = { pipeline_id = id("a", i), pipeline_run_id = id("b", i) } end
  return t
end

-- A metatable whose every metamethod counts its calls (the library reads
-- the caller's tables raw and must run none), and whose __index makes a
-- new string at each read: a pointer the binding kept into one would be
-- read after the collector freed it.
local caller_calls = 0
local function fresh_strings()
  local n = 0
  local function count(f)
    return function(...)
      caller_calls = caller_calls + 1
      return f(...)
    end
  end
  return {
    __index = count(function(_, k)
      n = n + 1
      return (tostring(k) .. id("f", n)):rep(3)
    end),
    __len = count(function() return 3 end),
    __pairs = count(function(t) return next, t, nil end),
    __newindex = count(function() end),
  }
end

--- Runs body() with a collector that never rests and n objects whose
-- finalizer is fin, made so that they are finalized inside body (every
-- Lua starts the next cycle at once after a full one with pause 100).
local function with_finalizers(n, fin, body)
  local pause = collectgarbage("setpause", 100)
  local stepmul = collectgarbage("setstepmul", 1000)
  collectgarbage()
  collectgarbage("stop")
  for _ = 1, n do on_collect(fin) end
  collectgarbage("restart")
  local ok, err = pcall(body)
  collectgarbage("setpause", pause)
  collectgarbage("setstepmul", stepmul)
  collectgarbage()
  if not ok then error(err, 0) end
end

-- ---- signing and decoding: no server ------------------------------------

step("br.sign on the SDK vectors and refusals", function()
  local vectors = {
    { method = "GET", path = "/path", query = "limit=1", headers = { ["X-Sdk-Date"] = "20060102T150405Z" },
      body = "", sig = "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624" },
    { method = "POST", path = "/path", query = "key=value", headers = { ["X-Sdk-Date"] = "20060102T150405Z" },
      body = '{"Name":"test","Id":1}\n', sig = "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59" },
    { method = "GET", path = "/resources", query = "size=1",
      headers = { ["X-Sdk-Date"] = "20200608T023900Z", Host = "service.endpoint.myhuaweicloud.com" },
      body = "", sig = "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842" },
  }
  for _, v in ipairs(vectors) do
    local auth, details = br.sign { method = v.method, path = v.path, query = v.query, headers = v.headers,
                                    body = v.body, ak = "AccessKey", sk = "SecretKey" }
    check(auth and auth:sub(-64) == v.sig, "wrong signature", tostring(auth))
    check(details.canonical_request and details.string_to_sign, "no details")
  end
  -- A long path with escapes and a long query: the slow paths of the encoder.
  local auth = br.sign { method = "GET", path = "/" .. ("a b%2F/"):rep(200), query = ("k=%E4%B8%80&"):rep(200),
                         headers = { ["X-Sdk-Date"] = "20060102T150405Z", ["X_Unsigned"] = "x" },
                         ak = "AccessKey", sk = "SecretKey" }
  check(auth, "long request not signed")
  auth = br.sign { method = "GET", path = "/" .. ("abc/"):rep(300), headers = { ["X-Sdk-Date"] = "20060102T150405Z" },
                   ak = "AccessKey", sk = "SecretKey" }
  check(auth, "long plain path not signed")
  for _, bad in ipairs({
    { ["X-Sdk-Date"] = "20060102T150405Z", Bad = "a\r\nb" },
    { ["X-Sdk-Date"] = "2006-01-02" },
    { Host = "h" },
    { ["X-Sdk-Date"] = "20060102T150405Z", ["x-sdk-date"] = "20060102T150405Z" },
    { ["X-Sdk-Date"] = "20060102T150405Z", ["Bad Name"] = "v" },
  }) do
    local a, err = br.sign { method = "GET", path = "/", headers = bad, ak = "AccessKey", sk = "SecretKey" }
    check(a == nil and err.code == "INVALID_ARGUMENT", "bad request signed")
  end
end)

step("br.decode of good, odd and bad bodies", function()
  local good = '{"result":[{"pipeline_id":"6ba9a2dbc7024c22a9a6614516dc22db","pipeline_name":"Pipeline 1",'
    .. '"pipeline_run_id":"e41fe3981361476eb6dad17ad98c683c","status":"START_FAILED","reason":null,'
    .. '"later":{"a":[1,2.5,null,true,"x"],"b":{}}}]}'
  for _ = 1, 50 do
    local r = check(br.decode(good), "good body refused")
    check(#r == 1 and r[1].status == "START_FAILED", "wrong decode")
  end
  local big = { '{"result":[' }
  for i = 1, 500 do
    big[#big + 1] = ('%s{"pipeline_id":"%s","pipeline_run_id":"%s","status":"START_SUCCESS","reason":null}')
      :format(i > 1 and "," or "", id("a", i), id("b", i))
  end
  big[#big + 1] = "]}"
  check(#check(br.decode(table.concat(big))) == 500, "big body")
  for _, bad in ipairs({ "", "{", '{"result":[', '{"result":{}}', '{"result":[1]}', '[]', "null",
                         '{"result":[{"pipeline_id":"a"}]}', '{"result":[]} x', ("["):rep(5000),
                         '{"result":[{"pipeline_id":"a","pipeline_run_id":"\\ud800"}]}' }) do
    local r, err = br.decode(bad)
    if bad:find("ud800", 1, true) then
      check(r or err, "no answer")
    else
      check(r == nil and err.code == "DECODE", "bad body accepted:", bad:sub(1, 40))
    end
  end
end)

step("finalizers that decode and encode while a large decode builds its tables", function()
  local items = {}
  for i = 1, 3000 do
    items[i] = ('{"pipeline_id":"%s","pipeline_run_id":"%s","n":%d}'):format(id("a", i), id("b", i), i)
  end
  local big = '{"result":[' .. table.concat(items, ",") .. "]}"
  local small = '{"result":[{"pipeline_id":"x","pipeline_run_id":"y"}]}'
  local flat = check(core.read_items(make_pairs(2), "pipeline_id", "pipeline_run_id"))
  local inside, during, wrong = false, 0, 0
  local function finalizer()
    if not inside then return end
    during = during + 1
    local r = br.decode(small)
    if not (r and r[1].pipeline_id == "x") then wrong = wrong + 1 end
    local body = core.encode_query(flat, 2, 2)
    if not (body and body:find(id("b", 2), 1, true) and not body:find(id("a", 1), 1, true)) then
      wrong = wrong + 1
    end
  end
  for _ = 1, 3 do
    with_finalizers(500, finalizer, function()
      inside = true
      local r = check(br.decode(big))
      inside = false
      check(#r == 3000 and r[3000].pipeline_id == id("a", 3000) and r[1500].n == 1500, "wrong big decode")
    end)
  end
  check(wrong == 0, "a finalizer got a wrong answer")
  check(during > 0, "no finalizer ran during a decode")
end)

-- ---- against the stand-in --------------------------------------------------

local server = standin.start()
local ok, err = pcall(function()
  local function client(opts)
    local o = server:options(opts)
    if o.max_retries == nil then o.max_retries = 0 end
    return check(br.new(o))
  end

  step("client:query, one batch", function()
    local c = client()
    for _ = 1, 5 do
      local r = check(c:query(model.seed_query))
      check(#r == 6 and #r.missing == 0, "wrong results")
    end
    c:close()
  end)

  step("client:query, 700 pairs, batches of 100, 4 at once, shuffled", function()
    server:reset()
    server:config { shuffle = true, max_items = 100 }
    local c = client { concurrency = 4 }
    local calls = 0
    local r = check(c:query(make_pairs(700), { batch_size = 100, on_progress = function() calls = calls + 1 end }))
    check(#r == 700 and #r.missing == 0 and calls == 8, "wrong batched results") -- the start, and 7 batches
    c:close()
  end)

  step("a failed batch: nothing lost", function()
    server:reset()
    server:config { fail_ids = { id("b", 150) }, fail_status = 500 }
    local c = client()
    local r, e = c:query(make_pairs(300), { batch_size = 100, concurrency = 3 })
    check(r == nil and e.status == 500, "no failure")
    check(#e.results + #e.results.missing + #e.unanswered == 300, "pairs lost")
    c:close()
  end)

  step("an auth failure (wrong SK)", function()
    server:reset()
    local c = client { sk = "not-the-secret" }
    local r, e = c:query(model.seed_query)
    check(r == nil and e.code == "APIGW.0301" and e.status == 401, "no auth failure", tostring(e))
    c:close()
  end)

  step("client:run and run_and_query", function()
    server:reset()
    local c = client()
    local ids = {}
    for i = 1, 250 do ids[i] = id("c", i) end
    local runs = check(c:run(ids, { batch_size = 100, concurrency = 2 }))
    check(#runs == 250, "wrong runs")
    local r = check(c:run_and_query(ids, { batch_size = 100, concurrency = 2 }))
    check(#r == 250, "wrong run_and_query")
    c:close()
  end)

  step("an on_progress that raises, caught with pcall", function()
    server:reset()
    server:config { delay_ms = 50 }
    local c = client { concurrency = 4 }
    local okp, e = pcall(c.query, c, make_pairs(800), {
      batch_size = 100, on_progress = function() error("stop here") end })
    check(not okp and tostring(e):find("stop here", 1, true), "the error did not go up")
    -- The client is still usable after abandoning its transfers.
    server:config { delay_ms = 0 }
    check(#check(c:query(model.seed_query)) == 6, "client unusable after the error")
    c:close()
  end)

  step("a timeout and a refused connection", function()
    server:reset()
    server:config { delay_ms = 1500 }
    local c = client { timeout = 0.3 }
    local r, e = c:query(model.seed_query)
    check(r == nil and e.code == "TIMEOUT", "no timeout", tostring(e))
    c:close()
    server:config { delay_ms = 0 }
    c = check(br.new { endpoint = "http://127.0.0.1:1", project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                       max_retries = 0 })
    r, e = c:query(model.seed_query)
    check(r == nil and e.code == "NETWORK", "no network error", tostring(e))
    c:close()
  end)

  step("proxies whose __index makes fresh strings: as pairs, as options, as sign headers", function()
    server:reset()
    local before = server:stats().requests
    local c = client()
    -- Items with nothing raw: refused, nothing sent.
    local r, e = c:query({ setmetatable({}, fresh_strings()), setmetatable({}, fresh_strings()) })
    check(r == nil and e.code == "INVALID_ARGUMENT" and e.index == 1 and e.field == "pipeline_id", "proxy pair")
    r, e = c:run(setmetatable({}, fresh_strings()))
    check(r == nil and e.code == "INVALID_ARGUMENT", "proxy list")
    check(server:stats().requests == before, "a proxy's request was sent")
    -- Items whose own fields are right: only those are read, and sent.
    local list = {}
    for i, p in ipairs(model.seed_query) do
      list[i] = setmetatable({ pipeline_id = p.pipeline_id, pipeline_run_id = p.pipeline_run_id }, fresh_strings())
    end
    r = check(c:query(setmetatable(list, fresh_strings())))
    check(#r == 6 and #r.missing == 0, "wrong results for raw items")
    -- Options, br.sign's table and its headers with a metatable: refused
    -- whole, nothing sent.
    local o = { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk, max_retries = 0 }
    r, e = br.new(setmetatable(o, fresh_strings()))
    check(r == nil and e.code == "INVALID_ARGUMENT", "options with a metatable taken")
    r, e = c:query(model.seed_query, setmetatable({ batch_size = 2 }, fresh_strings()))
    check(r == nil and e.code == "INVALID_ARGUMENT", "call options with a metatable taken")
    check(server:stats().requests == before + 1, "a request with proxied options was sent")
    local headers = setmetatable({ ["X-Sdk-Date"] = "20060102T150405Z" }, fresh_strings())
    r, e = br.sign { method = "GET", path = "/path", query = "limit=1", headers = headers, body = "",
                     ak = "AccessKey", sk = "SecretKey" }
    check(r == nil and e.code == "INVALID_ARGUMENT", "proxy headers signed")
    r, e = br.sign(setmetatable({ method = "GET", path = "/", headers = {}, ak = "AK", sk = "SK" }, fresh_strings()))
    check(r == nil and e.code == "INVALID_ARGUMENT", "a proxied sign table signed")
    c:close()
    check(caller_calls == 0, "the library ran a metamethod of the caller's")
  end)

  step("lists whose __len lies or raises", function()
    server:reset()
    local c = client()
    local calls = 0
    local function list_with(len)
      local t = {}
      for i, p in ipairs(model.seed_query) do t[i] = p end
      return setmetatable(t, { __len = function() calls = calls + 1; return len() end })
    end
    check(#check(c:query(list_with(function() return 2 end))) == 6, "__len 2: not every item asked")
    check(#check(c:query(list_with(function() error("no length") end))) == 6, "__len that raises")
    check(#check(c:query(list_with(function() return 2 ^ 40 end))) == 6, "__len past the items")
    local ids = setmetatable({ id("c", 1), id("c", 2), id("c", 3) },
      { __len = function() calls = calls + 1; return 1 end })
    check(#check(c:run(ids)) == 3, "run: __len read")
    check(calls == 0, "__len ran")
    c:close()
  end)

  step("a finalizer that closes the client in the middle of a query", function()
    server:reset()
    server:config { delay_ms = 5 }
    local closed_in, list, opts = 0, make_pairs(400), { batch_size = 25 }
    for round = 1, 3 do
      local c = client { concurrency = 2 }
      local inside, countdown = false, 10 * round
      with_finalizers(300, function()
        if not inside then return end
        br.decode('{"result":[]}')
        countdown = countdown - 1
        if countdown == 0 then c:close() end
      end, function()
        inside = true
        local ok, r, e = pcall(c.query, c, list, opts)
        inside = false
        if ok and r == nil and e.code == "CLOSED" then
          closed_in = closed_in + 1
          check(#e.results + #e.results.missing + #e.unanswered == 400, "pairs lost when closed")
        elseif ok then
          check(r and #r == 400, "neither results nor CLOSED:", tostring(e))
        else
          check(tostring(r):find("client is closed", 1, true), "raised:", tostring(r))
        end
      end)
      c:close()
    end
    server:config { delay_ms = 0 }
    check(closed_in > 0, "no query was closed in the middle")
  end)

  step("client:prepare, and clients left to the garbage collector", function()
    server:reset()
    for _ = 1, 20 do
      local c = client()
      check(c:prepare(model.seed_query), "prepare failed")
      check(c:query(model.seed_query), "query failed")
      -- not closed: collected below
    end
    collectgarbage("collect")
    collectgarbage("collect")
    local c = client()
    c:close()
    c:close() -- twice is fine
    check(not pcall(c.query, c, model.seed_query), "a closed client answered")
  end)
end)
server:stop()
if not ok then error(err, 0) end

-- A client made before the state closes, whose first call a finalizer
-- makes as it closes (the finalizer made after the client, so run before
-- the client's handle is finalized): the handle, made with the client,
-- is finalized after that call.  Made at the call, its memory and
-- connections were never freed (review threads45).  Its endpoint refuses
-- the connection; libcurl's handle is made all the same.
local late_client = check(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, ak = creds.ak,
                                   sk = creds.sk, max_retries = 0 })
package.loaded["valgrind_driver.late_caller"] = on_collect(function()
  local _, late_err = late_client:query(model.seed_query)
  if not late_err or late_err.code ~= "NETWORK" then
    io.stderr:write("valgrind driver: a first call as the state closed gave ", tostring(late_err), "\n")
    os.exit(1)
  end
  io.stderr:write("valgrind driver: a client's first call made as the state closed: ", late_err.code, "\n")
end)
collectgarbage("collect")
io.stderr:write(("valgrind driver: %d steps ok\n"):format(steps))
