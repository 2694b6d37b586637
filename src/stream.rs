//! [`Stream`] and [`Detached`]: a connection handed over to blocking I/O by
//! [`Action::Detach`](crate::Action::Detach).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A blocking std stream, as handed over by [`Action::Detach`](crate::Action::Detach).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix stream connection.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

/// Evaluates `$e` with `$s` bound to the std stream inside `$stream`, whichever
/// kind it is: the one place that knows which kinds a platform has.
macro_rules! each_stream {
    ($stream:expr, $s:ident => $e:expr) => {
        match $stream {
            $crate::stream::Stream::Tcp($s) => $e,
            #[cfg(unix)]
            $crate::stream::Stream::Unix($s) => $e,
        }
    };
}
pub(crate) use each_stream;

impl Stream {
    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        each_stream!(self, s => s.shutdown(how))
    }

    /// Sets a read timeout on the blocking stream.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        each_stream!(self, s => s.set_read_timeout(t))
    }

    /// Sets a write timeout on the blocking stream.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        each_stream!(self, s => s.set_write_timeout(t))
    }

    /// The read timeout (`None`: reads block until data comes).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        each_stream!(self, s => s.read_timeout())
    }

    /// The write timeout (`None`: writes block until the peer takes them).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        each_stream!(self, s => s.write_timeout())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each_stream!(self, s => s.read(buf))
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each_stream!(self, s => s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A detached connection: reads first yield the bytes the loop had read but the
/// handler had not consumed, then come from the socket. Writes go to the socket.
#[derive(Debug)]
pub struct Detached {
    pending: Vec<u8>,
    pos: usize,
    stream: Stream,
}

impl Detached {
    pub(crate) fn new(pending: Vec<u8>, stream: Stream) -> Detached {
        Detached {
            pending,
            pos: 0,
            stream,
        }
    }

    /// The bytes not yet read from the loop's buffer, and the stream.
    pub fn into_parts(self) -> (Vec<u8>, Stream) {
        let mut pending = self.pending;
        pending.drain(..self.pos);
        (pending, self.stream)
    }

    /// The underlying stream (reading from it directly skips the pending bytes).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

impl Read for Detached {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.pending.len() {
            let n = (&self.pending[self.pos..]).read(buf)?;
            self.pos += n;
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Detached {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
