//! [`Backend`]: which backend drives the loops, and the choice made at start:
//! [`Backend::Auto`] uses epoll or kqueue (or Windows' completion ports)
//! through mio, and std::net where there is none of them; [`Backend::Uring`]
//! uses io_uring where it works (found out once per process by using it, see
//! `revio_uring::probe`) and falls back to epoll where it does not.

use std::io;

/// Which backend drives the loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// The best the platform has, by measurement: epoll on Linux, kqueue on
    /// macOS and the BSDs, mio's layer over completion ports on Windows (all
    /// [`Backend::Poll`]); [`Backend::Std`] where mio does not run. Not
    /// io_uring: measured here (Linux 6.18, one loop, `echo-load` against the
    /// echo example, per server CPU-second), io_uring serves small messages
    /// about as well as epoll (0.7x to 1.1x), 16 KiB messages worse (0.7x to
    /// 0.85x), and holds three to four times the memory per idle connection
    /// (340 to 480 bytes against 110), so it stays an explicit choice. See
    /// the crate docs' [Portability](crate#portability) section. The choice is
    /// logged once per server at `info` level.
    #[default]
    Auto,
    /// Readiness polling through mio: epoll, kqueue, or on Windows mio's
    /// layer over I/O completion ports.
    Poll,
    /// io_uring (Linux 6.0 or later): multishot accept and receive into a
    /// ring of provided buffers ([`Config::uring_buffers`](crate::Config::uring_buffers)),
    /// sends from the connection's own buffer, one `io_uring_enter` per loop
    /// turn for every connection together (about 0.03 system calls per
    /// message, against two with epoll). Where the kernel does not offer
    /// every operation revio needs, or refuses io_uring (as container seccomp
    /// profiles often do), the server runs on epoll instead and logs why,
    /// once; [`Server::backend`](crate::Server::backend) says which runs, and
    /// [`Backend::is_available`] tells beforehand.
    Uring,
    /// The std::net fallback: blocking sockets and a few threads per socket
    /// that simulate the same events (as evio does with Go's net package).
    /// Handlers still run one at a time on the loop's thread. Available on
    /// every platform; it costs two threads per connection (about 20 KiB of
    /// memory when idle) and one per listener. While idle, on Linux, only a
    /// connection's reader wakes, once every 1.6 s (so that `Action::Detach`
    /// can stop it): 2,000 idle connections use about 0.1 s of CPU per 10 s.
    /// Elsewhere readers wake every 100 ms, about 15 times as much.
    Std,
}

/// The backend a server runs on, once `Auto` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chosen {
    Poll,
    #[cfg(target_os = "linux")]
    Uring,
    Std,
}

const READINESS: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    windows
));

impl Backend {
    /// Whether this backend can run here. For [`Backend::Uring`] that means
    /// the kernel passed a functional probe (made once per process): a ring,
    /// a registered buffer ring, and a multishot receive that delivers.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Auto | Backend::Std | Backend::Poll => true,
            Backend::Uring => uring_probe(false).is_ok(),
        }
    }

    /// The backend that runs. `refuse_uring` (a test hook) makes io_uring
    /// look refused by the kernel.
    pub(crate) fn choose(self, refuse_uring: bool) -> io::Result<Chosen> {
        match self {
            Backend::Std => Ok(Chosen::Std),
            Backend::Poll => Ok(Chosen::Poll),
            Backend::Uring => Ok(match uring_probe(refuse_uring) {
                Ok(c) => {
                    log::info!("revio: backend io_uring");
                    c
                }
                Err(e) if READINESS => {
                    log::warn!("revio: io_uring is not available ({e}); running on epoll instead");
                    Chosen::Poll
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("the io_uring backend is not available here: {e}"),
                    ));
                }
            }),
            Backend::Auto if READINESS => {
                log::info!("revio: backend {}", POLLER);
                Ok(Chosen::Poll)
            }
            Backend::Auto => {
                log::info!("revio: backend std::net (mio does not run here)");
                Ok(Chosen::Std)
            }
        }
    }
}

/// What mio polls with on this platform.
const POLLER: &str = if cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos"
)) {
    "epoll"
} else if cfg!(windows) {
    "mio's completion ports"
} else {
    "kqueue"
};

/// The probe's verdict, made once per process.
#[cfg(target_os = "linux")]
fn uring_probe(refuse: bool) -> io::Result<Chosen> {
    use std::sync::OnceLock;
    static VERDICT: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
    if refuse {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "io_uring refused (test hook)",
        ));
    }
    match VERDICT.get_or_init(|| revio_uring::probe().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(()) => Ok(Chosen::Uring),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

#[cfg(not(target_os = "linux"))]
fn uring_probe(_refuse: bool) -> io::Result<Chosen> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring needs Linux"))
}

impl std::str::FromStr for Backend {
    type Err = io::Error;

    /// Parses `auto`, `poll` (epoll/kqueue), `uring` (io_uring) or `std` (as
    /// examples take them in `--backend`).
    fn from_str(s: &str) -> io::Result<Backend> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "poll" | "epoll" | "kqueue" => Ok(Backend::Poll),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "std" | "stdlib" => Ok(Backend::Std),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown backend {s:?}; use auto, poll, uring or std"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn parses_every_backend() {
        for (s, b) in [
            ("auto", Backend::Auto),
            ("poll", Backend::Poll),
            ("epoll", Backend::Poll),
            ("uring", Backend::Uring),
            ("io_uring", Backend::Uring),
            ("std", Backend::Std),
        ] {
            assert_eq!(s.parse::<Backend>().unwrap(), b);
        }
        assert!("iouring2".parse::<Backend>().is_err());
    }
}
