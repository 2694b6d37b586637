//! The translate layer (SPEC.md, "Translate") over real sockets: a toy
//! framing translator for the generic wrapper, and TLS through rustls (the
//! `tls` feature) in `mod tls` below.

#[path = "../../tests/common/mod.rs"]
mod common;
mod tls_support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use common::*;
use revio::{Action, Backend, Conn, ConnId, Decoded, Detached, Handler, Translate, Translator};

/// A line-oriented handler: answers each complete line with itself, keeps an
/// unfinished line (with `keep`, on plaintext), and obeys a few commands.
#[derive(Clone, Default)]
struct Lines {
    log: Log,
    ids: Arc<Mutex<Vec<ConnId>>>,
    greet: bool,
}

impl Handler for Lines {
    type State = u32; // lines answered on this connection

    fn opened(&mut self, c: &mut Conn<'_, u32>) -> Action {
        self.log.push(format!("opened closing={}", c.is_closing()));
        self.ids.lock().unwrap().push(c.id());
        if self.greet {
            c.write(b"hello\n");
        }
        Action::None
    }

    fn data(&mut self, c: &mut Conn<'_, u32>, input: &[u8]) -> Action {
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            *c.state() += 1;
            match line {
                b"quit" => {
                    c.write(b"bye\n");
                    return Action::Close;
                }
                b"detach" => return Action::Detach,
                b"shutdown" => {
                    c.write(b"stopping\n");
                    return Action::Shutdown;
                }
                b"panic" => {
                    c.write(b"half-written\n");
                    panic!("the handler panicked on purpose");
                }
                _ => {
                    c.write(line);
                    c.write(b"\n");
                }
            }
        }
        c.keep(rest.len());
        Action::None
    }

    fn woken(&mut self, c: &mut Conn<'_, u32>) -> Action {
        let n = *c.state();
        c.write(format!("woken after {n} lines\n").as_bytes());
        Action::None
    }

    fn closed(&mut self, _: &mut Conn<'_, u32>, e: Option<io::Error>) {
        self.log.push(match e {
            None => "closed ok".to_string(),
            Some(e) => format!("closed {:?}: {e}", e.kind()),
        });
    }

    fn detached(&mut self, _: &mut Conn<'_, u32>, mut stream: Detached) {
        let _ = stream.write_all(b"detached\n");
        self.log.push("detached");
    }
}

/// A toy translator: the wire carries frames of `[len][len bytes]` (len
/// 1..=200); a zero length ends the stream; anything over 200 is an error.
/// It decodes in place; partial frames are left unused, and come back with
/// the bytes that follow.
#[derive(Default)]
struct Frames {
    closed: bool,
}

impl Translator for Frames {
    fn read(&mut self, wire: &mut [u8], _out: &mut Vec<u8>) -> io::Result<Decoded> {
        let (mut i, mut plain) = (0, 0);
        while i < wire.len() {
            let n = wire[i] as usize;
            if n == 0 {
                return Ok(Decoded {
                    plain,
                    used: wire.len(),
                    ended: true,
                });
            }
            if n > 200 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad frame length {n}"),
                ));
            }
            if wire.len() < i + 1 + n {
                break;
            }
            wire.copy_within(i + 1..i + 1 + n, plain);
            plain += n;
            i += 1 + n;
        }
        Ok(Decoded {
            plain,
            used: i,
            ended: false,
        })
    }

    fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        if !self.closed {
            for chunk in plain.chunks(200) {
                wire.push(chunk.len() as u8);
                wire.extend_from_slice(chunk);
            }
        }
        Ok(())
    }

    fn close(&mut self, wire: &mut Vec<u8>) {
        if !self.closed {
            self.closed = true;
            wire.push(0);
        }
    }
}

fn frame(plain: &[u8]) -> Vec<u8> {
    let mut w = Vec::new();
    Frames::default().write(plain, &mut w).unwrap();
    w
}

/// Reads frames until `n` plaintext bytes have arrived.
fn read_plain(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut plain = Vec::new();
    while plain.len() < n {
        let mut len = [0u8];
        s.read_exact(&mut len).expect("a frame header");
        assert_ne!(
            len[0],
            0,
            "stream ended early; got {:?}",
            String::from_utf8_lossy(&plain)
        );
        plain.extend_from_slice(&read_n(s, len[0] as usize));
    }
    plain
}

