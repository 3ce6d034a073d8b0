--- Errors as values.  Every runtime failure of the library is returned as
-- `nil, err`, where err is a table of this class:
--   code        the API's error_code (e.g. "APIGW.0301") or one of ours:
--               INVALID_ARGUMENT, NETWORK, TIMEOUT, TLS, PROTOCOL, DECODE,
--               HTTP, RESPONSE_TOO_LARGE, CLOSED, CALLBACK, INTERRUPTED
--               (raised, not returned), UNSUPPORTED_CONTEXT, INTERNAL
--               (README: Errors)
--   message     one line
--   status      the HTTP status, or nil when no answer came
--   request_id  X-Request-Id of the answer, or nil
--   retryable   whether the same request may succeed later
-- tostring(err) reads: CODE (HTTP 401): message [request 5f1…], and
-- "failed: " .. err joins that text.
-- No __index: an error has its fields and nothing else.  (With the class
-- as its __index, err.closed, err.new, err.is, … read as functions, and
-- `if err.closed then` held for every error.)
local Error = {}

--- s on one line: each run of ASCII control characters (line breaks, a
-- terminal's escapes) becomes a space, and so does each C1 control in
-- UTF-8 (C2 80 to C2 9F: U+009B is a terminal's CSI) and each of
-- Unicode's line and paragraph separators (U+2028, U+2029: E2 80 A8, A9),
-- which some viewers break a line at.  An explicit class, not %c, whose
-- meaning follows the C locale a host may have set.
function Error.one_line(s)
  s = tostring(s):gsub("[%z\1-\31\127]+", " "):gsub("\194[\128-\159]", " "):gsub("\226\128[\168\169]", " ")
  return s
end
local one_line = Error.one_line

function Error.__tostring(e)
  local s = e.code
  if e.status then s = s .. " (HTTP " .. e.status .. ")" end
  s = s .. ": " .. e.message
  if e.request_id then s = s .. " [request " .. e.request_id .. "]" end
  return s
end

-- (an error joins a string or a number; anything else raises, as
-- joining it would without an error beside it)
function Error.__concat(a, b)
  local function text(v)
    if getmetatable(v) == Error then return tostring(v) end
    if type(v) == "string" or type(v) == "number" then return v end
    error("attempt to concatenate a " .. type(v) .. " value", 3)
  end
  return text(a) .. text(b)
end

--- Makes an error; fields (optional) adds status, request_id, retryable.
function Error.new(code, message, fields)
  local e = fields or {}
  e.code = one_line(code)
  e.message = one_line(message)
  e.retryable = e.retryable == true
  return setmetatable(e, Error)
end

function Error.invalid(message)
  return Error.new("INVALID_ARGUMENT", message)
end

-- The errors Error.stop made, by identity (weak: each goes with its
-- error).  Not a field of theirs, which an answer's decoded error could
-- carry as well, and every reader of an error's fields would meet.
local stops = setmetatable({}, { __mode = "k" })

--- The library's own error of a call stopped on the caller's side
-- (CLOSED, CALLBACK, INTERRUPTED), which Error.is_own tells from an
-- answer's error of the same code: a server's error_code may be any word.
function Error.stop(code, message)
  local e = Error.new(code, message)
  stops[e] = true
  return e
end

--- The error of a call whose client was closed while it ran.
function Error.closed()
  return Error.stop("CLOSED", "the client was closed during the call")
end

--- The error of a call in a child forked while it ran: the call is the
-- parent's to finish.
function Error.forked()
  return Error.stop("CLOSED", "the process forked during the call: the child leaves the call to the parent")
end

--- Whether err is the library's own stop (Error.stop) of that code.
function Error.is_own(err, code)
  return stops[err] == true and err.code == code
end

--- Whether err is the library's own error of a call stopped on the
-- caller's side: closed, a callback that raised, or Ctrl-C.
function Error.is_stop(err)
  return Error.is_own(err, "CLOSED") or Error.is_own(err, "CALLBACK") or Error.is_own(err, "INTERRUPTED")
end

--- Whether v is Ctrl-C: what the standalone interpreter (lua.c,
-- luajit.c) raises at it, "interrupted!" with the place it was raised at
-- in front, or the INTERRUPTED error a call raises for it (a call made in
-- a callback of another, which Ctrl-C then stops too).
function Error.is_interrupt(v)
  if Error.is(v) then return Error.is_own(v, "INTERRUPTED") end
  return type(v) == "string" and (v == "interrupted!" or v:find("^[^\n]*:%d+: interrupted!$") ~= nil)
end

--- Whether v is Lua's own memory error (an allocation of the library's
-- Lua, an answer's tables say, that failed; a failed allocation of the C
-- stages' is INTERNAL already).
function Error.is_out_of_memory(v)
  return v == "not enough memory"
end

function Error.is(v)
  return getmetatable(v) == Error
end

return Error
