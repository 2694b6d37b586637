//! Version 1, the text line: `PROXY TCP4|TCP6 src dst sport dport\r\n` or
//! `PROXY UNKNOWN ...\r\n`, at most 107 bytes.
//!
//! Each field is checked as soon as the space after it arrives, and the
//! field still arriving is checked as a prefix (its characters, its length,
//! a number's value), so that a line that can no longer be valid is refused
//! before its CRLF, as the specification recommends.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::Addrs;
use super::{Command, Error, Header, Status, Transport, V1_MAX_LEN, V1Field, Version};

/// The shortest line: `PROXY UNKNOWN\r\n`.
pub(super) const MIN_LEN: usize = 15;

/// The longest text form of an IPv6 address, with an embedded IPv4 address.
const IPV6_TEXT_MAX: usize = 45;

/// Parses a version 1 header at the start of `input`.
pub(super) fn parse(input: &[u8]) -> Result<Status, Error> {
    // The CR must come by byte 106 for the CRLF to end by byte 107.
    let window = &input[..input.len().min(V1_MAX_LEN - 1)];
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        line(window, false)?;
        if input.len() >= V1_MAX_LEN - 1 {
            return Err(Error::V1TooLong);
        }
        return Ok(Status::Incomplete {
            needed: MIN_LEN.saturating_sub(input.len()).max(1),
        });
    };
    let is_lf = window[end] == b'\n';
    let header = line(&input[..end], !is_lf)?;
    match (header, input.get(end + 1)) {
        (Some(_), None) if !is_lf => Ok(Status::Incomplete { needed: 1 }),
        (Some(header), Some(b'\n')) if !is_lf => Ok(Status::Complete {
            header,
            consumed: end + 2,
        }),
        _ => Err(Error::V1LineEnd),
    }
}

/// One space-separated field: `Whole` when a space (or the end of a whole
/// line) follows it, `Partial` when more of it may still arrive.
enum Field<'a> {
    Whole(&'a [u8]),
    Partial(&'a [u8]),
}

struct Fields<'a> {
    rest: Option<&'a [u8]>,
    whole: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let rest = self.rest?;
        match rest.iter().position(|&b| b == b' ') {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(Field::Whole(&rest[..i]))
            }
            None => {
                self.rest = None;
                Some(if self.whole {
                    Field::Whole(rest)
                } else {
                    Field::Partial(rest)
                })
            }
        }
    }
}

/// Checks a line without its CRLF (`whole`) or the beginning of one.
/// Returns the header for a whole line, `None` for a valid beginning.
fn line(line: &[u8], whole: bool) -> Result<Option<Header>, Error> {
    let mut fields = Fields {
        rest: Some(line),
        whole,
    };
    match fields.next() {
        Some(Field::Whole(b"PROXY")) => {}
        Some(Field::Partial(p)) if b"PROXY".starts_with(p) => return Ok(None),
        _ => return Err(Error::Signature(Version::V1)),
    }
    let v6 = match fields.next() {
        Some(Field::Whole(b"TCP4")) => false,
        Some(Field::Whole(b"TCP6")) => true,
        // The rest of an UNKNOWN line is ignored, as the specification says.
        Some(Field::Whole(b"UNKNOWN")) => {
            let header = Header::new(
                Version::V1,
                Command::Proxy,
                Transport::Unspecified,
                Addrs::Unspecified,
                &[],
            );
            return Ok(whole.then_some(header));
        }
        Some(Field::Partial(p))
            if [&b"TCP4"[..], b"TCP6", b"UNKNOWN"]
                .iter()
                .any(|k| k.starts_with(p)) =>
        {
            return Ok(None);
        }
        _ => return Err(Error::V1Field(V1Field::Protocol)),
    };
    let ip = |bytes: &[u8], whole: bool| {
        if v6 {
            ipv6(bytes, whole)
        } else {
            ipv4(bytes, whole)
        }
    };
    let port = |bytes: &[u8], whole: bool| Ok(decimal(bytes, u16::MAX.into(), whole)?.map(|n| n as u16));
    let Some(src) = field(fields.next(), V1Field::SourceAddress, ip)? else {
        return Ok(None);
    };
    let Some(dst) = field(fields.next(), V1Field::DestinationAddress, ip)? else {
        return Ok(None);
    };
    let Some(sport) = field(fields.next(), V1Field::SourcePort, port)? else {
        return Ok(None);
    };
    let Some(dport) = field(fields.next(), V1Field::DestinationPort, port)? else {
        return Ok(None);
    };
    if fields.next().is_some() {
        return Err(Error::V1Field(V1Field::End));
    }
    let ports = [sport, dport];
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Addrs::V4 { ips: [s, d], ports },
        (IpAddr::V6(s), IpAddr::V6(d)) => Addrs::V6 { ips: [s, d], ports },
        _ => return Err(Error::V1Field(V1Field::DestinationAddress)),
    };
    Ok(Some(Header::new(
        Version::V1,
        Command::Proxy,
        Transport::Stream,
        addrs,
        &[],
    )))
}

