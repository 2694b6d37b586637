//! The http-server example, over real sockets, plain and TLS: a real HTTP
//! client, pipelining, keep-alive and `Connection: close`, malformed and
//! oversized requests. The example's code is compiled in here as a module,
//! so these tests need no separately built binary.

#[path = "../../tests/common/mod.rs"]
mod common;
mod http_support;
mod tls_support;

#[allow(dead_code, unused_imports)]
#[path = "../../examples/http-server/main.rs"]
mod http_server;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use http_server::{Options, Parsed, Route};
use http_support::{closes, read_responses};
use revio::{Backend, Tls, Translate};
use tls_support::{client, trusting};

/// The example's server on two ephemeral ports (plain, TLS), with a fresh
/// self-signed certificate; returns the certificate's PEM too.
fn start_http(b: Backend) -> (Running, String) {
    let (cert, key) = http_server::self_signed().unwrap();
    let tls = Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let srv = start(
        b,
        http_server::handler(tls, http_server::Http::new(false)),
        &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"],
    );
    (srv, cert)
}

fn agent(cert_pem: Option<&str>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(LIMIT));
    if let Some(pem) = cert_pem {
        let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
            .build();
        config = config.tls_config(tls);
    }
    config.build().into()
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut resp = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn hello_world_to_a_real_client_over_plain_http(b: Backend) {
    let (srv, _) = start_http(b);
    let agent = agent(None);
    let base = format!("http://{}", srv.addr(0));
    assert_eq!(
        get(&agent, &format!("{base}/")),
        (200, "Hello World!\r\n".to_string())
    );
    assert_eq!(get(&agent, &format!("{base}/?q=1")).0, 200);
    assert_eq!(
        get(&agent, &format!("{base}/nope")),
        (404, "Not Found\r\n".to_string())
    );
    srv.stop().unwrap();
}

fn hello_world_to_a_real_client_over_tls_trusting_the_generated_certificate(b: Backend) {
    let (srv, cert) = start_http(b);
    let agent = agent(Some(&cert));
    let port = srv.server.addrs()[1].clone();
    let url = match port {
        revio::Addr::Tcp(a) => format!("https://127.0.0.1:{}/", a.port()),
        other => panic!("not TCP: {other:?}"),
    };
    assert_eq!(get(&agent, &url), (200, "Hello World!\r\n".to_string()));
    // The plain port does not speak TLS, and the TLS port not plain HTTP.
    assert!(agent.get(&format!("https://{}/", srv.addr(0))).call().is_err());
    srv.stop().unwrap();
}

/// 100 requests in one write; every third asks for a missing page, so the
/// statuses show the order.
fn burst() -> (Vec<u8>, Vec<u16>) {
    let mut wire = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..100 {
        let path = if i % 3 == 0 { "/missing" } else { "/" };
        wire.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-N: {i}\r\n\r\n").as_bytes());
        statuses.push(if i % 3 == 0 { 404 } else { 200 });
    }
    (wire, statuses)
}

fn pipelined_burst_of_100_requests_gets_100_responses_in_order(b: Backend) {
    let (srv, _) = start_http(b);
    let (wire, statuses) = burst();
    let mut c = srv.connect(0);
    c.write_all(&wire).unwrap();
    let got = read_responses(&mut c, 100);
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), statuses);
    assert!(got.iter().all(|r| !r.close));
    // Still open: keep-alive.
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].body, b"Hello World!\r\n");
    srv.stop().unwrap();
}

fn pipelined_burst_over_tls_gets_100_responses_in_order(b: Backend) {
    let (srv, cert) = start_http(b);
    let (wire, statuses) = burst();
    let mut c = client(&srv, 1, &trusting(&cert));
    c.write_all(&wire).unwrap();
    c.flush().unwrap();
    let got = read_responses(&mut c, 100);
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), statuses);
    srv.stop().unwrap();
}

fn request_split_across_writes_is_answered_once_whole(b: Backend) {
    let (srv, _) = start_http(b);
    let mut c = srv.connect(0);
    let req = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /a HTTP/1.1\r\n\r\n";
    for piece in req.chunks(7) {
        c.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = read_responses(&mut c, 2);
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 404]);
    srv.stop().unwrap();
}

fn malformed_request_gets_400_and_the_connection_closes(b: Backend) {
    let (srv, _) = start_http(b);
    let mut c = srv.connect(0);
    c.write_all(b"GET / HTTP/1.1\r\n\r\nthis is not http\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        .unwrap();
    let got = read_responses(&mut c, 3);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].status, 200);
    assert_eq!((got[1].status, got[1].close), (400, true));
    assert!(closes(&mut c));
    srv.stop().unwrap();
}

