//! The event model of SPEC.md over real TCP and unix sockets: order of events,
//! data and unconsumed input, output and actions, tick, wake, addresses.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use revio::{Action, Addr, Backend, Config, Conn, Handler, Server};

/// Records every event in order.
#[derive(Clone, Default)]
struct Recorder {
    log: Log,
}

impl Handler for Recorder {
    type State = ();
    fn serving(&mut self, s: &Server) -> Action {
        self.log.push(format!("serving {}", s.addrs().len()));
        Action::None
    }
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("opened {}", c.id()));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        self.log.push(format!("data {}", c.id()));
        c.write(input);
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log
            .push(format!("closed {} {:?}", c.id(), e.map(|e| e.kind())));
    }
}

fn serving_before_opened_and_one_closed_per_opened(b: Backend) {
    let rec = Recorder::default();
    let log = rec.log.clone();
    let srv = start(b, rec, &["tcp://127.0.0.1:0"]);
    for _ in 0..5 {
        let mut c = srv.connect(0);
        assert_eq!(roundtrip(&mut c, b"hi"), b"hi");
    }
    log.wait_for("5 closed", |l| {
        l.iter().filter(|e| e.starts_with("closed")).count() == 5
    });
    srv.stop().unwrap();
    let l = log.snapshot();
    assert_eq!(l[0], "serving 1");
    for e in l.iter().filter(|e| e.starts_with("opened")) {
        let id = e.strip_prefix("opened ").unwrap();
        let opened_at = l.iter().position(|x| x == e).unwrap();
        let closes: Vec<_> = l
            .iter()
            .enumerate()
            .filter(|(_, x)| x.starts_with(&format!("closed {id} ")))
            .collect();
        assert_eq!(closes.len(), 1, "exactly one closed for {id}: {l:?}");
        assert!(closes[0].0 > opened_at);
        assert_eq!(
            closes[0].1,
            &format!("closed {id} None"),
            "peer EOF closes with no error"
        );
    }
    assert_eq!(log.count("opened"), 5);
}

fn large_echo_in_pieces_arrives_intact(b: Backend) {
    let srv = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut w = c.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        for chunk in sent.chunks(100_003) {
            w.write_all(chunk).unwrap();
        }
    });
    let got = read_n(&mut c, data.len());
    writer.join().unwrap();
    assert!(got == data, "echoed bytes differ");
    srv.stop().unwrap();
}

/// Answers each complete line; a partial line waits via `keep`.
#[derive(Clone, Default)]
struct Lines {
    calls: Log,
}

impl Handler for Lines {
    type State = u32;
    fn data(&mut self, c: &mut Conn<'_, u32>, input: &[u8]) -> Action {
        self.calls.push(String::from_utf8_lossy(input).to_string());
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            *c.state() += 1;
            let n = *c.state();
            c.write(format!("{n}:").as_bytes());
            c.write(&rest[..=nl]);
            rest = &rest[nl + 1..];
        }
        c.keep(rest.len());
        Action::None
    }
}

fn unconsumed_input_is_presented_again(b: Backend) {
    let h = Lines::default();
    let calls = h.calls.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"hel").unwrap();
    calls.wait_for("first data", |l| l.len() == 1);
    c.write_all(b"lo\nwor").unwrap();
    assert_eq!(read_n(&mut c, 8), b"1:hello\n");
    c.write_all(b"ld\n").unwrap();
    assert_eq!(read_n(&mut c, 8), b"2:world\n");
    let l = calls.snapshot();
    assert_eq!(l, vec!["hel", "hello\nwor", "world\n"]);
    srv.stop().unwrap();
}

#[derive(Clone)]
struct Greeter;

impl Handler for Greeter {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.write(b"welcome\n");
        Action::None
    }
}

