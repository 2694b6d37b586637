//! [`Error`]: the reasons revio itself closes a connection or stops a loop,
//! carried inside [`std::io::Error`] so that handlers can tell them apart from
//! the operating system's errors (a reset, a broken pipe).

use std::fmt;
use std::io;
use std::time::Duration;

/// Why revio closed a connection (or stopped a loop), as opposed to an error
/// the operating system reported. It travels inside an [`io::Error`] (the
/// `error` of [`Handler::closed`](crate::Handler::closed), the result of
/// `serve`); [`Error::of`] finds it there.
///
/// ```
/// use std::io;
/// use revio::Error;
///
/// fn why(e: &io::Error) -> &'static str {
///     match Error::of(e) {
///         Some(Error::OutputLimit { .. }) => "the peer did not read its replies",
///         Some(Error::IdleTimeout(_)) => "idle for too long",
///         Some(_) => "closed by revio",
///         None => "an I/O error",
///     }
/// }
/// let e: io::Error = Error::IdleTimeout(std::time::Duration::from_secs(60)).into();
/// assert_eq!(why(&e), "idle for too long");
/// assert_eq!(e.kind(), io::ErrorKind::TimedOut);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A write would have taken the connection's queued output past
    /// [`Config::max_output`](crate::Config::max_output): the write was
    /// dropped and the connection closed without flushing. Kind: `OutOfMemory`.
    OutputLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// The loop's queued output, all connections together, went past
    /// [`Config::loop_output_budget`](crate::Config::loop_output_budget),
    /// and this connection held the most: it was closed without flushing.
    /// Kind: `OutOfMemory`.
    LoopOutputBudget {
        /// The budget in bytes.
        budget: usize,
        /// What this connection held when it was closed.
        held: usize,
    },
    /// The connection kept more unconsumed input than
    /// [`Config::max_input`](crate::Config::max_input) allows. Kind: `InvalidData`.
    InputLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// A handler call panicked; the message is the panic's. Kind: `Other`.
    Panic(String),
    /// No byte was read or written for [`Config::idle_timeout`](crate::Config::idle_timeout).
    /// Kind: `TimedOut`.
    IdleTimeout(Duration),
    /// The deadline set with [`Conn::set_deadline`](crate::Conn::set_deadline)
    /// passed. Kind: `TimedOut`.
    Deadline,
    /// A translated connection did not complete its handshake in time (the
    /// `tls` feature's `Tls::handshake_timeout`). Kind: `TimedOut`.
    HandshakeTimeout(Duration),
    /// A translated connection held an incomplete record (a TLS record, say)
    /// for longer than its translator allows, while the wrapped handler had
    /// no deadline of its own running (the `tls` feature's
    /// `Tls::record_timeout`). Kind: `TimedOut`.
    RecordTimeout(Duration),
    /// A peer sent more than the allowed amount before completing its
    /// handshake. Kind: `InvalidData`.
    HandshakeTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server shut down and this connection's queued output could not be
    /// sent within [`Config::shutdown_timeout`](crate::Config::shutdown_timeout):
    /// the connection was reset, so the peer sees the reply was cut.
    /// Kind: `TimedOut`.
    ShutdownTimeout {
        /// Bytes that were still queued.
        unsent: usize,
    },
    /// A UDP listener had [`Config::max_udp_remotes`](crate::Config::max_udp_remotes)
    /// remotes and a new one arrived: this, the least recently active, was
    /// closed. Kind: `Other`.
    UdpRemoteEvicted,
    /// The peer's certificate failed verification (a TLS client's check of
    /// the server it dialed, with the `tls` feature's `TlsClient`, or a
    /// server's check of a client certificate): `check` says which check,
    /// `detail` is rustls's account. Kind: `InvalidData`.
    ///
    /// ```
    /// use revio::{CertificateCheck, Error};
    ///
    /// fn advice(e: &std::io::Error) -> &'static str {
    ///     match Error::of(e) {
    ///         Some(Error::Certificate { check: CertificateCheck::Name, .. }) => "dialed the wrong host?",
    ///         Some(Error::Certificate { check: CertificateCheck::Expired, .. }) => "renew the certificate",
    ///         Some(Error::Certificate { check: CertificateCheck::Trust, .. }) => "add its CA to the roots",
    ///         _ => "",
    ///     }
    /// }
    /// # let e: std::io::Error = Error::Certificate { check: CertificateCheck::Expired, detail: String::new() }.into();
    /// # assert_eq!(advice(&e), "renew the certificate");
    /// ```
    Certificate {
        /// The check that failed.
        check: CertificateCheck,
        /// What rustls said about it.
        detail: String,
    },
    /// The connection was aborted by code ([`Action::Abort`](crate::Action::Abort),
    /// [`Conn::abort`](crate::Conn::abort) or [`Server::abort`](crate::Server::abort)):
    /// its queued output was dropped and the peer was reset. Kind:
    /// `ConnectionAborted`.
    Aborted,
}

