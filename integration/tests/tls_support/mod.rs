//! Shared by the TLS tests: a fresh certificate, a rustls client that
//! trusts it, and a handler behind TLS. The including test crate declares
//! `mod common;` (tests/common) next to this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use revio::{Handler, Tls, Translate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::{Running, read_n};

pub type Client = StreamOwned<ClientConnection, TcpStream>;

/// A fresh self-signed certificate: the server's side, and a client
/// configuration that trusts it (and nothing else).
pub fn certs() -> (Tls, Arc<ClientConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (key.cert.pem(), key.signing_key.serialize_pem());
    let tls = Tls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    (tls, trusting(&cert_pem))
}

/// A client configuration that trusts the certificate `cert_pem` (and
/// nothing else).
pub fn trusting(cert_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(client)
}

/// A client session for `localhost`, not yet started.
pub fn session(cfg: &Arc<ClientConfig>) -> ClientConnection {
    let name = ServerName::try_from("localhost").unwrap();
    ClientConnection::new(cfg.clone(), name).unwrap()
}

/// A TLS client (for the name `localhost`) of the server's address `i`.
pub fn client(srv: &Running, i: usize, cfg: &Arc<ClientConfig>) -> Client {
    StreamOwned::new(session(cfg), srv.connect(i))
}

/// Writes `data` through TLS and reads as many bytes back.
pub fn tls_roundtrip(c: &mut Client, data: &[u8]) -> Vec<u8> {
    c.write_all(data).unwrap();
    c.flush().unwrap();
    read_n(c, data.len())
}

/// `inner` behind TLS on every connection.
pub fn with_tls<H: Handler + Send + 'static>(inner: H, tls: Tls) -> impl Handler + Send + 'static {
    Translate::new(inner, move |_| tls.accept())
}

/// Reads until the stream ends or fails; returns how many bytes came.
pub fn drain(s: &mut impl Read) -> usize {
    let mut buf = [0; 4096];
    let mut n = 0;
    while let Ok(k) = s.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += k;
    }
    n
}

/// Reads to a clean TLS end and returns what came before it. rustls reports
/// a clean end only after the peer's `close_notify`; a bare TCP end is an
/// `UnexpectedEof` error, and fails here.
pub fn read_tls_end(c: &mut Client) -> Vec<u8> {
    let mut rest = Vec::new();
    c.read_to_end(&mut rest)
        .expect("a close_notify, then the end of the stream");
    rest
}
