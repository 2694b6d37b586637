#!/usr/bin/env python3
"""What idle connections cost in CPU: starts an echo server, opens N idle TCP
connections to it, waits 3 s, then reports the server's time on CPU over a
window (from /proc/PID/task/*/schedstat; utime+stime is shown too, but it
samples at clock ticks and misses short wake-ups), in all and per thread
name, with each name's wake-ups (voluntary context switches). Linux only.

    cargo build --release --example echo-server
    python3 bench/idle-cpu.py target/release/examples/echo-server 2000 10 std
"""
import os, socket, subprocess, sys, time, resource

bin_, n = sys.argv[1], int(sys.argv[2])
window = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
backend = sys.argv[4] if len(sys.argv) > 4 else "std"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * n + 1000), hard))
tick = os.sysconf("SC_CLK_TCK")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
srv = subprocess.Popen([bin_, "--backend", backend, "--bind", "127.0.0.1", "--port", str(port)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * n + 1000), hard)))
def cpu():
    tot, per = 0, {}
    for tid in os.listdir(f"/proc/{srv.pid}/task"):
        try:
            st = open(f"/proc/{srv.pid}/task/{tid}/stat").read()
            ns = int(open(f"/proc/{srv.pid}/task/{tid}/schedstat").read().split()[0])
            name = open(f"/proc/{srv.pid}/task/{tid}/comm").read().strip()
            vol = [l for l in open(f"/proc/{srv.pid}/task/{tid}/status") if l.startswith("voluntary")][0].split()[1]
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        t = int(f[11]) + int(f[12])
        tot += t
        a = per.setdefault(name, [0, 0, 0]); a[0] += ns; a[1] += int(vol); a[2] += t
    return tot, per
try:
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close(); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.05)
    conns = []
    for i in range(n):
        conns.append(socket.create_connection(("127.0.0.1", port), 5))
    time.sleep(3)  # let every thread settle
    t0, p0 = cpu(); w0 = time.time()
    time.sleep(window)
    t1, p1 = cpu(); w1 = time.time()
    nthreads = len(os.listdir(f"/proc/{srv.pid}/task"))
    ns = sum(v[0] for v in p1.values()) - sum(v[0] for v in p0.values())
    print(f"N={n} threads={nthreads} window={w1-w0:.1f}s utime+stime={(t1-t0)/tick:.2f}s "
          f"on-cpu(schedstat)={ns/1e9:.3f}s ({100*ns/1e9/(w1-w0):.2f}%)")
    for k in sorted(p1):
        z = p0.get(k, [0, 0, 0])
        print(f"  {k}: on-cpu {(p1[k][0]-z[0])/1e9:.3f}s wake-ups {p1[k][1]-z[1]}")
    for c in conns: c.close()
finally:
    srv.kill(); srv.wait()
