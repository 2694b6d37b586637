//! The translate layer: a handler wrapper that passes each connection's byte
//! stream through a [`Translator`] (TLS, compression, framing), so that the
//! wrapped handler sees plaintext only and never knows the translation is there.
//!
//! A translator is sans-IO: wire bytes in, plaintext out; plaintext in, wire
//! bytes out. The loop drives it from the same events as any handler, without
//! blocking and without a thread per connection.

#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "tls")]
pub use tls::{Tls, TlsTranslator};

use std::io;
use std::mem;
use std::time::Duration;

use crate::conn::{Conn, Detached};
use crate::events::{Action, Handler};
use crate::server::Server;

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
    /// the protocol (a TLS `close_notify`): the connection is then closed
    /// after the plaintext so far is handled.
    ///
    /// An error closes the connection: what was appended to `wire` is sent
    /// first, and `closed` reports the error.
    fn read(&mut self, wire: &[u8], plain: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<bool>;

    /// The wrapped handler wrote `plain`: append its wire form to `wire`. An
    /// error closes the connection, as for `read`.
    fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()>;

    /// The connection is about to close (after [`Action::Close`] or
    /// [`Action::Shutdown`] from the wrapped handler, or an error): append
    /// final wire bytes such as a TLS `close_notify`. It may be called more
    /// than once (say, `Close` from `data` and again from `postwrite`): only
    /// the first call should append, and plaintext written after it should
    /// be dropped. The default appends nothing.
    fn close(&mut self, wire: &mut Vec<u8>) {
        let _ = wire;
    }
}

/// The default [`Translate`] predicate: translate every connection.
type Always<S> = fn(&Conn<'_, S>) -> bool;

fn always<S>(_: &Conn<'_, S>) -> bool {
    true
}

/// The most plaintext a connection may leave unconsumed, as
/// [`Config::max_input`](crate::Config::max_input) is for wire bytes.
const MAX_PENDING: usize = 64 * 1024 * 1024;

/// Wraps a handler so that chosen connections go through a [`Translator`]:
/// evio's `Translate`. Build it with [`Translate::new`] (every connection is
/// translated) and, to choose per connection, [`Translate::when`] (evio's
/// `should`).
///
/// The wrapped handler uses the usual API and sees plaintext only:
/// [`Conn::write`] and [`Conn::output`] take plaintext, [`Conn::keep`] keeps
/// plaintext, and `prewrite`/`postwrite` report the wire bytes the loop
/// writes. [`Action::Close`] and [`Action::Shutdown`] let the translator add
/// its final bytes (a TLS `close_notify`) before the close. A translator
/// error (a failed handshake, a bad record) closes that connection only,
/// with the error in `closed`.
///
/// [`Action::Detach`] hands over the raw socket, so it works on connections
/// that are not translated; on a translated one the connection is closed
/// instead, with an [`io::ErrorKind::Unsupported`] error in `closed`.
///
/// ```
/// use std::io;
/// use revio::{Action, Conn, Handler, Translate, Translator};
///
/// struct Echo;
/// impl Handler for Echo {
///     type State = ();
///     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         c.write(input);
///         Action::None
///     }
/// }
///
/// struct Xor(u8);
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
///
/// // Plain echo on the first address, XORed echo on the second.
/// let handler = Translate::new(Echo, |_| Ok(Xor(0x5a))).when(|c| c.addr_index() == Some(1));
/// # let _ = move || revio::serve(handler, ["tcp://127.0.0.1:5000", "tcp://127.0.0.1:5001"]);
/// ```
pub struct Translate<H, P, F> {
    inner: H,
    should: P,
    factory: F,
    max_pending: usize,
    /// Scratch: plaintext decrypted from one read.
    plain_in: Vec<u8>,
    /// Scratch: plaintext the wrapped handler wrote during one event.
    plain_out: Vec<u8>,
}

/// The per-connection state of a [`Translate`]d handler: the wrapped
/// handler's own state, the connection's translator (if it has one), and
/// the plaintext the wrapped handler left unconsumed. Opaque: the wrapped
/// handler reaches its own state with [`Conn::state`] as usual.
pub struct Translated<S, T> {
    inner: S,
    translator: Option<Box<T>>,
    pending: Vec<u8>,
}

impl<S: Default, T> Default for Translated<S, T> {
    fn default() -> Self {
        Translated {
            inner: S::default(),
            translator: None,
            pending: Vec::new(),
        }
    }
}

impl<S, T> Translated<S, T> {
    /// Whether this connection goes through a translator.
    pub fn is_translated(&self) -> bool {
        self.translator.is_some()
    }
}

impl<H, T, F> Translate<H, Always<H::State>, F>
where
    H: Handler,
    T: Translator,
    F: FnMut(&Conn<'_, H::State>) -> io::Result<T>,
{
    /// Wraps `inner`; `factory` makes the translator of each new connection
    /// (it sees the connection as the wrapped handler will). A factory error
    /// closes that connection with the error: the wrapped handler gets
    /// `opened` with [`Conn::is_closing`] set, then `closed` with the error.
    pub fn new(inner: H, factory: F) -> Self {
        Translate {
            inner,
            should: always::<H::State>,
            factory,
            max_pending: MAX_PENDING,
            plain_in: Vec::new(),
            plain_out: Vec::new(),
        }
    }
}

impl<H, P, F> Translate<H, P, F>
where
    H: Handler,
{
    /// Translates only the connections for which `should` returns true
    /// (evio's `should`), e.g. TLS on the second address only:
    /// `.when(|c| c.addr_index() == Some(1))`. The others pass through
    /// untouched, without a copy.
    pub fn when<Q>(self, should: Q) -> Translate<H, Q, F>
    where
        Q: FnMut(&Conn<'_, H::State>) -> bool,
    {
        Translate {
            inner: self.inner,
            should,
            factory: self.factory,
            max_pending: self.max_pending,
            plain_in: self.plain_in,
            plain_out: self.plain_out,
        }
    }

    /// The most plaintext a translated connection may leave unconsumed
    /// ([`Conn::keep`]) before it is closed with an `InvalidData` error
    /// (default 64 MiB, as [`Config::max_input`](crate::Config::max_input)).
    pub fn max_pending(mut self, bytes: usize) -> Self {
        self.max_pending = bytes;
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, mutably.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }
}

/// The wrapped handler's view of a connection, and the parts of the outer
/// connection it does not see.
struct Parts<'b, S, T> {
    conn: Conn<'b, S>,
    /// The translator and the outer (wire) output; `None` when the
    /// connection is not translated (then `conn` writes to the wire directly).
    wire: Option<(&'b mut T, &'b mut Vec<u8>)>,
}

fn parts<'b, S, T>(outer: &'b mut Conn<'_, Translated<S, T>>, scratch: &'b mut Vec<u8>) -> Parts<'b, S, T> {
    let Translated {
        inner, translator, ..
    } = &mut *outer.state;
    let (out, wire) = match translator {
        Some(t) => (scratch, Some((&mut **t, &mut *outer.out))),
        None => (&mut *outer.out, None),
    };
    Parts {
        conn: Conn {
            id: outer.id,
            addr_index: outer.addr_index,
            state: inner,
            out,
            keep: 0,
            input_len: 0,
            endpoint: outer.endpoint,
            server: outer.server,
            closing: outer.closing,
            close_error: None,
        },
        wire,
    }
}

