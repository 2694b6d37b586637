//! Reading: receiving what the backend lends, `data` calls, kept input, the
//! end of the peer's stream.

use std::io;
use std::mem;

use super::call::{self, Cx, Feed};
use super::slot::*;
use super::{Loop, READS_PER_TURN};
use crate::conn::Endpoint;
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Reads connection `t`: until a short read (its edge is spent), or with
    /// `drain` until it would block, at most [`READS_PER_TURN`] times; what
    /// is left waits for the next turn. From a backend that receives ahead,
    /// what it holds is taken up to the same number of bytes (as many full
    /// reads), in however many chunks it came.
    pub(super) fn on_readable(&mut self, t: Token, drain: bool) {
        let budget = READS_PER_TURN as usize * self.limits.read_buffer;
        let (mut reads, mut taken) = (0, 0);
        while reads < READS_PER_TURN && taken < budget {
            let flags = self.conns[t].flags;
            if flags & OPEN == 0 || flags & NOT_READING != 0 {
                return;
            }
            match self.receive(t) {
                Ok((0, _)) => {
                    self.on_eof(t);
                    return;
                }
                Ok((n, _)) if D::RECEIVES_AHEAD => taken += n,
                Ok((_, false)) if !drain => return,
                Ok(_) => reads += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close(t, Some(e));
                    return;
                }
            }
        }
        self.read_again(t);
    }

    /// Receives once and hands the bytes to `data`; returns how many there
    /// were (0: end-of-stream), and whether they filled the space offered (a
    /// read that did not may have spent the socket's edge).
    fn receive(&mut self, t: Token) -> io::Result<(usize, bool)> {
        let mut range = self.place_inbuf();
        if self.conns[t].is(WANT) {
            // Read no further than the handler wants (see `Conn::want`).
            let have = self.conns[t].input.len();
            let room = self.wants.get(&t).map_or(0, |&w| w.saturating_sub(have));
            range.end = range.start + room.clamp(1, range.len());
        }
        let space = range.len();
        let now = self.timers.now32();
        let Loop {
            index,
            handler,
            driver,
            server,
            limits,
            timers,
            conns,
            inbuf,
            spare,
            pool,
            proxied,
            wants,
            queued_total,
            ..
        } = self;
        let held = driver.held(t);
        let lent = driver.recv(t, &mut inbuf[range])?;
        let n = lent.data.len();
        let full = n >= space;
        if n == 0 {
            return Ok((0, false));
        }
        let slot = &mut conns[t];
        slot.active = now;
        if slot.is(PROXY_WAIT) {
            if slot.input.capacity() == 0 {
                slot.input = pool.take();
            }
            slot.input.extend_from_slice(lent.data);
            self.proxy_header(t);
            return Ok((n, full));
        }
        let wanted = slot.is(WANT);
        if wanted {
            if slot.input.capacity() == 0 {
                slot.input = pool.take();
            }
            slot.input.extend_from_slice(lent.data);
            let want = wants.get(&t).copied().unwrap_or(0);
            if slot.input.len() < want {
                if slot.input.len() > limits.max_input {
                    // Only a backend that receives ahead overshoots.
                    let limit = limits.max_input;
                    self.cut_conn(t, crate::Error::InputLimit { limit }.into());
                }
                return Ok((n, full));
            }
            slot.flags &= !WANT;
            wants.remove(&t);
        }
        let endpoint = match lent.sock {
            Some(s) if slot.is(TCP) => Endpoint::Tcp(s),
            Some(s) => Endpoint::Unix(s),
            None => Endpoint::None,
        };
        // Bytes after kept input join it; otherwise the handler reads them
        // where they were received.
        let feed = if slot.input.is_empty() {
            Feed::Lent(lent.data)
        } else if wanted {
            Feed::Kept // the bytes joined the input above
        } else {
            slot.input.extend_from_slice(lent.data);
            Feed::Kept
        };
        let cx = Cx {
            loop_index: *index,
            server,
            limits,
            clock: &timers.clock,
            loop_queued: *queued_total,
            proxied: super::proxied(proxied, slot.flags, t),
            handover: Default::default(),
        };
        let r = call::invoke(
            handler,
            slot,
            t,
            spare,
            &cx,
            endpoint,
            held,
            feed,
            false,
            |h, c, d| h.data(c, d),
        );
        let kept_feed = matches!(feed, Feed::Kept);
        if let (Ok(o), Feed::Lent(data)) = (&r, feed) {
            if o.keep > 0 {
                // Kept bytes leave the lent buffer for one of the connection's own.
                let mut b = pool.take();
                b.extend_from_slice(&data[data.len() - o.keep..]);
                slot.input = b;
            }
        }
        self.after_data(t, r, kept_feed);
        Ok((n, full))
    }

    /// Calls `data` with only the kept input: the output of a connection that
    /// stopped early for congestion has drained, or its PROXY header was
    /// followed by the first bytes of its own.
    pub(super) fn represent(&mut self, t: Token) {
        let slot = &mut self.conns[t];
        if slot.flags & NOT_READING != 0 {
            // Paused (or congested again): still owed; whatever ends that
            // (a resume, the output draining) comes back here.
            return;
        }
        slot.flags &= !REPRESENT;
        if slot.is(WANT) {
            // Waiting for more input (`Conn::want`): the next read calls.
            return;
        }
        // With no kept input, the handler asked for this call itself
        // (`Conn::call_again_when_drained`): `data` with empty input.
        let r = self.call(t, Feed::Kept, false, |h, c, d| h.data(c, d));
        self.after_data(t, r, true);
    }

    /// Takes what a `data` call kept, checks the input limit, and acts.
    /// `kept_feed`: the call read the connection's kept input (not lent bytes).
    fn after_data(&mut self, t: Token, r: io::Result<super::Outcome<H::State>>, kept_feed: bool) {
        let Some((action, keep)) = self.outcome(t, r) else {
            return;
        };
        let slot = &mut self.conns[t];
        if kept_feed {
            if keep == 0 {
                self.pool.give(mem::take(&mut slot.input));
            } else {
                let consumed = slot.input.len() - keep;
                slot.input.drain(..consumed);
            }
        }
        if slot.input.len() > self.limits.max_input {
            let limit = self.limits.max_input;
            self.cut_conn(t, crate::Error::InputLimit { limit }.into());
            return;
        }
        if slot.is(WANT) && self.wants.get(&t).is_none_or(|&w| slot.input.len() >= w) {
            // Already here: nothing to wait for.
            slot.flags &= !WANT;
            self.wants.remove(&t);
        }
        // Stopped early with input kept and the output over the mark: the
        // kept input is presented again once the output drains (unless the
        // handler waits for more of it).
        if keep > 0 && !slot.is(WANT) && slot.out.len() + self.driver.held(t) > self.limits.high_water {
            slot.flags |= REPRESENT;
        }
        self.after(t, action);
    }

    /// The peer ended its stream: the handler decides (`eof`).
    pub(super) fn on_eof(&mut self, t: Token) {
        if self.conns[t].is(PROXY_WAIT) {
            self.reject(t, "it ended before its PROXY protocol header was complete");
            return;
        }
        if self.conns[t].is(WANT) {
            // The stream ended before what `data` waited for: it gets what came.
            self.conns[t].flags &= !WANT;
            self.wants.remove(&t);
            if !self.conns[t].input.is_empty() {
                let r = self.call(t, Feed::Kept, false, |h, c, d| h.data(c, d));
                self.after_data(t, r, true);
                if !self.conns[t].is_open() {
                    return;
                }
            }
        }
        let slot = &mut self.conns[t];
        slot.flags |= EOF_SEEN;
        slot.flags &= !REPRESENT;
        let kept = mem::take(&mut slot.input);
        self.pool.give(kept);
        if !slot.is(WRITE_SHUT) {
            self.event(t, |h, c| h.eof(c));
            return;
        }
        // Both directions are finished: the handler hears of it, then the
        // connection closes whatever it answers.
        let r = self.call(t, Feed::Nothing, false, |h, c, _| h.eof(c));
        if let Some((action, _)) = self.outcome(t, r) {
            if action == Action::Shutdown {
                self.begin_shutdown();
            }
            self.close(t, None);
        }
    }
}
