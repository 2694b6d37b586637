//! Encoding: what the dial side writes parses back to the same header.

use super::*;

fn round_trip(encoder: Encoder<'_>) -> Header {
    let mut out = b"app".to_vec();
    encoder.write_v2(&mut out).unwrap();
    complete(&out[3..])
}

#[test]
fn v2_round_trips_every_family() {
    let h = round_trip(Encoder::tcp(addr("1.2.3.4:5"), addr("6.7.8.9:10")));
    assert_eq!(
        (h.source(), h.destination()),
        (Some(addr("1.2.3.4:5")), Some(addr("6.7.8.9:10")))
    );
    let h = round_trip(Encoder::tcp(addr("[::1]:5"), addr("6.7.8.9:10")));
    assert_eq!(h.destination(), Some(addr("[::ffff:6.7.8.9]:10")));
    let unix = Addresses::Unix {
        source: b"/tmp/a",
        destination: &[b'b'; 108],
    };
    let h = round_trip(Encoder::proxy(Transport::Datagram, unix));
    assert_eq!((h.addresses(), h.transport()), (unix, Transport::Datagram));
    let h = round_trip(Encoder::local());
    assert_eq!(
        (h.command(), h.addresses()),
        (Command::Local, Addresses::Unspecified)
    );
}

#[test]
fn v2_round_trips_tlvs_and_checksum() {
    let tlvs = [
        Tlv {
            kind: kind::ALPN,
            value: b"http/1.1",
        },
        Tlv {
            kind: kind::AUTHORITY,
            value: b"example.com",
        },
        Tlv {
            kind: 0xEF,
            value: b"",
        },
    ];
    let unix = Addresses::Unix {
        source: b"/a",
        destination: b"/b",
    };
    let h = round_trip(Encoder::proxy(Transport::Stream, unix).tlvs(&tlvs).crc32c(true));
    let mut expected = tlvs.to_vec();
    let crc = h.crc32c().unwrap().to_be_bytes();
    expected.push(Tlv {
        kind: kind::CRC32C,
        value: &crc,
    });
    assert_eq!(h.tlvs().collect::<Vec<_>>(), expected);
    assert_eq!(h.addresses(), unix);
    let h = round_trip(Encoder::local().crc32c(true));
    assert!(h.crc32c().is_some());
}

#[test]
fn v2_refuses_what_it_cannot_express_and_writes_nothing() {
    let mut out = b"keep".to_vec();
    let long = [b'x'; 109];
    let unix = Addresses::Unix {
        source: b"/a",
        destination: &long,
    };
    assert_eq!(
        Encoder::proxy(Transport::Stream, unix).write_v2(&mut out),
        Err(EncodeError::UnixPathTooLong(109))
    );
    // One TLV too big for the length field, or for the header with its own 3 bytes.
    for (size, err) in [
        (65535, EncodeError::TooLong(65538)),
        (65536, EncodeError::TooLong(65536)),
    ] {
        let value = vec![0; size];
        let tlvs = [Tlv {
            kind: 0xE0,
            value: &value,
        }];
        assert_eq!(Encoder::local().tlvs(&tlvs).write_v2(&mut out), Err(err));
    }
    assert_eq!(out, b"keep");
    assert!(EncodeError::TooLong(65538).to_string().contains("65538"));
}

#[test]
fn v1_round_trips() {
    for (s, d) in [("1.2.3.4:5", "6.7.8.9:10"), ("[2001:db8::1]:0", "[::]:65535")] {
        let mut out = Vec::new();
        Encoder::tcp(addr(s), addr(d)).write_v1(&mut out);
        let h = complete(&out);
        assert_eq!((h.source(), h.destination()), (Some(addr(s)), Some(addr(d))));
    }
}
