//! The head of the results: when, on what machine, with which peers, and how
//! the figures are taken.

use std::fmt::Write as _;
use std::path::Path;

use super::Ctx;
use super::procs::output_of;

/// The first line of `s`, trimmed.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

pub fn header(ctx: &Ctx) -> String {
    let lscpu = output_of("lscpu", &[]);
    let model = lscpu
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .unwrap_or_default();
    let tokio = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"tokio\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .unwrap_or("?")
        .trim_matches('"')
        .to_string();
    let git = |args: &[&str]| output_of("git", &[&["-C", env!("CARGO_MANIFEST_DIR")], args].concat());
    let dirty = if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let mut h = String::new();
    let _ = writeln!(h, "# revio benchmark results\n");
    let _ = writeln!(
        h,
        "Run {} ({} mode, medians of {} rounds), revio at commit {}{dirty}.\n",
        output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        if ctx.quick { "quick" } else { "full" },
        ctx.rounds,
        git(&["rev-parse", "--short", "HEAD"]),
    );
    let _ = writeln!(h, "| | |\n|---|---|");
    let _ = writeln!(h, "| machine | {model}, {} CPUs |", output_of("nproc", &[]));
    let _ = writeln!(h, "| kernel | {} |", output_of("uname", &["-sr"]));
    let _ = writeln!(
        h,
        "| redis-server | {} |",
        first_line(&output_of("redis-server", &["--version"]))
    );
    let _ = writeln!(
        h,
        "| redis-benchmark | {} |",
        first_line(&output_of("redis-benchmark", &["--version"]))
    );
    let _ = writeln!(h, "| nginx | {} |", first_line(&output_of("nginx", &["-v"])));
    let _ = writeln!(h, "| wrk | {} |", first_line(&output_of("wrk", &["-v"])));
    let _ = writeln!(h, "| rustc | {} |", output_of("rustc", &["--version"]));
    let _ = writeln!(h, "| tokio | {tokio} (current-thread runtime) |");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let _ = writeln!(
        h,
        "| load average at start | {} (other work shares this machine: absolute figures drift, ratios hold better) |",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let _ = writeln!(
        h,
        "\nServers run on CPU 0 and load generators on CPU 1 (`taskset`). Each round runs every \
         server once per test, in an order that rotates from round to round; figures are medians \
         over rounds, and each ratio is one row's figure divided by another's from the same round \
         (median over rounds; each ratio names the rows it divides). \"k req/CPU-s\" is thousands of requests served per second of server \
         CPU (user + sys from `/proc/PID/stat`); with client and server sharing two cores the client \
         is often the limit, and this is the figure that tells servers apart."
    );
    h.push_str(PEERS);
    h
}

/// What each row of the tables is, and how it is configured.
const PEERS: &str = "
### The peers

Two kinds of revio row: **like for like**, revio running the very protocol code of a tokio \
baseline (the headline ratios against tokio and the floor come from these), and **the examples**, \
revio's full example servers against the servers a user would pick instead. Every server runs \
one thread (one loop, one worker, a current-thread runtime), pinned to CPU 0, on 127.0.0.1.

| row | what it is | configured with |
|---|---|---|
| revio RESP (epoll / io_uring) | `revio-resp`: `bench/src/resp.rs`, the tokio RESP baseline's own code (PING, SET, GET, ...), under a revio handler (`bench/src/revio_conn.rs`) that parses the loop's input slice, appends replies to the connection's output and keeps a partial request with `Conn::keep` | one loop, `--backend poll` or `uring`; TCP_NODELAY on every connection, SO_REUSEADDR and a listen backlog of 128 (as tokio's listener); revio's defaults otherwise (64 KiB read buffer; io_uring: 256 provided buffers of 4 KiB) |
| tokio RESP | `tokio-resp`: the same `resp.rs` under the tokio driver (`bench/src/tokio_conn.rs`): a task per connection, one 64 KiB read buffer per thread, replies written at once, leftovers copied per connection | current-thread runtime; TCP_NODELAY on every connection; tokio's listener (SO_REUSEADDR, backlog 128: mio's `TcpListener::bind`) |
| floor (epoll PING) | `floor-epoll`: level-triggered epoll, one `read` and one `write` per event, counts PINGs without parsing; answers PINGs only | TCP_NODELAY on every connection, std's listener (SO_REUSEADDR, backlog 128), a 64 KiB read buffer |
| revio HTTP (epoll / io_uring) | `revio-http`: `bench/src/http.rs`, the tokio HTTP baseline's own code (httparse, the same `Hello World!` reply bytes), under the same revio handler | as revio RESP |
| tokio HTTP | `tokio-http`: the same `http.rs` under the tokio driver | as tokio RESP |
| revio redis-server example (epoll / io_uring) | `examples/redis-server`: revio's Redis-compatible server, full command set | one loop, `--backend poll` or `uring`, revio's defaults (TCP_NODELAY on, backlog 1024) |
| redis-server | Redis 7 | `--save \"\" --appendonly no --io-threads 1`, bound to 127.0.0.1 |
| revio http-server example | `examples/http-server` | one loop, the default backend (epoll), revio's defaults (TCP_NODELAY on, backlog 1024); its TLS port is not used |
| nginx (1 worker) | nginx | `master_process off`, `access_log off`, `keepalive_requests` unlimited, `return 200 \"Hello World!\"` |
| revio echo-server example (epoll / io_uring) | `examples/echo-server` | `--loops 1`, `--backend poll` or `uring`, revio's defaults |
| tokio echo | `tokio-echo`: the tokio driver echoing what it reads, sent straight from its read buffer | as tokio RESP |
| tokio echo, copying | `tokio-echo --copy`: the same, each read first copied into the output buffer, as revio's echo handler (`conn.write(input)`) does: the same work | as tokio RESP |
| revio echo-server example, UDP (epoll / io_uring) | `examples/echo-server --udp`: each datagram echoed to its sender; on Linux revio receives with `recvmmsg` (io_uring: multishot `recvmsg`) and sends a turn's replies with `sendmmsg`, runs to one remote as one `UDP_SEGMENT` send | `--loops 1 --udp-gro`, `--backend poll` or `uring`, the kernel's default socket buffers |
| tokio UDP echo | `tokio-udp`: `recv_from`/`send_to` on a current-thread runtime | the kernel's default socket buffers |
| blocking loop / recvmmsg/sendmmsg loop | `udp-floor --mode blocking`: `recv_from` then `send_to` on a blocking socket; `--mode mmsg`: epoll, then `recvmmsg` and `sendmmsg` of up to 32 | the kernel's default socket buffers |

Each table row's ratio names the row it divides into its own: `like for like: revio RESP (epoll) ÷ this` \
in tokio's row, `redis example vs redis-server: revio redis-server example (epoll) ÷ this` in \
redis-server's, `epoll vs io_uring` in an io_uring row.
";
