//! Writes to a peer that has gone never raise SIGPIPE, even in a process
//! that has not ignored it (Rust binaries ignore it by default; C hosts and
//! some runtimes do not). Alone in its binary because it changes the signal
//! disposition of the whole process.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Conn, Handler};

/// Streams data to every connection on each tick-driven wake.
#[derive(Clone, Default)]
struct Firehose {
    log: Log,
}

impl Handler for Firehose {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        // A reply much larger than the socket buffers: the server keeps
        // writing after the peer is gone.
        c.write(&vec![b'p'; 8 << 20]);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<std::io::Error>) {
        self.log.push(format!("{:?}", e.map(|e| e.kind())));
    }
}

/// Restores the default action for SIGPIPE (death). Windows has no SIGPIPE:
/// there the test only checks that each write error closes its connection.
fn default_sigpipe() {
    // SAFETY: restoring the default action for SIGPIPE; no handler is involved.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL)
    };
}

fn writing_to_a_closed_peer_does_not_raise_sigpipe(b: Backend) {
    default_sigpipe();
    let h = Firehose::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    for _ in 0..3 {
        let mut c = srv.connect(0);
        c.write_all(b"go").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        drop(c); // closed with unread data: the server's next writes fail
    }
    log.wait_for("3 closed", |l| l.len() == 3);
    // Still alive (a SIGPIPE would have killed the process), and each close
    // carried the write error.
    for e in log.snapshot() {
        assert!(e == "Some(BrokenPipe)" || e == "Some(ConnectionReset)", "{e}");
    }
    srv.stop().unwrap();
}

per_backend!(writing_to_a_closed_peer_does_not_raise_sigpipe);
