//! The commands, grouped by family, and the dispatcher that runs them as
//! Redis's `processCommand` does: look the command up, check its arity, its
//! authentication and whether it may run in a transaction, queue it inside
//! MULTI, or lock the shards it touches and run it.
//!
//! A command reads its arguments, works on the locked shards and appends
//! its reply; it never touches a socket. The handler acts on the [`Effect`]
//! it returns (close, shut down, wake). Errors carry Redis's own texts, so
//! clients that match on them behave as they do against Redis.

mod command_info;
mod connection;
mod hashes;
mod info;
mod keys;
mod lists;
pub mod multi;
mod names;
mod scan;
mod server;
mod sets;
mod strings;
mod table;
mod zrange;
mod zsets;

use std::sync::Arc;

use crate::resp::{Args, Reply, Sink, parse_i64};
use crate::session::Session;
use crate::shared::Shared;
use crate::store::{Locked, Shard, Store, Value};

pub use table::{COMMANDS, Command, lookup};

/// What the connection must do after a command, beyond sending its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: the reply is in the output.
    Reply,
    /// Close once the reply is sent (QUIT).
    Close,
    /// Stop the server (SHUTDOWN).
    Shutdown,
    /// Reply from the `woken` event, after another thread wakes the
    /// connection (WAKE). Nothing was written.
    Wake,
}

/// What a running command may reach.
pub struct Ctx<'a, 's> {
    /// The shards the command touches, locked.
    pub db: &'a mut Locked<'s>,
    /// What every loop shares: configuration, the client list.
    pub shared: &'a Shared,
    /// The connection's state.
    pub session: &'a mut Session,
    /// Where the reply goes.
    pub reply: Reply<'a>,
}

/// What runs a command. It may assume the arity was checked.
pub type Run = fn(&mut Ctx<'_, '_>, Args<'_>) -> Effect;

pub const NOT_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
pub const NOT_FLOAT: &[u8] = b"ERR value is not a valid float";
pub const SYNTAX: &[u8] = b"ERR syntax error";
pub const WRONGTYPE: &[u8] = b"WRONGTYPE Operation against a key holding the wrong kind of value";
pub const OUT_OF_RANGE_POSITIVE: &[u8] = b"ERR value is out of range, must be positive";

/// Everything one command needs besides its arguments: the store and
/// shared state, the connection, a scratch list of shard indexes.
pub struct Env<'a> {
    pub store: &'a Store,
    pub shared: &'a Arc<Shared>,
    pub session: &'a mut Session,
    pub scratch: &'a mut Vec<usize>,
}

/// Runs one command (`args` has at least the name) and appends its reply.
pub fn execute(env: Env<'_>, args: Args<'_>, out: &mut dyn Sink) -> Effect {
    let Env {
        store,
        shared,
        session,
        scratch,
    } = env;
    let mut reply = Reply::new(out, session.proto);
    let cmd = match lookup(args) {
        Ok(cmd) => cmd,
        Err(text) => return reject(store, session, None, &mut reply, &text),
    };
    session.info.set_last_command(cmd.index);
    if !cmd.arity_ok(args.len()) {
        return reject(store, session, Some(cmd), &mut reply, &wrong_arity(cmd.name));
    }
    if shared.requires_auth() && !session.authenticated && !cmd.has(table::NO_AUTH) {
        return reject(
            store,
            session,
            Some(cmd),
            &mut reply,
            b"NOAUTH Authentication required.",
        );
    }
    if session.multi.is_some() {
        if cmd.has(table::NO_MULTI) {
            let text = b"ERR Command not allowed inside a transaction";
            return reject(store, session, Some(cmd), &mut reply, text);
        }
        if !cmd.has(table::NOT_QUEUED) {
            session.queue(cmd, args);
            reply.simple(b"QUEUED");
            return Effect::Reply;
        }
    }
    if cmd.has(table::EXEC) {
        return multi::exec(store, shared, session, scratch, reply);
    }
    let mut db = lock(store, cmd, args, session, scratch);
    let mut ctx = Ctx {
        db: &mut db,
        shared,
        session,
        reply,
    };
    (cmd.run)(&mut ctx, args)
}

/// An error found before the command runs: inside MULTI it also dooms the
/// transaction (EXEC then answers EXECABORT), and a refused EXEC discards
/// it, as Redis's `rejectCommand` does.
fn reject(
    store: &Store,
    session: &mut Session,
    cmd: Option<&Command>,
    reply: &mut Reply<'_>,
    text: &[u8],
) -> Effect {
    if !cmd.is_some_and(|c| c.has(table::EXEC)) {
        if let Some(m) = session.multi.as_mut() {
            m.doomed = true;
        }
        reply.error(text);
        return Effect::Reply;
    }
    // A refused EXEC discards the transaction, if there is one.
    session.multi = None;
    session.info.set_multi(-1);
    multi::forget(store, session);
    let mut abort = b"EXECABORT Transaction discarded because of: ".to_vec();
    abort.extend_from_slice(text.strip_prefix(b"ERR ").unwrap_or(text));
    reply.error(&abort);
    Effect::Reply
}

