//! The differential test: random sequences of the implemented commands sent
//! to a real redis-server 7 and to the example, replies compared byte for
//! byte (TTLs with a tolerance, unordered replies as sets), over two
//! connections per server (so that WATCH and transactions meet), in RESP2
//! and in RESP3.
//!
//! Needs `redis-server` on the PATH (`.ci/run` installs Debian's). Without
//! it the test says so and passes, unless `REVIO_REDIS_DIFF=required`.
//! `REVIO_REDIS_DIFF_COMMANDS` sets the number of commands per protocol
//! (default 60,000), `REVIO_REDIS_DIFF_SEED` the seed.

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

#[path = "redis_diff/gen.rs"]
mod gen_cmds;
#[path = "redis_diff/wire.rs"]
mod wire;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gen_cmds::{Kind, Rng};
use wire::{Conn, Reply};

/// A redis-server child process, killed on drop.
struct RedisServer {
    child: Child,
    addr: String,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's redis-server on a free port (no persistence), or `None`
/// if it is not installed.
fn redis_server() -> Option<RedisServer> {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut server = RedisServer {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + common::LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            if TcpStream::connect(&server.addr).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = server.child.kill();
    }
    None
}

/// Whether two replies agree under `kind`.
fn agree(kind: Kind, a: &Reply, b: &Reply) -> bool {
    if a.kind != b.kind {
        return false;
    }
    match kind {
        Kind::Exact => a == b,
        Kind::Near(by) => match (a.int(), b.int()) {
            (Some(x), Some(y)) if x >= 0 && y >= 0 => (x - y).abs() <= by,
            _ => a == b,
        },
        Kind::Unordered | Kind::Pairs => {
            let group = if kind == Kind::Pairs { 2 } else { 1 };
            let sorted = |r: &Reply| {
                let mut v: Vec<Vec<u8>> = r
                    .items
                    .chunks(group)
                    .map(|c| c.iter().flat_map(Reply::bytes).collect())
                    .collect();
                v.sort();
                v
            };
            a.line == b.line && sorted(a) == sorted(b)
        }
        Kind::Shape => (a.line == b"-1") == (b.line == b"-1") && a.items.len() == b.items.len(),
        Kind::Hello => {
            let masked = |r: &Reply| {
                let mut r = r.clone();
                if let Some(i) = r.items.iter().position(|x| x.data == b"id") {
                    r.items[i + 1].line = b"0".to_vec();
                }
                r
            };
            masked(a) == masked(b)
        }
    }
}

/// What one connection has queued in a transaction, as seen from the
/// reference server's replies: the kinds of the queued commands.
#[derive(Default)]
struct TxState {
    queued: Option<Vec<Kind>>,
}

impl TxState {
    /// Follows `args` and Redis's `reply`; returns how to compare an EXEC's
    /// elements when `args` is EXEC.
    fn follow(&mut self, args: &[Vec<u8>], kind: Kind, reply: &Reply) -> Option<Vec<Kind>> {
        let name = args[0].to_ascii_uppercase();
        if reply.kind == b'+' && reply.line == b"QUEUED" {
            if let Some(q) = self.queued.as_mut() {
                q.push(kind);
            }
            return None;
        }
        match &name[..] {
            b"MULTI" if reply.kind == b'+' => self.queued = Some(Vec::new()),
            b"EXEC" | b"DISCARD" if args.len() == 1 => return self.queued.take(),
            _ => {}
        }
        None
    }
}

fn describe(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `n` random commands in protocol `proto` against both servers.
fn run(reference: &str, example: &str, proto: i64, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let open = |addr: &str| {
        (0..2)
            .map(|_| Conn::open(addr).expect("connect"))
            .collect::<Vec<_>>()
    };
    let (mut theirs, mut ours) = (open(reference), open(example));
    let mut tx: Vec<TxState> = vec![TxState::default(), TxState::default()];
    let hello = vec![b"HELLO".to_vec(), proto.to_string().into_bytes()];
    for c in 0..2 {
        for conns in [&mut theirs, &mut ours] {
            conns[c].send(&[&[b"FLUSHALL".to_vec()], &hello]).unwrap();
            conns[c].read().unwrap();
            conns[c].read().unwrap();
        }
    }
    let mut in_multi = [false, false];
    let mut done = 0;
    let mut history: Vec<String> = Vec::new();
    while done < n {
        // A batch on one connection, pipelined.
        let c = rng.below(2);
        let mut batch = Vec::new();
        for _ in 0..1 + rng.below(40) {
            for cmd in gen_cmds::command(&mut rng, proto, in_multi[c]) {
                match &cmd.args[0].to_ascii_uppercase()[..] {
                    b"MULTI" => in_multi[c] = true,
                    b"EXEC" | b"DISCARD" => in_multi[c] = false,
                    _ => {}
                }
                batch.push(cmd);
            }
        }
        let args: Vec<&[Vec<u8>]> = batch.iter().map(|c| &c.args[..]).collect();
        theirs[c].send(&args).unwrap();
        ours[c].send(&args).unwrap();
        for cmd in &batch {
            let want = theirs[c].read().expect("redis-server reply");
            let got = ours[c]
                .read()
                .unwrap_or_else(|e| panic!("no reply to {} (seed {seed}): {e}", describe(&cmd.args)));
            history.push(format!("[{c}] {}", describe(&cmd.args)));
            if history.len() > 30 {
                history.remove(0);
            }
            let exec_kinds = tx[c].follow(&cmd.args, cmd.kind, &want);
            let same = match exec_kinds {
                Some(kinds) if want.kind == b'*' && kinds.len() == want.items.len() => {
                    got.kind == b'*'
                        && got.items.len() == want.items.len()
                        && kinds
                            .iter()
                            .zip(want.items.iter().zip(&got.items))
                            .all(|(k, (w, g))| agree(*k, w, g))
                }
                _ => agree(cmd.kind, &want, &got),
            };
            assert!(
                same,
                "RESP{proto} seed {seed}, command {done}: {}\nredis-server: {:?}\nexample:      {:?}\nlast commands:\n{}",
                describe(&cmd.args),
                String::from_utf8_lossy(&want.bytes()),
                String::from_utf8_lossy(&got.bytes()),
                history.join("\n")
            );
            done += 1;
        }
    }
}

#[test]
fn replies_match_redis_server_7() {
    let Some(reference) = redis_server() else {
        assert!(
            std::env::var("REVIO_REDIS_DIFF").as_deref() != Ok("required"),
            "redis-server is not installed"
        );
        eprintln!("redis-server is not installed: the differential test is skipped");
        return;
    };
    let n = std::env::var("REVIO_REDIS_DIFF_COMMANDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60_000);
    let seed = std::env::var("REVIO_REDIS_DIFF_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed);
    let srv = common::start(
        revio::Backend::Poll,
        handler::Redis::standalone(8, None),
        &["tcp://127.0.0.1:0"],
    );
    let example = srv.addr(0);
    for proto in [2, 3] {
        run(&reference.addr, &example, proto, n, seed + proto as u64);
    }
    srv.stop().unwrap();
}

/// Sends `input` on a new connection, then (unless the server closes
/// first) an inline PING; returns everything until the PONG or the close.
fn raw_exchange(addr: &str, input: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(common::LIMIT)).unwrap();
    s.write_all(input).unwrap();
    // A sentinel no case's own replies end with (a `+PONG` would: a reply
    // that came in two reads would then be cut after its first).
    let _ = s.write_all(b"\r\nECHO revio-end-of-case\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"$17\r\nrevio-end-of-case\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[test]
fn raw_input_is_read_as_redis_server_7_reads_it() {
    let Some(reference) = redis_server() else {
        assert!(
            std::env::var("REVIO_REDIS_DIFF").as_deref() != Ok("required"),
            "redis-server is not installed"
        );
        return;
    };
    let srv = common::start(
        revio::Backend::Poll,
        handler::Redis::standalone(8, None),
        &["tcp://127.0.0.1:0"],
    );
    let long = vec![b'x'; 300];
    let mut unknown = b"*4\r\n$3\r\nFOO\r\n$5\r\na\0b\r\n\r\n$300\r\n".to_vec();
    unknown.extend_from_slice(&long);
    unknown.extend_from_slice(b"\r\n$2\r\n\xff\xfe\r\n");
    let cases: Vec<&[u8]> = vec![
        b"SET a\x0bb c\x0c\r\nGET a\x0bb\r\nEXISTS a\r\n",
        b"SET q \"x\\x41\\n\\t\\\"y\"\r\nGET q\r\nSET r 'it\\'s'\r\nGET r\r\n",
        b"\x0b PING\r\n \r\n\n",
        b"ECHO \"a\" b\r\n",
        b"SET k \"unclosed\r\n",
        b"SET k \"a\"b\r\n",
        b"*1\r\n+PING\r\n",
        b"*1\r\n\x80PING\r\n",
        b"*x\r\n",
        b"*2147483648\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$x\r\n",
        b"*0\r\n*-1\r\n*1\rX$4\rXPING\r\n",
        &unknown,
        b"PING a b\r\nhello 4\r\nHELLO 3 SETNAME \"a b\"\r\n",
        b"MULTI\r\nSET k v\r\nGET\r\nEXEC\r\nEXEC\r\nDISCARD\r\nMULTI\r\nMULTI\r\nWATCH k\r\nEXEC\r\n",
        b"MULTI\r\nSHUTDOWN\r\nEXEC\r\nMULTI\r\nLPUSH l a b\r\nLRANGE l 0 -1\r\nINCR l\r\nEXEC\r\n",
    ];
    for input in cases {
        let want = raw_exchange(&reference.addr, input);
        let got = raw_exchange(&srv.addr(0), input);
        assert_eq!(
            got.escape_ascii().to_string(),
            want.escape_ascii().to_string(),
            "input {}",
            input.escape_ascii()
        );
        raw_exchange(&reference.addr, b"FLUSHALL");
        raw_exchange(&srv.addr(0), b"FLUSHALL");
    }
    srv.stop().unwrap();
}

/// SCAN, INFO and COMMAND INFO against redis-server: a full SCAN returns
/// the same set of keys (with MATCH, TYPE and COUNT; cursors are compared
/// only at the end, 0), INFO has the same fields in its clients, memory and
/// replication sections, and COMMAND INFO answers alike, byte for byte, for
/// commands the example has and for an unknown one.
#[test]
fn scan_info_and_command_info_agree_with_redis_server_7() {
    let Some(reference) = redis_server() else {
        assert!(
            std::env::var("REVIO_REDIS_DIFF").as_deref() != Ok("required"),
            "redis-server is not installed"
        );
        return;
    };
    let srv = common::start(
        revio::Backend::Poll,
        handler::Redis::standalone(8, None),
        &["tcp://127.0.0.1:0"],
    );
    let a = |s: &str| s.split(' ').map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
    let (mut theirs, mut ours) = (
        Conn::open(&reference.addr).unwrap(),
        Conn::open(&srv.addr(0)).unwrap(),
    );
    let both = |t: &mut Conn, o: &mut Conn, cmd: &[Vec<u8>]| {
        t.send(&[cmd]).unwrap();
        o.send(&[cmd]).unwrap();
        (t.read().unwrap(), o.read().unwrap())
    };
    both(&mut theirs, &mut ours, &a("FLUSHALL"));
    let mut fill = a("MSET");
    for i in 0..3000 {
        fill.extend([format!("key:{i}").into_bytes(), b"v".to_vec()]);
    }
    both(&mut theirs, &mut ours, &fill);
    both(&mut theirs, &mut ours, &a("LPUSH list:1 x"));
    both(&mut theirs, &mut ours, &a("ZADD key:z 1 m"));
    let full_scan = |c: &mut Conn, opts: &str| {
        let (mut cursor, mut keys) = (b"0".to_vec(), std::collections::BTreeSet::new());
        loop {
            let mut cmd = vec![b"SCAN".to_vec(), cursor.clone()];
            cmd.extend(a(opts));
            c.send(&[&cmd]).unwrap();
            let r = c.read().unwrap();
            assert_eq!(r.items.len(), 2, "{:?}", String::from_utf8_lossy(&r.bytes()));
            keys.extend(r.items[1].items.iter().map(|k| k.data.clone()));
            cursor = r.items[0].data.clone();
            if cursor == b"0" {
                return keys;
            }
        }
    };
    for opts in [
        "COUNT 10",
        "COUNT 1000",
        "MATCH key:1* COUNT 7",
        "TYPE zset",
        "TYPE list MATCH *",
        "MATCH nothing*",
    ] {
        let (t, o) = (full_scan(&mut theirs, opts), full_scan(&mut ours, opts));
        assert!(
            t == o,
            "SCAN {opts}: redis-server {} keys, example {}",
            t.len(),
            o.len()
        );
    }
    for cmd in [
        "SCAN x",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT x",
        "SCAN 0 MATCH",
        "SCAN 0 TYPE",
        "COMMAND INFO get set rename mset getex zrevrange scan info del nosuch",
        "COMMAND INFO client|list client|id command|info GET Set",
    ] {
        let (t, o) = both(&mut theirs, &mut ours, &a(cmd));
        assert!(
            t == o,
            "{cmd}\nredis-server: {:?}\nexample:      {:?}",
            String::from_utf8_lossy(&t.bytes()),
            String::from_utf8_lossy(&o.bytes())
        );
    }
    // INFO: the fields of these sections that the example gives are Redis's,
    // in Redis's order.
    let fields = |r: &Reply| {
        String::from_utf8_lossy(&r.data)
            .lines()
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    for section in ["clients", "memory", "replication"] {
        let (t, o) = both(&mut theirs, &mut ours, &a(&format!("INFO {section}")));
        let (t, o) = (fields(&t), fields(&o));
        let mut at = t.iter();
        for f in &o {
            assert!(
                at.any(|x| x == f),
                "INFO {section}: {f} is not Redis's, or out of order: {t:?}"
            );
        }
        for f in [
            "connected_clients",
            "used_memory",
            "role",
            "maxmemory",
            "master_replid",
        ] {
            assert_eq!(
                t.contains(&f.to_string()),
                o.contains(&f.to_string()),
                "{section} {f}"
            );
        }
    }
    srv.stop().unwrap();
}
