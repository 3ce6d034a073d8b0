--- codearts.batchresult.cli: the command-line tool, `codearts-batchresult
-- query` and `codearts-batchresult run` (bin/codearts-batchresult is its
-- launcher; README.md, "Command line", its manual).
--
-- A thin layer over the library's public API: it reads the items, makes a
-- client, makes one call, and prints what came back.  Ids are checked,
-- de-duplicated, batched, signed and redacted by the library alone; when it
-- refuses an item, err.index says which, and the tool names the user's
-- argument or line.
--
--   cli.main(argv [, sys]) -> exit status
--     0  every pair answered and every run started
--     1  a run did not start, or the server did not report an item
--     2  usage error or invalid input: nothing was sent
--     3  the call failed: what arrived is printed, the error is on stderr
--   130  interrupted (Ctrl-C, SIGTERM, SIGHUP), as shells report a SIGINT
-- sys replaces the process's streams and environment (stdin, stdout,
-- stderr, getenv), for the bench.
local br = require "codearts.batchresult"
local core = require "codearts.batchresult.core"
local R = require "codearts.batchresult.results"
local config = require "codearts.batchresult.config"
local args = require "codearts.batchresult.cli.args"
local input = require "codearts.batchresult.cli.input"
local output = require "codearts.batchresult.cli.output"
local terminal = require "codearts.batchresult.cli.terminal"
local printable = require("codearts.batchresult.text").printable

local M = {}

local OK, NOT_STARTED, USAGE, FAILED = 0, 1, 2, 3
local INTERRUPTED = 130 -- 128 + SIGINT, as shells report it
local NAME = args.NAME
local EPIPE = 32 -- errno of a write to a pipe nobody reads (Linux, BSD, macOS)
local EINTR = 4 -- errno of a write a signal broke off (Linux, BSD, macOS)
local PIPE_BUF = 4096 -- bytes a pipe takes in one piece, or not at all (Linux; POSIX: at least 512)

