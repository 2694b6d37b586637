//! Dialed connections as TLS clients (issue 27), on every backend: a CA of
//! the test's own (rcgen) signs the servers' certificates; the servers are
//! revio's own TLS listener (the same loop dials itself) or a plain rustls
//! server on a thread. A verified dial, each failed check a distinct error,
//! ALPN, resumption, the handshake timeout, and the ends of the stream.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use revio::{Action, Backend, CertificateCheck, Conn, Handler, Tls, TlsClient, TlsTranslator, Translate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client that trusts this CA (and nothing else).
    fn client(&self) -> TlsClient {
        TlsClient::from_ca_pem(self.pem.as_bytes()).unwrap()
    }

    /// A server certificate for `names` (an IP address among them is an IP
    /// name), expired if `expired`: its chain and key, as PEM.
    fn leaf(&self, names: &[&str], expired: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// revio's server side for a certificate from [`Ca::leaf`].
    fn tls(&self, names: &[&str], expired: bool) -> Tls {
        let (cert, key) = self.leaf(names, expired);
        Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }
}

/// Both ends in one handler: accepted connections echo (behind `Tls`),
/// dialed ones (behind `TlsClient`) say `greeting` and log what comes.
#[derive(Clone, Default)]
struct Ends {
    log: Log,
    greeting: &'static [u8],
    /// The dialer shuts its writing side after its greeting.
    dialer_ends: bool,
    /// At the peer's end, the dialer writes this; then it closes.
    dialer_last_word: Option<&'static [u8]>,
    /// At the peer's end, the accepted side writes this; then it closes.
    server_last_word: Option<&'static [u8]>,
}

impl Ends {
    /// Ends whose dialer writes `greeting` once connected.
    fn greeting(greeting: &'static [u8]) -> Ends {
        Ends {
            greeting,
            ..Ends::default()
        }
    }
}

fn side(c: &Conn<'_, ()>) -> &'static str {
    if c.is_dialed() { "dialed" } else { "accepted" }
}

impl Handler for Ends {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        if c.is_dialed() && !c.is_closing() {
            c.write(self.greeting);
            if self.dialer_ends {
                c.close_write();
            }
        }
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        let tls = c.translator::<TlsTranslator>().expect("a TLS connection");
        if !c.is_dialed() {
            self.log
                .push(format!("accepted data sni={:?}", tls.server_name()));
            c.write(input);
            return Action::None;
        }
        let alpn = tls
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        self.log.push(format!(
            "dialed data {} alpn={alpn:?} {:?}",
            String::from_utf8_lossy(input),
            tls.handshake_kind().expect("the handshake is done")
        ));
        Action::None
    }
    fn eof(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("{} eof", side(c)));
        let last = match c.is_dialed() {
            true => self.dialer_last_word,
            false => self.server_last_word,
        };
        if let Some(w) = last {
            c.write(w);
        }
        Action::Close
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        let why = match e.as_ref().and_then(revio::Error::of) {
            Some(revio::Error::Certificate { check, .. }) => format!("certificate {check:?}"),
            _ => why(&e),
        };
        self.log.push(format!("{} closed {why}", side(c)));
    }
}

/// `ends` behind TLS: `tls` on accepted connections; a dial brings its own.
/// Returns the server and the log `ends` write to.
fn serve_tls(b: Backend, ends: Ends, tls: Tls) -> (Running, Log) {
    let log = ends.log.clone();
    let srv = start(
        b,
        Translate::new(ends, move |_| tls.accept()),
        &["tcp://127.0.0.1:0"],
    );
    (srv, log)
}

/// The bytes of `dialed data` log lines, joined (however the stream was
/// cut into reads).
fn payload(lines: &[&String]) -> String {
    lines
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("dialed data ").expect("a data line");
            rest.split(" alpn=").next().unwrap_or_default().to_string()
        })
        .collect()
}

/// The first log line that starts with `prefix`, waited for.
fn wait_line(log: &Log, prefix: &str) -> String {
    log.wait_for(prefix, |l| l.iter().any(|e| e.starts_with(prefix)));
    log.starting(prefix).remove(0)
}

fn a_verified_dial_round_trips_data(b: Backend) {
    let ca = Ca::new();
    let ends = Ends::greeting(b"ping");
    // The name to verify comes from the dial address: an IP address here.
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false));
    let id = srv
        .server
        .dial_tls(&srv.addr(0), Some(LIMIT), &ca.client())
        .unwrap();
    assert_eq!(wait_line(&log, "dialed data"), "dialed data ping alpn=None Full");
    assert!(srv.server.close(id));
    log.wait_count("accepted closed", 1);
    assert_eq!(log.starting("dialed closed"), ["dialed closed ok"]);
    assert_eq!(log.starting("accepted closed"), ["accepted closed ok"]);
    srv.stop().unwrap();
}

