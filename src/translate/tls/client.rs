//! [`TlsClient`]: the client side's configuration, for dialed connections,
//! and [`Server::dial_tls`].

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::session::{Limits, tls_error};
use super::{TlsTranslator, invalid};
use crate::addr::{Address, Network};
use crate::server::{ConnId, Server};

/// A TLS client configuration, for dialed connections: the roots the
/// server's certificate must chain to, the server name to verify (taken
/// from the dial address unless given), ALPN, and rustls settings (the
/// `ring` provider, TLS 1.2 and 1.3, rustls's default session cache, so a
/// second dial to the same server resumes). Cheap to clone; clones share the
/// session cache. Dial with [`Server::dial_tls`], or make a
/// [`TlsTranslator`] per connection with [`TlsClient::connect`].
///
/// The handler must be wrapped in a [`Translate`](crate::Translate) whose
/// translator is a [`TlsTranslator`] (the same one can serve accepted
/// connections with [`Tls::accept`](super::Tls::accept)): the dialed
/// connection then speaks TLS whatever the `Translate`'s factory says, and
/// the wrapped handler sees plaintext, as on an accepted one.
///
/// ```no_run
/// use std::time::Duration;
/// use revio::{Action, Conn, Handler, Server, TlsClient, TlsTranslator, Translate};
///
/// struct Get {
///     tls: TlsClient,
/// }
/// impl Handler for Get {
///     type State = ();
///     fn serving(&mut self, server: &Server) -> Action {
///         // Verified against the roots for the name "example.com".
///         let dialed = server.dial_tls("example.com:443", Some(Duration::from_secs(5)), &self.tls);
///         if let Err(e) = dialed {
///             eprintln!("dial: {e}");
///             return Action::Shutdown;
///         }
///         Action::None
///     }
///     fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
///         // Plaintext: it is sent once the handshake is done.
///         c.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
///         Action::None
///     }
///     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         let alpn = c.translator::<TlsTranslator>().and_then(|t| t.alpn_protocol());
///         print!("{}", String::from_utf8_lossy(input));
///         let _ = alpn;
///         Action::None
///     }
///     fn closed(&mut self, c: &mut Conn<'_, ()>, error: Option<std::io::Error>) {
///         // A failed verification says which check failed.
///         if let Some(e) = error {
///             eprintln!("{:?}", revio::Error::of(&e));
///         }
///         c.server().shutdown();
///     }
/// }
///
/// let tls = TlsClient::from_ca_file("ca.pem")?.alpn(&["http/1.1"]);
/// // No listener here: the handler only dials. Translate's factory is for
/// // accepted connections; a dialed one brings its own translator.
/// let handler = Translate::new(Get { tls }, |_| -> std::io::Result<TlsTranslator> {
///     Err(std::io::Error::other("no accepted connections"))
/// });
/// revio::serve(handler, ["tcp://127.0.0.1:0"])?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Platform roots
/// The library bundles no root certificates. For servers on the public
/// internet, build the root store from a well-kept crate of your own
/// choosing, e.g. `webpki-roots` (Mozilla's roots, compiled in):
///
/// ```ignore
/// let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
/// let tls = revio::TlsClient::from_roots(roots)?;
/// ```
///
/// or `rustls-native-certs` (the operating system's store, read at start):
///
/// ```ignore
/// let mut roots = rustls::RootCertStore::empty();
/// let found = rustls_native_certs::load_native_certs();
/// for e in &found.errors {
///     log::warn!("platform roots: {e}");
/// }
/// let (added, ignored) = roots.add_parsable_certificates(found.certs);
/// let tls = revio::TlsClient::from_roots(roots)?;
/// ```
///
/// # Bounds
/// As on the server side ([`Tls`](super::Tls)): the handshake must complete
/// within [`TlsClient::handshake_timeout`] (default 10 s), with at most
/// [`TlsClient::max_handshake_bytes`] from the server (default 64 KiB), and
/// an incomplete record may wait [`TlsClient::record_timeout`] for its end.
/// The dial's own timeout covers the TCP connect only; the handshake timeout
/// starts when it connects.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    limits: Limits,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name)
        .map(|n| n.to_owned())
        .map_err(|e| invalid(&format!("the TLS server name {name:?}"), e))
}

/// The host of a dial address (`host:port`, `[v6]:port`), as a TLS server
/// name.
fn host_of(address: &Address) -> io::Result<&str> {
    let target = address.target();
    let host = match target.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(h, _)| h),
        None => target.rsplit_once(':').map(|(h, _)| h),
    };
    match host {
        Some(h) if address.network() != Network::Unix && !h.is_empty() => Ok(h),
        _ => Err(invalid(
            &format!("dialing {address} with TLS"),
            "no host name to verify the server against: give one with TlsClient::server_name",
        )),
    }
}

