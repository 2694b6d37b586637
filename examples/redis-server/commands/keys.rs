//! Commands on keys whatever their type: DEL, EXISTS, the EXPIRE family,
//! TTL and EXPIRETIME, PERSIST, TYPE, RENAME, KEYS, DBSIZE, FLUSHALL.

use super::{Ctx, Effect, SYNTAX, c_str, error, int, int_arg, is};
use crate::resp::Args;
use crate::store::now_ms;

pub fn del(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let n = args.iter_from(1).filter(|k| ctx.db.shard(k).remove(k)).count();
    int(ctx, n as i64)
}

pub fn exists(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let n = args.iter_from(1).filter(|k| ctx.db.shard(k).contains(k)).count();
    int(ctx, n as i64)
}

pub fn expire(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    expire_generic(ctx, args, now_ms(), 1000)
}

pub fn pexpire(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    expire_generic(ctx, args, now_ms(), 1)
}

pub fn expireat(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    expire_generic(ctx, args, 0, 1000)
}

pub fn pexpireat(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    expire_generic(ctx, args, 0, 1)
}

/// EXPIRE key n [NX | XX | GT | LT] and its variants: the deadline is
/// `base + n * unit` milliseconds, checked for overflow as Redis checks it.
fn expire_generic(ctx: &mut Ctx<'_, '_>, args: Args<'_>, base: i64, unit: i64) -> Effect {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.iter_from(3) {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            let mut text = b"ERR Unsupported option ".to_vec();
            text.extend_from_slice(c_str(opt, usize::MAX));
            return error(ctx, &text);
        }
    }
    if nx && (xx || gt || lt) {
        return error(
            ctx,
            b"ERR NX and XX, GT or LT options at the same time are not compatible",
        );
    }
    if gt && lt {
        return error(ctx, b"ERR GT and LT options at the same time are not compatible");
    }
    let when = match int_arg(ctx, args.get(2)) {
        Ok(n) => n,
        Err(effect) => return effect,
    };
    let name = String::from_utf8_lossy(args.get(0)).to_ascii_lowercase();
    let Some(when) = when.checked_mul(unit).and_then(|ms| ms.checked_add(base)) else {
        return error(
            ctx,
            format!("ERR invalid expire time in '{name}' command").as_bytes(),
        );
    };
    let key = args.get(1);
    let shard = ctx.db.shard(key);
    let Some(current) = shard.get(key).map(|e| e.expires) else {
        return int(ctx, 0);
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return int(ctx, 0);
    }
    if when <= now_ms() {
        // A deadline in the past deletes the key, as in Redis.
        shard.remove(key);
    } else {
        shard.set_expiry(key, Some(when));
    }
    int(ctx, 1)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for no key, -1 for a key without
/// deadline; `absolute` gives the deadline itself rather than what is left.
fn ttl_generic(ctx: &mut Ctx<'_, '_>, args: Args<'_>, ms: bool, absolute: bool) -> Effect {
    let key = args.get(1);
    let n = match ctx.db.shard(key).get(key).map(|e| e.expires) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => {
            let left = if absolute { at } else { (at - now_ms()).max(0) };
            // Rounded to the nearest second without overflow: Redis answers
            // 9223372036854776 for a deadline of i64::MAX ms, not a wrapped sum.
            if ms {
                left
            } else {
                left / 1000 + (left % 1000 + 500) / 1000
            }
        }
    };
    int(ctx, n)
}

pub fn ttl(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ttl_generic(ctx, args, false, false)
}

pub fn pttl(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ttl_generic(ctx, args, true, false)
}

pub fn expiretime(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ttl_generic(ctx, args, false, true)
}

pub fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    ttl_generic(ctx, args, true, true)
}

pub fn persist(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let shard = ctx.db.shard(key);
    let volatile = shard.get(key).is_some_and(|e| e.expires.is_some());
    let done = volatile && shard.set_expiry(key, None);
    int(ctx, i64::from(done))
}

