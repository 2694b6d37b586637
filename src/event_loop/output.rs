//! Writing: sending queued output with `prewrite` and `postwrite` around each
//! send, waiting for the writable edge, acting once everything is sent, and
//! the loop's budget for queued output.

use std::io;
use std::mem;

use super::Loop;
use super::call::Feed;
use super::slot::*;
use crate::driver::{Driver, Token};
use crate::events::Handler;

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Sends queued output: one send, with `prewrite` and `postwrite` around
    /// it; what the socket does not take waits for the writable edge. A send
    /// the backend holds (a completion backend's, in flight) counts as
    /// queued, and its `postwrite` comes when `writable` reports it done:
    /// one `postwrite` for each `prewrite`, however many steps the kernel
    /// takes it in.
    pub(super) fn flush(&mut self, t: Token) {
        loop {
            let slot = &self.conns[t];
            if !slot.is_open() || slot.is(BLOCKED) || slot.out.is_empty() {
                return;
            }
            let queued = slot.out.len();
            let r = self.call(t, Feed::Nothing, false, |h, c, _| h.prewrite(c, queued));
            let Some((a, _)) = self.outcome(t, r) else {
                return;
            };
            self.apply(t, a);
            self.sends += 1;
            if self.limits.fault_at_send == Some(self.sends) {
                panic!(
                    "revio test hook: a fault injected inside the loop at send {}",
                    self.sends
                );
            }
            let held_before = self.driver.held(t);
            let slot = &mut self.conns[t];
            let amount = slot.out.len();
            let n = match self.driver.send(t, &mut slot.out) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.close(t, Some(e));
                    return;
                }
            };
            let held = self.driver.held(t);
            // What the backend holds stays counted until it is sent.
            self.queued_total -= n - (held - held_before);
            if n > 0 {
                slot.active = self.timers.now32();
                if held > 0 {
                    // In flight: `postwrite` when it completes.
                    slot.flags |= BLOCKED | HELD;
                    slot.sent = n - (held - held_before);
                    return;
                }
            }
            let remaining = amount - n;
            if remaining > 0 {
                slot.flags |= BLOCKED;
            }
            if !self.postwrite(t, n, remaining) || remaining > 0 {
                return;
            }
            // postwrite may have written more: go round again.
        }
    }

    /// Calls `postwrite`; false if the connection closed.
    fn postwrite(&mut self, t: Token, n: usize, remaining: usize) -> bool {
        let r = self.call(t, Feed::Nothing, false, |h, c, _| h.postwrite(c, n, remaining));
        let Some((a, _)) = self.outcome(t, r) else {
            return false;
        };
        self.apply(t, a);
        true
    }

    /// The socket can take more, or a send the backend holds made progress:
    /// once the backend holds nothing, the send's one `postwrite` (with all
    /// it sent, and what is queued now) and the next send. Progress before
    /// that only moves what counts as queued (a send completes in several
    /// steps when the socket buffer fills: io_uring sends the rest from the
    /// same buffer, the std backend's writer thread in several writes).
    pub(super) fn on_writable(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        if !slot.is(BLOCKED) {
            return;
        }
        if !slot.is(HELD) {
            slot.flags &= !BLOCKED;
            self.flush(t);
            self.settle(t);
            return;
        }
        let sent = self.driver.take_sent(t, &mut self.conns[t].out);
        let held = self.driver.held(t);
        self.queued_total -= sent;
        if sent == 0 {
            // No progress: done, or failed in the backend (or spurious).
            match self.driver.sent_all(t) {
                Err(e) => return self.close(t, Some(e)),
                Ok(false) => return,
                Ok(true) if held > 0 => return,
                Ok(true) => {}
            }
        }
        let slot = &mut self.conns[t];
        if sent > 0 {
            slot.active = self.timers.now32();
            slot.sent += sent;
        }
        if held > 0 {
            // Still in flight: reading may resume below the high-water mark.
            self.settle(t);
            return;
        }
        slot.flags &= !(HELD | BLOCKED);
        let (amount, remaining) = (mem::take(&mut slot.sent), slot.out.len());
        if !self.postwrite(t, amount, remaining) {
            return;
        }
        self.flush(t);
        self.settle(t);
    }

    /// After output moved: pause or resume reading around the high-water
    /// mark, and once everything is sent, close or detach if that was asked,
    /// or shut the writing side down.
    pub(super) fn settle(&mut self, t: Token) {
        let hw = self.limits.high_water;
        let held = self.driver.held(t);
        let slot = &mut self.conns[t];
        if !slot.is_open() {
            return;
        }
        let len = slot.out.len();
        if len + held > hw {
            if !slot.is(CONGESTED) {
                slot.flags |= CONGESTED;
                // A backend that receives ahead stops, too.
                self.driver.set_reading(t, false);
            }
        } else if slot.flags & (CONGESTED | REPRESENT) != 0 && len + held <= hw / 2 {
            // Drained enough (perhaps at once, into the socket): what the
            // handler kept is presented again, and what came meanwhile read,
            // next turn (their edge is long gone).
            if slot.is(CONGESTED) && !slot.is(PAUSED) {
                self.driver.set_reading(t, true);
            }
            slot.flags &= !CONGESTED;
            self.read_again(t);
        }
        let slot = &mut self.conns[t];
        if len > 0 {
            return;
        }
        // Nothing queued here: lend the buffer back, so that an idle
        // connection holds none.
        let buf = slot.out.take_buf();
        if self.spare.capacity() == 0 && buf.capacity() <= self.pool.max_capacity() {
            self.spare = buf;
        } else {
            // The pool keeps it if it is not outsized (a burst's buffer is
            // freed, not held for the loop's life).
            self.pool.give(buf);
        }
        let flags = slot.flags;
        if flags & (DETACH_AFTER_FLUSH | CLOSE_AFTER_FLUSH | SHUT_WRITE) != 0 && !self.sent_all(t) {
            return;
        }
        if flags & DETACH_AFTER_FLUSH != 0 {
            self.detach(t);
        } else if flags & CLOSE_AFTER_FLUSH != 0 {
            let e = self.take_close_error(t);
            self.close(t, e);
        } else if flags & SHUT_WRITE != 0 {
            self.shut_write(t);
        }
    }

    /// Whether the backend has sent everything; if not, waits for `writable`.
    /// A send that failed in the backend closes the connection with its error.
    fn sent_all(&mut self, t: Token) -> bool {
        match self.driver.sent_all(t) {
            Ok(true) => true,
            Ok(false) => {
                self.conns[t].flags |= BLOCKED;
                false
            }
            Err(e) => {
                self.close(t, Some(e));
                false
            }
        }
    }

    /// Shuts the writing side down (the peer reads end-of-stream); if the
    /// peer has ended its side too, the connection is finished.
    fn shut_write(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        slot.flags = (slot.flags & !SHUT_WRITE) | WRITE_SHUT;
        if let Err(e) = self.driver.shutdown_write(t) {
            self.close(t, Some(e));
        } else if self.conns[t].is(EOF_SEEN) {
            self.close(t, None);
        }
    }

    /// The loop's queued output is over its budget: closes the connections
    /// holding the most, without flushing, until it is back under seven
    /// eighths of the budget (so that it is not over again at once).
    pub(super) fn enforce_budget(&mut self) {
        let budget = self.limits.loop_output_budget;
        let mut holders: Vec<(usize, Token)> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_open())
            .map(|(t, s)| (s.out.len() + self.driver.held(t), t))
            .filter(|&(held, _)| held > 0)
            .collect();
        holders.sort_unstable_by(|a, b| b.cmp(a));
        let target = budget - budget / 8;
        for (held, t) in holders {
            if self.queued_total <= target {
                break;
            }
            log::warn!(
                "revio loop {}: queued output over its budget of {budget} bytes; closing a connection holding {held}",
                self.index
            );
            self.cut_conn(t, crate::Error::LoopOutputBudget { budget, held }.into());
        }
    }

    pub(super) fn take_close_error(&mut self, t: Token) -> Option<io::Error> {
        if self.close_errors.is_empty() {
            return None;
        }
        let i = self.close_errors.iter().position(|(c, _)| *c == t)?;
        let (_, e) = self.close_errors.swap_remove(i);
        Some(e)
    }
}
