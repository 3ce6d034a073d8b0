--- The command line of codearts-batchresult: its two commands, their
-- options and their help, declared for lua-argparse.  Parsing only: what
-- the options mean is cli.lua's business, and every value the library
-- checks (ids, counts, seconds, URLs) is left for it to check.
local argparse = require "argparse"
local br = require "codearts.batchresult"

local M = {}

M.NAME = "codearts-batchresult"

local EXAMPLES = [[
Examples:
  # How did these runs start?  (AK/SK and project from the environment)
  codearts-batchresult query --region cn-north-4 \
      6ba9a2dbc7024c22a9a6614516dc22db:e41fe3981361476eb6dad17ad98c683c

  # Pairs from a file (JSON, CSV with a header, "PIPELINE_ID RUN_ID" lines, or
  # what run printed), only the runs that did not start, as CSV
  codearts-batchresult query --input runs.csv --failed --format csv

  # Pairs on stdin, as JSON for jq
  jq -c '[.[] | {pipeline_id, pipeline_run_id}]' runs.json |
      codearts-batchresult query --format json | jq '.result[].status'

  # Start pipelines, say how each started; exit 1 when any did not
  codearts-batchresult run --query --region cn-north-4 --input pipeline-ids.txt

  # What would be sent (signed, credentials hidden); sends nothing
  codearts-batchresult query --dry-run --region cn-north-4 PIPELINE_ID:RUN_ID]]

local ENVIRONMENT = [[
Environment:
  HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK   AK/SK (unless --token-file)
  HUAWEICLOUD_SDK_SECURITY_TOKEN           with a temporary AK/SK
  HUAWEICLOUD_SDK_PROJECT_ID               the default for --project-id
  CODEARTS_ENDPOINT, CODEARTS_REGION       the defaults for --endpoint, --region
  HUAWEICLOUD_SDK_REGION_CODEARTSPIPELINE_<REGION>   a region's endpoint,
                                           e.g. ..._CN_NORTH_4
  NO_COLOR                                 set: no colour
  TERM                                     dumb, empty or unset: no colour,
                                           no progress line
No option takes a secret: the command line is visible to other users (ps).]]

local EXIT_STATUS = [[
Exit status:
  0  every pair answered, every run started (START_SUCCESS)
  1  at least one run did not start (START_FAILED, or a pair or pipeline the
     server did not report)
  2  usage error or invalid input (named on stderr); nothing was sent
  3  the call failed (API, network, TLS): the results that arrived and the
     unanswered items are printed (with --format csv or ndjson, the
     unanswered items on stderr), the error goes to stderr
  130 interrupted (Ctrl-C, SIGTERM or SIGHUP): printed as for 3]]

-- Every --help ends with them: each command's is read alone.
local EPILOG = EXAMPLES .. "\n\n" .. ENVIRONMENT .. "\n\n" .. EXIT_STATUS

--- Whether s is a decimal number: a sign, digits with at most one point,
-- and an exponent.  Checked before tonumber, which on Lua 5.1 and LuaJIT
-- also reads "nan", "inf" and hexadecimal (through strtod), and on 5.2
-- and later does not: one answer on every Lua ("0x10" is a typo here).
local function is_decimal(s)
  local digits = s:match("^[+-]?([%d.]+)$") or s:match("^[+-]?([%d.]+)[eE][+-]?%d+$")
  return digits ~= nil and digits:find("%d") ~= nil and not digits:find("%..*%.")
end

