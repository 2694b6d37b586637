//! The redis-server example against a real client (the `redis` crate) and
//! raw sockets: every command, pipelines, expiry, errors, partial input,
//! QUIT, SHUTDOWN, WAKE, unix sockets and several loops sharing the store.
//! The example's modules are compiled in here and served on a thread.

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

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::*;
use handler::{Client, Redis};
use redis::{Commands, Connection, RedisResult, Value, cmd};
use revio::{Action, Backend, Balance, Config, Conn, Handler, Server};
use store::Store;

/// Forwards every event to the redis handler, counting `data` calls and
/// write attempts, and hands out the `Server` from `serving`.
struct Probe {
    inner: Redis,
    reads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
    announce: Option<mpsc::Sender<Server>>,
}

impl Probe {
    fn new(inner: Redis) -> Probe {
        Probe {
            inner,
            reads: Arc::default(),
            writes: Arc::default(),
            announce: None,
        }
    }
}

impl Handler for Probe {
    type State = Client;
    fn serving(&mut self, server: &Server) -> Action {
        if let Some(tx) = &self.announce {
            let _ = tx.send(server.clone());
        }
        self.inner.serving(server)
    }
    fn opened(&mut self, c: &mut Conn<'_, Client>) -> Action {
        self.inner.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, Client>, input: &[u8]) -> Action {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.data(c, input)
    }
    fn woken(&mut self, c: &mut Conn<'_, Client>) -> Action {
        self.inner.woken(c)
    }
    fn prewrite(&mut self, c: &mut Conn<'_, Client>, amount: usize) -> Action {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.prewrite(c, amount)
    }
    fn tick(&mut self, tick: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        self.inner.tick(tick)
    }
}

/// Starts the example on one loop on an ephemeral port (and `extra` addresses).
fn start_redis(b: Backend, extra: &[&str]) -> Running {
    let mut addrs = vec!["tcp://127.0.0.1:0"];
    addrs.extend_from_slice(extra);
    start(b, Redis::standalone(8, None), &addrs)
}

fn client(srv: &Running) -> Connection {
    let c = redis::Client::open(format!("redis://{}/", srv.addr(0))).expect("client");
    let con = c.get_connection_with_timeout(LIMIT).expect("connect");
    con.set_read_timeout(Some(LIMIT)).expect("timeout");
    con
}

/// The server's error for `r`, as `CODE detail`.
fn server_error<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn raw(srv: &Running) -> TcpStream {
    let s = srv.connect(0);
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until `want` bytes arrived or the peer closed; returns what came.
fn read_upto(s: &mut impl Read, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
    got
}

/// Reads until the peer closes (bounded by the read timeout).
fn read_to_close(s: &mut impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => got,
        Err(e) => panic!("expected the server to close: {e}"),
    }
}

fn strings_and_keys(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(cmd("PING").arg("hi").query::<String>(&mut c).unwrap(), "hi");
    assert_eq!(
        cmd("ECHO")
            .arg(&b"a\r\nb\0"[..])
            .query::<Vec<u8>>(&mut c)
            .unwrap(),
        b"a\r\nb\0"
    );
    let () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.get::<_, Option<String>>("missing").unwrap(), None);
    let big = vec![7u8; 3 << 20];
    let () = c.set("big", &big).unwrap();
    assert!(
        c.get::<_, Vec<u8>>("big").unwrap() == big,
        "a 3 MiB value comes back intact"
    );
    let () = c.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    assert_eq!(
        c.mget::<_, Vec<Option<String>>>(&["a", "nope", "c"]).unwrap(),
        vec![Some("1".into()), None, Some("3".into())]
    );
    assert_eq!(c.exists::<_, usize>(&["a", "b", "nope", "a"]).unwrap(), 3);
    assert_eq!(c.del::<_, usize>(&["a", "nope"]).unwrap(), 1);
    assert_eq!(c.exists::<_, usize>("a").unwrap(), 0);
    let mut keys: Vec<String> = c.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, ["b", "big", "c", "k"]);
    let mut keys: Vec<String> = c.keys("[bc]*").unwrap();
    keys.sort();
    assert_eq!(keys, ["b", "big", "c"]);
    assert_eq!(c.keys::<_, Vec<String>>("b?g").unwrap(), ["big"]);
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut c).unwrap(), 4);
    assert_eq!(cmd("FLUSHDB").query::<String>(&mut c).unwrap(), "OK");
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut c).unwrap(), 0);
    let () = c.set("x", "y").unwrap();
    assert_eq!(cmd("FLUSHALL").query::<String>(&mut c).unwrap(), "OK");
    assert_eq!(c.exists::<_, usize>("x").unwrap(), 0);
    srv.stop().unwrap();
}

