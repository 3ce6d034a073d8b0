--- The columns a terminal draws text in: East Asian wide characters take
-- two, combining marks none (glibc's wcwidth, as a terminal counts), so
-- that a Chinese pipeline name keeps a table's columns aligned, in the
-- tool's table and in a result set's tostring alike.
local M = {}

--- Ranges, { first, last }, from text listing them in hexadecimal
-- ("0591-05BD 05BF").
local function ranges_of(text)
  local ranges = {}
  for first, last in text:gmatch("(%x+)%-?(%x*)") do
    ranges[#ranges + 1] = { tonumber(first, 16), tonumber(last ~= "" and last or first, 16) }
  end
  return ranges
end

-- Code points a terminal draws two columns wide: Unicode 14's East Asian
-- Wide and Fullwidth ones, which glibc's wcwidth draws on (CJK, kana,
-- Hangul, fullwidth and vertical forms, and the emoji drawn as pictures; a
-- text-style emoji such as U+1F321 is narrow), and the unassigned code
-- points Unicode makes W by default (in CJK's blocks, planes 2 and 3).
-- ZERO is looked in first.  Made with Python 3.11's unicodedata (Unicode
-- 14.0), in ranges of the code points c where
--   u.east_asian_width(chr(c)) in ("W", "F") and (u.category(chr(c)) != "Cn"
--     or any(a <= c <= b for a, b in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF),
--       (0xF900, 0xFAFF), (0x20000, 0x2FFFD), (0x30000, 0x3FFFD))))
-- (it answers "F" for every unassigned code point), and the code points
-- glibc 2.36's wcwidth draws two columns wide besides: the circled
-- numbers on black squares, U+3248 to U+324F (A), and the Yijing
-- hexagrams, U+4DC0 to U+4DFF (N), in 3220-A48C.
local WIDE = ranges_of [[
  1100-115F 231A-231B 2329-232A 23E9-23EC 23F0 23F3 25FD-25FE 2614-2615 2648-2653 267F 2693 26A1
  26AA-26AB 26BD-26BE 26C4-26C5 26CE 26D4 26EA 26F2-26F3 26F5 26FA 26FD 2705 270A-270B 2728 274C
  274E 2753-2755 2757 2795-2797 27B0 27BF 2B1B-2B1C 2B50 2B55 2E80-2E99 2E9B-2EF3 2F00-2FD5
  2FF0-2FFB 3000-303E 3041-3096 3099-30FF 3105-312F 3131-318E 3190-31E3 31F0-321E 3220-A48C
  A490-A4C6 A960-A97C AC00-D7A3 F900-FAFF FE10-FE19 FE30-FE52 FE54-FE66
  FE68-FE6B FF01-FF60 FFE0-FFE6 16FE0-16FE4 16FF0-16FF1 17000-187F7 18800-18CD5 18D00-18D08
  1AFF0-1AFF3 1AFF5-1AFFB 1AFFD-1AFFE 1B000-1B122 1B150-1B152 1B164-1B167 1B170-1B2FB 1F004 1F0CF
  1F18E 1F191-1F19A 1F200-1F202 1F210-1F23B 1F240-1F248 1F250-1F251 1F260-1F265 1F300-1F320
  1F32D-1F335 1F337-1F37C 1F37E-1F393 1F3A0-1F3CA 1F3CF-1F3D3 1F3E0-1F3F0 1F3F4 1F3F8-1F43E 1F440
  1F442-1F4FC 1F4FF-1F53D 1F54B-1F54E 1F550-1F567 1F57A 1F595-1F596 1F5A4 1F5FB-1F64F 1F680-1F6C5
  1F6CC 1F6D0-1F6D2 1F6D5-1F6D7 1F6DD-1F6DF 1F6EB-1F6EC 1F6F4-1F6FC 1F7E0-1F7EB 1F7F0 1F90C-1F93A
  1F93C-1F945 1F947-1F9FF 1FA70-1FA74 1FA78-1FA7C 1FA80-1FA86 1FA90-1FAAC 1FAB0-1FABA 1FAC0-1FAC5
  1FAD0-1FAD9 1FAE0-1FAE7 1FAF0-1FAF6 20000-2FFFD 30000-3FFFD
]]
-- Zero width, as glibc's wcwidth (and VTE's and xterm's) counts them: every
-- combining mark (Unicode 14's general categories Mn and Me: Latin's
-- accents, Hebrew's points, Arabic's and Syriac's vowels, the Indic
-- scripts' vowel signs and viramas, Thai, Lao, Tibetan, Myanmar, Khmer,
-- the historic scripts past the BMP, combining half marks, variation
-- selectors), every format character (Cf: zero-width ones, bidi marks and
-- isolates, U+2066 to U+2069, which a name in a right-to-left script may
-- hold, interlinear annotation, tags) but the soft hyphen and the
-- prepended concatenation marks, which are drawn; Hangul's medial and
-- final jamo (U+1160 to U+11FF, U+D7B0 to U+D7FB), and U+2028 and
-- U+2029.  Made with Python 3.11's unicodedata (Unicode 14.0), in ranges
-- of the code points c >= 0xA0 where
--   cat = u.category(chr(c)); cat in ("Mn", "Me") or (cat == "Cf" and c
--     not in (0xAD, 0x600..0x605, 0x6DD, 0x70F, 0x890, 0x891, 0x8E2,
--     0x110BD, 0x110CD)) or 0x1160 <= c <= 0x11FF or (0xD7B0 <= c <=
--     0xD7FF and cat != "Cn") or c in (0x2028, 0x2029)
-- (the same code points as glibc 2.36's wcwidth gives 0, and U+2028 and
-- U+2029, to which it gives -1, as to a control).  Hexadecimal,
-- FIRST-LAST or one code point, in order.
local ZERO = ranges_of [[
  0300-036F 0483-0489 0591-05BD 05BF 05C1-05C2 05C4-05C5 05C7 0610-061A 061C 064B-065F 0670 06D6-06DC
  06DF-06E4 06E7-06E8 06EA-06ED 0711 0730-074A 07A6-07B0 07EB-07F3 07FD 0816-0819 081B-0823 0825-0827
  0829-082D 0859-085B 0898-089F 08CA-08E1 08E3-0902 093A 093C 0941-0948 094D 0951-0957 0962-0963 0981
  09BC 09C1-09C4 09CD 09E2-09E3 09FE 0A01-0A02 0A3C 0A41-0A42 0A47-0A48 0A4B-0A4D 0A51 0A70-0A71 0A75
  0A81-0A82 0ABC 0AC1-0AC5 0AC7-0AC8 0ACD 0AE2-0AE3 0AFA-0AFF 0B01 0B3C 0B3F 0B41-0B44 0B4D 0B55-0B56
  0B62-0B63 0B82 0BC0 0BCD 0C00 0C04 0C3C 0C3E-0C40 0C46-0C48 0C4A-0C4D 0C55-0C56 0C62-0C63 0C81 0CBC
  0CBF 0CC6 0CCC-0CCD 0CE2-0CE3 0D00-0D01 0D3B-0D3C 0D41-0D44 0D4D 0D62-0D63 0D81 0DCA 0DD2-0DD4 0DD6
  0E31 0E34-0E3A 0E47-0E4E 0EB1 0EB4-0EBC 0EC8-0ECD 0F18-0F19 0F35 0F37 0F39 0F71-0F7E 0F80-0F84
  0F86-0F87 0F8D-0F97 0F99-0FBC 0FC6 102D-1030 1032-1037 1039-103A 103D-103E 1058-1059 105E-1060
  1071-1074 1082 1085-1086 108D 109D 1160-11FF 135D-135F 1712-1714 1732-1733 1752-1753 1772-1773
  17B4-17B5 17B7-17BD 17C6 17C9-17D3 17DD 180B-180F 1885-1886 18A9 1920-1922 1927-1928 1932 1939-193B
  1A17-1A18 1A1B 1A56 1A58-1A5E 1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F 1AB0-1ACE 1B00-1B03 1B34 1B36-1B3A
  1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 1BA8-1BA9 1BAB-1BAD 1BE6 1BE8-1BE9 1BED 1BEF-1BF1 1C2C-1C33
  1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 1CED 1CF4 1CF8-1CF9 1DC0-1DFF 200B-200F 2028-202E 2060-2064
  2066-206F 20D0-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302D 3099-309A A66F-A672 A674-A67D A69E-A69F
  A6F0-A6F1 A802 A806 A80B A825-A826 A82C A8C4-A8C5 A8E0-A8F1 A8FF A926-A92D A947-A951 A980-A982 A9B3
  A9B6-A9B9 A9BC-A9BD A9E5 AA29-AA2E AA31-AA32 AA35-AA36 AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8
  AABE-AABF AAC1 AAEC-AAED AAF6 ABE5 ABE8 ABED D7B0-D7C6 D7CB-D7FB FB1E FE00-FE0F FE20-FE2F FEFF
  FFF9-FFFB 101FD 102E0 10376-1037A 10A01-10A03 10A05-10A06 10A0C-10A0F 10A38-10A3A 10A3F 10AE5-10AE6
  10D24-10D27 10EAB-10EAC 10F46-10F50 10F82-10F85 11001 11038-11046 11070 11073-11074 1107F-11081
  110B3-110B6 110B9-110BA 110C2 11100-11102 11127-1112B 1112D-11134 11173 11180-11181 111B6-111BE
  111C9-111CC 111CF 1122F-11231 11234 11236-11237 1123E 112DF 112E3-112EA 11300-11301 1133B-1133C 11340
  11366-1136C 11370-11374 11438-1143F 11442-11444 11446 1145E 114B3-114B8 114BA 114BF-114C0 114C2-114C3
  115B2-115B5 115BC-115BD 115BF-115C0 115DC-115DD 11633-1163A 1163D 1163F-11640 116AB 116AD 116B0-116B5
  116B7 1171D-1171F 11722-11725 11727-1172B 1182F-11837 11839-1183A 1193B-1193C 1193E 11943 119D4-119D7
  119DA-119DB 119E0 11A01-11A0A 11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96
  11A98-11A99 11C30-11C36 11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36
  11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 13430-13438 16AF0-16AF4
  16B30-16B36 16F4F 16F8F-16F92 16FE4 1BC9D-1BC9E 1BCA0-1BCA3 1CF00-1CF2D 1CF30-1CF46 1D167-1D169
  1D173-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C 1DA75 1DA84 1DA9B-1DA9F
  1DAA1-1DAAF 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF
  1E8D0-1E8D6 1E944-1E94A E0001 E0020-E007F E0100-E01EF
]]

