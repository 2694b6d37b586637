//! The values a key can hold, one variant per Redis type.

use std::collections::{HashMap, HashSet, VecDeque};

use std::mem::size_of;

use revio::Bytes;

use super::zset::ZSet;

/// A string this long or longer is kept as a shared buffer ([`Value::Shared`]):
/// GET replies send it from the store without copying it (revio's
/// `Output::write_shared`), and the reply holds a reference, not the shard.
pub const SHARE_FROM: usize = 16 * 1024;

/// How many elements of an aggregate [`Value::heap_bytes`] measures.
pub const SAMPLES: usize = 5;

/// `len` elements whose first few have the sizes `sizes`: their total, estimated.
pub fn sampled(len: usize, sizes: impl Iterator<Item = usize>) -> usize {
    let (n, sum) = sizes.take(SAMPLES).fold((0, 0), |(n, s), x| (n + 1, s + x));
    (sum * len).checked_div(n).unwrap_or(0)
}

/// A key's value. Aggregates are never empty: the command that takes their
/// last element removes the key, as Redis does.
#[derive(Debug)]
pub enum Value {
    /// A string (binary-safe). Overwriting reuses this buffer.
    Str(Vec<u8>),
    /// A string of at least [`SHARE_FROM`] bytes, as SET stored it: read
    /// without a copy; a command that changes it first makes it a `Str`.
    Shared(Bytes),
    /// A list.
    List(VecDeque<Box<[u8]>>),
    /// A set.
    Set(HashSet<Box<[u8]>>),
    /// A hash: field to value.
    Hash(HashMap<Box<[u8]>, Box<[u8]>>),
    /// A sorted set.
    ZSet(ZSet),
}

impl Value {
    /// A string value for `bytes`: shared from [`SHARE_FROM`] bytes on.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() >= SHARE_FROM {
            Value::Shared(Bytes::copy_from_slice(bytes))
        } else {
            Value::Str(bytes.to_vec())
        }
    }

    /// A string's bytes, whichever way it is held.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            Value::Shared(b) => Some(b),
            _ => None,
        }
    }

    /// A string to change in place: a shared one becomes an owned copy
    /// first (the replies still sending it keep their reference).
    pub fn as_str_mut(&mut self) -> Option<&mut Vec<u8>> {
        if let Value::Shared(b) = self {
            *self = Value::Str(b.to_vec());
        }
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The name TYPE replies.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Shared(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
        }
    }

    /// An estimate of the heap bytes the value holds (its `Entry` is
    /// counted by the table): a string's buffer; an aggregate's slots
    /// (capacity times the slot's size) plus its elements' bytes, measured
    /// on the first [`SAMPLES`] elements and scaled to their number, as
    /// Redis's `MEMORY USAGE` samples 5. O(1) per value.
    pub fn heap_bytes(&self) -> usize {
        let boxed = size_of::<Box<[u8]>>();
        match self {
            Value::Str(s) => s.capacity(),
            Value::Shared(b) => b.len(),
            Value::List(l) => l.capacity() * boxed + sampled(l.len(), l.iter().map(|e| e.len())),
            Value::Set(s) => s.capacity() * (boxed + 1) + sampled(s.len(), s.iter().map(|e| e.len())),
            Value::Hash(h) => {
                h.capacity() * (2 * boxed + 1) + sampled(h.len(), h.iter().map(|(f, v)| f.len() + v.len()))
            }
            Value::ZSet(z) => z.heap_bytes(),
        }
    }

    /// Whether an aggregate has no element left (the key must go).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) | Value::Shared(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}