fn a_server_name_given_is_verified_and_sent(b: Backend) {
    let ca = Ca::new();
    let ends = Ends::greeting(b"ping");
    let (srv, log) = serve_tls(b, ends, ca.tls(&["localhost"], false));
    let client = ca.client().server_name("localhost").unwrap();
    srv.server.dial_tls(&srv.addr(0), Some(LIMIT), &client).unwrap();
    assert_eq!(wait_line(&log, "dialed data"), "dialed data ping alpn=None Full");
    assert_eq!(
        wait_line(&log, "accepted data"),
        "accepted data sni=Some(\"localhost\")"
    );
    srv.stop().unwrap();
}

/// Dials a server with certificate `tls`, trusting `ca`: the dialer's `closed`.
fn failed_dial(b: Backend, tls: Tls, ca: &Ca) -> String {
    let ends = Ends::greeting(b"never sent");
    let (srv, log) = serve_tls(b, ends, tls);
    srv.server
        .dial_tls(&srv.addr(0), Some(LIMIT), &ca.client())
        .unwrap();
    let closed = wait_line(&log, "dialed closed");
    log.wait_count("accepted closed", 1);
    assert!(log.starting("dialed data").is_empty(), "{:?}", log.snapshot());
    srv.stop().unwrap();
    closed
}

fn a_wrong_name_untrusted_or_expired_certificate_each_fail_their_own_way(b: Backend) {
    let ca = Ca::new();
    let stranger = Ca::new();
    let cases = [
        (ca.tls(&["other.example"], false), CertificateCheck::Name),
        (stranger.tls(&["127.0.0.1"], false), CertificateCheck::Trust),
        (ca.tls(&["127.0.0.1"], true), CertificateCheck::Expired),
    ];
    for (tls, check) in cases {
        assert_eq!(
            failed_dial(b, tls, &ca),
            format!("dialed closed certificate {check:?}")
        );
    }
}

fn alpn_is_negotiated(b: Backend) {
    let ca = Ca::new();
    let ends = Ends::greeting(b"GET");
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false).alpn(&["h2", "http/1.1"]));
    let client = ca.client().alpn(&["http/1.1"]);
    srv.server.dial_tls(&srv.addr(0), Some(LIMIT), &client).unwrap();
    assert_eq!(
        wait_line(&log, "dialed data"),
        "dialed data GET alpn=Some(\"http/1.1\") Full"
    );
    srv.stop().unwrap();
}

fn the_second_dial_resumes_the_session(b: Backend) {
    let ca = Ca::new();
    let ends = Ends::greeting(b"ping");
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false));
    let client = ca.client();
    for n in 1..=2 {
        // One after the other: the first brings the ticket the second uses.
        let id = srv.server.dial_tls(&srv.addr(0), Some(LIMIT), &client).unwrap();
        log.wait_count("dialed data", n);
        srv.server.close(id);
        log.wait_count("dialed closed", n);
    }
    assert_eq!(
        log.starting("dialed data"),
        [
            "dialed data ping alpn=None Full",
            "dialed data ping alpn=None Resumed"
        ]
    );
    srv.stop().unwrap();
}

fn a_silent_server_is_left_at_the_handshake_timeout(b: Backend) {
    let ca = Ca::new();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let ends = Ends::default();
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false));
    let client = ca.client().handshake_timeout(Some(Duration::from_millis(300)));
    let addr = silent.local_addr().unwrap().to_string();
    srv.server.dial_tls(&addr, Some(LIMIT), &client).unwrap();
    // Accepted, and never answered.
    let (_held, _) = silent.accept().unwrap();
    assert_eq!(wait_line(&log, "dialed closed"), "dialed closed HandshakeTimeout");
    srv.stop().unwrap();
}

/// A server that hangs up mid-handshake fails the dial at once, with an
/// `UnexpectedEof`, long before the handshake timeout (it used to reach the
/// wrapped handler as a plain end and wait for that timeout).
fn a_server_that_hangs_up_mid_handshake_fails_the_dial_at_once(b: Backend) {
    let ca = Ca::new();
    let rude = TcpListener::bind("127.0.0.1:0").unwrap();
    let (srv, log) = serve_tls(b, Ends::default(), ca.tls(&["127.0.0.1"], false));
    let client = ca.client().handshake_timeout(Some(LIMIT * 10));
    let addr = rude.local_addr().unwrap().to_string();
    srv.server.dial_tls(&addr, Some(LIMIT), &client).unwrap();
    let (mut s, _) = rude.accept().unwrap();
    // The whole hello read (a socket closed with unread bytes resets), then
    // a plain end of stream.
    let mut head = [0u8; 5];
    std::io::Read::read_exact(&mut s, &mut head).unwrap();
    assert_eq!(head[0], 0x16, "a handshake record came");
    let mut hello = vec![0u8; usize::from(u16::from_be_bytes([head[3], head[4]]))];
    std::io::Read::read_exact(&mut s, &mut hello).unwrap();
    drop(s);
    assert_eq!(wait_line(&log, "dialed closed"), "dialed closed io:UnexpectedEof");
    srv.stop().unwrap();
}

