--- Neovim's transport: the libcurl transport, driven from Neovim's event
-- loop instead of blocking in it.  The call runs in a coroutine; whenever
-- it would wait, it yields, and the event loop resumes it when one of its
-- answers is in, when its wait is over, or when the client was closed.
-- Nothing polls: the client's handle has one pump (below), which watches
-- the sockets libcurl waits on and keeps one timer for libcurl's next
-- timeout, and runs libcurl only when one of them fires.  So the editor
-- keeps drawing and typing while a query is in flight, and a wait of
-- seconds costs a few wake-ups.
local core = require "codearts.batchresult.core"
local Error = require "codearts.batchresult.error"

local M = {}

-- Calls running asynchronously: coroutine -> the function that resumes it.
-- Not weak: each value refers to its key, which LuaJIT (no ephemerons)
-- would then never collect.  run_async removes a call's entry when its
-- coroutine ends, as every such call does (its waits all have an end).
local resumers = {}
-- The same calls: coroutine -> how deep in the library's resumes (resume,
-- in run_async) it runs, counted from the outermost, or 0 when no resume
-- of the library's is inside it: which of them runs innermost (M.resumer).
local depths = {}
local depth = 0
-- What a call yields when its transport waits (park); any other yield is
-- a callback's of the caller's.  A value, not a mark on the coroutine: on
-- PUC Lua 5.1 the yield comes up through guard.lua's coroutine, values and
-- all.
local PARKED = setmetatable({}, { __tostring = function() return "parked" end })

--- Gives the event loop back until the running call's resumer (resumer())
-- is called: the one way a call's transport waits.
function M.park()
  coroutine.yield(PARKED)
end

