--- One call of an operation: the items de-duplicated, sent in batches
-- through a transport (batch.lua runs them, `concurrency` at once), each
-- attempt signed afresh, retried as retry.lua says, within the call's
-- deadline, with progress; and every item accounted for: answered,
-- missing from an answer, or unanswered.
--
-- client is a client's private state (batchresult.lua): endpoint, creds,
-- cfg, paths, skew, closed.  row is an operations.lua row; flat, n the
-- caller's items as input.lua read them; o the settled call options.
--
-- However a call ends, it leaves the client clean: its requests in flight
-- are cancelled (the transport is the call's own), whether it ends with
-- results, nil, err, an error raised by a stage, a callback that raised
-- (raised again in the caller, or in Neovim's callback mode given to the
-- callback as CALLBACK), the client closed from a callback (CLOSED), or a
-- coroutine never resumed (the collector cancels its requests).
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"
local batch = require "codearts.batchresult.batch"
local config = require "codearts.batchresult.config"
local exchange = require "codearts.batchresult.exchange"
local guard = require "codearts.batchresult.guard"
local input = require "codearts.batchresult.input"
local operations = require "codearts.batchresult.operations"
local retry = require "codearts.batchresult.retry"
local transport = require "codearts.batchresult.transport"

local M = {}

local now, new_table = core.now, core.new_table

local interrupt = Error.is_interrupt

--- The first occurrence of each item of flat (n items, width ids each),
-- as a flat list of count items (flat itself when no item repeats), and
-- an index from the ids to an item's position there: index[id1][id2]… =
-- position.  Nested tables rather than joined keys: the ids are strings
-- Lua has interned already, and 10,000 joined keys would be 10,000 new
-- strings.
local function unique(flat, n, width)
  local uflat, index, count = flat, new_table(0, n), 0
  for i = 0, n - 1 do
    local base, t = i * width, index
    for f = 1, width - 1 do
      local id = flat[base + f]
      local sub = t[id]
      if not sub then
        sub = {}
        t[id] = sub
      end
      t = sub
    end
    local id = flat[base + width]
    if t[id] then
      -- A repeat: from here on the unique items go to a list of their own.
      if uflat == flat then
        uflat = {}
        for k = 1, count * width do uflat[k] = flat[k] end
      end
    else
      count = count + 1
      t[id] = count
      if uflat ~= flat then
        for f = 1, width do uflat[(count - 1) * width + f] = flat[base + f] end
      end
    end
  end
  return uflat, count, index
end

--- The call's batches.  A job's state says where its attempts stand, each
-- change one assignment, so that a call ended between any two steps
-- counts it right (Call:batch_counts): "new" (none made), "sent" (an
-- attempt the transport took: in flight, or answered), "waiting" (an
-- attempt failed; to be sent again) or "failed" (given up).  reached: an
-- attempt that ended may have reached the service (Call:done), which no
-- later attempt undoes; took: the attempt (its number) whose outcome
-- Call:done has taken in, which the call's stop gives done no more
-- (batch.lua); taking: the one whose answer Call:take began to take in.
local function batches(count, size)
  local jobs = new_table(math.ceil(count / size), 0)
  for first = 1, count, size do
    -- Every field a job will get, set now so that the record never regrows
    -- (false: not yet).
    jobs[#jobs + 1] = { n = #jobs + 1, first = first, last = math.min(first + size - 1, count), attempts = 0,
                        state = "new", body = false, req = false, opts = false, sent_at = 0, answered = false,
                        clock_was_set = false, reached = false, took = 0, taking = 0 }
  end
  return jobs
end

--- The signed request for a batch.  Its body is encoded once, at the first
-- attempt; every attempt is signed afresh (a new X-Sdk-Date).  A body that
-- failed to encode is never signed, let alone sent.
local function request(client, row, uflat, job)
  if not job.body then
    local body, why = row.encode(uflat, job.first, job.last)
    if not body then return nil, Error.new("INTERNAL", why) end
    job.body = body
  end
  local path = client.paths[row]
  if not path then
    path = operations.path(row, client.endpoint.project_id)
    client.paths[row] = path
  end
  -- (no operation has a query string)
  return exchange.build(client.endpoint, client.creds, row.method, path, "", job.body, os.time() + client.skew)
end

--- The error of a call that Lua's memory error v stopped (an allocation
-- of the library's own, such as an answer's tables or its body's string,
-- that failed: Error.is_out_of_memory), or nil when v is something else.
local function out_of_memory(v)
  if Error.is_out_of_memory(v) then return Error.new("INTERNAL", "out of memory during the call") end
