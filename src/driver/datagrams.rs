//! Batched UDP on Linux, for the backends that send and receive datagrams
//! themselves (epoll and io_uring): an [`Inbox`] per listener that takes up
//! to [`BATCH`] datagrams per `recvmmsg` and lends them one at a time, and an
//! [`Outbox`] per loop that keeps the datagrams written during a turn and
//! sends them when the turn ends, in `sendmmsg` batches per listener, with a
//! run of datagrams to one remote sent as one segmented send (`UDP_SEGMENT`)
//! where the kernel takes it.
//!
//! The system calls are `revio_uring::udp`'s; this module is the policy:
//! what is batched, how much is held, and what happens when a feature is
//! missing (each is tried, and switched off for good at its first refusal).

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use revio_uring::udp::{self, BATCH, Datagram, MAX_SEGMENTED, MAX_SEGMENTS, RecvMeta};

use super::UdpOptions;

/// What an [`Outbox`] holds before it sends without waiting for the turn's
/// end: bytes, and datagrams.
const OUTBOX_BYTES: usize = 256 * 1024;
const OUTBOX_DATAGRAMS: usize = 4 * BATCH;

/// The largest datagram an [`Inbox`] slot needs to hold (an IP datagram's
/// payload, rounded up).
const MAX_SLOT: usize = 64 * 1024;

/// Received datagrams of one listener, lent in arrival order.
pub(crate) struct Inbox {
    /// [`BATCH`] slots of `slot` bytes (allocated zeroed: the kernel maps
    /// only the pages datagrams touch).
    storage: Vec<u8>,
    slot: usize,
    meta: [RecvMeta; BATCH],
    /// Datagrams in `meta`, the next to lend, and with GRO the offset of the
    /// next segment in its slot.
    count: usize,
    next: usize,
    offset: usize,
    /// The last batch was short: the socket was empty then, and an edge
    /// will say when it is not.
    drained: bool,
}

impl Inbox {
    /// An inbox whose slots hold `space` bytes each (the loop's read
    /// buffer; with GRO, the most the kernel coalesces).
    pub(crate) fn new(space: usize, gro: bool) -> Inbox {
        let slot = if gro { MAX_SLOT } else { space.clamp(1, MAX_SLOT) };
        Inbox {
            storage: vec![0; slot * BATCH],
            slot,
            meta: [RecvMeta::default(); BATCH],
            count: 0,
            next: 0,
            offset: 0,
            drained: false,
        }
    }

    /// The next datagram: one already received, or the first of a new
    /// batch. `WouldBlock` when none is waiting. A datagram longer than the
    /// loop's read buffer (`limit`) is cut to it, as a single receive would.
    pub(crate) fn next(&mut self, fd: BorrowedFd<'_>, limit: usize) -> io::Result<(&mut [u8], SocketAddr)> {
        loop {
            while self.next < self.count {
                let m = self.meta[self.next];
                let start = self.next * self.slot;
                let Some(from) = m.from else {
                    self.next += 1;
                    continue;
                };
                let (begin, end) = match m.segment {
                    0 => {
                        self.next += 1;
                        (start, start + m.len)
                    }
                    seg => {
                        let begin = start + self.offset;
                        let end = (begin + seg).min(start + m.len);
                        self.offset += seg;
                        if self.offset >= m.len {
                            self.next += 1;
                            self.offset = 0;
                        }
                        (begin, end)
                    }
                };
                let end = end.min(begin + limit);
                return Ok((&mut self.storage[begin..end], from));
            }
            if self.drained {
                self.drained = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = udp::recv_mmsg(fd, &mut self.storage, self.slot, &mut self.meta)?;
            self.count = n;
            self.next = 0;
            self.offset = 0;
            self.drained = n < BATCH;
        }
    }
}

/// One datagram waiting in an [`Outbox`]: its listener, remote, and bytes.
struct Queued {
    listener: usize,
    to: SocketAddr,
    start: usize,
    len: usize,
}

/// The datagrams written during a turn, for every listener of a loop.
pub(crate) struct Outbox {
    bytes: Vec<u8>,
    queued: Vec<Queued>,
    /// Runs to one remote go as one segmented send.
    gso: bool,
}

impl Outbox {
    pub(crate) fn new(gso: bool) -> Outbox {
        Outbox {
            bytes: Vec::new(),
            queued: Vec::new(),
            gso,
        }
    }

    /// Whether `len` more bytes fit before the outbox must be flushed.
    pub(crate) fn has_room(&self, len: usize) -> bool {
        self.queued.len() < OUTBOX_DATAGRAMS && self.bytes.len() + len <= OUTBOX_BYTES
    }

    pub(crate) fn push(&mut self, listener: usize, data: &[u8], to: SocketAddr) {
        self.queued.push(Queued {
            listener,
            to,
            start: self.bytes.len(),
            len: data.len(),
        });
        self.bytes.extend_from_slice(data);
    }

