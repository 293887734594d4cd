//! The reorder buffer: accepted events waiting for the watermark, taken out in (`ts`,
//! arrival) order.
//!
//! Input is nearly sorted (out of order by at most the lateness), so most events arrive at
//! or after the latest one buffered: those append to a sorted run in O(1). The others, the
//! stragglers, go to a min-heap. Taking the next event compares the two fronts. A binary heap
//! alone costs a logarithmic sift of a large entry for every event.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BinaryHeap, VecDeque};

use super::Pending;

#[derive(Debug, Clone, Default)]
pub struct Buffer {
    /// Sorted ascending by (`ts`, `seq`).
    run: VecDeque<Pending>,
    /// Events that arrived before the run's last one (`Pending`'s order is reversed, so this
    /// pops the earliest).
    stragglers: BinaryHeap<Pending>,
}

fn key(p: &Pending) -> (i64, u64) {
    (p.ts, p.seq)
}

impl Buffer {
    pub fn len(&self) -> usize {
        self.run.len() + self.stragglers.len()
    }

    pub fn push(&mut self, pending: Pending) {
        match self.run.back() {
            Some(last) if key(&pending) < key(last) => self.stragglers.push(pending),
            _ => self.run.push_back(pending),
        }
    }

    /// The earliest event.
    pub fn peek(&self) -> Option<&Pending> {
        match (self.run.front(), self.stragglers.peek()) {
            (Some(a), Some(b)) => Some(if key(b) < key(a) { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Takes the earliest event.
    pub fn pop(&mut self) -> Option<Pending> {
        let from_stragglers = match (self.run.front(), self.stragglers.peek()) {
            (Some(a), Some(b)) => key(b) < key(a),
            (None, Some(_)) => true,
            _ => false,
        };
        if from_stragglers {
            self.stragglers.pop()
        } else {
            self.run.pop_front()
        }
    }

    /// Every event, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.run.iter().chain(self.stragglers.iter())
    }
}

impl Serialize for Buffer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut all: Vec<&Pending> = self.iter().collect();
        all.sort_by_key(|p| key(p));
        serializer.collect_seq(all)
    }
}

impl<'de> Deserialize<'de> for Buffer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut buffer = Buffer::default();
        for pending in Vec::<Pending>::deserialize(deserializer)? {
            buffer.push(pending);
        }
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Activity, Kind};

    fn p(ts: i64, seq: u64) -> Pending {
        Pending {
            ts,
            seq,
            worker: 0,
            kind: Kind::Heartbeat,
            rules: 0,
            platform: 0,
            role: 0,
            city: 0,
            order: 0,
            fee: None,
            activity: Activity::Rest,
            member: 0,
        }
    }

    #[test]
    fn takes_events_in_ts_then_arrival_order() {
        let mut b = Buffer::default();
        let input = [(5, 1), (7, 2), (6, 3), (7, 4), (1, 5), (9, 6), (6, 7)];
        for (ts, seq) in input {
            b.push(p(ts, seq));
        }
        assert_eq!(b.len(), 7);
        let mut out = Vec::new();
        while let Some(e) = b.pop() {
            out.push((e.ts, e.seq));
        }
        let mut want = input.to_vec();
        want.sort();
        assert_eq!(out, want);
    }
}
