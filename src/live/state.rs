//! The state topic's record format, in one place: every record the monitor writes to the
//! state topic is encoded here, and every record it reads back is decoded and checked here.
//!
//! Keys start with their record type, so that no `worker_id` (any 1 to 128 characters, NUL
//! included) can reach a control record:
//!
//! | key | value | written |
//! |---|---|---|
//! | `w/` + `worker_id` | the engine's [`WorkerRecord`] | when the worker changed; a tombstone (no value) when it is forgotten after `worker_ttl` |
//! | `p` | [`PartitionMeta`]: frontier, largest `ts`, next input offsets (to restart from, and unread at the checkpoint), offsets of late events whose dead letters wait for it, counters | every checkpoint, after the records above |
//! | `d/DAY/CHUNK` | one chunk of the partition's [`DayReport`] of a closed local day | when the day closes (`quota_p90`) |
//! | `q/DAY` | empty: the day's `quota_p90` alerts were emitted | partition 0, by the aggregator |
//! | `i/N` | [`IdBatch`]: digests of `event_id`s remembered for duplicate detection, with their expiry | with `live.reread_input = false` only, at each checkpoint, for the events it is past; a tombstone once the watermark has passed every expiry in it |
//!
//! Every value is a JSON envelope `{"v": FORMAT, "zone": "...", "body": ...}`: the format
//! version and the `time.zone` the state was computed in. A record that does not decode
//! (another format, another zone, a corrupt or out-of-range body) stops the restore with an
//! error that says what to do; it is never skipped, and state is never reset silently. A
//! deliberate reset is `workhours run --reset-state` (see [`reset_keys`] and docs/LIVE.md).
//!
//! When the engine's record changes shape, [`FORMAT`] goes up by one; [`decode`] then
//! refuses the older version with that message, or converts it where a conversion exists.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::engine::{DayReport, PartitionMeta, SavedWorkers, WorkerRecord};

/// The version of the state records this release writes and reads.
pub const FORMAT: u32 = 1;

/// Key of a partition's own record.
pub const PARTITION_KEY: &[u8] = b"p";
const WORKER_PREFIX: &[u8] = b"w/";
const DAY_PREFIX: &str = "d/";
const DONE_PREFIX: &str = "q/";
const IDS_PREFIX: &str = "i/";

/// Most ids in one `i/N` record: about 40 bytes each in JSON, so far below the brokers' default
/// 1 MB message limit.
pub const IDS_PER_RECORD: usize = 8192;

/// Largest encoded size of one day-report chunk: far below the brokers' default 1 MB
/// message limit, whatever the names and ids in it.
const REPORT_CHUNK_BYTES: usize = 256 * 1024;

/// What to do when state cannot be used, for every error below.
const RESET_HINT: &str = "to start from empty state on purpose, stop every instance and run \
`workhours run --config FILE --reset-state` once (docs/LIVE.md, \"State\", \"Reset, on purpose\")";

/// Why state read back cannot be used. Each stops the monitor with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error(
        "state record at partition {partition} offset {offset} (key {key}) has no format \
         version: it was written by a release before the versioned state format, which this \
         release cannot read; run the previous release until it is replaced, or {RESET_HINT}"
    )]
    Unversioned {
        partition: i32,
        offset: i64,
        key: String,
    },
    #[error(
        "state record at partition {partition} offset {offset} (key {key}) has format \
         {found}; this release reads format {FORMAT} only; run the release that wrote it, or \
         {RESET_HINT}"
    )]
    Version {
        partition: i32,
        offset: i64,
        key: String,
        found: u32,
    },
    #[error(
        "state at partition {partition} was computed in time.zone = {saved}, but the config \
         says {configured}: local days, weeks and months would not match; set time.zone = \
         {saved} again, or {RESET_HINT}"
    )]
    Zone {
        partition: i32,
        saved: String,
        configured: String,
    },
    #[error(
        "state record at partition {partition} offset {offset} (key {key}) does not decode: \
         {detail}; {RESET_HINT}"
    )]
    Corrupt {
        partition: i32,
        offset: i64,
        key: String,
        detail: String,
    },
}

