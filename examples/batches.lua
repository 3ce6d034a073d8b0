-- Asks how any number of pipeline runs started, read from standard input
-- as "PIPELINE_ID RUN_ID" lines; prints what could not be asked, to retry
-- later; then asks again about the runs that were queued.
--
--   HUAWEICLOUD_SDK_AK=… HUAWEICLOUD_SDK_SK=… HUAWEICLOUD_SDK_PROJECT_ID=… \
--   lua5.4 examples/batches.lua < runs.txt
local br = require "codearts.batchresult"

-- (error(tostring(err)), not assert: the assert of Lua 5.1 and 5.2 takes no table)
local client, why = br.new { region = "cn-north-4" }
if not client then error(tostring(why), 0) end

-- A line as a Lua string literal, every byte past printable ASCII as \ddd
-- (not %q: Lua 5.1's writes control characters raw, for a terminal to act on).
local function quoted(line)
  local escaped = line:gsub('["\\]', "\\%0"):gsub("[^ -~]", function(c) return ("\\%03d"):format(c:byte()) end)
  return '"' .. escaped .. '"'
end

-- (blank lines skipped; any other line that is not two words stops the
-- script before anything is sent, rather than leave a run out unsaid)
-- (read whole, then split: the io.lines of Lua 5.1 and LuaJIT drops a NUL
-- and the rest of its line, and joins the next line to what is left)
local all_pairs, n = {}, 0
for line in (io.read("*a") .. "\n"):gmatch("([^\n]*)\n") do
  n = n + 1
  local pipeline_id, pipeline_run_id = line:match("^%s*(%w+)%s+(%w+)%s*$")
  if pipeline_id then
    all_pairs[#all_pairs + 1] = { pipeline_id = pipeline_id, pipeline_run_id = pipeline_run_id }
  elseif line:find("%S") then
    io.stderr:write(("line %d: expected PIPELINE_ID RUN_ID, got %s\n"):format(n, quoted(line)))
    os.exit(2)
  end
end

-- The pairs that got no answer, as lines this script reads again.
local function retry_later(unanswered)
  for _, p in ipairs(unanswered) do
    print("retry later: " .. p.pipeline_id .. " " .. p.pipeline_run_id)
  end
end

-- readme:begin query
local results, err = client:query(all_pairs, {
  concurrency = 8,
  on_progress = function(done, total) io.stderr:write(("\r%d/%d"):format(done, total)) end,
})
if not results then
  print(err)                                  -- the first failure
  if not err.results then os.exit(1) end      -- refused before sending: bad input
  retry_later(err.unanswered)                 -- nothing was lost
  results = err.results
end
-- readme:end query
io.stderr:write("\n")
print(("%d answered, %d not reported by the server"):format(#results, #results.missing))

-- readme:begin sets
local queued = results:failed():where { reason_kind = "queued" }
print(queued)                       -- "3 results: 3 START_FAILED" and one line each
-- (an empty list is refused: there must be something to ask)
if #queued > 0 then
  local later, later_err = client:query(queued:pairs())
  if later then print("asked again:", later:summary().total) else print(later_err) end
end
-- readme:end sets
client:close()
