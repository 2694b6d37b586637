//! The benchmark runner: revio against redis-server, nginx and tokio, and the
//! floor, in one run (see `../shared/BENCHMARKS.md` for the method).
//!
//! `bench/run.sh [--quick]` installs the peers, builds everything and runs
//! this. Directly: `revio-bench [--quick] [--rounds N] [--only redis,http,echo,many,redis-default,haproxy,syscalls,memory,floor,alloc,udp,redis-large]
//! [--out DIR] [--pidfile FILE]`. Servers run pinned to CPU 0, clients to
//! CPU 1; rounds alternate the servers; every figure is a median over rounds
//! and every ratio is taken within a round. Prints the tables and writes
//! `RESULTS.md` and `cpu_per_request.svg` to the output folder.
//!
//! Each comparison is a module of `runner/`; this file reads the arguments
//! and runs them in order.

mod runner;

use std::path::{Path, PathBuf};
use std::time::Instant;

use revio_bench::args::Args;
use revio_bench::procfs;
use runner::procs::Procs;
use runner::report::{Table, chart};
use runner::{
    Ctx, alloc, echo, floor, haproxy, header, http, many, memory, redis, redis_default, redis_large, summary,
    syscalls, udp,
};

const USAGE: &str = "revio-bench [--quick] [--rounds N] [--only redis,http,echo,many,redis-default,haproxy,syscalls,memory,floor,alloc,udp,redis-large] [--out DIR] [--pidfile FILE]";

fn main() {
    let args = Args::parse(USAGE);
    let quick = args.flag("--quick");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default_out = if quick {
        manifest.join("results/quick")
    } else {
        manifest.join("results")
    };
    let out: PathBuf = args.get("--out", default_out);
    let ctx = context(&args, quick);
    std::fs::create_dir_all(&out).expect("output dir");
    let started = Instant::now();
    let header = header::header(&ctx);
    println!("{header}");
    let (body, tables, memory_bytes, allocs) = run(&ctx);
    let mut summary = summary::summary(&tables);
    summary.push_str(&summary::targets(&tables, memory_bytes, allocs));
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
    let _ = std::fs::remove_dir_all(&ctx.procs.tmp);
}

/// The run's context from the arguments: rounds, sections, where the
/// binaries are, a temporary folder, and the wrapper's pidfile.
fn context(args: &Args, quick: bool) -> Ctx {
    let rounds: usize = args.get("--rounds", if quick { 3 } else { 5 });
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
    // Servers and probes inherit this: room for 50,000 connections.
    procfs::raise_nofile(120_000);
    Ctx {
        quick,
        rounds: rounds.max(1),
        examples: bins.join("examples"),
        bins,
        procs: Procs::new(tmp, pidfile),
        only,
    }
}

/// Runs the sections asked for, in order: the markdown of them all, the
/// tables, revio's bytes per idle connection and allocations per request.
fn run(ctx: &Ctx) -> (String, Vec<Table>, f64, f64) {
    let mut body = String::new();
    let mut tables = Vec::new();
    if ctx.wants("redis") {
        let t = redis::redis(ctx, 50);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("http") {
        let t = http::http(ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("echo") {
        let t = echo::echo(ctx, 50);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("redis-large") {
        let t = redis_large::redis_large(ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("udp") {
        let t = udp::udp(ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("many") {
        for t in many::many(ctx) {
            emit(&mut body, &t.markdown());
            tables.push(t);
        }
    }
    if ctx.wants("redis-default") {
        let t = redis_default::redis_default(ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("haproxy") {
        let t = haproxy::haproxy(ctx);
        emit(&mut body, &t.markdown());
        tables.push(t);
    }
    if ctx.wants("syscalls") {
        emit(&mut body, &syscalls::syscalls(ctx));
    }
    let mut memory_bytes = f64::NAN;
    if ctx.wants("memory") {
        let (section, revio) = memory::memory(ctx);
        emit(&mut body, &section);
        memory_bytes = revio;
    }
    if ctx.wants("floor") {
        let redis = tables.first().filter(|t| t.title.starts_with("redis"));
        emit(&mut body, &floor::floor(ctx, redis));
    }
    let mut allocs = f64::NAN;
    if ctx.wants("alloc") {
        let (section, worst) = alloc::allocations(ctx);
        emit(&mut body, &section);
        allocs = worst;
    }
    (body, tables, memory_bytes, allocs)
}

/// Prints a section and adds it to the body of RESULTS.md.
fn emit(body: &mut String, section: &str) {
    println!("{section}");
    body.push_str(section);
    body.push('\n');
}
