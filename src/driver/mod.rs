//! Backends: the one small interface between the event loop and the operating
//! system.
//!
//! # The contract (version 2)
//! A backend owns every socket of its loop and performs the I/O on them, so
//! that readiness systems (epoll, kqueue), completion systems (io_uring) and a
//! thread-per-socket simulation (std::net) all fit behind it without a copy:
//!
//! * Listeners are bound by the caller (see `crate::event_loop::bind`) and handed
//!   over with [`Driver::listen`]; accepted and dialed connections live under a
//!   [`Token`] chosen by the loop (the connection's slot).
//! * [`Driver::poll`] waits up to a timeout and reports [`Event`]s. Events are
//!   edge-like: after `Conn { readable }`, the loop receives until
//!   `WouldBlock` (or, to be fair to other connections, until its budget for
//!   the turn runs out: it then comes back on its own, without an event);
//!   after a send that did not take everything, it waits for `writable`.
//!   Spurious events are allowed; missing an edge is not.
//! * Input is *lent*: [`Driver::recv`] returns the received bytes either in
//!   the space the loop offers (a readiness backend reads there) or in a
//!   buffer of the backend's own (a completion backend's provided buffer),
//!   never more than the space's length. Either way the bytes stay valid,
//!   and mutable (to decrypt in place), until the next `recv`, `recv_from`
//!   or `poll`; then the backend may reuse them. End-of-stream is an empty
//!   chunk.
//! * Output is *owned* by the loop in an [`OutBuf`] per connection until the
//!   socket has it: [`Driver::send`] sends from its front and consumes what
//!   was taken. Nothing is copied on the way for readiness backends. With
//!   the `bytes` feature the queue holds shared buffers among the copied
//!   bytes, in order (see `outbuf.rs`): epoll and kqueue send them with one
//!   vectored write, io_uring from the `Bytes` itself (held until the send
//!   completes), and the std backend copies them into its writer's queue.
//!
//! # Completion backends (io_uring)
//! A backend that receives before it is asked, or sends after `send`
//! returned, says so through a few items that readiness backends leave at
//! their defaults (no cost on epoll's path: constants and empty inlined
//! functions):
//! * [`Driver::RECEIVES_AHEAD`]: `recv` only hands out what is already
//!   received, so the loop takes it all (up to its turn's budget in bytes)
//!   instead of stopping at a short chunk.
//! * [`Driver::held`]: output `send` took into a send still in flight. The
//!   loop counts it as queued (for `Conn::queued`, the high-water mark and
//!   the loop's budget), sends nothing more meanwhile, and hears of progress
//!   from `writable` and [`Driver::take_sent`]. A send is one write attempt,
//!   with one `prewrite` and one `postwrite`: the loop calls the `postwrite`
//!   once the backend holds none of it, however many steps that took. A
//!   backend that would need another attempt (io_uring after a short send)
//!   gives the rest back through `take_sent`, and the loop's next attempt
//!   sends it.
//!   A send that fails in flight is reported by [`Driver::sent_all`] (and
//!   the next `send` or `recv`).
//! * [`Driver::set_reading`] is also called when a connection's output goes
//!   over the high-water mark and when it drains, so that receiving ahead
//!   stops wherever the loop does not read.
//! * Reading can be switched off and on per connection ([`Driver::set_reading`]):
//!   a backend that receives ahead (io_uring's multishot receive) must stop,
//!   so that a paused connection holds no more than it already has.
//! * After [`Driver::close`] or [`Driver::detach`], no event is ever reported
//!   for that connection, even if the token is reused at once.
//! * `recv`, `send`, `recv_from` and `send_to` never block; they return
//!   `WouldBlock` instead. Sends never raise SIGPIPE.
//! * [`Driver::notifier`] gives a thread-safe handle whose `notify` makes a
//!   blocked `poll` return with [`Event::Wake`].
//!
//! Nothing here calls user code; the loop above never touches a file descriptor
//! except through [`Driver::sock`] for socket options and addresses.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use socket2::SockRef;

