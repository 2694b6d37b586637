//! The TLS session driven in memory against a rustls client, sans-IO: the
//! input handling of the translate layer (unused bytes lent again, then the
//! new ones) is done here by hand.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

use super::{Tls, TlsTranslator};
use crate::translate::Translator;

const CERT: &str = include_str!("../../../examples/certs/localhost-cert.pem");
const KEY: &str = include_str!("../../../examples/certs/localhost-key.pem");

fn tls() -> Tls {
    Tls::from_pem(CERT.as_bytes(), KEY.as_bytes()).unwrap()
}

/// A client of version `v` (TLS 1.2 or 1.3) trusting the bundled certificate.
fn client_config(v: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[v])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

const VERSIONS: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS12, &rustls::version::TLS13];

/// A server session and a client, joined in memory.
struct Pair {
    server: TlsTranslator,
    client: ClientConnection,
    /// The server's unused input, lent again with the next bytes.
    unused: Vec<u8>,
    /// Plaintext the server decoded.
    plain: Vec<u8>,
    ended: bool,
    /// Plaintext the client read.
    received: Vec<u8>,
}

impl Pair {
    fn new(tls: &Tls, cfg: &Arc<ClientConfig>) -> Pair {
        let name = ServerName::try_from("localhost").unwrap();
        Pair {
            server: tls.accept().unwrap(),
            client: ClientConnection::new(cfg.clone(), name).unwrap(),
            unused: Vec::new(),
            plain: Vec::new(),
            ended: false,
            received: Vec::new(),
        }
    }

    /// Moves what the client has to send to the server, `piece` bytes per
    /// read, and what the server answers back to the client.
    fn send_to_server(&mut self, piece: usize) -> std::io::Result<()> {
        let mut wire = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut wire).unwrap();
        }
        let mut out = Vec::new();
        for chunk in wire.chunks(piece) {
            self.unused.extend_from_slice(chunk);
            let d = self.server.read(&mut self.unused, &mut out)?;
            assert!(d.plain <= d.used && d.used <= self.unused.len());
            self.plain.extend_from_slice(&self.unused[..d.plain]);
            self.unused.drain(..d.used);
            self.ended |= d.ended;
        }
        self.deliver_to_client(&out);
        Ok(())
    }

    fn deliver_to_client(&mut self, wire: &[u8]) {
        let mut rest = wire;
        while !rest.is_empty() {
            self.client.read_tls(&mut rest).unwrap();
            let state = self.client.process_new_packets().unwrap();
            let start = self.received.len();
            self.received.resize(start + state.plaintext_bytes_to_read(), 0);
            self.client
                .reader()
                .read_exact(&mut self.received[start..])
                .unwrap();
        }
    }

    fn handshake(&mut self, piece: usize) {
        while self.client.is_handshaking() {
            self.send_to_server(piece).unwrap();
        }
        // The client's Finished (and, in TLS 1.3, the tickets back).
        self.send_to_server(piece).unwrap();
        assert!(!self.server.is_handshaking());
    }

    /// The server writes `plain`; the client reads it.
    fn server_writes(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        self.server.write(plain, &mut wire).unwrap();
        self.deliver_to_client(&wire);
        std::mem::take(&mut self.received)
    }
}

#[test]
fn records_cut_anywhere_arrive_whole_and_leave_no_input_behind() {
    let tls = tls();
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    for v in VERSIONS {
        let cfg = client_config(v);
        for piece in [1, 2, 5, 333, 16 * 1024 + 5, 1 << 20] {
            let mut p = Pair::new(&tls, &cfg);
            p.handshake(piece);
            p.client.writer().write_all(&data).unwrap();
            p.send_to_server(piece).unwrap();
            assert!(p.plain == data, "{v:?}, pieces of {piece}");
            assert!(p.unused.is_empty(), "{v:?}, pieces of {piece}: input left unused");
            assert_eq!(p.server_writes(&data), data);
            assert_eq!(p.server.buffered(), 0);
        }
    }
}

