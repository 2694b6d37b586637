//! Unit tests: golden vectors from the specification, every prefix of every
//! valid header, malformed input, and encode/parse round trips.

mod encode;
mod v1;
mod v2;

use super::*;

/// Parses `bytes` with a default parser, expecting a complete header that
/// takes all of them, after checking that every shorter prefix is a valid
/// beginning and that application data after the header is left alone.
fn complete(bytes: &[u8]) -> Header {
    complete_with(Parser::default(), bytes)
}

fn complete_with(parser: Parser, bytes: &[u8]) -> Header {
    for k in 0..bytes.len() {
        match parser.parse(&bytes[..k]) {
            Ok(Status::Incomplete { needed }) => {
                assert!(
                    needed >= 1 && k + needed <= bytes.len(),
                    "prefix {k}: needed {needed}"
                )
            }
            other => panic!("prefix of {k} bytes of {bytes:?}: {other:?}"),
        }
    }
    let mut with_data = bytes.to_vec();
    with_data.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n\r\n\r\n\0");
    let Ok(Status::Complete { header, consumed }) = parser.parse(&with_data) else {
        panic!("{bytes:?} followed by data: {:?}", parser.parse(&with_data))
    };
    assert_eq!(consumed, bytes.len());
    match parser.parse(bytes) {
        Ok(Status::Complete {
            header: alone,
            consumed,
        }) => {
            assert_eq!((&alone, consumed), (&header, bytes.len()))
        }
        other => panic!("{bytes:?} alone: {other:?}"),
    }
    header
}

/// The error a default parser gives for `bytes`.
fn error(bytes: &[u8]) -> Error {
    match Parser::default().parse(bytes) {
        Err(e) => e,
        Ok(status) => panic!("{bytes:?} parsed as {status:?}"),
    }
}

/// Checks that each input gives its error.
fn assert_errors(cases: &[(&[u8], Error)]) {
    for (input, expected) in cases {
        assert_eq!(error(input), *expected, "{}", String::from_utf8_lossy(input));
    }
}

fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().unwrap()
}

#[test]
fn empty_input_is_incomplete() {
    assert_eq!(
        Parser::new(Version::V1).parse(b""),
        Ok(Status::Incomplete { needed: 15 })
    );
    assert_eq!(
        Parser::new(Version::V2).parse(b""),
        Ok(Status::Incomplete { needed: 16 })
    );
    assert_eq!(
        Parser::default().parse(b""),
        Ok(Status::Incomplete { needed: 15 })
    );
}

#[test]
fn first_byte_of_neither_signature_is_rejected() {
    for first in [&b"G"[..], b"\x16", b"\0", b"p", b" ", b"\n", b"*"] {
        assert_eq!(error(first), Error::Signature(Version::Any), "{first:?}");
    }
}

#[test]
fn a_version_not_accepted_is_rejected_at_its_first_byte() {
    assert_eq!(
        Parser::new(Version::V1).parse(b"\r"),
        Err(Error::Signature(Version::V1))
    );
    assert_eq!(
        Parser::new(Version::V2).parse(b"P"),
        Err(Error::Signature(Version::V2))
    );
}

#[test]
fn header_stays_small() {
    assert!(
        std::mem::size_of::<Header>() <= 64,
        "{}",
        std::mem::size_of::<Header>()
    );
}

#[test]
fn max_len_is_kept_within_the_protocol() {
    assert_eq!(Parser::default().v2_max_len(), V2_DEFAULT_MAX_LEN);
    assert_eq!(Parser::default().max_len(0).v2_max_len(), 16);
    assert_eq!(Parser::default().max_len(usize::MAX).v2_max_len(), V2_MAX_LEN);
    assert_eq!(Parser::new(Version::V2).max_len(300).version(), Version::V2);
}

#[test]
fn errors_say_what_is_wrong() {
    let cases = [
        (Error::Signature(Version::Any), "not a PROXY protocol header"),
        (Error::V1TooLong, "without CRLF in its first 107 bytes"),
        (Error::V1Field(V1Field::SourcePort), "invalid source port"),
        (
            Error::V2TooLong { len: 5000, max: 4096 },
            "5000 bytes, more than the 4096",
        ),
        (
            Error::V2Crc32c {
                received: 1,
                computed: 2,
            },
            "0x00000001",
        ),
        (Error::V2TlvValue { kind: 0x20 }, "type 0x20"),
    ];
    for (e, text) in cases {
        assert!(e.to_string().contains(text), "{e}");
    }
    let boxed: Box<dyn std::error::Error> = Box::new(Error::V1LineEnd);
    assert!(boxed.to_string().contains("lone CR or LF"));
}
