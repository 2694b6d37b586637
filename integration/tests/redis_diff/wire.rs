//! RESP on the client side of the differential test: commands out, replies
//! in as trees that keep their exact bytes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A reply: its type byte, its header line, and its elements (for
/// aggregates) or payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: u8,
    /// The header line without the type byte and CRLF (a length, a number, a text).
    pub line: Vec<u8>,
    /// A bulk or verbatim payload.
    pub data: Vec<u8>,
    pub items: Vec<Reply>,
}

impl Reply {
    /// The reply as it came on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![self.kind];
        out.extend_from_slice(&self.line);
        out.extend_from_slice(b"\r\n");
        if matches!(self.kind, b'$' | b'=' | b'!') && self.line != b"-1" {
            out.extend_from_slice(&self.data);
            out.extend_from_slice(b"\r\n");
        }
        for i in &self.items {
            out.extend_from_slice(&i.bytes());
        }
        out
    }

    pub fn int(&self) -> Option<i64> {
        (self.kind == b':').then(|| std::str::from_utf8(&self.line).ok()?.parse().ok())?
    }
}

/// One connection to a server.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(addr: &str) -> io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends commands (pipelined).
    pub fn send(&mut self, commands: &[&[Vec<u8>]]) -> io::Result<()> {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args.iter() {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.writer.write_all(&out)
    }

    /// Reads one reply.
    pub fn read(&mut self) -> io::Result<Reply> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short reply line"));
        }
        let kind = line[0];
        let text = line[1..line.len() - 2].to_vec();
        let n: i64 = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        let mut reply = Reply {
            kind,
            line: text,
            data: Vec::new(),
            items: Vec::new(),
        };
        match kind {
            b'$' | b'=' | b'!' if n >= 0 => {
                let mut data = vec![0; n as usize + 2];
                self.reader.read_exact(&mut data)?;
                data.truncate(n as usize);
                reply.data = data;
            }
            b'*' | b'~' | b'>' if n > 0 => {
                for _ in 0..n {
                    reply.items.push(self.read()?);
                }
            }
            b'%' if n > 0 => {
                for _ in 0..2 * n {
                    reply.items.push(self.read()?);
                }
            }
            _ => {}
        }
        Ok(reply)
    }
}
