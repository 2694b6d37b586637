//! Each loop's mailbox: what other threads (and other loops) reach.
//!
//! It holds the table of connection ids (a generation per slot) and, per slot,
//! the requests made through the [`Server`](crate::Server) handle (wake,
//! close, pause or resume reading) as *marks*: one bit each, set however
//! often it is asked, so the mailbox never holds more than one pending mark
//! per connection and many wakes coalesce into one `woken`. The few
//! commands that carry data (a dial, an accepted connection handed over, a
//! resolved name) each belong to a slot allocated for them, so they are
//! bounded by the number of connections too.
//!
//! The loop takes the lock once per connection opened or closed and once per
//! batch of marks and commands, never per request.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::addr::Address;
use crate::server::{ConnId, MAX_SLOTS};
use crate::stream::Stream;

/// Interrupts a loop's poll from another thread.
pub(crate) trait Notify: Send + Sync {
    fn notify(&self);
}

/// A dialed connection's translator, on its way to the `Translate` layer
/// of the loop that dials (see `Conn::handover`).
pub(crate) type Handover = Box<dyn std::any::Any + Send>;

/// A request that carries data, for a slot already allocated.
pub(crate) enum Command {
    Dial {
        id: ConnId,
        address: Address,
        timeout: Option<Duration>,
        /// The translator the connection starts with (`Server::dial_translated`).
        translator: Option<Handover>,
    },
    /// A connection accepted by another loop, assigned to this one by the
    /// balancing policy.
    Adopt {
        id: ConnId,
        stream: Stream,
        listener: usize,
    },
    /// A dial's name resolution finished (on a resolver thread).
    Resolved {
        id: ConnId,
        result: io::Result<SocketAddr>,
    },
}

// Per-slot flags in the id table.
pub(crate) const LIVE: u8 = 1;
pub(crate) const UDP: u8 = 1 << 1;
/// The slot's generations are used up: it is never reused.
const RETIRED: u8 = 1 << 2;
/// Marks: what other threads asked, until the loop takes them.
pub(crate) const WAKE: u8 = 1 << 3;
pub(crate) const CLOSE: u8 = 1 << 4;
pub(crate) const PAUSE: u8 = 1 << 5;
pub(crate) const RESUME: u8 = 1 << 6;
pub(crate) const ABORT: u8 = 1 << 7;
const MARKS: u8 = WAKE | CLOSE | PAUSE | RESUME | ABORT;

/// Marks taken by the loop for one live connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marked {
    pub(crate) id: ConnId,
    pub(crate) marks: u8,
}

/// Commands and marks waiting for the loop, and the connection-id table.
pub(crate) struct Inbox {
    pub(crate) commands: Vec<Command>,
    /// Per slot: its current generation.
    generations: Vec<u32>,
    /// Per slot: LIVE, UDP, RETIRED and the marks.
    flags: Vec<u8>,
    free: Vec<u32>,
    /// Slots with at least one mark, each once.
    marked: Vec<u32>,
    /// The loop has finished: nothing more is taken.
    pub(crate) stopped: bool,
    /// The shutdown asked for has not been taken by the loop yet.
    pub(crate) shutdown: bool,
    /// The generation a new slot starts at (a test hook moves it near the wrap).
    first_generation: u32,
}

impl Inbox {
    fn new(first_generation: u32) -> Inbox {
        Inbox {
            commands: Vec::new(),
            generations: Vec::new(),
            flags: Vec::new(),
            free: Vec::new(),
            marked: Vec::new(),
            stopped: false,
            shutdown: false,
            first_generation,
        }
    }

