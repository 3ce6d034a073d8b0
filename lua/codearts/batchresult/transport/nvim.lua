--- Neovim's transport: the libcurl transport, driven from Neovim's event
-- loop instead of blocking in it.  The call runs in a coroutine; whenever
-- it would wait, it yields, and a libuv timer resumes it a few
-- milliseconds later to let libcurl move the transfers on (never waiting
-- inside libcurl: curl_multi_wait with a zero timeout).  So the editor
-- keeps drawing and typing while a query is in flight.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"

local M = {}

-- Calls running asynchronously: coroutine -> the function that resumes it.
local resumers = setmetatable({}, { __mode = "k" })

local POLL_MS = 5

local Transport = {}
Transport.__index = Transport

--- Whether this Lua is Neovim's (vim.uv since 0.10, vim.loop before).
function M.available()
  local vim = rawget(_G, "vim")
  return type(vim) == "table" and (vim.uv or vim.loop) ~= nil
end

--- The function that resumes the running coroutine when it runs a call
-- started with run_async; nil elsewhere.
function M.resumer()
  local co = coroutine.running()
  return co and resumers[co]
end

--- Runs body(), a call or two, in a coroutine driven by Neovim's event
-- loop, and hands what it returns to callback on the main loop.  true, or
-- nil, err outside Neovim.  body reports a failing on_progress or logger
-- as an error value (CALLBACK, see call.lua); anything it raises reaches
-- callback as INTERNAL.
function M.run_async(callback, body)
  if not M.available() then
    return nil, Error.invalid("the callback option needs Neovim's event loop (vim.uv or vim.loop)")
  end
  local co
  local function resume()
    local ok, e = coroutine.resume(co)
    if not ok then
      vim.schedule(function() callback(nil, Error.new("INTERNAL", tostring(e))) end)
    end
  end
  co = coroutine.create(function()
    local results, err = body()
    vim.schedule(function() callback(results, err) end)
  end)
  resumers[co] = resume
  resume()
  return true
end

--- inner: the call's libcurl transport (transport/curl.lua's
-- handle:call()).  resume() is called (from the event loop) to continue
-- the coroutine that runs the call.
function M.new(inner, resume)
  return setmetatable({ inner = inner, resume = resume, uv = vim.uv or vim.loop }, Transport)
end

function Transport:start(req, opts)
  return self.inner:start(req, opts)
end

--- Gives the event loop back until the timer fires.
function Transport:pause()
  local timer = self.uv.new_timer()
  timer:start(POLL_MS, 0, function()
    timer:close()
    self.resume()
  end)
  coroutine.yield()
end

function Transport:wait(seconds)
  local due = seconds and core.now() + seconds
  while true do
    local token, res, kind, msg, not_sent = self.inner:wait(0)
    if token then return token, res, kind, msg, not_sent end
    if res == "closed" or (res == "idle" and not due) then return nil, res end
    if due and core.now() >= due then return nil, res end
    self:pause()
  end
end

function Transport:cancel()
  self.inner:cancel()
end

function Transport:close()
  self.inner:close()
end

return M
