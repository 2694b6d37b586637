//! What a server author reaches for: abort (from an action, from `Conn`, from
//! the `Server`), input wanted (`Conn::want`), the state and output borrowed
//! together (`Conn::parts`), the loop's clock, and `tick` with its loop.

mod common;

use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Handler, Tick};

// ----- abort -----------------------------------------------------------------

/// On `abort` in the input, answers `reply` then aborts in the chosen way;
/// otherwise echoes. Pauses reading on `pause` so output piles up.
#[derive(Clone, Default)]
struct Aborter {
    log: Log,
    ids: Arc<Mutex<Vec<ConnId>>>,
    /// Abort with `Conn::abort` rather than returning the action.
    by_call: bool,
}

impl Handler for Aborter {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.ids.lock().unwrap().push(c.id());
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input.starts_with(b"big") {
            // More than loopback buffers hold: most of it stays queued.
            c.write(&vec![b'x'; 16 << 20]);
            return Action::None;
        }
        if input.starts_with(b"abort") {
            c.write(b"this reply must never arrive\n");
            if self.by_call {
                c.abort();
                return Action::None; // the request wins over the action
            }
            return Action::Abort;
        }
        c.write(input);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", why(&e)));
    }
}

fn aborted_reply(b: Backend, by_call: bool) {
    let h = Aborter {
        by_call,
        ..Aborter::default()
    };
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    assert_eq!(roundtrip(&mut c, b"hello"), b"hello");
    c.write_all(b"abort").unwrap();
    let (got, end) = read_until_end(&mut c);
    assert!(
        got.is_empty(),
        "bytes after the abort: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_reset(end, "an aborted connection");
    log.wait_count("closed", 1);
    assert_eq!(log.snapshot(), ["closed Aborted"]);
    // Others are served as before.
    let mut d = srv.connect(0);
    assert_eq!(roundtrip(&mut d, b"still"), b"still");
    srv.stop().unwrap();
}

fn action_abort_resets_the_peer_and_closed_reports_it(b: Backend) {
    aborted_reply(b, false);
}

fn conn_abort_drops_the_reply_and_resets(b: Backend) {
    aborted_reply(b, true);
}

/// Output queued for a peer that does not read is dropped by
/// `Server::abort` from another thread: the peer reads far less than was
/// queued, then a reset.
fn server_abort_drops_queued_output_from_another_thread(b: Backend) {
    let h = Aborter::default();
    let (log, ids) = (h.log.clone(), h.ids.clone());
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"big").unwrap();
    wait_until("opened", || !ids.lock().unwrap().is_empty());
    let id = ids.lock().unwrap()[0];
    // Let the loop queue the 16 MiB (the client has not read a byte).
    std::thread::sleep(Duration::from_millis(100));
    assert!(srv.server.abort(id));
    log.wait_count("closed", 1);
    assert_eq!(log.snapshot(), ["closed Aborted"]);
    wait_until("the id is retired", || !srv.server.is_live(id));
    assert!(!srv.server.abort(id), "a closed id answers false");
    let (got, end) = read_until_end(&mut c);
    assert!(got.len() < 16 << 20, "all {} bytes arrived", got.len());
    assert_reset(end, "a connection aborted with output queued");
    srv.stop().unwrap();
}

/// On UDP, an abort sends nothing and forgets the remote: its next
/// datagram opens it again.
fn abort_on_udp_sends_nothing_and_forgets_the_remote(b: Backend) {
    #[derive(Clone, Default)]
    struct Udp(Log);
    impl Handler for Udp {
        type State = ();
        fn opened(&mut self, _: &mut Conn<'_, ()>) -> Action {
            self.0.push("opened");
            Action::None
        }
        fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
            c.write(input);
            if input == b"abort" {
                Action::Abort
            } else {
                Action::None
            }
        }
        fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
            self.0.push(format!("closed {}", why(&e)));
        }
    }
    let h = Udp::default();
    let log = h.0.clone();
    let srv = start(b, h, &["udp://127.0.0.1:0"]);
    let u = udp_client(&srv, 0, "127.0.0.1:0");
    u.send(b"abort").unwrap();
    log.wait_count("closed", 1);
    u.send(b"again").unwrap();
    assert_eq!(recv(&u), "again", "the aborted datagram's reply was sent");
    assert_eq!(log.snapshot(), ["opened", "closed Aborted", "opened"]);
    srv.stop().unwrap();
}

