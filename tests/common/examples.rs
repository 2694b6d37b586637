//! Running the example programs as a user does: the built binary, as a child
//! process, its start-up line read for the addresses it listens on, its
//! memory read from /proc, and a signal to stop it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LIMIT;

/// The path of example `name`, built first if it is not up to date (with
/// every feature, as `cargo test --workspace --all-features` builds it, so
/// that this is a no-op there).
pub fn binary(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples one level up.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "revio",
        "--all-features",
        "--example",
        name,
    ]);
    if profile_dir.ends_with("release") {
        cmd.arg("--release");
    }
    // Builds only if something changed; cheap otherwise.
    let status = cmd.status().expect("run cargo build for the example");
    assert!(status.success(), "building example {name} failed");
    assert!(path.exists(), "example {name} not found at {}", path.display());
    path
}

/// A running example; killed (if still running) when dropped.
pub struct Example {
    pub child: Child,
    /// The addresses of its start-up line (`tcp://...`, `unix://...`).
    pub addrs: Vec<String>,
    /// The start-up line.
    pub line: String,
    /// The lines it printed after the start-up line.
    pub output: super::Log,
}

impl Example {
    /// Starts example `name` with `args` and waits (bounded) for its
    /// start-up line, `... listening on ADDR, ADDR ...`.
    pub fn start(name: &str, args: &[&str]) -> Example {
        let mut child = Command::new(binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let output = super::Log::default();
        let later = output.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep reading, so the child never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                later.push(line);
            }
        });
        let line = match rx.recv_timeout(LIMIT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("example {name} printed no start-up line");
            }
        };
        let addrs = line
            .split_whitespace()
            .map(|w| w.trim_end_matches([',', ')']).trim_start_matches('('))
            .filter(|w| w.contains("://"))
            .map(String::from)
            .collect();
        Example {
            child,
            addrs,
            line,
            output,
        }
    }

    /// Address `i` of the start-up line without its scheme (`host:port` or a path).
    pub fn addr(&self, i: usize) -> String {
        let a = &self.addrs[i];
        a.split_once("://")
            .map_or(a.clone(), |(_, rest)| rest.to_string())
    }

    /// Its resident memory in KiB (VmRSS), from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sends `signal` and waits (bounded) for the exit; returns its status code.
    pub fn signal_and_wait(&mut self, signal: i32) -> Option<i32> {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with a pid this test started and still owns.
        let r = unsafe { libc::kill(pid, signal) };
        assert_eq!(r, 0, "kill({pid}, {signal}) failed");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the example did not exit after signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
