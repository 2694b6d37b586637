//! Property tests of `revio::proxy_protocol`: arbitrary and mutated bytes
//! never panic and never consume more than given, a verdict on a prefix
//! holds for every extension of it, a valid header split over any number of
//! reads parses the same, and what the encoder writes parses back.

use std::net::{IpAddr, SocketAddr};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use revio::proxy_protocol::{
    Addresses, Command, Encoder, Header, Parser, Status, Tlv, Transport, V2_MAX_LEN, Version, kind,
};

/// Addresses that own their UNIX paths, for strategies.
#[derive(Clone, Debug)]
enum Addrs {
    Unspecified,
    Inet(SocketAddr, SocketAddr),
    Unix(Vec<u8>, Vec<u8>),
}

impl Addrs {
    fn borrow(&self) -> Addresses<'_> {
        match self {
            Addrs::Unspecified => Addresses::Unspecified,
            Addrs::Inet(source, destination) => Addresses::Inet {
                source: *source,
                destination: *destination,
            },
            Addrs::Unix(source, destination) => Addresses::Unix { source, destination },
        }
    }

    /// What a parser reports for these addresses: a mixed IPv4/IPv6 pair
    /// travels as two IPv6 addresses.
    fn parsed(&self) -> Addresses<'_> {
        match *self {
            Addrs::Inet(s, d) if s.is_ipv4() != d.is_ipv4() => Addresses::Inet {
                source: mapped(s),
                destination: mapped(d),
            },
            _ => self.borrow(),
        }
    }
}

fn mapped(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(v4.to_ipv6_mapped().into(), a.port()),
        IpAddr::V6(_) => a,
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

/// A path as a UNIX address field keeps it: no NUL in an ordinary path; an
/// abstract name starts with NUL and does not end with one.
fn unix_path() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(1u8..=255, 0..=108),
        (vec(any::<u8>(), 0..=106), 1u8..=255).prop_map(|(mut name, last)| {
            name.insert(0, 0);
            name.push(last);
            name
        }),
    ]
}

fn addrs() -> impl Strategy<Value = Addrs> {
    prop_oneof![
        1 => Just(Addrs::Unspecified),
        3 => (socket_addr(), socket_addr()).prop_map(|(s, d)| Addrs::Inet(s, d)),
        1 => (unix_path(), unix_path()).prop_map(|(s, d)| Addrs::Unix(s, d)),
    ]
}

fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::string::string_regex(&format!("\\PC{{0,{max}}}"))
        .unwrap()
        .prop_map(String::into_bytes)
}

/// The value of an SSL TLV: client flags, verify, string sub-TLVs.
fn ssl_value() -> impl Strategy<Value = Vec<u8>> {
    let sub = (kind::SSL_VERSION..=kind::SSL_KEY_ALG, text(20));
    (any::<u8>(), any::<u32>(), vec(sub, 0..5)).prop_map(|(client, verify, subs)| {
        let mut v = vec![client];
        v.extend_from_slice(&verify.to_be_bytes());
        for (k, value) in subs {
            v.push(k);
            v.extend_from_slice(&(value.len() as u16).to_be_bytes());
            v.extend_from_slice(&value);
        }
        v
    })
}

/// TLVs whose values are valid for their type (the checksum is asked for
/// separately).
fn tlvs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let tlv = prop_oneof![
        (Just(kind::ALPN), vec(any::<u8>(), 0..20)),
        (Just(kind::AUTHORITY), text(30)),
        (Just(kind::NOOP), vec(any::<u8>(), 0..8)),
        (Just(kind::UNIQUE_ID), vec(any::<u8>(), 0..=128)),
        (Just(kind::NETNS), text(10)),
        (Just(kind::SSL), ssl_value()),
        (0xE0u8..=0xF7, vec(any::<u8>(), 0..40)),
    ];
    vec(tlv, 0..6)
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        Just(Transport::Unspecified),
        Just(Transport::Stream),
        Just(Transport::Datagram)
    ]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2), Just(Version::Any)]
}

/// A valid header of either version, from an encoder.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        any::<bool>(),
        transport(),
        addrs(),
        tlvs(),
        any::<bool>(),
    )
        .prop_map(|(v2, local, transport, addrs, tlvs, crc)| {
            let tlvs: Vec<Tlv<'_>> = tlvs
                .iter()
                .map(|(kind, value)| Tlv { kind: *kind, value })
                .collect();
            let encoder = if local {
                Encoder::local()
            } else {
                Encoder::proxy(transport, addrs.borrow())
            };
            let mut out = Vec::new();
            if v2 {
                encoder.tlvs(&tlvs).crc32c(crc).write_v2(&mut out).unwrap();
            } else {
                encoder.write_v1(&mut out);
            }
            out
        })
}

