//! An echo server, as in evio's README: every byte that comes in goes back out.
//!
//! ```text
//! cargo run --release --example echo-server -- --port 5000
//! nc localhost 5000
//! ```
//!
//! Run with `--help` for the flags. Ctrl-C (or SIGTERM) stops it gracefully:
//! open connections get their last bytes, the unix socket file is removed,
//! and it exits 0; a second Ctrl-C exits at once.

mod common;

use common::{COMMON_USAGE, Common, Stop};
use revio::{Action, Conn, Handler, Server};

const USAGE: &str = "echo-server: echoes every byte back (TCP, and optionally UDP and a unix socket)

usage: echo-server [FLAGS]

  --unix PATH         also listen on a unix socket at PATH
  --udp               also echo UDP datagrams on the same port
  --udp-gro           with --udp: UDP receive offload (Config::udp_gro, Linux)
  --reuseport         set SO_REUSEPORT on the listeners
  --trace             log every message (at info level: RUST_LOG=info)
defaults: --bind 0.0.0.0 --port 5000 --loops 1";

#[derive(Clone)]
struct Echo {
    trace: bool,
    stop: Stop,
    server: Option<Server>,
    loop_index: usize,
}

impl Handler for Echo {
    type State = ();

    fn serving(&mut self, server: &Server) -> Action {
        if self.loop_index == 0 {
            common::announce("echo-server", server);
        }
        self.server = Some(server.clone());
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if self.trace {
            log::info!("{}: {}", conn.id(), String::from_utf8_lossy(input).trim_end());
        }
        conn.write(input);
        Action::None
    }

    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<std::time::Duration>, Action) {
        (self.stop.check(self.server.as_ref()), Action::None)
    }
}

fn main() {
    common::init_logging();
    let mut opts = Common::new("0.0.0.0", 5000);
    let (mut unix, mut udp, mut reuseport, mut trace) = (None::<String>, false, false, false);
    let mut gro = false;
    let usage = format!("{USAGE}\n{COMMON_USAGE}");
    common::parse_args(&usage, |arg, parser| {
        if arg.is("unix") {
            unix = Some(common::value(parser)?);
        } else if arg.is("udp") {
            udp = true;
        } else if arg.is("udp-gro") {
            gro = true;
        } else if arg.is("reuseport") {
            reuseport = true;
        } else if arg.is("trace") {
            trace = true;
        } else {
            return opts.take(arg, parser);
        }
        Ok(true)
    });
    let with = |url: String| match (reuseport, url.contains('?')) {
        (false, _) => url,
        (true, true) => format!("{url}&reuseport=true"),
        (true, false) => format!("{url}?reuseport=true"),
    };
    let mut addrs = vec![with(opts.url("tcp", opts.port))];
    if udp {
        addrs.push(with(opts.url("udp", opts.port)));
    }
    if let Some(path) = unix {
        addrs.push(format!("unix://{path}"));
    }
    let stop = Stop::install().unwrap_or_else(|e| {
        eprintln!("echo-server: cannot handle signals: {e}");
        std::process::exit(1)
    });
    let r = opts.config().udp_gro(gro).serve_with(
        |loop_index| Echo {
            trace,
            stop: stop.clone(),
            server: None,
            loop_index,
        },
        &addrs,
    );
    common::exit_on_error("echo-server", r);
}
