//! The PROXY protocol (versions 1 and 2), sans-IO: parse the header a load
//! balancer puts before a connection's data, and write one before dialing.
//!
//! A balancer such as HAProxy (`send-proxy`, `send-proxy-v2`), nginx stream
//! or Envoy prepends to every connection it relays a short header that names
//! the client's address and the address it connected to. This module reads
//! and writes that header as [HAProxy's specification] defines it; it never
//! touches a socket or a clock. The loop feeds [`Parser::parse`] the bytes
//! read so far and gets one of three answers:
//!
//! - [`Status::Incomplete`]: a valid prefix; read more (at least `needed`).
//! - [`Status::Complete`]: the [`Header`], and how many bytes it took; the
//!   bytes after them are the application's.
//! - an [`Error`]: the bytes can no longer become a valid header. This is
//!   known as early as possible (the first byte already tells a PROXY header
//!   from HTTP or TLS), so a server can close a wrong connection at once.
//!
//! ```
//! use revio::proxy_protocol::{Parser, Status, Version};
//!
//! let parser = Parser::new(Version::Any);
//! let mut input = Vec::new();
//! // The header arrives in two reads, followed by the client's first bytes.
//! input.extend_from_slice(b"PROXY TCP4 192.168.0.1 192.16");
//! assert!(matches!(parser.parse(&input), Ok(Status::Incomplete { .. })));
//! input.extend_from_slice(b"8.0.11 56324 443\r\nGET / HTTP/1.1\r\n");
//! match parser.parse(&input) {
//!     Ok(Status::Complete { header, consumed }) => {
//!         assert_eq!(header.source(), Some("192.168.0.1:56324".parse().unwrap()));
//!         assert_eq!(header.destination(), Some("192.168.0.11:443".parse().unwrap()));
//!         assert_eq!(&input[consumed..], b"GET / HTTP/1.1\r\n");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // Anything else is rejected from its first byte.
//! assert!(parser.parse(b"GET / HTTP/1.1\r\n").is_err());
//! ```
//!
//! The dial side writes a header with [`Encoder`]:
//!
//! ```
//! use revio::proxy_protocol::{Encoder, Parser, Status};
//!
//! let client = "[2001:db8::1]:40000".parse().unwrap();
//! let server = "[2001:db8::2]:6379".parse().unwrap();
//! let mut out = Vec::new();
//! Encoder::tcp(client, server).crc32c(true).write_v2(&mut out).unwrap();
//! let Ok(Status::Complete { header, consumed }) = Parser::default().parse(&out) else {
//!     panic!()
//! };
//! assert_eq!((header.source(), consumed), (Some(client), out.len()));
//! ```
//!
//! # Limits
//! A version 1 header is at most [`V1_MAX_LEN`] (107) bytes with its CRLF, as
//! the specification says. A version 2 header may announce up to
//! 16 + 65535 bytes; a [`Parser`] refuses any longer than its maximum,
//! [`V2_DEFAULT_MAX_LEN`] (4 KiB) unless set with [`Parser::max_len`], as
//! soon as the first 16 bytes announce it, so that one peer cannot make the
//! server hold 64 KiB per connection. 4 KiB is several times what HAProxy
//! sends with every TLV it knows (addresses, ALPN, SNI, a 128-byte unique id,
//! the TLS details, a checksum).
//!
//! Parsing allocates once, on completion, and only when the header carries
//! TLVs or UNIX paths: they are kept in one boxed slice, read on demand. A
//! [`Header`] takes 64 bytes, since a server keeps one per connection.
//!
//! # Strictness
//! Both formats are checked as the specification writes them: v1 needs
//! single spaces, upper-case `TCP4`/`TCP6`/`UNKNOWN`, numbers without leading
//! zeros, a CRLF and nothing between the destination port and it; v2 needs
//! version 2, a known command, family and transport, an address block as long
//! as its family's addresses, and TLVs that fill the rest exactly. A CRC32C
//! TLV is verified; the known TLVs whose values have a shape (the checksum,
//! the unique id of at most 128 bytes, the SSL TLV and its sub-TLVs, the
//! UTF-8 strings) are checked, so their accessors cannot fail.
//!
//! Whether the addresses apply is the caller's rule: a `LOCAL` command (a
//! balancer's health check), a v1 `UNKNOWN` or a v2 `AF_UNSPEC` header keeps
//! the socket's own addresses, which is what [`Header::source`] and
//! [`Header::destination`] returning `None` mean.
//!
//! # Why not a crate
//! We looked at the PROXY protocol crates on crates.io (2026): `ppp` 2.3
//! (the most used), `proxy-header` 0.1.3 and `proxy-protocol` 0.5. None fits
//! what a loop needs without changes:
//! - `ppp` parses both versions and tells incomplete from invalid, but it
//!   depends on `thiserror` 1 (so on `syn`, `quote`, `proc-macro2`, 6 crates
//!   in all), does not verify CRC32C, and has no bound on the v2 length: a
//!   header announcing 65535 bytes is "incomplete". Its v1 parser checks
//!   fields only once all are there: `PROXY TCP4 999.1.1.1 ` is
//!   "incomplete" too (we tried 2.3.0).
//! - `proxy-header` has no required dependency and rejects a wrong first
//!   byte, but calls any v2 input under 16 bytes "buffer too short", a wrong
//!   signature included; reads v1 numbers with `u16::from_str` (so `+1` and
//!   `080` pass); skips UNIX addresses on parse and cannot write them; does
//!   not verify CRC32C and has no length bound.
//! - `proxy-protocol` depends on `bytes` and `snafu` and skips v2 TLVs
//!   altogether (its source says "TODO: Support TLVs").
//!
//! The format is small (a 107-byte line, or 16 bytes and a length), so, as
//! issue 16 allows, this is our own parser, fuzzed by the property tests in
//! `integration/tests/proxy_protocol.rs`, with no dependency.
//!
//! [HAProxy's specification]: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt

