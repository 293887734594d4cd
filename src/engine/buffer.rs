//! A min-queue for nearly sorted input: the reorder buffer, accepted events waiting for the
//! watermark, taken in (`ts`, arrival) order.
//!
//! Input is out of order by at most the lateness, so most entries arrive at or after the
//! latest one queued: those append to a sorted run in O(1). The others, the stragglers, go to
//! a binary heap. Taking the minimum compares the two fronts. A binary heap alone costs a
//! logarithmic sift for every entry, a visible share of a replay.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// What orders an entry: the smallest key comes out first; equal keys in no given order.
pub trait Keyed {
    type Key: Ord + Copy;
    fn key(&self) -> Self::Key;
}

/// Reverses an entry's order, so that `BinaryHeap` pops the smallest key.
#[derive(Debug, Clone)]
struct Min<T>(T);

impl<T: Keyed> Ord for Min<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}
impl<T: Keyed> PartialOrd for Min<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Keyed> PartialEq for Min<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}
impl<T: Keyed> Eq for Min<T> {}

#[derive(Debug, Clone)]
pub struct MinQueue<T: Keyed> {
    /// Sorted ascending by key.
    run: VecDeque<T>,
    stragglers: BinaryHeap<Min<T>>,
}

impl<T: Keyed> Default for MinQueue<T> {
    fn default() -> Self {
        MinQueue {
            run: VecDeque::new(),
            stragglers: BinaryHeap::new(),
        }
    }
}

impl<T: Keyed> MinQueue<T> {
    pub fn len(&self) -> usize {
        self.run.len() + self.stragglers.len()
    }

    pub fn push(&mut self, entry: T) {
        match self.run.back() {
            Some(last) if entry.key() < last.key() => self.stragglers.push(Min(entry)),
            _ => self.run.push_back(entry),
        }
    }

    /// Whether the minimum comes from the stragglers.
    fn straggler_first(&self) -> bool {
        match (self.run.front(), self.stragglers.peek()) {
            (Some(a), Some(b)) => b.0.key() < a.key(),
            (None, Some(_)) => true,
            _ => false,
        }
    }

    /// The entry with the smallest key.
    pub fn peek(&self) -> Option<&T> {
        if self.straggler_first() {
            self.stragglers.peek().map(|m| &m.0)
        } else {
            self.run.front()
        }
    }

    /// The `n`-th entry of the sorted run (0 is its front): nearly always the `n`-th entry to
    /// come out, stragglers being rare. A hint for prefetching, not an order.
    pub fn ahead(&self, n: usize) -> Option<&T> {
        self.run.get(n)
    }

    /// Takes the entry with the smallest key.
    pub fn pop(&mut self) -> Option<T> {
        if self.straggler_first() {
            self.stragglers.pop().map(|m| m.0)
        } else {
            self.run.pop_front()
        }
    }

    /// Changes the entries `change` returns true for, which may change their keys, and puts
    /// every entry back in order. O(n log n): for rare changes.
    pub fn update(&mut self, mut change: impl FnMut(&mut T) -> bool) {
        let mut all: Vec<T> = std::mem::take(&mut self.run).into();
        all.extend(
            std::mem::take(&mut self.stragglers)
                .into_iter()
                .map(|m| m.0),
        );
        let mut changed = false;
        for entry in &mut all {
            changed |= change(entry);
        }
        if changed {
            all.sort_by_key(Keyed::key);
        }
        for entry in all {
            self.push(entry);
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.run.iter().chain(self.stragglers.iter().map(|m| &m.0))
    }
}

impl<T: Keyed + Serialize> Serialize for MinQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut all: Vec<&T> = self.iter().collect();
        all.sort_by_key(|e| e.key());
        serializer.collect_seq(all)
    }
}

impl<'de, T: Keyed + Deserialize<'de>> Deserialize<'de> for MinQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut queue = MinQueue::default();
        for entry in Vec::<T>::deserialize(deserializer)? {
            queue.push(entry);
        }
        Ok(queue)
    }
}

impl Keyed for (i64, u64) {
    type Key = (i64, u64);
    fn key(&self) -> (i64, u64) {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_keys_come_out_in_their_new_order() {
        let mut q = MinQueue::default();
        for entry in [(5, 1), (7, 2), (6, 3), (9, 4)] {
            q.push(entry);
        }
        q.update(|e| {
            let moved = e.1 == 4;
            if moved {
                e.0 = 1;
            }
            moved
        });
        let mut out = Vec::new();
        while let Some(e) = q.pop() {
            out.push(e);
        }
        assert_eq!(out, [(1, 4), (5, 1), (6, 3), (7, 2)]);
    }

    #[test]
    fn takes_entries_in_key_order() {
        let mut q = MinQueue::default();
        let input = [(5, 1), (7, 2), (6, 3), (7, 4), (1, 5), (9, 6), (6, 7)];
        for entry in input {
            q.push(entry);
        }
        assert_eq!(q.len(), 7);
        let mut out = Vec::new();
        while let Some(e) = q.pop() {
            out.push(e);
        }
        let mut want = input.to_vec();
        want.sort();
        assert_eq!(out, want);
    }
}
