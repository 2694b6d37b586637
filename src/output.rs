//! [`Output`]: a connection's queued output, as a handler may touch it: append
//! only, never past the limit.

use std::io;

use crate::driver::Pieces;

/// The output queued for one connection, reached with
/// [`Conn::output`](crate::Conn::output). Handlers can only append: bytes
/// already queued (from earlier events, or partly sent) cannot be read,
/// removed or rewritten, so no handler can corrupt what the loop is sending.
///
/// # The limit
/// A connection may queue at most [`Config::max_output`](crate::Config::max_output)
/// bytes (bytes written but not yet taken by the socket). A write that would
/// go past it is dropped whole, as is every later write in the same event,
/// and after the handler returns the connection is closed without flushing:
/// `closed` gets an [`Error::OutputLimit`](crate::Error::OutputLimit). Through
/// [`std::io::Write`] such a write fails with that error instead.
/// [`Output::is_over_limit`] says whether that happened.
///
/// A handler that serves pipelined requests should not get anywhere near the
/// limit: it checks [`Conn::is_congested`](crate::Conn::is_congested) after
/// each reply and stops early (see there).
///
/// ```
/// use std::io::Write;
/// use revio::{Action, Conn, Handler};
///
/// struct Count;
/// impl Handler for Count {
///     type State = ();
///     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         let out = conn.output();
///         out.extend_from_slice(b"+");
///         // Formats straight into the queue: no intermediate String.
///         let _ = write!(out, "{}\r\n", input.len());
///         Action::None
///     }
/// }
/// ```
pub struct Output<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
    /// Where shared buffers go (`None`: they are copied, as for a datagram
    /// or behind a translator).
    pub(crate) pieces: Option<&'a mut Pieces>,
    /// Bytes at the front of `buf` that are already sent.
    pub(crate) head: usize,
    /// Queued bytes that are not in `buf` (a backend owns them until sent,
    /// or, behind a translator, the wire bytes of the outer connection).
    pub(crate) elsewhere: usize,
    pub(crate) limit: usize,
    pub(crate) over: bool,
}

impl<'a> Output<'a> {
    pub(crate) fn new(
        buf: &'a mut Vec<u8>,
        pieces: Option<&'a mut Pieces>,
        head: usize,
        elsewhere: usize,
        limit: usize,
    ) -> Output<'a> {
        Output {
            buf,
            pieces,
            head,
            elsewhere,
            limit,
            over: false,
        }
    }

    /// Bytes queued for this connection that the socket has not taken yet,
    /// including what this event wrote.
    pub fn queued(&self) -> usize {
        self.buf.len() - self.head + self.elsewhere + self.pieces.as_ref().map_or(0, |p| p.len())
    }

    /// How many more bytes may be queued before the limit.
    pub fn room(&self) -> usize {
        if self.over {
            return 0;
        }
        self.limit.saturating_sub(self.queued())
    }

    /// Whether a write was dropped for going past the limit (the connection
    /// closes when the handler returns).
    pub fn is_over_limit(&self) -> bool {
        self.over
    }

    /// Whether `n` more bytes fit; marks the output over the limit if not.
    fn admit(&mut self, n: usize) -> bool {
        if self.over || n > self.room() {
            self.over = true;
            return false;
        }
        true
    }

    /// Appends `bytes` (dropped if they do not fit under the limit).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.admit(bytes.len()) {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        if self.admit(1) {
            self.buf.push(byte);
        }
    }

    /// Reserves capacity for at least `additional` more bytes (no more than
    /// the limit leaves room for).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional.min(self.room()));
    }

    /// Appends up to `max` bytes written in place by `fill`, which gets a
    /// zeroed slice of `max` bytes and returns how many it used (more than
    /// `max` counts as `max`). For formatting numbers and the like straight
    /// into the queue. Returns the count appended; 0 if `max` bytes do not
    /// fit under the limit (then the output is over the limit).
    ///
    /// ```
    /// # use revio::{Action, Conn, Handler};
    /// # struct H;
    /// # impl Handler for H {
    /// #     type State = ();
    /// fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
    ///     conn.output().append_with(8, |space| {
    ///         space[..2].copy_from_slice(b"ok");
    ///         2
    ///     });
    ///     Action::None
    /// }
    /// # }
    /// ```
    pub fn append_with(&mut self, max: usize, fill: impl FnOnce(&mut [u8]) -> usize) -> usize {
        if !self.admit(max) {
            return 0;
        }
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        let used = fill(&mut self.buf[start..]).min(max);
        self.buf.truncate(start + used);
        used
    }
}

