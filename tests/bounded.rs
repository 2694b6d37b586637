//! Nothing one client or one handler does can take the server down (issue
//! 11): output the loop owns and bounds, limits per connection and per loop,
//! kept input presented again once output drains, reading paused by code,
//! fair turns, no half-dead loop after a panic inside it, ids that never
//! alias, wakes that coalesce, UDP remotes bounded.
//!
//! Each test names, in a comment, how it was checked to fail without the
//! feature it tests (by breaking that feature in the library for a run).

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Handler, Server};

// ----- amplification: one small request, one large reply -------------------

/// The size of one reply to `GET`: 10 bytes of sequence number, then filler.
const REPLY: usize = 100_000;
/// Pipelined requests a client sends in one go.
const GETS: usize = 10_000;

/// What the server saw, shared with the test.
#[derive(Default)]
struct Seen {
    /// The most any connection had queued at the end of a handler call.
    max_queued: AtomicUsize,
    /// Replies written, all connections together.
    replies: AtomicUsize,
    /// `data` calls that returned congested with input kept.
    stopped_early: AtomicUsize,
    log: Log,
}

impl Seen {
    fn queued(&self, c: &Conn<'_, impl Sized>) {
        self.max_queued.fetch_max(c.queued(), Ordering::SeqCst);
    }
}

/// Answers each `GET` line with a numbered [`REPLY`]-byte reply (as the
/// redis example answers `GET k` of a 100 KB value) and `PING` with `PONG`.
/// Written `right`, it checks [`Conn::is_congested`] after each reply and
/// stops, keeping the rest of its input; otherwise it answers everything.
#[derive(Clone)]
struct Amplifier {
    right: bool,
    filler: Arc<Vec<u8>>,
    seen: Arc<Seen>,
}

impl Amplifier {
    fn new(right: bool) -> Amplifier {
        Amplifier {
            right,
            filler: Arc::new(vec![b'x'; REPLY - 10]),
            seen: Arc::default(),
        }
    }
}

impl Handler for Amplifier {
    type State = u64; // replies written on this connection

    fn data(&mut self, c: &mut Conn<'_, u64>, input: &[u8]) -> Action {
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            match &rest[..nl] {
                b"GET" => {
                    *c.state() += 1;
                    let n = *c.state();
                    let _ = write!(c.output(), "{n:>9}\n");
                    c.write(&self.filler);
                    self.seen.replies.fetch_add(1, Ordering::SeqCst);
                }
                b"PING" => c.write(b"PONG\n"),
                _ => {}
            }
            rest = &rest[nl + 1..];
            if self.right && c.is_congested() {
                break;
            }
        }
        c.keep(rest.len());
        if !rest.is_empty() && c.is_congested() {
            self.seen.stopped_early.fetch_add(1, Ordering::SeqCst);
        }
        self.seen.queued(c);
        Action::None
    }

    fn postwrite(&mut self, c: &mut Conn<'_, u64>, _: usize, _: usize) -> Action {
        self.seen.queued(c);
        Action::None
    }

    fn closed(&mut self, c: &mut Conn<'_, u64>, e: Option<io::Error>) {
        self.seen.log.push(format!("closed {} {}", c.id(), why(&e)));
    }
}

/// Reads `n` numbered replies and checks that they come in order, from 1.
fn read_replies(s: &mut impl Read, n: usize) {
    let mut buf = vec![0; REPLY];
    let filler = vec![b'x'; REPLY - 10];
    for i in 1..=n {
        s.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reply {i} of {n}: {e}"));
        let head = std::str::from_utf8(&buf[..10]).expect("a numbered reply");
        assert_eq!(head.trim().parse::<usize>().ok(), Some(i), "reply {i} out of order");
        assert!(buf[10..] == filler[..], "reply {i} damaged");
    }
}

/// A PING answered: the loop is serving.
fn ping(s: &mut std::net::TcpStream) {
    assert_eq!(roundtrip(s, b"PING\n").len(), 5);
}

/// 10,000 pipelined GETs of a 100 KB reply from a client that never reads:
/// a handler written the right way stops at the high-water mark, so the
/// loop holds about that much (not 1 GB), and other clients are served.
/// Then a client that does read gets every one of its 10,000 replies, in
/// order: kept input is presented again each time the output drains,
/// without a byte more from the peer.
///
/// Checked to fail without the feature: with `Conn::is_congested` always
/// false the handler answers everything and the connection is closed at
/// `max_output` (64 MiB queued); without the loop presenting kept input
/// again (no `read_again` in `settle`), the reading client waits forever
/// for reply 43.
fn pipelined_amplification_is_bounded_and_a_reader_gets_every_reply(b: Backend) {
    let h = Amplifier::new(true);
    let seen = h.seen.clone();
    let hw = 4 << 20;
    let srv = start_with(b, Config::new().high_water(hw), h, &["tcp://127.0.0.1:0"]);

    let mut sink = srv.connect(0);
    sink.write_all(&b"GET\n".repeat(GETS)).unwrap();
    wait_until("replies", || seen.replies.load(Ordering::SeqCst) > 0);
    // Let the kernel's buffers fill: until the replies stop growing between
    // two PINGs (the loop has had turns to present the kept input again).
    let mut other = srv.connect(0);
    let mut last = usize::MAX;
    loop {
        ping(&mut other);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = seen.replies.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    let held = seen.max_queued.load(Ordering::SeqCst);
    assert!(
        held <= hw + REPLY,
        "a connection held {held} bytes, over the high-water mark {hw} plus one reply"
    );
    assert!(
        last < GETS / 10,
        "{last} replies of {REPLY} bytes made for a client that never reads"
    );
    assert!(seen.log.snapshot().is_empty(), "{:?}", seen.log.snapshot());
    assert!(seen.stopped_early.load(Ordering::SeqCst) > 0);

    let mut reader = srv.connect(0);
    reader.write_all(&b"GET\n".repeat(GETS)).unwrap();
    read_replies(&mut reader, GETS);
    ping(&mut reader);
    ping(&mut other);
    let held = seen.max_queued.load(Ordering::SeqCst);
    assert!(held <= hw + REPLY, "a connection held {held} bytes");
    drop(sink);
    srv.stop().unwrap();
}

per_backend!(pipelined_amplification_is_bounded_and_a_reader_gets_every_reply,);
