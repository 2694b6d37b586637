//! Time and endings (issue 12) over real sockets, on every backend: the idle
//! timeout, handler deadlines, UDP remotes that expire, half-close, the
//! graceful shutdown with its deadline, and dial timeouts on the timer wheel.
//! The TLS side (handshake timeout, `close_notify` at shutdown) is in
//! `integration/tests/tls_endings.rs`.
//!
//! Timeouts are short and nothing asserts how soon a timer fires: only that
//! it fires within [`LIMIT`], or that it has not after several periods of
//! activity.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use revio::{Action, Backend, Config, Conn, ConnId, Handler};

/// The idle timeout and deadlines of these tests.
const SHORT: Duration = Duration::from_millis(400);
/// How often an active peer (or the server) sends: well inside [`SHORT`].
const BEAT: Duration = Duration::from_millis(100);

fn ms(n: usize) -> Duration {
    Duration::from_millis(n as u64)
}

/// The bytes the server writes from offset `from` of its stream: a cut, a
/// duplicate or a reordering shows. (Built by whole copies: 64 MiB of it
/// must be quick in a debug build.)
fn pattern(from: usize, n: usize) -> Vec<u8> {
    let period: Vec<u8> = (0..251).map(|i| i as u8).collect();
    let mut v = Vec::with_capacity(n + 251);
    v.extend_from_slice(&period[from % 251..]);
    while v.len() < n {
        v.extend_from_slice(&period);
    }
    v.truncate(n);
    v
}

fn assert_pattern(got: &[u8], n: usize) {
    assert_eq!(got.len(), n, "bytes received");
    assert!(got == pattern(0, n), "the stream is not the one written");
}

/// What a connection does when the server stops.
#[derive(Default, Clone, Copy, PartialEq)]
enum AtStop {
    /// The default `stopping`: close once flushed, nothing written.
    #[default]
    Close,
    /// Write `bye`, then close.
    Bye,
    /// Write `bye` and go on serving.
    Keep,
}

/// A line protocol whose commands drive the behaviour under test; any
/// other line is echoed. Logs `opened closing=..`, `line <text>`, `eof`,
/// `stopping` and `closed <why>`.
///
/// Commands: `# ...` (a comment: logged, not answered), `big N` (N bytes of the pattern), `pieces N SIZE MS` (N pieces
/// of SIZE pattern bytes, one per wake, a wake every MS), `deadline MS`,
/// `no-deadline`, `close-write` (writes `closing`, then shuts the writing
/// side), `at-stop bye|keep`, `quit`.
#[derive(Clone, Default)]
struct Lines {
    log: Log,
    ids: Arc<Mutex<Vec<ConnId>>>,
    /// Each line must be whole within this long of its first byte.
    frame_deadline: Option<Duration>,
    /// On the peer's end-of-stream, keep the connection, write this many
    /// 1 MiB pieces of the pattern (one per wake), then `close_write`.
    pieces_after_eof: Option<usize>,
}

#[derive(Default)]
struct St {
    /// Pattern bytes written so far.
    sent: usize,
    /// A line has begun, and its deadline runs.
    in_frame: bool,
    /// Pieces still to write, one per wake, and their size.
    pieces: usize,
    piece: usize,
    /// Shut the writing side once the pieces are written.
    close_write_after: bool,
    /// `close_write` was asked: nothing more is written.
    write_shut: bool,
    at_stop: AtStop,
}

fn write_pattern(c: &mut Conn<'_, St>, n: usize) {
    let from = c.state().sent;
    c.write(&pattern(from, n));
    c.state().sent += n;
}

/// Wakes `c` every `every` until it is gone.
fn wake_every(c: &Conn<'_, St>, every: Duration) {
    let (server, id) = (c.server().clone(), c.id());
    thread::spawn(move || {
        while {
            thread::sleep(every);
            server.wake(id)
        } {}
    });
}

