//! The consume loop: one engine per input partition, fed message by message, checkpointed to
//! the state topic, with offsets committed only after everything a checkpoint covers is
//! acknowledged (at least once).
//!
//! The loop runs on one dedicated thread that owns the consumer. librdkafka calls the
//! rebalance callbacks from inside `poll`, on that same thread, so a revocation can checkpoint
//! the partitions it takes away synchronously, before they move, and an assignment can read
//! the partitions' state back before it takes them. Those are the two places where a callback
//! does real work; both are bounded (a deadline, or the service stopping) and never panic.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::aggregator::Aggregator;
use super::kafka::{
    Sink, SourceError, client_config, dead_letter_headers, prepare_topics, read_state_partitions,
    set_default,
};
use super::{DAY_PREFIX, DONE_PREFIX, PARTITION_KEY};
use crate::alert::Alert;
use crate::config::Config;
use crate::engine::{
    DayReport, Engine, NamedObservation, Observation, PartitionMeta, Pushed, WorkerRecord,
};
use crate::event;
use crate::metrics::Metrics;

/// The least time between two checkpoints taken early, when the input runs dry.
const EARLY_CHECKPOINT_GAP: Duration = Duration::from_secs(1);
/// How long a checkpoint waits for acknowledgements before trying again later.
const FLUSH_DEADLINE: Duration = Duration::from_secs(4);

/// Where "now" comes from: the wall clock, or (the demo) a clock that runs `speed` times
/// faster than the wall clock from `start_ms` on, so that hours of event time pass in seconds
/// through the same watermarks and timers as in production.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Wall,
    Scaled {
        origin: Instant,
        start_ms: i64,
        speed: f64,
    },
}

impl Clock {
    pub fn scaled(start_ms: i64, speed: f64) -> Clock {
        Clock::Scaled {
            origin: Instant::now(),
            start_ms,
            speed,
        }
    }

    pub fn now_ms(&self) -> i64 {
        match *self {
            Clock::Wall => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Clock::Scaled {
                origin,
                start_ms,
                speed,
            } => start_ms + (origin.elapsed().as_secs_f64() * 1000.0 * speed) as i64,
        }
    }
}

/// The time of one poll batch, read once for all its messages (clock reads were a visible
/// share of the per-message cost).
#[derive(Clone, Copy)]
struct Tick {
    at: Instant,
    ms: i64,
}

/// What one poll batch adds to the per-event metrics, applied once at its end: label lookups
/// per event were a visible share of the per-event cost.
#[derive(Default)]
struct BatchMetrics {
    /// Valid events per (input topic index, kind).
    events: Vec<(usize, event::Kind, u64)>,
    /// Platforms that sent an event in this batch.
    platforms: Vec<String>,
}

impl BatchMetrics {
    fn event(&mut self, topic: usize, kind: event::Kind, platform: &str) {
        match self
            .events
            .iter_mut()
            .find(|(t, k, _)| *t == topic && *k == kind)
        {
            Some(entry) => entry.2 += 1,
            None => self.events.push((topic, kind, 1)),
        }
        if !self.platforms.iter().any(|p| p == platform) {
            self.platforms.push(platform.to_owned());
        }
    }

    /// Applies the batch to `metrics` and empties it.
    fn flush(&mut self, metrics: &Metrics, topics: &[String], tick: Tick) {
        for (topic, kind, n) in self.events.drain(..) {
            metrics.events_received(&topics[topic], kind.as_str(), n);
        }
        for platform in self.platforms.drain(..) {
            metrics.last_event(&platform, tick.ms as f64 / 1000.0);
        }
    }
}

/// Where a message came from, and its bytes.
struct Origin<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
}

/// One input partition (across all input topics).
pub struct Part {
    pub engine: Engine,
    /// Per input topic (by index), the next offset to read; `None` before the first message.
    next: Vec<Option<i64>>,
    /// Per input topic, when it last delivered a message (or the partition's assignment).
    topic_last: Vec<Instant>,
    /// Per input topic, the offset below which every message was handled before the restore:
    /// read again (`live.reread_input`), those only refill duplicate detection.
    handled_below: Vec<Option<i64>>,
    last_message: Instant,
    changed: bool,
    /// Day reports written so far, merged with re-closed days after a restore.
    reports: BTreeMap<i32, DayReport>,
}

