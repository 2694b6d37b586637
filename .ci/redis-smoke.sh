#!/usr/bin/env bash
# Smoke test of the redis-server example with Redis's own tools: redis-cli
# SET/GET/INCR, then redis-benchmark (plain and pipelined) must finish with
# no errors. Installs redis-tools from Debian when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "redis-smoke: redis-cli/redis-benchmark missing and not root to install redis-tools" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools >/dev/null
fi

cargo build --release --example redis-server
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/examples/redis-server"

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and says which.
"$bin" --port 0 >"$work/out" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^redis server started on port \([0-9]*\)$/\1/p' "$work/out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/out" >&2; echo "redis-smoke: server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "redis-smoke: server did not start" >&2; exit 1; }

cli() { timeout 10 redis-cli -p "$port" "$@"; }
expect() {
    local want=$1; shift
    local got
    got=$(cli "$@")
    if [ "$got" != "$want" ]; then
        echo "redis-smoke: redis-cli $* gave '$got', want '$want'" >&2
        exit 1
    fi
}
expect OK SET smoke hello
expect hello GET smoke
expect 1 INCR smoke:n
expect 2 INCR smoke:n
expect PONG PING

# bench TESTS ARGS...: every test must print its result, and nothing may
# mention an error (redis-benchmark reports error replies as it meets them).
bench() {
    local tests=$1 raw out
    shift
    if ! raw=$(timeout 120 redis-benchmark -p "$port" -t "$tests" "$@" -q 2>&1); then
        echo "$raw" | tail -5 >&2
        echo "redis-smoke: redis-benchmark -t $tests $* failed" >&2
        exit 1
    fi
    out=$(echo "$raw" | tr '\r' '\n' | grep -v 'rps=' | grep -v '^ *$' || true)
    echo "$out"
    if echo "$out" | grep -qiE 'error|warning'; then
        echo "redis-smoke: redis-benchmark -t $tests $* reported errors" >&2
        exit 1
    fi
    local want got
    want=$(echo "$tests" | tr ',' '\n' | grep -c .)
    got=$(echo "$out" | grep -c 'requests per second' || true)
    if [ "$got" -ne "$want" ]; then
        echo "redis-smoke: redis-benchmark -t $tests $* gave $got results, want $want" >&2
        exit 1
    fi
}
bench ping_inline,ping_mbulk,set,get,incr,mset -n 20000
bench ping_inline,ping_mbulk,set,get -n 100000 -P 16

cli SHUTDOWN >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "redis-smoke: SHUTDOWN did not stop the server" >&2
    exit 1
fi
wait "$pid" || { echo "redis-smoke: server exited with an error" >&2; exit 1; }
pid=""
echo "redis-smoke: ok (port $port)"
