//! Nothing one client or one handler does can take the server down (issue
//! 11): output the loop owns and bounds, limits per connection and per loop,
//! kept input presented again once output drains, reading paused by code,
//! fair turns, no half-dead loop after a panic inside it, ids that never
//! alias, wakes that coalesce, UDP remotes bounded.
//!
//! Each test names, in a comment, how it was checked to fail without the
//! feature it tests (by breaking that feature in the library for a run).

mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Handler};

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

    fn closed(&mut self, _: &mut Conn<'_, u64>, e: Option<io::Error>) {
        let detail = e.as_ref().and_then(revio::Error::of).cloned();
        self.seen.log.push(format!("closed {} {detail:?}", why(&e)));
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
fn ping(s: &mut TcpStream) {
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
        std::thread::sleep(Duration::from_millis(50));
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


/// Reads until the stream ends; returns what came and how it ended.
fn read_to_end(s: &mut TcpStream) -> (usize, io::Result<()>) {
    let mut buf = vec![0; 1 << 16];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (total, Ok(())),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (total, Err(e)),
        }
    }
}

/// The same handler written the wrong way (it ignores `is_congested`) with a
/// small `max_output`: the write that crosses the limit closes the
/// connection with `OutputLimit`, without sending what was queued (the
/// peer gets a reset, never a clean end of a cut stream), and the loop goes
/// on serving the others.
///
/// Checked to fail without the feature: with `Output::admit` always
/// admitting, the connection is never closed (the wait for `closed` times
/// out).
fn handler_ignoring_congestion_is_closed_at_max_output(b: Backend) {
    let h = Amplifier::new(false);
    let seen = h.seen.clone();
    let limit = 1 << 20;
    let srv = start_with(b, Config::new().max_output(limit), h, &["tcp://127.0.0.1:0"]);
    let mut other = srv.connect(0);
    ping(&mut other);
    let mut sink = srv.connect(0);
    sink.write_all(&b"GET\n".repeat(GETS)).unwrap();
    seen.log.wait_for("closed", |l| !l.is_empty());
    assert_eq!(
        seen.log.snapshot(),
        [format!("closed OutputLimit Some(OutputLimit {{ limit: {limit} }})")]
    );
    let held = seen.max_queued.load(Ordering::SeqCst);
    assert!(held <= limit, "{held} bytes queued, over the limit {limit}");
    let (got, end) = read_to_end(&mut sink);
    assert!(got < limit, "{got} bytes sent to a connection closed at its limit");
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset),
        "a connection closed at its limit ends with a reset"
    );
    ping(&mut other);
    srv.stop().unwrap();
}

// ----- output from `woken` (and every other path) is bounded ----------------

/// Writes 1 MiB through `io::Write` at each wake, to a peer that never reads.
#[derive(Clone, Default)]
struct WakeWriter {
    ids: Arc<Mutex<Vec<ConnId>>>,
    woken: Arc<AtomicUsize>,
    max_queued: Arc<AtomicUsize>,
    write_errors: Log,
    log: Log,
}

impl Handler for WakeWriter {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.ids.lock().unwrap().push(c.id());
        Action::None
    }
    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.woken.fetch_add(1, Ordering::SeqCst);
        let mib = vec![b'w'; 1 << 20];
        if let Err(e) = c.output().write_all(&mib) {
            self.write_errors.push(why(&Some(e)));
        }
        self.max_queued.fetch_max(c.queued(), Ordering::SeqCst);
        Action::None
    }
    fn postwrite(&mut self, c: &mut Conn<'_, ()>, _: usize, _: usize) -> Action {
        self.max_queued.fetch_max(c.queued(), Ordering::SeqCst);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", why(&e)));
    }
}

/// 64 wakes, each writing 1 MiB to a peer that never reads: the write that
/// would take the queue past `max_output` fails with `OutputLimit`, the
/// connection is closed with it, and no more than the limit is ever queued.
///
/// Checked to fail without the feature: with `Output::admit` always
/// admitting, 64 MiB are queued and the connection stays open.
fn output_written_in_woken_is_bounded(b: Backend) {
    let h = WakeWriter::default();
    let (ids, woken, max_queued, write_errors, log) = (
        h.ids.clone(),
        h.woken.clone(),
        h.max_queued.clone(),
        h.write_errors.clone(),
        h.log.clone(),
    );
    let limit = 4 << 20;
    let srv = start_with(b, Config::new().max_output(limit), h, &["tcp://127.0.0.1:0"]);
    let sink = srv.connect(0);
    wait_until("opened", || !ids.lock().unwrap().is_empty());
    let id = ids.lock().unwrap()[0];
    let mut wakes = 0;
    for _ in 0..64 {
        let before = woken.load(Ordering::SeqCst);
        if !srv.server.wake(id) {
            break;
        }
        wakes += 1;
        // One wake at a time: wakes coalesce, and each must write its MiB.
        wait_until("woken", || {
            woken.load(Ordering::SeqCst) > before || !srv.server.is_live(id)
        });
    }
    log.wait_for("closed", |l| !l.is_empty());
    assert_eq!(log.snapshot(), ["closed OutputLimit"]);
    assert_eq!(write_errors.snapshot(), ["OutputLimit"]);
    assert!(wakes < 64, "64 MiB written to a peer that never reads");
    let held = max_queued.load(Ordering::SeqCst);
    assert!(held <= limit, "{held} bytes queued, over the limit {limit}");
    assert!(!srv.server.wake(id));
    drop(sink);
    srv.stop().unwrap();
}