fn greeting_written_in_opened(b: Backend) {
    let srv = start(b, Greeter, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    assert_eq!(read_n(&mut c, 8), b"welcome\n");
    srv.stop().unwrap();
}

/// Writes a big reply and closes: everything must arrive before the EOF.
#[derive(Clone)]
struct BigThenClose;

impl Handler for BigThenClose {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        c.write(&vec![b'x'; 6 * 1024 * 1024]);
        c.write(b"END");
        Action::Close
    }
}

fn close_flushes_queued_output_first(b: Backend) {
    let srv = start(b, BigThenClose, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"go").unwrap();
    // Read slowly at first so the server must queue and wait for writability.
    std::thread::sleep(Duration::from_millis(100));
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 6 * 1024 * 1024 + 3);
    assert!(all.ends_with(b"END"));
    srv.stop().unwrap();
}

#[derive(Clone, Default)]
struct ShutdownOnData {
    log: Log,
}

impl Handler for ShutdownOnData {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input == b"stop" {
            c.write(b"bye");
            return Action::Shutdown;
        }
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, _: Option<io::Error>) {
        self.log.push(format!("closed {}", c.id()));
    }
}

fn shutdown_from_data_closes_every_connection(b: Backend) {
    let h = ShutdownOnData::default();
    let log = h.log.clone();
    let mut srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut others: Vec<TcpStream> = (0..3).map(|_| srv.connect(0)).collect();
    let mut c = srv.connect(0);
    for o in &mut others {
        o.write_all(b"hello").unwrap(); // data proves each is open on the server
    }
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"stop").unwrap();
    srv.join().unwrap();
    assert_eq!(read_n(&mut c, 3), b"bye", "queued output is flushed on shutdown");
    assert_eq!(log.count("closed"), 4);
    for o in &mut others {
        let mut buf = [0u8; 1];
        assert_eq!(o.read(&mut buf).unwrap_or(0), 0, "closed by shutdown");
    }
}

#[derive(Clone, Default)]
struct Ticker {
    log: Log,
    at: Arc<Mutex<Vec<Instant>>>,
}

impl Handler for Ticker {
    type State = ();
    fn serving(&mut self, _: &Server) -> Action {
        self.log.push("serving");
        Action::None
    }
    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        let mut at = self.at.lock().unwrap();
        at.push(Instant::now());
        self.log.push("tick");
        if at.len() == 4 {
            return (None, Action::Shutdown);
        }
        (Some(Duration::from_millis(30)), Action::None)
    }
}

fn tick_first_after_serving_then_at_delay_and_can_shut_down(b: Backend) {
    let h = Ticker::default();
    let (log, at) = (h.log.clone(), h.at.clone());
    let mut srv = start(b, h, &["tcp://127.0.0.1:0"]);
    srv.join().unwrap();
    assert_eq!(log.snapshot(), vec!["serving", "tick", "tick", "tick", "tick"]);
    // Lower bounds only: tick k is due 30 ms * k after the first was due,
    // which is a little before the first ran (a precise timer, as
    // io_uring's, fires within that little of the due time): 1 ms of slack.
    let at = at.lock().unwrap();
    for k in 1..4 {
        assert!(
            at[k] - at[0] + Duration::from_millis(1) >= Duration::from_millis(30 * k as u64),
            "tick {k} came early: {:?}",
            at.iter().map(|a| *a - at[0]).collect::<Vec<_>>()
        );
    }
}

/// A zero delay must not starve the sockets.
#[derive(Clone, Default)]
struct BusyTicker {
    ticks: Arc<Mutex<u64>>,
}

impl Handler for BusyTicker {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        *self.ticks.lock().unwrap() += 1;
        (Some(Duration::ZERO), Action::None)
    }
}

fn zero_delay_tick_still_serves_sockets(b: Backend) {
    let h = BusyTicker::default();
    let ticks = h.ticks.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    for _ in 0..20 {
        assert_eq!(roundtrip(&mut c, b"ping"), b"ping");
    }
    assert!(*ticks.lock().unwrap() > 1);
    srv.stop().unwrap();
}

