//! What every example shares: command-line parsing (with `lexopt`), the
//! flags every server takes, a logger (`RUST_LOG` sets the level), and a
//! graceful stop on SIGINT or SIGTERM (a second signal exits at once).
#![allow(dead_code)]

use std::io;
use std::process::exit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use revio::{Addr, Backend, Balance, Config, Server};

/// Installs the logger: warnings and errors by default, `RUST_LOG` to change it
/// (`RUST_LOG=debug`, `RUST_LOG=revio=trace`).
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
}

/// One command-line argument, owned (so that a flag's value can be read
/// while looking at the flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Long(String),
    Short(char),
    Value(std::ffi::OsString),
}

impl Arg {
    fn of(arg: lexopt::Arg<'_>) -> Arg {
        match arg {
            lexopt::Arg::Long(l) => Arg::Long(l.to_string()),
            lexopt::Arg::Short(c) => Arg::Short(c),
            lexopt::Arg::Value(v) => Arg::Value(v),
        }
    }

    /// Whether this is `--name`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, Arg::Long(l) if l == name)
    }

    fn unexpected(&self) -> lexopt::Error {
        match self {
            Arg::Long(l) => lexopt::Arg::Long(l).unexpected(),
            Arg::Short(c) => lexopt::Arg::Short(*c).unexpected(),
            Arg::Value(v) => lexopt::Arg::Value(v.clone()).unexpected(),
        }
    }
}

/// Parses `args` (without the program name) with `lexopt`. `extra` handles
/// the flags an example adds, returning `Ok(false)` for a flag it does not
/// know. Returns `Ok(false)` when `--help` was asked for.
pub fn parse_from<I>(
    args: I,
    mut extra: impl FnMut(&Arg, &mut lexopt::Parser) -> Result<bool, lexopt::Error>,
) -> Result<bool, lexopt::Error>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()?.map(Arg::of) {
        if arg == Arg::Short('h') || arg.is("help") {
            return Ok(false);
        }
        if !extra(&arg, &mut parser)? {
            return Err(arg.unexpected());
        }
    }
    Ok(true)
}

/// Parses the command line: `--help` prints `usage` on stdout and exits 0; a
/// bad argument prints the problem and `usage` on stderr and exits 2.
pub fn parse_args(usage: &str, extra: impl FnMut(&Arg, &mut lexopt::Parser) -> Result<bool, lexopt::Error>) {
    match parse_from(std::env::args_os().skip(1), extra) {
        Ok(true) => {}
        Ok(false) => {
            println!("{usage}");
            exit(0);
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{usage}");
            exit(2);
        }
    }
}

/// Parses a flag's value with `FromStr`.
pub fn value<T>(parser: &mut lexopt::Parser) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v = parser.value()?;
    let s = v
        .to_str()
        .ok_or_else(|| lexopt::Error::from("a value is not valid UTF-8"))?;
    s.parse().map_err(|e: T::Err| lexopt::Error::from(e.to_string()))
}

/// The flags every server example takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub bind: String,
    pub port: u16,
    pub loops: usize,
    pub balance: Balance,
    pub backend: Backend,
    /// Listeners expect a PROXY protocol header of this version.
    pub proxy: Option<revio::proxy_protocol::Version>,
}

/// The usage lines of [`Common`]'s flags.
pub const COMMON_USAGE: &str = "  --bind ADDR         the address to listen on
  --port N            the TCP port (0: any free port)
  --loops N           event loops, one thread each (0: one per core)
  --balance POLICY    reuseport, round-robin, least-connections, random or source-addr-hash
  --backend NAME      auto, poll (epoll/kqueue), uring (io_uring) or std (the std::net fallback)
  --stdlib            the same as --backend std
  --proxy-protocol V  connections start with a PROXY protocol header, v1, v2 or any
                      (behind HAProxy's send-proxy; the client's address comes from it)
  -h, --help          this help";