fn set_options(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    let set = |c: &mut Connection, opts: &[&str]| {
        cmd("SET").arg("k").arg("v2").arg(opts).query::<Option<String>>(c)
    };
    assert_eq!(
        set(&mut c, &["XX"]).unwrap(),
        None,
        "XX on a missing key sets nothing"
    );
    assert_eq!(c.exists::<_, usize>("k").unwrap(), 0);
    assert_eq!(set(&mut c, &["NX"]).unwrap(), Some("OK".into()));
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v3")
            .arg("NX")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
    assert_eq!(c.get::<_, String>("k").unwrap(), "v2");
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v4")
            .arg("XX")
            .query::<String>(&mut c)
            .unwrap(),
        "OK"
    );
    assert_eq!(c.get::<_, String>("k").unwrap(), "v4");
    assert_eq!(set(&mut c, &["EX", "100"]).unwrap(), Some("OK".into()));
    let ttl: i64 = c.ttl("k").unwrap();
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    assert_eq!(set(&mut c, &["PX", "100000"]).unwrap(), Some("OK".into()));
    let pttl: i64 = c.pttl("k").unwrap();
    assert!((1..=100_000).contains(&pttl), "PTTL {pttl}");
    assert_eq!(
        set(&mut c, &["NX", "XX"]).map_err(|e| e.detail().map(str::to_owned)),
        Err(Some("syntax error".into()))
    );
    assert_eq!(
        server_error(set(&mut c, &["EX", "-5"])),
        "ERR invalid expire time in 'set' command"
    );
    srv.stop().unwrap();
}

fn counters(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 1, "INCR");
    assert_eq!(cmd("INCR").arg("n").query::<i64>(&mut c).unwrap(), 2);
    assert_eq!(cmd("INCRBY").arg("n").arg(40).query::<i64>(&mut c).unwrap(), 42);
    assert_eq!(cmd("DECR").arg("n").query::<i64>(&mut c).unwrap(), 41);
    assert_eq!(cmd("DECRBY").arg("n").arg(50).query::<i64>(&mut c).unwrap(), -9);
    assert_eq!(c.get::<_, i64>("n").unwrap(), -9);
    let () = c.set("s", "abc").unwrap();
    assert_eq!(
        server_error(cmd("INCR").arg("s").query::<i64>(&mut c)),
        "ERR value is not an integer or out of range"
    );
    let () = c.set("max", i64::MAX).unwrap();
    assert_eq!(
        server_error(cmd("INCR").arg("max").query::<i64>(&mut c)),
        "ERR increment or decrement would overflow"
    );
    srv.stop().unwrap();
}

fn expiry_lazy_and_swept(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    let () = c.set("forever", "v").unwrap();
    assert_eq!(c.ttl::<_, i64>("forever").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);
    assert_eq!(c.expire::<_, i64>("forever", 1000).unwrap(), 1);
    assert!((999..=1000).contains(&c.ttl::<_, i64>("forever").unwrap()));
    assert_eq!(c.persist::<_, i64>("forever").unwrap(), 1);
    assert_eq!(c.ttl::<_, i64>("forever").unwrap(), -1);
    assert_eq!(c.expire::<_, i64>("missing", 10).unwrap(), 0);

    // Read back: an expired key reads as absent.
    let () = cmd("SET")
        .arg("brief")
        .arg("v")
        .arg("PX")
        .arg(30)
        .query(&mut c)
        .unwrap();
    wait_until("brief to expire", || {
        let mut c = client(&srv);
        c.get::<_, Option<String>>("brief").unwrap().is_none()
    });
    assert_eq!(c.exists::<_, usize>("brief").unwrap(), 0);

    // Never read back: only the active sweep can drop these. DBSIZE counts
    // keys not yet dropped, as Redis's does.
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("SET")
            .arg(format!("volatile:{i}"))
            .arg(i)
            .arg("PX")
            .arg(20)
            .ignore();
    }
    let () = p.query(&mut c).unwrap();
    wait_until("the sweep to drop 500 expired keys", || {
        let mut c = client(&srv);
        cmd("DBSIZE").query::<usize>(&mut c).unwrap() == 1
    });
    assert_eq!(
        cmd("EXPIRE").arg("forever").arg(0).query::<i64>(&mut c).unwrap(),
        1,
        "a past deadline deletes"
    );
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut c).unwrap(), 0);
    srv.stop().unwrap();
}

