-- Runs bin/codearts-batchresult as a subprocess, as a shell or CI job
-- would: under the interpreter running the specs, from the checkout, with
-- a clean environment plus what a test gives.
--
--   local cli = require "spec.support.cli"
--   local r = cli.run({ "query", "--format", "json", "P:R" }, {
--     env = { NAME = value or false (unset) },
--     stdin = "text",      -- stdin is a file holding it (default /dev/null)
--     pipe = "text",       -- stdin is a pipe from printf instead
--     idle_stdin = 5,      -- stdin is a pipe nothing is written to, for so many seconds
--     pty = true,          -- under script(1): stdin, stdout and stderr a terminal
--     columns = 30,        -- with pty: the terminal is so many columns wide (stty)
--     idle_input = 3,      -- with pty: nothing is typed for so many seconds, and
--                          -- the terminal's input ends then (else at once)
--     cwd = "/tmp/x",      -- run in this directory (the launcher by its full path)
--     time_limit = 3,      -- kill the tool (SIGKILL: status 137) after so many seconds
--     command = "bin/codearts-batchresult" or an installed one,
--     reader = "head -n 1",   -- stdout goes to this command, which may stop reading
--     sigpipe = "ignore",      -- start the tool with SIGPIPE ignored (as some CI runners do)
--     stdout_closed = true,    -- start the tool with its stdout closed
--     stdout = "/dev/full",    -- stdout goes to this file instead (r.out is then nil)
--     interrupt_after = 0.5,   -- send it SIGINT (Ctrl-C) after so many seconds
--     signal = "TERM",         -- send that signal instead
--     signal_twice = true,     -- and again at once (as timeout(1) without
--                              -- --foreground does, to the process group)
--   })
--   r.out, r.err, r.status        (under pty, out holds stdout and stderr;
--                                  with reader, out is what the reader printed)
local child = require "spec.support.child"
local files = require "spec.support.files"

local M = {}

-- The checkout, which the specs run from.
local ROOT
do
  local p = assert(io.popen("pwd"))
  ROOT = p:read("*l")
  p:close()
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

-- Never inherited: the tool must find its module and its settings itself.
local UNSET = { "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                "HUAWEICLOUD_SDK_PROJECT_ID", "CODEARTS_ENDPOINT", "CODEARTS_REGION", "NO_COLOR",
                "LUA_PATH", "LUA_CPATH", "LUA_PATH_5_3", "LUA_PATH_5_4", "LUA_CPATH_5_3", "LUA_CPATH_5_4" }

function M.run(argv, o)
  o = o or {}
  local parts, set = { "env" }, {}
  for _, name in ipairs(UNSET) do parts[#parts + 1] = "-u " .. name end
  local names = {}
  for k in pairs(o.env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = o.env[k]
    if v then set[#set + 1] = k .. "=" .. quote(v) else parts[#parts + 1] = "-u " .. k end
  end
  for _, assignment in ipairs(set) do parts[#parts + 1] = assignment end
  -- One SIGINT, as a terminal's Ctrl-C sends: without --foreground,
  -- timeout signals the tool and then its own process group, and the
  -- second one, should it come after the first was handled, kills.
  if o.interrupt_after then
    parts[#parts + 1] = "timeout " .. (o.signal_twice and "" or "--foreground ") .. "--preserve-status -s "
      .. (o.signal or "INT") .. " " .. o.interrupt_after
  end
  if o.time_limit then parts[#parts + 1] = "timeout -s KILL " .. o.time_limit end
  parts[#parts + 1] = o.command or (child.interpreter .. " " .. quote(ROOT .. "/bin/codearts-batchresult"))
  for _, a in ipairs(argv) do parts[#parts + 1] = quote(a) end
  local cmd = table.concat(parts, " ")
  if o.cwd then cmd = "cd " .. quote(o.cwd) .. " && " .. cmd end

  local inf, outf, errf, statusf = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
  if o.pty then
    -- script(1) gives the command a terminal for all three streams and
    -- copies what it writes (stdout and stderr, with CRLF) to its stdout.
    -- Its size is 0 x 0 (script's own stdin is no terminal) unless set.
    -- script ends the terminal's input when its own ends.
    if o.columns then cmd = "stty cols " .. o.columns .. " rows 24 && " .. cmd end
    cmd = (o.idle_input and ("sleep " .. o.idle_input .. " | ") or "") .. "script -qec " .. quote(cmd)
      .. " /dev/null" .. (o.idle_input and "" or " </dev/null")
  elseif o.pipe then
    cmd = "printf '%s' " .. quote(o.pipe) .. " | " .. cmd
  elseif o.idle_stdin then
    -- (in the background, holding the pipe open, so that the shell waits
    -- for the tool alone)
    cmd = "{ sleep " .. o.idle_stdin .. " & } | " .. cmd
  else
    files.write(inf, o.stdin or "")
    cmd = cmd .. " <" .. quote(inf)
  end
  if o.reader then
    -- The tool's own status, not the reader's.
    cmd = "{ " .. cmd .. " 2>" .. quote(errf) .. "; echo $? >" .. quote(statusf) .. "; } | " .. o.reader
      .. " >" .. quote(outf) .. "; cat " .. quote(statusf)
  else
    cmd = cmd .. (o.stdout_closed and " >&-" or " >" .. quote(o.stdout or outf)) .. " 2>" .. quote(errf)
      .. "; echo $?"
  end
  if o.sigpipe == "ignore" then cmd = "trap '' PIPE; " .. cmd end
  local p = assert(io.popen(cmd))
  local status = tonumber(p:read("*a"):match("(%d+)%s*$"))
  p:close()
  local r = { out = files.read(outf), err = files.read(errf), status = status, command = cmd }
  os.remove(inf)
  os.remove(outf)
  os.remove(errf)
  os.remove(statusf)
  return r
end

--- "status N, stderr: …" for an assertion's message.
function M.describe(r)
  return ("exit %s\n--- stdout:\n%s\n--- stderr:\n%s\n--- command: %s"):format(tostring(r.status), r.out,
    r.err, r.command)
end

return M
