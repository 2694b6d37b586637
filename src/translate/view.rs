//! The wrapped handler's plaintext view of a connection, and what its calls
//! write and ask of the loop passed on to the outer connection.

use std::any::Any;
use std::io;
use std::mem;

use super::{End, Translated, Translator};
use crate::conn::{Conn, Requests};
use crate::events::{Action, Handler};
use crate::output::Output;

/// What a call of the wrapped handler returned.
pub(super) struct Called {
    pub(super) action: Action,
    pub(super) keep: usize,
    /// On a translated connection: the plaintext the wrapped handler waits
    /// for (`Conn::want`), which the translate layer counts itself.
    pub(super) want: Option<usize>,
}

/// Runs `f` with the wrapped handler's view of `outer`, which can see the
/// connection's translator ([`Conn::translator`]). On a translated
/// connection the view's output is `scratch` (plaintext, to be translated);
/// otherwise it is the outer output itself. Either way it is bounded by the
/// outer limit.
pub(super) fn with_view<S, T: Translator + 'static, R>(
    outer: &mut Conn<'_, Translated<S, T>>,
    scratch: &mut Vec<u8>,
    f: impl FnOnce(&mut Conn<'_, S>) -> R,
) -> R {
    let Conn {
        id,
        addr_index,
        state,
        out,
        endpoint,
        server,
        clock,
        loop_others,
        closing,
        high_water,
        paused,
        proxied,
        ..
    } = outer;
    let Translated {
        inner, translator, ..
    } = &mut **state;
    let translator = translator.as_deref();
    let view_out = match translator {
        // Plaintext for the translator: shared buffers are copied into it.
        Some(t) => Output::new(scratch, None, 0, out.queued() + t.buffered(), out.limit),
        None => Output::new(
            &mut *out.buf,
            out.pieces.as_deref_mut(),
            out.head,
            out.elsewhere,
            out.limit,
        ),
    };
    let mut view = Conn {
        id: *id,
        addr_index: *addr_index,
        state: inner,
        out: view_out,
        keep: 0,
        input_len: 0,
        endpoint: *endpoint,
        server,
        clock,
        loop_others: *loop_others,
        closing: *closing,
        high_water: *high_water,
        paused: *paused,
        proxied: *proxied,
        translator: translator.map(|t| t as &dyn Any),
        handover: None,
        req: Requests::default(),
    };
    let r = f(&mut view);
    let over = view.out.over;
    drop(view);
    if over {
        out.over = true;
    }
    r
}

/// As [`with_view`], but `f` also gets the translator's slot (to make the
/// translator, in `opened`); meanwhile the view sees no translator.
pub(super) fn with_slot<S, T: Translator + 'static, R>(
    outer: &mut Conn<'_, Translated<S, T>>,
    scratch: &mut Vec<u8>,
    f: impl FnOnce(&mut Option<Box<T>>, &mut Conn<'_, S>) -> R,
) -> R {
    let mut held = outer.state.translator.take();
    let r = with_view(outer, scratch, |c| f(&mut held, c));
    outer.state.translator = held;
    r
}

/// Calls the wrapped handler with a plaintext view of `outer` (input of
/// `input_len` bytes), translates what it wrote, passes on what it asked,
/// and maps its action.
pub(super) fn call<H: Handler, T: Translator + 'static>(
    inner: &mut H,
    outer: &mut Conn<'_, Translated<H::State, T>>,
    scratch: &mut Vec<u8>,
    input_len: usize,
    f: impl FnOnce(&mut H, &mut Conn<'_, H::State>) -> Action,
) -> Called {
    // Left over only if the wrapped handler panicked mid-call (the loop
    // caught it): never let it reach another connection.
    scratch.clear();
    let (mut action, keep, mut req) = with_view(outer, scratch, |c| {
        c.input_len = input_len;
        let a = f(inner, c);
        (a, c.keep, mem::take(&mut c.req))
    });
    let mut error = req.close_error;
    if let Some(tr) = outer.state.translator.as_deref_mut() {
        if !scratch.is_empty() {
            if let Err(e) = tr.write(scratch, outer.out.buf) {
                error = error.or(Some(e));
            }
            scratch.clear();
        }
        if action == Action::Detach {
            error = error.or_else(|| Some(cannot_detach()));
        }
        let ending = req.close_write || action == Action::Close;
        if error.is_none() && ending && tr.is_handshaking() && !matches!(action, Action::Shutdown) {
            // Not yet: the plaintext written so far waits for the
            // handshake, and the end must follow it.
            let end = if action == Action::Close {
                End::Close
            } else {
                End::Write
            };
            let deferred = &mut outer.state.deferred_end;
            *deferred = Some(deferred.map_or(end, |e| e.max(end)));
            req.close_write = false;
            if action == Action::Close {
                action = Action::None;
            }
        } else if error.is_some()
            || req.close_write
            || matches!(action, Action::Close | Action::Shutdown | Action::Detach)
        {
            tr.close(outer.out.buf);
        }
        check_wire_limit(outer);
    }
    if let Some(on) = req.reading {
        outer.req.reading = Some(on);
    }
    if let Some(d) = req.deadline {
        if outer.state.handshake_deadline {
            outer.state.deferred_deadline = Some(d);
        } else {
            // The wrapped handler's own deadline replaces a record timeout.
            outer.req.deadline = Some(d);
            outer.req.deadline_reading = false;
            outer.state.inner_deadline = d.is_some();
            outer.state.record_deadline = false;
        }
    }
    if req.close_write {
        outer.req.close_write = true;
    }
    if req.again {
        outer.req.again = true;
    }
    if req.abort {
        outer.req.abort = true;
    }
    let mut want = req.want;
    if outer.state.translator.is_none() {
        // Plain bytes: the loop counts them.
        outer.req.want = want.take();
    }
    if let Some(e) = error {
        // The loop flushes the output, then closes with this error.
        outer.close_with(e);
        if action != Action::Shutdown {
            action = Action::Close;
        }
    }
    Called { action, keep, want }
}

