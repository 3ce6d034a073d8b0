--- One request and its answer: the signed request for a body, and what a
-- transport got back, as decoded items or an error.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"
local input = require "codearts.batchresult.input"
local ascii_lower = require("codearts.batchresult.text").lower

local M = {}

local unpack = table.unpack or unpack
local new_table = core.new_table
local CONTENT_TYPE = "application/json;charset=UTF-8"

-- The most of the server's own words an error shows: an API error's
-- message, the start of a body that is not one, and a name the server
-- gives (an error code, a request id).  (MESSAGE_BYTES also bounds what a
-- callback raised, as its CALLBACK error shows it: call.lua.)
local MESSAGE_BYTES, SNIPPET_BYTES, NAME_BYTES = 4096, 200, 128
M.MESSAGE_BYTES = MESSAGE_BYTES

--- The headers that carry credentials, by name in lower case (as HTTP
-- reads names, whatever their case): never shown, nor logged.
local SECRET_HEADERS = { authorization = true, ["x-security-token"] = true, ["x-auth-token"] = true }

--- headers as they may be shown: the credential headers [REDACTED], and,
-- given the client's keyring, every secret in the others (a Host that is
-- a secret pasted into the endpoint).  (A prepared request is the
-- caller's, who may name its headers in lower case, as HTTP/2 does, or
-- in upper case: the signature is no secret the keyring knows.  Names are
-- lowered by text.lower, not string.lower, which follows the host's
-- locale: in tr_TR.ISO-8859-9 AUTHORIZATION lowered to no name here.)
function M.shown_headers(headers, keyring)
  local t = {}
  -- (walked in a raw copy, made in C: they may be the caller's, and a
  -- finalizer that a collection step runs here may change them)
  for k, v in next, core.raw_copy(headers) do
    t[k] = type(k) == "string" and SECRET_HEADERS[ascii_lower(k)] and "[REDACTED]" or keyring and keyring:redact(v) or v
  end
  return t
end