    /// Reserves a slot for a new connection and returns its (slot,
    /// generation); `None` when the loop already has [`MAX_SLOTS`] slots
    /// (live or retired) and none is free.
    fn alloc(&mut self, udp: bool) -> Option<(u32, u32)> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.generations.len() >= MAX_SLOTS => return None,
            None => {
                self.generations.push(self.first_generation);
                self.flags.push(0);
                (self.generations.len() - 1) as u32
            }
        };
        let i = slot as usize;
        self.flags[i] = LIVE | if udp { UDP } else { 0 };
        Some((slot, self.generations[i]))
    }

    /// Ends a slot's connection: its generation moves on, so old ids go stale
    /// at once (and pending marks are dropped). The slot is reused only after
    /// [`Inbox::recycle`]; a slot whose generation would wrap is retired, so
    /// an old id can never name a new connection.
    fn kill(&mut self, slot: usize) {
        let (g, f) = (&mut self.generations[slot], &mut self.flags[slot]);
        match g.checked_add(1) {
            Some(next) => {
                *g = next;
                *f = 0;
            }
            None => *f = RETIRED,
        }
    }

    /// Makes killed slots available again. The loop does this between poll
    /// batches, so an event of a closed connection still in the current
    /// batch can never reach a new connection in the same slot.
    pub(crate) fn recycle(&mut self, slots: impl IntoIterator<Item = usize>) {
        for s in slots {
            if self.flags[s] & RETIRED == 0 {
                self.free.push(s as u32);
            }
        }
    }

    fn lookup(&self, id: ConnId) -> Option<u8> {
        let i = id.slot();
        let f = *self.flags.get(i)?;
        (f & LIVE != 0 && self.generations[i] == id.generation()).then_some(f)
    }

    /// Sets `mark` on a live connection; returns whether the queue of marked
    /// slots was empty before (the loop then needs waking).
    fn mark(&mut self, id: ConnId, mark: u8) -> Option<bool> {
        let f = self.lookup(id)?;
        let i = id.slot();
        let was_idle = self.marked.is_empty() && self.commands.is_empty();
        if f & MARKS == 0 {
            self.marked.push(i as u32);
        }
        let keep = match mark {
            PAUSE => !RESUME,
            RESUME => !PAUSE,
            _ => !0,
        };
        self.flags[i] = (f & keep) | mark;
        Some(was_idle)
    }

    /// Takes the marks of up to `max` connections into `into`; returns
    /// whether some are left for later.
    pub(crate) fn take_marks(&mut self, loop_index: usize, max: usize, into: &mut Vec<Marked>) -> bool {
        // Oldest first: a connection marked long ago never waits behind
        // newer marks that keep coming.
        let n = self.marked.len().min(max);
        for s in self.marked.drain(..n) {
            let i = s as usize;
            let marks = self.flags[i] & MARKS;
            self.flags[i] &= !MARKS;
            if marks != 0 && self.flags[i] & LIVE != 0 {
                into.push(Marked {
                    id: ConnId::new(loop_index, s, self.generations[i]),
                    marks,
                });
            }
        }
        !self.marked.is_empty()
    }
}

/// The part of a loop that other threads reach.
pub(crate) struct Mailbox {
    inbox: Mutex<Inbox>,
    notify: Box<dyn Notify>,
    /// Live connections of this loop, readable without the lock (for the
    /// least-connections policy).
    live: AtomicUsize,
}

