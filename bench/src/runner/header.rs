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
         over rounds, and each ratio is revio's figure divided by the peer's from the same round \
         (median over rounds). \"k req/CPU-s\" is thousands of requests served per second of server \
         CPU (user + sys from `/proc/PID/stat`); with client and server sharing two cores the client \
         is often the limit, and this is the figure that tells servers apart."
    );
    h
}
