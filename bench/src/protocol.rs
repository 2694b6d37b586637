//! What the baselines' protocol code is written against, so that the tokio
//! driver (`tokio_conn`) and the revio driver (`revio_conn`) run the very same
//! parsing and replying code: a request/response [`Protocol`] that appends its
//! replies to an [`Out`], which is a `Vec<u8>` under tokio and the
//! connection's queued output ([`revio::Output`]) under revio.

/// Where a protocol appends its replies.
pub trait Out {
    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]);
    /// Appends one byte.
    fn push(&mut self, byte: u8);
}

impl Out for Vec<u8> {
    #[inline]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
}

impl Out for revio::Output<'_> {
    #[inline]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        revio::Output::extend_from_slice(self, bytes);
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        revio::Output::push(self, byte);
    }
}

/// A request/response protocol over a byte stream.
pub trait Protocol: 'static {
    /// Answers the complete requests at the start of `input`, appending replies
    /// to `out`; returns how many bytes it consumed, or `None` to close the
    /// connection once `out` is sent (a malformed request).
    fn process<O: Out>(&mut self, input: &[u8], out: &mut O) -> Option<usize>;

    /// True for an echo: the input itself is the reply, with no copy.
    fn is_echo(&self) -> bool {
        false
    }
}
