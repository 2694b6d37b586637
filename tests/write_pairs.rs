//! `prewrite` and `postwrite` come in pairs (SPEC.md: "prewrite before each
//! write attempt; postwrite right after it"), on every backend, also when a
//! large write meets a slow reader and the socket takes it in several steps.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use revio::{Action, Backend, Conn, Handler};

/// Writes 16 copies of its input back; logs a pairing fault as it happens
/// and, in `closed`, the attempts and the bytes they report.
#[derive(Clone, Default)]
struct Amplifier {
    log: Log,
}

#[derive(Default)]
struct Writes {
    /// A `prewrite` whose `postwrite` has not come yet.
    open: bool,
    pre: usize,
    post: usize,
    written: usize,
    reported: usize,
}

/// The greeting: more than a loopback socket's send buffer grows to (4 MiB
/// by default), so that no backend sends it in one step.
const GREETING: usize = 8 << 20;

impl Handler for Amplifier {
    type State = Writes;
    fn opened(&mut self, c: &mut Conn<'_, Writes>) -> Action {
        c.write(&vec![b'g'; GREETING]);
        c.state().written += GREETING;
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, Writes>, input: &[u8]) -> Action {
        for _ in 0..16 {
            c.write(input);
        }
        c.state().written += 16 * input.len();
        Action::None
    }
    fn prewrite(&mut self, c: &mut Conn<'_, Writes>, _: usize) -> Action {
        let w = c.state();
        if w.open {
            self.log.push("fault: prewrite while one is open");
        }
        w.open = true;
        w.pre += 1;
        Action::None
    }
    fn postwrite(&mut self, c: &mut Conn<'_, Writes>, amount: usize, _: usize) -> Action {
        let w = c.state();
        if !w.open {
            self.log
                .push(format!("fault: postwrite({amount}) with no prewrite open"));
        }
        w.open = false;
        w.post += 1;
        w.reported += amount;
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, Writes>, _: Option<io::Error>) {
        let w = c.state();
        let pairs = if w.pre == w.post { "paired" } else { "unpaired" };
        self.log.push(format!(
            "closed {pairs}: {} pre, {} post, {} written, {} reported",
            w.pre, w.post, w.written, w.reported
        ));
    }
}

/// A reader with a small receive buffer that takes its bytes slowly, so
/// that the server's sends fill the socket buffer and complete in steps
/// (io_uring sends the rest of a short send on its own; the std backend's
/// writer thread reports each write): an 8 MiB greeting, then 4 requests of
/// 128 KiB, each answered with 16 copies. Every attempt has one `prewrite`
/// and one `postwrite`, and the postwrites report every byte written, once.
///
/// Checked to fail without the fix: on io_uring, 9 prewrites and 20
/// postwrites, a send that completed in two steps giving two.
fn each_prewrite_has_one_postwrite_with_a_slow_reader(b: Backend) {
    const REQUEST: usize = 128 << 10;
    const ROUNDS: usize = 4;
    let h = Amplifier::default();
    let log = h.log.clone();
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let addr = srv.server.addrs()[0].socket_addr().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut c: TcpStream = sock.into();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    read_slowly(&mut c, GREETING);
    let request = vec![b'x'; REQUEST];
    for _ in 0..ROUNDS {
        c.write_all(&request).unwrap();
        read_slowly(&mut c, 16 * REQUEST);
    }
    drop(c);
    log.wait_count("closed", 1);
    let all = log.snapshot();
    assert!(log.starting("fault").is_empty(), "{all:?}");
    let closed = &log.starting("closed")[0];
    let total = GREETING + ROUNDS * 16 * REQUEST;
    assert!(closed.starts_with("closed paired: "), "{closed}");
    assert!(
        closed.ends_with(&format!("{total} written, {total} reported")),
        "{closed}"
    );
    srv.stop().unwrap();
}

/// Reads `n` bytes, pausing after each read.
fn read_slowly(c: &mut TcpStream, n: usize) {
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0;
    while got < n {
        match c.read(&mut buf[..(n - got).min(64 << 10)]) {
            Ok(0) => panic!("end of stream after {got} of {n} bytes"),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading {n} bytes: {e}"),
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

per_backend!(each_prewrite_has_one_postwrite_with_a_slow_reader);
