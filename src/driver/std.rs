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
//!   ([`WRITE_QUEUE`]): `send` copies into the queue (and says `WouldBlock`
//!   when it is full); the writer sends with blocking writes and posts
//!   `writable` after each batch. Bytes in the queue or in the batch being
//!   sent are the backend's ([`Driver::held`]): the loop counts them as
//!   queued and sends more only once the writer has reported them sent
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
//! Every blocking call has a timeout of [`SLICE`], so each thread notices a
//! stop within it on any platform; `shutdown` on the socket makes that prompt
//! where the system allows (on Linux it wakes a blocked `accept`, `recv` and
//! `connect`). Closing a connection lets its writer send what is queued, then
//! shuts the socket down; the threads of closed connections are joined as they
//! finish and, at the latest, when the driver is dropped, which stops and joins
//! every thread this backend started.
//!
//! # Costs and limits
//! Two threads per connection (small stacks), one per listener; a connection
//! idle for a while costs each of its threads a wake-up per [`SLICE`].
//! `detach` blocks the loop while the writer sends what is queued (at most
//! [`DETACH_FLUSH`]) and while a reader blocked in `peek` notices the stop (at
//! most [`SLICE`]). The writer of a closed connection gets [`CLOSE_LINGER`]
//! to send what is queued to a peer that does not read, and [`DRAIN_GRACE`]
//! once the loop stops. Where `shutdown` does not interrupt a blocking
//! connect (everywhere but Linux), a dial still connecting after a [`SLICE`]
//! is checked every [`CONNECT_CHECK`], and its thread ends within that once
//! the connection is closed.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use super::{
    Bound, Driver, Event, Lent, OutBuf, SEND_FLAGS, SockFd, Target, Token, fd, prepare_socket,
    set_reset_on_close,
};
use crate::mailbox::Notify;
use crate::stream::{Stream, each_stream};
use crate::sys::{self, DONTWAIT, SHUTDOWN_WAKES_BLOCKED, UnixListener, UnixStream};

/// The longest any thread here stays in one blocking call: how soon it notices
/// a stop where `shutdown` does not wake it.
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
/// Stack size of the threads started here: they only move bytes.
const STACK: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or push, so a
    // panicking thread cannot leave the state inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(PoisonError::into_inner)
}

fn wait_timeout<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>, t: Duration) -> MutexGuard<'a, T> {
    cv.wait_timeout(g, t).unwrap_or_else(PoisonError::into_inner).0
}

/// Errors that only mean "nothing yet": a timeout slice ended, or a signal.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(STACK)
        .spawn(f)
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

// ----- the event queue --------------------------------------------------

/// An event posted by a thread, tagged so that events of a closed connection
/// never reach a later one under the same token.
#[derive(Debug, Clone, Copy)]
enum Post {
    Listener(usize),
    Conn {
        token: Token,
        serial: u64,
        readable: bool,
        writable: bool,
        closed: bool,
    },
}

#[derive(Default)]
struct Posted {
    events: Vec<Post>,
    wake: bool,
}

/// Where every thread of one driver posts, and where `poll` waits.
#[derive(Default)]
struct Hub {
    posted: Mutex<Posted>,
    cv: Condvar,
}

impl Hub {
    fn post(&self, p: Post) {
        lock(&self.posted).events.push(p);
        self.cv.notify_one();
    }
}

struct StdNotify(Arc<Hub>);

impl Notify for StdNotify {
    fn notify(&self) {
        lock(&self.0.posted).wake = true;
        self.0.cv.notify_one();
    }
}

// ----- connections --------------------------------------------------------

/// What the connection's threads are to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    /// Send what is queued, shut the socket down, stop.
    Closing,
    /// Send what is queued, stop, leave the socket as it is.
    Detaching,
    /// Stop now.
    Aborting,
}

/// The input side, as the reader thread and the loop see it.
#[derive(Debug)]
enum Input {
    /// A dial not yet connected: nothing to read.
    Connecting,
    /// The reader is (about to be) waiting for bytes.
    Armed,
    /// Bytes are waiting in the socket: the loop may read once.
    Ready,
    /// The loop has read since the last report; re-armed at the next poll.
    Taken,
    /// The peer finished sending.
    Eof,
    /// Reading failed; the error is given to the loop's next read.
    Failed(Option<io::Error>),
}

