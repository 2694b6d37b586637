//! Dialing: outbound connections, resolved off the loop and connected
//! without blocking, with a timeout from the loop's timers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::Loop;
use super::call::Feed;
use super::slot::*;
use crate::addr::{Address, Network};
use crate::driver::{Driver, Target, Token};
use crate::events::{Action, Handler};
use crate::mailbox::{Command, Handover};
use crate::server::ConnId;

pub(super) fn shutdown_before_dial() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "the server shut down before the dial completed",
    )
}

pub(super) fn dial_timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "dial timed out before the connection was established",
    )
}

fn unclaimed_translator() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "dialed with a translator (Server::dial_translated, dial_tls), but the handler is not a Translate \
         of that translator's type: closed rather than speak plaintext",
    )
}

impl<H: Handler, D: Driver> Loop<H, D> {
    /// Takes a dial's slot (allocated by `Server::dial`) and starts it.
    pub(super) fn start_dial(
        &mut self,
        id: ConnId,
        address: Address,
        timeout: Option<Duration>,
        translator: Option<Handover>,
    ) {
        let t = id.slot();
        if let Some(tr) = translator {
            self.handovers.insert(t, tr);
        }
        let kind = if address.network() == Network::Unix {
            UNIX
        } else {
            TCP
        };
        self.init_slot(t, id.generation(), OPEN | CONNECTING | kind, DIALED);
        if let Some(d) = timeout {
            self.set_deadline(t, Some(d));
        }
        if address.network() == Network::Unix {
            self.connect(t, Target::Unix(address.target().into()));
        } else if address.target().parse::<SocketAddr>().is_ok() {
            // A literal address resolves without a DNS lookup.
            let r = address.resolve();
            self.on_resolved(id, r);
        } else {
            let server = self.server.clone();
            let index = self.index;
            let spawned = std::thread::Builder::new()
                .name("revio-resolver".into())
                .spawn(move || {
                    let result = address.resolve();
                    let mailbox = &server.shared.mailboxes[index];
                    let inbox = mailbox.lock();
                    if !inbox.stopped {
                        mailbox.send(inbox, Command::Resolved { id, result });
                    }
                });
            match spawned {
                Ok(h) => self.resolvers.push(h),
                Err(e) => self.dial_failed(t, e),
            }
        }
    }

    pub(super) fn on_resolved(&mut self, id: ConnId, result: io::Result<SocketAddr>) {
        let Some(t) = self.live(id) else { return };
        if !self.conns[t].is(CONNECTING) {
            return;
        }
        match result {
            Ok(addr) => self.connect(t, Target::Inet(addr)),
            Err(e) => self.dial_failed(t, e),
        }
    }

    fn connect(&mut self, t: Token, target: Target) {
        if let Err(e) = self.driver.connect(t, &target) {
            self.dial_failed(t, e);
        }
    }

    pub(super) fn finish_dial(&mut self, t: Token, hup: bool) {
        match self.driver.connect_result(t) {
            Ok(true) => {
                let slot = &mut self.conns[t];
                slot.flags &= !(CONNECTING | DEADLINE);
                // Idle from now: the connect may have taken longer than
                // the idle timeout.
                slot.active = self.timers.now32();
                let wake = slot.is(WAKE_AFTER_OPEN);
                slot.flags &= !WAKE_AFTER_OPEN;
                self.timers.disarm_conn(t);
                self.handing = self.handovers.remove(&t);
                self.opened(t);
                if self.handing.take().is_some() && self.conns[t].is_open() {
                    // No `Translate` took it: the peer expects a translated
                    // stream (TLS), and would get plaintext.
                    self.cut_conn(t, unclaimed_translator());
                    return;
                }
                if wake && self.conns[t].is_open() {
                    self.event(t, |h, c| h.woken(c));
                }
                // Bytes that came with the connect carry no further edge.
                self.on_readable(t, hup);
            }
            Ok(false) => {}
            Err(e) => self.dial_failed(t, e),
        }
    }

    /// A dial that will not connect: `opened` with the closing flag, then
    /// `closed` with the error.
    pub(super) fn dial_failed(&mut self, t: Token, e: io::Error) {
        let r = self.call(t, Feed::Nothing, true, |h, c, _| h.opened(c));
        // Nothing written here can be sent (nor was it counted as queued).
        let slot = &mut self.conns[t];
        slot.out.clear();
        match r {
            Ok(o) => {
                if o.action == Action::Shutdown {
                    self.begin_shutdown();
                }
                self.close(t, Some(e));
            }
            Err(p) => self.close(t, Some(p)),
        }
    }
}
