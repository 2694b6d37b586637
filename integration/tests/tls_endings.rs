//! Time and endings behind TLS (issue 12), on every backend: the handshake
//! timeout, a deadline the wrapped handler sets during the handshake, the
//! peer's `close_notify` as `eof`, and `close_notify` at shutdown through a
//! wrapper that forwards nothing but `opened`, `data` and `closed`.

#[path = "../../tests/common/mod.rs"]
mod common;
mod tls_support;

use std::io::{self, Write};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Conn, Handler, Tls};
use rustls::ClientConfig;
use tls_support::*;

/// The handshake timeout and deadlines of these tests.
const SHORT: Duration = Duration::from_millis(400);

/// Echoes; logs `eof` and `closed <why>`.
#[derive(Clone, Default)]
struct Plain {
    log: Log,
    /// Set in `opened`, during the handshake.
    deadline_in_opened: Option<Duration>,
    /// At the peer's end: write `after eof`, then shut the writing side.
    write_on_at_eof: bool,
    /// At the peer's end: keep the connection, and do nothing yet.
    wait_at_eof: bool,
}

impl Handler for Plain {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        if let Some(d) = self.deadline_in_opened {
            c.set_deadline(Some(d));
        }
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn eof(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push("eof");
        if self.wait_at_eof {
            return Action::None;
        }
        if !self.write_on_at_eof {
            return Action::Close;
        }
        c.write(b"after eof\n");
        c.close_write();
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", describe(&e)));
    }
}

/// Serves `h` behind TLS on a TCP port; returns the server and its log.
fn serve_tls(b: Backend, h: Plain, tls: Tls) -> (Running, Log) {
    let log = h.log.clone();
    (start(b, with_tls(h, tls), &["tcp://127.0.0.1:0"]), log)
}

/// A client whose handshake is done and whose first line came back.
fn talking(srv: &Running, cfg: &Arc<ClientConfig>) -> Client {
    let mut c = client(srv, 0, cfg);
    assert_eq!(tls_roundtrip(&mut c, b"hi\n"), b"hi\n");
    c
}

fn tls_handshake_timeout_closes_silent_and_half_hello_clients_but_not_a_real_one(b: Backend) {
    let (tls, cfg) = certs();
    let tls = tls.handshake_timeout(Some(SHORT));
    let h = Plain::default();
    let (srv, log) = serve_tls(b, h, tls);
    let mut real = client(&srv, 0, &cfg);
    assert_eq!(tls_roundtrip(&mut real, b"hi\n"), b"hi\n");
    // One sends nothing, one half a ClientHello.
    let mut silent = srv.connect(0);
    let mut half = srv.connect(0);
    let mut hello = Vec::new();
    session(&cfg).write_tls(&mut hello).unwrap();
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    for s in [&mut silent, &mut half] {
        let (got, _) = read_until_end(s);
        assert!(got.is_empty(), "nothing is answered to half a hello");
    }
    log.wait_count("closed", 2);
    let timed_out = format!("closed TimedOut HandshakeTimeout({SHORT:?})");
    assert_eq!(log.starting("closed"), [timed_out.as_str(); 2]);
    // The real one, older than the handshake timeout by now, is served on.
    thread::sleep(SHORT);
    assert_eq!(tls_roundtrip(&mut real, b"still\n"), b"still\n");
    assert_eq!(log.starting("closed").len(), 2);
    srv.stop().unwrap();
}

/// A deadline the wrapped handler sets in `opened` runs from the end of the
/// handshake, whatever the handshake timeout.
fn deadline_in_opened_starts_when_the_handshake_completes(b: Backend, handshake_timeout: Option<Duration>) {
    let (tls, cfg) = certs();
    let tls = tls.handshake_timeout(handshake_timeout);
    let h = Plain {
        deadline_in_opened: Some(SHORT),
        ..Plain::default()
    };
    let (srv, log) = serve_tls(b, h, tls);
    let mut c = client(&srv, 0, &cfg);
    // The handshake begins later than the deadline would have passed had
    // it started in `opened`; it completes.
    thread::sleep(2 * SHORT);
    while c.conn.is_handshaking() {
        c.conn.complete_io(&mut c.sock).expect("the handshake completes");
    }
    // Then the deadline runs, and closes the connection.
    log.wait_count("closed", 1);
    assert_eq!(log.starting("closed"), ["closed TimedOut Deadline"]);
    srv.stop().unwrap();
}

fn tls_deadline_set_in_opened_starts_when_the_handshake_completes(b: Backend) {
    deadline_in_opened_starts_when_the_handshake_completes(b, Some(Duration::from_secs(10)));
}

fn tls_deadline_set_in_opened_starts_when_the_handshake_completes_without_a_handshake_timeout(b: Backend) {
    deadline_in_opened_starts_when_the_handshake_completes(b, None);
}

