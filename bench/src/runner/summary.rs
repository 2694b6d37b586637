//! The summary of a run: revio's ratios per comparison and peer, and the
//! targets of BENCHMARKS.md beside what the run measured.

use std::fmt::Write as _;

use super::report::{Sample, Table, fmt_num, fmt_ratio, median};

/// One line per table and peer: the range of revio's per-CPU ratios.
pub fn summary(tables: &[Table]) -> String {
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
            // A table whose ratios are not revio's to a peer says what they are.
            let name = if t.ratio_of == "revio ÷ peer" {
                peer.name.clone()
            } else {
                format!("{} ({})", peer.name, t.ratio_of)
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.title,
                name,
                range(|x| x.per_cpu),
                range(|x| x.rate)
            );
        }
    }
    s
}

/// A target: what it says, what this run measured, the bound, and whether
/// higher is better.
type Row = (String, f64, f64, bool);

/// BENCHMARKS.md's targets beside what this run measured: a reading aid,
/// never an assertion.
pub fn targets(tables: &[Table], memory_bytes: f64, allocs: f64) -> String {
    let find = |prefix: &str| tables.iter().find(|t| t.title.starts_with(prefix));
    let mut rows = uring_rows(tables);
    if let Some(t) = find("redis") {
        rows.extend(redis_rows(t));
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
    render(rows)
}

/// The lowest per-CPU ratio of revio to `peer` over the tests that `pick` selects.
fn worst(t: &Table, peer: &str, pick: &dyn Fn(&str) -> bool) -> f64 {
    let Some(p) = t.peers.iter().position(|x| x.name.starts_with(peer)) else {
        return f64::NAN;
    };
    (0..t.tests.len())
        .filter(|&i| pick(&t.tests[i]) && t.applies(i, p) && t.applies(i, t.revio))
        .map(|i| t.ratio(i, p, |x| x.per_cpu))
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::min)
}

/// io_uring ÷ epoll per CPU-second, the lowest over the tests: the io_uring
/// row's ratio inverted (ratios are the epoll row's).
fn uring_over_epoll(t: &Table) -> f64 {
    let Some(p) = t.peers.iter().position(|x| x.name.ends_with("(io_uring)")) else {
        return f64::NAN;
    };
    if !t.peers[t.revio].name.ends_with("(epoll)") {
        return f64::NAN;
    }
    (0..t.tests.len())
        .filter(|&i| t.applies(i, p) && t.applies(i, t.revio))
        .map(|i| 1.0 / t.ratio(i, p, |x| x.per_cpu))
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::min)
}

/// The io_uring backend against the epoll backend, for each table that has both.
fn uring_rows(tables: &[Table]) -> Vec<Row> {
    let mut rows = Vec::new();
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
    rows
}

/// The redis targets, from the redis table `t`.
fn redis_rows(t: &Table) -> Vec<Row> {
    let all = |_: &str| true;
    let p16 = |n: &str| n.ends_with("P16");
    vec![
        (
            "redis P1/P16: ≥ 0.95x the minimal epoll responder (PING tests)".into(),
            worst(t, "floor", &all),
            0.95,
            true,
        ),
        (
            "redis P16: ≥ 1.0x the minimal epoll responder (PING tests)".into(),
            worst(t, "floor", &p16),
            1.0,
            true,
        ),
        (
            "redis P1/P16: ≥ 1.0x tokio".into(),
            worst(t, "tokio", &all),
            1.0,
            true,
        ),
        (
            "redis P16: ≥ 1.2x tokio".into(),
            worst(t, "tokio", &p16),
            1.2,
            true,
        ),
        (
            "redis P1/P16: ≥ 1.3x redis-server".into(),
            worst(t, "redis-server", &all),
            1.3,
            true,
        ),
    ]
}

/// The targets section.
fn render(rows: Vec<Row>) -> String {
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