fn errors_carry_redis_texts(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    assert_eq!(
        server_error(cmd("NOSUCH").arg("a").arg("b").query::<Value>(&mut c)),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        server_error(cmd("GET").query::<Value>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        server_error(cmd("SET").arg("k").query::<Value>(&mut c)),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        server_error(cmd("SELECT").arg(3).query::<Value>(&mut c)),
        "ERR DB index is out of range"
    );
    assert_eq!(cmd("SELECT").arg(0).query::<String>(&mut c).unwrap(), "OK");
    // The connection is still in step after errors.
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    srv.stop().unwrap();
}

fn introspection(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    let () = c.set("a", 1).unwrap();
    let info: String = cmd("INFO").query(&mut c).unwrap();
    assert!(info.contains("# Server\r\nredis_version:"), "{info}");
    assert!(info.contains(&format!(
        "tcp_port:{}",
        srv.server.addrs()[0].to_string().rsplit(':').next().unwrap()
    )));
    assert!(info.contains("# Keyspace\r\ndb0:keys=1,expires=0"), "{info}");
    let keyspace: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(
        !keyspace.contains("# Server") && keyspace.contains("db0:keys=1"),
        "{keyspace}"
    );
    let save: Vec<String> = cmd("CONFIG").arg("GET").arg("save").query(&mut c).unwrap();
    assert_eq!(save, ["save", ""]);
    let appendonly: Vec<String> = cmd("CONFIG").arg("GET").arg("appendonly").query(&mut c).unwrap();
    assert_eq!(appendonly, ["appendonly", "no"]);
    assert_eq!(
        cmd("COMMAND").arg("DOCS").query::<Vec<Value>>(&mut c).unwrap(),
        vec![]
    );
    let count = cmd("COMMAND").arg("COUNT").query::<usize>(&mut c).unwrap();
    assert!(count > 20);
    // COMMAND: every command's description, as COMMAND INFO gives it.
    assert_eq!(cmd("COMMAND").query::<Vec<Value>>(&mut c).unwrap().len(), count);
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
    assert_eq!(
        cmd("CLIENT")
            .arg("SETNAME")
            .arg("probe")
            .query::<String>(&mut c)
            .unwrap(),
        "OK"
    );
    assert_eq!(
        cmd("CLIENT").arg("GETNAME").query::<String>(&mut c).unwrap(),
        "probe"
    );
    let mut other = client(&srv);
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut other)
            .unwrap(),
        None,
        "names are per connection"
    );
    srv.stop().unwrap();
}

fn pipeline_of_1000_commands(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut c = client(&srv);
    let mut p = redis::pipe();
    for i in 0..1000 {
        match i % 4 {
            0 => p.cmd("SET").arg(format!("key:{i}")).arg(i),
            1 => p.cmd("GET").arg(format!("key:{}", i - 1)),
            2 => p.cmd("INCR").arg("counter"),
            _ => p.cmd("PING"),
        };
    }
    let replies: Vec<Value> = p.query(&mut c).unwrap();
    assert_eq!(replies.len(), 1000);
    for (i, r) in replies.iter().enumerate() {
        let want = match i % 4 {
            0 => Value::Okay,
            1 => Value::BulkString((i - 1).to_string().into_bytes()),
            2 => Value::Int(i as i64 / 4 + 1),
            _ => Value::SimpleString("PONG".into()),
        };
        assert_eq!(r, &want, "reply {i}");
    }
    srv.stop().unwrap();
}

