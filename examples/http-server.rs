//! An HTTP/1.1 server: `Hello World!` on `/`, 404 elsewhere, plaintext on
//! `--port` and TLS (rustls, through `revio::Translate`) on `--tlsport`.
//!
//! ```sh
//! cargo run --release --features tls --example http-server
//! curl http://localhost:8080
//! curl -k https://localhost:4443
//! ```
//!
//! Keep-alive and pipelining: every complete request in the input is answered,
//! in order, in one write; an unfinished one waits in the loop's buffer
//! (`Conn::keep`). `Connection: close` is honoured, a malformed request gets
//! 400 and the connection closes, an oversized head 431, an oversized body
//! 413. Responses are formatted straight into the connection's output: no
//! allocation per request.
//!
//! Run with `--help` for the flags. Without `--tlscert`, the bundled
//! self-signed certificate for localhost in `examples/certs/` is used (its
//! key is public: for local trials only); without `--tlskey`, the key is read
//! from the certificate file.
//!
//! Time limits: an idle keep-alive connection is closed after
//! `--idle-timeout` (60 s), a request whose head is not complete after
//! `--header-timeout` (10 s, against slowloris), a request whose head and
//! body are not complete after `--request-timeout` (30 s, against a body
//! trickled a byte at a time, R.U.D.Y.), a TLS handshake after 10 s. Both
//! request limits count from the data call that brought the request's first
//! byte and stop when it is whole, so a keep-alive connection waiting between
//! requests runs only the idle timeout. Either one closes the connection
//! without a response (`Conn::set_deadline`: the loop closes it without
//! calling the handler, so no `408` can be written; nginx, too, closes
//! without answering when its client timeouts pass): a client that sends
//! this slowly is rarely reading. 30 s is a 1 MiB body (`MAX_BODY`) at
//! about 35 KB/s, and holds a connection 30 s per request at most.
//! Ctrl-C (or SIGTERM) stops it gracefully (TLS peers get `close_notify`)
//! and it exits 0; a second Ctrl-C exits at once.

mod common;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use revio::{Action, Addr, Config, Conn, Handler, Output, Server, Tls, Translate};

/// The longest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// The most headers one request may have.
const MAX_HEADERS: usize = 64;

const USAGE: &str = "http-server: Hello World over HTTP/1.1, plaintext and TLS

usage: http-server [FLAGS]

  --tlsport N             the TLS port (0: any free port)
  --tlscert PATH          the certificate chain (PEM)
  --tlskey PATH           its private key (PEM; default: read from --tlscert)
  --idle-timeout SECS     close idle connections after this long (0: never)
  --header-timeout SECS   close a connection whose request head is not complete
                          this long after it began (0: never)
  --request-timeout SECS  close a connection whose request, head and body, is not
                          complete this long after it began (0: never)
  --access-log            print a line per request (client address, request, status)
defaults: --bind 0.0.0.0 --port 8080 --tlsport 4443 --idle-timeout 60 --header-timeout 10
          --request-timeout 30";

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub common: common::Common,
    pub tlsport: u16,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub idle_timeout: Option<Duration>,
    pub header_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub access_log: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            common: common::Common::new("0.0.0.0", 8080),
            tlsport: 4443,
            tlscert: None,
            tlskey: None,
            idle_timeout: Some(Duration::from_secs(60)),
            header_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(30)),
            access_log: false,
        }
    }
}

/// Seconds, 0 meaning never.
fn seconds(parser: &mut lexopt::Parser) -> Result<Option<Duration>, lexopt::Error> {
    let s: f64 = common::value(parser)?;
    if !(s >= 0.0 && s.is_finite()) {
        return Err("a timeout is a number of seconds, 0 or more".into());
    }
    Ok((s > 0.0).then(|| Duration::from_secs_f64(s)))
}

impl Options {
    /// Parses the flags (without the program name); `Ok(None)` for `--help`.
    pub fn parse<I>(args: I) -> Result<Option<Options>, String>
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString>,
    {
        let mut o = Options::default();
        let run = common::parse_from(args, |arg, parser| {
            if arg.is("tlsport") {
                o.tlsport = common::value(parser)?;
            } else if arg.is("tlscert") {
                o.tlscert = Some(common::value::<String>(parser)?.into());
            } else if arg.is("tlskey") {
                o.tlskey = Some(common::value::<String>(parser)?.into());
            } else if arg.is("idle-timeout") {
                o.idle_timeout = seconds(parser)?;
            } else if arg.is("header-timeout") {
                o.header_timeout = seconds(parser)?;
            } else if arg.is("request-timeout") {
                o.request_timeout = seconds(parser)?;
            } else if arg.is("access-log") {
                o.access_log = true;
            } else {
                return o.common.take(arg, parser);
            }
            Ok(true)
        })
        .map_err(|e| e.to_string())?;
        Ok(run.then_some(o))
    }

    /// The TLS configuration: the given certificate and key, or the bundled
    /// self-signed certificate for localhost.
    pub fn tls(&self) -> io::Result<Tls> {
        match (&self.tlscert, &self.tlskey) {
            (Some(cert), key) => Tls::from_pem_files(cert, key.as_ref().unwrap_or(cert)),
            (None, Some(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--tlskey needs --tlscert",
            )),
            (None, None) => {
                let (cert, key) = self_signed()?;
                Tls::from_pem(cert.as_bytes(), key.as_bytes())
            }
        }
    }

