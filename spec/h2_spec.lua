-- A run reaches the network at most once, whatever an HTTP/2 server says
-- (README: Retries).  Over HTTP/2 libcurl would send a request again by
-- itself when the server resets its stream with REFUSED_STREAM (on a new
-- connection, again and again) or HTTP_1_1_REQUIRED (over HTTP/1.1): both
-- claim the request was not taken, which a broken or lying server may claim
-- after reading it whole.  The stand-in, over TLS with its own CA, offers
-- h2 and resets every run once read (its /_standin/h2).
local br = require "codearts.batchresult"
local model = require "spec.standin.model"
local standin = require "spec.support.standin"

local PIPELINE = ("c%031x"):format(1)

--- A stand-in over TLS with a CA of its own, for the enclosing describe
-- block: the block's box (box.server), and a function giving the CA file.
local function tls_standin()
  local pki
  local box = standin.for_block(nil, function()
    if pki then standin.remove_ca(pki) end
  end, function()
    pki = standin.make_ca()
    return { tls = pki }
  end)
  return box, function() return pki.ca end
end

describe("a run against an HTTP/2 server that resets its stream once it has read it", function()
  local box, ca = tls_standin()

  -- HTTP/2 offered from now on, every run's stream reset with code.
  local function reset_runs_with(code)
    box.server:h2 { reset_run = code }
  end

  local function client()
    return assert(br.new(box.server:options { ca_file = ca(), max_retries = 0, timeout = 5 }))
  end

  for _, case in ipairs { { code = 0xd, name = "HTTP_1_1_REQUIRED" }, { code = 0x7, name = "REFUSED_STREAM" } } do
    it(("goes once, over HTTP/1.1, and fails with its pipeline unanswered (RST_STREAM %s)"):format(case.name),
      function()
        reset_runs_with(case.code)
        local c = client()
        local runs, err = c:run { PIPELINE }
        local seen = box.server:stats()
        assert.are.equal(1, seen.routes.run, "the stand-in received the run this many times")
        assert.are.equal("1.1", box.server:last().version)
        assert.is_nil(runs)
        assert.are.equal("NETWORK", err.code)
        assert.is_false(err.retryable)
        assert.are.equal(1, err.attempts)
        assert.are.same({ PIPELINE }, err.unanswered)
        -- the handle the run used takes HTTP/2 back for a query
        assert(c:query(model.seed_query))
        assert.are.equal("2", box.server:last().version)
        c:close()
      end)
  end
end)

-- libcurl 7.88 takes a stream reset with NO_ERROR for the answer's end,
-- whole or not (README: Retries; review h244): such a query, its body cut
-- and with no Content-Length, is DECODE, not retried.  This pins the
-- documented difference from HTTP/1.1; a libcurl that tells it apart
-- would say NETWORK, and README would change with it.
describe("a query whose HTTP/2 stream the server resets with NO_ERROR before the body ends", function()
  local box, ca = tls_standin()

  it("fails as DECODE, the body ending early, and is not retried", function()
    box.server:h2 { cut_query = true }
    local c = assert(br.new(box.server:options { ca_file = ca(), max_retries = 2, timeout = 5 }))
    local results, err = c:query(model.seed_query)
    c:close()
    assert.is_nil(results)
    assert.are.same({ "DECODE", false, 1 }, { err.code, err.retryable, err.attempts }, tostring(err))
    assert.truthy(err.message:find("ends early", 1, true), err.message)
    assert.are.equal("2", box.server:last().version)
    assert.are.equal(1, box.server:stats().routes.result)
  end)
end)

-- RFC 9113 8.2.1 makes a field with a space or tab at an end malformed;
-- libcurl sends trailing ones as they are, and servers built on nghttp2
-- drop such a field: a signed X-Security-Token or User-Agent went missing,
-- and every query was refused with 401 (review sign50).
describe("a user_agent, security_token or token with spaces or tabs at its ends, over HTTP/2", function()
  local box, ca = tls_standin()

  it("is sent trimmed of them, as it is signed", function()
    box.server:h2 {}
    local t = model.credentials.temporary
    for _, o in ipairs({ { ak = t.ak, sk = t.sk, security_token = " \t" .. t.security_token .. " \t",
                           user_agent = "my-tool/1.0 \t" },
                         { token = model.credentials.iam_token .. " ", user_agent = "\tmy-tool/1.0" } }) do
      o.ca_file, o.max_retries = ca(), 0
      local c = assert(br.new(box.server:options(o)))
      assert(c:query(model.seed_query))
      c:close()
      local last = box.server:last()
      assert.are.equal("2", last.version)
      assert.are.equal("my-tool/1.0", last.headers["user-agent"])
      if o.token then
        assert.are.equal(model.credentials.iam_token, last.headers["x-auth-token"])
      else
        assert.are.equal(t.security_token, last.headers["x-security-token"])
      end
    end
  end)
end)
