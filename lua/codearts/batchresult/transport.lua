--- Which transport a call uses: inside nginx, cosockets
-- (transport/ngx.lua); in a call started with Neovim's callback option,
-- libcurl driven from Neovim's loop (transport/nvim.lua); elsewhere the
-- client's own libcurl transport (transport/curl.lua).  Every transport
-- offers the calls documented at the top of transport/curl.lua.
local Error = require "codearts.batchresult.error"
local curl = require "codearts.batchresult.transport.curl"
local nvim = require "codearts.batchresult.transport.nvim"

local M = {}

--- transport/ngx.lua, loaded only where there is an ngx to ask about
-- (nginx, or a test): elsewhere its compiling would cost every program's
-- start.
local function ngx_transport()
  return require "codearts.batchresult.transport.ngx"
end

--- The name of the transport a client's calls use, given its transport
-- option (nil: picked here): "ngx" inside nginx, else "curl" (Neovim's
-- is libcurl's too).
function M.name(option)
  return option or (rawget(_G, "ngx") ~= nil and ngx_transport().inside_nginx() and "ngx") or "curl"
end

--- The transport for one call of client (its private state), or nil,
-- err.  The call owns it and closes it when it ends.  libcurl's comes from
-- the client's handle, kept between calls for its connections; each call
-- gets its own view of it (transport/curl.lua).  In nginx, cosockets, per
-- call: nginx pools the connections itself.  async: the call was started
-- with Neovim's callback option; a call without it waits synchronously,
-- even when made from such a call's on_progress or logger.
function M.for_call(client, async)
  -- (closed by a finalizer since the method began)
  if client.closed then return nil, Error.closed() end
  local cfg = client.cfg
  local name = M.name(cfg.transport)
  local t, kind, msg, option
  if name == "ngx" then
    local cosockets = ngx_transport()
    local ok, why = cosockets.available()
    if ok then ok, why = cosockets.yieldable() end
    if not ok then return nil, Error.new("UNSUPPORTED_CONTEXT", why) end
    t, kind, msg, option = cosockets.new(cfg)
    if not t then return nil, Error.new(kind, msg, { option = option }) end
    -- Another request or a timer may close the client while this call
    -- waits: close() cancels the transport, which wakes it.
    client.ngx_calls = client.ngx_calls or setmetatable({}, { __mode = "k" })
    client.ngx_calls[t] = true
    return t
  end
  if client.curl:inherited() then
    -- This process was forked from the one that made the handle: its
    -- connections are the parent's.  Closing it here only lets go of this
    -- process's descriptors of them (it is never used nor freed here),
    -- so that the parent's close ends them; then start afresh.
    client.curl:close()
    client.curl = curl.new()
    -- A finalizer run by that making may have closed the client, which
    -- closed the old handle only: the new one must not be opened then.
    if client.closed then
      client.curl:close()
      return nil, Error.closed()
    end
  end
  local ok
  ok, kind, msg = client.curl:open(cfg)
  -- (a finalizer that opening ran may have closed the client)
  if not ok then return nil, client.closed and Error.closed() or Error.new(kind, msg) end
  t = client.curl:call()
  if not t then return nil, Error.closed() end
  local resume = async and nvim.resumer()
  if resume then return nvim.new(client.curl, t, resume) end
  return t
end

return M
