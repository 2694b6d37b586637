//! The keyspace's hash: foldhash, keyed once per process from the OS's
//! randomness, computed once per key and split into the bits that pick the
//! shard, the SCAN bucket and the slot inside it.
//!
//! HashDoS: Redis keys its dict with SipHash so that a client cannot craft
//! keys that pile into one chain. foldhash is several times cheaper on short
//! keys (SipHash was 5% of a GET/SET profile). Its secrets here are drawn
//! from std's randomly keyed hasher (OS randomness), not from foldhash's
//! default (address-space layout), so a client cannot precompute colliding
//! keys. foldhash does not claim resistance against an attacker who can
//! observe hash outputs (SCAN's order leaks bucket bits, as it does in
//! Redis) and times lookups to recover the secrets; a server exposed to
//! such clients should not serve them this example, whose threat model is
//! Redis's own: clients are trusted enough to be given the keyspace.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;

/// Hashes keys with the process's secret seed: every clone hashes alike, so
/// the shard choice and each shard's table agree on a key's hash.
#[derive(Debug, Clone)]
pub struct KeyHasher(SeedableRandomState);

impl KeyHasher {
    /// The process's hasher (the same secrets for every store).
    pub fn new() -> KeyHasher {
        static SECRETS: OnceLock<(u64, SharedSeed)> = OnceLock::new();
        let (seed, shared) = SECRETS.get_or_init(|| (os_random(), SharedSeed::from_u64(os_random())));
        KeyHasher(SeedableRandomState::with_seed(*seed, shared))
    }

    /// The hash of `key`.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

impl Default for KeyHasher {
    fn default() -> KeyHasher {
        KeyHasher::new()
    }
}

/// 64 bits from std's `RandomState`, whose keys come from the OS.
fn os_random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// The shard of a key of hash `h` among `mask + 1` (a power of two, at
/// most 2^16): the top 16 bits, which neither the SCAN bucket (the low
/// bits) nor a bucket's own table (bits 25..48, see [`slot_hash`]) use.
#[inline]
pub fn shard_of(h: u64, mask: usize) -> usize {
    ((h >> 48) as usize) & mask
}

/// The hash a bucket's own table uses: rotated so that its slot index (the
/// low bits) and its tag (the top 7) come from bits 32.. and 25..32 of `h`,
/// not from the low bits every key of one SCAN bucket shares.
#[inline]
pub fn slot_hash(h: u64) -> u64 {
    h.rotate_left(32)
}
