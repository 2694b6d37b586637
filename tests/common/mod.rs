//! Shared helpers for the behaviour suite: start a server on a thread, get its
//! `Server` handle, stop and join it; run each test once per backend.
#![allow(dead_code)]

#[cfg(unix)]
pub mod examples;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use revio::{Action, Backend, Config, Conn, Detached, Handler, Server};

/// Bounds every blocking step of a test.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Every backend, for the few tests that must run them one after another
/// (keep in step with `per_backend!`).
#[cfg(target_os = "linux")]
pub const BACKENDS: &[Backend] = &[Backend::Poll, Backend::Std, Backend::Uring];
/// Every backend, for the few tests that must run them one after another
/// (keep in step with `per_backend!`).
#[cfg(not(target_os = "linux"))]
pub const BACKENDS: &[Backend] = &[Backend::Poll, Backend::Std];

/// Runs each named test function `fn name(backend: Backend)` once per backend,
/// as `<backend>::<name>`. Adding a backend is one line here. Attributes
/// before a name go on each of its tests (`#[cfg_attr(windows, ignore = "...")]`).
/// Where io_uring is refused (a container's seccomp profile), its tests say
/// so and pass.
#[macro_export]
macro_rules! per_backend {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $crate::per_backend!(@in poll = Poll: $($(#[$attr])* $name),*);
        $crate::per_backend!(@in stdlib = Std: $($(#[$attr])* $name),*);
        #[cfg(target_os = "linux")]
        $crate::per_backend!(@in uring = Uring: $($(#[$attr])* $name),*);
    };
    (@in $module:ident = $backend:ident: $($(#[$attr:meta])* $name:ident),*) => {
        mod $module {
            $( $(#[$attr])* #[test] fn $name() {
                if !$crate::common::available(revio::Backend::$backend) {
                    return;
                }
                super::$name(revio::Backend::$backend)
            } )*
        }
    };
}

/// Whether `backend` runs here; says so on stderr when it does not.
pub fn available(backend: Backend) -> bool {
    let ok = backend.is_available();
    if !ok {
        eprintln!("skipped: the {backend:?} backend is not available on this machine");
    }
    ok
}

/// A server running on its own thread.
pub struct Running {
    pub server: Server,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Shuts down and returns what `serve` returned (bounded by [`LIMIT`]).
    pub fn stop(mut self) -> io::Result<()> {
        self.server.shutdown();
        self.join()
    }

    /// Waits (bounded) for `serve` to return by itself.
    pub fn join(&mut self) -> io::Result<()> {
        let t = self.thread.take().expect("joined once");
        let deadline = Instant::now() + LIMIT;
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "serve did not return within {LIMIT:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        t.join().expect("serve thread panicked")
    }

    /// The first bound address as `host:port`.
    pub fn addr(&self, i: usize) -> String {
        let a = &self.server.addrs()[i];
        match (a.socket_addr(), a.path()) {
            (Some(s), _) => s.to_string(),
            (None, Some(p)) => p.display().to_string(),
            (None, None) => panic!("address {a} has neither a socket address nor a path"),
        }
    }

    /// Connects a blocking TCP client to address `i`.
    pub fn connect(&self, i: usize) -> TcpStream {
        let s = TcpStream::connect(self.addr(i)).expect("connect");
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.server.shutdown();
            let _ = self.join();
        }
    }
}

/// Passes every event to the inner handler, and hands the `Server` out in `serving`.
pub struct Capture<H> {
    pub inner: H,
    pub tx: mpsc::Sender<Server>,
}

impl<H: Handler> Handler for Capture<H> {
    type State = H::State;
    fn serving(&mut self, server: &Server) -> Action {
        let action = self.inner.serving(server);
        let _ = self.tx.send(server.clone());
        action
    }
    fn opened(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.inner.opened(c)
    }
    fn data(&mut self, c: &mut Conn<'_, H::State>, input: &[u8]) -> Action {
        self.inner.data(c, input)
    }
    fn woken(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.inner.woken(c)
    }
    fn prewrite(&mut self, c: &mut Conn<'_, H::State>, amount: usize) -> Action {
        self.inner.prewrite(c, amount)
    }
    fn postwrite(&mut self, c: &mut Conn<'_, H::State>, amount: usize, remaining: usize) -> Action {
        self.inner.postwrite(c, amount, remaining)
    }
    fn closed(&mut self, c: &mut Conn<'_, H::State>, error: Option<io::Error>) {
        self.inner.closed(c, error)
    }
    fn detached(&mut self, c: &mut Conn<'_, H::State>, stream: Detached) {
        self.inner.detached(c, stream)
    }
    fn tick(&mut self, tick: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        self.inner.tick(tick)
    }
    fn eof(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.inner.eof(c)
    }
    fn stopping(&mut self, c: &mut Conn<'_, H::State>) -> Action {
        self.inner.stopping(c)
    }
}

/// Starts `handler` on `addrs` with `config` (its backend set to `backend`) on a
/// new thread and waits for `serving`.
pub fn start_with<H>(backend: Backend, config: Config, handler: H, addrs: &[&str]) -> Running
where
    H: Handler + Send + 'static,
{
    spawn_serve(addrs, move |addrs, tx| {
        config
            .backend(backend)
            .serve(Capture { inner: handler, tx }, addrs)
    })
}

/// [`start_with`] on `loops` loops, each serving a clone of `handler`
/// (through `serve_with`).
pub fn start_loops<H>(backend: Backend, config: Config, loops: usize, handler: H, addrs: &[&str]) -> Running
where
    H: Handler + Clone + Send + Sync + 'static,
{
    spawn_serve(addrs, move |addrs, tx| {
        let factory = |_| Capture {
            inner: handler.clone(),
            tx: tx.clone(),
        };
        config.backend(backend).loops(loops).serve_with(factory, addrs)
    })
}

/// Runs `serve` on a new thread and waits for its first `serving`.
fn spawn_serve<F>(addrs: &[&str], serve: F) -> Running
where
    F: FnOnce(&[String], mpsc::Sender<Server>) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let (etx, erx) = mpsc::channel();
    let addrs: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
    let thread = std::thread::spawn(move || {
        let r = serve(&addrs, tx);
        if let Err(e) = &r {
            let _ = etx.send(io::Error::new(e.kind(), e.to_string()));
        }
        r
    });
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(server) = rx.recv_timeout(Duration::from_millis(10)) {
            return Running {
                server,
                thread: Some(thread),
            };
        }
        if let Ok(e) = erx.try_recv() {
            panic!("serve failed: {e}");
        }
        assert!(Instant::now() < deadline, "server did not start");
    }
}

/// [`start_with`] with the default config.
pub fn start<H: Handler + Send + 'static>(backend: Backend, handler: H, addrs: &[&str]) -> Running {
    start_with(backend, Config::new(), handler, addrs)
}

/// A shared, ordered log of events for assertions.
#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.snapshot().iter().filter(|e| e.starts_with(prefix)).count()
    }
    /// The entries that start with `prefix`, in order.
    pub fn starting(&self, prefix: &str) -> Vec<String> {
        self.snapshot()
            .into_iter()
            .filter(|e| e.starts_with(prefix))
            .collect()
    }
    /// Waits (bounded) until `n` entries start with `prefix`.
    pub fn wait_count(&self, prefix: &str, n: usize) {
        self.wait_for(&format!("{n} x {prefix:?}"), |l| {
            l.iter().filter(|e| e.starts_with(prefix)).count() >= n
        });
    }
    /// Waits (bounded) until `pred` holds for the log.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !pred(&self.snapshot()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log: {:?}",
                self.snapshot()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Waits (bounded) until `f` returns true.
pub fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads exactly `n` bytes (bounded by the stream's read timeout).
pub fn read_n(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Reads until end-of-stream (`Ok`) or an error (`Err`); returns what came
/// before with how it ended, so that a test can tell a clean end from a reset.
pub fn read_until_end(s: &mut impl Read) -> (Vec<u8>, io::Result<()>) {
    let mut all = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, Ok(())),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (all, Err(e)),
        }
    }
}

/// A `closed` error in full, for a test's log: `none`, or its kind followed,
/// when revio made it, by the [`revio::Error`] (`TimedOut Deadline`).
pub fn describe(e: &Option<io::Error>) -> String {
    match e {
        None => "none".to_string(),
        Some(e) => match revio::Error::of(e) {
            Some(r) => format!("{:?} {r:?}", e.kind()),
            None => format!("{:?}", e.kind()),
        },
    }
}

/// Writes all of `data` then reads back exactly as many bytes.
pub fn roundtrip(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    ask(s, data, data.len())
}

/// Writes all of `data` then reads back exactly `n` bytes.
pub fn ask(s: &mut TcpStream, data: &[u8], n: usize) -> Vec<u8> {
    s.write_all(data).unwrap();
    read_n(s, n)
}

/// Whether this runs under wine, which sets WINECONFIGDIR in every process
/// it starts. The Windows binaries are tested there; the few checks that
/// wine's sockets cannot carry give way through the two helpers below, and
/// run on Windows itself.
fn under_wine() -> bool {
    cfg!(windows) && std::env::var_os("WINECONFIGDIR").is_some()
}

/// For a test that wine cannot carry: under wine, says why and returns true
/// (the test then returns).
pub fn skipped_under_wine(why: &str) -> bool {
    let wine = under_wine();
    if wine {
        eprintln!("skipped under wine: {why}");
    }
    wine
}

/// Asserts that reading a stream to its end (`end`, as [`read_until_end`]
/// gives it) ended with the peer's reset. Wine's recv reports a reset that
/// came before the call as a clean end of the stream, so there a clean end
/// is taken too: the most wine can show.
pub fn assert_reset(end: io::Result<()>, what: &str) {
    match end {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Ok(()) if under_wine() => eprintln!("under wine, a clean end stands for a reset: {what}"),
        other => panic!("{what}: the peer must see a reset, not {other:?}"),
    }
}

/// A unix stream client connected to `path`. Through socket2, which has
/// AF_UNIX on Windows too (std has it only on unix), so that the unix-socket
/// tests compile everywhere; on Windows they are ignored, as revio serves unix
/// sockets on unix systems only.
pub fn unix_connect(path: &std::path::Path) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    s.connect(&socket2::SockAddr::unix(path).unwrap()).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

/// A unix stream listener on `path` (see [`unix_connect`]).
pub fn unix_listen(path: &std::path::Path) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    s.bind(&socket2::SockAddr::unix(path).unwrap()).unwrap();
    s.listen(128).unwrap();
    s
}

/// A unique unix socket path under the temp dir, removed on drop.
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> TempPath {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!("revio-{tag}-{}-{n}.sock", std::process::id())))
    }
    pub fn url(&self) -> String {
        format!("unix://{}", self.0.display())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A listener whose backlog is full, so that it never completes another
/// handshake: on loopback Linux drops the SYN and a connect to it hangs.
/// Keep the returned sockets alive for as long as the listener must stay full.
pub struct Unanswering {
    pub addr: std::net::SocketAddr,
    listener: socket2::Socket,
    fillers: Vec<socket2::Socket>,
}

impl Unanswering {
    pub fn new() -> Unanswering {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Connections nobody accepts fill the backlog.
        let fillers = (0..4)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                s.set_nonblocking(true).unwrap();
                let _ = s.connect(&addr.into());
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        Unanswering {
            addr,
            listener,
            fillers,
        }
    }

    /// Empties the backlog and drops the connections that filled it, so that
    /// a connect hanging on this listener completes at its next SYN
    /// retransmission (about a second after it began, on Linux).
    pub fn make_room(&mut self) {
        self.listener.set_nonblocking(true).unwrap();
        while self.listener.accept().is_ok() {}
        self.fillers.clear();
    }

    /// Accepts the next connection (after [`Unanswering::make_room`]),
    /// waiting at most [`LIMIT`].
    pub fn accept(&self) -> TcpStream {
        self.listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + LIMIT;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    let s: TcpStream = s.into();
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(LIMIT)).unwrap();
                    return s;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "nothing connected within {LIMIT:?}");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// The echo handler used by many tests.
#[derive(Clone, Default)]
pub struct Echo;

impl Handler for Echo {
    type State = ();
    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        c.write(input);
        Action::None
    }
}

/// The environment variable that marks a child process started by [`alone`].
const CHILD: &str = "REVIO_TEST_ALONE_CHILD";

/// Runs `check` alone in a child process (this test binary, filtered to the
/// test `name`, one test thread), so that the threads, descriptors and memory
/// of tests running beside it cannot blur its counts.
pub fn alone(name: &str, check: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        check();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let dir = std::env::temp_dir().join(format!("revio-alone-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir for the child's output");
    let (out_path, err_path) = (dir.join("out"), dir.join("err"));
    let mut child = std::process::Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .stdout(std::fs::File::create(&out_path).expect("child stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("child stderr file"))
        .spawn()
        .expect("run the test alone");
    // Bounded: a child that hangs is killed and the test fails.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.unwrap_or_else(|| panic!("{name} hung (killed after 120 s):\n{text}"));
    assert!(status.success(), "{name} failed alone:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run alone:\n{text}");
}

/// [`alone`] for a test of `per_backend!`: runs `check(backend)` alone, as
/// the test `<backend's module>::name`.
pub fn alone_on(backend: Backend, name: &str, check: fn(Backend)) {
    let module = match backend {
        Backend::Poll => "poll",
        Backend::Std => "stdlib",
        Backend::Uring => "uring",
        b => panic!("no per_backend! module for {b:?}"),
    };
    alone(&format!("{module}::{name}"), || check(backend));
}

/// A number from this process's /proc/self/status (`field` with its colon,
/// e.g. `"Threads:"`, `"VmRSS:"` in KiB). Linux only: the tests that call it
/// are ignored elsewhere.
pub fn proc_status(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("a {field} line in /proc/self/status"))
}

/// Why a connection closed, in a word for logs and assertions: `ok` for no
/// error, the revio [`Error`](revio::Error) variant's name (`OutputLimit`,
/// `Panic`...), or `io:<kind>` for an operating system error.
pub fn why(e: &Option<io::Error>) -> String {
    let Some(e) = e else { return "ok".to_string() };
    match revio::Error::of(e) {
        Some(r) => {
            let d = format!("{r:?}");
            d.split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("")
                .to_string()
        }
        None => format!("io:{:?}", e.kind()),
    }
}

/// A UDP socket bound to `bind` and connected to the server's address `i`.
pub fn udp_client(srv: &Running, i: usize, bind: &str) -> std::net::UdpSocket {
    let s = std::net::UdpSocket::bind(bind).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.connect(srv.server.addrs()[i].socket_addr().unwrap()).unwrap();
    s
}

/// Receives one datagram (bounded by the socket's read timeout), as text.
pub fn recv(s: &std::net::UdpSocket) -> String {
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}
