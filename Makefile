# codearts-batchresult
#   make                 build the C module for Lua $(LUA_VERSION) into build/$(LUA_VERSION)/
#   make test            run the busted suite (installs missing Debian packages first)
#   make demo            start the local stand-in, run examples/demo.lua against it
#   make bench           speed figures, each beside its comparison
#   make LUA_VERSION=5.1|5.3|5.4|jit   pick the Lua to build for

LUA_VERSION ?= 5.4

ifeq ($(LUA_VERSION),jit)
LUA_PC  := luajit
LUA     := luajit
else
LUA_PC  := lua$(LUA_VERSION)
LUA     := lua$(LUA_VERSION)
endif

BUILD   := build/$(LUA_VERSION)
MODULE  := $(BUILD)/codearts/batchresult/core.so
OBJDIR  := $(BUILD)/obj

SRCS    := $(wildcard src/*.c)
OBJS    := $(patsubst src/%.c,$(OBJDIR)/%.o,$(SRCS))

PKG_CFLAGS := $(shell pkg-config --cflags $(LUA_PC) libcurl libcrypto 2>/dev/null)
# The module links libcurl, cJSON and libcrypto, never liblua: the host
# process provides the Lua API (LuaJIT and Neovim break otherwise).
PKG_LIBS   := $(shell pkg-config --libs libcurl libcrypto 2>/dev/null) -lcjson -lpthread

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c99 -Wall -Wextra -Werror -pedantic -fPIC -fvisibility=hidden \
           -D_POSIX_C_SOURCE=200809L $(PKG_CFLAGS)
LDFLAGS += -shared

export LUA_PATH  := ./?.lua;./lua/?.lua;./lua/?/init.lua;;
export LUA_CPATH := ./$(BUILD)/?.so;;

.PHONY: all deps test demo bench clean

all: $(MODULE)

$(OBJDIR)/%.o: src/%.c $(wildcard src/*.h) | deps-build
	@mkdir -p $(OBJDIR)
	$(CC) $(CFLAGS) -c $< -o $@

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

# Debian packages: installed when missing (as root with apt-get), else named.
deps-build:
	@sh scripts/deps.sh build
deps:
	@sh scripts/deps.sh build test

test: deps all
	busted --lua=$(LUA) spec

demo: deps all
	@sh scripts/demo.sh $(LUA)

bench: deps all
	@sh bench/run.sh $(LUA)

clean:
	rm -rf build
