//! A hierarchical timer wheel: one entry per connection slot, armed, moved and
//! cancelled in O(1), with no allocation once the node table has grown to the
//! number of slots.
//!
//! Time is in milliseconds since the loop started. Six levels of 64 slots
//! each cover 64^6 ms (about 795 days): level 0 has one slot per millisecond
//! of the current 64 ms window, level 1 one per 64 ms of the current 4 s, and
//! so on. An entry sits in the lowest level whose window contains its
//! expiry; when the wheel reaches a higher-level slot, its entries cascade to
//! lower levels, so each entry moves at most five times. Finding the next
//! expiry reads one 64-bit occupancy mask per level.
//!
//! Entries further ahead than the wheel spans are placed at its far end: they
//! fire early, and the owner re-arms them (the loop re-checks every expiry).

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const BITS: u32 = 6;
const NIL: u32 = u32::MAX;
const NOWHERE: u16 = u16::MAX;
/// The furthest ahead an entry is placed.
const SPAN: u64 = (1 << (BITS * LEVELS as u32)) - 1;

/// One entry, intrusively linked into its slot's list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    when: u64,
    next: u32,
    prev: u32,
    /// Free for the owner: the loop keeps a connection's deadline here.
    pub(crate) tag: u32,
    /// `level * SLOTS + slot`, or `NOWHERE` when not armed.
    bucket: u16,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            when: 0,
            next: NIL,
            prev: NIL,
            tag: 0,
            bucket: NOWHERE,
        }
    }
}

pub(crate) struct Wheel {
    /// Everything before this time has been processed.
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    nodes: Vec<Node>,
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            nodes: Vec::new(),
        }
    }

    /// The node of entry `id` (growing the table to hold it).
    pub(crate) fn node(&mut self, id: usize) -> &mut Node {
        if self.nodes.len() <= id {
            self.nodes.resize(id + 1, Node::default());
        }
        &mut self.nodes[id]
    }

    /// The owner's tag of entry `id` (0 if it never had a node).
    pub(crate) fn tag(&self, id: usize) -> u32 {
        self.nodes.get(id).map_or(0, |n| n.tag)
    }

    /// When entry `id` is armed for, if it is.
    #[cfg(test)]
    pub(crate) fn armed(&self, id: usize) -> Option<u64> {
        self.nodes.get(id).filter(|n| n.bucket != NOWHERE).map(|n| n.when)
    }

    /// Arms (or re-arms) entry `id` to fire at `when` (a time already past
    /// fires at the next [`Wheel::expire`]).
    pub(crate) fn arm(&mut self, id: usize, when: u64) {
        self.disarm(id);
        let when = when.clamp(self.elapsed, self.elapsed + SPAN);
        self.node(id).when = when;
        self.link(id as u32, when);
    }

    /// Cancels entry `id` (no-op if it is not armed).
    pub(crate) fn disarm(&mut self, id: usize) {
        let Some(n) = self.nodes.get(id).copied() else {
            return;
        };
        if n.bucket == NOWHERE {
            return;
        }
        let (level, slot) = (n.bucket as usize / SLOTS, n.bucket as usize % SLOTS);
        match n.prev {
            NIL => self.heads[level][slot] = n.next,
            p => self.nodes[p as usize].next = n.next,
        }
        if n.next != NIL {
            self.nodes[n.next as usize].prev = n.prev;
        }
        if self.heads[level][slot] == NIL {
            self.occupied[level] &= !(1 << slot);
        }
        let node = &mut self.nodes[id];
        node.next = NIL;
        node.prev = NIL;
        node.bucket = NOWHERE;
    }

    fn link(&mut self, id: u32, when: u64) {
        let level = level_for(self.elapsed, when);
        let slot = ((when >> (BITS * level as u32)) as usize) % SLOTS;
        let head = self.heads[level][slot];
        if head != NIL {
            self.nodes[head as usize].prev = id;
        }
        let node = &mut self.nodes[id as usize];
        node.next = head;
        node.prev = NIL;
        node.bucket = (level * SLOTS + slot) as u16;
        self.heads[level][slot] = id;
        self.occupied[level] |= 1 << slot;
    }

    /// The earliest time at which [`Wheel::expire`] has work (an entry fires
    /// or cascades), if any entry is armed.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        (0..LEVELS).find_map(|level| self.next_in_level(level).map(|(_, at)| at))
    }

    /// The next occupied slot of `level` and the time it starts.
    fn next_in_level(&self, level: usize) -> Option<(usize, u64)> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let slot_span = 1u64 << (BITS * level as u32);
        let level_span = slot_span << BITS;
        let now_slot = ((self.elapsed / slot_span) % SLOTS as u64) as u32;
        let slot = ((occupied.rotate_right(now_slot).trailing_zeros() + now_slot) % SLOTS as u32) as usize;
        let mut at = (self.elapsed & !(level_span - 1)) + slot as u64 * slot_span;
        if at < self.elapsed & !(slot_span - 1) {
            at += level_span;
        }
        Some((slot, at.max(self.elapsed)))
    }

    /// Advances to `now`, disarming every entry due by then and appending its
    /// id to `fired`.
    pub(crate) fn expire(&mut self, now: u64, fired: &mut Vec<usize>) {
        while let Some((level, slot, at)) =
            (0..LEVELS).find_map(|level| self.next_in_level(level).map(|(slot, at)| (level, slot, at)))
        {
            if at > now {
                break;
            }
            self.elapsed = at;
            let mut id = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level] &= !(1 << slot);
            while id != NIL {
                let node = &mut self.nodes[id as usize];
                let (next, when) = (node.next, node.when);
                node.next = NIL;
                node.prev = NIL;
                node.bucket = NOWHERE;
                if when <= now && (level == 0 || when <= at) {
                    fired.push(id as usize);
                } else {
                    // Cascade to a lower level.
                    self.link(id, when.max(self.elapsed));
                }
                id = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }
}

