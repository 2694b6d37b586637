//! Time: the loop's clock and its timer wheel, which carries every timer of
//! the loop: the ticker, the retry of a paused accept, the end of a graceful
//! shutdown, and per connection one entry for the idle timeout, the
//! handler's deadline and a dial's timeout, whichever comes first. The
//! poll's timeout is the wheel's next expiry.
//!
//! The idle timeout costs nothing per request: reads and sends only record
//! when they happened (`Slot::active`), and the entry, armed for the
//! earliest time the connection could be idle, checks that record when it
//! fires and moves itself on if there was activity since.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::call::panic_error;
use super::dial::dial_timed_out;
use super::slot::*;
use super::wheel::Wheel;
use super::{Loop, Phase};
use crate::clock::{Clock, Tick};
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};

/// How soon a deadline that passes only while a connection is read is
/// checked again when it came with reading paused.
const READ_DEADLINE_RECHECK: Duration = Duration::from_secs(1);

/// The longest deadline a connection can have: its time is kept in 32 bits
/// of milliseconds, compared with wrapping arithmetic.
const MAX_DEADLINE_MS: u64 = (1 << 31) - 1;

/// The wheel's entries: three for the loop, then one per connection slot.
const TICK: usize = 0;
const ACCEPT_RETRY: usize = 1;
const DRAIN: usize = 2;
const CONNS: usize = 3;

pub(super) struct Timers {
    wheel: Wheel,
    fired: Vec<usize>,
    epoch: Instant,
    /// Milliseconds since `epoch`, read once per turn.
    now: u64,
    /// The same reading, for handlers (see `Conn::clock`).
    pub(super) clock: Clock,
    /// When the next tick is due, to the nanosecond (the wheel keeps
    /// milliseconds), so that ticks do not drift.
    next_tick: Option<Instant>,
    draining: bool,
}

impl Timers {
    pub(super) fn new() -> Timers {
        Timers {
            wheel: Wheel::new(),
            fired: Vec::new(),
            epoch: Instant::now(),
            now: 0,
            clock: Clock::start(),
            next_tick: None,
            draining: false,
        }
    }

    /// Starts the clock.
    pub(super) fn start(&mut self) {
        self.epoch = Instant::now();
        self.now = 0;
        self.clock = Clock::start();
    }

    /// Starts the ticker: the first tick is due at once.
    pub(super) fn start_ticking(&mut self) {
        self.set_tick(Some(Instant::now()));
    }

    /// Milliseconds since the loop started: for a time still ahead, the next
    /// whole millisecond (never early); for one already passed, the current
    /// one (due at the next look, without waiting a millisecond more).
    fn ms(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        let ahead = at > Instant::now();
        d.as_millis() as u64 + u64::from(ahead && d.subsec_nanos() % 1_000_000 != 0)
    }

    fn set_tick(&mut self, due: Option<Instant>) {
        self.next_tick = due;
        match due {
            Some(d) => self.wheel.arm(TICK, self.ms(d)),
            None => self.wheel.disarm(TICK),
        }
    }

    /// Tries the paused listeners again `after` from now.
    pub(super) fn retry_accept_in(&mut self, after: Duration) {
        let at = self.ms(Instant::now() + after);
        self.wheel.arm(ACCEPT_RETRY, at);
    }

    /// The node of connection `t`'s entry (its tag holds the deadline).
    fn conn_tag(&self, t: Token) -> u32 {
        self.wheel.tag(t + CONNS)
    }

    fn set_conn_tag(&mut self, t: Token, tag: u32) {
        self.wheel.node(t + CONNS).tag = tag;
    }

    fn arm_conn(&mut self, t: Token, at: u64) {
        self.wheel.arm(t + CONNS, at);
    }

    pub(super) fn disarm_conn(&mut self, t: Token) {
        self.wheel.disarm(t + CONNS);
    }

    pub(super) fn tick_clock(&mut self) {
        let now = Instant::now();
        self.now = now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.clock.advance(now);
    }

    /// The loop's time in milliseconds, in 32 wrapping bits.
    pub(super) fn now32(&self) -> u32 {
        self.now as u32
    }

    /// How long the loop's poll may wait: until the wheel's next expiry.
    fn timeout(&self) -> Option<Duration> {
        let next = self.epoch + Duration::from_millis(self.wheel.next_expiry()?);
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// The absolute time (ms) of a 32-bit time stamp near `now`.
    fn absolute(&self, stamp: u32) -> u64 {
        let ahead = stamp.wrapping_sub(self.now as u32);
        if ahead < 1 << 31 {
            self.now + u64::from(ahead)
        } else {
            self.now
                .saturating_sub(u64::from((self.now as u32).wrapping_sub(stamp)))
        }
    }
}

impl<H: Handler, D: Driver> Loop<H, D> {
    pub(super) fn poll_timeout(&self) -> Option<Duration> {
        self.timers.timeout()
    }

