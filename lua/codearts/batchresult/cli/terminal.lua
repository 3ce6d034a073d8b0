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

--- Whether to colour what goes to file: only a terminal, never with
-- NO_COLOR set (https://no-color.org; set to anything, even empty) nor on
-- a dumb terminal.
function M.colour(file, getenv)
  return M.isatty(file) and getenv("NO_COLOR") == nil and getenv("TERM") ~= "dumb"
end

local BAR = 24
local REDRAW = 0.1 -- seconds between two redraws, at most ten a second

-- What the line says the tool is doing, by the operation the library
-- names: run_and_query starts the runs, then asks about them, and each
-- counts from 0.
local VERBS = { BatchRunPipeline = "starting", ShowBatchRunResult = "asking" }

--- A progress line on file: "asking 300/1000 [#######-----------------]
-- 1234/s", drawn by update(done, total, operation) (the library's
-- on_progress) and redrawn in place with "\r".  Unless forced, nothing
-- is drawn for a call of one batch: p.batch_size (the client's) tells.
--
-- p.update(done, total, operation), p.clear() (erases the line, e.g.
-- before a log line), p.redraw() (after it), p.finish() (erases it for
-- good).
function M.progress(file, forced)
  local p = {}
  local op
  local start, drawn_at, line = br.now(), nil, nil

  local function draw(done, total)
    local elapsed = br.now() - start
    local filled = total > 0 and math.floor(BAR * done / total) or BAR
    local text = ("%s %d/%d [%s%s]"):format(VERBS[op] or "asking", done, total,
      ("#"):rep(filled), ("-"):rep(BAR - filled))
    if elapsed > 0 then text = text .. (" %d/s"):format(math.floor(done / elapsed + 0.5)) end
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