impl Common {
    pub fn new(bind: &str, port: u16) -> Common {
        Common {
            bind: bind.to_string(),
            port,
            loops: 1,
            balance: Balance::default(),
            backend: Backend::Auto,
            proxy: None,
        }
    }

    /// Takes one of the common flags; `Ok(false)` if `arg` is not one.
    pub fn take(&mut self, arg: &Arg, parser: &mut lexopt::Parser) -> Result<bool, lexopt::Error> {
        let Arg::Long(name) = arg else {
            return Ok(false);
        };
        match name.as_str() {
            "bind" => self.bind = value(parser)?,
            "port" => self.port = value(parser)?,
            "loops" => self.loops = value(parser)?,
            "balance" => self.balance = value(parser)?,
            "backend" => self.backend = value(parser)?,
            "stdlib" => self.backend = Backend::Std,
            "proxy-protocol" => self.proxy = Some(value(parser)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `scheme://bind:port`, with IPv6 addresses in brackets (and, for
    /// TCP with `--proxy-protocol`, `?proxy=`).
    pub fn url(&self, scheme: &str, port: u16) -> String {
        let host = if self.bind.contains(':') && !self.bind.starts_with('[') {
            format!("[{}]", self.bind)
        } else {
            self.bind.clone()
        };
        let proxy = match (scheme, self.proxy) {
            ("tcp", Some(v)) => format!("?proxy={}", version_name(v)),
            _ => String::new(),
        };
        format!("{scheme}://{host}:{port}{proxy}")
    }

    /// The configuration these flags ask for.
    pub fn config(&self) -> Config {
        Config::new()
            .loops(self.loops)
            .balance(self.balance)
            .backend(self.backend)
    }
}

fn version_name(v: revio::proxy_protocol::Version) -> &'static str {
    match v {
        revio::proxy_protocol::Version::V1 => "v1",
        revio::proxy_protocol::Version::V2 => "v2",
        _ => "any",
    }
}

/// Prints the one start-up line: what listens where (the real addresses,
/// port 0 resolved).
pub fn announce(name: &str, server: &Server) {
    let addrs: Vec<String> = server.addrs().iter().map(Addr::to_string).collect();
    let backend = match server.backend() {
        Backend::Uring => "io_uring",
        Backend::Std => "std::net",
        _ if cfg!(target_os = "linux") => "epoll",
        _ => "kqueue",
    };
    println!(
        "{name} listening on {} ({} loop{}, {backend}; Ctrl-C stops it)",
        addrs.join(", "),
        server.loops(),
        if server.loops() == 1 { "" } else { "s" }
    );
}

/// A graceful stop on SIGINT or SIGTERM: the first signal sets a flag that
/// the server's ticker turns into [`Server::shutdown`]; a second signal exits
/// at once (status 130).
#[derive(Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
}

/// How often the ticker looks at the flag.
pub const STOP_POLL: Duration = Duration::from_millis(100);

impl Stop {
    pub fn install() -> io::Result<Stop> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registered first, so the first signal only sets the flag and
            // the second finds it set and exits.
            signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())?;
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(Stop { flag })
    }

    /// A stop that no signal sets (for tests that embed a handler).
    pub fn never() -> Stop {
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// For the handler's `tick`: shuts `server` down once a signal came;
    /// returns the delay until the next look.
    pub fn check(&self, server: Option<&Server>) -> Option<Duration> {
        let signalled = self.flag.load(Ordering::Relaxed);
        if let Some(s) = server.filter(|s| signalled && !s.is_shutting_down()) {
            eprintln!("stopping: finishing open connections (a second Ctrl-C exits at once)");
            s.shutdown();
        }
        Some(STOP_POLL)
    }
}

/// Exits with a message when the server failed.
pub fn exit_on_error(name: &str, r: io::Result<()>) {
    if let Err(e) = r {
        eprintln!("{name}: {e}");
        exit(1);
    }
}
