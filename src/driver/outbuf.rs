//! [`OutBuf`]: a connection's queued output, owned by the loop until the
//! socket has it.
//!
//! Most output is copied into one `Vec<u8>`. With the `bytes` feature a
//! handler can also queue shared buffers ([`bytes::Bytes`], see
//! `Output::write_shared`), which are sent from where they are: they wait in
//! an optional boxed list of pieces, each placed at an offset of the copied
//! bytes, so that the order of writes is kept exactly (copied bytes, a
//! shared piece, copied bytes...). A connection that never queues a shared
//! buffer pays one null pointer for the list (none without the feature).

use std::io::IoSlice;

#[cfg(feature = "bytes")]
use bytes::Bytes;
#[cfg(feature = "bytes")]
use std::collections::VecDeque;

/// A connection's queued output: the copied bytes from `head` on, with the
/// shared pieces among them, are not sent yet. The loop appends at the end;
/// a backend sends from the front.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    pub(crate) buf: Vec<u8>,
    pub(crate) head: usize,
    pub(crate) pieces: Pieces,
}

/// The shared pieces of an [`OutBuf`], in order; `None` while there are none.
#[cfg(feature = "bytes")]
#[derive(Debug, Default)]
pub(crate) struct Pieces(Option<Box<List>>);

/// Without the `bytes` feature there are never shared pieces.
#[cfg(not(feature = "bytes"))]
#[derive(Debug, Default)]
pub(crate) struct Pieces;

#[cfg(feature = "bytes")]
#[derive(Debug, Default)]
struct List {
    pieces: VecDeque<Piece>,
    /// Bytes in `pieces`, not sent yet.
    len: usize,
}

/// A shared buffer queued after the copied bytes before `buf[at]`.
#[cfg(feature = "bytes")]
#[derive(Debug)]
struct Piece {
    at: usize,
    bytes: Bytes,
}

/// Where an [`OutBuf`] ended, to drop what was appended after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    buf: usize,
    #[cfg(feature = "bytes")]
    pieces: usize,
}

impl Pieces {
    /// Bytes queued in shared pieces.
    pub(crate) fn len(&self) -> usize {
        #[cfg(feature = "bytes")]
        return self.0.as_ref().map_or(0, |l| l.len);
        #[cfg(not(feature = "bytes"))]
        0
    }

    /// Queues `bytes` after the copied bytes before `at`.
    #[cfg(feature = "bytes")]
    pub(crate) fn push(&mut self, at: usize, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let list = self.0.get_or_insert_with(Box::default);
        list.len += bytes.len();
        list.pieces.push_back(Piece { at, bytes });
    }
}

impl OutBuf {
    /// How many bytes are not sent yet, copied and shared.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head + self.pieces.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The copied bytes not sent yet, for output that never holds shared
    /// pieces (a UDP remote's datagram, which `Output` always copies).
    pub(crate) fn unsent(&self) -> &[u8] {
        debug_assert_eq!(self.pieces.len(), 0, "a datagram holds no shared piece");
        &self.buf[self.head..]
    }

    /// The first run of bytes to send: the copied bytes up to the first
    /// shared piece, or that piece.
    pub(crate) fn front(&self) -> &[u8] {
        #[cfg(feature = "bytes")]
        if let Some(l) = &self.pieces.0 {
            let p = &l.pieces[0];
            if p.at == self.head {
                return &p.bytes;
            }
            return &self.buf[self.head..p.at];
        }
        &self.buf[self.head..]
    }

