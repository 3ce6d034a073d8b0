-- A test double of lua-resty-http's streaming interface (new, set_timeouts,
-- connect{…} with its pool option, request{…} (send_request{…} then
-- read_response{…}), res.body_reader,
-- get_reused_times, set_keepalive, close), as its documentation describes it, for answers
-- with a Content-Length or chunked; its errors for an answer that is not
-- HTTP are the words resty.http's own tests pin.
-- Debian packages no lua-resty-http and this machine reaches no LuaRocks,
-- so the ngx transport's resty.http path is checked against this; it
-- records what it was asked (M.log) for the spec to look at.
local M = { log = {} }

local Client = {}
Client.__index = Client

function M.new()
  return setmetatable({ sock = ngx.socket.tcp() }, Client)
end

function Client:set_timeouts(connect, send, read)
  M.log.timeouts = M.log.timeouts or {}
  table.insert(M.log.timeouts, { connect, send, read })
  self.sock:settimeouts(connect, send, read)
end

function Client:connect(opts)
  M.log.connect = opts
  M.log.connects = (M.log.connects or 0) + 1
  local ok, err = self.sock:connect(opts.host, opts.port, opts.pool and { pool = opts.pool } or nil)
  if not ok then return nil, err end
  if opts.scheme == "https" then
    ok, err = self.sock:sslhandshake(false, opts.ssl_server_name, opts.ssl_verify)
    if not ok then return nil, "ssl handshake failed: " .. tostring(err) end
  end
  return true
end

-- Header names looked up in any case, as resty.http's table does.
local function header_table()
  return setmetatable({}, {
    __index = function(t, k) return rawget(t, type(k) == "string" and k:lower() or k) end,
    __newindex = function(t, k, v) rawset(t, k:lower(), v) end,
  })
end

-- Whether an answer to method with status has a body, as resty.http
-- decides (_should_receive_body).
local function has_body(method, status)
  return method ~= "HEAD" and status ~= 204 and status ~= 304 and not (status >= 100 and status < 200)
end

function Client:send_request(params)
  self.keepalive = true
  M.log.request = { method = params.method, path = params.path }
  local lines = { params.method .. " " .. params.path .. " HTTP/1.1" }
  for k, v in pairs(params.headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = "Content-Length: " .. #(params.body or "")
  local _, err = self.sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (params.body or ""))
  if err then return nil, err end
  return true
end

-- One answer's status line and headers, each line one receive("*l"), as
-- resty.http reads them: an interim 1xx answer is returned as it is.
function Client:read_response(params)
  local status_line, err = self.sock:receive("*l")
  if not status_line then return nil, err end
  if not tonumber(status_line:sub(6, 8)) then
    return nil, "couldn't parse HTTP version from response status line: " .. status_line
  end
  local res = { status = tonumber(status_line:sub(10, 12)), headers = header_table() }
  if not res.status then
    return nil, "couldn't parse status code from response status line: " .. status_line
  end
  while true do
    local line
    line, err = self.sock:receive("*l")
    if not line then return nil, err end
    -- the head ends at the first line that is no header (resty.http's
    -- unanchored "([^:\s]+):\s*(.*)")
    local k, v = line:match("([^:%s]+):%s*(.*)")
    if not k then break end
    -- A repeated header's values in a list, as resty.http keeps them.
    local had = res.headers[k]
    if type(had) == "table" then had[#had + 1] = v
    elseif had then res.headers[k] = { had, v }
    else res.headers[k] = v end
  end
  -- Whether the connection may be kept, as resty.http 0.17 decides it:
  -- Connection lowered through pcall, which a repeated header (a list)
  -- fails, read then as none; set_keepalive closes it when not.
  local version = tonumber(status_line:sub(6, 8))
  local lowered, connection = pcall(string.lower, res.headers["connection"])
  if lowered then
    if (version == 1.1 and connection:find("close", 1, true))
        or (version == 1.0 and not connection:find("keep-alive", 1, true)) then
      self.keepalive = false
    end
  elseif version == 1.0 then
    self.keepalive = false
  end
  local sock = self.sock
  if not has_body(params.method, res.status) then
    res.body_reader = function() return nil end
    return res
  end
  if (res.headers["transfer-encoding"] or ""):lower() == "chunked" then
    -- As resty.http's reader: a chunk longer than the size asked for is
    -- handed over in pieces of that size.
    local left = 0
    res.body_reader = function(size)
      if left == 0 then
        local line, rerr = sock:receive("*l")
        if not line then return nil, rerr end
        left = tonumber(line, 16)
        if not left then return nil, "unable to read chunksize" end
        if left == 0 then
          sock:receive(2)
          return nil
        end
      end
      local chunk, rerr = sock:receive(size and math.min(size, left) or left)
      if not chunk then return nil, rerr end
      left = left - #chunk
      if left == 0 then sock:receive(2) end
      return chunk
    end
    return res
  end
  -- resty.http's tonumber: a repeated header (a list) or a list of
  -- lengths is no length, and the body runs to the connection's end
  local left, ended = tonumber(res.headers["content-length"]), false
  res.body_reader = function(size)
    if left == 0 or ended then return nil end
    local chunk, rerr, partial = sock:receive(left and math.min(size or left, left) or size)
    if not chunk then
      -- without a length, as resty.http: the last bytes with "closed", then nil
      ended = not left
      if ended and rerr == "closed" then return partial, rerr end
      return nil, rerr
    end
    if left then left = left - #chunk end
    return chunk
  end
  return res
end

function Client:request(params)
  local ok, err = self:send_request(params)
  if not ok then return nil, err end
  return self:read_response(params)
end

function Client:get_reused_times()
  return self.sock and self.sock:getreusedtimes()
end

function Client:set_keepalive(...)
  M.log.keepalive = { ... }
  M.log.keepalives = (M.log.keepalives or 0) + 1
  -- (as resty.http: closed, 2, when the answer said it must be)
  if self.keepalive == false then
    local ok, err = self.sock:close()
    if not ok then return nil, err end
    return 2, "connection must be closed"
  end
  return self.sock:setkeepalive(...)
end

function Client:close()
  return self.sock:close()
end

return M
