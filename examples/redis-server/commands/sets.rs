//! Set commands: SADD, SREM, SPOP (with a count), SCARD, SMEMBERS,
//! SISMEMBER.

use std::collections::HashSet;

use super::{Ctx, Effect, SYNTAX, changed, int, typed};
use crate::resp::Args;
use crate::store::Value;

type Set = HashSet<Box<[u8]>>;

fn set(v: &mut Value) -> Option<&mut Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

pub fn sadd(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let s = match typed(ctx.db, &mut ctx.reply, key, set) {
        Err(effect) => return effect,
        Ok(Some(s)) => s,
        Ok(None) => match &mut ctx.db.shard(key).insert(key, Value::Set(Set::new())).value {
            Value::Set(s) => s,
            _ => return Effect::Reply,
        },
    };
    let added = args.iter_from(2).filter(|m| s.insert(Box::from(*m))).count();
    if added > 0 {
        ctx.db.shard(key).touch(key);
    }
    int(ctx, added as i64)
}

pub fn srem(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let removed = match typed(ctx.db, &mut ctx.reply, key, set) {
        Err(effect) => return effect,
        Ok(None) => 0,
        Ok(Some(s)) => args.iter_from(2).filter(|m| s.remove(*m)).count(),
    };
    if removed > 0 {
        changed(ctx.db.shard(key), key);
    }
    int(ctx, removed as i64)
}

/// SPOP key [count]: members are taken in the set's own (arbitrary) order,
/// which Redis calls random.
pub fn spop(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let count = match super::optional_count(ctx, args, SYNTAX) {
        Ok(c) => c,
        Err(effect) => return effect,
    };
    let key = args.get(1);
    let Ctx { db, reply, .. } = ctx;
    let s = match typed(db, reply, key, set) {
        Err(effect) => return effect,
        Ok(Some(s)) => s,
        Ok(None) => {
            match count {
                Some(_) => reply.set(0),
                None => reply.null(),
            }
            return Effect::Reply;
        }
    };
    let n = count.unwrap_or(1).min(s.len());
    if count == Some(0) {
        reply.set(0);
        return Effect::Reply;
    }
    let taken: Vec<Box<[u8]>> = s.iter().take(n).cloned().collect();
    for m in &taken {
        s.remove(m);
    }
    if count.is_some() {
        reply.set(taken.len());
    }
    taken.iter().for_each(|m| reply.bulk(m));
    changed(db.shard(key), key);
    Effect::Reply
}

pub fn scard(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    super::cardinality(ctx, args.get(1), set, Set::len)
}

pub fn smembers(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Ctx { db, reply, .. } = ctx;
    match typed(db, reply, args.get(1), set) {
        Err(effect) => return effect,
        Ok(None) => reply.set(0),
        Ok(Some(s)) => {
            reply.set(s.len());
            s.iter().for_each(|m| reply.bulk(m));
        }
    }
    Effect::Reply
}

pub fn sismember(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let member = match typed(ctx.db, &mut ctx.reply, args.get(1), set) {
        Err(effect) => return effect,
        Ok(s) => s.is_some_and(|s| s.contains(args.get(2))),
    };
    int(ctx, i64::from(member))
}
