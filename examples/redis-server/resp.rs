//! RESP2, the Redis protocol, as pure functions over byte slices: a command
//! parser (multibulk arrays and inline commands, as telnet and
//! redis-benchmark's PING_INLINE send them) and reply encoders that append to
//! an output buffer. No sockets, no clock, no allocation once warm: a parsed
//! command is a list of offsets into the caller's input.

use std::fmt;

/// Bounds on what one command may ask the server to buffer. Input beyond
/// them is a protocol error, not unbounded memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most arguments in one command (Redis: 1024 * 1024).
    pub max_args: usize,
    /// The longest bulk string (Redis's proto-max-bulk-len; 512 MiB there).
    pub max_bulk: usize,
    /// The longest inline command line, or `*N` / `$N` header line (Redis: 64 KiB).
    pub max_inline: usize,
}

impl Limits {
    /// Redis's limits, but with bulk strings capped at 64 MiB.
    pub const DEFAULT: Limits = Limits {
        max_args: 1024 * 1024,
        max_bulk: 64 * 1024 * 1024,
        max_inline: 64 * 1024,
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
    /// `*N` with N not a number or above [`Limits::max_args`].
    InvalidMultibulkLength,
    /// A `$N` line longer than [`Limits::max_inline`].
    TooBigBulkCount,
    /// `$N` with N not a number, negative or above [`Limits::max_bulk`].
    InvalidBulkLength,
    /// Something other than `$` where a bulk string must start.
    ExpectedBulk(u8),
    /// An inline command with more than [`Limits::max_args`] arguments.
    TooManyInlineArgs,
    /// An inline command with an unclosed quote, or a closing quote not
    /// followed by a space.
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedBulk(b) => write!(f, "expected '$', got '{}'", *b as char),
            ProtocolError::TooManyInlineArgs => f.write_str("too many arguments in inline request"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

/// Where one argument lies: in the input, or (for an inline argument with
/// quotes or escapes) in the unescaped copy kept beside the offsets.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    copied: bool,
}

/// One command, as offsets into the input it was parsed from. The offset
/// list (and the buffer of unescaped quoted inline arguments) is reused from
/// command to command, so parsing allocates nothing once it has grown to the
/// widest command seen.
#[derive(Debug, Default)]
pub struct Spans {
    spans: Vec<Span>,
    copies: Vec<u8>,
}

impl Spans {
    /// The arguments of the last parsed command, read from `input` (the same
    /// slice that was given to [`parse_command`]).
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        Args {
            input,
            copies: &self.copies,
            spans: &self.spans,
        }
    }
}

/// The arguments of one command, borrowed from the input.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    input: &'a [u8],
    copies: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    /// The number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    fn at(&self, s: Span) -> &'a [u8] {
        let from = if s.copied { self.copies } else { self.input };
        &from[s.start..s.end]
    }

    /// Argument `i` (0 is the command name).
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.at(self.spans[i])
    }

    /// The arguments from `from` on.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let args = *self;
        self.spans[from.min(self.spans.len())..]
            .iter()
            .map(move |&s| args.at(s))
    }
}

/// Parses the command at the start of `input`. Returns the number of bytes
/// it takes, with its arguments in `spans`, or `None` when `input` holds only
/// the start of a command (keep it and wait for more). A command may have no
/// arguments (an empty inline line, `*0`): skip it.
pub fn parse_command(
    input: &[u8],
    spans: &mut Spans,
    limits: &Limits,
) -> Result<Option<usize>, ProtocolError> {
    spans.spans.clear();
    match input.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(input, &mut spans.spans, limits),
        Some(_) => parse_inline(input, spans, limits),
    }
}

