//! Windows: sockets are `SOCKET` handles, there is no SIGPIPE, and neither
//! std nor mio has unix sockets.

use std::io;
use std::path::{Path, PathBuf};

use socket2::{SockAddr, SockRef, Socket};

use crate::stream::Stream;

pub(crate) use std::os::windows::io::AsSocket as AsSock;

/// A borrowed socket handle: what the loop needs for options and addresses.
pub(crate) type SockFd<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// Borrows any socket's handle.
pub(crate) fn fd<T: AsSock>(s: &T) -> SockFd<'_> {
    s.as_socket()
}

// ----- unix sockets: none ---------------------------------------------------------

/// Stands in for every unix socket type, so that the code handling unix
/// sockets compiles here. None is ever made: its only constructors fail
/// (`connect`, [`unix_stream_socket`], [`bind_unix`]), so that code never
/// runs. (An empty enum would say so to the compiler too, but then every
/// unix arm warns as unreachable.)
#[derive(Debug, Clone)]
pub(crate) struct NoUnix {
    _none: (),
}

pub(crate) type UnixStream = NoUnix;
pub(crate) type UnixListener = NoUnix;
pub(crate) type MioUnixStream = NoUnix;
pub(crate) type MioUnixListener = NoUnix;
/// Never created: no unix socket file is ever bound.
pub(crate) type UnixFile = NoUnix;

/// What the stand-in's methods do, were one ever called.
fn none() -> ! {
    unreachable!("no unix socket is ever made on Windows")
}

fn no_unix_sockets() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "unix sockets need a unix system")
}

impl NoUnix {
    pub(crate) fn connect<P: AsRef<Path>>(_: P) -> io::Result<NoUnix> {
        Err(no_unix_sockets())
    }

    /// mio's conversion from the std type (which is this type too).
    pub(crate) fn from_std(s: NoUnix) -> NoUnix {
        s
    }

    pub(crate) fn accept(&self) -> io::Result<(NoUnix, ())> {
        none()
    }

    pub(crate) fn remove(self) {
        none()
    }
}

impl io::Read for &NoUnix {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        none()
    }
}

impl AsSock for NoUnix {
    fn as_socket(&self) -> SockFd<'_> {
        none()
    }
}

impl mio::event::Source for NoUnix {
    fn register(&mut self, _: &mio::Registry, _: mio::Token, _: mio::Interest) -> io::Result<()> {
        none()
    }

    fn reregister(&mut self, _: &mio::Registry, _: mio::Token, _: mio::Interest) -> io::Result<()> {
        none()
    }

    fn deregister(&mut self, _: &mio::Registry) -> io::Result<()> {
        none()
    }
}

pub(crate) fn unix_stream(_: impl Into<UnixStream>) -> Stream {
    none()
}

pub(crate) fn unix_stream_socket() -> io::Result<UnixStream> {
    Err(no_unix_sockets())
}

/// Windows socket addresses have no path.
pub(crate) fn unix_path(_: &SockAddr) -> Option<PathBuf> {
    None
}

pub(crate) fn bind_unix(_: &Path) -> io::Result<(UnixListener, UnixFile)> {
    Err(no_unix_sockets())
}

// ----- sending -------------------------------------------------------------------

/// Windows has no SIGPIPE: no flag is needed.
pub(crate) const SEND_FLAGS: i32 = 0;

/// Windows has no per-call non-blocking flag; the sockets of the std backend
/// have a send timeout instead.
pub(crate) const DONTWAIT: i32 = 0;

/// Nothing to prepare.
pub(crate) fn prepare_socket(_: SockRef<'_>) -> io::Result<()> {
    Ok(())
}

// ----- listening and accepting -----------------------------------------------------

/// Not set: SO_REUSEADDR on Windows lets another socket take over a port
/// that is in use, and a port in TIME_WAIT is free to bind there anyway.
pub(crate) fn reuse_address(_: &Socket) -> io::Result<()> {
    Ok(())
}

/// Windows has no SO_REUSEPORT: each port takes one socket.
pub(crate) fn reuse_port(_: &Socket) -> io::Result<()> {
    Ok(())
}

/// WSAEMFILE (10024) and WSAENOBUFS (10055): out of sockets or buffers.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(10024 | 10055)) || e.kind() == io::ErrorKind::OutOfMemory
}

/// A thread blocked in `accept` or `connect` sleeps through `shutdown`.
pub(crate) const SHUTDOWN_WAKES_BLOCKED: bool = false;

/// mio simulates edges on Windows: an interest, once reported, comes back
/// only when an I/O call through mio says `WouldBlock`.
pub(crate) const MIO_REARMS_ON_WOULD_BLOCK: bool = true;
