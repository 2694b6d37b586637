//! One shard of the keyspace: its keys, their deadlines, and the versions of
//! its WATCHed keys. A shard is only ever reached through its lock (see
//! `store/mod.rs`), so nothing here synchronizes.
//!
//! Expiry is lazy (an expired key reads as absent and is dropped when a
//! lookup meets it) plus an active sweep ([`Shard::sweep`]) that drops keys
//! whose deadline passed, a bounded number per call. Deadlines are unix
//! milliseconds, as Redis keeps them (EXPIREAT, EXPIRETIME).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::hash::KeyHasher;
use super::table::Table;
use std::time::{SystemTime, UNIX_EPOCH};

use super::value::{SHARE_FROM, Value};

/// The wall clock in unix milliseconds, as Redis's `mstime()`.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// [`Shard::expired`] over the watched keys alone.
fn expired(watched: &mut HashMap<Box<[u8]>, Watch>, key: &[u8]) {
    if watched.is_empty() {
        return;
    }
    if let Some(w) = watched.get_mut(key) {
        w.stamp.expiries += 1;
    }
}

/// A stored value and its deadline.
#[derive(Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// When the key expires (unix ms), if it does.
    pub expires: Option<i64>,
}

impl Entry {
    /// Whether the deadline is at or before `now` (unix ms).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|t| t <= now)
    }

    /// Whether the deadline has passed; reads the clock only for a key that
    /// has one (a clock read per command was 6% of a SET/GET profile).
    fn is_expired_now(&self) -> bool {
        self.expires.is_some_and(|t| t <= now_ms())
    }
}

/// A WATCHed key: how many clients watch it, and its [`Stamp`].
#[derive(Debug, Default)]
struct Watch {
    clients: usize,
    stamp: Stamp,
}

/// What happened to a WATCHed key, as two counters: its changes, and the
/// drops of it once expired (lazily, by the sweep, DEL or FLUSHALL). Redis
/// aborts EXEC on either, except that dropping a key that had already
/// expired when WATCH was called is no change (its `touchWatchedKey`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub changes: u64,
    pub expiries: u64,
}

/// Part of the keyspace.
#[derive(Debug, Default)]
pub struct Shard {
    map: Table,
    /// Deadlines in time order, for the sweep. Entries go stale when a key's
    /// deadline changes or the key goes; the sweep skips those, and the heap is
    /// rebuilt when stale entries outnumber the keys.
    deadlines: BinaryHeap<Reverse<(i64, Box<[u8]>)>>,
    watched: HashMap<Box<[u8]>, Watch>,
}

impl Shard {
    /// An empty shard whose table hashes with `hasher`.
    pub fn new(hasher: KeyHasher) -> Shard {
        Shard {
            map: Table::new(hasher),
            deadlines: BinaryHeap::new(),
            watched: HashMap::new(),
        }
    }