fn tls_close_notify_from_the_peer_is_eof_to_the_wrapped_handler_which_can_write_on(b: Backend) {
    let (tls, cfg) = certs();
    let h = Plain {
        write_on_at_eof: true,
        ..Plain::default()
    };
    let (srv, log) = serve_tls(b, h, tls);
    let mut c = talking(&srv, &cfg);
    c.conn.send_close_notify();
    c.flush().unwrap();
    // Written after the end it was told of, then the server's own close_notify.
    assert_eq!(read_tls_end(&mut c), b"after eof\n");
    assert!(log.snapshot().contains(&"eof".to_string()));
    // Both sides done once the TCP stream ends too.
    drop(c);
    log.wait_count("closed", 1);
    assert_eq!(log.starting("closed"), ["closed none"]);
    srv.stop().unwrap();
}

fn tls_close_notify_then_the_tcp_end_is_one_eof(b: Backend) {
    let (tls, cfg) = certs();
    let h = Plain {
        wait_at_eof: true,
        ..Plain::default()
    };
    let (srv, log) = serve_tls(b, h, tls);
    let mut c = talking(&srv, &cfg);
    // The peer's end within TLS, then of the TCP stream: one end.
    c.conn.send_close_notify();
    c.flush().unwrap();
    log.wait_count("eof", 1);
    c.sock.shutdown(std::net::Shutdown::Write).unwrap();
    thread::sleep(SHORT);
    let l = log.snapshot();
    assert_eq!(l.iter().filter(|e| *e == "eof").count(), 1, "{l:?}");
    srv.stop().unwrap();
}

/// A user's wrapper that forwards `opened`, `data` and `closed` only: not
/// `stopping`, not `eof`.
struct Partial<H>(H);

impl<H: Handler> Handler for Partial<H> {
    type State = H::State;
    fn opened(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.0.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, H::State>, input: &[u8]) -> Action {
        self.0.data(c, input)
    }
    fn closed(&mut self, c: &mut Conn<'_, H::State>, e: Option<io::Error>) {
        self.0.closed(c, e)
    }
}

fn tls_wrapper_that_forwards_no_stopping_still_sends_close_notify_at_shutdown(b: Backend) {
    let (tls, cfg) = certs();
    let h = Plain::default();
    let log = h.log.clone();
    let handler = Partial(with_tls(h, tls));
    let mut srv = start(b, handler, &["tcp://127.0.0.1:0"]);
    let mut clients: Vec<_> = (0..2).map(|_| client(&srv, 0, &cfg)).collect();
    for c in &mut clients {
        assert_eq!(tls_roundtrip(c, b"x\n"), b"x\n");
    }
    srv.server.shutdown();
    for c in &mut clients {
        assert!(read_tls_end(c).is_empty());
    }
    srv.join().unwrap();
    assert_eq!(log.starting("closed"), ["closed none"; 2]);
}

/// After the handshake, a client that trickles a record a byte at a time
/// (never completing it, while staying active, so no idle timeout catches
/// it) is closed by the record timeout; one that sends whole records is
/// served well past it.
fn a_record_trickled_after_the_handshake_is_closed_by_the_record_timeout(b: Backend) {
    let (tls, cfg) = certs();
    let tls = tls.record_timeout(Some(SHORT));
    let (srv, log) = serve_tls(b, Plain::default(), tls);
    let mut whole = talking(&srv, &cfg);
    // The trickler: a real handshake on a raw socket, then one record, sent
    // a byte every 100 ms and never finished.
    let mut sock = srv.connect(0);
    let mut tls_client = session(&cfg);
    while tls_client.is_handshaking() {
        tls_client.complete_io(&mut sock).unwrap();
    }
    tls_client.writer().write_all(b"never whole\n").unwrap();
    let mut record = Vec::new();
    tls_client.write_tls(&mut record).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut sent = 0;
    let mut ended = false;
    for _ in 0..100 {
        if sent + 1 < record.len() {
            let _ = sock.write_all(&record[sent..sent + 1]);
            sent += 1;
        }
        thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 64];
        match io::Read::read(&mut sock, &mut buf) {
            Ok(_) => {
                ended = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                ended = true;
                break;
            }
        }
        assert_eq!(tls_roundtrip(&mut whole, b"x\n"), b"x\n");
    }
    assert!(ended, "the trickler is closed");
    log.wait_count("closed", 1);
    assert_eq!(
        log.starting("closed"),
        [format!("closed TimedOut RecordTimeout({SHORT:?})")]
    );
    assert_eq!(tls_roundtrip(&mut whole, b"still\n"), b"still\n");
    srv.stop().unwrap();
}

