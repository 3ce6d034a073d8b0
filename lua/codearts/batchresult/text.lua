--- Text helpers for what comes from outside (a server's header lines, the
-- lines of an input file, a command line), in time linear in its length:
-- a pattern such as "^%s*(.-)%s*$", or even "^%s*(.*%S)", takes quadratic
-- time on a long run of white space, which a server or a file may hold.
local M = {}

--- s without the white space at either end.
function M.trim(s)
  local from = s:find("%S")
  if not from then return "" end
  local to = #s
  while s:find("^%s", to) do to = to - 1 end
  return s:sub(from, to)
end

--- s with each control character a terminal would act on "?": C0 and
-- DEL, and the C1 controls as UTF-8 writes them (C2 80 to C2 9F; U+009B
-- is a CSI), line feeds kept when keep_lines.  An explicit class, not %c,
-- whose meaning follows the C locale a host may have set.
function M.printable(s, keep_lines)
  return (s:gsub(keep_lines and "[%z\1-\9\11-\31\127]" or "[%z\1-\31\127]", "?"):gsub("\194[\128-\159]", "?"))
end

return M
