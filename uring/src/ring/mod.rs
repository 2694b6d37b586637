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

mod complete;
mod groups;
#[cfg(feature = "bytes")]
mod shared;
#[cfg(feature = "bytes")]
pub use shared::MAX_SHARED;
mod socks;
mod submit;
mod waker;

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, types};
use socket2::SockAddr;

use crate::bufs::BufGroup;
pub use complete::{Completion, Event};
pub use waker::Waker;

static NEXT_RING: AtomicU32 = AtomicU32::new(1);

/// How long dropping a ring waits for cancelled operations to complete.
const DROP_WAIT: Duration = Duration::from_secs(2);

/// The owner of operations that belong to no socket (the waker's read).
const NO_SOCK: u32 = u32::MAX;

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
        Box::new(MsgHdr::plain(namelen))
    }

    /// A header on the stack, to read a completion with (no allocation).
    fn plain(namelen: usize) -> MsgHdr {
        // SAFETY: `msghdr` is a plain C struct of integers and pointers, for
        // which all-zero bytes are a valid value (null pointers, zero lengths).
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_namelen = namelen as libc::socklen_t;
        MsgHdr(h)
    }
}

/// What an operation owns while the kernel may use it.
enum Kind {
    Recv(u16),
    RecvMsg(u16, Box<MsgHdr>),
    Accept,
    Send {
        buf: Vec<u8>,
        off: usize,
    },
    /// A send from shared buffers (see `shared.rs`).
    #[cfg(feature = "bytes")]
    SendShared(Box<shared::SharedMsg>),
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
    /// Headers of finished multishot `recvmsg`s, for the next (re-arming
    /// after the buffers ran out allocates nothing). Boxed: each moves back
    /// into an operation, whose header the kernel reads at a fixed address.
    #[allow(clippy::vec_box)]
    spare_hdrs: Vec<Box<MsgHdr>>,
}

/// A free slot of a table (reused, or a new one at the end).
fn take_slot<T: Default>(slots: &mut Vec<T>, free: &mut Vec<u32>) -> u32 {
    free.pop().unwrap_or_else(|| {
        slots.push(T::default());
        (slots.len() - 1) as u32
    })
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
            spare_hdrs: Vec::new(),
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
}

impl Drop for Ring {
    /// Cancels every operation and waits up to two seconds for their last
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
