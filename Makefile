# codearts-batchresult
#   make                 build the C module for Lua $(LUA_VERSION) into build/$(LUA_VERSION)/
#   make test            the busted suite under Lua 5.4, LuaJIT, 5.1, 5.3 and 5.2
#                        (installs missing Debian packages first; TEST_LUAS=5.4 for one)
#   make demo            start the local stand-in, run examples/query.lua against it
#                        (installs the missing Debian packages it needs first)
#   make bench           speed figures, each beside its comparison
#   make lint            luacheck over the Lua, cppcheck and clang-tidy over src/
#   make install         what luarocks make runs: INST_LIBDIR, INST_LUADIR, INST_BINDIR, DESTDIR (README: Install)
#   make rock            the source rock of the release rockspec, from its tag (README: Releasing)
#   make LUA_VERSION=5.1|5.2|5.3|5.4|jit   pick the Lua to build for

LUA_VERSION ?= 5.4

# make splits its words on spaces: a directory with one in it would reach
# the compiler in pieces, and the build fail blaming something else.
DIR_VARS := LUA_INCDIR CURL_INCDIR CURL_LIBDIR CJSON_INCDIR CJSON_LIBDIR OPENSSL_INCDIR OPENSSL_LIBDIR
$(foreach v,$(DIR_VARS),$(if $(word 2,$($(v))),$(error $(v)=$($(v)) holds a space, \
    which make cannot pass on: name the directory by a path without one (a symbolic link to it))))

# LuaRocks passes LUA_INCDIR and no version: then the headers found there
# decide the version (scripts/lua-abi.sh), and a LUA_VERSION given beside
# them must agree.
ifdef LUA_INCDIR
LUA_CFLAGS  := -I$(LUA_INCDIR)
HEADERS_LUA := $(shell sh scripts/lua-abi.sh $(CC) $(LUA_CFLAGS))
ifeq ($(HEADERS_LUA),)
$(error LUA_INCDIR=$(LUA_INCDIR) holds no usable lua.h)
endif
ifeq ($(origin LUA_VERSION),command line)
ifneq ($(strip $(LUA_VERSION)),$(HEADERS_LUA))
$(error LUA_VERSION=$(LUA_VERSION), but LUA_INCDIR=$(LUA_INCDIR) holds the headers of Lua $(HEADERS_LUA))
endif
endif
LUA_VERSION := $(HEADERS_LUA)
endif

# Refused before anything runs for it: another value would have deps.sh
# look for Debian packages that do not exist (liblualuajit-dev) and leave
# a build directory behind.  (Headers in LUA_INCDIR name one of these.)
LUA_VERSIONS := 5.1 5.2 5.3 5.4 jit
# (a value with a space around it, "5.4 ", names the same Lua, and must
# name the same build directory)
override LUA_VERSION := $(strip $(LUA_VERSION))
ifneq ($(words $(LUA_VERSION)) $(words $(filter $(LUA_VERSIONS),$(LUA_VERSION))),1 1)
$(error LUA_VERSION=$(LUA_VERSION) is none of $(LUA_VERSIONS) (jit: LuaJIT))
endif
# The Lua whose modules' directories a build's module belongs in: LuaJIT
# loads 5.1's.
LUA_ABI := $(if $(filter jit,$(LUA_VERSION)),5.1,$(LUA_VERSION))

# make install takes its directories from LuaRocks (INST_LIBDIR and
# INST_LUADIR, below): a PREFIX would go unused, and the files elsewhere.
ifeq ($(origin PREFIX),command line)
$(error PREFIX means nothing here: make install installs into INST_LIBDIR and INST_LUADIR (README: Install))
endif

ifeq ($(LUA_VERSION),jit)
LUA_PC  := luajit
LUA     := luajit
else
LUA_PC  := lua$(LUA_VERSION)
LUA     := lua$(LUA_VERSION)
endif
# A checkout build asks pkg-config for the headers of the Lua named, and
# for the libraries' flags below, each time they are used, not once when
# make starts: on a fresh machine the deps step of this very make installs
# the -dev packages they come from (`=`, not `:=`).
ifndef LUA_INCDIR
LUA_CFLAGS = $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null)
endif

# One directory per Lua: objects and module, and the flags they were built
# with (see FLAGS_STAMP).
BUILD   := build/$(LUA_VERSION)
MODULE  := $(BUILD)/codearts/batchresult/core.so
OBJDIR  := $(BUILD)/obj

