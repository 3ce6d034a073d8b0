-- What the scripts that spec/nvim_spec.lua runs inside `nvim --headless`
-- share: their settings from the environment (NVIM_TEST_*), a way to write
-- what they saw as key=value lines and quit, a guard against hanging,
-- a count of the library's wake-ups (bench/nvim.lua counts with it too),
-- and the stand-in's counters.
local uv = vim.uv or vim.loop

local M = {}

--- Writes the key=value lines of each table given to $NVIM_TEST_OUT, then
-- quits Neovim.
function M.finish(...)
  local f = assert(io.open(os.getenv("NVIM_TEST_OUT"), "w"))
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do f:write(k, "=", tostring(v), "\n") end
  end
  f:close()
  vim.cmd("qa!")
end

--- Never hang the test run: after 20 s, finish with error=timed out and
-- what `seen` holds by then.
function M.guard(seen)
  local timer = uv.new_timer()
  timer:start(20000, 0, vim.schedule_wrap(function() M.finish({ error = "timed out" }, seen) end))
end

--- Milliseconds on a monotonic clock read now.  uv.now() is the time the
-- current loop iteration began, which counts as elapsed whatever ran
-- earlier in the iteration (a require, a client's creation).
function M.now_ms()
  return uv.hrtime() / 1e6
end

--- For cases run one after the other in an editor left idle (no
-- vim.wait, no key, and an 'updatetime' longer than the run, set here:
-- its wait, every 4 s by default, would wake the editor now and then).
-- The handles a case makes are closed when it is over, not in their
-- callbacks: a handle closing makes the loop's next wait for events a
-- mere look, which woke the editor.  Guarded (M.guard).
--   idle.keep(h)                        h closed when the case is over
--   idle.once(ms, fn)                   fn in ms from now
--   idle.mark(name, said, over, next)   seen[name] = said() 1 s from now,
--                                       the marker standing for the
--                                       editor's next event; then next()
--                                       once over() tells the case is over
--   idle.run(br, cases)                 each case(client, next) in turn,
--                                       then finish(seen)
function M.idle(seen)
  M.guard(seen)
  vim.o.updatetime = 60000
  local idle, handles = {}, {}
  function idle.keep(h)
    handles[#handles + 1] = h
    return h
  end
  -- A timer counts from the loop's clock, read when its iteration began
  -- (a synchronous query behind, in a libuv callback): the lag is added,
  -- not the clock updated, which would have the loop run timers that
  -- fell due meanwhile right away, where a plugin's would run them at its
  -- next turn.
  function idle.once(ms, fn)
    idle.keep(uv.new_timer()):start(ms + math.max(0, math.floor(M.now_ms() - uv.now())), 0, fn)
  end
  function idle.mark(name, said, over, next)
    idle.once(1000, function()
      seen[name] = said()
      local function wait() if over() then next() else idle.once(50, wait) end end
      wait()
    end)
  end
  function idle.run(br, cases)
    local function run(i)
      if not cases[i] then return M.finish(seen) end
      local c = M.client(br)
      cases[i](c, function()
        c:close()
        for j, h in ipairs(handles) do
          h:close()
          handles[j] = nil
        end
        vim.schedule(function() run(i + 1) end)
      end)
    end
    run(1)
  end
  return idle
end

--- A client of the stand-in, with the options in extra too.
function M.client(br, extra)
  local o = { endpoint = os.getenv("NVIM_TEST_ENDPOINT"), project_id = os.getenv("NVIM_TEST_PROJECT"),
              ak = os.getenv("NVIM_TEST_AK"), sk = os.getenv("NVIM_TEST_SK") }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(br.new(o))
end

--- The pairs of $NVIM_TEST_PAIRS ("PIPELINE_ID:RUN_ID,…").
function M.pairs()
  local list = {}
  for id in os.getenv("NVIM_TEST_PAIRS"):gmatch("[^,]+") do
    local pid, rid = id:match("^(%w+):(%w+)$")
    list[#list + 1] = { pipeline_id = pid, pipeline_run_id = rid }
  end
  return list
end

--- From now on, counts every call of a callback given to a libuv timer or
-- poll handle made afterwards (by wrapping vim.loop's constructors): the
-- times the event loop wakes the library, which has no hook for it.
-- Returns a function that tells the count so far.
function M.count_wakeups()
  local n = 0
  local function counting(new)
    return function(...)
      local handle, err = new(...)
      if not handle then return handle, err end
      return setmetatable({}, { __index = function(_, name)
        if name ~= "start" then return function(_, ...) return handle[name](handle, ...) end end
        return function(_, ...)
          local args = { ... }
          local cb = args[#args]
          args[#args] = function(...)
            n = n + 1
            return cb(...)
          end
          return handle:start(unpack(args))
        end
      end })
    end
  end
  uv.new_timer, uv.new_poll = counting(uv.new_timer), counting(uv.new_poll)
  return function() return n end
end

-- The stand-in's counters (spec/support/standin.lua's Server:stats): now,
-- while the editor waits, or later to fn, while the editor runs.
local function stats_command()
  return { "curl", "-q", "-sS", "--max-time", "5", os.getenv("NVIM_TEST_ENDPOINT") .. "/_standin/stats" }
end

function M.stats_now()
  local p = assert(io.popen(table.concat(stats_command(), " ")))
  local s = vim.json.decode(p:read("*a"))
  p:close()
  return s
end

function M.stats_later(fn)
  assert(vim.fn.jobstart(stats_command(), { stdout_buffered = true,
    on_stdout = function(_, lines) fn(vim.json.decode(table.concat(lines, "\n"))) end }) > 0)
end

--- Calls fn once the stand-in's count key reaches n; the editor runs
-- meanwhile, so that the calls go on.
function M.once_counted(key, n, fn)
  M.stats_later(function(s)
    if s[key] >= n then return fn() end
    vim.defer_fn(function() M.once_counted(key, n, fn) end, 10)
  end)
end

--- Keeps the editor busy until the stand-in's count key reaches n.
function M.busy_until_counted(key, n)
  while M.stats_now()[key] < n do uv.sleep(10) end
end

return M
