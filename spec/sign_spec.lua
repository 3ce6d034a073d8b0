-- The signer against Huawei's own SDKs: every vector, byte for byte.
local br = require "codearts.batchresult"
local vectors = require "spec.support.vectors"
local child = require "spec.support.child"
local digest = require "openssl.digest"

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function sign_case(c, extra_headers)
  local headers = {}
  for k, v in pairs(c.headers) do headers[k] = v end
  for k, v in pairs(extra_headers or {}) do headers[k] = v end
  return br.sign { method = c.method, path = c.path, query = c.query, headers = headers,
                   body = c.body, ak = c.ak, sk = c.sk }
end

describe("br.sign", function()
  it("has vectors to check", function()
    assert.is_true(#vectors.cases >= 28)
  end)

  for _, c in ipairs(vectors.cases) do
    it("matches the official SDK for " .. c.name, function()
      local auth, details = sign_case(c)
      assert.are.equal(c.authorization, auth)
      assert.are.equal(c.canonical_request, details.canonical_request)
      assert.are.equal(c.string_to_sign, details.string_to_sign)
    end)
  end

  it("builds the canonical request of the signing guide's example", function()
    local ex = vectors.docs_example
    local method, path, query, rest = ex.canonical_request:match("^(%u+)\n(.-)/\n(.-)\n(.*)$")
    local headers = {}
    for name, value in rest:gmatch("([%w-]+):([^\n]*)\n") do headers[name] = value end
    local _, details = br.sign { method = method, path = path, query = query, headers = headers,
                                 body = "", ak = "AK", sk = "SK" }
    assert.are.equal(ex.canonical_request, details.canonical_request)
    assert.are.equal(ex.sha256_hex, hex(digest.new("sha256"):final(details.canonical_request)))
  end)

  it("canonicalizes a raw query as the SDKs do", function()
    local ex = vectors.canonical_query_example
    -- The same parameters as a raw query string, shuffled and encoded
    -- differently from the canonical form ('+' for space, lower-case hex,
    -- reserved characters left bare).
    local raw = "test=%e4%b8%80+(%26%3D%3F!%23%25.*)&multi=3&path=/tmp/123&multi=1&limit=1&enable=true&multi=2"
    local _, details = br.sign { method = "GET", path = "/", query = raw,
                                 headers = { ["X-Sdk-Date"] = "20200101T000000Z" },
                                 body = "", ak = "AK", sk = "SK" }
    assert.are.equal(ex.canonical, details.canonical_request:match("^GET\n/\n([^\n]*)\n"))
  end)

  it("leaves header names holding '_' unsigned, as the Go SDK does", function()
    local c = vectors.cases[1]
    assert.are.equal(c.authorization, (sign_case(c, { TEST_UNDERSCORE = "TEST_VALUE" })))
  end)

  it("percent-encodes each path segment and appends the slash; %2F splits, as the SDKs decode first", function()
    local _, d = br.sign { method = "GET", path = "/a b/c%2Fd/é", headers = { ["X-Sdk-Date"] = "20200101T000000Z" },
                           ak = "AK", sk = "SK" }
    assert.are.equal("/a%20b/c/d/%C3%A9/", d.canonical_request:match("^GET\n([^\n]*)\n"))
  end)

  it("trims header values and lower-cases names", function()
    local _, d = br.sign { method = "POST", path = "/p", body = "x",
                           headers = { ["X-Sdk-Date"] = " 20200101T000000Z\t", HOST = "  h.example  " },
                           ak = "AK", sk = "SK" }
    assert.truthy(d.canonical_request:find("\nhost:h.example\nx-sdk-date:20200101T000000Z\n\nhost;x-sdk-date\n", 1,
      true))
  end)

  it("uses UNSIGNED-PAYLOAD in place of the body hash when asked to", function()
    local _, d = br.sign { method = "PUT", path = "/o", body = "binary",
                           headers = { ["X-Sdk-Date"] = "20200101T000000Z",
                                       ["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD" },
                           ak = "AK", sk = "SK" }
    assert.are.equal("UNSIGNED-PAYLOAD", d.canonical_request:match("\n([^\n]*)$"))
  end)

  describe("refuses", function()
    local base = { ["X-Sdk-Date"] = "20200101T000000Z", Host = "h" }
    local function try(headers, extra)
      local t = { method = "POST", path = "/p", headers = headers, body = "", ak = "AK", sk = "SK" }
      for k, v in pairs(extra or {}) do t[k] = v end
      local auth, err = br.sign(t)
      assert.is_nil(auth)
      assert.are.equal("INVALID_ARGUMENT", err.code)
      return err.message
    end
    local function with(k, v)
      local h = {}
      for a, b in pairs(base) do h[a] = b end
      h[k] = v
      return h
    end

    it("a header value with CR, LF or NUL, naming the header", function()
      assert.truthy(try(with("X-Evil", "a\r\nInjected: 1")):find("X-Evil", 1, true))
      assert.truthy(try(with("X-Evil", "a\nb")):find("X-Evil", 1, true))
      assert.truthy(try(with("X-Evil", "a\0b")):find("X-Evil", 1, true))
    end)
    it("a header name that is not a token", function()
      assert.truthy(try(with("Bad Name", "v")):find("Bad Name", 1, true))
    end)
    it("a header value the SDKs trim differently: other controls, white space beyond ASCII at an end", function()
      -- Python's str.strip takes 0x1C-0x1F away, Go's strings.TrimSpace keeps them;
      -- both take U+00A0 and U+3000 away, Java and Node sign them
      assert.truthy(try(with("User-Agent", "app\31")):find("User-Agent", 1, true))
      assert.truthy(try(with("User-Agent", "app\194\160")):find("User-Agent", 1, true))
      assert.truthy(try(with("User-Agent", "\227\128\128app")):find("User-Agent", 1, true))
      -- at an end once the tab is trimmed, as the SDKs that trim take both
      assert.truthy(try(with("User-Agent", "\t\227\128\128app")):find("User-Agent", 1, true))
      assert.truthy(try(with("User-Agent", "app\194\160 ")):find("User-Agent", 1, true))
      -- (inside a value, they are the value's own)
      assert.truthy(br.sign { method = "POST", path = "/p", body = "", ak = "AK", sk = "SK",
                              headers = with("User-Agent", "\ta\227\128\128 p\194\160p\t") })
    end)
    it("an X-Sdk-Content-Sha256 that every SDK would sign as given, not as the body's hash", function()
      local empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
      assert.truthy(try(with("X-Sdk-Content-Sha256", "unsigned-payload")):find("X-Sdk-Content-Sha256", 1, true))
      assert.truthy(try(with("X-Sdk-Content-Sha256", empty:upper())):find("X-Sdk-Content-Sha256", 1, true))
      assert.truthy(try(with("X-Sdk-Content-Sha256", empty), { body = "{}" }):find("X-Sdk-Content-Sha256", 1, true))
      local _, d = br.sign { method = "POST", path = "/p", headers = with("X-Sdk-Content-Sha256", " " .. empty),
                             body = "", ak = "AK", sk = "SK" }
      assert.are.equal(empty, d.canonical_request:match("\n([^\n]*)$"))
    end)
    it("the same header twice in different case", function()
      assert.truthy(try(with("host", "other")):lower():find("twice"))
      -- unsigned ones too (a name with "_"): they are sent all the same
      local h = with("X_Foo", "a")
      h.x_foo = "b"
      assert.truthy(try(h):lower():find("twice"))
    end)
    -- Signed as a literal '%' (Python's unquote) where Go refuses the URL and
    -- nginx the request; an Authorization header was signed, so that the
    -- header carrying the signature could never verify (review sign47).
    it("a '%' not followed by two hex digits, in the path or the query", function()
      for _, path in ipairs({ "/v5/a%zz/b", "/v5/a%2", "/v5/a%", "/v5/%4g" }) do
        assert.truthy(try(base, { path = path }):find("^sign: path .*'%%' not followed by two hex digits"), path)
      end
      for _, query in ipairs({ "a=%zz&b=1", "a=%", "a=1&b%2=2" }) do
        assert.truthy(try(base, { query = query }):find("^sign: query .*'%%' not followed by two hex digits"), query)
      end
      local _, d = assert(br.sign { method = "POST", path = "/v5/a%41%2f", query = "b=%7e&a=%25", headers = base,
                                    body = "", ak = "AK", sk = "SK" })
      assert.are.equal("POST\n/v5/aA/\na=%25&b=~\n", d.canonical_request:match("^[^\n]*\n[^\n]*\n[^\n]*\n"))
    end)
    it("an Authorization header, which signing makes", function()
      assert.are.equal("sign: header 'authorization': it is what signing makes: leave it out",
                       try(with("authorization", "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00")))
    end)
    -- The table's order follows the string hash seed, new on each run on
    -- 5.2 and later and on LuaJIT: a refusal named another header from run
    -- to run (review inputs47); names of one length hid that the lengths
    -- compared were not yet read (review fixes47b).
    it("naming the header that sorts first, the same on every run", function()
      for _ = 1, 6 do
        local out, ok = child.run([[
          local br = require "codearts.batchresult"
          local function sign(headers)
            headers["X-Sdk-Date"] = "20240101T000000Z"
            local _, err = br.sign { method = "POST", path = "/", ak = "AK", sk = "SK", headers = headers }
            io.write(err.message, "\n")
          end
          sign { Host = "a", host = "b" }
          sign { ["X-BB"] = "b\1", ["X-AB"] = "a\1", ["X-CCCCCC"] = "c\1", ["X-A"] = "d\1" }
          sign { ["X-BB"] = 2, [4] = "x", ["X-AB"] = 1, ["X-CCCCCC"] = 3, ["X-A"] = 4, ["X-"] = 5 }
          sign { ["X BB"] = "2", ["X AB"] = "1", ["X CCCCCC"] = "3", ["X A"] = "4" }
        ]])
        assert.is_true(ok, out)
        assert.are.equal("sign: header 'host': header given twice (names ignore case)\n"
          .. "sign: header 'X-A': header value holds a control character other than a tab, or white space beyond"
          .. " ASCII at an end\n"
          .. 'sign: headers must map strings to strings, got "X-" = number\n'
          .. "sign: header 'X A': header name is not an HTTP token\n", out)
      end
    end)
    it("a missing or malformed X-Sdk-Date", function()
      assert.truthy(try({ Host = "h" }):find("X-Sdk-Date", 1, true))
      assert.truthy(try(with("X-Sdk-Date", "2020-01-01")):find("X-Sdk-Date", 1, true))
    end)
    -- The date was checked only once every header had passed, so a header
    -- sorting after X-Sdk-Date was named instead of it (review sign).
    it("a malformed X-Sdk-Date before a bad header that sorts after it", function()
      local date = "sign: header 'X-Sdk-Date': X-Sdk-Date is not YYYYMMDDTHHMMSSZ, a time that exists"
      assert.are.equal(date, try({ ["X-Sdk-Date"] = "bad", ["Z-A"] = "v\1" }))
      assert.are.equal(date, try({ ["X-Sdk-Date"] = "bad", ["Z-A"] = "v", ["z-a"] = "w" }))
      assert.are.equal(date, try({ ["X-Sdk-Date"] = "bad", ["Z_A"] = "v", ["z_a"] = "w" }))
    end)
    -- README said the first name in byte order was named of all headers
    -- refused: one that is not a string comes before any other (review sign).
    it("a header that is not a string before any other, as README says", function()
      assert.are.equal('sign: headers must map strings to strings, got "Z" = number',
        try({ ["X-Sdk-Date"] = "20200101T000000Z", A = "\1", Z = 1 }))
    end)
    it("unknown fields, wrong types and an empty key", function()
      assert.truthy(try(base, { sk = "" }):find("sk", 1, true))
      assert.truthy(try(base, { secret = "x" }):find("secret", 1, true))
      assert.truthy(try(base, { body = 12 }):find("body", 1, true))
      assert.truthy(try(base, { ak = "A K" }):find("access key", 1, true))
    end)
  end)
end)

describe("br.sign's table", function()
  local core = require "codearts.batchresult.core"
  local H = { Host = "h.example", ["X-Sdk-Date"] = "20200101T000000Z" }
  local function full()
    return { method = "POST", path = "/p", query = "a=1", headers = H, body = "{}", ak = "AK", sk = "SK" }
  end
  local function refused(t)
    local auth, err = br.sign(t)
    assert.is_nil(auth)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    return err.message, err.option
  end
  -- br.sign(t), with change() run as the reading in C hands over to the
  -- refusal's words: what a finalizer may do between the read and the
  -- words.  The words are br.sign's own: a second load of the module, with
  -- core.signer wrapping them, makes a br.sign that runs `change` first.
  local change
  local watched_sign
  do
    local signer, loaded = core.signer, package.loaded["codearts.batchresult"]
    core.signer = function(words)
      return signer(function(...)
        change()
        return words(...)
      end)
    end
    package.loaded["codearts.batchresult"] = nil
    local ok, second = pcall(require, "codearts.batchresult")
    core.signer, package.loaded["codearts.batchresult"] = signer, loaded
    assert(ok, second)
    watched_sign = second.sign
  end
  local function sign_then(t, what)
    change = what
    return watched_sign(t)
  end

  -- The library's rule: tables are read raw, so one with a metatable is
  -- refused, rather than signed without what the metatable serves.
  it("refuses a table with a metatable, even one whose own fields are whole", function()
    local mt = { __index = full(), __pairs = function() return next, full(), nil end }
    local words = "sign's argument must be a plain table, got one with a metatable"
    assert.are.equal(1, refused(setmetatable({}, mt)):find(words, 1, true))
    assert.are.equal(1, refused(setmetatable(full(), mt)):find(words, 1, true))
  end)

  it("refuses headers with a metatable", function()
    local hidden = setmetatable({ Host = "h.example" }, { __index = H, __pairs = function() return next, H, nil end })
    local t = full()
    t.headers = hidden
    assert.truthy(refused(t):find("must be a plain table, got one with a metatable", 1, true))
  end)

  -- Every kind of bad field is worded as the field checks word it.
  it("words each bad field as before", function()
    local function with(k, v)
      local t = full()
      t[k] = v
      return t
    end
    assert.are.same({ "sign's argument must be a table, got number" }, { refused(12) })
    assert.are.same({ "sign's argument must be a table, got nil" }, { refused(nil) })
    assert.are.same({ "unknown sign field 'secret'", "secret" }, { refused(with("secret", "x")) })
    assert.are.same({ "unknown sign field 1", 1 }, { refused(with(1, "x")) })
    assert.are.same({ "sign field body must be a string, got number", "body" }, { refused(with("body", 12)) })
    assert.are.same({ "sign field headers must be a table, got string", "headers" },
      { refused(with("headers", "x")) })
    for _, k in ipairs({ "method", "path", "headers", "ak", "sk" }) do
      assert.are.same({ "sign: " .. k .. " is required" }, { refused(with(k, nil)) })
    end
    assert.are.same({ "sign: sk is empty" }, { refused(with("sk", "")) })
    -- white space alone is no key, as new() says of its sk (it was signed
    -- with, and redacted from the refusals: review); by new()'s reading,
    -- Lua's %s, where a NUL is none
    for _, sk in ipairs({ " ", "\t", " \t\r\n\v\f" }) do
      assert.are.same({ "sign: sk is only white space" }, { refused(with("sk", sk)) }, ("%q"):format(sk))
    end
    -- and a key holding CR, LF or NUL is refused, as new() refuses it: a
    -- key of NULs alone signed as the empty key, HMAC padding a key with
    -- NULs (review)
    for _, sk in ipairs({ "\0", "\0\0\0", " \0 ", "key\0", "a\rb", "a\nb" }) do
      assert.are.same({ "sign: sk must not contain CR, LF or NUL" }, { refused(with("sk", sk)) }, ("%q"):format(sk))
    end
    -- a key too short to redact is no key to a refusal's words either
    local short = with("headers", { ["X-Sdk-Date"] = "x" })
    short.sk = "e"
    assert.are.same({ "sign: header 'X-Sdk-Date': X-Sdk-Date is not YYYYMMDDTHHMMSSZ, a time that exists" },
      { refused(short) })
    assert.are.same({ 'sign: headers must map strings to strings, got "X" = number' },
      { refused(with("headers", { ["X-Sdk-Date"] = "20200101T000000Z", X = 1 })) })
    assert.are.same({ "sign: headers must map strings to strings, got a number key" },
      { refused(with("headers", { ["X-Sdk-Date"] = "20200101T000000Z", "v" })) })
    for _, ak in ipairs({ "A K", "A,K", "A\1K", "AK\127", "AK\200" }) do
      assert.are.same({ "sign: access key is empty or holds a space, comma, control or non-ASCII character" },
        { refused(with("ak", ak)) }, ("%q"):format(ak))
    end
    -- the shape, and a time that exists (it is UTC: no leap second)
    for _, date in ipairs({ "x", "99999999T999999Z", "20241301T000000Z", "20240231T000000Z", "20230229T000000Z",
                            "21000229T000000Z", "20240101T240000Z", "20240101T006000Z", "20240101T000060Z",
                            "20240100T000000Z" }) do
      assert.are.same({ "sign: header 'X-Sdk-Date': X-Sdk-Date is not YYYYMMDDTHHMMSSZ, a time that exists" },
        { refused(with("headers", { ["X-Sdk-Date"] = date })) }, date)
    end
    for _, date in ipairs({ "20240229T235959Z", "20000229T000000Z", "20241231T000000Z", "19700101T000000Z" }) do
      assert.is_string((br.sign(with("headers", { ["X-Sdk-Date"] = date }))), date)
    end
    -- A query in the path, a doubled '?', a fragment, or a control
    -- character (which ends or splits a request line) would be read apart
    -- from what was signed.
    for _, path in ipairs({ "", "p", "/p?a=1", "/p#f", "/v1/x HTTP/1.1\r\nX-Injected: 1\r\n\r\n/", "/a\0b",
                            "/a\tb", "/a\127b" }) do
      assert.are.same({ "sign: path does not start with '/', or holds '?', '#', a control character or a '%' not"
        .. " followed by two hex digits (give the query apart)" }, { refused(with("path", path)) }, path)
    end
    for _, query in ipairs({ "?a=1", "a=1#f", "a=1 HTTP/1.1\r\nX-Injected: 1", "a=\0", "a=\127" }) do
      assert.are.same({ "sign: query starts with '?', or holds '#', a control character or a '%' not followed by"
        .. " two hex digits (give what follows the '?')" }, { refused(with("query", query)) }, query)
    end
    -- a name with a NUL in it, named whole
    assert.are.same({ "sign: header 'Ho st': header name is not an HTTP token" },
      { refused(with("headers", { ["X-Sdk-Date"] = "20200101T000000Z", ["Ho\0st"] = "h" })) })
  end)

  it("quotes a refused header's name whole while a finalizer takes it out of the table", function()
    -- The quote allocates; a finalizer run then may drop the caller's last
    -- reference to the name (it read freed memory, and crashed 5.1 and
    -- LuaJIT).  In a fresh interpreter: a crash fails this, not the run.
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local headers, name, took, refusals = nil, nil, 0, 0
      require("spec.support.each_collection")(function()
        if headers and name and rawget(headers, name) then
          headers[name], name, took = nil, nil, took + 1
          collectgarbage("collect")
        end
      end)
      for i = 1, 8 do
        name = ("bad name %d "):format(i) .. ("n"):rep(1024 * 1024)
        local want = ("sign: header '%s"):format(name:sub(1, 200)) -- (the message is cut)
        headers = { Host = "h", ["X-Sdk-Date"] = "20240101T000000Z", [name] = "v" }
        local auth, err = br.sign { method = "POST", path = "/", headers = headers, ak = "AK", sk = "SK" }
        -- (signed when the finalizer took the header out before the read)
        if not auth then
          assert(err.code == "INVALID_ARGUMENT" and err.message:sub(1, #want) == want,
            "round " .. i .. ": " .. err.message:sub(1, 80))
          refusals = refusals + 1
        end
      end
      io.write("took ", took, " refused ", refusals)
    ]])
    assert.is_true(ok, out)
    assert.is_truthy(out:match("^took [1-9]%d* refused [1-9]"), out)
  end)

  -- The state's signing box, finalized by hand (debug) from a finalizer
  -- that ran as br.sign pushed its answer, freed the signer it was reading
  -- (review fixes47).  In a fresh interpreter: a crash fails this, not the run.
  it("signs whole while a finalizer finalizes the state's signing box by hand", function()
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      local box = debug.getregistry()["codearts.batchresult.state's algorithms"]
      local gc = debug.getmetatable(box).__gc
      local req = { method = "POST", path = "/v5/" .. ("p"):rep(2000), body = "{}", ak = "AK", sk = "SK",
                    headers = { Host = "h", ["X-Sdk-Date"] = "20240101T000000Z" } }
      local want, details = assert(br.sign(req))
      local inside, hit = false, false
      require("spec.support.each_collection")(function()
        if inside and not hit then hit = true; gc(box) end
      end)
      for _ = 1, 100000 do
        inside = true
        local auth, d = br.sign(req)
        inside = false
        if hit then
          assert(auth == want and d.canonical_request == details.canonical_request
            and d.string_to_sign == details.string_to_sign, "signed otherwise")
          break
        end
      end
      io.write(tostring(hit))
    ]])
    assert.is_true(ok, out)
    assert.are.equal("true", out)
  end)

  it("words a refusal from its one read of the table, whatever changes the table after it", function()
    -- It read the table again to word the refusal: a finalizer that took
    -- the bad field out in between made it "INVALID_ARGUMENT: nil".  Here
    -- that happens as the reading (in C) hands over to the words.
    local t = full()
    t.bogus = true
    local auth, err = sign_then(t, function() rawset(t, "bogus", nil) end)
    assert.is_nil(auth)
    assert.are.same({ "INVALID_ARGUMENT", "unknown sign field 'bogus'", "bogus" },
      { err.code, err.message, err.option })
  end)

  it("redacts the sk it read from a refusal, whatever changes the table after the read", function()
    -- It read t.sk again to redact the refusal: a finalizer that took it
    -- out in between left the SK quoted (a field named with it).
    local SK = "MySecretKeyValue1234"
    for _, bad in ipairs({ "field", "header" }) do
      local t = full()
      t.sk = SK
      if bad == "field" then t[SK] = 1 else t.headers = { [SK] = 1 } end
      local auth, err = sign_then(t, function() rawset(t, "sk", nil) end)
      assert.is_nil(auth)
      local said = err.message .. " " .. tostring(err.option)
      assert.is_nil(said:find(SK, 1, true), said)
      assert.truthy(said:find("[REDACTED]", 1, true), said)
    end
  end)

  -- br.sign keys HMAC itself for its one call; a client's signer keys
  -- OpenSSL's.  Keys longer than SHA-256's block are hashed first.
  it("signs as a client's signer does, whatever the key's length", function()
    for _, n in ipairs({ 1, 63, 64, 65, 200 }) do
      local t = full()
      t.sk = ("k"):rep(n - 1) .. "!"
      local auth, d = br.sign(t)
      local keyring = core.keyring(t.sk)
      assert.are.equal(keyring:sign("AK", "POST", "/p", "a=1", H, "{}"), auth, "key of " .. n)
      assert.are.equal(hex(digest.new("sha256"):final(d.canonical_request)), d.string_to_sign:match("\n(%x+)$"))
      keyring:close()
    end
  end)

  -- A key longer than 64 bytes signs as its SHA-256 (RFC 2104), which is
  -- as good as the key: once br.sign returns, no copy of it may be left,
  -- whether the request was signed or refused before its digest was taken.
  it("leaves no hash of a long key behind, signing or refusing", function()
    local memscan = require("spec.support.clib")("memscan")
    local sk = ("k"):rep(30) .. ("0123456789"):rep(5)
    local p = io.popen("printf %s '" .. sk .. "' | openssl dgst -sha256 -r")
    local digest_hex = assert(p:read("*a"):match("^(%x+)"))
    p:close()
    -- As the SHA-256 state holds it: eight 32-bit words, little-endian
    -- (x86-64, arm64), looked for in two halves so that no Lua string
    -- here holds it whole.
    local function words(h)
      return (h:gsub("(%x%x)(%x%x)(%x%x)(%x%x)", function(a, b, c, d)
        return string.char(tonumber(d, 16), tonumber(c, 16), tonumber(b, 16), tonumber(a, 16))
      end))
    end
    local first, second = words(digest_hex:sub(1, 32)), words(digest_hex:sub(33))
    assert.are.equal(0, memscan.count(first, second), "found before any signing")
    for _, ak in ipairs({ "bad ak", "AK" }) do
      local t = full()
      t.sk, t.ak = sk, ak
      local auth = br.sign(t)
      assert.are.equal(ak == "AK", auth ~= nil)
      assert.are.equal(0, memscan.count(first, second), "left after br.sign with the ak " .. ak)
    end
  end)