/// Never panics, and consumes neither more than given nor less than the
/// shortest header.
fn parse_in_bounds(
    parser: Parser,
    input: &[u8],
) -> Result<Result<Status, revio::proxy_protocol::Error>, TestCaseError> {
    let result = parser.parse(input);
    match &result {
        Ok(Status::Complete { consumed, .. }) => {
            prop_assert!(
                (15..=input.len()).contains(consumed),
                "consumed {} of {}",
                consumed,
                input.len()
            )
        }
        Ok(Status::Incomplete { needed }) => prop_assert!(*needed >= 1),
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(result)
}

fn complete(input: &[u8]) -> (Header, usize) {
    match Parser::default().max_len(V2_MAX_LEN).parse(input) {
        Ok(Status::Complete { header, consumed }) => (header, consumed),
        other => panic!("{input:?}: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(input in vec(any::<u8>(), 0..300), version in version(), max in 0..600usize) {
        let _ = parse_in_bounds(Parser::new(version).max_len(max), &input)?;
    }

    #[test]
    fn bytes_after_a_signature_never_panic(
        v2 in any::<bool>(),
        fixed in (0x1Fu8..=0x22, 0u8..=0x43, 0u8..=1, any::<u8>()),
        tail in vec(any::<u8>(), 0..400),
    ) {
        let mut input = if v2 {
            let (ver_cmd, fam, hi, lo) = fixed;
            let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
            h.extend_from_slice(&[ver_cmd, fam, hi, lo]);
            h
        } else {
            b"PROXY TCP4 ".to_vec()
        };
        input.extend_from_slice(&tail);
        let _ = parse_in_bounds(Parser::default(), &input)?;
    }

    #[test]
    fn mutated_headers_never_panic(
        header in header_bytes(),
        edits in vec((any::<Index>(), any::<u8>(), 0u8..3), 1..4),
        version in version(),
    ) {
        let mut input = header;
        for (at, byte, op) in edits {
            let i = at.index(input.len() + 1);
            match op {
                0 if i < input.len() => input[i] = byte,
                1 => input.insert(i, byte),
                _ => input.truncate(i),
            }
        }
        let _ = parse_in_bounds(Parser::new(version), &input)?;
    }

    /// An error or a complete header on a prefix stays so with more bytes,
    /// and no fewer than `needed` more bytes can complete a header.
    #[test]
    fn a_verdict_on_a_prefix_holds_for_its_extensions(
        header in header_bytes(),
        noise in vec(any::<u8>(), 0..20),
        mutate in proptest::option::of((any::<Index>(), any::<u8>())),
        cut in any::<Index>(),
    ) {
        let mut input = header;
        if let Some((at, byte)) = mutate {
            let i = at.index(input.len());
            input[i] = byte;
        }
        input.extend_from_slice(&noise);
        let parser = Parser::default().max_len(V2_MAX_LEN);
        let cut = cut.index(input.len() + 1);
        let whole = parse_in_bounds(parser, &input)?;
        match parse_in_bounds(parser, &input[..cut])? {
            Err(e) => prop_assert!(whole.is_err(), "{:?} on {} bytes, then {:?}", e, cut, whole),
            Ok(complete @ Status::Complete { .. }) => prop_assert_eq!(whole, Ok(complete)),
            Ok(Status::Incomplete { needed }) => {
                if let Ok(Status::Complete { consumed, .. }) = whole {
                    prop_assert!(consumed >= cut + needed, "needed {} after {}, done at {}", needed, cut, consumed);
                }
            }
        }
    }

    /// Fed read by read, as the loop does, a header is incomplete until its
    /// last byte and then the same as parsed at once.
    #[test]
    fn a_header_split_over_reads_parses_the_same(header in header_bytes(), cuts in vec(any::<Index>(), 0..6)) {
        let mut input = header.clone();
        input.extend_from_slice(b"application data");
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len())).collect();
        cuts.sort_unstable();
        let parser = Parser::default().max_len(V2_MAX_LEN);
        for cut in cuts.into_iter().chain([input.len()]) {
            match parser.parse(&input[..cut]) {
                Ok(Status::Incomplete { needed }) => prop_assert!(cut < header.len() && cut + needed <= header.len()),
                Ok(Status::Complete { header: h, consumed }) => {
                    prop_assert!(cut >= header.len());
                    prop_assert_eq!((h, consumed), complete(&header));
                }
                Err(e) => prop_assert!(false, "{} bytes: {}", cut, e),
            }
        }
    }

    #[test]
    fn v2_round_trips(
        local in any::<bool>(),
        transport in transport(),
        addrs in addrs(),
        tlvs in tlvs(),
        crc in any::<bool>(),
    ) {
        let tlv_refs: Vec<Tlv<'_>> = tlvs.iter().map(|(kind, value)| Tlv { kind: *kind, value }).collect();
        let mut encoder = Encoder::proxy(transport, addrs.borrow());
        if local {
            encoder = Encoder::local();
        }
        let mut out = b"before".to_vec();
        encoder.tlvs(&tlv_refs).crc32c(crc).write_v2(&mut out).unwrap();
        prop_assert_eq!(&out[..6], b"before");
        let (h, consumed) = complete(&out[6..]);
        prop_assert_eq!(consumed, out.len() - 6);
        prop_assert_eq!(h.version(), Version::V2);
        if local {
            prop_assert_eq!((h.command(), h.transport(), h.addresses()), (Command::Local, Transport::Unspecified, Addresses::Unspecified));
        } else {
            prop_assert_eq!((h.command(), h.transport(), h.addresses()), (Command::Proxy, transport, addrs.parsed()));
        }
        let parsed: Vec<Tlv<'_>> = h.tlvs().filter(|t| t.kind != kind::CRC32C).collect();
        prop_assert_eq!(parsed, tlv_refs);
        prop_assert_eq!(h.crc32c().is_some(), crc);
    }

    #[test]
    fn v1_round_trips(source in socket_addr(), destination in socket_addr()) {
        let mut out = Vec::new();
        Encoder::tcp(source, destination).write_v1(&mut out);
        prop_assert!(out.len() <= revio::proxy_protocol::V1_MAX_LEN);
        let (h, consumed) = complete(&out);
        prop_assert_eq!(consumed, out.len());
        let expected = Addrs::Inet(source, destination);
        prop_assert_eq!(h.addresses(), expected.parsed());
        prop_assert_eq!(h.source().is_some(), true);
    }
}
