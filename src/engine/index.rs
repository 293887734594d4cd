//! The worker index: the slot of each worker held, found by its id (persons: by subject, a
//! person or a worker id standing for one, SPEC section 8).
//!
//! A flat table of 8-byte buckets with linear probing: a bucket holds the slot number and the
//! top 32 bits of the id's hash (its *tag*), which also place it (a bucket's home is the tag
//! scaled to the table), and a look-up compares the id with the one in the slot's [`Worker`]:
//! the worker already holds its id, so the index does not hold it again (a bucket with the id
//! took 32 bytes; memory per worker is a target). Every slot in the index must hold its worker
//! whenever the table is probed. A growth re-places the buckets by their tags alone.
//!
//! The tags let a batch of look-ups run in the index alone ([`WorkerIndex::candidate_by`]: a
//! table of 11 to 21 bytes a worker), each confirmed later by the one comparison of the id,
//! where the event reads its worker's line anyway: a look-up that read the worker's line
//! missed the cache at nearly every event of a replay. And a bucket's place follows from the
//! hash alone, so a batch can ask the cache for every look-up's bucket before the first
//! look-up ([`WorkerIndex::prefetch`]): hashbrown's table, used before, kept its control
//! bytes and its buckets apart (two dependent misses a look-up) and has no way to ask.
//!
//! Ids are hashed with a seed random per index ([`crate::keyed`]): a producer cannot choose
//! ids that collide, or that crowd one run of buckets. Nothing reads the table in its order
//! but [`WorkerIndex::slots`], whose callers sort.

use std::hash::BuildHasher;

use super::hint;
use super::worker::Worker;
use crate::keyed::KeyedState;

/// The hash of a subject: its id, and whether it is a person when keyed by subject.
fn hash(keyed: &KeyedState, persons: bool, person: bool, id: &str) -> u64 {
    if persons {
        keyed.hash_one((person, id))
    } else {
        keyed.hash_one(id)
    }
}

/// No bucket holds it: its slot would be `u32::MAX`, and 2^32 workers of 256 bytes would
/// take a terabyte.
const EMPTY: u64 = u64::MAX;

/// The smallest table, in buckets.
const MIN_BUCKETS: usize = 16;

/// A bucket: the slot in the low 32 bits, [`tag`] of the id's hash in the high ones.
fn entry(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot)
}

/// The top 32 bits of a hash: they place a bucket and are compared at a look-up.
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn slot_of(entry: u64) -> u32 {
    entry as u32
}

fn tag_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

/// Where a bucket of `tag` is looked for first in a table of `len` buckets (more than 0).
fn home(tag: u32, len: usize) -> usize {
    ((u64::from(tag) * len as u64) >> 32) as usize
}

/// The bucket after `i` in a probe of a table of `len` buckets: the table wraps around.
fn next(i: usize, len: usize) -> usize {
    if i + 1 == len { 0 } else { i + 1 }
}

#[derive(Debug, Clone, Default)]
pub struct WorkerIndex {
    /// [`EMPTY`] or an [`entry`]; at most three quarters used (none allocated while empty).
    buckets: Box<[u64]>,
    len: usize,
    /// Keyed by subject: a person and a worker id of the same spelling are two keys.
    persons: bool,
    keyed: KeyedState,
}

impl WorkerIndex {
    /// The index of every worker held in `slots` (each must hold its worker).
    pub fn of(persons: bool, workers: &[Worker], slots: impl IntoIterator<Item = u32>) -> Self {
        let mut index = WorkerIndex {
            persons,
            ..WorkerIndex::default()
        };
        for slot in slots {
            index.insert(workers, slot);
        }
        index
    }

    /// The hash of the subject `id` (`person`: a person id; ignored unless keyed by subject),
    /// for [`WorkerIndex::prefetch`] and [`WorkerIndex::candidate_by`].
    pub fn hash(&self, person: bool, id: &str) -> u64 {
        hash(&self.keyed, self.persons, person, id)
    }

    fn hash_of(&self, worker: &Worker) -> u64 {
        hash(&self.keyed, self.persons, worker.person, &worker.id)
    }

    /// The first bucket from `tag`'s home on that holds `tag` and what `found` accepts, or
    /// `None` at an empty bucket.
    #[inline]
    fn probe(&self, tag: u32, mut found: impl FnMut(u64) -> bool) -> Option<usize> {
        let len = self.buckets.len();
        if len == 0 {
            return None;
        }
        let mut i = home(tag, len);
        loop {
            let entry = self.buckets[i];
            if entry == EMPTY {
                return None;
            }
            if tag_of(entry) == tag && found(entry) {
                return Some(i);
            }
            i = next(i, len);
        }
    }

