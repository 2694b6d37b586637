//! The command parser: multibulk arrays (what clients send) and inline
//! commands (telnet, redis-benchmark's PING_INLINE), as a state machine over
//! byte slices. No sockets, no clock, no allocation once warm: a parsed
//! command is a list of offsets into the caller's input.
//!
//! A command that has not fully arrived is not parsed again from its first
//! byte on the next read: as Redis keeps `multibulklen` and `bulklen`, the
//! [`Parser`] keeps how far it got, so the cost of a command is linear in its
//! size however it is cut into reads. The caller keeps the unparsed input
//! (revio's `Conn::keep`) and passes it again, extended, next time.

use std::fmt;

use memchr::{memchr, memchr2};

use super::inline::split_inline;
use super::number::parse_i64;

/// Bounds on what one command may ask the server to buffer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest bulk string (Redis's proto-max-bulk-len; 512 MiB there).
    pub max_bulk: usize,
    /// The longest inline command line, or `*N` / `$N` header line (Redis: 64 KiB).
    pub max_inline: usize,
    /// A client that must still AUTH may send at most 10 arguments of at
    /// most 16 KiB each, as in Redis.
    pub unauthenticated: bool,
}

impl Limits {
    /// Redis's limits, but with bulk strings capped at 64 MiB.
    pub const DEFAULT: Limits = Limits {
        max_bulk: 64 * 1024 * 1024,
        max_inline: 64 * 1024,
        unauthenticated: false,
    };
}

/// Malformed or oversized input. Redis replies with the error and closes the
/// connection; the text is Redis's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline command line longer than [`Limits::max_inline`].
    TooBigInline,
    /// A `*N` line longer than [`Limits::max_inline`].
    TooBigMultibulkCount,
    /// `*N` with N not a number or above `i32::MAX`.
    InvalidMultibulkLength,
    /// `*N` with N above 10 before AUTH.
    UnauthenticatedMultibulkLength,
    /// A `$N` line longer than [`Limits::max_inline`].
    TooBigBulkCount,
    /// `$N` with N not a number, negative or above [`Limits::max_bulk`].
    InvalidBulkLength,
    /// `$N` with N above 16384 before AUTH.
    UnauthenticatedBulkLength,
    /// Something other than `$` where a bulk string must start.
    ExpectedBulk(u8),
    /// An inline command with an unclosed quote, or a closing quote not
    /// followed by a space.
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The error line's text, `ERR Protocol error: ...`, as bytes: Redis
    /// puts the unexpected byte in as it is.
    pub fn text(&self) -> Vec<u8> {
        let mut t = b"ERR Protocol error: ".to_vec();
        match self {
            ProtocolError::ExpectedBulk(b) => {
                t.extend_from_slice(b"expected '$', got '");
                t.push(*b);
                t.push(b'\'');
            }
            other => t.extend_from_slice(other.to_string().as_bytes()),
        }
        t
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolError::TooBigInline => "too big inline request",
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            ProtocolError::ExpectedBulk(b) => return write!(f, "expected '$', got '{}'", b.escape_ascii()),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
        })
    }
}

/// Where one argument lies in its base buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// The arguments of one command: spans over one base buffer (the input, the
/// unescaped copy of an inline line, or a transaction's queue).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    /// Arguments at `spans` of `base`.
    pub fn new(base: &'a [u8], spans: &'a [Span]) -> Args<'a> {
        Args { base, spans }
    }

    /// The number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none (an empty line, `*0`).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i` (0 is the command name).
    pub fn get(&self, i: usize) -> &'a [u8] {
        let s = self.spans[i];
        &self.base[s.start..s.end]
    }

    /// The arguments from `from` on.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.spans[from.min(self.spans.len())..]
            .iter()
            .map(move |s| &base[s.start..s.end])
    }
}

