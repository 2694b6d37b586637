//! Sends from shared buffers (`bytes::Bytes`, the `bytes` feature): one
//! `sendmsg` over several buffers, from where their bytes are. The ring
//! holds every buffer until the send's completion, also after a cancel or
//! a close of the socket, so the kernel never reads released memory.

use std::io;

use bytes::Bytes;
use io_uring::{opcode, types};

use super::submit::SEND_FLAGS;
use super::{Kind, Op, Ring, Sock};

/// The most buffers one send takes (the kernel's `UIO_MAXIOV`).
pub const MAX_SHARED: usize = 1024;

/// A vectored send's buffers, with the `iovec`s and `msghdr` that point
/// into them. Boxed in its operation slot: `hdr` stays where the kernel was
/// told it is, and the `iovec`s and the bytes live on the heap, unmoved.
pub(super) struct SharedMsg {
    bufs: Vec<Bytes>,
    /// Only kept: the kernel reads it through `hdr`.
    #[allow(dead_code)]
    iov: Vec<libc::iovec>,
    hdr: libc::msghdr,
}

// SAFETY: the raw pointers in `iov` and `hdr` point only into memory this
// value owns: the contents of `bufs` (immutable, and `Bytes` is `Send`) and
// the `iov` array. Moving the value to another thread moves that ownership
// with it; nothing else reaches that memory through these pointers.
unsafe impl Send for SharedMsg {}

impl SharedMsg {
    fn new(bufs: Vec<Bytes>) -> Box<SharedMsg> {
        let mut iov: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: `msghdr` is a plain C struct of integers and pointers, for
        // which all-zero bytes are a valid value (null pointers, zero lengths).
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = iov.as_mut_ptr();
        hdr.msg_iovlen = iov.len() as _;
        Box::new(SharedMsg { bufs, iov, hdr })
    }

    pub(super) fn into_bufs(self) -> Vec<Bytes> {
        self.bufs
    }
}

impl Ring {
    /// Sends `bufs` in order on stream socket `s` with one `sendmsg`, from
    /// where their bytes are (no copy); the ring holds them until
    /// [`Event::SentShared`](super::Event::SentShared) gives them back,
    /// also after a cancel or a close of the socket. At most [`MAX_SHARED`]
    /// buffers, not all empty. On failure to submit, `bufs` come back with
    /// the error.
    pub fn send_shared(
        &mut self,
        s: Sock,
        bufs: Vec<Bytes>,
        tag: u64,
    ) -> Result<Op, (io::Error, Vec<Bytes>)> {
        let give_back = |(e, k): (io::Error, Kind)| match k {
            Kind::SendShared(msg) => (e, msg.into_bufs()),
            _ => unreachable!(),
        };
        let fd = match self.raw(s) {
            Ok(fd) => fd,
            Err(e) => return Err((e, bufs)),
        };
        let total: usize = bufs.iter().map(Bytes::len).sum();
        if total == 0 || bufs.len() > MAX_SHARED || total > i32::MAX as usize {
            return Err((io::Error::from(io::ErrorKind::InvalidInput), bufs));
        }
        self.start(s.idx, tag, Kind::SendShared(SharedMsg::new(bufs)), |k| {
            let Kind::SendShared(msg) = k else { unreachable!() };
            opcode::SendMsg::new(types::Fd(fd), &msg.hdr)
                .flags(SEND_FLAGS as u32)
                .build()
        })
        .map_err(give_back)
    }
}
