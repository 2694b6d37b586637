//! The keyspace: string keys to string values with optional expiry, shared by
//! every loop and split into shards, each behind its own lock, picked by the
//! key's hash. Loops serving different keys rarely meet on a lock.
//!
//! Expiry is lazy (an expired key reads as absent, and is dropped when a
//! lookup misses on it) plus an active sweep ([`Store::sweep`], called from
//! the handler's `tick`) that drops keys whose deadline passed, a bounded
//! number per shard per call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// A stored value and its deadline.
#[derive(Debug)]
pub struct Entry {
    /// The value. Overwriting reuses this buffer, so a warm SET allocates nothing.
    pub value: Vec<u8>,
    /// When the key expires, if it does.
    pub expires: Option<Instant>,
}

impl Entry {
    fn is_expired(&self) -> bool {
        self.expires.is_some_and(|t| t <= Instant::now())
    }
}

/// One shard: part of the keyspace and the deadlines of its volatile keys.
#[derive(Debug, Default)]
pub struct Shard {
    map: HashMap<Box<[u8]>, Entry>,
    /// Deadlines in time order, for the sweep. Entries go stale when a key's
    /// deadline changes or the key goes; the sweep skips those, and the heap is
    /// rebuilt when stale entries outnumber the keys.
    deadlines: BinaryHeap<Reverse<(Instant, Box<[u8]>)>>,
}

impl Shard {
    /// The live entry for `key` (an expired one reads as absent).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key).filter(|e| !e.is_expired())
    }

    /// The live entry for `key`, to change in place. Changing its deadline
    /// goes through [`Shard::set_expiry`].
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key).filter(|e| !e.is_expired())
    }

    /// Drops `key` if it is there but expired (call it after a lookup missed).
    pub fn reap(&mut self, key: &[u8]) {
        if self.map.get(key).is_some_and(Entry::is_expired) {
            self.map.remove(key);
        }
    }

    /// Sets `key` to `value` with the deadline `expires`, or with the key's
    /// current deadline when `keep_ttl`.
    pub fn set(&mut self, key: &[u8], value: &[u8], expires: Option<Instant>, keep_ttl: bool) {
        match self.map.get_mut(key) {
            Some(e) => {
                // An expired key is replaced as if it were not there.
                if keep_ttl && e.is_expired() {
                    e.expires = None;
                }
                // Reuse the buffer unless it is far larger than what it now holds.
                if e.value.capacity() > 4096 && e.value.capacity() / 4 > value.len() {
                    e.value = value.to_vec();
                } else {
                    e.value.clear();
                    e.value.extend_from_slice(value);
                }
                if !keep_ttl {
                    e.expires = expires;
                }
            }
            None => {
                self.map.insert(
                    key.into(),
                    Entry {
                        value: value.to_vec(),
                        expires,
                    },
                );
            }
        }
        if let (Some(at), false) = (expires, keep_ttl) {
            self.push_deadline(key, at);
        }
    }

    /// Sets (or with `None` clears) the deadline of a live key; false if
    /// there is no such key.
    pub fn set_expiry(&mut self, key: &[u8], expires: Option<Instant>) -> bool {
        let Some(e) = self.get_mut(key) else {
            self.reap(key);
            return false;
        };
        e.expires = expires;
        if let Some(at) = expires {
            self.push_deadline(key, at);
        }
        true
    }

    /// Removes `key`; true if it was there and live.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.map.remove(key).is_some_and(|e| !e.is_expired())
    }

    /// Whether `key` is there and live.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        let live = self.get(key).is_some();
        if !live {
            self.reap(key);
        }
        live
    }

    /// Keys held, expired ones not yet dropped included (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Live keys, and how many of them have a deadline.
    pub fn count_live(&self) -> (usize, usize) {
        self.live().fold((0, 0), |(n, v), (_, e)| {
            (n + 1, v + usize::from(e.expires.is_some()))
        })
    }

    /// Every live key and its entry, in no order.
    pub fn live(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = Instant::now();
        self.map
            .iter()
            .filter(move |(_, e)| e.expires.is_none_or(|t| t > now))
            .map(|(k, e)| (&k[..], e))
    }

    /// Drops every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
    }

    fn push_deadline(&mut self, key: &[u8], at: Instant) {
        if self.deadlines.len() > 2 * self.map.len() + 64 {
            self.deadlines = self
                .map
                .iter()
                .filter_map(|(k, e)| e.expires.map(|t| Reverse((t, k.clone()))))
                .collect();
        }
        self.deadlines.push(Reverse((at, key.into())));
    }

    /// Drops up to `budget` keys whose deadline has passed; returns how many.
    fn sweep(&mut self, now: Instant, budget: usize) -> usize {
        let mut dropped = 0;
        for _ in 0..budget {
            match self.deadlines.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                break;
            };
            // Only if the key still has this deadline: it may have been
            // given another one, made persistent, or deleted since.
            if self.map.get(&key).is_some_and(|e| e.expires == Some(at)) {
                self.map.remove(&key);
                dropped += 1;
            }
        }
        dropped
    }
}

