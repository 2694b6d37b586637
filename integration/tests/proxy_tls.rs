//! The proxy example as a TLS tool, over real sockets: terminating TLS on its
//! listener, originating it to the upstream, and both (re-encrypting), each
//! carrying 200 MB in random chunks with nothing lost and the client's
//! half-close passed through to the end; and a PROXY header that goes out in
//! the clear before the TLS hello. The clients at both ends are plain, and
//! the chain between them is proxies of the example (compiled in here).

#[path = "../../tests/common/mod.rs"]
mod common;
mod tls_support;

#[allow(dead_code, unused_imports)]
#[path = "../../examples/proxy/main.rs"]
mod proxy;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};

use common::*;
use proxy::{Proxy, UpstreamTls};
use revio::proxy_protocol::Version;
use revio::{Backend, Tls, TlsClient};

const SOAK: usize = 200 << 20;

/// A fresh certificate for `localhost` (its own CA): the server side, and
/// the TLS upstream that trusts it.
fn certs() -> (Tls, UpstreamTls) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (key.cert.pem(), key.signing_key.serialize_pem());
    let tls = Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let client = TlsClient::from_ca_pem(cert.as_bytes())
        .unwrap()
        .server_name("localhost")
        .unwrap();
    (tls, UpstreamTls::new(client))
}

/// A proxy of the example to `upstream`, terminating with `terminate` and
/// originating with `originate` where given.
fn start_proxy(
    b: Backend,
    upstream: &str,
    terminate: Option<Tls>,
    originate: Option<UpstreamTls>,
) -> Running {
    let p = Proxy::new(upstream).upstream_tls(originate);
    start(b, proxy::tls::wrap(p, terminate), &["tcp://127.0.0.1:0"])
}

/// Sends `SOAK` bytes in random chunks through the chain at `addr`, then
/// shuts its writing side; checks that every byte comes back in order and
/// that the end follows.
fn soak(addr: &str) {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = c.try_clone().unwrap();
    let byte = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let writer = std::thread::spawn(move || {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut sent = 0;
        let mut chunk = Vec::with_capacity(1 << 17);
        while sent < SOAK {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let n = (1 + (rng % (1 << 17)) as usize).min(SOAK - sent);
            chunk.clear();
            chunk.extend((sent..sent + n).map(byte));
            w.write_all(&chunk).unwrap();
            sent += n;
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    loop {
        let n = match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("after {got} bytes: {e}"),
        };
        if let Some(i) = (0..n).find(|&i| buf[i] != byte(got + i)) {
            panic!("byte {} differs", got + i);
        }
        got += n;
    }
    writer.join().unwrap();
    assert_eq!(got, SOAK, "every byte came back, then the end of the stream");
}

/// plain client -> originating proxy -> terminating proxy -> plain echo.
fn terminating_and_originating_proxies_carry_200_mb(b: Backend) {
    let (tls, up) = certs();
    let echo = start(b, Echo, &["tcp://127.0.0.1:0"]);
    let terminating = start_proxy(b, &echo.addr(0), Some(tls), None);
    let originating = start_proxy(b, &terminating.addr(0), None, Some(up));
    soak(&originating.addr(0));
    originating.stop().unwrap();
    terminating.stop().unwrap();
    echo.stop().unwrap();
}

/// plain client -> originating proxy -> re-encrypting proxy -> TLS echo.
fn a_re_encrypting_proxy_carries_200_mb(b: Backend) {
    let (tls, up) = certs();
    let echo = start(
        b,
        tls_support::with_tls(Echo, tls.clone()),
        &["tcp://127.0.0.1:0"],
    );
    let both = start_proxy(b, &echo.addr(0), Some(tls), Some(up.clone()));
    let originating = start_proxy(b, &both.addr(0), None, Some(up));
    soak(&originating.addr(0));
    originating.stop().unwrap();
    both.stop().unwrap();
    echo.stop().unwrap();
}

/// With a TLS upstream, the PROXY header is the first thing on the wire, in
/// the clear, and the TLS hello follows it.
fn the_proxy_header_goes_before_the_tls_hello(b: Backend) {
    let (_, up) = certs();
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = Proxy::new(&upstream.local_addr().unwrap().to_string())
        .send_proxy(Some(Version::V1))
        .upstream_tls(Some(up));
    let px = start(b, proxy::tls::wrap(p, None), &["tcp://127.0.0.1:0"]);
    let client = px.connect(0);
    let (mut s, _) = upstream.accept().unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\r\n")
        || got.len() < got.iter().position(|&b| b == b'\n').unwrap() + 2
    {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the upstream saw the end before a header");
        got.extend_from_slice(&buf[..n]);
    }
    let nl = got.iter().position(|&b| b == b'\n').unwrap();
    let line = String::from_utf8_lossy(&got[..nl]).to_string();
    let peer = client.local_addr().unwrap();
    assert!(
        line.starts_with(&format!("PROXY TCP4 {} ", peer.ip())) && line.contains(&peer.port().to_string()),
        "{line}"
    );
    assert_eq!(got[nl + 1], 0x16, "a TLS handshake record follows the header");
    // The upstream hangs up mid-handshake, and so does the client: the
    // proxy has nothing left to wait for (a handshake would otherwise hold
    // its close until the handshake timeout).
    drop(s);
    drop(client);
    px.stop().unwrap();
}

per_backend!(
    terminating_and_originating_proxies_carry_200_mb,
    a_re_encrypting_proxy_carries_200_mb,
    the_proxy_header_goes_before_the_tls_hello,
);
