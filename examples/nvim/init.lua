-- ~/.config/nvim/init.lua: the library from a checkout, on the runtimepath.
-- The entry is the directory that holds lua/ (README: Neovim).
vim.opt.runtimepath:append(vim.fn.expand("~/src/codearts-batchresult"))