fn replies_of_one_read_go_out_in_one_write(b: Backend) {
    let probe = Probe::new(Redis::standalone(8, None));
    let (reads, writes) = (probe.reads.clone(), probe.writes.clone());
    let srv = start(b, probe, &["tcp://127.0.0.1:0"]);
    let mut s = raw(&srv);
    let batch = "PING\r\n*1\r\n$4\r\nPING\r\n".repeat(50);
    s.write_all(batch.as_bytes()).unwrap();
    let want = "+PONG\r\n".repeat(100);
    assert_eq!(read_n(&mut s, want.len()), want.as_bytes());
    let (r, w) = (reads.load(Ordering::SeqCst), writes.load(Ordering::SeqCst));
    assert!(r >= 1 && w <= r, "{w} write attempts for {r} reads");
    srv.stop().unwrap();
}

fn partial_commands_wait_for_the_rest(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut s = raw(&srv);
    let wire = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nGET key\r\n";
    for byte in wire {
        s.write_all(&[*byte]).unwrap();
        s.flush().unwrap();
    }
    assert_eq!(read_n(&mut s, 16), b"+OK\r\n$5\r\nvalue\r\n");
    // A large value in pieces, with the next command glued to its end.
    let value = vec![b'x'; 1 << 20];
    let mut cmd = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    cmd.extend_from_slice(&value);
    cmd.extend_from_slice(b"\r\nSTRLEN big\r\nEXISTS big\r\n");
    for chunk in cmd.chunks(7000) {
        s.write_all(chunk).unwrap();
    }
    let want = b"+OK\r\n:1048576\r\n:1\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    srv.stop().unwrap();
}

fn inline_commands(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut s = raw(&srv);
    s.write_all(b"set greeting hello\r\nget greeting\n\r\n  exists greeting nope  \r\n")
        .unwrap();
    assert_eq!(read_n(&mut s, 20), b"+OK\r\n$5\r\nhello\r\n:1\r\n");
    s.write_all(b"SET quoted \"hello \\\"world\\\"\\x21\"\r\nGET quoted\r\n")
        .unwrap();
    let want = b"+OK\r\n$14\r\nhello \"world\"!\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    srv.stop().unwrap();
}

fn protocol_errors_reply_then_close(b: Backend) {
    let srv = start_redis(b, &[]);
    for (input, error) in [
        (&b"PING\r\n*1\r\n$x\r\n"[..], "invalid bulk length"),
        (b"*1\r\n$9999999999\r\n", "invalid bulk length"),
        (b"*2147483648\r\n", "invalid multibulk length"),
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"SET k \"unclosed\r\n", "unbalanced quotes in request"),
    ] {
        let mut s = raw(&srv);
        s.write_all(input).unwrap();
        let got = String::from_utf8(read_to_close(&mut s)).unwrap();
        let pong = if input.starts_with(b"PING") {
            "+PONG\r\n"
        } else {
            ""
        };
        assert_eq!(got, format!("{pong}-ERR Protocol error: {error}\r\n"));
    }
    // An endless inline line is cut off, not buffered.
    let mut s = raw(&srv);
    let junk = vec![b'a'; 100 * 1024];
    let _ = s.write_all(&junk);
    let got = String::from_utf8(read_to_close(&mut s)).unwrap();
    assert_eq!(got, "-ERR Protocol error: too big inline request\r\n");
    srv.stop().unwrap();
}

fn quit_replies_then_closes(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut s = raw(&srv);
    s.write_all(b"PING\r\nQUIT\r\nPING\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+PONG\r\n+OK\r\n");
    let mut c = client(&srv);
    assert_eq!(cmd("QUIT").query::<String>(&mut c).unwrap(), "OK");
    srv.stop().unwrap();
}