--- The pump of a client's libcurl handle (transport/curl.lua's Handle):
-- every call of the client in callback mode waits through it, so that
-- calls in flight together share its watch, as they share libcurl's
-- sockets.
--
-- After each step it reads what libcurl waits on (multi:watch(), which
-- libcurl's socket and timer callbacks recorded) and arms one libuv poll
-- handle and one timer; when one fires it lets libcurl act (multi:act())
-- and resumes the calls whose answers are in, which multi:news() names:
-- a step costs the calls it wakes, not every call waiting (asking each
-- call at every step cost K calls K times).  A prepare handle, which
-- runs just before the loop blocks and never wakes it, compares
-- multi:changes(): a synchronous call on the same client, a cancel or a
-- close changes the record, or finishes a transfer, without any of these
-- handles firing.  Such a drive made inside a libuv callback settles the
-- pump itself (the handle's drove, below): the prepare handle may have
-- run already.
--
-- The poll handle watches no socket of libcurl's but the handle's epoll
-- set of them (src/multi.h), lent to the pump until it gives it back
-- (multi:unwatch()) after closing the poll handle: libcurl closes its
-- sockets inside its own calls, which libuv must never watch, and libuv
-- reports a socket's error (a reset, a refused connect) as EBADF, which
-- luv writes over the editor's screen.
local Pump = {}
Pump.__index = Pump

-- A field of the handle, not a weak table's value: that would keep the
-- multi handle (p.m) one collection longer than the client, and its
-- sockets open.
local function pump_of(handle, uv)
  local p = handle.nvim_pump
  if not p then
    -- calls: the calls waiting through it, by their group (call:group()),
    -- as multi:news() names them.
    p = setmetatable({ m = handle.m, uv = uv, calls = {}, n = 0 }, Pump)
    handle.nvim_pump = p
    -- A drive made outside the pump (a synchronous call's wait, a close)
    -- inside a libuv callback, while calls wait, settles it at once: the
    -- prepare handle sees such a drive only if it runs after it, and libuv
    -- runs prepare handles newest first, so that a plugin's started before
    -- the pump's runs after it; the loop then waited with a call's answer
    -- in (or its client closed) until anything else woke it, seconds
    -- later.  A drive on the main loop is always followed by the prepare
    -- handle.
    function handle.drove()
      if p.prepare and vim.in_fast_event() then p:settle() end
    end
  end
  return p
end

--- Call t (a Transport) waits through the pump until it leaves.
function Pump:join(t)
  self.calls[t.group] = t
  self.n = self.n + 1
  if self.n == 1 then
    self.timer = self.uv.new_timer()
    self.prepare = self.uv.new_prepare()
    self.prepare:start(function()
      if self.m:changes() ~= self.seen then self:settle() end
    end)
  end
  -- The first read of the record also has the handle keep it true for
  -- every drive from now on, synchronous ones too (see multi.c).
  self:settle()
end

function Pump:leave(t)
  if self.calls[t.group] ~= t then return end
  self.calls[t.group] = nil
  self.n = self.n - 1
  if self.n == 0 then self:disarm() end
end

--- Stops watching the lent descriptor, then gives it back.  In a child
-- forked while the pump watched, the poll handle is left as it is: libuv's
-- epoll set is the parent's too (Neovim never calls uv_loop_fork), and
-- closing the handle there took the parent's watch out of it, whose call
-- then waited for libcurl's next timeout, seconds later.  Its callback
-- finds the handle another process's, and does nothing.
function Pump:forget()
  if not self.m:inherited() then self.poll:close() end
  self.m:unwatch(self.fd)
  self.poll, self.fd = nil, nil
end

--- Brings the poll handle and the timer in line with what libcurl waits
-- on now.  false when the client was closed.
function Pump:arm()
  local timeout, fd, changes = self.m:watch()
  if not timeout then return false end
  if fd and not self.poll then
    local handle, err = self.uv.new_poll(fd)
    if not handle then
      self.m:unwatch(fd)
      error("cannot watch libcurl's sockets: " .. tostring(err))
    end
    self.poll, self.fd = handle, fd
    handle:start("r", function() self:step(fd) end)
  end
  if timeout >= 0 then
    -- The loop's clock was read when this iteration began: a timer set
    -- from it would fire early, and wake the editor once more.
    self.uv.update_time()
    self.timer:start(timeout, 0, function() self:step() end)
  else
    self.timer:stop()
  end
  self.seen = changes
  return true
end

--- libcurl acts on what the lent descriptor fd finds ready, or (fd nil)
-- on its timeout; then the pump settles.
function Pump:step(fd)
  self.m:act(fd)
  self:settle()
end

--- Re-arms, and resumes every sleeping call with an answer to take: arm()
-- marks the record seen, so the prepare handle no longer tells of answers
-- that a drive outside the pump (a synchronous call, another call's
-- wait, watch() itself) took in since; news() names them all.  A call
-- named that is awake takes its answer by itself: it looks (ready())
-- before it sleeps.  false when the client was closed.
function Pump:settle()
  local news = self:arm() and self.m:news()
  if not news then return self:closed() end
  for _, group in ipairs(news) do
    -- (a group of no call here is a synchronous call's; wake() wakes a
    -- call named twice once)
    local t = self.calls[group]
    if t then t:wake() end
  end
  return true
end

--- The client was closed: every descriptor goes back, and every call
-- wakes to find out.  Each resumed call may start, finish or close
-- anything: the calls are picked first.
function Pump:closed()
  self:disarm()
  local picked = {}
  for _, t in pairs(self.calls) do picked[#picked + 1] = t end
  for _, t in ipairs(picked) do t:wake() end
  return false
end

function Pump:disarm()
  if self.poll then self:forget() end
  if self.timer then
    self.timer:close()
    self.prepare:close()
    self.timer, self.prepare, self.seen = nil, nil, nil
  end
end

local Transport = {}
Transport.__index = Transport

--- fn() at the editor's next turn (vim.schedule), even when asked from a
-- libuv callback.  Neovim stops libuv's loop when its own handles queue
-- an event, not when vim.schedule does: queued from a callback that runs
-- before the loop waits (the pump's prepare handle, after a synchronous
-- call took a call's answer in; a timer that fell due while a timer's
-- callback made one), fn waited for the editor's next event, a key or
-- 'updatetime' later.  Stopping the loop has it come back to the editor
-- after that wait's mere look.
local function later(fn)
  vim.schedule(fn)
  if vim.in_fast_event() then (vim.uv or vim.loop).stop() end
end
M.later = later

-- Calls in callback mode not yet called back: coroutine -> the function
-- that closes its client (run_async's close).
local unreported = {}
-- Whether the editor is quitting (hook_leave, quitting).
local leaving = false
local GROUP = "codearts_batchresult"
-- The id of this copy's VimLeavePre: a copy of the module loaded again
-- (package.loaded cleared, as a plugin reloader does) has calls of its
-- own to tell, in an unreported of its own, and its own autocommand.
local hooked

--- Whether no call in unreported can still end: each left is running
-- (this is one of its callbacks, which quit), or inside one that is.
local function none_can_end()
  for co in pairs(unreported) do
    local status = coroutine.status(co)
    if status == "suspended" or status == "dead" then return false end
  end
  return true
end

--- Quitting Neovim ends no call: the callbacks it would schedule never
-- run, and a run's started pipelines would go unsaid.  So as the editor
-- quits (VimLeavePre), each client with a call in flight is closed, and
-- so is that of any call that goes on or starts from then on, before it
-- does; the editor waits, a second at most, until each call has ended,
-- CLOSED and every item accounted for, and been called back (at once,
-- from then on, not scheduled).  In a group of the library's own, which
-- a bare ":autocmd!" leaves, made again should it be gone; made on the
-- main loop (nothing elsewhere).
local function hook_leave()
  if vim.in_fast_event() then return end
  local ok, made = pcall(vim.api.nvim_get_autocmds, { group = GROUP, event = "VimLeavePre" })
  for _, autocmd in ipairs(ok and made or {}) do
    if autocmd.id == hooked then return end
  end
  local group = vim.api.nvim_create_augroup(GROUP, { clear = false })
  hooked = vim.api.nvim_create_autocmd("VimLeavePre", { group = group, callback = function()
    leaving = true
    local closes = {}
    for _, close in pairs(unreported) do closes[#closes + 1] = close end
    for _, close in ipairs(closes) do close() end
    vim.wait(1000, none_can_end)
  end })
end

--- Whether the editor quits: from its VimLeavePre on (hook_leave), and
-- before, should the call come as it runs (a plugin's VimLeavePre made
-- before ours, the session's first call; one made in a libuv callback
-- that ran as it began to exit), which then starts after, as it exits.
local function quitting()
  -- (vim.v is no more to be read in a libuv callback than vim.api)
  if not leaving and not vim.in_fast_event() then leaving = vim.v.exiting ~= vim.NIL end
  return leaving
end

--- Whether this Lua is Neovim's (vim.uv since 0.10, vim.loop before).
function M.available()
  local vim = rawget(_G, "vim")
  return type(vim) == "table" and (vim.uv or vim.loop) ~= nil
end

--- The function that resumes the running coroutine when it runs a call
-- started with run_async; nil elsewhere.
function M.resumer()
  local co = coroutine.running()
  if not co or resumers[co] then return co and resumers[co] end
  -- On PUC Lua 5.1 (a Neovim built without LuaJIT) the call runs in a
  -- coroutine of guard.lua's, made inside the call's own: that one is then
  -- among the calls' coroutines whose status is "normal" (those resuming
  -- the running one, one inside the other), the innermost of them.  Which
  -- that is, the depths tell, unless one of them was resumed by a scheduler
  -- of the caller's: then none is taken, and the call waits synchronously.
  local found, deepest, candidates, unordered = nil, -1, 0, false
  for c, d in pairs(depths) do
    if coroutine.status(c) == "normal" then
      candidates = candidates + 1
      unordered = unordered or d == 0
      if d > deepest then found, deepest = c, d end
    end
  end
  if found and (candidates == 1 or not unordered) then return resumers[found] end
end

--- nil, or the error of a callback option where no event loop can call it
-- back: for the caller to check with the call's other options, before it
-- reads the call's list (run_async is given a call that passed it).
function M.callback_refused()
  if M.available() then return nil end
  local err = Error.invalid("the callback option needs Neovim's event loop (vim.uv or vim.loop)")
  err.option = "callback"
  return err
end

--- Runs body(), a call or two, in a coroutine driven by Neovim's event
-- loop, and hands what it returns to callback on the main loop; close()
-- closes its client, should the editor quit first (hook_leave).  true
-- (callback_refused checked Neovim is there).  body reports a failing
-- on_progress or logger as an error value (CALLBACK, see call.lua);
-- anything it raises reaches callback as INTERNAL, its words as
-- shown(text) gives them (redacted by the client: the error of a bug may
-- quote anything).
--
-- The pump wakes a call from libuv's callbacks, where vim.api may not be
-- called; the call goes on at the editor's next turn instead (later()),
-- so that on_progress and logger run where they may use it, as callback
-- does.
function M.run_async(callback, body, shown, close)
  local co, called = nil, false
  --- The call ended: callback(results, err) at the editor's next turn, or
  -- at once while it quits (no turn comes).  Once: what a callback called
  -- at once raises ends the coroutine it ends in, and is no INTERNAL.
  local function told(results, err)
    local function call_back()
      if called then return end
      called = true
      unreported[co] = nil
      callback(results, err)
    end
    if quitting() then call_back() else vim.schedule(call_back) end
  end
  local function resume()
    if quitting() then close() end
    -- A scheduler of the caller's may have resumed the coroutine (an
    -- on_progress or logger that yielded to it) and even run the call to
    -- its end meanwhile: a wake-up left over is no longer this one's.
    if coroutine.status(co) ~= "suspended" then return end
    depth = depth + 1
    depths[co] = depth
    local ok, e = coroutine.resume(co)
    depth = depth - 1
    if coroutine.status(co) == "dead" then
      resumers[co], depths[co] = nil, nil
    else
      depths[co] = 0
    end
    if not ok then
      told(nil, Error.new("INTERNAL", shown(tostring(e))))
    elseif coroutine.status(co) == "suspended" and e ~= PARKED then
      -- on_progress or logger yielded (they may, on every host): nobody
      -- here would resume it, so the call goes on at the editor's next turn.
      vim.schedule(resume)
    end
  end
  -- (told from inside: the caller's scheduler may be the one that resumes
  -- it to its end)
  co = coroutine.create(function()
    local results, err = body()
    resumers[co], depths[co] = nil, nil
    told(results, err)
  end)
  resumers[co] = function() later(resume) end
  depths[co] = 0
  unreported[co] = close
  -- (hooked here when it can be: a call asked for as the editor quits
  -- starts after, as it exits)
  hook_leave()
  -- Even the call's start waits for the main loop: run_async may be called
  -- from a libuv callback or under textlock, where on_progress(0, …) could
  -- not use vim.api.
  later(function()
    hook_leave()
    resume()
  end)
  return true
end

--- handle: the client's libcurl handle (transport/curl.lua's Handle);
-- inner: the call's transport on it (handle:call()).  resume() is called
-- (from the event loop) to continue the coroutine that runs the call.
function M.new(handle, inner, resume)
  local uv = vim.uv or vim.loop
  local t = setmetatable({ inner = inner, group = inner.c:group(), resume = resume, uv = uv,
                          pump = pump_of(handle, uv) }, Transport)
  t.pump:join(t)
  return t
end

function Transport:start(req, opts)
  return self.inner:start(req, opts)
end

--- Gives the event loop back until the pump finds news for the call (an
-- answer, or the client closed) or `left` seconds (if given) pass.
function Transport:sleep(left)
  -- closed, or news of its own already (wait(0) takes it): no sleep
  if not self.pump:settle() or self.inner.c:ready() then return end
  if left then
    self.timer = self.timer or self.uv.new_timer()
    -- (as in Pump:arm: the loop's clock is as old as this turn, which the
    -- call's own callbacks may have kept busy; the timer fired that much
    -- early, and the call woke once more to sleep the rest)
    self.uv.update_time()
    self.timer:start(math.ceil(left * 1000), 0, function() self:wake() end)
  end
  self.sleeping = true
  M.park()
end

function Transport:wake()
  if not self.sleeping then return end
  self.sleeping = false
  if self.timer then self.timer:stop() end
  self.resume()
end

function Transport:wait(seconds)
  local due = seconds and core.now() + seconds
  while true do
    -- Takes an answer that is in; libcurl runs once on the way.
    local token, res, kind, msg, not_sent, cut = self.inner:wait(0)
    if token then return token, res, kind, msg, not_sent, cut end
    if res == "closed" or (res == "idle" and not due) then return nil, res end
    local left = due and due - core.now()
    if left and left <= 0 then return nil, res end
    self:sleep(left)
  end
end

function Transport:ready()
  return self.inner:ready()
end

function Transport:ack()
  self.inner:ack()
end

function Transport:cancel()
  self.inner:cancel()
end

function Transport:close()
  self.sleeping = false
  if self.timer then
    self.timer:close()
    self.timer = nil
  end
  self.inner:close()
  self.pump:leave(self)
end

return M
