//! A TCP proxy on one loop: each accepted connection dials the upstream with
//! `Server::dial`, and bytes pass both ways on the loop.
//!
//! ```text
//! cargo run --release --example proxy -- --port 7000 --upstream 127.0.0.1:5000
//! ```
//!
//! Built with `--features tls`, it also terminates TLS on its listener
//! (`--tls-cert/--tls-key`), originates TLS to the upstream
//! (`--upstream-tls`, verified against `--ca FILE` for the name `--sni NAME`
//! or the upstream's host), or both (re-encryption); see `tls.rs`.
//!
//! It shows the patterns a relay needs:
//! * **Writing to another connection**: bytes for the other side are parked
//!   in the handler and the other side is woken ([`Server::wake`]); its
//!   `woken` writes them (a wake to a connection still connecting comes
//!   after its `opened`).
//! * **Backpressure**: when the side being written to does not drain (its
//!   output is over [`QUEUE_LIMIT`], or bytes pile up while it is still
//!   connecting), reading pauses on the side that feeds it
//!   ([`Conn::pause_reading`], [`Server::resume_reading`]), so a slow peer
//!   slows the fast one down instead of filling memory. A side never queues
//!   up to the loop's high-water mark itself: there the loop would stop
//!   reading that side's input, which feeds the other direction, and with
//!   an upstream that also stops reading while its output is full (an echo
//!   server does) both would wait on each other forever.
//! * **Half-close**: when one peer ends its stream, the proxy passes the end
//!   on ([`Conn::close_write`] on the other side, after what is parked) and
//!   keeps the other direction open until it ends too.

#[path = "../common/mod.rs"]
mod common;
pub mod tls;

use std::collections::HashMap;
use std::io;
use std::mem;
use std::time::Duration;

use revio::proxy_protocol::{Encoder, Version};
use revio::{Action, Addr, Conn, ConnId, Handler, Server};
pub use tls::UpstreamTls;

/// How long a dial to the upstream may take to connect.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes parked for a connection that is not taking them yet, before the
/// side feeding it pauses.
const PARK_LIMIT: usize = 1 << 20;

/// Output a side may have queued before it takes no more parked bytes and the
/// side feeding it pauses: with what is parked, well under the loop's
/// default high-water mark (4 MiB), so the loop never stops a side's reading
/// for its own output (see the module docs).
const QUEUE_LIMIT: usize = 1 << 20;

/// One side of a proxied pair.
#[derive(Debug, Default)]
pub struct Side {
    /// The other side.
    peer: Option<ConnId>,
    /// This side paused its partner's reading.
    holding_peer: bool,
}

/// What waits for a connection until its `woken`.
#[derive(Debug, Default)]
struct Parked {
    bytes: Vec<u8>,
    /// The partner's peer ended its stream: end this side's too.
    end: bool,
    /// The partner closed: close this side once the parked bytes are out.
    close: bool,
}

/// A client waiting for its upstream dial: its id, and the PROXY header to
/// send first (empty when there is none, or when a TLS upstream sends it
/// before its hello).
struct Waiting {
    client: ConnId,
    header: Vec<u8>,
}

/// The proxy handler: pairs every accepted connection with a dialed one.
pub struct Proxy {
    upstream: String,
    /// Send the upstream a PROXY protocol header of this version first.
    send_proxy: Option<Version>,
    /// Speak TLS to the upstream.
    upstream_tls: Option<UpstreamTls>,
    /// Dialed connection -> the client it serves, until the dial opens.
    partners: HashMap<ConnId, Waiting>,
    parked: HashMap<ConnId, Parked>,
    stop: common::Stop,
    server: Option<Server>,
    /// Print the start-up line (one loop does).
    announce: bool,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`, `tcp://...` or `unix://...`).
    pub fn new(upstream: &str) -> Proxy {
        Proxy::with_stop(upstream, common::Stop::never(), false)
    }

    fn with_stop(upstream: &str, stop: common::Stop, announce: bool) -> Proxy {
        Proxy {
            upstream: upstream.to_string(),
            send_proxy: None,
            upstream_tls: None,
            partners: HashMap::new(),
            parked: HashMap::new(),
            stop,
            server: None,
            announce,
        }
    }

    /// Sends the upstream a PROXY protocol header (`v1` or `v2`) naming each
    /// client, so that a server behind the proxy sees the client's address.
    pub fn send_proxy(mut self, version: Option<Version>) -> Proxy {
        self.send_proxy = version;
        self
    }

    /// Dials the upstream as a TLS client of `tls` (see `tls.rs`).
    pub fn upstream_tls(mut self, tls: Option<UpstreamTls>) -> Proxy {
        self.upstream_tls = tls;
        self
    }

