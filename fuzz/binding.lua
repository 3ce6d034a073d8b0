-- The script fuzz/binding.c runs for each input, in a fresh Lua 5.4 state
-- with the C module preloaded: the input is read as a small program of
-- calls into the library's public entries and into the binding, made with
-- hostile tables, and every answer is checked against a reference kept
-- here.  A failed check raises (the harness aborts with the message).
--
-- The input, byte by byte (readable on purpose: the seeds are text).
-- Actions, at the top level (any other byte is skipped):
--   N v          br.new(v)                       (then prepare, close)
--   P v v        client:prepare(list, opts)
--   Q v v        client:query(list, opts)        opts always get dry_run = true
--   R v v        client:run(ids, opts)           likewise
--   A v v        client:run_and_query(ids, opts) likewise (it must refuse)
--   S v          br.sign(v)
--   D v          br.decode(v)
--   B b          br.decode of a generated answer of b * 8 results
--   I v b v…     core.read_items(list, b % 10 fields)
--   E v v v      core.encode_query(flat, first, last)
--   J v v v v    core.encode_ids(key, flat, first, last)
--   C v v b v…   core.decode_results(body, list, b % 10 id fields)
--   X v          core.decode_error(body)
--   T act        the next action twice: the same answer both times
--   G b          finalizers that call the module run all through the next
--                action's calls (b odd, after V: one closes the client)
--   V            the next action's client is a new one (for G to close)
--   Z            close the client: its methods must raise; then a new one
--   L            load the C module again (luaopen in the same state), and
--                collect the old one's hold
--   @ b b b      Lua allocations: count b1, fail the (b2*256+b3)-th armed
--                one and count - 1 after it (count 0: all); $ for cJSON's
-- Values (v):
--   n t f        nil, true, false
--   digits       an integer;  - v  negated;  # b  a special number (NaN,
--                inf, 2^53, the limits and one past them…)
--   i b / a b    a valid id from a pool / an almost valid one
--   "…" / '…'    the bytes up to the next " / ' (CR, LF, NUL, anything)
--   x b          a long string;  w b  a word (option names, header names,
--                endpoints, regions, dates…);  j v  v written as JSON
--   q b          a valid pair;  k / K  a distinct pair / id made from the
--                position in the enclosing table (for * lists)
--   { … }        a table: each entry is v (the next index; n leaves a
--                hole) or v = v; + adds valid new() options; * b v adds
--                b entries of v
--   m b v        v with a hostile metatable;  p b v  a proxy serving v
--   F            a function;  c  a coroutine;  & b  a table made before
--   o            valid new() options (a fresh table)
-- Anything else is the number of the byte.
local input, fuzz = ...

local br = require "codearts.batchresult"
local core = require "codearts.batchresult.core"

local next, rawget, rawset, rawequal, rawlen, type, setmetatable, select =
  next, rawget, rawset, rawequal, rawlen, type, setmetatable, select
local unpack, pack = table.unpack, table.pack

-- tls_verify = false makes new() warn on stderr: keep the fuzzer's quiet.
rawset(io, "stderr", setmetatable({}, { __index = { write = function(self) return self end } }))

local AK, SK = "FuzzAccessKey", "FuzzSecretKey/0123456789+abcdefghij"
local PROJECT = "0123456789abcdef0123456789ABCDEF"
local ENDPOINT, HOST = "http://127.0.0.1:9", "127.0.0.1:9"

local function fail(fmt, ...)
  error("binding fuzz: " .. fmt:format(...), 0)
end

local function check(cond, fmt, ...)
  if not cond then fail(fmt, ...) end
end

--- A value of the caller's for a message: tostring would run its
-- __tostring.
local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) == "number" then return ("%.17g"):format(v) end
  return type(v)
end

-- ---- the input --------------------------------------------------------------

local pos = 1
local function more() return pos <= #input end
local function peek() return input:byte(pos) end
local function byte()
  local b = input:byte(pos) or 0
  pos = pos + 1
  return b
end

-- ---- what the caller's code did ---------------------------------------------

-- Every metamethod and function the script hands over counts its calls:
-- the library must never run one (it reads tables raw; a dry run calls no
-- callback).
local caller_calls, first_call = 0, nil
local function counted(f, name)
  return function(...)
    caller_calls = caller_calls + 1
    first_call = first_call or debug.traceback((name or "a function") .. " of the caller's ran", 2)
    return f(...)
  end
end

