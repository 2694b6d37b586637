//! The ring: submissions, completions, and who owns what while the kernel works.
//!
//! # Ownership
//! Everything an operation hands the kernel is owned by the ring until the
//! operation's last completion has been reaped:
//! * the memory it points to (a send's buffer, a connect's address, a
//!   `msghdr`, the waker's 8 bytes) lives in the operation's slot;
//! * the file descriptor lives in the socket's slot, which counts the
//!   operations still in flight on it; [`Ring::close`] cancels them and closes
//!   the descriptor only when that count reaches zero, and [`Ring::release`]
//!   hands it back only when it is zero already;
//! * provided buffers belong to their group, which lives as long as the ring.
//!
//! Dropping the ring cancels every operation and waits (a bounded time) for
//! their completions; if the kernel has not let go by then, the memory is
//! leaked rather than freed.
//!
//! # user_data
//! The kernel's 64-bit tag of each submission is the operation's slot index
//! (low 32 bits) and that slot's generation (high 32 bits), bumped at each
//! reuse. A completion is matched against both, so a late completion can never
//! be taken for an operation that reused the slot. The caller's own tag (a
//! `u64` of its choosing: revio puts a connection's token and generation
//! there) is kept in the slot and returned with each completion.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use socket2::SockAddr;

use crate::bufs::{BufGroup, BufId};

static NEXT_RING: AtomicU32 = AtomicU32::new(1);

/// How long dropping a ring waits for cancelled operations to complete.
const DROP_WAIT: Duration = Duration::from_secs(2);

/// The owner of operations that belong to no socket (the waker's read).
const NO_SOCK: u32 = u32::MAX;

/// Flags of every send: no SIGPIPE. A send completes with what the socket
/// took (short when its buffer filled): the caller sees the progress and
/// sends the rest.
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;

/// A socket the ring owns (see [`Ring::add`]). A handle: copying it copies no
/// socket, and a handle of a closed socket names nothing (generation-checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sock {
    idx: u32,
    generation: u32,
}

/// An operation in flight, for [`Ring::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Op {
    idx: u32,
    generation: u32,
}

/// A provided-buffer group of a ring (see [`Ring::add_group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(u16);

/// A `msghdr` for a multishot `recvmsg`: only its lengths are set, its
/// pointers are null.
struct MsgHdr(libc::msghdr);

// SAFETY: the `msghdr`'s pointer fields are all null (see `MsgHdr::new`), so
// the raw pointers that make it `!Send` point at nothing a thread could race on.
unsafe impl Send for MsgHdr {}

impl MsgHdr {
    fn new(namelen: usize) -> Box<MsgHdr> {
        // SAFETY: `msghdr` is a plain C struct of integers and pointers, for
        // which all-zero bytes are a valid value (null pointers, zero lengths).
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_namelen = namelen as libc::socklen_t;
        Box::new(MsgHdr(h))
    }
}

/// An operation's kind, without its resources.
#[derive(Clone, Copy)]
enum What {
    Recv(u16),
    RecvMsg(u16, libc::socklen_t),
    Accept,
    Send,
    Connect,
    Wake,
}

/// What an operation owns while the kernel may use it.
enum Kind {
    Recv(u16),
    RecvMsg(u16, Box<MsgHdr>),
    Accept,
    Send { buf: Vec<u8>, off: usize },
    Connect(Box<SockAddr>),
    Wake(Box<[u8; 8]>),
    Cancel,
}

#[derive(Default)]
struct OpSlot {
    generation: u32,
    sock: u32,
    tag: u64,
    /// `None` while the slot is free.
    kind: Option<Kind>,
}

#[derive(Default)]
struct SockSlot {
    generation: u32,
    fd: Option<OwnedFd>,
    /// Operations in flight on this socket (cancels included).
    ops: u32,
    closing: bool,
}

