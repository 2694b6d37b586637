//! Sending: one send in flight per connection, from a buffer the ring owns
//! until it completes, and a short send's rest given back to the loop.
//!
//! Copied output goes as the connection's `Vec` itself (the loop gets a
//! spare one meanwhile). With the `bytes` feature, output holding shared
//! pieces goes as `Bytes`, up to `MAX_RUNS` runs in one `sendmsg`
//! (`Ring::send_shared`): the copied runs become `Bytes` too, without a
//! copy (see `OutBuf::freeze`), and the ring holds them until the send
//! completes, also across a cancel or a close, so a shared buffer is
//! released once the kernel has it.

use std::io;
use std::mem;

use super::{UringDriver, tag, would_block};
use crate::driver::{OutBuf, Token};

/// Runs of output (copied or shared) one send takes at most, as epoll's
/// vectored writes.
#[cfg(feature = "bytes")]
const MAX_RUNS: usize = 64;

/// What a short send left unsent, for `Driver::take_sent` to give back.
#[derive(Debug)]
pub(super) enum Rest {
    /// A copied buffer and the offset of its rest.
    Copied(Vec<u8>, usize),
    /// The runs not sent whole, in order (the first may be a part).
    #[cfg(feature = "bytes")]
    Shared(Vec<bytes::Bytes>),
}

impl UringDriver {
    /// `Driver::send`: starts one send from the front of `out`.
    pub(super) fn start_send(&mut self, token: Token, out: &mut OutBuf) -> io::Result<usize> {
        let c = self.conn(token)?;
        if let Some(e) = c.send_error.take() {
            return Err(e);
        }
        if c.in_flight || c.rest.is_some() {
            // A short send's rest goes first, once `take_sent` gave it back.
            return Err(would_block());
        }
        if out.is_empty() {
            return Ok(0);
        }
        let (sock, t) = (c.sock, tag(token, c.generation));
        #[cfg(feature = "bytes")]
        if out.pieces.len() > 0 {
            let runs = out.take_front_runs(MAX_RUNS);
            let n = runs.iter().map(|r| r.len()).sum();
            return match self.ring.send_shared(sock, runs, t) {
                Ok(_) => Ok(self.in_flight(token, n)),
                Err((e, runs)) => {
                    put_back_runs(out, runs);
                    Err(e)
                }
            };
        }
        let n = out.len();
        // The connection keeps a buffer (with capacity, once warm) while
        // its output is in flight.
        let spare = self.pool.pop().unwrap_or_default();
        let buf = mem::replace(&mut out.buf, spare);
        let off = mem::take(&mut out.head);
        match self.ring.send(sock, buf, off, t) {
            Ok(_) => Ok(self.in_flight(token, n)),
            Err((e, buf)) => {
                // Nothing was sent: the output goes back where it was.
                let spare = mem::replace(&mut out.buf, buf);
                out.head = off;
                self.recycle(spare);
                Err(e)
            }
        }
    }

    fn in_flight(&mut self, token: Token, n: usize) -> usize {
        if let Some(Some(c)) = self.conns.get_mut(token) {
            c.in_flight = true;
            c.held += n;
        }
        n
    }

    /// `Driver::take_sent`: progress since the loop last asked, and a short
    /// send's rest back in front of `out`.
    pub(super) fn give_back_rest(&mut self, token: Token, out: &mut OutBuf) -> usize {
        let Ok(c) = self.conn(token) else {
            return 0;
        };
        let n = mem::take(&mut c.taken_by_kernel);
        c.held -= n;
        match c.rest.take() {
            Some(Rest::Copied(buf, off)) => {
                // The rest goes back in front of what the loop queued since.
                c.held -= buf.len() - off;
                let queued = out.put_back(buf, off);
                self.recycle(queued);
            }
            #[cfg(feature = "bytes")]
            Some(Rest::Shared(runs)) => {
                c.held -= runs.iter().map(|r| r.len()).sum::<usize>();
                put_back_runs(out, runs);
            }
            None => {}
        }
        n
    }

    /// A copied send completed.
    pub(super) fn sent(&mut self, t: Token, buf: Vec<u8>, off: usize, result: io::Result<usize>) {
        let len = buf.len() - off;
        let rest = match &result {
            &Ok(n) if n > 0 && n < len => Some(Rest::Copied(buf, off + n)),
            _ => {
                self.recycle(buf);
                None
            }
        };
        self.completed(t, len, result, rest);
    }

    /// A send from shared runs completed: the runs sent whole are released
    /// here, the rest kept for the loop's next attempt.
    #[cfg(feature = "bytes")]
    pub(super) fn sent_shared(&mut self, t: Token, mut runs: Vec<bytes::Bytes>, result: io::Result<usize>) {
        let len = runs.iter().map(|r| r.len()).sum();
        let rest = match &result {
            &Ok(n) if n > 0 && n < len => {
                let mut sent = n;
                runs.retain_mut(|r| {
                    let m = sent.min(r.len());
                    sent -= m;
                    *r = r.slice(m..);
                    !r.is_empty()
                });
                Some(Rest::Shared(runs))
            }
            _ => None,
        };
        self.completed(t, len, result, rest);
    }

    fn completed(&mut self, t: Token, len: usize, result: io::Result<usize>, rest: Option<Rest>) {
        let c = self.conns[t].as_mut().expect("checked live");
        match result {
            Ok(0) if len > 0 => self.send_failed(t, io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                // Short (the socket buffer filled): the send is over, and
                // the rest goes back to the loop (`take_sent`), whose next
                // attempt sends it, with its own `prewrite`.
                c.taken_by_kernel += n;
                c.in_flight = false;
                c.rest = rest;
                self.post(t, false, true);
            }
            Err(e) => self.send_failed(t, e),
        }
    }

    /// A send failed: the loop hears of it at its next `send`, `sent_all`
    /// or `recv`, which the events posted here lead it to. Its bytes stay
    /// counted as held (never to be sent) until the connection closes.
    fn send_failed(&mut self, t: Token, e: io::Error) {
        let c = self.conns[t].as_mut().expect("checked live");
        c.in_flight = false;
        c.send_error = Some(e);
        self.post(t, true, true);
    }
}

/// Puts runs taken for a send back in front of `out`, in order.
#[cfg(feature = "bytes")]
fn put_back_runs(out: &mut OutBuf, runs: Vec<bytes::Bytes>) {
    for run in runs.into_iter().rev() {
        out.put_back_shared(run);
    }
}
