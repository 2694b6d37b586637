//! The handler's view of one connection: its id, addresses, output and user state.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use socket2::{SockAddr, SockRef};

use crate::addr::Addr;
use crate::driver::SockFd;
use crate::server::{ConnId, Server};

/// Which socket a connection view is backed by.
#[derive(Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    Tcp(SockFd<'a>),
    Unix(SockFd<'a>),
    Udp(SockFd<'a>, SocketAddr),
    /// Not connected (a dial still resolving, or failed).
    None,
}

/// One connection, as a handler sees it during an event: its id, its addresses,
/// the output to send, and its per-connection user state.
///
/// Output written with [`Conn::write`] (or through [`std::io::Write`]) is queued
/// and sent after the handler returns, in order; nothing is written to the
/// socket during the call.
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
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) keep: usize,
    pub(crate) input_len: usize,
    pub(crate) endpoint: Endpoint<'a>,
    pub(crate) server: &'a Server,
    pub(crate) closing: bool,
    /// Set by a handler that wraps another (the translate layer) to close
    /// this connection with an error: queued output is flushed, then `closed` reports this error.
    /// Crate-internal: user handlers close with [`Action::Close`](crate::Action::Close).
    pub(crate) close_error: Option<io::Error>,
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

    /// This connection's user state (see [`Handler::State`](crate::Handler::State)).
    pub fn state(&mut self) -> &mut S {
        self.state
    }

    /// Queues bytes to send after the handler returns.
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// The queued output itself, to append to without an intermediate buffer
    /// (e.g. formatting a reply in place). Only append: bytes already present
    /// may be queued from earlier events.
    pub fn output(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// In [`Handler::data`](crate::Handler::data): keep the last `n` bytes of this
    /// call's input unconsumed. They are presented again, followed by whatever
    /// arrives next, at the next `data` call. `n` is capped at the input's length.
    /// By default all input is consumed.
    pub fn keep(&mut self, n: usize) {
        self.keep = n.min(self.input_len);
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
            #[cfg(unix)]
            (_, None) => Addr::Unix(a.as_pathname().map(|p| p.to_path_buf())),
            #[cfg(not(unix))]
            (_, None) => Addr::Unix(None),
        }
    }

    /// This end's address (getsockname: a connection's own, not the listener's).
    pub fn local_addr(&self) -> io::Result<Addr> {
        let a = self.sock()?.local_addr()?;
        Ok(self.addr_of(a))
    }

    /// The peer's address. For UDP, the remote that sent the datagram.
    pub fn remote_addr(&self) -> io::Result<Addr> {
        if let Endpoint::Udp(_, peer) = self.endpoint {
            return Ok(Addr::Udp(peer));
        }
        let a = self.sock()?.peer_addr()?;
        Ok(self.addr_of(a))
    }

    /// Sets TCP_NODELAY (no effect on unix sockets).
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

impl<S> Write for Conn<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blocking std stream, as handed over by [`Action::Detach`](crate::Action::Detach).
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix stream connection.
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// Sets a read timeout on the blocking stream.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A detached connection: reads first yield the bytes the loop had read but the
/// handler had not consumed, then come from the socket. Writes go to the socket.
#[derive(Debug)]
pub struct Detached {
    pending: Vec<u8>,
    pos: usize,
    stream: Stream,
}

impl Detached {
    pub(crate) fn new(pending: Vec<u8>, stream: Stream) -> Detached {
        Detached {
            pending,
            pos: 0,
            stream,
        }
    }

    /// The bytes not yet read from the loop's buffer, and the stream.
    pub fn into_parts(self) -> (Vec<u8>, Stream) {
        let mut pending = self.pending;
        pending.drain(..self.pos);
        (pending, self.stream)
    }

    /// The underlying stream (reading from it directly skips the pending bytes).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

impl Read for Detached {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.pending.len() {
            let n = (&self.pending[self.pos..]).read(buf)?;
            self.pos += n;
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Detached {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
