//! redis: `redis-benchmark`, unpipelined and 16 deep, against two groups of
//! servers. Like for like: revio running the tokio baseline's own RESP code
//! (`revio-resp`, on each backend), that tokio baseline, and the minimal epoll
//! PING responder (the floor); the headline ratios against tokio and the
//! floor are this group's. The redis example: revio's redis-server example
//! on each backend against redis-server 7 (and against `revio-resp`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Ctx;
use super::peers::{
    EPOLL_VS_URING, FilterHave, PeerSpec, example_names, like_specs, redis_server_program, revio_name,
    revio_specs, rounds, start_all,
};
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
    let names = tests
        .iter()
        .map(|(k, p)| format!("{} P{p}", k.to_uppercase()))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(&format!("redis-benchmark -c {conns}"), "req", names, peers);
    compare(&mut table);
    table.note = format!(
        "`redis-benchmark -c {conns} -t TEST -P 1 -n {n1}` and `-P 16 -n {n16}`; p50 and p99 in ms. \
         Like for like: `revio RESP` is revio (one loop) running the tokio baseline's own RESP code \
         (`bench/src/resp.rs`, through `revio-resp`), `tokio RESP` that code on a current-thread tokio \
         runtime, and the floor a minimal epoll responder that answers PINGs only; all three set \
         TCP_NODELAY on every connection and listen with a backlog of 128. The redis example: revio's \
         redis-server example (one loop, the full command set) against redis-server 7 (no persistence, \
         no I/O threads). Each row's ratio says which row it divides into this one's."
    );
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    if let Some(floor) = table.index(FLOOR) {
        for (t, (k, _)) in tests.iter().enumerate() {
            table.applies.insert((t, floor), k.starts_with("ping"));
        }
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

/// The tokio RESP baseline's row.
pub const TOKIO: &str = "tokio RESP";
/// The minimal epoll PING responder's row.
pub const FLOOR: &str = "floor (epoll PING)";
/// redis-server's row.
pub const REDIS: &str = "redis-server";
/// What the like-for-like rows are called: `revio RESP (BACKEND)`.
pub const LIKE: &str = "RESP";
/// The pair "the redis example against redis-server".
pub const EXAMPLE_VS_REDIS: &str = "redis example vs redis-server";
/// The pair "the redis example against revio's minimal responder".
pub const EXAMPLE_VS_LIKE: &str = "redis example vs revio RESP";

/// The like-for-like rows, then the redis example's: revio RESP on each
/// backend, tokio RESP, the floor; the example on each backend, redis-server.
fn specs(ctx: &Ctx) -> Vec<PeerSpec> {
    let redis_dir = ctx.procs.tmp.display().to_string();
    let mut specs = like_specs(ctx, "revio-resp", LIKE);
    let p = free_port();
    specs.push(PeerSpec {
        name: TOKIO.into(),
        prog: Ok(Program::new(ctx.bin("tokio-resp"), &["--port", &p.to_string()])),
        port: p,
    });
    let p = free_port();
    specs.push(PeerSpec {
        name: FLOOR.into(),
        prog: Ok(Program::new(ctx.bin("floor-epoll"), &["--port", &p.to_string()])),
        port: p,
    });
    specs.extend(revio_specs(ctx, "redis-server", &[]));
    let p = free_port();
    specs.push(PeerSpec {
        name: REDIS.into(),
        prog: Ok(redis_server_program(&p.to_string(), &redis_dir)).filter_have("redis-server"),
        port: p,
    });
    specs
}

/// Which row each ratio divides: revio RESP into tokio RESP and the floor
/// (like for like), the example into redis-server and into revio RESP, and
/// each epoll row into its io_uring row.
pub fn compare(table: &mut Table) {
    let [like, like_uring] = [revio_name(LIKE, "epoll"), revio_name(LIKE, "io_uring")];
    let [example, example_uring] = example_names("redis-server");
    table.prefer_revio(&[&like, &like_uring]);
    let revio = table.peers[table.revio].name.clone();
    table.compare(&revio, TOKIO, "like for like");
    table.compare(&revio, FLOOR, "like for like");
    table.compare(&like, &like_uring, EPOLL_VS_URING);
    table.compare(&example, &like, EXAMPLE_VS_LIKE);
    table.compare(&example, &example_uring, EPOLL_VS_URING);
    table.compare(&example, REDIS, EXAMPLE_VS_REDIS);
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
    redis_benchmark_with(server, port, conns, n, pipe, kind, &[])
}

/// [`redis_benchmark`] with `extra` arguments (`-d SIZE`).
pub fn redis_benchmark_with(
    server: &Running,
    port: u16,
    conns: usize,
    n: u64,
    pipe: usize,
    kind: &str,
    extra: &[&str],
) -> Result<Sample, String> {
    let (port, conns, n_arg, pipe) = (
        port.to_string(),
        conns.to_string(),
        n.to_string(),
        pipe.to_string(),
    );
    let mut args = vec![
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-c",
        &conns,
        "-n",
        &n_arg,
        "-P",
        &pipe,
        "-t",
        kind,
        "--csv",
    ];
    args.extend_from_slice(extra);
    let client = Program::new("redis-benchmark", &args);
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
