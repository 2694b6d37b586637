//! Regressions: each test here failed when written (found by reviewing the
//! loop against SPEC.md) and names the bug it shows; all are fixed.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;
use revio::{Action, Addr, Backend, Balance, Config, Conn, ConnId, Handler, Server};

// ----- a stale event for a slot reused inside one poll batch ---------------

/// TCP: echoes; "sleep" blocks the loop for a while; a wake closes the
/// connection. UDP: echoes. Logs opened/closed with the kind of remote.
#[derive(Clone, Default)]
struct Reuse {
    log: Log,
    tcp_ids: Arc<Mutex<Vec<ConnId>>>,
    sleeping: Arc<AtomicBool>,
}

fn kind(c: &Conn<'_, ()>) -> &'static str {
    match c.remote_addr() {
        Ok(Addr::Udp(_)) => "udp",
        Ok(_) => "tcp",
        Err(_) => "none",
    }
}

impl Handler for Reuse {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        let k = kind(c);
        if k == "tcp" {
            self.tcp_ids.lock().unwrap().push(c.id());
        }
        self.log.push(format!("opened {k}"));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input == b"sleep" {
            self.sleeping.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            self.sleeping.store(false, Ordering::SeqCst);
            return Action::None;
        }
        c.write(input);
        Action::None
    }
    fn woken(&mut self, _: &mut Conn<'_, ()>) -> Action {
        Action::Close
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log
            .push(format!("closed {} {:?}", kind(c), e.map(|e| e.kind())));
    }
}

/// One poll batch holds, in this order: the wake that closes connection A
/// (its slot is freed), a datagram from a new UDP remote (which takes A's
/// slot), and A's own readable event. The stale event must not reach the UDP
/// remote that now owns the slot (it used to close it with NotConnected).
fn stale_event_of_a_closed_connection_does_not_reach_the_slots_new_owner(b: Backend) {
    let h = Reuse::default();
    let (log, ids, sleeping) = (h.log.clone(), h.tcp_ids.clone(), h.sleeping.clone());
    let srv = start(b, h, &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]);
    let mut busy = srv.connect(0);
    assert_eq!(roundtrip(&mut busy, b"hi"), b"hi");
    let mut a = srv.connect(0);
    assert_eq!(roundtrip(&mut a, b"hi"), b"hi");
    let a_id = ids.lock().unwrap()[1];
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(LIMIT)).unwrap();
    udp.connect(srv.server.addrs()[1].socket_addr().unwrap()).unwrap();

    // Block the loop, then make three things ready in order.
    busy.write_all(b"sleep").unwrap();
    wait_until("the loop is busy", || sleeping.load(Ordering::SeqCst));
    assert!(srv.server.wake(a_id));
    std::thread::sleep(Duration::from_millis(20));
    udp.send(b"u1").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let _ = a.write_all(b"x");

    let mut buf = [0u8; 64];
    let n = udp.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"u1");
    log.wait_for("A closed", |l| l.iter().any(|e| e.starts_with("closed tcp")));
    std::thread::sleep(Duration::from_millis(100));
    udp.send(b"u2").unwrap();
    let n = udp.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"u2");
    std::thread::sleep(Duration::from_millis(50));
    let l = log.snapshot();
    assert!(
        !l.iter().any(|e| e.starts_with("closed udp")),
        "the UDP remote was closed by another connection's stale event: {l:?}"
    );
    assert_eq!(
        l.iter().filter(|e| *e == "opened udp").count(),
        1,
        "one remote, one opened: {l:?}"
    );
    assert!(l.contains(&"closed tcp None".to_string()), "{l:?}");
    drop(busy);
    srv.stop().unwrap();
}

// ----- several loops: a hand-over to a loop that has already finished -------

/// Loop 0's tick can be made to block; every loop hands its Server out.
#[derive(Clone)]
struct Blocker {
    index: usize,
    block: Arc<AtomicBool>,
    in_tick: Arc<AtomicBool>,
    servers: Arc<Mutex<Vec<Server>>>,
}

impl Handler for Blocker {
    type State = ();
    fn serving(&mut self, s: &Server) -> Action {
        self.servers.lock().unwrap().push(s.clone());
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        if self.index != 0 {
            return (None, Action::None);
        }
        if self.block.swap(false, Ordering::SeqCst) {
            self.in_tick.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(600));
        }
        (Some(Duration::from_millis(5)), Action::None)
    }
}

