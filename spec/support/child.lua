-- Runs Lua in a fresh interpreter of the same version, with the given
-- environment: for behaviour that depends on environment variables, and for
-- the example programs.
local M = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

M.interpreter = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

-- "env …" for env (name -> value; false unsets one), with the SDK's
-- credential variables unset unless given, and LUA_PATH and LUA_CPATH this
-- process's unless given.
local function env_prefix(env)
  local parts = { "env" }
  for _, name in ipairs({ "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                          "HUAWEICLOUD_SDK_PROJECT_ID" }) do
    parts[#parts + 1] = "-u " .. name
  end
  env = env or {}
  for k, v in pairs(env) do
    if v == false then parts[#parts + 1] = "-u " .. k end
  end
  parts[#parts + 1] = "LUA_PATH=" .. quote(env.LUA_PATH or package.path)
  parts[#parts + 1] = "LUA_CPATH=" .. quote(env.LUA_CPATH or package.cpath)
  for k, v in pairs(env) do
    if v and k ~= "LUA_PATH" and k ~= "LUA_CPATH" then parts[#parts + 1] = k .. "=" .. quote(v) end
  end
  return table.concat(parts, " ")
end

-- Runs the shell command; returns its output (stdout and stderr) and
-- whether it exited with 0 (echoed: Lua 5.1's close() does not report it).
local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)exit=(%d+)%s*$")
  return body, status == "0"
end

--- Runs code; env maps variable names to values (false unsets one).
-- Returns the output (stdout and stderr) and whether it exited with 0.
function M.run(code, env)
  return run(env_prefix(env) .. " " .. M.interpreter .. " -e " .. quote(code))
end

--- A query of one pair to https://example.invalid (no server: whatever
-- the environment's proxy makes of it) in a fresh interpreter with env:
-- writes tostring(err), then what then runs of more, Lua code with the
-- client as c.  Returns as M.run does.
function M.query_nowhere(env, more)
  return M.run([[
    local br = require "codearts.batchresult"
    local c = assert(br.new { endpoint = "https://example.invalid", project_id = ("a"):rep(32), ak = "AK",
                              sk = "SK", max_retries = 0 })
    local _, err = c:query({ { pipeline_id = ("a"):rep(32), pipeline_run_id = ("b"):rep(32) } })
    io.write(tostring(err))
  ]] .. (more or "") .. "\nc:close()", env)
end

--- Runs the Lua file at path the same way, its standard input read from
-- the file named input (default /dev/null).  Returns its standard output,
-- whether it exited with 0, and its standard error.
function M.run_file(path, env, input)
  local errors = os.tmpname()
  local out, ok = run("{ " .. env_prefix(env) .. " " .. M.interpreter .. " " .. quote(path) .. " <"
    .. quote(input or "/dev/null") .. " 2>" .. quote(errors) .. "; }")
  local f = io.open(errors, "rb")
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(errors)
  return out, ok, err
end

return M
