//! The redis-server example as clients meet it beyond the basics: RESP3
//! through HELLO, AUTH with a password, transactions and MSET atomic with
//! several loops, CLIENT LIST across loops, and the cost of a command that
//! arrives in small pieces.

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

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use common::*;
use handler::{Client, Redis};
use revio::{Action, Backend, Balance, Config, Conn, Handler, Server};

/// Sends `input` and reads exactly `want.len()` bytes, which must be `want`.
fn exchange(s: &mut TcpStream, input: &[u8], want: &[u8]) {
    s.write_all(input).unwrap();
    let got = read_n(s, want.len());
    assert_eq!(got.escape_ascii().to_string(), want.escape_ascii().to_string());
}

fn raw(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn resp3_after_hello(b: Backend) {
    let srv = start(b, Redis::standalone(8, None), &["tcp://127.0.0.1:0"]);
    let mut s = raw(&srv.addr(0));
    exchange(&mut s, b"GET missing\r\n", b"$-1\r\n");
    s.write_all(b"HELLO 3\r\n").unwrap();
    let mut hello = vec![0; 4096];
    let n = s.read(&mut hello).unwrap();
    let hello = String::from_utf8_lossy(&hello[..n]).to_string();
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{hello}"
    );
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    exchange(&mut s, b"GET missing\r\n", b"_\r\n");
    exchange(
        &mut s,
        b"HSET h f v\r\nHGETALL h\r\n",
        b":1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
    );
    exchange(&mut s, b"ZADD z 1.5 m\r\nZSCORE z m\r\n", b":1\r\n,1.5\r\n");
    exchange(&mut s, b"SADD s a\r\nSMEMBERS s\r\n", b":1\r\n~1\r\n$1\r\na\r\n");
    exchange(&mut s, b"LPOP nolist 2\r\n", b"_\r\n");
    exchange(&mut s, b"HELLO 2 SETNAME n\r\n", b"*14\r\n$6\r\nserver\r\n");
    srv.stop().unwrap();
}