/// State shared between the loop, the rebalance callbacks and the HTTP handlers.
pub struct Shared {
    pub parts: Mutex<BTreeMap<i32, Part>>,
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    /// True while assigned partitions' state is being read back.
    restoring: AtomicBool,
    assigned_once: AtomicBool,
}

impl Shared {
    pub fn new(metrics: Arc<Metrics>) -> Shared {
        Shared {
            parts: Mutex::new(BTreeMap::new()),
            ready: Arc::new(AtomicBool::new(false)),
            metrics,
            restoring: AtomicBool::new(false),
            assigned_once: AtomicBool::new(false),
        }
    }

    /// Locks the partitions; a panic elsewhere never poisons the service for good.
    pub fn parts(&self) -> MutexGuard<'_, BTreeMap<i32, Part>> {
        self.parts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update_ready(&self) {
        let ready =
            self.assigned_once.load(Ordering::Relaxed) && !self.restoring.load(Ordering::Relaxed);
        self.ready.store(ready, Ordering::Relaxed);
        self.metrics.set_ready(ready);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the loop and the callbacks need.
pub struct Core {
    pub config: Config,
    pub shared: Arc<Shared>,
    sink: Sink,
    topics: Vec<String>,
    /// Days whose `quota_p90` alerts were sent; marked done once those are acknowledged.
    done_days: Mutex<Vec<i32>>,
    clock: Clock,
    running: Arc<AtomicBool>,
    /// Alerts handed to the sink so far.
    emitted: AtomicU64,
}

/// The consumer's context: forwards librdkafka's logs to tracing and handles rebalances.
pub struct LiveContext {
    core: Arc<Core>,
}

impl ClientContext for LiveContext {
    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, stats) in &statistics.topics {
            if !self.core.topics.contains(topic) {
                continue;
            }
            for (&partition, partition_stats) in &stats.partitions {
                // -1 is librdkafka's "unassigned" pseudo-partition; -1 lag is "unknown".
                if partition >= 0 && partition_stats.consumer_lag >= 0 {
                    self.core.shared.metrics.set_consumer_lag(
                        topic,
                        partition,
                        partition_stats.consumer_lag,
                    );
                }
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
            _ => tracing::debug!(facility, "librdkafka: {message}"),
        }
    }
}

impl ConsumerContext for LiveContext {
    /// The default strategy, except that assigned partitions start from their beginning when
    /// `live.reread_input` is on (the restored state then skips what it already holds).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // The state is read back before the partitions are taken, so that no message
                // arrives before its partition's state. (Pausing the partitions instead costs
                // librdkafka's offset query a 500 ms retry, every time.)
                if !self.core.restore_until_done(&partitions_of(tpl)) {
                    return;
                }
                if self.core.config.live.reread_input
                    && let Err(error) = tpl.set_all_offsets(Offset::Beginning)
                {
                    tracing::error!(%error, "Cannot set assigned partitions to their beginning.");
                }
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "Cannot take the assigned partitions.");
                }
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "Cannot give the revoked partitions up.");
                }
            }
            other => tracing::error!(error = ?other, "Rebalance failed."),
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let partitions = partitions_of(list);
            tracing::info!(?partitions, "Partitions revoked: saving their state.");
            self.core
                .checkpoint(consumer, Some(&partitions), CommitMode::Sync);
            let mut parts = self.core.shared.parts();
            for partition in &partitions {
                parts.remove(partition);
                self.core.shared.metrics.forget_partition(*partition);
            }
            self.core
                .shared
                .metrics
                .set_partitions_assigned(parts.len());
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let partitions = partitions_of(list);
                tracing::info!(?partitions, "Partitions assigned and restored: consuming.");
                self.core
                    .shared
                    .assigned_once
                    .store(true, Ordering::Relaxed);
                self.core.shared.update_ready();
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(%error, "Rebalance failed."),
        }
    }
}

fn partitions_of(list: &TopicPartitionList) -> Vec<i32> {
    let mut partitions: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
    partitions.sort_unstable();
    partitions.dedup();
    partitions
}

