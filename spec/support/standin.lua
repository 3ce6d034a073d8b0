-- Start and stop the CodeArts ShowBatchRunResult / BatchRunPipeline stand-in
-- from busted specs.
--
--   local standin = require "spec.support.standin"
--   local s = standin.start()      -- or standin.start{ lua = "lua5.1", host = "127.0.0.1" }
--   s.port, s.url, s.pid
--   s:stats()  s:reset()  s:config{ delay_ms = 200 }  s:last()  s:stop()
--   s:config{ omit = { run_id }, fail_ids = { run_id }, fail_status = 429, shuffle = true }
--   s:config{ fail_first = 2, retry_after = "1" }   -- and the other fault modes
--
--   local ca = standin.make_ca()   -- { ca =, ca_key =, cert =, key =, dir = } PEM files
--   local s = standin.start{ tls = ca }   -- HTTPS; s.url = "https://127.0.0.1:PORT"
--   standin.remove_ca(ca)
--
-- Runs on any Lua (5.1-5.4, LuaJIT); needs only lua-cjson, a POSIX shell,
-- env(1), a C compiler (spec/support/control.c: the control calls over
-- plain HTTP) and the curl CLI (an HTTPS stand-in's control calls, and the
-- shell command of stats_reach; make_ca: the openssl CLI).  The server itself
-- runs under LuaJIT (lua-http is packaged for Lua 5.1-5.3 only); set
-- STANDIN_LUA to use another interpreter.
--
-- The specs may run with LD_PRELOAD=<libasan.so> (the C module under
-- AddressSanitizer).  Every program started here is not that module, so
-- each runs under M.clean_env: a preloaded sanitizer would slow the
-- stand-in down, and its leak report at exit could turn curl's or
-- openssl's status into a failure.

local cjson = require "cjson"
local model = require "spec.standin.model"

local M = {}

--- Prefix for a shell command whose program must not inherit the
-- sanitizer set-up of the Lua process running the specs.  The shell that
-- io.popen and os.execute start still inherits it; it only runs this.
M.clean_env = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS "
local CLEAN = M.clean_env

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh_ok(cmd)
  local r = os.execute(cmd)
  return r == 0 or r == true
end

local read_file = require("spec.support.files").read

local function sleep(seconds)
  os.execute(CLEAN .. "sleep " .. string.format("%.3f", seconds))
end

--- spec/support/control.c, built at first use: the control calls over
-- plain HTTP, without starting a program.
local control
local function helper()
  control = control or require("spec.support.clib")("control")
  return control
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

-- curl's options for a server started with start's tls option (nil: plain
-- HTTP, none): trust tls.ca when given, else skip verification (-k), since
-- a control call is about the stand-in's state, not its certificate.
local function tls_options(tls)
  if not tls then
    return ""
  end
  if tls.ca then
    return "--cacert " .. shell_quote(tls.ca)
  end
  return "-k"
end
M.curl_tls_options = tls_options

-- Run curl; returns status (number), body (string).
local function curl(method, url, body, tls)
  local cmd = { CLEAN .. "curl", "-q", "-sS", "--max-time", "10", "-X", method,
    "-o", "-", "-w", shell_quote("\n%{http_code}"), tls_options(tls) }
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
  local code, resp
  if self.tls then
    code, resp = curl(method, self.url .. path, body, self.tls)
  else
    code, resp = helper().request(self.host, tostring(self.port), method, path, body)
    if not code then error("stand-in control call " .. method .. " " .. self.url .. path .. " failed: " .. resp, 2) end
  end
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
--   runs (BatchRunPipeline requests answered 200, truncate_first's cut
--   answers included: their runs were started),
--   run_pipelines (pipeline ids those started),
--   items = { n, ... } (per API request, in arrival order: how many query
--   items or pipeline ids it carried; 0 when its body had no such list),
--   faults = { reset_first = n, banner_first = n, fail_first = n,
--   garbage_first = n, echo_first = n, truncate_first = n,
--   stall_body_first = n } (requests each fault mode took since the reset),
--   routes = { result = n, run = n, other = n } (API requests per route,
--   counted on arrival, those a fault mode took included),
--   stale_written (stale_answer_first's second answers written out whole:
--   a spec waits for it, not for a time, before its next call) }
-- ok counts the full, proper 200 answers: not garbage_first's nor the
-- truncated ones, which statuses["200"] counts (a reset counts in neither).
-- Numbers decode as floats on Lua 5.3+ (lua-cjson), which compare equal to
-- integers.
function Server:stats()
  return self:_control("GET", "/_standin/stats")
