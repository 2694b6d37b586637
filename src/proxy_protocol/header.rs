//! The parsed header: command, transport, addresses and TLVs, kept small
//! because a server stores one per connection.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::Version;
use super::tlv::{Ssl, Tlvs, kind};

/// What the sender of a header asks: relay addresses, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// The balancer opened the connection itself (a health check): the
    /// socket's own addresses apply. Version 2 only.
    Local,
    /// The connection is relayed for a client: the header's addresses apply.
    Proxy,
}

/// The relayed connection's transport (version 1 knows only TCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or not given (v1 `UNKNOWN`, v2 `UNSPEC`).
    Unspecified,
    /// `SOCK_STREAM`: TCP, or a UNIX stream socket.
    Stream,
    /// `SOCK_DGRAM`: UDP, or a UNIX datagram socket.
    Datagram,
}

/// The addresses a header carries, as [`Header::addresses`] reads them and
/// [`Encoder`](super::Encoder) writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addresses<'a> {
    /// None: v1 `UNKNOWN`, v2 `AF_UNSPEC`.
    Unspecified,
    /// IPv4 or IPv6 addresses with ports. When writing, an IPv4 address
    /// paired with an IPv6 one is sent IPv4-mapped.
    Inet {
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// UNIX socket paths (v2 only): the bytes of each 108-byte field up to
    /// its first NUL; for a Linux abstract name (a field starting with NUL),
    /// the field without its trailing NULs.
    Unix {
        /// The client's path.
        source: &'a [u8],
        /// The path the client connected to.
        destination: &'a [u8],
    },
}

/// The addresses inside a [`Header`]: 38 bytes at most, UNIX paths live in
/// the header's boxed data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Addrs {
    Unspecified,
    V4 {
        ips: [Ipv4Addr; 2],
        ports: [u16; 2],
    },
    V6 {
        ips: [Ipv6Addr; 2],
        ports: [u16; 2],
    },
    /// The first [`UNIX_BLOCK`] bytes of the data are the two path fields.
    Unix,
}

/// Length of one UNIX path field.
pub(super) const UNIX_PATH: usize = 108;
/// Length of the UNIX address block: two path fields.
pub(super) const UNIX_BLOCK: usize = 2 * UNIX_PATH;

/// A complete, valid PROXY protocol header.
///
/// ```
/// use revio::proxy_protocol::{Addresses, Command, Parser, Status, Transport};
///
/// let Ok(Status::Complete { header, .. }) = Parser::default().parse(b"PROXY UNKNOWN\r\n") else {
///     panic!()
/// };
/// assert_eq!(header.command(), Command::Proxy);
/// assert_eq!(header.transport(), Transport::Unspecified);
/// assert_eq!(header.addresses(), Addresses::Unspecified);
/// assert_eq!(header.source(), None); // keep the socket's own address
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// For UNIX addresses their 216 bytes, then the TLVs; `None` when both
    /// are absent. One allocation at most per header.
    data: Option<Box<[u8]>>,
    addrs: Addrs,
    version: Version,
    command: Command,
    transport: Transport,
}

impl Header {
    /// Assembles a header; `data` holds the UNIX address block (when
    /// `addrs` is `Unix`) and the TLVs, already validated.
    pub(super) fn new(
        version: Version,
        command: Command,
        transport: Transport,
        addrs: Addrs,
        data: &[u8],
    ) -> Header {
        let data = (!data.is_empty()).then(|| Box::from(data));
        Header {
            data,
            addrs,
            version,
            command,
            transport,
        }
    }

    /// [`Version::V1`] or [`Version::V2`]: the format the header came in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// LOCAL (a health check from the balancer) or PROXY.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The relayed connection's transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The addresses as the header carries them, whatever the command.
    /// Use [`source`](Header::source) and [`destination`](Header::destination)
    /// to know whether they replace the socket's own.
    pub fn addresses(&self) -> Addresses<'_> {
        match self.addrs {
            Addrs::Unspecified => Addresses::Unspecified,
            Addrs::V4 { ips, ports } => Addresses::Inet {
                source: SocketAddr::V4(SocketAddrV4::new(ips[0], ports[0])),
                destination: SocketAddr::V4(SocketAddrV4::new(ips[1], ports[1])),
            },
            Addrs::V6 { ips, ports } => Addresses::Inet {
                source: SocketAddr::V6(SocketAddrV6::new(ips[0], ports[0], 0, 0)),
                destination: SocketAddr::V6(SocketAddrV6::new(ips[1], ports[1], 0, 0)),
            },
            Addrs::Unix => {
                let block = self.data.as_deref().unwrap_or_default();
                let (source, destination) = block.split_at(UNIX_PATH.min(block.len()));
                Addresses::Unix {
                    source: unix_path(source),
                    destination: unix_path(&destination[..UNIX_PATH.min(destination.len())]),
                }
            }
        }
    }

    /// The client's address when it replaces the socket's peer address: a
    /// PROXY command with IPv4 or IPv6 addresses. `None` for LOCAL,
    /// unspecified or UNIX addresses.
    pub fn source(&self) -> Option<SocketAddr> {
        match (self.command, self.addresses()) {
            (Command::Proxy, Addresses::Inet { source, .. }) => Some(source),
            _ => None,
        }
    }

    /// The address the client connected to, when it replaces the socket's
    /// local address; `None` in the same cases as [`source`](Header::source).
    pub fn destination(&self) -> Option<SocketAddr> {
        match (self.command, self.addresses()) {
            (Command::Proxy, Addresses::Inet { destination, .. }) => Some(destination),
            _ => None,
        }
    }

    /// The TLVs (version 2), in the order they came, NOOP padding included.
    pub fn tlvs(&self) -> Tlvs<'_> {
        let data = self.data.as_deref().unwrap_or_default();
        let skip = if self.addrs == Addrs::Unix {
            UNIX_BLOCK.min(data.len())
        } else {
            0
        };
        Tlvs::new(&data[skip..])
    }

    /// The value of the first TLV of type `kind`, if any.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs().find(|t| t.kind == kind).map(|t| t.value)
    }

    /// `PP2_TYPE_ALPN`: the application protocol the client negotiated with
    /// the balancer, such as `h2`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(kind::ALPN)
    }

    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI).
    pub fn authority(&self) -> Option<&str> {
        self.tlv(kind::AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `PP2_TYPE_CRC32C`: the header's checksum, already verified.
    pub fn crc32c(&self) -> Option<u32> {
        let v: [u8; 4] = self.tlv(kind::CRC32C)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// `PP2_TYPE_UNIQUE_ID`: the balancer's id for the connection (at most
    /// 128 bytes), to correlate logs across proxies.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(kind::UNIQUE_ID)
    }

    /// `PP2_TYPE_SSL`: how the client reached the balancer over TLS.
    pub fn ssl(&self) -> Option<Ssl<'_>> {
        self.tlv(kind::SSL).and_then(Ssl::new)
    }

    /// `PP2_TYPE_NETNS`: the name of the network namespace the client
    /// connection was accepted in.
    pub fn netns(&self) -> Option<&str> {
        self.tlv(kind::NETNS).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// The path in a 108-byte field: up to the first NUL, or for an abstract
/// name (leading NUL) up to the last non-NUL byte.
fn unix_path(field: &[u8]) -> &[u8] {
    if field.first() == Some(&0) {
        let end = field.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        &field[..end]
    } else {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        &field[..end]
    }
}
