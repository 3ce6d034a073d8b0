-- A client's libcurl handle driven from an event loop (src/multi.h,
-- "Watching from an event loop"), in plain Lua: what transport/nvim.lua
-- relies on, under every Lua and under ASan and valgrind (the Neovim specs
-- load the plain LuaJIT module).  The loop here acts on every descriptor
-- the record lists, as a loop that polls acts on the ready ones; requests
-- go to the stand-in, which answers 404 to a GET of any path but its own.
local core = require "codearts.batchresult.core"
local standin = require "spec.support.standin"

local EVENTS = { "r", "w", "rw" }

-- Whether descriptor fd of this process is a socket.  (Once closed, its
-- number may be the pipe this very look opened.)
local function is_socket(fd)
  local p = assert(io.popen(standin.clean_env .. "readlink /proc/$PPID/fd/" .. fd .. " 2>/dev/null"))
  local s = p:read("*l")
  p:close()
  return (s or ""):find("^socket:") ~= nil
end

local function handle()
  return assert(core.multi { connect_timeout_ms = 5000, max_response_bytes = 65536 })
end

-- One turn of the loop: libcurl acts on every descriptor lent and on its
-- timeout.  Returns the record read first, and every descriptor that was
-- ever lent goes into `lent`.
local function turn(m, lent)
  local timeout, fds = m:watch()
  for fd, events in pairs(fds) do
    lent[fd] = true
    m:act(fd, EVENTS[events])
  end
  if timeout >= 0 then m:act() end
  return fds
end

-- Turns until c has an answer (at most 5 s).
local function until_ready(m, c, lent)
  local deadline = core.now() + 5
  while not c:ready() do
    assert(core.now() < deadline, "no answer came")
    turn(m, lent)
  end
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("a handle watched from an event loop", function()
  local server
  standin.for_block(function(s) server = s end)

  local function start(c)
    return assert(c:start("GET", server.url .. "/v5/watched", {}, "", 5000, false))
  end

  it("lends duplicates of libcurl's sockets, each open until given back", function()
    local m, lent = handle(), {}
    local c = m:call()
    start(c)
    assert.is_false(c:ready())
    until_ready(m, c, lent)
    local slot, status = c:next(0)
    assert.is_number(slot)
    assert.are.equal(404, status)
    -- The answer is in: libcurl waits on nothing, and keeps the connection.
    local timeout, fds = m:watch()
    assert.are.same({}, fds)
    assert.are.equal(-1, timeout)
    assert.is_true(count(lent) >= 1)
    for fd in pairs(lent) do
      assert.is_true(is_socket(fd), "lent descriptor " .. fd .. " was closed")
      m:unwatch(fd)
      assert.is_false(is_socket(fd))
    end
    m:close()
  end)

  it("waits for the descriptors lent before it closes", function()
    local m, lent = handle(), {}
    local c = m:call()
    server:config { delay_ms = 300 }
    start(c)
    local deadline = core.now() + 5
    while count(turn(m, lent)) == 0 do assert(core.now() < deadline, "nothing to watch") end
    local changes = m:changes()
    m:close()
    -- Closed for everyone: the call learns it without driving anything.
    assert.is_true(c:ready())
    assert.are.same({ nil, "INTERNAL", "the transport was closed" }, { c:next(0) })
    assert.is_nil(m:watch())
    assert.is_nil(m:changes())
    assert.is_number(changes)
    m:act() -- nothing: the handle is closed
    for fd in pairs(lent) do
      assert.is_true(is_socket(fd))
      m:unwatch(fd)
      assert.is_false(is_socket(fd))
    end
  end)

  it("keeps the record true through a synchronous wait on the same handle", function()
    local m, lent = handle(), {}
    local a, b = m:call(), m:call()
    server:config { delay_ms = 500 }
    start(a)
    local before = m:changes()
    turn(m, lent) -- the record is read: from now on every drive keeps it
    assert.are_not.equal(before, m:changes())
    -- A synchronous wait runs libcurl for a too, and b connects in it.
    start(b)
    assert.are.same({ nil, "waited" }, { b:next(0.2) })
    local _, fds = m:watch()
    assert.are.equal(2, count(fds), "a socket opened in the synchronous wait is not watched")
    for fd, events in pairs(fds) do
      lent[fd] = true
      assert.are.equal(1, events) -- both wait for their answers
    end
    local slot, status = b:next()
    assert.is_number(slot)
    assert.are.equal(404, status)
    until_ready(m, a, lent)
    _, status = a:next(0)
    assert.are.equal(404, status)
    for fd in pairs(lent) do m:unwatch(fd) end
    m:close()
  end)
end)
