-- Start and stop the CodeArts ShowBatchRunResult / BatchRunPipeline stand-in
-- from busted specs.
--
--   local standin = require "spec.support.standin"
--   local s = standin.start()      -- or standin.start{ lua = "lua5.1", host = "127.0.0.1" }
--   s.port, s.url, s.pid
--   s:stats()  s:reset()  s:config{ delay_ms = 200 }  s:last()  s:stop()
--   s:config{ omit = { run_id }, fail_ids = { run_id }, fail_status = 429, shuffle = true }
--
-- Runs on any Lua (5.1-5.4, LuaJIT); needs only lua-cjson, a POSIX shell and
-- the curl CLI.  The server itself runs under LuaJIT (lua-http is packaged
-- for Lua 5.1-5.3 only); set STANDIN_LUA to use another interpreter.

local cjson = require "cjson"

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh_ok(cmd)
  local r = os.execute(cmd)
  return r == 0 or r == true
end

local read_file = require("spec.support.files").read

local function sleep(seconds)
  os.execute("sleep " .. string.format("%.3f", seconds))
end

local function pid_alive(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  if s then
    local state = s:match("^%d+ %b() (%a)")
    return state ~= nil and state ~= "Z" and state ~= "X"
  end
  if read_file("/proc/self/stat") then
    return false
  end
  return sh_ok("kill -0 " .. pid .. " 2>/dev/null")
end

-- The pid of this Lua process: the shell io.popen starts is its child.
local my_pid
local function self_pid()
  if not my_pid then
    local p = io.popen("echo $PPID")
    my_pid = p and p:read("*l")
    if p then p:close() end
    assert(my_pid and my_pid:match("^%d+$"), "cannot find the pid of this process")
  end
  return my_pid
end

-- Directory of the stand-in (spec/standin/), found from this file's path.
local function standin_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)[/\\]support[/\\][^/\\]+$")
  if dir then
    return dir .. "/standin"
  end
  return "spec/standin"
end

local Server = {}
Server.__index = Server

