//! TLS bounded (issue 11): a peer that floods its handshake, or never
//! completes it, is closed with an error that says so, and plaintext written
//! before the handshake completes counts towards `Config::max_output`. The
//! other clients are served throughout.
//!
//! Each test names, in a comment, how it was checked to fail without the
//! feature it tests (by breaking that feature in the library for a run).

#[path = "../../tests/common/mod.rs"]
mod common;
mod tls_support;

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Handler, Translate, Translated};
use tls_support::*;

/// Echoes plaintext; writes `greeting` bytes in `opened` and at each wake;
/// logs why each connection closed (with the revio error's details).
#[derive(Clone, Default)]
struct Watch {
    ids: Arc<Mutex<Vec<ConnId>>>,
    greeting: usize,
    log: Log,
}

impl Handler for Watch {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.ids.lock().unwrap().push(c.id());
        c.write(&vec![b'g'; self.greeting]);
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.write(&vec![b'w'; self.greeting]);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        let entry = match e.as_ref().and_then(revio::Error::of) {
            Some(r) => format!("closed {r:?}"),
            None => format!("closed {} {:?}", why(&e), e.map(|e| e.to_string())),
        };
        self.log.push(entry);
    }
}

/// Records of the handshake type (22), TLS 1.0 on the record layer, each
/// carrying `per_record` bytes of `message`.
fn handshake_records(message: &[u8], per_record: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for part in message.chunks(per_record) {
        wire.extend_from_slice(&[22, 3, 1]);
        wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
        wire.extend_from_slice(part);
    }
    wire
}

/// The start of a ClientHello that claims `len` bytes (then zeros).
fn client_hello_claiming(len: usize, sent: usize) -> Vec<u8> {
    let mut m = vec![1, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    m.resize(sent, 0);
    m
}

/// A ClientHello that claims 60,000 bytes, 40,000 of them sent one byte
/// per record: rustls joins the fragments and holds little, while the wire
/// carries six bytes per byte of message (240 KB).
fn tiny_record_flood() -> Vec<u8> {
    handshake_records(&client_hello_claiming(60_000, 40_000), 1)
}

/// A ClientHello-looking stream of 200,000 bytes in full 16 KiB records.
fn big_record_flood() -> Vec<u8> {
    handshake_records(&client_hello_claiming(0xffff, 200_000), 16 * 1024)
}

/// Sends `wire` on a new connection (from another thread: the server may
/// close it midway), waits until `closed` is logged for it, and returns
/// that log entry.
fn flood_until_closed(srv: &Running, log: &Log, wire: Vec<u8>) -> String {
    let before = log.snapshot().len();
    let mut s = srv.connect(0);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&wire);
    });
    log.wait_for("the flood closed", |l| l.len() > before);
    drain(&mut s);
    writer.join().unwrap();
    log.snapshot().remove(before)
}

/// The tiny-record flood (a ClientHello of 60,000 bytes, one byte per
/// record) with `max_handshake_bytes` of 32 KiB: closed with `HandshakeTooLarge` at that limit; a real client
/// is served before and after.
///
/// Checked to fail without the feature: with the `handshake_left` check in
/// `TlsTranslator::read` removed, rustls's own limit closes it later, at
/// 64 KiB buffered, with a plain `InvalidData` error ("message buffer full").
fn handshake_flood_in_tiny_records_is_closed_with_handshake_too_large(b: Backend) {
    let (tls, cfg) = certs();
    let h = Watch::default();
    let log = h.log.clone();
    let tls = tls.max_handshake_bytes(32 * 1024);
    let srv = start(b, with_tls(h, tls), &["tcp://127.0.0.1:0"]);
    let mut good = client(&srv, 0, &cfg);
    assert_eq!(tls_roundtrip(&mut good, b"before\n"), b"before\n");

    assert_eq!(
        flood_until_closed(&srv, &log, tiny_record_flood()),
        "closed HandshakeTooLarge { limit: 32768 }"
    );
    assert_eq!(tls_roundtrip(&mut good, b"after\n"), b"after\n");
    srv.stop().unwrap();
}