    /// Fires whatever is due: the ticker, connection timers, a paused
    /// accept, the end of a graceful shutdown.
    pub(super) fn fire_timers(&mut self) {
        self.timers.tick_clock();
        let mut fired = std::mem::take(&mut self.timers.fired);
        self.timers.wheel.expire(self.timers.now, &mut fired);
        for id in fired.drain(..) {
            match id {
                TICK => {
                    let now = Instant::now();
                    match self.timers.next_tick {
                        Some(due) if due <= now => self.fire_tick(due, now),
                        // Due within the millisecond: armed again for it.
                        due => self.timers.set_tick(due),
                    }
                }
                ACCEPT_RETRY => self.retry_accept(),
                DRAIN => self.end_drain(),
                _ => self.on_timer(id - CONNS),
            }
        }
        self.timers.fired = fired;
        if !self.resolvers.is_empty() {
            self.resolvers.retain(|h| !h.is_finished());
        }
    }

    fn fire_tick(&mut self, due: Instant, now: Instant) {
        let tick = Tick {
            server: &self.server,
            loop_index: self.index,
            clock: self.timers.clock,
        };
        match catch_unwind(AssertUnwindSafe(|| self.handler.tick(&tick))) {
            Ok((delay, action)) => {
                let next = delay.map(|d| {
                    // Due times advance by the delay, so lateness does not
                    // accumulate; more than a whole period late, start afresh.
                    let next = due + d;
                    if next + d < now { now } else { next }
                });
                self.timers.set_tick(next);
                match action {
                    Action::Shutdown => self.begin_shutdown(),
                    Action::None => {}
                    other => log::warn!("revio: tick returned {other:?}, which needs a connection; ignored"),
                }
            }
            Err(p) => {
                self.timers.set_tick(None);
                self.fail(panic_error(p));
            }
        }
    }

    /// Arms connection `t`'s timer for its idle timeout, if there is one.
    pub(super) fn arm_idle(&mut self, t: Token) {
        if self.limits.idle_timeout.is_some() {
            self.rearm(t);
        }
    }

    /// Sets (or, with `None`, clears) connection `t`'s deadline `after` from now.
    pub(super) fn set_deadline(&mut self, t: Token, after: Option<Duration>) {
        self.conns[t].flags &= !READ_DEADLINE;
        match after {
            Some(d) => {
                let ms = (d.as_millis() as u64).min(MAX_DEADLINE_MS);
                let at = self.timers.epoch.elapsed().as_millis() as u64 + ms;
                self.timers.set_conn_tag(t, at as u32);
                self.conns[t].flags |= DEADLINE;
            }
            None => self.conns[t].flags &= !DEADLINE,
        }
        self.rearm(t);
    }

    /// Arms `t`'s timer for the earliest of its deadline and the time it
    /// would be idle for the idle timeout (or disarms it if neither applies).
    fn rearm(&mut self, t: Token) {
        let slot = &self.conns[t];
        let deadline = slot
            .is(DEADLINE)
            .then(|| self.timers.absolute(self.timers.conn_tag(t)));
        let idle = match self.limits.idle_timeout {
            Some(d) if !slot.is(CONNECTING) => Some(self.timers.absolute(slot.active) + d.as_millis() as u64),
            _ => None,
        };
        match deadline.into_iter().chain(idle).min() {
            Some(at) => self.timers.arm_conn(t, at),
            None => self.timers.disarm_conn(t),
        }
    }

    /// Connection `t`'s timer fired: a deadline passed, it has been idle
    /// too long, or neither yet (it is armed again).
    fn on_timer(&mut self, t: Token) {
        let Some(slot) = self.conns.get(t) else { return };
        if !slot.is_open() {
            return;
        }
        let now = self.timers.now;
        if slot.is(DEADLINE) && self.timers.absolute(self.timers.conn_tag(t)) <= now {
            if slot.is(READ_DEADLINE) && slot.flags & (NOT_READING | READY) != 0 {
                // The loop is not reading it (or has yet to, this turn):
                // the peer is not the one late.
                self.set_deadline(t, Some(READ_DEADLINE_RECHECK));
                self.conns[t].flags |= READ_DEADLINE;
                return;
            }
            self.conns[t].flags &= !DEADLINE;
            if self.conns[t].is(PROXY_WAIT) {
                let d = self.limits.proxy_header_timeout;
                self.reject(t, &format!("its PROXY protocol header did not come within {d:?}"));
            } else if self.conns[t].is(CONNECTING) {
                self.dial_failed(t, dial_timed_out());
            } else {
                self.abort_conn(t, crate::Error::Deadline.into());
            }
            return;
        }
        if let Some(idle) = self.limits.idle_timeout {
            let quiet = u64::from((now as u32).wrapping_sub(slot.active));
            if !slot.is(CONNECTING) && quiet >= idle.as_millis() as u64 {
                self.abort_conn(t, crate::Error::IdleTimeout(idle).into());
                return;
            }
        }
        self.rearm(t);
    }

    /// Forgets connection `t`'s timer (it closed).
    pub(super) fn clear_timer(&mut self, t: Token) {
        self.timers.disarm_conn(t);
    }

    /// Starts the countdown of a graceful shutdown.
    pub(super) fn start_drain_deadline(&mut self) {
        if self.phase == Phase::Draining && !self.timers.draining {
            self.timers.draining = true;
            let at = self.timers.ms(Instant::now() + self.limits.shutdown_timeout);
            self.timers.wheel.arm(DRAIN, at);
        }
    }
}