    /// The server's configuration: loops, backend, the idle timeout.
    pub fn config(&self) -> Config {
        self.common.config().idle_timeout(self.idle_timeout)
    }

    /// The addresses to serve: plaintext first, TLS second.
    pub fn addrs(&self) -> [String; 2] {
        [
            self.common.url("tcp", self.common.port),
            self.common.url("tcp", self.tlsport),
        ]
    }
}

/// The bundled self-signed certificate for `localhost`, `127.0.0.1` and
/// `::1` (`examples/certs/`, valid until 2126): (certificate PEM, private key
/// PEM). For trying the server locally only: its private key is public.
pub fn self_signed() -> io::Result<(String, String)> {
    Ok((
        include_str!("certs/localhost-cert.pem").to_string(),
        include_str!("certs/localhost-key.pem").to_string(),
    ))
}

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
                        Route::Hello => ("200 OK", &b"Hello World!\r\n"[..]),
                        Route::NotFound => ("404 Not Found", &b"Not Found\r\n"[..]),
                    };
                    let body = if head {
                        Body::HeadOf(body)
                    } else {
                        Body::Full(body)
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

/// What a complete request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Hello,
    NotFound,
}

/// The result of parsing the start of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of `len` bytes (head and body). `head`: a HEAD
    /// request (the response has no body). `close`: `Connection: close`, or
    /// HTTP/1.0 without keep-alive.
    Complete {
        len: usize,
        route: Route,
        head: bool,
        close: bool,
    },
    /// Not all there yet; `head_complete` when only the body is missing,
    /// `expect_continue` when the head asks for `100 Continue`.
    Partial {
        expect_continue: bool,
        head_complete: bool,
    },
    /// Answer with this status and close.
    Error(&'static str),
}

/// Parses one request at the start of `input`: a pure function over bytes.
pub fn parse(input: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
            return Parsed::Error("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
            return Parsed::Error("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Partial) => {
            return Parsed::Partial {
                expect_continue: false,
                head_complete: false,
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error("431 Request Header Fields Too Large"),
        Err(_) => return Parsed::Error("400 Bad Request"),
    };
    let http10 = req.version == Some(0);
    let mut close = http10;
    let mut body: Option<usize> = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                Some(n) => n,
                None => return Parsed::Error("400 Bad Request"),
            };
            if body.is_some_and(|b| b != n) {
                return Parsed::Error("400 Bad Request");
            }
            body = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Error("501 Not Implemented");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("expect")
            && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
        {
            expect_continue = true;
        }
    }
    let body = body.unwrap_or(0);
    if body > MAX_BODY {
        return Parsed::Error("413 Content Too Large");
    }
    let len = head_len + body;
    if input.len() < len {
        return Parsed::Partial {
            expect_continue,
            head_complete: true,
        };
    }
    let path = req.path.unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let route = if path == "/" {
        Route::Hello
    } else {
        Route::NotFound
    };
    Parsed::Complete {
        len,
        route,
        head: req.method == Some("HEAD"),
        close,
    }
}

/// A response body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Full(&'a [u8]),
    /// The answer to HEAD: the length of this body, without the body.
    HeadOf(&'a [u8]),
}

/// Appends one response to `out` (no allocation beyond `out` growing).
pub fn respond(out: &mut Output<'_>, date: &[u8], status: &str, body: Body<'_>, close: bool) {
    let (body, send) = match body {
        Body::Full(b) => (b, true),
        Body::HeadOf(b) => (b, false),
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\nServer: revio\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(decimal(body.len(), &mut [0; 20]));
    if close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if send {
        out.extend_from_slice(body);
    }
}

/// `n` in decimal, without `core::fmt` (which cost as much as the rest of
/// the response under pipelining: bench/results/PERF.md), in `buf`.
pub fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate).
pub fn http_date(t: SystemTime) -> [u8; 29] {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Days to a civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut d = [0u8; 29];
    let mut w = &mut d[..];
    let _ = write!(
        w,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        hh,
        mm,
        ss
    );
    d
}

fn run(opts: &Options) -> io::Result<()> {
    let tls = opts.tls()?;
    let stop = common::Stop::install()?;
    let http = |i: usize| {
        Http::new(i == 0)
            .header_timeout(opts.header_timeout)
            .request_timeout(opts.request_timeout)
            .access_log(opts.access_log)
            .stop_on(stop.clone())
    };
    opts.config()
        .serve_with(|i| handler(tls.clone(), http(i)), opts.addrs())
}

fn main() {
    common::init_logging();
    let usage = format!("{USAGE}\n{}", common::COMMON_USAGE);
    let opts = match Options::parse(std::env::args_os().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{usage}");
            std::process::exit(0);
        }
        Err(msg) => {
            eprintln!("error: {msg}\n\n{usage}");
            std::process::exit(2);
        }
    };
    common::exit_on_error("http-server", run(&opts));
}
