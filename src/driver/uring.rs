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
//!   loop counts its bytes as queued ([`Driver::held`]), and each
//!   completion is reported as `writable` with the bytes it carried (a
//!   short one, when the socket buffer filled, is resubmitted here for the
//!   rest at once).
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

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use revio_uring::{BufId, Completion, Event as Done, Group, Op, Ring, Sock, Waker};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::{Bound, Driver, Event, Lent, OutBuf, SEND_FLAGS, SockFd, Target, Token, set_reset_on_close};
use crate::mailbox::Notify;
use crate::stream::Stream;

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
const DATAGRAM_HEADER: usize = 16 + 128;
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

/// Received bytes queued on a connection, in order.
enum Chunk {
    /// Bytes `off..len` of a ring buffer.
    Ring {
        buf: BufId,
        len: usize,
        off: usize,
    },
    /// Bytes copied out of the ring (see the module docs on backpressure).
    Heap {
        bytes: Vec<u8>,
        off: usize,
    },
    Eof,
    Failed(io::Error),
}

/// A connection's multishot receive.
enum Recv {
    Off,
    Armed(Op),
    /// Cancelled; its last completion has not come yet.
    Cancelling,
}

enum Dial {
    None,
    Pending,
    Failed(io::Error),
}

struct Conn {
    sock: Sock,
    generation: u32,
    unix: bool,
    recv: Recv,
    /// The loop wants input (`set_reading`).
    reading: bool,
    /// End of stream or an error is queued: the receive is over for good.
    ended: bool,
    /// Out of ring buffers: waiting in `starved` to be re-armed.
    starved: bool,
    /// In `received`: got ring chunks this turn.
    noted: bool,
    /// The loop received from it since it was noted.
    taken: bool,
    chunks: VecDeque<Chunk>,
    /// `Ring` chunks in `chunks`.
    ring_held: usize,
    /// Bytes held in `Heap` chunks.
    heap: usize,
    /// A send is in flight; `writable` is posted at each of its completions.
    in_flight: bool,
    /// Bytes given to `send` not yet reported taken (`Driver::held`).
    held: usize,
    /// Of those, bytes the kernel took, for `Driver::take_sent`.
    taken_by_kernel: usize,
    send_error: Option<io::Error>,
    dial: Dial,
    /// The turn this connection's event was posted in, and where.
    posted: (u32, usize),
}

struct Listener {
    sock: Sock,
    generation: u32,
    kind: ListenKind,
    armed: Option<Op>,
    starved: bool,
    accepted: VecDeque<io::Result<OwnedFd>>,
    datagrams: VecDeque<(BufId, Range<usize>, SocketAddr)>,
    posted: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ListenKind {
    Tcp,
    Unix,
    Udp,
}

/// What `recv` or `recv_from` lent last, given back at the next one or `poll`.
enum Loan {
    None,
    Ring(BufId),
    Heap(Vec<u8>),
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
    pub(crate) fn new(sizes: Sizes) -> io::Result<UringDriver> {
        let mut ring = Ring::new(SUBMISSIONS)?;
        let group = ring.add_group(sizes.buffers, sizes.buffer_size)?;
        let waker = ring.waker(WAKE)?;
        Ok(UringDriver {
            ring,
            group,
            datagram_group: None,
            datagram_size: sizes.datagram + DATAGRAM_HEADER,
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
        })
    }

    fn conn(&mut self, t: Token) -> io::Result<&mut Conn> {
        self.conns
            .get_mut(t)
            .and_then(Option::as_mut)
            .ok_or_else(no_socket)
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1) & 0x3fff_ffff;
        self.generation
    }

