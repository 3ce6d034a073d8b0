--- The request loop: runs a call's batches through a transport, at most
-- `concurrency` at once, and hands each answer to the caller as it comes.
-- It lives in Lua, not C, so that a transport may yield (OpenResty) or
-- resume a coroutine from a callback (Neovim) inside t:wait().
local M = {}

--- Runs jobs[1..n] through transport t.  For each job, build(job) gives
-- the request to send (signed when it starts, so that X-Sdk-Date is
-- fresh), and done(job, response) or done(job, nil, kind, message) is
-- called when it ends, in completion order.  Should done raise, the
-- requests still in flight are abandoned and the error goes on up.
function M.run(t, jobs, concurrency, build, done)
  local next_job, in_flight, by_token = 1, 0, {}

  local function finish(job, res, kind, msg)
    local ok, err = pcall(done, job, res, kind, msg)
    if not ok then
      t:cancel()
      error(err, 0)
    end
  end

  local function fill()
    while in_flight < concurrency and next_job <= #jobs do
      local job = jobs[next_job]
      next_job = next_job + 1
      local req, berr = build(job)
      if not req then
        finish(job, nil, berr.code, berr.message)
      else
        local token, kind, msg = t:start(req)
        if token then
          by_token[token] = job
          in_flight = in_flight + 1
        else
          finish(job, nil, kind, msg)
        end
      end
    end
  end

  fill()
  while in_flight > 0 do
    local token, res, kind, msg = t:wait()
    if token == nil then break end -- the transport lost track: nothing left
    local job = by_token[token]
    by_token[token] = nil
    in_flight = in_flight - 1
    finish(job, res, kind, msg)
    fill()
  end
end

--- Splits list[1..n] into arrays of at most size items, in order.
function M.split(list, size)
  local batches = {}
  for i = 1, #list, size do
    local b = {}
    for j = i, math.min(i + size - 1, #list) do b[#b + 1] = list[j] end
    batches[#batches + 1] = b
  end
  return batches
end

return M
