//! The http-server example's time limits over real sockets: the header
//! timeout against slowloris, the request timeout against a trickled body
//! (R.U.D.Y.), plain and TLS, and neither cutting a request that keeps pace or a
//! keep-alive connection idle between requests.

#[path = "../../tests/common/mod.rs"]
mod common;
mod http_support;
mod tls_support;

#[allow(dead_code, unused_imports)]
#[path = "../../examples/http-server/main.rs"]
mod http_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use http_support::read_responses;
use revio::{Backend, Tls};

/// The example's server (plain and TLS ports) with these request limits.
fn start_timed(b: Backend, header: Option<Duration>, request: Option<Duration>) -> Running {
    let (cert, key) = http_server::self_signed().unwrap();
    let tls = Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let http = http_server::Http::new(false)
        .header_timeout(header)
        .request_timeout(request);
    let config = revio::Config::new().backlog(4096);
    start_with(
        b,
        config,
        http_server::handler(tls, http),
        &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"],
    )
}

/// `count` connections to the plain port, each sent `first`, non-blocking.
fn open_slow(srv: &Running, count: usize, first: &[u8]) -> Vec<TcpStream> {
    let addr = srv.addr(0);
    let mut slow: Vec<TcpStream> = (0..count)
        .map(|_| {
            let s = TcpStream::connect(&addr).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    for s in &mut slow {
        s.write_all(first).unwrap();
    }
    slow
}

/// Sends each of `slow` one byte every 100 ms until the server has closed
/// them all (they stay active: only the request is late), failing if any is
/// answered or still open after [`LIMIT`]. A normal client is served on
/// another connection each round meanwhile.
fn trickle_until_closed(srv: &Running, mut slow: Vec<TcpStream>) {
    let mut normal = srv.connect(0);
    let deadline = Instant::now() + LIMIT;
    let mut open = slow.len();
    let mut served = 0;
    while open > 0 {
        assert!(Instant::now() < deadline, "{open} slow connections still open");
        open = 0;
        for s in &mut slow {
            let mut b = [0u8; 64];
            let closed = match s.read(&mut b) {
                Ok(0) => true,
                Ok(_) => panic!("a slow connection got an answer"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            if !closed {
                open += 1;
                let _ = s.write_all(b"X");
            }
        }
        normal.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_responses(&mut normal, 1)[0].status, 200);
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served > 0);
}

/// Slowloris: connections that send a request head a byte at a time, never
/// finishing it, are each closed by the header timeout (1 s here), while a
/// normal client is served throughout. 2,000 of them on the readiness
/// backend; 200 on the std backend, which spends two threads on each.
fn slowloris_connections_are_closed_by_the_header_timeout(b: Backend) {
    let count = if b == Backend::Std { 200 } else { 2000 };
    let srv = start_timed(b, Some(Duration::from_secs(1)), None);
    let slow = open_slow(&srv, count, b"GET / HTTP/1.1\r\nHost: x\r\n");
    trickle_until_closed(&srv, slow);
    srv.stop().unwrap();
}

/// R.U.D.Y.: 200 connections each send a whole head announcing a
/// 1,000,000-byte body, then the body a byte every 100 ms. The head timeout
/// is over; the request timeout (1 s) closes them all, while a normal
/// client is served throughout.
fn trickled_bodies_are_closed_by_the_request_timeout(b: Backend) {
    let srv = start_timed(b, Some(Duration::from_secs(1)), Some(Duration::from_secs(1)));
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    let slow = open_slow(&srv, 200, head);
    trickle_until_closed(&srv, slow);
    srv.stop().unwrap();
}

/// The same over TLS: the request timeout runs on the plaintext inside
/// (through `Translate`), and the trickled connection is closed: a write to
/// it fails before [`LIMIT`].
fn a_trickled_body_over_tls_is_closed_by_the_request_timeout(b: Backend) {
    let srv = start_timed(b, None, Some(Duration::from_secs(1)));
    let (cert, _) = http_server::self_signed().unwrap();
    let mut c = tls_support::client(&srv, 1, &tls_support::trusting(&cert));
    let deadline = Instant::now() + LIMIT;
    let mut send = |bytes: &[u8]| c.write_all(bytes).and_then(|()| c.flush());
    send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n").unwrap();
    while send(b"X").is_ok() {
        assert!(
            Instant::now() < deadline,
            "the trickled TLS connection is still open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    srv.stop().unwrap();
}

/// A body that arrives in pieces, for twice the header timeout but whole
/// within the request timeout, is served, and so is the next request on the
/// same connection.
fn a_body_that_keeps_pace_is_served(b: Backend) {
    let srv = start_timed(b, Some(Duration::from_secs(1)), Some(Duration::from_secs(5)));
    let mut c = srv.connect(0);
    // The head in two pieces: the limit changes when it is whole.
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(b"Content-Length: 20\r\n\r\n").unwrap();
    for byte in b"0123456789abcdefghij" {
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(&[*byte]).unwrap();
    }
    assert_eq!(read_responses(&mut c, 1)[0].status, 200);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 200);
    srv.stop().unwrap();
}

/// A keep-alive connection quiet between requests for longer than both
/// request limits is not closed by them (only the idle timeout, off here,
/// covers that): each request after a pause is served.
fn keep_alive_idle_between_requests_is_not_cut_by_the_request_timeout(b: Backend) {
    let srv = start_timed(b, Some(Duration::from_secs(1)), Some(Duration::from_secs(1)));
    let mut c = srv.connect(0);
    for _ in 0..2 {
        // A pipelined pair whose second request is left unfinished, then
        // finished: its deadline must be cleared once it is whole.
        c.write_all(b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        assert_eq!(read_responses(&mut c, 1)[0].status, 200);
        c.write_all(b"ok").unwrap();
        assert_eq!(read_responses(&mut c, 1)[0].status, 200);
        std::thread::sleep(Duration::from_millis(2500));
    }
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 200);
    srv.stop().unwrap();
}

per_backend!(
    slowloris_connections_are_closed_by_the_header_timeout,
    trickled_bodies_are_closed_by_the_request_timeout,
    a_trickled_body_over_tls_is_closed_by_the_request_timeout,
    a_body_that_keeps_pace_is_served,
    keep_alive_idle_between_requests_is_not_cut_by_the_request_timeout,
);
