//! The HTTP handler: requests in, responses out, and the deadlines.

use std::time::{Duration, Instant, SystemTime};

use revio::{Action, Addr, Bytes, Conn, Handler, Server, Tls, Translate};

use super::common;
use super::protocol::{Body, Parsed, Route, http_date, parse, respond};

/// The whole server: [`Http`] on every address, through TLS on the second.
pub fn handler(tls: Tls, http: Http) -> impl Handler + Send {
    Translate::new(http, move |_| tls.accept()).when(|c| c.addr_index() == Some(1))
}

/// The HTTP handler: plaintext in, responses out.
pub struct Http {
    /// Print the start-up line (one loop does).
    announce: bool,
    /// Print a line per request: client address, request line, status.
    access_log: bool,
    header_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    /// The `Date` header's value, refreshed by `tick`.
    date: [u8; 29],
    /// The body of `/`, built once and shared by every response to it.
    hello: Bytes,
    stop: common::Stop,
    server: Option<Server>,
}

impl Http {
    pub fn new(announce: bool) -> Http {
        Http {
            announce,
            access_log: false,
            header_timeout: None,
            request_timeout: None,
            date: http_date(SystemTime::now()),
            hello: Bytes::from_static(b"Hello World!\r\n"),
            stop: common::Stop::never(),
            server: None,
        }
    }

    /// Closes a connection whose request head is not complete `timeout`
    /// after it began.
    pub fn header_timeout(mut self, timeout: Option<Duration>) -> Http {
        self.header_timeout = timeout;
        self
    }

    /// Closes a connection whose request, head and body, is not complete
    /// `timeout` after it began. With [`Http::header_timeout`] too, the head
    /// must be complete within the shorter of the two.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Http {
        self.request_timeout = timeout;
        self
    }

    /// Prints an access log line per request on stdout: the client's address
    /// (behind a PROXY protocol balancer, the one its header names), the
    /// request line and the status.
    pub fn access_log(mut self, on: bool) -> Http {
        self.access_log = on;
        self
    }

    /// Stops gracefully when `stop` says so.
    pub fn stop_on(mut self, stop: common::Stop) -> Http {
        self.stop = stop;
        self
    }

    /// Runs the header and request timeouts on one `Conn::set_deadline`.
    /// `pending`: `Some(head_complete)` when a request is unfinished at the
    /// end of the input, `None` when none is in progress. The clock is read
    /// once per request, and only for one left unfinished.
    fn deadline(&self, conn: &mut Conn<'_, Request>, pending: Option<bool>) {
        let st = conn.state();
        let Some(head_complete) = pending else {
            if st.started.take().is_some() {
                conn.set_deadline(None);
            }
            return;
        };
        if self.header_timeout.is_none() && self.request_timeout.is_none() {
            return;
        }
        let elapsed = match st.started {
            None => {
                st.started = Some(Instant::now());
                Duration::ZERO
            }
            // Only the head's completion changes the limit.
            Some(_) if st.head_complete || !head_complete => return,
            Some(t) => t.elapsed(),
        };
        st.head_complete = head_complete;
        let limit = if head_complete {
            self.request_timeout
        } else {
            match (self.header_timeout, self.request_timeout) {
                (Some(h), Some(r)) => Some(h.min(r)),
                (h, r) => h.or(r),
            }
        };
        conn.set_deadline(limit.map(|l| l.saturating_sub(elapsed)));
    }
}

/// Per connection: whether `100 Continue` went out for the request in
/// progress, and, while a request is unfinished, when its first byte came
/// and whether its head is whole (for the deadlines).
#[derive(Default)]
pub struct Request {
    continued: bool,
    started: Option<Instant>,
    head_complete: bool,
}

impl Handler for Http {
    type State = Request;

    fn serving(&mut self, server: &Server) -> Action {
        if self.announce {
            let addr = |i: usize| server.addrs().get(i).map_or(String::new(), Addr::to_string);
            println!(
                "http-server listening on {} (HTTP) and {} (HTTPS) ({} loop{}; Ctrl-C stops it)",
                addr(0),
                addr(1),
                server.loops(),
                if server.loops() == 1 { "" } else { "s" }
            );
        }
        self.server = Some(server.clone());
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, Request>, input: &[u8]) -> Action {
        let mut rest = input;
        while !rest.is_empty() {
            match parse(rest) {
                Parsed::Partial {
                    expect_continue,
                    head_complete,
                } => {
                    if expect_continue && !conn.state().continued {
                        conn.state().continued = true;
                        conn.write(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    self.deadline(conn, Some(head_complete));
                    conn.keep(rest.len());
                    return Action::None;
                }
                Parsed::Complete {
                    len,
                    route,
                    head,
                    close,
                } => {
                    conn.state().continued = false;
                    self.deadline(conn, None);
                    let (status, body) = match route {
                        Route::Hello => ("200 OK", Body::Shared(&self.hello)),
                        Route::NotFound => ("404 Not Found", Body::Full(b"Not Found\r\n")),
                    };
                    let body = match body {
                        Body::Shared(b) if head => Body::HeadOf(b),
                        Body::Full(b) if head => Body::HeadOf(b),
                        body => body,
                    };
                    respond(conn.output(), &self.date, status, body, close);
                    if self.access_log {
                        log_request(conn, &rest[..len], status);
                    }
                    rest = &rest[len..];
                    if close {
                        return Action::Close;
                    }
                    if conn.is_congested() {
                        // The client is not reading: the rest is answered
                        // once the output drains.
                        self.deadline(conn, None);
                        conn.keep(rest.len());
                        return Action::None;
                    }
                }
                Parsed::Error(status) => {
                    let body = Body::Full(status.as_bytes());
                    respond(conn.output(), &self.date, status, body, true);
                    return Action::Close;
                }
            }
        }
        self.deadline(conn, None);
        Action::None
    }

    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        self.date = http_date(SystemTime::now());
        (self.stop.check(self.server.as_ref()), Action::None)
    }
}

/// One access log line: `ADDR "REQUEST LINE" STATUS`.
fn log_request(conn: &Conn<'_, Request>, request: &[u8], status: &str) {
    let line = request
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let who = conn
        .remote_addr()
        .map_or_else(|_| "-".to_string(), |a| a.to_string());
    let code = status.split(' ').next().unwrap_or(status);
    println!("{who} \"{}\" {code}", String::from_utf8_lossy(line));
}
