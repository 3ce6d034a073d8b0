--- The option rules and every limit, defined once: what new() and a call's
-- opts accept, and the client configuration built from them.  Whatever is
-- accepted here every transport accepts: the limits that the C core
-- enforces come from it (core.limits), and a call's timeouts reach the
-- transports as whole milliseconds made by M.ms.
local core = require "codearts.batchresult.core"

local M = {}

M.VERSION = "0.1.0"

-- Where the C module was loaded from: Neovim's require looks in the
-- runtimepath's lua/ directories first, plain Lua in package.cpath.
local function core_path()
  local vim = rawget(_G, "vim")
  if type(vim) == "table" and vim.api then
    local found = vim.api.nvim_get_runtime_file("lua/codearts/batchresult/core.so", false)[1]
    if found then return found end
  end
  for template in package.cpath:gmatch("[^;]+") do
    local path = template:gsub("%?", "codearts/batchresult/core")
    local f = io.open(path)
    if f then
      f:close()
      return path
    end
  end
  return "not on package.cpath"
end

-- What this layer calls of the C module (src/core.h's CAB_INTERFACE).
M.INTERFACE = 27

-- A C module of another version or build (a copy left by
-- examples/nvim/install.sh, an older install earlier on the path) would
-- fail later in ways that name nothing: stop before anything uses it,
-- saying which is which.
if core.VERSION ~= M.VERSION or core.INTERFACE ~= M.INTERFACE then
  local other = core.VERSION ~= M.VERSION and tostring(core.VERSION)
    or ("%s of another build (interface %s, not %d)"):format(tostring(core.VERSION),
      core.INTERFACE and tostring(core.INTERFACE) or "unnumbered", M.INTERFACE)
  error(("codearts.batchresult %s cannot use the C module codearts.batchresult.core %s (%s): rebuild it"
    .. " (from a checkout `make LUA_VERSION=%s`, and examples/nvim/install.sh again for Neovim's copy;"
    .. " else reinstall the rock)"):format(M.VERSION, other, core_path(),
    rawget(_G, "jit") and "jit" or _VERSION:match("%d+%.%d+")), 0)
end

local Error = require "codearts.batchresult.error"
local exchange = require "codearts.batchresult.exchange"
local input = require "codearts.batchresult.input"
local regions = require "codearts.batchresult.regions"
local number_text = require("codearts.batchresult.text").number_text
local trim_ows = require("codearts.batchresult.text").trim_ows
local lower = require("codearts.batchresult.text").lower
M.DEFAULT_USER_AGENT = "codearts-batchresult/" .. M.VERSION

--- Every limit, with where it comes from.  Seconds bound every timeout,
-- deadline and wait; the C core's limits are its own (src/limit.h).
M.LIMITS = {
  max_seconds = core.limits.max_seconds,               -- 86400: one day
  max_response_bytes = core.limits.max_response_bytes, -- 1 GiB
  max_headers = core.limits.max_headers,               -- request headers
  max_header_bytes = core.limits.max_header_bytes,     -- an answer's head, on every transport
  max_trailer_line_bytes = core.limits.max_trailer_line_bytes, -- a trailer line, as libcurl takes it
  max_batch_size = 10000,
  max_concurrency = core.limits.max_concurrency,       -- 256: connections a client keeps too
  max_retries = 100,
}
local L = M.LIMITS

M.DEFAULTS = {
  timeout = 30, connect_timeout = 10, batch_size = 100, concurrency = 4, max_retries = 3,
  max_retry_wait = 30, max_response_bytes = 16 * 1024 * 1024,
}

--- Seconds as the whole milliseconds a transport takes: rounded up, so
-- that 0.0004 s is 1 ms and never 0 (which libcurl reads as "no limit").
function M.ms(seconds)
  -- (less a nanosecond: 2.007 * 1000 is 2007.0000000000002 in a double,
  -- which is 2007 ms, not 2008)
  return math.max(1, math.ceil(seconds * 1000 - 1e-6))
end

-- Rules: { type, check = function(v) -> why | nil }, why completing
-- "option <name> must …".


local function seconds(v)
  if not (v > 0 and v <= L.max_seconds) then
    return ("be a number of seconds > 0 and <= %d, got %s"):format(L.max_seconds, number_text(v))
  end
end

local function whole(min, max)
  return function(v)
    if not (v >= min and v <= max and math.floor(v) == v) then
      return ("be a whole number from %d to %d, got %s"):format(min, max, number_text(v))
    end
  end
end

--- A value that goes into a request header must not hold CR, LF or NUL,
-- which would split or end the header on the wire.
local function header_safe(v)
  if v:find("[\r\n%z]") then return "not contain CR, LF or NUL" end
end

local function non_empty(v)
  if v == "" then return "not be empty" end
  return header_safe(v)
end

-- The longest user_agent, token or security_token, and ak: libcurl
-- refuses a request whose head passes 1 MiB, at every call, and three
-- such values and an ak stay under it.
local MAX_FIELD_BYTES = 256 * 1024
local MAX_AK_BYTES = 1024
-- The longest user information of a proxy's URL, decoded: far more than
-- any proxy takes, and far from what libcurl refuses (proxy_problem).
local MAX_PROXY_LOGIN_BYTES = 64 * 1024

--- Why v cannot be a request header's whole value (user_agent, the
-- tokens), or nil: libcurl leaves out a header whose value is empty or
-- only white space (its ISSPACE: space, \t, \v, \f), after it was signed
-- (nginx's clients send it); and the signer refuses a control character
-- other than a tab (RFC 9110 5.5), and white space beyond ASCII at an end.
-- A value taken is sent trimmed of spaces and tabs (trim_ows), as it
-- is signed: over HTTP/2 a field with them at an end is malformed (RFC
-- 9113 8.2.1), and servers built on nghttp2 drop it.
local function field_value(v)
  if #v > MAX_FIELD_BYTES then return "be at most " .. MAX_FIELD_BYTES .. " bytes" end
  if not v:find("[^ \t\v\f]") then return "not be empty or only white space" end
  if v:find("[%z\1-\8\10-\31\127]") then return "not contain a control character other than a tab" end
  if core.unicode_space_edge(v) then return "not start or end with white space beyond ASCII" end
end

local OPTIONS = {
  endpoint = { "string", header_safe }, region = { "string", header_safe },
  project_id = { "string", header_safe },
  ak = { "string", header_safe }, sk = { "string", header_safe },
  security_token = { "string", header_safe }, token = { "string", header_safe },
  timeout = { "number", seconds }, connect_timeout = { "number", seconds },
  ca_file = { "string", non_empty }, ca_path = { "string", non_empty },
  tls_verify = { "boolean" }, proxy = { "string", non_empty },
  user_agent = { "string", field_value },
  batch_size = { "number", whole(1, L.max_batch_size) },
  concurrency = { "number", whole(1, L.max_concurrency) },
  max_retries = { "number", whole(0, L.max_retries) },
  max_retry_wait = { "number", seconds },
  max_response_bytes = { "number", whole(1, L.max_response_bytes) },
  logger = { "function" },
  transport = { "string", function(v)
    if v ~= "curl" and v ~= "ngx" then return 'be "curl" or "ngx", got "' .. v .. '"' end
  end },
}

local CALL_OPTIONS = {
  batch_size = OPTIONS.batch_size, concurrency = OPTIONS.concurrency, max_retries = OPTIONS.max_retries,
  deadline = { "number", seconds },
  on_progress = { "function" },
  callback = { "function" },
  dry_run = { "boolean" },
  -- (written raw, never read: the call's outcome, README; plain, as
  -- every table given is, so that no __mode drops what it keeps)
  keep = { "table", function(v)
    if input.has_metatable(v) then return "be a plain table, got one with a metatable" end
  end },
}

--- s's four numbers, when s is an IPv4 address written with dots, in
-- decimal only (libcurl reads a number with a leading zero as octal: 0127
-- is 87); else nil.
local function ipv4_numbers(s)
  local parts = { s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
  if #parts ~= 4 then return nil end
  for i, n in ipairs(parts) do
    if tonumber(n) > 255 or n:find("^0%d") then return nil end
    parts[i] = tonumber(n)
  end
  return parts
end

--- s's eight 16-bit groups, when s is an IPv6 address as RFC 4291 2.2
-- writes one: eight groups of one to four hex digits, or fewer with one
-- "::" for the groups of zeros left out; the last two groups may be an
-- IPv4 address.  Else nil.
local function ipv6_groups(s)
  local before, v4 = s:match("^(.*:)([^:]*%.[^:]*)$")
  if v4 then
    local n = ipv4_numbers(v4)
    if not n then return nil end
    s = before .. ("%x:%x"):format(n[1] * 256 + n[2], n[3] * 256 + n[4])
  end
  local head, tail = s:match("^(.-)::(.*)$")
  if head and tail:find("::", 1, true) then return nil end
  local runs = {}
  for i, part in ipairs(head and { head, tail } or { s }) do
    runs[i] = {}
    if part ~= "" then
      for group in (part .. ":"):gmatch("(.-):") do
        if not group:find("^%x%x?%x?%x?$") then return nil end
        runs[i][#runs[i] + 1] = tonumber(group, 16)
      end
    end
  end
  local groups = runs[1]
  if head then
    if #runs[1] + #runs[2] > 7 then return nil end
    for _ = 1, 8 - #runs[1] - #runs[2] do groups[#groups + 1] = 0 end
    for _, g in ipairs(runs[2]) do groups[#groups + 1] = g end
  end
  return #groups == 8 and groups or nil
end

--- Whether host (as split_url gives it) is a loopback host: localhost,
-- 127.0.0.0/8 in plain decimal, or ::1 however RFC 4291 writes it, or
-- 127.0.0.0/8 mapped into IPv6 (::ffff:127.0.0.1), the same address.
local function is_loopback(host)
  if host == "localhost" then return true end
  local g = host:find("^%[.*%]$") and ipv6_groups(host:sub(2, -2))
  if not g then
    local n = ipv4_numbers(host)
    return n ~= nil and n[1] == 127
  end
  if g[1] + g[2] + g[3] + g[4] + g[5] ~= 0 then return false end
  return g[6] == 0 and g[7] == 0 and g[8] == 1 or g[6] == 0xffff and math.floor(g[7] / 256) == 127
end

--- url -> scheme and host (both lower case; an IPv6 literal in its
-- brackets), port (nil when the URL names none) and what follows (path,
-- query, fragment); or nil, message.  The one reading of a URL, for the
-- endpoint here and for nginx's client (transport/ngx.lua).
function M.split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil, "must be scheme://host[:port]" end
  if authority:find("@", 1, true) then return nil, "must not contain user information" end
  -- (a host in brackets is one up to the first ']', or all of it when
  -- none closes it: ipv6_problem judges it, after the URL's other parts)
  local host, port = authority:match("^(%[[^%]]*%])(.*)$")
  if not host and authority:find("^%[") then host, port = authority, "" end
  if not host then host, port = authority:match("^([^:%[%]]+)(.*)$") end
  if not host then return nil, "has no host" end
  if port ~= "" then
    port = tonumber(port:match("^:(%d+)$"))
    if not port or port < 1 or port > 65535 then return nil, "has a bad port" end
  else
    port = nil
  end
  return lower(scheme), lower(host), port, rest
end

-- What libcurl refuses in a host name, at every call ('_' it takes; '%'
-- it would decode, to connect to a host other than the one signed).
local BAD_HOST = "[!$&'()*+,;=%%<>\"{}|\\^`]"

--- Why host, as split_url gives it, in brackets, is no IPv6 address, or
-- nil: asked last, after what the URL's other parts must be.
local function ipv6_problem(host)
  if host:find("^%[") and not (host:find("%]$") and ipv6_groups(host:sub(2, -2))) then
    return "has a bad IPv6 address"
  end
end

--- Why host, as split_url gives it, is no host to name, or nil: libcurl
-- refuses it at every call, or would connect to another than the one
-- named (IDNA's form of a host beyond ASCII, while the request is signed
-- for the host as given).
local function host_problem(host)
  -- (one in brackets is an IPv6 address or none: ipv6_problem's to say)
  if host:find("^%[") then return nil end
  -- (DNS's limit: no longer name resolves, and libcurl's own is 65535)
  if #host:gsub("%.$", "") > 253 then return "has a host longer than 253 bytes" end
  if core.unicode_space_edge(host) then return "has a host that starts or ends with white space beyond ASCII" end
  if host:find(BAD_HOST) then return "has a bad host" end
  if host:find("[\128-\255]") then return "has a host beyond ASCII: give its xn-- form" end
end

--- Splits "https://host[:port][/]" into scheme, the Host header's value
-- and the base URL; nil, message when it is not such a URL.
function M.parse_endpoint(url)
  if url:find("[%s%c]") then
    return nil, "must not contain white space or control characters"
  end
  local scheme, host, port, rest = M.split_url(url)
  if not scheme then return nil, host end
  if rest ~= "" and rest ~= "/" then return nil, "must be scheme://host[:port] with no path, query or fragment" end
  local why = host_problem(host)
  if why then return nil, why end
  if scheme ~= "https" and scheme ~= "http" then
    return nil, "scheme must be https (or http on loopback)"
  end
  if scheme == "http" and not is_loopback(host) then
    return nil, "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
  end
  why = ipv6_problem(host)
  if why then return nil, why end
  local default = scheme == "https" and 443 or 80
  local host_header = (port and port ~= default) and (host .. ":" .. port) or host
  return { scheme = scheme, host = host_header, base = scheme .. "://" .. host_header }
end

--- A URL's user information ("user:password"), or nil, and what comes
-- before it ("scheme://", or "" with no scheme): all up to the URL's last
-- '@', which is more than the URL's grammar takes when a password holds
-- '/', '?' or '#' unencoded, as libcurl lets it.
local function userinfo(url)
  local before, info = url:match("^(%a[%w+.-]*://)(.*)@")
  if before then return info, before end
  return url:match("^(.*)@"), ""
end

--- url as a message may quote it, and url without it: with no user
-- information.
local function without_userinfo(url)
  local info, before = userinfo(url)
  if not info then return url, url end
  local after = url:sub(#before + #info + 2)
  return before .. "…@" .. after, before .. after
end

--- A proxy URL (as proxy_problem passed it) without its user information,
-- and that information ("user:password", percent-encoded), or nil: for
-- HTTP clients other than libcurl (transport/ngx.lua).
function M.proxy_parts(url)
  return (select(2, without_userinfo(url))), (userinfo(url))
end

-- The proxies libcurl speaks to (CURLOPT_PROXY).
local PROXY_SCHEMES = { http = true, https = true, socks4 = true, socks4a = true, socks5 = true, socks5h = true }

--- Why url is no proxy URL libcurl takes, checked here so that it cannot
-- fail every call later (as NETWORK, retried, quoting it whole); or nil.
local function proxy_problem(url)
  if url:find("[%s%c]") then return "must not contain white space or control characters" end
  local scheme, host, _, rest = M.split_url((select(2, without_userinfo(url))))
  if not scheme then return host end
  if not PROXY_SCHEMES[scheme] then return "scheme must be http, https, socks4, socks4a, socks5 or socks5h" end
  local info = userinfo(url) or ""
  if info:find("[/?#@]") then
    return "must percent-encode '/', '?', '#' and '@' in its user information"
  end
  -- libcurl 7.88 drops a proxy whose login decodes to a control character
  -- (its parse_proxy) and connects directly, saying nothing: the requests
  -- would go around the proxy named.
  local login = M.percent_decoded(info)
  if login:find("[%z\1-\31]") then
    return "must not percent-encode control characters in its user information"
  end
  -- libcurl fails every call with a login it cannot send: a SOCKS5
  -- proxy's user name and password of at most 255 bytes each (RFC 1929),
  -- an HTTP proxy's in a CONNECT head it refuses over 1 MiB (base64, a
  -- third longer).
  local user, password = info:match("^([^:]*):?(.*)$")
  if scheme:find("^socks5") and (#M.percent_decoded(user) > 255 or #M.percent_decoded(password) > 255) then
    return "must have a user name and a password of at most 255 bytes each (SOCKS5's limit, RFC 1929)"
  end
  if #login > MAX_PROXY_LOGIN_BYTES then
    return "must have user information of at most " .. MAX_PROXY_LOGIN_BYTES .. " bytes"
  end
  local why = host_problem(host)
  if why then return why end
  if rest ~= "" and rest ~= "/" then return "must be scheme://[user:password@]host[:port] with no path" end
  return ipv6_problem(host)
end

-- What libcurl takes as the proxy for an https:// endpoint, in its order,
-- when the option names none (an http:// endpoint is on loopback, and reached
-- directly: transport/curl.lua).
local PROXY_VARIABLES = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }

local function env(getenv, name)
  local v = getenv(name)
  if v == "" then return nil end
  return v
end

--- The proxy libcurl is to use ("" for none), the hosts it is to reach
-- directly, and the variable that named the proxy, when one did, settled
-- by new(): the option's, bypassed for no host (else
-- libcurl would still read no_proxy); for an https:// endpoint without
-- one, the environment's, looked up once here in libcurl's order (libcurl
-- would look again at every transfer, so that a variable set after new()
-- would be used, its password never redacted); an http:// endpoint is on
-- loopback, reached directly.
local function libcurl_proxy(o, endpoint, getenv)
  if o.proxy then return o.proxy, "" end
  if endpoint:find("^http://") then return "", "" end
  -- (an empty variable is unset to libcurl: the next one counts)
  local proxy, from
  for _, name in ipairs(PROXY_VARIABLES) do
    if not proxy then proxy, from = env(getenv, name), name end
  end
  return proxy or "", env(getenv, "no_proxy") or env(getenv, "NO_PROXY") or "", proxy and from
end

--- s with each %XX as its byte, as libcurl reads a URL's login; a "+"
-- stays a "+".
function M.percent_decoded(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

--- The secret of a proxy URL's user information when it holds a
-- password, else nil (a user name alone is no secret): the password alone
-- when it is as long as the shortest run the redaction matches, else the
-- login from the user name's last run - 1 bytes on, "e-bot:pw" of
-- pipeline-bot:pw (a short password alone would blank its letters out of
-- every message, and the user name's own runs its words, "pipeline"): each
-- run of it holds the colon.  Percent-decoded, as libcurl reads it and
-- sends it to the proxy: what a text may show, raw or in any form, the
-- URL's own among them (redact.h reads %XX as its byte).
local function password_part(url)
  local info = type(url) == "string" and userinfo(url)
  if not (info and info:find(":.")) then return nil end
  local user, password = info:match("^([^:]*):(.*)$")
  password = M.percent_decoded(password)
  local run = core.limits.redact_min_run
  if #password >= run then return password end
  return M.percent_decoded(user):sub(-(run - 1)) .. ":" .. password
end

--- key when it is one that a message said before there is a client
-- redacts, else nil: a key (the environment's, or an option's: an sk,
-- security_token or token, br.sign's sk) that is only white space, or
-- shorter than the shortest run redaction matches (redact.h), is no key,
-- and redacted it would blank its letters out of every message, the one
-- refusing it too.  (A client redacts the keys it uses however short:
-- br.new's keyring.)
local function as_key(key)
  if type(key) == "string" and key:find("%S") and #key >= core.limits.redact_min_run then return key end
end

--- The secrets that no message may quote besides a client's own
-- credentials, whether or not it uses them: the environment's SK and
-- security token (a client with an IAM token, or keys of its own, may be
-- told of them by mistake; each as as_key takes it), and the passwords of
-- the proxy option and of the environment's proxies (password_part:
-- libcurl's messages may quote their URLs).  A list, with no holes.
local function held_secrets(o, getenv)
  local held = {}
  local function add(s) if s then held[#held + 1] = s end end
  for _, name in ipairs({ "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN" }) do
    add(as_key(env(getenv, name)))
  end
  add(password_part(o.proxy))
  for _, name in ipairs(PROXY_VARIABLES) do add(password_part(env(getenv, name))) end
  return held
end

--- Whether host (lower case, as split_url gives it) holds a run of a
-- secret as long as the redaction matches (credentials' sk,
-- security_token or token, or one of held: held_secrets'), in any case:
-- the host is shown in lower case, where the redaction of a secret with
-- capitals would not find it.  (A shorter secret, redacted only whole,
-- is not looked for: one of a letter or two would refuse every endpoint.)
local function host_holds_secret(host, credentials, held)
  local run = core.limits.redact_min_run
  local all = { credentials.sk or false, credentials.security_token or false, credentials.token or false }
  for _, s in ipairs(held) do all[#all + 1] = s end
  for _, s in ipairs(all) do
    if s and #s >= run then
      s = lower(s)
      for at = 1, #host - run + 1 do
        if s:find(host:sub(at, at + run - 1), 1, true) then return true end
      end
    end
  end
  return false
end

--- nil, and the INVALID_ARGUMENT error about option (err.option, as
-- input.options sets it; nil for a value the environment gave).
local function refused(option, message)
  local err = Error.invalid(message)
  err.option = option
  return nil, err
end

-- The most of a message about bad input that is shown: the item's name
-- and more than 150 bytes of what it holds (an id new() or a call refuses).
M.INPUT_MESSAGE_BYTES = 256

--- nil, and the INVALID_ARGUMENT error about option (nil: the
-- environment's) whose value, called name, is no id: quoted as a call
-- quotes a refused id, redacted before it is quoted (input.quoted), the
-- message cut to M.INPUT_MESSAGE_BYTES.  (A keyring of no secret still cuts.)
local function id_refused(o, getenv, option, name, value)
  local keyring, why = M.quoting_keyring(o, getenv)
  if not keyring then return nil, Error.new("INTERNAL", why) end
  local _, err = refused(option, name .. " must be 32 letters or digits, got " .. input.quoted(value, keyring))
  exchange.shown_input(keyring, err, M.INPUT_MESSAGE_BYTES)
  keyring:close()
  return nil, err
end

--- Whether the name of the variable that sets region o.region's endpoint
-- (the region upper-cased, '-' as '_') holds a run of a secret of o's or
-- the environment's, in any case: the redaction of the message, which
-- matches a secret's case, would not find it there.
local function names_secret(o, getenv)
  local given = { sk = as_key(o.sk), security_token = as_key(o.security_token), token = as_key(o.token) }
  local held = held_secrets(o, getenv)
  return host_holds_secret(o.region, given, held) or host_holds_secret((o.region:gsub("%-", "_")), given, held)
end

-- The longest region named in the hint of the variable that sets its
-- endpoint: the longest Huawei Cloud names ("ap-southeast-3") are far
-- shorter.
local REGION_NAME_BYTES = 64

--- value (a URL without its user information, a region, a path) as a
-- refusal of new()'s quotes it, between single quotes: with every secret
-- of M.redactor's redacted, then cut to M.INPUT_MESSAGE_BYTES, with "…"
-- after when it was (the message goes on to say why, which a cut of the
-- whole would lose).  The message is redacted again whole (M.build): this
-- redaction is for the cut, which must come after it.
local function quoted_value(value, o, getenv)
  local keyring, why = M.quoting_keyring(o, getenv)
  if not keyring then return "(not shown: " .. why .. ")" end
  local shown, cut, failed = keyring:redact(value, M.INPUT_MESSAGE_BYTES)
  keyring:close()
  -- (a redaction that failed says so in words of its own, not quoted)
  if failed then return shown end
  return "'" .. shown .. "'" .. (cut and "…" or "")
end

--- Where to send: { endpoint, host, region } or nil, err.
local function place(o, getenv)
  local url
  -- (region is the way to name an endpoint: the option these are about)
  if o.endpoint and o.region then
    return refused("endpoint", "give endpoint or region, not both")
  elseif o.endpoint then
    url = o.endpoint
  elseif o.region then
    local why
    url, why = regions.resolve(o.region, getenv)
    if why then return refused(nil, why) end
    if not url then
      -- The variable's name only for a name shaped like a region's
      -- ("cn-north-4"), and as long as one, that holds no secret: it is
      -- the name upper-cased, which no redaction of a secret pasted here
      -- would hide, and which is not cut.
      local variable = #o.region <= REGION_NAME_BYTES and o.region:find("^%l+%-%l+%-%d+$")
        and M.without_secrets(o.region, o, getenv) == o.region and not names_secret(o, getenv)
        and ("; or set " .. regions.env_name(o.region)) or ""
      local small = lower(o.region)
      local case = small ~= o.region and regions.resolve(small, getenv) and ("; names are lower case: '"
        .. small .. "'") or ""
      return refused("region", "unknown region " .. quoted_value(o.region, o, getenv) .. " (known: "
        .. table.concat(regions.names(), ", ") .. variable .. case .. ")")
    end
  else
    return refused("endpoint", "endpoint or region is required")
  end
  local ep, why = M.parse_endpoint(url)
  if not ep then
    local quoted = quoted_value(without_userinfo(url), o, getenv)
    if o.endpoint then return refused("endpoint", "endpoint " .. quoted .. " " .. why) end
    -- (the region's override variable named it)
    return refused(nil, "endpoint " .. quoted .. " (from environment variable "
      .. regions.env_name(o.region) .. ") " .. why)
  end
  return { endpoint = ep.base, host = ep.host, region = o.region }
end

--- Who we are: { ak, sk, security_token } or { token }, or nil, err.
-- Explicit options win over the environment, and the two are never mixed:
-- half a key pair from each would be a surprise.
local function credentials(o, getenv)
  if o.token then
    if o.ak or o.sk then return refused("token", "give token or ak/sk, not both") end
    -- (named as given: the caller may have given no ak or sk)
    if o.security_token then
      return refused("token", "give token or security_token (with ak and sk), not both")
    end
    local why = field_value(o.token)
    if why then return refused("token", "token must " .. why) end
    return { token = trim_ows(o.token) }
  end
  local ak, sk, st, from
  if o.ak or o.sk then
    ak, sk, st, from = o.ak, o.sk, o.security_token, "option"
  elseif o.security_token then
    return refused("security_token", "security_token is given without ak and sk: give all three, or take all "
      .. "from the environment")
  else
    ak, sk = env(getenv, "HUAWEICLOUD_SDK_AK"), env(getenv, "HUAWEICLOUD_SDK_SK")
    st = env(getenv, "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    from = "environment variable HUAWEICLOUD_SDK_"
    -- The environment is read here, not where the options were: check it
    -- too, in a fixed order (of two bad ones, the same named every run).
    local values = { AK = ak, SK = sk, SECURITY_TOKEN = st }
    for _, name in ipairs({ "AK", "SK", "SECURITY_TOKEN" }) do
      if values[name] and header_safe(values[name]) then
        return nil, Error.invalid(from .. name .. " must not contain CR, LF or NUL")
      end
    end
  end
  local option = from == "option"
  if not ak or ak == "" then
    return refused(option and "ak" or nil, "missing credential: ak (" .. from .. (option and "" or "AK") .. ")")
  end
  if not sk or sk == "" then
    return refused(option and "sk" or nil, "missing credential: sk (" .. from .. (option and "" or "SK") .. ")")
  end
  -- (no key, and redacted it would blank every space out of every message)
  if not sk:find("%S") then
    return refused(option and "sk" or nil, (option and "sk" or from .. "SK") .. " is only white space")
  end
  if #ak > MAX_AK_BYTES then
    return refused(option and "ak" or nil, (option and "ak" or from .. "AK") .. " must be at most " .. MAX_AK_BYTES
      .. " bytes")
  end
  if ak:find("[%s,%c\128-\255]") then
    return refused(option and "ak" or nil, (option and "ak" or from .. "AK")
      .. " holds a space, comma, control or non-ASCII character")
  end
  -- (an empty variable is unset, env's rule; an empty option is refused as
  -- white space is: taken for none, it signed as a permanent key, silently)
  local why = st and field_value(st)
  if why then
    return refused(option and "security_token" or nil, (option and "security_token" or from .. "SECURITY_TOKEN")
      .. " must " .. why)
  end
  return { ak = ak, sk = sk, security_token = st and trim_ows(st) }
end

--- Option k's path (ca_file, ca_path) made absolute (core.absolute_path),
-- or nil, err when the working directory a relative one is relative to
-- cannot be named (removed under the process).  libcurl opens these again
-- after new() (a ca_path at each lookup, a ca_file for each new handle),
-- relative to the working directory of then: a
-- program that changes directory later (Neovim's :cd, lfs.chdir) had
-- every call fail as TLS.  The client holds what new() checked.
local function absolute(o, k, getenv)
  local path, why = core.absolute_path(o[k])
  if path then return path end
  return refused(k, k .. " " .. quoted_value(o[k], o, getenv) .. " is relative, and the working directory it is"
    .. " relative to cannot be found (" .. why .. "): give an absolute path")
end

--- { ca_file =, ca_path = }, each made absolute (nil when not given), or
-- nil, err for one that every call would fail
-- with (TLS) or trust nothing from, a typo that would show only then: a
-- ca_file that is no regular file (asked before it is opened: opening a
-- FIFO waits for a writer), cannot be read, or gives no certificate when
-- loaded as libcurl loads it (core.ca_certificates); a ca_path that is no
-- directory, cannot be read, gives no certificate as libcurl reads one
-- (core.ca_path_certificates: never rehashed, or empty), or whose
-- absolute path holds a ':'.  Messages quote
-- the path as given.
local function trust_checked(o, getenv)
  local file, dir, err
  if o.ca_file then
    file, err = absolute(o, "ca_file", getenv)
    if not file then return nil, err end
    local f = core.file_kind(file) == "file" and io.open(file, "rb")
    if f then f:close() end
    if not f then
      return refused("ca_file", "ca_file " .. quoted_value(o.ca_file, o, getenv) .. " is not a file that can be read")
    end
    local n, why = core.ca_certificates(file)
    if not n then return nil, Error.new("INTERNAL", "ca_file: " .. why) end
    if n == 0 then
      return refused("ca_file", "ca_file " .. quoted_value(o.ca_file, o, getenv)
        .. " holds no PEM certificate that OpenSSL can load")
    end
  end
  if o.ca_path then
    dir, err = absolute(o, "ca_path", getenv)
    if not dir then return nil, err end
    -- OpenSSL reads CURLOPT_CAPATH as a list of directories separated by
    -- ':' (by_dir.c): this one would be looked for in two others.
    if dir:find(":", 1, true) then
      return refused("ca_path", "ca_path " .. quoted_value(o.ca_path, o, getenv)
        .. (o.ca_path:find(":", 1, true) and " holds" or " is relative to a working directory whose path holds")
        .. " a ':', which OpenSSL reads as separating directories (every call would fail as TLS): name the"
        .. " directory by a path without one")
    end
    local f = core.file_kind(dir) == "directory" and io.open(dir .. "/.", "rb")
    if f then f:close() end
    if not f then
      return refused("ca_path", "ca_path " .. quoted_value(o.ca_path, o, getenv)
        .. " is not a directory that can be read")
    end
    local holds, why = core.ca_path_certificates(dir)
    if holds == nil then return nil, Error.new("INTERNAL", "ca_path: " .. why) end
    if not holds then
      return refused("ca_path", "ca_path " .. quoted_value(o.ca_path, o, getenv)
        .. " holds no certificate named as OpenSSL looks one up (run openssl rehash on it)")
    end
  end
  return { ca_file = file, ca_path = dir }
end

-- The options that count things: checked to be whole numbers, and kept
-- as integers (2.0 given is 2), so that counts made from them print so.
local COUNTS = { "batch_size", "concurrency", "max_retries", "max_response_bytes" }
local function as_integers(o)
  for _, k in ipairs(COUNTS) do
    if o[k] then o[k] = math.floor(o[k]) end
  end
end

--- build's work on the options' copy o: config, secrets or nil, err.
local function settle(o, getenv)
  local cfg, err = place(o, getenv)
  if not cfg then return nil, err end

  local project = o.project_id or env(getenv, "HUAWEICLOUD_SDK_PROJECT_ID")
  if not project then
    return refused("project_id", "project_id is required (or set HUAWEICLOUD_SDK_PROJECT_ID)")
  end
  if not input.is_id(project) then
    if o.project_id then return id_refused(o, getenv, "project_id", "project_id", project) end
    return id_refused(o, getenv, nil, "environment variable HUAWEICLOUD_SDK_PROJECT_ID", project)
  end
  cfg.project_id = project

  local secrets
  secrets, err = credentials(o, getenv)
  if not secrets then return nil, err end

  local trust
  trust, err = trust_checked(o, getenv)
  if not trust then return nil, err end
  if o.proxy then
    local why = proxy_problem(o.proxy)
    if why then
      return refused("proxy", "proxy " .. quoted_value(without_userinfo(o.proxy), o, getenv) .. " " .. why)
    end
    if cfg.endpoint:find("^http://") then
      return refused("proxy", "proxy cannot serve an http:// endpoint: http:// is for loopback only, and a proxy "
        .. "would carry the request off this machine unencrypted")
    end
  end
  secrets.held = held_secrets(o, getenv)
  if host_holds_secret(cfg.host, secrets, secrets.held) then
    -- (not quoted: in another case than the secret's, no redaction would
    -- hide it)
    local named = o.endpoint and "endpoint" or ("the endpoint of region '" .. o.region
      .. "' (built in, or set by environment variable " .. regions.env_name(o.region) .. ")")
    return refused(o.endpoint and "endpoint" or "region", named .. "'s host holds a secret (the SK, a token or a "
      .. "proxy's password): the request would carry it to that host, and every text naming the host would show it")
  end
  for k, v in pairs(M.DEFAULTS) do cfg[k] = o[k] or v end
  cfg.ca_file, cfg.ca_path, cfg.proxy = trust.ca_file, trust.ca_path, o.proxy
  local from
  cfg.libcurl_proxy, cfg.libcurl_noproxy, from = libcurl_proxy(o, cfg.endpoint, getenv)
  -- (inside nginx, whose cosockets take no proxy of the environment's, it
  -- is never read; the transport module, required here, when new() runs,
  -- for it requires this one as it loads)
  if from and require("codearts.batchresult.transport").name(o.transport) ~= "ngx" then
    -- The environment's proxy, checked as the option is (libcurl takes
    -- one with no scheme for http://).
    local proxy = cfg.libcurl_proxy
    local why = proxy_problem(proxy:find("^%a[%w+.-]*://") and proxy or "http://" .. proxy)
    if why then
      return refused("proxy", "proxy " .. quoted_value(without_userinfo(proxy), o, getenv) .. " (environment variable "
        .. from .. ") " .. why)
    end
  end
  cfg.tls_verify = o.tls_verify ~= false
  cfg.user_agent = o.user_agent and trim_ows(o.user_agent) or M.DEFAULT_USER_AGENT
  cfg.logger = o.logger
  cfg.transport = o.transport
  return cfg, secrets
end

--- The strings a redactor is given for the secrets among given[1..n]
-- (strings; others, and empty ones, skipped): each, and the forms the
-- library's own messages may give it when they differ: quoted as
-- input.escaped quotes (a tab as \9, on every Lua), and on one line (an
-- error's message is made one line before it is redacted, Error.new: a
-- space for a tab).  A secret
-- given twice (the environment's SK, which the client also signs with)
-- is taken once.
function M.secret_forms(given, n)
  local forms, seen = {}, {}
  for i = 1, n do
    local s = given[i]
    if type(s) == "string" and s ~= "" and not seen[s] then
      seen[s] = true
      forms[#forms + 1] = s
      local quoted = input.escaped(s)
      -- (but one of white space alone, the one line of a key of control
      -- characters, which would blank every space out of every message;
      -- a short one is kept: the key's bytes, shrunk, only match whole)
      for _, form in ipairs({ quoted, Error.one_line(s), Error.one_line(quoted) }) do
        if form ~= s and form:find("%S") then forms[#forms + 1] = form end
      end
    end
  end
  return forms
end

--- A redactor (a keyring that signs nothing) for every secret that
-- new()'s options o (nil: none) or the environment hold, each key as
-- as_key takes it, false when there is none, or nil, why when memory ran
-- out (which must not read as none): for what is said before there is a
-- client.  The caller closes it.
function M.redactor(o, getenv)
  o, getenv = o or {}, getenv or os.getenv
  local given = held_secrets(o, getenv)
  local n = #given
  given[n + 1], given[n + 2], given[n + 3] = as_key(o.sk), as_key(o.security_token), as_key(o.token)
  local forms = M.secret_forms(given, n + 3)
  if #forms == 0 then return false end
  return core.keyring(nil, (table.unpack or unpack)(forms))
end

--- M.redactor's keyring, or where there is no secret one that hides
-- nothing (it still cuts what it quotes): for a message that quotes the
-- caller or the server; nil, why when memory ran out.
function M.quoting_keyring(o, getenv)
  local keyring, why = M.redactor(o, getenv)
  if keyring == false then return core.keyring(nil) end
  return keyring, why
end

--- text with every secret of M.redactor's [REDACTED] (a region or an
-- endpoint may quote a secret pasted in the wrong place; so may a command
-- line); none of it when memory ran out.
function M.without_secrets(text, o, getenv)
  local keyring, why = M.redactor(o, getenv)
  if keyring == false then return text end
  if not keyring then return "(not shown: " .. why .. ")" end
  text = keyring:redact(text)
  keyring:close()
  return text
end

--- err, about new()'s or br.sign's input, with every secret of
-- M.redactor's redacted from what it quotes, cut to limit bytes (nil: not
-- cut) (exchange.shown_input); INTERNAL when memory ran out.
function M.input_error_without_secrets(err, o, getenv, limit)
  -- (with a limit, a keyring that cuts even where there is no secret)
  local keyring, why
  if limit then keyring, why = M.quoting_keyring(o, getenv) else keyring, why = M.redactor(o, getenv) end
  if keyring == false then return err end
  if not keyring then return Error.new("INTERNAL", why) end
  local _, failed = exchange.shown_input(keyring, err, limit)
  keyring:close()
  -- (its words, not the caller's input, are what failed)
  if failed then return Error.new("INTERNAL", "out of memory") end
  return err
end

--- new()'s options -> config, secrets; or nil, err.  The caller's table
-- is read once, raw (input.lua).  secrets holds ak, sk, security_token or
-- token, and held (held_secrets: more to redact, a list): the caller hands
-- the SK to C and keeps none of it.  getenv is
-- os.getenv unless a test passes its own.
function M.build(opts, getenv)
  getenv = getenv or os.getenv
  local o, err, copy = input.options(opts, OPTIONS, "option", "options")
  if not o then
    -- (a secret pasted into another option, the transport say, is quoted)
    -- (INTERNAL when memory ran out: err would quote it unredacted)
    if copy then err = M.input_error_without_secrets(err, copy, getenv, M.INPUT_MESSAGE_BYTES) end
    return nil, err
  end
  as_integers(o)
  local cfg, secrets = settle(o, getenv)
  if not cfg then
    return nil, M.input_error_without_secrets(secrets, o, getenv)
  end
  return cfg, secrets
end

--- A call's options (read once, raw) settled against the client's
-- defaults; or nil, err.
function M.call_options(opts, defaults)
  local o, err = input.options(opts, CALL_OPTIONS, "call option", "call options")
  if not o then return nil, err end
  as_integers(o)
  o.batch_size = o.batch_size or defaults.batch_size
  o.concurrency = o.concurrency or defaults.concurrency
  o.max_retries = o.max_retries or defaults.max_retries
  return o
end

return M
