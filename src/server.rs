//! The thread-safe [`Server`] handle and connection ids.
//!
//! Each loop has a [`Mailbox`]: a short mutex-protected queue of commands from
//! other threads (wake, dial, shutdown) plus the table of live connection ids,
//! and a waker that interrupts the loop's poll. The loop takes the lock once per
//! connection opened or closed and once per batch of commands, never per request.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::addr::{Addr, Address};

/// Identifies one connection for its whole life. Ids are generation-checked: the
/// id of a closed connection never names a later connection that reuses its slot.
///
/// The id also names the loop that owns the connection ([`ConnId::loop_index`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

const GEN_BITS: u32 = 24;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const LIVE: u32 = 1 << 31;
const UDP: u32 = 1 << 30;

impl ConnId {
    pub(crate) fn new(loop_index: usize, slot: u32, generation: u32) -> ConnId {
        ConnId(((loop_index as u64) << 56) | (u64::from(generation & GEN_MASK) << 32) | u64::from(slot))
    }

    /// The index of the loop that owns this connection (0 with a single loop).
    pub fn loop_index(self) -> usize {
        (self.0 >> 56) as usize
    }

    pub(crate) fn slot(self) -> usize {
        self.0 as u32 as usize
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32 & GEN_MASK
    }

    /// The id as a number, e.g. for logs or as a map key.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConnId({}:{}.{})",
            self.loop_index(),
            self.slot(),
            self.generation()
        )
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}.{}", self.loop_index(), self.slot(), self.generation())
    }
}

/// Interrupts a loop's poll from another thread.
pub(crate) trait Notify: Send + Sync {
    fn notify(&self);
}

/// A command from another thread (or from a handler) to a loop.
pub(crate) enum Command {
    Wake(ConnId),
    Close(ConnId),
    Dial {
        id: ConnId,
        address: Address,
        timeout: Option<Duration>,
    },
    /// A connection accepted by another loop, assigned to this one by the
    /// balancing policy (its slot is already allocated under `id`).
    Adopt {
        id: ConnId,
        stream: crate::conn::Stream,
        listener: usize,
    },
    /// A dial's name resolution finished (on a resolver thread).
    Resolved {
        id: ConnId,
        result: io::Result<std::net::SocketAddr>,
    },
    Shutdown,
}

/// The part of a loop that other threads reach.
pub(crate) struct Mailbox {
    inbox: Mutex<Inbox>,
    notify: Box<dyn Notify>,
    /// Live connections of this loop, readable without the lock (for the
    /// least-connections policy).
    live: AtomicUsize,
}

/// Commands waiting for the loop, and the connection-id table.
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) commands: Vec<Command>,
    /// Per slot: LIVE and UDP flags and the 24-bit generation.
    slots: Vec<u32>,
    free: Vec<u32>,
    /// The loop has finished: no command is taken any more.
    pub(crate) stopped: bool,
}

impl Inbox {
    /// Reserves a slot for a new connection and returns its (slot, generation).
    pub(crate) fn alloc(&mut self, udp: bool) -> (u32, u32) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(1);
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        *entry = (*entry & GEN_MASK) | LIVE | if udp { UDP } else { 0 };
        (slot, *entry & GEN_MASK)
    }

    /// Ends a slot's connection: its generation moves on, so old ids go
    /// stale at once. The slot is reused only after [`Inbox::recycle`].
    pub(crate) fn kill(&mut self, slot: usize) {
        let entry = &mut self.slots[slot];
        let next = ((*entry & GEN_MASK) + 1) & GEN_MASK;
        *entry = next.max(1);
    }

    /// Makes killed slots available again. The loop does this between poll
    /// batches, so an event of a closed connection still in the current
    /// batch can never reach a new connection in the same slot.
    pub(crate) fn recycle(&mut self, slots: impl IntoIterator<Item = usize>) {
        self.free.extend(slots.into_iter().map(|s| s as u32));
    }

    /// Kills and recycles at once (for a slot no event can name yet).
    pub(crate) fn release(&mut self, slot: usize) {
        self.kill(slot);
        self.recycle([slot]);
    }

    fn lookup(&self, id: ConnId) -> Option<u32> {
        let e = *self.slots.get(id.slot())?;
        (e & LIVE != 0 && e & GEN_MASK == id.generation()).then_some(e)
    }
}

impl Mailbox {
    pub(crate) fn new(notify: Box<dyn Notify>) -> Mailbox {
        Mailbox {
            inbox: Mutex::new(Inbox::default()),
            notify,
            live: AtomicUsize::new(0),
        }
    }

    /// Reserves a connection id on this loop.
    pub(crate) fn alloc(&self, inbox: &mut Inbox, udp: bool) -> (u32, u32) {
        self.live.fetch_add(1, Ordering::Relaxed);
        inbox.alloc(udp)
    }