    /// Fills `dst` with the unsent runs, in order (as many as fit), for one
    /// vectored write; returns how many it filled.
    pub(crate) fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut push = |s: &'a [u8]| {
            if !s.is_empty() && n < dst.len() {
                dst[n] = IoSlice::new(s);
                n += 1;
            }
        };
        #[allow(unused_mut)]
        let mut from = self.head;
        #[cfg(feature = "bytes")]
        if let Some(l) = &self.pieces.0 {
            for p in &l.pieces {
                push(&self.buf[from..p.at]);
                push(&p.bytes);
                from = p.at;
            }
        }
        push(&self.buf[from..]);
        n
    }

    /// Marks `n` more bytes as sent, releasing the shared pieces sent whole.
    /// Once everything is sent the buffer is emptied (its capacity kept); a
    /// long-lived partial send moves the rest down once the sent part is the
    /// larger, not on every send.
    pub(crate) fn consume(&mut self, #[allow(unused_mut)] mut n: usize) {
        #[cfg(feature = "bytes")]
        while n > 0 {
            let Some(l) = self.pieces.0.as_deref_mut() else {
                break;
            };
            let p = &mut l.pieces[0];
            if p.at > self.head {
                let m = n.min(p.at - self.head);
                self.head += m;
                n -= m;
                continue;
            }
            let m = n.min(p.bytes.len());
            l.len -= m;
            n -= m;
            if m == p.bytes.len() {
                l.pieces.pop_front();
                if l.pieces.is_empty() {
                    self.pieces.0 = None;
                }
            } else {
                p.bytes = p.bytes.slice(m..);
            }
        }
        self.head += n;
        debug_assert!(self.head <= self.buf.len());
        if self.head == self.buf.len() {
            // Pieces left all sit at the end of the copied bytes.
            self.shift(self.head);
            self.buf.clear();
            self.head = 0;
        } else if self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.shift(self.head);
            self.head = 0;
        }
    }

    /// The copied bytes before `head` are gone: the pieces' offsets move down.
    fn shift(&mut self, _by: usize) {
        #[cfg(feature = "bytes")]
        if let Some(l) = self.pieces.0.as_deref_mut() {
            for p in &mut l.pieces {
                p.at -= _by;
            }
        }
    }

    /// Where the output ends now.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            buf: self.buf.len(),
            #[cfg(feature = "bytes")]
            pieces: self.pieces.0.as_ref().map_or(0, |l| l.pieces.len()),
        }
    }

    /// Drops what was appended since `mark` (shared pieces released).
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.buf.truncate(mark.buf);
        #[cfg(feature = "bytes")]
        if let Some(l) = self.pieces.0.as_deref_mut() {
            for p in l.pieces.drain(mark.pieces.min(l.pieces.len())..) {
                l.len -= p.bytes.len();
            }
            if l.pieces.is_empty() {
                self.pieces.0 = None;
            }
        }
    }

    /// Drops everything queued (shared pieces released), keeping the copied
    /// bytes' buffer.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.pieces = Pieces::default();
    }

    /// Drops everything queued (shared pieces released) and gives the copied
    /// bytes' buffer back, for reuse.
    pub(crate) fn take_buf(&mut self) -> Vec<u8> {
        self.head = 0;
        self.pieces = Pieces::default();
        std::mem::take(&mut self.buf)
    }

    /// Puts the rest of a short send, `rest[off..]`, back in front of what
    /// is queued; returns the buffer it replaces, for reuse.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    pub(crate) fn put_back(&mut self, mut rest: Vec<u8>, off: usize) -> Vec<u8> {
        let moved = rest.len() as isize - self.head as isize;
        rest.extend_from_slice(&self.buf[self.head..]);
        #[cfg(feature = "bytes")]
        if let Some(l) = self.pieces.0.as_deref_mut() {
            for p in &mut l.pieces {
                p.at = (p.at as isize + moved) as usize;
            }
        }
        #[cfg(not(feature = "bytes"))]
        let _ = moved;
        self.head = off;
        std::mem::replace(&mut self.buf, rest)
    }

    /// With shared pieces queued, takes up to `max` runs from the front as
    /// `Bytes` (the copied runs too, see [`OutBuf::freeze`]): a completion
    /// backend sends from them and holds them until the send completes.
    /// Empty when only copied bytes are queued.
    #[cfg(feature = "bytes")]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    pub(crate) fn take_front_runs(&mut self, max: usize) -> Vec<Bytes> {
        if self.front_is_copied() == Some(true) {
            self.freeze();
        }
        let mut runs = Vec::new();
        while runs.len() < max {
            match self.take_front_shared() {
                Some(run) => runs.push(run),
                None => break,
            }
        }
        runs
    }

    /// Whether the front run is copied bytes; `None` without shared pieces.
    #[cfg(feature = "bytes")]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    fn front_is_copied(&self) -> Option<bool> {
        let l = self.pieces.0.as_deref()?;
        Some(l.pieces[0].at != self.head)
    }

    /// If the front run is a shared piece, takes it out.
    #[cfg(feature = "bytes")]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    fn take_front_shared(&mut self) -> Option<Bytes> {
        let l = self.pieces.0.as_deref_mut()?;
        if l.pieces[0].at != self.head {
            return None;
        }
        let p = l.pieces.pop_front()?;
        l.len -= p.bytes.len();
        if l.pieces.is_empty() {
            self.pieces.0 = None;
        }
        Some(p.bytes)
    }

    /// Puts the rest of a short shared send back in front.
    #[cfg(feature = "bytes")]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    pub(crate) fn put_back_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let list = self.pieces.0.get_or_insert_with(Box::default);
        list.len += bytes.len();
        list.pieces.push_front(Piece { at: self.head, bytes });
    }

    /// Turns the copied runs into shared pieces too, without copying (the
    /// buffer becomes a `Bytes`), when there are shared pieces: a completion
    /// backend then sends every run from a `Bytes` it holds, one at a time,
    /// and new writes go to a fresh buffer.
    #[cfg(feature = "bytes")]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's sends
    fn freeze(&mut self) {
        let Some(mut l) = self.pieces.0.take() else {
            return;
        };
        let copied = Bytes::from(std::mem::take(&mut self.buf));
        let mut runs = VecDeque::with_capacity(l.pieces.len() * 2 + 1);
        let mut from = self.head;
        let mut push = |bytes: Bytes| {
            if !bytes.is_empty() {
                runs.push_back(Piece { at: 0, bytes });
            }
        };
        for p in l.pieces.drain(..) {
            push(copied.slice(from..p.at));
            from = p.at;
            push(p.bytes);
        }
        push(copied.slice(from..));
        l.len = runs.iter().map(|p| p.bytes.len()).sum();
        l.pieces = runs;
        self.head = 0;
        self.pieces.0 = Some(l);
    }
}

#[cfg(all(test, feature = "bytes"))]
#[path = "outbuf_tests.rs"]
mod tests;
