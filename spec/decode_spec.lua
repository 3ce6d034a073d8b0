-- br.decode: answer bodies into result tables, and an answer that is an
-- error into the client's error for it.
local br = require "codearts.batchresult"
local standin = require "spec.support.standin"
local model = require "spec.standin.model"
local child = require "spec.support.child"

-- The reference page's example response, as documented (on one line, as the page has it).
-- luacheck: push no max line length
local EXAMPLE = [[{ "result" : [ { "pipeline_id" : "6ba9a2dbc7024c22a9a6614516dc22db", "pipeline_name" : "Pipeline 1", "pipeline_run_id" : "e41fe3981361476eb6dad17ad98c683c", "status" : "START_FAILED", "reason" : "Current pipeline is banned." }, { "pipeline_id" : "d7013d2402ff4cc88489ee5af324e049", "pipeline_name" : "Pipeline 2", "pipeline_run_id" : "3d8143d197dd4fa5b23f20ee39179af3", "status" : "START_SUCCESS", "reason" : null }, { "pipeline_id" : "2eb1fc4d750546b3bbc2566a7cf34d5b", "pipeline_name" : "Pipeline 3", "pipeline_run_id" : "ba15657cb88d46deb9e17f203a061f21", "status" : "START_SUCCESS", "reason" : null }, { "pipeline_id" : "cce81e5f7e604b609172aafcae73c025", "pipeline_name" : "Pipeline 4", "pipeline_run_id" : "73861d5a72e6417a81abb1baba1a8d16", "status" : "START_FAILED", "reason" : "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." }, { "pipeline_id" : "1d5107b3cd4746a3a03efef83b9e4e45", "pipeline_name" : "Pipeline 5", "pipeline_run_id" : "f68aa7ca562f4f31bfbb63628de0e2cd", "status" : "START_FAILED", "reason" : "The change request pipeline can not batch run." }, { "pipeline_id" : "70aa57009b0d433587b58faf05e4fd7f", "pipeline_name" : "Pipeline 6", "pipeline_run_id" : "cd96020f0e2748048a6b4d1a15091c9b", "status" : "START_SUCCESS", "reason" : null } ] }]]
-- luacheck: pop

local function decode_error(body)
  local results, err = br.decode(body)
  assert.is_nil(results)
  assert.are.equal("DECODE", err.code)
  return err.message
end

