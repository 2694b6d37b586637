//! Requests from other threads: the marks (wake, close, abort, pause, resume) and
//! commands (dial, adopt, resolved) in the loop's mailbox, taken a bounded
//! batch per turn.

use std::io;
use std::mem;

use super::slot::*;
use super::{Again, Loop, MARKS_PER_TURN, Phase};
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};
use crate::mailbox::{ABORT, CLOSE, Command, PAUSE, RESUME, WAKE};
use crate::server::ConnId;

impl<H: Handler, D: Driver> Loop<H, D> {
    /// The slot of `id` if it names a live connection of this loop.
    pub(super) fn live(&self, id: ConnId) -> Option<Token> {
        let t = id.slot();
        let slot = self.conns.get(t)?;
        (slot.is_open() && slot.generation == id.generation()).then_some(t)
    }

    /// Takes a batch of marks and commands from the mailbox and serves them.
    pub(super) fn on_mailbox(&mut self) {
        let mut commands = mem::take(&mut self.commands);
        let mut marked = mem::take(&mut self.marked);
        let mailbox = &self.server.shared.mailboxes[self.index];
        let mut inbox = mailbox.lock();
        let n = inbox.commands.len().min(MARKS_PER_TURN);
        commands.extend(inbox.commands.drain(..n));
        let mut more = !inbox.commands.is_empty();
        more |= inbox.take_marks(self.index, MARKS_PER_TURN, &mut marked);
        let shutdown = mem::take(&mut inbox.shutdown);
        drop(inbox);
        if more {
            self.again.push(Again::Mailbox);
        }
        if shutdown {
            self.begin_shutdown();
        }
        for cmd in commands.drain(..) {
            self.on_command(cmd);
        }
        for m in marked.drain(..) {
            self.on_marks(m.id, m.marks);
        }
        self.commands = commands;
        self.marked = marked;
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Dial {
                id,
                address,
                timeout,
                translator,
            } => {
                if self.phase == Phase::Serving {
                    self.start_dial(id, address, timeout, translator);
                } else {
                    self.never_dialed(id, &address);
                }
            }
            Command::Resolved { id, result } => self.on_resolved(id, result),
            Command::Adopt { id, stream, listener } => {
                if self.phase == Phase::Serving {
                    self.adopt(id, stream, listener);
                } else {
                    // Shutting down: the connection is closed unserved.
                    drop(stream);
                    self.mailbox().release(id.slot());
                }
            }
        }
    }

    /// A dial that never started (the loop is shutting down) still gets its
    /// `opened` and `closed`.
    pub(super) fn never_dialed(&mut self, id: ConnId, address: &crate::addr::Address) {
        let kind = if address.network() == crate::addr::Network::Unix {
            UNIX
        } else {
            TCP
        };
        self.init_slot(id.slot(), id.generation(), OPEN | CONNECTING | kind, DIALED);
        self.dial_failed(id.slot(), super::dial::shutdown_before_dial());
    }

    fn on_marks(&mut self, id: ConnId, marks: u8) {
        let Some(t) = self.live(id) else { return };
        if marks & PAUSE != 0 {
            self.set_paused(t, true);
        }
        if marks & RESUME != 0 {
            self.set_paused(t, false);
        }
        if marks & WAKE != 0 {
            let slot = &mut self.conns[t];
            if slot.is(CONNECTING) {
                slot.flags |= WAKE_AFTER_OPEN;
            } else if !slot.is(UDP) {
                self.event(t, |h, c| h.woken(c));
            }
        }
        if marks & ABORT != 0 && self.conns[t].is_open() {
            let e: io::Error = crate::Error::Aborted.into();
            if self.conns[t].is(CONNECTING) {
                self.dial_failed(t, e);
            } else {
                self.cut_conn(t, e);
            }
            return;
        }
        if marks & CLOSE != 0 && self.conns[t].is_open() {
            let flags = self.conns[t].flags;
            if flags & CONNECTING != 0 {
                let e = io::Error::new(io::ErrorKind::Interrupted, "closed before connecting");
                self.dial_failed(t, e);
            } else if flags & UDP != 0 {
                self.close(t, None);
            } else {
                self.after(t, Action::Close);
            }
        }
    }
}
