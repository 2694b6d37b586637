//! Datagrams in batches (Linux: recvmmsg, sendmmsg at the end of a turn,
//! segmented sends and receive offload), seen from outside: order within a
//! remote, nothing lost that the kernel delivered, eviction mid-batch, cut
//! datagrams, and the offloads on and off. Each also runs with batching
//! forced off (the one-by-one fallback) where the test hooks are built.

mod common;

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use revio::{Action, Backend, Config, Conn, Handler};

/// The configurations each test runs under: the default, and where the
/// hooks exist, segmentation off and batching off.
fn configs() -> Vec<(&'static str, Config)> {
    #[allow(unused_mut)]
    let mut v = vec![("default", Config::new())];
    #[cfg(feature = "test-hooks")]
    {
        v.push(("no segmentation", Config::new().__no_udp_segmentation()));
        v.push(("one by one", Config::new().__udp_one_by_one()));
    }
    v
}

/// Answers each datagram with `reply_len` bytes: its first 4 bytes (a
/// sequence number) repeated; counts the datagrams and their sizes.
#[derive(Clone, Default)]
struct Reply {
    reply_len: usize,
    seen: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    evicted: Arc<AtomicUsize>,
}

impl Handler for Reply {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        self.seen.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(input.len(), Ordering::SeqCst);
        if self.reply_len > 0 && input.len() >= 4 {
            for i in 0..self.reply_len {
                c.write(&input[i % 4..i % 4 + 1]);
            }
        }
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        if describe(&e).contains("UdpRemoteEvicted") {
            self.evicted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn client(srv: &Running) -> UdpSocket {
    let s = udp_client(srv, 0, "127.0.0.1:0");
    socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20).unwrap();
    s
}

/// Sends `count` numbered datagrams of `len` bytes, at most `window` in
/// flight, and returns the replies' sequence numbers and lengths.
fn exchange(s: &UdpSocket, count: u32, len: usize, window: u32) -> Vec<(u32, usize)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut sent = 0;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    while (got.len() as u32) < count {
        while sent < count && sent < got.len() as u32 + window {
            let mut d = vec![0u8; len];
            d[..4].copy_from_slice(&sent.to_be_bytes());
            s.send(&d).unwrap();
            sent += 1;
        }
        match s.recv(&mut buf) {
            Ok(n) => got.push((u32::from_be_bytes(buf[..4].try_into().unwrap()), n)),
            Err(e) => panic!("{} of {count} replies came: {e}", got.len()),
        }
    }
    got
}

fn order_within_a_remote_is_kept(b: Backend) {
    for (name, config) in configs() {
        let h = Reply {
            reply_len: 64,
            ..Reply::default()
        };
        let srv = start_with(b, config, h, &["udp://127.0.0.1:0"]);
        let s = client(&srv);
        let got = exchange(&s, 3000, 64, 64);
        for (i, (seq, n)) in got.iter().enumerate() {
            assert_eq!((*seq, *n), (i as u32, 64), "{name}: reply {i}");
        }
        srv.stop().unwrap();
    }
}

/// Replies of equal size to one remote leave in runs (one segmented send
/// each, where the kernel takes it); they must arrive as the separate
/// datagrams they were written as, in order, whatever the path.
fn runs_of_replies_to_one_remote_arrive_as_separate_datagrams(b: Backend) {
    for (name, config) in configs() {
        let h = Reply {
            reply_len: 1200,
            ..Reply::default()
        };
        let srv = start_with(b, config, h, &["udp://127.0.0.1:0"]);
        let s = client(&srv);
        for (i, (seq, n)) in exchange(&s, 2000, 16, 32).iter().enumerate() {
            assert_eq!((*seq, *n), (i as u32, 1200), "{name}: reply {i}");
        }
        srv.stop().unwrap();
    }
}

/// The kernel's count of datagrams it dropped at the socket bound to `port`
/// (the last column of /proc/net/udp and udp6).
fn kernel_drops(port: u16) -> usize {
    let mut drops = 0;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1).and_then(|a| a.rsplit(':').next());
            if local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                drops += cols.last().and_then(|d| d.parse::<usize>().ok()).unwrap_or(0);
            }
        }
    }
    drops
}