fn connection_close_is_honoured(b: Backend) {
    let (srv, _) = start_http(b);
    let mut c = srv.connect(0);
    c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n")
        .unwrap();
    let got = read_responses(&mut c, 2);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].status, got[0].close), (200, true));
    assert!(closes(&mut c));
    // HTTP/1.0 closes unless it asks for keep-alive.
    let mut c = srv.connect(0);
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(read_responses(&mut c, 1)[0].close);
    assert!(closes(&mut c));
    srv.stop().unwrap();
}

fn oversized_head_gets_431_and_oversized_body_413(b: Backend) {
    let (srv, _) = start_http(b);
    let mut c = srv.connect(0);
    let big = format!(
        "GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(http_server::MAX_HEAD)
    );
    c.write_all(big.as_bytes()).unwrap();
    let got = read_responses(&mut c, 1);
    assert_eq!((got[0].status, got[0].close), (431, true));
    assert!(closes(&mut c));

    let mut c = srv.connect(0);
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        http_server::MAX_BODY + 1
    );
    c.write_all(head.as_bytes()).unwrap();
    let got = read_responses(&mut c, 1);
    assert_eq!((got[0].status, got[0].close), (413, true));
    assert!(closes(&mut c));
    srv.stop().unwrap();
}

fn head_has_no_body_and_expect_continue_is_answered(b: Backend) {
    let (srv, _) = start_http(b);
    let mut c = srv.connect(0);
    c.write_all(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        .unwrap();
    // A HEAD response carries Content-Length but no body: the next
    // response follows its head directly.
    let mut buf = vec![0u8; 0];
    while !buf.ends_with(b"Hello World!\r\n") {
        let mut chunk = [0u8; 1024];
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(text.matches("Hello World!").count(), 1, "{text}");
    assert!(
        text.contains("Content-Length: 14\r\n\r\nHTTP/1.1 200 OK"),
        "{text}"
    );

    let mut c = srv.connect(0);
    c.write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 100);
    c.write_all(b"abc").unwrap();
    assert_eq!(read_responses(&mut c, 1)[0].status, 200);
    srv.stop().unwrap();
}

/// Counts heap allocations made on threads that set `COUNTER`, one counter
/// per test (tests run side by side in one process).
struct Counting;

static ALLOCS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static NEXT_COUNTER: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// 0: not counted; otherwise an index into `ALLOCS`.
    static COUNTER: Cell<usize> = const { Cell::new(0) };
}

fn count_alloc() {
    let i = COUNTER.with(|c| c.get());
    if i != 0 {
        ALLOCS[i].fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a side effect that touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc();
        // SAFETY: forwarded with the caller's layout, which meets alloc's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_alloc();
        // SAFETY: `ptr` came from `System.alloc` with `layout`; the caller
        // guarantees `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn plain_http_through_translate_allocates_nothing_per_request_once_warm(b: Backend) {
    let (cert, key) = http_server::self_signed().unwrap();
    let tls = Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    // The example's handler, with a predicate that also marks the loop's
    // thread for counting.
    let counter = NEXT_COUNTER.fetch_add(1, Ordering::Relaxed);
    assert!(counter < ALLOCS.len());
    let handler = Translate::new(http_server::Http::new(false), move |_| tls.accept()).when(move |c| {
        COUNTER.with(|l| l.set(counter));
        c.addr_index() == Some(1)
    });
    let srv = start(b, handler, &["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"]);
    let mut conns: Vec<_> = (0..8).map(|_| srv.connect(0)).collect();
    let burst = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(16);
    let mut exchange = |rounds: usize| {
        for _ in 0..rounds {
            for c in conns.iter_mut() {
                c.write_all(&burst).unwrap();
                let got = read_responses(c, 16);
                assert!(got.len() == 16 && got.iter().all(|r| r.status == 200));
            }
        }
    };
    exchange(50); // warm up
    let before = ALLOCS[counter].load(Ordering::Relaxed);
    assert!(before > 0, "the counter sees the loop thread's allocations");
    exchange(200); // 25,600 requests
    let after = ALLOCS[counter].load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "allocations on the loop thread during 25,600 requests"
    );
    srv.stop().unwrap();
}

per_backend!(
    plain_http_through_translate_allocates_nothing_per_request_once_warm,
    hello_world_to_a_real_client_over_plain_http,
    hello_world_to_a_real_client_over_tls_trusting_the_generated_certificate,
    pipelined_burst_of_100_requests_gets_100_responses_in_order,
    pipelined_burst_over_tls_gets_100_responses_in_order,
    request_split_across_writes_is_answered_once_whole,
    malformed_request_gets_400_and_the_connection_closes,
    connection_close_is_honoured,
    oversized_head_gets_431_and_oversized_body_413,
    head_has_no_body_and_expect_continue_is_answered,
);

