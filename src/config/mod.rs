//! [`Config`]: everything beyond the defaults, and the start-up that binds the
//! addresses, builds one backend and loop per thread, and joins them.

mod start;
mod udp;

use std::io;
use std::time::Duration;

pub use crate::backend::Backend;
#[cfg(target_os = "linux")]
use crate::driver::uring::Sizes;
use crate::event_loop::Limits;
use crate::events::Handler;
use start::{Many, One};

/// How connections are spread over several loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Balance {
    /// Each loop gets its own SO_REUSEPORT listener per TCP and UDP address
    /// and the kernel spreads connections (Linux); unix sockets, which cannot
    /// share a port, use round-robin. The default.
    #[default]
    ReusePort,
    /// One listener on loop 0; each accepted connection goes to the next loop in turn.
    RoundRobin,
    /// One listener on loop 0; each accepted connection goes to the loop with
    /// the fewest live connections.
    LeastConnections,
    /// One listener on loop 0; each accepted connection goes to a random loop.
    Random,
    /// One listener on loop 0; connections from one source IP address always
    /// go to the same loop (gnet's source-address hashing).
    SourceAddrHash,
}

impl std::str::FromStr for Balance {
    type Err = io::Error;

    /// Parses `reuseport`, `round-robin`, `least-connections`, `random` or
    /// `source-addr-hash` (as examples take them in `--balance`).
    fn from_str(s: &str) -> io::Result<Balance> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "reuseport" | "reuse-port" => Ok(Balance::ReusePort),
            "round-robin" | "roundrobin" => Ok(Balance::RoundRobin),
            "least-connections" | "leastconnections" => Ok(Balance::LeastConnections),
            "random" => Ok(Balance::Random),
            "source-addr-hash" | "sourceaddrhash" | "hash" => Ok(Balance::SourceAddrHash),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unknown balance {s:?}; use reuseport, round-robin, least-connections, random or source-addr-hash"
                ),
            )),
        }
    }
}

