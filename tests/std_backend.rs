//! What is particular to the std::net fallback (`Backend::Std`): it starts
//! threads, and none of them outlives `serve`; its threads share each socket
//! rather than duplicating descriptors; detach works whatever the reader
//! thread is doing, and sends queued output first. (The behaviour suite runs on
//! this backend too: the `stdlib::` tests of every file.)

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Detached, Handler, Stream};

/// This process's threads, from /proc/self/status.
fn threads() -> usize {
    proc_status("Threads:")
}

/// This process's open descriptors.
fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// How often this process's threads whose name starts with `name` have slept
/// after running (voluntary context switches, from /proc/self/task): each
/// wake-up of a thread that then blocks again adds one.
fn wake_ups(name: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let dir = task.path();
        // A thread may end between listing and reading: skip it.
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.starts_with(name) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("a voluntary_ctxt_switches line");
    }
    total
}

/// Echoes, and counts what opens and closes.
#[derive(Clone, Default)]
struct Counted {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Handler for Counted {
    type State = ();
    fn opened(&mut self, _: &mut Conn<'_, ()>) -> Action {
        self.opened.fetch_add(1, Ordering::SeqCst);
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, _: Option<io::Error>) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

// ----- threads and descriptors ------------------------------------------------

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts threads or descriptors in /proc: Linux only"
)]
fn every_thread_is_joined_when_serve_returns() {
    alone("every_thread_is_joined_when_serve_returns", || {
        let start_count = threads();
        let path = TempPath::new("std-threads");
        let h = Counted::default();
        let (opened, closed) = (h.opened.clone(), h.closed.clone());
        let srv = start(
            Backend::Std,
            h,
            &["tcp://127.0.0.1:0", &path.url(), "udp://127.0.0.1:0"],
        );
        // A connection kept open, one the client closes, a unix one, a dial
        // from the loop to itself, and a UDP remote.
        let mut kept = srv.connect(0);
        assert_eq!(roundtrip(&mut kept, b"kept"), b"kept");
        let mut gone = srv.connect(0);
        assert_eq!(roundtrip(&mut gone, b"gone"), b"gone");
        drop(gone);
        let mut unix = unix_connect(&path.0);
        unix.write_all(b"unix").unwrap();
        assert_eq!(read_n(&mut unix, 4), b"unix");
        srv.server.dial(&format!("tcp://{}", srv.addr(0)), None).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(LIMIT)).unwrap();
        udp.send_to(b"udp", srv.addr(2)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(udp.recv(&mut buf).unwrap(), 3);
        // kept, gone, unix, the dial's two ends, the UDP remote.
        wait_until("six opened", || opened.load(Ordering::SeqCst) == 6);
        wait_until("the closed one closed", || closed.load(Ordering::SeqCst) >= 1);
        let serving = threads();
        assert!(
            serving > start_count + 4,
            "the backend runs threads for its sockets: {start_count} before, {serving} serving"
        );
        srv.stop().unwrap();
        assert_eq!(closed.load(Ordering::SeqCst), 6, "one closed per opened");
        assert_eq!(threads(), start_count, "threads left after serve returned");
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts threads or descriptors in /proc: Linux only"
)]
fn a_connection_costs_one_descriptor() {
    alone("a_connection_costs_one_descriptor", || {
        let srv = start(Backend::Std, Echo, &["tcp://127.0.0.1:0"]);
        let base = descriptors();
        let mut conns: Vec<TcpStream> = (0..10).map(|_| srv.connect(0)).collect();
        for c in &mut conns {
            assert_eq!(roundtrip(c, b"x"), b"x");
        }
        assert_eq!(
            descriptors() - base,
            20,
            "ten client sockets and ten served ones: the threads share each socket"
        );
        drop(conns);
        srv.stop().unwrap();
    });
}

/// The slice a reader idle for long waits in (the std backend's module docs
/// give it as the reader's cost: a wake-up per 1.6 s at most).
const IDLE_SLICE: Duration = Duration::from_millis(1600);

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts wake-ups in /proc and relies on shutdown waking blocked calls: Linux only"
)]
fn idle_sockets_leave_the_backend_threads_asleep() {
    alone("idle_sockets_leave_the_backend_threads_asleep", || {
        const N: u64 = 50;
        let srv = start(Backend::Std, Echo, &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]);
        let mut conns: Vec<TcpStream> = (0..N).map(|_| srv.connect(0)).collect();
        for c in &mut conns {
            assert_eq!(roundtrip(c, b"x"), b"x");
        }
        // Past the readers' ramp to their longest slice (0.1 + 0.2 + 0.4 +
        // 0.8 s); a reader still on the ramp only wakes more, which the bound
        // below allows for once.
        std::thread::sleep(Duration::from_secs(2));
        let names = ["revio-accept", "revio-recv", "revio-write", "revio-read"];
        let before = names.map(wake_ups);
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let after = names.map(wake_ups);
        let window = start.elapsed();
        for i in 0..3 {
            assert_eq!(
                after[i] - before[i],
                0,
                "{} threads woke while nothing happened",
                names[i]
            );
        }
        // Readers wake once per slice only so that detach can stop them: at
        // most once per IDLE_SLICE, plus one on the ramp and one cut by the
        // window's ends, each. (With a slice of 100 ms they woke 20 times.)
        let slices = (window.as_millis() / IDLE_SLICE.as_millis()) as u64;
        let readers = after[3] - before[3];
        assert!(
            readers <= N * (slices + 2),
            "{N} idle readers woke {readers} times in {window:?}"
        );
        for c in &mut conns {
            assert_eq!(roundtrip(c, b"y"), b"y", "an idle connection still serves");
        }
        drop(conns);
        srv.stop().unwrap();
    });
}