#[test]
fn plaintext_written_during_the_handshake_waits_then_goes_first() {
    let tls = tls();
    for v in VERSIONS {
        let mut p = Pair::new(&tls, &client_config(v));
        let mut wire = Vec::new();
        p.server.write(b"early", &mut wire).unwrap();
        assert!(wire.is_empty());
        assert_eq!(p.server.buffered(), 5);
        p.handshake(usize::MAX);
        assert_eq!(p.server.buffered(), 0);
        assert_eq!(p.server_writes(b"late"), b"earlylate");
    }
}

#[test]
fn close_sends_close_notify_once_and_drops_later_writes() {
    let tls = tls();
    for v in VERSIONS {
        let mut p = Pair::new(&tls, &client_config(v));
        p.handshake(usize::MAX);
        let mut wire = Vec::new();
        p.server.write(b"last", &mut wire).unwrap();
        p.server.close(&mut wire);
        let sent = wire.len();
        p.server.close(&mut wire);
        p.server.write(b"dropped", &mut wire).unwrap();
        assert_eq!(wire.len(), sent);
        p.deliver_to_client(&wire);
        assert_eq!(p.received, b"last");
        let mut rest = Vec::new();
        p.client.reader().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "then a clean end ({v:?})");
    }
}

#[test]
fn the_peers_close_notify_ends_the_stream() {
    let tls = tls();
    for v in VERSIONS {
        let mut p = Pair::new(&tls, &client_config(v));
        p.handshake(usize::MAX);
        p.client.writer().write_all(b"bye").unwrap();
        p.client.send_close_notify();
        p.send_to_server(usize::MAX).unwrap();
        assert_eq!(p.plain, b"bye");
        assert!(p.ended, "{v:?}");
        // The server may still write, then close.
        assert_eq!(p.server_writes(b"after"), b"after");
    }
}

#[test]
fn garbage_is_answered_with_an_alert_and_fails() {
    let tls = tls();
    let mut t = tls.accept().unwrap();
    let mut wire = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    let mut out = Vec::new();
    let e = t.read(&mut wire, &mut out).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().starts_with("TLS handshake failed"), "{e}");
    assert_eq!(out.first(), Some(&21), "an alert record");
    // Failed: nothing more is sent.
    let mut more = Vec::new();
    t.close(&mut more);
    t.write(b"x", &mut more).unwrap();
    assert!(more.is_empty());
}

#[test]
fn the_server_name_is_known_after_full_and_resumed_handshakes() {
    let tls = tls();
    for v in VERSIONS {
        let cfg = client_config(v);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut p = Pair::new(&tls, &cfg);
            assert_eq!(p.server.server_name(), None);
            p.handshake(usize::MAX);
            assert_eq!(p.server.server_name(), Some("localhost"), "{v:?}");
            kinds.push(p.client.handshake_kind().unwrap());
        }
        assert_eq!(kinds, [HandshakeKind::Full, HandshakeKind::Resumed], "{v:?}");
    }
}

#[test]
fn unused_input_is_one_incomplete_record_or_fragments_being_joined() {
    use super::session::one_incomplete_record;
    assert!(one_incomplete_record(&[]));
    assert!(one_incomplete_record(&[23, 3, 3, 0]));
    assert!(one_incomplete_record(&[23, 3, 3, 0, 2, 1]));
    // A whole record, kept: rustls is joining a message in it.
    assert!(!one_incomplete_record(&[22, 3, 3, 0, 2, 1, 2]));
    assert!(!one_incomplete_record(&[22, 3, 3, 0, 1, 1, 22, 3]));
}

/// A revio client session and a revio server session, joined in memory.
struct Duo {
    sides: [TlsTranslator; 2],
    /// Per side: its unused input, lent again with the next bytes.
    unused: [Vec<u8>; 2],
    /// Per side: the plaintext it decoded.
    plain: [Vec<u8>; 2],
    ended: [bool; 2],
}

impl Duo {
    fn new(client: &super::TlsClient, tls: &Tls) -> Duo {
        Duo {
            sides: [client.connect("localhost").unwrap(), tls.accept().unwrap()],
            unused: Default::default(),
            plain: Default::default(),
            ended: [false; 2],
        }
    }

