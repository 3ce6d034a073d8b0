-- Run by spec/nvim_spec.lua inside `nvim --headless`: tls_verify = false
-- warns through vim.notify in Neovim (stderr is the editor's screen there),
-- at once from the editor's own code, and at the editor's next turn from
-- a libuv callback, where vim.notify may not be called; a vim.notify that
-- raises fails no new().  Writes key=value lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = { notified = 0 }

harness.guard(seen)
local br = require "codearts.batchresult"

local notify = vim.notify
vim.notify = function(message, level)
  seen.notified = seen.notified + 1
  seen["message_" .. seen.notified] = message
  seen["warn_" .. seen.notified] = tostring(level == vim.log.levels.WARN)
  seen["fast_" .. seen.notified] = tostring(vim.in_fast_event())
end

seen.direct = tostring(harness.client(br, { tls_verify = false }) ~= nil)
local timer = uv.new_timer()
timer:start(0, 0, function()
  timer:close()
  seen.from_callback = tostring(harness.client(br, { tls_verify = false }) ~= nil)
  seen.notified_in_callback = seen.notified
  vim.schedule(function()
    vim.schedule(function()
      vim.notify = function() error("a plugin's notify that raises") end
      seen.raising = tostring(pcall(harness.client, br, { tls_verify = false }))
      vim.notify = notify
      harness.finish(seen)
    end)
  end)
end)