-- Run curl; returns status (number), body (string).
local function curl(method, url, body)
  local cmd = { "curl", "-sS", "--max-time", "10", "-X", method,
    "-o", "-", "-w", shell_quote("\n%{http_code}") }
  if body then
    cmd[#cmd + 1] = "-H " .. shell_quote("Content-Type: application/json")
    cmd[#cmd + 1] = "--data-binary " .. shell_quote(body)
  end
  cmd[#cmd + 1] = shell_quote(url)
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  local resp, code = out:match("^(.*)\n(%d%d%d)$")
  if not code then
    error("stand-in control call " .. method .. " " .. url .. " failed: " .. out, 3)
  end
  return tonumber(code), resp
end

function Server:_control(method, path, body)
  local code, resp = curl(method, self.url .. path, body)
  if code ~= 200 then
    error("stand-in control call " .. method .. " " .. path .. " answered " .. code .. ": " .. resp, 3)
  end
  local v = cjson.decode(resp)
  if v == cjson.null then
    return nil
  end
  return v
end

-- { connections, requests, ok, in_flight, max_in_flight,
--   statuses = { ["401"] = n, ... },
--   runs (BatchRunPipeline requests answered 200),
--   run_pipelines (pipeline ids those started),
--   items = { n, ... } (per API request, in arrival order: how many query
--   items or pipeline ids it carried; 0 when its body had no such list) }
-- Numbers decode as floats on Lua 5.3+ (lua-cjson), which compare equal to
-- integers.
function Server:stats()
  return self:_control("GET", "/_standin/stats")
end

-- Zero the counters, forget the last request, restore the default config.
function Server:reset()
  self:_control("POST", "/_standin/reset", "{}")
  return self
end

-- Merge t into the config; returns the whole config.  An unknown key or bad
-- value raises an error.  Keys (default):
--   max_items (200)        most items per request, either API
--   delay_ms (0)           wait before handling each API request (each
--                          request on its own: concurrent ones overlap)
--   clock_offset_s (0)     added to the server's clock
--   shuffle (false)        answer items in model.shuffled order
--   omit ({})              ids left out of answers: pipeline_run_id for
--                          ShowBatchRunResult, pipeline_id for BatchRunPipeline
--   fail_ids ({})          a request carrying any of these ids (same kinds as
--   fail_status (500)      omit) is answered with fail_status
-- An empty list such as omit = {} reaches the server as the JSON object {}
-- (cjson cannot tell an empty array from an empty object); the server takes
-- it as the empty list.
function Server:config(t)
  if t == nil then
    return self:_control("GET", "/_standin/config")
  end
  local body = next(t) == nil and "{}" or cjson.encode(t)
  return self:_control("POST", "/_standin/config", body)
end

-- The last API request: { method, path, query, headers = { lower-name = value }, body },
-- or nil when there was none since the start or the last reset.
function Server:last()
  return self:_control("GET", "/_standin/last")
end

function Server:running()
  return self.pid ~= nil and pid_alive(self.pid)
end

-- Kill the server and wait for it to be gone.  Safe to call twice.
function Server:stop()
  local pid = self.pid
  if not pid then return end
  self.pid = nil
  os.execute("kill " .. pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not pid_alive(pid) then return end
    sleep(0.05)
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not pid_alive(pid) then return end
    sleep(0.05)
  end
  error("stand-in server " .. pid .. " would not stop")
end

-- Start a new, independent stand-in on an ephemeral loopback port.
-- opts: lua (interpreter, default $STANDIN_LUA or "luajit"), host
-- (default "127.0.0.1"), timeout (seconds to wait for it, default 10),
-- stderr (file for the server's log; default: this process's stderr),
-- verbose (also log problems caused by clients; or set STANDIN_VERBOSE=1).
function M.start(opts)
  opts = opts or {}
  local lua = opts.lua or os.getenv("STANDIN_LUA") or "luajit"
  local host = opts.host or "127.0.0.1"
  local timeout = opts.timeout or 10
  local base = os.tmpname() -- creates the file; the server writes base..".ready"
  local ready = base .. ".ready"
  local pidfile = base .. ".pid"
  os.remove(ready)
  local cmd = table.concat({
    shell_quote(lua), shell_quote(standin_dir() .. "/server.lua"),
    "--port", "0",
    "--host", shell_quote(host),
    "--ready-file", shell_quote(ready),
    "--watch-pid", self_pid(),
    (opts.verbose or os.getenv("STANDIN_VERBOSE")) and "--verbose" or "",
    "</dev/null >/dev/null",
    opts.stderr and ("2>>" .. shell_quote(opts.stderr)) or "",
    "& echo $! >" .. shell_quote(pidfile),
  }, " ")
  if not sh_ok(cmd) then
    os.remove(base)
    error("cannot start the stand-in: " .. cmd)
  end
  local pid = (read_file(pidfile) or ""):match("%d+")
  os.remove(pidfile)
  os.remove(base)
  if not pid then
    error("cannot start the stand-in (no pid): " .. cmd)
  end
  local port
  local waited = 0
  while waited < timeout do
    local s = read_file(ready)
    port = s and tonumber(s:match("^(%d+)\n"))
    if port then break end
    if not pid_alive(pid) then
      os.remove(ready)
      error("the stand-in exited before it was ready (command: " .. cmd .. ")")
    end
    sleep(0.05)
    waited = waited + 0.05
  end
  os.remove(ready)
  local self = setmetatable({ pid = pid, port = port, host = host }, Server)
  if not port then
    pcall(Server.stop, self)
    error("the stand-in was not ready after " .. timeout .. " s (command: " .. cmd .. ")")
  end
  self.url = "http://" .. host .. ":" .. port
  return self
end

--- For a busted describe block: one stand-in for the whole block, reset
-- before each test and stopped after the last.  Returns a table whose
-- `server` field holds it once the block's setup has run; `on_start` and
-- `on_stop` (optional) run just after it starts and just before it stops.
function M.for_block(on_start, on_stop)
  -- busted's block functions live in the spec files' environment; its
  -- module hands them out to a helper like this one.
  local busted = require "busted"
  local setup, teardown, before_each = busted.setup, busted.teardown, busted.before_each
  local box = {}
  setup(function()
    box.server = M.start()
    if on_start then on_start(box.server) end
  end)
  teardown(function()
    if on_stop then on_stop(box.server) end
    if box.server then box.server:stop() end
  end)
  before_each(function() box.server:reset() end)
  return box
end

return M
