//! The redis-server example where it once parted from Redis 7.0.15 (issue
//! 22), over raw sockets: a WATCHed key that expires, SHUTDOWN's arguments,
//! EXPIRETIME at the end of time, hexadecimal floats, COMMAND INFO, SCAN,
//! ZREVRANGE, INFO's sections and the unauthenticated bulk length. The
//! replies expected here are redis-server 7.0.15's.

#[path = "../../tests/common/mod.rs"]
mod common;

#[path = "../../examples/redis-server/commands/mod.rs"]
mod commands;
#[path = "../../examples/redis-server/handler.rs"]
mod handler;
#[path = "../../examples/redis-server/resp/mod.rs"]
mod resp;
#[path = "../../examples/redis-server/session.rs"]
mod session;
#[path = "../../examples/redis-server/shared.rs"]
mod shared;
#[path = "../../examples/redis-server/store/mod.rs"]
mod store;
#[path = "../../examples/redis-server/wake.rs"]
mod wake;

use std::io::Write;
use std::net::TcpStream;

use common::*;
use handler::Redis;
use revio::Backend;

fn start_redis(b: Backend) -> Running {
    start(b, Redis::standalone(8, None), &["tcp://127.0.0.1:0"])
}

fn raw(srv: &Running) -> TcpStream {
    let s = srv.connect(0);
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `input` and reads exactly as many bytes as `want`, which must be `want`.
fn exchange(s: &mut TcpStream, input: &[u8], want: &[u8]) {
    s.write_all(input).unwrap();
    let got = read_n(s, want.len());
    assert_eq!(
        got.escape_ascii().to_string(),
        want.escape_ascii().to_string(),
        "reply to {}",
        input.escape_ascii()
    );
}

fn shutdown_with_bad_arguments_keeps_serving(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    for bad in ["FOO", "NOSAVE SAVE", "NOW ABORT", "FORCE ABORT", "SAVE x"] {
        let input = format!("SHUTDOWN {bad}\r\n");
        exchange(&mut s, input.as_bytes(), b"-ERR syntax error\r\n");
    }
    for abort in ["ABORT", "abort ABORT"] {
        let input = format!("SHUTDOWN {abort}\r\n");
        exchange(&mut s, input.as_bytes(), b"-ERR No shutdown in progress.\r\n");
    }
    exchange(&mut s, b"PING\r\n", b"+PONG\r\n");
    exchange(&mut raw(&srv), b"PING\r\n", b"+PONG\r\n");
    srv.stop().unwrap();
}

fn expiretime_rounds_the_last_deadline_without_wrapping(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    exchange(&mut s, b"SET k v PXAT 9223372036854775807\r\n", b"+OK\r\n");
    exchange(&mut s, b"EXPIRETIME k\r\n", b":9223372036854776\r\n");
    exchange(&mut s, b"PEXPIRETIME k\r\n", b":9223372036854775807\r\n");
    exchange(&mut s, b"PEXPIREAT k 9223372036854775499\r\n", b":1\r\n");
    exchange(&mut s, b"EXPIRETIME k\r\n", b":9223372036854775\r\n");
    srv.stop().unwrap();
}

fn scores_may_be_hexadecimal_floats(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    exchange(&mut s, b"ZADD z 0x10 m 0X1p3 n -0x1.8p1 o\r\n", b":3\r\n");
    exchange(&mut s, b"ZINCRBY z 0x.8 m\r\n", b"$4\r\n16.5\r\n");
    exchange(&mut s, b"ZRANGE z 0x0 0x1p4 BYSCORE\r\n", b"*1\r\n$1\r\nn\r\n");
    for bad in ["0x", "0x1p99999", "0x1p-1075", "nan", "0xg"] {
        let input = format!("ZADD z {bad} q\r\n");
        exchange(&mut s, input.as_bytes(), b"-ERR value is not a valid float\r\n");
    }
    exchange(&mut s, b"ZADD z 0x1p-1074 q\r\n", b":1\r\n");
    exchange(&mut s, b"ZSCORE z q\r\n", b"$23\r\n4.9406564584124654e-324\r\n");
    srv.stop().unwrap();
}

per_backend!(
    shutdown_with_bad_arguments_keeps_serving,
    expiretime_rounds_the_last_deadline_without_wrapping,
    scores_may_be_hexadecimal_floats,
);
