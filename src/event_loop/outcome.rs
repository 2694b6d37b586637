//! What a handler call asked of the loop, applied: its action, its requests
//! (pause, deadline, half-close, `want`, a close with an error), and the cuts
//! for a panic, an output over the limit or an abort.

use std::io;

use super::Loop;
use super::call::{Feed, Outcome};
use super::slot::*;
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Takes a call's outcome: a panic or an output over the limit closes the
    /// connection (returning `None`); otherwise what the handler asked is
    /// applied and its action returned.
    pub(super) fn outcome(&mut self, t: Token, r: io::Result<Outcome<H::State>>) -> Option<(Action, usize)> {
        let o = match r {
            Ok(o) => o,
            Err(e) => {
                self.cut_conn(t, e);
                return None;
            }
        };
        self.queued_total += o.wrote;
        if o.over {
            let limit = self.limits.max_output;
            self.cut_conn(t, crate::Error::OutputLimit { limit }.into());
            return None;
        }
        if o.action == Action::Abort || o.req.abort {
            self.cut_conn(t, crate::Error::Aborted.into());
            return None;
        }
        let mut action = o.action;
        if o.req.any() && self.apply_requests(t, o.req) && action == Action::None {
            action = Action::Close;
        }
        Some((action, o.keep))
    }

    /// Closes `t` at once, dropping what is queued, with `e` in `closed`.
    pub(super) fn abort_conn(&mut self, t: Token, e: io::Error) {
        self.close_errors.retain(|(c, _)| *c != t);
        self.close(t, Some(e));
    }

    /// Closes `t` at once for a limit or a panic in its handler: what is
    /// queued is dropped and the peer gets a reset even when nothing was
    /// queued, since the call's own output was cut (the write over the
    /// limit, or whatever the panicking call would have written).
    pub(super) fn cut_conn(&mut self, t: Token, e: io::Error) {
        self.close_errors.retain(|(c, _)| *c != t);
        self.close_as(t, Some(e), true);
    }

    /// Applies what a handler asked of the loop; returns whether it asked to
    /// close (with an error).
    pub(super) fn apply_requests(&mut self, t: Token, req: crate::conn::Requests<H::State>) -> bool {
        if let Some(hook) = req.shutdown_hook {
            self.shutdown_hook = Some(hook);
        }
        if let Some(on) = req.reading {
            self.set_paused(t, !on);
        }
        if let Some(d) = req.deadline {
            self.set_deadline(t, d);
            if req.deadline_reading && d.is_some() {
                self.conns[t].flags |= READ_DEADLINE;
            }
        }
        if req.close_write {
            self.conns[t].flags |= SHUT_WRITE;
        }
        if let Some(n) = req.want {
            if n > self.limits.max_input {
                let limit = self.limits.max_input;
                self.close_errors
                    .push((t, crate::Error::InputLimit { limit }.into()));
                return true;
            }
            if !self.conns[t].is(UDP) {
                self.conns[t].flags |= WANT;
                self.wants.insert(t, n);
            }
        }
        if req.again && self.conns[t].out.len() + self.driver.held(t) > self.limits.high_water {
            // Owed a `data` call once the output drains (see `represent`).
            self.conns[t].flags |= REPRESENT;
        }
        match req.close_error {
            Some(e) => {
                self.close_errors.push((t, e));
                true
            }
            None => false,
        }
    }

    /// Applies an action's flags; the flush and `settle` do the rest.
    pub(super) fn apply(&mut self, t: Token, action: Action) {
        match action {
            Action::None => {}
            Action::Close => self.conns[t].flags |= CLOSE_AFTER_FLUSH,
            Action::Detach => self.conns[t].flags |= DETACH_AFTER_FLUSH,
            Action::Shutdown => self.begin_shutdown(),
            // Taken by `outcome`, which closes the connection at once.
            Action::Abort => {}
        }
    }

    /// After a handler call on a stream: apply its action, send its output,
    /// close or detach if that was asked for and everything is sent, and keep
    /// the loop's queued output within its budget.
    pub(super) fn after(&mut self, t: Token, action: Action) {
        self.apply(t, action);
        self.flush(t);
        self.settle(t);
        if self.queued_total > self.limits.loop_output_budget {
            self.enforce_budget();
        }
    }

    /// Calls a handler method that takes no input and acts on the result.
    pub(super) fn event(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut H, &mut crate::Conn<'_, H::State>) -> Action,
    ) {
        let r = self.call(t, Feed::Nothing, false, |h, c, _| f(h, c));
        if let Some((action, _)) = self.outcome(t, r) {
            self.after(t, action);
        }
    }

    /// Pauses or resumes reading by code.
    pub(super) fn set_paused(&mut self, t: Token, paused: bool) {
        let slot = &mut self.conns[t];
        if !slot.is_open() || slot.is(UDP) || slot.is(PAUSED) == paused {
            return;
        }
        if paused {
            slot.flags |= PAUSED;
            self.driver.set_reading(t, false);
        } else {
            slot.flags &= !PAUSED;
            if !slot.is(CONGESTED) {
                self.driver.set_reading(t, true);
            }
            // Bytes that came meanwhile brought their edge while paused.
            self.read_again(t);
        }
    }
}