impl Lines {
    fn command(&mut self, c: &mut Conn<'_, St>, line: &str) -> Action {
        let words: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<usize>().ok()).unwrap_or(0);
        match words[0] {
            "big" => write_pattern(c, num(1)),
            "pieces" => {
                (c.state().pieces, c.state().piece) = (num(1), num(2));
                wake_every(c, ms(num(3)));
            }
            "deadline" => c.set_deadline(Some(ms(num(1)))),
            "no-deadline" => c.set_deadline(None),
            "close-write" => {
                c.write(b"closing\n");
                c.close_write();
                c.state().write_shut = true;
            }
            "at-stop" if words[1] == "bye" => c.state().at_stop = AtStop::Bye,
            "at-stop" => c.state().at_stop = AtStop::Keep,
            "quit" => return Action::Close,
            "#" => {}
            // Echoed even after close-write: the loop drops such output
            // (it used to end the connection with a broken pipe).
            _ => {
                c.write(line.as_bytes());
                c.write(b"\n");
            }
        }
        Action::None
    }
}

impl Handler for Lines {
    type State = St;

    fn opened(&mut self, c: &mut Conn<'_, St>) -> Action {
        self.log.push(format!("opened closing={}", c.is_closing()));
        self.ids.lock().unwrap().push(c.id());
        Action::None
    }

    fn data(&mut self, c: &mut Conn<'_, St>, input: &[u8]) -> Action {
        let mut rest = input;
        let mut whole = false;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
            rest = &rest[nl + 1..];
            whole = true;
            self.log.push(format!("line {line}"));
            let action = self.command(c, &line);
            if action != Action::None {
                return action;
            }
        }
        if let Some(d) = self.frame_deadline {
            // A frame ended: its deadline goes; one begun: its deadline starts.
            if whole && c.state().in_frame {
                c.state().in_frame = false;
                c.set_deadline(None);
            }
            if !rest.is_empty() && !c.state().in_frame {
                c.state().in_frame = true;
                c.set_deadline(Some(d));
            }
        }
        c.keep(rest.len());
        Action::None
    }

    fn eof(&mut self, c: &mut Conn<'_, St>) -> Action {
        self.log.push("eof");
        let Some(n) = self.pieces_after_eof else {
            return Action::Close;
        };
        let st = c.state();
        (st.pieces, st.piece, st.close_write_after) = (n, 1 << 20, true);
        wake_every(c, ms(5));
        Action::None
    }

    fn woken(&mut self, c: &mut Conn<'_, St>) -> Action {
        if c.state().pieces > 0 {
            c.state().pieces -= 1;
            let piece = c.state().piece;
            write_pattern(c, piece);
            if c.state().pieces == 0 && c.state().close_write_after {
                c.close_write();
                c.state().write_shut = true;
            }
        }
        Action::None
    }

    fn stopping(&mut self, c: &mut Conn<'_, St>) -> Action {
        self.log.push("stopping");
        let at_stop = c.state().at_stop;
        if at_stop != AtStop::Close {
            c.write(b"bye\n");
        }
        if at_stop == AtStop::Keep {
            Action::None
        } else {
            Action::Close
        }
    }

    fn closed(&mut self, _: &mut Conn<'_, St>, e: Option<io::Error>) {
        self.log.push(format!("closed {}", describe(&e)));
    }
}

/// Serves `h` on a TCP port; returns the server and its log.
fn serve_lines(b: Backend, config: Config, h: Lines) -> (Running, Log) {
    let log = h.log.clone();
    (start_with(b, config, h, &["tcp://127.0.0.1:0"]), log)
}

/// Sends `line` and waits until the server has taken it (it echoes it).
fn say(c: &mut TcpStream, line: &str) {
    assert_eq!(roundtrip(c, line.as_bytes()), line.as_bytes());
}

