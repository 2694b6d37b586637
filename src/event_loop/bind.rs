//! Binding listeners before any loop starts, so that bad addresses and
//! addresses in use are reported by `serve` before anything runs.

use std::io;
#[cfg(unix)]
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::addr::{Addr, Address, Network};
use crate::driver::Bound;

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

/// A unix socket file this server created: removed when its listener closes,
/// but only if it is still the same file (a server started since, on the same
/// path, keeps its own).
#[derive(Debug, Clone)]
pub(crate) struct UnixFile {
    #[cfg(unix)]
    path: PathBuf,
    #[cfg(unix)]
    id: (u64, u64),
}

impl UnixFile {
    /// Removes the file if it is still the socket this server bound.
    pub(crate) fn remove(self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            if std::fs::symlink_metadata(&self.path)
                .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.id)
            {
                let _ = std::fs::remove_file(&self.path);
            }
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
        #[cfg(unix)]
        {
            let path = PathBuf::from(a.target());
            clear_stale_socket(&path).map_err(with_ctx)?;
            let listener = std::os::unix::net::UnixListener::bind(&path).map_err(with_ctx)?;
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::symlink_metadata(&path).map_err(with_ctx)?;
            l.unix_files.push(UnixFile {
                path: path.clone(),
                id: (meta.dev(), meta.ino()),
            });
            l.addrs.push(Addr::Unix(Some(path)));
            l.sockets[0].push((index, Bound::Unix(listener)));
            return Ok(());
        }
        #[cfg(not(unix))]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{a}: unix sockets need a unix system"),
        ));
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
            #[cfg(unix)]
            s.set_reuse_address(true).map_err(with_ctx)?;
        }
        if reuseport {
            #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
            s.set_reuse_port(true).map_err(with_ctx)?;
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

/// Removes a leftover unix socket file, but only if it is a socket and nothing
/// listens on it; anything else at the path is an error (evio deletes whatever
/// is there, directories included).
#[cfg(unix)]
fn clear_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; remove it or choose another path",
                path.display()
            ),
        ));
    }
    // A non-blocking connect: a live server with a full backlog answers
    // EAGAIN instead of making `serve` wait.
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused || e.kind() == io::ErrorKind::NotFound => {
            std::fs::remove_file(path)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use: a server is listening on it", path.display()),
        )),
    }
}
