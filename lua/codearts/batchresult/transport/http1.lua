--- The built-in HTTP/1.1 client of the nginx transport (transport/ngx.lua):
-- one request over one ngx_lua cosocket, its answer read and checked.
-- Debian packages no lua-resty-http, so this is the client that usually
-- runs inside nginx.
--
-- M.send(cfg, req, u, link, deadline) -> response
--                                      | nil, kind, message, not_sent
-- u is the parsed URL (ngx.lua's parse_url), link says where the
-- connection comes from and where it goes after (ngx.lua's link_for:
-- { pool, keep, resend: the link a resend goes through }), deadline is
-- the core.now() by which this attempt must end.  It never raises on a
-- network event: every failure comes back as a kind of the transport
-- contract (transport/curl.lua).
--
-- An answer that is not HTTP (an SSH banner, say) or breaks HTTP/1.1's
-- framing (a bad status line, header line, chunk or Content-Length, or a
-- Transfer-Encoding other than chunked) is a PROTOCOL failure: sending
-- the same request again to the same server would get the same answer.
-- A body cut short (the connection closed before Content-Length bytes
-- came, or in the middle of a chunk) is a NETWORK failure.
local config = require "codearts.batchresult.config"
-- The attempt's clock: monotonic, as the call's deadline and libcurl's
-- are (ngx.now() is the wall clock, which a step of the system's time
-- would end an attempt early with, or stretch past its timeout).
local now = require("codearts.batchresult.core").now
local trim = require("codearts.batchresult.text").trim_ows
local lower = require("codearts.batchresult.text").lower

local M = {}

-- The most a status line plus headers may take.
local MAX_HEADER_BYTES = config.LIMITS.max_header_bytes
-- The longest trailer line libcurl takes: a longer one is PROTOCOL.
local MAX_TRAILER_LINE_BYTES = config.LIMITS.max_trailer_line_bytes
local HEAD_TOO_LARGE = ("the answer's headers or trailers exceed %d bytes"):format(MAX_HEADER_BYTES)
M.MAX_HEADER_BYTES, M.HEAD_TOO_LARGE = MAX_HEADER_BYTES, HEAD_TOO_LARGE
local READ_CHUNK = 65536

local function too_large(limit)
  return ("the answer is larger than the limit of %d bytes"):format(limit)
end
M.too_large = too_large

--- A cosocket error as the kind of failure it is.
local function kind_of(err)
  if err == "timeout" then return "TIMEOUT" end
  return "NETWORK"
end
M.kind_of = kind_of

-- A server's unexpected words are quoted whole (a line, a header's value,
-- a first read: never more than the head's limit or one read) and as they
-- are: exchange.lua redacts a message, then cuts it and makes it one line.
-- Cut before, or rewritten, a secret in them would escape the redaction.

--- The whole milliseconds left before deadline (a core.now()), at least
-- 1; or nil once it has passed.  The resty.http adapter times with it too.
function M.left_ms(deadline)
  local left = deadline - now()
  if left <= 0 then return nil end
  return math.max(1, math.floor(left * 1000 + 0.5))
end

-- How long an attempt whose time ran out between its waits may still read.
local GRACE = 0.05

--- The whole milliseconds the next wait of an attempt may take, by
-- attempt.deadline (a core.now()); nil once it has passed.  A wait that
-- outlasts it fails, and ends the attempt; so time found gone before a
-- wait went by outside the waits, in the caller's code (a callback that
-- blocked the worker, say), while the answer may have come in.  Then the
-- attempt gets GRACE more, once, to read what is there, as libcurl's
-- transport reads what came before it looks at the time (src/multi.c).
-- The resty.http adapter times with it too.
function M.wait_ms(attempt)
  local ms = M.left_ms(attempt.deadline)
  if ms or attempt.graced then return ms end
  attempt.graced, attempt.deadline = true, now() + GRACE
  return M.left_ms(attempt.deadline)
end

-- Cosockets decode no content coding (libcurl does), so these clients ask
-- for the body as it is; without an Accept-Encoding a server may code it
-- any way it likes (RFC 9110 12.5.3).  A coded body all the same is a
-- PROTOCOL failure, named, rather than bytes that fail as JSON.
M.ACCEPT_ENCODING = "identity"

--- The failure's message when the answer's Content-Encoding (nil when it
-- has none) codes its body; nil when it does not.
function M.coded(value)
  if value == nil or lower(value):match("^[%s,]*identity[%s,]*$") or not value:find("%S") then return nil end
  return "the answer's body is coded (Content-Encoding: " .. value .. "), which this client does not ask for"
end

-- Reading an answer --------------------------------------------------------

