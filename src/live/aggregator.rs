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

use super::kafka::{SourceError, client_config};
use super::{DAY_PREFIX, DONE_PREFIX, PARTITION_KEY};
use crate::alert::Alert;
use crate::config::Config;
use crate::engine::{DayReport, PartitionMeta, quota_alerts};

pub struct Aggregator {
    consumer: BaseConsumer,
    book: Book,
}

/// What the aggregator has read so far.
struct Book {
    frontiers: Vec<i64>,
    reports: BTreeMap<i32, BTreeMap<i32, DayReport>>,
    done: BTreeSet<i32>,
}

impl Aggregator {
    pub fn new(config: &Config, partitions: usize) -> Result<Aggregator, SourceError> {
        let kafka = &config.kafka;
        let mut client = client_config(kafka);
        client.set("group.id", format!("{}-quota", kafka.group_id));
        client.set("enable.auto.commit", "false");
        let consumer: BaseConsumer = client.create()?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment.add_partition_offset(&kafka.state_topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let book = Book {
            frontiers: vec![i64::MIN; partitions],
            reports: BTreeMap::new(),
            done: BTreeSet::new(),
        };
        Ok(Aggregator { consumer, book })
    }

    /// Reads what has arrived and returns the `quota_p90` alerts of the days now complete,
    /// with the days to mark done.
    pub fn poll(&mut self, config: &Config) -> (Vec<Alert>, Vec<i32>) {
        for _ in 0..10_000 {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    self.book.read(
                        partition,
                        message.key().unwrap_or_default(),
                        message.payload().unwrap_or_default(),
                    );
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
                .map_or(i64::MAX, |r| r.end);
            if end >= everywhere {
                break;
            }
            let parts = self.reports.remove(&day).unwrap_or_default();
            let mut merged = DayReport {
                day,
                start: 0,
                end,
                entries: Vec::new(),
            };
            for report in parts.into_values() {
                merged.start = report.start;
                merged.entries.extend(report.entries);
            }
            alerts.extend(quota_alerts(config, &merged));
            self.done.insert(day);
            finished.push(day);
        }
        (alerts, finished)
    }

    fn read(&mut self, partition: i32, key: &[u8], payload: &[u8]) {
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        if key == PARTITION_KEY {
            if let Ok(meta) = serde_json::from_slice::<PartitionMeta>(payload)
                && let Some(frontier) = self.frontiers.get_mut(partition as usize)
            {
                *frontier = (*frontier).max(meta.frontier);
            }
        } else if let Some(day) = key.strip_prefix(DAY_PREFIX) {
            if let (Ok(day), Ok(report)) = (
                day.parse::<i32>(),
                serde_json::from_slice::<DayReport>(payload),
            ) {
                self.reports
                    .entry(day)
                    .or_default()
                    .insert(partition, report);
            }
        } else if let Some(day) = key.strip_prefix(DONE_PREFIX)
            && let Ok(day) = day.parse::<i32>()
        {
            self.done.insert(day);
        }
    }
}
