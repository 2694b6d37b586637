//! A panic in a handler, as the `Handler` docs promise: a panic in a
//! connection's own event resets that connection only; a panic in `tick`
//! (as in `serving`, `closed` or `detached`) stops the server, the loop that
//! panicked closing each of its connections with the panic as the error and
//! a reset, the other loops shutting down gracefully.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Config, Conn, Handler};

/// Greets each connection with its loop's index; echoes, but panics on
/// `panic`; once `armed`, the first tick of a loop that has served a
/// connection panics.
#[derive(Clone, Default)]
struct Bomb {
    log: Log,
    armed: Arc<AtomicBool>,
    loop_index: Option<usize>,
}

impl Handler for Bomb {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        let i = c.id().loop_index();
        self.loop_index = Some(i);
        c.write(&[i as u8]);
        self.log.push(format!("opened {i}"));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input.starts_with(b"panic") {
            c.write(b"half a reply");
            panic!("data exploded on purpose");
        }
        c.write(input);
        Action::None
    }
    fn stopping(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("stopping {}", c.id().loop_index()));
        Action::Close
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log
            .push(format!("closed {} {}", c.id().loop_index(), describe(&e)));
    }
    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        if let Some(i) = self.loop_index {
            if self.armed.swap(false, Ordering::SeqCst) {
                self.log.push(format!("panic {i}"));
                panic!("tick exploded on purpose");
            }
        }
        (Some(Duration::from_millis(5)), Action::None)
    }
}

const PANIC: &str = "Other Panic(\"tick exploded on purpose\")";

/// With `loops` loops, one connection or more on each, the first tick after
/// arming panics: `serve` returns the panic; each connection of the loop
/// that panicked gets `closed` with it (no `stopping`) and its peer a reset;
/// each connection of another loop gets `stopping`, `closed` with no error
/// and a clean end.
///
/// Checked to fail without the fix: `Loop::fail` started a graceful
/// shutdown, so every connection, the panicking loop's too, got `stopping`,
/// `closed` with no error and a clean end.
fn tick_panic(b: Backend, loops: usize) {
    let h = Bomb::default();
    let (log, armed) = (h.log.clone(), h.armed.clone());
    let mut srv = start_loops(b, Config::new(), loops, h, &["tcp://127.0.0.1:0"]);
    // Connect until every loop serves one: the balancing decides where each lands.
    let mut clients: Vec<(usize, TcpStream)> = Vec::new();
    while (0..loops).any(|i| clients.iter().all(|(l, _)| *l != i)) {
        assert!(clients.len() < 64, "connections never reached every loop");
        let mut c = srv.connect(0);
        let greeting = read_n(&mut c, 1);
        clients.push((usize::from(greeting[0]), c));
    }
    armed.store(true, Ordering::SeqCst);
    let e = srv.join().expect_err("serve returns the panic");
    match revio::Error::of(&e) {
        Some(revio::Error::Panic(msg)) => assert_eq!(msg, "tick exploded on purpose"),
        other => panic!("serve returned {e} ({other:?})"),
    }
    let panics = log.starting("panic ");
    assert_eq!(panics.len(), 1, "{:?}", log.snapshot());
    let bad: usize = panics[0]["panic ".len()..].parse().unwrap();
    for i in 0..loops {
        let n = clients.iter().filter(|(l, _)| *l == i).count();
        let (want, stopping) = if i == bad { (PANIC, 0) } else { ("none", n) };
        let closed = format!("closed {i} {want}");
        assert_eq!(log.count(&closed), n, "loop {i}: {:?}", log.snapshot());
        assert_eq!(log.count(&format!("closed {i} ")), n, "{:?}", log.snapshot());
        assert_eq!(
            log.count(&format!("stopping {i}")),
            stopping,
            "{:?}",
            log.snapshot()
        );
    }
    for (l, c) in &mut clients {
        let (got, end) = read_until_end(c);
        assert!(got.is_empty(), "bytes after the greeting: {got:?}");
        if *l == bad {
            assert_reset(end, "a connection of the loop that panicked");
        } else {
            end.expect("a connection of another loop ends cleanly");
        }
    }
}

fn tick_panic_closes_its_loops_connections_with_the_panic(b: Backend) {
    tick_panic(b, 1);
}

fn tick_panic_closes_with_the_panic_there_and_gracefully_elsewhere(b: Backend) {
    tick_panic(b, 2);
}

/// A panic in `data` closes that connection with the panic as its error,
/// and its peer sees a reset, not an end-of-stream: the half reply the
/// panicking call wrote is never sent, so nothing can pass for a whole one.
/// The other connection is still served.
fn a_connection_whose_handler_panicked_is_reset(b: Backend) {
    let h = Bomb::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut good = srv.connect(0);
    let mut bad = srv.connect(0);
    assert_eq!(read_n(&mut good, 1), [0]);
    assert_eq!(read_n(&mut bad, 1), [0]);
    bad.write_all(b"panic").unwrap();
    let (got, end) = read_until_end(&mut bad);
    assert!(got.is_empty(), "output of the call that panicked: {got:?}");
    assert_reset(end, "a connection whose handler panicked");
    log.wait_count("closed ", 1);
    assert_eq!(
        log.starting("closed "),
        ["closed 0 Other Panic(\"data exploded on purpose\")"]
    );
    assert_eq!(roundtrip(&mut good, b"still here"), b"still here");
    let mut end = [0u8; 1];
    srv.stop().unwrap();
    assert_eq!(good.read(&mut end).unwrap(), 0);
}

per_backend!(
    tick_panic_closes_its_loops_connections_with_the_panic,
    tick_panic_closes_with_the_panic_there_and_gracefully_elsewhere,
    a_connection_whose_handler_panicked_is_reset,
);
