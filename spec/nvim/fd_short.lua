-- Run by spec/nvim_spec.lua inside `nvim --headless`: a call in the
-- callback mode made when no descriptor is left, so that the pump cannot
-- watch its socket (multi.c fails its transfer at once then, as the
-- network's failure; now and then a descriptor comes free meanwhile, and
-- the call is answered).  Its callback must come at once, not when some
-- later event wakes the pump.
-- Writes key=value lines and quits.
local ffi = require "ffi"
local uv = vim.uv or vim.loop
local harness = require "spec.nvim.harness"
local seen = {}

harness.guard(seen)
local br = require "codearts.batchresult"
-- (no retries: each would fail as the first does, only later)
local c = harness.client(br, { max_retries = 0 })
-- The multi handle and a kept-alive connection, made while descriptors are
-- left: the call below needs only the one it cannot get.
assert(c:query(harness.pairs()))

-- Few descriptors, so that taking them all is quick.
ffi.cdef [[
struct nvim_spec_rlimit { unsigned long cur, max; };
int getrlimit(int, struct nvim_spec_rlimit *);
int setrlimit(int, const struct nvim_spec_rlimit *);
]]
local RLIMIT_NOFILE = 7
local limit = ffi.new("struct nvim_spec_rlimit")
assert(ffi.C.getrlimit(RLIMIT_NOFILE, limit) == 0)
limit.cur = math.min(tonumber(limit.max), 256)
assert(ffi.C.setrlimit(RLIMIT_NOFILE, limit) == 0)

local held = {}
local function give_back()
  for _, f in ipairs(held) do f:close() end
  held = {}
end

local started
assert(c:query(harness.pairs(), {
  callback = function(_, err)
    give_back()
    seen.ms = harness.now_ms() - started
    seen.code = err and err.code or "none"
    seen.message = err and err.message
    seen.accounted = err and (#err.results + #err.results.missing + #err.unanswered) or -1
    harness.finish(seen)
  end,
}))
-- Every descriptor taken before the pump first watches the call's socket.
repeat
  local f = io.open("/dev/null")
  held[#held + 1] = f
until not f
started = harness.now_ms()

-- (the descriptors back, for a call that sleeps; nothing then wakes it)
local timer = uv.new_timer()
timer:start(1000, 0, vim.schedule_wrap(function()
  give_back()
  vim.defer_fn(function() harness.finish { error = "no callback 1.5 s after the call began" } end, 500)
end))
