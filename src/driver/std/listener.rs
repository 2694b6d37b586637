//! Listeners: an accept thread per stream listener, a receive thread per UDP
//! socket, each queueing for the loop what it got.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::SockRef;

use super::hub::{Hub, Post, lock, transient, wait, wait_timeout};
use super::{ACCEPT_QUEUE, ERROR_BACKOFF, MAX_DATAGRAM, SLICE, StdDriver, UDP_QUEUE};
use crate::stream::Stream;
use crate::sys::{self, SHUTDOWN_WAKES_BLOCKED, UnixListener, UnixStream};

pub(super) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
    Udp(UdpSocket),
}

impl Listener {
    pub(super) fn sock(&self) -> SockRef<'_> {
        match self {
            Listener::Tcp(l) => SockRef::from(l),
            Listener::Unix(l) => SockRef::from(l),
            Listener::Udp(u) => SockRef::from(u),
        }
    }

    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => Ok(Stream::Tcp(l.accept()?.0)),
            Listener::Unix(l) => Ok(sys::unix_stream(l.accept()?.0)),
            Listener::Udp(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream listener",
            )),
        }
    }

    /// Wakes the listener's thread out of a blocking accept or receive.
    pub(super) fn interrupt(&self) {
        // On Linux this wakes a blocked accept or recv (returning an error for
        // an unconnected UDP socket, which is expected).
        let _ = self.sock().shutdown(Shutdown::Both);
        if SHUTDOWN_WAKES_BLOCKED {
            return;
        }
        // Elsewhere a blocked accept may sleep through shutdown, and accept
        // has no timeout: connect to ourselves. Receives end with their slice.
        match self {
            Listener::Tcp(l) => {
                if let Ok(mut a) = l.local_addr() {
                    if a.ip().is_unspecified() {
                        a.set_ip(match a.ip() {
                            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                        });
                    }
                    let _ = TcpStream::connect_timeout(&a, SLICE);
                }
            }
            Listener::Unix(l) => {
                if let Some(p) = SockRef::from(l)
                    .local_addr()
                    .ok()
                    .and_then(|a| sys::unix_path(&a))
                {
                    let _ = UnixStream::connect(p);
                }
            }
            Listener::Udp(_) => {}
        }
    }
}

#[derive(Default)]
pub(super) struct Queued {
    pub(super) stop: bool,
    pub(super) streams: VecDeque<io::Result<Stream>>,
    /// Datagrams: bytes (in a buffer of their own size) and sender.
    pub(super) datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Emptied datagram buffers, for reuse.
    pub(super) spare: Vec<Vec<u8>>,
}

/// What a listener's thread and the loop share.
pub(super) struct Backlog {
    pub(super) index: usize,
    pub(super) hub: Arc<Hub>,
    pub(super) queued: Mutex<Queued>,
    pub(super) cv: Condvar,
}

impl Backlog {
    pub(super) fn lock(&self) -> MutexGuard<'_, Queued> {
        lock(&self.queued)
    }

    /// Waits while the queue is full; returns the lock, or `None` once stopped.
    fn room(&self, full: impl Fn(&Queued) -> bool) -> Option<MutexGuard<'_, Queued>> {
        let mut q = self.lock();
        while !q.stop && full(&q) {
            q = wait(&self.cv, q);
        }
        (!q.stop).then_some(q)
    }

    /// Sleeps for `t` unless stopped first.
    fn back_off(&self, t: Duration) {
        let q = self.lock();
        if !q.stop {
            drop(wait_timeout(&self.cv, q, t));
        }
    }
}

pub(super) fn accept_side(backlog: Arc<Backlog>, listener: Arc<Listener>) {
    loop {
        if backlog.room(|q| q.streams.len() >= ACCEPT_QUEUE).is_none() {
            return;
        }
        let r = listener.accept();
        let mut q = backlog.lock();
        if q.stop {
            return;
        }
        if r.as_ref().is_err_and(transient) {
            continue;
        }
        // Errors go to the loop too: it decides to pause (EMFILE) or go on.
        let failed = r.is_err();
        let was_empty = q.streams.is_empty();
        q.streams.push_back(r);
        drop(q);
        if was_empty {
            backlog.hub.post(Post::Listener(backlog.index));
        }
        if failed {
            backlog.back_off(ERROR_BACKOFF);
        }
    }
}

pub(super) fn recv_side(backlog: Arc<Backlog>, listener: Arc<Listener>) {
    let Listener::Udp(socket) = &*listener else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        if backlog.room(|q| q.datagrams.len() >= UDP_QUEUE).is_none() {
            return;
        }
        let r = socket.recv_from(&mut buf);
        let mut q = backlog.lock();
        if q.stop {
            return;
        }
        match r {
            Ok((n, from)) => {
                let mut d = q.spare.pop().unwrap_or_default();
                d.clear();
                d.extend_from_slice(&buf[..n]);
                let was_empty = q.datagrams.is_empty();
                q.datagrams.push_back((d, from));
                drop(q);
                if was_empty {
                    backlog.hub.post(Post::Listener(backlog.index));
                }
            }
            Err(e) if transient(&e) => {}
            Err(e) => {
                drop(q);
                log::debug!("revio: UDP receive on listener {}: {e}", backlog.index);
                backlog.back_off(ERROR_BACKOFF);
            }
        }
    }
}

pub(super) struct ListenerEntry {
    /// Shared with the listener's thread.
    pub(super) socket: Arc<Listener>,
    pub(super) backlog: Arc<Backlog>,
    pub(super) thread: JoinHandle<()>,
}

impl StdDriver {
    pub(super) fn udp(&self, index: usize) -> io::Result<(&UdpSocket, &Backlog)> {
        match self.listeners.get(index) {
            Some(Some(ListenerEntry { socket, backlog, .. })) => match &**socket {
                Listener::Udp(u) => Ok((u, backlog)),
                _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener")),
            },
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener")),
        }
    }
}
