-- An HTTP CONNECT proxy for specs: each client names host:port, is
-- answered 200 with heads of the proxy's own (X-Request-Id among them,
-- which no client may take for the answer's), then tunnelled there byte
-- for byte.  Started by spec/support/standin.lua (start{ program = … }),
-- with the stand-in's command line:
--
--   luajit spec/standin/connect_proxy.lua --port 0 --ready-file FILE
--          [--host 127.0.0.1] [--watch-pid PID] [--refuse STATUS]
--
-- With --refuse it answers every CONNECT with that status instead (407:
-- it wants credentials), and opens no tunnel.
--
-- It writes its port to FILE when it listens, and exits within a second
-- of PID's end.
local cqueues = require "cqueues"
local socket = require "cqueues.socket"

local opts = {}
for i = 1, #arg, 2 do opts[arg[i]:match("^%-%-(.+)$") or arg[i]] = arg[i + 1] end

local cq = cqueues.new()
local server = assert(socket.listen { host = opts.host or "127.0.0.1", port = tonumber(opts.port) or 0 })
assert(server:listen())

-- Copies from a to b until a ends, then ends b's writing.
local function pump(a, b)
  while true do
    local data = a:read(-65536)
    if not data then break end
    if not b:write(data) or not b:flush() then break end
  end
  b:shutdown("w")
end

local function tunnel(client)
  client:setmode("b", "b")
  local first = client:read("*l")
  local target = first and first:match("^CONNECT (%S+) HTTP/1%.[01]\r?$")
  repeat
    local line = client:read("*l")
  until not line or line == "" or line == "\r"
  local host, port = (target or ""):match("^(.-):(%d+)$")
  if opts.refuse then
    client:write("HTTP/1.1 " .. opts.refuse .. " Refused\r\nProxy-Authenticate: Basic realm=\"spec\"\r\n"
      .. "Content-Length: 0\r\n\r\n")
    client:close()
    return
  end
  local upstream = host and socket.connect(host, tonumber(port))
  if not upstream or not upstream:connect(5) then
    client:write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    client:close()
    return
  end
  upstream:setmode("b", "b")
  client:write("HTTP/1.1 200 Connection established\r\nX-Request-Id: from-the-proxy\r\n"
    .. "Date: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n")
  client:flush()
  cq:wrap(pump, upstream, client)
  pump(client, upstream)
end

cq:wrap(function()
  for client in server:clients() do cq:wrap(tunnel, client) end
end)

local _, _, port = server:localname()
local ready = assert(opts["ready-file"], "--ready-file is required")
local f = assert(io.open(ready .. ".tmp", "w"))
f:write(tostring(port), "\n")
f:close()
assert(os.rename(ready .. ".tmp", ready))

if opts["watch-pid"] then
  cq:wrap(function()
    while true do
      local stat = io.open("/proc/" .. opts["watch-pid"] .. "/stat")
      if not stat then os.exit(0) end
      stat:close()
      cqueues.sleep(1)
    end
  end)
end

assert(cq:loop())
