-- Run by spec/nvim_spec.lua inside `nvim --headless`: starts a run and a
-- query in callback mode, each on a client of its own; 500 ms later asks
-- for one more run, and quits the editor (:qa!) in the same turn, while
-- the answers are still to come.  The query's callback, told as the
-- editor quits, asks for a run too.  Each callback writes what it was
-- told, as key=value lines (not through harness.finish, which would quit
-- again).  NVIM_TEST_QUIT_MODE plays other ways to be told as it quits:
--   first      the run asked for with the quit is the session's first
--              call, and the only one
--   leavepre   that run is asked for by a VimLeavePre of the plugin's own,
--              made before any call
--   deleted    the library's autocommand group deleted after a query
--              started, a run then in flight as the editor quits
--   reloaded   the module loaded again (package.loaded cleared, as a
--              plugin reloader does) after a run of the first copy's
--              started: a run of the second copy's then in flight too
local harness = require "spec.nvim.harness"

harness.guard()

local br = require "codearts.batchresult"
local out = assert(io.open(os.getenv("NVIM_TEST_OUT"), "w"))
local started = harness.now_ms()
local pairs_list = harness.pairs()

local function told(name, after)
  return function(results, err)
    out:write(name, "_code=", err and err.code or "none", "\n")
    out:write(name, "_results=", results and #results or -1, "\n")
    local ids = {}
    for i, u in ipairs(err and err.unanswered or {}) do ids[i] = type(u) == "table" and u.pipeline_id or u end
    out:write(name, "_unanswered=", table.concat(ids, ","), "\n")
    out:write(name, "_unsent=", #(err and err.unsent or {}), "\n")
    out:write(name, "_ms=", math.floor(harness.now_ms() - started), "\n")
    out:flush()
    if after then after() end
  end
end

local function last_run()
  assert(harness.client(br):run({ pairs_list[2].pipeline_id }, { callback = told("last") }))
  vim.cmd("qa!")
end

local mode = os.getenv("NVIM_TEST_QUIT_MODE")
if mode == "reloaded" then
  assert(harness.client(br):run({ pairs_list[1].pipeline_id }, { callback = told("run") }))
  for name in pairs(package.loaded) do
    if name:find("^codearts") then package.loaded[name] = nil end
  end
  local again = require "codearts.batchresult"
  assert(again ~= br)
  assert(harness.client(again):run({ pairs_list[2].pipeline_id }, { callback = told("last") }))
  return vim.defer_fn(function() vim.cmd("qa!") end, 500)
end
if mode == "first" then return last_run() end
if mode == "leavepre" then
  vim.api.nvim_create_autocmd("VimLeavePre", { callback = function()
    assert(harness.client(br):run({ pairs_list[2].pipeline_id }, { callback = told("last") }))
  end })
  return vim.cmd("qa!")
end
if mode == "deleted" then
  assert(harness.client(br):query(pairs_list, { callback = function() end }))
  vim.api.nvim_del_augroup_by_name("codearts_batchresult")
  assert(harness.client(br):run({ pairs_list[2].pipeline_id }, { callback = told("last") }))
  return vim.defer_fn(function() vim.cmd("qa!") end, 500)
end
assert(harness.client(br):run({ pairs_list[1].pipeline_id }, { callback = told("run") }))
assert(harness.client(br):query(pairs_list, { callback = told("query", function()
  assert(harness.client(br):run({ pairs_list[3].pipeline_id }, { callback = told("later") }))
end) }))
vim.defer_fn(last_run, 500)