/// Finds the `\r\n` that ends the header line starting at `from`; returns
/// the position of the `\r`.
fn line_end(input: &[u8], from: usize) -> Option<usize> {
    input[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

fn parse_multibulk(
    input: &[u8],
    spans: &mut Vec<Span>,
    limits: &Limits,
) -> Result<Option<usize>, ProtocolError> {
    let Some(cr) = line_end(input, 1) else {
        return if input.len() > limits.max_inline {
            Err(ProtocolError::TooBigMultibulkCount)
        } else {
            Ok(None)
        };
    };
    let count = match parse_i64(&input[1..cr]) {
        Some(n) if n <= limits.max_args as i64 => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    let mut pos = cr + 2;
    for _ in 0..count.max(0) {
        let Some(&first) = input.get(pos) else {
            return Ok(None);
        };
        if first != b'$' {
            return Err(ProtocolError::ExpectedBulk(first));
        }
        let Some(cr) = line_end(input, pos + 1) else {
            return if input.len() - pos > limits.max_inline {
                Err(ProtocolError::TooBigBulkCount)
            } else {
                Ok(None)
            };
        };
        let len = match parse_i64(&input[pos + 1..cr]) {
            Some(n) if n >= 0 && n as u64 <= limits.max_bulk as u64 => n as usize,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        let start = cr + 2;
        // As Redis does, the two bytes after the data are taken as the CRLF.
        if input.len() - start < len + 2 {
            return Ok(None);
        }
        spans.push(Span {
            start,
            end: start + len,
            copied: false,
        });
        pos = start + len + 2;
    }
    Ok(Some(pos))
}

/// Whitespace as C's isspace, which Redis splits inline arguments on.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// An inline command: one line, split on whitespace, with Redis's quoting
/// (`"..."` with `\n`, `\r`, `\t`, `\b`, `\a`, `\xHH` and `\"` escapes, or
/// `'...'` with `\'`), as redis-cli and telnet users type it.
fn parse_inline(input: &[u8], spans: &mut Spans, limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > limits.max_inline {
            Err(ProtocolError::TooBigInline)
        } else {
            Ok(None)
        };
    };
    if nl > limits.max_inline {
        return Err(ProtocolError::TooBigInline);
    }
    let line = &input[..nl];
    spans.copies.clear();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(Some(nl + 1));
        }
        if spans.spans.len() == limits.max_args {
            return Err(ProtocolError::TooManyInlineArgs);
        }
        let start = i;
        while i < line.len() && !is_space(line[i]) && line[i] != b'"' && line[i] != b'\'' {
            i += 1;
        }
        if i == line.len() || is_space(line[i]) {
            spans.spans.push(Span {
                start,
                end: i,
                copied: false,
            });
            continue;
        }
        // Quotes: unescape into the copy buffer.
        let copy_start = spans.copies.len();
        spans.copies.extend_from_slice(&line[start..i]);
        i = unquote(line, i, &mut spans.copies)?;
        spans.spans.push(Span {
            start: copy_start,
            end: spans.copies.len(),
            copied: true,
        });
    }
}

/// Unescapes the rest of an inline argument that has quotes, from `line[i]`
/// on, into `out`; returns where the argument ends.
fn unquote(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    while i < line.len() && !is_space(line[i]) {
        let quote = line[i];
        if quote != b'"' && quote != b'\'' {
            out.push(quote);
            i += 1;
            continue;
        }
        i += 1;
        loop {
            let Some(&c) = line.get(i) else {
                return Err(ProtocolError::UnbalancedQuotes);
            };
            let next = line.get(i + 1).copied();
            if c == quote {
                i += 1;
                // A closing quote must end the argument.
                if line.get(i).is_some_and(|&b| !is_space(b)) {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                break;
            } else if c == b'\\' && quote == b'\'' {
                if next == Some(b'\'') {
                    out.push(b'\'');
                    i += 2;
                } else {
                    out.push(c);
                    i += 1;
                }
            } else if let (b'\\', Some(n)) = (c, next) {
                let high = line.get(i + 2).and_then(|&b| hex(b));
                let low = line.get(i + 3).and_then(|&b| hex(b));
                let (byte, used) = match (n, high, low) {
                    (b'x', Some(h), Some(l)) => (h << 4 | l, 4),
                    (b'n', ..) => (b'\n', 2),
                    (b'r', ..) => (b'\r', 2),
                    (b't', ..) => (b'\t', 2),
                    (b'b', ..) => (0x08, 2),
                    (b'a', ..) => (0x07, 2),
                    (other, ..) => (other, 2),
                };
                out.push(byte);
                i += used;
            } else {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(i)
}

/// Parses a decimal integer as Redis does (string2ll): an optional `-`, no
/// `+`, no spaces, no leading zeros, within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return (!neg).then_some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if neg { n.checked_sub(d)? } else { n.checked_add(d)? };
    }
    Some(n)
}

// ----- replies -------------------------------------------------------------

/// `+OK`.
pub const OK: &[u8] = b"+OK\r\n";
/// The null bulk string (a missing key).
pub const NULL: &[u8] = b"$-1\r\n";

/// Appends the decimal digits of `n`.
fn digits(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// A simple string, `+text` (the text must hold no CR or LF).
pub fn simple(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// An error, `-text` (the text must hold no CR or LF; by convention it
/// starts with a code such as `ERR`).
pub fn error(out: &mut Vec<u8>, text: &str) {
    out.push(b'-');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An integer, `:n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    digits(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string, `$len` then the bytes.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    digits(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// The header of an array of `len` elements; the elements follow.
pub fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    digits(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `n` to a value (INCR's stored form).
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    digits(out, n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A command's arguments, owned.
    type Owned = Vec<Vec<u8>>;

    /// Parses every command in `input`; returns them and the bytes used.
    fn parse_all(input: &[u8], limits: &Limits) -> Result<(Vec<Owned>, usize), ProtocolError> {
        let mut spans = Spans::default();
        let mut pos = 0;
        let mut commands = Vec::new();
        while let Some(n) = parse_command(&input[pos..], &mut spans, limits)? {
            let args = spans.args(&input[pos..]);
            commands.push(args.iter_from(0).map(<[u8]>::to_vec).collect());
            pos += n;
        }
        Ok((commands, pos))
    }

    fn encode_command(out: &mut Vec<u8>, args: &[Vec<u8>]) {
        array(out, args.len());
        for a in args {
            bulk(out, a);
        }
    }

    fn one(input: &[u8]) -> Result<Option<Owned>, ProtocolError> {
        let mut spans = Spans::default();
        Ok(parse_command(input, &mut spans, &Limits::DEFAULT)?
            .map(|_| spans.args(input).iter_from(0).map(<[u8]>::to_vec).collect()))
    }

    #[test]
    fn multibulk_command() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhe\r\nl\r\n";
        let mut spans = Spans::default();
        let n = parse_command(input, &mut spans, &Limits::DEFAULT).unwrap();
        assert_eq!(n, Some(input.len()));
        let args = spans.args(input);
        assert_eq!(args.len(), 3);
        assert_eq!(args.get(0), b"SET");
        assert_eq!(args.get(2), b"he\r\nl", "bulk strings are binary-safe");
    }

    #[test]
    fn inline_command() {
        assert_eq!(
            one(b"  set  key\tvalue \r\n").unwrap(),
            Some(vec![b"set".to_vec(), b"key".to_vec(), b"value".to_vec()])
        );
        assert_eq!(one(b"PING\n").unwrap(), Some(vec![b"PING".to_vec()]));
        assert_eq!(
            one(b"\r\n").unwrap(),
            Some(vec![]),
            "an empty line is an empty command"
        );
    }

    #[test]
    fn inline_quotes_as_redis_cli_splits_them() {
        let args = |line: &[u8]| one(line).unwrap().unwrap();
        let v = |items: &[&[u8]]| items.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            args(b"SET k \"hello world\"\r\n"),
            v(&[b"SET", b"k", b"hello world"])
        );
        assert_eq!(
            args(b"x \"a\\\"b\\\\c\\n\\x41\\x4\"\n"),
            v(&[b"x", b"a\"b\\c\nAx4"])
        );
        assert_eq!(args(b"x 'it\\'s \"raw\" \\n'\n"), v(&[b"x", b"it's \"raw\" \\n"]));
        assert_eq!(args(b"x pre\"fix ed\"  ''\n"), v(&[b"x", b"prefix ed", b""]));
        let e = |line: &[u8]| one(line).unwrap_err();
        assert_eq!(e(b"SET k \"open\r\n"), ProtocolError::UnbalancedQuotes);
        assert_eq!(e(b"SET k \"a\"b\r\n"), ProtocolError::UnbalancedQuotes);
        assert_eq!(e(b"SET k 'a\r\n"), ProtocolError::UnbalancedQuotes);
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete() {
        let input = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
        for i in 0..input.len() {
            assert_eq!(one(&input[..i]).unwrap(), None, "prefix of {i} bytes");
        }
        assert!(one(input).unwrap().is_some());
        assert_eq!(one(b"PIN").unwrap(), None);
    }

    #[test]
    fn empty_and_negative_multibulk_are_skipped() {
        assert_eq!(parse_all(b"*0\r\n*-1\r\n", &Limits::DEFAULT).unwrap().1, 9);
    }

    #[test]
    fn protocol_errors() {
        let e = |input: &[u8]| one(input).unwrap_err();
        assert_eq!(e(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(e(b"*2000000\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(e(b"*1\r\n+PING\r\n"), ProtocolError::ExpectedBulk(b'+'));
        assert_eq!(e(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(e(b"*1\r\n$999999999999\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(e(b"*1\r\n$+4\r\nPING\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(
            ProtocolError::ExpectedBulk(b'+').to_string(),
            "Protocol error: expected '$', got '+'"
        );
    }

    #[test]
    fn limits_stop_unbounded_headers_and_lines() {
        let small = Limits {
            max_args: 3,
            max_bulk: 10,
            max_inline: 16,
        };
        let p = |input: &[u8]| parse_all(input, &small);
        assert_eq!(p(&[b'a'; 17]).unwrap_err(), ProtocolError::TooBigInline);
        assert_eq!(p(&[b'a'; 16]).unwrap(), (vec![], 0), "short partial lines wait");
        assert_eq!(p(b"a b c d\r\n").unwrap_err(), ProtocolError::TooManyInlineArgs);
        let mut star = b"*".to_vec();
        star.extend_from_slice(&[b'1'; 20]);
        assert_eq!(p(&star).unwrap_err(), ProtocolError::TooBigMultibulkCount);
        let mut dollar = b"*1\r\n$".to_vec();
        dollar.extend_from_slice(&[b'1'; 20]);
        assert_eq!(p(&dollar).unwrap_err(), ProtocolError::TooBigBulkCount);
        assert_eq!(p(b"*4\r\n").unwrap_err(), ProtocolError::InvalidMultibulkLength);
        assert_eq!(p(b"*1\r\n$11\r\n").unwrap_err(), ProtocolError::InvalidBulkLength);
        assert_eq!(p(b"*1\r\n$10\r\n0123456789\r\n").unwrap().0.len(), 1);
    }

    #[test]
    fn integers_parse_as_redis_does() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1.5",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn replies_encode_as_resp() {
        let mut out = Vec::new();
        simple(&mut out, b"PONG");
        error(&mut out, "ERR x");
        integer(&mut out, -42);
        integer(&mut out, i64::MIN);
        bulk(&mut out, b"");
        array(&mut out, 2);
        out.extend_from_slice(NULL);
        out.extend_from_slice(OK);
        assert_eq!(
            out,
            b"+PONG\r\n-ERR x\r\n:-42\r\n:-9223372036854775808\r\n$0\r\n\r\n*2\r\n$-1\r\n+OK\r\n"
        );
    }

    fn arg() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..40)
    }

    fn word() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no space or quote", |&b| !is_space(b) && b != b'"' && b != b'\''),
            1..20,
        )
    }

    /// A reply value and its expected reading by the redis crate's parser.
    #[derive(Debug, Clone)]
    enum Reply {
        Simple(Vec<u8>),
        Error(String),
        Int(i64),
        Bulk(Vec<u8>),
        Null,
        Array(Vec<Reply>),
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            "[A-Za-z][A-Za-z0-9 ]{0,20}".prop_map(|s| Reply::Simple(s.into_bytes())),
            "[A-Z]{3} [a-z ]{0,20}".prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Int),
            arg().prop_map(Reply::Bulk),
            Just(Reply::Null),
        ];
        leaf.prop_recursive(3, 30, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Reply::Array)
        })
    }

    fn encode_reply(out: &mut Vec<u8>, r: &Reply) {
        match r {
            Reply::Simple(s) => simple(out, s),
            Reply::Error(e) => error(out, e),
            Reply::Int(i) => integer(out, *i),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Null => out.extend_from_slice(NULL),
            Reply::Array(items) => {
                array(out, items.len());
                items.iter().for_each(|i| encode_reply(out, i));
            }
        }
    }

    fn same(r: &Reply, v: &redis::Value) -> bool {
        use redis::Value as V;
        match (r, v) {
            (Reply::Simple(s), V::Okay) => s == b"OK",
            (Reply::Simple(s), V::SimpleString(t)) => s == t.as_bytes(),
            (Reply::Error(e), V::ServerError(se)) => {
                let mut parts = e.splitn(2, ' ');
                se.code() == parts.next().unwrap_or("")
                    && se.details().unwrap_or("") == parts.next().unwrap_or("")
            }
            (Reply::Int(i), V::Int(j)) => i == j,
            (Reply::Bulk(b), V::BulkString(c)) => b == c,
            (Reply::Null, V::Nil) => true,
            (Reply::Array(items), V::Array(vs)) => {
                items.len() == vs.len() && items.iter().zip(vs).all(|(i, v)| same(i, v))
            }
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn multibulk_round_trips(commands in proptest::collection::vec(proptest::collection::vec(arg(), 1..6), 1..8)) {
            let mut wire = Vec::new();
            for c in &commands {
                encode_command(&mut wire, c);
            }
            let (parsed, used) = parse_all(&wire, &Limits::DEFAULT).unwrap();
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(parsed, commands);
        }

        #[test]
        fn inline_round_trips(args in proptest::collection::vec(word(), 1..6), crlf in any::<bool>()) {
            let mut wire = args.join(&b' ');
            wire.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            prop_assume!(wire[0] != b'*');
            prop_assert_eq!(one(&wire).unwrap(), Some(args));
        }

        #[test]
        fn quoted_inline_round_trips(args in proptest::collection::vec(arg(), 1..6)) {
            // Quote every argument as redis-cli would print it.
            let mut wire = b"CMD".to_vec();
            for a in &args {
                wire.extend_from_slice(b" \"");
                for &b in a {
                    match b {
                        b'"' | b'\\' => wire.extend_from_slice(&[b'\\', b]),
                        0x20..=0x7e => wire.push(b),
                        _ => wire.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    }
                }
                wire.push(b'"');
            }
            wire.extend_from_slice(b"\r\n");
            let mut want = vec![b"CMD".to_vec()];
            want.extend(args);
            prop_assert_eq!(one(&wire).unwrap(), Some(want));
        }

        #[test]
        fn split_anywhere_parses_the_same(commands in proptest::collection::vec(proptest::collection::vec(arg(), 1..4), 1..4), cut in any::<prop::sample::Index>()) {
            let mut wire = Vec::new();
            for c in &commands {
                encode_command(&mut wire, c);
            }
            // Feed the bytes in two pieces, keeping what was not consumed, as
            // the server does with Conn::keep.
            let cut = cut.index(wire.len() + 1);
            let (first, used) = parse_all(&wire[..cut], &Limits::DEFAULT).unwrap();
            let mut rest = wire[used..cut].to_vec();
            rest.extend_from_slice(&wire[cut..]);
            let (second, used2) = parse_all(&rest, &Limits::DEFAULT).unwrap();
            prop_assert_eq!(used2, rest.len());
            let all: Vec<_> = first.into_iter().chain(second).collect();
            prop_assert_eq!(all, commands);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_in_bounds(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let small = Limits { max_args: 2, max_bulk: 8, max_inline: 8 };
            if let Ok((_, used)) = parse_all(&input, &small) {
                prop_assert!(used <= input.len());
                // What waits unparsed is bounded by the limits.
                prop_assert!(input.len() - used <= 2 * (8 + 8 + 4) + 8 + 4, "{} bytes wait", input.len() - used);
            }
        }

        #[test]
        fn replies_read_back_with_the_redis_crate(r in reply()) {
            let mut wire = Vec::new();
            encode_reply(&mut wire, &r);
            let v = redis::parse_redis_value(&wire);
            prop_assert!(v.as_ref().is_ok_and(|v| same(&r, v)), "{:?} read back as {:?}", r, v);
        }

        #[test]
        fn integers_round_trip(n in any::<i64>()) {
            let mut s = Vec::new();
            write_i64(&mut s, n);
            prop_assert_eq!(parse_i64(&s), Some(n));
            prop_assert_eq!(String::from_utf8(s).unwrap(), n.to_string());
        }
    }
}
