-- :PipelineStatus PIPELINE_ID:RUN_ID ...  shows how those CodeArts Pipeline
-- runs started, in a scratch buffer, without freezing the editor while it
-- asks (README: Neovim).
vim.api.nvim_create_user_command("PipelineStatus", function(opts)
  require("pipeline_status").show(opts.fargs)
end, { nargs = "+", desc = "How CodeArts Pipeline runs started" })
