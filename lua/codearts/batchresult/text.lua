--- Text helpers for what comes from outside (a server's header lines, the
-- lines of an input file), in time linear in its length: a pattern such as
-- "^%s*(.-)%s*$", or even "^%s*(.*%S)", takes quadratic time on a long
-- run of white space, which a server or a file may hold.
local M = {}

--- s without the white space at either end.
function M.trim(s)
  local from = s:find("%S")
  if not from then return "" end
  local to = #s
  while s:find("^%s", to) do to = to - 1 end
  return s:sub(from, to)
end

return M
