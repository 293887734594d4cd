//! A set of 128-bit `event_id` digests for duplicate detection.
//!
//! Open addressing with linear probing over one flat array: a lookup touches one cache line
//! (four slots) in nearly every case, where a general hash set touches two (control bytes and
//! bucket). Replay keeps every id (SPEC section 5), so this set is the largest structure of a
//! replay and its cache misses the largest cost per event.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Digest 0 marks an empty slot; the one real digest 0 (odds 2^-128) is stored as 1.
const EMPTY: u128 = 0;

#[derive(Debug, Clone, Default)]
pub struct IdSet {
    slots: Vec<u128>,
    len: usize,
}

impl IdSet {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Adds a digest; false when it was there already.
    pub fn insert(&mut self, digest: u128) -> bool {
        let digest = if digest == EMPTY { 1 } else { digest };
        // Grow at a load of 3/4.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (digest as usize) & mask;
        loop {
            let slot = self.slots[i];
            if slot == digest {
                return false;
            }
            if slot == EMPTY {
                self.slots[i] = digest;
                self.len += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    pub fn contains(&self, digest: u128) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let digest = if digest == EMPTY { 1 } else { digest };
        let mask = self.slots.len() - 1;
        let mut i = (digest as usize) & mask;
        loop {
            match self.slots[i] {
                EMPTY => return false,
                slot if slot == digest => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Starts loading the slot of `digest` into the cache, so that a later `insert` of a batch
    /// of ids does not wait on memory for each in turn.
    pub fn prefetch(&self, digest: u128) {
        if self.slots.is_empty() {
            return;
        }
        let slot = &self.slots[(digest as usize) & (self.slots.len() - 1)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults and changes no memory; the address is
        // in bounds anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const u128).cast(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; capacity]);
        self.len = 0;
        for digest in old.into_iter().filter(|&d| d != EMPTY) {
            self.insert(digest);
        }
    }

    fn digests(&self) -> impl Iterator<Item = u128> + '_ {
        self.slots.iter().copied().filter(|&d| d != EMPTY)
    }
}

impl Serialize for IdSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.digests())
    }
}

impl<'de> Deserialize<'de> for IdSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let digests = Vec::<u128>::deserialize(deserializer)?;
        let mut set = IdSet::default();
        for digest in digests {
            set.insert(digest);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_and_finds_across_growth() {
        let mut set = IdSet::default();
        let digest = |i: u128| (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        for i in 0..10_000u128 {
            assert!(set.insert(digest(i)));
        }
        for i in 0..10_000u128 {
            assert!(!set.insert(digest(i)));
            assert!(set.contains(digest(i)));
        }
        assert!(!set.contains(digest(10_001)));
        assert_eq!(set.len(), 10_000);
        // Colliding low bits probe on.
        assert!(set.insert(1 << 100));
        assert!(set.insert(2 << 100));
        assert!(set.contains(1 << 100) && set.contains(2 << 100));
        // Zero is a digest like any other.
        assert!(set.insert(0));
        assert!(!set.insert(0));
    }

    #[test]
    fn survives_serde() {
        let mut set = IdSet::default();
        for i in 1..100u128 {
            set.insert(i << 64 | i);
        }
        let copy: IdSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(copy.len(), 99);
        assert!((1..100u128).all(|i| copy.contains(i << 64 | i)));
    }
}