fn close_notify_from_the_dialer_then_from_the_server(b: Backend) {
    let ca = Ca::new();
    let ends = Ends {
        greeting: b"ping",
        dialer_ends: true,
        server_last_word: Some(b"pong"),
        ..Ends::default()
    };
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false));
    srv.server
        .dial_tls(&srv.addr(0), Some(LIMIT), &ca.client())
        .unwrap();
    log.wait_count("dialed closed", 1);
    log.wait_count("accepted closed", 1);
    let l = log.snapshot();
    // The server echoed the greeting, then at the dialer's close_notify
    // wrote on (its side still open) and sent its own.
    let dialed: Vec<_> = l.iter().filter(|e| e.starts_with("dialed")).collect();
    let (data, rest) = dialed.split_at(dialed.len().saturating_sub(2));
    assert_eq!(rest, ["dialed eof", "dialed closed ok"], "{l:?}");
    assert_eq!(payload(data), "pingpong", "{l:?}");
    assert!(l.contains(&"accepted eof".to_string()), "{l:?}");
    assert!(l.contains(&"accepted closed ok".to_string()), "{l:?}");
    srv.stop().unwrap();
}

/// A rustls server on a thread, for `cert_pem` and `key_pem`: says `hello`,
/// sends its close_notify, then reads to the client's. Returns what it read.
fn rustls_server(listener: TcpListener, cert_pem: &str, key_pem: &str) -> thread::JoinHandle<Vec<u8>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        let mut s = StreamOwned::new(ServerConnection::new(config).unwrap(), sock);
        s.write_all(b"hello").unwrap();
        s.conn.send_close_notify();
        s.flush().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .expect("the client's close_notify, then the end");
        got
    })
}

fn a_rustls_server_ends_first_and_the_dialer_writes_on(b: Backend) {
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["127.0.0.1"], false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = rustls_server(listener, &cert, &key);
    let ends = Ends {
        dialer_last_word: Some(b"goodbye"),
        ..Ends::default()
    };
    let (srv, log) = serve_tls(b, ends, ca.tls(&["127.0.0.1"], false));
    srv.server.dial_tls(&addr, Some(LIMIT), &ca.client()).unwrap();
    // The server's end reached the dialer after its bytes; the dialer's
    // last word and its close_notify reached the server.
    assert_eq!(server.join().unwrap(), b"goodbye");
    log.wait_count("dialed closed", 1);
    assert_eq!(
        log.snapshot(),
        [
            "dialed data hello alpn=None Full",
            "dialed eof",
            "dialed closed ok"
        ]
    );
    srv.stop().unwrap();
}

fn a_dial_with_tls_to_a_handler_without_translate_is_closed(b: Backend) {
    let ca = Ca::new();
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let ends = Ends::greeting(b"plaintext");
    let log = ends.log.clone();
    let srv = start(b, ends, &["tcp://127.0.0.1:0"]);
    let addr = upstream.local_addr().unwrap().to_string();
    srv.server.dial_tls(&addr, Some(LIMIT), &ca.client()).unwrap();
    let (mut peer, _) = upstream.accept().unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(wait_line(&log, "dialed closed"), "dialed closed io:Unsupported");
    let (got, _) = read_until_end(&mut peer);
    assert!(got.is_empty(), "no plaintext reached the peer: {got:?}");
    srv.stop().unwrap();
}

fn a_unix_address_needs_a_server_name(b: Backend) {
    let ca = Ca::new();
    let (srv, _) = serve_tls(b, Ends::default(), ca.tls(&["localhost"], false));
    let e = srv
        .server
        .dial_tls("unix:///nonexistent.sock", None, &ca.client())
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    srv.stop().unwrap();
}

per_backend!(
    a_verified_dial_round_trips_data,
    a_server_name_given_is_verified_and_sent,
    a_wrong_name_untrusted_or_expired_certificate_each_fail_their_own_way,
    alpn_is_negotiated,
    the_second_dial_resumes_the_session,
    a_silent_server_is_left_at_the_handshake_timeout,
    a_server_that_hangs_up_mid_handshake_fails_the_dial_at_once,
    close_notify_from_the_dialer_then_from_the_server,
    a_rustls_server_ends_first_and_the_dialer_writes_on,
    a_dial_with_tls_to_a_handler_without_translate_is_closed,
    a_unix_address_needs_a_server_name,
);
