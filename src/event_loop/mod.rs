//! The event loop: one thread, one backend, one handler. It owns the
//! connection table and the buffers, turns backend events into handler calls,
//! and sends what the handlers wrote.
//!
//! Data flows one way: the backend reports readiness, the loop receives the
//! bytes the backend lends, calls the handler with a borrowed slice, and sends
//! the handler's output from a buffer it owns. A connection holds a buffer of
//! its own only while it has unconsumed input or output the socket would not
//! take.
//!
//! # A turn
//! Each turn fires the timers that are due, polls the backend (without
//! waiting when work was left over), serves the events, then the work left
//! over from the previous turn. Work per turn is bounded, so that one busy
//! peer cannot hold the loop: [`READS_PER_TURN`] receives per connection
//! (as many bytes from a backend that receives ahead),
//! [`ACCEPTS_PER_TURN`] accepts or datagrams per listener, [`MARKS_PER_TURN`]
//! requests from other threads. What is left is served next turn.
//!
//! # Files
//! `call` builds the handler's view of a connection and `outcome` applies
//! what the call asked; `read`, `output`,
//! `accept`, `dial`, `udp`, `timers`, `commands` and `shutdown` each serve one
//! kind of event; `slot` is the connection table's entry, `wheel` the timer
//! wheel, `buffers` the pool of spare buffers, `bind` the listeners.

pub(crate) mod bind;
pub(crate) mod buffers;
mod call;
mod slot;
mod wheel;

mod accept;
mod commands;
mod dial;
mod outcome;
mod output;
mod proxy;
mod read;
mod shutdown;
mod timers;
mod udp;

use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::addr::Network;
use crate::config::Balance;
use crate::conn::{Endpoint, ShutdownHook};
use crate::driver::{Driver, Event, Token};
use crate::events::{Action, Handler};
use crate::mailbox::{Command, Mailbox, Marked};
use crate::server::{CURRENT_LOOP, Server};
use crate::sys::UnixFile;
use buffers::Pool;
pub(crate) use call::panic_error;
use call::{Cx, Feed, Outcome};
use slot::*;

/// Receives per connection per turn (from a backend that receives ahead, as
/// many bytes as that many full reads).
const READS_PER_TURN: u32 = 4;
/// Accepts (or datagrams) per listener per turn.
const ACCEPTS_PER_TURN: u32 = 64;
/// Requests from other threads (marks, commands) taken per turn.
const MARKS_PER_TURN: usize = 1024;
/// The page size the read buffer's placement assumes (see `place_inbuf`).
const PAGE: usize = 4096;

/// Limits and sizes a loop runs with (see `Config` for each).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) read_buffer: usize,
    pub(crate) max_input: usize,
    pub(crate) high_water: usize,
    pub(crate) max_output: usize,
    pub(crate) max_datagram: usize,
    pub(crate) loop_output_budget: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_udp_remotes: usize,
    pub(crate) nodelay: bool,
    pub(crate) proxy_header_timeout: Duration,
    /// Test hook: panic inside the loop at this send (1-based).
    pub(crate) fault_at_send: Option<u64>,
}

/// How a loop's listeners are set up and their connections spread.
#[derive(Debug, Clone)]
pub(crate) struct Listening {
    pub(crate) networks: Vec<Network>,
    pub(crate) balanced: Vec<bool>,
    pub(crate) balance: Balance,
    /// Unix socket files this loop's listeners created, removed when they close.
    pub(crate) unix_files: Vec<UnixFile>,
    /// Per listener: the PROXY protocol header its connections start with.
    pub(crate) proxy: Vec<Option<crate::proxy_protocol::Version>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Shutting down: listeners closed, connections finishing.
    Draining,
    Done,
}

/// Work left over from a turn, for the next.
#[derive(Debug, Clone, Copy)]
enum Again {
    /// Read this connection until it would block (its edge is spent).
    Read(Token, u32),
    Listener(usize),
    Mailbox,
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
    unix_files: Vec<UnixFile>,
    /// Per listener: the PROXY protocol header its connections start with.
    proxy: Vec<Option<crate::proxy_protocol::Version>>,
    /// Per slot: the PROXY header its connection came with (`PROXIED`).
    proxied: Vec<Option<Box<crate::proxy_protocol::Header>>>,
    rr: usize,
    rng: u64,
    accept_paused: Vec<accept::AcceptPause>,
    conns: Vec<Slot<H::State>>,
    /// The read buffer, one page longer than `limits.read_buffer`: reads land
    /// at `in_off` (see [`Loop::place_inbuf`]).
    inbuf: Vec<u8>,
    in_off: usize,
    /// The output buffer lent to a connection with nothing queued for one call.
    spare: Vec<u8>,
    pool: Pool,
    events: Vec<Event>,
    commands: Vec<Command>,
    marked: Vec<Marked>,
    /// Work left over: filled during a turn, served in the next.
    again: Vec<Again>,
    again_now: Vec<Again>,
    timers: timers::Timers,
    resolvers: Vec<JoinHandle<()>>,
    udp: udp::Remotes,
    phase: Phase,
    error: Option<io::Error>,
    /// Slots closed during this turn, recycled when it is done.
    freed: Vec<usize>,
    /// Errors to report in `closed` for connections closing after a flush.
    close_errors: Vec<(Token, io::Error)>,
    /// Output queued by every connection of this loop.
    queued_total: usize,
    /// Per connection with `WANT` set: the input length its next `data`
    /// call waits for (see `Conn::want`).
    wants: std::collections::HashMap<Token, usize>,
    shutdown_hook: Option<ShutdownHook<H::State>>,
    sends: u64,
    /// Per dial still connecting: the translator it starts with
    /// (`Server::dial_translated`), until its `opened`.
    handovers: std::collections::HashMap<Token, crate::mailbox::Handover>,
    /// The translator offered to the handler call being made (see
    /// `Conn::handover`), and what it left.
    handing: Option<crate::mailbox::Handover>,
}