    /// Sends everything queued, in order; `sock` gives each listener's
    /// socket. A datagram the kernel refuses (a full send buffer included:
    /// the loop never waits for UDP) is dropped and logged, as a single send
    /// would be.
    pub(crate) fn flush<'s>(&mut self, sock: impl Fn(usize) -> Option<BorrowedFd<'s>>) {
        let mut i = 0;
        while i < self.queued.len() {
            let listener = self.queued[i].listener;
            let (first, _) = self.run(i);
            let mut msgs = [first; BATCH];
            let mut counts = [0usize; BATCH];
            let mut n = 0;
            let mut j = i;
            while j < self.queued.len() && self.queued[j].listener == listener && n < BATCH {
                let (d, count) = self.run(j);
                (msgs[n], counts[n]) = (d, count);
                n += 1;
                j += count;
            }
            match sock(listener) {
                Some(fd) => self.gso &= send_batch(fd, &msgs[..n], &counts[..n]),
                None => log::debug!("revio: {} datagrams for a closed UDP listener dropped", j - i),
            }
            i = j;
        }
        self.queued.clear();
        self.bytes.clear();
    }

    /// The datagram at `j`, or with GSO the longest run from `j` that one
    /// segmented send can carry: same listener and remote, every datagram
    /// of the first one's size but the last, which may be shorter.
    fn run(&self, j: usize) -> (Datagram<'_>, usize) {
        let first = &self.queued[j];
        let mut count = 1;
        let mut len = first.len;
        if self.gso && first.len > 0 && first.len <= usize::from(u16::MAX) {
            while let Some(q) = self.queued.get(j + count) {
                let adjacent =
                    q.listener == first.listener && q.to == first.to && q.start == first.start + len;
                if !adjacent
                    || q.len == 0
                    || q.len > first.len
                    || count == MAX_SEGMENTS
                    || len + q.len > MAX_SEGMENTED
                {
                    break;
                }
                len += q.len;
                count += 1;
                if q.len < first.len {
                    break;
                }
            }
        }
        let data = &self.bytes[first.start..first.start + len];
        let segment = if count > 1 { first.len as u16 } else { 0 };
        (
            Datagram {
                data,
                to: first.to,
                segment,
            },
            count,
        )
    }
}

/// Sends one listener's batch (`counts[k]` datagrams in `msgs[k]`),
/// dropping what the kernel refuses; returns whether segmented sends still
/// work.
fn send_batch(fd: BorrowedFd<'_>, msgs: &[Datagram<'_>], counts: &[usize]) -> bool {
    let mut gso = true;
    let mut at = 0;
    while at < msgs.len() {
        match udp::send_mmsg(fd, &msgs[at..]) {
            Ok(n) => at += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let dropped: usize = counts[at..].iter().sum();
                log::debug!("revio: UDP send buffer full: {dropped} datagram(s) dropped");
                break;
            }
            Err(e) if msgs[at].segment != 0 && gso_refused(&e) => {
                // The device cannot segment (EIO) or the kernel lacks it:
                // this run goes one datagram at a time, and so will the next.
                log::debug!("revio: UDP segmentation offload refused ({e}); sending datagrams one by one");
                gso = false;
                one_by_one(fd, &msgs[at]);
                at += 1;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                // No sendmmsg (Linux before 3.0): each with its own call.
                for d in &msgs[at..] {
                    one_by_one(fd, d);
                }
                break;
            }
            Err(e) => {
                log::debug!(
                    "revio: UDP send of {} datagram(s) to {}: {e}",
                    counts[at],
                    msgs[at].to
                );
                at += 1;
            }
        }
    }
    gso
}

/// Sends `d` (a run split at its segment size) one datagram per call.
fn one_by_one(fd: BorrowedFd<'_>, d: &Datagram<'_>) {
    let size = match d.segment {
        0 => d.data.len().max(1),
        s => usize::from(s),
    };
    let to = socket2::SockAddr::from(d.to);
    // An empty datagram is one too (chunks of nothing are none).
    let empty: &[&[u8]] = if d.data.is_empty() { &[&[]] } else { &[] };
    for data in d.data.chunks(size).chain(empty.iter().copied()) {
        let sent = socket2::SockRef::from(&fd).send_to_with_flags(
            data,
            &to,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
        if let Err(e) = sent {
            log::debug!("revio: UDP send to {}: {e}", d.to);
        }
    }
}

fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

impl Outbox {
    /// Segmented sends stay on only where every UDP listener's socket takes
    /// them (probed once, when the listener is handed over).
    fn check_gso(&mut self, fd: BorrowedFd<'_>, options: UdpOptions) {
        if self.gso && !(options.batch && udp::gso_supported(fd)) {
            log::debug!("revio: UDP segmentation offload is off on this loop");
            self.gso = false;
        }
    }
}

/// Probes a UDP listener's kernel once, when it is handed over: without
/// `recvmmsg` (Linux before 2.6.33, or a sandbox that filters it), the
/// backend receives and sends one datagram per system call, with no
/// offloads; then segmented sends and receive offload are probed.
pub(crate) fn probe(fd: BorrowedFd<'_>, options: &mut UdpOptions, outbox: &mut Outbox) {
    if options.batch && !udp::mmsg_supported(fd) {
        log::warn!("revio: recvmmsg is not available here: UDP datagrams go one per system call");
        *options = UdpOptions {
            batch: false,
            gso: false,
            gro: false,
        };
    }
    outbox.check_gso(fd, *options);
    set_gro(fd, *options);
}

/// Turns receive offload on for a UDP listener if the configuration asks
/// for it (and batching is on: only a batched receive learns the segment
/// size that splits a coalesced buffer back into datagrams).
fn set_gro(fd: BorrowedFd<'_>, options: UdpOptions) {
    if options.batch && options.gro {
        if let Err(e) = udp::set_gro(fd, true) {
            log::warn!("revio: UDP receive offload (Config::udp_gro) is not available here: {e}");
        }
    }
}