fn shutdown_from_another_thread(b: Backend) {
    let rec = Recorder::default();
    let log = rec.log.clone();
    let srv = start(b, rec, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    assert_eq!(roundtrip(&mut c, b"x"), b"x");
    let s = srv.server.clone();
    std::thread::spawn(move || s.shutdown()).join().unwrap();
    srv.stop().unwrap();
    assert_eq!(log.count("closed"), 1);
    let mut buf = [0u8; 1];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
}

/// Replies "woke" on each wake; reports its id on connect.
#[derive(Clone, Default)]
struct Wakeable {
    ids: Arc<Mutex<Vec<revio::ConnId>>>,
    log: Log,
}

impl Handler for Wakeable {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.ids.lock().unwrap().push(c.id());
        Action::None
    }
    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("woken {}", c.id()));
        c.write(b"woke\n");
        Action::None
    }
}

fn wake_from_another_thread_reaches_the_right_connection(b: Backend) {
    let h = Wakeable::default();
    let ids = h.ids.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut a = srv.connect(0);
    wait_until("a opened", || ids.lock().unwrap().len() == 1);
    let mut c = srv.connect(0);
    wait_until("c opened", || ids.lock().unwrap().len() == 2);
    let id_c = ids.lock().unwrap()[1];
    let s = srv.server.clone();
    assert!(std::thread::spawn(move || s.wake(id_c)).join().unwrap());
    assert_eq!(read_n(&mut c, 5), b"woke\n");
    a.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 8];
    assert!(a.read(&mut buf).is_err(), "the other connection was not woken");
    srv.stop().unwrap();
}

fn stale_wake_returns_false_and_never_reaches_a_new_connection(b: Backend) {
    let h = Wakeable::default();
    let (ids, log) = (h.ids.clone(), h.log.clone());
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let c = srv.connect(0);
    wait_until("opened", || ids.lock().unwrap().len() == 1);
    let old = ids.lock().unwrap()[0];
    drop(c);
    wait_until("old id dead", || !srv.server.is_live(old));
    assert!(!srv.server.wake(old));
    // A new connection takes the freed slot; the old id must not reach it.
    let mut d = srv.connect(0);
    wait_until("second opened", || ids.lock().unwrap().len() == 2);
    let new = ids.lock().unwrap()[1];
    assert_ne!(old, new);
    assert!(!srv.server.wake(old));
    assert!(srv.server.wake(new));
    assert_eq!(read_n(&mut d, 5), b"woke\n");
    assert_eq!(log.snapshot(), vec![format!("woken {new}")]);
    srv.stop().unwrap();
}

fn wakes_from_many_threads_are_not_lost(b: Backend) {
    // Each wake is answered; coalescing is allowed, so count the woken calls
    // against a counter the wakers bump.
    #[derive(Clone, Default)]
    struct Counter {
        pending: Arc<Mutex<u32>>,
        ids: Arc<Mutex<Vec<revio::ConnId>>>,
    }
    impl Handler for Counter {
        type State = ();
        fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
            self.ids.lock().unwrap().push(c.id());
            Action::None
        }
        fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
            let n = std::mem::take(&mut *self.pending.lock().unwrap());
            for _ in 0..n {
                c.write(b".");
            }
            Action::None
        }
    }
    let h = Counter::default();
    let (pending, ids) = (h.pending.clone(), h.ids.clone());
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    wait_until("opened", || ids.lock().unwrap().len() == 1);
    let id = ids.lock().unwrap()[0];
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (s, p) = (srv.server.clone(), pending.clone());
            std::thread::spawn(move || {
                for _ in 0..250 {
                    *p.lock().unwrap() += 1;
                    assert!(s.wake(id));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(read_n(&mut c, 1000).len(), 1000);
    srv.stop().unwrap();
}

/// Tells which bound address a connection came in on.
#[derive(Clone)]
struct WhichAddr;

impl Handler for WhichAddr {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        let local = c.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let line = format!("{} {}\n", c.addr_index().unwrap(), local);
        c.write(line.as_bytes());
        Action::None
    }
}

fn two_addresses_tcp_and_unix_on_one_loop(b: Backend) {
    let path = TempPath::new("two");
    let srv = start(b, WhichAddr, &["tcp://127.0.0.1:0", &path.url()]);
    assert!(matches!(srv.server.addrs()[0], Addr::Tcp(_)));
    assert_eq!(srv.server.addrs()[1], Addr::Unix(Some(path.0.clone())));
    let mut t = srv.connect(0);
    t.write_all(b"?").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut t), &mut line).unwrap();
    assert_eq!(
        line,
        format!("0 tcp://{}\n", t.local_addr().map(|_| srv.addr(0)).unwrap())
    );
    let mut u = unix_connect(&path.0);
    u.write_all(b"?").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut u), &mut line).unwrap();
    assert_eq!(line, format!("1 unix://{}\n", path.0.display()));
    srv.stop().unwrap();
    assert!(!path.0.exists(), "unix socket file removed on shutdown");
}

