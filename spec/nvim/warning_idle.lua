-- Run by spec/nvim_spec.lua inside `nvim --headless`: a client made with
-- tls_verify = false inside a libuv timer's callback that fell due while
-- another timer's callback was busy (as with a synchronous query), the
-- editor otherwise idle (no key, and an 'updatetime' longer than the
-- run).  A marker timer (the editor's next event) is set 1 s ahead: when
-- it fires, the warning must have been said (warned=1).  Writes key=value
-- lines and quits.
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = { notified = 0 }

local idle = harness.idle(seen)
local br = require "codearts.batchresult"
vim.notify = function() seen.notified = seen.notified + 1 end

idle.run(br, {
  function(_, next)
    idle.once(50, function()
      local busy_until = uv.hrtime() + 200e6
      while uv.hrtime() < busy_until do end
    end)
    idle.once(100, function()
      harness.client(br, { tls_verify = false }):close()
      idle.mark("warned", function() return tostring(seen.notified) end, function() return true end, next)
    end)
  end,
})