impl Core {
    fn topic_index(&self, topic: &str) -> Option<usize> {
        self.topics.iter().position(|t| t == topic)
    }

    fn emit(&self, alerts: Vec<Alert>) {
        let zone = self.config.time.zone;
        self.emitted
            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        for alert in alerts {
            self.shared
                .metrics
                .alert_emitted(&alert.rule, alert.phase.as_str(), &alert.platform);
            let value = alert.to_json(&zone);
            self.sink.send(
                &self.config.kafka.alerts_topic,
                None,
                Some(alert.key().as_bytes()),
                value.as_bytes(),
                None,
            );
        }
    }

    fn observe(&self, observations: Vec<NamedObservation>) {
        for named in observations {
            let (platform, role, city) = (&named.platform, &named.role, &named.city);
            match named.observation {
                Observation::EpisodeEnded { work, .. } => {
                    self.shared
                        .metrics
                        .episode_ended(platform, role, city, work as f64 / 1000.0)
                }
                Observation::DayClosed { work, .. } => {
                    self.shared
                        .metrics
                        .day_closed(platform, role, city, work as f64 / 1000.0)
                }
            }
        }
    }

    fn dead_letter(&self, origin: &Origin<'_>, reason: &str, detail: &str) {
        // Late events are valid: counted by `late_event`, not as bad.
        if reason != "late" {
            self.shared.metrics.bad_event(origin.topic, reason);
        }
        tracing::debug!(
            origin.topic,
            origin.partition,
            origin.offset,
            reason,
            detail,
            "Bad event to the dead-letter topic."
        );
        let headers = dead_letter_headers(
            reason,
            detail,
            origin.topic,
            origin.partition,
            origin.offset,
        );
        self.sink.send(
            &self.config.kafka.dead_letter_topic,
            None,
            origin.key,
            origin.payload,
            Some(headers),
        );
    }

    /// Feeds one message to its partition's engine.
    fn tick(&self) -> Tick {
        Tick {
            at: Instant::now(),
            ms: self.clock.now_ms(),
        }
    }

    fn process(&self, part: &mut Part, origin: &Origin<'_>, tick: Tick, batch: &mut BatchMetrics) {
        let Some(index) = self.topic_index(origin.topic) else {
            return;
        };
        let now = tick.ms;
        part.next[index] = Some(origin.offset + 1);
        part.last_message = tick.at;
        if part.handled_below[index].is_some_and(|below| origin.offset < below) {
            if let Ok(event) = event::parse(origin.payload) {
                part.engine.remember_id(&event);
            }
            return;
        }
        part.changed = true;
        let event = match event::parse(origin.payload) {
            Ok(event) => event,
            Err(bad) => return self.dead_letter(origin, bad.reason.code(), &bad.detail),
        };
        if let Err(bad) = event::check_future(&event, now, self.config.time.max_future_skew) {
            return self.dead_letter(origin, bad.reason.code(), &bad.detail);
        }
        let seq = origin.offset as u64 * self.topics.len() as u64 + index as u64;
        batch.event(index, event.kind, &event.platform);
        part.topic_last[index] = tick.at;
        if self.topics.len() > 1 {
            // Co-partitioned topics: a topic silent for the idle timeout stops holding the
            // partition's event time back.
            let idle = Duration::from_millis(self.config.live.idle_timeout.max(0) as u64);
            let active: Vec<bool> = part
                .topic_last
                .iter()
                .map(|last| last.elapsed() < idle)
                .collect();
            part.engine.set_sources(&active);
        }
        match part.engine.push_live(&event, seq, index, now) {
            Pushed::Accepted => {}
            Pushed::Duplicate => self.shared.metrics.duplicate_event(),
            Pushed::Late => {
                self.shared.metrics.late_event();
                let detail = format!(
                    "`ts` is older than the partition's watermark (allowed lateness {} ms)",
                    self.config.time.allowed_lateness
                );
                return self.dead_letter(origin, "late", &detail);
            }
            Pushed::AlreadyApplied => return,
        }
        part.engine.advance();
        self.emit(part.engine.take_alerts());
        self.observe(part.engine.take_observations());
    }

