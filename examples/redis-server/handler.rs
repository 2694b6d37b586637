//! The revio handler: runs every complete command of each read, appends the
//! replies to the connection's output (they go out in one write), and keeps
//! a partial command unconsumed, with the parser's progress, until the rest
//! arrives.

use std::sync::Arc;
use std::time::Duration;

use revio::{Action, Addr, Conn, Handler, Server};

use crate::commands::{self, Effect, Env, multi};
use crate::resp::{Limits, Parser, Proto, Reply, Sink};
use crate::session::Session;
use crate::shared::Shared;
use crate::store::Store;
use crate::wake::Waker;

/// How often loop 0 sweeps expired keys, and how many it may drop per shard
/// each time (Redis samples 20 keys 10 times a second; this is of that order).
const SWEEP_EVERY: Duration = Duration::from_millis(100);
const SWEEP_BUDGET: usize = 64;

/// One loop's handler. Every loop has its own; they share the store.
pub struct Redis {
    store: Arc<Store>,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    loop_index: usize,
    limits: Limits,
    /// Shard indexes of the command being run, reused for every command.
    scratch: Vec<usize>,
    server: Option<Server>,
}

/// Per-connection state.
#[derive(Default)]
pub struct Client {
    parser: Parser,
    /// Set in `opened`.
    session: Option<Session>,
    /// While a WAKE waits for its `woken`: the replies of the commands that
    /// came after it, held back so that replies go out in command order.
    held: Option<Vec<u8>>,
    /// Close once everything owed is sent (QUIT, or a protocol error).
    quit: bool,
}

impl Redis {
    /// A handler for loop `loop_index` over the shared `store` and `shared`
    /// state, waking connections through `waker`.
    pub fn new(store: Arc<Store>, shared: Arc<Shared>, waker: Arc<Waker>, loop_index: usize) -> Redis {
        Redis {
            store,
            shared,
            waker,
            loop_index,
            limits: Limits::DEFAULT,
            scratch: Vec::new(),
            server: None,
        }
    }

    /// A one-loop server's handler with its own store: for tests.
    #[cfg(test)]
    pub fn standalone(shards: usize, requirepass: Option<&[u8]>) -> Redis {
        let shared = Shared::new(1, requirepass.map(<[u8]>::to_vec));
        Redis::new(Arc::new(Store::new(shards)), Arc::new(shared), Arc::default(), 0)
    }

    fn session(&self, conn: &Conn<'_, Client>) -> Session {
        let name = |a: std::io::Result<Addr>| match a {
            Ok(Addr::Tcp(s)) => s.to_string(),
            Ok(Addr::Unix(p)) => format!("{}:0", p.map(|p| p.display().to_string()).unwrap_or_default()),
            Ok(other) => other.to_string(),
            Err(_) => "?:0".into(),
        };
        let unix = matches!(conn.local_addr(), Ok(Addr::Unix(_)));
        let info = self
            .shared
            .register(name(conn.remote_addr()), name(conn.local_addr()), unix);
        let mut session = Session::new(info);
        session.authenticated = !self.shared.requires_auth();
        session
    }
}

/// Replies go straight into the connection's output, which only appends.
impl Sink for revio::Output<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    /// A short reply is formatted in place in one append (three appends
    /// were 10% of a PING profile's instructions); a long one is appended
    /// in parts, so that its body is not first zeroed in place.
    /// A large value leaves from the store's own buffer: no copy.
    fn put_shared(&mut self, head: &[u8], body: &revio::Bytes) {
        self.extend_from_slice(head);
        self.write_shared(body.clone());
        self.extend_from_slice(b"\r\n");
    }

    fn put_framed(&mut self, head: &[u8], body: &[u8]) {
        let n = head.len() + body.len() + 2;
        if n > FRAMED_IN_PLACE {
            self.extend_from_slice(head);
            self.extend_from_slice(body);
            self.extend_from_slice(b"\r\n");
            return;
        }
        self.append_with(n, |space| {
            space[..head.len()].copy_from_slice(head);
            space[head.len()..n - 2].copy_from_slice(body);
            space[n - 2..n].copy_from_slice(b"\r\n");
            n
        });
    }
}

