//! The ring over real sockets: socketpairs and loopback.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use socket2::SockAddr;

use crate::{BufId, Completion, Event, Ring};

const LIMIT: Duration = Duration::from_secs(10);

/// Enters and collects completions until `done` says so (bounded).
fn pump(ring: &mut Ring, mut done: impl FnMut(&mut Ring, Completion) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "no completion within {LIMIT:?}");
        ring.enter(Some(Duration::from_millis(100))).unwrap();
        while let Some(c) = ring.next_completion() {
            if done(ring, c) {
                return;
            }
        }
    }
}

/// Enters until nothing is in flight on the ring, dropping what completes.
fn drain(ring: &mut Ring) {
    let deadline = Instant::now() + LIMIT;
    while ring.live_ops() > 0 {
        assert!(Instant::now() < deadline, "operations still in flight");
        ring.enter(Some(Duration::from_millis(50))).unwrap();
        while let Some(c) = ring.next_completion() {
            if let Event::Received { buf, .. } | Event::Datagram { buf, .. } = c.event {
                ring.give_back(buf);
            }
        }
    }
}

fn pair() -> (UnixStream, OwnedFd) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(LIMIT)).unwrap();
    (a, OwnedFd::from(b))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_multishot_receive_delivers_chunks_in_order() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(8, 64).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    ring.recv_multi(s, g, 42).unwrap();
    let want = pattern(10_000);
    let mut got = Vec::new();
    let writer = {
        let want = want.clone();
        let mut p = peer.try_clone().unwrap();
        std::thread::spawn(move || {
            for c in want.chunks(100) {
                p.write_all(c).unwrap();
            }
        })
    };
    pump(&mut ring, |ring, c| {
        assert_eq!(c.tag, 42);
        match c.event {
            Event::Received { buf, len } => {
                got.extend_from_slice(&ring.buf(&buf)[..len]);
                ring.give_back(buf);
            }
            // The group ran dry between our give-backs: re-arm, nothing is lost.
            Event::Failed(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                assert!(!c.more);
                ring.recv_multi(s, g, 42).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
        got.len() == want.len()
    });
    writer.join().unwrap();
    assert!(got == want, "bytes arrived out of order or changed");
    drop(peer.write_all(b""));
}

#[test]
fn a_buffer_is_never_handed_out_twice() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(4, 16).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    let mut held: Vec<BufId> = Vec::new();
    let mut seen = HashSet::new();
    ring.recv_multi(s, g, 1).unwrap();
    for round in 0..20 {
        peer.write_all(&[round as u8; 64]).unwrap();
        // Hold every buffer the kernel hands out: the whole group.
        pump(&mut ring, |_, c| match c.event {
            Event::Received { buf, len } => {
                assert!(c.more);
                assert_eq!(len, 16);
                assert!(
                    held.iter().all(|h| h.index() != buf.index()),
                    "buffer {} twice",
                    buf.index()
                );
                seen.insert(buf.index());
                held.push(buf);
                held.len() == 4
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(held.len(), 4);
        assert_eq!(ring.free_buffers(g), 0);
        for b in held.drain(..) {
            assert!(ring.buf(&b).iter().all(|&x| x == round as u8));
            ring.give_back(b);
        }
        assert_eq!(ring.free_buffers(g), 4);
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn exhaustion_ends_the_receive_and_a_re_arm_loses_nothing() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(2, 8).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    ring.recv_multi(s, g, 7).unwrap();
    let want = pattern(100);
    peer.write_all(&want).unwrap();
    let mut got = Vec::new();
    let mut held = Vec::new();
    let mut exhausted = 0;
    pump(&mut ring, |ring, c| match c.event {
        Event::Received { buf, len } => {
            got.extend_from_slice(&ring.buf(&buf)[..len]);
            held.push(buf);
            got.len() == want.len()
        }
        Event::Failed(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
            assert!(!c.more, "ENOBUFS ends a multishot receive");
            exhausted += 1;
            // Buffers come back, then the receive is armed again.
            for b in held.drain(..) {
                ring.give_back(b);
            }
            ring.recv_multi(s, g, 7).unwrap();
            false
        }
        other => panic!("unexpected {other:?}"),
    });
    assert!(
        exhausted >= 5,
        "two 8-byte buffers for 100 bytes: ran dry {exhausted} times"
    );
    assert_eq!(got, want);
    for b in held.drain(..) {
        ring.give_back(b);
    }
}

#[test]
fn cancel_then_close() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(4, 64).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    let op = ring.recv_multi(s, g, 3).unwrap();
    ring.cancel(op);
    pump(&mut ring, |_, c| match c.event {
        Event::Failed(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::ECANCELED));
            assert!(!c.more);
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(ring.in_flight(s), 0);
    ring.close(s);
    assert!(!ring.holds(s), "nothing in flight: closed at once");
    let mut b = [0u8; 8];
    assert_eq!(peer.read(&mut b).unwrap(), 0, "the peer sees the close");
}

#[test]
fn close_with_operations_in_flight_reports_nothing_and_closes_after() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(4, 64).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    ring.recv_multi(s, g, 5).unwrap();
    // More than the socket buffer: the send stays in flight (the peer is not reading).
    ring.send(s, vec![b'x'; 8 << 20], 0, 5).unwrap();
    ring.enter(Some(Duration::ZERO)).unwrap();
    assert_eq!(ring.in_flight(s), 2);
    ring.close(s);
    assert!(
        ring.holds(s),
        "the descriptor stays open while the kernel has operations"
    );
    assert!(ring.fd(s).is_none(), "but it is no longer offered");
    peer.write_all(b"late").unwrap();
    let deadline = Instant::now() + LIMIT;
    while ring.holds(s) {
        assert!(Instant::now() < deadline);
        ring.enter(Some(Duration::from_millis(50))).unwrap();
        if let Some(c) = ring.next_completion() {
            panic!("a completion of a closed socket was reported: {c:?}");
        }
    }
    assert_eq!(
        ring.free_buffers(g),
        4,
        "buffers of unreported completions went back"
    );
    // The peer reads what was sent, then the end.
    let mut sink = Vec::new();
    let _ = peer.read_to_end(&mut sink);
    assert!(sink.len() < 8 << 20);
}

#[test]
fn drop_with_operations_in_flight_cancels_and_waits() {
    let (mut peer, fd) = pair();
    let started = Instant::now();
    {
        let mut ring = Ring::new(16).unwrap();
        let g = ring.add_group(4, 64).unwrap();
        let s = ring.add(fd);
        ring.recv_multi(s, g, 1).unwrap();
        ring.send(s, vec![b'y'; 8 << 20], 0, 2).unwrap();
        let _waker = ring.waker(3).unwrap();
        ring.enter(Some(Duration::ZERO)).unwrap();
        assert!(ring.live_ops() >= 3);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop waited for nothing"
    );
    // The socket was closed with the ring: the peer reaches the end.
    let mut sink = Vec::new();
    let _ = peer.read_to_end(&mut sink);
}

#[test]
fn sends_give_their_buffer_back() {
    let mut ring = Ring::new(16).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    let mut buf = Vec::with_capacity(4096);
    buf.extend_from_slice(b"hello, ring");
    let ptr = buf.as_ptr();
    ring.send(s, buf, 7, 9).unwrap();
    pump(&mut ring, |_, c| match c.event {
        Event::Sent { buf, off, result } => {
            assert_eq!((c.tag, off, result.unwrap()), (9, 7, 4));
            assert_eq!(buf.as_ptr(), ptr, "the same allocation comes back");
            assert_eq!(buf.capacity(), 4096);
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    let mut b = [0u8; 4];
    peer.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ring");
}

#[test]
fn release_waits_for_the_kernel_to_let_go() {
    let mut ring = Ring::new(16).unwrap();
    let g = ring.add_group(4, 64).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    ring.recv_multi(s, g, 1).unwrap();
    assert_eq!(ring.release(s).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    ring.cancel_all(s);
    pump(&mut ring, |_, c| !c.more);
    let fd = ring.release(s).unwrap();
    assert!(!ring.holds(s));
    let mut stream = UnixStream::from(fd);
    stream.write_all(b"mine").unwrap();
    let mut b = [0u8; 4];
    peer.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"mine");
}

#[test]
fn accepts_connects_and_datagrams_over_loopback() {
    let mut ring = Ring::new(64).unwrap();
    let g = ring.add_group(8, 2048).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let l = ring.add(OwnedFd::from(listener));
    ring.accept_multi(l, 10).unwrap();
    // A connect through the ring, and two plain clients.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let c = ring.add(OwnedFd::from(sock));
    ring.connect(c, SockAddr::from(addr), 11).unwrap();
    let _clients: Vec<_> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let (mut accepted, mut connected) = (Vec::new(), false);
    pump(&mut ring, |_, c| {
        match (c.tag, c.event) {
            (10, Event::Accepted(fd)) => {
                assert!(c.more, "a multishot accept stays armed");
                accepted.push(fd);
            }
            (11, Event::Connected(r)) => {
                r.unwrap();
                connected = true;
            }
            (t, e) => panic!("unexpected {t} {e:?}"),
        }
        accepted.len() == 3 && connected
    });
    // A connect to a closed port fails with the error.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let c2 = ring.add(OwnedFd::from(sock));
    ring.connect(c2, SockAddr::from(closed_addr), 12).unwrap();
    pump(&mut ring, |_, c| match c.event {
        Event::Connected(r) => {
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    // Datagrams, with their sender.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    let u = ring.add(OwnedFd::from(udp));
    ring.recvmsg_multi(u, g, 13).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in [&b"one"[..], b"two", b"three"] {
        client.send_to(m, udp_addr).unwrap();
    }
    let mut got = Vec::new();
    pump(&mut ring, |ring, c| match c.event {
        Event::Datagram {
            buf,
            data,
            from,
            truncated,
            segment,
        } => {
            assert!(!truncated);
            assert_eq!(segment, 0, "no receive offload asked");
            assert_eq!(from, Some(client.local_addr().unwrap()));
            got.push(ring.buf(&buf)[data].to_vec());
            ring.give_back(buf);
            got.len() == 3
        }
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(got, [&b"one"[..], b"two", b"three"]);
    ring.close(l);
    ring.close(u);
    drain(&mut ring);
    // The listener is closed: connecting is refused now.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_waker_wakes_a_blocked_enter_from_another_thread() {
    let mut ring = Ring::new(8).unwrap();
    let waker = ring.waker(77).unwrap();
    for _ in 0..3 {
        let w = waker.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.wake().unwrap();
        });
        let started = Instant::now();
        pump(&mut ring, |_, c| {
            assert!(matches!(c.event, Event::Woken));
            assert_eq!(c.tag, 77);
            true
        });
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}

#[test]
#[should_panic(expected = "another ring")]
fn a_buffer_token_of_another_ring_is_refused() {
    let mut a = Ring::new(8).unwrap();
    let mut b = Ring::new(8).unwrap();
    let ga = a.add_group(2, 16).unwrap();
    b.add_group(2, 16).unwrap();
    let (mut peer, fd) = pair();
    let s = a.add(fd);
    a.recv_multi(s, ga, 1).unwrap();
    peer.write_all(b"x").unwrap();
    let mut token = None;
    pump(&mut a, |_, c| match c.event {
        Event::Received { buf, .. } => {
            token = Some(buf);
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    let _ = b.buf(token.as_ref().unwrap());
}

#[test]
fn the_probe_passes_here() {
    crate::probe().unwrap();
}

#[test]
fn drop_is_prompt_even_with_a_wake_pending() {
    let started = Instant::now();
    {
        let mut ring = Ring::new(8).unwrap();
        let waker = ring.waker(1).unwrap();
        ring.enter(Some(Duration::ZERO)).unwrap();
        // The read completes with this wake while the ring is dropped: it
        // must not be armed again (the drop would wait for it in vain).
        waker.wake().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        started.elapsed()
    );
}

#[cfg(feature = "bytes")]
#[test]
fn a_shared_send_holds_its_buffer_until_the_kernel_lets_go() {
    let mut ring = Ring::new(16).unwrap();
    let (mut peer, fd) = pair();
    let s = ring.add(fd);
    let page = bytes::Bytes::from(pattern(4096));
    let bufs = vec![page.slice(7..), bytes::Bytes::from_static(b"-"), page.slice(..3)];
    ring.send_shared(s, bufs, 4).unwrap();
    pump(&mut ring, |_, c| match c.event {
        Event::SentShared { bufs, result } => {
            assert_eq!((c.tag, result.unwrap(), bufs.len()), (4, 4093, 3));
            true
        }
        other => panic!("unexpected {other:?}"),
    });
    let mut b = vec![0u8; 4093];
    peer.read_exact(&mut b).unwrap();
    assert_eq!(&b[..4089], &page[7..]);
    assert_eq!(&b[4089..], [&b"-"[..], &page[..3]].concat());
    assert!(page.is_unique(), "the completion gave the reference back");

    // More than the socket buffer, closed in flight: held until the end.
    let big = bytes::Bytes::from(vec![b'z'; 8 << 20]);
    ring.send_shared(s, vec![big.clone()], 5).unwrap();
    ring.enter(Some(Duration::ZERO)).unwrap();
    assert!(
        !big.is_unique(),
        "the ring holds a reference while the kernel sends"
    );
    ring.close(s);
    let deadline = Instant::now() + LIMIT;
    while ring.holds(s) {
        assert!(Instant::now() < deadline);
        ring.enter(Some(Duration::from_millis(50))).unwrap();
        assert!(ring.next_completion().is_none());
    }
    assert!(big.is_unique(), "released once the kernel let go");
    let mut sink = Vec::new();
    let _ = peer.read_to_end(&mut sink);
}
