-- The Lua side of spec/ngx_spec.lua's cases on the ngx transport's pools
-- and proxy logins: what nginx's handlers run (LuaJIT, ngx_lua), with the
-- test double standing in for lua-resty-http, which takes the proxy
-- option (the built-in client refuses it).
--
-- Environment (nginx `env` directives): STANDIN_URL (the stand-in).
local ngx_transport = require "codearts.batchresult.transport.ngx"
local model = require "spec.standin.model"
local cjson = require "cjson.safe"

local M = {}

--- A transport through proxy (with the double as resty.http), or raises.
local function resty_transport(proxy)
  package.loaded["resty.http"] = require "spec.nginx.fake_resty_http"
  local t, kind, msg = ngx_transport.new({ timeout = 5, connect_timeout = 2, tls_verify = true,
    max_response_bytes = 1048576, proxy = proxy }, { http = "resty" })
  package.loaded["resty.http"] = nil
  return assert(t, msg and kind .. ": " .. msg)
end

--- The name of the pool whose connection a query through a proxy with
-- that login (user:password, percent-encoded) took: one request to the
-- stand-in (the double connects to the endpoint itself, whatever the
-- proxy), then the transport is closed, as a client's call does.
local function pool_of(login)
  local t = resty_transport("http://" .. login .. "@127.0.0.1:9")
  local url = os.getenv("STANDIN_URL") .. "/v5/" .. model.seed_project .. "/api/pipelines/batch-runs/result"
  assert(t:start({ method = "POST", url = url, headers = { Host = url:match("^http://([^/]+)") }, body = "{}" },
    { timeout_ms = 3000, idempotent = true }))
  local _, res, kind, msg = t:wait()
  t:close()
  assert(res, tostring(kind) .. ": " .. tostring(msg))
  return require("spec.nginx.fake_resty_http").log.connect.pool
end

--- Every string reachable from the Lua registry (package.loaded, _G,
-- ngx_lua's own tables) through tables' keys, values and metatables,
-- functions' upvalues and environments, that holds marker.  (Not the
-- locals of coroutines: this request's own hold the marker.)
local function strings_holding(marker)
  local seen, found, stack = {}, {}, { debug.getregistry() }
  local function push(v)
    if v ~= nil then stack[#stack + 1] = v end
  end
  while #stack > 0 do
    local v = table.remove(stack)
    local kind = type(v)
    if kind == "string" then
      if v:find(marker, 1, true) then found[#found + 1] = v end
    elseif (kind == "table" or kind == "function" or kind == "userdata") and not seen[v] then
      seen[v] = true
      push(debug.getmetatable(v))
      if kind == "table" then
        for k, x in next, v do push(k) push(x) end
      elseif kind == "function" then
        push(debug.getfenv(v))
        for i = 1, math.huge do
          local name, x = debug.getupvalue(v, i)
          if not name then break end
          push(x)
        end
      end
    end
  end
  return found
end

--- The Lua heap in kB after full collections.
local function heap_kb()
  collectgarbage()
  collectgarbage()
  return collectgarbage("count")
end

--- content_by_lua: GET /proxy_logins?used=U&made=N -> { marker, pools,
-- held, held_first, grew_kb }: what every password here begins with; the
-- pools that queries through proxy logins took (alice's with two
-- passwords, bob's with alice's first, then alice's first again from a new
-- transport); how many strings still reachable in the worker hold any
-- password of U transports made, used and closed, each with a login of its
-- own (each leaves a connection in its pool), and one of them; and how
-- much the heap grew across N more, made and closed (a login is seen when
-- its transport is made).
function M.proxy_logins_handler()
  local args = ngx.req.get_uri_args()
  -- made here, at run time: no chunk's constants hold it
  local marker = ("pw%d"):format(ngx.worker.pid() * 1000 + math.floor(ngx.now() * 1000) % 1000)
  local out = { marker = marker, pools = {
    pool_of("alice:" .. marker .. "-a"), pool_of("alice:" .. marker .. "-b"),
    pool_of("bob:" .. marker .. "-a"), pool_of("alice:" .. marker .. "-a"),
  } }
  for i = 1, tonumber(args.used) do pool_of("user:" .. marker .. "-" .. i) end
  local before = heap_kb()
  for i = 1, tonumber(args.made) do
    resty_transport("http://user:" .. marker .. "-made-" .. i .. "@127.0.0.1:9"):close()
  end
  out.grew_kb = heap_kb() - before
  local held = strings_holding(marker)
  out.held, out.held_first = #held, held[1]
  ngx.say(cjson.encode(out))
end

return M