end)

describe("signers reused across calls", function()
  local core = require "codearts.batchresult.core"

  -- A signer keeps the hash state of the canonical request up to the
  -- X-Sdk-Date line between calls (a client's, and the one br.sign keeps
  -- per Lua state); every signature must still equal that of a fresh
  -- signer, whether the prefix stayed the same or not.
  local function headers(date, host)
    return { Host = host, ["X-Sdk-Date"] = date, ["Content-Type"] = "application/json", ["X-Project-Id"] = "p" }
  end
  local calls = {
    { "/v5/p/api/pipelines/batch-runs/result", "", headers("20250101T000000Z", "a.example"), "{}" },
    { "/v5/p/api/pipelines/batch-runs/result", "", headers("20250101T000001Z", "a.example"), "{\"x\":1}" },
    { "/v5/p/api/pipelines/batch-runs/result", "", headers("20250101T000002Z", "b.example"), "{}" },
    { "/v5/q/api/pipelines/batch-runs", "a=1", headers("20250101T000003Z", "b.example"), "{}" },
    { "/v5/q/api/pipelines/batch-runs", "a=1", headers("20250101T000004Z", "b.example"), "{}" },
  }

  it("a client's signer signs each request as a fresh one would", function()
    local reused = core.keyring("reused-secret")
    for i, call in ipairs(calls) do
      local fresh = core.keyring("reused-secret")
      local want = assert(fresh:sign("AK", "POST", call[1], call[2], call[3], call[4]))
      assert.are.equal(want, (reused:sign("AK", "POST", call[1], call[2], call[3], call[4])), "call " .. i)
    end
  end)

  it("br.sign's signer signs each request, under another key each time, as a fresh one would", function()
    for round = 1, 2 do
      for i, call in ipairs(calls) do
        local sk = ("k"):rep(i * 20 + round) -- some keys longer than SHA-256's block
        local fresh = core.keyring(sk)
        local want = assert(fresh:sign("AK", "POST", call[1], call[2], call[3], call[4]))
        local auth, details = br.sign { method = "POST", path = call[1], query = call[2], headers = call[3],
                                        body = call[4], ak = "AK", sk = sk }
        assert.are.equal(want, auth, "call " .. i .. ", round " .. round)
        assert.are.equal(hex(digest.new("sha256"):final(details.canonical_request)),
          details.string_to_sign:match("\n(%x+)$"))
        fresh:close()
      end
    end
  end)
end)

describe("fuzzing regressions", function()
  -- fuzz/regressions/canonical/leak-long-plain-path: a plain path longer
  -- than the signer's stack buffer leaked its heap copy (found by libFuzzer
  -- with LeakSanitizer).  Under valgrind or ASan the leak shows; here the
  -- signature must also be right.
  it("signs a long path that needs no encoding", function()
    local path = "/" .. ("a"):rep(2000)
    local auth, d = br.sign { method = "GET", path = path, headers = { ["X-Sdk-Date"] = "20200101T000000Z" },
                              ak = "AK", sk = "SK" }
    assert.truthy(auth)
    assert.are.equal(path .. "/", d.canonical_request:match("^GET\n([^\n]*)\n"))
    local _, d2 = br.sign { method = "GET", path = path .. "%20", headers = { ["X-Sdk-Date"] = "20200101T000000Z" },
                            ak = "AK", sk = "SK" }
    assert.are.equal(path .. "%20/", d2.canonical_request:match("^GET\n([^\n]*)\n"))
  end)
end)
