-- A client's libcurl handle driven from an event loop (src/multi.h,
-- "Watching from an event loop"), in plain Lua: what transport/nvim.lua
-- relies on, under every Lua and under ASan and valgrind (the Neovim specs
-- load the plain LuaJIT module).  The loop here acts on the lent set at
-- every turn, as a loop acts when it finds the set ready; requests go to
-- the stand-in, which answers 404 to a GET of any path but its own.
local core = require "codearts.batchresult.core"
local standin = require "spec.support.standin"

-- What descriptor fd of this process is ("socket:[…]", "anon_inode:[eventpoll]"),
-- or nil when closed.  (Once closed, its number may be the pipe this very
-- look opened.)
local function kind(fd)
  local p = assert(io.popen(standin.clean_env .. "readlink /proc/$PPID/fd/" .. fd .. " 2>/dev/null"))
  local s = p:read("*l")
  p:close()
  return s
end

local function is_set(fd) return kind(fd) == "anon_inode:[eventpoll]" end

-- The sockets epoll set fd holds: { [socket fd] = its epoll event bits },
-- as the kernel lists them.
local function members(fd)
  local f = assert(io.open("/proc/self/fdinfo/" .. fd, "r"))
  local out = {}
  for line in f:lines() do
    local tfd, events = line:match("^tfd:%s*(%d+)%s+events:%s*(%x+)")
    if tfd then out[tonumber(tfd)] = tonumber(events, 16) end
  end
  f:close()
  return out
end

local EPOLLIN, EPOLLOUT = 1, 4
local function has(bits, bit) return bits % (2 * bit) >= bit end

local function handle()
  return assert(core.multi { connect_timeout_ms = 5000, max_response_bytes = 65536 })
end

-- One turn of the loop: libcurl acts on the lent set and on its timeout.
-- Returns the set (every turn lends the same one).
local function turn(m)
  local timeout, fd = m:watch()
  assert.is_number(fd)
  m:act(fd)
  if timeout >= 0 then m:act() end
  return fd
end

-- Turns until c has an answer (at most 5 s).
local function until_ready(m, c)
  local deadline = core.now() + 5
  while not c:ready() do
    assert(core.now() < deadline, "no answer came")
    turn(m)
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

  it("lends one epoll set of libcurl's sockets, the same at every turn, open until given back", function()
    local m = handle()
    local c = m:call()
    start(c)
    assert.is_false(c:ready())
    local set = turn(m)
    assert.is_true(is_set(set))
    -- libcurl's socket is in it, and the loop never sees it.
    local sockets = members(set)
    assert.are.equal(1, count(sockets))
    for fd in pairs(sockets) do assert.matches("^socket:", kind(fd)) end
    until_ready(m, c)
    local slot, status = c:next(0)
    assert.is_number(slot)
    assert.are.equal(404, status)
    -- The answer is in: libcurl waits on nothing, and keeps the connection.
    local timeout, again = m:watch()
    assert.are.equal(set, again)
    assert.are.same({}, members(set))
    assert.are.equal(-1, timeout)
    m:unwatch(set)
    assert.is_true(is_set(set)) -- (the handle's until it closes)
    m:close()
    assert.is_nil(kind(set))
  end)

  it("waits for the set lent before it closes", function()
    local m = handle()
    local c = m:call()
    server:config { delay_ms = 300 }
    start(c)
    local set = turn(m)
    local changes = m:changes()
    m:close()
    -- Closed for everyone: the call learns it without driving anything.
    assert.is_true(c:ready())
    assert.are.same({ nil, "INTERNAL", "the transport was closed" }, { c:next(0) })
    assert.is_nil(m:watch())
    assert.is_nil(m:changes())
    assert.is_number(changes)
    m:act() -- nothing: the handle is closed
    assert.is_true(is_set(set))
    m:unwatch(set)
    assert.is_nil(kind(set))
  end)

  -- What transport/nvim.lua wakes: only the calls news() names, so it
  -- must name every answer that came in, whoever's wait took it in.
  it("names the calls whose answers came in since it last asked, whichever wait took them in", function()
    local m = handle()
    local a, b = m:call(), m:call()
    assert.are_not.equal(a:group(), b:group())
    server:config { delay_ms = 200 }
    start(a)
    local set = turn(m)
    assert.are.same({}, m:news())
    -- b waits with nothing of its own in flight: libcurl runs a's there.
    assert.are.same({ nil, "idle" }, { b:next(0.5) })
    assert.are.same({ a:group() }, m:news())
    assert.are.same({}, m:news()) -- (named once)
    local slot, status = a:next(0)
    assert.is_number(slot)
    assert.are.equal(404, status)
    -- An answer its own call took before anyone asked is no news.
    start(a)
    assert.are.equal(404, select(2, a:next()))
    assert.are.same({}, m:news())
    -- Two calls' answers in at once: both named.
    start(a)
    start(b)
    until_ready(m, a)
    until_ready(m, b)
    local named = m:news()
    table.sort(named)
    assert.are.same({ a:group(), b:group() }, named)
    m:unwatch(set)
    m:close()
    assert.is_nil(m:news())
  end)

  it("keeps the set true through a synchronous wait on the same handle", function()
    local m = handle()
    local a, b = m:call(), m:call()
    server:config { delay_ms = 500 }
    start(a)
    local before = m:changes()
    local set = turn(m) -- the record is read: from now on every drive keeps it
    assert.are_not.equal(before, m:changes())
    -- A synchronous wait runs libcurl for a too, and b connects in it.
    start(b)
    assert.are.same({ nil, "waited" }, { b:next(0.2) })
    local sockets = members(set)
    assert.are.equal(2, count(sockets), "a socket opened in the synchronous wait is not watched")
    for _, events in pairs(sockets) do
      -- both wait for their answers
      assert.is_true(has(events, EPOLLIN))
      assert.is_false(has(events, EPOLLOUT))
    end
    local slot, status = b:next()
    assert.is_number(slot)
    assert.are.equal(404, status)
    until_ready(m, a)
    slot, status = a:next(0)
    assert.is_number(slot)
    assert.are.equal(404, status)
    m:unwatch(set)
    m:close()
  end)
end)
