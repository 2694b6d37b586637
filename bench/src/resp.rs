//! The RESP side of the tokio baseline: PING, ECHO, SET, GET, INCR, DEL,
//! CONFIG GET and QUIT over inline or multi-bulk requests, enough for
//! `redis-benchmark -t ping_inline,ping_mbulk,set,get`.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::protocol::{Out, Protocol};

const MAX_ARGS: usize = 16;

thread_local! {
    /// The keyspace, shared by every connection of the (single) runtime thread.
    static STORE: RefCell<HashMap<Vec<u8>, Vec<u8>>> = RefCell::new(HashMap::new());
}

/// One connection's RESP handling.
#[derive(Default)]
pub struct Resp;

/// What parsing the start of the input found.
enum Parsed {
    /// A whole command: its number of arguments and its length in bytes.
    Command(usize, usize),
    /// Not all of it has arrived.
    Partial,
    /// Malformed: answer with this error and close.
    Invalid(&'static str),
}

impl Protocol for Resp {
    fn process<O: Out>(&mut self, input: &[u8], out: &mut O) -> Option<usize> {
        let mut used = 0;
        while used < input.len() {
            let mut args: [&[u8]; MAX_ARGS] = [&[]; MAX_ARGS];
            match parse(&input[used..], &mut args) {
                Parsed::Command(argc, len) => {
                    used += len;
                    if argc > 0 && !execute(&args[..argc], out) {
                        return None;
                    }
                }
                Parsed::Partial => break,
                Parsed::Invalid(msg) => {
                    out.extend_from_slice(msg.as_bytes());
                    return None;
                }
            }
        }
        Some(used)
    }
}

/// Parses one command at the start of `input`, its arguments into `args`.
fn parse<'a>(input: &'a [u8], args: &mut [&'a [u8]; MAX_ARGS]) -> Parsed {
    if input[0] != b'*' {
        // Inline: one line, words split by spaces.
        let Some(nl) = input.iter().position(|&b| b == b'\n') else {
            return if input.len() > 64 * 1024 {
                Parsed::Invalid("-ERR inline request too long\r\n")
            } else {
                Parsed::Partial
            };
        };
        let line = input[..nl].strip_suffix(b"\r").unwrap_or(&input[..nl]);
        let mut argc = 0;
        for word in line.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
            if argc == MAX_ARGS {
                return Parsed::Invalid("-ERR too many arguments\r\n");
            }
            args[argc] = word;
            argc += 1;
        }
        return Parsed::Command(argc, nl + 1);
    }
    let (count, mut pos) = match number_line(input, 1) {
        Num::Value(n, next) => (n, next),
        Num::Partial => return partial_or_invalid(input),
        Num::Bad => return Parsed::Invalid("-ERR bad multibulk length\r\n"),
    };
    if count < 0 || count as usize > MAX_ARGS {
        return Parsed::Invalid("-ERR bad multibulk length\r\n");
    }
    for arg in args.iter_mut().take(count as usize) {
        if pos >= input.len() {
            return Parsed::Partial;
        }
        if input[pos] != b'$' {
            return Parsed::Invalid("-ERR expected '$'\r\n");
        }
        let (len, start) = match number_line(input, pos + 1) {
            Num::Value(n, next) => (n, next),
            Num::Partial => return partial_or_invalid(&input[pos..]),
            Num::Bad => return Parsed::Invalid("-ERR bad bulk length\r\n"),
        };
        if !(0..=512 * 1024 * 1024).contains(&len) {
            return Parsed::Invalid("-ERR bad bulk length\r\n");
        }
        let end = start + len as usize;
        if input.len() < end + 2 {
            return Parsed::Partial;
        }
        *arg = &input[start..end];
        pos = end + 2;
    }
    Parsed::Command(count as usize, pos)
}

fn partial_or_invalid(input: &[u8]) -> Parsed {
    if input.len() > 32 {
        Parsed::Invalid("-ERR bad length line\r\n")
    } else {
        Parsed::Partial
    }
}

enum Num {
    /// The value and the index just after its CRLF.
    Value(i64, usize),
    Partial,
    Bad,
}

/// Parses a decimal number ending in CRLF at `from`.
fn number_line(input: &[u8], from: usize) -> Num {
    let rest = input.get(from..).unwrap_or(&[]);
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        return Num::Partial;
    };
    match rest.get(cr + 1) {
        None => return Num::Partial,
        Some(b'\n') => {}
        Some(_) => return Num::Bad,
    }
    match std::str::from_utf8(&rest[..cr]).ok().and_then(|t| t.parse().ok()) {
        Some(n) => Num::Value(n, from + cr + 2),
        None => Num::Bad,
    }
}

