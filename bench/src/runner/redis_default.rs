//! redis-default: redis-benchmark's whole default run (no `-t`: every test it
//! runs by default) against revio's redis-server example and redis-server 7,
//! with the server CPU of each test read as its result line comes out.
//!
//! redis-benchmark stops at the first error reply. A test answered with an
//! error is shown as such, and the run goes on with the tests after it
//! (`-t` with their names), so that one error hides nothing else.

use std::time::Duration;

use super::Ctx;
use super::peers::{FilterHave, PeerSpec, live, redis_server_program, start_all};
use super::procs::{Program, Running, free_port, have, run_client_lines};
use super::redis::{csv_row, sample};
use super::report::{Sample, Table};

/// redis-benchmark 7's default tests, in the order it runs them, named as
/// its CSV names them. A newer redis-benchmark's further tests are added as
/// they come; the tests this one does not have are left out of the table.
const DEFAULT_TESTS: [&str; 20] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    FILL,
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// The LPUSH that fills the list for the LRANGE tests: any of them runs it.
const FILL: &str = "LPUSH (needed to benchmark LRANGE)";

/// Connections, as in the redis comparison.
const CONNS: usize = 50;

/// The comparison.
pub fn redis_default(ctx: &Ctx) -> Table {
    let n: u64 = if ctx.quick { 10_000 } else { 100_000 };
    // A whole default run lasts a minute or more at -n 100000.
    let rounds = ctx.rounds.min(3);
    let redis_dir = ctx.procs.tmp.display().to_string();
    let (rp, sp) = (free_port(), free_port());
    let specs = vec![
        PeerSpec {
            name: "revio redis-server example (epoll)".into(),
            prog: ctx
                .example("redis-server")
                .map(|e| Program::new(e, &["--port", &rp.to_string(), "--backend", "poll"])),
            port: rp,
        },
        PeerSpec {
            name: "redis-server".into(),
            prog: Ok(redis_server_program(&sp.to_string(), &redis_dir)).filter_have("redis-server"),
            port: sp,
        },
    ];
    let (peers, mut running) = start_all(ctx, &specs);
    let tests = DEFAULT_TESTS.iter().map(|t| t.to_string()).collect();
    // Not "redis…": the targets and the floor read the first table so named.
    let mut table = Table::new("default run of redis-benchmark, -c 50", "req", tests, peers);
    table.in_chart = false;
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    table.note = format!(
        "`redis-benchmark -q --csv -c {CONNS} -n {n}` with no `-t`: every test of its default run, in one \
         process per server and round (medians of {rounds} rounds). The server's CPU for a test is read \
         when its result line comes out (`stdbuf -oL`), so it includes opening the test's {CONNS} \
         connections. revio runs its default backend (epoll), one loop. redis-benchmark stops at the first \
         error reply: such a test shows the error, and the run resumes with `-t` and the tests after it. \
         p50 and p99 in ms."
    );
    if !have("redis-benchmark") || !have("stdbuf") {
        table
            .note
            .push_str(" redis-benchmark (or stdbuf) is not installed: nothing was measured.");
        return table;
    }
    let limit = Duration::from_secs(if ctx.quick { 120 } else { 600 });
    let count = running.len();
    for round in 0..rounds {
        eprintln!("{}: round {}/{rounds}", table.title, round + 1);
        for k in 0..count {
            let p = (k + round) % count;
            let Some(server) = live(&mut table, &mut running, p) else {
                continue;
            };
            for (test, outcome) in default_run(server, specs[p].port, n, limit) {
                record(&mut table, &test, p, round, outcome);
            }
        }
    }
    drop(running);
    table.retain_measured();
    table
}

