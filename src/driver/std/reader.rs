//! A connection's reader thread: the dial's connect, then input reported
//! without being consumed.

use std::io;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::thread;

use socket2::{SockAddr, SockRef};

use super::hub::{transient, wait};
use super::link::{Dial, Input, Link, Mode, set_timeouts, sock_ref};
use super::{CONNECT_CHECK, IDLE_SLICE, SLICE};
use crate::stream::Stream;
use crate::sys::SHUTDOWN_WAKES_BLOCKED;

/// The reader thread: connects first if this is a dial, then reports input
/// without consuming it (see the module docs).
pub(super) fn read_side(link: Arc<Link>, sock: Arc<Stream>, dial: Option<SockAddr>) {
    if let Some(addr) = dial {
        // SO_SNDTIMEO would cut a blocking connect short on Linux: it is set
        // only once connected.
        let r = connect(&link, sock_ref(&sock), &addr).and_then(|()| set_timeouts(&sock, Some(SLICE)));
        let mut st = link.lock();
        if st.mode != Mode::Running {
            return;
        }
        let failed = match r {
            Ok(()) => {
                st.dial = Dial::Connected;
                st.input = Input::Armed;
                false
            }
            Err(e) => {
                st.dial = Dial::Failed(Some(e));
                true
            }
        };
        drop(st);
        link.post(false, true, failed);
        if failed {
            return;
        }
    }
    let mut probe = [MaybeUninit::<u8>::uninit(); 1];
    let mut slice = SLICE;
    loop {
        let mut st = link.lock();
        loop {
            if st.mode != Mode::Running {
                return;
            }
            if matches!(st.input, Input::Armed) {
                break;
            }
            st = wait(&link.cv, st);
        }
        drop(st);
        let r = sock_ref(&sock).peek(&mut probe);
        let mut st = link.lock();
        if st.mode != Mode::Running {
            return;
        }
        let end = match r {
            Ok(0) => {
                st.input = Input::Eof;
                true
            }
            Ok(_) => {
                st.input = Input::Ready;
                if slice != SLICE {
                    // Input again: a detach is likely soon, so stop it quickly.
                    slice = SLICE;
                    let _ = sock_ref(&sock).set_read_timeout(Some(slice));
                }
                false
            }
            Err(e) if transient(&e) => {
                drop(st);
                // Nothing came in a whole slice: wait longer (see the module
                // docs), where only `detach` needs the slice at all.
                if SHUTDOWN_WAKES_BLOCKED && slice < IDLE_SLICE {
                    slice = (slice * 2).min(IDLE_SLICE);
                    let _ = sock_ref(&sock).set_read_timeout(Some(slice));
                }
                continue;
            }
            Err(e) => {
                st.input = Input::Failed(Some(e));
                true
            }
        };
        drop(st);
        link.post(true, false, end);
        if end {
            return;
        }
    }
}

/// Connects a dial's socket: with one blocking call where `shutdown` wakes it
/// (see [`SHUTDOWN_WAKES_BLOCKED`]). Elsewhere a blocked connect that the
/// loop has given up on would hold the thread until the system gives up too
/// (minutes): there it waits in `poll` or `select` for a [`SLICE`] (most
/// connects need less), then checks every [`CONNECT_CHECK`] until it ends or
/// the connection is closed.
fn connect(link: &Link, sock: SockRef<'_>, addr: &SockAddr) -> io::Result<()> {
    if SHUTDOWN_WAKES_BLOCKED {
        return sock.connect(addr);
    }
    match sock.connect_timeout(addr, SLICE) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
        r => return r,
    }
    while link.lock().mode == Mode::Running {
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        if sock.peer_addr().is_ok() {
            return Ok(());
        }
        thread::sleep(CONNECT_CHECK);
    }
    // Closed meanwhile: the caller drops this.
    Err(io::Error::from(io::ErrorKind::Interrupted))
}