#[cfg(feature = "bytes")]
impl Output<'_> {
    /// Shared buffers shorter than this are copied into the queue: for a few
    /// bytes a copy costs less than a reference to keep and a separate piece
    /// to send.
    pub const COPY_BELOW: usize = 4096;

    /// Queues a shared buffer, sent from where it is, without copying: the
    /// loop keeps the [`Bytes`](crate::Bytes) (a reference count, not the
    /// bytes) until the kernel has taken them, then drops it. It is sent in
    /// order with what is written before and after it, and counts like
    /// copied bytes in [`queued`](Output::queued), the high-water mark,
    /// [`Config::max_output`](crate::Config::max_output) (a buffer that does
    /// not fit under the limit is dropped, and the connection closes, as for
    /// [`extend_from_slice`](Output::extend_from_slice)) and
    /// [`Config::loop_output_budget`](crate::Config::loop_output_budget).
    ///
    /// Where a copy is cheaper or needed, the bytes are copied instead:
    /// buffers under [`Output::COPY_BELOW`] (4 KiB), a UDP remote's datagram,
    /// and output through a [`Translate`](crate::Translate) layer (TLS
    /// encrypts into its own records). The std backend copies into its
    /// writer thread's queue; epoll and kqueue send with one vectored write,
    /// io_uring with a send from the buffer itself.
    ///
    /// ```
    /// use revio::{Action, Bytes, Conn, Handler};
    ///
    /// /// Answers every request with the same large page, built once.
    /// struct Page(Bytes);
    ///
    /// impl Handler for Page {
    ///     type State = ();
    ///     fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
    ///         let out = conn.output();
    ///         out.extend_from_slice(format!("{}\n", self.0.len()).as_bytes());
    ///         out.write_shared(self.0.clone()); // a reference, not a copy
    ///         Action::None
    ///     }
    /// }
    /// let page = Page(Bytes::from(vec![b'x'; 1 << 20]));
    /// # let _ = page;
    /// ```
    pub fn write_shared(&mut self, bytes: crate::Bytes) {
        if self.pieces.is_none() || bytes.len() < Self::COPY_BELOW {
            return self.extend_from_slice(&bytes);
        }
        if self.admit(bytes.len()) {
            let at = self.buf.len();
            if let Some(pieces) = self.pieces.as_deref_mut() {
                pieces.push(at, bytes);
            }
        }
    }
}

impl io::Write for Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.admit(bytes.len()) {
            self.buf.extend_from_slice(bytes);
            Ok(())
        } else {
            Err(crate::Error::OutputLimit { limit: self.limit }.into())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Extend<u8> for Output<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        for b in iter {
            self.push(b);
        }
    }
}

impl<'b> Extend<&'b u8> for Output<'_> {
    fn extend<I: IntoIterator<Item = &'b u8>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("queued", &self.queued())
            .field("limit", &self.limit)
            .field("over_limit", &self.over)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appends_until_the_limit_then_drops_everything() {
        let mut v = b"sent-".to_vec();
        let mut o = Output::new(&mut v, None, 5, 2, 10);
        assert_eq!(o.queued(), 2);
        o.extend_from_slice(b"abc");
        assert_eq!(o.queued(), 5);
        assert_eq!(o.room(), 5);
        o.extend_from_slice(b"123456"); // would make 11
        assert!(o.is_over_limit());
        o.push(b'x'); // dropped too: nothing after an overflow gets in
        assert!(write!(o, "y").is_err());
        assert_eq!(o.room(), 0);
        assert_eq!(v, b"sent-abc");
    }

    #[test]
    fn append_with_clamps_what_fill_reports() {
        let mut v = Vec::new();
        let mut o = Output::new(&mut v, None, 0, 0, 100);
        assert_eq!(
            o.append_with(4, |s| {
                s.copy_from_slice(b"wxyz");
                99
            }),
            4
        );
        assert_eq!(o.append_with(200, |_| 1), 0);
        assert!(o.is_over_limit());
        assert_eq!(v, b"wxyz");
    }
}
