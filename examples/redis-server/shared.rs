//! What every loop shares besides the keyspace: the configuration INFO,
//! CONFIG GET and AUTH read, and the client list (CLIENT LIST, CLIENT ID).
//!
//! A client's entry is written by its own loop only, with relaxed atomics
//! (the last command, when it was last seen): CLIENT LIST on another loop
//! reads a recent picture, as Redis's is a picture of one moment.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::commands::COMMANDS;

/// The server-wide state.
#[derive(Debug)]
pub struct Shared {
    /// When the server started.
    pub started: Instant,
    /// The number of event loops.
    pub loops: usize,
    /// The password AUTH wants (`--requirepass`), if any.
    pub requirepass: Option<Vec<u8>>,
    /// INFO's `master_replid`: 40 hex digits drawn at start, as Redis's.
    pub replid: String,
    /// The highest `used_memory` INFO has computed.
    pub memory_peak: AtomicUsize,
    tcp_port: AtomicU16,
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Shared {
    /// The state of a server with `loops` loops.
    pub fn new(loops: usize, requirepass: Option<Vec<u8>>) -> Shared {
        Shared {
            started: Instant::now(),
            loops,
            requirepass,
            replid: random_hex(40),
            memory_peak: AtomicUsize::new(0),
            tcp_port: AtomicU16::new(0),
            next_id: AtomicU64::new(1),
            clients: Mutex::default(),
        }
    }

    /// Whether clients must authenticate first.
    pub fn requires_auth(&self) -> bool {
        self.requirepass.is_some()
    }

    /// The TCP port served (0 before `serving`).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port.load(Relaxed)
    }

    /// Records the TCP port served.
    pub fn set_tcp_port(&self, port: u16) {
        self.tcp_port.store(port, Relaxed);
    }

    /// Adds a connection to the client list; returns its entry.
    pub fn register(&self, addr: String, laddr: String, unix: bool) -> Arc<ClientInfo> {
        let info = Arc::new(ClientInfo {
            id: self.next_id.fetch_add(1, Relaxed),
            addr,
            laddr,
            unix,
            created: Instant::now(),
            last_seen_ms: AtomicU64::new(self.started.elapsed().as_millis() as u64),
            last_command: AtomicUsize::new(usize::MAX),
            multi: AtomicI64::new(-1),
            proto: AtomicU16::new(2),
            name: Mutex::default(),
        });
        self.list().insert(info.id, info.clone());
        info
    }

    /// Removes a closed connection from the client list.
    pub fn unregister(&self, id: u64) {
        self.list().remove(&id);
    }

    /// The number of connected clients, on every loop.
    pub fn client_count(&self) -> usize {
        self.list().len()
    }

    /// Every client's CLIENT LIST line, in id order, filtered by `keep`.
    pub fn client_lines(&self, keep: impl Fn(&ClientInfo) -> bool) -> Vec<u8> {
        let list: Vec<Arc<ClientInfo>> = self.list().values().filter(|c| keep(c)).cloned().collect();
        let mut text = Vec::new();
        for c in list {
            c.describe(self, &mut text);
            text.push(b'\n');
        }
        text
    }

    fn list(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `n` random hex digits, from std's randomly keyed hasher (the example
/// has no other source of randomness, and needs no better).
fn random_hex(n: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < n {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        let _ = write!(out, "{:016x}", h.finish());
    }
    out.truncate(n);
    out
}

/// One connection as CLIENT LIST shows it.
#[derive(Debug)]
pub struct ClientInfo {
    /// Its id (CLIENT ID), unique for the server's life.
    pub id: u64,
    addr: String,
    laddr: String,
    unix: bool,
    created: Instant,
    last_seen_ms: AtomicU64,
    last_command: AtomicUsize,
    multi: AtomicI64,
    proto: AtomicU16,
    name: Mutex<Option<Box<[u8]>>>,
}

impl ClientInfo {
    /// Notes that the client was heard from at `now` (the loop's clock:
    /// no clock read per call).
    pub fn seen(&self, shared: &Shared, now: Instant) {
        let ms = now.saturating_duration_since(shared.started).as_millis();
        self.last_seen_ms.store(ms as u64, Relaxed);
    }

    /// Notes the last command looked up (an index into the command table).
    pub fn set_last_command(&self, index: usize) {
        self.last_command.store(index, Relaxed);
    }

    /// Notes the number of queued commands (-1: not in MULTI).
    pub fn set_multi(&self, n: i64) {
        self.multi.store(n, Relaxed);
    }

    /// Notes the protocol version.
    pub fn set_proto(&self, v: i64) {
        self.proto.store(v as u16, Relaxed);
    }

    /// The name set with CLIENT SETNAME or HELLO SETNAME.
    pub fn name(&self) -> Option<Box<[u8]>> {
        self.name_lock().clone()
    }

    /// Sets (or with `None` clears) the name.
    pub fn set_name(&self, name: Option<Box<[u8]>>) {
        *self.name_lock() = name;
    }

    fn name_lock(&self) -> MutexGuard<'_, Option<Box<[u8]>>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends this client's line, with Redis's fields that apply here.
    pub fn describe(&self, shared: &Shared, out: &mut Vec<u8>) {
        let now_ms = shared.started.elapsed().as_millis() as u64;
        let idle = now_ms.saturating_sub(self.last_seen_ms.load(Relaxed)) / 1000;
        let multi = self.multi.load(Relaxed);
        let mut flags = String::new();
        if multi >= 0 {
            flags.push('x');
        }
        if self.unix {
            flags.push('U');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let cmd = COMMANDS
            .get(self.last_command.load(Relaxed))
            .map_or("NULL", |c| c.name);
        let mut line = String::new();
        let _ = write!(
            line,
            "id={} addr={} laddr={} name=",
            self.id, self.addr, self.laddr
        );
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(self.name().as_deref().unwrap_or_default());
        line.clear();
        let _ = write!(
            line,
            " age={} idle={idle} flags={flags} db=0 sub=0 psub=0 ssub=0 multi={multi} cmd={cmd} user=default redir=-1 resp={}",
            self.created.elapsed().as_secs(),
            self.proto.load(Relaxed),
        );
        out.extend_from_slice(line.as_bytes());
    }
}