/// Writes too much on the other paths: a greeting over the limit in
/// `opened` (address 0), more at every `postwrite` to a peer that never
/// reads, past the limit once the socket is full (address 1), a UDP reply longer than a datagram (address 2).
/// Address 3 echoes.
#[derive(Clone, Default)]
struct Overflow {
    log: Log,
}

const OVERFLOW_LIMIT: usize = 1 << 20;

impl Handler for Overflow {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        if c.addr_index() == Some(0) {
            c.write(&vec![b'o'; OVERFLOW_LIMIT + 1]);
        }
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        match c.addr_index() {
            Some(2) => c.write(&vec![b'u'; 70_000]),
            _ => c.write(input),
        }
        Action::None
    }
    fn postwrite(&mut self, c: &mut Conn<'_, ()>, _: usize, remaining: usize) -> Action {
        if c.addr_index() == Some(1) {
            // Once the socket is full: one byte more than the limit leaves.
            let n = if remaining > 0 { c.output().room() + 1 } else { 1 << 16 };
            c.write(&vec![b'p'; n]);
        }
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log
            .push(format!("closed {} {}", c.addr_index().unwrap(), why(&e)));
    }
}

/// `max_output` holds on every path that writes, not only `data`: a
/// greeting in `opened`, output that `postwrite` adds, and a UDP reply too
/// long for one datagram.
///
/// Checked to fail without the feature: with `Output::admit` always
/// admitting, the greeting is sent and the `postwrite` connection is never
/// closed.
fn every_path_that_writes_is_bounded(b: Backend) {
    let h = Overflow::default();
    let log = h.log.clone();
    let cfg = Config::new().max_output(OVERFLOW_LIMIT);
    let addrs = [
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:0",
        "udp://127.0.0.1:0",
        "tcp://127.0.0.1:0",
    ];
    let srv = start_with(b, cfg, h, &addrs);
    let mut greeted = srv.connect(0);
    log.wait_for("the greeting's close", |l| l.len() == 1);
    assert_eq!(read_to_end(&mut greeted).0, 0, "a greeting over the limit was sent");
    let mut pumped = srv.connect(1);
    pumped.write_all(b"go").unwrap();
    log.wait_for("the postwrite's close", |l| l.len() == 2);
    let udp = udp_client(&srv, 2, "127.0.0.1:0");
    udp.send(b"big?").unwrap();
    log.wait_for("the UDP close", |l| l.len() == 3);
    assert_eq!(
        log.snapshot(),
        ["closed 0 OutputLimit", "closed 1 OutputLimit", "closed 2 OutputLimit"]
    );
    let mut echo = srv.connect(3);
    assert_eq!(roundtrip(&mut echo, b"still here"), b"still here");
    drop(pumped);
    srv.stop().unwrap();
}

// ----- a handler that writes, then panics ------------------------------------

/// Echoes; `panic` writes a partial reply, then panics.
#[derive(Clone, Default)]
struct WritesThenPanics {
    log: Log,
}

impl Handler for WritesThenPanics {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        if input.starts_with(b"panic") {
            panic!("panicked after writing, on purpose");
        }
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", why(&e)));
    }
}

/// A handler that panics after writing part of a reply closes only that
/// connection (TCP and UDP alike): the partial reply is never sent, and the
/// loop's own count of queued output stays right, so the loop goes on.
///
/// Found: the bytes the panicking call wrote stayed in the connection's
/// output uncounted, and closing it subtracted them from the loop's total:
/// an overflow, so a panic inside the loop that stopped the whole server.
fn handler_panic_after_writing_closes_only_that_connection(b: Backend) {
    let h = WritesThenPanics::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]);
    let mut good = srv.connect(0);
    assert_eq!(roundtrip(&mut good, b"hello"), b"hello");
    let mut bad = srv.connect(0);
    bad.write_all(b"panic").unwrap();
    log.wait_for("closed", |l| !l.is_empty());
    let (got, _) = read_to_end(&mut bad);
    assert_eq!(got, 0, "the panicking call's output was sent");
    let udp = udp_client(&srv, 1, "127.0.0.1:0");
    udp.send(b"panic").unwrap();
    log.wait_for("the UDP remote's close", |l| l.len() == 2);
    assert_eq!(log.snapshot(), ["closed Panic", "closed Panic"]);
    assert_eq!(roundtrip(&mut good, b"still here"), b"still here");
    udp.send(b"again").unwrap();
    assert_eq!(recv(&udp), "again");
    srv.stop().unwrap();
}

