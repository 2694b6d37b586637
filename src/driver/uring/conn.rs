//! Connections: what each holds, and its multishot receive kept in step
//! with what the loop takes (see the backend's docs on backpressure).

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::os::fd::OwnedFd;

use revio_uring::{BufId, Op, Sock};

use super::send::Rest;
use super::{MAX_AHEAD, POOL, POOL_CAPACITY, UringDriver, no_socket, tag};
use crate::driver::{Event, Token};

/// Received bytes queued on a connection, in order.
pub(super) enum Chunk {
    /// Bytes `off..len` of a ring buffer.
    Ring {
        buf: BufId,
        len: usize,
        off: usize,
    },
    /// Bytes copied out of the ring (see the module docs on backpressure).
    Heap {
        bytes: Vec<u8>,
        off: usize,
    },
    Eof,
    Failed(io::Error),
}

/// A connection's multishot receive.
pub(super) enum Recv {
    Off,
    Armed(Op),
    /// Cancelled; its last completion has not come yet.
    Cancelling,
}

pub(super) enum Dial {
    None,
    Pending,
    Failed(io::Error),
}

pub(super) struct Conn {
    pub(super) sock: Sock,
    pub(super) generation: u32,
    pub(super) unix: bool,
    pub(super) recv: Recv,
    /// The loop wants input (`set_reading`).
    pub(super) reading: bool,
    /// End of stream or an error is queued: the receive is over for good.
    pub(super) ended: bool,
    /// Out of ring buffers: waiting in `starved` to be re-armed.
    pub(super) starved: bool,
    /// In `received`: got ring chunks this turn.
    pub(super) noted: bool,
    /// The loop received from it since it was noted.
    pub(super) taken: bool,
    pub(super) chunks: VecDeque<Chunk>,
    /// `Ring` chunks in `chunks`.
    pub(super) ring_held: usize,
    /// Bytes held in `Heap` chunks.
    pub(super) heap: usize,
    /// A send is in flight; `writable` is posted at its completion.
    pub(super) in_flight: bool,
    /// What a short send left unsent (its buffer and the offset of the
    /// rest), given back to the loop by `Driver::take_sent`.
    pub(super) rest: Option<Rest>,
    /// Bytes given to `send` not yet reported taken (`Driver::held`).
    pub(super) held: usize,
    /// Of those, bytes the kernel took, for `Driver::take_sent`.
    pub(super) taken_by_kernel: usize,
    pub(super) send_error: Option<io::Error>,
    pub(super) dial: Dial,
    /// The turn this connection's event was posted in, and where.
    pub(super) posted: (u32, usize),
}

/// What `recv` or `recv_from` lent last, given back at the next one or `poll`.
pub(super) enum Loan {
    None,
    Ring(BufId),
    Heap(Vec<u8>),
}

impl UringDriver {
    pub(super) fn conn(&mut self, t: Token) -> io::Result<&mut Conn> {
        self.conns
            .get_mut(t)
            .and_then(Option::as_mut)
            .ok_or_else(no_socket)
    }

    pub(super) fn put(&mut self, t: Token, fd: OwnedFd, unix: bool, dial: Dial) -> &mut Conn {
        let generation = self.next_generation();
        let sock = self.ring.add(fd);
        if self.conns.len() <= t {
            self.conns.resize_with(t + 1, || None);
        }
        self.conns[t].insert(Conn {
            sock,
            generation,
            unix,
            recv: Recv::Off,
            reading: true,
            ended: false,
            starved: false,
            noted: false,
            taken: false,
            chunks: VecDeque::new(),
            ring_held: 0,
            heap: 0,
            in_flight: false,
            rest: None,
            held: 0,
            taken_by_kernel: 0,
            send_error: None,
            dial,
            posted: (u32::MAX, 0),
        })
    }

    /// Gives back what the last `recv` or `recv_from` lent.
    pub(super) fn end_loan(&mut self) {
        match mem::replace(&mut self.loan, Loan::None) {
            Loan::None => {}
            Loan::Ring(b) => self.ring.give_back(b),
            Loan::Heap(v) => self.recycle(v),
        }
    }

    pub(super) fn recycle(&mut self, mut v: Vec<u8>) {
        if v.capacity() > 0 && v.capacity() <= POOL_CAPACITY && self.pool.len() < POOL {
            v.clear();
            self.pool.push(v);
        }
    }

    /// Reports `readable` and/or `writable` for `t`, one event per turn.
    pub(super) fn post(&mut self, t: Token, readable: bool, writable: bool) {
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        if c.posted.0 == self.turn {
            if let Some(Event::Conn {
                token,
                readable: r,
                writable: w,
                ..
            }) = self.pending.get_mut(c.posted.1)
            {
                if *token == t {
                    *r |= readable;
                    *w |= writable;
                    return;
                }
            }
        }
        c.posted = (self.turn, self.pending.len());
        self.pending.push(Event::Conn {
            token: t,
            readable,
            writable,
            closed: false,
        });
    }

    /// Arms or cancels `t`'s multishot receive to match what it should do:
    /// receive while the loop wants input, has no error or end queued, and
    /// holds little; a connection holding `ahead` ring buffers pauses until
    /// the loop has taken half of them, so that one fast sender cannot take
    /// the whole ring from the others.
    pub(super) fn sync_recv(&mut self, t: Token) {
        let (group, ahead) = (self.group, self.ahead);
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        let want = c.reading && !c.ended && !c.starved && c.heap < MAX_AHEAD && matches!(c.dial, Dial::None);
        match c.recv {
            Recv::Off if want && c.ring_held <= ahead / 2 => {
                match self.ring.recv_multi(c.sock, group, tag(t, c.generation)) {
                    Ok(op) => c.recv = Recv::Armed(op),
                    Err(e) => {
                        c.ended = true;
                        c.chunks.push_back(Chunk::Failed(e));
                        self.post(t, true, false);
                    }
                }
            }
            Recv::Armed(op) if !want || c.ring_held >= ahead => {
                self.ring.cancel(op);
                c.recv = Recv::Cancelling;
            }
            _ => {}
        }
    }

    /// Copies `t`'s ring chunks into a heap chunk and gives the buffers back.
    pub(super) fn spill(&mut self, t: Token) {
        let Some(c) = self.conns.get_mut(t).and_then(Option::as_mut) else {
            return;
        };
        if !c.chunks.iter().any(|ch| matches!(ch, Chunk::Ring { .. })) {
            return;
        }
        let mut kept = VecDeque::with_capacity(c.chunks.len());
        for ch in c.chunks.drain(..) {
            match ch {
                Chunk::Ring { buf, len, off } => {
                    let bytes = &self.ring.buf(&buf)[off..len];
                    c.heap += bytes.len();
                    c.ring_held -= 1;
                    match kept.back_mut() {
                        Some(Chunk::Heap { bytes: h, .. }) => h.extend_from_slice(bytes),
                        _ => kept.push_back(Chunk::Heap {
                            bytes: bytes.to_vec(),
                            off: 0,
                        }),
                    }
                    self.ring.give_back(buf);
                }
                other => kept.push_back(other),
            }
        }
        c.chunks = kept;
    }
}
