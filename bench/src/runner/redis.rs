//! redis: `redis-benchmark` against revio's redis-server example on each
//! backend, redis-server 7, a tokio RESP baseline and the minimal epoll PING
//! responder (the floor), unpipelined and 16 deep.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Ctx;
use super::peers::{FilterHave, PeerSpec, pick_revio, redis_server_program, revio_specs, rounds, start_all};
use super::procs::{Program, Running, free_port, have, run_client};
use super::report::{Sample, Table};

/// The comparison at `conns` connections (50, and 1,000 for "many").
pub fn redis(ctx: &Ctx, conns: usize) -> Table {
    let (n1, n16): (u64, u64) = if ctx.quick {
        (10_000, 100_000)
    } else {
        (200_000, 2_000_000)
    };
    // Every connection gets its share of requests.
    let n1 = n1.max(conns as u64 * 20);
    let kinds = ["ping_inline", "ping_mbulk", "set", "get"];
    let mut tests = Vec::new();
    for pipe in [1, 16] {
        for k in kinds {
            tests.push((k, pipe));
        }
    }
    let specs = specs(ctx);
    // The floor is the last peer.
    let floor = specs.len() - 1;
    let names = tests
        .iter()
        .map(|(k, p)| format!("{} P{p}", k.to_uppercase()))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(&format!("redis-benchmark -c {conns}"), "req", names, peers);
    pick_revio(&mut table);
    table.note = format!(
        "`redis-benchmark -c {conns} -t TEST -P 1 -n {n1}` and `-P 16 -n {n16}`; p50 and p99 in ms. \
         revio's ratios are its epoll row's (the default backend). The floor answers PINGs only."
    );
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    for (t, (k, _)) in tests.iter().enumerate() {
        table.applies.insert((t, floor), k.starts_with("ping"));
    }
    if !have("redis-benchmark") {
        table
            .note
            .push_str(" redis-benchmark is not installed: nothing was measured.");
        return table;
    }
    let ports: Vec<u16> = specs.iter().map(|s| s.port).collect();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    rounds(ctx, &mut table, &mut running, |t, server| {
        let (kind, pipe) = tests[t];
        let n = if pipe == 1 { n1 } else { n16 };
        let port = names
            .iter()
            .position(|x| *x == server.name)
            .map(|i| ports[i])
            .unwrap_or(0);
        redis_benchmark(server, port, conns, n, pipe, kind)
    });
    drop(running);
    table
}

/// revio on each backend, redis-server, tokio RESP and the floor, in that order.
fn specs(ctx: &Ctx) -> Vec<PeerSpec> {
    let redis_dir = ctx.procs.tmp.display().to_string();
    let mut specs = revio_specs(ctx, "redis-server", &[]);
    let p = free_port();
    specs.push(PeerSpec {
        name: "redis-server".into(),
        prog: Ok(redis_server_program(&p.to_string(), &redis_dir)).filter_have("redis-server"),
        port: p,
    });
    let p = free_port();
    specs.push(PeerSpec {
        name: "tokio RESP".into(),
        prog: Ok(Program::new(ctx.bin("tokio-resp"), &["--port", &p.to_string()])),
        port: p,
    });
    let p = free_port();
    specs.push(PeerSpec {
        name: "floor (epoll PING)".into(),
        prog: Ok(Program::new(ctx.bin("floor-epoll"), &["--port", &p.to_string()])),
        port: p,
    });
    specs
}

/// One `redis-benchmark -t kind` run against `port`, charged to `server`'s
/// CPU: requests per second, per server CPU-second, and p50/p99 in ms.
pub fn redis_benchmark(
    server: &Running,
    port: u16,
    conns: usize,
    n: u64,
    pipe: usize,
    kind: &str,
) -> Result<Sample, String> {
    let client = Program::new(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            &conns.to_string(),
            "-n",
            &n.to_string(),
            "-P",
            &pipe.to_string(),
            "-t",
            kind,
            "--csv",
        ],
    );
    let run = run_client(server, &client, Duration::from_secs(120))?;
    let (_, cols) = run
        .stdout
        .lines()
        .find_map(csv_row)
        .ok_or_else(|| format!("no result from redis-benchmark: {}", run.stdout))?;
    Ok(sample(&cols, n as f64 / run.server_cpu))
}

/// A result line of `redis-benchmark --csv`: the test's name and its figures
/// (rps, avg, min, p50, p95, p99, max); `None` for the header and other lines.
pub fn csv_row(line: &str) -> Option<(String, Vec<f64>)> {
    if !line.starts_with('"') || line.starts_with("\"test\"") {
        return None;
    }
    let mut cells = line.split(',').map(|c| c.trim_matches('"'));
    let name = cells.next()?.to_string();
    Some((name, cells.map(|c| c.parse().unwrap_or(f64::NAN)).collect()))
}

/// A sample from the figures of a CSV line (see [`csv_row`]).
pub fn sample(cols: &[f64], per_cpu: f64) -> Sample {
    let col = |i: usize| *cols.get(i).unwrap_or(&f64::NAN);
    let mut extra = BTreeMap::new();
    extra.insert("p50 ms", col(3));
    extra.insert("p99 ms", col(5));
    Sample {
        rate: col(0),
        per_cpu,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows() {
        assert_eq!(csv_row("\"test\",\"rps\",\"avg_latency_ms\""), None);
        assert_eq!(csv_row("WARNING: Could not fetch server CONFIG"), None);
        let (name, cols) = csv_row(
            "\"MSET (10 keys)\",\"36363.64\",\"0.915\",\"0.304\",\"0.887\",\"1.359\",\"2.247\",\"2.743\"",
        )
        .expect("a row");
        assert_eq!(name, "MSET (10 keys)");
        let s = sample(&cols, 1000.0);
        assert_eq!((s.rate, s.per_cpu), (36363.64, 1000.0));
        assert_eq!((s.extra["p50 ms"], s.extra["p99 ms"]), (0.887, 2.247));
    }
}
