//! The UDP load generator: `--remotes` sockets, each keeping `--depth`
//! datagrams of `--size` bytes in flight to an echo server, on one thread
//! (mio), batching both ways (`sendmmsg`, `recvmmsg`) so that the client is
//! not the limit. With `--gso`, each socket's datagrams leave as one
//! segmented send and come back with receive offload on (the stream test).
//!
//! `udp-load --addr 127.0.0.1:5000 [--remotes 64] [--depth 8] [--size 64] [--secs 3] [--gso]`
//! prints `msgs=N sent=M lost=L secs=S msgs_per_s=X`. A datagram counts when
//! its echo comes back; one that has not come back 20 ms after its socket
//! last heard anything is counted lost and replaced.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Poll, Token};
use revio_bench::args::Args;
use revio_uring::udp::{self, BATCH, Datagram, MAX_SEGMENTED, MAX_SEGMENTS, RecvMeta};

const LOST_AFTER: Duration = Duration::from_millis(20);

struct Remote {
    sock: MioUdp,
    in_flight: usize,
    heard: Instant,
}

fn main() {
    let args =
        Args::parse("udp-load --addr HOST:PORT [--remotes 64] [--depth 8] [--size 64] [--secs 3] [--gso]");
    let addr: SocketAddr = args.req("--addr");
    let remotes: usize = args.get("--remotes", 64).max(1);
    let depth: usize = args.get("--depth", 8).max(1);
    let size: usize = args.get("--size", 64).clamp(1, 65_000);
    let secs: f64 = args.get("--secs", 3.0);
    let gso = args.flag("--gso");
    if let Err(e) = run(addr, remotes, depth, size, secs, gso) {
        eprintln!("udp-load: {e}");
        std::process::exit(1);
    }
}

fn run(addr: SocketAddr, remotes: usize, depth: usize, size: usize, secs: f64, gso: bool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut socks = Vec::with_capacity(remotes);
    for i in 0..remotes {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.connect(addr)?;
        s.set_nonblocking(true)?;
        let sock2 = socket2::SockRef::from(&s);
        sock2.set_recv_buffer_size(4 << 20)?;
        sock2.set_send_buffer_size(4 << 20)?;
        if gso {
            udp::set_gro(s.as_fd(), true)?;
        }
        let mut sock = MioUdp::from_std(s);
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE)?;
        socks.push(Remote {
            sock,
            in_flight: 0,
            heard: Instant::now(),
        });
    }
    let payload = vec![b'u'; size * MAX_SEGMENTS];
    let slot = if gso { 65_536 } else { size.max(2048) };
    let mut storage = vec![0u8; slot * BATCH];
    let mut meta = [RecvMeta::default(); BATCH];
    let mut events = Events::with_capacity(1024);
    let (mut msgs, mut sent, mut lost) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    for r in socks.iter_mut() {
        sent += top_up(r, addr, depth, size, gso, &payload)?;
    }
    let mut last_sweep = start;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        poll.poll(&mut events, Some((deadline - now).min(LOST_AFTER / 4)))?;
        for ev in events.iter() {
            let r = &mut socks[ev.token().0];
            loop {
                match udp::recv_mmsg(r.sock.as_fd(), &mut storage, slot, &mut meta) {
                    Ok(n) => {
                        for m in &meta[..n] {
                            let count = match m.segment {
                                0 => 1,
                                seg => m.len.div_ceil(seg),
                            };
                            msgs += count as u64;
                            r.in_flight = r.in_flight.saturating_sub(count);
                        }
                        r.heard = Instant::now();
                        if n < BATCH {
                            // Drained: the next arrival is a new edge.
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            sent += top_up(r, addr, depth, size, gso, &payload)?;
        }
        let now = Instant::now();
        if now - last_sweep >= LOST_AFTER / 4 {
            last_sweep = now;
            for r in socks.iter_mut() {
                if r.in_flight > 0 && now - r.heard >= LOST_AFTER {
                    lost += r.in_flight as u64;
                    r.in_flight = 0;
                    r.heard = now;
                    sent += top_up(r, addr, depth, size, gso, &payload)?;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "msgs={msgs} sent={sent} lost={lost} secs={elapsed:.3} msgs_per_s={:.0}",
        msgs as f64 / elapsed
    );
    Ok(())
}

/// Sends what `r` owes to keep `depth` in flight, in batches; returns how
/// many datagrams left. A full send buffer leaves the rest for later.
fn top_up(
    r: &mut Remote,
    to: SocketAddr,
    depth: usize,
    size: usize,
    gso: bool,
    payload: &[u8],
) -> io::Result<u64> {
    let mut total = 0u64;
    while r.in_flight < depth {
        let owed = depth - r.in_flight;
        let mut msgs = [Datagram {
            data: &payload[..size],
            to,
            segment: 0,
        }; BATCH];
        let mut counts = [1usize; BATCH];
        let mut n = 0;
        let mut left = owed;
        while left > 0 && n < BATCH {
            let k = if gso {
                left.min(MAX_SEGMENTS).min(MAX_SEGMENTED / size).max(1)
            } else {
                1
            };
            msgs[n] = Datagram {
                data: &payload[..k * size],
                to,
                segment: if k > 1 { size as u16 } else { 0 },
            };
            counts[n] = k;
            left -= k;
            n += 1;
        }
        match udp::send_mmsg(r.sock.as_fd(), &msgs[..n]) {
            Ok(done) => {
                let k: usize = counts[..done].iter().sum();
                r.in_flight += k;
                total += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}
