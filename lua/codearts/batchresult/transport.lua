--- Which transport a call uses: inside nginx, cosockets
-- (transport/ngx.lua); in a call started with Neovim's callback option,
-- libcurl driven from Neovim's loop (transport/nvim.lua); elsewhere the
-- client's own libcurl transport (transport/curl.lua).  Every transport
-- offers the calls documented at the top of transport/curl.lua.
local Error = require "codearts.batchresult.error"
local nvim = require "codearts.batchresult.transport.nvim"

local M = {}

--- Whether this is nginx with ngx_lua (OpenResty or a distribution's).
local function in_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
end

--- The transport for one call of client (its private state), and whether
-- the call owns it (and must close it); or nil, err.  libcurl's is the
-- client's own, kept between calls for its connections; a call made while
-- another is running on the same client (from an on_progress, say) gets a
-- fresh one, so the two never take each other's answers.  In nginx,
-- cosockets: per call, since nginx pools the connections itself and calls
-- of one shared client run side by side.
function M.for_call(client)
  local cfg = client.cfg
  local name = cfg.transport or (in_nginx() and "ngx") or "curl"
  local t, kind, msg
  if name == "ngx" then
    local ngx_transport = require "codearts.batchresult.transport.ngx"
    local ok, why = ngx_transport.available()
    if not ok then return nil, Error.new("UNSUPPORTED_CONTEXT", why) end
    t, kind, msg = ngx_transport.new(cfg)
  else
    local resume = nvim.resumer()
    if resume then
      t, kind, msg = nvim.new(cfg, resume)
    elseif client.busy or not client.transport then
      t, kind, msg = require("codearts.batchresult.transport.curl").new(cfg)
      if t and not client.busy then
        client.transport = t
        return t, false
      end
    else
      return client.transport, false
    end
  end
  if not t then return nil, Error.new(kind, msg) end
  return t, true
end

return M
