-- Run by spec/nvim_spec.lua inside `nvim --headless`: one asynchronous
-- query, which the stand-in answers after its delay, and how many times
-- the event loop woke the library meanwhile: every call of a callback the
-- library gave a libuv timer or poll handle (counted here, by wrapping
-- vim.loop's constructors; the library has no hook for it).  Writes
-- key=value lines and quits.
local uv = vim.uv or vim.loop
local out_path = os.getenv("NVIM_TEST_OUT")

local function finish(t)
  local f = assert(io.open(out_path, "w"))
  for k, v in pairs(t) do f:write(k, "=", tostring(v), "\n") end
  f:close()
  vim.cmd("qa!")
end

-- Never hang the test run (this timer is made before the wrapping).
local guard = uv.new_timer()
guard:start(20000, 0, vim.schedule_wrap(function() finish { error = "timed out" } end))

local wakeups = 0
local function counting(new)
  return function(...)
    local handle, err = new(...)
    if not handle then return handle, err end
    return setmetatable({}, { __index = function(_, name)
      if name == "start" then
        return function(_, ...)
          local args = { ... }
          local cb = args[#args]
          args[#args] = function(...)
            wakeups = wakeups + 1
            return cb(...)
          end
          return handle:start(unpack(args))
        end
      end
      return function(_, ...) return handle[name](handle, ...) end
    end })
  end
end
uv.new_timer = counting(uv.new_timer)
uv.new_poll = counting(uv.new_poll)

local br = require "codearts.batchresult"
local client = assert(br.new {
  endpoint = os.getenv("NVIM_TEST_ENDPOINT"), project_id = os.getenv("NVIM_TEST_PROJECT"),
  ak = os.getenv("NVIM_TEST_AK"), sk = os.getenv("NVIM_TEST_SK"),
})
local list = {}
for id in os.getenv("NVIM_TEST_PAIRS"):gmatch("[^,]+") do
  local pid, rid = id:match("^(%w+):(%w+)$")
  list[#list + 1] = { pipeline_id = pid, pipeline_run_id = rid }
end

local started = uv.now()
local ok, err = client:query(list, {
  callback = function(results, qerr)
    finish {
      wakeups = wakeups, elapsed_ms = uv.now() - started,
      error = qerr and tostring(qerr) or "", count = results and #results or -1,
    }
  end,
})
if not ok then finish { error = "query refused: " .. tostring(err) } end
