//! The keyspace, shared by every loop and split into shards, each behind its
//! own lock, picked by the key's hash: loops serving different keys rarely
//! meet on a lock.
//!
//! Commands never lock: the dispatcher locks every shard a command (or a
//! whole MULTI/EXEC transaction) touches, in ascending order so that two
//! loops can never wait on each other, and holds them while it runs. So
//! MSET, RENAME and EXEC are atomic for every other loop.

mod hash;
mod shard;
mod table;
pub mod value;
pub mod zset;

use std::sync::{Mutex, MutexGuard};

use hash::{KeyHasher, shard_of};

pub use shard::{Entry, Shard, Stamp, now_ms};
pub use value::Value;

/// The whole keyspace: a power-of-two number of shards.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    /// The one keyed hash of every key: it picks the shard, and each
    /// shard's table reuses it (see `hash.rs`).
    hasher: KeyHasher,
}

/// Shards held locked for one command or transaction.
pub struct Locked<'a> {
    mask: usize,
    hasher: &'a KeyHasher,
    guards: Guards<'a>,
}

enum Guards<'a> {
    None,
    /// The common case: one key, one shard, nothing allocated.
    One(usize, MutexGuard<'a, Shard>),
    /// Indexed by shard; `None` for shards not locked.
    Many(Vec<Option<MutexGuard<'a, Shard>>>),
}

impl Store {
    /// A store with `shards` locks (rounded up to a power of two; 1 gives
    /// one lock for everything).
    pub fn new(shards: usize) -> Store {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let hasher = KeyHasher::new();
        Store {
            shards: (0..n).map(|_| Mutex::new(Shard::new(hasher.clone()))).collect(),
            hasher,
        }
    }

    /// The number of shards.
    #[cfg(test)]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard that holds `key`.
    pub fn index(&self, key: &[u8]) -> usize {
        shard_of(self.hasher.hash(key), self.shards.len() - 1)
    }

    /// Locks nothing (a command without keys).
    pub fn lock_none(&self) -> Locked<'_> {
        Locked {
            mask: self.shards.len() - 1,
            hasher: &self.hasher,
            guards: Guards::None,
        }
    }

    /// Locks the shard of `key`.
    pub fn lock_one(&self, key: &[u8]) -> Locked<'_> {
        let i = self.index(key);
        Locked {
            mask: self.shards.len() - 1,
            hasher: &self.hasher,
            guards: Guards::One(i, lock(&self.shards[i])),
        }
    }

    /// Locks the shards whose indexes are in `wanted` (a sorted list
    /// without repeats), in ascending order.
    pub fn lock_many(&self, wanted: &[usize]) -> Locked<'_> {
        let mut guards: Vec<Option<MutexGuard<'_, Shard>>> = (0..self.shards.len()).map(|_| None).collect();
        for &i in wanted {
            guards[i] = Some(lock(&self.shards[i]));
        }
        Locked {
            mask: self.shards.len() - 1,
            hasher: &self.hasher,
            guards: Guards::Many(guards),
        }
    }

    /// Locks every shard, in ascending order.
    pub fn lock_all(&self) -> Locked<'_> {
        let all: Vec<usize> = (0..self.shards.len()).collect();
        self.lock_many(&all)
    }

    /// The active expiry sweep: drops up to `budget_per_shard` expired keys
    /// in each shard, locking one shard at a time; returns how many it dropped.
    pub fn sweep(&self, budget_per_shard: usize) -> usize {
        let now = now_ms();
        self.shards
            .iter()
            .map(|s| lock(s).sweep(now, budget_per_shard))
            .sum()
    }
}

impl Locked<'_> {
    /// The shard of `key`, which must be among the locked ones: the
    /// dispatcher locks what the command table says each command touches.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = shard_of(self.hasher.hash(key), self.mask);
        let found = match &mut self.guards {
            Guards::One(j, g) if *j == i => Some(&mut **g),
            Guards::Many(gs) => gs[i].as_deref_mut(),
            _ => None,
        };
        match found {
            Some(s) => s,
            None => panic!("command table: a key of this command was not locked"),
        }
    }

    /// SCAN over every shard, which must all be locked. The cursor's low
    /// bits (as many as pick a shard) name the shard, the rest is that
    /// shard's bucket cursor (see `table.rs`): shards are walked one after
    /// the other, each with Redis's reverse-binary cursor, so the SCAN
    /// guarantee holds for the whole keyspace. Visits buckets until `count`
    /// keys were seen or `10 * count` buckets were visited (Redis's bound on
    /// one call's work), passing each key to `visit` (expired ones too);
    /// returns the next cursor, 0 once every shard is done.
    pub fn scan(&mut self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let bits = self.mask.count_ones();
        let mut shard = (cursor as usize) & self.mask;
        let mut v = cursor >> bits;
        let (mut seen, mut steps) = (0, 0);
        let Guards::Many(guards) = &self.guards else {
            panic!("command table: SCAN must lock every shard");
        };
        loop {
            let Some(s) = guards[shard].as_deref() else {
                panic!("command table: SCAN must lock every shard");
            };
            v = s.scan(v, |k, e| {
                seen += 1;
                visit(k, e);
            });
            if v == 0 {
                shard += 1;
                if shard > self.mask {
                    return 0;
                }
            }
            steps += 1;
            if seen >= count || steps >= count.saturating_mul(10) {
                return (v << bits) | shard as u64;
            }
        }
    }

    /// Every locked shard (all of them for the commands that lock all).
    pub fn all(&mut self) -> impl Iterator<Item = &mut Shard> {
        let v: Vec<&mut Shard> = match &mut self.guards {
            Guards::None => Vec::new(),
            Guards::One(_, g) => vec![&mut **g],
            Guards::Many(gs) => gs.iter_mut().flatten().map(|g| &mut **g).collect(),
        };
        v.into_iter()
    }
}

