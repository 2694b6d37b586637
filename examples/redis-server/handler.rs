//! The revio handler: runs every complete command of each read, appends the
//! replies to the connection's output (they go out in one write), and keeps
//! a partial command unconsumed until the rest arrives.

use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use revio::{Action, Conn, Handler, Server};

use crate::commands::{self, Ctx, Effect, ServerInfo, Session};
use crate::resp::{self, Limits, Spans};
use crate::store::Store;

/// How often loop 0 sweeps expired keys, and how many it may drop per shard
/// each time (Redis samples 20 keys 10 times a second; this is of that order).
const SWEEP_EVERY: Duration = Duration::from_millis(100);
const SWEEP_BUDGET: usize = 64;

/// How long the WAKE command's helper thread waits before waking the connection.
const WAKE_DELAY: Duration = Duration::from_millis(10);

/// One loop's handler. Every loop has its own; they share the store.
pub struct Redis {
    store: Arc<Store>,
    info: ServerInfo,
    loop_index: usize,
    limits: Limits,
    /// Argument offsets of the command being run, reused for every command.
    spans: Spans,
    server: Option<Server>,
    /// Replies of one `data` call, staged before they are queued (a WAKE
    /// holds back the replies after it).
    replies: Vec<u8>,
}

/// Per-connection state.
#[derive(Default)]
pub struct Client {
    session: Session,
    /// While a WAKE waits for its `woken`: the replies of the commands that
    /// came after it, held back so that replies go out in command order.
    held: Option<Vec<u8>>,
    /// Close once everything owed is sent (QUIT, or a protocol error).
    quit: bool,
}

impl Redis {
    /// A handler for loop `loop_index` over the shared `store`.
    pub fn new(store: Arc<Store>, loop_index: usize, loops: usize) -> Redis {
        Redis {
            store,
            info: ServerInfo {
                started: Instant::now(),
                tcp_port: 0,
                loops,
            },
            loop_index,
            limits: Limits::DEFAULT,
            spans: Spans::default(),
            server: None,
            replies: Vec::new(),
        }
    }

    /// Starts the WAKE helper: a thread that waits a little, then wakes `conn`.
    fn start_wake(&self, conn: revio::ConnId) -> bool {
        let Some(server) = self.server.clone() else {
            return false;
        };
        std::thread::Builder::new()
            .name("redis-wake".into())
            .spawn(move || {
                std::thread::sleep(WAKE_DELAY);
                server.wake(conn);
            })
            .is_ok()
    }
}

impl Handler for Redis {
    type State = Client;

    fn serving(&mut self, server: &Server) -> Action {
        self.server = Some(server.clone());
        self.info.tcp_port = server
            .addrs()
            .iter()
            .find_map(|a| match a {
                revio::Addr::Tcp(s) => Some(s.port()),
                _ => None,
            })
            .unwrap_or(0);
        if self.loop_index == 0 {
            println!("redis server started on port {}", self.info.tcp_port);
            for a in server.addrs() {
                println!("listening on {a}");
            }
        }
        Action::None
    }

    fn opened(&mut self, conn: &mut Conn<'_, Client>) -> Action {
        // As Redis does: replies are complete when written, so send them now.
        let _ = conn.set_nodelay(true);
        Action::None
    }

    fn data(&mut self, conn: &mut Conn<'_, Client>, input: &[u8]) -> Action {
        let id = conn.id();
        let mut client = mem::take(conn.state());
        let mut staged = mem::take(&mut self.replies);
        let out = &mut staged;
        // Replies from here on are held back while a WAKE is pending.
        let mut hold_from = client.held.is_some().then_some(out.len());
        let mut action = Action::None;
        let mut pos = 0;
        while pos < input.len() && !client.quit {
            let rest = &input[pos..];
            let n = match resp::parse_command(rest, &mut self.spans, &self.limits) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => {
                    // As Redis: say what was wrong, then close.
                    resp::error(out, &format!("ERR {e}"));
                    client.quit = true;
                    break;
                }
            };
            pos += n;
            let args = self.spans.args(rest);
            if args.len() == 0 {
                continue;
            }
            let mut ctx = Ctx {
                store: &self.store,
                info: &self.info,
                session: &mut client.session,
            };
            match commands::execute(&mut ctx, args, out) {
                Effect::Reply => {}
                Effect::Close => client.quit = true,
                Effect::Shutdown => {
                    action = Action::Shutdown;
                    break;
                }
                Effect::Wake if hold_from.is_some() => {
                    // Already waiting: this one is answered by the same wake.
                    resp::simple(out, b"WOKE");
                }
                Effect::Wake => {
                    if self.start_wake(id) {
                        hold_from = Some(out.len());
                        client.held = Some(Vec::new());
                    } else {
                        resp::error(out, "ERR cannot start the wake thread");
                    }
                }
            }
        }
        if let (Some(from), Some(held)) = (hold_from, client.held.as_mut()) {
            held.extend_from_slice(&out[from..]);
            out.truncate(from);
        }
        conn.write(out);
        staged.clear();
        self.replies = staged;
        // After QUIT, or a protocol error, the rest of the input is dropped.
        if !client.quit {
            conn.keep(input.len() - pos);
        }
        if client.quit && client.held.is_none() && action == Action::None {
            action = Action::Close;
        }
        *conn.state() = client;
        action
    }

    fn woken(&mut self, conn: &mut Conn<'_, Client>) -> Action {
        let Some(held) = conn.state().held.take() else {
            return Action::None;
        };
        let quit = conn.state().quit;
        conn.write(b"+WOKE\r\n");
        conn.write(&held);
        if quit { Action::Close } else { Action::None }
    }

    fn tick(&mut self) -> (Option<Duration>, Action) {
        if self.loop_index != 0 {
            return (None, Action::None);
        }
        self.store.sweep(SWEEP_BUDGET);
        (Some(SWEEP_EVERY), Action::None)
    }
}