pub fn type_(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let key = args.get(1);
    let name = ctx.db.shard(key).get(key).map_or("none", |e| e.value.type_name());
    ctx.reply.simple(name.as_bytes());
    Effect::Reply
}

pub fn rename(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    rename_generic(ctx, args, false)
}

pub fn renamenx(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    rename_generic(ctx, args, true)
}

/// RENAME and RENAMENX: the value moves with its deadline.
fn rename_generic(ctx: &mut Ctx<'_, '_>, args: Args<'_>, nx: bool) -> Effect {
    let (from, to) = (args.get(1), args.get(2));
    if !ctx.db.shard(from).contains(from) {
        return error(ctx, b"ERR no such key");
    }
    if from == to {
        return if nx { int(ctx, 0) } else { ok(ctx) };
    }
    if nx && ctx.db.shard(to).contains(to) {
        return int(ctx, 0);
    }
    if let Some(entry) = ctx.db.shard(from).take(from) {
        ctx.db.shard(to).remove(to);
        ctx.db.shard(to).put_entry(to, entry);
    }
    if nx { int(ctx, 1) } else { ok(ctx) }
}

fn ok(ctx: &mut Ctx<'_, '_>) -> Effect {
    ctx.reply.ok();
    Effect::Reply
}

pub fn dbsize(ctx: &mut Ctx<'_, '_>, _: Args<'_>) -> Effect {
    let n: usize = ctx.db.all().map(|s| s.len()).sum();
    int(ctx, n as i64)
}

pub fn flush(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    match args.len() {
        1 => {}
        2 if is(args.get(1), "ASYNC") || is(args.get(1), "SYNC") => {}
        _ => return error(ctx, SYNTAX),
    }
    ctx.db.all().for_each(|s| s.clear());
    ok(ctx)
}

pub fn keys(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    let pattern = args.get(1);
    let mut found: Vec<Box<[u8]>> = Vec::new();
    for shard in ctx.db.all() {
        found.extend(
            shard
                .live()
                .filter(|(k, _)| glob(pattern, k))
                .map(|(k, _)| Box::from(k)),
        );
    }
    ctx.reply.array(found.len());
    for k in &found {
        ctx.reply.bulk(k);
    }
    Effect::Reply
}

/// Redis's glob: `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`, and `\` to quote.
pub fn glob(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // Where to resume after the last `*`: (pattern after it, input position).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pattern, p, s[i]) {
                (true, next) => Some(next),
                (false, _) => None,
            },
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == s[i]).then_some(p + 2),
            Some(&c) => (c == s[i]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                i += 1;
            }
            (None, Some((after, from))) => {
                // Let the last `*` take one more byte and try again.
                star = Some((after, from + 1));
                p = after;
                i = from + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class that starts with `[` at `pattern[start]`;
/// returns whether it matched and where the pattern goes on after the class.
fn class(pattern: &[u8], start: usize, c: u8) -> (bool, usize) {
    let mut p = start + 1;
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
            let (a, b) = (pattern[p], pattern[p + 2]);
            matched |= (a.min(b)..=a.max(b)).contains(&c);
            p += 3;
        } else {
            matched |= pattern[p] == c;
            p += 1;
        }
    }
    // An unclosed class runs to the end of the pattern.
    (matched != negate, (p + 1).min(pattern.len()))
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        let yes = [
            ("*", ""),
            ("*", "abc"),
            ("a*", "abc"),
            ("*c", "abc"),
            ("a*b*c", "aXbYbZc"),
            ("h?llo", "hello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("[\\]]", "]"),
            ("**a", "a"),
        ];
        for (p, s) in yes {
            assert!(glob(p.as_bytes(), s.as_bytes()), "{p} should match {s}");
        }
        let no = [
            ("a*", "ba"),
            ("h?llo", "hllo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("abc", "abcd"),
            ("a*c", "abcd"),
            ("[abc", "d"),
        ];
        for (p, s) in no {
            assert!(!glob(p.as_bytes(), s.as_bytes()), "{p} should not match {s}");
        }
    }
}