/// A record key, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Worker(&'a str),
    Partition,
    Day { day: i32, chunk: u32 },
    QuotaDone(i32),
    Ids(u64),
}

/// Key of a worker's record.
pub fn worker_key(worker_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(WORKER_PREFIX.len() + worker_id.len());
    key.extend_from_slice(WORKER_PREFIX);
    key.extend_from_slice(worker_id.as_bytes());
    key
}

fn day_key(day: i32, chunk: u32) -> String {
    format!("{DAY_PREFIX}{day}/{chunk}")
}

/// Key of the marker of a day whose `quota_p90` alerts were emitted.
pub fn done_key(day: i32) -> String {
    format!("{DONE_PREFIX}{day}")
}

/// Key of the `number`th record of remembered ids.
pub fn ids_key(number: u64) -> Vec<u8> {
    format!("{IDS_PREFIX}{number}").into_bytes()
}

/// Whether `key` is a worker's record or one of remembered ids: the quota aggregator reads
/// every record of the state topic but needs none of these, whose decoding was most of its
/// cost.
pub fn is_worker_or_ids_key(key: &[u8]) -> bool {
    key.starts_with(WORKER_PREFIX) || key.starts_with(IDS_PREFIX.as_bytes())
}

/// Parses a key; `None` for a key this format does not have (an older format's).
pub fn parse_key(key: &[u8]) -> Option<Key<'_>> {
    if key == PARTITION_KEY {
        return Some(Key::Partition);
    }
    if let Some(id) = key.strip_prefix(WORKER_PREFIX) {
        return std::str::from_utf8(id).ok().map(Key::Worker);
    }
    let text = std::str::from_utf8(key).ok()?;
    if let Some(rest) = text.strip_prefix(DAY_PREFIX) {
        let (day, chunk) = rest.split_once('/')?;
        return Some(Key::Day {
            day: day.parse().ok()?,
            chunk: chunk.parse().ok()?,
        });
    }
    if let Some(number) = text.strip_prefix(IDS_PREFIX) {
        return number.parse().ok().map(Key::Ids);
    }
    text.strip_prefix(DONE_PREFIX)?
        .parse()
        .ok()
        .map(Key::QuotaDone)
}

/// A key for messages: printable, control characters escaped, at most about 80 characters.
fn show_key(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    let mut shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
    if text.chars().count() > 80 {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    v: u32,
    zone: &'a str,
    body: &'a T,
}

#[derive(Deserialize)]
struct Incoming<T> {
    v: u32,
    zone: String,
    body: T,
}

/// The envelope alone, to say why a value did not decode.
#[derive(Deserialize)]
struct Head {
    v: Option<serde_json::Value>,
    zone: Option<serde_json::Value>,
}

fn envelope<T: Serialize>(zone: &str, body: &T) -> Vec<u8> {
    // Serialising these plain data types cannot fail (string keys, no custom serialisers).
    serde_json::to_vec(&Outgoing {
        v: FORMAT,
        zone,
        body,
    })
    .unwrap_or_default()
}

/// Encodes a worker's record: (key, value).
pub fn encode_worker(record: &WorkerRecord, zone: &str) -> (Vec<u8>, Vec<u8>) {
    (worker_key(&record.worker.id), envelope(zone, record))
}

/// Encodes a partition's own record: (key, value).
pub fn encode_meta(meta: &PartitionMeta, zone: &str) -> (Vec<u8>, Vec<u8>) {
    (PARTITION_KEY.to_vec(), envelope(zone, meta))
}

/// Encodes a day report in chunks small enough for any broker: (key, value) per chunk. An
/// empty report is one empty chunk, so that the day is known to have been reported.
pub fn encode_report(report: &DayReport, zone: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut entries = report.entries.as_slice();
    loop {
        // Entries are at most about 1.3 KB (128-character ids, 64-character names), so a
        // count by a conservative size keeps each chunk under the byte bound.
        let mut take = 0;
        let mut size = 0;
        while take < entries.len() && size < REPORT_CHUNK_BYTES {
            let (id, platform, role, city, _) = &entries[take];
            size += id.len() + platform.len() + role.len() + city.len() + 40;
            take += 1;
        }
        let chunk = DayReport {
            day: report.day,
            start: report.start,
            end: report.end,
            entries: entries[..take].to_vec(),
        };
        chunks.push((
            day_key(report.day, chunks.len() as u32).into_bytes(),
            envelope(zone, &chunk),
        ));
        entries = &entries[take..];
        if entries.is_empty() {
            return chunks;
        }
    }
}

/// Ids remembered for duplicate detection (SPEC section 5), as (digest, expiry): the
/// [`crate::engine::id_digest`] of an event's `worker_id` and `event_id`, and the instant
/// after which the watermark forgets it.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdBatch {
    pub ids: Vec<(u64, i64)>,
}