/// What one completion reports.
#[derive(Debug)]
pub enum Event {
    /// A receive filled `len` bytes of a provided buffer.
    Received {
        /// The buffer: read it with [`Ring::buf`], then give it back.
        buf: BufId,
        /// How many bytes were received.
        len: usize,
    },
    /// A receive saw the peer's end of stream (the receive is over).
    Eof,
    /// A multishot `recvmsg` received one datagram.
    Datagram {
        /// The buffer: read it with [`Ring::buf`], then give it back.
        buf: BufId,
        /// Where the payload lies in the buffer.
        data: Range<usize>,
        /// The sender, when it is an IP address.
        from: Option<SocketAddr>,
        /// The datagram was longer than the buffer and was cut.
        truncated: bool,
    },
    /// A multishot accept accepted a connection.
    Accepted(OwnedFd),
    /// A send finished: the buffer comes back, with the offset it was sent
    /// from and how many bytes the socket took.
    Sent {
        /// The buffer given to [`Ring::send`].
        buf: Vec<u8>,
        /// The offset the send started at.
        off: usize,
        /// Bytes sent, or the error.
        result: io::Result<usize>,
    },
    /// A connect finished.
    Connected(io::Result<()>),
    /// The [`Waker`] was woken.
    Woken,
    /// A receive or accept failed (`ENOBUFS` when the group ran out of
    /// buffers, `ECANCELED` after a cancel); see [`Completion::more`].
    Failed(io::Error),
}

/// One completion, as [`Ring::next_completion`] reports it.
#[derive(Debug)]
pub struct Completion {
    /// The tag given when the operation was started.
    pub tag: u64,
    /// The operation goes on and will complete again (a multishot); when
    /// false, this was its last completion.
    pub more: bool,
    /// What happened.
    pub event: Event,
}

/// Wakes a thread blocked in [`Ring::enter`] from any thread: the ring then
/// reports [`Event::Woken`].
#[derive(Debug, Clone)]
pub struct Waker(Arc<File>);

impl Waker {
    /// Wakes the ring (several wakes before it runs may report once).
    pub fn wake(&self) -> io::Result<()> {
        match (&*self.0).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is full: a wake is pending anyway.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An io_uring instance with the bookkeeping that makes its use safe.
pub struct Ring {
    id: u32,
    uring: IoUring,
    ops: Vec<OpSlot>,
    free_ops: Vec<u32>,
    live_ops: usize,
    socks: Vec<SockSlot>,
    free_socks: Vec<u32>,
    groups: Vec<BufGroup>,
    /// Completions reaped from the kernel, not yet handled.
    cqes: VecDeque<cqueue::Entry>,
    waker: Option<Arc<File>>,
    /// Being dropped: nothing is started again (the waker's read).
    dropping: bool,
}

/// A free slot of a table (reused, or a new one at the end).
fn take_slot<T: Default>(slots: &mut Vec<T>, free: &mut Vec<u32>) -> u32 {
    free.pop().unwrap_or_else(|| {
        slots.push(T::default());
        (slots.len() - 1) as u32
    })
}

fn os_error(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

/// An IP socket address from the bytes of a `sockaddr_in` or `sockaddr_in6`.
fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

impl Ring {
    /// A ring with room for `entries` submissions per enter (a power of two;
    /// more are submitted early) and four times as many completions. Fails
    /// where the kernel lacks io_uring, refuses it (`ENOSYS`, `EPERM`), or
    /// lacks the features this crate relies on.
    pub fn new(entries: u32) -> io::Result<Ring> {
        let uring = IoUring::builder()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_submit_all()
            .setup_cqsize(entries.saturating_mul(4))
            .build(entries)?;
        let p = uring.params();
        if !p.is_feature_ext_arg() || !p.is_feature_nodrop() || !p.is_feature_fast_poll() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks EXT_ARG, NODROP or FAST_POLL (kernel too old)",
            ));
        }
        let cq = p.cq_entries() as usize;
        Ok(Ring {
            id: NEXT_RING.fetch_add(1, Ordering::Relaxed),
            uring,
            ops: Vec::new(),
            free_ops: Vec::new(),
            live_ops: 0,
            socks: Vec::new(),
            free_socks: Vec::new(),
            groups: Vec::new(),
            cqes: VecDeque::with_capacity(cq),
            waker: None,
            dropping: false,
        })
    }

