//! Starting servers pinned to CPU 0, running clients pinned to CPU 1, and
//! stopping every server by its PID, also when the run fails.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use revio_bench::procfs;

/// CPU the servers run on.
pub const SERVER_CPU: &str = "0";
/// CPU the load generators run on.
pub const CLIENT_CPU: &str = "1";

/// A program and its arguments.
#[derive(Clone, Debug)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
}

impl Program {
    pub fn new(path: impl Into<PathBuf>, args: &[&str]) -> Program {
        Program {
            path: path.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// A server this run started; dropping it stops it (SIGTERM, then SIGKILL).
pub struct Running {
    pub name: String,
    pub pid: u32,
    child: Child,
    log: PathBuf,
    pidfile: Option<PathBuf>,
}

impl Running {
    /// User plus system CPU seconds the server has used so far.
    pub fn cpu(&self) -> f64 {
        procfs::cpu_seconds(self.pid).unwrap_or(f64::NAN)
    }

    /// Whether the process is still there.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the server wrote (for error messages).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
        // Reaped: take the PID off the wrapper's list, so that its trap never
        // signals a process that has reused the number.
        if let Some(pidfile) = &self.pidfile
            && let Ok(list) = std::fs::read_to_string(pidfile)
        {
            let me = self.pid.to_string();
            let rest: Vec<&str> = list.lines().filter(|l| *l != me).collect();
            let _ = std::fs::write(pidfile, rest.join("\n") + "\n");
        }
    }
}

impl Running {
    fn stop(&mut self) {
        // Already exited (and reaped, so the PID may be someone else's now).
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.pid as libc::pid_t;
        // SAFETY: kill on the PID of a child we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// A free loopback port, chosen by the kernel.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// Where PIDs are recorded for the wrapper script's trap, and logs are kept.
pub struct Procs {
    pub tmp: PathBuf,
    pidfile: Option<PathBuf>,
}

impl Procs {
    pub fn new(tmp: PathBuf, pidfile: Option<PathBuf>) -> Procs {
        Procs { tmp, pidfile }
    }

    /// Starts `prog` pinned to the server CPU and waits until it accepts on `port`.
    pub fn start(&self, name: &str, prog: &Program, port: u16) -> Result<Running, String> {
        self.start_on(SERVER_CPU, name, prog, port)
    }

    /// Starts `prog` pinned to `cpu` and waits until it accepts on `port`.
    pub fn start_on(&self, cpu: &str, name: &str, prog: &Program, port: u16) -> Result<Running, String> {
        let log = self.tmp.join(format!("{}.log", name.replace([' ', '/'], "_")));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpu)
            .arg(&prog.path)
            .args(&prog.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", prog.path.display()))?;
        let pid = child.id();
        if let Some(pidfile) = &self.pidfile
            && let Ok(mut f) = OpenOptions::new().create(true).append(true).open(pidfile)
        {
            let _ = writeln!(f, "{pid}");
        }
        let mut running = Running {
            name: name.to_string(),
            pid,
            child,
            log,
            pidfile: self.pidfile.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if !running.alive() {
                return Err(format!("{name} exited at start: {}", running.log_tail()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Let it finish starting (redis loads, nginx forks nothing).
                sleep(Duration::from_millis(100));
                return Ok(running);
            }
            if Instant::now() > deadline {
                return Err(format!("{name} never listened on {port}: {}", running.log_tail()));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

/// What a client run produced, and the server CPU it cost.
pub struct ClientRun {
    pub stdout: String,
    pub server_cpu: f64,
}

/// Runs `client` pinned to the client CPU, bounded by `limit`, and measures
/// the server's CPU time around it.
pub fn run_client(server: &Running, client: &Program, limit: Duration) -> Result<ClientRun, String> {
    let cpu0 = server.cpu();
    let out = Command::new("timeout")
        .arg("-k")
        .arg("2")
        .arg(format!("{}", limit.as_secs().max(1)))
        .arg("taskset")
        .arg("-c")
        .arg(CLIENT_CPU)
        .arg(&client.path)
        .args(&client.args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", client.path.display()))?;
    let cpu1 = server.cpu();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("");
        return Err(format!(
            "{} against {} failed ({}): {last}",
            client.path.display(),
            server.name,
            out.status
        ));
    }
    Ok(ClientRun {
        stdout,
        server_cpu: cpu1 - cpu0,
    })
}

/// How a client run through [`run_client_lines`] ended.
pub struct LinesRun {
    /// Whether the client exited 0.
    pub ok: bool,
    /// Its exit status, in words.
    pub status: String,
    pub stderr: String,
}

/// Runs `client` like [`run_client`], but line-buffered (`stdbuf -oL`), and
/// hands each line of its output to `line` as it comes, with the server CPU
/// seconds used since the previous line (or since the start).
pub fn run_client_lines(
    server: &Running,
    client: &Program,
    limit: Duration,
    mut line: impl FnMut(&str, f64),
) -> Result<LinesRun, String> {
    let mut cpu = server.cpu();
    let mut child = Command::new("timeout")
        .arg("-k")
        .arg("2")
        .arg(format!("{}", limit.as_secs().max(1)))
        .args(["taskset", "-c", CLIENT_CPU, "stdbuf", "-oL"])
        .arg(&client.path)
        .args(&client.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", client.path.display()))?;
    let mut err = child.stderr.take();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    if let Some(out) = child.stdout.take() {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            let now = server.cpu();
            line(&l, now - cpu);
            cpu = now;
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(LinesRun {
        ok: status.success(),
        status: match status.code() {
            Some(124 | 137) => format!("timed out after {} s", limit.as_secs().max(1)),
            _ => status.to_string(),
        },
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs a command (not pinned) and returns its stdout and stderr, trimmed.
pub fn output_of(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_string()
        }
        Err(_) => String::new(),
    }
}

/// Whether `program` can be found on PATH (or is a path that exists).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}