#[derive(Debug)]
enum Dial {
    /// Accepted, or a dial that has connected.
    Connected,
    Pending,
    Failed(Option<io::Error>),
}

struct LinkState {
    mode: Mode,
    input: Input,
    dial: Dial,
    /// Output the writer has yet to send.
    queue: Vec<u8>,
    /// Bytes taken by `send` and not yet reported sent through `take_sent`.
    held: usize,
    /// Of those, bytes the writer has sent (given to the kernel).
    sent: usize,
    /// A send failed: the error, for the loop's next read or write.
    error: Option<io::Error>,
    /// The writer has stopped; nothing more can be sent.
    writer_done: bool,
    /// Once closed: when the writer gives up on output the peer does not take.
    give_up: Option<Instant>,
    /// Shut the writing side down once the queue is sent (a half-close).
    shut_write: bool,
    /// The writer is sending a batch taken from the queue.
    sending: bool,
}

/// What a connection's loop side and its two threads share.
struct Link {
    token: Token,
    serial: u64,
    hub: Arc<Hub>,
    state: Mutex<LinkState>,
    /// Signalled on every change of `state` that a thread may wait for.
    cv: Condvar,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        lock(&self.state)
    }

    fn post(&self, readable: bool, writable: bool, closed: bool) {
        self.hub.post(Post::Conn {
            token: self.token,
            serial: self.serial,
            readable,
            writable,
            closed,
        });
    }

    fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
        self.cv.notify_all();
    }

    /// Waits until the writer has stopped or `deadline` passes; returns whether it stopped.
    fn wait_writer(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        while !st.writer_done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = wait_timeout(&self.cv, st, deadline - now);
        }
        true
    }
}

fn sock_ref(s: &Stream) -> SockRef<'_> {
    each_stream!(s, s => SockRef::from(s))
}

fn set_timeouts(s: &Stream, t: Option<Duration>) -> io::Result<()> {
    let sock = sock_ref(s);
    sock.set_read_timeout(t)?;
    sock.set_write_timeout(t)
}

/// The reader thread: connects first if this is a dial, then reports input
/// without consuming it (see the module docs).
fn read_side(link: Arc<Link>, sock: Arc<Stream>, dial: Option<SockAddr>) {
    if let Some(addr) = dial {
        // SO_SNDTIMEO would cut a blocking connect short on Linux: it is set
        // only once connected.
        let r = connect(&link, sock_ref(&sock), &addr).and_then(|()| set_timeouts(&sock, Some(SLICE)));
        let mut st = link.lock();
        if st.mode != Mode::Running {
            return;
        }
        let failed = match r {
            Ok(()) => {
                st.dial = Dial::Connected;
                st.input = Input::Armed;
                false
            }
            Err(e) => {
                st.dial = Dial::Failed(Some(e));
                true
            }
        };
        drop(st);
        link.post(false, true, failed);
        if failed {
            return;
        }
    }
    let mut probe = [MaybeUninit::<u8>::uninit(); 1];
    loop {
        let mut st = link.lock();
        loop {
            if st.mode != Mode::Running {
                return;
            }
            if matches!(st.input, Input::Armed) {
                break;
            }
            st = wait(&link.cv, st);
        }
        drop(st);
        let r = sock_ref(&sock).peek(&mut probe);
        let mut st = link.lock();
        if st.mode != Mode::Running {
            return;
        }
        let end = match r {
            Ok(0) => {
                st.input = Input::Eof;
                true
            }
            Ok(_) => {
                st.input = Input::Ready;
                false
            }
            Err(e) if transient(&e) => continue,
            Err(e) => {
                st.input = Input::Failed(Some(e));
                true
            }
        };
        drop(st);
        link.post(true, false, end);
        if end {
            return;
        }
    }
}

