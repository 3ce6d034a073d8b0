-- The :PipelineStatus command (plugin/pipeline_status.lua): asks CodeArts
-- Pipeline asynchronously (the library's `callback` option) and shows the
-- answer in a scratch buffer.
local br = require "codearts.batchresult"

local M = {}

-- One client for the editor session, made at the first command.  AK/SK and
-- project come from the HUAWEICLOUD_SDK_* environment variables; the region
-- from vim.g.pipeline_status_region (default cn-north-4).
local client

local function shared_client()
  if not client then
    local c, err = br.new { region = vim.g.pipeline_status_region or "cn-north-4" }
    if not c then return nil, err end
    client = c
  end
  return client
end

local function fail(err)
  vim.notify("PipelineStatus: " .. tostring(err), vim.log.levels.ERROR)
end

-- A new scratch buffer in a split, holding lines; in the current window
-- when no window can be split (E36: not enough room), and said when that
-- cannot be left either (E37: its changes not written).
local function scratch(lines)
  if not pcall(vim.cmd, "new") and not pcall(vim.cmd, "enew") then
    return vim.notify(table.concat(lines, "\n"))
  end
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.api.nvim_buf_set_name(buf, "pipeline-status://" .. buf)
end

--- args: "PIPELINE_ID:RUN_ID" strings.
function M.show(args)
  -- The client first: a message quoting an argument goes through its
  -- redactor, as a secret may be pasted where a pair goes.
  local c, err = shared_client()
  if not c then return fail(err) end
  local runs = {}
  for i, arg in ipairs(args) do
    local pipeline_id, pipeline_run_id = arg:match("^([^:]*):([^:]*)$")
    if not pipeline_id then
      return fail(("argument %d: expected PIPELINE_ID:RUN_ID, got %s"):format(i, c:redact(arg)))
    end
    runs[i] = { pipeline_id = pipeline_id, pipeline_run_id = pipeline_run_id }
  end
  -- Returns at once; the callback runs on the main loop once answered.
  local started, refused = c:query(runs, {
    callback = function(results, qerr)
      if not results then return fail(qerr) end
      -- (redacted before tostring cuts long names: a server may echo a
      -- credential into a result)
      local lines = vim.split(tostring(c:redact(results)), "\n", { plain = true, trimempty = true })
      -- No window can be split from the command-line window (q:): the
      -- buffer opens once it is left.
      if vim.fn.getcmdwintype() == "" then return scratch(lines) end
      vim.api.nvim_create_autocmd("CmdwinLeave", { once = true, callback = function()
        vim.schedule(function() scratch(lines) end)
      end })
    end,
  })
  if not started then fail(refused) end
end

return M