/// The latest expiry among `ids` (`i64::MIN` for none): once the watermark has passed it, the
/// record holding them can be tombstoned.
pub fn latest_expiry(ids: &[(u64, i64)]) -> i64 {
    ids.iter()
        .map(|&(_, expiry)| expiry)
        .max()
        .unwrap_or(i64::MIN)
}

/// Encodes the `number`th record of remembered ids: (key, value).
pub fn encode_ids(number: u64, ids: &[(u64, i64)], zone: &str) -> (Vec<u8>, Vec<u8>) {
    let batch = IdBatch { ids: ids.to_vec() };
    (ids_key(number), envelope(zone, &batch))
}

/// Encodes the marker of a day whose `quota_p90` alerts were emitted: (key, value).
pub fn encode_done(day: i32, zone: &str) -> (Vec<u8>, Vec<u8>) {
    (
        done_key(day).into_bytes(),
        envelope(zone, &serde_json::Map::new()),
    )
}

/// A record read back, decoded and checked; `None` bodies are tombstones.
#[derive(Debug)]
pub enum Record<'a> {
    Worker(&'a str, Option<Box<WorkerRecord>>),
    Partition(Option<Box<PartitionMeta>>),
    Day {
        day: i32,
        chunk: u32,
        report: Option<DayReport>,
    },
    QuotaDone(i32),
    Ids(u64, Option<IdBatch>),
    /// A tombstone of a key of no type of this format (a reset clearing older records).
    Cleared,
}

/// Where a record was read, for messages.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub partition: i32,
    pub offset: i64,
}

/// Decodes and checks one record of the state topic. `zone` is the configured `time.zone`.
pub fn decode<'a>(
    key: &'a [u8],
    value: Option<&[u8]>,
    zone: &str,
    at: At,
) -> Result<Record<'a>, StateError> {
    let corrupt = |detail: String| StateError::Corrupt {
        partition: at.partition,
        offset: at.offset,
        key: show_key(key),
        detail,
    };
    let Some(parsed) = parse_key(key) else {
        // A key of no known type: the previous release's worker ids and `\0partition`,
        // `\0day/N`, `\0quota-done/N` (or something else entirely). Without a version in
        // the value there is no telling, so the value decides the message. A tombstone of
        // such a key is a reset clearing it.
        return match value.map(|v| head(v, at, key)) {
            None => Ok(Record::Cleared),
            Some(Err(error)) => Err(error),
            Some(Ok(())) => Err(corrupt(
                "the key is of no record type of this format".into(),
            )),
        };
    };
    let Some(value) = value else {
        return Ok(match parsed {
            Key::Worker(id) => Record::Worker(id, None),
            Key::Partition => Record::Partition(None),
            Key::Day { day, chunk } => Record::Day {
                day,
                chunk,
                report: None,
            },
            Key::QuotaDone(day) => Record::QuotaDone(day),
            Key::Ids(number) => Record::Ids(number, None),
        });
    };
    Ok(match parsed {
        Key::Worker(id) => {
            let record: WorkerRecord = body(value, zone, at, key)?;
            if *record.worker.id != *id {
                return Err(corrupt(format!(
                    "the record is of worker {:?}, not of the key's",
                    &*record.worker.id
                )));
            }
            record.check().map_err(corrupt)?;
            Record::Worker(id, Some(Box::new(record)))
        }
        Key::Partition => {
            let meta: PartitionMeta = body(value, zone, at, key)?;
            check_meta(&meta).map_err(corrupt)?;
            Record::Partition(Some(Box::new(meta)))
        }
        Key::Day { day, chunk } => {
            let report: DayReport = body(value, zone, at, key)?;
            check_report(&report, day).map_err(corrupt)?;
            Record::Day {
                day,
                chunk,
                report: Some(report),
            }
        }
        Key::QuotaDone(day) => {
            let _: serde::de::IgnoredAny = body(value, zone, at, key)?;
            Record::QuotaDone(day)
        }
        Key::Ids(number) => {
            let batch: IdBatch = body(value, zone, at, key)?;
            // Digest 0 marks an empty slot of the duplicate table; none is ever saved.
            if batch.ids.iter().any(|&(digest, _)| digest == 0) {
                return Err(corrupt("an id has digest 0".into()));
            }
            Record::Ids(number, Some(batch))
        }
    })
}

