//! Several loops: balancing policies, SO_REUSEPORT, routing of wakes and
//! shutdown, and threads joined when `serve` returns.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Balance, Config, Conn, ConnId, Handler, Server};

/// Per-loop handler: records (loop, id) on open and close; echoes; "stop"
/// shuts the server down from whichever loop owns the connection.
#[derive(Clone)]
struct PerLoop {
    index: usize,
    opened: Arc<Mutex<Vec<(usize, ConnId)>>>,
    closed: Arc<Mutex<Vec<(usize, ConnId)>>>,
    servers: Arc<Mutex<Vec<Server>>>,
}

impl Handler for PerLoop {
    type State = ();
    fn serving(&mut self, s: &Server) -> Action {
        self.servers.lock().unwrap().push(s.clone());
        Action::None
    }
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        assert_eq!(c.id().loop_index(), self.index, "opened on the loop its id names");
        self.opened.lock().unwrap().push((self.index, c.id()));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if input == b"stop" {
            return Action::Shutdown;
        }
        if input == b"?" {
            c.write(&[b'0' + self.index as u8]);
            return Action::None;
        }
        c.write(input);
        Action::None
    }
    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        c.write(format!("woken on loop {}\n", self.index).as_bytes());
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, _: Option<io::Error>) {
        assert_eq!(c.id().loop_index(), self.index, "closed on its own loop");
        self.closed.lock().unwrap().push((self.index, c.id()));
    }
}

struct Multi {
    server: Server,
    opened: Arc<Mutex<Vec<(usize, ConnId)>>>,
    closed: Arc<Mutex<Vec<(usize, ConnId)>>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Multi {
    fn start(b: Backend, loops: usize, balance: Balance, addrs: &[&str]) -> Multi {
        let opened = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(Vec::new()));
        let servers = Arc::new(Mutex::new(Vec::new()));
        let (o, c, s) = (opened.clone(), closed.clone(), servers.clone());
        let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        let (etx, erx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let r = Config::new().backend(b).loops(loops).balance(balance).serve_with(
                |index| PerLoop {
                    index,
                    opened: o.clone(),
                    closed: c.clone(),
                    servers: s.clone(),
                },
                &addrs,
            );
            if let Err(e) = &r {
                let _ = etx.send(e.to_string());
            }
            r
        });
        wait_until("every loop serving", || {
            if let Ok(e) = erx.try_recv() {
                panic!("serve failed: {e}");
            }
            servers.lock().unwrap().len() == loops
        });
        let server = servers.lock().unwrap()[0].clone();
        Multi {
            server,
            opened,
            closed,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.server.addrs()[0].socket_addr().unwrap()).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s
    }

    fn per_loop(&self, loops: usize) -> Vec<usize> {
        let mut n = vec![0; loops];
        for (l, _) in self.opened.lock().unwrap().iter() {
            n[*l] += 1;
        }
        n
    }

    fn join(mut self) -> io::Result<()> {
        let t = self.thread.take().unwrap();
        wait_until("serve returned", || t.is_finished());
        t.join().unwrap()
    }
}

impl Drop for Multi {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.server.shutdown();
            let _ = t.join();
        }
    }
}

