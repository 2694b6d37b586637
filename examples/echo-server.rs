//! An echo server, as in evio's README: every byte that comes in goes back out.
//!
//! ```text
//! cargo run --release --example echo-server -- --port 5000
//! nc localhost 5000
//! ```
//!
//! Flags: `--port N` (5000), `--unix PATH` to also listen on a unix socket,
//! `--udp` to also echo UDP datagrams on the same port, `--reuseport`,
//! `--loops N` (1; 0 = one per core), `--balance reuseport|round-robin|least-connections|random|source-addr-hash`,
//! `--stdlib` to run on the std::net fallback backend instead of epoll/kqueue,
//! `--trace` to log every message.

use std::process::exit;

use revio::{Action, Backend, Balance, Config, Conn, Handler, Server};

#[derive(Clone)]
struct Echo {
    trace: bool,
    port: u16,
}

impl Handler for Echo {
    type State = ();

    fn serving(&mut self, server: &Server) -> Action {
        println!(
            "echo server started on port {} (loops: {})",
            self.port,
            server.loops()
        );
        for a in server.addrs() {
            println!("listening on {a}");
        }
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        if self.trace {
            println!("{}: {}", conn.id(), String::from_utf8_lossy(input).trim_end());
        }
        conn.write(input);
        Action::None
    }
}

fn main() {
    let mut port = 5000u16;
    let mut unix = None;
    let mut udp = false;
    let mut reuseport = false;
    let mut trace = false;
    let mut backend = Backend::Auto;
    let mut loops = 1usize;
    let mut balance = Balance::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{name} needs a value");
                exit(2)
            })
        };
        match a.as_str() {
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes a number"))
            }
            "--unix" => unix = Some(value("--unix")),
            "--loops" => {
                loops = value("--loops")
                    .parse()
                    .unwrap_or_else(|_| usage("--loops takes a number"))
            }
            "--balance" => {
                balance = value("--balance")
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("{e}")))
            }
            "--udp" => udp = true,
            "--reuseport" => reuseport = true,
            "--trace" => trace = true,
            "--stdlib" => backend = Backend::Std,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let q = if reuseport { "?reuseport=true" } else { "" };
    let mut addrs = vec![format!("tcp://0.0.0.0:{port}{q}")];
    if udp {
        addrs.push(format!("udp://0.0.0.0:{port}{q}"));
    }
    if let Some(path) = unix {
        addrs.push(format!("unix://{path}"));
    }
    let echo = Echo { trace, port };
    if let Err(e) = Config::new()
        .loops(loops)
        .balance(balance)
        .backend(backend)
        .serve_with(|_| echo.clone(), &addrs)
    {
        eprintln!("echo-server: {e}");
        exit(1);
    }
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("{msg}");
    }
    eprintln!(
        "usage: echo-server [--port N] [--unix PATH] [--udp] [--reuseport] [--loops N] [--balance POLICY] [--stdlib] [--trace]"
    );
    exit(2)
}
