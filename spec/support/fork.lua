-- fork(), wait() and exit() for the specs, from spec/support/fork.c,
-- compiled on first use for the Lua running the suite.
local lib = require("spec.support.clib")("fork")
return { fork = lib.fork, wait = lib.wait, exit = lib.exit }
