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

#[path = "../common/mod.rs"]
mod common;
mod handler;
mod protocol;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use revio::{Config, Tls};

pub use handler::{Http, handler};
pub use protocol::*;

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
        include_str!("../certs/localhost-cert.pem").to_string(),
        include_str!("../certs/localhost-key.pem").to_string(),
    ))
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
