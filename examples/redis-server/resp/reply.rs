//! Reply encoders for RESP2 and RESP3. A [`Reply`] appends to any [`Sink`]
//! (the connection's output, or a buffer of replies held back) and knows
//! which protocol the client asked for with HELLO, so that commands say
//! "a map", "a null", "a double" and the wire form follows.

use super::number::{i64_digits, write_double};

/// Where reply bytes go. Only appends: a connection's output may already
/// hold replies of earlier commands.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);

    /// Appends `head`, `body` and CRLF: one reply (a sink may write it in
    /// one step rather than three).
    fn put_framed(&mut self, head: &[u8], body: &[u8]) {
        self.put(head);
        self.put(body);
        self.put(b"\r\n");
    }

    /// Appends `head`, the shared `body` and CRLF; a sink that can send a
    /// shared buffer without copying it does (see `Output::write_shared`).
    fn put_shared(&mut self, head: &[u8], body: &revio::Bytes) {
        self.put_framed(head, body);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The protocol a connection speaks, RESP2 until HELLO 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// RESP2: maps and sets are flat arrays, nulls are `$-1` / `*-1`,
    /// doubles are bulk strings.
    #[default]
    Resp2,
    /// RESP3: typed maps, sets, nulls, doubles and verbatim strings.
    Resp3,
}

impl Proto {
    /// The version number HELLO reports.
    pub fn version(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// `+OK`.
pub const OK: &[u8] = b"+OK\r\n";

/// Appends replies in the client's protocol.
pub struct Reply<'a> {
    out: &'a mut dyn Sink,
    /// The protocol to reply in.
    pub proto: Proto,
}

impl<'a> Reply<'a> {
    /// A writer of `proto` replies to `out`.
    pub fn new(out: &'a mut dyn Sink, proto: Proto) -> Reply<'a> {
        Reply { out, proto }
    }

    /// The same writer, reborrowed (to pass to a function by value).
    pub fn by_ref(&mut self) -> Reply<'_> {
        Reply {
            out: &mut *self.out,
            proto: self.proto,
        }
    }

    fn header(&mut self, kind: u8, n: i64) {
        let mut line = [0u8; 24];
        self.out.put(header_line(&mut line, kind, n));
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.out.put(OK);
    }

    /// A simple string (no CR or LF inside).
    pub fn simple(&mut self, text: &[u8]) {
        self.out.put_framed(b"+", text);
    }

    /// An error: `text` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    /// CR and LF inside become spaces, as Redis makes them.
    pub fn error(&mut self, text: &[u8]) {
        self.out.put(b"-");
        let mut rest = text;
        while let Some(at) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            self.out.put(&rest[..at]);
            self.out.put(b" ");
            rest = &rest[at + 1..];
        }
        self.out.put(rest);
        self.out.put(b"\r\n");
    }

    /// An integer.
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// A bulk string.
    pub fn bulk(&mut self, bytes: &[u8]) {
        let mut line = [0u8; 24];
        let head = header_line(&mut line, b'$', bytes.len() as i64);
        self.out.put_framed(head, bytes);
    }

    /// A bulk string from a shared buffer (sent without a copy where the
    /// sink can).
    pub fn bulk_shared(&mut self, bytes: &revio::Bytes) {
        let mut line = [0u8; 24];
        let head = header_line(&mut line, b'$', bytes.len() as i64);
        self.out.put_shared(head, bytes);
    }

    /// An integer as a bulk string.
    pub fn bulk_int(&mut self, n: i64) {
        let mut buf = [0u8; 20];
        let digits = i64_digits(n, &mut buf);
        self.bulk(digits);
    }

    /// The null that stands for a missing value: `$-1` or `_`.
    pub fn null(&mut self) {
        self.out.put(match self.proto {
            Proto::Resp2 => b"$-1\r\n",
            Proto::Resp3 => b"_\r\n",
        });
    }

    /// The null that stands for a missing array: `*-1` or `_`.
    pub fn null_array(&mut self) {
        self.out.put(match self.proto {
            Proto::Resp2 => b"*-1\r\n",
            Proto::Resp3 => b"_\r\n",
        });
    }

    /// The header of an array of `n` elements.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// The header of a map of `n` pairs (a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * n as i64),
            Proto::Resp3 => self.header(b'%', n as i64),
        }
    }

    /// The header of a set of `n` members (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// A double: a bulk string in RESP2, `,` in RESP3, printed as `%.17g`.
    pub fn double(&mut self, d: f64) {
        let mut text = Vec::with_capacity(32);
        write_double(&mut text, d);
        match self.proto {
            Proto::Resp2 => self.bulk(&text),
            Proto::Resp3 => {
                self.out.put(b",");
                self.out.put(&text);
                self.out.put(b"\r\n");
            }
        }
    }

    /// Text for people (INFO, CLIENT LIST): a bulk string in RESP2, a
    /// verbatim `txt` string in RESP3.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
                self.header(b'=', text.len() as i64 + 4);
                self.out.put(b"txt:");
                self.out.put(text);
                self.out.put(b"\r\n");
            }
        }
    }
}

/// `kind`, the digits of `n` and CRLF, written to `line`; returns them.
fn header_line(line: &mut [u8; 24], kind: u8, n: i64) -> &[u8] {
    let mut buf = [0u8; 20];
    let digits = i64_digits(n, &mut buf);
    line[0] = kind;
    line[1..1 + digits.len()].copy_from_slice(digits);
    line[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
    &line[..3 + digits.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: impl Fn(&mut Reply<'_>)) -> (String, String) {
        let run = |proto| {
            let mut out = Vec::new();
            f(&mut Reply::new(&mut out, proto));
            String::from_utf8(out).unwrap()
        };
        (run(Proto::Resp2), run(Proto::Resp3))
    }

    #[test]
    fn typed_replies_follow_the_protocol() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(both(|r| r.null()), pair("$-1\r\n", "_\r\n"));
        assert_eq!(both(|r| r.null_array()), pair("*-1\r\n", "_\r\n"));
        assert_eq!(both(|r| r.map(2)), pair("*4\r\n", "%2\r\n"));
        assert_eq!(both(|r| r.set(3)), pair("*3\r\n", "~3\r\n"));
        assert_eq!(both(|r| r.double(1.5)), pair("$3\r\n1.5\r\n", ",1.5\r\n"));
        assert_eq!(
            both(|r| r.double(f64::NEG_INFINITY)),
            pair("$4\r\n-inf\r\n", ",-inf\r\n")
        );
        assert_eq!(both(|r| r.verbatim(b"a")), pair("$1\r\na\r\n", "=5\r\ntxt:a\r\n"));
    }

    #[test]
    fn plain_replies_encode_as_resp() {
        let (out, _) = both(|r| {
            r.simple(b"PONG");
            r.error(b"ERR x\r\ny\n");
            r.int(-42);
            r.int(i64::MIN);
            r.bulk(b"");
            r.array(2);
            r.bulk_int(7);
            r.ok();
        });
        assert_eq!(
            out,
            "+PONG\r\n-ERR x  y \r\n:-42\r\n:-9223372036854775808\r\n$0\r\n\r\n*2\r\n$1\r\n7\r\n+OK\r\n"
        );
    }
}
