#!/usr/bin/env bash
# Smoke test of the redis-server example with Redis's own tools: redis-cli
# SET/GET/INCR, then redis-benchmark's whole default run (no -t), plain,
# pipelined (-P 16) and against two loops, must finish with no error line.
# Installs redis-tools from Debian when they are missing.
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

. .ci/redis-start.sh
trap 'stop_example; rm -rf "$work"' EXIT

start_example
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
expect 3 RPUSH smoke:l a b c
expect "$(printf 'b\nc')" LRANGE smoke:l 1 -1

# bench ARGS...: redis-benchmark's default run; every test must print its
# result, and nothing may mention an error (redis-benchmark reports error
# replies as it meets them).
bench() {
    local raw out
    if ! raw=$(timeout 300 redis-benchmark -p "$port" -q "$@" 2>&1); then
        echo "$raw" | tail -5 >&2
        echo "redis-smoke: redis-benchmark $* failed" >&2
        exit 1
    fi
    out=$(echo "$raw" | tr '\r' '\n' | grep -v 'rps=' | grep -v '^ *$' || true)
    echo "$out"
    if echo "$out" | grep -qiE 'error|warning'; then
        echo "redis-smoke: redis-benchmark $* reported errors" >&2
        exit 1
    fi
    local got
    got=$(echo "$out" | grep -c 'requests per second' || true)
    if [ "$got" -lt 20 ] || ! echo "$out" | grep -q '^MSET'; then
        echo "redis-smoke: redis-benchmark $* gave $got results, want the whole default run" >&2
        exit 1
    fi
}
bench -n 20000
bench -n 20000 -P 16

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

start_example --loops 2
bench -n 20000
bench -n 20000 -P 16
stop_example
echo "redis-smoke: ok"