/// A client with a tiny receive window: the server's output backs up fast.
fn small_window_client(addr: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

// ----- idle timeout ---------------------------------------------------------

fn idle_connection_is_closed_after_the_idle_timeout_and_active_ones_are_not(b: Backend) {
    let config = Config::new().idle_timeout(Some(SHORT));
    let (srv, log) = serve_lines(b, config, Lines::default());
    let mut idle = srv.connect(0);
    let mut talker = srv.connect(0);
    let mut listener = srv.connect(0);
    // The listener sends once; then only the server sends, a piece per beat,
    // for four idle timeouts.
    let beats = 4 * SHORT.as_millis() as usize / BEAT.as_millis() as usize;
    listener
        .write_all(format!("pieces {beats} 10 {}\n", BEAT.as_millis()).as_bytes())
        .unwrap();
    let listening = thread::spawn(move || {
        let got = read_n(&mut listener, beats * 10);
        (listener, got)
    });
    // The talker sends a line per beat all along, and hears nothing back:
    // reading is activity too.
    let stop = Arc::new(AtomicBool::new(false));
    let talking = {
        let stop = stop.clone();
        thread::spawn(move || {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                talker.write_all(format!("# beat {i}\n").as_bytes()).unwrap();
                thread::sleep(BEAT);
            }
            talker
        })
    };
    // The idle one is closed, with nothing to flush: a clean end.
    let (rest, end) = read_until_end(&mut idle);
    end.expect("an idle connection ends cleanly");
    assert!(rest.is_empty());
    let (mut listener, got) = listening.join().unwrap();
    assert_pattern(&got, beats * 10);
    let idle_closed = format!("closed TimedOut IdleTimeout({SHORT:?})");
    assert_eq!(
        log.starting("closed"),
        [idle_closed.as_str()],
        "only the idle connection closed"
    );
    // Once the server stops sending, the listener is idle too.
    let (rest, end) = read_until_end(&mut listener);
    end.expect("a clean end");
    assert!(rest.is_empty());
    log.wait_count("closed", 2);
    stop.store(true, Ordering::SeqCst);
    let mut talker = talking.join().unwrap();
    say(&mut talker, "still open\n");
    assert_eq!(log.starting("closed"), [idle_closed.as_str(); 2]);
    srv.stop().unwrap();
}

fn idle_timeout_resets_a_connection_whose_output_is_stuck(b: Backend) {
    let config = Config::new().idle_timeout(Some(SHORT));
    let (srv, log) = serve_lines(b, config, Lines::default());
    let mut c = small_window_client(&srv.addr(0));
    let size = 32 << 20;
    c.write_all(format!("big {size}\n").as_bytes()).unwrap();
    // The peer reads nothing: no byte moves, and the connection is idle.
    log.wait_count("closed", 1);
    assert_eq!(
        log.starting("closed"),
        [format!("closed TimedOut IdleTimeout({SHORT:?})")]
    );
    let (got, end) = read_until_end(&mut c);
    assert!(got.len() < size && got == pattern(0, got.len()));
    assert_reset(end, "output was cut: a reset, never a clean end");
    srv.stop().unwrap();
}

// ----- handler deadlines ----------------------------------------------------

fn deadline_closes_a_frame_that_never_completes_but_not_whole_frames(b: Backend) {
    let (srv, log) = serve_lines(
        b,
        Config::new(),
        Lines {
            frame_deadline: Some(SHORT),
            ..Lines::default()
        },
    );
    // A slowloris: active all along (a byte per beat), never a whole line.
    let mut loris = srv.connect(0);
    let mut trickle = loris.try_clone().unwrap();
    let dripping = thread::spawn(move || {
        let until = Instant::now() + LIMIT;
        while Instant::now() < until && trickle.write_all(b"x").is_ok() {
            thread::sleep(BEAT);
        }
    });
    // Frames that take a beat each, with a beat between them: their
    // deadlines are cleared and set again, over three deadlines' time.
    let mut steady = srv.connect(0);
    let rounds = 3 * SHORT.as_millis() as usize / (2 * BEAT.as_millis() as usize);
    for i in 0..rounds {
        steady.write_all(b"hal").unwrap();
        thread::sleep(BEAT);
        steady.write_all(format!("f {i}\n").as_bytes()).unwrap();
        assert_eq!(read_n(&mut steady, 7), format!("half {i}\n").as_bytes());
        thread::sleep(BEAT);
    }
    log.wait_count("closed", 1);
    // It ends (cleanly, or reset for the bytes it went on sending).
    let (rest, _) = read_until_end(&mut loris);
    drop(loris);
    dripping.join().unwrap();
    assert!(rest.is_empty(), "nothing was written to it");
    // No deadline runs between frames: quiet for two deadlines, still served.
    thread::sleep(2 * SHORT);
    say(&mut steady, "whole\n");
    assert_eq!(log.starting("closed"), ["closed TimedOut Deadline"]);
    srv.stop().unwrap();
}

