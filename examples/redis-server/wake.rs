//! The WAKE command's helper: one long-lived thread for the whole server
//! that wakes connections through `Server::wake` once their short delay is
//! up (WAKE shows a reply coming from another thread, as a handler that
//! offloads slow work would get one). Started at the first WAKE; it ends
//! when the server's handlers are dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use revio::{ConnId, Server};

/// How long a WAKE waits before its connection is woken.
pub const WAKE_DELAY: Duration = Duration::from_millis(10);

/// Queues wake-ups for the helper thread.
#[derive(Debug, Default)]
pub struct Waker {
    tx: OnceLock<Option<Sender<(Instant, ConnId)>>>,
}

impl Waker {
    /// Asks for `conn` to be woken after [`WAKE_DELAY`]; false if the helper
    /// thread could not be started.
    pub fn request(&self, server: &Server, conn: ConnId) -> bool {
        let tx = self.tx.get_or_init(|| start(server.clone()));
        tx.as_ref()
            .is_some_and(|tx| tx.send((Instant::now() + WAKE_DELAY, conn)).is_ok())
    }
}

fn start(server: Server) -> Option<Sender<(Instant, ConnId)>> {
    let (tx, rx) = mpsc::channel::<(Instant, ConnId)>();
    std::thread::Builder::new()
        .name("redis-wake".into())
        .spawn(move || {
            let mut due: BinaryHeap<Reverse<(Instant, u64, ConnId)>> = BinaryHeap::new();
            let mut seq = 0u64;
            loop {
                let now = Instant::now();
                while let Some(Reverse((at, _, id))) = due.peek().copied() {
                    if at > now {
                        break;
                    }
                    due.pop();
                    server.wake(id);
                }
                let next = match due.peek() {
                    Some(Reverse((at, ..))) => rx.recv_timeout(at.saturating_duration_since(now)),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok((at, id)) => {
                        seq += 1;
                        due.push(Reverse((at, seq, id)));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) if due.is_empty() => return,
                    Err(RecvTimeoutError::Disconnected) => {
                        if let Some(Reverse((at, ..))) = due.peek() {
                            std::thread::sleep(at.saturating_duration_since(Instant::now()));
                        }
                    }
                }
            }
        })
        .ok()
        .map(|_| tx)
}
