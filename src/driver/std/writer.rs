//! A connection's writer thread: sends what `send` queued, in order, and
//! ends the stream as the connection's end asks.

use std::io;
use std::mem;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

use super::KEEP_SEND_BUFFER;
use super::hub::{transient, wait};
use super::link::{Link, Mode, sock_ref};
use crate::driver::{SEND_FLAGS, set_reset_on_close};
use crate::stream::Stream;

/// Sends all of `buf`, reporting each step's progress to the loop (as
/// `sent`, with `writable`); `Ok(false)` if told to abort, or given up, first.
fn send_all(link: &Link, sock: &Stream, mut buf: &[u8]) -> io::Result<bool> {
    let s = sock_ref(sock);
    while !buf.is_empty() {
        match s.send_with_flags(buf, SEND_FLAGS) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                buf = &buf[n..];
                let mut st = link.lock();
                st.sent += n;
                st.sending = !buf.is_empty();
                drop(st);
                // The loop waits for this to hear of the progress (`take_sent`).
                link.post(false, true, false);
            }
            Err(e) if transient(&e) => {
                let st = link.lock();
                if st.mode == Mode::Aborting || st.give_up.is_some_and(|t| Instant::now() >= t) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// How a writer thread ends.
enum End {
    /// Everything sent: end the stream (a FIN).
    Shut,
    /// Leave the socket as it is (detached, or already broken).
    Leave,
    /// Output was cut: the peer must see a reset, never a clean end.
    Cut,
}

/// The writer thread: sends what `send` queued, in order.
pub(super) fn write_side(link: Arc<Link>, sock: Arc<Stream>) {
    let mut sending = Vec::new();
    let end = loop {
        let mut st = link.lock();
        let stop = loop {
            if st.mode == Mode::Aborting {
                break Some(if st.queue.is_empty() { End::Leave } else { End::Cut });
            }
            if !st.queue.is_empty() {
                // The emptied buffer goes back as the queue: no allocation once warm.
                mem::swap(&mut st.queue, &mut sending);
                st.sending = true;
                break None;
            }
            if st.mode != Mode::Running {
                break Some(if st.mode == Mode::Closing {
                    End::Shut
                } else {
                    End::Leave
                });
            }
            if mem::take(&mut st.shut_write) {
                // Everything written before the half-close is sent: end the stream.
                let _ = sock_ref(&sock).shutdown(Shutdown::Write);
                continue;
            }
            st = wait(&link.cv, st);
        };
        drop(st);
        if let Some(end) = stop {
            break end;
        }
        match send_all(&link, &sock, &sending) {
            Ok(true) => {}
            Ok(false) => break End::Cut,
            Err(e) => {
                let mut st = link.lock();
                st.error = Some(e);
                st.queue = Vec::new();
                st.sending = false;
                drop(st);
                link.post(true, true, true);
                break End::Leave;
            }
        }
        sending.clear();
        if sending.capacity() > KEEP_SEND_BUFFER {
            sending = Vec::new();
        }
    };
    match end {
        // End-of-stream for the peer, and wakes a reader blocked in peek.
        End::Shut => {
            let _ = sock_ref(&sock).shutdown(Shutdown::Both);
        }
        End::Cut => set_reset_on_close(sock_ref(&sock)),
        End::Leave => {}
    }
    drop(sock);
    let mut st = link.lock();
    st.writer_done = true;
    st.sending = false;
    drop(st);
    link.cv.notify_all();
}
