//! haproxy: redis-benchmark through Debian's HAProxy (mode tcp, one thread)
//! to one revio redis-server example instance, once on a plain listener and
//! once on a listener that takes the PROXY protocol v2 (HAProxy's
//! `send-proxy-v2`). The header comes once per connection, so the ratio
//! should be about 1.0.

use std::fmt::Write as _;

use revio_bench::procfs;

use super::Ctx;
use super::header::first_line;
use super::peers::{FilterHave, PeerSpec, rounds_of, start_all};
use super::procs::{CLIENT_CPU, Program, Running, free_port, have, output_of};
use super::redis::redis_benchmark;
use super::report::Table;

/// The redis-benchmark tests, each at `-P 1` and `-P 16`.
const KINDS: [&str; 3] = ["ping_inline", "set", "get"];

/// Connections, as in the redis comparison.
const CONNS: usize = 50;

/// The comparison.
pub fn haproxy(ctx: &Ctx) -> Table {
    let (n1, n16): (u64, u64) = if ctx.quick {
        (10_000, 100_000)
    } else {
        (200_000, 2_000_000)
    };
    let rounds_n = ctx.rounds.min(3);
    let specs = specs(ctx);
    let fronts = [free_port(), free_port()];
    let mut tests = Vec::new();
    for pipe in [1, 16] {
        for k in KINDS {
            tests.push((k, pipe));
        }
    }
    let names = tests
        .iter()
        .map(|(k, p)| format!("{} P{p}", k.to_uppercase()))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new("through HAProxy: redis-benchmark -c 50", "req", names, peers);
    table.ratio_of = "PROXY v2 ÷ plain".into();
    table.extra_cols = vec!["HAProxy k req/CPU-s", "p50 ms", "p99 ms"];
    table.note = note(n1, n16, rounds_n);
    if !have("redis-benchmark") || !have("haproxy") {
        table
            .note
            .push_str(" redis-benchmark or haproxy is not installed: nothing was measured.");
        return table;
    }
    let backends = [specs[0].port, specs[1].port];
    let mut proxy = match start_haproxy(ctx, fronts, backends) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipping haproxy: {e}");
            for p in &mut table.peers {
                p.skipped
                    .get_or_insert_with(|| format!("HAProxy did not start: {e}"));
            }
            return table;
        }
    };
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    rounds_of(rounds_n, &mut table, &mut running, |t, server| {
        let (kind, pipe) = tests[t];
        let n = if pipe == 1 { n1 } else { n16 };
        let front = names
            .iter()
            .position(|x| *x == server.name)
            .map_or(0, |i| fronts[i]);
        if !proxy.alive() {
            return Err(format!("HAProxy is gone: {}", proxy.log_tail()));
        }
        let cpu0 = procfs::cpu_seconds(proxy.pid).unwrap_or(f64::NAN);
        let mut s = redis_benchmark(server, front, CONNS, n, pipe, kind)?;
        let cpu = procfs::cpu_seconds(proxy.pid).unwrap_or(f64::NAN) - cpu0;
        s.extra.insert("HAProxy k req/CPU-s", n as f64 / cpu / 1e3);
        Ok(s)
    });
    drop(running);
    drop(proxy);
    table
}

/// revio's redis-server example with a PROXY v2 listener (first: the row
/// the ratios are taken from), and with a plain one.
fn specs(ctx: &Ctx) -> [PeerSpec; 2] {
    let revio = |name: &str, proxy: bool| {
        let port = free_port();
        let p = port.to_string();
        let mut args = vec!["--port", p.as_str(), "--backend", "poll"];
        if proxy {
            args.extend(["--proxy-protocol", "v2"]);
        }
        PeerSpec {
            name: name.into(),
            prog: ctx
                .example("redis-server")
                .map(|e| Program::new(e, &args))
                .filter_have("haproxy"),
            port,
        }
    };
    [
        revio("revio behind HAProxy, PROXY v2 listener", true),
        revio("revio behind HAProxy, plain listener", false),
    ]
}

/// How the table was made.
fn note(n1: u64, n16: u64, rounds: usize) -> String {
    let version = first_line(&output_of("haproxy", &["-v"]))
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "`redis-benchmark -c {CONNS} -t TEST -P 1 -n {n1}` and `-P 16 -n {n16}` (medians of {rounds} \
         rounds) through {version} (`mode tcp`, `nbthread 1`, one process with a frontend for each \
         listener, no health checks), pinned to CPU 1 with the client: the machine has no third core. One \
         revio redis-server example instance (epoll, one loop) behind each frontend, on CPU 0: one with \
         a plain listener, one with `--proxy-protocol v2` (`?proxy=v2`; HAProxy's `send-proxy-v2` \
         writes the header once per connection). \"k req/CPU-s\" is revio's CPU only; HAProxy's is its \
         own column. The ratios are the PROXY v2 row's figures divided by the plain row's (expected: \
         about 1.0). p50 and p99 in ms."
    )
}

/// HAProxy, one thread, pinned to the client's CPU: frontend `fronts[i]`
/// forwards to `backends[i]`, with a PROXY v2 header for the first.
fn start_haproxy(ctx: &Ctx, fronts: [u16; 2], backends: [u16; 2]) -> Result<Running, String> {
    let conf = ctx.procs.tmp.join("haproxy.cfg");
    std::fs::write(&conf, config(fronts, backends)).map_err(|e| format!("{}: {e}", conf.display()))?;
    let prog = Program::new("haproxy", &["-f", &conf.display().to_string(), "-db"]);
    ctx.procs.start_on(CLIENT_CPU, "haproxy", &prog, fronts[0])
}

/// The configuration: `.ci/haproxy-recipe.sh`'s, one server per backend and
/// no health checks (they would be connections of their own to count).
fn config(fronts: [u16; 2], backends: [u16; 2]) -> String {
    let mut c = String::from(
        "global\n    nbthread 1\n    maxconn 4096\n\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n",
    );
    for (i, name) in ["proxy", "plain"].iter().enumerate() {
        let send = if i == 0 { " send-proxy-v2" } else { "" };
        let _ = write!(
            c,
            "\nfrontend {name}\n    bind 127.0.0.1:{}\n    default_backend {name}\n\n\
             backend {name}\n    server revio 127.0.0.1:{}{send}\n",
            fronts[i], backends[i]
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sends_proxy_v2_to_the_first_backend_only() {
        let c = config([46001, 46002], [46011, 46012]);
        assert!(c.contains("nbthread 1") && c.contains("mode tcp"));
        assert!(c.contains("bind 127.0.0.1:46001\n    default_backend proxy"));
        assert!(c.contains("server revio 127.0.0.1:46011 send-proxy-v2\n"));
        assert!(c.contains("server revio 127.0.0.1:46012\n"));
        assert_eq!(c.matches("send-proxy").count(), 1);
    }
}
