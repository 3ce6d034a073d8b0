--- codearts.batchresult: a client for Huawei Cloud CodeArts Pipeline's
-- ShowBatchRunResult, "how did this batch of pipeline runs start?", and
-- its companion BatchRunPipeline.
--
-- One direction of flow, each stage in one place:
--   validate and encode (C, cJSON) -> sign (C, libcrypto)
--   -> transport (transport/*.lua) -> decode (C, cJSON -> Lua tables)
--   -> result set (results.lua)
-- The request loop (batch.lua) lives in Lua, so that a transport may yield
-- or call back; C never calls back into Lua.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"
local config = require "codearts.batchresult.config"
local regions = require "codearts.batchresult.regions"
local results = require "codearts.batchresult.results"
local exchange = require "codearts.batchresult.exchange"
local batch = require "codearts.batchresult.batch"

local M = {
  VERSION = config.VERSION,
  --- Stands for a JSON null inside an array (a null object member is
  -- simply absent).
  null = core.null,
  Error = Error,
  --- region -> endpoint, for reference.
  regions = regions.endpoints,
  reason_kind = results.reason_kind,
  summary = results.summary,
}

local QUERY_PATH = "/v5/%s/api/pipelines/batch-runs/result"
local RUN_PATH = "/v5/%s/api/pipelines/batch-runs"
local PAIR_FIELDS = { "pipeline_id", "pipeline_run_id" }

-- What a client must keep but never show: its key material and tokens
-- live here, out of the client table, so neither tostring nor a table
-- dump nor an error can reveal them.  The SK itself is kept only inside
-- the C signer's keyed HMAC state.
local private = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

--- Creates a client.  See README.md for the options; returns nil, err
-- (code INVALID_ARGUMENT) when one is wrong.
function M.new(opts)
  local cfg, secrets = config.build(opts)
  if not cfg then return nil, secrets end
  local priv = {
    creds = { ak = secrets.ak, security_token = secrets.security_token, token = secrets.token },
    redact = { secrets.sk, secrets.security_token, secrets.token },
    transport_config = cfg,
  }
  if secrets.sk then
    local signer, msg = core.signer(secrets.sk)
    if not signer then return nil, Error.new("INTERNAL", msg) end
    priv.creds.signer = signer
  end
  priv.skew = 0
  if not cfg.tls_verify then
    -- An escape hatch, and it must be loud: say so once, where it is made.
    io.stderr:write("codearts.batchresult: WARNING: TLS verification is OFF for ", cfg.endpoint,
      " (tls_verify = false): anyone on the path can read and change these requests\n")
  end
  priv.endpoint = { host = cfg.host, url_base = cfg.endpoint, project_id = cfg.project_id,
                    user_agent = cfg.user_agent }
  local self = setmetatable({
    endpoint = cfg.endpoint,
    region = cfg.region,
    project_id = cfg.project_id,
    user_agent = cfg.user_agent,
    batch_size = cfg.batch_size,
    concurrency = cfg.concurrency,
    max_retries = cfg.max_retries,
    _query_path = QUERY_PATH:format(cfg.project_id),
    _run_path = RUN_PATH:format(cfg.project_id),
  }, Client)
  private[self] = priv
  return self
end

function Client:__tostring()
  local priv = private[self]
  local auth
  if not priv then
    auth = "closed"
  elseif priv.creds.token then
    auth = "IAM token"
  else
    auth = "AK/SK, access key " .. priv.creds.ak:sub(1, 4) .. "…"
      .. (priv.creds.security_token and ", temporary" or "")
  end
  if priv and not priv.transport_config.tls_verify then auth = auth .. ", TLS verification OFF" end
  return ("codearts.batchresult client (%s, project %s, %s)"):format(self.endpoint, self.project_id, auth)
end


local function live(self)
  local priv = private[self]
  if not priv then error("codearts.batchresult: the client is closed", 2) end
  return priv
end

--- client:clock_skew() -> seconds by which the server's clock is ahead of
-- ours (negative when behind), as learnt from an APIGW.0303 answer; 0
-- until then.  Requests are signed with the corrected time.
function Client:clock_skew()
  return live(self).skew
end

-- Calls running asynchronously in Neovim: coroutine -> the function that
-- resumes it.  A transport made inside one of them yields instead of
-- blocking.
local async_resume = setmetatable({}, { __mode = "k" })

--- Whether this is nginx with ngx_lua (OpenResty or a distribution's).
local function in_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
end

--- The transport for one call, and whether the call owns it (and must
-- close it).  libcurl's is the client's own, kept between calls for its
-- connections; a call made while another is running on the same client
-- (from an on_progress, say) gets a fresh one, so the two never take each
-- other's answers.  In nginx, cosockets: per call, since nginx pools the
-- connections itself and calls of one shared client run side by side.
local function pick_transport(priv)
  local cfg = priv.transport_config
  local name = cfg.transport or (in_nginx() and "ngx") or "curl"
  local mod, t, kind, msg
  if name == "ngx" then
    mod = require "codearts.batchresult.transport.ngx"
    local ok, why = mod.available()
    if not ok then return nil, Error.new("UNSUPPORTED_CONTEXT", why) end
    t, kind, msg = mod.new(cfg)
  else
    local resume = async_resume[coroutine.running() or false]
    if resume then
      t, kind, msg = require("codearts.batchresult.transport.nvim").new(cfg, resume)
    elseif priv.busy or not priv.transport then
      t, kind, msg = require("codearts.batchresult.transport.curl").new(cfg)
      if t and not priv.busy then
        priv.transport = t
        return t, false
      end
    else
      return priv.transport, false
    end
  end
  if not t then return nil, Error.new(kind, msg) end
  return t, true
end

--- The INVALID_ARGUMENT error for item i of list (named what), from what
-- core.check_* reported.
local function item_error(what, list, i, field, problem, detail)
  local name = ("%s[%d]%s"):format(what, i, field and ("." .. field) or "")
  if problem == "missing" then return Error.invalid(name .. " is missing") end
  if not field and what == "pairs" then
    return Error.invalid(("%s must be a table, got %s"):format(name, detail))
  end
  local shown = detail
  if problem == "format" then
    local v = list[i]
    if field then v = v[field] end
    shown = ("%q"):format(v):gsub("\\?\n", "\\n")
  end
  return Error.invalid(("%s must be 32 letters or digits, got %s"):format(name, shown))
end

--- Checks that list is a non-empty array, then each item with check.
local function check_list(what, list, check)
  if type(list) ~= "table" then
    local shape = what == "pairs" and "{ pipeline_id = …, pipeline_run_id = … }" or "pipeline id strings"
    return Error.invalid(("%s must be an array of %s, got %s"):format(what, shape, type(list)))
  end
  if #list == 0 then return Error.invalid(what .. " is empty") end
  local ok, i, field, problem, detail = check(list)
  if not ok then return item_error(what, list, i, field, problem, detail) end
end

local BACKOFF_BASE, BACKOFF_CAP = 0.2, 10

--- Seconds to wait before attempt n+1 after attempt n failed with err:
-- the server's Retry-After (seconds, or an HTTP date) when it gave one,
-- else exponential backoff with full jitter; never over max_wait.
local function retry_delay(n, res, max_wait, now)
  local ra = res and res.retry_after
  local wait = ra and (tonumber(ra) or (exchange.http_time(ra) and exchange.http_time(ra) - now))
  if not wait then wait = math.random() * math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ^ (n - 1)) end
  return math.min(math.max(wait, 0), max_wait)
end

-- Headers as a logger may see them.
local SECRET_HEADERS = { Authorization = true, ["X-Security-Token"] = true, ["X-Auth-Token"] = true }
local function shown_headers(headers)
  local t = {}
  for k, v in pairs(headers) do t[k] = SECRET_HEADERS[k] and "[REDACTED]" or v end
  return t
end

--- Runs one call's items through the API in batches and gathers the
-- answers.  items are unique; find(answer) is the index of the item an
-- answer is for (or nil); spec says how: path, encode(batch) -> body, ids
-- (the string fields every answer must have), wrap(array), and
-- may_retry(err, not_sent) (whether a failed attempt may be sent again).
-- Returns the answers in the items' order with .missing (items whose batch
-- was answered without them), or nil, err with err.results (the same,
-- for what did arrive) and err.unanswered (items of failed batches).
local function gather(priv, t, items, find, o, spec)
  local cfg, logger = priv.transport_config, priv.transport_config.logger
  local n, size = #items, o.batch_size
  local deadline = o.deadline and core.now() + o.deadline
  local jobs = {}
  for first = 1, n, size do
    jobs[#jobs + 1] = { first = first, last = math.min(first + size - 1, n), attempts = 0 }
  end
  local found = {}
  local first_err, failed, done_items = nil, 0, 0

  local function build(job)
    local timeout
    if deadline then
      timeout = deadline - core.now()
      if timeout <= 0 then
        return nil, Error.new("TIMEOUT", ("the call's deadline of %gs passed"):format(o.deadline))
      end
    end
    local slice = {}
    for i = job.first, job.last do slice[#slice + 1] = items[i] end
    local req, err = exchange.build(priv.endpoint, priv.creds, spec.path, spec.encode(slice),
      os.time() + priv.skew)
    if not req then return nil, err end
    job.attempts, job.req, job.sent_at = job.attempts + 1, req, core.now()
    return req, timeout
  end

  -- An attempt ended: keep its answers, or decide whether to send it again.
  local function done(job, res, kind, msg, not_sent)
    local answers, err = exchange.outcome(res, kind, msg, spec.ids, priv.redact)
    local again
    if not answers then
      if err.code == "APIGW.0303" and priv.creds.signer and not job.skew_fixed and res and res.date then
        -- Signature expired: our clock is off.  Take the server's, once.
        local server = exchange.http_time(res.date)
        if server then
          priv.skew, job.skew_fixed, again = server - os.time(), true, 0
        end
      elseif job.attempts <= o.max_retries and spec.may_retry(err, not_sent) then
        again = retry_delay(job.attempts, res, cfg.max_retry_wait, os.time() + priv.skew)
        if deadline and core.now() + again >= deadline then again = nil end
      end
    end
    if logger and job.req then
      logger {
        method = job.req.method, url = job.req.url, headers = shown_headers(job.req.headers),
        status = res and res.status, request_id = (res and res.request_id) or (err and err.request_id),
        duration = core.now() - job.sent_at, attempt = job.attempts,
        error = err and tostring(err), retry_in = again,
      }
    end
    job.req = nil
    if again then return again end
    if answers then
      job.answered = true
      -- An answer for an item not asked for, or a second one for the
      -- same item, has no place in the result: the first one counts.
      for _, r in ipairs(answers) do
        local i = find(r)
        if i and not found[i] then found[i] = r end
      end
    else
      failed = failed + 1
      err.attempts = job.attempts
      first_err = first_err or err
    end
    done_items = done_items + (job.last - job.first + 1)
    if o.on_progress then o.on_progress(done_items, n) end
  end

  batch.run(t, jobs, o.concurrency, build, done)

  local out, missing, unanswered = {}, {}, {}
  for _, job in ipairs(jobs) do
    for i = job.first, job.last do
      if found[i] then
        out[#out + 1] = found[i]
      elseif job.answered then
        missing[#missing + 1] = items[i]
      else
        unanswered[#unanswered + 1] = items[i]
      end
    end
  end
  out = spec.wrap(out)
  out.missing = missing
  if first_err then
    first_err.results, first_err.unanswered = out, unanswered
    first_err.batches, first_err.failed_batches = #jobs, failed
    return nil, first_err
  end
  return out
end

--- The first occurrence of each pair of list, and a function giving the
-- index among them of the pair an answer is for.  Two levels of tables,
-- by pipeline id then run id, rather than joined keys: the ids are short
-- strings that Lua has already interned, and 10,000 joined keys would be
-- 10,000 new strings.
local function unique_pairs(list)
  local items, by_pipeline = {}, {}
  for _, p in ipairs(list) do
    local runs = by_pipeline[p.pipeline_id]
    if not runs then
      runs = {}
      by_pipeline[p.pipeline_id] = runs
    end
    if not runs[p.pipeline_run_id] then
      items[#items + 1] = p
      runs[p.pipeline_run_id] = #items
    end
  end
  return items, function(r)
    local runs = by_pipeline[r.pipeline_id]
    return runs and runs[r.pipeline_run_id]
  end
end

--- The first occurrence of each pipeline id, and the finder for answers.
local function unique_ids(list)
  local items, at = {}, {}
  for _, id in ipairs(list) do
    if not at[id] then
      items[#items + 1] = id
      at[id] = #items
    end
  end
  return items, function(r) return at[r.pipeline_id] end
end

local function plain(t) return t end

-- The two operations, as gather and the checks need them.
-- ShowBatchRunResult is a read: any failure that may pass is retried.
-- BatchRunPipeline starts pipelines: it is sent again only when the request
-- provably never reached the server, or a retry could start them twice.
local SHOW = { what = "pairs", check = core.check_query, unique = unique_pairs,
               path = "_query_path", encode = core.encode_query, wrap = results.wrap,
               may_retry = function(err) return err.retryable end }
local RUN = { what = "pipeline_ids", check = core.check_run, unique = unique_ids,
              path = "_run_path", encode = core.encode_run, wrap = plain,
              may_retry = function(_, not_sent) return not_sent == true end }

--- Runs body(), a call or two, in a coroutine driven by Neovim's event
-- loop, and hands what it returns to callback on the main loop.
local function async(callback, body)
  local nvim = require "codearts.batchresult.transport.nvim"
  if not nvim.available() then
    return nil, Error.invalid("the callback option needs Neovim's event loop (vim.uv or vim.loop)")
  end
  local vim = rawget(_G, "vim")
  local co
  local function resume()
    local ok, e = coroutine.resume(co)
    if not ok then
      vim.schedule(function() callback(nil, Error.new("INTERNAL", tostring(e))) end)
    end
  end
  co = coroutine.create(function()
    local results, err = body()
    vim.schedule(function() callback(results, err) end)
  end)
  async_resume[co] = resume
  resume()
  return true
end

--- A batched call of op for list: options and items checked before
-- anything is sent.  With opts.callback (Neovim), it returns true at once
-- and the answer goes to the callback.
local function call(self, op, list, opts)
  local priv = live(self)
  local o, oerr = config.call_options(opts, self)
  if not o then return nil, oerr end
  local err = check_list(op.what, list, op.check)
  if err then return nil, err end
  if o.callback then
    local callback = o.callback
    o.callback = nil
    return async(callback, function() return call(self, op, list, o) end)
  end
  local t, own = pick_transport(priv)
  if not t then return nil, own end
  local items, find = op.unique(list)
  if not own then priv.busy = true end
  local ok, results, gerr = pcall(gather, priv, t, items, find, o, {
    path = self[op.path], encode = op.encode, ids = PAIR_FIELDS, wrap = op.wrap,
    may_retry = op.may_retry,
  })
  if own then t:close() else priv.busy = false end
  if not ok then error(results, 0) end
  return results, gerr
end

--- client:query(pairs [, opts]) -> results, or nil, err.
-- Any number of pairs: de-duplicated, sent in batches of opts.batch_size,
-- opts.concurrency at a time, matched to the answers by their ids and
-- returned in the order each pair first appears.  See README.md.
function Client:query(list, opts)
  return call(self, SHOW, list, opts)
end

--- client:run(pipeline_ids [, opts]) -> runs, or nil, err.
-- Starts the pipelines (BatchRunPipeline).  runs is an array of
-- { pipeline_id, pipeline_run_id } in the order of pipeline_ids, with
-- .missing (pipeline ids the server did not start).  Batched, validated
-- and reported like query; err.unanswered lists pipeline ids.
function Client:run(ids, opts)
  return call(self, RUN, ids, opts)
end

--- client:run_and_query(pipeline_ids [, opts]) -> results, or nil, err.
-- Starts the pipelines, then asks how each run started.  results is what
-- query returns, with .not_started (pipeline ids the server did not
-- start).  On failure err.results holds the start results of the runs that
-- did start, and err.unanswered the pipeline ids that got no answer.
function Client:run_and_query(ids, opts)
  if type(opts) == "table" and opts.callback ~= nil then
    local rest = {}
    for k, v in pairs(opts) do if k ~= "callback" then rest[k] = v end end
    local o, oerr = config.call_options(opts, self)
    if not o then return nil, oerr end
    local err = check_list("pipeline_ids", ids, core.check_run)
    if err then return nil, err end
    return async(opts.callback, function() return self:run_and_query(ids, rest) end)
  end
  local runs, err = self:run(ids, opts)
  local started = runs or (err and err.results)
  if not started then return nil, err end
  local list = {}
  for i, r in ipairs(started) do list[i] = { pipeline_id = r.pipeline_id, pipeline_run_id = r.pipeline_run_id } end
  local res, qerr
  if #list > 0 then
    res, qerr = self:query(list, opts)
  else
    res = results.wrap({})
    res.missing = {}
  end
  if err then
    err.results = res or qerr.results
    err.results.not_started = started.missing
    return nil, err
  end
  if not res then
    qerr.results.not_started = runs.missing
    return nil, qerr
  end
  res.not_started = runs.missing
  return res
end

--- client:prepare(pairs) -> { method, url, headers, body }, fully signed,
-- or nil, err: the request query would send for these pairs in one batch.
-- Nothing is sent.
function Client:prepare(list)
  local priv = live(self)
  local err = check_list("pairs", list, core.check_query)
  if err then return nil, err end
  return exchange.build(priv.endpoint, priv.creds, self._query_path, core.encode_query(list),
    os.time() + priv.skew)
end

--- Frees the connections and the key material; the client is unusable
-- afterwards.  Also runs at the end of a Lua 5.4 <close> variable.
function Client:close()
  local priv = private[self]
  if not priv then return end
  if priv.transport then priv.transport:close() end
  if priv.creds.signer then priv.creds.signer:close() end
  private[self] = nil
end
Client.__close = Client.close

--- br.decode(body) -> results, or nil, err (code DECODE): the result set
-- of an answer obtained some other way, in the order of the answer.
function M.decode(body)
  if type(body) ~= "string" then
    return nil, Error.invalid("body must be a string, got " .. type(body))
  end
  local list, why = core.decode_results(body, PAIR_FIELDS[1], PAIR_FIELDS[2])
  if not list then return nil, Error.new("DECODE", why) end
  return results.wrap(list)
end

local SIGN_FIELDS = { method = "string", path = "string", query = "string", headers = "table",
                      body = "string", ak = "string", sk = "string" }

--- br.sign{ method, path, query, headers, body, ak, sk } -> authorization,
-- details, or nil, err.  Signs exactly the headers given (names holding
-- '_' excepted, as in the official SDKs); X-Sdk-Date must be among them.
-- details holds canonical_request, string_to_sign and signed_headers.
function M.sign(t)
  if type(t) ~= "table" then return nil, Error.invalid("sign takes a table, got " .. type(t)) end
  for k, v in pairs(t) do
    if not SIGN_FIELDS[k] then return nil, Error.invalid("sign: unknown field '" .. tostring(k) .. "'") end
    if type(v) ~= SIGN_FIELDS[k] then
      return nil, Error.invalid("sign: " .. k .. " must be a " .. SIGN_FIELDS[k] .. ", got " .. type(v))
    end
  end
  for _, k in ipairs({ "method", "path", "headers", "ak", "sk" }) do
    if t[k] == nil then return nil, Error.invalid("sign: " .. k .. " is required") end
  end
  if t.sk == "" then return nil, Error.invalid("sign: sk is empty") end
  local signer, msg = core.signer(t.sk)
  if not signer then return nil, Error.new("INTERNAL", msg) end
  local auth
  auth, msg = signer:sign(t.ak, t.method, t.path, t.query or "", t.headers, t.body or "")
  if not auth then
    signer:close()
    return nil, Error.invalid("sign: " .. msg)
  end
  local canonical, sts, signed = signer:last()
  signer:close()
  return auth, { canonical_request = canonical, string_to_sign = sts, signed_headers = signed }
end

return M
