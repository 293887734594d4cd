//! Duplicate detection within the `dedup_window` (SPEC section 5): the `event_id`s of one
//! worker seen recently, each remembered until the watermark passes its event's `ts` plus the
//! window.
//!
//! An id is stored as a 64-bit digest of (`worker_id`, `event_id`) with its expiry, in flat
//! open-addressing tables: a lookup touches one cache line in nearly every case, and an entry
//! whose expiry the watermark has passed no longer counts. Rebuilding a table when it fills
//! drops those, so memory is bounded by the events within the window, whatever the input; a
//! table is also rebuilt once every id it held at its last rebuild has expired, so that after a
//! burst memory comes down with the ids within the window ([`Shard`]'s `sweep_at`).
//!
//! Memory per id is what bounds a replay's memory per worker (each worker's events of the last
//! hour are held), so a slot is 12 bytes: the digest and the expiry as an offset from a base
//! of its table (an expiry the offset cannot hold exactly is kept aside, see [`Shard`]). The
//! digests are spread over [`SHARDS`] tables by their top bits, each sized to twice its live
//! ids when rebuilt (no rounding to a power of two): a rebuild holds one small table twice,
//! never the whole set.
//!
//! Digests are placed by a hash of them seeded at random per [`Dedup`] (foldhash, as in
//! [`crate::keyed`], with its finishing mix: see [`PlaceState`]), not
//! by their own bits: the digest is a fixed function of the ids, so a hostile producer could
//! otherwise choose event ids that all land on one slot and make every look-up walk them. The
//! digests themselves are saved with the state and never change.
//!
//! A 64-bit digest can collide: with a million ids in the window, the odds that a new event
//! is taken for a duplicate it is not are about one in 10^13 per event.

use std::hash::BuildHasher;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::keyed::KeyedMap;

/// Digest 0 marks an empty slot; the one real digest 0 is stored as 1.
const EMPTY: u64 = 0;

/// Tables, chosen by the top bits of a digest's place.
const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;
/// The smallest table.
const MIN_SLOTS: usize = 8;
/// Slots from the home one that [`Dedup::prefetch`] asks for.
const PROBE_AHEAD: usize = 6;
/// A slot's offset that says its exact expiry is kept aside (`Dedup::far`).
const FAR: u32 = u32::MAX;

/// Ids this long at most (with their worker id) are hashed in one call from a stack copy.
const ONE_SHOT: usize = 256;
/// Ids this short (with their worker id), the usual ones, are copied into a smaller buffer.
const SHORT: usize = 64;

/// The digest duplicate detection keeps for an event: its worker and its `event_id`, as the
/// xxh3 of the worker id's length (8 bytes, little-endian), the worker id and the event id.
///
/// Digests are saved with the state (live), so the function never changes. The usual short
/// ids are copied into one buffer and hashed in one call, which gives the digest of the
/// streaming hasher (xxh3 does not depend on how its input is cut) at a fraction of its cost.
pub fn id_digest(worker_id: &str, event_id: &str) -> u64 {
    let total = 8 + worker_id.len() + event_id.len();
    // The buffer is zeroed for every event: the common short ids get a small one.
    let digest = if total <= SHORT {
        one_shot::<SHORT>(worker_id, event_id)
    } else if total <= ONE_SHOT {
        one_shot::<ONE_SHOT>(worker_id, event_id)
    } else {
        let mut hasher = Xxh3::new();
        hasher.update(&(worker_id.len() as u64).to_le_bytes());
        hasher.update(worker_id.as_bytes());
        hasher.update(event_id.as_bytes());
        hasher.digest()
    };
    match digest {
        EMPTY => 1,
        digest => digest,
    }
}

/// The xxh3 of the worker id's length, the worker id and the event id, copied into one buffer
/// of `N` bytes, which must hold them.
#[inline]
fn one_shot<const N: usize>(worker_id: &str, event_id: &str) -> u64 {
    let len = (worker_id.len() as u64).to_le_bytes();
    let total = len.len() + worker_id.len() + event_id.len();
    let mut buf = [0u8; N];
    let (head, rest) = buf.split_at_mut(len.len());
    head.copy_from_slice(&len);
    let (worker, rest) = rest.split_at_mut(worker_id.len());
    worker.copy_from_slice(worker_id.as_bytes());
    rest[..event_id.len()].copy_from_slice(event_id.as_bytes());
    xxh3_64(&buf[..total])
}

/// A digest and its expiry, as `base + offset` of its table: 12 bytes.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed(4))]
struct Slot {
    digest: u64,
    offset: u32,
}

