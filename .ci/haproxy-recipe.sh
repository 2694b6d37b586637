#!/usr/bin/env bash
# The README's "Beyond one machine" recipe, run for real: two instances of
# the redis-server example behind Debian's HAProxy, which sends each
# connection a PROXY protocol v2 header and health-checks the instances.
# Checks that clients are spread over both, that CLIENT LIST on each shows
# the clients' own addresses and ports (not HAProxy's), and that when one
# instance stops, its clients are carried by the other.
# Installs haproxy and redis-tools when root and they are missing; skips,
# saying so, otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v haproxy >/dev/null || ! command -v redis-cli >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "haproxy-recipe: SKIPPED: haproxy or redis-cli missing, and not root to install them"
        exit 0
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy redis-tools >/dev/null
fi

cargo build --release --example redis-server
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/examples/redis-server"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "haproxy-recipe: FAILED: $*" >&2
    exit 1
}

# A free loopback port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts an instance that takes PROXY v2 on TCP (for HAProxy) and plain
# connections on a unix socket (for the admin's redis-cli).
# Sets $port and $pid.
start_instance() { # name
    "$bin" --port 0 --proxy-protocol v2 --unix "$work/$1.sock" >"$work/$1.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^redis-server listening on tcp:\/\/127\.0\.0\.1:\([0-9]*\).*$/\1/p' "$work/$1.out")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    cat "$work/$1.out" >&2
    fail "instance $1 did not start"
}

start_instance r1
port1=$port
pid1=$pid
start_instance r2
port2=$port
front=$(free_port)

# The configuration the README shows, with these ports.
cat >"$work/haproxy.cfg" <<EOF
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend redis
    bind 127.0.0.1:$front
    default_backend revio

backend revio
    balance roundrobin
    option redis-check
    server r1 127.0.0.1:$port1 send-proxy-v2 check check-send-proxy inter 200ms fall 2 rise 1
    server r2 127.0.0.1:$port2 send-proxy-v2 check check-send-proxy inter 200ms fall 2 rise 1
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.out" 2>&1 &
pids+=($!)

# Clients: each holds one connection through HAProxy, names itself, and
# reports its own local port; after "reconnect" it reconnects.
cat >"$work/clients.py" <<'EOF'
import socket, sys, time
front, n = int(sys.argv[1]), int(sys.argv[2])

def call(s, *args):
    s.sendall(b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args]))
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data

def connect(i):
    for _ in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", front), timeout=5)
            if call(s, b"CLIENT", b"SETNAME", b"c%d" % i) == b"+OK\r\n":
                return s
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("client %d could not connect" % i)

socks = [connect(i) for i in range(n)]
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
for line in sys.stdin:
    if line.strip() == "check":
        # Each client finds out whether its connection still works; those
        # whose instance went away reconnect (to the other).
        for i, s in enumerate(socks):
            try:
                if call(s, b"PING") != b"+PONG\r\n":
                    raise ConnectionError("bad reply")
            except OSError:
                socks[i] = connect(i)
        print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
EOF

# Wait until HAProxy sees both instances up.
for _ in $(seq 1 50); do
    redis-cli -p "$front" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
done
sleep 0.5

coproc CLIENTS { python3 "$work/clients.py" "$front" 6; }
pids+=($CLIENTS_PID)
read -r -t 20 ports <&"${CLIENTS[0]}" || fail "the clients did not connect"

client_list() { # name
    redis-cli -s "$work/$1.sock" client list
}
list1=$(client_list r1)
list2=$(client_list r2)
on1=0
on2=0
for p in $ports; do
    a1=$(grep -c "addr=127.0.0.1:$p " <<<"$list1" || true)
    a2=$(grep -c "addr=127.0.0.1:$p " <<<"$list2" || true)
    [ $((a1 + a2)) -eq 1 ] || fail "client port $p appears $((a1 + a2)) times in the CLIENT LISTs:
r1: $list1
r2: $list2"
    on1=$((on1 + a1))
    on2=$((on2 + a2))
done
[ "$on1" -gt 0 ] && [ "$on2" -gt 0 ] || fail "clients not spread over both instances ($on1, $on2)"
echo "haproxy-recipe: 6 clients spread over the instances ($on1 on r1, $on2 on r2), each listed with its own address"

# One instance stops (gracefully); its clients move to the other.
kill -INT "$pid1"
wait "$pid1" || fail "r1 did not exit 0 on SIGINT"
sleep 1
echo check >&"${CLIENTS[1]}"
read -r -t 30 ports <&"${CLIENTS[0]}" || fail "the clients did not recover"
list2=$(client_list r2)
for p in $ports; do
    grep -q "addr=127.0.0.1:$p " <<<"$list2" || fail "client port $p is not on r2 after r1 stopped:
$list2"
done
echo "haproxy-recipe: r1 stopped; all 6 clients carried by r2"
echo "haproxy-recipe: passed"