end
M.out_of_memory = out_of_memory

--- exchange.outcome, and once more after a full collection should Lua's
-- memory run out as it builds an answer's tables (guard.again_on_memory;
-- a second memory error goes up, and M.run accounts for the call as its
-- batches stand).
local function outcome(...)
  return guard.again_on_memory(exchange.outcome, ...)
end

--- "the call's deadline of 0.5s passed", the deadline as README says
-- times are kept: whole milliseconds, rounded up (1e-06 reads 0.001s).
local function deadline_passed(o)
  local seconds = ("%.3f"):format(config.ms(o.deadline) / 1000):gsub("%.?0+$", "")
  return ("the call's deadline of %ss passed"):format(seconds)
end

-- A call in flight: what batch.run drives (build, done, stopped, draining).
local Call = {}
Call.__index = Call

--- Whether this process is a child forked during the call: the requests
-- in flight are the parent's, and so are the batches still to send, or a
-- run would start twice.  Only the caller's code forks, so this is asked
-- after each callback and when the call ends early, not at every step
-- (where the kernel cannot mark a page to be wiped in a child, the check
-- is a system call: src/multi.c).  A fork anywhere else (a finalizer)
-- is met by the transport, which drives nothing of the parent's: its
-- attempts fail, and the call asks then.
function Call:forked()
  return self.handle and self.handle:inherited()
end

