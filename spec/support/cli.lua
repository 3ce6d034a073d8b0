-- Runs bin/codearts-batchresult as a subprocess, as a shell or CI job
-- would: under the interpreter running the specs, from the checkout, with
-- a clean environment plus what a test gives.
--
--   local cli = require "spec.support.cli"
--   local r = cli.run({ "query", "--format", "json", "P:R" }, {
--     env = { NAME = value or false (unset) },
--     stdin = "text",      -- stdin is a file holding it (default /dev/null)
--     stdin_from = "/",    -- stdin opened from that path instead
--     pipe = "text",       -- stdin is a pipe from printf instead
--     idle_stdin = 5,      -- stdin is a pipe nothing is written to, for so many seconds
--     pty = true,          -- under script(1): stdin, stdout and stderr a terminal
--     stalled_tty = true,  -- stdout a terminal, non-blocking, that nothing reads
--                          -- (spec/support/stalledtty.c): r.out is empty;
--                          -- "blocking": a blocking one
--     term_after = 2,      -- with stalled_tty: SIGTERM after so many seconds
--     columns = 30,        -- with pty: the terminal is so many columns wide (stty)
--     idle_input = 3,      -- with pty: nothing is typed for so many seconds, and
--                          -- the terminal's input ends then (else at once)
--     cwd = "/tmp/x",      -- run in this directory (the launcher by its full path)
--     time_limit = 3,      -- kill the tool (SIGKILL: status 137) after so many seconds
--     command = "bin/codearts-batchresult" or an installed one,
--     reader = "head -n 1",   -- stdout goes to this command, which may stop reading
--     err_reader = "head -c 1", -- or stderr does (r.err is then what it printed)
--     sigpipe = "ignore",      -- start the tool with SIGPIPE ignored (as some CI runners do)
--     stdout_closed = true,    -- start the tool with its stdout closed
--     stdout = "/dev/full",    -- stdout goes to this file instead (r.out is then nil)
--     file_blocks = 100,       -- the tool may write at most so many 512-byte blocks to a
--                              -- file (ulimit -f, SIGXFSZ ignored: a write past them
--                              -- fails, EFBIG, as on a full disk); its stderr's too
--     hot = true,              -- under LuaJIT, every loop compiled at once (-Ohotloop=1)
--     interrupt_after = 0.5,   -- send it SIGINT (Ctrl-C) after so many seconds
--     interrupt_when = "sh",   -- or once this shell command succeeds (asked
--                              -- every 50 ms, for at most 30 s; $TOOL_PID is
--                              -- the tool's pid): an event, not a time, which
--                              -- a loaded machine could reach before the tool
--                              -- has even started (server:stats_reach makes one)
--     signal = "TERM",         -- send that signal instead
--     signal_twice = true,     -- and again at once (as timeout(1) without
--                              -- --foreground does, to the process group)
--     again = { "INT", 0.05 }, -- then that signal that many seconds later
--                              -- (Ctrl-C pressed again while the tool stops)
--   })
--   r.out, r.err, r.status        (under pty, out holds stdout and stderr;
--                                  with reader, out is what the reader printed)
--   r.after_signal                (with interrupt_when: seconds from the
--                                  signal to the tool's end)
-- With interrupt_when, $SIGNALLED names a file that is not empty once the
-- signal went, for a reader to wait on.
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
                "LUA_PATH", "LUA_CPATH", "LUA_PATH_5_2", "LUA_PATH_5_3", "LUA_PATH_5_4", "LUA_CPATH_5_2",
                "LUA_CPATH_5_3", "LUA_CPATH_5_4" }

-- "--default-signal=HUP" where env(1) takes it (coreutils 9.0), else "":
-- the tool starts with SIGHUP at its default, as from a terminal, though
-- the suite runs under nohup, whose ignored SIGHUP the tool would keep.
local DEFAULT_HUP
do
  local p = assert(io.popen("env --default-signal=HUP true 2>/dev/null && echo yes"))
  DEFAULT_HUP = p:read("*l") == "yes" and "--default-signal=HUP" or ""
  p:close()
end

function M.run(argv, o)
  o = o or {}
  local parts, set = { "env", DEFAULT_HUP }, {}
  for _, name in ipairs(UNSET) do parts[#parts + 1] = "-u " .. name end
  -- A terminal of a kind that shows colour, whatever this process was
  -- given (a CI job's TERM may be dumb, or none): a case sets its own.
  if not (o.env and o.env.TERM ~= nil) then set[#set + 1] = "TERM=xterm" end
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
  if o.interrupt_after and not o.interrupt_when then
    parts[#parts + 1] = "timeout " .. (o.signal_twice and "" or "--foreground ") .. "--preserve-status -s "
      .. (o.signal or "INT") .. " " .. o.interrupt_after
  end
  if o.time_limit then parts[#parts + 1] = "timeout -s KILL " .. o.time_limit end
  parts[#parts + 1] = o.command or (child.interpreter .. ((o.hot and rawget(_G, "jit")) and " -Ohotloop=1" or "")
    .. " " .. quote(ROOT .. "/bin/codearts-batchresult"))
  for _, a in ipairs(argv) do parts[#parts + 1] = quote(a) end
  local cmd = table.concat(parts, " ")
  local pidf, sigf, endf
  if o.interrupt_when then
    -- The tool's pid, written by the shell that then becomes the tool; it
    -- runs in the foreground, as from a prompt (a command started with &
    -- would have SIGINT ignored).
    pidf, sigf, endf = os.tmpname(), os.tmpname(), os.tmpname()
    os.remove(sigf)
    cmd = "sh -c 'echo $$ >\"$0\"; exec \"$@\"' " .. quote(pidf) .. " " .. cmd
  end
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
  elseif o.stdin_from then
    cmd = cmd .. " <" .. quote(o.stdin_from)
  else
    files.write(inf, o.stdin or "")
    cmd = cmd .. " <" .. quote(inf)
  end
  -- (with interrupt_when: the time the tool ended, to the nanosecond)
  local ended = endf and ("; date +%s.%N >" .. quote(endf)) or ""
  if o.reader then
    -- The tool's own status, not the reader's.
    cmd = "{ " .. cmd .. " 2>" .. quote(errf) .. "; echo $? >" .. quote(statusf) .. ended .. "; } | " .. o.reader
      .. " >" .. quote(outf) .. "; cat " .. quote(statusf)
  elseif o.err_reader then
    -- (stderr into the pipe first, then stdout into its file)
    cmd = "{ " .. cmd .. " 2>&1 >" .. quote(o.stdout or outf) .. "; echo $? >" .. quote(statusf) .. ended .. "; } | "
      .. o.err_reader .. " >" .. quote(errf) .. "; cat " .. quote(statusf)
  elseif o.stalled_tty then
    cmd = "exec " .. cmd .. " 2>" .. quote(errf)
  else
    cmd = cmd .. (o.stdout_closed and " >&-" or " >" .. quote(o.stdout or outf)) .. " 2>" .. quote(errf)
      .. "; echo $?" .. ended
  end
  if o.interrupt_when then
    -- A watcher in the background asks the condition until it holds, then
    -- signals the tool (twice, at once, for signal_twice) and notes when.
    local kill = "kill -s " .. (o.signal or "INT") .. " \"$TOOL_PID\""
    local watcher = table.concat({
      "{ i=0; until [ -s " .. quote(pidf) .. " ] && TOOL_PID=$(cat " .. quote(pidf) .. ") && { " .. o.interrupt_when
        .. "; } >/dev/null 2>&1; do i=$((i + 1)); [ $i -ge 600 ] && break; sleep 0.05; done",
      "date +%s.%N >" .. quote(sigf .. ".at"),
      kill .. (o.signal_twice and ("; " .. kill) or "")
        .. (o.again and ("; sleep " .. o.again[2] .. "; kill -s " .. o.again[1] .. " \"$TOOL_PID\"") or ""),
      "mv " .. quote(sigf .. ".at") .. " " .. quote(sigf) .. "; } </dev/null >/dev/null 2>&1 & watcher=$!",
    }, "; ")
    cmd = "SIGNALLED=" .. quote(sigf) .. "; export SIGNALLED; " .. watcher .. "; " .. cmd
      .. "; kill $watcher 2>/dev/null"
  end
  if o.sigpipe == "ignore" then cmd = "trap '' PIPE; " .. cmd end
  if o.file_blocks then cmd = "trap '' XFSZ; ulimit -f " .. o.file_blocks .. "; " .. cmd end
  local status
  if o.stalled_tty then
    status = require("spec.support.clib")("stalledtty").run(cmd, o.stalled_tty == "blocking", o.term_after)
  else
    local p = assert(io.popen(cmd))
    status = tonumber(p:read("*a"):match("(%d+)%s*$"))
    p:close()
  end
  local r = { out = files.read(outf), err = files.read(errf), status = status, command = cmd }
  if o.interrupt_when then
    -- (the watcher may be stopped between its signal and its mv)
    local at = tonumber(files.read(sigf) or files.read(sigf .. ".at") or "")
    local done_at = tonumber(files.read(endf) or "")
    r.after_signal = at and done_at and done_at - at
    for _, f in ipairs({ pidf, sigf, sigf .. ".at", endf }) do os.remove(f) end
  end
  os.remove(inf)
  os.remove(outf)
  os.remove(errf)
  os.remove(statusf)
  return r
end

-- A stream of more than 6,000 bytes, by its ends: the JSON of 20,000
-- runs in a failure's message filled a CI log's tail.
local function ends(s)
  if type(s) ~= "string" or #s <= 6000 then return s end
  return ("%s\n[... %d bytes ...]\n%s"):format(s:sub(1, 3000), #s - 5000, s:sub(-2000))
end

--- "status N, stderr: …" for an assertion's message.
function M.describe(r)
  return ("exit %s\n--- stdout:\n%s\n--- stderr:\n%s\n--- command: %s"):format(tostring(r.status), ends(r.out),
    ends(r.err), ends(r.command))
end

return M
