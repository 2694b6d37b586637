//! # revio
//!
//! Fast event-loop networking: revio drives epoll (Linux) or kqueue (macOS,
//! BSDs) from one thread per loop and calls your handler for each event, in the
//! spirit of Go's [evio](https://github.com/tidwall/evio). It is for
//! specialised servers whose handlers take microseconds (key-value stores,
//! proxies, protocol gateways), not a general async runtime.
//!
//! Implement [`Handler`] (every event has a default that does nothing) and
//! call [`serve`] with one or more addresses. The echo server of evio's
//! README, which here also talks to itself once and shuts down:
//!
//! ```
//! use std::io::{Read, Write};
//! use revio::{Action, Conn, Handler, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type State = ();
//!
//!     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
//!         conn.write(input);
//!         Action::None
//!     }
//!
//!     // Only for this example: a client on another thread, then shutdown.
//!     fn serving(&mut self, server: &Server) -> Action {
//!         let addr = server.addrs()[0].socket_addr().unwrap();
//!         let server = server.clone();
//!         std::thread::spawn(move || {
//!             let mut c = std::net::TcpStream::connect(addr).unwrap();
//!             c.write_all(b"hello").unwrap();
//!             let mut reply = [0; 5];
//!             c.read_exact(&mut reply).unwrap();
//!             assert_eq!(&reply, b"hello");
//!             server.shutdown();
//!         });
//!         Action::None
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     revio::serve(Echo, ["tcp://127.0.0.1:0"])
//! }
//! ```
//!
//! # A guide
//!
//! ## The events, in order
//! A handler implements [`Handler`]; every method has a default, so it writes
//! only what it uses. For one loop:
//!
//! 1. [`serving`](Handler::serving) once, when every address is bound. Keep
//!    the [`Server`] handle it gets: it wakes connections, dials, shuts down.
//! 2. Per connection: [`opened`](Handler::opened) (accepted, or a dial
//!    connected), then any number of [`data`](Handler::data) (bytes arrived),
//!    [`woken`](Handler::woken) ([`Server::wake`] was called) and, around each
//!    write to the socket, [`prewrite`](Handler::prewrite) and
//!    [`postwrite`](Handler::postwrite); [`eof`](Handler::eof) when the peer
//!    ends its stream; and exactly one [`closed`](Handler::closed) at the end
//!    (or [`detached`](Handler::detached), after [`Action::Detach`]).
//! 3. [`tick`](Handler::tick) right after `serving`, then whenever the delay
//!    it returns has passed.
//! 4. At shutdown, [`stopping`](Handler::stopping) for each open connection,
//!    then its `closed`.
//!
//! Each method returns an [`Action`]: go on, close this connection (after its
//! output is sent), detach it, or shut the server down. A panic in a handler
//! closes that connection (or, in `serving`, `tick`, `closed` and `detached`,
//! stops the server cleanly); see [`Handler`].
//!
//! ## Input and output
//! `data` borrows the bytes where they were received. What the handler does
//! not consume ([`Conn::keep`]) is presented again with the next bytes, so a
//! parser needs no buffer of its own. Output goes into the connection's
//! queue, [`Conn::output`] (append only), and is sent after the handler
//! returns, in one write. Every buffer is bounded where it grows (the table is
//! on [`Config`]): a write past [`Config::max_output`] closes that connection,
//! never the server. A handler answering pipelined requests stops when
//! [`Conn::is_congested`] says the peer is not keeping up; the loop calls it
//! again with what it kept once the output drains.
//!
//! [`Conn::parts`] borrows the state and the output at once, to format a
//! reply from the state straight into the queue. [`Action::Abort`] (or
//! [`Conn::abort`], [`Server::abort`]) ends a connection at once on a
//! protocol violation: its queued output is dropped and the peer reset.
//!
//! ### What kept input costs
//! Bytes a handler consumes are never copied: it reads them where they were
//! received. Kept bytes ([`Conn::keep`]) are copied once into the
//! connection's own input buffer (taken from the loop's pool), and each
//! later read is appended there, so a request that arrives in pieces is
//! copied once, byte by byte, and each `data` call sees it from its start.
//! [`Config::max_input`] bounds that buffer; [`Config::high_water`] and
//! [`Config::max_output`] bound the output side.
//!
//! ### Large values
//! A value whose length a header announces (a memcached `set`, a RESP bulk
//! string, an HTTP body) should not be parsed again at every read. The
//! handler keeps the header and asks for the whole value with
//! [`Conn::want`]: `data` is not called again until that many bytes are
//! there (or the stream ends), and the loop reads no further meanwhile, so
//! what it holds stays within the value's size.
//!
//! ### Unbounded replies under backpressure
//! A reply with no bound (a multi-get of many keys, a range scan) must not
//! be written whole into the queue: write part of it, and when
//! [`Conn::is_congested`] turns true, keep the request ([`Conn::keep`]) and
//! remember in the connection's state where the reply stopped. The loop
//! calls `data` again with the kept request once the output drains, and the
//! handler resumes from there. Memory stays near [`Config::high_water`]
//! whatever the client asks for.
//!
//! ```
//! use std::io::Write;
//! use revio::{Action, Conn, Handler};
//!
//! /// `count N\n` answers the numbers 0..N, one per line, however large N is.
//! struct Counting;
//!
//! impl Handler for Counting {
//!     type State = u64; // the next number to send, for a request cut short
//!     fn data(&mut self, conn: &mut Conn<'_, u64>, input: &[u8]) -> Action {
//!         let Some(nl) = input.iter().position(|&b| b == b'\n') else {
//!             conn.keep(input.len());
//!             return Action::None;
//!         };
//!         let n: u64 = std::str::from_utf8(&input[6.min(nl)..nl])
//!             .ok()
//!             .and_then(|s| s.trim().parse().ok())
//!             .unwrap_or(0);
//!         while *conn.state() < n {
//!             let next = *conn.state();
//!             let _ = writeln!(conn.output(), "{next}");
//!             *conn.state() += 1;
//!             if conn.is_congested() {
//!                 conn.keep(input.len()); // called again with it once drained
//!                 return Action::None;
//!             }
//!         }
//!         *conn.state() = 0;
//!         conn.keep(input.len() - nl - 1);
//!         Action::None
//!     }
//! }
//! ```
//!
//! ### A cache reply from a shared buffer
//! A value stored once and sent to many clients (a cached page, a large
//! value of a key-value store) need not be copied into each connection's
//! queue. Keep it as a [`Bytes`] (a reference-counted buffer, the `bytes`
//! feature, on by default) and queue it with [`Conn::write_shared`]: the
//! queue holds a reference, in order with the bytes written around it, and
//! the backend sends from the value itself (a vectored write on epoll and
//! kqueue, a send from the buffer on io_uring). The reference is dropped
//! once the kernel has the bytes, so replacing the value in the cache
//! meanwhile is safe: the old one lives until its last reply is sent. It
//! counts in [`Conn::queued`] and the limits like copied bytes. Values under
//! [`Output::COPY_BELOW`] (4 KiB) are copied, as is output to a UDP remote,
//! through a [`Translate`] layer (TLS) and on the std backend.
//!
//! ```
//! # #[cfg(feature = "bytes")] mod cache {
//! use std::collections::HashMap;
//! use revio::{Action, Bytes, Conn, Handler};
//!
//! /// `get KEY\n` answers the stored value, or `-` when there is none.
//! struct Cache(HashMap<Vec<u8>, Bytes>);
//!
//! impl Handler for Cache {
//!     type State = ();
//!     fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
//!         let mut rest = input;
//!         while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
//!             let key = rest[..nl].strip_prefix(b"get ").unwrap_or_default();
//!             match self.0.get(key) {
//!                 Some(value) => {
//!                     conn.write(format!("{}\n", value.len()).as_bytes());
//!                     conn.write_shared(value.clone()); // a reference count, no copy
//!                 }
//!                 None => conn.write(b"-\n"),
//!             }
//!             rest = &rest[nl + 1..];
//!         }
//!         conn.keep(rest.len());
//!         Action::None
//!     }
//! }
//! # }
//! ```
//!
//! ## Writing to another connection
//! A handler writes only to the connection of its event. To send to another
//! one, park the bytes where that connection's handler finds them, and wake
//! it; its `woken` writes them. [`Server::wake`] works from any thread and any
//! loop, and many wakes make one `woken`.
//!
//! ```
//! use std::collections::HashMap;
//! use revio::{Action, Conn, ConnId, Handler};
//!
//! /// Sends every line to the previous client too.
//! #[derive(Default)]
//! struct Relay {
//!     last: Option<ConnId>,
//!     parked: HashMap<ConnId, Vec<u8>>,
//! }
//!
//! impl Handler for Relay {
//!     type State = ();
//!     fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
//!         self.last = Some(c.id());
//!         Action::None
//!     }
//!     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
//!         if let Some(other) = self.last.filter(|&o| o != c.id()) {
//!             self.parked.entry(other).or_default().extend_from_slice(input);
//!             c.server().wake(other);
//!         }
//!         Action::None
//!     }
//!     fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
//!         if let Some(bytes) = self.parked.get_mut(&c.id()) {
//!             c.write(bytes);
//!             bytes.clear();
//!         }
//!         Action::None
//!     }
//!     fn closed(&mut self, c: &mut Conn<'_, ()>, _: Option<std::io::Error>) {
//!         self.parked.remove(&c.id());
//!     }
//! }
//! ```
//!
//! ## Several loops, and state they share
//! [`Config::loops`] runs several loops, one thread each;
//! [`Config::serve_with`] makes one handler per loop, on that loop's thread,
//! so a handler needs no locks for its own state. A connection stays on one
//! loop. What every loop must see (a chat room, a key-value store) is shared
//! explicitly, behind an `Arc` and a lock held for microseconds; wakes reach
//! connections on any loop. `examples/chat.rs` is the whole pattern, and its
//! test runs it on 1, 2 and 4 loops.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use revio::{Action, Config, Conn, Handler};
//!
//! #[derive(Clone, Default)]
//! struct Counter {
//!     total: Arc<Mutex<u64>>, // shared by every loop
//! }
//!
//! impl Handler for Counter {
//!     type State = ();
//!     fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
//!         let n = {
//!             let mut total = self.total.lock().unwrap();
//!             *total += input.len() as u64;
//!             *total
//!         };
//!         c.write(format!("{n}\n").as_bytes());
//!         Action::None
//!     }
//! }
//!
//! let counter = Counter::default();
//! Config::new()
//!     .loops(4)
//!     .serve_with(|_loop_index| counter.clone(), ["tcp://127.0.0.1:5000"])
//!     .unwrap();
//! ```
//!
//! ## Time
//! A timer wheel per loop keeps [`Config::idle_timeout`] (off by default),
//! per-connection deadlines ([`Conn::set_deadline`], for protocol timeouts
//! such as "the request head within 10 s"), dial timeouts and the ticker. A
//! connection closed by one of them gets an [`Error`] saying which in
//! `closed`. Handlers read the time from the loop's [`Clock`]
//! ([`Conn::clock`], [`Tick::clock`]): read once per turn, it costs nothing
//! per request.
//!
//! ### A periodic job
//! [`Handler::tick`] runs on every loop, with the server handle and the
//! loop's index ([`Tick`]). A job that must run once per server (an expiry
//! sweep of shared state, a stats line) runs where [`Tick::loop_index`] is
//! 0 and returns `None` on the others; see [`Tick`] for the code.
//!
//! ## Endings
//! When the peer ends its stream, [`Handler::eof`] decides: by default the
//! connection closes once its output is sent; a proxy keeps it open and
//! passes the end on with [`Conn::close_write`]. [`Server::shutdown`] (or
//! [`Action::Shutdown`]) stops accepting at once, calls `stopping`, sends what
//! is queued up to [`Config::shutdown_timeout`], and resets what it could not
//! send, so no peer takes a cut reply for a whole one. The examples stop this
//! way on Ctrl-C (`examples/common/mod.rs`).
//!
//! ## Dialing and detaching
//! [`Server::dial`] connects out from the loop (name resolution off the loop,
//! a non-blocking connect, a timeout); the connection is then served like an
//! accepted one (`examples/proxy/`). [`Action::Detach`] hands a connection
//! over to blocking I/O as a std stream ([`Detached`]), with the bytes the
//! loop had read first.
//!
//! ## TLS, and other stream transforms
//! [`Translate`] wraps a handler so that chosen connections pass through a
//! [`Translator`]; the wrapped handler sees plaintext. With the `tls`
//! feature, `Tls` makes rustls translators, with a handshake timeout and
//! limit, ALPN, and the session (SNI, ALPN, peer certificates) reachable from
//! the wrapped handler through [`Conn::translator`]. `examples/http-server/main.rs`
//! serves HTTP and HTTPS side by side. Dialed connections speak TLS as
//! clients: `TlsClient` verifies the server against the roots given, for the
//! dial address's host, with ALPN and session resumption
//! (`Server::dial_tls`); any translator can start a dial
//! ([`Server::dial_translated`]).
//!
//! ## Behind a load balancer
//! A listener address with `?proxy=v2` (or `v1`, `any`) reads the
//! [PROXY protocol](proxy_protocol) header a balancer such as HAProxy sends
//! (`send-proxy-v2`); [`Conn::remote_addr`] is then the client's own address.
//!
//! ## Backends
//! [`Backend::Auto`] picks epoll on Linux, kqueue on macOS and the BSDs and
//! I/O completion ports on Windows (all through mio), and the std::net
//! fallback ([`Backend::Std`]: threads that simulate the same events) where
//! mio does not run. On Linux, [`Backend::Uring`] drives io_uring instead
//! (multishot receive into a ring of provided buffers, one system call per
//! loop turn), falling back to epoll where the kernel refuses it; it is not
//! the default, because it measured no faster than epoll here and holds more
//! memory per idle connection (see [`Backend::Auto`]). The same handler runs
//! unchanged on each; the test suite runs every behaviour test on every
//! backend (see [Portability](#portability)).
//!
//! ## Feature flags
//! * `bytes` (default): output from shared buffers, [`Output::write_shared`]
//!   with [`Bytes`] (the `bytes` crate, no other dependency). Without it
//!   (`default-features = false`) output is always copied.
//! * `tls`: TLS through rustls (`Tls`, `TlsClient`, `TlsTranslator`).
//! * `test-hooks`: hidden hooks for revio's own test suite (fault injection);
//!   not for applications.
//!
//! ## The examples
//! | example | shows |
//! |---|---|
//! | `echo-server` | the smallest server; TCP, UDP and unix sockets; several loops and balancing |
//! | `chat` | writing to other connections; state shared by several loops; bounded backlogs |
//! | `proxy` | dialing out, backpressure between two sides, half-close, sending a PROXY header |
//! | `http-server` | a protocol parser over kept input, pipelining, TLS, header and idle timeouts |
//! | `redis-server` | a Redis-compatible store: RESP2/3, transactions across loops, congestion |
//!
//! Each takes `--help`, and stops gracefully on Ctrl-C.
//!
//! ## Addresses
//! Addresses take the forms `tcp://host:port` (or plain `host:port`),
//! `tcp4://`, `tcp6://`, `udp://`, `udp4://`, `udp6://` and `unix:///path`,
//! with options `?reuseport=true` and `?proxy=v1|v2|any` (see [`Address`]).
//! Port 0 binds an ephemeral port; [`Server::addrs`] tells which.
//!
//! # Portability
//! | platform | [`Backend::Auto`] | checked |
//! |---|---|---|
//! | Linux, Android | [`Backend::Poll`]: epoll ([`Backend::Uring`] on request) | Linux: the whole suite, on all three backends |
//! | macOS and the other Apple systems, FreeBSD, NetBSD, OpenBSD, DragonFly | [`Backend::Poll`]: kqueue | macOS, FreeBSD: built (`cargo check --all-targets`), not run |
//! | illumos | [`Backend::Poll`]: epoll | not built |
//! | Windows | [`Backend::Poll`]: mio's layer over the AFD driver and completion ports | the suite, both backends, under wine |
//! | other unix systems | [`Backend::Std`] | not built |
//!
//! What differs:
//! * Unix sockets (`unix://` addresses, [`Stream`]'s `Unix` variant) exist
//!   on unix systems only; elsewhere binding or dialing one fails with
//!   [`ErrorKind::Unsupported`](std::io::ErrorKind::Unsupported).
//! * [`Balance::ReusePort`] has the kernel spread connections over one
//!   listener per loop on Linux only; elsewhere loop 0 listens and hands
//!   connections out round-robin.
//! * Writing to a closed peer never raises SIGPIPE: sends carry
//!   MSG_NOSIGNAL, or on Apple systems each socket has SO_NOSIGPIPE; Windows
//!   has no SIGPIPE.
//! * On Windows mio reports readiness again only after an I/O call says
//!   `WouldBlock`; revio re-arms a connection itself after a short read or
//!   send, so the events are the same as with epoll and kqueue.
//! * [`Backend::Std`] relies on `shutdown` to wake its threads blocked in
//!   `accept` or `connect` on Linux; elsewhere they wake within 100 ms, and a
//!   connect is checked every 10 ms after its first 100 ms.
//!
//! Only Linux runs the suite natively. The Windows binaries are tested under
//! wine (Debian's wine 8, built with mingw-w64): everything passes there but
//! the unix-socket tests, those that read /proc, and a few that wine cannot
//! carry (its recv reports a reset that came before it as end-of-stream, and
//! two floods are too slow there). No real Windows machine has run it. macOS
//! and the BSDs are cross-checked only: kqueue has not run the suite.

