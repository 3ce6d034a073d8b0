-- examples/openresty/: the README's nginx.conf and the module it loads,
-- served by a real nginx (Debian's, with libnginx-mod-http-lua) against the
-- local stand-in.  The config file is used as it is, with only what the
-- README tells a user to change changed: the port, nginx's own paths (here
-- in a private prefix), where the library and pipeline_status.lua live
-- (here the checkout and its LuaJIT build), the resolver file, and, when
-- the specs run as root, the user of the workers (www-data could not read
-- a private copy of the checkout).  The endpoint of cn-north-4 is the
-- stand-in, through the environment variable nginx.conf lets through.
local answers = require "spec.support.answers"
local files = require "spec.support.files"
local nginx = require "spec.support.nginx"
local shell = require "spec.support.shell"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"
local once = require "spec.support.once"

local CONF = "examples/openresty/nginx.conf"
local creds = model.credentials.permanent

-- text with each { from, to } of list replaced; each from must be there.
local function substituted(text, list)
  for _, r in ipairs(list) do
    local n
    text, n = text:gsub(r[1]:gsub("%p", "%%%0"), (r[2]:gsub("%%", "%%%%")))
    assert(n > 0, CONF .. " no longer has " .. r[1])
  end
  return text
end

local function runs_arg(list)
  local items = {}
  for i, p in ipairs(list) do items[i] = p.pipeline_id .. ":" .. p.pipeline_run_id end
  return table.concat(items, ",")
end

-- nginx runs its own LuaJIT whatever Lua runs the suite: once per make test.
once.describe("examples/openresty (a real nginx on the README's nginx.conf)", function()
  local server, n
  local root = shell.repo_root()

  -- The README's config, changed only where the README says (above).
  local function config(prefix, port)
    files.write(prefix .. "/resolver.conf", "resolver 127.0.0.1;\n")
    return substituted(assert(files.read(CONF)), {
      { "user www-data;", nginx.as_root() and "user root;" or "user www-data;" },
      { "pid /run/nginx.pid;", "pid " .. prefix .. "/nginx.pid;" },
      { "/var/log/nginx/", prefix .. "/" },
      { "/var/lib/nginx/", prefix .. "/" },
      { "/etc/nginx/lua/", root .. "/examples/openresty/lua/" },
      { "/usr/local/share/lua/5.1/", root .. "/lua/" },
      { "/usr/local/lib/lua/5.1/", root .. "/build/jit/" },
      { "/etc/nginx/resolver.conf", prefix .. "/resolver.conf" },
      { "listen 127.0.0.1:8080;", "listen 127.0.0.1:" .. port .. ";" },
    })
  end

  standin.for_block(function(s)
    server = s
    n = nginx.start {
      config = config,
      env = {
        HUAWEICLOUD_SDK_AK = creds.ak, HUAWEICLOUD_SDK_SK = creds.sk,
        HUAWEICLOUD_SDK_PROJECT_ID = model.seed_project,
        HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4 = s.url,
      },
    }
  end, function()
    if n then n:stop() end
  end)

  it("answers /pipelines/status with the result set, through the credentials in the environment", function()
    local status, body = n:get("/pipelines/status?runs=" .. runs_arg(model.seed_query))
    assert.are.equal(200, status, body .. n:error_log())
    assert.are.equal(answers.shown(server, model.seed_query) .. "\n", body)
    assert.are.equal(2, server:stats().requests)
  end)

  it("takes runs percent-encoded, as URL libraries encode a query's value", function()
    local encoded = runs_arg(model.seed_query):gsub(":", "%%3A"):gsub(",", "%%2C")
    local status, body = n:get("/pipelines/status?runs=" .. encoded)
    assert.are.equal(200, status, body .. n:error_log())
    assert.are.equal(answers.shown(server, model.seed_query) .. "\n", body)
  end)

  -- Results are the server's data; one that echoes a credential into a
  -- result must not hand it to whoever asks nginx (review).
  it("answers with the client's secrets redacted from the results", function()
    server:config { names = { [model.seed_query[1].pipeline_id] = "leaked " .. creds.sk } }
    local status, body = n:get("/pipelines/status?runs=" .. runs_arg(model.seed_query))
    server:config { names = {} }
    assert.are.equal(200, status, body .. n:error_log())
    assert.truthy(body:find("leaked [REDACTED]", 1, true), body)
    assert.is_nil(body:find(creds.sk:sub(1, 8), 1, true), body)
  end)

  it("logs a failure in words, not as a table, and answers 502", function()
    server:config { fail_ids = { model.seed_query[2].pipeline_run_id }, fail_status = 400 }
    local status, body = n:get("/pipelines/status?runs=" .. runs_arg(model.seed_query))
    assert.are.equal(502, status, body)
    assert.truthy(body:find("^DEVPIPE%.00000400 %(HTTP 400%): Request failed"), body)
    local log = n:error_log()
    assert.truthy(log:find("pipeline status: DEVPIPE.00000400 (HTTP 400): Request failed", 1, true), log)
    assert.falsy(log:find("unknown reason", 1, true), log)
  end)

  it("refuses a bad id with 400, naming it, before anything is sent", function()
    local status, body = n:get("/pipelines/status?runs=abc:" .. model.seed_query[1].pipeline_run_id)
    assert.are.equal(400, status, body)
    assert.truthy(body:find("^INVALID_ARGUMENT: pairs%[1%]%.pipeline_id"), body)
    assert.truthy(n:error_log():find("pipeline status: INVALID_ARGUMENT: pairs[1].pipeline_id", 1, true))
    status, body = n:get("/pipelines/status")
    assert.are.equal(400, status, body)
    assert.are.equal("runs: none given\n", body)
    assert.are.equal(0, server:stats().requests)
  end)

  it("answers 500 when nginx's environment lacks the credentials, and logs why", function()
    local bare = nginx.start { config = config, env = { HUAWEICLOUD_SDK_PROJECT_ID = model.seed_project } }
    local ok, failure = pcall(function()
      local status, body = bare:get("/pipelines/status?runs=" .. runs_arg(model.seed_query))
      assert.are.equal(500, status, body)
      assert.falsy(body:find("credential", 1, true), body)
      local log = bare:error_log()
      assert.truthy(log:find("pipeline status: INVALID_ARGUMENT: missing credential: ak", 1, true), log)
    end)
    bare:stop()
    assert(ok, failure)
    assert.are.equal(0, server:stats().requests)
  end)
end)
