//! The proxy example: accept, dial the upstream on the same loop, pass bytes
//! both ways.

mod common;

#[allow(dead_code)]
#[path = "../examples/proxy/main.rs"]
mod proxy;

use std::io::Write;

use common::*;
use revio::Backend;

fn proxy_passes_a_few_mib_both_ways_intact(b: Backend) {
    let upstream = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let px = start(b, proxy::Proxy::new(&upstream.addr(0)), &["tcp://127.0.0.1:0"]);
    let mut c = px.connect(0);
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let mut w = c.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        for chunk in sent.chunks(65_000) {
            w.write_all(chunk).unwrap();
        }
    });
    let got = read_n(&mut c, data.len());
    writer.join().unwrap();
    assert!(got == data, "bytes through the proxy differ");
    // Closing the client closes the upstream side too.
    drop(c);
    px.stop().unwrap();
    upstream.stop().unwrap();
}

fn proxy_to_a_dead_upstream_closes_the_client(b: Backend) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let px = start(b, proxy::Proxy::new(&dead.to_string()), &["tcp://127.0.0.1:0"]);
    let mut c = px.connect(0);
    let mut buf = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut c, &mut buf).unwrap_or(0), 0);
    px.stop().unwrap();
}

/// Sends a greeting, shuts its writing side, and logs what it receives after.
#[derive(Clone, Default)]
struct GreetThenHalfClose {
    log: Log,
}

impl revio::Handler for GreetThenHalfClose {
    type State = ();
    fn opened(&mut self, c: &mut revio::Conn<'_, ()>) -> revio::Action {
        c.write(b"hello\n");
        c.close_write();
        revio::Action::None
    }
    fn data(&mut self, _: &mut revio::Conn<'_, ()>, input: &[u8]) -> revio::Action {
        self.log.push(format!("data {}", String::from_utf8_lossy(input)));
        revio::Action::None
    }
    fn eof(&mut self, _: &mut revio::Conn<'_, ()>) -> revio::Action {
        self.log.push("eof");
        revio::Action::None
    }
    fn closed(&mut self, _: &mut revio::Conn<'_, ()>, e: Option<std::io::Error>) {
        self.log.push(format!("closed {:?}", e.map(|e| e.kind())));
    }
}

/// `printf 'x\n' | nc -q1 proxy`: the client ends its side at once, and
/// still gets the upstream's answer, then the end of the stream.
fn client_half_close_passes_through_and_the_reply_comes_back(b: Backend) {
    let upstream = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let px = start(b, proxy::Proxy::new(&upstream.addr(0)), &["tcp://127.0.0.1:0"]);
    let mut c = px.connect(0);
    c.write_all(b"x\n").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut c, &mut got).unwrap();
    assert_eq!(got, b"x\n");
    px.stop().unwrap();
    upstream.stop().unwrap();
}

/// The upstream ends its side first: the client reads the greeting and the
/// end of the stream, and what it sends afterwards still reaches the upstream.
fn upstream_half_close_passes_through_and_the_client_can_still_send(b: Backend) {
    let greeter = GreetThenHalfClose::default();
    let log = greeter.log.clone();
    let upstream = start(b, greeter, &["tcp://127.0.0.1:0"]);
    let px = start(b, proxy::Proxy::new(&upstream.addr(0)), &["tcp://127.0.0.1:0"]);
    let mut c = px.connect(0);
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut c, &mut got).unwrap();
    assert_eq!(got, b"hello\n", "the greeting, then end-of-stream");
    c.write_all(b"late\n").unwrap();
    log.wait_for("the late bytes", |l| l.iter().any(|e| e == "data late\n"));
    c.shutdown(std::net::Shutdown::Write).unwrap();
    log.wait_for("eof and closed", |l| {
        l.iter().any(|e| e == "eof") && l.iter().any(|e| e == "closed None")
    });
    px.stop().unwrap();
    upstream.stop().unwrap();
}

per_backend!(
    proxy_passes_a_few_mib_both_ways_intact,
    proxy_to_a_dead_upstream_closes_the_client,
    client_half_close_passes_through_and_the_reply_comes_back,
    upstream_half_close_passes_through_and_the_client_can_still_send
);
