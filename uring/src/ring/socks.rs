//! Sockets the ring owns: adding them, looking them up, closing them once
//! nothing is in flight on them, and handing them back.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{Ring, Sock, SockSlot, take_slot};

impl Ring {
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

    pub(super) fn slot(&self, s: Sock) -> Option<&SockSlot> {
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
    pub(super) fn raw(&self, s: Sock) -> io::Result<RawFd> {
        match self.slot(s) {
            Some(x) if !x.closing => Ok(x.fd.as_ref().map_or(-1, |f| f.as_raw_fd())),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such socket in this ring",
            )),
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

    pub(super) fn free_sock(&mut self, idx: u32) {
        let slot = &mut self.socks[idx as usize];
        slot.fd = None;
        slot.closing = false;
        self.free_socks.push(idx);
    }
}