// ----- the pure parts of the example ------------------------------------------

#[test]
fn parse_answers_complete_partial_and_bad_requests() {
    let req = b"GET /x?y HTTP/1.1\r\nHost: a\r\n\r\nGET";
    assert_eq!(
        http_server::parse(req),
        Parsed::Complete {
            len: 30,
            route: Route::NotFound,
            head: false,
            close: false
        }
    );
    assert_eq!(
        http_server::parse(b"GET / HT"),
        Parsed::Partial {
            expect_continue: false,
            head_complete: false
        }
    );
    assert_eq!(
        http_server::parse(b"\x01\x02 nonsense\r\n\r\n"),
        Parsed::Error("400 Bad Request")
    );
    assert_eq!(
        http_server::parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
        Parsed::Error("400 Bad Request")
    );
    assert_eq!(
        http_server::parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Parsed::Error("501 Not Implemented")
    );
    assert_eq!(
        http_server::parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        Parsed::Complete {
            len: 42,
            route: Route::Hello,
            head: false,
            close: false
        }
    );
}

#[test]
fn http_date_is_imf_fixdate() {
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(&http_server::http_date(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(
        &http_server::http_date(UNIX_EPOCH),
        b"Thu, 01 Jan 1970 00:00:00 GMT"
    );
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(&http_server::http_date(leap), b"Tue, 29 Feb 2000 00:00:00 GMT");
}

#[test]
fn content_length_digits() {
    for n in [0usize, 7, 12, 100, 65_535, usize::MAX] {
        assert_eq!(http_server::decimal(n, &mut [0; 20]), n.to_string().as_bytes());
    }
}

#[test]
fn options_parse_flags_and_load_certificates() {
    assert_eq!(
        Options::parse(Vec::<String>::new()).unwrap(),
        Some(Options::default())
    );
    let args = [
        "--port",
        "1",
        "--tlsport",
        "2",
        "--loops",
        "3",
        "--stdlib",
        "--bind",
        "::1",
        "--idle-timeout",
        "0",
        "--header-timeout",
        "1.5",
        "--request-timeout",
        "0",
    ];
    let o = Options::parse(args).unwrap().unwrap();
    assert_eq!((o.common.port, o.tlsport, o.common.loops), (1, 2, 3));
    assert_eq!(o.common.backend, Backend::Std);
    assert_eq!(
        o.addrs(),
        ["tcp://[::1]:1".to_string(), "tcp://[::1]:2".to_string()]
    );
    assert_eq!(o.idle_timeout, None);
    assert_eq!(o.header_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(o.request_timeout, None);
    assert_eq!(Options::default().request_timeout, Some(Duration::from_secs(30)));
    assert_eq!(Options::parse(["--help"]).unwrap(), None);
    assert!(Options::parse(["--port", "99999"]).is_err());
    assert!(Options::parse(["--bogus", "1"]).is_err());
    assert!(Options::parse(["port", "1"]).is_err(), "flags need their dashes");
    assert!(Options::parse(["--port"]).is_err());
    assert!(Options::parse(["--idle-timeout", "-1"]).is_err());

    // No certificate: a self-signed one is made.
    assert!(Options::default().tls().is_ok());
    // A certificate and key from files, or both in one file.
    let (cert, key) = http_server::self_signed().unwrap();
    let dir = std::env::temp_dir();
    let (cert_path, key_path, both_path) = (
        TempPath(dir.join(format!("revio-http-{}-cert.pem", std::process::id()))),
        TempPath(dir.join(format!("revio-http-{}-key.pem", std::process::id()))),
        TempPath(dir.join(format!("revio-http-{}-both.pem", std::process::id()))),
    );
    std::fs::write(&cert_path.0, &cert).unwrap();
    std::fs::write(&key_path.0, &key).unwrap();
    std::fs::write(&both_path.0, format!("{cert}{key}")).unwrap();
    let with = |cert: &TempPath, key: Option<&TempPath>| Options {
        tlscert: Some(cert.0.clone()),
        tlskey: key.map(|k| k.0.clone()),
        ..Options::default()
    };
    assert!(with(&cert_path, Some(&key_path)).tls().is_ok());
    assert!(with(&both_path, None).tls().is_ok());
    let err = with(&cert_path, None).tls().unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    let err = with(&TempPath(dir.join("revio-no-such.pem")), None)
        .tls()
        .unwrap_err();
    assert!(err.to_string().contains("revio-no-such.pem"), "{err}");
}
