//! A sorted set: members ordered by score, then by their bytes, with the
//! score of each member at hand. Scores are never NaN.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

/// A score with the total order Redis uses (-0 and 0 compare equal, and
/// NaN never gets in).
#[derive(Debug, Clone, Copy)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// The members in order, and each member's score.
#[derive(Debug, Default)]
pub struct ZSet {
    scores: HashMap<Box<[u8]>, f64>,
    order: BTreeSet<(Score, Box<[u8]>)>,
}

impl ZSet {
    /// The number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets the score of `member`, adding it if new; true if it was added.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self.scores.get_mut(member) {
            Some(old) => {
                let key = (Score(*old), Box::<[u8]>::from(member));
                self.order.remove(&key);
                *old = score;
                self.order.insert((Score(score), key.1));
                false
            }
            None => {
                self.scores.insert(member.into(), score);
                self.order.insert((Score(score), member.into()));
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.order.remove(&(Score(score), Box::from(member))),
            None => false,
        }
    }

    /// Removes and returns the member with the lowest score.
    pub fn pop_min(&mut self) -> Option<(Box<[u8]>, f64)> {
        let (score, member) = self.order.pop_first()?;
        self.scores.remove(&member);
        Some((member, score.0))
    }

    /// An estimate of its heap bytes: the score map's slots, the ordered
    /// set's elements (a B-tree node holds up to 11, with some room left:
    /// counted as half again their size), and each member's bytes twice
    /// (they are held by both), sampled.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let slot = size_of::<(Box<[u8]>, f64)>() + 1;
        let node = size_of::<(Score, Box<[u8]>)>() * 3 / 2;
        let members = super::value::sampled(self.len(), self.scores.keys().map(|m| 2 * m.len()));
        self.scores.capacity() * slot + self.len() * node + members
    }

    /// The members in order, from the lowest score.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + ExactSizeIterator {
        self.order.iter().map(|(s, m)| (&m[..], s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_by_score_then_member() {
        let mut z = ZSet::default();
        assert!(z.insert(b"b", 1.0));
        assert!(z.insert(b"a", 1.0));
        assert!(z.insert(b"c", 0.5));
        assert!(!z.insert(b"c", 2.0), "an update is not an addition");
        let order: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(
            order,
            [(b"a".to_vec(), 1.0), (b"b".to_vec(), 1.0), (b"c".to_vec(), 2.0)]
        );
        assert_eq!(z.pop_min(), Some((Box::from(&b"a"[..]), 1.0)));
        assert!(z.remove(b"c"));
        assert!(!z.remove(b"c"));
        assert_eq!(z.len(), 1);
        assert_eq!(z.score(b"b"), Some(1.0));
    }
}
