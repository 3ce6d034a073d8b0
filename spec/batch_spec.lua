-- Any number of pairs in one call: batches, concurrency, matching by ids,
-- nothing lost; and BatchRunPipeline.  Against the local stand-in over
-- real HTTP, which shuffles, omits and fails on request.
local br = require "codearts.batchresult"
local cjson = require "cjson"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local unpack = table.unpack or unpack -- 5.1 and LuaJIT
local creds = model.credentials.permanent
local PROJECT = model.seed_project

local function id(prefix, n)
  return ("%s%031x"):format(prefix, n)
end

local function make_pairs(n, from)
  local t = {}
  for i = 1, n do
    local k = (from or 0) + i
    t[i] = { pipeline_id = id("a", k), pipeline_run_id = id("b", k) }
  end
  return t
end

-- Wall time (os.clock is CPU time), read in this process: a `date` run
-- through the shell to read it added two process starts to each span
-- timed, which on a loaded machine weighed most on the shortest.
local now = br.now

local function sum(t)
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s
end

local function client_of(server)
  return assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk })
end

--- The line of the file that defines fn holding marker's words: its
-- source, as debug.getinfo names it, and its number.  Found by its words,
-- so that no edit of the library moves a spec's hook to some other line.
local function line_of(fn, marker)
  local source = debug.getinfo(fn, "S").source
  local n = 0
  for line in io.lines(source:sub(2)) do
    n = n + 1
    if line:find(marker, 1, true) then return source, n end
  end
  error(marker .. " is not in " .. source)
end

--- A test of a hook's debug.getinfo(level, "S"): whether it is of the
-- function that marker opens ("function Call:done(", say) in the file
-- that defines fn.
local function opened_by(fn, marker)
  local source, n = line_of(fn, marker)
  return function(info) return info.source == source and info.linedefined == n end
end

--- A test of a hook's debug.getinfo(level, "Sl"): whether it is at the
-- line holding marker in the file that defines fn.
local function at_line(fn, marker)
  local source, n = line_of(fn, marker)
  return function(info) return info.source == source and info.currentline == n end
end

--- For the rest of the case, no code compiled: LuaJIT calls no hook in
-- code it compiled (and its traces may hold the library's code already).
local function uncompiled()
  local jit = rawget(_G, "jit")
  if not jit then return end
  jit.flush()
  jit.off()
  finally(jit.on)
end

--- Ctrl-C as the interpreter's hook raises it, at the k-th event of a
-- hook of mask's for which at(event) says true (called from the hook: its
-- level 3 is the function running): the error fn (a call of the client's
-- public methods) raised or returned, and whether the hook raised it.
local function interrupted_at(k, mask, at, fn, ...)
  -- (no code compiled meanwhile, as in uncompiled: the suite's earlier
  -- cases may have had LuaJIT compile the very function watched, whose
  -- lines then called no hook, review ci48)
  local jit = rawget(_G, "jit")
  local was_on = jit and jit.status()
  if was_on then
    jit.flush()
    jit.off()
  end
  local seen = 0
  debug.sethook(function(event)
    if at(event) then
      seen = seen + 1
      if seen == k then
        debug.sethook()
        error("interrupted!")
      end
    end
  end, mask)
  local ok, raised, err = pcall(fn, ...)
  debug.sethook()
  if was_on then jit.on() end
  return ok and err or raised, seen >= k
end

