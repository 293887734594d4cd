//! The order starts of one input partition and topic that wait in the reorder buffer, kept
//! with their bytes so that one the engine refuses when it applies it (`too_many_orders`) can
//! be dead-lettered as it was read.
//!
//! Most events are order starts, and almost none is ever refused: holding them must cost
//! little. They are kept in the order they were read (offsets increase), their bytes appended
//! to one buffer, so holding one is no allocation and no tree insert; they are let go from the
//! front once the watermark has passed them. An order start read after one with a later `ts`
//! waits for it: events are read roughly in `ts` order, so what waits is about what the reorder
//! buffer holds, the order starts within `allowed_lateness` of the newest.
//!
//! Except behind an order start from a producer whose clock is fast: its `ts` may be up to
//! `max_future_skew` (5 min) ahead of the wall clock, which caps the watermark, so it would
//! hold every order start read after it for minutes, many times what the reorder buffer holds.
//! Such order starts (ahead of the wall clock when read) are held apart, each on its own.

use std::collections::{BTreeMap, VecDeque};

/// An order start held, its bytes at `start` (a position in all the bytes ever appended).
struct Entry {
    ts: i64,
    offset: i64,
    start: u64,
    /// The key's length, if the message had a key; its bytes come first.
    key_len: Option<u32>,
    len: u32,
}

/// A held order start's bytes, as it was read.
#[derive(Debug, PartialEq, Eq)]
pub struct HeldMessage<'a> {
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// Order starts held, in the order read.
#[derive(Default)]
pub struct Held {
    entries: VecDeque<Entry>,
    bytes: Vec<u8>,
    /// The position of `bytes[0]` among all the bytes ever appended.
    dropped: u64,
    /// The order starts ahead of the wall clock when read, by (`ts`, offset).
    ahead: BTreeMap<(i64, i64), Apart>,
    /// The bytes of those in `ahead`.
    ahead_bytes: usize,
}

/// An order start held apart: the key's length, and the key's and payload's bytes as in
/// [`Held::bytes`].
type Apart = (Option<u32>, Box<[u8]>);

/// Bytes let go at the front are removed once they are this many and half the buffer.
const COMPACT_BYTES: usize = 64 * 1024;
/// An emptied buffer larger than this is given back (a burst of order starts held long).
const KEEP_CAPACITY: usize = 4 * 1024 * 1024;

