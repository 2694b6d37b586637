//! Inline commands split into arguments as Redis's `sdssplitargs` splits
//! them (and redis-cli its input): blanks between arguments, `"..."` with
//! `\n \r \t \b \a \xHH` escapes, `'...'` with `\'`.

use super::parse::{ProtocolError, Span};

/// C's `isspace`: what separates arguments.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What ends an unquoted argument: fewer bytes than `is_space` (a vertical
/// tab or form feed stays inside an argument, as in Redis).
fn ends_word(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line` (without its line end) into `copies`, one span per
/// argument. A NUL ends the line, as it ends Redis's C string.
pub fn split_inline(line: &[u8], copies: &mut Vec<u8>, spans: &mut Vec<Span>) -> Result<(), ProtocolError> {
    // A short line (PING) is searched by a plain loop, before memchr's set-up.
    let nul = match line.len() {
        0..16 => line.iter().position(|&b| b == 0),
        _ => memchr::memchr(0, line),
    };
    let line = &line[..nul.unwrap_or(line.len())];
    copies.clear();
    spans.clear();
    // No quotes, and no vertical tab or form feed (blanks between words
    // but not inside one): the words are the runs between blanks.
    if !line.iter().any(|&b| matches!(b, b'"' | b'\'' | 0x0b | 0x0c)) {
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        for word in line.split(blank).filter(|w| !w.is_empty()) {
            let start = copies.len();
            copies.extend_from_slice(word);
            spans.push(Span {
                start,
                end: copies.len(),
            });
        }
        return Ok(());
    }
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = copies.len();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            if in_double {
                if c == b'\\' && at(i + 1) == b'x' && hex(at(i + 2)).is_some() && hex(at(i + 3)).is_some() {
                    let (h, l) = (hex(at(i + 2)).unwrap_or(0), hex(at(i + 3)).unwrap_or(0));
                    copies.push(h << 4 | l);
                    i += 3;
                } else if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    copies.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    copies.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    copies.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    copies.push(c);
                }
            } else if ends_word(c) {
                break;
            } else if c == b'"' {
                in_double = true;
            } else if c == b'\'' {
                in_single = true;
            } else {
                copies.push(c);
            }
            i += 1;
        }
        spans.push(Span {
            start,
            end: copies.len(),
        });
        if i < line.len() {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let (mut copies, mut spans) = (Vec::new(), Vec::new());
        split_inline(line, &mut copies, &mut spans)?;
        Ok(spans.iter().map(|s| copies[s.start..s.end].to_vec()).collect())
    }

    fn v(items: &[&[u8]]) -> Vec<Vec<u8>> {
        items.iter().map(|a| a.to_vec()).collect()
    }

    #[test]
    fn blanks_and_quotes_as_redis_splits_them() {
        assert_eq!(
            split(b"  set  key\tvalue ").unwrap(),
            v(&[b"set", b"key", b"value"])
        );
        assert_eq!(
            split(b"SET k \"hello world\"").unwrap(),
            v(&[b"SET", b"k", b"hello world"])
        );
        assert_eq!(
            split(b"x \"a\\\"b\\\\c\\n\\x41\\x4\"").unwrap(),
            v(&[b"x", b"a\"b\\c\nAx4"])
        );
        assert_eq!(
            split(b"x 'it\\'s \"raw\" \\n'").unwrap(),
            v(&[b"x", b"it's \"raw\" \\n"])
        );
        assert_eq!(
            split(b"x pre\"fix ed\"  ''").unwrap(),
            v(&[b"x", b"prefix ed", b""])
        );
        assert_eq!(split(b"").unwrap(), v(&[]));
    }

    #[test]
    fn vertical_tab_and_form_feed_stay_inside_an_argument() {
        assert_eq!(split(b"a\x0bb c\x0c").unwrap(), v(&[b"a\x0bb", b"c\x0c"]));
        assert_eq!(
            split(b"\x0b a").unwrap(),
            v(&[b"a"]),
            "but are skipped between arguments"
        );
    }

    #[test]
    fn a_nul_ends_the_line() {
        assert_eq!(split(b"a b\0c d").unwrap(), v(&[b"a", b"b"]));
    }

    #[test]
    fn unbalanced_quotes() {
        for line in [&b"SET k \"open"[..], b"SET k \"a\"b", b"SET k 'a", b"x \"a\\"] {
            assert_eq!(
                split(line),
                Err(ProtocolError::UnbalancedQuotes),
                "{}",
                line.escape_ascii()
            );
        }
    }
}
