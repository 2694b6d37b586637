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
//! Addresses take the forms `tcp://host:port` (or plain `host:port`),
//! `tcp4://`, `tcp6://`, `udp://`, `udp4://`, `udp6://` and `unix:///path`,
//! with `?reuseport=true` for SO_REUSEPORT. Port 0 binds an ephemeral port;
//! [`Server::addrs`] tells which.
//!
//! The loop owns sockets and buffers. A handler reads a borrowed `&[u8]` and
//! writes into the connection ([`Conn::write`]); output is sent right after
//! the handler returns, in one write. Input the handler does not consume
//! ([`Conn::keep`]) is presented again with the next bytes. Steady-state
//! serving allocates nothing and an idle connection costs well under 128
//! bytes of user-space memory.
//!
//! [`Config`] holds everything beyond the defaults: several loops, buffer
//! limits, the backend.

#![warn(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
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
mod translate;

pub use addr::{Addr, Address, Network};
pub use config::{Backend, Balance, Config};
pub use conn::{Conn, ShutdownHook};
pub use error::Error;
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
