//! The thread-safe [`Server`] handle and connection ids.
//!
//! Each loop has a [`Mailbox`](crate::mailbox::Mailbox) that the handle
//! reaches: wakes, closes and pauses are marks on the connection's slot
//! (bounded: one pending mark of each kind per connection), dials carry their
//! address in a command for a slot allocated at once.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::addr::{Addr, Address};
use crate::mailbox::{ABORT, CLOSE, Command, Mailbox, PAUSE, RESUME, WAKE};

/// Identifies one connection for its whole life. Ids are generation-checked: the
/// id of a closed connection never names a later connection, however often its
/// slot is reused (each slot has 2^32 generations, and a slot whose
/// generations run out is retired, never reused).
///
/// The id also names the loop that owns the connection ([`ConnId::loop_index`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// Bits of the slot number: a loop holds at most 2^24 connections at once.
const SLOT_BITS: u32 = 24;
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;

impl ConnId {
    pub(crate) fn new(loop_index: usize, slot: u32, generation: u32) -> ConnId {
        debug_assert!((slot as usize) < MAX_SLOTS);
        ConnId(((loop_index as u64) << 56) | (u64::from(generation) << SLOT_BITS) | u64::from(slot))
    }

    /// The index of the loop that owns this connection (0 with a single loop).
    pub fn loop_index(self) -> usize {
        (self.0 >> 56) as usize
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 & (MAX_SLOTS as u64 - 1)) as usize
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> SLOT_BITS) as u32
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

pub(crate) struct Shared {
    pub(crate) mailboxes: Vec<Mailbox>,
    pub(crate) addrs: Vec<Addr>,
    pub(crate) backend: crate::Backend,
    pub(crate) stopping: AtomicBool,
    next_dial_loop: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(mailboxes: Vec<Mailbox>, addrs: Vec<Addr>, backend: crate::Backend) -> Shared {
        Shared {
            mailboxes,
            addrs,
            backend,
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
/// wake a connection, close it, pause or resume its reading, dial out, shut
/// down, list the bound addresses.
///
/// Handlers receive it in [`Handler::serving`](crate::Handler::serving) and
/// through [`Conn::server`](crate::Conn::server).
///
/// Slow work belongs on another thread; the handle brings its result back
/// to the loop:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use revio::{Action, Conn, Handler, Server};
///
/// /// Answers each request after "slow work" done on another thread.
/// #[derive(Default)]
/// struct Offload {
///     done: Arc<Mutex<Vec<(revio::ConnId, String)>>>,
/// }
///
/// impl Handler for Offload {
///     type State = ();
///     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         let (id, server, done) = (c.id(), c.server().clone(), self.done.clone());
///         let request = String::from_utf8_lossy(input).into_owned();
///         std::thread::spawn(move || {
///             let answer = request.to_uppercase(); // the slow part
///             done.lock().unwrap().push((id, answer));
///             server.wake(id); // false if the client has gone meanwhile
///         });
///         Action::None
///     }
///     fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
///         let me = c.id();
///         let mut done = self.done.lock().unwrap();
///         for (_, answer) in done.iter().filter(|(id, _)| *id == me) {
///             c.write(answer.as_bytes());
///         }
///         done.retain(|(id, _)| *id != me);
///         Action::None
///     }
/// }
/// ```
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

    /// The backend the loops run on: never [`Backend::Auto`](crate::Backend::Auto),
    /// which is decided at start (see there).
    pub fn backend(&self) -> crate::Backend {
        self.shared.backend
    }

    /// The number of event loops.
    pub fn loops(&self) -> usize {
        self.shared.mailboxes.len()
    }

    fn mailbox(&self, id: ConnId) -> Option<&Mailbox> {
        self.shared.mailboxes.get(id.loop_index())
    }

    /// Asks the loop that owns `id` to call [`Handler::woken`](crate::Handler::woken)
    /// for it. Returns whether `id` names a live connection (false for a closed
    /// or stale id, for a UDP remote, which cannot be woken, and once the
    /// server has stopped). Wakes coalesce: however many come before the loop
    /// gets to them, the connection gets one `woken` call (at most one per
    /// loop turn), and none is lost. A wake costs no memory of its own.
    pub fn wake(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.mark(id, WAKE))
    }

    /// Asks the loop that owns `id` to close it, as [`Action::Close`](crate::Action::Close)
    /// does (queued output is sent first; `closed` fires with no error).
    /// Returns whether `id` names a live connection.
    pub fn close(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.mark(id, CLOSE))
    }

