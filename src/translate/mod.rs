//! The translate layer: a handler wrapper that passes each connection's byte
//! stream through a [`Translator`] (TLS, compression, framing), so that the
//! wrapped handler sees plaintext only and never knows the translation is there.
//!
//! A translator is sans-IO: wire bytes in, plaintext out; plaintext in, wire
//! bytes out. The loop drives it from the same events as any handler, without
//! blocking and without a thread per connection. `view` builds the wrapped
//! handler's plaintext view of a connection.
//!
//! Inbound, the loop lends `data` its received bytes read-only, so they are
//! copied once into a buffer from this layer's pool, which the translator
//! decodes in place (TLS decrypts there); the wrapped handler reads the
//! plaintext where it landed. What stays unconsumed (plaintext the handler
//! kept, the start of an incomplete record) stays in that buffer; the buffer
//! goes back to the pool as soon as it is empty, so an idle connection holds
//! none.

#[cfg(feature = "tls")]
mod tls;
mod translator;
mod view;

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::{Tls, TlsClient, TlsTranslator};
pub use translator::{Decoded, Translator};

use std::io;
use std::mem;
use std::time::Duration;

use crate::conn::Conn;
use crate::event_loop::buffers::Pool;
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

/// The most input a translated connection may leave unconsumed, as
/// [`Config::max_input`](crate::Config::max_input) is for the loop.
const MAX_PENDING: usize = 64 * 1024 * 1024;

/// Spare input buffers a `Translate` keeps (one loop's): a buffer is lent
/// for one `data` call, and kept by a connection only while it holds
/// unconsumed input.
const MAX_SPARE: usize = 64;

/// The largest spare buffer kept: four reads of the loop's default size.
const MAX_SPARE_CAPACITY: usize = 256 * 1024;

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
/// [`Handler::stopping`] (see [`Conn::on_shutdown`]). An [`Action::Close`]
/// or a [`Conn::close_write`] during the handshake waits for its end, so
/// that the plaintext written before it is sent first (a client that writes
/// its request and shuts its side in `opened`); the handshake timeout bounds
/// the wait. A translator error (a
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
/// use revio::{Action, Conn, Decoded, Handler, Translate, Translator};
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
///     fn read(&mut self, wire: &mut [u8], _: &mut Vec<u8>) -> io::Result<Decoded> {
///         wire.iter_mut().for_each(|b| *b ^= self.0);
///         Ok(Decoded::plaintext(wire.len()))
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
    /// Spare input buffers, lent to one connection at a time.
    pool: Pool,
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
/// its unconsumed input. Opaque: the wrapped handler reaches its own state
/// with [`Conn::state`] as usual.
pub struct Translated<S, T> {
    inner: S,
    translator: Option<Box<T>>,
    /// Unconsumed input: the plaintext the wrapped handler kept
    /// (`input[..kept]`), then the wire bytes the translator left unused.
    /// Empty, without capacity, whenever there is none.
    input: Vec<u8>,
    kept: usize,
    /// The plaintext the wrapped handler waits for before its next `data`
    /// (`Conn::want`); 0 for none.
    want: usize,
    /// The handshake is in progress: the wrapped handler's deadlines wait
    /// for its end, and the handshake timeout (if any) is the connection's
    /// deadline for now.
    handshake_deadline: bool,
    /// A deadline the wrapped handler asked for during the handshake.
    deferred_deadline: Option<Option<Duration>>,
    /// The wrapped handler has a deadline running (as far as its requests say).
    inner_deadline: bool,
    /// The record timeout is the connection's deadline for now.
    record_deadline: bool,
    /// The wrapped handler has had its `eof` (the protocol's end, say a
    /// TLS `close_notify`): the TCP end that follows is not another one.
    ended: bool,
    /// The wrapped handler closed, or shut its writing side, during the
    /// handshake: done once the handshake is (its plaintext first).
    deferred_end: Option<End>,
}

