//! The chat example: lines reach every other client, whichever loop serves
//! each, with 1, 2 and 4 loops.

mod common;

#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::*;
use revio::{Backend, Balance, Config};

fn every_client_gets_every_other_clients_lines(b: Backend, loops: usize) {
    const CLIENTS: usize = 8;
    const LINES: usize = 5;
    let (tx, rx) = std::sync::mpsc::channel();
    let room = chat::Chat::new();
    let serve = std::thread::spawn(move || {
        Config::new()
            .backend(b)
            .loops(loops)
            .balance(Balance::RoundRobin)
            .serve_with(
                move |_| Capture {
                    inner: room.clone(),
                    tx: tx.clone(),
                },
                ["tcp://127.0.0.1:0"],
            )
    });
    let server = rx.recv_timeout(LIMIT).expect("serving");
    let addr = server.addrs()[0].socket_addr().unwrap();
    let mut clients: Vec<BufReader<TcpStream>> = (0..CLIENTS)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(LIMIT)).unwrap();
            let mut r = BufReader::new(s);
            let mut welcome = String::new();
            r.read_line(&mut welcome).unwrap();
            assert_eq!(welcome, "welcome\n", "in the room once welcomed");
            r
        })
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for n in 0..LINES {
            c.get_mut()
                .write_all(format!("from {i} line {n}\n").as_bytes())
                .unwrap();
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut got: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for _ in 0..(CLIENTS - 1) * LINES {
            let mut line = String::new();
            c.read_line(&mut line).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let (from, n) = (words[1].parse().unwrap(), words[3].parse().unwrap());
            assert_ne!(from, i, "no echo of its own lines");
            got.entry(from).or_default().push(n);
        }
        // From each other client, every line, in the order it was sent.
        assert_eq!(got.len(), CLIENTS - 1);
        for lines in got.values() {
            assert_eq!(lines, &(0..LINES).collect::<Vec<_>>());
        }
    }
    server.shutdown();
    serve.join().unwrap().unwrap();
}

fn with_one_loop(b: Backend) {
    every_client_gets_every_other_clients_lines(b, 1);
}

fn with_two_loops(b: Backend) {
    every_client_gets_every_other_clients_lines(b, 2);
}

fn with_four_loops(b: Backend) {
    every_client_gets_every_other_clients_lines(b, 4);
}

per_backend!(with_one_loop, with_two_loops, with_four_loops);
