//! The revio driver of the baselines' protocol code: the same [`Protocol`]
//! the tokio baselines run (`resp.rs`, `http.rs`), served by one revio loop,
//! so that revio and tokio are compared doing the same work.
//!
//! Each connection's state is its protocol instance. `data` hands the loop's
//! input slice to [`Protocol::process`], which appends its replies straight
//! to the connection's queued output; a request that has not fully arrived is
//! left to the loop with [`Conn::keep`], as the tokio driver keeps it in its
//! pending buffer. Nothing is copied per request. Socket options are those of
//! the tokio driver: TCP_NODELAY on every accepted connection (revio's
//! default), SO_REUSEADDR and a listen backlog of 128 on the listener (what
//! tokio's `TcpListener::bind` sets, through mio), one thread.

use std::io;

use revio::{Action, Backend, Config, Conn, Handler, Server};

use crate::protocol::Protocol;

/// The handler: serves `P` on every connection, and hands the [`Server`] to
/// `ready` once the listener is bound.
struct Serve<P, F> {
    ready: Option<F>,
    _proto: std::marker::PhantomData<fn() -> P>,
}

impl<P: Protocol + Default, F: FnOnce(&Server)> Handler for Serve<P, F> {
    type State = P;

    fn serving(&mut self, server: &Server) -> Action {
        if let Some(ready) = self.ready.take() {
            ready(server);
        }
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, P>, input: &[u8]) -> Action {
        // The protocol and the output both live in `conn`: the protocol is
        // taken out for the call (a unit struct for RESP, a few bytes for HTTP).
        let mut proto = std::mem::take(conn.state());
        let used = proto.process(input, conn.output());
        *conn.state() = proto;
        match used {
            Some(used) => {
                conn.keep(input.len() - used);
                Action::None
            }
            // Malformed: the error reply goes out, then the connection closes.
            None => Action::Close,
        }
    }
}

/// Serves `addr` (`tcp://127.0.0.1:PORT`) with one `P` per connection on one
/// loop of `backend`, on the calling thread, until the server is shut down;
/// `ready` gets the [`Server`] once the listener is bound.
pub fn serve<P: Protocol + Default>(
    addr: &str,
    backend: Backend,
    ready: impl FnOnce(&Server),
) -> io::Result<()> {
    let handler = Serve::<P, _> {
        ready: Some(ready),
        _proto: std::marker::PhantomData,
    };
    Config::new()
        .loops(1)
        .backend(backend)
        .nodelay(true)
        // tokio's listener (mio's `TcpListener::bind`) listens with 128.
        .backlog(128)
        .serve(handler, [addr])
}

/// The `main` of the `revio-resp` and `revio-http` binaries:
/// `NAME --port N [--backend poll|uring]` serves 127.0.0.1:N until killed.
pub fn main<P: Protocol + Default>(name: &'static str, usage: &'static str) {
    let args = crate::args::Args::parse(usage);
    let port: u16 = args.req("--port");
    let backend: Backend = args
        .get("--backend", "poll".to_string())
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("{name}: {e}\nusage: {usage}");
            std::process::exit(2)
        });
    let r = serve::<P>(&format!("tcp://127.0.0.1:{port}"), backend, |server| {
        println!(
            "{name} listening on 127.0.0.1:{port} ({:?} backend)",
            server.backend()
        );
    });
    if let Err(e) = r {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::http::Hello;
    use crate::resp::Resp;

    /// Serves `P` on an ephemeral port on `backend` in a thread; runs `client`
    /// against it, then shuts the server down and joins it.
    fn with_server<P: Protocol + Default>(backend: Backend, client: impl FnOnce(&mut TcpStream)) {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            serve::<P>("tcp://127.0.0.1:0", backend, |server| {
                let _ = tx.send(server.clone());
            })
        });
        let server = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server started");
        let port = server.addrs()[0].port().expect("a TCP port");
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        client(&mut s);
        server.shutdown();
        thread.join().expect("no panic").expect("served");
    }

    /// Reads exactly `want.len()` bytes and compares them.
    fn expect(s: &mut TcpStream, want: &[u8]) {
        let mut got = vec![0; want.len()];
        s.read_exact(&mut got).expect("a reply");
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    fn resp_ping_set_get(backend: Backend) {
        with_server::<Resp>(backend, |s| {
            s.write_all(b"PING\r\n*1\r\n$4\r\nPING\r\n").expect("write");
            expect(s, b"+PONG\r\n+PONG\r\n");
            // A SET cut short: the PONG before it says the server has read the
            // first part; the rest completes the command the loop kept.
            s.write_all(b"PING\r\n*3\r\n$3\r\nSET\r\n$3\r\nkey")
                .expect("write");
            expect(s, b"+PONG\r\n");
            s.write_all(b"\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nGET nope\r\n")
                .expect("write");
            expect(s, b"+OK\r\n$5\r\nvalue\r\n$-1\r\n");
            // Malformed: the error, then the end of the stream.
            s.write_all(b"*x\r\n").expect("write");
            expect(s, b"-ERR bad multibulk length\r\n");
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).expect("closed");
            assert!(rest.is_empty());
        });
    }

    #[test]
    fn revio_resp_answers_ping_set_get_on_epoll() {
        resp_ping_set_get(Backend::Poll);
    }

    #[test]
    fn revio_resp_answers_ping_set_get_on_io_uring() {
        // Where io_uring is refused, revio falls back to epoll: the same answers.
        resp_ping_set_get(Backend::Uring);
    }

    #[test]
    fn revio_http_answers_pipelined_requests() {
        with_server::<Hello>(Backend::Poll, |s| {
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .expect("write");
            let mut got = Vec::new();
            let mut buf = [0; 4096];
            while got.windows(12).filter(|w| w == b"Hello World!").count() < 2 {
                let n = s.read(&mut buf).expect("a reply");
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
        });
    }
}
