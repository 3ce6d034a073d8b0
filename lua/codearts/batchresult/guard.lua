--- How the library runs code that may raise: one protected call, which
-- lets a yield pass through it on every Lua.  Lua 5.2+ and LuaJIT can
-- yield across pcall; Lua 5.1 cannot ("attempt to yield across
-- metamethod/C-call boundary"), so there the function runs in a coroutine
-- of its own, whose yields are handed up to the caller's coroutine and
-- whose resumptions are handed back down.  A caller's on_progress or
-- logger may thus yield (to a scheduler, to nginx) wherever it runs.
--
-- Except on the main thread, where a yield has no coroutine to reach:
-- there f runs under plain pcall, on that thread, since 5.1's lua.c sets
-- its Ctrl-C hook on the main thread only.  In a coroutine of the
-- library's the call ran on through Ctrl-C, starting pipelines, and the
-- interpreter's "interrupted!" came after it, past the call's accounting.
local Error = require "codearts.batchresult.error"

local M = {}

-- Once f has run, nothing here allocates: its results and yields are
-- handed on as arguments (a tail call per yield), never packed into a
-- table, since a memory error here, outside any protection, would lose
-- what the call did (the runs it started, say).
local function yieldable_pcall(f, ...)
  -- (a yield inside f then fails there, in 5.1's words, as on the other
  -- Luas, and f's own clean-up runs)
  if not coroutine.running() then return pcall(f, ...) end
  -- (5.1's coroutine.create takes only a Lua function: a caller's logger
  -- may well be print)
  local co = coroutine.create(function(...) return f(...) end)
  local function step(ok, ...)
    if not ok or coroutine.status(co) ~= "suspended" then return ok, ... end
    return step(coroutine.resume(co, coroutine.yield(...)))
  end
  return step(coroutine.resume(co, ...))
end

--- pcall(f, ...), and a yield inside f reaches the caller's coroutine.
M.pcall = (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) and yieldable_pcall or pcall

--- f(...) (at most six results), and once more after a full collection
-- should Lua's memory run out in it, as it makes an answer's strings or
-- tables: an answer the process read is a run's only word of which
-- pipelines started, and the garbage of a long call may be what filled
-- the memory.  A second memory error goes up as the first would have.
-- (f must not yield: plain pcall.)
function M.again_on_memory(f, ...)
  local ok, a, b, c, d, e, g = pcall(f, ...)
  if ok then return a, b, c, d, e, g end
  if not Error.is_out_of_memory(a) then error(a, 0) end
  collectgarbage()
  return f(...)
end

return M
