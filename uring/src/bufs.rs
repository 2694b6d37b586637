//! Provided buffer rings: memory the kernel picks receive buffers from.
//!
//! A group is two page-aligned allocations: the ring of entries the kernel
//! reads (one per buffer it may use) and the buffers themselves. A buffer is
//! either the kernel's (its entry is between the kernel's head and our tail)
//! or the caller's (the kernel named it in a completion, and a [`BufId`]
//! stands for it until it is given back). The `out` bitmap records which, so
//! that a buffer is never handed out twice and never read while the kernel
//! may write it.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

/// The kernel's `struct io_uring_buf`. Entry 0's `resv` field is the ring's
/// tail (`struct io_uring_buf_ring`), so entries are written field by field
/// through raw pointers, never as whole structs or references.
#[repr(C)]
struct RawBuf {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const PAGE: usize = 4096;

/// Where buffers start in the data block: half a page in. A handler that
/// copies received bytes into an output buffer (an echo) otherwise copies
/// from a page-aligned address to one a few bytes past a page boundary
/// (a large allocation's), which `rep movsb` runs many times slower on some
/// x86 CPUs (4K aliasing; revio's bench/results/PERF.md measured 1.75x).
const SKEW: usize = PAGE / 2;

/// A received chunk's buffer, out of the kernel's hands until it is given back
/// with [`Ring::give_back`](crate::Ring::give_back). Not `Clone`: there is one
/// token per buffer handed out. Dropping it without giving it back is safe but
/// loses the buffer (the group shrinks by one).
#[derive(Debug)]
#[must_use = "a buffer not given back is lost to the ring"]
pub struct BufId {
    pub(crate) ring: u32,
    pub(crate) group: u16,
    pub(crate) bid: u16,
}

impl BufId {
    /// The buffer's index in its group.
    pub fn index(&self) -> u16 {
        self.bid
    }
}

/// One provided buffer ring, registered with the kernel as group `id`.
pub(crate) struct BufGroup {
    pub(crate) id: u16,
    ring: u32,
    entries: NonNull<RawBuf>,
    entries_layout: Layout,
    data: NonNull<u8>,
    data_layout: Layout,
    count: u16,
    size: u32,
    /// Our tail: entries before it are published to the kernel.
    tail: u16,
    /// Per buffer: handed out to the caller (true) or the kernel's (false).
    out: Vec<bool>,
    held: usize,
}

// SAFETY: a `BufGroup` exclusively owns both allocations behind its raw
// pointers (nothing else in the process points into them but the kernel, which
// is not tied to a thread), and it has no thread-local state, so moving it to
// another thread with its `Ring` is sound.
unsafe impl Send for BufGroup {}

fn layout(bytes: usize) -> io::Result<Layout> {
    Layout::from_size_align(bytes.max(PAGE).next_multiple_of(PAGE), PAGE)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer group too large"))
}

fn alloc_pages(layout: Layout) -> io::Result<NonNull<u8>> {
    // SAFETY: `layout` has a non-zero size (at least one page, see `layout`).
    let p = unsafe { alloc::alloc_zeroed(layout) };
    NonNull::new(p).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

impl BufGroup {
    /// Allocates `count` buffers of `size` bytes (count a power of two, at most
    /// 32768) and fills the ring with all of them. Not registered yet.
    pub(crate) fn new(ring: u32, id: u16, count: u16, size: u32) -> io::Result<BufGroup> {
        if !count.is_power_of_two() || count > 1 << 15 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer group needs a power-of-two count up to 32768 and a non-zero size",
            ));
        }
        let entries_layout = layout(count as usize * size_of::<RawBuf>())?;
        let data_bytes = (count as usize)
            .checked_mul(size as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer group too large"))?;
        let data_layout = layout(data_bytes + SKEW)?;
        let entries = alloc_pages(entries_layout)?.cast::<RawBuf>();
        let data = match alloc_pages(data_layout) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: allocated just above with this layout, never shared.
                unsafe { alloc::dealloc(entries.as_ptr().cast(), entries_layout) };
                return Err(e);
            }
        };
        let mut g = BufGroup {
            id,
            ring,
            entries,
            entries_layout,
            data,
            data_layout,
            count,
            size,
            tail: 0,
            out: vec![false; count as usize],
            held: 0,
        };
        for bid in 0..count {
            g.push(bid);
        }
        g.publish();
        Ok(g)
    }

    /// The ring's address and entry count, for registration.
    pub(crate) fn ring_addr(&self) -> (u64, u16) {
        (self.entries.as_ptr() as u64, self.count)
    }

    pub(crate) fn size(&self) -> usize {
        self.size as usize
    }

    /// Buffers the kernel can pick from now.
    pub(crate) fn free(&self) -> usize {
        self.count as usize - self.held
    }

    /// Buffers handed out and not given back.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// The kernel named buffer `bid` in a completion: it is the caller's now.
    pub(crate) fn take(&mut self, bid: u16) -> BufId {
        let i = bid as usize;
        // The kernel hands out only what the ring holds; a buffer we already
        // handed out must never be handed out again (two tokens, two mutable
        // views of one buffer): stop rather than alias.
        assert!(
            i < self.out.len() && !self.out[i],
            "io_uring handed out provided buffer {bid} of group {} twice",
            self.id
        );
        self.out[i] = true;
        self.held += 1;
        BufId {
            ring: self.ring,
            group: self.id,
            bid,
        }
    }

    fn check(&self, id: &BufId) {
        assert!(
            id.ring == self.ring && id.group == self.id && self.out[id.bid as usize],
            "a buffer token of another ring or group, or one already given back"
        );
    }

    /// Returns a buffer to the kernel.
    pub(crate) fn give_back(&mut self, id: BufId) {
        self.check(&id);
        self.out[id.bid as usize] = false;
        self.held -= 1;
        self.push(id.bid);
        self.publish();
    }

    /// Writes buffer `bid` into the entry at our tail (not yet published).
    fn push(&mut self, bid: u16) {
        let mask = self.count - 1;
        let slot = (self.tail & mask) as usize;
        let addr = self.data.as_ptr() as u64 + (SKEW + bid as usize * self.size as usize) as u64;
        // SAFETY: `slot < count`, so the entry is inside the entries
        // allocation. Entries from our tail on are not visible to the kernel
        // until `publish`, so nothing reads them meanwhile. Only `addr`,
        // `len` and `bid` are written (through raw pointers, no reference):
        // entry 0's `resv` is the tail, which only `publish` writes.
        unsafe {
            let e = self.entries.as_ptr().add(slot);
            ptr::addr_of_mut!((*e).addr).write(addr);
            ptr::addr_of_mut!((*e).len).write(self.size);
            ptr::addr_of_mut!((*e).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the entries written so far visible to the kernel.
    fn publish(&mut self) {
        // SAFETY: the tail is the `resv` field of entry 0, inside the entries
        // allocation, 2-byte aligned (offset 14 of a page-aligned block); the
        // kernel only reads it, atomically (`smp_load_acquire`), and here it is
        // only written through this atomic view. The release store orders the
        // entry writes in `push` before the tail that publishes them.
        unsafe {
            let e = self.entries.as_ptr();
            let tail = ptr::addr_of_mut!((*e).resv);
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    /// Where buffer `id` starts in the data allocation.
    fn offset(&self, id: &BufId) -> usize {
        SKEW + id.bid as usize * self.size as usize
    }

    /// The whole buffer behind `id`, readable.
    pub(crate) fn bytes(&self, id: &BufId) -> &[u8] {
        self.check(id);
        // SAFETY: `check` proved the buffer is handed out (`out`): the kernel
        // will not write it until it is given back, which needs the `BufId`
        // consumed and `&mut self`. The range is inside the data allocation,
        // which was zeroed, so every byte is initialized.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(self.offset(id)), self.size as usize) }
    }

    /// The whole buffer behind `id`, writable (to decrypt in place).
    pub(crate) fn bytes_mut(&mut self, id: &BufId) -> &mut [u8] {
        self.check(id);
        // SAFETY: as in `bytes`; `&mut self` rules out any other view into the
        // data allocation for the lifetime of the result, and the kernel does
        // not touch handed-out buffers.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr().add(self.offset(id)), self.size as usize) }
    }
}

impl Drop for BufGroup {
    /// Frees the memory. The `Ring` drops a group only after unregistering it
    /// with every operation that could use it completed; otherwise it leaks
    /// the group instead (`mem::forget`).
    fn drop(&mut self) {
        // SAFETY: both blocks were allocated in `new` with these layouts and
        // are freed once, here; the kernel no longer uses them (see above).
        unsafe {
            alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout);
            alloc::dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}
