--- codearts.batchresult: a client for Huawei Cloud CodeArts Pipeline's
-- ShowBatchRunResult, "how did this batch of pipeline runs start?", and
-- its companion BatchRunPipeline.  This file is the public API only.
--
-- One direction of flow, each stage in its own file:
--   caller's input -> input.lua (the library's own copy, read once)
--   -> operations.lua (the operation's row) -> call.lua (batches, deadline,
--   progress, nothing lost) -> batch.lua (the request loop) -> transport
--   -> exchange.lua (signed request out, results or error back)
--   -> results.lua (result sets) -> caller.
-- The request loop lives in Lua, so that a transport may yield or call
-- back.  No Lua runs inside libcurl; C calls Lua only to word br.sign's
-- refusals (sign_refused).

--- The C core.  A build for another Lua fails to load with the linker's
-- words alone (undefined symbol: lua_rotate), a Lua API function missing:
-- they are said with what they mean, and how to build one for this Lua
-- (README: Install), in Lua's own message, as the tool shows it too.
local function load_core()
  local ok, core = pcall(require, "codearts.batchresult.core")
  if ok then return core end
  local message = tostring(core)
  if not message:find("undefined symbol: luaL?_[%w_]+$") then error(core, 0) end
  local jit = rawget(_G, "jit")
  local abi = _VERSION:match("%d+%.%d+")
  error(message .. " (a build for another Lua than this interpreter's, " .. (jit and jit.version or _VERSION)
    .. ": rebuild it with `luarocks --lua-version=" .. abi .. " make`, or from a checkout `make LUA_VERSION="
    .. (jit and "jit" or abi) .. "`" .. (rawget(_G, "vim") and ", and examples/nvim/install.sh again for Neovim's copy"
    or "") .. ")", 0)
end
local core = load_core()
local Error = require "codearts.batchresult.error"
local config = require "codearts.batchresult.config"
local exchange = require "codearts.batchresult.exchange"
local guard = require "codearts.batchresult.guard"
local input = require "codearts.batchresult.input"
local operations = require "codearts.batchresult.operations"
local regions = require "codearts.batchresult.regions"
local results = require "codearts.batchresult.results"
local number_text = require("codearts.batchresult.text").number_text
local call = require "codearts.batchresult.call"
local nvim = require "codearts.batchresult.transport.nvim"
local curl = require "codearts.batchresult.transport.curl"

local M = {
  VERSION = config.VERSION,
  --- Stands for a JSON null inside an array (a null object member is
  -- simply absent).
  null = core.null,
  Error = Error,
  --- region -> endpoint, for reference: a copy, so that changing it
  -- changes no client's endpoint.
  regions = regions.copy(),
  --- The kinds br.reason_kind answers, in a fixed order.
  REASON_KINDS = results.REASON_KINDS,
  --- Seconds of a monotonic clock (CLOCK_MONOTONIC), for timing a call:
  -- unlike os.time, fractional, and never set back.
  now = core.now,
}
-- (made for M: br:summary(), which hands M in as the set, raises)
M.summary = results.summary_for(M)

--- br.reason_kind: results.reason_kind, which takes any value a server
-- may send as a reason, but for slips that would read as a reason of kind
-- "other": M itself (br:reason_kind(r), called with a colon), a result
-- set, and a result given for its reason (br.reason_kind(r)), which the
-- ids it holds tell, read raw.
function M.reason_kind(reason)
  if rawequal(reason, M) then input.dot_slip("reason_kind", 2) end
  if results.is(reason) then
    error("codearts.batchresult: br.reason_kind takes a result's reason (r.reason), not a result set", 2)
  end
  if type(reason) == "table" and (rawget(reason, "pipeline_run_id") ~= nil or rawget(reason, "pipeline_id") ~= nil) then
    error("codearts.batchresult: br.reason_kind takes a result's reason (r.reason), not the result", 2)
  end
  return results.reason_kind(reason)
