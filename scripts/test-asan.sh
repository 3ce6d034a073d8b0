#!/bin/sh
# make test-asan: the whole busted suite against the module built with
# AddressSanitizer and UndefinedBehaviorSanitizer.  The interpreter is not
# instrumented, so the sanitizer runtimes are preloaded (ASan must come
# first in the process); .busted loads the module from $CODEARTS_BUILD_DIR.
# Leak checking is off (Lua frees its own state lazily at exit; leaks are
# valgrind's job, see test-valgrind.sh), every other report stops the
# process.  Reports are also written to files, so that one raised in a
# child interpreter (whose output a spec may swallow) still fails the run.
#
# Usage: test-asan.sh LUA BUILD_DIR [CC]
set -u
lua=$1
build=$2
cc=${3:-gcc}

module=$build/codearts/batchresult/core.so
if [ ! -f "$module" ]; then
    echo "test-asan: $module is missing (make asan builds it)" >&2
    exit 1
fi
if ! nm -D "$module" 2>/dev/null | grep -q __asan_init; then
    echo "test-asan: $module is not built with AddressSanitizer" >&2
    exit 1
fi

preload=""
for lib in libasan.so libubsan.so; do
    path=$("$cc" -print-file-name=$lib)
    case $path in
    /*) preload="$preload${preload:+ }$(readlink -f "$path")" ;;
    *)  echo "test-asan: $cc has no $lib (gcc's libasan/libubsan are needed)" >&2
        exit 1 ;;
    esac
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

export CODEARTS_BUILD_DIR="./$build"
# The specs whose work is all in processes of their own (builds, the
# examples, nginx and Neovim, the command-line tool, the stand-in's own
# specs) ran in make test: they load no ASan build, which is all this
# would watch (spec/support/once.lua).
export CODEARTS_SPEC_ONCE=no
export LD_PRELOAD="$preload"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"

# A program that is not the module (curl, openssl, the stand-in) must be
# started without the preload (spec/support/standin.lua's clean_env): the
# curl CLI, for one, deadlocks in setlocale() under a preloaded libasan.
# So that such a slip fails the run instead of hanging it, the suite gets
# TEST_ASAN_TIMEOUT seconds (timeout kills its whole process group): four
# times the 300 s it takes beside make test-valgrind, as a machine busy
# with more than CI (load 13 on 2 cores) took over 600.
limit=${TEST_ASAN_TIMEOUT:-1200}
echo "test-asan: $module, LD_PRELOAD=$LD_PRELOAD"
timeout -k 10 "$limit" sh scripts/test.sh "$lua"
status=$?
unset LD_PRELOAD
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "test-asan: the suite did not finish in $limit s (a program started with LD_PRELOAD hanging?)" >&2
fi

if [ -n "$(ls "$logs")" ]; then
    for f in "$logs"/*; do
        echo "==== sanitizer report $(basename "$f") ====" >&2
        cat "$f" >&2
    done
    echo "$lua: sanitizer reports above (ASan/UBSan)" >&2
    exit 1
fi
[ "$status" -eq 0 ] || exit "$status"
echo "$lua: no sanitizer reports"
