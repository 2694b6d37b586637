//! One connection's state as the commands see it: its protocol, whether it
//! authenticated, its transaction (the queued commands) and its WATCHed keys.

use std::sync::Arc;

use crate::commands::Command;
use crate::resp::{Args, Proto, Span};
use crate::shared::ClientInfo;
use crate::store::Stamp;

/// A key under WATCH: the stamp it had, and whether it had already
/// expired then (an expired key that is dropped later is no change).
#[derive(Debug)]
pub struct Watched {
    pub key: Box<[u8]>,
    pub stamp: Stamp,
    pub expired: bool,
}

/// A transaction being queued (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Multi {
    /// The queued commands' arguments, one after the other.
    bytes: Vec<u8>,
    spans: Vec<Span>,
    /// Each queued command and the range of `spans` that holds its arguments.
    commands: Vec<(&'static Command, usize, usize)>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub doomed: bool,
}

impl Multi {
    /// The number of queued commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// The queued commands and their arguments, in order.
    pub fn commands(&self) -> impl Iterator<Item = (&'static Command, Args<'_>)> {
        self.commands
            .iter()
            .map(|&(cmd, from, to)| (cmd, Args::new(&self.bytes, &self.spans[from..to])))
    }
}

/// Per-connection state that commands use.
#[derive(Debug)]
pub struct Session {
    /// The protocol replies are in (HELLO switches it).
    pub proto: Proto,
    /// Whether AUTH (or HELLO AUTH) succeeded; true when no password is set.
    pub authenticated: bool,
    /// Between MULTI and EXEC or DISCARD.
    pub multi: Option<Multi>,
    /// The keys under WATCH.
    pub watched: Vec<Watched>,
    /// The client's entry in CLIENT LIST (id, name, last command...).
    pub info: Arc<ClientInfo>,
}

impl Session {
    /// A new connection's session.
    pub fn new(info: Arc<ClientInfo>) -> Session {
        Session {
            proto: Proto::Resp2,
            authenticated: false,
            multi: None,
            watched: Vec::new(),
            info,
        }
    }

    /// Queues `cmd` with a copy of its `args` into the open transaction.
    pub fn queue(&mut self, cmd: &'static Command, args: Args<'_>) {
        let Some(m) = self.multi.as_mut() else {
            return;
        };
        let from = m.spans.len();
        for a in args.iter_from(0) {
            let start = m.bytes.len();
            m.bytes.extend_from_slice(a);
            m.spans.push(Span {
                start,
                end: m.bytes.len(),
            });
        }
        m.commands.push((cmd, from, m.spans.len()));
        self.info.set_multi(m.commands.len() as i64);
    }
}
