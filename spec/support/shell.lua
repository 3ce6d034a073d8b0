-- Shell commands for specs: run one as a user would, and get its output and
-- whether it succeeded.
local standin = require "spec.support.standin"

local M = {}

--- s as one single-quoted shell word.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- The prefix that starts a program clean of what the suite runs under:
-- the sanitizer set-up (make test-asan) and the settings of the make that
-- runs the suite (a `make` started by a spec would otherwise take that
-- make's command-line variables, LUA_VERSION among them, from MAKEFLAGS).
M.clean_env = standin.clean_env .. "-u MAKEFLAGS -u MAKELEVEL -u MFLAGS "

--- Runs cmd with sh, under clean_env; returns its output (stdout and
-- stderr) and whether it exited with 0 (echoed: Lua 5.1's close() does not
-- report it).
function M.run(cmd)
  local p = assert(io.popen(M.clean_env .. "sh -c " .. M.quote(cmd) .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local text, status = out:match("^(.-)exit=(%d+)%s*$")
  return text or out, status == "0"
end

--- A new empty directory, for a spec's finally() to remove with remove().
function M.temp_dir()
  local out, ok = M.run("mktemp -d")
  assert(ok, "mktemp -d failed: " .. out)
  return (out:gsub("%s+$", ""))
end

function M.remove(path)
  M.run("rm -rf " .. M.quote(path))
end

--- The checkout's root directory, absolute, found from this file's path.
function M.repo_root()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/spec/support/[^/]+$") or "."
  local out, ok = M.run("cd " .. M.quote(dir) .. " && pwd")
  assert(ok, "cannot find the checkout's root: " .. out)
  return (out:gsub("%s+$", ""))
end

--- Copies the checkout's sources (not build/) into dir.
function M.copy_checkout(dir)
  local out, ok = M.run(("cd %s && mkdir -p %s && tar cf - Makefile *.rockspec src lua bin scripts examples"
    .. " | tar xf - -C %s"):format(M.quote(M.repo_root()), M.quote(dir), M.quote(dir)))
  assert(ok, out)
end

--- The release rockspec's file name (the one with a version number, as
-- the Makefile's RELEASE_ROCKSPEC picks it) and its version, so that the
-- specs follow a release's rename (README: Releasing).
function M.release_rockspec()
  local out, ok = M.run("cd " .. M.quote(M.repo_root()) .. " && ls codearts-batchresult-[0-9]*.rockspec")
  assert(ok, "no release rockspec: " .. out)
  local name = out:match("([^\n]+)%s*$")
  return name, assert(name:match("^codearts%-batchresult%-(.+)%-%d+%.rockspec$"), name)
end

return M
