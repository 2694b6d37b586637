//! The std::net fallback: blocking sockets and threads that produce the same
//! events as the readiness backends, for platforms with neither epoll nor
//! kqueue, and selectable anywhere with [`Backend::Std`](crate::Backend::Std).
//!
//! # How the events are made
//! * Each stream listener has an accept thread that queues accepted streams
//!   (at most [`ACCEPT_QUEUE`]; past that it waits, so the kernel backlog does
//!   the queueing) and posts `Listener` when its queue stops being empty. Each
//!   UDP socket has a receive thread that does the same with datagrams.
//! * Each connection has a reader thread that never consumes input: it waits
//!   with a one-byte `peek` until bytes, end-of-stream or an error are there,
//!   posts `readable`, and sleeps until the loop has read. The loop then reads
//!   once, with a blocking read that returns at once since bytes are waiting;
//!   its next read says `WouldBlock`, and the reader is re-armed when the loop
//!   next polls. Input not yet given to the loop is therefore always still in
//!   the socket, which is what makes detach lossless.
//! * Each connection has a writer thread behind a bounded queue
//!   ([`WRITE_QUEUE`]): `send` copies into the queue, shared buffers
//!   (`Output::write_shared`) too (and says `WouldBlock`
//!   when it is full); the writer sends with blocking writes and posts
//!   `writable` after each send that makes progress. Bytes in the queue or
//!   in the batch being sent are the backend's ([`Driver::held`]): the loop
//!   counts them as queued and sends more only once the writer has
//!   reported them sent
//!   ([`Driver::take_sent`]), so the queue adds nothing to what the loop
//!   bounds (the high-water mark, the loop's budget).
//! * A dial's blocking connect runs on the connection's reader thread before it
//!   starts reading; the outcome is posted as `writable` (and `closed` on failure).
//! * [`Driver::poll`] waits on a condition variable that every thread (and the
//!   notifier) signals.
//!
//! Handlers still run only on the loop's thread: the threads here move bytes
//! and post events, nothing else. A socket's threads share it with the loop
//! (no descriptor is duplicated, so a connection costs one, as elsewhere).
//!
//! # Stopping
//! Where `shutdown` on a socket wakes a thread blocked on it (Linux, see
//! [`SHUTDOWN_WAKES_BLOCKED`]), listeners' threads and connections' readers
//! block with no timeout, and closing or stopping shuts the socket down to
//! wake them. Detaching cannot shut the socket down (it is handed over), so a
//! reader keeps a receive timeout there for `detach` alone: [`SLICE`] after
//! input, doubling with each slice that brings none, up to [`IDLE_SLICE`].
//! Elsewhere every blocking call has a timeout of [`SLICE`], so each thread
//! notices a stop within it, and an accept is woken by connecting to the
//! listener. A writer with nothing to send waits on a condition variable,
//! with no timeout; one blocked sending to a peer that does not read wakes
//! every [`SLICE`] to see whether it is to give up. Closing a connection lets
//! its writer send what is queued, then shuts the socket down; the threads of
//! closed connections are joined as they finish and, at the latest, when the
//! driver is dropped, which stops and joins every thread this backend started.
//!
//! # Costs and limits
//! Two threads per connection (stacks of [`STACK`], of which an idle
//! connection touches about 20 KiB in all, measured on Linux), one per
//! listener. While nothing happens, on Linux: listeners' threads and writers
//! never wake; a reader wakes once per [`IDLE_SLICE`] (after a ramp of
//! 1.5 s), a few microseconds of CPU each: 2,000 idle connections cost about
//! 0.1 s of CPU per 10 s. Elsewhere each reader, and each UDP socket's
//! receive thread, wakes every [`SLICE`] (2,000 idle connections: about
//! 1.5 s of CPU per 10 s on Linux with that slice). `detach` blocks the loop
//! while the writer sends what is queued (at most [`DETACH_FLUSH`]) and while
//! a reader blocked in `peek` notices the stop: within its slice, so at most
//! [`IDLE_SLICE`] on Linux for a connection idle for a while, [`SLICE`]
//! elsewhere. The writer of a closed connection gets [`CLOSE_LINGER`] to send
//! what is queued to a peer that does not read, and [`DRAIN_GRACE`] once the
//! loop stops. Where `shutdown` does not interrupt a blocking connect
//! (everywhere but Linux), a dial still connecting after a [`SLICE`] is
//! checked every [`CONNECT_CHECK`], and its thread ends within that once the
//! connection is closed.

