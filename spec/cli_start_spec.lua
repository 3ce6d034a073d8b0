-- bin/codearts-batchresult before the tool runs: where it loads its modules
-- from, what it says when a module cannot be loaded, and an interrupt while
-- they load.  The tool runs from the checkout, or a copy of its bin/ and
-- lua/, in a child of this Lua, with LUA_PATH and LUA_CPATH that hold none
-- of the system's directories (only what a test puts there) unless a test
-- says otherwise.
local shell = require "spec.support.shell"
local config = require "codearts.batchresult.config"
local once = require "spec.support.once"
local q = shell.quote

local root = shell.repo_root()
local lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local abi = rawget(_G, "jit") and "5.1" or _VERSION:match("%d+%.%d+")

-- A directory with share/ and lib/ trees for LUA_PATH and LUA_CPATH.
local function module_dir()
  local dir = shell.temp_dir()
  finally(function() shell.remove(dir) end)
  shell.run("mkdir -p " .. q(dir .. "/share") .. " " .. q(dir .. "/lib"))
  return dir
end

-- Puts the Debian package's modules for this Lua into dir's trees (links
-- to the installed files).
local function add_package(dir, package)
  local files, ok = shell.run("dpkg -L " .. q(package))
  assert(ok, files)
  for path in files:gmatch("[^\n]+") do
    for _, tree in ipairs({ { "/usr/share/lua/" .. abi .. "/", "/share/" },
      { "/usr/lib/x86_64-linux-gnu/lua/" .. abi .. "/", "/lib/" } }) do
      local rel = path:sub(1, #tree[1]) == tree[1] and path:sub(#tree[1] + 1)
      if rel and rel ~= "" and not rel:find("/$") then
        local to = dir .. tree[2] .. rel
        local out, linked = shell.run(("[ -d %s ] && mkdir -p %s || { mkdir -p %s && ln -s %s %s; }")
          :format(q(path), q(to), q(to:match("^(.*)/")), q(path), q(to)))
        assert(linked, out)
      end
    end
  end
end

-- The tool's stderr and exit status, run with only dir's modules beside
-- the checkout's.  prelude: shell commands before it.
local function start(dir, prelude)
  local out = shell.run(("cd %s && %s LUA_PATH=%s LUA_CPATH=%s %s bin/codearts-batchresult --version 2>&1 >/dev/null;"
    .. " echo \"status=$?\""):format(q(root), prelude or "", q(dir .. "/share/?.lua;" .. dir .. "/share/?/init.lua"),
    q(dir .. "/lib/?.so"), lua))
  local err, status = out:match("^(.-)status=(%d+)%s*$")
  return err, tonumber(status)
end

-- A copy of the checkout's bin/ and lua/ in dir/c, with build/ a link to
-- the checkout's (build, true) or none; returns dir/c.
local function copy_tool(dir, build)
  local c = dir .. "/c"
  local out, ok = shell.run(("mkdir %s && cp -R %s %s %s"):format(q(c), q(root .. "/bin"), q(root .. "/lua"), q(c))
    .. (build and (" && ln -s %s %s"):format(q(root .. "/build"), q(c .. "/build")) or ""))
  assert(ok, out)
  return c
end

-- `command --version` (or command option) run in directory from, with the
-- interpreter's own module paths unless env (shell assignments) sets them:
-- its output (stdout and stderr) and whether it exited with 0.
local function version_from(from, command, env, option)
  return shell.run(("cd %s && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_2 -u LUA_CPATH_5_2 -u LUA_PATH_5_3"
    .. " -u LUA_CPATH_5_3 -u LUA_PATH_5_4 -u LUA_CPATH_5_4 %s %s %s %s"):format(q(from), env or "", lua,
    command, option or "--version"))
end

once.unchecked("bin/codearts-batchresult, starting", function()
  local usable = shell.run("dpkg -L lua-argparse lua-term lua-cjson >/dev/null")

  it("never loads a module from the directory it is started in", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    -- Lua's default paths search ./ (under 5.1 and LuaJIT first of all),
    -- and Lua files before C modules: each stray would run in place of the
    -- real module, and say so.
    local dir = module_dir()
    local c = copy_tool(dir, true)
    for _, cwd in ipairs({ dir, c, c .. "/bin" }) do
      for _, stray in ipairs({ "codearts/batchresult/core.lua", "cjson.lua" }) do
        local path = cwd .. "/" .. stray
        local out, ok = shell.run("mkdir -p " .. q(path:match("^(.*)/")))
        assert(ok, out)
        local f = assert(io.open(path, "w"))
        f:write(("print(%q) os.exit(0)\n"):format("STRAY " .. stray .. " RUN from the current directory"))
        f:close()
      end
    end
    -- The checkout's own paths are found from the script's, however it is
    -- named: by a path from elsewhere, from the checkout (./bin/…), and
    -- from bin/ itself (no directory in it at all).
    local started = {
      { dir, q(root .. "/bin/codearts-batchresult") },
      { dir, "c/bin/codearts-batchresult" },
      { c, "./bin/codearts-batchresult" },
      { c .. "/bin", "codearts-batchresult" },
    }
    -- Entries that start with ? name the current directory too.
    for _, env in ipairs({ "", "LUA_PATH='?.lua;?/init.lua;;' LUA_CPATH='?.so;;'" }) do
      for _, how in ipairs(started) do
        local out, ok = version_from(how[1], how[2], env)
        assert.are.same({ "codearts-batchresult " .. config.VERSION .. "\n", true }, { out, ok },
          "from " .. how[1] .. ": " .. env .. " " .. how[2])
      end
    end
  end)

  -- A checkout or tree whose path held a ";" put a relative entry on the
  -- path, read in the directory the tool started in (review install44).
  it("refuses to start from a directory whose path Lua's module paths cannot hold", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    local dir = module_dir()
    -- where the relative entry "b/c/lua/?.lua" leads, from dir
    local stray = dir .. "/b/c/lua/codearts/batchresult"
    local out, ok = shell.run("mkdir -p " .. q(stray))
    assert(ok, out)
    local f = assert(io.open(stray .. "/cli.lua", "w"))
    f:write('print("STRAY cli.lua RUN from the current directory") os.exit(0)\n')
    f:close()
    for _, name in ipairs({ "a;b", "q?x" }) do
      local home = dir .. "/" .. name
      out, ok = shell.run("mkdir -p " .. q(home))
      assert(ok, out)
      local c = copy_tool(home, true)
      out, ok = version_from(dir, q(c .. "/bin/codearts-batchresult"))
      assert.is_false(ok, out)
      assert.are.equal("codearts-batchresult: cannot start: the tool's directory, " .. c .. ", holds a ';' or a "
        .. "'?', which Lua's module paths cannot hold: move it to a path without them\n", out)
    end
    -- A path through such a directory to one that holds neither is the
    -- latter's (review fixes44c).
    out, ok = shell.run("mkdir -p " .. q(dir .. "/clean"))
    assert(ok, out)
    copy_tool(dir .. "/clean", true)
    out, ok = version_from(dir, q(dir .. "/a;b/../clean/c/bin/codearts-batchresult"))
    assert.are.same({ "codearts-batchresult " .. config.VERSION .. "\n", true }, { out, ok })
  end)

  -- A LUA_PATH's entries are kept, but Lua searches all of package.path
  -- before package.cpath: a stray core.lua there ran in place of the
  -- tool's own C module (review install43).
  it("runs its own C module whatever a LUA_PATH it keeps holds", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    local dir = module_dir()
    local path = dir .. "/share/codearts/batchresult/core.lua"
    local out, ok = shell.run("mkdir -p " .. q(path:match("^(.*)/")))
    assert(ok, out)
    local f = assert(io.open(path, "w"))
    f:write('print("STRAY core.lua RUN from LUA_PATH") os.exit(0)\n')
    f:close()
    out, ok = version_from(dir, q(root .. "/bin/codearts-batchresult"), "LUA_PATH=" .. q(dir .. "/share/?.lua;;"))
    assert.are.same({ "codearts-batchresult " .. config.VERSION .. "\n", true }, { out, ok })
  end)

  -- The C module's path and what the tool says of it, when dir/lib holds
  -- core.so (written by fill(path)), and the copy has no build/.
  local function not_loaded(fill)
    local dir = module_dir()
    local c = copy_tool(dir)
    local so = dir .. "/lib/codearts/batchresult/core.so"
    local out, ok = shell.run("mkdir -p " .. q(dir .. "/lib/codearts/batchresult"))
    assert(ok, out)
    fill(so)
    out, ok = version_from(c, "bin/codearts-batchresult", "LUA_CPATH=" .. q(dir .. "/lib/?.so;;"))
    assert.is_false(ok, out)
    return so, out
  end

  it("says why the C module it found cannot be loaded, on one line", function()
    local so, out = not_loaded(function(path)
      assert(io.open(path, "w")):close()
    end)
    local prefix = "codearts-batchresult: cannot start: error loading module 'codearts.batchresult.core' from file '"
      .. so .. "': " .. so .. ": "
    assert.are.equal(prefix, out:sub(1, #prefix))
    -- The system's reason (glibc: "file too short"): one line, not empty,
    -- and no word of another Lua.
    assert.truthy(out:sub(#prefix + 1):find("^[^\n]+\n$"), out)
    assert.is_nil(out:find("another Lua", 1, true), out)
  end)

  it("says that the C module it found was built for another Lua, and how to build it for this one", function()
    -- Another Lua's build from the checkout's (make build-all): 5.1's lacks
    -- symbols 5.4 has, and 5.4's symbols 5.1 (and LuaJIT) lack.
    local other = root .. "/build/" .. (abi == "5.1" and "5.4" or "5.1") .. "/codearts/batchresult/core.so"
    local so, out = not_loaded(function(path)
      local copied, ok = shell.run("cp " .. q(other) .. " " .. q(path))
      assert(ok, copied)
    end)
    local symbol = out:match(": undefined symbol: (luaL?_[%w_]+) ")
    assert(symbol, out)
    local jit = rawget(_G, "jit")
    local version = jit and "jit" or abi
    assert.are.equal("codearts-batchresult: cannot start: error loading module 'codearts.batchresult.core' from file '"
      .. so .. "': " .. so .. ": undefined symbol: " .. symbol .. " (a build for another Lua than this interpreter's, "
      .. (jit and jit.version or _VERSION) .. ": rebuild it with `luarocks --lua-version=" .. abi
      .. " make`, or from a checkout `make LUA_VERSION=" .. version .. "`)\n", out)
  end)

  -- The hint had the user rebuild this project for a module of another's
  -- (fixes review).
  it("names the package of a module of others built for another Lua, with no rebuild hint", function()
    local other = "/usr/lib/x86_64-linux-gnu/lua/" .. (abi == "5.1" and "5.4" or "5.1")
    if not usable or not io.open(other .. "/cjson.so") then
      pending("needs Debian's lua-cjson for Lua 5.1 and 5.4")
      return
    end
    local out, ok = version_from(root, "bin/codearts-batchresult", "LUA_CPATH=" .. q(other .. "/?.so;;"))
    assert.is_false(ok, out)
    local jit = rawget(_G, "jit")
    assert.truthy(out:find("^codearts%-batchresult: cannot start: error loading module 'cjson[.%w]*' from file '"
      .. other:gsub("%p", "%%%0") .. "/cjson%.so': [^\n]*: undefined symbol: luaL?_[%w_]+ %(a build for another Lua"
      .. " than this interpreter's, " .. (jit and jit.version or _VERSION):gsub("%p", "%%%0")
      .. ": install the one for it: Debian: lua%-cjson; LuaRocks: lua%-cjson%)\n$"), out)
  end)

  it("names each module of others it cannot find and the package that provides it, then starts", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    local packages = {
      argparse = { "lua-argparse", "Debian: lua-argparse; LuaRocks: argparse" },
      term = { "lua-term", "Debian: lua-term; LuaRocks: lua-term" },
      cjson = { "lua-cjson", "Debian: lua-cjson; LuaRocks: lua-cjson" },
    }
    local dir = module_dir()
    local named = {}
    for _ = 1, 4 do
      local err, status = start(dir)
      if status == 0 then break end
      assert.are.equal(3, status, err)
      local missing = err:match("^codearts%-batchresult: cannot start: module '([^']+)' not found")
      local package = assert(packages[(missing or ""):match("^[^.]*")], err)
      -- One line, the package named, and no build hint: make builds none of them.
      assert.are.equal(("codearts-batchresult: cannot start: module '%s' not found (%s)\n")
        :format(missing, package[2]), err)
      named[#named + 1] = package[1]
      add_package(dir, package[1])
    end
    table.sort(named)
    assert.are.same({ "lua-argparse", "lua-cjson", "lua-term" }, named)
    local err, status = start(dir)
    assert.are.equal(0, status, err)
  end)

  -- Installed in a tree of its own, without the paths LuaRocks sets, the
  -- tool said only that its module was not found, with no hint (newcomer
  -- review).
  it("says how to set the paths when its own modules are on none, as README's Install does", function()
    -- The script alone: no lua/ beside it, nor a link to a checkout.
    local dir = module_dir()
    local out, ok = shell.run(("mkdir %s && cp %s %s"):format(q(dir .. "/bin"), q(root .. "/bin/codearts-batchresult"),
      q(dir .. "/bin")))
    assert(ok, out)
    local err, status = start(dir, "cd " .. q(dir) .. " &&")
    assert.are.equal(3, status, err)
    assert.are.equal("codearts-batchresult: cannot start: module 'codearts.batchresult.cli' not found (in a"
      .. ' --tree=DIR, the tool finds its modules once `eval "$(luarocks --lua-version=' .. abi .. ' path'
      .. ' --tree=DIR)"` has set the paths)\n', err)
    -- README's own words, which the hint repeats.
    local readme = assert(io.open(root .. "/README.md")):read("*a")
    assert.truthy(readme:find('`eval "$(luarocks --lua-version=5.4 path --tree=DIR)"` has set the paths', 1, true))
  end)

  -- The tool of a rock removed from a tree, or the one LuaRocks set aside
  -- as codearts-batchresult~ when another Lua's rock was installed there,
  -- was told to set the paths, which would find nothing (review fixes28).
  it("names the rock to install again when the LuaRocks tree it is in holds no modules for its Lua", function()
    local dir = module_dir()
    local out, ok = shell.run(("mkdir -p %s %s && cp %s %s"):format(q(dir .. "/bin"),
      q(dir .. "/lib/luarocks/rocks-" .. abi), q(root .. "/bin/codearts-batchresult"), q(dir .. "/bin")))
    assert(ok, out)
    local real = shell.run("cd " .. q(dir) .. " && pwd -P"):match("[^\n]+")
    local err, status = start(dir, "cd " .. q(dir) .. " &&")
    assert.are.equal(3, status, err)
    assert.are.equal("codearts-batchresult: cannot start: module 'codearts.batchresult.cli' not found (the"
      .. " LuaRocks tree it is in, " .. real .. ", holds no codearts-batchresult for Lua " .. abi .. ": install it"
      .. " there again, `luarocks --lua-version=" .. abi .. " --tree=" .. q(real) .. " make --deps-mode=none"
      .. " codearts-batchresult-[0-9]*.rockspec` in a checkout; or delete this copy of the tool)\n", err)
    -- A tree whose path holds a newline: one line all the same, the
    -- module named (review fixes41: the message was cut at the newline)
    local odd = dir .. "/new\nline"
    out, ok = shell.run(("mkdir -p %s %s && cp %s %s"):format(q(odd .. "/bin"),
      q(odd .. "/lib/luarocks/rocks-" .. abi), q(root .. "/bin/codearts-batchresult"), q(odd .. "/bin")))
    assert(ok, out)
    err, status = start(dir, "cd " .. q(odd) .. " &&")
    assert.are.equal(3, status, err)
    assert.are.equal("codearts-batchresult: cannot start: module 'codearts.batchresult.cli' not found (the"
      .. " LuaRocks tree it is in, " .. real .. "/new?line, holds no codearts-batchresult for Lua " .. abi
      .. ": install it there again, as README's Install does; or delete this copy of the tool)\n", err)
  end)

  -- Runs bin/codearts-batchresult --version from root (with env before it)
  -- while a module that holds the loading (it says so, then spins) stands
  -- in for one the tool loads, written to path; SIGINT comes once it
  -- spins.  LuaJIT's interpreter, not its compiled loops, sees the
  -- interrupt: the spin is not compiled.  (A KILL after 20 s ends a tool
  -- that did not stop.)  Returns the exit status and stderr as one string.
  local function interrupted(dir, from, env, path)
    local f = assert(io.open(path, "w"))
    f:write('if jit then jit.off() end\n',
      'local ready = assert(io.open(os.getenv("READY"), "w")) ready:close() while true do end\n')
    f:close()
    return (shell.run(("cd %s && READY=%s %s %s bin/codearts-batchresult --version"
      .. " 2>%s & pid=$!; i=0; while [ ! -e %s ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done;"
      .. " kill -INT $pid; (sleep 20; kill -KILL $pid) >/dev/null 2>&1 & wait $pid; echo \"status=$?\"; cat %s")
      :format(q(from), q(dir .. "/ready"), env, lua, q(dir .. "/err"), q(dir .. "/ready"), q(dir .. "/err"))))
  end

  it("exits 130 when interrupted while its modules load", function()
    local dir = module_dir()
    local env = ("LUA_PATH=%s LUA_CPATH=%s"):format(q(dir .. "/share/?.lua"), q(dir .. "/lib/?.so"))
    assert.are.equal("status=130\ncodearts-batchresult: interrupted\n",
      interrupted(dir, root, env, dir .. "/share/argparse.lua"))
  end)

  it("exits 130 when interrupted while the library's error module loads", function()
    -- In a copy of the tool and the library whose error.lua holds the
    -- loading: 5.1 and LuaJIT then refuse to load it again, and 5.3 and 5.4
    -- would run it again, so the tool must tell an interrupt without it.
    local dir = module_dir()
    local out, ok = shell.run(("cp -R %s %s %s && ln -s %s %s"):format(q(root .. "/bin"), q(root .. "/lua"), q(dir),
      q(root .. "/build"), q(dir .. "/build")))
    assert(ok, out)
    assert.are.equal("status=130\ncodearts-batchresult: interrupted\n",
      interrupted(dir, dir, "", dir .. "/lua/codearts/batchresult/error.lua"))
  end)

  -- Ctrl-C while the tool found its modules: one that came as it ran
  -- readlink for a link was taken for a link left unresolved (a protected
  -- io.popen), and the tool went on to start runs, its next signal then
  -- killing it unreported; one that came anywhere else there ended it by
  -- the interpreter, exit 1, a traceback (review fixes26).  The
  -- interrupt, as lua.c raises it at a call, a return or a line, at each
  -- such event in turn: from the script's protected call on (after the
  -- call's own event, which comes before it protects anything), and from
  -- io.popen's on, wherever that falls.
  it("exits 130 when interrupted at any step while it finds its modules, started by a link", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    local dir = module_dir()
    local out, ok = shell.run(("ln -s %s %s"):format(q(root .. "/bin/codearts-batchresult"), q(dir .. "/tool")))
    assert(ok, out)
    local steps = {}
    for n = 2, 60 do steps[#steps + 1] = { "pcall", n } end
    for n = 100, 600, 50 do steps[#steps + 1] = { "pcall", n } end
    for n = 1, 40 do steps[#steps + 1] = { "io.popen", n } end
    for _, step in ipairs(steps) do
      local init = ("local n, armed = 0, false debug.sethook(function(event) if not armed then armed = event == 'call'"
        .. " and debug.getinfo(2, 'f').func == %s if not armed then return end end n = n + 1 if n == %d then"
        .. " debug.sethook() error('interrupted!') end end, 'crl')"):format(step[1], step[2])
      out = shell.run(("cd %s && LUA_INIT=%s %s %s --version 2>&1; echo \"status=$?\""):format(q(dir), q(init), lua,
        q(dir .. "/tool")))
      assert.are.equal("codearts-batchresult: interrupted\nstatus=130\n", out, ("at step %d from %s"):format(step[2],
        step[1]))
    end
  end)

  -- A Lua the tool was never built for (its _VERSION, as the next one
  -- will say it) ended it by the interpreter, exit 1 (review fixes27).
  it("cannot start, exit 3, under a Lua it has no build for, naming the build to make", function()
    if rawget(_G, "jit") then
      pending("LuaJIT's build is build/jit, whatever _VERSION says")
      return
    end
    local out = shell.run(("cd %s && LUA_INIT=%s %s bin/codearts-batchresult --version 2>&1; echo \"status=$?\"")
      :format(q(root), q('_VERSION = "Lua 5.9"'), lua))
    assert.truthy(out:find("^codearts%-batchresult: cannot start: module 'codearts%.batchresult%.core' not found"
      .. " %(from a checkout, `make LUA_VERSION=5%.9` builds it"), out)
    assert.truthy(out:find("\nstatus=3\n$"), out)
  end)

  -- Started by a link from another directory, the tool looked for the
  -- checkout beside the link, found none and could not start (cli review).
  it("finds the checkout through a link to it, and a relative link to that link, from anywhere", function()
    if not usable then
      pending("needs Debian's lua-argparse, lua-term and lua-cjson")
      return
    end
    -- Only the packages' modules on the paths: the checkout's are found
    -- from the script's path, or not at all.
    local dir = module_dir()
    for _, package in ipairs({ "lua-argparse", "lua-cjson", "lua-term" }) do add_package(dir, package) end
    local env = ("LUA_PATH=%s LUA_CPATH=%s"):format(q(dir .. "/share/?.lua;" .. dir .. "/share/?/init.lua"),
      q(dir .. "/lib/?.so"))
    local link, relative = dir .. "/a b'c/tool", dir .. "/d e/tool"
    local out, ok = shell.run(("mkdir %s %s && ln -s %s %s && ln -s %s %s"):format(q(dir .. "/a b'c"),
      q(dir .. "/d e"), q(root .. "/bin/codearts-batchresult"), q(link), q("../a b'c/tool"), q(relative)))
    assert(ok, out)
    local help, started = version_from(root, "bin/codearts-batchresult", env, "--help")
    assert.are.same({ "Usage: codearts-batchresult ", true }, { help:sub(1, 28), started }, help)
    for _, path in ipairs({ link, relative }) do
      assert.are.same({ help, true }, { version_from("/", q(path), env, "--help") }, path)
    end
  end)
end)
