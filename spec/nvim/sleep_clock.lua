-- Run by spec/nvim_spec.lua inside `nvim --headless`: a query whose first
-- attempt the stand-in answers 503 with Retry-After: 1, on a client whose
-- logger keeps the editor busy 300 ms, so that the call then sleeps for
-- its retry's turn late in a turn of the event loop.  Every timer made
-- from then on is timed from its start to its callback:
--   early_ms  the most any fired before its timeout was up (libuv times
--             a timer from the loop's clock, read when the turn began)
--   count     results (6)
-- Writes key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"

local early = 0
local new_timer = uv.new_timer
uv.new_timer = function()
  local timer = new_timer()
  return setmetatable({}, { __index = function(_, name)
    if name ~= "start" then return function(_, ...) return timer[name](timer, ...) end end
    return function(_, timeout, rep, cb)
      local started = harness.now_ms()
      return timer:start(timeout, rep, function(...)
        early = math.max(early, timeout - (harness.now_ms() - started))
        return cb(...)
      end)
    end
  end })
end

local client = harness.client(br, { logger = function()
  local t = harness.now_ms()
  while harness.now_ms() - t < 300 do end
end })
assert(client:query(harness.pairs(), { callback = function(results, err)
  seen.count = results and #results or tostring(err)
  seen.early_ms = math.floor(early)
  harness.finish(seen)
end }))
