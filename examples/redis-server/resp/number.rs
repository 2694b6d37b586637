//! Numbers as Redis reads and writes them: integers through `string2ll`'s
//! strict rules, doubles through `strtod` with Redis's checks, and doubles
//! written as C's `%.17g` (what Redis 7.0 replies for scores).

use std::io::Write as _;

/// Parses a decimal integer as Redis does (string2ll): an optional `-`, no
/// `+`, no spaces, no leading zeros, within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return (!neg).then_some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if neg { n.checked_sub(d)? } else { n.checked_add(d)? };
    }
    Some(n)
}

/// Appends the decimal digits of `n`.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(i64_digits(n, &mut buf));
}

/// The decimal digits of `n`, written into the end of `buf`.
pub fn i64_digits(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// What C's `strtod` reads at the start of a string.
struct Prefix {
    /// The bytes read; 0 when nothing is.
    end: usize,
    /// An infinity or NaN literal.
    literal: bool,
    /// A nonzero digit was read (a zero result is then an underflow).
    nonzero: bool,
    /// A hexadecimal float (`0x1.8p3`): the value is converted here, as
    /// Rust's `parse` reads decimal only.
    hex: Option<f64>,
}

/// The longest prefix of `s` that C's `strtod` reads: a decimal or
/// hexadecimal number, an infinity, or a NaN (callers reject NaN).
fn strtod_prefix(s: &[u8]) -> Prefix {
    let none = Prefix {
        end: 0,
        literal: false,
        nonzero: false,
        hex: None,
    };
    let mut i = 0;
    let negative = s.first() == Some(&b'-');
    if matches!(s.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let word = |w: &str, at: usize| {
        s.len() >= at + w.len() && s[at..at + w.len()].eq_ignore_ascii_case(w.as_bytes())
    };
    for (w, len) in [("infinity", 8), ("inf", 3), ("nan", 3)] {
        if word(w, i) {
            return Prefix {
                end: i + len,
                literal: true,
                nonzero: true,
                hex: None,
            };
        }
    }
    // `0x` without hex digits: strtod reads the `0` alone, as a decimal.
    if word("0x", i)
        && let Some((end, nonzero, v)) = hex_float(s, i + 2)
    {
        let v = if negative { -v } else { v };
        return Prefix {
            end,
            literal: false,
            nonzero,
            hex: Some(v),
        };
    }
    let mut digits = 0;
    let mut nonzero = false;
    while i < s.len() && s[i].is_ascii_digit() {
        nonzero |= s[i] != b'0';
        i += 1;
        digits += 1;
    }
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            j += 1;
            digits += 1;
        }
        if digits > 0 {
            i = j;
        }
    }
    if digits == 0 {
        return none;
    }
    i = exponent(s, i, b'e');
    Prefix {
        end: i,
        literal: false,
        nonzero,
        hex: None,
    }
}

/// Past an exponent (`e-12`, `p+3`) at `i`, if one is there and complete;
/// else `i`.
fn exponent(s: &[u8], i: usize, letter: u8) -> usize {
    if s.get(i).map(u8::to_ascii_lowercase) != Some(letter) {
        return i;
    }
    let mut j = i + 1;
    if matches!(s.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let start = j;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
    }
    if j > start { j } else { i }
}

