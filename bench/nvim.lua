--- Target 7: Neovim without polling.  Run by bench/run.sh inside
-- `nvim --headless` (LuaJIT: the module from build/jit/, the clock from
-- bench/out/jit/, both built by make bench): how many times the event
-- loop wakes the library while a query with a callback waits 2 s for its
-- answer, with the transport (libcurl's sockets and timer watched by
-- vim.loop) and with the driver it replaced, which polled libcurl every
-- 5 ms (kept here, as the comparison), in interleaved rounds.  A wake-up
-- is a call of a callback the library gave a libuv timer or poll handle,
-- counted by wrapping vim.loop's constructors (spec/nvim/harness.lua, as
-- nvim_spec counts them).  The answers come from a small HTTP server in
-- this process, on its own handles (not counted), after 2 s; each round
-- uses a new client, so its wait includes connecting.  Target: at most 10
-- wake-ups.  Writes its report to $BENCH_NVIM_OUT and quits.
package.path = "./bench/?.lua;./lua/?.lua;" .. package.path
package.cpath = "./build/jit/?.so;./bench/out/jit/?.so;" .. package.cpath

local uv = vim.uv or vim.loop
local lines = {}
local report = print
print = function(...) -- luacheck: ignore 121
  local parts = { ... }
  for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
  lines[#lines + 1] = table.concat(parts, "\t")
end

local function quit(problem)
  if problem then lines[#lines + 1] = "bench/nvim.lua: " .. problem end
  local f = assert(io.open(assert(os.getenv("BENCH_NVIM_OUT"), "BENCH_NVIM_OUT is not set"), "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  print = report -- luacheck: ignore 121
  vim.cmd("qa!")
end

local common = require "common"
local br = require "codearts.batchresult"
local nvim_transport = require "codearts.batchresult.transport.nvim"

local DELAY_MS, ROUNDS, TARGET = 2000, 2, 10
local new_timer = uv.new_timer -- the server's and the guard's, not counted

local guard = new_timer()
guard:start(60000, 0, vim.schedule_wrap(function() quit("timed out") end))

-- The server: reads each request (head, then Content-Length bytes of
-- body) and answers it, kept alive, DELAY_MS later.
local ANSWER = common.result_body(6)
local function serve(conn)
  local buf = ""
  conn:read_start(function(err, data)
    if err or not data then return conn:close() end
    buf = buf .. data
    while true do
      local head_end = buf:find("\r\n\r\n", 1, true)
      if not head_end then return end
      local length = tonumber(buf:sub(1, head_end):lower():match("\ncontent%-length:%s*(%d+)")) or 0
      if #buf < head_end + 3 + length then return end
      buf = buf:sub(head_end + 4 + length)
      local later = new_timer()
      later:start(DELAY_MS, 0, function()
        later:close()
        if not conn:is_closing() then
          conn:write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #ANSWER
            .. "\r\n\r\n" .. ANSWER)
        end
      end)
    end
  end)
end
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(16, function()
  local conn = uv.new_tcp()
  server:accept(conn)
  serve(conn)
end))
local port = server:getsockname().port

-- Every callback of a timer or poll handle made from here on is counted.
local wakeups = require("spec.nvim.harness").count_wakeups()

-- The driver the transport replaced: whenever the call would wait, it
-- yields, and a 5 ms timer resumes it to run libcurl without waiting.
local Polling = {}
Polling.__index = Polling
function Polling:start(req, opts) return self.inner:start(req, opts) end
function Polling:ack() self.inner:ack() end
function Polling:cancel() self.inner:cancel() end
function Polling:close() self.inner:close() end
function Polling:wait(seconds)
  local due = seconds and common.now() + seconds
  while true do
    local token, res, kind, msg, not_sent = self.inner:wait(0)
    if token then return token, res, kind, msg, not_sent end
    if res == "closed" or (res == "idle" and not due) then return nil, res end
    if due and common.now() >= due then return nil, res end
    local timer = uv.new_timer()
    timer:start(5, 0, function()
      timer:close()
      self.resume()
    end)
    nvim_transport.park()
  end
end
local transport_new = nvim_transport.new
local drivers = {
  polling = function(_, inner, resume) return setmetatable({ inner = inner, resume = resume }, Polling) end,
  ours = transport_new,
}

-- One query with each driver per round; then(counts) with the counts.
local counts = { polling = {}, ours = {} }
local order = { "polling", "ours" }
local function round(r, step, done)
  if r > ROUNDS then return done() end
  local name = order[step]
  if not name then return round(r + 1, 1, done) end
  nvim_transport.new = drivers[name]
  local client = assert(br.new {
    endpoint = "http://127.0.0.1:" .. port, project_id = common.PROJECT_ID, ak = common.AK, sk = common.SK,
  })
  local before, started = wakeups(), common.now()
  assert(client:query(common.pairs(6), { callback = function(results, err)
    local n, elapsed = wakeups() - before, common.now() - started
    client:close()
    if not results then return quit(name .. ": the query failed: " .. tostring(err)) end
    if #results ~= 6 or elapsed < DELAY_MS / 1000 then return quit(name .. ": not the answer expected") end
    table.insert(counts[name], n)
    vim.schedule(function() round(r, step + 1, done) end)
  end }))
end

round(1, 1, function()
  nvim_transport.new = transport_new
  local function most(t) return math.max(unpack(t)) end
  local polling, ours = most(counts.polling), most(counts.ours)
  print(("7. Neovim: wake-ups while a query waits %.0f s for its answer (nvim --headless, %s, %d rounds)")
    :format(DELAY_MS / 1000, common.LUA_NAME, ROUNDS))
  print(("   %-58s %5d   (rounds: %s)"):format("polling libcurl every 5 ms (the transport before)", polling,
    table.concat(counts.polling, ", ")))
  print(("   %-58s %5d   (rounds: %s)   target <= %d"):format("ours: libcurl's sockets and timer watched by vim.loop",
    ours, table.concat(counts.ours, ", "), TARGET))
  print("      (the most in any round; each round a new client, so it connects too)")
  common.verdict(7, "Neovim wake-ups", ours <= TARGET,
    ("%d wake-ups during a 2 s wait, target <= %d; polling woke %d times"):format(ours, TARGET, polling))
  quit()
end)
