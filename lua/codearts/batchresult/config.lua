--- Checks the options given to new() and turns them into a client's
-- configuration.  Every problem is an INVALID_ARGUMENT error naming the
-- option; nothing here touches the network.
local Error = require "codearts.batchresult.error"
local regions = require "codearts.batchresult.regions"

local M = {}

M.VERSION = "0.1.0"
M.DEFAULT_USER_AGENT = "codearts-batchresult/" .. M.VERSION

-- Each option and the type it takes.
local OPTIONS = {
  endpoint = "string", region = "string", project_id = "string",
  ak = "string", sk = "string", security_token = "string", token = "string",
  timeout = "number", connect_timeout = "number",
  ca_file = "string", ca_path = "string", tls_verify = "boolean", proxy = "string",
  user_agent = "string", batch_size = "number", concurrency = "number",
  max_retries = "number", max_retry_wait = "number", max_response_bytes = "number",
  logger = "function", transport = "string",
}

M.DEFAULT_BATCH_SIZE = 100
M.DEFAULT_CONCURRENCY = 4
M.DEFAULT_MAX_RETRIES = 3
M.DEFAULT_MAX_RETRY_WAIT = 30
M.DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

--- nil when v is a whole number >= min, else why not.
local function count_problem(name, v, min)
  min = min or 1
  if v ~= nil and not (type(v) == "number" and v >= min and v < math.huge and math.floor(v) == v) then
    return ("%s must be a whole number >= %d"):format(name, min)
  end
end

--- nil when v is a positive number of seconds, else why not.
local function seconds_problem(name, v)
  if v ~= nil and not (type(v) == "number" and v > 0 and v < math.huge) then
    return name .. " must be a positive number of seconds"
  end
end

-- A call's options, and what each takes.
local CALL_OPTIONS = {
  batch_size = function(v) return count_problem("batch_size", v) end,
  concurrency = function(v) return count_problem("concurrency", v) end,
  max_retries = function(v) return count_problem("max_retries", v, 0) end,
  deadline = function(v) return seconds_problem("deadline", v) end,
  on_progress = function(v)
    if type(v) ~= "function" then return "on_progress must be a function, got " .. type(v) end
  end,
  callback = function(v)
    if type(v) ~= "function" then return "callback must be a function, got " .. type(v) end
  end,
}

--- Checks a call's options against the client's defaults; returns the
-- settled options, or nil, err.
function M.call_options(opts, defaults)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    return nil, Error.invalid("call options must be a table, got " .. type(opts))
  end
  for k, v in pairs(opts) do
    local check = CALL_OPTIONS[k]
    if not check then return nil, Error.invalid("unknown call option '" .. tostring(k) .. "'") end
    local why = check(v)
    if why then return nil, Error.invalid(why) end
  end
  return {
    batch_size = opts.batch_size or defaults.batch_size,
    concurrency = opts.concurrency or defaults.concurrency,
    max_retries = opts.max_retries or defaults.max_retries,
    deadline = opts.deadline,
    on_progress = opts.on_progress,
    callback = opts.callback,
  }
end

local function is_id(s)
  return type(s) == "string" and #s == 32 and s:find("^[0-9A-Za-z]+$") ~= nil
end

--- A header value must not carry CR, LF or NUL: it would split or end the
-- header on the wire.
local function header_safe(s)
  return not s:find("[\r\n%z]")
end

local function is_loopback(host)
  host = host:lower()
  if host == "localhost" or host == "[::1]" then return true end
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, o in ipairs({ a, b, c, d }) do
    if tonumber(o) > 255 then return false end
  end
  return tonumber(a) == 127
end

--- Splits "https://host[:port][/]" into scheme, the Host header's value
-- and the base URL; nil, message when it is not such a URL.
function M.parse_endpoint(url)
  if not header_safe(url) or url:find("%s") then
    return nil, "must not contain white space or control characters"
  end
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]*)/?$")
  if not scheme then
    return nil, "must be scheme://host[:port] with no path, query or fragment"
  end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    return nil, "scheme must be https (or http on loopback)"
  end
  if authority:find("@", 1, true) then return nil, "must not contain user information" end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([^:%[%]]+)(.*)$") end
  if not host or host == "" then return nil, "has no host" end
  if port ~= "" then
    local digits = port:match("^:(%d+)$")
    if not digits or tonumber(digits) < 1 or tonumber(digits) > 65535 then
      return nil, "has a bad port"
    end
    port = tonumber(digits)
  else
    port = nil
  end
  if scheme == "http" and not is_loopback(host) then
    return nil, "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
  end
  host = host:lower()
  local default = scheme == "https" and 443 or 80
  local host_header = (port and port ~= default) and (host .. ":" .. port) or host
  return { scheme = scheme, host = host_header, base = scheme .. "://" .. host_header }
end

local function env(getenv, name)
  local v = getenv(name)
  if v == "" then return nil end
  return v
end