/// One table: (digest, expiry) slots with linear probing from a digest's home slot.
///
/// An expiry is `base + offset`; one that does not fit (more than about 49 days past `base`, or
/// before it: an event already older than the window) has offset [`FAR`] and its exact value
/// in [`Dedup::far`]. `base` is the watermark when the table was last rebuilt, so with any
/// `dedup_window` plus `allowed_lateness` under 49 days every expiry of an event that is not
/// late fits until event time moves 49 days on, and the table is then rebuilt on a new base.
#[derive(Debug, Clone, Default)]
struct Shard {
    slots: Vec<Slot>,
    /// Slots in use, expired ones included.
    occupied: usize,
    base: i64,
    /// The latest expiry held when the table was last rebuilt (with the id that came then):
    /// once the watermark is past it, every id the table held then has expired, and the
    /// table is rebuilt at its next id even if it is not full. Inserts reuse expired slots, so
    /// after a burst a table that no new id fills kept the burst's size, and its expired ids
    /// counted as held, for as long as the process ran.
    sweep_at: i64,
}

impl Shard {
    /// The home slot of a digest placed at `place` (its bits below the shard's, scaled to the
    /// table).
    fn home(&self, place: u64) -> usize {
        ((u128::from(place << SHARD_BITS) * self.slots.len() as u128) >> 64) as usize
    }

    fn offset(&self, expiry: i64) -> Option<u32> {
        offset_from(self.base, expiry)
    }

    fn expiry(&self, slot: Slot, far: &KeyedMap<u64, i64>) -> i64 {
        match slot.offset {
            FAR => far.get(&{ slot.digest }).copied().unwrap_or(i64::MIN),
            offset => self.base + i64::from(offset),
        }
    }

    /// Stores (`digest`, `expiry`) in slot `i`, in place of what it held.
    fn set(&mut self, i: usize, digest: u64, expiry: i64, far: &mut KeyedMap<u64, i64>) {
        let old = self.slots[i];
        if old.offset == FAR && old.digest != EMPTY {
            far.remove(&{ old.digest });
        }
        self.put(i, digest, expiry, far);
    }

    /// [`Shard::set`] for a slot that holds nothing kept aside in `far` (an empty slot, or one
    /// whose exact expiry fits its offset).
    #[inline(always)]
    fn put(&mut self, i: usize, digest: u64, expiry: i64, far: &mut KeyedMap<u64, i64>) {
        let offset = match self.offset(expiry) {
            Some(offset) => offset,
            None => keep_aside(far, digest, expiry),
        };
        self.slots[i] = Slot { digest, offset };
    }

    /// Drops the expired entries and sizes the table for twice the live ones (and one more,
    /// about to come): memory follows the ids within the window, up and down.
    ///
    /// `live` is a buffer to reuse (a table is rebuilt every few hundred ids in a replay: an
    /// allocation each time was a visible share of it).
    fn rebuild(
        &mut self,
        watermark: i64,
        incoming: i64,
        far: &mut KeyedMap<u64, i64>,
        live: &mut Vec<(u64, i64)>,
        places: &Places,
    ) {
        live.clear();
        let mut latest = incoming;
        for &slot in &self.slots {
            if slot.digest == EMPTY {
                continue;
            }
            let expiry = self.expiry(slot, far);
            if slot.offset == FAR {
                far.remove(&{ slot.digest });
            }
            if expiry >= watermark {
                live.push((slot.digest, expiry));
                latest = latest.max(expiry);
            }
        }
        // Not before the watermark: ids that came expired (older than the window) do not
        // make every next id rebuild the table again.
        self.sweep_at = latest.max(watermark);
        self.base = if watermark != i64::MIN {
            watermark
        } else {
            live.iter().map(|&(_, e)| e).fold(incoming, i64::min)
        };
        // The old table goes before the new one comes.
        self.slots = Vec::new();
        self.slots = vec![Slot::default(); (live.len() * 2 + 2).max(MIN_SLOTS)];
        self.occupied = live.len();
        let len = self.slots.len();
        for &(digest, expiry) in live.iter() {
            let mut i = self.home(places.of(digest));
            while self.slots[i].digest != EMPTY {
                i = if i + 1 == len { 0 } else { i + 1 };
            }
            // A new table: its slots are empty, none kept aside.
            self.put(i, digest, expiry, far);
        }
    }
}

