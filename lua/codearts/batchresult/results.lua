--- codearts.batchresult.results: asking questions of a batch's answer.
--
-- A result set is the plain array client:query (or br.decode) returns,
--   { { pipeline_id, pipeline_name, pipeline_run_id, status, reason }, … }
-- with a metatable that lends it methods.  It stays a plain array: `#`,
-- ipairs and indexing work as before, its results are the very same
-- tables, and the only keys on it are the results and whatever fields
-- the caller put there (e.g. `missing`).  The methods live in the
-- metatable's __index, so a caller's own field of the same name (say
-- `rs.summary = …`) hides the method on that set.
--
--   local R = require "codearts.batchresult.results"
--   local rs = R.wrap(assert(client:query(runs)))
--   for _, r in ipairs(rs:failed():where { reason_kind = "queued" }) do … end
--   print(rs)                     -- one line per result
--   R.reason_kind(r.reason)       -- "banned", "queued", "change_request", "other"
--
-- Module functions:
--   R.wrap(array [, err])     -> array, now a result set (in place)
--   R.is(v)                   -> boolean
--   R.reason_kind(reason)     -> kind, or nil when reason is nil
--   R.summary(results)        -> { total, by_status, by_reason_kind }
--   R.summary_for(module)     -> R.summary, raising on br:summary()
--   R.REASON_KINDS            the four kinds, in a fixed order
--   R.FIELDS                  a result's fields, in the API's order
-- Methods (each one that returns a set returns a NEW set, in the original
-- order, sharing the result tables; none modifies the set it is called on):
--   rs:succeeded()  rs:failed()  rs:where(filter)  rs:group_by(key)
--   rs:find(pipeline_run_id)  rs:pairs()  rs:summary()  tostring(rs)
--
-- Misuse (a filter of the wrong type or with a metatable, an unknown
-- reason kind, a method called with `.` instead of `:`) raises an error:
-- it is a bug in the caller, not a runtime failure, so it does not follow
-- the library's `nil, err` convention.
local Error = require "codearts.batchresult.error"
local columns = require "codearts.batchresult.columns"
local width = columns.of
local well_formed = require("codearts.batchresult.text").well_formed
local number_text = require("codearts.batchresult.text").number_text
local lower = require("codearts.batchresult.text").lower
local input = require "codearts.batchresult.input"
local core = require "codearts.batchresult.core"

local M = {}

local type, next, ipairs, tostring, error, getmetatable, setmetatable, rawget =
  type, next, ipairs, tostring, error, getmetatable, setmetatable, rawget
local concat, sort, rep, floor = table.concat, table.sort, string.rep, math.floor

local PREFIX = "codearts.batchresult: "

local SUCCESS, FAILED = "START_SUCCESS", "START_FAILED"

--- The kinds R.reason_kind answers, in a fixed order: the order to walk a
-- summary's by_reason_kind in, since pairs has none.
M.REASON_KINDS = { "banned", "queued", "change_request", "other" }

-- A result's fields, in the order the API documents them; their names
-- are the API's own, which no server's text renames (M.redacted).
M.FIELDS = { "pipeline_id", "pipeline_name", "pipeline_run_id", "status", "reason" }
local API_FIELD = {}
for _, name in ipairs(M.FIELDS) do API_FIELD[name] = true end
-- The lists a call's set carries besides its results (client:query's
-- missing, run_and_query's not_started): names of the library's.
local SET_LISTS = { missing = true, not_started = true }
local IS_KIND = {}
for _, kind in ipairs(M.REASON_KINDS) do IS_KIND[kind] = true end

local methods = {}
local Set = { __index = methods }

------------------------------------------------------------------------
-- reason_kind
------------------------------------------------------------------------

