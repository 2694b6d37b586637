#!/usr/bin/env bash
# redis-py (from PyPI) against the redis-server example, with the client's
# defaults (it opens with HELLO 3): connect, a transaction pipeline, a
# pipeline of 10,000 commands, 50 threads doing INCR on one key 1,000
# times each, and the helpers on SCAN, ZREVRANGE and INFO. Installs redis-py with pip when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import redis' 2>/dev/null; then
    python3 -m pip install --quiet redis 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages redis
fi

. .ci/redis-start.sh
trap 'stop_example; rm -rf "$work"' EXIT
start_example --loops 2

timeout 120 python3 - "$port" <<'PY'
import sys, threading
import redis

port = int(sys.argv[1])
r = redis.Redis(port=port)
assert r.ping()
assert r.connection_pool.connection_kwargs.get("protocol") in (None, 2, 3)
r.set("py:k", "v")
assert r.get("py:k") == b"v"

# The default pipeline is a transaction: MULTI ... EXEC.
with r.pipeline() as p:
    p.set("py:a", 1).incr("py:a").lpush("py:l", "x", "y").hset("py:h", mapping={"f": "1"})
    p.zadd("py:z", {"m": 1.5})
    assert p.execute() == [True, 2, 2, 1, 1], p
assert r.zscore("py:z", "m") == 1.5
assert r.hgetall("py:h") == {b"f": b"1"}

# WATCH: a change by another client makes EXEC fail.
with r.pipeline() as p:
    p.watch("py:w")
    redis.Redis(port=port).set("py:w", "changed")
    p.multi()
    p.set("py:w", "mine")
    try:
        p.execute()
        raise AssertionError("EXEC should have failed")
    except redis.WatchError:
        pass

# A plain pipeline of 10,000 commands.
with r.pipeline(transaction=False) as p:
    for i in range(10_000):
        p.set(f"py:n:{i}", i)
    assert all(p.execute())
assert int(r.get("py:n:9999")) == 9999

# 50 threads, 1,000 INCRs each, on one key.
r.delete("py:counter")
def work():
    c = redis.Redis(port=port)
    for _ in range(1000):
        c.incr("py:counter")
threads = [threading.Thread(target=work) for _ in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert int(r.get("py:counter")) == 50_000, r.get("py:counter")
# scan_iter (SCAN with MATCH, COUNT and TYPE), zrange(desc=True) (ZREVRANGE), info().
r.lpush("py:scan:list", "x")
assert set(r.scan_iter(match="py:n:99*", count=100)) == {f"py:n:{i}".encode() for i in [99] + list(range(990, 1000)) + list(range(9900, 10000))}
assert set(r.scan_iter(_type="list")) == {b"py:l", b"py:scan:list"}
assert sum(1 for _ in r.scan_iter(count=50)) == r.dbsize()
r.zadd("py:zr", {"a": 1, "b": 2, "c": 3})
assert r.zrange("py:zr", 0, -1, desc=True) == [b"c", b"b", b"a"]
assert r.zrange("py:zr", 0, 1, desc=True, withscores=True) == [(b"c", 3.0), (b"b", 2.0)]
info = r.info()
assert info["connected_clients"] >= 1 and info["used_memory"] > 0 and info["role"] == "master", info
assert r.info("memory")["maxmemory_policy"] == "noeviction"
print("redis-py", redis.__version__, "ok")
PY
echo "redis-py: ok"