/// Locks what `cmd` touches with these `args`.
fn lock<'s>(
    store: &'s Store,
    cmd: &Command,
    args: Args<'_>,
    session: &Session,
    scratch: &mut Vec<usize>,
) -> Locked<'s> {
    scratch.clear();
    if matches!(cmd.keys, table::Keys::Watched) {
        scratch.extend(session.watched.iter().map(|w| store.index(&w.key)));
    }
    match cmd.keys.collect(args, store, scratch) {
        table::Lock::None => store.lock_none(),
        table::Lock::One(key) => store.lock_one(key),
        table::Lock::All => store.lock_all(),
        table::Lock::Many => {
            scratch.sort_unstable();
            scratch.dedup();
            store.lock_many(scratch)
        }
    }
}

// ----- helpers shared by the families ---------------------------------------

/// `ERR wrong number of arguments for 'NAME' command`.
pub fn wrong_arity(name: &str) -> Vec<u8> {
    format!("ERR wrong number of arguments for '{name}' command").into_bytes()
}

/// Whether `arg` is `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Bytes as C's `%s` prints them: up to the first NUL, at most `max`.
pub fn c_str(bytes: &[u8], max: usize) -> &[u8] {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len()).min(max);
    &bytes[..end]
}

/// An error reply; returns [`Effect::Reply`].
pub fn error(ctx: &mut Ctx<'_, '_>, text: &[u8]) -> Effect {
    ctx.reply.error(text);
    Effect::Reply
}

/// An integer reply; returns [`Effect::Reply`].
pub fn int(ctx: &mut Ctx<'_, '_>, n: i64) -> Effect {
    ctx.reply.int(n);
    Effect::Reply
}

/// Parses an integer argument, or replies the error.
pub fn int_arg(ctx: &mut Ctx<'_, '_>, arg: &[u8]) -> Result<i64, Effect> {
    parse_i64(arg).ok_or_else(|| error(ctx, NOT_INTEGER))
}

/// Parses a count that must be at least 0 (LPOP, SPOP, ZPOPMIN), or
/// replies the error.
pub fn count_arg(ctx: &mut Ctx<'_, '_>, arg: &[u8]) -> Result<usize, Effect> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(error(ctx, OUT_OF_RANGE_POSITIVE)),
    }
}

/// The live value at `key` if it is of the kind `pick` accepts; `Ok(None)`
/// if the key is absent; `Err` (WRONGTYPE replied) if it holds another type.
pub fn typed<'e, T>(
    db: &'e mut Locked<'_>,
    reply: &mut Reply<'_>,
    key: &[u8],
    pick: fn(&mut Value) -> Option<&mut T>,
) -> Result<Option<&'e mut T>, Effect> {
    // One lookup (it was two: GET hashed its key five times).
    let Some(e) = db.shard(key).get_mut(key) else {
        return Ok(None);
    };
    match pick(&mut e.value) {
        Some(v) => Ok(Some(v)),
        None => {
            reply.error(WRONGTYPE);
            Err(Effect::Reply)
        }
    }
}

/// LLEN, SCARD, HLEN, ZCARD: the size of the aggregate at `key` (0 if absent).
pub fn cardinality<T>(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    pick: fn(&mut Value) -> Option<&mut T>,
    len: fn(&T) -> usize,
) -> Effect {
    let n = match typed(ctx.db, &mut ctx.reply, key, pick) {
        Err(effect) => return effect,
        Ok(v) => v.map_or(0, |v| len(v)),
    };
    int(ctx, n as i64)
}

/// The optional count of LPOP, RPOP, SPOP and ZPOPMIN (`key [count]`):
/// more arguments are `too_many`'s error.
pub fn optional_count(
    ctx: &mut Ctx<'_, '_>,
    args: Args<'_>,
    too_many: &[u8],
) -> Result<Option<usize>, Effect> {
    match args.len() {
        3 => count_arg(ctx, args.get(2)).map(Some),
        n if n > 3 => Err(error(ctx, too_many)),
        _ => Ok(None),
    }
}

/// After an element was taken from the aggregate at `key`: records the
/// change, and removes the key if it is now empty.
pub fn changed(shard: &mut Shard, key: &[u8]) {
    if shard.get(key).is_some_and(|e| e.value.is_empty_aggregate()) {
        shard.remove(key);
    } else {
        shard.touch(key);
    }
}
