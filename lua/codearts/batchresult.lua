--- codearts.batchresult: a client for Huawei Cloud CodeArts Pipeline's
-- ShowBatchRunResult, "how did this batch of pipeline runs start?".
--
-- One direction of flow, each stage in one place:
--   validate (here) -> encode (C, cJSON) -> sign (C, libcrypto)
--   -> transport (transport/*.lua) -> decode (C, cJSON -> Lua tables)
-- The request loop lives here, in Lua, so that a transport may yield or
-- call back; C never calls back into Lua.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"
local config = require "codearts.batchresult.config"
local regions = require "codearts.batchresult.regions"

local M = {
  VERSION = config.VERSION,
  --- Stands for a JSON null inside an array (a null object member is
  -- simply absent).
  null = core.null,
  Error = Error,
  --- region -> endpoint, for reference.
  regions = regions.endpoints,
}

local QUERY_PATH = "/v5/%s/api/pipelines/batch-runs/result"
local CONTENT_TYPE = "application/json;charset=UTF-8"
local ID_FIELDS = { "pipeline_id", "pipeline_run_id" }

-- What a client must keep but never show: its key material and tokens
-- live here, out of the client table, so neither tostring nor a table
-- dump nor an error can reveal them.  The SK itself is kept only inside
-- the C signer's keyed HMAC state.
local private = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

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
local function sdk_date()
  local now = os.time()
  if now ~= last_time then
    last_time, last_date = now, os.date("!%Y%m%dT%H%M%SZ", now)
  end
  return last_date
end

--- Checks and encodes a query list: the body, or nil and an
-- INVALID_ARGUMENT error naming the first offending item.  The per-item
-- checks run in C, in the same pass that encodes.
local function encode_pairs(list)
  if type(list) ~= "table" then
    return nil, Error.invalid("pairs must be an array of { pipeline_id = …, pipeline_run_id = … }, got "
      .. type(list))
  end
  if #list == 0 then return nil, Error.invalid("pairs is empty") end
  local body, i, field, problem, detail = core.encode_query(list)
  if body then return body end
  if not field then
    return nil, Error.invalid(("pairs[%d] must be a table, got %s"):format(i, problem))
  elseif problem == "missing" then
    return nil, Error.invalid(("pairs[%d].%s is missing"):format(i, field))
  elseif problem == "type" then
    return nil, Error.invalid(("pairs[%d].%s must be 32 letters or digits, got %s"):format(i, field, detail))
  end
  local shown = ("%q"):format(list[i][field]):gsub("\\?\n", "\\n")
  return nil, Error.invalid(("pairs[%d].%s must be 32 letters or digits, got %s"):format(i, field, shown))
end

--- Creates a client.  See README.md for the options; returns nil, err
-- (code INVALID_ARGUMENT) when one is wrong.
function M.new(opts)
  local cfg, secrets = config.build(opts)
  if not cfg then return nil, secrets end
  local priv = { ak = secrets.ak, security_token = secrets.security_token, token = secrets.token }
  priv.redact = { secrets.sk, secrets.security_token, secrets.token }
  if secrets.sk then
    local signer, msg = core.signer(secrets.sk)
    if not signer then return nil, Error.new("INTERNAL", msg) end
    priv.signer = signer
  end
  priv.transport_config = cfg
  local path = QUERY_PATH:format(cfg.project_id)
  local self = setmetatable({
    endpoint = cfg.endpoint,
    region = cfg.region,
    project_id = cfg.project_id,
    user_agent = cfg.user_agent,
    _host = cfg.host,
    _path = path,
    _url = cfg.endpoint .. path,
  }, Client)
  private[self] = priv
  return self
end

function Client:__tostring()
  local priv = private[self]
  local auth
  if not priv then
    auth = "closed"
  elseif priv.token then
    auth = "IAM token"
  else
    auth = "AK/SK, access key " .. priv.ak:sub(1, 4) .. "…"
      .. (priv.security_token and ", temporary" or "")
  end
  return ("codearts.batchresult client (%s, project %s, %s)"):format(self.endpoint, self.project_id, auth)
end

local function live(self)
  local priv = private[self]
  if not priv then error("codearts.batchresult: the client is closed", 3) end
  return priv
end

--- Signs body for this client's endpoint: a request ready for any HTTP
-- client to send.
local function build(self, priv, body)
  local headers = {
    ["Content-Type"] = CONTENT_TYPE,
    Host = self._host,
    ["X-Project-Id"] = self.project_id,
    ["User-Agent"] = self.user_agent,
  }
  if priv.token then
    headers["X-Auth-Token"] = priv.token
  else
    headers["X-Sdk-Date"] = sdk_date()
    headers["X-Security-Token"] = priv.security_token
    local auth, msg = priv.signer:sign(priv.ak, "POST", self._path, "", headers, body)
    if not auth then return nil, Error.invalid(msg) end
    headers.Authorization = auth
  end
  return setmetatable({ method = "POST", url = self._url, headers = headers, body = body }, Request)
end

--- client:prepare(pairs) -> { method, url, headers, body }, fully signed,
-- or nil, err.  Nothing is sent.
function Client:prepare(list)
  local priv = live(self)
  local body, err = encode_pairs(list)
  if not body then return nil, err end
  return build(self, priv, body)
end

--- The error for a non-2xx answer: the API's own code and message when
-- the body is a Huawei-style error, else HTTP.
local function api_error(priv, res)
  local code, message, body_request_id = core.decode_error(res.body)
  if not message then
    local snippet = res.body:gsub("%c+", " "):sub(1, 200)
    message = "the server answered HTTP " .. res.status .. (snippet:find("%S") and (": " .. snippet) or "")
  end
  return Error.new(code or "HTTP", Error.redact(message, priv.redact), {
    status = res.status,
    request_id = res.request_id or body_request_id,
    retryable = res.status == 429 or res.status >= 500,
  })
end

local function transport(priv)
  local t = priv.transport
  if not t then
    local kind, msg
    t, kind, msg = require("codearts.batchresult.transport.curl").new(priv.transport_config)
    if not t then return nil, Error.new(kind, msg) end
    priv.transport = t
  end
  return t
end

--- Sends a prepared request and decodes the answer's result list.
local function execute(priv, req)
  local t, terr = transport(priv)
  if not t then return nil, terr end
  local res, kind, msg = t:send(req)
  if not res then
    return nil, Error.new(kind, Error.redact(msg, priv.redact),
      { retryable = kind == "NETWORK" or kind == "TIMEOUT" })
  end
  if res.status < 200 or res.status > 299 then return nil, api_error(priv, res) end
  local results, why = core.decode_results(res.body, ID_FIELDS[1], ID_FIELDS[2])
  if not results then
    return nil, Error.new("DECODE", why, { status = res.status, request_id = res.request_id })
  end
  return results
end

--- client:query(pairs) -> results, or nil, err.
-- results is an array of { pipeline_id, pipeline_name, pipeline_run_id,
-- status, reason } in the order the API returned them.
function Client:query(list)
  local priv = live(self)
  local req, err = self:prepare(list)
  if not req then return nil, err end
  return execute(priv, req)
end

--- Frees the connection and the key material; the client is unusable
-- afterwards.  Also runs at the end of a Lua 5.4 <close> variable.
function Client:close()
  local priv = private[self]
  if not priv then return end
  if priv.transport then priv.transport:close() end
  if priv.signer then priv.signer:close() end
  private[self] = nil
end
Client.__close = Client.close

--- br.decode(body) -> results, or nil, err (code DECODE): the same shape
-- query returns, for an answer obtained some other way.
function M.decode(body)
  if type(body) ~= "string" then
    return nil, Error.invalid("body must be a string, got " .. type(body))
  end
  local results, why = core.decode_results(body, ID_FIELDS[1], ID_FIELDS[2])
  if not results then return nil, Error.new("DECODE", why) end
  return results
end

local SIGN_FIELDS = { method = "string", path = "string", query = "string", headers = "table",
                      body = "string", ak = "string", sk = "string" }

--- br.sign{ method, path, query, headers, body, ak, sk } -> authorization,
-- details, or nil, err.  Signs exactly the headers given (names holding
-- '_' excepted, as in the official SDKs); X-Sdk-Date must be among them.
-- details holds canonical_request, string_to_sign and signed_headers.
function M.sign(t)
  if type(t) ~= "table" then return nil, Error.invalid("sign takes a table, got " .. type(t)) end
  for k, v in pairs(t) do
    if not SIGN_FIELDS[k] then return nil, Error.invalid("sign: unknown field '" .. tostring(k) .. "'") end
    if type(v) ~= SIGN_FIELDS[k] then
      return nil, Error.invalid("sign: " .. k .. " must be a " .. SIGN_FIELDS[k] .. ", got " .. type(v))
    end
  end
  for _, k in ipairs({ "method", "path", "headers", "ak", "sk" }) do
    if t[k] == nil then return nil, Error.invalid("sign: " .. k .. " is required") end
  end
  if t.sk == "" then return nil, Error.invalid("sign: sk is empty") end
  local signer, msg = core.signer(t.sk)
  if not signer then return nil, Error.new("INTERNAL", msg) end
  local auth
  auth, msg = signer:sign(t.ak, t.method, t.path, t.query or "", t.headers, t.body or "")
  if not auth then
    signer:close()
    return nil, Error.invalid("sign: " .. msg)
  end
  local canonical, sts, signed = signer:last()
  signer:close()
  return auth, { canonical_request = canonical, string_to_sign = sts, signed_headers = signed }
end

return M
