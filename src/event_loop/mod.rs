//! The event loop: one thread, one backend, one handler. It owns the
//! connection table and the buffers, turns backend events into handler calls,
//! and sends what the handlers wrote.
//!
//! Data flows one way: the backend reports readiness, the loop reads into its
//! one shared read buffer, calls the handler with a borrowed slice, and writes
//! the handler's output straight from a shared output buffer. A connection
//! holds a buffer of its own only while it has unconsumed input or output the
//! socket would not take (then reading pauses above the high-water mark).

pub(crate) mod bind;
mod buffers;

use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::addr::{Address, Network};
use crate::config::Balance;
use crate::conn::{Conn, Detached, Endpoint, Stream};
use crate::driver::{Driver, Event, Target, Token};
use crate::events::{Action, Handler};
use crate::server::{CURRENT_LOOP, Command, ConnId, Mailbox, Server};
use buffers::Pool;

// Slot flags.
const OPEN: u16 = 1;
const TCP: u16 = 1 << 1;
const UNIX: u16 = 1 << 2;
const UDP: u16 = 1 << 3;
/// A dial not yet connected.
const CONNECTING: u16 = 1 << 4;
/// A write hit `WouldBlock`: wait for the writable edge.
const BLOCKED: u16 = 1 << 5;
const CLOSE_AFTER_FLUSH: u16 = 1 << 6;
const DETACH_AFTER_FLUSH: u16 = 1 << 7;
/// Queued output is above the high-water mark: reading waits.
const READ_PAUSED: u16 = 1 << 8;
const WAKE_AFTER_OPEN: u16 = 1 << 9;
/// The peer finished sending.
const EOF_SEEN: u16 = 1 << 10;

const DIALED: u16 = u16::MAX;
/// The page size the read buffer's placement assumes (see `place_inbuf`).
const PAGE: usize = 4096;
/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Limits and sizes a loop runs with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) read_buffer: usize,
    pub(crate) max_input: usize,
    pub(crate) high_water: usize,
}

/// How a loop's listeners are set up and their connections spread.
#[derive(Debug, Clone)]
pub(crate) struct Listening {
    pub(crate) networks: Vec<Network>,
    pub(crate) balanced: Vec<bool>,
    pub(crate) balance: Balance,
}

/// One connection's entry in the table. Idle, it holds no buffer: with
/// `State = ()` it is 64 bytes.
struct Slot<S> {
    generation: u32,
    flags: u16,
    addr_index: u16,
    input: Vec<u8>,
    /// Output the socket has not taken yet, from `out_head` on. Empty
    /// whenever nothing is queued (invariant: `out_head < output.len()`
    /// or both are 0).
    output: Vec<u8>,
    out_head: usize,
    state: S,
}

impl<S> Slot<S> {
    /// Bytes queued and not yet written.
    fn queued(&self) -> usize {
        self.output.len() - self.out_head
    }
}

impl<S: Default> Default for Slot<S> {
    fn default() -> Self {
        Slot {
            generation: 0,
            flags: 0,
            addr_index: 0,
            input: Vec::new(),
            output: Vec::new(),
            out_head: 0,
            state: S::default(),
        }
    }
}

/// Where a handler call's input comes from.
#[derive(Clone, Copy)]
enum Input {
    None,
    /// The first `n` bytes of the shared read buffer.
    Buf(usize),
    /// The connection's own buffer of unconsumed input.
    Slot,
}

pub(crate) struct Loop<H: Handler, D: Driver> {
    index: usize,
    handler: H,
    driver: D,
    server: Server,
    limits: Limits,
    networks: Vec<Network>,
    /// Per listener: accepted connections are spread by `balance` (the
    /// listener is shared, not one SO_REUSEPORT socket per loop).
    balanced: Vec<bool>,
    balance: Balance,
    rr: usize,
    rng: u64,
    accept_paused: Vec<bool>,
    conns: Vec<Slot<H::State>>,
    /// The shared read buffer, one page longer than `limits.read_buffer`:
    /// reads land at `in_off` (see [`Loop::place_inbuf`]).
    inbuf: Vec<u8>,
    in_off: usize,
    outbuf: Vec<u8>,
    pool: Pool,
    events: Vec<Event>,
    commands: Vec<Command>,
    next_tick: Option<Instant>,
    accept_retry: Option<Instant>,
    dials: Vec<(Instant, ConnId)>,
    resolvers: Vec<JoinHandle<()>>,
    udp_peers: HashMap<(usize, SocketAddr), Token>,
    udp_of: HashMap<Token, (usize, SocketAddr)>,
    stopping: bool,
    error: Option<io::Error>,
    /// Slots closed during this poll batch, recycled when it is done.
    freed: Vec<usize>,
    /// Errors a wrapping handler closed connections with
    /// ([`Conn::close_error`]), until `closed` reports them. Usually empty.
    close_errors: Vec<(Token, io::Error)>,
}

