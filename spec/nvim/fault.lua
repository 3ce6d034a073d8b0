-- Run by spec/faults_spec.lua inside `nvim --headless`, once per row of the
-- fault table (spec/support/faults.lua): runs row $FAULT_ROW in Neovim's
-- callback mode against the stand-in, writes the outcome as JSON to
-- $FAULT_OUT and quits.  The library comes from the checkout: lua/ and
-- the module built for LuaJIT (build/jit/); nvim runs in the checkout.
local uv = vim.uv or vim.loop
package.path = "./lua/?.lua;./?.lua;" .. package.path
package.cpath = "./build/jit/?.so;" .. package.cpath

local function finish(outcome)
  local f = assert(io.open(os.getenv("FAULT_OUT"), "w"))
  f:write(vim.json.encode(outcome))
  f:close()
  vim.cmd("qa!")
end

-- Never hang the test run.
local guard = uv.new_timer()
guard:start(20000, 0, vim.schedule_wrap(function() finish { ok = false, code = "HUNG" } end))

local faults = require "spec.support.faults"
local br = require "codearts.batchresult"
local row = faults.rows[tonumber(os.getenv("FAULT_ROW"))]
faults.run(br, row, { standin = os.getenv("STANDIN_URL"), dead = os.getenv("DEAD_URL") }, finish, true)