fn auth_with_requirepass(b: Backend) {
    let srv = start(b, Redis::standalone(8, Some(b"sesame")), &["tcp://127.0.0.1:0"]);
    let mut s = raw(&srv.addr(0));
    exchange(&mut s, b"GET k\r\n", b"-NOAUTH Authentication required.\r\n");
    exchange(
        &mut s,
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    exchange(
        &mut s,
        b"AUTH nope\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    exchange(
        &mut s,
        b"AUTH sesame\r\nSET k v\r\nGET k\r\n",
        b"+OK\r\n+OK\r\n$1\r\nv\r\n",
    );
    let mut other = raw(&srv.addr(0));
    exchange(&mut other, b"HELLO 3 AUTH default sesame\r\n", b"%7\r\n");
    // Before AUTH, a client may not make the server buffer much.
    let mut big = raw(&srv.addr(0));
    big.write_all(b"*11\r\n").unwrap();
    let mut got = Vec::new();
    let _ = big.read_to_end(&mut got);
    assert_eq!(got, b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    srv.stop().unwrap();
}

/// Two loops sharing one store, served on a thread.
struct TwoLoops {
    server: Server,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl TwoLoops {
    fn start(b: Backend) -> TwoLoops {
        let store = Arc::new(store::Store::new(16));
        let shared = Arc::new(shared::Shared::new(2, None));
        let waker = Arc::new(wake::Waker::default());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let factory = |i| Announce {
                inner: Redis::new(store.clone(), shared.clone(), waker.clone(), i),
                tx: tx.clone(),
            };
            Config::new()
                .loops(2)
                .backend(b)
                .balance(Balance::RoundRobin)
                .serve_with(factory, ["tcp://127.0.0.1:0"])
        });
        let server = rx.recv_timeout(LIMIT).expect("serving");
        TwoLoops {
            server,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> String {
        self.server.addrs()[0]
            .to_string()
            .trim_start_matches("tcp://")
            .to_string()
    }
}

impl Drop for TwoLoops {
    fn drop(&mut self) {
        self.server.shutdown();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + LIMIT;
            while !t.is_finished() {
                assert!(Instant::now() < deadline, "serve did not return");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = t.join();
        }
    }
}

/// Passes every event to the example's handler; hands out the `Server`,
/// and the loop thread's id (for its CPU time).
struct Announce {
    inner: Redis,
    tx: mpsc::Sender<Server>,
}

impl Handler for Announce {
    type State = Client;
    fn serving(&mut self, server: &Server) -> Action {
        let _ = self.tx.send(server.clone());
        self.inner.serving(server)
    }
    fn opened(&mut self, c: &mut Conn<'_, Client>) -> Action {
        self.inner.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, Client>, input: &[u8]) -> Action {
        self.inner.data(c, input)
    }
    fn closed(&mut self, c: &mut Conn<'_, Client>, e: Option<std::io::Error>) {
        self.inner.closed(c, e)
    }
}

/// Reads one reply line (`+OK`, `:5`) or a small array of bulk strings.
fn read_line(s: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    line
}

fn mset_and_exec_are_atomic_across_loops(b: Backend) {
    let srv = TwoLoops::start(b);
    let addr = srv.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut s = raw(&addr);
            for i in 0..2000 {
                let pairs: String = (0..10).map(|k| format!(" k{k} {i}")).collect();
                let tx = format!("MULTI\r\nINCR a\r\nINCR b\r\nEXEC\r\nMSET{pairs}\r\n");
                s.write_all(tx.as_bytes()).unwrap();
                let want = format!(
                    "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:{n}\r\n:{n}\r\n+OK\r\n",
                    n = i + 1
                );
                assert_eq!(read_n(&mut s, want.len()), want.as_bytes());
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let mut reader = raw(&addr);
    let mut checks = 0;
    while !stop.load(Ordering::SeqCst) {
        reader
            .write_all(b"MGET a b\r\nMGET k0 k1 k2 k3 k4 k5 k6 k7 k8 k9\r\n")
            .unwrap();
        for want_len in [2, 10] {
            let header = read_line(&mut reader);
            assert_eq!(header, format!("*{want_len}\r\n").as_bytes());
            let values: Vec<Vec<u8>> = (0..want_len)
                .map(|_| {
                    let h = read_line(&mut reader);
                    if h == b"$-1\r\n" {
                        return b"nil".to_vec();
                    }
                    read_line(&mut reader)
                })
                .collect();
            assert!(values.iter().all(|v| *v == values[0]), "half applied: {values:?}");
        }
        checks += 1;
    }
    writer.join().unwrap();
    assert!(checks > 0);
}

fn client_list_shows_every_loop(b: Backend) {
    let srv = TwoLoops::start(b);
    let mut conns: Vec<TcpStream> = (0..4).map(|_| raw(&srv.addr())).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        exchange(c, format!("CLIENT SETNAME c{i}\r\n").as_bytes(), b"+OK\r\n");
    }
    conns[0].write_all(b"CLIENT LIST\r\n").unwrap();
    let header = String::from_utf8(read_line(&mut conns[0])).unwrap();
    let len: usize = header.trim_start_matches('$').trim().parse().unwrap();
    let mut text = String::from_utf8(read_n(&mut conns[0], len + 2)).unwrap();
    text.truncate(len);
    for i in 0..4 {
        assert!(text.contains(&format!(" name=c{i} ")), "{text}");
    }
    assert!(text.contains("cmd=client|list"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
}

/// The CPU time the thread `tid` of this process has run, in ns.
fn thread_cpu_ns(tid: &str) -> f64 {
    let sched = std::fs::read_to_string(format!("/proc/self/task/{tid}/sched")).expect("sched");
    let ms: f64 = sched
        .lines()
        .find(|l| l.starts_with("se.sum_exec_runtime"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .expect("sum_exec_runtime");
    ms * 1e6
}

/// Records the loop thread's id in `serving`.
struct Tid(Redis, Arc<Mutex<String>>);

impl Handler for Tid {
    type State = Client;
    fn serving(&mut self, server: &Server) -> Action {
        let me = std::fs::read_link("/proc/thread-self").expect("thread-self");
        *self.1.lock().unwrap() = me.file_name().unwrap().to_string_lossy().into_owned();
        self.0.serving(server)
    }
    fn opened(&mut self, c: &mut Conn<'_, Client>) -> Action {
        self.0.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, Client>, input: &[u8]) -> Action {
        self.0.data(c, input)
    }
}

/// A command trickled in small pieces costs the server CPU time linear in
/// its size: the parser keeps its progress between reads instead of
/// starting over. Measured as the ratio of the loop thread's CPU time for
/// the command in 64-byte pieces to that for the command whole, at two
/// sizes: it stays about the same (parsing again from the start on every
/// read would make it grow with the size).
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reads its thread's CPU time in /proc: Linux only"
)]
fn a_trickled_command_costs_cpu_linear_in_its_size() {
    let tid = Arc::new(Mutex::new(String::new()));
    let srv = start(
        Backend::Poll,
        Tid(Redis::standalone(8, None), tid.clone()),
        &["tcp://127.0.0.1:0"],
    );
    let tid = tid.lock().unwrap().clone();
    let mut s = raw(&srv.addr(0));
    let mut barrier = raw(&srv.addr(0));
    let mset = |pairs: usize| {
        let mut cmd = format!("*{}\r\n$4\r\nMSET\r\n", 2 * pairs + 1).into_bytes();
        for i in 0..pairs {
            let (k, v) = (format!("key:{i}"), format!("v{i}"));
            cmd.extend_from_slice(format!("${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).as_bytes());
        }
        cmd
    };
    let mut cost = |cmd: &[u8], piece: usize| {
        exchange(&mut s, b"FLUSHALL\r\n", b"+OK\r\n");
        let before = thread_cpu_ns(&tid);
        for chunk in cmd.chunks(piece) {
            s.write_all(chunk).unwrap();
            // A round trip on another connection: the piece has been read.
            exchange(&mut barrier, b"PING\r\n", b"+PONG\r\n");
        }
        assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
        thread_cpu_ns(&tid) - before
    };
    let ratio = |pairs: usize, cost: &mut dyn FnMut(&[u8], usize) -> f64| {
        let cmd = mset(pairs);
        let whole = cost(&cmd, cmd.len());
        let pieces = cost(&cmd, 64);
        pieces / whole
    };
    let small = ratio(4_000, &mut cost);
    let large = ratio(16_000, &mut cost);
    assert!(
        large / small < 2.5,
        "pieces/whole CPU: {small:.1} at 4,000 pairs, {large:.1} at 16,000 pairs"
    );
    srv.stop().unwrap();
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Reads `n` replies to `GET big` and checks each is `value`.
fn read_values(s: &mut TcpStream, n: usize, value: &[u8]) {
    let header = format!("${}\r\n", value.len());
    let mut buf = vec![0; header.len() + value.len() + 2];
    for i in 0..n {
        s.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert!(
            buf.starts_with(header.as_bytes()) && &buf[header.len()..header.len() + value.len()] == value,
            "reply {i}"
        );
    }
}

/// Starts a server holding `big` = a 100 KB value; returns it and the value.
fn server_with_big_value() -> (Running, Vec<u8>) {
    let srv = start(Backend::Poll, Redis::standalone(8, None), &["tcp://127.0.0.1:0"]);
    let value: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut setter = raw(&srv.addr(0));
    let mut set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    exchange(&mut setter, &set, b"+OK\r\n");
    (srv, value)
}

const GETS: usize = 10_000;

/// A client that pipelines 10,000 GETs of a 100 KB value and never reads
/// does not make the server queue a gigabyte of replies: the handler stops
/// executing at the high-water mark (`Conn::is_congested`) and keeps the
/// rest of the input.
#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "measures its memory in /proc: Linux only")]
fn pipelined_gets_to_a_client_that_does_not_read_keep_memory_bounded() {
    let (srv, _) = server_with_big_value();
    let before = rss();
    let idle = raw(&srv.addr(0));
    let writer = {
        let mut w = idle.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&b"GET big\r\n".repeat(GETS)).unwrap())
    };
    let mut other = raw(&srv.addr(0));
    let mut peak = 0;
    for _ in 0..200 {
        exchange(&mut other, b"PING\r\n", b"+PONG\r\n");
        peak = peak.max(rss());
    }
    writer.join().unwrap();
    // The idle client is still connected (not closed for output over
    // Config::max_output), its GETs waiting.
    other.write_all(b"CLIENT LIST\r\n").unwrap();
    let header = String::from_utf8(read_line(&mut other)).unwrap();
    let len: usize = header.trim_start_matches('$').trim().parse().unwrap();
    let list = String::from_utf8(read_n(&mut other, len + 2)).unwrap();
    assert_eq!(list.matches("cmd=get ").count(), 1, "{list}");
    let grown = peak.saturating_sub(before);
    assert!(grown < 64 << 20, "memory grew by {} MiB", grown >> 20);
    drop(idle);
    srv.stop().unwrap();
}

/// The same pipeline to a client that reads: all 10,000 replies, in
/// order, as the loop presents the kept input again once output drains.
#[test]
fn pipelined_gets_to_a_reading_client_all_arrive_in_order() {
    let (srv, value) = server_with_big_value();
    let mut reader = raw(&srv.addr(0));
    reader.write_all(&b"GET big\r\n".repeat(GETS)).unwrap();
    read_values(&mut reader, GETS, &value);
    srv.stop().unwrap();
}

/// WATCH of a key that expires before EXEC: EXEC aborts whether the key is
/// still held, was dropped by another client's read, or was then deleted;
/// a key already expired when watched aborts nothing when it is dropped
/// (redis-server 7.0.15's answers). On one loop and on two.
fn watch_sees_expiry(addr: &str) {
    let (mut a, mut b) = (raw(addr), raw(addr));
    let exec = |a: &mut TcpStream, want: &[u8]| {
        exchange(a, b"MULTI\r\nSET x 1\r\nEXEC\r\n", b"+OK\r\n+QUEUED\r\n");
        exchange(a, b"", want);
    };
    let past_deadline = || std::thread::sleep(std::time::Duration::from_millis(30));
    let others: [&[u8]; 3] = [b"", b"GET k\r\n", b"GET k\r\nDEL k\r\n"];
    let answers: [&[u8]; 3] = [b"", b"$-1\r\n", b"$-1\r\n:0\r\n"];
    for (other, answer) in others.iter().zip(answers) {
        exchange(&mut a, b"SET k v PX 10\r\nWATCH k\r\n", b"+OK\r\n+OK\r\n");
        past_deadline();
        exchange(&mut b, other, answer);
        exec(&mut a, b"*-1\r\n");
    }
    // Expired when watched: dropping it (a read, DEL, FLUSHALL) is no change.
    for (other, answer) in [
        (&b"GET k\r\n"[..], &b"$-1\r\n"[..]),
        (b"DEL k\r\n", b":0\r\n"),
        (b"FLUSHALL\r\n", b"+OK\r\n"),
    ] {
        exchange(&mut a, b"SET k v PX 1\r\n", b"+OK\r\n");
        past_deadline();
        exchange(&mut a, b"WATCH k\r\n", b"+OK\r\n");
        exchange(&mut b, other, answer);
        exec(&mut a, b"*1\r\n+OK\r\n");
    }
    // ...but setting it again is.
    exchange(&mut a, b"SET k v PX 1\r\n", b"+OK\r\n");
    past_deadline();
    exchange(&mut a, b"WATCH k\r\n", b"+OK\r\n");
    exchange(&mut b, b"SET k w\r\n", b"+OK\r\n");
    exec(&mut a, b"*-1\r\n");
}

fn watch_sees_expiry_on_one_loop(b: Backend) {
    let srv = start(b, Redis::standalone(8, None), &["tcp://127.0.0.1:0"]);
    watch_sees_expiry(&srv.addr(0));
    srv.stop().unwrap();
}

fn watch_sees_expiry_on_two_loops(b: Backend) {
    watch_sees_expiry(&TwoLoops::start(b).addr());
}

per_backend!(
    resp3_after_hello,
    auth_with_requirepass,
    mset_and_exec_are_atomic_across_loops,
    client_list_shows_every_loop,
    watch_sees_expiry_on_one_loop,
    watch_sees_expiry_on_two_loops,
);
