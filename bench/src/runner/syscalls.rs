//! System calls per message on each revio backend: `strace -c -f` attached to
//! the echo-server for a short `echo-load` run. strace slows the server down
//! many times over, so only the counts mean anything here, not the rates.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::REVIO_BACKENDS;
use super::procs::{Program, free_port, have, run_client};
use super::{Ctx, field};

/// The section: one row per backend and connection count.
pub fn syscalls(ctx: &Ctx) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### system calls per message\n");
    if !have("strace") {
        let _ = writeln!(s, "strace is not installed: not measured.\n");
        return s;
    }
    let secs = if ctx.quick { "0.5" } else { "2" };
    let _ = writeln!(
        s,
        "`strace -c -f -p PID` on revio's echo-server (one loop) while `echo-load --conns C --depth 1 \
         --size 64 --secs {secs}` runs against it: every system call of the server during the run, \
         divided by the messages echoed. (strace slows the server down: the counts mean something, \
         the rates do not.)\n"
    );
    let _ = writeln!(
        s,
        "| backend | connections | messages | system calls | per message | the most frequent, per message |\n|---|---:|---:|---:|---:|---|"
    );
    for conns in [50usize, 1000] {
        for (label, backend) in REVIO_BACKENDS {
            let row = match count(ctx, backend, conns, secs) {
                Ok((msgs, calls)) => {
                    let total: u64 = calls.iter().map(|(n, _)| n).sum();
                    let top = calls
                        .iter()
                        .take(4)
                        .map(|(n, name)| format!("{name} {:.2}", *n as f64 / msgs))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "| {label} | {conns} | {msgs:.0} | {total} | {:.2} | {top} |",
                        total as f64 / msgs
                    )
                }
                Err(e) => format!("| {label} | {conns} | not measured: {e} | | | |"),
            };
            let _ = writeln!(s, "{row}");
        }
    }
    s
}

/// Messages echoed and the server's system calls (count, name), most frequent first.
fn count(ctx: &Ctx, backend: &str, conns: usize, secs: &str) -> Result<(f64, Vec<(u64, String)>), String> {
    let port = free_port();
    let p = port.to_string();
    let prog = ctx
        .example("echo-server")
        .map(|e| Program::new(e, &["--port", &p, "--loops", "1", "--backend", backend]))?;
    let server = ctx
        .procs
        .start(&format!("echo-server ({backend}) traced"), &prog, port)?;
    let out = ctx.procs.tmp.join(format!("strace-{backend}-{conns}.txt"));
    let mut strace = Command::new("strace")
        .args(["-c", "-f", "-U", "calls,name", "-o"])
        .arg(&out)
        .args(["-p", &server.pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("strace: {e}"))?;
    // strace attaches to every thread of the server before the load starts.
    std::thread::sleep(Duration::from_millis(300));
    let client = Program::new(
        ctx.bin("echo-load"),
        &[
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--conns",
            &conns.to_string(),
            "--depth",
            "1",
            "--size",
            "64",
            "--secs",
            secs,
        ],
    );
    let run = run_client(&server, &client, Duration::from_secs(60));
    // Detach (SIGINT makes strace print its summary), bounded.
    let _ = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(strace.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = strace.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = strace.wait();
    drop(server);
    let run = run?;
    let msgs = field(&run.stdout, "msgs").ok_or("no result from echo-load")?;
    Ok((msgs, parse(&out)?))
}

/// The rows of a `strace -c -U calls,name` summary, most frequent first.
fn parse(path: &Path) -> Result<Vec<(u64, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let n = w.next()?.parse().ok()?;
            let name = w.next()?;
            (name != "total").then(|| (n, name.to_string()))
        })
        .collect();
    if rows.is_empty() {
        return Err("strace reported nothing".into());
    }
    rows.sort_by(|a, b| b.cmp(a));
    Ok(rows)
}