/// Connects a dial's socket: with one blocking call where `shutdown` wakes it
/// (see [`SHUTDOWN_WAKES_BLOCKED`]). Elsewhere a blocked connect that the
/// loop has given up on would hold the thread until the system gives up too
/// (minutes): there it waits in `poll` or `select` for a [`SLICE`] (most
/// connects need less), then checks every [`CONNECT_CHECK`] until it ends or
/// the connection is closed.
fn connect(link: &Link, sock: SockRef<'_>, addr: &SockAddr) -> io::Result<()> {
    if SHUTDOWN_WAKES_BLOCKED {
        return sock.connect(addr);
    }
    match sock.connect_timeout(addr, SLICE) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
        r => return r,
    }
    while link.lock().mode == Mode::Running {
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        if sock.peer_addr().is_ok() {
            return Ok(());
        }
        thread::sleep(CONNECT_CHECK);
    }
    // Closed meanwhile: the caller drops this.
    Err(io::Error::from(io::ErrorKind::Interrupted))
}

/// Sends all of `buf`, reporting each step's progress to the loop (as
/// `sent`, with `writable`); `Ok(false)` if told to abort, or given up, first.
fn send_all(link: &Link, sock: &Stream, mut buf: &[u8]) -> io::Result<bool> {
    let s = sock_ref(sock);
    while !buf.is_empty() {
        match s.send_with_flags(buf, SEND_FLAGS) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                buf = &buf[n..];
                let mut st = link.lock();
                st.sent += n;
                st.sending = !buf.is_empty();
                drop(st);
                // The loop waits for this to hear of the progress (`take_sent`).
                link.post(false, true, false);
            }
            Err(e) if transient(&e) => {
                let st = link.lock();
                if st.mode == Mode::Aborting || st.give_up.is_some_and(|t| Instant::now() >= t) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// How a writer thread ends.
enum End {
    /// Everything sent: end the stream (a FIN).
    Shut,
    /// Leave the socket as it is (detached, or already broken).
    Leave,
    /// Output was cut: the peer must see a reset, never a clean end.
    Cut,
}

/// The writer thread: sends what `send` queued, in order.
fn write_side(link: Arc<Link>, sock: Arc<Stream>) {
    let mut sending = Vec::new();
    let end = loop {
        let mut st = link.lock();
        let stop = loop {
            if st.mode == Mode::Aborting {
                break Some(if st.queue.is_empty() { End::Leave } else { End::Cut });
            }
            if !st.queue.is_empty() {
                // The emptied buffer goes back as the queue: no allocation once warm.
                mem::swap(&mut st.queue, &mut sending);
                st.sending = true;
                break None;
            }
            if st.mode != Mode::Running {
                break Some(if st.mode == Mode::Closing {
                    End::Shut
                } else {
                    End::Leave
                });
            }
            if mem::take(&mut st.shut_write) {
                // Everything written before the half-close is sent: end the stream.
                let _ = sock_ref(&sock).shutdown(Shutdown::Write);
                continue;
            }
            st = wait(&link.cv, st);
        };
        drop(st);
        if let Some(end) = stop {
            break end;
        }
        match send_all(&link, &sock, &sending) {
            Ok(true) => {}
            Ok(false) => break End::Cut,
            Err(e) => {
                let mut st = link.lock();
                st.error = Some(e);
                st.queue = Vec::new();
                st.sending = false;
                drop(st);
                link.post(true, true, true);
                break End::Leave;
            }
        }
        sending.clear();
        if sending.capacity() > KEEP_SEND_BUFFER {
            sending = Vec::new();
        }
    };
    match end {
        // End-of-stream for the peer, and wakes a reader blocked in peek.
        End::Shut => {
            let _ = sock_ref(&sock).shutdown(Shutdown::Both);
        }
        End::Cut => set_reset_on_close(sock_ref(&sock)),
        End::Leave => {}
    }
    drop(sock);
    let mut st = link.lock();
    st.writer_done = true;
    st.sending = false;
    drop(st);
    link.cv.notify_all();
}

/// A connection as the loop's side of the driver holds it.
struct Entry {
    /// The socket, shared with the two threads (no descriptor is duplicated):
    /// the loop reads, sets options and detaches through it.
    stream: Arc<Stream>,
    link: Arc<Link>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// A closed connection whose threads may still be finishing.
struct Closed {
    link: Arc<Link>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    /// Kept for a dial closed while connecting, to interrupt the connect again.
    stream: Option<Arc<Stream>>,
}

impl Closed {
    fn finished(&self) -> bool {
        self.reader.is_finished() && self.writer.is_finished()
    }

    /// Stops both threads at once and joins them.
    fn abort(self) {
        self.link.set_mode(Mode::Aborting);
        if let Some(s) = &self.stream {
            // The connect may have started after the first shutdown: repeat
            // until the thread is out of it.
            while !self.reader.is_finished() {
                let _ = s.shutdown(Shutdown::Both);
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.reader.join();
        let _ = self.writer.join();
    }
}

// ----- listeners ----------------------------------------------------------

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
    Udp(UdpSocket),
}

impl Listener {
    fn sock(&self) -> SockRef<'_> {
        match self {
            Listener::Tcp(l) => SockRef::from(l),
            Listener::Unix(l) => SockRef::from(l),
            Listener::Udp(u) => SockRef::from(u),
        }
    }

    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => Ok(Stream::Tcp(l.accept()?.0)),
            Listener::Unix(l) => Ok(sys::unix_stream(l.accept()?.0)),
            Listener::Udp(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream listener",
            )),
        }
    }

    /// Wakes the listener's thread out of a blocking accept or receive.
    fn interrupt(&self) {
        // On Linux this wakes a blocked accept or recv (returning an error for
        // an unconnected UDP socket, which is expected).
        let _ = self.sock().shutdown(Shutdown::Both);
        if SHUTDOWN_WAKES_BLOCKED {
            return;
        }
        // Elsewhere a blocked accept may sleep through shutdown, and accept
        // has no timeout: connect to ourselves. Receives end with their slice.
        match self {
            Listener::Tcp(l) => {
                if let Ok(mut a) = l.local_addr() {
                    if a.ip().is_unspecified() {
                        a.set_ip(match a.ip() {
                            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                        });
                    }
                    let _ = TcpStream::connect_timeout(&a, SLICE);
                }
            }
            Listener::Unix(l) => {
                if let Some(p) = SockRef::from(l)
                    .local_addr()
                    .ok()
                    .and_then(|a| sys::unix_path(&a))
                {
                    let _ = UnixStream::connect(p);
                }
            }
            Listener::Udp(_) => {}
        }
    }
}

