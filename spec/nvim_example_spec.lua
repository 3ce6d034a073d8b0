-- examples/nvim/: the README's way to use the library and the example
-- plugin from a checkout, followed in a throw-away home directory: the
-- checkout at ~/src/codearts-batchresult, examples/nvim/install.sh run in
-- it, examples/nvim/init.lua as ~/.config/nvim/init.lua.  Then a real
-- `nvim --headless` starts as the user would, runs :PipelineStatus against
-- the stand-in (the endpoint of cn-north-4, through the environment), and
-- the scratch buffer must hold the result set, opened after the stand-in's
-- one-second answer while the command itself returned at once.
local answers = require "spec.support.answers"
local files = require "spec.support.files"
local once = require "spec.support.once"
local shell = require "spec.support.shell"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

local creds = model.credentials.permanent

-- Neovim runs LuaJIT whatever Lua runs the suite: once per make test.
once.describe("examples/nvim (a real Neovim, set up as the README says)", function()
  local server, home
  standin.for_block(function(s) server = s end)

  setup(function()
    home = shell.temp_dir()
    local checkout = home .. "/src/codearts-batchresult"
    -- The checkout, with the LuaJIT build make test has made (kept with
    -- its times, so the how-to's make finds it up to date).
    local out, ok = shell.run(("mkdir -p %s && tar cf - Makefile src lua scripts examples build/jit | tar xf - -C %s")
      :format(shell.quote(checkout), shell.quote(checkout)))
    assert(ok, out)
    out, ok = shell.run(("cd %s && HOME=%s sh examples/nvim/install.sh")
      :format(shell.quote(checkout), shell.quote(home)))
    assert(ok, out)
    files.write(home .. "/.config/nvim/init.lua", assert(files.read("examples/nvim/init.lua")))
  end)
  teardown(function() if home then shell.remove(home) end end)

  -- README: run install.sh again after updating the checkout.  A Neovim
  -- (here a plain LuaJIT, which maps the module the same way) that has the
  -- module loaded meanwhile must go on running: the copy it maps is not
  -- written over.  CFLAGS stands for the update: the build differs.
  it("installs again under a process that has the module loaded, which goes on", function()
    local checkout = home .. "/src/codearts-batchresult"
    files.write(checkout .. "/hold.lua", [[
      package.path, package.cpath = "lua/?.lua;" .. package.path, "lua/?.so;" .. package.cpath
      local br = require "codearts.batchresult"
      local t = { method = "POST", path = "/p", headers = { Host = "h", ["X-Sdk-Date"] = "20261203T000000Z" },
        body = "{}", ak = "AK", sk = "SK" }
      local before = assert(br.sign(t))
      io.open("ready", "w"):close()
      while not io.open("go") do os.execute("sleep 0.05") end
      print(assert(br.sign(t)) == before and "signed the same" or "signed otherwise")
    ]])
    local out = shell.run(("cd %s && { luajit hold.lua > held.txt 2>&1 & pid=$!; i=0;"
      .. " while [ ! -e ready ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;"
      .. " CFLAGS='-O1 -g' HOME=%s sh examples/nvim/install.sh > install.txt 2>&1 || echo install failed;"
      .. " touch go; wait $pid; echo status=$?; cat held.txt; }")
      :format(shell.quote(checkout), shell.quote(home)))
    assert.are.equal("status=0\nsigned the same\n", out)
    assert.truthy(files.read(checkout .. "/install.txt"):find("-O1 -g", 1, true), "install.sh did not rebuild")
  end)

  --- What spec/nvim/example_driver.lua wrote after `:PipelineStatus args`
  -- in a headless Neovim with the example installed: its key=value lines.
  -- The seed's pairs as :PipelineStatus takes them.
  local seed_runs = {}
  for i, p in ipairs(model.seed_query) do seed_runs[i] = p.pipeline_id .. ":" .. p.pipeline_run_id end
  local SEED_RUNS = table.concat(seed_runs, " ")

  local function pipeline_status(args, extra_env)
    local out = home .. "/out.txt"
    os.remove(out)
    local cmd = table.concat({
      "cd", shell.quote(home), "&&",
      "env -u LUA_PATH -u LUA_CPATH -u LUA_INIT -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_STATE_HOME",
      "-u VIMINIT -u MYVIMRC",
      "HOME=" .. shell.quote(home),
      "HUAWEICLOUD_SDK_AK=" .. shell.quote(creds.ak), "HUAWEICLOUD_SDK_SK=" .. shell.quote(creds.sk),
      "HUAWEICLOUD_SDK_PROJECT_ID=" .. model.seed_project,
      "HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_CN_NORTH_4=" .. shell.quote(server.url),
      "NVIM_TEST_OUT=" .. shell.quote(out), "NVIM_TEST_RUNS=" .. shell.quote(args), extra_env or "",
      "nvim --headless -i NONE -c", shell.quote("luafile " .. shell.repo_root() .. "/spec/nvim/example_driver.lua"),
      "</dev/null",
    }, " ")
    local log = shell.run(cmd)
    return assert(files.read(out), "nvim wrote nothing: " .. log)
  end

  it(":PipelineStatus answers in a scratch buffer, without blocking", function()
    server:config { delay_ms = 1000 }
    local text = pipeline_status(SEED_RUNS)
    local got, lines = {}, {}
    for k, v in text:gmatch("([%w_]+)=([^\n]*)") do
      if k == "line" then lines[#lines + 1] = v else got[k] = v end
    end
    assert.are.equal(nil, got.error)
    assert.is_true(tonumber(got.returned_ms) < 500, "the command blocked for " .. got.returned_ms .. " ms")
    assert.is_true(tonumber(got.answered_ms) >= 1000)
    assert.are.equal("nofile", got.buftype)
    assert.are.equal("false", got.modifiable)
    assert.are.equal("2", got.windows)

    server:config { delay_ms = 0 }
    local want = {}
    for line in answers.shown(server, model.seed_query):gmatch("[^\n]+") do want[#want + 1] = line end
    assert.are.same(want, lines)
  end)

  -- A secret pasted where a pair goes is quoted through the client's
  -- redactor, as the library's own messages quote it (review).
  it(":PipelineStatus quotes a malformed argument with the secrets in it redacted", function()
    local text = pipeline_status(creds.sk)
    assert.truthy(text:find("PipelineStatus: argument 1: expected PIPELINE_ID:RUN_ID, got [REDACTED]\n", 1, true), text)
    assert.is_nil(text:find(creds.sk:sub(1, 8), 1, true), text)
  end)

  -- A server may echo a credential into a result: the buffer shows the
  -- results redacted (review).
  it(":PipelineStatus shows the results with the client's secrets redacted", function()
    server:config { names = { [model.seed_query[1].pipeline_id] = "leaked " .. creds.sk } }
    local text = pipeline_status(SEED_RUNS)
    server:config { names = {} }
    assert.truthy(text:find("line=[^\n]*leaked %[REDACTED%]"), text)
    assert.is_nil(text:find(creds.sk:sub(1, 8), 1, true), text)
  end)

  -- With no room to split a window (E36), the answer was lost, with a
  -- stack trace (review nvim3).
  it(":PipelineStatus shows the answer in the current window when no window can be split", function()
    local text = pipeline_status(SEED_RUNS, "NVIM_TEST_FULL=1")
    assert.is_nil(text:find("error=", 1, true), text)
    assert.truthy(text:find("buftype=nofile\n", 1, true), text)
    assert.truthy(text:find("line=", 1, true), text)
  end)

  -- No window can be split from the command-line window: an answer that
  -- comes while the user is in it opens its buffer once they leave (review).
  it(":PipelineStatus shows an answer that came while the command-line window was open, once it is left", function()
    local text = pipeline_status(SEED_RUNS, "NVIM_TEST_CMDWIN=1000")
    assert.is_nil(text:find("error=", 1, true), text)
    assert.truthy(text:find("cmdwin=:\n", 1, true), text)
    assert.truthy(text:find("buftype=nofile\n", 1, true), text)
    assert.truthy(text:find("line=", 1, true), text)
  end)
end)