/// A stream that never stops, its records cut anywhere, always has an
/// incomplete record waiting: the record timeout times that record, so it
/// starts again whenever one completes, and the stream is served well past
/// it (it was once armed by the first incomplete record and never again).
fn a_record_stream_cut_anywhere_is_served_past_the_record_timeout(b: Backend) {
    let (tls, cfg) = certs();
    let tls = tls.record_timeout(Some(SHORT));
    let (srv, log) = serve_tls(b, Plain::default(), tls);
    let mut sock = srv.connect(0);
    let mut tls_client = session(&cfg);
    while tls_client.is_handshaking() {
        tls_client.complete_io(&mut sock).unwrap();
    }
    // Every 20 ms one more record; all of the wire bytes but the newest
    // record's last 5 go out, so one record is always incomplete.
    let (mut wire, mut sent, mut lines) = (Vec::new(), 0, 0);
    let start = std::time::Instant::now();
    while start.elapsed() < SHORT * 4 {
        tls_client
            .writer()
            .write_all(format!("line {lines}\n").as_bytes())
            .unwrap();
        lines += 1;
        tls_client.write_tls(&mut wire).unwrap();
        sock.write_all(&wire[sent..wire.len() - 5]).unwrap();
        sent = wire.len() - 5;
        thread::sleep(Duration::from_millis(20));
    }
    sock.write_all(&wire[sent..]).unwrap();
    let want: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    let mut got = String::new();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    while got.len() < want.len() {
        tls_client.read_tls(&mut sock).unwrap();
        tls_client.process_new_packets().unwrap();
        let _ = io::Read::read_to_string(&mut tls_client.reader(), &mut got);
    }
    assert_eq!(got, want);
    assert!(log.starting("closed").is_empty(), "{:?}", log.snapshot());
    srv.stop().unwrap();
}

/// Echoes; the first `data` pauses reading for `pause`, resumed from
/// another thread; logs `closed <why>`.
#[derive(Clone, Default)]
struct PauseOnce {
    log: Log,
    pause: Duration,
    paused: bool,
}

impl Handler for PauseOnce {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        if !std::mem::replace(&mut self.paused, true) {
            c.pause_reading();
            let (server, id, pause) = (c.server().clone(), c.id(), self.pause);
            thread::spawn(move || {
                thread::sleep(pause);
                server.resume_reading(id);
            });
        }
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", describe(&e)));
    }
}

/// An incomplete record that waits while the loop does not read the
/// connection (its handler paused it) is not the peer's delay: the record
/// timeout does not close it, and the record is served once reading resumes.
fn a_record_waiting_while_reading_is_paused_is_not_timed_out(b: Backend) {
    let (tls, cfg) = certs();
    let h = PauseOnce {
        pause: SHORT * 4,
        ..PauseOnce::default()
    };
    let log = h.log.clone();
    let srv = start(
        b,
        with_tls(h, tls.record_timeout(Some(SHORT))),
        &["tcp://127.0.0.1:0"],
    );
    let mut sock = srv.connect(0);
    let mut tls_client = session(&cfg);
    while tls_client.is_handshaking() {
        tls_client.complete_io(&mut sock).unwrap();
    }
    let mut wire = Vec::new();
    tls_client.writer().write_all(b"first\n").unwrap();
    tls_client.write_tls(&mut wire).unwrap();
    let whole = wire.len();
    tls_client.writer().write_all(b"second\n").unwrap();
    tls_client.write_tls(&mut wire).unwrap();
    // The first record and half the second: the handler pauses at the
    // first, with the second incomplete; its rest waits in the socket.
    let half = whole + (wire.len() - whole) / 2;
    sock.write_all(&wire[..half]).unwrap();
    thread::sleep(SHORT / 2);
    sock.write_all(&wire[half..]).unwrap();
    let mut got = String::new();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    while got.len() < "first\nsecond\n".len() {
        assert!(
            tls_client.read_tls(&mut sock).unwrap() > 0,
            "closed after {got:?}: {:?}",
            log.snapshot()
        );
        tls_client.process_new_packets().unwrap();
        let _ = io::Read::read_to_string(&mut tls_client.reader(), &mut got);
    }
    assert_eq!(got, "first\nsecond\n");
    assert!(log.starting("closed").is_empty(), "{:?}", log.snapshot());
    srv.stop().unwrap();
}

per_backend!(
    a_record_waiting_while_reading_is_paused_is_not_timed_out,
    a_record_stream_cut_anywhere_is_served_past_the_record_timeout,
    a_record_trickled_after_the_handshake_is_closed_by_the_record_timeout,
    tls_handshake_timeout_closes_silent_and_half_hello_clients_but_not_a_real_one,
    tls_deadline_set_in_opened_starts_when_the_handshake_completes,
    tls_deadline_set_in_opened_starts_when_the_handshake_completes_without_a_handshake_timeout,
    tls_close_notify_from_the_peer_is_eof_to_the_wrapped_handler_which_can_write_on,
    tls_close_notify_then_the_tcp_end_is_one_eof,
    tls_wrapper_that_forwards_no_stopping_still_sends_close_notify_at_shutdown,
);