/// A huge ClientHello-looking stream in full 16 KiB records with
/// `max_handshake_bytes` of 16 KiB: closed with `HandshakeTooLarge` at that
/// limit.
///
/// Checked to fail without the feature: with `Tls::max_handshake_bytes`
/// ignored (the default 64 KiB kept), it is closed at 64 KiB instead.
fn handshake_stream_over_max_handshake_bytes_is_closed(b: Backend) {
    let (tls, cfg) = certs();
    let h = Watch::default();
    let log = h.log.clone();
    let tls = tls.max_handshake_bytes(16 * 1024);
    let srv = start(b, with_tls(h, tls), &["tcp://127.0.0.1:0"]);
    assert_eq!(
        flood_until_closed(&srv, &log, big_record_flood()),
        "closed HandshakeTooLarge { limit: 16384 }"
    );
    let mut good = client(&srv, 0, &cfg);
    assert_eq!(tls_roundtrip(&mut good, b"served\n"), b"served\n");
    srv.stop().unwrap();
}

/// Both floods over 128 KiB with the default limits: each is closed with
/// `HandshakeTooLarge` at the default 64 KiB (rustls's own limit for one
/// unfinished handshake message is reported the same way).
fn handshake_floods_over_the_default_limit_are_closed(b: Backend) {
    let (tls, _) = certs();
    let h = Watch::default();
    let log = h.log.clone();
    let srv = start(b, with_tls(h, tls), &["tcp://127.0.0.1:0"]);
    for wire in [tiny_record_flood(), big_record_flood()] {
        let closed = flood_until_closed(&srv, &log, wire);
        assert_eq!(closed, "closed HandshakeTooLarge { limit: 65536 }");
    }
    srv.stop().unwrap();
}

/// A client that opens TCP and sends nothing, and one that sends the first
/// bytes of a ClientHello and stops: both are closed by the handshake
/// timeout, with `HandshakeTimeout`; a real client is served meanwhile.
///
/// Checked to fail without the feature: with `Tls::handshake_timeout`
/// ignored (no deadline set in `start_handshake`), neither is ever closed.
fn silent_and_stalled_handshakes_are_closed_by_the_timeout(b: Backend) {
    let (tls, cfg) = certs();
    let h = Watch::default();
    let log = h.log.clone();
    let timeout = Duration::from_millis(200);
    let tls = tls.handshake_timeout(Some(timeout));
    let srv = start(b, with_tls(h, tls), &["tcp://127.0.0.1:0"]);
    let mut silent = srv.connect(0);
    let mut stalled = srv.connect(0);
    stalled.write_all(&[22, 3, 1, 0, 200, 1, 0]).unwrap();
    let mut good = client(&srv, 0, &cfg);
    assert_eq!(tls_roundtrip(&mut good, b"served\n"), b"served\n");
    log.wait_for("both closed", |l| l.len() == 2);
    let expected = format!("closed HandshakeTimeout({timeout:?})");
    assert_eq!(log.snapshot(), [expected.clone(), expected]);
    drain(&mut silent);
    drain(&mut stalled);
    // A deadline that passed during the handshake does not touch a client
    // whose handshake completed.
    assert_eq!(tls_roundtrip(&mut good, b"still\n"), b"still\n");
    srv.stop().unwrap();
}

/// Plaintext written before the handshake completes waits in rustls and
/// counts towards `max_output`: 40 KiB in `opened` and 40 KiB more at a
/// wake, under a limit of 64 KiB, with a client that never starts its
/// handshake, close the connection with `OutputLimit`.
///
/// Checked to fail without the feature: with `TlsTranslator::buffered`
/// returning 0, the second 40 KiB are taken too and the connection stays.
fn plaintext_written_before_the_handshake_counts_towards_max_output(b: Backend) {
    let (tls, _) = certs();
    let h = Watch {
        greeting: 40 * 1024,
        ..Watch::default()
    };
    let (ids, log) = (h.ids.clone(), h.log.clone());
    let tls = tls.handshake_timeout(None);
    let cfg = Config::new().max_output(64 * 1024);
    let srv = start_with(b, cfg, with_tls(h, tls), &["tcp://127.0.0.1:0"]);
    let mut silent = srv.connect(0);
    wait_until("opened", || !ids.lock().unwrap().is_empty());
    let id = ids.lock().unwrap()[0];
    assert!(srv.server.wake(id));
    log.wait_for("closed", |l| l.len() == 1);
    assert_eq!(log.snapshot(), ["closed OutputLimit { limit: 65536 }"]);
    assert_eq!(drain(&mut silent), 0, "plaintext sent without a handshake");
    srv.stop().unwrap();
}

/// Answers each `GET` line with a numbered reply of [`REPLY`] bytes, the
/// right way: it stops once the connection is congested and keeps the
/// rest of its (plaintext) input.
#[derive(Clone, Default)]
struct Pipelined;

