//! Provided-buffer groups: registering them, and the buffers completions
//! hand out.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use super::{Group, Ring, Sock};
use crate::bufs::{BufGroup, BufId};

impl Ring {
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
}
