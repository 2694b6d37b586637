//! Completions: entering the kernel, reaping what it completed, and what
//! each completion means to the slots and to the caller.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use io_uring::{cqueue, types};

#[cfg(doc)]
use super::Waker;
use super::{Kind, MsgHdr, NO_SOCK, Ring};
use crate::bufs::BufId;

/// An operation's kind, without its resources.
#[derive(Clone, Copy)]
enum What {
    Recv(u16),
    RecvMsg(u16, libc::socklen_t, usize),
    Accept,
    Send,
    #[cfg(feature = "bytes")]
    SendShared,
    Connect,
    Wake,
}

/// What one completion reports.
#[derive(Debug)]
pub enum Event {
    /// A receive filled `len` bytes of a provided buffer.
    Received {
        /// The buffer: read it with [`Ring::buf`], then give it back.
        buf: BufId,
        /// How many bytes were received.
        len: usize,
    },
    /// A receive saw the peer's end of stream (the receive is over).
    Eof,
    /// A multishot `recvmsg` received one datagram.
    Datagram {
        /// The buffer: read it with [`Ring::buf`], then give it back.
        buf: BufId,
        /// Where the payload lies in the buffer.
        data: Range<usize>,
        /// The sender, when it is an IP address.
        from: Option<SocketAddr>,
        /// The datagram was longer than the buffer and was cut.
        truncated: bool,
        /// With receive offload on the socket (`udp::set_gro`): the kernel
        /// coalesced datagrams of this size (the last may be shorter) from
        /// one sender into `data`; 0 when it holds one datagram.
        segment: usize,
    },
    /// A multishot accept accepted a connection.
    Accepted(OwnedFd),
    /// A send finished: the buffer comes back, with the offset it was sent
    /// from and how many bytes the socket took.
    Sent {
        /// The buffer given to [`Ring::send`].
        buf: Vec<u8>,
        /// The offset the send started at.
        off: usize,
        /// Bytes sent, or the error.
        result: io::Result<usize>,
    },
    /// A send from shared buffers finished ([`Ring::send_shared`]): the
    /// buffers come back (drop them to release them), with how many bytes
    /// the socket took (from the first on, in order).
    #[cfg(feature = "bytes")]
    SentShared {
        /// The buffers given to [`Ring::send_shared`].
        bufs: Vec<bytes::Bytes>,
        /// Bytes sent, or the error.
        result: io::Result<usize>,
    },
    /// A connect finished.
    Connected(io::Result<()>),
    /// The [`Waker`] was woken.
    Woken,
    /// A receive or accept failed (`ENOBUFS` when the group ran out of
    /// buffers, `ECANCELED` after a cancel); see [`Completion::more`].
    Failed(io::Error),
}

/// One completion, as [`Ring::next_completion`] reports it.
#[derive(Debug)]
pub struct Completion {
    /// The tag given when the operation was started.
    pub tag: u64,
    /// The operation goes on and will complete again (a multishot); when
    /// false, this was its last completion.
    pub more: bool,
    /// What happened.
    pub event: Event,
}

