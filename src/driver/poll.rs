//! The readiness backend: epoll on Linux, kqueue on macOS and the BSDs, and on
//! Windows readiness that mio builds on the AFD driver and a completion port,
//! all through mio. Sockets are registered once, edge-triggered, for both
//! reading and writing, so the steady state makes no `epoll_ctl` calls at all:
//! a write is tried at once and the writable edge is only waited for after
//! `WouldBlock` (on Windows, after a short read or send, see `rearm`).

use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Poll, Token as MioToken, Waker};
use socket2::SockRef;

#[cfg(target_os = "linux")]
use super::datagrams::{Inbox, Outbox};
use super::{
    Bound, Driver, Event, Lent, OutBuf, SEND_FLAGS, SockFd, Target, Token, UdpOptions, fd, prepare_socket,
    set_reset_on_close,
};
use crate::mailbox::Notify;
use crate::stream::{Stream, each_stream};
use crate::sys::{
    self, MIO_REARMS_ON_WOULD_BLOCK, MioUnixListener as UnixListener, MioUnixStream as UnixStream,
};

const WAKE: MioToken = MioToken(usize::MAX);
/// Runs of output one vectored write sends at most (IOV_MAX is 1024).
const MAX_SLICES: usize = 64;
/// Listener tokens count down from just below `WAKE`; connection tokens count up from 0.
const LISTENER_BASE: usize = usize::MAX - 1;

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl From<std::net::TcpStream> for Sock {
    fn from(s: std::net::TcpStream) -> Sock {
        Sock::Tcp(TcpStream::from_std(s))
    }
}

impl From<sys::UnixStream> for Sock {
    fn from(s: sys::UnixStream) -> Sock {
        Sock::Unix(UnixStream::from_std(s))
    }
}

impl Sock {
    fn fd(&self) -> SockFd<'_> {
        match self {
            Sock::Tcp(s) => fd(s),
            Sock::Unix(s) => fd(s),
        }
    }
}

fn no_socket() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no socket under this token")
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
    Udp(UdpSocket),
}

/// The epoll/kqueue backend.
pub(crate) struct PollDriver {
    poll: Poll,
    events: mio::Events,
    socks: Vec<Option<Sock>>,
    listeners: Vec<Option<Listener>>,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    udp_options: UdpOptions,
    /// Per UDP listener, its batch of received datagrams (made at its first
    /// receive).
    #[cfg(target_os = "linux")]
    inboxes: Vec<Option<Box<Inbox>>>,
    /// The datagrams written this turn, sent when `poll` is next called.
    #[cfg(target_os = "linux")]
    outbox: Outbox,
}

impl PollDriver {
    pub(crate) fn new(udp_options: UdpOptions) -> io::Result<PollDriver> {
        Ok(PollDriver {
            poll: Poll::new()?,
            events: mio::Events::with_capacity(1024),
            socks: Vec::new(),
            listeners: Vec::new(),
            udp_options,
            #[cfg(target_os = "linux")]
            inboxes: Vec::new(),
            #[cfg(target_os = "linux")]
            outbox: Outbox::new(udp_options.gso),
        })
    }

    /// Sends the datagrams written since the last `poll`.
    #[cfg(target_os = "linux")]
    fn flush_datagrams(&mut self) {
        let listeners = &self.listeners;
        self.outbox.flush(|l| match listeners.get(l) {
            Some(Some(Listener::Udp(u))) => Some(std::os::fd::AsFd::as_fd(u)),
            _ => None,
        });
    }

    fn sock_ref(&self, token: Token) -> io::Result<&Sock> {
        self.socks
            .get(token)
            .and_then(Option::as_ref)
            .ok_or_else(no_socket)
    }

    fn put(&mut self, token: Token, mut sock: Sock) -> io::Result<()> {
        let registry = self.poll.registry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        match &mut sock {
            Sock::Tcp(s) => registry.register(s, MioToken(token), interest)?,
            Sock::Unix(s) => registry.register(s, MioToken(token), interest)?,
        }
        if self.socks.len() <= token {
            self.socks.resize_with(token + 1, || None);
        }
        self.socks[token] = Some(sock);
        Ok(())
    }

    /// mio simulates edges on Windows: an interest, once reported, comes back
    /// only when an I/O call through mio says `WouldBlock`. The loop takes a
    /// short read or send as the end of an edge (as it is with epoll and
    /// kqueue), so after one the interests are restored here.
    fn rearm(&mut self, token: Token) {
        if !MIO_REARMS_ON_WOULD_BLOCK {
            return;
        }
        let registry = self.poll.registry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let r = match self.socks.get_mut(token) {
            Some(Some(Sock::Tcp(s))) => registry.reregister(s, MioToken(token), interest),
            Some(Some(Sock::Unix(s))) => registry.reregister(s, MioToken(token), interest),
            _ => Ok(()),
        };
        if let Err(e) = r {
            log::debug!("revio: re-arming a connection failed: {e}");
        }
    }

