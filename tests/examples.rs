//! The examples as a user runs them: the built programs, started as child
//! processes, stopped with Ctrl-C (SIGINT).
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use common::examples::Example;
use common::*;

/// Each example stops gracefully on SIGINT: it exits 0 and its unix socket
/// file is gone.
#[test]
fn examples_exit_0_on_sigint_and_leave_no_socket_file() {
    let sock = TempPath::new("example-sigint");
    let path = sock.0.display().to_string();
    let mut echo = Example::start(
        "echo-server",
        &["--bind", "127.0.0.1", "--port", "0", "--udp", "--unix", &path],
    );
    assert!(sock.0.exists(), "the unix socket file exists while serving");
    // A connection in progress is fine: it is closed gracefully.
    let mut c = TcpStream::connect(echo.addr(0)).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(roundtrip(&mut c, b"ping"), b"ping");
    let proxy = Example::start(
        "proxy",
        &["--bind", "127.0.0.1", "--port", "0", "--upstream", &echo.addr(0)],
    );
    let http = Example::start(
        "http-server",
        &["--bind", "127.0.0.1", "--port", "0", "--tlsport", "0"],
    );
    let redis_sock = TempPath::new("example-sigint-redis");
    let redis_path = redis_sock.0.display().to_string();
    let redis = Example::start("redis-server", &["--port", "0", "--unix", &redis_path]);
    assert!(redis_sock.0.exists());
    let chat = Example::start("chat", &["--bind", "127.0.0.1", "--port", "0", "--loops", "2"]);
    let examples = [
        (proxy, "proxy"),
        (http, "http-server"),
        (redis, "redis-server"),
        (chat, "chat"),
    ];
    for (mut ex, name) in examples {
        assert_eq!(ex.signal_and_wait(libc::SIGINT), Some(0), "{name} exit status");
    }
    assert_eq!(
        echo.signal_and_wait(libc::SIGINT),
        Some(0),
        "echo-server exit status"
    );
    // The open connection was ended, not cut.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(!sock.0.exists(), "the unix socket file is removed");
    assert!(
        !redis_sock.0.exists(),
        "redis-server's unix socket file is removed"
    );
}

/// `--help` prints the usage on stdout and exits 0; a bad flag prints it on
/// stderr and exits 2.
#[test]
fn examples_answer_help_and_reject_bad_flags() {
    for name in ["echo-server", "proxy", "http-server", "redis-server", "chat"] {
        let bin = examples::binary(name);
        let help = std::process::Command::new(&bin).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0), "{name} --help");
        let out = String::from_utf8_lossy(&help.stdout);
        assert!(
            out.contains("usage:") && out.contains("--bind"),
            "{name} --help: {out}"
        );
        let bad = std::process::Command::new(&bin).arg("--bogus").output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name} --bogus");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("usage:"));
        assert!(bad.stdout.is_empty());
    }
}

/// 200 MB both ways through the proxy example, with a client that reads
/// slower than it writes: backpressure keeps the proxy's memory bounded.
#[test]
fn proxy_soak_stays_bounded() {
    let mut echo = Example::start("echo-server", &["--bind", "127.0.0.1", "--port", "0"]);
    let mut proxy = Example::start(
        "proxy",
        &["--bind", "127.0.0.1", "--port", "0", "--upstream", &echo.addr(0)],
    );
    const TOTAL: usize = 200 << 20;
    let mut c = TcpStream::connect(proxy.addr(0)).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..1 << 16).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < TOTAL {
            w.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut buf = vec![0u8; 1 << 16];
    let (mut got, mut max_rss, mut reads) = (0usize, 0u64, 0u64);
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == ((got + i) % (1 << 16) % 251) as u8)
        );
        got += n;
        reads += 1;
        if reads % 64 == 0 {
            // A slow reader: the proxy must hold the writer back, not buffer.
            std::thread::sleep(std::time::Duration::from_millis(2));
            max_rss = max_rss.max(proxy.rss_kib());
        }
    }
    writer.join().unwrap();
    assert_eq!(got, TOTAL, "everything came back, then the end of the stream");
    assert!(max_rss > 0, "RSS was read");
    assert!(max_rss < 32 * 1024, "the proxy held {max_rss} KiB");
    assert_eq!(proxy.signal_and_wait(libc::SIGINT), Some(0));
    assert_eq!(echo.signal_and_wait(libc::SIGINT), Some(0));
}

/// The proxy example sends a PROXY header upstream, and the http-server
/// example behind it, listening with `--proxy-protocol`, logs the client's
/// own address, not the proxy's.
#[test]
fn client_address_passes_through_proxy_protocol() {
    let http = Example::start(
        "http-server",
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tlsport",
            "0",
            "--proxy-protocol",
            "v2",
            "--access-log",
        ],
    );
    let proxy = Example::start(
        "proxy",
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--upstream",
            &http.addr(0),
            "--send-proxy",
            "v2",
        ],
    );
    let mut c = TcpStream::connect(proxy.addr(0)).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    let me = format!("tcp://{}", c.local_addr().unwrap());
    http.output.wait_for("the access log line", |l| {
        l.iter()
            .any(|e| e == &format!("{me} \"GET /hello HTTP/1.1\" 404"))
    });
    // Straight to the http server, without a header: refused.
    let mut direct = TcpStream::connect(http.addr(0)).unwrap();
    direct.set_read_timeout(Some(LIMIT)).unwrap();
    direct.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = direct.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer without a PROXY header");
}

/// The redis-server example follows Redis's `timeout` setting: an idle
/// client is closed after `--timeout` seconds; a busy one is not.
#[test]
fn redis_server_timeout_closes_idle_clients() {
    let redis = Example::start("redis-server", &["--port", "0", "--timeout", "1"]);
    let mut idle = TcpStream::connect(redis.addr(0)).unwrap();
    idle.set_read_timeout(Some(LIMIT)).unwrap();
    let mut busy = TcpStream::connect(redis.addr(0)).unwrap();
    busy.set_read_timeout(Some(LIMIT)).unwrap();
    let started = std::time::Instant::now();
    // The busy client pings every 200 ms for about 2 s, past the timeout.
    let ping = |c: &mut TcpStream| {
        c.write_all(b"PING\r\n").unwrap();
        read_n(c, 7)
    };
    while started.elapsed() < std::time::Duration::from_secs(2) {
        assert_eq!(ping(&mut busy), b"+PONG\r\n");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut rest = Vec::new();
    let closed = match idle.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed && rest.is_empty(),
        "the idle client is closed without a reply"
    );
    assert_eq!(ping(&mut busy), b"+PONG\r\n", "the busy one is still served");
}
