//! Listeners: a multishot accept per stream listener, a multishot `recvmsg`
//! per UDP socket, and what each has queued for the loop.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::OwnedFd;

use revio_uring::{BufId, Completion, Event as Done, Op, Sock};

use super::{ACCEPT_AHEAD, LISTENER, UringDriver, no_socket, tag};
use crate::driver::{Event, SockFd};

pub(super) struct Listener {
    pub(super) sock: Sock,
    pub(super) generation: u32,
    pub(super) kind: ListenKind,
    pub(super) armed: Option<Op>,
    pub(super) starved: bool,
    pub(super) accepted: VecDeque<io::Result<OwnedFd>>,
    /// Received datagrams: buffer, payload, sender, and with receive
    /// offload the size of the datagrams coalesced in the payload (or 0).
    pub(super) datagrams: VecDeque<(BufId, Range<usize>, SocketAddr, usize)>,
    pub(super) posted: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ListenKind {
    Tcp,
    Unix,
    Udp,
}

impl UringDriver {
    pub(super) fn post_listener(&mut self, index: usize) {
        if let Some(Some(l)) = self.listeners.get_mut(index) {
            if l.posted != self.turn {
                l.posted = self.turn;
                self.pending.push(Event::Listener(index));
            }
        }
    }

    pub(super) fn complete_listener(&mut self, index: usize, generation: u32, c: Completion) {
        let Some(Some(l)) = self.listeners.get_mut(index) else {
            self.discard(c.event);
            return;
        };
        if l.generation != generation {
            self.discard(c.event);
            return;
        }
        if !c.more {
            l.armed = None;
        }
        match c.event {
            Done::Accepted(fd) => {
                l.accepted.push_back(Ok(fd));
                if l.accepted.len() == ACCEPT_AHEAD {
                    // The loop is behind: let the kernel's backlog hold the
                    // rest until it catches up (see `accept`).
                    if let Some(op) = l.armed {
                        self.ring.cancel(op);
                    }
                }
            }
            Done::Datagram {
                buf,
                data,
                from,
                segment,
                ..
            } => match from {
                Some(from) => l.datagrams.push_back((buf, data, from, segment)),
                None => self.ring.give_back(buf),
            },
            Done::Failed(e) => match e.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    l.starved = true;
                    self.starved_listeners.push(index);
                }
                Some(libc::ECANCELED) => {}
                // An accept error ends the multishot; the loop re-arms it by
                // accepting again (after its back-off for EMFILE).
                _ if l.kind != ListenKind::Udp => l.accepted.push_back(Err(e)),
                _ => log::debug!("revio: UDP receive on listener {index}: {e}"),
            },
            other => self.discard(other),
        }
        let Some(Some(l)) = self.listeners.get(index) else {
            return;
        };
        let ready = !l.accepted.is_empty() || !l.datagrams.is_empty();
        let rearm = l.armed.is_none() && l.kind == ListenKind::Udp && !l.starved;
        if ready {
            self.post_listener(index);
        }
        if rearm {
            self.arm_listener(index);
        }
    }

    /// Arms listener `index`'s multishot accept or `recvmsg` if it is not.
    pub(super) fn arm_listener(&mut self, index: usize) {
        let Some(Some(l)) = self.listeners.get_mut(index) else {
            return;
        };
        if l.armed.is_some() || l.starved {
            return;
        }
        let t = LISTENER | tag(index, l.generation);
        let r = match l.kind {
            ListenKind::Udp => match self.datagram_group {
                Some(g) => self.ring.recvmsg_multi(l.sock, g, t),
                None => return,
            },
            _ => self.ring.accept_multi(l.sock, t),
        };
        match r {
            Ok(op) => l.armed = Some(op),
            Err(e) => log::warn!("revio: could not arm listener {index}: {e}"),
        }
    }

    pub(super) fn listener_fd(&self, index: usize) -> io::Result<SockFd<'_>> {
        match self.listeners.get(index) {
            Some(Some(l)) => self.ring.fd(l.sock).ok_or_else(no_socket),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "no such listener")),
        }
    }
}