    /// Asks the loop that owns `id` to abort it, as [`Action::Abort`](crate::Action::Abort)
    /// does: queued output is dropped, the peer is reset, and `closed` fires
    /// with an [`Error::Aborted`](crate::Error::Aborted) (a dial still
    /// connecting fails with it). Returns whether `id` names a live
    /// connection. If the connection closes by itself before its loop gets
    /// to the request, it closes as it would have.
    pub fn abort(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.mark(id, ABORT))
    }

    /// Pauses reading on connection `id`, as [`Conn::pause_reading`](crate::Conn::pause_reading)
    /// does, from any thread or from another connection's handler. Takes
    /// effect when its loop next runs. Returns whether `id` names a live
    /// stream connection.
    pub fn pause_reading(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.mark(id, PAUSE))
    }

    /// Resumes reading on connection `id` (see [`Server::pause_reading`]).
    /// Returns whether `id` names a live stream connection.
    pub fn resume_reading(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.mark(id, RESUME))
    }

    /// Whether `id` names a connection that is still open (or still
    /// connecting). It stays true while its `closed` runs (the socket is
    /// still open then, for its addresses), and is false once that returns;
    /// after [`Action::Detach`](crate::Action::Detach) it is false as soon as
    /// the connection has left the loop, already when
    /// [`Handler::detached`](crate::Handler::detached) is called. False once
    /// its loop has stopped.
    pub fn is_live(&self, id: ConnId) -> bool {
        self.mailbox(id).is_some_and(|m| m.is_live(id, false))
    }

    /// Dials `address` (`tcp://host:port`, `host:port` or `unix:///path`) and
    /// returns the new connection's id at once. Name resolution and the connect
    /// never block a loop. When it connects, `opened` fires and the connection
    /// is served like an accepted one; if it fails or `timeout` passes first,
    /// `opened` fires with [`Conn::is_closing`](crate::Conn::is_closing) set and
    /// `closed` follows with the error.
    ///
    /// Called from a loop's thread, the dial goes to that loop; from elsewhere,
    /// loops take turns. Errors: a malformed address, a UDP address (UDP has
    /// no connections to dial), or a server that has stopped.
    pub fn dial(&self, address: &str, timeout: Option<Duration>) -> io::Result<ConnId> {
        self.dial_with(address, timeout, None)
    }

    /// Dials `address` as [`Server::dial`] does, and passes the new
    /// connection's bytes through `translator` from its first byte: the
    /// handler must be a [`Translate`](crate::Translate) over translators of
    /// type `T`, which uses this one for the connection, whatever its
    /// factory and predicate say. The translator's
    /// [`start`](crate::Translator::start) says its first words (a TLS
    /// client's hello) when the connection opens; its handshake timeout
    /// starts then too. If the handler takes no translator of type `T`, the
    /// connection is closed after `opened` (what it wrote is not sent) with an
    /// [`io::ErrorKind::Unsupported`] error in `closed`: the peer expects a
    /// translated stream. `Server::dial_tls`
    /// (feature `tls`) makes the translator for TLS.
    pub fn dial_translated<T>(
        &self,
        address: &str,
        timeout: Option<Duration>,
        translator: T,
    ) -> io::Result<ConnId>
    where
        T: crate::Translator + Send + 'static,
    {
        self.dial_with(address, timeout, Some(Box::new(translator)))
    }

    fn dial_with(
        &self,
        address: &str,
        timeout: Option<Duration>,
        translator: Option<crate::mailbox::Handover>,
    ) -> io::Result<ConnId> {
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
        let Some((slot, generation)) = mailbox.alloc(&mut inbox, false) else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "cannot dial {address}: the server has shut down, or this loop holds as many connections as it can name"
                ),
            ));
        };
        let id = ConnId::new(index, slot, generation);
        mailbox.send(
            inbox,
            Command::Dial {
                id,
                address,
                timeout,
                translator,
            },
        );
        Ok(id)
    }

    /// Shuts the server down gracefully, as [`Action::Shutdown`](crate::Action::Shutdown)
    /// does (see there for the sequence). Returns at once; `serve` returns
    /// once every loop has finished.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for m in &self.shared.mailboxes {
            m.shutdown();
        }
    }

    /// Whether a shutdown has been asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }
}
