//! ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count]
//! [WITHSCORES], and ZREVRANGE key start stop [WITHSCORES] (ZRANGE's rank
//! range, reversed), with Redis 7's parsing order and error texts.

use super::lists::range;
use super::{Ctx, Effect, SYNTAX, error, int_arg, is, typed};
use crate::resp::{Args, Proto, parse_f64_lenient, parse_i64};
use crate::store::{Value, zset::ZSet};

enum By {
    Rank,
    Score,
    Lex,
}

/// One end of a score or lex range, and whether it is excluded.
#[derive(Clone, Copy)]
struct Bound<T> {
    value: T,
    exclusive: bool,
}

/// `-`, `+`, `(member` or `[member`; `None` for anything else.
enum Lex<'a> {
    Min,
    Max,
    At(Bound<&'a [u8]>),
}

fn parse_lex(arg: &[u8]) -> Option<Lex<'_>> {
    match arg {
        b"-" => Some(Lex::Min),
        b"+" => Some(Lex::Max),
        [b'(', rest @ ..] => Some(Lex::At(Bound {
            value: rest,
            exclusive: true,
        })),
        [b'[', rest @ ..] => Some(Lex::At(Bound {
            value: rest,
            exclusive: false,
        })),
        _ => None,
    }
}

fn parse_score(arg: &[u8]) -> Option<Bound<f64>> {
    match arg {
        [b'(', rest @ ..] => parse_f64_lenient(rest).map(|value| Bound {
            value,
            exclusive: true,
        }),
        _ => parse_f64_lenient(arg).map(|value| Bound {
            value,
            exclusive: false,
        }),
    }
}

fn above(min: &Lex<'_>, m: &[u8]) -> bool {
    match min {
        Lex::Min => true,
        Lex::Max => false,
        Lex::At(b) => {
            if b.exclusive {
                m > b.value
            } else {
                m >= b.value
            }
        }
    }
}

fn below(max: &Lex<'_>, m: &[u8]) -> bool {
    match max {
        Lex::Min => false,
        Lex::Max => true,
        Lex::At(b) => {
            if b.exclusive {
                m < b.value
            } else {
                m <= b.value
            }
        }
    }
}

pub fn zrange(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    range_generic(ctx, args, false)
}

/// ZREVRANGE: as Redis's `zrangeGenericCommand` with the rank range and
/// the direction fixed, so REV, BYSCORE and BYLEX are syntax errors (and
/// LIMIT is parsed, then refused as for a rank range).
pub fn zrevrange(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    range_generic(ctx, args, true)
}

/// ZRANGE, or with `reverse_rank` ZREVRANGE.
fn range_generic(ctx: &mut Ctx<'_, '_>, args: Args<'_>, reverse_rank: bool) -> Effect {
    let (mut by, mut rev, mut withscores) = (By::Rank, reverse_rank, false);
    // Whether REV, BYSCORE or BYLEX may still be given (not for ZREVRANGE).
    let (mut auto_rev, mut auto_by) = (!reverse_rank, !reverse_rank);
    let mut limit: Option<(i64, i64)> = None;
    let mut j = 4;
    while j < args.len() {
        let opt = args.get(j);
        if is(opt, "WITHSCORES") {
            withscores = true;
        } else if is(opt, "LIMIT") && args.len() - j > 2 {
            let (offset, count) = match int_arg(ctx, args.get(j + 1))
                .and_then(|a| int_arg(ctx, args.get(j + 2)).map(|b| (a, b)))
            {
                Ok(pair) => pair,
                Err(effect) => return effect,
            };
            limit = Some((offset, count));
            j += 2;
        } else if auto_rev && is(opt, "REV") {
            (rev, auto_rev) = (true, false);
        } else if auto_by && is(opt, "BYLEX") {
            (by, auto_by) = (By::Lex, false);
        } else if auto_by && is(opt, "BYSCORE") {
            (by, auto_by) = (By::Score, false);
        } else {
            return error(ctx, SYNTAX);
        }
        j += 1;
    }
    // As Redis, a count of -1 is "no LIMIT" (even when LIMIT was given).
    if limit.is_some_and(|(_, count)| count != -1) && matches!(by, By::Rank) {
        return error(
            ctx,
            b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && matches!(by, By::Lex) {
        return error(
            ctx,
            b"ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        );
    }
    // REV with BYSCORE or BYLEX takes the range as [max, min].
    let (lo, hi) = if rev && !matches!(by, By::Rank) {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    enum Range<'a> {
        Rank(i64, i64),
        Score(Bound<f64>, Bound<f64>),
        Lex(Lex<'a>, Lex<'a>),
    }
    let bounds = match by {
        By::Rank => match (parse_i64(lo), parse_i64(hi)) {
            (Some(s), Some(e)) => Range::Rank(s, e),
            _ => return error(ctx, super::NOT_INTEGER),
        },
        By::Score => match (parse_score(lo), parse_score(hi)) {
            (Some(a), Some(b)) => Range::Score(a, b),
            _ => return error(ctx, b"ERR min or max is not a float"),
        },
        By::Lex => match (parse_lex(lo), parse_lex(hi)) {
            (Some(a), Some(b)) => Range::Lex(a, b),
            _ => return error(ctx, b"ERR min or max not valid string range item"),
        },
    };
    let Ctx { db, reply, .. } = ctx;
    let z = match typed(db, reply, args.get(1), zset) {
        Err(effect) => return effect,
        Ok(None) => {
            reply.array(0);
            return Effect::Reply;
        }
        Ok(Some(z)) => &*z,
    };
    let picked: Vec<(&[u8], f64)> = match bounds {
        Range::Rank(start, end) => match range(start, end, z.len()) {
            None => Vec::new(),
            Some((from, to)) if rev => z.iter().rev().skip(from).take(to - from + 1).collect(),
            Some((from, to)) => z.iter().skip(from).take(to - from + 1).collect(),
        },
        Range::Score(min, max) => {
            let inside = |s: f64| {
                (if min.exclusive {
                    s > min.value
                } else {
                    s >= min.value
                }) && (if max.exclusive {
                    s < max.value
                } else {
                    s <= max.value
                })
            };
            limited(ordered(z, rev).filter(|&(_, s)| inside(s)), limit, z.len())
        }
        Range::Lex(min, max) => limited(
            ordered(z, rev).filter(|&(m, _)| above(&min, m) && below(&max, m)),
            limit,
            z.len(),
        ),
    };
    let nested = withscores && reply.proto == Proto::Resp3;
    reply.array(if withscores && !nested {
        2 * picked.len()
    } else {
        picked.len()
    });
    for (m, s) in picked {
        if nested {
            reply.array(2);
        }
        reply.bulk(m);
        if withscores {
            reply.double(s);
        }
    }
    Effect::Reply
}

fn ordered(z: &ZSet, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
    if rev {
        Box::new(z.iter().rev())
    } else {
        Box::new(z.iter())
    }
}

/// LIMIT offset count as Redis applies it: a negative offset gives nothing,
/// a negative count means all.
fn limited<'z>(
    items: impl Iterator<Item = (&'z [u8], f64)>,
    limit: Option<(i64, i64)>,
    len: usize,
) -> Vec<(&'z [u8], f64)> {
    let (offset, count) = limit.unwrap_or((0, -1));
    if offset < 0 || (offset > 0 && offset as u64 >= len as u64) {
        return Vec::new();
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    items.skip(offset as usize).take(count).collect()
}

fn zset(v: &mut Value) -> Option<&mut ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}
