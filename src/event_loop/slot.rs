//! One connection's entry in a loop's table, and its flags.

use crate::driver::OutBuf;

pub(super) const OPEN: u32 = 1;
pub(super) const TCP: u32 = 1 << 1;
pub(super) const UNIX: u32 = 1 << 2;
pub(super) const UDP: u32 = 1 << 3;
/// A dial not yet connected.
pub(super) const CONNECTING: u32 = 1 << 4;
/// A send did not take everything: wait for the writable edge.
pub(super) const BLOCKED: u32 = 1 << 5;
pub(super) const CLOSE_AFTER_FLUSH: u32 = 1 << 6;
pub(super) const DETACH_AFTER_FLUSH: u32 = 1 << 7;
/// Queued output is above the high-water mark: reading waits.
pub(super) const CONGESTED: u32 = 1 << 8;
/// Reading paused by code (`Conn::pause_reading`, `Server::pause_reading`).
pub(super) const PAUSED: u32 = 1 << 9;
pub(super) const WAKE_AFTER_OPEN: u32 = 1 << 10;
/// The peer finished sending.
pub(super) const EOF_SEEN: u32 = 1 << 11;
/// Shut the writing side down once the output is flushed.
pub(super) const SHUT_WRITE: u32 = 1 << 12;
/// The writing side is shut down.
pub(super) const WRITE_SHUT: u32 = 1 << 13;
/// In the list of connections to serve again next turn.
pub(super) const READY: u32 = 1 << 14;
/// The handler stopped early for congestion with input kept: present it
/// again once the output drains.
pub(super) const REPRESENT: u32 = 1 << 15;
/// A handler deadline is set (its time is in the timer node's tag).
pub(super) const DEADLINE: u32 = 1 << 16;
/// `stopping` has been called (the server is shutting down).
pub(super) const STOPPING: u32 = 1 << 17;
/// The shutdown hook has appended its final bytes.
pub(super) const FINISHED: u32 = 1 << 18;
/// Accepted on a PROXY protocol listener, its header not read yet: the
/// handler has not heard of it (no `opened`, so no `closed`).
pub(super) const PROXY_WAIT: u32 = 1 << 19;
/// Came with a PROXY header (kept in `Loop::proxied`).
pub(super) const PROXIED: u32 = 1 << 20;
/// A send the backend holds is in flight (see `Driver::held`): its one
/// `postwrite` comes with the `writable` after which the backend holds
/// none, however many steps the send took.
pub(super) const HELD: u32 = 1 << 21;
/// The handler wants more input before its next `data` (`Conn::want`); how
/// much is in `Loop::wants`.
pub(super) const WANT: u32 = 1 << 22;

/// The deadline passes only while the connection is read (see
/// `Requests::deadline_reading`).
pub(super) const READ_DEADLINE: u32 = 1 << 23;

/// `addr_index` of a dialed connection.
pub(super) const DIALED: u16 = u16::MAX;

/// Flags under which a connection's input is not read.
pub(super) const NOT_READING: u32 =
    CONNECTING | CONGESTED | PAUSED | CLOSE_AFTER_FLUSH | DETACH_AFTER_FLUSH | EOF_SEEN;

/// One connection's entry in the table. Idle, it holds no buffer: with
/// `State = ()` it is 80 bytes, 88 with the `bytes` feature (the pointer to
/// an output's shared pieces, null while there are none).
pub(super) struct Slot<S> {
    pub(super) generation: u32,
    pub(super) flags: u32,
    /// When a byte was last read or written (loop milliseconds, wrapping).
    pub(super) active: u32,
    pub(super) addr_index: u16,
    /// Input the handler kept unconsumed.
    pub(super) input: Vec<u8>,
    /// Output the socket has not taken yet.
    pub(super) out: OutBuf,
    /// Of the send the backend holds (`HELD`), the bytes sent so far: its
    /// one `postwrite` reports them all once the backend holds none.
    pub(super) sent: usize,
    pub(super) state: S,
}

impl<S: Default> Default for Slot<S> {
    fn default() -> Self {
        Slot {
            generation: 0,
            flags: 0,
            active: 0,
            addr_index: 0,
            input: Vec::new(),
            out: OutBuf::default(),
            sent: 0,
            state: S::default(),
        }
    }
}

impl<S> Slot<S> {
    pub(super) fn is(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub(super) fn is_open(&self) -> bool {
        self.flags & OPEN != 0
    }
}

#[cfg(test)]
mod tests {
    /// Idle connection memory stays within its bound (128 B per idle
    /// connection, measured by `bench`'s mem-probe): the slot is most of it.
    #[test]
    fn an_idle_slot_stays_small() {
        let shared = if cfg!(feature = "bytes") { 8 } else { 0 };
        assert_eq!(std::mem::size_of::<super::Slot<()>>(), 80 + shared);
    }
}
