//! Unix systems: Linux, Android, macOS and the other Apple systems, the BSDs,
//! illumos and Solaris.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use crate::stream::Stream;

pub(crate) use mio::net::{UnixListener as MioUnixListener, UnixStream as MioUnixStream};
pub(crate) use std::os::fd::AsFd as AsSock;
pub(crate) use std::os::unix::net::{UnixListener, UnixStream};

/// A borrowed socket handle: what the loop needs for options and addresses.
pub(crate) type SockFd<'a> = std::os::fd::BorrowedFd<'a>;

/// Borrows any socket's handle.
pub(crate) fn fd<T: AsSock>(s: &T) -> SockFd<'_> {
    s.as_fd()
}

// ----- unix sockets ------------------------------------------------------------

/// A unix stream (std's, or mio's) as the public [`Stream`].
pub(crate) fn unix_stream(s: impl Into<UnixStream>) -> Stream {
    Stream::Unix(s.into())
}

/// A unix stream socket, not yet connected.
pub(crate) fn unix_stream_socket() -> io::Result<UnixStream> {
    Ok(Socket::new(Domain::UNIX, Type::STREAM, None)?.into())
}

/// The path of a unix socket address (`None` for an unnamed one).
pub(crate) fn unix_path(a: &SockAddr) -> Option<PathBuf> {
    a.as_pathname().map(Path::to_path_buf)
}

/// Binds a unix listener on `path`, first removing a stale socket file there.
pub(crate) fn bind_unix(path: &Path) -> io::Result<(UnixListener, UnixFile)> {
    clear_stale_socket(path)?;
    let listener = UnixListener::bind(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = UnixFile {
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    };
    Ok((listener, file))
}

/// A unix socket file this server created: removed when its listener closes,
/// but only if it is still the same file (a server started since, on the same
/// path, keeps its own).
#[derive(Debug, Clone)]
pub(crate) struct UnixFile {
    path: PathBuf,
    id: (u64, u64),
}

impl UnixFile {
    /// Removes the file if it is still the socket this server bound.
    pub(crate) fn remove(self) {
        if std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.id)
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes a leftover unix socket file, but only if it is a socket and nothing
/// listens on it; anything else at the path is an error (evio deletes whatever
/// is there, directories included).
fn clear_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; remove it or choose another path",
                path.display()
            ),
        ));
    }
    // A non-blocking connect: a live server with a full backlog answers
    // EAGAIN instead of making `serve` wait.
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused || e.kind() == io::ErrorKind::NotFound => {
            std::fs::remove_file(path)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use: a server is listening on it", path.display()),
        )),
    }
}

// ----- sending -------------------------------------------------------------------

/// Flags for `send` that keep a write to a closed peer from raising SIGPIPE.
#[cfg(not(target_vendor = "apple"))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// Apple systems have no MSG_NOSIGNAL: [`prepare_socket`] sets SO_NOSIGPIPE
/// on each socket instead.
#[cfg(target_vendor = "apple")]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// The flag that makes one send non-blocking on a blocking socket.
pub(crate) const DONTWAIT: libc::c_int = libc::MSG_DONTWAIT;

/// Per-socket setup shared by backends: SO_NOSIGPIPE where MSG_NOSIGNAL is missing.
pub(crate) fn prepare_socket(sock: SockRef<'_>) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    sock.set_nosigpipe(true)?;
    let _ = sock;
    Ok(())
}

// ----- listening and accepting -----------------------------------------------------

/// SO_REUSEADDR: a restarted server binds its port while old connections
/// linger in TIME_WAIT.
pub(crate) fn reuse_address(s: &Socket) -> io::Result<()> {
    s.set_reuse_address(true)
}

/// SO_REUSEPORT, where the system has it: several sockets on one port.
pub(crate) fn reuse_port(s: &Socket) -> io::Result<()> {
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    s.set_reuse_port(true)?;
    let _ = s;
    Ok(())
}

/// Whether an accept error means the process or system ran out of
/// descriptors or socket buffers.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Linux wakes a thread blocked in `accept`, `recv` or `connect` when another
/// shuts the socket down; the other systems may let it sleep on.
pub(crate) const SHUTDOWN_WAKES_BLOCKED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// epoll and kqueue report edges themselves.
pub(crate) const MIO_REARMS_ON_WOULD_BLOCK: bool = false;
