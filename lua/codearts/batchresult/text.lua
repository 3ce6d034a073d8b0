--- Text helpers for what comes from outside (a server's header lines, the
-- lines of an input file, a command line), in time linear in its length:
-- a pattern such as "^%s*(.-)%s*$", or even "^%s*(.*%S)", takes quadratic
-- time on a long run of white space, which a server or a file may hold.
local M = {}

-- s from its first byte that is no space (nonspace, a pattern) to its
-- last (space_at: a space anchored where find starts).
local function trimmed(s, nonspace, space_at)
  local from = s:find(nonspace)
  if not from then return "" end
  local to = #s
  while s:find(space_at, to) do to = to - 1 end
  return s:sub(from, to)
end

--- s without the white space at either end.
function M.trim(s) return trimmed(s, "%S", "^%s") end

--- s without the spaces and tabs at either end: HTTP's optional white
-- space (RFC 9110 5.6.3), all an answer's field is trimmed of.
function M.trim_ows(s) return trimmed(s, "[^ \t]", "^[ \t]") end

--- s with each control character a terminal would act on "?": C0 and
-- DEL, and the C1 controls as UTF-8 writes them (C2 80 to C2 9F; U+009B
-- is a CSI), line feeds kept when keep_lines.  An explicit class, not %c,
-- whose meaning follows the C locale a host may have set.
function M.printable(s, keep_lines)
  return (s:gsub(keep_lines and "[%z\1-\9\11-\31\127]" or "[%z\1-\31\127]", "?"):gsub("\194[\128-\159]", "?"))
end

return M
