//! The [`Translator`] trait: a per-connection stream transform, sans-IO.

use std::io;
use std::time::Duration;

/// A per-connection stream transform, driven without I/O: the translate
/// layer feeds it the bytes read from the socket and the plaintext the
/// wrapped handler writes, and sends whatever wire bytes it produces.
///
/// Output is appended to the `Vec`s given; never clear them, they may hold
/// earlier output. A translator buffers partial records itself: `read` is
/// handed every wire byte exactly once.
///
/// ```
/// use std::io;
/// use revio::Translator;
///
/// /// XORs every byte with a key: the simplest translator there is.
/// struct Xor(u8);
///
/// impl Translator for Xor {
///     fn read(&mut self, wire: &[u8], plain: &mut Vec<u8>, _: &mut Vec<u8>) -> io::Result<bool> {
///         plain.extend(wire.iter().map(|b| b ^ self.0));
///         Ok(false)
///     }
///     fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
///         wire.extend(plain.iter().map(|b| b ^ self.0));
///         Ok(())
///     }
/// }
/// ```
pub trait Translator {
    /// Wire bytes arrived from the peer. Append the plaintext they complete
    /// to `plain`, and any wire bytes to send back (a handshake, an alert)
    /// to `wire`. Returns `true` once the peer has ended its stream within
    /// the protocol (a TLS `close_notify`): the wrapped handler then gets
    /// [`Handler::eof`](crate::Handler::eof) after the plaintext so far.
    ///
    /// An error closes the connection: what was appended to `wire` is sent
    /// first, and `closed` reports the error.
    fn read(&mut self, wire: &[u8], plain: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<bool>;

    /// The wrapped handler wrote `plain`: append its wire form to `wire`. An
    /// error closes the connection, as for `read`.
    fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()>;

    /// The connection is about to close, or to stop writing (after
    /// [`Action::Close`](crate::Action::Close), a half-close, the server's
    /// shutdown, or an error): append final wire bytes such as a TLS
    /// `close_notify`. It may be called more than once: only the first call
    /// should append, and plaintext written after it should be dropped. The
    /// default appends nothing.
    fn close(&mut self, wire: &mut Vec<u8>) {
        let _ = wire;
    }

    /// Whether the translator is still in its handshake: while it is, the
    /// [`Translator::handshake_timeout`] runs. The default is `false`.
    fn is_handshaking(&self) -> bool {
        false
    }

    /// How long the handshake may take before the connection is closed with
    /// an [`Error::HandshakeTimeout`](crate::Error::HandshakeTimeout). The
    /// default is `None` (no limit).
    fn handshake_timeout(&self) -> Option<Duration> {
        None
    }

    /// Plaintext the translator holds that is not yet on the wire (written
    /// before a handshake completed, say). It counts towards the
    /// connection's [`Config::max_output`](crate::Config::max_output). The
    /// default is 0.
    fn buffered(&self) -> usize {
        0
    }
}
