//! The UDP floors: a plain blocking loop (`recv_from`, `send_to`: one system
//! call each way per datagram) and a batching loop (`recvmmsg`, `sendmmsg`,
//! on a nonblocking socket waited for with epoll through mio), each echoing
//! every datagram to its sender.
//!
//! `udp-floor --port N [--mode blocking|mmsg]` serves 127.0.0.1:N until
//! killed, with the socket options of revio's UDP listener (the kernel's
//! defaults). A TCP listener on the same port says it is up (the suite waits for
//! a TCP accept).

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsFd;

use mio::{Events, Interest, Poll, Token};
use revio_bench::args::Args;
use revio_uring::udp::{self, BATCH, Datagram, RecvMeta};

fn main() {
    let args = Args::parse("udp-floor --port N [--mode blocking|mmsg]");
    let port: u16 = args.req("--port");
    let mode: String = args.get("--mode", "blocking".to_string());
    let r = (|| {
        let sock = UdpSocket::bind(("127.0.0.1", port))?;
        let _ready = TcpListener::bind(("127.0.0.1", port))?;
        match mode.as_str() {
            "blocking" => blocking(&sock),
            "mmsg" => mmsg(sock),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no mode {other}"),
            )),
        }
    })();
    if let Err(e) = r {
        eprintln!("udp-floor: {e}");
        std::process::exit(1);
    }
}

fn blocking(sock: &UdpSocket) -> io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = sock.recv_from(&mut buf)?;
        if let Err(e) = sock.send_to(&buf[..n], from) {
            eprintln!("udp-floor: send: {e}");
        }
    }
}

fn mmsg(sock: UdpSocket) -> io::Result<()> {
    const SLOT: usize = 2048;
    sock.set_nonblocking(true)?;
    let mut sock = mio::net::UdpSocket::from_std(sock);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut sock, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(8);
    let mut storage = vec![0u8; SLOT * BATCH];
    let mut meta = [RecvMeta::default(); BATCH];
    loop {
        poll.poll(&mut events, None)?;
        loop {
            let n = match udp::recv_mmsg(sock.as_fd(), &mut storage, SLOT, &mut meta) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut replies = [Datagram {
                data: &[],
                to: ([127, 0, 0, 1], 0).into(),
                segment: 0,
            }; BATCH];
            let mut k = 0;
            for (m, slot) in meta[..n].iter().zip(storage.chunks(SLOT)) {
                if let Some(to) = m.from {
                    replies[k] = Datagram {
                        data: &slot[..m.len],
                        to,
                        segment: 0,
                    };
                    k += 1;
                }
            }
            let replies = &replies[..k];
            let mut at = 0;
            while at < replies.len() {
                match udp::send_mmsg(sock.as_fd(), &replies[at..]) {
                    Ok(k) => at += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => at += 1, // dropped, as a full buffer drops it
                }
            }
        }
    }
}