use crate::mailbox::Notify;
use crate::stream::Stream;
pub(crate) use outbuf::{OutBuf, Pieces};
// The platform's pieces that every backend uses (see `crate::sys`).
pub(crate) use crate::sys::{SEND_FLAGS, SockFd, fd, prepare_socket};

#[cfg(target_os = "linux")]
pub(crate) mod datagrams;
mod outbuf;
pub(crate) mod poll;
#[cfg(target_os = "linux")]
pub(crate) mod uring;
// Named `std`, the module would shadow the std crate in this file.
#[path = "std/mod.rs"]
pub(crate) mod stdnet;

/// A connection's slot number in its loop.
pub(crate) type Token = usize;

/// How a backend moves datagrams. Only Linux's epoll and io_uring backends
/// batch; elsewhere, and on the std backend, each datagram is one system call.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct UdpOptions {
    /// Receive with `recvmmsg` and send the datagrams of a turn with
    /// `sendmmsg` when it ends.
    pub(crate) batch: bool,
    /// With `batch`: a run of datagrams to one remote goes as one segmented
    /// send (`UDP_SEGMENT`), where the kernel takes it.
    pub(crate) gso: bool,
    /// Generic receive offload (`Config::udp_gro`).
    pub(crate) gro: bool,
}

/// What [`Driver::poll`] reports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    /// Listener `index` (its position in the bound list) may accept a
    /// connection, or, for UDP, receive a datagram.
    Listener(usize),
    /// A connection is ready. `closed` means the peer hung up or the socket
    /// has an error: the loop reads until end-of-stream or the error.
    /// `writable` also reports progress of a send the backend holds (see
    /// [`Driver::held`]).
    Conn {
        token: Token,
        readable: bool,
        writable: bool,
        closed: bool,
    },
    /// The notifier fired.
    Wake,
}

/// A listening socket bound by the caller, in blocking std form.
#[derive(Debug)]
pub(crate) enum Bound {
    Tcp(std::net::TcpListener),
    Unix(crate::sys::UnixListener),
    Udp(std::net::UdpSocket),
}

/// Where a dial connects to, once the name is resolved.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Inet(SocketAddr),
    Unix(PathBuf),
}

/// Received bytes lent by [`Driver::recv`], with the connection's socket.
pub(crate) struct Lent<'a> {
    pub(crate) data: &'a mut [u8],
    pub(crate) sock: Option<SockFd<'a>>,
}

/// One backend instance serves one loop.
pub(crate) trait Driver: Sized {
    /// Whether `recv` only lends bytes the backend has already received (a
    /// completion backend). The loop then takes everything queued in one go,
    /// up to its turn's budget, since that costs no system call; a short
    /// chunk says nothing about what follows. A readiness backend (`false`)
    /// is read until a short read, which tells that the socket is drained.
    const RECEIVES_AHEAD: bool = false;

    /// A thread-safe handle that wakes this driver's `poll`.
    fn notifier(&self) -> io::Result<Box<dyn Notify>>;

    /// Starts watching a bound listener; its events carry `index`.
    fn listen(&mut self, index: usize, socket: Bound) -> io::Result<()>;

    /// Stops watching listener `index` and closes it.
    fn unlisten(&mut self, index: usize);

    /// Waits for events (at most `timeout`; `None` waits until one comes) and
    /// appends them to `events`. Ends any loan of received bytes.
    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()>;

    /// Accepts one connection from a stream listener (`WouldBlock` when none waits).
    fn accept(&mut self, listener: usize) -> io::Result<Stream>;

    /// Adopts a connected stream under `token`.
    fn register(&mut self, token: Token, stream: Stream) -> io::Result<()>;

    /// Starts a non-blocking connect under `token`; completion is reported as
    /// `writable` (or `closed`), then checked with [`Driver::connect_result`].
    fn connect(&mut self, token: Token, target: &Target) -> io::Result<()>;

    /// After an event on a connecting token: `Ok(true)` connected, `Ok(false)`
    /// still in progress, `Err` failed.
    fn connect_result(&mut self, token: Token) -> io::Result<bool>;

