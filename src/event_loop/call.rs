//! Calling the handler for one connection: a [`Conn`] view of its slot, the
//! panic caught, and what the call wrote and asked reported back.

use std::any::Any;
use std::cell::Cell;
use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::Limits;
use super::slot::{DIALED, PAUSED, Slot, UDP, WRITE_SHUT};
use crate::conn::{Conn, Endpoint, Requests};
use crate::events::{Action, Handler};
use crate::mailbox::Handover;
use crate::output::Output;
use crate::server::{ConnId, Server};

/// The input of a handler call.
#[derive(Clone, Copy)]
pub(super) enum Feed<'a> {
    Nothing,
    /// The slot's own kept input.
    Kept,
    /// Bytes lent by the backend.
    Lent(&'a [u8]),
}

/// What a handler call returned, wrote and asked.
pub(super) struct Outcome<S> {
    pub(super) action: Action,
    pub(super) keep: usize,
    /// A write went past the connection's output limit.
    pub(super) over: bool,
    /// Bytes the call appended to the output.
    pub(super) wrote: usize,
    pub(super) req: Requests<S>,
}

/// What every call of one loop shares.
pub(super) struct Cx<'a> {
    pub(super) loop_index: usize,
    pub(super) server: &'a Server,
    pub(super) limits: &'a Limits,
    pub(super) clock: &'a crate::clock::Clock,
    /// The loop's queued output (`Loop::queued_total`) when the call began.
    pub(super) loop_queued: usize,
    /// The PROXY header of the connection called, if it has one.
    pub(super) proxied: Option<&'a crate::proxy_protocol::Header>,
    /// A dialed connection's translator, offered in its `opened`; what the
    /// handler leaves there comes back here.
    pub(super) handover: Cell<Option<Handover>>,
}

pub(crate) fn panic_error(p: Box<dyn Any + Send>) -> io::Error {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    crate::Error::Panic(msg).into()
}

/// Calls `f` with a view of `slot`. A connection with nothing queued writes
/// into the loop's spare buffer, lent to it for the call (and kept if the
/// socket does not take it all), so that an idle connection holds no buffer.
/// `held` is the output the backend holds for it (see `Driver::held`).
#[allow(clippy::too_many_arguments)]
pub(super) fn invoke<H: Handler>(
    handler: &mut H,
    slot: &mut Slot<H::State>,
    token: usize,
    spare: &mut Vec<u8>,
    cx: &Cx<'_>,
    endpoint: Endpoint<'_>,
    held: usize,
    feed: Feed<'_>,
    closing: bool,
    f: impl FnOnce(&mut H, &mut Conn<'_, H::State>, &[u8]) -> Action,
) -> io::Result<Outcome<H::State>> {
    let Slot {
        generation,
        flags,
        addr_index,
        input,
        out,
        state,
        ..
    } = slot;
    if out.buf.capacity() == 0 {
        mem::swap(&mut out.buf, spare);
    }
    let before = out.mark();
    let len_before = out.len();
    let data: &[u8] = match feed {
        Feed::Nothing => &[],
        Feed::Kept => input,
        Feed::Lent(d) => d,
    };
    let udp = *flags & UDP != 0;
    let limit = if udp {
        cx.limits.max_datagram
    } else {
        cx.limits.max_output
    };
    let loop_others = cx.loop_queued.saturating_sub(out.len() + held);
    // A datagram is one copied buffer: shared bytes are copied into it.
    let pieces = (!udp).then_some(&mut out.pieces);
    let mut conn = Conn {
        id: ConnId::new(cx.loop_index, token as u32, *generation),
        addr_index: (*addr_index != DIALED).then_some(*addr_index as usize),
        state,
        out: Output::new(&mut out.buf, pieces, out.head, held, limit),
        keep: 0,
        input_len: data.len(),
        endpoint,
        server: cx.server,
        clock: cx.clock,
        loop_others,
        closing,
        high_water: cx.limits.high_water,
        paused: *flags & PAUSED != 0,
        proxied: cx.proxied,
        translator: None,
        handover: cx.handover.take(),
        req: Requests::default(),
    };
    let r = catch_unwind(AssertUnwindSafe(|| f(handler, &mut conn, data)));
    let unclaimed = conn.handover.take();
    let (mut over, keep, req) = (conn.out.over, conn.keep, conn.req);
    if unclaimed.is_some() {
        // No translator took the dial's: what the call wrote is plaintext
        // for a peer that expects a translated stream, and is never sent
        // (the loop closes the connection).
        out.truncate(before);
        over = false;
        cx.handover.set(unclaimed);
    }
    if r.is_err() {
        // The connection closes without flushing: what the panicking call
        // wrote is never sent, and never counted in the loop's total (so
        // closing must not take it off that total either).
        out.truncate(before);
    } else if *flags & WRITE_SHUT != 0 && out.len() > len_before {
        // The writing side is shut down: nothing more can be sent.
        log::debug!(
            "revio: {} bytes written after close_write dropped",
            out.len() - len_before
        );
        out.truncate(before);
        over = false;
    }
    let wrote = out.len().saturating_sub(len_before);
    if out.is_empty() && spare.capacity() == 0 {
        mem::swap(&mut out.buf, spare);
    }
    match r {
        Ok(action) => Ok(Outcome {
            action,
            keep,
            over,
            wrote,
            req,
        }),
        Err(p) => Err(panic_error(p)),
    }
}
