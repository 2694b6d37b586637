//! A line-based chat: every line a client sends goes to every other client,
//! whichever loop serves them.
//!
//! ```text
//! cargo run --release --example chat -- --port 6000 --loops 4
//! nc localhost 6000      # in several terminals
//! ```
//!
//! It shows the pattern revio recommends for one connection writing to
//! another:
//! * A handler can only write to the connection of its event. To reach
//!   another, it **parks** the bytes where the other's handler will find them
//!   and **wakes** it ([`Server::wake`]); the other's `woken` writes them.
//! * With several loops, each loop has its own handler (made by the factory
//!   given to [`Config::serve_with`](revio::Config::serve_with)), so what all
//!   of them must see is **shared**: here one `Arc<Mutex<Room>>` holds every
//!   member's id and parked bytes. [`Server::wake`] routes to the loop that
//!   owns the id, from any thread. The lock is held for microseconds.
//! * Parked bytes are bounded: a member that does not read falls behind by
//!   at most [`MAX_BACKLOG`] bytes, then is disconnected, so one slow client
//!   cannot make the server hold everyone's messages.

mod common;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use revio::{Action, Conn, ConnId, Handler, Server};

/// The most bytes parked for one member before it is disconnected.
pub const MAX_BACKLOG: usize = 1 << 20;
/// The longest line accepted.
pub const MAX_LINE: usize = 4096;

/// What all loops share: the members and the bytes parked for each.
#[derive(Default)]
pub struct Room {
    members: HashMap<ConnId, Vec<u8>>,
}

/// A handle to the room, one per loop.
#[derive(Clone, Default)]
pub struct Chat {
    room: Arc<Mutex<Room>>,
    stop: Option<common::Stop>,
    server: Option<Server>,
    announce: bool,
}

impl Chat {
    /// A new, empty room; clone it for each loop.
    pub fn new() -> Chat {
        Chat::default()
    }

    fn room(&self) -> MutexGuard<'_, Room> {
        // A panic while holding the lock leaves the room usable: every update
        // is a single insert, push or clear.
        self.room.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `line` for every member but `from` and wakes them.
    fn broadcast(&self, server: &Server, from: ConnId, line: &[u8]) {
        let mut woken = Vec::new();
        let mut room = self.room();
        for (&id, parked) in room.members.iter_mut() {
            if id == from {
                continue;
            }
            if parked.len() + line.len() > MAX_BACKLOG {
                // Too far behind: it is closed instead of growing forever.
                server.close(id);
                continue;
            }
            let was_empty = parked.is_empty();
            parked.extend_from_slice(line);
            if was_empty {
                woken.push(id);
            }
        }
        drop(room);
        // Waking outside the lock; a member with bytes already parked has a
        // wake on its way.
        for id in woken {
            server.wake(id);
        }
    }
}

impl Handler for Chat {
    type State = ();

    fn serving(&mut self, server: &Server) -> Action {
        if self.announce {
            common::announce("chat", server);
        }
        self.server = Some(server.clone());
        Action::None
    }

    fn opened(&mut self, c: &mut Conn<'_, ()>) -> Action {
        self.room().members.insert(c.id(), Vec::new());
        c.write(b"welcome\n");
        Action::None
    }

    fn data(&mut self, c: &mut Conn<'_, ()>, input: &[u8]) -> Action {
        let mut rest = input;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.broadcast(c.server(), c.id(), &rest[..=nl]);
            rest = &rest[nl + 1..];
        }
        if rest.len() > MAX_LINE {
            c.write(b"line too long\n");
            return Action::Close;
        }
        c.keep(rest.len());
        Action::None
    }

    fn woken(&mut self, c: &mut Conn<'_, ()>) -> Action {
        let mut room = self.room();
        if let Some(parked) = room.members.get_mut(&c.id()) {
            c.write(parked);
            parked.clear();
        }
        Action::None
    }

    fn closed(&mut self, c: &mut Conn<'_, ()>, _: Option<io::Error>) {
        self.room().members.remove(&c.id());
    }

    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        match &self.stop {
            Some(stop) => (stop.check(self.server.as_ref()), Action::None),
            None => (None, Action::None),
        }
    }
}

const USAGE: &str = "chat: every line a client sends goes to every other client

usage: chat [FLAGS]
defaults: --bind 0.0.0.0 --port 6000 --loops 1";

fn main() {
    common::init_logging();
    let mut opts = common::Common::new("0.0.0.0", 6000);
    let usage = format!("{USAGE}\n{}", common::COMMON_USAGE);
    common::parse_args(&usage, |arg, parser| opts.take(arg, parser));
    let stop = common::Stop::install().unwrap_or_else(|e| {
        eprintln!("chat: cannot handle signals: {e}");
        std::process::exit(1)
    });
    let chat = Chat::new();
    let r = opts.config().serve_with(
        |i| Chat {
            stop: Some(stop.clone()),
            announce: i == 0,
            ..chat.clone()
        },
        [opts.url("tcp", opts.port)],
    );
    common::exit_on_error("chat", r);
}