--- What err.failed_batches was when Ctrl-C came at each of the events
-- picked (see interrupted_at) in turn, pick() giving each call its own
-- at(event), of a call of one batch that fails; and, last, the count of
-- the call that ran on to its end, whose error is returned too.
local function failed_at_each(mask, pick, fn, ...)
  local counts, err, stopped = {}
  repeat
    err, stopped = interrupted_at(#counts + 1, mask, pick(), fn, ...)
    if stopped then assert.are.equal("INTERRUPTED", err.code, tostring(err)) end
    assert.are.equal(1, err.batches)
    counts[#counts + 1] = err.failed_batches
  until not stopped
  return counts, err
end

--- counts (failed_at_each's) are each 1, and there are a few.
local function failed_everywhere(counts)
  local expected = {}
  for i = 1, #counts do expected[i] = 1 end
  assert.are.same(expected, counts)
  assert.is_true(#counts > 3, table.concat(counts, " "))
end

describe("client:query with many pairs", function()
  local server, client
  standin.for_block(function(s)
    server, client = s, client_of(s)
  end, function() client:close() end)

  it("answers 1,200 pairs given with duplicates: correct, in input order, complete", function()
    server:config { shuffle = true, max_items = 100 }
    local uniq = make_pairs(1200)
    local list = {}
    for i, p in ipairs(uniq) do
      list[#list + 1] = p
      if i % 4 == 0 then -- a duplicate (a copy, not the same table) of an earlier pair
        local q = uniq[i - 3]
        list[#list + 1] = { pipeline_id = q.pipeline_id, pipeline_run_id = q.pipeline_run_id }
      end
    end
    assert.are.equal(1500, #list)
    local results = assert(client:query(list))
    assert.are.equal(1200, #results)
    for i, p in ipairs(uniq) do
      assert.are.same(model.result_for(p.pipeline_id, p.pipeline_run_id), results[i])
    end
    assert.are.same({}, results.missing)
    local s = server:stats()
    assert.are.equal(12, s.requests)
    assert.are.equal(1200, sum(s.items))
    for _, n in ipairs(s.items) do assert.is_true(n <= 100) end
  end)

  it("sends batches of batch_size, set per client or per call", function()
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                              batch_size = 30 })
    assert(c:query(make_pairs(100)))
    local items = server:stats().items
    table.sort(items)
    assert.are.same({ 10, 30, 30, 30 }, items)
    server:reset()
    assert(c:query(make_pairs(100), { batch_size = 50 }))
    assert.are.same({ 50, 50 }, server:stats().items)
    c:close()
  end)

  it("lists the pairs the server did not report in missing", function()
    local list = make_pairs(250)
    server:config { omit = { list[7].pipeline_run_id, list[180].pipeline_run_id } }
    local results = assert(client:query(list))
    assert.are.equal(248, #results)
    assert.are.same({ list[7], list[180] }, results.missing)
    assert.is_nil(results:find(list[7].pipeline_run_id))
    -- and tostring's first line says so; a set made from it has no missing
    assert.truthy(tostring(results):find("^248 results: [^\n]*; 2 not reported\n"), tostring(results))
    assert.truthy(tostring(results:where {}):find("^248 results: [^\n;]*\n"))
  end)

  it("sends every batch that waits to be sent again, however many wait at once", function()
    -- (300 retries waiting together, each due 5 s after its 503; each
    -- batch's first attempt fails, and only that one: under valgrind on a
    -- loaded machine a retry came among the 300 first attempts, which the
    -- first 300 requests failing failed again, review fresh48)
    local list = make_pairs(300)
    server:config { fail_each_first = true, fail_first_status = 503, retry_after = "5" }
    local results = assert(client:query(list, { batch_size = 1, concurrency = 32, max_retries = 1 }))
    assert.are.equal(300, #results)
    assert.are.same({}, results.missing)
    assert.are.equal(600, server:stats().requests)
  end)

  -- A batch waiting for its retry when the client closed was not counted
  -- failed, as one that a deadline ended was (review).
  it("counts in err.failed_batches a batch waiting to be sent again, however the call ends", function()
    local c = client_of(server)
    server:config { fail_first = 1, fail_first_status = 503, retry_after = "5" }
    local _, err = c:query(make_pairs(3), { batch_size = 1, concurrency = 1,
      on_progress = function(done) if done == 2 then c:close() end end })
    assert.are.equal("CLOSED", err.code)
    assert.are.equal(3, err.batches)
    assert.are.equal(1, err.failed_batches)
    assert.are.equal(1, #err.unanswered)
    assert.are.equal(3, server:stats().requests)
  end)

  -- Ctrl-C between a batch's failed attempt and its retry's scheduling
  -- left it neither waiting nor failed (review): the interpreter's hook,
  -- played here as the retry's wait is worked out.
  it("counts in err.failed_batches a batch whose attempt failed when Ctrl-C came, wherever it came", function()
    local retry = require "codearts.batchresult.retry"
    server:config { fail_first = 1, fail_first_status = 503, retry_after = "1" }
    debug.sethook(function()
      if debug.getinfo(2, "f").func == retry.delay then
        debug.sethook()
        error("interrupted!")
      end
    end, "c")
    local ok, err = pcall(client.query, client, make_pairs(3), { batch_size = 3 })
    debug.sethook()
    assert.is_false(ok)
    assert.are.equal("INTERRUPTED", err.code, tostring(err))
    assert.are.same({ 1, 1 }, { err.batches, err.failed_batches })
  end)

  -- A batch given up stopped being counted as waiting before it was
  -- counted as failed: Ctrl-C in between left it out (review).  Here
  -- Ctrl-C at each line of Call:done in turn: the batch is counted failed
  -- wherever it comes, its answer in hand given to done again by the
  -- call's stop (review reenter46: it was counted from the moment its
  -- attempt was known to have failed).
  it("counts in err.failed_batches a batch given up, whichever line of done Ctrl-C comes at", function()
    local is_done = opened_by(require("codearts.batchresult.call").run, "function Call:done(")
    server:config { fail_first = 1000, fail_first_status = 503 }
    local function in_done() return is_done(debug.getinfo(3, "S")) end
    local counts, err = failed_at_each("l", function() return in_done end, client.query, client, make_pairs(1),
      { max_retries = 0 })
    assert.are.equal(503, err.status, tostring(err))
    failed_everywhere(counts)
  end)

  -- A run's answer the call cannot use (a run id that is no id) failed its
  -- batch only at the end of done (review); wherever Ctrl-C comes in done,
  -- as above.
  it("counts in err.failed_batches a run whose answer it cannot use, whichever line of done Ctrl-C comes at", function()
    local is_done = opened_by(require("codearts.batchresult.call").run, "function Call:done(")
    local pid = ("b"):rep(32)
    local body = '{"result":[{"pipeline_id":"' .. pid .. '","pipeline_run_id":"not-an-id"}]}'
    server:config { banner_first = 1000,
                    banner = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"):format(#body, body) }
    local function in_done() return is_done(debug.getinfo(3, "S")) end
    local counts, err = failed_at_each("l", function() return in_done end, client.run, client, { pid })
    assert.are.equal("DECODE", err.code, tostring(err))
    failed_everywhere(counts)
    -- failed from the moment the answer is known to be unusable: as its
    -- error is made
    local undecodable = require("codearts.batchresult.exchange").undecodable
    err = interrupted_at(1, "c", function() return debug.getinfo(3, "f").func == undecodable end, client.run,
      client, { pid })
    assert.are.equal("INTERRUPTED", err.code, tostring(err))
    assert.are.same({ 1, 1 }, { err.batches, err.failed_batches })
  end)

  -- Ctrl-C in done as it took in an attempt that could not connect left
  -- the batch neither failed nor unsent: only an answer was held for the
  -- call's stop (review fixes46c).
  it("counts in err.failed_batches and err.unsent a run that could not connect, whichever line of done Ctrl-C comes at",
    function()
      local is_done = opened_by(require("codearts.batchresult.call").run, "function Call:done(")
      local c = assert(br.new { endpoint = "http://127.0.0.1:9", project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                                max_retries = 0 })
      local k = 0
      repeat
        k = k + 1
        local err, stopped = interrupted_at(k, "l", function() return is_done(debug.getinfo(3, "S")) end, c.run, c,
          { ("b"):rep(32) })
        assert.are.same({ 1, 1, 1 }, { err.batches, err.failed_batches, #err.unsent }, k .. ": " .. tostring(err))
      until not stopped
      assert.is_true(k > 3, k)
      c:close()
    end)

  -- Ctrl-C between libcurl's handle opening and the Lua side's note of it
  -- left a client whose every later call raised "the transport is open
  -- already" (review reenter46).
  it("leaves a client usable whichever line of its first call's opening of libcurl Ctrl-C comes at", function()
    local in_open = opened_by(require("codearts.batchresult.transport.curl").new, "function Handle:open(")
    local k = 0
    repeat
      k = k + 1
      local c = client_of(server)
      -- (the body's locals are the condition's: Lua's repeat scope)
      local err, stopped = interrupted_at(k, "l", function() return in_open(debug.getinfo(3, "S")) end, c.query, c,
        make_pairs(1))
      if stopped then assert.are.equal("INTERRUPTED", err.code, tostring(err)) end
      local results, again = c:query(make_pairs(1))
      assert.are.equal(1, results and #results, k .. ": " .. tostring(again))
      c:close()
    until not stopped
    assert.is_true(k > 3, k)
  end)

  -- A batch built but not yet taken by the transport counted as sent.
  it("counts in err.batches no batch that Ctrl-C stopped before the transport took it", function()
    local is_start = opened_by(require("codearts.batchresult.transport.curl").new, "function Transport:start(")
    local err = interrupted_at(1, "c", function() return is_start(debug.getinfo(3, "S")) end,
      client.query, client, make_pairs(1))
    assert.are.equal("INTERRUPTED", err.code, tostring(err))
    assert.are.same({ 0, 0, 1 }, { err.batches, err.failed_batches, #err.unanswered })
    assert.are.equal(0, server:stats().requests)
  end)

  -- Sending a batch again stopped counting it as failed as the request
  -- was being built: Ctrl-C before the transport took it left it out
  -- (review).  Here Ctrl-C at each line from its failure to its retry's
  -- start in turn.
  it("counts in err.failed_batches a batch waiting, whichever line Ctrl-C comes at until it is sent again", function()
    local is_done = opened_by(require("codearts.batchresult.call").run, "function Call:done(")
    local is_start = opened_by(require("codearts.batchresult.transport.curl").new, "function Transport:start(")
    server:config { fail_first = 1000, fail_first_status = 503, retry_after = "0" }
    -- The lines from the failed attempt's done returning the delay to the
    -- retry going to the transport (its second start).
    local function waiting_lines()
      local waiting, starts = false, 0
      return function(event)
        local info = debug.getinfo(3, "S")
        if event == "call" and is_start(info) then starts = starts + 1 end
        if event == "return" and is_done(info) and starts == 1 then waiting = true end
        return event == "line" and waiting and starts == 1
      end
    end
    local counts, err = failed_at_each("crl", waiting_lines, client.query, client, make_pairs(1), { max_retries = 1 })
    assert.are.equal(503, err.status, tostring(err))
    local ones = {}
    for i = 1, #counts do ones[i] = 1 end
    assert.are.same(ones, counts)
    assert.is_true(#counts > 10, #counts .. " lines")
    -- (every retry stopped before it went out: one request a stopped call)
    assert.are.equal(#counts + 1, server:stats().requests)
  end)

  it("counts in err.batches the batches that were sent", function()
    local c = client_of(server)
    local list = make_pairs(30)
    local _, err = c:query(list, { batch_size = 10, on_progress = function(done) if done == 0 then c:close() end end })
    assert.are.equal("CLOSED", err.code)
    assert.are.equal(0, err.batches)
    assert.are.equal(0, err.failed_batches)
    assert.are.equal(30, #err.unanswered)
    assert.are.equal(0, server:stats().requests)
    -- the deadline passes during the first batch: the last is never sent
    -- (the second may be, with the millisecond left), and what was not
    -- sent did not fail either
    server:config { delay_ms = 1500 }
    local _, late = client_of(server):query(make_pairs(3), { batch_size = 1, concurrency = 1, deadline = 1,
                                                             max_retries = 0 })
    assert.are.equal("TIMEOUT", late.code)
    assert.is_true(late.batches >= 1 and late.batches <= 2, late.batches .. " batches")
    assert.are.equal(late.batches, late.failed_batches)
    assert.is_true(server:stats().requests <= late.batches)
    assert.are.equal(3, #late.unanswered)
  end)

  it("takes no batch's answer for a pair another batch asked about", function()
    -- Every answer also reports pair 5, which the third batch asks about:
    -- only the third batch's word on it counts, and when that batch fails,
    -- pair 5 is unanswered.
    local list = make_pairs(6)
    local FOREIGN = { list[5] }
    server:config { foreign = FOREIGN }
    local results = assert(client:query(list, { batch_size = 2, concurrency = 1 }))
    for i, p in ipairs(list) do
      assert.are.same(model.result_for(p.pipeline_id, p.pipeline_run_id), results[i])
    end
    server:config { foreign = FOREIGN, fail_ids = { list[5].pipeline_run_id }, fail_status = 400 }
    local none, err = client:query(list, { batch_size = 2, concurrency = 1 })
    assert.is_nil(none)
    assert.are.equal(400, err.status)
    assert.are.equal(4, #err.results)
    assert.are.same({}, err.results.missing)
    assert.are.same({ list[5], list[6] }, err.unanswered)
  end)

  it("accounts for every pair when a batch fails", function()
    local list = make_pairs(500)
    server:config { fail_ids = { list[250].pipeline_run_id }, omit = { list[3].pipeline_run_id } }
    local results, err = client:query(list, { batch_size = 100, concurrency = 2 })
    assert.is_nil(results)
    assert.are.equal(500, err.status)
    assert.are.equal("DEVPIPE.00000500", err.code)
    assert.is_true(err.retryable)
    assert.are.equal(5, err.batches)
    assert.are.equal(1, err.failed_batches)
    -- Pairs 201..300 went unanswered; pair 3 was answered as missing.
    assert.are.equal(100, #err.unanswered)
    assert.are.same(list[201], err.unanswered[1])
    assert.are.same(list[300], err.unanswered[100])
    assert.are.same({ list[3] }, err.results.missing)
    assert.are.equal(399, #err.results)
    assert.are.equal(500, #err.results + #err.results.missing + #err.unanswered)
    local seen = {}
    for _, r in ipairs(err.results) do seen[r.pipeline_run_id] = true end
    for _, p in ipairs(err.results.missing) do seen[p.pipeline_run_id] = true end
    for _, p in ipairs(err.unanswered) do seen[p.pipeline_run_id] = true end
    for _, p in ipairs(list) do assert.is_true(seen[p.pipeline_run_id], p.pipeline_run_id) end
    -- The results that did arrive keep the input order.
    assert.are.equal(list[1].pipeline_run_id, err.results[1].pipeline_run_id)
    assert.are.equal(list[500].pipeline_run_id, err.results[399].pipeline_run_id)
  end)

  it("sends up to concurrency batches at once, and wall time falls accordingly", function()
    -- Each answer 500 ms after its request, so that the stand-in's delay,
    -- not the work of the two processes (which on a loaded machine took
    -- 0.36 s of a 0.76 s parallel call with 200 ms), is what the times
    -- compare: the speed-up asked for is the same.
    server:config { delay_ms = 500 }
    local list = make_pairs(80)
    local t0 = now()
    assert(client:query(list, { batch_size = 10, concurrency = 1 }))
    local serial = now() - t0
    assert.are.equal(1, server:stats().max_in_flight)
    server:reset()
    server:config { delay_ms = 500 }
    t0 = now()
    local results = assert(client:query(list, { batch_size = 10, concurrency = 4 }))
    local parallel = now() - t0
    assert.are.equal(80, #results)
    assert.are.equal(4, server:stats().max_in_flight)
    -- 8 batches of 500 ms: about 4 s one at a time, 1 s four at a time.
    assert.is_true(serial >= 4, "serial took " .. serial)
    assert.is_true(parallel < serial / 2.5, ("parallel %.2f s, serial %.2f s"):format(parallel, serial))
  end)

  it("reuses connections across batches and calls", function()
    for _ = 1, 3 do assert(client:query(make_pairs(400), { concurrency = 4 })) end
    local s = server:stats()
    assert.are.equal(12, s.requests)
    assert.is_true(s.connections <= 4, "connections: " .. s.connections)
  end)

  it("keeps open, between calls, every connection of more than 4 batches at once", function()
    -- libcurl by itself keeps 4 per transfer under way: as a call's last
    -- batches finished, it closed the others' connections, which the
    -- next call opened again.
    local c = client_of(server)
    for _ = 1, 10 do assert(c:query(make_pairs(64), { batch_size = 1, concurrency = 16 })) end
    c:close()
    local s = server:stats()
    assert.are.equal(640, s.requests)
    assert.is_true(s.connections <= 16, "connections: " .. s.connections)
  end)

  it("reports progress at the start and after each batch, in pairs, naming the operation", function()
    local calls = {}
    assert(client:query(make_pairs(250), {
      batch_size = 100,
      on_progress = function(done, total, op) calls[#calls + 1] = { done, total, op } end,
    }))
    assert.are.equal(4, #calls)
    assert.are.same({ 0, 250, "ShowBatchRunResult" }, calls[1])
    local last = 0
    for i = 2, #calls do
      local c = calls[i]
      assert.are.equal(250, c[2])
      assert.are.equal("ShowBatchRunResult", c[3])
      assert.is_true(c[1] > last)
      last = c[1]
    end
    assert.are.equal(250, last)
  end)

  it("keeps what a call gives in opts.keep, before it returns it", function()
    local kept = { "stale", "stale" }
    local list = make_pairs(3)
    local results = assert(client:query(list, { keep = kept, batch_size = 2 }))
    assert.are.equal(results, kept[1])
    assert.is_nil(kept[2])
    server:config { fail_ids = { list[3].pipeline_run_id } }
    local r, err = client:query(list, { keep = kept, batch_size = 2, max_retries = 0 })
    assert.is_nil(r)
    assert.are.same({ nil, err }, { kept[1], kept[2] })
    assert.are.same({ list[3] }, err.unanswered)
    -- (a callback's error goes up as raised: nothing given, nothing kept)
    assert.is_false(pcall(client.query, client, list, { keep = kept, on_progress = function() error("stop") end }))
    assert.are.same({ false, false }, { kept[1], kept[2] })
    -- A list refused is given as any outcome; nothing of an earlier call's
    -- stays (review fixes45).  Options refused leave the table as it was.
    server:config { fail_ids = {} }
    assert(client:query(list, { keep = kept }))
    r, err = client:query({ { pipeline_id = "x" } }, { keep = kept })
    assert.are.same({ nil, r, err }, { kept[1], nil, kept[2] })
    assert.are.equal("INVALID_ARGUMENT", err.code)
    local before = kept[2]
    assert.is_nil(client:query(list, { keep = kept, batch_size = 0 }))
    assert.are.equal(before, kept[2])
    -- (run_and_query's dry_run is such an option; review docs45)
    assert.is_nil(client:run_and_query({ list[1].pipeline_id }, { keep = kept, dry_run = true }))
    assert.are.equal(before, kept[2])
    -- An interrupt as the list is read finds no earlier call's outcome in
    -- keep (review fixes45c): the interpreter's hook, played here as the
    -- C side reads the list.
    assert(client:query(list, { keep = kept }))
    debug.sethook(function()
      if debug.getinfo(2, "n").name == "read_items" then
        debug.sethook()
        error("interrupted!", 0)
      end
    end, "c")
    local ok, raised = pcall(client.query, client, list, { keep = kept })
    debug.sethook()
    assert.are.same({ false, "interrupted!" }, { ok, raised })
    assert.are.same({ false, false }, { kept[1], kept[2] })
    -- keep may be the list itself: read before keep is emptied (review docs45)
    local same = make_pairs(2)
    local got = assert(client:query(same, { keep = same }))
    assert.are.same({ got, nil }, { same[1], same[2] })
  end)

  it("lets an error raised by on_progress through, and stays usable", function()
    local ok, e = pcall(client.query, client, make_pairs(300), {
      on_progress = function() error("stop here") end,
    })
    assert.is_false(ok)
    assert.truthy(tostring(e):find("stop here", 1, true))
    assert.are.equal(6, #assert(client:query(make_pairs(6))))
  end)

  it("refuses bad call options before sending anything", function()
    local bad = {
      { { batch_size = 0 }, "batch_size" },
      { { concurrency = 1.5 }, "concurrency" },
      { { on_progress = "yes" }, "on_progress" },
      { { batchsize = 10 }, "unknown call option 'batchsize'" },
      { "fast", "call options must be a table" },
      { { keep = true }, "call option keep must be a table, got boolean" },
      { { keep = setmetatable({}, { __mode = "v" }) }, "call option keep must be a plain table" },
    }
    for _, case in ipairs(bad) do
      local r, err = client:query(make_pairs(2), case[1])
      assert.is_nil(r)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      assert.truthy(err.message:find(case[2], 1, true), err.message)
    end
    assert.are.equal(0, server:stats().requests)
    local c, err = br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                            concurrency = 0 }
    assert.is_nil(c)
    assert.truthy(err.message:find("concurrency", 1, true))
  end)

  it("names the offending pair by its place in the input, duplicates and all", function()
    local list = make_pairs(150)
    list[140] = { pipeline_id = list[1].pipeline_id }
    local r, err = client:query(list)
    assert.is_nil(r)
    assert.are.equal("pairs[140].pipeline_run_id is missing", err.message)
    assert.are.equal(0, server:stats().requests)
  end)
end)

describe("client:run and client:run_and_query", function()
  local server, client
  standin.for_block(function(s)
    server, client = s, client_of(s)
  end, function() client:close() end)

  local function ids(n)
    local t = {}
    for i = 1, n do t[i] = id("c", i) end
    return t
  end

  --- Has the stand-in answer the next request on route ("run" or
  -- "result") with status (a status line's code and text), headers (each
  -- line with its CRLF, or "") and body, a JSON text.
  local function answer_next(route, status, body, headers)
    server:config { banner_first = 1, fault_route = route, banner = ("HTTP/1.1 %s\r\nContent-Type: application/json"
      .. "\r\n%sContent-Length: %d\r\n\r\n%s"):format(status, headers or "", #body, body) }
  end

  -- Ctrl-C as done read a run's answer (decoding it, reading its heads)
  -- lost it: the transport had given it up, and the call's stop found
  -- only those it still held, so the runs the answer named were listed
  -- as unanswered, "may have started" (review reenter46).
  it("keeps in err.results the runs an answer read named, whichever line of taking it in Ctrl-C comes at", function()
    local is_done = opened_by(require("codearts.batchresult.call").run, "function Call:done(")
    local list = ids(2)
    local k, kept = 0, 0
    uncompiled()
    repeat
      k = k + 1
      -- (the k-th line of the library's run from done's first on)
      local armed = false
      local function at(event)
        if event == "call" then
          armed = armed or is_done(debug.getinfo(3, "S"))
          return false
        end
        return armed and debug.getinfo(3, "S").source:find("codearts/batchresult", 1, true) ~= nil
      end
      -- (raised, as INTERRUPTED is; or, landing as the call gives its
      -- outcome, raw, that outcome then in keep)
      local keep = {}
      local raised, stopped = interrupted_at(k, "cl", at, client.run, client, list, { keep = keep })
      local runs, err = keep[1], type(raised) == "table" and raised or keep[2]
      if runs then
        assert.are.equal(2, #runs)
      else
        assert.are.equal("INTERRUPTED", err.code, tostring(err))
        assert.are.same({ 2, 0 }, { #err.results, #err.unanswered }, k .. ": " .. tostring(err))
        kept = kept + 1
      end
    until not stopped
    assert.is_true(kept > 20, kept)
  end)

  -- Ctrl-C in the few dozen instructions between libcurl's view giving an
  -- answer up (call:next) and the loop holding it lost the answer: the
  -- view now gives it again until the loop acknowledges it (review
  -- fixes46c).
  it("keeps in err.results a run's answer, whichever instruction after libcurl gave it up Ctrl-C comes at", function()
    local curl = require "codearts.batchresult.transport.curl"
    local source, given_at = line_of(curl.new, "self.c:next(left")
    local list = ids(3)
    uncompiled()
    local stopped = 0
    for k = 1, 300 do
      local armed, seen = false, 0
      debug.sethook(function()
        local info = debug.getinfo(2, "Sl")
        if not armed then
          -- (armed once the view's wait has a slot in hand: the first answer)
          if info.source == source and info.currentline > given_at then
            local i, name, v = 1, debug.getlocal(2, 1)
            while name and not (name == "slot" and v ~= nil) do
              i = i + 1
              name, v = debug.getlocal(2, i)
            end
            armed = name ~= nil
          end
          return
        end
        seen = seen + 1
        if seen == k then
          debug.sethook()
          error("interrupted!")
        end
      end, "", 1)
      local keep = {}
      local ok, raised = pcall(client.run, client, list, { batch_size = 1, concurrency = 1, keep = keep })
      debug.sethook()
      if ok then break end
      local err = type(raised) == "table" and raised or keep[2]
      if err then
        stopped = stopped + 1
        assert.are.equal("INTERRUPTED", err.code, tostring(err))
        local got = {}
        for _, r in ipairs(err.results) do got[r.pipeline_id] = true end
        assert.is_true(got[list[1]], k .. ": " .. tostring(err))
      end
    end
    assert.is_true(stopped > 40, stopped)
  end)

  --- client[method](ids(n)) on a client of its own that sends nothing
  -- twice (max_retries = 0), which must fail: the ids, and the error.
  local function failed_call(method, n)
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                              max_retries = 0 })
    local list = ids(n)
    local got, err = c[method](c, list)
    c:close()
    assert.is_nil(got)
    return list, err
  end

  --- client:run(list), one pipeline a batch, one at a time, in a child
  -- interpreter that Ctrl-C stops once the stand-in has seen
  -- after_requests requests: its output (spec.support.cli's run), whose
  -- lines say the error's code, then each pipeline started, unanswered
  -- and unsent, in that order.  With inner (a pair), on_progress queries
  -- it once two batches are done, and a last line says the error that
  -- call raised, if the call's error holds one (err.raised): its code
  -- and how many pairs it left unanswered.
  local function run_interrupted(list, after_requests, inner)
    local cli = require "spec.support.cli"
    local child = require "spec.support.child"
    local code = ([[
      local br = require "codearts.batchresult"
      local c = assert(br.new { endpoint = %q, project_id = %q, ak = %q, sk = %q })
      local inner, o = %s, { batch_size = 1, concurrency = 1 }
      if inner then o.on_progress = function(done) if done == 2 then c:query({ inner }) end end end
      local ok, err = pcall(c.run, c, { %s }, o)
      if type(err) ~= "table" then return print("raised " .. tostring(err)) end
      print("code " .. err.code)
      for _, r in ipairs(err.results) do print("started " .. r.pipeline_id) end
      for _, p in ipairs(err.unanswered) do print("unanswered " .. p) end
      for _, p in ipairs(err.unsent) do print("unsent " .. p) end
      if err.raised then print("inner " .. err.raised.code .. " " .. #err.raised.unanswered) end
    ]]):format(server.url, PROJECT, creds.ak, creds.sk,
      inner and ("{ pipeline_id = %q, pipeline_run_id = %q }"):format(inner.pipeline_id, inner.pipeline_run_id)
        or "nil",
      "'" .. table.concat(list, "', '") .. "'")
    local r = cli.run({}, { command = child.interpreter .. " -e " .. cli.quote(code),
      env = { LUA_PATH = package.path, LUA_CPATH = package.cpath },
      interrupt_when = server:stats_reach("requests", after_requests) })
    assert.are.equal(0, r.status, cli.describe(r))
    return r
  end

  it("starts each pipeline once and returns the run ids in input order", function()
    local list = ids(120)
    list[#list + 1] = list[5] -- a duplicate
    local runs = assert(client:run(list, { batch_size = 50 }))
    assert.are.equal(120, #runs)
    for i = 1, 120 do
      assert.are.equal(list[i], runs[i].pipeline_id)
      assert.truthy(runs[i].pipeline_run_id:match("^%w+$") and #runs[i].pipeline_run_id == 32)
    end
    assert.are.same({}, runs.missing)
    local s = server:stats()
    assert.are.equal(3, s.runs)
    assert.are.equal(120, s.run_pipelines)
  end)

  -- Lua's memory error as the answer's tables were made dropped the
  -- answer: the runs that started were reported unanswered (review).
  it("decodes a run's answer again, after a collection, when Lua's memory ran out making its tables", function()
    local exchange = require "codearts.batchresult.exchange"
    local real, raised = exchange.outcome, 0
    exchange.outcome = function(...)
      if raised == 0 then
        raised = 1
        error("not enough memory", 0) -- what Lua raises when an allocation fails
      end
      return real(...)
    end
    local list = ids(3)
    local ok, runs, err = pcall(client.run, client, list)
    exchange.outcome = real
    assert.is_true(ok, tostring(runs))
    assert.is_nil(err)
    assert.are.equal(3, #runs)
    assert.are.equal(3, server:stats().run_pipelines)
  end)

  it("lists the pipelines the server did not start in missing", function()
    local list = ids(10)
    server:config { omit = { list[4] } }
    local runs = assert(client:run(list))
    assert.are.equal(9, #runs)
    assert.are.same({ list[4] }, runs.missing)
  end)

  it("accounts for every pipeline id when a batch fails", function()
    local list = ids(30)
    server:config { fail_ids = { list[25] }, fail_status = 503 }
    local runs, err = client:run(list, { batch_size = 10 })
    assert.is_nil(runs)
    assert.are.equal(503, err.status)
    assert.are.equal(20, #err.results)
    assert.are.same({ unpack(list, 21, 30) }, err.unanswered)
  end)

  it("takes no batch's run id for a pipeline another batch was to start", function()
    -- Every answer also reports pipeline 5, with a run id of its own: the
    -- batch that was to start it fails (it may have started), so pipeline 5
    -- is unanswered, whatever the other answers say.
    local list = ids(6)
    local forged = ("f"):rep(32)
    server:config { foreign = { { pipeline_id = list[5], pipeline_run_id = forged } } }
    -- (its own batch's answer gives it another run: a second run, which
    -- fails the call rather than be dropped)
    local runs, derr = client:run(list, { batch_size = 2, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("DECODE", derr.code)
    assert.truthy(derr.message:find(forged, 1, true), derr.message)
    assert.are.equal(list[5], derr.results[5].pipeline_id)
    assert.are_not.equal(forged, derr.results[5].pipeline_run_id)
    -- Its own batch fails: the run the others gave it is the one known,
    -- never lost (a caller who starts the unanswered again must not start
    -- it twice).
    server:config { foreign = { { pipeline_id = list[5], pipeline_run_id = forged } }, fail_ids = { list[5] } }
    local none, err = client:run(list, { batch_size = 2, concurrency = 1 })
    assert.is_nil(none)
    assert.are.equal(500, err.status)
    assert.are.equal(5, #err.results)
    for i = 1, 4 do assert.are_not.equal(forged, err.results[i].pipeline_run_id) end
    assert.are.same({ pipeline_id = list[5], pipeline_run_id = forged }, err.results[5])
    assert.are.same({ list[6] }, err.unanswered)
  end)


  -- Every run an answer lists is one the server says it made: none is
  -- dropped, and no pipeline a run may have started is called not started.
  it("a pipeline another batch says started, which its own answer leaves out, may have started", function()
    local list = ids(4)
    local claimed = ("e"):rep(32)
    server:config { foreign = { { pipeline_id = list[3], pipeline_run_id = claimed } }, omit = { list[3] } }
    local runs, err = client:run(list, { batch_size = 2, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.is_false(err.retryable)
    assert.truthy(err.message:find(list[3], 1, true), err.message)
    assert.truthy(err.message:find(claimed, 1, true), err.message)
    assert.are.same({ list[3] }, err.unanswered)
    assert.are.same({}, err.results.missing)
    assert.are.same({ list[1], list[2], list[4] },
      { err.results[1].pipeline_id, err.results[2].pipeline_id, err.results[3].pipeline_id })
  end)

  -- err.unsent: the unanswered pipelines that provably never reached the
  -- service, safe to start again.  The tool guessed it from counts (one
  -- failed batch, retryable) and called a pipeline whose batch the service
  -- answered "not sent" (review fixes17).
  it("run: err.unsent is not a pipeline whose batch the service answered, though one batch alone failed", function()
    local a, b, c = id("a", 1), id("b", 1), id("c", 1)
    local claimed = ("e"):rep(32)
    -- a's batch: throttled by the gateway (APIGW.0308), for longer than
    -- max_retry_wait, so given up; b's answer also gives c a run; c's own
    -- answer leaves c out
    server:config { fail_ids = { a }, fail_status = 429, retry_after = "1000",
                    foreign = { { pipeline_id = c, pipeline_run_id = claimed } }, omit = { c } }
    local runs, err = client:run({ a, b, c }, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("APIGW.0308", err.code)
    assert.are.same({ 3, 1 }, { err.batches, err.failed_batches })
    assert.are.same({ a, c }, err.unanswered)
    assert.are.same({ { pipeline_id = c, pipeline_run_id = claimed } }, err.unplaced)
    assert.are.same({ a }, err.unsent)
    -- the stand-in: one request each, a's the one refused by the gateway
    -- (429), c's reached the service
    local s = server:stats()
    assert.are.same({ 3, 1, 2 }, { s.routes.run, s.statuses["429"], s.runs })
  end)

  it("run: err.unsent is every pipeline when the connection is refused", function()
    local dead = standin.start()
    local url = dead.url
    dead:stop()
    local c = assert(br.new { endpoint = url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
                              max_retry_wait = 0.05 })
    local list = ids(3)
    local runs, err = c:run(list, { batch_size = 1, concurrency = 2 })
    assert.is_nil(runs)
    assert.are.equal("NETWORK", err.code)
    assert.are.same(list, err.unanswered)
    assert.are.same(list, err.unsent)
    -- run_and_query's are the start's: pipeline ids
    local results, qerr = c:run_and_query(list, { batch_size = 1, concurrency = 2 })
    c:close()
    assert.is_nil(results)
    assert.are.same(list, qerr.unanswered)
    assert.are.same(list, qerr.unsent)
    assert.are.equal(0, server:stats().requests)
  end)

  -- (a 401 APIGW.0303 is the gateway's refusal too: the signature
  -- expired, the service never saw it; review fixes18)
  it("run: err.unsent holds a pipeline whose start the gateway refused as signed too long ago", function()
    server:config { clock_offset_s = 7200 }
    local list, err = failed_call("run", 1)
    assert.are.same({ "APIGW.0303", 401 }, { err.code, err.status })
    assert.are.same(list, err.unanswered)
    assert.are.same(list, err.unsent)
    assert.are.equal(0, server:stats().run_pipelines)
  end)

  -- A server's error_code may be any word: one that names a stop of the
  -- library's own (CLOSED, CALLBACK, INTERRUPTED) was taken for it: the
  -- INTERRUPTED raised as Ctrl-C's is, and run_and_query's runs left
  -- unqueried as after a close (review cli51).
  for _, code in ipairs({ "INTERRUPTED", "CLOSED", "CALLBACK" }) do
    it("a server's error coded " .. code .. " is returned as the server's, and the runs that started queried",
      function()
        local body = ('{"error_code":"%s","error_msg":"service busy"}'):format(code)
        answer_next("result", "400 Bad Request", body)
        local ok, res, err = pcall(client.query, client, { { pipeline_id = id("c", 1), pipeline_run_id = id("d", 1) } })
        assert.is_true(ok, tostring(res))
        assert.are.same({ code, 400 }, { err.code, err.status })
        answer_next("run", "400 Bad Request", body)
        local list = ids(2)
        ok, res, err = pcall(client.run_and_query, client, list, { batch_size = 1, concurrency = 1 })
        assert.is_true(ok, tostring(res))
        assert.is_nil(res)
        assert.are.same({ code, 400 }, { err.code, err.status })
        -- (the first may have started; the second did, and was queried)
        assert.are.same({ list[1] }, err.unanswered)
        assert.are.equal(1, #err.results)
        assert.are.equal(list[2], err.results[1].pipeline_id)
        assert.are.same({}, err.unqueried)
      end)
  end

  -- (nor one decoded with no status, which carries none: a callback that
  -- raises it has it go up as raised, as any value; review fixes51)
  it("a callback that raises an answer's error coded INTERRUPTED, decoded with no status, has it go up as raised",
    function()
      local _, answer = br.decode('{"error_code":"INTERRUPTED","error_msg":"the gateway stopped it"}')
      assert.are.same({ "INTERRUPTED", nil }, { answer.code, answer.status })
      local ok, raised = pcall(client.query, client, { { pipeline_id = id("c", 1), pipeline_run_id = id("d", 1) } },
        { on_progress = function() error(answer, 0) end })
      assert.is_false(ok)
      assert.are.equal(answer, raised)
    end)

  -- (the status half's error went up with the queries' err.unsent, pairs)
  it("run_and_query: err.unsent is the start's, none, when only the status half failed", function()
    -- (the gateway refuses the query: its pairs never reached the service)
    answer_next("result", "429 Too Many Requests", '{"error_code":"APIGW.0308","error_msg":"throttled"}')
    local _, err = failed_call("run_and_query", 2)
    assert.are.equal("APIGW.0308", err.code)
    assert.are.equal(2, #err.unqueried)
    assert.are.same({}, err.unanswered)
    assert.are.same({}, err.unsent)
  end)

  -- (a 401 APIGW.0301 is the gateway's refusal of the credential: the
  -- service never saw the refused batch; review newcomer2)
  it("run: err.unsent holds the batch the gateway refused for a wrong credential, and those it kept back", function()
    local c = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = ("x"):rep(40) })
    local list = ids(3)
    local runs, err = c:run(list, { batch_size = 1, concurrency = 1 })
    c:close()
    assert.is_nil(runs)
    assert.are.same({ "APIGW.0301", 401 }, { err.code, err.status })
    assert.are.same(list, err.unanswered)
    assert.are.same(list, err.unsent)
    local s = server:stats()
    assert.are.same({ 1, 1, 0 }, { s.routes.run, s.statuses["401"], s.run_pipelines })
  end)

  -- (the same code under another status is no gateway refusal: a 500 may
  -- quote it from anywhere)
  it("run: err.unsent holds no pipeline of a batch answered 500 with APIGW.0301", function()
    answer_next("run", "500 Internal Server Error", '{"error_code":"APIGW.0301","error_msg":"quoted"}')
    local list, err = failed_call("run", 1)
    assert.are.same({ "APIGW.0301", 500 }, { err.code, err.status })
    assert.are.same(list, err.unanswered)
    assert.are.same({}, err.unsent)
  end)

  it("run: err.unsent holds no pipeline whose request the server read before it dropped the connection", function()
    server:config { reset_first = 1, fault_route = "run" }
    local list = ids(2)
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("NETWORK", err.code)
    assert.is_false(err.retryable)
    assert.are.same({ list[1] }, err.unanswered)
    assert.are.same({}, err.unsent)
    local s = server:stats()
    assert.are.same({ 2, 1, 1 }, { s.routes.run, s.faults.reset_first, s.run_pipelines })
  end)

  it("run: Ctrl-C with one batch in flight and one not yet sent: only the latter is in err.unsent", function()
    local cli = require "spec.support.cli"
    local list = ids(2)
    -- (the first start's answer held back: Ctrl-C comes, once the
    -- stand-in has read it, while it is awaited)
    server:config { delay_ms = 10000 }
    local r = run_interrupted(list, 1)
    assert.are.equal(("code INTERRUPTED\nunanswered %s\nunanswered %s\nunsent %s\n"):format(list[1], list[2], list[2]),
      r.out, cli.describe(r))
    -- the first reached the service, the second never came
    assert.are.equal(1, server:stats().routes.run)
    assert.are.same({ list[1] }, cjson.decode(server:last().body).pipeline_ids)
  end)

  -- Ctrl-C in a query made from on_progress: the run raised that query's
  -- error as the callback's, one pair unanswered, and the runs it had
  -- started were reported nowhere (review inputs2).
  it("run: Ctrl-C in a call made from its callback stops the run too, every pipeline accounted for", function()
    local cli = require "spec.support.cli"
    local list, pair = ids(4), model.seed_query[1]
    -- (the query's answer held: Ctrl-C comes while it is awaited)
    server:config { stall_body_first = 1, fault_route = "result", stall_ms = 10000 }
    local r = run_interrupted(list, 3, pair)
    assert.are.equal(("code INTERRUPTED\nstarted %s\nstarted %s\nunanswered %s\nunanswered %s\nunsent %s\nunsent %s\n"
      .. "inner INTERRUPTED 1\n"):format(list[1], list[2], list[3], list[4], list[3], list[4]), r.out, cli.describe(r))
    local s = server:stats()
    assert.are.same({ 2, 1, 2 }, { s.routes.run, s.routes.result, s.run_pipelines })
  end)

  -- What a callback raised went with INTERRUPTED only when it was an
  -- inner call's error: the interpreter's "interrupted!", raised in a
  -- callback (or by one, under Neovim), was lost (review fixes22).
  it("run: INTERRUPTED's err.raised is what the callback raised, the interpreter's interrupted! too", function()
    local list = ids(2)
    local ok, err = pcall(client.run, client, list, { batch_size = 1, concurrency = 1,
      on_progress = function(done) if done == 1 then error("interrupted!", 0) end end })
    assert.is_false(ok)
    assert.are.same({ "INTERRUPTED", "interrupted!" }, { err.code, err.raised })
    assert.are.same({ { list[1] }, { list[2] }, { list[2] } }, { { err.results[1].pipeline_id }, err.unanswered,
      err.unsent })
  end)

  it("run: err.unsent is empty in a child forked during the call: the parent sends the batches left", function()
    local fork = require "spec.support.fork"
    local list, pid = ids(4), nil
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1, on_progress = function(done)
      if done == 2 and pid == nil then pid = assert(fork.fork()) end
    end })
    if pid == 0 then
      -- (the child: two batches never sent by it, which the parent sends;
      -- it exits whatever it finds, or it would run the specs after this)
      local ok, good = pcall(function() return runs == nil and #err.unanswered == 2 and #err.unsent == 0 end)
      fork.exit(ok and good and 0 or 1)
    end
    assert.are.equal(0, fork.wait(pid), "the child's outcome")
    assert.is_nil(err)
    assert.are.equal(4, #runs)
    assert.are.equal(4, server:stats().run_pipelines)
  end)

  --- Has the stand-in answer the next BatchRunPipeline (the next times,
  -- when given) with items (JSON texts), as a 200 (before: members of the
  -- body's before its list, as JSON text).
  local function run_answer(items, times, before)
    local body = '{' .. (before or "") .. '"result":[' .. table.concat(items, ",") .. "]}"
    server:config { banner_first = times or 1, fault_route = "run", banner = ("HTTP/1.1 200 OK\r\nContent-Type: "
      .. "application/json\r\nContent-Length: %d\r\n\r\n%s"):format(#body, body) }
  end
  local function run_item(pipeline_id, run_id)
    return ('{"pipeline_id":"%s","pipeline_run_id":"%s"}'):format(pipeline_id, run_id)
  end

  -- Every run a lying answer lists is in err.results or err.unplaced: the
  -- call kept the first run it could not place and lost the rest (review).
  --- How many times err lists the run (pipeline id, run id): in
  -- err.results and in err.unplaced together.
  local function times_listed(err, pipeline_id, run_id)
    local n = 0
    for _, list in ipairs({ err.results, err.unplaced }) do
      for _, r in ipairs(list) do
        if r.pipeline_id == pipeline_id and r.pipeline_run_id == run_id then n = n + 1 end
      end
    end
    return n
  end
  local function run_of(pipeline_id, run_id) return { pipeline_id = pipeline_id, pipeline_run_id = run_id } end

  it("a second run for one pipeline fails the call with DECODE naming it, the runs kept", function()
    local list = ids(2)
    local r1, r2, again = ("a"):rep(32), ("b"):rep(32), ("d"):rep(32)
    run_answer { run_item(list[1], r1), run_item(list[2], r2), run_item(list[1], again) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(again, 1, true), err.message)
    assert.are.same({ { pipeline_id = list[1], pipeline_run_id = r1 },
                      { pipeline_id = list[2], pipeline_run_id = r2 } }, { err.results[1], err.results[2] })
    assert.are.same({}, err.unanswered)
    -- the same run twice is one run
    run_answer { run_item(list[1], r1), run_item(list[2], r2), run_item(list[1], r1) }
    assert(client:run(list))
  end)

  -- A member named twice, in an item or beside the list, refused the whole
  -- answer: the batch's other runs, which started, were lost (review
  -- decode43).  Which of the two an item means is anyone's guess: it alone
  -- is placed nowhere.
  it("an item naming a member twice fails the call with DECODE naming it, the batch's other runs kept", function()
    local list = ids(3)
    local r1, r2 = ("a"):rep(32), ("b"):rep(32)
    run_answer { run_item(list[1], r1),
                 ('{"pipeline_id":"%s","pipeline_run_id":"%s","meta":{"k":1,"k":2}}'):format(list[2], r2) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find('result[2] names the member "k" twice, which the call cannot place', 1, true),
      err.message)
    assert.are.same({ run_of(list[1], r1) }, { err.results[1] })
    assert.are.same({ run_of(list[2], r2) }, err.unplaced)
    assert.are.same({ list[2], list[3] }, err.unanswered)
    -- a flawed item giving a run placed all the same is that run, not
    -- listed again in err.unplaced (review session43b)
    run_answer { run_item(list[1], r1), run_item(list[2], r2),
                 ('{"pipeline_id":"%s","pipeline_run_id":"%s","q":1,"q":2}'):format(list[1], r1) }
    runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.are.same({ run_of(list[1], r1), run_of(list[2], r2) }, { err.results[1], err.results[2] })
    assert.are.same({}, err.unplaced)
    -- beside the list, a member named twice is never read
    run_answer({ run_item(list[1], r1), run_item(list[2], r2) }, 1, '"request_id":"x","request_id":"y",')
    runs = assert(client:run(list))
    assert.are.same({ run_of(list[1], r1), run_of(list[2], r2) }, { runs[1], runs[2] })
    -- but the list named twice is no answer at all
    run_answer({ run_item(list[1], r1) }, 1, '"result":[],')
    runs, err = client:run(list)
    assert.is_nil(runs)
    assert.truthy(err.message:find('the body names the member "result" twice', 1, true), err.message)
  end)

  -- Ctrl-C in run_and_query's status half, after a start that failed
  -- with a run it cannot place: the INTERRUPTED won, without err.unplaced
  -- (review fixes12).
  it("run_and_query: Ctrl-C in the status half keeps the runs the start could not place", function()
    local list, kept, stray = ids(2), ("1"):rep(32), ("5"):rep(32)
    run_answer({ run_item(list[1], kept), run_item(list[1], stray) })
    local loop, calls = require("codearts.batchresult.batch").run, 0
    -- (at the first line of the status half's request loop, inside the
    -- guard of its call)
    local function in_query(event)
      if event == "call" and debug.getinfo(3, "f").func == loop then calls = calls + 1 end
      return event == "line" and calls == 2
    end
    local err, stopped = interrupted_at(1, "cl", in_query, client.run_and_query, client, list, { batch_size = 2 })
    assert.is_true(stopped)
    assert.are.equal("INTERRUPTED", err.code, tostring(err))
    assert.are.same({ run_of(list[1], stray) }, err.unplaced)
    assert.are.same({ run_of(list[1], kept) }, err.unqueried)
    assert.are.same({ list[2] }, err.unanswered)
  end)

  -- An item that names a member twice is placed nowhere, but it still says
  -- its pipeline started: another batch's pipeline it names, whose own
  -- batch the gateway then refused, may have started, and is not safe to
  -- start again, nor missing when its own answer leaves it out (review
  -- once55: it was in err.unsent, and missing, where a claim of the same
  -- run keeps it out of both).
  it("run: a pipeline another batch's flawed item says started is in neither err.unsent nor missing", function()
    local list = ids(2)
    local r1, r2 = ("a"):rep(32), ("b"):rep(32)
    for _, claim in ipairs({ ('{"pipeline_id":"%s","pipeline_run_id":"%s","q":1,"q":2}'):format(list[2], r2),
                             ('{"pipeline_id":"%s","pipeline_run_id":"%s","pipeline_run_id":"%s"}'):format(list[2],
                               r2, r1) }) do
      run_answer { run_item(list[1], r1), claim }
      -- (the second batch: throttled by the gateway for longer than
      -- max_retry_wait, so given up)
      server:config { fail_first = 1, fail_first_status = 429, retry_after = "1000" }
      local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.are.same({ list[2] }, err.unanswered)
      assert.are.same({}, err.unsent)
      assert.are.equal(2, server:stats().routes.run)
      server:reset()
      -- and its own answer leaving it out says only that one of the two
      -- answers is wrong: it may have started, never missing
      run_answer { run_item(list[1], r1), claim }
      server:config { omit = { list[2] } }
      runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.are.same({ list[2] }, err.unanswered)
      assert.are.same({}, err.results.missing)
      server:reset()
    end
  end)

  it("two runs one answer gives another batch's pipeline whose batch fails: the first kept, the other unplaced",
    function()
    local list = ids(2)
    local r1, r2, r3 = ("a"):rep(32), ("b"):rep(32), ("d"):rep(32)
    -- (the first batch's answer gives pipeline 2 two runs; its own batch
    -- gets a 500, the call's error)
    run_answer { run_item(list[1], r1), run_item(list[2], r2), run_item(list[2], r3) }
    server:config { fail_ids = { list[2] } }
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal(500, err.status)
    assert.are.same({ run_of(list[1], r1), run_of(list[2], r2) }, { err.results[1], err.results[2] })
    assert.are.same({ run_of(list[2], r3) }, err.unplaced)
    -- a claimed run id that is no id fails the call too, as its own batch's would
    run_answer { run_item(list[1], r1), run_item(list[2], "bogus") }
    server:config { fail_ids = { list[2] } }
    runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find("bogus", 1, true), err.message)
  end)

  it("run: every second run an answer gives a pipeline is in err.unplaced, the message counting them", function()
    local list = ids(2)
    local r1, r2, r3, r4 = ("1"):rep(32), ("2"):rep(32), ("3"):rep(32), ("4"):rep(32)
    run_answer { run_item(list[1], r1), run_item(list[1], r2), run_item(list[2], r3), run_item(list[2], r4) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(r2, 1, true), err.message)
    assert.truthy(err.message:find("(and 1 more run the call cannot place, in err.unplaced)", 1, true), err.message)
    assert.are.same({ run_of(list[1], r2), run_of(list[2], r4) }, err.unplaced)
    assert.are.same({ run_of(list[1], r1), run_of(list[2], r3) }, { err.results[1], err.results[2] })
    for _, run in ipairs({ { list[1], r1 }, { list[1], r2 }, { list[2], r3 }, { list[2], r4 } }) do
      assert.are.equal(1, times_listed(err, run[1], run[2]), run[2])
    end
    -- and run_and_query's error carries them
    run_answer { run_item(list[1], r1), run_item(list[1], r2), run_item(list[2], r3), run_item(list[2], r4) }
    local results, rqerr = client:run_and_query(list)
    assert.is_nil(results)
    assert.are.same({ run_of(list[1], r2), run_of(list[2], r4) }, rqerr.unplaced)
  end)

  it("run: every run for a pipeline not asked is in err.unplaced, in the order met", function()
    local list = ids(2)
    local r1, r2, s1, s2 = ("1"):rep(32), ("2"):rep(32), ("5"):rep(32), ("6"):rep(32)
    local x, y = ("x"):rep(32), ("y"):rep(32)
    run_answer { run_item(list[1], r1), run_item(list[2], r2), run_item(x, s1), run_item(y, s2) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(s1, 1, true), err.message)
    assert.truthy(err.message:find("and 1 more run", 1, true), err.message)
    assert.are.same({ run_of(x, s1), run_of(y, s2) }, err.unplaced)
    assert.are.same({}, err.unanswered)
    for _, run in ipairs({ { list[1], r1 }, { list[2], r2 }, { x, s1 }, { y, s2 } }) do
      assert.are.equal(1, times_listed(err, run[1], run[2]), run[2])
    end
  end)

  it("run: every run another batch's answer gives a pipeline its own answer contradicts is in err.unplaced",
    function()
    local list = ids(3)
    local a1, x2, x3 = ("a"):rep(32), ("b"):rep(32), ("d"):rep(32)
    -- (the first batch's answer also starts pipelines 2 and 3; their own
    -- batches' answers, the stand-in's, give them runs of their own)
    run_answer { run_item(list[1], a1), run_item(list[2], x2), run_item(list[3], x3) }
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.is_false(err.retryable)
    assert.truthy(err.message:find("disagree", 1, true), err.message)
    assert.truthy(err.message:find(x2, 1, true), err.message)
    assert.truthy(err.message:find("and 1 more run", 1, true), err.message)
    assert.are.same({ run_of(list[2], x2), run_of(list[3], x3) }, err.unplaced)
    assert.are.equal(3, #err.results)
    for i = 1, 3 do
      assert.are.equal(list[i], err.results[i].pipeline_id)
      assert.are.equal(1, times_listed(err, list[i], err.results[i].pipeline_run_id))
    end
    assert.are.equal(1, times_listed(err, list[2], x2))
    assert.are.equal(1, times_listed(err, list[3], x3))
    -- Another batch failing first ends the call with its error: the run
    -- contradicted is in err.unplaced all the same.
    run_answer { run_item(list[1], a1), run_item(list[2], x2) }
    server:config { fail_ids = { list[3] } }
    runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal(500, err.status)
    assert.are.same({ run_of(list[2], x2) }, err.unplaced)
    assert.are.same({ list[3] }, err.unanswered)
    assert.are.equal(2, #err.results)
  end)

  -- Every run another batch's answer gives a pipeline waits for that
  -- pipeline's own answer: the second was named the one the call cannot
  -- place as soon as it came, though the own answer, later, gave that run,
  -- and the run really unplaced went unnamed (review fixes12).
  it("run: the runs another batch's answer gives a pipeline end alike, whichever answer comes first", function()
    local p1, p2 = id("c", 1), id("c", 2)
    local x, w = ("x"):rep(32), ("w"):rep(32)
    -- (the batch order drives the answers' order, one batch at a time: the
    -- stand-in's run for a pipeline is its n-th, n its batch's place)
    local function nth(order, p) return model.run_id_for(p, order[1] == p and 1 or 2) end
    for _, order in ipairs({ { p1, p2 }, { p2, p1 } }) do
      server:reset()
      local y = nth(order, p2)
      server:config { foreign = { run_of(p2, x), run_of(p2, y) } }
      local runs, err = client:run(order, { batch_size = 1, concurrency = 1 })
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.are.same({ run_of(p2, x) }, err.unplaced)
      assert.truthy(err.message:find("disagree", 1, true) and err.message:find(x, 1, true), err.message)
      assert.falsy(err.message:find("more run", 1, true), err.message)
      assert.are.equal(2, #err.results)
      for _, run in ipairs({ { p1, nth(order, p1) }, { p2, y }, { p2, x } }) do
        assert.are.equal(1, times_listed(err, run[1], run[2]), run[2])
      end
    end
    -- Neither its own: both unplaced, the message naming the first.
    server:reset()
    server:config { foreign = { run_of(p2, x), run_of(p2, w) } }
    local _, err = client:run({ p1, p2 }, { batch_size = 1, concurrency = 1 })
    assert.are.same({ run_of(p2, x), run_of(p2, w) }, err.unplaced)
    assert.truthy(err.message:find(('gave pipeline "%s" the run id "%s"'):format(p2, x), 1, true), err.message)
    assert.truthy(err.message:find("(and 1 more run the call cannot place, in err.unplaced)", 1, true), err.message)
    assert.are.equal(1, times_listed(err, p2, nth({ p1, p2 }, p2)))
  end)

  it("run: a run several answers list is in err.unplaced once, though its pipeline id is no string", function()
    local list = ids(3)
    local z = ("z"):rep(32)
    local items = { run_item(list[1], ("1"):rep(32)), run_item(list[2], ("2"):rep(32)),
                    run_item(list[3], ("3"):rep(32)), ('{"pipeline_id":null,"pipeline_run_id":"%s"}'):format(z) }
    -- (every batch's answer lists them all)
    run_answer(items, 3)
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.are.same({ { pipeline_run_id = z } }, err.unplaced)
    assert.truthy(err.message:find(z, 1, true), err.message)
    assert.falsy(err.message:find("more run", 1, true), err.message)
    for i = 1, 3 do assert.are.same(run_of(list[i], tostring(i):rep(32)), err.results[i]) end
  end)

  -- A run id placed for one pipeline and given to another by the same
  -- answer, or given to two pipelines not asked, is listed for each
  -- pipeline: err.unplaced de-duplicated by run id alone left one out, or
  -- listed a run again that err.results held (review claims3).
  it("run: one run id given to several pipelines is in err.unplaced for each it cannot place", function()
    local list, x = ids(1), ("9"):rep(32)
    local b, c = id("d", 2), id("d", 3)
    run_answer { run_item(list[1], x), run_item(b, x), run_item(c, x), run_item(c, x) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.same({ run_of(list[1], x) }, { unpack(err.results) })
    assert.are.same({ run_of(b, x), run_of(c, x) }, err.unplaced)
    assert.truthy(err.message:find("and 1 more run ", 1, true), err.message)
  end)

  -- A close from a callback, the way README gives to stop a run and keep
  -- its runs, showed every id in err.unplaced as "(not shown: the client
  -- was closed)": they were redacted at the call's end (review fixes13).
  it("run: a close from on_progress keeps err.unplaced's ids", function()
    local list, r1, r2, z = ids(2), ("1"):rep(32), ("2"):rep(32), id("e", 9)
    run_answer { run_item(list[1], r1), run_item(z, r2) }
    local c = client_of(server)
    local runs, err = c:run(list, { batch_size = 1, concurrency = 1,
                                    on_progress = function(done) if done == 1 then c:close() end end })
    assert.is_nil(runs)
    assert.are.equal("CLOSED", err.code)
    assert.are.same({ run_of(list[1], r1) }, { unpack(err.results) })
    assert.are.same({ run_of(z, r2) }, err.unplaced)
  end)

  -- A close (or, in Neovim's callback mode, a raise) in run_and_query's
  -- status half, after a start that failed: the start's error won, and the
  -- caller's own act read as a DECODE (review fixes14).
  it("run_and_query: a close in the status half ends it CLOSED, though the start failed, err.unplaced kept", function()
    local list, kept, stray = ids(2), ("1"):rep(32), ("5"):rep(32)
    run_answer({ run_item(list[1], kept), run_item(list[1], stray) })
    local c = client_of(server)
    local _, err = c:run_and_query(list, { batch_size = 2, on_progress = function(_, _, operation)
      if operation == "ShowBatchRunResult" then c:close() end
    end })
    assert.are.equal("CLOSED", err.code, tostring(err))
    assert.are.same({ run_of(list[1], stray) }, err.unplaced)
    assert.are.same({ list[2] }, err.unanswered)
    assert.are.equal(1, #err.results + #err.unqueried)
  end)

  -- An id taken after a close (an answer the close kept) was shown as it
  -- was when it had the API's shape, a piece of the SK in it included
  -- (review fixes14): closed, the keyring can redact nothing, so it shows
  -- no text.  The first run request to arrive is reset (its batch fails,
  -- not sent again: on_progress(1)); the other's answer lies, and is read
  -- by the callback's own query, then kept by its close.  That answer has
  -- no length, so it ends only at its FIN, half a second after it: it
  -- cannot end before the reset does.  (With a length, both could be in
  -- at once, the lie taken first, while the keyring could redact, and the
  -- case tested nothing: CI, stop 41.)  The callback waits for the FIN.
  it("run: a close from on_progress never shows a piece of the SK in err.unplaced", function()
    local list, z = ids(2), id("e", 7)
    local piece = creds.sk:match("%a+", 9) -- (letters: an id of the API's shape)
    assert.is_true(#piece >= 8)
    local lie = piece .. ("A"):rep(32 - #piece)
    server:config { reset_first = 1, banner_first = 1, banner_hold_ms = 500, fault_route = "run",
                    banner = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"result\":["
                      .. run_item(z, lie) .. "]}" }
    local c = client_of(server)
    local _, err = c:run(list, { batch_size = 1, concurrency = 2, on_progress = function(done)
      if done ~= 1 then return end
      local since, s = now(), server:stats()
      while s.routes.run < 2 or s.in_flight > 0 do
        assert(now() - since < 10, "the stand-in did not end the second run's answer")
        s = server:stats()
      end
      c:query(model.make_pairs("inner", 1))
      c:close()
    end })
    assert.are.equal("CLOSED", err.code)
    assert.are.same({ { pipeline_id = "(not shown: the client was closed)",
                        pipeline_run_id = "(not shown: the client was closed)" } }, err.unplaced)
  end)

  -- Two items that give an asked pipeline no run id (null, absent) were
  -- one run, the second in neither err.results nor err.unplaced (review
  -- fixes14): only a run id that is a string says two items are one run.
  it("run: items that give a pipeline no run id, or one that is no string, are each in err.unplaced", function()
    local list = ids(1)
    local item = '{"pipeline_id":"' .. list[1] .. '"%s}'
    run_answer { item:format(""), item:format(',"pipeline_run_id":null'), item:format(',"pipeline_run_id":7'),
                 item:format(',"pipeline_run_id":7') }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.are.equal(1, #err.results)
    assert.are.same({ { pipeline_id = list[1] }, { pipeline_id = list[1] }, { pipeline_id = list[1] } }, err.unplaced)
  end)

  -- A claim placed for a pipeline whose own batch failed, its run id null,
  -- was in err.results and in err.unplaced too (review fixes15).
  it("run: a claim placed with a run id that is no string is in err.results only", function()
    local list, r1 = ids(2), ("1"):rep(32)
    run_answer { run_item(list[1], r1), ('{"pipeline_id":"%s","pipeline_run_id":null}'):format(list[2]) }
    server:config { fail_ids = { list[2] } }
    local runs, err = client:run(list, { batch_size = 1, concurrency = 1 })
    assert.is_nil(runs)
    assert.are.same({ run_of(list[1], r1), { pipeline_id = list[2] } }, { unpack(err.results) })
    assert.are.same({}, err.unplaced)
  end)

  it("run: err.unplaced gives ids that are no string as nil, an item that is no object as {}, the SK redacted",
    function()
    local list = ids(1)
    local r1 = ("1"):rep(32)
    run_answer { run_item(list[1], r1), "null", ('{"pipeline_id":12345,"pipeline_run_id":"%s"}'):format(creds.sk),
                 ('{"pipeline_id":"%s"}'):format(("x"):rep(32)) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find("and 2 more runs", 1, true), err.message)
    assert.are.same({ {}, { pipeline_run_id = "[REDACTED]" }, { pipeline_id = ("x"):rep(32) } }, err.unplaced)
    -- a failed call with nothing it cannot place says so too
    server:config { fail_ids = { list[1] } }
    local _, none = client:run(list)
    assert.are.same({}, none.unplaced)
  end)

  it("runs of pipelines written otherwise (in capitals) fail the call; its pipelines may have started", function()
    local list = ids(2)
    run_answer { run_item(list[1]:upper(), ("a"):rep(32)), run_item(list[2]:upper(), ("b"):rep(32)) }
    local runs, err = client:run(list)
    assert.is_nil(runs)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(list[1]:upper(), 1, true), err.message)
    assert.are.same(list, err.unanswered)
    assert.are.equal(0, #err.results)
  end)

  it("refuses an id that is not 32 letters or digits, naming it", function()
    local list = ids(3)
    list[2] = "not-an-id"
    local r, err = client:run(list)
    assert.is_nil(r)
    assert.are.equal('pipeline_ids[2] must be 32 letters or digits, got "not-an-id"', err.message)
    assert.are.equal(0, server:stats().requests)
  end)

  it("run_and_query: starts, then queries how each run started", function()
    local list = ids(25)
    server:config { omit = { list[9] } }
    local results = assert(client:run_and_query(list, { batch_size = 10 }))
    assert.are.equal(24, #results)
    assert.are.same({ list[9] }, results.not_started)
    assert.are.same({}, results.missing)
    for _, r in ipairs(results) do
      assert.are.same(model.result_for(r.pipeline_id, r.pipeline_run_id), r)
    end
    assert.are.equal(list[1], results[1].pipeline_id)
    assert.are.equal(3, server:stats().runs)
  end)

  --- Has the stand-in answer the next start with these runs ({ pipeline
  -- id, run id } each), whatever the run ids hold.
  local function answer_runs(runs)
    local result = {}
    for i, r in ipairs(runs) do result[i] = { pipeline_id = r[1], pipeline_run_id = r[2] } end
    answer_next("run", "200 OK", cjson.encode({ result = result }), "X-Request-Id: the-start\r\n")
  end

  it("run: a run id that is no id fails the call, the runs as the server gave them in err.results", function()
    local list = ids(2)
    local good = ("%032x"):format(7)
    for _, bad in ipairs({ "", "../x" }) do
      answer_runs { { list[1], bad }, { list[2], good } }
      local runs, err = client:run(list)
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.truthy(err.message:find(list[1], 1, true), err.message)
      assert.are.same({ { pipeline_id = list[1], pipeline_run_id = bad }, { pipeline_id = list[2],
        pipeline_run_id = good } }, { err.results[1], err.results[2] })
      assert.are.same({}, err.results.missing)
      assert.are.same({}, err.unanswered)
      -- as any DECODE of a 2xx answer says it
      assert.are.equal(200, err.status)
      assert.are.equal("the-start", err.request_id)
      assert.are.equal(1, err.attempts)
      assert.is_false(err.retryable)
      assert.are.equal(1, err.batches)
      assert.are.equal(1, err.failed_batches)
    end
  end)

  -- A run id that is null, absent or no string is no id either: the other
  -- runs of the batch started, and their ids must not be lost with it.
  it("run: a run id that is null, absent or of another type fails the call, the other runs kept", function()
    local list = ids(2)
    local good = ("%032x"):format(7)
    for _, bad in ipairs({ "null", "12345", "absent", "true", '{"id":"x"}', "[1]" }) do
      local first = bad == "absent" and ('{"pipeline_id":"%s"}'):format(list[1])
        or ('{"pipeline_id":"%s","pipeline_run_id":%s}'):format(list[1], bad)
      local body = ('{"result":[%s,{"pipeline_id":"%s","pipeline_run_id":"%s"}]}'):format(first, list[2], good)
      answer_next("run", "200 OK", body)
      local runs, err = client:run(list)
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.truthy(err.message:find(list[1], 1, true), err.message)
      assert.are.same({ pipeline_id = list[2], pipeline_run_id = good }, err.results[2])
      assert.are.equal(list[1], err.results[1].pipeline_id)
      assert.are.same({}, err.unanswered)
    end
  end)

  -- An item with no pipeline id to place it by, or no object at all, is a
  -- run the call cannot place: the runs beside it started, and are kept.
  it("run: an item whose pipeline id is null, absent or no string, or that is no object, fails; the rest kept",
    function()
    local list = ids(3)
    local r1 = ("%032x"):format(7)
    local run_id = ('"pipeline_run_id":"%s"'):format(("%032x"):format(8))
    for _, bad in ipairs({ '{"pipeline_id":null,' .. run_id .. "}", "{" .. run_id .. "}",
                           '{"pipeline_id":12345,' .. run_id .. "}", "null", "42", '"x"', "[1]" }) do
      local body = ('{"result":[{"pipeline_id":"%s","pipeline_run_id":"%s"},%s]}'):format(list[1], r1, bad)
      answer_next("run", "200 OK", body)
      local runs, err = client:run(list)
      assert.is_nil(runs)
      assert.are.equal("DECODE", err.code)
      assert.truthy(err.message:find("result[2]", 1, true), bad .. ": " .. err.message)
      assert.are.same({ { pipeline_id = list[1], pipeline_run_id = r1 } }, { err.results[1], err.results[2] })
      -- (the runs not placed may be theirs)
      assert.are.same({ list[2], list[3] }, err.unanswered)
    end
  end)

  -- The message quotes the run id: redacted before it is quoted, as
  -- quoting doubles the backslashes of a JSON-escaped form.
  it("run: a run id that is no id, holding the SK in an escaped form, is quoted redacted", function()
    local list = ids(1)
    local escaped = creds.sk:gsub(".", function(c) return ("\\u%04x"):format(c:byte()) end)
    for _, bad in ipairs({ escaped, (creds.sk:gsub("/", "\\/")) }) do
      answer_runs { { list[1], bad } }
      local _, err = client:run(list)
      assert.are.equal("DECODE", err.code)
      assert.truthy(err.message:find("[REDACTED]", 1, true), err.message)
      for _, piece in ipairs({ "u0073\\u0074", "key-0001", "permanent" }) do
        assert.falsy(err.message:find(piece, 1, true), err.message)
      end
    end
  end)

  it("run_and_query: a run id that is no id is not sent, and the call says so", function()
    local list = ids(2)
    local good = ("%032x"):format(7)
    answer_runs { { list[1], '../x\n"y' }, { list[2], good } }
    local results, err = client:run_and_query(list)
    assert.is_nil(results)
    assert.are.equal("DECODE", err.code)
    assert.truthy(err.message:find(list[1], 1, true), err.message)
    assert.are.same({ { pipeline_id = list[1], pipeline_run_id = '../x\n"y' } }, err.unqueried)
    assert.are.equal("the-start", err.request_id)
    assert.are.equal(1, #err.results + #err.results.missing)
    assert.are.same({}, err.unanswered)
    -- the query asked about the good pair only
    assert.are.equal(('{"query":[{"pipeline_id":"%s","pipeline_run_id":"%s"}]}'):format(list[2], good),
      server:last().body)
  end)

  it("run_and_query: one deadline bounds both halves", function()
    -- Each answer takes 1 s: the start is answered, the query outlives
    -- what is left of 1.5 s.
    server:config { delay_ms = 1000 }
    local list = ids(2)
    local t0 = br.now()
    local results, err = client:run_and_query(list, { deadline = 1.5 })
    local took = br.now() - t0
    assert.is_nil(results)
    assert.are.equal("TIMEOUT", err.code)
    assert.is_true(took < 1.9, ("took %.2f s"):format(took))
    assert.are.equal(2, #err.results + #err.unqueried)
    assert.are.equal(1, server:stats().runs)
  end)

  -- The standalone interpreter's Ctrl-C is a hook that raises
  -- "interrupted!" at the next Lua instruction, wherever that is; here a
  -- hook of the spec's raises it at instruction `at` after the start's
  -- last batch is in, unless the query half has begun by then.
  local function interrupted_between_halves(list, at, raise)
    local ok, raised, err = pcall(client.run_and_query, client, list, { batch_size = 5,
      on_progress = function(done, total, operation)
        if operation == "BatchRunPipeline" and done == total then
          local seen = 0
          debug.sethook(function()
            seen = seen + 1
            if seen == at then
              debug.sethook()
              if raise then error(raise, 0) end
              error("interrupted!")
            end
          end, "", 1)
        elseif operation == "ShowBatchRunResult" then
          debug.sethook()
        end
      end })
    debug.sethook()
    if raise then return ok, raised, err end
    return not ok and raised
  end

  -- Lua's memory error, raised where an allocation fails (here by the
  -- same hook, between the halves), ends the call as Ctrl-C does, but
  -- returned, with INTERNAL.
  it("run_and_query: a memory error between the halves leaves the runs that started unqueried, returned", function()
    local list = ids(10)
    local stopped = 0
    for at = 1, 1200, 6 do
      server:reset()
      local ok, res, err = interrupted_between_halves(list, at, "not enough memory")
      assert.is_true(ok, ("instruction %d: raised %s"):format(at, tostring(res)))
      if not res then
        assert.are.equal("INTERNAL", err.code, "instruction " .. at)
        assert.are.equal(#list, #err.results + #err.results.missing + #err.results.not_started
          + #err.unanswered + #err.unqueried, "instruction " .. at)
        stopped = stopped + 1
      end
    end
    assert.is_true(stopped > 0)
  end)

  it("run: Ctrl-C in the logger keeps the runs its attempt started", function()
    local list = ids(3)
    local logged = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk,
      logger = function() error("interrupted!") end })
    local ok, err = pcall(logged.run, logged, list)
    assert.is_false(ok)
    assert.are.equal("INTERRUPTED", err.code)
    assert.are.equal(3, #err.results)
    assert.are.equal(0, #err.unanswered)
    assert.are.equal(3, server:stats().run_pipelines)
  end)

  -- The interpreter's own Ctrl-C, a SIGINT from outside, during a call made
  -- on the main thread: PUC Lua 5.1's lua.c hooks only that thread, and a
  -- call run in a coroutine of the library's went on starting pipelines,
  -- then raised a bare "interrupted!": every run id lost (review).
  it("run: Ctrl-C at the interpreter stops the call at once, every pipeline accounted for, on every Lua", function()
    local cli = require "spec.support.cli"
    local list = ids(6)
    -- The first start answered at once, the second's answer held (half its
    -- body, then 10 s of nothing): Ctrl-C comes while it is awaited.
    server:config { fault_after = 1, stall_body_first = 1, stall_ms = 10000 }
    local r = run_interrupted(list, 2)
    -- Two starts reached the server, and none after Ctrl-C did.
    assert.are.equal(2, server:stats().routes.run, cli.describe(r))
    assert.truthy(r.out:find("^code INTERRUPTED\n"), cli.describe(r))
    assert.is_true(r.after_signal < 1.5, ("took %.2f s after Ctrl-C"):format(r.after_signal))
    -- The first started; the second, which may have, is unanswered with
    -- the four never sent.
    assert.are.same({ list[1] }, { r.out:match("\nstarted (%w+)\n") })
    local unanswered = {}
    for p in r.out:gmatch("\nunanswered (%w+)") do unanswered[#unanswered + 1] = p end
    assert.are.same({ unpack(list, 2) }, unanswered)
  end)

  -- Ctrl-C between the halves once the query half had ended counted the
  -- start's batches only (review).
  it("run_and_query: Ctrl-C just after the query half counts the batches of both halves", function()
    local run = require("codearts.batchresult.call").run
    local halves = 0
    -- (at the first line once the second call.run returned)
    local function after_query(event)
      if event == "return" and debug.getinfo(3, "f").func == run then halves = halves + 1 end
      return event == "line" and halves == 2
    end
    local err, stopped = interrupted_at(1, "rl", after_query, client.run_and_query, client, ids(3), { batch_size = 1 })
    assert.is_true(stopped)
    assert.are.equal("INTERRUPTED", err.code, tostring(err))
    assert.are.equal(6, server:stats().requests)
    assert.are.same({ 6, 0 }, { err.batches, err.failed_batches })
    assert.are.equal(3, #err.unqueried)
  end)

  -- Ctrl-C in a call's last steps, once every batch was answered (as
  -- the call closed its transport, or its outcome was given), raised the
  -- bare "interrupted!": every run the call started lost (review
  -- inputs3).  Here at each instruction in turn from the last answer's
  -- on_progress to the method's return, of each method: the call returns,
  -- or raises INTERRUPTED with every item accounted for, all of them
  -- answered; but at the return itself, once the method's guard ended,
  -- which no Lua code can guard: the line past it, and on PUC Lua 5.1 the
  -- return of the guard's own frame around pcall.
  it("run, query, run_and_query: Ctrl-C at each instruction after the last answer keeps every item", function()
    local guard = require "codearts.batchresult.guard"
    local past_guard = at_line(br.new, "if ok then return res, err end")
    local guard_return = at_line(guard.again_on_memory, "then return pcall(f, ...) end")
    local function is_return(info) return past_guard(info) or guard_return(info) end
    --- client[method](list) with Ctrl-C at instruction `at` from the last
    -- answer's on_progress: how many instructions ran from there, what
    -- the call raised, where the hook raised it, and what the call kept
    -- (its option keep).
    local function interrupted_after_last_answer(method, list, at)
      local seen, where, call, kept = 0, nil, nil, {}
      local o = { batch_size = 1, concurrency = 2, keep = kept, on_progress = function(done, total, operation)
        if done == total and (method ~= "run_and_query" or operation == "ShowBatchRunResult") then
          debug.sethook(function()
            seen = seen + 1
            if seen == at then
              debug.sethook()
              where = debug.getinfo(2, "Slf")
              -- (in this spec's function, once the method returned: its
              -- result came)
              if where.func ~= call then error("interrupted!") end
            end
          end, "", 1)
        end
      end }
      -- (no global read once the method returned: busted's environment
      -- would read it in a function of its own)
      local sethook = debug.sethook
      function call()
        local res, err = client[method](client, list, o)
        sethook()
        return res, err
      end
      local ok, raised = pcall(call)
      debug.sethook()
      return seen, not ok and raised, where, kept
    end
    for _, method in ipairs({ "run", "query", "run_and_query" }) do
      local list = method == "query" and make_pairs(2) or ids(2)
      server:reset()
      local last = interrupted_after_last_answer(method, list, -1)
      local stopped = 0
      for at = 1, last do
        local _, err, where, kept = interrupted_after_last_answer(method, list, at)
        local what = ("%s, instruction %d of %d"):format(method, at, last)
        if err and not br.Error.is(err) then
          assert.is_true(where ~= nil and is_return(where), ("%s: raised %s at %s:%s"):format(what, tostring(err),
            where and where.short_src, where and where.currentline))
          -- (the result, on its way back, is kept: every item in it)
          assert.are.equal(#list, #assert(kept[1], what), what)
          assert.is_nil(kept[2], what)
        elseif err then
          assert.are.equal("INTERRUPTED", err.code, what)
          assert.are.same({ {}, {} }, { err.unanswered, err.results.missing }, what)
          assert.are.equal(#list, #err.results + #(err.unqueried or {}), what)
          stopped = stopped + 1
        end
      end
      assert.is_true(stopped > 0, method)
      -- (each call started every pipeline: each is in a result or in the
      -- error, as counted above)
      if method ~= "query" then assert.are.equal(#list * (last + 1), server:stats().run_pipelines, method) end
    end
  end)

  -- A dry run sends nothing: Ctrl-C in one was accounted as a call's, its
  -- pipelines "may have started" (review fixes27).  The interpreter's own
  -- interrupted! goes up, as before a call begins.
  it("run and query with dry_run: Ctrl-C at each instruction raises the interpreter's interrupted!", function()
    for _, method in ipairs({ "run", "query" }) do
      local list = method == "query" and make_pairs(2) or ids(2)
      local at, returned = 0, false
      local sethook = debug.sethook
      repeat
        at = at + 1
        local seen = 0
        local ok, raised = pcall(function()
          sethook(function()
            seen = seen + 1
            if seen == at then
              sethook()
              error("interrupted!")
            end
          end, "", 1)
          local reqs = client[method](client, list, { dry_run = true })
          returned = true
          sethook()
          assert(#reqs == 1)
        end)
        sethook()
        assert.is_false(not ok and br.Error.is(raised), ("%s, instruction %d: %s"):format(method, at, tostring(raised)))
      until returned or at > 5000
      assert.is_true(returned, method .. ": never returned")
    end
    assert.are.equal(0, server:stats().requests)
  end)

  it("run_and_query: Ctrl-C between the halves leaves the runs that started unqueried, never lost", function()
    local list = ids(10)
    -- at each of many instructions after the start's last batch, through
    -- the seam between the halves and into the query half
    for at = 1, 1200, 6 do
      server:reset()
      local err = interrupted_between_halves(list, at)
      if err then
        assert.is_true(br.Error.is(err), ("instruction %d: raised %s"):format(at, tostring(err)))
        assert.are.equal("INTERRUPTED", err.code)
        assert.are.equal(#list, #err.results + #err.results.missing + #err.results.not_started
          + #err.unanswered + #err.unqueried, "instruction " .. at)
      end
      assert.are.equal(10, server:stats().run_pipelines)
    end
  end)
end)

describe("result sets from a query", function()
  it("chain the helpers on real answers", function()
    local server = standin.start()
    finally(function() server:stop() end)
    local client = assert(br.new { endpoint = server.url, project_id = PROJECT, ak = creds.ak, sk = creds.sk })
    local list = make_pairs(300)
    local results = assert(client:query(list))
    local queued = results:failed():where { reason_kind = "queued" }
    assert.is_true(#queued > 0)
    for _, r in ipairs(queued) do
      assert.are.equal("START_FAILED", r.status)
      assert.are.equal("queued", br.reason_kind(r.reason))
    end
    local s = br.summary(results)
    assert.are.equal(300, s.total)
    assert.are.equal(300, s.by_status.START_SUCCESS + s.by_status.START_FAILED)
    assert.are.equal(s.by_status.START_FAILED,
      s.by_reason_kind.banned + s.by_reason_kind.queued + s.by_reason_kind.change_request)
    -- A set goes back into query as it is.
    local again = assert(client:query(queued:pairs()))
    assert.are.same(queued:pairs(), again:pairs())
    assert.truthy(tostring(results):find("^300 results"))
    client:close()
  end)
end)
