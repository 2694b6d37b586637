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

/// Sends `input` and reads one reply line (`*2`, `$5`, `:1`).
fn line(s: &mut TcpStream) -> String {
    let mut l = Vec::new();
    while !l.ends_with(b"\r\n") {
        l.extend(read_n(s, 1));
    }
    String::from_utf8_lossy(&l[..l.len() - 2]).into_owned()
}

/// One SCAN call: the next cursor and the keys.
fn scan_once(s: &mut TcpStream, cursor: &str, opts: &str) -> (String, Vec<String>) {
    s.write_all(format!("SCAN {cursor} {opts}\r\n").as_bytes())
        .unwrap();
    assert_eq!(line(s), "*2");
    line(s);
    let next = line(s);
    let n: usize = line(s).trim_start_matches('*').parse().unwrap();
    let keys = (0..n).map(|_| (line(s), line(s)).1).collect();
    (next, keys)
}

/// A whole SCAN iteration, with `between` run after every call.
fn scan_all(s: &mut TcpStream, opts: &str, mut between: impl FnMut()) -> std::collections::HashSet<String> {
    let (mut cursor, mut seen, mut calls) = ("0".to_string(), std::collections::HashSet::new(), 0);
    loop {
        let (next, keys) = scan_once(s, &cursor, opts);
        seen.extend(keys);
        between();
        calls += 1;
        assert!(calls < 100_000, "the cursor never came back to 0");
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
}

/// SCAN returns every key present for the whole iteration at least once,
/// while another client adds and deletes 20,000 keys between calls (the
/// shards' tables grow and shrink), and its errors are Redis's.
fn scan_returns_every_key_present_throughout(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    let mut other = raw(&srv);
    let mut mset = String::from("MSET");
    for i in 0..2000 {
        mset.push_str(&format!(" stay:{i} v"));
    }
    exchange(&mut s, format!("{mset}\r\n").as_bytes(), b"+OK\r\n");
    let mut i = 0;
    let seen = scan_all(&mut s, "COUNT 20", || {
        let batch: String = (i..i + 200).map(|j| format!(" churn:{j} v")).collect();
        let del: String = (i.max(400) - 400..i).map(|j| format!(" churn:{j}")).collect();
        other.write_all(format!("MSET{batch}\r\n").as_bytes()).unwrap();
        assert_eq!(line(&mut other), "+OK");
        if !del.is_empty() {
            other.write_all(format!("DEL{del}\r\n").as_bytes()).unwrap();
            line(&mut other);
        }
        i += 200;
    });
    for i in 0..2000 {
        assert!(seen.contains(&format!("stay:{i}")), "stay:{i} was missed");
    }
    // MATCH and TYPE filter; a small keyspace comes back in one call.
    exchange(
        &mut s,
        b"FLUSHALL\r\nSET a 1\r\nSET b 1\r\nLPUSH l x\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n:1\r\n",
    );
    let (next, mut keys) = scan_once(&mut s, "0", "COUNT 100");
    keys.sort();
    assert_eq!(
        (next.as_str(), keys),
        ("0", vec!["a".into(), "b".into(), "l".into()])
    );
    assert_eq!(
        scan_all(&mut s, "MATCH [a-k]", || {}),
        ["a".to_string(), "b".into()].into()
    );
    assert_eq!(scan_all(&mut s, "TYPE LIST", || {}), ["l".to_string()].into());
    assert_eq!(scan_all(&mut s, "TYPE nosuch", || {}), Default::default());
    for (input, want) in [
        ("SCAN x", "-ERR invalid cursor"),
        ("SCAN 18446744073709551616", "-ERR invalid cursor"),
        ("SCAN x COUNT 0", "-ERR invalid cursor"),
        ("SCAN 0 COUNT 0", "-ERR syntax error"),
        ("SCAN 0 COUNT -1", "-ERR syntax error"),
        ("SCAN 0 COUNT x", "-ERR value is not an integer or out of range"),
        ("SCAN 0 MATCH", "-ERR syntax error"),
        ("SCAN 0 FOO bar", "-ERR syntax error"),
    ] {
        s.write_all(format!("{input}\r\n").as_bytes()).unwrap();
        assert_eq!(line(&mut s), want, "{input}");
    }
    srv.stop().unwrap();
}

fn zrevrange_is_zrange_reversed(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    exchange(&mut s, b"ZADD z 1 a 2 b 3 c\r\n", b":3\r\n");
    exchange(
        &mut s,
        b"ZREVRANGE z 0 -1\r\n",
        b"*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n",
    );
    exchange(
        &mut s,
        b"ZREVRANGE z 1 1 WITHSCORES\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    exchange(&mut s, b"ZRANGE z 0 0 REV\r\n", b"*1\r\n$1\r\nc\r\n");
    exchange(&mut s, b"ZREVRANGE z 0 -1 REV\r\n", b"-ERR syntax error\r\n");
    exchange(&mut s, b"ZREVRANGE z 0 -1 BYSCORE\r\n", b"-ERR syntax error\r\n");
    exchange(
        &mut s,
        b"ZREVRANGE z 0 -1 LIMIT 0 1\r\n",
        b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n",
    );
    exchange(&mut s, b"ZREVRANGE nokey 0 -1\r\n", b"*0\r\n");
    exchange(&mut s, b"HELLO 3\r\n", b"%7\r\n");
    s.write_all(b"PING\r\n").unwrap();
    while line(&mut s) != "+PONG" {}
    exchange(
        &mut s,
        b"ZREVRANGE z 0 0 WITHSCORES\r\n",
        b"*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
    );
    srv.stop().unwrap();
}

/// Reads a bulk string reply.
fn bulk(s: &mut TcpStream) -> String {
    let n: usize = line(s).trim_start_matches('$').parse().unwrap();
    let text = read_n(s, n + 2);
    String::from_utf8_lossy(&text[..n]).into_owned()
}

fn info_has_the_clients_memory_and_replication_sections(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    let _others: Vec<TcpStream> = (0..2).map(|_| raw(&srv)).collect();
    exchange(&mut s, b"PING\r\n", b"+PONG\r\n");
    for _others in &_others {
        exchange(&mut _others.try_clone().unwrap(), b"PING\r\n", b"+PONG\r\n");
    }
    s.write_all(b"INFO\r\n").unwrap();
    let info = bulk(&mut s);
    for want in [
        "# Clients\r\nconnected_clients:3\r\n",
        "\r\nblocked_clients:0\r\n",
        "\r\nmaxclients:",
        "\r\n\r\n# Memory\r\nused_memory:",
        "\r\nused_memory_human:",
        "\r\nused_memory_peak:",
        "\r\nmaxmemory:0\r\n",
        "\r\nmaxmemory_policy:noeviction\r\n",
        "\r\nmem_fragmentation_ratio:",
        "\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n",
        "\r\nmaster_repl_offset:0\r\n",
    ] {
        assert!(info.contains(want), "{want:?} not in {info}");
    }
    let replid = info.split("master_replid:").nth(1).unwrap();
    assert!(replid[..40].bytes().all(|b| b.is_ascii_hexdigit()), "{info}");
    let used = |s: &mut TcpStream| -> u64 {
        s.write_all(b"INFO memory\r\n").unwrap();
        let info = bulk(s);
        assert!(
            info.starts_with("# Memory\r\n") && !info.contains("# Clients"),
            "{info}"
        );
        let v = info
            .split("used_memory:")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap();
        v.parse().unwrap()
    };
    let before = used(&mut s);
    let mut set = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1000000\r\n".to_vec();
    set.extend(vec![b'x'; 1_000_000]);
    set.extend_from_slice(b"\r\n");
    exchange(&mut s, &set, b"+OK\r\n");
    let after = used(&mut s);
    assert!(after >= before + 1_000_000, "used_memory {before} then {after}");
    s.write_all(b"INFO clients replication\r\n").unwrap();
    let two = bulk(&mut s);
    assert!(
        two.starts_with("# Clients\r\n") && two.contains("\r\n\r\n# Replication\r\n"),
        "{two}"
    );
    assert!(!two.contains("# Memory"), "{two}");
    srv.stop().unwrap();
}

/// COMMAND INFO: redis-server 7.0.15's answer, byte for byte, for GET and
/// RENAME (two key specs), and a null for an unknown name.
fn command_info_describes_commands_as_redis_does(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    let get = "*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
        *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n\
        $12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
        $9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n\
        $7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
    let want = format!("*3\r\n{get}$-1\r\n{get}");
    exchange(&mut s, b"COMMAND INFO get nosuch GET\r\n", want.as_bytes());
    let list = "*10\r\n$11\r\nclient|list\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n\
        :0\r\n:0\r\n:0\r\n*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n\
        *1\r\n$23\r\nnondeterministic_output\r\n*0\r\n*0\r\n";
    exchange(
        &mut s,
        b"COMMAND INFO client|list\r\n",
        format!("*1\r\n{list}").as_bytes(),
    );
    s.write_all(b"COMMAND INFO rename\r\n").unwrap();
    assert_eq!(line(&mut s), "*1");
    assert_eq!(line(&mut s), "*10");
    assert_eq!(bulk(&mut s), "rename");
    assert_eq!(line(&mut s), ":3");
    exchange(&mut raw(&srv), b"HELLO 3\r\nCOMMAND INFO nosuch\r\n", b"%7\r\n");
    srv.stop().unwrap();
}

/// Before AUTH, a bulk string over 16384 bytes is refused with Redis's
/// error and the connection closed; 16384 itself is taken.
fn an_unauthenticated_bulk_length_over_the_limit_closes(b: Backend) {
    let srv = start(b, Redis::standalone(8, Some(b"pw")), &["tcp://127.0.0.1:0"]);
    let mut s = raw(&srv);
    let mut ok = b"*2\r\n$4\r\nECHO\r\n$16384\r\n".to_vec();
    ok.extend(vec![b'x'; 16384]);
    ok.extend_from_slice(b"\r\n");
    exchange(&mut s, &ok, b"-NOAUTH Authentication required.\r\n");
    s.write_all(b"*2\r\n$4\r\nECHO\r\n$16385\r\n").unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut got);
    assert_eq!(
        got.escape_ascii().to_string(),
        "-ERR Protocol error: unauthenticated bulk length\\r\\n"
    );
    // After AUTH the limit is gone.
    let mut s = raw(&srv);
    exchange(&mut s, b"AUTH pw\r\n", b"+OK\r\n");
    let mut big = b"*2\r\n$4\r\nECHO\r\n$16385\r\n".to_vec();
    big.extend(vec![b'y'; 16385]);
    big.extend_from_slice(b"\r\n");
    s.write_all(&big).unwrap();
    assert_eq!(bulk(&mut s).len(), 16385);
    srv.stop().unwrap();
}

/// A RESP command of `args`.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A bulk reply of `v`.
fn bulk_of(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// Large strings are kept as shared buffers and sent from the store
/// without a copy: GET, MGET and GETSET return them whole and in order
/// among small replies, and APPEND, SETRANGE and STRLEN on them behave as
/// on any string (the value is copied once, when it is first changed).
fn large_values_are_served_from_shared_buffers_as_any_string(b: Backend) {
    let srv = start_redis(b);
    let mut s = raw(&srv);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    exchange(&mut s, &command(&[b"SET", b"big", &big]), b"+OK\r\n");
    // A shared reply among copied ones, in order.
    let mut want = bulk_of(&big);
    want.extend_from_slice(b"+OK\r\n$1\r\nv\r\n");
    want.extend(bulk_of(&big));
    let mut input = command(&[b"GET", b"big"]);
    input.extend(command(&[b"SET", b"small", b"v"]));
    input.extend(command(&[b"GET", b"small"]));
    input.extend(command(&[b"GET", b"big"]));
    exchange(&mut s, &input, &want);
    let mut mget = b"*2\r\n".to_vec();
    mget.extend(bulk_of(&big));
    mget.extend(bulk_of(b"v"));
    exchange(&mut s, &command(&[b"MGET", b"big", b"small"]), &mget);
    exchange(&mut s, &command(&[b"STRLEN", b"big"]), b":100000\r\n");
    exchange(&mut s, &command(&[b"APPEND", b"big", b"!"]), b":100001\r\n");
    let mut changed = big.clone();
    changed.push(b'!');
    exchange(&mut s, &command(&[b"GET", b"big"]), &bulk_of(&changed));
    exchange(&mut s, &command(&[b"GETSET", b"big", b"x"]), &bulk_of(&changed));
    exchange(&mut s, &command(&[b"GET", b"big"]), b"$1\r\nx\r\n");
    srv.stop().unwrap();
}

per_backend!(
    large_values_are_served_from_shared_buffers_as_any_string,
    scan_returns_every_key_present_throughout,
    zrevrange_is_zrange_reversed,
    info_has_the_clients_memory_and_replication_sections,
    command_info_describes_commands_as_redis_does,
    an_unauthenticated_bulk_length_over_the_limit_closes,
    shutdown_with_bad_arguments_keeps_serving,
    expiretime_rounds_the_last_deadline_without_wrapping,
    scores_may_be_hexadecimal_floats,
);