/// Records one test's outcome, adding the test to the table if it is new.
fn record(table: &mut Table, test: &str, p: usize, round: usize, outcome: Result<Sample, String>) {
    let t = match table.tests.iter().position(|x| x == test) {
        Some(t) => t,
        None => {
            table.tests.push(test.to_string());
            table.tests.len() - 1
        }
    };
    match outcome {
        Ok(s) => table.record(t, p, round, Some(s)),
        Err(e) => {
            eprintln!("{test}, {}: {e}", table.peers[p].name);
            table.record(t, p, round, None);
            table.errors.insert((t, p), e);
        }
    }
}

/// The whole default run against `port`: each test's outcome, in order. After
/// an error reply, the tests after the one that failed run again with `-t`.
fn default_run(
    server: &Running,
    port: u16,
    n: u64,
    limit: Duration,
) -> Vec<(String, Result<Sample, String>)> {
    let mut out = Vec::new();
    // The tests still to run; `None` runs the default run.
    let mut remaining: Vec<String> = DEFAULT_TESTS.iter().map(|t| t.to_string()).collect();
    let mut only: Option<String> = None;
    loop {
        let (done, failure) = one_run(server, port, n, limit, only.as_deref());
        for (test, s) in done {
            // A resumed run repeats the LPUSH before the LRANGE tests.
            if let Some(i) = remaining.iter().position(|x| *x == test) {
                remaining.remove(i);
                out.push((test, Ok(s)));
            } else if !out.iter().any(|(x, _)| *x == test) {
                out.push((test, Ok(s)));
            }
        }
        let Some(why) = failure else { break };
        // The test that was running: the first of those still to run.
        let Some(failed) = remaining.first().cloned() else {
            let last = out.last().map_or("the start".to_string(), |(t, _)| t.clone());
            out.push((format!("(a test after {last})"), Err(why)));
            break;
        };
        let answered = why.starts_with("Error from server");
        // Without the LPUSH, the LRANGE tests have no list to read.
        let lost: Vec<String> = if failed == FILL {
            remaining
                .iter()
                .filter(|t| t.starts_with("LRANGE"))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        out.push((failed.clone(), Err(why)));
        for t in &lost {
            out.push((t.clone(), Err(format!("not run: {FILL} failed"))));
        }
        remaining.retain(|t| *t != failed && !lost.contains(t));
        // A time-out or a crash: what comes after would fare no better.
        if !answered || remaining.is_empty() {
            break;
        }
        only = Some(
            remaining
                .iter()
                .filter(|t| *t != FILL)
                .map(|t| t.split(' ').next().unwrap_or(t).to_lowercase())
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out
}

/// One redis-benchmark process: the tests it reported, and why it stopped
/// early, if it did.
fn one_run(
    server: &Running,
    port: u16,
    n: u64,
    limit: Duration,
    only: Option<&str>,
) -> (Vec<(String, Sample)>, Option<String>) {
    let (p, c, n_s) = (port.to_string(), CONNS.to_string(), n.to_string());
    let mut args = vec!["-h", "127.0.0.1", "-p", &p, "-c", &c, "-n", &n_s, "-q", "--csv"];
    if let Some(t) = only {
        args.extend(["-t", t]);
    }
    let client = Program::new("redis-benchmark", &args);
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let run = run_client_lines(server, &client, limit, |line, cpu| {
        if let Some((test, cols)) = csv_row(line) {
            done.push((test, sample(&cols, n as f64 / cpu)));
        } else if line.contains("Error") {
            errors.push(line.trim().to_string());
        }
    });
    let failure = match run {
        Err(e) => Some(e),
        Ok(r) if r.ok && errors.is_empty() => None,
        Ok(r) => {
            let said = r
                .stderr
                .lines()
                .chain(errors.iter().map(String::as_str))
                .find(|l| l.contains("Error from server"))
                .or_else(|| r.stderr.lines().rfind(|l| !l.trim().is_empty()))
                .map(|l| l.trim().chars().take(160).collect::<String>());
            Some(said.unwrap_or_else(|| format!("redis-benchmark {}", r.status)))
        }
    };
    (done, failure)
}
