//! A small, safe io_uring layer shaped for revio's event loop.
//!
//! revio itself forbids `unsafe`; the io_uring interface cannot be used
//! without it (submissions carry raw pointers the kernel dereferences later,
//! buffer rings are memory shared with the kernel). Every `unsafe` block of
//! revio's io_uring backend is in this crate, each with a `// SAFETY:`
//! comment, behind an API that cannot be misused from safe code:
//!
//! * **Owned buffers.** Memory given to the kernel (a send's `Vec`, or with
//!   the `bytes` feature a send's `bytes::Bytes`, `Ring::send_shared`; a
//!   connect's address, a `msghdr`) moves into the [`Ring`] and comes back
//!   only with the operation's last completion ([`Event::Sent`] returns the
//!   buffer). Sockets are owned by the ring too ([`Ring::add`]): a descriptor
//!   is closed only once no operation can still use it.
//! * **Provided buffers.** A group of receive buffers the kernel picks from
//!   ([`Ring::add_group`]); a completion hands one out as a [`BufId`], a
//!   non-`Clone` token that [`Ring::give_back`] consumes. A buffer is never
//!   handed out twice, and never readable while the kernel may write it.
//! * **Teardown.** Dropping the ring cancels everything and waits, bounded,
//!   for the kernel to let go; memory it might still touch is leaked, never
//!   freed.
//!
//! * **Batched UDP.** [`udp`] wraps `recvmmsg`/`sendmmsg` with segmentation
//!   and receive offload, for the readiness backend as much as for this one.
//!
//! On targets other than Linux the crate is empty.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "linux")]
mod bufs;
#[cfg(target_os = "linux")]
mod probe;
#[cfg(target_os = "linux")]
mod ring;
#[cfg(all(test, target_os = "linux"))]
mod tests;
#[cfg(target_os = "linux")]
pub mod udp;

#[cfg(target_os = "linux")]
pub use bufs::BufId;
#[cfg(target_os = "linux")]
pub use probe::probe;
#[cfg(all(target_os = "linux", feature = "bytes"))]
pub use ring::MAX_SHARED;
#[cfg(target_os = "linux")]
pub use ring::{Completion, Event, Group, Op, Ring, Sock, Waker};
