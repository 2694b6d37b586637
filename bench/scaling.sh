#!/usr/bin/env bash
# Scaling: revio's echo-server with 1 and 2 loops (and 4, 8 where the machine
# has the cores) against tokio's multi-thread runtime with as many workers.
# The load generator (echo-load, 50 connections, 16 in flight, 64 B) runs on
# the cores the server does not use when there are spare ones; on a 2-core
# machine server and client share both cores, so the figure that tells the
# servers apart is messages per second of server CPU.
#
#   bench/scaling.sh [--secs S] [--rounds R] [--loops "1 2"]
# Writes bench/results/SCALING.md. Every server is stopped by PID, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=3
rounds=3
loops_list=""
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) secs=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --loops) loops_list=$2; shift 2 ;;
        *) echo "usage: bench/scaling.sh [--secs S] [--rounds R] [--loops \"1 2 4\"]" >&2; exit 2 ;;
    esac
done
cores=$(nproc)
if [ -z "$loops_list" ]; then
    loops_list="1 2"
    for n in 4 8; do [ "$cores" -ge $((n * 2)) ] && loops_list="$loops_list $n"; done
fi
cargo build --release --example echo-server -q
cargo build --release -p revio-bench --bin echo-load --bin tokio-echo-mt -q
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
out=bench/results/SCALING.md
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
port=$((20000 + RANDOM % 20000))

# run NAME LOOPS CMD...: one bounded load run; prints "msgs_per_s msgs_per_cpu_s"
run() {
    local n=$1; shift
    local server_cpus client_cpus
    if [ "$cores" -ge $((n * 2)) ]; then
        server_cpus="0-$((n - 1))"; client_cpus="$n-$((cores - 1))"
    else
        server_cpus="0-$((cores - 1))"; client_cpus="0-$((cores - 1))"
    fi
    port=$((port + 1))
    taskset -c "$server_cpus" "$@" --port "$port" >"$tmp/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local c0 c1 line msgs
    c0=$(cpu_ticks "$pid")
    line=$(timeout $((secs + 20)) taskset -c "$client_cpus" "$target/echo-load" --addr "127.0.0.1:$port" \
        --conns 50 --depth 16 --size 64 --secs "$secs" | tail -1)
    c1=$(cpu_ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    msgs=$(echo "$line" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p')
    awk -v m="$msgs" -v s="$secs" -v t=$((c1 - c0)) -v hz="$hz" \
        'BEGIN { printf "%.0f %.0f\n", m / s, (t > 0 ? m / (t / hz) : 0) }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

{
    echo "# Scaling: echo, 64 B, 50 connections, 16 in flight"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores, kernel $(uname -r)."
    echo "Medians of $rounds alternating rounds of ${secs} s. With fewer than 2N cores the load generator"
    echo "shares the server's cores, so messages per second of server CPU is the comparable figure."
    echo
    echo "| loops / workers | revio msg/s | tokio mt msg/s | revio msg/CPU-s | tokio mt msg/CPU-s | revio/tokio per CPU-s |"
    echo "|---:|---:|---:|---:|---:|---:|"
} >"$out.tmp"
for n in $loops_list; do
    : >"$tmp/r"; : >"$tmp/t"
    for _ in $(seq 1 "$rounds"); do
        run "$n" "$target/examples/echo-server" --loops "$n" >>"$tmp/r"
        run "$n" "$target/tokio-echo-mt" --threads "$n" >>"$tmp/t"
    done
    r_rps=$(cut -d' ' -f1 "$tmp/r" | median); r_cpu=$(cut -d' ' -f2 "$tmp/r" | median)
    t_rps=$(cut -d' ' -f1 "$tmp/t" | median); t_cpu=$(cut -d' ' -f2 "$tmp/t" | median)
    ratio=$(awk -v a="$r_cpu" -v b="$t_cpu" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    echo "| $n | $r_rps | $t_rps | $r_cpu | $t_cpu | ${ratio}x |" >>"$out.tmp"
done
mv "$out.tmp" "$out"
cat "$out"
