//! Version 2: every family and command of the specification, TLVs (nested
//! SSL, CRC32C), limits, and every way the binary header can be wrong.

use super::*;
use crate::proxy_protocol::v2::SIGNATURE;

/// A version 2 header: signature, the two given bytes, the length, `body`.
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.extend_from_slice(&[ver_cmd, fam]);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

/// One TLV's bytes.
fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    t.extend_from_slice(value);
    t
}

fn unix_field(path: &[u8]) -> Vec<u8> {
    let mut f = path.to_vec();
    f.resize(108, 0);
    f
}

const IPV4_BLOCK: [u8; 12] = [10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 80];

#[test]
fn tcp4_as_haproxy_sends_it() {
    // Captured from HAProxy's send-proxy-v2, followed by "GET ".
    let bytes = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xac\x13\x00\x01\xac\x13\x00\x03\xa6\x52\x00\x50";
    let h = complete(bytes);
    assert_eq!(
        (h.version(), h.command(), h.transport()),
        (Version::V2, Command::Proxy, Transport::Stream)
    );
    assert_eq!(h.source(), Some(addr("172.19.0.1:42578")));
    assert_eq!(h.destination(), Some(addr("172.19.0.3:80")));
    assert_eq!(h.tlvs().count(), 0);
}

#[test]
fn tcp6_and_udp() {
    let mut block = Vec::new();
    block.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&"2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
    block.extend_from_slice(&[0xdb, 0xf4, 0x01, 0xbb]);
    let h = complete(&v2(0x21, 0x21, &block));
    assert_eq!(h.transport(), Transport::Stream);
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:56308")));
    assert_eq!(h.destination(), Some(addr("[2001:db8::2]:443")));
    let h = complete(&v2(0x21, 0x22, &block));
    assert_eq!(
        (h.transport(), h.source()),
        (Transport::Datagram, Some(addr("[2001:db8::1]:56308")))
    );
    let h = complete(&v2(0x21, 0x12, &IPV4_BLOCK));
    assert_eq!(
        (h.transport(), h.source()),
        (Transport::Datagram, Some(addr("10.0.0.1:12345")))
    );
}

#[test]
fn unix_stream_and_datagram() {
    let mut block = unix_field(b"/var/run/client.sock");
    block.extend_from_slice(&unix_field(b"/var/run/revio.sock"));
    for (fam, transport) in [(0x31, Transport::Stream), (0x32, Transport::Datagram)] {
        let h = complete(&v2(0x21, fam, &block));
        assert_eq!(h.transport(), transport);
        let expected = Addresses::Unix {
            source: b"/var/run/client.sock",
            destination: b"/var/run/revio.sock",
        };
        assert_eq!(h.addresses(), expected);
        assert_eq!((h.source(), h.tlvs().count()), (None, 0));
    }
    // A full 108-byte path has no NUL; an abstract name starts with one.
    let mut block = vec![b'p'; 108];
    block.extend_from_slice(&unix_field(b"\0abstract"));
    block.extend_from_slice(&tlv(kind::NOOP, b""));
    let h = complete(&v2(0x21, 0x31, &block));
    assert_eq!(
        h.addresses(),
        Addresses::Unix {
            source: &[b'p'; 108],
            destination: b"\0abstract"
        }
    );
    assert_eq!(
        h.tlvs().collect::<Vec<_>>(),
        [Tlv {
            kind: kind::NOOP,
            value: b""
        }]
    );
}

#[test]
fn local_keeps_the_socket_addresses() {
    let h = complete(&v2(0x20, 0x00, b""));
    assert_eq!(
        (h.command(), h.transport(), h.addresses()),
        (Command::Local, Transport::Unspecified, Addresses::Unspecified)
    );
    assert_eq!((h.source(), h.destination()), (None, None));
    // A LOCAL header may still carry addresses: they are skipped, not used.
    let h = complete(&v2(0x20, 0x11, &IPV4_BLOCK));
    assert_eq!(h.command(), Command::Local);
    assert!(matches!(h.addresses(), Addresses::Inet { .. }));
    assert_eq!((h.source(), h.destination()), (None, None));
}

#[test]
fn unspec_family_keeps_the_socket_addresses_and_may_carry_tlvs() {
    let h = complete(&v2(0x21, 0x00, b""));
    assert_eq!(
        (h.command(), h.addresses(), h.source()),
        (Command::Proxy, Addresses::Unspecified, None)
    );
    let h = complete(&v2(0x21, 0x00, &tlv(kind::UNIQUE_ID, b"id-1")));
    assert_eq!(h.unique_id(), Some(&b"id-1"[..]));
}