fn shutdown_stops_the_server(b: Backend) {
    let mut srv = start_redis(b, &[]);
    let mut idle = raw(&srv);
    let mut s = raw(&srv);
    s.write_all(b"SET k v\r\nSHUTDOWN\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+OK\r\n");
    srv.join().unwrap();
    assert_eq!(read_to_close(&mut idle), b"", "every connection is closed");
    assert!(
        TcpStream::connect(srv.addr(0)).is_err(),
        "nothing listens any more"
    );
}

fn wake_replies_from_woken_in_order(b: Backend) {
    let srv = start_redis(b, &[]);
    let mut s = raw(&srv);
    s.write_all(b"PING\r\nWAKE\r\nECHO after\r\nWAKE\r\nPING\r\n")
        .unwrap();
    let want = b"+PONG\r\n+WOKE\r\n$5\r\nafter\r\n+WOKE\r\n+PONG\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    s.write_all(b"WAKE\r\nQUIT\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+WOKE\r\n+OK\r\n");
    let mut c = client(&srv);
    assert_eq!(cmd("WAKE").query::<String>(&mut c).unwrap(), "WOKE");
    srv.stop().unwrap();
}

fn unix_socket(b: Backend) {
    let path = TempPath::new("redis");
    let srv = start_redis(b, &[&path.url()]);
    let url = format!("redis+unix://{}", path.0.display());
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(LIMIT)
        .unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let () = c.set("via", "unix").unwrap();
    let mut tcp = client(&srv);
    assert_eq!(
        tcp.get::<_, String>("via").unwrap(),
        "unix",
        "one keyspace for both addresses"
    );
    let mut s = unix_connect(&path.0);
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_upto(&mut s, 7), b"+PONG\r\n");
    srv.stop().unwrap();
}

fn loops_share_one_store(b: Backend) {
    loops_share_one_store_with(b, Balance::ReusePort);
}

fn loops_share_one_store_round_robin(b: Backend) {
    loops_share_one_store_with(b, Balance::RoundRobin);
}

fn loops_share_one_store_with(b: Backend, balance: Balance) {
    let store = Arc::new(Store::new(16));
    let shared = Arc::new(shared::Shared::new(2, None));
    let waker = Arc::new(wake::Waker::default());
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        Config::new().loops(2).backend(b).balance(balance).serve_with(
            |i| {
                let mut p = Probe::new(Redis::new(store.clone(), shared.clone(), waker.clone(), i));
                p.announce = Some(tx.clone());
                p
            },
            ["tcp://127.0.0.1:0"],
        )
    });
    let server = rx.recv_timeout(LIMIT).expect("serving");
    let url = format!(
        "redis://{}/",
        server.addrs()[0].to_string().trim_start_matches("tcp://")
    );
    let connect = || {
        let c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_with_timeout(LIMIT)
            .unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c
    };
    let mut conns: Vec<Connection> = (0..8).map(|_| connect()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let () = c.set(format!("k{i}"), i).unwrap();
        assert_eq!(c.incr::<_, _, i64>("shared", 1).unwrap(), i as i64 + 1);
    }
    for c in conns.iter_mut() {
        let all: Vec<usize> = c
            .mget((0..8).map(|i| format!("k{i}")).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
        assert_eq!(c.get::<_, i64>("shared").unwrap(), 8);
    }
    let info: String = cmd("INFO").arg("server").query(&mut conns[0]).unwrap();
    assert!(info.contains("event_loops:2"), "{info}");
    server.shutdown();
    let deadline = Instant::now() + LIMIT;
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "serve did not return");
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.join().expect("serve thread").unwrap();
}

per_backend!(
    strings_and_keys,
    set_options,
    counters,
    expiry_lazy_and_swept,
    errors_carry_redis_texts,
    introspection,
    pipeline_of_1000_commands,
    replies_of_one_read_go_out_in_one_write,
    partial_commands_wait_for_the_rest,
    inline_commands,
    protocol_errors_reply_then_close,
    quit_replies_then_closes,
    shutdown_stops_the_server,
    wake_replies_from_woken_in_order,
    #[cfg_attr(windows, ignore = "unix sockets: revio serves them on unix systems only")]
    unix_socket,
    loops_share_one_store,
    loops_share_one_store_round_robin,
);
