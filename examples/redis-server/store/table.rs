//! A shard's keys: a hash table of small maps, so that SCAN can walk it
//! with Redis's reverse-binary cursor.
//!
//! A key goes to one of 2^k buckets by the low bits of its keyed hash (see
//! `hash.rs`, which also says how HashDoS is handled); a bucket is a small
//! `HashTable` that takes the same hash, rotated, so a key is hashed once per
//! lookup. The bucket count doubles when the table holds more than
//! [`GROW_AT`] keys per bucket and halves below [`SHRINK_AT`], all at once
//! under the shard's lock (as a plain `HashMap` grows).
//!
//! SCAN's promise, as in Redis's `dictScan`: every key present from the
//! first call to the last is returned at least once, however the table
//! grew or shrank between calls. The cursor is a bucket index whose bits
//! are counted from the top: bucket `i` of a table of 2^k buckets splits
//! into `i` and `i + 2^k` when it doubles, and both come after every bucket
//! already visited in reversed-bit order, so nothing visited is visited
//! again and nothing unvisited is skipped. A shrink merges such pairs: a
//! merged bucket may be visited again (keys returned twice), never skipped.

use std::mem;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use super::hash::{KeyHasher, slot_hash};
use super::shard::Entry;

/// Grow when the keys outnumber the buckets this many times over...
pub const GROW_AT: usize = 32;
/// ...and shrink when they fall below this many per bucket.
pub const SHRINK_AT: usize = 4;

type Bucket = HashTable<(Box<[u8]>, Entry)>;

/// The keys of one shard.
#[derive(Debug)]
pub struct Table {
    buckets: Vec<Bucket>,
    len: usize,
    hasher: KeyHasher,
}

impl Default for Table {
    fn default() -> Table {
        Table::new(KeyHasher::new())
    }
}

/// What a bucket's table needs to move an entry when it grows.
fn rehash(hasher: &KeyHasher) -> impl Fn(&(Box<[u8]>, Entry)) -> u64 + '_ {
    move |(k, _)| slot_hash(hasher.hash(k))
}

impl Table {
    /// An empty table hashing with `hasher`.
    pub fn new(hasher: KeyHasher) -> Table {
        Table {
            buckets: vec![Bucket::new()],
            len: 0,
            hasher,
        }
    }

    /// The bucket of `key` and the hash its table uses.
    #[inline]
    fn locate(&self, key: &[u8]) -> (usize, u64) {
        let h = self.hasher.hash(key);
        ((h as usize) & (self.buckets.len() - 1), slot_hash(h))
    }

