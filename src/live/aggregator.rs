//! `quota_p90` across partitions. Each partition's engine writes, to its partition of the
//! state topic, a report of every local day it closes and, at each checkpoint, its frontier
//! (every instant before it is processed). The instance that owns input partition 0 tails all
//! state partitions: once every partition's frontier is past a day's end, every report of that
//! day has been written (a partition writes a day's report before the checkpoint that moves its
//! frontier past the day), so the day's 90th percentile is final. A done marker in the state
//! topic keeps a restarted aggregator from emitting it again.

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::kafka::{Logging, SourceError, client_config};
use super::state::{self, At, Record};
use crate::alert::Alert;
use crate::config::Config;
use crate::engine::{DayReport, quota_alerts};
use crate::keyed::KeyedMap;

pub struct Aggregator {
    consumer: BaseConsumer<Logging>,
    book: Book,
    zone: String,
}

/// One chunk of one partition's report of a day, with its groups interned: a day of many
/// workers costs twelve bytes per worker here, not their names.
struct Chunk {
    start: i64,
    end: i64,
    entries: Vec<(u32, i64)>,
}

/// What the aggregator has read so far.
struct Book {
    frontiers: Vec<i64>,
    /// Day -> (partition, chunk) -> chunk.
    reports: BTreeMap<i32, BTreeMap<(i32, u32), Chunk>>,
    done: BTreeSet<i32>,
    /// (platform, role, city) by id.
    groups: Vec<(String, String, String)>,
    group_ids: KeyedMap<(String, String, String), u32>,
}

impl Aggregator {
    pub fn new(config: &Config, partitions: usize) -> Result<Aggregator, SourceError> {
        let kafka = &config.kafka;
        let mut client = client_config(kafka);
        client.set("group.id", format!("{}-quota", kafka.group_id));
        client.set("enable.auto.commit", "false");
        let consumer: BaseConsumer<Logging> = client.create_with_context(Logging::default())?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment.add_partition_offset(&kafka.state_topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let book = Book {
            frontiers: vec![i64::MIN; partitions],
            reports: BTreeMap::new(),
            done: BTreeSet::new(),
            groups: Vec::new(),
            group_ids: KeyedMap::default(),
        };
        Ok(Aggregator {
            consumer,
            book,
            zone: config.time.zone.name().to_owned(),
        })
    }

    /// Reads what has arrived and returns the `quota_p90` alerts of the days now complete,
    /// with the days to mark done.
    pub fn poll(&mut self, config: &Config) -> (Vec<Alert>, Vec<i32>) {
        for _ in 0..10_000 {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let at = At {
                        partition: message.partition(),
                        offset: message.offset(),
                    };
                    let key = message.key().unwrap_or_default();
                    // Worker and id records say nothing about days: not decoded.
                    if state::is_worker_or_ids_key(key) {
                        continue;
                    }
                    match state::decode(key, message.payload(), &self.zone, at) {
                        Ok(record) => self.book.read(at.partition, record),
                        // The partition's owner stops on such a record when it restores;
                        // here it is only left out.
                        Err(error) => {
                            tracing::warn!(%error, "Quota aggregator: a state record left out.")
                        }
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "Quota aggregator read error.");
                    break;
                }
                None => break,
            }
        }
        self.book.complete_days(config)
    }
}

impl Book {
    fn complete_days(&mut self, config: &Config) -> (Vec<Alert>, Vec<i32>) {
        let everywhere = self.frontiers.iter().copied().min().unwrap_or(i64::MIN);
        let mut alerts = Vec::new();
        let mut finished = Vec::new();
        let days: Vec<i32> = self.reports.keys().copied().collect();
        for day in days {
            if self.done.contains(&day) {
                self.reports.remove(&day);
                continue;
            }
            let end = self.reports[&day]
                .values()
                .next()
                .map_or(i64::MAX, |chunk| chunk.end);
            if end >= everywhere {
                break;
            }
            let chunks = self.reports.remove(&day).unwrap_or_default();
            let mut merged = DayReport {
                day,
                start: 0,
                end,
                entries: Vec::new(),
            };
            for chunk in chunks.into_values() {
                merged.start = chunk.start;
                merged
                    .entries
                    .extend(chunk.entries.into_iter().map(|(group, work)| {
                        let (platform, role, city) = self.groups[group as usize].clone();
                        (String::new(), platform, role, city, work)
                    }));
            }
            alerts.extend(quota_alerts(config, &merged));
            self.done.insert(day);
            finished.push(day);
        }
        if self.reports.is_empty() {
            // No report waits: forget the groups of the days done.
            self.groups.clear();
            self.group_ids.clear();
        }
        (alerts, finished)
    }

    fn group(&mut self, platform: String, role: String, city: String) -> u32 {
        let key = (platform, role, city);
        if let Some(&id) = self.group_ids.get(&key) {
            return id;
        }
        let id = self.groups.len() as u32;
        self.groups.push(key.clone());
        self.group_ids.insert(key, id);
        id
    }

    fn read(&mut self, partition: i32, record: Record<'_>) {
        match record {
            Record::Partition(Some(meta)) => {
                if let Some(frontier) = self.frontiers.get_mut(partition as usize) {
                    *frontier = (*frontier).max(meta.frontier);
                }
            }
            Record::Day {
                day,
                chunk,
                report: Some(report),
            } => {
                if self.done.contains(&day) {
                    return;
                }
                let entries = report
                    .entries
                    .into_iter()
                    .map(|(_, platform, role, city, work)| (self.group(platform, role, city), work))
                    .collect();
                self.reports.entry(day).or_default().insert(
                    (partition, chunk),
                    Chunk {
                        start: report.start,
                        end: report.end,
                        entries,
                    },
                );
            }
            Record::QuotaDone(day) => {
                self.done.insert(day);
                self.reports.remove(&day);
            }
            _ => {}
        }
    }
}