/// The progress of the command at the start of the input.
#[derive(Debug, Clone, Copy, Default)]
enum State {
    /// Nothing read yet (or the `*N` line is incomplete).
    #[default]
    Start,
    /// `remaining` bulk strings still to come.
    Bulks { remaining: usize },
    /// The `$N` line of a bulk string is read: its N bytes and CRLF start at `pos`.
    Bulk { remaining: usize, len: usize },
}

/// A resumable command parser, one per connection.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    /// How many bytes of the command are consumed by `state`.
    pos: usize,
    /// Where the search for the current line's end goes on.
    scanned: usize,
    /// The arguments found so far, as offsets from the command's first byte.
    spans: Vec<Span>,
    /// The unescaped arguments of an inline command.
    copies: Vec<u8>,
    inline: bool,
}

impl Parser {
    /// Parses the command at the start of `input`. Returns the number of
    /// bytes it takes, with its arguments readable through [`Parser::args`],
    /// or `None` when `input` holds only the start of a command: keep all of
    /// `input` and call again with it and the bytes that follow. A command
    /// may have no arguments (an empty inline line, `*0`): skip it.
    pub fn parse(&mut self, input: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        if self.pos == 0 && matches!(self.state, State::Start) {
            self.spans.clear();
            self.inline = false;
            match input.first() {
                None => return Ok(None),
                Some(b'*') => {
                    if let Some(n) = self.parse_whole(input, limits) {
                        self.reset();
                        return Ok(Some(n));
                    }
                    self.spans.clear();
                }
                Some(_) => return self.parse_inline(input, limits),
            }
        }
        let done = self.parse_multibulk(input, limits);
        if !matches!(done, Ok(None)) {
            self.reset();
        }
        done
    }

