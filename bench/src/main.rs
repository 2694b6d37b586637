//! The benchmark runner: revio against redis-server, nginx and tokio, and the
//! floor, in one run (see `../shared/BENCHMARKS.md` for the method).
//!
//! `bench/run.sh [--quick]` installs the peers, builds everything and runs
//! this. Directly: `revio-bench [--quick] [--rounds N] [--only redis,http,echo,many,syscalls,memory,floor,alloc]
//! [--out DIR] [--pidfile FILE]`. Servers run pinned to CPU 0, clients to
//! CPU 1; rounds alternate the servers; every figure is a median over rounds
//! and every ratio is taken within a round. Prints the tables and writes
//! `RESULTS.md` and `cpu_per_request.svg` to the output folder.

mod runner {
    pub mod procs;
    pub mod report;
}
mod syscalls;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use revio_bench::args::Args;
use revio_bench::procfs;
use runner::procs::{Procs, Program, Running, free_port, have, output_of, run_client};
use runner::report::{Peer, Sample, Table, chart, fmt_num, fmt_ratio, median};

struct Ctx {
    quick: bool,
    rounds: usize,
    bins: PathBuf,
    examples: PathBuf,
    procs: Procs,
    only: Option<Vec<String>>,
}

impl Ctx {
    fn wants(&self, section: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|s| s == section))
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }

    /// A revio example, or why it is missing.
    fn example(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.examples.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("example {name} not built (missing from this checkout)"))
        }
    }
}

/// A peer to start: its name and how, or why it is skipped.
struct PeerSpec {
    name: String,
    prog: Result<Program, String>,
    port: u16,
}

/// revio's backends, each a row of every comparison: io_uring first (what
/// `Backend::Auto` picks on Linux, and the row the ratios are taken from),
/// then epoll.
const REVIO_BACKENDS: [(&str, &str); 2] = [("io_uring", "uring"), ("epoll", "poll")];

/// One peer per revio backend for example `example` started with `args`.
fn revio_specs(ctx: &Ctx, example: &str, args: &[&str]) -> Vec<PeerSpec> {
    REVIO_BACKENDS
        .iter()
        .map(|(label, backend)| {
            let port = free_port();
            let p = port.to_string();
            let mut a = vec!["--port", &p, "--backend", backend];
            a.extend_from_slice(args);
            PeerSpec {
                name: format!("revio {example} ({label})"),
                prog: ctx.example(example).map(|e| Program::new(e, &a)),
                port,
            }
        })
        .collect()
}

/// The row the ratios of `table` are taken from: revio on io_uring, or on
/// epoll where io_uring did not start.
fn pick_revio(table: &mut Table) {
    table.revio = (0..REVIO_BACKENDS.len())
        .find(|&i| table.peers[i].skipped.is_none())
        .unwrap_or(0);
}

