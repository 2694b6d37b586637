//! Backends: the one small interface between the event loop and the operating
//! system.
//!
//! # The contract
//! A backend owns every socket of its loop and performs the I/O on them, so
//! that readiness systems (epoll, kqueue), completion systems (io_uring) and a
//! thread-per-socket simulation (std::net) all fit behind it:
//!
//! * Listeners are bound by the caller (see `crate::event_loop::bind`) and handed
//!   over with [`Driver::listen`]; accepted and dialed connections live under a
//!   [`Token`] chosen by the loop (the connection's slot).
//! * [`Driver::poll`] waits up to a timeout and reports [`Event`]s. Events are
//!   edge-like: after `Conn { readable }`, the loop reads until a short read or
//!   `WouldBlock`; after a `WouldBlock` on write, it waits for `writable`.
//!   Spurious events are allowed; missing an edge is not.
//! * `read`, `write`, `recv_from` and `send_to` never block; they return
//!   `WouldBlock` instead. Writes never raise SIGPIPE.
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

use crate::conn::Stream;

/// A borrowed socket handle: what the loop needs for options and addresses.
#[cfg(unix)]
pub(crate) type SockFd<'a> = std::os::fd::BorrowedFd<'a>;
/// A borrowed socket handle: what the loop needs for options and addresses.
#[cfg(windows)]
pub(crate) type SockFd<'a> = std::os::windows::io::BorrowedSocket<'a>;
use crate::server::Notify;

pub(crate) mod poll;
// Named `std`, the module would shadow the std crate in this file.
#[path = "std.rs"]
pub(crate) mod stdnet;

/// A connection's slot number in its loop.
pub(crate) type Token = usize;

/// What [`Driver::poll`] reports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    /// Listener `index` (its position in the bound list) may accept a
    /// connection, or, for UDP, receive a datagram.
    Listener(usize),
    /// A connection is ready. `closed` means the peer hung up or the socket
    /// has an error: the loop reads until end-of-stream or the error.
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
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
    Udp(std::net::UdpSocket),
}

/// Where a dial connects to, once the name is resolved.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Inet(SocketAddr),
    #[cfg_attr(not(unix), allow(dead_code))]
    Unix(PathBuf),
}

/// One backend instance serves one loop.
pub(crate) trait Driver: Sized {
    /// A thread-safe handle that wakes this driver's `poll`.
    fn notifier(&self) -> io::Result<Box<dyn Notify>>;

    /// Starts watching a bound listener; its events carry `index`.
    fn listen(&mut self, index: usize, socket: Bound) -> io::Result<()>;

    /// Stops watching listener `index` and closes it.
    fn unlisten(&mut self, index: usize);

    /// Waits for events (at most `timeout`; `None` waits until one comes) and
    /// appends them to `events`.
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

    /// Reads into `buf` (0 means end-of-stream).
    fn read(&mut self, token: Token, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes from `buf`, returning how much the socket took.
    fn write(&mut self, token: Token, buf: &[u8]) -> io::Result<usize>;

    /// Closes the connection under `token` (no-op if none).
    fn close(&mut self, token: Token);

    /// Takes the connection out of the backend as a blocking std stream.
    fn detach(&mut self, token: Token) -> io::Result<Stream>;

    /// Receives one datagram on UDP listener `index`.
    fn recv_from(&mut self, listener: usize, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;

    /// Sends one datagram from UDP listener `index`.
    fn send_to(&mut self, listener: usize, buf: &[u8], to: SocketAddr) -> io::Result<usize>;

    /// The socket under `token`, for options and addresses.
    fn sock(&self, token: Token) -> Option<SockFd<'_>>;

    /// Listener `index`'s socket, for a UDP remote's local address.
    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>>;
}

/// Flags for `send` that keep a write to a closed peer from raising SIGPIPE.
#[cfg(not(any(target_vendor = "apple", windows)))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// Apple systems have no MSG_NOSIGNAL (SO_NOSIGPIPE is set on each socket
/// instead), and Windows has no SIGPIPE.
#[cfg(any(target_vendor = "apple", windows))]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// Per-socket setup shared by backends: SO_NOSIGPIPE where MSG_NOSIGNAL is missing.
pub(crate) fn prepare_socket(sock: SockRef<'_>) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    sock.set_nosigpipe(true)?;
    let _ = sock;
    Ok(())
}