/// The whole keyspace: a power-of-two number of shards.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
}

impl Store {
    /// A store with `shards` locks (rounded up to a power of two; 1 gives
    /// one lock for everything).
    pub fn new(shards: usize) -> Store {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        Store {
            shards: (0..n).map(|_| Mutex::default()).collect(),
        }
    }

    /// The shard that holds `key`, locked.
    pub fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let i = (fnv1a(key) as usize) & (self.shards.len() - 1);
        lock(&self.shards[i])
    }

    /// Every shard, each locked in turn (never two at once).
    pub fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        self.shards.iter().map(lock)
    }

    /// The active expiry sweep: drops up to `budget_per_shard` expired keys
    /// in each shard; returns how many it dropped.
    pub fn sweep(&self, budget_per_shard: usize) -> usize {
        let now = Instant::now();
        self.each_shard()
            .map(|mut s| s.sweep(now, budget_per_shard))
            .sum()
    }
}

/// A poisoned lock means a handler panicked mid-update of one key; the map
/// itself is still sound, so carry on with it.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a: a cheap hash that only picks the shard (the map inside hashes
/// again with its own, DoS-resistant, hasher).
fn fnv1a(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn set_get_overwrite_remove() {
        let store = Store::new(4);
        let mut s = store.shard(b"k");
        s.set(b"k", b"one", None, false);
        assert_eq!(s.get(b"k").map(|e| e.value.clone()), Some(b"one".to_vec()));
        s.set(b"k", b"two", None, false);
        assert_eq!(s.get(b"k").map(|e| e.value.clone()), Some(b"two".to_vec()));
        assert!(s.remove(b"k"));
        assert!(!s.remove(b"k"));
        assert!(s.get(b"k").is_none());
    }

    #[test]
    fn expired_keys_read_as_absent_and_are_swept() {
        let store = Store::new(2);
        let past = Instant::now();
        for i in 0..100u32 {
            let k = i.to_string();
            store
                .shard(k.as_bytes())
                .set(k.as_bytes(), b"v", Some(past), false);
        }
        store
            .shard(b"kept")
            .set(b"kept", b"v", Some(past + Duration::from_secs(3600)), false);
        store.shard(b"plain").set(b"plain", b"v", None, false);
        assert!(store.shard(b"7").get(b"7").is_none());
        assert_eq!(store.sweep(10), 20, "bounded: 10 per shard");
        assert_eq!(store.sweep(1000), 80);
        let total: usize = store.each_shard().map(|s| s.len()).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn a_changed_deadline_is_not_swept_by_its_old_one() {
        let store = Store::new(1);
        let mut s = store.shard(b"k");
        s.set(b"k", b"v", Some(Instant::now()), false);
        s.set(b"k", b"v", None, false);
        drop(s);
        assert_eq!(store.sweep(100), 0);
        assert!(store.shard(b"k").get(b"k").is_some());
    }

    #[test]
    fn stale_deadlines_do_not_pile_up() {
        let store = Store::new(1);
        let later = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            store.shard(b"k").set(b"k", b"v", Some(later), false);
        }
        let (keys, deadlines) = {
            let s = store.shard(b"k");
            (s.len(), s.deadlines.len())
        };
        assert!(
            deadlines <= 2 * keys + 64 + 1,
            "{deadlines} deadlines for {keys} key"
        );
    }

    #[test]
    fn one_shard_and_odd_counts_work() {
        assert_eq!(Store::new(0).shards.len(), 1);
        assert_eq!(Store::new(1).shards.len(), 1);
        assert_eq!(Store::new(20).shards.len(), 32);
    }
}