/// Decodes an envelope's body, checking version and zone.
fn body<T: serde::de::DeserializeOwned>(
    value: &[u8],
    zone: &str,
    at: At,
    key: &[u8],
) -> Result<T, StateError> {
    match serde_json::from_slice::<Incoming<T>>(value) {
        Ok(incoming) if incoming.v == FORMAT && incoming.zone == zone => Ok(incoming.body),
        Ok(incoming) if incoming.v != FORMAT => Err(StateError::Version {
            partition: at.partition,
            offset: at.offset,
            key: show_key(key),
            found: incoming.v,
        }),
        Ok(incoming) => Err(StateError::Zone {
            partition: at.partition,
            saved: incoming.zone,
            configured: zone.to_owned(),
        }),
        Err(error) => Err(head(value, at, key).err().unwrap_or(StateError::Corrupt {
            partition: at.partition,
            offset: at.offset,
            key: show_key(key),
            detail: error.to_string(),
        })),
    }
}

/// The error the envelope alone shows (no version, another version), if any.
fn head(value: &[u8], at: At, key: &[u8]) -> Result<(), StateError> {
    let head: Head = serde_json::from_slice(value).unwrap_or(Head {
        v: None,
        zone: None,
    });
    match head.v {
        None => Err(StateError::Unversioned {
            partition: at.partition,
            offset: at.offset,
            key: show_key(key),
        }),
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(found) if found != FORMAT => Err(StateError::Version {
                partition: at.partition,
                offset: at.offset,
                key: show_key(key),
                found,
            }),
            Some(_) if head.zone.as_ref().is_some_and(|z| !z.is_string()) => {
                Err(StateError::Corrupt {
                    partition: at.partition,
                    offset: at.offset,
                    key: show_key(key),
                    detail: "`zone` is not a string".into(),
                })
            }
            _ => Ok(()),
        },
    }
}