fn os_error(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

/// An IP socket address from the bytes of a `sockaddr_in` or `sockaddr_in6`.
fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

impl Ring {
    /// Submits everything queued with one `io_uring_enter` and waits up to
    /// `timeout` (`None`: until something completes) for a completion. A
    /// zero timeout enters only if there is something to submit or kernel
    /// work to run. Timeouts and signals are not errors.
    pub fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let waiting = !self.cqes.is_empty() || !self.uring.completion().is_empty();
        let timeout = if waiting { Some(Duration::ZERO) } else { timeout };
        let r = match timeout {
            Some(d) if d.is_zero() => {
                let sq = self.uring.submission();
                if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                    return Ok(());
                }
                drop(sq);
                self.uring.submit()
            }
            None => self.uring.submit_and_wait(1),
            Some(d) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves what the kernel completed into our queue.
    pub(super) fn reap(&mut self) {
        self.cqes.extend(self.uring.completion());
    }

    /// The next completion to report, if any has been reaped or is ready.
    /// Completions of closed sockets and of cancels are handled here and not
    /// reported.
    pub fn next_completion(&mut self) -> Option<Completion> {
        loop {
            let cqe = match self.cqes.pop_front() {
                Some(c) => c,
                None => {
                    self.reap();
                    self.cqes.pop_front()?
                }
            };
            if let Some(c) = self.complete(&cqe) {
                return Some(c);
            }
        }
    }

    /// Accounts for one completion; returns what to report.
    fn complete(&mut self, cqe: &cqueue::Entry) -> Option<Completion> {
        let ud = cqe.user_data();
        let idx = (ud & 0xffff_ffff) as usize;
        let generation = (ud >> 32) as u32;
        let slot = self.ops.get_mut(idx)?;
        if slot.generation != generation || slot.kind.is_none() {
            // Not an operation of ours in flight: nothing to account for.
            return None;
        }
        let more = cqueue::more(cqe.flags());
        let (sock, tag) = (slot.sock, slot.tag);
        let kind = if more {
            None
        } else {
            let k = slot.kind.take();
            self.free_ops.push(idx as u32);
            self.live_ops -= 1;
            k
        };
        let event = self.event(idx, tag, kind, cqe);
        let closing = sock != NO_SOCK && {
            let s = &mut self.socks[sock as usize];
            if !more {
                s.ops -= 1;
            }
            s.closing
        };
        if closing {
            self.discard(event);
            if self.socks[sock as usize].ops == 0 {
                self.free_sock(sock);
            }
            return None;
        }
        Some(Completion {
            tag,
            more,
            event: event?,
        })
    }

    /// What a completion means. `kind` is the operation's resources when this
    /// was its last completion (taken out of the slot), else `None` and the
    /// slot still holds them.
    fn event(&mut self, idx: usize, tag: u64, kind: Option<Kind>, cqe: &cqueue::Entry) -> Option<Event> {
        let (res, flags) = (cqe.result(), cqe.flags());
        let what = match kind.as_ref().or(self.ops[idx].kind.as_ref())? {
            Kind::Recv(g) => What::Recv(*g),
            Kind::RecvMsg(g, h) => What::RecvMsg(*g, h.0.msg_namelen, control_len(&h.0)),
            Kind::Accept => What::Accept,
            Kind::Send { .. } => What::Send,
            #[cfg(feature = "bytes")]
            Kind::SendShared(_) => What::SendShared,
            Kind::Connect(_) => What::Connect,
            Kind::Wake(_) => What::Wake,
            Kind::Cancel => return None,
        };
        // The kernel is done with a finished recvmsg's header: kept for the next.
        let kind = match kind {
            Some(Kind::RecvMsg(_, h)) => {
                if self.spare_hdrs.len() < 8 {
                    self.spare_hdrs.push(h);
                }
                None
            }
            k => k,
        };
        let buf = match what {
            What::Recv(g) | What::RecvMsg(g, ..) => {
                cqueue::buffer_select(flags).map(|bid| self.groups[g as usize].take(bid))
            }
            _ => None,
        };
        Some(match what {
            What::Recv(_) => match (res, buf) {
                (n, Some(buf)) if n > 0 => Event::Received { buf, len: n as usize },
                (n, buf) => {
                    if let Some(b) = buf {
                        self.give_back(b);
                    }
                    match n {
                        0 => Event::Eof,
                        n if n < 0 => Event::Failed(os_error(n)),
                        _ => Event::Failed(io::Error::other("a receive completed without its buffer")),
                    }
                }
            },
            What::RecvMsg(_, namelen, controllen) => match buf {
                Some(buf) if res >= 0 => self.datagram(buf, res as usize, namelen, controllen),
                buf => {
                    if let Some(b) = buf {
                        self.give_back(b);
                    }
                    Event::Failed(if res < 0 {
                        os_error(res)
                    } else {
                        io::Error::other("a recvmsg completed without its buffer")
                    })
                }
            },
            What::Accept if res >= 0 => {
                // SAFETY: a successful accept completion's result is a new
                // descriptor, created for this ring's caller and owned by
                // nothing else yet.
                Event::Accepted(unsafe { OwnedFd::from_raw_fd(res) })
            }
            What::Accept => Event::Failed(os_error(res)),
            What::Send => {
                let Some(Kind::Send { buf, off }) = kind else {
                    unreachable!("a send completes once")
                };
                Event::Sent {
                    buf,
                    off,
                    result: sent(res),
                }
            }
            #[cfg(feature = "bytes")]
            What::SendShared => {
                let Some(Kind::SendShared(msg)) = kind else {
                    unreachable!("a send completes once")
                };
                Event::SentShared {
                    bufs: msg.into_bufs(),
                    result: sent(res),
                }
            }
            What::Connect => Event::Connected(if res < 0 { Err(os_error(res)) } else { Ok(()) }),
            What::Wake => {
                let Some(Kind::Wake(buf)) = kind else {
                    unreachable!("a read completes once")
                };
                // Re-armed at once. Should that fail, the ring can no longer
                // submit, and the caller's next enter says so.
                if res != -libc::ECANCELED && !self.dropping {
                    let _ = self.arm_wake(tag, buf);
                }
                Event::Woken
            }
        })
    }

    fn datagram(&mut self, buf: BufId, len: usize, namelen: libc::socklen_t, controllen: usize) -> Event {
        let mut hdr = MsgHdr::plain(0);
        hdr.0.msg_namelen = namelen;
        hdr.0.msg_controllen = controllen as _;
        let bytes = self.buf(&buf);
        let parsed = types::RecvMsgOut::parse(&bytes[..len.min(bytes.len())], &hdr.0).map(|out| {
            let start = out.payload_data().as_ptr() as usize - bytes.as_ptr() as usize;
            (
                start..start + out.payload_data().len(),
                parse_sockaddr(out.name_data()),
                out.is_payload_truncated(),
                crate::udp::gro_segment_in(out.control_data()),
            )
        });
        match parsed {
            Ok((data, from, truncated, segment)) => Event::Datagram {
                buf,
                data,
                from,
                truncated,
                segment,
            },
            Err(()) => {
                self.give_back(buf);
                Event::Failed(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a malformed recvmsg result",
                ))
            }
        }
    }

    /// Releases what an unreported completion carries.
    pub(super) fn discard(&mut self, event: Option<Event>) {
        // Dropping the event closes an accepted socket and frees a send buffer.
        if let Some(Event::Received { buf, .. } | Event::Datagram { buf, .. }) = event {
            self.give_back(buf);
        }
    }
}

/// A `msghdr`'s control length (a `usize` with glibc, a `u32` with musl).
#[allow(clippy::unnecessary_cast)]
fn control_len(h: &libc::msghdr) -> usize {
    h.msg_controllen as usize
}

/// A send's result: bytes sent, or the error.
fn sent(res: i32) -> io::Result<usize> {
    if res >= 0 {
        Ok(res as usize)
    } else {
        Err(os_error(res))
    }
}
