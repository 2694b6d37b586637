//! The values a key can hold, one variant per Redis type.

use std::collections::{HashMap, HashSet, VecDeque};

use super::zset::ZSet;

/// A key's value. Aggregates are never empty: the command that takes their
/// last element removes the key, as Redis does.
#[derive(Debug)]
pub enum Value {
    /// A string (binary-safe). Overwriting reuses this buffer.
    Str(Vec<u8>),
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
    /// The name TYPE replies.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
        }
    }

    /// Whether an aggregate has no element left (the key must go).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}
