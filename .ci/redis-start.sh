# Sourced by the redis CI scripts: builds the redis-server example, and
# defines start_example ARGS... (sets $pid and $port; the caller's trap
# stops it with stop_example).

cargo build --release --example redis-server
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/examples/redis-server"
work=$(mktemp -d)
pid=""
port=""

start_example() {
    # Port 0: the server picks a free port and says which.
    "$bin" --port 0 "$@" >"$work/out" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^redis-server listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*$/\1/p' "$work/out")
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$work/out" >&2; echo "the example exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "the example did not start" >&2
    exit 1
}

stop_example() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
