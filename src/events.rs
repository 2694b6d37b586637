//! The handler trait (one method per event, each optional) and the [`Action`]
//! a handler returns.

use std::io;
use std::time::Duration;

use crate::clock::Tick;
use crate::conn::Conn;
use crate::server::Server;
use crate::stream::Detached;

/// What the loop should do after an event handler returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Action {
    /// Carry on.
    #[default]
    None,
    /// Flush what is queued for this connection, then close it (`closed` fires
    /// with no error).
    Close,
    /// Flush what is queued, take the socket out of the loop and hand it to
    /// [`Handler::detached`] as a blocking std stream.
    Detach,
    /// Stop the server gracefully, as [`Server::shutdown`] does: stop
    /// accepting at once, call [`Handler::stopping`] for every connection,
    /// flush queued output up to [`Config::shutdown_timeout`](crate::Config::shutdown_timeout),
    /// close every connection (a `closed` for each), remove unix socket files,
    /// and return from `serve`.
    Shutdown,
    /// Close this connection now: queued output (and whatever this call
    /// wrote) is dropped, a TCP connection is reset (the peer reads
    /// `ECONNRESET`, never a clean end), and `closed` fires with an
    /// [`Error::Aborted`](crate::Error::Aborted). For a protocol violation,
    /// where the rest of the replies must not go out. Behind a
    /// [`Translate`](crate::Translate)r no closing record (a TLS
    /// `close_notify`) is sent. On a UDP remote it forgets the remote and
    /// sends nothing. Also [`Conn::abort`](crate::Conn::abort) and
    /// [`Server::abort`].
    Abort,
}

/// The events of one event loop. Every method has a default that does nothing,
/// so a handler implements only what it uses.
///
/// All methods run on the loop's own thread, one at a time. They must not block:
/// revio is for handlers that take microseconds. Offload slow work to another
/// thread and come back with [`Server::wake`].
///
/// `State` is per-connection user state, created with `Default` when a
/// connection opens and dropped after `closed`; reach it with [`Conn::state`].
///
/// # Panics
/// A panic in `opened`, `data`, `eof`, `woken`, `prewrite`, `postwrite` or
/// `stopping` is caught and closes that connection only: `closed` then fires
/// with an [`Error::Panic`](crate::Error::Panic) (kind [`io::ErrorKind::Other`])
/// that carries the panic message. A stream connection so closed is reset:
/// its peer sees a reset (`ECONNRESET`), not an end-of-stream, because what
/// the panicking call wrote is dropped, and a cut reply must not pass for a
/// whole one. A panic in `serving`, `tick`, `closed` or `detached`, or
/// anywhere else on a loop's thread (inside revio itself),
/// stops the server. The loop that panicked serves nothing more, since its
/// handler may be left inconsistent: each of its connections gets its
/// `closed` at once, with the [`Error::Panic`](crate::Error::Panic) as its
/// error, and is reset (output still queued is not sent); a dial in
/// progress fails with it. The other loops, whose handlers did not panic,
/// shut down as after [`Server::shutdown`]: their connections get
/// `stopping`, their output is flushed up to the shutdown timeout, and
/// their `closed` has no error unless output was cut. [`Server::wake`] and
/// friends answer `false` for a loop's connections once it has stopped,
/// and `serve` returns the panic. No loop is ever left half-dead.
///
/// ```
/// use revio::{Action, Conn, Handler};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type State = ();
///     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         conn.write(input);
///         Action::None
///     }
/// }
/// ```
pub trait Handler {
    /// Per-connection user state (use `()` when there is none).
    type State: Default;

    /// Fires once, after every address is bound and before any connection is
    /// accepted. Keep the [`Server`] (it is cheap to clone) to wake connections,
    /// dial out or shut down from other threads.
    fn serving(&mut self, server: &Server) -> Action {
        let _ = server;
        Action::None
    }

    /// A connection was accepted, or a dial completed. For a dial that failed or
    /// timed out, [`Conn::is_closing`] is true and `closed` follows with the error.
    /// Output written here (a greeting) is sent after it returns.
    fn opened(&mut self, conn: &mut Conn<'_, Self::State>) -> Action {
        let _ = conn;
        Action::None
    }

    /// Bytes arrived. `input` starts with whatever an earlier call left
    /// unconsumed (see [`Conn::keep`]); by default all of it is consumed.
    /// Output written here is sent, in order, after this returns. For UDP,
    /// `input` is one datagram and output goes back as one datagram.
    ///
    /// `data` is also called with only the kept input, and no new bytes, when
    /// a congested connection's output has drained (see [`Conn::is_congested`]);
    /// and with empty input when the handler asked for it with
    /// [`Conn::call_again_when_drained`].
    fn data(&mut self, conn: &mut Conn<'_, Self::State>, input: &[u8]) -> Action {
        let _ = (conn, input);
        Action::None
    }