/// The level whose window, seen from `elapsed`, holds `when`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let differing = (elapsed ^ when) | (SLOTS as u64 - 1);
    let top = 63 - differing.leading_zeros();
    ((top / BITS) as usize).min(LEVELS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(w: &mut Wheel, now: u64) -> Vec<usize> {
        let mut v = Vec::new();
        w.expire(now, &mut v);
        v.sort();
        v
    }

    #[test]
    fn fires_each_entry_at_its_time_and_not_before() {
        let mut w = Wheel::new();
        let times = [
            0u64, 1, 5, 63, 64, 65, 100, 4095, 4096, 5000, 262_143, 262_144, 10_000_000,
        ];
        for (i, &t) in times.iter().enumerate() {
            w.arm(i, t);
        }
        let mut fired_at = vec![None; times.len()];
        let mut now = 0;
        while fired_at.iter().any(Option::is_none) {
            let next = w.next_expiry().expect("entries left");
            assert!(next >= now, "the next expiry never goes back");
            now = next;
            for id in fire(&mut w, now) {
                assert!(fired_at[id].is_none());
                fired_at[id] = Some(now);
            }
        }
        for (i, &t) in times.iter().enumerate() {
            assert_eq!(fired_at[i], Some(t), "entry {i} armed for {t}");
        }
        assert_eq!(w.next_expiry(), None);
    }

    #[test]
    fn disarm_and_rearm() {
        let mut w = Wheel::new();
        w.arm(1, 10);
        w.arm(2, 10);
        w.arm(3, 10);
        w.disarm(2);
        w.arm(1, 500);
        assert_eq!(w.armed(2), None);
        assert_eq!(w.armed(1), Some(500));
        assert_eq!(fire(&mut w, 10), vec![3]);
        assert_eq!(fire(&mut w, 499), Vec::<usize>::new());
        assert_eq!(fire(&mut w, 1000), vec![1]);
    }

    #[test]
    fn late_expiry_fires_everything_due_at_once() {
        let mut w = Wheel::new();
        for i in 0..1000 {
            w.arm(i, (i as u64 * 37) % 20_000);
        }
        assert_eq!(fire(&mut w, 30_000).len(), 1000);
        // Armed in the past: fires at the next expiry.
        w.arm(7, 5);
        assert_eq!(fire(&mut w, 30_001), vec![7]);
    }

    #[test]
    fn far_future_entries_fire_early_at_the_wheels_end() {
        let mut w = Wheel::new();
        w.arm(0, u64::MAX);
        let at = w.next_expiry().unwrap();
        assert!(at <= SPAN);
        let mut v = Vec::new();
        w.expire(SPAN, &mut v);
        assert_eq!(v, vec![0]);
    }

    #[test]
    fn random_schedule_matches_a_sorted_list() {
        // A small deterministic generator: xorshift.
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut w = Wheel::new();
        let mut expect: Vec<Option<u64>> = vec![None; 200];
        let mut now = 0u64;
        for _ in 0..5000 {
            let id = (rnd() % 200) as usize;
            match rnd() % 4 {
                0 => {
                    w.disarm(id);
                    expect[id] = None;
                }
                _ => {
                    let t = now + rnd() % 300_000;
                    w.arm(id, t);
                    expect[id] = Some(t);
                }
            }
            now += rnd() % 2000;
            let mut fired = Vec::new();
            w.expire(now, &mut fired);
            for id in fired {
                let due = expect[id].take().expect("only armed entries fire");
                assert!(due <= now, "fired early: due {due}, now {now}");
            }
            for (id, e) in expect.iter().enumerate() {
                if let Some(due) = e {
                    assert!(*due > now, "entry {id} due {due} did not fire by {now}");
                }
            }
        }
    }
}
