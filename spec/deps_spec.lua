-- scripts/deps.sh on machines unlike this one, simulated: a copy of this
-- machine's dpkg status with packages swapped (Debian's luajit for the
-- luajit2 fork, libcurl's GnuTLS flavour for OpenSSL's), read by the real
-- dpkg-query (--admindir) and the real apt-get, which only simulates
-- (-s, with Dir::State::status on the copy).  deps.sh finds both on PATH;
-- they run as root, as make does when it installs.  Nothing is installed.
-- Its subject is no Lua's: it runs once per make test.
local once = require "spec.support.once"
local shell = require "spec.support.shell"
local q = shell.quote

local root = shell.repo_root()
local usable = shell.run("command -v dpkg-query && command -v apt-cache && [ \"$(id -u)\" = 0 ]")

-- Fields of apt-cache's records that a dpkg status file may not hold.
local archive_only = { Filename = true, Size = true, MD5sum = true, SHA256 = true,
  ["Description-md5"] = true, Tag = true }

-- This machine's status without the packages of drop, with those of add
-- (as apt-cache knows them) installed, in dir/status.
local function status_copy(dir, drop, add)
  local dropped = {}
  for _, name in ipairs(drop) do dropped[name] = true end
  local f = assert(io.open("/var/lib/dpkg/status"))
  local text = f:read("*a")
  f:close()
  local out = {}
  for stanza in (text .. "\n\n"):gmatch("(.-)\n\n+") do
    local name = stanza:match("^Package: (%S+)")
    if name and not dropped[name] then out[#out + 1] = stanza end
  end
  for _, name in ipairs(add) do
    local record, ok = shell.run("apt-cache show --no-all-versions " .. q(name))
    assert(ok, record)
    local lines = {}
    for line in record:gsub("\n+$", ""):gmatch("[^\n]+") do
      if not archive_only[line:match("^([%w-]+):")] then lines[#lines + 1] = line end
    end
    table.insert(lines, 2, "Status: install ok installed")
    out[#out + 1] = table.concat(lines, "\n")
  end
  f = assert(io.open(dir .. "/status", "w"))
  f:write(table.concat(out, "\n\n"), "\n")
  f:close()
end

-- The output of cmd, run in the checkout (apt's included), and whether it
-- succeeded, with the status copy in dir standing in for the machine's.
local function with_copy(dir, cmd)
  local bin = dir .. "/bin"
  local wrappers = {
    ["dpkg-query"] = 'exec /usr/bin/dpkg-query --admindir="$ADMINDIR" "$@"\n',
    -- One run at a time, as apt-get's lock allows; update would fetch the
    -- real lists (they are already here), so it only holds the lock a while.
    ["apt-get"] = 'mkdir "$ADMINDIR/apt.lock" 2>/dev/null || { echo "E: Could not get lock" >&2; exit 100; }\n'
      .. 'trap \'rmdir "$ADMINDIR/apt.lock"\' EXIT\n'
      .. '[ "$1" = update ] && { sleep 1; exit 0; }\n'
      .. '/usr/bin/apt-get -s -o Dir::State::status="$ADMINDIR/status" "$@"\n',
  }
  shell.run("mkdir -p " .. q(bin) .. " " .. q(dir .. "/updates") .. " " .. q(dir .. "/info"))
  for name, body in pairs(wrappers) do
    local f = assert(io.open(bin .. "/" .. name, "w"))
    f:write("#!/bin/sh\n", body)
    f:close()
  end
  shell.run("chmod +x " .. q(bin) .. "/*")
  return shell.run(("cd %s && ADMINDIR=%s PATH=%s:$PATH %s"):format(q(root), q(dir), q(bin), cmd))
end

local function deps(dir, env, sets)
  return with_copy(dir, env .. " sh scripts/deps.sh " .. sets)
end

local luajit2 = { "luajit2", "libluajit2-5.1-2", "libluajit2-5.1-common", "libluajit2-5.1-dev",
  -- nginx's Lua module needs the fork: a machine with Debian's LuaJIT has none.
  "libnginx-mod-http-lua", "lua-resty-core", "lua-resty-lrucache" }
local luajit = { "luajit", "libluajit-5.1-2", "libluajit-5.1-common" }

local function with_status(drop, add, run)
  local dir = shell.temp_dir()
  finally(function() shell.remove(dir) end)
  status_copy(dir, drop, add)
  return run(dir)
end

once.describe("scripts/deps.sh", function()
  if not usable then
    pending("needs Debian's dpkg-query and apt-cache, as root")
    return
  end

  it("takes Debian's luajit and its headers for luajit2's", function()
    with_status(luajit2, { "luajit", "libluajit-5.1-2", "libluajit-5.1-common", "libluajit-5.1-dev" },
      function(dir)
        local out, ok = deps(dir, "LUA_VERSION=jit", "build luas")
        assert(ok, out)
        assert.is_nil(out:find("install", 1, true), out)
      end)
  end)

  it("installs the headers of the LuaJIT present, removing nothing", function()
    with_status(luajit2, luajit, function(dir)
      local out, ok = deps(dir, "LUA_VERSION=jit", "build")
      assert(ok, out)
      assert.truthy(out:find("installing missing Debian packages: libluajit-5.1-dev\n", 1, true), out)
      assert.truthy(out:find("\nInst libluajit-5.1-dev ", 1, true), out)
      assert.is_nil(out:find("Remv", 1, true), out)
    end)
  end)

  it("stops rather than remove a package in the way (libcurl's GnuTLS flavour)", function()
    with_status({ "libcurl4-openssl-dev" }, { "libcurl4-gnutls-dev" }, function(dir)
      local out, ok = deps(dir, "LUA_VERSION=5.4", "build")
      assert.is_false(ok, out)
      assert.truthy(out:find("Packages need to be removed but remove is disabled", 1, true), out)
      assert.truthy(out:find("did not install libcurl4-openssl-dev (above; it is not let remove", 1, true), out)
      assert.is_nil(out:find("Remv", 1, true), out)
    end)
  end)

  it("runs apt-get once at a time when make -j runs two deps.sh at once", function()
    with_status({ "pkg-config" }, {}, function(dir)
      local out, ok = with_copy(dir, "sh -c " .. q("LUA_VERSION=5.4 sh scripts/deps.sh build & a=$!;"
        .. " LUA_VERSION=5.4 sh scripts/deps.sh build; b=$?; wait $a; echo \"exits $? $b\"") .. " 2>&1")
      assert(ok, out)
      assert.truthy(out:find("exits 0 0\n", 1, true), out)
      assert.is_nil(out:find("Could not get lock", 1, true), out)
      local _, installs = out:gsub("installing missing Debian packages: pkg%-config\n", "")
      assert.are.equal(2, installs, out)
    end)
  end)

  -- gcc only recommends libc6-dev, and apt-get installs no recommends
  -- here: only liblua5.x-dev pulled it in, so on a fresh machine `make
  -- LUA_VERSION=jit` (examples/nvim/install.sh) or a build given
  -- LUA_INCDIR installed a gcc with no <stdio.h> (review pack55).
  it("checks for the C library's headers, which no package it installs for LuaJIT depends on", function()
    with_status({ "libc6-dev" }, {}, function(dir)
      for _, lua in ipairs({ "jit", "none", "5.4" }) do
        local out, ok = deps(dir, "LUA_VERSION=" .. lua, "build")
        assert(ok, out)
        assert.truthy(out:find("installing missing Debian packages: libc6-dev\n", 1, true), lua .. ": " .. out)
      end
    end)
  end)

  it("asks for no Debian Lua when make is given the headers (LUA_INCDIR)", function()
    with_status({ "lua5.3", "liblua5.3-dev" }, {}, function(dir)
      local out, ok = with_copy(dir, "make deps-build LUA_INCDIR=/usr/include/lua5.3 2>&1")
      assert(ok, out)
      assert.is_nil(out:find("install", 1, true), out)
    end)
  end)

  it("has make demo check only what the demo needs", function()
    -- Packages only make test needs: the demo goes on without them.
    with_status({ "neovim", "lua-busted", "wrk" }, {}, function(dir)
      local out, ok = with_copy(dir, "make demo")
      assert(ok, out)
      assert.is_nil(out:find("install", 1, true), out)
      assert.truthy(out:find("Pipeline 1  e41fe3981361476eb6dad17ad98c683c  START_FAILED", 1, true), out)
    end)
  end)
end)
