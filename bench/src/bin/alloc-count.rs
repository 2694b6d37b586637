//! Heap allocations per request, counted (not timed): revio serves an echo
//! handler and a pipelined PING handler in this process, under a counting
//! global allocator, while blocking clients on other threads drive requests.
//!
//! `alloc-count [--requests 100000]` prints one line per scenario:
//! `scenario=NAME requests=N allocs=A allocs_per_request=X bytes=B`.
//! The clients' own loops do not allocate once started, so every allocation
//! counted in the window is the server's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use revio::{Action, Conn, Handler, Server};
use revio_bench::args::Args;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Echoes every byte.
struct Echo(mpsc::Sender<Server>);

/// Answers `+PONG\r\n` per `PING\r\n` line, keeping an unfinished line.
struct Ping(mpsc::Sender<Server>);

impl Handler for Echo {
    type State = ();
    fn serving(&mut self, server: &Server) -> Action {
        let _ = self.0.send(server.clone());
        Action::None
    }
    fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        conn.write(input);
        Action::None
    }
}

impl Handler for Ping {
    type State = ();
    fn serving(&mut self, server: &Server) -> Action {
        let _ = self.0.send(server.clone());
        Action::None
    }
    fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            conn.write(b"+PONG\r\n");
            rest = &rest[nl + 1..];
        }
        conn.keep(rest.len());
        Action::None
    }
}

/// One scenario: each of `conns` clients sends `request` (in `split` writes)
/// and reads `reply_len` bytes, `per_conn` times.
struct Scenario {
    name: &'static str,
    conns: usize,
    request: Vec<u8>,
    split: usize,
    reply_len: usize,
    requests_per_write: u64,
}

fn main() {
    let args = Args::parse("alloc-count [--requests N]");
    let requests: u64 = args.get("--requests", 100_000);
    let scenarios = [
        Scenario {
            name: "echo 64 B, 1 in flight",
            conns: 10,
            request: vec![b'x'; 64],
            split: 1,
            reply_len: 64,
            requests_per_write: 1,
        },
        Scenario {
            name: "echo 16 KiB, 1 in flight",
            conns: 10,
            request: vec![b'x'; 16 * 1024],
            split: 1,
            reply_len: 16 * 1024,
            requests_per_write: 1,
        },
        Scenario {
            name: "PING x16 pipelined, split mid-line (keep)",
            conns: 10,
            request: b"PING\r\n".repeat(16),
            split: 2,
            reply_len: 16 * 7,
            requests_per_write: 16,
        },
    ];
    for sc in &scenarios {
        let (tx, rx) = mpsc::channel();
        let server_thread = if sc.name.starts_with("PING") {
            thread::spawn(move || revio::serve(Ping(tx), ["tcp://127.0.0.1:0"]))
        } else {
            thread::spawn(move || revio::serve(Echo(tx), ["tcp://127.0.0.1:0"]))
        };
        let server = rx.recv().expect("server started");
        let addr = server.addrs()[0].socket_addr().expect("tcp address");
        let rounds = (requests / sc.requests_per_write / sc.conns as u64).max(1);
        // Warm up: connections open, buffers grow to their steady size.
        drive(sc, addr, rounds / 10 + 10, false);
        let counted = drive(sc, addr, rounds, true);
        server.shutdown();
        let _ = server_thread.join();
        let served = rounds * sc.conns as u64 * sc.requests_per_write;
        println!(
            "scenario={} requests={served} allocs={} allocs_per_request={:.4} bytes={}",
            sc.name.replace(' ', "_"),
            counted.0,
            counted.0 as f64 / served as f64,
            counted.1
        );
    }
}

/// Opens the scenario's connections, runs `rounds` requests on each (in
/// parallel threads), and returns the allocations and bytes counted between
/// the moment every client is connected and warm and the moment all are done.
fn drive(sc: &Scenario, addr: SocketAddr, rounds: u64, count: bool) -> (u64, u64) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(sc.conns + 1));
    let done = std::sync::Arc::new(std::sync::Barrier::new(sc.conns + 1));
    let handles: Vec<_> = (0..sc.conns)
        .map(|_| {
            let (barrier, done) = (barrier.clone(), done.clone());
            let (request, split, reply_len) = (sc.request.clone(), sc.split, sc.reply_len);
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                let mut reply = vec![0u8; reply_len];
                let cut = request.len() / split + 1;
                let one = |s: &mut TcpStream, reply: &mut [u8]| {
                    for part in request.chunks(cut) {
                        s.write_all(part).expect("write");
                    }
                    s.read_exact(reply).expect("read");
                };
                one(&mut s, &mut reply);
                barrier.wait();
                for _ in 0..rounds {
                    one(&mut s, &mut reply);
                }
                done.wait();
                // Closing happens after the window.
                drop(s);
            })
        })
        .collect();
    barrier.wait();
    let (a0, b0) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    done.wait();
    let (a1, b1) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    for h in handles {
        h.join().expect("client thread");
    }
    if count { (a1 - a0, b1 - b0) } else { (0, 0) }
}