    fn udp(&self, index: usize) -> io::Result<&UdpSocket> {
        match self.listeners.get(index) {
            Some(Some(Listener::Udp(u))) => Ok(u),
            _ => Err(not_udp()),
        }
    }
}

fn not_udp() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener")
}

#[cfg(target_os = "linux")]
impl Drop for PollDriver {
    /// Datagrams written in the loop's last turn still go out.
    fn drop(&mut self) {
        self.flush_datagrams();
    }
}

struct MioNotify(Waker);

impl Notify for MioNotify {
    fn notify(&self) {
        if let Err(e) = self.0.wake() {
            log::error!("revio: waking the loop failed: {e}");
        }
    }
}

impl Driver for PollDriver {
    fn notifier(&self) -> io::Result<Box<dyn Notify>> {
        Ok(Box::new(MioNotify(Waker::new(self.poll.registry(), WAKE)?)))
    }

    fn listen(&mut self, index: usize, socket: Bound) -> io::Result<()> {
        let token = MioToken(LISTENER_BASE - index);
        let registry = self.poll.registry();
        let listener = match socket {
            Bound::Tcp(l) => {
                l.set_nonblocking(true)?;
                let mut l = TcpListener::from_std(l);
                registry.register(&mut l, token, Interest::READABLE)?;
                Listener::Tcp(l)
            }
            Bound::Unix(l) => {
                SockRef::from(&l).set_nonblocking(true)?;
                let mut l = UnixListener::from_std(l);
                registry.register(&mut l, token, Interest::READABLE)?;
                Listener::Unix(l)
            }
            Bound::Udp(u) => {
                u.set_nonblocking(true)?;
                prepare_socket(SockRef::from(&u))?;
                #[cfg(target_os = "linux")]
                super::datagrams::probe(
                    std::os::fd::AsFd::as_fd(&u),
                    &mut self.udp_options,
                    &mut self.outbox,
                );
                let mut u = UdpSocket::from_std(u);
                registry.register(&mut u, token, Interest::READABLE)?;
                Listener::Udp(u)
            }
        };
        if self.listeners.len() <= index {
            self.listeners.resize_with(index + 1, || None);
        }
        self.listeners[index] = Some(listener);
        Ok(())
    }