/// Queues far more than the sockets hold to a client that never reads, and
/// counts what the backend takes.
#[derive(Clone, Default)]
struct Flood {
    taken: Arc<AtomicUsize>,
}

impl Handler for Flood {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.write(&vec![b'f'; 16 << 20]);
        Action::None
    }
    fn postwrite(&mut self, _: &mut Conn<'_, ()>, amount: usize, _: usize) -> Action {
        self.taken.fetch_add(amount, Ordering::SeqCst);
        Action::None
    }
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts threads or descriptors in /proc: Linux only"
)]
fn shutdown_returns_when_a_peer_never_reads() {
    alone("shutdown_returns_when_a_peer_never_reads", || {
        let start_count = threads();
        let h = Flood::default();
        let taken = h.taken.clone();
        let config = Config::new().shutdown_timeout(Duration::from_millis(300));
        let srv = start_with(Backend::Std, config, h, &["tcp://127.0.0.1:0"]);
        // A small receive window, so that the kernel's buffers hold far less
        // than the 16 MiB queued.
        let silent = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        silent.set_recv_buffer_size(4096).unwrap();
        let addr: std::net::SocketAddr = srv.addr(0).parse().unwrap();
        silent.connect(&addr.into()).unwrap();
        // Wait until the backend takes no more: its writer thread is blocked
        // behind a full socket.
        let mut last = 0;
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            assert!(std::time::Instant::now() < deadline, "output never backed up");
            std::thread::sleep(Duration::from_millis(300));
            let now = taken.load(Ordering::SeqCst);
            if now > 0 && now == last {
                break;
            }
            last = now;
        }
        assert!(last < 16 << 20, "the client never read, yet everything was taken");
        srv.stop().unwrap();
        assert_eq!(threads(), start_count, "threads left after serve returned");
    });
}

/// Dials, and logs what the dial becomes.
#[derive(Clone, Default)]
struct Dialer {
    log: Log,
}

impl Handler for Dialer {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("opened closing={}", c.is_closing()));
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed error={}", e.is_some()));
    }
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts threads or descriptors in /proc: Linux only"
)]
fn shutdown_interrupts_a_dial_still_connecting() {
    alone("shutdown_interrupts_a_dial_still_connecting", || {
        // A listener with a full backlog: Linux drops the SYN on loopback, so
        // the blocking connect on the backend's thread hangs.
        let silent = Unanswering::new();
        let addr = silent.addr;
        let start_count = threads();
        let h = Dialer::default();
        let log = h.log.clone();
        let srv = start(Backend::Std, h, &["tcp://127.0.0.1:0"]);
        let id = srv.server.dial(&format!("tcp://{addr}"), None).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(srv.server.is_live(id), "still connecting");
        srv.stop().unwrap();
        assert_eq!(
            log.snapshot(),
            vec!["opened closing=true", "closed error=true"],
            "the dial ends as a failed one"
        );
        assert_eq!(threads(), start_count, "threads left after serve returned");
    });
}