    fn put(&mut self, t: Token, fd: OwnedFd, unix: bool, dial: Dial) -> &mut Conn {
        let generation = self.next_generation();
        let sock = self.ring.add(fd);
        if self.conns.len() <= t {
            self.conns.resize_with(t + 1, || None);
        }
        self.conns[t].insert(Conn {
            sock,
            generation,
            unix,
            recv: Recv::Off,
            reading: true,
            ended: false,
            starved: false,
            noted: false,
            taken: false,
            chunks: VecDeque::new(),
            ring_held: 0,
            heap: 0,
            in_flight: false,
            held: 0,
            taken_by_kernel: 0,
            send_error: None,
            dial,
            posted: (u32::MAX, 0),
        })
    }

    /// Gives back what the last `recv` or `recv_from` lent.
    fn end_loan(&mut self) {
        match mem::replace(&mut self.loan, Loan::None) {
            Loan::None => {}
            Loan::Ring(b) => self.ring.give_back(b),
            Loan::Heap(v) => self.recycle(v),
        }
    }

    fn recycle(&mut self, mut v: Vec<u8>) {
        if v.capacity() > 0 && v.capacity() <= POOL_CAPACITY && self.pool.len() < POOL {
            v.clear();
            self.pool.push(v);
        }
    }

    /// Reports `readable` and/or `writable` for `t`, one event per turn.
    fn post(&mut self, t: Token, readable: bool, writable: bool) {
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        if c.posted.0 == self.turn {
            if let Some(Event::Conn {
                token,
                readable: r,
                writable: w,
                ..
            }) = self.pending.get_mut(c.posted.1)
            {
                if *token == t {
                    *r |= readable;
                    *w |= writable;
                    return;
                }
            }
        }
        c.posted = (self.turn, self.pending.len());
        self.pending.push(Event::Conn {
            token: t,
            readable,
            writable,
            closed: false,
        });
    }

    fn post_listener(&mut self, index: usize) {
        if let Some(Some(l)) = self.listeners.get_mut(index) {
            if l.posted != self.turn {
                l.posted = self.turn;
                self.pending.push(Event::Listener(index));
            }
        }
    }

    /// Arms or cancels `t`'s multishot receive to match what it should do:
    /// receive while the loop wants input, has no error or end queued, and
    /// holds little; a connection holding `ahead` ring buffers pauses until
    /// the loop has taken half of them, so that one fast sender cannot take
    /// the whole ring from the others.
    fn sync_recv(&mut self, t: Token) {
        let (group, ahead) = (self.group, self.ahead);
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        let want = c.reading && !c.ended && !c.starved && c.heap < MAX_AHEAD && matches!(c.dial, Dial::None);
        match c.recv {
            Recv::Off if want && c.ring_held <= ahead / 2 => {
                match self.ring.recv_multi(c.sock, group, tag(t, c.generation)) {
                    Ok(op) => c.recv = Recv::Armed(op),
                    Err(e) => {
                        c.ended = true;
                        c.chunks.push_back(Chunk::Failed(e));
                        self.post(t, true, false);
                    }
                }
            }
            Recv::Armed(op) if !want || c.ring_held >= ahead => {
                self.ring.cancel(op);
                c.recv = Recv::Cancelling;
            }
            _ => {}
        }
    }

    /// Copies `t`'s ring chunks into a heap chunk and gives the buffers back.
    fn spill(&mut self, t: Token) {
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        if !c.chunks.iter().any(|ch| matches!(ch, Chunk::Ring { .. })) {
            return;
        }
        let mut kept = VecDeque::with_capacity(c.chunks.len());
        for ch in c.chunks.drain(..) {
            match ch {
                Chunk::Ring { buf, len, off } => {
                    let bytes = &self.ring.buf(&buf)[off..len];
                    c.heap += bytes.len();
                    c.ring_held -= 1;
                    match kept.back_mut() {
                        Some(Chunk::Heap { bytes: h, .. }) => h.extend_from_slice(bytes),
                        _ => kept.push_back(Chunk::Heap {
                            bytes: bytes.to_vec(),
                            off: 0,
                        }),
                    }
                    self.ring.give_back(buf);
                }
                other => kept.push_back(other),
            }
        }
        c.chunks = kept;
    }

