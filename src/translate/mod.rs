//! The translate layer: a handler wrapper that passes each connection's byte
//! stream through a [`Translator`] (TLS, compression, framing), so that the
//! wrapped handler sees plaintext only and never knows the translation is there.
//!
//! A translator is sans-IO: wire bytes in, plaintext out; plaintext in, wire
//! bytes out. The loop drives it from the same events as any handler, without
//! blocking and without a thread per connection. `view` builds the wrapped
//! handler's plaintext view of a connection.

#[cfg(feature = "tls")]
mod tls;
mod translator;
mod view;

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::{Tls, TlsTranslator};
pub use translator::Translator;

use std::io;
use std::mem;
use std::time::Duration;

use crate::conn::Conn;
use crate::events::{Action, Handler};
use crate::output::Output;
use crate::server::Server;
use crate::stream::Detached;
use view::Called;

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
/// [`Conn::write`] and [`Conn::output`] take plaintext (bounded by the same
/// [`Config::max_output`](crate::Config::max_output), counting what the
/// translator holds), [`Conn::keep`] keeps plaintext, and
/// `prewrite`/`postwrite` report the wire bytes the loop writes.
/// [`Action::Close`], [`Conn::close_write`] and the server's shutdown let the
/// translator add its final bytes (a TLS `close_notify`) first; at shutdown
/// that happens even when a handler wrapped around this one does not forward
/// [`Handler::stopping`] (see [`Conn::on_shutdown`]). A translator error (a
/// failed handshake, a bad record) closes that connection only, with the
/// error in `closed`.
///
/// While a translator is handshaking, its [`Translator::handshake_timeout`]
/// runs as the connection's deadline; a deadline the wrapped handler sets
/// meanwhile starts once the handshake is done.
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

impl<H: std::fmt::Debug, P, F> std::fmt::Debug for Translate<H, P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translate")
            .field("inner", &self.inner)
            .field("max_pending", &self.max_pending)
            .finish_non_exhaustive()
    }
}

/// The per-connection state of a [`Translate`]d handler: the wrapped
/// handler's own state, the connection's translator (if it has one), and
/// the plaintext the wrapped handler left unconsumed. Opaque: the wrapped
/// handler reaches its own state with [`Conn::state`] as usual.
pub struct Translated<S, T> {
    inner: S,
    translator: Option<Box<T>>,
    pending: Vec<u8>,
    /// The handshake is in progress: the wrapped handler's deadlines wait
    /// for its end, and the handshake timeout (if any) is the connection's
    /// deadline for now.
    handshake_deadline: bool,
    /// A deadline the wrapped handler asked for during the handshake.
    deferred_deadline: Option<Option<Duration>>,
    /// The wrapped handler has had its `eof` (the protocol's end, say a
    /// TLS `close_notify`): the TCP end that follows is not another one.
    ended: bool,
}

impl<S: Default, T> Default for Translated<S, T> {
    fn default() -> Self {
        Translated {
            inner: S::default(),
            translator: None,
            pending: Vec::new(),
            handshake_deadline: false,
            deferred_deadline: None,
            ended: false,
        }
    }
}

impl<S: std::fmt::Debug, T> std::fmt::Debug for Translated<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translated")
            .field("inner", &self.inner)
            .field("translated", &self.translator.is_some())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S, T> Translated<S, T> {
    /// Whether this connection goes through a translator.
    pub fn is_translated(&self) -> bool {
        self.translator.is_some()
    }

    /// The connection's translator, if it has one (a [`TlsTranslator`]
    /// gives the TLS session: SNI, ALPN, peer certificates).
    pub fn translator(&self) -> Option<&T> {
        self.translator.as_deref()
    }
}

