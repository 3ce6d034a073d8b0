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

# LuaRocks passes LUA_INCDIR; a checkout build asks pkg-config.
ifdef LUA_INCDIR
LUA_CFLAGS := -I$(LUA_INCDIR)
else
LUA_CFLAGS := $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null)
endif
PKG_CFLAGS := $(LUA_CFLAGS) $(shell pkg-config --cflags libcurl libcrypto 2>/dev/null)
# The module links libcurl, cJSON and libcrypto, never liblua: the host
# process provides the Lua API (LuaJIT and Neovim break otherwise).
PKG_LIBS   := $(shell pkg-config --libs libcurl libcrypto 2>/dev/null) -lcjson -lpthread

# CFLAGS (optimisation, sanitizers) may be replaced from the command line;
# the language level, warnings and visibility always apply.
CFLAGS  ?= -O2 -g
WARN    ?= -Wall -Wextra -Werror -pedantic
ALL_CFLAGS = $(CFLAGS) -std=c99 $(WARN) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L $(PKG_CFLAGS)
LIBFLAG ?= -shared

export LUA_PATH  := ./?.lua;./lua/?.lua;./lua/?/init.lua;;
export LUA_CPATH := ./$(BUILD)/?.so;;

LUA_SOURCES := $(shell find lua -name '*.lua')

.PHONY: all deps deps-build test demo bench install clean

all: $(MODULE)

$(OBJDIR)/%.o: src/%.c $(wildcard src/*.h) | deps-build
	@mkdir -p $(OBJDIR)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

# Debian packages: installed when missing (as root with apt-get), else
# named.  LuaRocks builds pass DEPS=none: there the external dependencies
# are LuaRocks' business.
DEPS ?= apt
deps-build:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build
deps:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build test

test: deps all
	@sh scripts/test.sh $(LUA)

demo: deps all
	@sh scripts/demo.sh $(LUA)

bench: deps all
	@sh bench/run.sh $(LUA)

# What `luarocks make` runs (INST_LIBDIR and INST_LUADIR come from it).
install: $(MODULE)
	install -d $(INST_LIBDIR)/codearts/batchresult
	install -m 0755 $(MODULE) $(INST_LIBDIR)/codearts/batchresult/core.so
	cd lua && for f in $(LUA_SOURCES:lua/%=%); do \
	    install -d $(INST_LUADIR)/$$(dirname $$f) && install -m 0644 $$f $(INST_LUADIR)/$$f; done

clean:
	rm -rf build
