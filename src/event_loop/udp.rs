//! UDP: each remote address is a connection of its own (a slot), bounded per
//! listener; past the bound the least recently active remote is closed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::SocketAddr;

use super::call::{self, Cx, Feed};
use super::slot::*;
use super::{ACCEPTS_PER_TURN, Again, Loop, Phase};
use crate::conn::Endpoint;
use crate::driver::{Driver, Token};
use crate::events::{Action, Handler};

const NONE: Token = usize::MAX;

/// One remote: its listener and address, and its place in that listener's
/// least-recently-active list.
struct Remote {
    listener: usize,
    peer: SocketAddr,
    older: Token,
    newer: Token,
}

/// Hashes a token: the loop's own slot number, never chosen by a peer, so
/// a multiply is enough (the addresses, which peers choose, keep std's keyed
/// SipHash).
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The UDP remotes of one loop.
pub(super) struct Remotes {
    by_addr: HashMap<(usize, SocketAddr), Token>,
    by_token: HashMap<Token, Remote, BuildHasherDefault<TokenHasher>>,
    /// Per listener: (least recently active, most recently active, count).
    lists: Vec<(Token, Token, usize)>,
}

impl Remotes {
    pub(super) fn new(listeners: usize) -> Remotes {
        Remotes {
            by_addr: HashMap::new(),
            by_token: HashMap::default(),
            lists: vec![(NONE, NONE, 0); listeners],
        }
    }