/// `expiry` as a slot's offset from `base`, if one holds it (`0..FAR`).
fn offset_from(base: i64, expiry: i64) -> Option<u32> {
    expiry
        .checked_sub(base)
        .and_then(|offset| u32::try_from(offset).ok())
        .filter(|&offset| offset != FAR)
}

/// Keeps the exact `expiry` of `digest` aside (rare: see [`Shard`]); the offset that says so.
/// Out of line, so that the slots' stores around it keep a small frame.
#[cold]
#[inline(never)]
fn keep_aside(far: &mut KeyedMap<u64, i64>, digest: u64, expiry: i64) -> u32 {
    far.insert(digest, expiry);
    FAR
}

/// What [`Dedup::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Not remembered: now it is.
    New,
    /// Remembered: a duplicate.
    Duplicate,
    /// Remembered with this later expiry, now replaced by the new one.
    Replaces(i64),
}

#[derive(Debug, Clone, Default)]
pub struct Dedup {
    /// [`SHARDS`] tables, allocated with the first id. An entry whose expiry the watermark has
    /// passed is forgotten: it no longer matches, and its slot is reused or dropped when its
    /// table is rebuilt, so no queue of expiries is needed.
    shards: Vec<Shard>,
    /// Exact expiries of slots whose offset is [`FAR`] (none with usual settings).
    far: KeyedMap<u64, i64>,
    /// Slots in use, expired ones included.
    occupied: usize,
    /// The live entries of the table being rebuilt (transient).
    live: Vec<(u64, i64)>,
    places: Places,
}

/// foldhash's hash of quality: its fast one is one multiply of the digest by a seed, and for
/// about one process's seed in a hundred it left digests that differ in their low bits only
/// (which a producer can choose) in a few long runs of slots.
type PlaceState = foldhash::quality::SeedableRandomState;

/// Places the digests: random per instance (see the module's comment).
#[derive(Debug, Clone, Default)]
struct Places {
    keyed: PlaceState,
    /// Tests: a digest's place is the digest, to build probe chains at will.
    #[cfg(test)]
    plain: bool,
}

impl Places {
    #[inline]
    fn of(&self, digest: u64) -> u64 {
        #[cfg(test)]
        if self.plain {
            return digest;
        }
        self.keyed.hash_one(digest)
    }
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

    fn shard_of(place: u64) -> usize {
        (place >> (64 - SHARD_BITS)) as usize
    }

    /// Records `digest` until `expiry`; false when it is remembered already (a duplicate):
    /// an entry counts while the watermark has not passed its expiry (`expiry >= watermark`).
    pub fn insert(&mut self, digest: u64, expiry: i64, watermark: i64) -> bool {
        self.insert_judged(digest, expiry, watermark, watermark)
    }

    /// [`Dedup::insert`], with `digest`'s own entry judged against `judge` (at least
    /// `watermark`: the watermark as the event would leave it), every other entry against
    /// `watermark` (an event found a duplicate moves nothing, so no other id may be forgotten
    /// on its account).
    pub fn insert_judged(&mut self, digest: u64, expiry: i64, watermark: i64, judge: i64) -> bool {
        self.admit(digest, expiry, watermark, judge, false) != Admit::Duplicate
    }

