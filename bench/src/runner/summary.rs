//! The summary of a run: the ratios of each compared pair of rows, and the
//! targets (issue 23's, BENCHMARKS.md's) beside what the run measured.

use std::fmt::Write as _;

use super::peers::{EPOLL_VS_URING, revio_name};
use super::report::{Sample, Table, fmt_num, fmt_ratio, median};
use super::{echo, http, redis, udp};

/// One line per table and compared pair: the range of the per-CPU ratios.
pub fn summary(tables: &[Table]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Where revio stands\n");
    let _ = writeln!(
        s,
        "Each line divides one row's requests per server-CPU-second by another's (same round, median over \
         rounds), lowest to highest over the tests of the comparison, with the median over those tests. \
         \"like for like\" lines compare revio running a tokio baseline's own protocol code with that \
         baseline (and the floor): the headline ratios. \"redis example vs redis-server\" and \"http \
         example vs nginx\" compare revio's full examples with the servers a user would pick instead.\n"
    );
    let _ = writeln!(
        s,
        "| comparison | which rows | ratio | per CPU-s | req/s |\n|---|---|---|---|---|"
    );
    for t in tables {
        // The like-for-like pairs first: they are the headline.
        let mut order: Vec<usize> = (0..t.peers.len()).collect();
        order.sort_by_key(|&p| !t.label(p).starts_with("like for like"));
        for p in order {
            let Some(o) = t.over(p) else { continue };
            if t.peers[p].skipped.is_some() {
                continue;
            }
            let pair = format!("{} ÷ {}", t.peers[o].name, t.peers[p].name);
            if let Some(why) = &t.peers[o].skipped {
                let _ = writeln!(s, "| {} | {} | {pair} | skipped: {why} | |", t.title, t.label(p));
                continue;
            }
            let range = |f: fn(&Sample) -> f64| {
                let r: Vec<f64> = (0..t.tests.len())
                    .filter(|&i| t.applies(i, p) && t.applies(i, o))
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
                "| {} | {} | {pair} | {} | {} |",
                t.title,
                t.label(p),
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

/// The and BENCHMARKS.md's targets beside what this run measured: a
/// reading aid, never an assertion.
pub fn targets(tables: &[Table], memory_bytes: f64, allocs: f64) -> String {
    let mut rows = uring_rows(tables);
    for t in tables {
        if t.title.starts_with("redis-benchmark -c") {
            rows.extend(redis_rows(t));
        } else if t.title.starts_with("wrk") {
            rows.extend(http_rows(t));
        } else if t.title.starts_with("redis-benchmark GET of 100 KB") {
            rows.push((
                format!("{}: redis example ≥ 1.5x redis-server", t.title),
                worst(t, redis::REDIS, &|_: &str| true),
                1.5,
                true,
            ));
        } else if t.title.starts_with("udp echo") {
            rows.extend(udp_rows(t));
        } else if t.title.starts_with("echo,") {
            rows.push((
                format!(
                    "{}, echo example vs tokio echo: ≥ 1.0x at every size and depth",
                    t.title
                ),
                worst(t, echo::TOKIO, &|_: &str| true),
                1.0,
                true,
            ));
            rows.push((
                format!(
                    "{}, echo example vs tokio echo copying as revio's handler does: ≥ 1.0x at every size and depth",
                    t.title
                ),
                worst(t, echo::TOKIO_COPY, &|_: &str| true),
                1.0,
                true,
            ));
        }
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

/// The UDP targets (issue 26), from the udp table `t`.
fn udp_rows(t: &Table) -> Vec<Row> {
    let flight = |n: &str| n.contains("64 remotes x 8");
    vec![
        (
            format!(
                "{}, 64 remotes x 8: echo example ≥ 1.3x the blocking loop",
                t.title
            ),
            worst(t, udp::BLOCKING, &flight),
            1.3,
            true,
        ),
        (
            format!("{}, 64 remotes x 8: echo example ≥ 1.3x tokio", t.title),
            worst(t, udp::TOKIO, &flight),
            1.3,
            true,
        ),
        (
            format!("{}, stream with GSO/GRO: echo example ≥ 3x tokio", t.title),
            worst(t, udp::TOKIO, &|n: &str| n == udp::STREAM),
            3.0,
            true,
        ),
    ]
}

/// The lowest per-CPU ratio in the row of the peer called `peer` (the row it
/// is compared with, divided by its own; see [`Table::over`]) over the tests
/// that `pick` selects and both rows ran.
fn worst(t: &Table, peer: &str, pick: &dyn Fn(&str) -> bool) -> f64 {
    let Some(p) = t.index(peer) else {
        return f64::NAN;
    };
    let Some(o) = t.over(p) else {
        return f64::NAN;
    };
    (0..t.tests.len())
        .filter(|&i| pick(&t.tests[i]) && t.applies(i, p) && t.applies(i, o))
        .map(|i| t.ratio(i, p, |x| x.per_cpu))
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::min)
}

/// io_uring ÷ epoll per CPU-second for the io_uring row `p`, the lowest over
/// the tests: its ratio (epoll ÷ io_uring) inverted.
fn uring_over_epoll(t: &Table, p: usize) -> f64 {
    let Some(o) = t.over(p) else {
        return f64::NAN;
    };
    (0..t.tests.len())
        .filter(|&i| t.applies(i, p) && t.applies(i, o))
        .map(|i| 1.0 / t.ratio(i, p, |x| x.per_cpu))
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::min)
}

/// The io_uring backend against the epoll backend, for each server of each
/// table that has it on both.
fn uring_rows(tables: &[Table]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (title, bound) in [
        ("redis-benchmark -c 1000", 1.2),
        ("echo, 1000 connections", 1.2),
        ("redis-benchmark -c 50", 1.1),
        ("echo, 50 connections", 1.1),
    ] {
        let Some(t) = tables.iter().find(|t| t.title == title) else {
            continue;
        };
        for (&p, (_, label)) in &t.against {
            if label != EPOLL_VS_URING {
                continue;
            }
            let server = t.peers[p].name.trim_end_matches(" (io_uring)");
            rows.push((
                format!("{title}, {server}: io_uring ≥ {bound}x the epoll backend"),
                uring_over_epoll(t, p),
                bound,
                true,
            ));
        }
    }
    rows
}

/// The redis targets (issue 23), from the redis table `t`.
fn redis_rows(t: &Table) -> Vec<Row> {
    let p16 = |n: &str| n.ends_with("P16");
    let get_set_p16 = |n: &str| n == "GET P16" || n == "SET P16";
    let like = revio_name(redis::LIKE, "epoll");
    let title = &t.title;
    vec![
        (
            format!("{title}, like for like: revio RESP ≥ 1.1x tokio RESP at P16"),
            worst(t, redis::TOKIO, &p16),
            1.1,
            true,
        ),
        (
            format!("{title}, like for like: revio RESP ≥ 1.0x the floor at P16 (PING tests)"),
            worst(t, redis::FLOOR, &p16),
            1.0,
            true,
        ),
        (
            format!("{title}, {}: ≥ 0.85x at GET and SET P16", redis::EXAMPLE_VS_LIKE),
            worst(t, &like, &get_set_p16),
            0.85,
            true,
        ),
        (
            format!("{title}, {}: ≥ 1.3x at P16", redis::EXAMPLE_VS_REDIS),
            worst(t, redis::REDIS, &p16),
            1.3,
            true,
        ),
    ]
}

/// The http targets, from the wrk table `t`.
fn http_rows(t: &Table) -> Vec<Row> {
    vec![
        (
            "http, like for like: revio HTTP ≥ 1.1x tokio HTTP".into(),
            worst(t, http::TOKIO, &|_: &str| true),
            1.1,
            true,
        ),
        (
            format!("http, 16 per write, {}: ≥ 5x", http::EXAMPLE_VS_NGINX),
            worst(t, http::NGINX, &|n: &str| n.contains("16")),
            5.0,
            true,
        ),
    ]
}

/// The targets section.
fn render(rows: Vec<Row>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### against the targets (issue 23's and BENCHMARKS.md's)\n\nThe ratio each line names, per CPU-second, the lowest over the tests named \
         (memory and allocations as measured). Printed to read, never asserted.\n"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::Peer;

    /// A redis table with the rows `redis::redis` makes, one round, in which
    /// revio RESP serves 2,000 k req/CPU-s at P16, tokio 1,600, the floor
    /// 2,200, the example 1,800 (io_uring rows 10% below epoll), redis-server 1,200.
    fn redis_table() -> Table {
        let names = [
            revio_name(redis::LIKE, "epoll"),
            revio_name(redis::LIKE, "io_uring"),
            redis::TOKIO.into(),
            redis::FLOOR.into(),
            "revio redis-server example (epoll)".into(),
            "revio redis-server example (io_uring)".into(),
            redis::REDIS.into(),
        ];
        let peers = names
            .iter()
            .map(|n| Peer {
                name: n.clone(),
                skipped: None,
            })
            .collect();
        let tests = ["PING_INLINE P16", "GET P16"].map(String::from).to_vec();
        let mut t = Table::new("redis-benchmark -c 50", "req", tests, peers);
        redis::compare(&mut t);
        t.applies.insert((1, 3), false);
        let k = [2000.0, 1800.0, 1600.0, 2200.0, 1800.0, 1620.0, 1200.0];
        for test in 0..2 {
            for (p, v) in k.iter().enumerate() {
                let s = Sample {
                    rate: 100.0,
                    per_cpu: v * 1e3,
                    ..Sample::default()
                };
                t.record(test, p, 0, Some(s));
            }
        }
        t
    }

    #[test]
    fn each_row_is_divided_by_the_row_it_is_compared_with() {
        let t = redis_table();
        assert_eq!(t.revio, 0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(t.ratio(1, 2, |x| x.per_cpu), 2000.0 / 1600.0));
        assert!(close(t.ratio(0, 3, |x| x.per_cpu), 2000.0 / 2200.0));
        assert!(close(t.ratio(1, 0, |x| x.per_cpu), 1800.0 / 2000.0));
        assert!(close(t.ratio(1, 6, |x| x.per_cpu), 1800.0 / 1200.0));
        assert!(close(t.ratio(1, 5, |x| x.per_cpu), 1800.0 / 1620.0));
        let md = t.markdown();
        assert!(md.contains("| ratio of |"), "{md}");
        assert!(md.contains("| GET P16 | tokio RESP |"));
        assert!(
            md.contains("like for like: revio RESP (epoll) ÷ this | 1.00x | 1.25x |"),
            "{md}"
        );
        assert!(md.contains("redis example vs redis-server: revio redis-server example (epoll) ÷ this"));
        assert!(md.contains(
            "redis example vs revio RESP: revio redis-server example (epoll) ÷ this | 1.00x | 0.90x |"
        ));
        // The floor answers PINGs only.
        assert!(!md.contains("| GET P16 | floor"));
    }

    #[test]
    fn the_summary_names_each_pair() {
        let s = summary(&[redis_table()]);
        assert!(
            s.contains("| redis-benchmark -c 50 | like for like | revio RESP (epoll) ÷ tokio RESP | 1.25x – 1.25x (median 1.25x) |"),
            "{s}"
        );
        assert!(s.contains(
            "| redis example vs redis-server | revio redis-server example (epoll) ÷ redis-server | 1.50x – 1.50x"
        ));
        assert!(s.contains("| epoll vs io_uring | revio RESP (epoll) ÷ revio RESP (io_uring) |"));
        // Only the pairs named: the example's epoll row is no one's denominator.
        assert!(!s.contains("÷ revio redis-server example (epoll) |"), "{s}");
        let first = s
            .lines()
            .find(|l| l.starts_with("| redis-benchmark"))
            .unwrap_or("");
        assert!(first.contains("| like for like |"), "{s}");
    }

    #[test]
    fn the_targets_read_the_like_for_like_rows() {
        let s = targets(&[redis_table()], 100.0, 0.0);
        let line = |start: &str| {
            s.lines()
                .find(|l| l.contains(start))
                .unwrap_or_else(|| panic!("no line {start:?} in {s}"))
                .to_string()
        };
        assert_eq!(
            line("revio RESP ≥ 1.1x tokio"),
            "| redis-benchmark -c 50, like for like: revio RESP ≥ 1.1x tokio RESP at P16 | 1.25x | yes |"
        );
        assert!(line("≥ 1.0x the floor").ends_with("| 0.91x | no |"));
        assert!(line("vs revio RESP: ≥ 0.85x").ends_with("| 0.90x | yes |"));
        assert!(line("vs redis-server: ≥ 1.3x").ends_with("| 1.50x | yes |"));
        assert!(line("revio RESP: io_uring ≥ 1.1x").ends_with("| 0.90x | no |"));
        assert!(line("revio redis-server example: io_uring ≥ 1.1x").ends_with("| 0.90x | no |"));
    }
}
