-- One fault, one outcome: the fault table (spec/support/faults.lua) run
-- against every transport, each against its own stand-in over real HTTP:
--   * libcurl, here in the Lua running the suite;
--   * cosockets in a real nginx, through the built-in HTTP/1.1 client and
--     through lua-resty-http's interface (spec/nginx/fake_resty_http.lua,
--     standing in for resty.http, which Debian does not package);
--   * Neovim's loop, in a real `nvim --headless`, in the callback mode.
-- For each row: err.code, err.status, err.retryable, err.attempts, every
-- item accounted for, and what the stand-in saw.  nginx and Neovim run
-- LuaJIT whatever Lua runs the suite, so their blocks run once per
-- `make test` (spec.support.once).
local br = require "codearts.batchresult"
local cjson = require "cjson"
local faults = require "spec.support.faults"
local files = require "spec.support.files"
local nginx = require "spec.support.nginx"
local once = require "spec.support.once"
local shell = require "spec.support.shell"
local standin = require "spec.support.standin"

-- A port where nothing listens: a stand-in's, once it has stopped.
local function dead_url()
  local gone = standin.start()
  local url = gone.url
  gone:stop()
  return url
end

--- Whether got holds what want says, recursively (want's keys only).
local function holds(got, want, path, problems)
  for k, v in pairs(want) do
    local here = path .. "." .. k
    if type(v) == "table" then
      if type(got[k]) ~= "table" then
        problems[#problems + 1] = here .. " is missing"
      else
        holds(got[k], v, here, problems)
      end
    elseif got[k] ~= v then
      problems[#problems + 1] = ("%s is %s, not %s"):format(here, tostring(got[k]), tostring(v))
    end
  end
  return problems
end

--- Checks an outcome (faults.outcome's shape) against the row, and the
-- stand-in's stats against row.saw (row.saw_libcurl, when it has one,
-- under libcurl).
local function check(row, out, server, libcurl)
  local e = row.expect
  local what = cjson.encode(out)
  if e.ok then
    assert.is_true(out.ok, "the call failed: " .. what)
    assert.are.equal(out.items, out.results, what)
    assert.is_nil(out.statuses:find("STALE", 1, true), "an answer nobody asked for was taken: " .. what)
  else
    assert.is_false(out.ok, "the call succeeded: " .. what)
    assert.are.equal(e.code, out.code, what)
    assert.are.equal(e.status, out.status, what)
    assert.are.equal(e.retryable, out.retryable, what)
    assert.are.equal(e.attempts, out.attempts, what)
    assert.are.equal(out.items, out.results + out.missing + out.unanswered,
      "not every item is accounted for: " .. what)
    -- (a run's rows all say it: README's err.unsent is safe to start again)
    if row.op == "run" then assert.is_not_nil(e.unsent, "the row does not say err.unsent") end
    if e.unsent then assert.are.equal(e.unsent, out.unsent, "err.unsent: " .. what) end
    if e.says then assert.truthy(out.message:lower():find(e.says, 1, true), what) end
    if e.request_id ~= nil then assert.are.equal(e.request_id or nil, out.request_id, what) end
    if e.retry_after ~= nil then assert.are.equal(e.retry_after or nil, out.retry_after, what) end
    if e.waits then assert.are.equal(e.waits, out.waits, what) end
  end
  if row.hidden then
    for i = 1, #row.hidden - 4 do
      assert.is_nil(out.message:find(row.hidden:sub(i, i + 4), 1, true), "a secret shows: " .. what)
    end
  end
  local saw = libcurl and row.saw_libcurl or row.saw
  if saw then
    local problems = holds(server:stats(), saw, "stats", {})
    assert(#problems == 0, table.concat(problems, "; ") .. " (outcome: " .. what .. ")")
  end
end

--- it() for each row (through resty.http, those without resty = false);
-- outcome_of(row, index) runs it and returns the outcome.  server is the
-- block's stand-in box (standin.for_block's); libcurl: the block's
-- transport is libcurl.
local function each_row(box, outcome_of, resty, libcurl)
  for i, row in ipairs(faults.rows) do
    local test = (resty and row.resty == false) and pending or it
    test(("%s: %s"):format(row.op, row.name), function()
      if row.standin then box.server:config(row.standin) end
      if row.one_per_conn then box.server:one_per_conn(true) end
      check(row, outcome_of(row, i), box.server, libcurl)
    end)
  end
end

describe("the fault table over libcurl (plain Lua)", function()
  local urls = {}
  local box = standin.for_block(function(s)
    urls.standin, urls.dead = s.url, dead_url()
  end)
  each_row(box, function(row)
    local out
    faults.run(br, row, urls, function(o) out = o end)
    return out
  end, false, true)
end)

-- nginx with the app's /fault location; init, when given, runs in
-- init_by_lua (before the workers fork).
local function start_nginx(s, init)
  local http = {}
  if init then http[1] = "init_by_lua_block { " .. init .. " }" end
  return nginx.start {
    locations = { 'location = /fault { content_by_lua_block { require("spec.nginx.app").fault_handler() } }' },
    http = http,
    env = { STANDIN_URL = s.url, DEAD_URL = dead_url() },
  }
end

local function nginx_block(name, init, check_client, resty)
  once.describe("the fault table over cosockets in nginx, " .. name, function()
    local n
    local box = standin.for_block(function(s) n = start_nginx(s, init) end, function()
      if n then n:stop() end
    end)
    each_row(box, function(_, i)
      local status, body = n:get("/fault?row=" .. i)
      assert(status == 200, ("nginx answered %s: %s\n%s"):format(status, body, n:error_log()))
      local out = cjson.decode(body)
      check_client(out)
      return out
    end, resty)
  end)
end

nginx_block("built-in HTTP/1.1 client", nil, function(out)
  assert.is_nil(out.resty_connects)
end)

nginx_block("through lua-resty-http's interface",
  'package.loaded["resty.http"] = require "spec.nginx.fake_resty_http"', function(out)
    assert.is_true(out.resty_connects and out.resty_connects > 0)
  end, true)

once.describe("the fault table in Neovim's loop (callback mode)", function()
  local urls = {}
  local box = standin.for_block(function(s)
    urls.standin, urls.dead = s.url, dead_url()
  end)
  local out_file = os.tmpname()
  teardown(function() os.remove(out_file) end)
  each_row(box, function(_, i)
    os.remove(out_file)
    -- What the editor printed: a failure is the callback's to hear of, and
    -- nothing may land on the user's screen (luv writes a poll handle's
    -- error to stderr, libuv's EBADF for a reset or refused socket).
    local printed = shell.run(table.concat({
      "env -u LUA_PATH -u LUA_CPATH",
      "FAULT_ROW=" .. i, "FAULT_OUT=" .. shell.quote(out_file),
      "STANDIN_URL=" .. shell.quote(urls.standin), "DEAD_URL=" .. shell.quote(urls.dead),
      "nvim --headless -u NONE -i NONE -c", shell.quote("luafile spec/nvim/fault.lua"), "</dev/null",
    }, " "))
    assert.are.equal("", printed)
    return cjson.decode((assert(files.read(out_file), "nvim wrote nothing")))
  end, false, true)
end)
