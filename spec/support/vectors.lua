-- The official signing vectors, from ../shared/vectors beside the checkout.
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/spec/support/vectors%.lua$") or "."
local path = os.getenv("CODEARTS_VECTORS") or (here .. "/../shared/vectors/sdk-hmac-sha256.json")
local f = assert(io.open(path, "rb"), "signing vectors not found at " .. path)
local data = cjson.decode(f:read("*a"))
f:close()
return data
