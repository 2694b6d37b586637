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