const REPLY: usize = 10_000;

impl Handler for Pipelined {
    type State = u32; // replies written
    fn data(&mut self, c: &mut Conn<'_, u32>, input: &[u8]) -> Action {
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            rest = &rest[nl + 1..];
            *c.state() += 1;
            let n = *c.state();
            let _ = writeln!(c.output(), "{n:>9}");
            c.write(&[b'x'; REPLY - 10]);
            if c.is_congested() {
                break;
            }
        }
        c.keep(rest.len());
        Action::None
    }
}

/// Pipelined requests behind TLS, answered by a handler that stops when its
/// connection is congested: the plaintext it keeps is presented again once
/// the output drains, as without TLS, and the client gets every reply.
/// (The kept plaintext waits in the translate layer, not in the loop's kept
/// input: `Translate` asks for the call with `Conn::call_again_when_drained`.
/// Without it the client waited forever at reply 8.)
fn pipelined_requests_behind_tls_get_every_reply(b: Backend) {
    const N: usize = 300;
    let (tls, cfg) = certs();
    let srv_cfg = Config::new().high_water(64 * 1024);
    let srv = start_with(b, srv_cfg, with_tls(Pipelined, tls), &["tcp://127.0.0.1:0"]);
    let mut c = client(&srv, 0, &cfg);
    c.write_all(&b"GET\n".repeat(N)).unwrap();
    c.flush().unwrap();
    let mut reply = vec![0; REPLY];
    for i in 1..=N {
        c.read_exact(&mut reply)
            .unwrap_or_else(|e| panic!("reply {i} of {N}: {e}"));
        assert_eq!(std::str::from_utf8(&reply[..9]).unwrap().trim(), i.to_string());
    }
    srv.stop().unwrap();
}

/// Logs, after each `data` of the `Translate` it wraps, how much buffer the
/// connection holds for unconsumed input.
struct Holding<H>(H, Log);

impl<H, S: Default, T> Handler for Holding<H>
where
    H: Handler<State = Translated<S, T>>,
{
    type State = H::State;
    fn opened(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.0.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, H::State>, input: &[u8]) -> Action {
        let a = self.0.data(c, input);
        self.1.push(c.state().input_capacity().to_string());
        a
    }
    fn closed(&mut self, c: &mut Conn<'_, H::State>, e: Option<io::Error>) {
        self.0.closed(c, e)
    }
}

/// An idle TLS connection holds no input buffer: after a round trip, none;
/// with half a record received, one, until the rest comes.
///
/// Checked to fail without the feature: with the buffer kept by the
/// connection instead of going back to the pool when empty, the capacity
/// logged after the round trips is not 0.
fn an_idle_tls_connection_holds_no_input_buffer(b: Backend) {
    let (tls, cfg) = certs();
    let log = Log::default();
    let handler = Holding(
        Translate::new(Watch::default(), move |_| tls.accept()),
        log.clone(),
    );
    let srv = start(b, handler, &["tcp://127.0.0.1:0"]);
    let mut c = client(&srv, 0, &cfg);
    assert_eq!(tls_roundtrip(&mut c, b"hello\n"), b"hello\n");
    assert_eq!(log.snapshot().last().map(String::as_str), Some("0"));

    // Half a record: its start waits in a buffer.
    c.conn.writer().write_all(b"half a record\n").unwrap();
    let mut record = Vec::new();
    c.conn.write_tls(&mut record).unwrap();
    let seen = log.snapshot().len();
    c.sock.write_all(&record[..record.len() / 2]).unwrap();
    log.wait_for("the first half read", |l| l.len() > seen);
    let held: usize = log.snapshot().last().unwrap().parse().unwrap();
    assert!(held > 0, "half a record is held");
    c.sock.write_all(&record[record.len() / 2..]).unwrap();
    assert_eq!(read_n(&mut c, 14), b"half a record\n");
    assert_eq!(log.snapshot().last().map(String::as_str), Some("0"));
    srv.stop().unwrap();
}

per_backend!(
    an_idle_tls_connection_holds_no_input_buffer,
    handshake_flood_in_tiny_records_is_closed_with_handshake_too_large,
    handshake_stream_over_max_handshake_bytes_is_closed,
    handshake_floods_over_the_default_limit_are_closed,
    silent_and_stalled_handshakes_are_closed_by_the_timeout,
    plaintext_written_before_the_handshake_counts_towards_max_output,
    pipelined_requests_behind_tls_get_every_reply,
);
