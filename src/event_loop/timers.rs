//! Time: the loop's clock, the ticker, and per connection one timer-wheel
//! entry that carries the idle timeout, the handler's deadline and a dial's
//! timeout, whichever comes first.
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
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};

/// The longest deadline a connection can have: its time is kept in 32 bits
/// of milliseconds, compared with wrapping arithmetic.
const MAX_DEADLINE_MS: u64 = (1 << 31) - 1;

pub(super) struct Timers {
    pub(super) wheel: Wheel,
    fired: Vec<Token>,
    epoch: Instant,
    /// Milliseconds since `epoch`, read once per turn.
    now: u64,
    pub(super) next_tick: Option<Instant>,
    pub(super) accept_retry: Option<Instant>,
    pub(super) drain_deadline: Option<Instant>,
}

impl Timers {
    pub(super) fn new() -> Timers {
        Timers {
            wheel: Wheel::new(),
            fired: Vec::new(),
            epoch: Instant::now(),
            now: 0,
            next_tick: None,
            accept_retry: None,
            drain_deadline: None,
        }
    }

    /// Starts the clock and the ticker (the first tick is due at once).
    pub(super) fn start(&mut self) {
        self.epoch = Instant::now();
        self.now = 0;
        self.next_tick = Some(self.epoch);
    }

    pub(super) fn tick_clock(&mut self) {
        self.now = self.epoch.elapsed().as_millis() as u64;
    }

    /// The loop's time in milliseconds, in 32 wrapping bits.
    pub(super) fn now32(&self) -> u32 {
        self.now as u32
    }

    /// How long the loop's poll may wait.
    fn timeout(&self) -> Option<Duration> {
        let wheel = self
            .wheel
            .next_expiry()
            .map(|ms| self.epoch + Duration::from_millis(ms));
        let next = [self.next_tick, self.accept_retry, self.drain_deadline, wheel]
            .into_iter()
            .flatten()
            .min()?;
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
        let now = Instant::now();
        if let Some(due) = self.timers.next_tick.filter(|&d| d <= now) {
            self.fire_tick(due, now);
        }
        let mut fired = std::mem::take(&mut self.timers.fired);
        self.timers.wheel.expire(self.timers.now, &mut fired);
        for t in fired.drain(..) {
            self.on_timer(t);
        }
        self.timers.fired = fired;
        if self.timers.accept_retry.is_some_and(|r| r <= now) {
            self.timers.accept_retry = None;
            self.retry_accept();
        }
        if self.timers.drain_deadline.is_some_and(|d| d <= now) {
            self.timers.drain_deadline = None;
            self.end_drain();
        }
        if !self.resolvers.is_empty() {
            self.resolvers.retain(|h| !h.is_finished());
        }
    }

    fn fire_tick(&mut self, due: Instant, now: Instant) {
        match catch_unwind(AssertUnwindSafe(|| self.handler.tick())) {
            Ok((delay, action)) => {
                self.timers.next_tick = delay.map(|d| {
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
                self.timers.next_tick = None;
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
        match after {
            Some(d) => {
                let ms = (d.as_millis() as u64).min(MAX_DEADLINE_MS);
                let at = self.timers.epoch.elapsed().as_millis() as u64 + ms;
                self.timers.wheel.node(t).tag = at as u32;
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
            .then(|| self.timers.absolute(self.timers.wheel.tag(t)));
        let idle = match self.limits.idle_timeout {
            Some(d) if !slot.is(CONNECTING) => Some(self.timers.absolute(slot.active) + d.as_millis() as u64),
            _ => None,
        };
        match deadline.into_iter().chain(idle).min() {
            Some(at) => self.timers.wheel.arm(t, at),
            None => self.timers.wheel.disarm(t),
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
        if slot.is(DEADLINE) && self.timers.absolute(self.timers.wheel.tag(t)) <= now {
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
        self.timers.wheel.disarm(t);
    }

    /// Starts the countdown of a graceful shutdown.
    pub(super) fn start_drain_deadline(&mut self) {
        if self.phase == Phase::Draining && self.timers.drain_deadline.is_none() {
            self.timers.drain_deadline = Some(Instant::now() + self.limits.shutdown_timeout);
        }
    }
}
