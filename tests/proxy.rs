//! The proxy example: accept, dial the upstream on the same loop, pass bytes
//! both ways.

mod common;

#[allow(dead_code)]
#[path = "../examples/proxy.rs"]
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

per_backend!(
    proxy_passes_a_few_mib_both_ways_intact,
    proxy_to_a_dead_upstream_closes_the_client
);