fn deadline_can_be_replaced_and_cleared_and_dies_with_its_connection(b: Backend) {
    let (srv, log) = serve_lines(b, Config::new(), Lines::default());
    let short = SHORT.as_millis();
    // A long deadline replaced by a short one: closed (the long one would
    // outlast LIMIT).
    let mut shortened = srv.connect(0);
    shortened.write_all(b"deadline 60000\n").unwrap();
    say(&mut shortened, "sync\n");
    shortened
        .write_all(format!("deadline {short}\n").as_bytes())
        .unwrap();
    // A short deadline replaced by a long one, and one cleared: not closed.
    let mut lengthened = srv.connect(0);
    lengthened
        .write_all(format!("deadline {short}\n").as_bytes())
        .unwrap();
    say(&mut lengthened, "sync\n");
    lengthened.write_all(b"deadline 60000\n").unwrap();
    let mut cleared = srv.connect(0);
    cleared
        .write_all(format!("deadline {short}\n").as_bytes())
        .unwrap();
    say(&mut cleared, "sync\n");
    cleared.write_all(b"no-deadline\n").unwrap();
    // A deadline whose connection closed first: its slot's next owner is
    // not touched by it.
    let mut gone = srv.connect(0);
    gone.write_all(format!("deadline {short}\nquit\n").as_bytes())
        .unwrap();
    read_until_end(&mut gone).1.expect("quit ends cleanly");
    let mut next = srv.connect(0);
    say(&mut next, "hello\n");

    let (rest, end) = read_until_end(&mut shortened);
    assert!(rest.is_empty());
    end.expect("nothing queued: a clean end");
    thread::sleep(2 * SHORT);
    say(&mut lengthened, "alive\n");
    say(&mut cleared, "alive\n");
    say(&mut next, "alive\n");
    let mut closed = log.starting("closed");
    closed.sort();
    assert_eq!(closed, ["closed TimedOut Deadline", "closed none"]);
    srv.stop().unwrap();
}

// ----- UDP ------------------------------------------------------------------

/// Echoes datagrams; logs `opened <id>` and `closed <id> <why>`.
#[derive(Clone, Default)]
struct UdpEcho {
    log: Log,
}

impl Handler for UdpEcho {
    type State = ();
    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.log.push(format!("opened {}", c.id()));
        Action::None
    }
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
    fn closed(&mut self, c: &mut Conn<'_, ()>, e: Option<io::Error>) {
        self.log.push(format!("closed {} {}", c.id(), describe(&e)));
    }
}

fn udp_remote_expires_after_the_idle_timeout_and_comes_back_as_a_new_one(b: Backend) {
    let h = UdpEcho::default();
    let log = h.log.clone();
    let config = Config::new().idle_timeout(Some(SHORT));
    let srv = start_with(b, config, h, &["udp://127.0.0.1:0"]);
    let client = || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.connect(srv.addr(0)).unwrap();
        s
    };
    let echo = |s: &UdpSocket, msg: &[u8]| {
        s.send(msg).unwrap();
        let mut buf = [0u8; 64];
        let n = s.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg);
    };
    let (quiet, busy) = (client(), client());
    echo(&quiet, b"first");
    log.wait_count("opened", 1);
    let first = log.snapshot()[0].strip_prefix("opened ").unwrap().to_string();
    // The busy remote sends a datagram per beat for four idle timeouts.
    let beats = 4 * SHORT.as_millis() / BEAT.as_millis();
    for _ in 0..beats {
        echo(&busy, b"beat");
        thread::sleep(BEAT);
    }
    log.wait_count("closed", 1);
    assert_eq!(
        log.starting("closed"),
        [format!("closed {first} TimedOut IdleTimeout({SHORT:?})")],
        "only the quiet remote expired"
    );
    // The same address again: a fresh remote, with a new id.
    echo(&quiet, b"again");
    log.wait_count("opened", 3);
    let opened = log.starting("opened");
    assert_ne!(opened[2], opened[0], "a new remote, not the expired one");
    echo(&busy, b"still here");
    srv.stop().unwrap();
}