    /// Moves the event time of partitions without a message for `idle_timeout` with the wall
    /// clock. Idleness is time spent polling without a message: not the end-of-partition event,
    /// which some brokers (Tansu 0.6) do not produce reliably, and not the time this thread
    /// spent blocked on its own work (see [`Core::credit_stall`]).
    fn advance_idle(&self) {
        let idle = Duration::from_millis(self.config.live.idle_timeout.max(0) as u64);
        let now = self.clock.now_ms();
        let target = now - self.config.live.max_delay;
        let mut parts = self.shared.parts();
        for (partition, part) in parts.iter_mut() {
            if part.last_message.elapsed() >= idle && part.engine.watermark() < target {
                part.engine.advance_to(target);
                part.changed = true;
                self.emit(part.engine.take_alerts());
                self.observe(part.engine.take_observations());
            }
            let watermark = part.engine.watermark();
            if watermark != crate::engine::NEVER {
                let lag = now.saturating_sub(watermark).max(0) as f64 / 1000.0;
                self.shared.metrics.set_watermark_lag(*partition, lag);
            }
        }
    }

    /// Saves the state of `which` partitions (all when `None`), waits for every queued
    /// message to be acknowledged, then commits their offsets. Returns whether it committed.
    pub fn checkpoint(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        which: Option<&[i32]>,
        mode: CommitMode,
    ) -> bool {
        let state_topic = &self.config.kafka.state_topic;
        // Phase 1: every alert and dead letter produced so far must be acknowledged before the
        // state that implies it is written; otherwise a crash could leave saved state newer
        // than the alerts that reached the topic, and those alerts would be lost.
        if !self.acknowledged() {
            return false;
        }
        // Phase 2: the state, then the offsets. Nothing is processed in between: this thread
        // does both.
        for day in std::mem::take(&mut *lock(&self.done_days)) {
            let key = format!("{DONE_PREFIX}{day}");
            self.sink
                .send(state_topic, Some(0), Some(key.as_bytes()), b"{}", None);
        }
        let mut offsets = TopicPartitionList::new();
        {
            let mut parts = self.shared.parts();
            for (&partition, part) in parts.iter_mut() {
                if which.is_some_and(|list| !list.contains(&partition)) || !part.changed {
                    continue;
                }
                part.changed = false;
                for record in part.engine.take_dirty() {
                    match serde_json::to_vec(&record) {
                        Ok(value) => self.sink.send(
                            state_topic,
                            Some(partition),
                            Some(record.worker.id.as_bytes()),
                            &value,
                            None,
                        ),
                        Err(error) => tracing::error!(%error, "Cannot encode a worker's state."),
                    }
                }
                for report in part.engine.take_reports() {
                    let merged = merge_report(part.reports.remove(&report.day), report);
                    let key = format!("{DAY_PREFIX}{}", merged.day);
                    if let Ok(value) = serde_json::to_vec(&merged) {
                        self.sink.send(
                            state_topic,
                            Some(partition),
                            Some(key.as_bytes()),
                            &value,
                            None,
                        );
                    }
                    part.reports.insert(merged.day, merged);
                }
                // Day reports are kept in memory for merging for about five weeks.
                while part.reports.len() > 40 {
                    part.reports.pop_first();
                }
                let mut meta = part.engine.meta();
                let mut buffered: Vec<Option<i64>> = vec![None; self.topics.len()];
                let topics = self.topics.len() as u64;
                for seq in part.engine.buffered_seqs() {
                    let (index, offset) = ((seq % topics) as usize, (seq / topics) as i64);
                    buffered[index] = Some(buffered[index].map_or(offset, |o: i64| o.min(offset)));
                }
                for (index, topic) in self.topics.iter().enumerate() {
                    let next = match (part.next[index], buffered[index]) {
                        (Some(next), Some(held)) => Some(next.min(held)),
                        (next, held) => next.or(held),
                    };
                    if let Some(next) = next {
                        meta.next_offsets.insert(topic.clone(), next);
                        let _ =
                            offsets.add_partition_offset(topic, partition, Offset::Offset(next));
                    }
                }
                if let Ok(value) = serde_json::to_vec(&meta) {
                    self.sink.send(
                        state_topic,
                        Some(partition),
                        Some(PARTITION_KEY.as_bytes()),
                        &value,
                        None,
                    );
                }
            }
        }
        if !self.acknowledged() {
            return false;
        }
        if offsets.count() > 0
            && let Err(error) = consumer.commit(&offsets, mode)
        {
            tracing::warn!(%error, "Commit failed; the next checkpoint commits again.");
            return false;
        }
        true
    }