/// An end the wrapped handler asked for during the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// [`Conn::close_write`].
    Write,
    /// [`Action::Close`].
    Close,
}

impl<S: Default, T> Default for Translated<S, T> {
    fn default() -> Self {
        Translated {
            inner: S::default(),
            translator: None,
            input: Vec::new(),
            kept: 0,
            want: 0,
            handshake_deadline: false,
            deferred_deadline: None,
            inner_deadline: false,
            record_deadline: false,
            ended: false,
            deferred_end: None,
        }
    }
}

impl<S: std::fmt::Debug, T> std::fmt::Debug for Translated<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translated")
            .field("inner", &self.inner)
            .field("translated", &self.translator.is_some())
            .field("kept", &self.kept)
            .field("unused_wire", &(self.input.len() - self.kept))
            .finish_non_exhaustive()
    }
}

impl<S, T> Translated<S, T> {
    /// How many bytes of buffer the connection holds for its unconsumed
    /// input (plaintext the wrapped handler kept, the start of an incomplete
    /// record): 0 whenever it has none, the buffer being back in the pool.
    pub fn input_capacity(&self) -> usize {
        self.input.capacity()
    }

    /// Whether this connection goes through a translator.
    pub fn is_translated(&self) -> bool {
        self.translator.is_some()
    }

    /// The connection's translator, if it has one (a `TlsTranslator`
    /// gives the TLS session: SNI, ALPN, peer certificates).
    pub fn translator(&self) -> Option<&T> {
        self.translator.as_deref()
    }
}

