-- Local stand-in for Huawei Cloud CodeArts Pipeline's ShowBatchRunResult
-- and BatchRunPipeline endpoints, for specs over real HTTP on loopback.
--
--   luajit spec/standin/server.lua --port 0 --ready-file FILE
--          [--host 127.0.0.1] [--watch-pid PID] [--verbose]
--          [--tls-cert FILE --tls-key FILE]
--
-- Needs lua-http, cqueues, luaossl and lua-cjson (Debian ships lua-http for
-- Lua 5.1-5.3; LuaJIT runs the 5.1 build fastest).  Once listening it writes the bound port to FILE
-- (atomically: FILE.tmp then rename).  With --watch-pid it exits within
-- about a second of that process going away.  With --tls-cert and
-- --tls-key (PEM files; the cert file may hold the chain after the leaf) it
-- serves HTTPS only, HTTP/1.1 only (see tls_context) unless told to
-- offer HTTP/2 (below).
--
-- API:      POST /v5/{project_id}/api/pipelines/batch-runs/result
--           POST /v5/{project_id}/api/pipelines/batch-runs
-- Control:  GET /_standin/stats, POST /_standin/reset,
--           GET|POST /_standin/config, GET /_standin/last,
--           GET|POST /_standin/h2, POST /_standin/one_per_conn   (no auth)
--
-- HTTP/2 (over TLS; off at the start and after a reset): POST
-- /_standin/h2 with {} makes the TLS handshakes after it offer h2 by ALPN
-- (connections made before keep their HTTP/1.1); with {"reset_run": CODE}
-- it also refuses every BatchRunPipeline request once it is read whole,
-- before any check: over HTTP/2 with RST_STREAM CODE (7 REFUSED_STREAM,
-- 13 HTTP_1_1_REQUIRED...), over HTTP/1.1, which has no streams, by closing
-- the connection as reset_first does.  That is a server that says it did not
-- take a request it has read, which only a client's not sending it again
-- keeps from starting the pipelines twice.  With {"cut_query": true} it
-- answers every ShowBatchRunResult request over HTTP/2 with a 200 of no
-- content-length and half a body, then RST_STREAM NO_ERROR (a stream
-- reset before its end, which libcurl 7.88 takes for the end).  Both
-- calls answer {"h2": true|false, "reset_run": CODE|null, "cut_query":
-- true|false}; /_standin/last's "version" says whether a request came over
-- HTTP "1.1" or "2".
--
-- One answer per connection (off at the start and after a reset): POST
-- /_standin/one_per_conn with {"on": true} answers the first API request
-- on each connection as usual, and reads any later one on it whole and
-- closes the connection without a byte of answer (a FIN), before every
-- fault mode below: a server that closes a kept-alive connection as a
-- request comes on it (RFC 9112 9.5 lets it close an idle one at any
-- time).  The stats tell what it dropped: requests - connections.  It
-- answers {"one_per_conn": true|false}.
--
-- Fault modes (config keys, all off by default and after a reset), for
-- specs of a client's retries and limits.  They apply to API requests
-- (anything not under /_standin/, whatever its credentials; with
-- fault_route "result" or "run", only to that route's; with fault_after N,
-- none of the first N since the reset), checked in this
-- order; each counter counts only the requests that reach its step, so a
-- request taken by one mode uses up no count of the later ones.  Every
-- request has been read whole (head and body) before any of them acts,
-- but the first:
--   0. early_first N     answer with banner (or banner_hex) as soon as the
--                        request's head is read, its body left unread, then
--                        close with an RST (SO_LINGER 0, as reset_first):
--                        a gateway that refuses a request on its head
--   1. reset_first N     close the connection without an answer (an RST
--                        where LuaJIT's FFI can set SO_LINGER 0, else a FIN)
--      banner_first N    answer with banner, bytes that are not HTTP (by
--                        default an SSH server's greeting line), then FIN
--                        (banner_hold_ms later: 0 by default); banner_hex,
--                        when set, gives those bytes in hex instead
--   2. fail_first N      answer fail_first_status (default 503), with
--                        Retry-After: retry_after when that is set
--      fail_each_first   (true) the same, to the first request of each
--                        distinct body, whatever came between: each batch
--                        fails once, however its attempts interleave
--   3. garbage_first N   answer 200 with a complete body that is not JSON
--      echo_first N      answer echo_status (default 401) with a body that
--                        quotes the request's credentials in echo_form: the
--                        X-Auth-Token and X-Security-Token sent, and the SK
--                        of the AK used (which the stand-in knows), for
--                        specs of a client's redaction (see echo_body)
--   4. the request is handled as usual (authentication, body, fail_ids...)
--   5. truncate_first N  of the answers that are 200s: send the head with
--                        the full Content-Length, half the body, then FIN
--      stall_body_first N  of the 200 answers the truncation left: send the
--                        head with the full Content-Length and half the
--                        body, wait stall_ms (default 1000), then the rest
--   6. huge_body_bytes   pad every 200 answer to at least that many bytes
--   7. stale_answer_first N  of the 200 answers sent whole: 100 ms after
--                        one, write a second answer nobody asked for on
--                        the same kept-alive connection (its statuses all
--                        STALE), as a server that answers twice, or says
--                        408 on an idle connection before closing it, does
-- Steps 0-3 stand for failures in front of the service, so nothing is
-- started; a run answer cut or stalled in step 5 has started its runs.  A
-- counter starts again from 0 at a reset and whenever a config call sets
-- its key.  delay_ms holds back every answer, the resets and banners
-- included, until that long after its request (early_first's: its head)
-- arrived: the stand-in's own work counts in it, as a service's would.

-- Find model.lua / verify.lua next to this file, whatever the cwd.
do
  local dir = (arg and arg[0] or ""):match("^(.*[/\\])") or "./"
  package.path = dir .. "?.lua;" .. package.path
end

-- A test server with a small heap: collect less often, so the collector
-- does not stall a whole wave of concurrent requests.
collectgarbage("setpause", 400)

local cqueues = require "cqueues"
local http_server = require "http.server"
local http_headers = require "http.headers"
local http_util = require "http.util"
local cjson = require "cjson"
local rand = require "openssl.rand"

local model = require "model"
local verify = require "verify"

local yieldable_pcall = http_util.yieldable_pcall

local function log(...)
  local parts = { os.date("!%Y-%m-%dT%H:%M:%SZ"), "standin:" }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  io.stderr:write(table.concat(parts, " "), "\n")
  io.stderr:flush()
end

---------------------------------------------------------------------------
-- Command line
---------------------------------------------------------------------------
local opts = { host = "127.0.0.1", port = "0" }
do
  local i = 1
  while arg and i <= #arg do
    local a = arg[i]
    local name = a:match("^%-%-([%w%-]+)$")
    if name == "verbose" then
      opts.verbose = true
      i = i + 1
    elseif not name or arg[i + 1] == nil then
      io.stderr:write("usage: server.lua --port N --ready-file FILE [--host H] [--watch-pid PID] [--verbose]"
        .. " [--tls-cert FILE --tls-key FILE]\n")
      os.exit(2)
    else
      opts[name] = arg[i + 1]
      i = i + 2
    end
  end
  if not opts["ready-file"] then
    io.stderr:write("server.lua: --ready-file is required\n")
    os.exit(2)
  end
  if (opts["tls-cert"] == nil) ~= (opts["tls-key"] == nil) then
    io.stderr:write("server.lua: --tls-cert and --tls-key go together\n")
    os.exit(2)
  end
end

-- Problems caused by the peer (bad HTTP, a client that went away) are
-- logged only with --verbose; the stand-in's own errors always are.
local function log_peer(...)
  if opts.verbose then
    log(...)
  end
end

---------------------------------------------------------------------------
-- Configuration: a table of defaults, each with a checker.  To add a mode,
-- add an entry here and read config.<name> where it applies.
---------------------------------------------------------------------------
local function is_number(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = #t
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or math.floor(k) ~= k then
      return false
    end
  end
  return true
end

-- A list of ids.  An empty JSON object decodes to the same empty table as
-- [], so {} is taken as the empty list too: the specs' cjson writes an
-- empty Lua table as {}.
local function is_id_list(v)
  if not is_array(v) then return false end
  for _, x in ipairs(v) do
    if not model.is_id(x) then return false end
  end
  return true
end

local function is_count(v) return is_number(v) and v >= 0 and math.floor(v) == v end

local function is_error_status(v) return is_number(v) and math.floor(v) == v and v >= 400 and v <= 599 end

local config_spec = {
  max_items = {
    default = 200,
    check = function(v) return is_number(v) and v >= 1 and math.floor(v) == v end,
    what = "a positive integer",
  },
  delay_ms = {
    default = 0,
    check = function(v) return is_number(v) and v >= 0 end,
    what = "a number >= 0",
  },
  clock_offset_s = {
    default = 0,
    check = is_number,
    what = "a number",
  },
  -- answer result items in model.shuffled order instead of request order
  shuffle = {
    default = false,
    check = function(v) return type(v) == "boolean" end,
    what = "true or false",
  },
  -- give every item of a 200 answer, of either API, one more member,
  -- request_authorization: the Authorization header its request carried,
  -- as a server that echoes the request into its answer would
  echo_authorization = {
    default = false,
    check = function(v) return type(v) == "boolean" end,
    what = "true or false",
  },
  -- leave out of the answer the items with these ids: pipeline_run_id for
  -- ShowBatchRunResult, pipeline_id for BatchRunPipeline
  omit = {
    default = {},
    check = is_id_list,
    what = "an array of ids (32 letters or digits)",
  },
  -- answer these pipelines with these names (an object, pipeline id ->
  -- name) instead of the model's: wide characters, quotes, commas
  names = {
    default = {},
    check = function(v)
      if type(v) ~= "table" then return false end
      for k, name in pairs(v) do
        if not model.is_id(k) or type(name) ~= "string" then return false end
      end
      return true
    end,
    what = "an object of pipeline ids to names",
  },
  -- add to every 200 answer these items ({ pipeline_id, pipeline_run_id }
  -- each) when its request did not ask for them, as a server answering
  -- for pairs it was not asked about: in ShowBatchRunResult's answers with
  -- the status and name FOREIGN, in BatchRunPipeline's as given
  foreign = {
    default = {},
    check = function(v)
      if not is_array(v) then return false end
      for _, x in ipairs(v) do
        if type(x) ~= "table" or not model.is_id(x.pipeline_id) or not model.is_id(x.pipeline_run_id) then
          return false
        end
      end
      return true
    end,
    what = "an array of objects with pipeline_id and pipeline_run_id",
  },
  -- answer a request carrying any of these ids (same kinds as omit) with
  -- fail_status, so a spec can fail chosen batches whatever their order
  fail_ids = {
    default = {},
    check = is_id_list,
    what = "an array of ids (32 letters or digits)",
  },
  fail_status = {
    default = 500,
    check = is_error_status,
    what = "an HTTP error status (400-599)",
  },
  -- Fault modes: see the top of this file for their order.
  reset_first = { default = 0, check = is_count, what = "an integer >= 0" },
  fail_first = { default = 0, check = is_count, what = "an integer >= 0" },
  fail_each_first = { default = false, check = function(v) return type(v) == "boolean" end, what = "true or false" },
  fail_first_status = {
    default = 503,
    check = is_error_status,
    what = "an HTTP error status (400-599)",
  },
  -- Retry-After for the planned failures (fail_first and fail_ids), sent as
  -- it is so that specs can try seconds, HTTP dates or nonsense; JSON null
  -- (cjson.null here) sends none.  Printable ASCII only: lua-http refuses
  -- to write a header value with a line break.
  retry_after = {
    default = cjson.null,
    check = function(v) return v == cjson.null or (type(v) == "string" and v:find("^[ -~]+$") ~= nil) end,
    what = "a non-empty string of printable ASCII, or null",
  },
  garbage_first = { default = 0, check = is_count, what = "an integer >= 0" },
  echo_first = { default = 0, check = is_count, what = "an integer >= 0" },
  echo_status = {
    default = 401,
    check = is_error_status,
    what = "an HTTP error status (400-599)",
  },
  echo_form = {
    default = "json",
    check = function(v)
      return v == "json" or v == "json_slash" or v == "json_u" or v == "percent" or v == "percent_lower"
        or v == "percent_one" or v == "html" or v == "truncated" or v == "upper" or v == "latin1"
        or v == "latin1_percent"
    end,
    what = 'one of "json", "json_slash", "json_u", "percent", "percent_lower", "percent_one", "html", "truncated",'
      .. ' "upper", "latin1", "latin1_percent"',
  },
  truncate_first = { default = 0, check = is_count, what = "an integer >= 0" },
  huge_body_bytes = { default = 0, check = is_count, what = "an integer >= 0" },
  banner_first = { default = 0, check = is_count, what = "an integer >= 0" },
  early_first = { default = 0, check = is_count, what = "an integer >= 0" },
  -- What banner_first and early_first write instead of an answer, as it
  -- is: by default the line an SSH server greets with; a spec may give an
  -- answer that begins as HTTP and breaks its framing (or its size).  Printable ASCII,
  -- tabs and line breaks, up to 256 KiB.
  banner = {
    default = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    check = function(v) return type(v) == "string" and #v <= 262144 and v:find("^[ -~\r\n\t]+$") ~= nil end,
    what = "a non-empty string of printable ASCII, tabs and line breaks, at most 262144 bytes",
  },
  -- The banner's bytes in hex, for bytes JSON text cannot carry (a gzip
  -- body's): when set, written instead of banner.
  banner_hex = {
    default = cjson.null,
    check = function(v)
      return v == cjson.null or (type(v) == "string" and #v > 0 and #v <= 524288 and #v % 2 == 0
        and v:find("^%x+$") ~= nil)
    end,
    what = "null, or an even number of hex digits, at most 524288",
  },
  banner_hold_ms = {
    default = 0,
    check = function(v) return is_number(v) and v >= 0 and v <= 60000 end,
    what = "a number of milliseconds from 0 to 60000",
  },
  stall_body_first = { default = 0, check = is_count, what = "an integer >= 0" },
  stale_answer_first = { default = 0, check = is_count, what = "an integer >= 0" },
  stall_ms = {
    default = 1000,
    check = function(v) return is_number(v) and v >= 0 and v <= 60000 end,
    what = "a number from 0 to 60000",
  },
  -- The fault modes take no request of the first fault_after API requests
  -- since the reset (a spec's first call goes through whole).
  fault_after = { default = 0, check = is_count, what = "an integer >= 0" },
  -- The route the fault modes take requests of: "result" (ShowBatchRunResult)
  -- or "run" (BatchRunPipeline); null: any API request.
  fault_route = {
    default = cjson.null,
    check = function(v) return v == cjson.null or v == "result" or v == "run" end,
    what = 'null, "result" or "run"',
  },
}

-- The counted fault modes: how many requests each has taken since its
-- count last started again (at a reset, or when a config call set it).
local FAULTS = { "early_first", "reset_first", "banner_first", "fail_first", "garbage_first", "echo_first",
  "truncate_first", "stall_body_first", "stale_answer_first" }
local fault_used = {}
for _, name in ipairs(FAULTS) do fault_used[name] = 0 end
-- fail_each_first's: the bodies of the requests it has failed.
local bodies_failed = {}

local config
local function default_config()
  local c = {}
  for k, s in pairs(config_spec) do
    local v = s.default
    if type(v) == "table" then
      -- a copy each time: a merged config must never share the defaults
      local copy = {}
      for i, x in ipairs(v) do copy[i] = x end
      v = copy
    end
    c[k] = v
  end
  return c
end
config = default_config()

-- Merge t into the config; all or nothing.  Returns true or nil, message.
local function merge_config(t)
  if type(t) ~= "table" then
    return nil, "config must be a JSON object"
  end
  for k, v in pairs(t) do
    local s = config_spec[k]
    if type(k) ~= "string" or not s then
      return nil, "unknown config key: " .. tostring(k)
    end
    if not s.check(v) then
      return nil, k .. " must be " .. s.what
    end
  end
  for k, v in pairs(t) do
    config[k] = v
    -- setting a count (even to its old value) starts it again, so that
    -- "the first N requests" means the first N after this call
    if fault_used[k] then fault_used[k] = 0 end
    if k == "fail_each_first" then bodies_failed = {} end
  end
  return true
end

---------------------------------------------------------------------------
-- Statistics
---------------------------------------------------------------------------
local stats
local seen_connections -- weak-keyed set of connections counted since reset
local last_request = nil
-- Runs BatchRunPipeline has started since the start or the last reset: the
-- n of model.run_id_for, so that specs can predict the ids after a reset.
local runs_started = 0
-- POST /_standin/h2's mode: nil (off), or { reset_run = code or nil,
-- cut_query = true or nil }.
local h2_mode
-- POST /_standin/one_per_conn's mode: true (on) or false.
local one_per_conn = false

local function reset_stats()
  stats = {
    connections = 0, -- distinct TCP connections that carried API requests
    requests = 0,    -- API requests (anything not under /_standin)
    ok = 0,          -- API requests answered 200 in full (not garbage_first's, not cut)
    in_flight = 0,   -- API requests being handled now
    max_in_flight = 0,
    statuses = {},   -- status code (string) -> count, API requests only
    runs = 0,          -- BatchRunPipeline requests answered 200 (cut ones too)
    run_pipelines = 0, -- pipeline ids those started (omitted ones are not)
    items = {},        -- per API request, in arrival order: its item count
    faults = {},       -- fault mode -> API requests it took (see FAULTS)
    -- API requests per route, on arrival (faults included): result
    -- (ShowBatchRunResult), run (BatchRunPipeline), other (any other path)
    routes = { result = 0, run = 0, other = 0 },
    -- stale_answer_first's second answers written out whole (the bytes
    -- are in the client's socket by then): what a spec waits for before
    -- its next call, rather than for a time
    stale_written = 0,
  }
  for _, name in ipairs(FAULTS) do
    stats.faults[name] = 0
    fault_used[name] = 0
  end
  bodies_failed = {}
  seen_connections = setmetatable({}, { __mode = "k" })
end
reset_stats()

---------------------------------------------------------------------------
-- Clock
---------------------------------------------------------------------------
local function server_time()
  return os.time() + (config.clock_offset_s or 0)
end

local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

local function http_date(t)
  local d = os.date("!*t", math.floor(t))
  return string.format("%s, %02d %s %04d %02d:%02d:%02d GMT",
    DAYS[d.wday], d.day, MONTHS[d.month], d.year, d.hour, d.min, d.sec)
end

---------------------------------------------------------------------------
-- JSON output with a fixed key order and '/' not escaped (lua-cjson 2.1.0
-- writes "\/").  Objects are written from { {key, value}, ... } lists.
---------------------------------------------------------------------------
local ORDERED = {}
local function obj(pairs_list) return setmetatable(pairs_list, ORDERED) end

-- JSON text written as it is: result items are built with one format
-- call each, which keeps a 100-item answer cheap enough that the
-- stand-in's own work does not hide a client's concurrency.
local RAW = {}
local function raw(text) return setmetatable({ text }, RAW) end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local byte = string.byte

-- Whether s needs no escaping, as ids and names do not.  A byte loop, not
-- a pattern: LuaJIT compiles the loop, and the answer of a 100-item batch
-- holds 500 strings.
local function plain(s)
  for i = 1, #s do
    local c = byte(s, i)
    if c < 32 or c == 34 or c == 92 or c == 127 then return false end
  end
  return true
end

local function json_string(s)
  if plain(s) then return '"' .. s .. '"' end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local json_encode
local function json_value(v, out)
  local ty = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif ty == "string" then
    out[#out + 1] = json_string(v)
  elseif ty == "number" then
    if math.floor(v) == v and math.abs(v) < 2^53 then
      out[#out + 1] = string.format("%d", v)
    else
      out[#out + 1] = string.format("%.17g", v)
    end
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  elseif ty == "table" and getmetatable(v) == RAW then
    out[#out + 1] = v[1]
  elseif ty == "table" and getmetatable(v) == ORDERED then
    out[#out + 1] = "{"
    for i, kv in ipairs(v) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = json_string(kv[1])
      out[#out + 1] = ":"
      json_value(kv[2], out)
    end
    out[#out + 1] = "}"
  elseif ty == "table" then
    -- plain tables: arrays if 1..n, else objects with sorted keys
    local n = #v
    local array = true
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "number" or k < 1 or k > n or math.floor(k) ~= k then
        array = false
      end
      keys[#keys + 1] = tostring(k)
    end
    if array then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        json_value(v[i], out)
      end
      out[#out + 1] = "]"
    else
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = json_string(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        json_value(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = json_string(tostring(v))
  end
end
json_encode = function(v)
  local out = {}
  json_value(v, out)
  return table.concat(out)
end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------
local function request_id()
  local b = rand.bytes(16)
  return (b:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- true for the first config[name] API requests that reach this fault
-- mode's step (see the top of this file), counting each one it takes.
local function take_fault(name, ctx)
  if config.fault_route ~= cjson.null and ctx.route ~= config.fault_route then
    return false
  end
  if ctx.number <= config.fault_after then
    return false
  end
  if fault_used[name] < config[name] then
    fault_used[name] = fault_used[name] + 1
    stats.faults[name] = stats.faults[name] + 1
    ctx.fault = name
    return true
  end
  return false
end

-- The padding string of huge_body_bytes, kept: a spec sends the same huge
-- answer many times, and string.rep of 20 MB is not free.
local padding_cache = { n = 0, s = "" }
local function padding(n)
  if padding_cache.n ~= n then
    padding_cache.n, padding_cache.s = n, string.rep("x", n)
  end
  return padding_cache.s
end

-- body (a JSON object's text) grown to at least n bytes by an extra string
-- member at the end: still valid JSON, with the same members as before, so
-- only a client's size limit can tell.
local PAD_NAME = ',"padding":"'
local function pad_to(body, n)
  if body:sub(-1) ~= "}" then
    return body
  end
  local fill = math.max(0, n - #body - #PAD_NAME - 1)
  return body:sub(1, -2) .. PAD_NAME .. padding(fill) .. '"}'
end

-- Close the connection of stream in the middle of its answer: lua-http's
-- own stream:shutdown does it for a body begun but not finished (state
-- "half closed (remote)" with body_write_type set): a FIN on the socket,
-- and the stream is closed, so the connection loop ends quietly.
local function cut(stream)
  return stream:shutdown()
end

-- Waits until delay_ms after the request arrived (config.delay_ms, read
-- when the request was taken on: ctx.delay_s).
local function hold_back(ctx)
  local left = (ctx.delay_s or 0) - (cqueues.monotime() - ctx.arrived)
  if left > 0 then cqueues.sleep(left) end
end

-- stale_answer_first: 100 ms from now, body again with every status
-- STALE, written straight to the connection's socket, behind the back of
-- lua-http, which goes on reading the connection's next request.
local function send_stale_later(stream, body)
  local sock = stream.connection and stream.connection.socket
  if not sock then return end
  local stale = body:gsub('"status":"[%w_]+"', '"status":"STALE"')
  cqueues.running():wrap(function()
    cqueues.sleep(0.1)
    local ok, err = sock:xwrite(("HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
      .. "Content-Length: %d\r\n\r\n%s"):format(#stale, stale), "bn")
    if ok then ok, err = sock:flush("n") end
    if ok then
      stats.stale_written = stats.stale_written + 1
    else
      log_peer("could not write the stale answer:", err)
    end
  end)
end

-- Send an answer; every answer carries X-Request-Id, Date, Content-Type.
-- body_value is JSON-encoded (raw() to send text as it is).  A 200 answer
-- to an API request is where huge_body_bytes and truncate_first apply.
local function respond(stream, status, body_value, ctx)
  local body = json_encode(body_value)
  local truncate, stall = false, false
  if ctx.api and status == 200 and not ctx.fault then
    if config.huge_body_bytes > #body then
      body = pad_to(body, config.huge_body_bytes)
    end
    truncate = take_fault("truncate_first", ctx)
    stall = not truncate and take_fault("stall_body_first", ctx)
    if not (truncate or stall) and take_fault("stale_answer_first", ctx) then
      send_stale_later(stream, body)
    end
  end
  hold_back(ctx)
  local h = http_headers.new()
  h:append(":status", tostring(status))
  h:append("content-type", "application/json;charset=UTF-8")
  h:append("content-length", tostring(#body))
  h:append("date", http_date(server_time()))
  h:append("x-request-id", ctx.request_id)
  if ctx.retry_after then
    h:append("retry-after", ctx.retry_after)
  end
  ctx.status = status
  ctx.responded = true
  local ok, err = stream:write_headers(h, false)
  if not ok then
    return nil, err
  end
  if truncate or stall then
    -- at least one byte short even for a tiny body, and at least one sent
    -- when there are two or more, so the client sees a body begun
    local n = math.floor(#body / 2)
    if n > 0 then
      ok, err = stream:write_chunk(body:sub(1, n), false)
      if not ok then
        return nil, err
      end
    end
    if truncate then
      return cut(stream)
    end
    cqueues.sleep(config.stall_ms / 1000)
    return stream:write_chunk(body:sub(n + 1), true)
  end
  return stream:write_chunk(body, true)
end

local function error_body(code, msg)
  return obj({ { "error_code", code }, { "error_msg", msg } })
end

local function fail(stream, ctx, status, code, msg)
  return respond(stream, status, error_body(code, msg), ctx)
end

local NOT_FOUND_MSG = "The API does not exist or has not been published in the environment"
local IAM = "Incorrect IAM authentication information: "

---------------------------------------------------------------------------
-- Authentication
---------------------------------------------------------------------------
local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- Returns true, or status, code, message.
local function authenticate(req)
  local h = req.headers_multi
  local token = first(h["x-auth-token"])
  if token ~= nil then
    if token == model.credentials.iam_token then
      return true
    end
    return 401, "APIGW.0301", IAM .. "verify token failed"
  end
  local authz = first(h["authorization"])
  if authz == nil then
    return 401, "DEV.00000001", "No credentials were recognised"
  end
  local auth, why = verify.parse_authorization(authz)
  if not auth then
    return 401, "APIGW.0301", IAM .. why
  end
  local signs_date, signs_token = false, false
  for _, n in ipairs(auth.signed_headers) do
    if n == "x-sdk-date" then signs_date = true end
    if n == "x-security-token" then signs_token = true end
  end
  if not signs_date then
    return 401, "APIGW.0301", IAM .. "SignedHeaders must include x-sdk-date"
  end
  local sdk_date = first(h["x-sdk-date"])
  local t = verify.parse_sdk_date(sdk_date)
  if not t then
    return 401, "APIGW.0301", IAM .. "X-Sdk-Date is missing or not in the format YYYYMMDDTHHMMSSZ"
  end
  local now = server_time()
  if math.abs(t - now) > 15 * 60 then
    return 401, "APIGW.0303", "Incorrect app authentication information: signature expired, signature time:"
      .. sdk_date .. ",server time:" .. verify.format_sdk_date(now)
  end
  local cred
  if auth.access == model.credentials.permanent.ak then
    cred = model.credentials.permanent
  elseif auth.access == model.credentials.temporary.ak then
    cred = model.credentials.temporary
  else
    return 401, "APIGW.0301", IAM .. "AK access failed"
  end
  if cred.security_token then
    local st = first(h["x-security-token"])
    if st == nil or st ~= cred.security_token then
      return 401, "APIGW.0301", IAM .. "verify security token failed"
    end
    if not signs_token then
      return 401, "APIGW.0301", IAM .. "x-security-token must be signed"
    end
  end
  local ok, cr = verify.verify {
    method = req.method,
    path = req.path,
    query = req.query,
    headers = h,
    body = req.body,
    authorization = auth,
    sk = cred.sk,
  }
  if not ok then
    return 401, "APIGW.0301", IAM .. "verify aksk signature fail, canonicalRequest: " .. (cr:gsub("\n", "|"))
  end
  return true
end

---------------------------------------------------------------------------
-- Body validation
---------------------------------------------------------------------------
local function invalid(what)
  return nil, "Invalid request body: " .. what
end

-- The array doc[name] of a request body, or nil, message.  Both routes
-- check their list the same way, so their messages read alike.
local function parse_list(req, name)
  local body = req.body
  if body == nil or body:match("^%s*$") then
    return invalid("body is empty")
  end
  local ok, doc
  if req.decoded ~= nil then
    ok, doc = req.decoded ~= false, req.decoded and req.decoded[1]
  else
    ok, doc = pcall(cjson.decode, body)
  end
  if not ok then
    return invalid("body is not valid JSON")
  end
  if type(doc) ~= "table" or (next(doc) ~= nil and is_array(doc)) then
    return invalid("body must be a JSON object")
  end
  local q = doc[name]
  if q == nil or q == cjson.null then
    return invalid(name .. " is required")
  end
  if type(q) ~= "table" or not is_array(q) then
    return invalid(name .. " must be an array")
  end
  if #q == 0 then
    return invalid(name .. " must not be empty")
  end
  if #q > config.max_items then
    return invalid(string.format("%s has %d items, at most %d are allowed", name, #q, config.max_items))
  end
  return q
end

-- ShowBatchRunResult: the list of query items, or nil, message.
local function parse_query(req)
  local q, err = parse_list(req, "query")
  if not q then
    return nil, err
  end
  local items = {}
  for i, item in ipairs(q) do
    local idx = i - 1 -- indexes in messages are 0-based, as in the JSON array
    if type(item) ~= "table" or (next(item) ~= nil and is_array(item)) then
      return invalid(string.format("query[%d] must be an object", idx))
    end
    for _, field in ipairs({ "pipeline_id", "pipeline_run_id" }) do
      local v = item[field]
      if v == nil or v == cjson.null then
        return invalid(string.format("query[%d].%s is required", idx, field))
      end
      if not model.is_id(v) then
        return invalid(string.format("query[%d].%s must be 32 letters or digits", idx, field))
      end
    end
    items[i] = { pipeline_id = item.pipeline_id, pipeline_run_id = item.pipeline_run_id }
  end
  return items
end

-- BatchRunPipeline: the list of pipeline ids, or nil, message.
local function parse_pipeline_ids(req)
  local list, err = parse_list(req, "pipeline_ids")
  if not list then
    return nil, err
  end
  local ids = {}
  for i, v in ipairs(list) do
    if not model.is_id(v) then
      return invalid(string.format("pipeline_ids[%d] must be 32 letters or digits", i - 1))
    end
    ids[i] = v
  end
  return ids
end

-- Statuses and reasons: a handful of distinct texts, each escaped once.
local json_texts = {}
local function json_text(s)
  local j = json_texts[s]
  if not j then
    j = json_string(s)
    json_texts[s] = j
  end
  return j
end

-- One result item.  The ids were checked to be 32 letters or digits, so
-- they need no escaping.  The answers are pure functions of the ids, so
-- each pair's is built once and kept: the stand-in's own work then stays
-- out of what a benchmark of the client measures.
local function result_json(r)
  return raw('{"pipeline_id":"' .. r.pipeline_id .. '","pipeline_name":' .. json_string(r.pipeline_name)
    .. ',"pipeline_run_id":"' .. r.pipeline_run_id .. '","status":' .. json_text(r.status)
    .. ',"reason":' .. (r.reason == nil and "null" or json_text(r.reason)) .. "}")
end

local answers = {} -- pipeline id -> run id -> result item
local function answer_for(pipeline_id, run_id)
  local name = config.names[pipeline_id]
  if name then
    local r = model.result_for(pipeline_id, run_id)
    r.pipeline_name = name
    return result_json(r)
  end
  local runs = answers[pipeline_id]
  if not runs then
    runs = {}
    answers[pipeline_id] = runs
  end
  local a = runs[run_id]
  if not a then
    a = result_json(model.result_for(pipeline_id, run_id))
    runs[run_id] = a
  end
  return a
end

---------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------
local RESULT_PATTERN = "^/v5/([^/]*)/api/pipelines/batch%-runs/result$"
local RUN_PATTERN = "^/v5/([^/]*)/api/pipelines/batch%-runs$"

-- Which API a path names: "result" (ShowBatchRunResult) or "run"
-- (BatchRunPipeline), and the project segment; nil for anything else.
local function route_of(path)
  local project = path:match(RESULT_PATTERN)
  if project then
    return "result", project
  end
  project = path:match(RUN_PATTERN)
  if project then
    return "run", project
  end
  return nil
end

-- How many items an API request carries: the length of its query or
-- pipeline_ids array, 0 when it has none.  Counted on arrival, before any
-- check, so that specs see the size of every batch a client sent.
local function count_items(req)
  local route = route_of(req.path)
  local name = (route == "result" and "query") or (route == "run" and "pipeline_ids")
  if not name then
    return 0
  end
  local ok, doc = pcall(cjson.decode, req.body or "")
  req.decoded = ok and { doc } or false -- kept, so the handler need not parse again
  if not ok or type(doc) ~= "table" or not is_array(doc[name]) then
    return 0
  end
  return #doc[name]
end

local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

-- A failure fail_ids or fail_first asks for: status, code, message as the
-- gateway or the service would answer it.  why ends the message, so that a
-- log shows the failure was planned.  Marks ctx for Retry-After.
local ON_PURPOSE = " (stand-in: failing this batch on purpose)"
local FIRST_ON_PURPOSE = " (stand-in: failing the first requests on purpose)"
local function planned_failure(ctx, status, why)
  if config.retry_after ~= cjson.null then
    ctx.retry_after = config.retry_after
  end
  if status == 429 then
    return status, "APIGW.0308", "The throttling threshold has been reached"
  elseif status == 500 or status == 502 or status == 503 or status == 504 then
    return status, "DEVPIPE.00000500", "Internal server error" .. why
  end
  return status, string.format("DEVPIPE.%08d", status), "Request failed" .. why
end

-- true when any of ids is in config.fail_ids.
local function must_fail(ids)
  if #config.fail_ids == 0 then
    return false
  end
  local set = set_of(config.fail_ids)
  for _, id in ipairs(ids) do
    if set[id] then return true end
  end
  return false
end

-- The answer's items, in request order or shuffled.  The shuffle is seeded
-- with the request's ids, so the same request is always answered alike.
local function arrange(results, ids)
  if config.shuffle then
    return model.shuffled(results, table.concat(ids, ","))
  end
  return results
end

-- config.foreign's items that ids (the request's, of the kind key names)
-- do not hold, each made by make(item), added to results.
local function add_foreign(results, ids, key, make)
  local asked = set_of(ids)
  for _, f in ipairs(config.foreign) do
    if not asked[f[key]] then results[#results + 1] = make(f) end
  end
end

-- items, each with the request's Authorization when config.echo_authorization
-- says so.
local function echoed(items, req)
  if not config.echo_authorization then return items end
  local member = ',"request_authorization":' .. json_string(first(req.headers_multi["authorization"]) or "") .. "}"
  local out = {}
  for i, item in ipairs(items) do out[i] = raw(json_encode(item):sub(1, -2) .. member) end
  return out
end

local function answer_result(stream, req, ctx)
  local items, err = parse_query(req)
  if not items then
    return fail(stream, ctx, 400, "DEVPIPE.00011001", err)
  end
  local ids = {}
  for i, q in ipairs(items) do ids[i] = q.pipeline_run_id end
  if must_fail(ids) then
    return fail(stream, ctx, planned_failure(ctx, config.fail_status, ON_PURPOSE))
  end
  local omit = set_of(config.omit)
  local results = {}
  for _, q in ipairs(items) do
    if not omit[q.pipeline_run_id] then
      results[#results + 1] = answer_for(q.pipeline_id, q.pipeline_run_id)
    end
  end
  add_foreign(results, ids, "pipeline_run_id", function(f)
    return result_json { pipeline_id = f.pipeline_id, pipeline_name = "FOREIGN", pipeline_run_id = f.pipeline_run_id,
                         status = "FOREIGN" }
  end)
  return respond(stream, 200, obj({ { "result", echoed(arrange(results, ids), req) } }), ctx)
end

local function answer_run(stream, req, ctx)
  local ids, err = parse_pipeline_ids(req)
  if not ids then
    return fail(stream, ctx, 400, "DEVPIPE.00011001", err)
  end
  if must_fail(ids) then
    return fail(stream, ctx, planned_failure(ctx, config.fail_status, ON_PURPOSE))
  end
  local omit = set_of(config.omit)
  local results = {}
  for _, id in ipairs(ids) do
    -- an omitted pipeline is taken as not started: it uses up no run number
    if not omit[id] then
      runs_started = runs_started + 1
      results[#results + 1] = obj({
        { "pipeline_id", id },
        { "pipeline_run_id", model.run_id_for(id, runs_started) },
      })
    end
  end
  ctx.started = #results
  add_foreign(results, ids, "pipeline_id", function(f)
    return obj({ { "pipeline_id", f.pipeline_id }, { "pipeline_run_id", f.pipeline_run_id } })
  end)
  return respond(stream, 200, obj({ { "result", echoed(arrange(results, ids), req) } }), ctx)
end

-- SO_LINGER with a zero timeout, so that closing the socket sends an RST
-- instead of a FIN: cqueues has no setsockopt, so LuaJIT's FFI does it.
-- Returns a function(fd) -> true, or nil where that cannot be done (another
-- Lua, or a system whose constants are not Linux's).
local set_linger_zero
do
  local ok, ffi = pcall(require, "ffi")
  if ok and ffi.os == "Linux" and not ffi.arch:find("^mips") then
    local SOL_SOCKET, SO_LINGER = 1, 13 -- Linux, all but MIPS
    ok = pcall(ffi.cdef, [[
      struct standin_linger { int l_onoff; int l_linger; };
      int setsockopt(int sockfd, int level, int optname, const void *optval, unsigned int optlen);
    ]])
    if ok then
      set_linger_zero = function(fd)
        local l = ffi.new("struct standin_linger", 1, 0)
        return ffi.C.setsockopt(fd, SOL_SOCKET, SO_LINGER, l, ffi.sizeof(l)) == 0
      end
    end
  end
end

-- The connection's raw socket, taken from lua-http for a fault mode that
-- writes no HTTP answer, once delay_ms has passed (as it would for an
-- answer); nil when lua-http has none left.  take_socket closes the
-- stream, and the connection loop then finds no socket and ends, so
-- nothing of lua-http writes to it or closes it again.
local function raw_socket(stream, ctx)
  hold_back(ctx)
  ctx.responded = true -- what the mode does is the answer: run_handler must not send one
  return stream.connection:take_socket()
end

-- Closes sock with an RST where SO_LINGER 0 can be set, else a FIN.
local function close_with_reset(sock)
  if set_linger_zero then
    local fd = sock:pollfd()
    if not (fd and fd >= 0 and set_linger_zero(fd)) then
      log_peer("could not set SO_LINGER; closing with a FIN")
    end
  end
  sock:close()
end

-- reset_first: drop the connection without a byte of answer.  With
-- SO_LINGER 0 the close is an RST (curl: "Connection reset by peer"), else
-- a FIN ("Empty reply from server").
local function reset_connection(stream, ctx)
  local sock = raw_socket(stream, ctx)
  if not sock then
    return
  end
  close_with_reset(sock)
end

-- one_per_conn: close the connection without a byte of answer, with a FIN
-- (the request was read whole, so nothing unread makes it an RST).
local function drop_connection(stream, ctx)
  local sock = raw_socket(stream, ctx)
  if sock then sock:close() end
end

-- /_standin/h2's reset_run: over HTTP/2 the stream is reset, its connection
-- left open for the next (a refused stream, not a broken connection).
local function refuse_run(stream, ctx)
  if stream.connection.version ~= 2 then
    return reset_connection(stream, ctx)
  end
  hold_back(ctx)
  ctx.responded = true -- the reset is the answer: run_handler must not send one
  return stream:write_rst_stream_frame(h2_mode.reset_run, 10)
end

-- /_standin/h2's cut_query: over HTTP/2, a 200 with half a body, then the
-- stream reset with NO_ERROR.
local function cut_query(stream, ctx)
  hold_back(ctx)
  ctx.responded = true
  local h = http_headers.new()
  h:append(":status", "200")
  h:append("content-type", "application/json;charset=UTF-8")
  assert(stream:write_headers(h, false))
  assert(stream:write_chunk('{"result":[{"pipeline_id":"', false))
  return stream:write_rst_stream_frame(0, 10)
end

-- Writes config.banner (or banner_hex's bytes) to sock.
local function write_banner(sock)
  local banner = config.banner
  if config.banner_hex ~= cjson.null then
    banner = config.banner_hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  end
  local ok, err = sock:xwrite(banner, "bn")
  if ok then
    ok, err = sock:flush("n")
  end
  if not ok then
    log_peer("could not write the banner:", err)
  end
end

-- banner_first: write config.banner, then, banner_hold_ms later, close
-- with a FIN.  The request was read whole, so nothing unread turns the
-- close into an RST.
local function send_banner(stream, ctx)
  local sock = raw_socket(stream, ctx)
  if not sock then
    return
  end
  write_banner(sock)
  if config.banner_hold_ms > 0 then cqueues.sleep(config.banner_hold_ms / 1000) end
  sock:close()
end

-- early_first: write config.banner while the client may still be sending
-- the body, which is never read, and close with an RST: the client's send
-- then fails, the answer already in its socket.  (A handler, as
-- run_handler calls it: the request, unread, is not looked at.)
local function answer_early(stream, _, ctx)
  local sock = raw_socket(stream, ctx)
  if not sock then
    return
  end
  write_banner(sock)
  close_with_reset(sock)
end

-- garbage_first's bodies, taken in turn: JSON cut in the middle of a
-- member, then a proxy's HTML page.  Both are complete, correctly framed
-- 200 answers; only a JSON decoder can tell.
local GARBAGE = {
  '{"result":[{"pipeline_id":',
  "<html><head><title>oops</title></head><body>oops</body></html>",
}

-- The credentials a request carried, as a gateway could quote them: its
-- tokens, and the SK of its AK (the stand-in knows every SK it accepts).
local function credentials_of(req)
  local h, found = req.headers_multi, {}
  found[#found + 1] = first(h["x-auth-token"])
  found[#found + 1] = first(h["x-security-token"])
  local auth = verify.parse_authorization(first(h["authorization"]) or "")
  for _, cred in pairs({ model.credentials.permanent, model.credentials.temporary }) do
    if auth and auth.access == cred.ak then found[#found + 1] = cred.sk end
  end
  -- last, the Authorization header whole: its signature would let anyone
  -- send the request again
  found[#found + 1] = first(h["authorization"])
  return found
end

-- Each byte of s as the given printf format writes it ("%%%02X", "\\u%04x", …).
local function each_byte(s, fmt)
  return (s:gsub(".", function(c) return fmt:format(c:byte()) end))
end

-- echo_first's body: the credentials of req quoted in config.echo_form:
--   json           a JSON error whose error_msg holds them as they are
--   json_slash     the same, written by hand with every "/" as "\/"
--   json_u         the same, every byte of them as \u00XX
--   percent        every byte as %XX (percent_lower: %xx), in the message
--   percent_one    one byte as %XX, the 11th from the end (inside the
--                  signature of an Authorization header), the rest as is
--   html           an HTML page (not JSON), a credential starting 150
--                  bytes in, so that a client's 200-byte snippet would cut it
--   truncated      the first 24 bytes of each, and "..."
--   latin1         each byte past ASCII as the UTF-8 of the Latin-1
--                  character it is, as a server that read the header as
--                  Latin-1 writes it out (json_u is that server's
--                  json.dumps); latin1_percent: that UTF-8 as %XX
local function echo_body(req)
  local form, quoted = config.echo_form, {}
  for i, c in ipairs(credentials_of(req)) do
    if form == "json_slash" then
      quoted[i] = c:gsub("/", "\\/")
    elseif form == "json_u" then
      quoted[i] = each_byte(c, "\\u%04x")
    elseif form == "percent" then
      quoted[i] = each_byte(c, "%%%02X")
    elseif form == "percent_lower" then
      quoted[i] = each_byte(c, "%%%02x")
    elseif form == "percent_one" then
      local at = math.max(1, #c - 10)
      quoted[i] = c:sub(1, at - 1) .. each_byte(c:sub(at, at), "%%%02X") .. c:sub(at + 1)
    elseif form == "latin1" or form == "latin1_percent" then
      quoted[i] = c:gsub("[\128-\255]", function(ch)
        local b = ch:byte()
        local utf8 = string.char(0xC0 + math.floor(b / 64), 0x80 + b % 64)
        return form == "latin1" and utf8 or each_byte(utf8, "%%%02X")
      end)
    elseif form == "truncated" then
      quoted[i] = c:sub(1, 24) .. "..."
    elseif form == "upper" then
      quoted[i] = c:upper()
    else
      quoted[i] = c
    end
  end
  local said = "the request carried " .. table.concat(quoted, " and ")
  if form == "html" then
    return raw("<html><head><title>401 Unauthorized</title></head><body><p>" .. ("x"):rep(100)
      .. "</p><p>" .. said .. "</p>" .. ("<p>padding</p>"):rep(30) .. "</body></html>")
  end
  if form == "json" or form == "truncated" or form == "upper" then
    return error_body("APIGW.0301", IAM .. said)
  end
  -- escaped by hand: json_string would escape the backslashes again
  return raw('{"error_code":"APIGW.0301","error_msg":"' .. IAM .. said .. '"}')
end

local function handle_api(stream, req, ctx)
  -- The answer is worked out at once and held back delay_ms (see
  -- respond), so concurrent requests wait side by side, not in turn.
  ctx.delay_s = config.delay_ms / 1000
  ctx.route = route_of(req.path) or "other"
  if h2_mode and h2_mode.reset_run and ctx.route == "run" then
    return refuse_run(stream, ctx)
  end
  if h2_mode and h2_mode.cut_query and ctx.route == "result" and stream.connection.version == 2 then
    return cut_query(stream, ctx)
  end
  if one_per_conn and ctx.reused then
    return drop_connection(stream, ctx)
  end
  -- The fault modes in front of the service, in their documented order.
  if take_fault("reset_first", ctx) then
    return reset_connection(stream, ctx)
  end
  if take_fault("banner_first", ctx) then
    return send_banner(stream, ctx)
  end
  if take_fault("fail_first", ctx) then
    return fail(stream, ctx, planned_failure(ctx, config.fail_first_status, FIRST_ON_PURPOSE))
  end
  if config.fail_each_first and not bodies_failed[req.body] then
    bodies_failed[req.body] = true
    return fail(stream, ctx, planned_failure(ctx, config.fail_first_status, FIRST_ON_PURPOSE))
  end
  if take_fault("garbage_first", ctx) then
    local n = fault_used.garbage_first
    return respond(stream, 200, raw(GARBAGE[(n - 1) % #GARBAGE + 1]), ctx)
  end
  if take_fault("echo_first", ctx) then
    return respond(stream, config.echo_status, echo_body(req), ctx)
  end
  local route, project = route_of(req.path)
  if req.method ~= "POST" or not route or not model.is_id(project) then
    return fail(stream, ctx, 404, "APIG.0101", NOT_FOUND_MSG)
  end
  local status, code, msg = authenticate(req)
  if status ~= true then
    return fail(stream, ctx, status, code, msg)
  end
  local xp = first(req.headers_multi["x-project-id"])
  if xp ~= nil and xp ~= project then
    return fail(stream, ctx, 400, "DEVPIPE.00011002", "X-Project-Id does not match the project in the path")
  end
  if route == "result" then
    return answer_result(stream, req, ctx)
  end
  return answer_run(stream, req, ctx)
end

local function config_json()
  local keys = {}
  for k in pairs(config) do keys[#keys + 1] = k end
  table.sort(keys)
  local o = {}
  for _, k in ipairs(keys) do o[#o + 1] = { k, config[k] } end
  return obj(o)
end

local function h2_json()
  return obj({ { "h2", h2_mode ~= nil }, { "reset_run", h2_mode and h2_mode.reset_run or cjson.null },
    { "cut_query", h2_mode and h2_mode.cut_query or false } })
end

-- POST /_standin/h2 (see the top of this file): all or nothing, as config.
local function set_h2(stream, req, ctx)
  local ok, t = pcall(cjson.decode, req.body ~= "" and req.body or "{}")
  if not ok or type(t) ~= "table" then
    return fail(stream, ctx, 400, "STANDIN.H2", "the body must be a JSON object")
  end
  for k, v in pairs(t) do
    if k ~= "reset_run" and k ~= "cut_query" then
      return fail(stream, ctx, 400, "STANDIN.H2", "unknown key: " .. tostring(k))
    end
    if k == "cut_query" and type(v) ~= "boolean" then
      return fail(stream, ctx, 400, "STANDIN.H2", "cut_query must be true or false")
    end
    if k == "reset_run" and v ~= cjson.null and not (is_count(v) and v <= 0xffffffff) then
      return fail(stream, ctx, 400, "STANDIN.H2", "reset_run must be an HTTP/2 error code (0 to 4294967295) or null")
    end
  end
  h2_mode = { reset_run = t.reset_run ~= cjson.null and t.reset_run or nil, cut_query = t.cut_query or nil }
  return respond(stream, 200, h2_json(), ctx)
end

-- POST /_standin/one_per_conn (see the top of this file).
local function set_one_per_conn(stream, req, ctx)
  local ok, t = pcall(cjson.decode, req.body)
  if not ok or type(t) ~= "table" or type(t.on) ~= "boolean" then
    return fail(stream, ctx, 400, "STANDIN.ONE_PER_CONN", 'the body must be {"on": true} or {"on": false}')
  end
  one_per_conn = t.on
  return respond(stream, 200, obj({ { "one_per_conn", one_per_conn } }), ctx)
end

-- A table's members as { name, value } pairs sorted by name, for obj().
local function sorted_members(t)
  local out = {}
  for k, v in pairs(t) do out[#out + 1] = { k, v } end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

local function handle_control(stream, req, ctx)
  local p, m = req.path, req.method
  if p == "/_standin/stats" and m == "GET" then
    return respond(stream, 200, obj({
      { "connections", stats.connections },
      { "requests", stats.requests },
      { "ok", stats.ok },
      { "in_flight", stats.in_flight },
      { "max_in_flight", stats.max_in_flight },
      { "statuses", obj(sorted_members(stats.statuses)) },
      { "runs", stats.runs },
      { "run_pipelines", stats.run_pipelines },
      { "items", stats.items },
      { "faults", obj(sorted_members(stats.faults)) },
      { "routes", obj(sorted_members(stats.routes)) },
      { "stale_written", stats.stale_written },
    }), ctx)
  elseif p == "/_standin/reset" and m == "POST" then
    reset_stats()
    config = default_config()
    last_request = nil
    runs_started = 0
    h2_mode = nil
    one_per_conn = false
    return respond(stream, 200, obj({ { "reset", true } }), ctx)
  elseif p == "/_standin/config" and (m == "POST" or m == "PUT") then
    local ok, t = pcall(cjson.decode, req.body ~= "" and req.body or "{}")
    if not ok then
      return fail(stream, ctx, 400, "STANDIN.CONFIG", "config body is not valid JSON")
    end
    if type(t) == "table" and next(t) == nil then t = {} end
    local merged, why = merge_config(t)
    if not merged then
      return fail(stream, ctx, 400, "STANDIN.CONFIG", why)
    end
    return respond(stream, 200, config_json(), ctx)
  elseif p == "/_standin/config" and m == "GET" then
    return respond(stream, 200, config_json(), ctx)
  elseif p == "/_standin/last" and m == "GET" then
    if not last_request then
      return respond(stream, 200, cjson.null, ctx)
    end
    return respond(stream, 200, obj({
      { "method", last_request.method },
      { "path", last_request.path },
      { "query", last_request.query },
      { "headers", obj(sorted_members(last_request.headers)) },
      { "body", last_request.body },
      { "version", last_request.version },
    }), ctx)
  elseif p == "/_standin/h2" and m == "POST" then
    return set_h2(stream, req, ctx)
  elseif p == "/_standin/h2" and m == "GET" then
    return respond(stream, 200, h2_json(), ctx)
  elseif p == "/_standin/one_per_conn" and m == "POST" then
    return set_one_per_conn(stream, req, ctx)
  end
  return fail(stream, ctx, 404, "STANDIN.NOT_FOUND", "no such control endpoint: " .. m .. " " .. p)
end

-- Give up on a stream whose request body could not be read whole (the peer
-- closed mid-body): close it without an answer.
-- lua-http 0.4 quirk: left "open", http.server's stream:shutdown() would spin
-- forever in step(0) once the peer has gone, hanging the whole server.
local function abandon(stream)
  stream.close_when_done = true
  if stream.state == "open" or stream.state == "half closed (local)" then
    local ok, err = pcall(stream.set_state, stream, "closed")
    if not ok then
      log("could not close stream:", err)
    end
  end
end

-- The request record from its head: its body is read_body's to read.
local function read_head(stream)
  local headers, err = stream:get_headers()
  if not headers then
    -- malformed HTTP: lua-http answers a bare 400 itself on shutdown
    return nil, err
  end
  local method = headers:get(":method")
  local target = headers:get(":path") or ""
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  path, query = path or target, query or ""
  -- headers: lower-case name -> value(s); lua-http moves Host to :authority
  local multi, single = {}, {}
  for name, value in headers:each() do
    if name == ":authority" then
      name = "host"
    end
    if name:sub(1, 1) ~= ":" then
      local cur = multi[name]
      if cur == nil then
        multi[name] = value
        single[name] = value
      else
        if type(cur) ~= "table" then
          cur = { cur }
          multi[name] = cur
        end
        cur[#cur + 1] = value
        single[name] = single[name] .. ", " .. value
      end
    end
  end
  return {
    method = method,
    path = path,
    query = query,
    headers_multi = multi,
    headers = single,
    expects_continue = (headers:get("expect") or ""):lower() == "100-continue",
  }
end

-- Reads the body of req (read_head's) into req.body: req, or nil, message.
local function read_body(stream, req)
  if req.expects_continue then
    stream:write_continue()
  end
  local body, berr = stream:get_body_as_string(30)
  if not body or stream.state == "open" then
    -- "open" here means the body ended early (EOF before Content-Length)
    abandon(stream)
    return nil, berr or "connection closed before the whole body was received"
  end
  req.body = body
  return req
end


-- Runs a handler; a bug in it is logged and answered with a 500, never
-- left to take the server down.
local function run_handler(what, handler, stream, req, ctx)
  local ok, e = yieldable_pcall(handler, stream, req, ctx)
  if not ok then
    log(what .. " handler error:", e)
    if not ctx.responded then
      yieldable_pcall(fail, stream, ctx, 500, "STANDIN.INTERNAL", "internal error")
    end
  end
end

-- Counts an API request in the stats as it arrives: the stats it counts
-- in, which a reset during the request replaces.
local function count_arrival(stream, req, ctx)
  ctx.api = true
  local conn = stream.connection
  ctx.reused = conn and seen_connections[conn] -- it carried an API request before (one_per_conn)
  if conn and not seen_connections[conn] then
    seen_connections[conn] = true
    stats.connections = stats.connections + 1
  end
  stats.requests = stats.requests + 1
  ctx.number = stats.requests -- its number among the API requests since the reset (fault_after)
  stats.in_flight = stats.in_flight + 1
  if stats.in_flight > stats.max_in_flight then
    stats.max_in_flight = stats.in_flight
  end
  local my_stats = stats -- a reset during the request must not go negative
  stats.items[#stats.items + 1] = count_items(req)
  local route = route_of(req.path) or "other"
  stats.routes[route] = stats.routes[route] + 1
  local version = conn and conn.version or 1.1
  last_request = {
    method = req.method, path = req.path, query = req.query,
    headers = req.headers, body = req.body,
    version = version == 2 and "2" or ("%.1f"):format(version),
  }
  return my_stats
end

-- early_first, for an API request whose head alone is read: true when it
-- took the request (and answered it), false when the request goes on.
local function answered_early(stream, req, ctx)
  ctx.route = route_of(req.path) or "other"
  ctx.number = stats.requests + 1 -- as count_arrival numbers it
  if not take_fault("early_first", ctx) then
    return false
  end
  ctx.arrived, ctx.delay_s = cqueues.monotime(), config.delay_ms / 1000
  local my_stats = count_arrival(stream, req, ctx)
  run_handler("API", answer_early, stream, req, ctx)
  my_stats.in_flight = my_stats.in_flight - 1
  return true
end

local function onstream(_, stream)
  local ctx = { request_id = request_id() }
  local req, err = read_head(stream)
  local api = req and req.path:sub(1, 10) ~= "/_standin/"
  if api and answered_early(stream, req, ctx) then
    return
  end
  if req then
    req, err = read_body(stream, req)
  end
  ctx.arrived = cqueues.monotime()
  if not req then
    log_peer("could not read request:", err)
    return
  end
  if not api then
    run_handler("control", handle_control, stream, req, ctx)
    return
  end
  local my_stats = count_arrival(stream, req, ctx)
  run_handler("API", handle_api, stream, req, ctx)
  my_stats.in_flight = my_stats.in_flight - 1
  if ctx.status then
    local k = tostring(ctx.status)
    my_stats.statuses[k] = (my_stats.statuses[k] or 0) + 1
    -- a garbage or cut 200 is not an answer; runs a cut answer started are
    -- still counted, since they were started
    if ctx.status == 200 and ctx.fault == nil then
      my_stats.ok = my_stats.ok + 1
    end
    if ctx.status == 200 and ctx.started then
      my_stats.runs = my_stats.runs + 1
      my_stats.run_pipelines = my_stats.run_pipelines + ctx.started
    end
  end
end

---------------------------------------------------------------------------
-- Main
---------------------------------------------------------------------------
local cq = cqueues.new()

-- The TLS handshake's ALPN choice: none (so the client speaks HTTP/1.1)
-- unless /_standin/h2 asked for HTTP/2 and the client offers h2.
local function alpn_select(_, protos)
  if not h2_mode then return nil end
  for _, proto in ipairs(protos) do
    if proto == "h2" then return proto end
  end
  return nil
end

-- The server's TLS context from PEM files: the first certificate in
-- cert_file is the server's, any after it its chain.  http.tls's server
-- defaults (its cipher list and options), and no ALPN answer unless
-- /_standin/h2 asks for one: without it clients speak HTTP/1.1, so no
-- client negotiates h2 and the fault modes look the same as over plain
-- HTTP.  Returns ctx, or nil, message.
local function tls_context(cert_file, key_file)
  local http_tls = require "http.tls"
  local x509 = require "openssl.x509"
  local x509_chain = require "openssl.x509.chain"
  local pkey = require "openssl.pkey"
  local function slurp(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local s = f:read("*a")
    f:close()
    return s
  end
  local cert_pem, cerr = slurp(cert_file)
  if not cert_pem then return nil, cerr end
  local key_pem, kerr = slurp(key_file)
  if not key_pem then return nil, kerr end
  local ok, ctx_or_err = pcall(function()
    local ctx = http_tls.new_server_context()
    local chain
    local n = 0
    for block in cert_pem:gmatch("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-") do
      n = n + 1
      local crt = x509.new(block, "PEM")
      if n == 1 then
        assert(ctx:setCertificate(crt))
      else
        chain = chain or x509_chain.new()
        chain:add(crt)
      end
    end
    if n == 0 then
      error(cert_file .. " holds no PEM certificate")
    end
    if chain then
      assert(ctx:setCertificateChain(chain))
    end
    -- OpenSSL checks here that the key is the certificate's
    assert(ctx:setPrivateKey(pkey.new(key_pem, "PEM")))
    if http_tls.has_alpn then ctx:setAlpnSelect(alpn_select) end -- else HTTP/1.1 only, as /_standin/last shows
    return ctx
  end)
  if not ok then
    return nil, tostring(ctx_or_err)
  end
  return ctx_or_err
end

local tls_ctx
if opts["tls-cert"] then
  local err
  tls_ctx, err = tls_context(opts["tls-cert"], opts["tls-key"])
  if not tls_ctx then
    log("cannot set up TLS:", err)
    os.exit(1)
  end
end

local server, lerr = http_server.listen {
  cq = cq,
  host = opts.host,
  port = tonumber(opts.port) or 0,
  -- one or the other: HTTPS only when given a certificate, else plain HTTP
  tls = tls_ctx ~= nil,
  ctx = tls_ctx,
  reuseaddr = true,
  onstream = onstream,
  onerror = function(_, context, op, err, errno)
    if op == "onstream" then
      log("error in", op, ":", err) -- an escape from the handler: a stand-in bug
    else
      log_peer("error in", op, "on", tostring(context), ":", err, errno)
    end
  end,
  -- keep idle keep-alive connections open a while (clients pool them)
  intra_stream_timeout = 60,
}
if not server then
  log("cannot listen:", lerr)
  os.exit(1)
end
do
  local ok, err = server:listen()
  if not ok then
    log("cannot listen:", err)
    os.exit(1)
  end
end
local _, _, port = server:localname()

do
  local ready = opts["ready-file"]
  local f = assert(io.open(ready .. ".tmp", "w"))
  f:write(tostring(port), "\n")
  f:close()
  assert(os.rename(ready .. ".tmp", ready))
end

local function process_alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if f then
    local s = f:read("*a") or ""
    f:close()
    local state = s:match("^%d+ %b() (%a)")
    return state ~= nil and state ~= "Z" and state ~= "X"
  end
  local self_stat = io.open("/proc/self/stat", "r")
  if self_stat then
    self_stat:close()
    return false -- /proc works, so the pid is gone
  end
  local r = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return r == 0 or r == true
end

if opts["watch-pid"] then
  local pid = tostring(opts["watch-pid"])
  if not pid:match("^%d+$") then
    log("bad --watch-pid:", pid)
    os.exit(2)
  end
  cq:wrap(function()
    while true do
      if not process_alive(pid) then
        log("watched process", pid, "is gone; exiting")
        os.exit(0)
      end
      cqueues.sleep(1)
    end
  end)
end

while true do
  local ok, err, _, thd = cq:loop()
  if ok then
    break
  end
  log("loop error:", err, thd and tostring(thd) or "")
end