#![warn(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
mod backend;
mod clock;
mod config;
mod conn;
mod driver;
mod error;
mod event_loop;
mod events;
mod mailbox;
mod output;
pub mod proxy_protocol;
mod server;
mod stream;
mod sys;
mod translate;

pub use addr::{Addr, Address, Network};
/// The shared buffer [`Output::write_shared`] sends from (the `bytes` crate's,
/// re-exported under the default feature `bytes`).
#[cfg(feature = "bytes")]
pub use bytes::Bytes;
pub use clock::{Clock, Tick};
pub use config::{Backend, Balance, Config};
pub use conn::{Conn, InputControl, Parts, ShutdownHook};
pub use error::{CertificateCheck, Error};
pub use events::{Action, Handler};
pub use output::Output;
pub use server::{ConnId, Server};
pub use stream::{Detached, Stream};
pub use translate::*;

/// Serves `addrs` with `handler` on one loop, on the calling thread, until a
/// handler returns [`Action::Shutdown`] or [`Server::shutdown`] is called.
///
/// Errors come back before anything is served for a malformed address, an
/// address in use, or a backend that cannot start; later, the error that
/// stopped the loop (such as a panic in `tick`).
///
/// ```no_run
/// # use revio::{Action, Conn, Handler};
/// # struct Echo;
/// # impl Handler for Echo { type State = (); }
/// revio::serve(Echo, ["tcp://127.0.0.1:0", "unix:///tmp/echo.sock"]).unwrap();
/// ```
pub fn serve<H, I, A>(handler: H, addrs: I) -> std::io::Result<()>
where
    H: Handler,
    I: IntoIterator<Item = A>,
    A: AsRef<str>,
{
    Config::new().serve(handler, addrs)
}
