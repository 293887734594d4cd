//! Duplicate detection within the `dedup_window` (SPEC section 5): the `event_id`s of one
//! worker seen recently, each remembered until the watermark passes its event's `ts` plus the
//! window.
//!
//! An id is stored as a 64-bit digest of (`worker_id`, `event_id`) with its expiry, in one
//! flat open-addressing table (a lookup touches one cache line in nearly every case) and a
//! min-heap of expiries that forgets them in event-time order. Memory is therefore bounded by
//! the events within the window, whatever the input: about 40 bytes an id.
//!
//! A 64-bit digest can collide: with a million ids in the window, the odds that a new event
//! is taken for a duplicate it is not are about one in 10^13 per event.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::Xxh3;

use super::buffer::MinQueue;

/// Digest 0 marks an empty slot; the one real digest 0 is stored as 1.
const EMPTY: u64 = 0;

/// The digest duplicate detection keeps for an event: its worker and its `event_id`.
pub fn id_digest(worker_id: &str, event_id: &str) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&(worker_id.len() as u64).to_le_bytes());
    hasher.update(worker_id.as_bytes());
    hasher.update(event_id.as_bytes());
    match hasher.digest() {
        EMPTY => 1,
        digest => digest,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Dedup {
    /// (digest, expiry); digest `EMPTY` is a free slot.
    slots: Vec<(u64, i64)>,
    len: usize,
    /// (expiry, digest), earliest first; an entry whose expiry no longer matches the table's
    /// (the id was seen again after it expired) is skipped. Expiries follow `ts`, which is
    /// nearly sorted: the queue appends most of them in O(1).
    queue: MinQueue<(i64, u64)>,
}

impl Dedup {
    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Forgets every id whose expiry the watermark has passed (`expiry < watermark`).
    pub fn expire(&mut self, watermark: i64) {
        while let Some(&(expiry, digest)) = self.queue.peek() {
            if expiry >= watermark {
                break;
            }
            self.queue.pop();
            if let Some(i) = self.find(digest)
                && self.slots[i].1 == expiry
            {
                self.remove_at(i);
            }
        }
        // Shrink after a burst, so that memory follows the window down again.
        if self.slots.len() > 1024 && self.len * 8 < self.slots.len() {
            self.rebuild(self.len * 2);
        }
    }

    /// Records `digest` until `expiry`; false when it is remembered already (a duplicate).
    /// Call [`Dedup::expire`] first with the current watermark.
    pub fn insert(&mut self, digest: u64, expiry: i64) -> bool {
        if self.find(digest).is_some() {
            return false;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.slots.len() * 2).max(64));
        }
        self.put(digest, expiry);
        self.queue.push((expiry, digest));
        true
    }

    /// Starts loading the slot of `digest` into the cache (replay batches its lookups).
    pub fn prefetch(&self, digest: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot = &self.slots[(digest as usize) & (self.slots.len() - 1)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults and changes no memory; the address is
        // in bounds anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const (u64, i64)).cast(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    fn find(&self, digest: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (digest as usize) & mask;
        loop {
            match self.slots[i].0 {
                EMPTY => return None,
                d if d == digest => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn put(&mut self, digest: u64, expiry: i64) {
        let mask = self.slots.len() - 1;
        let mut i = (digest as usize) & mask;
        while self.slots[i].0 != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = (digest, expiry);
        self.len += 1;
    }

    /// Linear-probing deletion by backward shift: no tombstones, so lookups stay short.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        self.slots[hole] = (EMPTY, 0);
        self.len -= 1;
        let mut i = (hole + 1) & mask;
        while self.slots[i].0 != EMPTY {
            let home = (self.slots[i].0 as usize) & mask;
            // The entry at `i` may move into the hole when its home is not in (hole, i].
            let distance_to_i = i.wrapping_sub(home) & mask;
            let distance_to_hole = hole.wrapping_sub(home) & mask;
            if distance_to_hole < distance_to_i {
                self.slots[hole] = self.slots[i];
                self.slots[i] = (EMPTY, 0);
                hole = i;
            }
            i = (i + 1) & mask;
        }
    }

    fn rebuild(&mut self, capacity: usize) {
        let capacity = capacity.next_power_of_two().max(64);
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, 0); capacity]);
        self.len = 0;
        for (digest, expiry) in old.into_iter().filter(|&(d, _)| d != EMPTY) {
            self.put(digest, expiry);
        }
        // Drop queue entries of ids no longer in the table.
        let mut queue = std::mem::take(&mut self.queue);
        queue.retain(|&(expiry, digest)| {
            self.find(digest).is_some_and(|i| self.slots[i].1 == expiry)
        });
        self.queue = queue;
    }

    fn entries(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.slots.iter().copied().filter(|&(d, _)| d != EMPTY)
    }
}

impl Serialize for Dedup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(u64, i64)> = self.entries().collect();
        entries.sort_unstable();
        serializer.collect_seq(entries)
    }
}

impl<'de> Deserialize<'de> for Dedup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<(u64, i64)>::deserialize(deserializer)?;
        let mut set = Dedup::default();
        for (digest, expiry) in entries {
            set.insert(digest, expiry);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(i: u64) -> u64 {
        (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn inserts_finds_and_forgets_in_expiry_order() {
        let mut set = Dedup::default();
        for i in 0..10_000u64 {
            assert!(set.insert(digest(i), i as i64));
        }
        for i in 0..10_000u64 {
            assert!(!set.insert(digest(i), 0), "{i}");
        }
        assert_eq!(set.len(), 10_000);
        // Expiry 4999 is kept while the watermark is 4999 (not passed), forgotten at 5000.
        set.expire(4999);
        assert_eq!(set.len(), 5001);
        assert!(
            set.insert(digest(4998), 30_000),
            "expiry 4998 < watermark 4999: forgotten"
        );
        assert!(!set.insert(digest(4999), 0));
        set.expire(5000);
        assert!(set.insert(digest(4999), 20_000), "forgotten, so new again");
        assert!(!set.insert(digest(5000), 0));
        set.expire(i64::MAX);
        assert_eq!(set.len(), 0);
        assert!(set.slots.len() <= 1024);
    }

    #[test]
    fn colliding_home_slots_survive_deletions() {
        let mut set = Dedup::default();
        // Same low bits: one probe chain.
        let ds: Vec<u64> = (1..200u64).map(|i| i << 40 | 5).collect();
        for (i, &d) in ds.iter().enumerate() {
            assert!(set.insert(d, i as i64));
        }
        set.expire(100);
        for (i, &d) in ds.iter().enumerate() {
            let present = set.find(d).is_some();
            assert_eq!(present, i >= 100, "{i}");
        }
    }

    #[test]
    fn digests_scope_ids_per_worker() {
        assert_ne!(id_digest("w1", "e1"), id_digest("w2", "e1"));
        assert_ne!(id_digest("w1", "e1"), id_digest("w1e", "1"));
        assert_eq!(id_digest("w1", "e1"), id_digest("w1", "e1"));
    }

    #[test]
    fn survives_serde() {
        let mut set = Dedup::default();
        for i in 1..100u64 {
            set.insert(digest(i), i as i64 * 10);
        }
        let copy: Dedup = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(copy.len(), 99);
        let mut copy = copy;
        copy.expire(500);
        assert_eq!(copy.len(), 99 - 49);
    }
}