    /// A number that grows with every alert sent and every event applied (early checkpoints).
    fn progress(&self) -> u64 {
        let applied: u64 = self
            .shared
            .parts()
            .values()
            .map(|part| part.engine.applied())
            .sum();
        applied + self.emitted.load(Ordering::Relaxed)
    }

    /// Moves every partition's idle clock forward by `stall`: time this thread spent blocked
    /// (a checkpoint waiting for acknowledgements, a restore) is no evidence of quiet input.
    fn credit_stall(&self, stall: Duration) {
        let now = Instant::now();
        for part in self.shared.parts().values_mut() {
            part.last_message = (part.last_message + stall).min(now);
            for last in &mut part.topic_last {
                *last = (*last + stall).min(now);
            }
        }
    }

    /// Waits until everything queued is acknowledged (bounded); false when it is not.
    fn acknowledged(&self) -> bool {
        self.shared
            .metrics
            .set_producer_queue(i64::from(self.sink.queued()));
        let failed_before = self.sink.failed();
        if !self.sink.flush_until(Instant::now() + FLUSH_DEADLINE) {
            tracing::warn!(
                "Checkpoint: not every message acknowledged yet; state and offsets wait."
            );
            return false;
        }
        if self.sink.failed() != failed_before {
            tracing::error!(
                "Checkpoint: some messages were not delivered; offsets stay uncommitted."
            );
            return false;
        }
        true
    }

