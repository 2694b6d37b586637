//! Zero heap allocations per message on the echo path once warm, counted by a
//! global allocator that counts only on the loop's thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use revio::{Action, Backend, Conn, Handler, Server};

struct Counting;

/// One counter per test (tests run in parallel): a loop thread counts into
/// the counter its test chose.
static ALLOCS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

thread_local! {
    static ON_LOOP: Cell<Option<usize>> = const { Cell::new(None) };
}

fn count() {
    if let Some(i) = ON_LOOP.with(|c| c.get()) {
        ALLOCS[i].fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a side effect that touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout, which meets alloc's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The echo handler, marking the loop's thread for counting.
#[derive(Clone)]
struct CountedEcho(usize);

impl Handler for CountedEcho {
    type State = ();
    fn serving(&mut self, _: &Server) -> Action {
        ON_LOOP.with(|c| c.set(Some(self.0)));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
}

/// The counter of backend `b`'s test, TCP or UDP.
fn counter_of(b: Backend, udp: bool) -> usize {
    let i = match b {
        Backend::Poll => 0,
        Backend::Std => 1,
        _ => 2,
    };
    i + if udp { 3 } else { 0 }
}

fn echo_path_allocates_nothing_per_message_once_warm(b: Backend) {
    let counter = counter_of(b, false);
    let allocs = &ALLOCS[counter];
    let srv = start(b, CountedEcho(counter), &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<_> = (0..8).map(|_| srv.connect(0)).collect();
    let msg = [b'm'; 512];
    let mut buf = [0u8; 512 * 16];
    let mut exchange = |conns: &mut Vec<std::net::TcpStream>, rounds: usize| {
        use std::io::{Read, Write};
        for _ in 0..rounds {
            for c in conns.iter_mut() {
                // 16 messages in flight per connection, then read them all back.
                for _ in 0..16 {
                    c.write_all(&msg).unwrap();
                }
                c.read_exact(&mut buf).unwrap();
            }
        }
    };
    exchange(&mut conns, 50); // warm up
    let before = allocs.load(Ordering::Relaxed);
    assert!(
        before > 0,
        "the counter sees the loop thread's allocations (connection table, buffers)"
    );
    exchange(&mut conns, 500); // 64,000 messages
    let after = allocs.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "allocations on the loop thread during 64,000 echoed messages"
    );
    srv.stop().unwrap();
}

/// The same for datagrams: receiving in batches, the remote's lookup, the
/// handler's call and the turn's batched send allocate nothing once warm.
fn udp_echo_allocates_nothing_per_datagram_once_warm(b: Backend) {
    let counter = counter_of(b, true);
    let allocs = &ALLOCS[counter];
    let srv = start(b, CountedEcho(counter), &["udp://127.0.0.1:0"]);
    let socks: Vec<_> = (0..8).map(|_| udp_client(&srv, 0, "127.0.0.1:0")).collect();
    let msg = [b'd'; 512];
    let mut buf = [0u8; 2048];
    let exchange = |rounds: usize, buf: &mut [u8]| {
        for _ in 0..rounds {
            for s in &socks {
                for _ in 0..16 {
                    s.send(&msg).unwrap();
                }
            }
            for s in &socks {
                for _ in 0..16 {
                    assert_eq!(s.recv(buf).unwrap(), msg.len());
                }
            }
        }
    };
    exchange(50, &mut buf); // warm up
    let before = allocs.load(Ordering::Relaxed);
    assert!(before > 0, "the counter sees the loop thread's allocations");
    exchange(250, &mut buf); // 32,000 datagrams
    let after = allocs.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "allocations on the loop thread during 32,000 echoed datagrams"
    );
    srv.stop().unwrap();
}

per_backend!(
    echo_path_allocates_nothing_per_message_once_warm,
    #[cfg_attr(
        windows,
        ignore = "not checked on Windows, whose UDP goes through mio's completion-port layer"
    )]
    udp_echo_allocates_nothing_per_datagram_once_warm,
);