impl TlsClient {
    /// From a rustls configuration built by hand (client certificates,
    /// another verifier, another crypto provider, a session cache of
    /// another size). Dials that share it share its session cache.
    pub fn new(config: Arc<ClientConfig>) -> TlsClient {
        TlsClient {
            config,
            server_name: None,
            limits: Limits::default(),
        }
    }

    /// Trusting the certificates of `roots` (and nothing else), with
    /// rustls's `ring` provider and safe defaults.
    pub fn from_roots(roots: RootCertStore) -> io::Result<TlsClient> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("setting up TLS", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient::new(Arc::new(config)))
    }

    /// Trusting the CA certificates in the PEM text `pem` (one or more).
    pub fn from_ca_pem(pem: &[u8]) -> io::Result<TlsClient> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid("reading the PEM CA certificates", e))?;
            roots
                .add(cert)
                .map_err(|e| invalid("a CA certificate cannot be a root", e))?;
        }
        if roots.is_empty() {
            return Err(invalid(
                "reading the PEM CA certificates",
                "no CERTIFICATE section found",
            ));
        }
        TlsClient::from_roots(roots)
    }

    /// Trusting the CA certificates in a PEM file (see [`TlsClient::from_ca_pem`]).
    pub fn from_ca_file(path: impl AsRef<Path>) -> io::Result<TlsClient> {
        let p = path.as_ref();
        let pem = std::fs::read(p)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", p.display())))?;
        TlsClient::from_ca_pem(&pem)
    }

    /// The name to verify every server's certificate against (and to send
    /// as SNI, unless it is an IP address), whatever the dial address says:
    /// for a server reached by IP address or through a tunnel. An error if
    /// `name` is neither a DNS name nor an IP address.
    pub fn server_name(mut self, name: &str) -> io::Result<TlsClient> {
        self.server_name = Some(server_name(name)?);
        Ok(self)
    }

    /// The protocols offered in ALPN, most preferred first (e.g.
    /// `[b"h2", b"http/1.1"]`). The one the server picks is
    /// [`TlsTranslator::alpn_protocol`]; a server that picks none leaves it
    /// `None`. Clients made from this one share its session cache.
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: &[P]) -> TlsClient {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.as_ref().to_vec()).collect();
        self.config = Arc::new(config);
        self
    }

    /// How long the handshake may take once connected (`None`: no limit).
    /// Default 10 s. Past it the connection is closed with an
    /// [`Error::HandshakeTimeout`](crate::Error::HandshakeTimeout).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> TlsClient {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// How long a record may stay incomplete after the handshake, while the
    /// wrapped handler has no deadline of its own running (`None`: no
    /// limit). Default 10 s. Past it: an
    /// [`Error::RecordTimeout`](crate::Error::RecordTimeout).
    pub fn record_timeout(mut self, timeout: Option<Duration>) -> TlsClient {
        self.limits.record_timeout = timeout;
        self
    }

    /// How many bytes the server may send before the handshake completes
    /// (its certificate chain among them). Default 64 KiB. Past it: an
    /// [`Error::HandshakeTooLarge`](crate::Error::HandshakeTooLarge).
    pub fn max_handshake_bytes(mut self, bytes: usize) -> TlsClient {
        self.limits.max_handshake_bytes = bytes;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A translator for one new connection to the server `name` (a DNS
    /// name or an IP address; the name given with
    /// [`TlsClient::server_name`], if any, is used instead). Pass it to
    /// [`Server::dial_translated`]; [`Server::dial_tls`] does both.
    pub fn connect(&self, name: &str) -> io::Result<TlsTranslator> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => server_name(name)?,
        };
        let shown = name.to_str().into_owned();
        let conn =
            UnbufferedClientConnection::new(self.config.clone(), name).map_err(|e| tls_error(e, true))?;
        Ok(TlsTranslator::client(conn, &shown, self.limits))
    }
}

impl Server {
    /// Dials `address` as [`Server::dial`] does, and speaks TLS on the new
    /// connection as a client of `tls`: the server's certificate is verified
    /// against `tls`'s roots, for the host of `address` (or the name given
    /// with [`TlsClient::server_name`]). The handler must be a
    /// [`Translate`](crate::Translate) over [`TlsTranslator`]s (see
    /// [`TlsClient`]); plaintext written in `opened` waits for the end of
    /// the handshake. A failed verification reaches `closed` as an
    /// [`Error::Certificate`](crate::Error::Certificate) that says which
    /// check failed.
    ///
    /// Errors, at once: those of [`Server::dial`], and an address with no
    /// host name (`unix://`) when `tls` has no server name.
    pub fn dial_tls(&self, address: &str, timeout: Option<Duration>, tls: &TlsClient) -> io::Result<ConnId> {
        let parsed: Address = address.parse()?;
        let translator = match &tls.server_name {
            Some(_) => tls.connect("")?,
            None => tls.connect(host_of(&parsed)?)?,
        };
        self.dial_translated(address, timeout, translator)
    }
}