--- The metatable of a client's prepared requests, { method, url,
-- headers, body }, made once per client: tostring shows a request with
-- the credential headers [REDACTED], and every other secret keyring knows
-- redacted from the url, the header values and the body (one pasted into
-- the endpoint shows in the url and the Host); the method and the header
-- names are the library's own.
function M.request_meta(keyring)
  return { __tostring = function(req)
    local shown, names = M.shown_headers(req.headers, keyring), {}
    for name in pairs(shown) do names[#names + 1] = name end
    table.sort(names)
    local lines = { req.method .. " " .. keyring:redact(req.url) }
    for _, name in ipairs(names) do lines[#lines + 1] = name .. ": " .. shown[name] end
    lines[#lines + 1] = ""
    lines[#lines + 1] = (keyring:redact(req.body))
    return table.concat(lines, "\n")
  end }
end

-- X-Sdk-Date changes once a second; format it only then.
local last_time, last_date
local function sdk_date(now)
  if now ~= last_time then
    last_time, last_date = now, os.date("!%Y%m%dT%H%M%SZ", now)
  end
  return last_date
end

--- The signed request for body: a request any HTTP client can send.
-- endpoint = { host, url_base, project_id, user_agent }; creds = { ak,
-- keyring, security_token } or { token }, with request_meta (of the
-- keyring: M.request_meta); query is percent-encoded ("" for none); now
-- is the epoch second to sign with (the client's clock, corrected for the
-- server's).
function M.build(endpoint, creds, method, path, query, body, now)
  local headers = new_table(0, 8)
  headers["Content-Type"] = CONTENT_TYPE
  headers.Host = endpoint.host
  headers["X-Project-Id"] = endpoint.project_id
  headers["User-Agent"] = endpoint.user_agent
  if creds.token then
    headers["X-Auth-Token"] = creds.token
  else
    headers["X-Sdk-Date"] = sdk_date(now)
    headers["X-Security-Token"] = creds.security_token
    local auth, msg, code = creds.keyring:sign(creds.ak, method, path, query, headers, body)
    if not auth then return nil, Error.new(code, msg) end
    headers.Authorization = auth
  end
  local url = endpoint.url_base .. path .. (query ~= "" and ("?" .. query) or "")
  return setmetatable({ method = method, url = url, headers = headers, body = body }, creds.request_meta)
end

--- text (the server's, or a message quoting the caller's input) as an
-- error or a log event may show it: every
-- secret of the client, in any form, redacted (in C, where the SK is),
-- then cut to at most limit bytes, with "…" when it was cut, on one line
-- (each run of control characters, a terminal's escapes too, a space).
-- The redactor reads a run of at most CONTROL_RUN ASCII control
-- characters as a space, as the line shows it: a longer run, which the
-- line shows as one space all the same, is cut to that length first,
-- else the pieces of a secret with spaces between two such runs would
-- show.  The line is redacted again as it is shown, whatever one_line
-- made of the text.  shown_checked gives it and whether a redaction
-- failed (the text is then the keyring's own words, "(not shown: …)");
-- M.shown, the text alone.
local CONTROL_RUN = core.limits.redact_unit_max
local LONG_RUN = ("[%z\1-\31\127]"):rep(CONTROL_RUN + 1)
local function shown_checked(keyring, text, limit)
  if text:find(LONG_RUN) then
    text = text:gsub("[%z\1-\31\127]+", function(run) return #run > CONTROL_RUN and run:sub(1, CONTROL_RUN) or nil end)
  end
  local s, cut, failed = keyring:redact(text, limit)
  if failed then return s, true end
  -- (cut again to limit: a secret whole again may be shorter than its marker)
  local again
  s, again, failed = keyring:redact(Error.one_line(s), limit)
  if failed then return s, true end
  return (cut or again) and (s .. "…") or s, false
end
function M.shown(keyring, text, limit)
  return (shown_checked(keyring, text, limit))
end
local shown = M.shown

--- text with every occurrence of needle, a string in lower case, replaced:
-- found as plain text in either case, as hex digits are read.
local function without(text, needle)
  local out, at, lower = {}, 1, text:lower()
  while true do
    local i, j = lower:find(needle, at, true)
    if not i then break end
    out[#out + 1] = text:sub(at, i - 1)
    out[#out + 1] = "[REDACTED]"
    at = j + 1
  end
  if at == 1 then return text end
  out[#out + 1] = text:sub(at)
  return table.concat(out)
end

--- Whether text holds an escape that can write a hex digit (percent or
-- \u; JSON's others, a form's "+" and a control character write none):
-- only then can a signature stand in it other than raw.
local function has_escape(text)
  return text:find("%", 1, true) ~= nil or text:find("\\u") ~= nil
end

-- A signature is 64 hex digits.  Written with escapes, it is read, from
-- its first digit on, as read_escapes reads the text, but for at most its
-- first HEAD digits: the first escape's own digits may be taken as they
-- stand ("%31" is also "31"), while no later escape's can (a digit is
-- reached only from the byte before it, a "%" or a "u", which no hex digit
-- ends).  So its last TAIL digits always stand in what read_escapes reads.
local SIGNATURE_BYTES, HEAD = 64, 4
local TAIL = SIGNATURE_BYTES - HEAD

--- The ASCII character the hex digits of an escape write, or nil.
local function ascii_of(code)
  local c = tonumber(code, 16)
  if c < 128 then return string.char(c) end
end

--- text read as the characters its escapes write (%XX and \uXXXX, in
-- either case, of an ASCII character; no other, nor one an escape wrote,
-- as a redactor reads them): each in lower case, and the first and last
-- byte of text it stands for.
local function read_escapes(text)
  local chars, from, to, i, n = {}, {}, {}, 1, 0
  while i <= #text do
    local c, last, code = text:sub(i, i), i, nil
    if c == "%" then
      code, last = text:match("^%x%x", i + 1), i + 2
    elseif c == "\\" then
      code, last = text:match("^u(%x%x%x%x)", i + 1), i + 5
    end
    local written = code and ascii_of(code)
    if written then c = written else last = i end
    n = n + 1
    chars[n], from[n], to[n] = c:lower(), i, last
    i = last + 1
  end
  return chars, from, to
end

--- Where in text the signature sig (lower case) begins whose last TAIL
-- digits are read_escapes' characters i and on: the first byte of its
-- first character, or of the escape whose own digits begin it (see HEAD);
-- nil when its first digits are not there.
local function signature_start(text, chars, from, to, i, sig)
  for m = HEAD, 0, -1 do
    local e = i - m
    if e >= 1 and table.concat(chars, "", e, i - 1) == sig:sub(HEAD - m + 1, HEAD) then
      if m == HEAD then return from[e] end
      local k = e - 1
      if k >= 1 and to[k] > from[k] then
        local digits = text:sub(from[k] + (text:byte(from[k]) == 37 and 1 or 2), to[k]):lower()
        if digits:sub(-(HEAD - m)) == sig:sub(1, HEAD - m) then return from[k] end
      end
    end
  end
end

--- Whether by_tail (kept signatures, lower case, by their last TAIL
-- digits) holds a tail that text, its escapes read, holds: two gsubs,
-- which cost about the text's size, where read_escapes costs some
-- sixty times it.  (They read an escape an escape wrote, "%5Cu0031", as
-- no redactor does: it finds more, never less.)
local function holds_tail(text, by_tail)
  local read = text:gsub("%%(%x%x)", ascii_of):gsub("\\u(%x%x%x%x)", ascii_of):lower()
  for run in read:gmatch("%x+") do
    for i = 1, #run - TAIL + 1 do
      if by_tail[run:sub(i, i + TAIL - 1)] then return true end
    end
  end
  return false
end

-- The most bytes a signature written with escapes spans (each digit as
-- \uXXXX), and the pieces without_escaped reads positions in, which
-- overlap by that much, so that each signature stands whole in one.
local WRITTEN, PIECE = 6 * SIGNATURE_BYTES, 4096

--- The spans (first and last byte, offset added) of the signatures of
-- by_tail written with escapes in piece, added to spans.
local function spans_in(piece, offset, by_tail, spans)
  local chars, from, to = read_escapes(piece)
  local read = table.concat(chars)
  for s, run in read:gmatch("()(%x+)") do
    for i = s, s + #run - TAIL do
      local sig = by_tail[read:sub(i, i + TAIL - 1)]
      local first = sig and signature_start(piece, chars, from, to, i, sig)
      if first then spans[#spans + 1] = { first + offset, to[i + TAIL - 1] + offset } end
    end
  end
end

--- text with each signature of by_tail (lower case, by its last TAIL
-- digits) that it holds written with escapes, wholly or in part, in any
-- case or a mix of cases, [REDACTED], with each escape it begins or ends
-- in whole.  Found and cut here, by position: a redactor of the
-- signatures would compare their bytes as they were kept, in one case,
-- and build its tables again for each one added.  Positions are read
-- only in a text that holds a tail, a piece at a time: memory stays a
-- few times the text's size.
local function without_escaped(text, by_tail)
  if not holds_tail(text, by_tail) then return text end
  local spans, at = {}, 1
  repeat
    spans_in(text:sub(at, at + PIECE - 1), at - 1, by_tail, spans)
    at = at + PIECE - WRITTEN
  until at + WRITTEN > #text
  if #spans == 0 then return text end
  table.sort(spans, function(x, y) return x[1] < y[1] end)
  local out
  out, at = {}, 1
  for _, span in ipairs(spans) do
    if span[1] >= at then
      out[#out + 1] = text:sub(at, span[1] - 1)
      out[#out + 1] = "[REDACTED]"
    end
    at = math.max(at, span[2] + 1)
  end
  out[#out + 1] = text:sub(at)
  return table.concat(out)
end

-- Words cut short before they were redacted (libcurl cuts its own to 255
-- bytes; Signed:redact reads a long text only to past its limit) may end
-- with the start of a secret, shorter than the shortest run redaction
-- reads as one (core.limits.redact_min_run bytes), each byte as long as
-- the longest form redaction reads one in (core.limits.redact_unit_max:
-- a space as a run of control characters).  Whatever that left lies after
-- the last [REDACTED], if any.
local CUT_BACK = core.limits.redact_unit_max * (core.limits.redact_min_run - 1)
local REDACTED = "[REDACTED]"

--- said, redacted words cut before their redaction, without the bytes
-- after its last [REDACTED], up to CUT_BACK of them (and a character that
-- drop split: only then, as a whole one is words no cut touched).
local function without_cut_tail(said)
  local after, at = 0, 1
  while true do
    local _, j = said:find(REDACTED, at, true)
    if not j then break end
    after, at = j, j + 1
  end
  local kept = said:sub(1, #said - math.min(CUT_BACK, #said - after))
  local lead, more = kept:match("()[\192-\255]([\128-\191]*)$")
  if lead then
    local byte = kept:byte(lead)
    if #more < (byte >= 0xF0 and 3 or byte >= 0xE0 and 2 or 1) then kept = kept:sub(1, lead - 1) end
  end
  return kept
end

--- A keyring for a server's text: it hides, besides the client's
-- secrets, the signature of the request the text answers (authorization:
-- its Authorization header; nil for none, or a token client's, whose
-- token keyring hides), and those of the client's latest requests (priv:
-- its private state, as keep_authorization keeps them), which a server
-- may quote as well.  A server that echoes a request would show its
-- signature, and with it a request anyone could send again while its
-- X-Sdk-Date holds, in either case (hex digits read the same in both): a
-- run would start again.  Raw (JSON decoded) it is taken out here, and so
-- is it written with escapes (percent or \u, wholly or in part, in any mix
-- of cases: without_escaped).  A piece of one, cut short, is no
-- signature: nothing can be sent with it.
local Signed = {}
Signed.__index = Signed

function Signed:redact(text, limit)
  -- A text far longer than limit is read only to just past it, with room
  -- for a signature written with escapes across the cut: the cut drops
  -- the rest, and reading it all costs a megabyte's error body seconds.
  -- (The end of what is read may hold the start of a secret, too short to
  -- be known as one.  Redaction may shrink what is read until that end
  -- lies within limit, or nearly: then it goes, without_cut_tail.)
  local long = limit and #text > limit + WRITTEN
  if long then text = text:sub(1, limit + WRITTEN) end
  local sig = self.sig
  if sig == nil then
    -- (found only when there is text to redact: a plain find, as the
    -- signer writes it, last)
    local at = self.authorization:find(", Signature=", 1, true)
    sig = at and self.authorization:sub(at + 12) or false
    self.sig = sig
  end
  if sig and sig ~= "" then
    -- (escapes first, as without_signatures takes them: "%3" before a
    -- signature whose first digit is 3 goes with it)
    if has_escape(text) and #sig == SIGNATURE_BYTES then
      text = without_escaped(text, { [sig:lower():sub(-TAIL)] = sig:lower() })
    end
    text = without(text, sig)
  end
  text = M.without_signatures(self.priv, text)
  local said, cut, failed = self.keyring:redact(text, limit)
  -- (a redaction that failed gives the keyring's own words, "(not
  -- shown: …)", whole and uncut, and says so, as the keyring does)
  if failed then return said, false, true end
  -- (what is read, redacted whole, ends within CUT_BACK of limit or
  -- before: its end is within what is said)
  if long and #(self.keyring:redact(text)) < limit + CUT_BACK then said = without_cut_tail(said) end
  return said, cut or long
end

function M.with_signature(keyring, authorization, priv)
  -- (sig: found at the first redaction, false when there is none)
  local sig
  if not authorization then sig = false end
  return setmetatable({ keyring = keyring, authorization = authorization, priv = priv, sig = sig }, Signed)
end

--- The signatures of a client's latest requests (priv: its private
-- state), for client:redact: a server may echo one into a result, which
-- the library hands over as data and the command-line tool prints.  Kept
-- in a ring, as the last 64 bytes of each Authorization sent (where the
-- signer puts it), and read only when a text could hold one.  A finalizer
-- may sign or redact with the same client whenever Lua allocates (on 5.1
-- and LuaJIT, while the ring grows): so a slot is filled before the count
-- takes it in, and a redaction meanwhile finds no hole.  (A keep made by
-- such a finalizer may then be written over: one signature, in a race.)
-- What is made of the kept ones (their set, and the set of their tails)
-- is dropped at each keep, its fields there from the start: setting them
-- allocates nothing, so no finalizer runs between the count and them.
local KEPT = 1024
function M.keep_authorization(priv, authorization)
  local kept = priv.authorizations
  if not kept then
    kept = { n = 0, signatures = false, tails = false }
    priv.authorizations = kept
  end
  local sig = authorization:sub(-SIGNATURE_BYTES)
  local n = kept.n + 1
  kept[(n - 1) % KEPT + 1] = sig
  kept.n, kept.signatures, kept.tails = n, false, false
end

--- The set of the kept signatures, in lower case (kept while no other
-- was kept meanwhile).
local function signatures(kept)
  local set, n = {}, kept.n
  for i = 1, math.min(n, KEPT) do
    local sig = kept[i]
    if sig:find("^%x+$") then set[sig:lower()] = true end
  end
  if kept.n == n then kept.signatures = set end
  return set
end

--- run (of hex digits) with every signature of set in it [REDACTED]; nil
-- when it holds none.
local function without_signatures_in(run, set)
  local out, from, at = {}, 1, 1
  while at + SIGNATURE_BYTES - 1 <= #run do
    if set[run:sub(at, at + SIGNATURE_BYTES - 1):lower()] then
      out[#out + 1] = run:sub(from, at - 1)
      out[#out + 1] = "[REDACTED]"
      at = at + SIGNATURE_BYTES
      from = at
    else
      at = at + 1
    end
  end
  if from == 1 then return nil end
  out[#out + 1] = run:sub(from)
  return table.concat(out)
end

--- The kept signatures by their last TAIL digits (kept while no other
-- was kept meanwhile, as signatures()).
local function tails(kept)
  local by_tail, n = {}, kept.n
  for sig in pairs(kept.signatures or signatures(kept)) do by_tail[sig:sub(-TAIL)] = sig end
  if kept.n == n then kept.tails = by_tail end
  return by_tail
end

--- text without the signatures of the requests keep_authorization kept,
-- whole (64 hex digits, in either case: a piece of one sends nothing) as
-- they stand in a result, which is decoded; and, in text with an escape
-- (percent or \u, wholly or in part, as an echo of a request may write
-- them), as Signed:redact reads a server's text.  The escapes go first:
-- an escape's last digit may begin a raw run, which taken out alone
-- would leave the escape's first part shown.
function M.without_signatures(priv, text)
  local kept = priv.authorizations
  if not kept or #text < SIGNATURE_BYTES then return text end
  if has_escape(text) then text = without_escaped(text, kept.tails or tails(kept)) end
  local set = kept.signatures or signatures(kept)
  return (text:gsub("%x+", function(run)
    if #run >= SIGNATURE_BYTES then return without_signatures_in(run, set) end
  end))
end

--- err, about the caller's input, with every secret keyring knows
-- redacted from what it quotes, as a user may paste a secret in the wrong
-- place: its message (shown, cut to limit bytes), and an unknown option's
-- name as redaction gives it, which is the caller's key, for a program to
-- compare, when it holds no secret; a known option's is left (a secret
-- may hold "endpoint").  (When redaction cannot be done it gives
-- "(not shown: …)", with no marker in it, for a name that may be the
-- secret itself: so whatever it gives is the name.)  A cut that fell
-- inside an escape of a quoted value (input.escaped) leaves it out whole:
-- what was left of it would read as another byte (\226 cut to \2), or
-- escape the marker (\ of \\).  Then whether a redaction failed.
function M.shown_input(keyring, err, limit)
  local message, failed = shown_checked(keyring, err.message, limit)
  local head, slashes = message:match("^(.-)(\\+)%d?%d?…$")
  if head and #slashes % 2 == 1 then message = head .. slashes:sub(2) .. "…" end
  err.message = message
  if type(err.option) == "string" and input.names_unknown(err) then
    local option, _, option_failed = keyring:redact(err.option)
    err.option, failed = option, failed or option_failed
  end
  return err, failed
end

--- A name the server gave (an X-Request-Id, an error code) as it may be
-- shown.
function M.shown_name(keyring, name)
  return shown(keyring, name, NAME_BYTES)
end

-- The longest X-Request-Id, and Date or Retry-After, that counts: as
-- long as libcurl's transport keeps (src/limit.h).
local ID_BYTES, TIME_BYTES = core.limits.max_request_id_bytes, core.limits.max_time_field_bytes

local function counted(value, most)
  if value and value ~= "" and #value <= most then return value end
end

--- Reads an answer's head fields in res by one rule on every transport
-- (each hands over the last line of a repeated field, unfolded, from the
-- head alone): an empty one, or one longer than libcurl's transport
-- keeps, is none, never cut before it is redacted.  The request id is
-- then as shown_name shows it.
function M.read_heads(res, keyring)
  local id = counted(res.request_id, ID_BYTES)
  res.request_id = id and M.shown_name(keyring, id)
  res.date, res.retry_after = counted(res.date, TIME_BYTES), counted(res.retry_after, TIME_BYTES)
end

--- An answer's request id: its X-Request-Id (res.request_id, as read_heads
-- left it), or else its body's request_id (body_id) by the same rule.
local function request_id(res, body_id, keyring)
  return res.request_id or (counted(body_id, ID_BYTES) and M.shown_name(keyring, body_id)) or nil
end

--- The error for a non-2xx answer: the API's own code and message when
-- the body is a Huawei-style error, else HTTP with the start of the body
-- (INTERNAL when memory ran out reading it: it may be such an error).
-- With no status (res.status nil: br.decode was given none), only a body
-- that has both a code and a message is an error; else nil.
function M.api_error(res, keyring)
  local code, message, body_request_id, oom = core.decode_error(res.body)
  if oom then
    local status = res.status and " (HTTP " .. res.status .. ")" or ""
    return Error.new(oom, "out of memory reading the answer's error body" .. status,
      { status = res.status, request_id = res.request_id })
  end
  -- A blank code or message says nothing: an error has a code, and a line.
  -- Blank as shown: control characters alone become spaces there.  (Read
  -- on one line, not redacted: redaction makes no text blank, a secret's
  -- marker showing, and finds no secret in white space; and a megabyte's
  -- message would cost it seconds, to be cut anyway.)
  local function blank(text) return not Error.one_line(text):find("%S") end
  if code and blank(code) then code = nil end
  if message and blank(message) then message = nil end
  if code then code = M.shown_name(keyring, code) end
  if message then message = shown(keyring, message, MESSAGE_BYTES) end
  if not res.status and not (code and message) then return nil end
  if not message then
    local snippet = shown(keyring, res.body, SNIPPET_BYTES)
    message = "the server answered HTTP " .. res.status .. (snippet:find("%S") and (": " .. snippet) or "")
  end
  return Error.new(code or "HTTP", message,
    { status = res.status, request_id = request_id(res, body_request_id, keyring) })
end

--- A transport's message as an error shows it (shown), with what a cut
-- before it may have left of a secret dropped (without_cut_tail), then
-- "…"; or, when it could not be redacted, the keyring's words whole.
local function transport_words(keyring, msg, cut)
  local said, failed = shown_checked(keyring, msg, MESSAGE_BYTES)
  if failed then return said end
  -- (libcurl ends some with a space: "SSL_ERROR_SYSCALL in connection to
  -- host:443 ")
  if not cut then
    local last = #said
    while said:byte(last) == 32 do last = last - 1 end
    return said:sub(1, last)
  end
  return without_cut_tail(said) .. "…"
end

--- What a transport reported for an attempt of operation row, as decoded
-- items (each holding the string members row.answer.ids) or nil, err;
-- then, for an answer of items with no ids (a run's), the set of the
-- places of those that name a member twice, which no call may place, and
-- the first's flaw (nil when none).
-- keyring (core.keyring) hides the client's secrets in anything the
-- server sent (res.request_id is already as shown_name shows it); cut:
-- the transport's words were cut short (transport_words).
-- err.retryable is the retry policy's to set.
function M.outcome(res, kind, msg, row, keyring, cut)
  if not res then return nil, Error.new(kind, transport_words(keyring, msg, cut)) end
  if res.status < 200 or res.status > 299 then return nil, M.api_error(res, keyring) end
  local answer = row.answer
  local items, why, code = core.decode_results(res.body, answer.list, unpack(answer.ids))
  -- (why may quote the body: a member's name, say)
  if not items then return nil, M.undecodable(res, why, keyring, code) end
  return items, nil, why, code
end

--- The DECODE error of a 2xx answer res the call cannot use, and why (or,
-- with code INTERNAL, why memory ran out decoding it).
function M.undecodable(res, why, keyring, code)
  local body_id = not res.request_id and select(3, core.decode_error(res.body))
  return Error.new(code or "DECODE", shown(keyring, why, MESSAGE_BYTES),
    { status = res.status, request_id = request_id(res, body_id, keyring) })
end

return M