SRCS    := $(wildcard src/*.c)
OBJS    := $(patsubst src/%.c,$(OBJDIR)/%.o,$(SRCS))

# libcurl, cJSON and libcrypto.  LuaRocks passes the directories where its
# external_dependencies were found (CURL_INCDIR, CURL_LIBDIR, CJSON_...,
# OPENSSL_...): those are used, and each library directory is also the
# module's run-time search path, as in LuaRocks' own builds.  Otherwise
# pkg-config is asked.  The -l flags are always given: a module missing
# one would still link, and fail only when loaded.
uniq = $(if $(1),$(firstword $(1)) $(call uniq,$(filter-out $(firstword $(1)),$(1))))
DEP_INCDIRS := $(call uniq,$(CURL_INCDIR) $(CJSON_INCDIR) $(OPENSSL_INCDIR))
DEP_LIBDIRS := $(call uniq,$(CURL_LIBDIR) $(CJSON_LIBDIR) $(OPENSSL_LIBDIR))
# A library directory the compiler searches anyway (the system's, where
# Debian's libcurl is found) goes last, at link and at load time: else it
# would shadow a copy that CJSON_DIR=… or OPENSSL_DIR=… points to, whose
# header the build takes (the compiler skips -I of its own directories).
ifneq ($(DEP_LIBDIRS),)
CC_LIBDIRS  := $(realpath $(subst :, ,$(shell $(CC) -print-search-dirs 2>/dev/null | sed -n 's/^libraries: =//p')))
is_cc_dir    = $(filter $(realpath $(1)),$(CC_LIBDIRS))
DEP_LIBDIRS := $(foreach d,$(DEP_LIBDIRS),$(if $(call is_cc_dir,$(d)),,$(d))) \
               $(foreach d,$(DEP_LIBDIRS),$(if $(call is_cc_dir,$(d)),$(d)))
endif
pkg = $(if $($(1)_INCDIR)$($(1)_LIBDIR),,$(shell pkg-config $(2) $(3) 2>/dev/null))
PKG_CFLAGS = $(LUA_CFLAGS) $(addprefix -I,$(DEP_INCDIRS)) \
              $(call pkg,CURL,--cflags,libcurl) $(call pkg,OPENSSL,--cflags,libcrypto)
# The module links libcurl, cJSON and libcrypto, never liblua: the host
# process provides the Lua API (LuaJIT and Neovim break otherwise).
PKG_LIBS   = $(foreach d,$(DEP_LIBDIRS),-L$(d) -Wl,-rpath,$(d)) \
              $(or $(call pkg,CURL,--libs,libcurl),-lcurl) -lcjson \
              $(or $(call pkg,OPENSSL,--libs,libcrypto),-lcrypto) -lpthread -ldl

# CFLAGS (optimisation, sanitizers) may be replaced from the command line;
# the language level, warnings and visibility always apply.  Our builds
# (make, CI, the sanitizers) turn warnings into errors; LuaRocks builds
# pass WERROR= so that a newer compiler's new warning cannot break an
# install.
CFLAGS  ?= -O2 -g
WERROR  ?= -Werror
WARN    ?= -Wall -Wextra $(WERROR) -pedantic
# The Lua headers' directory comes first, so that a -I in CFLAGS (say
# /usr/local/include, holding another Lua's lua.h) cannot stand in for it.
ALL_CFLAGS = $(LUA_CFLAGS) $(CFLAGS) -std=c99 $(WARN) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L $(PKG_CFLAGS)
LIBFLAG ?= -shared

export LUA_PATH  := ./?.lua;./lua/?.lua;./lua/?/init.lua;;
export LUA_CPATH := ./$(BUILD)/?.so;;
# Lua 5.2, 5.3 and 5.4 read LUA_PATH_5_x and LUA_CPATH_5_x before these: a
# user's own would make the demo and the specs' commands load another copy.
unexport LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4 LUA_CPATH_5_4

# The rock's own modules, which all lie in lua/codearts/: none of what else
# lies in lua/ (a stray cjson.lua would shadow lua-cjson for the tool), nor a
# hidden file, as an editor's lock link .#cli.lua.  Read from the files, as
# a source rock holds no .git to ask.
LUA_SOURCES := $(shell find lua/codearts -type f -name '*.lua' ! -path '*/.*')

.PHONY: all deps deps-build deps-demo deps-bench test demo bench install clean FORCE

all: $(MODULE)

# What the objects in $(BUILD) were made with: the Lua its headers belong
# to, the compiler and every flag, and the macros of every header src/
# includes as <name> (Lua's, libcurl's, cJSON's, OpenSSL's, the C library's),
# their list read from src/ so that one included anew counts too: a
# luaconf.h changed in place, as LUA_32BITS, changes the ABI with no flag
# changed.  Rewritten only when that changes (nothing written otherwise:
# a built checkout may be read-only), and
# every object and the module depend on it, so nothing made for another
# Lua, or with other flags, is ever linked.  Each make writes its own
# draft of it, as CI's steps and the specs run makes side by side.
# Headers that are not the Lua the directory is named for stop the build
# here: the ones the compiler finds with the very flags it compiles with.
FLAGS_STAMP := $(BUILD)/flags
$(FLAGS_STAMP): FORCE | deps-build
	@mkdir -p $(BUILD)
	@found=$$(sh scripts/lua-abi.sh $(CC) $(ALL_CFLAGS)) || { \
	    [ -n "$(LUA_CFLAGS)" ] || echo "pkg-config knows no $(LUA_PC): give LUA_INCDIR=<the directory of Lua $(LUA_VERSION)'s lua.h>" >&2; \
	    exit 1; }; \
	if [ "$$found" != "$(LUA_VERSION)" ]; then \
	    echo "$(BUILD) is for Lua $(LUA_VERSION), but the Lua headers found ($(LUA_CFLAGS)) are Lua $$found's" >&2; \
	    exit 1; \
	fi; \
	headers=$$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\(<.*>\).*/#include \1/p' $(SRCS) $(wildcard src/*.h) | \
	    sort -u | $(CC) $(ALL_CFLAGS) -E -dM -x c - | cksum); \
	new=$$(printf '%s\n' "lua $$found" "$(CC) $(ALL_CFLAGS)" "$(LIBFLAG) $(LDFLAGS) $(PKG_LIBS)" "headers $$headers"); \
	[ "$$new" = "$$(cat $@ 2>/dev/null)" ] || { printf '%s\n' "$$new" >$@.new.$$$$ && mv -f $@.new.$$$$ $@; }

