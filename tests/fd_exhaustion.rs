//! Accept failures from fd exhaustion (EMFILE) neither stop the server nor spin
//! the CPU, and accepting resumes when descriptors free up. Alone in its test
//! binary because it lowers the process's descriptor limit.
//!
//! Unix only: it lowers the limit with setrlimit, which Windows has no
//! equivalent of (its socket handles have no per-process limit to lower).
#![cfg(unix)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use revio::Backend;

fn cpu_seconds(stat: &mut File) -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    use std::io::Seek;
    let mut s = String::new();
    stat.seek(std::io::SeekFrom::Start(0)).unwrap();
    stat.read_to_string(&mut s).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// The lines revio logged about accepting, kept for the test to count.
static ACCEPT_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Counting;

impl log::Log for Counting {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = record.args().to_string();
        if line.starts_with("revio: accept") {
            ACCEPT_LINES.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn accept_pauses_on_emfile_and_resumes(b: Backend) {
    ACCEPT_LINES.lock().unwrap().clear();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let saved = lim;
    let mut filler = Vec::new();
    let low = libc::rlimit {
        rlim_cur: 256,
        rlim_max: saved.rlim_max,
    };
    // The limit is lowered before the server starts: io_uring reads it when
    // an accept is submitted, so a multishot accept armed under the old limit
    // would go on accepting past the new one.
    // SAFETY: setrlimit reads the valid rlimit struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let srv = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let addr = srv.server.addrs()[0].socket_addr().unwrap();
    let mut first = srv.connect(0);
    assert_eq!(roundtrip(&mut first, b"before"), b"before");
    // Client sockets made now, connected once the table is full.
    let pending: Vec<socket2::Socket> = (0..5)
        .map(|_| socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap())
        .collect();
    let mut stat = File::open("/proc/self/stat").unwrap();
    // Fill the descriptor table up to the low limit.
    while let Ok(f) = File::open("/dev/null") {
        filler.push(f);
        assert!(filler.len() < 100_000);
    }
    for s in &pending {
        s.connect(&addr.into()).unwrap(); // completes in the kernel's backlog
    }
    let cpu0 = cpu_seconds(&mut stat);
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_seconds(&mut stat) - cpu0;
    // The established connection is still served meanwhile.
    assert_eq!(roundtrip(&mut first, b"during"), b"during");
    // Free descriptors: the backlog is accepted and served.
    drop(filler);
    // SAFETY: as above, restoring the saved limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
    for s in pending {
        let mut c: TcpStream = s.into();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.write_all(b"after").unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
    }
    // A spinning accept loop would burn a whole core (0.5 s) meanwhile.
    assert!(
        spent < 0.3,
        "the loop spun while out of descriptors: {spent:.2} CPU-s in 0.5 s"
    );
    srv.stop().unwrap();
    // One episode, logged twice: when it began and when it ended, with the
    // count of the retries in between (the back-off is 50 ms, so 0.5 s of
    // exhaustion is several), never once per retry.
    let lines = ACCEPT_LINES.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "{b:?}: {lines:#?}");
    assert!(
        lines[0].contains("accept paused, out of file descriptors"),
        "{b:?}: {lines:#?}"
    );
    let count: u64 = lines[1]
        .strip_prefix("revio: accept resumed after ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{b:?}: no count in {lines:#?}"));
    assert!(count >= 2, "{b:?}: {lines:#?}");
}

/// One backend after another: the descriptor limit is the whole process's.
#[test]
fn accept_pauses_on_emfile_and_resumes_on_any_backend() {
    log::set_logger(&Counting).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    for &b in BACKENDS {
        accept_pauses_on_emfile_and_resumes(b);
    }
}
