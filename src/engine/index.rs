//! The worker index: the slot of each worker held, found by its id (persons: by subject, a
//! person or a worker id standing for one, SPEC section 8).
//!
//! A bucket holds the slot number only, 4 bytes, and a look-up compares the id with the one in
//! the slot's [`Worker`]: the worker already holds its id, so the index does not hold it again
//! (a bucket with the id took 32 bytes; memory per worker is a target). The worker's line is
//! read by the event anyway, so the comparison costs no extra miss in the usual case. Every
//! slot in the index must hold its worker whenever the table is probed or grows.
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

#[derive(Debug, Clone, Default)]
pub struct WorkerIndex {
    table: HashTable<u32>,
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
        let persons = self.persons;
        self.table
            .find(self.hash(person, id), |&slot| {
                let worker = &workers[slot as usize];
                worker.id.as_bytes() == id.as_bytes() && (!persons || worker.person == person)
            })
            .copied()
    }

    /// Indexes the worker in `slot`, which must not be indexed yet.
    pub fn insert(&mut self, workers: &[Worker], slot: u32) {
        let hash = self.hash_of(&workers[slot as usize]);
        let persons = self.persons;
        let keyed = &self.keyed;
        self.table.insert_unique(hash, slot, |&s| {
            let worker = &workers[s as usize];
            self::hash(keyed, persons, worker.person, &worker.id)
        });
    }

    /// Forgets `slot`, indexed for `worker` (which need not be in the slot any more).
    pub fn remove(&mut self, worker: &Worker, slot: u32) {
        if let Ok(entry) = self.table.find_entry(self.hash_of(worker), |&s| s == slot) {
            entry.remove();
        }
    }

    /// Subjects held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The slots held, in no order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.table.iter().copied()
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
