--- What the tool prints on stdout: results (query, run --query) or started
-- runs (run) as a table, JSON, CSV or NDJSON, and the lists that go with
-- them (pairs the server did not report, pipelines it did not start, items
-- a failed call left unanswered, runs it cannot place).  Also the one-line
-- summary.
--
-- Every writer takes `write`, a function given the text in order, and the
-- byte positions in it at which records end.  Text is
-- gathered in pieces and handed over a few thousand pieces at a time, with
-- no string made per record: for 10,000 results the tool's own work must
-- stay small beside the call's.
local cjson = require "cjson"
-- Whether a text is printable ASCII but the quote and the backslash,
-- which JSON and the table print as it is (in C: Lua's matcher takes some 70
-- instructions a byte, and a call's texts joined run to megabytes); and
-- the texts of a table joined (see redact_all).
local plain_text, texts_joined
do
  local core = require "codearts.batchresult.core"
  plain_text, texts_joined = core.plain_text, core.texts_joined
end
local width_of = require("codearts.batchresult.columns").of
local number_text, printable, well_formed
do
  local text = require "codearts.batchresult.text"
  number_text, printable, well_formed = text.number_text, text.printable, text.well_formed
end

local M = {}

local concat, rep, type = table.concat, string.rep, type

-- Fields in the order the API documents them; any other field a result
-- carries follows, by name.
local RESULT_FIELDS = require("codearts.batchresult.results").FIELDS
local PAIR_FIELDS = { "pipeline_id", "pipeline_run_id" }

-- Pieces gathered before a write.
local PIECES = 4096

-- Fields whose values are each record's own (a pair's ids): remembering
-- their text in b.memo would cost more than working it out again.
local UNIQUE = { pipeline_id = true, pipeline_run_id = true }

--- A buffer of pieces: b[1..b.n].  The writers below fill it directly
-- (b[n + 1] = s; this runs for every field of every record) and call
-- flush(b) after each record.  Names, statuses and reasons repeat, so
-- b.memo holds each value's text, once worked out, for this output.
-- b.ends: the byte positions at which the records of the text gathered
-- end (b.size bytes, of pieces 1..b.counted), handed to write with it: a
-- CSV record's quoted field may hold a line break, so that a line end
-- is not always a record's.
local function buffer(write)
  return { n = 0, memo = {}, write = write, ends = {}, size = 0, counted = 0 }
end