fn main() {
    let args = Args::parse(
        "revio-bench [--quick] [--rounds N] [--only redis,http,echo,many,syscalls,memory,floor,alloc] [--out DIR] [--pidfile FILE]",
    );
    let quick = args.flag("--quick");
    let rounds: usize = args.get("--rounds", if quick { 3 } else { 5 });
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default_out = if quick {
        manifest.join("results/quick")
    } else {
        manifest.join("results")
    };
    let out: PathBuf = args.get("--out", default_out);
    let pidfile: Option<PathBuf> = args
        .get("--pidfile", String::new())
        .parse()
        .ok()
        .filter(|p: &PathBuf| !p.as_os_str().is_empty());
    let only: Vec<String> = args
        .get("--only", String::new())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let only = (!only.is_empty()).then_some(only);
    let exe = std::env::current_exe().expect("own path");
    let bins = exe.parent().expect("bin dir").to_path_buf();
    let tmp = std::env::temp_dir().join(format!("revio-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    std::fs::create_dir_all(&out).expect("output dir");
    // Servers and probes inherit this: room for 50,000 connections.
    procfs::raise_nofile(120_000);
    let ctx = Ctx {
        quick,
        rounds: rounds.max(1),
        examples: bins.join("examples"),
        bins,
        procs: Procs::new(tmp.clone(), pidfile),
        only,
    };
    let started = Instant::now();
    let header = header(&ctx);
    println!("{header}");

    let mut body = String::new();
    let mut tables = Vec::new();
    if ctx.wants("redis") {
        let t = redis(&ctx, 50);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("http") {
        let t = http(&ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("echo") {
        let t = echo(&ctx, 50);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    // Many connections, where one enter per turn for all of them pays.
    if ctx.wants("many") {
        for t in [redis(&ctx, 1000), echo(&ctx, 1000)] {
            emit(&mut body, &t.markdown());
            tables.push(t);
        }
    }
    if ctx.wants("syscalls") {
        emit(&mut body, &syscalls::syscalls(&ctx));
    }
    let mut memory_bytes = f64::NAN;
    if ctx.wants("memory") {
        let (section, revio) = memory(&ctx);
        emit(&mut body, &section);
        memory_bytes = revio;
    }
    if ctx.wants("floor") {
        emit(
            &mut body,
            &floor(&ctx, tables.first().filter(|t| t.title.starts_with("redis"))),
        );
    }
    let mut allocs = f64::NAN;
    if ctx.wants("alloc") {
        let (section, worst) = allocations(&ctx);
        emit(&mut body, &section);
        allocs = worst;
    }
    let mut summary = summary(&tables);
    summary.push_str(&targets(&tables, memory_bytes, allocs));
    println!("{summary}");
    let svg = out.join("cpu_per_request.svg");
    let refs: Vec<&Table> = tables.iter().collect();
    if let Err(e) = chart(&svg, &refs) {
        eprintln!("chart: {e}");
    }
    let took = started.elapsed().as_secs();
    let doc = format!(
        "{header}\n{summary}\n![µs of server CPU per request](cpu_per_request.svg)\n\n{body}\nThe whole run took {took} s.\n"
    );
    let md = out.join("RESULTS.md");
    std::fs::write(&md, doc).expect("write RESULTS.md");
    println!("wrote {} and {} in {took} s", md.display(), svg.display());
    let _ = std::fs::remove_dir_all(&tmp);
}

fn emit(body: &mut String, section: &str) {
    println!("{section}");
    body.push_str(section);
    body.push('\n');
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn header(ctx: &Ctx) -> String {
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
         over rounds, and each ratio is revio's figure divided by the peer's from the same round \
         (median over rounds). \"k req/CPU-s\" is thousands of requests served per second of server \
         CPU (user + sys from `/proc/PID/stat`); with client and server sharing two cores the client \
         is often the limit, and this is the figure that tells servers apart."
    );
    h
}

/// Starts the peers that can start; the others are marked skipped.
fn start_all(ctx: &Ctx, specs: &[PeerSpec]) -> (Vec<Peer>, Vec<Option<Running>>) {
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
fn rounds(
    ctx: &Ctx,
    table: &mut Table,
    running: &mut [Option<Running>],
    mut measure: impl FnMut(usize, &Running) -> Result<Sample, String>,
) {
    let n = running.len();
    for round in 0..ctx.rounds {
        eprintln!("{}: round {}/{}", table.title, round + 1, ctx.rounds);
        for t in 0..table.tests.len() {
            for k in 0..n {
                let p = (k + round) % n;
                if !table.applies(t, p) {
                    continue;
                }
                let Some(server) = running[p].as_mut() else {
                    continue;
                };
                if !server.alive() {
                    eprintln!("{} is gone: {}", server.name, server.log_tail());
                    table.peers[p].skipped = Some("died during the run".into());
                    running[p] = None;
                    continue;
                }
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
fn redis_server_program(port: &str, dir: &str) -> Program {
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

/// The value after `key=` in a `key=value` line.
fn field(out: &str, key: &str) -> Option<f64> {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

fn redis(ctx: &Ctx, conns: usize) -> Table {
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
    let port = |_: ()| free_port();
    let redis_dir = ctx.procs.tmp.display().to_string();
    let mut specs = revio_specs(ctx, "redis-server", &[]);
    let floor = specs.len() + 2;
    specs.extend([
        {
            let p = port(());
            PeerSpec {
                name: "redis-server".into(),
                prog: Ok(redis_server_program(&p.to_string(), &redis_dir)).filter_have("redis-server"),
                port: p,
            }
        },
        {
            let p = port(());
            PeerSpec {
                name: "tokio RESP".into(),
                prog: Ok(Program::new(ctx.bin("tokio-resp"), &["--port", &p.to_string()])),
                port: p,
            }
        },
        {
            let p = port(());
            PeerSpec {
                name: "floor (epoll PING)".into(),
                prog: Ok(Program::new(ctx.bin("floor-epoll"), &["--port", &p.to_string()])),
                port: p,
            }
        },
    ]);
    let names = tests
        .iter()
        .map(|(k, p)| format!("{} P{p}", k.to_uppercase()))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(&format!("redis-benchmark -c {conns}"), "req", names, peers);
    pick_revio(&mut table);
    table.note = format!(
        "`redis-benchmark -c {conns} -t TEST -P 1 -n {n1}` and `-P 16 -n {n16}`; p50 and p99 in ms. \
         revio's ratios are its io_uring row's. The floor answers PINGs only."
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
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with('"') && !l.starts_with("\"test\""))
            .ok_or_else(|| format!("no result from redis-benchmark: {}", run.stdout))?;
        let cols: Vec<f64> = line
            .split(',')
            .map(|c| c.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        let mut extra = BTreeMap::new();
        extra.insert("p50 ms", *cols.get(4).unwrap_or(&f64::NAN));
        extra.insert("p99 ms", *cols.get(6).unwrap_or(&f64::NAN));
        Ok(Sample {
            rate: *cols.get(1).unwrap_or(&f64::NAN),
            per_cpu: n as f64 / run.server_cpu,
            extra,
        })
    });
    drop(running);
    table
}

trait FilterHave {
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

fn http(ctx: &Ctx) -> Table {
    let secs = if ctx.quick { 1 } else { 5 };
    let (rp, np, tp) = (free_port(), free_port(), free_port());
    let nginx_dir = ctx.procs.tmp.join("nginx");
    let _ = std::fs::create_dir_all(nginx_dir.join("logs"));
    let conf = nginx_dir.join("nginx.conf");
    let _ = std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 100000000;\n  default_type text/plain;\n\
             server {{\n    listen 127.0.0.1:{np};\n    location / {{ return 200 \"Hello World!\"; }}\n  }}\n}}\n",
            dir = nginx_dir.display()
        ),
    );
    let dir = nginx_dir.display().to_string();
    let conf_s = conf.display().to_string();
    let specs = vec![
        PeerSpec {
            name: "revio http-server".into(),
            prog: ctx.example("http-server").map(|p| {
                Program::new(
                    p,
                    &["--port", &rp.to_string(), "--tlsport", &free_port().to_string()],
                )
            }),
            port: rp,
        },
        PeerSpec {
            name: "nginx (1 worker)".into(),
            prog: Ok(Program::new(
                "nginx",
                &["-p", &dir, "-c", &conf_s, "-e", &format!("{dir}/error.log")],
            ))
            .filter_have("nginx"),
            port: np,
        },
        PeerSpec {
            name: "tokio HTTP".into(),
            prog: Ok(Program::new(ctx.bin("tokio-http"), &["--port", &tp.to_string()])),
            port: tp,
        },
    ];
    let script = ctx.procs.tmp.join("pipeline16.lua");
    let _ = std::fs::write(
        &script,
        "-- 16 GET requests in every write\ninit = function(args)\n  local r = {}\n  for i = 1, 16 do\n    \
         r[i] = wrk.format(nil, \"/\")\n  end\n  req = table.concat(r)\nend\n\
         request = function()\n  return req\nend\n",
    );
    let tests = vec!["GET /".to_string(), "GET /, 16 per write".to_string()];
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new("wrk -t1 -c50", "req", tests, peers);
    table.note = format!(
        "`wrk -t1 -c50 -d{secs}s --latency`, plain and with a Lua script that writes 16 pipelined requests \
         at a time; p50 and p99 in ms (wrk's, coordinated omission and all). nginx runs one process \
         (`master_process off`, `access_log off`, `keepalive_requests` unlimited, `return 200 \"Hello World!\"`)."
    );
    table.extra_cols = vec!["p50 ms", "p99 ms"];
    if !have("wrk") {
        table
            .note
            .push_str(" wrk is not installed: nothing was measured.");
        return table;
    }
    let ports: BTreeMap<String, u16> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    let script = script.display().to_string();
    rounds(ctx, &mut table, &mut running, |t, server| {
        let url = format!(
            "http://127.0.0.1:{}/",
            ports.get(&server.name).copied().unwrap_or(0)
        );
        let d = format!("-d{secs}s");
        let mut a = vec!["-t1", "-c50", &d, "--latency"];
        if t == 1 {
            a.extend(["-s", &script]);
        }
        a.push(&url);
        let run = run_client(server, &Program::new("wrk", &a), Duration::from_secs(secs + 20))?;
        let requests = run
            .stdout
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .ok_or_else(|| format!("no result from wrk: {}", run.stdout))?;
        let rate = run
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN);
        if run.stdout.contains("Non-2xx") || run.stdout.contains("Socket errors") {
            eprintln!(
                "wrk against {}: {}",
                server.name,
                run.stdout
                    .lines()
                    .filter(|l| l.contains("errors") || l.contains("Non-2xx"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let mut extra = BTreeMap::new();
        extra.insert("p50 ms", wrk_percentile(&run.stdout, "50%"));
        extra.insert("p99 ms", wrk_percentile(&run.stdout, "99%"));
        Ok(Sample {
            rate,
            per_cpu: requests / run.server_cpu,
            extra,
        })
    });
    drop(running);
    table
}

/// A latency percentile from wrk's `--latency` distribution, in ms.
fn wrk_percentile(out: &str, which: &str) -> f64 {
    let v = out
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(which))
        .map(str::trim)
        .unwrap_or("");
    let (num, scale) = if let Some(x) = v.strip_suffix("us") {
        (x, 1e-3)
    } else if let Some(x) = v.strip_suffix("ms") {
        (x, 1.0)
    } else if let Some(x) = v.strip_suffix('s') {
        (x, 1e3)
    } else {
        (v, f64::NAN)
    };
    // wrk prints 0.00us for a percentile its histogram lost: no figure.
    num.parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0)
        .map_or(f64::NAN, |x| x * scale)
}

fn echo(ctx: &Ctx, conns: usize) -> Table {
    let secs = if ctx.quick { 0.3 } else { 1.5 };
    let mut tests = Vec::new();
    for size in [64usize, 1024, 16384] {
        for depth in [1usize, 16] {
            tests.push((size, depth));
        }
    }
    let tp = free_port();
    let mut specs = revio_specs(ctx, "echo-server", &["--loops", "1"]);
    specs.push(PeerSpec {
        name: "tokio echo".into(),
        prog: Ok(Program::new(ctx.bin("tokio-echo"), &["--port", &tp.to_string()])),
        port: tp,
    });
    let names = tests
        .iter()
        .map(|(s, d)| format!("{} B, {d} in flight", s))
        .collect();
    let (peers, mut running) = start_all(ctx, &specs);
    let mut table = Table::new(&format!("echo, {conns} connections"), "msg", names, peers);
    pick_revio(&mut table);
    table.note = format!(
        "`echo-load --conns {conns} --depth D --size S --secs {secs}` (this crate): each connection keeps D \
         messages of S bytes in flight. revio's ratios are its io_uring row's."
    );
    table.extra_cols = vec!["MB/s"];
    let ports: BTreeMap<String, u16> = specs.iter().map(|s| (s.name.clone(), s.port)).collect();
    let load = ctx.bin("echo-load");
    rounds(ctx, &mut table, &mut running, |t, server| {
        let (size, depth) = tests[t];
        let addr = format!("127.0.0.1:{}", ports.get(&server.name).copied().unwrap_or(0));
        let client = Program::new(
            &load,
            &[
                "--addr",
                &addr,
                "--conns",
                &conns.to_string(),
                "--depth",
                &depth.to_string(),
                "--size",
                &size.to_string(),
                "--secs",
                &secs.to_string(),
            ],
        );
        let run = run_client(server, &client, Duration::from_secs(30))?;
        let msgs = field(&run.stdout, "msgs").ok_or("no result from echo-load")?;
        let mut extra = BTreeMap::new();
        extra.insert("MB/s", field(&run.stdout, "mb_per_s").unwrap_or(f64::NAN));
        Ok(Sample {
            rate: field(&run.stdout, "msgs_per_s").unwrap_or(f64::NAN),
            per_cpu: msgs / run.server_cpu,
            extra,
        })
    });
    drop(running);
    table
}

/// The memory section, and revio echo-server's largest figure (bytes per connection).
fn memory(ctx: &Ctx) -> (String, f64) {
    let wanted: Vec<usize> = if ctx.quick {
        vec![1_000]
    } else {
        vec![10_000, 50_000]
    };
    // Server and probe each need a descriptor per connection.
    let nofile = procfs::raise_nofile(120_000) as usize;
    let (counts, too_many): (Vec<usize>, Vec<usize>) = wanted.into_iter().partition(|&c| c + 500 <= nofile);
    let mem_rounds = if ctx.quick { 1 } else { ctx.rounds.min(3) };
    let redis_dir = ctx.procs.tmp.display().to_string();
    let make = |name: &str, port: u16| -> Result<Program, String> {
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
            "redis-server" => Ok(redis_server_program(&p, &redis_dir)).filter_have("redis-server"),
            "tokio echo" => Ok(Program::new(ctx.bin("tokio-echo"), &["--port", &p])),
            _ => Err("unknown".into()),
        }
    };
    // The first is the row the ratios are taken from, and the figure the
    // target reads; revio on io_uring holds a ring of receive buffers per
    // loop (4 MiB by default) that the epoll rows do not.
    let names = [
        "revio echo-server (epoll)",
        "revio echo-server (io_uring)",
        "revio redis-server (epoll)",
        "revio redis-server (io_uring)",
        "redis-server",
        "tokio echo",
    ];
    let settle = if ctx.quick { "0.2" } else { "3" };
    // (count, peer) -> bytes per connection (open, served), one per round.
    let mut results: BTreeMap<(usize, usize), Vec<(f64, f64)>> = BTreeMap::new();
    let mut skipped: BTreeMap<usize, String> = BTreeMap::new();
    for round in 0..mem_rounds {
        eprintln!("memory: round {}/{mem_rounds}", round + 1);
        for &count in &counts {
            // The largest count is slow to set up: one round of it.
            if round > 0 && count > 20_000 {
                continue;
            }
            for k in 0..names.len() {
                let p = (k + round) % names.len();
                if skipped.contains_key(&p) {
                    continue;
                }
                let port = free_port();
                let server =
                    match make(names[p], port).and_then(|prog| ctx.procs.start(names[p], &prog, port)) {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("skipping {}: {e}", names[p]);
                            skipped.insert(p, e);
                            continue;
                        }
                    };
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
                        results.entry((count, p)).or_default().push((open, served));
                    }
                    Err(e) => eprintln!("memory, {}: {e}", names[p]),
                }
                drop(server);
            }
        }
    }
    let med = |count: usize, p: usize, f: fn(&(f64, f64)) -> f64| {
        median(
            &results
                .get(&(count, p))
                .map(|v| v.iter().map(f).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
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
    let _ = writeln!(
        s,
        "| connections | peer | bytes/conn, open | bytes/conn, served once | revio ÷ peer, open | revio ÷ peer, served |\n|---:|---|---:|---:|---:|---:|"
    );
    for &count in &counts {
        for (p, name) in names.iter().enumerate() {
            if let Some(why) = skipped.get(&p) {
                let _ = writeln!(s, "| {count} | {name} | skipped: {why} | | | |");
                continue;
            }
            let (open, served) = (med(count, p, |x| x.0), med(count, p, |x| x.1));
            let ratios = if p == 0 {
                " | ".to_string()
            } else {
                format!(
                    "{} | {}",
                    fmt_ratio(med(count, 0, |x| x.0) / open),
                    fmt_ratio(med(count, 0, |x| x.1) / served)
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
    let revio = counts
        .iter()
        .flat_map(|&c| [med(c, 0, |x| x.0), med(c, 0, |x| x.1)])
        .fold(f64::NAN, f64::max);
    (s, revio)
}

fn floor(ctx: &Ctx, redis: Option<&Table>) -> String {
    let secs = if ctx.quick { "0.3" } else { "1" };
    let mut ns = Vec::new();
    for _ in 0..ctx.rounds {
        let out = std::process::Command::new("taskset")
            .args(["-c", runner::procs::SERVER_CPU])
            .arg(ctx.bin("floor-syscall"))
            .args(["--secs", secs])
            .output();
        if let Ok(o) = out
            && let Some(v) = field(&String::from_utf8_lossy(&o.stdout), "ns_per_pair")
        {
            ns.push(v);
        }
    }
    let ns = median(&ns);
    let mut s = String::new();
    let _ = writeln!(s, "### the floor\n");
    let _ = writeln!(
        s,
        "One `write` plus one `read` of 64 B on a connected loopback TCP pair, in a tight loop on CPU 0 \
         (`floor-syscall`, median of {} rounds): **{} µs** of CPU per pair, {} k pairs per CPU-second. \
         The write also pays for the delivery to the other end, so this is close to what the kernel \
         charges a server for one unbatched request and its reply.\n",
        ctx.rounds,
        fmt_num(ns / 1e3),
        fmt_num(1e6 / ns)
    );
    if let Some(t) = redis {
        let floor = t.peers.iter().position(|p| p.name.starts_with("floor"));
        let _ = writeln!(
            s,
            "The minimal epoll PING responder (`floor-epoll`) against the servers, µs of server CPU per request:\n"
        );
        let _ = writeln!(
            s,
            "| test | floor (epoll PING) | {} |\n|---|---:|{}",
            t.peers
                .iter()
                .filter(|p| !p.name.starts_with("floor"))
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(t.peers.len() - 1)
        );
        for (i, test) in t.tests.iter().enumerate() {
            let Some(f) = floor else { break };
            if !t.applies(i, f) {
                continue;
            }
            let fv = 1e6 / t.median_of(i, f, |x| x.per_cpu);
            let mut row = format!("| {test} | {} |", fmt_num(fv));
            for (p, _) in t.peers.iter().enumerate().filter(|(p, _)| Some(*p) != floor) {
                let v = 1e6 / t.median_of(i, p, |x| x.per_cpu);
                let _ = write!(row, " {} ({}) |", fmt_num(v), fmt_ratio(v / fv));
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(
            s,
            "\n(in brackets: the server's CPU per request as a multiple of the floor's)"
        );
    }
    s
}

/// The allocations section, and the most allocations per request seen.
fn allocations(ctx: &Ctx) -> (String, f64) {
    let n = if ctx.quick { "20000" } else { "200000" };
    let out = std::process::Command::new("timeout")
        .args(["120"])
        .arg(ctx.bin("alloc-count"))
        .args(["--requests", n])
        .output();
    let mut s = String::new();
    let _ = writeln!(s, "### heap allocations per request\n");
    let _ = writeln!(
        s,
        "`alloc-count` (this crate) serves handlers with revio in-process under a counting global \
         allocator and counts every allocation while blocking clients drive requests, after a warm-up.\n"
    );
    let _ = writeln!(
        s,
        "| scenario | requests | allocations | per request |\n|---|---:|---:|---:|"
    );
    let mut worst = f64::NAN;
    match out {
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                // From the counts, not the rounded per-request figure.
                let per =
                    field(line, "allocs").unwrap_or(f64::NAN) / field(line, "requests").unwrap_or(f64::NAN);
                worst = worst.max(per);
                let name = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("scenario="))
                    .unwrap_or("?")
                    .replace('_', " ");
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} |",
                    field(line, "requests").unwrap_or(f64::NAN),
                    field(line, "allocs").unwrap_or(f64::NAN),
                    field(line, "allocs_per_request")
                        .map(|x| format!("{x:.4}"))
                        .unwrap_or_default()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(s, "| alloc-count did not run: {e} | | | |");
        }
    }
    (s, worst)
}

/// One line per table and peer: the range of revio's per-CPU ratios.
fn summary(tables: &[Table]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Where revio stands\n");
    let _ = writeln!(
        s,
        "revio's requests per server-CPU-second divided by each peer's (same round, median over rounds), \
         lowest to highest over the tests of each comparison, and the median over those tests:\n"
    );
    let _ = writeln!(
        s,
        "| comparison | peer | revio ÷ peer, per CPU-s | revio ÷ peer, req/s |\n|---|---|---|---|"
    );
    for t in tables {
        if t.peers[t.revio].skipped.is_some() {
            let _ = writeln!(
                s,
                "| {} | (all) | revio skipped: {} | |",
                t.title,
                t.peers[t.revio].skipped.clone().unwrap_or_default()
            );
            continue;
        }
        for (p, peer) in t.peers.iter().enumerate() {
            if p == t.revio || peer.skipped.is_some() {
                continue;
            }
            let range = |f: fn(&Sample) -> f64| {
                let r: Vec<f64> = (0..t.tests.len())
                    .filter(|&i| t.applies(i, p))
                    .map(|i| t.ratio(i, p, f))
                    .filter(|x| x.is_finite())
                    .collect();
                if r.is_empty() {
                    "n/a".to_string()
                } else {
                    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = r.iter().copied().fold(0.0, f64::max);
                    format!(
                        "{} – {} (median {})",
                        fmt_ratio(lo),
                        fmt_ratio(hi),
                        fmt_ratio(median(&r))
                    )
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.title,
                peer.name,
                range(|x| x.per_cpu),
                range(|x| x.rate)
            );
        }
    }
    s
}

/// BENCHMARKS.md's targets beside what this run measured: a reading aid,
/// never an assertion.
fn targets(tables: &[Table], memory_bytes: f64, allocs: f64) -> String {
    let find = |prefix: &str| tables.iter().find(|t| t.title.starts_with(prefix));
    // The lowest per-CPU ratio of revio to `peer` over the tests that `pick` selects.
    let worst = |t: &Table, peer: &str, pick: &dyn Fn(&str) -> bool| -> f64 {
        let Some(p) = t.peers.iter().position(|x| x.name.starts_with(peer)) else {
            return f64::NAN;
        };
        (0..t.tests.len())
            .filter(|&i| pick(&t.tests[i]) && t.applies(i, p) && t.applies(i, t.revio))
            .map(|i| t.ratio(i, p, |x| x.per_cpu))
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::min)
    };
    let mut rows: Vec<(String, f64, f64, bool)> = Vec::new(); // (target, measured, bound, higher is better)
    // io_uring ÷ epoll: the epoll row's per-CPU ratio, inverted (ratios are the io_uring row's).
    let uring_over_epoll = |t: &Table| -> f64 {
        let Some(p) = t.peers.iter().position(|x| x.name.ends_with("(epoll)")) else {
            return f64::NAN;
        };
        if t.peers[t.revio].name.ends_with("(epoll)") {
            return f64::NAN;
        }
        (0..t.tests.len())
            .filter(|&i| t.applies(i, p) && t.applies(i, t.revio))
            .map(|i| t.ratio(i, p, |x| x.per_cpu))
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::min)
    };
    for (title, bound) in [
        ("redis-benchmark -c 1000", 1.2),
        ("echo, 1000 connections", 1.2),
        ("redis-benchmark -c 50", 1.1),
        ("echo, 50 connections", 1.1),
    ] {
        if let Some(t) = tables.iter().find(|t| t.title == title) {
            rows.push((
                format!("{title}: io_uring ≥ {bound}x the epoll backend"),
                uring_over_epoll(t),
                bound,
                true,
            ));
        }
    }
    if let Some(t) = find("redis") {
        let all = |_: &str| true;
        let p16 = |n: &str| n.ends_with("P16");
        rows.push((
            "redis P1/P16: ≥ 0.95x the minimal epoll responder (PING tests)".into(),
            worst(t, "floor", &all),
            0.95,
            true,
        ));
        rows.push((
            "redis P16: ≥ 1.0x the minimal epoll responder (PING tests)".into(),
            worst(t, "floor", &p16),
            1.0,
            true,
        ));
        rows.push((
            "redis P1/P16: ≥ 1.0x tokio".into(),
            worst(t, "tokio", &all),
            1.0,
            true,
        ));
        rows.push((
            "redis P16: ≥ 1.2x tokio".into(),
            worst(t, "tokio", &p16),
            1.2,
            true,
        ));
        rows.push((
            "redis P1/P16: ≥ 1.3x redis-server".into(),
            worst(t, "redis-server", &all),
            1.3,
            true,
        ));
    }
    if let Some(t) = find("wrk") {
        rows.push((
            "http, 16 per write: ≥ 5x nginx".into(),
            worst(t, "nginx", &|n: &str| n.contains("16")),
            5.0,
            true,
        ));
    }
    if let Some(t) = find("echo") {
        rows.push((
            "echo, every size and depth: ≥ 1.15x tokio".into(),
            worst(t, "tokio", &|_: &str| true),
            1.15,
            true,
        ));
    }
    rows.push((
        "memory: ≤ 128 B per idle connection".into(),
        memory_bytes,
        128.0,
        false,
    ));
    rows.push((
        "heap allocations per request once warm: 0".into(),
        allocs,
        0.0,
        false,
    ));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### against the targets of BENCHMARKS.md\n\nrevio's requests per CPU-second ÷ the peer's, the lowest over the tests named \
         (per-CPU ratios; memory and allocations as measured). Printed to read, never asserted.\n"
    );
    let _ = writeln!(s, "| target | this run | met |\n|---|---:|---|");
    for (name, v, bound, higher) in rows {
        let (shown, met) = if !v.is_finite() {
            ("n/a".to_string(), "not measured")
        } else {
            let ok = if higher { v >= bound } else { v <= bound };
            let shown = if higher {
                fmt_ratio(v)
            } else if name.starts_with("memory") {
                format!("{} B", fmt_num(v))
            } else {
                format!("{v:.6}")
            };
            (shown, if ok { "yes" } else { "no" })
        };
        let _ = writeln!(s, "| {name} | {shown} | {met} |");
    }
    s
}
