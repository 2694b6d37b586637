//! Binding listeners before any loop starts, so that bad addresses and
//! addresses in use are reported by `serve` before anything runs.

use std::io;
use std::path::PathBuf;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::addr::{Addr, Address, Network};
use crate::driver::Bound;
use crate::sys::{self, UnixFile};

/// A bound address: one socket per loop (SO_REUSEPORT) or one shared socket.
pub(crate) struct Listeners {
    /// The concrete address of each requested address.
    pub(crate) addrs: Vec<Addr>,
    /// Per loop: (address index, socket). Loop 0 has every address; the
    /// others only the addresses bound once per loop.
    pub(crate) sockets: Vec<Vec<(usize, Bound)>>,
    /// Per address: whether it is one shared socket (on loop 0) whose
    /// connections a policy spreads, rather than one socket per loop.
    pub(crate) balanced: Vec<bool>,
    /// Unix socket files this server created (loop 0 owns every unix listener).
    pub(crate) unix_files: Vec<UnixFile>,
}

impl Listeners {
    /// Removes the unix socket files this server created (those still there).
    pub(crate) fn cleanup(&self) {
        for f in &self.unix_files {
            f.clone().remove();
        }
    }
}

/// Binds every address. With `per_loop` (and several loops), TCP and UDP
/// addresses get one SO_REUSEPORT socket per loop, so the kernel spreads
/// connections; otherwise, and always for unix sockets, one socket on loop 0.
pub(crate) fn bind_all(
    addresses: &[Address],
    loops: usize,
    per_loop: bool,
    backlog: i32,
) -> io::Result<Listeners> {
    let mut l = Listeners {
        addrs: Vec::with_capacity(addresses.len()),
        sockets: (0..loops).map(|_| Vec::new()).collect(),
        balanced: Vec::with_capacity(addresses.len()),
        unix_files: Vec::new(),
    };
    let result = (|| {
        for (i, a) in addresses.iter().enumerate() {
            let spread = per_loop && loops > 1 && a.network() != Network::Unix;
            l.balanced.push(loops > 1 && !spread);
            bind_one(i, a, if spread { loops } else { 1 }, backlog, &mut l)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(l),
        Err(e) => {
            l.cleanup();
            Err(e)
        }
    }
}

fn bind_one(index: usize, a: &Address, loops: usize, backlog: i32, l: &mut Listeners) -> io::Result<()> {
    let with_ctx = |e: io::Error| io::Error::new(e.kind(), format!("cannot bind {a}: {e}"));
    if a.network() == Network::Unix {
        let path = PathBuf::from(a.target());
        let (listener, file) = sys::bind_unix(&path).map_err(with_ctx)?;
        l.unix_files.push(file);
        l.addrs.push(Addr::Unix(Some(path)));
        l.sockets[0].push((index, Bound::Unix(listener)));
        return Ok(());
    }
    let mut addr = a.resolve()?;
    let udp = a.network().is_udp();
    // Several loops each get their own socket on the same port.
    let reuseport = a.reuseport() || loops > 1;
    for i in 0..loops {
        let domain = Domain::for_address(addr);
        let (ty, proto) = if udp {
            (Type::DGRAM, Protocol::UDP)
        } else {
            (Type::STREAM, Protocol::TCP)
        };
        let s = Socket::new(domain, ty, Some(proto)).map_err(with_ctx)?;
        if !udp {
            sys::reuse_address(&s).map_err(with_ctx)?;
        }
        if reuseport {
            sys::reuse_port(&s).map_err(with_ctx)?;
        }
        if addr.is_ipv6() {
            s.set_only_v6(true).map_err(with_ctx)?;
        }
        s.bind(&SockAddr::from(addr)).map_err(with_ctx)?;
        if i == 0 {
            // Port 0: the other loops bind the port the system chose.
            let local = s.local_addr()?.as_socket().unwrap_or(addr);
            addr = local;
            l.addrs
                .push(if udp { Addr::Udp(local) } else { Addr::Tcp(local) });
        }
        if udp {
            l.sockets[i].push((index, Bound::Udp(s.into())));
        } else {
            s.listen(backlog).map_err(with_ctx)?;
            l.sockets[i].push((index, Bound::Tcp(s.into())));
        }
    }
    Ok(())
}