FORCE:

$(OBJDIR)/%.o: src/%.c $(wildcard src/*.h) $(FLAGS_STAMP)
	@mkdir -p $(OBJDIR)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

# Debian packages: installed when missing (as root with apt-get), else
# named.  LuaRocks builds pass DEPS=none: there the external dependencies
# are LuaRocks' business.
DEPS ?= apt
# Headers named by LUA_INCDIR are the caller's: no Debian Lua is asked for.
deps-build:
	@[ "$(DEPS)" = none ] || LUA_VERSION=$(if $(LUA_INCDIR),none,$(LUA_VERSION)) sh scripts/deps.sh build
deps:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build luas test
deps-demo:
	@[ "$(DEPS)" = none ] || LUA_VERSION=$(LUA_VERSION) sh scripts/deps.sh build demo
deps-bench:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build luas test bench

# The whole suite under every Lua the users have.  LuaJIT's module is also
# the one nginx and Neovim load, so it is built whatever TEST_LUAS says.
# TEST_JOBS suites run at once (scripts/test.sh), each taking the next Lua
# in this order: 5.4's suite, which alone runs the once-only specs, is the
# longest, and LuaJIT's, with the command-line tool's sweeps, comes next.
TEST_LUAS ?= 5.4 jit 5.1 5.3 5.2
TEST_JOBS ?= 2
lua_of = $(if $(filter jit,$(1)),luajit,lua$(1))

# The module for each Lua of TEST_LUAS, and LuaJIT's.
build-all: deps
	@for v in $(sort $(TEST_LUAS) jit); do \
	    $(MAKE) --no-print-directory LUA_VERSION=$$v all || exit 1; done

test: build-all
	@TEST_JOBS=$(TEST_JOBS) sh scripts/test.sh $(foreach v,$(TEST_LUAS),$(call lua_of,$(v)))

demo: deps-demo all
	@sh scripts/demo.sh $(LUA)

# The round trips run under LuaJIT too, and the Neovim figure inside
# Neovim: its module is built whatever LUA_VERSION says.
bench: deps-bench all
	@$(MAKE) --no-print-directory LUA_VERSION=jit all
	@sh bench/run.sh $(LUA)

# What `luarocks make` runs (INST_LIBDIR and INST_LUADIR come from it,
# each one word for make however many spaces it holds: quoted here).
# DESTDIR, as in GNU's convention, is put before both, for a packager's
# staged install.  Given INST_BINDIR (LuaRocks gives the rock's bin/), the
# command-line tool too: bin/codearts-batchresult, its first line naming
# the interpreter LUA names (LuaRocks gives the one it targets), which the
# rockspecs have LuaRocks install as it is, not wrapped in a script of its
# own (see their deploy).  A LUA that is no path is found on PATH by env.
# The directories (and LUA) reach the shell as they were given, through
# its environment: make would read a '$' in one as its own, and sh a '$'
# or '`' inside double quotes (a --tree=… may hold either).
# (A for loop's status is its last command's: any file that fails stops it.)
install: export LIB_DIR := $(value DESTDIR)$(value INST_LIBDIR)/codearts/batchresult
install: export LUA_DIR := $(value DESTDIR)$(value INST_LUADIR)
install: export BIN_DIR := $(value DESTDIR)$(value INST_BINDIR)
install: export INTERPRETER := $(if $(filter /%,$(value LUA)),,/usr/bin/env )$(value LUA)
install: $(MODULE)
	install -d "$$LIB_DIR"
	install -m 0755 $(MODULE) "$$LIB_DIR/core.so"
	for f in $(LUA_SOURCES:lua/%=%); do \
	    install -d "$$LUA_DIR/$$(dirname $$f)" && install -m 0644 lua/$$f "$$LUA_DIR/$$f" || exit 1; \
	done
ifneq ($(value INST_BINDIR),)
	install -d "$$BIN_DIR"
	{ printf '#!%s\n' "$$INTERPRETER" && sed 1d bin/codearts-batchresult; } >"$$BIN_DIR/codearts-batchresult"
	chmod 0755 "$$BIN_DIR/codearts-batchresult"
endif

# Checked before anything is built for the install (make reads all of
# this file before it makes anything), each directory as given, never
# expanded (see install), and none exported: make expands a variable it
# exports, as it gives every one named on its command line to every
# recipe, and would run a "$(shell …)" in one.  A directory named
# for a Lua (…/lib/lua/5.1) must be the build's: LUA_VERSION defaults to
# 5.4 on this call whatever the last make built.  (Its spaces are made
# '|' first, so that only its last element is read.)
ifneq ($(filter install,$(MAKECMDGOALS)),)
unexport DESTDIR INST_LIBDIR INST_LUADIR INST_BINDIR LUA
ifeq ($(and $(value INST_LIBDIR),$(value INST_LUADIR)),)
$(error make install is what luarocks make runs; run that (README: Install), or give INST_LIBDIR and INST_LUADIR)
endif
# The kernel reads a script's first line up to a space as the interpreter.
ifneq ($(and $(value INST_BINDIR),$(word 2,$(value LUA))),)
$(error LUA=$(value LUA) holds a space, which the tool's first line, naming its interpreter, cannot hold: name it \
    by a path without one (a symbolic link to it))
endif
empty :=
space := $(empty) $(empty)
INST_LUA := $(lastword $(subst /, ,$(subst $(space),|,$(value INST_LIBDIR))))
ifneq ($(filter $(filter-out $(LUA_ABI),5.1 5.2 5.3 5.4),$(INST_LUA)),)
$(error INST_LIBDIR=$(value INST_LIBDIR) is for Lua $(INST_LUA), but LUA_VERSION=$(LUA_VERSION) builds for \
    $(if $(filter jit,$(LUA_VERSION)),LuaJIT,Lua $(LUA_VERSION)): give LUA_VERSION=$(INST_LUA)$(if \
    $(filter 5.1,$(INST_LUA)), (or jit, for LuaJIT)))
endif
endif

clean:
	rm -rf build

# The release rockspec (the one with a version number) packed from its
# tag, offline: scripts/rock.sh.
RELEASE_ROCKSPEC ?= $(lastword $(sort $(wildcard codearts-batchresult-[0-9]*.rockspec)))
.PHONY: rock
rock:
	@sh scripts/rock.sh $(RELEASE_ROCKSPEC)

# luacheck (.luacheckrc), cppcheck and clang-tidy (.clang-tidy); see
# scripts/lint.sh.
.PHONY: lint deps-lint
deps-lint:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build luas lint

lint: deps-lint
	@sh scripts/lint.sh

# ---- sanitizers, valgrind and fuzzing ----------------------------------
#   make test-asan       the busted suite against a build with ASan and UBSan
#                        (build/asan-$(LUA_VERSION)/), sanitizer runtimes preloaded
#   make test-valgrind   scripts/valgrind_driver.lua under valgrind's memcheck
#   make fuzz            each libFuzzer harness in fuzz/ for FUZZ_SECONDS
#   make fuzz-regress    each harness over its shipped corpus and regressions, once
#   make fuzz-coverage   line coverage of src/{codec,answer,sign,buf,redact,head,core_codec,core_keyring}.c
#                        and of the library's Lua by all fuzz inputs
# See fuzz/README.md.

.PHONY: asan test-asan test-valgrind fuzz fuzz-build fuzz-regress fuzz-coverage deps-valgrind deps-fuzz

ASAN_CC    ?= gcc
SANITIZE   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_BUILD := build/asan-$(LUA_VERSION)

# The same sources and rules as `make all`, built into their own directory.
asan:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) \
	    CFLAGS="-O1 -g $(SANITIZE)" LDFLAGS="$(SANITIZE)" all

# The specs that drive nginx and Neovim load LuaJIT's plain module, and the
# examples run on the plain module, as users run them: both built too, and
# 5.1's, which module_spec has Lua 5.4 refuse.  Lua 5.4's suite runs under an interpreter built with the C API's checks
# (scripts/apicheck-lua.sh), or under APICHECK_LUA when given (on a system
# whose liblua5.4-dev is another version: APICHECK_LUA=lua5.4 runs it
# without the checks).
APICHECK_LUA ?=
test-asan: deps asan
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory LUA_VERSION=jit all
	@$(MAKE) --no-print-directory LUA_VERSION=5.1 all
	@lua=$(LUA); [ "$(LUA_VERSION)" != 5.4 ] || lua=$(or $(APICHECK_LUA),$$(sh scripts/apicheck-lua.sh)) || exit 1; \
	    sh scripts/test-asan.sh "$$lua" $(ASAN_BUILD) $(ASAN_CC)

deps-valgrind:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh check

test-valgrind: deps deps-valgrind all
	@$(MAKE) --no-print-directory LUA_VERSION=jit all
	@$(MAKE) --no-print-directory LUA_VERSION=5.1 all
	@sh scripts/test-valgrind.sh $(LUA)

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := decode_results decode_error canonical redact head binding
FUZZ_BUILD   := build/fuzz
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))
FUZZ_SRCS    := src/codec.c src/answer.c src/sign.c src/buf.c src/redact.c src/head.c
# (pkg-config asked when the harnesses build, after deps-fuzz, as above)
FUZZ_CFLAGS   = -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined -std=c99 $(WARN) -D_POSIX_C_SOURCE=200809L -Isrc \
                $(shell pkg-config --cflags libcrypto 2>/dev/null)
FUZZ_LIBS     = -lcjson $(shell pkg-config --libs libcrypto 2>/dev/null)

# The binding's harness embeds a real Lua 5.4 (linked into it alone, never
# into the module) and every C source, libcurl's transport included.
FUZZ_BINDING := $(FUZZ_BUILD)/binding $(FUZZ_BUILD)/cov/binding
$(FUZZ_BINDING): $(SRCS)
$(FUZZ_BINDING): FUZZ_SRCS = $(SRCS)
$(FUZZ_BINDING): FUZZ_CFLAGS += $(shell pkg-config --cflags lua5.4 libcurl 2>/dev/null)
$(FUZZ_BINDING): FUZZ_LIBS += $(shell pkg-config --libs lua5.4 2>/dev/null) \
                              $(or $(shell pkg-config --libs libcurl 2>/dev/null),-lcurl) -lpthread

deps-fuzz:
	@[ "$(DEPS)" = none ] || sh scripts/deps.sh build fuzz

$(FUZZ_BINS): $(FUZZ_BUILD)/%: fuzz/%.c $(FUZZ_SRCS) $(wildcard src/*.h) | deps-fuzz
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@sh scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@sh scripts/fuzz.sh replay 0 $(FUZZ_TARGETS)

# The same harnesses with clang's source-based coverage instead of the
# sanitizers, run over every seed, regression and input found so far.
FUZZ_COV_BINS := $(addprefix $(FUZZ_BUILD)/cov/,$(FUZZ_TARGETS))
$(FUZZ_COV_BINS): $(FUZZ_BUILD)/cov/%: fuzz/%.c $(FUZZ_SRCS) $(wildcard src/*.h) | deps-fuzz
	@mkdir -p $(FUZZ_BUILD)/cov
	$(FUZZ_CC) $(filter-out -fsanitize=% -fno-sanitize-recover=% -O1,$(FUZZ_CFLAGS)) -O0 \
	    -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping -o $@ $< $(FUZZ_SRCS) $(FUZZ_LIBS)

fuzz-coverage: $(FUZZ_COV_BINS)
	@sh scripts/fuzz.sh coverage 0 $(FUZZ_TARGETS)