fn ipv6_loopback(b: Backend) {
    let srv = start(b, Echo, &["tcp6://[::1]:0"]);
    let a = srv.server.addrs()[0].socket_addr().unwrap();
    assert!(a.is_ipv6());
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(roundtrip(&mut c, b"six"), b"six");
    srv.stop().unwrap();
}

fn stale_unix_socket_file_is_replaced_but_a_live_one_is_not(b: Backend) {
    let path = TempPath::new("stale");
    // A stale socket file: bound, then its listener dropped.
    drop(unix_listen(&path.0));
    assert!(path.0.exists());
    let srv = start(b, Echo, &[&path.url()]);
    // A second server on the same live path is refused, and leaves the file alone.
    let err = Config::new().backend(b).serve(Echo, [path.url()]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(path.0.exists());
    let mut u = unix_connect(&path.0);
    u.write_all(b"ok").unwrap();
    assert_eq!(read_n(&mut u, 2), b"ok");
    srv.stop().unwrap();
    // A regular file at the path is never deleted.
    std::fs::write(&path.0, b"data").unwrap();
    let err = Config::new().backend(b).serve(Echo, [path.url()]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path.0).unwrap(), b"data");
}

fn bad_address_and_address_in_use_are_clear_errors(b: Backend) {
    for bad in [
        "ftp://127.0.0.1:1",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0?nope=1",
        "tcp4://[::1]:0",
    ] {
        let err = Config::new().backend(b).serve(Echo, [bad]).unwrap_err();
        assert!(
            err.to_string().contains(bad) || err.to_string().contains("[::1]"),
            "{bad}: {err}"
        );
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://{}", taken.local_addr().unwrap());
    let err = Config::new().backend(b).serve(Echo, [&addr]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("cannot bind"), "{err}");
}

#[derive(Clone, Default)]
struct Panicky {
    log: Log,
}

impl Handler for Panicky {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input.starts_with(b"panic") {
            panic!("boom on purpose");
        }
        c.write(input);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log
            .push(format!("closed {}", e.map(|e| e.to_string()).unwrap_or_default()));
    }
}

fn handler_panic_closes_only_that_connection(b: Backend) {
    let h = Panicky::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut good = srv.connect(0);
    let mut bad = srv.connect(0);
    bad.write_all(b"panic").unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(bad.read(&mut buf).unwrap_or(0), 0);
    log.wait_for("closed", |l| !l.is_empty());
    assert!(
        log.snapshot()[0].contains("boom on purpose"),
        "{:?}",
        log.snapshot()
    );
    assert_eq!(roundtrip(&mut good, b"still here"), b"still here");
    srv.stop().unwrap();
}

#[derive(Clone)]
struct PanicInTick;

impl Handler for PanicInTick {
    type State = ();
    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        panic!("tick exploded");
    }
}

fn panic_in_tick_stops_the_loop_with_an_error(b: Backend) {
    let mut srv = start(b, PanicInTick, &["tcp://127.0.0.1:0"]);
    let err = srv.join().unwrap_err();
    assert!(err.to_string().contains("tick exploded"), "{err}");
}

