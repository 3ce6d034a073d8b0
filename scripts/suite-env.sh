# Sourced by the scripts that run the busted suite (test.sh, and so
# test-asan.sh; test-valgrind.sh): what a machine may set that would change
# what the specs see, unset for them and every process they start.  The
# proxies libcurl reads (on a runner behind a company proxy, the specs'
# https:// calls would go through it, and a child given its own proxy
# variable would still take the lower-case one first), and the code every
# Lua runs before its script.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY \
    LUA_INIT LUA_INIT_5_2 LUA_INIT_5_3 LUA_INIT_5_4