// ----- the loop's budget ---------------------------------------------------

/// Echoes, and keeps what each connection has queued, by id, as the loop
/// reports it (after each call and each send), to check the loop's total.
#[derive(Clone, Default)]
struct Accounted {
    queued: Arc<Mutex<HashMap<ConnId, usize>>>,
    /// Ports of connections whose output went over the high-water mark.
    congested: Arc<Mutex<Vec<u16>>>,
    max_total: Arc<AtomicUsize>,
    /// Closed for the budget while not the largest holder.
    wrong_victim: Log,
    log: Log,
}

impl Accounted {
    fn record(&self, c: &Conn<'_, ()>) {
        let mut q = self.queued.lock().unwrap();
        q.insert(c.id(), c.queued());
        let total = q.values().sum::<usize>();
        self.max_total.fetch_max(total, Ordering::SeqCst);
        if c.is_congested() {
            let port = c.remote_addr().unwrap().port().unwrap();
            self.congested.lock().unwrap().push(port);
        }
    }
}

impl Handler for Accounted {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        self.record(c);
        Action::None
    }
    fn postwrite(&mut self, c: &mut Conn<'_, ()>, _: usize, _: usize) -> Action {
        self.record(c);
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        let mut q = self.queued.lock().unwrap();
        q.remove(&c.id());
        if let Some(revio::Error::LoopOutputBudget { held, .. }) = e.as_ref().and_then(revio::Error::of) {
            let largest = q.values().copied().max().unwrap_or(0);
            if *held < largest || *held != c.queued() {
                self.wrong_victim
                    .push(format!("held {held} (queued {}), another {largest}", c.queued()));
            }
        }
        self.log.push(why(&e));
    }
}

/// 40 echo clients that write and never read, against a loop budget of
/// 4 MiB (a high-water mark of 1 MiB lets each hold about that much): the
/// loop's total never goes past the budget by more than one call's output
/// (one read: 64 KiB), the connections closed are each the largest holder
/// at the time, with `LoopOutputBudget`, and a client that reads is served
/// throughout.
///
/// Checked to fail without the feature: with `enforce_budget` never called,
/// the 40 connections hold 40 MiB between them and none is closed.
fn non_reading_clients_are_bounded_by_the_loop_budget(b: Backend) {
    const CLIENTS: usize = 40;
    let h = Accounted::default();
    let (congested, max_total, wrong_victim, log) = (
        h.congested.clone(),
        h.max_total.clone(),
        h.wrong_victim.clone(),
        h.log.clone(),
    );
    let budget = 4 << 20;
    let cfg = Config::new().loop_output_budget(budget).high_water(1 << 20);
    let srv = start_with(b, cfg, h, &["tcp://127.0.0.1:0"]);
    let mut reader = srv.connect(0);
    assert_eq!(roundtrip(&mut reader, b"hi"), b"hi");
    let addr: std::net::SocketAddr = srv.addr(0).parse().unwrap();
    let chunk = vec![b'e'; 1 << 16];
    // Each writer stops once the server stopped reading it (its output went
    // over the high-water mark) or closed it.
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (congested, chunk) = (congested.clone(), chunk.clone());
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            // A small receive buffer: the kernel keeps little of the echo.
            s.set_recv_buffer_size(4096).unwrap();
            s.connect(&addr.into()).unwrap();
            let mut s: TcpStream = s.into();
            s.set_nonblocking(true).unwrap();
            std::thread::spawn(move || {
                let port = s.local_addr().unwrap().port();
                let deadline = std::time::Instant::now() + LIMIT;
                while !congested.lock().unwrap().contains(&port) {
                    assert!(std::time::Instant::now() < deadline, "the server kept reading");
                    match s.write(&chunk) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        Err(_) => break, // closed by the server
                    }
                }
                s
            })
        })
        .collect();
    let mut clients = Vec::new();
    for w in writers {
        while !w.is_finished() {
            assert_eq!(roundtrip(&mut reader, b"still served"), b"still served");
        }
        clients.push(w.join().expect("a writer"));
    }
    assert_eq!(roundtrip(&mut reader, b"hi"), b"hi");
    let total = max_total.load(Ordering::SeqCst);
    assert!(
        total <= budget + (1 << 16),
        "the loop held {total} bytes, over its budget {budget} plus one read"
    );
    let closed = log.snapshot();
    assert!(!closed.is_empty(), "no connection closed for the budget");
    assert!(closed.iter().all(|w| w == "LoopOutputBudget"), "{closed:?}");
    assert!(wrong_victim.snapshot().is_empty(), "{:?}", wrong_victim.snapshot());
    drop(clients);
    srv.stop().unwrap();
}

per_backend!(
    pipelined_amplification_is_bounded_and_a_reader_gets_every_reply,
    handler_ignoring_congestion_is_closed_at_max_output,
    output_written_in_woken_is_bounded,
    every_path_that_writes_is_bounded,
    handler_panic_after_writing_closes_only_that_connection,
    non_reading_clients_are_bounded_by_the_loop_budget,
);
