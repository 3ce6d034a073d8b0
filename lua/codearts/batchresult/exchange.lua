--- One request and its answer: signing a body for a client's endpoint,
-- and turning what a transport got back into decoded results or an error.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"

local M = {}

local CONTENT_TYPE = "application/json;charset=UTF-8"

--- A prepared request: { method, url, headers, body }.  Its tostring
-- hides the credentials.
local Request = {}
Request.__index = Request
local SECRET_HEADERS = { Authorization = true, ["X-Security-Token"] = true, ["X-Auth-Token"] = true }

function Request.__tostring(req)
  local names = {}
  for name in pairs(req.headers) do names[#names + 1] = name end
  table.sort(names)
  local lines = { req.method .. " " .. req.url }
  for _, name in ipairs(names) do
    lines[#lines + 1] = name .. ": " .. (SECRET_HEADERS[name] and "[REDACTED]" or req.headers[name])
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = req.body
  return table.concat(lines, "\n")
end

-- X-Sdk-Date changes once a second; format it only then.
local last_time, last_date
local function sdk_date(now)
  if now ~= last_time then
    last_time, last_date = now, os.date("!%Y%m%dT%H%M%SZ", now)
  end
  return last_date
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                 Oct = 10, Nov = 11, Dec = 12 }

--- Seconds since the epoch of an HTTP date ("Sun, 06 Nov 1994 08:49:37
-- GMT"), or nil.  Computed, not via os.time, which reads its table as
-- local time.
function M.http_time(s)
  local d, mon, y, h, mi, sec = tostring(s):match("^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  local m = MONTHS[mon]
  if not m then return nil end
  y, m, d = tonumber(y), m, tonumber(d)
  -- Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

--- Signs a POST of body to endpoint.path: a request any HTTP client can
-- send.  endpoint = { host, url_base, project_id, user_agent }; creds =
-- { ak, signer, security_token } or { token }; now is the epoch second to
-- sign with (the client's clock, corrected for the server's).
function M.build(endpoint, creds, path, body, now)
  local headers = {
    ["Content-Type"] = CONTENT_TYPE,
    Host = endpoint.host,
    ["X-Project-Id"] = endpoint.project_id,
    ["User-Agent"] = endpoint.user_agent,
  }
  if creds.token then
    headers["X-Auth-Token"] = creds.token
  else
    headers["X-Sdk-Date"] = sdk_date(now or os.time())
    headers["X-Security-Token"] = creds.security_token
    local auth, msg = creds.signer:sign(creds.ak, "POST", path, "", headers, body)
    if not auth then return nil, Error.invalid(msg) end
    headers.Authorization = auth
  end
  return setmetatable({ method = "POST", url = endpoint.url_base .. path, headers = headers, body = body },
    Request)
end

-- The statuses that say "try again later".
local RETRYABLE_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

--- The error for a non-2xx answer: the API's own code and message when
-- the body is a Huawei-style error, else HTTP.
local function api_error(res, secrets)
  local code, message, body_request_id = core.decode_error(res.body)
  if not message then
    local snippet = res.body:gsub("%c+", " "):sub(1, 200)
    message = "the server answered HTTP " .. res.status .. (snippet:find("%S") and (": " .. snippet) or "")
  end
  return Error.new(code or "HTTP", Error.redact(message, secrets), {
    status = res.status,
    request_id = res.request_id or body_request_id,
    retryable = RETRYABLE_STATUS[res.status] == true,
  })
end

--- What a transport reported, as decoded results (each holding the string
-- fields named in ids) or nil, err.  secrets are redacted from messages.
function M.outcome(res, kind, msg, ids, secrets)
  if not res then
    -- A connection reset, a transfer cut short and a timeout are all
    -- worth another try; a TLS failure or an oversized answer are not.
    return nil, Error.new(kind, Error.redact(msg, secrets),
      { retryable = kind == "NETWORK" or kind == "TIMEOUT" })
  end
  if res.status < 200 or res.status > 299 then return nil, api_error(res, secrets) end
  local results, why = core.decode_results(res.body, ids[1], ids[2])
  if not results then
    return nil, Error.new("DECODE", why, { status = res.status, request_id = res.request_id })
  end
  return results
end

return M