mod hub;
mod link;
mod listener;
mod reader;
mod writer;

use std::io::{self, Read};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use super::{
    Bound, Driver, Event, Lent, OutBuf, SEND_FLAGS, SockFd, Target, Token, fd, prepare_socket,
    set_reset_on_close,
};
use crate::mailbox::Notify;
use crate::stream::{Stream, each_stream};
use crate::sys::{self, DONTWAIT, SHUTDOWN_WAKES_BLOCKED};
use hub::{Hub, Post, StdNotify, lock, spawn, wait, wait_timeout};
use link::{Closed, Dial, Entry, Input, Mode, set_timeouts, sock_ref};
use listener::{Backlog, Listener, ListenerEntry, Queued, accept_side, recv_side};

/// The longest a thread here stays in one blocking call where `shutdown` does
/// not wake it (how soon it notices a stop), and a reader's slice after input.
const SLICE: Duration = Duration::from_millis(100);
/// Bytes a connection's writer queue takes before `write` says `WouldBlock`.
const WRITE_QUEUE: usize = 256 * 1024;
/// The capacity a write queue starts with, so that the replies of a
/// request-response protocol do not grow it message by message.
const QUEUE_START: usize = 16 * 1024;
/// A writer's send buffer larger than this is freed after use.
const KEEP_SEND_BUFFER: usize = 64 * 1024;
/// Accepted connections queued for the loop before the accept thread waits.
const ACCEPT_QUEUE: usize = 128;
/// Datagrams queued for the loop before the receive thread waits.
const UDP_QUEUE: usize = 64;
/// The largest datagram received whole.
const MAX_DATAGRAM: usize = 64 * 1024;
/// How long an accept or receive thread waits after an error before retrying.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// The longest `detach` waits for queued output to be sent.
const DETACH_FLUSH: Duration = Duration::from_secs(10);
/// The longest the driver's drop waits for writers to send what is queued.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// The longest the writer of a closed connection goes on sending what is
/// queued to a peer that does not read, before it gives up.
const CLOSE_LINGER: Duration = Duration::from_secs(30);
/// How often a connect still in progress after its first [`SLICE`] is checked,
/// where `shutdown` cannot wake a blocked one.
const CONNECT_CHECK: Duration = Duration::from_millis(10);
/// The longest slice of a reader that has waited long for input, where
/// `shutdown` wakes it and the slice is only there for `detach`.
const IDLE_SLICE: Duration = Duration::from_millis(1600);
/// Stack size of the threads started here: they only move bytes.
const STACK: usize = 256 * 1024;

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

/// The std::net backend: threads and blocking sockets.
pub(crate) struct StdDriver {
    hub: Arc<Hub>,
    conns: Vec<Option<Entry>>,
    listeners: Vec<Option<ListenerEntry>>,
    /// Connections read since the last poll: their readers are re-armed then.
    rearm: Vec<Token>,
    /// Closed connections whose threads are still to be joined.
    closed: Vec<Closed>,
    /// The events taken from the hub, swapped with its list (no allocation once warm).
    taken: Vec<Post>,
    next_serial: u64,
}

impl StdDriver {
    pub(crate) fn new() -> io::Result<StdDriver> {
        Ok(StdDriver {
            hub: Arc::new(Hub::default()),
            conns: Vec::new(),
            listeners: Vec::new(),
            rearm: Vec::new(),
            closed: Vec::new(),
            taken: Vec::new(),
            next_serial: 0,
        })
    }
}

