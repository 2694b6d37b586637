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
                Ok(0) => {
                    self.on_eof(t);
                    return;
                }
                Ok(n) if D::RECEIVES_AHEAD => taken += n,
                Ok(n) if n < self.limits.read_buffer && !drain => return,
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
    /// were (0: end-of-stream).
    fn receive(&mut self, t: Token) -> io::Result<usize> {
        let range = self.place_inbuf();
        let now = self.timers.now32();
        let Loop {
            index,
            handler,
            driver,
            server,
            limits,
            conns,
            inbuf,
            spare,
            pool,
            proxied,
            ..
        } = self;
        let held = driver.held(t);
        let lent = driver.recv(t, &mut inbuf[range])?;
        let n = lent.data.len();
        if n == 0 {
            return Ok(0);
        }
        let slot = &mut conns[t];
        slot.active = now;
        if slot.is(PROXY_WAIT) {
            if slot.input.capacity() == 0 {
                slot.input = pool.take();
            }
            slot.input.extend_from_slice(lent.data);
            self.proxy_header(t);
            return Ok(n);
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
        } else {
            slot.input.extend_from_slice(lent.data);
            Feed::Kept
        };
        let cx = Cx {
            loop_index: *index,
            server,
            limits,
            proxied: super::proxied(proxied, slot.flags, t),
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
        Ok(n)
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
        // Stopped early with input kept and the output over the mark: the
        // kept input is presented again once the output drains.
        if keep > 0 && slot.out.len() + self.driver.held(t) > self.limits.high_water {
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
