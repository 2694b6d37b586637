#!/usr/bin/env bash
# The benchmark suite in one command: installs the peers that are missing
# (redis-server, redis-benchmark, wrk, nginx, haproxy from Debian), builds everything in
# release mode, runs the comparisons and writes bench/results/RESULTS.md and
# bench/results/cpu_per_request.svg (with --quick: bench/results/quick/).
#
#   bench/run.sh [--quick] [--rounds N] [--only redis,http,echo,many,redis-default,haproxy,syscalls,memory,floor,alloc,udp,redis-large]
#
# Servers started by the run are stopped by their PID, also when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v strace >/dev/null || need+=(strace)
command -v haproxy >/dev/null || need+=(haproxy)
if ((${#need[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${need[*]}" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >&2 ||
            echo "warning: could not install ${need[*]}: those comparisons are skipped" >&2
    else
        echo "warning: ${need[*]} missing (install needs root and apt-get): those comparisons are skipped" >&2
    fi
fi

cargo build --release -p revio-bench
# The examples are built one by one, so that one that does not build only
# skips its comparison (the table says so).
for ex in echo-server redis-server; do
    cargo build --release --example "$ex" || echo "warning: example $ex did not build" >&2
done
cargo build --release --features tls --example http-server ||
    echo "warning: example http-server did not build" >&2

pidfile="$(mktemp)"
runner=""
cleanup() {
    [ -n "$runner" ] && kill "$runner" 2>/dev/null || true
    while read -r pid; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done <"$pidfile"
    rm -f "$pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# In the background, so that a signal reaches the trap at once (bash runs
# traps only between commands, and `wait` is one).
"$target/release/revio-bench" --pidfile "$pidfile" "$@" &
runner=$!
status=0
wait "$runner" || status=$?
runner=""
exit "$status"