/// A poisoned lock means a handler panicked mid-update of one key; the map
/// itself is still sound, so carry on with it.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &mut Shard, key: &[u8]) -> Option<Vec<u8>> {
        match s.get(key).map(|e| &e.value) {
            Some(v) => v.as_str().map(<[u8]>::to_vec),
            _ => None,
        }
    }

    #[test]
    fn set_get_overwrite_remove() {
        let store = Store::new(4);
        let mut l = store.lock_one(b"k");
        let s = l.shard(b"k");
        s.set(b"k", b"one", None, false);
        assert_eq!(string(s, b"k"), Some(b"one".to_vec()));
        s.set(b"k", b"two", None, false);
        assert_eq!(string(s, b"k"), Some(b"two".to_vec()));
        assert!(s.remove(b"k"));
        assert!(!s.remove(b"k"));
        assert!(s.get(b"k").is_none());
    }

    #[test]
    fn expired_keys_read_as_absent_and_are_swept() {
        let store = Store::new(2);
        let past = now_ms() - 1;
        let mut all = store.lock_all();
        for i in 0..100u32 {
            let k = i.to_string();
            all.shard(k.as_bytes()).set(k.as_bytes(), b"v", Some(past), false);
        }
        all.shard(b"kept")
            .set(b"kept", b"v", Some(past + 3_600_000), false);
        all.shard(b"plain").set(b"plain", b"v", None, false);
        assert!(all.shard(b"7").get(b"7").is_none());
        drop(all);
        assert_eq!(store.sweep(10), 20, "bounded: 10 per shard");
        assert_eq!(store.sweep(1000), 79, "one was dropped when read");
        let total: usize = store.lock_all().all().map(|s| s.len()).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn a_changed_deadline_is_not_swept_by_its_old_one() {
        let store = Store::new(1);
        let mut l = store.lock_one(b"k");
        l.shard(b"k").set(b"k", b"v", Some(now_ms()), false);
        l.shard(b"k").set(b"k", b"v", None, false);
        drop(l);
        assert_eq!(store.sweep(100), 0);
        assert!(store.lock_one(b"k").shard(b"k").get(b"k").is_some());
    }

    #[test]
    fn stale_deadlines_do_not_pile_up() {
        let store = Store::new(1);
        let later = now_ms() + 3_600_000;
        let mut l = store.lock_one(b"k");
        for _ in 0..10_000 {
            l.shard(b"k").set(b"k", b"v", Some(later), false);
        }
        let s = l.shard(b"k");
        assert!(
            s.deadlines() <= 2 * s.len() + 64 + 1,
            "{} deadlines",
            s.deadlines()
        );
    }

    #[test]
    fn watched_keys_change_version_on_every_change() {
        let store = Store::new(1);
        let mut l = store.lock_one(b"k");
        let s = l.shard(b"k");
        let v0 = s.watch(b"k");
        s.set(b"k", b"v", None, false);
        assert_ne!(s.stamp(b"k"), v0);
        let v1 = s.stamp(b"k");
        assert!(!s.remove(b"other"));
        assert_eq!(s.stamp(b"k"), v1, "other keys do not count");
        s.clear();
        assert_ne!(s.stamp(b"k"), v1, "FLUSHALL touches a watched key that existed");
        s.set(b"k", b"v", Some(now_ms() - 1), false);
        let v2 = s.stamp(b"k");
        assert!(s.get(b"k").is_none());
        assert_eq!(s.stamp(b"k").changes, v2.changes, "an expiry is no change...");
        assert_ne!(s.stamp(b"k"), v2, "...but it is recorded");
        s.unwatch(b"k");
    }

    #[test]
    fn one_shard_and_odd_counts_work() {
        assert_eq!(Store::new(0).shard_count(), 1);
        assert_eq!(Store::new(1).shard_count(), 1);
        assert_eq!(Store::new(20).shard_count(), 32);
    }
}