// ----- half-close -----------------------------------------------------------

fn peer_end_by_default_flushes_the_replies_then_closes(b: Backend) {
    // Reading goes on however much is queued: the end is seen at once.
    let config = Config::new().high_water(64 << 20);
    let (srv, log) = serve_lines(b, config, Lines::default());
    let mut c = srv.connect(0);
    let size = 16 << 20;
    c.write_all(format!("big {size}\n").as_bytes()).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // Not reading yet: the reply is still queued when the end arrives.
    log.wait_count("eof", 1);
    let (got, end) = read_until_end(&mut c);
    end.expect("every reply, then a clean end");
    assert_pattern(&got, size);
    log.wait_count("closed", 1);
    assert_eq!(log.starting("closed"), ["closed none"]);
    srv.stop().unwrap();
}

fn handler_that_keeps_the_connection_at_eof_writes_on_then_closes_its_side(b: Backend) {
    let pieces = 8;
    let (srv, log) = serve_lines(
        b,
        Config::new(),
        Lines {
            pieces_after_eof: Some(pieces),
            ..Lines::default()
        },
    );
    let mut c = srv.connect(0);
    c.write_all(b"big 100\n").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // 100 bytes before the end, then 8 MiB written over several wakes after it.
    let (got, end) = read_until_end(&mut c);
    end.expect("everything, then a clean end");
    assert_pattern(&got, 100 + pieces * (1 << 20));
    log.wait_count("closed", 1);
    let l = log.snapshot();
    assert_eq!(log.starting("closed"), ["closed none"]);
    assert!(
        l.iter().position(|e| e == "eof") < l.iter().position(|e| e.starts_with("closed")),
        "{l:?}"
    );
    srv.stop().unwrap();
}

fn close_write_before_the_peer_ends_lets_the_peer_read_the_end_and_go_on_sending(b: Backend) {
    let (srv, log) = serve_lines(b, Config::new(), Lines::default());
    let mut c = srv.connect(0);
    c.write_all(b"close-write\n").unwrap();
    let (got, end) = read_until_end(&mut c);
    end.expect("a clean end of the server's side");
    assert_eq!(got, b"closing\n");
    // The other direction is still open: the server reads on.
    c.write_all(b"after 1\nafter 2\n").unwrap();
    log.wait_count("line after 2", 1);
    assert!(log.starting("closed").is_empty(), "{:?}", log.snapshot());
    c.shutdown(Shutdown::Write).unwrap();
    log.wait_count("closed", 1);
    assert_eq!(log.starting("closed"), ["closed none"]);
    srv.stop().unwrap();
}

// ----- graceful shutdown ----------------------------------------------------

/// Reads to the end in 64 KiB pieces, pausing a millisecond after every
/// 256 KiB (slower than the loop writes, fast enough to finish well inside
/// the shutdown timeout), and checks the pattern as it goes. Returns the
/// count and how the stream ended.
fn read_slowly(c: &mut TcpStream, from: usize) -> (usize, io::Result<()>) {
    let expected = pattern(0, 64 * 1024 + 251);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut at, mut paused_at) = (from, from);
    let end = loop {
        match c.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                let off = at % 251;
                assert!(buf[..n] == expected[off..off + n], "the stream differs at {at}");
                at += n;
                if at - paused_at >= 256 * 1024 {
                    paused_at = at;
                    thread::sleep(Duration::from_millis(1));
                }
            }
            Err(e) => break Err(e),
        }
    };
    (at - from, end)
}

