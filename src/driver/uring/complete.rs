//! Completions: the start of each turn, and what each completion the ring
//! reports does to the connection it belongs to (a listener's go on to
//! `listener.rs`).

use std::io;
use std::mem;
use std::time::Instant;

use revio_uring::{Completion, Event as Done};

use super::conn::{Chunk, Dial, Recv};
use super::{LISTENER, UringDriver, WAKE};
use crate::driver::{Event, Token};

impl UringDriver {
    /// Start of a turn: ring chunks of connections the loop is not reading
    /// go to the heap (a connection the loop read from, but not to the end
    /// for its turn's budget, keeps them: it is served again next turn),
    /// and receives that ran dry are re-armed while buffers are free.
    pub(super) fn settle(&mut self) {
        let mut received = mem::take(&mut self.received);
        let mut kept = 0;
        for i in 0..received.len() {
            let (t, generation) = received[i];
            let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
                continue;
            };
            if c.generation != generation {
                continue;
            }
            let holds = c.chunks.iter().any(|ch| matches!(ch, Chunk::Ring { .. }));
            if holds && c.taken && c.reading {
                c.taken = false;
                received[kept] = (t, generation);
                kept += 1;
                continue;
            }
            c.noted = false;
            self.spill(t);
            self.sync_recv(t);
        }
        received.truncate(kept);
        self.received = received;
        let mut free = self.ring.free_buffers(self.group);
        while free > 0 && !self.starved.is_empty() {
            let (t, generation) = self.starved.swap_remove(0);
            if let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) {
                if c.generation == generation && c.starved {
                    c.starved = false;
                    self.sync_recv(t);
                    free -= 1;
                }
            }
        }
        if let Some(g) = self.datagram_group {
            if self.ring.free_buffers(g) > 0 {
                while let Some(l) = self.starved_listeners.pop() {
                    if let Some(Some(x)) = self.listeners.get_mut(l) {
                        x.starved = false;
                    }
                    self.arm_listener(l);
                }
            }
        }
    }

    /// Applies one completion.
    pub(super) fn complete(&mut self, c: Completion) {
        if c.tag & WAKE != 0 {
            self.pending.push(Event::Wake);
            return;
        }
        let index = (c.tag & 0xffff_ffff) as usize;
        let generation = ((c.tag >> 32) & 0x3fff_ffff) as u32;
        if c.tag & LISTENER != 0 {
            self.complete_listener(index, generation, c);
            return;
        }
        let live = self
            .conns
            .get(index)
            .and_then(Option::as_ref)
            .is_some_and(|x| x.generation == generation);
        if !live {
            // The ring reports nothing of a closed socket; this cannot be
            // another connection's, whatever it is.
            self.discard(c.event);
            return;
        }
        match c.event {
            Done::Sent { buf, off, result } => self.sent(index, buf, off, result),
            #[cfg(feature = "bytes")]
            Done::SentShared { bufs, result } => self.sent_shared(index, bufs, result),
            Done::Connected(r) => self.connected(index, r),
            e => self.received(index, c.more, e),
        }
    }

    pub(super) fn discard(&mut self, e: Done) {
        match e {
            Done::Received { buf, .. } | Done::Datagram { buf, .. } => self.ring.give_back(buf),
            Done::Sent { buf, .. } => self.recycle(buf),
            _ => {}
        }
    }

    fn received(&mut self, t: Token, more: bool, e: Done) {
        let c = self.conns[t].as_mut().expect("checked live");
        if !more {
            c.recv = Recv::Off;
        }
        match e {
            Done::Received { buf, len } if c.reading => {
                c.chunks.push_back(Chunk::Ring { buf, len, off: 0 });
                c.ring_held += 1;
                if !c.noted {
                    c.noted = true;
                    c.taken = false;
                    self.received.push((t, c.generation));
                }
            }
            Done::Received { buf, len } => {
                // Paused: what was under way when reading stopped is kept
                // off the ring.
                c.chunks.push_back(Chunk::Ring { buf, len, off: 0 });
                c.ring_held += 1;
                self.spill(t);
            }
            Done::Eof => {
                c.ended = true;
                c.chunks.push_back(Chunk::Eof);
            }
            Done::Failed(e) => match e.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    c.starved = true;
                    self.starved.push((t, c.generation));
                    return;
                }
                Some(libc::ECANCELED) => {}
                _ => {
                    c.ended = true;
                    c.chunks.push_back(Chunk::Failed(e));
                }
            },
            other => {
                self.discard(other);
                return;
            }
        }
        let c = self.conns[t].as_ref().expect("checked live");
        if !c.chunks.is_empty() {
            self.post(t, true, false);
        }
        if !more {
            self.sync_recv(t);
        }
    }

    fn connected(&mut self, t: Token, r: io::Result<()>) {
        let c = self.conns[t].as_mut().expect("checked live");
        let failed = r.is_err();
        c.dial = match r {
            Ok(()) => Dial::None,
            Err(e) => Dial::Failed(e),
        };
        self.pending.push(Event::Conn {
            token: t,
            readable: false,
            writable: true,
            closed: failed,
        });
        if !failed {
            self.sync_recv(t);
        }
    }

    /// Enters and applies completions until `done` or the deadline.
    pub(super) fn wait_until(&mut self, deadline: Instant, done: impl Fn(&Self) -> bool) -> io::Result<()> {
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not finish the cancelled operations in time",
                ));
            }
            self.ring.enter(Some(deadline - now))?;
            while let Some(c) = self.ring.next_completion() {
                self.complete(c);
            }
        }
        Ok(())
    }

    /// Forgets events queued for `t` (it closed or was detached).
    pub(super) fn forget_events(&mut self, t: Token) {
        if !self.pending.is_empty() {
            self.pending
                .retain(|e| !matches!(e, Event::Conn { token, .. } if *token == t));
        }
    }
}