--- The reason's words: lower case, apostrophes dropped ("isn't" -> "isnt",
-- so a negation stays one word), everything that is not an ASCII letter
-- or digit a separator ("change-request" -> "change", "request").
-- Matching whole words, never substrings, is what keeps "exchange request"
-- from reading as "change request" and "unbanned" from reading as "banned".
-- (lowered by text.lower, which follows no locale a host may have set)
local function words(s)
  s = lower(s):gsub("\226\128\153", ""):gsub("'", "")
  local t = {}
  for w in s:gmatch("[0-9a-z]+") do t[#t + 1] = w end
  return t
end

local function starts(w, prefix)
  return w ~= nil and w:sub(1, #prefix) == prefix
end

-- Words that, one or two words before "banned", say the opposite:
-- "is not banned", "hasn't been banned", "no longer banned", "un-banned".
local NEGATION = {
  ["not"] = true, never = true, no = true, un = true, isnt = true, wasnt = true,
  arent = true, werent = true, hasnt = true, havent = true, hadnt = true,
}

--- "Current pipeline is banned.": the word "banned", not negated.  "ban"
-- or "disabled" alone are not enough: neither is the documented wording,
-- and both turn up in unrelated messages.
local function is_banned(w)
  for i = 1, #w do
    if w[i] == "banned" and not (NEGATION[w[i - 1]] or NEGATION[w[i - 2]]) then return true end
  end
  return false
end

-- Words that say a limit was hit, next to "concurrency" or "parallel".
local LIMIT = {
  max = true, maximum = true, limit = true, limits = true, limited = true, reach = true,
  reached = true, exceed = true, exceeded = true, exceeds = true, exceeding = true,
}

--- "Reached the maximum of 1 concurrencies for single pipeline. Entering
-- the queuing state.": either half is enough, since either says the run
-- waits for a slot.  The first half needs a concurrency word
-- (concurrency, concurrencies, concurrent; or parallel, the word the
-- product limits use) AND a limit word (max, maximum, limit, reached,
-- exceeded, …); the number never matters.  The second half needs a word
-- starting "enter" followed, later, by one starting "queu" (queue,
-- queuing, queueing, queued).  Either signal alone is not enough:
-- "concurrent modification" or "message queue unavailable" are other
-- failures.
local function is_queued(w)
  local concurrency, limit, entering = false, false, false
  for i = 1, #w do
    local word = w[i]
    if starts(word, "concurren") or word == "parallel" then concurrency = true end
    if LIMIT[word] then limit = true end
    if starts(word, "enter") then entering = true end
    if entering and starts(word, "queu") then return true end
  end
  return concurrency and limit
end

--- "The change request pipeline can not batch run.": the two words
-- "change request(s)" side by side, or run together as "changerequest".
-- The rest of the sentence varies too much ("cannot", "can't be run in
-- batch", …) to demand; "change" and "request" apart ("request to change
-- the branch") do not count.
local function is_change_request(w)
  for i = 1, #w do
    local word = w[i]
    if word == "changerequest" or word == "changerequests" then return true end
    if word == "change" and (w[i + 1] == "request" or w[i + 1] == "requests") then return true end
  end
  return false
end

--- R.reason_kind(reason) -> "banned" | "queued" | "change_request" |
-- "other", or nil when reason is nil.
--
-- The rules (see is_banned, is_queued, is_change_request above) match
-- whole words, ignoring case, punctuation and spacing, so the documented
-- reasons are recognised however the server words them this year.  A
-- reason that fits none of them is "other", and so is one that fits more
-- than one: an ambiguous text is not claimed for either kind, since a
-- wrong kind (say "queued", which means "it will start later") is worse
-- than an honest "other".  A reason that is not a string (the field's
-- type is not guaranteed) is "other" too.
function M.reason_kind(reason)
  if reason == nil then return nil end
  if type(reason) ~= "string" then return "other" end
  local w = words(reason)
  local banned, queued, change_request = is_banned(w), is_queued(w), is_change_request(w)
  local found = (banned and 1 or 0) + (queued and 1 or 0) + (change_request and 1 or 0)
  if found ~= 1 then return "other" end
  return banned and "banned" or queued and "queued" or "change_request"
end
local reason_kind = M.reason_kind

------------------------------------------------------------------------
-- Sets
------------------------------------------------------------------------

local function new_set()
  return setmetatable({}, Set)
end

--- The length of array, read raw: its items 1..n.  Raises, naming the
-- function name and pointing at its caller (level: of error(), 3 when
-- only_tables is called by the function itself), at an item that is no
-- table, or at a hole: a whole number key past a missing one, math.huge
-- among them, as core.read_items counts them (not k % 1 == 0, which is
-- NaN for it).  (Every method checks so: one that walked up to #array
-- would skip, unsaid, what a border of Lua's choosing leaves out.)
local function only_tables(array, name, level)
  local n = 0
  while rawget(array, n + 1) ~= nil do
    n = n + 1
    local r = rawget(array, n)
    if type(r) ~= "table" then
      error(PREFIX .. name .. ": element " .. n .. " is a " .. type(r) .. ", not a result table", level or 3)
    end
  end
  for k in next, array do
    if type(k) == "number" and k > n and floor(k) == k then
      error(PREFIX .. name .. ": element " .. n + 1 .. " is a nil, not a result table", level or 3)
    end
  end
  return n
end

--- The items 1..n of the caller's array, read raw (input.lua's rule: an
-- __index or __len of the caller's neither runs nor counts), into a list
-- of the library's; checked as only_tables checks (level: of error(), 4
-- when raw_results is called by the function itself).
local function raw_results(array, name, level)
  local out = {}
  for i = 1, only_tables(array, name, level or 4) do out[i] = rawget(array, i) end
  return out
end

--- R.wrap(array) -> array: gives a plain result array the methods, in
-- place, and returns it.  Wrapping a set again changes nothing.
-- R.wrap(nil, err) returns nil, err, so the answer of a query can be
-- wrapped as it comes:
--   local rs, err = R.wrap(client:query(runs))
-- Raises when array is not a table, has a metatable of its own (taking it
-- away would break whoever set it), or holds something other than tables.
function M.wrap(array, err)
  if array == nil then return nil, err end
  if type(array) ~= "table" then
    error(PREFIX .. "wrap: expected an array of results, got " .. type(array), 2)
  end
  local mt = getmetatable(array)
  if mt == Set then return array end
  if mt ~= nil then error(PREFIX .. "wrap: the array already has a metatable", 2) end
  -- (walked up to its border, as the arrays it is given are the library's
  -- own, sequences: the whole check, which costs four times as much on
  -- every answer decoded, only names what is wrong)
  for i = 1, #array do
    if type(array[i]) ~= "table" then only_tables(array, "wrap") end
  end
  return setmetatable(array, Set)
end

--- R.is(v) -> true when v is a result set (R.wrap has seen it).
function M.is(v)
  return getmetatable(v) == Set
end

--- R.redacted(t, redact) -> a copy of the table t (a result set, a run's
-- list, err.results), read raw, every string value in it, at any depth,
-- as redact gives it (client:redact's copy); a result set's copy is one
-- too.  tostring shows each field on one line (Error.one_line: a run of
-- control characters one space), where a secret the redactor read apart
-- may be whole: such a value is copied as that line, redacted.  A string
-- key in it is redacted too, but for the API's field names (M.FIELDS)
-- and the names of t's lists (SET_LISTS): a field a server adds is named
-- by it, and may be named by a token it echoes.
-- Two keys that redact alike (both holding a secret) would be one: the
-- key that was given so keeps its value, and of the others the first in
-- byte order.
function M.redacted(t, redact)
  local copies, unfilled = {}, {}
  local function text(s)
    local said = redact(s)
    local line = Error.one_line(said)
    if line ~= said and redact(line) ~= line then return redact(line) end
    return said
  end
  -- v's copy; a table's is made empty and filled later, from unfilled, so
  -- that no depth of nesting is too deep (a table met again, as in a
  -- cycle, is the copy made of it)
  local function copy(v)
    if type(v) == "string" then return text(v) end
    if type(v) ~= "table" then return v end
    if not copies[v] then
      copies[v] = {}
      unfilled[#unfilled + 1] = v
    end
    return copies[v]
  end
  local function fill(v)
    local c, renamed = copies[v], {}
    -- (walked in a raw copy, made in C: a finalizer that a step of the
    -- collector runs here may change v, and next would raise)
    local fields = core.raw_copy(v)
    for k, x in next, fields do
      -- (t's lists keep their names, SET_LISTS')
      local said = type(k) == "string" and not (rawequal(v, t) and SET_LISTS[k]) and not API_FIELD[k] and text(k) or k
      if said == k then c[k] = copy(x) else renamed[#renamed + 1] = k end
    end
    table.sort(renamed)
    for _, k in ipairs(renamed) do
      local said = text(k)
      if c[said] == nil then c[said] = copy(fields[k]) end
    end
  end
  local out = copy(t)
  while #unfilled > 0 do fill(table.remove(unfilled)) end
  return M.is(t) and setmetatable(out, Set) or out
end

-- A method called as rs.where{…} gets the filter as self; say so rather
-- than fail later on a confusing index error.  So too for a set that the
-- caller has put something other than a result table in.
-- (level: of error(), 3 when check_set is called by the method itself)
local function check_set(self, name, level)
  if getmetatable(self) ~= Set then
    error(PREFIX .. "call results:" .. name .. "(…) with a colon, on a result set", level or 3)
  end
end

--- The set's results, checked, as a list of the library's (raw_results),
-- which the method walks: a function of the caller's that it runs (a
-- where filter, a group_by key) may change the set, and that must change
-- nothing of what the call reads (README: read once).
local function check_self(self, name)
  check_set(self, name, 4)
  local results = raw_results(self, "results:" .. name, 5)
  return results -- (not a tail call, which would leave a level out)
end

--- A new set of the results (a list) for which keep(r) is true, in order.
local function keep_if(results, keep)
  local out, n = new_set(), 0
  for i = 1, #results do
    local r = results[i]
    if keep(r) then
      n = n + 1
      out[n] = r
    end
  end
  return out
end

--- rs:succeeded() -> the results whose status is START_SUCCESS.
function methods:succeeded()
  return keep_if(check_self(self, "succeeded"), function(r) return rawget(r, "status") == SUCCESS end)
end

--- rs:failed() -> every other result: START_FAILED, but also a status the
-- documentation does not list, or none at all, since none of those says
-- the run started.  succeeded() and failed() always split a set in two.
function methods:failed()
  return keep_if(check_self(self, "failed"), function(r) return rawget(r, "status") ~= SUCCESS end)
end

-- Fields where a string filter value is a substring to look for: free
-- text, where nobody wants to spell out the whole message or name.
local SUBSTRING_FIELDS = { reason = true, pipeline_name = true }

--- The value of field (a name, or "reason_kind": the kind of the
-- result's reason) in result r, read raw, as every method reads a
-- result: an __index of the caller's, which a result may have been given
-- since, neither runs nor counts (README: read once, raw).
local function field_of(r, field)
  if field == "reason_kind" then return reason_kind(rawget(r, "reason")) end
  return rawget(r, field)
end

--- One test of a table filter, as a function of the result.
local function field_test(field, want)
  local function get(r) return field_of(r, field) end
  if type(want) == "function" then
    return function(r) return want(get(r)) and true or false end
  end
  if field == "reason_kind" then
    if not IS_KIND[want] then
      -- (quoted as the library quotes a refused value, input.escaped: on
      -- one line, no terminal escape, at most QUOTED_BYTES of it)
      local shown = type(want) == "string"
        and ("'" .. input.escaped(want:sub(1, input.QUOTED_BYTES)) .. "'"
          .. (#want > input.QUOTED_BYTES and "…" or ""))
        or ("a " .. type(want))
      error(PREFIX .. "where: unknown reason_kind " .. shown
        .. " (expected banned, queued, change_request or other)", 3)
    end
  elseif SUBSTRING_FIELDS[field] and type(want) == "string" then
    return function(r)
      local v = get(r)
      return type(v) == "string" and v:find(want, 1, true) ~= nil
    end
  end
  -- (raw: a value's __eq, which 5.3 and later would run, is the caller's)
  return function(r) return rawequal(get(r), want) end
end

--- rs:where(filter) -> the results that match filter.
-- filter is either
--   a function (r) -> boolean (any true value keeps r), or
--   a table of field = value, all of which must match:
--     reason, pipeline_name  a string value is a plain, case-sensitive
--                            substring of the field (no Lua patterns);
--     reason_kind            a pseudo-field: R.reason_kind(r.reason)
--                            must equal the value, one of R.REASON_KINDS
--                            (a misspelt kind raises rather than quietly
--                            matching nothing); it hides a real field of
--                            that name;
--     any other field        equality (==);
--     a function value       (v) -> boolean, given the field's value
--                            (for reason_kind, the kind).
--   An empty table matches everything.
-- Any other filter, a table with a metatable (read raw, what its __index
-- serves would not count: input.lua), or a key that is not a string,
-- raises.
function methods:where(filter)
  local results = check_self(self, "where")
  local ft = type(filter)
  if ft == "function" then
    return keep_if(results, function(r) return filter(r) and true or false end)
  end
  if ft ~= "table" then
    error(PREFIX .. "where: filter must be a function or a table of field = value, got " .. ft, 2)
  end
  -- (a filter whose fields an __index serves would match everything)
  local behind = input.metatable_refused(filter, "where: filter")
  if behind then error(PREFIX .. behind, 2) end
  -- The keys in one order, not next's, which follows the string hash seed
  -- (a new one each run on Lua 5.2 and later and on LuaJIT): a refusal
  -- names the same key each time, and the filter's functions run in the
  -- same order.
  local fields, wants, bad = {}, {}, nil
  -- (walked in a raw copy, made in C: a finalizer may change filter)
  for field, want in next, core.raw_copy(filter) do
    local t = type(field)
    if t == "string" then
      fields[#fields + 1], wants[field] = field, want
    elseif bad == nil or t < bad then
      bad = t
    end
  end
  if bad then error(PREFIX .. "where: filter keys must be field names, got a " .. bad .. " key", 2) end
  sort(fields)
  local tests = {}
  -- (from the one walk of filter's: it is read once)
  for i, field in ipairs(fields) do tests[i] = field_test(field, wants[field]) end
  return keep_if(results, function(r)
    for i = 1, #tests do
      if not tests[i](r) then return false end
    end
    return true
  end)
end

--- rs:group_by(key) -> groups, keys
-- key is a field name ("status", "pipeline_id", …, and "reason_kind" for
-- R.reason_kind(r.reason)) or a function (r) -> key.  groups is a plain
-- table, key -> result set, each set in the original order.  A result
-- whose key is nil (or NaN, which cannot index a table) is in no group:
-- group_by("reason_kind") leaves out the results without a reason, as
-- group_by("reason") does.  keys lists the groups' keys in the order
-- they first appear, for printing them in a stable order.
function methods:group_by(key)
  local results = check_self(self, "group_by")
  local get
  if type(key) == "string" then
    get = function(r) return field_of(r, key) end
  elseif type(key) == "function" then
    get = key
  else
    error(PREFIX .. "group_by: key must be a field name or a function, got " .. type(key), 2)
  end
  local groups, keys = {}, {}
  for i = 1, #results do
    local r = results[i]
    local k = get(r)
    if k ~= nil and k == k then
      local group = groups[k]
      if not group then
        group = new_set()
        groups[k] = group
        keys[#keys + 1] = k
      end
      group[#group + 1] = r
    end
  end
  return groups, keys
end

--- rs:find(pipeline_run_id) -> the first result with that run id, or nil.
-- A walk through the set, checked as it goes: a lookup in a loop would
-- otherwise check the whole set each time.  For many lookups, index the
-- set once: rs:group_by("pipeline_run_id").
function methods:find(pipeline_run_id)
  check_set(self, "find")
  if pipeline_run_id == nil then return nil end
  for i = 1, #self do
    local r = self[i]
    if type(r) ~= "table" then only_tables(self, "results:find") end
    if rawget(r, "pipeline_run_id") == pipeline_run_id then return r end
  end
  -- (not found: the whole set was walked, so checking it costs no more)
  only_tables(self, "results:find")
  return nil
end

--- rs:pairs() -> a new plain array of { pipeline_id, pipeline_run_id },
-- one per result, in order: what client:query takes, so a set (say the
-- queued ones) can be asked about again.  Duplicates are kept.
function methods:pairs()
  local results = check_self(self, "pairs")
  local out = {}
  for i = 1, #results do
    local r = results[i]
    out[i] = { pipeline_id = rawget(r, "pipeline_id"), pipeline_run_id = rawget(r, "pipeline_run_id") }
  end
  return out
end

--- R.summary(results) -> {
--   total = #results,
--   by_status = { START_SUCCESS = n, START_FAILED = n, [other status] = n },
--   by_reason_kind = { banned = n, queued = n, change_request = n, other = n },
-- }
-- The two documented statuses and the four kinds are always present, 0
-- when absent, so `s.by_status.START_FAILED > 0` needs no nil check.  A
-- status the documentation does not list is counted under its own value;
-- a result with no status is counted in total only.  by_reason_kind
-- counts only the results that have a reason.  results may be a set or
-- any plain array of result tables: read once and raw, as every entry
-- reads the caller's tables (input.lua), so an __index or __len of the
-- caller's neither runs nor counts.
--
-- R.summary_for(module) is R.summary for the module table module, as
-- br.summary: it raises when given module itself (br:summary(), called
-- with a colon), which would read as an empty set.  (A function of its
-- own, not a check around R.summary: the raises must point at the line
-- that called it, which a tail call on Lua 5.1 loses.)
local function summary_for(module)
  return function(results)
    if type(results) ~= "table" then
      error(PREFIX .. "summary: expected an array of results, got " .. type(results), 2)
    end
    if rawequal(results, module) then input.dot_slip("summary", 2) end
    local given = results
    results = raw_results(results, "summary")
    -- One result, or a call's error, holds no item 1..n: it would read
    -- as 0 results, without a word.  (Only when empty: a set may carry
    -- fields of the caller's.)  Told by what it holds, read raw, as
    -- br.reason_kind tells a result.
    if #results == 0 then
      if Error.is(given) then
        error(PREFIX .. "summary: expected an array of results, got an error (what arrived is err.results)", 2)
      end
      if rawget(given, "pipeline_run_id") ~= nil or rawget(given, "pipeline_id") ~= nil then
        error(PREFIX .. "summary: expected an array of results, got one result (give { r })", 2)
      end
    end
    local by_status = { [SUCCESS] = 0, [FAILED] = 0 }
    local by_kind = { banned = 0, queued = 0, change_request = 0, other = 0 }
    local n = #results
    for i = 1, n do
      local r = results[i]
      local status = rawget(r, "status")
      if status ~= nil and status == status then by_status[status] = (by_status[status] or 0) + 1 end
      local kind = field_of(r, "reason_kind")
      if kind then by_kind[kind] = by_kind[kind] + 1 end
    end
    return { total = n, by_status = by_status, by_reason_kind = by_kind }
  end
end
M.summary_for = summary_for
M.summary = summary_for(nil)

--- rs:summary() -> R.summary(rs).
function methods:summary()
  return M.summary(check_self(self, "summary"))
end

------------------------------------------------------------------------
-- tostring
------------------------------------------------------------------------

local NAME_MAX, REASON_MAX = 30, 60

--- A field's value as text that is the same every run: strings as they
-- are (ill-formed UTF-8 as U+FFFD, one a byte, as a terminal draws it and
-- the cut and the padding count it; control characters as one space, so a
-- result stays on one line),
-- numbers worded alike on every Lua (text.number_text: tostring words
-- 2^53, -0 or 86400.00000000001 by Lua), booleans as Lua writes them,
-- anything else by its type alone (a table's address would change from
-- run to run).
local function show(v, default)
  local t = type(v)
  if t == "string" then
    return Error.one_line(well_formed(v))
  elseif t == "nil" then
    return default
  elseif t == "number" then
    return number_text(v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return "<" .. t .. ">"
end

--- Characters in s, counting a UTF-8 sequence as one: what a cut counts,
-- so that a Chinese pipeline name is not cut in the middle of a
-- character.  (Padding counts columns, a wide character's two: columns.)
local function characters(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

-- How far back (in bytes) clip looks for a space, so as not to cut a word
-- in two.
local WORD_BACKOFF = 12

--- s cut to at most max characters, the last of them "…" when cut.  The
-- cut falls between words when a space is near enough (a short word is
-- easier to recognise whole than a long one halved), and the punctuation
-- and spaces left before "…" go: "…single pipeline…", not "pipeline. …".
local function clip(s, max)
  if characters(s) <= max then return s end
  local n, cut = 0, nil
  for i = 1, #s do
    local b = s:byte(i)
    if b < 128 or b >= 192 then
      n = n + 1
      if n == max then
        cut = i - 1
        break
      end
    end
  end
  local head = s:sub(1, cut)
  if s:sub(cut + 1, cut + 1) ~= " " then
    -- A space is one byte, so the cut stays on a character boundary.
    local space = head:find(" [^ ]*$")
    if space and cut - space < WORD_BACKOFF then head = head:sub(1, space - 1) end
  end
  head = head:gsub("[%s%.,;:]+$", "")
  return head .. "…"
end

local function pad(s, w)
  return s .. rep(" ", w - width(s))
end

--- How many of the items asked the server did not report (the set's
-- missing list, which only a call's own set has), for the header.
local function not_reported(self)
  local missing, n = rawget(self, "missing"), 0
  -- (counted raw: a __len the caller gave it neither runs nor counts)
  if type(missing) == "table" then
    while rawget(missing, n + 1) ~= nil do n = n + 1 end
  end
  return n > 0 and ("; " .. n .. " not reported") or ""
end

--- The header: "6 results: 3 START_SUCCESS, 3 START_FAILED", then
-- "; 1 not reported" when the server left out items it was asked about.
-- The documented statuses come first, any others after them in sorted
-- order, results without a status last as "no status".  statuses[i] is
-- the status of the set's result i, as its row shows it (read once).
local function header(self, statuses, n)
  local head = n .. (n == 1 and " result" or " results")
  if n == 0 then return head .. not_reported(self) end
  local counts, others, none = {}, {}, 0
  for i = 1, n do
    local s = statuses[i]
    if s == nil then
      none = none + 1
    else
      s = show(s)
      if not counts[s] then
        counts[s] = 0
        if s ~= SUCCESS and s ~= FAILED then others[#others + 1] = s end
      end
      counts[s] = counts[s] + 1
    end
  end
  sort(others)
  local parts = {}
  if counts[SUCCESS] then parts[#parts + 1] = counts[SUCCESS] .. " " .. SUCCESS end
  if counts[FAILED] then parts[#parts + 1] = counts[FAILED] .. " " .. FAILED end
  for _, s in ipairs(others) do parts[#parts + 1] = counts[s] .. " " .. s end
  if none > 0 then parts[#parts + 1] = none .. " no status" end
  return head .. ": " .. concat(parts, ", ") .. not_reported(self)
end

--- tostring(rs): a header with the count, then one line per result, in
-- order, in aligned columns:
--   6 results: 3 START_SUCCESS, 3 START_FAILED
--     Pipeline 1  e41fe3981361476eb6dad17ad98c683c  START_FAILED   Current pipeline is banned.
--     Pipeline 2  3d8143d197dd4fa5b23f20ee39179af3  START_SUCCESS  -
-- The name falls back to the pipeline id, then "?"; a missing status
-- reads "?", a missing reason "-".  Names are cut at 30 characters and
-- reasons at 60, with "…"; ids are never cut, since they are what one
-- copies, and a column is aligned to at most 64 columns (columns.lua's
-- ALIGN_MAX: a longer cell pushes only its own line right).  An empty
-- set reads "0 results".  No addresses, so the text is the same on every
-- run and fit for a test to compare.
function Set.__tostring(self)
  only_tables(self, "tostring")
  local rows, statuses, name_w, status_w = {}, {}, 0, 0
  local n = #self
  for i = 1, n do
    local r = self[i]
    -- (each field read once, raw, so that the header counts what the
    -- rows show)
    local status = rawget(r, "status")
    -- Without a name, the id stands in for it, whole, as ids always are;
    -- so too for a name the row would show blank (show makes every
    -- control character a space), told by what it shows: the name's own
    -- %S would follow the C locale's isspace, which a host may have set.
    local name = rawget(r, "pipeline_name")
    name = type(name) == "string" and show(name)
    local shown = name and name:find("[^ ]") and clip(name, NAME_MAX) or show(rawget(r, "pipeline_id"), "?")
    local row = {
      shown,
      show(rawget(r, "pipeline_run_id"), "?"),
      show(status, "?"),
      clip(show(rawget(r, "reason"), "-"), REASON_MAX),
    }
    statuses[i] = status
    if width(row[1]) > name_w then name_w = width(row[1]) end
    if width(row[3]) > status_w then status_w = width(row[3]) end
    rows[i] = row
  end
  local run_w = 0
  for i = 1, #rows do
    if width(rows[i][2]) > run_w then run_w = width(rows[i][2]) end
  end
  -- (a longer cell pushes only its own line right)
  local most = columns.ALIGN_MAX
  name_w, run_w, status_w = math.min(name_w, most), math.min(run_w, most), math.min(status_w, most)
  local lines = { header(self, statuses, n) }
  for i = 1, #rows do
    local row = rows[i]
    lines[#lines + 1] = "  " .. pad(row[1], name_w) .. "  " .. pad(row[2], run_w) .. "  "
      .. pad(row[3], status_w) .. "  " .. row[4]
  end
  return concat(lines, "\n")
end

return M