/// The longest reply [`Sink::put_framed`] formats in place.
const FRAMED_IN_PLACE: usize = 256;

impl Handler for Redis {
    type State = Client;

    fn serving(&mut self, server: &Server) -> Action {
        self.server = Some(server.clone());
        let port = server
            .addrs()
            .iter()
            .find_map(|a| match a {
                Addr::Tcp(s) => Some(s.port()),
                _ => None,
            })
            .unwrap_or(0);
        self.shared.set_tcp_port(port);
        Action::None
    }

    fn opened(&mut self, conn: &mut Conn<'_, Client>) -> Action {
        // TCP_NODELAY is revio's default: a reply goes out when written.
        let session = self.session(conn);
        conn.state().session = Some(session);
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, Client>, input: &[u8]) -> Action {
        let id = conn.id();
        if conn.state().session.is_none() {
            let session = self.session(conn);
            conn.state().session = Some(session);
        }
        let now = conn.clock().now();
        let mut action = Action::None;
        let mut pos = 0;
        let mut first = true;
        loop {
            // The state and the output at once; taken again per command so
            // that `is_congested` can be asked between commands.
            let p = conn.parts();
            let Client {
                parser,
                session: Some(session),
                held,
                quit,
            } = p.state
            else {
                break;
            };
            if first {
                session.info.seen(&self.shared, now);
                first = false;
            }
            if pos >= input.len() || *quit {
                break;
            }
            let limits = Limits {
                unauthenticated: !session.authenticated,
                ..self.limits
            };
            let rest = &input[pos..];
            let holding = held.is_some();
            let sink: &mut dyn Sink = match held.as_mut() {
                Some(h) => h,
                None => p.output,
            };
            let n = match parser.parse(rest, &limits) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => {
                    // As Redis: say what was wrong, then close.
                    Reply::new(sink, session.proto).error(&e.text());
                    *quit = true;
                    break;
                }
            };
            pos += n;
            let args = parser.args(rest);
            if args.is_empty() {
                continue;
            }
            let env = Env {
                store: &self.store,
                shared: &self.shared,
                session,
                scratch: &mut self.scratch,
            };
            match commands::execute(env, args, sink) {
                Effect::Reply => {}
                Effect::Close => *quit = true,
                Effect::Shutdown => {
                    action = Action::Shutdown;
                    break;
                }
                // Already waiting: this one is answered by the same wake.
                Effect::Wake if holding => sink.put(b"+WOKE\r\n"),
                Effect::Wake => {
                    let started = self.server.as_ref().is_some_and(|s| self.waker.request(s, id));
                    if started {
                        *held = Some(Vec::new());
                    } else {
                        Reply::new(sink, Proto::Resp2).error(b"ERR cannot start the wake thread");
                    }
                }
            }
            // A peer that does not read its replies: stop here and keep the
            // rest; the loop presents it again once the output drains.
            if conn.is_congested() {
                break;
            }
        }
        let Client { held, quit, .. } = conn.state();
        let (holding, quit) = (held.is_some(), *quit);
        // After QUIT, or a protocol error, the rest of the input is dropped.
        if !quit {
            conn.keep(input.len() - pos);
        }
        if quit && !holding && action == Action::None {
            action = Action::Close;
        }
        action
    }

    fn woken(&mut self, conn: &mut Conn<'_, Client>) -> Action {
        let Some(held) = conn.state().held.take() else {
            return Action::None;
        };
        let quit = conn.state().quit;
        let out = conn.output();
        out.put(b"+WOKE\r\n");
        out.put(&held);
        if quit { Action::Close } else { Action::None }
    }

    fn closed(&mut self, conn: &mut Conn<'_, Client>, _: Option<std::io::Error>) {
        if let Some(mut session) = conn.state().session.take() {
            multi::forget(&self.store, &mut session);
            self.shared.unregister(session.info.id);
        }
    }

    fn tick(&mut self, _: &revio::Tick<'_>) -> (Option<Duration>, Action) {
        if self.loop_index != 0 {
            return (None, Action::None);
        }
        self.store.sweep(SWEEP_BUDGET);
        (Some(SWEEP_EVERY), Action::None)
    }
}
