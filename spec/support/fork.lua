-- fork(), wait() and exit() for the specs, and the descriptor calls a
-- forked child's specs make (close, dup2, tcp_socket), from
-- spec/support/fork.c, compiled on first use for the Lua running the suite.
local lib = require("spec.support.clib")("fork")
return { fork = lib.fork, wait = lib.wait, exit = lib.exit, close = lib.close, dup2 = lib.dup2,
         tcp_socket = lib.tcp_socket }
