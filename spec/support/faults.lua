-- The fault table: each fault a server can play, written once, with the one
-- outcome every transport must give for it (README: Retries).
-- spec/faults_spec.lua runs it against libcurl in plain Lua, cosockets in a
-- real nginx (spec/nginx/app.lua) and Neovim's loop in a real headless nvim
-- (spec/nvim/fault.lua); all three run the rows through M.run.
--
-- A row:
--   name      the fault, in words
--   op        "query" (ShowBatchRunResult, idempotent) or "run"
--             (BatchRunPipeline, sent at most once)
--   standin   the stand-in's config for it (spec/standin/server.lua's fault
--             modes), set after a reset
--   one_per_conn  (optional) true: the stand-in answers only the first
--             request on each connection, and closes it at any later one
--             without an answer (spec/standin/server.lua's one_per_conn)
--   endpoint  "dead" for a port where nothing listens (default: the stand-in)
--   before    "query": the client first makes one query, which succeeds and
--             leaves its connection alive, then the row's call
--   stale     (optional) true: the row's call waits, after that query, until
--             the stand-in says it has written its stale answer (its
--             stats' stale_written), so that the bytes are there before the
--             call; a pause of a fixed time was too short on a loaded machine
--   options   client options over M.CLIENT
--   first     (optional) the row's call gives only the first this many
--             items (the "before" query gives them all)
--   expect    { code, status, retryable, attempts } of the error; and every
--             item is accounted for: #err.results + #err.results.missing +
--             #err.unanswered == the distinct items given; unsent, when
--             given, is #err.unsent (0: none provably never reached the
--             service), which every failing run row gives: a pipeline
--             called unsent is started again by whoever trusts it.  Or
--             { ok = true }:
--             the call succeeds, with an answer for every item, none of
--             them the stand-in's STALE
--   saw       (optional) what the stand-in's stats must hold afterwards
--             (a subset: the keys given, nested tables too)
--   saw_libcurl  (optional) what they must hold instead under libcurl
--             (plain Lua and Neovim), where it differs by libcurl's own
--             doing
--   hidden    (optional) a secret the answer quotes: the error's message
--             shows no 5 bytes of it, its start included
--   resty     false: not run through lua-resty-http's interface, where
--             the outcome differs (a comment on the row says how)
-- expect may also hold says (words err.message must hold, in any case),
-- request_id (err.request_id; false: none), retry_after (err.retry_after;
-- false: none) and waits:
-- a character for each attempt the logger saw, "0" when it was retried at
-- once, "+" after a wait, "." when it was not retried.
--
-- Loaded by busted, inside nginx and inside Neovim: it needs only the
-- library and the stand-in's model.
local model = require "spec.standin.model"

local M = {}

-- Short timeouts and waits, so that the whole table runs in seconds; two
-- retries, so that "retried" shows as three attempts.
M.CLIENT = { max_retries = 2, timeout = 0.5, connect_timeout = 0.5, max_retry_wait = 0.05 }

-- Answers that begin as HTTP and then break its framing, for banner_first.
local BAD_CHUNK = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Transfer-Encoding: chunked\r\n\r\nzz\r\n{\"result\":[]}\r\n0\r\n\r\n"
-- Answers whose body is coded.  No transport asks for a coding or undoes
-- one (libcurl's decoders took a gzip cut short, or without its checksum,
-- for a whole one): each is PROTOCOL, whole or not.  A body that says it
-- is gzip and is not; then the gzip of {"result":[]} (in hex, as the
-- stand-in takes bytes that are not text) whole, cut short (Content-Length
-- the bytes sent), without its 8-byte trailer, and with junk after it.
local NOT_GZIP = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Encoding: gzip\r\nContent-Length: 15\r\n\r\nnot gzip at all"
local GZIP = "1f8b0800000000000203ab562a4a2d2ecd2951b28a8ead05000e6627a30d000000"
local function hex(text) return (text:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function gzip_answer(body)
  return hex(("HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
    .. "Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"):format(#body / 2)) .. body
end
-- And gzip before chunks, a transfer coding (RFC 9112 7): chunked is the
-- one every transport reads.
local GZIP_CHUNKED = hex(("HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Transfer-Encoding: gzip, chunked\r\n\r\n%x\r\n"):format(#GZIP / 2)) .. GZIP .. hex("\r\n0\r\n\r\n")
-- A 200 whose body is an error, not results: its request_id counts as
-- an X-Request-Id would.
local OK_ERROR = '{"error_code":"DEV.00000001","error_msg":"m","request_id":"in-the-body"}'
local OK_ERROR_BODY = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: "
  .. #OK_ERROR .. "\r\n\r\n" .. OK_ERROR
local BAD_LENGTH = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Length: twelve\r\n\r\n{\"result\":[]}"
-- Lengths that begin with digits and are no number: libcurl itself reads
-- their first digits.
local function length_of(value)
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
    .. "Content-Length: " .. value .. "\r\n\r\n{\"result\":[]}"
end

-- Answers whose framing cannot be trusted, or whose head is larger than
-- every transport allows (64 KiB, core.limits.max_header_bytes): many
-- header lines, and one line longer than libcurl's own 100 KB per line.
local TWO_LENGTHS = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Length: 13\r\nContent-Length: 18\r\n\r\n{\"result\":[]}"
local function with_head(lines)
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n" .. lines
    .. "Content-Length: 13\r\n\r\n{\"result\":[]}"
end
local MANY_HEADERS = with_head(("X-Padding: " .. ("p"):rep(87) .. "\r\n"):rep(700))
local LONG_HEADER = with_head("X-Padding: " .. ("p"):rep(120000) .. "\r\n")
-- A status line of 120 KB, alone and after a 100 Continue.
local LONG_STATUS = "HTTP/1.1 200 " .. ("O"):rep(120000) .. "\r\nContent-Length: 13\r\n\r\n{\"result\":[]}"
-- One Content-Length header that lists two lengths (RFC 9110 8.6).
local LISTED_LENGTHS = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Length: 13, 18\r\n\r\n{\"result\":[]}"
-- An SSH greeting that quotes the client's SK from its 54th byte: a
-- transport that cut its quote short of the SK's end before the
-- redaction would show the SK's start.
local SK = model.credentials.permanent.sk
local BANNER_WITH_SK = "SSH-2.0-" .. ("0"):rep(45) .. SK .. "\r\n"
-- A status line and half a header, then the connection closes.
local CUT_HEAD = "HTTP/1.1 200 OK\r\nContent-Ty"

-- A 503 with the API's error body (framed as body says, when given), the
-- head's lines given (Content-Length among them, or Transfer-Encoding),
-- and what comes before it.
local BUSY = '{"error_code":"DEVPIPE.00000503","error_msg":"busy"}'
local function busy(lines, body, before)
  return (before or "") .. "HTTP/1.1 503 Service Unavailable\r\n"
    .. "Content-Type: application/json;charset=UTF-8\r\n" .. lines .. "\r\n" .. (body or BUSY)
end
local function busy_length(value) return busy("Content-Length: " .. value .. "\r\n") end
-- Interim answers, each skipped, before the real one.
local INTERIM = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
  .. "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
-- 101 switches to a protocol the client never asked for: that is the
-- answer (libcurl's HTTP failure), not an interim one.
local SWITCHED = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
local SWITCH = SWITCHED .. "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"result\":[]}"
-- A head of 16,000 short lines: 48,000 bytes without their line breaks,
-- 80,000 with them.
local SHORT_LINES = with_head(("a:b\r\n"):rep(16000))
-- No body, whatever Content-Length says (RFC 9112 6.3): none is waited for.
local NOT_MODIFIED = "HTTP/1.1 304 Not Modified\r\nContent-Length: 13\r\n\r\n"
local NO_CONTENT = "HTTP/1.1 204 No Content\r\nContent-Length: 13\r\n\r\n{\"result\":[]}"
-- The gateway's refusal of a credential, for early_first.
local REFUSED = '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: AK access failed"}'
local REFUSED_EARLY = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Length: " .. #REFUSED .. "\r\n\r\n" .. REFUSED

local RETRIED, NOT_RETRIED = 3, 1

-- Heads whose fields a transport could read more than one way.  Each
-- keeps the last line of a repeated field, unfolds a folded one, reads no
-- trailer's, and takes an empty one, or one longer than libcurl's
-- transport keeps (127 bytes for a request id, 63 for the others), as
-- none.  busy_head: a 503 with these lines in its head.
local function busy_head(lines) return busy(lines .. "Content-Length: " .. #BUSY .. "\r\n") end
-- The gateway's throttling, asking for an hour.
local THROTTLED = '{"error_code":"APIGW.0308","error_msg":"throttled"}'
-- A 429 of the service's own, not the gateway's throttling.
local SLOWED = '{"error_code":"DEVPIPE.00000429","error_msg":"slow down"}'
local SLOW_DOWN = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Content-Length: " .. #SLOWED .. "\r\n\r\n" .. SLOWED
local THROTTLED_LONG = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json;charset=UTF-8\r\n"
  .. "Retry-After: 3600\r\nContent-Length: " .. #THROTTLED .. "\r\n\r\n" .. THROTTLED
local BUSY_WITH_TRAILER = busy("X-Request-Id: head\r\nTransfer-Encoding: chunked\r\n",
  ("%x\r\n%s\r\n0\r\nX-Request-Id: trailer\r\nRetry-After: 0\r\n\r\n"):format(#BUSY, BUSY))
-- A 401 APIGW.0303 (the signature expired) with these lines in its head:
-- the client learns the server's clock from its Date, and sends again.
local EXPIRED = '{"error_code":"APIGW.0303","error_msg":"Incorrect app authentication information: signature expired"}'
local function expired(lines)
  return "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json;charset=UTF-8\r\n" .. lines
    .. "Content-Length: " .. #EXPIRED .. "\r\n\r\n" .. EXPIRED
end
-- An HTTP date of os.time() + seconds, in English whatever the locale.
local function http_date(seconds)
  local t = os.date("!*t", os.time() + (seconds or 0))
  return ("%s, %02d %s %04d %02d:%02d:%02d GMT"):format(
    ({ "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" })[t.wday], t.day,
    ({ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" })[t.month],
    t.year, t.hour, t.min, t.sec)
end
local ID_127 = ("i"):rep(127)
-- A chunked 503 with these trailers.
local function busy_trailers(lines)
  return busy("Transfer-Encoding: chunked\r\n", ("%x\r\n%s\r\n0\r\n%s\r\n"):format(#BUSY, BUSY, lines))
end
-- A 503 whose head, status line to blank line, takes bytes in all.
local function busy_of_size(bytes)
  local bare = busy_head("X-Padding: \r\n")
  local head = #bare - #BUSY
  return busy_head("X-Padding: " .. ("p"):rep(bytes - head) .. "\r\n")
end
-- A chunked 503 with a trailer line of bytes, its CRLF aside.
local function trailer_of_size(bytes) return busy_trailers("X-T: " .. ("t"):rep(bytes - 5) .. "\r\n") end

M.rows = {
  { name = "an answer that is not HTTP (an SSH banner)", op = "query", standin = { banner_first = 3 },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer that is not HTTP (an SSH banner)", op = "run", standin = { banner_first = 3 },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "an answer that is not HTTP, quoting the SK", op = "query",
    standin = { banner_first = 3, banner = BANNER_WITH_SK }, hidden = SK,
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a chunked answer whose chunk size is not hex", op = "query",
    standin = { banner_first = 3, banner = BAD_CHUNK },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose Transfer-Encoding is not chunked (foo)", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\n{\"result\":[]}" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "an answer whose Transfer-Encoding only ends in chunked (xchunked)", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n"
      .. "d\r\n{\"result\":[]}\r\n0\r\n\r\n" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "an answer whose Transfer-Encoding names no coding: its body ends with the connection", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: 13\r\n\r\n"
      .. "{\"result\":[]}xyz" },
    expect = { code = "DECODE", status = 200, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- libcurl takes the message as whole at the CR of the blank line that
  -- ends the trailers: a close before its LF loses nothing
  { name = "a chunked 503 whose connection closes between the CR and the LF of its last line", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x\r\n%s\r\n0\r\n\r"):format(#BUSY, BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  -- A close after the last chunk, before the trailers end, is a body cut
  -- short, on every transport (libcurl cannot tell it from a close
  -- mid-chunk), a run's listed runs lost with it (README: Errors; review
  -- once44).
  { name = "a run's chunked 200 whose connection closes after its last chunk", op = "run",
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
      .. "Transfer-Encoding: chunked\r\n\r\nd\r\n{\"result\":[]}\r\n0\r\n" },
    expect = { code = "NETWORK", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "a chunked 503 whose last line's CR is followed by a byte other than LF, then a close", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x\r\n%s\r\n0\r\n\rX"):format(#BUSY, BUSY)) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- libcurl ends a chunk's data at an LF after any number of CRs
  { name = "a chunked 503 whose chunk's data ends with CR CR LF", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x\r\n%s\r\r\n0\r\n\r\n"):format(#BUSY, BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a chunked 503 whose chunk's data ends with a bare LF", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x\r\n%s\n0\r\n\r\n"):format(#BUSY, BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a chunked 503 whose chunk's data ends with CR then another byte", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x\r\n%s\rX\n0\r\n\r\n"):format(#BUSY, BUSY)) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a chunked answer whose Content-Length beside the chunks is not a number", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      .. "Content-Length: abc\r\n\r\nd\r\n{\"result\":[]}\r\n0\r\n\r\n" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "an answer whose Content-Length is not a number", op = "query",
    standin = { banner_first = 3, banner = BAD_LENGTH },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose Content-Length is digits and more (13abc)", op = "query",
    standin = { banner_first = 3, banner = length_of("13abc") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose Content-Length has a sign (+13)", op = "query",
    standin = { banner_first = 3, banner = length_of("+13") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer with two different Content-Lengths", op = "query",
    standin = { banner_first = 3, banner = TWO_LENGTHS },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose one Content-Length lists two different lengths", op = "query",
    standin = { banner_first = 3, banner = LISTED_LENGTHS },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 503 after interim answers (100, 102, 103)", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: " .. #BUSY .. "\r\n", nil, INTERIM) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a 101 Switching Protocols nobody asked for", op = "query", standin = { banner_first = 3, banner = SWITCH },
    expect = { code = "HTTP", status = 101, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 101 Switching Protocols nobody asked for, then the connection closes", op = "query",
    standin = { banner_first = 3, banner = SWITCHED },
    expect = { code = "HTTP", status = 101, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 101 Switching Protocols nobody asked for, the connection left open", op = "query",
    standin = { banner_first = 3, banner = SWITCHED, banner_hold_ms = 2000 },
    expect = { code = "HTTP", status = 101, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 101 Switching Protocols nobody asked for, saying Content-Encoding: gzip", op = "query",
    standin = { banner_first = 3, banner = SWITCHED:gsub("\r\n\r\n$", "\r\nContent-Encoding: gzip\r\n\r\n") },
    expect = { code = "HTTP", status = 101, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 101 Switching Protocols nobody asked for, then the connection closes", op = "run",
    standin = { banner_first = 3, banner = SWITCHED },
    expect = { code = "HTTP", status = 101, retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { requests = 1 } },
  { name = "a 503 with its Content-Length given twice, equal", op = "query",
    standin = { banner_first = 3, banner = busy(("Content-Length: %d\r\n"):rep(2):format(#BUSY, #BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a 503 whose one Content-Length lists the same length twice", op = "query",
    standin = { banner_first = 3, banner = busy_length(#BUSY .. ", " .. #BUSY) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  -- (an empty 503 with its length twice, as proxies write one)
  { name = "a 503 with no body and its Content-Length of 0 given twice", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: 0\r\nContent-Length: 00\r\n", "") },
    expect = { code = "HTTP", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a 503 whose Content-Length has 17 leading zeros", op = "query",
    standin = { banner_first = 3, banner = busy_length(("0"):rep(17) .. #BUSY) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a chunked 503 whose chunk size has 14 leading zeros", op = "query",
    standin = { banner_first = 3,
      banner = busy("Transfer-Encoding: chunked\r\n", ("%016x\r\n%s\r\n0\r\n\r\n"):format(#BUSY, BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "an answer whose Content-Length (10 digits) is over max_response_bytes", op = "query",
    standin = { banner_first = 3, banner = busy_length("9999999999") },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose Content-Length (25 digits) is over max_response_bytes", op = "query",
    standin = { banner_first = 3, banner = busy_length(("9"):rep(25)) },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 304 with a Content-Length and no body", op = "query",
    standin = { banner_first = 3, banner = NOT_MODIFIED },
    expect = { code = "HTTP", status = 304, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 204 with a Content-Length and a body", op = "query", standin = { banner_first = 3, banner = NO_CONTENT },
    expect = { code = "DECODE", status = 204, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose head of 16,000 short lines takes 80 KB with its line breaks", op = "query",
    standin = { banner_first = 3, banner = SHORT_LINES },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose headers take more than 64 KiB", op = "query",
    standin = { banner_first = 3, banner = MANY_HEADERS },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer with one header line of 120 KB", op = "query",
    standin = { banner_first = 3, banner = LONG_HEADER },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- (libcurl refuses the line unread: it read as our memory running out)
  { name = "an answer whose status line takes 120 KB", op = "query",
    standin = { banner_first = 3, banner = LONG_STATUS },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "an answer whose status line takes 120 KB after a 100 Continue", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 100 Continue\r\n\r\n" .. LONG_STATUS },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- libcurl judges every status line's first bytes as they come, the one
  -- after an interim answer too
  { name = "bytes that are not HTTP and no line's end, then a close", op = "query",
    standin = { banner_first = 3, banner = "xyz" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "bytes that are not HTTP and no line's end, the connection left open", op = "query",
    standin = { banner_first = 3, banner = "xyz", banner_hold_ms = 2000 },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 100 Continue, then bytes that are not HTTP, then a close", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 100 Continue\r\n\r\nxyz" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 100 Continue, then bytes that are not HTTP, the connection left open", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 100 Continue\r\n\r\nxyz", banner_hold_ms = 2000 },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- a gateway that refuses a request on its head: the answer is there
  -- however the connection ends, and a refused credential ends the call
  { name = "a 401 APIGW.0301 written on the request's head, the body left unread, then an RST", op = "query",
    standin = { early_first = 1, banner = REFUSED_EARLY },
    expect = { code = "APIGW.0301", status = 401, retryable = false, attempts = NOT_RETRIED },
    saw = { requests = 1, faults = { early_first = 1 } } },
  { name = "a 401 APIGW.0301 written on the request's head, the body left unread, then an RST", op = "run",
    standin = { early_first = 1, banner = REFUSED_EARLY },
    expect = { code = "APIGW.0301", status = 401, retryable = false, attempts = NOT_RETRIED, unsent = 6 },
    saw = { routes = { run = 1 }, faults = { early_first = 1 } } },
  -- libcurl skips a chunk size line's rest however long, and counts none of
  -- it as the body's
  { name = "a chunked 503 whose chunk size line has an extension of 100,000 bytes, over max_response_bytes",
    op = "query", options = { max_response_bytes = 2000 },
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n",
      ("%x;%s\r\n%s\r\n0\r\n\r\n"):format(#BUSY, ("e"):rep(100000), BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "the connection reset after the request was read, no answer", op = "query",
    standin = { reset_first = 3 },
    expect = { code = "NETWORK", retryable = true, attempts = RETRIED, says = "reset by peer" },
    saw = { requests = 3 } },
  { name = "the connection reset after the request was read, no answer", op = "run",
    standin = { reset_first = 3 },
    expect = { code = "NETWORK", retryable = false, attempts = NOT_RETRIED, says = "reset by peer", unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "the connection closed in the middle of the answer's headers", op = "query",
    standin = { banner_first = 3, banner = CUT_HEAD },
    expect = { code = "NETWORK", retryable = true, attempts = RETRIED }, saw = { requests = 3 } },
  { name = "the connection closed in the middle of the answer's headers", op = "run",
    standin = { banner_first = 3, banner = CUT_HEAD },
    expect = { code = "NETWORK", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "a body cut short (fewer bytes than Content-Length)", op = "query", standin = { truncate_first = 3 },
    expect = { code = "NETWORK", retryable = true, attempts = RETRIED }, saw = { requests = 3 } },
  { name = "a body cut short (fewer bytes than Content-Length)", op = "run", standin = { truncate_first = 3 },
    expect = { code = "NETWORK", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "a body that stalls past the timeout", op = "query",
    standin = { stall_body_first = 3, stall_ms = 1000 },
    expect = { code = "TIMEOUT", retryable = true, attempts = RETRIED }, saw = { requests = 3 } },
  { name = "a body that stalls past the timeout", op = "run", standin = { stall_body_first = 3, stall_ms = 1000 },
    expect = { code = "TIMEOUT", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  -- no byte of an answer within the timeout, the request read: the
  -- service may be starting the pipelines
  { name = "no answer within the timeout", op = "query", standin = { delay_ms = 1000 },
    expect = { code = "TIMEOUT", retryable = true, attempts = RETRIED }, saw = { requests = 3 } },
  { name = "no answer within the timeout", op = "run", standin = { delay_ms = 1000 },
    expect = { code = "TIMEOUT", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "503", op = "query", standin = { fail_first = 3 },
    expect = { code = "DEVPIPE.00000500", status = 503, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "503", op = "run", standin = { fail_first = 3 },
    expect = { code = "DEVPIPE.00000500", status = 503, retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  -- the server gave up waiting for the request (RFC 9110 15.5.9)
  { name = "408", op = "query", standin = { fail_first = 3, fail_first_status = 408 },
    expect = { code = "DEVPIPE.00000408", status = 408, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "408", op = "run", standin = { fail_first = 3, fail_first_status = 408 },
    expect = { code = "DEVPIPE.00000408", status = 408, retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  -- the gateway refused before the service: not even a run did anything
  { name = "429 APIGW.0308 (the gateway's throttling)", op = "query",
    standin = { fail_first = 3, fail_first_status = 429 },
    expect = { code = "APIGW.0308", status = 429, retryable = true, attempts = RETRIED, unsent = 6 },
    saw = { requests = 3 } },
  { name = "429 APIGW.0308 (the gateway's throttling)", op = "run",
    standin = { fail_first = 3, fail_first_status = 429 },
    expect = { code = "APIGW.0308", status = 429, retryable = true, attempts = RETRIED, unsent = 6 },
    saw = { routes = { run = 3 } } },
  -- a 429 with any other code may come from the service, which may have
  -- started the pipelines (README: Retries, "other 429")
  { name = "a 429 whose code is not APIGW.0308", op = "query", standin = { banner_first = 3, banner = SLOW_DOWN },
    expect = { code = "DEVPIPE.00000429", status = 429, retryable = true, attempts = RETRIED },
    saw = { requests = 3 } },
  { name = "a 429 whose code is not APIGW.0308", op = "run", standin = { banner_first = 3, banner = SLOW_DOWN },
    expect = { code = "DEVPIPE.00000429", status = 429, retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  -- ... and APIGW.0308 asking for a wait within max_retry_wait: sent again
  -- once it has passed
  { name = "429 APIGW.0308 with a Retry-After of 0", op = "run",
    standin = { fail_first = 2, fail_first_status = 429, retry_after = "0" },
    expect = { ok = true }, saw = { routes = { run = 3 } } },
  -- ... but not when the transport sent the request before, on a
  -- kept-alive connection the server read it on and then reset (every
  -- transport sends it again by itself, on a new connection): the
  -- gateway's word is about the second only (README: err.unsent)
  { name = "a query leaves its connection alive; the server resets it at the next, whose resend gets 429 APIGW.0308",
    op = "query", before = "query", options = { max_retries = 0 },
    standin = { reset_first = 1, fail_first = 1, fail_first_status = 429, fault_after = 1 },
    expect = { code = "APIGW.0308", status = 429, retryable = true, attempts = NOT_RETRIED, unsent = 0 },
    saw = { requests = 3, faults = { reset_first = 1, fail_first = 1 } } },
  { name = "a 200 whose body is coded as gzip and does not inflate", op = "query",
    standin = { banner_first = 3, banner = NOT_GZIP },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip" },
    saw = { requests = 1 } },
  { name = "a 200 whose body is coded as gzip, whole", op = "query",
    standin = { banner_first = 3, banner_hex = gzip_answer(GZIP) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip" },
    saw = { requests = 1 } },
  { name = "a 200 whose gzip body is cut short, its Content-Length the bytes sent", op = "query",
    standin = { banner_first = 3, banner_hex = gzip_answer(GZIP:sub(1, 32)) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip" },
    saw = { requests = 1 } },
  { name = "a 200 whose gzip body lacks its trailer", op = "query",
    standin = { banner_first = 3, banner_hex = gzip_answer(GZIP:sub(1, -17)) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip" },
    saw = { requests = 1 } },
  { name = "a 200 whose gzip body has bytes after its end", op = "query",
    standin = { banner_first = 3, banner_hex = gzip_answer(GZIP .. "6a756e6b") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip" },
    saw = { requests = 1 } },
  { name = "a 200 whose body is coded as gzip, whole", op = "run",
    standin = { banner_first = 3, banner_hex = gzip_answer(GZIP) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "content-encoding: gzip",
               unsent = 0 },
    saw = { routes = { run = 1 } } },
  -- libcurl frames the body by a Transfer-Encoding's first line alone
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "an answer whose Transfer-Encoding is continued on a folded line", op = "query", resty = false,
    standin = { banner_first = 3, banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
      .. "d\r\n{\"result\":[]}\r\n0\r\n\r\n" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "folded" },
    saw = { requests = 1 } },
  { name = "a 200 whose body comes as gzip in chunks (Transfer-Encoding: gzip, chunked)", op = "query",
    standin = { banner_first = 3, banner_hex = GZIP_CHUNKED },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "transfer-encoding" },
    saw = { requests = 1 } },
  { name = "a 200 whose body is an error with a request_id, and no X-Request-Id", op = "query",
    standin = { banner_first = 3, banner = OK_ERROR_BODY },
    expect = { code = "DECODE", status = 200, retryable = false, attempts = NOT_RETRIED, request_id = "in-the-body" },
    saw = { requests = 1 } },
  { name = "a 200 whose body is not JSON", op = "query", standin = { garbage_first = 3 },
    expect = { code = "DECODE", status = 200, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  -- nothing was sent: a run may go again
  { name = "connection refused", op = "query", endpoint = "dead",
    expect = { code = "NETWORK", retryable = true, attempts = RETRIED } },
  { name = "connection refused", op = "run", endpoint = "dead",
    expect = { code = "NETWORK", retryable = true, attempts = RETRIED, unsent = 6 } },
  -- issue 9: the run must not go again on a new connection
  -- the server writes a second answer to the first query on its kept-alive
  -- connection: the next call must not take it for its own
  { name = "a query leaves its connection alive; the server answers it twice", op = "query",
    before = "query", stale = true, standin = { stale_answer_first = 1 }, expect = { ok = true },
    saw = { requests = 2, connections = 2 } },
  -- libcurl sends a query again by itself when the connection it reused
  -- turns out reset, before any answer: so it must see the reset itself
  -- (in Neovim's loop too), with no retry of the policy's needed
  { name = "a query leaves its connection alive; the server resets it at the next query", op = "query",
    before = "query", standin = { reset_first = 1, fault_after = 1 }, options = { max_retries = 0 },
    expect = { ok = true }, saw = { requests = 3, faults = { reset_first = 1 } } },
  -- A server that closes a kept-alive connection as the next request comes
  -- (one_per_conn): six single-pair batches leave six kept connections,
  -- then a one-pair query with no retry of the policy's goes once more, on
  -- a new connection, and succeeds, as no attempt of the policy's
  -- (README: Retries).  The cosocket transport sends it twice: one
  -- dropped on a kept connection, one on a new one.  libcurl 7.88 first
  -- resends it by itself on the other kept connections, up to 5 times
  -- (CONN_MAX_RETRIES; it cannot be told not to before 8.16), so six were
  -- dropped before the new one.  Each answer is held 100 ms, so that the
  -- six batches are in flight together, none of them taking another's
  -- connection; the timeout is long enough for libcurl's resends.
  { name = "kept-alive connections the server closes as the next request comes", op = "query",
    before = "query", one_per_conn = true, first = 1, standin = { delay_ms = 100 },
    options = { batch_size = 1, concurrency = 8, max_retries = 0, timeout = 5 }, expect = { ok = true },
    saw = { connections = 7, requests = 8, routes = { result = 8 } },
    saw_libcurl = { connections = 7, requests = 13, routes = { result = 13 } } },
  -- a run never goes on a kept connection, so it is answered, sent once
  { name = "kept-alive connections the server closes as the next request comes", op = "run",
    before = "query", one_per_conn = true, first = 1, standin = { delay_ms = 100 },
    options = { batch_size = 1, concurrency = 8, max_retries = 0, timeout = 5 }, expect = { ok = true },
    saw = { connections = 7, requests = 7, routes = { result = 6, run = 1 } } },
  -- a reused connection that dies after some bytes of the answer came is no
  -- connection closed while idle: no transport sends the query again by
  -- itself (libcurl resends only when no byte of an answer came)
  { name = "a query leaves its connection alive; at the next query the server closes it in the middle of the headers",
    op = "query", before = "query", standin = { banner_first = 1, fault_after = 1, banner = CUT_HEAD },
    options = { max_retries = 0 },
    expect = { code = "NETWORK", retryable = true, attempts = NOT_RETRIED }, saw = { requests = 2 } },
  -- The timeout bounds the wait for the server, not the caller's own code:
  -- answers that came in while a callback ran past it count
  { name = "the logger blocks past the timeout while the other batches' answers come in", op = "run",
    options = { batch_size = 2, concurrency = 3, max_retries = 0, logger = function(event)
      if event.batch == 1 then os.execute("sleep 0.8") end
    end }, expect = { ok = true }, saw = { routes = { run = 3 } } },
  -- ... but a request whose attempt's time ran out before it was sent (its
  -- batch still connecting, or waiting its turn on a connection, or
  -- handed over and not yet looked at) is not sent late: it ends not
  -- sent, so a run is retried on every transport, and the stand-in starts
  -- each pipeline once, and reads each query batch once (a query's third
  -- batch was written late on a kept-alive connection under libcurl).
  { name = "the logger blocks past the timeout while a run batch is still connecting", op = "run",
    standin = { delay_ms = 50 },
    options = { batch_size = 2, concurrency = 2, max_retries = 2, timeout = 0.3, logger = function(event)
      if event.batch <= 2 and event.attempt == 1 then os.execute("sleep 0.5") end
    end }, expect = { ok = true }, saw = { run_pipelines = 6 } },
  { name = "the logger blocks past the timeout while a query batch is still connecting", op = "query",
    standin = { delay_ms = 50 },
    options = { batch_size = 2, concurrency = 2, max_retries = 2, timeout = 0.3, logger = function(event)
      if event.batch <= 2 and event.attempt == 1 then os.execute("sleep 0.5") end
    end }, expect = { ok = true }, saw = { routes = { result = 3 } } },
  -- A refused credential: more than five AK/SK failures in a row lock the
  -- key, so the call's other batches must not go out (README: Retries)
  { name = "a wrong SK: the first batch's 401 ends the query, no other batch sent", op = "query",
    options = { sk = "not-the-right-secret-key-0001", batch_size = 1, concurrency = 1 },
    expect = { code = "APIGW.0301", status = 401, retryable = false, attempts = NOT_RETRIED },
    saw = { requests = 1 } },
  { name = "a wrong SK: the first batch's 401 ends the run, no other batch sent", op = "run",
    options = { sk = "not-the-right-secret-key-0001", batch_size = 1, concurrency = 1 },
    expect = { code = "APIGW.0301", status = 401, retryable = false, attempts = NOT_RETRIED, unsent = 6 },
    saw = { requests = 1, routes = { run = 1 } } },
  { name = "a 503 whose X-Request-Id is given twice", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: first\r\nX-Request-Id: second\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = "second" } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose X-Request-Id is folded over two lines", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: first\r\n  \t second \r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED,
               request_id = "first second" } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose folded line continues another header after X-Request-Id", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: first\r\nX-Other: a\r\n second\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = "first" } },
  { name = "a 503 whose X-Request-Id is empty", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id:   \r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = false } },
  { name = "a 503 whose X-Request-Id takes 127 bytes", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: " .. ID_127 .. "\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = ID_127 } },
  { name = "a 503 whose X-Request-Id takes 128 bytes, its last line", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: a\r\nX-Request-Id: " .. ID_127 .. "i\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = false } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose X-Request-Id takes 128 bytes once unfolded", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: " .. ID_127:sub(3) .. "\r\n ii\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = false } },
  { name = "a chunked 503 with X-Request-Id and Retry-After in its trailers", op = "query",
    options = { max_retry_wait = 5 }, standin = { banner_first = 3, banner = BUSY_WITH_TRAILER },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = "head",
               retry_after = false, waits = "++." } },
  { name = "a 503 whose Retry-After is given twice, 30 then 0", op = "query",
    standin = { banner_first = 3, banner = busy_head("Retry-After: 30\r\nRetry-After: 0\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, retry_after = 0,
               waits = "00." } },
  { name = "a 503 whose Retry-After is longer than max_retry_wait", op = "query", options = { max_retry_wait = 5 },
    standin = { banner_first = 3, banner = busy_head("Retry-After: 6\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = NOT_RETRIED, retry_after = 6,
               waits = "." }, saw = { requests = 1 } },
  { name = "a 429 APIGW.0308 whose Retry-After is longer than max_retry_wait", op = "run",
    options = { max_retry_wait = 5 }, standin = { banner_first = 3, banner = THROTTLED_LONG },
    expect = { code = "APIGW.0308", status = 429, retryable = true, attempts = NOT_RETRIED, retry_after = 3600,
               waits = ".", unsent = 6 }, saw = { routes = { run = 1 } } },
  { name = "a 503 whose Retry-After is 63 zeros", op = "query", options = { max_retry_wait = 5 },
    standin = { banner_first = 3, banner = busy_head("Retry-After: " .. ("0"):rep(63) .. "\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, retry_after = 0,
               waits = "00." } },
  { name = "a 503 whose Retry-After is 64 zeros", op = "query", options = { max_retry_wait = 5 },
    standin = { banner_first = 3, banner = busy_head("Retry-After: " .. ("0"):rep(64) .. "\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, retry_after = false,
               waits = "++." } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose first header line is folded", op = "query", resty = false,
    standin = { banner_first = 3, banner = "HTTP/1.1 503 Service Unavailable\r\n folded\r\n"
      .. "Content-Length: " .. #BUSY .. "\r\n\r\n" .. BUSY },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose Content-Length has a space before its colon", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length : " .. #BUSY .. "\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose X-Request-Id has a space before its colon", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id : spaced\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 with a header line that has no colon", op = "query",
    standin = { banner_first = 3, banner = busy_head("No-Colon\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 with a field whose name holds a space", op = "query",
    standin = { banner_first = 3, banner = busy_head("X Foo: bar\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 with a field named HTTP/a", op = "query",
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: a\r\nHTTP/a: b\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 with a trailer named HTTP/a", op = "query",
    standin = { banner_first = 3, banner = busy_trailers("HTTP/a: b\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 with a line of one space and a bare LF between two X-Request-Ids", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head("X-Request-Id: a\r\n \nX-Request-Id: b\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = "b" } },
  { name = "a 503 with a line of a colon alone", op = "query",
    standin = { banner_first = 3, banner = busy_head(":\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  -- (the CR is kept, and shown as a space, as an error shows a control character)
  -- (resty.http's parser drops it, as white space)
  { name = "a 503 whose X-Request-Id begins with a CR", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head("X-Request-Id:\rabc\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED, request_id = " abc" } },
  -- (resty.http's parser drops the CR, as white space, and the date is taken)
  { name = "a 401 APIGW.0303 whose Date begins with a CR", op = "query", resty = false,
    standin = { banner_first = 1, banner = expired("Date:\r" .. http_date() .. "\r\n") },
    expect = { code = "APIGW.0303", status = 401, retryable = false, attempts = NOT_RETRIED } },
  -- (through resty.http the head is counted by its fields, each as "Name: value" and CRLF: 90 KB)
  { name = "a 503 whose head of short lines ended by bare LFs takes 60 KB", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_head(("a:b\n"):rep(15000)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a 503 whose head takes 65,536 bytes", op = "query",
    standin = { banner_first = 3, banner = busy_of_size(65536) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  -- (through resty.http the head is counted by its fields: the status line and blank line are not)
  { name = "a 503 whose head takes 65,537 bytes", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy_of_size(65537) },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 whose head and trailers take 40 KB each", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n" .. ("X-Padding: p\r\n"):rep(3000),
      ("%x\r\n%s\r\n0\r\n%s\r\n"):format(#BUSY, BUSY, ("X-T: t\r\n"):rep(5000))) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 503 with a trailer line of 4,093 bytes", op = "query",
    standin = { banner_first = 3, banner = trailer_of_size(4093) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 503 with a trailer line of 4,094 bytes", op = "query",
    standin = { banner_first = 3, banner = trailer_of_size(4094) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "trailer line" } },
  -- (refused as it comes, past 4,093 bytes, before it counts towards the
  -- trailers' 64 KiB, as libcurl refuses it: nginx said RESPONSE_TOO_LARGE;
  -- review ngx44)
  { name = "a chunked 503 with a trailer line of 70,000 bytes", op = "query",
    standin = { banner_first = 3, banner = trailer_of_size(70000) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED, says = "trailer line" } },
  -- libcurl refuses a Content-Length line whose first number is over the
  -- limit before anything reads the rest of it (README: Errors).
  { name = "a 503 whose one Content-Length lists two different lengths of 20 digits", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: 99999999999999999999, 99999999999999999998\r\n") },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose one Content-Length lists its length, then one of 20 digits", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: " .. #BUSY .. ", 99999999999999999999\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 with its Content-Length, then a second one of 20 digits", op = "query",
    standin = { banner_first = 3,
                banner = busy("Content-Length: " .. #BUSY .. "\r\nContent-Length: 99999999999999999999\r\n") },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 with two different Content-Lengths, then a third of 20 digits", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: 1\r\nContent-Length: 2\r\n"
      .. "Content-Length: 99999999999999999999\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  -- Lengths on different lines are told apart digit by digit, however
  -- large (a head's and its trailers' too), up to 40 digits; two longer
  -- ones are taken as different (src/head.h: CAB_HEAD_LENGTH_DIGITS).
  { name = "a 503 with two different Content-Lengths of 19 digits", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: 1000000000000000000\r\n"
      .. "Content-Length: 1000000000000000001\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a chunked 503 whose head and trailers give different Content-Lengths of 19 digits", op = "query",
    standin = { banner_first = 3, banner = busy("Transfer-Encoding: chunked\r\n"
      .. "Content-Length: 1000000000000000000\r\n", ("%x\r\n%s\r\n0\r\nContent-Length: 1000000000000000001\r\n\r\n")
      :format(#BUSY, BUSY)) },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 204 with two different Content-Lengths of 20 digits", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 204 No Content\r\nContent-Length: 99999999999999999999\r\n"
      .. "Content-Length: 99999999999999999998\r\n\r\n" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 204 with its Content-Length of 40 digits given twice", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 204 No Content\r\n"
      .. ("Content-Length: %s\r\n"):rep(2):format(("9"):rep(40), "000" .. ("9"):rep(40)) .. "\r\n" },
    expect = { code = "DECODE", status = 204, retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 204 with its Content-Length of 41 digits given twice", op = "query",
    standin = { banner_first = 3, banner = "HTTP/1.1 204 No Content\r\n"
      .. ("Content-Length: %s\r\n"):rep(2):format(("9"):rep(41), ("9"):rep(41)) .. "\r\n" },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED }, saw = { requests = 1 } },
  { name = "a 503 whose Content-Length list goes on on a folded line", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: " .. #BUSY .. ",\r\n " .. #BUSY .. "\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose Content-Length is empty but for a folded line", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length:\r\n " .. #BUSY .. "\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose status line has a tab after its code", op = "query",
    standin = { banner_first = 3, banner = busy_head(""):gsub("^HTTP/1.1 503 ", "HTTP/1.1 503\t") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose status line has two spaces before its code", op = "query",
    standin = { banner_first = 3, banner = busy_head(""):gsub("^HTTP/1.1 ", "HTTP/1.1  ") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose status line runs its code into its reason", op = "query",
    standin = { banner_first = 3, banner = busy_head(""):gsub("^HTTP/1.1 503 ", "HTTP/1.1 503") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose status line is in lower case", op = "query",
    standin = { banner_first = 3, banner = busy_head(""):gsub("^HTTP", "http") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose Content-Length says more than max_response_bytes, then its length", op = "query",
    options = { max_response_bytes = 100 },
    standin = { banner_first = 3, banner = busy("Content-Length: 150\r\nContent-Length: " .. #BUSY .. "\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 whose Content-Length beside the chunks says more than max_response_bytes", op = "query",
    options = { max_response_bytes = 100 },
    standin = { banner_first = 3, banner = busy("Content-Length: 150\r\nTransfer-Encoding: chunked\r\n",
      ("%x\r\n%s\r\n0\r\n\r\n"):format(#BUSY, BUSY)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 401 APIGW.0303 whose Content-Length beside the chunks is 99999999", op = "query",
    standin = { banner_first = 1, banner = "HTTP/1.1 401 Unauthorized\r\nDate: " .. http_date()
      .. "\r\nContent-Length: 99999999\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. ("%x\r\n%s\r\n0\r\n\r\n"):format(#EXPIRED, EXPIRED) },
    expect = { ok = true }, saw = { routes = { result = 2 } } },
  -- (through resty.http, Content-Length is checked once the head is read: the line is PROTOCOL first)
  { name = "a 503 whose Content-Length of 20 digits comes before a line that is no field", op = "query",
    resty = false,
    standin = { banner_first = 3, banner = busy("Content-Length: 99999999999999999999\r\nNo-Colon\r\n") },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose Content-Length of 20 digits has a plus sign", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: +99999999999999999999\r\n") },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 503 whose Content-Length has 70 leading zeros", op = "query",
    standin = { banner_first = 3, banner = busy("Content-Length: " .. ("0"):rep(70) .. #BUSY .. "\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 503 with a CR inside a trailer", op = "query",
    standin = { banner_first = 3, banner = busy_trailers("X-T: a\rb\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 whose trailers of 15,000 lines ended by bare LFs take 60,000 bytes", op = "query",
    standin = { banner_first = 3, banner = busy_trailers(("a:b\n"):rep(15000)) },
    expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 whose trailers take 65,535 bytes before their blank line", op = "query",
    standin = { banner_first = 3, banner = busy_trailers(("a:b\r\n"):rep(13107)) },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose Content-Length is folded onto a second line", op = "query", resty = false,
    standin = { banner_first = 3, banner = busy("Content-Length: " .. #BUSY .. "\r\n 0\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 503 whose Content-Length is followed by a blank folded line", op = "query",
    resty = false, standin = { banner_first = 3, banner = busy("Content-Length: " .. #BUSY .. "\r\n \t\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 503 whose first trailer line is folded", op = "query",
    standin = { banner_first = 3, banner = busy_trailers(" folded\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a chunked 503 whose trailer is folded", op = "query",
    standin = { banner_first = 3, banner = busy_trailers("X-Trailer: a\r\n b\r\n") },
    expect = { code = "DEVPIPE.00000503", status = 503, retryable = true, attempts = RETRIED } },
  { name = "a chunked 503 whose Content-Length trailer is folded", op = "query",
    standin = { banner_first = 3, banner = busy_trailers("Content-Length: 0\r\n 5\r\n") },
    expect = { code = "PROTOCOL", retryable = false, attempts = NOT_RETRIED } },
  { name = "a 401 APIGW.0303 whose Date is given twice, the last one right", op = "query",
    standin = { banner_first = 1, banner = expired("Date: Sat, 01 Jan 2000 00:00:00 GMT\r\nDate: " .. http_date()
      .. "\r\n") },
    expect = { ok = true }, saw = { routes = { result = 2 } } },
  -- (resty.http ends the head at a folded line, the rest read as the body)
  { name = "a 401 APIGW.0303 whose Date is folded", op = "query", resty = false,
    standin = { banner_first = 1, banner = expired("Date: " .. http_date():gsub(" (%d%d:)", "\r\n\t%1") .. "\r\n") },
    expect = { ok = true }, saw = { routes = { result = 2 } } },
  { name = "a 401 APIGW.0303 whose Date is empty", op = "query",
    standin = { banner_first = 1, banner = expired("Date: " .. http_date() .. "\r\nDate:\r\n") },
    expect = { code = "APIGW.0303", status = 401, retryable = false, attempts = NOT_RETRIED } },
  -- A chunk that announces more than max_response_bytes, then stalls: the
  -- bytes are counted as they come (libcurl, resty.http), so it is the
  -- timeout that ends it, on every transport.
  { name = "a chunk size over max_response_bytes, then the body stalls", op = "query",
    options = { max_response_bytes = 1024 },
    standin = { banner_first = 3, banner_hold_ms = 2000, banner = "HTTP/1.1 200 OK\r\n"
      .. "Transfer-Encoding: chunked\r\n\r\n100000\r\n{\"result\":[" },
    expect = { code = "TIMEOUT", retryable = true, attempts = RETRIED }, saw = { requests = 3 } },
  { name = "a chunk size over max_response_bytes, then the body stalls", op = "run",
    options = { max_response_bytes = 1024 },
    standin = { banner_first = 3, banner_hold_ms = 2000, banner = "HTTP/1.1 200 OK\r\n"
      .. "Transfer-Encoding: chunked\r\n\r\n100000\r\n{\"result\":[" },
    expect = { code = "TIMEOUT", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { run = 1 } } },
  { name = "a query leaves its connection alive; the server reads the run and closes without answering",
    op = "run", before = "query", standin = { reset_first = 1, fault_route = "run" },
    expect = { code = "NETWORK", retryable = false, attempts = NOT_RETRIED, unsent = 0 },
    saw = { routes = { result = 1, run = 1 } } },
}

-- The byte past max_response_bytes (13 here) ends a chunked answer as it
-- comes, in a chunk not yet whole too, whatever the server does next.
for _, case in ipairs({
  { "a chunk size past any length, then 14 bytes and a stall", 1500, '7fffffffffffffff\r\n{"result":[]}x' },
  { "a 13-byte chunk, then one byte of a 2-byte chunk and a close", 0, 'd\r\n{"result":[]}\r\n2\r\nx' },
  { "a 32-byte chunk of which 14 bytes come, then a close", 0, '20\r\n{"result":[]}xy' },
}) do
  for _, op in ipairs({ "query", "run" }) do
    M.rows[#M.rows + 1] = { name = case[1], op = op, options = { max_response_bytes = 13 },
      standin = { banner_first = 3, banner_hold_ms = case[2],
                  banner = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. case[3] },
      expect = { code = "RESPONSE_TOO_LARGE", retryable = false, attempts = NOT_RETRIED,
                 unsent = op == "run" and 0 or nil },
      saw = op == "query" and { requests = 1 } or { routes = { run = 1 } } }
  end
end

--- The row's items: the reference page's six pairs, or their pipelines
-- (the first row.first of them, when it says).
function M.items(row)
  local items = {}
  for i = 1, row.first or #model.seed_query do
    local r = model.seed_query[i]
    items[i] = row.op == "query" and r or r.pipeline_id
  end
  return items
end

--- The row's client options, for the stand-in at urls.standin (urls.dead:
-- where nothing listens).
function M.client_options(row, urls)
  local creds = model.credentials.permanent
  local o = { endpoint = row.endpoint == "dead" and urls.dead or urls.standin, project_id = model.seed_project,
              ak = creds.ak, sk = creds.sk }
  for k, v in pairs(M.CLIENT) do o[k] = v end
  for k, v in pairs(row.options or {}) do o[k] = v end
  return o
end

--- A call's outcome as plain data that JSON carries: { ok, code, message,
-- status, retryable, attempts, results, missing, unanswered, unsent
-- (counts), items (how many distinct items were given) }.
function M.outcome(row, results, err)
  local out = { items = #M.items(row) }
  if results then
    out.ok, out.results, out.missing, out.unanswered = true, #results, #results.missing, 0
    local statuses = {}
    for i, r in ipairs(results) do statuses[i] = tostring(r.status) end
    out.statuses = table.concat(statuses, ",")
    return out
  end
  out.ok = false
  if type(err) ~= "table" then
    out.code, out.message = "RAISED", tostring(err)
    return out
  end
  out.code, out.message, out.status, out.request_id = err.code, tostring(err), err.status, err.request_id
  out.retryable, out.attempts, out.retry_after = err.retryable, err.attempts, err.retry_after
  local got = err.results or { missing = {} }
  out.results, out.missing, out.unanswered = #got, #(got.missing or {}), #(err.unanswered or {})
  out.unsent = #(err.unsent or {})
  return out
end

--- Calls k(true) once the stand-in at url has written its stale answer
-- (stale_answer_first's), which it does 100 ms after the answer, so that
-- its bytes are at the client before the next call: not after a pause,
-- which a loaded machine could outlast (and a request sent before the
-- bytes came takes them for its answer, whatever the client does).  Its
-- stats are asked every 50 ms through the curl CLI, outside the library,
-- the host held meanwhile (os.execute), as a host busy with other work
-- would be when the bytes come; k(false) after 10 s.
local function after_stale(url, k)
  local cmd = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS curl -q -sS --max-time 5 '"
    .. url .. "/_standin/stats'"
  local started = os.time()
  while os.time() - started <= 10 do
    local p = io.popen(cmd)
    local body = p and p:read("*a") or ""
    if p then p:close() end
    local n = tonumber(body:match('"stale_written":(%d+)'))
    if n and n >= 1 then return k(true) end
    os.execute("sleep 0.05")
  end
  return k(false)
end

--- Runs row with the library br against urls, and calls finish(outcome).
-- async: Neovim's callback mode (each call given a callback, finish called
-- from the last one); else the calls return their answers, and finish is
-- called before run returns.  A raised error is an outcome too (RAISED).
function M.run(br, row, urls, finish, async)
  local options, waits = M.client_options(row, urls), {}
  if row.expect.waits then
    function options.logger(e)
      waits[#waits + 1] = e.retry_in == nil and "." or e.retry_in == 0 and "0" or "+"
    end
  end
  local client, err = br.new(options)
  if not client then return finish(M.outcome(row, nil, err)) end
  local function done(results, e)
    client:close()
    local out = M.outcome(row, results, e)
    if row.expect.waits then out.waits = table.concat(waits) end
    finish(out)
  end
  -- calls client[op](items) and hands what it gives to k
  local function call(op, items, k)
    if not async then
      local ok, results, e = pcall(client[op], client, items)
      if not ok then return k(nil, results) end
      return k(results, e)
    end
    local ok, started, e = pcall(client[op], client, items, { callback = k })
    if not ok then return k(nil, started) end
    if not started then return k(nil, e) end
  end
  local function main() call(row.op, M.items(row), done) end
  if row.before ~= "query" then return main() end
  call("query", model.seed_query, function(results, e)
    if not results then
      local why = "BEFORE: the first query failed: " .. tostring(e)
      return done(nil, setmetatable({ code = "BEFORE" }, { __tostring = function() return why end }))
    end
    if row.stale then
      return after_stale(urls.standin, function(written)
        if written then return main() end
        local why = "BEFORE: the stand-in wrote no stale answer within 10 s"
        done(nil, setmetatable({ code = "BEFORE" }, { __tostring = function() return why end }))
      end)
    end
    main()
  end)
end

return M
