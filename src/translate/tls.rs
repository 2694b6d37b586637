//! TLS through rustls (the `tls` feature): a [`Translator`] around a rustls
//! `ServerConnection`, and [`Tls`], the server configuration it is made from.
//! rustls does no I/O of its own, so the loop drives it like any handler.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::Translator;

/// A TLS server configuration: certificate chain, private key and rustls
/// settings (the `ring` provider, TLS 1.2 and 1.3). Cheap to clone. Make one
/// [`TlsTranslator`] per connection with [`Tls::accept`], typically as the
/// factory of a [`Translate`](crate::Translate).
///
/// ```no_run
/// use revio::{Action, Conn, Handler, Tls, Translate};
///
/// struct Hello;
/// impl Handler for Hello {
///     type State = ();
///     fn data(&mut self, c: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
///         c.write(b"hello\n");
///         Action::None
///     }
/// }
///
/// let tls = Tls::from_pem_files("cert.pem", "key.pem")?;
/// // Plaintext on port 8080, TLS on port 4443.
/// let handler = Translate::new(Hello, move |_| tls.accept()).when(|c| c.addr_index() == Some(1));
/// revio::serve(handler, ["tcp://0.0.0.0:8080", "tcp://0.0.0.0:4443"])?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Bounds
/// A connection must complete its handshake within [`Tls::handshake_timeout`]
/// (default 10 s) and may send at most [`Tls::max_handshake_bytes`] (default
/// 64 KiB) before it does; past either it is closed with an
/// [`Error::HandshakeTimeout`](crate::Error::HandshakeTimeout) or
/// [`Error::HandshakeTooLarge`](crate::Error::HandshakeTooLarge). Plaintext
/// the wrapped handler writes before the handshake completes waits in
/// rustls and counts towards [`Config::max_output`](crate::Config::max_output).
#[derive(Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
    max_handshake_bytes: usize,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_handshake_bytes", &self.max_handshake_bytes)
            .finish_non_exhaustive()
    }
}

fn invalid(what: &str, e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

impl Tls {
    /// From PEM text: `cert_chain` holds one or more certificates (the
    /// server's first), `key` a PKCS#8, PKCS#1 or SEC1 private key. Both may
    /// be the same combined file.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<Tls> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("reading the PEM certificate chain", e))?;
        if certs.is_empty() {
            return Err(invalid(
                "reading the PEM certificate chain",
                "no CERTIFICATE section found",
            ));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid("reading the PEM private key", e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("setting up TLS", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid("the certificate and key do not make a TLS server", e))?;
        Ok(Tls::from_config(Arc::new(config)))
    }

    /// From PEM files (see [`Tls::from_pem`]).
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Tls> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", p.display())))
        };
        Tls::from_pem(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
    }

    /// From a rustls configuration built by hand (ALPN, client
    /// authentication, session resumption, another crypto provider).
    pub fn from_config(config: Arc<ServerConfig>) -> Tls {
        Tls {
            config,
            handshake_timeout: Some(Duration::from_secs(10)),
            max_handshake_bytes: RUSTLS_MESSAGE_LIMIT,
        }
    }

    /// How long a connection may take to complete its handshake (`None`: no
    /// limit). Default 10 s. Past it the connection is closed and `closed`
    /// gets an [`Error::HandshakeTimeout`](crate::Error::HandshakeTimeout).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Tls {
        self.handshake_timeout = timeout;
        self
    }

    /// The protocols offered in ALPN, most preferred first (e.g.
    /// `[b"h2", b"http/1.1"]`); a client that offers none of them fails the
    /// handshake. The negotiated one is
    /// [`TlsTranslator::alpn_protocol`].
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: &[P]) -> Tls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.as_ref().to_vec()).collect();
        self.config = Arc::new(config);
        self
    }

    /// How many bytes a peer may send before its handshake completes.
    /// Default 64 KiB. Past it the connection is closed with an
    /// [`Error::HandshakeTooLarge`](crate::Error::HandshakeTooLarge). rustls
    /// itself holds at most 64 KiB of one unfinished handshake message (a
    /// large client certificate chain is one message): a peer that sends a
    /// longer one is closed with the same error, whatever this is set to.
    pub fn max_handshake_bytes(mut self, bytes: usize) -> Tls {
        self.max_handshake_bytes = bytes;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A translator for one new connection.
    pub fn accept(&self) -> io::Result<TlsTranslator> {
        let mut conn = ServerConnection::new(self.config.clone()).map_err(|e| tls_error(e, true))?;
        // The translate layer sends every record rustls makes as soon as it
        // is made, and counts plaintext written before the handshake
        // completes (`buffered`) towards the connection's output limit, so
        // rustls's own buffer needs no limit of its own.
        conn.set_buffer_limit(None);
        Ok(TlsTranslator {
            conn,
            closed: false,
            handshake_timeout: self.handshake_timeout,
            handshake_left: self.max_handshake_bytes,
            max_handshake_bytes: self.max_handshake_bytes,
            early_plaintext: 0,
        })
    }
}