    /// Moves `wire`, `piece` bytes per read, to side `to`, and what it
    /// answers back, until neither has anything to say.
    fn deliver(&mut self, mut to: usize, mut wire: Vec<u8>, piece: usize) -> std::io::Result<()> {
        while !wire.is_empty() {
            let mut out = Vec::new();
            for chunk in wire.chunks(piece) {
                self.unused[to].extend_from_slice(chunk);
                let d = self.sides[to].read(&mut self.unused[to], &mut out)?;
                self.plain[to].extend_from_slice(&self.unused[to][..d.plain]);
                self.unused[to].drain(..d.used);
                self.ended[to] |= d.ended;
            }
            wire = out;
            to = 1 - to;
        }
        Ok(())
    }

    fn handshake(&mut self, piece: usize) -> std::io::Result<()> {
        let mut hello = Vec::new();
        self.sides[0].start(&mut hello)?;
        assert!(!hello.is_empty(), "a client speaks first");
        let mut none = Vec::new();
        self.sides[1].start(&mut none)?;
        assert!(none.is_empty(), "a server waits for the hello");
        self.deliver(1, hello, piece)
    }

    fn send(&mut self, from: usize, plain: &[u8], piece: usize) {
        let mut wire = Vec::new();
        self.sides[from].write(plain, &mut wire).unwrap();
        self.deliver(1 - from, wire, piece).unwrap();
    }
}

fn tls_client(v: &'static rustls::SupportedProtocolVersion) -> super::TlsClient {
    super::TlsClient::new(client_config(v))
}

#[test]
fn a_revio_client_and_server_agree_in_pieces_of_any_size() {
    let tls = tls();
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    for v in VERSIONS {
        let client = tls_client(v);
        for piece in [1, 7, 16 * 1024 + 5, 1 << 20] {
            let mut d = Duo::new(&client, &tls);
            d.handshake(piece).unwrap();
            assert!(!d.sides[0].is_handshaking() && !d.sides[1].is_handshaking());
            assert!(d.sides[0].is_client() && !d.sides[1].is_client());
            assert_eq!(d.sides[1].server_name(), Some("localhost"));
            assert_eq!(d.sides[0].peer_certificates().map(|c| c.len()), Some(1));
            d.send(0, &data, piece);
            assert!(d.plain[1] == data, "{v:?}, pieces of {piece}");
            d.send(1, &data, piece);
            assert!(d.plain[0] == data, "{v:?}, pieces of {piece}");
            assert!(d.unused.iter().all(|u| u.is_empty()));
        }
    }
}

#[test]
fn a_client_writes_before_its_handshake_ends_and_the_bytes_wait() {
    let tls = tls();
    for v in VERSIONS {
        let mut d = Duo::new(&tls_client(v), &tls);
        let mut wire = Vec::new();
        d.sides[0].write(b"early", &mut wire).unwrap();
        assert!(wire.is_empty());
        assert_eq!(d.sides[0].buffered(), 5);
        d.handshake(usize::MAX).unwrap();
        assert_eq!(d.sides[0].buffered(), 0);
        assert_eq!(d.plain[1], b"early", "{v:?}");
    }
}

#[test]
fn a_client_resumes_on_its_second_connection() {
    let tls = tls();
    for v in VERSIONS {
        let client = tls_client(v);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut d = Duo::new(&client, &tls);
            d.handshake(usize::MAX).unwrap();
            // TLS 1.3 tickets come after the handshake, with the data.
            d.send(1, b"hi", usize::MAX);
            kinds.push(d.sides[0].handshake_kind().unwrap());
        }
        assert_eq!(kinds, [HandshakeKind::Full, HandshakeKind::Resumed], "{v:?}");
    }
}

#[test]
fn close_notify_ends_the_stream_both_ways() {
    let tls = tls();
    for v in VERSIONS {
        for closer in [0, 1] {
            let mut d = Duo::new(&tls_client(v), &tls);
            d.handshake(usize::MAX).unwrap();
            let mut wire = Vec::new();
            d.sides[closer].write(b"bye", &mut wire).unwrap();
            d.sides[closer].close(&mut wire);
            d.deliver(1 - closer, wire, usize::MAX).unwrap();
            assert_eq!(d.plain[1 - closer], b"bye");
            assert!(d.ended[1 - closer], "{v:?}, {closer} closed");
            // The other side may still write.
            d.send(1 - closer, b"after", usize::MAX);
            assert_eq!(d.plain[closer], b"after");
        }
    }
}