    fn unlisten(&mut self, index: usize) {
        #[cfg(target_os = "linux")]
        self.flush_datagrams();
        if let Some(slot) = self.listeners.get_mut(index) {
            let registry = self.poll.registry();
            // Deregistering can only fail for a socket that is already gone.
            let _ = match slot {
                Some(Listener::Tcp(l)) => registry.deregister(l),
                Some(Listener::Unix(l)) => registry.deregister(l),
                Some(Listener::Udp(u)) => registry.deregister(u),
                None => Ok(()),
            };
            *slot = None;
        }
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        self.flush_datagrams();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            let t = ev.token().0;
            if ev.token() == WAKE {
                events.push(Event::Wake);
            } else if t > LISTENER_BASE - self.listeners.len() {
                events.push(Event::Listener(LISTENER_BASE - t));
            } else {
                events.push(Event::Conn {
                    token: t,
                    readable: ev.is_readable(),
                    writable: ev.is_writable(),
                    closed: ev.is_read_closed() || ev.is_error(),
                });
            }
        }
        Ok(())
    }

    fn accept(&mut self, listener: usize) -> io::Result<Stream> {
        match self.listeners.get(listener) {
            Some(Some(Listener::Tcp(l))) => {
                let (s, _) = l.accept()?;
                Ok(Stream::Tcp(s.into()))
            }
            Some(Some(Listener::Unix(l))) => {
                let (s, _) = l.accept()?;
                Ok(sys::unix_stream(s))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream listener",
            )),
        }
    }

    fn register(&mut self, token: Token, stream: Stream) -> io::Result<()> {
        let sock = each_stream!(stream, s => {
            s.set_nonblocking(true)?;
            prepare_socket(SockRef::from(&s))?;
            Sock::from(s)
        });
        self.put(token, sock)
    }

    fn connect(&mut self, token: Token, target: &Target) -> io::Result<()> {
        let sock = match target {
            Target::Inet(a) => Sock::Tcp(TcpStream::connect(*a)?),
            Target::Unix(p) => Sock::Unix(UnixStream::connect(p)?),
        };
        prepare_socket(SockRef::from(&sock.fd()))?;
        self.put(token, sock)
    }

    fn connect_result(&mut self, token: Token) -> io::Result<bool> {
        let fd = self.sock_ref(token)?.fd();
        let sock = SockRef::from(&fd);
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        match sock.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn recv<'a>(&'a mut self, token: Token, space: &'a mut [u8]) -> io::Result<Lent<'a>> {
        let sock = self.sock_ref(token)?;
        let n = match sock {
            Sock::Tcp(s) => (&*s).read(space)?,
            Sock::Unix(s) => (&*s).read(space)?,
        };
        if n > 0 && n < space.len() {
            self.rearm(token);
        }
        let sock = self.sock_ref(token)?;
        Ok(Lent {
            data: &mut space[..n],
            sock: Some(sock.fd()),
        })
    }

    fn send(&mut self, token: Token, out: &mut OutBuf) -> io::Result<usize> {
        let r = send_runs(SockRef::from(&self.sock_ref(token)?.fd()), out);
        if r.is_err() || !out.is_empty() {
            self.rearm(token);
        }
        r
    }

    fn sent_all(&mut self, _token: Token) -> io::Result<bool> {
        // `send` hands everything it reports straight to the kernel.
        Ok(true)
    }

    fn set_reading(&mut self, _token: Token, _on: bool) {
        // Reading happens only when the loop calls `recv`.
    }

    fn shutdown_write(&mut self, token: Token) -> io::Result<()> {
        SockRef::from(&self.sock_ref(token)?.fd()).shutdown(Shutdown::Write)
    }

    fn close(&mut self, token: Token, reset: bool) {
        if let Some(slot) = self.socks.get_mut(token) {
            if reset {
                if let Some(s) = slot {
                    set_reset_on_close(SockRef::from(&s.fd()));
                }
            }
            // Dropping the socket closes it, which also removes it from epoll/kqueue.
            *slot = None;
        }
    }

    fn detach(&mut self, token: Token) -> io::Result<(Stream, Vec<u8>)> {
        let sock = self
            .socks
            .get_mut(token)
            .and_then(Option::take)
            .ok_or_else(no_socket)?;
        let registry = self.poll.registry();
        let stream = match sock {
            Sock::Tcp(mut s) => {
                registry.deregister(&mut s)?;
                Stream::Tcp(s.into())
            }
            Sock::Unix(mut s) => {
                registry.deregister(&mut s)?;
                sys::unix_stream(s)
            }
        };
        each_stream!(&stream, s => s.set_nonblocking(false))?;
        // Everything not lent to the loop is still in the socket.
        Ok((stream, Vec::new()))
    }

    fn recv_from<'a>(
        &'a mut self,
        listener: usize,
        space: &'a mut [u8],
    ) -> io::Result<(Lent<'a>, SocketAddr)> {
        #[cfg(target_os = "linux")]
        if self.udp_options.batch {
            let Some(Some(Listener::Udp(u))) = self.listeners.get(listener) else {
                return Err(not_udp());
            };
            if self.inboxes.len() <= listener {
                self.inboxes.resize_with(listener + 1, || None);
            }
            let gro = self.udp_options.gro;
            let inbox = self.inboxes[listener].get_or_insert_with(|| Box::new(Inbox::new(space.len(), gro)));
            let (data, from) = inbox.next(std::os::fd::AsFd::as_fd(u), space.len())?;
            return Ok((
                Lent {
                    data,
                    sock: Some(fd(u)),
                },
                from,
            ));
        }
        let u = self.udp(listener)?;
        let (n, from) = u.recv_from(space)?;
        let lent = Lent {
            data: &mut space[..n],
            sock: Some(fd(u)),
        };
        Ok((lent, from))
    }

    fn send_to(&mut self, listener: usize, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.udp_options.batch {
            self.udp(listener)?;
            if !self.outbox.has_room(buf.len()) {
                self.flush_datagrams();
            }
            self.outbox.push(listener, buf, to);
            return Ok(buf.len());
        }
        self.udp(listener)?.send_to(buf, to)
    }

    fn sock(&self, token: Token) -> Option<SockFd<'_>> {
        Some(self.socks.get(token)?.as_ref()?.fd())
    }

    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>> {
        match self.listeners.get(index)?.as_ref()? {
            Listener::Tcp(l) => Some(fd(l)),
            Listener::Unix(l) => Some(fd(l)),
            Listener::Udp(u) => Some(fd(u)),
        }
    }
}

/// Sends from the front of `out` until the socket is full or `out` is
/// empty, consuming what was taken. Copied bytes alone go in one send; with
/// shared pieces among them, vectored writes (sendmsg, for its flags) send
/// up to [`MAX_SLICES`] runs each from where they are, again while a write
/// takes all it was given, so that a short count always means a full socket
/// (the loop then waits for the writable edge).
fn send_runs(sock: SockRef<'_>, out: &mut OutBuf) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let (r, given) = if out.pieces.len() == 0 {
            let run = out.front();
            (sock.send_with_flags(run, SEND_FLAGS), run.len())
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = out.slices(&mut slices);
            let given = slices[..n].iter().map(|s| s.len()).sum();
            (sock.send_vectored_with_flags(&slices[..n], SEND_FLAGS), given)
        };
        match r {
            Ok(n) => {
                out.consume(n);
                total += n;
                if n < given || out.is_empty() {
                    return Ok(total);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // What was sent counts; an error shows again at the next send.
            Err(_) if total > 0 => return Ok(total),
            Err(e) => return Err(e),
        }
    }
}