local ID_POOL = {
  "6ba9a2dbc7024c22a9a6614516dc22db", "e41fe3981361476eb6dad17ad98c683c",
  "d7013d2402ff4cc88489ee5af324e049", "3d8143d197dd4fa5b23f20ee39179af3",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "00000000000000000000000000000000",
  "zZ9zZ9zZ9zZ9zZ9zZ9zZ9zZ9zZ9zZ9zZ", "0123456789abcdefghijklmnopqrstuv",
}
local base = ID_POOL[1]
local ALMOST = {
  base:sub(1, 31), base .. "0", "", base:sub(1, 31) .. "-", base:sub(1, 31) .. "\0",
  base:sub(1, 31) .. "\n", base:sub(1, 30) .. "\195\169", base:sub(1, 31) .. " ",
  " " .. base:sub(2), base:sub(1, 16) .. "\r\n" .. base:sub(19), base:sub(1, 31) .. "_",
  base:sub(1, 31) .. "\255", base:rep(2), "pipeline_id",
}
local NUMBERS = {
  0.5, -0.0, 0 / 0, math.huge, -math.huge, 1e300, 2 ^ 53, 2 ^ 53 + 2, math.maxinteger, math.mininteger,
  2 ^ 63, 1e-300, 0.0004, 86400, 86400.5, 10000, 10001, 256, 257, 100, 101, 2 ^ 30, 2 ^ 30 + 1,
  3.0, 1e9, -1, 0, 1, 2, 4.5, 2 ^ 31, 2 ^ 31 - 1,
}
-- Endpoints whose fate is known: true accepted, false refused.
local ENDPOINTS = {
  ["http://127.0.0.1:9"] = true, ["http://localhost:9/"] = true, ["https://example.com"] = true,
  ["http://[::1]:9"] = true, ["HTTP://127.0.0.1"] = true, ["https://h:443"] = true,
  ["http://example.com"] = false, ["ftp://127.0.0.1"] = false, ["http://127.0.0.1:9/path"] = false,
  ["http://127.0.0.1:0"] = false, ["https://u@h"] = false, ["https://"] = false,
  ["https://h:65536"] = false, ["http://127.0.0.1:9?q"] = false, ["https://h x"] = false,
}
local WORDS = {
  "endpoint", "region", "project_id", "ak", "sk", "security_token", "token", "timeout",
  "connect_timeout", "ca_file", "ca_path", "tls_verify", "proxy", "user_agent", "batch_size",
  "concurrency", "max_retries", "max_retry_wait", "max_response_bytes", "logger", "transport",
  "deadline", "on_progress", "callback", "dry_run", "operation", "method", "path", "query",
  "headers", "body", "pipeline_id", "pipeline_run_id", "pipeline_ids", "result", "missing",
  "X-Sdk-Date", "x-sdk-date", "Host", "Content-Type", "X_Underscore", "Bad Name", "Authorization",
  "error_code", "error_msg", "code", "message", "request_id", "run", "GET", "POST", "/", "curl",
  "ngx", "cn-north-4", "mars-1", "README.md", "no/such/file", "/etc/ssl/certs", "20060102T150405Z",
  "2006-01-02", "http://proxy.invalid:3128", "timeuot", "batch_size ", "__index", "n",
  "codearts-batchresult/fuzz",
}
for url in next, ENDPOINTS do WORDS[#WORDS + 1] = url end
table.sort(WORDS) -- (next's order is not the same in every state)

local function is_id(v)
  return type(v) == "string" and #v == 32 and not v:find("[^0-9A-Za-z]")
end

local function idx_id(prefix, i)
  return ("%s%031x"):format(prefix, i % (16 ^ 7))
end

local function valid_options()
  return { endpoint = ENDPOINT, project_id = PROJECT, ak = AK, sk = SK }
end

-- A metatable with every metamethod counted.  mode picks what __index
-- answers: from serve (a table), fresh strings, or an error; and what
-- __len and __pairs say.
local function hostile(mode, serve)
  local fresh = 0
  local index
  if mode % 3 == 0 then
    index = function(_, k) return type(serve) == "table" and rawget(serve, k) or nil end
  elseif mode % 3 == 1 then
    index = function(_, k)
      fresh = fresh + 1
      -- A new string each time (long strings are never interned).
      return ID_POOL[fresh % #ID_POOL + 1]:rep(2) .. ("%08d"):format(fresh) .. (type(k) == "string" and k or "")
    end
  else
    index = function() error("__index of the caller's ran") end
  end
  local mt = {
    __index = counted(index, "__index"),
    __newindex = counted(function() end, "__newindex"),
    __len = counted(function() return mode % 2 == 0 and 3 or 2 ^ 63 end, "__len"),
    __pairs = counted(function() return next, type(serve) == "table" and serve or {}, nil end, "__pairs"),
    __tostring = counted(function() return mode % 2 == 0 and "caller's __tostring" or {} end, "__tostring"),
    __eq = counted(function() return true end, "__eq"),
    __lt = counted(function() return true end, "__lt"),
    __le = counted(function() return true end, "__le"),
    __concat = counted(function() return "concat" end, "__concat"),
    __call = counted(function() return ID_POOL[1] end, "__call"),
    __unm = counted(function() return 0 end, "__unm"),
    __name = "hostile\nname",
  }
  if mode % 5 == 4 then mt.__metatable = "locked" end
  return mt
end

-- ---- values ------------------------------------------------------------

local made = {} -- the tables built so far, for &
local value

local function table_value(depth)
  local t = {}
  made[#made + 1] = t
  local n = 0
  while more() and peek() ~= 125 do -- }
    local c = peek()
    if c == 43 then -- + : the valid options
      byte()
      for k, v in next, valid_options() do rawset(t, k, v) end
    elseif c == 42 then -- * b v
      byte()
      local count = byte()
      local at = pos
      for _ = 1, count do
        pos = at
        n = n + 1
        local v = value(depth + 1, n)
        if v ~= nil then rawset(t, n, v) end
      end
      if count == 0 then value(depth + 1, n) end
    else
      local v = value(depth + 1, n + 1)
      if peek() == 61 then -- =
        byte()
        local w = value(depth + 1, n + 1)
        if v ~= nil and v == v then rawset(t, v, w) end
      else
        n = n + 1
        if v ~= nil then rawset(t, n, v) end
      end
    end
  end
  byte() -- }
  return t
end

-- v as JSON text, at most 20 tables deep and JSON_NODES values in all (a
-- table made before, & b, may sit in a table many times: without a bound
-- the text of such a graph grows exponentially with its depth).
local JSON_NODES = 20000
local json_left

local function json_text(v, depth)
  depth = depth or 0
  if depth == 0 then json_left = JSON_NODES end
  json_left = json_left - 1
  if json_left < 0 then return "null" end
  local tv = type(v)
  if tv == "string" then
    return '"' .. v:gsub('[%c"\\]', function(ch)
      return ch == '"' and '\\"' or ch == "\\" and "\\\\" or ("\\u%04x"):format(ch:byte())
    end) .. '"'
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "1e999" end
    return math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  elseif tv == "boolean" then
    return tostring(v)
  elseif tv == "table" and depth < 20 then
    local n = rawlen(v)
    if n > 0 or next(v) == nil then
      local out = {}
      for i = 1, n do out[i] = json_text(rawget(v, i), depth + 1) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in next, v do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do out[i] = json_text(k, depth + 1) .. ":" .. json_text(rawget(v, k), depth + 1) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  return "null"
end

local budget = 20000 -- values an input may make (a * inside a * multiplies)

function value(depth, at)
  if not more() then return nil end
  local c = byte() -- (always one at least: a table's loop must end)
  if depth > 12 or budget <= 0 then return nil end
  budget = budget - 1
  local ch = string.char(c)
  if ch == "n" then return nil
  elseif ch == "t" then return true
  elseif ch == "f" then return false
  elseif ch:find("%d") then
    local s = ch
    while more() and string.char(peek()):find("%d") and #s < 19 do s = s .. string.char(byte()) end
    return math.tointeger(tonumber(s)) or tonumber(s)
  elseif ch == "-" then
    local v = value(depth + 1, at)
    return type(v) == "number" and -v or v
  elseif ch == "#" then return NUMBERS[byte() % #NUMBERS + 1]
  elseif ch == "i" then return ID_POOL[byte() % #ID_POOL + 1]
  elseif ch == "a" then return ALMOST[byte() % #ALMOST + 1]
  elseif ch == '"' or ch == "'" then
    local close = input:find(ch, pos, true) or #input + 1
    local s = input:sub(pos, close - 1)
    pos = close + 1
    return s
  elseif ch == "x" then return ID_POOL[1]:rep(byte() + 1)
  elseif ch == "w" then return WORDS[byte() % #WORDS + 1]
  elseif ch == "j" then return json_text(value(depth + 1, at))
  elseif ch == "q" then
    local b = byte()
    return { pipeline_id = ID_POOL[b % #ID_POOL + 1], pipeline_run_id = ID_POOL[(b // 8) % #ID_POOL + 1] }
  elseif ch == "k" then return { pipeline_id = idx_id("a", at or 0), pipeline_run_id = idx_id("b", at or 0) }
  elseif ch == "K" then return idx_id("c", at or 0)
  elseif ch == "{" then return table_value(depth)
  elseif ch == "m" then
    local mode = byte()
    local v = value(depth + 1, at)
    if type(v) == "table" and getmetatable(v) == nil then setmetatable(v, hostile(mode, v)) end
    return v
  elseif ch == "p" then
    local mode = byte()
    local p = setmetatable({}, hostile(mode, value(depth + 1, at)))
    made[#made + 1] = p
    return p
  elseif ch == "F" then return counted(function() return ID_POOL[1] end)
  elseif ch == "c" then return coroutine.create(counted(function() end))
  elseif ch == "&" then
    local b = byte()
    return #made > 0 and made[b % #made + 1] or nil
  elseif ch == "o" then
    local t = valid_options()
    made[#made + 1] = t
    return t
  end
  return c
end

-- ---- plain copies and raw reading --------------------------------------------

--- v as the library must see it: tables copied raw, metatables left
-- behind, sharing kept, keys as they are.
local function plain(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local t = {}
  seen[v] = t
  for k, x in next, v do rawset(t, k, plain(x, seen)) end
  return t
end

--- A snapshot of v's raw contents, to see that the library changed none.
local function snapshot(v, seen, out)
  seen, out = seen or {}, out or {}
  if type(v) == "table" and not seen[v] then
    seen[v] = true
    local entries = {}
    for k, x in next, v do entries[#entries + 1] = { k, x } end
    out[#out + 1] = { v, entries, getmetatable(v) }
    for _, e in ipairs(entries) do
      snapshot(e[1], seen, out)
      snapshot(e[2], seen, out)
    end
  end
  return out
end

local function unchanged(snap, what)
  for _, s in ipairs(snap) do
    local t, entries = s[1], s[2]
    local count = 0
    for _ in next, t do count = count + 1 end
    check(count == #entries, "%s: the caller's table changed size", what)
    for _, e in ipairs(entries) do
      check(rawequal(rawget(t, e[1]), e[2]) or e[2] ~= e[2], "%s: the caller's table changed", what)
    end
    check(rawequal(getmetatable(t), s[3]), "%s: the caller's metatable changed", what)
  end
end

--- The reference reading of a list (the rule of input.lua): keys 1..n
-- read raw; items bare id strings (no fields) or tables of id fields.
-- Returns { flat, n } or { index, field, problem, value, item } or
-- { empty = true }.
local function ref_items(list, fields)
  local count, max = 0, 0
  for k in next, list do
    if type(k) == "number" and k >= 1 and k == math.floor(k) then
      count = count + 1
      if k > max then max = k end
    end
  end
  if count ~= max then
    local hole = 1
    while rawget(list, hole) ~= nil do hole = hole + 1 end
    return { index = hole, problem = "hole", value = max }
  end
  local flat = {}
  for i = 1, count do
    local item = rawget(list, i)
    local function why(v)
      if v == nil then return "missing" end
      if type(v) ~= "string" then return "type" end
      if not is_id(v) then return "format" end
    end
    if #fields == 0 then
      local w = why(item)
      if w then return { index = i, problem = w, value = item } end
      flat[#flat + 1] = item
    else
      if type(item) ~= "table" then return { index = i, problem = "type", value = item } end
      for _, f in ipairs(fields) do
        local v = rawget(item, f)
        local w = why(v)
        if w then return { index = i, field = f, problem = w, value = v, item = item } end
        flat[#flat + 1] = v
      end
    end
  end
  if count == 0 then return { flat = flat, n = 0, empty = true } end
  return { flat = flat, n = count }
end

--- The first occurrence of each item of flat, width ids each.
local function ref_unique(flat, n, width)
  local seen, out = {}, {}
  for i = 0, n - 1 do
    local key = table.concat(flat, "\0", i * width + 1, i * width + width)
    if not seen[key] then
      seen[key] = true
      for f = 1, width do out[#out + 1] = flat[i * width + f] end
    end
  end
  return out, #out // width
end

-- ---- rules of the options, from the README's option tables ------------------

local function header_safe(v) return not v:find("[\r\n%z]") end
local function seconds(v) return type(v) == "number" and v > 0 and v <= 86400 end
local function whole(min, max)
  return function(v) return type(v) == "number" and v >= min and v <= max and math.floor(v) == v end
end
local function string_rule(extra)
  return function(v) return type(v) == "string" and header_safe(v) and (not extra or extra(v)) end
end
local function non_empty(v) return v ~= "" end
--- Whether v may be a request header's whole value (user_agent, the
-- tokens), as README's table of br.new says: true/false, or nil when the
-- reference cannot tell (a byte beyond ASCII at an end, which may be white
-- space).
local function ref_field_value(v)
  if #v > 256 * 1024 or not v:find("[^ \t\v\f]") or v:find("[%z\1-\8\10-\31\127]") then return false end
  if v:find("^[\128-\255]") or v:find("[\128-\255]$") then return nil end
  return true
end
local function field_value(v) return type(v) == "string" and ref_field_value(v) end
local function of_type(t) return function(v) return type(v) == t end end

local NEW_RULES = {
  endpoint = string_rule(), region = string_rule(), project_id = string_rule(), ak = string_rule(),
  sk = string_rule(), security_token = string_rule(), token = string_rule(),
  timeout = seconds, connect_timeout = seconds, max_retry_wait = seconds,
  ca_file = string_rule(non_empty), ca_path = string_rule(non_empty), proxy = string_rule(non_empty),
  tls_verify = of_type("boolean"), user_agent = field_value,
  batch_size = whole(1, 10000), concurrency = whole(1, 256), max_retries = whole(0, 100),
  max_response_bytes = whole(1, 2 ^ 30), logger = of_type("function"),
  transport = function(v) return v == "curl" or v == "ngx" end,
}
local CALL_RULES = {
  batch_size = NEW_RULES.batch_size, concurrency = NEW_RULES.concurrency,
  max_retries = NEW_RULES.max_retries, deadline = seconds, on_progress = of_type("function"),
  callback = of_type("function"), dry_run = of_type("boolean"),
}
local PREPARE_RULES = { operation = function(v) return v == "query" or v == "run" end }
local SIGN_RULES = {
  method = of_type("string"), path = of_type("string"), query = of_type("string"),
  headers = of_type("table"), body = of_type("string"), ak = of_type("string"), sk = of_type("string"),
}

--- The raw entries of opts that break rules, or may (a rule that cannot
-- tell gives nil): a set (key -> true); and whether any surely does.
local function bad_options(opts, rules)
  local bad, any = {}, false
  for k, v in next, opts do
    local rule = rawget(rules, k)
    local ok = rule and rule(v)
    if ok ~= true then
      bad[k] = true
      if ok == false or not rule then any = true end
    end
  end
  return bad, any
end

-- ---- calling and judging ---------------------------------------------------

local storm -- the finalizers of a G action, while it lasts
local trace_storm = os.getenv("FUZZ_BINDING_TRACE") and function(s)
  io.stdout:write(("G: %d finalizers ran inside the calls%s\n"):format(s.ran,
    s.victim_closed and ", the client closed" or ""))
end

--- f(...) with allocation failures armed: { status, lf, jf, results… }.
local function invoke(f, ...)
  if storm then storm.begin() end
  local r = pack(fuzz.call(f, ...))
  if storm then storm.pause() end
  return { status = r[1], lf = r[2], jf = r[3], select(4, unpack(r, 1, r.n)) }
end

local function one_line(s, what)
  check(type(s) == "string", "%s: message is a %s", what, type(s))
  check(not s:find("[\r\n]"), "%s: message of more than one line: %q", what, s)
end

--- Whether option, the name an error gives (err.option), is one of the
-- keys of set bad: as given, or with a secret it holds as [REDACTED],
-- each standing for at least one byte of the key.
local function names_bad(option, bad)
  if option == nil then return false end
  if bad[option] then return true end
  -- (an unknown name that could not be redacted, memory or the client
  -- gone, is not shown at all: it may be a secret)
  if type(option) == "string" and option:find("^%(not shown: [^)]*%)$") then return true end
  if type(option) ~= "string" or not option:find("[REDACTED]", 1, true) then return false end
  local pat = "^" .. option:gsub("%p", "%%%0"):gsub("%%%[REDACTED%%%]", ".+") .. "$"
  for k in pairs(bad) do
    if type(k) == "string" and k:find(pat) then return true end
  end
  return false
end

--- The error value a public entry returned: an Error with a code and a
-- one-line message; its code must be one of codes.
local function judge_error(err, what, codes)
  check(br.Error.is(err), "%s: returned nil and no Error (%s)", what, type(err))
  one_line(err.message, what)
  one_line(tostring(err), what)
  check(codes[err.code], "%s: unexpected error code %s: %s", what, tostring(err.code), err.message)
end

--- The outcome of a public entry: "mem" when a memory error was raised
-- (only allowed when an allocation was made to fail), "closed" when it
-- raised because the client was closed (only with closed), else nil and
-- the results.  Anything else raised is a failure: public entries never
-- raise for bad input.
local function public(res, what, closed)
  check(caller_calls == 0, "%s: ran the caller's code (%d calls), first: %s", what, caller_calls, first_call)
  if res.status == "mem" then
    check(res.lf > 0, "%s: memory error, but no allocation failed", what)
    return "mem"
  elseif res.status == "err" then
    local msg = tostring(res[1])
    if closed and msg:find("the client is closed", 1, true) then return "closed" end
    fail("%s raised: %s", what, msg)
  end
end

--- Public entry f called with the arguments given; tables lists the
-- caller's tables among them, which must come back unchanged.  The
-- results, and the outcome public() says.
local function call_entry(what, closed, tables, f, ...)
  local before = snapshot(tables)
  local res = invoke(f, ...)
  local outcome = public(res, what, closed)
  unchanged(before, what)
  return res, outcome
end

--- The codes a call may answer with, beside INVALID_ARGUMENT: CLOSED when
-- a finalizer closed the client.  (An encode that runs out of memory
-- raises a memory error: no code for it.)
local function codes_for(extra)
  local codes = { INVALID_ARGUMENT = true }
  if storm and storm.closes then codes.CLOSED = true end
  for k in next, extra or {} do codes[k] = true end
  return codes
end

local function failures(res) return res.lf > 0 or res.jf > 0 end

-- ---- the clients -------------------------------------------------------------

local function new_client()
  local c, err = br.new(valid_options())
  check(c, "a valid client was refused: %s", tostring(err))
  return { obj = c, url = ENDPOINT, host = HOST, project = PROJECT, ak = AK, sk = SK, batch_size = 100,
           user_agent = "codearts-batchresult/" .. br.VERSION }
end

local client = new_client()
local action_client -- V: a client for the next action only

--- The requests of a dry run (or prepare's one) against the reference:
-- one per batch of size b of the unique items, in order, each body valid
-- JSON holding exactly its batch's items, signed as br.sign signs.
local function check_requests(reqs, op, uflat, count, b, cl, what)
  local batches = count == 0 and 0 or (count + b - 1) // b
  check(type(reqs) == "table" and #reqs == batches, "%s: %s requests for %d batches", what,
    type(reqs) == "table" and #reqs or type(reqs), batches)
  local path = "/v5/" .. cl.project .. "/api/pipelines/batch-runs" .. (op == "query" and "/result" or "")
  for j, req in ipairs(reqs) do
    check(type(req.body) == "string", "%s: request %d has no body", what, j)
    check(req.method == "POST" and req.url == cl.url .. path, "%s: request %d: %s %s", what, j,
      tostring(req.method), tostring(req.url))
    local h = req.headers
    check(h.Host == cl.host and h["X-Project-Id"] == cl.project and h["User-Agent"] == cl.user_agent
      and h["Content-Type"] == "application/json;charset=UTF-8", "%s: request %d: wrong headers", what, j)
    local doc = fuzz.json(req.body)
    check(type(doc) == "table", "%s: request %d: body is not JSON: %q", what, j, req.body)
    local first, last = (j - 1) * b + 1, math.min(j * b, count)
    local list = op == "query" and doc.query or doc.pipeline_ids
    check(type(list) == "table" and #list == last - first + 1 and next(doc, next(doc)) == nil,
      "%s: request %d: body %q is not its batch", what, j, req.body)
    for i = first, last do
      local got = list[i - first + 1]
      if op == "query" then
        check(type(got) == "table" and got.pipeline_id == uflat[2 * i - 1] and got.pipeline_run_id == uflat[2 * i]
          and next(got, next(got, next(got))) == nil, "%s: request %d item %d is wrong: %q", what, j, i, req.body)
      else
        check(got == uflat[i], "%s: request %d item %d is wrong: %q", what, j, i, req.body)
      end
    end
    local shown = tostring(req)
    check(not shown:find(SK, 1, true), "%s: tostring(request) shows the sk", what)
    if cl.token then
      check(h["X-Auth-Token"] == cl.token and h.Authorization == nil, "%s: token request wrongly signed", what)
    elseif j > 1 then
      -- (The first is signed again below; the rest take the same path.)
      check(type(h.Authorization) == "string" and h.Authorization:find("^SDK%-HMAC%-SHA256 Access=")
        and h["X-Sdk-Date"], "%s: request %d is not signed", what, j)
    else
      local signed = {}
      for k, v in next, h do if k ~= "Authorization" then signed[k] = v end end
      local auth = br.sign { method = req.method, path = path, headers = signed, body = req.body,
                             ak = cl.ak, sk = cl.sk }
      check(auth and auth == h.Authorization, "%s: request %d is not signed as br.sign signs it", what, j)
    end
  end
end

--- client:query / run / prepare, dry: the outcome against the reference.
local function do_call(method, list, opts, cl)
  cl = cl or client
  local op = (method == "query" or method == "prepare") and "query" or "run"
  if method == "prepare" and type(opts) == "table" and rawget(opts, "operation") == "run" then op = "run" end
  local what = "client:" .. method
  local res, outcome = call_entry(what, cl.closed or (storm and storm.closes), { list, opts }, cl.obj[method],
    cl.obj, list, opts)
  if outcome then return { outcome } end
  local got, err = res[1], res[2]
  -- The reference, in the order the library checks.
  local rules = method == "prepare" and PREPARE_RULES or CALL_RULES
  local expect
  if opts ~= nil and type(opts) ~= "table" then
    expect = { option_table = true }
  elseif debug.getmetatable(opts) ~= nil then
    expect = { metatable = true }
  else
    local bad, any = bad_options(opts or {}, rules)
    if any then expect = { bad = bad } end
  end
  local fields = op == "query" and { "pipeline_id", "pipeline_run_id" } or {}
  local items
  -- A callback outside Neovim is refused with the options, before anything
  -- else is read.
  if not expect and method ~= "prepare" and opts and rawget(opts, "callback") then expect = { callback = true } end
  -- run_and_query refuses a dry run before it reads the items.
  if method == "run_and_query" and not expect then expect = { no_dry = true } end
  if not expect then
    if type(list) ~= "table" then
      expect = { list_type = true }
    else
      items = ref_items(list, fields)
      if items.problem or items.empty then expect = { items = items } end
    end
  end

  if got == nil then
    judge_error(err, what, codes_for())
    if err.code ~= "INVALID_ARGUMENT" then return { err.code } end
    check(expect, "%s: valid input refused: %s", what, err.message)
    if expect.bad then
      check(names_bad(err.option, expect.bad), "%s: err.option %s is not a bad option (%s)", what,
        show(err.option), err.message)
    elseif expect.callback or expect.no_dry then
      -- (an option refused for where it is used, not for its value)
      local want = expect.callback and "callback" or "dry_run"
      check(err.option == want, "%s: err.option %s, not %s (%s)", what, show(err.option), want, err.message)
    else
      check(err.option == nil, "%s: err.option set for %s", what, err.message)
    end
    if expect.items and expect.items.problem then
      check(err.index == expect.items.index and err.field == expect.items.field,
        "%s: err.index/field %s/%s, expected %s/%s (%s)", what, tostring(err.index), tostring(err.field),
        tostring(expect.items.index), tostring(expect.items.field), err.message)
    else
      check(err.index == nil and err.field == nil, "%s: err.index set for %s", what, err.message)
    end
    return { "err", err.code, err.index, err.field, err.option ~= nil }
  end
  check(not expect, "%s: bad input accepted", what)
  check(method ~= "run_and_query", "%s: a dry run was not refused", what)
  local uflat, count = ref_unique(items.flat, items.n, #fields == 0 and 1 or 2)
  if method == "prepare" then
    check(type(got) == "table" and type(got.body) == "string", "%s: a request without a body", what)
    check_requests({ got }, op, uflat, count, count, cl, what)
    return { "ok", got.body }
  end
  local b = rawget(opts, "batch_size") or cl.batch_size
  check_requests(got, op, uflat, count, b, cl, what)
  local bodies = { "ok" }
  for i, r in ipairs(got) do bodies[i + 1] = r.body end
  return bodies
end

--- The dry-run call options of v: a table gets dry_run = true, raw;
-- nil becomes { dry_run = true }.  Anything else is refused before a
-- request could be made.
local function dry(opts)
  if opts == nil then return { dry_run = true } end
  if type(opts) == "table" then rawset(opts, "dry_run", true) end
  return opts
end

-- ---- br.new --------------------------------------------------------------------

-- The host each endpoint ENDPOINTS takes names (a default port dropped).
local ENDPOINT_HOSTS = {
  ["http://127.0.0.1:9"] = "127.0.0.1:9", ["http://localhost:9/"] = "localhost:9",
  ["https://example.com"] = "example.com", ["http://[::1]:9"] = "[::1]:9", ["HTTP://127.0.0.1"] = "127.0.0.1",
  ["https://h:443"] = "h",
}

--- Whether some run of core.limits.redact_min_run bytes of one of the
-- secrets (strings with more than white space, at least that long) is in
-- host, in any case: new() refuses such a host, which every text naming
-- it would show (README, Secrets).
local function shares_run(host, secrets)
  local run = core.limits.redact_min_run
  host = host:lower()
  for _, secret in ipairs(secrets) do
    if type(secret) == "string" and #secret >= run and secret:find("%S") then
      secret = secret:lower()
      for at = 1, #secret - run + 1 do
        if host:find(secret:sub(at, at + run - 1), 1, true) then return true end
      end
    end
  end
  return false
end

--- Whether new() must accept opts (true/false), or nil when the reference
-- cannot tell (an endpoint or file it does not know); and the bad options.
local function ref_new(opts)
  -- (a metatable refuses the options as a whole, naming no option:
  -- input.lua)
  if type(opts) ~= "table" or debug.getmetatable(opts) ~= nil then return false end
  local bad, any = bad_options(opts, NEW_RULES)
  if any then return false, bad end
  local o = function(k) return rawget(opts, k) end
  if o("endpoint") and o("region") then return false end
  if o("endpoint") then
    local known = ENDPOINTS[o("endpoint")]
    if known == nil then return nil end
    if not known then return false end
  elseif o("region") then
    if not br.regions[o("region")] then return false end
  else
    return false
  end
  if not is_id(o("project_id")) then return false end
  local host = o("endpoint") and ENDPOINT_HOSTS[o("endpoint")] or br.regions[o("region")]:match("^%a+://([^/]+)")
  if shares_run(host, { o("sk"), o("security_token"), o("token") }) then return false end
  -- (a proxy's password counts too, as libcurl sends it, percent-decoded:
  -- not modelled here)
  if type(o("proxy")) == "string" and o("proxy"):find("@", 1, true) and shares_run(host, { o("proxy") }) then
    return nil
  end
  if o("token") then
    if o("ak") or o("sk") or o("security_token") or o("token") == "" then return false end
  else
    if not o("ak") or o("ak") == "" or not o("sk") or not o("sk"):find("%S") then return false end
    if o("ak"):find("[%s,%c\128-\255]") then return false end
  end
  for _, k in ipairs({ "user_agent", "token", "security_token" }) do
    if o(k) then
      local ok = ref_field_value(o(k))
      if ok ~= true then return ok end
    end
  end
  if o("ca_file") then
    local f = io.open(o("ca_file"), "rb")
    if not f then return false end
    f:close()
  end
  return true
end

local function do_new(opts)
  -- ca_file is opened and loaded: keep it to names the script knows,
  -- never a FIFO; fuzz/ca.pem holds one certificate (a CA made for this).
  if type(opts) == "table" and type(rawget(opts, "ca_file")) == "string" and #rawget(opts, "ca_file") > 1
    and rawget(opts, "ca_file") ~= "no/such/file" then
    rawset(opts, "ca_file", "fuzz/ca.pem")
  end
  local res, outcome = call_entry("br.new", false, { opts }, br.new, opts)
  if outcome then return { outcome } end
  local c, err = res[1], res[2]
  local valid, bad = ref_new(opts)
  if not c then
    judge_error(err, "br.new", codes_for())
    if err.code ~= "INVALID_ARGUMENT" then return { err.code } end
    check(valid ~= true, "br.new: valid options refused: %s", err.message)
    if bad then
      check(names_bad(err.option, bad), "br.new: err.option %s is not a bad option (%s)",
        show(err.option), err.message)
    end
    return { "err", err.option ~= nil }
  end
  check(valid ~= false, "br.new: bad options accepted")
  local o = function(k) return rawget(opts, k) end
  local cl = { obj = c, project = o("project_id"), ak = o("ak"), sk = o("sk"), token = o("token"),
               user_agent = o("user_agent") or "codearts-batchresult/" .. br.VERSION }
  local shown = tostring(c)
  check(not shown:find(SK, 1, true), "br.new: tostring(client) shows the sk")
  cl.url = c.endpoint
  cl.host = c.endpoint:match("^%a+://(.*)$")
  local pair = { pipeline_id = ID_POOL[1], pipeline_run_id = ID_POOL[2] }
  local req = c:prepare({ pair })
  check(req, "br.new: the new client cannot prepare")
  check_requests({ req }, "query", { ID_POOL[1], ID_POOL[2] }, 1, 1, cl, "br.new then prepare")
  c:close()
  check(not pcall(c.prepare, c, { pair }), "br.new: a closed client prepared")
  return { "ok" }
end

-- ---- br.sign ------------------------------------------------------------------

local function do_sign(t)
  local res, outcome = call_entry("br.sign", false, { t }, br.sign, t)
  if outcome then return { outcome } end
  local auth, details = res[1], res[2]
  if not auth then
    judge_error(details, "br.sign", codes_for())
    if type(t) == "table" and debug.getmetatable(t) == nil then
      local bad, any = bad_options(t, SIGN_RULES)
      if any then
        check(names_bad(details.option, bad), "br.sign: err.option %s is not a bad field", show(details.option))
      end
    end
    return { "err", details.code }
  end
  -- Accepted: the reference's necessary conditions.
  check(type(t) == "table" and not select(2, bad_options(t, SIGN_RULES)), "br.sign: bad fields accepted")
  check(debug.getmetatable(t) == nil and debug.getmetatable(rawget(t, "headers")) == nil,
    "br.sign: a table with a metatable accepted")
  for _, k in ipairs({ "method", "path", "headers", "ak", "sk" }) do
    check(rawget(t, k) ~= nil, "br.sign: signed without %s", k)
  end
  check(rawget(t, "sk") ~= "", "br.sign: signed with an empty sk")
  local count, date = 0, false
  for k, v in next, rawget(t, "headers") do
    count = count + 1
    check(type(k) == "string" and type(v) == "string", "br.sign: a header that is not strings was signed")
    check(k:find("^[%w!#$%%&'*+.^_`|~-]+$") and not v:find("[\r\n%z]"),
      "br.sign: a bad header was signed: %q: %q", k, v)
    if k:lower() == "x-sdk-date" then date = true end
  end
  check(count <= 64 and date, "br.sign: %d headers, X-Sdk-Date %s", count, tostring(date))
  check(type(details) == "table" and type(details.canonical_request) == "string"
    and type(details.string_to_sign) == "string" and type(details.signed_headers) == "string",
    "br.sign: details missing")
  local prefix = "SDK-HMAC-SHA256 Access=" .. rawget(t, "ak") .. ", SignedHeaders=" .. details.signed_headers
    .. ", Signature="
  local sig, sk = auth:sub(#prefix + 1), rawget(t, "sk")
  check(auth:sub(1, #prefix) == prefix and #sig == 64 and sig:find("^%x+$"), "br.sign: authorization %q", auth)
  -- What comes before the signature is the caller's own ak and header
  -- names.  An sk shorter than the redactor's run of 8 bytes turns up in
  -- 64 hex digits by chance (an sk of "1").
  check(#sk < 8 or not sig:find(sk, 1, true), "br.sign: the signature shows the sk")
  return { "ok", auth }
end

-- ---- decoding ----------------------------------------------------------------

--- Whether v, or an object anywhere inside it, names a member twice
-- (dups: what fuzz.json said).
local function dup_inside(v, dups)
  if type(v) ~= "table" then return false end
  if dups[v] then return true end
  for _, x in next, v do
    if dup_inside(x, dups) then return true end
  end
  return false
end

--- Whether a number's text, as long as the characters a number may hold
-- run, follows JSON's grammar: -? (0 | [1-9] digits) (. digits)? ([eE] [+-]? digits)?
local function json_number(tok)
  local p = tok:match("^%-?0()") or tok:match("^%-?[1-9]%d*()")
  if not p then return false end
  p = tok:match("^%.%d+()", p) or p
  p = tok:match("^[eE][%+%-]?%d+()", p) or p
  return p == #tok + 1
end

--- Whether body breaks a rule of JSON's that cJSON lets pass, which the
-- decoder refuses: a control character inside a string, or outside one
-- other than JSON's white space; a NUL (cJSON's strings end at one), as a
-- byte or as \u0000 after an odd run of backslashes; a \u escape without
-- four hex digits (cJSON reads it as \u0000); a number off JSON's grammar.
local function breaks_lexis(body)
  local i = 1
  while i <= #body do
    local c = body:byte(i)
    if c == 34 then -- a string: to its closing quote, escapes skipped
      local j = i + 1
      while true do
        local k = body:find('[\0-\31"\\]', j)
        if not k then return false end -- cut short: cJSON says so
        local b = body:byte(k)
        if b < 32 then return true end
        if b == 34 then i = k + 1 break end
        local esc = body:sub(k + 1, k + 5)
        if #esc == 5 and esc:byte() == 117 and (esc == "u0000" or not esc:find("^u%x%x%x%x$")) then return true end
        j = k + 2
      end
    elseif c == 45 or (c >= 48 and c <= 57) then
      local tok = body:match("^[%d%.eE%+%-]+", i)
      if not json_number(tok) then return true end
      i = i + #tok
    elseif c < 32 and c ~= 9 and c ~= 10 and c ~= 13 then
      return true
    else
      i = i + 1
    end
  end
  return false
end

--- body with each \u escape of a lone UTF-16 surrogate (a high half with no
-- low half right after it, or a low half alone) written \uFFFD, as the
-- decoder reads it where cJSON alone refuses it; a pair stays.
local function mend_surrogates(body)
  local out, from, i = {}, 1, 1
  while true do
    local k = body:find("\\", i, true)
    if not k then break end
    local v = tonumber(body:match("^u(%x%x%x%x)", k + 1) or "", 16)
    if not v or v < 0xD800 or v > 0xDFFF then
      i = k + 2 -- the escaped byte, skipped
    else
      local low = v < 0xDC00 and tonumber(body:match("^\\u(%x%x%x%x)", k + 6) or "", 16)
      if low and low >= 0xDC00 and low <= 0xDFFF then
        i = k + 12
      else
        out[#out + 1] = body:sub(from, k + 1) .. "FFFD"
        from, i = k + 6, k + 6
      end
    end
  end
  out[#out + 1] = body:sub(from)
  return table.concat(out)
end

--- What the decoder must accept, by cJSON's reading of body: an object
-- naming no member twice whose member `name` is an array of objects each
-- with the string members ids, none of them naming a member twice either
-- (the rest of the body never reaches the caller), and none of the rules
-- breaks_lexis checks broken; lone surrogates read as mend_surrogates
-- reads them.  The array, or nil.
local function ref_results(body, name, ids)
  if breaks_lexis(body) then return nil end
  local doc, dups = fuzz.json(mend_surrogates(body))
  if type(doc) ~= "table" or getmetatable(doc) or dups[doc] then return nil end
  local arr = rawget(doc, name)
  if getmetatable(arr) ~= fuzz.array or dup_inside(arr, dups) then return nil end
  for i = 1, rawlen(arr) do
    local r = arr[i]
    if type(r) ~= "table" or getmetatable(r) then return nil end
    for _, f in ipairs(ids) do
      if type(rawget(r, f)) ~= "string" then return nil end
    end
  end
  return arr
end

--- An accepted answer against the reference's reading of the same body:
-- the same results, in order, with the same ids.
local function check_results(list, body, name, ids, what)
  check(type(list) == "table", "%s: returned a %s", what, type(list))
  local arr = ref_results(body, name, ids)
  check(arr, "%s: accepted a body the reference refuses: %q", what, body:sub(1, 200))
  check(#list == rawlen(arr), "%s: %d results, cJSON reads %d", what, #list, rawlen(arr))
  for i = 1, #list do
    local r = list[i]
    check(type(r) == "table", "%s: result %d is a %s", what, i, type(r))
    for _, f in ipairs(ids) do
      check(type(r[f]) == "string" and r[f] == rawget(arr[i], f), "%s: result %d: %s differs from cJSON's reading",
        what, i, f)
    end
  end
end

--- Whether br.decode, given no status, may read body as the API's own
-- error: the code and the message an error body gives each say something.
local function plainly_api_error(body)
  local code, message = core.decode_error(body)
  return code ~= nil and message ~= nil and br.Error.one_line(code):find("%S") ~= nil
    and br.Error.one_line(message):find("%S") ~= nil
end

local function do_decode(body)
  local res = invoke(br.decode, body)
  if type(body) ~= "string" then
    -- misuse: raised, naming br.decode (or memory ran out saying so)
    check(caller_calls == 0, "br.decode: ran the caller's code")
    check(res.status == "mem" and res.lf > 0 or res.status == "err"
      and tostring(res[1]):find("br.decode's body must be a string", 1, true), "br.decode: a %s not raised at",
      type(body))
    return { "raised" }
  end
  local outcome = public(res, "br.decode")
  if outcome then return { outcome } end
  local list, err = res[1], res[2]
  if not list then
    check(br.Error.is(err), "br.decode: returned nil and no Error (%s)", type(err))
    local api = err.code ~= "DECODE" and err.code ~= "INTERNAL"
    -- (INTERNAL: memory ran out, only when an allocation was made to fail)
    judge_error(err, "br.decode", api and { [err.code] = true }
      or codes_for({ DECODE = true, INTERNAL = failures(res) or nil }))
    check(not api or plainly_api_error(body), "br.decode: code %s for a body that is no API error: %q",
      tostring(err.code), body:sub(1, 200))
    if not failures(res) then
      check(not ref_results(body, "result", { "pipeline_id", "pipeline_run_id" }),
        "br.decode: refused an answer the reference accepts (%s): %q", err.message, body:sub(1, 200))
    end
    return { "err", err.code }
  end
  check(type(body) == "string", "br.decode: decoded a %s", type(body))
  check_results(list, body, "result", { "pipeline_id", "pipeline_run_id" }, "br.decode")
  return { "ok", #list }
end

-- ---- the binding, directly ----------------------------------------------------

local function stringish(v) return type(v) == "string" or type(v) == "number" end
--- A member name the codec takes: a string or number without a NUL.
local function name_ok(v) return stringish(v) and not tostring(v):find("[%z\1-\31\127]") end
local function to_int(v)
  if type(v) == "number" then return math.tointeger(v) end
  if type(v) == "string" then
    local n = tonumber(v)
    return n and math.tointeger(n)
  end
end

--- The outcome of a core function: it may raise only where raises says
-- (misuse of an internal function), never crash nor run the caller's code.
local function internal(res, what, raises)
  check(caller_calls == 0, "%s: ran the caller's code", what)
  if res.status == "mem" then
    check(res.lf > 0, "%s: memory error, but no allocation failed", what)
    return "mem"
  end
  if res.status == "err" then
    check(raises, "%s raised: %s", what, tostring(res[1]))
    check(type(res[1]) == "string", "%s raised a %s", what, type(res[1]))
    return "raised"
  end
  check(not raises, "%s: accepted %s", what, tostring(raises))
end

local function do_read_items(list, fields)
  local why
  if type(list) ~= "table" then why = "not a table" end
  if fields.n > 8 then why = "too many fields" end
  for i = 1, fields.n do if type(fields[i]) ~= "string" then why = "a field is not a string" end end
  local before = snapshot({ list })
  local res = invoke(core.read_items, list, unpack(fields, 1, fields.n))
  unchanged(before, "core.read_items")
  local outcome = internal(res, "core.read_items", why)
  if outcome then return { outcome } end
  local ref = ref_items(list, fields)
  if res[1] == nil then
    local _, index, field, problem, v, item = unpack(res, 1, 6)
    check(ref.problem and index == ref.index and field == ref.field and problem == ref.problem
      and (rawequal(v, ref.value) or v ~= v) and rawequal(item, ref.item),
      "core.read_items: said item %s field %s is %s; the reference: %s %s %s", show(index), show(field),
      show(problem), show(ref.index), show(ref.field), show(ref.problem))
    return { "err", index, field, problem }
  end
  local flat, n = res[1], res[2]
  check(not ref.problem and n == ref.n and rawlen(flat) == #ref.flat and getmetatable(flat) == nil,
    "core.read_items: %s items, the reference %s", tostring(n), tostring(ref.n or ref.problem))
  local count = 0
  for _ in next, flat do count = count + 1 end
  check(count == #ref.flat, "core.read_items: the flat copy has extra keys")
  for i, v in ipairs(ref.flat) do check(rawequal(flat[i], v), "core.read_items: flat[%d] differs", i) end
  return { "ok", n }
end

--- core.encode_query / encode_ids: a body holding exactly the entries
-- first..last, or a raise where the arguments are wrong.
local function do_encode(key, flat, first, last)
  local width = key == nil and 2 or 1
  local f, l = to_int(first), to_int(last)
  local why
  if key ~= nil and not name_ok(key) then why = "key" end
  if not f or not l then why = "range type" end
  if type(flat) ~= "table" then why = why or "flat" end
  if not why and not (f >= 1 and l >= f and l <= rawlen(flat) // width) then why = "range" end
  if not why then
    for k = (f - 1) * width + 1, l * width do
      if type(rawget(flat, k)) ~= "string" then why = "entry" end
    end
  end
  local what = key == nil and "core.encode_query" or "core.encode_ids"
  local res
  if key == nil then
    res = invoke(core.encode_query, flat, first, last)
  else
    res = invoke(core.encode_ids, key, flat, first, last)
  end
  local outcome = internal(res, what, why)
  if outcome then return { outcome } end
  -- The encoders write into memory Lua gives them: a body, or a raise.
  local body = res[1]
  check(type(body) == "string", "%s: returned a %s, not a body", what, type(body))
  local doc = fuzz.json(body)
  check(type(doc) == "table", "%s: body is not JSON: %q", what, body)
  local k = key == nil and "query" or tostring(key)
  local list = doc[k]
  check(type(list) == "table" and #list == l - f + 1 and next(doc, next(doc)) == nil,
    "%s: body %q is not items %d..%d", what, body:sub(1, 200), f, l)
  for i = f, l do
    local got = list[i - f + 1]
    -- cJSON ends a string at its first NUL.
    local function same(x, id) return x == id:match("^[^%z]*") end
    if width == 2 then
      check(same(got.pipeline_id, rawget(flat, 2 * i - 1)) and same(got.pipeline_run_id, rawget(flat, 2 * i)),
        "%s: item %d differs", what, i)
    else
      check(same(got, rawget(flat, i)), "%s: item %d differs", what, i)
    end
  end
  return { "ok", body }
end

local function do_decode_results(body, list, ids)
  local why
  if not stringish(body) or not name_ok(list) then why = "not a string, or a name with a control character" end
  if ids.n > 8 then why = "too many ids" end
  for i = 1, ids.n do if not name_ok(ids[i]) then why = "an id is not a name" end end
  local res = invoke(core.decode_results, body, list, unpack(ids, 1, ids.n))
  local outcome = internal(res, "core.decode_results", why)
  if outcome then return { outcome } end
  local got, msg = res[1], res[2]
  if got == nil then
    one_line(msg, "core.decode_results")
    return { "err" }
  end
  local names = {}
  for i, f in ipairs(ids) do names[i] = tostring(f) end
  check_results(got, tostring(body), tostring(list), names, "core.decode_results")
  return { "ok", #got }
end

local function do_decode_error(body)
  local res = invoke(core.decode_error, body)
  local outcome = internal(res, "core.decode_error", not stringish(body) and "not a string")
  if outcome then return { outcome } end
  for i = 1, 3 do
    check(res[i] == nil or type(res[i]) == "string", "core.decode_error: result %d is a %s", i, type(res[i]))
  end
  check(res[4] == nil or res[4] == "INTERNAL" and failures(res) and res[1] == nil,
    "core.decode_error: said %s with no allocation made to fail", tostring(res[4]))
  if res[1] ~= nil and not failures(res) then
    local doc, dups = fuzz.json(mend_surrogates(tostring(body)))
    check(type(doc) == "table" and not dups[doc] and (doc.error_code == res[1] or doc.code == res[1]),
      "core.decode_error: code %q is not in the body", res[1])
  end
  return { "ok", res[1], res[2], res[3] }
end

--- An answer of n results, for a big decode.
local function big_body(n)
  local items = {}
  for i = 1, n do
    items[i] = ('{"pipeline_id":"%s","pipeline_run_id":"%s","status":"START_SUCCESS","n":%d,"reason":null}')
      :format(idx_id("d", i), idx_id("e", i), i)
  end
  return '{"result":[' .. table.concat(items, ",") .. "]}"
end

-- ---- finalizers mid-call ----------------------------------------------------

local SMALL = '{"result":[{"pipeline_id":"x","pipeline_run_id":"y"}]}'
local FLAT2 = { ID_POOL[3], ID_POOL[4] }

--- G: while the next action's calls run, a collector that never rests
-- and objects whose finalizers call the module (decode, encode,
-- read_items), each making a new such object, so that they run all
-- through the call; with closes, one of them closes the action's client
-- mid-call.  Each finalizer checks its answers; a memory error inside one
-- (the allocation plan is armed meanwhile) is no fault.
local function start_storm(b, victim)
  local s = { wrong = 0, ran = 0, left = 200 + b, closes = b % 2 == 1 and victim ~= nil, countdown = b // 2 }
  local finalizer
  local function another() setmetatable({}, { __gc = finalizer }) end
  function finalizer()
    if not s.inside then return end
    s.ran = s.ran + 1
    local ok, e = pcall(function()
      local r = br.decode(SMALL)
      if r and r[1].pipeline_id ~= "x" then s.wrong = s.wrong + 1 end
      local body = core.encode_query(FLAT2, 1, 1)
      if body and not body:find(ID_POOL[4], 1, true) then s.wrong = s.wrong + 1 end
      local flat = core.read_items({ ID_POOL[5] })
      if flat and flat[1] ~= ID_POOL[5] then s.wrong = s.wrong + 1 end
      if s.closes and not victim.closed then
        s.countdown = s.countdown - 1
        if s.countdown < 0 then
          victim.closed = true
          s.victim_closed = true
          victim.obj:close()
        end
      end
      if s.left > 0 then
        s.left = s.left - 1
        another()
      end
    end)
    if not ok and e ~= "not enough memory" then s.error = tostring(e) end
  end
  function s.begin()
    s.inside = true
    s.pause_was = collectgarbage("setpause", 100)
    s.stepmul_was = collectgarbage("setstepmul", 1000)
    -- The pause counts from the end of a cycle: end one now, so that the
    -- next starts at once and runs (with its finalizers) inside the call.
    collectgarbage()
    collectgarbage("stop") -- (else they would be finalized as they are made)
    for _ = 1, 10 + b % 32 do another() end
    collectgarbage("restart")
  end
  function s.pause()
    s.inside = false
    collectgarbage("setpause", s.pause_was)
    collectgarbage("setstepmul", s.stepmul_was)
  end
  storm = s
end

local function end_storm()
  local s = storm
  storm = nil
  collectgarbage()
  if trace_storm then trace_storm(s) end
  check(s.wrong == 0, "a finalizer got a wrong answer from the module")
  check(not s.error, "a finalizer failed: %s", tostring(s.error))
end

-- ---- the program --------------------------------------------------------------

--- n values, as { n = n, … } (some may be nil).
local function values(n)
  local t = { n = n }
  for i = 1, n do t[i] = value(0) end
  return t
end

--- Whether two answers to the same call agree, when both are whole (no
-- memory error, no encode that ran out of memory, no client closed).
local function same(a, b)
  local partial = { mem = true, CLOSED = true, closed = true }
  if partial[a[1]] or partial[b[1]] or partial[a[2]] or partial[b[2]] then return true end
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] and not (a[i] ~= a[i] and b[i] ~= b[i]) then return false end
  end
  return true
end

--- Reads one action's arguments; returns a function that runs it (and
-- returns what to compare when it runs twice), or nil for a byte that is
-- no action.
local function parse_action()
  local c = string.char(byte())
  local cl = action_client or client
  if c == "N" then
    local opts = value(0)
    return function() return do_new(opts) end
  elseif c == "P" or c == "Q" or c == "R" or c == "A" then
    local method = ({ P = "prepare", Q = "query", R = "run", A = "run_and_query" })[c]
    local list, opts = value(0), value(0)
    if c ~= "P" then opts = dry(opts) end
    return function()
      local out = do_call(method, list, opts, cl)
      -- The same call on a plain copy: metatables must change nothing
      -- (but on the options, which are refused for one).
      if not storm and not cl.closed and debug.getmetatable(opts) == nil then
        local again = do_call(method, plain(list), plain(opts), cl)
        check(same(out, again), "client:%s: the plain copy gets another answer (%s / %s)", method,
          tostring(out[2] or out[1]), tostring(again[2] or again[1]))
      end
      return out
    end
  elseif c == "S" then
    local t = value(0)
    return function()
      local out = do_sign(t)
      local named = type(t) == "table" and (debug.getmetatable(t) or debug.getmetatable(rawget(t, "headers")))
      if out[1] ~= "mem" and not named then
        local again = do_sign(plain(t))
        if again[1] ~= "mem" then
          check(same(out, again), "br.sign: the plain copy gets another answer")
        end
      end
      return out
    end
  elseif c == "D" then
    local body = value(0)
    return function() return do_decode(body) end
  elseif c == "B" then
    -- (A collector that never rests makes a decode quadratic: smaller.)
    local body = big_body(byte() * (storm and 2 or 8))
    return function() return do_decode(body) end
  elseif c == "I" then
    local list = value(0)
    local fields = values(byte() % 10)
    return function() return do_read_items(list, fields) end
  elseif c == "E" then
    local flat, first, last = value(0), value(0), value(0)
    return function() return do_encode(nil, flat, first, last) end
  elseif c == "J" then
    local key, flat, first, last = value(0), value(0), value(0), value(0)
    if key == nil then key = "pipeline_ids" end
    return function() return do_encode(key, flat, first, last) end
  elseif c == "C" then
    local body, list = value(0), value(0)
    local ids = values(byte() % 10)
    return function() return do_decode_results(body, list, ids) end
  elseif c == "X" then
    local body = value(0)
    return function() return do_decode_error(body) end
  end
end

-- FUZZ_BINDING_TRACE=1: each action and what it got, on stdout (to read
-- what a seed does).
local trace = os.getenv("FUZZ_BINDING_TRACE") and function(c, out, t0)
  local shown = {}
  for i = 1, math.min(#(out or {}), 3) do shown[i] = tostring(out[i]):sub(1, 60) end
  io.stdout:write(("%s -> %s (%.1f ms)\n"):format(c, table.concat(shown, " "), (os.clock() - t0) * 1000))
end or function() end

local actions = 0
while more() and actions < 64 do
  local c = string.char(byte())
  actions = actions + 1
  if c == "@" or c == "$" then
    local count = byte()
    fuzz.plan(c == "@" and "lua" or "json", byte() * 256 + byte(), count)
  elseif c == "G" then
    start_storm(byte(), action_client)
  elseif c == "V" then
    action_client = new_client()
  elseif c == "L" then
    -- A host may load the module again (busted's insulation does): the
    -- new table must work, and the old one keep working beside it.
    local name = "codearts.batchresult.core"
    local old = package.loaded[name]
    package.loaded[name] = nil
    local res = invoke(require, name)
    package.loaded[name] = old
    if res.status == "ok" then
      check(res[1] ~= old and res[1].encode_ids("k", { ID_POOL[1] }, 1, 1) == '{"k":["' .. ID_POOL[1] .. '"]}',
        "the module loaded again does not encode")
    else
      check(res.status == "mem" and res.lf > 0, "loading the module again raised: %s", tostring(res[1]))
    end
    collectgarbage()
    check(br.sign { method = "GET", path = "/", headers = { ["X-Sdk-Date"] = "20060102T150405Z" }, ak = "AK",
                    sk = "SK" }, "signing after the module was loaded again failed")
  elseif c == "Z" then
    client.obj:close()
    client.closed = true
    local res = invoke(client.obj.prepare, client.obj, { { pipeline_id = ID_POOL[1], pipeline_run_id = ID_POOL[2] } })
    check(res.status == "err" and tostring(res[1]):find("the client is closed", 1, true)
      or res.status == "mem" and res.lf > 0, "a closed client's prepare did not raise")
    client = new_client()
  else
    local twice = c == "T"
    if not twice then pos = pos - 1 end
    local t0 = os.clock()
    local run = parse_action()
    if run then
      local first = run()
      trace(c, first, t0)
      if twice then
        local second = run()
        check(same(first, second), "the same call twice got two answers")
      end
    end
    if storm then end_storm() end
    if action_client then
      action_client.obj:close()
      action_client = nil
    end
  end
  check(caller_calls == 0, "the caller's code ran: %s", first_call)
end
client.obj:close()
if os.getenv("FUZZ_BINDING_MEM") then io.stdout:write("KB ", collectgarbage("count"), "\n") end
