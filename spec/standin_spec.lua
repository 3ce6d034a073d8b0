-- Specs for the ShowBatchRunResult stand-in itself: its data model, its
-- SDK-HMAC-SHA256 verifier (against the shared vectors) and the server over
-- real HTTP on loopback, driven with the curl CLI.  The server is LuaJIT
-- and the client curl whatever Lua runs the suite, so the specs over HTTP
-- run once per make test (spec/support/once.lua).
--
--   busted --lua=lua5.4 spec/standin_spec.lua
--
-- Needs luaossl (for the verifier) in the Lua running the specs, lua5.1
-- with lua-http for the server, curl, the openssl CLI (TLS) and the vectors
-- file (see spec/support/vectors.lua).

local cjson = require "cjson"
local model = require "spec.standin.model"
local verify = require "spec.standin.verify"
local standin = require "spec.support.standin"
local once = require "spec.support.once"

local files = require "spec.support.files"
local write_file = files.write

local function lower_keys(t)
  local out = {}
  for k, v in pairs(t) do out[k:lower()] = v end
  return out
end

-- A run id whose byte sum % 5 == k (all '0' sums to 1536, 1536 % 5 == 1).
local function run_id_with_k(k)
  local last = string.char(48 + ((k - 1) % 5))
  return string.rep("0", 31) .. last
end

