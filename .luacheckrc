-- luacheck's settings for `make lint` (scripts/lint.sh).  Each directory gets
-- the Lua it runs on and the globals its host provides; nothing is waived
-- without a reason beside it.

-- The library, the specs and the tools run on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT:
-- any of their standard globals may be read (guarded, as `table.unpack or
-- unpack`).
std = "max"
max_line_length = 120

-- Neovim's API table: plugins set fields in it (vim.g.x, vim.bo[buf].x).
local vim = { other_fields = true, read_only = false }

-- The transports read their host's API.
files["lua/codearts/batchresult/transport/ngx.lua"] = { std = "max+ngx_lua" }
files["lua/codearts/batchresult/transport/http1.lua"] = { std = "max+ngx_lua" }
files["lua/codearts/batchresult/transport/resty_http.lua"] = { std = "max+ngx_lua" }
files["lua/codearts/batchresult/transport/nvim.lua"] = { read_globals = { vim = vim } }

files["spec/**/*_spec.lua"] = { std = "max+busted" }
-- Run inside Neovim.
files["bench/nvim.lua"] = { std = "luajit", read_globals = { vim = vim } }
-- Run inside nginx (OpenResty's LuaJIT, ngx_lua) and inside Neovim (LuaJIT).
files["spec/nginx"] = { std = "ngx_lua" }
files["spec/nvim"] = { std = "luajit", read_globals = { vim = vim } }
-- The stand-in server runs under LuaJIT (lua-http); its model and verifier
-- are also loaded by the specs, under every Lua.
files["spec/standin/server.lua"] = { std = "luajit" }

-- The README's Use block, which this file must equal (spec/readme_spec.lua),
-- declares `err` twice, as a script of separate steps does: waived for
-- this file alone.
files["examples/use.lua"] = { ignore = { "411/err" } }
files["examples/openresty"] = { std = "ngx_lua" }
files["examples/nvim"] = { std = "luajit", read_globals = { vim = vim } }

-- The binding's fuzz script runs in the harness's own Lua 5.4.
files["fuzz/binding.lua"] = { std = "lua54" }

files["*.rockspec"] = { std = "rockspec" }
files[".luacheckrc"] = { std = "luacheckrc" }
