-- Start a real nginx with ngx_lua for specs, and talk to it with the curl CLI.
--
--   local nginx = require "spec.support.nginx"
--   local n = nginx.start {
--     locations = { "location = /q { content_by_lua_block { ngx.say('hi') } }" },
--     http = "lua_shared_dict box 1m;",          -- more http-level directives
--     env = { STANDIN_URL = s.url },             -- os.getenv() inside nginx
--   }
--   nginx.start { config = function(prefix, port) return text end, env = {…} }
--                                              -- a whole config file of one's own
--   nginx.start { tls = { cert = f, key = f }, … } -- also HTTPS on 127.0.0.1 and [::1] (where the loopback has it)
--   n.url, n.port, n.prefix, n.tls_port (with tls)
--   local status, body = n:get("/q")
--   local answers, seconds = n:get_many({ "/q", "/q", "/q" })  -- at once
--   n:error_log()  n:stop()
--
-- Debian 12's nginx with its dynamic ngx_lua (libnginx-mod-http-lua, on
-- OpenResty's LuaJIT) is enough.  That ngx_lua loads resty.core at start
-- and refuses to run without it; Debian's lua-resty-core (a dependency of
-- libnginx-mod-http-lua, with lua-resty-lrucache) puts it in
-- /usr/share/lua/5.1, which LuaJIT searches by default.
--
-- Inside nginx, `require` finds the checkout's lua/ and spec/ modules and
-- the C module built for LuaJIT (build/jit/, `make LUA_VERSION=jit`).
--
-- nginx runs as a daemon with one worker and everything (config, pid, logs,
-- temp files) in a fresh temporary prefix; a watchdog stops it should the
-- Lua process running the specs die first.  Like every program the specs
-- start, it runs without the sanitizer set-up (standin.clean_env).

local files = require "spec.support.files"
local shell = require "spec.support.shell"
local standin = require "spec.support.standin"

local M = {}

local CLEAN = standin.clean_env
-- Shell commands run clean of the sanitizer set-up (spec.support.shell).
local run, shell_quote = shell.run, shell.quote

local function sleep(seconds)
  os.execute(CLEAN .. "sleep " .. string.format("%.3f", seconds))
end

local function pid_alive(pid)
  local s = files.read("/proc/" .. pid .. "/stat")
  if s then
    local state = s:match("^%d+ %b() (%a)")
    return state ~= nil and state ~= "Z" and state ~= "X"
  end
  return (select(2, run("kill -0 " .. pid)))
end

-- The pid of this Lua process: the shell io.popen starts is its child.
local function self_pid()
  local p = assert(io.popen("echo $PPID"))
  local out = p:read("*l") or ""
  p:close()
  return assert(out:match("^(%d+)$"), "cannot find the pid of this process")
end


local function nginx_binary()
  local want = os.getenv("NGINX")
  if want and want ~= "" then return want end
  local out, ok = run("command -v nginx || ls /usr/sbin/nginx")
  if ok then return (out:match("^(%S+)")) end
  error("nginx is not installed (Debian: apt-get install nginx libnginx-mod-http-lua)", 3)
end

M.MODULES = {
  "/usr/lib/nginx/modules/ndk_http_module.so",
  "/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

--- Whether nginx and its Lua module are installed; else false and what is
-- missing.
function M.available()
  local _, ok = run("command -v nginx || ls /usr/sbin/nginx")
  if not ok then return false, "nginx is not installed" end
  for _, m in ipairs(M.MODULES) do
    if not files.read(m) then return false, m .. " is missing (libnginx-mod-http-lua)" end
  end
  return true
end

local CONF = [[
# Written by spec/support/nginx.lua for one spec run.
%s
%s
daemon on;
master_process on;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
%s
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %s/client_body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  lua_package_path '%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;;';
  lua_package_cpath '%s/build/jit/?.so;;';
%s
  server {
    listen 127.0.0.1:%d;
%s
    location = /_nginx_ready { return 200 '%s'; }
%s
  }
}
]]

local Nginx = {}
Nginx.__index = Nginx

local function as_list(v)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  return v
end

--- Whether this machine's loopback has ::1 (a container or a host with
-- IPv6 switched off has none): the kernel's list of IPv6 addresses.
function M.has_ipv6_loopback()
  local f = io.open("/proc/net/if_inet6", "r")
  if not f then return false end
  local list = f:read("*a")
  f:close()
  return list:find("^0+1 ") ~= nil or list:find("\n0+1 ") ~= nil