--- Reads lines and counted bytes from sock, keeping what one read brought
-- beyond the line asked for.  Every read first checks the deadline.  The
-- resty.http adapter reads through one too (M.reader).
--
-- The bytes read and not yet taken are data's from at on.  Taking a line
-- or a chunk moves at and copies nothing; a refill drops what was taken.
-- (Cutting them off data each time copied all that followed, again and
-- again: an answer of 100,000 one-byte chunks took half a second of the
-- worker's time, of 16 MiB over a minute.)
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline, connect_ms)
  return setmetatable({ sock = sock, data = "", at = 1, deadline = deadline, connect_ms = connect_ms,
                        got_any = false }, Reader)
end
M.reader = new_reader

--- The whole milliseconds a connect or handshake may wait: what is left of
-- connect_ms since connect_by was set (connect_ms from the first wait
-- armed: connecting, to each address tried, and the handshake share it,
-- as they share libcurl's connect timeout), at most ms.
function M.connect_wait_ms(connect_by, ms)
  return math.min(M.left_ms(connect_by) or 1, ms)
end

-- The timeouts are what is left of the attempt's time, so that slow
-- drips of bytes cannot stretch it (and connecting, which the resty.http
-- adapter arms with it too, what is left of connect_ms: connect_wait_ms).
function Reader:arm()
  local ms = M.wait_ms(self)
  if not ms then return nil, "timeout" end
  self.connect_by = self.connect_by or now() + self.connect_ms / 1000
  self.sock:settimeouts(M.connect_wait_ms(self.connect_by, ms), ms, ms)
  return true
end

--- The next bytes that come, at most max of them; nil, err at the end of
-- the stream or on failure.  Every read of the socket goes through here,
-- for receiveany returns as soon as any bytes came: ngx_lua restarts a
-- read's timer each time some arrive, so one receive(n) or receive("*l")
-- would bound only each gap between them, and a body dripping a byte at a
-- time would outlast the attempt however short its time.
function Reader:piece(max)
  local ok, err = self:arm()
  if not ok then return nil, err end
  local data
  data, err = self.sock:receiveany(max)
  if not data then return nil, err end
  self.got_any = true
  return data
end

-- The most of a request one send writes (see Reader:send).
local SEND_PIECE = 16384

--- Sends data (a string, or a list of strings as a cosocket takes it) in
-- pieces, each send armed to what is left of the attempt: ngx_lua
-- restarts a send's timer each time some bytes leave, so one send of a
-- large body would bound only each pause, and a peer that reads slowly
-- would stretch the attempt (a megabyte at 40 KB/s: 34 s for a 1 s
-- timeout).  What is left is one piece read slower still.  The bytes
-- sent, or nil, err.
function Reader:send(data)
  if type(data) == "table" then data = table.concat(data) end
  for at = 1, #data, SEND_PIECE do
    local ok, err = self:arm()
    if not ok then return nil, err end
    ok, err = self.sock:send(#data <= SEND_PIECE and data or data:sub(at, at + SEND_PIECE - 1))
    if not ok then return nil, err end
  end
  return #data
end

--- How many bytes were read and not yet taken.
function Reader:left() return #self.data - self.at + 1 end

--- The bytes read and not yet taken, left where they are.
function Reader:unread() return self.data:sub(self.at) end

--- At most max of the bytes read and not yet taken, or when there are
-- none, what one read brings (at most max).
function Reader:some(max)
  if self:left() == 0 then return self:piece(max) end
  local s = self.data:sub(self.at, self.at + max - 1)
  self.at = self.at + #s
  return s
end

--- More bytes after those not yet taken; nil, err at the end of the
-- stream or on failure.
function Reader:fill()
  local data, err = self:piece(READ_CHUNK)
  if not data then return nil, err end
  self.data, self.at = self.data:sub(self.at) .. data, 1
  return true
end

--- The bytes read and not yet taken, all of them taken now.
function Reader:take_all()
  local s = self.data:sub(self.at)
  self.data, self.at = "", 1
  return s
end

--- One line without its line break (LF, or CRLF), and the bytes it took
-- with it; nil, err, or nil, "too large" past limit bytes, its line break
-- counted.
function Reader:line(limit)
  while true do
    local nl = self.data:find("\n", self.at, true)
    if nl then
      local used = nl - self.at + 1
      -- (a line already read whole counts as much as one still coming)
      if used > limit then return nil, "too large" end
      local last = nl - 1
      if last >= self.at and self.data:byte(last) == 13 then last = last - 1 end -- (a CR)
      local line = self.data:sub(self.at, last)
      self.at = nl + 1
      return line, used
    end
    if self:left() >= limit then return nil, "too large" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

--- Skips the bytes up to the next line feed and it, none of them kept:
-- true, or nil, err.  libcurl 7.88 skips a chunk size line's rest so
-- (lib/http_chunks.c, CHUNK_LF), however long, and counts none of it as
-- the body's: only the attempt's time bounds it (tried: it reads through
-- an extension of 50 MB under a max_response_bytes of 2000).
function Reader:skip_line()
  while true do
    local nl = self.data:find("\n", self.at, true)
    if nl then
      self.at = nl + 1
      return true
    end
    self:take_all()
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

--- Exactly n bytes: what is buffered, then from the socket, never reading
-- past them; or nil, err, the bytes that came before the failure.
function Reader:exact(n)
  if self:left() >= n then
    local s = self.data:sub(self.at, self.at + n - 1)
    self.at = self.at + n
    return s
  end
  local parts = { self:take_all() }
  local size = #parts[1]
  while size < n do
    local data, err = self:piece(math.min(n - size, READ_CHUNK))
    if not data then return nil, err, table.concat(parts) end
    parts[#parts + 1] = data
    size = size + #data
  end
  return table.concat(parts)
end

--- Everything up to the end of the stream, at most limit bytes.
function Reader:rest(limit)
  local parts = { self:take_all() }
  local size = #parts[1]
  while size <= limit do
    local data, err = self:piece(READ_CHUNK)
    if not data then
      if err == "closed" then return table.concat(parts) end
      return nil, err
    end
    parts[#parts + 1] = data
    size = size + #data
  end
  return nil, "too large"
end

local HTTP_PREFIX = "HTTP/1."

--- Whether the first bytes of an answer can still be HTTP/1.x.
local function may_be_http(buf)
  local n = math.min(#buf, #HTTP_PREFIX)
  return buf:sub(1, n) == HTTP_PREFIX:sub(1, n)
end

--- Fails a head that could not be read: too large, or the socket's error.
local function head_failure(err, what)
  if err == "too large" then return nil, "RESPONSE_TOO_LARGE", HEAD_TOO_LARGE end
  return nil, kind_of(err), "reading the answer's " .. what .. ": " .. err
end

--- The body's length from Content-Length: n, or nil, message when it is
-- not a number (a list of one repeated number counts as that number, as
-- RFC 9110 8.6 allows).  A length of more than 15 digits, past what a
-- double holds exactly, is math.huge: over any limit, as libcurl takes it.
local function content_length(value)
  local n
  for item in (value .. ","):gmatch("([^,]*),") do
    -- leading zeros say nothing, and take none of the 15 digits
    local digits = item:match("^[ \t]*0*(%d+)[ \t]*$")
    if not digits or (n and digits ~= n) then
      return nil, "bad Content-Length in the answer: " .. value
    end
    n = digits
  end
  return #n <= 15 and (tonumber(n) or 0) or math.huge, n
end

--- A field line's name, in lower case, and its value, trimmed; nil when
-- the line is no "name: value", its name a token (RFC 9110 5.1): libcurl
-- reads "Content-Length : 5" as some other field, so a reader that took it
-- for the length would frame the body otherwise.
local function header_line(line)
  local name, value = line:match("^([0-9A-Za-z!#$%%&'*+%-.^_`|~]+):(.*)$")
  if name then return lower(name), trim(value) end
end
M.header_line = header_line

-- The fields the client reads as one value: of a repeated one, the last
-- line counts, as libcurl's transport keeps it (src/head.c).
local SINGLE = { date = true, ["retry-after"] = true, ["x-request-id"] = true }

-- The statuses whose answers have no body, whatever their heads say, as
-- libcurl reads them (RFC 9112 6.3).
local BODYLESS = { [204] = true, [304] = true }
for code = 100, 199 do BODYLESS[code] = true end

--- The Content-Length lines of a head, or of its trailers, each taken as
-- it comes, as libcurl and src/head.c take them: lengths:add(value) is
-- true, or nil, kind, message; lengths.length is the length so far (nil:
-- none).  A line that is no number, or lists or follows another number,
-- is PROTOCOL.  But libcurl itself refuses a line whose first number
-- is past a 64-bit length (its sign aside), in an answer that may have a
-- body, before anything reads on: too large.  (One that fits and is over
-- the limit fails once the head is whole, and not at all beside chunks.)
local Lengths = {}
Lengths.__index = Lengths

-- The most digits of a length, leading zeros aside, that libcurl's
-- transport keeps to tell it from another line's (CAB_HEAD_LENGTH_DIGITS,
-- src/head.h): two longer ones on different lines are taken as different
-- here too.
local LENGTH_DIGITS = 40

local function new_lengths(bodied, limit)
  return setmetatable({ bodied = bodied, limit = limit }, Lengths)
end

function Lengths:add(value)
  local first = self.bodied and value:match("^[ \t]*%+?0*(%d+)")
  if first and (#first > 19 or #first == 19 and first > "9223372036854775807") then
    return nil, "RESPONSE_TOO_LARGE", too_large(self.limit)
  end
  local length, digits = content_length(self.digits and self.digits .. ", " .. value or value)
  if not length then return nil, "PROTOCOL", digits end
  if self.digits and #digits > LENGTH_DIGITS then
    return nil, "PROTOCOL", ("two Content-Lengths of more than %d digits in the answer, taken as different: %s")
      :format(LENGTH_DIGITS, value)
  end
  self.length, self.digits = length, digits
  return true
end

--- The field lines of a head or of trailers (what: "header" or
-- "trailer"), up to the empty line, in budget bytes: each field's values
-- in a list (lower-case names), the budget left, and whether the
-- connection ended them (trailers only, below); nil, kind, message on
-- failure.  Each line must be a field or an obsolete folded line that
-- continues one (RFC 9112 5.2: replaced by a space), as libcurl's header
-- store and transport (src/head.c) require; each Content-Length goes to
-- lengths as it comes.  libcurl reads trailers its own way: it ends one at
-- any CR, counts each as if it ended in CRLF, and counts no blank line;
-- and the message is whole at the blank line's CR, so a close before its
-- LF ends it.
local function read_fields(r, budget, what, lengths)
  -- Each field's values in a list, joined once at the end: joining as
  -- they come would copy a long field again for each of its lines.
  local values, last, trailer = {}, nil, what == "trailer"
  local function bad_trailer()
    return nil, "PROTOCOL", ("a trailer line of the answer holds a CR or is longer than %d bytes")
      :format(MAX_TRAILER_LINE_BYTES)
  end
  while true do
    -- (a trailer line is refused past its own limit as it comes, before it
    -- counts towards the trailers' budget, as libcurl refuses it)
    local line, used = r:line(trailer and MAX_TRAILER_LINE_BYTES + 2 or budget)
    if not line and trailer and used == "too large" then return bad_trailer() end
    if not line and trailer and used == "closed" then
      if r:unread() == "\r" then return values, budget, true end
      -- (libcurl refuses a CR followed by anything but a LF as it comes)
      if r:unread():find("\r[^\n]") then return nil, "PROTOCOL", "a CR in the answer's trailers without its LF" end
    end
    if not line then return head_failure(used, what .. "s") end
    if line == "" then return values, budget - (trailer and 0 or used) end
    budget = budget - (trailer and #line + 2 or used)
    if budget < 0 then return head_failure("too large") end
    if trailer and (#line > MAX_TRAILER_LINE_BYTES or line:find("\r", 1, true)) then return bad_trailer() end
    -- A NUL would cut the line short for many a reader: the answer
    -- cannot be trusted (libcurl refuses it too).
    if line:find("\0", 1, true) then
      return nil, "PROTOCOL", "a NUL byte in a " .. what .. " line of the answer: " .. line
    end
    local name, value
    if line:find("^[ \t]") then
      name = last
      local list, more = values[name], trim(line)
      -- (libcurl frames the body by the first line of each alone)
      if name == "content-length" and more ~= "" then
        return nil, "PROTOCOL", "bad Content-Length in the answer: continued on a folded line"
      elseif name == "transfer-encoding" and not trailer and more ~= "" then
        return nil, "PROTOCOL", "bad Transfer-Encoding in the answer: continued on a folded line"
      elseif list and more ~= "" then
        list[#list] = list[#list] == "" and more or list[#list] .. " " .. more
      end
    else
      name, value = header_line(line)
      if name then
        values[name] = values[name] or {}
        table.insert(values[name], value)
        last = name
        if name == "content-length" then
          local ok, kind, msg = lengths:add(value)
          if not ok then return nil, kind, msg end
        end
      end
    end
    if not name then return nil, "PROTOCOL", "bad " .. what .. " line in the answer: " .. line end
  end
end

--- The body's length by a head's Content-Length lines (a list, or nil)
-- in an answer of status whose body may take limit bytes: true, and the
-- length (nil: none); or nil, kind, message.  The resty.http adapter
-- checks its heads with it.
function M.head_length(lines, status, limit)
  local lengths = new_lengths(not BODYLESS[status], limit)
  for _, value in ipairs(lines or {}) do
    local ok, kind, msg = lengths:add(value)
    if not ok then return nil, kind, msg end
  end
  return true, lengths.length
end

--- Reads the first bytes of the next status line through r until they
-- tell whether it can be HTTP/1.x: true, or nil, kind, message.  A server
-- that greets with "SSH-2.0-…" (or writes "xyz" after a 100 Continue) and
-- hangs up is no connection cut short, nor one that holds it a timeout:
-- libcurl judges each status line's bytes as they come, and refuses them
-- at once.  The resty.http adapter checks with it too.  The message
-- quotes the answer's first line only when it came whole, its line end
-- too: a read ends where a TCP segment did, and what came of a line may
-- end with the start of a secret the server echoed, too short for the
-- redaction to read as one.
local function await_status_line(r)
  while r:left() < #HTTP_PREFIX and may_be_http(r:unread()) do
    local filled, err = r:fill()
    -- (said as the read said it, a reset say; after a failed read nginx
    -- has closed the socket, which no read may try again)
    if not filled then return head_failure(err, "status line") end
  end
  if not may_be_http(r:unread()) then
    local line = r:unread():match("^[^\n]*\n")
    return nil, "PROTOCOL",
      "the answer is not HTTP/1.x: " .. (line or "(its first line did not come whole in the first read: not quoted)")
  end
  return true
end
M.await_status_line = await_status_line

--- A status line's HTTP/1.x minor version ("0" or "1") and its status;
-- nil, message when it is no such line.  HTTP/1.0 or 1.1 only: libcurl
-- refuses another 1.x ("Unsupported HTTP version"), whose framing rules
-- nobody knows; and a status of three digits, then a space or the line's
-- end.  The resty.http adapter checks its status lines with it too.
local function status_line(line)
  local minor, status, rest = line:match("^HTTP/1%.([01]) (%d%d%d)(.*)$")
  status = tonumber(status)
  if not status or status < 100 or (rest ~= "" and rest:sub(1, 1) ~= " ") or line:find("\0", 1, true) then
    return nil, "bad status line in the answer: " .. line
  end
  return minor, status
end
M.status_line = status_line

--- Whether the server closes the connection after its answer: its
-- Connection field (nil when none; repeated lines joined) says close, or
-- the answer is HTTP/1.0 (minor "0") without keep-alive.  The resty.http
-- adapter decides so too, rather than as resty.http does.
local function closes(connection, minor)
  local conn = lower(connection or "")
  return conn:find("close", 1, true) ~= nil or (minor == "0" and not conn:find("keep-alive", 1, true))
end
M.closes = closes

--- The status, headers (lower-case names; repeated ones joined with
-- ", ", but SINGLE's), the status line's minor version ("0" or "1"), and
-- the body's length from Content-Length (nil without one), skipping 1xx
-- interim answers (but
-- 101); limit: the most the body may take.  nil, kind, message on
-- failure.
local function read_head(r, limit)
  -- Every head counts, interim ones too, line breaks included, as libcurl
  -- counts them: 80 KB of short lines is as large as one long one.
  local budget = MAX_HEADER_BYTES
  while true do
    local ok, kind, msg = await_status_line(r)
    if not ok then return nil, kind, msg end
    local line, used = r:line(budget)
    if not line then return head_failure(used, "status line") end
    budget = budget - used
    local minor, status = status_line(line)
    if not minor then return nil, "PROTOCOL", status end
    local lengths = new_lengths(not BODYLESS[status], limit)
    local values, why
    values, budget, why = read_fields(r, budget, "header", lengths)
    if not values then return nil, budget, why end
    local length = lengths.length
    -- The 1xx are interim answers, the real one still to come; but 101
    -- switches to another protocol, which this client never asks for: it
    -- is the answer, as libcurl takes it (an HTTP failure).
    if status >= 200 or status == 101 then
      local headers = {}
      for name, list in pairs(values) do
        headers[name] = SINGLE[name] and list[#list] or table.concat(list, ", ")
      end
      return status, headers, minor, length
    end
  end
end

--- Whether the answer's Transfer-Encoding (nil when it has none) frames
-- its body in chunks: true; false when it names no coding at all (an
-- empty list, after which libcurl reads the body until the connection
-- closes, whatever Content-Length says); nil, message when it names any
-- other coding, or chunked twice.  libcurl refuses codings it does not
-- know; one it could undo (gzip, say) cosockets cannot, and this client
-- never offers one (it sends no TE header, where a client offers any
-- coding besides chunked: RFC 9112 7.4).  Names are matched whole
-- (xchunked is no chunked), in any case, with the list's optional spaces
-- around commas.
local function chunked_coding(value)
  if not value then return false end
  local codings = {}
  for item in (value .. ","):gmatch("([^,]*),") do
    item = trim(item)
    if item ~= "" then codings[#codings + 1] = lower(item) end
  end
  if #codings == 0 then return false end
  if #codings == 1 and codings[1] == "chunked" then return true end
  return nil, "the answer's Transfer-Encoding is not chunked alone, the only transfer coding this "
    .. "client reads: " .. value
end
M.chunked_coding = chunked_coding

--- A chunked body, at most limit bytes.  length is the head's
-- Content-Length (checked; nil without one), which the trailers' must
-- agree with.  The body, and whether the connection ended the message.
local function read_chunked(r, limit, length)
  local parts, size = {}, 0
  while true do
    local line, err = r:line(1024)
    if err == "too large" then
      -- (the size's digits come first: past them, libcurl skips any number
      -- of bytes up to the line feed, none of them the body's)
      line = r:unread():match("^%x*")
      if #line >= 1024 then return nil, "PROTOCOL", "a chunk size line is too long" end
      local ok
      ok, err = r:skip_line()
      if not ok then line = nil end
    end
    if not line then return nil, kind_of(err), "the answer was cut short: " .. err end
    -- Hex digits, then optionally chunk extensions after a ";".  At most
    -- 16 digits, leading zeros counted, below 8000000000000000: what
    -- libcurl reads into its signed 64-bit curl_off_t (CHUNK_MAXNUM_LEN);
    -- it refuses a longer or larger size as framing it cannot read.  (A
    -- size past what a double holds exactly is over any limit.)
    -- libcurl (lib/http_chunks.c) reads the hex digits and skips whatever
    -- follows them up to the line feed, extensions or not: so does this.
    local hex = line:match("^(%x*)")
    local n = hex ~= "" and (#hex < 16 or #hex == 16 and hex:find("^[0-7]")) and tonumber(hex, 16)
    if not n then return nil, "PROTOCOL", "bad chunk size line in the answer: " .. line end
    if n == 0 then break end
    if size + n > limit then
      -- Counted as the bytes come, as libcurl and resty.http count them: a
      -- size that only announces more than the limit is no answer over it
      -- until the byte past the limit has come (a server that stalls after
      -- it is TIMEOUT there, so here too).
      local left = limit - size + 1
      while left > 0 do
        local piece = math.min(left, 65536)
        local _, cut = r:exact(piece)
        if cut then return nil, kind_of(cut), "the answer was cut short: " .. cut end
        left = left - piece
      end
      return nil, "RESPONSE_TOO_LARGE", too_large(limit)
    end
    size = size + n
    local data
    data, err = r:exact(n)
    if not data then return nil, kind_of(err), "the answer was cut short: " .. err end
    parts[#parts + 1] = data
    -- The data's line end, as libcurl reads it (lib/http_chunks.c): any
    -- number of CRs, then an LF; any other byte is bad framing.
    repeat
      data, err = r:exact(1)
      if not data then return nil, kind_of(err), "the answer was cut short: " .. err end
      if data ~= "\r" and data ~= "\n" then return nil, "PROTOCOL", "bad chunk framing in the answer" end
    until data == "\n"
  end
  -- Trailers, if any, up to the empty line that ends the message: at most
  -- MAX_HEADER_BYTES of them together, as for the head.  A Content-Length
  -- here is checked beside the head's, as libcurl's transport checks every
  -- line of trailers too.
  local lengths = new_lengths(false, limit)
  if length then lengths:add(length) end
  local trailers, left, closed = read_fields(r, MAX_HEADER_BYTES, "trailer", lengths)
  if not trailers then return nil, left, closed end -- (nil, kind, message)
  return table.concat(parts), closed
end
M.read_chunked = read_chunked

--- The body of an answer whose head was read (length: its Content-Length,
-- read_head's): body, until_close (the body ended with the connection, or
-- the connection is not to be used again), or nil, kind, message.
local function read_body(r, req, status, headers, length, limit)
  -- These have no body whatever their headers say (RFC 9112 6.3), so none
  -- is waited for; one sent all the same would be read as the next
  -- answer, so their connection is not used again.  After a 101 comes
  -- another protocol.
  if status == 101 or status == 204 or status == 304 or req.method == "HEAD" then return "", true end
  -- Chunks frame the body whatever Content-Length says (RFC 9112 6.3), as
  -- libcurl takes it; the length was checked all the same (read_head).
  local chunked, why = chunked_coding(headers["transfer-encoding"])
  if chunked == nil then return nil, "PROTOCOL", why end
  if chunked then return read_chunked(r, limit, headers["content-length"]) end
  -- A Transfer-Encoding that names no coding (an empty value, or only
  -- commas) still overrides Content-Length for libcurl, which then reads
  -- the body until the connection closes (RFC 9112 6.3): so does this.
  if headers["transfer-encoding"] ~= nil then length = nil end
  if length then
    if length > limit then return nil, "RESPONSE_TOO_LARGE", too_large(limit) end
    if length == 0 then return "" end
    local body, err = r:exact(length)
    if not body then
      return nil, kind_of(err), ("the answer was cut short (%d bytes announced): %s"):format(length, err)
    end
    return body
  end
  -- No length: the body ends with the connection.
  local body, err = r:rest(limit)
  if body then return body, true end
  if err == "too large" then return nil, "RESPONSE_TOO_LARGE", too_large(limit) end
  return nil, kind_of(err), "reading the answer: " .. err
end

-- Sending one request -------------------------------------------------------

--- The request as the pieces of one send() call.  req is exchange.build's:
-- its headers name the Host, and the body's length is added here.
local function request_bytes(req, u)
  local parts = { req.method, " ", u.path, " HTTP/1.1\r\n" }
  local body = req.body or ""
  for name, value in pairs(req.headers) do
    name, value = tostring(name), tostring(value)
    -- Values are checked when a client is made; a header split here
    -- would be a request smuggled by whoever chose the value.
    if name:find("[%c%s:]") or value:find("[\r\n%z]") then
      return nil, "header " .. name .. " holds a control character"
    end
    parts[#parts + 1] = name
    parts[#parts + 1] = ": "
    parts[#parts + 1] = value
    parts[#parts + 1] = "\r\n"
  end
  parts[#parts + 1] = "Accept-Encoding: " .. M.ACCEPT_ENCODING .. "\r\n"
  parts[#parts + 1] = "Content-Length: " .. #body .. "\r\n"
  parts[#parts + 1] = "\r\n"
  parts[#parts + 1] = body
  return parts
end

--- try(host) for u's host, and once more for u.fallback (localhost's
-- ::1) when u has one and the host refused the connection: a server may
-- listen on ::1 alone, where libcurl reaches it too.  A refusal sent
-- nothing, so even a request that must go at most once may try again.
-- try returns true, or nil, err.  Returns true, or nil, err and the
-- addresses tried ("127.0.0.1:80, then [::1]:80").  The resty.http
-- adapter connects through it too.
function M.connect_to(u, try)
  local ok, err = try(u.host)
  local tried = ("%s:%d"):format(u.host, u.port)
  if ok or not (u.fallback and err == "connection refused") then return ok, err, tried end
  ok, err = try(u.fallback)
  return ok, err, ("%s, then %s:%d"):format(tried, u.fallback, u.port)
end

--- Why an https handshake that verified the server's chain (tls_verify
-- on) does not verify u's host, or nil when it did.  ngx_lua checks a
-- certificate only against the name it sends as the server name, and
-- only as a DNS name; an IP address endpoint sends none (RFC 6066 3), so
-- its chain alone was checked, and it fails closed here, as README says
-- it does.  The resty.http adapter checks it too.
function M.unchecked_name(cfg, u)
  if u.scheme ~= "https" or u.name or cfg.tls_verify == false then return nil end
  return "TLS handshake with " .. u.host .. ": nginx cannot check a certificate against an IP address "
    .. "(ngx_lua checks DNS names only): name the host in the endpoint, or set tls_verify = false"
end

--- The failure of a handshake ngx_lua 0.10.23 reported done though its
-- check failed (seen when the server resumes a session): it closed the
-- connection and logged why, and the socket then says it was never used
-- (getreusedtimes gives nil).  The resty.http adapter says it too.
function M.closed_handshake(u)
  return "TLS handshake with " .. (u.name or u.host) .. " failed: nginx closed the connection (its error "
    .. "log says why, e.g. a certificate that does not match the host name, or a chain it does not trust)"
end

--- Connects through link.pool (a pooled connection, or a fresh one) and,
-- for https, shakes hands.  Returns sock, or nil, kind, message, not_sent
-- (true: the request never left, since no connection was made).
local function connect(cfg, u, link, deadline, connect_ms)
  local sock
  local connect_by = now() + connect_ms / 1000
  local ok, err, tried = M.connect_to(u, function(host)
    -- (a cosocket whose connect failed is closed: a fresh one for each try)
    sock = ngx.socket.tcp()
    local left = M.left_ms(deadline) or 1
    sock:settimeouts(M.connect_wait_ms(connect_by, left), left, left)
    return sock:connect(host, u.port, { pool = link.pool })
  end)
  if not ok then
    return nil, kind_of(err), ("cannot connect to %s: %s"):format(tried, err), true
  end
  if u.scheme == "https" and sock:getreusedtimes() == 0 then
    -- A pooled connection has shaken hands already.  The handshake is
    -- timed by the connect timeout, re-armed to what connecting left of
    -- it and of the attempt.
    local left, peer = M.left_ms(deadline), u.name or u.host
    if not (left and M.left_ms(connect_by)) then
      sock:close()
      return nil, "TIMEOUT", "TLS handshake with " .. peer .. ": timeout", true
    end
    sock:settimeouts(M.connect_wait_ms(connect_by, left), left, left)
    -- false: no session object is wanted back.
    ok, err = sock:sslhandshake(false, u.name, cfg.tls_verify ~= false)
    if not ok then
      sock:close()
      if err == "timeout" then return nil, "TIMEOUT", "TLS handshake with " .. peer .. ": timeout", true end
      return nil, "TLS", "TLS handshake with " .. peer .. " failed: " .. tostring(err), true
    end
    if not sock:getreusedtimes() then return nil, "TLS", M.closed_handshake(u), true end
    local why = M.unchecked_name(cfg, u)
    if why then
      sock:close()
      return nil, "TLS", why, true
    end
  end
  return sock
end

--- One attempt over one connection.  Returns response, or nil, kind,
-- message, not_sent, stale (stale: a pooled connection died before any
-- byte of an answer came, so the server most likely closed it while idle).
local function exchange_once(link, cfg, req, u, deadline, connect_ms)
  local sock, kind, msg, not_sent = connect(cfg, u, link, deadline, connect_ms)
  if not sock then return nil, kind, msg, not_sent end
  -- A connection made (or shaken hands on) past the attempt's end sends
  -- nothing, as libcurl's transport looks at the time before each pass
  -- that may send (src/multi.c, expire_unsent): the grace a wait gets
  -- (wait_ms) is for reading what came, and would let a run go out that
  -- its attempt then calls a TIMEOUT that may have started it.
  if not M.left_ms(deadline) then
    sock:close()
    return nil, "TIMEOUT", "the attempt's time ran out before its request was sent", true
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  local bytes, why = request_bytes(req, u)
  if not bytes then
    sock:close()
    return nil, "INTERNAL", why, true
  end
  local r = new_reader(sock, deadline, connect_ms)
  -- A server may answer before it has read the whole request (a refusal
  -- on its head alone, say) and close, so that the send fails with the
  -- answer already in the socket.  libcurl reads while it sends and takes
  -- that answer; so does this, reading what came after a failed send.
  -- Only when no byte of an answer came is the send's failure the
  -- attempt's (and a pooled connection's stale, as when a read fails).
  local _, send_err = r:send(bytes)
  local status, headers, minor, length = read_head(r, cfg.max_response_bytes)
  if not status then
    sock:close()
    if send_err and not r.got_any then
      return nil, kind_of(send_err), "sending the request: " .. send_err, false, reused and send_err ~= "timeout"
    end
    local stale = reused and not r.got_any and headers ~= "TIMEOUT"
    return nil, headers, minor, false, stale
  end
  local body, until_close
  body, until_close, msg = read_body(r, req, status, headers, length, cfg.max_response_bytes)
  if not body then
    sock:close()
    return nil, until_close, msg, false
  end
  -- (a 101 is the answer, and no body follows it: HTTP 101, as libcurl)
  msg = status ~= 101 and M.coded(headers["content-encoding"])
  if msg then
    sock:close()
    return nil, "PROTOCOL", msg, false
  end

  -- (setkeepalive refuses a socket whose own buffer holds bytes past the
  -- answer, "unread data in buffer", and leaves it open: closed here)
  if not link.keep or send_err or until_close or r:left() > 0 or closes(headers.connection, minor)
      or not sock:setkeepalive(link.keepalive_ms, link.pool_size) then
    sock:close()
  end
  return {
    status = status, body = body, request_id = headers["x-request-id"], date = headers.date,
    retry_after = headers["retry-after"],
  }
end

--- once(link, ...), an attempt over one connection (response, or nil,
-- kind, message, not_sent, stale), made once more when it failed stale
-- and link.resend gives a link for that: a kept-alive connection the
-- server had closed (RFC 9112 9.5 lets it close an idle one at any time)
-- is no failure of a request that may go twice, which goes again through
-- link.resend, a pool that holds no connection (ngx.lua's FRESH_POOL), so
-- on a new one: taken from the same pool, it would find the next kept
-- connection, which such a server closes too.  As libcurl's transport
-- does (src/multi.c), and no attempt of the policy's.  response (its
-- resent true after such a resend: transport/curl.lua), or nil, kind,
-- message, not_sent.  The resty.http adapter sends through it too.
function M.resending(link, once, ...)
  if link.keep then
    -- The worker's event loop turns once before a pooled connection is
    -- taken: ngx_lua's pool closes one that bytes came on while it was
    -- idle (an answer no request asked for) only when its loop sees them,
    -- and a call's batches follow one another without a turn, so the next
    -- request would take those bytes for its answer.  The pool cannot be
    -- asked without a wait (libcurl peeks at the socket): 1 ms is the
    -- shortest that logs nothing (ngx.sleep(0) warns at every call).
    ngx.sleep(0.001)
  end
  local res, kind, msg, not_sent, stale = once(link, ...)
  if not res and stale and link.resend then
    res, kind, msg = once(link.resend, ...)
    -- (whatever the new connection did, the request went out on the kept
    -- one, which the server may have read before it closed it)
    not_sent = false
    if res then res.resent = true end
  end
  if res then return res end
  return nil, kind, msg, not_sent
end

function M.send(cfg, req, u, link, deadline)
  return M.resending(link, exchange_once, cfg, req, u, deadline, config.ms(cfg.connect_timeout))
end

return M