    /// [`Dedup::insert_judged`], and with `earlier_wins`, a remembered entry whose expiry is
    /// later than `expiry` (a copy with a later `ts`, still waiting in the reorder buffer) is
    /// taken over: its expiry becomes `expiry`, and [`Admit::Replaces`] gives the old one.
    pub fn admit(
        &mut self,
        digest: u64,
        expiry: i64,
        watermark: i64,
        judge: i64,
        earlier_wins: bool,
    ) -> Admit {
        if self.shards.is_empty() {
            self.shards = vec![Shard::default(); SHARDS];
        }
        let far = &mut self.far;
        let place = self.places.of(digest);
        let shard = &mut self.shards[Self::shard_of(place)];
        // Rebased when event time has moved so far on that an expiry no longer fits, but
        // would on the watermark.
        let rebase = watermark > shard.base
            && shard.offset(expiry).is_none()
            && offset_from(watermark, expiry).is_some();
        // Swept when every id it held at its last rebuild has expired (`Shard::sweep_at`).
        let swept = watermark > shard.sweep_at;
        if (shard.occupied + 1) * 4 > shard.slots.len() * 3 || rebase || swept {
            let before = shard.occupied;
            shard.rebuild(watermark, expiry, far, &mut self.live, &self.places);
            self.occupied = self.occupied - before + shard.occupied;
        }
        let len = shard.slots.len();
        let mut i = shard.home(place);
        let mut reusable = None;
        loop {
            let slot = shard.slots[i];
            if slot.digest == EMPTY {
                break;
            }
            if slot.digest == digest {
                let held = shard.expiry(slot, far);
                if held < judge.max(watermark) {
                    shard.set(i, digest, expiry, far);
                    return Admit::New;
                }
                if earlier_wins && expiry < held {
                    shard.set(i, digest, expiry, far);
                    return Admit::Replaces(held);
                }
                return Admit::Duplicate;
            }
            if reusable.is_none() && shard.expiry(slot, far) < watermark {
                reusable = Some(i);
            }
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        match reusable {
            Some(at) => shard.set(at, digest, expiry, far),
            None => {
                shard.put(i, digest, expiry, far);
                shard.occupied += 1;
                self.occupied += 1;
            }
        }
        Admit::New
    }

    /// Starts loading the slot of `digest` into the cache (replay batches its lookups).
    pub fn prefetch(&self, digest: u64) {
        let place = self.places.of(digest);
        let Some(shard) = self.shards.get(Self::shard_of(place)) else {
            return;
        };
        if shard.slots.is_empty() {
            return;
        }
        // The home slot and the next few: a probe goes on past the home's line often enough.
        let home = shard.home(place);
        let probe = &shard.slots[home..shard.slots.len().min(home + PROBE_AHEAD)];
        super::hint::prefetch_slice(probe, 2);
    }

    /// The slots of every table, used or not.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.shards.iter().map(|shard| shard.slots.len()).sum()
    }

    /// The longest walk from a digest's home slot to its slot, over every table.
    #[cfg(test)]
    fn longest_probe(&self) -> usize {
        let mut longest = 0;
        for shard in &self.shards {
            let len = shard.slots.len();
            for (i, slot) in shard.slots.iter().enumerate() {
                if slot.digest != EMPTY {
                    let home = shard.home(self.places.of(slot.digest));
                    longest = longest.max((i + len - home) % len);
                }
            }
        }
        longest
    }