impl Error {
    /// The revio error inside `e`, if revio made it.
    pub fn of(e: &io::Error) -> Option<&Error> {
        e.get_ref()?.downcast_ref::<Error>()
    }

    /// The [`io::ErrorKind`] this error is reported with.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::OutputLimit { .. } | Error::LoopOutputBudget { .. } => io::ErrorKind::OutOfMemory,
            Error::InputLimit { .. } | Error::HandshakeTooLarge { .. } | Error::Certificate { .. } => {
                io::ErrorKind::InvalidData
            }
            Error::IdleTimeout(_)
            | Error::Deadline
            | Error::HandshakeTimeout(_)
            | Error::RecordTimeout(_)
            | Error::ShutdownTimeout { .. } => io::ErrorKind::TimedOut,
            Error::Panic(_) | Error::UdpRemoteEvicted => io::ErrorKind::Other,
            Error::Aborted => io::ErrorKind::ConnectionAborted,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OutputLimit { limit } => write!(
                f,
                "queued output would exceed {limit} bytes (Config::max_output): the peer is not reading; closed"
            ),
            Error::LoopOutputBudget { budget, held } => write!(
                f,
                "the loop's queued output exceeded its budget of {budget} bytes (Config::loop_output_budget) \
                 and this connection held the most ({held} bytes); closed"
            ),
            Error::InputLimit { limit } => write!(
                f,
                "unconsumed input exceeds {limit} bytes (Config::max_input); closed"
            ),
            Error::Panic(msg) => write!(f, "event handler panicked: {msg}"),
            Error::IdleTimeout(d) => write!(
                f,
                "no byte read or written for {d:?} (Config::idle_timeout); closed"
            ),
            Error::Deadline => f.write_str("the connection's deadline passed (Conn::set_deadline); closed"),
            Error::HandshakeTimeout(d) => write!(f, "the handshake did not complete within {d:?}; closed"),
            Error::RecordTimeout(d) => write!(f, "an incomplete record waited more than {d:?} for its end; closed"),
            Error::HandshakeTooLarge { limit } => write!(
                f,
                "the peer sent more than {limit} bytes without completing the handshake; closed"
            ),
            Error::ShutdownTimeout { unsent } => write!(
                f,
                "the server shut down and {unsent} queued bytes could not be sent in time \
                 (Config::shutdown_timeout): the connection was reset"
            ),
            Error::UdpRemoteEvicted => f.write_str(
                "too many UDP remotes on this listener (Config::max_udp_remotes): the least recently active was closed",
            ),
            Error::Certificate { check, detail } => {
                write!(f, "the peer's TLS certificate failed verification ({check}): {detail}; closed")
            }
            Error::Aborted => f.write_str("aborted by the server's code: queued output dropped, the peer reset"),
        }
    }
}

impl std::error::Error for Error {}

/// Which check a peer's certificate failed: see [`Error::Certificate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateCheck {
    /// The certificate is not valid for the server name verified (the host
    /// dialed, or the name given): a wrong name.
    Name,
    /// It does not chain to a trusted root: an unknown issuer (a
    /// self-signed certificate, a private CA not in the roots), or a
    /// signature on the chain that does not verify.
    Trust,
    /// It has expired.
    Expired,
    /// It is not valid yet.
    NotYetValid,
    /// It was revoked.
    Revoked,
    /// It is not for this use (a client certificate shown by a server).
    Purpose,
    /// Another check: a bad encoding, an unsupported algorithm, a custom
    /// verifier's refusal.
    Other,
}

impl fmt::Display for CertificateCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateCheck::Name => "not valid for the name",
            CertificateCheck::Trust => "not trusted: unknown issuer",
            CertificateCheck::Expired => "expired",
            CertificateCheck::NotYetValid => "not valid yet",
            CertificateCheck::Revoked => "revoked",
            CertificateCheck::Purpose => "not for this purpose",
            CertificateCheck::Other => "invalid",
        })
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
