//! Finding a command by name without hashing or comparing strings: the
//! name, folded to lower case, is packed with its length into one `u128`,
//! and a multiplicative hash picked at start-up so that no two names of the
//! table share a slot (a perfect hash) gives the one candidate to compare.
//! The binary search over the names it replaced was 11% of a GET profile
//! (mostly `memcmp`).

use std::sync::LazyLock;

use super::table::{COMMANDS, COUNT, Command};

/// Names up to this long fit a key (the byte after them holds the length);
/// the table's longest is shorter, so a longer name is no command.
const MAX: usize = 15;
/// Slots: 2^BITS, sparse enough that a collision-free multiplier is found in
/// a few tries for about a hundred names.
const BITS: u32 = 12;
const EMPTY: u8 = u8::MAX;

/// The perfect table: the multiplier, and each slot's command index.
struct Names {
    mul: u64,
    slots: [u8; 1 << BITS],
    keys: [u128; COUNT],
}

static NAMES: LazyLock<Names> = LazyLock::new(build);

/// `name` (then `|` and `sub`, for a subcommand) folded to lower case and
/// packed with its length; `None` if it is too long to be a command.
fn key(name: &[u8], sub: Option<&[u8]>) -> Option<u128> {
    let len = name.len() + sub.map_or(0, |s| 1 + s.len());
    if len > MAX {
        return None;
    }
    // Byte by byte: names are a few bytes, too short for memcpy to pay.
    let mut b = [0u8; 16];
    fold(&mut b, name);
    if let Some(sub) = sub {
        b[name.len()] = b'|';
        fold(&mut b[name.len() + 1..], sub);
    }
    b[MAX] = len as u8;
    Some(u128::from_le_bytes(b))
}

/// Copies `from` to the start of `to` in lower case (`to` is long enough).
fn fold(to: &mut [u8], from: &[u8]) {
    for (d, s) in to.iter_mut().zip(from) {
        *d = s.to_ascii_lowercase();
    }
}

fn slot(key: u128, mul: u64) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(mul) >> (64 - BITS)) as usize
}

/// Finds a multiplier that puts every name in its own slot. Deterministic:
/// the candidates come from a fixed sequence, so every run builds the same
/// table (the tests check that one is found).
fn build() -> Names {
    let mut keys = [0u128; COUNT];
    for (k, c) in keys.iter_mut().zip(COMMANDS.iter()) {
        *k = key(c.name.as_bytes(), None).unwrap_or_else(|| panic!("command name too long: {}", c.name));
    }
    let mut candidate = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..100_000 {
        // splitmix64: a fresh odd multiplier each try.
        candidate = candidate.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = candidate;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let mul = (z ^ (z >> 31)) | 1;
        let mut slots = [EMPTY; 1 << BITS];
        let fits = keys.iter().enumerate().all(|(i, &k)| {
            let s = &mut slots[slot(k, mul)];
            let free = *s == EMPTY;
            *s = i as u8;
            free
        });
        if fits {
            return Names { mul, slots, keys };
        }
    }
    panic!("no perfect hash for the command names");
}

/// The command named `name` (or `name|sub`), ignoring ASCII case.
pub fn find(name: &[u8], sub: Option<&[u8]>) -> Option<&'static Command> {
    let key = key(name, sub)?;
    let names = &*NAMES;
    let i = names.slots[slot(key, names.mul)];
    (i != EMPTY && names.keys[i as usize] == key).then(|| &COMMANDS[i as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_in_any_case() {
        for c in COMMANDS.iter() {
            let (name, sub) = match c.name.split_once('|') {
                Some((n, s)) => (n, Some(s.to_ascii_uppercase())),
                None => (c.name, None),
            };
            let upper = name.to_ascii_uppercase();
            let found = find(upper.as_bytes(), sub.as_deref().map(str::as_bytes));
            assert_eq!(found.map(|f| f.index), Some(c.index), "{}", c.name);
            assert_eq!(find(c.name.as_bytes(), None).map(|f| f.index), Some(c.index));
        }
    }

    #[test]
    fn other_names_are_not_found() {
        for name in [
            &b""[..],
            b"ge",
            b"gett",
            b"get\0",
            b"gET ",
            b"client|nope",
            b"pexpiretimeeeeeeeee",
        ] {
            assert!(find(name, None).is_none(), "{:?}", String::from_utf8_lossy(name));
        }
        assert!(find(b"get", Some(b"x")).is_none());
        // A NUL pad is not the end of a name: the length is part of the key.
        assert!(find(b"ping\0", None).is_none());
    }
}
