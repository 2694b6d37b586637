//! The waker: an eventfd the ring keeps a read armed on.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;

use io_uring::{opcode, types};

#[cfg(doc)]
use super::Event;
use super::{Kind, NO_SOCK, Ring};

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

impl Ring {
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

    pub(super) fn arm_wake(&mut self, tag: u64, buf: Box<[u8; 8]>) -> io::Result<()> {
        let fd = self.waker.as_ref().map_or(-1, |f| f.as_raw_fd());
        self.start(NO_SOCK, tag, Kind::Wake(buf), |k| {
            let Kind::Wake(b) = k else { unreachable!() };
            opcode::Read::new(types::Fd(fd), b.as_ptr().cast_mut(), 8).build()
        })
        .map(drop)
        .map_err(|(e, _)| e)
    }
}