    /// The arguments of the command [`Parser::parse`] just returned, read
    /// from the same `input`.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        let base = if self.inline { &self.copies[..] } else { input };
        Args::new(base, &self.spans)
    }

    fn reset(&mut self) {
        self.state = State::Start;
        self.pos = 0;
        self.scanned = 0;
    }

    /// Finds the header line that starts at `self.pos`: returns the number
    /// it holds, with `self.pos` moved past it, or `None` if it is not all
    /// there. As Redis, the line ends at the first CR, and the byte after
    /// the CR is taken as the LF.
    fn header_line(
        &mut self,
        input: &[u8],
        limits: &Limits,
        too_big: ProtocolError,
    ) -> Result<Option<i64>, ProtocolError> {
        let from = self.scanned.max(self.pos + 1);
        let Some(cr) = line_end(input, from, b'\r') else {
            if input.len() - self.pos > limits.max_inline {
                return Err(too_big);
            }
            self.scanned = memchr(0, &input[from..]).map_or(input.len(), |p| from + p);
            return Ok(None);
        };
        self.scanned = cr;
        if cr + 2 > input.len() {
            return Ok(None);
        }
        let n = parse_i64(&input[self.pos + 1..cr]);
        self.pos = cr + 2;
        self.scanned = 0;
        Ok(Some(n.unwrap_or(i64::MIN)))
    }

    /// The common case in one pass over locals: a multibulk command that
    /// is all there and within the limits. Anything else (cut short,
    /// malformed, over a limit, `*0`) gives `None`, and the resumable path
    /// below parses it from the start, with its errors.
    fn parse_whole(&mut self, input: &[u8], limits: &Limits) -> Option<usize> {
        let (n, mut pos) = header(input, 0)?;
        if n <= 0 || n > 1024 || (n > 10 && limits.unauthenticated) {
            return None;
        }
        for _ in 0..n {
            if input.get(pos) != Some(&b'$') {
                return None;
            }
            let (len, start) = header(input, pos)?;
            if len < 0 || len as u64 > limits.max_bulk as u64 || (len > 16384 && limits.unauthenticated) {
                return None;
            }
            let end = start + len as usize;
            // As Redis does, the two bytes after the data are taken as the CRLF.
            if input.len() < end + 2 {
                return None;
            }
            self.spans.push(Span { start, end });
            pos = end + 2;
        }
        Some(pos)
    }

    fn parse_multibulk(&mut self, input: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(n) = self.header_line(input, limits, ProtocolError::TooBigMultibulkCount)?
                    else {
                        return Ok(None);
                    };
                    if n == i64::MIN || n > i64::from(i32::MAX) {
                        return Err(ProtocolError::InvalidMultibulkLength);
                    }
                    if n > 10 && limits.unauthenticated {
                        return Err(ProtocolError::UnauthenticatedMultibulkLength);
                    }
                    if n <= 0 {
                        return Ok(Some(self.pos));
                    }
                    let n = n as usize;
                    self.spans.reserve(n.min(1024));
                    self.state = State::Bulks { remaining: n };
                }
                State::Bulks { remaining: 0 } => return Ok(Some(self.pos)),
                State::Bulks { remaining } => {
                    let Some(&first) = input.get(self.pos) else {
                        return Ok(None);
                    };
                    if first != b'$' {
                        // Redis looks for the line first, then at its first byte.
                        if line_end(input, self.pos, b'\r').is_none_or(|cr| cr + 2 > input.len()) {
                            if input.len() - self.pos > limits.max_inline {
                                return Err(ProtocolError::TooBigBulkCount);
                            }
                            return Ok(None);
                        }
                        return Err(ProtocolError::ExpectedBulk(first));
                    }
                    let Some(n) = self.header_line(input, limits, ProtocolError::TooBigBulkCount)? else {
                        return Ok(None);
                    };
                    if n < 0 || n as u64 > limits.max_bulk as u64 {
                        return Err(ProtocolError::InvalidBulkLength);
                    }
                    if n > 16384 && limits.unauthenticated {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    self.state = State::Bulk {
                        remaining,
                        len: n as usize,
                    };
                }
                State::Bulk { remaining, len } => {
                    // As Redis does, the two bytes after the data are taken as the CRLF.
                    if input.len() - self.pos < len + 2 {
                        return Ok(None);
                    }
                    self.spans.push(Span {
                        start: self.pos,
                        end: self.pos + len,
                    });
                    self.pos += len + 2;
                    self.state = State::Bulks {
                        remaining: remaining - 1,
                    };
                }
            }
        }
    }

    fn parse_inline(&mut self, input: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        let from = self.scanned;
        let Some(nl) = line_end(input, from, b'\n') else {
            if input.len() > limits.max_inline {
                return Err(ProtocolError::TooBigInline);
            }
            self.scanned = memchr(0, &input[from..]).map_or(input.len(), |p| from + p);
            return Ok(None);
        };
        self.scanned = 0;
        let mut line = &input[..nl];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        self.inline = true;
        split_inline(line, &mut self.copies, &mut self.spans)?;
        Ok(Some(nl + 1))
    }
}

/// The number on the complete header line (`*N`, `$N`) at `at`, and where
/// the line after it starts; `None` if the line is cut short or its number
/// does not parse.
fn header(input: &[u8], at: usize) -> Option<(i64, usize)> {
    let cr = line_end(input, at + 1, b'\r')?;
    if cr + 2 > input.len() {
        return None;
    }
    Some((parse_i64(&input[at + 1..cr])?, cr + 2))
}

/// The position of the first `end` byte from `from` on, as C's `strchr`
/// finds it in Redis's query buffer: a NUL before it hides it.
fn line_end(input: &[u8], from: usize, end: u8) -> Option<usize> {
    let rest = input.get(from..)?;
    // Header lines (`*3`, `$5`) and inline PINGs are a few bytes: a plain
    // loop over the first ones finds their end before memchr2's set-up
    // would (memchr2 was 6% of a GET profile).
    let near = &rest[..rest.len().min(NEAR)];
    let at = match near.iter().position(|&b| b == end || b == 0) {
        Some(at) => at,
        None if rest.len() <= NEAR => return None,
        None => NEAR + memchr2(end, 0, &rest[NEAR..])?,
    };
    (rest[at] == end).then_some(from + at)
}

/// How many bytes [`line_end`] looks at one by one.
const NEAR: usize = 16;