    /// Receives the next bytes of `token`, lent until the next `recv`,
    /// `recv_from` or `poll`: in `space`, or in a buffer of the backend's,
    /// never more than `space.len()` bytes (the rest of a larger chunk comes
    /// next time). An empty chunk is end-of-stream; `WouldBlock` means
    /// nothing is there.
    fn recv<'a>(&'a mut self, token: Token, space: &'a mut [u8]) -> io::Result<Lent<'a>>;

    /// Sends from the front of `out`, consuming what the socket took, and
    /// returns that count (short when the socket is full: `writable` follows).
    fn send(&mut self, token: Token, out: &mut OutBuf) -> io::Result<usize>;

    /// Whether the backend holds none of `token`'s output any more (all of it
    /// is with the kernel). If it still holds some, `writable` is reported
    /// once that is sent. A send the backend made on its own and that failed
    /// (the loop no longer has those bytes to send again) is reported here.
    fn sent_all(&mut self, token: Token) -> io::Result<bool>;

    /// Bytes of `token`'s output the backend holds: taken by `send` (a
    /// completion backend's send in flight), and not yet reported taken by
    /// the kernel through [`Driver::take_sent`]. The loop counts them as
    /// queued ([`Conn::queued`](crate::Conn::queued), the high-water mark,
    /// the loop's budget) and sends nothing more until `writable` reports
    /// progress. A readiness backend holds none.
    fn held(&self, _token: Token) -> usize {
        0
    }

    /// After `writable` on a token whose output the backend holds: how many
    /// of those bytes the kernel has taken since the loop last asked, which
    /// no longer count in `held` from now on. Progress is reported only
    /// through here, so that what handlers see as queued changes only when
    /// the loop hears of it. A backend whose send ended short, leaving
    /// bytes it will not send on its own, gives them back here, in front of
    /// `out` (they no longer count in `held` either): the loop sends them
    /// in its next attempt.
    fn take_sent(&mut self, _token: Token, _out: &mut OutBuf) -> usize {
        0
    }

    /// Stops (`false`) or restarts (`true`) receiving ahead for `token`.
    /// Readiness backends receive only when asked, so for them it is a no-op.
    fn set_reading(&mut self, token: Token, on: bool);

    /// Shuts the writing side of `token` down (the peer reads end-of-stream),
    /// after whatever the backend still holds of its output.
    fn shutdown_write(&mut self, token: Token) -> io::Result<()>;

    /// Closes the connection under `token` (no-op if none). With `reset`, the
    /// peer gets a reset instead of an end-of-stream, and output not yet sent
    /// is dropped.
    fn close(&mut self, token: Token, reset: bool);

    /// Takes the connection out of the backend as a blocking std stream,
    /// with the bytes the backend had received and not yet lent.
    fn detach(&mut self, token: Token) -> io::Result<(Stream, Vec<u8>)>;

    /// Receives one datagram on UDP listener `index`, lent like [`Driver::recv`]'s
    /// bytes, with its sender and the listener's socket.
    fn recv_from<'a>(
        &'a mut self,
        listener: usize,
        space: &'a mut [u8],
    ) -> io::Result<(Lent<'a>, SocketAddr)>;

    /// Sends one datagram from UDP listener `index`, now or, for a backend
    /// that batches ([`UdpOptions::batch`]), at the start of the next `poll`
    /// (and when the backend is dropped), in order with the others. A
    /// datagram the kernel refuses then is dropped and logged, as one that
    /// fails now is: UDP output is never waited for.
    fn send_to(&mut self, listener: usize, buf: &[u8], to: SocketAddr) -> io::Result<usize>;

    /// The socket under `token`, for options and addresses.
    fn sock(&self, token: Token) -> Option<SockFd<'_>>;

    /// Listener `index`'s socket, for a UDP remote's local address.
    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>>;
}

/// Makes the peer see a reset when the socket is closed (SO_LINGER of zero).
pub(crate) fn set_reset_on_close(sock: SockRef<'_>) {
    if let Err(e) = sock.set_linger(Some(Duration::ZERO)) {
        log::debug!("revio: SO_LINGER for a reset failed: {e}");
    }
}