fn handshaking_now<S, T: Translator>(outer: &Conn<'_, Translated<S, T>>) -> bool {
    outer
        .state
        .translator
        .as_deref()
        .is_some_and(|t| t.is_handshaking())
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
            pool: Pool::new(MAX_SPARE, MAX_SPARE_CAPACITY),
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
            pool: self.pool,
            plain_out: self.plain_out,
        }
    }

    /// The most input a translated connection may leave unconsumed (the
    /// plaintext kept with [`Conn::keep`], and wire bytes of an incomplete
    /// record) before it is closed with an `InvalidData` error (default 64
    /// MiB, as [`Config::max_input`](crate::Config::max_input)).
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
    /// `data` on a translated connection: the wire bytes join the
    /// connection's unconsumed input, the translator decodes them in place,
    /// and the wrapped handler reads the plaintext there.
    fn data_translated(&mut self, outer: &mut Conn<'_, Translated<H::State, T>>, wire: &[u8]) -> Action {
        let mut input = mem::take(&mut outer.state.input);
        if input.capacity() == 0 {
            input = self.pool.take();
        }
        let kept = outer.state.kept;
        // The one copy inbound on our side: the loop lends its bytes
        // read-only, and the translator decodes in place.
        input.extend_from_slice(wire);
        let handshaking = outer
            .state
            .translator
            .as_deref()
            .is_some_and(|t| t.is_handshaking());
        let read = match outer.state.translator.as_deref_mut() {
            // Called again for kept plaintext only: nothing new to decode.
            Some(tr) if !wire.is_empty() => tr.read(&mut input[kept..], outer.out.buf),
            _ => Ok(Decoded::default()),
        };
        view::check_wire_limit(outer);
        let decoded = match read {
            Ok(d) => d,
            Err(e) => {
                view::fail(outer, e);
                self.give_back(outer, input);
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
        // An end asked for during the handshake: its plaintext went first
        // (rustls flushed it as the handshake completed), now the end.
        let deferred = match outer.state.deferred_end {
            Some(end) if !handshaking_now(outer) => outer.state.deferred_end.take().map(|_| end),
            _ => None,
        };
        if let Some(end) = deferred {
            if let Some(tr) = outer.state.translator.as_deref_mut() {
                tr.close(outer.out.buf);
            }
            outer.req.close_write |= end == End::Write;
        }
        let closing = deferred == Some(End::Close);
        // Within what was lent, whatever the translator says.
        let used = decoded.used.min(input.len() - kept);
        let plain = kept + decoded.plain.min(used);
        let unused = if decoded.ended {
            // Nothing after the protocol's end is read.
            input.len()
        } else {
            kept + used
        };
        let mut action = Action::None;
        let mut keep = plain;
        // New plaintext, or the loop calling again (no wire bytes) for
        // plaintext the wrapped handler left when it stopped early.
        let waiting = (plain < outer.state.want && !decoded.ended) || closing;
        if !waiting && (plain > kept || (wire.is_empty() && plain > 0)) {
            let c = view::call(&mut self.inner, outer, &mut self.plain_out, plain, |h, c| {
                h.data(c, &input[..plain])
            });
            action = c.action;
            keep = c.keep.min(plain);
            outer.state.want = c.want.unwrap_or(0);
            if keep > 0 {
                // Kept here, not in the loop: ask to be called again if the
                // handler stopped for congestion.
                outer.call_again_when_drained();
            }
        }
        // What stays: the kept plaintext, then the unused wire bytes.
        if keep > 0 && keep < plain {
            input.copy_within(plain - keep..plain, 0);
        }
        input.drain(keep..unused);
        if input.len() > self.max_pending {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes of unconsumed input exceed the limit of {} (Translate::max_pending)",
                    input.len(),
                    self.max_pending
                ),
            );
            view::fail(outer, e);
            input.clear();
            action = Action::Close;
        }
        if decoded.ended && action == Action::None {
            // The peer ended its stream within the protocol.
            input.clear();
            action = self.eof_translated(outer);
        }
        // Wire bytes of an incomplete record wait after the kept plaintext.
        view::watch_records(outer, input.len() > keep, used > 0);
        if input.is_empty() {
            self.give_back(outer, input);
        } else {
            outer.state.input = input;
            outer.state.kept = keep;
        }
        if closing && action == Action::None {
            action = Action::Close;
        }
        action
    }

    /// The connection holds no unconsumed input: `buf` goes back to the pool.
    fn give_back(&mut self, outer: &mut Conn<'_, Translated<H::State, T>>, buf: Vec<u8>) {
        outer.state.kept = 0;
        self.pool.give(buf);
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
            // A dial brings its own translator (`Server::dial_translated`).
            let dialed = match outer.handover.take().map(|h| h.downcast::<T>()) {
                Some(Ok(t)) => Some(t),
                Some(Err(other)) => {
                    // Not ours: the loop closes the connection.
                    outer.handover = Some(other);
                    None
                }
                None => None,
            };
            let (should, factory) = (&mut self.should, &mut self.factory);
            view::with_slot(outer, &mut self.plain_out, |translator, c| {
                if dialed.is_some() {
                    *translator = dialed;
                } else if should(c) {
                    match factory(c) {
                        Ok(t) => *translator = Some(Box::new(t)),
                        Err(e) => error = Some(e),
                    }
                }
            });
            if let Some(tr) = outer.state.translator.as_deref_mut() {
                if let Err(e) = tr.start(outer.out.buf) {
                    error = Some(e);
                }
            }
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
        let input = mem::take(&mut outer.state.input);
        self.give_back(outer, input);
        if handshaking_now(outer) {
            // The handshake can never complete: a failure now, not a wait
            // for the handshake timeout (and no end for the wrapped handler,
            // whose stream never began).
            let e = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer ended its stream during the handshake",
            );
            view::fail(outer, e);
            return Action::Close;
        }
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
        let input = mem::take(&mut outer.state.input);
        self.give_back(outer, input);
    }

    fn detached(&mut self, outer: &mut Conn<'_, Self::State>, stream: Detached) {
        view::with_view(outer, &mut self.plain_out, |c| self.inner.detached(c, stream));
        self.plain_out.clear();
    }

    fn tick(&mut self, tick: &crate::Tick<'_>) -> (Option<Duration>, Action) {
        self.inner.tick(tick)
    }
}
