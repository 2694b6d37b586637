//! The io_uring backend (Linux): completions instead of readiness, through the
//! safe `revio-uring` crate (all the `unsafe` it takes lives there).
//!
//! # How the contract is met
//! * **Receiving** is a multishot receive per connection into the loop's
//!   provided buffer ring ([`Config::uring_buffers`](crate::Config::uring_buffers)):
//!   each chunk the kernel completes is queued on its connection and reported
//!   as `readable`; [`Driver::recv`] lends the chunk itself (or its first
//!   `space.len()` bytes), and the buffer goes back to the ring at the next
//!   `recv` or `poll`. Nothing is copied on the way.
//! * **Sending** takes the connection's output `Vec` whole (a pooled empty one
//!   takes its place, so nothing allocates once warm) and sends it from
//!   there; while that send is in flight `send` says `WouldBlock`, the
//!   loop counts its bytes as queued ([`Driver::held`]), and its
//!   completion is reported as `writable` with the bytes it carried. A
//!   short one (the socket buffer filled) ends the send as a short write
//!   ends one on epoll: the rest goes back to the loop at
//!   [`Driver::take_sent`] (its buffer becomes the connection's output
//!   again; only what the loop queued meanwhile is copied behind it), and
//!   the loop's next attempt, with its own `prewrite`, sends it.
//! * **One `io_uring_enter` per turn**: everything the loop did during a turn
//!   (sends, re-armed receives, cancels) is submitted by the next `poll`,
//!   which also waits, with the loop's timeout, for completions.
//! * **Backpressure.** Ring buffers never stay with a connection the loop is
//!   not reading: a chunk still queued at the next `poll` (its connection
//!   paused, congested, or past its turn's budget) is copied out to a heap
//!   buffer of its own and the ring buffer given back; past [`MAX_AHEAD`]
//!   bytes so held, or once reading is switched off, the multishot receive
//!   is cancelled until the loop has taken what is held. A paused connection
//!   therefore holds at most what it had received, and the ring serves the
//!   others.
//! * **Exhaustion.** When the ring has no buffer left the kernel ends a
//!   multishot receive with `ENOBUFS` (nothing is lost: the bytes wait in
//!   the socket); the connection is re-armed at a later `poll` once buffers
//!   are free again, and not before, so an empty ring costs no spinning.
//! * **Close** gives the connection's queued buffers back and hands the
//!   socket to the ring, which cancels its operations and closes the
//!   descriptor once the last has completed; a reset (or a send still in
//!   flight, since cut output must never look like a clean end) sets
//!   SO_LINGER 0 first. Completions of a closed socket are never reported:
//!   the ring drops them, and every tag here also carries the connection's
//!   generation, checked before a completion is applied.
//! * **Detach** cancels what is in flight, waits (bounded) for the kernel to
//!   finish, and returns the socket with every byte already received.
//! * Accepting is a multishot accept per listener; UDP a multishot `recvmsg`
//!   per socket into a second, smaller group of datagram-sized buffers;
//!   dials an io_uring connect; the wake an eventfd read on the ring.

mod complete;
mod conn;
mod listener;
mod send;
mod udp;

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use revio_uring::{Group, Ring, Waker};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::datagrams::Outbox;
use super::{
    Bound, Driver, Event, Lent, OutBuf, SEND_FLAGS, SockFd, Target, Token, UdpOptions, set_reset_on_close,
};
use crate::mailbox::Notify;
use crate::stream::Stream;
use conn::{Chunk, Conn, Dial, Loan};
use listener::{ListenKind, Listener};