/// Marks the outer output over its limit if the translator's wire bytes
/// took it there.
pub(super) fn check_wire_limit<S, T>(outer: &mut Conn<'_, Translated<S, T>>) {
    if outer.out.queued() > outer.out.limit {
        outer.out.over = true;
    }
}

/// Closes `outer` with `e` after the translator's final bytes.
pub(super) fn fail<S, T: Translator>(outer: &mut Conn<'_, Translated<S, T>>, e: io::Error) {
    if let Some(tr) = outer.state.translator.as_deref_mut() {
        tr.close(outer.out.buf);
    }
    outer.close_with(e);
}

/// A new translated connection: the wrapped handler's deadlines wait for the
/// end of the handshake, and its handshake timeout (if any) is its deadline
/// meanwhile.
pub(super) fn start_handshake<S, T: Translator>(outer: &mut Conn<'_, Translated<S, T>>) {
    let Some(tr) = outer.state.translator.as_deref() else {
        return;
    };
    if tr.is_handshaking() {
        // Even without a handshake timeout: a deadline set in `opened`
        // runs from the end of the handshake either way.
        outer.state.handshake_deadline = true;
        if let Some(d) = tr.handshake_timeout() {
            outer.req.deadline = Some(Some(d));
        }
    }
}

/// The handshake completed: the wrapped handler's own deadline (if it set
/// one meanwhile) replaces the handshake timeout.
pub(super) fn handshake_done<S, T>(outer: &mut Conn<'_, Translated<S, T>>) {
    if mem::take(&mut outer.state.handshake_deadline) {
        outer.req.deadline = Some(outer.state.deferred_deadline.take().unwrap_or(None));
    }
}

/// Runs the translator's record timeout as the connection's deadline while
/// an incomplete record waits (`partial`) and nothing else times the
/// connection (no handshake timeout, no deadline of the wrapped handler's).
/// The countdown starts again whenever the translator took wire bytes
/// (`progressed`: a record was completed), so that it times the record now
/// waiting, not the first one of a stream that never stops.
pub(super) fn watch_records<S, T: Translator>(
    outer: &mut Conn<'_, Translated<S, T>>,
    partial: bool,
    progressed: bool,
) {
    let st = &mut *outer.state;
    if st.handshake_deadline || st.inner_deadline {
        return;
    }
    let Some(d) = st.translator.as_deref().and_then(|t| t.record_timeout()) else {
        return;
    };
    if partial && (!st.record_deadline || progressed) {
        st.record_deadline = true;
        outer.req.deadline = Some(Some(d));
        // The wait is the peer's only while the loop reads the connection.
        outer.req.deadline_reading = true;
    } else if !partial && st.record_deadline {
        st.record_deadline = false;
        outer.req.deadline = Some(None);
    }
}

/// The error `closed` reports: a deadline that passed during the handshake
/// is the handshake timeout; one that passed while a record waited for its
/// end, the record timeout.
pub(super) fn closing_error<S, T: Translator>(
    outer: &Conn<'_, Translated<S, T>>,
    error: Option<io::Error>,
) -> Option<io::Error> {
    let handshake = outer
        .state
        .translator
        .as_deref()
        .filter(|t| outer.state.handshake_deadline && t.is_handshaking())
        .and_then(|t| t.handshake_timeout());
    let record = outer
        .state
        .translator
        .as_deref()
        .filter(|_| outer.state.record_deadline)
        .and_then(|t| t.record_timeout());
    match (error, handshake, record) {
        (Some(e), Some(d), _) if crate::Error::of(&e) == Some(&crate::Error::Deadline) => {
            Some(crate::Error::HandshakeTimeout(d).into())
        }
        (Some(e), None, Some(d)) if crate::Error::of(&e) == Some(&crate::Error::Deadline) => {
            Some(crate::Error::RecordTimeout(d).into())
        }
        (e, _, _) => e,
    }
}

fn cannot_detach() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a translated connection cannot be detached (its socket carries the translated stream); closed instead",
    )
}
