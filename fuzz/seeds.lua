-- Writes the seed corpora of fuzz/corpus/<harness>/ (shipped in git; run
-- again only to change them):
--
--   lua5.4 fuzz/seeds.lua [path/to/sdk-hmac-sha256.json]
--
-- The vectors default to the specs' copy, spec/fixtures/sdk-hmac-sha256.json
-- (run from the checkout's root).  Needs lua-cjson.
local cjson = require "cjson"

local vectors_path = arg[1] or "spec/fixtures/sdk-hmac-sha256.json"
local f = assert(io.open(vectors_path, "rb"))
local vectors = cjson.decode(f:read("*a"))
f:close()

local function write(harness, name, data)
  local path = "fuzz/corpus/" .. harness .. "/" .. name
  local out = assert(io.open(path, "wb"))
  out:write(data)
  out:close()
end

-- ---- decode_results -------------------------------------------------------

-- The reference page's example answer, spaced as the page shows it.
-- luacheck: push no max line length
local example = [[{ "result" : [ { "pipeline_id" : "6ba9a2dbc7024c22a9a6614516dc22db", "pipeline_name" : "Pipeline 1", "pipeline_run_id" : "e41fe3981361476eb6dad17ad98c683c", "status" : "START_FAILED", "reason" : "Current pipeline is banned." }, { "pipeline_id" : "d7013d2402ff4cc88489ee5af324e049", "pipeline_name" : "Pipeline 2", "pipeline_run_id" : "3d8143d197dd4fa5b23f20ee39179af3", "status" : "START_SUCCESS", "reason" : null }, { "pipeline_id" : "2eb1fc4d750546b3bbc2566a7cf34d5b", "pipeline_name" : "Pipeline 3", "pipeline_run_id" : "ba15657cb88d46deb9e17f203a061f21", "status" : "START_SUCCESS", "reason" : null }, { "pipeline_id" : "cce81e5f7e604b609172aafcae73c025", "pipeline_name" : "Pipeline 4", "pipeline_run_id" : "73861d5a72e6417a81abb1baba1a8d16", "status" : "START_FAILED", "reason" : "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." }, { "pipeline_id" : "1d5107b3cd4746a3a03efef83b9e4e45", "pipeline_name" : "Pipeline 5", "pipeline_run_id" : "f68aa7ca562f4f31bfbb63628de0e2cd", "status" : "START_FAILED", "reason" : "The change request pipeline can not batch run." }, { "pipeline_id" : "70aa57009b0d433587b58faf05e4fd7f", "pipeline_name" : "Pipeline 6", "pipeline_run_id" : "cd96020f0e2748048a6b4d1a15091c9b", "status" : "START_SUCCESS", "reason" : null } ] }]]
-- luacheck: pop
local compact = example:gsub('" : ', '":'):gsub(", ", ","):gsub("%{ ", "{"):gsub(" %}", "}")
  :gsub("%[ ", "["):gsub(" %]", "]")

local R = "decode_results"
write(R, "example.json", example)
write(R, "example-compact.json", compact)
write(R, "run-answer.json",
  '{"result":[{"pipeline_id":"6ba9a2dbc7024c22a9a6614516dc22db",'
  .. '"pipeline_run_id":"e41fe3981361476eb6dad17ad98c683c"}]}')
write(R, "empty-result.json", '{"result":[]}')
write(R, "spaced.json", ' \t\r\n{"result":[]}\r\n\t ')
write(R, "later-fields.json", '{"result":[{"pipeline_id":"a","pipeline_run_id":"b","status":"QUEUED",'
  .. '"reason":"caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" \\\\ \\/","stages":[1,2.5,-3e2,true,false,null,{"x":[]}],'
  .. '"started":{"at":1700000000,"by":null}}],"page":{"total":1},"request_id":"5f1"}')
write(R, "escaped-ids.json", '{"result":[{"pipeline_id":"\\u0036ba9a2dbc7024c22a9a6614516dc22db",'
  .. '"pipeline_run_id":"e41fe3981361476eb6dad17ad98c683\\u0063"}]}')
write(R, "nul-in-id.json", '{"result":[{"pipeline_id":"ab\\u0000cd","pipeline_run_id":"x"}]}')
write(R, "truncated-in-string.json", compact:sub(1, 97))
write(R, "truncated-open.json", compact:sub(1, #compact - 2))
write(R, "truncated-escape.json", '{"result":[{"pipeline_id":"a\\')
write(R, "trailing-data.json", compact .. " x")
write(R, "two-values.json", '{"result":[]}{"result":[]}')
write(R, "trailing-nul.json", '{"result":[]}\0')
write(R, "not-object.json", '[{"result":[]}]')
write(R, "no-result.json", '{"results":[]}')
write(R, "result-object.json", '{"result":{"pipeline_id":"a","pipeline_run_id":"b"}}')
write(R, "item-not-object.json", '{"result":[{"pipeline_id":"a","pipeline_run_id":"b"},"c"]}')
write(R, "missing-run-id.json", '{"result":[{"pipeline_id":"6ba9a2dbc7024c22a9a6614516dc22db"}]}')
write(R, "null-id.json", '{"result":[{"pipeline_id":null,"pipeline_run_id":"b"}]}')
write(R, "duplicate-keys.json", '{"result":[{"pipeline_id":1,"pipeline_id":"a","pipeline_run_id":"b"}]}')
write(R, "deep.json", '{"result":[{"pipeline_id":"a","pipeline_run_id":"b","x":'
  .. ("["):rep(1100) .. ("]"):rep(1100) .. "}]}")
write(R, "numbers.json", '{"result":[],"n":[1e400,-1e-400,0.1e+1,123456789012345678901234567890,-0]}')
write(R, "bad-utf8.json", '{"result":[{"pipeline_id":"\255\254","pipeline_run_id":"\192\128"}]}')
write(R, "empty", "")
-- What the fast reader (src/answer.c) takes, and what it leaves just past
-- its limits: values of every kind it reads, 16 members and 17, a null
-- member named again.
write(R, "every-kind.json", '{"more":{"a":[true,false,null]},"result":[{"pipeline_id":"a","pipeline_run_id":"b",'
  .. '"tags":["x",null,[],{}],"meta":{"y":null,"z":{"w":"\226\130\172"}}}]}')
local members = {}
for i = 1, 16 do members[i] = ('"m%d":"v"'):format(i) end
write(R, "members-16.json", '{"result":[{' .. table.concat(members, ",", 1, 14)
  .. ',"pipeline_id":"a","pipeline_run_id":"b"}]}')
write(R, "members-17.json", '{"result":[{' .. table.concat(members, ",")
  .. ',"pipeline_id":"a","pipeline_run_id":"b"}]}')
write(R, "null-named-again.json", '{"result":[{"pipeline_id":"a","pipeline_run_id":"b","r":null,"r":"x"}]}')

-- ---- decode_error ---------------------------------------------------------

local E = "decode_error"
write(E, "apigw-0301.json", '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: '
  .. 'verify aksk signature fail, SignedHeaders=content-type;host;x-sdk-date",'
  .. '"request_id":"5f1a3b7c9d2e4f60a1b2c3d4e5f60718"}')
write(E, "apigw-0303.json", '{"error_msg":"Incorrect IAM authentication information: '
  .. 'Authorization header is not valid or expired",'
  .. '"error_code":"APIGW.0303","request_id":"0c9d"}')
write(E, "code-message.json", '{"code":"DEVPIPE.00011001","message":"invalid request body"}')
write(E, "both-forms.json", '{"code":"C","message":"M","error_code":"EC","error_msg":"EM"}')
write(E, "not-strings.json", '{"error_code":401,"error_msg":null,"code":["x"],"message":{"m":1},"request_id":true}')
write(E, "nested.json", '{"error":{"code":"X","message":"Y"},"encoded_authorization_message":"abc=="}')
write(E, "truncated.json", '{"error_code":"APIGW.0301","error_msg":"Incorrect IA')
write(E, "array.json", '[{"error_code":"APIGW.0301"}]')
write(E, "string.json", '"Bad Gateway"')
write(E, "html.html", "<html><head><title>502 Bad Gateway</title></head><body></body></html>\r\n")
write(E, "escapes.json", '{"error_code":"A\\u0000B","error_msg":"caf\\u00e9 \\ud83d\\ude00 \\udc00","request_id":""}')
write(E, "empty", "")

-- ---- canonical ------------------------------------------------------------
-- METHOD \n PATH \n QUERY \n (NAME:VALUE \n)* \n BODY  (see fuzz/canonical.c)

local C = "canonical"
local function frame(method, path, query, headers, body)
  local t = { method, path, query }
  for _, h in ipairs(headers) do t[#t + 1] = h[1] .. ":" .. h[2] end
  return table.concat(t, "\n") .. "\n\n" .. (body or "")
end

local function sorted_headers(map)
  local list = {}
  for k, v in pairs(map) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

for _, c in ipairs(vectors.cases) do
  if #c.body <= 2048 then
    write(C, c.name, frame(c.method, c.path, c.query, sorted_headers(c.headers), c.body))
  end
end

-- The signing guide's example, from its canonical request.
local d = vectors.docs_example.canonical_request
local m, p, q = d:match("^(%u+)\n([^\n]*)\n([^\n]*)\n")
local hs = {}
for name, value in d:gmatch("\n([%w%-]+):([^\n]*)") do hs[#hs + 1] = { name, value } end
write(C, "docs-example", frame(m, p:sub(1, -2), q, hs, ""))

-- The SDKs' canonical-query example, its values percent-encoded as sent.
local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end
local qs = {}
for _, kv in ipairs(vectors.canonical_query_example.params) do
  qs[#qs + 1] = encode(kv[1]) .. "=" .. encode(kv[2])
end
local date = { "X-Sdk-Date", "20060102T150405Z" }
write(C, "query-example", frame("GET", "/v1/resources", table.concat(qs, "&"), { date }, ""))
write(C, "query-raw", frame("GET", "/a b/%7e%zz/", "b=2&a=1&a=0&=x&y&&+=%2B&%=%%%41", { date }, ""))
-- Paths longer than the decoder's 512-byte stack buffer: the heap branch.
write(C, "long-path-escaped", frame("GET", "/v1/" .. ("segment-%20/"):rep(48) .. "end", "", { date }, ""))
write(C, "unsigned-payload", frame("PUT", "/upload", "", {
  date, { "X-Sdk-Content-Sha256", " UNSIGNED-PAYLOAD " } }, "anything"))
write(C, "underscore-and-spaces", frame("GET", "", "", {
  { "TEST_UNDERSCORE", "TEST_VALUE" }, { "X-Sdk-Date", " \t20060102T150405Z\t " }, { "Empty", "" } }, ""))
write(C, "duplicate-header", frame("GET", "/", "", { date, { "x-SDK-date", "20060102T150405Z" } }, ""))
write(C, "bad-date", frame("GET", "/", "", { { "X-Sdk-Date", "2006-01-02T15:04:05Z" } }, ""))
write(C, "no-date", frame("GET", "/", "", { { "Host", "h" } }, ""))
write(C, "bad-value", frame("GET", "/", "", { date, { "X-Bad", "a\rb" } }, ""))
write(C, "bad-name", frame("GET", "/", "", { date, { "Bad Name", "v" } }, ""))
write(C, "bad-method", frame("GE T", "/", "", { date }, ""))
local many = { date }
for i = 1, 129 do many[#many + 1] = { ("H%03d"):format(i), tostring(i) } end
write(C, "too-many-headers", frame("GET", "/", "", many, ""))
write(C, "empty", "")
-- ---- head -------------------------------------------------------------------

-- Heads as libcurl hands them over, a line at a time: an answer's, with
-- interim heads before it and trailers after, its fields repeated, folded,
-- empty, at and past their limits, and lines that are no field.
local H = "head"
local function head(...) return table.concat({ ... }, "\r\n") .. "\r\n" end
local now = "Date: Sun, 06 Nov 1994 08:49:37 GMT"
write(H, "answer", head("HTTP/1.1 503 Service Unavailable", "Content-Type: application/json", now,
  "Retry-After: 5", "X-Request-Id: 1b2c3d", "Content-Length: 13", ""))
write(H, "repeated", head("HTTP/1.1 503 X", "x-request-id: a", "X-REQUEST-ID: b", "Retry-After: 30",
  "retry-after: 0", now, "Date:", ""))
write(H, "folded", head("HTTP/1.1 503 X", "X-Request-Id: a", " \t b ", "\tc", "X-Other: o", " d",
  "Date: Sun, 06 Nov 1994", " 08:49:37 GMT", ""))
write(H, "interim-and-trailers", head("HTTP/1.1 100 Continue", "X-Request-Id: interim", "",
  "HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "X-Request-Id: head", "", "X-Request-Id: trailer",
  "Retry-After: 0", " folded trailer", ""))
write(H, "limits", head("HTTP/1.1 503 X", "X-Request-Id: " .. ("i"):rep(127), "Retry-After: " .. ("0"):rep(63),
  "Date: " .. ("d"):rep(64), "X-Request-Id: " .. ("i"):rep(126), " ii", ""))
write(H, "lengths", head("HTTP/1.1 200 OK", "Content-Length: 13, 13", "Content-Length: 13", " ", ""))
write(H, "bad-lines", head("HTTP/1.1 200 OK", "Content-Length : 13", "X Foo: bar", "No-Colon", ": empty", ""))
write(H, "folded-length", head("HTTP/1.1 200 OK", "Content-Length: 13", " 14", ""))
write(H, "first-folded", head("HTTP/1.1 200 OK", " folded", ""))
write(H, "switched", head("HTTP/1.1 101 Switching Protocols", "Upgrade: foo", "", "HTTP/1.1 200 OK", ""))
write(H, "bare-newlines", "HTTP/1.1 200 OK\nX-Request-Id: lf\n\tmore\n \nX-Request-Id: last\n\n")
write(H, "status-like-fields", head("HTTP/1.1 200 OK", "X-Request-Id: a", "HTTP/a: b", "", "HTTP/1.1 200 OK", ""))
write(H, "long-lengths", head("HTTP/1.1 200 OK", "Content-Length: 99999999999999999999, 99999999999999999998", ""))
write(H, "control-characters", head("HTTP/1.1 200 OK", "X-Request-Id:\rabc\r", "Date: \v" .. now:sub(7), ""))
write(H, "status-lines", head("HTTP/1.1 100 Continue", "", "HTTP/1.1 103 Early Hints", "Link: </a>", "",
  "HTTP/1.1 503\tX", ""))
write(H, "http2", head("HTTP/2 200 ", "x-request-id: h2", "content-length: 13", ""))
write(H, "zeros-length", head("HTTP/1.1 200 OK", "Content-Length: " .. ("0"):rep(70) .. "13", ""))
write(H, "long-trailer", head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "X-T: " .. ("t"):rep(4089), ""))

print("seeds written under fuzz/corpus/")
