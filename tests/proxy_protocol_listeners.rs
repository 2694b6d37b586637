//! Listeners that require a PROXY protocol header (`?proxy=v1|v2|any`): the
//! connection's addresses are the header's, and a connection without a good
//! header in time never reaches the handler.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use revio::proxy_protocol::{Addresses, Encoder, Transport};
use revio::{Action, Backend, Balance, Config, Conn, Handler};

/// Logs each connection's addresses, then echoes.
#[derive(Clone, Default)]
struct Who {
    log: Log,
}

impl Handler for Who {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        let remote = c.remote_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = c.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let tlv = c
            .proxy_header()
            .and_then(|h| h.authority())
            .unwrap_or("-")
            .to_string();
        self.log.push(format!("opened {remote} {local} {tlv}"));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn closed(&mut self, _: &mut Conn<'_, ()>, _: Option<std::io::Error>) {
        self.log.push("closed");
    }
}

fn v2(src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::tcp(src.parse().unwrap(), dst.parse().unwrap())
        .write_v2(&mut out)
        .unwrap();
    out
}

/// Sends `header` then `hello` (in `pieces` writes), reads the echo.
fn through(srv: &Running, header: &[u8], pieces: usize) -> TcpStream {
    let mut c = srv.connect(0);
    let mut all = header.to_vec();
    all.extend_from_slice(b"hello");
    let step = all.len().div_ceil(pieces);
    for chunk in all.chunks(step) {
        c.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(read_n(&mut c, 5), b"hello");
    c
}

fn v1_and_v2_headers_give_the_clients_addresses(b: Backend) {
    let who = Who::default();
    let log = who.log.clone();
    let srv = start(b, who, &["tcp://127.0.0.1:0?proxy=any"]);
    let _a = through(&srv, b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 6380\r\n", 1);
    let _b = through(&srv, &v2("[2001:db8::7]:40001", "[2001:db8::1]:6380"), 1);
    // LOCAL (a balancer's health check): the socket's own addresses.
    let mut local = Vec::new();
    Encoder::local().write_v2(&mut local).unwrap();
    let _c = through(&srv, &local, 1);
    // UNKNOWN in v1: the socket's own addresses too.
    let _d = through(&srv, b"PROXY UNKNOWN\r\n", 1);
    log.wait_for("4 opened", |l| {
        l.iter().filter(|e| e.starts_with("opened")).count() == 4
    });
    let l = log.snapshot();
    assert_eq!(l[0], "opened tcp://192.0.2.7:40000 tcp://198.51.100.1:6380 -");
    assert_eq!(
        l[1],
        "opened tcp://[2001:db8::7]:40001 tcp://[2001:db8::1]:6380 -"
    );
    let own = format!("tcp://{}", srv.addr(0));
    for e in &l[2..4] {
        assert!(
            e.starts_with("opened tcp://127.0.0.1:") && e.contains(&own),
            "{e}"
        );
    }
    srv.stop().unwrap();
}

fn a_header_split_over_many_reads_and_tlvs_arrive(b: Backend) {
    let who = Who::default();
    let log = who.log.clone();
    let srv = start(b, who, &["tcp://127.0.0.1:0?proxy=v2"]);
    let mut header = Vec::new();
    let tlv = revio::proxy_protocol::Tlv {
        kind: revio::proxy_protocol::kind::AUTHORITY,
        value: b"example.com",
    };
    Encoder::proxy(
        Transport::Stream,
        Addresses::Inet {
            source: "192.0.2.9:1234".parse().unwrap(),
            destination: "192.0.2.1:443".parse().unwrap(),
        },
    )
    .tlvs(&[tlv])
    .write_v2(&mut header)
    .unwrap();
    let _c = through(&srv, &header, header.len() + 5);
    log.wait_for("opened", |l| !l.is_empty());
    assert_eq!(
        log.snapshot()[0],
        "opened tcp://192.0.2.9:1234 tcp://192.0.2.1:443 example.com"
    );
    srv.stop().unwrap();
}

/// Connections without a good header are closed, and the handler never
/// hears of them: no `opened`, no `closed`.
fn missing_malformed_or_late_headers_never_reach_the_handler(b: Backend) {
    let who = Who::default();
    let log = who.log.clone();
    let config = Config::new().proxy_header_timeout(Duration::from_millis(300));
    let srv = start_with(b, config, who, &["tcp://127.0.0.1:0?proxy=v1"]);
    let closed = |mut c: TcpStream| {
        let mut rest = Vec::new();
        match c.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "no reply: {rest:?}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        }
    };
    // Plain data where the header should be.
    let mut c = srv.connect(0);
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    closed(c);
    // A v2 header on a v1 listener.
    let mut c = srv.connect(0);
    c.write_all(&v2("192.0.2.1:1", "192.0.2.2:2")).unwrap();
    closed(c);
    // A malformed v1 line.
    let mut c = srv.connect(0);
    c.write_all(b"PROXY TCP4 999.0.0.1 192.0.2.2 1 2\r\n").unwrap();
    closed(c);
    // Too slow: half a header, then nothing.
    let mut c = srv.connect(0);
    c.write_all(b"PROXY TCP4 192.0.2.1").unwrap();
    closed(c);
    // Nothing at all, and the peer leaves.
    drop(srv.connect(0));
    // A good one still works.
    let _ok = through(&srv, b"PROXY TCP4 192.0.2.3 192.0.2.4 5 6\r\n", 2);
    log.wait_for("opened", |l| !l.is_empty());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(log.snapshot(), ["opened tcp://192.0.2.3:5 tcp://192.0.2.4:6 -"]);
    srv.stop().unwrap();
}

/// A unix listener behind a balancer, and several loops with a balancing policy.
fn unix_listeners_and_balanced_loops_take_headers_too(b: Backend) {
    let who = Who::default();
    let log = who.log.clone();
    let path = TempPath::new("proxy-unix");
    let url = format!("{}?proxy=v2", path.url());
    let handler = who.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let addrs = ["tcp://127.0.0.1:0?proxy=v2".to_string(), url];
    let serve = std::thread::spawn(move || {
        Config::new()
            .backend(b)
            .loops(2)
            .balance(Balance::RoundRobin)
            .serve_with(
                move |_| Capture {
                    inner: handler.clone(),
                    tx: tx.clone(),
                },
                &addrs,
            )
    });
    let server = rx.recv_timeout(LIMIT).unwrap();
    let tcp: SocketAddr = server.addrs()[0].socket_addr().unwrap();
    for i in 0..4 {
        let mut c = TcpStream::connect(tcp).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        let mut msg = v2(&format!("192.0.2.{i}:100"), "192.0.2.99:80");
        msg.extend_from_slice(b"x");
        c.write_all(&msg).unwrap();
        assert_eq!(read_n(&mut c, 1), b"x");
    }
    let mut u = unix_connect(&path.0);
    let mut msg = v2("192.0.2.50:7", "192.0.2.99:80");
    msg.extend_from_slice(b"y");
    u.write_all(&msg).unwrap();
    assert_eq!(read_n(&mut u, 1), b"y");
    log.wait_for("5 opened", |l| {
        l.iter().filter(|e| e.starts_with("opened")).count() == 5
    });
    let l = log.snapshot();
    for i in 0..4 {
        assert!(
            l.iter()
                .any(|e| e.starts_with(&format!("opened tcp://192.0.2.{i}:100 ")))
        );
    }
    assert!(l.iter().any(|e| e.starts_with("opened tcp://192.0.2.50:7 ")));
    server.shutdown();
    serve.join().unwrap().unwrap();
}

per_backend!(
    v1_and_v2_headers_give_the_clients_addresses,
    a_header_split_over_many_reads_and_tlvs_arrive,
    missing_malformed_or_late_headers_never_reach_the_handler,
    #[cfg_attr(windows, ignore = "unix sockets: revio serves them on unix systems only")]
    unix_listeners_and_balanced_loops_take_headers_too,
);