fn shutdown_delivers_64_mib_to_a_slow_reader_and_frees_the_port_at_once(b: Backend) {
    let config = Config::new().shutdown_timeout(Duration::from_secs(8));
    let (mut srv, log) = serve_lines(b, config, Lines::default());
    let addr = srv.addr(0);
    let mut c = srv.connect(0);
    let size = 64 << 20;
    c.write_all(format!("big {size}\n").as_bytes()).unwrap();
    assert_eq!(read_n(&mut c, 1), [0], "the reply has begun");
    let reading = thread::spawn(move || read_slowly(&mut c, 1));
    srv.server.shutdown();
    // The listener closes at once: another server can bind the port while
    // the reply is still on its way (its connection has not closed).
    wait_until("the port is free", || TcpListener::bind(&addr).is_ok());
    assert!(
        log.starting("closed").is_empty(),
        "the port came free only once the reply was sent"
    );
    let (n, end) = reading.join().unwrap();
    end.expect("all of it, then a clean end");
    assert_eq!(n + 1, size, "bytes received");
    srv.join().unwrap();
    let l = log.snapshot();
    assert_eq!(l.iter().filter(|e| *e == "stopping").count(), 1, "{l:?}");
    assert_eq!(log.starting("closed"), ["closed none"]);
}

fn shutdown_resets_a_peer_that_never_reads_with_an_error_in_closed(b: Backend) {
    let config = Config::new().shutdown_timeout(SHORT);
    let (mut srv, log) = serve_lines(b, config, Lines::default());
    let mut c = small_window_client(&srv.addr(0));
    let size = 32 << 20;
    c.write_all(format!("big {size}\n").as_bytes()).unwrap();
    log.wait_count("line big", 1);
    srv.server.shutdown();
    srv.join().unwrap();
    let closed = log.starting("closed");
    assert_eq!(closed.len(), 1);
    let unsent: usize = closed[0]
        .strip_prefix("closed TimedOut ShutdownTimeout { unsent: ")
        .and_then(|s| s.strip_suffix(" }"))
        .unwrap_or_else(|| panic!("{closed:?}"))
        .parse()
        .unwrap();
    assert!(unsent > 0 && unsent < size, "{unsent}");
    // What the kernel had, then a reset: never a clean end after a cut.
    let (got, end) = read_until_end(&mut c);
    assert!(got.len() < size && got == pattern(0, got.len()));
    assert_reset(end, "the reply was cut: a reset, never a clean end");
}

fn stopping_is_called_once_per_connection_its_output_arrives_and_none_keeps_serving(b: Backend) {
    // A deadline far beyond LIMIT: serve returns because the kept connection
    // closed, not because the deadline passed.
    let config = Config::new().shutdown_timeout(Duration::from_secs(60));
    let (mut srv, log) = serve_lines(b, config, Lines::default());
    let mut keeper = srv.connect(0);
    keeper.write_all(b"at-stop keep\n").unwrap();
    say(&mut keeper, "ready\n");
    let mut leaver = srv.connect(0);
    leaver.write_all(b"at-stop bye\n").unwrap();
    say(&mut leaver, "ready\n");
    let mut plain = srv.connect(0);
    say(&mut plain, "ready\n");
    srv.server.shutdown();
    srv.server.shutdown();
    let (got, end) = read_until_end(&mut leaver);
    end.expect("a clean end");
    assert_eq!(got, b"bye\n");
    let (got, end) = read_until_end(&mut plain);
    end.expect("a clean end");
    assert!(got.is_empty());
    // The kept one is still served, until it ends by itself.
    assert_eq!(read_n(&mut keeper, 4), b"bye\n");
    say(&mut keeper, "still served\n");
    keeper.write_all(b"quit\n").unwrap();
    let (got, end) = read_until_end(&mut keeper);
    end.expect("a clean end");
    assert!(got.is_empty());
    srv.join().unwrap();
    let l = log.snapshot();
    assert_eq!(l.iter().filter(|e| *e == "stopping").count(), 3, "{l:?}");
    assert_eq!(log.starting("closed"), ["closed none"; 3]);
}

