-- Run by spec/nvim_example_spec.lua inside `nvim --headless`, after the
-- user's init.lua and plugins: runs :PipelineStatus with $NVIM_TEST_RUNS,
-- waits for the scratch buffer it opens, then writes to $NVIM_TEST_OUT how
-- long the command took to return, when the buffer came, its options and
-- its lines, and quits.
local uv = vim.uv or vim.loop
local out_path = os.getenv("NVIM_TEST_OUT")

local function finish(lines)
  local f = assert(io.open(out_path, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  vim.cmd("qa!")
end

-- Never hang the test run.
local guard = uv.new_timer()
guard:start(20000, 0, vim.schedule_wrap(function() finish { "error=timed out" } end))

local messages = {}
local notify = vim.notify
vim.notify = function(msg, level)
  messages[#messages + 1] = msg
  return notify(msg, level)
end

-- uv.hrtime(), not uv.now(): the latter is when this loop iteration began.
local function now_ms() return uv.hrtime() / 1e6 end

-- With $NVIM_TEST_FULL, the screen holds as many windows as it can: none
-- can be split when the answer comes.
if os.getenv("NVIM_TEST_FULL") then
  for _ = 1, 100 do
    if not pcall(vim.cmd, "split") then break end
  end
end

local started = now_ms()
local ok, err = pcall(vim.cmd, "PipelineStatus " .. os.getenv("NVIM_TEST_RUNS"))
local returned_ms = now_ms() - started
if not ok then return finish { "error=" .. tostring(err) } end

-- With $NVIM_TEST_CMDWIN, the user is in the command-line window (q:),
-- where no window can be split, when the answer comes; and leaves it
-- after that many milliseconds.
local cmdwin_ms, cmdwin_type = tonumber(os.getenv("NVIM_TEST_CMDWIN")), "none"
if cmdwin_ms then
  vim.api.nvim_feedkeys("q:", "n", false)
  vim.defer_fn(function()
    cmdwin_type = vim.fn.getcmdwintype()
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(":q<CR>", true, false, true), "n", false)
  end, cmdwin_ms)
end

local poll = uv.new_timer()
poll:start(20, 20, vim.schedule_wrap(function()
  if #messages > 0 then
    poll:stop()
    return finish { "error=" .. table.concat(messages, " | ") }
  end
  local buf = vim.api.nvim_get_current_buf()
  if not vim.api.nvim_buf_get_name(buf):match("^pipeline%-status://") then return end
  poll:stop()
  local lines = {
    "returned_ms=" .. returned_ms,
    "answered_ms=" .. (now_ms() - started),
    "buftype=" .. vim.bo[buf].buftype,
    "modifiable=" .. tostring(vim.bo[buf].modifiable),
    "windows=" .. #vim.api.nvim_list_wins(),
    "cmdwin=" .. cmdwin_type,
  }
  for _, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do lines[#lines + 1] = "line=" .. line end
  finish(lines)
end))