--- The converter of a numeric option: a decimal number, or a message
-- that names the option (argparse's own names only the value).
local function number(flag)
  return function(s)
    if is_decimal(s) then return tonumber(s) end
    return nil, ("%s: expected a number, got '%s'"):format(flag, s)
  end
end

--- cmd:option(names, description), each of its spellings noted in
-- valued: the options that take a value (for negatives_joined).
local function option(cmd, valued, names, description)
  for name in names:gmatch("%S+") do valued[name] = true end
  return cmd:option(names, description)
end

--- A numeric option: its value converted by number(), and noted so in
-- valued.
local function number_option(cmd, valued, name, description)
  local o = option(cmd, valued, name, description):convert(number(name))
  valued[name] = "number"
  return o
end

--- Whether word, which follows an option of that kind (valued's, or nil
-- for any other word), is the option's value though it starts with "-":
-- a negative decimal number; after a numeric option, any word that starts
-- with "-" but not "--" ("-inf", "-0x1", "-1e"), for number() to refuse
-- naming the option.
local function value_word(kind, word)
  if not kind or not word or not word:find("^%-.") then return false end
  return is_decimal(word) or (kind == "number" and not word:find("^%-%-"))
end

--- argv, up to "--", with each such value word (value_word) joined to
-- the option before it: "--timeout -1" as "--timeout=-1", "-i -1" as
-- "-i-1"; valued as M.parser gives it.  argparse takes a word that starts
-- with "-" for an option, and refused "-1" as unknown, never naming
-- --timeout; joined, the value is the option's, and checked as
-- "--timeout=-1" is.
function M.negatives_joined(argv, valued)
  local joined, i = {}, 1
  while argv[i] ~= nil and argv[i] ~= "--" do
    local s, value = argv[i], argv[i + 1]
    if value_word(valued[s], value) then
      s, i = s .. (s:find("^%-%-") and "=" or "") .. value, i + 1
    end
    joined[#joined + 1], i = s, i + 1
  end
  for j = i, #argv do joined[#joined + 1] = argv[j] end
  return joined
end

-- Options every command takes.
local function connection_options(cmd, valued)
  local endpoint = option(cmd, valued, "--endpoint", "https://host[:port] of the API (default: $CODEARTS_ENDPOINT).")
    :argname "<url>"
  local region = option(cmd, valued, "--region", "A region, e.g. cn-north-4, instead of --endpoint "
    .. "(default: $CODEARTS_REGION).")
    :argname "<region>"
  cmd:mutex(endpoint, region)
  cmd:group("Connection", endpoint, region,
    option(cmd, valued, "--project-id", "The project (default: $HUAWEICLOUD_SDK_PROJECT_ID)."):argname "<id>",
    option(cmd, valued, "--token-file", "Read an IAM token from <file> ('-': stdin) instead of using AK/SK.")
      :argname "<file>",
    option(cmd, valued, "--ca-file", "PEM file of trusted CAs (default: the system's)."):argname "<file>"
  )
  cmd:group("Batching and limits",
    number_option(cmd, valued, "--batch-size", "Items per request (default 100)."):argname "<n>",
    number_option(cmd, valued, "--concurrency", "Requests at once (default 4)."):argname "<n>",
    number_option(cmd, valued, "--timeout", "Seconds for one request (default 30)."):argname "<s>",
    number_option(cmd, valued, "--deadline", "Seconds for the whole call, retries included."):argname "<s>",
    number_option(cmd, valued, "--max-retries", "Attempts after the first, per batch (default 3)."):argname "<n>"
  )
end

--- (filter_note: what the filters' help adds, for run their need of
-- --query, as without it run says which runs started, not how)
local function output_options(cmd, filter_note, valued)
  local progress, no_progress = cmd:flag("--progress", "Draw progress on stderr even when it is not a terminal."),
    cmd:flag("--no-progress", "Never draw progress.")
  local failed, succeeded = cmd:flag("--failed", "Print only the runs that did not start." .. filter_note),
    cmd:flag("--succeeded", "Print only the runs that started." .. filter_note)
  local reason_kind = option(cmd, valued, "--reason-kind", "Print only the runs that failed for this kind of "
    .. "reason: " .. table.concat(br.REASON_KINDS, ", ") .. " (may be repeated; not with --succeeded).  "
    .. "The summary and the exit status count every run." .. filter_note):argname "<kind>"
    :choices(br.REASON_KINDS):count "*"
  cmd:mutex(failed, succeeded)
  -- (it chooses among the runs that failed: with --succeeded, none would
  -- ever be printed)
  cmd:mutex(succeeded, reason_kind)
  local items = {
    -- Given twice, it is refused: argparse would keep the last, and the
    -- items of the first would be lost.
    option(cmd, valued, "-i --input", "Read the items from <file> ('-': stdin).  Without it and without "
      .. "arguments, query reads stdin when it is not a terminal; run, only when told."):argname "<file>"
      :overwrite(false),
    option(cmd, valued, "-f --format", "Output format."):choices { "table", "json", "csv", "ndjson" }
      :default "table",
    failed, succeeded, reason_kind,
  }
  items[#items + 1] = progress
  items[#items + 1] = no_progress
  items[#items + 1] = cmd:flag("--dry-run", "Validate, sign and print the requests (credentials "
    .. "[REDACTED]); send nothing.")
  items[#items + 1] = cmd:flag("-v --verbose", "One line per HTTP attempt on stderr.")
  cmd:mutex(progress, no_progress)
  cmd:group("Input and output", (table.unpack or unpack)(items))
end

-- --help raises { print = text } for the tool to write, as it writes its
-- output (a full disk is an error), instead of argparse's print and exit.
local function help(cmd)
  cmd:add_help { action = function() error({ print = cmd:get_help() }, 0) end }
end

--- The parser, and the spellings of its options that take a value (a
-- set, for negatives_joined).  Its error handler raises { usage = text,
-- message = text } instead of printing them and exiting with status 1, as
-- argparse would: a usage error is status 2, and its message, which
-- quotes the command line, is shown apart from the usage.
-- --help and --version raise { print = text }.
function M.parser()
  local valued = {}
  local parser = argparse(M.NAME)
    :description("Asks Huawei Cloud CodeArts Pipeline how a batch of pipeline runs started "
      .. "(ShowBatchRunResult), or starts pipelines (BatchRunPipeline).")
    :epilog(EPILOG)
    :usage("Usage: " .. M.NAME .. " query [options] [PIPELINE_ID:PIPELINE_RUN_ID ...]\n"
      .. "       " .. M.NAME .. " run   [options] [--query] [PIPELINE_ID ...]\n"
      .. "       " .. M.NAME .. " query|run --help")
    :command_target "command"
    :help_max_width(100)
  help(parser)
  parser:flag("--version", "Print the version and exit."):action(function()
    error({ print = M.NAME .. " " .. br.VERSION }, 0)
  end)

  local query = parser:command("query", "Ask how pipeline runs started.")
    :usage("Usage: " .. M.NAME .. " query [options] [PIPELINE_ID:PIPELINE_RUN_ID ...]")
    :epilog(EPILOG)
  query:argument("pairs", "PIPELINE_ID:PIPELINE_RUN_ID pairs; or --input, or stdin."):args "*"
    :argname "<pipeline_id:run_id>"
  help(query)
  output_options(query, "", valued)
  connection_options(query, valued)

  local run = parser:command("run", "Start pipelines; with --query, say how each run started.")
    :usage("Usage: " .. M.NAME .. " run [options] [--query] [PIPELINE_ID ...]")
    :epilog(EPILOG)
  run:argument("pipeline_ids", "Pipeline ids; or --input (one per line, or a JSON array; '-': stdin).")
    :args "*":argname "<pipeline_id>"
  help(run)
  run:flag("--query", "After starting them, ask how each run started (the output of query).")
  output_options(run, "  Only with --query.", valued)
  connection_options(run, valued)

  parser.error = function(p, msg)
    error({ usage = p:get_usage(), message = msg }, 0)
  end
  return parser, valued
end

return M
