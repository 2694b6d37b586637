//! A Redis clone on revio, real enough for redis-cli, redis-benchmark and
//! client libraries: RESP2 (and inline commands), strings with expiry, and
//! pipelining (every complete command of a read runs, and all their replies
//! go out in one write).
//!
//! ```text
//! cargo run --release --example redis-server -- --port 6380
//! redis-cli -p 6380 set hello world
//! redis-benchmark -p 6380 -t set,get -q
//! ```
//!
//! Flags: `--port N` (6380; 0 picks a free one), `--bind HOST` (127.0.0.1),
//! `--unix PATH` to also serve a unix socket, `--loops N` (1; 0 = one per
//! core), `--balance reuseport|round-robin|least-connections|random|source-addr-hash`
//! (how connections spread over the loops), `--shards N` (32 locks over the keyspace, which every loop shares),
//! `--stdlib` for the std::net backend instead of epoll/kqueue.
//!
//! Commands: PING ECHO SET (EX PX NX XX GET KEEPTTL) GET DEL EXISTS INCR DECR
//! INCRBY DECRBY MSET MGET EXPIRE PEXPIRE PERSIST TTL PTTL DBSIZE FLUSHALL
//! FLUSHDB KEYS SELECT INFO CONFIG\ GET COMMAND CLIENT\ SETNAME/GETNAME/SETINFO
//! QUIT SHUTDOWN, and WAKE (a helper thread wakes the connection through
//! `Server::wake` and the reply, `+WOKE`, comes from the `woken` event).
//! Inline commands (telnet, PING_INLINE) are split as redis-cli splits its
//! input, quotes and escapes included.
//!
//! Layout: `resp.rs` (the protocol, pure), `store.rs` (the sharded keyspace),
//! `commands.rs` (the commands, pure over store and output), `handler.rs`
//! (the revio handler), this file (flags).

mod commands;
mod handler;
mod resp;
mod store;

use std::process::exit;
use std::sync::Arc;

use revio::{Backend, Balance, Config};

use crate::handler::Redis;
use crate::store::Store;

fn main() {
    let mut port = 6380u16;
    let mut bind = String::from("127.0.0.1");
    let mut unix = None;
    let mut loops = 1usize;
    let mut shards = 32usize;
    let mut backend = Backend::Auto;
    let mut balance = Balance::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let number = |v: String, name: &str| {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name} takes a number")))
        };
        match a.as_str() {
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes a port number"))
            }
            "--bind" => bind = value("--bind"),
            "--unix" => unix = Some(value("--unix")),
            "--loops" => loops = number(value("--loops"), "--loops"),
            "--shards" => shards = number(value("--shards"), "--shards"),
            "--balance" => {
                balance = value("--balance")
                    .parse()
                    .unwrap_or_else(|e: std::io::Error| usage(&e.to_string()))
            }
            "--stdlib" => backend = Backend::Std,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let host = if bind.contains(':') {
        format!("[{bind}]")
    } else {
        bind
    };
    let mut addrs = vec![format!("tcp://{host}:{port}")];
    if let Some(path) = unix {
        addrs.push(format!("unix://{path}"));
    }
    let store = Arc::new(Store::new(shards));
    let config = Config::new()
        .loops(loops)
        .backend(backend)
        .balance(balance)
        .max_input(4 * resp::Limits::DEFAULT.max_bulk);
    let result = config.serve_with(|i| Redis::new(store.clone(), i, loops.max(1)), &addrs);
    if let Err(e) = result {
        eprintln!("redis-server: {e}");
        exit(1);
    }
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("{msg}");
    }
    eprintln!(
        "usage: redis-server [--port N] [--bind HOST] [--unix PATH] [--loops N] [--balance POLICY] [--shards N] [--stdlib]"
    );
    exit(2)
}