    /// The entry at `key`, expired or not.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let (i, h) = self.locate(key);
        self.buckets[i].find(h, |(k, _)| **k == *key).map(|(_, e)| e)
    }

    /// The entry at `key`, to change in place.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (i, h) = self.locate(key);
        self.buckets[i].find_mut(h, |(k, _)| **k == *key).map(|(_, e)| e)
    }

    /// The entry at `key` unless `drop` says to remove it (then it is
    /// removed and returned as `Err`): one lookup for a read that expires.
    pub fn get_or_remove(
        &mut self,
        key: &[u8],
        drop: impl FnOnce(&Entry) -> bool,
    ) -> Result<Option<&mut Entry>, Entry> {
        let (i, h) = self.locate(key);
        let Some(at) = self.buckets[i].find_bucket_index(h, |(k, _)| **k == *key) else {
            return Ok(None);
        };
        if !self.buckets[i].get_bucket(at).is_some_and(|(_, e)| drop(e)) {
            return Ok(self.buckets[i].get_bucket_mut(at).map(|(_, e)| e));
        }
        let Ok(found) = self.buckets[i].get_bucket_entry(at) else {
            return Ok(None);
        };
        let ((_, e), _) = found.remove();
        self.removed();
        Err(e)
    }

    /// Stores `entry` at `key` (replacing what was there); returns it.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> &mut Entry {
        if self.len >= GROW_AT * self.buckets.len() && !self.contains(key) {
            self.resize(self.buckets.len() * 2);
        }
        let (i, h) = self.locate(key);
        let hasher = &self.hasher;
        match self.buckets[i].entry(h, |(k, _)| **k == *key, rehash(hasher)) {
            Slot::Occupied(mut o) => {
                o.get_mut().1 = entry;
                &mut o.into_mut().1
            }
            Slot::Vacant(v) => {
                self.len += 1;
                &mut v.insert((key.into(), entry)).into_mut().1
            }
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Removes `key`; returns its entry if it was there.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (i, h) = self.locate(key);
        let found = self.buckets[i].find_entry(h, |(k, _)| **k == *key).ok()?;
        let ((_, e), _) = found.remove();
        self.removed();
        Some(e)
    }

    /// After a removal: counts it, and shrinks when the keys are few.
    fn removed(&mut self) {
        self.len -= 1;
        if self.buckets.len() > 1 && self.len < SHRINK_AT * self.buckets.len() {
            self.resize(self.buckets.len() / 2);
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The number of buckets.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Every key and entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.buckets.iter().flatten().map(|(k, e)| (&k[..], e))
    }

    /// Drops every key.
    pub fn clear(&mut self) {
        self.buckets = vec![Bucket::new()];
        self.len = 0;
    }

    /// Moves every key into `n` buckets.
    fn resize(&mut self, n: usize) {
        let mut fresh: Vec<Bucket> = (0..n).map(|_| Bucket::new()).collect();
        for (k, e) in mem::take(&mut self.buckets).into_iter().flatten() {
            let h = self.hasher.hash(&k);
            let bucket = &mut fresh[(h as usize) & (n - 1)];
            bucket.insert_unique(slot_hash(h), (k, e), rehash(&self.hasher));
        }
        self.buckets = fresh;
    }

    /// Passes every key of the bucket `cursor` points at to `visit`, and
    /// returns the cursor of the next bucket: 0 once the last is visited.
    /// Any value is a valid cursor (its bits above the table's are ignored).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let mask = (self.buckets.len() - 1) as u64;
        for (k, e) in &self.buckets[(cursor & mask) as usize] {
            visit(k, e);
        }
        // Redis's step: set the bits above the mask, add one to the
        // reversed cursor (the carry runs through them), reverse back.
        (cursor | !mask).reverse_bits().wrapping_add(1).reverse_bits()
    }

    /// An estimate of the heap bytes the table itself holds (not the
    /// values' own allocations): each bucket table's slots (its capacity, a
    /// key pointer and an entry each, plus one control byte) and the key
    /// bytes.
    pub fn heap_bytes(&self) -> usize {
        let slot = mem::size_of::<(Box<[u8]>, Entry)>() + 1;
        let maps: usize = self.buckets.iter().map(|b| b.capacity() * slot).sum();
        let keys: usize = self.iter().map(|(k, _)| k.len()).sum();
        self.buckets.capacity() * mem::size_of::<Bucket>() + maps + keys
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::store::Value;

    fn entry() -> Entry {
        Entry {
            value: Value::Str(b"v".to_vec()),
            expires: None,
        }
    }

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    /// One SCAN step of a full iteration: every key seen so far.
    fn step(t: &Table, cursor: u64, seen: &mut HashSet<Vec<u8>>) -> u64 {
        t.scan(cursor, |k, _| {
            seen.insert(k.to_vec());
        })
    }

    #[test]
    fn grows_and_shrinks_with_its_keys() {
        let mut t = Table::default();
        for i in 0..10_000 {
            t.insert(&key(i), entry());
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.buckets() >= 10_000 / GROW_AT && t.buckets() <= 10_000 * 2 / GROW_AT);
        for i in 0..10_000 {
            assert!(t.get(&key(i)).is_some());
        }
        for i in 0..9_990 {
            assert!(t.remove(&key(i)).is_some());
        }
        assert!(t.remove(&key(0)).is_none());
        assert!(t.buckets() <= 4, "{} buckets", t.buckets());
        assert_eq!(t.iter().count(), 10);
    }

    /// The keys present for the whole scan are all returned, while the
    /// table grows to 16 times its size between calls, or shrinks.
    #[test]
    fn a_scan_returns_every_key_present_throughout() {
        for grow in [true, false] {
            let mut t = Table::default();
            let stay: Vec<Vec<u8>> = (0..500).map(key).collect();
            for k in &stay {
                t.insert(k, entry());
            }
            let churn: Vec<Vec<u8>> = (1000..9000).map(key).collect();
            if !grow {
                for k in &churn {
                    t.insert(k, entry());
                }
            }
            let (mut seen, mut cursor, mut calls) = (HashSet::new(), 0, 0);
            let mut churned = churn.iter();
            loop {
                cursor = step(&t, cursor, &mut seen);
                calls += 1;
                for k in churned.by_ref().take(100) {
                    if grow {
                        t.insert(k, entry());
                    } else {
                        t.remove(k);
                    }
                }
                if cursor == 0 {
                    break;
                }
                assert!(calls < 100_000);
            }
            for k in &stay {
                assert!(
                    seen.contains(k),
                    "grow {grow}: {:?} missed",
                    String::from_utf8_lossy(k)
                );
            }
        }
    }
}