    /// The slot of the subject `id` (`person`: a person id; ignored unless keyed by subject).
    #[inline]
    pub fn get(&self, workers: &[Worker], person: bool, id: &str) -> Option<u32> {
        let hash = self.hash(person, id);
        self.probe(tag(hash), |entry| {
            self.holds(workers, slot_of(entry), person, id)
        })
        .map(|i| slot_of(self.buckets[i]))
    }

    /// The slot of the subject whose [`WorkerIndex::hash`] is `hash`, if it is held, found in
    /// the index alone: the first one probed whose hash has the same 32-bit tag, which the
    /// caller confirms by comparing the ids before it relies on it ([`WorkerIndex::holds`]).
    /// Another subject has that tag by chance at fewer than one look-up in 10^8, however many
    /// are held (the tag is compared only in the buckets a look-up probes: at three quarters
    /// full, 2.5 on average for a held id, 8.5 for one not held, each a chance in 2^32).
    #[inline]
    pub fn candidate_by(&self, hash: u64) -> Option<u32> {
        self.probe(tag(hash), |_| true)
            .map(|i| slot_of(self.buckets[i]))
    }

    /// Asks the cache for the bucket where a look-up of `hash` starts (a batch asks for all
    /// its look-ups' buckets first, so that their misses overlap).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(bucket) = self.buckets.get(home(tag(hash), self.buckets.len())) {
            hint::prefetch(bucket);
        }
    }

    /// Whether `slot`, indexed, holds the subject `id` (confirms a [`WorkerIndex::candidate_by`]).
    #[inline]
    pub fn holds(&self, workers: &[Worker], slot: u32, person: bool, id: &str) -> bool {
        workers.get(slot as usize).is_some_and(|worker| {
            worker.id.as_bytes() == id.as_bytes() && (!self.persons || worker.person == person)
        })
    }

    /// Indexes the worker in `slot`, which must not be indexed yet.
    pub fn insert(&mut self, workers: &[Worker], slot: u32) {
        assert!(slot != u32::MAX, "worker slots below 2^32 - 1");
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        let tag = tag(self.hash_of(&workers[slot as usize]));
        self.place(entry(tag, slot));
        self.len += 1;
    }

    /// Puts `entry` in the first empty bucket from its home on (there is one).
    fn place(&mut self, entry: u64) {
        let len = self.buckets.len();
        let mut i = home(tag_of(entry), len);
        while self.buckets[i] != EMPTY {
            i = next(i, len);
        }
        self.buckets[i] = entry;
    }

    /// Doubles the table, placing every bucket again by its tag.
    fn grow(&mut self) {
        let len = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; len].into_boxed_slice());
        for &entry in old.iter().filter(|&&entry| entry != EMPTY) {
            self.place(entry);
        }
    }

    /// Forgets `slot`, indexed for `worker` (which need not be in the slot any more).
    pub fn remove(&mut self, worker: &Worker, slot: u32) {
        let Some(at) = self.probe(tag(self.hash_of(worker)), |entry| slot_of(entry) == slot) else {
            return;
        };
        // Linear probing's deletion: each later bucket of the run moves into the hole if the
        // hole is on its way from its home, so that every look-up still reaches what it
        // probed for before an empty bucket.
        let len = self.buckets.len();
        let distance = |from: usize, to: usize| (to + len - from) % len;
        let mut hole = at;
        let mut i = next(at, len);
        loop {
            let entry = self.buckets[i];
            if entry == EMPTY {
                break;
            }
            let from = home(tag_of(entry), len);
            if distance(from, hole) < distance(from, i) {
                self.buckets[hole] = entry;
                hole = i;
            }
            i = next(i, len);
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
    }

    /// Subjects held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The slots held, in no order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets
            .iter()
            .filter(|&&entry| entry != EMPTY)
            .map(|&entry| slot_of(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, person: bool) -> Worker {
        let mut worker = Worker::new(id);
        worker.person = person;
        worker
    }

    #[test]
    fn finds_slots_by_the_workers_ids() {
        let long = "x".repeat(100);
        let mut workers: Vec<Worker> = ["w1", "骑手-0001", long.as_str(), "w2"]
            .iter()
            .map(|id| worker(id, false))
            .collect();
        let mut index = WorkerIndex::of(false, &workers, 0..3);
        assert_eq!(index.get(&workers, false, "w1"), Some(0));
        assert_eq!(index.get(&workers, false, "骑手-0001"), Some(1));
        assert_eq!(index.get(&workers, false, &long), Some(2));
        assert_eq!(index.get(&workers, false, "w2"), None, "not indexed");
        assert_eq!(index.get(&workers, false, "w"), None);
        // The index alone gives the same slots, which the ids confirm.
        for (id, slot) in [("w1", 0), ("骑手-0001", 1), (long.as_str(), 2)] {
            assert_eq!(
                index.candidate_by(index.hash(false, id)),
                Some(slot),
                "{id}"
            );
            assert!(index.holds(&workers, slot, false, id));
        }
        assert_eq!(
            index.candidate_by(index.hash(false, "w2")),
            None,
            "not indexed"
        );
        assert!(!index.holds(&workers, 1, false, "w1"));
        assert!(!index.holds(&workers, 9, false, "w1"), "no such slot");
        // Many more: the table grows, rehashing from the workers in place.
        for i in 0..1_000 {
            workers.push(worker(&format!("n{i}"), false));
            index.insert(&workers, workers.len() as u32 - 1);
        }
        assert_eq!(index.len(), 1_003);
        assert_eq!(index.get(&workers, false, "n999"), Some(1_003));
        assert_eq!(index.get(&workers, false, "w1"), Some(0));
        // Removed after its slot was freed: found by its old worker.
        let old = std::mem::replace(&mut workers[0], Worker::free());
        index.remove(&old, 0);
        assert_eq!(index.get(&workers, false, "w1"), None);
        assert_eq!(index.len(), 1_002);
        let mut slots: Vec<u32> = index.slots().collect();
        slots.sort_unstable();
        assert_eq!(slots.len(), 1_002);
        assert_eq!(slots[..2], [1, 2]);
    }

    /// Linear probing's deletion moves the later buckets of a run back: every worker still
    /// indexed is found after each removal, at the table's fullest (three quarters) and as
    /// it grows, and a removed one is not; its slot can be indexed again.
    #[test]
    fn every_worker_left_is_found_after_each_removal() {
        // 96 of 128 buckets used once all are in: long runs.
        let workers: Vec<Worker> = (0..96).map(|i| worker(&format!("r{i}"), false)).collect();
        let mut index = WorkerIndex::of(false, &workers, 0..96);
        assert_eq!(index.buckets.len(), 128);
        let check = |index: &WorkerIndex, gone: &[bool]| {
            for (i, w) in workers.iter().enumerate() {
                let expected = (!gone[i]).then_some(i as u32);
                assert_eq!(index.get(&workers, false, &w.id), expected, "{}", w.id);
                assert_eq!(index.candidate_by(index.hash(false, &w.id)), expected);
            }
            let mut held: Vec<u32> = index.slots().collect();
            held.sort_unstable();
            let expected: Vec<u32> = (0..96).filter(|&i| !gone[i as usize]).collect();
            assert_eq!(held, expected);
            assert_eq!(index.len(), expected.len());
        };
        let mut gone = vec![false; 96];
        // A scrambled order (37 is prime to 96): every run is cut at every place.
        for k in 0..96 {
            let i = (k * 37) % 96;
            index.remove(&workers[i], i as u32);
            gone[i] = true;
            check(&index, &gone);
            // Removing again, or a slot the worker is not indexed at, changes nothing.
            index.remove(&workers[i], i as u32);
            index.remove(&workers[(i + 1) % 96], 1_000);
            check(&index, &gone);
        }
        assert!(index.buckets.iter().all(|&entry| entry == EMPTY));
        for i in (0..96).step_by(2) {
            index.insert(&workers, i);
            gone[i as usize] = false;
        }
        check(&index, &gone);
    }

    /// A producer cannot compute ids that collide in the index: each index hashes with its
    /// own random seed.
    #[test]
    fn each_index_hashes_with_its_own_seed() {
        let (a, b) = (WorkerIndex::default(), WorkerIndex::default());
        for id in ["w1", "骑手-0001", ""] {
            assert_ne!(a.hash(false, id), b.hash(false, id), "{id:?}");
        }
        let workers = vec![worker("w1", false), worker("w2", false)];
        let (a, b) = (
            WorkerIndex::of(false, &workers, [0, 1]),
            WorkerIndex::of(false, &workers, [0, 1]),
        );
        assert_ne!(a.hash(false, "w1"), b.hash(false, "w1"));
        assert_eq!(a.get(&workers, false, "w2"), b.get(&workers, false, "w2"));
    }

    #[test]
    fn persons_and_worker_ids_of_one_spelling_are_two_subjects() {
        let workers = vec![worker("a", true), worker("a", false)];
        let index = WorkerIndex::of(true, &workers, [0, 1]);
        assert_eq!(index.get(&workers, true, "a"), Some(0));
        assert_eq!(index.get(&workers, false, "a"), Some(1));
        // Not keyed by subject: the flag is not part of the key.
        let index = WorkerIndex::of(false, &workers[1..], [0]);
        assert_eq!(index.get(&workers[1..], true, "a"), Some(0));
    }
}