    /// Reads partitions' state back, retrying until it succeeds; false when the service stops
    /// first. `/readyz` says not ready meanwhile.
    fn restore_until_done(&self, partitions: &[i32]) -> bool {
        tracing::info!(?partitions, "Partitions assigned: restoring their state.");
        self.shared.restoring.store(true, Ordering::Relaxed);
        self.shared.update_ready();
        let restored = loop {
            match self.restore(partitions) {
                Ok(()) => break true,
                Err(error) => {
                    tracing::error!(?partitions, %error, "Cannot restore the partitions' state; retrying.");
                }
            }
            if !self.running.load(Ordering::Relaxed) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        self.shared.restoring.store(false, Ordering::Relaxed);
        self.shared.update_ready();
        restored
    }

    /// Reads partitions' state back into fresh engines.
    fn restore(&self, partitions: &[i32]) -> Result<(), SourceError> {
        let metrics = &self.shared.metrics;
        #[derive(Default)]
        struct Saved {
            records: BTreeMap<Vec<u8>, WorkerRecord>,
            meta: Option<PartitionMeta>,
            reports: BTreeMap<i32, DayReport>,
        }
        let mut saved: BTreeMap<i32, Saved> =
            partitions.iter().map(|&p| (p, Saved::default())).collect();
        for &partition in partitions {
            metrics.set_restoring(partition, true);
        }
        let started = Instant::now();
        let read = read_state_partitions(
            &self.config.kafka,
            partitions,
            Duration::from_secs(120),
            |partition, key, payload| {
                metrics.restore_progress(partition, 1);
                let Some(saved) = saved.get_mut(&partition) else {
                    return;
                };
                if key == PARTITION_KEY.as_bytes() {
                    if let Ok(meta) = serde_json::from_slice::<PartitionMeta>(payload) {
                        saved.meta = Some(meta);
                    }
                } else if key.starts_with(DAY_PREFIX.as_bytes()) {
                    if let Ok(report) = serde_json::from_slice::<DayReport>(payload) {
                        saved.reports.insert(report.day, report);
                    }
                } else if key.starts_with(DONE_PREFIX.as_bytes()) {
                } else if let Ok(record) = serde_json::from_slice::<WorkerRecord>(payload) {
                    saved.records.insert(key.to_vec(), record);
                }
            },
        )?;
        tracing::info!(?partitions, records = read, elapsed = ?started.elapsed(), "State restored.");
        for (partition, saved) in saved {
            let meta = saved.meta.unwrap_or_default();
            let records: Vec<WorkerRecord> = saved.records.into_values().collect();
            let engine = if records.is_empty() && meta == PartitionMeta::default() {
                Engine::live(self.config.clone())
            } else {
                Engine::restore_live(self.config.clone(), &meta, records)
            };
            let handled_below = self
                .topics
                .iter()
                .map(|topic| meta.next_offsets.get(topic).copied())
                .collect();
            let part = Part {
                engine,
                next: vec![None; self.topics.len()],
                topic_last: vec![Instant::now(); self.topics.len()],
                handled_below,
                last_message: Instant::now(),
                changed: false,
                reports: saved.reports,
            };
            self.shared.parts().insert(partition, part);
            metrics.set_restoring(partition, false);
        }
        metrics.set_partitions_assigned(self.shared.parts().len());
        Ok(())
    }

    fn handle(&self, message: &BorrowedMessage<'_>, tick: Tick, batch: &mut BatchMetrics) {
        let partition = message.partition();
        let mut parts = self.shared.parts();
        match parts.get_mut(&partition) {
            Some(part) => {
                let origin = Origin {
                    topic: message.topic(),
                    partition,
                    offset: message.offset(),
                    key: message.key(),
                    payload: message.payload().unwrap_or_default(),
                };
                self.process(part, &origin, tick, batch);
            }
            // Partitions are restored before they are assigned, so this is a message of a
            // partition already revoked: its next owner reads it.
            None => tracing::debug!(partition, "Message of a partition not held; skipped."),
        }
    }

    fn publish_gauges(&self) {
        let parts = self.shared.parts();
        let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut open: BTreeMap<String, u64> = BTreeMap::new();
        for part in parts.values() {
            for (key, (online, working)) in part.engine.group_counts() {
                let entry = groups.entry(key).or_default();
                entry.0 += online;
                entry.1 += working;
            }
            for (platform, n) in part.engine.open_violations() {
                *open.entry(platform).or_default() += n;
            }
        }
        let rows: Vec<_> = groups
            .into_iter()
            .map(|((p, r, c), (online, working))| (p, r, c, online, working))
            .collect();
        self.shared.metrics.set_workers(&rows);
        let rows: Vec<_> = open.into_iter().collect();
        self.shared.metrics.set_open_violations(&rows);
        self.shared
            .metrics
            .set_producer_queue(i64::from(self.sink.queued()));
    }
}

/// Merges a re-closed day into the report written before a restore: per worker, the newer
/// entry wins, and workers only in the older report stay.
fn merge_report(older: Option<DayReport>, newer: DayReport) -> DayReport {
    let Some(older) = older else { return newer };
    let mut by_worker: BTreeMap<String, (String, String, String, String, i64)> = older
        .entries
        .into_iter()
        .map(|entry| (entry.0.clone(), entry))
        .collect();
    for entry in newer.entries {
        by_worker.insert(entry.0.clone(), entry);
    }
    DayReport {
        entries: by_worker.into_values().collect(),
        ..newer
    }
}

/// Runs the pipeline until `running` turns false; then saves, flushes and commits.
pub fn run(
    config: Config,
    shared: Arc<Shared>,
    running: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    clock: Clock,
) -> anyhow::Result<()> {
    let is_running = || running.load(Ordering::Relaxed);
    let Some(partitions) = prepare_topics(&config.kafka, &is_running, &runtime)? else {
        return Ok(());
    };
    tracing::info!(partitions, topics = ?config.kafka.input_topics, "Input topics checked.");
    let sink = Sink::new(&config.kafka, shared.metrics.clone())?;
    let topics = config.kafka.input_topics.clone();
    let core = Arc::new(Core {
        config,
        shared: shared.clone(),
        sink,
        topics,
        done_days: Mutex::new(Vec::new()),
        clock,
        running: running.clone(),
        emitted: AtomicU64::new(0),
    });
    let mut client = client_config(&core.config.kafka);
    client.set("group.id", &core.config.kafka.group_id);
    client.set("enable.auto.commit", "false");
    set_default(&mut client, "auto.offset.reset", "earliest");
    set_default(&mut client, "statistics.interval.ms", "5000");
    // Co-partitioned topics must be assigned together: the range assignor does that.
    client.set("partition.assignment.strategy", "range");
    let consumer: BaseConsumer<LiveContext> =
        client.create_with_context(LiveContext { core: core.clone() })?;
    let topic_names: Vec<&str> = core.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_names)?;
    tracing::info!(group = %core.config.kafka.group_id, "Consuming.");

