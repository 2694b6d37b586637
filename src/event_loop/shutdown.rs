//! Endings: closing and detaching one connection, the graceful shutdown of
//! the whole loop (stop accepting, `stopping`, flush up to a deadline, reset
//! what could not be sent), and abandoning the loop after a panic inside it.

use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::call::Feed;
use super::dial::shutdown_before_dial;
use super::slot::*;
use super::{Loop, Phase};
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};
use crate::mailbox::Command;
use crate::stream::Detached;

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Fires `closed` (the socket still open, so its addresses can be read),
    /// then closes the socket and frees the slot. Output still queued is
    /// dropped, and then the peer gets a reset rather than an end-of-stream,
    /// so that it cannot mistake a cut stream for a whole one.
    pub(super) fn close(&mut self, t: Token, error: Option<io::Error>) {
        let reset = !self.conns[t].out.is_empty();
        self.close_as(t, error, reset);
    }

    pub(super) fn close_as(&mut self, t: Token, error: Option<io::Error>, reset: bool) {
        if !self.conns[t].is_open() {
            return;
        }
        if self.conns[t].is(PROXY_WAIT) {
            let why = error.map_or_else(|| "closed".to_string(), |e| e.to_string());
            self.reject(t, &format!("closed before its PROXY protocol header: {why}"));
            return;
        }
        // An error a handler closed with explains the close best: it wins
        // over a write error on the way out.
        let error = self.take_close_error(t).or(error);
        let queued = self.conns[t].out.len() + self.driver.held(t);
        let r = self.call(t, Feed::Nothing, false, |h, c, _| {
            h.closed(c, error);
            Action::None
        });
        self.queued_total -= queued;
        if self.conns[t].is(UDP) {
            self.udp.remove(t);
        } else {
            self.driver.close(t, reset);
        }
        self.free_slot(t);
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// Resets a slot after close and frees its id.
    pub(super) fn free_slot(&mut self, t: Token) {
        self.mailbox().kill(t);
        self.forget_slot(t);
    }

    /// Resets a slot whose id is already freed (`Mailbox::kill`).
    fn forget_slot(&mut self, t: Token) {
        self.clear_timer(t);
        if self.conns[t].is(PROXIED) {
            self.forget_proxied(t);
        }
        if !self.close_errors.is_empty() {
            self.close_errors.retain(|(c, _)| *c != t);
        }
        if self.conns[t].is(WANT) {
            self.wants.remove(&t);
        }
        if !self.handovers.is_empty() {
            self.handovers.remove(&t);
        }
        let slot = &mut self.conns[t];
        slot.flags = 0;
        slot.state = Default::default();
        let input = mem::take(&mut slot.input);
        let output = slot.out.take_buf();
        self.pool.give(input);
        self.pool.give(output);
        self.freed.push(t);
        if self.accept_paused.iter().any(|p| p.paused) {
            // A descriptor just came free: try the paused listeners soon.
            self.timers.retry_accept_in(std::time::Duration::ZERO);
        }
    }

    pub(super) fn detach(&mut self, t: Token) {
        match self.driver.detach(t) {
            Ok((stream, held)) => {
                // It has left the loop: its id is dead (`is_live`, `wake`
                // answer false) before `detached` runs.
                self.mailbox().kill(t);
                let mut pending = mem::take(&mut self.conns[t].input);
                pending.extend_from_slice(&held);
                let detached = Detached::new(pending, stream);
                let r = self.call(t, Feed::Nothing, false, |h, c, _| {
                    h.detached(c, detached);
                    Action::None
                });
                self.forget_slot(t);
                if let Err(e) = r {
                    self.fail(e);
                }
            }
            Err(e) => self.close(t, Some(e)),
        }
    }

    /// Starts a graceful shutdown: every loop is told, listeners close at
    /// once (a new server can bind their addresses), and each connection
    /// gets `stopping`; the loop then runs until the connections have
    /// finished or the shutdown timeout passes.
    pub(super) fn begin_shutdown(&mut self) {
        if self.phase != Phase::Serving {
            return;
        }
        self.phase = Phase::Draining;
        self.server.shutdown();
        // UDP remotes end with their listener (their `closed` can still
        // read the listener's address); dials in progress fail.
        for t in 0..self.conns.len() {
            let flags = self.conns[t].flags;
            if flags & (OPEN | CONNECTING) == OPEN | CONNECTING {
                self.dial_failed(t, shutdown_before_dial());
            } else if flags & (OPEN | UDP) == OPEN | UDP {
                self.close(t, None);
            }
        }
        for l in 0..self.networks.len() {
            self.driver.unlisten(l);
        }
        for f in mem::take(&mut self.unix_files) {
            f.remove();
        }
        self.start_drain_deadline();
        for t in 0..self.conns.len() {
            if self.conns[t].is(PROXY_WAIT) {
                self.reject(t, "the server is shutting down");
            } else if self.conns[t].is_open() && !self.conns[t].is(STOPPING) {
                self.stop_conn(t);
            }
        }
    }

    /// `stopping` for one connection; unless the handler goes on serving
    /// it, its final bytes are appended and it closes once flushed.
    fn stop_conn(&mut self, t: Token) {
        self.conns[t].flags |= STOPPING;
        let r = self.call(t, Feed::Nothing, false, |h, c, _| h.stopping(c));
        let Some((action, _)) = self.outcome(t, r) else {
            return;
        };
        let action = match action {
            Action::Shutdown => Action::Close,
            a => a,
        };
        if action == Action::Close {
            self.finish_conn(t);
        }
        self.after(t, action);
    }

    /// Lets the shutdown hook (see `Conn::on_shutdown`) append its final
    /// bytes, once per connection.
    fn finish_conn(&mut self, t: Token) {
        let Some(hook) = self.shutdown_hook else { return };
        if !self.conns[t].is_open() || self.conns[t].is(FINISHED) {
            return;
        }
        self.conns[t].flags |= FINISHED;
        let r = self.call(t, Feed::Nothing, false, |_, c, _| {
            hook(&mut *c.state, &mut c.out);
            Action::None
        });
        self.outcome(t, r);
    }

    /// The shutdown timeout passed: each connection still open gets its
    /// final bytes and one last send; one with output left is reset, with an
    /// error saying so in `closed`.
    pub(super) fn end_drain(&mut self) {
        for t in 0..self.conns.len() {
            let flags = self.conns[t].flags;
            if flags & OPEN == 0 {
                continue;
            }
            if flags & CONNECTING != 0 {
                self.dial_failed(t, shutdown_before_dial());
                continue;
            }
            self.finish_conn(t);
            self.conns[t].flags &= !BLOCKED;
            self.flush(t);
            if !self.conns[t].is_open() {
                continue;
            }
            let unsent = self.conns[t].out.len() + self.driver.held(t);
            match self.driver.sent_all(t) {
                Ok(true) if self.conns[t].out.is_empty() => self.close(t, None),
                Ok(_) => {
                    let e = crate::Error::ShutdownTimeout { unsent }.into();
                    self.close_as(t, Some(e), true);
                }
                Err(e) => self.close_as(t, Some(e), true),
            }
        }
        self.phase = Phase::Done;
    }

    /// After the last turn: closes what is still open, stops taking
    /// requests, settles those already queued (connections handed to this
    /// loop are closed; dials fail), and joins the resolver threads.
    pub(super) fn finish(&mut self) {
        self.phase = Phase::Done;
        self.server.shutdown();
        for l in 0..self.networks.len() {
            self.driver.unlisten(l);
        }
        for f in mem::take(&mut self.unix_files) {
            f.remove();
        }
        for t in 0..self.conns.len() {
            if self.conns[t].is_open() {
                let e = io::Error::new(io::ErrorKind::Interrupted, "the loop stopped");
                self.close(t, Some(e));
            }
        }
        self.stop_mailbox();
        for h in self.resolvers.drain(..) {
            let _ = h.join();
        }
        self.recycle();
    }

    /// Marks the mailbox stopped (from now on `wake` and friends answer
    /// false) and settles the commands still in it.
    fn stop_mailbox(&mut self) {
        let mut inbox = self.mailbox().lock();
        inbox.stopped = true;
        let late: Vec<Command> = inbox.commands.drain(..).collect();
        drop(inbox);
        for cmd in late {
            match cmd {
                Command::Adopt { id, .. } => self.mailbox().release(id.slot()),
                Command::Dial { id, address, .. } => self.never_dialed(id, &address),
                Command::Resolved { .. } => {}
            }
        }
    }

    /// After a panic inside the loop itself: its state may be inconsistent,
    /// so nothing more is flushed. Every connection gets its `closed` (with
    /// the panic as its error) and is reset, the server stops, and the
    /// mailbox answers no more.
    pub(super) fn abandon(&mut self, e: io::Error) {
        let msg = match crate::Error::of(&e) {
            Some(crate::Error::Panic(msg)) => msg.clone(),
            _ => e.to_string(),
        };
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.phase = Phase::Done;
        self.server.shutdown();
        self.mailbox().lock().stopped = true;
        for t in 0..self.conns.len() {
            if !self.conns[t].is_open() {
                continue;
            }
            let e = crate::Error::Panic(msg.clone()).into();
            let closed = catch_unwind(AssertUnwindSafe(|| self.close_as(t, Some(e), true)));
            if closed.is_err() {
                self.conns[t].flags = 0;
                self.driver.close(t, true);
            }
        }
        let _ = catch_unwind(AssertUnwindSafe(|| {
            for l in 0..self.networks.len() {
                self.driver.unlisten(l);
            }
            for f in mem::take(&mut self.unix_files) {
                f.remove();
            }
            self.stop_mailbox();
            for h in self.resolvers.drain(..) {
                let _ = h.join();
            }
        }));
    }
}
