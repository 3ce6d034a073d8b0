-- The shared object itself: what it exports and what it links.  LuaJIT and
-- Neovim misbehave with a module that brings its own Lua API or liblua.
local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

local version = rawget(_G, "jit") and "jit" or _VERSION:match("%d+%.%d+")
local so = (os.getenv("CODEARTS_BUILD_DIR") or ("./build/" .. version)) .. "/codearts/batchresult/core.so"

--- The output of a child Lua running code (a shell word: single-quoted)
-- with only the plain build and the Lua sources on its paths, clean of the
-- suite's sanitizers.
local function child(code)
  local shell = require "spec.support.shell"
  local lua = version == "jit" and "luajit" or "lua" .. version
  return sh(shell.clean_env .. "LUA_PATH='./lua/?.lua' LUA_CPATH=" .. shell.quote("./build/" .. version .. "/?.so")
    .. " " .. lua .. " -e " .. code)
end

describe("core.so for " .. version, function()
  it("exports luaopen_codearts_batchresult_core and nothing else of its own", function()
    local defined = {}
    for name in sh("nm -D --defined-only " .. so):gmatch("%x+ [TDBRW] (%S+)") do
      if not name:match("^_") then defined[#defined + 1] = name end
    end
    assert.are.same({ "luaopen_codearts_batchresult_core" }, defined)
  end)

  it("defines no lua_* or luaL_* symbol and does not link liblua", function()
    local defined = sh("nm -D --defined-only " .. so)
    assert.is_nil(defined:find(" lua_", 1, true))
    assert.is_nil(defined:find(" luaL_", 1, true))
    local needed = sh("readelf -d " .. so)
    assert.is_nil(needed:lower():find("liblua", 1, true), needed)
    assert.truthy(needed:find("libcurl", 1, true))
    assert.truthy(needed:find("libcjson", 1, true))
    assert.truthy(needed:find("libcrypto", 1, true))
  end)

  it("is refused, naming both versions and its file, by a Lua layer of another version", function()
    -- The real module, as a copy of another version would be: all of it
    -- but VERSION.  The child starts clean of the suite's sanitizers and
    -- loads the plain build.
    local out = child([['package.loaded["codearts.batchresult.core"] = setmetatable({ VERSION = "0.0.9" },
        { __index = require "codearts.batchresult.core" })
      local ok, err = pcall(require, "codearts.batchresult")
      io.write(tostring(ok), "\n", tostring(err))']])
    local config = require "codearts.batchresult.config"
    assert.are.equal("false\ncodearts.batchresult " .. config.VERSION
      .. " cannot use the C module codearts.batchresult.core 0.0.9 (./build/" .. version
      .. "/codearts/batchresult/core.so): rebuild it (from a checkout `make LUA_VERSION=" .. version
      .. "`, and examples/nvim/install.sh again for Neovim's copy; else reinstall the rock)", out)
  end)

  -- The library said only the linker's words (undefined symbol:
  -- lua_rotate) where the tool said what they mean (review pkg49).
  it("is refused by another Lua, the library saying it is a build for another and how to build one", function()
    -- (LuaJIT loads 5.1's builds)
    local other = (version == "5.1" or version == "jit") and "5.4" or "5.1"
    local lua = version == "jit" and "luajit" or "lua" .. version
    local shell = require "spec.support.shell"
    local out = sh(shell.clean_env .. "LUA_PATH='./lua/?.lua' LUA_CPATH=" .. shell.quote("./build/" .. other
      .. "/?.so") .. " " .. lua .. " -e " .. shell.quote('local ok, err = pcall(require, "codearts.batchresult") '
      .. 'io.write(tostring(ok), "\\n", tostring(err))'))
    local jit = rawget(_G, "jit")
    local abi = _VERSION:match("%d+%.%d+")
    local file = "./build/" .. other .. "/codearts/batchresult/core.so"
    local symbol = out:match("undefined symbol: (luaL?_[%w_]+) ")
    assert(symbol, out)
    assert.are.equal("false\nerror loading module 'codearts.batchresult.core' from file '" .. file .. "':\n\t"
      .. file .. ": undefined symbol: " .. symbol .. " (a build for another Lua than this interpreter's, "
      .. (jit and jit.version or _VERSION) .. ": rebuild it with `luarocks --lua-version=" .. abi
      .. " make`, or from a checkout `make LUA_VERSION=" .. version .. "`)", out)
  end)

  -- The state's algorithms were a box of each load of the module: a module
  -- loaded again (a plugin manager's reload), its first copy collected,
  -- then took the state for closing and made no client (review fixes44b).
  it("makes clients and signs after a reload whose first copy was collected", function()
    local out = child([['local function fresh()
        for name in pairs(package.loaded) do
          if name:find("^codearts") then package.loaded[name] = nil end
        end
        return require "codearts.batchresult"
      end
      local o = { endpoint = "http://127.0.0.1:9", project_id = ("a"):rep(32), ak = "AK", sk = "SK" }
      local first = fresh()
      assert(first.new(o)):close()
      local br = fresh()
      first = nil
      collectgarbage()
      collectgarbage()
      local c, err = br.new(o)
      io.write(tostring(c and "client" or err), "\n")
      local auth = br.sign { method = "GET", path = "/", headers = { ["X-Sdk-Date"] = "20200101T000000Z" },
                             ak = "AK", sk = "SK" }
      io.write(tostring(auth and "signed"), "\n", tostring(require("codearts.batchresult.core").keyring("SK")))']])
    assert.are.equal("client\nsigned\ncodearts.batchresult keyring", out)
  end)

  it("is refused, saying so, by a Lua layer written for another interface of the same version", function()
    -- A module built from another commit of the same version: here one
    -- from before INTERFACE (a build of 7f3f7fb, which had core.sign where
    -- the Lua layer now calls core.signer, failed at require with
    -- "attempt to call a nil value").  One of another number is said by
    -- its number.
    local out = child([['local core = require "codearts.batchresult.core"
      package.loaded["codearts.batchresult.core"] = { VERSION = core.VERSION }
      local ok, err = pcall(require, "codearts.batchresult")
      io.write(tostring(ok), "\n", tostring(err), "\n")
      package.loaded["codearts.batchresult.core"] = { VERSION = core.VERSION, INTERFACE = 1 }
      package.loaded["codearts.batchresult.config"] = nil
      ok, err = pcall(require, "codearts.batchresult.config")
      io.write(tostring(ok), "\n", tostring(err))']])
    local config = require "codearts.batchresult.config"
    local function refusal(interface)
      return "false\ncodearts.batchresult " .. config.VERSION
        .. " cannot use the C module codearts.batchresult.core " .. config.VERSION
        .. " of another build (interface " .. interface .. ", not " .. config.INTERFACE .. ") (./build/" .. version
        .. "/codearts/batchresult/core.so): rebuild it (from a checkout `make LUA_VERSION=" .. version
        .. "`, and examples/nvim/install.sh again for Neovim's copy; else reinstall the rock)"
    end
    assert.are.equal(refusal("unnumbered") .. "\n" .. refusal("1"), out)
  end)

  it("stays loaded while the interpreter closes: objects a finalizer makes then are finalized by its code", function()
    -- LuaJIT unloads C modules before it finalizes what finalizers made
    -- during lua_close: a keyring or a transport made then had its __gc
    -- run in unmapped memory (a segmentation fault at exit).
    local out = child([['local core = require "codearts.batchresult.core"
      local mt = { __gc = function()
        _G.late = { core.keyring("SK"), core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 } }
      end }
      _G.keep = newproxy and getmetatable(newproxy(true)) and (function()
        local p = newproxy(true)
        getmetatable(p).__gc = mt.__gc
        return p
      end)() or setmetatable({}, mt)
      io.write("closing")'; echo " exit=$?"]])
    assert.are.equal("closing exit=0\n", out)
  end)

  -- The box's finalizer, called by hand (debug.getmetatable), wrote into
  -- whatever userdata it was given, or at address 0 (review hosts47).
  it("refuses, to a finalizer called by hand, what is not its own object", function()
    local out = child([['local core = require "codearts.batchresult.core"
      local gc = debug.getmetatable(core.box({})).__gc
      print(pcall(gc))
      print(pcall(gc, io.stdout))
      io.stdout:write("written")'; echo " exit=$?"]])
    assert.truthy(out:find("^false\t[^\n]*box expected, got no value%)\nfalse\t[^\n]*box expected[^\n]*\n"
      .. "written exit=0\n$"), out)
  end)

  -- A method checked its object by its metatable alone, which
  -- debug.setmetatable can give any userdata: multi:close took a keyring
  -- for its own, and the process crashed (review hosts50).
  it("refuses to every method an object of another class, or a file, given its class's metatable", function()
    local out = child([['local core = require "codearts.batchresult.core"
      local opts = { connect_timeout_ms = 1000, max_response_bytes = 1000 }
      local m = core.multi(opts)
      local objects = { keyring = core.keyring("secretsecret"), multi = m, call = m:call(),
                        box = core.box({}), file = io.tmpfile() }
      local classes = {}
      for name, o in pairs(objects) do classes[name] = debug.getmetatable(o) end
      local refused, taken = 0, {}
      for name, mt in pairs(classes) do
        if name ~= "file" then
          for other, o in pairs(objects) do
            if other ~= name then
              local own = debug.getmetatable(o)
              debug.setmetatable(o, mt)
              local methods = {}
              for k, f in pairs(mt.__index or {}) do methods[k] = f end
              methods.__gc, methods.__tostring = mt.__gc, mt.__tostring
              for k, f in pairs(methods) do
                -- (some refuse another argument first)
                local ok, err = pcall(f, o, "AK", "GET", "/", "", {}, "")
                if ok then
                  taken[#taken + 1] = name .. ":" .. k .. " on a " .. other
                elseif tostring(err):find(" expected, got userdata", 1, true) then
                  refused = refused + 1
                end
              end
              debug.setmetatable(o, own)
            end
          end
        end
      end
      io.write(refused, " refused\n", table.concat(taken, "\n"))
      objects.call:close()
      m:close()']] .. "; echo \" exit=$?\"")
    -- (each class's methods and finalizer, on each of the four others)
    assert.are.equal("100 refused\n exit=0\n", out)
  end)

  -- What the Lua layer may call, as this interface has it.  When this
  -- fails, the module's functions changed: raise CAB_INTERFACE in
  -- src/core.h and INTERFACE in config.lua together, and write the new
  -- names here.
  it("offers the functions and methods of its interface", function()
    local core = require "codearts.batchresult.core"
    local config = require "codearts.batchresult.config"
    local function names(t)
      local out = {}
      for k, v in pairs(t) do out[#out + 1] = k .. (type(v) == "function" and "()" or "") end
      table.sort(out)
      return table.concat(out, " ")
    end
    local function methods(o) return names(debug.getmetatable(o).__index) end
    local multi = core.multi { connect_timeout_ms = 1000, max_response_bytes = 1000 }
    local keyring = core.keyring("SK")
    local offered = {
      core = names(core), keyring = methods(keyring), multi = methods(multi), call = methods(multi:call()),
    }
    multi:close()
    keyring:close()
    assert.are.equal(27, config.INTERFACE)
    assert.are.equal(config.INTERFACE, core.INTERFACE)
    assert.are.same({
      core = "INTERFACE VERSION absolute_path() box() ca_certificates() ca_path_certificates() can_yield()"
        .. " decode_error() decode_results() encode_ids() encode_query() end_by_sigpipe() file_kind()"
        .. " hold_terminations() ignore_sigpipe() keyring() limits multi() new_table() now() null plain_text() random()"
        .. " raw_copy() read_items() signer() terminate_as_interrupt() termination_came() texts_joined() unbox()"
        .. " unicode_space_edge() usual_pair() write_out()",
      keyring = "close() redact() sign()",
      multi = "act() call() changes() close() inherited() news() open() pending() unwatch() watch()",
      call = "ack() cancel() close() group() next() ready() start() take()",
    }, offered)
  end)

  -- new()'s ca_file and ca_path, made absolute once (libcurl opens them
  -- again at each connection, from the working directory of then): an
  -- absolute path as it is, a relative one after the working directory,
  -- neither resolved (a link or a `..` in it is kept) nor "~" expanded.
  it("makes a path absolute by joining it to the working directory, nothing resolved", function()
    local core = require "codearts.batchresult.core"
    local here = assert(io.popen("pwd -P")):read("*l")
    for given, made in pairs({
      ["/etc/ssl/../ssl/certs"] = "/etc/ssl/../ssl/certs", ["/"] = "/", ["//x"] = "//x",
      ["ca.pem"] = here .. "/ca.pem", ["../ca.pem"] = here .. "/../ca.pem", ["./a/./b"] = here .. "/./a/./b",
      ["~/ca.pem"] = here .. "/~/ca.pem", ["link/"] = here .. "/link/",
    }) do
      assert.are.equal(made, core.absolute_path(given), given)
    end
    assert.has_error(function() core.absolute_path("") end)
    assert.has_error(function() core.absolute_path("a\0b") end)
  end)

  it("takes a transport's string options as strings only (a number would be a string nothing holds)", function()
    local core = require "codearts.batchresult.core"
    for _, name in ipairs({ "ca_file", "ca_path", "proxy" }) do
      assert.has_error(function()
        core.multi { connect_timeout_ms = 1000, tls_verify = true, max_response_bytes = 1000, [name] = 12 }
      end, name .. ": must be a string")
    end
  end)
end)

-- Setup mistakes a newcomer makes, caught by new() and named as given
-- (README: "nothing accepted there fails later"), against the stand-in
-- over real HTTPS where a call shows what new() took.
describe("br.new, given a setup mistake", function()
  local br = require "codearts.batchresult"
  local standin = require "spec.support.standin"
  local model = require "spec.standin.model"
  local files = require "spec.support.files"
  local shell = require "spec.support.shell"
  local fresh = require "spec.support.child"
  local pki, other, server, dir

  setup(function()
    pki, other = standin.make_ca(), standin.make_ca()
    server = standin.start { tls = pki }
    dir = assert(io.popen("mktemp -d")):read("*l")
  end)
  teardown(function()
    server:stop()
    standin.remove_ca(pki)
    standin.remove_ca(other)
    os.execute("rm -rf " .. shell.quote(dir))
  end)

  --- A file of dir holding text, by name.
  local function file(name, text)
    local path = dir .. "/" .. name
    files.write(path, text)
    return path
  end

  it("refuses a ca_file that gives OpenSSL no certificate, naming it, where every call failed TLS", function()
    local pem = files.read(pki.ca)
    local der = dir .. "/ca.der"
    assert(os.execute(standin.clean_env .. "openssl x509 -in " .. shell.quote(pki.ca) .. " -outform DER -out "
      .. shell.quote(der)))
    -- (a body line changed: its base64 no longer decodes)
    local broken = pem:gsub("\n[^\n-][^\n]*\n", "\n!!!!\n", 1)
    local wrong = {
      file("passwd", "root:x:0:0:root:/root:/bin/sh\n"), pki.ca_key, der, file("empty.pem", ""),
      file("broken.pem", broken),
    }
    for _, path in ipairs(wrong) do
      local c, err = br.new(server:options { ca_file = path })
      assert.is_nil(c, path)
      assert.are.same({ "INVALID_ARGUMENT", "ca_file", "ca_file '" .. path .. "' holds no PEM certificate that "
        .. "OpenSSL can load" }, { err.code, err.option, err.message })
    end
  end)

  it("takes a PEM file of one CA or of several among other text, which the calls then trust", function()
    local bundle = file("bundle.pem", "# another CA first\n" .. files.read(other.ca) .. "\n# then ours\n"
      .. files.read(pki.ca))
    for _, path in ipairs({ pki.ca, bundle }) do
      local c = assert(br.new(server:options { ca_file = path }))
      assert.are.equal(#model.seed_query, #assert(c:query(model.seed_query)), path)
      c:close()
    end
  end)

  it("quotes a project id it refuses, redacted and cut as a call's refused id is", function()
    local sk = model.credentials.permanent.sk
    local said = {}
    for i, id in ipairs({ "abc", "id " .. sk, ("b"):rep(400) }) do
      local _, err = br.new(server:options { project_id = id })
      assert.are.equal("project_id", err.option)
      said[i] = err.message
    end
    assert.are.equal('project_id must be 32 letters or digits, got "abc"', said[1])
    assert.are.equal('project_id must be 32 letters or digits, got "id [REDACTED]"', said[2])
    local head = 'project_id must be 32 letters or digits, got "'
    assert.are.equal(head .. ("b"):rep(256 - #head) .. "…", said[3])
    local out, ok = fresh.run([[
      local _, err = require("codearts.batchresult").new { endpoint = "https://example.com", ak = "AK", sk = "SK" }
      io.write(err.message, "|", tostring(err.option))
    ]], { HUAWEICLOUD_SDK_PROJECT_ID = "not-an-id" })
    assert.is_true(ok, out)
    assert.are.equal('environment variable HUAWEICLOUD_SDK_PROJECT_ID must be 32 letters or digits, got "not-an-id"'
      .. "|nil", out)
  end)

  -- A host in brackets that is no IPv6 address as RFC 4291 writes one (a
  -- zone id, a letter, IPvFuture, nothing, a bracket left open) was said
  -- to be no host at all (review config55).
  it("says a bracketed host that is no IPv6 address is one, in the endpoint and in the proxy", function()
    for _, host in ipairs({ "[fe80::1%25eth0]", "[::g]", "[v1.x]", "[]", "[::1" }) do
      local _, err = br.new(server:options { endpoint = "https://" .. host })
      assert.are.same({ "INVALID_ARGUMENT", "endpoint", "endpoint 'https://" .. host .. "' has a bad IPv6 address" },
        { err.code, err.option, err.message })
      _, err = br.new(server:options { proxy = "http://alice:s3cretpass@" .. host })
      assert.are.same({ "INVALID_ARGUMENT", "proxy", "proxy 'http://…@" .. host .. "' has a bad IPv6 address" },
        { err.code, err.option, err.message })
    end
  end)

  it("says in a sentence which variable named a region's bad endpoint", function()
    local out, ok = fresh.run([[
      local _, err = require("codearts.batchresult").new { region = "cn-north-4", project_id = ("a"):rep(32),
        ak = "AK", sk = "SK" }
      io.write(err.message, "|", tostring(err.option))
    ]], { HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4 = "127.0.0.1:1" })
    assert.is_true(ok, out)
    assert.are.equal("endpoint '127.0.0.1:1' (from environment variable "
      .. "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4) must be scheme://host[:port]|nil", out)
  end)

  -- A region's override was read up to its first white space, not its
  -- first comma: "https://a.example:84 43" was taken as port 84, and
  -- "https://a.example/ x" as the endpoint without its path, silently
  -- (review config56).
  it("reads a region's override up to its first comma, refusing white space inside that endpoint", function()
    local config = require "codearts.batchresult.config"
    local name = "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4"
    local function built(value)
      return config.build({ region = "cn-north-4", project_id = ("a"):rep(32), ak = "AK", sk = "SK" },
        function(n) if n == name then return value end end)
    end
    for _, value in ipairs({ "https://a.example:84 43", "https://a.example/ x,https://b.example",
                             "https://a .example" }) do
      local cfg, err = built(value)
      assert.is_nil(cfg, value)
      assert.are.same({ "INVALID_ARGUMENT", "endpoint '" .. value:match("^[^,]*") .. "' (from environment variable "
        .. name .. ") must not contain white space or control characters" }, { err.code, err.message })
    end
    -- (white space around an endpoint is no part of it)
    for _, value in ipairs({ " https://a.example:8443 ", "\thttps://a.example:8443\n, https://b.example" }) do
      assert.are.equal("https://a.example:8443", assert(built(value)).endpoint, value)
    end
  end)

  -- A token beside a security_token alone was refused as "give token or
  -- ak/sk, not both", naming options the caller never gave (review
  -- config56).
  it("names the options a token was given beside", function()
    local config = require "codearts.batchresult.config"
    local base = { endpoint = "https://a.example", project_id = ("a"):rep(32), token = "tok-0123456789" }
    local said = {}
    for i, extra in ipairs({ { security_token = "st-0123456789" }, { ak = "AK" },
                             { ak = "AK", sk = "SK-0123456789", security_token = "st-0123456789" } }) do
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      local cfg, err = config.build(o, function() end)
      assert.is_nil(cfg)
      said[i] = { err.code, err.option, err.message }
    end
    assert.are.same({
      { "INVALID_ARGUMENT", "token", "give token or security_token (with ak and sk), not both" },
      { "INVALID_ARGUMENT", "token", "give token or ak/sk, not both" },
      { "INVALID_ARGUMENT", "token", "give token or ak/sk, not both" },
    }, said)
  end)

  -- The override's name was made by string.upper, the C library's
  -- toupper, which follows the locale a host (Neovim) sets: in
  -- tr_TR.ISO-8859-9 "i" is "\221", so sa-brazil-1's override was looked
  -- up as ..._SA_BRAZ\221L_1, never found (review config56).  Here
  -- string.upper does as that locale's.
  it("names a region's override alike whatever the C locale's toupper makes of it", function()
    local config = require "codearts.batchresult.config"
    local regions = require "codearts.batchresult.regions"
    local asked = {}
    local upper = string.upper
    string.upper = function(s) return upper((s:gsub("i", "\221"))) end -- luacheck: ignore 122
    local ok, cfg, err = pcall(function()
      local c = config.build({ region = "sa-brazil-1", project_id = ("a"):rep(32), ak = "AK", sk = "SK" },
        function(n)
          asked[#asked + 1] = n
          if n == "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_SA_BRAZIL_1" then return "https://a.example" end
        end)
      local _, e = config.build({ region = "xx-inside-1", project_id = ("a"):rep(32), ak = "AK", sk = "SK" },
        function() end)
      return c, e
    end)
    local name = regions.env_name("sa-brazil-1")
    string.upper = upper -- luacheck: ignore 122
    assert(ok, cfg)
    assert.are.equal("HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_SA_BRAZIL_1", name)
    assert.are.equal("https://a.example", cfg and cfg.endpoint, table.concat(asked, " "))
    assert.truthy(err.message:find("; or set HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_XX_INSIDE_1)", 1, true),
      err.message)
  end)
end)

-- Tables read as named fields are read raw (input.lua), so one with a
-- metatable is refused, not read past: what its __index served (a table
-- of defaults, the common idiom) silently did not count.  A dry run
-- started the pipelines; inherited credentials gave way to the
-- environment's.  Checked against the stand-in over real HTTP, which
-- counts what reached it, with a metatable whose every metamethod counts
-- its calls and that hides itself from getmetatable.
describe("a table of options with a metatable", function()
  local br = require "codearts.batchresult"
  local standin = require "spec.support.standin"
  local model = require "spec.standin.model"
  local fresh = require "spec.support.child"
  local server
  standin.for_block(function(s) server = s end)

  local RAW = " must be a plain table, got one with a metatable (tables are read raw: fields behind a metatable do "
    .. "not count)"

  --- A table of the own fields own whose metatable serves fields, and
  -- calls, the count of metamethods run.
  local function inheriting(own, fields)
    local calls = { n = 0 }
    local mt = { __metatable = "hidden" }
    for _, name in ipairs({ "__index", "__newindex", "__len", "__pairs", "__ipairs", "__call", "__tostring",
                            "__eq", "__lt", "__le", "__concat" }) do
      mt[name] = function(_, k)
        calls.n = calls.n + 1
        if name == "__index" then return fields[k] end
        if name == "__pairs" or name == "__ipairs" then return next, fields, nil end
      end
    end
    return setmetatable(own, mt), calls
  end

  local function ids(n)
    local out = {}
    for i = 1, n do out[i] = model.make_id("mo", i) end
    return out
  end

  it("of new() is refused, before the environment's credentials stand in for those it inherits", function()
    local creds = model.credentials.permanent
    local opts, calls = inheriting({ endpoint = server.url },
      { project_id = model.seed_project, ak = creds.ak, sk = creds.sk })
    local c, err = br.new(opts)
    assert.is_nil(c)
    assert.are.same({ "INVALID_ARGUMENT", "options" .. RAW }, { err.code, err.message })
    assert.is_nil(err.option)
    assert.are.equal(0, calls.n)
    -- With the environment's account set, new() took it instead, and its
    -- calls went out signed with that account's key, for its project.
    local temporary = model.credentials.temporary
    local out, ok = fresh.run(([[
      local br = require "codearts.batchresult"
      local c, err = br.new(setmetatable({ endpoint = %q },
        { __index = { project_id = %q, ak = %q, sk = %q } }))
      io.write(tostring(c and select(2, c:query({ { pipeline_id = %q, pipeline_run_id = %q } })) or err))
    ]]):format(server.url, model.seed_project, creds.ak, creds.sk, ids(2)[1], ids(2)[2]),
      { HUAWEICLOUD_SDK_AK = temporary.ak, HUAWEICLOUD_SDK_SK = temporary.sk,
        HUAWEICLOUD_SDK_PROJECT_ID = ("e"):rep(32) })
    assert.is_true(ok, out)
    assert.are.equal("INVALID_ARGUMENT: options" .. RAW, out)
    assert.are.equal(0, server:stats().requests)
  end)

  it("of a call is refused, and nothing is sent: a dry run inherited starts no pipeline", function()
    local c = assert(br.new(server:options()))
    local pair = { { pipeline_id = ids(2)[1], pipeline_run_id = ids(2)[2] } }
    for _, call in ipairs({
      { "run", ids(2), { dry_run = true } },
      { "query", pair, { dry_run = true } },
      { "run_and_query", ids(2), { batch_size = 1 } },
      { "prepare", ids(2), { operation = "run" }, "prepare options" },
    }) do
      local name, list, fields, plural = call[1], call[2], call[3], call[4] or "call options"
      local opts, calls = inheriting({}, fields)
      local res, err = c[name](c, list, opts)
      assert.is_nil(res, name)
      assert.are.same({ "INVALID_ARGUMENT", plural .. RAW }, { err.code, err.message }, name)
      assert.is_nil(err.results, name)
      assert.are.equal(0, calls.n, name)
    end
    local stats = server:stats()
    assert.are.same({ 0, 0 }, { stats.requests, stats.run_pipelines })
    c:close()
  end)

  it("for br.sign, or as its headers, is refused, and what the metatable serves is not signed", function()
    local headers = { Host = "h.example", ["X-Sdk-Date"] = "20240102T030405Z" }
    local fields = { method = "GET", path = "/", headers = headers, ak = "AK", sk = "SK" }
    local t, calls = inheriting({}, fields)
    local none, err = br.sign(t)
    assert.is_nil(none)
    assert.are.same({ "INVALID_ARGUMENT", "sign's argument" .. RAW }, { err.code, err.message })
    -- (its own fields all there: the metatable alone refuses it)
    local whole = inheriting({ method = "GET", path = "/", headers = headers, ak = "AK", sk = "SK" },
      { query = "a=1" })
    none, err = br.sign(whole)
    assert.is_nil(none)
    assert.are.equal("sign's argument" .. RAW, err.message)
    local hidden, hcalls = inheriting({ Host = "h.example" }, { ["X-Sdk-Date"] = "20240102T030405Z" })
    none, err = br.sign { method = "GET", path = "/", headers = hidden, ak = "AK", sk = "SK" }
    assert.is_nil(none)
    assert.are.same({ "INVALID_ARGUMENT", "sign: headers" .. RAW }, { err.code, err.message })
    assert.are.equal(0, calls.n + hcalls.n)
    assert.truthy(br.sign(fields))
  end)
end)

-- br.reason_kind(r) given the result, not r.reason, said "other" for
-- every result (review newcomer2); a reason that is a table of the
-- server's own is still a reason.
describe("br.reason_kind, given a result for its reason", function()
  local br = require "codearts.batchresult"

  it("raises, naming the slip, at the caller's line; a table that is no result stays \"other\"", function()
    for _, r in ipairs({ { pipeline_id = ("a"):rep(32), pipeline_run_id = ("b"):rep(32), reason = "banned" },
                         { pipeline_run_id = ("b"):rep(32) }, { pipeline_id = ("a"):rep(32) } }) do
      local function slip() local k = br.reason_kind(r) return k end
      local ok, e = pcall(slip)
      assert.is_false(ok)
      assert.are.equal("spec/module_spec.lua:" .. debug.getinfo(slip, "S").linedefined
        .. ": codearts.batchresult: br.reason_kind takes a result's reason (r.reason), not the result", e)
    end
    local set = assert(br.decode('{"result":[]}'))
    local function set_slip() local k = br.reason_kind(set) return k end
    local ok, e = pcall(set_slip)
    assert.is_false(ok)
    assert.are.equal("spec/module_spec.lua:" .. debug.getinfo(set_slip, "S").linedefined
      .. ": codearts.batchresult: br.reason_kind takes a result's reason (r.reason), not a result set", e)
    assert.are.equal("other", br.reason_kind({ "banned" }))
    -- (read raw: an __index that serves ids is not consulted)
    assert.are.equal("other", br.reason_kind(setmetatable({}, { __index = function() return "x" end })))
  end)
end)

-- br:new{…} hands the module in as the options: it said "unknown option
-- 'Error'", br:sign{} "unknown sign field 'Error'", and br:summary()
-- counted an empty set.  The reverse of a client's method called with a
-- dot, and raised as that is, at the line that made the call.
describe("a module function, called with a colon", function()
  local br = require "codearts.batchresult"

  it("raises, naming the slip, at the caller's line", function()
    for _, case in ipairs({
      { "new", function() local c = br:new { region = "cn-north-4" } return c end },
      { "sign", function() local a = br:sign {} return a end },
      { "summary", function() local s = br:summary() return s end },
      { "sign", function() local a = br.sign(br) return a end },
      -- (review fixes13: "other", and "body must be a string, got table")
      { "reason_kind", function() local k = br:reason_kind("Pipeline is banned") return k end },
      { "decode", function() local r = br:decode('{"result":[]}') return r end },
    }) do
      local ok, e = pcall(case[2])
      assert.is_false(ok)
      assert.are.equal("spec/module_spec.lua:" .. debug.getinfo(case[2], "S").linedefined
        .. ": codearts.batchresult: call br." .. case[1] .. "(…) with a dot, not br:" .. case[1], e)
    end
  end)
end)