fn a_burst_loses_nothing_the_kernel_delivered(b: Backend) {
    const BURST: usize = 100_000;
    let h = Reply::default();
    let seen = h.seen.clone();
    let srv = start(b, h, &["udp://127.0.0.1:0"]);
    let port = srv.server.addrs()[0].socket_addr().unwrap().port();
    let before = kernel_drops(port);
    let s = client(&srv);
    for i in 0..BURST as u32 {
        s.send(&i.to_be_bytes()).unwrap();
    }
    let deadline = Instant::now() + LIMIT;
    loop {
        let (handled, dropped) = (seen.load(Ordering::SeqCst), kernel_drops(port) - before);
        if handled + dropped == BURST {
            break;
        }
        assert!(
            Instant::now() < deadline && handled + dropped < BURST,
            "{handled} handled and {dropped} dropped by the kernel, of {BURST} sent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    srv.stop().unwrap();
}

fn eviction_past_the_bound_works_within_a_batch(b: Backend) {
    for (name, config) in configs() {
        let h = Reply {
            reply_len: 8,
            ..Reply::default()
        };
        let evicted = h.evicted.clone();
        let srv = start_with(b, config.max_udp_remotes(4), h, &["udp://127.0.0.1:0"]);
        let clients: Vec<UdpSocket> = (0..16).map(|_| client(&srv)).collect();
        // All sixteen arrive before the loop reads: one batch of new remotes.
        for (i, c) in clients.iter().enumerate() {
            c.send(&(i as u32).to_be_bytes()).unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            let mut buf = [0u8; 64];
            let n = c.recv(&mut buf).unwrap();
            let want: Vec<u8> = (0..8).map(|k| (i as u32).to_be_bytes()[k % 4]).collect();
            assert_eq!(&buf[..n], &want[..], "{name}: client {i} got another's reply");
        }
        wait_until("twelve evictions", || evicted.load(Ordering::SeqCst) >= 12);
        srv.stop().unwrap();
    }
}

fn a_datagram_over_the_read_buffer_is_cut_to_it(b: Backend) {
    for (name, config) in configs() {
        let h = Reply::default();
        let (seen, bytes) = (h.seen.clone(), h.bytes.clone());
        let srv = start_with(b, config.read_buffer(1000), h, &["udp://127.0.0.1:0"]);
        let s = client(&srv);
        s.send(&[1u8; 3000]).unwrap();
        s.send(&[2u8; 10]).unwrap();
        wait_until("both datagrams", || seen.load(Ordering::SeqCst) == 2);
        assert_eq!(bytes.load(Ordering::SeqCst), 1010, "{name}");
        srv.stop().unwrap();
    }
}

per_backend!(
    order_within_a_remote_is_kept,
    runs_of_replies_to_one_remote_arrive_as_separate_datagrams,
    #[cfg_attr(
        windows,
        ignore = "needs the kernel's count of dropped datagrams (/proc/net/udp)"
    )]
    a_burst_loses_nothing_the_kernel_delivered,
    eviction_past_the_bound_works_within_a_batch,
    #[cfg_attr(
        windows,
        ignore = "Windows fails a receive into a short buffer (WSAEMSGSIZE): the datagram is dropped"
    )]
    a_datagram_over_the_read_buffer_is_cut_to_it,
);

/// The offloads, seen with a client that can tell: segmented sends reach a
/// receiver with GRO on as coalesced buffers, and the server's own GRO
/// must split coalesced input back into datagrams.
#[cfg(target_os = "linux")]
mod offload {
    use std::os::fd::AsFd;

    use revio_uring::udp::{self, Datagram, RecvMeta};

    use super::*;

    /// Whether this kernel segments on `s` (some sandboxes lack it).
    fn gso_here(s: &UdpSocket) -> bool {
        let ok = udp::gso_supported(s.as_fd());
        if !ok {
            eprintln!("skipped: UDP_SEGMENT is not supported here");
        }
        ok
    }

    /// Receives datagrams on a GRO socket until `bytes` have come; returns
    /// how many buffers were coalesced.
    fn coalesced(s: &UdpSocket, bytes: usize) -> usize {
        s.set_nonblocking(true).unwrap();
        let mut storage = vec![0u8; 32 * 65536];
        let mut meta = [RecvMeta::default(); 32];
        let (mut got, mut coalesced) = (0, 0);
        let deadline = Instant::now() + LIMIT;
        while got < bytes {
            assert!(Instant::now() < deadline, "{got} of {bytes} bytes came");
            match udp::recv_mmsg(s.as_fd(), &mut storage, 65536, &mut meta) {
                Ok(n) => {
                    for m in &meta[..n] {
                        got += m.len;
                        coalesced += usize::from(m.segment != 0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        coalesced
    }

    fn replies_to_one_remote_leave_segmented(b: Backend) {
        if b == Backend::Std {
            return; // one datagram per system call, by design
        }
        let h = Reply {
            reply_len: 1200,
            ..Reply::default()
        };
        let srv = start(b, h, &["udp://127.0.0.1:0"]);
        let s = client(&srv);
        if !gso_here(&s) {
            return;
        }
        udp::set_gro(s.as_fd(), true).unwrap();
        // 64 requests in one datagram burst: the loop answers them in one
        // turn (or a few), and each turn's run leaves as one segmented send.
        let mut sent = 0;
        let mut coalesced_buffers = 0;
        for _ in 0..20 {
            for i in 0..64u32 {
                s.send(&i.to_be_bytes()).unwrap();
            }
            sent += 64;
            coalesced_buffers += coalesced(&s, 64 * 1200);
        }
        assert!(
            coalesced_buffers > 0,
            "none of {sent} replies came as a segmented run"
        );
        srv.stop().unwrap();
    }

    fn receive_offload_splits_coalesced_input_into_datagrams(b: Backend) {
        if b == Backend::Std {
            return;
        }
        let h = Reply::default();
        let (seen, bytes) = (h.seen.clone(), h.bytes.clone());
        let srv = start_with(b, Config::new().udp_gro(true), h, &["udp://127.0.0.1:0"]);
        let s = client(&srv);
        if !gso_here(&s) {
            return;
        }
        let to = srv.server.addrs()[0].socket_addr().unwrap();
        let run = vec![7u8; 1200 * 20 + 300];
        // One run at a time, so that none overflows the server's socket.
        for k in 1..=10 {
            let d = Datagram {
                data: &run,
                to,
                segment: 1200,
            };
            assert_eq!(udp::send_mmsg(s.as_fd(), &[d]).unwrap(), 1);
            let deadline = Instant::now() + LIMIT;
            while bytes.load(Ordering::SeqCst) < k * run.len() {
                let (n, b) = (seen.load(Ordering::SeqCst), bytes.load(Ordering::SeqCst));
                assert!(Instant::now() < deadline, "run {k}: {n} data calls, {b} bytes");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(seen.load(Ordering::SeqCst), 210, "one data call per datagram");
        assert_eq!(bytes.load(Ordering::SeqCst), run.len() * 10);
        srv.stop().unwrap();
    }

    per_backend!(
        replies_to_one_remote_leave_segmented,
        receive_offload_splits_coalesced_input_into_datagrams,
    );
}
