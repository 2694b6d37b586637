//! Where the threads meet the loop: the hub every thread posts its events
//! to (and `poll` waits on), and what every thread uses to lock, wait and
//! start.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::STACK;
use crate::driver::Token;
use crate::mailbox::Notify;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or push, so a
    // panicking thread cannot leave the state inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn wait_timeout<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>, t: Duration) -> MutexGuard<'a, T> {
    cv.wait_timeout(g, t).unwrap_or_else(PoisonError::into_inner).0
}

/// Errors that only mean "nothing yet": a timeout slice ended, or a signal.
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

pub(super) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(STACK)
        .spawn(f)
}

/// An event posted by a thread, tagged so that events of a closed connection
/// never reach a later one under the same token.
#[derive(Debug, Clone, Copy)]
pub(super) enum Post {
    Listener(usize),
    Conn {
        token: Token,
        serial: u64,
        readable: bool,
        writable: bool,
        closed: bool,
    },
}

#[derive(Default)]
pub(super) struct Posted {
    pub(super) events: Vec<Post>,
    pub(super) wake: bool,
}

/// Where every thread of one driver posts, and where `poll` waits.
#[derive(Default)]
pub(super) struct Hub {
    pub(super) posted: Mutex<Posted>,
    pub(super) cv: Condvar,
}

impl Hub {
    pub(super) fn post(&self, p: Post) {
        lock(&self.posted).events.push(p);
        self.cv.notify_one();
    }
}

pub(super) struct StdNotify(pub(super) Arc<Hub>);

impl Notify for StdNotify {
    fn notify(&self) {
        lock(&self.0.posted).wake = true;
        self.0.cv.notify_one();
    }
}