describe("stand-in model", function()
  it("has the agreed credentials", function()
    assert.same({
      permanent = { ak = "STANDINPERMANENTAK01", sk = "standin/permanent+secret/key-0001" },
      temporary = { ak = "STANDINTEMPORARYAK01", sk = "standin/temporary+secret/key-0001",
        security_token = "standin-security-token-0001/abc+def=" },
      iam_token = "standin-iam-token-0001.MIIabc+def/ghi=",
    }, model.credentials)
  end)

  it("seeds the reference page's example, in order", function()
    assert.equal("db8d07265e24426598b3eb03a7818972", model.seed_project)
    assert.equal(6, #model.seed)
    local expect = {
      { "6ba9a2dbc7024c22a9a6614516dc22db", "e41fe3981361476eb6dad17ad98c683c", "START_FAILED",
        "Current pipeline is banned." },
      { "d7013d2402ff4cc88489ee5af324e049", "3d8143d197dd4fa5b23f20ee39179af3", "START_SUCCESS", nil },
      { "2eb1fc4d750546b3bbc2566a7cf34d5b", "ba15657cb88d46deb9e17f203a061f21", "START_SUCCESS", nil },
      { "cce81e5f7e604b609172aafcae73c025", "73861d5a72e6417a81abb1baba1a8d16", "START_FAILED",
        "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." },
      { "1d5107b3cd4746a3a03efef83b9e4e45", "f68aa7ca562f4f31bfbb63628de0e2cd", "START_FAILED",
        "The change request pipeline can not batch run." },
      { "70aa57009b0d433587b58faf05e4fd7f", "cd96020f0e2748048a6b4d1a15091c9b", "START_SUCCESS", nil },
    }
    for i, e in ipairs(expect) do
      local r = model.seed[i]
      assert.equal(e[1], r.pipeline_id)
      assert.equal(e[2], r.pipeline_run_id)
      assert.equal("Pipeline " .. i, r.pipeline_name)
      assert.equal(e[3], r.status)
      assert.equal(e[4], r.reason)
      assert.same({ pipeline_id = e[1], pipeline_run_id = e[2] }, model.seed_query[i])
      assert.same(r, model.result_for(e[1], e[2]))
    end
  end)

  it("returns fresh tables", function()
    local s = model.seed[1]
    local r = model.result_for(s.pipeline_id, s.pipeline_run_id)
    r.status = "changed"
    assert.equal("START_FAILED", model.result_for(s.pipeline_id, s.pipeline_run_id).status)
  end)

  it("answers other pairs from the byte sum of the run id", function()
    local pid = "abcdef0123456789abcdef0123456789"
    local expect = {
      [0] = { "START_SUCCESS", nil },
      [1] = { "START_SUCCESS", nil },
      [2] = { "START_FAILED", "Current pipeline is banned." },
      [3] = { "START_FAILED",
              "Reached the maximum of 1 concurrencies for single pipeline. Entering the queuing state." },
      [4] = { "START_FAILED", "The change request pipeline can not batch run." },
    }
    for k = 0, 4 do
      local rid = run_id_with_k(k)
      assert.same({
        pipeline_id = pid, pipeline_name = "Pipeline abcdef01", pipeline_run_id = rid,
        status = expect[k][1], reason = expect[k][2],
      }, model.result_for(pid, rid))
    end
    -- a seed run id with another pipeline id is not the seed answer
    local other = model.result_for(pid, model.seed[1].pipeline_run_id)
    assert.equal("Pipeline abcdef01", other.pipeline_name)
  end)

  it("recognises ids", function()
    assert.is_true(model.is_id("db8d07265e24426598b3eb03a7818972"))
    assert.is_true(model.is_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"))
    assert.is_false(model.is_id("db8d07265e24426598b3eb03a781897"))
    assert.is_false(model.is_id("db8d07265e24426598b3eb03a78189720"))
    assert.is_false(model.is_id("db8d07265e24426598b3eb03a781897-"))
    assert.is_false(model.is_id("db8d07265e24426598b3eb03a781897\n"))
    assert.is_false(model.is_id(nil))
    assert.is_false(model.is_id(12))
    assert.is_true(model.is_id(model.make_id("x", 1)))
    assert.are_not.equal(model.make_id("x", 1), model.make_id("x", 2))
  end)

  it("gives run ids that are valid, repeatable and distinct per run", function()
    local pid = model.seed[1].pipeline_id
    local seen = {}
    for n = 1, 50 do
      local id = model.run_id_for(pid, n)
      assert.is_true(model.is_id(id))
      assert.truthy(id:find("^[0-9a-f]+$"))
      assert.equal(id, model.run_id_for(pid, n))
      assert.is_nil(seen[id], "run " .. n .. " repeats an id")
      seen[id] = true
    end
    -- another pipeline with the same n gets another id
    assert.are_not.equal(model.run_id_for(pid, 1), model.run_id_for(model.seed[2].pipeline_id, 1))
    -- a count decoded from JSON (a float on Lua 5.3+) gives the same id
    assert.equal(model.run_id_for(pid, 3), model.run_id_for(pid, cjson.decode("3")))
    -- the same on every Lua: the server runs under lua5.1, the specs anywhere
    assert.equal("95726265674be085b03e0de29e6ef45f", model.run_id_for(pid, 1))
    assert.has_error(function() model.run_id_for(pid, 1.5) end)
    assert.has_error(function() model.run_id_for(nil, 1) end)
  end)

  it("shuffles repeatably, moving every item", function()
    for n = 0, 12 do
      local list = {}
      for i = 1, n do list[i] = i end
      local out = model.shuffled(list, "seed" .. n)
      assert.same(out, model.shuffled(list, "seed" .. n))
      assert.equal(n, #out)
      assert.equal(n, #list) -- the input is left alone
      local seen = {}
      for i, v in ipairs(out) do
        if n >= 2 then assert.are_not.equal(i, v) end
        assert.is_nil(seen[v])
        seen[v] = true
      end
    end
    assert.same({ 5, 1, 4, 2, 3 }, model.shuffled({ 1, 2, 3, 4, 5 }, "abc"))
  end)
end)

describe("stand-in verifier", function()
  local vectors = require "spec.support.vectors"

  it("has vectors to check", function()
    assert.is_true(#vectors.cases >= 5)
  end)

  for _, c in ipairs(vectors.cases) do
    it("accepts vector " .. c.name, function()
      local headers = lower_keys(c.headers)
      local ok, cr, expected = verify.verify {
        method = c.method, path = c.path, query = c.query, headers = headers,
        body = c.body, authorization = c.authorization, sk = c.sk,
      }
      if c.canonical_request then
        assert.equal(c.canonical_request, cr)
      end
      if c.string_to_sign then
        assert.equal(c.string_to_sign, verify.string_to_sign(headers["x-sdk-date"], cr))
      end
      assert.equal(c.authorization:match("Signature=(%x+)$"), expected)
      assert.is_true(ok)
      local authz = verify.sign {
        ak = c.ak, sk = c.sk, method = c.method, path = c.path, query = c.query,
        headers = c.headers, body = c.body,
      }
      assert.equal(c.authorization, authz)
    end)
  end

  it("builds the documented canonical query and hash examples", function()
    local q = vectors.canonical_query_example
    assert.equal(q.canonical, verify.canonical_query_from_pairs(q.params))
    assert.equal(vectors.docs_example.sha256_hex, verify.sha256_hex(vectors.docs_example.canonical_request))
    assert.equal("a=1&b=x%20y&b=z", verify.canonical_query("b=z&b=x%20y&a=1"))
    assert.equal("a=&c=", verify.canonical_query("c&a="))
    assert.equal("/a%20b/c%2Fd/", verify.canonical_uri("/a%20b/c%2fd"))
    assert.equal("/x/", verify.canonical_uri("/x/"))
  end)

  describe("rejects tampering", function()
    local c
    local function run(mod)
      local t = {
        method = c.method, path = c.path, query = c.query, headers = lower_keys(c.headers),
        body = c.body, authorization = c.authorization, sk = c.sk,
      }
      mod(t)
      return (verify.verify(t))
    end
    before_each(function()
      for _, x in ipairs(vectors.cases) do
        if x.headers["X-Project-Id"] and x.method == "POST" then c = x break end
      end
      assert.truthy(c)
    end)
    it("of nothing", function() assert.is_true(run(function() end)) end)
    it("of the body", function()
      assert.is_false(run(function(t) t.body = t.body .. " " end))
      assert.is_false(run(function(t) t.body = t.body:gsub("pipeline_id", "pipeline_iD", 1) end))
    end)
    it("of a signed header", function()
      assert.is_false(run(function(t) t.headers["x-project-id"] = "00000000000000000000000000000000" end))
      assert.is_false(run(function(t) t.headers["host"] = "evil.example.com" end))
      assert.is_false(run(function(t) t.headers["x-sdk-date"] = "20000101T000000Z" end))
    end)
    it("of the method, path, query or key", function()
      assert.is_false(run(function(t) t.method = "PUT" end))
      assert.is_false(run(function(t) t.path = t.path .. "x" end))
      assert.is_false(run(function(t) t.query = "a=1" end))
      assert.is_false(run(function(t) t.sk = t.sk .. "x" end))
    end)
    it("but not of an unsigned header, nor of header padding", function()
      assert.is_true(run(function(t) t.headers["user-agent"] = "other/1.0" end))
      assert.is_true(run(function(t) t.headers["host"] = "  " .. t.headers["host"] .. " " end))
    end)
  end)

  it("honours X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD", function()
    local headers = { ["X-Sdk-Date"] = "20240101T000000Z", ["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD" }
    local authz, cr = verify.sign { ak = "A", sk = "S", method = "PUT", path = "/o", body = "bytes", headers = headers }
    assert.equal("UNSIGNED-PAYLOAD", cr:match("([^\n]+)$"))
    local t = { method = "PUT", path = "/o", body = "other bytes", headers = lower_keys(headers),
                authorization = authz, sk = "S" }
    assert.is_true((verify.verify(t)))
  end)

  it("parses and refuses Authorization values", function()
    local a = verify.parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00ff")
    assert.same({ access = "AK", signed_headers = { "host", "x-sdk-date" },
      signed_headers_raw = "host;x-sdk-date", signature = "00ff" }, a)
    assert.is_nil(verify.parse_authorization("Bearer x"))
    assert.is_nil(verify.parse_authorization("SDK-HMAC-SHA256 Access=AK, Signature=00"))
    assert.is_nil(verify.parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;;b, Signature=00"))
    assert.is_nil(verify.parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=a, Signature=xyz"))
    assert.is_nil(verify.parse_authorization(nil))
  end)

  it("converts X-Sdk-Date both ways", function()
    assert.equal(0, verify.parse_sdk_date("19700101T000000Z"))
    assert.equal(1136214245, verify.parse_sdk_date("20060102T150405Z"))
    assert.equal("20060102T150405Z", verify.format_sdk_date(1136214245))
    assert.equal(951782400, verify.parse_sdk_date("20000229T000000Z"))
    assert.is_nil(verify.parse_sdk_date("20061302T150405Z"))
    assert.is_nil(verify.parse_sdk_date("2006-01-02T15:04:05Z"))
    assert.is_nil(verify.parse_sdk_date(nil))
  end)
end)

---------------------------------------------------------------------------
-- Over HTTP
---------------------------------------------------------------------------

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command and returns its standard output.  The shell and all
-- it starts run without the sanitizer variables a run of the specs under
-- AddressSanitizer sets (see standin.clean_env): none of it is the module.
local function run(cmd)
  local p = assert(io.popen(standin.clean_env .. "sh -c " .. shell_quote(cmd)))
  local out = p:read("*a")
  p:close()
  return out
end

local tmp_body = os.tmpname()

-- Parse curl -i output (possibly several responses, 1xx included).
local function parse_responses(out)
  local responses = {}
  local pos = 1
  while pos <= #out do
    local head_end = out:find("\r\n\r\n", pos, true)
    if not head_end then break end
    local head = out:sub(pos, head_end - 1)
    local status = tonumber(head:match("^HTTP/[%d%.]+ (%d%d%d)"))
    local headers = {}
    for line in head:gmatch("[^\r\n]+") do
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then headers[k:lower()] = v end
    end
    pos = head_end + 4
    if status and status >= 200 then
      local len = tonumber(headers["content-length"] or "0")
      local body = out:sub(pos, pos + len - 1)
      pos = pos + len
      -- json is nil for a body that is not JSON (garbage_first) and
      -- complete false for one cut short (truncate_first)
      local ok, json = pcall(cjson.decode, body)
      responses[#responses + 1] = { status = status, headers = headers, body = body,
        json = (body ~= "" and ok and json) or nil, complete = #body == len, length = len }
    end
  end
  return responses
end

-- The curl command for request{ ... } below, without running it (the body
-- is written to its file now).
local function curl_command(s, t)
  local cmd = { "curl", "-q", "-sS", "-i", "--max-time", "20", "-X", t.method or "POST",
    standin.curl_tls_options(s.tls) }
  for _, h in ipairs(t.headers or {}) do
    cmd[#cmd + 1] = "-H " .. shell_quote(h[1] .. ": " .. h[2])
  end
  if t.body then
    local file = t.body_file or tmp_body
    write_file(file, t.body)
    cmd[#cmd + 1] = "--data-binary @" .. shell_quote(file)
  end
  local url = s.url .. (t.path or "")
  for _ = 1, t.urls or 1 do
    cmd[#cmd + 1] = shell_quote(url)
  end
  return table.concat(cmd, " ")
end

-- request{ url=, path=, method=, headers = { {name, value}, ... }, body=, urls = n (repeat) }
local function request(s, t)
  local rs = parse_responses(run(curl_command(s, t)))
  if t.urls then return rs end
  return rs[1]
end

local function api_path(project, query)
  return "/v5/" .. (project or model.seed_project) .. "/api/pipelines/batch-runs/result"
    .. (query and ("?" .. query) or "")
end

-- BatchRunPipeline's path
local function run_path(project, query)
  return "/v5/" .. (project or model.seed_project) .. "/api/pipelines/batch-runs"
    .. (query and ("?" .. query) or "")
end

local function seed_body()
  return cjson.encode({ query = model.seed_query })
end

local function seed_pipeline_ids()
  local ids = {}
  for i, r in ipairs(model.seed) do ids[i] = r.pipeline_id end
  return ids
end

local function run_body(ids)
  return cjson.encode({ pipeline_ids = ids or seed_pipeline_ids() })
end

local function now_date(offset)
  return verify.format_sdk_date(os.time() + (offset or 0))
end

-- A signed request; opts: cred, date_offset, body, project, query, sk, extra
-- (headers sent but not signed), unsigned_token, run (BatchRunPipeline
-- instead of ShowBatchRunResult), command (return the curl command instead
-- of running it), body_file (where the body is written for curl; commands
-- run side by side need one each)
local function signed(s, opts)
  opts = opts or {}
  local cred = opts.cred or model.credentials.permanent
  local project = opts.project or model.seed_project
  local path_of = opts.run and run_path or api_path
  local body = opts.body or (opts.run and run_body()) or seed_body()
  local hs = {
    Host = "127.0.0.1:" .. s.port,
    ["Content-Type"] = "application/json;charset=UTF-8",
    ["X-Sdk-Date"] = opts.date or now_date(opts.date_offset),
    ["X-Project-Id"] = opts.x_project or project,
  }
  if cred.security_token and not opts.no_token then
    hs["X-Security-Token"] = cred.security_token
  end
  local authz = verify.sign {
    ak = cred.ak, sk = opts.sk or cred.sk, method = "POST", path = path_of(project),
    query = opts.query, headers = hs, body = body,
  }
  local list = { { "Authorization", authz } }
  for k, v in pairs(hs) do list[#list + 1] = { k, v } end
  for _, h in ipairs(opts.extra or {}) do list[#list + 1] = h end
  local t = { path = path_of(project, opts.query), headers = list, body = body, urls = opts.urls,
    body_file = opts.body_file }
  if opts.command then
    return curl_command(s, t)
  end
  return request(s, t)
end

local function token_request(s, opts)
  opts = opts or {}
  return request(s, {
    path = opts.path or api_path(),
    headers = { { "X-Auth-Token", opts.token or model.credentials.iam_token },
      { "Content-Type", "application/json;charset=UTF-8" } },
    body = opts.body or seed_body(),
    urls = opts.urls,
  })
end

local function expected_seed_json()
  local out = {}
  for i, r in ipairs(model.seed) do
    out[i] = {
      pipeline_id = r.pipeline_id, pipeline_name = r.pipeline_name,
      pipeline_run_id = r.pipeline_run_id, status = r.status,
      reason = r.reason == nil and cjson.null or r.reason,
    }
  end
  return { result = out }
end

-- The whole config after a reset, as GET /_standin/config answers it.
local DEFAULT_CONFIG = {
  max_items = 200, delay_ms = 0, clock_offset_s = 0,
  shuffle = false, omit = {}, fail_ids = {}, fail_status = 500,
  reset_first = 0, fail_first = 0, fail_first_status = 503, retry_after = cjson.null,
  garbage_first = 0, truncate_first = 0, huge_body_bytes = 0,
  echo_first = 0, echo_status = 401, echo_form = "json", echo_authorization = false,
  banner_first = 0, banner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", banner_hex = cjson.null, banner_hold_ms = 0,
  stall_body_first = 0, stall_ms = 1000, stale_answer_first = 0, fault_route = cjson.null, fault_after = 0,
  early_first = 0, names = {}, foreign = {}, fail_each_first = false,
}

local function with_defaults(t)
  local c = {}
  for k, v in pairs(DEFAULT_CONFIG) do c[k] = v end
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") as epoch seconds.
local MONTH_NUMBER = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
  Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
local function http_time(s)
  local d, mon, y, hh, mm, ss = (s or ""):match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  assert(d and MONTH_NUMBER[mon], "not an HTTP date: " .. tostring(s))
  return verify.parse_sdk_date(string.format("%s%02d%sT%s%s%sZ", y, MONTH_NUMBER[mon], d, hh, mm, ss))
end

local function assert_common_headers(r)
  assert.truthy(r.headers["x-request-id"])
  assert.truthy(r.headers["x-request-id"]:match("^%x+$"))
  assert.equal(32, #r.headers["x-request-id"])
  assert.truthy(r.headers["date"]:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
  assert.equal("application/json;charset=UTF-8", r.headers["content-type"])
end

local function assert_error(r, status, code, msg)
  assert.equal(status, r.status)
  assert_common_headers(r)
  assert.equal(code, r.json.error_code)
  if msg then
    assert.equal(msg, r.json.error_msg)
  end
end

once.describe("stand-in server over HTTP", function()
  local s
  standin.for_block(function(server) s = server end, function() os.remove(tmp_body) end)

  it("listens on an ephemeral loopback port", function()
    assert.is_number(s.port)
    assert.equal("http://127.0.0.1:" .. s.port, s.url)
    assert.is_true(s:running())
  end)

  it("answers a signed request with the seed results", function()
    local r = signed(s)
    assert.equal(200, r.status)
    assert_common_headers(r)
    assert.same(expected_seed_json(), r.json)
    -- null reasons are sent, not omitted, and keys keep the documented order
    assert.truthy(r.body:find('"status":"START_SUCCESS","reason":null', 1, true))
    assert.truthy(r.body:find('^{"result":%[{"pipeline_id":"6ba9a2dbc7024c22a9a6614516dc22db",'
      .. '"pipeline_name":"Pipeline 1"'))
    local st = s:stats()
    assert.equal(1, st.requests)
    assert.equal(1, st.ok)
  end)

  it("answers other pairs from the model, in query order", function()
    local q = {}
    for i = 1, 7 do
      q[i] = { pipeline_id = model.make_id("p", i), pipeline_run_id = model.make_id("r", i) }
    end
    q[8] = model.seed_query[4]
    local r = signed(s, { body = cjson.encode({ query = q }) })
    assert.equal(200, r.status)
    for i, item in ipairs(q) do
      local e = model.result_for(item.pipeline_id, item.pipeline_run_id)
      local got = r.json.result[i]
      assert.equal(e.pipeline_id, got.pipeline_id)
      assert.equal(e.pipeline_run_id, got.pipeline_run_id)
      assert.equal(e.pipeline_name, got.pipeline_name)
      assert.equal(e.status, got.status)
      assert.equal(e.reason == nil and cjson.null or e.reason, got.reason)
    end
  end)

  it("verifies the query string it received", function()
    local r = signed(s, { query = "b=2&a=x%20y&a=%7E1" })
    assert.equal(200, r.status)
    assert.equal("b=2&a=x%20y&a=%7E1", s:last().query)
  end)

  it("accepts the temporary AK with its signed security token", function()
    assert.equal(200, signed(s, { cred = model.credentials.temporary }).status)
    local r = signed(s, { cred = model.credentials.temporary, no_token = true })
    assert_error(r, 401, "APIGW.0301")
    -- sent but not signed
    r = signed(s, { cred = model.credentials.temporary, no_token = true,
      extra = { { "X-Security-Token", model.credentials.temporary.security_token } } })
    assert_error(r, 401, "APIGW.0301")
  end)

  it("refuses a wrong SK with the server's canonical request", function()
    local r = signed(s, { sk = "wrong" })
    assert_error(r, 401, "APIGW.0301")
    local prefix = "Incorrect IAM authentication information: verify aksk signature fail, canonicalRequest: "
    assert.equal(prefix, r.json.error_msg:sub(1, #prefix))
    local cr = r.json.error_msg:sub(#prefix + 1)
    local want = "POST|" .. api_path() .. "/||content-type:application/json;charset=UTF-8|host:127.0.0.1:"
      .. s.port .. "|x-project-id:" .. model.seed_project .. "|x-sdk-date:"
    assert.equal(want, cr:sub(1, #want))
    assert.truthy(cr:find("|content-type;host;x-project-id;x-sdk-date|" .. verify.sha256_hex(seed_body()), 1, true))
    assert.equal(0, s:stats().ok)
  end)

  it("refuses an unknown AK", function()
    local r = signed(s, { cred = { ak = "UNKNOWNAK", sk = "x" } })
    assert_error(r, 401, "APIGW.0301", "Incorrect IAM authentication information: AK access failed")
  end)

  it("refuses a tampered body", function()
    local hs = { Host = "127.0.0.1:" .. s.port, ["X-Sdk-Date"] = now_date() }
    local authz = verify.sign { ak = model.credentials.permanent.ak, sk = model.credentials.permanent.sk,
      method = "POST", path = api_path(), headers = hs, body = seed_body() }
    local r = request(s, { path = api_path(), body = seed_body() .. "\n",
      headers = { { "Authorization", authz }, { "X-Sdk-Date", hs["X-Sdk-Date"] } } })
    assert_error(r, 401, "APIGW.0301")
  end)

  it("refuses a date more than 15 minutes off", function()
    local date = now_date(-20 * 60)
    local r = signed(s, { date = date })
    assert_error(r, 401, "APIGW.0303")
    local msg = r.json.error_msg
    local head = "Incorrect app authentication information: signature expired, signature time:" .. date
      .. ",server time:"
    assert.equal(head, msg:sub(1, #head))
    local server_time = verify.parse_sdk_date(msg:sub(#head + 1))
    assert.truthy(server_time)
    assert.is_true(math.abs(server_time - os.time()) < 60)
    assert.equal(200, signed(s, { date_offset = -10 * 60 }).status)
    assert_error(signed(s, { date_offset = 20 * 60 }), 401, "APIGW.0303")
  end)

  it("uses the configured clock offset for the date check and the Date header", function()
    s:config({ clock_offset_s = 3600 })
    -- a client signing with the real clock is an hour behind the server
    local date = now_date()
    local r = signed(s, { date = date })
    assert_error(r, 401, "APIGW.0303")
    local head = "Incorrect app authentication information: signature expired, signature time:" .. date
      .. ",server time:"
    assert.equal(head, r.json.error_msg:sub(1, #head))
    local server_time = verify.parse_sdk_date(r.json.error_msg:sub(#head + 1))
    assert.truthy(server_time, r.json.error_msg)
    assert.is_true(math.abs(server_time - (os.time() + 3600)) < 60)
    assert.is_true(math.abs(http_time(r.headers["date"]) - (os.time() + 3600)) < 60, r.headers["date"])
    -- the 15 minutes are counted from the offset clock
    r = signed(s, { date_offset = 3600 })
    assert.equal(200, r.status)
    assert.is_true(math.abs(http_time(r.headers["date"]) - (os.time() + 3600)) < 60, r.headers["date"])
    assert.equal(200, signed(s, { date_offset = 3600 - 14 * 60 }).status)
    assert_error(signed(s, { date_offset = 3600 - 16 * 60 }), 401, "APIGW.0303")
    -- and the other way
    s:config({ clock_offset_s = -3600 })
    assert_error(signed(s), 401, "APIGW.0303")
    assert.equal(200, signed(s, { date_offset = -3600 }).status)
    s:reset()
    assert.is_true(math.abs(http_time(signed(s).headers["date"]) - os.time()) < 60)
  end)

  it("refuses malformed signatures", function()
    local r = request(s, { path = api_path(), body = seed_body(),
      headers = { { "Authorization", "Basic abc" } } })
    assert_error(r, 401, "APIGW.0301")
    r = request(s, { path = api_path(), body = seed_body(), headers = {
      { "Authorization",
        "SDK-HMAC-SHA256 Access=" .. model.credentials.permanent.ak .. ", SignedHeaders=host, Signature=00" },
      { "X-Sdk-Date", now_date() } } })
    assert_error(r, 401, "APIGW.0301")
    r = request(s, { path = api_path(), body = seed_body(), headers = {
      { "Authorization",
        "SDK-HMAC-SHA256 Access=" .. model.credentials.permanent.ak .. ", SignedHeaders=x-sdk-date, Signature=00" },
      { "X-Sdk-Date", "yesterday" } } })
    assert_error(r, 401, "APIGW.0301")
  end)

  it("accepts the IAM token and refuses others", function()
    local r = token_request(s)
    assert.equal(200, r.status)
    assert.same(expected_seed_json(), r.json)
    assert_error(token_request(s, { token = "nope" }), 401, "APIGW.0301",
      "Incorrect IAM authentication information: verify token failed")
    r = request(s, { path = api_path(), body = seed_body() })
    assert_error(r, 401, "DEV.00000001", "No credentials were recognised")
  end)

  it("checks X-Project-Id against the path", function()
    local r = signed(s, { x_project = "00000000000000000000000000000000" })
    assert_error(r, 400, "DEVPIPE.00011002", "X-Project-Id does not match the project in the path")
  end)

  it("answers APIG.0101 for unknown APIs and bad project ids", function()
    local msg = "The API does not exist or has not been published in the environment"
    assert_error(token_request(s, { path = "/v5/" .. model.seed_project .. "/api/pipelines/nope" }), 404, "APIG.0101",
      msg)
    assert_error(token_request(s, { path = "/v5/short/api/pipelines/batch-runs/result" }), 404, "APIG.0101", msg)
    assert_error(request(s, { method = "GET", path = api_path() }), 404, "APIG.0101", msg)
    assert.equal(3, s:stats().requests)
  end)

  it("validates the body", function()
    local pfx = "Invalid request body: "
    assert_error(token_request(s, { body = "{" }), 400, "DEVPIPE.00011001", pfx .. "body is not valid JSON")
    assert_error(token_request(s, { body = "[1]" }), 400, "DEVPIPE.00011001", pfx .. "body must be a JSON object")
    assert_error(token_request(s, { body = "{}" }), 400, "DEVPIPE.00011001", pfx .. "query is required")
    assert_error(token_request(s, { body = '{"query":[]}' }), 400, "DEVPIPE.00011001", pfx .. "query must not be empty")
    assert_error(token_request(s, { body = '{"query":{"a":1}}' }), 400, "DEVPIPE.00011001",
      pfx .. "query must be an array")
    local q = {}
    for i = 1, 4 do q[i] = model.seed_query[i] end
    q[4] = { pipeline_id = q[4].pipeline_id, pipeline_run_id = "bad" }
    assert_error(token_request(s, { body = cjson.encode({ query = q }) }), 400, "DEVPIPE.00011001",
      pfx .. "query[3].pipeline_run_id must be 32 letters or digits")
    q[4] = { pipeline_run_id = model.seed_query[1].pipeline_run_id }
    assert_error(token_request(s, { body = cjson.encode({ query = q }) }), 400, "DEVPIPE.00011001",
      pfx .. "query[3].pipeline_id is required")
    -- still serving
    assert.equal(200, token_request(s).status)
  end)

  it("limits the number of items (max_items)", function()
    local q = {}
    for i = 1, 201 do
      q[i] = { pipeline_id = model.make_id("p", i), pipeline_run_id = model.make_id("r", i) }
    end
    assert_error(token_request(s, { body = cjson.encode({ query = q }) }), 400, "DEVPIPE.00011001",
      "Invalid request body: query has 201 items, at most 200 are allowed")
    q[201] = nil
    local r = signed(s, { body = cjson.encode({ query = q }) }) -- also large enough for Expect: 100-continue
    assert.equal(200, r.status)
    assert.equal(200, #r.json.result)
    assert.same(with_defaults({ max_items = 3 }), s:config({ max_items = 3 }))
    assert_error(signed(s, { body = cjson.encode({ query = { q[1], q[2], q[3], q[4] } }) }), 400,
      "DEVPIPE.00011001", "Invalid request body: query has 4 items, at most 3 are allowed")
    assert.equal(200, signed(s, { body = cjson.encode({ query = { q[1], q[2], q[3] } }) }).status)
    s:reset()
    assert.equal(200, s:config().max_items)
  end)

  it("refuses unknown config keys and bad values", function()
    assert.has_error(function() s:config({ no_such_mode = 1 }) end)
    assert.has_error(function() s:config({ max_items = 0 }) end)
    assert.has_error(function() s:config({ delay_ms = "x" }) end)
    assert.has_error(function() s:config({ shuffle = 1 }) end)
    assert.has_error(function() s:config({ omit = { "short" } }) end)
    assert.has_error(function() s:config({ omit = { a = model.make_id("x", 1) } }) end)
    assert.has_error(function() s:config({ fail_ids = "x" }) end)
    assert.has_error(function() s:config({ fail_status = 200 }) end)
    assert.has_error(function() s:config({ names = { short = "a name" } }) end)
    assert.has_error(function() s:config({ names = { [model.make_id("x", 1)] = 1 } }) end)
    assert.has_error(function() s:config({ fail_status = 500.5 }) end)
    -- all or nothing: the good key of a refused change is not kept
    assert.has_error(function() s:config({ shuffle = true, fail_status = 600 }) end)
    assert.same(DEFAULT_CONFIG, s:config())
  end)

  it("records the last API request", function()
    assert.is_nil(s:last())
    signed(s, { query = "x=1" })
    local l = s:last()
    assert.equal("POST", l.method)
    assert.equal(api_path(), l.path)
    assert.equal("x=1", l.query)
    assert.equal(seed_body(), l.body)
    assert.equal("127.0.0.1:" .. s.port, l.headers.host)
    assert.equal(model.seed_project, l.headers["x-project-id"])
    assert.truthy(l.headers.authorization:match("^SDK%-HMAC%-SHA256 Access=STANDINPERMANENTAK01, "))
    s:stats() -- control calls are not recorded
    assert.equal("x=1", s:last().query)
  end)

  it("counts keep-alive connections once", function()
    local rs = signed(s, { urls = 2 })
    assert.equal(2, #rs)
    assert.equal(200, rs[1].status)
    assert.equal(200, rs[2].status)
    assert.are_not.equal(rs[1].headers["x-request-id"], rs[2].headers["x-request-id"])
    local st = s:stats()
    assert.equal(1, st.connections)
    assert.equal(2, st.requests)
    assert.equal(2, st.ok)

    s:reset()
    rs = token_request(s, { urls = 20 })
    assert.equal(20, #rs)
    st = s:stats()
    assert.equal(1, st.connections)
    assert.equal(20, st.requests)
    assert.equal(20, st.ok)

    token_request(s)
    st = s:stats()
    assert.equal(2, st.connections)
    assert.equal(21, st.requests)
    assert.same({ ["200"] = 21 }, st.statuses)
  end)

  it("delays answers (delay_ms) while serving others concurrently", function()
    s:config({ delay_ms = 400 })
    local out = run("curl -q -sS -o /dev/null -w '%{http_code} %{time_total}' -X POST -H "
      .. shell_quote("X-Auth-Token: " .. model.credentials.iam_token)
      .. " --data-binary " .. shell_quote(seed_body()) .. " " .. shell_quote(s.url .. api_path()))
    local code, t = out:match("^(%d+) ([%d%.]+)")
    assert.equal("200", code)
    assert.is_true(tonumber(t) >= 0.39)

    s:reset()
    s:config({ delay_ms = 600 })
    local urls = {}
    for i = 1, 5 do urls[i] = shell_quote(s.url .. api_path()) end
    out = run("a=$(date +%s%N); curl -q -sS --no-progress-meter -Z --parallel-immediate --parallel-max 5"
      .. " -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -X POST -H "
      .. shell_quote("X-Auth-Token: " .. model.credentials.iam_token)
      .. " --data-binary " .. shell_quote(seed_body()) .. " " .. table.concat(urls, " ")
      .. "; b=$(date +%s%N); echo $(( (b - a) / 1000000 ))")
    local ms = tonumber(out:match("(%d+)%s*$"))
    assert.truthy(ms)
    assert.is_true(ms >= 590, "took " .. tostring(ms) .. " ms")
    assert.is_true(ms < 2500, "took " .. tostring(ms) .. " ms: not concurrent")
    local st = s:stats()
    assert.equal(5, st.ok)
    assert.is_true(st.max_in_flight >= 2)
    assert.equal(0, st.in_flight)
  end)

  it("survives garbage", function()
    -- not HTTP
    run("printf 'GARBAGE\\r\\n\\r\\n' | curl -q -sS --max-time 1 telnet://127.0.0.1:" .. s.port .. " >/dev/null 2>&1")
    -- the client gives up in the middle of the body (Content-Length 10, 3 bytes sent)
    run("curl -q -sS --max-time 1 -o /dev/null -X POST -H 'Content-Length: 10' --data-binary 'abc' "
      .. shell_quote(s.url .. api_path()) .. " >/dev/null 2>&1")
    -- a chunked body cut short
    run("printf 'POST " .. api_path()
      .. " HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\nabc\\r\\n'"
      .. " | curl -q -sS --max-time 1 telnet://127.0.0.1:" .. s.port .. " >/dev/null 2>&1")
    assert.equal(200, token_request(s).status)
    assert.is_true(s:running())
  end)

  it("answers Expect: 100-continue", function()
    local r = request(s, { path = api_path(), body = seed_body(), headers = {
      { "X-Auth-Token", model.credentials.iam_token }, { "Expect", "100-continue" } } })
    assert.equal(200, r.status)
    assert.equal("100-continue", s:last().headers.expect)
    assert.equal(seed_body(), s:last().body)
  end)

  it("exits by itself when the process that started it is gone", function()
    local out = run("lua5.1 -e " .. shell_quote(
      'package.path = "./?.lua;" .. package.path\n'
      .. 'local s = require("spec.support.standin").start()\n'
      .. 'io.write(s.pid, " ", s.port, "\\n")') .. " 2>&1")
    local pid, port = out:match("^(%d+) (%d+)")
    assert.truthy(pid, out)
    local gone = false
    for _ = 1, 40 do
      local f = io.open("/proc/" .. pid .. "/stat")
      local st = f and f:read("*a")
      if f then f:close() end
      if not st or st:match("^%d+ %b() Z") then gone = true break end
      os.execute("sleep 0.1")
    end
    assert.is_true(gone, "server " .. pid .. " still running")
    local code = run("curl -q -sS --max-time 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. port
      .. "/_standin/stats 2>/dev/null")
    assert.equal("000", code)
  end)

  it("starts independent servers and stops them", function()
    local s2 = standin.start()
    assert.are_not.equal(s.port, s2.port)
    s2:config({ max_items = 1 })
    assert.equal(200, s:config().max_items)
    token_request(s2)
    assert.equal(1, s2:stats().requests)
    assert.equal(0, s:stats().requests)
    s2:stop()
    assert.is_false(s2:running())
    s2:stop() -- twice is fine
    local out = run("curl -q -sS --max-time 2 -o /dev/null -w '%{http_code}' "
      .. shell_quote(s2.url .. "/_standin/stats") .. " 2>/dev/null")
    assert.equal("000", out)
  end)
end)

once.describe("stand-in BatchRunPipeline and test modes over HTTP", function()
  local s
  standin.for_block(function(server) s = server end, function() os.remove(tmp_body) end)

  local function ids_of(n, prefix)
    local ids = {}
    for i = 1, n do ids[i] = model.make_id(prefix or "pipe", i) end
    return ids
  end

  -- The query for a BatchRunPipeline answer's pairs.
  local function query_of(result)
    local q = {}
    for i, r in ipairs(result) do
      q[i] = { pipeline_id = r.pipeline_id, pipeline_run_id = r.pipeline_run_id }
    end
    return q
  end

  local function run_ids_of(result)
    local out = {}
    for i, r in ipairs(result) do out[i] = r.pipeline_run_id end
    return out
  end

  local function expected_results(query)
    local out = {}
    for i, q in ipairs(query) do
      local r = model.result_for(q.pipeline_id, q.pipeline_run_id)
      r.reason = r.reason == nil and cjson.null or r.reason
      out[i] = r
    end
    return out
  end

  describe("BatchRunPipeline", function()
    it("starts runs with ids numbered from the last reset", function()
      local ids = seed_pipeline_ids()
      local r = signed(s, { run = true, body = run_body(ids) })
      assert.equal(200, r.status)
      assert_common_headers(r)
      local want = {}
      for i, id in ipairs(ids) do
        want[i] = { pipeline_id = id, pipeline_run_id = model.run_id_for(id, i) }
      end
      assert.same({ result = want }, r.json)
      assert.truthy(r.body:find('^{"result":%[{"pipeline_id":"' .. ids[1] .. '","pipeline_run_id":"%x+"},'))

      -- a second run of the same pipelines: new ids, still predictable
      local again = signed(s, { run = true, body = run_body(ids) })
      assert.equal(200, again.status)
      for i, id in ipairs(ids) do
        local got = again.json.result[i]
        assert.equal(id, got.pipeline_id)
        assert.equal(model.run_id_for(id, #ids + i), got.pipeline_run_id)
        assert.are_not.equal(r.json.result[i].pipeline_run_id, got.pipeline_run_id)
      end

      -- the same pipeline twice in one batch: two runs
      local twice = signed(s, { run = true, body = run_body({ ids[1], ids[1] }) })
      assert.are_not.equal(twice.json.result[1].pipeline_run_id, twice.json.result[2].pipeline_run_id)

      local st = s:stats()
      assert.equal(3, st.requests)
      assert.equal(3, st.ok)
      assert.equal(3, st.runs)
      assert.equal(2 * #ids + 2, st.run_pipelines)
      assert.equal(3, st.connections) -- one curl each
      assert.same({ ["200"] = 3 }, st.statuses)

      -- after a reset the numbering starts again
      s:reset()
      assert.same({ result = want }, signed(s, { run = true, body = run_body(ids) }).json)
    end)

    it("answers ShowBatchRunResult for the pairs it started", function()
      local started = signed(s, { run = true, body = run_body(ids_of(7)) }).json.result
      local q = query_of(started)
      local r = signed(s, { body = cjson.encode({ query = q }) })
      assert.equal(200, r.status)
      assert.same({ result = expected_results(q) }, r.json)
      local st = s:stats()
      assert.equal(1, st.runs)
      assert.equal(7, st.run_pipelines)
      assert.equal(2, st.ok)
    end)

    it("accepts the IAM token and the temporary AK", function()
      local r = token_request(s, { path = run_path(), body = run_body() })
      assert.equal(200, r.status)
      assert.equal(6, #r.json.result)
      assert.equal(200, signed(s, { run = true, cred = model.credentials.temporary }).status)
      assert_error(token_request(s, { path = run_path(), body = run_body(), token = "nope" }), 401,
        "APIGW.0301", "Incorrect IAM authentication information: verify token failed")
      assert_error(request(s, { path = run_path(), body = run_body() }), 401,
        "DEV.00000001", "No credentials were recognised")
      assert.equal(2, s:stats().runs)
    end)

    it("checks signatures and X-Project-Id as the result route does", function()
      local r = signed(s, { run = true, sk = "wrong" })
      assert_error(r, 401, "APIGW.0301")
      local prefix = "Incorrect IAM authentication information: verify aksk signature fail, canonicalRequest: "
      assert.equal(prefix .. "POST|" .. run_path() .. "/|", r.json.error_msg:sub(1, #prefix + #run_path() + 7))
      assert_error(signed(s, { run = true, date_offset = -20 * 60 }), 401, "APIGW.0303")
      assert_error(signed(s, { run = true, x_project = "00000000000000000000000000000000" }), 400,
        "DEVPIPE.00011002", "X-Project-Id does not match the project in the path")
      local msg = "The API does not exist or has not been published in the environment"
      assert_error(request(s, { method = "GET", path = run_path() }), 404, "APIG.0101", msg)
      assert_error(token_request(s, { path = "/v5/short/api/pipelines/batch-runs", body = run_body() }),
        404, "APIG.0101", msg)
      assert_error(token_request(s, { path = run_path() .. "/", body = run_body() }), 404, "APIG.0101", msg)
      local st = s:stats()
      assert.equal(0, st.ok)
      assert.equal(0, st.runs)
      assert.equal(0, st.run_pipelines)
    end)

    it("validates the body", function()
      local pfx = "Invalid request body: "
      local function bad(body, msg)
        assert_error(token_request(s, { path = run_path(), body = body }), 400, "DEVPIPE.00011001", pfx .. msg)
      end
      bad("", "body is empty")
      bad("{", "body is not valid JSON")
      bad('["a"]', "body must be a JSON object")
      bad("{}", "pipeline_ids is required")
      bad('{"pipeline_ids":null}', "pipeline_ids is required")
      bad('{"pipeline_ids":"' .. model.seed[1].pipeline_id .. '"}', "pipeline_ids must be an array")
      bad('{"pipeline_ids":{"a":1}}', "pipeline_ids must be an array")
      bad('{"pipeline_ids":[]}', "pipeline_ids must not be empty")
      local ids = seed_pipeline_ids()
      ids[3] = "short"
      bad(run_body(ids), "pipeline_ids[2] must be 32 letters or digits")
      ids[3] = 12
      bad(run_body(ids), "pipeline_ids[2] must be 32 letters or digits")
      bad('{"pipeline_ids":[null]}', "pipeline_ids[0] must be 32 letters or digits")
      -- the body of the other route is not a run request
      bad(seed_body(), "pipeline_ids is required")
      local st = s:stats()
      assert.equal(0, st.runs)
      assert.equal(0, st.run_pipelines)
      -- still serving, and the refused requests used up no run numbers
      local r = token_request(s, { path = run_path(), body = run_body() })
      assert.equal(model.run_id_for(model.seed[1].pipeline_id, 1), r.json.result[1].pipeline_run_id)
    end)

    it("limits the number of pipeline ids (max_items)", function()
      local ids = ids_of(201)
      assert_error(signed(s, { run = true, body = run_body(ids) }), 400, "DEVPIPE.00011001",
        "Invalid request body: pipeline_ids has 201 items, at most 200 are allowed")
      ids[201] = nil
      local r = signed(s, { run = true, body = run_body(ids) })
      assert.equal(200, r.status)
      assert.equal(200, #r.json.result)
      s:config({ max_items = 2 })
      assert_error(signed(s, { run = true, body = run_body({ ids[1], ids[2], ids[3] }) }), 400,
        "DEVPIPE.00011001", "Invalid request body: pipeline_ids has 3 items, at most 2 are allowed")
      assert.equal(200, signed(s, { run = true, body = run_body({ ids[1], ids[2] }) }).status)
      local st = s:stats()
      assert.equal(2, st.runs)
      assert.equal(202, st.run_pipelines)
    end)
  end)

  describe("shuffle", function()
    it("answers ShowBatchRunResult items out of query order, the same each time", function()
      local q = model.seed_query
      s:config({ shuffle = true })
      local r = signed(s)
      assert.equal(200, r.status)
      local seed = {}
      for i, item in ipairs(q) do seed[i] = item.pipeline_run_id end
      local want = model.shuffled(expected_seed_json().result, table.concat(seed, ","))
      assert.same({ result = want }, r.json)
      for i, item in ipairs(r.json.result) do
        assert.are_not.equal(q[i].pipeline_run_id, item.pipeline_run_id)
      end
      assert.same(r.json, signed(s).json)
      -- three items are enough to be reordered
      local three = { q[1], q[2], q[3] }
      local got = signed(s, { body = cjson.encode({ query = three }) }).json.result
      assert.equal(3, #got)
      assert.are_not.same(run_ids_of(three), run_ids_of(got))
      -- and a reset puts query order back
      s:reset()
      assert.same(expected_seed_json(), signed(s).json)
    end)

    it("answers BatchRunPipeline items out of order, runs numbered in request order", function()
      s:config({ shuffle = true })
      local ids = ids_of(5)
      local r = signed(s, { run = true, body = run_body(ids) })
      assert.equal(200, r.status)
      local position = {}
      for i, id in ipairs(ids) do position[id] = i end
      for i, item in ipairs(r.json.result) do
        assert.are_not.equal(ids[i], item.pipeline_id)
        assert.equal(model.run_id_for(item.pipeline_id, position[item.pipeline_id]), item.pipeline_run_id)
      end
      assert.equal(5, #r.json.result)
      assert.equal(5, s:stats().run_pipelines)
    end)
  end)

  describe("omit", function()
    it("leaves chosen run ids out of ShowBatchRunResult", function()
      local q = model.seed_query
      s:config({ omit = { q[2].pipeline_run_id, q[5].pipeline_run_id } })
      local r = signed(s)
      assert.equal(200, r.status)
      local want = expected_seed_json().result
      assert.same({ result = { want[1], want[3], want[4], want[6] } }, r.json)
      -- everything omitted: an empty list, still 200
      s:config({ omit = run_ids_of(q) })
      r = signed(s)
      assert.equal(200, r.status)
      assert.equal('{"result":[]}', r.body)
      -- an empty list (sent as {} by cjson) omits nothing
      assert.same({}, s:config({ omit = {} }).omit)
      assert.same(expected_seed_json(), signed(s).json)
    end)

    it("leaves chosen pipelines out of BatchRunPipeline, not starting them", function()
      local ids = ids_of(4)
      s:config({ omit = { ids[2] } })
      local r = signed(s, { run = true, body = run_body(ids) })
      assert.equal(200, r.status)
      assert.same({ result = {
        { pipeline_id = ids[1], pipeline_run_id = model.run_id_for(ids[1], 1) },
        { pipeline_id = ids[3], pipeline_run_id = model.run_id_for(ids[3], 2) },
        { pipeline_id = ids[4], pipeline_run_id = model.run_id_for(ids[4], 3) },
      } }, r.json)
      local st = s:stats()
      assert.equal(1, st.runs)
      assert.equal(3, st.run_pipelines)
      assert.same({ 4 }, st.items)
    end)

    it("applies the omitted kind of id to each route", function()
      -- a pipeline id in omit does not hide a ShowBatchRunResult item
      s:config({ omit = { model.seed_query[1].pipeline_id } })
      assert.same(expected_seed_json(), signed(s).json)
    end)
  end)

  describe("fail_ids", function()
    it("fails the ShowBatchRunResult batches that carry a listed run id", function()
      local q = model.seed_query
      s:config({ fail_ids = { q[4].pipeline_run_id } })
      local msg = "Internal server error (stand-in: failing this batch on purpose)"
      assert_error(signed(s), 500, "DEVPIPE.00000500", msg)
      assert_error(signed(s, { body = cjson.encode({ query = { q[4] } }) }), 500, "DEVPIPE.00000500", msg)
      assert.equal(200, signed(s, { body = cjson.encode({ query = { q[1], q[2], q[3] } }) }).status)
      assert.equal(200, signed(s, { body = cjson.encode({ query = { q[5], q[6] } }) }).status)
      -- the body is checked first
      assert_error(token_request(s, { body = '{"query":[]}' }), 400, "DEVPIPE.00011001")
      local st = s:stats()
      assert.same({ ["200"] = 2, ["400"] = 1, ["500"] = 2 }, st.statuses)
      assert.equal(2, st.ok)
      s:reset()
      assert.equal(200, signed(s).status)
    end)

    it("answers 429 as the gateway's throttling", function()
      s:config({ fail_ids = { model.seed_query[1].pipeline_run_id }, fail_status = 429 })
      assert_error(signed(s), 429, "APIGW.0308", "The throttling threshold has been reached")
      assert.same({ ["429"] = 1 }, s:stats().statuses)
    end)

    it("fails the BatchRunPipeline batches that carry a listed pipeline id", function()
      local ids = ids_of(6)
      s:config({ fail_ids = { ids[5] }, fail_status = 503 })
      assert_error(signed(s, { run = true, body = run_body({ ids[4], ids[5], ids[6] }) }), 503,
        "DEVPIPE.00000500", "Internal server error (stand-in: failing this batch on purpose)")
      local r = signed(s, { run = true, body = run_body({ ids[1], ids[2], ids[3] }) })
      assert.equal(200, r.status)
      -- the failed batch started nothing
      assert.equal(model.run_id_for(ids[1], 1), r.json.result[1].pipeline_run_id)
      local st = s:stats()
      assert.equal(1, st.runs)
      assert.equal(3, st.run_pipelines)
      assert.same({ 3, 3 }, st.items)
      -- a pipeline id does not fail a ShowBatchRunResult batch, nor a run id a run
      s:config({ fail_ids = { model.seed_query[1].pipeline_id } })
      assert.equal(200, signed(s).status)
      s:config({ fail_ids = { model.seed_query[1].pipeline_run_id } })
      assert.equal(200, signed(s, { run = true }).status)
    end)

    it("names other statuses after the status", function()
      s:config({ fail_ids = { model.seed_query[1].pipeline_run_id }, fail_status = 502 })
      assert_error(signed(s), 502, "DEVPIPE.00000500")
      s:config({ fail_status = 400 })
      assert_error(signed(s), 400, "DEVPIPE.00000400",
        "Request failed (stand-in: failing this batch on purpose)")
      s:config({ fail_status = 403 })
      assert_error(signed(s), 403, "DEVPIPE.00000403")
      s:config({ fail_ids = {} })
      assert.equal(200, signed(s).status)
    end)
  end)

  it("records each API request's item count in arrival order", function()
    signed(s, { body = cjson.encode({ query = { model.seed_query[1] } }) })
    signed(s)
    signed(s, { run = true, body = run_body(ids_of(3)) })
    token_request(s, { body = "{" })                 -- not JSON: 0
    signed(s, { sk = "wrong" })                      -- refused, but it carried 6
    token_request(s, { path = "/v5/" .. model.seed_project .. "/api/nope" }) -- no such API: 0
    s:stats() -- control calls are not API requests
    local st = s:stats()
    assert.same({ 1, 6, 3, 0, 6, 0 }, st.items)
    assert.equal(#st.items, st.requests)
    s:reset()
    assert.same({}, s:stats().items)
  end)

  it("delays concurrent requests side by side (delay_ms)", function()
    -- 1 s each: 4 s one after another, so that the start of four curl
    -- processes on a loaded machine cannot pass for a delay in series
    s:config({ delay_ms = 1000 })
    local outs, bodies, parts = {}, {}, {}
    for i = 1, 4 do
      outs[i], bodies[i] = os.tmpname(), os.tmpname()
      local cmd = signed(s, { command = true, run = i % 2 == 0, body_file = bodies[i] })
      parts[i] = "(" .. cmd .. " >" .. shell_quote(outs[i]) .. " 2>&1) &"
    end
    local out = run("a=$(date +%s%N); " .. table.concat(parts, " ")
      .. " wait; b=$(date +%s%N); echo $(( (b - a) / 1000000 ))")
    local ms = tonumber(out:match("(%d+)%s*$"))
    for i = 1, 4 do
      local r = parse_responses(files.read(outs[i]) or "")[1]
      os.remove(outs[i])
      os.remove(bodies[i])
      assert.truthy(r, "request " .. i .. " got no answer")
      assert.equal(200, r.status)
    end
    assert.truthy(ms, out)
    assert.is_true(ms >= 990, "took " .. tostring(ms) .. " ms: not delayed")
    assert.is_true(ms < 2500, "took " .. tostring(ms) .. " ms: delays not concurrent")
    local st = s:stats()
    assert.equal(4, st.max_in_flight)
    assert.equal(0, st.in_flight)
    assert.equal(4, st.ok)
    assert.equal(2, st.runs)
    assert.same({ 6, 6, 6, 6 }, st.items)
  end)
end)

---------------------------------------------------------------------------
-- Fault modes, TLS and the environment of what the support starts
---------------------------------------------------------------------------

-- Runs a request as request{} does (t is its table, or a curl command from
-- signed{ command = true }), but keeps what a failed transfer leaves:
-- { exit = curl's exit status, err = its stderr, out = its stdout, r = the
-- first response parsed from out (or nil), ms = how long it took }.
local function attempt(s, t)
  local cmd = type(t) == "string" and t or curl_command(s, t)
  local err_file = os.tmpname()
  local out = run("a=$(date +%s%N); " .. cmd .. " 2>" .. shell_quote(err_file)
    .. "; e=$?; b=$(date +%s%N); printf '\\nexit=%d ms=%d' $e $(( (b - a) / 1000000 ))")
  local err = files.read(err_file) or ""
  os.remove(err_file)
  local body, code, ms = out:match("^(.*)\nexit=(%d+) ms=(%d+)$")
  assert(code, out)
  return { exit = tonumber(code), err = err, out = body, r = parse_responses(body)[1], ms = tonumber(ms) }
end

-- curl's ways of saying that the connection ended without an answer: an
-- RST (56) where the stand-in can send one, else a FIN before any byte (52).
local function assert_no_answer(a)
  assert.is_true(a.exit == 52 or a.exit == 56, "curl exit " .. a.exit .. ": " .. a.err)
  assert.truthy(a.err:find("Empty reply from server", 1, true) or a.err:find("Connection reset by peer", 1, true),
    a.err)
  assert.equal("", a.out)
end

-- curl's way of saying that a body ended before its Content-Length.
local function assert_cut_short(a)
  assert.equal(18, a.exit, a.err)
  assert.truthy(a.err:find("transfer closed with %d+ bytes remaining to read"), a.err)
  local r = a.r
  assert.truthy(r, a.out)
  assert.equal(200, r.status)
  assert.is_false(r.complete)
  assert.is_true(#r.body > 0 and #r.body < r.length)
  assert.is_nil(r.json)
  return r
end

once.describe("stand-in fault modes over HTTP", function()
  local s
  standin.for_block(function(server) s = server end, function() os.remove(tmp_body) end)

  local function faults(t)
    local out = { reset_first = 0, banner_first = 0, fail_first = 0, garbage_first = 0, echo_first = 0,
      truncate_first = 0, stall_body_first = 0, stale_answer_first = 0, early_first = 0 }
    for k, v in pairs(t or {}) do out[k] = v end
    return out
  end

  local function unauthenticated(opts)
    opts = opts or {}
    return { path = opts.path or api_path(), body = opts.body or seed_body() }
  end

  it("are all off after a reset, and their values are checked", function()
    assert.same(DEFAULT_CONFIG, s:config())
    assert.same(faults(), s:stats().faults)
    for _, bad in ipairs({
      { reset_first = -1 }, { reset_first = 1.5 }, { reset_first = "1" }, { reset_first = true },
      { fail_first = -1 }, { fail_first = 0.5 },
      { fail_first_status = 200 }, { fail_first_status = 600 }, { fail_first_status = 503.5 },
      { retry_after = "" }, { retry_after = 1 }, { retry_after = "1\r\nX-Evil: 1" }, { retry_after = false },
      { garbage_first = -3 }, { truncate_first = 2.5 }, { huge_body_bytes = -1 }, { huge_body_bytes = "20MB" },
      { echo_first = -1 }, { echo_status = 200 }, { echo_form = "base64" }, { echo_form = 1 },
      { banner_first = -1 }, { banner = "" }, { banner = "caf\195\169" }, { banner = ("x"):rep(262145) },
      { banner_hex = "" }, { banner_hex = "abc" }, { banner_hex = "zz" }, { banner_hex = 12 },
      { banner_hold_ms = -1 }, { banner_hold_ms = 60001 }, { banner_hold_ms = "1s" },
      { stall_body_first = 0.5 }, { stall_ms = -1 }, { stall_ms = 60001 }, { stall_ms = "1s" },
      { stale_answer_first = -1 }, { stale_answer_first = 1.5 }, { fault_after = -1 }, { fault_after = "1" },
      { fault_route = "results" }, { fault_route = 1 }, { fail_each_first = 1 },
      { foreign = "a" }, { foreign = { { pipeline_id = ("a"):rep(32) } } }, { foreign = { ("a"):rep(32) } },
    }) do
      assert.has_error(function() s:config(bad) end, nil, cjson.encode(bad))
    end
    assert.same(DEFAULT_CONFIG, s:config())
    local all = { reset_first = 1, fail_first = 2, fail_first_status = 429,
      retry_after = "Wed, 21 Oct 2015 07:28:00 GMT", garbage_first = 3, truncate_first = 4, huge_body_bytes = 5 }
    assert.same(with_defaults(all), s:config(all))
    -- null takes Retry-After away again
    assert.equal(cjson.null, s:config({ retry_after = cjson.null }).retry_after)
    s:reset()
    assert.same(DEFAULT_CONFIG, s:config())
  end)

  describe("fail_first", function()
    it("fails the first requests of either route, before authentication, then serves", function()
      s:config({ fail_first = 3 })
      local msg = "Internal server error (stand-in: failing the first requests on purpose)"
      local r = token_request(s)
      assert_error(r, 503, "DEVPIPE.00000500", msg)
      assert.is_nil(r.headers["retry-after"])
      assert_error(signed(s, { run = true }), 503, "DEVPIPE.00000500", msg)
      -- credentials play no part: the failure is in front of the service
      assert_error(request(s, unauthenticated()), 503, "DEVPIPE.00000500", msg)
      -- the fourth is served, and the failed run started nothing
      local ok = signed(s, { run = true })
      assert.equal(200, ok.status)
      assert.equal(model.run_id_for(model.seed[1].pipeline_id, 1), ok.json.result[1].pipeline_run_id)
      assert_error(request(s, unauthenticated()), 401, "DEV.00000001")
      local st = s:stats()
      assert.same({ ["503"] = 3, ["200"] = 1, ["401"] = 1 }, st.statuses)
      assert.equal(5, st.requests)
      assert.equal(1, st.ok)
      assert.equal(1, st.runs)
      assert.same(faults({ fail_first = 3 }), st.faults)
    end)

    it("with fail_each_first, fails the first request of each body, whatever came between", function()
      s:config({ fail_each_first = true, retry_after = "5" })
      local a, b = seed_body(), run_body()
      local r = token_request(s, { body = a })
      assert_error(r, 503, "DEVPIPE.00000500")
      assert.equal("5", r.headers["retry-after"])
      assert_error(token_request(s, { path = run_path(), body = b }), 503, "DEVPIPE.00000500")
      assert.equal(200, token_request(s, { body = a }).status)
      assert.equal(200, token_request(s, { path = run_path(), body = b }).status)
      -- setting it again starts it again; a reset turns it off
      s:config({ fail_each_first = true })
      assert_error(token_request(s, { body = a }), 503, "DEVPIPE.00000500")
      s:reset()
      assert.equal(200, token_request(s, { body = a }).status)
    end)

    it("sends Retry-After as it is given, and 429 as the gateway's throttling", function()
      s:config({ fail_first = 1, fail_first_status = 429, retry_after = "1" })
      local r = token_request(s)
      assert_error(r, 429, "APIGW.0308", "The throttling threshold has been reached")
      assert.equal("1", r.headers["retry-after"])
      r = token_request(s)
      assert.equal(200, r.status)
      assert.is_nil(r.headers["retry-after"])

      -- an HTTP date; setting fail_first again starts its count again
      local date = "Wed, 21 Oct 2015 07:28:00 GMT"
      s:config({ fail_first = 1, fail_first_status = 503, retry_after = date })
      r = token_request(s, { path = run_path(), body = run_body() })
      assert_error(r, 503, "DEVPIPE.00000500")
      assert.equal(date, r.headers["retry-after"])

      -- other statuses are named after the status
      s:config({ fail_first = 1, fail_first_status = 400, retry_after = cjson.null })
      r = token_request(s)
      assert_error(r, 400, "DEVPIPE.00000400", "Request failed (stand-in: failing the first requests on purpose)")
      assert.is_nil(r.headers["retry-after"])
    end)

    it("also puts Retry-After on fail_ids' answers", function()
      s:config({ fail_ids = { model.seed_query[1].pipeline_run_id }, fail_status = 429, retry_after = "7" })
      local r = signed(s)
      assert_error(r, 429, "APIGW.0308")
      assert.equal("7", r.headers["retry-after"])
      assert.same(faults(), s:stats().faults)
    end)

    it("counts again only when its key is set or at a reset", function()
      s:config({ fail_first = 1 })
      assert.equal(503, token_request(s).status)
      assert.equal(200, token_request(s).status)
      s:config({ retry_after = "2" }) -- another key: the count goes on
      assert.equal(200, token_request(s).status)
      s:config({ fail_first = 1 })   -- the same value again: it starts again
      assert.equal(503, token_request(s).status)
      assert.equal(200, token_request(s).status)
      assert.same(faults({ fail_first = 2 }), s:stats().faults)
      s:reset()
      assert.equal(200, token_request(s).status)
      assert.same(faults(), s:stats().faults)
    end)
  end)

  describe("reset_first", function()
    it("closes the connection without an answer, then serves", function()
      s:config({ reset_first = 2 })
      assert_no_answer(attempt(s, { path = api_path(), body = seed_body(),
        headers = { { "X-Auth-Token", model.credentials.iam_token } } }))
      -- BatchRunPipeline too, and nothing is started
      assert_no_answer(attempt(s, { path = run_path(), body = run_body(),
        headers = { { "X-Auth-Token", model.credentials.iam_token } } }))
      local r = signed(s, { run = true })
      assert.equal(200, r.status)
      assert.equal(model.run_id_for(model.seed[1].pipeline_id, 1), r.json.result[1].pipeline_run_id)
      local st = s:stats()
      assert.equal(3, st.requests)      -- every attempt counts as a request
      assert.equal(3, st.connections)
      assert.same({ ["200"] = 1 }, st.statuses) -- a reset has no status
      assert.equal(1, st.ok)
      assert.equal(0, st.in_flight)
      assert.same(faults({ reset_first = 2 }), st.faults)
      assert.is_true(s:running())
    end)

    it("holds the reset back delay_ms, as it would an answer", function()
      s:config({ reset_first = 1, delay_ms = 300 })
      local a = attempt(s, unauthenticated())
      assert_no_answer(a)
      assert.is_true(a.ms >= 290, "reset after " .. a.ms .. " ms")
      assert.is_true(a.ms < 5000, "reset after " .. a.ms .. " ms")
    end)
  end)

  describe("truncate_first", function()
    it("cuts a 200 answer after half its body, having done the work", function()
      s:config({ truncate_first = 1 })
      local ids = seed_pipeline_ids()
      local r = assert_cut_short(attempt(s, signed(s, { command = true, run = true })))
      assert.equal(math.floor(r.length / 2), #r.body)
      assert.equal("application/json;charset=UTF-8", r.headers["content-type"])
      assert.truthy(r.body:find('^{"result":%[{"pipeline_id":"' .. ids[1] .. '"'))
      -- the runs were started: the next run's numbers follow them
      local again = signed(s, { run = true })
      assert.equal(200, again.status)
      assert.equal(model.run_id_for(ids[1], #ids + 1), again.json.result[1].pipeline_run_id)
      local st = s:stats()
      assert.same({ ["200"] = 2 }, st.statuses)
      assert.equal(1, st.ok)
      assert.equal(2, st.runs)
      assert.equal(2 * #ids, st.run_pipelines)
      assert.same(faults({ truncate_first = 1 }), st.faults)
    end)

    it("counts only 200 answers", function()
      s:config({ truncate_first = 1 })
      assert_error(signed(s, { sk = "wrong" }), 401, "APIGW.0301") -- whole
      assert_cut_short(attempt(s, { path = api_path(), body = seed_body(),
        headers = { { "X-Auth-Token", model.credentials.iam_token } } }))
      assert.same(expected_seed_json(), token_request(s).json)
    end)
  end)

  describe("banner_first", function()
    it("answers with bytes that are not HTTP, after reading the whole request, then serves", function()
      s:config({ banner_first = 2 })
      -- curl takes the bytes as an HTTP/0.9 answer when allowed to, and shows them as they came
      local a = attempt(s, signed(s, { command = true }) .. " --http0.9")
      assert.equal(0, a.exit, a.err)
      assert.equal("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", a.out)
      -- BatchRunPipeline too, and nothing is started
      a = attempt(s, signed(s, { command = true, run = true }) .. " --http0.9")
      assert.equal("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", a.out)
      local r = signed(s, { run = true })
      assert.equal(200, r.status)
      assert.equal(model.run_id_for(model.seed[1].pipeline_id, 1), r.json.result[1].pipeline_run_id)
      local st = s:stats()
      assert.equal(3, st.requests)
      assert.same({ ["200"] = 1 }, st.statuses) -- a banner has no status
      assert.equal(1, st.runs)
      assert.same({ result = 1, run = 2, other = 0 }, st.routes)
      assert.same(faults({ banner_first = 2 }), st.faults)
      -- the request was read whole before the banner went
      assert.equal(3, #st.items)
      assert.equal(#model.seed, st.items[1])
    end)

    it("writes the banner it is given: an answer that starts as HTTP and breaks its framing", function()
      local bad = "HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n{}"
      s:config({ banner_first = 1, banner = bad })
      local a = attempt(s, { path = api_path(), body = seed_body(),
        headers = { { "X-Auth-Token", model.credentials.iam_token } } })
      assert.is_true(a.exit ~= 0, a.out)
      assert.equal(200, token_request(s).status)
    end)
  end)

  describe("stall_body_first", function()
    it("sends half a 200 answer, then the rest after stall_ms, having done the work", function()
      s:config({ stall_body_first = 1, stall_ms = 600 })
      local a = attempt(s, signed(s, { command = true, run = true }))
      assert.equal(0, a.exit, a.err)
      assert.is_true(a.ms >= 590, "answered after " .. a.ms .. " ms")
      assert.is_true(a.r.complete)
      assert.equal(#model.seed, #a.r.json.result)
      -- a client that gives up meanwhile has half the body
      s:config({ stall_body_first = 1, stall_ms = 2000 })
      a = attempt(s, signed(s, { command = true, run = true }) .. " --max-time 0.5")
      assert.equal(28, a.exit, a.err)
      -- both started their runs: the next run's numbers follow them
      local again = signed(s, { run = true })
      assert.equal(model.run_id_for(model.seed[1].pipeline_id, 2 * #model.seed + 1),
        again.json.result[1].pipeline_run_id)
      local st = s:stats()
      assert.equal(1, st.ok) -- a stalled answer is a fault, like a cut one
      assert.same(faults({ stall_body_first = 2 }), st.faults)
    end)

    it("takes only 200 answers the truncation left", function()
      s:config({ truncate_first = 1, stall_body_first = 1, stall_ms = 300 })
      local t = { path = api_path(), body = seed_body(), headers = { { "X-Auth-Token", model.credentials.iam_token } } }
      assert_cut_short(attempt(s, t))
      local a = attempt(s, t)
      assert.is_true(a.ms >= 290 and a.r.complete, a.ms)
      assert.same(faults({ truncate_first = 1, stall_body_first = 1 }), s:stats().faults)
    end)
  end)

  describe("stale_answer_first", function()
    it("writes a second answer, all STALE, 100 ms after a 200, on the same connection", function()
      s:config({ stale_answer_first = 1 })
      -- One request on a connection held open for a second: what comes back.
      local body = seed_body()
      local raw_request = table.concat({ "POST " .. api_path() .. " HTTP/1.1", "Host: 127.0.0.1",
        "X-Auth-Token: " .. model.credentials.iam_token, "Content-Type: application/json",
        "Content-Length: " .. #body, "", body }, "\r\n")
      local out = run("bash -c " .. shell_quote(("exec 3<>/dev/tcp/127.0.0.1/%d && printf '%%s' %s >&3 && "
        .. "timeout 1 cat <&3"):format(s.port, shell_quote(raw_request))))
      local answers = parse_responses(out)
      assert.equal(2, #answers, out)
      assert.equal(200, answers[1].status)
      assert.is_nil(answers[1].body:find("STALE", 1, true))
      assert.equal(200, answers[2].status)
      assert.equal(#model.seed, select(2, answers[2].body:gsub('"status":"STALE"', "")))
      assert.same(faults({ stale_answer_first = 1 }), s:stats().faults)
    end)
  end)

  describe("fault_route", function()
    it("gives the fault modes only the requests of one route", function()
      s:config({ reset_first = 1, fault_route = "run" })
      assert.same(expected_seed_json(), token_request(s).json) -- a query is served
      assert_no_answer(attempt(s, signed(s, { command = true, run = true })))
      assert.equal(200, signed(s, { run = true }).status)
      local st = s:stats()
      assert.same({ result = 1, run = 2, other = 0 }, st.routes)
      assert.same(faults({ reset_first = 1 }), st.faults)
      s:reset()
      s:config({ fail_first = 1, fault_route = "result" })
      assert.equal(200, signed(s, { run = true }).status)
      assert_error(token_request(s), 503, "DEVPIPE.00000500")
      assert.equal(200, token_request(s).status)
    end)
  end)

  describe("garbage_first", function()
    it("answers 200 with whole bodies that are not JSON, in turn, then serves", function()
      s:config({ garbage_first = 3 })
      local bodies = {}
      for i = 1, 3 do
        -- before authentication, like the other faults in front of the service
        local r = i == 2 and request(s, unauthenticated()) or token_request(s)
        assert.equal(200, r.status)
        assert_common_headers(r)
        assert.is_true(r.complete)
        assert.equal(r.length, #r.body)
        assert.is_nil(r.json)
        assert.is_false((pcall(cjson.decode, r.body)))
        bodies[i] = r.body
      end
      assert.equal('{"result":[{"pipeline_id":', bodies[1])
      assert.truthy(bodies[2]:find("^<html>.*oops.*</html>$"))
      assert.equal(bodies[1], bodies[3])
      assert.same(expected_seed_json(), token_request(s).json)
      local st = s:stats()
      assert.same({ ["200"] = 4 }, st.statuses)
      assert.equal(1, st.ok)
      assert.same(faults({ garbage_first = 3 }), st.faults)
    end)
  end)

  describe("echo_first", function()
    local token = model.credentials.iam_token
    local function echoed(form)
      s:config({ echo_first = 1, echo_form = form })
      local r = token_request(s)
      assert.equal(401, r.status)
      return r.body
    end

    it("quotes the request's credentials in each form, before authentication", function()
      local json = echoed("json")
      assert.equal("APIGW.0301", cjson.decode(json).error_code)
      assert.truthy(cjson.decode(json).error_msg:find(token, 1, true))
      local slash = echoed("json_slash")
      assert.truthy(slash:find(token:gsub("/", "\\/"), 1, true), slash)
      assert.equal(cjson.decode(json).error_msg, cjson.decode(slash).error_msg)
      assert.equal(cjson.decode(json).error_msg, cjson.decode(echoed("json_u")).error_msg)
      local upper = cjson.decode(echoed("percent")).error_msg
      assert.truthy(upper:find((token:gsub(".", function(c) return ("%%%02X"):format(c:byte()) end)), 1, true))
      local lower = cjson.decode(echoed("percent_lower")).error_msg
      assert.truthy(lower:find((token:gsub(".", function(c) return ("%%%02x"):format(c:byte()) end)), 1, true))
      local page = echoed("html")
      assert.is_false((pcall(cjson.decode, page)))
      local at = page:find(token, 1, true)
      assert.truthy(at and at > 150 and at < 200, page)
      local cut = cjson.decode(echoed("truncated")).error_msg
      assert.truthy(cut:find(token:sub(1, 24) .. "...", 1, true))
      assert.is_nil(cut:find(token:sub(1, 25), 1, true))
      assert.same(faults({ echo_first = 7 }), s:stats().faults) -- one each: a config call starts the count again
      assert.same(expected_seed_json(), token_request(s).json)
    end)

    it("quotes the security token and the SK of a signed request", function()
      s:config({ echo_first = 1, echo_status = 403 })
      local t = model.credentials.temporary
      local r = signed(s, { cred = t })
      assert.equal(403, r.status)
      local msg = r.json.error_msg
      assert.truthy(msg:find(t.security_token, 1, true), msg)
      assert.truthy(msg:find(t.sk, 1, true), msg)
      assert.same(faults({ echo_first = 1 }), s:stats().faults)
    end)
  end)

  it("applies reset, fail, garbage and truncate in that order, each counting what reaches it", function()
    s:config({ reset_first = 1, fail_first = 1, garbage_first = 1, truncate_first = 1, retry_after = "3" })
    local t = { path = api_path(), body = seed_body(), headers = { { "X-Auth-Token", model.credentials.iam_token } } }
    assert_no_answer(attempt(s, t))
    local a = attempt(s, t)
    assert.equal(0, a.exit)
    assert_error(a.r, 503, "DEVPIPE.00000500")
    assert.equal("3", a.r.headers["retry-after"])
    a = attempt(s, t)
    assert.equal(0, a.exit)
    assert.equal('{"result":[{"pipeline_id":', a.r.body)
    assert_cut_short(attempt(s, t))
    assert.same(expected_seed_json(), token_request(s).json)
    local st = s:stats()
    assert.equal(5, st.requests)
    assert.equal(1, st.ok)
    assert.same({ ["200"] = 3, ["503"] = 1 }, st.statuses)
    assert.same(faults({ reset_first = 1, fail_first = 1, garbage_first = 1, truncate_first = 1 }), st.faults)
  end)

  describe("huge_body_bytes", function()
    it("pads every 200 answer to the size asked, still valid JSON", function()
      local size = 20 * 1024 * 1024
      s:config({ huge_body_bytes = size })
      local file = os.tmpname()
      local out = run(curl_command(s, { path = api_path(), body = seed_body(),
        headers = { { "X-Auth-Token", model.credentials.iam_token } } }):gsub(" %-i ", " ")
        .. " -o " .. shell_quote(file) .. " -w '%{http_code} %{size_download}'")
      local body = files.read(file)
      os.remove(file)
      assert.equal("200 " .. size, out)
      assert.equal(size, #body)
      local doc = cjson.decode(body)
      assert.same(expected_seed_json().result, doc.result)
      assert.truthy(doc.padding:find("^x+$"))
      assert.truthy(body:find('^{"result":%[{"pipeline_id":"6ba9a2dbc7024c22a9a6614516dc22db"'))
      -- BatchRunPipeline's too
      local r = signed(s, { run = true })
      assert.equal(200, r.status)
      assert.equal(size, #r.body)
      assert.equal(6, #r.json.result)
      -- errors and control answers keep their size
      local e = signed(s, { sk = "wrong" })
      assert_error(e, 401, "APIGW.0301")
      assert.is_true(#e.body < 1000)
      assert.equal(2, s:stats().ok) -- a padded answer is a proper one
    end)

    it("leaves answers already that large alone, and pads others to the byte", function()
      local plain = token_request(s).body
      s:config({ huge_body_bytes = #plain })
      assert.equal(plain, token_request(s).body)
      s:config({ huge_body_bytes = #plain + 100 })
      local r = token_request(s)
      assert.equal(#plain + 100, #r.body)
      assert.same(expected_seed_json().result, r.json.result)
      -- the padding member takes 13 bytes even when empty: "at least" N
      s:config({ huge_body_bytes = #plain + 1 })
      r = token_request(s)
      assert.equal(#plain + #',"padding":""', #r.body)
      assert.equal("", r.json.padding)
    end)
  end)
end)

once.describe("stand-in over TLS", function()
  local s, ca
  standin.for_block(function(server) s = server end, function()
    os.remove(tmp_body)
    standin.remove_ca(ca)
  end, function()
    ca = standin.make_ca()
    return { tls = ca }
  end)

  local function curl_code(args)
    return run("curl -q -sS --max-time 10 -o /dev/null -w '%{http_code}' " .. args .. " 2>&1; echo \" exit=$?\"")
  end

  it("makes a CA and a server certificate for 127.0.0.1 and localhost", function()
    for _, k in ipairs({ "ca", "ca_key", "cert", "key" }) do
      assert.truthy(files.read(ca[k]), k)
    end
    local out = run("openssl verify -CAfile " .. shell_quote(ca.ca) .. " " .. shell_quote(ca.cert) .. " 2>&1")
    assert.equal(ca.cert .. ": OK\n", out)
    out = run("openssl x509 -in " .. shell_quote(ca.cert) .. " -noout -ext subjectAltName 2>&1")
    assert.truthy(out:find("IP Address:127.0.0.1", 1, true), out)
    assert.truthy(out:find("DNS:localhost", 1, true), out)
    out = run("openssl x509 -in " .. shell_quote(ca.ca) .. " -noout -ext basicConstraints 2>&1")
    assert.truthy(out:find("CA:TRUE", 1, true), out)
  end)

  it("serves HTTPS that verifies with the CA, by address and by name", function()
    assert.equal("https://127.0.0.1:" .. s.port, s.url)
    assert.equal(0, s:stats().requests) -- control calls trust the CA
    local cacert = "--cacert " .. shell_quote(ca.ca) .. " "
    assert.equal("200 exit=0\n", curl_code(cacert .. shell_quote(s.url .. "/_standin/stats")))
    assert.equal("200 exit=0\n", curl_code(cacert .. shell_quote("https://localhost:" .. s.port .. "/_standin/stats")))
    -- without the CA, verification fails
    local out = curl_code(shell_quote(s.url .. "/_standin/stats"))
    assert.truthy(out:find("exit=60", 1, true), out)
    assert.truthy(out:find("SSL certificate problem", 1, true), out)
    -- and plain HTTP gets no answer at all
    out = curl_code(shell_quote("http://127.0.0.1:" .. s.port .. "/_standin/stats"))
    assert.truthy(out:find("000 exit=", 1, true), out)
    assert.is_nil(out:find("exit=0", 1, true), out)
  end)

  it("answers API requests, and its fault modes, as over plain HTTP", function()
    local r = signed(s)
    assert.equal(200, r.status)
    assert.same(expected_seed_json(), r.json)
    -- no ALPN: curl, which would take h2, speaks HTTP/1.1
    assert.equal("1.1", run(curl_command(s, { path = api_path(), body = seed_body(),
      headers = { { "X-Auth-Token", model.credentials.iam_token } } }) .. " -o /dev/null -w '%{http_version}'"))
    s:config({ reset_first = 1, truncate_first = 1 })
    local t = { path = api_path(), body = seed_body(), headers = { { "X-Auth-Token", model.credentials.iam_token } } }
    assert_no_answer(attempt(s, t))
    assert_cut_short(attempt(s, t))
    assert.equal(200, token_request(s).status)
  end)

  it("lets control calls skip verification when given no CA", function()
    local s2 = standin.start({ tls = { cert = ca.cert, key = ca.key } })
    assert.equal("https://127.0.0.1:" .. s2.port, s2.url)
    assert.same(DEFAULT_CONFIG, s2:config())
    assert.equal(0, s2:stats().requests)
    s2:stop()
  end)

  it("refuses to start with a key that is not the certificate's", function()
    local log = os.tmpname()
    local ok, err = pcall(standin.start, { tls = { cert = ca.cert, key = ca.ca_key }, stderr = log })
    local text = files.read(log) or ""
    os.remove(log)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("exited before it was ready", 1, true), tostring(err))
    assert.truthy(text:find("cannot set up TLS", 1, true), text)
  end)
end)

describe("stand-in support under a sanitizer's environment", function()
  it("starts the server and curl without LD_PRELOAD and the sanitizer options", function()
    local child = require "spec.support.child"
    -- libc itself: a preload that changes nothing, so only the environment
    -- of what the support starts is tested
    local out, ok = child.run([[
      local standin = require "spec.support.standin"
      local s = standin.start()
      local f = assert(io.open("/proc/" .. s.pid .. "/environ", "rb"))
      local env = f:read("*a")
      f:close()
      for _, name in ipairs({ "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" }) do
        if env:find("%z" .. name .. "=") or env:find("^" .. name .. "=") then
          io.write("server has ", name, "\n")
        end
      end
      io.write("requests=", s:stats().requests, "\n")
      s:stop()
    ]], { LD_PRELOAD = "libc.so.6", ASAN_OPTIONS = "detect_leaks=0", UBSAN_OPTIONS = "print_stacktrace=1",
      LSAN_OPTIONS = "report_objects=1",
      -- each interpreter's own defaults: the server (LuaJIT) inherits these
      -- and must not load the specs' Lua 5.4 modules
      LUA_PATH = "./?.lua;;", LUA_CPATH = ";;" })
    assert.is_true(ok, out)
    assert.equal("requests=0\n", out:gsub("%.0\n", "\n"))
  end)
end)