    /// Dials the upstream for client `c`; `header` is the PROXY header to
    /// send first. Returns the dial's id and what the dialed side must
    /// still write first (a TLS dial sends the header itself, in the clear
    /// before its hello).
    fn dial(&self, c: &Conn<'_, Side>, header: Vec<u8>) -> io::Result<(ConnId, Vec<u8>)> {
        match &self.upstream_tls {
            None => Ok((c.server().dial(&self.upstream, Some(DIAL_TIMEOUT))?, header)),
            Some(tls) => Ok((
                tls.dial(c.server(), &self.upstream, DIAL_TIMEOUT, &header)?,
                Vec::new(),
            )),
        }
    }

    /// The PROXY header naming client `c`, if the proxy sends one.
    fn header(&self, c: &Conn<'_, Side>) -> Vec<u8> {
        let mut header = Vec::new();
        let (Some(v), Ok(Addr::Tcp(src)), Ok(Addr::Tcp(dst))) =
            (self.send_proxy, c.remote_addr(), c.local_addr())
        else {
            return header;
        };
        let encoder = Encoder::tcp(src, dst);
        let written = match v {
            Version::V1 => {
                encoder.write_v1(&mut header);
                Ok(())
            }
            _ => encoder.write_v2(&mut header),
        };
        if let Err(e) = written {
            log::warn!("proxy: no PROXY header for {src}: {e}");
        }
        header
    }

    /// Parks something for `peer` and wakes it to take it.
    fn park(&mut self, c: &Conn<'_, Side>, peer: ConnId, f: impl FnOnce(&mut Parked)) {
        if c.server().is_live(peer) {
            f(self.parked.entry(peer).or_default());
            c.server().wake(peer);
        }
    }

    /// Writes what is parked for `c` while its output is under the limit,
    /// and pauses or resumes the side feeding it accordingly.
    fn deliver(&mut self, c: &mut Conn<'_, Side>) -> Action {
        let Some(parked) = self.parked.get_mut(&c.id()) else {
            return Action::None;
        };
        if c.queued() < QUEUE_LIMIT && !parked.bytes.is_empty() {
            c.write(&parked.bytes);
            // The buffer stays with the connection, for the next bytes.
            parked.bytes.clear();
        }
        let waiting = !parked.bytes.is_empty();
        let full = waiting || c.queued() >= QUEUE_LIMIT;
        if let Some(peer) = c.state().peer {
            if full {
                // Hold the feeding side until this one drains (postwrite).
                c.server().pause_reading(peer);
            } else {
                c.server().resume_reading(peer);
            }
            c.state().holding_peer = full;
        }
        if waiting {
            return Action::None;
        }
        if mem::take(&mut parked.end) {
            c.close_write();
        }
        if parked.close { Action::Close } else { Action::None }
    }
}

impl Handler for Proxy {
    type State = Side;

    fn serving(&mut self, server: &Server) -> Action {
        if self.announce {
            common::announce(&format!("proxy to {}", self.upstream), server);
        }
        self.server = Some(server.clone());
        Action::None
    }

    fn opened(&mut self, c: &mut Conn<'_, Side>) -> Action {
        if c.is_dialed() {
            if let Some(w) = self.partners.remove(&c.id()) {
                if c.is_closing() {
                    self.park(c, w.client, |p| p.close = true);
                } else {
                    c.state().peer = Some(w.client);
                    // The header goes first, before any client byte.
                    c.write(&w.header);
                }
            }
            return Action::None;
        }
        let header = self.header(c);
        match self.dial(c, header) {
            Ok((up, header)) => {
                c.state().peer = Some(up);
                self.partners.insert(
                    up,
                    Waiting {
                        client: c.id(),
                        header,
                    },
                );
                Action::None
            }
            Err(e) => {
                log::warn!("proxy: cannot dial {}: {e}", self.upstream);
                Action::Close
            }
        }
    }

    fn data(&mut self, c: &mut Conn<'_, Side>, input: &[u8]) -> Action {
        let Some(peer) = c.state().peer else {
            return Action::None;
        };
        let mut piled = 0;
        self.park(c, peer, |p| {
            p.bytes.extend_from_slice(input);
            piled = p.bytes.len();
        });
        if piled > PARK_LIMIT {
            // The peer is not taking them (still connecting): wait for it.
            c.pause_reading();
        }
        Action::None
    }

    fn eof(&mut self, c: &mut Conn<'_, Side>) -> Action {
        // Pass the end on, and keep the other direction open.
        match c.state().peer {
            Some(peer) => {
                self.park(c, peer, |p| p.end = true);
                Action::None
            }
            None => Action::Close,
        }
    }

    fn woken(&mut self, c: &mut Conn<'_, Side>) -> Action {
        self.deliver(c)
    }

    fn postwrite(&mut self, c: &mut Conn<'_, Side>, _amount: usize, _remaining: usize) -> Action {
        if c.state().holding_peer && c.queued() < QUEUE_LIMIT {
            return self.deliver(c);
        }
        Action::None
    }

