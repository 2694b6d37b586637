//! TLS through rustls (the `tls` feature): [`Tls`], the server
//! configuration, [`TlsClient`] (in `client`), the client configuration
//! for dialed connections, and [`TlsTranslator`] (in `translator`), one
//! connection's session as a [`Translator`](crate::Translator), either side.
//! The session itself (`session`) is the same for both sides; `side` holds
//! the little that differs.
//!
//! The session is rustls's *unbuffered* connection: it does no I/O
//! and holds no I/O buffers. It decrypts records in place, in the buffer the
//! translate layer lends (from a pool shared by the loop's connections), and
//! encodes records straight into the connection's outgoing wire bytes. So
//! between reads an idle TLS connection holds its keys and session state
//! only, no buffer.

mod client;
mod server_name;
mod session;
mod side;
#[cfg(test)]
mod tests;
mod translator;

pub use client::TlsClient;
pub use translator::TlsTranslator;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::UnbufferedServerConnection;

use session::Limits;

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
/// the wrapped handler writes before the handshake completes waits in the
/// translator and counts towards [`Config::max_output`](crate::Config::max_output).
#[derive(Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    limits: Limits,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

pub(super) fn invalid(what: &str, e: impl fmt::Display) -> io::Error {
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
    /// authentication, session resumption, another crypto provider). Its
    /// certificate resolver is wrapped in one that notes the server name the
    /// client asks for ([`TlsTranslator::server_name`]) and otherwise defers
    /// to it.
    pub fn from_config(config: Arc<ServerConfig>) -> Tls {
        Tls {
            config: server_name::noting(config),
            limits: Limits::default(),
        }
    }

    /// How long a connection may take to complete its handshake (`None`: no
    /// limit). Default 10 s. Past it the connection is closed and `closed`
    /// gets an [`Error::HandshakeTimeout`](crate::Error::HandshakeTimeout).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Tls {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// How long a record may stay incomplete (its first bytes received, not
    /// its end) after the handshake, while the wrapped handler has no
    /// deadline of its own running (`None`: no limit). Default 10 s. Past it
    /// the connection is closed with an
    /// [`Error::RecordTimeout`](crate::Error::RecordTimeout): a peer that
    /// trickles a record a byte at a time is not held forever.
    pub fn record_timeout(mut self, timeout: Option<Duration>) -> Tls {
        self.limits.record_timeout = timeout;
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

    /// How many bytes a peer may send before its handshake completes
    /// (counting those of an incomplete record or message, which wait in the
    /// connection's input buffer). Default 64 KiB. Past it the connection is
    /// closed with an
    /// [`Error::HandshakeTooLarge`](crate::Error::HandshakeTooLarge). rustls
    /// itself refuses a handshake message over 64 KiB (a large client
    /// certificate chain is one message): a peer that announces a longer one
    /// is closed with the same error, whatever this is set to.
    pub fn max_handshake_bytes(mut self, bytes: usize) -> Tls {
        self.limits.max_handshake_bytes = bytes;
        self
    }

    /// The rustls configuration (with the certificate resolver that notes
    /// server names, see [`Tls::from_config`]).
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A translator for one new connection.
    pub fn accept(&self) -> io::Result<TlsTranslator> {
        let conn =
            UnbufferedServerConnection::new(self.config.clone()).map_err(|e| session::tls_error(e, true))?;
        Ok(TlsTranslator::server(conn, self.limits))
    }
}