/// Submissions one enter takes (more are submitted early).
const SUBMISSIONS: u32 = 1024;
/// Bytes a connection the loop is not reading may hold, copied out of the
/// ring, before its receive is cancelled.
pub(crate) const MAX_AHEAD: usize = 64 * 1024;
/// Accepted connections queued before the multishot accept is cancelled.
const ACCEPT_AHEAD: usize = 256;
/// Buffers of the datagram group (made when a UDP socket is first served).
const DATAGRAM_BUFFERS: u16 = 64;
/// Room in a datagram buffer for the `recvmsg` header and the sender's address.
const DATAGRAM_HEADER: usize = 16 + 128 + revio_uring::udp::GRO_CONTROL;
/// The longest `detach` and `unlisten` wait for the kernel to let go.
const CANCEL_WAIT: Duration = Duration::from_secs(5);
/// Cleared send buffers kept for reuse, and the largest kept.
const POOL: usize = 16;
const POOL_CAPACITY: usize = 256 << 10;

/// Tag bits: a listener's completions, and the waker's.
const LISTENER: u64 = 1 << 62;
const WAKE: u64 = 1 << 63;

fn tag(index: usize, generation: u32) -> u64 {
    index as u64 | u64::from(generation & 0x3fff_ffff) << 32
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn no_socket() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no socket under this token")
}

/// The io_uring backend.
pub(crate) struct UringDriver {
    ring: Ring,
    group: Group,
    datagram_group: Option<Group>,
    datagram_size: usize,
    /// The most ring buffers one connection may hold queued: past it its
    /// receive pauses until the loop has taken half (see `sync_recv`).
    ahead: usize,
    conns: Vec<Option<Conn>>,
    listeners: Vec<Option<Listener>>,
    loan: Loan,
    /// Events of completions handled so far, handed out by the next `poll`.
    pending: Vec<Event>,
    /// Connections that got ring chunks this turn (checked at the next poll).
    received: Vec<(Token, u32)>,
    /// Receives that ran out of buffers, re-armed when some are free.
    starved: Vec<(Token, u32)>,
    starved_listeners: Vec<usize>,
    pool: Vec<Vec<u8>>,
    turn: u32,
    generation: u32,
    waker: Waker,
    /// The datagrams written this turn, sent when `poll` is next called.
    outbox: Outbox,
    udp_options: UdpOptions,
}

/// The ring buffer sizes a loop runs with (see `Config::uring_buffers`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) buffers: u16,
    pub(crate) buffer_size: u32,
    /// The largest datagram received whole.
    pub(crate) datagram: usize,
}

struct UringNotify(Waker);

impl Notify for UringNotify {
    fn notify(&self) {
        if let Err(e) = self.0.wake() {
            log::error!("revio: waking the loop failed: {e}");
        }
    }
}

impl UringDriver {
    pub(crate) fn new(sizes: Sizes, udp_options: UdpOptions) -> io::Result<UringDriver> {
        let mut ring = Ring::new(SUBMISSIONS)?;
        let group = ring.add_group(sizes.buffers, sizes.buffer_size)?;
        let waker = ring.waker(WAKE)?;
        Ok(UringDriver {
            ring,
            group,
            datagram_group: None,
            // With receive offload, a buffer holds what the kernel coalesces.
            datagram_size: if udp_options.gro {
                64 * 1024
            } else {
                sizes.datagram
            } + DATAGRAM_HEADER,
            ahead: (usize::from(sizes.buffers) / 8).max(4),
            conns: Vec::new(),
            listeners: Vec::new(),
            loan: Loan::None,
            pending: Vec::with_capacity(1024),
            received: Vec::new(),
            starved: Vec::new(),
            starved_listeners: Vec::new(),
            pool: Vec::new(),
            turn: 0,
            generation: 0,
            waker,
            outbox: Outbox::new(udp_options.gso),
            udp_options,
        })
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1) & 0x3fff_ffff;
        self.generation
    }
}

impl Driver for UringDriver {
    const RECEIVES_AHEAD: bool = true;

    fn notifier(&self) -> io::Result<Box<dyn Notify>> {
        Ok(Box::new(UringNotify(self.waker.clone())))
    }

