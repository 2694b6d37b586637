//! [`TlsTranslator`]: one connection's TLS session, server or client side,
//! as a [`Translator`].

use std::fmt;
use std::io;
use std::mem;
use std::time::Duration;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::CertificateDer;
use rustls::server::UnbufferedServerConnection;
use rustls::{CommonState, HandshakeKind, ProtocolVersion};

use super::session::{Limits, Session};
use super::side::{ServerSide, Side};
use crate::translate::{Decoded, Translator};

/// One connection's TLS session, as a [`Translator`]: wire records in,
/// plaintext out and back. Either side: made by [`Tls::accept`](super::Tls::accept)
/// for an accepted connection (the server side) or by
/// [`TlsClient::connect`](super::TlsClient::connect) for a dialed one (the
/// client side, usually through [`Server::dial_tls`](crate::Server::dial_tls)).
///
/// The wrapped handler reaches it through [`Conn::translator`](crate::Conn::translator),
/// to see what the handshake agreed:
///
/// ```
/// use revio::{Action, Conn, Handler, TlsTranslator};
///
/// struct Report;
/// impl Handler for Report {
///     type State = ();
///     fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
///         if let Some(tls) = c.translator::<TlsTranslator>() {
///             let alpn = tls.alpn_protocol().map(String::from_utf8_lossy);
///             let chain = tls.peer_certificates().map_or(0, |c| c.len());
///             log::info!("{:?}: ALPN {alpn:?}, {chain} peer certificates", tls.server_name());
///         }
///         Action::None
///     }
/// }
/// ```
pub struct TlsTranslator {
    side: Sides,
    /// Bytes sent in the clear before the handshake (a PROXY header).
    preface: Vec<u8>,
}

enum Sides {
    Server(Session<ServerSide>),
    Client {
        session: Session<UnbufferedClientConnection>,
        name: Box<str>,
    },
}

/// Runs `$body` with `$s` bound to the session, whichever side it is.
macro_rules! each {
    ($side:expr, $s:ident => $body:expr) => {
        match $side {
            Sides::Server($s) => $body,
            Sides::Client { session: $s, .. } => $body,
        }
    };
}

impl fmt::Debug for TlsTranslator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsTranslator");
        d.field("client", &self.is_client());
        each!(&self.side, s => d.field("session", s));
        d.finish_non_exhaustive()
    }
}

impl TlsTranslator {
    pub(super) fn server(conn: UnbufferedServerConnection, limits: Limits) -> TlsTranslator {
        let side = ServerSide {
            conn,
            server_name: Default::default(),
        };
        TlsTranslator {
            side: Sides::Server(Session::new(side, limits)),
            preface: Vec::new(),
        }
    }

    pub(super) fn client(conn: UnbufferedClientConnection, name: &str, limits: Limits) -> TlsTranslator {
        TlsTranslator {
            side: Sides::Client {
                session: Session::new(conn, limits),
                name: name.into(),
            },
            preface: Vec::new(),
        }
    }

    /// Sends `bytes` in the clear before the handshake's first byte: a
    /// PROXY protocol header for the server behind, say
    /// ([`proxy_protocol::Encoder`](crate::proxy_protocol::Encoder)). Only
    /// a client speaks first: on the server side the bytes go before the
    /// server's first handshake message, which is too late for a header.
    pub fn preface(mut self, bytes: &[u8]) -> TlsTranslator {
        self.preface.extend_from_slice(bytes);
        self
    }

    /// Whether this is the client side (a dialed connection).
    pub fn is_client(&self) -> bool {
        matches!(self.side, Sides::Client { .. })
    }

    /// The state both sides share, from rustls: protocol version, cipher
    /// suite, ALPN, peer certificates, handshake kind.
    pub fn common(&self) -> &CommonState {
        each!(&self.side, s => s.conn.common())
    }

    /// The server side's rustls session; `None` on the client side.
    pub fn server_session(&self) -> Option<&UnbufferedServerConnection> {
        match &self.side {
            Sides::Server(s) => Some(&s.conn.conn),
            Sides::Client { .. } => None,
        }
    }

    /// The client side's rustls session (the TLS 1.3 tickets it received,
    /// say); `None` on the server side.
    pub fn client_session(&self) -> Option<&UnbufferedClientConnection> {
        match &self.side {
            Sides::Client { session, .. } => Some(&session.conn),
            Sides::Server(_) => None,
        }
    }

    /// The server name: on the server side, the one the client asked for
    /// (SNI), once its hello is read; on the client side, the one the
    /// server's certificate is verified against (and sent as SNI, unless it
    /// is an IP address).
    pub fn server_name(&self) -> Option<&str> {
        match &self.side {
            Sides::Server(s) => s.conn.server_name.get(),
            Sides::Client { name, .. } => Some(name),
        }
    }

    /// The ALPN protocol agreed in the handshake (see
    /// [`Tls::alpn`](super::Tls::alpn) and [`TlsClient::alpn`](super::TlsClient::alpn)).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.common().alpn_protocol()
    }

    /// The peer's certificate chain, its own certificate first: on the
    /// client side the server's, verified; on the server side the client's,
    /// if the configuration asks for one (client authentication, through
    /// [`Tls::from_config`](super::Tls::from_config)).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.common().peer_certificates()
    }

    /// Whether the handshake was full or resumed a session (known once it
    /// completes): a [`TlsClient`](super::TlsClient) resumes, with rustls's
    /// session cache, when it dials a server again.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.common().handshake_kind()
    }

    /// The TLS version agreed, once known.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.common().protocol_version()
    }

    /// Whether the handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        each!(&self.side, s => s.is_handshaking())
    }
}

impl Translator for TlsTranslator {
    fn start(&mut self, wire: &mut Vec<u8>) -> io::Result<()> {
        wire.extend_from_slice(&mem::take(&mut self.preface));
        each!(&mut self.side, s => s.start(wire))
    }

    fn read(&mut self, wire: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded> {
        each!(&mut self.side, s => s.read(wire, out))
    }

    fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        each!(&mut self.side, s => s.write(plain, wire))
    }

    fn close(&mut self, wire: &mut Vec<u8>) {
        each!(&mut self.side, s => s.close(wire))
    }

    fn is_handshaking(&self) -> bool {
        TlsTranslator::is_handshaking(self)
    }

    fn handshake_timeout(&self) -> Option<Duration> {
        each!(&self.side, s => s.limits.handshake_timeout)
    }

    fn record_timeout(&self) -> Option<Duration> {
        each!(&self.side, s => s.limits.record_timeout)
    }

    fn buffered(&self) -> usize {
        each!(&self.side, s => s.unsent.len())
    }
}