/// Options for a server, with [`Config::serve`] or [`Config::serve_with`] to run it.
///
/// # What is bounded, and by what default
/// Every byte a loop holds for a connection is bounded where it grows:
///
/// | what | bound | default | past it |
/// |---|---|---|---|
/// | unconsumed input ([`Conn::keep`](crate::Conn::keep)) | [`Config::max_input`] | 64 MiB | closed: [`Error::InputLimit`](crate::Error::InputLimit) |
/// | queued output of one connection | [`Config::max_output`] | 64 MiB | the write is dropped and the connection closed: [`Error::OutputLimit`](crate::Error::OutputLimit) |
/// | queued output of the loop, all connections | [`Config::loop_output_budget`] | 256 MiB | the largest holders are closed: [`Error::LoopOutputBudget`](crate::Error::LoopOutputBudget) |
/// | output before reading pauses | [`Config::high_water`] | 4 MiB | reading pauses; [`Conn::is_congested`](crate::Conn::is_congested) is true |
/// | receive buffers ahead of the loop (io_uring) | [`Config::uring_buffers`] of [`Config::uring_buffer_size`] per loop, an eighth of them (at least 4) per connection | 16 of 64 KiB | receiving waits, in the kernel, until some come back |
/// | UDP remotes per listener | [`Config::max_udp_remotes`] | 16,384 | the least recently active is closed: [`Error::UdpRemoteEvicted`](crate::Error::UdpRemoteEvicted) |
/// | one UDP reply | 65,507 bytes (one datagram) | | the remote is closed: [`Error::OutputLimit`](crate::Error::OutputLimit) |
/// | requests from other threads | one pending mark per connection | | wakes coalesce |
///
/// The loop's queued output never exceeds its budget by more than what one
/// handler call wrote (itself at most `max_output`): the check runs right
/// after each call. A connection closed for a limit is closed without
/// flushing, and its peer gets a reset (never a clean end-of-stream after
/// cut output).
///
/// Time: no idle timeout by default ([`Config::idle_timeout`], evio's
/// behaviour); a graceful shutdown waits at most [`Config::shutdown_timeout`]
/// (10 s).
///
/// ```no_run
/// use std::time::Duration;
/// use revio::{Action, Config, Conn, Handler};
///
/// #[derive(Clone)]
/// struct Echo;
/// impl Handler for Echo {
///     type State = ();
///     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
///         c.write(input);
///         Action::None
///     }
/// }
///
/// // Four loops, one handler per loop, each with its own SO_REUSEPORT listener.
/// Config::new()
///     .loops(4)
///     .max_input(1 << 20)
///     .idle_timeout(Some(Duration::from_secs(60)))
///     .serve_with(|_loop_index| Echo, ["tcp://127.0.0.1:5000"])
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    loops: usize,
    backend: Backend,
    read_buffer: usize,
    max_input: usize,
    high_water: usize,
    max_output: usize,
    loop_output_budget: usize,
    idle_timeout: Option<Duration>,
    shutdown_timeout: Duration,
    max_udp_remotes: usize,
    nodelay: bool,
    proxy_header_timeout: Duration,
    backlog: i32,
    balance: Balance,
    first_generation: u32,
    fault_at_send: Option<u64>,
    uring_buffers: u16,
    uring_buffer_size: u32,
    refuse_uring: bool,
    udp_gro: bool,
    udp_batch: bool,
    udp_gso: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            loops: 1,
            backend: Backend::Auto,
            read_buffer: 64 * 1024,
            max_input: 64 * 1024 * 1024,
            high_water: 4 * 1024 * 1024,
            max_output: 64 * 1024 * 1024,
            loop_output_budget: 256 * 1024 * 1024,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(10),
            max_udp_remotes: 16 * 1024,
            nodelay: true,
            proxy_header_timeout: Duration::from_secs(5),
            backlog: 1024,
            balance: Balance::default(),
            first_generation: 1,
            fault_at_send: None,
            uring_buffers: 16,
            uring_buffer_size: 64 * 1024,
            refuse_uring: false,
            udp_gro: false,
            udp_batch: true,
            udp_gso: true,
        }
    }
}

/// The largest UDP payload (over IPv4): one reply may not be longer.
const MAX_DATAGRAM: usize = 65_507;

impl Config {
    /// The defaults: one loop, the platform's backend, a 64 KiB read buffer,
    /// and the bounds in the table above; TCP_NODELAY on; a listen backlog
    /// of 1024.
    pub fn new() -> Config {
        Config::default()
    }

    /// The number of loops (threads); 0 means one per available core.
    ///
    /// Each loop has its own handler (see [`Config::serve_with`]), which gets
    /// its own `serving` call and its own ticks. A connection stays on the
    /// loop that accepted or dialed it; [`ConnId::loop_index`](crate::ConnId::loop_index)
    /// names it, and the [`Server`](crate::Server) routes wakes there.
    pub fn loops(mut self, n: usize) -> Config {
        self.loops = n;
        self
    }

