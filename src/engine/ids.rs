//! Duplicate detection within the `dedup_window` (SPEC section 5): the `event_id`s of one
//! worker seen recently, each remembered until the watermark passes its event's `ts` plus the
//! window.
//!
//! An id is stored as a 64-bit digest of (`worker_id`, `event_id`) with its expiry, in one
//! flat open-addressing table: a lookup touches one cache line in nearly every case, and an
//! entry whose expiry the watermark has passed no longer counts. Rebuilding the table when it
//! fills drops those, so memory is bounded by the events within the window, whatever the
//! input: 16 bytes a slot, at most twice the live ids between rebuilds.
//!
//! A 64-bit digest can collide: with a million ids in the window, the odds that a new event
//! is taken for a duplicate it is not are about one in 10^13 per event.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::Xxh3;

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
    /// (digest, expiry); digest `EMPTY` is a free slot. An entry whose expiry the watermark
    /// has passed is forgotten: it no longer matches, and its slot is reused or dropped when
    /// the table is rebuilt, so no queue of expiries is needed.
    slots: Vec<(u64, i64)>,
    /// Slots in use, expired ones included.
    occupied: usize,
}

impl Dedup {
    /// Ids held now (some may have expired since the last rebuild).
    pub fn len(&self) -> usize {
        self.occupied
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// Records `digest` until `expiry`; false when it is remembered already (a duplicate):
    /// an entry counts while the watermark has not passed its expiry (`expiry >= watermark`).
    pub fn insert(&mut self, digest: u64, expiry: i64, watermark: i64) -> bool {
        if (self.occupied + 1) * 4 > self.slots.len() * 3 {
            self.rebuild(watermark);
        }
        let mask = self.slots.len() - 1;
        let mut i = (digest as usize) & mask;
        let mut reusable = None;
        loop {
            let (slot, slot_expiry) = self.slots[i];
            if slot == EMPTY {
                break;
            }
            if slot == digest {
                if slot_expiry >= watermark {
                    return false;
                }
                self.slots[i].1 = expiry;
                return true;
            }
            if slot_expiry < watermark && reusable.is_none() {
                reusable = Some(i);
            }
            i = (i + 1) & mask;
        }
        match reusable {
            Some(at) => self.slots[at] = (digest, expiry),
            None => {
                self.slots[i] = (digest, expiry);
                self.occupied += 1;
            }
        }
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

    /// Drops the expired entries and sizes the table for twice the live ones: memory follows
    /// the ids within the window, up and down.
    fn rebuild(&mut self, watermark: i64) {
        let live = self
            .slots
            .iter()
            .filter(|&&(d, expiry)| d != EMPTY && expiry >= watermark)
            .count();
        let capacity = (live * 2 + 2).next_power_of_two().max(64);
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, 0); capacity]);
        self.occupied = 0;
        let mask = capacity - 1;
        for (digest, expiry) in old {
            if digest == EMPTY || expiry < watermark {
                continue;
            }
            let mut i = (digest as usize) & mask;
            while self.slots[i].0 != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (digest, expiry);
            self.occupied += 1;
        }
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
            set.insert(digest, expiry, i64::MIN);
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
    fn an_id_counts_until_the_watermark_passes_its_expiry() {
        let mut set = Dedup::default();
        for i in 0..10_000u64 {
            assert!(set.insert(digest(i), i as i64, 0));
        }
        for i in 0..10_000u64 {
            assert!(!set.insert(digest(i), 0, 0), "{i}");
        }
        // Expiry 4999 counts while the watermark is 4999, no more at 5000.
        assert!(!set.insert(digest(4999), 0, 4999));
        assert!(
            set.insert(digest(4999), 20_000, 5000),
            "forgotten, so new again"
        );
        assert!(!set.insert(digest(4999), 0, 5000), "and remembered anew");
        assert!(set.insert(digest(4998), 0, 4999));
        // Rebuilt as it fills: the expired go, memory follows the live ids.
        for i in 20_000..30_000u64 {
            set.insert(digest(i), i64::MAX, 100_000);
        }
        assert!(set.len() <= 10_003, "{}", set.len());
        assert!(!set.insert(digest(25_000), 0, i64::MAX - 1));
    }

    #[test]
    fn colliding_home_slots_reuse_expired_entries() {
        let mut set = Dedup::default();
        // Same low bits: one probe chain.
        let ds: Vec<u64> = (1..50u64).map(|i| i << 40 | 5).collect();
        for (i, &d) in ds.iter().enumerate() {
            assert!(set.insert(d, i as i64, 0));
        }
        for (i, &d) in ds.iter().enumerate() {
            // Watermark 25: the first 25 are forgotten, the rest remembered.
            assert_eq!(set.insert(d, 1_000, 25), i < 25, "{i}");
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
            set.insert(digest(i), i as i64 * 10, 0);
        }
        let mut copy: Dedup = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(copy.len(), 99);
        assert!(!copy.insert(digest(50), 0, 500));
        assert!(copy.insert(digest(49), 0, 500));
    }
}
