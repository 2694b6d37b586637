#!/usr/bin/env bash
# What a new user meets: a fresh clone builds the echo-server example alone,
# compiling only what it needs (at most about 20 crates, counted here), and
# serves. Then the docs (no warnings) and the published package (it ships
# LICENSE, and every relative link of README.md points at a file it ships).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# 1. A fresh clone with an empty target directory.
git clone --quiet . "$work/revio"
start=$(date +%s)
(cd "$work/revio" && CARGO_TARGET_DIR="$work/target" cargo build --release --example echo-server 2>&1) |
    tee "$work/build.log" | grep -E '^ *(Compiling|Finished)' || true
crates=$(grep -c '^ *Compiling' "$work/build.log" || true)
echo "first-run: echo-server built from a fresh clone: $crates crates compiled in $(($(date +%s) - start)) s"
if [ "$crates" -gt 20 ]; then
    echo "first-run: FAILED: $crates crates compiled for the echo server (at most about 20 expected)" >&2
    exit 1
fi
"$work/target/release/examples/echo-server" --bind 127.0.0.1 --port 0 >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/out" && break
    sleep 0.1
done
grep "listening on" "$work/out" || { cat "$work/out"; echo "first-run: FAILED: no start-up line" >&2; exit 1; }
port=$(sed -n 's/.*tcp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/out")
reply=$(python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $port), timeout=5)
s.sendall(b'hello\n')
print(s.recv(64).decode().strip())")
[ "$reply" = "hello" ] || { echo "first-run: FAILED: the echo server answered '$reply'" >&2; exit 1; }
kill -INT "$pid"
wait "$pid" || { echo "first-run: FAILED: echo-server did not exit 0 on SIGINT" >&2; exit 1; }
pid=""
echo "first-run: the echo server echoed, then stopped on Ctrl-C with status 0"

# 2. The docs, as docs.rs builds them, without a warning.
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p revio --all-features
echo "first-run: cargo doc: no warnings"

# 3. The package: LICENSE in it, and README's relative links resolve inside it.
cargo package --quiet --list --allow-dirty -p revio >"$work/files"
grep -qx LICENSE "$work/files" || { echo "first-run: FAILED: LICENSE is not in the package" >&2; exit 1; }
broken=0
for link in $(grep -o '](\([^)#]*\))' README.md | sed 's/^](//; s/)$//' | grep -v '://'); do
    if ! grep -qx "$link" "$work/files"; then
        echo "first-run: README links to $link, which the package does not ship" >&2
        broken=1
    fi
done
[ "$broken" -eq 0 ] || exit 1
echo "first-run: the package ships LICENSE and every file README.md links to"
