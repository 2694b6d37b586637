//! Why a header was refused, and why one could not be written.

use std::fmt;

use super::{V1_MAX_LEN, Version};

/// Why the bytes at the start of a connection are not a valid PROXY
/// protocol header, nor the beginning of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not start with the signature of the version named here
    /// (`Any` when the first byte starts neither).
    Signature(Version),
    /// v1: no CRLF within [`V1_MAX_LEN`] bytes.
    V1TooLong,
    /// v1: a CR not followed by LF, or a LF without its CR.
    V1LineEnd,
    /// v1: the named field is missing or malformed, or (for
    /// [`V1Field::End`]) something follows the destination port.
    V1Field(V1Field),
    /// v2: the version nibble (given) is not 2.
    V2Version(u8),
    /// v2: the command nibble (given) is neither LOCAL (0) nor PROXY (1).
    V2Command(u8),
    /// v2: the address family nibble (given) is not 0 to 3.
    V2Family(u8),
    /// v2: the transport nibble (given) is not 0 to 2.
    V2Transport(u8),
    /// v2: the header announces `len` bytes in all, more than the parser's
    /// maximum `max`.
    V2TooLong {
        /// The announced total length, 16 fixed bytes included.
        len: usize,
        /// The parser's maximum.
        max: usize,
    },
    /// v2: the address block (`len` bytes) is shorter than the addresses of
    /// its family (`needed` bytes).
    V2AddressBlock {
        /// The announced length after the 16 fixed bytes.
        len: usize,
        /// What the family's addresses take.
        needed: usize,
    },
    /// v2: the TLV starting at this offset in the header runs past the end of
    /// the header (or of the SSL TLV holding it).
    V2TlvOverrun {
        /// Where the TLV starts, counted from the header's first byte.
        offset: usize,
    },
    /// v2: a TLV of this type has a value of the wrong shape (a checksum not
    /// of 4 bytes or repeated, a unique id over 128 bytes, an SSL TLV under 5
    /// bytes, a string that is not UTF-8).
    V2TlvValue {
        /// The TLV's type.
        kind: u8,
    },
    /// v2: the CRC32C TLV does not match the header's checksum.
    V2Crc32c {
        /// The value in the TLV.
        received: u32,
        /// The checksum of the header as received.
        computed: u32,
    },
}

/// A field of a version 1 header, as named by [`Error::V1Field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V1Field {
    /// `TCP4`, `TCP6` or `UNKNOWN`.
    Protocol,
    /// The source address.
    SourceAddress,
    /// The destination address.
    DestinationAddress,
    /// The source port.
    SourcePort,
    /// The destination port.
    DestinationPort,
    /// The CRLF right after the destination port.
    End,
}

impl fmt::Display for V1Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            V1Field::Protocol => "protocol (TCP4, TCP6 or UNKNOWN)",
            V1Field::SourceAddress => "source address",
            V1Field::DestinationAddress => "destination address",
            V1Field::SourcePort => "source port",
            V1Field::DestinationPort => "destination port",
            V1Field::End => "end of line after the destination port",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Signature(Version::V1) => {
                f.write_str("not a PROXY protocol v1 header: it must start with \"PROXY \"")
            }
            Error::Signature(Version::V2) => f.write_str(
                "not a PROXY protocol v2 header: it must start with \"\\r\\n\\r\\n\\0\\r\\nQUIT\\n\"",
            ),
            Error::Signature(Version::Any) => f.write_str("not a PROXY protocol header (v1 or v2)"),
            Error::V1TooLong => write!(f, "PROXY v1 header without CRLF in its first {V1_MAX_LEN} bytes"),
            Error::V1LineEnd => f.write_str("PROXY v1 header with a lone CR or LF"),
            Error::V1Field(field) => write!(f, "PROXY v1 header with a missing or invalid {field}"),
            Error::V2Version(v) => write!(f, "PROXY v2 header with version {v}, not 2"),
            Error::V2Command(c) => write!(
                f,
                "PROXY v2 header with command {c}, neither LOCAL (0) nor PROXY (1)"
            ),
            Error::V2Family(a) => write!(f, "PROXY v2 header with address family {a}, not 0 to 3"),
            Error::V2Transport(t) => write!(f, "PROXY v2 header with transport {t}, not 0 to 2"),
            Error::V2TooLong { len, max } => {
                write!(f, "PROXY v2 header of {len} bytes, more than the {max} allowed")
            }
            Error::V2AddressBlock { len, needed } => write!(
                f,
                "PROXY v2 header with a {len}-byte address block; its address family needs {needed}"
            ),
            Error::V2TlvOverrun { offset } => {
                write!(
                    f,
                    "PROXY v2 header with a TLV at byte {offset} that runs past its end"
                )
            }
            Error::V2TlvValue { kind } => {
                write!(f, "PROXY v2 header with an invalid TLV of type {kind:#04x}")
            }
            Error::V2Crc32c { received, computed } => write!(
                f,
                "PROXY v2 header with CRC32C {received:#010x}, but its checksum is {computed:#010x}"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Why [`Encoder::write_v2`](super::Encoder::write_v2) could not write a
/// header. Nothing is written then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// A UNIX path of this many bytes does not fit the 108-byte field.
    UnixPathTooLong(usize),
    /// The addresses and TLVs would take this many bytes, more than the
    /// 65535 that a version 2 header can announce.
    TooLong(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::UnixPathTooLong(n) => {
                write!(
                    f,
                    "a UNIX path of {n} bytes does not fit the 108 bytes of a PROXY v2 header"
                )
            }
            EncodeError::TooLong(n) => {
                write!(
                    f,
                    "PROXY v2 addresses and TLVs of {n} bytes exceed the 65535 a header can hold"
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}
