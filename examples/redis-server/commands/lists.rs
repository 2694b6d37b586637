//! List commands: LPUSH, RPUSH, LPOP and RPOP (with a count), LRANGE,
//! LLEN, LINDEX.

use std::collections::VecDeque;

use super::{Ctx, Effect, changed, int, int_arg, typed};
use crate::resp::Args;
use crate::store::Value;

type List = VecDeque<Box<[u8]>>;

fn list(v: &mut Value) -> Option<&mut List> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

pub fn lpush(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    push(ctx, args, true)
}

pub fn rpush(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    push(ctx, args, false)
}

fn push(ctx: &mut Ctx<'_, '_>, args: Args<'_>, front: bool) -> Effect {
    let key = args.get(1);
    let l = match typed(ctx.db, &mut ctx.reply, key, list) {
        Err(effect) => return effect,
        Ok(Some(l)) => l,
        Ok(None) => match &mut ctx.db.shard(key).insert(key, Value::List(List::new())).value {
            Value::List(l) => l,
            _ => return Effect::Reply,
        },
    };
    for item in args.iter_from(2) {
        if front {
            l.push_front(item.into());
        } else {
            l.push_back(item.into());
        }
    }
    let n = l.len();
    ctx.db.shard(key).touch(key);
    int(ctx, n as i64)
}

pub fn lpop(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    pop(ctx, args, true)
}

pub fn rpop(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    pop(ctx, args, false)
}

/// LPOP / RPOP key [count]: one element as a bulk string, or with a count
/// an array (a null array when the key is missing).
fn pop(ctx: &mut Ctx<'_, '_>, args: Args<'_>, front: bool) -> Effect {
    let name = if front { "lpop" } else { "rpop" };
    let count = match super::optional_count(ctx, args, &super::wrong_arity(name)) {
        Ok(c) => c,
        Err(effect) => return effect,
    };
    let key = args.get(1);
    let Ctx { db, reply, .. } = ctx;
    let l = match typed(db, reply, key, list) {
        Err(effect) => return effect,
        Ok(Some(l)) => l,
        Ok(None) => {
            if count.is_some() {
                reply.null_array();
            } else {
                reply.null();
            }
            return Effect::Reply;
        }
    };
    match count {
        Some(0) => {
            reply.array(0);
            return Effect::Reply;
        }
        Some(n) => {
            let n = n.min(l.len());
            reply.array(n);
            for _ in 0..n {
                if let Some(item) = if front { l.pop_front() } else { l.pop_back() } {
                    reply.bulk(&item);
                }
            }
        }
        None => {
            if let Some(item) = if front { l.pop_front() } else { l.pop_back() } {
                reply.bulk(&item);
            }
        }
    }
    changed(db.shard(key), key);
    Effect::Reply
}

/// Clamps Redis-style indexes (negative from the end) to `len`; `None` for
/// an empty range.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

pub fn lrange(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let (start, end) = match int_arg(ctx, args.get(2)).and_then(|a| int_arg(ctx, args.get(3)).map(|b| (a, b)))
    {
        Ok(pair) => pair,
        Err(effect) => return effect,
    };
    let Ctx { db, reply, .. } = ctx;
    match typed(db, reply, args.get(1), list) {
        Err(effect) => effect,
        Ok(l) => {
            let l = l.map(|l| &*l);
            match l.and_then(|l| range(start, end, l.len()).map(|r| (l, r))) {
                None => reply.array(0),
                Some((l, (from, to))) => {
                    reply.array(to - from + 1);
                    l.range(from..=to).for_each(|item| reply.bulk(item));
                }
            }
            Effect::Reply
        }
    }
}

pub fn llen(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    super::cardinality(ctx, args.get(1), list, List::len)
}

/// LINDEX key index: the key and its type are checked before the index.
pub fn lindex(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let Ctx { db, reply, .. } = ctx;
    let l = match typed(db, reply, args.get(1), list) {
        Err(effect) => return effect,
        Ok(None) => {
            reply.null();
            return Effect::Reply;
        }
        Ok(Some(l)) => &*l,
    };
    let Some(index) = crate::resp::parse_i64(args.get(2)) else {
        reply.error(super::NOT_INTEGER);
        return Effect::Reply;
    };
    let i = if index < 0 { l.len() as i64 + index } else { index };
    match usize::try_from(i).ok().and_then(|i| l.get(i)) {
        Some(item) => reply.bulk(item),
        None => reply.null(),
    }
    Effect::Reply
}
