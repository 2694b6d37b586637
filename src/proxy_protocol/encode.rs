//! Writing a header for the dial side: what to announce, in either version.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::{Addresses, Command, EncodeError, Tlv, Transport, v1, v2};

/// A header to send before a connection's data, written with
/// [`write_v1`](Encoder::write_v1) or [`write_v2`](Encoder::write_v2)
/// at the end of an output buffer.
///
/// ```
/// use revio::proxy_protocol::{Encoder, Tlv, kind};
///
/// let client = "192.168.0.1:56324".parse().unwrap();
/// let server = "192.168.0.11:443".parse().unwrap();
/// let mut out = Vec::new();
/// Encoder::tcp(client, server).write_v1(&mut out);
/// assert_eq!(out, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
///
/// out.clear();
/// let tlvs = [Tlv { kind: kind::AUTHORITY, value: b"example.com" }];
/// Encoder::tcp(client, server).tlvs(&tlvs).write_v2(&mut out).unwrap();
/// assert_eq!(out.len(), 16 + 12 + 3 + 11);
///
/// out.clear();
/// Encoder::local().write_v2(&mut out).unwrap(); // a health check
/// assert_eq!(out, b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encoder<'a> {
    pub(super) command: Command,
    pub(super) transport: Transport,
    pub(super) addresses: Addresses<'a>,
    pub(super) tlvs: &'a [Tlv<'a>],
    pub(super) crc32c: bool,
}

impl<'a> Encoder<'a> {
    /// A PROXY command relaying a connection of `transport` between
    /// `addresses`.
    pub fn proxy(transport: Transport, addresses: Addresses<'a>) -> Self {
        Encoder {
            command: Command::Proxy,
            transport,
            addresses,
            tlvs: &[],
            crc32c: false,
        }
    }

    /// A PROXY command for a TCP connection from `source` to `destination`.
    pub fn tcp(source: SocketAddr, destination: SocketAddr) -> Self {
        Encoder::proxy(Transport::Stream, Addresses::Inet { source, destination })
    }

    /// A LOCAL command (version 2), or `PROXY UNKNOWN` (version 1): the
    /// receiver keeps the socket's own addresses, as for a health check.
    pub fn local() -> Self {
        Encoder {
            command: Command::Local,
            transport: Transport::Unspecified,
            addresses: Addresses::Unspecified,
            tlvs: &[],
            crc32c: false,
        }
    }

    /// Sends these TLVs (version 2 only), in this order. Leave the checksum
    /// out of them: ask for it with [`crc32c`](Encoder::crc32c).
    pub fn tlvs(self, tlvs: &'a [Tlv<'a>]) -> Self {
        Encoder { tlvs, ..self }
    }

    /// Whether to end the TLVs with a CRC32C checksum of the header
    /// (version 2 only).
    pub fn crc32c(self, crc32c: bool) -> Self {
        Encoder { crc32c, ..self }
    }

    /// Appends the version 1 line: `TCP4` or `TCP6` (IPv4-mapped if the
    /// families differ) for a PROXY command over a stream with IP addresses,
    /// `UNKNOWN` for anything else, which version 1 cannot express. TLVs and
    /// the checksum are not part of version 1.
    pub fn write_v1(&self, out: &mut Vec<u8>) {
        match (self.command, self.transport, self.addresses) {
            (Command::Proxy, Transport::Stream, Addresses::Inet { source, destination }) => {
                v1::write(out, Some((source, destination)))
            }
            _ => v1::write(out, None),
        }
    }

    /// Appends the version 2 header. Fails, writing nothing, when a UNIX path
    /// is over 108 bytes or the addresses and TLVs exceed 65535 bytes.
    pub fn write_v2(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        v2::write(out, self)
    }
}

/// An address as IPv6, IPv4-mapped when it is IPv4: how both versions send
/// a pair of addresses of different families.
pub(super) fn ipv6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