--- f, run by LuaJIT's interpreter alone, never compiled into a trace: a
-- trace compiles file:write and file:flush into C calls whose result a
-- guard checks, and a failed guard leaves the trace and runs the call
-- again in the interpreter (LuaJIT/LuaJIT#798 is the same kind), where a
-- flush that failed has nothing left to write and succeeds.  The failure
-- was lost: output that a full disk or a reader gone stopped, once under
-- way, ended the tool with status 0 and nothing said.  For each function
-- that reads what a write gave.
local function interpreted(f)
  local jit = rawget(_G, "jit")
  if jit then jit.off(f) end
  return f
end

-- Ends the run early: main catches it and returns status.
local function stop(status, message)
  error({ exit = status, message = message }, 0)
end

-- The most a file named by an option may hold, and how a message says
-- it.  A file that holds more (/dev/zero, an endless stdin) is never read
-- to its end.  An IAM token is a few KB, and no server takes a header
-- much larger.  The items' text (README: Command line) is capped far
-- above any real list, 100,000 pairs being some 6.6 MB of lines, only so
-- that such a file stops the tool before it has taken all memory.
local TOKEN_LIMIT = { bytes = 65536, said = "65536 bytes: an IAM token is a few KB" }
local INPUT_LIMIT = { bytes = 256 * 1048576, said = "256 MiB: no list of items is that long" }

-- Bytes asked of a file at a time: Lua 5.2 and later, and LuaJIT, set
-- aside the whole count of a read before reading.
local CHUNK = 1048576

--- Up to limit + 1 bytes of f, read a chunk at a time: the chunks, and
-- their size; nil, 0, why when f cannot be read.  (Not joined here: what
-- is over the limit is never copied.)
local function read_upto(f, limit)
  local parts, size = {}, 0
  while size <= limit do
    local part, why = f:read(math.min(CHUNK, limit + 1 - size))
    -- (the end of the file gives nil, and no reason)
    if not part then
      if why then return nil, 0, why end
      break
    end
    parts[#parts + 1] = part
    size = size + #part
  end
  return parts, size
end

--- The content of the file named by an option ("-": stdin; no option for
-- stdin read untold), stopping the tool when it holds more than limit
-- allows (TOKEN_LIMIT, INPUT_LIMIT).  With no_terminal, nil when the file
-- is a terminal, whose read would wait for typing (looked at on the file
-- read, as a FIFO opened again may be empty).
local function slurp(name, option, sys, limit, no_terminal)
  local f, why = sys.stdin, nil
  -- (io.open's words name the file, which for "" reads as words cut off)
  if name == "" then stop(USAGE, option .. ": the file name is empty") end
  if name ~= "-" then f, why = io.open(name, "rb") end
  -- (why is "NAME: reason": the name quoted, as usage errors quote values)
  if not f then stop(USAGE, ("%s: cannot read '%s': %s"):format(option, name, (why:gsub("^.*: ", "")))) end
  if no_terminal and terminal.isatty(f) then
    if f ~= sys.stdin then f:close() end
    return nil
  end
  local parts, size
  parts, size, why = read_upto(f, limit.bytes)
  if f ~= sys.stdin then f:close() end
  if not parts then
    stop(USAGE, ("%scannot read %s: %s"):format(option and option .. ": " or "", name == "-" and "stdin"
      or "'" .. name .. "'", tostring(why)))
  end
  if size > limit.bytes then
    stop(USAGE, ("%s holds more than %s"):format(option and ("%s '%s'"):format(option, name) or "stdin", limit.said))
  end
  return table.concat(parts)
end

--- The IAM token in file name, without the one line break that ends it,
-- nor the byte order mark an editor may put before it (as --input's);
-- with no_terminal, nil when the file is a terminal (slurp).
local function read_token(name, sys, no_terminal)
  local token = slurp(name, "--token-file", sys, TOKEN_LIMIT, no_terminal)
  if not token then return nil end
  token = token:gsub("^\239\187\191", ""):gsub("\r?\n$", "")
  local said = "--token-file '" .. name .. "'"
  if token == "" then stop(USAGE, said .. " is empty") end
  if token:find("%z") then stop(USAGE, said .. " holds a NUL byte, which no token holds") end
  if token:find("[\r\n]") then stop(USAGE, said .. " holds more than one line: the token goes on one line") end
  return token
end

--- The file the last --token-file of the raw arguments names, as argparse
-- reads them, up to "--": "--token-file=FILE", whatever FILE is, or
-- "--token-file FILE", where a FILE that starts with "-" (bar "-") is
-- taken for an option.  nil when there is none.
local function token_file_in(argv)
  local name
  for i, s in ipairs(argv) do
    if s == "--" then break end
    local v = s:match("^%-%-token%-file=(.*)$")
    if s == "--token-file" then
      v = argv[i + 1]
      if v and v ~= "-" and v:find("^%-") then v = nil end
    end
    if v then name = v end
  end
  return name
end

--- The token of the raw arguments' --token-file, read when the arguments
-- hold a usage error, for main to redact from argparse's message, which
-- quotes them (the token pasted into another option); nil when there is
-- none, or it cannot be read: the usage error is said all the same.
-- Read only then, so that --help and --version never read the file (nor
-- wait on a FIFO), and never from a terminal (stdin, or a file that is
-- one: /dev/stdin, /dev/tty): the read would wait for a person to type
-- the token.  An interrupt while it waits (a FIFO, a slow disk) still
-- ends the tool as one.
local function token_for_usage(argv, sys)
  local name = token_file_in(argv)
  if not name then return nil end
  local ok, token = pcall(read_token, name, sys, true)
  if ok then return token end
  if br.Error.is_interrupt(token) then error(token, 0) end
end

-- The names of this process's stdin besides "-" (Linux's, and the BSDs'
-- /dev/fd): a token and items read from two of them would each take the
-- other's text.
local STDIN_NAMES = { ["-"] = true, ["/dev/stdin"] = true, ["/dev/fd/0"] = true, ["/proc/self/fd/0"] = true,
                      ["/proc/thread-self/fd/0"] = true }

--- Whether name is one of STDIN_NAMES, written with any "//" or "/./"
-- (a link of the user's to one is not seen).
local function names_stdin(name)
  if not name then return false end
  local plain, n = name, 1
  while n > 0 do plain, n = plain:gsub("/%.?/", "/") end
  return STDIN_NAMES[plain] or false
end

--- Where the items' text comes from, besides the arguments: --input's
-- file ("-": stdin), or stdin when no item is an argument and stdin is not
-- a terminal; nil for none.
local function text_source(a, sys)
  local from = a.input
  -- Only query reads stdin untold: a script's run with an empty argument
  -- list (`run $id`, $id empty, in a `while read` loop) must start
  -- nothing, not the rest of the loop's input.
  if not from and a.command == "query" and #a.pairs == 0 and not terminal.isatty(sys.stdin) then from = "-" end
  if names_stdin(from) and names_stdin(a.token_file) then
    stop(USAGE, "--token-file " .. a.token_file .. " reads stdin, so the items cannot come from it: give them "
      .. "as arguments or with --input FILE")
  end
  return from
end

--- The items: arguments, then the text of `from` (text_source).
local function read_items(a, sys, from, redact)
  local items = input.items(a.command == "query" and "pairs" or "ids", redact)
  local ok, why = input.from_arguments(items, a.command == "query" and a.pairs or a.pipeline_ids)
  if not ok then stop(USAGE, why) end
  if from then
    -- (stdin read untold is named by no option)
    local text = slurp(from, a.input and "--input", sys, INPUT_LIMIT)
    local label = from == "-" and "input" or from
    ok, why = input.from_text(items, text, label)
    if not ok then stop(USAGE, why) end
    -- (what the text held and the tool leaves out, said, never dropped unsaid)
    for _, note in ipairs(items.notes) do sys.stderr:write(NAME, ": ", printable(redact(note)), "\n") end
    -- (a text that gave none: what it held, not the hint to give some)
    if items.n == 0 then
      stop(USAGE, ("no %s given: %s holds none (%s)"):format(items.kind == "pairs"
        and "PIPELINE_ID:PIPELINE_RUN_ID pairs" or "pipeline ids", label, items.held))
    end
  end
  if items.n == 0 and items.kind == "pairs" then
    stop(USAGE, "no PIPELINE_ID:PIPELINE_RUN_ID pairs given: give them as arguments, with --input FILE, "
      .. "or on stdin (see --help)")
  elseif items.n == 0 then
    stop(USAGE, "no pipeline ids given: give them as arguments, or with --input FILE (--input - for stdin, "
      .. "which run reads only when told; see --help)")
  end
  return items
end

-- The flag that sets each of the library's options, to name the flag when
-- the library refuses a value.  The key of the flag's value in the parsed
-- arguments is the flag's name, "_" for "-" (argparse's rule).
local FLAGS = {
  batch_size = "--batch-size", concurrency = "--concurrency", timeout = "--timeout",
  max_retries = "--max-retries", ca_file = "--ca-file", project_id = "--project-id",
  endpoint = "--endpoint", region = "--region", deadline = "--deadline", token = "--token-file",
}

--- A refusal of the library's, with the flag that set the value it is
-- about: the option its error names (err.option), when a flag gave it.
-- None for a value the environment gave ($CODEARTS_REGION, say), nor for
-- an error about no one option.  The flag alone: its value is in the
-- message as far as the library shows it, a password in a URL's user
-- information removed, a long value cut.  A project id refused that no
-- flag gave is one there was none of (the environment's would name no
-- option): told as the missing endpoint is, flag first.
local function refused(err, a)
  local option = err.option
  local flag = type(option) == "string" and FLAGS[option]
  if flag and a[flag:sub(3):gsub("-", "_")] ~= nil then return ("%s (%s)"):format(tostring(err), flag) end
  if option == "project_id" then return "no project id: give --project-id ID (or set HUAWEICLOUD_SDK_PROJECT_ID)" end
  return tostring(err)
end

--- text about a call as stderr shows it: through redact, the client's
-- redactor (a server may quote the signature of one of the client's
-- earlier requests, which only the client knows), then each control
-- character "?" and ill-formed UTF-8 as U+FFFD (text.printable).
local function shown(text, redact)
  -- (redact's second value, whether it failed, is no keep_lines)
  return printable((redact(text)))
end

--- A call's error as the tool says it: with the wait the server asked
-- for, when it named one, so that a script knows when to try again.
local function failure(err)
  if not err.retry_after then return tostring(err) end
  -- (%g: a server may ask for more seconds than an integer holds)
  return ("%s (the server asks to wait %.14g s)"):format(tostring(err), err.retry_after)
end

--- One line per attempt, from the library's logger event: never a header
-- (its credentials are [REDACTED] anyway), only what says how it went,
-- shown as the other messages about the call are (shown).
local function log_line(e, redact)
  local parts = { ("%s %s attempt %d: %s, %.3f s"):format(e.method, e.url, e.attempt,
    e.status and ("HTTP " .. e.status) or "no answer", e.duration) }
  if e.request_id then parts[#parts + 1] = "request " .. e.request_id end
  if e.error then parts[#parts + 1] = e.error end
  if e.retry_in then parts[#parts + 1] = ("retry in %.2f s"):format(e.retry_in) end
  return NAME .. ": " .. shown(table.concat(parts, ", "), redact) .. "\n"
end

local function nonempty(s)
  if s ~= "" then return s end
end

--- The client, and its redactor (output.redactor), which the -v lines go
-- through too: the logger is given before the client exists, and runs
-- only in its calls.
local function new_client(a, token, sys, progress)
  local endpoint, region = a.endpoint, a.region
  if not endpoint and not region then
    -- An empty variable (as CI templates leave them) counts as none.
    endpoint = nonempty(sys.getenv("CODEARTS_ENDPOINT"))
    region = not endpoint and nonempty(sys.getenv("CODEARTS_REGION")) or nil
  end
  if not endpoint and not region then
    stop(USAGE, "no endpoint: give --region REGION or --endpoint URL (or set CODEARTS_REGION or "
      .. "CODEARTS_ENDPOINT)")
  end
  local logger, redact
  if a.verbose then
    logger = function(e)
      progress.clear()
      sys.stderr:write(log_line(e, redact))
      progress.redraw()
    end
  end
  local client, err = br.new {
    endpoint = endpoint, region = region, project_id = a.project_id, token = token,
    ca_file = a.ca_file, timeout = a.timeout, batch_size = a.batch_size,
    concurrency = a.concurrency, max_retries = a.max_retries, logger = logger,
  }
  -- (INTERNAL, memory that ran out, is no usage error)
  if not client then stop(err.code == "INVALID_ARGUMENT" and USAGE or FAILED, refused(err, a)) end
  redact = output.redactor(client)
  return client, redact
end

--- The library's refusal of item i, named as the user gave it:
-- "input line 7: pipeline_run_id must be 32 letters or digits, got "abc"".
local function invalid_item(err, items)
  local i = err.index
  if type(i) ~= "number" or not items.from[i] then return nil end
  -- The message starts with the item's name in the library's list,
  -- "pairs[3].pipeline_run_id": the user knows the item by its place.
  -- (up to its first space: a secret that is a word, redacted, may stand
  -- in it, "pairs[3].[REDACTED]_id")
  local rest = err.message:match("^[%w_]+%[%d+%]%S*(.*)$")
  local subject = err.field or (items.kind == "ids" and "pipeline id" or "pair")
  return items:where(i) .. ": " .. (rest and (subject .. rest) or err.message)
end

--- The kind of records the command's call gives back, and the client's
-- method that makes it.
local function method_of(client, a)
  if a.command == "query" then return "results", client.query end
  -- run_and_query refuses dry_run (the runs' ids are not known before
  -- they start): a dry run of run --query shows the requests that start.
  if a.query and not a.dry_run then return "results", client.run_and_query end
  return "runs", client.run
end

--- The call the command makes: records, err, and whether it was
-- interrupted.  Ctrl-C during it is its INTERRUPTED error, raised: taken as
-- the call's error here, so that what arrived is printed.  (Only a raised
-- one: an error returned is the server's, whose code may be any word.)
local function call(client, method, items, opts)
  local ok, records, err = pcall(method, client, items.list, opts)
  if ok then return records, err, false end
  if br.Error.is(records) and br.Error.is_own(records, "INTERRUPTED") then return nil, records, true end
  error(records, 0)
end

--- The records a filter keeps, from all of them; the summary and the exit
-- status have been taken from all of them before.
local function filtered(records, a)
  if a.failed then records = records:failed() end
  if a.succeeded then records = records:succeeded() end
  if #a.reason_kind > 0 then
    -- (runs that failed for such a reason: a run that started may carry a
    -- reason too)
    local wanted = {}
    for _, k in ipairs(a.reason_kind) do wanted[k] = true end
    records = records:failed():where { reason_kind = function(kind) return wanted[kind] == true end }
  end
  return records
end

local function check_usage(a)
  if a.command == "run" and not a.query and (a.failed or a.succeeded or #a.reason_kind > 0) then
    stop(USAGE, "--failed, --succeeded and --reason-kind need --query: without it, run says "
      .. "which runs started, not how")
  end
end

local function parse(argv, sys, state)
  local parser, valued = args.parser()
  argv = args.negatives_joined(argv, valued)
  local ok, a = pcall(function()
    return parser:parse(argv)
  end)
  if ok then return a end
  if type(a) == "table" and a.usage then
    state.token = token_for_usage(argv, sys)
    error({ exit = USAGE, usage = a.usage, usage_error = a.message }, 0)
  end
  if type(a) == "table" and a.print then -- --help, --version
    state.status = OK
    state.stdout(a.print .. "\n")
    error({ exit = OK }, 0)
  end
  error(a, 0)
end

--- A run's unanswered pipelines in two, in their order: those unsent
-- holds (err.unsent: the library proves they never reached the service),
-- and the rest, which may have started.
local function split_unsent(unanswered, unsent)
  local never = {}
  for _, id in ipairs(unsent or {}) do never[id] = true end
  local not_sent, rest = {}, {}
  for _, id in ipairs(unanswered) do
    local into = never[id] and not_sent or rest
    into[#into + 1] = id
  end
  return not_sent, rest
end

--- The lists that go with got, what the call gave, and err, its error
-- (output.write's).  A run's err.unplaced is one: the server says it
-- started those runs, and a script told of none could not stop them.
-- A run's unanswered pipelines go in two besides (split_unsent): a user
-- who starts them again on the strength of the list starts twice any
-- that did start.
local function lists_of(got, err, command)
  local lists = { missing = got.missing or {}, not_started = got.not_started, unanswered = err and err.unanswered,
                  unqueried = err and err.unqueried, unplaced = err and err.unplaced }
  if command == "run" and lists.unanswered then
    lists.unsent, lists.may_have_started = split_unsent(lists.unanswered, err.unsent)
  end
  return lists
end

--- Lines to stderr that an interrupt must not cut short: lines(write, ...)
-- gives them, a write each.  Should an interrupt stop it, main calls it
-- again once no other can come, and it goes on from the line it was at
-- (which may be written twice; none is lost).
local function resumable(stderr, lines)
  local said = 0
  return function(...)
    local n = 0
    lines(interpreted(function(s)
      n = n + 1
      if n > said then
        -- (a write the signal broke off, to a slow reader, goes again:
        -- no other signal can break it; under LuaJIT's traces the
        -- interrupt may come only after the next lines were written)
        local ok, _, code = stderr:write(s)
        if not ok and code == EINTR then stderr:write(s) end
        said = n
      end
    end), ...)
  end
end

local function run(argv, sys, state)
  local a = parse(argv, sys, state)
  check_usage(a)
  local from = text_source(a, sys)
  local token = a.token_file and read_token(a.token_file, sys)
  state.token = token -- a secret main must redact, should there be no client

  local on_tty = terminal.isatty(sys.stderr)
  -- (a line redrawn with "\r" is for a terminal known to take it)
  local show_progress = a.progress or (on_tty and not a.no_progress and not terminal.dumb(sys.getenv))
  local progress = terminal.progress(sys.stderr, a.progress, sys.getenv)
  -- The client first: from here on every message is shown through its
  -- redactor (main), since a user may paste a secret where an id goes.
  local client, redact = new_client(a, token, sys, progress)
  state.client = client
  local items = read_items(a, sys, from, redact)
  progress.batch_size = client.batch_size
  local opts = { deadline = a.deadline, dry_run = a.dry_run or nil,
                 on_progress = show_progress and progress.update or nil }
  -- A run's call starts pipelines: a reader of stderr that stops early
  -- (2> >(head)) must not end the tool by SIGPIPE at a -v line or a
  -- progress redraw, with the runs that started said nowhere.  Such a
  -- write fails, and costs only its line; stdout's end is checked_writer's.
  if a.command == "run" and not a.dry_run then
    state.sigpipe_ignored = sys.ignore_sigpipe and sys.ignore_sigpipe()
  end
  local kind, method = method_of(client, a)
  -- Should the output fail to be written (a full disk, a closed stdout),
  -- or be cut short (Ctrl-C, SIGTERM), what a run started is said on
  -- stderr all the same (why: how the output ended), and the lists the
  -- output would have held: nothing that started goes unsaid.  each, when
  -- given, is what every line goes through.
  local function unwritten(got, lists, held, each)
    local said_why
    return resumable(sys.stderr, function(write, why)
      said_why = said_why or why -- (should main finish it: the first words)
      local function put(s) write(each and each(s) or s) end
      output.unprinted_lines(put, kind, got, NAME, said_why)
      if held then output.list_lines(put, kind, lists, NAME) end
      state.unwritten = nil
    end)
  end
  -- stderr's part of what the call gave: lists' lines (each through
  -- each, when given), then the call's error, err; resumable, as
  -- state.to_stderr.
  local function said_on_stderr(lists, err, each)
    return resumable(sys.stderr, function(write)
      output.list_lines(function(s) write(each and each(s) or s) end, kind, lists, NAME)
      if err then write(NAME .. ": " .. shown(failure(err), redact) .. "\n") end
      state.to_stderr = nil
    end)
  end
  -- From the call's end, records and err: an interrupt before the output
  -- is under way (below) must not cost the runs either.  Every list
  -- then, and every line redacted, as the records are not yet, or are in
  -- part.  (The field of state it sets.)
  local function from_the_end(records, err)
    local got = records or (err and err.results) or {}
    if a.command == "run" then
      state.unwritten = unwritten(got, lists_of(got, err, a.command), true, redact)
      return "unwritten"
    end
    -- (a query's: what got no answer, and the call's error)
    state.to_stderr = said_on_stderr({ missing = got.missing or {}, unanswered = err and err.unanswered }, err, redact)
    return "to_stderr"
  end
  -- And before it: a signal's interrupt as the call returns, past the
  -- guard that takes one inside the call, would raise with its outcome
  -- still on the way back.  The call keeps it first (its option keep),
  -- and main finds it there.
  local kept = {}
  if not a.dry_run then
    opts.keep = kept
    local field = a.command == "run" and "unwritten" or "to_stderr"
    state[field] = function(...)
      return state[from_the_end(kept[1] or nil, kept[2] or nil)](...)
    end
  end
  local records, err, interrupted = call(client, method, items, opts)
  -- SIGTERM and SIGHUP end the call as Ctrl-C does (M.system): its
  -- message names the signal that came.
  local signal = interrupted and sys.termination_came and sys.termination_came()
  if signal and signal ~= "SIGINT" then err.message = err.message:gsub("%(Ctrl%-C%)", "(" .. signal .. ")", 1) end
  if not a.dry_run then from_the_end(records, err) end
  progress.finish()

  local ran = records or (err and (err.results or err.unanswered))
  if not ran then
    if err.code == "INVALID_ARGUMENT" then stop(USAGE, invalid_item(err, items) or refused(err, a)) end
    stop(FAILED, failure(err))
  end
  local out = state.stdout
  if a.dry_run then
    state.status = OK
    output.requests(out, records)
    return OK
  end

  records = records or err.results or {}
  local lists = lists_of(records, err, a.command)
  -- The exit status, the summary and the filters go by what the server
  -- said, every record counting, filtered or not; only what is printed is
  -- redacted (a secret may share 8 bytes with "START_SUCCESS").
  if kind == "results" then records = R.wrap(records) end
  local started, status, summary = records -- (all of them, before any filter)
  if kind == "results" then
    local all_started = #records:succeeded() == #records
    status = (all_started and #lists.missing == 0 and #(lists.not_started or {}) == 0) and OK or NOT_STARTED
    -- Only a terminal shows the summary, and its reason kinds take a while
    -- to work out for 10,000 results.
    summary = on_tty and output.summary(br.summary(records), br.summary(records:where { status = "START_FAILED" }),
      lists, R.REASON_KINDS)
    records = filtered(records, a)
  else
    status = #lists.missing == 0 and OK or NOT_STARTED
    local n = #records + #lists.missing
    summary = ("%d %s: %d started"):format(n, n == 1 and "pipeline" or "pipelines", #records)
      .. output.counts(kind, lists)
  end
  if err then status = interrupted and INTERRUPTED or FAILED end
  state.status = status
  -- Every string the tool prints of what the server sent goes through the
  -- client's redactor, the records' as the lists' (a run id in unqueried).
  -- (In place: the records printed are some of those tables.)
  output.redact_all(started, redact)
  -- (each list: their names are the tool's own)
  for _, list in pairs(lists) do output.redact_all(list, redact) end
  summary = summary and redact(summary)

  state.to_stderr = said_on_stderr(output.holds_lists(a.format) and {} or lists, err)
  -- (now the lists the output would not hold are said first, by to_stderr)
  if a.command == "run" then
    state.unwritten = unwritten(started, lists, output.holds_lists(a.format))
  end
  -- Into a pipe or a file, stderr's part goes first: a reader that stops
  -- early (| head) ends the tool at its next write, and must not cost the
  -- error and the items that got no answer.  On a terminal, after.
  local stdout_tty = terminal.isatty(sys.stdout)
  local stderr_first = not stdout_tty
  if stderr_first then state.to_stderr() end
  output.write(out, a.format, kind, records, lists, terminal.painter(terminal.colour(sys.stdout, sys.getenv)),
    stdout_tty)
  state.unwritten = nil
  if not stderr_first then state.to_stderr() end
  if on_tty then
    local paint = terminal.painter(terminal.colour(sys.stderr, sys.getenv))
    sys.stderr:write(paint(status == OK and "START_SUCCESS" or "START_FAILED", summary) .. "\n")
  end
  return status
end

--- The places of the line ends in s.
local function line_ends(s)
  local ends = {}
  for at in s:gmatch("()\n") do ends[#ends + 1] = at end
  return ends
end

--- A writer to file that stops the run when the file cannot be written:
-- quietly, with the status already decided, when the reader has gone (a
-- pipe into `head`), but for what a run started, which the reader may
-- not have read of what it was given; with a message otherwise (a full
-- disk).
local function checked_writer(file, state)
  local function check(ok, why, code)
    if ok then return end
    if code == EPIPE then
      if state.unwritten then state.unwritten("not printed") end
      -- (SIGPIPE held back only for that: the tool now ends by it)
      if state.sigpipe_ignored then core.end_by_sigpipe() end
      stop(state.status or FAILED)
    end
    -- A write a termination signal broke off (its reader had stalled):
    -- interrupted, as the signal meant.
    if code == EINTR then
      if state.unwritten then state.unwritten("output cut short") end
      stop(INTERRUPTED, "interrupted")
    end
    -- (kept, for main to say should an interrupt come while the runs
    -- are listed: it is why they were not printed)
    state.write_failed = "cannot write the output: " .. tostring(why)
    if state.unwritten then state.unwritten("not printed") end
    -- (on a terminal, stderr's part was to come after the output)
    if state.to_stderr then state.to_stderr() end
    stop(FAILED, state.write_failed)
  end
  -- In pieces of at most PIPE_BUF bytes, each one write(2) (stdio's
  -- buffer flushed after it): a pipe takes each whole or not at all, so a
  -- termination signal breaks off a write to a stalled reader (EINTR,
  -- above).  A larger write would be cut short by the signal instead, and
  -- stdio would write the rest at once, waiting on the reader with the
  -- signal spent (SIGTERM then being ignored).  Each piece ends at a
  -- record's end, the last in it (a record longer than PIPE_BUF is cut):
  -- two tools writing into one pipe (xargs -P) or appending to one file
  -- then mix whole records.  write(s, ends): ends, the byte positions in
  -- s at which records end (output.lua's writers give them: a CSV
  -- record's quoted field may hold a line break), else each line is one.
  -- On a terminal, by write(2) itself (core.write_out), again for what
  -- one did not take: a termination signal makes a terminal's write
  -- return what it took so far, and stdio would write the rest at once,
  -- waiting on a stalled terminal with the signal spent.
  local raw = rawequal(file, io.stdout) and terminal.isatty(file)
  local put = interpreted(function(piece)
    if not raw then
      check(file:write(piece))
      return check(file:flush())
    end
    check(file:flush())
    local at = 1
    while at <= #piece do
      local n, why, code = core.write_out(piece, at)
      check(n ~= 0 and n, why or "the terminal took nothing", code)
      at = at + n
    end
  end)
  return function(s, ends)
    ends = ends or line_ends(s)
    local i, k, n = 1, 1, #s
    while i <= n do
      local last, j = math.min(i + PIPE_BUF - 1, n), nil
      while ends[k] and ends[k] <= last do j, k = ends[k], k + 1 end
      j = j or last
      put(s:sub(i, j))
      i = j + 1
    end
  end
end

--- The process's streams and environment.  Descriptors 0 to 2 are taken
-- first, by /dev/null read-only, where the caller closed one: else the
-- next file opened (a socket of libcurl's) would get its number, and what
-- is meant for stdout would go there.  Writing to it fails instead, as to
-- a closed stream.  Where the three are open, this holds three spare
-- descriptors for as long as the tool runs.  And from main's protected
-- call on, SIGTERM and SIGHUP (a CI job cancelled) end the call as Ctrl-C
-- does, and no signal after the first ends the tool, so that it says
-- which runs started.  (The tool's calls run on the main thread, where
-- Lua 5.1's Ctrl-C stops them too: guard.lua.)
function M.system()
  local held = { io.open("/dev/null", "r"), io.open("/dev/null", "r"), io.open("/dev/null", "r") }
  return { stdin = io.stdin, stdout = io.stdout, stderr = io.stderr, getenv = os.getenv, held = held,
           ignore_sigpipe = core.ignore_sigpipe, take_terminations = core.terminate_as_interrupt,
           hold_terminations = core.hold_terminations, termination_came = core.termination_came }
end

local function caught(e)
  if type(e) == "table" then return e end
  -- Ctrl-C: the interpreter raises this in the running code.
  if br.Error.is_interrupt(e) then return { exit = INTERRUPTED, message = "interrupted" } end
  return debug.traceback(tostring(e), 2)
end

function M.main(argv, sys)
  sys = sys or M.system()
  local state = {}
  state.stdout = checked_writer(sys.stdout, state)
  -- The work, then, still inside a protected call, the end of interrupts:
  -- an interrupt whose signal came as the work ended is raised in there,
  -- and none after, where the interpreter would end the tool by its own
  -- error, exit 1 ("a run did not start"), with everything said.
  local done, ok, status = xpcall(function()
    local ok, status = xpcall(function()
      if sys.take_terminations then sys.take_terminations() end
      return run(argv, sys, state)
    end, caught)
    if sys.hold_terminations then sys.hold_terminations() end
    return ok, status
  end, caught)
  if not done then ok, status = false, ok end
  -- (an interrupt raised in caught itself, on LuaJIT)
  if not ok and status == "error in error handling" and sys.termination_came and sys.termination_came() then
    status = { exit = INTERRUPTED, message = "interrupted" }
  end
  -- Interrupted while it said on stderr what got no answer, or printed
  -- what a run started: the rest now, with no interrupt to come.
  if not ok and type(status) == "table" and status.exit == INTERRUPTED then
    if state.to_stderr then state.to_stderr() end
    if state.unwritten then state.unwritten("output cut short") end
  end
  -- Whatever is said below may quote the user's input: redacted first,
  -- by the client, or before there is one by the secrets the environment
  -- and the token file hold.
  local client = state.client
  local function redact(text)
    if client then return client:redact(text) end
    return config.without_secrets(text, { token = state.token }, sys.getenv)
  end
  if not ok and type(status) == "table" then
    if status.message then status.message = redact(status.message) end
    if status.usage_error then status.usage_error = redact(status.usage_error) end
    -- (then the values of the command line a usage error quotes, cut)
    if status.exit == USAGE then
      status.message = status.message and input.values_cut(status.message)
      status.usage_error = status.usage_error and input.values_cut(status.usage_error)
    end
  elseif not ok and type(status) == "string" then
    status = redact(status)
  end
  if client then client:close() end
  if ok then return status end
  if type(status) == "table" and status.exit then
    if status.usage then
      -- As argparse shows a usage error: the usage, its lines kept (the
      -- tool's own text), then the error, which quotes the command line
      -- as it is: each of its control characters shows as "?", a line
      -- feed too, which could forge a line of the tool's.
      -- argparse ends some errors with a suggestion of its own on a line
      -- of its own, after the quoted name ("…'--timeuot'\nDid you mean
      -- '--timeout'?"): joined with a space, not shown as "?" as a line
      -- feed the user typed is.
      local said, hint = status.usage_error:match("^(.*')\n(Did you mean [^\n]*)$")
      local message = said and (printable(said) .. " " .. printable(hint)) or printable(status.usage_error)
      sys.stderr:write(printable(status.usage, true), "\n\nError: ", message, "\n")
    end
    if status.exit == INTERRUPTED and state.write_failed then
      sys.stderr:write(NAME, ": ", printable(state.write_failed), "\n")
    end
    if status.message then sys.stderr:write(NAME, ": ", printable(status.message), "\n") end
    return status.exit
  end
  -- A bug: say so, and do not let it pass for a run that did not start (1).
  sys.stderr:write(NAME, ": internal error: ", printable(tostring(status)), "\n")
  return FAILED
end

return M
