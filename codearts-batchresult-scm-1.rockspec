-- (1.1: the first format that knows deploy, below)
rockspec_format = "1.1"
package = "codearts-batchresult"
version = "scm-1"
source = {
  -- The development version: `luarocks make` builds the checkout it runs in,
  -- and plugin managers that read rockspecs take it from the repository.
  -- (OWNER is a placeholder until the repository is published.)
  url = "git+https://github.com/OWNER/codearts-batchresult.git",
  branch = "main",
}
description = {
  summary = "Huawei Cloud CodeArts Pipeline ShowBatchRunResult client: a C core (libcurl, cJSON, SDK-HMAC-SHA256) for Lua",
  detailed = [[
    Asks CodeArts Pipeline how a batch of pipeline runs started.  Signs
    requests exactly as Huawei's official SDKs do, keeps one connection per
    client alive, and returns plain Lua tables; errors are values.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  -- The command-line tool's: its arguments, its JSON input and output, and
  -- whether it writes to a terminal.
  "argparse",
  "lua-cjson",
  "lua-term",
}
external_dependencies = {
  -- Debian keeps curl.h under a multiarch directory: look for the library.
  CURL = { library = "curl" },
  CJSON = { header = "cjson/cJSON.h", library = "cjson" },
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
}
build = {
  type = "make",
  -- Given to both passes, `make` and `make install`, so that both pick the
  -- same build directory (build/<Lua>/, from the headers in LUA_INCDIR).
  -- WERROR= : a newer compiler's new warning must not break an install.
  variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    CJSON_INCDIR = "$(CJSON_INCDIR)",
    CJSON_LIBDIR = "$(CJSON_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)",
    OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
    WERROR = "",
    DEPS = "none",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    -- make install writes the command-line tool there, started by the
    -- interpreter LuaRocks targets (README: Install).
    INST_BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
  },
}
-- LuaRocks' wrapper of a Lua script requires luarocks.loader before the
-- script runs, from a path that searches the directory the tool is started
-- in (./?.lua: first under 5.1 and LuaJIT, and in `luarocks path`'s
-- LUA_PATH): a luarocks/loader.lua there would run, the credentials in the
-- environment.  The tool make install writes starts itself with this
-- interpreter and drops those entries first (README: Command line).
deploy = {
  wrap_bin_scripts = false,
}