// ----- detach -------------------------------------------------------------------

/// Detaches a connection when woken (while its reader thread waits for input),
/// then echoes on the blocking stream from a thread of its own.
#[derive(Clone, Default)]
struct WakeDetach {
    ids: Arc<Mutex<Vec<ConnId>>>,
    log: Log,
}

fn timeouts(s: &Stream) -> (Option<Duration>, Option<Duration>) {
    (s.read_timeout().unwrap(), s.write_timeout().unwrap())
}

impl Handler for WakeDetach {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.ids.lock().unwrap().push(c.id());
        Action::None
    }
    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.write(b"detaching\n");
        Action::Detach
    }
    fn detached(&mut self, _: &mut Conn<'_, ()>, stream: Detached) {
        let (pending, mut stream) = stream.into_parts();
        self.log.push(format!("detached pending={}", pending.len()));
        self.log.push(format!("timeouts {:?}", timeouts(&stream)));
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, _: Option<io::Error>) {
        self.log.push("closed");
    }
}

#[test]
fn detach_while_the_reader_waits_hands_over_a_plain_blocking_stream() {
    let h = WakeDetach::default();
    let (ids, log) = (h.ids.clone(), h.log.clone());
    let srv = start(Backend::Std, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    wait_until("opened", || !ids.lock().unwrap().is_empty());
    // Give the reader thread time to block waiting for input.
    std::thread::sleep(Duration::from_millis(50));
    let id = ids.lock().unwrap()[0];
    assert!(srv.server.wake(id));
    assert_eq!(read_n(&mut c, 10), b"detaching\n");
    log.wait_for("detached", |l| l.len() >= 2);
    assert_eq!(
        log.snapshot(),
        vec!["detached pending=0", "timeouts (None, None)"],
        "no timeouts of the backend's own are left on the stream"
    );
    // The blocking side now gets every byte: nothing is left to a reader thread.
    for msg in [&b"one"[..], b"two", b"three"] {
        assert_eq!(roundtrip(&mut c, msg), msg);
    }
    assert!(!srv.server.is_live(id));
    srv.stop().unwrap();
    assert!(
        !log.snapshot().contains(&"closed".to_string()),
        "a detached connection gets no closed"
    );
}

/// On "go": queues a large reply, then detaches; the blocking side then writes
/// its own last words and closes.
#[derive(Clone)]
struct BigThenDetach;

const BIG: usize = 3 << 20;

impl Handler for BigThenDetach {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        let out = c.output();
        out.extend((0..BIG).map(|i| (i % 251) as u8));
        Action::Detach
    }
    fn detached(&mut self, _: &mut Conn<'_, ()>, mut stream: Detached) {
        let _ = stream.write_all(b"after");
    }
}

#[test]
fn detach_sends_queued_output_before_the_hand_over() {
    let srv = start(Backend::Std, BigThenDetach, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"go").unwrap();
    // Let the output back up behind a client that is not reading yet.
    std::thread::sleep(Duration::from_millis(200));
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), BIG + 5, "everything, then end-of-stream");
    assert!(
        all[..BIG].iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
        "the queued output arrives intact"
    );
    assert_eq!(&all[BIG..], b"after", "and before what the blocking side writes");
    srv.stop().unwrap();
}

// ----- many threads at once -------------------------------------------------------

#[test]
fn many_connections_at_once_each_get_their_own_bytes_in_order() {
    let srv = start(Backend::Std, Echo, &["tcp://127.0.0.1:0"]);
    let addr = srv.addr(0);
    let clients: Vec<_> = (0..32u32)
        .map(|k| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).unwrap();
                c.set_read_timeout(Some(LIMIT)).unwrap();
                // Sizes from one byte to past the write queue, so that
                // writes go short and wait for `writable`.
                for round in 0..24u32 {
                    let len = 1 + ((k * 7919 + round * 104_729) as usize % (400 * 1024));
                    let msg: Vec<u8> = (0..len).map(|i| (i as u32 ^ k ^ round) as u8).collect();
                    let mut w = c.try_clone().unwrap();
                    let sent = msg.clone();
                    let writer = std::thread::spawn(move || w.write_all(&sent).unwrap());
                    assert_eq!(read_n(&mut c, len), msg, "client {k} round {round}");
                    writer.join().unwrap();
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    srv.stop().unwrap();
}