    fn closed(&mut self, c: &mut Conn<'_, Side>, error: Option<io::Error>) {
        self.parked.remove(&c.id());
        self.partners.remove(&c.id());
        if let Some(e) = error {
            log::info!("proxy: {} closed: {e}", c.id());
        }
        if let Some(peer) = c.state().peer.take() {
            self.park(c, peer, |p| p.close = true);
        }
    }

    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        (self.stop.check(self.server.as_ref()), Action::None)
    }
}

const USAGE: &str = "proxy: a TCP proxy; every connection is relayed to the upstream

usage: proxy --upstream HOST:PORT [FLAGS]

  --upstream ADDR     where to relay (host:port, tcp://host:port or unix:///path)
  --send-proxy V      start each upstream connection with a PROXY protocol header
                      (v1 or v2) naming the client, as HAProxy's send-proxy does
  --tls-cert FILE     terminate TLS on the listener with this certificate chain (PEM)
  --tls-key FILE      its private key (PEM; default: the --tls-cert file)
  --upstream-tls      speak TLS to the upstream, verified against --ca
  --ca FILE           the CA certificates (PEM) the upstream's certificate must chain to
  --sni NAME          the name to send and verify (default: the upstream's host)
  (the TLS flags need the example built with --features tls)
defaults: --bind 0.0.0.0 --port 7000";

/// The command line's TLS flags.
#[derive(Default)]
struct TlsFlags {
    cert: Option<String>,
    key: Option<String>,
    upstream: bool,
    ca: Option<String>,
    sni: Option<String>,
}

impl TlsFlags {
    fn any(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.upstream || self.ca.is_some() || self.sni.is_some()
    }
}

fn main() {
    common::init_logging();
    let mut opts = common::Common::new("0.0.0.0", 7000);
    let mut upstream = None::<String>;
    let mut send_proxy = None::<Version>;
    let mut tls = TlsFlags::default();
    let usage = format!("{USAGE}\n{}", common::COMMON_USAGE);
    common::parse_args(&usage, |arg, parser| {
        if arg.is("upstream") {
            upstream = Some(common::value(parser)?);
        } else if arg.is("send-proxy") {
            send_proxy = Some(common::value(parser)?);
        } else if arg.is("tls-cert") {
            tls.cert = Some(common::value(parser)?);
        } else if arg.is("tls-key") {
            tls.key = Some(common::value(parser)?);
        } else if arg.is("upstream-tls") {
            tls.upstream = true;
        } else if arg.is("ca") {
            tls.ca = Some(common::value(parser)?);
        } else if arg.is("sni") {
            tls.sni = Some(common::value(parser)?);
        } else {
            return opts.take(arg, parser);
        }
        Ok(true)
    });
    let Some(upstream) = upstream else {
        eprintln!("error: --upstream is required\n\n{usage}");
        std::process::exit(2);
    };
    // Each loop dials from its own connections, so pairs stay on one loop.
    let stop = common::Stop::install().unwrap_or_else(|e| {
        eprintln!("proxy: cannot handle signals: {e}");
        std::process::exit(1)
    });
    let addr = opts.url("tcp", opts.port);
    let proxy = |i: usize, up: Option<UpstreamTls>| {
        Proxy::with_stop(&upstream, stop.clone(), i == 0)
            .send_proxy(send_proxy)
            .upstream_tls(up)
    };
    let r = if tls.any() {
        serve_tls(&opts, &tls, &addr, proxy)
    } else {
        opts.config().serve_with(|i| proxy(i, None), [addr])
    };
    common::exit_on_error("proxy", r);
}

/// Serves with the TLS modes the flags ask for.
#[cfg(feature = "tls")]
fn serve_tls(
    opts: &common::Common,
    flags: &TlsFlags,
    addr: &str,
    proxy: impl Fn(usize, Option<UpstreamTls>) -> Proxy + Sync,
) -> io::Result<()> {
    let terminate = match (&flags.cert, &flags.key) {
        (Some(cert), key) => Some(revio::Tls::from_pem_files(cert, key.as_ref().unwrap_or(cert))?),
        (None, Some(_)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--tls-key needs --tls-cert",
            ));
        }
        (None, None) => None,
    };
    if !flags.upstream && (flags.ca.is_some() || flags.sni.is_some()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--ca and --sni go with --upstream-tls",
        ));
    }
    let up = match flags.upstream {
        true => Some(UpstreamTls::from_flags(
            flags.ca.as_deref(),
            flags.sni.as_deref(),
        )?),
        false => None,
    };
    opts.config()
        .serve_with(|i| tls::wrap(proxy(i, up.clone()), terminate.clone()), [addr])
}

#[cfg(not(feature = "tls"))]
fn serve_tls(
    _: &common::Common,
    _: &TlsFlags,
    _: &str,
    _: impl Fn(usize, Option<UpstreamTls>) -> Proxy + Sync,
) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the TLS flags need the example built with TLS: cargo run --release --features tls --example proxy -- ...",
    ))
}