fn round_robin_spreads_40_connections_10_per_loop(b: Backend) {
    let m = Multi::start(b, 4, Balance::RoundRobin, &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<TcpStream> = (0..40).map(|_| m.connect()).collect();
    for c in &mut conns {
        assert_eq!(roundtrip(c, b"x"), b"x");
    }
    assert_eq!(m.per_loop(4), vec![10, 10, 10, 10]);
    assert_eq!(m.server.loops(), 4);
    m.server.shutdown();
    m.join().unwrap();
}

fn least_connections_fills_the_emptiest_loop(b: Backend) {
    let m = Multi::start(b, 3, Balance::LeastConnections, &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<TcpStream> = (0..6).map(|_| m.connect()).collect();
    for c in &mut conns {
        assert_eq!(roundtrip(c, b"x"), b"x");
    }
    assert_eq!(m.per_loop(3), vec![2, 2, 2]);
    // Close both connections of one loop: the next two go there.
    let victim_loop = which(&mut conns[0]);
    let mut keep = Vec::new();
    for mut c in conns {
        if which(&mut c) != victim_loop {
            keep.push(c);
        }
    }
    wait_until("two closed", || m.closed.lock().unwrap().len() == 2);
    for _ in 0..2 {
        let mut c = m.connect();
        assert_eq!(which(&mut c), victim_loop);
        keep.push(c);
    }
    m.server.shutdown();
    m.join().unwrap();
}

fn source_addr_hash_sends_one_source_to_one_loop(b: Backend) {
    let m = Multi::start(b, 4, Balance::SourceAddrHash, &["tcp://127.0.0.1:0"]);
    let target = m.server.addrs()[0].socket_addr().unwrap();
    let mut by_source = std::collections::HashMap::new();
    for src in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        for _ in 0..5 {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.bind(&format!("{src}:0").parse::<std::net::SocketAddr>().unwrap().into())
                .unwrap();
            s.connect(&target.into()).unwrap();
            let mut c: TcpStream = s.into();
            c.set_read_timeout(Some(LIMIT)).unwrap();
            assert_eq!(roundtrip(&mut c, b"h"), b"h");
            let last = *m.opened.lock().unwrap().last().unwrap();
            by_source.entry(src).or_insert_with(Vec::new).push(last.0);
        }
    }
    for (src, loops) in &by_source {
        assert!(
            loops.iter().all(|l| *l == loops[0]),
            "{src} went to loops {loops:?}"
        );
    }
    m.server.shutdown();
    m.join().unwrap();
}

fn reuseport_serves_every_connection_on_several_loops(b: Backend) {
    let m = Multi::start(b, 2, Balance::ReusePort, &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<TcpStream> = (0..40).map(|_| m.connect()).collect();
    for c in &mut conns {
        assert_eq!(roundtrip(c, b"r"), b"r");
    }
    let n = m.per_loop(2);
    assert_eq!(n.iter().sum::<usize>(), 40);
    if cfg!(target_os = "linux") {
        assert!(
            n.iter().all(|&k| k > 0),
            "the kernel spread connections over both loops: {n:?}"
        );
    }
    m.server.shutdown();
    m.join().unwrap();
}

fn unix_socket_with_several_loops_uses_the_policy(b: Backend) {
    let path = TempPath::new("loops");
    let m = Multi::start(b, 2, Balance::ReusePort, &[&path.url()]);
    let mut conns: Vec<_> = (0..4).map(|_| unix_connect(&path.0)).collect();
    for c in &mut conns {
        c.write_all(b"u").unwrap();
        assert_eq!(read_n(c, 1), b"u");
    }
    assert_eq!(m.per_loop(2), vec![2, 2]);
    m.server.shutdown();
    m.join().unwrap();
    assert!(!path.0.exists());
}

fn wake_from_a_thread_reaches_a_connection_on_loop_3(b: Backend) {
    let m = Multi::start(b, 4, Balance::RoundRobin, &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<TcpStream> = (0..4).map(|_| m.connect()).collect();
    for c in &mut conns {
        assert_eq!(roundtrip(c, b"x"), b"x");
    }
    let i = conns.iter_mut().position(|c| which(c) == 3).unwrap();
    let opened = m.opened.lock().unwrap().clone();
    let id = opened.iter().find(|(l, _)| *l == 3).unwrap().1;
    let s = m.server.clone();
    assert!(std::thread::spawn(move || s.wake(id)).join().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut conns[i]), &mut line).unwrap();
    assert_eq!(line, "woken on loop 3\n");
    m.server.shutdown();
    m.join().unwrap();
}

fn shutdown_from_loop_2_closes_connections_on_every_loop(b: Backend) {
    let m = Multi::start(b, 4, Balance::RoundRobin, &["tcp://127.0.0.1:0"]);
    let mut conns: Vec<TcpStream> = (0..8).map(|_| m.connect()).collect();
    for c in &mut conns {
        assert_eq!(roundtrip(c, b"x"), b"x");
    }
    let i = conns.iter_mut().position(|c| which(c) == 2).unwrap();
    conns[i].write_all(b"stop").unwrap();
    let closed = m.closed.clone();
    m.join().unwrap();
    let closed = closed.lock().unwrap();
    assert_eq!(closed.len(), 8);
    for l in 0..4 {
        assert_eq!(closed.iter().filter(|(k, _)| *k == l).count(), 2);
    }
    for c in &mut conns {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap_or(0), 0);
    }
}

fn dial_from_another_thread_goes_to_some_loop_and_stays_there(b: Backend) {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let m = Multi::start(b, 3, Balance::RoundRobin, &["tcp://127.0.0.1:0"]);
    let ids: Vec<ConnId> = (0..3)
        .map(|_| {
            m.server
                .dial(&upstream.local_addr().unwrap().to_string(), None)
                .unwrap()
        })
        .collect();
    let mut loops: Vec<usize> = ids.iter().map(|id| id.loop_index()).collect();
    loops.sort();
    assert_eq!(
        loops,
        vec![0, 1, 2],
        "dials from outside take turns over the loops"
    );
    let peers: Vec<_> = (0..3).map(|_| upstream.accept().unwrap().0).collect();
    wait_until("3 opened", || m.opened.lock().unwrap().len() == 3);
    for (l, id) in m.opened.lock().unwrap().iter() {
        assert_eq!(*l, id.loop_index());
    }
    drop(peers);
    m.server.shutdown();
    m.join().unwrap();
}

/// Asks a connection which loop serves it.
fn which(c: &mut TcpStream) -> usize {
    (roundtrip(c, b"?")[0] - b'0') as usize
}

#[test]
fn config_serve_with_several_loops_asks_for_serve_with() {
    let err = Config::new()
        .loops(2)
        .serve(Echo, ["tcp://127.0.0.1:0"])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("serve_with"));
    let _ = Duration::ZERO;
}

per_backend!(
    round_robin_spreads_40_connections_10_per_loop,
    least_connections_fills_the_emptiest_loop,
    source_addr_hash_sends_one_source_to_one_loop,
    reuseport_serves_every_connection_on_several_loops,
    #[cfg_attr(windows, ignore = "unix sockets: revio serves them on unix systems only")]
    unix_socket_with_several_loops_uses_the_policy,
    wake_from_a_thread_reaches_a_connection_on_loop_3,
    shutdown_from_loop_2_closes_connections_on_every_loop,
    dial_from_another_thread_goes_to_some_loop_and_stays_there,
);
