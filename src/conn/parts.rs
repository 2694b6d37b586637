//! [`Parts`]: a connection's state, output and input controls borrowed at
//! once (see [`Conn::parts`](super::Conn::parts)).

use super::Requests;
use crate::output::Output;

/// A connection's state, output and input controls, borrowed at once: see
/// [`Conn::parts`](crate::Conn::parts).
#[non_exhaustive]
pub struct Parts<'c, 'a, S> {
    /// The connection's user state, as [`Conn::state`](crate::Conn::state).
    pub state: &'c mut S,
    /// The connection's queued output, as [`Conn::output`](crate::Conn::output).
    pub output: &'c mut Output<'a>,
    /// What the handler asks of the input side.
    pub input: InputControl<'c, S>,
}

impl<S> std::fmt::Debug for Parts<'_, '_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

/// The input side of [`Parts`]: the same requests as [`Conn::keep`](crate::Conn::keep),
/// [`Conn::want`](crate::Conn::want), [`Conn::pause_reading`](crate::Conn::pause_reading) and [`Conn::resume_reading`](crate::Conn::resume_reading).
pub struct InputControl<'c, S> {
    pub(super) keep: &'c mut usize,
    pub(super) input_len: usize,
    pub(super) req: &'c mut Requests<S>,
}

impl<S> InputControl<'_, S> {
    /// As [`Conn::keep`](crate::Conn::keep).
    pub fn keep(&mut self, n: usize) {
        *self.keep = n.min(self.input_len);
    }

    /// As [`Conn::want`](crate::Conn::want).
    pub fn want(&mut self, n: usize) {
        self.req.want = Some(n);
    }

    /// As [`Conn::pause_reading`](crate::Conn::pause_reading).
    pub fn pause_reading(&mut self) {
        self.req.reading = Some(false);
    }

    /// As [`Conn::resume_reading`](crate::Conn::resume_reading).
    pub fn resume_reading(&mut self) {
        self.req.reading = Some(true);
    }
}

impl<S> std::fmt::Debug for InputControl<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputControl")
            .field("keep", &*self.keep)
            .finish_non_exhaustive()
    }
}
