//! String commands: GET, SET and its options, the SET and GET variants,
//! counters, APPEND, STRLEN, MSET and MGET.

use super::{Ctx, Effect, NOT_INTEGER, SYNTAX, error, int, int_arg, is, typed, wrong_arity};
use crate::resp::{Args, Reply, number::write_i64, parse_i64};
use crate::store::{Locked, Value, now_ms};

const NX: u16 = 1;
const XX: u16 = 2;
const GET: u16 = 4;
const KEEPTTL: u16 = 8;
const PERSIST: u16 = 16;
const EX: u16 = 32;
const PX: u16 = 64;
const EXAT: u16 = 128;
const PXAT: u16 = 256;
const ANY_EXPIRE: u16 = EX | PX | EXAT | PXAT;

/// The options of SET (from argument 3) or GETEX (from 2), read as Redis's
/// `parseExtendedStringArgumentsOrReply` reads them: the last of repeated
/// options wins, and conflicting ones are a syntax error.
struct StringOptions {
    flags: u16,
    /// The argument holding the expire time, if any.
    expire: Option<usize>,
}

fn parse_options(args: Args<'_>, for_set: bool) -> Option<StringOptions> {
    let mut o = StringOptions {
        flags: 0,
        expire: None,
    };
    let mut j = if for_set { 3 } else { 2 };
    while j < args.len() {
        let opt = args.get(j);
        let has_next = j + 1 < args.len();
        let f = o.flags;
        let free = |conflicts: u16| f & conflicts == 0 && has_next;
        if for_set && is(opt, "NX") && f & XX == 0 {
            o.flags |= NX;
        } else if for_set && is(opt, "XX") && f & NX == 0 {
            o.flags |= XX;
        } else if for_set && is(opt, "GET") {
            o.flags |= GET;
        } else if for_set && is(opt, "KEEPTTL") && f & (PERSIST | ANY_EXPIRE) == 0 {
            o.flags |= KEEPTTL;
        } else if !for_set && is(opt, "PERSIST") && f & (ANY_EXPIRE | KEEPTTL) == 0 {
            o.flags |= PERSIST;
        } else if let Some(flag) = [("EX", EX), ("PX", PX), ("EXAT", EXAT), ("PXAT", PXAT)]
            .iter()
            .find(|(name, _)| is(opt, name))
            .map(|&(_, flag)| flag)
            .filter(|&flag| free(KEEPTTL | PERSIST | (ANY_EXPIRE & !flag)))
        {
            o.flags |= flag;
            o.expire = Some(j + 1);
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// The deadline the options ask for (unix ms), as Redis's
/// `getExpireMillisecondsOrReply` computes and checks it.
fn deadline(
    reply: &mut Reply<'_>,
    args: Args<'_>,
    o: &StringOptions,
    name: &str,
) -> Result<Option<i64>, Effect> {
    let Some(at) = o.expire else {
        return Ok(None);
    };
    let Some(n) = parse_i64(args.get(at)) else {
        reply.error(NOT_INTEGER);
        return Err(Effect::Reply);
    };
    let seconds = o.flags & (EX | EXAT) != 0;
    let relative = o.flags & (EX | PX) != 0;
    let ms = if n <= 0 || (seconds && n > i64::MAX / 1000) {
        None
    } else {
        let ms = if seconds { n * 1000 } else { n };
        // Redis adds the clock with wrap-around and then checks for <= 0.
        let ms = if relative { ms.wrapping_add(now_ms()) } else { ms };
        (ms > 0).then_some(ms)
    };
    match ms {
        Some(ms) => Ok(Some(ms)),
        None => {
            reply.error(format!("ERR invalid expire time in '{name}' command").as_bytes());
            Err(Effect::Reply)
        }
    }
}

fn string(v: &mut Value) -> Option<&mut Vec<u8>> {
    v.as_str_mut()
}

/// Replies string value `v`: a shared one without copying it.
fn reply_string(reply: &mut Reply<'_>, v: &Value) {
    match v {
        Value::Shared(b) => reply.bulk_shared(b),
        other => reply.bulk(other.as_str().unwrap_or_default()),
    }
}

/// A string value as it is held, shared or not, for a read.
fn readable(v: &mut Value) -> Option<&mut Value> {
    v.as_str().is_some().then_some(v)
}

/// Replies the string at `key` (or null); `Err` after WRONGTYPE.
fn reply_get(db: &mut Locked<'_>, reply: &mut Reply<'_>, key: &[u8]) -> Result<bool, Effect> {
    match typed(db, reply, key, readable)? {
        Some(v) => {
            reply_string(reply, v);
            Ok(true)
        }
        None => {
            reply.null();
            Ok(false)
        }
    }
}

pub fn get(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let _ = reply_get(ctx.db, &mut ctx.reply, args.get(1));
    Effect::Reply
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL]
pub fn set(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Some(o) = parse_options(args, true) else {
        return error(ctx, SYNTAX);
    };
    set_with(ctx, args.get(1), args.get(2), args, o, "set", None)
}

/// The common part of SET, SETNX, SETEX and PSETEX. `answers` replaces the
/// +OK / null replies (SETNX answers 1 / 0).
fn set_with(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    value: &[u8],
    args: Args<'_>,
    o: StringOptions,
    name: &str,
    answers: Option<(i64, i64)>,
) -> Effect {
    let expires = match deadline(&mut ctx.reply, args, &o, name) {
        Ok(e) => e,
        Err(effect) => return effect,
    };
    if o.flags & GET != 0 && reply_get(ctx.db, &mut ctx.reply, key).is_err() {
        return Effect::Reply;
    }
    let shard = ctx.db.shard(key);
    // Only NX and XX ask whether the key is there: a plain SET does one lookup.
    let found = o.flags & (NX | XX) != 0 && shard.contains(key);
    if (o.flags & NX != 0 && found) || (o.flags & XX != 0 && !found) {
        if o.flags & GET == 0 {
            match answers {
                Some((_, no)) => ctx.reply.int(no),
                None => ctx.reply.null(),
            }
        }
        return Effect::Reply;
    }
    shard.set(key, value, expires, o.flags & KEEPTTL != 0);
    if o.flags & GET == 0 {
        match answers {
            Some((yes, _)) => ctx.reply.int(yes),
            None => ctx.reply.ok(),
        }
    }
    Effect::Reply
}

pub fn setnx(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let o = StringOptions {
        flags: NX,
        expire: None,
    };
    set_with(ctx, args.get(1), args.get(2), args, o, "setnx", Some((1, 0)))
}

pub fn setex(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let o = StringOptions {
        flags: EX,
        expire: Some(2),
    };
    set_with(ctx, args.get(1), args.get(3), args, o, "setex", None)
}

pub fn psetex(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let o = StringOptions {
        flags: PX,
        expire: Some(2),
    };
    set_with(ctx, args.get(1), args.get(3), args, o, "psetex", None)
}

pub fn getset(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    if reply_get(ctx.db, &mut ctx.reply, key).is_ok() {
        ctx.db.shard(key).set(key, args.get(2), None, false);
    }
    Effect::Reply
}

pub fn getdel(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    if let Ok(true) = reply_get(ctx.db, &mut ctx.reply, key) {
        ctx.db.shard(key).remove(key);
    }
    Effect::Reply
}

/// GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]
pub fn getex(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Some(o) = parse_options(args, false) else {
        return error(ctx, SYNTAX);
    };
    let key = args.get(1);
    match typed(ctx.db, &mut ctx.reply, key, string) {
        Err(effect) => return effect,
        Ok(None) => {
            ctx.reply.null();
            return Effect::Reply;
        }
        Ok(Some(_)) => {}
    }
    let expires = match deadline(&mut ctx.reply, args, &o, "getex") {
        Ok(e) => e,
        Err(effect) => return effect,
    };
    let _ = reply_get(ctx.db, &mut ctx.reply, key);
    let shard = ctx.db.shard(key);
    match expires {
        Some(at) if o.flags & (EXAT | PXAT) != 0 && at <= now_ms() => {
            shard.remove(key);
        }
        Some(at) => {
            shard.set_expiry(key, Some(at));
        }
        None if o.flags & PERSIST != 0 && shard.get(key).is_some_and(|e| e.expires.is_some()) => {
            shard.set_expiry(key, None);
        }
        None => {}
    }
    Effect::Reply
}

pub fn strlen(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let n = match typed(ctx.db, &mut ctx.reply, args.get(1), string) {
        Err(effect) => return effect,
        Ok(v) => v.map_or(0, |v| v.len() as i64),
    };
    int(ctx, n)
}

pub fn append(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let (key, more) = (args.get(1), args.get(2));
    let len = match typed(ctx.db, &mut ctx.reply, key, string) {
        Err(effect) => return effect,
        Ok(Some(s)) => {
            s.extend_from_slice(more);
            s.len()
        }
        Ok(None) => {
            ctx.db.shard(key).set(key, more, None, false);
            more.len()
        }
    };
    ctx.db.shard(key).touch(key);
    int(ctx, len as i64)
}

pub fn incr(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    incr_by(ctx, args.get(1), 1)
}

pub fn decr(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    incr_by(ctx, args.get(1), -1)
}

pub fn incrby(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match int_arg(ctx, args.get(2)) {
        Ok(by) => incr_by(ctx, args.get(1), by),
        Err(effect) => effect,
    }
}

pub fn decrby(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match int_arg(ctx, args.get(2)) {
        Ok(i64::MIN) => error(ctx, b"ERR decrement would overflow"),
        Ok(by) => incr_by(ctx, args.get(1), -by),
        Err(effect) => effect,
    }
}

/// INCR, DECR, INCRBY, DECRBY: the value is rewritten in place and keeps
/// its deadline.
fn incr_by(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) -> Effect {
    let n = match typed(ctx.db, &mut ctx.reply, key, string) {
        Err(effect) => return effect,
        Ok(Some(s)) => {
            let Some(old) = parse_i64(s) else {
                return error(ctx, NOT_INTEGER);
            };
            let Some(n) = old.checked_add(by) else {
                return error(ctx, b"ERR increment or decrement would overflow");
            };
            s.clear();
            write_i64(s, n);
            ctx.db.shard(key).touch(key);
            n
        }
        Ok(None) => {
            let mut value = Vec::with_capacity(20);
            write_i64(&mut value, by);
            ctx.db.shard(key).set(key, &value, None, false);
            by
        }
    };
    int(ctx, n)
}

pub fn mset(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    // The command name and key-value pairs: an odd count.
    if args.len() % 2 != 1 {
        return error(ctx, &wrong_arity("mset"));
    }
    // Every key's shard is locked: other loops see all of them set, or none.
    let mut pairs = args.iter_from(1);
    while let (Some(k), Some(v)) = (pairs.next(), pairs.next()) {
        ctx.db.shard(k).set(k, v, None, false);
    }
    ctx.reply.ok();
    Effect::Reply
}

pub fn mget(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ctx.reply.array(args.len() - 1);
    for key in args.iter_from(1) {
        match ctx.db.shard(key).get(key).map(|e| &e.value) {
            Some(v) if v.as_str().is_some() => reply_string(&mut ctx.reply, v),
            _ => ctx.reply.null(),
        }
    }
    Effect::Reply
}
