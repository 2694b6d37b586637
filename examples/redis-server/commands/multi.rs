//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks every shard that any queued command or WATCHed key touches
//! (in ascending order, as every command does), checks the watched keys'
//! stamps (changes and expiries), then runs the queue under those locks: no other loop sees a
//! transaction half done.

use std::sync::Arc;

use super::table::Lock;
use super::{Ctx, Effect, error};
use crate::resp::{Args, Reply};
use crate::session::{Multi, Session, Watched};
use crate::shared::Shared;
use crate::store::{Locked, Store};

pub fn multi(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    if ctx.session.multi.is_some() {
        return error(ctx, b"ERR MULTI calls can not be nested");
    }
    ctx.session.multi = Some(Multi::default());
    ctx.session.info.set_multi(0);
    ctx.reply.ok();
    Effect::Reply
}

pub fn discard(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    if ctx.session.multi.take().is_none() {
        return error(ctx, b"ERR DISCARD without MULTI");
    }
    ctx.session.info.set_multi(-1);
    unwatch_locked(ctx.db, ctx.session);
    ctx.reply.ok();
    Effect::Reply
}

pub fn watch(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    if ctx.session.multi.is_some() {
        return error(ctx, b"ERR WATCH inside MULTI is not allowed");
    }
    for key in args.iter_from(1) {
        if ctx.session.watched.iter().any(|w| &*w.key == key) {
            continue;
        }
        let shard = ctx.db.shard(key);
        let stamp = shard.watch(key);
        let expired = shard.is_expired(key);
        ctx.session.watched.push(Watched {
            key: key.into(),
            stamp,
            expired,
        });
    }
    ctx.reply.ok();
    Effect::Reply
}

pub fn unwatch(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    unwatch_locked(ctx.db, ctx.session);
    ctx.reply.ok();
    Effect::Reply
}

/// Drops every WATCH of `session`; the shards of its watched keys are locked.
fn unwatch_locked(db: &mut Locked<'_>, session: &mut Session) {
    for w in session.watched.drain(..) {
        db.shard(&w.key).unwatch(&w.key);
    }
}

/// Drops every WATCH of a closing connection (nothing is locked yet).
pub fn forget(store: &Store, session: &mut Session) {
    if session.watched.is_empty() {
        return;
    }
    let mut shards: Vec<usize> = session.watched.iter().map(|w| store.index(&w.key)).collect();
    shards.sort_unstable();
    shards.dedup();
    let mut db = store.lock_many(&shards);
    unwatch_locked(&mut db, session);
}

/// EXEC reached the table without MULTI (the dispatcher runs real EXECs).
pub fn exec_without_multi(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    error(ctx, b"ERR EXEC without MULTI")
}

/// EXEC: runs the queued commands atomically, or answers EXECABORT (a
/// command was refused while queueing) or a null array (a watched key
/// changed).
pub fn exec(
    store: &Store,
    shared: &Arc<Shared>,
    session: &mut Session,
    scratch: &mut Vec<usize>,
    mut reply: Reply<'_>,
) -> Effect {
    let Some(multi) = session.multi.take() else {
        reply.error(b"ERR EXEC without MULTI");
        return Effect::Reply;
    };
    session.info.set_multi(-1);
    scratch.clear();
    scratch.extend(session.watched.iter().map(|w| store.index(&w.key)));
    let mut all = false;
    for (cmd, args) in multi.commands() {
        match cmd.keys.collect(args, store, scratch) {
            Lock::One(key) => scratch.push(store.index(key)),
            Lock::All => all = true,
            Lock::None | Lock::Many => {}
        }
    }
    scratch.sort_unstable();
    scratch.dedup();
    let mut db = if all {
        store.lock_all()
    } else {
        store.lock_many(scratch)
    };
    let changed = session.watched.iter().any(|w| {
        let shard = db.shard(&w.key);
        let now = shard.stamp(&w.key);
        // A key live at WATCH that has expired since, dropped or not, is a
        // change (Redis's `isWatchedKeyExpired` and `touchWatchedKey`).
        now.changes != w.stamp.changes
            || (!w.expired && (now.expiries != w.stamp.expiries || shard.is_expired(&w.key)))
    });
    unwatch_locked(&mut db, session);
    if multi.doomed {
        reply.error(b"EXECABORT Transaction discarded because of previous errors.");
        return Effect::Reply;
    }
    if changed {
        reply.null_array();
        return Effect::Reply;
    }
    reply.array(multi.len());
    for (cmd, args) in multi.commands() {
        session.info.set_last_command(cmd.index);
        let mut ctx = Ctx {
            db: &mut db,
            shared,
            session,
            reply: reply.by_ref(),
        };
        // Nothing that closes, stops or waits can be queued (NO_MULTI).
        let _ = (cmd.run)(&mut ctx, args);
    }
    Effect::Reply
}
