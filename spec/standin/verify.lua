-- SDK-HMAC-SHA256 (Huawei Cloud APIG AK/SK signing): the stand-in's own,
-- independent implementation, used by the stand-in server to verify what it
-- receives and by the specs to sign requests for the stand-in.
--
-- Needs luaossl (openssl.digest, openssl.hmac); works on Lua 5.1-5.4 and
-- LuaJIT.  All inputs are treated as raw bytes.

local digest = require "openssl.digest"
local hmac = require "openssl.hmac"

local M = {}

M.ALGORITHM = "SDK-HMAC-SHA256"
M.UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

local function hex(bin)
  return (bin:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
M.hex = hex

function M.sha256_hex(s)
  return hex(digest.new("sha256"):final(s or ""))
end

function M.hmac_sha256_hex(key, s)
  return hex(hmac.new(key, "sha256"):final(s))
end

-- Percent-encode everything except A-Z a-z 0-9 - _ . ~ (upper-case hex).
function M.encode(s)
  return (s:gsub("[^A-Za-z0-9%-_%.~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- Percent-decode; a '%' not followed by two hex digits stays as it is.
-- '+' is left alone (RFC 3986: it is not a space).
function M.decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function split(s, sep)
  local out, start = {}, 1
  while true do
    local i = s:find(sep, start, true)
    if not i then
      out[#out + 1] = s:sub(start)
      return out
    end
    out[#out + 1] = s:sub(start, i - 1)
    start = i + #sep
  end
end

local function trim(s)
  return (s:gsub("^[ \t\r\n]+", ""):gsub("[ \t\r\n]+$", ""))
end
M.trim = trim

-- Canonical URI from the path as it appears on the request line (without
-- the query): each segment decoded then re-encoded, '/' appended if missing.
function M.canonical_uri(path)
  path = path or ""
  local segs = split(path, "/")
  for i, seg in ipairs(segs) do
    segs[i] = M.encode(M.decode(seg))
  end
  local uri = table.concat(segs, "/")
  if uri:sub(-1) ~= "/" then
    uri = uri .. "/"
  end
  return uri
end

-- Canonical query from a raw query string ("a=1&b=x%20y", no leading '?').
-- Keys and values are decoded, sorted (keys by byte order, a repeated key's
-- values too), re-encoded and joined with '&'.
function M.canonical_query(raw)
  if raw == nil or raw == "" then
    return ""
  end
  local params, keys = {}, {}
  for _, part in ipairs(split(raw, "&")) do
    if part ~= "" then
      local eq = part:find("=", 1, true)
      local k, v
      if eq then
        k, v = part:sub(1, eq - 1), part:sub(eq + 1)
      else
        k, v = part, ""
      end
      k, v = M.decode(k), M.decode(v)
      if not params[k] then
        params[k] = {}
        keys[#keys + 1] = k
      end
      table.insert(params[k], v)
    end
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local vs = params[k]
    table.sort(vs)
    for _, v in ipairs(vs) do
      out[#out + 1] = M.encode(k) .. "=" .. M.encode(v)
    end
  end
  return table.concat(out, "&")
end

-- Canonical query from a list of {key, value} pairs (decoded values).
function M.canonical_query_from_pairs(pairs_list)
  local parts = {}
  for _, kv in ipairs(pairs_list) do
    parts[#parts + 1] = M.encode(kv[1]) .. "=" .. M.encode(kv[2])
  end
  return M.canonical_query(table.concat(parts, "&"))
end

local function values_of(headers, name)
  local v = headers[name]
  if v == nil then
    return {}
  elseif type(v) == "table" then
    local copy = {}
    for i, x in ipairs(v) do copy[i] = x end
    return copy
  end
  return { v }
end

-- Canonical headers block: headers is a map lower-case name -> value (or
-- array of values for a repeated header); signed is the list of signed
-- names.  One "name:trim(value)\n" line per value, sorted by name (a
-- repeated header's values sorted too).  A signed header that is absent
-- gives "name:\n".
function M.canonical_headers(headers, signed)
  local names = {}
  for i, n in ipairs(signed) do names[i] = n end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local vs = values_of(headers, name:lower())
    for i, v in ipairs(vs) do vs[i] = trim(v) end
    table.sort(vs)
    if #vs == 0 then
      out[#out + 1] = name .. ":\n"
    else
      for _, v in ipairs(vs) do
        out[#out + 1] = name .. ":" .. v .. "\n"
      end
    end
  end
  return table.concat(out)
end

-- The payload hash: the literal UNSIGNED-PAYLOAD when the
-- x-sdk-content-sha256 header says so, else hex sha256 of the body bytes.
function M.payload_hash(headers, body)
  local v = headers["x-sdk-content-sha256"]
  if type(v) == "table" then v = v[1] end
  if v and trim(v) == M.UNSIGNED_PAYLOAD then
    return M.UNSIGNED_PAYLOAD
  end
  return M.sha256_hex(body or "")
end

-- t = { method, path, query (raw), headers (lower-case map), signed_headers
-- (list, used in the given order on the SignedHeaders line), body }
function M.canonical_request(t)
  return table.concat({
    t.method,
    M.canonical_uri(t.path),
    M.canonical_query(t.query),
    M.canonical_headers(t.headers, t.signed_headers),
    table.concat(t.signed_headers, ";"),
    t.payload_hash or M.payload_hash(t.headers, t.body),
  }, "\n")
end

function M.string_to_sign(sdk_date, canonical_request)
  return M.ALGORITHM .. "\n" .. sdk_date .. "\n" .. M.sha256_hex(canonical_request)
end

function M.signature(sk, string_to_sign)
  return M.hmac_sha256_hex(sk, string_to_sign)
end

-- Parse "SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<a;b>, Signature=<hex>".
-- Returns { access, signed_headers = {..}, signed_headers_raw, signature }
-- or nil, reason.
function M.parse_authorization(value)
  if type(value) ~= "string" then
    return nil, "no Authorization header"
  end
  local ak, sh, sig = value:match(
    "^%s*SDK%-HMAC%-SHA256%s+Access=([^,%s]+)%s*,%s*SignedHeaders=([^,%s]+)%s*,%s*Signature=([^,%s]+)%s*$")
  if not ak then
    return nil, "Authorization is not 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'"
  end
  if not sig:find("^%x+$") then
    return nil, "Signature is not hex"
  end
  local list = split(sh, ";")
  for _, n in ipairs(list) do
    if n == "" then
      return nil, "SignedHeaders has an empty name"
    end
  end
  return { access = ak, signed_headers = list, signed_headers_raw = sh, signature = sig }
end

-- Verify a received request.
-- t = { method, path, query, headers (lower-case map: name -> value or list),
--       body, authorization (string, or a parsed table), sk }
-- Returns ok, canonical_request, expected_signature, string_to_sign
-- (or nil, reason when the Authorization value does not parse).
function M.verify(t)
  local auth = t.authorization
  if type(auth) ~= "table" then
    local err
    auth, err = M.parse_authorization(auth)
    if not auth then
      return nil, err
    end
  end
  local date = t.headers["x-sdk-date"]
  if type(date) == "table" then date = date[1] end
  date = trim(date or "")
  local cr = M.canonical_request {
    method = t.method,
    path = t.path,
    query = t.query,
    headers = t.headers,
    signed_headers = auth.signed_headers,
    body = t.body,
  }
  local sts = M.string_to_sign(date, cr)
  local expected = M.signature(t.sk, sts)
  return expected == auth.signature, cr, expected, sts
end

-- Sign a request, as a client would.
-- t = { ak, sk, method, path, query (raw, optional), headers (map with any
--       name case -> value; must contain X-Sdk-Date), body,
--       signed_headers (optional list of names; default: every header whose
--       name has no '_') }
-- Returns authorization, canonical_request, string_to_sign.
function M.sign(t)
  local lower = {}
  local names = {}
  for k, v in pairs(t.headers or {}) do
    local lk = k:lower()
    lower[lk] = v
    if not lk:find("_", 1, true) then
      names[#names + 1] = lk
    end
  end
  if t.signed_headers then
    names = {}
    for i, n in ipairs(t.signed_headers) do names[i] = n:lower() end
  end
  table.sort(names)
  local date = lower["x-sdk-date"]
  assert(date, "X-Sdk-Date header is required to sign")
  local cr = M.canonical_request {
    method = t.method,
    path = t.path,
    query = t.query,
    headers = lower,
    signed_headers = names,
    body = t.body,
  }
  local sts = M.string_to_sign(date, cr)
  local sig = M.signature(t.sk, sts)
  local authz = M.ALGORITHM .. " Access=" .. t.ak .. ", SignedHeaders="
    .. table.concat(names, ";") .. ", Signature=" .. sig
  return authz, cr, sts
end

-- X-Sdk-Date <-> epoch seconds (UTC), without relying on the local zone.
local function days_from_civil(y, m, d)
  y = (m <= 2) and (y - 1) or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local mdays = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- "YYYYMMDDTHHMMSSZ" -> epoch seconds, or nil when malformed.
function M.parse_sdk_date(s)
  if type(s) ~= "string" then return nil end
  local Y, Mo, D, h, mi, sec = s:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not Y then return nil end
  Y, Mo, D, h, mi, sec = tonumber(Y), tonumber(Mo), tonumber(D), tonumber(h), tonumber(mi), tonumber(sec)
  if Mo < 1 or Mo > 12 or D < 1 or D > mdays[Mo] or h > 23 or mi > 59 or sec > 60 then
    return nil
  end
  return days_from_civil(Y, Mo, D) * 86400 + h * 3600 + mi * 60 + sec
end

-- epoch seconds -> "YYYYMMDDTHHMMSSZ"
function M.format_sdk_date(t)
  return os.date("!%Y%m%dT%H%M%SZ", math.floor(t))
end

return M
