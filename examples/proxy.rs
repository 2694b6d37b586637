//! A tiny TCP proxy on one loop: each accepted connection dials the upstream
//! with `Server::dial`, and bytes pass both ways on the loop.
//!
//! ```text
//! cargo run --release --example proxy -- --port 7000 --upstream 127.0.0.1:5000
//! ```
//!
//! Bytes for the other side are parked in the handler and the other side is
//! woken (`Server::wake`), whose `woken` writes them; wakes to a connection
//! that is still connecting are delivered after its `opened`.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use revio::{Action, Conn, ConnId, Handler};

/// The proxy handler: pairs every accepted connection with a dialed one.
pub struct Proxy {
    upstream: String,
    /// Dialed connection -> the client it serves, until the dial opens.
    partners: HashMap<ConnId, ConnId>,
    /// Bytes waiting to be written to a connection, by its id.
    pending: HashMap<ConnId, Vec<u8>>,
    /// Connections whose partner closed: close them once their bytes are out.
    closing: Vec<ConnId>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`, `tcp://...` or `unix://...`).
    pub fn new(upstream: &str) -> Proxy {
        Proxy {
            upstream: upstream.to_string(),
            partners: HashMap::new(),
            pending: HashMap::new(),
            closing: Vec::new(),
        }
    }

    /// Parks bytes for `peer` and wakes it to write them.
    fn send_to(&mut self, c: &Conn<'_, Option<ConnId>>, peer: ConnId, bytes: &[u8]) {
        self.pending.entry(peer).or_default().extend_from_slice(bytes);
        c.server().wake(peer);
    }

    /// Closes `peer` after what is parked for it is written.
    fn close_later(&mut self, c: &Conn<'_, Option<ConnId>>, peer: ConnId) {
        if c.server().wake(peer) {
            self.closing.push(peer);
        }
    }
}

impl Handler for Proxy {
    /// The partner connection.
    type State = Option<ConnId>;

    fn opened(&mut self, c: &mut Conn<'_, Option<ConnId>>) -> Action {
        if c.is_dialed() {
            if let Some(client) = self.partners.remove(&c.id()) {
                if c.is_closing() {
                    self.close_later(c, client);
                } else {
                    *c.state() = Some(client);
                }
            }
            return Action::None;
        }
        match c.server().dial(&self.upstream, Some(Duration::from_secs(5))) {
            Ok(up) => {
                *c.state() = Some(up);
                self.partners.insert(up, c.id());
                Action::None
            }
            Err(e) => {
                eprintln!("proxy: cannot dial {}: {e}", self.upstream);
                Action::Close
            }
        }
    }

    fn data(&mut self, c: &mut Conn<'_, Option<ConnId>>, input: &[u8]) -> Action {
        if let Some(peer) = *c.state() {
            self.send_to(c, peer, input);
        }
        Action::None
    }

    fn woken(&mut self, c: &mut Conn<'_, Option<ConnId>>) -> Action {
        if let Some(buf) = self.pending.get_mut(&c.id()) {
            c.write(buf);
            buf.clear();
        }
        if let Some(i) = self.closing.iter().position(|&id| id == c.id()) {
            self.closing.swap_remove(i);
            return Action::Close;
        }
        Action::None
    }

    fn closed(&mut self, c: &mut Conn<'_, Option<ConnId>>, error: Option<io::Error>) {
        self.pending.remove(&c.id());
        self.partners.remove(&c.id());
        if let Some(e) = error {
            eprintln!("proxy: {} closed: {e}", c.id());
        }
        if let Some(peer) = c.state().take() {
            self.close_later(c, peer);
        }
    }
}

fn main() {
    let mut port = 7000u16;
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--port", Some(v)) => port = v.parse().unwrap_or_else(|_| usage()),
            ("--upstream", Some(v)) => upstream = Some(v),
            _ => usage(),
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage());
    println!("proxy started on port {port}, upstream {upstream}");
    if let Err(e) = revio::serve(Proxy::new(&upstream), [format!("tcp://0.0.0.0:{port}")]) {
        eprintln!("proxy: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: proxy [--port N] --upstream HOST:PORT");
    std::process::exit(2)
}
