//! The echo load generator: N connections, each keeping `depth` messages of
//! `size` bytes in flight, for a fixed time, on one thread (mio).
//!
//! `echo-load --addr 127.0.0.1:5000 [--conns 50] [--depth 1] [--size 64] [--secs 5]`
//! prints `msgs=N secs=S msgs_per_s=X mb_per_s=Y`. A message counts when all
//! of its bytes have come back; a new one is sent for each that completes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use revio_bench::args::Args;

struct Client {
    stream: MioStream,
    /// Bytes still to send.
    to_send: usize,
    /// Bytes received so far.
    received: u64,
}

fn main() {
    let args = Args::parse("echo-load --addr HOST:PORT [--conns 50] [--depth 1] [--size 64] [--secs 5]");
    let addr: SocketAddr = args.req("--addr");
    let conns: usize = args.get("--conns", 50);
    let depth: usize = args.get("--depth", 1).max(1);
    let size: usize = args.get("--size", 64).max(1);
    let secs: f64 = args.get("--secs", 5.0);
    if let Err(e) = run(addr, conns, depth, size, secs) {
        eprintln!("echo-load: {e}");
        std::process::exit(1);
    }
}

fn run(addr: SocketAddr, conns: usize, depth: usize, size: usize, secs: f64) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let mut stream = MioStream::from_std(s);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        clients.push(Client {
            stream,
            to_send: depth * size,
            received: 0,
        });
    }
    // What is sent does not matter to an echo server: one buffer of `depth`
    // messages is the source of every write.
    let payload = vec![b'x'; depth * size];
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    for c in clients.iter_mut() {
        pump_out(c, &payload)?;
    }
    let mut msgs: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        poll.poll(&mut events, Some(deadline - now))?;
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed")),
                    Ok(n) => {
                        let before = c.received / size as u64;
                        c.received += n as u64;
                        let done = c.received / size as u64 - before;
                        msgs += done;
                        c.to_send += done as usize * size;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            pump_out(c, &payload)?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "msgs={msgs} secs={elapsed:.3} msgs_per_s={:.0} mb_per_s={:.1}",
        msgs as f64 / elapsed,
        msgs as f64 * size as f64 / elapsed / 1e6
    );
    Ok(())
}

/// Writes what is owed until done or the socket is full.
fn pump_out(c: &mut Client, payload: &[u8]) -> io::Result<()> {
    while c.to_send > 0 {
        let n = c.to_send.min(payload.len());
        match c.stream.write(&payload[..n]) {
            Ok(w) => c.to_send -= w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
