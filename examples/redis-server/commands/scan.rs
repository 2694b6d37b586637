//! SCAN cursor [MATCH pattern] [COUNT count] [TYPE type], read as Redis
//! 7.0's `scanCommand` and `scanGenericCommand` read it. The cursor walks
//! the shards one after the other, each with Redis's reverse-binary cursor
//! over its buckets (`store/table.rs`): every key present for the whole
//! iteration is returned at least once, whatever is added or removed
//! between calls, and one call visits at most `10 * COUNT` buckets.

use super::keys::glob;
use super::{Ctx, Effect, SYNTAX, c_str, error, int_arg, is};
use crate::resp::Args;
use crate::store::now_ms;

/// The cursor as Redis reads it with C's `strtoul` (base 10): no leading
/// space, an optional sign (a negative one wraps, as `strtoul` wraps it),
/// nothing after the digits, no overflow. The argument ends at its first
/// NUL, as a C string does, and an empty one reads as 0.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = c_str(arg, usize::MAX);
    if s.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

pub fn scan(ctx: &mut Ctx<'_, '_>, args: Args<'_>) -> Effect {
    // The cursor is read first: a bad one is refused before the options.
    let Some(cursor) = parse_cursor(args.get(1)) else {
        return error(ctx, b"ERR invalid cursor");
    };
    let (mut count, mut pattern, mut kind) = (10usize, None, None);
    let mut i = 2;
    while i < args.len() {
        let (opt, more) = (args.get(i), args.len() - i);
        if is(opt, "COUNT") && more >= 2 {
            match int_arg(ctx, args.get(i + 1)) {
                Ok(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => return error(ctx, SYNTAX),
                Err(effect) => return effect,
            }
        } else if is(opt, "MATCH") && more >= 2 {
            let p = args.get(i + 1);
            pattern = (p != b"*").then_some(p);
        } else if is(opt, "TYPE") && more >= 2 {
            // Any name: one no value has (Redis 7.0 checks none) matches nothing.
            kind = Some(args.get(i + 1));
        } else {
            return error(ctx, SYNTAX);
        }
        i += 2;
    }
    let now = now_ms();
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let next = ctx.db.scan(cursor, count, |key, entry| {
        let wanted = !entry.is_expired(now)
            && pattern.is_none_or(|p| glob(p, key))
            && kind.is_none_or(|t| t.eq_ignore_ascii_case(entry.value.type_name().as_bytes()));
        if wanted {
            found.push(key.into());
        }
    });
    ctx.reply.array(2);
    ctx.reply.bulk(next.to_string().as_bytes());
    ctx.reply.array(found.len());
    for k in &found {
        ctx.reply.bulk(k);
    }
    Effect::Reply
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_read_as_strtoul_reads_them() {
        let cases: [(&[u8], Option<u64>); 11] = [
            (b"0", Some(0)),
            (b"", Some(0)),
            (b"+7", Some(7)),
            (b"-1", Some(u64::MAX)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b" 1", None),
            (b"1 ", None),
            (b"x", None),
            (b"-", None),
            (b"5\0x", Some(5)),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_cursor(arg), want, "{}", arg.escape_ascii());
        }
    }
}
