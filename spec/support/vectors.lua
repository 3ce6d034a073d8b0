-- The official signing vectors: spec/fixtures/sdk-hmac-sha256.json (see
-- spec/fixtures/README.md), found from this file's path, so the specs read
-- nothing outside the checkout.
local cjson = require "cjson"
local files = require "spec.support.files"

local here = debug.getinfo(1, "S").source:match("^@(.*)/spec/support/vectors%.lua$") or "."
local path = here .. "/spec/fixtures/sdk-hmac-sha256.json"
local text = assert(files.read(path), "signing vectors not found at " .. path)
return cjson.decode(text)
