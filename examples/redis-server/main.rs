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
//! SCAN with MATCH COUNT TYPE, EXPIRE PEXPIRE EXPIREAT PEXPIREAT with NX
//! XX GT LT, TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST DBSIZE FLUSHALL FLUSHDB), lists (LPUSH RPUSH LPOP
//! RPOP LRANGE LLEN LINDEX), sets (SADD SREM SPOP SCARD SMEMBERS
//! SISMEMBER), hashes (HSET HMSET HSETNX HGET HDEL HGETALL HLEN HEXISTS),
//! sorted sets (ZADD with NX XX GT LT CH INCR, ZINCRBY ZPOPMIN ZRANGE
//! ZREVRANGE ZSCORE ZCARD ZREM), transactions (MULTI EXEC DISCARD WATCH
//! UNWATCH),
//! connection and server (PING ECHO HELLO AUTH SELECT QUIT CLIENT
//! ID/INFO/LIST/GETNAME/SETNAME/SETINFO, INFO with its server, clients,
//! memory, replication and keyspace sections, CONFIG GET, COMMAND with
//! INFO and COUNT in Redis 7.0's shape, LIST, and DOCS (empty), TIME
//! SHUTDOWN), and WAKE: a helper thread wakes the connection through
//! `Server::wake` and the reply, `+WOKE`, comes from the `woken` event.
//!
//! Layout: `resp/` (the protocol: parser, replies, numbers; pure),
//! `store/` (the sharded keyspace, each shard a table of buckets that
//! SCAN walks with Redis's reverse-binary cursor, and the value types),
//! `commands/` (the dispatcher and one file per family), `session.rs` and `shared.rs`
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

use std::process::exit;
use std::sync::Arc;

use revio::Server;

use crate::handler::Redis;
use crate::resp::Limits;
use crate::shared::Shared;
use crate::store::Store;

const USAGE: &str = "\
redis-server: a Redis 7 clone on revio

usage: redis-server [FLAGS]

  --unix PATH           also listen on a unix socket
  --shards N            locks over the keyspace, shared by every loop (default 32)
  --requirepass PASS    clients must AUTH with this password first
  --timeout SECS        close a client idle for this long (Redis's `timeout`; 0: never)
defaults: --bind 127.0.0.1 --port 6380 --loops 1 --timeout 0";

/// The command line.
struct Options {
    common: common::Common,
    unix: Option<String>,
    shards: usize,
    requirepass: Option<Vec<u8>>,
    timeout: u64,
}

fn parse_args() -> Options {
    let mut o = Options {
        common: common::Common::new("127.0.0.1", 6380),
        unix: None,
        shards: 32,
        requirepass: None,
        timeout: 0,
    };
    let usage = format!("{USAGE}\n{}", common::COMMON_USAGE);
    common::parse_args(&usage, |arg, parser| {
        if arg.is("unix") {
            o.unix = Some(common::value(parser)?);
        } else if arg.is("shards") {
            o.shards = common::value(parser)?;
        } else if arg.is("requirepass") {
            o.requirepass = Some(common::value::<String>(parser)?.into_bytes());
        } else if arg.is("timeout") {
            o.timeout = common::value(parser)?;
        } else {
            return o.common.take(arg, parser);
        }
        Ok(true)
    });
    o
}

/// Wraps the real handler: prints one start-up line naming the bound
/// addresses (once, on loop 0), and stops gracefully on SIGINT or SIGTERM.
struct Announce(Redis, usize, common::Stop, Option<Server>);

impl revio::Handler for Announce {
    type State = handler::Client;
    fn serving(&mut self, server: &Server) -> revio::Action {
        if self.1 == 0 {
            common::announce("redis-server", server);
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
    fn tick(&mut self, tick: &revio::Tick<'_>) -> (Option<std::time::Duration>, revio::Action) {
        let (sweep, action) = self.0.tick(tick);
        let stop = self.2.check(self.3.as_ref());
        let next = match (sweep, stop) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (next, action)
    }
}

fn main() {
    common::init_logging();
    let o = parse_args();
    let mut addrs = vec![o.common.url("tcp", o.common.port)];
    if let Some(path) = &o.unix {
        addrs.push(format!("unix://{path}"));
    }
    let loops = if o.common.loops == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        o.common.loops
    };
    let store = Arc::new(Store::new(o.shards));
    let shared = Arc::new(Shared::new(loops, o.requirepass));
    let waker = Arc::default();
    let stop = common::Stop::install().unwrap_or_else(|e| {
        eprintln!("redis-server: cannot handle signals: {e}");
        exit(1)
    });
    let timeout = (o.timeout > 0).then(|| std::time::Duration::from_secs(o.timeout));
    let config = o
        .common
        .config()
        .loops(loops)
        .idle_timeout(timeout)
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