// ----- input wanted ----------------------------------------------------------

/// Frames of a 4-byte big-endian length and a body; answers each with
/// `<len> <input length seen>\n`. Waits for a whole frame with `want`.
#[derive(Clone, Default)]
struct Frames {
    /// Per `data` call: the length of the input it was given.
    calls: Arc<Mutex<Vec<usize>>>,
    log: Log,
}

impl Handler for Frames {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        self.calls.lock().unwrap().push(input.len());
        let mut rest = input;
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if rest.len() < 4 + len {
                break;
            }
            c.write(format!("{len} {}\n", input.len()).as_bytes());
            rest = &rest[4 + len..];
        }
        let mut p = c.parts();
        p.input.keep(rest.len());
        if rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            p.input.want(4 + len);
        }
        Action::None
    }
    fn eof(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push("eof");
        let _ = c;
        Action::Close
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", why(&e)));
    }
}

fn frame(len: usize) -> Vec<u8> {
    let mut f = (len as u32).to_be_bytes().to_vec();
    f.extend((0..len).map(|i| (i % 251) as u8));
    f
}

/// A 1 MB value sent in 4 KiB pieces, with a second frame right behind it:
/// `data` is called once with the header (it asks for the whole frame),
/// then once with exactly the frame. The loop reads no further than it was
/// asked to (on io_uring, at most one receive buffer further), so the held
/// input never passes a limit just above the frame.
fn want_gives_one_data_call_for_a_large_value_in_small_pieces(b: Backend) {
    const VALUE: usize = 1_000_000;
    let h = Frames::default();
    let calls = h.calls.clone();
    // The limit leaves less than one read buffer (64 KiB) above the frame:
    // reading past what was wanted would trip it.
    let cfg = Config::new().max_input(VALUE + 4 + 16 * 1024);
    let srv = start_with(b, cfg, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let mut all = frame(VALUE);
    all.extend(frame(10));
    let (head, body) = all.split_at(8);
    c.write_all(head).unwrap();
    // The first call sees only the header: it asks for the whole frame.
    wait_until("the first data call", || !calls.lock().unwrap().is_empty());
    for piece in body.chunks(4096) {
        c.write_all(piece).unwrap();
    }
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    io::BufRead::read_line(&mut r, &mut line).unwrap();
    let seen: usize = line.trim().split(' ').nth(1).unwrap().parse().unwrap();
    assert!(line.starts_with(&format!("{VALUE} ")), "{line:?}");
    if b == Backend::Uring {
        // The kernel fills whole receive buffers (4 KiB by default).
        assert!((VALUE + 4..VALUE + 4 + 4096).contains(&seen), "{seen}");
    } else {
        assert_eq!(seen, VALUE + 4, "the loop read past the frame");
    }
    line.clear();
    io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert!(line.starts_with("10 "), "{line:?}");
    let calls = calls.lock().unwrap().clone();
    let big: Vec<_> = calls.iter().filter(|&&n| n >= VALUE + 4).collect();
    assert_eq!(big.len(), 1, "one call for the whole value: {calls:?}");
    // Header alone, the frame, and (unless it came with the frame) the tail.
    assert!(calls.len() <= 3, "a data call per piece: {calls:?}");
    srv.stop().unwrap();
}

/// The stream ends before the wanted length: `data` gets what came, then
/// `eof`.
fn want_at_end_of_stream_gets_what_came_then_eof(b: Backend) {
    let h = Frames::default();
    let (calls, log) = (h.calls.clone(), h.log.clone());
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let f = frame(100_000);
    c.write_all(&f[..8]).unwrap();
    wait_until("the first data call", || !calls.lock().unwrap().is_empty());
    c.write_all(&f[8..20_008]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    log.wait_count("closed", 1);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.last(), Some(&20_008), "{calls:?}");
    assert_eq!(log.snapshot(), ["eof", "closed ok"]);
    srv.stop().unwrap();
}

/// A wanted length no limit can hold closes the connection with the input
/// limit's error when the handler returns.
fn want_over_max_input_closes_with_the_input_limit(b: Backend) {
    let h = Frames::default();
    let log = h.log.clone();
    let srv = start_with(b, Config::new().max_input(1000), h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(&frame(5000)[..8]).unwrap();
    log.wait_count("closed", 1);
    assert_eq!(log.snapshot(), ["closed InputLimit"]);
    let (_, end) = read_until_end(&mut c);
    let _ = end; // a clean end or a reset: either way closed at once
    srv.stop().unwrap();
}

// ----- the clock, tick with its loop -----------------------------------------

/// Answers each request with the loop's clock, and records what `tick` sees.
#[derive(Clone, Default)]
struct Clocked {
    stamps: Arc<Mutex<Vec<(Instant, u64)>>>,
    ticks: Log,
}

impl Handler for Clocked {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        let clock = c.clock();
        assert_eq!(clock, c.clock(), "one time per call");
        self.stamps
            .lock()
            .unwrap()
            .push((clock.now(), clock.unix_millis()));
        c.write(b"ok");
        Action::None
    }
    fn tick(&mut self, tick: &Tick<'_>) -> (Option<Duration>, Action) {
        let s = tick.server();
        self.ticks.push(format!(
            "tick loop {} of {} addrs {} at {}",
            tick.loop_index(),
            s.loops(),
            s.addrs().len(),
            tick.clock().unix_millis() > 0
        ));
        let both = self.ticks.count("tick loop 0") > 0 && self.ticks.count("tick loop 1") > 0;
        if tick.loop_index() == 0 && both {
            return (None, Action::Shutdown);
        }
        (Some(Duration::from_millis(20)), Action::None)
    }
}

fn the_clock_advances_per_turn_and_follows_the_wall_clock(b: Backend) {
    let h = Clocked::default();
    let stamps = h.stamps.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    assert_eq!(ask(&mut c, b"1", 2), b"ok");
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(ask(&mut c, b"2", 2), b"ok");
    srv.stop().unwrap();
    let s = stamps.lock().unwrap().clone();
    assert_eq!(s.len(), 2);
    assert!(s[1].0 > s[0].0, "the clock did not move between turns: {s:?}");
    let wall = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // The loop's wall clock is the system's, read at most a second ago.
    assert!(wall.abs_diff(s[1].1) < 5_000, "{} against {wall}", s[1].1);
    assert!(s[1].1 >= s[0].1);
}

/// Two loops: each ticks with its own index and the whole server's handle;
/// loop 0 ends the server once both have ticked (a job run once per server).
fn tick_sees_the_server_and_its_loop(b: Backend) {
    let ticks = Log::default();
    let t = ticks.clone();
    let serve = std::thread::spawn(move || {
        Config::new().backend(b).loops(2).serve_with(
            |_| Clocked {
                ticks: t.clone(),
                ..Clocked::default()
            },
            ["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"],
        )
    });
    ticks.wait_for("ticks on both loops", |l| {
        l.iter().any(|t| t.starts_with("tick loop 0")) && l.iter().any(|t| t.starts_with("tick loop 1"))
    });
    let deadline = Instant::now() + LIMIT;
    while !serve.is_finished() {
        assert!(Instant::now() < deadline, "serve did not return");
        std::thread::sleep(Duration::from_millis(5));
    }
    serve.join().unwrap().unwrap();
    for t in ticks.snapshot() {
        assert!(t.ends_with("of 2 addrs 2 at true"), "{t}");
    }
}

per_backend!(
    action_abort_resets_the_peer_and_closed_reports_it,
    conn_abort_drops_the_reply_and_resets,
    server_abort_drops_queued_output_from_another_thread,
    abort_on_udp_sends_nothing_and_forgets_the_remote,
    want_gives_one_data_call_for_a_large_value_in_small_pieces,
    want_at_end_of_stream_gets_what_came_then_eof,
    want_over_max_input_closes_with_the_input_limit,
    the_clock_advances_per_turn_and_follows_the_wall_clock,
    tick_sees_the_server_and_its_loop,
);
