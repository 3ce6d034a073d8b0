--- What the tool draws on a terminal: colour, and a progress line on
-- stderr.  Terminal detection is lua-term's isatty.
local br = require "codearts.batchresult"
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

--- Whether the terminal is a dumb one, which takes neither colour nor a
-- line redrawn in place: TERM=dumb, or TERM unset or empty, which says
-- nothing of what the terminal takes (a CI runner's pseudo-terminal, a
-- program started with `env -i`).
function M.dumb(getenv)
  local kind = getenv("TERM")
  return kind == nil or kind == "" or kind == "dumb"
end

--- Whether to colour what goes to file: only a terminal, never with
-- NO_COLOR set (https://no-color.org; set to anything, even empty) nor on
-- a dumb terminal.
function M.colour(file, getenv)
  return M.isatty(file) and getenv("NO_COLOR") == nil and not M.dumb(getenv)
end

local MAX_COLUMNS = 10000 -- wider is no terminal's

--- s as a count of columns: a whole number from 1 to MAX_COLUMNS, in
-- decimal digits alone; else nil.  Anything else ("1e20", "1.5", a number
-- past 2^63) is no width: string.sub cannot cut a line at it.
local function width_of(s)
  local n = s and s:find("^%d+$") and tonumber(s)
  if n and n >= 1 and n <= MAX_COLUMNS then return n end
end

--- The columns of the terminal stderr is, as stty reports them (given
-- stderr for its stdin), else $COLUMNS; nil when neither says (stderr
-- not a terminal, or one whose size is not known: 0), or says no width
-- (width_of).
function M.columns(getenv)
  -- (command -p: the system's stty, never one a PATH naming the current
  -- directory would find there)
  local p = io.popen("command -p stty size <&2 2>/dev/null")
  local out = p and p:read("*a") or ""
  if p then p:close() end
  return width_of(out:match("^%d+ (%d+)")) or width_of(getenv("COLUMNS"))
end

local BAR = 24
local MIN_BAR = 4 -- a narrower bar says nothing: none is drawn
local RATE_ROOM = #" 99999/s" -- kept for the rate when the bar is narrowed
local REDRAW = 0.1 -- seconds between two redraws, at most ten a second

--- The progress line, "asking 300/1000 [#######-----------------] 1234/s",
-- in width - 1 columns at most (nil: any): its bar narrowed or left out,
-- then the line cut.  A line that wrapped could not be redrawn in place
-- with "\r", and some terminals wrap on a write to the last column.  The
-- bar's width is worked out from the widest count, so that it keeps it
-- from one draw to the next.
local function progress_text(verb, done, total, rate, width)
  local bar = BAR
  if width then bar = math.min(BAR, width - 1 - #("%s %d/%d []"):format(verb, total, total) - RATE_ROOM) end
  local text = ("%s %d/%d"):format(verb, done, total)
  if bar >= MIN_BAR then
    local filled = total > 0 and math.floor(bar * done / total) or bar
    text = text .. (" [%s%s]"):format(("#"):rep(filled), ("-"):rep(bar - filled))
  end
  text = text .. rate
  return width and text:sub(1, width - 1) or text
end

-- What the line says the tool is doing, by the operation the library
-- names: run_and_query starts the runs, then asks about them, and each
-- counts from 0.
local VERBS = { BatchRunPipeline = "starting", ShowBatchRunResult = "asking" }

--- A progress line on file (stderr): "asking 300/1000 [#######-----------------]
-- 1234/s", drawn by update(done, total, operation) (the library's
-- on_progress) and redrawn in place with "\r", fit to the terminal's width
-- (M.columns, asked at the first draw; getenv is the environment's).
-- Unless forced, nothing is drawn for a call of one batch: p.batch_size
-- (the client's) tells.
--
-- p.update(done, total, operation), p.clear() (erases the line, e.g.
-- before a log line), p.redraw() (after it), p.finish() (erases it for
-- good).
function M.progress(file, forced, getenv)
  local p = {}
  local op
  local start, drawn_at, line = br.now(), nil, nil
  local width -- false: not known

  local function draw(done, total)
    if width == nil then width = M.columns(getenv) or false end
    local elapsed = br.now() - start
    local rate = elapsed > 0 and (" %d/s"):format(math.floor(done / elapsed + 0.5)) or ""
    local text = progress_text(VERBS[op] or "asking", done, total, rate, width or nil)
    local pad = line and #line > #text and (" "):rep(#line - #text) or ""
    file:write("\r" .. text .. pad)
    file:flush()
    line, drawn_at = text, br.now()
  end

  function p.update(done, total, operation)
    if operation ~= op then
      -- The next phase: a new count, a new rate.
      op, start, drawn_at = operation, br.now(), nil
    end
    if not forced and total <= (p.batch_size or 0) then return end
    if drawn_at and done < total and br.now() - drawn_at < REDRAW then return end
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
