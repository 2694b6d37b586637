//! The floor: one read plus one write syscall on a loopback TCP pair, the
//! least CPU an unbatched request can cost, beside the servers' CPU per request.

use std::fmt::Write as _;

use super::procs::SERVER_CPU;
use super::report::{Table, fmt_num, fmt_ratio, median};
use super::{Ctx, field};

pub fn floor(ctx: &Ctx, redis: Option<&Table>) -> String {
    let secs = if ctx.quick { "0.3" } else { "1" };
    let mut ns = Vec::new();
    for _ in 0..ctx.rounds {
        let out = std::process::Command::new("taskset")
            .args(["-c", SERVER_CPU])
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