/// Reads to end of stream (bounded by the read timeout); the raw wire bytes.
fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => {}
        // A reset after the close is an end of stream too.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading to end of stream: {e}"),
    }
    rest
}

fn framed(lines: Lines) -> impl Handler + Send + 'static {
    Translate::new(lines, |_| Ok(Frames::default()))
}

fn partial_frames_and_partial_lines_arrive_whole(b: Backend) {
    let srv = start(b, framed(Lines::default()), &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    // Two lines cut across frames, and the frames cut across writes.
    let wire = [frame(b"hel"), frame(b"lo\nwor"), frame(b"ld\n")].concat();
    for piece in wire.chunks(3) {
        c.write_all(piece).unwrap();
        c.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(read_plain(&mut c, 12), b"hello\nworld\n");
    srv.stop().unwrap();
}

fn only_connections_the_predicate_picks_are_translated(b: Backend) {
    let handler =
        Translate::new(Lines::default(), |_| Ok(Frames::default())).when(|c| c.addr_index() == Some(1));
    let srv = start(b, handler, &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"]);
    let mut plain = srv.connect(0);
    assert_eq!(roundtrip(&mut plain, b"as is\n"), b"as is\n");
    let mut tr = srv.connect(1);
    tr.write_all(&frame(b"framed\n")).unwrap();
    assert_eq!(read_n(&mut tr, 8), frame(b"framed\n"));
    srv.stop().unwrap();
}

fn close_sends_the_translators_final_bytes(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let srv = start(b, framed(lines), &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(&frame(b"one\nquit\nignored\n")).unwrap();
    assert_eq!(read_plain(&mut c, 8), b"one\nbye\n");
    // Then the end-of-stream frame, then the socket closes.
    assert_eq!(read_to_eof(&mut c), [0]);
    log.wait_for("closed", |l| l.iter().any(|e| e.starts_with("closed")));
    assert!(
        log.snapshot().contains(&"closed ok".to_string()),
        "{:?}",
        log.snapshot()
    );
    srv.stop().unwrap();
}

fn translator_error_closes_that_connection_with_the_error(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let srv = start(b, framed(lines), &["tcp://127.0.0.1:0"]);
    let mut good = srv.connect(0);
    good.write_all(&frame(b"before\n")).unwrap();
    assert_eq!(read_plain(&mut good, 7), b"before\n");

    let mut bad = srv.connect(0);
    bad.write_all(&[250, 1, 2, 3]).unwrap();
    assert_eq!(read_to_eof(&mut bad), [0], "the final bytes, then the close");
    log.wait_for("a closed with the error", |l| {
        l.iter().any(|e| e.starts_with("closed InvalidData"))
    });
    assert!(
        log.snapshot().iter().any(|e| e.contains("bad frame length 250")),
        "{:?}",
        log.snapshot()
    );

    good.write_all(&frame(b"after\n")).unwrap();
    assert_eq!(read_plain(&mut good, 6), b"after\n");
    srv.stop().unwrap();
}

fn peer_end_of_stream_is_answered_and_closes(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let srv = start(b, framed(lines), &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(&[frame(b"last\n"), vec![0]].concat()).unwrap();
    assert_eq!(read_plain(&mut c, 5), b"last\n");
    assert_eq!(read_to_eof(&mut c), [0]);
    log.wait_for("closed", |l| l.contains(&"closed ok".to_string()));
    srv.stop().unwrap();
}

fn greeting_and_wake_output_are_translated(b: Backend) {
    let lines = Lines {
        greet: true,
        ..Lines::default()
    };
    let ids = lines.ids.clone();
    let srv = start(b, framed(lines), &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    assert_eq!(read_plain(&mut c, 6), b"hello\n");
    c.write_all(&frame(b"a\nb\n")).unwrap();
    assert_eq!(read_plain(&mut c, 4), b"a\nb\n");
    let id = ids.lock().unwrap()[0];
    assert!(srv.server.wake(id));
    assert_eq!(read_plain(&mut c, 20), b"woken after 2 lines\n");
    srv.stop().unwrap();
}

fn factory_error_opens_closing_and_closes_with_it(b: Backend) {
    let lines = Lines {
        greet: true,
        ..Lines::default()
    };
    let log = lines.log.clone();
    let handler = Translate::new(lines, |_| -> io::Result<Frames> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "no translator for you",
        ))
    });
    let srv = start(b, handler, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    // The greeting written in `opened` must not leak out untranslated.
    assert_eq!(read_to_eof(&mut c), b"");
    log.wait_for("closed", |l| l.iter().any(|e| e.starts_with("closed")));
    let l = log.snapshot();
    assert_eq!(l[0], "opened closing=true");
    assert_eq!(l[1], "closed PermissionDenied: no translator for you");
    srv.stop().unwrap();
}

fn detach_works_untranslated_and_closes_translated(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let handler = Translate::new(lines, |_| Ok(Frames::default())).when(|c| c.addr_index() == Some(1));
    let srv = start(b, handler, &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"]);
    let mut plain = srv.connect(0);
    plain.write_all(b"detach\n").unwrap();
    assert_eq!(read_n(&mut plain, 9), b"detached\n");
    log.wait_for("detached", |l| l.contains(&"detached".to_string()));

    let mut tr = srv.connect(1);
    tr.write_all(&frame(b"detach\n")).unwrap();
    assert_eq!(read_to_eof(&mut tr), [0]);
    log.wait_for("closed Unsupported", |l| {
        l.iter().any(|e| e.starts_with("closed Unsupported"))
    });
    srv.stop().unwrap();
}

fn unconsumed_plaintext_over_the_limit_closes_with_an_error(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let handler = Translate::new(lines, |_| Ok(Frames::default())).max_pending(1000);
    let srv = start(b, handler, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(&frame(&[b'x'; 2000])).unwrap();
    assert_eq!(read_to_eof(&mut c), [0]);
    log.wait_for("closed InvalidData", |l| {
        l.iter().any(|e| e.starts_with("closed InvalidData"))
    });
    srv.stop().unwrap();
}

fn panic_in_the_wrapped_handler_closes_only_that_connection_and_leaks_nothing(b: Backend) {
    let lines = Lines::default();
    let log = lines.log.clone();
    let srv = start(b, framed(lines), &["tcp://127.0.0.1:0"]);
    let mut other = srv.connect(0);
    other.write_all(&frame(b"a\n")).unwrap();
    assert_eq!(read_plain(&mut other, 2), b"a\n");
    let mut c = srv.connect(0);
    c.write_all(&frame(b"panic\n")).unwrap();
    assert_eq!(read_to_eof(&mut c), b"", "nothing of the panicking call is sent");
    log.wait_for("closed with the panic", |l| {
        l.iter().any(|e| e.contains("on purpose"))
    });
    // What the panicking call wrote must not turn up on another connection.
    other.write_all(&frame(b"b\n")).unwrap();
    assert_eq!(read_plain(&mut other, 2), b"b\n");
    srv.stop().unwrap();
}

/// A wrapped handler that reads `[4-byte length][body]` values and waits
/// for a whole one with `Conn::want`; answers each with its length and the
/// input length it saw; records the input length of every call.
#[derive(Clone, Default)]
struct Wanting {
    calls: Arc<Mutex<Vec<usize>>>,
}

impl Handler for Wanting {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        self.calls.lock().unwrap().push(input.len());
        if input.len() >= 4 {
            let len = u32::from_be_bytes([input[0], input[1], input[2], input[3]]) as usize;
            if input.len() >= 4 + len {
                c.write(format!("{len} {}\n", input.len()).as_bytes());
                return Action::None;
            }
            c.want(4 + len);
        }
        c.keep(input.len());
        Action::None
    }
}

/// Behind a translator the wanted length counts plaintext: the wrapped
/// handler is called once with the header, then once with the whole value,
/// however many frames and reads it came in.
fn want_counts_plaintext_behind_a_translator(b: Backend) {
    let h = Wanting::default();
    let calls = h.calls.clone();
    let srv = start(
        b,
        Translate::new(h, |_| Ok(Frames::default())),
        &["tcp://127.0.0.1:0"],
    );
    let mut c = srv.connect(0);
    const VALUE: usize = 60_000;
    let mut plain = (VALUE as u32).to_be_bytes().to_vec();
    plain.extend((0..VALUE).map(|i| (i % 251) as u8));
    c.write_all(&frame(&plain[..4])).unwrap();
    wait_until("the header's call", || !calls.lock().unwrap().is_empty());
    for piece in frame(&plain[4..]).chunks(1000) {
        c.write_all(piece).unwrap();
    }
    let want = format!("{VALUE} {}\n", VALUE + 4);
    assert_eq!(read_plain(&mut c, want.len()), want.as_bytes());
    assert_eq!(calls.lock().unwrap().clone(), [4, VALUE + 4]);
    srv.stop().unwrap();
}

per_backend!(
    want_counts_plaintext_behind_a_translator,
    panic_in_the_wrapped_handler_closes_only_that_connection_and_leaks_nothing,
    partial_frames_and_partial_lines_arrive_whole,
    only_connections_the_predicate_picks_are_translated,
    close_sends_the_translators_final_bytes,
    translator_error_closes_that_connection_with_the_error,
    peer_end_of_stream_is_answered_and_closes,
    greeting_and_wake_output_are_translated,
    factory_error_opens_closing_and_closes_with_it,
    detach_works_untranslated_and_closes_translated,
    unconsumed_plaintext_over_the_limit_closes_with_an_error,
);

/// TLS through rustls: the wrapped handlers above, behind a real handshake.
mod tls {
    use super::*;
    use crate::tls_support::*;
    use revio::Tls;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, StreamOwned};

    fn tls_echo_of_one_mebibyte_arrives_intact(b: Backend) {
        let (tls, cfg) = certs();
        let srv = start(b, with_tls(Echo, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let mut back = Vec::with_capacity(data.len());
        // 64 KiB at a time: several TLS records per write, read back whole.
        for chunk in data.chunks(64 * 1024) {
            back.extend_from_slice(&tls_roundtrip(&mut c, chunk));
        }
        assert!(back == data, "1 MiB echoed through TLS differs");
        srv.stop().unwrap();
    }

    fn tls_and_plain_side_by_side_with_the_predicate(b: Backend) {
        let (tls, cfg) = certs();
        let handler =
            Translate::new(Lines::default(), move |_| tls.accept()).when(|c| c.addr_index() == Some(1));
        let srv = start(b, handler, &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"]);
        let mut plain = srv.connect(0);
        assert_eq!(roundtrip(&mut plain, b"plain\n"), b"plain\n");
        let mut secure = client(&srv, 1, &cfg);
        assert_eq!(tls_roundtrip(&mut secure, b"secure\n"), b"secure\n");
        assert!(secure.conn.protocol_version().is_some());
        srv.stop().unwrap();
    }

    fn tls_garbage_closes_that_connection_with_an_error_and_others_keep_working(b: Backend) {
        let (tls, cfg) = certs();
        let lines = Lines::default();
        let log = lines.log.clone();
        let srv = start(b, with_tls(lines, tls), &["tcp://127.0.0.1:0"]);
        let mut good = client(&srv, 0, &cfg);
        assert_eq!(tls_roundtrip(&mut good, b"before\n"), b"before\n");

        let mut bad = srv.connect(0);
        bad.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let alert = read_to_eof(&mut bad);
        assert_eq!(
            alert.first(),
            Some(&21),
            "a TLS alert record, then the close: {alert:?}"
        );
        log.wait_for("closed with a TLS error", |l| {
            l.iter().any(|e| e.starts_with("closed InvalidData"))
        });
        let closed = log
            .snapshot()
            .into_iter()
            .find(|e| e.starts_with("closed"))
            .unwrap();
        assert!(closed.contains("TLS handshake failed"), "{closed}");

        assert_eq!(tls_roundtrip(&mut good, b"after\n"), b"after\n");
        srv.stop().unwrap();
    }

    fn tls_bad_record_after_the_handshake_closes_with_an_error(b: Backend) {
        let (tls, cfg) = certs();
        let lines = Lines::default();
        let log = lines.log.clone();
        let srv = start(b, with_tls(lines, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        assert_eq!(tls_roundtrip(&mut c, b"ok\n"), b"ok\n");
        // An application-data record that will not decrypt.
        let mut record = vec![23, 3, 3, 0, 32];
        record.extend_from_slice(&[0x42; 32]);
        c.sock.write_all(&record).unwrap();
        log.wait_for("closed with a TLS error", |l| {
            l.iter().any(|e| e.starts_with("closed InvalidData"))
        });
        let closed = log
            .snapshot()
            .into_iter()
            .find(|e| e.starts_with("closed"))
            .unwrap();
        assert!(closed.contains("TLS error"), "{closed}");
        srv.stop().unwrap();
    }

    fn tls_close_sends_close_notify(b: Backend) {
        let (tls, cfg) = certs();
        let lines = Lines::default();
        let log = lines.log.clone();
        let srv = start(b, with_tls(lines, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        c.write_all(b"one\nquit\n").unwrap();
        assert_eq!(read_n(&mut c, 8), b"one\nbye\n");
        // rustls reports a clean end (Ok(0)) only after a close_notify; a
        // bare TCP close would be an UnexpectedEof error.
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("a clean TLS close");
        assert!(rest.is_empty());
        log.wait_for("closed ok", |l| l.contains(&"closed ok".to_string()));
        srv.stop().unwrap();
    }

    fn tls_client_close_notify_closes_cleanly(b: Backend) {
        let (tls, cfg) = certs();
        let lines = Lines::default();
        let log = lines.log.clone();
        let srv = start(b, with_tls(lines, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        assert_eq!(tls_roundtrip(&mut c, b"hi\n"), b"hi\n");
        c.conn.send_close_notify();
        c.flush().unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .expect("the server answers with its close_notify");
        log.wait_for("closed ok", |l| l.contains(&"closed ok".to_string()));
        srv.stop().unwrap();
    }

    fn tls_greeting_and_wake_reach_the_client_encrypted(b: Backend) {
        let (tls, cfg) = certs();
        let lines = Lines {
            greet: true,
            ..Lines::default()
        };
        let ids = lines.ids.clone();
        let srv = start(b, with_tls(lines, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        // Written in `opened`, before the handshake: sent once it completes.
        assert_eq!(read_n(&mut c, 6), b"hello\n");
        assert_eq!(tls_roundtrip(&mut c, b"x\n"), b"x\n");
        let id = ids.lock().unwrap()[0];
        assert!(srv.server.wake(id));
        assert_eq!(read_n(&mut c, 20), b"woken after 1 lines\n");
        srv.stop().unwrap();
    }

    fn tls_echo_with_small_buffers_splits_records_and_pauses_reading(b: Backend) {
        let (tls, cfg) = certs();
        // Reads of 1000 bytes cut every 16 KiB record into pieces, and a
        // low high-water mark pauses reading while output waits.
        let config = revio::Config::new().read_buffer(1000).high_water(8 * 1024);
        let srv = start_with(b, config, with_tls(Echo, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        let mut back = Vec::with_capacity(data.len());
        for chunk in data.chunks(100 * 1024) {
            back.extend_from_slice(&tls_roundtrip(&mut c, chunk));
        }
        assert!(
            back == data,
            "1 MiB echoed through TLS with small buffers differs"
        );
        srv.stop().unwrap();
    }

    fn tls_shutdown_from_the_wrapped_handler_sends_close_notify(b: Backend) {
        let (tls, cfg) = certs();
        let mut srv = start(b, with_tls(Lines::default(), tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        c.write_all(b"shutdown\n").unwrap();
        assert_eq!(read_n(&mut c, 9), b"stopping\n");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("a clean TLS close");
        srv.join().unwrap();
    }

    fn tls_server_shutdown_sends_close_notify_to_every_connection(b: Backend) {
        let (tls, cfg) = certs();
        let srv = start(b, with_tls(Lines::default(), tls), &["tcp://127.0.0.1:0"]);
        let mut clients: Vec<_> = (0..3).map(|_| client(&srv, 0, &cfg)).collect();
        for c in &mut clients {
            assert_eq!(tls_roundtrip(c, b"x\n"), b"x\n");
        }
        srv.server.shutdown();
        for c in &mut clients {
            // A clean end (Ok) only after a close_notify; a bare TCP close
            // is an UnexpectedEof error in rustls.
            let mut rest = Vec::new();
            c.read_to_end(&mut rest)
                .expect("a clean TLS close at server shutdown");
        }
        srv.stop().unwrap();
    }

    #[test]
    fn tls_config_errors_are_clear() {
        let err = Tls::from_pem(b"not pem", b"not pem").unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = key.cert.pem();
        let err = Tls::from_pem(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("private key"), "{err}");
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let err = Tls::from_pem(cert.as_bytes(), other.signing_key.serialize_pem().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("do not make a TLS server"), "{err}");
        let err =
            Tls::from_pem_files("/nonexistent/revio-cert.pem", "/nonexistent/revio-key.pem").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/revio-cert.pem"), "{err}");
    }

    /// A PROXY header comes before the TLS handshake: the wrapped handler
    /// sees the client's address from the header, and plaintext as usual.
    fn proxy_header_then_tls(b: Backend) {
        let (tls, cfg) = certs();
        let log = Log::default();
        let seen = log.clone();
        struct Addr(Log);
        impl Handler for Addr {
            type State = ();
            fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
                self.0.push(c.remote_addr().unwrap().to_string());
                Action::None
            }
            fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
                c.write(input);
                Action::None
            }
        }
        let srv = start(b, with_tls(Addr(seen), tls), &["tcp://127.0.0.1:0?proxy=v1"]);
        let mut raw = srv.connect(0);
        raw.write_all(b"PROXY TCP4 203.0.113.5 203.0.113.1 5555 443\r\n")
            .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut c = StreamOwned::new(ClientConnection::new(cfg.clone(), name).unwrap(), raw);
        assert_eq!(tls_roundtrip(&mut c, b"secret"), b"secret");
        assert_eq!(log.snapshot(), ["tcp://203.0.113.5:5555"]);
        srv.stop().unwrap();
    }

    /// The wrapped handler reaches the TLS session: SNI and the ALPN
    /// protocol agreed.
    fn the_wrapped_handler_sees_sni_and_alpn(b: Backend) {
        let (tls, cfg) = certs();
        let tls = tls.alpn(&[b"revio/1".as_slice(), b"http/1.1"]);
        let mut client_cfg = (*cfg).clone();
        client_cfg.alpn_protocols = vec![b"revio/1".to_vec()];
        let cfg = Arc::new(client_cfg);
        struct Session;
        impl Handler for Session {
            type State = ();
            fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
                let t = c.translator::<revio::TlsTranslator>().expect("a TLS connection");
                let line = format!(
                    "{} {}\n",
                    t.server_name().unwrap_or("-"),
                    String::from_utf8_lossy(t.alpn_protocol().unwrap_or(b"-"))
                );
                c.write(line.as_bytes());
                Action::None
            }
        }
        let srv = start(b, with_tls(Session, tls), &["tcp://127.0.0.1:0"]);
        let mut c = client(&srv, 0, &cfg);
        c.write_all(b"?").unwrap();
        c.flush().unwrap();
        assert_eq!(read_n(&mut c, 18), b"localhost revio/1\n");
        srv.stop().unwrap();
    }

    per_backend!(
        the_wrapped_handler_sees_sni_and_alpn,
        proxy_header_then_tls,
        tls_server_shutdown_sends_close_notify_to_every_connection,
        tls_shutdown_from_the_wrapped_handler_sends_close_notify,
        tls_echo_with_small_buffers_splits_records_and_pauses_reading,
        tls_echo_of_one_mebibyte_arrives_intact,
        tls_and_plain_side_by_side_with_the_predicate,
        tls_garbage_closes_that_connection_with_an_error_and_others_keep_working,
        tls_bad_record_after_the_handshake_closes_with_an_error,
        tls_close_sends_close_notify,
        tls_client_close_notify_closes_cleanly,
        tls_greeting_and_wake_reach_the_client_encrypted,
    );
}