#[derive(Clone, Default)]
struct Hoarder {
    log: Log,
}

impl Handler for Hoarder {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.keep(input.len()); // never consumes anything
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("{:?}", e.map(|e| e.kind())));
    }
}

fn unconsumed_input_over_the_limit_closes_with_an_error(b: Backend) {
    let h = Hoarder::default();
    let log = h.log.clone();
    let srv = start_with(b, Config::new().max_input(100_000), h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let _ = c.write_all(&vec![b'a'; 300_000]);
    log.wait_for("closed", |l| !l.is_empty());
    assert_eq!(log.snapshot(), vec!["Some(InvalidData)"]);
    srv.stop().unwrap();
}

/// Replies 64 KiB to every byte: a client that never reads must not make the
/// server's queued output grow without bound (reading pauses).
#[derive(Clone, Default)]
struct Flood {
    max_queued: Arc<Mutex<usize>>,
    writes: Log,
}

impl Handler for Flood {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        for _ in 0..input.len() {
            c.write(&[b'z'; 65536]);
        }
        // What is queued now: earlier unsent output plus this call's.
        let mut m = self.max_queued.lock().unwrap();
        *m = (*m).max(c.queued());
        Action::None
    }
    fn postwrite(&mut self, _: &mut Conn<'_, ()>, amount: usize, remaining: usize) -> Action {
        self.writes.push(format!("{amount} {remaining}"));
        Action::None
    }
}