impl Driver for StdDriver {
    fn notifier(&self) -> io::Result<Box<dyn Notify>> {
        Ok(Box::new(StdNotify(self.hub.clone())))
    }

    fn listen(&mut self, index: usize, socket: Bound) -> io::Result<()> {
        self.unlisten(index);
        let socket = match socket {
            Bound::Tcp(l) => Listener::Tcp(l),
            Bound::Unix(l) => Listener::Unix(l),
            Bound::Udp(u) => Listener::Udp(u),
        };
        let sock = socket.sock();
        sock.set_nonblocking(false)?;
        if !SHUTDOWN_WAKES_BLOCKED {
            // Ends each blocking receive after a slice, where `shutdown`
            // may not wake it (accepts are woken by a connect instead).
            sock.set_read_timeout(Some(SLICE))?;
        }
        if let Listener::Udp(u) = &socket {
            prepare_socket(SockRef::from(u))?;
            sock.set_write_timeout(Some(SLICE))?;
        }
        let backlog = Arc::new(Backlog {
            index,
            hub: self.hub.clone(),
            queued: Mutex::new(Queued::default()),
            cv: Condvar::new(),
        });
        let (b, l) = (backlog.clone(), Arc::new(socket));
        let socket = l.clone();
        let thread = match &*l {
            Listener::Udp(_) => spawn("revio-recv", move || recv_side(b, l))?,
            _ => spawn("revio-accept", move || accept_side(b, l))?,
        };
        if self.listeners.len() <= index {
            self.listeners.resize_with(index + 1, || None);
        }
        self.listeners[index] = Some(ListenerEntry {
            socket,
            backlog,
            thread,
        });
        Ok(())
    }