    let mut aggregator: Option<Aggregator> = None;
    let mut last_checkpoint = Instant::now();
    let checkpoint_every = Duration::from_millis(core.config.live.commit_interval.max(1) as u64);
    let mut last_gauges = Instant::now();
    let mut last_error: Option<Instant> = None;
    let mut batch = BatchMetrics::default();
    // Whether messages were read since the last checkpoint, and the progress it saw (alerts
    // sent plus events applied); a batch is dry when a whole 100 ms wait brought nothing.
    let mut read_since_checkpoint = false;
    let mut progress_at_checkpoint = 0;
    while is_running() {
        let started = Instant::now();
        let mut tick = core.tick();
        let mut dry = false;
        // Wait for the first message at most 100 ms (timers and checkpoints need the loop),
        // then take what is already there.
        for round in 0..1000 {
            let wait = if round == 0 {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            let polled = consumer.poll(wait);
            if round == 0 {
                tick = core.tick();
            }
            match polled {
                Some(Ok(message)) => {
                    core.handle(&message, tick, &mut batch);
                    read_since_checkpoint = true;
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(error)) => {
                    // While the brokers cannot be reached, silence is no evidence of quiet
                    // input: keep idle partitions from following the wall clock.
                    core.credit_stall(Duration::from_secs(3600));
                    if last_error.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
                        tracing::warn!(%error, "Consumer error; librdkafka retries.");
                        last_error = Some(Instant::now());
                    }
                    break;
                }
                None => {
                    dry = round == 0;
                    break;
                }
            }
        }
        batch.flush(&shared.metrics, &core.topics, tick);
        shared
            .metrics
            .observe_batch(started.elapsed().as_secs_f64());
        core.advance_idle();
        let owns_zero = shared.parts().contains_key(&0);
        match (&mut aggregator, owns_zero) {
            (None, true) => match Aggregator::new(&core.config, partitions) {
                Ok(created) => aggregator = Some(created),
                Err(error) => tracing::error!(%error, "Cannot start the quota aggregator."),
            },
            (Some(_), false) => aggregator = None,
            _ => {}
        }
        if let Some(aggregator) = aggregator.as_mut() {
            let (alerts, days) = aggregator.poll(&core.config);
            core.emit(alerts);
            lock(&core.done_days).extend(days);
        }
        // Besides every `commit_interval`, a checkpoint is taken as soon as the input runs dry
        // after progress (messages read, events applied, alerts sent; at most once a second),
        // so that committed offsets, and the consumer lag that tools read from them, follow
        // the processing without waiting the interval.
        let early = dry
            && last_checkpoint.elapsed() >= EARLY_CHECKPOINT_GAP.min(checkpoint_every)
            && (read_since_checkpoint || core.progress() != progress_at_checkpoint);
        if last_checkpoint.elapsed() >= checkpoint_every || early {
            let started = Instant::now();
            if core.checkpoint(&consumer, None, CommitMode::Async) {
                read_since_checkpoint = false;
                progress_at_checkpoint = core.progress();
            }
            tracing::debug!(elapsed = ?started.elapsed(), "Checkpoint done.");
            core.credit_stall(started.elapsed());
            last_checkpoint = Instant::now();
        }
        if last_gauges.elapsed() >= Duration::from_secs(2) {
            core.publish_gauges();
            last_gauges = Instant::now();
        }
    }
    tracing::info!("Stopping: saving state and committing offsets.");
    let committed = core.checkpoint(&consumer, None, CommitMode::Sync);
    shared.ready.store(false, Ordering::Relaxed);
    tracing::info!(committed, "Stopped.");
    drop(consumer);
    Ok(())
}
