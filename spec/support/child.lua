-- Runs a Lua chunk in a fresh interpreter of the same version, with the
-- given environment: for behaviour that depends on environment variables.
local M = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

M.interpreter = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

--- Runs code; env maps variable names to values (false unsets one).
-- Returns the output (stdout and stderr) and whether it exited with 0.
function M.run(code, env)
  local parts = { "env" }
  for _, name in ipairs({ "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                          "HUAWEICLOUD_SDK_PROJECT_ID" }) do
    parts[#parts + 1] = "-u " .. name
  end
  env = env or {}
  parts[#parts + 1] = "LUA_PATH=" .. quote(env.LUA_PATH or package.path)
  parts[#parts + 1] = "LUA_CPATH=" .. quote(env.LUA_CPATH or package.cpath)
  for k, v in pairs(env) do
    if v and k ~= "LUA_PATH" and k ~= "LUA_CPATH" then parts[#parts + 1] = k .. "=" .. quote(v) end
  end
  parts[#parts + 1] = M.interpreter .. " -e " .. quote(code) .. " 2>&1; echo \"exit=$?\""
  -- The exit status is echoed: Lua 5.1's close() does not report it.
  local p = io.popen(table.concat(parts, " "))
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)exit=(%d+)%s*$")
  return body, status == "0"
end

return M