    /// The backend (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> Config {
        self.backend = backend;
        self
    }

    /// Size of each loop's read buffer: the most one `data` call sees fresh
    /// from one read, and the largest UDP datagram received whole (longer
    /// ones are truncated, and on Windows dropped; the default, 64 KiB, fits
    /// any datagram).
    pub fn read_buffer(mut self, bytes: usize) -> Config {
        self.read_buffer = bytes.max(1);
        self
    }

    /// The most unconsumed input a connection may hold (see
    /// [`Conn::keep`](crate::Conn::keep)); past it the connection is closed
    /// with an [`Error::InputLimit`](crate::Error::InputLimit) (kind `InvalidData`).
    /// Default 64 MiB.
    pub fn max_input(mut self, bytes: usize) -> Config {
        self.max_input = bytes;
        self
    }

    /// Queued output above which a connection's input is no longer read, and
    /// [`Conn::is_congested`](crate::Conn::is_congested) is true, until half
    /// of it is sent: a slow reader cannot make output grow without bound.
    /// Default 4 MiB.
    pub fn high_water(mut self, bytes: usize) -> Config {
        self.high_water = bytes;
        self
    }

    /// The most output one connection may have queued (written, not yet
    /// taken by the socket), as Redis's `client-output-buffer-limit`. A
    /// write that would go past it is dropped, and the connection is closed
    /// without flushing when the handler returns: `closed` gets an
    /// [`Error::OutputLimit`](crate::Error::OutputLimit). Default 64 MiB.
    pub fn max_output(mut self, bytes: usize) -> Config {
        self.max_output = bytes;
        self
    }

    /// The most output a loop may hold queued for all its connections
    /// together, as Redis's `maxmemory-clients`. Past it, right after the
    /// handler call that crossed it, the connections holding the most are
    /// closed without flushing until the loop holds at most seven eighths of
    /// it; each gets an [`Error::LoopOutputBudget`](crate::Error::LoopOutputBudget).
    /// Default 256 MiB per loop.
    pub fn loop_output_budget(mut self, bytes: usize) -> Config {
        self.loop_output_budget = bytes;
        self
    }

    /// Closes a connection (and forgets a UDP remote) when no byte has been
    /// read or written for this long; `closed` gets an
    /// [`Error::IdleTimeout`](crate::Error::IdleTimeout) (kind `TimedOut`).
    /// Default `None`: connections may idle forever, as in evio. Kept to the
    /// millisecond; at most 24 days.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.idle_timeout = timeout.map(|d| d.min(Duration::from_millis((1 << 31) - 1)));
        self
    }

    /// How long a graceful shutdown ([`Action::Shutdown`](crate::Action::Shutdown),
    /// [`Server::shutdown`](crate::Server::shutdown)) waits for connections to
    /// finish and their output to be sent; what is left then is reset, with
    /// an [`Error::ShutdownTimeout`](crate::Error::ShutdownTimeout) in
    /// `closed`. Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Config {
        self.shutdown_timeout = timeout;
        self
    }

    /// The most UDP remotes (source addresses) one UDP listener keeps; a
    /// datagram from a new one past it closes the least recently active
    /// (its `closed` gets an [`Error::UdpRemoteEvicted`](crate::Error::UdpRemoteEvicted)).
    /// Default 16,384.
    pub fn max_udp_remotes(mut self, n: usize) -> Config {
        self.max_udp_remotes = n.max(1);
        self
    }

    /// Whether accepted and dialed TCP connections get TCP_NODELAY (Nagle's
    /// algorithm off), as Go's net package does. Default `true`: replies go
    /// out at once instead of waiting for the peer's acknowledgement. A
    /// handler can still change it per connection with
    /// [`Conn::set_nodelay`](crate::Conn::set_nodelay).
    pub fn nodelay(mut self, on: bool) -> Config {
        self.nodelay = on;
        self
    }

    /// How long a connection accepted on a PROXY protocol listener
    /// (`?proxy=v1|v2|any`, see [`Address`](crate::Address)) has to send its
    /// header; one that is slower is closed without the handler hearing of
    /// it. Default 5 s.
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> Config {
        self.proxy_header_timeout = timeout;
        self
    }

    /// Test hook, not for applications: connection ids start at this
    /// generation (to reach the wrap of generations in a test).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __first_generation(mut self, g: u32) -> Config {
        self.first_generation = g;
        self
    }

    /// Test hook, not for applications: the loop panics inside itself (not
    /// in a handler) at its `n`th send.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __panic_at_send(mut self, n: u64) -> Config {
        self.fault_at_send = Some(n);
        self
    }

    /// With the io_uring backend: the number of receive buffers in each
    /// loop's provided buffer ring (rounded up to a power of two, at most
    /// 32,768; default 16). Every connection's multishot receive takes its
    /// chunks from this ring; a chunk goes back as soon as the loop has
    /// handed it to `data`, and one connection holds at most an eighth of the
    /// ring (at least 4 buffers). When it runs dry, receiving pauses (the bytes wait in the
    /// kernel) until buffers come back: nothing is lost. The ring costs
    /// `uring_buffers * uring_buffer_size` bytes per loop (1 MiB by default);
    /// a larger one keeps more connections receiving at once, but the kernel
    /// takes its buffers in turn, so past the CPU's cache every chunk is
    /// read from memory (measured: 4 MiB echoed 16 KiB messages at two
    /// thirds of the rate 1 MiB did). Few large buffers beat many small ones
    /// (measured per server CPU-second, 1 MiB either way: 16 of 64 KiB
    /// echoed 1 KiB messages 16 deep at 1.8x-1.9x the rate of 256 of 4 KiB,
    /// and 16 KiB messages one at a time at 1.7x), since each chunk is one
    /// `data` call and one send.
    pub fn uring_buffers(mut self, count: usize) -> Config {
        self.uring_buffers = count.clamp(1, 1 << 15).next_power_of_two() as u16;
        self
    }

    /// With the io_uring backend: the size of each receive buffer (default
    /// 64 KiB, as [`Config::read_buffer`]): the most one `data` call sees fresh from one chunk (and never
    /// more than [`Config::read_buffer`]).
    pub fn uring_buffer_size(mut self, bytes: usize) -> Config {
        self.uring_buffer_size = bytes.clamp(64, 1 << 20) as u32;
        self
    }

    /// Test hook, not for applications: io_uring looks refused by the kernel
    /// (as under a seccomp profile that blocks it): [`Backend::Uring`] falls
    /// back to epoll.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __refuse_uring(mut self) -> Config {
        self.refuse_uring = true;
        self
    }

    #[cfg(target_os = "linux")]
    fn uring_sizes(&self) -> Sizes {
        Sizes {
            buffers: self.uring_buffers,
            buffer_size: self.uring_buffer_size,
            datagram: self.read_buffer.min(MAX_DATAGRAM),
        }
    }

    /// How connections are spread over several loops (default
    /// [`Balance::ReusePort`]). Ignored with one loop.
    pub fn balance(mut self, balance: Balance) -> Config {
        self.balance = balance;
        self
    }

    /// The listen backlog of stream listeners.
    pub fn backlog(mut self, n: i32) -> Config {
        self.backlog = n;
        self
    }

    fn loop_count(&self) -> usize {
        match self.loops {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.min(255),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            read_buffer: self.read_buffer,
            max_input: self.max_input,
            high_water: self.high_water,
            max_output: self.max_output,
            max_datagram: self.max_output.min(MAX_DATAGRAM),
            loop_output_budget: self.loop_output_budget,
            idle_timeout: self.idle_timeout,
            shutdown_timeout: self.shutdown_timeout,
            max_udp_remotes: self.max_udp_remotes,
            nodelay: self.nodelay,
            proxy_header_timeout: self.proxy_header_timeout,
            fault_at_send: self.fault_at_send,
        }
    }

    /// Serves `addrs` with one handler on one loop, on the calling thread,
    /// until shutdown. With more than one loop configured, use
    /// [`Config::serve_with`], which makes one handler per loop.
    pub fn serve<H, I, A>(self, handler: H, addrs: I) -> io::Result<()>
    where
        H: Handler,
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        if self.loop_count() != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Config::serve runs one handler on one loop; with loops(n) use serve_with(|loop_index| handler, addrs)",
            ));
        }
        self.start(addrs, One(handler))
    }

    /// Serves `addrs` on the configured number of loops, calling `factory`
    /// once per loop (with the loop's index) on that loop's own thread, so the
    /// handler needs neither `Send` nor locks. Loop 0 runs on the calling
    /// thread. Returns when every loop has stopped and its thread is joined.
    pub fn serve_with<H, F, I, A>(self, factory: F, addrs: I) -> io::Result<()>
    where
        H: Handler,
        F: Fn(usize) -> H + Sync,
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        self.start(addrs, Many(&factory))
    }
}