    /// Which of the opcodes revio uses the kernel lacks, if any.
    pub(crate) fn missing_opcode(&self) -> io::Result<Option<&'static str>> {
        let mut probe = io_uring::Probe::new();
        self.uring.submitter().register_probe(&mut probe)?;
        let needed = [
            (opcode::AcceptMulti::CODE, "accept"),
            (opcode::RecvMulti::CODE, "recv"),
            (opcode::RecvMsgMulti::CODE, "recvmsg"),
            (opcode::Send::CODE, "send"),
            (opcode::Connect::CODE, "connect"),
            (opcode::Read::CODE, "read"),
            (opcode::AsyncCancel2::CODE, "async cancel"),
        ];
        Ok(needed
            .iter()
            .find(|(code, _)| !probe.is_supported(*code))
            .map(|(_, name)| *name))
    }

    /// Registers a provided-buffer group of `count` buffers (a power of two,
    /// at most 32768) of `size` bytes each, all given to the kernel.
    pub fn add_group(&mut self, count: u16, size: u32) -> io::Result<Group> {
        let id = self.groups.len() as u16;
        let group = BufGroup::new(self.id, id, count, size)?;
        let (addr, entries) = group.ring_addr();
        // SAFETY: `addr` is the page-aligned ring of `entries` entries owned by
        // `group`, which is stored in `self.groups` below and freed only after
        // it is unregistered with no operation in flight (or leaked, see Drop).
        unsafe {
            self.uring
                .submitter()
                .register_buf_ring_with_flags(addr, entries, id, 0)?;
        }
        self.groups.push(group);
        Ok(Group(id))
    }

    /// Buffers of group `g` the kernel can receive into now.
    pub fn free_buffers(&self, g: Group) -> usize {
        self.groups[g.0 as usize].free()
    }

    /// Buffers of group `g` handed out and not given back.
    pub fn held_buffers(&self, g: Group) -> usize {
        self.groups[g.0 as usize].held()
    }

    /// The size of each buffer of group `g`.
    pub fn buffer_size(&self, g: Group) -> usize {
        self.groups[g.0 as usize].size()
    }

    /// The bytes of a buffer handed out by a completion (the whole buffer;
    /// the completion says how much of it was received).
    pub fn buf(&self, id: &BufId) -> &[u8] {
        self.groups[id.group as usize].bytes(id)
    }

    /// The bytes of a buffer handed out by a completion, writable.
    pub fn buf_mut(&mut self, id: &BufId) -> &mut [u8] {
        self.groups[id.group as usize].bytes_mut(id)
    }

    /// A buffer's bytes, writable, together with socket `s` (for its
    /// addresses and options while the bytes are lent out).
    pub fn buf_and_fd(&mut self, id: &BufId, s: Sock) -> (&mut [u8], Option<BorrowedFd<'_>>) {
        let fd = self
            .socks
            .get(s.idx as usize)
            .filter(|x| x.generation == s.generation && !x.closing)
            .and_then(|x| x.fd.as_ref())
            .map(|f| f.as_fd());
        (self.groups[id.group as usize].bytes_mut(id), fd)
    }

    /// Returns a buffer to the kernel.
    pub fn give_back(&mut self, id: BufId) {
        let g = id.group as usize;
        self.groups[g].give_back(id);
    }

    /// Takes ownership of a socket; operations on it name the returned handle.
    pub fn add(&mut self, fd: OwnedFd) -> Sock {
        let idx = take_slot(&mut self.socks, &mut self.free_socks);
        let slot = &mut self.socks[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.fd = Some(fd);
        slot.ops = 0;
        slot.closing = false;
        Sock {
            idx,
            generation: slot.generation,
        }
    }

    fn slot(&self, s: Sock) -> Option<&SockSlot> {
        self.socks
            .get(s.idx as usize)
            .filter(|x| x.generation == s.generation && x.fd.is_some())
    }

    /// The socket behind `s`, while the ring owns it and it is not closing.
    pub fn fd(&self, s: Sock) -> Option<BorrowedFd<'_>> {
        let slot = self.slot(s)?;
        if slot.closing {
            return None;
        }
        slot.fd.as_ref().map(|f| f.as_fd())
    }

    /// Whether the ring still holds `s` (closing included).
    pub fn holds(&self, s: Sock) -> bool {
        self.slot(s).is_some()
    }

    /// Operations in flight on `s`.
    pub fn in_flight(&self, s: Sock) -> usize {
        self.slot(s).map_or(0, |x| x.ops as usize)
    }

    /// Operations in flight on the whole ring.
    pub fn live_ops(&self) -> usize {
        self.live_ops
    }

    /// The raw descriptor of an open, not closing, socket.
    fn raw(&self, s: Sock) -> io::Result<RawFd> {
        match self.slot(s) {
            Some(x) if !x.closing => Ok(x.fd.as_ref().map_or(-1, |f| f.as_raw_fd())),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such socket in this ring",
            )),
        }
    }

    /// Pushes one submission, submitting early if the queue is full.
    ///
    /// Callers build `e` from resources that outlive the operation (see the
    /// module docs): a descriptor owned by a socket slot whose operation count
    /// includes this one, and memory owned by the operation's slot.
    fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every pointer in `e` points into memory owned by the
            // operation's slot (or a buffer group) until the operation's last
            // completion is reaped, and its descriptor is owned by a socket
            // slot that stays open while the operation is counted in flight;
            // see `start`, `complete` and `Drop`.
            if unsafe { self.uring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            // The queue is full: submit what it holds (one more enter).
            self.reap();
            match self.uring.submit() {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts an operation of socket slot `sock` (or [`NO_SOCK`]): `kind` moves
    /// into a free operation slot and `entry` builds the submission from it
    /// there, so its pointers are into memory the slot owns. On failure the
    /// resources come back.
    fn start(
        &mut self,
        sock: u32,
        tag: u64,
        kind: Kind,
        entry: impl FnOnce(&Kind) -> squeue::Entry,
    ) -> Result<Op, (io::Error, Kind)> {
        let idx = take_slot(&mut self.ops, &mut self.free_ops);
        let slot = &mut self.ops[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.sock = sock;
        slot.tag = tag;
        let generation = slot.generation;
        let e = entry(slot.kind.insert(kind)).user_data(u64::from(idx) | u64::from(generation) << 32);
        if let Err(err) = self.push(&e) {
            let kind = self.ops[idx as usize].kind.take().expect("just inserted");
            self.free_ops.push(idx);
            return Err((err, kind));
        }
        self.live_ops += 1;
        if sock != NO_SOCK {
            self.socks[sock as usize].ops += 1;
        }
        Ok(Op { idx, generation })
    }

    fn start_io(
        &mut self,
        s: Sock,
        tag: u64,
        kind: Kind,
        entry: impl FnOnce(&Kind) -> squeue::Entry,
    ) -> io::Result<Op> {
        self.raw(s)?;
        self.start(s.idx, tag, kind, entry).map_err(|(e, _)| e)
    }

    /// Arms a multishot receive on stream socket `s`, into buffers of `g`.
    /// Each chunk completes as [`Event::Received`]; the end of stream as
    /// [`Event::Eof`]; `ENOBUFS` ends it when the group runs dry.
    pub fn recv_multi(&mut self, s: Sock, g: Group, tag: u64) -> io::Result<Op> {
        let fd = self.raw(s)?;
        self.start_io(s, tag, Kind::Recv(g.0), |_| {
            opcode::RecvMulti::new(types::Fd(fd), g.0).build()
        })
    }

    /// Arms a multishot `recvmsg` on datagram socket `s`, into buffers of `g`:
    /// each datagram completes as [`Event::Datagram`].
    pub fn recvmsg_multi(&mut self, s: Sock, g: Group, tag: u64) -> io::Result<Op> {
        let fd = self.raw(s)?;
        let hdr = MsgHdr::new(size_of::<libc::sockaddr_storage>());
        self.start_io(s, tag, Kind::RecvMsg(g.0, hdr), |k| {
            let Kind::RecvMsg(_, h) = k else { unreachable!() };
            opcode::RecvMsgMulti::new(types::Fd(fd), &h.0, g.0).build()
        })
    }

    /// Arms a multishot accept on listener `s`: each connection completes as
    /// [`Event::Accepted`] (close-on-exec, blocking mode).
    pub fn accept_multi(&mut self, s: Sock, tag: u64) -> io::Result<Op> {
        let fd = self.raw(s)?;
        self.start_io(s, tag, Kind::Accept, |_| {
            opcode::AcceptMulti::new(types::Fd(fd))
                .flags(libc::SOCK_CLOEXEC)
                .build()
        })
    }

    /// Sends `buf[off..]` on stream socket `s`; the ring owns `buf` until
    /// [`Event::Sent`] gives it back. On failure to submit, `buf` comes back
    /// with the error.
    pub fn send(&mut self, s: Sock, buf: Vec<u8>, off: usize, tag: u64) -> Result<Op, (io::Error, Vec<u8>)> {
        let give_back = |(e, k): (io::Error, Kind)| match k {
            Kind::Send { buf, .. } => (e, buf),
            _ => unreachable!(),
        };
        let fd = match self.raw(s) {
            Ok(fd) => fd,
            Err(e) => return Err((e, buf)),
        };
        if off >= buf.len() || buf.len() - off > u32::MAX as usize {
            return Err((io::Error::from(io::ErrorKind::InvalidInput), buf));
        }
        self.start(s.idx, tag, Kind::Send { buf, off }, |k| {
            let Kind::Send { buf, off } = k else {
                unreachable!()
            };
            let rest = &buf[*off..];
            opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
                .flags(SEND_FLAGS)
                .build()
        })
        .map_err(give_back)
    }

    /// Connects socket `s` to `addr`; completes as [`Event::Connected`].
    pub fn connect(&mut self, s: Sock, addr: SockAddr, tag: u64) -> io::Result<Op> {
        let fd = self.raw(s)?;
        self.start_io(s, tag, Kind::Connect(Box::new(addr)), |k| {
            let Kind::Connect(a) = k else { unreachable!() };
            opcode::Connect::new(types::Fd(fd), a.as_ptr().cast(), a.len()).build()
        })
    }

    /// Cancels one operation (no-op if it has completed). Its last completion
    /// still comes, usually with `ECANCELED`.
    pub fn cancel(&mut self, op: Op) {
        let Some(slot) = self.ops.get(op.idx as usize) else {
            return;
        };
        if slot.generation != op.generation || slot.kind.is_none() {
            return;
        }
        let (sock, ud) = (slot.sock, u64::from(op.idx) | u64::from(op.generation) << 32);
        if let Err((e, _)) = self.start(sock, 0, Kind::Cancel, |_| opcode::AsyncCancel::new(ud).build()) {
            log_cancel_failure(&e);
        }
    }

    /// Cancels every operation in flight on `s`; their last completions
    /// still come.
    pub fn cancel_all(&mut self, s: Sock) {
        let Some(slot) = self.slot(s) else { return };
        if slot.ops == 0 {
            return;
        }
        let fd = slot.fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let builder = types::CancelBuilder::fd(types::Fd(fd)).all();
        if let Err((e, _)) = self.start(s.idx, 0, Kind::Cancel, |_| {
            opcode::AsyncCancel2::new(builder).build()
        }) {
            log_cancel_failure(&e);
        }
    }

    /// Closes `s`: cancels what is in flight on it and closes the descriptor
    /// once every operation has completed (at once if none is). From now on
    /// no completion of `s` is reported; buffers they carry go back to the
    /// kernel and send buffers are dropped.
    pub fn close(&mut self, s: Sock) {
        let Some(slot) = self.slot(s) else { return };
        if slot.closing {
            return;
        }
        if slot.ops == 0 {
            self.free_sock(s.idx);
            return;
        }
        self.cancel_all(s);
        self.socks[s.idx as usize].closing = true;
    }

    /// Takes socket `s` back out of the ring, which must have nothing in
    /// flight on it (`WouldBlock` otherwise: cancel, and wait for the
    /// completions first).
    pub fn release(&mut self, s: Sock) -> io::Result<OwnedFd> {
        let slot = self
            .slot(s)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such socket in this ring"))?;
        if slot.ops > 0 || slot.closing {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "operations are still in flight on this socket",
            ));
        }
        let fd = self.socks[s.idx as usize].fd.take().expect("checked above");
        self.free_socks.push(s.idx);
        Ok(fd)
    }

    fn free_sock(&mut self, idx: u32) {
        let slot = &mut self.socks[idx as usize];
        slot.fd = None;
        slot.closing = false;
        self.free_socks.push(idx);
    }

    /// Creates the ring's waker (once): an eventfd read by the ring, reported
    /// as [`Event::Woken`] with `tag`.
    pub fn waker(&mut self, tag: u64) -> io::Result<Waker> {
        if let Some(f) = &self.waker {
            return Ok(Waker(f.clone()));
        }
        // SAFETY: `eventfd` has no memory arguments. A non-negative return is
        // a new descriptor that nothing else owns, so `File` may take it.
        let file = unsafe {
            let fd = libc::eventfd(0, libc::EFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            File::from_raw_fd(fd)
        };
        let file = Arc::new(file);
        self.waker = Some(file.clone());
        self.arm_wake(tag, Box::new([0; 8]))?;
        Ok(Waker(file))
    }

    fn arm_wake(&mut self, tag: u64, buf: Box<[u8; 8]>) -> io::Result<()> {
        let fd = self.waker.as_ref().map_or(-1, |f| f.as_raw_fd());
        self.start(NO_SOCK, tag, Kind::Wake(buf), |k| {
            let Kind::Wake(b) = k else { unreachable!() };
            opcode::Read::new(types::Fd(fd), b.as_ptr().cast_mut(), 8).build()
        })
        .map(drop)
        .map_err(|(e, _)| e)
    }

    /// Submits everything queued with one `io_uring_enter` and waits up to
    /// `timeout` (`None`: until something completes) for a completion. A
    /// zero timeout enters only if there is something to submit or kernel
    /// work to run. Timeouts and signals are not errors.
    pub fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let waiting = !self.cqes.is_empty() || !self.uring.completion().is_empty();
        let timeout = if waiting { Some(Duration::ZERO) } else { timeout };
        let r = match timeout {
            Some(d) if d.is_zero() => {
                let sq = self.uring.submission();
                if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                    return Ok(());
                }
                drop(sq);
                self.uring.submit()
            }
            None => self.uring.submit_and_wait(1),
            Some(d) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves what the kernel completed into our queue.
    fn reap(&mut self) {
        self.cqes.extend(self.uring.completion());
    }

    /// The next completion to report, if any has been reaped or is ready.
    /// Completions of closed sockets and of cancels are handled here and not
    /// reported.
    pub fn next_completion(&mut self) -> Option<Completion> {
        loop {
            let cqe = match self.cqes.pop_front() {
                Some(c) => c,
                None => {
                    self.reap();
                    self.cqes.pop_front()?
                }
            };
            if let Some(c) = self.complete(&cqe) {
                return Some(c);
            }
        }
    }

    /// Accounts for one completion; returns what to report.
    fn complete(&mut self, cqe: &cqueue::Entry) -> Option<Completion> {
        let ud = cqe.user_data();
        let idx = (ud & 0xffff_ffff) as usize;
        let generation = (ud >> 32) as u32;
        let slot = self.ops.get_mut(idx)?;
        if slot.generation != generation || slot.kind.is_none() {
            // Not an operation of ours in flight: nothing to account for.
            return None;
        }
        let more = cqueue::more(cqe.flags());
        let (sock, tag) = (slot.sock, slot.tag);
        let kind = if more {
            None
        } else {
            let k = slot.kind.take();
            self.free_ops.push(idx as u32);
            self.live_ops -= 1;
            k
        };
        let event = self.event(idx, tag, kind, cqe);
        let closing = sock != NO_SOCK && {
            let s = &mut self.socks[sock as usize];
            if !more {
                s.ops -= 1;
            }
            s.closing
        };
        if closing {
            self.discard(event);
            if self.socks[sock as usize].ops == 0 {
                self.free_sock(sock);
            }
            return None;
        }
        Some(Completion {
            tag,
            more,
            event: event?,
        })
    }

    /// What a completion means. `kind` is the operation's resources when this
    /// was its last completion (taken out of the slot), else `None` and the
    /// slot still holds them.
    fn event(&mut self, idx: usize, tag: u64, kind: Option<Kind>, cqe: &cqueue::Entry) -> Option<Event> {
        let (res, flags) = (cqe.result(), cqe.flags());
        let what = match kind.as_ref().or(self.ops[idx].kind.as_ref())? {
            Kind::Recv(g) => What::Recv(*g),
            Kind::RecvMsg(g, h) => What::RecvMsg(*g, h.0.msg_namelen),
            Kind::Accept => What::Accept,
            Kind::Send { .. } => What::Send,
            Kind::Connect(_) => What::Connect,
            Kind::Wake(_) => What::Wake,
            Kind::Cancel => return None,
        };
        let buf = match what {
            What::Recv(g) | What::RecvMsg(g, _) => {
                cqueue::buffer_select(flags).map(|bid| self.groups[g as usize].take(bid))
            }
            _ => None,
        };
        Some(match what {
            What::Recv(_) => match (res, buf) {
                (n, Some(buf)) if n > 0 => Event::Received { buf, len: n as usize },
                (n, buf) => {
                    if let Some(b) = buf {
                        self.give_back(b);
                    }
                    match n {
                        0 => Event::Eof,
                        n if n < 0 => Event::Failed(os_error(n)),
                        _ => Event::Failed(io::Error::other("a receive completed without its buffer")),
                    }
                }
            },
            What::RecvMsg(_, namelen) => match buf {
                Some(buf) if res >= 0 => self.datagram(buf, res as usize, namelen),
                buf => {
                    if let Some(b) = buf {
                        self.give_back(b);
                    }
                    Event::Failed(if res < 0 {
                        os_error(res)
                    } else {
                        io::Error::other("a recvmsg completed without its buffer")
                    })
                }
            },
            What::Accept if res >= 0 => {
                // SAFETY: a successful accept completion's result is a new
                // descriptor, created for this ring's caller and owned by
                // nothing else yet.
                Event::Accepted(unsafe { OwnedFd::from_raw_fd(res) })
            }
            What::Accept => Event::Failed(os_error(res)),
            What::Send => {
                let Some(Kind::Send { buf, off }) = kind else {
                    unreachable!("a send completes once")
                };
                let result = if res >= 0 {
                    Ok(res as usize)
                } else {
                    Err(os_error(res))
                };
                Event::Sent { buf, off, result }
            }
            What::Connect => Event::Connected(if res < 0 { Err(os_error(res)) } else { Ok(()) }),
            What::Wake => {
                let Some(Kind::Wake(buf)) = kind else {
                    unreachable!("a read completes once")
                };
                // Re-armed at once. Should that fail, the ring can no longer
                // submit, and the caller's next enter says so.
                if res != -libc::ECANCELED && !self.dropping {
                    let _ = self.arm_wake(tag, buf);
                }
                Event::Woken
            }
        })
    }

    fn datagram(&mut self, buf: BufId, len: usize, namelen: libc::socklen_t) -> Event {
        let mut hdr = MsgHdr::new(0);
        hdr.0.msg_namelen = namelen;
        let bytes = self.buf(&buf);
        let parsed = types::RecvMsgOut::parse(&bytes[..len.min(bytes.len())], &hdr.0).map(|out| {
            let start = out.payload_data().as_ptr() as usize - bytes.as_ptr() as usize;
            (
                start..start + out.payload_data().len(),
                parse_sockaddr(out.name_data()),
                out.is_payload_truncated(),
            )
        });
        match parsed {
            Ok((data, from, truncated)) => Event::Datagram {
                buf,
                data,
                from,
                truncated,
            },
            Err(()) => {
                self.give_back(buf);
                Event::Failed(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a malformed recvmsg result",
                ))
            }
        }
    }

    /// Releases what an unreported completion carries.
    fn discard(&mut self, event: Option<Event>) {
        // Dropping the event closes an accepted socket and frees a send buffer.
        if let Some(Event::Received { buf, .. } | Event::Datagram { buf, .. }) = event {
            self.give_back(buf);
        }
    }
}