#[derive(Default)]
struct Queued {
    stop: bool,
    streams: VecDeque<io::Result<Stream>>,
    /// Datagrams: bytes (in a buffer of their own size) and sender.
    datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Emptied datagram buffers, for reuse.
    spare: Vec<Vec<u8>>,
}

/// What a listener's thread and the loop share.
struct Backlog {
    index: usize,
    hub: Arc<Hub>,
    queued: Mutex<Queued>,
    cv: Condvar,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        lock(&self.queued)
    }

    /// Waits while the queue is full; returns the lock, or `None` once stopped.
    fn room(&self, full: impl Fn(&Queued) -> bool) -> Option<MutexGuard<'_, Queued>> {
        let mut q = self.lock();
        while !q.stop && full(&q) {
            q = wait(&self.cv, q);
        }
        (!q.stop).then_some(q)
    }

    /// Sleeps for `t` unless stopped first.
    fn back_off(&self, t: Duration) {
        let q = self.lock();
        if !q.stop {
            drop(wait_timeout(&self.cv, q, t));
        }
    }
}

fn accept_side(backlog: Arc<Backlog>, listener: Arc<Listener>) {
    loop {
        if backlog.room(|q| q.streams.len() >= ACCEPT_QUEUE).is_none() {
            return;
        }
        let r = listener.accept();
        let mut q = backlog.lock();
        if q.stop {
            return;
        }
        if r.as_ref().is_err_and(transient) {
            continue;
        }
        // Errors go to the loop too: it decides to pause (EMFILE) or go on.
        let failed = r.is_err();
        let was_empty = q.streams.is_empty();
        q.streams.push_back(r);
        drop(q);
        if was_empty {
            backlog.hub.post(Post::Listener(backlog.index));
        }
        if failed {
            backlog.back_off(ERROR_BACKOFF);
        }
    }
}

