//! A Redis clone on revio, real enough for redis-cli, redis-benchmark's
//! whole default run and client libraries with their defaults (redis-py
//! opens with `HELLO 3`): RESP2 and RESP3, inline commands, AUTH,
//! transactions, pipelining, and strings, lists, sets, hashes and sorted
//! sets with Redis 7.0's replies and errors.
//!
//! ```text
//! cargo run --release --example redis-server -- --port 6380
//! redis-cli -p 6380 set hello world
//! redis-benchmark -p 6380 -q
//! ```
//!
//! Flags: see `--help`. Ctrl-C (or SIGTERM) stops it gracefully. Several loops (`--loops`) share one keyspace split
//! into locked shards; MSET, RENAME and MULTI/EXEC lock every shard they
//! touch, so other loops never see them half done.
//!
//! Commands: strings and keys (GET SET with NX XX GET EX PX EXAT PXAT
//! KEEPTTL, SETNX SETEX PSETEX GETSET GETDEL GETEX STRLEN APPEND INCR DECR
//! INCRBY DECRBY MSET MGET DEL UNLINK EXISTS TYPE RENAME RENAMENX KEYS
//! EXPIRE PEXPIRE EXPIREAT PEXPIREAT with NX XX GT LT, TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST DBSIZE FLUSHALL FLUSHDB), lists (LPUSH RPUSH LPOP
//! RPOP LRANGE LLEN LINDEX), sets (SADD SREM SPOP SCARD SMEMBERS
//! SISMEMBER), hashes (HSET HMSET HSETNX HGET HDEL HGETALL HLEN HEXISTS),
//! sorted sets (ZADD with NX XX GT LT CH INCR, ZINCRBY ZPOPMIN ZRANGE
//! ZSCORE ZCARD ZREM), transactions (MULTI EXEC DISCARD WATCH UNWATCH),
//! connection and server (PING ECHO HELLO AUTH SELECT QUIT CLIENT
//! ID/INFO/LIST/GETNAME/SETNAME/SETINFO INFO CONFIG GET COMMAND TIME
//! SHUTDOWN), and WAKE: a helper thread wakes the connection through
//! `Server::wake` and the reply, `+WOKE`, comes from the `woken` event.
//!
//! Layout: `resp/` (the protocol: parser, replies, numbers; pure),
//! `store/` (the sharded keyspace and its value types), `commands/` (the
//! dispatcher and one file per family), `session.rs` and `shared.rs`
//! (per-connection and server-wide state), `handler.rs` (the revio
//! handler), `wake.rs` (WAKE's helper thread), this file (flags).

mod commands;
#[path = "../common/mod.rs"]
mod common;
mod handler;
mod resp;
mod session;
mod shared;
mod store;
mod wake;

use std::ffi::OsString;
use std::process::exit;
use std::sync::Arc;

use revio::{Backend, Balance, Config, Server};

use crate::handler::Redis;
use crate::resp::Limits;
use crate::shared::Shared;
use crate::store::Store;

const USAGE: &str = "\
usage: redis-server [OPTIONS]

A Redis 7 clone on revio.

Options:
  --port N              TCP port to listen on (default 6380; 0 picks a free one)
  --bind ADDR           address to listen on (default 127.0.0.1)
  --unix PATH           also listen on a unix socket
  --loops N             event loops (default 1; 0 = one per core)
  --balance POLICY      how connections spread over the loops: reuseport,
                        round-robin, least-connections, random, source-addr-hash
  --shards N            locks over the keyspace, shared by every loop (default 32)
  --requirepass PASS    clients must AUTH with this password first
  --stdlib              use the std::net backend instead of epoll/kqueue
  -h, --help            print this help
";

/// The command line.
struct Options {
    port: u16,
    bind: String,
    unix: Option<OsString>,
    loops: usize,
    balance: Balance,
    shards: usize,
    requirepass: Option<Vec<u8>>,
    backend: Backend,
}

fn parse_args() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        port: 6380,
        bind: "127.0.0.1".into(),
        unix: None,
        loops: 1,
        balance: Balance::default(),
        shards: 32,
        requirepass: None,
        backend: Backend::Auto,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => o.port = parser.value()?.parse()?,
            Long("bind") => o.bind = parser.value()?.string()?,
            Long("unix") => o.unix = Some(parser.value()?),
            Long("loops") => o.loops = parser.value()?.parse()?,
            Long("balance") => o.balance = parser.value()?.parse()?,
            Long("shards") => o.shards = parser.value()?.parse()?,
            Long("requirepass") => o.requirepass = Some(parser.value()?.string()?.into_bytes()),
            Long("stdlib") => o.backend = Backend::Std,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(o)
}

/// Wraps the real handler: prints one start-up line naming the bound
/// addresses (once, on loop 0), and stops gracefully on SIGINT or SIGTERM.
struct Announce(Redis, usize, common::Stop, Option<Server>);

impl revio::Handler for Announce {
    type State = handler::Client;
    fn serving(&mut self, server: &Server) -> revio::Action {
        if self.1 == 0 {
            let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
            println!("redis-server listening on {}", addrs.join(" "));
        }
        self.3 = Some(server.clone());
        self.0.serving(server)
    }
    fn opened(&mut self, c: &mut revio::Conn<'_, Self::State>) -> revio::Action {
        self.0.opened(c)
    }
    fn data(&mut self, c: &mut revio::Conn<'_, Self::State>, input: &[u8]) -> revio::Action {
        self.0.data(c, input)
    }
    fn woken(&mut self, c: &mut revio::Conn<'_, Self::State>) -> revio::Action {
        self.0.woken(c)
    }
    fn closed(&mut self, c: &mut revio::Conn<'_, Self::State>, e: Option<std::io::Error>) {
        self.0.closed(c, e)
    }
    fn tick(&mut self) -> (Option<std::time::Duration>, revio::Action) {
        let (sweep, action) = self.0.tick();
        let stop = self.2.check(self.3.as_ref());
        let next = match (sweep, stop) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (next, action)
    }
}

fn main() {
    let o = parse_args().unwrap_or_else(|e| {
        eprintln!("redis-server: {e}\n\n{USAGE}");
        exit(2);
    });
    let host = if o.bind.contains(':') {
        format!("[{}]", o.bind)
    } else {
        o.bind.clone()
    };
    let mut addrs = vec![format!("tcp://{host}:{}", o.port)];
    if let Some(path) = &o.unix {
        addrs.push(format!("unix://{}", path.to_string_lossy()));
    }
    let loops = if o.loops == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        o.loops
    };
    let store = Arc::new(Store::new(o.shards));
    let shared = Arc::new(Shared::new(loops, o.requirepass));
    let waker = Arc::default();
    let stop = common::Stop::install().unwrap_or_else(|e| {
        eprintln!("redis-server: cannot handle signals: {e}");
        exit(1)
    });
    let config = Config::new()
        .loops(loops)
        .backend(o.backend)
        .balance(o.balance)
        .max_input(4 * Limits::DEFAULT.max_bulk)
        // Room for the largest value's reply beyond the high-water mark.
        .max_output(2 * Limits::DEFAULT.max_bulk);
    let result = config.serve_with(
        |i| {
            let redis = Redis::new(store.clone(), shared.clone(), Arc::clone(&waker), i);
            Announce(redis, i, stop.clone(), None)
        },
        &addrs,
    );
    if let Err(e) = result {
        eprintln!("redis-server: {e}");
        exit(1);
    }
}