/// A cancel that could not be submitted: the ring cannot submit any more,
/// and the caller finds out at its next enter.
fn log_cancel_failure(e: &io::Error) {
    let _ = e;
}

impl Drop for Ring {
    /// Cancels every operation and waits up to [`DROP_WAIT`] for their last
    /// completions; then the groups are unregistered and freed. If the kernel
    /// still holds operations then, their memory and the groups are leaked:
    /// never freed while the kernel could write to them.
    fn drop(&mut self) {
        self.dropping = true;
        if self.live_ops > 0 {
            let any = types::CancelBuilder::any();
            let _ = self.start(NO_SOCK, 0, Kind::Cancel, |_| {
                opcode::AsyncCancel2::new(any).build()
            });
            let deadline = Instant::now() + DROP_WAIT;
            while self.live_ops > 0 {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                if self.enter(Some(deadline - now)).is_err() {
                    break;
                }
                while let Some(c) = self.next_completion() {
                    self.discard(Some(c.event));
                }
            }
        }
        if self.live_ops > 0 {
            // The kernel may still write into these: never free them.
            for slot in self.ops.drain(..) {
                std::mem::forget(slot.kind);
            }
            for g in self.groups.drain(..) {
                std::mem::forget(g);
            }
            return;
        }
        for g in self.groups.drain(..) {
            let _ = self.uring.submitter().unregister_buf_ring(g.id);
        }
    }
}
