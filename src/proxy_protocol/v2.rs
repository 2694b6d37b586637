//! Version 2, the binary header: a 12-byte signature, version and command,
//! family and transport, a 16-bit length, then the address block and TLVs.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::{Addrs, UNIX_BLOCK, UNIX_PATH};
use super::tlv::{self, kind};
use super::{Addresses, Command, EncodeError, Encoder, Error, Header, Status, Transport, Version};

/// The signature every version 2 header starts with.
pub(super) const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family and transport, length.
pub(super) const FIXED_LEN: usize = 16;

/// The address families (high nibble of byte 14) and their block lengths.
const UNSPEC: u8 = 0;
const INET: u8 = 1;
const INET6: u8 = 2;
const UNIX: u8 = 3;
const INET_BLOCK: usize = 12;
const INET6_BLOCK: usize = 36;

/// Parses a version 2 header at the start of `input`, of at most `max_len`
/// bytes in all. Each byte is checked as soon as it is there.
pub(super) fn parse(input: &[u8], max_len: usize) -> Result<Status, Error> {
    let sig = input.len().min(SIGNATURE.len());
    if input[..sig] != SIGNATURE[..sig] {
        return Err(Error::Signature(Version::V2));
    }
    let command = match input.get(12) {
        None => None,
        Some(b) if b >> 4 != 2 => return Err(Error::V2Version(b >> 4)),
        Some(b) => match b & 0x0F {
            0 => Some(Command::Local),
            1 => Some(Command::Proxy),
            c => return Err(Error::V2Command(c)),
        },
    };
    let family = match input.get(13) {
        None => None,
        Some(b) if b >> 4 > UNIX => return Err(Error::V2Family(b >> 4)),
        Some(b) => match b & 0x0F {
            0 => Some((b >> 4, Transport::Unspecified)),
            1 => Some((b >> 4, Transport::Stream)),
            2 => Some((b >> 4, Transport::Datagram)),
            t => return Err(Error::V2Transport(t)),
        },
    };
    let (Some(command), Some((family, transport)), Some(&[hi, lo])) = (command, family, input.get(14..16))
    else {
        return Ok(Status::Incomplete {
            needed: FIXED_LEN - input.len(),
        });
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let total = FIXED_LEN + len;
    if total > max_len {
        return Err(Error::V2TooLong {
            len: total,
            max: max_len,
        });
    }
    let addr_len = match family {
        INET => INET_BLOCK,
        INET6 => INET6_BLOCK,
        UNIX => UNIX_BLOCK,
        _ => 0,
    };
    if len < addr_len {
        return Err(Error::V2AddressBlock {
            len,
            needed: addr_len,
        });
    }
    let tlvs_at = FIXED_LEN + addr_len;
    let Some(header) = input.get(..total) else {
        let avail = input.get(tlvs_at..).unwrap_or_default();
        tlv::check_lengths(avail, total - tlvs_at, tlvs_at)?;
        return Ok(Status::Incomplete {
            needed: total - input.len(),
        });
    };
    if let Some((crc_at, received)) = tlv::validate(&header[tlvs_at..], tlvs_at)? {
        let computed = tlv::crc32c(header, crc_at);
        if received != computed {
            return Err(Error::V2Crc32c { received, computed });
        }
    }
    let block = &header[FIXED_LEN..];
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    let (addrs, data) = match family {
        INET => {
            let ip = |at: usize| Ipv4Addr::new(block[at], block[at + 1], block[at + 2], block[at + 3]);
            (
                Addrs::V4 {
                    ips: [ip(0), ip(4)],
                    ports: [port(8), port(10)],
                },
                &block[INET_BLOCK..],
            )
        }
        INET6 => {
            let ip = |at: usize| {
                let mut octets = [0; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            (
                Addrs::V6 {
                    ips: [ip(0), ip(16)],
                    ports: [port(32), port(34)],
                },
                &block[INET6_BLOCK..],
            )
        }
        UNIX => (Addrs::Unix, block),
        _ => (Addrs::Unspecified, block),
    };
    let header = Header::new(Version::V2, command, transport, addrs, data);
    Ok(Status::Complete {
        header,
        consumed: total,
    })
}

/// Appends a version 2 header; on error `out` is left as it was.
pub(super) fn write(out: &mut Vec<u8>, header: &Encoder<'_>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = write_unchecked(out, header);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_unchecked(out: &mut Vec<u8>, header: &Encoder<'_>) -> Result<(), EncodeError> {
    let Encoder {
        command,
        transport,
        addresses,
        tlvs,
        crc32c,
    } = *header;
    let start = out.len();
    out.extend_from_slice(&SIGNATURE);
    out.push(match command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    let transport = match transport {
        Transport::Unspecified => 0,
        Transport::Stream => 1,
        Transport::Datagram => 2,
    };
    let family_at = out.len();
    out.extend_from_slice(&[transport, 0, 0]);
    let family = match addresses {
        Addresses::Unspecified => UNSPEC,
        Addresses::Inet {
            source: SocketAddr::V4(s),
            destination: SocketAddr::V4(d),
        } => {
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
            INET
        }
        Addresses::Inet { source, destination } => {
            for ip in [source.ip(), destination.ip()] {
                out.extend_from_slice(&super::encode::ipv6(ip).octets());
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
            INET6
        }
        Addresses::Unix { source, destination } => {
            for path in [source, destination] {
                if path.len() > UNIX_PATH {
                    return Err(EncodeError::UnixPathTooLong(path.len()));
                }
                out.extend_from_slice(path);
                out.resize(out.len() + UNIX_PATH - path.len(), 0);
            }
            UNIX
        }
    };
    out[family_at] |= family << 4;
    for t in tlvs {
        let len = u16::try_from(t.value.len()).map_err(|_| EncodeError::TooLong(t.value.len()))?;
        out.push(t.kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(t.value);
    }
    if crc32c {
        out.extend_from_slice(&[kind::CRC32C, 0, 4, 0, 0, 0, 0]);
    }
    let len = out.len() - start - FIXED_LEN;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    out[family_at + 1..family_at + 3].copy_from_slice(&len16.to_be_bytes());
    if crc32c {
        let at = out.len() - 4;
        let crc = tlv::crc32c(&out[start..], at - start);
        out[at..].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}