/// Lets the connection's translator append its final bytes.
fn close_translator<S, T: Translator>(outer: &mut Conn<'_, Translated<S, T>>) {
    if let Some(tr) = outer.state.translator.as_deref_mut() {
        tr.close(outer.out);
    }
}

fn cannot_detach() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a translated connection cannot be detached (its socket carries the translated stream); closed instead",
    )
}

impl<H, P, F, T> Translate<H, P, F>
where
    H: Handler,
    T: Translator,
    P: FnMut(&Conn<'_, H::State>) -> bool,
    F: FnMut(&Conn<'_, H::State>) -> io::Result<T>,
{
    /// Calls the wrapped handler with a plaintext view of `outer` (input of
    /// `input_len` bytes), translates what it wrote into the outer output,
    /// and maps its action. Returns the action and how much input it kept.
    fn call(
        &mut self,
        outer: &mut Conn<'_, Translated<H::State, T>>,
        input_len: usize,
        f: impl FnOnce(&mut H, &mut Conn<'_, H::State>) -> Action,
    ) -> (Action, usize) {
        // Left over only if the wrapped handler panicked mid-call (the loop
        // caught it): never let it reach another connection.
        self.plain_out.clear();
        let mut p = parts(outer, &mut self.plain_out);
        p.conn.input_len = input_len;
        let mut action = f(&mut self.inner, &mut p.conn);
        let keep = p.conn.keep;
        // A nested wrapper may have closed with an error: pass it out.
        let mut error = p.conn.close_error.take();
        if let Some((tr, wire)) = p.wire {
            if !p.conn.out.is_empty() {
                if let Err(e) = tr.write(p.conn.out, wire) {
                    error = error.or(Some(e));
                }
                p.conn.out.clear();
            }
            if action == Action::Detach {
                error = error.or_else(|| Some(cannot_detach()));
            }
            if error.is_some() || matches!(action, Action::Close | Action::Shutdown | Action::Detach) {
                tr.close(wire);
            }
        }
        if let Some(e) = error {
            // The loop flushes the output, then closes with this error.
            outer.close_error = Some(e);
            if action != Action::Shutdown {
                action = Action::Close;
            }
        }
        (action, keep)
    }

    /// `data` on a translated connection.
    fn data_translated(&mut self, outer: &mut Conn<'_, Translated<H::State, T>>, wire: &[u8]) -> Action {
        // Plaintext goes after what the wrapped handler kept last time, or
        // into the scratch buffer when it kept nothing.
        let mut plain = mem::take(&mut outer.state.pending);
        if plain.is_empty() {
            plain = mem::take(&mut self.plain_in);
        }
        let before = plain.len();
        let read = match outer.state.translator.as_deref_mut() {
            Some(tr) => tr.read(wire, &mut plain, outer.out),
            None => Ok(false),
        };
        let ended = match read {
            Ok(ended) => ended,
            Err(e) => {
                close_translator(outer);
                outer.close_error = Some(e);
                plain.clear();
                self.recycle(plain);
                return Action::Close;
            }
        };
        let mut action = Action::None;
        if plain.len() > before {
            let (a, keep) = self.call(outer, plain.len(), |h, c| h.data(c, &plain));
            action = a;
            let consumed = plain.len() - keep.min(plain.len());
            plain.drain(..consumed);
        }
        if plain.len() > self.max_pending {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes of unconsumed plaintext exceed the limit of {} (Translate::max_pending)",
                    plain.len(),
                    self.max_pending
                ),
            );
            if outer.close_error.is_none() {
                close_translator(outer);
                outer.close_error = Some(e);
            }
            plain.clear();
            action = Action::Close;
        }
        if ended && action == Action::None {
            // The peer ended its stream within the protocol: answer in kind
            // and close once the output is sent.
            close_translator(outer);
            action = Action::Close;
        }
        if plain.is_empty() {
            self.recycle(plain);
        } else {
            outer.state.pending = plain;
        }
        action
    }

    /// Keeps the larger of two scratch buffers.
    fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > self.plain_in.capacity() {
            buf.clear();
            self.plain_in = buf;
        }
    }
}