end

-- The main server's HTTPS, on a port of its own, when opts.tls asks for
-- it: by address and, where the loopback has ::1, by IPv6 literal, so that
-- a client may name either.
local TLS = [[
    listen 127.0.0.1:%d ssl;
    %s
    ssl_certificate %s;
    ssl_certificate_key %s;]]

local function config_text(opts, prefix, root, port, token, tls_port)
  local loads = {}
  for _, m in ipairs(M.MODULES) do loads[#loads + 1] = "load_module " .. m .. ";" end
  local envs = {}
  for name in pairs(opts.env or {}) do envs[#envs + 1] = "env " .. name .. ";" end
  table.sort(envs)
  local user = M.as_root() and "user root;" or ""
  return CONF:format(table.concat(loads, "\n"), user, prefix, prefix, table.concat(envs, "\n"),
    prefix, prefix, prefix, prefix, prefix, root, root, root, root,
    table.concat(as_list(opts.http), "\n"), port,
    opts.tls and TLS:format(tls_port, M.has_ipv6_loopback() and ("listen [::1]:%d ssl;"):format(tls_port) or "",
      opts.tls.cert, opts.tls.key) or "", token,
    table.concat(as_list(opts.locations), "\n"))
end

--- Whether the specs run as root.  Then nginx's workers must run as root
-- too: as nobody (or www-data) they could not read what the specs make in
-- their private temporary directories (a CA, a copy of the checkout).
function M.as_root()
  return run("id -u"):match("^0%s") ~= nil
end

-- Picks ports below Linux's ephemeral range (32768 and up), where the
-- kernel does not hand out ports for outgoing connections.
local function random_port()
  return math.random(20000, 32000)
end

--- Starts nginx.  opts: locations (a string or list of `location … { … }`
-- blocks), http (a string or list of http-level directives), env (name ->
-- value, for os.getenv inside nginx), timeout (seconds to wait for the
-- worker, default 10), tls ({ cert =, key = } PEM files: the main server
-- also serves HTTPS with them on 127.0.0.1 and, where the loopback has it, [::1], at n.tls_port).  Or,
-- instead of locations, http and tls, config: a function(prefix, port) that
-- returns a whole config, which must listen on 127.0.0.1:port, keep its
-- pid file (nginx.pid) and error log (error.log) in prefix, and answer GET
-- / with any status once ready.  Raises an error with nginx's own words
-- when it cannot start.
function M.start(opts)
  opts = opts or {}
  -- nginx must find lua/, spec/ and build/jit/ whatever its working directory.
  local root = shell.repo_root()
  if not files.read(root .. "/build/jit/codearts/batchresult/core.so") then
    error("the C module for LuaJIT is not built: run `make LUA_VERSION=jit` first", 2)
  end
  local ok, why = M.available()
  if not ok then error(why .. " (Debian: apt-get install nginx libnginx-mod-http-lua)", 2) end
  local binary = nginx_binary()
  local out
  out, ok = run("mktemp -d")
  assert(ok, "mktemp -d failed: " .. out)
  local prefix = out:match("^(%S+)")
  local token = ("ready-%d-%d"):format(os.time(), math.random(1, 1e9))

  local env = { "env" }
  for name, value in pairs(opts.env or {}) do
    env[#env + 1] = name .. "=" .. shell_quote(value)
  end
  -- A busy port is found by trying it: nginx binds before it becomes a
  -- daemon, so its exit status says whether the port was free.
  local port, tls_port, err
  for _ = 1, 20 do
    port, tls_port = random_port(), random_port()
    -- (one port twice is no busy port, and nginx would refuse it otherwise)
    if tls_port == port then tls_port = port + 1 end
    files.write(prefix .. "/nginx.conf", opts.config and opts.config(prefix, port)
      or config_text(opts, prefix, root, port, token, tls_port))
    out, ok = run(table.concat(env, " ") .. " " .. shell_quote(binary) .. " -p " .. shell_quote(prefix)
      .. " -c " .. shell_quote(prefix .. "/nginx.conf") .. " </dev/null")
    if ok then break end
    err = out
    if not out:find("Address already in use", 1, true) then break end
  end
  if not ok then
    run("rm -rf " .. shell_quote(prefix))
    error("nginx did not start: " .. tostring(err), 2)
  end

  local self = setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port,
                              tls_port = opts.tls and tls_port, token = token }, Nginx)
  -- The daemon writes its pid file just after the starting process exits.
  local waited, timeout = 0, opts.timeout or 10
  while waited < timeout do
    self.pid = (files.read(prefix .. "/nginx.pid") or ""):match("%d+")
    if self.pid then break end
    sleep(0.02)
    waited = waited + 0.02
  end
  if not self.pid then
    local log = self:error_log()
    run("rm -rf " .. shell_quote(prefix))
    error("nginx wrote no pid file: " .. log, 2)
  end
  -- Stop nginx should this Lua process die without stopping it.
  local me = self_pid()
  os.execute(CLEAN .. "sh -c " .. shell_quote(("(while kill -0 %s && kill -0 %s; do sleep 1; done; "
    .. "kill -0 %s || kill %s) </dev/null >/dev/null 2>&1 &"):format(me, self.pid, me, self.pid)))
  -- Ready once the worker answers.
  while waited < timeout do
    if opts.config then
      if self:get("/", 1) ~= 0 then return self end
    else
      local status, body = self:get("/_nginx_ready", 1)
      if status == 200 and body == token then return self end
    end
    sleep(0.05)
    waited = waited + 0.05
  end
  local log = self:error_log()
  self:stop()
  error("nginx did not answer within " .. timeout .. " s: " .. log, 2)
end

--- nginx's error log so far.
function Nginx:error_log()
  return files.read(self.prefix .. "/error.log") or self.last_log or ""
end

--- GET (or POST, when body is given) path; returns the status (a
-- number, 0 when no answer came) and the body.
function Nginx:get(path, max_time, body)
  local cmd = { "curl -q -sS --max-time", tostring(max_time or 30), "-o - -w",
    shell_quote("\n%{http_code}") }
  if body then cmd[#cmd + 1] = "--data-binary " .. shell_quote(body) end
  cmd[#cmd + 1] = shell_quote(self.url .. path)
  local out = run(table.concat(cmd, " "))
  local resp, code = out:match("^(.*)\n(%d%d%d)$")
  if not code then return 0, out end
  return tonumber(code), resp
end

--- GETs every path of paths at once: one curl starts them all together
-- (--parallel, a connection each), so that they reach nginx together
-- however slowly the machine starts processes.  Returns { { status =,
-- body = }, ... } in the order of paths, and the wall-clock seconds they
-- took together.
function Nginx:get_many(paths, max_time)
  local dir = self.prefix .. "/many"
  local cmd = { "mkdir -p " .. shell_quote(dir) .. ";", "start=$(date +%s%N);",
    "curl -q -sS --parallel --parallel-immediate --parallel-max", tostring(#paths), "--max-time",
    tostring(max_time or 30), "-w", shell_quote("%{urlnum} %{http_code}\\n") }
  for i, path in ipairs(paths) do
    cmd[#cmd + 1] = ("-o %s %s"):format(shell_quote(dir .. "/body" .. i), shell_quote(self.url .. path))
  end
  cmd[#cmd + 1] = "> " .. shell_quote(dir .. "/codes") .. "; end=$(date +%s%N); echo $((end - start))"
  local out = run(table.concat(cmd, " "))
  local ns = tonumber(out:match("(%d+)%s*$"))
  -- (curl numbers its URLs from 0, and writes each line as it ends)
  local codes = {}
  for i, code in (files.read(dir .. "/codes") or ""):gmatch("(%d+) (%d%d%d)") do
    codes[tonumber(i) + 1] = tonumber(code)
  end
  os.remove(dir .. "/codes")
  local answers = {}
  for i = 1, #paths do
    answers[i] = { status = codes[i] or 0, body = files.read(dir .. "/body" .. i) or "" }
    os.remove(dir .. "/body" .. i)
  end
  return answers, ns and ns / 1e9
end

--- Stops nginx (fast shutdown) and removes its prefix, unless
-- $KEEP_NGINX is set.  Safe to call twice.
function Nginx:stop()
  local pid = self.pid
  if not pid then return end
  self.pid = nil
  run("kill " .. pid)
  for _ = 1, 200 do
    if not pid_alive(pid) then break end
    sleep(0.05)
  end
  if pid_alive(pid) then run("kill -9 " .. pid) end
  self.last_log = files.read(self.prefix .. "/error.log")
  if not os.getenv("KEEP_NGINX") and self.prefix:find("/tmp%.[%w]+$") then
    run("rm -rf " .. shell_quote(self.prefix))
  end
end

return M
