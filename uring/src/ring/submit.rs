//! Starting operations: each one's resources move into an operation slot,
//! and its submission is built from them there; cancels.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

#[cfg(doc)]
use super::Event;
use super::{Group, Kind, MsgHdr, NO_SOCK, Op, Ring, Sock, take_slot};

/// Flags of every send: no SIGPIPE. A send completes with what the socket
/// took (short when its buffer filled): the caller sees the progress and
/// sends the rest.
pub(super) const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;

impl Ring {
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
    pub(super) fn start(
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
        let mut hdr = self.spare_hdrs.pop().unwrap_or_else(|| MsgHdr::new(0));
        *hdr = MsgHdr::plain(size_of::<libc::sockaddr_storage>());
        // Room in each buffer for a receive offload's segment size
        // (`udp::set_gro`); unused where the socket has no offload.
        hdr.0.msg_controllen = crate::udp::GRO_CONTROL as _;
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
}

/// A cancel that could not be submitted: the ring cannot submit any more,
/// and the caller finds out at its next enter.
fn log_cancel_failure(e: &io::Error) {
    let _ = e;
}