// ----- dial timeouts --------------------------------------------------------

fn dial_times_out_on_the_wheel_and_the_idle_timeout_spares_a_connect(b: Backend) {
    let silent = Unanswering::new();
    // The idle timeout is shorter than the dial's: it must not cut the connect.
    let config = Config::new().idle_timeout(Some(Duration::from_millis(100)));
    let (srv, log) = serve_lines(b, config, Lines::default());
    srv.server
        .dial(&format!("tcp://{}", silent.addr), Some(SHORT))
        .unwrap();
    log.wait_count("closed", 1);
    assert_eq!(log.snapshot(), ["opened closing=true", "closed TimedOut"]);
    srv.stop().unwrap();
}

fn dial_timeout_ends_with_the_connect(b: Backend) {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    // An idle timeout (longer than the test) keeps the connection's timer armed.
    let config = Config::new().idle_timeout(Some(Duration::from_secs(60)));
    let (srv, log) = serve_lines(b, config, Lines::default());
    let addr = upstream.local_addr().unwrap();
    srv.server.dial(&format!("tcp://{addr}"), Some(SHORT)).unwrap();
    let (mut peer, _) = upstream.accept().unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    log.wait_count("opened closing=false", 1);
    thread::sleep(2 * SHORT);
    say(&mut peer, "connected long ago\n");
    assert!(log.starting("closed").is_empty(), "{:?}", log.snapshot());
    srv.stop().unwrap();
}

fn dial_that_connects_late_is_idle_only_from_when_it_opened(b: Backend) {
    let mut silent = Unanswering::new();
    let config = Config::new().idle_timeout(Some(SHORT));
    let (srv, log) = serve_lines(b, config, Lines::default());
    srv.server
        .dial(&format!("tcp://{}", silent.addr), Some(LIMIT))
        .unwrap();
    // The SYN was dropped; with room in the backlog its retransmission (about
    // a second later on Linux, longer than the idle timeout) connects.
    thread::sleep(BEAT);
    silent.make_room();
    let mut peer = silent.accept();
    log.wait_count("opened", 1);
    say(&mut peer, "fresh\n");
    assert_eq!(log.snapshot()[0], "opened closing=false");
    // Then idle: closed for it.
    let (_, end) = read_until_end(&mut peer);
    end.expect("a clean end");
    log.wait_count("closed", 1);
    assert_eq!(
        log.starting("closed"),
        [format!("closed TimedOut IdleTimeout({SHORT:?})")]
    );
    srv.stop().unwrap();
}

per_backend!(
    idle_connection_is_closed_after_the_idle_timeout_and_active_ones_are_not,
    idle_timeout_resets_a_connection_whose_output_is_stuck,
    deadline_closes_a_frame_that_never_completes_but_not_whole_frames,
    deadline_can_be_replaced_and_cleared_and_dies_with_its_connection,
    udp_remote_expires_after_the_idle_timeout_and_comes_back_as_a_new_one,
    peer_end_by_default_flushes_the_replies_then_closes,
    handler_that_keeps_the_connection_at_eof_writes_on_then_closes_its_side,
    close_write_before_the_peer_ends_lets_the_peer_read_the_end_and_go_on_sending,
    shutdown_delivers_64_mib_to_a_slow_reader_and_frees_the_port_at_once,
    shutdown_resets_a_peer_that_never_reads_with_an_error_in_closed,
    stopping_is_called_once_per_connection_its_output_arrives_and_none_keeps_serving,
    dial_times_out_on_the_wheel_and_the_idle_timeout_spares_a_connect,
    dial_timeout_ends_with_the_connect,
    dial_that_connects_late_is_idle_only_from_when_it_opened,
);