fn slow_reader_pauses_reading_and_bounds_output(b: Backend) {
    let h = Flood::default();
    let (max, writes) = (h.max_queued.clone(), h.writes.clone());
    let hw = 1 << 20;
    let srv = start_with(
        b,
        Config::new().high_water(hw).read_buffer(64),
        h,
        &["tcp://127.0.0.1:0"],
    );
    let mut c = srv.connect(0);
    // 2000 bytes in would be 125 MiB out; the server must stop reading first.
    for _ in 0..20 {
        c.write_all(&[b'q'; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    writes.wait_for("a blocked write", |l| l.iter().any(|w| !w.ends_with(" 0")));
    std::thread::sleep(Duration::from_millis(200));
    let queued = *max.lock().unwrap();
    // At most one read's worth (64 bytes in, 64 KiB out each) of replies
    // beyond the high-water mark; without the pause it would be ~120 MiB.
    assert!(
        queued <= hw + 64 * 65536,
        "output grew past the high-water mark: {queued}"
    );
    // Now read everything: the server resumes and the totals add up.
    let mut total = 0usize;
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    while total < 2000 * 65536 {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert_eq!(total, 2000 * 65536);
    srv.stop().unwrap();
}

#[derive(Clone, Default)]
struct WriteEvents {
    log: Log,
}

impl Handler for WriteEvents {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn prewrite(&mut self, _: &mut Conn<'_, ()>, amount: usize) -> Action {
        self.log.push(format!("pre {amount}"));
        Action::None
    }
    fn postwrite(&mut self, _: &mut Conn<'_, ()>, amount: usize, remaining: usize) -> Action {
        self.log.push(format!("post {amount} {remaining}"));
        if remaining == 0 {
            Action::Close
        } else {
            Action::None
        }
    }
}

fn prewrite_and_postwrite_surround_each_write_and_their_actions_count(b: Backend) {
    let h = WriteEvents::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"abcde").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(
        all, b"abcde",
        "postwrite's Close closed the connection after the write"
    );
    assert_eq!(log.snapshot(), vec!["pre 5", "post 5 0"]);
    srv.stop().unwrap();
}

#[derive(Clone)]
struct Addrs;

impl Handler for Addrs {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.set_nodelay(true).unwrap();
        c.set_keepalive(Some(Duration::from_secs(60))).unwrap();
        let line = format!("{} {}\n", c.local_addr().unwrap(), c.remote_addr().unwrap());
        c.write(line.as_bytes());
        Action::Close
    }
}

fn connection_knows_its_own_addresses(b: Backend) {
    let srv = start(b, Addrs, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    assert_eq!(
        s,
        format!(
            "tcp://{} tcp://{}\n",
            c.peer_addr().unwrap(),
            c.local_addr().unwrap()
        )
    );
    srv.stop().unwrap();
}

fn reset_peer_closes_with_the_error_and_others_keep_working(b: Backend) {
    if skipped_under_wine("recv reports an earlier reset as end-of-stream") {
        return;
    }
    let rec = Recorder::default();
    let log = rec.log.clone();
    let srv = start(b, rec, &["tcp://127.0.0.1:0"]);
    let mut good = srv.connect(0);
    let bad = srv.connect(0);
    let mut bad2 = bad.try_clone().unwrap();
    assert_eq!(roundtrip(&mut bad2, b"x"), b"x");
    socket2::SockRef::from(&bad)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(bad);
    drop(bad2); // closing with linger 0 sends a reset
    log.wait_for("closed", |l| l.iter().any(|e| e.starts_with("closed")));
    let closed: Vec<_> = log
        .snapshot()
        .into_iter()
        .filter(|e| e.starts_with("closed"))
        .collect();
    assert!(closed[0].ends_with("Some(ConnectionReset)"), "{closed:?}");
    assert_eq!(roundtrip(&mut good, b"alive"), b"alive");
    srv.stop().unwrap();
}

fn half_closed_peer_still_gets_its_replies(b: Backend) {
    let srv = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let data = vec![b'h'; 2 << 20];
    c.write_all(&data).unwrap_or(());
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(
        got.len(),
        data.len(),
        "every byte echoed before the server closed"
    );
    srv.stop().unwrap();
}

fn close_from_another_thread_flushes_then_closes_and_stale_ids_report_false(b: Backend) {
    let h = Wakeable::default();
    let ids = h.ids.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    wait_until("opened", || ids.lock().unwrap().len() == 1);
    let id = ids.lock().unwrap()[0];
    assert!(srv.server.wake(id));
    let s = srv.server.clone();
    assert!(std::thread::spawn(move || s.close(id)).join().unwrap());
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"woke\n", "the wake's output went out before the close");
    wait_until("dead", || !srv.server.is_live(id));
    assert!(!srv.server.close(id), "a stale id reports false");
    srv.stop().unwrap();
}

per_backend!(
    close_from_another_thread_flushes_then_closes_and_stale_ids_report_false,
    reset_peer_closes_with_the_error_and_others_keep_working,
    half_closed_peer_still_gets_its_replies,
    serving_before_opened_and_one_closed_per_opened,
    large_echo_in_pieces_arrives_intact,
    unconsumed_input_is_presented_again,
    greeting_written_in_opened,
    close_flushes_queued_output_first,
    shutdown_from_data_closes_every_connection,
    tick_first_after_serving_then_at_delay_and_can_shut_down,
    zero_delay_tick_still_serves_sockets,
    shutdown_from_another_thread,
    wake_from_another_thread_reaches_the_right_connection,
    stale_wake_returns_false_and_never_reaches_a_new_connection,
    wakes_from_many_threads_are_not_lost,
    #[cfg_attr(windows, ignore = "unix sockets: revio serves them on unix systems only")]
    two_addresses_tcp_and_unix_on_one_loop,
    ipv6_loopback,
    #[cfg_attr(windows, ignore = "unix sockets: revio serves them on unix systems only")]
    stale_unix_socket_file_is_replaced_but_a_live_one_is_not,
    bad_address_and_address_in_use_are_clear_errors,
    handler_panic_closes_only_that_connection,
    panic_in_tick_stops_the_loop_with_an_error,
    unconsumed_input_over_the_limit_closes_with_an_error,
    slow_reader_pauses_reading_and_bounds_output,
    prewrite_and_postwrite_surround_each_write_and_their_actions_count,
    connection_knows_its_own_addresses,
);
