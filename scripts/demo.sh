#!/bin/sh
# make demo: starts the local CodeArts stand-in, runs examples/query.lua
# against it with the stand-in's test credentials, then stops the server.
set -eu
lua=${1:-lua5.4}
dir=$(mktemp -d)
pid=""
# (a signal ends the script, the EXIT trap stopping the stand-in: a trap
# that did not exit would have it go on waiting for a stand-in it stopped)
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

luajit spec/standin/server.lua --port 0 --ready-file "$dir/port" --watch-pid $$ 2>"$dir/server.log" &
pid=$!
i=0
while [ ! -s "$dir/port" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "the stand-in did not start:" >&2
        cat "$dir/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
port=$(cat "$dir/port")
echo "local CodeArts stand-in on http://127.0.0.1:$port"
echo

creds=$(luajit -e 'package.path="./?.lua;"..package.path
  local m = require "spec.standin.model"
  io.write(m.credentials.permanent.ak, " ", m.credentials.permanent.sk, " ", m.seed_project)')
set -- $creds
HUAWEICLOUD_SDK_AK=$1 HUAWEICLOUD_SDK_SK=$2 HUAWEICLOUD_SDK_PROJECT_ID=$3 \
CODEARTS_ENDPOINT="http://127.0.0.1:$port" "$lua" examples/query.lua
