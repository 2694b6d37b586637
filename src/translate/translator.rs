//! The [`Translator`] trait: a per-connection stream transform, sans-IO.

use std::io;
use std::time::Duration;

/// A per-connection stream transform, driven without I/O: the translate
/// layer lends it the wire bytes read from the socket, to decode in place,
/// and the plaintext the wrapped handler writes, and sends whatever wire
/// bytes it produces.
///
/// A translator needs no input buffer of its own: the bytes of an
/// incomplete unit (a partial TLS record) that it leaves unused are kept by
/// the translate layer, in a buffer from a pool shared by the loop's
/// connections, and lent again, followed by the next bytes received. So an
/// idle connection holds no input buffer at all.
///
/// Output is appended to the `Vec`s given; never clear them, they may hold
/// earlier output.
///
/// ```
/// use std::io;
/// use revio::{Decoded, Translator};
///
/// /// XORs every byte with a key: the simplest translator there is.
/// struct Xor(u8);
///
/// impl Translator for Xor {
///     fn read(&mut self, wire: &mut [u8], _: &mut Vec<u8>) -> io::Result<Decoded> {
///         wire.iter_mut().for_each(|b| *b ^= self.0);
///         Ok(Decoded::plaintext(wire.len()))
///     }
///     fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
///         wire.extend(plain.iter().map(|b| b ^ self.0));
///         Ok(())
///     }
/// }
/// ```
pub trait Translator {
    /// The connection opened: append the wire bytes this side sends before
    /// it hears from the peer (a TLS client's hello) to `wire`. Called once,
    /// before any other method. An error closes the connection, as for
    /// `read`. The default appends nothing.
    fn start(&mut self, wire: &mut Vec<u8>) -> io::Result<()> {
        let _ = wire;
        Ok(())
    }

    /// Wire bytes arrived from the peer: `wire` holds the bytes this
    /// translator left unused in the previous call (exactly as it left them:
    /// it may have changed them in place), followed by those just received.
    /// The buffer is lent for the call: decode in place, putting the
    /// plaintext at the front, in `wire[..plain]`; the bytes from `used` on
    /// are kept and lent again at the start of the next call. Append any wire
    /// bytes to send back (a handshake, an alert) to `out`. See [`Decoded`].
    ///
    /// An error closes the connection: what was appended to `out` is sent
    /// first, and `closed` reports the error.
    fn read(&mut self, wire: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded>;

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

    /// How long an incomplete record (some of its bytes received, not the
    /// rest) may wait for its end, after the handshake, when the wrapped
    /// handler has no deadline of its own running: past it the connection is
    /// closed with an [`Error::RecordTimeout`](crate::Error::RecordTimeout).
    /// It stops a peer that trickles a record a byte at a time, which no
    /// idle timeout catches and no plaintext deadline of the handler can see.
    /// It runs only while the loop reads the connection: one whose reading
    /// is paused (by code, or for its output over the high-water mark) is
    /// not the peer's fault, and is checked again a second after it passes.
    /// The default is `None` (no limit).
    fn record_timeout(&self) -> Option<Duration> {
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

/// What [`Translator::read`] made of the wire bytes it was lent.
///
/// Decoding in place only ever shrinks the bytes (a TLS record's plaintext
/// is shorter than the record), so `plain <= used <= wire.len()`: the
/// plaintext goes where the units it came from were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The plaintext is `wire[..plain]`.
    pub plain: usize,
    /// The translator is done with `wire[..used]`; the rest waits for the
    /// bytes that complete it.
    pub used: usize,
    /// The peer has ended its stream within the protocol (a TLS
    /// `close_notify`): the wrapped handler gets
    /// [`Handler::eof`](crate::Handler::eof) after the plaintext so far.
    /// Wire bytes after the end are ignored.
    pub ended: bool,
}

impl Decoded {
    /// All `n` bytes lent were used, and became `n` bytes of plaintext.
    pub fn plaintext(n: usize) -> Decoded {
        Decoded {
            plain: n,
            used: n,
            ended: false,
        }
    }
}