pub(crate) fn panic_error(p: Box<dyn Any + Send>) -> io::Error {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    io::Error::other(format!("event handler panicked: {msg}"))
}

fn shutdown_before_dial() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "the server shut down before the dial completed",
    )
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(not(unix))]
    return e.kind() == io::ErrorKind::OutOfMemory;
}

impl<H: Handler, D: Driver> Loop<H, D> {
    pub(crate) fn new(
        index: usize,
        handler: H,
        driver: D,
        server: Server,
        listening: Listening,
        limits: Limits,
    ) -> Self {
        let Listening {
            networks,
            balanced,
            balance,
        } = listening;
        let n = networks.len();
        Loop {
            index,
            handler,
            driver,
            server,
            limits,
            networks,
            balanced,
            balance,
            rr: index,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1),
            accept_paused: vec![false; n],
            conns: Vec::new(),
            inbuf: vec![0; limits.read_buffer.max(1) + PAGE],
            in_off: 0,
            outbuf: Vec::with_capacity(limits.read_buffer),
            pool: Pool::new(64, limits.read_buffer.max(1 << 16) * 4),
            events: Vec::with_capacity(1024),
            commands: Vec::new(),
            next_tick: None,
            accept_retry: None,
            dials: Vec::new(),
            resolvers: Vec::new(),
            udp_peers: HashMap::new(),
            udp_of: HashMap::new(),
            stopping: false,
            error: None,
            freed: Vec::new(),
            close_errors: Vec::new(),
        }
    }

    fn mailbox(&self) -> &Mailbox {
        &self.server.shared.mailboxes[self.index]
    }

    /// Runs until shutdown; returns the error that stopped the loop, if any.
    pub(crate) fn run(mut self) -> io::Result<()> {
        CURRENT_LOOP.with(|c| c.set(Some(self.index)));
        let server = self.server.clone();
        match catch_unwind(AssertUnwindSafe(|| self.handler.serving(&server))) {
            Ok(Action::Shutdown) => self.begin_shutdown(),
            Ok(_) => {}
            Err(p) => self.fail(panic_error(p)),
        }
        self.next_tick = Some(Instant::now());
        while !self.stopping {
            self.timers();
            if self.stopping {
                break;
            }
            let timeout = self.poll_timeout();
            let mut events = mem::take(&mut self.events);
            events.clear();
            if let Err(e) = self.driver.poll(&mut events, timeout) {
                self.fail(e);
            }
            for ev in &events {
                if self.stopping {
                    break;
                }
                self.dispatch(*ev);
            }
            self.events = events;
            self.recycle();
        }
        self.finish();
        CURRENT_LOOP.with(|c| c.set(None));
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The part of the read buffer to read into next. It starts half a page
    /// away (modulo the page size) from the output buffer, because a handler
    /// that copies input to output (an echo) otherwise copies between two
    /// addresses a few bytes apart modulo 4 KiB, which makes `rep movsb`
    /// many times slower on some x86 CPUs (4K aliasing). Measured: echo of
    /// 16 KiB messages, 1.75x the messages per CPU-second (bench/results/PERF.md).
    fn place_inbuf(&mut self) -> std::ops::Range<usize> {
        let out = self.outbuf.as_ptr() as usize;
        let inp = self.inbuf.as_ptr() as usize;
        self.in_off = (out.wrapping_add(PAGE / 2)).wrapping_sub(inp) % PAGE;
        self.in_off..self.in_off + self.limits.read_buffer
    }

    /// Makes the slots closed in the last batch reusable.
    fn recycle(&mut self) {
        if !self.freed.is_empty() {
            let mut freed = mem::take(&mut self.freed);
            self.mailbox().lock().recycle(freed.drain(..));
            self.freed = freed;
        }
    }

    fn fail(&mut self, e: io::Error) {
        log::error!("revio loop {}: stopping: {e}", self.index);
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.begin_shutdown();
    }

    fn begin_shutdown(&mut self) {
        self.stopping = true;
        self.server.shutdown();
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let next = [self.next_tick, self.accept_retry]
            .into_iter()
            .flatten()
            .chain(self.dials.iter().map(|d| d.0))
            .min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Wake => self.on_commands(),
            Event::Listener(l) => self.on_listener(l),
            Event::Conn {
                token,
                readable,
                writable,
                closed,
            } => {
                let Some(slot) = self.conns.get(token) else {
                    return;
                };
                if slot.flags & OPEN == 0 || slot.flags & UDP != 0 {
                    return;
                }
                if slot.flags & CONNECTING != 0 {
                    self.finish_dial(token, closed);
                    return;
                }
                if writable {
                    self.on_writable(token);
                }
                if readable || closed {
                    self.on_readable(token, closed);
                }
            }
        }
    }

    // ----- handler calls -------------------------------------------------

    /// Calls a handler method with a view of connection `t`. Returns the
    /// action and how much input the handler kept, or the panic as an error.
    fn call(
        &mut self,
        t: Token,
        input: Input,
        closing: bool,
        f: impl FnOnce(&mut H, &mut Conn<'_, H::State>, &[u8]) -> Action,
    ) -> io::Result<(Action, usize)> {
        let Loop {
            index,
            handler,
            driver,
            server,
            conns,
            inbuf,
            in_off,
            outbuf,
            udp_of,
            close_errors,
            ..
        } = self;
        let slot = &mut conns[t];
        let id = ConnId::new(*index, t as u32, slot.generation);
        let endpoint = if slot.flags & UDP != 0 {
            match udp_of.get(&t) {
                Some(&(l, peer)) => driver
                    .listener_sock(l)
                    .map_or(Endpoint::None, |s| Endpoint::Udp(s, peer)),
                None => Endpoint::None,
            }
        } else {
            match driver.sock(t) {
                Some(s) if slot.flags & TCP != 0 => Endpoint::Tcp(s),
                Some(s) => Endpoint::Unix(s),
                None => Endpoint::None,
            }
        };
        let addr_index = (slot.addr_index != DIALED).then_some(slot.addr_index as usize);
        let Slot {
            input: own_input,
            output,
            state,
            ..
        } = slot;
        let data: &[u8] = match input {
            Input::None => &[],
            Input::Buf(n) => &inbuf[*in_off..*in_off + n],
            Input::Slot => own_input,
        };
        let out = if output.is_empty() { outbuf } else { output };
        let mut conn = Conn {
            id,
            addr_index,
            state,
            out,
            keep: 0,
            input_len: data.len(),
            endpoint,
            server,
            closing,
            close_error: None,
        };
        match catch_unwind(AssertUnwindSafe(|| f(handler, &mut conn, data))) {
            Ok(a) => match conn.close_error.take() {
                // A wrapper (such as Translate) asked to close with an error:
                // its output is flushed first, then `closed` reports it.
                Some(e) => {
                    close_errors.push((t, e));
                    let a = if a == Action::Shutdown { a } else { Action::Close };
                    Ok((a, conn.keep))
                }
                None => Ok((a, conn.keep)),
            },
            Err(p) => Err(panic_error(p)),
        }
    }

    /// Applies an action's flags; the flush and `settle` do the rest.
    fn apply(&mut self, t: Token, action: Action) {
        match action {
            Action::None => {}
            Action::Close => self.conns[t].flags |= CLOSE_AFTER_FLUSH,
            Action::Detach => self.conns[t].flags |= DETACH_AFTER_FLUSH,
            Action::Shutdown => self.begin_shutdown(),
        }
    }

    /// After a handler call on a stream: apply its action, send its output,
    /// and close or detach if that was asked for and everything is sent.
    fn after(&mut self, t: Token, action: Action) {
        self.apply(t, action);
        self.flush(t);
        self.settle(t);
    }

    fn settle(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        if slot.flags & OPEN == 0 {
            return;
        }
        if slot.output.is_empty() {
            if slot.flags & DETACH_AFTER_FLUSH != 0 {
                self.detach(t);
            } else if slot.flags & CLOSE_AFTER_FLUSH != 0 {
                self.close(t, None);
            }
        } else if slot.queued() > self.limits.high_water {
            slot.flags |= READ_PAUSED;
        }
    }

    // ----- reading -------------------------------------------------------

    fn on_readable(&mut self, t: Token, hup: bool) {
        loop {
            let flags = self.conns[t].flags;
            if flags & OPEN == 0
                || flags & (CONNECTING | READ_PAUSED | CLOSE_AFTER_FLUSH | DETACH_AFTER_FLUSH | EOF_SEEN) != 0
            {
                return;
            }
            let range = self.place_inbuf();
            let n = match self.driver.read(t, &mut self.inbuf[range]) {
                Ok(0) => {
                    self.on_eof(t);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.close(t, Some(e));
                    return;
                }
            };
            self.on_data(t, n);
            // A short read drained the socket: the next bytes bring a new edge.
            // After a hang-up there is no next edge, so read on to the end.
            if n < self.limits.read_buffer && !hup {
                return;
            }
        }
    }

    fn on_eof(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        slot.flags |= EOF_SEEN;
        if slot.output.is_empty() {
            self.close(t, None);
        } else {
            // A half-closed peer may still read: send what is queued first.
            slot.flags |= CLOSE_AFTER_FLUSH;
        }
    }

    fn on_data(&mut self, t: Token, n: usize) {
        let slot = &mut self.conns[t];
        let source = if slot.input.is_empty() {
            Input::Buf(n)
        } else {
            slot.input
                .extend_from_slice(&self.inbuf[self.in_off..self.in_off + n]);
            Input::Slot
        };
        let (action, keep) = match self.call(t, source, false, |h, c, d| h.data(c, d)) {
            Ok(r) => r,
            Err(e) => {
                self.outbuf.clear();
                self.close(t, Some(e));
                return;
            }
        };
        let slot = &mut self.conns[t];
        match source {
            Input::Buf(n) if keep > 0 => {
                let mut b = self.pool.take();
                b.extend_from_slice(&self.inbuf[self.in_off + n - keep..self.in_off + n]);
                slot.input = b;
            }
            Input::Slot if keep == 0 => self.pool.give(mem::take(&mut slot.input)),
            Input::Slot => {
                let consumed = slot.input.len() - keep;
                slot.input.drain(..consumed);
            }
            _ => {}
        }
        if slot.input.len() > self.limits.max_input {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes of unconsumed input exceed the limit of {} (Config::max_input)",
                    slot.input.len(),
                    self.limits.max_input
                ),
            );
            self.outbuf.clear();
            self.close(t, Some(e));
            return;
        }
        self.after(t, action);
    }

    // ----- writing -------------------------------------------------------

    /// Sends queued output: one write, with `prewrite` and `postwrite` around
    /// it; anything the socket does not take waits for the writable edge.
    fn flush(&mut self, t: Token) {
        loop {
            let slot = &self.conns[t];
            if slot.flags & OPEN == 0 {
                self.outbuf.clear();
                return;
            }
            if slot.flags & BLOCKED != 0 {
                return;
            }
            let queued = if slot.output.is_empty() {
                self.outbuf.len()
            } else {
                slot.queued()
            };
            if queued == 0 {
                return;
            }
            match self.call(t, Input::None, false, |h, c, _| h.prewrite(c, queued)) {
                Ok((a, _)) => self.apply(t, a),
                Err(e) => {
                    self.outbuf.clear();
                    self.close(t, Some(e));
                    return;
                }
            }
            let slot = &mut self.conns[t];
            let from_outbuf = slot.output.is_empty();
            let buf = if from_outbuf {
                &self.outbuf[..]
            } else {
                &slot.output[slot.out_head..]
            };
            let amount = buf.len();
            let n = match self.driver.write(t, buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.outbuf.clear();
                    self.close(t, Some(e));
                    return;
                }
            };
            if from_outbuf {
                if n < amount {
                    let mut b = self.pool.take();
                    b.extend_from_slice(&self.outbuf[n..]);
                    slot.output = b;
                }
                self.outbuf.clear();
            } else if n == amount {
                slot.out_head = 0;
                self.pool.give(mem::take(&mut slot.output));
            } else {
                // Advance a head instead of moving the rest down on every
                // partial write; compact once the sent part is the larger.
                slot.out_head += n;
                if slot.out_head > slot.output.len() / 2 {
                    slot.output.drain(..slot.out_head);
                    slot.out_head = 0;
                }
            }
            let remaining = amount - n;
            if remaining > 0 {
                slot.flags |= BLOCKED;
            }
            match self.call(t, Input::None, false, |h, c, _| h.postwrite(c, n, remaining)) {
                Ok((a, _)) => self.apply(t, a),
                Err(e) => {
                    self.outbuf.clear();
                    self.close(t, Some(e));
                    return;
                }
            }
            if remaining > 0 {
                return;
            }
            // postwrite may have written more: go round again.
        }
    }

    fn on_writable(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        if slot.flags & BLOCKED == 0 {
            return;
        }
        slot.flags &= !BLOCKED;
        self.flush(t);
        self.settle(t);
        let slot = &mut self.conns[t];
        if slot.flags & (OPEN | READ_PAUSED) == OPEN | READ_PAUSED
            && slot.queued() <= self.limits.high_water / 2
        {
            slot.flags &= !READ_PAUSED;
            // Bytes (or the end of the stream) may have arrived while paused;
            // their edge is long gone, so read until the socket is drained.
            self.on_readable(t, true);
        }
    }

    // ----- opening and closing ------------------------------------------

    fn init_slot(&mut self, t: Token, generation: u32, flags: u16, addr_index: u16) {
        if self.conns.len() <= t {
            self.conns.resize_with(t + 1, Slot::default);
        }
        let slot = &mut self.conns[t];
        slot.generation = generation;
        slot.flags = flags;
        slot.addr_index = addr_index;
    }

    /// Resets a slot after close or detach and frees its id.
    fn free_slot(&mut self, t: Token) {
        if !self.close_errors.is_empty() {
            self.close_errors.retain(|(c, _)| *c != t);
        }
        let slot = &mut self.conns[t];
        slot.flags = 0;
        slot.state = Default::default();
        let input = mem::take(&mut slot.input);
        let output = mem::take(&mut slot.output);
        slot.out_head = 0;
        self.pool.give(input);
        self.pool.give(output);
        self.mailbox().kill(t);
        self.freed.push(t);
        if self.accept_paused.iter().any(|&p| p) {
            // A descriptor just came free: try the paused listeners soon.
            self.accept_retry = Some(Instant::now());
        }
    }

    /// Fires `closed` (the socket still open, so its addresses can be read),
    /// then closes the socket and frees the slot.
    fn close(&mut self, t: Token, error: Option<io::Error>) {
        if self.conns[t].flags & OPEN == 0 {
            return;
        }
        // An error a handler closed with explains the close best: it wins
        // over a write error on the way out.
        let error = self.take_close_error(t).or(error);
        let r = self.call(t, Input::None, false, |h, c, _| {
            h.closed(c, error);
            Action::None
        });
        self.outbuf.clear();
        if self.conns[t].flags & UDP != 0 {
            if let Some(key) = self.udp_of.remove(&t) {
                self.udp_peers.remove(&key);
            }
        } else {
            self.driver.close(t);
        }
        self.free_slot(t);
        if let Err(e) = r {
            self.fail(e);
        }
    }

    fn take_close_error(&mut self, t: Token) -> Option<io::Error> {
        let i = self.close_errors.iter().position(|(c, _)| *c == t)?;
        let (_, e) = self.close_errors.remove(i);
        self.close_errors.retain(|(c, _)| *c != t);
        Some(e)
    }

    fn detach(&mut self, t: Token) {
        match self.driver.detach(t) {
            Ok(stream) => {
                let pending = mem::take(&mut self.conns[t].input);
                let detached = Detached::new(pending, stream);
                let r = self.call(t, Input::None, false, |h, c, _| {
                    h.detached(c, detached);
                    Action::None
                });
                self.outbuf.clear();
                self.free_slot(t);
                if let Err(e) = r {
                    self.fail(e);
                }
            }
            Err(e) => self.close(t, Some(e)),
        }
    }

    fn on_listener(&mut self, l: usize) {
        if self.networks[l].is_udp() {
            self.on_udp(l);
            return;
        }
        if self.accept_paused[l] {
            return;
        }
        while !self.stopping {
            match self.driver.accept(l) {
                Ok(stream) if self.balanced[l] => {
                    let target = self.pick_loop(&stream);
                    if target == self.index {
                        self.open_stream(l, stream);
                    } else {
                        self.hand_over(target, stream, l);
                    }
                }
                Ok(stream) => self.open_stream(l, stream),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset => {}
                    _ => {
                        // Out of descriptors (or worse): back off instead of
                        // spinning; a close or the timer resumes accepting.
                        if is_fd_exhaustion(&e) {
                            log::warn!("revio: accept paused, out of file descriptors: {e}");
                        } else {
                            log::warn!("revio: accept failed, retrying shortly: {e}");
                        }
                        self.accept_paused[l] = true;
                        self.accept_retry = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    fn open_stream(&mut self, l: usize, stream: Stream) {
        let mailbox = self.mailbox();
        let (slot, generation) = mailbox.alloc(&mut mailbox.lock(), false);
        self.adopt(ConnId::new(self.index, slot, generation), stream, l);
    }

    /// Serves an accepted stream under an id already allocated on this loop.
    fn adopt(&mut self, id: ConnId, stream: Stream, l: usize) {
        let kind = match stream {
            Stream::Tcp(_) => TCP,
            #[cfg(unix)]
            Stream::Unix(_) => UNIX,
        };
        let t = id.slot();
        if let Err(e) = self.driver.register(t, stream) {
            log::warn!("revio: could not register an accepted connection: {e}");
            self.mailbox().release(t);
            return;
        }
        self.init_slot(t, id.generation(), OPEN | kind, l as u16);
        self.opened(t);
    }

    /// Picks the loop for a connection accepted on a balanced listener.
    fn pick_loop(&mut self, stream: &Stream) -> usize {
        let n = self.server.shared.mailboxes.len();
        let mut round_robin = || {
            self.rr = (self.rr + 1) % n;
            self.rr
        };
        match self.balance {
            Balance::LeastConnections => (0..n)
                .min_by_key(|&i| (self.server.shared.mailboxes[i].live(), i))
                .unwrap_or(0),
            Balance::Random => {
                // xorshift64: cheap, and good enough to spread connections.
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                (x % n as u64) as usize
            }
            Balance::SourceAddrHash => match stream {
                Stream::Tcp(s) => match s.peer_addr() {
                    Ok(a) => {
                        // FNV-1a over the source IP (not the port): one client
                        // host always lands on one loop.
                        let octets = match a.ip() {
                            std::net::IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
                            std::net::IpAddr::V6(ip) => ip.octets(),
                        };
                        let h = octets.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                        });
                        (h % n as u64) as usize
                    }
                    Err(_) => round_robin(),
                },
                #[cfg(unix)]
                Stream::Unix(_) => round_robin(),
            },
            Balance::RoundRobin | Balance::ReusePort => round_robin(),
        }
    }

    /// Hands an accepted stream to loop `target`.
    fn hand_over(&mut self, target: usize, stream: Stream, l: usize) {
        let mailbox = &self.server.shared.mailboxes[target];
        let mut inbox = mailbox.lock();
        if inbox.stopped {
            // That loop has finished: the connection is closed unserved.
            drop(inbox);
            drop(stream);
            return;
        }
        let (slot, generation) = mailbox.alloc(&mut inbox, false);
        let id = ConnId::new(target, slot, generation);
        mailbox.send(
            inbox,
            Command::Adopt {
                id,
                stream,
                listener: l,
            },
        );
    }

    /// Fires `opened` for a new stream connection and acts on the result.
    fn opened(&mut self, t: Token) {
        match self.call(t, Input::None, false, |h, c, _| h.opened(c)) {
            Ok((a, _)) => self.after(t, a),
            Err(e) => {
                self.outbuf.clear();
                self.close(t, Some(e));
            }
        }
    }

    // ----- commands from other threads ----------------------------------

    fn on_commands(&mut self) {
        let mut commands = mem::take(&mut self.commands);
        mem::swap(&mut self.mailbox().lock().commands, &mut commands);
        for cmd in commands.drain(..) {
            match cmd {
                Command::Wake(id) => self.on_wake(id),
                Command::Close(id) => {
                    if let Some(t) = self.live(id) {
                        if self.conns[t].flags & (CONNECTING | UDP) != 0 {
                            let e = io::Error::new(io::ErrorKind::Interrupted, "closed before connecting");
                            if self.conns[t].flags & UDP != 0 {
                                self.close(t, None);
                            } else {
                                self.dial_failed(t, e);
                            }
                        } else {
                            self.after(t, Action::Close);
                        }
                    }
                }
                Command::Dial { id, address, timeout } => self.start_dial(id, address, timeout),
                Command::Resolved { id, result } => self.on_resolved(id, result),
                Command::Adopt { id, stream, listener } => {
                    if self.stopping {
                        drop(stream);
                        self.mailbox().release(id.slot());
                    } else {
                        self.adopt(id, stream, listener);
                    }
                }
                Command::Shutdown => self.stopping = true,
            }
        }
        self.commands = commands;
    }

    fn live(&self, id: ConnId) -> Option<Token> {
        let t = id.slot();
        let slot = self.conns.get(t)?;
        (slot.flags & OPEN != 0 && slot.generation == id.generation()).then_some(t)
    }

    fn on_wake(&mut self, id: ConnId) {
        let Some(t) = self.live(id) else { return };
        let flags = self.conns[t].flags;
        if flags & CONNECTING != 0 {
            self.conns[t].flags |= WAKE_AFTER_OPEN;
        } else if flags & UDP == 0 {
            self.woken(t);
        }
    }

    fn woken(&mut self, t: Token) {
        match self.call(t, Input::None, false, |h, c, _| h.woken(c)) {
            Ok((a, _)) => self.after(t, a),
            Err(e) => {
                self.outbuf.clear();
                self.close(t, Some(e));
            }
        }
    }

    // ----- dialing --------------------------------------------------------

    fn start_dial(&mut self, id: ConnId, address: Address, timeout: Option<Duration>) {
        let t = id.slot();
        let kind = if address.network() == Network::Unix {
            UNIX
        } else {
            TCP
        };
        self.init_slot(t, id.generation(), OPEN | CONNECTING | kind, DIALED);
        if let Some(d) = timeout {
            self.dials.push((Instant::now() + d, id));
        }
        if address.network() == Network::Unix {
            self.connect(t, Target::Unix(address.target().into()));
        } else if address.target().parse::<SocketAddr>().is_ok() {
            // A literal address resolves without a DNS lookup.
            let r = address.resolve();
            self.on_resolved(id, r);
        } else {
            let server = self.server.clone();
            let index = self.index;
            let spawned = std::thread::Builder::new()
                .name("revio-resolver".into())
                .spawn(move || {
                    let result = address.resolve();
                    let mailbox = &server.shared.mailboxes[index];
                    let inbox = mailbox.lock();
                    mailbox.send(inbox, Command::Resolved { id, result });
                });
            match spawned {
                Ok(h) => self.resolvers.push(h),
                Err(e) => self.dial_failed(t, e),
            }
        }
    }

    fn on_resolved(&mut self, id: ConnId, result: io::Result<SocketAddr>) {
        let Some(t) = self.live(id) else { return };
        if self.conns[t].flags & CONNECTING == 0 {
            return;
        }
        match result {
            Ok(addr) => self.connect(t, Target::Inet(addr)),
            Err(e) => self.dial_failed(t, e),
        }
    }

    fn connect(&mut self, t: Token, target: Target) {
        if let Err(e) = self.driver.connect(t, &target) {
            self.dial_failed(t, e);
        }
    }

    fn finish_dial(&mut self, t: Token, hup: bool) {
        match self.driver.connect_result(t) {
            Ok(true) => {
                let slot = &mut self.conns[t];
                slot.flags &= !CONNECTING;
                let generation = slot.generation;
                let wake = slot.flags & WAKE_AFTER_OPEN != 0;
                slot.flags &= !WAKE_AFTER_OPEN;
                let index = self.index;
                self.dials
                    .retain(|d| d.1 != ConnId::new(index, t as u32, generation));
                self.opened(t);
                if wake && self.conns[t].flags & OPEN != 0 {
                    self.woken(t);
                }
                // Bytes that came with the connect carry no further edge.
                self.on_readable(t, hup);
            }
            Ok(false) => {}
            Err(e) => self.dial_failed(t, e),
        }
    }

    /// A dial that will not connect: `opened` with the closing flag, then
    /// `closed` with the error.
    fn dial_failed(&mut self, t: Token, e: io::Error) {
        let r = self.call(t, Input::None, true, |h, c, _| h.opened(c));
        self.outbuf.clear();
        let generation = self.conns[t].generation;
        let index = self.index;
        self.dials
            .retain(|d| d.1 != ConnId::new(index, t as u32, generation));
        match r {
            Ok((action, _)) => {
                if action == Action::Shutdown {
                    self.begin_shutdown();
                }
                self.close(t, Some(e));
            }
            Err(p) => self.close(t, Some(p)),
        }
    }

    // ----- UDP ------------------------------------------------------------

    fn on_udp(&mut self, l: usize) {
        while !self.stopping {
            let range = self.place_inbuf();
            match self.driver.recv_from(l, &mut self.inbuf[range]) {
                Ok((n, peer)) => self.on_datagram(l, n, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("revio: recv on UDP listener {l}: {e}");
                    return;
                }
            }
        }
    }

    fn on_datagram(&mut self, l: usize, n: usize, peer: SocketAddr) {
        let t = match self.udp_peers.get(&(l, peer)) {
            Some(&t) => t,
            None => {
                let mailbox = self.mailbox();
                let (slot, generation) = mailbox.alloc(&mut mailbox.lock(), true);
                let t = slot as usize;
                self.init_slot(t, generation, OPEN | UDP, l as u16);
                self.udp_peers.insert((l, peer), t);
                self.udp_of.insert(t, (l, peer));
                let r = self.call(t, Input::None, false, |h, c, _| h.opened(c));
                if !self.udp_after(t, r) {
                    return;
                }
                t
            }
        };
        let r = self.call(t, Input::Buf(n), false, |h, c, d| h.data(c, d));
        self.udp_after(t, r);
    }

    /// Sends a UDP handler's output as one datagram and acts on its result;
    /// returns whether the remote is still open.
    fn udp_after(&mut self, t: Token, r: io::Result<(Action, usize)>) -> bool {
        let action = match r {
            Ok((a, _)) => a,
            Err(e) => {
                self.outbuf.clear();
                self.close(t, Some(e));
                return false;
            }
        };
        if !self.outbuf.is_empty() {
            if let Some(&(l, peer)) = self.udp_of.get(&t) {
                if let Err(e) = self.driver.send_to(l, &self.outbuf, peer) {
                    log::debug!("revio: UDP send to {peer}: {e}");
                }
            }
            self.outbuf.clear();
        }
        match action {
            Action::None => true,
            Action::Shutdown => {
                self.begin_shutdown();
                true
            }
            Action::Close | Action::Detach => {
                if action == Action::Detach {
                    log::warn!("revio: a UDP remote cannot be detached; closing it instead");
                }
                self.close(t, None);
                false
            }
        }
    }

    // ----- timers ---------------------------------------------------------

    fn timers(&mut self) {
        let now = Instant::now();
        if let Some(due) = self.next_tick.filter(|&d| d <= now) {
            self.fire_tick(due, now);
        }
        if self.accept_retry.is_some_and(|r| r <= now) {
            self.accept_retry = None;
            for l in 0..self.accept_paused.len() {
                if mem::take(&mut self.accept_paused[l]) {
                    self.on_listener(l);
                }
            }
        }
        if self.dials.iter().any(|d| d.0 <= now) {
            let expired: Vec<ConnId> = self.dials.iter().filter(|d| d.0 <= now).map(|d| d.1).collect();
            self.dials.retain(|d| d.0 > now);
            for id in expired {
                if let Some(t) = self.live(id) {
                    if self.conns[t].flags & CONNECTING != 0 {
                        self.dial_failed(
                            t,
                            io::Error::new(
                                io::ErrorKind::TimedOut,
                                "dial timed out before the connection was established",
                            ),
                        );
                    }
                }
            }
        }
        if !self.resolvers.is_empty() {
            self.resolvers.retain(|h| !h.is_finished());
        }
    }

    fn fire_tick(&mut self, due: Instant, now: Instant) {
        match catch_unwind(AssertUnwindSafe(|| self.handler.tick())) {
            Ok((delay, action)) => {
                self.next_tick = delay.map(|d| {
                    // Due times advance by the delay, so lateness does not
                    // accumulate; more than a whole period late, start afresh.
                    let next = due + d;
                    if next + d < now { now } else { next }
                });
                match action {
                    Action::Shutdown => self.begin_shutdown(),
                    Action::None => {}
                    other => log::warn!("revio: tick returned {other:?}, which needs a connection; ignored"),
                }
            }
            Err(p) => {
                self.next_tick = None;
                self.fail(panic_error(p));
            }
        }
    }

    // ----- shutdown ---------------------------------------------------------

    /// Flushes what each connection's socket takes, closes every connection
    /// (a `closed` each), and releases the listeners.
    fn finish(&mut self) {
        for t in 0..self.conns.len() {
            let flags = self.conns[t].flags;
            if flags & OPEN == 0 {
                continue;
            }
            if flags & CONNECTING != 0 {
                self.dial_failed(
                    t,
                    io::Error::new(
                        io::ErrorKind::Interrupted,
                        "the server shut down before the dial completed",
                    ),
                );
            } else {
                if flags & UDP == 0 {
                    // Let a wrapper append its final bytes (close_notify).
                    let r = self.call(t, Input::None, false, |h, c, _| {
                        h.__shutting_down(c);
                        Action::None
                    });
                    if let Err(e) = r {
                        self.outbuf.clear();
                        self.close(t, Some(e));
                        continue;
                    }
                    self.conns[t].flags &= !BLOCKED;
                    self.flush(t);
                }
                self.close(t, None);
            }
        }
        for l in 0..self.networks.len() {
            self.driver.unlisten(l);
        }
        // No command is taken from now on; those already queued are settled:
        // connections handed to this loop are closed, dials fail.
        let mut inbox = self.mailbox().lock();
        inbox.stopped = true;
        let late: Vec<Command> = inbox.commands.drain(..).collect();
        drop(inbox);
        for cmd in late {
            match cmd {
                Command::Adopt { id, .. } => self.mailbox().release(id.slot()),
                Command::Dial { id, address, .. } => {
                    // Every dial gets its opened and closed, even one that
                    // never started.
                    let kind = if address.network() == Network::Unix {
                        UNIX
                    } else {
                        TCP
                    };
                    self.init_slot(id.slot(), id.generation(), OPEN | CONNECTING | kind, DIALED);
                    self.dial_failed(id.slot(), shutdown_before_dial());
                }
                _ => {}
            }
        }
        for h in self.resolvers.drain(..) {
            let _ = h.join();
        }
        self.recycle();
    }
}
