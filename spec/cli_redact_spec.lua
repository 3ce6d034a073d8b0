-- The command-line tool's redactor (cli/output.lua) decides for all of a
-- call's texts at once whether any holds a secret, from one redaction of
-- their join (Redactor:leaves), and redacts them one by one only then.
-- These hold that shortcut to the redaction of each text alone, with a
-- real client's redaction: it never finds nothing to hide where one text
-- holds a secret, in any form, whatever the texts beside it.
local br = require "codearts.batchresult"
local output = require "codearts.batchresult.cli.output"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"

-- A token with a space, a backslash and a quote, a "?", a slash, a byte
-- past ASCII and U+FFFD: each has forms of its own (a "+", an escape, %XX,
-- Latin-1), and a text without the secret may show it: the tool's JSON
-- writes a bare quote as \", a terminal a control character as "?", the
-- table a byte of ill-formed UTF-8 as U+FFFD.
local TOKEN = 'tok en\\"?/\195\169\239\191\189-value-0123456789'
-- One whose every run of 8 bytes (the shortest that counts) holds such a
-- character: a text holding only its forms that a display step changes
-- holds no 8 bytes of it as they are.
local SPLIT_TOKEN = 'abc"efg\239\191\189hij?lmn'

--- The forms a server may write s in, whole or as a piece.
local function forms(s)
  return {
    s,
    (s:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)),
    (s:gsub('[\\"/]', "\\%0")),
    (s:gsub(".", function(c) return ("\\u%04x"):format(c:byte()) end)),
    (s:gsub(" ", "+")),
    (s:gsub(" ", "\t")),
    (s:gsub(" ", "\r\n")),
    (s:gsub('\\"', '"')),
    (s:gsub("%?", "\127")),
    (s:gsub("\239\191\189", "\255")),
  }
end

