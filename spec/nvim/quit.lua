-- Run by spec/nvim_spec.lua inside `nvim --headless`: starts a run and a
-- query in callback mode, each on a client of its own, and quits the
-- editor (:qa!) while their answers are still to come.  Each callback
-- writes what it was told, as key=value lines (not through
-- harness.finish, which would quit again).
local harness = require "spec.nvim.harness"

harness.guard()

local br = require "codearts.batchresult"
local out = assert(io.open(os.getenv("NVIM_TEST_OUT"), "w"))
local started = harness.now_ms()
local pairs_list = harness.pairs()

local function told(name)
  return function(results, err)
    out:write(name, "_code=", err and err.code or "none", "\n")
    out:write(name, "_results=", results and #results or -1, "\n")
    out:write(name, "_unanswered=", table.concat(err and err.unanswered or {}, ","), "\n")
    out:write(name, "_ms=", math.floor(harness.now_ms() - started), "\n")
    out:flush()
  end
end

assert(harness.client(br):run({ pairs_list[1].pipeline_id }, { callback = told("run") }))
assert(harness.client(br):query(pairs_list, { callback = told("query") }))
vim.defer_fn(function() vim.cmd("qa!") end, 500)