    /// Start of a turn: ring chunks of connections the loop is not reading
    /// go to the heap (a connection the loop read from, but not to the end
    /// for its turn's budget, keeps them: it is served again next turn),
    /// and receives that ran dry are re-armed while buffers are free.
    fn settle(&mut self) {
        let mut received = mem::take(&mut self.received);
        let mut kept = 0;
        for i in 0..received.len() {
            let (t, generation) = received[i];
            let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
                continue;
            };
            if c.generation != generation {
                continue;
            }
            let holds = c.chunks.iter().any(|ch| matches!(ch, Chunk::Ring { .. }));
            if holds && c.taken && c.reading {
                c.taken = false;
                received[kept] = (t, generation);
                kept += 1;
                continue;
            }
            c.noted = false;
            self.spill(t);
            self.sync_recv(t);
        }
        received.truncate(kept);
        self.received = received;
        let mut free = self.ring.free_buffers(self.group);
        while free > 0 && !self.starved.is_empty() {
            let (t, generation) = self.starved.swap_remove(0);
            if let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) {
                if c.generation == generation && c.starved {
                    c.starved = false;
                    self.sync_recv(t);
                    free -= 1;
                }
            }
        }
        if let Some(g) = self.datagram_group {
            if self.ring.free_buffers(g) > 0 {
                for l in mem::take(&mut self.starved_listeners) {
                    if let Some(Some(x)) = self.listeners.get_mut(l) {
                        x.starved = false;
                    }
                    self.arm_listener(l);
                }
            }
        }
    }

    /// Applies one completion.
    fn complete(&mut self, c: Completion) {
        if c.tag & WAKE != 0 {
            self.pending.push(Event::Wake);
            return;
        }
        let index = (c.tag & 0xffff_ffff) as usize;
        let generation = ((c.tag >> 32) & 0x3fff_ffff) as u32;
        if c.tag & LISTENER != 0 {
            self.complete_listener(index, generation, c);
            return;
        }
        let live = self
            .conns
            .get(index)
            .and_then(Option::as_ref)
            .is_some_and(|x| x.generation == generation);
        if !live {
            // The ring reports nothing of a closed socket; this cannot be
            // another connection's, whatever it is.
            self.discard(c.event);
            return;
        }
        match c.event {
            Done::Sent { buf, off, result } => self.sent(index, buf, off, result),
            Done::Connected(r) => self.connected(index, r),
            e => self.received(index, c.more, e),
        }
    }

    fn discard(&mut self, e: Done) {
        match e {
            Done::Received { buf, .. } | Done::Datagram { buf, .. } => self.ring.give_back(buf),
            Done::Sent { buf, .. } => self.recycle(buf),
            _ => {}
        }
    }

    fn received(&mut self, t: Token, more: bool, e: Done) {
        let c = self.conns[t].as_mut().expect("checked live");
        if !more {
            c.recv = Recv::Off;
        }
        match e {
            Done::Received { buf, len } if c.reading => {
                c.chunks.push_back(Chunk::Ring { buf, len, off: 0 });
                c.ring_held += 1;
                if !c.noted {
                    c.noted = true;
                    c.taken = false;
                    self.received.push((t, c.generation));
                }
            }
            Done::Received { buf, len } => {
                // Paused: what was under way when reading stopped is kept
                // off the ring.
                c.chunks.push_back(Chunk::Ring { buf, len, off: 0 });
                c.ring_held += 1;
                self.spill(t);
            }
            Done::Eof => {
                c.ended = true;
                c.chunks.push_back(Chunk::Eof);
            }
            Done::Failed(e) => match e.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    c.starved = true;
                    self.starved.push((t, c.generation));
                    return;
                }
                Some(libc::ECANCELED) => {}
                _ => {
                    c.ended = true;
                    c.chunks.push_back(Chunk::Failed(e));
                }
            },
            other => {
                self.discard(other);
                return;
            }
        }
        let c = self.conns[t].as_ref().expect("checked live");
        if !c.chunks.is_empty() {
            self.post(t, true, false);
        }
        if !more {
            self.sync_recv(t);
        }
    }

    fn sent(&mut self, t: Token, buf: Vec<u8>, off: usize, result: io::Result<usize>) {
        let c = self.conns[t].as_mut().expect("checked live");
        match result {
            Ok(n) if n > 0 && off + n < buf.len() => {
                // Short (the socket buffer filled): the progress is reported,
                // and the rest sent from the same buffer.
                c.taken_by_kernel += n;
                match self.ring.send(c.sock, buf, off + n, tag(t, c.generation)) {
                    Ok(_) => self.post(t, false, true),
                    Err((e, buf)) => {
                        self.recycle(buf);
                        self.send_failed(t, e);
                    }
                }
            }
            Ok(n) if n == 0 && off < buf.len() => {
                self.recycle(buf);
                self.send_failed(t, io::Error::from(io::ErrorKind::WriteZero));
            }
            Ok(n) => {
                c.taken_by_kernel += n;
                c.in_flight = false;
                self.recycle(buf);
                self.post(t, false, true);
            }
            Err(e) => {
                self.recycle(buf);
                self.send_failed(t, e);
            }
        }
    }

    /// A send failed: the loop hears of it at its next `send`, `sent_all`
    /// or `recv`, which the events posted here lead it to. Its bytes stay
    /// counted as held (never to be sent) until the connection closes.
    fn send_failed(&mut self, t: Token, e: io::Error) {
        let c = self.conns[t].as_mut().expect("checked live");
        c.in_flight = false;
        c.send_error = Some(e);
        self.post(t, true, true);
    }

    fn connected(&mut self, t: Token, r: io::Result<()>) {
        let c = self.conns[t].as_mut().expect("checked live");
        let failed = r.is_err();
        c.dial = match r {
            Ok(()) => Dial::None,
            Err(e) => Dial::Failed(e),
        };
        self.pending.push(Event::Conn {
            token: t,
            readable: false,
            writable: true,
            closed: failed,
        });
        if !failed {
            self.sync_recv(t);
        }
    }

    fn complete_listener(&mut self, index: usize, generation: u32, c: Completion) {
        let Some(Some(l)) = self.listeners.get_mut(index) else {
            self.discard(c.event);
            return;
        };
        if l.generation != generation {
            self.discard(c.event);
            return;
        }
        if !c.more {
            l.armed = None;
        }
        match c.event {
            Done::Accepted(fd) => {
                l.accepted.push_back(Ok(fd));
                if l.accepted.len() == ACCEPT_AHEAD {
                    // The loop is behind: let the kernel's backlog hold the
                    // rest until it catches up (see `accept`).
                    if let Some(op) = l.armed {
                        self.ring.cancel(op);
                    }
                }
            }
            Done::Datagram { buf, data, from, .. } => match from {
                Some(from) => l.datagrams.push_back((buf, data, from)),
                None => self.ring.give_back(buf),
            },
            Done::Failed(e) => match e.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    l.starved = true;
                    self.starved_listeners.push(index);
                }
                Some(libc::ECANCELED) => {}
                // An accept error ends the multishot; the loop re-arms it by
                // accepting again (after its back-off for EMFILE).
                _ if l.kind != ListenKind::Udp => l.accepted.push_back(Err(e)),
                _ => log::debug!("revio: UDP receive on listener {index}: {e}"),
            },
            other => self.discard(other),
        }
        let Some(Some(l)) = self.listeners.get(index) else {
            return;
        };
        let ready = !l.accepted.is_empty() || !l.datagrams.is_empty();
        let rearm = l.armed.is_none() && l.kind == ListenKind::Udp && !l.starved;
        if ready {
            self.post_listener(index);
        }
        if rearm {
            self.arm_listener(index);
        }
    }

    /// Arms listener `index`'s multishot accept or `recvmsg` if it is not.
    fn arm_listener(&mut self, index: usize) {
        let Some(Some(l)) = self.listeners.get_mut(index) else {
            return;
        };
        if l.armed.is_some() || l.starved {
            return;
        }
        let t = LISTENER | tag(index, l.generation);
        let r = match l.kind {
            ListenKind::Udp => match self.datagram_group {
                Some(g) => self.ring.recvmsg_multi(l.sock, g, t),
                None => return,
            },
            _ => self.ring.accept_multi(l.sock, t),
        };
        match r {
            Ok(op) => l.armed = Some(op),
            Err(e) => log::warn!("revio: could not arm listener {index}: {e}"),
        }
    }

    /// Enters and applies completions until `done` or the deadline.
    fn wait_until(&mut self, deadline: Instant, done: impl Fn(&Self) -> bool) -> io::Result<()> {
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not finish the cancelled operations in time",
                ));
            }
            self.ring.enter(Some(deadline - now))?;
            while let Some(c) = self.ring.next_completion() {
                self.complete(c);
            }
        }
        Ok(())
    }

    /// Forgets events queued for `t` (it closed or was detached).
    fn forget_events(&mut self, t: Token) {
        if !self.pending.is_empty() {
            self.pending
                .retain(|e| !matches!(e, Event::Conn { token, .. } if *token == t));
        }
    }

    fn listener_fd(&self, index: usize) -> io::Result<SockFd<'_>> {
        match self.listeners.get(index) {
            Some(Some(l)) => self.ring.fd(l.sock).ok_or_else(no_socket),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "no such listener")),
        }
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
        let c = self.conn(token)?;
        if let Some(e) = c.send_error.take() {
            return Err(e);
        }
        if c.in_flight {
            return Err(would_block());
        }
        let n = out.len();
        if n == 0 {
            return Ok(0);
        }
        let (sock, t) = (c.sock, tag(token, c.generation));
        // The connection keeps a buffer (with capacity, once warm) while
        // its output is in flight.
        let spare = self.pool.pop().unwrap_or_default();
        let buf = mem::replace(&mut out.buf, spare);
        let off = mem::take(&mut out.head);
        match self.ring.send(sock, buf, off, t) {
            Ok(_) => {
                let c = self.conn(token)?;
                c.in_flight = true;
                c.held += n;
                Ok(n)
            }
            Err((e, buf)) => {
                // Nothing was sent: the output goes back where it was.
                let spare = mem::replace(&mut out.buf, buf);
                out.head = off;
                self.recycle(spare);
                Err(e)
            }
        }
    }

    fn sent_all(&mut self, token: Token) -> io::Result<bool> {
        match self.conn(token) {
            Ok(c) => match c.send_error.take() {
                Some(e) => Err(e),
                None => Ok(!c.in_flight),
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

    fn take_sent(&mut self, token: Token) -> usize {
        match self.conn(token) {
            Ok(c) => {
                let n = mem::take(&mut c.taken_by_kernel);
                c.held -= n;
                n
            }
            Err(_) => 0,
        }
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
        let Some((buf, data, from)) = l.datagrams.pop_front() else {
            self.arm_listener(listener);
            return Err(would_block());
        };
        let sock = l.sock;
        let data = data.start..data.end.min(data.start + space.len());
        let UringDriver { ring, loan, .. } = self;
        *loan = Loan::Ring(buf);
        let Loan::Ring(buf) = loan else {
            unreachable!("just lent")
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
        let fd = self.listener_fd(listener)?;
        // A full send buffer drops the datagram rather than blocking the loop.
        SockRef::from(&fd).send_to_with_flags(buf, &SockAddr::from(to), SEND_FLAGS | libc::MSG_DONTWAIT)
    }

    fn sock(&self, token: Token) -> Option<SockFd<'_>> {
        self.ring.fd(self.conns.get(token)?.as_ref()?.sock)
    }

    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>> {
        self.listener_fd(index).ok()
    }
}