--- new()'s options -> config, or nil, err.  getenv is os.getenv unless a
-- test passes its own.
function M.build(opts, getenv)
  getenv = getenv or os.getenv
  if type(opts) ~= "table" then
    return nil, Error.invalid("options must be a table, got " .. type(opts))
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      return nil, Error.invalid("unknown option '" .. tostring(k) .. "'")
    end
    if type(v) ~= want then
      return nil, Error.invalid("option " .. k .. " must be a " .. want .. ", got " .. type(v))
    end
    if want == "string" and not header_safe(v) then
      return nil, Error.invalid("option " .. k .. " must not contain CR, LF or NUL")
    end
  end

  local cfg = {}

  -- Where to send.
  local url
  if opts.endpoint and opts.region then
    return nil, Error.invalid("give endpoint or region, not both")
  elseif opts.endpoint then
    url = opts.endpoint
  elseif opts.region then
    url = regions.resolve(opts.region, getenv)
    if not url then
      return nil, Error.invalid("unknown region '" .. opts.region .. "' (known: "
        .. table.concat(regions.names(), ", ") .. "; or set " .. regions.env_name(opts.region) .. ")")
    end
    cfg.region = opts.region
  else
    return nil, Error.invalid("endpoint or region is required")
  end
  local ep, why = M.parse_endpoint(url)
  if not ep then
    return nil, Error.invalid("endpoint '" .. url .. "' " .. why)
  end
  cfg.endpoint = ep.base
  cfg.host = ep.host

  -- Which project.
  local project = opts.project_id or env(getenv, "HUAWEICLOUD_SDK_PROJECT_ID")
  if not project then
    return nil, Error.invalid("project_id is required (or set HUAWEICLOUD_SDK_PROJECT_ID)")
  end
  if not is_id(project) then
    return nil, Error.invalid("project_id must be 32 letters or digits")
  end
  cfg.project_id = project

  -- Who we are.  Explicit options win over the environment, and the two
  -- are never mixed: half a key pair from each would be a surprise.
  local secrets = {}
  if opts.token then
    if opts.ak or opts.sk or opts.security_token then
      return nil, Error.invalid("give token or ak/sk, not both")
    end
    if opts.token == "" then return nil, Error.invalid("token is empty") end
    secrets.token = opts.token
  else
    local ak, sk, st, from
    if opts.ak or opts.sk then
      ak, sk, st, from = opts.ak, opts.sk, opts.security_token, "option"
    else
      ak, sk = env(getenv, "HUAWEICLOUD_SDK_AK"), env(getenv, "HUAWEICLOUD_SDK_SK")
      st = opts.security_token or env(getenv, "HUAWEICLOUD_SDK_SECURITY_TOKEN")
      from = "environment variable HUAWEICLOUD_SDK_"
    end
    if not ak or ak == "" then
      return nil, Error.invalid("missing credential: ak (" .. from .. (from == "option" and "" or "AK") .. ")")
    end
    if not sk or sk == "" then
      return nil, Error.invalid("missing credential: sk (" .. from .. (from == "option" and "" or "SK") .. ")")
    end
    if ak:find("[%s,%c\128-\255]") then
      return nil, Error.invalid("ak holds a space, comma or non-ASCII character")
    end
    if not header_safe(sk) then
      return nil, Error.invalid("sk must not contain CR, LF or NUL")
    end
    if st and not header_safe(st) then
      return nil, Error.invalid("security_token must not contain CR, LF or NUL")
    end
    if st == "" then st = nil end
    secrets.ak, secrets.sk, secrets.security_token = ak, sk, st
  end

  -- How to talk.
  local why = seconds_problem("option timeout", opts.timeout)
    or seconds_problem("option connect_timeout", opts.connect_timeout)
    or seconds_problem("option max_retry_wait", opts.max_retry_wait)
    or count_problem("option batch_size", opts.batch_size)
    or count_problem("option concurrency", opts.concurrency)
    or count_problem("option max_retries", opts.max_retries, 0)
    or count_problem("option max_response_bytes", opts.max_response_bytes)
  if why then return nil, Error.invalid(why) end
  cfg.timeout = opts.timeout or 30
  cfg.connect_timeout = opts.connect_timeout or 10
  if opts.ca_file then
    local f = io.open(opts.ca_file, "rb")
    if not f then return nil, Error.invalid("ca_file '" .. opts.ca_file .. "' cannot be read") end
    f:close()
  end
  cfg.ca_file = opts.ca_file
  cfg.ca_path = opts.ca_path
  cfg.tls_verify = opts.tls_verify ~= false
  cfg.proxy = opts.proxy
  cfg.user_agent = opts.user_agent or M.DEFAULT_USER_AGENT
  cfg.batch_size = opts.batch_size or M.DEFAULT_BATCH_SIZE
  cfg.concurrency = opts.concurrency or M.DEFAULT_CONCURRENCY
  cfg.max_retries = opts.max_retries or M.DEFAULT_MAX_RETRIES
  cfg.max_retry_wait = opts.max_retry_wait or M.DEFAULT_MAX_RETRY_WAIT
  cfg.max_response_bytes = opts.max_response_bytes or M.DEFAULT_MAX_RESPONSE_BYTES
  cfg.logger = opts.logger
  if opts.transport ~= nil and opts.transport ~= "curl" and opts.transport ~= "ngx" then
    return nil, Error.invalid("option transport must be \"curl\" or \"ngx\", got \"" .. opts.transport .. "\"")
  end
  cfg.transport = opts.transport
  return cfg, secrets
end

return M
