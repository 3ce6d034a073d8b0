-- The Makefile's own checks of what it is given, before it builds anything.
local shell = require "spec.support.shell"
local once = require "spec.support.once"
local q = shell.quote

local root = shell.repo_root()

describe("the Makefile", function()
  -- make takes a value apart at its spaces: such a directory stops it at
  -- once, named, whichever it is (LuaRocks passes them all).
  for _, var in ipairs({ "LUA_INCDIR", "CURL_INCDIR", "CJSON_LIBDIR" }) do
    it("refuses " .. var .. " with a space in it, saying so", function()
      local out, ok = shell.run(("cd %s && make DEPS=none %s='/tmp/a b' all"):format(q(root), var))
      assert.is_false(ok, out)
      assert.truthy(out:find(var .. "=/tmp/a b holds a space, which make cannot pass on: name the directory"
        .. " by a path without one (a symbolic link to it).  Stop.\n", 1, true), out)
    end)
  end

  -- Headers the compiler cannot read (a C library's header missing: gcc
  -- without libc6-dev) were said to be "no usable lua.h", the compiler's
  -- reason swallowed (review pack55).
  it("says why the Lua headers it is given cannot be read, in the compiler's words", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    local f = assert(io.open(dir .. "/lua.h", "w"))
    f:write("#include <cab_no_such_header.h>\n#define LUA_VERSION_NUM 504\n")
    f:close()
    local out, ok = shell.run(("cd %s && make DEPS=none LUA_INCDIR=%s all"):format(q(root), q(dir)))
    assert.is_false(ok, out)
    assert.truthy(out:find("cab_no_such_header.h: No such file or directory", 1, true), out)
    assert.truthy(out:find("LUA_INCDIR=" .. dir .. " holds no usable lua.h", 1, true), out)
  end)

  -- Any other value had deps.sh ask for Debian packages that do not exist
  -- (liblualuajit-dev) and left build/luajit behind.
  it("refuses a LUA_VERSION it cannot build for, naming those it can, before doing anything", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    shell.copy_checkout(dir)
    local out, ok = shell.run(("cd %s && make DEPS=none LUA_VERSION=luajit all"):format(q(dir)))
    assert.is_false(ok, out)
    assert.are.equal("LUA_VERSION=luajit is none of 5.1 5.2 5.3 5.4 jit (jit: LuaJIT).  Stop.\n",
      out:match("^Makefile:%d+: %*%*%* (.*)$"), out)
    assert.is_false(select(2, shell.run("[ -e " .. q(dir .. "/build") .. " ]")), "make left build/ behind")
  end)

  -- On a fresh machine `make demo` (and `make`) stopped at once: the flags
  -- were asked of pkg-config as make started, before its deps step had
  -- installed liblua5.4-dev (review fresh48).  Here the deps step is one
  -- that "installs" by making pkg-config answer from then on.
  it("asks pkg-config for the flags after its deps step, which may install what they come from", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    shell.copy_checkout(dir)
    local real = assert(shell.run("command -v pkg-config")):gsub("%s+$", "")
    local fake = dir .. "/fake-bin/pkg-config"
    assert(select(2, shell.run(("mkdir -p %s && printf '%%s\n' '#!/bin/sh' %s > %s && chmod +x %s"):format(
      q(dir .. "/fake-bin"), q("[ -e " .. q(dir .. "/installed") .. " ] && exec " .. q(real) .. ' "$@"; exit 1'),
      q(fake), q(fake)))))
    local f = assert(io.open(dir .. "/installs.mk", "w"))
    f:write("deps-build:\n\t@touch ", dir, "/installed\n")
    f:close()
    local out, ok = shell.run(("cd %s && PATH=%s:$PATH make -s -f Makefile -f installs.mk all 2>&1 && echo built")
      :format(q(dir), q(dir .. "/fake-bin")))
    assert.is_true(ok, out)
    assert.truthy(out:find("built\n", 1, true), out)
  end)

  -- "5.4 " passed the check, and build/5.4 with its space failed to make
  -- (fixes review).
  it("takes a LUA_VERSION with spaces around it as the Lua it names", function()
    local out, ok = shell.run(("cd %s && make -s DEPS=none LUA_VERSION=' 5.4 ' all && echo built"):format(q(root)))
    assert.is_true(ok, out)
    assert.are.equal("built\n", out)
    -- and beside LUA_INCDIR, whose headers it is checked against (what
    -- make would run, not run: other flags would rebuild build/5.4 under
    -- the suites that load it)
    out, ok = shell.run(("cd %s && make -n DEPS=none LUA_INCDIR=/usr/include/lua5.4 LUA_VERSION='5.4 ' all")
      :format(q(root)))
    assert.is_true(ok, out)
    assert.is_nil(out:find("holds the headers of", 1, true), out)
  end)

  -- A luaconf.h changed in place (LUA_32BITS, say: a 32-bit lua_Integer)
  -- changes the ABI with no flag changed: the module was kept, built for
  -- the other (review install45).  Any change of the headers' macros
  -- builds it again; here one no build reads.  So does a change of any
  -- other header src/ includes: only lua.h's (with luaconf.h) counted,
  -- not lauxlib.h's (review pkg47).
  -- (a build's own work, the same under every Lua: once per make test)
  once.describe("with its headers changed", function()
    it("builds the module again when the Lua headers it was built with change in place", function()
      local dir = shell.temp_dir()
      finally(function() shell.remove(dir) end)
      shell.copy_checkout(dir .. "/repo")
      assert(shell.run(("cp -r /usr/include/lua5.4 %s"):format(q(dir .. "/inc"))))
      local make = ("cd %s && make -j2 DEPS=none LUA_INCDIR=%s all"):format(q(dir .. "/repo"), q(dir .. "/inc"))
      local out, ok = shell.run(make)
      assert.is_true(ok, out)
      assert(shell.run("touch " .. q(dir .. "/before")))
      out, ok = shell.run(make)
      assert.is_true(ok and not out:find(" -c src/", 1, true), "built again with nothing changed: " .. out)
      -- nor anything written: a built checkout may be read-only (its
      -- flags' draft failed make there; review pkg49)
      assert.are.equal("", (shell.run(("find %s -newer %s"):format(q(dir .. "/repo/build"), q(dir .. "/before")))))
      for _, header in ipairs({ "luaconf.h", "lauxlib.h" }) do
        assert(shell.run(("printf '#define CAB_SPEC_CHANGED_%s 1\n' >> %s"):format(header:match("^%a+"),
          q(dir .. "/inc/" .. header))))
        out, ok = shell.run(make)
        assert.is_true(ok, out)
        assert.truthy(out:find(" -c src/core.c ", 1, true), header .. " changed: " .. out)
      end
    end)
  end)

  describe("install", function()
    local tmp
    before_each(function() tmp = shell.temp_dir() end)
    after_each(function() shell.remove(tmp) end)

    -- make install in the checkout, with these words after it.
    local function install(words)
      return shell.run(("cd %s && make -s DEPS=none install %s"):format(q(root), words))
    end

    -- LUA_VERSION defaults to 5.4 on the install's own call, whatever the
    -- last make built: a directory named for another Lua got 5.4's module.
    it("refuses a directory of another Lua's modules than the build's, installing nothing", function()
      for _, case in ipairs({
        { "", "/lib/lua/5.1", "Lua 5.1, but LUA_VERSION=5.4 builds for Lua 5.4: give LUA_VERSION=5.1"
          .. " (or jit, for LuaJIT)" },
        { "LUA_VERSION=jit", "/lib/lua/5.4/", "Lua 5.4, but LUA_VERSION=jit builds for LuaJIT: give LUA_VERSION=5.4" },
      }) do
        local out, ok = install(("%s INST_LIBDIR=%s INST_LUADIR=%s"):format(case[1], q(tmp .. case[2]),
          q(tmp .. "/share")))
        assert.is_false(ok, out)
        assert.are.equal("INST_LIBDIR=" .. tmp .. case[2] .. " is for " .. case[3] .. ".  Stop.\n",
          out:match("^Makefile:%d+: %*%*%* (.*)$"), out)
        assert.are.equal("", (shell.run("ls -A " .. q(tmp))))
      end
      -- LuaJIT loads 5.1's modules.
      local out, ok = shell.run(("cd %s && make -n DEPS=none LUA_VERSION=jit install INST_LIBDIR=%s INST_LUADIR=%s")
        :format(q(root), q(tmp .. "/lib/lua/5.1"), q(tmp .. "/share/lua/5.1")))
      assert(ok, out)
      assert.truthy(out:find("install -m 0755 build/jit/codearts/batchresult/core.so", 1, true), out)
    end)

    it("puts DESTDIR before both directories, for a staged install, and refuses PREFIX", function()
      local live = tmp .. "/live"
      local dirs = ("INST_LIBDIR=%s INST_LUADIR=%s"):format(q(live .. "/lib/lua/5.4"), q(live .. "/share/lua/5.4"))
      local out, ok = install("PREFIX=/usr " .. dirs)
      assert.is_false(ok, out)
      assert.are.equal("PREFIX means nothing here: make install installs into INST_LIBDIR and INST_LUADIR"
        .. " (README: Install).  Stop.\n", out:match("^Makefile:%d+: %*%*%* (.*)$"), out)
      out, ok = install("LUA_VERSION=5.4 DESTDIR=" .. q(tmp .. "/stage") .. " " .. dirs)
      assert(ok, out)
      assert.is_false(select(2, shell.run("[ -e " .. q(live) .. " ]")), "make install wrote into the live path")
      -- The staged tree is a whole install: Lua 5.4 loads the module from it.
      local staged = tmp .. "/stage" .. live
      out, ok = shell.run(("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
        q(staged .. "/share/lua/5.4/?.lua"), q(staged .. "/lib/lua/5.4/?.so"),
        q('local br = require "codearts.batchresult" io.write(br.VERSION, " ", package.searchpath('
          .. '"codearts.batchresult.core", package.cpath))')))
      assert(ok, out)
      local config = require "codearts.batchresult.config"
      assert.are.equal(config.VERSION .. " " .. staged .. "/lib/lua/5.4/codearts/batchresult/core.so", out)
    end)

    -- A directory named on make's command line went through make and then
    -- sh inside double quotes: "$x" was dropped and "`…`" ran, luarocks
    -- make --tree=… said installed with the tree empty; and the Lua files
    -- were installed from inside lua/, where a relative DESTDIR put them
    -- (review pkg49).  Exported to the recipes, as make does with what its
    -- command line names, "$(shell …)" ran too, and "$(" stopped it
    -- (review fixes49b).
    it("installs exactly into the directories named, whatever characters they hold, and a relative DESTDIR", function()
      local odd = tmp .. "/t$x`touch PWNED`\"q\\e$(shell touch RAN)$(b"
      local out, ok = install(("LUA_VERSION=5.4 DESTDIR=%s INST_BINDIR=/bin INST_LIBDIR=/lib INST_LUADIR=/share")
        :format(q(odd)))
      assert(ok, out)
      local relative = assert(shell.run(("realpath -m --relative-to=%s %s"):format(q(root), q(tmp .. "/rel"))))
      out, ok = install(("LUA_VERSION=5.4 DESTDIR=%s INST_BINDIR=/bin INST_LIBDIR=/lib INST_LUADIR=/share")
        :format(q(relative:gsub("\n$", ""))))
      assert(ok, out)
      local config = require "codearts.batchresult.config"
      for _, stage in ipairs({ odd, tmp .. "/rel" }) do
        out, ok = shell.run(("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
          q(stage .. "/share/?.lua"), q(stage .. "/lib/?.so"), q('io.write(require("codearts.batchresult").VERSION)')))
        assert.is_true(ok and out == config.VERSION, stage .. ": " .. out)
        assert.is_true(select(2, shell.run("[ -x " .. q(stage .. "/bin/codearts-batchresult") .. " ]")), stage)
      end
      -- (no file made in lua/: the files there being edited is no failure)
      assert.are.equal("", (shell.run(("cd %s && find . -name PWNED -o -name RAN; git ls-files --others lua")
        :format(q(root)))))
      assert.are.equal("rel\nt$x`touch PWNED`\"q\\e$(shell touch RAN)$(b\n", (shell.run("ls -A " .. q(tmp))))
    end)

    -- The loop over the Lua files exited with its last file's status: a
    -- file where cli/ must go, four files not installed, and make install
    -- (luarocks make) succeeded (review pkg47).
    it("fails when a Lua file cannot be installed", function()
      local share = tmp .. "/share"
      assert(shell.run("mkdir -p " .. q(share .. "/codearts/batchresult") .. " && touch "
        .. q(share .. "/codearts/batchresult/cli")))
      local out, ok = install(("INST_LIBDIR=%s INST_LUADIR=%s"):format(q(tmp .. "/lib"), q(share)))
      assert.is_false(ok, out)
      assert.truthy(out:find("install: ", 1, true), out)
    end)

    -- Every *.lua under lua/ was installed, tracked or not: a stray
    -- lua/cjson.lua shadowed lua-cjson for the tool, and an editor's lock
    -- link failed to install (review pkg47).
    once.describe("in a checkout with strays in lua/", function()
      it("installs the rock's own modules, and only them", function()
        local dir = tmp .. "/repo"
        shell.copy_checkout(dir)
        assert(shell.run(("cd %s && echo 'error()' >lua/cjson.lua && mkdir lua/codearts/.hidden"
          .. " && echo 'error()' >lua/codearts/.hidden/x.lua"
          .. " && ln -s user@host.1:1 lua/codearts/batchresult/.#cli.lua"):format(q(dir))))
        local out, ok = shell.run(("cd %s && make -s -j2 DEPS=none install INST_LIBDIR=%s INST_LUADIR=%s")
          :format(q(dir), q(tmp .. "/lib"), q(tmp .. "/share")))
        assert.is_true(ok, out)
        local tracked = assert(shell.run(("cd %s && git ls-files lua | sed 's|^lua/||' | LC_ALL=C sort")
          :format(q(root))))
        local installed = assert(shell.run(("cd %s && find . ! -type d | sed 's|^./||' | LC_ALL=C sort")
          :format(q(tmp .. "/share"))))
        assert.are.equal(tracked, installed)
      end)
    end)

    -- What LuaRocks installs as the tool (INST_BINDIR and LUA given, as the
    -- rockspecs do): a packager may have it too.  Not given an interpreter's
    -- path, it names the Lua LUA_VERSION builds for, found on PATH; and it
    -- finds its modules from its own place, with no paths set.
    it("writes the command-line tool into INST_BINDIR, under DESTDIR, started by the Lua it was built for", function()
      local live = tmp .. "/live"
      local out, ok = install(("LUA_VERSION=5.4 DESTDIR=%s INST_BINDIR=%s INST_LIBDIR=%s INST_LUADIR=%s"):format(
        q(tmp .. "/stage"), q(live .. "/bin"), q(live .. "/lib/lua/5.4"), q(live .. "/share/lua/5.4")))
      assert(ok, out)
      local tool = tmp .. "/stage" .. live .. "/bin/codearts-batchresult"
      assert.are.equal("#!/usr/bin/env lua5.4\n", (shell.run("head -n 1 " .. q(tool))))
      out, ok = shell.run("cd / && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 " .. q(tool)
        .. " --version")
      assert(ok, out)
      local config = require "codearts.batchresult.config"
      assert.are.equal("codearts-batchresult " .. config.VERSION .. "\n", out)
      -- An interpreter's path with a space cannot be a script's first line.
      out, ok = install(("LUA='/opt/my lua/bin/lua' INST_BINDIR=%s INST_LIBDIR=%s INST_LUADIR=%s"):format(
        q(live .. "/bin"), q(live .. "/lib/lua/5.4"), q(live .. "/share/lua/5.4")))
      assert.is_false(ok, out)
      assert.are.equal("LUA=/opt/my lua/bin/lua holds a space, which the tool's first line, naming its interpreter,"
        .. " cannot hold: name it by a path without one (a symbolic link to it).  Stop.\n",
        out:match("^Makefile:%d+: %*%*%* (.*)$"), out)
      assert.is_false(select(2, shell.run("[ -e " .. q(live) .. " ]")), "make install wrote into the live path")
    end)
  end)

  -- Its header's line for make fuzz-coverage left out src/core_keyring.c,
  -- whose coverage scripts/fuzz.sh reports and fuzz/README.md names
  -- (review pkg47).
  it("fuzz-coverage: names in its header the C sources whose coverage scripts/fuzz.sh reports", function()
    -- The names of the sources item finds in what pattern captures in file.
    local function sources(file, pattern, item)
      local f = assert(io.open(root .. "/" .. file))
      local text = f:read("*a"):gsub("\\\n", " ")
      f:close()
      local names = {}
      for name in assert(text:match(pattern), file):gmatch(item or "src/([%w_]+)%.c") do names[#names + 1] = name end
      table.sort(names)
      return table.concat(names, " ")
    end
    local reported = sources("scripts/fuzz.sh", "llvm%-cov%-14 report [^\n]-(src/[^\n]*)")
    assert.are.equal(reported, sources("Makefile", "make fuzz%-coverage +line coverage of src/{(.-)}%.c", "[%w_]+"))
    assert.are.equal(reported, sources("fuzz/README.md", "\n| `make fuzz%-coverage` | line coverage of (.-) by"))
  end)

  -- A harness with no seed directory had scripts/fuzz.sh replay run `find`
  -- with no path, which lists the directory it runs in: the whole checkout
  -- was fed to the harness; and a harness given no input at all fuzzes
  -- until stopped (review pack56).  A fake harness here says what it got.
  for _, mode in ipairs({ "replay", "coverage" }) do
    it("fuzz " .. mode .. ": a harness with no seeds fails, saying so, and is not run", function()
      local dir = shell.temp_dir()
      finally(function() shell.remove(dir) end)
      local bin = mode == "coverage" and "build/fuzz/cov/h" or "build/fuzz/h"
      assert(select(2, shell.run(("cd %s && mkdir -p %s && printf '%%s\n' '#!/bin/sh' 'echo \"RAN with $#\"' > %s"
        .. " && chmod +x %s && touch stray-file"):format(q(dir), q(bin:match("^(.*)/")), q(bin), q(bin)))))
      local out, ok = shell.run(("cd %s && timeout 20 sh %s %s 0 h"):format(q(dir), q(root .. "/scripts/fuzz.sh"),
        mode))
      assert.is_false(ok, out)
      assert.is_nil(out:find("RAN", 1, true), out)
      assert.truthy(out:find("== h: no inputs: fuzz/corpus/h and fuzz/regressions/h hold none"
        .. (mode == "coverage" and ", nor build/fuzz/corpus/h" or "") .. "\n", 1, true), out)
      assert.truthy(out:find("failed: h\n", 1, true), out)
    end)
  end

  -- SIGTERM (or Ctrl-C) while make demo waited for its stand-in ran the
  -- trap that stops it, then went on waiting: "the stand-in did not
  -- start:", exit 1 (review pack56).  A stand-in here that never starts.
  it("demo: a SIGTERM while the stand-in starts ends it, exit 143, with no word of a failed start", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    assert(select(2, shell.run(("printf '%%s\n' '#!/bin/sh' 'exec sleep 30' > %s/luajit && chmod +x %s/luajit")
      :format(q(dir), q(dir)))))
    local out, ok = shell.run(("cd %s && PATH=%s:\"$PATH\" sh scripts/demo.sh & pid=$!; sleep 1; kill -TERM $pid;"
      .. " wait $pid; echo status=$?"):format(q(root), q(dir)))
    assert.is_true(ok, out)
    assert.are.equal("status=143\n", out)
  end)

  -- `make test TEST_LUAS=` ran no suite and passed: "all: 0 passed, 0
  -- failed", exit 0 (review pack56).
  it("test: fails, saying so, when given no Lua to run the suite under", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    local out, ok = shell.run(("cd %s && sh %s"):format(q(dir), q(root .. "/scripts/test.sh")))
    assert.is_false(ok, out)
    assert.are.equal("test.sh: no Lua to run the suite under (TEST_LUAS names none)\n", out)
  end)

  -- make test's log is cut to its tail in CI, where one failure's message
  -- (a tool's whole output) filled it, and no line said which test failed.
  it("test: names each failed test on a line of its own after every failure's message", function()
    local dir = shell.temp_dir()
    finally(function() shell.remove(dir) end)
    assert(select(2, shell.run("mkdir " .. q(dir .. "/spec"))))
    local f = assert(io.open(dir .. "/spec/x_spec.lua", "w"))
    f:write([[describe("x", function()
      it("fails, with a long message", function() error(("a line\n\n"):rep(500)) end)
      it("passes", function() end)
    end)]])
    f:close()
    local interpreter = require("spec.support.child").interpreter
    local out, ok = shell.run(("cd %s && sh %s %s %s"):format(q(dir), q(root .. "/scripts/test.sh"), interpreter,
      interpreter))
    assert.is_false(ok, out)
    local tail = out:match("== the tests that failed\n(.*)$")
    assert.are.equal(("[%s] Error -> spec/x_spec.lua @ 2: x fails, with a long message\n"):rep(2):format(
      interpreter, interpreter) .. "all: 2 passed, 2 failed\n", tail, out:sub(-2000))
  end)
end)