--- The requests the call would send, one per batch, sending nothing.
-- Their signatures are kept for client:redact as a sent one's are: a
-- request prepared is sent by the caller, and its answer may echo it.
function Call:dry_run()
  local out = {}
  for i, job in ipairs(self.jobs) do
    local req, err = request(self.client, self.row, self.uflat, job)
    -- (a finalizer may close the client between two batches' signatures)
    if not req and self.client.closed then return self:account(Error.closed()) end
    if not req then return nil, err end
    local authorization = req.headers.Authorization
    if authorization then exchange.keep_authorization(self.client, authorization) end
    out[i] = req
  end
  return out
end

--- The caller's on_progress or logger: what it raises is kept, and ends
-- the call once it returns here, as a fork inside it does.  No callback
-- runs once either has happened, nor once the client is closed.
function Call:callback(fn, ...)
  if self:stopped() then return end
  local ok, e = guard.pcall(fn, ...)
  if not ok then self.raised = { value = e } end
  self.in_child = self.in_child or self:forked()
end

function Call:stopped()
  return self.raised ~= nil or self.halted or self.client.closed == true or self.in_child
end

--- Whether v, raised in the request loop (batch.lua), is Ctrl-C or Lua's
-- memory error; if so, the call is stopped from now (no callback runs),
-- for the loop to hand on the answers already in before v goes up.
function Call:halt(v)
  self.halted = interrupt(v) or Error.is_out_of_memory(v)
  return self.halted
end

--- Whether the call sends nothing more: the server refused its
-- credentials (Call:done).  Unlike a stop, the attempts in flight end as
-- they do, and are logged and counted; every other batch, never sent or
-- waiting to be sent again, ends at once with the refusal (Call:build), as
-- a passed deadline ends them.
function Call:draining()
  return self.refused ~= false
end

function Call:build(job)
  -- (an earlier attempt's: none is made now, should this refuse)
  job.by_deadline = nil
  if self.refused then return nil, self.refused end
  local timeout = self.client.cfg.timeout
  if self.deadline then
    local left = self.deadline - now()
    if left <= 0 then
      return nil, Error.new("TIMEOUT", deadline_passed(self.o))
    end
    job.by_deadline = left < timeout
    timeout = math.min(timeout, left)
  end
  local req, err = request(self.client, self.row, self.uflat, job)
  if not req then return nil, err end
  -- (a job waiting stays so until the transport takes the attempt:
  -- batch.run)
  job.attempts, job.req, job.sent_at = job.attempts + 1, req, now()
  -- (signed by the clock an APIGW.0303 of this call set right: Call:done)
  job.clock_was_set = self.clock_set
  local opts = job.opts or { idempotent = self.row.idempotent, timeout_ms = 0 }
  job.opts, opts.timeout_ms = opts, config.ms(timeout)
  return req, opts
end

--- The position of the item an answer is for, by the row's fields, or nil.
function Call:find(answer)
  if type(answer) ~= "table" then return nil end -- (a run's answer may hold anything: row.answer)
  local fields, t = self.row.fields, self.index
  for f = 1, #fields do
    t = t[answer[fields[f]]]
    if t == nil then return nil end
  end
  return t
end

--- Why answer r, taken for an item, holds what no later call could use:
-- an id the server made (row.answer.made) that is no id, quoted as
-- keyring redacts it.  Or nil.
local function unusable(row, r, keyring)
  for name, words in pairs(row.answer.made) do
    if not input.is_id(r[name]) then
      return ("%s's answer gave pipeline %s the %s %s, which is not 32 letters or digits"):format(row.name,
        r.pipeline_id, words, input.quoted(r[name], keyring))
    end
  end
end

--- Why item i of an answer of row's (which has answer.made), r, which
-- names item at (nil: none asked), is a run the call cannot place: for a
-- pipeline not asked (one of the batch's, written otherwise, say), or for
-- none, or a second, other run of one; or no run at all.
local function unplaced(row, r, i, at, keyring)
  local list, name, words = row.answer.list, next(row.answer.made)
  if type(r) ~= "table" then
    return ("%s's answer's %s[%d] is not an object, which the call cannot place"):format(row.name, list, i)
  end
  return ("%s's answer gave pipeline %s the %s %s, which the call cannot place (%s)"):format(row.name,
    input.quoted(r.pipeline_id, keyring), words, input.quoted(r[name], keyring),
    at and "a second one for that pipeline" or type(r.pipeline_id) == "string" and "a pipeline not asked"
    or ("%s[%d].pipeline_id is missing or not a string"):format(list, i))
end

--- An id of a run err.unplaced lists, as the error message quotes it: a
-- string redacted (a lying server may echo the SK into it, or a piece of
-- it, even in an id of the API's shape), on one line and cut; anything
-- else nil (the message names its type).
local function shown_id(v, keyring)
  if type(v) == "string" then return exchange.shown(keyring, v, input.QUOTED_BYTES) end
end

--- The run r (an item of an answer) as err.unplaced lists it: { pipeline_id,
-- <the run id field, name> } (shown_id), {} for an item that is no
-- object.  Made as its answer is taken, while the keyring can redact
-- (closed, it shows no text: an answer a close from a callback kept).
local function shown_run(r, name, keyring)
  if type(r) ~= "table" then return {} end
  return { pipeline_id = shown_id(r.pipeline_id, keyring), [name] = shown_id(r[name], keyring) }
end

--- Whether the items a and b of answers, for one pipeline, give it one
-- run: the same run id (name), a string (what else could say so?).
local function same_run(a, b, name)
  return type(a[name]) == "string" and a[name] == b[name]
end

--- Takes an answer of job's (its items, answers): the first for each item
-- the batch asked about is the item's (self.found).  Any other (another
-- batch's included: that batch may fail, or answer it otherwise), or a
-- second one for the same item, has no place in the result: the first
-- counts.  But every item of a run's answer is a run the server made:
-- each other one is kept in self.met, in the order met, for
-- Call:unplaced_list to find the runs the call cannot place.  Those of
-- another batch's pipelines (claims) wait for that: the pipeline's own
-- answer decides, and may not have come yet; the first may even be the
-- one placed (Call:placed).  An item flawed (the set of their places,
-- and the first's flaw, from exchange.outcome) names a member twice: which
-- of the two is the run is anyone's guess, so it is placed nowhere, and
-- fails the batch as a stray.  Returns why the batch fails, or nil: a run
-- id that is no id (bad), and the first run that can be nowhere (stray).
-- Ctrl-C may stop it midway: the call's stop then gives the answer to
-- done again (job.took), and this take (job.taking) finds runs it placed
-- or claimed before, each checked again, as they were then.
function Call:take(job, answers, keyring, flawed, flaw)
  local again = job.taking == job.attempts
  job.taking = job.attempts
  local row, found, claimed, met = self.row, self.found, self.claimed, self.met
  local made = row.answer.made
  local name, bad, stray = made and next(made), nil, nil
  for i = 1, #answers do
    local r = answers[i]
    local at = self:find(r)
    local ours = at and at >= job.first and at <= job.last
    if flawed and flawed[i] then
      -- (at: a run its pipeline's answer gives all the same is that one,
      -- not listed again in err.unplaced: Call:unplaced_list)
      met[#met + 1] = { r = r, at = at, shown = shown_run(r, name, keyring) }
      -- (placed nowhere, it still says that another batch's pipeline it
      -- names started: that one is never unsent, Call:unsent, nor missing
      -- from its own batch's answer, Call:account, as for a claim)
      if at and not ours then self.named[at] = true end
      stray = stray or ("%s's answer's %s, which the call cannot place"):format(row.name, flaw)
    elseif ours and not found[at] then
      found[at] = r
      if made and not bad then bad = unusable(row, r, keyring) end
    elseif again and ours and made and same_run(found[at], r, name) then
      bad = bad or unusable(row, r, keyring)
    elseif made then
      met[#met + 1] = { r = r, at = at, shown = shown_run(r, name, keyring) }
      if at and not ours then
        if not claimed[at] then
          claimed[at] = r
          bad = bad or unusable(row, r, keyring)
        elseif again and same_run(claimed[at], r, name) then
          bad = bad or unusable(row, r, keyring)
        end
      elseif not stray and not (at and same_run(found[at], r, name)) then
        stray = unplaced(row, r, i, at, keyring)
      end
    end
  end
  -- Only now, so that a call interrupted above lists the items not yet
  -- taken as unanswered (a run may have started them), not as missing;
  -- and not at all past a run left unplaced, which may be one of them.
  job.answered = not stray
  -- The answers stay, as given (the runs started); a batch whose answer
  -- is unusable fails, and is counted so from here (Call:batch_counts).
  if bad or stray then job.state = "failed" end
  return bad, stray
end

--- An attempt ended: keep its answers, or decide whether to send it again
-- (the seconds to wait first).
function Call:done(job, res, kind, msg, not_sent, cut)
  local client, row, o = self.client, self.row, self.o
  -- A forked child's transport fails every attempt (Call:forked): the
  -- call ends there, and the attempt is not retried.
  if not res and not self.in_child then self.in_child = self:forked() end
  local authorization = job.req and job.req.headers.Authorization
  local keyring = exchange.with_signature(client.creds.keyring, authorization, client)
  if authorization then exchange.keep_authorization(client, authorization) end
  if res then exchange.read_heads(res, keyring) end
  -- An attempt the deadline cut short that times out as the deadline
  -- passes (not connecting, say, earlier) is the deadline's doing; said
  -- of the request, when it was provably not sent (still connecting).
  if kind == "TIMEOUT" and job.by_deadline and now() >= self.deadline - 0.05 then
    msg = deadline_passed(o) .. (not_sent and " before the request was sent" or " before the answer came")
  end
  local answers, err, flawed, flaw = outcome(res, kind, msg, row, keyring, cut)
  local resent = res and res.resent
  -- (before the state changes: until then, a call ended in between takes
  -- the attempt for one in flight, which may have reached the service)
  if answers or not retry.before_service(err, not_sent, resent) then job.reached = true end
  local again, clock_set
  if not answers then
    -- (failed, from here until it is sent again: counted so, should the
    -- call end in between)
    job.state = "waiting"
    err.retryable = retry.retryable(row, err, not_sent, resent)
    err.retry_after = res and retry.asked(res, os.time() + client.skew)
    if err.code == "APIGW.0303" and err.status == 401 and not client.creds.token and not job.clock_was_set then
      -- Signature expired: our clock is off.  Take the server's, once a
      -- call (a request signed by it and refused again is refused: below);
      -- the gateway refused the request, so this holds for any operation.
      -- Sent again at once, as one of the batch's retries: with
      -- max_retries 0 nothing is sent twice, and the next call signs right.
      local skew = retry.skew(res, os.time())
      if skew then
        client.skew, self.clock_set, clock_set = skew, true, true
        if job.attempts <= o.max_retries then again = 0 end
      end
    elseif err.retryable and job.attempts <= o.max_retries then
      again = retry.delay(job.attempts, err.retry_after, client.cfg.max_retry_wait)
      if again and self.deadline and now() + again >= self.deadline then again = nil end
    end
    -- A refused credential: more than five AK/SK failures in a row lock
    -- the key for five minutes, so the call's other batches, each refused
    -- as surely, must not go out (Call:draining).  An expired signature
    -- whose clock was just set right is no refusal yet: what is sent next
    -- is signed anew.
    if err.status == 401 and not clock_set then self.refused = self.refused or err end
    -- (nor is anything sent again once the call drains)
    if self.refused then again = nil end
  end
  -- Answers are kept before the attempt is logged, so that its event says
  -- how the attempt ended (a run id that is no id fails it).
  if answers then
    local bad, stray = self:take(job, answers, keyring, flawed, flaw)
    if bad or stray then
      err = exchange.undecodable(res, bad or stray, keyring)
      err.retryable = retry.retryable(row, err, false)
      -- (it names a run in err.unplaced: should the call end with it, its
      -- message counts the others there: Call:account)
      if not bad then self.naming = self.naming or err end
    end
  end
  local logger = client.cfg.logger
  if logger and job.req then
    self:callback(logger, {
      operation = row.name, batch = job.n, items = job.last - job.first + 1,
      method = job.req.method, url = client.creds.keyring:redact(job.req.url),
      headers = exchange.shown_headers(job.req.headers, client.creds.keyring),
      status = res and res.status, request_id = (res and res.request_id) or (err and err.request_id),
      duration = now() - job.sent_at, attempt = job.attempts,
      error = err and tostring(err), retry_in = again,
    })
  end
  job.req = false
  job.took = job.attempts
  if again then return again end
  if err then
    job.state = "failed"
    err.attempts = job.attempts
    self.first_err = self.first_err or err
  end
  self.done_items = self.done_items + (job.last - job.first + 1)
  if o.on_progress then self:callback(o.on_progress, self.done_items, self.count, row.name) end
end

--- The error of a call that Ctrl-C stopped.
local function interrupted()
  return Error.stop("INTERRUPTED", "interrupted (Ctrl-C) during the call")
end

--- The CALLBACK error for what a callback raised.  Named without running
-- code of the caller's (a __tostring may raise as well), and as the
-- library shows any text it did not write: the client's secrets redacted
-- (a callback may well quote the SK), then cut.  The value itself goes
-- with it, as raised.
function Call:raised_error()
  local v = self.raised.value
  local said = (type(v) == "string" or type(v) == "number")
    and exchange.shown(self.client.creds.keyring, tostring(v), exchange.MESSAGE_BYTES) or ("a " .. type(v) .. " value")
  local err = Error.stop("CALLBACK", "a callback raised: " .. said)
  err.raised = v
  return err
end

--- Runs the batches and gathers the answers (Call:account).
function Call:gather()
  local o, row = self.o, self.row
  if o.on_progress then self:callback(o.on_progress, 0, self.count, row.name) end
  local finished = not self:stopped() and batch.run(self.t, self.jobs, o.concurrency, self)
  local first_err = self.first_err
  if self.client.closed then
    first_err = Error.closed()
  elseif self.raised and not self.o.callback and interrupt(self.raised.value) then
    first_err = interrupted()
    -- (what the callback raised goes with it: the interpreter's
    -- "interrupted!", or, for Ctrl-C in a call made in the callback, that
    -- call's error, which accounts for its own items.  Not in callback
    -- mode, where no Ctrl-C reaches Lua, and INTERRUPTED is never given)
    first_err.raised = self.raised.value
  elseif self.raised then
    first_err = self:raised_error()
  elseif self.in_child or (not finished and self:forked()) then
    first_err = Error.forked()
  elseif self.refused then
    -- (rather than an earlier batch's failure: it is why the rest went
    -- unsent, and what the caller must mend)
    first_err = self.refused
  end
  return self:account(first_err)
end

--- The error of a call whose answers disagree about a pipeline: another
-- batch's answer gave it run c, its own batch's answer another (own), or,
-- answered, none.  Either way a run would be lost, or a pipeline that
-- started called not started.
function Call:disagreement(c, own)
  local name, words = next(self.row.answer.made)
  local keyring = exchange.with_signature(self.client.creds.keyring, nil, self.client)
  local err = Error.new("DECODE", ("%s's answers disagree: another batch's answer gave pipeline %s the %s %s,"
    .. " its own %s"):format(self.row.name, input.quoted(c.pipeline_id, keyring), words,
    input.quoted(c[name], keyring), own and ("the %s %s"):format(words, input.quoted(own[name], keyring))
    or "did not list it"))
  err.retryable = false
  return err
end

--- The run the result holds for the item at (of job's), or nil: its own
-- batch's answer's; else, when that batch got no answer, the first run
-- another batch's answer gave it (so that starting err.unanswered again does not
-- start it twice).  A pipeline that answer left out may have started as
-- the other says: it is unanswered, not missing (Call:account).
function Call:placed(at, job)
  return self.found[at] or (not job.answered and self.claimed[at]) or nil
end

--- Whether the run r is listed already in seen (err.unplaced's, by
-- pipeline id, false for none that is a string, then run id); if not, it
-- is from now.  Two items are one run when they give the same run id to
-- the same pipeline, or to none; a run id that is no string cannot say so.
local function listed_before(seen, r, name)
  local id = type(r) == "table" and r[name]
  if type(id) ~= "string" then return false end
  local pipeline = type(r.pipeline_id) == "string" and r.pipeline_id or false
  local runs = seen[pipeline] or {}
  seen[pipeline] = runs
  if runs[id] then return true end
  runs[id] = true
  return false
end

--- The runs of the call's answers that it cannot place: each run met
-- (Call:take) that is not the one the result holds for its pipeline
-- (Call:placed), once, in the order met, as shown_run made it.  And the
-- first's record, or nil.  The rest are in the result: a run ends in
-- exactly one of the two.
function Call:unplaced_list()
  local name, list, seen, first = next(self.row.answer.made), {}, {}, nil
  for _, m in ipairs(self.met) do
    local r, at = m.r, m.at
    local kept = at and self:placed(at, self.jobs[math.floor((at - 1) / self.o.batch_size) + 1])
    if not (kept and (rawequal(kept, r) or same_run(kept, r, name))) and not listed_before(seen, r, name) then
      list[#list + 1] = m.shown
      first = first or m
    end
  end
  return list, first
end

--- err.unplaced for first_err, and the error the call ends with: first_err,
-- or with none (every batch answered, each of its runs placed or a claim)
-- the disagreement the first run the call cannot place is, which names it.
-- The message of an error that names a run there counts the others: a
-- lying server may list many, and a message names one.
function Call:unplaced_error(first_err)
  local list, first = self:unplaced_list()
  local names = first_err == self.naming
  if not first_err and first then
    first_err, names = self:disagreement(first.r, self.found[first.at]), true
  end
  local more = #list - 1
  if first_err and names and more > 0 then
    first_err.message = first_err.message .. (" (and %d more run%s the call cannot place, in err.unplaced)"):format(
      more, more == 1 and "" or "s")
  end
  return list, first_err
end

--- How many of the call's batches were sent, and how many of those failed:
-- gave up, or had an attempt fail and were not yet sent again when the
-- call ended, however it ended.  (A batch the deadline kept from being
-- sent is unanswered, and failed, but it is no batch sent that failed.)
function Call:batch_counts()
  local sent, failed = 0, 0
  for j = 1, #self.jobs do
    local job = self.jobs[j]
    -- (built is not sent: "new" until the transport takes an attempt)
    if job.attempts > 0 and job.state ~= "new" then
      sent = sent + 1
      if job.state == "waiting" or job.state == "failed" then failed = failed + 1 end
    end
  end
  return sent, failed
end

--- Whether item i of job, unanswered, provably never reached the service,
-- so that sending it again cannot do anything twice: no attempt of its
-- batch is in flight (a job "sent" that the call ended before its outcome
-- was taken may have reached it) nor may have reached it (job.reached),
-- and no other batch's answer says it started (self.claimed; self.named,
-- by an item placed nowhere).  In a child forked during the call, none:
-- the batches left are the parent's to send.
function Call:unsent(job, i, in_child)
  return not in_child and job.state ~= "sent" and not job.reached and not self.claimed[i] and not self.named[i]
end

--- Every item accounted for, as the batches stand: the items' answers in
-- the items' order with .missing (items whose batch was answered without
-- them); or, with first_err, nil, first_err with err.results (the same,
-- for what did arrive), err.unanswered (items of failed batches, and
-- of batches in flight or never sent), err.unsent (those of them that
-- provably never reached the service: Call:unsent) and, for a run,
-- err.unplaced (Call:unplaced_list).
function Call:account(first_err)
  local row, uflat, jobs = self.row, self.uflat, self.jobs
  local out, missing, unanswered, unsent = new_table(self.count, 1), {}, {}, {}
  local in_child = self.in_child or self:forked()
  for j = 1, #jobs do
    local job = jobs[j]
    for i = job.first, job.last do
      local r = self:placed(i, job)
      if r then
        out[#out + 1] = r
      elseif job.answered and not self.claimed[i] and not self.named[i] then
        missing[#missing + 1] = input.item(uflat, row, i)
      else
        local item = input.item(uflat, row, i)
        unanswered[#unanswered + 1] = item
        if self:unsent(job, i, in_child) then unsent[#unsent + 1] = item end
      end
    end
  end
  if row.wrap then out = row.wrap(out) end
  out.missing = missing
  local lost
  if row.answer.made then lost, first_err = self:unplaced_error(first_err) end
  if first_err then
    first_err.results, first_err.unanswered, first_err.unsent, first_err.unplaced = out, unanswered, unsent, lost
    first_err.batches, first_err.failed_batches = self:batch_counts()
    return nil, first_err
  end
  return out
end

--- A call of operation row for the items flat (n), de-duplicated and
-- batched: nothing sent yet.
local function new_call(client, row, flat, n, o)
  local uflat, count, index = unique(flat, n, #row.fields)
  return setmetatable({
    client = client, handle = false, in_child = false, row = row, o = o, t = false, uflat = uflat, count = count,
    index = index, claimed = {}, named = {}, met = {}, naming = false, refused = false, clock_set = false,
    halted = false,
    jobs = batches(count, o.batch_size), found = new_table(count, 0), done_items = 0,
    deadline = o.deadline_at or (o.deadline and now() + o.deadline),
  }, Call)
end

--- M.run's call, made into hold.c (a field hold has: storing it
-- allocates nothing, so that a call made is never lost to a memory error
-- before it is held), and run through t (with none, terr says why:
-- nothing is sent, every item unanswered).
local function made_and_gathered(client, row, flat, n, o, hold, t, terr)
  hold.c = new_call(client, row, flat, n, o)
  local c = hold.c
  c.clock_set = hold.clock_set == true
  if not t then return c:account(terr) end
  c.t, c.handle = t, client.curl
  return c:gather()
end

--- Runs operation row for the caller's items (flat, n) with the settled
-- options o (o.deadline_at, when set: the br.now() at which o.deadline
-- passes, for a call that began earlier): results, or nil, err (see
-- Call:gather); with o.dry_run the
-- requests it would send.  Whatever happens, the call's transport is
-- closed (its requests in flight cancelled) before this returns or raises.
-- A callback's error is raised again here, as the callback raised it,
-- unless the call runs in Neovim's callback mode (o.callback), where it is
-- the CALLBACK error the callback receives.  Ctrl-C (the interpreter's
-- raise, in a callback or in the library's own code) ends the call with
-- the INTERRUPTED error, which the public methods raise; Lua's memory
-- error there, with INTERNAL, which they return.  hold (a table of the
-- caller's with fields t and c, needed unless o.dry_run: setting them
-- then allocates nothing) gets the call's transport and Call
-- as soon as they are made, for M.stopped and for this function's own
-- guard; its clock_set says the clock was set right by an APIGW.0303
-- earlier in the same method (run_and_query's first half: Call:done).
function M.run(client, row, flat, n, o, hold)
  if o.dry_run then
    local c = new_call(client, row, flat, n, o)
    -- A client closed since the method began (Neovim's callback mode starts
    -- the call on the editor's next turn) ends it as it ends any call.
    if client.closed then return c:account(Error.closed()) end
    return c:dry_run()
  end
  local t, terr = transport.for_call(client, o.callback ~= nil)
  -- (an option the transport refuses: bad input, so no accounting)
  if not t and terr.code == "INVALID_ARGUMENT" then return nil, terr end
  hold.t = t
  -- De-duplicating and batching many items takes a while: Ctrl-C there
  -- ends the call with every item accounted for (none sent), as it does
  -- once the requests go out.
  local ok, res, err = guard.pcall(made_and_gathered, client, row, flat, n, o, hold, t, terr)
  local c = hold.c
  if t then t:close() end
  if not ok then
    local stop = interrupt(res) and interrupted() or out_of_memory(res)
    -- (memory that ran out before the call was made, as it de-duplicated
    -- and batched, would run out again: raised, as nothing was sent)
    if not stop or (not c and stop.code == "INTERNAL") then error(res, 0) end
    c = c or new_call(client, row, flat, n, o)
    res, err = c:account(stop)
  end
  if c.raised and not o.callback and not Error.is_own(err, "INTERRUPTED") then error(c.raised.value, 0) end
  return res, err
end

--- The outcome of a call M.run was given hold for, that Ctrl-C (or Lua's
-- memory error: stop, M.out_of_memory's) stopped where M.run's own guard
-- did not see it (in its last steps, or in its caller's): its transport
-- closed, nil, the INTERRUPTED error (or stop) accounting for every item
-- as the batches stand.
function M.stopped(hold, client, row, flat, n, o, stop)
  if hold.t then hold.t:close() end
  return (hold.c or new_call(client, row, flat, n, o)):account(stop or interrupted())
end

return M
