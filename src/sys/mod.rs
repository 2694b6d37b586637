//! What differs between platforms, in one place, so that the rest of the
//! crate needs no `cfg`: `unix.rs` and `windows.rs` each provide the items
//! below, and only this module chooses between them.
//!
//! # The contract
//! * Socket handles: [`SockFd`] is a borrowed handle (a file descriptor, or a
//!   Windows `SOCKET`) as `socket2::SockRef::from(&fd)` takes it; [`fd`]
//!   borrows one from any socket ([`AsSock`]).
//! * Unix sockets: [`UnixStream`] and [`UnixListener`] (std's), and
//!   [`MioUnixStream`] and [`MioUnixListener`] (mio's). Where there are none
//!   (Windows), all four are one stand-in with the methods the backends call,
//!   of which no value is ever made: its constructors ([`unix_stream_socket`],
//!   [`bind_unix`], `connect`) fail with `Unsupported`. So a `Unix` arm
//!   compiles everywhere, without a `cfg`, and is never taken there.
//! * [`unix_stream`] makes a [`Stream`](crate::Stream) of a unix stream (the
//!   public variant exists on unix only); [`unix_path`] reads a socket
//!   address's path; [`UnixFile`] removes the socket file a server bound.
//! * Sending: [`SEND_FLAGS`] keep a send to a closed peer from raising SIGPIPE
//!   (with [`prepare_socket`], which sets SO_NOSIGPIPE where that flag is
//!   missing); [`DONTWAIT`] makes one send non-blocking on a blocking socket.
//! * Listening: [`reuse_address`] and [`reuse_port`] set what the platform
//!   has of SO_REUSEADDR and SO_REUSEPORT.
//! * Errors: [`is_fd_exhaustion`] tells "out of descriptors" (or socket
//!   buffers) from other accept errors.
//! * Blocking calls: [`SHUTDOWN_WAKES_BLOCKED`] says whether `shutdown` wakes
//!   a thread blocked in `accept`, `recv` or `connect` on the same socket.
//! * mio: [`MIO_REARMS_ON_WOULD_BLOCK`] says whether mio reports an interest
//!   again only after an I/O call through mio said `WouldBlock`.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod imp;

pub(crate) use imp::*;