impl Held {
    /// Holds an order start read at `offset` (after the ones held, as read), its event time
    /// capped at `now` (the wall clock when read, or the message's timestamp): one ahead of
    /// it is held apart.
    pub fn push(&mut self, ts: i64, offset: i64, now: i64, key: Option<&[u8]>, payload: &[u8]) {
        let key_len = key.map(|key| key.len() as u32);
        if ts > now {
            let bytes = [key.unwrap_or_default(), payload].concat();
            self.ahead_bytes += bytes.len();
            self.ahead
                .insert((ts, offset), (key_len, bytes.into_boxed_slice()));
            return;
        }
        let start = self.dropped + self.bytes.len() as u64;
        self.bytes.extend_from_slice(key.unwrap_or_default());
        self.bytes.extend_from_slice(payload);
        let len = (self.bytes.len() as u64 - (start - self.dropped)) as u32;
        self.entries.push_back(Entry {
            ts,
            offset,
            start,
            key_len,
            len,
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.size().0
    }

    /// The order starts held and their bytes (keys and payloads), for the metrics of bounds.
    pub fn size(&self) -> (usize, usize) {
        let end = self.dropped + self.bytes.len() as u64;
        let bytes = self.entries.front().map_or(0, |front| end - front.start) as usize;
        (
            self.entries.len() + self.ahead.len(),
            bytes + self.ahead_bytes,
        )
    }

    /// The one read at `offset`, if it is still held.
    pub fn get(&self, offset: i64) -> Option<HeldMessage<'_>> {
        // Offsets increase in the order read; should they not, every entry is looked at.
        let index = match self.entries.binary_search_by_key(&offset, |e| e.offset) {
            Ok(index) => Some(index),
            Err(_) => self.entries.iter().position(|e| e.offset == offset),
        };
        let (key_len, bytes) = match index {
            Some(index) => {
                let entry = &self.entries[index];
                let at = (entry.start - self.dropped) as usize;
                (entry.key_len, &self.bytes[at..at + entry.len as usize])
            }
            // Refusals are rare, and so are order starts ahead of the clock: a scan will do.
            None => self
                .ahead
                .iter()
                .find(|((_, o), _)| *o == offset)
                .map(|(_, (key_len, bytes))| (*key_len, &bytes[..]))?,
        };
        let split = key_len.map_or(0, |n| n as usize);
        Some(HeldMessage {
            offset,
            key: key_len.map(|_| &bytes[..split]),
            payload: &bytes[split..],
        })
    }

    /// Lets go of the order starts at the front whose `ts` is before `watermark` (the engine
    /// has applied or refused them).
    pub fn release(&mut self, watermark: i64) {
        while self.entries.front().is_some_and(|e| e.ts < watermark) {
            self.entries.pop_front();
        }
        while self
            .ahead
            .first_key_value()
            .is_some_and(|(&(ts, _), _)| ts < watermark)
        {
            if let Some((_, (_, bytes))) = self.ahead.pop_first() {
                self.ahead_bytes -= bytes.len();
            }
        }
        match self.entries.front() {
            None => {
                self.dropped += self.bytes.len() as u64;
                self.bytes.clear();
                if self.bytes.capacity() > KEEP_CAPACITY {
                    self.bytes = Vec::new();
                }
            }
            Some(front) => {
                let unused = (front.start - self.dropped) as usize;
                if unused >= COMPACT_BYTES && unused * 2 >= self.bytes.len() {
                    self.bytes.drain(..unused);
                    self.dropped = front.start;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wall clock, after every `ts` of the tests but the one ahead of it.
    const NOW: i64 = 1_000_000;

    fn message(
        offset: i64,
        key: Option<&'static [u8]>,
        payload: &'static [u8],
    ) -> HeldMessage<'static> {
        HeldMessage {
            offset,
            key,
            payload,
        }
    }

    #[test]
    fn gives_back_the_bytes_as_read() {
        let mut held = Held::default();
        held.push(10, 3, NOW, Some(b"w1"), b"{\"a\":1}");
        held.push(11, 4, NOW, None, b"{\"b\":2}");
        held.push(12, 7, NOW, Some(b""), b"");
        assert_eq!(held.get(3), Some(message(3, Some(b"w1"), b"{\"a\":1}")));
        assert_eq!(held.get(4), Some(message(4, None, b"{\"b\":2}")));
        assert_eq!(held.get(7), Some(message(7, Some(b""), b"")));
        assert_eq!(held.get(5), None);
    }

    #[test]
    fn releases_from_the_front_up_to_the_watermark() {
        // (watermark, offsets still held): an entry waits for a later `ts` read before it.
        let cases: &[(i64, &[i64])] = &[
            (10, &[1, 2, 3, 4]),
            (11, &[2, 3, 4]),
            (12, &[2, 3, 4]),
            (16, &[2, 3, 4]),
            (21, &[4]),
            (31, &[]),
        ];
        let mut held = Held::default();
        for (ts, offset) in [(10, 1), (20, 2), (15, 3), (30, 4)] {
            held.push(ts, offset, NOW, Some(b"k"), format!("{offset}").as_bytes());
        }
        for &(watermark, want) in cases {
            held.release(watermark);
            let have: Vec<i64> = (1..=4).filter(|&o| held.get(o).is_some()).collect();
            assert_eq!(have, want, "watermark {watermark}");
            assert_eq!(held.len(), want.len());
            for &o in want {
                assert_eq!(held.get(o).unwrap().payload, format!("{o}").as_bytes());
            }
        }
        // Emptied, it starts again from nothing.
        held.push(40, 5, NOW, None, b"x");
        assert_eq!(held.get(5), Some(message(5, None, b"x")));
    }

    #[test]
    fn compacts_without_losing_what_is_held() {
        let mut held = Held::default();
        let payload = vec![b'p'; 1000];
        let mut offset = 0;
        // A long run: the front is let go while more is appended; the buffer stays small.
        for round in 0..1000i64 {
            for _ in 0..10 {
                offset += 1;
                held.push(round, offset, NOW, Some(&offset.to_be_bytes()), &payload);
            }
            held.release(round - 2);
            assert!(
                held.bytes.len() <= 2 * COMPACT_BYTES + 40 * 1010,
                "{}",
                held.bytes.len()
            );
        }
        assert_eq!(held.len(), 30);
        for o in offset - 29..=offset {
            let m = held.get(o).unwrap();
            assert_eq!(m.key, Some(&o.to_be_bytes()[..]));
            assert_eq!(m.payload, &payload[..]);
        }
    }

    #[test]
    fn finds_an_offset_read_out_of_order() {
        let mut held = Held::default();
        held.push(1, 9, NOW, None, b"nine");
        held.push(1, 4, NOW, None, b"four");
        held.push(1, 12, NOW, None, b"twelve");
        assert_eq!(held.get(4).unwrap().payload, b"four");
        assert_eq!(held.get(9).unwrap().payload, b"nine");
        assert_eq!(held.get(12).unwrap().payload, b"twelve");
    }

    #[test]
    fn one_ahead_of_the_clock_holds_nothing_back() {
        // A producer with a fast clock sends an order start 5 minutes ahead of the wall clock
        // (within max_future_skew); the watermark cannot pass it for 5 minutes. The order
        // starts read after it are let go as the watermark passes each, as without it.
        let now = 1_000_000;
        let mut held = Held::default();
        held.push(now + 300_000, 1, now, Some(b"fast"), b"ahead");
        for offset in 2..10_000 {
            held.push(now - 30_000 + offset, offset, now, None, b"order start");
            held.release(now - 30_000 + offset - 100);
            assert!(held.len() <= 102, "{} held at offset {offset}", held.len());
        }
        assert_eq!(held.get(1), Some(message(1, Some(b"fast"), b"ahead")));
        assert_eq!(held.get(9_999).unwrap().payload, b"order start");
        held.release(now + 300_000);
        assert_eq!(held.get(1), Some(message(1, Some(b"fast"), b"ahead")));
        held.release(now + 300_001);
        assert_eq!(held.get(1), None);
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn counts_what_it_holds_and_its_bytes() {
        let mut held = Held::default();
        assert_eq!(held.size(), (0, 0));
        held.push(10, 1, NOW, Some(b"w1"), b"12345");
        held.push(20, 2, NOW, None, b"123");
        held.push(NOW + 5, 3, NOW, Some(b"fast"), b"ahead");
        assert_eq!(held.size(), (3, 7 + 3 + 9));
        held.release(11);
        assert_eq!(held.size(), (2, 3 + 9));
        held.release(NOW + 6);
        assert_eq!(held.size(), (0, 0));
        // Compaction moves the bytes, not what is counted.
        let payload = vec![b'p'; 1000];
        for offset in 0..200 {
            held.push(NOW, 10 + offset, NOW, None, &payload);
        }
        held.push(NOW + 1, 500, NOW, None, &payload);
        held.release(NOW + 1);
        assert_eq!(held.size(), (1, 1000));
    }
}