/// The most rustls holds of one unfinished handshake message (its deframer
/// buffer): past it `read_tls` fails with "message buffer full".
const RUSTLS_MESSAGE_LIMIT: usize = 64 * 1024;

fn tls_error(e: rustls::Error, handshaking: bool) -> io::Error {
    let what = if handshaking {
        "TLS handshake failed"
    } else {
        "TLS error"
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

/// One connection's TLS session, as a [`Translator`]: wire records in,
/// plaintext out and back. Made by [`Tls::accept`].
pub struct TlsTranslator {
    conn: ServerConnection,
    /// `close_notify` has been queued: nothing more is encrypted.
    closed: bool,
    handshake_timeout: Option<Duration>,
    /// Bytes the peer may still send before its handshake completes.
    handshake_left: usize,
    max_handshake_bytes: usize,
    /// Plaintext written before the handshake completed, waiting in rustls.
    early_plaintext: usize,
}

impl fmt::Debug for TlsTranslator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTranslator")
            .field("handshaking", &self.conn.is_handshaking())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl TlsTranslator {
    /// The rustls session (SNI, ALPN, protocol version, peer certificates).
    pub fn session(&self) -> &ServerConnection {
        &self.conn
    }

    /// The server name the client asked for (SNI), once its hello is read.
    pub fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// The ALPN protocol agreed in the handshake (see [`Tls::alpn`]).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The client's certificate chain, if the configuration asks for one
    /// (client authentication, through [`Tls::from_config`]).
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// Whether the handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Moves every record rustls has ready into `wire`.
    fn drain(&mut self, wire: &mut Vec<u8>) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(wire)? == 0 {
                break;
            }
        }
        Ok(())
    }
}

impl Translator for TlsTranslator {
    fn read(&mut self, mut input: &[u8], plain: &mut Vec<u8>, wire: &mut Vec<u8>) -> io::Result<bool> {
        let mut ended = false;
        while !input.is_empty() {
            // rustls takes at most a buffer's worth per call; what it takes
            // before the handshake completes counts towards the limit (the
            // application data a client sends right after its Finished does
            // not).
            let handshaking = self.conn.is_handshaking();
            let before = input.len();
            let took = match self.conn.read_tls(&mut input) {
                Ok(n) => n,
                Err(_) if self.conn.is_handshaking() => {
                    // Its buffer for an unfinished handshake message is full.
                    let limit = self.max_handshake_bytes.min(RUSTLS_MESSAGE_LIMIT);
                    return Err(crate::Error::HandshakeTooLarge { limit }.into());
                }
                Err(e) => return Err(e),
            };
            if handshaking {
                let n = before - input.len();
                if n > self.handshake_left {
                    let limit = self.max_handshake_bytes;
                    return Err(crate::Error::HandshakeTooLarge { limit }.into());
                }
                self.handshake_left -= n;
            }
            if took == 0 {
                // After close_notify nothing more is read.
                ended = true;
                break;
            }
            let state = match self.conn.process_new_packets() {
                Ok(s) => s,
                Err(e) => {
                    let handshaking = self.conn.is_handshaking();
                    // Send the alert rustls queued for the peer.
                    let _ = self.drain(wire);
                    return Err(tls_error(e, handshaking));
                }
            };
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plain.len();
                plain.resize(start + n, 0);
                self.conn.reader().read_exact(&mut plain[start..])?;
            }
            ended |= state.peer_has_closed();
            // Handshake messages, session tickets, and plaintext written
            // before the handshake completed.
            self.drain(wire)?;
        }
        if !self.conn.is_handshaking() {
            self.early_plaintext = 0;
        }
        Ok(ended)
    }

    fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        if self.closed {
            log::debug!(
                "revio: {} bytes written after TLS close_notify dropped",
                plain.len()
            );
            return Ok(());
        }
        io::Write::write_all(&mut self.conn.writer(), plain)?;
        if self.conn.is_handshaking() {
            self.early_plaintext += plain.len();
        }
        self.drain(wire)
    }

    fn close(&mut self, wire: &mut Vec<u8>) {
        if !self.closed {
            self.closed = true;
            self.conn.send_close_notify();
            let _ = self.drain(wire);
        }
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    fn buffered(&self) -> usize {
        self.early_plaintext
    }
}
