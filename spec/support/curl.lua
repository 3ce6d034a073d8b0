--- A prepared request (client:prepare's) sent with the curl CLI, as
-- README's prepare example sends one.
local standin = require "spec.support.standin"

local M = {}

--- The body of the answer, and its HTTP status.
function M.send(req)
  local bodyfile = os.tmpname()
  local f = assert(io.open(bodyfile, "wb"))
  f:write(req.body)
  f:close()
  local cmd = { standin.clean_env .. "curl -q -sS --max-time 10 -X " .. req.method .. " -w '\\n%{http_code}'" }
  for name, value in pairs(req.headers) do cmd[#cmd + 1] = "-H '" .. name .. ": " .. value .. "'" end
  cmd[#cmd + 1] = "--data-binary @" .. bodyfile .. " '" .. req.url .. "'"
  local p = io.popen(table.concat(cmd, " "))
  local out = p:read("*a")
  p:close()
  os.remove(bodyfile)
  local body, status = out:match("^(.*)\n(%d%d%d)$")
  return assert(body, out), tonumber(status)
end

return M
