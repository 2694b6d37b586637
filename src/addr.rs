//! Addresses: what `serve` binds (`tcp://host:port`, `unix:///path`, ...) and what
//! connections report as their local and remote ends.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

/// The transport named by an address's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Network {
    /// `tcp://` or a bare `host:port`: IPv4 or IPv6, whichever the host resolves to first.
    Tcp,
    /// `tcp4://`: IPv4 only.
    Tcp4,
    /// `tcp6://`: IPv6 only.
    Tcp6,
    /// `udp://`: IPv4 or IPv6.
    Udp,
    /// `udp4://`: IPv4 only.
    Udp4,
    /// `udp6://`: IPv6 only.
    Udp6,
    /// `unix://path`: a unix stream socket.
    Unix,
}

impl Network {
    /// Whether this is one of the UDP networks.
    pub fn is_udp(self) -> bool {
        matches!(self, Network::Udp | Network::Udp4 | Network::Udp6)
    }

    fn family_ok(self, addr: &SocketAddr) -> bool {
        match self {
            Network::Tcp4 | Network::Udp4 => addr.is_ipv4(),
            Network::Tcp6 | Network::Udp6 => addr.is_ipv6(),
            _ => true,
        }
    }
}

/// A parsed address to listen on or dial, such as `tcp://127.0.0.1:5000`,
/// `udp6://[::1]:0`, `unix:///tmp/revio.sock` or `localhost:6380?reuseport=true`.
///
/// Options after `?`, joined with `&`:
/// * `reuseport=true`: SO_REUSEPORT on the bound socket.
/// * `proxy=v1`, `proxy=v2` or `proxy=any` (stream listeners): every
///   connection must start with a [PROXY protocol](crate::proxy_protocol)
///   header of that version, as a load balancer sends it (HAProxy's
///   `send-proxy`); the connection's [`remote_addr`](crate::Conn::remote_addr)
///   and [`local_addr`](crate::Conn::local_addr) are then the addresses it
///   carries. A connection whose header is missing, malformed or late
///   ([`Config::proxy_header_timeout`](crate::Config::proxy_header_timeout))
///   is closed before the handler hears of it. Only put this on addresses
///   that the balancer alone can reach: whoever connects can claim any
///   client address.
///
/// ```
/// use revio::{Address, Network};
/// use revio::proxy_protocol::Version;
/// let a: Address = "tcp://127.0.0.1:0?reuseport=true&proxy=v2".parse().unwrap();
/// assert_eq!(a.network(), Network::Tcp);
/// assert!(a.reuseport());
/// assert_eq!(a.proxy_protocol(), Some(Version::V2));
/// assert!("ftp://x:1".parse::<Address>().is_err());
/// assert!("udp://x:1?proxy=v2".parse::<Address>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    network: Network,
    /// `host:port` for inet networks, the path for unix.
    target: String,
    reuseport: bool,
    proxy: Option<crate::proxy_protocol::Version>,
}

impl Address {
    /// The transport.
    pub fn network(&self) -> Network {
        self.network
    }

    /// `host:port` for TCP and UDP, the socket path for unix.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether `?reuseport=true` was given (SO_REUSEPORT on the bound socket).
    pub fn reuseport(&self) -> bool {
        self.reuseport
    }

    /// The PROXY protocol version `?proxy=` asks connections to start with.
    pub fn proxy_protocol(&self) -> Option<crate::proxy_protocol::Version> {
        self.proxy
    }

    /// Resolves the host (blocking: a DNS lookup may happen) to the first socket
    /// address of the right family.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        if self.network == Network::Unix {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a unix address has no socket address to resolve",
            ));
        }
        let target = if self.target.starts_with(':') {
            // ":5000" means every interface, as in evio.
            match self.network {
                Network::Tcp6 | Network::Udp6 => format!("[::]{}", self.target),
                _ => format!("0.0.0.0{}", self.target),
            }
        } else {
            self.target.clone()
        };
        let mut found = false;
        for a in target.to_socket_addrs()? {
            found = true;
            if self.network.family_ok(&a) {
                return Ok(a);
            }
        }
        let why = if found {
            "resolves to no address of the family the scheme asks for"
        } else {
            "resolves to no address"
        };
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{}: {why}", self),
        ))
    }
}

fn invalid(addr: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("bad address {addr:?}: {why}"),
    )
}

