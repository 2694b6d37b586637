//! Accepting: new connections from listeners, spread over loops by the
//! balancing policy, and `opened`.

use std::io;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::slot::*;
use super::{ACCEPTS_PER_TURN, Again, Loop, Phase};
use crate::config::Balance;
use crate::driver::{Driver, Token};
use crate::events::Handler;
use crate::mailbox::Command;
use crate::server::ConnId;
use crate::stream::{Stream, each_stream};
use crate::sys::is_fd_exhaustion;

/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One listener's accept failures: whether accepting is paused, and the
/// episode of failures it is in, so that an episode is logged twice (when it
/// starts and when it ends, with its count) rather than once per retry.
#[derive(Default)]
pub(super) struct AcceptPause {
    /// Accepting waits for the back-off timer or a freed descriptor.
    pub(super) paused: bool,
    /// Failed accepts since the episode began; 0 outside an episode.
    failures: u64,
    /// When the episode's first failure came.
    since: Option<Instant>,
}

impl AcceptPause {
    /// Counts one failure, logging only the episode's first.
    fn failed(&mut self, e: &io::Error) {
        self.paused = true;
        self.failures += 1;
        if self.failures > 1 {
            return;
        }
        self.since = Some(Instant::now());
        if is_fd_exhaustion(e) {
            log::warn!(
                "revio: accept paused, out of file descriptors ({e}); retrying every \
                 {ACCEPT_BACKOFF:?} and on each close; raise the descriptor limit (ulimit -n)"
            );
        } else {
            log::warn!("revio: accept failed ({e}); retrying every {ACCEPT_BACKOFF:?}");
        }
    }

    /// Ends the episode, if one is going on, with one line giving its count.
    fn recovered(&mut self) {
        if self.failures == 0 {
            return;
        }
        let took = self.since.map_or(Duration::ZERO, |t| t.elapsed());
        log::warn!(
            "revio: accept resumed after {} failed attempts over {took:.1?}",
            self.failures
        );
        self.failures = 0;
        self.since = None;
    }
}

impl<H: Handler, D: Driver> Loop<H, D> {
    /// A listener is ready: accept (or, for UDP, receive) up to the turn's
    /// budget; what is left is served next turn.
    pub(super) fn on_listener(&mut self, l: usize) {
        if self.phase != Phase::Serving {
            return;
        }
        if self.networks[l].is_udp() {
            self.on_udp(l);
            return;
        }
        if self.accept_paused[l].paused {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            if self.phase != Phase::Serving {
                return;
            }
            let accepted = self.driver.accept(l);
            if !matches!(&accepted, Err(e) if !quiet(e)) {
                self.accept_paused[l].recovered();
            }
            match accepted {
                Ok(stream) if self.balanced[l] => {
                    let target = self.pick_loop(&stream);
                    if target == self.index {
                        self.open_stream(l, stream);
                    } else {
                        self.hand_over(target, stream, l);
                    }
                }
                Ok(stream) => self.open_stream(l, stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if quiet(&e) => {}
                Err(e) => {
                    // Out of descriptors (or worse): back off instead of
                    // spinning; a close or the timer resumes accepting.
                    self.accept_paused[l].failed(&e);
                    self.timers.retry_accept_in(ACCEPT_BACKOFF);
                    return;
                }
            }
        }
        self.again.push(Again::Listener(l));
    }

    /// Resumes accepting on listeners paused for want of descriptors.
    pub(super) fn retry_accept(&mut self) {
        for l in 0..self.accept_paused.len() {
            if std::mem::take(&mut self.accept_paused[l].paused) {
                self.on_listener(l);
            }
        }
    }
}

/// A failed accept that says nothing about the listener: the next may work.
fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

impl<H: Handler, D: Driver> Loop<H, D> {
    fn open_stream(&mut self, l: usize, stream: Stream) {
        let mailbox = self.mailbox();
        let Some((slot, generation)) = mailbox.alloc(&mut mailbox.lock(), false) else {
            return;
        };
        self.adopt(ConnId::new(self.index, slot, generation), stream, l);
    }

    /// Serves an accepted stream under an id already allocated on this loop.
    pub(super) fn adopt(&mut self, id: ConnId, stream: Stream, l: usize) {
        let kind = if matches!(stream, Stream::Tcp(_)) {
            TCP
        } else {
            UNIX
        };
        let t = id.slot();
        if let Err(e) = self.driver.register(t, stream) {
            log::warn!("revio: could not register an accepted connection: {e}");
            self.mailbox().release(t);
            return;
        }
        self.init_slot(t, id.generation(), OPEN | kind, l as u16);
        if !self.wait_for_proxy_header(t, l) {
            self.opened(t);
        }
    }

    /// Fires `opened` for a new stream connection and acts on the result.
    pub(super) fn opened(&mut self, t: Token) {
        if self.limits.nodelay && self.conns[t].is(TCP) {
            if let Some(fd) = self.driver.sock(t) {
                if let Err(e) = SockRef::from(&fd).set_tcp_nodelay(true) {
                    log::debug!("revio: TCP_NODELAY: {e}");
                }
            }
        }
        self.arm_idle(t);
        self.event(t, |h, c| h.opened(c));
    }

    /// Picks the loop for a connection accepted on a balanced listener.
    fn pick_loop(&mut self, stream: &Stream) -> usize {
        let n = self.server.shared.mailboxes.len();
        let mut round_robin = || {
            self.rr = (self.rr + 1) % n;
            self.rr
        };
        match self.balance {
            Balance::LeastConnections => (0..n)
                .min_by_key(|&i| (self.server.shared.mailboxes[i].live(), i))
                .unwrap_or(0),
            Balance::Random => {
                // xorshift64: cheap, and good enough to spread connections.
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                (x % n as u64) as usize
            }
            Balance::SourceAddrHash => {
                let peer = each_stream!(stream, s => SockRef::from(s).peer_addr());
                // Unix peers have no IP: they take turns.
                match peer.ok().and_then(|a| a.as_socket()) {
                    Some(a) => {
                        // FNV-1a over the source IP (not the port): one client
                        // host always lands on one loop.
                        let octets = match a.ip() {
                            std::net::IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
                            std::net::IpAddr::V6(ip) => ip.octets(),
                        };
                        let h = octets.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                        });
                        (h % n as u64) as usize
                    }
                    None => round_robin(),
                }
            }
            Balance::RoundRobin | Balance::ReusePort => round_robin(),
        }
    }

    /// Hands an accepted stream to loop `target`. A loop that has finished
    /// takes nothing: the connection is closed unserved.
    fn hand_over(&mut self, target: usize, stream: Stream, l: usize) {
        let mailbox = &self.server.shared.mailboxes[target];
        let mut inbox = mailbox.lock();
        let Some((slot, generation)) = mailbox.alloc(&mut inbox, false) else {
            return;
        };
        let id = ConnId::new(target, slot, generation);
        mailbox.send(
            inbox,
            Command::Adopt {
                id,
                stream,
                listener: l,
            },
        );
    }

    pub(super) fn init_slot(&mut self, t: Token, generation: u32, flags: u32, addr_index: u16) {
        if self.conns.len() <= t {
            self.conns.resize_with(t + 1, Slot::default);
        }
        let now = self.timers.now32();
        let slot = &mut self.conns[t];
        slot.generation = generation;
        slot.flags = flags;
        slot.addr_index = addr_index;
        slot.active = now;
    }
}