/// At shutdown, even if no handler forwarded `stopping`: the translator's
/// final bytes (a TLS `close_notify`).
fn finish_translator<S, T: Translator>(state: &mut Translated<S, T>, out: &mut Output<'_>) {
    if let Some(tr) = state.translator.as_deref_mut() {
        tr.close(out.buf);
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

impl<H, P, F, T> Translate<H, P, F>
where
    H: Handler,
    T: Translator + 'static,
    P: FnMut(&Conn<'_, H::State>) -> bool,
    F: FnMut(&Conn<'_, H::State>) -> io::Result<T>,
{
    /// `data` on a translated connection.
    fn data_translated(&mut self, outer: &mut Conn<'_, Translated<H::State, T>>, wire: &[u8]) -> Action {
        // Plaintext goes after what the wrapped handler kept last time, or
        // into the scratch buffer when it kept nothing.
        let mut plain = mem::take(&mut outer.state.pending);
        if plain.is_empty() {
            plain = mem::take(&mut self.plain_in);
        }
        let before = plain.len();
        let handshaking = outer
            .state
            .translator
            .as_deref()
            .is_some_and(|t| t.is_handshaking());
        let read = match outer.state.translator.as_deref_mut() {
            Some(tr) => tr.read(wire, &mut plain, outer.out.buf),
            None => Ok(false),
        };
        view::check_wire_limit(outer);
        let ended = match read {
            Ok(ended) => ended,
            Err(e) => {
                view::fail(outer, e);
                plain.clear();
                self.recycle(plain);
                return Action::Close;
            }
        };
        if handshaking
            && !outer
                .state
                .translator
                .as_deref()
                .is_some_and(|t| t.is_handshaking())
        {
            view::handshake_done(outer);
        }
        let mut action = Action::None;
        // New plaintext, or the loop calling again (no wire bytes) for
        // plaintext the wrapped handler left when it stopped early.
        if plain.len() > before || (wire.is_empty() && !plain.is_empty()) {
            let c = view::call(
                &mut self.inner,
                outer,
                &mut self.plain_out,
                plain.len(),
                |h, c| h.data(c, &plain),
            );
            action = c.action;
            let consumed = plain.len() - c.keep.min(plain.len());
            plain.drain(..consumed);
            if !plain.is_empty() {
                // Kept here, not in the loop: ask to be called again if the
                // handler stopped for congestion.
                outer.call_again_when_drained();
            }
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
            view::fail(outer, e);
            plain.clear();
            action = Action::Close;
        }
        if ended && action == Action::None {
            // The peer ended its stream within the protocol.
            plain.clear();
            action = self.eof_translated(outer);
        }
        if plain.is_empty() {
            self.recycle(plain);
        } else {
            outer.state.pending = plain;
        }
        action
    }

    /// The peer ended its stream: the wrapped handler decides, as without
    /// translation.
    fn eof_translated(&mut self, outer: &mut Conn<'_, Translated<H::State, T>>) -> Action {
        if mem::replace(&mut outer.state.ended, true) {
            // Told already; what it decided then stands.
            return Action::None;
        }
        view::call(&mut self.inner, outer, &mut self.plain_out, 0, |h, c| h.eof(c)).action
    }

    /// Keeps the larger of two scratch buffers.
    fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > self.plain_in.capacity() {
            buf.clear();
            self.plain_in = buf;
        }
    }

    fn event(
        &mut self,
        outer: &mut Conn<'_, Translated<H::State, T>>,
        f: impl FnOnce(&mut H, &mut Conn<'_, H::State>) -> Action,
    ) -> Action {
        let Called { action, .. } = view::call(&mut self.inner, outer, &mut self.plain_out, 0, f);
        action
    }
}

impl<H, P, F, T> Handler for Translate<H, P, F>
where
    H: Handler,
    T: Translator + 'static,
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
            outer.on_shutdown(finish_translator::<H::State, T>);
            let (should, factory) = (&mut self.should, &mut self.factory);
            view::with_slot(outer, &mut self.plain_out, |translator, c| {
                if should(c) {
                    match factory(c) {
                        Ok(t) => *translator = Some(Box::new(t)),
                        Err(e) => error = Some(e),
                    }
                }
            });
            view::start_handshake(outer);
        }
        match error {
            None => self.event(outer, |h, c| h.opened(c)),
            Some(e) => {
                // As for a failed dial: `opened` says the connection is
                // closing, and `closed` brings the error. Nothing written
                // here may reach a peer that expected a translated stream.
                outer.closing = true;
                let queued = outer.out.buf.len();
                view::call(&mut self.inner, outer, &mut self.plain_out, 0, |h, c| h.opened(c));
                outer.out.buf.truncate(queued);
                outer.out.over = false;
                outer.close_with(e);
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
        let c = view::call(
            &mut self.inner,
            outer,
            &mut self.plain_out,
            input.len(),
            |h, c| h.data(c, input),
        );
        outer.keep(c.keep);
        c.action
    }

    fn eof(&mut self, outer: &mut Conn<'_, Self::State>) -> Action {
        outer.state.pending.clear();
        self.eof_translated(outer)
    }

    fn woken(&mut self, outer: &mut Conn<'_, Self::State>) -> Action {
        self.event(outer, |h, c| h.woken(c))
    }

    fn prewrite(&mut self, outer: &mut Conn<'_, Self::State>, amount: usize) -> Action {
        self.event(outer, |h, c| h.prewrite(c, amount))
    }

    fn postwrite(&mut self, outer: &mut Conn<'_, Self::State>, amount: usize, remaining: usize) -> Action {
        self.event(outer, |h, c| h.postwrite(c, amount, remaining))
    }

    fn stopping(&mut self, outer: &mut Conn<'_, Self::State>) -> Action {
        self.event(outer, |h, c| h.stopping(c))
    }

    fn closed(&mut self, outer: &mut Conn<'_, Self::State>, error: Option<io::Error>) {
        let error = view::closing_error(outer, error);
        view::with_view(outer, &mut self.plain_out, |c| self.inner.closed(c, error));
        // Output written in `closed` is discarded, as without translation.
        self.plain_out.clear();
    }

    fn detached(&mut self, outer: &mut Conn<'_, Self::State>, stream: Detached) {
        view::with_view(outer, &mut self.plain_out, |c| self.inner.detached(c, stream));
        self.plain_out.clear();
    }

    fn tick(&mut self) -> (Option<Duration>, Action) {
        self.inner.tick()
    }
}