    /// The live entry for `key`; an expired one is dropped and reads as absent.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        self.get_mut(key).map(|e| &*e)
    }

    /// The live entry for `key`, to change in place: call [`Shard::touch`]
    /// when it is changed, [`Shard::remove`] when it is emptied.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        // One lookup: the entry, or its removal once expired.
        let Shard { map, watched, .. } = self;
        match map.get_or_remove(key, Entry::is_expired_now) {
            Ok(found) => found,
            Err(_expired) => {
                expired(watched, key);
                None
            }
        }
    }

    /// Whether `key` is there and live.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Records a change of `key` for the transactions that WATCH it.
    pub fn touch(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some(w) = self.watched.get_mut(key) {
            w.stamp.changes += 1;
        }
    }

    /// Records that `key`, expired, was dropped: the WATCHes of it taken
    /// while it was live now fail. Costs nothing while nothing is watched.
    fn expired(&mut self, key: &[u8]) {
        expired(&mut self.watched, key);
    }

    /// Stores `value` at `key` with the deadline `expires`, or with the
    /// key's current deadline when `keep_ttl`; a string value reuses the
    /// old buffer.
    pub fn set(&mut self, key: &[u8], value: &[u8], expires: Option<i64>, keep_ttl: bool) {
        self.touch(key);
        match self.map.get_mut(key) {
            Some(e) => {
                if !keep_ttl || e.is_expired_now() {
                    e.expires = expires;
                }
                match &mut e.value {
                    // Reuse the buffer unless it is far larger than what it
                    // now holds (or the value is to be shared).
                    Value::Str(s)
                        if value.len() < SHARE_FROM
                            && (s.capacity() <= 4096 || s.capacity() / 4 <= value.len()) =>
                    {
                        s.clear();
                        s.extend_from_slice(value);
                    }
                    other => *other = Value::string(value),
                }
            }
            None => {
                self.map.insert(
                    key,
                    Entry {
                        value: Value::string(value),
                        expires,
                    },
                );
            }
        }
        if let (Some(at), false) = (expires, keep_ttl) {
            self.push_deadline(key, at);
        }
    }

    /// Stores a new value of any type at `key` (no deadline).
    pub fn insert(&mut self, key: &[u8], value: Value) -> &mut Entry {
        self.touch(key);
        self.map.insert(key, Entry { value, expires: None })
    }

    /// Moves a whole entry in (RENAME), deadline included.
    pub fn put_entry(&mut self, key: &[u8], entry: Entry) {
        self.touch(key);
        if let Some(at) = entry.expires {
            self.push_deadline(key, at);
        }
        self.map.insert(key, entry);
    }

    /// Sets (or with `None` clears) the deadline of a live key; false if
    /// there is no such key.
    pub fn set_expiry(&mut self, key: &[u8], expires: Option<i64>) -> bool {
        let Some(e) = self.get_mut(key) else {
            return false;
        };
        e.expires = expires;
        self.touch(key);
        if let Some(at) = expires {
            self.push_deadline(key, at);
        }
        true
    }

    /// Removes `key` and returns its entry, if it was there and live.
    pub fn take(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        if e.is_expired_now() {
            self.expired(key);
            return None;
        }
        self.touch(key);
        Some(e)
    }

    /// Removes `key`; true if it was there and live.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.take(key).is_some()
    }

    /// Keys held, expired ones not yet dropped included (as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every live key and its entry, in no order.
    pub fn live(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        let now = now_ms();
        self.map.iter().filter(move |(_, e)| !e.is_expired(now))
    }

    /// One SCAN step over this shard (see `table.rs`): passes every key of
    /// one bucket to `visit`, expired ones included; returns the next
    /// cursor, 0 when the shard is done.
    pub fn scan(&self, cursor: u64, visit: impl FnMut(&[u8], &Entry)) -> u64 {
        self.map.scan(cursor, visit)
    }

    /// An estimate of the heap bytes this shard holds: its table (slots
    /// and key bytes), each value's own allocations (sampled for the large
    /// aggregates, see [`Value::heap_bytes`]) and the sweep's deadlines.
    /// Walks every key: O(keys), as INFO's keyspace count is.
    pub fn heap_bytes(&self) -> usize {
        let values: usize = self.map.iter().map(|(_, e)| e.value.heap_bytes()).sum();
        let deadline = std::mem::size_of::<Reverse<(i64, Box<[u8]>)>>();
        let keys: usize = self.deadlines.iter().map(|Reverse((_, k))| k.len()).sum();
        self.map.heap_bytes() + values + self.deadlines.capacity() * deadline + keys
    }

    /// Drops every key (FLUSHALL), touching the watched ones that existed
    /// (a watched key already expired counts as dropped once expired).
    pub fn clear(&mut self) {
        let now = now_ms();
        for (key, w) in self.watched.iter_mut() {
            match self.map.get(key) {
                Some(e) if e.is_expired(now) => w.stamp.expiries += 1,
                Some(_) => w.stamp.changes += 1,
                None => {}
            }
        }
        self.map.clear();
        self.deadlines.clear();
    }

    /// Starts watching `key` for one more client; returns its stamp.
    pub fn watch(&mut self, key: &[u8]) -> Stamp {
        let w = self.watched.entry(key.into()).or_default();
        w.clients += 1;
        w.stamp
    }

    /// One client stops watching `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.watched.get_mut(key) {
            w.clients -= 1;
            if w.clients == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// The stamp of a watched key (see [`Shard::watch`]).
    pub fn stamp(&self, key: &[u8]) -> Stamp {
        self.watched.get(key).map_or_else(Stamp::default, |w| w.stamp)
    }

    /// Whether `key` is held but past its deadline (not yet dropped).
    pub fn is_expired(&self, key: &[u8]) -> bool {
        self.map.get(key).is_some_and(Entry::is_expired_now)
    }

    fn push_deadline(&mut self, key: &[u8], at: i64) {
        if self.deadlines.len() > 2 * self.map.len() + 64 {
            self.deadlines = self
                .map
                .iter()
                .filter_map(|(k, e)| e.expires.map(|t| Reverse((t, Box::from(k)))))
                .collect();
        }
        self.deadlines.push(Reverse((at, key.into())));
    }

    /// Drops up to `budget` keys whose deadline has passed; returns how many.
    pub fn sweep(&mut self, now: i64, budget: usize) -> usize {
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
                self.expired(&key);
                dropped += 1;
            }
        }
        dropped
    }

    /// The number of deadlines in the sweep's heap (stale ones included).
    #[cfg(test)]
    pub fn deadlines(&self) -> usize {
        self.deadlines.len()
    }
}