    /// Frees a connection id of this loop that no event can name yet.
    pub(crate) fn release(&self, slot: usize) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.lock().release(slot);
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inbox> {
        // A panic while holding this lock cannot leave the inbox inconsistent
        // (every update is a single push or store), so poisoning is ignored.
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a command and interrupts the poll if the queue was empty
    /// (a non-empty queue already has a wake-up on its way).
    pub(crate) fn send(&self, mut inbox: MutexGuard<'_, Inbox>, cmd: Command) {
        let was_empty = inbox.commands.is_empty();
        inbox.commands.push(cmd);
        drop(inbox);
        if was_empty {
            self.notify.notify();
        }
    }
}

pub(crate) struct Shared {
    pub(crate) mailboxes: Vec<Mailbox>,
    pub(crate) addrs: Vec<Addr>,
    pub(crate) stopping: AtomicBool,
    next_dial_loop: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(mailboxes: Vec<Mailbox>, addrs: Vec<Addr>) -> Shared {
        Shared {
            mailboxes,
            addrs,
            stopping: AtomicBool::new(false),
            next_dial_loop: AtomicUsize::new(0),
        }
    }
}

std::thread_local! {
    /// The loop index of the current thread, when it runs a loop.
    pub(crate) static CURRENT_LOOP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// A handle to a running server, cheap to clone and usable from any thread:
/// wake a connection, dial out, shut down, list the bound addresses.
///
/// Handlers receive it in [`Handler::serving`](crate::Handler::serving) and
/// through [`Conn::server`](crate::Conn::server).
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.shared.addrs)
            .field("loops", &self.loops())
            .finish()
    }
}

impl Server {
    /// The addresses actually bound, in the order given to `serve` (port 0 is
    /// replaced by the port the system chose).
    pub fn addrs(&self) -> &[Addr] {
        &self.shared.addrs
    }

    /// The number of event loops.
    pub fn loops(&self) -> usize {
        self.shared.mailboxes.len()
    }

    /// Asks the loop that owns `id` to call [`Handler::woken`](crate::Handler::woken)
    /// for it. Returns whether `id` names a live connection (false for a closed
    /// or stale id, and for a UDP remote, which cannot be woken). Several wakes
    /// may be delivered as one `woken` call; none is lost.
    pub fn wake(&self, id: ConnId) -> bool {
        let Some(mailbox) = self.shared.mailboxes.get(id.loop_index()) else {
            return false;
        };
        let inbox = mailbox.lock();
        if inbox.stopped {
            return false;
        }
        match inbox.lookup(id) {
            Some(e) if e & UDP == 0 => {
                mailbox.send(inbox, Command::Wake(id));
                true
            }
            Some(_) => {
                log::warn!("wake({id}): a UDP remote cannot be woken");
                false
            }
            None => false,
        }
    }

    /// Asks the loop that owns `id` to close it, as [`Action::Close`](crate::Action::Close)
    /// does (queued output is sent first; `closed` fires with no error).
    /// Returns whether `id` names a live connection.
    pub fn close(&self, id: ConnId) -> bool {
        let Some(mailbox) = self.shared.mailboxes.get(id.loop_index()) else {
            return false;
        };
        let inbox = mailbox.lock();
        if inbox.stopped || inbox.lookup(id).is_none() {
            return false;
        }
        mailbox.send(inbox, Command::Close(id));
        true
    }

    /// Whether `id` names a connection that is still open (or still connecting).
    pub fn is_live(&self, id: ConnId) -> bool {
        self.shared
            .mailboxes
            .get(id.loop_index())
            .is_some_and(|m| m.lock().lookup(id).is_some())
    }

    /// Dials `address` (`tcp://host:port`, `host:port` or `unix:///path`) and
    /// returns the new connection's id at once. Name resolution and the connect
    /// never block a loop. When it connects, `opened` fires and the connection
    /// is served like an accepted one; if it fails or `timeout` passes first,
    /// `opened` fires with [`Conn::is_closing`](crate::Conn::is_closing) set and
    /// `closed` follows with the error.
    ///
    /// Called from a loop's thread, the dial goes to that loop; from elsewhere,
    /// loops take turns. Errors: a malformed address, or a UDP address (UDP has
    /// no connections to dial).
    pub fn dial(&self, address: &str, timeout: Option<Duration>) -> io::Result<ConnId> {
        let address: Address = address.parse()?;
        if address.network().is_udp() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("cannot dial {address}: UDP has no connections; bind a udp:// address instead"),
            ));
        }
        let n = self.shared.mailboxes.len();
        let index = CURRENT_LOOP
            .with(|c| c.get())
            .filter(|&i| i < n)
            .unwrap_or_else(|| self.shared.next_dial_loop.fetch_add(1, Ordering::Relaxed) % n);
        let mailbox = &self.shared.mailboxes[index];
        let mut inbox = mailbox.lock();
        if inbox.stopped {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("cannot dial {address}: the server has shut down"),
            ));
        }
        let (slot, generation) = mailbox.alloc(&mut inbox, false);
        let id = ConnId::new(index, slot, generation);
        mailbox.send(inbox, Command::Dial { id, address, timeout });
        Ok(id)
    }

    /// Stops every loop, as [`Action::Shutdown`](crate::Action::Shutdown) does.
    /// Returns at once; `serve` returns once the loops have finished.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for m in &self.shared.mailboxes {
            let inbox = m.lock();
            if !inbox.stopped {
                m.send(inbox, Command::Shutdown);
            }
        }
    }

    /// Whether a shutdown has been asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_generation_checked() {
        let mut inbox = Inbox::default();
        let (s, g) = inbox.alloc(false);
        let old = ConnId::new(3, s, g);
        assert_eq!(old.loop_index(), 3);
        assert!(inbox.lookup(old).is_some());
        inbox.release(s as usize);
        assert!(inbox.lookup(old).is_none());
        let (s2, g2) = inbox.alloc(false);
        assert_eq!(s2, s);
        assert_ne!(g2, g);
        assert!(inbox.lookup(old).is_none());
        assert!(inbox.lookup(ConnId::new(3, s2, g2)).is_some());
    }
}