impl<H, P, F, T> Handler for Translate<H, P, F>
where
    H: Handler,
    T: Translator,
    P: FnMut(&Conn<'_, H::State>) -> bool,
    F: FnMut(&Conn<'_, H::State>) -> io::Result<T>,
{
    type State = Translated<H::State, T>;

    fn serving(&mut self, server: &Server) -> Action {
        self.inner.serving(server)
    }

    fn opened(&mut self, outer: &mut Conn<'_, Self::State>) -> Action {
        let mut error = None;
        if !outer.closing {
            let p = parts(outer, &mut self.plain_out);
            if (self.should)(&p.conn) {
                match (self.factory)(&p.conn) {
                    Ok(t) => outer.state.translator = Some(Box::new(t)),
                    Err(e) => error = Some(e),
                }
            }
        }
        match error {
            None => self.call(outer, 0, |h, c| h.opened(c)).0,
            Some(e) => {
                // As for a failed dial: `opened` says the connection is
                // closing, and `closed` brings the error. Nothing written
                // here may reach a peer that expected a translated stream.
                outer.closing = true;
                let queued = outer.out.len();
                self.call(outer, 0, |h, c| h.opened(c));
                outer.out.truncate(queued);
                outer.close_error = Some(e);
                Action::Close
            }
        }
    }

    fn data(&mut self, outer: &mut Conn<'_, Self::State>, input: &[u8]) -> Action {
        if outer.state.translator.is_some() {
            return self.data_translated(outer, input);
        }
        // Not translated: the wrapped handler reads the wire bytes in place
        // and its `keep` is the loop's.
        let (action, keep) = self.call(outer, input.len(), |h, c| h.data(c, input));
        outer.keep(keep);
        action
    }

    fn woken(&mut self, outer: &mut Conn<'_, Self::State>) -> Action {
        self.call(outer, 0, |h, c| h.woken(c)).0
    }

    fn prewrite(&mut self, outer: &mut Conn<'_, Self::State>, amount: usize) -> Action {
        self.call(outer, 0, |h, c| h.prewrite(c, amount)).0
    }

    fn postwrite(&mut self, outer: &mut Conn<'_, Self::State>, amount: usize, remaining: usize) -> Action {
        self.call(outer, 0, |h, c| h.postwrite(c, amount, remaining)).0
    }

    fn closed(&mut self, outer: &mut Conn<'_, Self::State>, error: Option<io::Error>) {
        let mut p = parts(outer, &mut self.plain_out);
        self.inner.closed(&mut p.conn, error);
        // Output written in `closed` is discarded, as without translation.
        self.plain_out.clear();
    }

    fn detached(&mut self, outer: &mut Conn<'_, Self::State>, stream: Detached) {
        let mut p = parts(outer, &mut self.plain_out);
        self.inner.detached(&mut p.conn, stream);
        self.plain_out.clear();
    }

    fn tick(&mut self) -> (Option<Duration>, Action) {
        self.inner.tick()
    }

    fn __shutting_down(&mut self, outer: &mut Conn<'_, Self::State>) {
        // As a Close from the wrapped handler: its last plaintext is
        // translated, then the translator's final bytes (close_notify).
        self.call(outer, 0, |h, c| {
            h.__shutting_down(c);
            Action::Close
        });
    }
}