impl FromStr for Address {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Address> {
        let (scheme, rest) = match s.find("://") {
            Some(i) => (&s[..i], &s[i + 3..]),
            None => ("tcp", s),
        };
        let network = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Network::Tcp,
            "tcp4" => Network::Tcp4,
            "tcp6" => Network::Tcp6,
            "udp" => Network::Udp,
            "udp4" => Network::Udp4,
            "udp6" => Network::Udp6,
            "unix" => Network::Unix,
            _ => {
                return Err(invalid(
                    s,
                    "unknown scheme; use tcp://, tcp4://, tcp6://, udp://, udp4://, udp6:// or unix://",
                ));
            }
        };
        let (target, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let mut reuseport = false;
        let mut proxy = None;
        for opt in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|o| !o.is_empty())
        {
            let (k, v) = opt.split_once('=').unwrap_or((opt, "true"));
            match k {
                "reuseport" => {
                    reuseport = match v.to_ascii_lowercase().as_str() {
                        "true" | "yes" | "1" | "on" => true,
                        "false" | "no" | "0" | "off" => false,
                        _ => return Err(invalid(s, "reuseport takes true or false")),
                    }
                }
                "proxy" => {
                    if network.is_udp() {
                        return Err(invalid(
                            s,
                            "the PROXY protocol is for stream listeners (tcp, unix)",
                        ));
                    }
                    proxy = Some(v.parse().map_err(|e: io::Error| invalid(s, &e.to_string()))?);
                }
                _ => {
                    return Err(invalid(
                        s,
                        &format!("unknown option {k:?}; known: reuseport, proxy"),
                    ));
                }
            }
        }
        if target.is_empty() {
            return Err(invalid(s, "no host:port or path"));
        }
        if network != Network::Unix {
            let port = target.rsplit_once(':').map(|(_, p)| p);
            match port {
                Some(p) if p.parse::<u16>().is_ok() => {}
                _ => return Err(invalid(s, "expected host:port with a port from 0 to 65535")),
            }
        }
        Ok(Address {
            network,
            target: target.to_string(),
            reuseport,
            proxy,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.network {
            Network::Tcp => "tcp",
            Network::Tcp4 => "tcp4",
            Network::Tcp6 => "tcp6",
            Network::Udp => "udp",
            Network::Udp4 => "udp4",
            Network::Udp6 => "udp6",
            Network::Unix => "unix",
        };
        write!(f, "{scheme}://{}", self.target)
    }
}

/// A concrete socket address: where a listener is bound, or one end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A UDP address.
    Udp(SocketAddr),
    /// A unix socket path; `None` for an unnamed socket (a client's end, usually).
    Unix(Option<PathBuf>),
}

impl Addr {
    /// The IP socket address, for TCP and UDP.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Addr::Tcp(a) | Addr::Udp(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// The path, for a named unix socket.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Addr::Unix(p) => p.as_deref(),
            _ => None,
        }
    }

    /// The port, for TCP and UDP.
    pub fn port(&self) -> Option<u16> {
        self.socket_addr().map(|a| a.port())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "tcp://{a}"),
            Addr::Udp(a) => write!(f, "udp://{a}"),
            Addr::Unix(Some(p)) => write!(f, "unix://{}", p.display()),
            Addr::Unix(None) => write!(f, "unix://(unnamed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_options() {
        let a: Address = "127.0.0.1:80".parse().unwrap();
        assert_eq!(a.network(), Network::Tcp);
        let a: Address = "unix:///tmp/x.sock".parse().unwrap();
        assert_eq!(a.network(), Network::Unix);
        assert_eq!(a.target(), "/tmp/x.sock");
        let a: Address = "udp6://[::1]:0?reuseport=false".parse().unwrap();
        assert_eq!(a.network(), Network::Udp6);
        assert!(!a.reuseport());
        assert!("tcp://127.0.0.1:0?bogus=1".parse::<Address>().is_err());
        assert!("tcp://127.0.0.1".parse::<Address>().is_err());
        assert!("tcp://127.0.0.1:99999".parse::<Address>().is_err());
        assert!("sctp://127.0.0.1:1".parse::<Address>().is_err());
    }

    #[test]
    fn resolve_family() {
        let a: Address = "tcp4://localhost:0".parse().unwrap();
        assert!(a.resolve().unwrap().is_ipv4());
        let a: Address = "tcp6://[::1]:0".parse().unwrap();
        assert!(a.resolve().unwrap().is_ipv6());
        let a: Address = "tcp4://[::1]:0".parse().unwrap();
        assert!(a.resolve().is_err());
        let a: Address = "tcp://:7".parse().unwrap();
        assert!(a.resolve().unwrap().ip().is_unspecified());
    }
}
