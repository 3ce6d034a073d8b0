-- Installs and releases, offline, each in a copy of the checkout:
--
-- * `luarocks make` of both rockspecs, for the Lua running the suite;
-- * once per make test (under Lua 5.4): `make`, then examples/install.sh
--   (the README's `luarocks --lua-version=5.1 make` and `--lua-version=5.4
--   make`), then `make` again, in one checkout: each result is built for
--   its own Lua, whatever was built before it, and loads and queries the
--   stand-in under its interpreters (lua5.1 and luajit for the 5.1 build);
--   then makes side by side in that checkout;
-- * once per make test: luarocks make for Lua 5.1 with Lua 5.4's headers
--   named in CFLAGS: the module is built for 5.1 all the same;
-- * once per make test: examples/release.sh in a git copy of the checkout,
--   refused while a rockspec holds OWNER, then with an owner (tag, `make
--   rock`, `luarocks build` of the source rock), and the rock it made
--   installs and queries.
--
-- Every command runs as a user's would, without the suite's sanitizer
-- set-up or make variables (spec.support.shell): so none of it runs under
-- ASan or memcheck, which would watch none of it (spec.support.once).
local once = require "spec.support.once"
local shell = require "spec.support.shell"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local q = shell.quote
local creds = model.credentials.permanent

local copy_checkout = shell.copy_checkout

-- Runs cmd in dir; raises with its output when it fails.
local function run_in(dir, cmd)
  local out, ok = shell.run("cd " .. q(dir) .. " && " .. cmd)
  assert(ok, cmd .. " failed in " .. dir .. ":\n" .. out)
  return out
end

-- Under interpreter, with only lua_dir and lib_dir on the module paths, the
-- module queries the stand-in; returns where its core.so came from and the
-- name of the pipeline it answered about.
local function query_with(server, interpreter, lua_dir, lib_dir)
  local code = [[
    local br = require "codearts.batchresult"
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
  ]]
  local out, ok = shell.run(("LUA_PATH=%s LUA_CPATH=%s ENDPOINT=%s PROJECT=%s AK=%s SK=%s %s -e %s"):format(
    q(lua_dir .. "/?.lua"), q(lib_dir .. "/?.so"), q(server.url), q(model.seed_project), q(creds.ak), q(creds.sk),
    interpreter, q(code)))
  assert(ok, interpreter .. " could not use the module in " .. lib_dir .. ":\n" .. out)
  return out
end

local function assert_queries(server, interpreter, lua_dir, lib_dir)
  assert.are.equal(lib_dir .. "/codearts/batchresult/core.so|Pipeline 1",
    query_with(server, interpreter, lua_dir, lib_dir))
end

local RELEASE, VERSION = shell.release_rockspec()

local running_lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

once.unchecked("luarocks", function()
  local server, tmp
  standin.for_block(function(s) server = s end)
  before_each(function() tmp = shell.temp_dir() end)
  after_each(function() shell.remove(tmp) end)

  for _, rockspec in ipairs({ RELEASE, "codearts-batchresult-scm-1.rockspec" }) do
    it("installs " .. rockspec .. " with luarocks make, offline, for " .. running_lua, function()
      local lua_version = rawget(_G, "jit") and "5.1" or _VERSION:match("%d+%.%d+")
      copy_checkout(tmp .. "/x")
      -- into a tree whose path holds a space, which make must keep one word
      local tree = tmp .. "/my tree"
      local out = run_in(tmp .. "/x", "luarocks --lua-version=" .. lua_version .. " make --deps-mode=none --tree="
        .. q(tree) .. " " .. rockspec)
      assert.truthy(out:find("is now installed", 1, true), out)
      assert_queries(server, running_lua, tree .. "/share/lua/" .. lua_version, tree .. "/lib/lua/" .. lua_version)
    end)
  end

  -- LuaRocks' wrapper of the tool required luarocks.loader before the
  -- tool's first line, from a path that searched the directory it was
  -- started in (Lua 5.1's and LuaJIT's default path, first of all;
  -- `luarocks path`'s LUA_PATH, third): a luarocks/loader.lua there ran, the
  -- credentials in the environment (review install2).
  it("installs a tool that loads nothing from the directory it is started in, for " .. running_lua, function()
    local lua_version = rawget(_G, "jit") and "5.1" or _VERSION:match("%d+%.%d+")
    copy_checkout(tmp .. "/x")
    local tree = tmp .. "/my tree"
    run_in(tmp .. "/x", "luarocks --lua-version=" .. lua_version .. " make --deps-mode=none --tree=" .. q(tree) .. " "
      .. RELEASE)
    -- Strays, each of which would note its name in the marker.
    local cwd, marker = tmp .. "/cwd", tmp .. "/marker"
    for _, name in ipairs({ "luarocks/loader.lua", "codearts/batchresult/core.lua", "codearts/batchresult/cli.lua",
      "cjson.lua", "argparse.lua" }) do
      run_in(tmp, "mkdir -p " .. q(cwd .. "/" .. name:match("^(.-)[^/]*$")))
      local f = assert(io.open(cwd .. "/" .. name, "w"))
      f:write(("local f = io.open(%q, 'a') f:write(%q) f:close()\n"):format(marker, name .. "\n"))
      f:close()
    end
    -- Another install on the path, which the tool must not run when
    -- started by a link to its own (review install3); and a readlink
    -- among the strays, for a PATH that names the current directory.
    local other = tmp .. "/other"
    run_in(tmp, "mkdir -p " .. q(other .. "/codearts/batchresult"))
    local stray = assert(io.open(other .. "/codearts/batchresult/cli.lua", "w"))
    stray:write(("local f = io.open(%q, 'a') f:write('another install\\n') f:close()\n"):format(marker))
    stray:close()
    stray = assert(io.open(cwd .. "/readlink", "w"))
    stray:write(("#!/bin/sh\necho 'readlink in the current directory' >>%s\n"):format(q(marker)))
    stray:close()
    run_in(tmp, "chmod +x " .. q(cwd .. "/readlink") .. " && mkdir -p " .. q(tmp .. "/home bin") .. " && ln -s "
      .. q(tree .. "/bin/codearts-batchresult") .. " " .. q(tmp .. "/home bin/tool"))
    -- (luarocks, a Lua script itself, runs elsewhere than among the strays)
    local paths = run_in(tmp, "luarocks --lua-version=" .. lua_version .. " path --tree=" .. q(tree))
    local env = ("CODEARTS_ENDPOINT=%s HUAWEICLOUD_SDK_PROJECT_ID=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s")
      :format(q(server.url), q(model.seed_project), q(creds.ak), q(creds.sk))
    local tool = q(tree .. "/bin/codearts-batchresult")
    local seed = model.seed[2]
    local unset = "unset LUA_PATH LUA_CPATH LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4"
      .. " LUA_CPATH_5_4"
    -- The tree's paths as `luarocks path` sets them for a shell, then the
    -- interpreter's own (none of the tree's), then another install's first
    -- and the tool started by a link.
    for _, setup in ipairs({ { unset .. "\n" .. paths, tool }, { unset, tool },
                             { unset .. "\nexport LUA_PATH=" .. q(other .. "/?.lua;;") .. " PATH=\":$PATH\"",
                               q(tmp .. "/home bin/tool") } }) do
      local out, ok = shell.run("cd " .. q(cwd) .. " && " .. setup[1] .. "\n" .. env .. " " .. setup[2]
        .. " --version && " .. env .. " " .. setup[2] .. " query -f csv " .. seed.pipeline_id .. ":"
        .. seed.pipeline_run_id)
      local f = io.open(marker)
      assert.is_nil(f, f and f:read("*a"))
      assert.is_true(ok, out)
      assert.are.equal(("codearts-batchresult %s\npipeline_id,pipeline_name,pipeline_run_id,status,reason\r\n"
        .. "%s,%s,%s,%s,\r\n"):format(VERSION, seed.pipeline_id, seed.pipeline_name, seed.pipeline_run_id, seed.status),
        out)
    end
  end)

  once.describe("after make, for Lua 5.1 and 5.4, then make again", function()
    it("builds each for its own Lua, and each loads and queries", function()
      local x, tree = tmp .. "/x", tmp .. "/tree"
      copy_checkout(x)
      run_in(x, "make")
      assert_queries(server, "lua5.4", x .. "/lua", x .. "/build/5.4")
      -- The README's Install commands, into a private tree.
      run_in(x, "sh examples/install.sh --tree=" .. q(tree))
      for _, lua in ipairs({ "lua5.1", "luajit" }) do
        assert_queries(server, lua, tree .. "/share/lua/5.1", tree .. "/lib/lua/5.1")
      end
      assert_queries(server, "lua5.4", tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4")
      run_in(x, "make")
      assert_queries(server, "lua5.4", x .. "/lua", x .. "/build/5.4")
      -- Makes side by side in a built checkout (as CI's steps and the
      -- specs run them) all succeed, and none rebuilds: each writes its own
      -- draft of the build's record of flags.
      local stamp = run_in(x, "ls --full-time build/5.4/flags")
      local makes = {}
      for i = 1, 6 do makes[i] = "(make DEPS=none all >/dev/null 2>&1 || echo FAILED)" end
      for _ = 1, 5 do
        local out = run_in(x, table.concat(makes, " & ") .. " & wait")
        assert.is_nil(out:find("FAILED", 1, true), out)
      end
      assert.are.equal(stamp, run_in(x, "ls --full-time build/5.4/flags"))
    end)
  end)

  -- What LuaRocks passes when CJSON_DIR=… names a copy of cJSON's while
  -- libcurl and OpenSSL are the system's: that copy is linked and loaded.
  once.describe("with CJSON_DIR naming a copy of cJSON's own", function()
    it("links and loads that copy, not the system's beside libcurl", function()
      local sys = assert(shell.run("pkg-config --variable=libdir libcjson")):match("^%s*(.-)%s*$")
      local own = tmp .. "/cjson/lib"
      run_in(tmp, "mkdir -p cjson/lib && cp " .. q(sys .. "/libcjson.so.1") .. " cjson/lib/libcjson.so.1"
        .. " && ln -s libcjson.so.1 cjson/lib/libcjson.so")
      copy_checkout(tmp .. "/x")
      run_in(tmp .. "/x", ("make -s LUA_VERSION=5.4 CURL_INCDIR=/usr/include CURL_LIBDIR=%s"
        .. " CJSON_INCDIR=/usr/include CJSON_LIBDIR=%s OPENSSL_INCDIR=/usr/include OPENSSL_LIBDIR=%s")
        :format(q(sys), q(own), q(sys)))
      local ldd = run_in(tmp .. "/x", "ldd build/5.4/codearts/batchresult/core.so")
      assert.are.equal(own .. "/libcjson.so.1", ldd:match("libcjson%.so%.1 => (%S+)"), ldd)
    end)
  end)

  once.describe("with another Lua's headers named in CFLAGS", function()
    it("builds for the Lua LuaRocks targets, whose headers come first", function()
      -- As CFLAGS=-I/usr/local/include would, where a Lua 5.4 built from
      -- source put its lua.h: the 5.1 module was built from those.
      local x, tree = tmp .. "/x", tmp .. "/tree"
      copy_checkout(x)
      local out = run_in(x, "luarocks --lua-version=5.1 make --deps-mode=none --tree=" .. q(tree) .. " "
        .. RELEASE .. " CFLAGS='-O2 -fPIC -I/usr/include/lua5.4'")
      assert.truthy(out:find("is now installed", 1, true), out)
      assert_queries(server, "lua5.1", tree .. "/share/lua/5.1", tree .. "/lib/lua/5.1")
    end)
  end)

  -- With no version, dash said "1: parameter not set" (bash "$1: unbound
  -- variable"), which names neither the script's use nor what was missing
  -- (review pack56).
  it("examples/release.sh without a version says how to run it, and does nothing", function()
    for _, args in ipairs({ "", " ''", " 0.1.0 extra" }) do
      local out, ok = shell.run("cd " .. q(tmp) .. " && sh " .. q(shell.repo_root() .. "/examples/release.sh") .. args
        .. "; echo status=$?")
      assert.is_true(ok, out)
      assert.are.equal("usage: sh examples/release.sh X.Y.Z, in the checkout (README: Releasing)\nstatus=2\n", out)
    end
  end)

  once.describe("a release", function()
    -- A rockspec renamed for a new version but still naming the last
    -- release's source.tag was tagged anyway, then make rock packed the
    -- tag the rockspec named, and failed saying 'tag the release first'
    -- (or 'holds no …rockspec'), the new tag left behind (review pack57).
    it("is refused, nothing tagged, while its rockspec names another version or tag", function()
      local r = tmp .. "/r"
      copy_checkout(r)
      local who = "GIT_AUTHOR_NAME=spec GIT_AUTHOR_EMAIL=spec@invalid GIT_COMMITTER_NAME=spec"
        .. " GIT_COMMITTER_EMAIL=spec@invalid "
      local new = "codearts-batchresult-9.9.9-1.rockspec"
      run_in(r, "git init -q && sed -i 's|github.com/OWNER/|github.com/example/|' ./*.rockspec && git add -A && "
        .. who .. "git commit -q -m 'the release' && git tag v" .. VERSION .. " && git mv " .. RELEASE .. " " .. new
        .. " && " .. who .. "git commit -q -m 'renamed only'")
      local refused, ok = shell.run("cd " .. q(r) .. " && " .. who .. "sh examples/release.sh 9.9.9")
      assert.is_false(ok, refused)
      assert.are.equal("release.sh: " .. new .. " says version '" .. VERSION .. "-1' and source.tag 'v" .. VERSION
        .. "', not '9.9.9-1' and 'v9.9.9': set both (README: Releasing)\n", refused)
      assert.are.equal("v" .. VERSION .. "\n", run_in(r, "git tag"))
    end)

    it("is tagged, packed from the tag and built from the rock, offline (examples/release.sh)", function()
      local r = tmp .. "/r"
      copy_checkout(r)
      -- who commits and tags, on a machine that may have no git identity
      local who = "GIT_AUTHOR_NAME=spec GIT_AUTHOR_EMAIL=spec@invalid GIT_COMMITTER_NAME=spec"
        .. " GIT_COMMITTER_EMAIL=spec@invalid "
      run_in(r, "git init -q && git add -A && " .. who .. "git commit -q -m 'the release'")
      -- While a rockspec names no owner, nothing is tagged.
      local refused, ok = shell.run("cd " .. q(r) .. " && " .. who .. "sh examples/release.sh " .. VERSION)
      assert.is_false(ok, refused)
      assert.truthy(refused:find("release.sh: replace OWNER, a placeholder, in the source.url of ./"
        .. RELEASE .. " ./codearts-batchresult-scm-1.rockspec (README: Releasing)\n", 1, true), refused)
      assert.are.equal("", run_in(r, "git tag"))
      -- The owner's name given, as README's Releasing says.
      run_in(r, "sed -i 's|github.com/OWNER/|github.com/example/|' ./*.rockspec && " .. who
        .. "git commit -q -am 'the owner'")
      -- Nor while the checkout holds a change not committed, which the
      -- tag would not hold.
      run_in(r, "echo '-- not committed' >> " .. RELEASE)
      refused, ok = shell.run("cd " .. q(r) .. " && " .. who .. "sh examples/release.sh " .. VERSION)
      assert.is_false(ok, refused)
      assert.truthy(refused:find("release.sh: the checkout has changes not committed; commit them first"
        .. " (README: Releasing)\n", 1, true), refused)
      assert.are.equal("", run_in(r, "git tag"))
      run_in(r, "git checkout -q -- " .. RELEASE)
      -- A new file not committed (the release rockspec copied, not moved,
      -- say) is such a change too.
      run_in(r, "touch not-committed.rockspec")
      refused, ok = shell.run("cd " .. q(r) .. " && " .. who .. "sh examples/release.sh " .. VERSION)
      assert.is_false(ok, refused)
      assert.truthy(refused:find("release.sh: the checkout has changes not committed", 1, true), refused)
      assert.are.equal("", run_in(r, "git tag"))
      run_in(r, "rm not-committed.rockspec")
      -- Its check loads the rock it built, whatever Lua 5.4's own path
      -- variables name (it read a decoy's version before; install review).
      local decoy = tmp .. "/decoy"
      run_in(tmp, "mkdir -p " .. q(decoy .. "/codearts/batchresult"))
      for _, name in ipairs({ "codearts/batchresult.lua", "codearts/batchresult/core.lua" }) do
        local f = assert(io.open(decoy .. "/" .. name, "w"))
        f:write('io.stderr:write("DECOY loaded\\n") return { VERSION = os.getenv("VERSION") }\n')
        f:close()
      end
      local out = run_in(r, "LUA_PATH_5_4=" .. q(decoy .. "/?.lua;;") .. " LUA_CPATH_5_4=" .. q(decoy .. "/?.so;;")
        .. " " .. who .. "sh examples/release.sh " .. VERSION)
      assert.truthy(out:find("codearts-batchresult-" .. VERSION .. "-1.src.rock builds and loads\n", 1, true), out)
      assert.falsy(out:find("DECOY", 1, true), out)
      -- make rock packs the rockspec as tagged, fetching from this
      -- checkout what its source.url names (there is no network here),
      -- whatever commits and the working tree have made of it since.
      run_in(r, "sed -i 's|github.com/example/|github.com/another/|' " .. RELEASE .. " && " .. who
        .. "git commit -q -am 'another owner' && echo '-- not tagged' >> " .. RELEASE
        .. " && rm codearts-batchresult-" .. VERSION .. "-1.src.rock && make rock")
      assert.are.equal(run_in(r, "git show v" .. VERSION .. ":" .. RELEASE),
        run_in(r, "unzip -p codearts-batchresult-" .. VERSION .. "-1.src.rock " .. RELEASE))
      -- The rock it made installs and queries.
      run_in(tmp, "luarocks --lua-version=5.4 build --deps-mode=none --tree=" .. q(tmp .. "/tree") .. " "
        .. q(r .. "/codearts-batchresult-" .. VERSION .. "-1.src.rock"))
      assert_queries(server, "lua5.4", tmp .. "/tree/share/lua/5.4", tmp .. "/tree/lib/lua/5.4")
    end)
  end)
end)
