//! Sorted set commands: ZADD with its flags, ZINCRBY, ZPOPMIN, ZRANGE (by
//! rank, score or lex, REV, LIMIT, WITHSCORES), ZSCORE, ZCARD, ZREM.

use super::{Ctx, Effect, NOT_FLOAT, SYNTAX, changed, error, int, is, typed};
use crate::resp::{Args, Proto, parse_f64};
use crate::store::{Value, zset::ZSet};

fn zset(v: &mut Value) -> Option<&mut ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut at = 2;
    while at < args.len() {
        let opt = args.get(at);
        let flag = match () {
            _ if is(opt, "NX") => &mut nx,
            _ if is(opt, "XX") => &mut xx,
            _ if is(opt, "GT") => &mut gt,
            _ if is(opt, "LT") => &mut lt,
            _ if is(opt, "CH") => &mut ch,
            _ if is(opt, "INCR") => &mut incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let elements = args.len() - at;
    if elements % 2 == 1 || elements == 0 {
        return error(ctx, SYNTAX);
    }
    if nx && xx {
        return error(ctx, b"ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return error(
            ctx,
            b"ERR GT, LT, and/or NX options at the same time are not compatible",
        );
    }
    if incr && elements > 2 {
        return error(ctx, b"ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(elements / 2);
    for i in (at..args.len()).step_by(2) {
        match parse_f64(args.get(i)) {
            Some(s) => scores.push(s),
            None => return error(ctx, NOT_FLOAT),
        }
    }
    let key = args.get(1);
    let Ctx { db, reply, .. } = ctx;
    let z = match typed(db, reply, key, zset) {
        Err(effect) => return effect,
        Ok(Some(z)) => z,
        Ok(None) if xx => {
            if incr {
                reply.null()
            } else {
                reply.int(0)
            }
            return Effect::Reply;
        }
        Ok(None) => match &mut db.shard(key).insert(key, Value::ZSet(ZSet::default())).value {
            Value::ZSet(z) => z,
            _ => return Effect::Reply,
        },
    };
    let (mut added, mut updated, mut last, mut failed) = (0, 0, None, false);
    for (j, &score) in scores.iter().enumerate() {
        let member = args.get(at + 2 * j + 1);
        let Some(current) = z.score(member) else {
            if !xx {
                z.insert(member, score);
                added += 1;
                last = Some(score);
            }
            continue;
        };
        if nx {
            continue;
        }
        let new = if incr { score + current } else { score };
        if new.is_nan() {
            reply.error(b"ERR resulting score is not a number (NaN)");
            failed = true;
            break;
        }
        if (lt && new >= current) || (gt && new <= current) {
            continue;
        }
        last = Some(new);
        if new != current {
            z.insert(member, new);
            updated += 1;
        }
    }
    if !failed {
        if incr {
            match last {
                Some(s) => reply.double(s),
                None => reply.null(),
            }
        } else {
            reply.int(if ch { added + updated } else { added });
        }
    }
    if added + updated > 0 {
        db.shard(key).touch(key);
    }
    Effect::Reply
}

pub fn zincrby(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Some(by) = parse_f64(args.get(2)) else {
        return error(ctx, NOT_FLOAT);
    };
    let key = args.get(1);
    let member = args.get(3);
    let Ctx { db, reply, .. } = ctx;
    let z = match typed(db, reply, key, zset) {
        Err(effect) => return effect,
        Ok(Some(z)) => z,
        Ok(None) => match &mut db.shard(key).insert(key, Value::ZSet(ZSet::default())).value {
            Value::ZSet(z) => z,
            _ => return Effect::Reply,
        },
    };
    let new = z.score(member).map_or(by, |s| s + by);
    if new.is_nan() {
        reply.error(b"ERR resulting score is not a number (NaN)");
        return Effect::Reply;
    }
    z.insert(member, new);
    reply.double(new);
    db.shard(key).touch(key);
    Effect::Reply
}

/// ZPOPMIN key [count]: a flat [member, score, ...] array, or in RESP3 with
/// a count an array of [member, score] pairs.
pub fn zpopmin(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let count = match super::optional_count(ctx, args, SYNTAX) {
        Ok(c) => c,
        Err(effect) => return effect,
    };
    let key = args.get(1);
    let Ctx { db, reply, .. } = ctx;
    let z = match typed(db, reply, key, zset) {
        Err(effect) => return effect,
        Ok(None) => {
            reply.array(0);
            return Effect::Reply;
        }
        Ok(Some(z)) => z,
    };
    if count == Some(0) {
        reply.array(0);
        return Effect::Reply;
    }
    let nested = reply.proto == Proto::Resp3 && count.is_some();
    let n = count.unwrap_or(1).min(z.len());
    reply.array(if nested { n } else { 2 * n });
    for _ in 0..n {
        if let Some((member, score)) = z.pop_min() {
            if nested {
                reply.array(2);
            }
            reply.bulk(&member);
            reply.double(score);
        }
    }
    changed(db.shard(key), key);
    Effect::Reply
}

pub fn zscore(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Ctx { db, reply, .. } = ctx;
    match typed(db, reply, args.get(1), zset) {
        Err(effect) => return effect,
        Ok(z) => match z.and_then(|z| z.score(args.get(2))) {
            Some(s) => reply.double(s),
            None => reply.null(),
        },
    }
    Effect::Reply
}

pub fn zcard(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    super::cardinality(ctx, args.get(1), zset, ZSet::len)
}

pub fn zrem(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let removed = match typed(ctx.db, &mut ctx.reply, key, zset) {
        Err(effect) => return effect,
        Ok(None) => 0,
        Ok(Some(z)) => args.iter_from(2).filter(|m| z.remove(m)).count(),
    };
    if removed > 0 {
        changed(ctx.db.shard(key), key);
    }
    int(ctx, removed as i64)
}