    fn entries(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.shards.iter().flat_map(move |shard| {
            shard
                .slots
                .iter()
                .filter(|slot| slot.digest != EMPTY)
                .map(move |&slot| (slot.digest, shard.expiry(slot, &self.far)))
        })
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

    /// Shared seeds that foldhash's fast hash placed badly here (longest probes 122 to 9,992).
    const SEEDS_ONCE_WEAK: [u64; 5] = [0, 185, 931, 1820, 2854];

    /// Digests are a fixed function of the ids, so a hostile producer can choose event ids
    /// whose digests share all but their low bits. Placed by those bits, they all had one home
    /// slot, and each insert walked all the others (quadratic: a few thousand such ids per
    /// hour make every event cost thousands of comparisons).
    #[test]
    fn digests_chosen_to_collide_in_their_bits_are_spread() {
        // The process's random seed is the one the instance gets, and some others, among them
        // seeds that foldhash's fast hash placed badly (about one process in a hundred:
        // longest probes of 100 to 1,000).
        let mut seeds = vec![None];
        seeds.extend(
            SEEDS_ONCE_WEAK
                .iter()
                .chain(&[1, 2, 3, 4, 5, 6, 7, 8])
                .map(Some),
        );
        for seed in seeds {
            let mut set = Dedup::default();
            if let Some(&seed) = seed {
                let shared = Box::leak(Box::new(foldhash::SharedSeed::from_u64(seed)));
                set.places.keyed = PlaceState::with_seed(seed, shared);
            }
            let n = 20_000u64;
            for i in 0..n {
                assert!(set.insert(0x5eed_cafe_f00d_0000 | i, 1_000, 0));
            }
            assert!(
                set.longest_probe() < 100,
                "seed {seed:?}: longest probe {}",
                set.longest_probe()
            );
            for i in 0..n {
                assert!(!set.insert(0x5eed_cafe_f00d_0000 | i, 1_000, 0), "{i}");
            }
            assert_eq!(set.len(), n as usize);
        }
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
        // Each table is rebuilt as it fills (at 3/4 of twice its live ids): the expired go,
        // memory follows the live ids.
        for i in 20_000..30_000u64 {
            set.insert(digest(i), i64::MAX, 100_000);
        }
        assert!(set.len() <= 15_000 + 2 * SHARDS, "{}", set.len());
        assert!(!set.insert(digest(25_000), 0, i64::MAX - 1));
    }

    /// After a burst, the ids held and the tables' memory come down with the ids within the
    /// window, also when fewer ids come than fill the tables again: the expired slots were
    /// reused one by one, and the gauge (`workhours_event_ids_held`) and the memory stayed at
    /// the burst's peak for as long as the process ran.
    #[test]
    fn a_burst_of_ids_is_let_go_once_its_window_has_passed() {
        let mut set = Dedup::default();
        // Placed by their own bits: the quiet stream's ids below reach every table for sure
        // (placed at random, 2,000 ids leave one of the 256 tables without any about once in
        // ten runs, and that table keeps its burst until an id comes).
        set.places.plain = true;
        for i in 0..20_000u64 {
            assert!(set.insert(digest(i), 1_000, 0));
        }
        assert_eq!(set.len(), 20_000);
        let burst = set.slots();
        assert!(burst >= 25_000, "{burst}");
        // An hour on, a quiet stream: a tenth as many ids, each table sees some.
        let quiet = |k: u64| (k % SHARDS as u64) << (64 - SHARD_BITS) | (k + 1);
        for k in 0..2_000u64 {
            assert!(set.insert(quiet(k), 10_000, 5_000));
        }
        assert_eq!(set.len(), 2_000, "the burst's ids are gone");
        assert!(
            set.slots() <= 2 * 2_000 + 3 * SHARDS * MIN_SLOTS,
            "{}",
            set.slots()
        );
        // Those still within the window are still remembered.
        for k in 0..2_000u64 {
            assert!(!set.insert(quiet(k), 0, 9_000), "{k}");
        }
        assert!(set.insert(digest(5), 20_000, 10_001), "expired, new again");
    }

    #[test]
    fn colliding_home_slots_reuse_expired_entries() {
        let mut set = Dedup::default();
        set.places.plain = true;
        // Same high bits: one table, one home slot, one probe chain.
        let ds: Vec<u64> = (1..50u64).map(|i| 5 << 40 | i).collect();
        for (i, &d) in ds.iter().enumerate() {
            assert!(set.insert(d, i as i64, 0));
        }
        for (i, &d) in ds.iter().enumerate() {
            // Watermark 25: the first 25 are forgotten, the rest remembered.
            assert_eq!(set.insert(d, 1_000, 25), i < 25, "{i}");
        }
    }

    #[test]
    fn expiries_out_of_a_slots_reach_stay_exact() {
        const DAY: i64 = 86_400_000;
        let mut set = Dedup::default();
        // A window of a year: expiries beyond the 49 days a slot's offset holds.
        let expiry = |i: u64| i as i64 * DAY / 10 + 365 * DAY;
        for i in 0..2_000u64 {
            assert!(set.insert(digest(i), expiry(i), i as i64 * DAY / 10));
        }
        // An event already older than the window, then event time 200 days on (rebases).
        assert!(set.insert(digest(5_000), -10, 0));
        assert!(
            !set.insert(digest(5_000), 0, -10),
            "counts at its exact expiry"
        );
        for i in 0..2_000u64 {
            assert!(!set.insert(digest(i), 0, expiry(i)), "{i}");
            assert!(set.insert(digest(i), 0, expiry(i) + 1), "{i}");
        }
        for i in 10_000..20_000u64 {
            assert!(set.insert(digest(i), 200 * DAY + i as i64, 200 * DAY));
        }
        for i in 10_000..20_000u64 {
            assert!(!set.insert(digest(i), 0, 200 * DAY + i as i64), "{i}");
        }
        assert!(set.len() <= 20_000, "{}", set.len());
        let copy: Dedup = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        let (mut a, mut b): (Vec<_>, Vec<_>) = (set.entries().collect(), copy.entries().collect());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    /// The one-shot digest is the streaming one, on both sides of the stack copies' sizes:
    /// digests are saved with the state, so they must never change.
    #[test]
    fn digests_are_those_of_the_streaming_hasher() {
        let streaming = |w: &str, e: &str| {
            let mut hasher = Xxh3::new();
            hasher.update(&(w.len() as u64).to_le_bytes());
            hasher.update(w.as_bytes());
            hasher.update(e.as_bytes());
            hasher.digest().max(1)
        };
        for w in [0, 1, 9, 55, 56, 57, 100, 247, 248, 249, 300] {
            for e in [0, 1, 7, 46, 47, 48, 120, 200, 248, 249, 500] {
                let worker = "w".repeat(w);
                let event = "é".repeat(e / 2) + &"e".repeat(e % 2);
                assert_eq!(
                    id_digest(&worker, &event),
                    streaming(&worker, &event),
                    "{w} {e}"
                );
            }
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
