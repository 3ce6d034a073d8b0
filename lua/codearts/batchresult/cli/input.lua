--- Where the tool's items come from: pairs (query) or pipeline ids (run),
-- given as arguments, or read from a file or stdin in a format detected
-- from its content.
--
-- This module splits text into items and remembers where each came from;
-- it never judges an id.  The library checks every item before anything is
-- sent, and when it refuses one it says which (err.index), so the tool can
-- name the user's line or argument: `input line 7: pipeline_run_id must be
-- 32 letters or digits, got "abc"`.
--
-- Formats, for pairs:
--   a JSON array of {"pipeline_id": …, "pipeline_run_id": …} objects;
--   the API's request body, {"query": [ …the same… ]};
--   the tool's own output, --format json ({"result": [ …the same… ], …},
--   every pair of its lists read: a failed call's "unanswered" pairs are
--   the ones most worth asking again) or --format ndjson (one such object
--   a line), so that what run printed can be asked about;
--   CSV (RFC 4180) whose header names pipeline_id and pipeline_run_id, in
--   any order, among any other columns;
--   lines of two ids separated by white space, a comma or a colon, with
--   blank lines and # comments.
-- For pipeline ids: a JSON array of strings, {"pipeline_ids": [ … ]}, or
-- one id per line (blank lines and # comments allowed).
-- A member given twice (JSON), a column named twice or a row longer than
-- its header (CSV) is refused: whichever the reader kept, the other was
-- dropped unsaid.
local cjson = require "cjson.safe"
local trim = require("codearts.batchresult.text").trim
local printable = require("codearts.batchresult.text").printable
local is_id = require("codearts.batchresult.input").is_id

local M = {}

-- Items, and for item i the source it came from (from[i]) and its place
-- there (at[i]: an argument's position, a line or an array index), kept
-- as two plain arrays so that 10,000 items cost no extra tables.
local Items = {}
Items.__index = Items

--- An empty list of items; kind is "pairs" or "ids"; redact(text) hides
-- the client's secrets in what a message quotes of the user's text.
-- notes: lines for stderr about what the text held and was not read (a
-- run's pipelines, with no run to query); held: what the text held, for
-- the message when it gave no item.
function M.items(kind, redact)
  return setmetatable({ kind = kind, redact = redact, list = {}, from = {}, at = {}, n = 0, notes = {} }, Items)
end

function Items:add(item, source, at)
  local n = self.n + 1
  self.list[n], self.from[n], self.at[n], self.n = item, source, at, n
end

--- Where item i came from: "argument 3 (abc:def)", "input line 7",
-- "runs.json item 2".
function Items:where(i)
  return self.from[i](self.at[i])
end

-- Longest piece of the user's text quoted back in a message.
local SHOWN_MAX = 60

--- s, text from the user whose secrets are redacted already (a cut
-- before would leave a secret's start), cut to SHOWN_MAX bytes, at the
-- start of a UTF-8 character: back past at most 3 continuation bytes
-- (0x80-0xBF), as many as a character has; more are no UTF-8.
local function cut(s)
  if #s <= SHOWN_MAX then return s end
  local n = SHOWN_MAX - 3
  for back = 0, 3 do
    local b = s:byte(n - back + 1)
    if b < 0x80 or b >= 0xC0 then return s:sub(1, n - back) .. "..." end
  end
  return s:sub(1, n) .. "..."
end

--- Text from the user, fit to quote in a one-line message: the secrets in
-- it redacted first (and before the "?" that may join a secret's pieces),
-- then control characters as "?", long text cut.
local function shown(items, s)
  return cut(printable((items.redact(s))))
end

--- message, a usage error redacted already, with each value it quotes
-- cut as shown cuts: a value of the command line, quoted after a space
-- between single quotes, as argparse's, the library's and the tool's
-- messages quote them ('--timeuot', a refused region, a file that cannot
-- be read).  (A quote inside a value ends what is cut.)  The library's
-- "…" right after a value the tool cuts goes: its own shorter cut says
-- so.  (The marker's three bytes, read one by one: any other text there,
-- whole or not, is put back as it was.)
function M.values_cut(message)
  return (message:gsub("(%s)'([^']*)'(\226?\128?\166?)", function(space, v, after)
    local said = cut(v)
    if said ~= v and after == "…" then after = "" end
    return space .. "'" .. said .. "'" .. after
  end))
end

--- Items from the command line's arguments: PIPELINE_ID:PIPELINE_RUN_ID
-- pairs, or pipeline ids as they are.  Returns true, or nil, message.
function M.from_arguments(items, argv)
  local function where(i) return ("argument %d (%s)"):format(i, shown(items, argv[i])) end
  for i, a in ipairs(argv) do
    if items.kind == "ids" then
      items:add(a, where, i)
    else
      local p, r = a:match("^([^:]*):([^:]*)$")
      if not p then return nil, where(i) .. ": expected PIPELINE_ID:PIPELINE_RUN_ID" end
      items:add({ pipeline_id = p, pipeline_run_id = r }, where, i)
    end
  end
  return true
end

--- text ending with a LF, as line_at reads it.
local function ended(text)
  if text:byte(-1) ~= 10 then return text .. "\n" end
  return text
end

--- The line of text (ended) that starts at byte at, without its LF or
-- CRLF, and where the next one starts.  (A plain find: a pattern reads
-- each byte of a line in Lua's matcher.)
local function line_at(text, at)
  local nl = text:find("\n", at, true)
  local line = text:sub(at, nl - 1)
  if line:byte(-1) == 13 then line = line:sub(1, -2) end
  return line, nl + 1
end

--- An iterator over text's lines: line number, line (without its LF or
-- CRLF).
local function lines(text)
  text = ended(text)
  local n, at = 0, 1
  return function()
    if at > #text then return nil end
    local line
    line, at = line_at(text, at)
    n = n + 1
    return n, line
  end
end


--- A line of the line formats without its comment and surrounding white
-- space ("" for a blank or comment line).  A # starts a comment at the
-- start of the line or after white space: ids hold no #.
local function content(line)
  local c = line:find("^%s*#") or line:find("%s#")
  if c then line = line:sub(1, c - 1) end
  return trim(line)
end

local SEPARATOR = "expected two ids separated by white space, a comma or a colon"

-- The usual line: two ids and one separator, nothing else, then the line's
-- end; read in place, in the text, in C (10,000 lines must stay cheap to
-- read): p, r, after, or nothing.
local usual_pair = require("codearts.batchresult.core").usual_pair

local function pair_lines(items, text, label)
  local function where(n) return label .. " line " .. n end
  text = ended(text)
  local n, at = 0, 1
  while at <= #text do
    n = n + 1
    local p, r, after = usual_pair(text, at)
    if not p then
      local line
      line, after = line_at(text, at)
      local body = content(line)
      if body ~= "" then
        -- Three greedy parts that cannot overlap: linear on any line.
        local sep
        p, sep, r = body:match("^([^%s,:]*)([%s,:]*)(.*)$")
        if p == "" or r == "" or r:find("[%s,:]") or select(2, sep:gsub("[,:]", "")) > 1 then
          return nil, ("%s: %s, got %s"):format(where(n), SEPARATOR, shown(items, body))
        end
      end
    end
    at = after
    if p then items:add({ pipeline_id = p, pipeline_run_id = r }, where, n) end
  end
  return true
end

local function id_lines(items, text, label)
  local function where(n) return label .. " line " .. n end
  for n, line in lines(text) do
    local body = content(line)
    if body ~= "" then items:add(body, where, n) end
  end
  return true
end

--- A quoted field's text, from just past its opening quote at line[i] to
-- its closing quote, which may be lines later: next_line gives them, n
-- being line's number, and a line break inside the field is kept.  The
-- parts gather in a list, joined once: a quote left open early must not
-- make each later line copy all before it.  Returns the text, the line
-- the field closed on, its number and the place after the closing quote;
-- nil when the text ends first.
local function quoted(line, n, i, next_line)
  local parts = {}
  while true do
    local q = line:find('"', i, true)
    if not q then
      parts[#parts + 1] = line:sub(i)
      parts[#parts + 1] = "\n"
      n, line = next_line()
      if not n then return nil end
      i = 1
    elseif line:byte(q + 1) == 34 then -- "": one quote
      parts[#parts + 1] = line:sub(i, q)
      i = q + 2
    else
      parts[#parts + 1] = line:sub(i, q - 1)
      return table.concat(parts), line, n, q + 1
    end
  end
end

--- An iterator over text's CSV records, as RFC 4180 reads them: the line
-- each starts on, and its fields; when one is malformed, the line at fault
-- (where a quoted field that is never closed opens), nil and why.  A
-- record goes on past a line's end only inside a quoted field: a quote in
-- an unquoted field (5" disk) is refused, as RFC 4180 2.5 has it, rather
-- than taken to open one, which would join the lines that follow to its
-- record, and lose theirs.
local function csv_records(text)
  local next_line = lines(text)
  return function()
    local start, line = next_line()
    if not start then return nil end
    local fields, n, i = {}, start, 1
    while true do
      local field
      if line:byte(i) == 34 then
        local opened = n
        field, line, n, i = quoted(line, n, i + 1, next_line)
        if not field then return opened, nil, "a quoted field is not closed" end
        if i <= #line and line:byte(i) ~= 44 then return n, nil, "text after a closing quote" end
      else
        local c = line:find('[,"]', i) or #line + 1
        if line:byte(c) == 34 then return n, nil, "a quote inside an unquoted field" end
        field, i = line:sub(i, c - 1), c
      end
      fields[#fields + 1] = field
      if i > #line then return start, fields end
      i = i + 1
    end
  end
end

local HEADER = "a CSV header must name both pipeline_id and pipeline_run_id"

-- (",,": a spreadsheet's empty row)
local function blank(fields)
  if not fields then return false end
  for _, f in ipairs(fields) do
    if trim(f) ~= "" then return false end
  end
  return true
end

--- The first record that is not blank: its line, fields (nil, why when
-- malformed).
local function first_record(records)
  local n, fields, why
  repeat n, fields, why = records() until not blank(fields)
  return n, fields, why
end

--- The columns of a CSV header's pipeline_id and pipeline_run_id (the
-- first of each), nil when absent; then, when the header names either
-- twice, that name and its two columns.
local function columns(header)
  local at = {}
  for i, name in ipairs(header) do
    name = trim(name)
    if (name == "pipeline_id" or name == "pipeline_run_id") and at[name] then
      return at.pipeline_id, at.pipeline_run_id, name, at[name], i
    end
    at[name] = at[name] or i
  end
  return at.pipeline_id, at.pipeline_run_id
end

--- Pairs from CSV whose header (the first record) names the two columns;
-- blank lines are skipped.
local function pair_csv(items, text, label)
  local function where(n) return label .. " line " .. n end
  local records = csv_records(text)
  local n, header, why = first_record(records)
  if not header then return nil, where(n) .. ": " .. why end
  local pcol, rcol, twice, first, again = columns(header)
  if twice then
    return nil, ("%s: the header names the column %s twice (columns %d and %d): give it once")
      :format(where(n), twice, first, again)
  end
  if not (pcol and rcol) then return nil, where(n) .. ": " .. HEADER end
  local need = math.max(pcol, rcol)
  for line, fields, err in records do
    if not fields then return nil, where(line) .. ": " .. err end
    if not blank(fields) then
      if #fields < need then
        return nil, ("%s: %d field%s, but the header puts pipeline_id and pipeline_run_id in columns %d "
          .. "and %d"):format(where(line), #fields, #fields == 1 and "" or "s", pcol, rcol)
      end
      -- (a field more than the header names: a comma in an id, or a
      -- column shifted, which would pair the wrong ids)
      if #fields > #header then
        return nil, ("%s: %d fields, but the header names %d columns"):format(where(line), #fields, #header)
      end
      -- Trimmed like the header's names ("a, b" is common): ids hold no
      -- white space, so none is lost.
      items:add({ pipeline_id = trim(fields[pcol]), pipeline_run_id = trim(fields[rcol]) }, where, line)
    end
  end
  return true
end

--- The fields of text's first line that holds any, read loosely: without
-- its # comment and its quotes.  For a malformed first record: only blank
-- records come before it, and their lines read so are blank too.
local function loose_first(text)
  for _, line in lines(text) do
    local _, fields = csv_records((content(line):gsub('"', "")))()
    if not blank(fields) then return fields end
  end
end

--- Whether text's first record looks like a CSV header: it names
-- pipeline_id or pipeline_run_id as a field.  A first line that is a #
-- comment makes it the line format, whatever the comment says.  A
-- malformed first record that names one when read loosely (a quote error:
-- pipeline_id,"pipeline_run_id) is a header too, so that the CSV reader
-- names its fault.  The line format refuses such text too (that name is
-- no id), only with a message that hides the fault: no text it accepted
-- is read as CSV.
local function csv_header(text)
  if text:find("^%s*#") then return false end
  local _, first = first_record(csv_records(text))
  first = first or loose_first(text)
  if not first then return false end
  local pcol, rcol = columns(first)
  return (pcol or rcol) ~= nil
end

local function json_type(v)
  if v == cjson.null then return "null" end
  if type(v) == "table" then return (next(v) == nil or v[1] ~= nil) and "an array" or "an object" end
  return "a " .. type(v)
end

-- A JSON null member stands for no value: the library then says the field
-- is missing, rather than that it is not a string.
local function value(v)
  if v == cjson.null then return nil end
  return v
end

--- Whether v, a decoded JSON value, may be an object ({} decodes as an
-- empty table, which may be an array).
local function is_object(v)
  return json_type(v) == "an object" or (type(v) == "table" and next(v) == nil)
end

--- Adds v, the JSON value at where(i), as a pair.
local function add_pair(items, v, where, i)
  if not is_object(v) then
    return nil, ("%s: expected an object {\"pipeline_id\": …, \"pipeline_run_id\": …}, got %s")
      :format(where(i), json_type(v))
  end
  items:add({ pipeline_id = value(v.pipeline_id), pipeline_run_id = value(v.pipeline_run_id) }, where, i)
  return true
end

--- Whether doc, a JSON object, is a pair: the first line of NDJSON (the
-- tool's own --format ndjson).
local function is_pair(doc)
  return json_type(doc) == "an object" and (doc.pipeline_id ~= nil or doc.pipeline_run_id ~= nil)
end

-- The members of a JSON object that hold the items, the first found: for
-- pairs, the API's body, {"query": […]}, or the tool's own --format json,
-- {"result": […], …}.
local KEYS = { pairs = { "query", "result" }, ids = { "pipeline_ids" } }

-- The lists of the tool's own --format json (output.lua's), "result" and
-- those beside it: each holds pairs or, as a run's "missing", "unanswered"
-- and "unsent" and run --query's "not_started" do, pipeline ids.
local OWN_LISTS = { "result", "missing", "not_started", "unanswered", "unqueried", "unplaced", "unsent" }

-- What to give instead of several JSON values, for each kind of items.
local SEVERAL = {
  pairs = "give one array, or NDJSON, one object per line (jq -c)",
  ids = 'give one array of pipeline ids, or {"pipeline_ids": […]}, or one id per line',
}

--- The first of keys that doc, a JSON object, has (a null member is none:
-- no value), and the second, or nil.
local function members(doc, keys)
  local first
  for _, k in ipairs(keys) do
    if doc[k] ~= nil and doc[k] ~= cjson.null then
      if first then return first, k end
      first = k
    end
  end
  return first
end

--- Adds v, a line of NDJSON (where(i)), as a pair: refused when it also
-- has a member that holds items, as it may be a document with stray pair
-- members, whose items the user meant.
local function add_line_pair(items, v, where, i)
  local k = json_type(v) == "an object" and members(v, KEYS.pairs)
  if k then
    return nil, ('%s: a pair with a "%s" member too: give the pairs, or an object with "%s", not both')
      :format(where(i), k, k)
  end
  return add_pair(items, v, where, i)
end

-- lua-cjson's names for what it found and expected, in a message's words:
-- its own (T_OBJ_BEGIN, "invalid token") mean nothing to a user.  The
-- last four here, and the last of ENDS, are lua-cjson 2.1.0's words for a
-- token it could not read.
local FOUND = {
  T_OBJ_BEGIN = '"{"', T_OBJ_END = '"}"', T_ARR_BEGIN = '"["', T_ARR_END = '"]"', T_STRING = "a string",
  T_NUMBER = "a number", T_BOOLEAN = "true or false", T_NULL = "null", T_COLON = '":"', T_COMMA = '","',
  ["invalid token"] = "text that is not JSON", ["invalid number"] = "a malformed number",
  ["invalid escape code"] = "an unknown backslash escape",
  ["invalid unicode escape code"] = 'a "\\u" escape that gives no character',
}
-- What lua-cjson found when the text ended too soon (with no NUL byte in
-- it, an unclosed string ends only there): how it ends.
local ENDS = { T_END = "before the JSON value does", ["unexpected end of string"] = "inside a string" }
local EXPECTED = {
  value = "a value", colon = '":"', ["object key string"] = "a member name (a string)",
  ["comma or array end"] = '"," or "]"', ["comma or object end"] = '"," or "}"',
}
-- What starts a value: found after a whole one, a second value.
local STARTS = { T_OBJ_BEGIN = true, T_ARR_BEGIN = true, T_STRING = true, T_NUMBER = true, T_BOOLEAN = true,
                 T_NULL = true }

--- The line and column of text's byte at, the column in characters, as
-- an editor counts them: UTF-8's bytes other than continuation bytes.
local function line_column(text, at)
  local before = text:sub(1, at - 1)
  -- (the last line end found forwards: ".*()\n" retries from every byte
  -- of a line that has none, which takes hours on a long one)
  local breaks, start, nl = 0, 1, before:find("\n", 1, true)
  while nl do
    breaks, start, nl = breaks + 1, nl + 1, before:find("\n", nl + 1, true)
  end
  local line = before:sub(start)
  local _, continued = line:gsub("[\128-\191]", "")
  return breaks + 1, #line - continued + 1
end

--- What is wrong with text, which lua-cjson refused with why, in the
-- user's words: where (line and column; only the column for one line of
-- NDJSON, its line named already), and what was found there.  several:
-- what to give instead of several values (SEVERAL).
local function fault(text, why, one_line, several)
  local at = tonumber(why:match(" at character (%d+)$"))
  local expected, found = why:match("^Expected (.-) but found (.-) at character")
  local place = ""
  -- (the end has no place worth naming: it is past the last line)
  if at and not ENDS[found] then
    local line, column = line_column(text, at)
    place = one_line and (" at column " .. column) or (" at line " .. line .. ", column " .. column)
  end
  if expected == "the end" and STARTS[found] then
    return ("several JSON values (the second starts%s): %s"):format(place, several)
  end
  local said
  if ENDS[found] then
    said = (one_line and "the line" or "the text") .. " ends " .. ENDS[found]
  elseif expected == "the end" then
    said = "more text after the JSON value: " .. (FOUND[found] or found)
  elseif expected then
    said = ("expected %s, found %s"):format(EXPECTED[expected] or expected, FOUND[found] or found)
  else
    -- ("Found too many nested data structures (1001) at character 1001")
    said = why:gsub("^Found too many nested data structures", "arrays and objects nested too deep")
      :gsub(" at character %d+$", "")
  end
  return "invalid JSON" .. place .. ": " .. said
end

--- The closing quote of the JSON string whose opening quote is text's
-- byte i (a backslash escapes the byte after it).  There is one: text is
-- JSON that lua-cjson read to its end, which it does only when the text
-- holds no NUL byte (json_items refuses one), read as the text's end.
local function string_end(text, i)
  while true do
    i = text:find('["\\]', i + 1)
    if text:byte(i) == 34 then return i end
    i = i + 1
  end
end

--- The first member that an object in text, one JSON value lua-cjson has
-- read, names twice (lua-cjson keeps the last, unsaid): its name; then
-- the top-level object's member it is in (nil: the top-level value, or an
-- item of the top-level array), and the item (of the top-level array, or
-- of that member's array) it is in, nil for none.  Names are compared
-- decoded: "a" and "\u0061" are one.  Each byte is passed once: linear,
-- for the longest text.
local function named_twice(text)
  -- For each depth: an object's names so far (an array's: false), whether
  -- a name comes next in it, and an array's item.
  local names, name_next, item = {}, {}, {}
  local depth, i, member = 0, 1, nil
  while true do
    i = text:find('[%[%]{}",]', i)
    if not i then return nil end
    local c = text:sub(i, i)
    if c == '"' then
      local e = string_end(text, i)
      if names[depth] and name_next[depth] then
        local name = text:sub(i + 1, e - 1)
        if name:find("\\", 1, true) then name = cjson.decode('"' .. name .. '"') end
        if names[depth][name] then
          if names[1] == false then return name, nil, item[1] end
          if depth == 1 then return name end
          return name, member, names[2] == false and item[2] or nil
        end
        names[depth][name], name_next[depth] = true, false
        if depth == 1 then member = name end
      end
      i = e
    elseif c == "{" or c == "[" then
      depth = depth + 1
      names[depth], name_next[depth], item[depth] = c == "{" and {}, true, 1
    elseif c == "," then
      if names[depth] then name_next[depth] = true else item[depth] = item[depth] + 1 end
    else
      depth = depth - 1
    end
    i = i + 1
  end
end

--- Names item i of a list: of the top-level array (key nil) or of the
-- items' member ("runs.json item 2"), or of another list of the tool's
-- own output, by its name ('runs.json "unanswered" item 2').
local function list_where(label, key)
  local named = key and key ~= KEYS.pairs[1] and key ~= KEYS.pairs[2] and key ~= KEYS.ids[1]
  local prefix = label .. (named and ' "' .. key .. '"' or "") .. " item "
  return function(i) return prefix .. i end
end

--- Refuses a member that an object in text, one JSON value lua-cjson has
-- read, names twice: nil, a message that names it and where it is (in
-- place, when given: the line of NDJSON); true when there is none.
local function once_each(items, text, label, place)
  local name, member, i = named_twice(text)
  if not name then return true end
  if not place then
    place = i and list_where(label, member)(i) or member and (label .. ' "' .. shown(items, member) .. '"') or label
  end
  return nil, ('%s: the member "%s" is given twice: give it once'):format(place, shown(items, name))
end

--- Pairs from NDJSON, one object a line; blank lines are skipped.
local function ndjson_pairs(items, text, label)
  local function where(n) return label .. " line " .. n end
  for n, line in lines(text) do
    if trim(line) ~= "" then
      local v, why = cjson.decode(line)
      if v == nil then return nil, where(n) .. ": " .. fault(line, why, true, SEVERAL.pairs) end
      local ok, err = once_each(items, line, label, where(n))
      if ok then ok, err = add_line_pair(items, v, where, n) end
      if not ok then return nil, err end
    end
  end
  return true
end

--- Whether text, which opens with "{" and is no one JSON value, is
-- NDJSON: its first line a pair of its own.
local function ndjson(text)
  local first = text:match("^%s*([^\n]*)")
  local doc = cjson.decode(first)
  return doc ~= nil and is_pair(doc)
end

--- Whether v, a decoded JSON value, is an array (an empty one included).
local function is_array(v)
  return type(v) == "table" and json_type(v) ~= "an object"
end

local function not_array(label, keys)
  return ("%s: expected a JSON array, or an object with a %s array"):format(label,
    '"' .. table.concat(keys, '" or "') .. '"')
end

--- A count of what the tool's own output lists hold that gives no pair to
-- ask, left out: what (a format for "s" or ""), the lists that held any,
-- and the items counted (each once: a pipeline id by its text, as "unsent"
-- lists again some of "unanswered"; a run by its table, each counted).
local function tally(what)
  return { n = 0, what = what, lists = {}, seen = {} }
end

--- Counts key, an item of the list k, in t.
local function count(t, k, key)
  if not t.seen[key] then t.seen[key], t.n = true, t.n + 1 end
  if t.lists[#t.lists] ~= k then t.lists[#t.lists + 1] = k end
end

--- What t counted, for a message ('1 pipeline with no run to query (in
-- "unanswered")'), nil for nothing.
local function counted(t)
  if t.n == 0 then return nil end
  return ('%d %s (in "%s")'):format(t.n, t.what:format(t.n == 1 and "" or "s"), table.concat(t.lists, '", "'))
end

--- Adds the pairs of list, the tool's own output's list k (its items
-- named by where), counting in left what gives no pair to ask: a pipeline
-- id (a run's), which has no run to ask about, and a run whose ids are not
-- both ids, as a failed run's "unplaced" may hold (an id that is no string
-- shows as null) and a run's "result" (its run ids as the server gave them).
local function own_list(items, list, k, where, left)
  for i = 1, #list do
    local v = list[i]
    if type(v) == "string" then
      count(left.pipelines, k, v)
    elseif is_object(v) and not (is_id(v.pipeline_id) and is_id(v.pipeline_run_id)) then
      count(left.runs, k, v)
    else
      local ok, err = add_pair(items, v, where, i)
      if not ok then return nil, err end
    end
  end
  return true
end

--- Pairs from the tool's own --format json, doc: every pair its lists
-- (OWN_LISTS) hold, a failed query's "unanswered" the most worth asking
-- again.  What gives no pair to ask (own_list) is left out, and said so
-- in a note that counts it: the output is the tool's, given back as it
-- is, not a list the user wrote.
local function own_pairs(items, doc, label)
  local left = { pipelines = tally("pipeline%s with no run to query"), runs = tally("run%s that cannot be asked") }
  local read = {}
  for _, k in ipairs(OWN_LISTS) do
    local list = value(doc[k])
    if list ~= nil and not is_array(list) then
      return nil, (k == "result" and not_array(label, KEYS.pairs) or ('%s: "%s" is not an array'):format(label, k))
    end
    if list then
      read[#read + 1] = k
      local ok, err = own_list(items, list, k, list_where(label, k), left)
      if not ok then return nil, err end
    end
  end
  local said = {}
  for _, t in ipairs({ left.pipelines, left.runs }) do said[#said + 1] = counted(t) end
  local skipped = table.concat(said, " and ")
  if skipped ~= "" then items.notes[#items.notes + 1] = ("%s: %s, left out"):format(label, skipped) end
  items.held = ('no pair in "%s"'):format(table.concat(read, '", "')) .. (skipped ~= "" and ", only " .. skipped or "")
  return true
end

local function json_items(items, text, label, open)
  -- (lua-cjson reads a NUL byte as the text's end, and would take what
  -- comes before it for the whole: what follows dropped unsaid)
  local nul = text:find("\0", 1, true)
  if nul then
    return nil, ("%s: invalid JSON at line %d, column %d: a NUL byte, which JSON text cannot hold"):format(label,
      line_column(text, nul))
  end
  local doc, why = cjson.decode(text)
  if doc == nil and open == "{" and items.kind == "pairs" and ndjson(text) then
    return ndjson_pairs(items, text, label)
  end
  if doc == nil then return nil, label .. ": " .. fault(text, why, false, SEVERAL[items.kind]) end
  local ok, twice = once_each(items, text, label)
  if not ok then return nil, twice end
  if items.kind == "pairs" and is_pair(doc) then
    -- (NDJSON of one line)
    return add_line_pair(items, doc, function(n) return label .. " line " .. n end, 1)
  end
  local keys = KEYS[items.kind]
  local list, k = doc, nil
  if open == "{" then
    -- (with two, which did the user mean?)
    local also
    k, also = members(doc, keys)
    if also then return nil, ('%s: an object with both "%s" and "%s": give one'):format(label, k, also) end
    if k == "result" then return own_pairs(items, doc, label) end
    list = k and doc[k]
  end
  if not is_array(list) then return nil, not_array(label, keys) end
  items.held = k and ('an empty "%s" array'):format(k) or "an empty JSON array"
  local where = list_where(label, k)
  for i = 1, #list do
    local v = list[i]
    if items.kind == "pairs" then
      local added, err = add_pair(items, v, where, i)
      if not added then return nil, err end
    elseif v == cjson.null then
      return nil, where(i) .. ": expected a pipeline id, got null"
    else
      items:add(v, where, i)
    end
  end
  return true
end

--- Items read from text (a file's or stdin's content), label naming it in
-- messages ("input", or the file's name).  Returns true, or nil, message
-- (the message names the line or item).
function M.from_text(items, text, label)
  text = text:gsub("^\239\187\191", "") -- a UTF-8 byte order mark, as spreadsheets write
  local open = text:match("^%s*([%[{])")
  if open then return json_items(items, text, label, open) end
  items.held = text:find("%S") and "only blank lines and comments" or "nothing"
  if items.kind == "ids" then return id_lines(items, text, label) end
  if csv_header(text) then
    items.held = "a CSV header and no rows"
    return pair_csv(items, text, label)
  end
  return pair_lines(items, text, label)
end

return M
