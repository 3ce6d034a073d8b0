-- Run by spec/nvim_spec.lua inside `nvim --headless`: fork() (LuaJIT's
-- FFI) while a run waits in callback mode, the child running the editor's
-- loop for 300 ms before it exits.  libuv's epoll set is the parent's too
-- in the child, which must take nothing out of it.
--   parent     the code of the parent's call, or "ok"
--   parent_ms  how long it took (the stand-in answers each batch in 0.4 s)
-- and in $NVIM_TEST_OUT.child, the code of the call the child inherited.
-- Writes key=value lines and quits.
local ffi = require "ffi"
local harness = require "spec.nvim.harness"
ffi.cdef [[ int fork(void); void _exit(int); int waitpid(int, int *, int); ]]
local seen = {}
harness.guard(seen)
local br = require "codearts.batchresult"
local c = harness.client(br, { timeout = 60 })
local pipelines = {}
for i, pair in ipairs(harness.pairs()) do pipelines[i] = pair.pipeline_id end
local in_child, inherited, child = false, "none", nil
local started = harness.now_ms()
c:run(pipelines, { batch_size = 1, concurrency = 2, callback = function(_, err)
  if in_child then
    inherited = err and err.code or "ok"
    return
  end
  seen.parent, seen.parent_ms = err and err.code or "ok", harness.now_ms() - started
  seen.message = err and err.message
  -- (only now: a parent that waits for it takes no events meanwhile, and
  -- the child's loop wakes for the parent's until they are taken)
  if child then ffi.C.waitpid(child, ffi.new("int[1]"), 0) end
  harness.finish(seen)
end })
vim.defer_fn(function()
  local pid = ffi.C.fork()
  if pid == 0 then
    in_child = true
    vim.wait(300, function() return false end, 20)
    local f = io.open(os.getenv("NVIM_TEST_OUT") .. ".child", "w")
    if f then
      f:write(inherited)
      f:close()
    end
    ffi.C._exit(0)
  end
  child = pid
end, 150)