    fn listen(&mut self, index: usize, socket: Bound) -> io::Result<()> {
        let (fd, kind) = match socket {
            Bound::Tcp(l) => (OwnedFd::from(l), ListenKind::Tcp),
            Bound::Unix(l) => (OwnedFd::from(l), ListenKind::Unix),
            Bound::Udp(u) => {
                if self.datagram_group.is_none() {
                    let size = u32::try_from(self.datagram_size).unwrap_or(u32::MAX);
                    self.datagram_group = Some(self.ring.add_group(DATAGRAM_BUFFERS, size)?);
                }
                super::datagrams::probe(
                    std::os::fd::AsFd::as_fd(&u),
                    &mut self.udp_options,
                    &mut self.outbox,
                );
                (OwnedFd::from(u), ListenKind::Udp)
            }
        };
        let generation = self.next_generation();
        let sock = self.ring.add(fd);
        if self.listeners.len() <= index {
            self.listeners.resize_with(index + 1, || None);
        }
        self.listeners[index] = Some(Listener {
            sock,
            generation,
            kind,
            armed: None,
            starved: false,
            accepted: VecDeque::new(),
            datagrams: VecDeque::new(),
            posted: u32::MAX,
        });
        self.arm_listener(index);
        Ok(())
    }

    fn unlisten(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index).and_then(Option::take) else {
            return;
        };
        for (buf, ..) in l.datagrams {
            self.ring.give_back(buf);
        }
        self.ring.close(l.sock);
        // The address must be free when this returns: wait for the cancel.
        let sock = l.sock;
        if let Err(e) = self.wait_until(Instant::now() + CANCEL_WAIT, |d| !d.ring.holds(sock)) {
            log::warn!("revio: closing listener {index}: {e}");
        }
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_datagrams();
        self.end_loan();
        self.settle();
        let timeout = if self.pending.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        self.ring.enter(timeout)?;
        while let Some(c) = self.ring.next_completion() {
            self.complete(c);
        }
        events.append(&mut self.pending);
        self.turn = self.turn.wrapping_add(1);
        Ok(())
    }

    fn accept(&mut self, listener: usize) -> io::Result<Stream> {
        let Some(Some(l)) = self.listeners.get_mut(listener) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream listener",
            ));
        };
        let kind = l.kind;
        match l.accepted.pop_front() {
            Some(Ok(fd)) => {
                if l.accepted.len() < ACCEPT_AHEAD / 2 {
                    self.arm_listener(listener);
                }
                Ok(match kind {
                    ListenKind::Unix => Stream::Unix(UnixStream::from(fd)),
                    _ => Stream::Tcp(TcpStream::from(fd)),
                })
            }
            Some(Err(e)) => Err(e),
            None => {
                self.arm_listener(listener);
                Err(would_block())
            }
        }
    }

    fn register(&mut self, token: Token, stream: Stream) -> io::Result<()> {
        let (fd, unix) = match stream {
            Stream::Tcp(s) => (OwnedFd::from(s), false),
            Stream::Unix(s) => (OwnedFd::from(s), true),
        };
        self.put(token, fd, unix, Dial::None);
        self.sync_recv(token);
        Ok(())
    }

    fn connect(&mut self, token: Token, target: &Target) -> io::Result<()> {
        let (domain, addr, unix) = match target {
            Target::Inet(a) => (Domain::for_address(*a), SockAddr::from(*a), false),
            Target::Unix(p) => (Domain::UNIX, SockAddr::unix(p)?, true),
        };
        let socket = Socket::new(domain, Type::STREAM, None)?;
        let c = self.put(token, socket.into(), unix, Dial::Pending);
        let (sock, t) = (c.sock, tag(token, c.generation));
        if let Err(e) = self.ring.connect(sock, addr, t) {
            self.close(token, false);
            return Err(e);
        }
        Ok(())
    }

    fn connect_result(&mut self, token: Token) -> io::Result<bool> {
        let c = self.conn(token)?;
        match mem::replace(&mut c.dial, Dial::None) {
            Dial::None => Ok(true),
            Dial::Pending => {
                c.dial = Dial::Pending;
                Ok(false)
            }
            Dial::Failed(e) => Err(e),
        }
    }

    fn recv<'a>(&'a mut self, token: Token, space: &'a mut [u8]) -> io::Result<Lent<'a>> {
        self.end_loan();
        let max = space.len();
        let ahead = self.ahead;
        let mut resume = false;
        let c = self.conn(token)?;
        let sock = c.sock;
        c.taken = true;
        let ring_part = match c.chunks.front_mut() {
            None => {
                let e = c.send_error.take();
                self.sync_recv(token);
                return Err(e.unwrap_or_else(would_block));
            }
            Some(Chunk::Eof) => {
                return Ok(Lent {
                    data: &mut space[..0],
                    sock: self.ring.fd(sock),
                });
            }
            Some(Chunk::Failed(_)) => {
                let Some(Chunk::Failed(e)) = c.chunks.pop_front() else {
                    unreachable!()
                };
                return Err(e);
            }
            Some(Chunk::Ring { len, off, .. }) => {
                let (start, n) = (*off, (*len - *off).min(max));
                *off += n;
                if *off == *len {
                    let Some(Chunk::Ring { buf, .. }) = c.chunks.pop_front() else {
                        unreachable!()
                    };
                    c.ring_held -= 1;
                    resume = c.ring_held == ahead / 2;
                    self.loan = Loan::Ring(buf);
                }
                Some(start..start + n)
            }
            Some(Chunk::Heap { bytes, off }) => {
                let (start, n) = (*off, (bytes.len() - *off).min(max));
                *off += n;
                c.heap -= n;
                if *off == bytes.len() {
                    let Some(Chunk::Heap { bytes, .. }) = c.chunks.pop_front() else {
                        unreachable!()
                    };
                    self.loan = Loan::Heap(bytes);
                }
                // Held bytes taken: receiving ahead may resume.
                self.sync_recv(token);
                let range = start..start + n;
                let data = match &mut self.loan {
                    Loan::Heap(v) => &mut v[range],
                    _ => match self.conns[token].as_mut().and_then(|c| c.chunks.front_mut()) {
                        Some(Chunk::Heap { bytes, .. }) => &mut bytes[range],
                        _ => unreachable!("the chunk just read"),
                    },
                };
                return Ok(Lent {
                    data,
                    sock: self.ring.fd(sock),
                });
            }
        };
        let range = ring_part.expect("a ring chunk");
        if resume {
            // Down to half of what it may hold: receive ahead again.
            self.sync_recv(token);
        }
        let UringDriver {
            ring, loan, conns, ..
        } = self;
        let buf = match loan {
            Loan::Ring(b) => b,
            _ => match conns[token].as_ref().and_then(|c| c.chunks.front()) {
                Some(Chunk::Ring { buf, .. }) => buf,
                _ => unreachable!("the chunk just read"),
            },
        };
        let (bytes, fd) = ring.buf_and_fd(buf, sock);
        Ok(Lent {
            data: &mut bytes[range],
            sock: fd,
        })
    }

    fn send(&mut self, token: Token, out: &mut OutBuf) -> io::Result<usize> {
        self.start_send(token, out)
    }

    fn sent_all(&mut self, token: Token) -> io::Result<bool> {
        match self.conn(token) {
            Ok(c) => match c.send_error.take() {
                Some(e) => Err(e),
                None => Ok(!c.in_flight && c.rest.is_none()),
            },
            Err(_) => Ok(true),
        }
    }

    fn held(&self, token: Token) -> usize {
        match self.conns.get(token) {
            Some(Some(c)) => c.held,
            _ => 0,
        }
    }

    fn take_sent(&mut self, token: Token, out: &mut OutBuf) -> usize {
        self.give_back_rest(token, out)
    }

    fn set_reading(&mut self, token: Token, on: bool) {
        if let Ok(c) = self.conn(token) {
            c.reading = on;
            self.sync_recv(token);
        }
    }

    fn shutdown_write(&mut self, token: Token) -> io::Result<()> {
        let sock = self.conn(token)?.sock;
        let fd = self.ring.fd(sock).ok_or_else(no_socket)?;
        SockRef::from(&fd).shutdown(Shutdown::Write)
    }

    fn close(&mut self, token: Token, reset: bool) {
        let Some(c) = self.conns.get_mut(token).and_then(Option::take) else {
            return;
        };
        if reset || c.in_flight {
            if let Some(fd) = self.ring.fd(c.sock) {
                set_reset_on_close(SockRef::from(&fd));
            }
        }
        for ch in c.chunks {
            if let Chunk::Ring { buf, .. } = ch {
                self.ring.give_back(buf);
            }
        }
        self.ring.close(c.sock);
        self.forget_events(token);
    }

    fn detach(&mut self, token: Token) -> io::Result<(Stream, Vec<u8>)> {
        let c = self.conn(token)?;
        c.reading = false;
        let sock = c.sock;
        self.ring.cancel_all(sock);
        if let Err(e) = self.wait_until(Instant::now() + CANCEL_WAIT, |d| d.ring.in_flight(sock) == 0) {
            self.close(token, true);
            return Err(e);
        }
        let c = self.conns[token].take().ok_or_else(no_socket)?;
        self.forget_events(token);
        let mut held = Vec::new();
        for ch in c.chunks {
            match ch {
                Chunk::Ring { buf, len, off } => {
                    held.extend_from_slice(&self.ring.buf(&buf)[off..len]);
                    self.ring.give_back(buf);
                }
                Chunk::Heap { bytes, off } => held.extend_from_slice(&bytes[off..]),
                Chunk::Eof | Chunk::Failed(_) => {}
            }
        }
        let fd = self.ring.release(sock)?;
        let stream = if c.unix {
            Stream::Unix(UnixStream::from(fd))
        } else {
            Stream::Tcp(TcpStream::from(fd))
        };
        Ok((stream, held))
    }

    fn recv_from<'a>(
        &'a mut self,
        listener: usize,
        space: &'a mut [u8],
    ) -> io::Result<(Lent<'a>, SocketAddr)> {
        self.end_loan();
        let Some(Some(l)) = self.listeners.get_mut(listener) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener"));
        };
        let sock = l.sock;
        let Some(front) = l.datagrams.front_mut() else {
            self.arm_listener(listener);
            return Err(would_block());
        };
        let (data, from) = match front.3 {
            // Coalesced by receive offload: one datagram at a time, the
            // buffer kept queued until its last.
            seg if seg > 0 && front.1.len() > seg => {
                let piece = front.1.start..front.1.start + seg;
                front.1.start += seg;
                (piece, front.2)
            }
            _ => {
                let Some((buf, data, from, _)) = l.datagrams.pop_front() else {
                    unreachable!("the front was just seen")
                };
                self.loan = Loan::Ring(buf);
                (data, from)
            }
        };
        let data = data.start..data.end.min(data.start + space.len());
        let UringDriver {
            ring,
            loan,
            listeners,
            ..
        } = self;
        let buf = match loan {
            Loan::Ring(buf) => buf,
            _ => match listeners
                .get(listener)
                .and_then(Option::as_ref)
                .and_then(|l| l.datagrams.front())
            {
                Some((buf, ..)) => buf,
                None => unreachable!("a coalesced buffer stays queued"),
            },
        };
        let (bytes, fd) = ring.buf_and_fd(buf, sock);
        Ok((
            Lent {
                data: &mut bytes[data],
                sock: fd,
            },
            from,
        ))
    }

    fn send_to(&mut self, listener: usize, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.queue_datagram(listener, buf, to)
    }

    fn sock(&self, token: Token) -> Option<SockFd<'_>> {
        self.ring.fd(self.conns.get(token)?.as_ref()?.sock)
    }

    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>> {
        self.listener_fd(index).ok()
    }
}
