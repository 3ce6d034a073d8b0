--- What the tool draws on a terminal: colour, and a progress line on
-- stderr.  Terminal detection is lua-term's isatty.
local term = require "term"

local M = {}

--- Whether file (io.stdout, io.stderr, io.stdin) is a terminal.
function M.isatty(file)
  return term.isatty(file) == true
end

local COLOURS = { START_SUCCESS = term.colors.green, START_FAILED = term.colors.red }

--- paint(status, text): text in the colour of status (green for
-- START_SUCCESS, red for START_FAILED, yellow for any other), or text as
-- it is when enabled is false.
function M.painter(enabled)
  if not enabled then return function(_, text) return text end end
  return function(status, text)
    return (COLOURS[status] or term.colors.yellow)(text)
  end
end

--- Whether to colour what goes to file: only a terminal, never with
-- NO_COLOR set (https://no-color.org; set to anything, even empty) nor on
-- a dumb terminal.
function M.colour(file, getenv)
  return M.isatty(file) and getenv("NO_COLOR") == nil and getenv("TERM") ~= "dumb"
end

--- Seconds on a wall clock, for the rate.  Lua has only os.time's whole
-- seconds (os.clock is CPU time, which stands still while the tool waits
-- for the network); Linux's /proc/uptime counts in hundredths.
function M.now()
  local f = io.open("/proc/uptime")
  if f then
    local s = f:read("*n")
    f:close()
    if s then return s end
  end
  return os.time()
end

local BAR = 24
local REDRAW = 0.1 -- seconds between two redraws, at most ten a second

--- A progress line on file: "asking 300/1000 [#######-----------------]
-- 1234/s", drawn by update(done, total) (the library's on_progress) and
-- redrawn in place with "\r".  verbs name the phases: run_and_query
-- starts the runs, then asks about them, and each phase counts from 0
-- again.  Unless forced, nothing is drawn for a call of one batch (its
-- first report is already done == total).
--
-- p.update(done, total), p.clear() (erases the line, e.g. before a log
-- line), p.redraw() (after it), p.finish() (erases it for good).
function M.progress(file, verbs, forced)
  local p = {}
  local phase, last_done, last_total = 1, 0, nil
  local start, drawn_at, line = M.now(), nil, nil

  local function draw(done, total)
    local elapsed = M.now() - start
    local filled = total > 0 and math.floor(BAR * done / total) or BAR
    local text = ("%s %d/%d [%s%s]"):format(verbs[math.min(phase, #verbs)], done, total,
      ("#"):rep(filled), ("-"):rep(BAR - filled))
    if elapsed > 0 then text = text .. (" %d/s"):format(math.floor(done / elapsed + 0.5)) end
    local pad = line and #line > #text and (" "):rep(#line - #text) or ""
    file:write("\r" .. text .. pad)
    file:flush()
    line, drawn_at = text, M.now()
  end

  function p.update(done, total)
    if last_total and (total ~= last_total or done < last_done) then
      -- The next phase: a new count, a new rate.
      phase, start, drawn_at = phase + 1, M.now(), nil
    end
    last_done, last_total = done, total
    if not line and done >= total and not forced then return end
    if drawn_at and done < total and M.now() - drawn_at < REDRAW then return end
    draw(done, total)
  end

  function p.clear()
    if line then file:write("\r" .. (" "):rep(#line) .. "\r") end
  end

  function p.redraw()
    if line then file:write(line) end
  end

  function p.finish()
    p.clear()
    line = nil
  end

  return p
end

return M