#[test]
fn tlvs_with_nested_ssl() {
    let mut ssl = vec![
        Ssl::CLIENT_SSL | Ssl::CLIENT_CERT_CONN | Ssl::CLIENT_CERT_SESS,
        0,
        0,
        0,
        0,
    ];
    for (k, v) in [
        (kind::SSL_VERSION, &b"TLSv1.3"[..]),
        (kind::SSL_CN, b"client.example"),
        (kind::SSL_CIPHER, b"TLS_AES_128_GCM_SHA256"),
        (kind::SSL_SIG_ALG, b"RSA-SHA256"),
        (kind::SSL_KEY_ALG, b"RSA2048"),
    ] {
        ssl.extend_from_slice(&tlv(k, v));
    }
    let mut body = IPV4_BLOCK.to_vec();
    for (k, v) in [
        (kind::ALPN, &b"h2"[..]),
        (kind::AUTHORITY, b"example.com"),
        (kind::UNIQUE_ID, &[7; 128]),
        (kind::SSL, &ssl),
        (kind::NETNS, b"blue"),
        (0xE0, b"app"),
        (kind::NOOP, &[0; 5]),
    ] {
        body.extend_from_slice(&tlv(k, v));
    }
    let h = complete(&v2(0x21, 0x11, &body));
    assert_eq!(h.source(), Some(addr("10.0.0.1:12345")));
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.unique_id(), Some(&[7; 128][..]));
    assert_eq!(h.netns(), Some("blue"));
    assert_eq!(h.tlv(0xE0), Some(&b"app"[..]));
    assert_eq!((h.crc32c(), h.tlv(0xE1)), (None, None));
    assert_eq!(h.tlvs().count(), 7);
    let s = h.ssl().unwrap();
    assert!(s.client_ssl() && s.client_cert_conn() && s.client_cert_sess());
    assert_eq!((s.client(), s.verify()), (7, 0));
    assert_eq!(s.version(), Some("TLSv1.3"));
    assert_eq!(s.cn(), Some("client.example"));
    assert_eq!(s.cipher(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(s.sig_alg(), Some("RSA-SHA256"));
    assert_eq!(s.key_alg(), Some("RSA2048"));
    assert_eq!(s.tlvs().count(), 5);
    // An SSL TLV with no sub-TLV and a failed verification.
    let h = complete(&v2(0x21, 0x00, &tlv(kind::SSL, &[0, 0, 0, 0, 1])));
    let s = h.ssl().unwrap();
    assert!(!s.client_ssl() && !s.client_cert_conn() && s.verify() == 1 && s.version().is_none());
}

#[test]
fn crc32c_is_the_castagnoli_checksum() {
    assert_eq!(tlv::crc32c(b"123456789", usize::MAX), 0xE306_9283);
    assert_eq!(
        tlv::crc32c(b"12345678\0\0\0\0", 8),
        tlv::crc32c(b"12345678abcd", 8)
    );
}

#[test]
fn crc32c_is_verified() {
    // 127.0.0.1:1234 -> 127.0.0.2:80 with a CRC32C computed independently.
    let mut good = v2(
        0x21,
        0x11,
        &[127, 0, 0, 1, 127, 0, 0, 2, 0x04, 0xd2, 0, 80, 3, 0, 4],
    );
    good.extend_from_slice(&[0x72, 0x26, 0xe9, 0xcd]);
    good[15] += 4;
    let h = complete(&good);
    assert_eq!(h.crc32c(), Some(0x7226_e9cd));
    let mut bad = good.clone();
    bad[19] ^= 1; // the source address
    assert_eq!(
        error(&bad),
        Error::V2Crc32c {
            received: 0x7226_e9cd,
            computed: tlv::crc32c(&bad, 31)
        }
    );
    let mut bad = good;
    bad[34] ^= 0x80; // the checksum itself
    assert!(matches!(
        error(&bad),
        Error::V2Crc32c {
            received: 0x7226_e94d,
            ..
        }
    ));
}

#[test]
fn fixed_part_errors_come_with_the_byte() {
    let mut h = SIGNATURE.to_vec();
    h.push(0x11);
    assert_eq!(error(&h), Error::V2Version(1));
    h[12] = 0x22;
    assert_eq!(error(&h), Error::V2Command(2));
    h[12] = 0x2F;
    assert_eq!(error(&h), Error::V2Command(15));
    h[12] = 0x21;
    h.push(0x41);
    assert_eq!(error(&h), Error::V2Family(4));
    h[13] = 0x13;
    assert_eq!(error(&h), Error::V2Transport(3));
    assert_eq!(error(b"\r\n\r\n\0\r\nQUIT\r"), Error::Signature(Version::V2));
    assert_eq!(error(b"\r\n\n"), Error::Signature(Version::V2));
}

#[test]
fn too_long_is_refused_from_the_length_field() {
    let mut h = SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x00, 0x0f, 0xf1]); // 16 + 4081 = 4097
    assert_eq!(error(&h), Error::V2TooLong { len: 4097, max: 4096 });
    h[15] = 0xf0;
    assert!(matches!(
        Parser::default().parse(&h),
        Ok(Status::Incomplete { needed: 4080 })
    ));
    h[14..16].copy_from_slice(&[0xff, 0xff]);
    let max = Parser::default().max_len(V2_MAX_LEN);
    assert_eq!(max.parse(&h), Ok(Status::Incomplete { needed: 65535 }));
    let small = Parser::new(Version::V2).max_len(27);
    assert_eq!(
        small.parse(&v2(0x21, 0x11, &IPV4_BLOCK)),
        Err(Error::V2TooLong { len: 28, max: 27 })
    );
}

