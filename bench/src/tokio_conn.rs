//! The connection driver of the tokio baselines, written as a careful tokio
//! user would: a current-thread runtime, one task per connection, and one
//! read buffer per thread instead of one per connection.
//!
//! A task waits for readiness, reads into the thread's buffer with `try_read`,
//! lets the protocol answer into the thread's output buffer, and tries the
//! write at once. Only what the socket did not take, or input the protocol did
//! not consume, is copied into buffers of the connection's own, so an idle
//! connection costs a task and a socket, nothing more.

use std::cell::RefCell;
use std::io;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::protocol::{Out, Protocol};

/// Echoes every byte. With `copy` false the driver sends straight from
/// its read buffer (what a tokio echo does); with `copy` true the bytes are
/// first copied into the output buffer, the work a revio handler does with
/// `conn.write(input)`: the like-for-like row.
pub struct Echo {
    pub copy: bool,
}

impl Protocol for Echo {
    fn process<O: Out>(&mut self, input: &[u8], out: &mut O) -> Option<usize> {
        out.extend_from_slice(input);
        Some(input.len())
    }

    fn is_echo(&self) -> bool {
        !self.copy
    }
}

const READ_BUFFER: usize = 64 * 1024;

thread_local! {
    /// The runtime thread's read buffer and output buffer, shared by every
    /// connection task (borrowed only between awaits).
    static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> =
        RefCell::new((vec![0; READ_BUFFER], Vec::with_capacity(READ_BUFFER)));
}

/// Serves `127.0.0.1:port` on a current-thread runtime, with one protocol
/// instance per connection made by `make`. Runs until the process is killed.
pub fn serve<P: Protocol>(port: u16, make: impl Fn() -> P + 'static) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                // Out of fds and the like: keep serving the others.
                Err(_) => {
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let proto = make();
            tokio::task::spawn_local(async move {
                let _ = drive(stream, proto).await;
            });
        }
    })
}

enum Step {
    Continue,
    Eof,
    Close,
}

async fn drive<P: Protocol>(mut stream: TcpStream, mut proto: P) -> io::Result<()> {
    // Input not yet consumed and output not yet sent: both stay empty, without
    // an allocation, unless a request straddles reads or the socket is full.
    let mut pending: Vec<u8> = Vec::new();
    let mut unsent: Vec<u8> = Vec::new();
    loop {
        stream.readable().await?;
        let step = BUFFERS.with(|cell| -> io::Result<Step> {
            let mut bufs = cell.borrow_mut();
            let (inbuf, out) = &mut *bufs;
            let n = match stream.try_read(inbuf) {
                Ok(0) => return Ok(Step::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Continue),
                Err(e) => return Err(e),
            };
            if proto.is_echo() {
                let sent = try_write(&stream, &inbuf[..n])?;
                unsent.extend_from_slice(&inbuf[sent..n]);
                return Ok(Step::Continue);
            }
            out.clear();
            let used = if pending.is_empty() {
                let used = proto.process(&inbuf[..n], out);
                if let Some(u) = used {
                    pending.extend_from_slice(&inbuf[u..n]);
                }
                used
            } else {
                pending.extend_from_slice(&inbuf[..n]);
                let used = proto.process(&pending, out);
                if let Some(u) = used {
                    pending.drain(..u);
                }
                used
            };
            let sent = try_write(&stream, out)?;
            unsent.extend_from_slice(&out[sent..]);
            Ok(if used.is_some() {
                Step::Continue
            } else {
                Step::Close
            })
        })?;
        if !unsent.is_empty() {
            stream.write_all(&unsent).await?;
            unsent.clear();
        }
        match step {
            Step::Continue => {}
            Step::Eof | Step::Close => return Ok(()),
        }
    }
}

fn try_write(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    match stream.try_write(bytes) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}