/// Runs one command, appending its reply; false to close the connection.
fn execute(args: &[&[u8]], out: &mut impl Out) -> bool {
    let cmd = args[0];
    let is = |name: &str| cmd.eq_ignore_ascii_case(name.as_bytes());
    if is("PING") {
        match args.len() {
            1 => out.extend_from_slice(b"+PONG\r\n"),
            2 => bulk(out, args[1]),
            _ => wrong_args(out, "ping"),
        }
    } else if is("SET") {
        if args.len() != 3 {
            wrong_args(out, "set");
        } else {
            STORE.with(|s| {
                let mut s = s.borrow_mut();
                match s.get_mut(args[1]) {
                    Some(v) => {
                        v.clear();
                        v.extend_from_slice(args[2]);
                    }
                    None => {
                        s.insert(args[1].to_vec(), args[2].to_vec());
                    }
                }
            });
            out.extend_from_slice(b"+OK\r\n");
        }
    } else if is("GET") {
        if args.len() != 2 {
            wrong_args(out, "get");
        } else {
            STORE.with(|s| match s.borrow().get(args[1]) {
                Some(v) => bulk(out, v),
                None => out.extend_from_slice(b"$-1\r\n"),
            });
        }
    } else if is("INCR") {
        if args.len() != 2 {
            wrong_args(out, "incr");
        } else {
            incr(args[1], out);
        }
    } else if is("DEL") {
        let n = STORE.with(|s| {
            let mut s = s.borrow_mut();
            args[1..].iter().filter(|k| s.remove(**k).is_some()).count()
        });
        integer(out, n as i64);
    } else if is("ECHO") && args.len() == 2 {
        bulk(out, args[1]);
    } else if is("CONFIG") && args.len() == 3 {
        // redis-benchmark asks for `save` and `appendonly`: both empty here.
        out.extend_from_slice(b"*2\r\n");
        bulk(out, args[2]);
        bulk(out, b"");
    } else if is("QUIT") {
        out.extend_from_slice(b"+OK\r\n");
        return false;
    } else {
        out.extend_from_slice(b"-ERR unknown command\r\n");
    }
    true
}

fn incr(key: &[u8], out: &mut impl Out) {
    STORE.with(|s| {
        let mut s = s.borrow_mut();
        let current = match s.get(key) {
            None => Some(0),
            Some(v) => std::str::from_utf8(v).ok().and_then(|t| t.parse::<i64>().ok()),
        };
        match current.and_then(|c| c.checked_add(1)) {
            Some(n) => {
                let text = n.to_string().into_bytes();
                match s.get_mut(key) {
                    Some(v) => *v = text,
                    None => {
                        s.insert(key.to_vec(), text);
                    }
                }
                integer(out, n);
            }
            None => out.extend_from_slice(b"-ERR value is not an integer or out of range\r\n"),
        }
    });
}

fn bulk(out: &mut impl Out, v: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(v.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

fn integer(out: &mut impl Out, n: i64) {
    out.push(b':');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn wrong_args(out: &mut impl Out, cmd: &str) {
    out.extend_from_slice(b"-ERR wrong number of arguments for '");
    out.extend_from_slice(cmd.as_bytes());
    out.extend_from_slice(b"' command\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Option<usize>, Vec<u8>) {
        let mut out = Vec::new();
        let used = Resp.process(input, &mut out);
        (used, out)
    }

    #[test]
    fn answers_inline_and_multibulk_ping() {
        let (used, out) = run(b"PING\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(used, Some(20));
        assert_eq!(out, b"+PONG\r\n+PONG\r\n");
    }

    #[test]
    fn set_get_incr() {
        let (_, out) = run(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n41\r\nINCR k\r\nGET k\r\nGET nope\r\n");
        assert_eq!(out, b"+OK\r\n:42\r\n$2\r\n42\r\n$-1\r\n");
    }

    #[test]
    fn leaves_a_partial_command() {
        let (used, out) = run(b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk");
        assert_eq!(used, Some(6));
        assert_eq!(out, b"+PONG\r\n");
    }

    #[test]
    fn rejects_garbage() {
        let (used, out) = run(b"*x\r\n");
        assert_eq!(used, None);
        assert!(out.starts_with(b"-ERR"));
    }
}
