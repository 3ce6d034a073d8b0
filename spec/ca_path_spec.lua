-- br.new's look into a ca_path (core.ca_path_certificates): what it opens
-- of the directory.  (The TLS cases, a ca_path that works or is refused,
-- are reliability_spec's.)
local standin = require "spec.support.standin"
local child = require "spec.support.child"

describe("ca_path", function()
  local dir, pki

  setup(function()
    dir = assert(io.popen("mktemp -d")):read("*l")
    pki = standin.make_ca(dir)
  end)
  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  --- What br.new says of ca_path, in a child that may take at most 10
  -- seconds: "refused", "made", or "" when it never returned.
  local function new_with(path)
    local script = dir .. "/new.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local br = require "codearts.batchresult"
local c, err = br.new { endpoint = "https://127.0.0.1:9", project_id = ("0"):rep(32), token = "tok-0123456789",
  ca_path = %q }
io.write(c and "made" or (err.option == "ca_path" and "refused" or tostring(err)))
]]):format(path))
    f:close()
    local p = assert(io.popen("env -u HUAWEICLOUD_SDK_SK -u HUAWEICLOUD_SDK_SECURITY_TOKEN LUA_PATH='"
      .. package.path .. "' LUA_CPATH='" .. package.cpath .. "' timeout 10 " .. child.interpreter .. " '" .. script
      .. "' 2>&1"))
    local out = p:read("*a")
    p:close()
    return out
  end

  -- Opening a FIFO waits for a writer, as for a ca_file (config.lua asks
  -- what a ca_file is before opening it): a FIFO, or a device, named as
  -- OpenSSL looks a certificate up held br.new forever.
  it("opens no FIFO a name of which OpenSSL would look up", function()
    local fifo_only, beside = dir .. "/fifo-only", dir .. "/beside"
    local p = assert(io.popen("env -u LD_PRELOAD openssl x509 -hash -noout -in '" .. pki.ca .. "'"))
    local hash = assert(p:read("*l"):match("^%x%x%x%x%x%x%x%x$"))
    p:close()
    assert(os.execute("mkdir -p '" .. fifo_only .. "' '" .. beside .. "'"
      .. " && mkfifo '" .. fifo_only .. "/abcdef01.0' '" .. beside .. "/abcdef01.0'"
      .. " && ln -s /dev/zero '" .. fifo_only .. "/abcdef02.0'"
      .. " && cp '" .. pki.ca .. "' '" .. beside .. "/" .. hash .. ".0'"))
    assert.are.equal("refused", new_with(fifo_only))
    assert.are.equal("made", new_with(beside))
  end)
end)
