-- `luarocks make` installs the module offline from a copy of the checkout,
-- and the installed module works.
local child = require "spec.support.child"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)exit=(%d+)%s*$")
  return body, status == "0"
end

for _, rockspec in ipairs({ "codearts-batchresult-0.1.0-1.rockspec", "codearts-batchresult-scm-1.rockspec" }) do
  describe(rockspec, function()
    it("installs with luarocks make, offline, and the installed module queries", function()
      local lua_version = rawget(_G, "jit") and "5.1" or _VERSION:match("%d+%.%d+")
      local tmp = assert(sh("mktemp -d")):gsub("%s+$", "")
      finally(function() sh("rm -rf '" .. tmp .. "'") end)
      -- A copy without build/, so the install compiles from scratch.
      local out, ok = sh("cp -r Makefile *.rockspec src lua scripts '" .. tmp .. "/'")
      assert.is_true(ok, out)
      out, ok = sh("cd '" .. tmp .. "' && luarocks --lua-version=" .. lua_version
        .. " make --tree='" .. tmp .. "/tree' " .. rockspec)
      assert.is_true(ok, out)
      assert.truthy(out:find("is now installed", 1, true), out)

      local server = standin.start()
      finally(function() server:stop() end)
      local c = model.credentials.permanent
      out, ok = child.run([[
        local br = require "codearts.batchresult"
        local core = require "codearts.batchresult.core"
        local client = assert(br.new { endpoint = os.getenv("ENDPOINT"), project_id = os.getenv("PROJECT"),
                                       ak = os.getenv("AK"), sk = os.getenv("SK") })
        local r = assert(client:query { { pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db",
                                          pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c" } })
        -- Where the C module came from (package.searchpath is 5.2+).
        local where
        for template in package.cpath:gmatch("[^;]+") do
          local path = template:gsub("%?", "codearts/batchresult/core")
          local f = io.open(path)
          if f then f:close() where = where or path end
        end
        io.write(where, "|", r[1].pipeline_name)
      ]], {
        LUA_PATH = tmp .. "/tree/share/lua/" .. lua_version .. "/?.lua;;",
        LUA_CPATH = tmp .. "/tree/lib/lua/" .. lua_version .. "/?.so;;",
        ENDPOINT = server.url, PROJECT = model.seed_project, AK = c.ak, SK = c.sk,
      })
      assert.is_true(ok, out)
      assert.are.equal(tmp .. "/tree/lib/lua/" .. lua_version .. "/codearts/batchresult/core.so|Pipeline 1", out)
    end)
  end)
end