/// The PROXY header connection `t` came with, if it came with one.
fn proxied(
    headers: &[Option<Box<crate::proxy_protocol::Header>>],
    flags: u32,
    t: Token,
) -> Option<&crate::proxy_protocol::Header> {
    if flags & PROXIED == 0 {
        return None;
    }
    headers.get(t)?.as_deref()
}

/// The socket behind connection `t`, for the handler's view.
fn endpoint<'d, D: Driver>(flags: u32, t: Token, driver: &'d D, udp: &udp::Remotes) -> Endpoint<'d> {
    if flags & UDP != 0 {
        return udp.endpoint(t, driver);
    }
    match driver.sock(t) {
        Some(s) if flags & TCP != 0 => Endpoint::Tcp(s),
        Some(s) => Endpoint::Unix(s),
        None => Endpoint::None,
    }
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
            unix_files,
            proxy,
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
            unix_files,
            proxy,
            proxied: Vec::new(),
            rr: index,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1),
            accept_paused: (0..n).map(|_| Default::default()).collect(),
            conns: Vec::new(),
            inbuf: vec![0; limits.read_buffer.max(1) + PAGE],
            in_off: 0,
            spare: Vec::with_capacity(limits.read_buffer.min(limits.max_output)),
            pool: Pool::new(64, limits.read_buffer.max(1 << 16) * 4),
            events: Vec::with_capacity(1024),
            commands: Vec::new(),
            marked: Vec::new(),
            again: Vec::new(),
            again_now: Vec::new(),
            timers: timers::Timers::new(),
            resolvers: Vec::new(),
            udp: udp::Remotes::new(n),
            phase: Phase::Serving,
            error: None,
            freed: Vec::new(),
            close_errors: Vec::new(),
            queued_total: 0,
            wants: std::collections::HashMap::new(),
            shutdown_hook: None,
            sends: 0,
            handovers: std::collections::HashMap::new(),
            handing: None,
        }
    }

    fn mailbox(&self) -> &Mailbox {
        &self.server.shared.mailboxes[self.index]
    }

    /// Runs until shutdown; returns the error that stopped the loop, if any.
    /// A panic anywhere in here (inside revio, not a handler) ends the loop
    /// as cleanly as it can: every connection gets its `closed`, the server
    /// stops, and the panic is returned.
    pub(crate) fn run(mut self) -> io::Result<()> {
        CURRENT_LOOP.with(|c| c.set(Some(self.index)));
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.serve())) {
            let e = panic_error(p);
            log::error!("revio loop {}: internal panic, stopping: {e}", self.index);
            self.abandon(e);
        }
        CURRENT_LOOP.with(|c| c.set(None));
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn serve(&mut self) {
        let server = self.server.clone();
        self.timers.start();
        match catch_unwind(AssertUnwindSafe(|| self.handler.serving(&server))) {
            Ok(Action::Shutdown) => self.begin_shutdown(),
            Ok(_) => {}
            Err(p) => self.fail(panic_error(p)),
        }
        // The first tick comes right after `serving`.
        self.timers.start_ticking();
        while self.phase != Phase::Done {
            self.turn();
        }
        self.finish();
    }

    fn turn(&mut self) {
        mem::swap(&mut self.again, &mut self.again_now);
        self.fire_timers();
        if self.phase == Phase::Done {
            return;
        }
        let timeout = if self.again_now.is_empty() {
            self.poll_timeout()
        } else {
            Some(Duration::ZERO)
        };
        let mut events = mem::take(&mut self.events);
        events.clear();
        if let Err(e) = self.driver.poll(&mut events, timeout) {
            // Without a working poll nothing can be flushed: stop now.
            self.error.get_or_insert(e);
            self.phase = Phase::Done;
            self.events = events;
            return;
        }
        self.timers.tick_clock();
        for ev in &events {
            if self.phase == Phase::Done {
                break;
            }
            self.dispatch(*ev);
        }
        self.events = events;
        self.serve_again();
        self.recycle();
        if self.phase == Phase::Draining && self.mailbox().live() == 0 {
            self.phase = Phase::Done;
        }
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Wake => self.on_mailbox(),
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
                if !slot.is_open() || slot.is(UDP) {
                    return;
                }
                if slot.is(CONNECTING) {
                    self.finish_dial(token, closed);
                    return;
                }
                if writable {
                    self.on_writable(token);
                }
                if (readable || closed) && !self.conns[token].is(READY) {
                    self.on_readable(token, closed);
                }
            }
        }
    }

    /// Serves the work the previous turn left over.
    fn serve_again(&mut self) {
        let mut list = mem::take(&mut self.again_now);
        for a in list.drain(..) {
            if self.phase == Phase::Done {
                break;
            }
            match a {
                Again::Read(t, generation) => {
                    let slot = &mut self.conns[t];
                    if slot.generation == generation && slot.is(READY) {
                        slot.flags &= !READY;
                        if slot.is(REPRESENT) {
                            self.represent(t);
                        }
                        self.on_readable(t, true);
                    }
                }
                Again::Listener(l) => self.on_listener(l),
                Again::Mailbox => self.on_mailbox(),
            }
        }
        self.again_now = list;
    }

    /// Serves connection `t` again next turn (reading until it would block).
    fn read_again(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        if !slot.is(READY) {
            slot.flags |= READY;
            self.again.push(Again::Read(t, slot.generation));
        }
    }

    /// Makes the slots closed in this turn reusable.
    fn recycle(&mut self) {
        if !self.freed.is_empty() {
            let mut freed = mem::take(&mut self.freed);
            self.mailbox().lock().recycle(freed.drain(..));
            self.freed = freed;
        }
    }

    /// A handler panicked outside the events of one connection (in
    /// `serving`, `tick`, `closed` or `detached`): this loop's handler may be
    /// left inconsistent, so it serves nothing more. Records `e` as the
    /// error `serve` returns, shuts the other loops down (gracefully, as
    /// `Server::shutdown` does: their handlers did not panic), and closes
    /// every connection of this loop at once, reset, with the panic as the
    /// error in its `closed`; a dial in progress fails with it.
    fn fail(&mut self, e: io::Error) {
        log::error!("revio loop {}: stopping: {e}", self.index);
        let why = e.to_string();
        let copy = move || match crate::Error::of(&e) {
            Some(crate::Error::Panic(msg)) => crate::Error::Panic(msg.clone()).into(),
            _ => io::Error::new(e.kind(), why.clone()),
        };
        if self.error.is_none() {
            self.error = Some(copy());
        }
        if self.phase == Phase::Done {
            // Already stopping (a `closed` that panicked while this closes
            // the rest): the close in progress goes on.
            return;
        }
        self.phase = Phase::Done;
        self.server.shutdown();
        for t in 0..self.conns.len() {
            let flags = self.conns[t].flags;
            if flags & (OPEN | CONNECTING) == OPEN | CONNECTING {
                self.dial_failed(t, copy());
            } else if flags & OPEN != 0 {
                self.close_as(t, Some(copy()), true);
            }
        }
    }

    /// The part of the read buffer to read into next. It starts half a page
    /// away (modulo the page size) from the spare output buffer, because a
    /// handler that copies input to output (an echo) otherwise copies between
    /// two addresses a few bytes apart modulo 4 KiB, which makes `rep movsb`
    /// many times slower on some x86 CPUs (4K aliasing). Measured: echo of
    /// 16 KiB messages, 1.75x the messages per CPU-second (bench/results/PERF.md).
    fn place_inbuf(&mut self) -> std::ops::Range<usize> {
        self.refill_spare();
        let out = self.spare.as_ptr() as usize;
        let inp = self.inbuf.as_ptr() as usize;
        self.in_off = (out.wrapping_add(PAGE / 2)).wrapping_sub(inp) % PAGE;
        self.in_off..self.in_off + self.limits.read_buffer
    }

    /// Gives the spare output buffer capacity again from the pool, if it was
    /// lent out: buffers that come back (a completion backend's sends swap
    /// one in for the one they take) are used before any is allocated.
    fn refill_spare(&mut self) {
        if self.spare.capacity() == 0 {
            self.spare = self.pool.take();
        }
    }

    /// Calls a handler method with a view of connection `t`.
    fn call(
        &mut self,
        t: Token,
        feed: Feed<'_>,
        closing: bool,
        f: impl FnOnce(&mut H, &mut crate::Conn<'_, H::State>, &[u8]) -> Action,
    ) -> io::Result<Outcome<H::State>> {
        self.refill_spare();
        let endpoint = endpoint(self.conns[t].flags, t, &self.driver, &self.udp);
        let held = self.driver.held(t);
        let cx = Cx {
            loop_index: self.index,
            server: &self.server,
            limits: &self.limits,
            clock: &self.timers.clock,
            loop_queued: self.queued_total,
            proxied: proxied(&self.proxied, self.conns[t].flags, t),
            handover: std::cell::Cell::new(self.handing.take()),
        };
        let r = call::invoke(
            &mut self.handler,
            &mut self.conns[t],
            t,
            &mut self.spare,
            &cx,
            endpoint,
            held,
            feed,
            closing,
            f,
        );
        self.handing = cx.handover.take();
        r
    }
}