/// The hexadecimal float whose digits start at `at` (after `0x`):
/// `(end, has_nonzero_digit, magnitude)` correctly rounded to nearest even,
/// as glibc's `strtod`; `None` without a hex digit.
fn hex_float(s: &[u8], at: usize) -> Option<(usize, bool, f64)> {
    let mut i = at;
    // The first 16 significant digits, and whether any later one is nonzero.
    let (mut mantissa, mut kept, mut sticky) = (0u64, 0, false);
    // The power of two the mantissa is scaled by.
    let mut exp2: i64 = 0;
    let (mut digits, mut point) = (0, false);
    while let Some(&c) = s.get(i) {
        let d = match c {
            b'.' if !point => {
                point = true;
                i += 1;
                continue;
            }
            _ => match (c as char).to_digit(16) {
                Some(d) => u64::from(d),
                None => break,
            },
        };
        digits += 1;
        if kept < 16 && (kept > 0 || d != 0) {
            mantissa = mantissa << 4 | d;
            kept += 1;
            if point {
                exp2 -= 4;
            }
        } else if kept >= 16 {
            sticky |= d != 0;
            if !point {
                exp2 += 4;
            }
        } else if point {
            exp2 -= 4; // a leading zero after the point
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let end = exponent(s, i, b'p');
    if end > i {
        let text = &s[i + 1..end];
        let (neg, num) = match text {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            _ => (false, text),
        };
        // Saturates: far past any double's range either way.
        let e = num
            .iter()
            .fold(0i64, |e, &c| (e * 10 + i64::from(c - b'0')).min(1 << 20));
        exp2 += if neg { -e } else { e };
    }
    let nonzero = mantissa != 0;
    Some((end, nonzero, scale(mantissa, sticky, exp2)))
}

/// `mantissa * 2^exp2` (plus a little when `sticky`) rounded to the nearest
/// double, ties to even, subnormals included.
fn scale(mantissa: u64, sticky: bool, exp2: i64) -> f64 {
    if mantissa == 0 {
        return 0.0;
    }
    let lz = mantissa.leading_zeros();
    let m = mantissa << lz;
    let exp2 = exp2 - i64::from(lz);
    // The value is m * 2^exp2 with m in [2^63, 2^64): its binary exponent is exp2 + 63.
    let top = exp2 + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Bits of m that fit: 53, fewer for a subnormal.
    let keep = if top >= -1022 { 53 } else { 53 - (-1022 - top) };
    if keep < 0 {
        return 0.0;
    }
    let drop = (64 - keep) as u32;
    let (mut q, rem, half) = if drop >= 64 {
        (0, m, 1u64 << 63)
    } else {
        (m >> drop, m & ((1u64 << drop) - 1), 1u64 << (drop - 1))
    };
    if rem > half || (rem == half && (sticky || q & 1 == 1)) {
        q += 1;
    }
    ldexp(q as f64, exp2 + i64::from(drop))
}

/// `x * 2^e`, exact whenever the result is representable.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    let pow = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    while e > 1000 {
        x *= pow(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow(-1000);
        e += 1000;
    }
    x * pow(e)
}

/// Converts what [`strtod_prefix`] accepted.
fn convert(text: &[u8], prefix: &Prefix) -> Option<f64> {
    if let Some(v) = prefix.hex {
        return Some(v);
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parses a double as Redis's `getDoubleFromObject`: the whole string is a
/// number (no leading space), not NaN, and not out of range (an overflow to
/// infinity or an underflow to zero is an error; `inf` itself is fine).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let prefix = strtod_prefix(s);
    if prefix.end == 0 || prefix.end != s.len() {
        return None;
    }
    let v = convert(s, &prefix)?;
    let overflow = v.is_infinite() && !prefix.literal;
    let underflow = v == 0.0 && prefix.nonzero;
    (!v.is_nan() && !overflow && !underflow).then_some(v)
}

/// Parses a score bound as ZRANGE's BYSCORE does (`strtod` then "nothing
/// left"): leading spaces are skipped, an empty string reads as 0, and
/// overflow is not checked.
pub fn parse_f64_lenient(s: &[u8]) -> Option<f64> {
    let skip = s
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .count();
    let rest = &s[skip..];
    let prefix = strtod_prefix(rest);
    if prefix.end == 0 {
        // No conversion: strtod leaves the end pointer at the start.
        return s.is_empty().then_some(0.0);
    }
    if prefix.end != rest.len() {
        return None;
    }
    convert(rest, &prefix).filter(|v| !v.is_nan())
}

/// Writes `d` as C's `printf("%.17g", d)`; infinities as `inf` / `-inf`.
pub fn write_double(out: &mut Vec<u8>, d: f64) {
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if d == 0.0 {
        out.extend_from_slice(if d.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // 17 significant digits, correctly rounded: "d.dddddddddddddddde<exp>".
    let mut buf = [0u8; 40];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{:.16e}", d.abs());
    let len = cursor.position() as usize;
    let text = &buf[..len];
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(len);
    let exp: i32 = std::str::from_utf8(&text[e_at + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 17];
    let mut n = 0;
    for &b in text[..e_at].iter().filter(|b| b.is_ascii_digit()) {
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    // %g drops trailing zeros.
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digits[..n];
    if d < 0.0 {
        out.push(b'-');
    }
    if !(-4..17).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        write_i64(out, i64::from(e));
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_redis_does() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1.5",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn doubles_parse_as_get_double_does() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"5."), Some(5.0));
        assert_eq!(parse_f64(b"0e500"), Some(0.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"1e",
            b"x",
            b".",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"0X1p3"), Some(8.0));
        assert_eq!(parse_f64(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"0x.8"), Some(0.5));
        assert_eq!(parse_f64(b"0x1P-2"), Some(0.25));
        assert_eq!(parse_f64(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(parse_f64(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(
            parse_f64(b"0x1.00000000000008p0"),
            Some(1.0),
            "a tie rounds to even"
        );
        assert_eq!(parse_f64(b"0x1.000000000000081p0"), Some(1.0 + f64::EPSILON));
        assert_eq!(
            parse_f64(b"0x123456789abcdef0123p0"),
            Some(0x123456789abcdef0123u128 as f64)
        );
        for bad in [
            &b"0x"[..],
            b"0xg",
            b"0x1p",
            b"0x1p99999",
            b"0x1p-1075",
            b" 0x1",
            b"0x1 ",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_f64_lenient(b""), Some(0.0));
        assert_eq!(parse_f64_lenient(b" 2"), Some(2.0));
        assert_eq!(parse_f64_lenient(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_f64_lenient(b"2 "), None);
    }

    #[test]
    fn doubles_write_as_printf_g17() {
        let g = |d: f64| {
            let mut v = Vec::new();
            write_double(&mut v, d);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(g(1.0), "1");
        assert_eq!(g(1.5), "1.5");
        assert_eq!(g(-2.25), "-2.25");
        assert_eq!(g(0.1), "0.10000000000000001");
        assert_eq!(g(1e20), "1e+20");
        assert_eq!(g(1e16), "10000000000000000");
        assert_eq!(g(1e17), "1e+17");
        assert_eq!(g(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1.0000000000000001e-05");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(f64::INFINITY), "inf");
        assert_eq!(g(1e-300), "1e-300");
        assert_eq!(g(3.0), "3");
    }
}
