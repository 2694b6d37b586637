//! The parser against hand-written input, random commands (proptest), and
//! every way of cutting them into reads.

use proptest::prelude::*;

use super::parse::{Limits, Parser, ProtocolError};

/// A command's arguments, owned.
type Owned = Vec<Vec<u8>>;

/// Parses every command in `input`; returns them and the bytes used.
fn parse_all(
    parser: &mut Parser,
    input: &[u8],
    limits: &Limits,
) -> Result<(Vec<Owned>, usize), ProtocolError> {
    let mut pos = 0;
    let mut commands = Vec::new();
    while let Some(n) = parser.parse(&input[pos..], limits)? {
        let args = parser.args(&input[pos..]);
        if !args.is_empty() {
            commands.push(args.iter_from(0).map(<[u8]>::to_vec).collect());
        }
        pos += n;
    }
    Ok((commands, pos))
}

fn encode_command(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn one(input: &[u8]) -> Result<Option<Owned>, ProtocolError> {
    let mut p = Parser::default();
    Ok(p.parse(input, &Limits::DEFAULT)?
        .map(|_| p.args(input).iter_from(0).map(<[u8]>::to_vec).collect()))
}

/// Feeds `wire` to one parser cut at `cuts`, keeping the unparsed rest as
/// the server does with `Conn::keep`.
fn parse_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<Vec<Owned>, ProtocolError> {
    let mut parser = Parser::default();
    let mut kept = Vec::new();
    let mut all = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        let cut = cut.clamp(last, wire.len());
        kept.extend_from_slice(&wire[last..cut]);
        last = cut;
        let (cmds, used) = parse_all(&mut parser, &kept, &Limits::DEFAULT)?;
        all.extend(cmds);
        kept.drain(..used);
    }
    assert!(kept.is_empty(), "{} bytes left", kept.len());
    Ok(all)
}

#[test]
fn multibulk_command() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhe\r\nl\r\n";
    let mut p = Parser::default();
    assert_eq!(p.parse(input, &Limits::DEFAULT).unwrap(), Some(input.len()));
    let args = p.args(input);
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
    assert_eq!(
        one(b"PING\0\n").unwrap(),
        None,
        "a NUL hides the line end, as in Redis"
    );
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
fn one_byte_at_a_time_resumes() {
    let wire = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
    let cuts: Vec<usize> = (1..wire.len()).collect();
    let got = parse_in_pieces(wire, &cuts).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0][1], b"hello world");
}

#[test]
fn empty_and_negative_multibulk_are_skipped() {
    let mut p = Parser::default();
    assert_eq!(
        parse_all(&mut p, b"*0\r\n*-1\r\n", &Limits::DEFAULT).unwrap().1,
        9
    );
}

#[test]
fn header_lines_end_at_the_first_cr() {
    // As Redis: the byte after the CR is not checked.
    assert_eq!(one(b"*1\rX$4\rXPING\r\n").unwrap(), Some(vec![b"PING".to_vec()]));
}

#[test]
fn protocol_errors() {
    let e = |input: &[u8]| one(input).unwrap_err();
    assert_eq!(e(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(e(b"*2147483648\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(
        one(b"*2000000\r\n").unwrap(),
        None,
        "Redis 7 takes more than 1M arguments"
    );
    assert_eq!(e(b"*1\r\n+PING\r\n"), ProtocolError::ExpectedBulk(b'+'));
    assert_eq!(e(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(e(b"*1\r\n$999999999999\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(e(b"*1\r\n$+4\r\nPING\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(
        ProtocolError::ExpectedBulk(0xff).text(),
        b"ERR Protocol error: expected '$', got '\xff'"
    );
}

#[test]
fn unauthenticated_clients_get_small_limits() {
    let limits = Limits {
        unauthenticated: true,
        ..Limits::DEFAULT
    };
    let mut p = Parser::default();
    assert_eq!(
        p.parse(b"*11\r\n", &limits),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    let mut p = Parser::default();
    assert_eq!(
        p.parse(b"*1\r\n$16385\r\n", &limits),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
}

#[test]
fn limits_stop_unbounded_headers_and_lines() {
    let small = Limits {
        max_bulk: 10,
        max_inline: 16,
        unauthenticated: false,
    };
    let p = |input: &[u8]| parse_all(&mut Parser::default(), input, &small);
    assert_eq!(p(&[b'a'; 17]).unwrap_err(), ProtocolError::TooBigInline);
    assert_eq!(p(&[b'a'; 16]).unwrap(), (vec![], 0), "short partial lines wait");
    let mut star = b"*".to_vec();
    star.extend_from_slice(&[b'1'; 70_000]);
    assert_eq!(p(&star).unwrap_err(), ProtocolError::TooBigMultibulkCount);
    let mut dollar = b"*1\r\n$".to_vec();
    dollar.extend_from_slice(&[b'1'; 70_000]);
    assert_eq!(p(&dollar).unwrap_err(), ProtocolError::TooBigBulkCount);
    assert_eq!(p(b"*1\r\n$11\r\n").unwrap_err(), ProtocolError::InvalidBulkLength);
    assert_eq!(p(b"*1\r\n$10\r\n0123456789\r\n").unwrap().0.len(), 1);
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn word() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no blank, quote or NUL", |&b| {
            !b" \t\n\r\x0b\x0c\0\"'".contains(&b)
        }),
        1..20,
    )
}

proptest! {
    #[test]
    fn multibulk_round_trips(commands in proptest::collection::vec(proptest::collection::vec(arg(), 1..6), 1..8)) {
        let mut wire = Vec::new();
        for c in &commands {
            encode_command(&mut wire, c);
        }
        let (parsed, used) = parse_all(&mut Parser::default(), &wire, &Limits::DEFAULT).unwrap();
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
    fn cut_anywhere_parses_the_same(
        commands in proptest::collection::vec(proptest::collection::vec(arg(), 1..4), 1..4),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for c in &commands {
            encode_command(&mut wire, c);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cuts.sort();
        prop_assert_eq!(parse_in_pieces(&wire, &cuts).unwrap(), commands);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_in_bounds(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let small = Limits { max_bulk: 8, max_inline: 8, unauthenticated: false };
        if let Ok((_, used)) = parse_all(&mut Parser::default(), &input, &small) {
            prop_assert!(used <= input.len());
        }
    }
}
