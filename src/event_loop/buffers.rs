//! Spare byte buffers, reused so that connections hold a buffer only while they
//! have unconsumed input or queued output, and a warm loop allocates nothing.

/// A bounded stack of cleared buffers.
pub(crate) struct Pool {
    spare: Vec<Vec<u8>>,
    max_spare: usize,
    max_capacity: usize,
}

impl Pool {
    pub(crate) fn new(max_spare: usize, max_capacity: usize) -> Pool {
        Pool {
            spare: Vec::new(),
            max_spare,
            max_capacity,
        }
    }

    /// The largest capacity the pool keeps.
    pub(crate) fn max_capacity(&self) -> usize {
        self.max_capacity
    }

    /// An empty buffer, with capacity if one was returned earlier.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Takes `buf` back (cleared); keeps it if there is room and it is not huge.
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity || self.spare.len() >= self.max_spare {
            return;
        }
        buf.clear();
        self.spare.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::Pool;

    #[test]
    fn reuses_and_bounds() {
        let mut p = Pool::new(1, 16);
        let mut a = p.take();
        a.extend_from_slice(b"hello");
        let cap = a.capacity();
        p.give(a);
        let b = p.take();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), cap);
        p.give(vec![0; 100]); // too big: dropped
        assert_eq!(p.take().capacity(), 0);
    }
}
