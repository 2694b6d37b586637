//! PROXY protocol listeners: a connection accepted on one is not the
//! handler's until its header is read and checked; one whose header is
//! missing, malformed or late is closed without the handler hearing of it.

use super::Loop;
use super::slot::*;
use crate::driver::{Driver, Token};
use crate::events::Handler;
use crate::proxy_protocol::{Parser, Status};

impl<H: Handler, D: Driver> Loop<H, D> {
    /// A connection accepted on listener `l`: `true` if it must first send a
    /// PROXY header (it then waits, with the header timeout as its deadline).
    pub(super) fn wait_for_proxy_header(&mut self, t: Token, l: usize) -> bool {
        if self.proxy.get(l).copied().flatten().is_none() {
            return false;
        }
        self.conns[t].flags |= PROXY_WAIT;
        self.set_deadline(t, Some(self.limits.proxy_header_timeout));
        true
    }

    /// Parses what connection `t` has sent so far as its PROXY header; once
    /// complete, the connection is the handler's: `opened`, then `data` with
    /// whatever followed the header.
    pub(super) fn proxy_header(&mut self, t: Token) {
        let l = self.conns[t].addr_index as usize;
        let Some(version) = self.proxy.get(l).copied().flatten() else {
            return;
        };
        match Parser::new(version).parse(&self.conns[t].input) {
            Ok(Status::Incomplete { .. }) => {}
            Err(e) => self.reject(t, &format!("a bad PROXY protocol header: {e}")),
            Ok(Status::Complete { header, consumed }) => {
                if self.proxied.len() <= t {
                    self.proxied.resize_with(t + 1, || None);
                }
                self.proxied[t] = Some(Box::new(header));
                let slot = &mut self.conns[t];
                slot.flags = (slot.flags & !PROXY_WAIT) | PROXIED;
                slot.input.drain(..consumed);
                self.set_deadline(t, None);
                self.opened(t);
                // The client's first bytes came with the header: owed to the
                // handler now, or (if `opened` paused reading) on resume.
                if self.conns[t].is_open() && !self.conns[t].input.is_empty() {
                    self.conns[t].flags |= REPRESENT;
                    self.represent(t);
                }
            }
        }
    }

    /// Closes a connection the handler never heard of (its PROXY header was
    /// wrong or late): no `closed`, since there was no `opened`.
    pub(super) fn reject(&mut self, t: Token, why: &str) {
        let peer = self
            .driver
            .sock(t)
            .and_then(|fd| socket2::SockRef::from(&fd).peer_addr().ok())
            .and_then(|a| a.as_socket());
        match peer {
            Some(p) => log::warn!("revio: connection from {p} rejected: {why}"),
            None => log::warn!("revio: connection rejected: {why}"),
        }
        self.driver.close(t, true);
        self.free_slot(t);
    }

    /// Forgets connection `t`'s PROXY header (it closed).
    pub(super) fn forget_proxied(&mut self, t: Token) {
        if let Some(h) = self.proxied.get_mut(t) {
            *h = None;
        }
    }
}
