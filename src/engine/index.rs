//! The worker index: the slot of each worker held, found by its id (persons: by subject, a
//! person or a worker id standing for one, SPEC section 8).
//!
//! A bucket holds the slot number and 32 bits of the id's hash, 8 bytes, and a look-up
//! compares the id with the one in the slot's [`Worker`]: the worker already holds its id, so
//! the index does not hold it again (a bucket with the id took 32 bytes; memory per worker is
//! a target). Every slot in the index must hold its worker whenever the table is probed or
//! grows.
//!
//! The hash bits let a batch of look-ups run in the index alone ([`WorkerIndex::candidate`]:
//! a table of 8 bytes a worker, which the cache keeps), each confirmed later by the one
//! comparison of the id, where the event reads its worker's line anyway: a look-up that read
//! the worker's line missed the cache at nearly every event of a replay.
//!
//! Ids are hashed with a seed random per index ([`crate::keyed`]): a producer cannot choose
//! ids that collide. Nothing reads the table in its order but [`WorkerIndex::slots`], whose
//! callers sort.

use std::hash::BuildHasher;

use hashbrown::HashTable;

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

/// A bucket: the slot in the low 32 bits, [`tag`] of the id's hash in the high ones.
fn entry(hash: u64, slot: u32) -> u64 {
    (u64::from(tag(hash)) << 32) | u64::from(slot)
}

/// 32 bits of a hash that the table's own use of it leaves (its low bits choose the bucket,
/// its top 7 are the control byte's).
fn tag(hash: u64) -> u32 {
    (hash >> 24) as u32
}

fn slot_of(entry: u64) -> u32 {
    entry as u32
}

fn tag_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[derive(Debug, Clone, Default)]
pub struct WorkerIndex {
    table: HashTable<u64>,
    /// Keyed by subject: a person and a worker id of the same spelling are two keys.
    persons: bool,
    keyed: KeyedState,
}

impl WorkerIndex {
    /// The index of every worker held in `slots` (each must hold its worker).
    pub fn of(persons: bool, workers: &[Worker], slots: impl IntoIterator<Item = u32>) -> Self {
        let mut index = WorkerIndex {
            table: HashTable::new(),
            persons,
            keyed: KeyedState::default(),
        };
        for slot in slots {
            index.insert(workers, slot);
        }
        index
    }

    fn hash(&self, person: bool, id: &str) -> u64 {
        hash(&self.keyed, self.persons, person, id)
    }

    fn hash_of(&self, worker: &Worker) -> u64 {
        hash(&self.keyed, self.persons, worker.person, &worker.id)
    }

    /// The slot of the subject `id` (`person`: a person id; ignored unless keyed by subject).
    #[inline]
    pub fn get(&self, workers: &[Worker], person: bool, id: &str) -> Option<u32> {
        let hash = self.hash(person, id);
        self.table
            .find(hash, |&entry| {
                tag_of(entry) == tag(hash) && self.holds(workers, slot_of(entry), person, id)
            })
            .map(|&entry| slot_of(entry))
    }

    /// The slot of the subject `id` if it is held, found in the index alone: the one whose
    /// hash has the same 39 bits (the control byte's and the tag), which the caller confirms
    /// by comparing the ids before it relies on it ([`WorkerIndex::holds`]). Another subject
    /// has those bits by chance at fewer than one look-up in 10^10, however many are held (the
    /// tag is compared only in the few buckets a look-up probes whose 7-bit control byte is
    /// its own).
    #[inline]
    pub fn candidate(&self, person: bool, id: &str) -> Option<u32> {
        let hash = self.hash(person, id);
        self.table
            .find(hash, |&entry| tag_of(entry) == tag(hash))
            .map(|&entry| slot_of(entry))
    }

    /// Whether `slot`, indexed, holds the subject `id` (confirms a [`WorkerIndex::candidate`]).
    #[inline]
    pub fn holds(&self, workers: &[Worker], slot: u32, person: bool, id: &str) -> bool {
        workers.get(slot as usize).is_some_and(|worker| {
            worker.id.as_bytes() == id.as_bytes() && (!self.persons || worker.person == person)
        })
    }

    /// Indexes the worker in `slot`, which must not be indexed yet.
    pub fn insert(&mut self, workers: &[Worker], slot: u32) {
        let hash = self.hash_of(&workers[slot as usize]);
        let persons = self.persons;
        let keyed = &self.keyed;
        self.table.insert_unique(hash, entry(hash, slot), |&e| {
            let worker = &workers[slot_of(e) as usize];
            self::hash(keyed, persons, worker.person, &worker.id)
        });
    }

    /// Forgets `slot`, indexed for `worker` (which need not be in the slot any more).
    pub fn remove(&mut self, worker: &Worker, slot: u32) {
        if let Ok(entry) = self
            .table
            .find_entry(self.hash_of(worker), |&e| slot_of(e) == slot)
        {
            entry.remove();
        }
    }

    /// Subjects held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The slots held, in no order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.table.iter().map(|&e| slot_of(e))
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
            assert_eq!(index.candidate(false, id), Some(slot), "{id}");
            assert!(index.holds(&workers, slot, false, id));
        }
        assert_eq!(index.candidate(false, "w2"), None, "not indexed");
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
