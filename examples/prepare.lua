-- Signs a request without sending it (client:prepare), sends it with the
-- curl CLI, and decodes the answer with the client (client:decode, which
-- hides its secrets and the signature from what the server may echo).
--
--   HUAWEICLOUD_SDK_AK=… HUAWEICLOUD_SDK_SK=… HUAWEICLOUD_SDK_PROJECT_ID=… \
--   lua5.4 examples/prepare.lua
local br = require "codearts.batchresult"

-- (error(tostring(err)), not assert: the assert of Lua 5.1 and 5.2 takes no table)
local client, why = br.new { region = "cn-north-4" }
if not client then error(tostring(why), 0) end
local runs = {
  { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" },
}

-- readme:begin prepare
local req, refused = client:prepare(runs)
if not req then error(tostring(refused), 0) end
-- Sent here by the curl CLI, its options in a private file (os.tmpname
-- makes it mode 0600) so that no credential shows in the process list;
-- -q: those options only, not ~/.curlrc's too.
local function quoted(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
local config = os.tmpname()
local f = assert(io.open(config, "w"))
-- write-out: the answer's HTTP status after the body, on a line of its own
-- (000 when none came), for decode to read the body as that status's.
f:write("silent\nshow-error\nrequest = ", quoted(req.method), "\nurl = ", quoted(req.url),
        "\ndata-binary = ", quoted(req.body), '\nwrite-out = "\\n%{http_code}"\n')
for name, value in pairs(req.headers) do f:write("header = ", quoted(name .. ": " .. value), "\n") end
f:close()
local curl, failed = io.popen("curl -q --config " .. config)
if not curl then os.remove(config) error(failed, 0) end -- (the file holds the Authorization header)
local body, status = curl:read("*a"):match("^(.*)\n(%d%d%d)$")
curl:close()
os.remove(config)
local results, err
if status and status ~= "000" then
  results, err = client:decode(body, tonumber(status))
else
  results, err = nil, "no answer: curl could not send the request (its error is above)"
end
-- readme:end prepare
if not results then
  print(err)
  os.exit(1)
end
print(results)