local function flush(b, force)
  local size, ends = b.size, b.ends
  for i = b.counted + 1, b.n do size = size + #b[i] end
  if size > (ends[#ends] or 0) then ends[#ends + 1] = size end
  b.size, b.counted = size, b.n
  if b.n >= PIECES or (force and b.n > 0) then
    b.write(concat(b, "", 1, b.n), ends)
    b.n, b.ends, b.size, b.counted = 0, {}, 0, 0
  end
end

local function put(b, s)
  local n = b.n + 1
  b[n], b.n = s, n
end

------------------------------------------------------------------------
-- JSON.  cjson cannot keep the fields in order (nor tell `null` from an
-- absent field), so records are put together here; cjson escapes strings.
------------------------------------------------------------------------

local encode = cjson.encode

--- A C1 control (U+0080 to U+009F, as UTF-8) as JSON's \u escape.
local function c1_escape(c)
  return ("\\u%04x"):format(c:byte(2))
end

--- s as a JSON string, well-formed UTF-8.  cjson escapes C0 and DEL; the
-- C1 controls are escaped here, the same data, so that a server's U+009B
-- (a CSI) cannot drive the terminal the JSON is printed on; and Unicode's
-- line and paragraph separators (U+2028, U+2029), which a reader of
-- NDJSON by lines may take for line ends (Python's splitlines does).
local function json_string(s)
  -- Most text is plain, with nothing to escape: quoted as is.
  if plain_text(s) then return '"' .. s .. '"' end
  local e = encode(well_formed(s))
  -- cjson also escapes "/": JSON allows it, but no one needs it.
  if e:find("\\/", 1, true) then e = e:gsub("\\/", "/") end
  if e:find("\194[\128-\159]") then e = e:gsub("\194[\128-\159]", c1_escape) end
  if e:find("\226\128[\168\169]") then e = e:gsub("\226\128\168", "\\u2028"):gsub("\226\128\169", "\\u2029") end
  return e
end

--- A number as JSON: whole numbers in full (cjson would round them to 14
-- digits), others in the fewest digits that read back the same; JSON has
-- no NaN nor infinity.
local function json_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  return number_text(v)
end

--- v as JSON.  Fields the API may add later can hold anything JSON can: a
-- table whose keys are 1..n is an array ([] when empty, as no one can
-- tell), any other an object with its members sorted, so that the output
-- is the same on every run; br.null and nil are null.
local function json_value(v)
  local t = type(v)
  if t == "string" then return json_string(v) end
  if t == "number" then return json_number(v) end
  if t == "boolean" then return tostring(v) end
  if t ~= "table" then return "null" end
  local members, n = {}, 0
  for k, x in pairs(v) do
    n = n + 1
    members[n] = { k, x }
  end
  local out = {}
  if n == #v then
    for i = 1, n do out[i] = json_value(v[i]) end
    return "[" .. concat(out, ",") .. "]"
  end
  table.sort(members, function(a, b) return tostring(a[1]) < tostring(b[1]) end)
  for i, m in ipairs(members) do out[i] = json_string(tostring(m[1])) .. ":" .. json_value(m[2]) end
  return "{" .. concat(out, ",") .. "}"
end

--- make(v), kept in memo when v is a string (callers look in memo first).
local function remember(memo, v, make)
  local text = make(v)
  if type(v) == "string" then memo[v] = text end
  return text
end

-- By field list: each field's member start, '{"name":' for the first and
-- ',"name":' for the others, and the same with the value's opening quote;
-- the set of the fields' names; and whether JSON quotes each field's
-- string as it is, whatever it holds.  A record's pipeline id is one the
-- caller gave, which the library checked, letters and digits: it matches
-- each answer to an item by it (call.lua) and leaves out any other
-- (redacted, where it holds a run of a secret, it holds ASCII markers,
-- no quote nor backslash).  Run ids can be the server's (run, run
-- --query), and are mended like any text.  A listed pair has a run's
-- fields, in a list of its own (ITEM_FIELDS, its own key here): a run the
-- call cannot place (err.unplaced) carries the server's pipeline id, any
-- text.
local ITEM_FIELDS = { PAIR_FIELDS[1], PAIR_FIELDS[2] }
local OPENERS, QUOTED, KNOWN, CHECKED = {}, {}, {}, {}
for _, fields in ipairs({ RESULT_FIELDS, PAIR_FIELDS, ITEM_FIELDS }) do
  OPENERS[fields], QUOTED[fields], KNOWN[fields], CHECKED[fields] = {}, {}, {}, {}
  for i, k in ipairs(fields) do
    OPENERS[fields][i] = (i == 1 and '{"' or ',"') .. k .. '":'
    QUOTED[fields][i] = OPENERS[fields][i] .. '"'
    KNOWN[fields][k] = true
    CHECKED[fields][i] = k == "pipeline_id" and fields ~= ITEM_FIELDS
  end
end

--- The names of r's fields that are not in known, sorted; nil when none.
local function extra_fields(r, known)
  local extra
  for k in pairs(r) do
    if not known[k] then
      extra = extra or {}
      extra[#extra + 1] = tostring(k)
    end
  end
  if extra then table.sort(extra) end
  return extra
end

--- Puts r as a JSON object: fields in order (null when absent), then the
-- rest.
local function json_object(b, r, fields)
  local memo, openers, quoted, checked, n = b.memo, OPENERS[fields], QUOTED[fields], CHECKED[fields], b.n
  for i = 1, #fields do
    local v = r[fields[i]]
    if type(v) == "string" and (checked[i] or plain_text(v)) then
      -- (its quotes in pieces of their own: no string made for it)
      b[n + 1], b[n + 2], b[n + 3] = quoted[i], v, '"'
      n = n + 3
    else
      b[n + 1], b[n + 2] = openers[i], memo[v] or remember(memo, v, json_value)
      n = n + 2
    end
  end
  local extra = extra_fields(r, KNOWN[fields])
  if extra then
    for _, k in ipairs(extra) do
      b[n + 1], b[n + 2] = "," .. json_value(k) .. ":", json_value(r[k])
      n = n + 2
    end
  end
  b[n + 1], b.n = "}", n + 1
end

--- Puts a pair (a table) or a pipeline id (a string) as JSON.
local function json_item(b, v)
  if type(v) == "table" then return json_object(b, v, ITEM_FIELDS) end
  put(b, json_value(v))
end

--- Puts "name":[…] with one element per line, each put by element(b, v)
-- (a record ending at its line's end; the "]" goes with what follows).
local function json_array(b, name, list, element)
  if #list == 0 then return put(b, '"' .. name .. '":[]') end
  put(b, '"' .. name .. '":[\n')
  for i = 1, #list do
    element(b, list[i])
    put(b, i < #list and ",\n" or "\n")
    flush(b)
  end
  put(b, "]")
end

------------------------------------------------------------------------
-- CSV (RFC 4180: CRLF, a field quoted when it holds a comma, a quote or a
-- line break, quotes doubled) and NDJSON.
------------------------------------------------------------------------

local function csv_field(v)
  if v == nil then return "" end
  if type(v) ~= "string" then v = json_value(v) end
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

--- A field for a terminal: what a server sent, made printable as the
-- table makes it (its escapes would drive the terminal: set its title,
-- clear it), line breaks kept; ill-formed UTF-8 as U+FFFD.
local function csv_field_shown(v)
  if type(v) ~= "string" then return csv_field(v) end
  return csv_field(printable(v, true))
end

--- RFC 4180 rows; on_terminal: fields made printable (csv_field_shown),
-- else byte for byte as the server sent them.
local function csv_rows(b, list, fields, on_terminal)
  local field = on_terminal and csv_field_shown or csv_field
  local memo, nf = b.memo, #fields
  put(b, concat(fields, ",") .. "\r\n")
  flush(b)
  for i = 1, #list do
    local r, n = list[i], b.n
    for j = 1, nf do
      local k = fields[j]
      local v = r[k]
      b[n + 1], b[n + 2] = UNIQUE[k] and field(v) or memo[v] or remember(memo, v, field),
        j < nf and "," or "\r\n"
      n = n + 2
    end
    b.n = n
    flush(b)
  end
end

local function ndjson_rows(b, list, fields)
  for i = 1, #list do
    json_object(b, list[i], fields)
    put(b, "\n")
    flush(b)
  end
end

------------------------------------------------------------------------
-- The table, as `make demo` prints it: aligned columns, a header.
------------------------------------------------------------------------

--- v with each control character a space (the C1 controls too, which
-- UTF-8 writes as C2 80 to C2 9F, and Unicode's line and paragraph
-- separators, E2 80 A8 and A9, as a message's one line shows them), as a
-- table's cell shows it.  (An explicit class, as text.printable's: %c
-- follows the C locale.)
local function controls_as_spaces(v)
  return (v:gsub("[%z\1-\31\127]", " "):gsub("\194[\128-\159]", " "):gsub("\226\128[\168\169]", " "))
end

--- A field as one line of text, and the columns a terminal draws it in:
-- a server's control characters (line breaks, terminal escapes) become
-- spaces, and each UTF-8 sequence counts its columns, so that a Chinese
-- pipeline name keeps the table aligned.
local function cell(v)
  if type(v) ~= "string" then v = json_value(v) end
  -- Printable ASCII, the usual case, is shown as it is: checked in C
  -- first (plain_text leaves out the quote and the backslash, which only
  -- the matcher then reads), as a call's 10,000 run ids are each a cell.
  if plain_text(v) or v:find("^[ -~]*$") then return v, #v end
  -- (each byte of ill-formed UTF-8 as the U+FFFD a terminal would draw,
  -- in a number of its own choosing, for it)
  v = well_formed(controls_as_spaces(v))
  return v, width_of(v)
end

-- The table's columns for each kind of record: heading, the field (a
-- function of the record), what stands for a field that is absent, and
-- whether the field is one of UNIQUE.
local RESULT_COLUMNS = {
  { "PIPELINE", function(r) return r.pipeline_name or r.pipeline_id end, "?" },
  { "RUN", function(r) return r.pipeline_run_id end, "?", unique = true },
  { "STATUS", function(r) return r.status end, "?" },
  { "REASON", function(r) return r.reason end, "-" },
}
local RUN_COLUMNS = {
  { "PIPELINE", function(r) return r.pipeline_id end, "?", unique = true },
  { "RUN", function(r) return r.pipeline_run_id end, "?", unique = true },
}

local ALIGN_MAX = require("codearts.batchresult.columns").ALIGN_MAX

local function table_rows(b, list, columns, paint)
  local ncol, n = #columns, #list
  -- Every cell's text and width, row after row in one array, each text
  -- worked out once.
  local texts, widths, widest, seen, seen_width = {}, {}, {}, b.memo, {}
  for c = 1, ncol do widest[c] = #columns[c][1] end
  for i = 1, n do
    local r, k = list[i], (i - 1) * ncol
    for c = 1, ncol do
      local col = columns[c]
      local v = col[2](r)
      local text, w
      if v == nil then
        text, w = col[3], #col[3]
      elseif col.unique then
        text, w = cell(v)
      elseif seen[v] then
        text, w = seen[v], seen_width[v]
      else
        text, w = cell(v)
        if type(v) == "string" then seen[v], seen_width[v] = text, w end
      end
      texts[k + c], widths[k + c] = text, w
      if w > widest[c] then widest[c] = w end
    end
  end
  local status_col
  for c = 1, ncol do
    widest[c] = math.min(widest[c], ALIGN_MAX)
    if columns[c][1] == "STATUS" then status_col = c end
    put(b, columns[c][1] .. (c < ncol and rep(" ", widest[c] - #columns[c][1] + 2) or "\n"))
  end
  -- Padding after each cell: two spaces and what its column's widest
  -- cell has more.
  local pads = {}
  for i = 1, n do
    local k, m = (i - 1) * ncol, b.n
    for c = 1, ncol do
      local text, after = texts[k + c], "\n"
      if c == status_col then text = paint(list[i].status, text) end
      if c < ncol then
        -- (a cell wider than its column aligns to: two spaces)
        local pad = widest[c] - widths[k + c]
        pad = (pad > 0 and pad or 0) + 2
        after = pads[pad] or rep(" ", pad)
        pads[pad] = after
      end
      b[m + 1], b[m + 2] = text, after
      m = m + 2
    end
    b.n = m
    flush(b)
  end
end

------------------------------------------------------------------------
-- The lists beside the records.
------------------------------------------------------------------------

--- A pair as PIPELINE_ID:PIPELINE_RUN_ID (what the tool takes as an
-- argument or a line, so a list can be fed back), a pipeline id as it is.
local function item_text(v)
  if type(v) == "table" then return (cell(v.pipeline_id)) .. ":" .. (cell(v.pipeline_run_id)) end
  return (cell(v))
end

-- The runs a failed run's answers listed that the call cannot place
-- (err.unplaced): the server says it started them, so a script must see
-- them, as it sees the runs that are placed.
local UNPLACED = { "unplaced", "Started, but the call cannot place them (the server's answer lied or broke)",
                   "started, the call cannot place", runs = "the call cannot place" }

-- The items a failed call left unanswered: a query's, asked again at no
-- cost, in one list; a run's in two (entries), as a user who runs them
-- again on the strength of a list starts each again that did start: those
-- that provably never reached the service (lists.unsent, set for a run
-- alone), and the rest (lists.may_have_started).  `counted`: what the
-- summary's count calls them.
local UNANSWERED = { "unanswered", "Unanswered (the call failed)", "unanswered" }
local RUN_UNANSWERED = {
  { "unsent", "Unanswered, not sent: none of them started", "unanswered, not sent",
    counted = "unanswered (not sent)" },
  { "may_have_started", "Unanswered, may have started: check before running again", "unanswered, may have started",
    counted = "unanswered (may have started)" },
}

-- The lists, in the order they are printed: key in `lists`, and what the
-- table's heading and a stderr line call them; `runs`, when set, what the
-- summary's count calls them ("2 runs the call cannot place", where the
-- stderr line's words would read "2 started, the call cannot place").  A
-- run's `missing` lists the pipelines the server did not start.
local LISTS = {
  results = {
    { "missing", "Not reported by the server", "not reported by the server" },
    { "not_started", "Not started", "not started" },
    UNANSWERED,
    { "unqueried", "Started, status not known (the call failed)", "status not known" },
    UNPLACED,
  },
  runs = {
    { "missing", "Not started", "not started" },
    UNANSWERED,
    UNPLACED,
  },
}

--- LISTS[kind], for a run's failed call (lists.unsent set) with its
-- unanswered items in the two lists of RUN_UNANSWERED.
local function entries(kind, lists)
  if not lists.unsent then return LISTS[kind] end
  local out = {}
  for _, l in ipairs(LISTS[kind]) do
    if l == UNANSWERED then
      for _, u in ipairs(RUN_UNANSWERED) do out[#out + 1] = u end
    else
      out[#out + 1] = l
    end
  end
  return out
end

--- The lists as text after a table: a heading and one item per line.
local function table_lists(b, kind, lists)
  for _, l in ipairs(entries(kind, lists)) do
    local list = lists[l[1]]
    if list and #list > 0 then
      put(b, ("\n%s (%d):\n"):format(l[2], #list))
      for i = 1, #list do
        put(b, "  " .. item_text(list[i]) .. "\n")
        flush(b)
      end
    end
  end
end

--- The lists on stderr, for the formats whose stdout holds records only:
-- one line per item, "PREFIX: not reported by the server: PIPELINE:RUN".
function M.list_lines(write, kind, lists, prefix)
  for _, l in ipairs(entries(kind, lists)) do
    local list = lists[l[1]]
    for i = 1, list and #list or 0 do write(("%s: %s: %s\n"):format(prefix, l[3], item_text(list[i]))) end
  end
end

------------------------------------------------------------------------
-- The formats.
------------------------------------------------------------------------

--- What a run started, on stderr when the output could not be written
-- (why: "not printed") or was cut short: one line each, a run (kind
-- "runs") as "PREFIX: started, not printed: PIPELINE:RUN", a result (run
-- --query) as "PREFIX: not printed: PIPELINE:RUN STATUS".
function M.unprinted_lines(write, kind, records, prefix, why)
  for i = 1, #records do
    local r = records[i]
    if kind == "runs" then
      write(("%s: started, %s: %s\n"):format(prefix, why, item_text(r)))
    else
      write(("%s: %s: %s %s\n"):format(prefix, why, item_text(r), (cell(r.status))))
    end
  end
end

--- Writes records (kind "results" or "runs") in format; lists holds
-- missing, not_started, unanswered, unqueried and unplaced (any may be
-- nil), and for a run's call that failed, unsent and may_have_started
-- (entries; JSON holds unanswered, all of them, and unsent).
-- paint(status, text) colours a status cell of the table; on_terminal:
-- stdout is a terminal (CSV's fields are then made printable).
function M.write(write, format, kind, records, lists, paint, on_terminal)
  local fields = kind == "results" and RESULT_FIELDS or PAIR_FIELDS
  local b = buffer(write)
  if format == "json" then
    put(b, "{")
    json_array(b, "result", records, function(_, r) json_object(b, r, fields) end)
    for _, l in ipairs(LISTS[kind]) do
      if lists[l[1]] then
        put(b, ",")
        json_array(b, l[1], lists[l[1]], json_item)
      end
    end
    -- (a run's: those of its unanswered pipelines that never reached the
    -- service; the rest may have started)
    if lists.unsent then
      put(b, ",")
      json_array(b, "unsent", lists.unsent, json_item)
    end
    put(b, "}\n")
  elseif format == "csv" then
    csv_rows(b, records, fields, on_terminal)
  elseif format == "ndjson" then
    ndjson_rows(b, records, fields)
  else
    table_rows(b, records, kind == "results" and RESULT_COLUMNS or RUN_COLUMNS, paint)
    table_lists(b, kind, lists)
  end
  flush(b, true)
end

--- Whether format's output holds the lists (missing, unanswered, …):
-- CSV and NDJSON hold results only, and their lists go to stderr
-- (list_lines).
function M.holds_lists(format)
  return format ~= "csv" and format ~= "ndjson"
end

--- Requests of a dry run, as the library shows them (credentials
-- [REDACTED]), a blank line between two.
function M.requests(write, requests)
  for i, req in ipairs(requests) do
    write((i > 1 and "\n" or "") .. tostring(req) .. "\n")
  end
end

------------------------------------------------------------------------
-- The summary.
------------------------------------------------------------------------

local RANK = { START_SUCCESS = 1, START_FAILED = 2 }

--- The order of the summary's statuses, total whatever JSON type a server
-- gives them: the documented ones first, then by type, then by value
-- (numbers as numbers, strings as bytes, the rest by their JSON text).
local function status_before(a, b)
  local ra, rb = RANK[a] or 3, RANK[b] or 3
  if ra ~= rb then return ra < rb end
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return json_value(a) < json_value(b)
end

--- "6 runs: 3 START_SUCCESS, 3 START_FAILED (1 banned, 1 queued,
-- 1 change_request)", and what was not reported, started or answered.
-- summary is br.summary's of every result, failed that of the
-- START_FAILED ones (whose reasons it names: not those of a run in
-- another status, RUNNING say, which results:failed() holds too); kinds
-- the reason kinds in their order.
function M.summary(summary, failed, lists, kinds)
  local parts, statuses = {}, {}
  for status, n in pairs(summary.by_status) do
    if n > 0 then statuses[#statuses + 1] = status end
  end
  table.sort(statuses, status_before)
  for _, status in ipairs(statuses) do
    -- (the server's text, cleaned as the table's: on a terminal, a status
    -- holding escapes would drive it)
    local text = summary.by_status[status] .. " " .. (cell(status))
    if status == "START_FAILED" then
      local why = {}
      for _, kind in ipairs(kinds) do
        local n = failed.by_reason_kind[kind]
        if n > 0 then why[#why + 1] = n .. " " .. kind end
      end
      if #why > 0 then text = text .. " (" .. concat(why, ", ") .. ")" end
    end
    parts[#parts + 1] = text
  end
  local line = summary.total .. (summary.total == 1 and " run" or " runs")
  if #parts > 0 then line = line .. ": " .. concat(parts, ", ") end
  return line .. M.counts("results", lists)
end

--- "; 2 not reported by the server, 5 unanswered, 1 run the call cannot
-- place", or "".
function M.counts(kind, lists)
  local parts = {}
  for _, l in ipairs(entries(kind, lists)) do
    local n = lists[l[1]] and #lists[l[1]] or 0
    if n > 0 and l.runs then
      parts[#parts + 1] = ("%d run%s %s"):format(n, n == 1 and "" or "s", l.runs)
    elseif n > 0 then
      parts[#parts + 1] = n .. " " .. (l.counted or l[3])
    end
  end
  return #parts > 0 and ("; " .. concat(parts, ", ")) or ""
end

-- What each output makes of a text, the very functions it uses (each may
-- join pieces of a secret that the redactor saw apart: a token holding "?"
-- sent with a control character for it, one holding \" sent with a bare
-- quote): JSON's and NDJSON's string, CSV's field into a pipe and on a
-- terminal ("?" for a control character, then quotes doubled), the
-- table's cell, and a stderr line.
local SHOWN_FORMS = {
  function(s) return json_string(s):sub(2, -2) end,
  csv_field,
  csv_field_shown,
  function(s) return (cell(s)) end,
  printable,
}

--- Whether no display step changes s: plain text (core.plain_text)
-- without a comma, as CSV quotes a field that holds one, and the quote
-- it adds may stand for one in a secret (csv_field in SHOWN_FORMS).
local function unchanged(s)
  return plain_text(s) and not s:find(",", 1, true)
end

--- text redacted as every display step shows it: client:redact's text,
-- unless a step changes that into text holding a secret; then
-- [REDACTED], whole, which no step changes.  Redacting again only when a
-- step changes the text keeps this cheap: most text has nothing to change.
local function redacted(client, text)
  local said = client:redact(text)
  if unchanged(said) then return said end
  for _, form in ipairs(SHOWN_FORMS) do
    local shown = form(said)
    if shown ~= said and client:redact(shown) ~= shown then return "[REDACTED]" end
  end
  return said
end

-- Texts are joined, for one redaction of them all, with a byte that
-- redaction reads only as itself (redact.c's escape_starts) and that no
-- escape holds, nor a hex digit (a signature's), so that no text reads
-- otherwise beside it, and each text's secret, in any form, stands in the
-- join as in the text.  Printable ASCII and no comma, as a join of
-- unchanged texts is then unchanged.
local JOIN = "!"

--- The tool's redactor: redactor(text) -> text as the output shows it
-- (redacted), and whether the redaction failed (README: "(not shown: out
-- of memory)"), which is not kept: the next one may not.  Each distinct
-- text is redacted once: a call's statuses, reasons, names and pipeline
-- ids repeat, and 10,000 results must stay cheap to print.
local Redactor = {}
Redactor.__index = Redactor

-- All a redaction that failed gives (the keyring's words, whole): a
-- server's text that only starts so, "(not shown: " and a token, is text
-- redacted, which holds a [REDACTED] these do not.
local NOT_SHOWN = { ["(not shown: out of memory)"] = true, ["(not shown: the client was closed)"] = true }

function M.redactor(client)
  return setmetatable({ client = client, memo = {} }, Redactor)
end

function Redactor.__call(self, text)
  local said = self.memo[text]
  if said then return said, false end
  said = redacted(self.client, text)
  local failed = said ~= text and NOT_SHOWN[said] == true
  if not failed then self.memo[text] = said end
  return said, failed
end

--- Whether the redactor leaves each of texts (a list of strings; joined,
-- when given, their join) as it is: worked out from their join, redacted
-- once, and the join of each display step's forms of them, rather than
-- text by text (10,000 results hold some 50,000 texts, and most hold no
-- secret).  A secret that one
-- text holds the join holds too; the join may hold one that no text does,
-- across a JOIN: then this says no, and each is redacted.
function Redactor:leaves(texts, joined)
  local client, others = self.client, {}
  joined = joined or concat(texts, JOIN)
  if client:redact(joined) ~= joined then return false end
  -- (the display steps change only text that is not plain, or holds a
  -- comma)
  if unchanged(joined) then return true end
  for i = 1, #texts do
    if not unchanged(texts[i]) then others[#others + 1] = texts[i] end
  end
  for _, form in ipairs(SHOWN_FORMS) do
    local shown = {}
    for i, s in ipairs(others) do shown[i] = form(s) end
    joined = concat(shown, JOIN)
    if client:redact(joined) ~= joined then return false end
  end
  return true
end

-- The API's own field names, which a server's text cannot rename.
local API_FIELDS = KNOWN[RESULT_FIELDS]

--- The texts of t that redact_all redacts (see there), added to texts
-- from n + 1 on; returns their count.  (core.texts_joined gathers the same
-- texts, in the same order, for a table without __pairs.)
local function texts_of(t, texts, n)
  for k, x in pairs(t) do
    local kind = type(x)
    if kind == "string" then
      n = n + 1
      texts[n] = x
    elseif kind == "table" then
      n = texts_of(x, texts, n)
    end
    -- (the API's field first: most keys are, and type is a call)
    if not API_FIELDS[k] and type(k) == "string" then
      n = n + 1
      texts[n] = k
    end
  end
  return n
end

local function redact_each(t, redact)
  local renamed
  for k, x in pairs(t) do
    -- (setting a key that is there is allowed while pairs walks)
    if type(x) == "string" then
      t[k] = redact(x)
    elseif type(x) == "table" then
      redact_each(x, redact)
    end
    if type(k) == "string" and not API_FIELDS[k] and redact(k) ~= k then
      renamed = renamed or {}
      renamed[#renamed + 1] = k
    end
  end
  if not renamed then return t end
  for _, k in ipairs(renamed) do
    local said, failed = redact(k)
    local v = t[k]
    t[k] = nil
    if not failed then t[said] = v end
  end
  return t
end

--- The table t, with every string in it (its values, and its keys: a
-- field the API adds later is printed by name), in the tables it holds
-- too, redacted by redact (a redactor): what a server sent, about to be
-- printed.  The library returns it as the server sent it, and a server
-- may send the client's token back (as a run id, a name, a reason).
-- Changed in place: the tables are the call's, the tool's alone, and
-- 10,000 results are not copied.  The API's own field names are never
-- renamed; another field whose name cannot be redacted (memory ran out)
-- is left out, as its name cannot be shown, nor its value under another.
function M.redact_all(t, redact)
  -- The usual case, read in C: no display step changes a text, so the
  -- join's redaction alone tells whether any holds a secret (as leaves
  -- would say, scanning the join once more).
  local joined = texts_joined(t, API_FIELDS, JOIN)
  if joined and unchanged(joined) then
    if redact.client:redact(joined) == joined then return t end
    return redact_each(t, redact)
  end
  local texts = {}
  texts_of(t, texts, 0)
  if redact:leaves(texts, joined) then return t end
  return redact_each(t, redact)
end

return M
