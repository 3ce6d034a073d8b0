--- The retry policy: which failures may pass if the request goes again,
-- how long to wait first, and the clock skew an APIGW.0303 answer reveals.
local core = require "codearts.batchresult.core"

local M = {}

local BACKOFF_BASE, BACKOFF_CAP = 0.2, 10

-- The statuses that say "try again later".  408: the server gave up
-- waiting for the request (on a kept-alive connection, often before it
-- arrived) and closed the connection (RFC 9110 15.5.9).
local RETRYABLE_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- Gateway codes that say the gateway itself refused the request before it
-- reached the service, with the status the gateway gives them: even a
-- request that is not idempotent did nothing.  The same code under
-- another status is no such refusal (a 500 may quote it from anywhere).
local GATEWAY_REFUSED = {
  ["APIGW.0308"] = 429, -- throttled
  ["APIGW.0301"] = 401, -- the credential or its signature is wrong (never sent again: a 401 is not transient)
  ["APIGW.0303"] = 401, -- the signature expired (call.lua sends it again once, the clock set right)
}

--- Whether the failed attempt err provably never reached the service: the
-- request never left (not_sent: the connection could not be made, or the
-- call never handed it to the transport), or the gateway refused it before
-- the service (GATEWAY_REFUSED), and it went out no earlier (resent: the
-- transport sent it again, on a new connection, after a kept-alive one
-- died under it, and the server may have read that one).  Such an attempt
-- did nothing, even one that starts pipelines: the one rule both for
-- sending a run again (M.retryable) and for calling its pipelines unsent
-- (call.lua).
function M.before_service(err, not_sent, resent)
  if not err.status then return not_sent == true end
  return not resent and GATEWAY_REFUSED[err.code] == err.status
end

--- Whether err, a failed attempt of operation row, may pass if the same
-- request is sent again.  An idempotent request may go again after any
-- transient failure; one that is not (BatchRunPipeline, which starts
-- pipelines) only when it never reached the service (M.before_service),
-- since a reset, a timeout or a 5xx after sending could mean the
-- pipelines did start.
function M.retryable(row, err, not_sent, resent)
  local transient
  if err.status then
    transient = RETRYABLE_STATUS[err.status] == true
  else
    transient = err.code == "NETWORK" or err.code == "TIMEOUT"
  end
  if row.idempotent then return transient end
  return transient and M.before_service(err, not_sent, resent)
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                 Oct = 10, Nov = 11, Dec = 12 }

local MONTH_DAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- An HTTP date's day, month, year, hour, minute and second, as text, in
-- any of the three forms a recipient must take (RFC 9110 5.6.7); this_year
-- reads a two-digit year.
local function date_fields(s, this_year)
  -- IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  local d, mon, y, h, mi, sec = s:match("^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then return d, mon, y, h, mi, sec end
  -- RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT", whose year is the one
  -- ending so within 50 years of this one: the past's when the future's
  -- would be more than 50 years ahead (RFC 9110 5.6.7), the future's when
  -- it is 50 ahead
  d, mon, y, h, mi, sec = s:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then
    y = this_year - this_year % 100 + tonumber(y)
    if y > this_year + 50 then
      y = y - 100
    elseif y <= this_year - 50 then
      y = y + 100
    end
    return d, mon, y, h, mi, sec
  end
  -- asctime: "Sun Nov  6 08:49:37 1994"
  mon, d, h, mi, sec, y = s:match("^%a%a%a (%a%a%a) ([ %d]%d) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  return d, mon, y, h, mi, sec
end

--- Seconds since the epoch of an HTTP date from 1970 to 9999, or nil: a
-- date that is no date (31 Feb, 25:00), or that X-Sdk-Date could not
-- carry, is none.  Computed, not via os.time, which reads its table as
-- local time.  this_year (default: this one, UTC) reads a two-digit year.
function M.http_time(s, this_year)
  local d, mon, y, h, mi, sec = date_fields(tostring(s), this_year or tonumber(os.date("!%Y")))
  local m = MONTHS[mon]
  if not m then return nil end
  y, d, h, mi, sec = tonumber(y), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  local leap = y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
  if y < 1970 or d < 1 or d > MONTH_DAYS[m] or (m == 2 and d == 29 and not leap) or h > 23 or mi > 59
    or sec > 60 then -- (60: a leap second)
    return nil
  end
  -- Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60 + sec
end

-- The server's Date is believed only within these years (epoch seconds
-- of 2020-01-01 and 2100-01-01): a clock outside them is broken, and
-- taking it would sign every later request with that time (one in year
-- 9999 could not even be written as X-Sdk-Date), or read a Retry-After's
-- date against it as decades of waiting.
local PLAUSIBLE_FROM, PLAUSIBLE_TO = 1577836800, 4102444800

--- The server's clock (epoch seconds) by its Date in res, or nil when it
-- has none to believe.
local function server_time(res)
  local t = res.date and M.http_time(res.date)
  if t and t >= PLAUSIBLE_FROM and t < PLAUSIBLE_TO then return t end
end

--- Seconds the failed answer res asked to wait before the request goes
-- again: its Retry-After, seconds or an HTTP date; nil when it has none
-- that reads as a wait.  now is the server's epoch second.
function M.asked(res, now)
  local ra = res.retry_after
  if not ra then return nil end
  -- Seconds are digits only (RFC 9110 10.2.3): tonumber would take "0x10".
  local wait = tonumber(tostring(ra):match("^%s*(%d+)%s*$"))
  if not wait then
    local at = M.http_time(ra)
    -- (against the same answer's Date when it has one to believe: both are the
    -- server's clock, which may be minutes off ours without an APIGW.0303)
    wait = at and at - (server_time(res) or now)
  end
  return wait and math.max(wait, 0)
end

--- Seconds to wait before attempt n+1, after attempt n failed with an
-- answer that asked to wait asked seconds (nil: it did not ask): that
-- wait, else exponential backoff with full jitter, at most max_wait.  nil
-- when the server asked for longer than max_wait: a request sent before
-- the time it named would only be refused again.
function M.delay(n, asked, max_wait)
  if asked then return asked <= max_wait and asked or nil end
  return math.min(core.random() * math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ^ (n - 1)), max_wait)
end

--- The server's clock minus ours (seconds), from the Date of an answer
-- that says the signature expired (APIGW.0303); nil when it has none, or
-- none to believe.  ours is our epoch second.
function M.skew(res, ours)
  local server = res and server_time(res)
  return server and server - ours
end

return M
