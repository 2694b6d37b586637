//! Version 1: the specification's examples and limits, and every way a line
//! can be wrong.

use super::*;

#[test]
fn tcp4_from_the_specification() {
    let h = complete(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    assert_eq!(
        (h.version(), h.command(), h.transport()),
        (Version::V1, Command::Proxy, Transport::Stream)
    );
    assert_eq!(h.source(), Some(addr("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(addr("192.168.0.11:443")));
    assert_eq!(h.tlvs().count(), 0);
}

#[test]
fn tcp4_extremes() {
    let h = complete(b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
    assert_eq!(h.source(), Some(addr("255.255.255.255:65535")));
    assert_eq!(h.destination(), Some(addr("0.0.0.0:0")));
}

#[test]
fn tcp6_compressed_full_and_mapped() {
    let h = complete(b"PROXY TCP6 2001:db8::1 ::1 40000 6379\r\n");
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:40000")));
    assert_eq!(h.destination(), Some(addr("[::1]:6379")));
    // The longest TCP6 line of the specification: 104 bytes.
    let full = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
    assert_eq!(full.len(), 104);
    let h = complete(full);
    assert_eq!(h.source(), h.destination());
    let h = complete(b"PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n");
    assert_eq!(h.source(), Some(addr("[::ffff:10.0.0.1]:1")));
}

#[test]
fn unknown_short_and_worst_case() {
    let h = complete(b"PROXY UNKNOWN\r\n");
    assert_eq!(
        (h.transport(), h.addresses(), h.source()),
        (Transport::Unspecified, Addresses::Unspecified, None)
    );
    // Anything after UNKNOWN is ignored; the worst case is exactly 107 bytes.
    let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(worst.len(), V1_MAX_LEN);
    assert_eq!(complete(worst).addresses(), Addresses::Unspecified);
    complete(b"PROXY UNKNOWN  whatever  \t it says\r\n");
}

#[test]
fn a_header_split_anywhere_asks_for_more() {
    let line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    assert_eq!(
        Parser::default().parse(&line[..line.len() - 1]),
        Ok(Status::Incomplete { needed: 1 })
    );
    assert_eq!(
        Parser::default().parse(b"PROX"),
        Ok(Status::Incomplete { needed: 11 })
    );
}

#[test]
fn longer_than_107_bytes_is_too_long() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(V1_MAX_LEN - 1, b'x');
    assert_eq!(error(&line), Error::V1TooLong);
    line.truncate(V1_MAX_LEN - 2);
    assert!(matches!(
        Parser::default().parse(&line),
        Ok(Status::Incomplete { .. })
    ));
    line.extend_from_slice(b"\r\n");
    assert!(matches!(
        Parser::default().parse(&line),
        Ok(Status::Complete { consumed: 107, .. })
    ));
    // A CR at byte 107 would make a 108-byte header.
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(V1_MAX_LEN - 1, b'x');
    long.extend_from_slice(b"\r\n");
    assert_eq!(error(&long), Error::V1TooLong);
}

#[test]
fn line_ends_must_be_crlf() {
    assert_eq!(error(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), Error::V1LineEnd);
    assert_eq!(error(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), Error::V1LineEnd);
    assert_eq!(error(b"PROXY UNKNOWN\n"), Error::V1LineEnd);
    assert_eq!(error(b"PROXY UNKNOWN foo\nbar\r\n"), Error::V1LineEnd);
    assert_eq!(error(b"PROXY UNKNOWN\r\r\n"), Error::V1LineEnd);
}

#[test]
fn signature_and_protocol_are_upper_case_and_single_spaced() {
    assert_eq!(error(b"PROXy"), Error::Signature(Version::V1));
    assert_eq!(error(b"PROXYTCP4"), Error::Signature(Version::V1));
    assert_eq!(error(b"PROXY\r\n"), Error::V1Field(V1Field::Protocol));
    assert_eq!(error(b"PROXY tcp4"), Error::V1Field(V1Field::Protocol));
    assert_eq!(error(b"PROXY TCP5"), Error::V1Field(V1Field::Protocol));
    assert_eq!(error(b"PROXY  TCP4"), Error::V1Field(V1Field::Protocol));
    assert_eq!(error(b"PROXY UNKNOWNX"), Error::V1Field(V1Field::Protocol));
    assert_eq!(
        error(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
        Error::V1Field(V1Field::Protocol)
    );
    assert_eq!(
        error(b"PROXY TCP4  1.2.3.4"),
        Error::V1Field(V1Field::SourceAddress)
    );
    assert_eq!(
        error(b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2"),
        Error::V1Field(V1Field::DestinationPort)
    );
}

#[test]
fn bad_addresses() {
    use V1Field::{DestinationAddress as Dst, SourceAddress as Src};
    let cases: [(&[u8], V1Field); 12] = [
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", Src),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", Src),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", Src),
        (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", Src),
        (b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", Src),
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", Src),
        (b"PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n", Dst),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Src),
        (b"PROXY TCP6 ::1 ::1::2 1 2\r\n", Dst),
        (b"PROXY TCP6 ::1 12345::1 1 2\r\n", Dst),
        (b"PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n", Dst),
        (b"PROXY TCP4 1.2.3.4\r\n", Dst),
    ];
    assert_errors(&cases.map(|(line, field)| (line, Error::V1Field(field))));
}

#[test]
fn bad_ports() {
    use V1Field::{DestinationPort as Dst, End, SourcePort as Src};
    let cases: [(&[u8], V1Field); 8] = [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", Src),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", Src),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", Src),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", Dst),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n", Dst),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", Dst),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", End),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", End),
    ];
    assert_errors(&cases.map(|(line, field)| (line, Error::V1Field(field))));
}

#[test]
fn impossible_prefixes_are_rejected_before_the_crlf() {
    use V1Field::*;
    let cases: [(&[u8], Error); 11] = [
        (b"PRX", Error::Signature(Version::V1)),
        (b"PROXY TCP7", Error::V1Field(Protocol)),
        (b"PROXY TCP4 300", Error::V1Field(SourceAddress)),
        (b"PROXY TCP4 1.2.3.4.", Error::V1Field(SourceAddress)),
        (b"PROXY TCP4 00", Error::V1Field(SourceAddress)),
        (b"PROXY TCP4 1.2.3.4 ::", Error::V1Field(DestinationAddress)),
        (b"PROXY TCP6 ::1 g", Error::V1Field(DestinationAddress)),
        (b"PROXY TCP6 ::1 1::2::", Error::V1Field(DestinationAddress)),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536", Error::V1Field(SourcePort)),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00",
            Error::V1Field(DestinationPort),
        ),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", Error::V1Field(End)),
    ];
    assert_errors(&cases);
}

#[test]
fn encoded_lines_are_canonical() {
    let mut out = Vec::new();
    Encoder::tcp(addr("192.168.0.1:56324"), addr("192.168.0.11:443")).write_v1(&mut out);
    assert_eq!(out, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    out.clear();
    Encoder::tcp(addr("[2001:db8::1]:1"), addr("10.0.0.1:2")).write_v1(&mut out);
    assert_eq!(out, b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n");
    assert_eq!(complete(&out).destination(), Some(addr("[::ffff:10.0.0.1]:2")));
    for e in [
        Encoder::local(),
        Encoder::proxy(
            Transport::Datagram,
            Addresses::Inet {
                source: addr("1.1.1.1:1"),
                destination: addr("2.2.2.2:2"),
            },
        ),
        Encoder::proxy(
            Transport::Stream,
            Addresses::Unix {
                source: b"/a",
                destination: b"/b",
            },
        ),
    ] {
        out.clear();
        e.write_v1(&mut out);
        assert_eq!(out, b"PROXY UNKNOWN\r\n");
    }
    // Append only.
    let mut out = b"before".to_vec();
    Encoder::local().write_v1(&mut out);
    assert_eq!(out, b"beforePROXY UNKNOWN\r\n");
}
