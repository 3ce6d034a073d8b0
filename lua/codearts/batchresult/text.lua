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

-- ASCII's capital letters and their small ones, each way.
local SMALL, CAPITAL = {}, {}
for c = ("A"):byte(), ("Z"):byte() do
  SMALL[string.char(c)], CAPITAL[string.char(c + 32)] = string.char(c + 32), string.char(c)
end

--- s with ASCII's letters in lower case, and no other byte changed: what
-- protocol text (a header's name, a scheme, a host) is compared in.  Not
-- string.lower, the C library's tolower, which follows the locale a host
-- (Neovim) may have set: in tr_TR.ISO-8859-9 it lowers "I" to a dotless
-- i, 0xFD, and "X-Request-Id" would name no header the library knows.
function M.lower(s) return (s:gsub("[A-Z]", SMALL)) end

--- s with ASCII's letters in upper case, and no other byte changed (in
-- tr_TR.ISO-8859-9 string.upper raises "i" to 0xDD).
function M.upper(s) return (s:gsub("[a-z]", CAPITAL)) end

--- s without ASCII's white space at either end (spelled out: %s follows
-- the C locale too).
function M.trim(s) return trimmed(s, "[^ \t\n\v\f\r]", "^[ \t\n\v\f\r]") end

--- s without the spaces and tabs at either end: HTTP's optional white
-- space (RFC 9110 5.6.3), all an answer's field is trimmed of.
function M.trim_ows(s) return trimmed(s, "[^ \t]", "^[ \t]") end

--- A run of bytes >= 0x80 (UTF-8 sequences are made of nothing else) as
-- well-formed UTF-8: each byte of a sequence that is not (a server's stray
-- Latin-1, say) becomes U+FFFD.  nil when the run is well formed already.
local function mended(run)
  local out, i, n, bad = {}, 1, #run, false
  while i <= n do
    local b, len = run:byte(i), 0
    if b >= 0xC2 and b <= 0xDF then len = 2
    elseif b >= 0xE0 and b <= 0xEF then len = 3
    elseif b >= 0xF0 and b <= 0xF4 then len = 4
    end
    for k = 1, len - 1 do
      local c = run:byte(i + k)
      if not c or c > 0xBF then len = 0 end
    end
    -- No overlong forms, surrogates, or code points past U+10FFFF.
    local c = run:byte(i + 1) or 0
    if len > 2 and ((b == 0xE0 and c < 0xA0) or (b == 0xED and c > 0x9F) or (b == 0xF0 and c < 0x90)
        or (b == 0xF4 and c > 0x8F)) then
      len = 0
    end
    if len == 0 then
      out[#out + 1], i, bad = "\239\191\189", i + 1, true
    else
      out[#out + 1], i = run:sub(i, i + len - 1), i + len
    end
  end
  return bad and table.concat(out) or nil
end

--- s as well-formed UTF-8, which JSON must be (RFC 8259 8.1), and a
-- terminal draws as it was meant.
function M.well_formed(s)
  if not s:find("[\128-\255]") then return s end
  return (s:gsub("[\128-\255]+", mended))
end

--- s with each control character a terminal would act on "?": C0 and
-- DEL, and the C1 controls as UTF-8 writes them (C2 80 to C2 9F; U+009B
-- is a CSI), line feeds kept when keep_lines; ill-formed UTF-8 as U+FFFD
-- first (M.well_formed), as a lone byte 9B is a CSI to a terminal that
-- reads 8-bit controls.  An explicit class, not %c, whose meaning follows
-- the C locale a host may have set.
function M.printable(s, keep_lines)
  s = M.well_formed(s)
  return (s:gsub(keep_lines and "[%z\1-\9\11-\31\127]" or "[%z\1-\31\127]", "?"):gsub("\194[\128-\159]", "?"))
end

--- A number worded alike on every Lua: tostring gives -0 as "-0" or
-- "-0.0", 2^53 as "9007199254740992" or "9.007199254741e+15", and NaN
-- with or without its sign, by Lua.  And in as few digits as read back as
-- it: 14 showed a refused 86400.00000000001 as the 86400 allowed (an
-- option's refusal, config.lua; and the CLI's JSON numbers).
function M.number_text(v)
  if v ~= v then return "nan" end
  if v == math.floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53 then return ("%d"):format(v) end
  for digits = 14, 16 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

return M