--- Whether cp lies in one of ranges (in order, apart): a binary search.
local function within(cp, ranges)
  local lo, hi = 1, #ranges
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local r = ranges[mid]
    if cp < r[1] then
      hi = mid - 1
    elseif cp > r[2] then
      lo = mid + 1
    else
      return true
    end
  end
  return false
end

--- The columns one UTF-8 sequence takes (a stray or cut one: one).
local function columns_of(seq)
  local b = seq:byte(1)
  if #seq ~= (b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1) then return 1 end
  local cp
  if b >= 0xF0 then
    cp = (b % 8) * 0x40000 + (seq:byte(2) % 64) * 0x1000 + (seq:byte(3) % 64) * 0x40 + seq:byte(4) % 64
  elseif b >= 0xE0 then
    cp = (b % 16) * 0x1000 + (seq:byte(2) % 64) * 0x40 + seq:byte(3) % 64
  elseif b >= 0xC0 then
    cp = (b % 32) * 0x40 + seq:byte(2) % 64
  else
    return 1
  end
  if within(cp, ZERO) then return 0 end
  return within(cp, WIDE) and 2 or 1
end

--- The widest a column is aligned to, in the tool's table and a set's
-- tostring: a longer cell (a status or a name the server made 10 MB long)
-- pushes the rest of its own line right, rather than padding every line
-- to its width.
M.ALIGN_MAX = 64

--- The columns a terminal draws s in, s one line of UTF-8 (each stray or
-- cut sequence counted as one).
function M.of(s)
  if not s:find("[\128-\255]") then return #s end
  local n = 0
  for seq in s:gmatch("[^\128-\191][\128-\191]*") do n = n + columns_of(seq) end
  return n
end

return M
