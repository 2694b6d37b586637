//! What a handler asks of the loop during one call (pause reading, a
//! deadline, a close with an error, input wanted...), collected on the
//! [`Conn`](super::Conn) and applied by the loop when the call returns.

use std::io;
use std::time::Duration;

use super::ShutdownHook;

/// What a handler asked of the loop during one call; applied when it returns.
pub(crate) struct Requests<S> {
    /// Close (after flushing) and report this error in `closed`.
    pub(crate) close_error: Option<io::Error>,
    /// `Some(false)`: pause reading; `Some(true)`: resume.
    pub(crate) reading: Option<bool>,
    /// `Some(None)`: clear the deadline; `Some(Some(d))`: set it `d` from now.
    pub(crate) deadline: Option<Option<Duration>>,
    /// With a deadline set: it passes only while the loop reads the
    /// connection (the translate layer's record timeout, which waits for
    /// the peer, not for the loop's backpressure): when it comes with
    /// reading paused, it is checked again a second later.
    pub(crate) deadline_reading: bool,
    /// Shut the writing side down once the output is flushed.
    pub(crate) close_write: bool,
    /// Call `data` again once the output drains (the handler holds input).
    pub(crate) again: bool,
    pub(crate) shutdown_hook: Option<ShutdownHook<S>>,
    /// Close now, dropping the output, with a reset (see `Action::Abort`).
    pub(crate) abort: bool,
    /// Call `data` next only once this much input is here (`Conn::want`).
    pub(crate) want: Option<usize>,
}

impl<S> Default for Requests<S> {
    fn default() -> Self {
        Requests {
            close_error: None,
            reading: None,
            deadline: None,
            deadline_reading: false,
            close_write: false,
            again: false,
            shutdown_hook: None,
            abort: false,
            want: None,
        }
    }
}

impl<S> Requests<S> {
    /// Whether anything was asked (the common case is nothing).
    pub(crate) fn any(&self) -> bool {
        self.close_error.is_some()
            || self.reading.is_some()
            || self.deadline.is_some()
            || self.close_write
            || self.again
            || self.shutdown_hook.is_some()
            || self.abort
            || self.want.is_some()
    }
}