fn recv_side(backlog: Arc<Backlog>, listener: Arc<Listener>) {
    let Listener::Udp(socket) = &*listener else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        if backlog.room(|q| q.datagrams.len() >= UDP_QUEUE).is_none() {
            return;
        }
        let r = socket.recv_from(&mut buf);
        let mut q = backlog.lock();
        if q.stop {
            return;
        }
        match r {
            Ok((n, from)) => {
                let mut d = q.spare.pop().unwrap_or_default();
                d.clear();
                d.extend_from_slice(&buf[..n]);
                let was_empty = q.datagrams.is_empty();
                q.datagrams.push_back((d, from));
                drop(q);
                if was_empty {
                    backlog.hub.post(Post::Listener(backlog.index));
                }
            }
            Err(e) if transient(&e) => {}
            Err(e) => {
                drop(q);
                log::debug!("revio: UDP receive on listener {}: {e}", backlog.index);
                backlog.back_off(ERROR_BACKOFF);
            }
        }
    }
}

struct ListenerEntry {
    /// Shared with the listener's thread.
    socket: Arc<Listener>,
    backlog: Arc<Backlog>,
    thread: JoinHandle<()>,
}

// ----- the driver ---------------------------------------------------------

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

    fn entry(&self, token: Token) -> io::Result<&Entry> {
        self.conns
            .get(token)
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket under this token"))
    }

    fn udp(&self, index: usize) -> io::Result<(&UdpSocket, &Backlog)> {
        match self.listeners.get(index) {
            Some(Some(ListenerEntry { socket, backlog, .. })) => match &**socket {
                Listener::Udp(u) => Ok((u, backlog)),
                _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener")),
            },
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a UDP listener")),
        }
    }

    /// Starts the reader and writer threads of a connection under `token`.
    fn start(&mut self, token: Token, stream: Stream, dial: Option<SockAddr>) -> io::Result<()> {
        self.close(token, false);
        self.next_serial += 1;
        let link = Arc::new(Link {
            token,
            serial: self.next_serial,
            hub: self.hub.clone(),
            state: Mutex::new(LinkState {
                mode: Mode::Running,
                input: if dial.is_some() {
                    Input::Connecting
                } else {
                    Input::Armed
                },
                dial: if dial.is_some() {
                    Dial::Pending
                } else {
                    Dial::Connected
                },
                queue: Vec::new(),
                held: 0,
                sent: 0,
                error: None,
                writer_done: false,
                give_up: None,
                shut_write: false,
                sending: false,
            }),
            cv: Condvar::new(),
        });
        let stream = Arc::new(stream);
        let (rs, ws) = (stream.clone(), stream.clone());
        let l = link.clone();
        let name = if dial.is_some() {
            "revio-dial"
        } else {
            "revio-read"
        };
        let reader = spawn(name, move || read_side(l, rs, dial))?;
        let l = link.clone();
        let writer = match spawn("revio-write", move || write_side(l, ws)) {
            Ok(w) => w,
            Err(e) => {
                link.set_mode(Mode::Aborting);
                let _ = stream.shutdown(Shutdown::Both);
                let _ = reader.join();
                return Err(e);
            }
        };
        if self.conns.len() <= token {
            self.conns.resize_with(token + 1, || None);
        }
        self.conns[token] = Some(Entry {
            stream,
            link,
            reader,
            writer,
        });
        Ok(())
    }

    /// Re-arms the readers of connections the loop has read from.
    fn rearm(&mut self) {
        for t in self.rearm.drain(..) {
            if let Some(Some(e)) = self.conns.get(t) {
                let mut st = e.link.lock();
                if matches!(st.input, Input::Taken) {
                    st.input = Input::Armed;
                    drop(st);
                    e.link.cv.notify_all();
                }
            }
        }
    }

    /// Joins the threads of closed connections that have finished.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.closed.len() {
            if self.closed[i].finished() {
                self.closed.swap_remove(i).abort();
            } else {
                i += 1;
            }
        }
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
        // Ends each blocking accept (on Linux) and receive after a slice.
        sock.set_read_timeout(Some(SLICE))?;
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
        let buf = out.unsent();
        let n = WRITE_QUEUE.saturating_sub(st.queue.len()).min(buf.len());
        if n == 0 {
            return Err(would_block());
        }
        st.held += n;
        let idle = st.queue.is_empty();
        if st.queue.capacity() == 0 {
            st.queue.reserve(n.max(QUEUE_START));
        }
        st.queue.extend_from_slice(&buf[..n]);
        drop(st);
        if idle {
            link.cv.notify_all();
        }
        out.consume(n);
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

    fn take_sent(&mut self, token: Token) -> usize {
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
