//! Hash commands: HSET (and HMSET), HSETNX, HGET, HDEL, HGETALL, HLEN,
//! HEXISTS.

use std::collections::HashMap;

use super::{Ctx, Effect, changed, error, int, is, typed, wrong_arity};
use crate::resp::Args;
use crate::store::Value;

type Hash = HashMap<Box<[u8]>, Box<[u8]>>;

fn hash(v: &mut Value) -> Option<&mut Hash> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

/// The hash at `key`, created empty if absent; `Err` after WRONGTYPE.
fn hash_or_new<'e>(ctx: &'e mut Ctx<'_, '_>, key: &[u8]) -> Result<&'e mut Hash, Effect> {
    let Ctx { db, reply, .. } = ctx;
    if typed(db, reply, key, hash)?.is_none() {
        db.shard(key).insert(key, Value::Hash(Hash::new()));
    }
    match db.shard(key).get_mut(key).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(Effect::Reply),
    }
}

/// HSET key field value [field value ...]; HMSET answers +OK instead of
/// the number of new fields.
pub fn hset(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let hmset = is(args.get(0), "hmset");
    if args.len() % 2 == 1 {
        return error(ctx, &wrong_arity(if hmset { "hmset" } else { "hset" }));
    }
    let key = args.get(1);
    let h = match hash_or_new(ctx, key) {
        Ok(h) => h,
        Err(effect) => return effect,
    };
    let mut created = 0;
    let mut pairs = args.iter_from(2);
    while let (Some(f), Some(v)) = (pairs.next(), pairs.next()) {
        created += i64::from(h.insert(f.into(), v.into()).is_none());
    }
    ctx.db.shard(key).touch(key);
    if hmset {
        ctx.reply.ok();
        Effect::Reply
    } else {
        int(ctx, created)
    }
}

pub fn hsetnx(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let h = match hash_or_new(ctx, key) {
        Ok(h) => h,
        Err(effect) => return effect,
    };
    if h.contains_key(args.get(2)) {
        return int(ctx, 0);
    }
    h.insert(args.get(2).into(), args.get(3).into());
    ctx.db.shard(key).touch(key);
    int(ctx, 1)
}

pub fn hget(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Ctx { db, reply, .. } = ctx;
    match typed(db, reply, args.get(1), hash) {
        Err(effect) => return effect,
        Ok(h) => match h.and_then(|h| h.get(args.get(2))) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        },
    }
    Effect::Reply
}

pub fn hdel(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let deleted = match typed(ctx.db, &mut ctx.reply, key, hash) {
        Err(effect) => return effect,
        Ok(None) => 0,
        Ok(Some(h)) => args.iter_from(2).filter(|f| h.remove(*f).is_some()).count(),
    };
    if deleted > 0 {
        changed(ctx.db.shard(key), key);
    }
    int(ctx, deleted as i64)
}

pub fn hgetall(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Ctx { db, reply, .. } = ctx;
    match typed(db, reply, args.get(1), hash) {
        Err(effect) => return effect,
        Ok(None) => reply.map(0),
        Ok(Some(h)) => {
            reply.map(h.len());
            for (f, v) in h.iter() {
                reply.bulk(f);
                reply.bulk(v);
            }
        }
    }
    Effect::Reply
}

pub fn hlen(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    super::cardinality(ctx, args.get(1), hash, Hash::len)
}

pub fn hexists(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let found = match typed(ctx.db, &mut ctx.reply, args.get(1), hash) {
        Err(effect) => return effect,
        Ok(h) => h.is_some_and(|h| h.contains_key(args.get(2))),
    };
    int(ctx, i64::from(found))
}
