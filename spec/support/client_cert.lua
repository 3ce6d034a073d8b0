-- A TLS server that requires a client certificate, for specs: OpenSSL's
-- own s_server (-Verify 1), answering HTTP (-www) only to a client that
-- shows one.  Under TLS 1.3 it refuses a client with none once the
-- client's part of the handshake has ended, the request already sent;
-- under TLS 1.2, within the handshake.
--
--   local s = client_cert.start(pki, "-tls1_3")  -- pki: standin.make_ca's
--   s.port, s.url (https://127.0.0.1:PORT); s:stop()
local shell = require "spec.support.shell"

local M = {}

function M.start(pki, version)
  local q = shell.quote
  -- (bounded: should the specs' process die, it ends by itself)
  local p = assert(io.popen(shell.clean_env .. "sh -c " .. q("echo $$; exec timeout 600 openssl s_server -accept "
    .. "127.0.0.1:0 -cert " .. q(pki.cert) .. " -key " .. q(pki.key) .. " -Verify 1 -www " .. version .. " 2>&1")))
  local pid, port = p:read("*l")
  for line in p:lines() do
    port = line:match("^ACCEPT 127%.0%.0%.1:(%d+)")
    if port then break end
  end
  assert(port, "openssl s_server did not start")
  return {
    port = tonumber(port), url = "https://127.0.0.1:" .. port,
    stop = function()
      os.execute("kill " .. pid)
      p:close()
    end,
  }
end

return M