/// Loop 0 accepts two connections after loop 1 has finished shutting down:
/// one is handed to loop 1. Once `serve` has returned, every accepted
/// connection must be closed (it used to sit in loop 1's mailbox, open, for
/// as long as any `Server` handle lived, and counted as live there).
fn connection_handed_to_a_finished_loop_is_closed(b: Backend) {
    let block = Arc::new(AtomicBool::new(false));
    let in_tick = Arc::new(AtomicBool::new(false));
    let servers = Arc::new(Mutex::new(Vec::new()));
    let (bl, it, sv) = (block.clone(), in_tick.clone(), servers.clone());
    let thread = std::thread::spawn(move || {
        Config::new()
            .backend(b)
            .loops(2)
            .balance(Balance::RoundRobin)
            .serve_with(
                |index| Blocker {
                    index,
                    block: bl.clone(),
                    in_tick: it.clone(),
                    servers: sv.clone(),
                },
                ["tcp://127.0.0.1:0"],
            )
    });
    wait_until("both loops serving", || servers.lock().unwrap().len() == 2);
    let server = servers.lock().unwrap()[0].clone();
    let addr = server.addrs()[0].socket_addr().unwrap();

    block.store(true, Ordering::SeqCst);
    wait_until("loop 0 blocked in tick", || in_tick.load(Ordering::SeqCst));
    let mut clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(50));
    server.shutdown(); // loop 1 finishes now; loop 0 after its tick

    let deadline = Instant::now() + LIMIT;
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "serve did not return");
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.join().unwrap().unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut b = [0u8; 16];
        match c.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!(
                "client {i} still open after serve returned ({other:?}): a connection handed to a finished loop is never closed"
            ),
        }
    }
    drop(server);
}

// ----- several loops: a panicking handler factory ---------------------------

#[derive(Clone)]
struct Hands {
    servers: Arc<Mutex<Vec<Server>>>,
}

impl Handler for Hands {
    type State = ();
    fn serving(&mut self, s: &Server) -> Action {
        self.servers.lock().unwrap().push(s.clone());
        Action::None
    }
}

/// `serve_with` whose factory panics for loop `bad`: serve must come back
/// (with an error, or the panic) instead of leaving the other loops running
/// with nobody to stop them, or serving on with a dead loop.
fn factory_panic(b: Backend, bad: usize) {
    let servers = Arc::new(Mutex::new(Vec::new()));
    let sv = servers.clone();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Config::new()
                .backend(b)
                .loops(2)
                .balance(Balance::RoundRobin)
                .serve_with(
                    |index| {
                        if index == bad {
                            panic!("factory fails for loop {index}");
                        }
                        Hands { servers: sv.clone() }
                    },
                    ["tcp://127.0.0.1:0"],
                )
        }));
        let _ = tx.send(match r {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("err {e}"),
            Err(_) => "panicked".to_string(),
        });
    });
    let outcome = rx.recv_timeout(Duration::from_secs(5));
    if outcome.is_err() {
        // Unstick the server so the test process can go on.
        if let Some(s) = servers.lock().unwrap().first() {
            s.shutdown();
        }
    }
    let _ = thread.join();
    let outcome = outcome.expect("serve_with neither returned nor panicked after a factory panic");
    assert_ne!(outcome, "ok", "a loop whose factory panicked is an error");
}

fn factory_panic_on_loop_0_does_not_hang_serve(b: Backend) {
    factory_panic(b, 0);
}

fn factory_panic_on_loop_1_stops_the_server(b: Backend) {
    factory_panic(b, 1);
}

// ----- a dial after the server stopped --------------------------------------

/// After `serve` returned, nothing will ever serve a dial: `dial` must say so
/// (an error, or at least an id that is not live) rather than return an id
/// that stays live forever and never gets its `opened` and `closed`.
fn dial_after_serve_returned_is_not_a_live_phantom(b: Backend) {
    let srv = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let server = srv.server.clone();
    srv.stop().unwrap();
    if let Ok(id) = server.dial("127.0.0.1:1", Some(Duration::from_millis(10))) {
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !server.is_live(id),
            "dial after shutdown returned {id:?}, which stays live though no loop will ever serve it"
        );
    }
}

// ----- the action of `opened` for a failed dial -----------------------------

#[derive(Clone, Default)]
struct StopOnFailedDial {
    log: Log,
}

impl Handler for StopOnFailedDial {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("opened closing={}", c.is_closing()));
        if c.is_closing() {
            Action::Shutdown
        } else {
            Action::None
        }
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {:?}", e.map(|e| e.kind())));
    }
}

/// SPEC: `opened` may return an action, and actions are honoured like any
/// other. `Shutdown` from the `opened` of a failed dial (closing flag set)
/// used to be dropped: the server went on serving.
fn shutdown_returned_from_opened_of_a_failed_dial_is_honoured(b: Backend) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = StopOnFailedDial::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    srv.server
        .dial(&format!("127.0.0.1:{port}"), Some(LIMIT))
        .unwrap();
    log.wait_for("closed", |l| l.iter().any(|e| e.starts_with("closed")));
    assert_eq!(log.snapshot()[0], "opened closing=true");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !srv.server.is_shutting_down() {
        assert!(
            Instant::now() < deadline,
            "Shutdown returned from opened (closing) was ignored; log: {:?}",
            log.snapshot()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    srv.stop().unwrap();
}

per_backend!(
    shutdown_returned_from_opened_of_a_failed_dial_is_honoured,
    stale_event_of_a_closed_connection_does_not_reach_the_slots_new_owner,
    connection_handed_to_a_finished_loop_is_closed,
    factory_panic_on_loop_0_does_not_hang_serve,
    factory_panic_on_loop_1_stops_the_server,
    dial_after_serve_returned_is_not_a_live_phantom,
);