impl Mailbox {
    pub(crate) fn new(notify: Box<dyn Notify>, first_generation: u32) -> Mailbox {
        Mailbox {
            inbox: Mutex::new(Inbox::new(first_generation)),
            notify,
            live: AtomicUsize::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inbox> {
        // A panic while holding this lock cannot leave the inbox inconsistent
        // (every update is a single push or store), so poisoning is ignored.
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a connection id on this loop (`None` once the loop has
    /// stopped, or when it holds as many connections as ids can name).
    pub(crate) fn alloc(&self, inbox: &mut Inbox, udp: bool) -> Option<(u32, u32)> {
        if inbox.stopped {
            return None;
        }
        let id = inbox.alloc(udp);
        if id.is_some() {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        id
    }

    /// Frees a connection id of this loop that no event can name yet.
    pub(crate) fn release(&self, slot: usize) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        let mut inbox = self.lock();
        inbox.kill(slot);
        inbox.recycle([slot]);
    }

    /// Ends a connection's id; its slot is recycled later (see [`Inbox::recycle`]).
    pub(crate) fn kill(&self, slot: usize) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.lock().kill(slot);
    }

    /// The number of live connections (accepted, dialed or UDP remotes).
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether `id` is live; with `stream_only`, UDP remotes count as not.
    pub(crate) fn is_live(&self, id: ConnId, stream_only: bool) -> bool {
        let inbox = self.lock();
        !inbox.stopped && inbox.lookup(id).is_some_and(|f| !stream_only || f & UDP == 0)
    }

    /// Marks a live stream connection (`CLOSE` and `ABORT` may also mark a UDP remote);
    /// returns whether `id` is live.
    pub(crate) fn mark(&self, id: ConnId, mark: u8) -> bool {
        let mut inbox = self.lock();
        if inbox.stopped {
            return false;
        }
        match inbox.lookup(id) {
            Some(f) if f & UDP != 0 && mark & (CLOSE | ABORT) == 0 => false,
            Some(_) => {
                let wake = inbox.mark(id, mark) == Some(true);
                drop(inbox);
                if wake {
                    self.notify.notify();
                }
                true
            }
            None => false,
        }
    }

    /// Queues a command and interrupts the poll if nothing was waiting.
    pub(crate) fn send(&self, mut inbox: MutexGuard<'_, Inbox>, cmd: Command) {
        let was_idle = inbox.commands.is_empty() && inbox.marked.is_empty() && !inbox.shutdown;
        inbox.commands.push(cmd);
        drop(inbox);
        if was_idle {
            self.notify.notify();
        }
    }

    /// Asks the loop to shut down (once).
    pub(crate) fn shutdown(&self) {
        let mut inbox = self.lock();
        if inbox.stopped || inbox.shutdown {
            return;
        }
        inbox.shutdown = true;
        drop(inbox);
        self.notify.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_generation_checked() {
        let mut inbox = Inbox::new(1);
        let (s, g) = inbox.alloc(false).unwrap();
        let old = ConnId::new(3, s, g);
        assert_eq!(old.loop_index(), 3);
        assert!(inbox.lookup(old).is_some());
        inbox.kill(s as usize);
        inbox.recycle([s as usize]);
        assert!(inbox.lookup(old).is_none());
        let (s2, g2) = inbox.alloc(false).unwrap();
        assert_eq!(s2, s);
        assert_ne!(g2, g);
        assert!(inbox.lookup(old).is_none());
        assert!(inbox.lookup(ConnId::new(3, s2, g2)).is_some());
    }

    #[test]
    fn a_slot_whose_generations_run_out_is_retired() {
        let mut inbox = Inbox::new(u32::MAX - 1);
        let (s, g) = inbox.alloc(false).unwrap();
        inbox.kill(s as usize);
        inbox.recycle([s as usize]);
        let (s2, g2) = inbox.alloc(false).unwrap();
        assert_eq!((s2, g2), (s, u32::MAX));
        inbox.kill(s as usize);
        inbox.recycle([s as usize]);
        let (s3, _) = inbox.alloc(false).unwrap();
        assert_ne!(s3, s, "a retired slot is never reused");
        assert!(inbox.lookup(ConnId::new(0, s, g)).is_none());
        assert!(inbox.lookup(ConnId::new(0, s, g2)).is_none());
    }

    #[test]
    fn marks_coalesce_one_entry_per_slot() {
        let mut inbox = Inbox::new(1);
        let (s, g) = inbox.alloc(false).unwrap();
        let id = ConnId::new(0, s, g);
        assert_eq!(inbox.mark(id, WAKE), Some(true));
        for _ in 0..1000 {
            assert_eq!(inbox.mark(id, WAKE), Some(false));
        }
        inbox.mark(id, PAUSE);
        inbox.mark(id, RESUME);
        let mut taken = Vec::new();
        assert!(!inbox.take_marks(0, 16, &mut taken));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].marks, WAKE | RESUME);
    }
}
