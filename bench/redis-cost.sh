#!/usr/bin/env bash
# What one request costs a RESP server at P16, for comparing builds of the
# redis example (and revio-resp) on a busy machine, where requests per
# second are too noisy to tell small changes apart:
#
#   bench/redis-cost.sh cpu  BIN [BIN...]   requests per server CPU-second
#   bench/redis-cost.sh ir   BIN [BIN...]   user-space instructions per request (callgrind)
#
# Each BIN is a server taking `--port N` (target/release/examples/redis-server,
# target/release/revio-resp, or a copy of an older build). The server runs on
# CPU 0, redis-benchmark (-c 50 -P 16) on CPU 1; GET reads a key that is
# there. `cpu` reads utime+stime from /proc/PID/stat around each test (10 ms
# ticks: use N >= 1000000); run the builds alternately, a few rounds, and
# compare ranges. `ir` counts instructions under valgrind, the same from one
# run to the next within about 2%, though it leaves out the kernel.
# Env: N (requests per test), TESTS (default "get set ping_inline"), PORT.
set -euo pipefail
mode=${1:?usage: bench/redis-cost.sh cpu|ir BIN...}
shift
tests=${TESTS:-get set ping_inline}
port=${PORT:-7390}
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

wait_up() {
    for _ in $(seq 300); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "server on $port did not start" >&2
    exit 1
}

load() {
    taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$1" -P 16 -t "$2" -q >/dev/null 2>&1
}

for bin in "$@"; do
    line="$(basename "$bin")"
    for t in $tests; do
        case $mode in
        cpu)
            n=${N:-1000000}
            taskset -c 0 "$bin" --port "$port" >/dev/null 2>&1 &
            pid=$!
            wait_up
            redis-cli -p "$port" set key:__rand_int__ xxx >/dev/null
            a=$(awk '{print $14+$15}' "/proc/$pid/stat")
            load "$n" "$t"
            b=$(awk '{print $14+$15}' "/proc/$pid/stat")
            ticks=$(getconf CLK_TCK)
            line+=" $t=$(awk -v n="$n" -v c=$((b - a)) -v hz="$ticks" \
                'BEGIN { if (c > 0) printf "%.0fk", n / (c / hz) / 1000; else print "?" }')/cpu-s"
            ;;
        ir)
            n=${N:-100000}
            out="$tmp/cg"
            taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$bin" --port "$port" >/dev/null 2>"$tmp/vg.log" &
            pid=$!
            wait_up
            redis-cli -p "$port" set key:__rand_int__ xxx >/dev/null
            callgrind_control -z "$pid" >/dev/null 2>&1
            load "$n" "$t"
            callgrind_control -d "$pid" >/dev/null 2>&1
            sleep 0.5
            ir=$(awk '/^summary:/ { print $2 }' "$out.1")
            line+=" $t=$(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f", i / n }')ins"
            rm -f "$out"*
            ;;
        *)
            echo "mode: cpu or ir" >&2
            exit 2
            ;;
        esac
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
    done
    echo "$line"
done
