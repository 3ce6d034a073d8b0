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
--   the tool's own output, --format json ({"result": [ …the same… ], …})
--   or --format ndjson (one such object a line), so that what run
--   printed can be asked about;
--   CSV (RFC 4180) whose header names pipeline_id and pipeline_run_id, in
--   any order, among any other columns;
--   lines of two ids separated by white space, a comma or a colon, with
--   blank lines and # comments.
-- For pipeline ids: a JSON array of strings, {"pipeline_ids": [ … ]}, or
-- one id per line (blank lines and # comments allowed).
local cjson = require "cjson.safe"
local trim = require("codearts.batchresult.text").trim
local printable = require("codearts.batchresult.text").printable

local M = {}

-- Items, and for item i the source it came from (from[i]) and its place
-- there (at[i]: an argument's position, a line or an array index), kept
-- as two plain arrays so that 10,000 items cost no extra tables.
local Items = {}
Items.__index = Items

--- An empty list of items; kind is "pairs" or "ids"; redact(text) hides
-- the client's secrets in what a message quotes of the user's text.
function M.items(kind, redact)
  return setmetatable({ kind = kind, redact = redact, list = {}, from = {}, at = {}, n = 0 }, Items)
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

--- Text from the user, fit to quote in a one-line message: the secrets in
-- it redacted first (a cut before would leave a secret's start, and the
-- "?" a secret's pieces), then control characters as "?", long text cut.
local function shown(items, s)
  s = printable((items.redact(s)))
  if #s > SHOWN_MAX then s = s:sub(1, SHOWN_MAX - 3) .. "..." end
  return s
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

--- An iterator over text's lines: line number, line (without its LF or
-- CRLF).
local function lines(text)
  if text:byte(-1) ~= 10 then text = text .. "\n" end
  local n, next_line = 0, text:gmatch("([^\n]*)\n")
  return function()
    local line = next_line()
    if not line then return nil end
    n = n + 1
    if line:byte(-1) == 13 then line = line:sub(1, -2) end
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

local function pair_lines(items, text, label)
  local function where(n) return label .. " line " .. n end
  for n, line in lines(text) do
    -- The usual line first: two ids and one separator, nothing else.
    local p, r = line:match("^(%w+)[ \t,:](%w+)$")
    if not p then
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
-- first of each), nil when absent.
local function columns(header)
  local pcol, rcol
  for i, name in ipairs(header) do
    name = trim(name)
    if name == "pipeline_id" then pcol = pcol or i end
    if name == "pipeline_run_id" then rcol = rcol or i end
  end
  return pcol, rcol
end

--- Pairs from CSV whose header (the first record) names the two columns;
-- blank lines are skipped.
local function pair_csv(items, text, label)
  local function where(n) return label .. " line " .. n end
  local records = csv_records(text)
  local n, header, why = first_record(records)
  if not header then return nil, where(n) .. ": " .. why end
  local pcol, rcol = columns(header)
  if not (pcol and rcol) then return nil, where(n) .. ": " .. HEADER end
  local need = math.max(pcol, rcol)
  for line, fields, err in records do
    if not fields then return nil, where(line) .. ": " .. err end
    if not blank(fields) then
      if #fields < need then
        return nil, ("%s: %d field%s, but the header puts pipeline_id and pipeline_run_id in columns %d "
          .. "and %d"):format(where(line), #fields, #fields == 1 and "" or "s", pcol, rcol)
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

--- Adds v, the JSON value at where(i), as a pair.
local function add_pair(items, v, where, i)
  if json_type(v) ~= "an object" and not (type(v) == "table" and next(v) == nil) then
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

--- Pairs from NDJSON, one object a line; blank lines are skipped.
local function ndjson_pairs(items, text, label)
  local function where(n) return label .. " line " .. n end
  for n, line in lines(text) do
    if trim(line) ~= "" then
      local v, why = cjson.decode(line)
      if v == nil then return nil, ("%s: invalid JSON: %s"):format(where(n), why) end
      local ok, err = add_line_pair(items, v, where, n)
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

local function json_items(items, text, label, open)
  local doc, why = cjson.decode(text)
  if doc == nil and open == "{" and items.kind == "pairs" and ndjson(text) then
    return ndjson_pairs(items, text, label)
  end
  if doc == nil then return nil, ("%s: invalid JSON: %s"):format(label, why) end
  if items.kind == "pairs" and is_pair(doc) then
    -- (NDJSON of one line)
    return add_line_pair(items, doc, function(n) return label .. " line " .. n end, 1)
  end
  local keys = KEYS[items.kind]
  local list = doc
  if open == "{" then
    -- (with two, which did the user mean?)
    local k, also = members(doc, keys)
    if also then return nil, ('%s: an object with both "%s" and "%s": give one'):format(label, k, also) end
    list = k and doc[k]
  end
  if type(list) ~= "table" or json_type(list) == "an object" then
    return nil, ("%s: expected a JSON array, or an object with a %s array"):format(label,
      '"' .. table.concat(keys, '" or "') .. '"')
  end
  local function where(i) return label .. " item " .. i end
  for i = 1, #list do
    local v = list[i]
    if items.kind == "pairs" then
      local ok, err = add_pair(items, v, where, i)
      if not ok then return nil, err end
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
  if items.kind == "ids" then return id_lines(items, text, label) end
  if csv_header(text) then return pair_csv(items, text, label) end
  return pair_lines(items, text, label)
end

return M