    /// The peer ended its stream (end-of-file, a TCP FIN; behind a
    /// [`Translate`](crate::Translate)r, the protocol's own end such as a TLS
    /// `close_notify`): no more `data` will come. Input kept unconsumed is
    /// dropped.
    ///
    /// The default returns [`Action::Close`]: queued output is flushed, then
    /// the connection closes (evio's behaviour). Return [`Action::None`] to keep
    /// it open and go on writing (a half-closed peer may still read: a proxy
    /// passes the end on and waits for the other side's reply); end it later
    /// with [`Conn::close_write`] (the connection closes once that is flushed)
    /// or an `Action::Close` from another event. If this connection's
    /// writing side is already shut down, both directions are finished and
    /// the connection closes after this call, whatever it returns.
    fn eof(&mut self, conn: &mut Conn<'_, Self::State>) -> Action {
        let _ = conn;
        Action::Close
    }

    /// [`Server::wake`] was called for this connection, from any thread.
    /// Several wakes may be delivered as one call. Output written here is
    /// appended to whatever is still queued.
    fn woken(&mut self, conn: &mut Conn<'_, Self::State>) -> Action {
        let _ = conn;
        Action::None
    }

    /// Fires before each write attempt, with the number of bytes about to be written.
    fn prewrite(&mut self, conn: &mut Conn<'_, Self::State>, amount: usize) -> Action {
        let _ = (conn, amount);
        Action::None
    }

    /// Fires right after each write attempt, once for each `prewrite`
    /// (unless the connection closes first, as when the write fails):
    /// `amount` bytes went to the socket and `remaining` are still queued.
    /// A backend that sends in the background (io_uring, the std backend's
    /// writer thread) may hand one attempt to the kernel in several steps,
    /// when the socket buffer fills; the attempt ends, and `postwrite` fires,
    /// once all of it is sent, with `amount` counting every step.
    fn postwrite(&mut self, conn: &mut Conn<'_, Self::State>, amount: usize, remaining: usize) -> Action {
        let _ = (conn, amount, remaining);
        Action::None
    }

    /// The connection closed, exactly once per `opened` unless it was detached.
    /// `error` is `None` for a clean end (end-of-stream, [`Action::Close`],
    /// shutdown with everything sent), and says why otherwise: the operating
    /// system's error (reset, broken pipe, a failed dial), or a revio
    /// [`Error`](crate::Error) (a limit, a timeout, a handler panic, output cut
    /// at shutdown; [`Error::of`](crate::Error::of) tells which). Output
    /// written here is discarded.
    fn closed(&mut self, conn: &mut Conn<'_, Self::State>, error: Option<io::Error>) {
        let _ = (conn, error);
    }

    /// The connection left the loop after [`Action::Detach`]. `stream` is a
    /// blocking std stream that first yields the bytes the loop had read but the
    /// handler had not consumed. No `closed` follows. The connection's id is
    /// already dead here: [`Server::is_live`] and [`Server::wake`] answer
    /// `false` for it, from any thread.
    fn detached(&mut self, conn: &mut Conn<'_, Self::State>, stream: Detached) {
        let _ = (conn, stream);
    }

    /// The server is shutting down ([`Action::Shutdown`] or
    /// [`Server::shutdown`]): called once for each open connection, after the
    /// listeners are closed. Output written here (a goodbye) is sent.
    ///
    /// The default returns [`Action::Close`]: queued output is flushed, then
    /// the connection closes. Return [`Action::None`] to go on serving it (to
    /// finish a request in progress) until it closes by itself; either way,
    /// what is still open when [`Config::shutdown_timeout`](crate::Config::shutdown_timeout)
    /// passes is closed then, and a connection whose output was cut is reset
    /// with an [`Error::ShutdownTimeout`](crate::Error::ShutdownTimeout) in
    /// `closed`, so that its peer cannot mistake a cut reply for a whole one.
    fn stopping(&mut self, conn: &mut Conn<'_, Self::State>) -> Action {
        let _ = conn;
        Action::Close
    }

    /// The ticker: fires right after `serving`, then after each delay it returns
    /// (measured from when the tick was due, so ticks do not drift). Return
    /// `None` as the delay to stop ticking. The default stops at once.
    ///
    /// `tick` sees its loop: the server handle, the loop's index and its
    /// clock (see [`Tick`]). With several loops every loop ticks its own
    /// handler; a job meant to run once per server runs where
    /// [`Tick::loop_index`] is 0.
    fn tick(&mut self, tick: &Tick<'_>) -> (Option<Duration>, Action) {
        let _ = tick;
        (None, Action::None)
    }
}