--- Pieces of text to build texts from: forms of the secret and of its
-- first and last 8 bytes (the shortest run that counts), pieces too short
-- to count, the starts of escapes and of UTF-8 sequences, controls, and
-- words.
local function pieces_of(secret)
  local list = { "", "a", "word", "START_FAILED", "%", "%3", "\\", "\\u00", "\\uD83D", "\194", "\195",
    "\226\128", "\t", "\r\n\r\n\r\n", "\255", "f", "+", secret:sub(1, 7), secret:sub(-7) }
  for _, s in ipairs({ secret, secret:sub(1, 8), secret:sub(-8), secret:sub(3, 12) }) do
    for _, f in ipairs(forms(s)) do
      list[#list + 1] = f
      list[#list + 1] = f:sub(1, math.floor(#f / 2))
      list[#list + 1] = f:sub(math.floor(#f / 2) + 1)
    end
  end
  return list
end

--- A random list of 1 to 6 texts, each up to 3 random pieces.
local function random_texts(pieces, random)
  local texts = {}
  for i = 1, random(6) do
    local parts = {}
    for j = 1, random(0, 3) do parts[j] = pieces[random(#pieces)] end
    texts[i] = table.concat(parts)
  end
  return texts
end

--- Checks the shortcut on n random lists of texts for client: where it
-- finds nothing to hide, each text redacted alone is as it was; and
-- redact_all gives what redacting each alone gives.  Returns how often
-- each way was taken.
local function check(client, pieces, n)
  local random = math.random
  local left, redacted = 0, 0
  for _ = 1, n do
    local texts = random_texts(pieces, random)
    local alone = output.redactor(client)
    local said, all_as_they_were = {}, true
    for i, s in ipairs(texts) do
      said[i] = alone(s)
      all_as_they_were = all_as_they_were and said[i] == s
    end
    if output.redactor(client):leaves(texts) then
      left = left + 1
      assert(all_as_they_were, "the shortcut missed a secret in: " .. table.concat(texts, " | "))
    else
      redacted = redacted + 1
    end
    local t = {}
    for i, s in ipairs(texts) do t[i] = s end
    assert.are.same(said, output.redact_all(t, output.redactor(client)))
  end
  return left, redacted
end

describe("the command-line tool's redactor", function()
  local seed
  before_each(function()
    seed = os.time()
    math.randomseed(seed)
  end)

  -- What the shortcut and the JSON writer take for text no display step
  -- changes (core.plain_text, eight bytes at a time): printable ASCII but
  -- the quote and the backslash, as Lua's pattern says, whichever byte
  -- stands wherever in a word or in the bytes after the last.
  it("takes for plain text only printable ASCII without a quote or a backslash", function()
    local plain_text = require("codearts.batchresult.core").plain_text
    local function pattern(s) return s:find("^[]-~ !#-[]*$") ~= nil end -- ("]" first in a set is itself)
    for b = 0, 255 do
      local c = string.char(b)
      for len = 1, 19 do
        for at = 1, len do
          local s = ("a"):rep(at - 1) .. c .. ("z"):rep(len - at)
          assert(plain_text(s) == pattern(s), ("byte %d at %d of %d"):format(b, at, len))
        end
      end
    end
    assert.is_true(plain_text(""))
    for _ = 1, 2000 do
      local bytes = {}
      for i = 1, math.random(0, 40) do
        bytes[i] = math.random(0, 9) == 0 and math.random(0, 255) or math.random(32, 126)
      end
      local s = string.char((table.unpack or unpack)(bytes))
      assert(plain_text(s) == pattern(s), ("seed %d: %q"):format(seed, s))
    end
  end)

  -- core.texts_joined gathers in C what redact_all's Lua walk (texts_of)
  -- gathers: each string value, the texts of each table value, and each
  -- string key that is no API field name, in pairs' order.
  it("joins in C the texts the Lua walk finds, in the same order", function()
    local texts_joined = require("codearts.batchresult.core").texts_joined
    local skip = { pipeline_id = true, status = true }
    local keys = { "pipeline_id", "status", "extra", "x", 1, 2, 3, 2.5, true }
    local function random_table(depth)
      local t = {}
      for _ = 1, math.random(0, 6) do
        local k, v = keys[math.random(#keys)], math.random(0, 4)
        if v == 0 and depth < 4 then v = random_table(depth + 1)
        elseif v == 1 then v = 42
        elseif v == 2 then v = false
        else v = ("s"):rep(math.random(0, 3)) .. math.random(99) end
        t[k] = v
      end
      return t
    end
    local function walk(t, out)
      for k, x in pairs(t) do
        if type(x) == "string" then out[#out + 1] = x
        elseif type(x) == "table" then walk(x, out) end
        if type(k) == "string" and not skip[k] then out[#out + 1] = k end
      end
      return out
    end
    for _ = 1, 2000 do
      local t = random_table(0)
      assert.are.equal(table.concat(walk(t, {}), "!"), texts_joined(t, skip, "!"))
    end
    assert.are.equal("", texts_joined({}, skip, "!"))
  end)

  it("leaves to the Lua walk a table with __pairs or nested deeper than 64, and redacts it all the same", function()
    local texts_joined = require("codearts.batchresult.core").texts_joined
    local client = assert(br.new { endpoint = "https://127.0.0.1:9", project_id = model.seed_project, token = TOKEN })
    finally(function() client:close() end)
    local deep = { reason = "x " .. TOKEN }
    for _ = 1, 70 do deep = { deep } end
    local with_pairs = { { reason = TOKEN } }
    setmetatable(with_pairs[1], { __pairs = function(t) return next, t, nil end })
    for _, t in ipairs({ deep, with_pairs }) do
      assert.are.same({}, { texts_joined(t, {}, "!") })
      local shown = output.redact_all(t, output.redactor(client))
      while #shown == 1 do shown = shown[1] end
      assert.is_nil(shown.reason:find(TOKEN, 1, true))
      assert.is_truthy(shown.reason:find("[REDACTED]", 1, true))
    end
    assert.are.equal("a", texts_joined({ { { "a" } } }, {}, "!"))
  end)

  -- CSV quotes a field that holds a comma, plain or not: the quote it
  -- adds may complete a run of 8 bytes of a secret that holds one, as it
  -- does for a text with a tab beside the comma; the shortcut for plain
  -- text must not leave the one it redacts in the other.
  it("redacts a plain text with a comma whose CSV quoting shows a secret, as one with a tab", function()
    local client = assert(br.new { endpoint = "https://127.0.0.1:9", project_id = model.seed_project,
                                   token = 'Q"abcdefg"QQQQQQQQQQQQ' })
    finally(function() client:close() end)
    for _, s in ipairs({ "abcdefg,\t", "abcdefg,1", "x,abcdefg" }) do
      assert.are.equal("[REDACTED]", (output.redactor(client)(s)), s)
      assert.is_false(output.redactor(client):leaves({ "a", s }), s)
    end
    assert.is_true(output.redactor(client):leaves({ "abcdefg", "a,b" }))
  end)

  it("finds every secret of a token client's in texts joined, whatever stands beside it", function()
    for _, token in ipairs({ TOKEN, SPLIT_TOKEN }) do
      local client = assert(br.new { endpoint = "https://127.0.0.1:9", project_id = model.seed_project, token = token })
      local left, redacted = check(client, pieces_of(token), 3000)
      client:close()
      -- (both ways are taken, each often: the check means something)
      assert.is_true(left > 300 and redacted > 300, ("seed %d: %d left, %d redacted"):format(seed, left, redacted))
    end
  end)

  -- A redaction that failed gives only the client's words, "(not shown:
  -- out of memory)" or "(not shown: the client was closed)", whole, and
  -- the field whose name it is is left out; a server's own name that
  -- starts so and holds a secret is a name redacted, shown.
  it("keeps a field whose name a server began with \"(not shown: \", redacted", function()
    local client = assert(br.new { endpoint = "https://127.0.0.1:9", project_id = model.seed_project, token = TOKEN })
    local t = { { ["(not shown: " .. TOKEN .. ")"] = "x", ["(not shown: out of memory)"] = "y" } }
    local said, failed = output.redactor(client)("(not shown: " .. TOKEN .. ")")
    assert.are.same({ "(not shown: [REDACTED])", false }, { said, failed })
    assert.are.same({ { ["(not shown: [REDACTED])"] = "x", ["(not shown: out of memory)"] = "y" } },
      output.redact_all(t, output.redactor(client)))
    client:close()
  end)

  it("finds the signature of a request the client sent, in any form, whatever stands beside it", function()
    local server = standin.start()
    finally(function() server:stop() end)
    server:config { echo_authorization = true }
    local p = model.credentials.permanent
    local client = assert(br.new { endpoint = server.url, project_id = model.seed_project, ak = p.ak, sk = p.sk })
    local results = assert(client:query(model.seed_query))
    local echo = results[1].request_authorization
    local signature = assert(echo:match("Signature=(%x+)"), echo)
    assert.are.equal(64, #signature)
    -- The results as the server sent them: each echo is found.
    local texts = {}
    for i, r in ipairs(results) do texts[i] = r.request_authorization end
    assert.is_false(output.redactor(client):leaves(texts))
    local shown = output.redact_all(results, output.redactor(client))
    for _, r in ipairs(shown) do
      assert.is_nil(r.request_authorization:find(("%x"):rep(64)), r.request_authorization)
    end
    -- A signature only counts whole: its halves are no secret, and the
    -- shortcut is taken.
    local pieces = pieces_of(signature)
    for _, s in ipairs({ signature, signature:upper() }) do
      for _, f in ipairs(forms(s)) do pieces[#pieces + 1] = f end
    end
    local left, redacted = check(client, pieces, 2000)
    client:close()
    assert.is_true(left > 200 and redacted > 200, ("seed %d: %d left, %d redacted"):format(seed, left, redacted))
  end)
end)