describe("br.decode", function()
  it("decodes the reference example in order, nulls absent", function()
    local r = assert(br.decode(EXAMPLE))
    assert.are.equal(6, #r)
    assert.are.same({ pipeline_id = "6ba9a2dbc7024c22a9a6614516dc22db", pipeline_name = "Pipeline 1",
                      pipeline_run_id = "e41fe3981361476eb6dad17ad98c683c", status = "START_FAILED",
                      reason = "Current pipeline is banned." }, r[1])
    assert.are.same({ pipeline_id = "d7013d2402ff4cc88489ee5af324e049", pipeline_name = "Pipeline 2",
                      pipeline_run_id = "3d8143d197dd4fa5b23f20ee39179af3", status = "START_SUCCESS" }, r[2])
    assert.is_nil(r[2].reason)
    for i, name in ipairs({ "Pipeline 1", "Pipeline 2", "Pipeline 3", "Pipeline 4", "Pipeline 5", "Pipeline 6" }) do
      assert.are.equal(name, r[i].pipeline_name)
    end
    assert.are.equal("The change request pipeline can not batch run.", r[5].reason)
  end)

  it("keeps fields the API may add later, of any JSON type", function()
    local r = assert(br.decode([[{"result":[{"pipeline_id":"a","pipeline_run_id":"b",
      "build_no":42,"ratio":0.5,"ok":true,"tags":["x",null,"y"],"meta":{"k":"v","gone":null}}],"page":1}]]))
    assert.are.equal(42, r[1].build_no)
    assert.are.equal(0.5, r[1].ratio)
    assert.is_true(r[1].ok)
    assert.are.equal(3, #r[1].tags)
    assert.are.equal(br.null, r[1].tags[2])
    assert.are.same({ k = "v" }, r[1].meta)
  end)

  it("decodes escapes and UTF-8", function()
    local r = assert(br.decode(
      [[{"result":[{"pipeline_id":"a","pipeline_run_id":"b","pipeline_name":"\u6d41\u6c34\u7ebf \"q\"\n"}]}]]))
    assert.are.equal("流水线 \"q\"\n", r[1].pipeline_name)
  end)

  it("returns an empty array for an empty result", function()
    local r = assert(br.decode('{"result":[]}'))
    assert.are.equal(0, #r)
  end)

  it("says where invalid JSON breaks", function()
    -- The stray comma is byte 30; cJSON notices a little after it.
    local at = tonumber(decode_error('{"result":[{"pipeline_id":"a",}]}'):match("near byte (%d+) of 33"))
    assert.is_true(at >= 30 and at <= 33)
    assert.truthy(decode_error('{"result":[{"pipeline_id":"a"'):find("ends early", 1, true))
    assert.truthy(decode_error('{"result":[{"pipeline_id":"a\\'):find("ends early", 1, true))
    assert.truthy(decode_error('{"result":[]} trailing'):find("trailing", 1, true))
    assert.truthy(decode_error(''):find("empty", 1, true))
  end)

  -- A closer was counted against any opener, so a whole body with a ']'
  -- where '}' closes said it ended early, naming no place (review).
  it("names the closer of the wrong kind, or with nothing open, where a body that ends early was said", function()
    local id = "6ba9a2dbc7024c22a9a6614516dc22db"
    assert.are.equal("invalid JSON near byte 61 of 62", decode_error('{"result":[{"pipeline_id":"' .. id .. '"]}'))
    assert.are.equal("invalid JSON near byte 17 of 17", decode_error('{"a":1,"b":[1,2,}'))
    assert.are.equal("invalid JSON near byte 1 of 12", decode_error(']{"result":['))
    -- brackets in strings are no brackets; each closed by its own kind, the rest open
    local open = '{"result":[{"a":[1]},{"b":{}},"]}"'
    assert.are.equal("invalid JSON: the body ends early, after " .. #open .. " bytes", decode_error(open))
    -- at every depth up to cJSON's, where each level's kind is kept
    local deep = '{"result":[],"x":' .. ('[{"k":'):rep(499) .. "["
    assert.truthy(decode_error(deep):find("ends early", 1, true))
    assert.truthy(decode_error(deep .. "]}"):find("ends early", 1, true))
    assert.are.equal("invalid JSON near byte " .. (#deep + 1) .. " of " .. (#deep + 1), decode_error(deep .. "}"))
    assert.are.equal("invalid JSON near byte " .. (#deep + 2) .. " of " .. (#deep + 2), decode_error(deep .. "]]"))
  end)

  -- Brackets still open at the end made any failure "ends early", though
  -- cJSON stopped well before it (fixes review).
  it("says a body ends early only when what follows where cJSON stopped is what a cut leaves", function()
    assert.are.equal("invalid JSON near byte 19 of 22", decode_error('{"pipeline_runs":[x, ['))
    assert.are.equal("invalid JSON near byte 7 of 13", decode_error('{"a":[x, "abc'))
    -- cut in a number, a literal, a string (an escape too), after a comma,
    -- a name, or white space
    for _, body in ipairs({ '{"a":[1,2', '{"a":tr', '{"a":{"b":nul', '{"a":"abc', '{"a":"ab\\', '{"a":[1,2,',
                            '{"a"', '{"a":[1,2] ', '{"a":["x",' }) do
      assert.are.equal("invalid JSON: the body ends early, after " .. #body .. " bytes", decode_error(body), body)
    end
  end)

  -- Only bracket kinds and what followed cJSON's stop were checked, so a
  -- missing comma with a bracket open was "ends early"; and a cut inside a
  -- number was "a malformed number" (review: 943 of 105,000 bodies).
  it("says a body ends early exactly when JSON's grammar could go on from its last byte", function()
    local function ends_early(body)
      assert.are.equal("invalid JSON: the body ends early, after " .. #body .. " bytes", decode_error(body), body)
    end
    -- every proper prefix of the reference answer, of one with every kind
    -- of token, escapes and white space in it (all white space at the
    -- start: a prefix of a text yet to come), and of one after a UTF-8 byte
    -- order mark, which cJSON skips
    local tokens = ' \t\r\n{ "result" :\t[ {"pipeline_id":"a","pipeline_run_id":"b",\r\n'
      .. '"n":[-0.5e+10,0,12.25E-3,7,-0,1e5],"t":true,"f":false,"z":null,'
      .. '"s":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t","o":{"k":[[],{}, [ { } ],[ ]]}} ] }'
    for _, body in ipairs({ EXAMPLE, tokens, "\239\187\191" .. EXAMPLE }) do
      assert(br.decode(body .. " \r\n"))
      for k = 1, #body - 1 do ends_early(body:sub(1, k)) end
    end
    -- a top-level value cut short too; a whole one is no object
    for _, body in ipairs({ "tru", "fals", "n", '"abc', '"\\u00', "-", "-0.", "1e", "1e+", "[", "{", '{"' }) do
      ends_early(body)
    end
    -- (after a byte order mark too: cJSON skips one only in a body of 5
    -- bytes or more, and one shorter was said to run memory out: review
    -- fixes46)
    for _, body in ipairs({ "-0", "1", "true", '"abc"', "\239\187\1910", "\239\187\19112" }) do
      assert.are.equal("body is not a JSON object", decode_error(body))
    end
  end)

  it("names the byte of a body malformed with brackets still open, or in a number, not a cut", function()
    -- where cJSON stopped, from 1
    local near = { ["[1 2"] = 4, ["[true false"] = 7, ['{"a":1 "b":2'] = 8, ['{"a":1 "b"'] = 8, ["[1,2 3"] = 6,
                   ['{"a":[1]]'] = 9, ['{"a" 1}'] = 6, ["[1,]"] = 4, ["{,}"] = 3, ['["a\\x"'] = 4, ['{"a":tx'] = 6,
                   ['{"a":[1}'] = 8, ['{"a":1,}'] = 8, ['{"a":{]'] = 7, ["\239\187{}"] = 1 }
    for body, at in pairs(near) do
      assert.are.equal(("invalid JSON near byte %d of %d"):format(at, #body), decode_error(body), body)
    end
    -- a leading zero, a dot with no digit after it: no JSON text goes on
    for body, at in pairs({ ["[01"] = 2, ['{"a":1.e5'] = 6, ["[--"] = 2, ["[1.5."] = 2 }) do
      assert.are.equal(("invalid JSON at byte %d of %d: a malformed number"):format(at, #body), decode_error(body))
    end
    -- a control character in a string that is still open is one
    assert.are.equal('invalid JSON at byte 7 of 7: a control character inside a string', decode_error('{"a":"\1'))
  end)

  it("says when valid JSON nests deeper than cJSON goes (1000 levels), and where", function()
    local function nested(n) return '{"result":[],"x":' .. ("["):rep(n) .. ("]"):rep(n) .. "}" end
    assert.are.equal(0, #assert(br.decode(nested(999)))) -- with the object around them, 1000 levels
    assert.are.equal("JSON nested more than 1000 deep, at byte 1017 of 2018", decode_error(nested(1000)))
  end)

  it("refuses a NUL character, which would cut a string short, and nothing else like it", function()
    local id = ("a"):rep(32)
    local function body(run_id)
      return '{"result":[{"pipeline_id":"' .. id .. '","pipeline_run_id":"' .. run_id .. '"}]}'
    end
    -- \u0000 escaped, a NUL byte, and \u0000 after an escaped backslash
    assert.truthy(decode_error(body(id .. "\\u0000zz")):find("at byte 113 of 124: a NUL character", 1, true))
    assert.truthy(decode_error(body("a\0b")):find("at byte 82 of 87: a NUL character", 1, true))
    assert.truthy(decode_error(body("a\\\\\\u0000b")):find("NUL character", 1, true))
    -- a backslash escaped, then the text u0000; and other control characters
    assert.are.equal("a\\u0000b", assert(br.decode(body("a\\\\u0000b")))[1].pipeline_run_id)
    assert.are.equal("a\1b", assert(br.decode(body("a\\u0001b")))[1].pipeline_run_id)
    -- a \u without four hex digits, which cJSON reads as \u0000: refused
    -- wherever it is, also where it would cut a string to a valid id
    for _, bad in ipairs({ "\\uZZZZ", "\\u12G4", "\\u-123", "\\u 123" }) do
      assert.truthy(decode_error(body(id .. bad .. "-x")):find("at byte 113 of " .. (#body(id .. bad .. "-x"))
        .. ": a \\u escape without four hex digits", 1, true), bad)
    end
    assert.are.equal("a\195\169", assert(br.decode(body("a\\u00E9")))[1].pipeline_run_id)
  end)

  it("reads a lone UTF-16 surrogate escape as U+FFFD, in values and names, and keeps the batch", function()
    local FFFD, GRIN = "\239\191\189", "\240\159\152\128" -- U+FFFD and U+1F600 in UTF-8
    local function body(name, extra)
      return '{"result":[{"pipeline_id":"a","pipeline_run_id":"b","pipeline_name":"' .. name .. '"' .. (extra or "")
        .. '},{"pipeline_id":"c","pipeline_run_id":"d"}]}'
    end
    local cases = {
      { [[build \ud83d!]], "build " .. FFFD .. "!" }, -- a high half, then no escape
      { [[build \ud83d]], "build " .. FFFD }, -- a high half at the end of the string
      { [[\ud83d\ud83d\ude00]], FFFD .. GRIN }, -- a high half, then a pair
      { [[\uD83D\u00e9]], FFFD .. "\195\169" }, -- a high half, then a \u that is no low half
      { [[\ud83d\n]], FFFD .. "\n" }, -- a high half, then another escape
      { [[\ud83d\\ude00]], FFFD .. "\\ude00" }, -- a high half, then an escaped backslash
      { [[x\ude00]], "x" .. FFFD }, -- a lone low half
      { [[\uDE00\uD83D]], FFFD .. FFFD }, -- the halves the wrong way round
      { [[\ud83d\ude00\udE00]], GRIN .. FFFD }, -- a pair, then a low half
      { [[\ud83d\ude00 \uD83D\uDE00]], GRIN .. " " .. GRIN }, -- pairs stay as they are
    }
    for _, case in ipairs(cases) do
      local r = assert(br.decode(body(case[1])))
      assert.are.same({ "a", "b", case[2] }, { r[1].pipeline_id, r[1].pipeline_run_id, r[1].pipeline_name })
      assert.are.same({ "c", "d" }, { r[2].pipeline_id, r[2].pipeline_run_id })
    end
    -- in a member name, the top level's too; names are then compared decoded
    local r = assert(br.decode('{"x\\udbff":1,' .. body("n", [[,"\ud800y":2,"z\udc00":3]]):sub(2)))
    assert.are.same({ 2, 3 }, { r[1][FFFD .. "y"], r[1]["z" .. FFFD] })
    assert.are.equal("result[1] names the member of 4 bytes twice",
      decode_error(body("n", [[,"\ud800y":2,"\uFFFDy":3]])))
    assert.are.equal("the body names the member of 4 bytes twice",
      decode_error('{"\\ud800y":1,"\\udfffy":2,' .. body("n"):sub(2)))
  end)

  it("names the same bytes in a body with a lone surrogate as in one without", function()
    -- each body twice: with a lone surrogate, and with \uFFFD in its place
    local function same(text)
      local lone, mended = decode_error(text:format([[\ud83d]])), decode_error(text:format([[\uFFFD]]))
      assert.are.equal(mended, lone)
      return lone
    end
    for k = 0, 17 do -- wherever it falls in the scan's eight-byte words
      local pad = ("a"):rep(k)
      assert.truthy(same('{"result":[],"x":"' .. pad .. '%s\1"}'):find("at byte " .. (25 + k), 1, true))
      assert.truthy(same('{"result":[],"x":"' .. pad .. '%s\\u0000"}'):find("at byte " .. (25 + k), 1, true))
      assert.truthy(same('{"result":[],"x":"' .. pad .. '%s",}'):find("near byte", 1, true))
      assert.truthy(same('{"result":[],"x":"' .. pad .. '%s"} x'):find("trailing data at byte " .. (28 + k), 1, true))
      assert.truthy(same('{"result":[],"x":"' .. pad .. '%s\\ude'):find("ends early", 1, true))
    end
  end)

  it("refuses what RFC 8259 refuses and cJSON would take, naming the byte", function()
    local function refused(text, why, at)
      local msg = decode_error(text)
      assert.truthy(msg:find(("invalid JSON at byte %d of %d: %s"):format(at, #text, why), 1, true), msg)
    end
    local function ok(extra) return assert(br.decode('{"result":[],"x":' .. extra .. '}')) end
    refused('{"result":[{"pipeline_id":"a\1b","pipeline_run_id":"b"}]}', "a control character inside a string", 29)
    refused('{"result":[{"pipeline_id":"a\tb","pipeline_run_id":"b"}]}', "a control character inside a string", 29)
    refused('\v{"result":[]}', "a control character outside a string", 1)
    refused('{"result":[]}\1', "a control character outside a string", 14)
    -- a NUL byte between tokens is no string's: said as what it is (it was
    -- "a NUL character, which no string from it can carry")
    refused('{"result":[]}\0', "a NUL character outside a string", 14)
    refused('\0{"result":[]}', "a NUL character outside a string", 1)
    assert.is_nil(decode_error('{"result":[]} \0'):find("string from it", 1, true))
    for _, n in ipairs { "012", "1.", "-", "1.e5", "1e", "1e+", "-01", ".5", "1.5.2", "00" } do
      local text = '{"result":[],"x":' .. n .. '}'
      local msg = decode_error(text)
      assert.truthy(msg:find("invalid JSON", 1, true), n .. ": " .. msg)
    end
    refused('{"result":[],"x":012}', "a malformed number", 18)
    -- wherever it falls in a long string (the scan reads eight bytes at a
    -- time), and a body that ends in a string, or in its escape
    for k = 0, 24 do
      for _, tail in ipairs({ "", "\\", "\\u00" }) do
        local msg = decode_error('{"result":[],"x":"' .. ("a"):rep(k) .. tail)
        assert.truthy(msg:find("ends early", 1, true), msg)
      end
    end
    for k = 1, 24 do
      local text = '{"result":[],"x":"' .. ("a"):rep(k) .. "\31" .. ("b"):rep(30) .. '"}'
      refused(text, "a control character inside a string", 18 + k + 1)
      text = '{"result":[],"x":"' .. ("a"):rep(k) .. '\\"\\\\' .. ("b"):rep(k) .. '\\u00e9"}'
      assert.are.same({}, assert(br.decode(text)))
    end
    -- what RFC 8259 allows, cJSON's white space among it
    for _, n in ipairs { "0", "-0", "10", "1.5", "-1.5e10", "1E+2", "2e-3", "0.0" } do ok(n) end
    ok('"tab\\t, \\u001f and \\u007f escaped, DEL \127 as it is"')
    assert(br.decode(' \t\r\n{"result":[]}\r\n'))
  end)

  it("decodes members in any order, a null before the others among them, call after call", function()
    -- Alphabetical, as many encoders write them: reason (null) comes first
    -- in the first result, a string in the second.
    local body = '{"result":[{"pipeline_id":"p1","pipeline_name":"one","pipeline_run_id":"r1","reason":null,'
      .. '"status":"START_SUCCESS"},{"pipeline_id":"p2","pipeline_name":"two","pipeline_run_id":"r2",'
      .. '"reason":"banned","status":"START_FAILED"}]}'
    local want = {
      { pipeline_id = "p1", pipeline_name = "one", pipeline_run_id = "r1", status = "START_SUCCESS" },
      { pipeline_id = "p2", pipeline_name = "two", pipeline_run_id = "r2", reason = "banned", status = "START_FAILED" },
    }
    for _ = 1, 50 do
      local got = assert(br.decode(body))
      assert.are.same(want[1], { pipeline_id = got[1].pipeline_id, pipeline_name = got[1].pipeline_name,
        pipeline_run_id = got[1].pipeline_run_id, reason = got[1].reason, status = got[1].status })
      assert.are.same(want[2], { pipeline_id = got[2].pipeline_id, pipeline_name = got[2].pipeline_name,
        pipeline_run_id = got[2].pipeline_run_id, reason = got[2].reason, status = got[2].status })
    end
  end)

  -- cJSON reads every number as a double; README says what comes back
  -- (review: -0 came back as the integer 0 on 5.3 and later).
  it("gives numbers as README says: doubles, whole ones as integers on 5.3+, -0 as -0.0", function()
    local body = '{"result":[{"pipeline_id":"p","pipeline_run_id":"r","big":9007199254740993,"huge":1e400,'
      .. '"one":1.0,"neg_zero":-0,"neg_zero_f":-0.0,"half":0.5}]}'
    local r = assert(br.decode(body))[1]
    assert.are.equal(9007199254740992, r.big)
    assert.are.equal(math.huge, r.huge)
    assert.are.equal(0.5, r.half)
    assert.are.equal(1, r.one)
    for _, v in ipairs({ r.neg_zero, r.neg_zero_f }) do
      assert.are.equal(0, v)
      assert.are.equal(-math.huge, 1 / v)
    end
    if math.type then
      assert.are.equal("integer", math.type(r.one))
      assert.are.equal("integer", math.type(r.big))
      assert.are.equal("float", math.type(r.neg_zero))
    end
  end)

  it("names what is wrong with the shape", function()
    assert.truthy(decode_error('[1,2]'):find("not a JSON object", 1, true))
    assert.truthy(decode_error('{"results":[]}'):find('no "result"', 1, true))
    assert.truthy(decode_error('{"result":{}}'):find("not an array", 1, true))
    assert.truthy(decode_error('{"result":[{"pipeline_id":"a","pipeline_run_id":"b"},7]}'):find("result[2]", 1, true))
    assert.truthy(decode_error('{"result":[{"pipeline_id":"a"}]}'):find("result[1].pipeline_run_id", 1, true))
    assert.truthy(decode_error('{"result":[{"pipeline_id":1,"pipeline_run_id":"b"}]}')
      :find("result[1].pipeline_id", 1, true))
  end)

  -- (review: br.decode(1) returned INVALID_ARGUMENT, which README does not
  -- promise it; the other helpers raise at misuse)
  it("raises at a body that is not a string, or a status that is no HTTP status, naming br.decode", function()
    local function raised(...)
      local args = { n = select("#", ...), ... }
      -- (not a tail call, so that the line that called it is named)
      local ok, msg = pcall(function()
        local r = br.decode((table.unpack or unpack)(args, 1, args.n))
        return r
      end)
      assert.is_false(ok)
      assert.truthy(msg:find("^spec/decode_spec%.lua:%d+: codearts%.batchresult: br%.decode's "), msg)
      return msg
    end
    for _, v in ipairs({ 1, true, {} }) do
      assert.truthy(raised(v):find("body must be a string, got " .. type(v), 1, true))
    end
    assert.truthy(raised(nil):find("body must be a string, got nil", 1, true))
    local why = "status must be an HTTP status, a whole number from 100 to 599, got "
    for _, v in ipairs({ 0, 99, 600, 401.5, -401, 1 / 0 }) do
      assert.truthy(raised('{"result":[]}', v):find(why .. tostring(v), 1, true))
    end
    assert.truthy(raised('{"result":[]}', "401"):find(why .. "string", 1, true))
    -- worded alike on every Lua, in the digits that tell it from a status
    local cases = { { 200.000000000001, "200.000000000001" }, { -0.0, "0" }, { 2 ^ 60, "1.152921504606847e+18" } }
    for _, case in ipairs(cases) do
      local msg = raised('{"result":[]}', case[1])
      assert.are.equal(why .. case[2], msg:sub(-#(why .. case[2])))
    end
    assert.truthy(raised('{"result":[]}', 0 / 0):find(why .. "nan$", 1))
    -- a whole number as a float is that status
    assert.are.same({}, assert(br.decode('{"result":[]}', 200.0)))
    assert.are.equal("HTTP (HTTP 404): the server answered HTTP 404", tostring(select(2, br.decode("", 404.0))))
  end)
end)

describe("core.decode_results", function()
  local core = require "codearts.batchresult.core"
  local unpack = table.unpack or unpack

  -- t written out in the order next() gives its pairs, nested tables too.
  local function listing(t)
    local out = {}
    for k, v in next, t do
      out[#out + 1] = tostring(k) .. "=" .. (type(v) == "table" and "{" .. listing(v) .. "}" or tostring(v))
    end
    return table.concat(out, " ")
  end

  local FOURTEEN = {}
  for i = 1, 14 do FOURTEEN[i] = ('"m%d":"v"'):format(i) end
  -- Answers of strings, nulls, booleans, objects and arrays, as services
  -- write them.
  -- luacheck: push no max line length
  local BODIES = {
    EXAMPLE,
    '{"result":[]}',
    ' \r\n\t{ "result" : [ ] } \n',
    '{"total":"2","result":[{"pipeline_id":"p1","pipeline_run_id":"r1","tags":["a",null,true,false,[],{}],"meta":{"x":null,"y":{"z":"\226\130\172 \255"}}},{"pipeline_run_id":"r2","pipeline_id":"p2","reason":null}],"more":[{"a":"b"}]}',
    '{"result":[{"pipeline_id":"","pipeline_run_id":"","":"empty name"}]}',
    -- 16 members, as many as the reader takes, none a table: the most Lua
    -- stack one object takes (review answer52; a Lua with API checks aborts
    -- at a slot too few)
    '{"result":[{"pipeline_id":"p","pipeline_run_id":"r",' .. table.concat(FOURTEEN, ",") .. '}]}',
  }
  -- luacheck: pop

  -- Most answers are read straight into tables (src/answer.c), any other
  -- through cJSON's tree (src/codec.c).  A top-level member holding a
  -- number, which neither reads into the list, sends a body to the second.
  it("reads an answer into the tables cJSON's tree gives, with the same pairs order, on every Lua", function()
    for _, body in ipairs(BODIES) do
      local through_tree = body:gsub("^(%s*{)", '%1"n":0,', 1)
      for _, ids in ipairs({ { "pipeline_id", "pipeline_run_id" }, {} }) do
        local got = { core.decode_results(body, "result", unpack(ids)) }
        local want = { core.decode_results(through_tree, "result", unpack(ids)) }
        assert.is_table(want[1], body)
        assert.are.same(want, got)
        assert.are.equal(listing(want[1]), listing(got[1]), body)
      end
    end
  end)

  it("refuses alike what either reading would refuse, or marks the same items", function()
    -- luacheck: push no max line length
    local bad = {
      '{"result":[{"pipeline_id":"p","pipeline_run_id":"r","reason":null,"reason":"x"}]}',
      '{"result":[{"pipeline_id":"p","pipeline_run_id":"r","m":{"a":null,"a":null}}]}',
      '{"result":[{"pipeline_id":"p","pipeline_run_id":null}]}',
      '{"result":[{"pipeline_id":"p"}]}',
      '{"result":["p"]}',
      '{"result":[],"result":[]}',
      '{"result":{}}',
      '{"other":[]}',
      '{"result":[]}x',
      '{"result":[{"pipeline_id":"p","pipeline_run_id":"r"}]',
      '{"result":[{"pipeline_id":"p\1","pipeline_run_id":"r"}]}',
    }
    -- luacheck: pop
    for _, body in ipairs(bad) do
      local through_tree = body:gsub("^(%s*{)", '%1"n":0,', 1)
      for _, ids in ipairs({ { "pipeline_id", "pipeline_run_id" }, {} }) do
        local got = { core.decode_results(body, "result", unpack(ids)) }
        local want = { core.decode_results(through_tree, "result", unpack(ids)) }
        -- (a refusal names bytes: the second body's are 6 further on)
        if type(want[2]) == "string" and want[1] == nil then
          assert.is_nil(got[1], body)
          assert.are.equal(want[2]:gsub("%d+", "N"), (got[2]:gsub("%d+", "N")))
        else
          assert.are.same(want, got, body)
        end
      end
    end
  end)
end)

describe("br.decode of an answer that is an error", function()
  local server
  standin.for_block(function(s) server = s end)

  local creds = model.credentials.permanent
  local WRONG_SK = { sk = "wrong/" .. creds.sk }

  local curl = require("spec.support.curl").send

  --- The request prepare gives a client with options opts (the stand-in's
  -- own by default) for the seed's pairs.
  local function prepared(opts)
    local c = assert(br.new(server:options(opts)))
    local req = assert(c:prepare(model.seed_query))
    c:close()
    return req
  end

  --- What err says that a body can say: each request is signed at its own
  -- second, which the stand-in quotes (in the canonical request of a bad
  -- signature), so that time is taken out of the message.
  local function said(err)
    return { code = err.code, status = err.status, retryable = err.retryable,
             message = (err.message:gsub("%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ", "<time>")) }
  end

  -- (review: with a wrong SK the prepare example's br.decode said only
  -- 'body has no "result"')
  it("gives the API's error for what curl printed for a wrong SK, as a client's call does", function()
    local body, status = curl(prepared(WRONG_SK))
    assert.are.equal(401, status)
    local r, err = br.decode(body)
    assert.is_nil(r)
    assert.are.equal("APIGW.0301", err.code)
    assert.truthy(err.message:find("^Incorrect IAM authentication information: verify aksk signature fail, "
      .. "canonicalRequest: POST|/v5/"), err.message)
    assert.are.same({ nil, nil, false }, { err.status, err.request_id, err.retryable })
    -- with the status: what a client's call with the same SK got, but for
    -- its X-Request-Id, which curl printed no more than a body has one
    local c = assert(br.new(server:options(WRONG_SK)))
    local _, call_err = c:query(model.seed_query, { max_retries = 0 })
    c:close()
    local _, with = br.decode(body, status)
    assert.are.same(said(call_err), said(with))
    assert.truthy(call_err.request_id)
    assert.is_nil(with.request_id)
    -- (and without it, the same but the status)
    local shown = said(with)
    shown.status = nil
    assert.are.same(shown, said(err))
  end)

  it("gives APIGW.0303 for an expired X-Sdk-Date, with the server's message", function()
    -- (signed anew at a time long past, as a request sent too late was)
    local req = prepared()
    req.headers.Authorization = nil
    req.headers["X-Sdk-Date"] = "20200101T000000Z"
    req.headers.Authorization = assert(br.sign({ method = req.method, path = req.url:match("^https?://[^/]+([^?]*)"),
      query = "", headers = req.headers, body = req.body, ak = creds.ak, sk = creds.sk }))
    local body, status = curl(req)
    assert.are.equal(401, status)
    for _, given in ipairs({ false, status }) do
      local _, err = br.decode(body, given or nil)
      assert.are.equal("APIGW.0303", err.code)
      assert.are.equal(given or nil, err.status)
      assert.truthy(err.message:find("^Incorrect app authentication information: signature expired, "
        .. "signature time:20200101T000000Z,server time:%d+T%d+Z$"), err.message)
    end
  end)

  it("with a status, gives what a client's call gives for a failure the server planned", function()
    server:config({ fail_first = 1, fail_first_status = 503 })
    local body, status = curl(prepared())
    assert.are.equal(503, status)
    -- (set again, the count starts again: the client's request fails alike)
    server:config({ fail_first = 1, fail_first_status = 503 })
    local c = assert(br.new(server:options()))
    local _, call_err = c:query(model.seed_query, { max_retries = 0 })
    c:close()
    local want = said(call_err)
    assert.are.same({ "DEVPIPE.00000500", 503, true }, { want.code, want.status, want.retryable })
    -- (but retryable: whether to send again is the request's, which a body does not say)
    want.retryable = false
    assert.are.same(want, said(select(2, br.decode(body, status))))
  end)

  it("with a status, reads a body as a client reads an answer with that status", function()
    local answer = curl(prepared())
    assert.are.equal(6, #assert(br.decode(answer, 200)))
    -- not 2xx: the API's error, or HTTP with the start of the body
    local function err_of(body, status) return tostring(select(2, br.decode(body, status))) end
    assert.are.equal('HTTP (HTTP 404): the server answered HTTP 404: ' .. answer:sub(1, 200) .. "…",
      err_of(answer, 404))
    assert.are.equal("HTTP (HTTP 502): the server answered HTTP 502: <html><body>Bad Gateway</body></html>",
      err_of("<html><body>Bad Gateway</body></html>", 502))
    assert.are.equal('APIGW.0301 (HTTP 401): the server answered HTTP 401: {"error_code":"APIGW.0301"}',
      err_of('{"error_code":"APIGW.0301"}', 401))
    -- 2xx: a result set or DECODE, an error body too, as a client's
    assert.are.equal('DECODE (HTTP 200): body has no "result"',
      err_of('{"error_code":"APIGW.0301","error_msg":"refused"}', 200))
    -- the body's request id, also where it is no API error
    local _, err = br.decode('{"error_code":"DEV.1","error_msg":"m","request_id":"r-1"}', 400)
    assert.are.same({ "DEV.1", "m", 400, "r-1" }, { err.code, err.message, err.status, err.request_id })
    _, err = br.decode('{"results":[],"request_id":"r-2"}', 200)
    assert.are.same({ "DECODE", 200, "r-2" }, { err.code, err.status, err.request_id })
  end)

  -- As the Go SDK reads them: error_code and error_msg when neither is
  -- blank, else code and message when neither is; one form's code never
  -- goes with the other's message.
  it("reads an error body's code and message as a pair of one form", function()
    local function read(body, status)
      local _, err = br.decode(body, status)
      return { err.code, err.message }
    end
    local function snippet(status, body) return "the server answered HTTP " .. status .. ": " .. body end
    local throttled = '{"error_code":"","error_msg":"","code":"APIGW.0308","message":"throttled"}'
    assert.are.same({ "APIGW.0308", "throttled" }, read(throttled, 429))
    assert.are.same({ "APIGW.0308", "throttled" }, read(throttled))
    -- blank as shown: C1 controls too
    assert.are.same({ "C.1", "m" },
      read('{"error_code":"\\u0085","error_msg":" \\u0007","code":"C.1","message":"m"}', 400))
    assert.are.same({ "C.1", "m" },
      read('{"error_code":"\\u2028","error_msg":"e","code":"C.1","message":"m"}', 400))
    -- (a message is one line: a line separator in it shows as a space)
    assert.are.same({ "E.1", "a b" }, read('{"error_code":"E.1","error_msg":"a\\u2029b"}', 400))
    assert.are.same({ "APIGW.0308", "t" }, read('{"code":"APIGW.0308","message":"t","error_msg":"em"}', 429))
    assert.are.same({ "X", "from message" },
      read('{"error_code":"APIGW.0301","code":"X","message":"from message"}', 401))
    -- no whole pair: the code given, with the start of the body
    for _, body in ipairs({ '{"error_code":"DEV.2","error_msg":"","message":"m"}',
                            '{"error_code":"DEV.2","message":"m"}', '{"error_msg":"em","code":"DEV.2"}' }) do
      assert.are.same({ "DEV.2", snippet(400, body) }, read(body, 400), body)
      assert.are.equal("DECODE", select(2, br.decode(body)).code, body)
    end
    local blank_message = '{"error_code":"","code":"APIGW.0308","message":" "}'
    assert.are.same({ "APIGW.0308", snippet(429, blank_message) }, read(blank_message, 429))
    -- objects nested inside are not read
    local nested = '{"error":{"code":"DEV.1","message":"nested"}}'
    assert.are.same({ "HTTP", snippet(400, nested) }, read(nested, 400))
  end)

  it("says that every proper prefix of the stand-in's answer ends early, as a transfer cut there", function()
    local answer = curl(prepared())
    assert.are.equal(6, #assert(br.decode(answer, 200)))
    for k = 1, #answer - 1 do
      local _, err = br.decode(answer:sub(1, k), 200)
      assert.are.equal("DECODE (HTTP 200): invalid JSON: the body ends early, after " .. k .. " bytes",
        tostring(err))
    end
  end)

  it("without a status, gives only a body that is plainly an API error as one", function()
    local function err_of(body) return tostring(select(2, br.decode(body))) end
    assert.are.equal("DEV.00000001: m [request r-1]",
      err_of('{"code":"DEV.00000001","message":"m","request_id":"r-1"}'))
    -- no message, or a blank one, or no code: DECODE, not knowing the status
    for _, body in ipairs({ '{"error_code":"APIGW.0301"}', '{"error_code":"APIGW.0301","error_msg":" \\t\\u0001"}',
                            '{"error_msg":"refused"}', '{"error_code":7,"error_msg":"refused"}' }) do
      assert.are.equal('DECODE: body has no "result"', err_of(body), body)
    end
    assert.are.equal("DECODE: invalid JSON near byte 1 of 13", err_of("<html></html>"))
    -- a result set is one, whatever else it says
    assert.are.equal(0, #assert(br.decode('{"result":[],"error_code":"APIGW.0301","error_msg":"refused"}')))
  end)

  it("hides the environment's secrets from the server's words", function()
    server:config({ echo_first = 1, echo_form = "json" })
    local body, status = curl(prepared())
    assert.truthy(body:find(creds.sk, 1, true))
    local out, ok = child.run([[
      local br = require "codearts.batchresult"
      for _, status in ipairs({ false, 401 }) do
        io.write(tostring(select(2, br.decode(os.getenv("BODY"), status or nil))), "\n")
      end
    ]], { HUAWEICLOUD_SDK_SK = creds.sk, BODY = body })
    assert.is_true(ok, out)
    assert.are.equal(401, status)
    local plain, with = out:match("^(.-)\n(.-)\n$")
    assert.truthy(plain:find("^APIGW%.0301: Incorrect IAM authentication information: the request "
      .. "carried %[REDACTED%]"), out)
    assert.truthy(with:find("^APIGW%.0301 %(HTTP 401%): Incorrect IAM authentication information: the request "
      .. "carried %[REDACTED%]"), out)
    assert.is_nil(out:find(creds.sk, 1, true))
  end)

  -- br.decode knows no client: a prepared request's answer that echoed it
  -- showed its signature, and a key given as an option (review secrets46).
  it("client:decode hides the client's secrets and its prepared request's signature from the server's words",
    function()
      local c = assert(br.new(server:options()))
      local req = assert(c:prepare(model.seed_query))
      local sig = assert(req.headers.Authorization:match("Signature=(%x+)$"))
      for _, form in ipairs({ "json", "json_u", "percent" }) do
        server:config({ echo_first = 1, echo_form = form })
        local body, status = curl(req)
        assert.are.equal(401, status)
        if form == "json" then assert.truthy(body:find(sig, 1, true)) end
        for _, given in ipairs({ false, status }) do
          local r, err = c:decode(body, given or nil)
          assert.is_nil(r)
          assert.are.equal("APIGW.0301", err.code)
          local shown = tostring(err)
          assert.truthy(shown:find("the request carried [REDACTED]", 1, true), shown)
          for _, secret in ipairs({ sig, creds.sk }) do assert.is_nil(shown:find(secret, 1, true), form) end
          assert.is_nil(shown:lower():find(sig:sub(1, 16), 1, true), form)
        end
      end
      -- a result set is what br.decode gives; misuse raises, naming the method
      local body = curl(c:prepare(model.seed_query))
      assert.are.same(assert(br.decode(body)), assert(c:decode(body)))
      assert.has_error(function() c:decode(5) end,
        "codearts.batchresult: client:decode's body must be a string, got number")
      c:close()
      assert.has_error(function() c:decode(body) end, "codearts.batchresult: the client is closed")
    end)

  -- A finalizer that closed the client as it redacted gave the error the
  -- code "(not shown: the client was closed)" (review fixes46).
  it("client:decode gives CLOSED when a finalizer closes the client as it reads an error", function()
    local seen = {}
    for round = 1, 300 do
      local c = assert(br.new(server:options()))
      for i = 1, 20 do
        local closes = (round + i) % 7 == 0
        setmetatable({}, { __gc = function() if closes then pcall(c.close, c) end end })
      end
      local body = '{"error_code":"APIGW.0301","error_msg":"' .. ("x"):rep(round * 7) .. ' sk ' .. creds.sk .. '"}'
      local ok, r, err = pcall(c.decode, c, body, 401)
      local got = ok and (r and "results" or err.code) or tostring(r):match("the client is closed")
      seen[got] = true
      assert.truthy(got == "APIGW.0301" or got == "CLOSED" or got == "the client is closed", tostring(got))
      pcall(c.close, c)
    end
    assert.truthy(seen["APIGW.0301"])
  end)

  -- The redaction a client's errors use (the keyring with the request's
  -- signature) dropped the keyring's word that it could not redact: a
  -- long text (an unplaced run id a close from a callback kept, say) then
  -- read "(not shown: the client was closed)…", as if cut (review api56).
  it("a closed client's redaction of the server's text shows its words alone, never as cut", function()
    local core = require "codearts.batchresult.core"
    local exchange = require "codearts.batchresult.exchange"
    local keyring = assert(core.keyring(creds.sk))
    local signed = exchange.with_signature(keyring, "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature="
      .. ("ab"):rep(32), {})
    keyring:close()
    for _, text in ipairs({ "short", ("x"):rep(5000) }) do
      assert.are.same({ "(not shown: the client was closed)", false, true }, { signed:redact(text, 1024) })
      assert.are.equal("(not shown: the client was closed)", exchange.shown(signed, text, 1024))
    end
  end)

  -- A redactor that memory could not make read as "no secret", and the
  -- server's words went out whole (review).
  it("hides them when an allocation of the module's fails, each in turn: INTERNAL, never the words unredacted",
    function()
      local lib, remove = require("spec.support.failmalloc").build()
      if not lib then return pending("under a preloaded sanitizer") end
      finally(remove)
      local body = '{"error_code":"APIGW.0301","error_msg":"the request carried ' .. creds.sk .. ' here"}'
      local n, failed = 0
      repeat
        n = n + 1
        local out = child.run([[
          local br = require "codearts.batchresult"
          for _, status in ipairs({ false, 401 }) do
            io.write(tostring(select(2, br.decode(os.getenv("BODY"), status or nil))), "\n")
          end
        ]], { HUAWEICLOUD_SDK_SK = creds.sk, BODY = body, LD_PRELOAD = lib,
              FAILMALLOC_IN = "codearts/batchresult/core.so", FAILMALLOC_AT = tostring(n) })
        failed = assert(out:match("failmalloc: failed (%d+) of"), out)
        assert.is_nil(out:find(creds.sk, 1, true), n .. ": " .. out)
      until failed == "0" or n == 100
      assert.is_true(n > 1 and n < 100, tostring(n))
    end)
end)