mod encode;
mod error;
mod header;
mod tlv;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::fmt;

pub use encode::Encoder;
pub use error::{EncodeError, Error, V1Field};
pub use header::{Addresses, Command, Header, Transport};
pub use tlv::{Ssl, Tlv, Tlvs, kind};

/// The longest version 1 header, CRLF included (the specification's worst
/// case: `PROXY UNKNOWN` with two full IPv6 addresses and two ports).
pub const V1_MAX_LEN: usize = 107;

/// The longest version 2 header the protocol can express: 16 fixed bytes and
/// a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + 65535;

/// The longest version 2 header a [`Parser`] accepts unless told otherwise.
pub const V2_DEFAULT_MAX_LEN: usize = 4096;

/// Which versions of the PROXY protocol a listener accepts.
///
/// A listener must be configured for the protocol, never guess whether a
/// header is present (a client could then forge its address); `Any` only
/// tells the two versions apart, by their first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    /// The human-readable line, `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary header, starting with `\r\n\r\n\0\r\nQUIT\n`.
    V2,
    /// Either: `P` starts a version 1 header, `\r` a version 2 one.
    #[default]
    Any,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
            Version::Any => "v1 or v2",
        })
    }
}

impl std::str::FromStr for Version {
    type Err = std::io::Error;

    /// Parses `v1`, `v2` or `any` (as listener addresses take them in
    /// `?proxy=`, and the examples in `--proxy-protocol`).
    fn from_str(s: &str) -> std::io::Result<Version> {
        match s.to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(Version::V1),
            "v2" | "2" => Ok(Version::V2),
            "any" => Ok(Version::Any),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("unknown PROXY protocol version {s:?}; use v1, v2 or any"),
            )),
        }
    }
}

/// What [`Parser::parse`] found in the bytes it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The bytes are a valid beginning of a header; call again with more.
    Incomplete {
        /// At least this many more bytes are needed (exactly this many for a
        /// version 2 header once its first 16 bytes are in). Never 0.
        needed: usize,
    },
    /// A whole, valid header.
    Complete {
        /// The header.
        header: Header,
        /// How many bytes it took; what follows is application data.
        consumed: usize,
    },
}

/// Parses PROXY protocol headers of the accepted versions, within a size
/// limit. It holds no state between calls: give it all the bytes read so
/// far each time (a header is parsed from the start of the connection).
///
/// ```
/// use revio::proxy_protocol::{Error, Parser, Status, Version};
///
/// let parser = Parser::new(Version::V2).max_len(256);
/// assert_eq!(parser.parse(b"\r\n\r\n"), Ok(Status::Incomplete { needed: 12 }));
/// assert_eq!(parser.parse(b"PROXY "), Err(Error::Signature(Version::V2)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Parser {
    version: Version,
    max_len: usize,
}

impl Default for Parser {
    /// Both versions, version 2 headers up to [`V2_DEFAULT_MAX_LEN`].
    fn default() -> Self {
        Parser::new(Version::Any)
    }
}

impl Parser {
    /// A parser for `version`, with version 2 headers up to
    /// [`V2_DEFAULT_MAX_LEN`] bytes.
    pub const fn new(version: Version) -> Self {
        Parser {
            version,
            max_len: V2_DEFAULT_MAX_LEN,
        }
    }

    /// The same parser with version 2 headers up to `max_len` bytes in all
    /// (the 16 fixed bytes included), kept within 16 ..= [`V2_MAX_LEN`].
    /// 232 bytes hold any address block (two UNIX paths) without TLVs.
    pub const fn max_len(self, max_len: usize) -> Self {
        let max_len = if max_len < v2::FIXED_LEN {
            v2::FIXED_LEN
        } else if max_len > V2_MAX_LEN {
            V2_MAX_LEN
        } else {
            max_len
        };
        Parser { max_len, ..self }
    }

    /// The versions this parser accepts.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The longest version 2 header this parser accepts, in bytes.
    pub const fn v2_max_len(&self) -> usize {
        self.max_len
    }

    /// Parses the header at the start of `input`, the bytes received so far.
    ///
    /// Never panics and allocates only for a complete header with TLVs or
    /// UNIX paths. An error means no more bytes can make the input valid.
    pub fn parse(&self, input: &[u8]) -> Result<Status, Error> {
        match (input.first(), self.version) {
            (None, Version::V2) => Ok(Status::Incomplete {
                needed: v2::FIXED_LEN,
            }),
            (None, _) => Ok(Status::Incomplete { needed: v1::MIN_LEN }),
            (Some(b'P'), Version::V1 | Version::Any) => v1::parse(input),
            (Some(b'\r'), Version::V2 | Version::Any) => v2::parse(input, self.max_len),
            (Some(_), version) => Err(Error::Signature(version)),
        }
    }
}
