//! [`Backend`]: which backend drives the loops, and the choice made at start:
//! [`Backend::Auto`] uses io_uring on Linux where it works (found out once per
//! process by using it, see `revio_uring::probe`), epoll or kqueue elsewhere,
//! and std::net where there is neither.

use std::io;

/// Which backend drives the loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// The best the platform has: io_uring on Linux where the kernel offers
    /// every operation revio needs (and does not refuse io_uring, as
    /// container seccomp profiles often do), else epoll; kqueue on macOS and
    /// the BSDs; [`Backend::Std`] where there is neither (Windows included).
    /// The choice is logged once per server at `info` level.
    #[default]
    Auto,
    /// Readiness polling through mio (epoll or kqueue).
    Poll,
    /// io_uring (Linux 6.0 or later): multishot accept and receive into a
    /// ring of provided buffers ([`Config::uring_buffers`](crate::Config::uring_buffers)),
    /// sends from the connection's own buffer, one `io_uring_enter` per loop
    /// turn for every connection together. `serve` fails with an
    /// `Unsupported` error where it is not available.
    Uring,
    /// The std::net fallback: blocking sockets and a few threads per socket
    /// that simulate the same events (as evio does with Go's net package).
    /// Handlers still run one at a time on the loop's thread. Available on
    /// every platform; it costs two threads per connection.
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
    target_os = "dragonfly"
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
            Backend::Uring => match uring_probe(refuse_uring) {
                Ok(c) => Ok(c),
                Err(e) => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the io_uring backend is not available here: {e}"),
                )),
            },
            Backend::Auto => Ok(match uring_probe(refuse_uring) {
                Ok(c) => {
                    log::info!("revio: backend io_uring");
                    c
                }
                Err(e) if READINESS => {
                    if cfg!(target_os = "linux") {
                        log::info!("revio: backend epoll (io_uring not available: {e})");
                    } else {
                        log::info!("revio: backend kqueue");
                    }
                    Chosen::Poll
                }
                Err(_) => {
                    log::info!("revio: backend std::net (no epoll, kqueue or io_uring)");
                    Chosen::Std
                }
            }),
        }
    }
}

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
