//! memory: the server's RSS growth per idle connection (`mem-probe`, this
//! crate), for revio's echo-server and redis-server on each backend,
//! redis-server 7 and the tokio echo baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use revio_bench::procfs;

use super::peers::{FilterHave, redis_server_program};
use super::procs::{Program, free_port, run_client};
use super::report::{fmt_num, fmt_ratio, median};
use super::{Ctx, field};

/// The peers. The first is the row the ratios are taken from, and the figure
/// the target reads; revio on io_uring holds a ring of receive buffers per
/// loop (4 MiB by default) that the epoll rows do not.
const NAMES: [&str; 6] = [
    "revio echo-server example (epoll)",
    "revio echo-server example (io_uring)",
    "revio redis-server example (epoll)",
    "revio redis-server example (io_uring)",
    "redis-server",
    "tokio echo",
];

/// What the rounds measured: (count, peer) -> bytes per connection (open,
/// served), one per round; and the peers that could not start, with why.
#[derive(Default)]
struct Measured {
    results: BTreeMap<(usize, usize), Vec<(f64, f64)>>,
    skipped: BTreeMap<usize, String>,
}

impl Measured {
    /// The median over rounds of one of the two figures.
    fn med(&self, count: usize, p: usize, f: fn(&(f64, f64)) -> f64) -> f64 {
        median(
            &self
                .results
                .get(&(count, p))
                .map(|v| v.iter().map(f).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    }
}

/// The memory section, and revio echo-server's largest figure (bytes per connection).
pub fn memory(ctx: &Ctx) -> (String, f64) {
    let wanted: Vec<usize> = if ctx.quick {
        vec![1_000]
    } else {
        vec![10_000, 50_000]
    };
    // Server and probe each need a descriptor per connection.
    let nofile = procfs::raise_nofile(120_000) as usize;
    let (counts, too_many): (Vec<usize>, Vec<usize>) = wanted.into_iter().partition(|&c| c + 500 <= nofile);
    let mem_rounds = if ctx.quick { 1 } else { ctx.rounds.min(3) };
    let settle = if ctx.quick { "0.2" } else { "3" };
    let m = measure(ctx, &counts, mem_rounds, settle);
    let mut s = String::new();
    let _ = writeln!(s, "### memory per idle connection\n");
    for c in too_many {
        let _ = writeln!(
            s,
            "Not measured at {c} connections: the open-file limit here is {nofile} and could not be raised.\n"
        );
    }
    let _ = writeln!(
        s,
        "`mem-probe` (this crate) reads the server's VmRSS, opens the connections (source addresses spread \
         over 127.0.0.x past 20,000) and reads VmRSS again once the server holds them (**open**); then it \
         sends `PING\\r\\n` on each, reads the answer, leaves them idle {settle} s and reads VmRSS a third \
         time (**served once**). Figures are RSS growth per connection, median of {mem_rounds} rounds (one \
         round for 50,000), a fresh server each time; kernel socket memory is not in RSS. The ratios are revio echo-server's \
         (epoll) bytes divided by the peer's (lower is better for revio). On io_uring, the loop's ring of receive buffers \
         (256 of 4 KiB) is touched as the connections are served once, and counts in their share.\n"
    );
    rows(&mut s, &m, &counts);
    let revio = counts
        .iter()
        .flat_map(|&c| [m.med(c, 0, |x| x.0), m.med(c, 0, |x| x.1)])
        .fold(f64::NAN, f64::max);
    (s, revio)
}

/// The table: one row per connection count and peer.
fn rows(s: &mut String, m: &Measured, counts: &[usize]) {
    let _ = writeln!(
        s,
        "| connections | peer | bytes/conn, open | bytes/conn, served once | revio ÷ peer, open | revio ÷ peer, served |\n|---:|---|---:|---:|---:|---:|"
    );
    for &count in counts {
        for (p, name) in NAMES.iter().enumerate() {
            if let Some(why) = m.skipped.get(&p) {
                let _ = writeln!(s, "| {count} | {name} | skipped: {why} | | | |");
                continue;
            }
            let (open, served) = (m.med(count, p, |x| x.0), m.med(count, p, |x| x.1));
            let ratios = if p == 0 {
                " | ".to_string()
            } else {
                format!(
                    "{} | {}",
                    fmt_ratio(m.med(count, 0, |x| x.0) / open),
                    fmt_ratio(m.med(count, 0, |x| x.1) / served)
                )
            };
            let _ = writeln!(
                s,
                "| {count} | {name} | {} | {} | {ratios} |",
                fmt_num(open),
                fmt_num(served)
            );
        }
    }
}

/// Every peer at every count, a fresh server each time, in an order that
/// rotates from round to round.
fn measure(ctx: &Ctx, counts: &[usize], mem_rounds: usize, settle: &str) -> Measured {
    let mut m = Measured::default();
    for round in 0..mem_rounds {
        eprintln!("memory: round {}/{mem_rounds}", round + 1);
        for &count in counts {
            // The largest count is slow to set up: one round of it.
            if round > 0 && count > 20_000 {
                continue;
            }
            for k in 0..NAMES.len() {
                let p = (k + round) % NAMES.len();
                if m.skipped.contains_key(&p) {
                    continue;
                }
                match probe(ctx, NAMES[p], count, settle) {
                    Ok(Some(x)) => m.results.entry((count, p)).or_default().push(x),
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("skipping {}: {e}", NAMES[p]);
                        m.skipped.insert(p, e);
                    }
                }
            }
        }
    }
    m
}

/// Starts peer `name` and probes it with `count` connections: bytes per
/// connection (open, served), `None` if the probe failed, or why the peer
/// did not start.
fn probe(ctx: &Ctx, name: &str, count: usize, settle: &str) -> Result<Option<(f64, f64)>, String> {
    let port = free_port();
    let server = program(ctx, name, port).and_then(|prog| ctx.procs.start(name, &prog, port))?;
    let probe = Program::new(
        ctx.bin("mem-probe"),
        &[
            "--pid",
            &server.pid.to_string(),
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--conns",
            &count.to_string(),
            "--payload",
            "PING",
            "--settle",
            settle,
        ],
    );
    match run_client(&server, &probe, Duration::from_secs(120)) {
        Ok(run) => {
            let open = field(&run.stdout, "open_per_conn").unwrap_or(f64::NAN);
            let served = field(&run.stdout, "served_per_conn").unwrap_or(f64::NAN);
            Ok(Some((open, served)))
        }
        Err(e) => {
            eprintln!("memory, {name}: {e}");
            Ok(None)
        }
    }
}

/// How to start peer `name` on `port`.
fn program(ctx: &Ctx, name: &str, port: u16) -> Result<Program, String> {
    let p = port.to_string();
    let backend = if name.ends_with("(epoll)") {
        "poll"
    } else {
        "uring"
    };
    match name {
        n if n.starts_with("revio echo-server") => ctx
            .example("echo-server")
            .map(|e| Program::new(e, &["--port", &p, "--loops", "1", "--backend", backend])),
        n if n.starts_with("revio redis-server") => ctx
            .example("redis-server")
            .map(|e| Program::new(e, &["--port", &p, "--backend", backend])),
        "redis-server" => {
            let redis_dir = ctx.procs.tmp.display().to_string();
            Ok(redis_server_program(&p, &redis_dir)).filter_have("redis-server")
        }
        "tokio echo" => Ok(Program::new(ctx.bin("tokio-echo"), &["--port", &p])),
        _ => Err("unknown".into()),
    }
}
