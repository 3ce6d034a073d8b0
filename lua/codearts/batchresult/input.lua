--- Normalise once, at the boundary.  Every public entry (new, query, run,
-- run_and_query, prepare, sign) reads the caller's tables here, once, into
-- plain tables and strings that the library owns; validation, encoding,
-- signing and the C binding see only that copy.
--
-- The rule: tables are read RAW.  Only a table's own fields count
-- (rawget, next), so an __index, __len or __pairs of the caller's never
-- runs and never answers differently on a second look.  A table read as
-- named fields (options, a filter, br.sign's argument and its headers)
-- that has a metatable is refused: what its __index serves (a table of
-- defaults, say) would silently not count.  A list's items are its keys
-- 1..n; other keys (a result set's `missing`, say) are not items, and a
-- positive whole-number key past a missing one is an error, so that
-- nothing is silently left out.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"

local M = {}

-- The most of a bad id a message quotes: far more than an input error
-- shows once it is redacted and cut (batchresult.lua), so that there this
-- cut never shows.  (Also how much of a run's id err.unplaced shows:
-- call.lua.)
local QUOTED_BYTES = 1024
M.QUOTED_BYTES = QUOTED_BYTES

--- The escape of one byte of M.escaped's: a quote and a backslash
-- behind a backslash, a line feed as \n (on one line), any other control
-- byte as its decimal code, in three digits when a digit follows (\0002,
-- not \02, which reads as the code 2).
local function escape(c, digit)
  if c == '"' or c == "\\" then return "\\" .. c .. digit end
  if c == "\n" then return "\\n" .. digit end
  return (digit == "" and "\\%d" or "\\%03d"):format(c:byte()) .. digit
end

--- s as a message quotes it, between its double quotes, the same on every
-- Lua: as Lua 5.4's %q writes it (a tab as \9, an escape as \27), but for
-- a line feed, \n, and each byte past ASCII escaped too (a zero-width
-- space as \226\128\139: an id pasted with one looks whole otherwise).
-- Not %q itself: Lua 5.1's and LuaJIT's leave a tab or an escape raw,
-- which a message, made one line, shows as a space.  The control bytes
-- are below 32, and 127, an explicit class: %c follows the C locale a
-- host may have set.  (config.secret_forms redacts a secret in this form
-- too.)
function M.escaped(s)
  return (s:gsub('([%z\1-\31"\\\127-\255])(%d?)', escape))
end

--- A bad id as a message shows it: a string quoted (M.escaped; its first
-- QUOTED_BYTES, then "…" when there is more), anything else by type.  With
-- keyring (a core.keyring, or anything with its redact), the string is
-- redacted before it is quoted: quoting doubles each backslash, which
-- turns a secret's escaped form (\u0073, \/) into one no redactor reads
-- as that secret.  (A secret with spaces, sent with tabs for them, is
-- found as it came: the redactor reads a control character as a space,
-- src/redact.h.)
function M.quoted(v, keyring)
  if type(v) ~= "string" then return type(v) end
  local shown, cut
  if keyring then
    shown, cut = keyring:redact(v, QUOTED_BYTES)
  else
    shown, cut = v:sub(1, QUOTED_BYTES), #v > QUOTED_BYTES
  end
  return '"' .. M.escaped(shown) .. '"' .. (cut and "…" or "")
end

-- Said of a table the caller gave that has a metatable: what it hides is
-- not read.
local RAW = "tables are read raw: fields behind a metatable do not count"

-- (not getmetatable, which answers a __metatable field's value instead,
-- whatever a proxy put there; neither runs a metamethod)
local debug_getmetatable = debug.getmetatable

--- Whether the caller's value v has a metatable of its own: a table does
-- only when the caller gave it one.
local function has_metatable(v)
  return type(v) == "table" and debug_getmetatable(v) ~= nil
end
M.has_metatable = has_metatable

local function raw_note(t)
  return has_metatable(t) and (" (" .. RAW .. ")") or ""
end

--- The refusal of a table the caller gave, read as named fields, that has
-- a metatable (what: the table's name in messages, "options"): for
-- br.sign, whose C finds the metatable itself.
function M.metatable_words(what)
  return what .. " must be a plain table, got one with a metatable (" .. RAW .. ")"
end

--- M.metatable_words(what) when the table t has a metatable; nil when it
-- is plain.  Every entry that reads a table as named fields asks this
-- first, and refuses in its own way (nil, err; or a raise for misuse).
function M.metatable_refused(t, what)
  if has_metatable(t) then return M.metatable_words(what) end
end

--- Raises, at level (error()'s, as the function that calls this would
-- give it: at the line that called the entry), that br.name was called
-- with a colon: br:new{…} hands the module table in as the options,
-- whose fields read as unknown options, or as an empty list.  (The
-- reverse of a client's method called with a dot, batchresult.lua.)
function M.dot_slip(name, level)
  error("codearts.batchresult: call br." .. name .. "(…) with a dot, not br:" .. name, level + 1)
end

--- What an empty list holds instead of items 1..n, for its message:
-- often one item given without the list around it.
local function not_items_note(list, row)
  if next(list) == nil then return "" end
  if not row.bare then
    for _, f in ipairs(row.fields) do
      if rawget(list, f) ~= nil then
        return " (it is one item, not a list of them: give { { " .. row.fields[1] .. " = …, … } })"
      end
    end
  end
  return " (it holds keys other than 1..n)"
end

--- Why list, an empty one, holds no item, for its message: the library's
-- own objects by name (a call's error given for its err.unanswered, a
-- result set a filter emptied), which the metatable's note would misname.
local function empty_note(list, row)
  if Error.is(list) then return " (it is an error: its items are err.unanswered)" end
  -- (required here: results requires this module)
  if require("codearts.batchresult.results").is(list) then return " (an empty result set)" end
  local note = raw_note(list)
  return note ~= "" and note or not_items_note(list, row)
end

--- An option's name as a message shows it, without running any code of
-- the caller's: tostring would call a table key's __tostring (which may
-- also raise, or return no string).
local function key_name(k)
  if type(k) == "string" then return "'" .. k .. "'" end
  if type(k) == "number" then return ("%.17g"):format(k) end
  return "of type " .. type(k)
end

-- The errors M.options made about a name no rule has (weak keys: the
-- errors are the caller's).  Only such a name is the caller's own text in
-- err.option, where a secret pasted in the wrong place could show.
local unknown_names = setmetatable({}, { __mode = "k" })

--- Whether err (an error of M.options's) names an option that is none.
function M.names_unknown(err)
  return unknown_names[err] == true
end

--- Why option k, whose rule is rule, may not be v; nil when it may.
-- (Joined with .., not format's %s: Lua 5.1's stops at a NUL in a name or
-- in what a check quotes.)
local function broken(rule, k, v, kind)
  if type(v) ~= rule[1] then return kind .. " " .. k .. " must be a " .. rule[1] .. ", got " .. type(v) end
  local why = rule[2] and rule[2](v)
  return why and (kind .. " " .. k .. " must " .. why)
end

--- The option of copy a refusal names, and why; nil when there is none.
-- One order, not next's, which follows the string hash seed (a new one
-- each run on Lua 5.2 and later and on LuaJIT), so that the same options
-- are refused for the same one every time: a known option with a wrong
-- value first, the first by name, else the unknown name that shows first.
local function refusal(copy, rules, kind)
  local known, known_why, unknown, unknown_shown
  for k, v in next, copy do
    local rule = rules[k]
    if not rule then
      local shown = key_name(k)
      if unknown == nil or shown < unknown_shown then unknown, unknown_shown = k, shown end
    elseif known == nil or k < known then
      local why = broken(rule, k, v, kind)
      if why then known, known_why = k, why end
    end
  end
  if known ~= nil then return known, known_why end
  if unknown ~= nil then return unknown, "unknown " .. kind .. " " .. unknown_shown end
end

--- Copies the options table t (nil means none) by rules, { name =
-- { type, check } }: a metatable on t, unknown names and wrong types are
-- errors, and check(v) returns why a value is wrong.  kind names one
-- option in messages ("option", "call option"); plural names the table.
-- An error about one option carries its name as err.option, and comes
-- with the whole copy, so that the caller can redact the secrets it holds
-- from the message.
function M.options(t, rules, kind, plural)
  if t == nil then return {} end
  if type(t) ~= "table" then
    return nil, Error.invalid(("%s must be a table, got %s"):format(plural, type(t)))
  end
  local behind = M.metatable_refused(t, plural)
  if behind then return nil, Error.invalid(behind) end
  -- (in C: a walk here could meet a finalizer that changes t, core.c)
  local copy = core.raw_copy(t)
  local k, why = refusal(copy, rules, kind)
  if k == nil then return copy end
  local err = Error.invalid(why)
  err.option = k
  if not rules[k] then unknown_names[err] = true end
  return nil, err, copy
end

--- The caller's list for operation row (its `what`, `fields` and `bare`)
-- as a flat array of id strings, item after item, and the count of items;
-- or nil, err naming the item, with err.index (its position in the list)
-- and err.field (nil when the item itself is wrong).
function M.items(list, row, keyring)
  local what = row.what
  if type(list) ~= "table" then
    local shape = row.bare and "id strings" or ("{ " .. table.concat(row.fields, " = …, ") .. " = … }")
    return nil, Error.invalid(("%s must be an array of %s, got %s"):format(what, shape, type(list)))
  end
  local flat, n, field, problem, value, item
  if row.bare then
    flat, n, field, problem, value, item = core.read_items(list)
  else
    flat, n, field, problem, value, item = core.read_items(list, (table.unpack or unpack)(row.fields))
  end
  if flat then
    if n == 0 then return nil, Error.invalid(what .. " is empty" .. empty_note(list, row)) end
    return flat, n
  end
  local i = n
  local name = ("%s[%d]%s"):format(what, i, field and ("." .. field) or "")
  local message
  if problem == "hole" then
    -- (an integer key as it is; a float past 2^53, which a double holds
    -- only near, in its own notation)
    local last = math.type and math.type(value) == "integer" and ("%d"):format(value)
      or value < 2 ^ 53 and ("%.0f"):format(value) or ("%.17g"):format(value)
    message = ("%s is missing, but the list goes on to %s[%s]"):format(name, what, last)
  elseif problem == "missing" then
    message = name .. " is missing" .. raw_note(item)
  elseif problem == "type" and not field and not row.bare then
    message = ("%s must be a table, got %s"):format(name, type(value))
  else
    message = ("%s must be 32 letters or digits, got %s"):format(name, M.quoted(value, keyring))
  end
  local err = Error.invalid(message)
  err.index, err.field = i, field
  return nil, err
end

--- Whether v is an id: 32 letters or digits.
function M.is_id(v)
  return type(v) == "string" and #v == 32 and not v:find("[^0-9A-Za-z]")
end

--- A flat list's item i as the caller would write it: a table of the
-- row's fields, or the id itself when items are bare.
function M.item(flat, row, i)
  if row.bare then return flat[i] end
  local fields, width = row.fields, #row.fields
  local t, base = {}, (i - 1) * width
  for f = 1, width do t[fields[f]] = flat[base + f] end
  return t
end

--- Why the table t (br.sign's headers) is not a map of strings to
-- strings, read raw; nil when it is one.
function M.strings_refused(t, what, keyring)
  for k, v in next, t do
    if type(k) ~= "string" then
      return ("%s must map strings to strings, got a %s key"):format(what, type(k))
    elseif type(v) ~= "string" then
      return ("%s must map strings to strings, got %s = %s"):format(what, M.quoted(k, keyring), type(v))
    end
  end
end

return M
