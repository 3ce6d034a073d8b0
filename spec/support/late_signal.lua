-- Runs a launcher (bin/codearts-batchresult) as the interpreter runs a
-- script, and sends this process SIGTERM at the Nth line the interpreter
-- runs from the launcher's first write to stdout (or stderr): a signal
-- landing at one exact point as the tool ends, which a signal sent from
-- outside reaches only by chance.
--
--   lua late_signal.lua LAUNCHER ARG...
--   LATE_SIGNAL_AT=N       the line, counted from 1 after that write
--   LATE_SIGNAL_FROM=name  "stdout" (the default) or "stderr", or
--                          "call:NAME": from the first call of a
--                          function of that name
--   LATE_SIGNAL_SENT=F     a file written once the signal went
local launcher = arg[1]
local at = assert(tonumber(os.getenv("LATE_SIGNAL_AT")), "LATE_SIGNAL_AT")
local sent_file = assert(os.getenv("LATE_SIGNAL_SENT"), "LATE_SIGNAL_SENT")
local from_name = os.getenv("LATE_SIGNAL_FROM") or "stdout"
local called = from_name:match("^call:(.+)$")
local from = ({ stdout = io.stdout, stderr = io.stderr })[from_name]
assert(from or called, "LATE_SIGNAL_FROM")

local stat = assert(io.open("/proc/self/stat"))
local pid = assert(stat:read("*n"))
stat:close()

-- (The file methods are shared by every file: only that one's first
-- write, whether it was written or failed, starts the count.)
local methods = getmetatable(io.stdout).__index
local write = methods.write
local since
methods.write = function(f, ...)
  if f == from and not since then since = 0 end
  return write(f, ...)
end

debug.sethook(function(event)
  if event == "call" then
    if not since and called and debug.getinfo(2, "n").name == called then since = 0 end
    return
  end
  if not since then return end
  since = since + 1
  if since < at then return end
  debug.sethook()
  local f = assert(io.open(sent_file, "w"))
  f:write("sent")
  f:close()
  -- (the interpreter's handler replaces this hook with its own, which
  -- raises the interrupt at the next instruction after this returns)
  os.execute("kill -s TERM " .. pid)
end, called and "cl" or "l")

-- As the interpreter runs a script: arg[0] the launcher, its arguments
-- as the chunk's.
local args = { select(2, ...) }
local launcher_arg = { [0] = launcher }
for i, v in ipairs(args) do launcher_arg[i] = v end
rawset(_G, "arg", launcher_arg)
local chunk = assert(loadfile(launcher))
chunk((unpack or table.unpack)(args))