#[test]
fn address_block_shorter_than_the_family() {
    for (fam, needed) in [(0x11, 12), (0x22, 36), (0x31, 216), (0x10, 12)] {
        let h = v2(0x21, fam, &[0; 11]);
        assert_eq!(
            error(&h[..16]),
            Error::V2AddressBlock { len: 11, needed },
            "{fam:#x}"
        );
    }
    assert_eq!(
        error(&v2(0x20, 0x11, b"")),
        Error::V2AddressBlock { len: 0, needed: 12 }
    );
}

#[test]
fn tlv_overrunning_its_block() {
    let mut body = IPV4_BLOCK.to_vec();
    body.extend_from_slice(&[kind::ALPN, 0, 3, b'h', b'2']);
    let h = v2(0x21, 0x11, &body);
    // Known as soon as the TLV's length arrives.
    assert_eq!(error(&h[..31]), Error::V2TlvOverrun { offset: 28 });
    // One or two bytes left cannot hold a TLV.
    for tail in [&[kind::NOOP][..], &[kind::NOOP, 0]] {
        let mut body = IPV4_BLOCK.to_vec();
        body.extend_from_slice(tail);
        assert_eq!(error(&v2(0x21, 0x11, &body)), Error::V2TlvOverrun { offset: 28 });
    }
    // A sub-TLV overrunning the SSL TLV.
    let ssl = [1, 0, 0, 0, 0, kind::SSL_VERSION, 0, 9, b'T'];
    assert_eq!(
        error(&v2(0x21, 0x00, &tlv(kind::SSL, &ssl))),
        Error::V2TlvOverrun { offset: 24 }
    );
}

#[test]
fn tlv_values_with_a_shape_are_checked() {
    let ssl_cn_not_utf8 = [&[1, 0, 0, 0, 0][..], &tlv(kind::SSL_CN, &[0xff])].concat();
    let two_checksums = [tlv(kind::CRC32C, &[0; 4]), tlv(kind::CRC32C, &[0; 4])].concat();
    let cases: [(u8, Vec<u8>); 7] = [
        (kind::CRC32C, tlv(kind::CRC32C, &[0; 3])),
        (kind::CRC32C, two_checksums),
        (kind::UNIQUE_ID, tlv(kind::UNIQUE_ID, &[0; 129])),
        (kind::SSL, tlv(kind::SSL, &[1, 0, 0, 0])),
        (kind::SSL, tlv(kind::SSL, &ssl_cn_not_utf8)),
        (kind::AUTHORITY, tlv(kind::AUTHORITY, &[0xff])),
        (kind::NETNS, tlv(kind::NETNS, &[0xc3])),
    ];
    for (k, body) in cases {
        assert_eq!(
            error(&v2(0x21, 0x00, &body)),
            Error::V2TlvValue { kind: k },
            "{body:?}"
        );
    }
}
