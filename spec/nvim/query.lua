-- Run by spec/nvim_spec.lua inside `nvim --headless`: starts an asynchronous
-- query while a 50 ms timer counts ticks, then writes what it saw as JSON
-- lines and quits.  Settings come from the environment.
local uv = vim.uv or vim.loop
local out_path = os.getenv("NVIM_TEST_OUT")

local function finish(t)
  local f = assert(io.open(out_path, "w"))
  for k, v in pairs(t) do f:write(k, "=", tostring(v), "\n") end
  f:close()
  vim.cmd("qa!")
end

-- Never hang the test run.
local guard = uv.new_timer()
guard:start(20000, 0, vim.schedule_wrap(function() finish { error = "timed out" } end))

local ok, br = pcall(require, "codearts.batchresult")
if not ok then return finish { error = "require failed: " .. tostring(br) } end

local client = assert(br.new {
  endpoint = os.getenv("NVIM_TEST_ENDPOINT"), project_id = os.getenv("NVIM_TEST_PROJECT"),
  ak = os.getenv("NVIM_TEST_AK"), sk = os.getenv("NVIM_TEST_SK"),
})

local pairs_list = {}
for id in os.getenv("NVIM_TEST_PAIRS"):gmatch("[^,]+") do
  local pid, rid = id:match("^(%w+):(%w+)$")
  pairs_list[#pairs_list + 1] = { pipeline_id = pid, pipeline_run_id = rid }
end

local ticks = 0
local ticker = uv.new_timer()
ticker:start(50, 50, function() ticks = ticks + 1 end)

local started = uv.now()
local returned = client:query(pairs_list, {
  callback = function(results, err)
    ticker:stop()
    local t = {
      elapsed_ms = uv.now() - started, ticks = ticks,
      in_main_loop = pcall(vim.api.nvim_get_current_buf),
      error = err and tostring(err) or "",
      count = results and #results or -1,
    }
    for i, r in ipairs(results or {}) do
      t["r" .. i] = table.concat({ r.pipeline_id, r.pipeline_run_id, r.status, r.reason or "-" }, "|")
    end
    -- Without a callback, a call in Neovim is synchronous, as in plain Lua.
    local sync = client:query({ pairs_list[1] })
    t.sync_count = sync and #sync or -1
    finish(t)
  end,
})
-- The call returned at once, before the answer (which takes a second).
if returned ~= true then finish { error = "query returned " .. tostring(returned) } end
if uv.now() - started > 200 then finish { error = "query blocked for " .. (uv.now() - started) .. " ms" } end