    /// The handler's view of remote `t`'s socket.
    pub(super) fn endpoint<'d, D: Driver>(&self, t: Token, driver: &'d D) -> Endpoint<'d> {
        match self.by_token.get(&t) {
            Some(r) => driver
                .listener_sock(r.listener)
                .map_or(Endpoint::None, |s| Endpoint::Udp(s, r.peer)),
            None => Endpoint::None,
        }
    }

    fn unlink(&mut self, t: Token) {
        let Some(r) = self.by_token.get(&t) else { return };
        let (l, older, newer) = (r.listener, r.older, r.newer);
        match older {
            NONE => self.lists[l].0 = newer,
            o => self.by_token.get_mut(&o).expect("linked remote").newer = newer,
        }
        match newer {
            NONE => self.lists[l].1 = older,
            n => self.by_token.get_mut(&n).expect("linked remote").older = older,
        }
    }

    /// Links `t` as its listener's most recently active remote.
    fn link_newest(&mut self, t: Token) {
        let l = self.by_token[&t].listener;
        let newest = self.lists[l].1;
        if let Some(r) = self.by_token.get_mut(&t) {
            r.older = newest;
            r.newer = NONE;
        }
        match newest {
            NONE => self.lists[l].0 = t,
            n => self.by_token.get_mut(&n).expect("linked remote").newer = t,
        }
        self.lists[l].1 = t;
    }

    fn insert(&mut self, t: Token, listener: usize, peer: SocketAddr) {
        self.by_addr.insert((listener, peer), t);
        self.by_token.insert(
            t,
            Remote {
                listener,
                peer,
                older: NONE,
                newer: NONE,
            },
        );
        self.lists[listener].2 += 1;
        self.link_newest(t);
    }

    /// Marks `t` as just active.
    fn touch(&mut self, t: Token) {
        let l = self.by_token[&t].listener;
        if self.lists[l].1 != t {
            self.unlink(t);
            self.link_newest(t);
        }
    }

    /// Forgets remote `t` (it closed).
    pub(super) fn remove(&mut self, t: Token) {
        self.unlink(t);
        if let Some(r) = self.by_token.remove(&t) {
            self.by_addr.remove(&(r.listener, r.peer));
            self.lists[r.listener].2 -= 1;
        }
    }

    fn peer(&self, t: Token) -> Option<(usize, SocketAddr)> {
        self.by_token.get(&t).map(|r| (r.listener, r.peer))
    }
}

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Receives up to the turn's budget of datagrams on UDP listener `l`.
    pub(super) fn on_udp(&mut self, l: usize) {
        for _ in 0..ACCEPTS_PER_TURN {
            if self.phase != Phase::Serving {
                return;
            }
            match self.datagram(l) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("revio: recv on UDP listener {l}: {e}");
                    return;
                }
            }
        }
        self.again.push(Again::Listener(l));
    }

    /// Receives one datagram and serves it where it was received.
    fn datagram(&mut self, l: usize) -> io::Result<()> {
        let range = self.place_inbuf();
        let now = self.timers.now32();
        let Loop {
            index,
            handler,
            driver,
            server,
            limits,
            timers,
            conns,
            inbuf,
            spare,
            udp,
            pool,
            queued_total,
            ..
        } = self;
        let (lent, peer) = driver.recv_from(l, &mut inbuf[range])?;
        let Some(&t) = udp.by_addr.get(&(l, peer)) else {
            // A new remote (the rare case): its first datagram is copied out
            // of the lent buffer while `opened` runs.
            let mut first = pool.take();
            first.extend_from_slice(lent.data);
            self.first_datagram(l, peer, first);
            return Ok(());
        };
        udp.touch(t);
        let slot = &mut conns[t];
        slot.active = now;
        let endpoint = lent.sock.map_or(Endpoint::None, |s| Endpoint::Udp(s, peer));
        let cx = Cx {
            loop_index: *index,
            server,
            limits,
            clock: &timers.clock,
            loop_queued: *queued_total,
            proxied: None,
            handover: Default::default(),
        };
        let r = call::invoke(
            handler,
            slot,
            t,
            spare,
            &cx,
            endpoint,
            0,
            Feed::Lent(lent.data),
            false,
            |h, c, d| h.data(c, d),
        );
        self.udp_after(t, r);
        Ok(())
    }

    /// Opens a remote for a datagram from a new address and serves it.
    fn first_datagram(&mut self, l: usize, peer: SocketAddr, first: Vec<u8>) {
        let Some(t) = self.new_remote(l, peer) else {
            self.pool.give(first);
            return;
        };
        self.conns[t].input = first;
        let r = self.call(t, Feed::Kept, false, |h, c, d| h.data(c, d));
        // A datagram is whole: nothing is kept.
        let input = std::mem::take(&mut self.conns[t].input);
        self.pool.give(input);
        self.udp_after(t, r);
    }

    /// A datagram from a new remote: a slot for it (the least recently active
    /// remote of the listener makes room if the listener is full), then `opened`.
    fn new_remote(&mut self, l: usize, peer: SocketAddr) -> Option<Token> {
        if self.udp.lists[l].2 >= self.limits.max_udp_remotes {
            let oldest = self.udp.lists[l].0;
            if oldest != NONE {
                self.close(oldest, Some(crate::Error::UdpRemoteEvicted.into()));
            }
        }
        let mailbox = self.mailbox();
        let (slot, generation) = mailbox.alloc(&mut mailbox.lock(), true)?;
        let t = slot as usize;
        self.init_slot(t, generation, OPEN | UDP, l as u16);
        self.udp.insert(t, l, peer);
        self.arm_idle(t);
        let r = self.call(t, Feed::Nothing, false, |h, c, _| h.opened(c));
        self.udp_after(t, r).then_some(t)
    }

    /// Sends a UDP handler's output as one datagram and acts on its result;
    /// returns whether the remote is still open.
    fn udp_after(&mut self, t: Token, r: io::Result<call::Outcome<H::State>>) -> bool {
        let Some((action, _)) = self.outcome(t, r) else {
            return false;
        };
        let slot = &mut self.conns[t];
        if !slot.out.is_empty() {
            if let Some((l, peer)) = self.udp.peer(t) {
                if let Err(e) = self.driver.send_to(l, slot.out.unsent(), peer) {
                    log::debug!("revio: UDP send to {peer}: {e}");
                }
            }
            self.queued_total -= slot.out.len();
            slot.out.clear();
        }
        match action {
            Action::None => true,
            // Taken by `outcome`: the remote is already forgotten.
            Action::Abort => false,
            Action::Shutdown => {
                self.begin_shutdown();
                true
            }
            Action::Close | Action::Detach => {
                if action == Action::Detach {
                    log::warn!("revio: a UDP remote cannot be detached; closing it instead");
                }
                self.close(t, None);
                false
            }
        }
    }
}
