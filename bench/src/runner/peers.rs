//! Peers: how each is started (revio on each backend, redis-server), and the
//! rounds that run every test against every peer in an order that rotates.

use super::Ctx;
use super::procs::{Program, Running, free_port, have};
use super::report::{Peer, Sample, Table};

/// A peer to start: its name and how, or why it is skipped.
pub struct PeerSpec {
    pub name: String,
    pub prog: Result<Program, String>,
    pub port: u16,
}

/// revio's backends, each a row of every comparison: epoll first (what
/// `Backend::Auto` picks on Linux, and the row the ratios are taken from),
/// then io_uring (`Backend::Uring`).
pub const REVIO_BACKENDS: [(&str, &str); 2] = [("epoll", "poll"), ("io_uring", "uring")];

/// What the ratio in a revio io_uring row compares: its epoll row's figure
/// divided by its own.
pub const EPOLL_VS_URING: &str = "epoll vs io_uring";

/// The name of a revio row: `revio WHAT (BACKEND)`.
pub fn revio_name(what: &str, backend: &str) -> String {
    format!("revio {what} ({backend})")
}

/// The names of the rows [`revio_specs`] makes for `example`, epoll first.
pub fn example_names(example: &str) -> [String; 2] {
    REVIO_BACKENDS.map(|(label, _)| revio_name(&format!("{example} example"), label))
}

/// One peer per revio backend for example `example` started with `args`
/// (`revio EXAMPLE example (BACKEND)`).
pub fn revio_specs(ctx: &Ctx, example: &str, args: &[&str]) -> Vec<PeerSpec> {
    backend_specs(&format!("{example} example"), args, |a| {
        ctx.example(example).map(|e| Program::new(e, a))
    })
}

/// One peer per revio backend for `bin`, this crate's revio server running a
/// baseline's protocol code (`revio WHAT (BACKEND)`): the like-for-like rows.
pub fn like_specs(ctx: &Ctx, bin: &str, what: &str) -> Vec<PeerSpec> {
    let path = ctx.bin(bin);
    backend_specs(what, &[], |a| Ok(Program::new(&path, a)))
}

/// One peer per backend, each on a port of its own, `--port P --backend B`
/// then `args`.
fn backend_specs(
    what: &str,
    args: &[&str],
    program: impl Fn(&[&str]) -> Result<Program, String>,
) -> Vec<PeerSpec> {
    REVIO_BACKENDS
        .iter()
        .map(|(label, backend)| {
            let port = free_port();
            let p = port.to_string();
            let mut a = vec!["--port", &p, "--backend", backend];
            a.extend_from_slice(args);
            PeerSpec {
                name: revio_name(what, label),
                prog: program(&a),
                port,
            }
        })
        .collect()
}

/// The row the ratios of `table` are taken from: revio on epoll (the default
/// backend), or on io_uring where epoll did not start.
pub fn pick_revio(table: &mut Table) {
    table.revio = (0..REVIO_BACKENDS.len())
        .find(|&i| table.peers[i].skipped.is_none())
        .unwrap_or(0);
}

/// Starts the peers that can start; the others are marked skipped.
pub fn start_all(ctx: &Ctx, specs: &[PeerSpec]) -> (Vec<Peer>, Vec<Option<Running>>) {
    let mut peers = Vec::new();
    let mut running = Vec::new();
    for s in specs {
        let started = s
            .prog
            .clone()
            .and_then(|prog| ctx.procs.start(&s.name, &prog, s.port));
        match started {
            Ok(r) => {
                peers.push(Peer {
                    name: s.name.clone(),
                    skipped: None,
                });
                running.push(Some(r));
            }
            Err(why) => {
                eprintln!("skipping {}: {why}", s.name);
                peers.push(Peer {
                    name: s.name.clone(),
                    skipped: Some(why),
                });
                running.push(None);
            }
        }
    }
    (peers, running)
}

/// Runs every test of `table` against every running peer, `ctx.rounds` times,
/// rotating the order of the peers each round.
pub fn rounds(
    ctx: &Ctx,
    table: &mut Table,
    running: &mut [Option<Running>],
    measure: impl FnMut(usize, &Running) -> Result<Sample, String>,
) {
    rounds_of(ctx.rounds, table, running, measure)
}

/// [`rounds`], `count` times.
pub fn rounds_of(
    count: usize,
    table: &mut Table,
    running: &mut [Option<Running>],
    mut measure: impl FnMut(usize, &Running) -> Result<Sample, String>,
) {
    let n = running.len();
    for round in 0..count {
        eprintln!("{}: round {}/{}", table.title, round + 1, count);
        for t in 0..table.tests.len() {
            for k in 0..n {
                let p = (k + round) % n;
                if !table.applies(t, p) {
                    continue;
                }
                let Some(server) = live(table, running, p) else {
                    continue;
                };
                match measure(t, server) {
                    Ok(s) => table.record(t, p, round, Some(s)),
                    Err(e) => {
                        eprintln!("{}: {e}", table.tests[t]);
                        table.record(t, p, round, None);
                    }
                }
            }
        }
    }
}

/// redis-server 7 as BENCHMARKS.md asks: no persistence, no I/O threads,
/// on loopback, with its files in `dir`.
pub fn redis_server_program(port: &str, dir: &str) -> Program {
    Program::new(
        "redis-server",
        &[
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--io-threads",
            "1",
            "--daemonize",
            "no",
            "--maxclients",
            "60000",
            "--dir",
            dir,
            "--logfile",
            "",
            "--loglevel",
            "warning",
        ],
    )
}

pub trait FilterHave {
    fn filter_have(self, program: &str) -> Self;
}

impl FilterHave for Result<Program, String> {
    fn filter_have(self, program: &str) -> Self {
        if have(program) {
            self
        } else {
            Err(format!("{program} is not installed"))
        }
    }
}

/// Peer `p`'s server while it runs; once it has died, `None`, with the peer
/// marked skipped and the server's last words printed.
pub fn live<'a>(table: &mut Table, running: &'a mut [Option<Running>], p: usize) -> Option<&'a mut Running> {
    if running[p].as_mut().is_some_and(|s| !s.alive()) {
        if let Some(s) = running[p].take() {
            eprintln!("{} is gone: {}", s.name, s.log_tail());
        }
        table.peers[p].skipped = Some("died during the run".into());
    }
    running[p].as_mut()
}
