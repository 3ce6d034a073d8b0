--- Target 6: the command-line tool's own work.  For 10,000 pairs (batch
-- size 100, concurrency 8, the stand-in answering after 50 ms, as in
-- bench/batch.lua), the time the tool spends reading the input and
-- printing the output, against the library call it makes, measured in the
-- same run, interleaved.  Target: under 10%.  For context, the whole tool
-- run in this process (cli.main: arguments, input, client, call, output).
local common = require "common"
local br = require "codearts.batchresult"
local cli = require "codearts.batchresult.cli"
local input = require "codearts.batchresult.cli.input"
local output = require "codearts.batchresult.cli.output"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"
local files = require "spec.support.files"

local PAIRS, BATCH, CONCURRENCY, DELAY_MS = 10000, 100, 8, 50
local RUNS = tonumber(arg[1]) or 10
local now = common.now

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

local server = standin.start()
local dir = os.tmpname()
local ok, err = pcall(function()
  server:config { delay_ms = DELAY_MS, max_items = BATCH }
  -- The input as a user would give it: PIPELINE_ID RUN_ID lines.
  local list = model.make_pairs("bench-cli", PAIRS)
  local lines = {}
  for i, p in ipairs(list) do lines[i] = p.pipeline_id .. " " .. p.pipeline_run_id end
  local text = table.concat(lines, "\n") .. "\n"
  local input_file, token_file = dir .. ".pairs", dir .. ".token"
  files.write(input_file, text)
  files.write(token_file, model.credentials.iam_token .. "\n")

  -- The call as a script would make it, and as the tool does: a new
  -- client (new connections), the call, the client closed.
  local function call()
    local client = assert(br.new { endpoint = server.url, project_id = model.seed_project,
                                   token = model.credentials.iam_token })
    local results = client:query(list, { batch_size = BATCH, concurrency = CONCURRENCY })
    client:close()
    return results
  end
  local argv = { "query", "--endpoint", server.url, "--project-id", model.seed_project,
                 "--token-file", token_file, "--batch-size", tostring(BATCH),
                 "--concurrency", tostring(CONCURRENCY), "--input", input_file }
  local devnull = assert(io.open("/dev/null", "w"))
  local sys = { stdin = devnull, stdout = devnull, stderr = devnull, getenv = function() return nil end }
  local function write(s) devnull:write(s) end
  local paint = function(_, s) return s end

  -- What the tool redacts the results with (no request is made of it).
  local redactor_client = assert(br.new { endpoint = server.url, project_id = model.seed_project,
                                          token = "bench-cli-token-" .. ("x"):rep(64) })
  assert(call()) -- warm-up: the stand-in's answers
  local calls, reads, prints, wholes = {}, {}, {}, {}
  for r = 1, RUNS do
    collectgarbage("collect")
    local t = now()
    local results = call()
    calls[r] = now() - t
    assert(results and #results == PAIRS, "the call failed")

    collectgarbage("collect")
    t = now()
    local items = input.items("pairs", function(s) return s end) -- (a valid file: nothing is quoted)
    assert(input.from_text(items, files.read(input_file), "input"))
    reads[r] = now() - t
    assert(items.n == PAIRS)

    -- Redacted once, as the tool does before it prints in any format.
    collectgarbage("collect")
    t = now()
    local lists = output.redact_all({ missing = results.missing }, output.redactor(redactor_client))
    output.redact_all(results, output.redactor(redactor_client))
    local redacting = now() - t
    t = now()
    output.write(write, "table", "results", results, lists, paint)
    output.write(write, "json", "results", results, lists, paint)
    prints[r] = redacting + (now() - t) / 2

    collectgarbage("collect")
    t = now()
    local status = cli.main(argv, sys)
    wholes[r] = now() - t
    assert(status == 0 or status == 1, "the tool exited with " .. tostring(status))
  end
  devnull:close()
  redactor_client:close()
  os.remove(input_file)
  os.remove(token_file)

  local t_call, t_read, t_print, t_whole = median(calls), median(reads), median(prints), median(wholes)
  local own = t_read + t_print
  print(("6. The command-line tool: %d pairs, batch size %d, concurrency %d, stand-in answering after %d ms")
    :format(PAIRS, BATCH, CONCURRENCY, DELAY_MS))
  print(("   the library call (br.new, query, close), median of %d    %7.1f ms"):format(RUNS, t_call * 1000))
  print(("   the tool reading %d lines of pairs                   %7.1f ms"):format(PAIRS, t_read * 1000))
  print(("   the tool redacting and printing the results (table and JSON, mean) %7.1f ms"):format(t_print * 1000))
  print(("   the tool's own work                                     %7.1f ms   %.2f%% of the call   target < 10%%")
    :format(own * 1000, own / t_call * 100))
  print(("   the whole tool in this process (cli.main)               %7.1f ms   %.3fx the call")
    :format(t_whole * 1000, t_whole / t_call))
  common.verdict(6, "cli", tonumber(("%.2f"):format(own / t_call * 100)) < 10, -- (judged as printed)
    ("reading and printing %.2f ms = %.2f%% of the call's %.1f ms, target < 10%%")
      :format(own * 1000, own / t_call * 100, t_call * 1000))
end)
server:stop()
os.remove(dir)
if not ok then error(err, 0) end
