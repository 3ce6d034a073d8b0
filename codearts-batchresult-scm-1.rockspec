package = "codearts-batchresult"
version = "scm-1"
source = {
  -- The development version: `luarocks make` builds the checkout it runs in,
  -- and plugin managers that read rockspecs take it from the repository.
  url = "git+file:///codearts-batchresult",
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
}
external_dependencies = {
  -- Debian keeps curl.h under a multiarch directory: look for the library.
  CURL = { library = "curl" },
  CJSON = { header = "cjson/cJSON.h" },
  OPENSSL = { header = "openssl/evp.h" },
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    DEPS = "none",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    DEPS = "none",
  },
}