end

-- A client's private state, in a box (core.box) the client table holds
-- under STATE: neither tostring nor a table dump nor an error can reveal
-- what it holds, and only core.unbox opens it.  (Not the value of a
-- weak-keyed table beside the clients: on Lua 5.1 and LuaJIT, which know
-- no ephemerons, an entry whose state leads back to its client, through a
-- logger that uses it, was never collected, nor its connections.)
local STATE = "_state"
local unbox = core.unbox

--- self's state, or nil (closed, collected, or no client).  A copy of a
-- client's table (vim.deepcopy copies the box as it is) holds the box
-- after close() took it from the client: closed all the same.
local function private(self)
  local priv = type(self) == "table" and unbox(rawget(self, STATE)) or nil
  if priv and not priv.closed then return priv end
end

local Client = {}
Client.__index = Client

--- A warning for whoever runs the program: on stderr, or in Neovim, whose
-- screen stderr would write over, through vim.notify (at the editor's
-- next turn when this runs inside a libuv callback, where vim.notify may
-- not be called: nvim.later, which that turn does not wait for an event).
local function warn(message)
  local vim = rawget(_G, "vim")
  if type(vim) == "table" and vim.notify and vim.log and vim.schedule then
    local function notify() vim.notify("codearts.batchresult: " .. message, vim.log.levels.WARN) end
    if vim.in_fast_event and vim.in_fast_event() then
      nvim.later(notify)
      return
    end
    -- (a vim.notify of a plugin's that raises must not fail new())
    if pcall(notify) then return end
  end
  io.stderr:write("codearts.batchresult: WARNING: ", message, "\n")
end

--- Creates a client.  See README.md for the options; returns nil, err
-- (code INVALID_ARGUMENT) when one is wrong.
function M.new(opts)
  if rawequal(opts, M) then input.dot_slip("new", 2) end
  local cfg, secrets = config.build(opts)
  if not cfg then return nil, secrets end
  -- From here on the SK lives only in the keyring's C memory: it signs
  -- with it and redacts it, and secrets, which held it, is dropped.
  -- (each secret also in the form a one-line message shows it)
  local given, n = { secrets.sk, secrets.security_token, secrets.token }, 3
  for _, held in ipairs(secrets.held) do
    n = n + 1
    given[n] = held
  end
  local forms = config.secret_forms(given, n)
  local keyring, msg = core.keyring(secrets.sk, (table.unpack or unpack)(forms))
  if not keyring then return nil, Error.new("INTERNAL", msg) end
  local creds = { ak = secrets.ak, keyring = keyring, security_token = secrets.security_token,
                  token = secrets.token, request_meta = exchange.request_meta(keyring) }
  -- The endpoint as the client shows it (its field, tostring, the warning
  -- below): redacted, as a secret pasted into it (a host that resolved)
  -- is still a secret.
  local shown_endpoint = keyring:redact(cfg.endpoint)
  if not cfg.tls_verify then
    -- An escape hatch, and it must be loud: say so once, where it is made.
    warn("TLS verification is OFF for " .. shown_endpoint
      .. " (tls_verify = false): anyone on the path can read and change these requests")
  end
  local self = setmetatable({
    endpoint = shown_endpoint,
    region = cfg.region,
    project_id = cfg.project_id,
    user_agent = cfg.user_agent,
    batch_size = cfg.batch_size,
    concurrency = cfg.concurrency,
    max_retries = cfg.max_retries,
  }, Client)
  local state = {
    cfg = cfg,
    creds = creds,
    paths = {}, -- each operation's path for this client's project (call.lua)
    -- A call's options when it gives none: the client's own (never changed).
    defaults = assert(config.call_options(nil, cfg)),
    skew = 0,
    endpoint = { host = cfg.host, url_base = cfg.endpoint, project_id = cfg.project_id,
                 user_agent = cfg.user_agent },
    shown_endpoint = shown_endpoint,
    -- libcurl's handle, opened by the first call that uses it
    curl = curl.new(),
  }
  self[STATE] = core.box(state)
  return self
end

--- What the client uses, from its state (not its table's fields, which a
-- caller may change to no effect): nothing of it once closed.
function Client:__tostring()
  local priv = private(self)
  if not priv then return "codearts.batchresult client (closed)" end
  local auth
  if priv.creds.token then
    auth = "IAM token"
  else
    auth = "AK/SK, access key " .. priv.creds.ak:sub(1, 4) .. "…"
      .. (priv.creds.security_token and ", temporary" or "")
  end
  if not priv.cfg.tls_verify then auth = auth .. ", TLS verification OFF" end
  return ("codearts.batchresult client (%s, project %s, %s)"):format(priv.shown_endpoint, priv.cfg.project_id, auth)
end

--- Raises, when self is no client, that the method called name was
-- called with a dot (level: error()'s, as the function that calls this
-- would give it: at the line that called the method).
local function check_client(self, name, level)
  if getmetatable(self) ~= Client then
    error("codearts.batchresult: a client's methods are called with a colon (client:" .. name .. "(…)), got "
      .. type(self) .. " as the client", level + 1)
  end
end

-- A method's client state, or a raise naming the misuse at the line that
-- called the method (each method calls this itself, never in a tail call).
local function live(self)
  local priv = private(self)
  if priv then return priv end
  if getmetatable(self) ~= Client then
    -- (the method by what it is, not by the name the caller called it by)
    local method, name = debug.getinfo(2, "f").func, nil
    for k, f in next, Client do
      if f == method then name = k end
    end
    -- (a method the caller wrapped is none of these: named by its kind)
    check_client(self, name or "method", 3)
  end
  error("codearts.batchresult: the client is closed", 3)
end

--- client:clock_skew() -> seconds by which the server's clock is ahead of
-- ours (negative when behind), as learnt from an APIGW.0303 answer; 0
-- until then.  Requests are signed with the corrected time.
function Client:clock_skew()
  return live(self).skew
end

local INPUT_MESSAGE_BYTES = config.INPUT_MESSAGE_BYTES

--- err, about the caller's input, with every secret the client holds
-- redacted from what it quotes (its message, cut short, and an unknown
-- option's name), as a user may paste a secret in the wrong place.
local function redacted(priv, err)
  return (exchange.shown_input(priv.creds.keyring, err, INPUT_MESSAGE_BYTES))
end

--- The caller's list for operation row, read once (input.items); a
-- refusal quotes the bad value, so it is redacted.
local function items(priv, list, row)
  local flat, n = input.items(list, row, priv.creds.keyring)
  if not flat then redacted(priv, n) end
  return flat, n
end

--- A call's options settled, or nil, err with the client's secrets
-- redacted from what it quotes (an unknown option's name may be one).
local function call_options(priv, opts)
  local o, err = config.call_options(opts, priv.cfg)
  if not o then redacted(priv, err) end
  if o and o.callback then
    err = nvim.callback_refused()
    if err then return nil, err end
  end
  return o, err
end

--- A call's outcome as a public method gives it: Ctrl-C stops the
-- script, so the INTERRUPTED error is raised, holding what arrived.
local function outcome(res, err)
  if err and Error.is_own(err, "INTERRUPTED") then error(err, 0) end
  return res, err
end

--- The outcome res, err of a call with options o, put in o.keep first
-- (the caller's table: README, call options), then given as outcome
-- gives it.  Kept where the call's guard still holds, a Ctrl-C in the
-- return that follows, which nothing can guard, loses nothing of it.
local function given(o, res, err)
  if o.keep then
    rawset(o.keep, 1, res)
    rawset(o.keep, 2, err)
  end
  return outcome(res, err)
end

--- Empties o.keep (false, false): until the call gives something, the
-- table holds nothing of an earlier call's.  (Its two slots made now,
-- before anything is sent, so that keeping the outcome cannot run out of
-- memory.)
local function keep_emptied(o)
  if o.keep then
    rawset(o.keep, 1, false)
    rawset(o.keep, 2, false)
  end
end

--- items(priv, list, row) for a call with options o, whose keep is
-- emptied before the list is read (a Ctrl-C there must not find an
-- earlier call's outcome in it), unless it is the list itself, and again
-- once the list is read (copied).  A list refused is given into it.
local function items_kept(priv, o, list, row)
  if not rawequal(o.keep, list) then keep_emptied(o) end
  local flat, n = items(priv, list, row)
  keep_emptied(o)
  if not flat then return given(o, nil, n) end
  return flat, n
end

--- given(o, body(...)): what guarded runs under its guard.
local function given_by(o, body, ...)
  return given(o, body(...))
end

--- A public method's call of operation row for flat (n items), options
-- o: body(priv, row, flat, n, o, hold) (call.run, or a function called as
-- it is; hold is the call's own, for call.stopped: passed on, rather than
-- caught in a closure made each call), and its outcome, under one guard
-- up to the method's return.  Ctrl-C
-- comes wherever the interpreter is: inside a call.run's guard the call
-- takes it, but in its last steps (closing its transport), between
-- run_and_query's halves or as the outcome is given, a bare raise would
-- lose the run ids of every pipeline started.  Taken here, it ends the
-- method as it does inside the call: the INTERRUPTED error, raised,
-- accounting for every item as the call's batches stand (ended(hold, err)
-- gives the method's outcome from it, when that is more than the call's:
-- run_and_query's).  Lua's memory error there ends it so too, with
-- INTERNAL, unless it came before the call was made (nothing sent): that
-- one is raised as Lua raised it, as call.run raises it.  Past this
-- guard there is only the return itself, which no Lua code can guard
-- (README: Errors, INTERRUPTED).
local function guarded(priv, row, flat, n, o, body, ended)
  -- (its fields there from the start: a call made is kept in it with no
  -- allocation, which a memory error could stop, and the call be lost)
  local hold = { t = false, c = false }
  local ok, res, err = guard.pcall(given_by, o, body, priv, row, flat, n, o, hold)
  if ok then return res, err end
  -- (the INTERRUPTED error the outcome raised accounts for the call
  -- already, and a callback's error of the library's class goes up as
  -- raised; a dry run sent nothing, as before the call begins.  Lua's
  -- memory error, which a callback's allocation raises as the library's
  -- does, ends the call below, every item accounted for: README.)
  if Error.is(res) or o.dry_run then error(res, 0) end
  local stop = call.out_of_memory(res)
  if not (stop or Error.is_interrupt(res)) or (stop and not hold.c) then error(res, 0) end
  local _, stopped = call.stopped(hold, priv, row, flat, n, o, stop)
  if ended then return given(o, ended(hold, stopped)) end
  return given(o, nil, stopped)
end

--- Operation row for flat (n items), options o, as client:query and
-- client:run call it: one call.run, guarded.
local function one_call(priv, row, flat, n, o)
  return guarded(priv, row, flat, n, o, call.run)
end

--- text as the client shows what it did not write (exchange.shown), for
-- nvim.run_async's INTERNAL errors.
local function shown_by(priv)
  return function(text) return exchange.shown(priv.creds.keyring, text, exchange.MESSAGE_BYTES) end
end

--- What ends the calls of the client self in callback mode when Neovim
-- quits (nvim.run_async): its close.
local function closer(self)
  return function() Client.close(self) end
end

--- A call of operation row for the caller's list: options and items read
-- once and checked before anything is sent.  With opts.callback (Neovim),
-- it returns true at once and the answer goes to the callback.
local function start(self, priv, row, list, opts)
  local o, err = priv.defaults, nil
  if opts ~= nil then o, err = call_options(priv, opts) end
  if not o then return nil, err end
  local flat, n = items_kept(priv, o, list, row)
  if not flat then return nil, n end
  if o.callback then
    return nvim.run_async(o.callback, function() return one_call(priv, row, flat, n, o) end, shown_by(priv),
      closer(self))
  end
  return one_call(priv, row, flat, n, o)
end

--- client:query(pairs [, opts]) -> results, or nil, err.
-- Any number of pairs: de-duplicated, sent in batches of opts.batch_size,
-- opts.concurrency at a time, matched to the answers by their ids and
-- returned in the order each pair first appears.  See README.md.
function Client:query(list, opts)
  return start(self, live(self), operations.query, list, opts)
end

--- client:run(pipeline_ids [, opts]) -> runs, or nil, err.
-- Starts the pipelines (BatchRunPipeline).  runs is an array of
-- { pipeline_id, pipeline_run_id } in the order of pipeline_ids, with
-- .missing (pipeline ids the server did not start).  Batched, validated
-- and reported like query; err.unanswered lists pipeline ids.
function Client:run(ids, opts)
  return start(self, live(self), operations.run, ids, opts)
end

--- Starts the runs of flat (n pipeline ids), then asks how each started.
-- Every pipeline id ends in exactly one place: a result, results.missing
-- (started, but the status answer left it out), results.not_started (the
-- server did not start it), or, when a call failed, err.unanswered (no
-- answer to the start: it may or may not have started) or err.unqueried
-- (started, but not asked about: { pipeline_id, pipeline_run_id }, to ask
-- again when the status request failed; as the server gave them when the
-- run id is no id, which is never sent, and the call fails with DECODE).
local function after_start(priv, runs, err, o, second, stopped, first_call)
  local started = runs or (err and err.results)
  if not started then return nil, err end
  -- A first half that the caller's side ended (a callback that raised, in
  -- Neovim's callback mode; the client closed; the process forked;
  -- Ctrl-C), or a stop between the halves (stopped), ends the call: the
  -- runs that started are left unqueried.  Forked between the halves
  -- (from a finalizer): the queries are the parent's too.  So does a
  -- refused credential (the first half's Call:done said so),
  -- which the queries would carry again (Retries: a key refused too often
  -- is locked); not an APIGW.0303 that set the clock right.
  local forked = priv.curl:inherited()
  local ended = stopped or (first_call and first_call.refused) or priv.closed or forked
    or (err and Error.is_stop(err))
  -- The server's run ids go into a query as ids do: a run id that is none
  -- (the first half then failed with DECODE, saying so) is not sent.  (An
  -- ended call lists them unqueried straight away: it may have ended for
  -- want of memory, which the query's list would take again.)
  local pairs_flat, count, bad, unqueried = {}, 0, {}, {}
  for _, r in ipairs(started) do
    local id = input.is_id(r.pipeline_run_id)
    if id then count = count + 1 end
    if id and not ended then
      pairs_flat[2 * count - 1], pairs_flat[2 * count] = r.pipeline_id, r.pipeline_run_id
    else
      local pair = { pipeline_id = r.pipeline_id, pipeline_run_id = r.pipeline_run_id }
      if id then unqueried[count] = pair else bad[#bad + 1] = pair end
    end
  end
  local res, qerr
  if count > 0 and not ended then
    res, qerr = call.run(priv, operations.query, pairs_flat, count, o, second)
    unqueried = qerr and qerr.unanswered or {}
  else
    res = results.wrap({})
    res.missing = {}
    -- (closed or forked between the halves, by a finalizer: nothing else
    -- says so)
    if count > 0 and not err then qerr = forked and Error.forked() or Error.closed() end
  end
  local out = res or qerr.results
  out.not_started = started.missing
  -- (what the caller's side did in the second half wins: Ctrl-C must stop
  -- the script, a callback's raise reach the caller as CALLBACK, a close
  -- read as one; else the start's error, the first)
  local by_caller = qerr and Error.is_stop(qerr)
  local failure = by_caller and qerr or err or qerr
  if not failure then return out end
  -- (and the runs the start could not place, whichever error won)
  failure.unplaced = err and err.unplaced
  local unanswered = err and err.unanswered or {}
  for _, pair in ipairs(bad) do unqueried[#unqueried + 1] = pair end
  failure.results, failure.unanswered, failure.unqueried = out, unanswered, unqueried
  -- (the start's: the queries' unsent are pairs, asked again at no cost)
  failure.unsent = err and err.unsent or {}
  -- (the batches of both halves, which are one method)
  if first_call then
    local sent, failed = first_call:batch_counts()
    if second.c then
      local sent2, failed2 = second.c:batch_counts()
      sent, failed = sent + sent2, failed + failed2
    end
    failure.batches, failure.failed_batches = sent, failed
  end
  return nil, failure
end

local function run_and_query(priv, flat, n, o)
  -- One deadline for both halves.
  if o.deadline then o.deadline_at = core.now() + o.deadline end
  -- Each half's call takes Ctrl-C inside its own guard; guarded takes it
  -- between them (walking the runs that started takes a while for many)
  -- and after.  Then the call ends as it does when Ctrl-C comes in its
  -- first half: the runs that started are left unqueried (a query half
  -- that had begun is abandoned).
  local second = { clock_set = false, t = false, c = false }
  -- (called as call.run is, with the arguments given to guarded, and the
  -- first half's hold)
  return guarded(priv, operations.run, flat, n, o, function(_, row, _, _, _, first)
    local runs, rerr = call.run(priv, row, flat, n, o, first)
    -- (one method: a clock the first half set right is set for the second)
    second.clock_set = first.c and first.c.clock_set
    return after_start(priv, runs, rerr, o, second, false, first.c)
  end, function(first, stopped)
    if second.t then second.t:close() end
    -- (with the calls of both halves, for the batches of both: a query
    -- half may have finished)
    return after_start(priv, nil, stopped, o, second, true, first.c)
  end)
end

--- client:run_and_query(pipeline_ids [, opts]) -> results, or nil, err.
-- Starts the pipelines, then asks how each run started.  results is what
-- query returns, with .not_started (pipeline ids the server did not
-- start).  On failure err.results holds that result set for what did
-- arrive, err.unanswered the pipeline ids whose start got no answer, and
-- err.unqueried the runs that started but were not asked about.
function Client:run_and_query(ids, opts)
  local priv = live(self)
  local o, err = call_options(priv, opts)
  if not o then return nil, err end
  if o.dry_run then
    local e = Error.invalid("run_and_query has no dry_run: the runs it would ask about do not exist "
      .. "until they start (use run with dry_run)")
    e.option = "dry_run"
    return nil, e
  end
  local flat, n = items_kept(priv, o, ids, operations.run)
  if not flat then return nil, n end
  if o.callback then
    return nvim.run_async(o.callback, function() return run_and_query(priv, flat, n, o) end, shown_by(priv),
      closer(self))
  end
  return run_and_query(priv, flat, n, o)
end

local PREPARE_OPTIONS = {
  operation = { "string", function(v)
    if not operations[v] or type(operations[v]) ~= "table" then return 'be "query" or "run", got "' .. v .. '"' end
  end },
}

--- client:prepare(list [, opts]) -> { method, url, headers, body }, fully
-- signed, or nil, err: the request the operation (opts.operation, "query"
-- by default, or "run") would send for these items in one batch.  Nothing
-- is sent.
function Client:prepare(list, opts)
  local priv = live(self)
  local o, err = input.options(opts, PREPARE_OPTIONS, "prepare option", "prepare options")
  if not o then return nil, redacted(priv, err) end
  local row = operations[o.operation or "query"]
  local flat, n = items(priv, list, row)
  if not flat then return nil, n end
  local reqs, rerr = call.run(priv, row, flat, n, { dry_run = true, batch_size = n })
  if not reqs then return nil, rerr end
  return reqs[1]
end

--- text with every secret of the client whose state is priv redacted,
-- and the signatures of its latest requests.
local function redacted_text(priv, text)
  return (priv.creds.keyring:redact(exchange.without_signatures(priv, text)))
end

--- client:redact(text) -> text with every secret of this client (the SK,
-- the security token, the IAM token) [REDACTED], in each form the library
-- redacts a server's text, and the signatures of its latest requests: for
-- messages of your own that quote input, and results you show.
-- client:redact(t) -> a copy of the table t (a result set, a run's list),
-- each string in it so redacted: tostring(results) cuts names and
-- reasons, and what a cut leaves of a secret may be too short to be
-- redacted after.
function Client:redact(text)
  local priv = live(self)
  if type(text) == "string" then return redacted_text(priv, text) end
  if type(text) == "table" then return results.redacted(text, function(s) return redacted_text(priv, s) end) end
  error("codearts.batchresult: redact takes a string or a table, got " .. type(text), 2)
end

--- Frees the connections and the key material; the client is unusable
-- afterwards.  Also runs at the end of a Lua 5.4 <close> variable.
function Client:close()
  local priv = private(self)
  if not priv then
    -- (closing a closed client does nothing)
    check_client(self, "close", 2)
    return
  end
  -- A call running (this close came from its callback) sees this and
  -- ends with CLOSED; libcurl's handle waits for the C side to let go.
  priv.closed = true
  priv.curl:close()
  if priv.ngx_calls then
    local calls = {}
    for t in pairs(priv.ngx_calls) do calls[#calls + 1] = t end
    for _, t in ipairs(calls) do t:cancel() end
  end
  priv.creds.keyring:close()
  self[STATE] = nil
end
Client.__close = Client.close

--- The error for the answer res that could not be read (why and code:
-- what core.decode_results said, nil when it was not asked), as a
-- client's call gives it, its texts redacted by keyring: a client's own
-- (its secrets and the signatures of its latest requests), or else the
-- environment's secrets (config.redactor).  A body with no 2xx status
-- said is an API error when it plainly is one.
local function undecoded(res, why, code, keyring)
  local own = keyring
  if not own then
    local oom
    own, oom = config.quoting_keyring()
    if not own then return Error.new("INTERNAL", oom) end
  end
  local ok = res.status and res.status >= 200 and res.status <= 299
  local err = not ok and not code and exchange.api_error(res, own) or exchange.undecodable(res, why, own, code)
  if not keyring then own:close() end
  return err
end

--- The result set of the answer body (with its HTTP status, or nil), or
-- nil, err (undecoded's, by keyring); misuse raises, naming the function
-- the caller called (name) at the caller's line.
local function decoded(name, body, status, keyring)
  if type(body) ~= "string" then
    error("codearts.batchresult: " .. name .. "'s body must be a string, got " .. type(body), 3)
  end
  if status ~= nil and not (type(status) == "number" and status >= 100 and status <= 599 and status % 1 == 0) then
    error("codearts.batchresult: " .. name .. "'s status must be an HTTP status, a whole number from 100 to 599, got "
      .. (type(status) == "number" and number_text(status) or type(status)), 3)
  end
  -- (401.0 as the integer a client's err.status is, on Lua 5.3 and later)
  status = status and math.floor(status)
  if status and (status < 200 or status > 299) then
    return nil, undecoded({ status = status, body = body }, nil, nil, keyring)
  end
  local answer = operations.query.answer
  local list, why, code = core.decode_results(body, answer.list, (table.unpack or unpack)(answer.ids))
  if not list then return nil, undecoded({ status = status, body = body }, why, code, keyring) end
  return results.wrap(list)
end

--- br.decode(body [, status]) -> results, or nil, err: the result set of
-- a ShowBatchRunResult answer obtained some other way, in the order of
-- the answer; err as a client's call gives it for an answer with that
-- HTTP status and body.  Without status, a body that is no result set but
-- plainly an API error is that error (err.status nil).  Misuse raises.
function M.decode(body, status)
  if rawequal(body, M) then input.dot_slip("decode", 2) end
  local res, err = decoded("br.decode", body, status, nil)
  return res, err
end

--- client:decode(body [, status]) -> as br.decode, for the answer to a
-- request this client prepared: its errors hide the client's own secrets
-- and the signatures of its latest requests, which a server may echo
-- (br.decode knows neither); CLOSED when the client was closed meanwhile.
function Client:decode(body, status)
  local priv = live(self)
  local res, err = decoded("client:decode", body, status, exchange.with_signature(priv.creds.keyring, nil, priv))
  -- (a finalizer may close the client meanwhile, and its redaction then
  -- shows nothing of the server's words)
  if not res and priv.closed then return nil, Error.closed() end
  return res, err
end

local SIGN_FIELDS = {
  method = { "string" }, path = { "string" }, query = { "string" }, headers = { "table" },
  body = { "string" }, ak = { "string" }, sk = { "string" },
}
--- Why br.sign refused its argument, as nil, err, from what the C side
-- read (core.signer): nil, message, code, sk when it signed nothing; or
-- false, rule, sk, key, value: the rule of br.sign's that the argument
-- breaks, with what it read (the table is never read again: a finalizer
-- may have changed it since), worded as the checks of other tables word
-- it.  Redacted with the sk it read (and the environment's): a header's or
-- a field's name may quote it, pasted in the wrong place.  The argument
-- that is this module (br:sign{…}) raises, at the line that called
-- br.sign (level 3: past C's frame).
local function sign_refused(signed, a, b, c, d)
  local err, sk
  if signed == nil then
    err, sk = Error.new(b, "sign: " .. a), c
  elseif a == "module" then
    input.dot_slip("sign", 3)
  elseif a == "table" then
    return nil, Error.invalid("sign's argument must be a table, got " .. c)
  elseif a == "metatable" then
    -- (c: "headers" when they have it, nil when the argument does)
    return nil, Error.invalid(input.metatable_words(c and ("sign: " .. c) or "sign's argument"))
  elseif a == "field" then
    err, sk = select(2, input.options({ [c] = d }, SIGN_FIELDS, "sign field", "sign's argument")), b
  elseif a == "missing" then
    err, sk = Error.invalid("sign: " .. c .. " is required"), b
  elseif a == "empty" then
    -- (white space alone is no key either, as new() says of its sk)
    err, sk = Error.invalid(b == "" and "sign: sk is empty" or "sign: sk is only white space"), b
  elseif a == "sk" then
    err, sk = Error.invalid("sign: sk must not contain CR, LF or NUL"), b
  else -- "header"
    -- (with no keyring, none or no memory, redacted below, or INTERNAL)
    local keyring = config.redactor({ sk = b }) or nil
    err, sk = Error.invalid(input.strings_refused({ [c] = d }, "sign: headers", keyring)), b
    if keyring then keyring:close() end
  end
  return nil, config.input_error_without_secrets(err, { sk = sk }, nil, INPUT_MESSAGE_BYTES)
end

--- br.sign{ method, path, query, headers, body, ak, sk } -> authorization,
-- details, or nil, err.  Signs exactly the headers given (names holding
-- '_' excepted, as in the official SDKs); X-Sdk-Date must be among them.
-- details holds canonical_request, string_to_sign and signed_headers.
-- It is C's own function (the table read raw and signed in one pass),
-- with sign_refused for the words of a refusal, and this module, which it
-- refuses as its argument (called with a colon).
M.sign = core.signer(sign_refused, M)

return M
