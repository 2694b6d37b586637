//! The handler's view of one connection: its id, addresses, output and user
//! state, and the requests a handler makes of the loop (pause reading, a
//! deadline, a half-close).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockAddr, SockRef};

use crate::addr::Addr;
use crate::clock::Clock;
use crate::driver::SockFd;
use crate::output::Output;
use crate::server::{ConnId, Server};

mod parts;
mod requests;

pub use parts::{InputControl, Parts};
pub(crate) use requests::Requests;

/// Which socket a connection view is backed by.
#[derive(Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    Tcp(SockFd<'a>),
    Unix(SockFd<'a>),
    Udp(SockFd<'a>, SocketAddr),
    /// Not connected (a dial still resolving, or failed).
    None,
}

/// A function the loop calls for every open connection at shutdown, after
/// [`Handler::stopping`](crate::Handler::stopping) and before the last flush;
/// see [`Conn::on_shutdown`].
pub type ShutdownHook<S> = fn(&mut S, &mut Output<'_>);

/// One connection, as a handler sees it during an event: its id, its addresses,
/// the output to send, its per-connection user state, and what the handler
/// asks of the loop for it.
///
/// Output written with [`Conn::write`] (or through [`Conn::output`]) is queued
/// and sent after the handler returns, in order; nothing is written to the
/// socket during the call. Queued output is bounded: see [`Output`].
///
/// ```
/// use revio::{Action, Conn, Handler};
///
/// /// Counts lines per connection and answers each with its number.
/// #[derive(Default)]
/// struct Lines;
///
/// impl Handler for Lines {
///     type State = u64; // lines seen on this connection
///
///     fn data(&mut self, conn: &mut Conn<'_, u64>, input: &[u8]) -> Action {
///         let mut rest = input;
///         while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
///             *conn.state() += 1;
///             let n = *conn.state();
///             conn.write(format!("{n}\n").as_bytes());
///             rest = &rest[nl + 1..];
///         }
///         conn.keep(rest.len()); // an unfinished line waits for more bytes
///         Action::None
///     }
/// }
/// ```
pub struct Conn<'a, S> {
    pub(crate) id: ConnId,
    pub(crate) addr_index: Option<usize>,
    pub(crate) state: &'a mut S,
    pub(crate) out: Output<'a>,
    pub(crate) keep: usize,
    pub(crate) input_len: usize,
    pub(crate) endpoint: Endpoint<'a>,
    pub(crate) server: &'a Server,
    pub(crate) clock: &'a Clock,
    /// Output queued on this loop for its other connections.
    pub(crate) loop_others: usize,
    pub(crate) closing: bool,
    pub(crate) high_water: usize,
    /// Reading was paused by code when the call began.
    pub(crate) paused: bool,
    /// The PROXY protocol header the connection came with.
    pub(crate) proxied: Option<&'a crate::proxy_protocol::Header>,
    /// Behind a `Translate`: the connection's translator.
    pub(crate) translator: Option<&'a dyn std::any::Any>,
    /// In a dialed connection's `opened`: the translator it was dialed with
    /// (`Server::dial_translated`), for the `Translate` layer to take.
    pub(crate) handover: Option<crate::mailbox::Handover>,
    pub(crate) req: Requests<S>,
}

impl<S> std::fmt::Debug for Conn<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("addr_index", &self.addr_index)
            .field("queued", &self.out.queued())
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl<'a, S> Conn<'a, S> {
    /// This connection's id (pass it to [`Server::wake`] from other threads).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The index, in the list given to `serve`, of the address this connection
    /// came in on; `None` for a dialed connection.
    pub fn addr_index(&self) -> Option<usize> {
        self.addr_index
    }

    /// Whether this connection came from [`Server::dial`].
    pub fn is_dialed(&self) -> bool {
        self.addr_index.is_none()
    }

    /// True in `opened` for a dial that failed or timed out: `closed` follows
    /// with the error, and nothing can be written.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The server handle (wake, dial, shutdown).
    pub fn server(&self) -> &Server {
        self.server
    }

    /// The loop's clock: the time this turn started, as its timers see it
    /// (see [`Clock`]). Reading it costs nothing: use it rather than
    /// `Instant::now()` or `SystemTime::now()` per request.
    pub fn clock(&self) -> Clock {
        *self.clock
    }

    /// This connection's user state (see [`Handler::State`](crate::Handler::State)).
    pub fn state(&mut self) -> &mut S {
        self.state
    }

    /// The state, the output and the input's controls at once, for a
    /// handler that formats replies from its state straight into the output
    /// (which `state()` and `output()`, each borrowing the whole `Conn`,
    /// cannot do together).
    ///
    /// ```
    /// use revio::{Action, Conn, Handler};
    ///
    /// #[derive(Default)]
    /// struct Session { greeting: Vec<u8> }
    ///
    /// struct Greeter;
    /// impl Handler for Greeter {
    ///     type State = Session;
    ///     fn data(&mut self, conn: &mut Conn<'_, Session>, input: &[u8]) -> Action {
    ///         let mut p = conn.parts();
    ///         if p.state.greeting.is_empty() {
    ///             p.state.greeting = b"hello ".to_vec();
    ///         }
    ///         // Reads the state while appending to the output: no copy, no mem::take.
    ///         p.output.extend_from_slice(&p.state.greeting);
    ///         match input.iter().position(|&b| b == b'\n') {
    ///             Some(nl) => p.output.extend_from_slice(&input[..=nl]),
    ///             None => p.input.keep(input.len()),
    ///         }
    ///         Action::None
    ///     }
    /// }
    /// ```
    pub fn parts(&mut self) -> Parts<'_, 'a, S> {
        Parts {
            state: &mut *self.state,
            output: &mut self.out,
            input: InputControl {
                keep: &mut self.keep,
                input_len: self.input_len,
                req: &mut self.req,
            },
        }
    }

    /// Queues bytes to send after the handler returns. Past
    /// [`Config::max_output`](crate::Config::max_output) queued bytes the
    /// write is dropped and the connection closes (see [`Output`]).
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues a shared buffer, sent without copying it (under 4 KiB, on UDP
    /// and behind a translator it is copied): as [`Output::write_shared`].
    ///
    /// ```
    /// use revio::{Action, Bytes, Conn, Handler};
    ///
    /// struct Cached(Bytes);
    /// impl Handler for Cached {
    ///     type State = ();
    ///     fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
    ///         conn.write(b"VALUE\r\n");
    ///         conn.write_shared(self.0.clone());
    ///         conn.write(b"\r\nEND\r\n");
    ///         Action::None
    ///     }
    /// }
    /// # let _ = Cached(Bytes::from_static(b"v"));
    /// ```
    #[cfg(feature = "bytes")]
    pub fn write_shared(&mut self, bytes: crate::Bytes) {
        self.out.write_shared(bytes);
    }

    /// The queued output, to append to in place (formatting a reply straight
    /// into it, reserving room). Append only: see [`Output`].
    pub fn output(&mut self) -> &mut Output<'a> {
        &mut self.out
    }

    /// Bytes queued for this connection that the socket has not taken yet,
    /// including what this event wrote.
    pub fn queued(&self) -> usize {
        self.out.queued()
    }

    /// Bytes queued on this connection's loop for all its connections, this
    /// one's [`queued`](Conn::queued) included: the figure
    /// [`Config::loop_output_budget`](crate::Config::loop_output_budget)
    /// bounds. A handler can shed work when it is high. Output a backend holds
    /// counts until the loop learns it was sent, so the figure can run a little
    /// behind the sockets, never ahead of them.
    pub fn loop_queued(&self) -> usize {
        self.loop_others + self.out.queued()
    }

    /// Whether the queued output is over [`Config::high_water`](crate::Config::high_water):
    /// the peer is not keeping up. A handler serving pipelined requests checks
    /// this after each reply and, when it is true, stops, keeps the rest of its
    /// input ([`Conn::keep`]) and returns. Reading is paused while the output
    /// is that high; once it drains to half the mark, the loop calls `data`
    /// again with the kept input by itself, without waiting for new bytes.
    /// Memory then stays near the high-water mark whatever the peer sends.
    ///
    /// ```
    /// use revio::{Action, Conn, Handler};
    ///
    /// /// Answers each line with a large reply, and stops when the peer lags.
    /// struct Big;
    /// impl Handler for Big {
    ///     type State = ();
    ///     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
    ///         let mut rest = input;
    ///         while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
    ///             conn.write(&[b'x'; 100_000]);
    ///             rest = &rest[nl + 1..];
    ///             if conn.is_congested() {
    ///                 break; // the rest is presented again once output drains
    ///             }
    ///         }
    ///         conn.keep(rest.len());
    ///         Action::None
    ///     }
    /// }
    /// ```
    pub fn is_congested(&self) -> bool {
        self.out.queued() > self.high_water
    }

    /// For a handler that stopped early for congestion (see
    /// [`Conn::is_congested`]) while it holds the rest of its input in a
    /// buffer of its own rather than with [`Conn::keep`]: once the output has
    /// drained, the loop calls `data` again, with empty input if nothing new
    /// came, so that the handler can go on. (Input kept with `keep` is
    /// presented again without asking.) It has no effect if the output is not
    /// over the high-water mark when the handler returns.
    pub fn call_again_when_drained(&mut self) {
        self.req.again = true;
    }

    /// In [`Handler::data`](crate::Handler::data): keep the last `n` bytes of this
    /// call's input unconsumed. They are presented again, followed by whatever
    /// arrives next, at the next `data` call. `n` is capped at the input's length.
    /// By default all input is consumed.
    pub fn keep(&mut self, n: usize) {
        self.keep = n.min(self.input_len);
    }

    /// In [`Handler::data`](crate::Handler::data): do not call `data` again
    /// until the input it would present, the bytes kept with [`Conn::keep`]
    /// followed by new ones, is at least `n` bytes long, or the peer's
    /// stream ends (then `data` gets what came, before
    /// [`Handler::eof`](crate::Handler::eof)). For a large value whose length
    /// a header announced: one `data` call sees the whole value, instead of
    /// one per read that parses the header again each time.
    ///
    /// Meanwhile the loop reads the socket only as far as `n`: it holds at
    /// most `n` bytes for the connection (on io_uring, up to one receive
    /// buffer more, as the kernel fills whole buffers), and each byte that
    /// arrives is copied once, into the connection's input buffer, as kept
    /// input always is. An `n` over [`Config::max_input`](crate::Config::max_input)
    /// can never be met: the connection is closed with an
    /// [`Error::InputLimit`](crate::Error::InputLimit) when the handler returns.
    /// An `n` no longer than what is kept has no effect. Not for UDP, whose
    /// input is one datagram per call (ignored there).
    ///
    /// ```
    /// use revio::{Action, Conn, Handler};
    ///
    /// /// Frames: a 4-byte big-endian length, then that many bytes; answers
    /// /// each frame with its length.
    /// struct Frames;
    /// impl Handler for Frames {
    ///     type State = ();
    ///     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
    ///         let mut rest = input;
    ///         while rest.len() >= 4 {
    ///             let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    ///             if rest.len() < 4 + len {
    ///                 conn.keep(rest.len());
    ///                 conn.want(4 + len); // one call once the frame is whole
    ///                 return Action::None;
    ///             }
    ///             conn.write(format!("{len}\n").as_bytes());
    ///             rest = &rest[4 + len..];
    ///         }
    ///         conn.keep(rest.len());
    ///         Action::None
    ///     }
    /// }
    /// ```
    pub fn want(&mut self, n: usize) {
        self.req.want = Some(n);
    }

    /// Closes this connection once the handler returns, as [`Action::Close`](crate::Action::Close)
    /// does (queued output is flushed first), but `closed` reports `error`:
    /// for a protocol error the handler found, say.
    pub fn close_with(&mut self, error: io::Error) {
        if self.req.close_error.is_none() {
            self.req.close_error = Some(error);
        }
    }

    /// Aborts this connection once the handler returns, as
    /// [`Action::Abort`](crate::Action::Abort) does, whatever the handler
    /// returns: queued output, including what this call wrote, is dropped,
    /// the peer is reset, and `closed` gets an
    /// [`Error::Aborted`](crate::Error::Aborted). For a protocol violation
    /// found deep in a parser, where returning the action is awkward.
    ///
    /// ```
    /// use revio::{Action, Conn, Handler};
    ///
    /// struct Strict;
    /// impl Handler for Strict {
    ///     type State = ();
    ///     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
    ///         if !input.is_ascii() {
    ///             conn.abort(); // no reply, no clean end: a reset
    ///         }
    ///         Action::None
    ///     }
    /// }
    /// ```
    pub fn abort(&mut self) {
        self.req.abort = true;
    }

    /// Stops reading this connection's input until [`Conn::resume_reading`]
    /// (or [`Server::resume_reading`]): no `data` comes meanwhile, and the
    /// peer's bytes wait in the kernel, so TCP flow control slows the peer
    /// down. A proxy pauses the side whose partner is not draining.
    pub fn pause_reading(&mut self) {
        self.req.reading = Some(false);
    }

    /// Undoes [`Conn::pause_reading`]; bytes that arrived meanwhile are read.
    pub fn resume_reading(&mut self) {
        self.req.reading = Some(true);
    }

    /// Whether reading is paused by code (with what this call asked applied).
    pub fn is_reading_paused(&self) -> bool {
        self.req.reading.map_or(self.paused, |on| !on)
    }

    /// Sets a deadline `after` from now, or clears it with `None`: if it
    /// passes, the connection is closed without flushing and `closed` gets an
    /// [`Error::Deadline`](crate::Error::Deadline) (kind `TimedOut`). For
    /// protocol timeouts, such as "the request headers must be complete
    /// within 10 s": set it when a request starts, clear it when it is whole.
    /// A new deadline replaces the old one. Deadlines are kept to the
    /// millisecond, up to 24 days ahead.
    pub fn set_deadline(&mut self, after: Option<Duration>) {
        self.req.deadline = Some(after);
    }

    /// Shuts down this connection's writing side once its queued output is
    /// flushed: the peer reads end-of-stream (a TCP FIN). Output written
    /// after that (in later events) is dropped. Reading goes on; the
    /// connection closes when the peer ends its stream too (see
    /// [`Handler::eof`](crate::Handler::eof)).
    pub fn close_write(&mut self) {
        self.req.close_write = true;
    }

    /// Registers `hook`, which the loop calls at shutdown for every open
    /// connection of this loop, right after [`Handler::stopping`](crate::Handler::stopping)
    /// and before the last flush, with the connection's state and output. It
    /// is for layers such as [`Translate`](crate::Translate) that must append
    /// final bytes (a TLS `close_notify`) even when the handlers wrapped around
    /// them do not forward `stopping`. One hook per loop: the last registered
    /// wins. Applications use `stopping` instead.
    pub fn on_shutdown(&mut self, hook: ShutdownHook<S>) {
        self.req.shutdown_hook = Some(hook);
    }

    fn sock(&self) -> io::Result<SockRef<'_>> {
        match &self.endpoint {
            Endpoint::Tcp(s) | Endpoint::Unix(s) | Endpoint::Udp(s, _) => Ok(SockRef::from(s)),
            Endpoint::None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "this connection has no socket (a dial that is still connecting or failed)",
            )),
        }
    }

    fn addr_of(&self, a: SockAddr) -> Addr {
        match (self.endpoint, a.as_socket()) {
            (Endpoint::Udp(..), Some(s)) => Addr::Udp(s),
            (_, Some(s)) => Addr::Tcp(s),
            (_, None) => Addr::Unix(crate::sys::unix_path(&a)),
        }
    }

    /// This end's address (getsockname: a connection's own, not the
    /// listener's). Behind a PROXY protocol listener, the address the client
    /// connected to, as the header says (see [`Conn::proxy_header`]).
    pub fn local_addr(&self) -> io::Result<Addr> {
        if let Some(a) = self.proxied.and_then(|h| h.destination()) {
            return Ok(Addr::Tcp(a));
        }
        let a = self.sock()?.local_addr()?;
        Ok(self.addr_of(a))
    }

    /// The peer's address. For UDP, the remote that sent the datagram.
    /// Behind a PROXY protocol listener, the client's address as the header
    /// says (the balancer's own for its health checks, which send `LOCAL`).
    pub fn remote_addr(&self) -> io::Result<Addr> {
        if let Endpoint::Udp(_, peer) = self.endpoint {
            return Ok(Addr::Udp(peer));
        }
        if let Some(a) = self.proxied.and_then(|h| h.source()) {
            return Ok(Addr::Tcp(a));
        }
        let a = self.sock()?.peer_addr()?;
        Ok(self.addr_of(a))
    }

    /// For a handler wrapped in a [`Translate`](crate::Translate): the
    /// connection's translator, if it has one of type `T`. With TLS, a
    /// `TlsTranslator` (feature `tls`) gives the session: the server name
    /// the client asked for (SNI), the negotiated ALPN protocol, the client's
    /// certificates.
    ///
    /// ```ignore
    /// // In the wrapped handler (with the `tls` feature):
    /// if let Some(tls) = conn.translator::<revio::TlsTranslator>() {
    ///     let sni = tls.server_name();
    ///     let alpn = tls.alpn_protocol();
    /// }
    /// ```
    pub fn translator<T: 'static>(&self) -> Option<&T> {
        self.translator?.downcast_ref()
    }

    /// The PROXY protocol header this connection started with, on a listener
    /// that asks for one (`?proxy=`): its addresses and TLVs (the TLS details
    /// the balancer saw, a unique id, ALPN...).
    pub fn proxy_header(&self) -> Option<&crate::proxy_protocol::Header> {
        self.proxied
    }

    /// Sets TCP_NODELAY (no effect on unix sockets). It is on by default (see
    /// [`Config::nodelay`](crate::Config::nodelay)).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match &self.endpoint {
            Endpoint::Tcp(s) => SockRef::from(s).set_tcp_nodelay(on),
            _ => Ok(()),
        }
    }

    /// Turns TCP keep-alive on with the given idle time, or off with `None`
    /// (no effect on unix sockets).
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        match (&self.endpoint, idle) {
            (Endpoint::Tcp(s), Some(t)) => {
                SockRef::from(s).set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(t))
            }
            (Endpoint::Tcp(s), None) => SockRef::from(s).set_keepalive(false),
            _ => Ok(()),
        }
    }
}

impl<S> io::Write for Conn<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.out, buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.out, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
