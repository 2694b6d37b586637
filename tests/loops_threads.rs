//! No loop thread outlives `serve`: alone in its test binary, so the
//! process's thread list belongs to this test. The threads are counted in
//! /proc, so on Linux only.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::*;
use revio::{Action, Backend, Config, Conn, Handler, Server};

/// Threads of this process whose name starts with `revio`.
fn revio_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("revio"))
                .count()
        })
        .unwrap_or(0)
}

#[derive(Clone)]
struct Hand(std::sync::mpsc::Sender<Server>);

impl Handler for Hand {
    type State = ();
    fn serving(&mut self, s: &Server) -> Action {
        let _ = self.0.send(s.clone());
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
}

fn no_thread_outlives_serve_with_four_loops(b: Backend) {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        Config::new()
            .backend(b)
            .loops(4)
            .serve_with(|_| Hand(tx.clone()), ["tcp://127.0.0.1:0"])
    });
    let servers: Vec<Server> = (0..4).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
    let addr = servers[0].addrs()[0].socket_addr().unwrap();
    let mut conns: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut conns {
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.write_all(b"x").unwrap();
        assert_eq!(read_n(c, 1), b"x");
    }
    assert!(revio_threads() >= 3, "loops 1..3 run on threads of their own");
    servers[2].shutdown();
    wait_until("serve returned", || t.is_finished());
    t.join().unwrap().unwrap();
    assert_eq!(
        revio_threads(),
        0,
        "every loop thread was joined before serve returned"
    );
}

/// The backends run one after another: their threads share one process.
#[test]
fn no_thread_outlives_serve_with_four_loops_on_any_backend() {
    for &b in BACKENDS {
        no_thread_outlives_serve_with_four_loops(b);
    }
}