    fn unlisten(&mut self, index: usize) {
        let Some(entry) = self.listeners.get_mut(index).and_then(Option::take) else {
            return;
        };
        entry.backlog.lock().stop = true;
        entry.backlog.cv.notify_all();
        entry.socket.interrupt();
        let _ = entry.thread.join();
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        self.rearm();
        self.reap();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut posted = lock(&self.hub.posted);
        while posted.events.is_empty() && !posted.wake {
            match deadline {
                None => posted = wait(&self.hub.cv, posted),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    posted = wait_timeout(&self.hub.cv, posted, d - now);
                }
            }
        }
        mem::swap(&mut posted.events, &mut self.taken);
        let wake = mem::take(&mut posted.wake);
        drop(posted);
        if wake {
            events.push(Event::Wake);
        }
        for p in self.taken.drain(..) {
            match p {
                Post::Listener(i) => {
                    if matches!(self.listeners.get(i), Some(Some(_))) {
                        events.push(Event::Listener(i));
                    }
                }
                Post::Conn {
                    token,
                    serial,
                    readable,
                    writable,
                    closed,
                } => {
                    let current = self.conns.get(token).and_then(Option::as_ref);
                    if current.is_some_and(|e| e.link.serial == serial) {
                        events.push(Event::Conn {
                            token,
                            readable,
                            writable,
                            closed,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, listener: usize) -> io::Result<Stream> {
        let Some(Some(entry)) = self.listeners.get(listener) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no such listener"));
        };
        let mut q = entry.backlog.lock();
        let was_full = q.streams.len() >= ACCEPT_QUEUE;
        let next = q.streams.pop_front();
        drop(q);
        if was_full {
            entry.backlog.cv.notify_all();
        }
        next.unwrap_or_else(|| Err(would_block()))
    }

    fn register(&mut self, token: Token, stream: Stream) -> io::Result<()> {
        let sock = sock_ref(&stream);
        sock.set_nonblocking(false)?;
        prepare_socket(sock)?;
        set_timeouts(&stream, Some(SLICE))?;
        self.start(token, stream, None)
    }

    fn connect(&mut self, token: Token, target: &Target) -> io::Result<()> {
        let (stream, addr) = match target {
            Target::Inet(a) => {
                let s = Socket::new(Domain::for_address(*a), Type::STREAM, Some(Protocol::TCP))?;
                (Stream::Tcp(s.into()), SockAddr::from(*a))
            }
            Target::Unix(p) => (sys::unix_stream(sys::unix_stream_socket()?), SockAddr::unix(p)?),
        };
        prepare_socket(sock_ref(&stream))?;
        self.start(token, stream, Some(addr))
    }

    fn connect_result(&mut self, token: Token) -> io::Result<bool> {
        let mut st = self.entry(token)?.link.lock();
        match &mut st.dial {
            Dial::Connected => Ok(true),
            Dial::Pending => Ok(false),
            Dial::Failed(e) => Err(e
                .take()
                .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the dial failed"))),
        }
    }

    fn recv<'a>(&'a mut self, token: Token, space: &'a mut [u8]) -> io::Result<Lent<'a>> {
        let entry = self.entry(token)?;
        let mut st = entry.link.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let n = match &mut st.input {
            Input::Ready => {
                st.input = Input::Taken;
                drop(st);
                self.rearm.push(token);
                let entry = self.entry(token)?;
                // Bytes are waiting and only this thread consumes them: this
                // blocking read returns at once.
                each_stream!(&*entry.stream, s => (&*s).read(space))?
            }
            Input::Eof => 0,
            Input::Failed(e) => match e.take() {
                Some(e) => return Err(e),
                None => 0,
            },
            Input::Connecting | Input::Armed | Input::Taken => return Err(would_block()),
        };
        let sock = self.sock(token);
        Ok(Lent {
            data: &mut space[..n],
            sock,
        })
    }

    fn send(&mut self, token: Token, out: &mut OutBuf) -> io::Result<usize> {
        let link = &self.entry(token)?.link;
        let mut st = link.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.writer_done {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection can no longer send",
            ));
        }
        let n = WRITE_QUEUE.saturating_sub(st.queue.len()).min(out.len());
        if n == 0 {
            return Err(would_block());
        }
        st.held += n;
        let idle = st.queue.is_empty();
        if st.queue.capacity() == 0 {
            st.queue.reserve(n.max(QUEUE_START));
        }
        // The writer thread sends from its own queue: shared pieces are
        // copied into it, run by run, like the rest.
        let mut left = n;
        while left > 0 {
            let run = out.front();
            let m = run.len().min(left);
            st.queue.extend_from_slice(&run[..m]);
            out.consume(m);
            left -= m;
        }
        drop(st);
        if idle {
            link.cv.notify_all();
        }
        Ok(n)
    }

    fn sent_all(&mut self, token: Token) -> io::Result<bool> {
        let Ok(entry) = self.entry(token) else {
            return Ok(true);
        };
        let mut st = entry.link.lock();
        if let Some(e) = st.error.take() {
            // The writer's send failed: the loop learns it here, as it sends
            // nothing more while the writer holds its output.
            return Err(e);
        }
        Ok(st.queue.is_empty() && !st.sending || st.writer_done)
    }

    fn held(&self, token: Token) -> usize {
        self.conns
            .get(token)
            .and_then(Option::as_ref)
            .map_or(0, |e| e.link.lock().held)
    }

    fn take_sent(&mut self, token: Token, _out: &mut OutBuf) -> usize {
        let Some(entry) = self.conns.get(token).and_then(Option::as_ref) else {
            return 0;
        };
        let mut st = entry.link.lock();
        let sent = mem::take(&mut st.sent);
        st.held -= sent;
        sent
    }

    fn set_reading(&mut self, _token: Token, _on: bool) {
        // The reader only peeks: input waits in the socket until the loop reads.
    }

    fn shutdown_write(&mut self, token: Token) -> io::Result<()> {
        let link = &self.entry(token)?.link;
        link.lock().shut_write = true;
        link.cv.notify_all();
        Ok(())
    }

    fn close(&mut self, token: Token, reset: bool) {
        let Some(entry) = self.conns.get_mut(token).and_then(Option::take) else {
            return;
        };
        if reset {
            // The socket closes when its last thread lets go: with a reset,
            // and without sending what the writer still holds.
            set_reset_on_close(sock_ref(&entry.stream));
        }
        let connecting = {
            let mut st = entry.link.lock();
            st.mode = if reset { Mode::Aborting } else { Mode::Closing };
            st.give_up = Some(Instant::now() + CLOSE_LINGER);
            matches!(st.dial, Dial::Pending)
        };
        entry.link.cv.notify_all();
        // Wake the reader now; the writer shuts the rest down once it has
        // sent what is queued. A connect in progress is interrupted.
        let how = if connecting {
            Shutdown::Both
        } else {
            Shutdown::Read
        };
        let _ = entry.stream.shutdown(how);
        self.closed.push(Closed {
            link: entry.link,
            reader: entry.reader,
            writer: entry.writer,
            stream: connecting.then_some(entry.stream),
        });
    }

    fn detach(&mut self, token: Token) -> io::Result<(Stream, Vec<u8>)> {
        let entry = self
            .conns
            .get_mut(token)
            .and_then(Option::take)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket under this token"))?;
        let Entry {
            stream,
            link,
            reader,
            writer,
        } = entry;
        link.set_mode(Mode::Detaching);
        let flushed = link.wait_writer(Instant::now() + DETACH_FLUSH);
        let error = link.lock().error.take();
        // Stops a reader blocked in peek within a slice; peek consumed nothing.
        let closed = Closed {
            link,
            reader,
            writer,
            stream: None,
        };
        closed.abort();
        if let Some(e) = error {
            return Err(e);
        }
        if !flushed {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "queued output was not sent in time to detach",
            ));
        }
        // Both threads are joined: this is the last reference.
        let stream = Arc::try_unwrap(stream)
            .map_err(|_| io::Error::other("the socket is still shared with a backend thread"))?;
        set_timeouts(&stream, None)?;
        // The reader only peeked: everything not lent is still in the socket.
        Ok((stream, Vec::new()))
    }

    fn recv_from<'a>(&'a mut self, listener: usize, buf: &'a mut [u8]) -> io::Result<(Lent<'a>, SocketAddr)> {
        let (_, backlog) = self.udp(listener)?;
        let mut q = backlog.lock();
        let was_full = q.datagrams.len() >= UDP_QUEUE;
        let Some((d, from)) = q.datagrams.pop_front() else {
            return Err(would_block());
        };
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        q.spare.push(d);
        drop(q);
        if was_full {
            backlog.cv.notify_all();
        }
        let lent = Lent {
            data: &mut buf[..n],
            sock: self.listener_sock(listener),
        };
        Ok((lent, from))
    }

