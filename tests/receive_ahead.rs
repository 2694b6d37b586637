//! What a backend that receives ahead (io_uring's multishot receive into a
//! ring of buffers) must keep true, on every backend: no byte lost when
//! connections outnumber the ring's buffers, a paused connection holds none of
//! them and gets everything intact on resume, a detached stream yields the
//! bytes already received first, and a connection closed with a send in
//! flight never looks like a clean end to its peer.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Detached, Handler};

/// Bytes that tell connection `k` and offset `i` apart.
fn pattern(k: usize, n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + k * 7) % 251) as u8).collect()
}

/// A ring much smaller than the traffic (no-ops for other backends).
fn tiny_ring() -> Config {
    Config::new().uring_buffers(8).uring_buffer_size(512)
}

fn more_connections_than_ring_buffers_lose_nothing(b: Backend) {
    let srv = start_with(b, tiny_ring(), Echo, &["tcp://127.0.0.1:0"]);
    let addr = srv.addr(0);
    let clients: Vec<_> = (0..40)
        .map(|k| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(LIMIT)).unwrap();
                let want = pattern(k, 64 * 1024);
                let mut r = c.try_clone().unwrap();
                let writer = {
                    let want = want.clone();
                    std::thread::spawn(move || c.write_all(&want).unwrap())
                };
                let got = read_n(&mut r, want.len());
                writer.join().unwrap();
                assert!(got == want, "connection {k}: bytes lost or out of order");
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    srv.stop().unwrap();
}

/// Pauses the first connection in `opened`; echoes on every connection.
#[derive(Clone, Default)]
struct PauseFirst {
    first: Arc<Mutex<Option<ConnId>>>,
}

impl Handler for PauseFirst {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        let mut first = self.first.lock().unwrap();
        if first.is_none() {
            *first = Some(c.id());
            c.pause_reading();
        }
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
}

fn a_paused_connection_holds_back_and_resumes_intact(b: Backend) {
    let h = PauseFirst::default();
    let first = h.first.clone();
    let srv = start_with(b, tiny_ring(), h, &["tcp://127.0.0.1:0"]);
    let mut paused = srv.connect(0);
    wait_until("the first connection opened", || first.lock().unwrap().is_some());
    let want = pattern(1, 1 << 20);
    let writer = {
        let mut w = paused.try_clone().unwrap();
        let want = want.clone();
        // Blocks once the kernel's buffers are full: the server is not reading.
        std::thread::spawn(move || w.write_all(&want).unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    // The ring (8 buffers) is not held by the paused connection: others are served.
    let mut other = srv.connect(0);
    for k in 0..10 {
        let msg = pattern(k + 2, 8 * 1024);
        assert!(roundtrip(&mut other, &msg) == msg);
    }
    paused.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut probe = [0u8; 1];
    assert!(paused.read(&mut probe).is_err(), "a paused connection echoed");
    paused.set_read_timeout(Some(LIMIT)).unwrap();
    let id = first.lock().unwrap().unwrap();
    assert!(srv.server.resume_reading(id));
    let got = read_n(&mut paused, want.len());
    writer.join().unwrap();
    assert!(got == want, "what the peer sent while paused came back changed");
    srv.stop().unwrap();
}

/// Detaches at the first input, and hands whatever the detached stream
/// yields (up to its end) to the test.
#[derive(Clone)]
struct DetachAtOnce {
    first: Arc<Mutex<Vec<u8>>>,
    rest: mpsc::Sender<Vec<u8>>,
}

impl Handler for DetachAtOnce {
    type State = ();
    fn data(&mut self, _: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        self.first.lock().unwrap().extend_from_slice(input);
        Action::Detach
    }
    fn detached(&mut self, _: &mut Conn<'_, ()>, mut stream: Detached) {
        let tx = self.rest.clone();
        std::thread::spawn(move || {
            let (rest, end) = read_until_end(&mut stream);
            end.unwrap();
            let _ = tx.send(rest);
        });
    }
}

fn a_detached_stream_yields_the_bytes_already_received_first(b: Backend) {
    let (tx, rx) = mpsc::channel();
    let first = Arc::new(Mutex::new(Vec::new()));
    let h = DetachAtOnce {
        first: first.clone(),
        rest: tx,
    };
    // Small chunks: most of the write is received (ahead) after the first.
    let srv = start_with(b, Config::new().uring_buffer_size(256), h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let want = pattern(3, 256 * 1024);
    c.write_all(&want).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let rest = rx.recv_timeout(LIMIT).expect("the detached stream's bytes");
    let mut got = first.lock().unwrap().clone();
    assert!(!got.is_empty());
    got.extend_from_slice(&rest);
    assert_eq!(got.len(), want.len(), "bytes lost across the detach");
    assert!(got == want, "bytes reordered across the detach");
    srv.stop().unwrap();
}

/// Replies with 8 MiB to any input (more than the kernel buffers hold), and
/// logs how each connection closed.
#[derive(Clone, Default)]
struct BigReply {
    log: Log,
    close: bool,
}

impl Handler for BigReply {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, _: &[u8]) -> Action {
        c.write(&pattern(5, 8 << 20));
        if self.close { Action::Close } else { Action::None }
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, e: Option<std::io::Error>) {
        self.log.push(describe(&e));
    }
}

fn a_send_in_flight_cut_by_shutdown_resets_the_peer(b: Backend) {
    let h = BigReply::default();
    let log = h.log.clone();
    let cfg = Config::new().shutdown_timeout(Duration::from_millis(200));
    let srv = start_with(b, cfg, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"go").unwrap();
    // The reply is under way (in flight with io_uring) and the client reads nothing.
    std::thread::sleep(Duration::from_millis(100));
    let stopper = std::thread::spawn(move || srv.stop());
    log.wait_count("", 1);
    let (got, end) = read_until_end(&mut c);
    assert!(got.len() < 8 << 20);
    assert!(got == pattern(5, 8 << 20)[..got.len()], "the cut output changed");
    assert_reset(end, "a cut reply ended like a whole one");
    let closed = log.snapshot();
    assert_eq!(closed.len(), 1);
    assert!(closed[0].starts_with("TimedOut ShutdownTimeout"), "{closed:?}");
    assert!(!closed[0].contains("unsent: 0 "), "{closed:?}");
    stopper.join().unwrap().unwrap();
}

fn close_after_a_send_in_flight_delivers_all_of_it(b: Backend) {
    let h = BigReply {
        close: true,
        ..BigReply::default()
    };
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    c.write_all(b"go").unwrap();
    // A slow start: the send is in flight (or queued) when `Close` comes.
    std::thread::sleep(Duration::from_millis(100));
    let (got, end) = read_until_end(&mut c);
    end.unwrap();
    assert!(got == pattern(5, 8 << 20), "the reply came back cut or changed");
    log.wait_count("none", 1);
    srv.stop().unwrap();
}

per_backend!(
    more_connections_than_ring_buffers_lose_nothing,
    a_paused_connection_holds_back_and_resumes_intact,
    a_detached_stream_yields_the_bytes_already_received_first,
    a_send_in_flight_cut_by_shutdown_resets_the_peer,
    close_after_a_send_in_flight_delivers_all_of_it,
);