/// Checks one field with `check`, which returns `Ok(None)` for a valid
/// beginning of a partial field. A missing field is an error.
fn field<T>(
    field: Option<Field<'_>>,
    name: V1Field,
    check: impl Fn(&[u8], bool) -> Result<Option<T>, ()>,
) -> Result<Option<T>, Error> {
    let checked = match field {
        Some(Field::Whole(bytes)) => check(bytes, true).and_then(|v| v.ok_or(())).map(Some),
        Some(Field::Partial(bytes)) => check(bytes, false).map(|_| None),
        None => Err(()),
    };
    checked.map_err(|()| Error::V1Field(name))
}

/// A decimal number up to `max` without leading zeros; `None` for a valid
/// beginning of one (`!whole`).
fn decimal(digits: &[u8], max: u32, whole: bool) -> Result<Option<u32>, ()> {
    let leading_zero = digits.len() > 1 && digits.first() == Some(&b'0');
    if leading_zero || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let n = digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
    if n > max || (whole && digits.is_empty()) {
        return Err(());
    }
    Ok(whole.then_some(n))
}

/// Four decimal numbers up to 255 separated by dots, no leading zeros.
fn ipv4(text: &[u8], whole: bool) -> Result<Option<IpAddr>, ()> {
    let dots = text.iter().filter(|&&b| b == b'.').count();
    if dots > 3 || (whole && dots != 3) {
        return Err(());
    }
    let mut octets = [0u8; 4];
    for (i, group) in text.split(|&b| b == b'.').enumerate() {
        if let (Some(n), Some(octet)) = (decimal(group, 255, whole || i < dots)?, octets.get_mut(i)) {
            *octet = n as u8;
        }
    }
    Ok(whole.then(|| IpAddr::V4(Ipv4Addr::from(octets))))
}

/// An IPv6 address as `std` reads it (hex groups, one `::`, an optional
/// embedded IPv4 address); a beginning of one is checked for its characters,
/// its length and a single `::`.
fn ipv6(text: &[u8], whole: bool) -> Result<Option<IpAddr>, ()> {
    let chars_ok = text
        .iter()
        .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.');
    let double_colons = text.windows(2).filter(|w| w == b"::").count();
    if !chars_ok || text.len() > IPV6_TEXT_MAX || double_colons > 1 {
        return Err(());
    }
    if !whole {
        return Ok(None);
    }
    let ip: Ipv6Addr = std::str::from_utf8(text)
        .map_err(|_| ())?
        .parse()
        .map_err(|_| ())?;
    Ok(Some(IpAddr::V6(ip)))
}

/// Appends a version 1 line for these addresses, `UNKNOWN` for none.
pub(super) fn write(out: &mut Vec<u8>, addrs: Option<(SocketAddr, SocketAddr)>) {
    // Writing to a Vec cannot fail.
    let _ = match addrs {
        None => out.write_all(b"PROXY UNKNOWN\r\n"),
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            write!(
                out,
                "PROXY TCP4 {} {} {} {}\r\n",
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            )
        }
        Some((s, d)) => {
            let (sip, dip) = (super::encode::ipv6(s.ip()), super::encode::ipv6(d.ip()));
            write!(out, "PROXY TCP6 {sip} {dip} {} {}\r\n", s.port(), d.port())
        }
    };
}