    fn send_to(&mut self, listener: usize, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let (u, _) = self.udp(listener)?;
        // A full send buffer drops the datagram rather than blocking the loop
        // (where there is no such flag, Windows, it waits at most a slice).
        SockRef::from(u).send_to_with_flags(buf, &SockAddr::from(to), SEND_FLAGS | DONTWAIT)
    }

    fn sock(&self, token: Token) -> Option<SockFd<'_>> {
        let e = self.conns.get(token)?.as_ref()?;
        Some(each_stream!(&*e.stream, s => fd(s)))
    }

    fn listener_sock(&self, index: usize) -> Option<SockFd<'_>> {
        let e = self.listeners.get(index)?.as_ref()?;
        Some(match &*e.socket {
            Listener::Tcp(l) => fd(l),
            Listener::Unix(l) => fd(l),
            Listener::Udp(u) => fd(u),
        })
    }
}

impl Drop for StdDriver {
    /// Stops and joins every thread this driver started. Writers first get
    /// [`DRAIN_GRACE`] to send what is queued, as closing a socket lets the
    /// kernel send what it holds.
    fn drop(&mut self) {
        for l in 0..self.listeners.len() {
            self.unlisten(l);
        }
        for t in 0..self.conns.len() {
            self.close(t, false);
        }
        let deadline = Instant::now() + DRAIN_GRACE;
        for c in &self.closed {
            c.link.wait_writer(deadline);
        }
        for c in self.closed.drain(..) {
            c.abort();
        }
    }
}
