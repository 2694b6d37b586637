//! Heap allocations per request, counted by `alloc-count` (this crate) under a
//! counting global allocator.

use std::fmt::Write as _;

use super::{Ctx, field};

/// The allocations section, and the most allocations per request seen.
pub fn allocations(ctx: &Ctx) -> (String, f64) {
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
