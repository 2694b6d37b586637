//! A connection: the state its loop side and its two threads share, and how
//! the driver starts its threads and joins them once it is closed.

use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{SockAddr, SockRef};

use super::StdDriver;
use super::hub::{Hub, Post, lock, spawn, wait_timeout};
use super::reader::read_side;
use super::writer::write_side;
use crate::driver::{Driver, Token};
use crate::stream::{Stream, each_stream};

/// What the connection's threads are to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Running,
    /// Send what is queued, shut the socket down, stop.
    Closing,
    /// Send what is queued, stop, leave the socket as it is.
    Detaching,
    /// Stop now.
    Aborting,
}

/// The input side, as the reader thread and the loop see it.
#[derive(Debug)]
pub(super) enum Input {
    /// A dial not yet connected: nothing to read.
    Connecting,
    /// The reader is (about to be) waiting for bytes.
    Armed,
    /// Bytes are waiting in the socket: the loop may read once.
    Ready,
    /// The loop has read since the last report; re-armed at the next poll.
    Taken,
    /// The peer finished sending.
    Eof,
    /// Reading failed; the error is given to the loop's next read.
    Failed(Option<io::Error>),
}

#[derive(Debug)]
pub(super) enum Dial {
    /// Accepted, or a dial that has connected.
    Connected,
    Pending,
    Failed(Option<io::Error>),
}

pub(super) struct LinkState {
    pub(super) mode: Mode,
    pub(super) input: Input,
    pub(super) dial: Dial,
    /// Output the writer has yet to send.
    pub(super) queue: Vec<u8>,
    /// Bytes taken by `send` and not yet reported sent through `take_sent`.
    pub(super) held: usize,
    /// Of those, bytes the writer has sent (given to the kernel).
    pub(super) sent: usize,
    /// A send failed: the error, for the loop's next read or write.
    pub(super) error: Option<io::Error>,
    /// The writer has stopped; nothing more can be sent.
    pub(super) writer_done: bool,
    /// Once closed: when the writer gives up on output the peer does not take.
    pub(super) give_up: Option<Instant>,
    /// Shut the writing side down once the queue is sent (a half-close).
    pub(super) shut_write: bool,
    /// The writer is sending a batch taken from the queue.
    pub(super) sending: bool,
}

/// What a connection's loop side and its two threads share.
pub(super) struct Link {
    token: Token,
    pub(super) serial: u64,
    hub: Arc<Hub>,
    state: Mutex<LinkState>,
    /// Signalled on every change of `state` that a thread may wait for.
    pub(super) cv: Condvar,
}

impl Link {
    pub(super) fn lock(&self) -> MutexGuard<'_, LinkState> {
        lock(&self.state)
    }

    pub(super) fn post(&self, readable: bool, writable: bool, closed: bool) {
        self.hub.post(Post::Conn {
            token: self.token,
            serial: self.serial,
            readable,
            writable,
            closed,
        });
    }

    pub(super) fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
        self.cv.notify_all();
    }

    /// Waits until the writer has stopped or `deadline` passes; returns whether it stopped.
    pub(super) fn wait_writer(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        while !st.writer_done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = wait_timeout(&self.cv, st, deadline - now);
        }
        true
    }
}

pub(super) fn sock_ref(s: &Stream) -> SockRef<'_> {
    each_stream!(s, s => SockRef::from(s))
}

pub(super) fn set_timeouts(s: &Stream, t: Option<Duration>) -> io::Result<()> {
    let sock = sock_ref(s);
    sock.set_read_timeout(t)?;
    sock.set_write_timeout(t)
}

/// A connection as the loop's side of the driver holds it.
pub(super) struct Entry {
    /// The socket, shared with the two threads (no descriptor is duplicated):
    /// the loop reads, sets options and detaches through it.
    pub(super) stream: Arc<Stream>,
    pub(super) link: Arc<Link>,
    pub(super) reader: JoinHandle<()>,
    pub(super) writer: JoinHandle<()>,
}

/// A closed connection whose threads may still be finishing.
pub(super) struct Closed {
    pub(super) link: Arc<Link>,
    pub(super) reader: JoinHandle<()>,
    pub(super) writer: JoinHandle<()>,
    /// Kept for a dial closed while connecting, to interrupt the connect again.
    pub(super) stream: Option<Arc<Stream>>,
}

impl Closed {
    fn finished(&self) -> bool {
        self.reader.is_finished() && self.writer.is_finished()
    }

    /// Stops both threads at once and joins them.
    pub(super) fn abort(self) {
        self.link.set_mode(Mode::Aborting);
        if let Some(s) = &self.stream {
            // The connect may have started after the first shutdown: repeat
            // until the thread is out of it.
            while !self.reader.is_finished() {
                let _ = s.shutdown(Shutdown::Both);
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.reader.join();
        let _ = self.writer.join();
    }
}

impl StdDriver {
    pub(super) fn entry(&self, token: Token) -> io::Result<&Entry> {
        self.conns
            .get(token)
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket under this token"))
    }

    /// Starts the reader and writer threads of a connection under `token`.
    pub(super) fn start(&mut self, token: Token, stream: Stream, dial: Option<SockAddr>) -> io::Result<()> {
        self.close(token, false);
        self.next_serial += 1;
        let link = Arc::new(Link {
            token,
            serial: self.next_serial,
            hub: self.hub.clone(),
            state: Mutex::new(LinkState {
                mode: Mode::Running,
                input: if dial.is_some() {
                    Input::Connecting
                } else {
                    Input::Armed
                },
                dial: if dial.is_some() {
                    Dial::Pending
                } else {
                    Dial::Connected
                },
                queue: Vec::new(),
                held: 0,
                sent: 0,
                error: None,
                writer_done: false,
                give_up: None,
                shut_write: false,
                sending: false,
            }),
            cv: Condvar::new(),
        });
        let stream = Arc::new(stream);
        let (rs, ws) = (stream.clone(), stream.clone());
        let l = link.clone();
        let name = if dial.is_some() {
            "revio-dial"
        } else {
            "revio-read"
        };
        let reader = spawn(name, move || read_side(l, rs, dial))?;
        let l = link.clone();
        let writer = match spawn("revio-write", move || write_side(l, ws)) {
            Ok(w) => w,
            Err(e) => {
                link.set_mode(Mode::Aborting);
                let _ = stream.shutdown(Shutdown::Both);
                let _ = reader.join();
                return Err(e);
            }
        };
        if self.conns.len() <= token {
            self.conns.resize_with(token + 1, || None);
        }
        self.conns[token] = Some(Entry {
            stream,
            link,
            reader,
            writer,
        });
        Ok(())
    }

    /// Re-arms the readers of connections the loop has read from.
    pub(super) fn rearm(&mut self) {
        for t in self.rearm.drain(..) {
            if let Some(Some(e)) = self.conns.get(t) {
                let mut st = e.link.lock();
                if matches!(st.input, Input::Taken) {
                    st.input = Input::Armed;
                    drop(st);
                    e.link.cv.notify_all();
                }
            }
        }
    }

    /// Joins the threads of closed connections that have finished.
    pub(super) fn reap(&mut self) {
        let mut i = 0;
        while i < self.closed.len() {
            if self.closed[i].finished() {
                self.closed.swap_remove(i).abort();
            } else {
                i += 1;
            }
        }
    }
}
