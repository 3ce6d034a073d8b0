-- Run by spec/nvim_spec.lua inside `nvim --headless`: what finished calls
-- in the callback mode leave behind, after two full collections.
--   kept  of 20 calls on one client, how many of their callbacks (each
--         holding a marker) the collector could not take
--   fds   the editor's open descriptors after 5 clients were dropped, each
--         after one call whose callback refers to it, against before
-- Writes key=value lines and quits.
local harness = require "spec.nvim.harness"
local on_collect = require "spec.support.on_collect"
local seen = {}

local function open_fds() return #vim.fn.readdir("/proc/self/fd") end

harness.guard(seen)
local br = require "codearts.batchresult"
local list = harness.pairs()
local fds_before = open_fds()
local CALLS, CLIENTS = 20, 5
local collected = 0

local function finish()
  -- LuaJIT's compiled traces keep, as constants, the closures and tables
  -- they were specialised on, which are those of the first calls (a
  -- closure is specialised on until its prototype has made a few): the
  -- compiler's keeping, not the library's. Under load, about one run in
  -- 150 kept a callback of call 1 or 2 and a dropped client's sockets,
  -- which more collections and waiting did not free and jit.flush() did.
  jit.flush()
  collectgarbage("collect")
  collectgarbage("collect")
  seen.kept, seen.fds_before, seen.fds_after = CALLS - collected, fds_before, open_fds()
  harness.finish(seen)
end

-- The calls one after the other, the first CALLS on one client, each of
-- the next CLIENTS on a client of its own, dropped once it answered.
local shared = harness.client(br)
local function call(i)
  if i > CALLS + CLIENTS then return vim.schedule(finish) end
  local c = i <= CALLS and shared or harness.client(br)
  -- What the callback holds, as a plugin's holds what it works on.
  local held = { client = c, marker = i <= CALLS and on_collect(function() collected = collected + 1 end) }
  assert(c:query(list, { callback = function(results, err)
    if not results then seen.error = tostring(err) end
    seen.endpoint = held.client.endpoint
    vim.schedule(function() call(i + 1) end)
  end }))
end
call(1)