/// Instants a partition record may hold: SPEC's event-time range widened by a year, or none.
fn check_instant(name: &str, t: i64) -> Result<(), String> {
    const YEAR: i64 = 366 * 86_400_000;
    let range = crate::timefmt::MIN_TS - YEAR..=crate::timefmt::MAX_TS + YEAR;
    if t == crate::engine::NEVER || range.contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` = {t} is not an instant between 1999 and 2101"
        ))
    }
}

fn check_meta(meta: &PartitionMeta) -> Result<(), String> {
    check_instant("frontier", meta.frontier)?;
    if let Some(max) = meta.max_ts {
        check_instant("max_ts", max)?;
    }
    if let Some((topic, offset)) = meta.next_offsets.iter().find(|(_, o)| **o < 0) {
        return Err(format!("next offset {offset} of `{topic}` is negative"));
    }
    for (topic, offsets) in &meta.late {
        if let Some(offset) = offsets.iter().find(|&&o| o < 0) {
            return Err(format!("late offset {offset} of `{topic}` is negative"));
        }
    }
    Ok(())
}

fn check_report(report: &DayReport, day: i32) -> Result<(), String> {
    if report.day != day {
        return Err(format!(
            "the report is of day {}, not of the key's",
            report.day
        ));
    }
    check_instant("start", report.start)?;
    check_instant("end", report.end)?;
    if report.start >= report.end || report.end - report.start > 26 * 3_600_000 {
        return Err("`start` and `end` are not those of a day".into());
    }
    if report.entries.iter().any(|entry| entry.4 < 0) {
        return Err("an entry has negative working time".into());
    }
    Ok(())
}

/// One partition's state as read back: the latest record of each key, tombstones applied.
#[derive(Debug, Default)]
pub struct Restored {
    pub workers: SavedWorkers,
    pub meta: Option<PartitionMeta>,
    /// Day reports by (day, chunk).
    pub reports: BTreeMap<(i32, u32), DayReport>,
    /// Remembered ids by record number.
    pub ids: BTreeMap<u64, Vec<(u64, i64)>>,
    /// Records that did not decode, by key: a later record of the same key (a tombstone of a
    /// reset included) supersedes them; any left at the end stops the restore.
    problems: BTreeMap<Vec<u8>, StateError>,
    /// Records read.
    pub read: u64,
}

impl Restored {
    /// Takes the next record of the partition, in offset order.
    pub fn add(&mut self, key: &[u8], value: Option<&[u8]>, zone: &str, at: At) {
        self.read += 1;
        match decode(key, value, zone, at) {
            Ok(record) => {
                self.problems.remove(key);
                match record {
                    Record::Worker(_, Some(record)) => {
                        self.workers.insert(*record);
                    }
                    Record::Worker(id, None) => {
                        self.workers.remove(id);
                    }
                    Record::Partition(meta) => self.meta = meta.map(|meta| *meta),
                    Record::Day { day, chunk, report } => match report {
                        Some(report) => {
                            self.reports.insert((day, chunk), report);
                        }
                        None => {
                            self.reports.remove(&(day, chunk));
                        }
                    },
                    Record::Ids(number, Some(batch)) => {
                        self.ids.insert(number, batch.ids);
                    }
                    Record::Ids(number, None) => {
                        self.ids.remove(&number);
                    }
                    Record::QuotaDone(_) | Record::Cleared => {}
                }
            }
            Err(error) => {
                // A zone error of the partition record is the partition's; others the key's.
                if let Some(Key::Worker(id)) = parse_key(key) {
                    self.workers.remove(id);
                }
                self.problems.insert(key.to_vec(), error);
            }
        }
    }

    /// The state, or the first record that cannot be used (with how many there are).
    pub fn finish(mut self) -> Result<Restored, (StateError, usize)> {
        let problems = std::mem::take(&mut self.problems);
        let count = problems.len();
        match problems.into_values().next() {
            None => Ok(self),
            Some(first) => Err((first, count)),
        }
    }

    /// Whether there is no state at all.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty() && self.meta.is_none()
    }

    /// The day reports merged per day (chunks joined), for days that end after `frontier`:
    /// only those can be closed again by the restored engine.
    pub fn open_reports(&self, frontier: i64) -> BTreeMap<i32, DayReport> {
        let mut merged: BTreeMap<i32, DayReport> = BTreeMap::new();
        for report in self.reports.values().filter(|r| r.end > frontier) {
            merged
                .entry(report.day)
                .and_modify(|m| m.entries.extend(report.entries.iter().cloned()))
                .or_insert_with(|| report.clone());
        }
        merged
    }
}

/// Keys to tombstone in a deliberate reset: every key whose latest record has a value,
/// whatever its format, from (key, has value) in offset order.
pub fn reset_keys<'a>(records: impl IntoIterator<Item = (&'a [u8], bool)>) -> Vec<Vec<u8>> {
    let mut latest: BTreeMap<&[u8], bool> = BTreeMap::new();
    for (key, has_value) in records {
        latest.insert(key, has_value);
    }
    latest
        .into_iter()
        .filter(|&(_, has_value)| has_value)
        .map(|(key, _)| key.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::event;

    const ZONE: &str = "Asia/Shanghai";
    const AT: At = At {
        partition: 3,
        offset: 17,
    };

    fn worker_record(id: &str) -> WorkerRecord {
        let mut engine = Engine::live(Config::default());
        let line = format!(
            r#"{{"worker_id":{},"kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"meituan"}}"#,
            serde_json::to_string(id).unwrap()
        );
        engine.push_live(&event::parse(line.as_bytes()).unwrap(), 0, 0, i64::MAX);
        engine.advance_to(crate::timefmt::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
        engine.take_dirty().pop().unwrap()
    }

    #[test]
    fn no_worker_id_reaches_a_control_key() {
        for id in [
            "\u{0}partition",
            "p",
            "",
            "d/20000/0",
            "q/20000",
            "/",
            "\u{0}day/1",
        ] {
            let key = worker_key(id);
            assert_eq!(parse_key(&key), Some(Key::Worker(id)), "{id:?}");
        }
        assert_eq!(parse_key(b"p"), Some(Key::Partition));
        assert_eq!(
            parse_key(b"d/20514/3"),
            Some(Key::Day {
                day: 20514,
                chunk: 3
            })
        );
        assert_eq!(parse_key(b"q/20514"), Some(Key::QuotaDone(20514)));
        assert_eq!(parse_key(b"i/7"), Some(Key::Ids(7)));
        assert!(is_worker_or_ids_key(b"i/7") && is_worker_or_ids_key(&worker_key("i/7")));
        assert!(!is_worker_or_ids_key(b"p") && !is_worker_or_ids_key(b"d/20514/0"));
        // The previous release's keys are of no type of this format.
        for old in [&b"\x00partition"[..], b"\x00day/20514", b"w-1", b"x"] {
            assert_eq!(parse_key(old), None);
        }
    }

    #[test]
    fn id_records_round_trip_and_tombstones_remove_them() {
        let ids = [(7, 1_772_409_600_000), (u64::MAX, -5)];
        let (key, value) = encode_ids(3, &ids, ZONE);
        assert_eq!(key, b"i/3");
        let (other, other_value) = encode_ids(4, &[(11, 1)], ZONE);
        let mut restored = Restored::default();
        restored.add(&key, Some(&value), ZONE, AT);
        restored.add(&other, Some(&other_value), ZONE, AT);
        restored.add(&key, None, ZONE, AT);
        let restored = restored.finish().unwrap();
        assert_eq!(restored.ids, BTreeMap::from([(4, vec![(11, 1)])]));
        // Digest 0 marks an empty slot of the duplicate table: never saved, refused.
        let (key, value) = encode_ids(5, &[(0, 1)], ZONE);
        let error = decode(&key, Some(&value), ZONE, AT).unwrap_err();
        assert!(error.to_string().contains("digest 0"), "{error}");
    }

    #[test]
    fn worker_records_round_trip_with_version_and_zone() {
        let record = worker_record("w\u{0}1");
        let (key, value) = encode_worker(&record, ZONE);
        let text = std::str::from_utf8(&value).unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"zone":"Asia/Shanghai","body":{"#),
            "{text}"
        );
        match decode(&key, Some(&value), ZONE, AT).unwrap() {
            Record::Worker(id, Some(back)) => {
                assert_eq!(id, "w\u{0}1");
                assert_eq!(back.worker.id, record.worker.id);
                assert_eq!(back.platform, "meituan");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(&key, None, ZONE, AT),
            Ok(Record::Worker("w\u{0}1", None))
        ));
    }

    #[test]
    fn another_zone_version_or_shape_is_an_error_naming_the_fix() {
        let record = worker_record("w1");
        let (key, value) = encode_worker(&record, ZONE);
        let error = decode(&key, Some(&value), "Europe/Berlin", AT).unwrap_err();
        assert!(matches!(&error, StateError::Zone { saved, configured, .. }
            if saved == ZONE && configured == "Europe/Berlin"));
        let text = error.to_string();
        assert!(
            text.contains("Asia/Shanghai") && text.contains("Europe/Berlin"),
            "{text}"
        );
        assert!(text.contains("--reset-state"), "{text}");

        let newer = String::from_utf8(value.clone())
            .unwrap()
            .replacen(r#""v":1"#, r#""v":2"#, 1);
        let error = decode(&key, Some(newer.as_bytes()), ZONE, AT).unwrap_err();
        assert!(
            matches!(error, StateError::Version { found: 2, .. }),
            "{error}"
        );

        let broken = String::from_utf8(value)
            .unwrap()
            .replacen(r#""since""#, r#""sinze""#, 1);
        let error = decode(&key, Some(broken.as_bytes()), ZONE, AT).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("offset 17"), "{error}");
    }

    #[test]
    fn extreme_values_are_refused_not_restored() {
        let mut record = worker_record("w1");
        record.worker.day.number = i32::MAX - 5;
        let (key, value) = encode_worker(&record, ZONE);
        let error = decode(&key, Some(&value), ZONE, AT).unwrap_err();
        assert!(error.to_string().contains("`day.number`"), "{error}");

        // A rule's state is checked too: a streak's last day far out of range.
        let mut record = worker_record("w1");
        let streak = record
            .worker
            .states
            .iter_mut()
            .find_map(|s| match &mut s.state {
                crate::engine::rules::KindState::Streak(_, _, s) => Some(s),
                _ => None,
            })
            .expect("the default pack has a streak rule");
        streak.last_day = i32::MIN + 5;
        let (key, value) = encode_worker(&record, ZONE);
        let error = decode(&key, Some(&value), ZONE, AT).unwrap_err();
        assert!(error.to_string().contains("`streak.last_day`"), "{error}");

        let mut record = worker_record("w1");
        record.worker.since = i64::MAX - 1;
        let (key, value) = encode_worker(&record, ZONE);
        assert!(decode(&key, Some(&value), ZONE, AT).is_err());

        let meta = PartitionMeta {
            frontier: 1 << 62,
            ..PartitionMeta::default()
        };
        let (key, value) = encode_meta(&meta, ZONE);
        assert!(decode(&key, Some(&value), ZONE, AT).is_err());
    }

    /// The partition record's `read_to` round-trips, and a record without it (an older
    /// release's) reads as unknown.
    #[test]
    fn partition_records_carry_read_to_and_read_without_it() {
        let meta = PartitionMeta {
            frontier: 1_772_409_600_000,
            read_to: Some(BTreeMap::from([("in".to_owned(), 42)])),
            ..PartitionMeta::default()
        };
        let (key, value) = encode_meta(&meta, ZONE);
        let text = String::from_utf8(value.clone()).unwrap();
        assert!(text.contains(r#""read_to":{"in":42}"#), "{text}");
        let Record::Partition(Some(back)) = decode(&key, Some(&value), ZONE, AT).unwrap() else {
            panic!("not a partition record");
        };
        assert_eq!(*back, meta);
        let older = text.replace(r#","read_to":{"in":42}"#, "");
        let Record::Partition(Some(back)) = decode(&key, Some(older.as_bytes()), ZONE, AT).unwrap()
        else {
            panic!("not a partition record");
        };
        assert_eq!(back.read_to, None);
    }

    /// The offsets of late events a partition record names round-trip; a record naming none
    /// (every record of releases before them) has no `late` at all.
    #[test]
    fn partition_records_name_late_events_only_when_there_are_some() {
        let meta = PartitionMeta {
            frontier: 1_772_409_600_000,
            late: BTreeMap::from([("in".to_owned(), vec![7, 9])]),
            ..PartitionMeta::default()
        };
        let (key, value) = encode_meta(&meta, ZONE);
        let text = String::from_utf8(value.clone()).unwrap();
        assert!(text.contains(r#""late":{"in":[7,9]}"#), "{text}");
        let Record::Partition(Some(back)) = decode(&key, Some(&value), ZONE, AT).unwrap() else {
            panic!("not a partition record");
        };
        assert_eq!(*back, meta);
        let none = text.replace(r#","late":{"in":[7,9]}"#, "");
        let Record::Partition(Some(back)) = decode(&key, Some(none.as_bytes()), ZONE, AT).unwrap()
        else {
            panic!("not a partition record");
        };
        assert!(back.late.is_empty());
        let (_, value) = encode_meta(&back, ZONE);
        assert!(!String::from_utf8(value).unwrap().contains(r#""late":{"#));
        let negative = text.replace("[7,9]", "[-1]");
        assert!(decode(&key, Some(negative.as_bytes()), ZONE, AT).is_err());
    }

    /// The previous release (e2805a8) wrote unversioned records under bare worker ids and
    /// `\0`-prefixed control keys: `tests/live/fixtures/state-e2805a8.jsonl` holds some.
    #[test]
    fn the_previous_release_records_stop_the_restore_with_the_fix() {
        let fixture = include_str!("../../tests/live/fixtures/state-e2805a8.jsonl");
        let mut restored = Restored::default();
        let mut n = 0;
        for (offset, line) in fixture.lines().enumerate() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = record["key"].as_str().unwrap().as_bytes();
            let value = record["value"].as_str().map(str::as_bytes);
            let at = At {
                partition: 0,
                offset: offset as i64,
            };
            assert!(matches!(
                decode(key, value, ZONE, at),
                Err(StateError::Unversioned { .. })
            ));
            restored.add(key, value, ZONE, at);
            n += 1;
        }
        let (error, count) = restored.finish().unwrap_err();
        assert_eq!(count, n);
        let text = error.to_string();
        assert!(text.contains("no format version"), "{text}");
        assert!(text.contains("--reset-state"), "{text}");
    }

    #[test]
    fn later_records_and_tombstones_supersede_problems() {
        let zone = ZONE;
        let mut restored = Restored::default();
        restored.add(b"w-1", Some(b"{\"worker\":{}}"), zone, AT);
        restored.add(b"\x00partition", Some(b"{}"), zone, AT);
        assert_eq!(restored.problems.len(), 2);
        // A reset tombstones every key with a value.
        let keys = reset_keys([
            (&b"w-1"[..], true),
            (&b"\x00partition"[..], true),
            (&b"w/gone"[..], true),
            (&b"w/gone"[..], false),
        ]);
        assert_eq!(keys, vec![b"\x00partition".to_vec(), b"w-1".to_vec()]);
        for key in keys {
            restored.add(&key, None, zone, AT);
        }
        let (key, value) = encode_worker(&worker_record("w2"), zone);
        restored.add(&key, Some(&value), zone, AT);
        let restored = restored.finish().unwrap();
        assert_eq!(restored.workers.len(), 1);
        assert!(restored.workers.contains("w2"));
    }

    #[test]
    fn day_reports_split_into_small_chunks_and_join_again() {
        let entries: Vec<_> = (0..5000)
            .map(|i| {
                (
                    format!("{i:0>128}"),
                    "p".repeat(64),
                    "r".repeat(64),
                    "c".repeat(64),
                    i as i64,
                )
            })
            .collect();
        let report = DayReport {
            day: 20514,
            start: 1_772_380_800_000,
            end: 1_772_467_200_000,
            entries,
        };
        let chunks = encode_report(&report, ZONE);
        assert!(chunks.len() > 1);
        let mut restored = Restored::default();
        for (key, value) in &chunks {
            assert!(value.len() < 1_000_000, "{}", value.len());
            restored.add(key, Some(value), ZONE, AT);
        }
        let restored = restored.finish().unwrap();
        let open = restored.open_reports(report.start);
        assert_eq!(open[&20514].entries, report.entries);
        assert!(restored.open_reports(report.end).is_empty());
        let empty = DayReport {
            entries: Vec::new(),
            ..report
        };
        assert_eq!(encode_report(&empty, ZONE).len(), 1);
    }
}