end

--- A shell command that succeeds once the stand-in's stats give key a
-- number of at least n: a number of the stats' top level ("requests",
-- "run_pipelines"), a route's count ("result", "run") or a status's
-- ("503"), each key named once in the stats.  For a spec that waits on
-- what the server saw rather than for a time (spec/support/cli.lua's
-- interrupt_when).
function Server:stats_reach(key, n)
  assert(type(key) == "string" and key:match("^[%w_]+$"), "a key of the stats")
  local url = self.url .. "/_standin/stats"
  return ("n=$(%scurl -q -sS --max-time 5 %s %s | grep -o '\"%s\":[0-9]*' | head -n 1 | cut -d: -f2); "
    .. "[ \"${n:-0}\" -ge %d ]"):format(CLEAN, tls_options(self.tls), shell_quote(url), key, n)
end

-- Zero the counters, forget the last request, restore the default config.
function Server:reset()
  self:_control("POST", "/_standin/reset", "{}")
  return self
end

-- Merge t into the config; returns the whole config.  An unknown key or bad
-- value raises an error.  Keys (default):
--   max_items (200)        most items per request, either API
--   delay_ms (0)           answer each API request that long after it
--                          arrived (each on its own: concurrent ones overlap)
--   clock_offset_s (0)     added to the server's clock
--   shuffle (false)        answer items in model.shuffled order
--   omit ({})              ids left out of answers: pipeline_run_id for
--                          ShowBatchRunResult, pipeline_id for BatchRunPipeline
--   fail_ids ({})          a request carrying any of these ids (same kinds as
--   fail_status (500)      omit) is answered with fail_status
-- Fault modes, for retries and limits (the order they apply in, and what
-- each looks like on the wire: spec/standin/server.lua's header).  Each
-- acts once the whole request has been read:
--   reset_first (0)        the first N API requests: connection closed, no answer
--   banner_first (0)       the next first N: banner written instead of an
--   banner (an SSH line)   answer, then the connection closed
--   fail_first (0)         the next first N: answered fail_first_status
--   fail_first_status (503)
--   retry_after (null)     Retry-After value on fail_first and fail_ids
--                          answers, sent as it is; cjson.null sends none
--   garbage_first (0)      the next first N: 200 with a body that is not JSON
--   echo_first (0)         the next first N: echo_status (401) with a body
--   echo_status (401)      quoting the request's tokens and the SK of its AK
--   echo_form ("json")     in that form: json, json_slash, json_u, percent,
--                          percent_lower, percent_one, html, truncated,
--                          upper, latin1 or latin1_percent
--   truncate_first (0)     the first N 200 answers: cut after half the body
--   stall_body_first (0)   the next first N 200 answers: half the body, then
--   stall_ms (1000)        nothing for stall_ms, then the rest
--   huge_body_bytes (0)    every 200 answer padded to at least this size
--   fault_route (null)     "result" or "run": the modes above take only
--                          that route's requests (null: any API request)
-- A mode's count starts again at a reset and whenever config sets its key.
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

-- Over TLS, offers HTTP/2 to new handshakes from now on (until a reset);
-- t.reset_run = CODE also refuses every BatchRunPipeline request once read
-- whole: RST_STREAM CODE over HTTP/2, a closed connection over HTTP/1.1.
function Server:h2(t)
  return self:_control("POST", "/_standin/h2", next(t) == nil and "{}" or cjson.encode(t))
end

--- on: answers only the first API request on each connection from now on
-- (until a reset), closing the connection at any later one, read whole,
-- without an answer (spec/standin/server.lua's one_per_conn).
function Server:one_per_conn(on)
  return self:_control("POST", "/_standin/one_per_conn", cjson.encode({ on = on }))
end

-- The last API request: { method, path, query, headers = { lower-name = value }, body,
-- version = "1.1" | "2" }, or nil when there was none since the start or the last reset.
function Server:last()
  return self:_control("GET", "/_standin/last")
end

function Server:running()
  return self.pid ~= nil and pid_alive(self.pid)
end

-- Options for a client of this server: the seed project and the permanent
-- AK/SK, then extra's members (a token leaves the AK/SK out).  A new table
-- each time.
function Server:options(extra)
  local creds = model.credentials.permanent
  local o = { endpoint = self.url, project_id = model.seed_project, ak = creds.ak, sk = creds.sk }
  if extra and extra.token then o.ak, o.sk = nil, nil end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
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
-- verbose (also log problems caused by clients; or set STANDIN_VERBOSE=1),
-- tls = { cert = PEM file, key = PEM file, ca = PEM file or nil } (serve
-- HTTPS only; s.url is then https://, and s.tls is this table: control
-- calls trust ca, or with no ca skip verification; make_ca makes all three),
-- program (another program of spec/standin/ that takes the same command
-- line: "connect_proxy.lua", an HTTP CONNECT proxy; then s.url is its URL,
-- and only stop is for it), refuse (for the proxy: the status it answers
-- every CONNECT with, opening no tunnel).
function M.start(opts)
  opts = opts or {}
  local lua = opts.lua or os.getenv("STANDIN_LUA") or "luajit"
  local host = opts.host or "127.0.0.1"
  local timeout = opts.timeout or 10
  local base = os.tmpname() -- creates the file; the server writes base..".ready"
  local ready = base .. ".ready"
  local pidfile = base .. ".pid"
  os.remove(ready)
  local tls = opts.tls
  if tls then
    assert(type(tls.cert) == "string" and type(tls.key) == "string", "tls needs cert and key files")
  end
  local cmd = table.concat({
    CLEAN .. shell_quote(lua), shell_quote(standin_dir() .. "/" .. (opts.program or "server.lua")),
    "--port", "0",
    "--host", shell_quote(host),
    "--ready-file", shell_quote(ready),
    "--watch-pid", self_pid(),
    opts.refuse and ("--refuse " .. math.floor(opts.refuse)) or "",
    (opts.verbose or os.getenv("STANDIN_VERBOSE")) and "--verbose" or "",
    tls and ("--tls-cert " .. shell_quote(tls.cert) .. " --tls-key " .. shell_quote(tls.key)) or "",
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
  local self = setmetatable({ pid = pid, port = port, host = host, tls = tls }, Server)
  if not port then
    pcall(Server.stop, self)
    error("the stand-in was not ready after " .. timeout .. " s (command: " .. cmd .. ")")
  end
  -- (an IPv6 address in brackets, as a URL gives one)
  local in_url = host:find(":", 1, true) and "[" .. host .. "]" or host
  self.url = (tls and "https://" or "http://") .. in_url .. ":" .. port
  return self
end

--- For a busted describe block: one stand-in for the whole block, reset
-- before each test and stopped after the last.  Returns a table whose
-- `server` field holds it once the block's setup has run; `on_start` and
-- `on_stop` (optional) run just after it starts and just before it stops.
-- start_opts (optional) are M.start's options, or a function that returns
-- them, called in the setup (so that e.g. make_ca runs only when the block
-- does).
function M.for_block(on_start, on_stop, start_opts)
  -- busted's block functions live in the spec files' environment; its
  -- module hands them out to a helper like this one.
  local busted = require "busted"
  local setup, teardown, before_each = busted.setup, busted.teardown, busted.before_each
  local box = {}
  setup(function()
    local opts = start_opts
    if type(opts) == "function" then opts = opts() end
    box.server = M.start(opts)
    if on_start then on_start(box.server) end
  end)
  teardown(function()
    if on_stop then on_stop(box.server) end
    if box.server then box.server:stop() end
  end)
  before_each(function() box.server:reset() end)
  return box
end

-- Run a command under clean_env; returns true, or nil and its output.
local function run_clean(cmd)
  local p = assert(io.popen(CLEAN .. cmd .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local text, status = out:match("^(.-)exit=(%d+)%s*$")
  if status == "0" then
    return true
  end
  return nil, text or out
end

-- openssl's settings for make_ca, so that the system's openssl.cnf (its
-- defaults, its extensions) plays no part.
local OPENSSL_CNF = [[
[req]
distinguished_name = dn
prompt = no
[dn]
CN = codearts-batchresult stand-in
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
]]

local serials = 0

--- Make a throw-away CA and a server certificate it signs for 127.0.0.1
-- and localhost (subjectAltName IP:127.0.0.1, DNS:localhost), with the
-- openssl CLI: EC P-256 keys, valid for a week from now, nothing asked.
-- dir (optional; default: a new temporary directory) receives ca.pem,
-- ca.key, server.pem and server.key.  Returns { ca =, ca_key =, cert =,
-- key =, dir = } (paths), which start's tls option takes as it is; raises
-- an error with openssl's output when a step fails.  remove_ca undoes it.
function M.make_ca(dir)
  local made_dir = false
  if not dir then
    local p = assert(io.popen(CLEAN .. "mktemp -d 2>/dev/null"))
    dir = p:read("*l")
    p:close()
    assert(dir and dir ~= "", "make_ca: mktemp -d failed")
    made_dir = true
  end
  local function path(name) return dir .. "/" .. name end
  local t = {
    ca = path("ca.pem"), ca_key = path("ca.key"),
    cert = path("server.pem"), key = path("server.key"),
    dir = dir, made_dir = made_dir,
  }
  local cnf, csr = path("standin-openssl.cnf"), path("server.csr")
  local f = assert(io.open(cnf, "w"))
  f:write(OPENSSL_CNF)
  f:close()
  -- a new serial each time: a client that caches certificates by issuer
  -- and serial must not take one run's certificate for another's
  serials = serials + 1
  local serial = string.format("0x%x%04x", os.time(), serials % 65536)
  local q = shell_quote
  local steps = {
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(t.ca_key),
    "openssl req -new -x509 -config " .. q(cnf) .. " -extensions ca_ext -key " .. q(t.ca_key)
      .. " -sha256 -days 7 -subj " .. q("/CN=codearts-batchresult stand-in test CA") .. " -out " .. q(t.ca),
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(t.key),
    "openssl req -new -config " .. q(cnf) .. " -key " .. q(t.key)
      .. " -subj " .. q("/CN=127.0.0.1") .. " -out " .. q(csr),
    "openssl x509 -req -in " .. q(csr) .. " -CA " .. q(t.ca) .. " -CAkey " .. q(t.ca_key)
      .. " -set_serial " .. serial .. " -sha256 -days 7 -extfile " .. q(cnf)
      .. " -extensions server_ext -out " .. q(t.cert),
  }
  local failed
  for _, cmd in ipairs(steps) do
    local ok, out = run_clean(cmd)
    if not ok then
      failed = "make_ca: " .. cmd .. " failed: " .. tostring(out)
      break
    end
  end
  os.remove(cnf)
  os.remove(csr)
  if failed then
    M.remove_ca(t)
    error(failed, 2)
  end
  return t
end

--- Remove what make_ca made: its four files, and its directory when it
-- made that too.
function M.remove_ca(t)
  for _, k in ipairs({ "ca", "ca_key", "cert", "key" }) do
    if t[k] then os.remove(t[k]) end
  end
  if t.made_dir then
    os.remove(t.dir) -- empty by now; remove(3) takes an empty directory
  end
end

return M
