//! The consume loop: one engine per input partition, fed message by message, checkpointed to
//! the state topic, with offsets committed only after everything a checkpoint covers is
//! acknowledged (at least once, docs/LIVE.md "Delivery").
//!
//! The loop runs on one dedicated thread that owns the consumer, the engines and the sink's
//! retries. Each partition's messages come through its own queue; each iteration, the loop's
//! thread and the lane threads (one per core) read and process a share of the partitions and
//! the loop waits for them, so that everything below sees every engine at rest, as with one
//! thread. librdkafka calls the rebalance callbacks from inside `poll`, on that same thread,
//! so a revocation can checkpoint the partitions it takes away before they move, and an
//! assignment can read the partitions' state back before it takes them. Callbacks never
//! panic (a panic is caught and becomes the loop's error) and never write for a partition that
//! is no longer held. HTTP never touches any of this: it reads what the loop publishes
//! ([`super::views`]).

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::aggregator::Aggregator;
use super::batch::{BatchQueue, Input};
use super::held::Held;
use super::kafka::{
    check_state_topic, client_config, dead_letter_body, dead_letter_headers, prepare_topics,
    read_state_partitions, set_default, state_keys, without_consumer_properties,
};
use super::liveness::{self, Liveness, hang_after};
use super::sink::{GLOBAL, Out, Sink, SinkError};
use super::state::{self, At, Restored, StateError};
use super::views::Views;
use crate::alert::Alert;
use crate::config::Config;
use crate::engine::{DayReport, Engine, NamedObservation, Observation, PartitionMeta, Pushed};
use crate::event::{self, BadReason, Kind};
use crate::lock;
use crate::metrics::Metrics;

/// The least time between two checkpoints taken early, when the input runs dry.
const EARLY_CHECKPOINT_GAP: Duration = Duration::from_secs(1);
/// How long a checkpoint waits for acknowledgements before trying again later.
const FLUSH_DEADLINE: Duration = Duration::from_secs(4);
/// How long a revocation or shutdown waits for its last checkpoint.
const FINAL_DEADLINE: Duration = Duration::from_secs(6);
/// How long a stop waits for the records saving where event time stands in partitions that
/// changed nothing ([`Core::save_frontiers`]): best effort, within the stop's 9 s.
const FRONTIER_WAIT: Duration = Duration::from_millis(500);
/// Worker records taken from an engine at once in a checkpoint: bounded memory whatever the
/// number of changed workers.
const RECORDS_PER_STEP: usize = 10_000;
/// Events one partition's reorder buffer holds before the input topics ahead of the others
/// are paused (several input topics). With one topic, the buffer holds the events within
/// `allowed_lateness + max_future_skew` of the wall clock, whatever their number.
pub const REORDER_LIMIT: usize = 100_000;
/// Dead letters of late events one partition holds until a partition record names them
/// ([`Part::late_held`]), at most; beyond, and beyond [`LATE_HELD_BYTES`] of their bytes, a
/// late event's dead letter is sent at once, as it was before they were held (counted by
/// `workhours_late_dead_letters_unheld_total`, logged once each time the hold fills).
pub const LATE_HELD: usize = 1_000;
/// The bytes (keys and payloads, each cut to the dead letter's bound) of those held, at most.
const LATE_HELD_BYTES: usize = 1 << 20;
/// A restore that reads nothing for this long fails (and is retried from where it got to).
const RESTORE_STALL: Duration = Duration::from_secs(60);
/// How often the loop publishes gauges, the summary and the demo's samples.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Messages taken from the consumer in one poll batch at most, before they are processed.
const BATCH_MESSAGES: usize = 2048;
/// A batch smaller than this is processed on the loop's thread alone: handing work to a lane
/// would cost more than it saves, and a batch this small means the loop keeps up anyway.
const LANE_MIN_MESSAGES: usize = 256;
/// Lane threads at most, however many cores.
const MAX_LANES: usize = 8;
/// Messages a lane takes from one partition's queue per loop iteration at most.
const QUEUE_MESSAGES: usize = 2048;
/// Messages parsed ahead of their processing ([`Core::process_messages`]), as replay's batch.
const PARSE_AHEAD: usize = 32;
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How often the loop looks for partitions due a record of where their event time stands
/// ([`Core::save_frontiers`]): not at every poll, which comes thousands of times a second
/// under load.
const FRONTIERS_EVERY: Duration = Duration::from_millis(100);

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

/// A function the loop calls with the engines every [`SAMPLE_EVERY`] (the demo's page).
pub type Sampler = Box<dyn FnMut(&[&Engine]) + Send>;

/// What the loop shares with HTTP and the demo: only what it publishes.
pub struct Shared {
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub views: Views,
    samplers: Mutex<Vec<Sampler>>,
}

impl Shared {
    pub fn new(metrics: Arc<Metrics>) -> Shared {
        Shared {
            ready: Arc::new(AtomicBool::new(false)),
            metrics,
            views: Views::default(),
            samplers: Mutex::new(Vec::new()),
        }
    }

    /// Registers a sampler, called on the loop's thread.
    pub fn on_sample(&self, sampler: Sampler) {
        lock(&self.samplers).push(sampler);
    }
}

/// The time of one poll batch, read once for all its messages.
#[derive(Clone, Copy)]
struct Tick {
    /// Wall (or demo) clock, epoch ms.
    ms: i64,
    /// The idle clock: time spent polling so far.
    polled: Duration,
}

/// What one poll batch adds to the per-event metrics, applied once at its end: label lookups
/// per event were a visible share of the per-event cost.
#[derive(Default)]
struct BatchMetrics {
    /// Valid events per (input topic index, kind).
    events: Vec<(usize, Kind, u64)>,
    /// Platforms that sent an applied event in this batch, with the newest one's time
    /// ([`BatchMetrics::fresh`]).
    platforms: Vec<(String, i64)>,
}

impl BatchMetrics {
    /// Adds what another lane counted.
    fn merge(&mut self, other: BatchMetrics) {
        for (topic, kind, n) in other.events {
            match self
                .events
                .iter_mut()
                .find(|(t, k, _)| *t == topic && *k == kind)
            {
                Some(entry) => entry.2 += n,
                None => self.events.push((topic, kind, n)),
            }
        }
        for (platform, at) in other.platforms {
            self.fresh(&platform, at);
        }
    }

    fn event(&mut self, topic: usize, kind: Kind) {
        match self
            .events
            .iter_mut()
            .find(|(t, k, _)| *t == topic && *k == kind)
        {
            Some(entry) => entry.2 += 1,
            None => self.events.push((topic, kind, 1)),
        }
    }

    /// An event of `platform` at `at_ms` was accepted.
    fn fresh(&mut self, platform: &str, at_ms: i64) {
        match self.platforms.iter_mut().find(|(p, _)| p == platform) {
            Some((_, at)) => *at = (*at).max(at_ms),
            None => self.platforms.push((platform.to_owned(), at_ms)),
        }
    }

    fn flush(&mut self, metrics: &Metrics, topics: &[String]) {
        for (topic, kind, n) in self.events.drain(..) {
            metrics.events_received(&topics[topic], kind.as_str(), n);
        }
        for (platform, at) in self.platforms.drain(..) {
            metrics.last_event(&platform, at as f64 / 1000.0);
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
    /// The message's timestamp (create or log-append time), epoch ms, when it has one.
    sent: Option<i64>,
}

/// One input partition (across all input topics).
pub struct Part {
    engine: Engine,
    /// Per input topic (by index), the next offset to read; `None` before the first message.
    next: Vec<Option<i64>>,
    /// Per input topic, the idle clock when it last delivered a message.
    topic_last: Vec<Duration>,
    /// Per input topic, the largest `ts` (capped at the wall clock) read from it.
    topic_max: Vec<i64>,
    /// Per input topic, whether it is paused for a full reorder buffer.
    paused: Vec<bool>,
    /// Per input topic, the offset below which every message was handled before the restore:
    /// read again (`live.reread_input`), those only refill duplicate detection.
    handled_below: Vec<Option<i64>>,
    /// Per input topic, the offset below which the restored state's checkpoint had read (0
    /// for a fresh partition; `i64::MAX` for a state an older release saved, which does not
    /// say): an event there at or before its worker's last applied one was applied already.
    reread_below: Vec<i64>,
    /// The idle clock when the partition last delivered a message that could move its event
    /// time (an applied event, or input read again; [`Part::active`]).
    last_message: Duration,
    /// Whether anything changed since the last checkpoint.
    changed: bool,
    /// Whether events were pushed since the engine last ran up to its watermark: with one
    /// input topic the engine runs once per poll batch, not once per event ([`Core::settle`]).
    unsettled: bool,
    last_checkpoint: Instant,
    /// Day reports read back at the restore, of days the engine may close again: a re-closed
    /// day's report is merged into them.
    reports: BTreeMap<i32, DayReport>,
    /// Per input topic, the order starts in the reorder buffer, with their bytes.
    held: Vec<Held>,
    /// The partition record of a checkpoint whose other records are sent, sent once those are
    /// acknowledged ([`Core::checkpoint`]).
    unsent_meta: Option<UnsentMeta>,
    /// State records and offsets written, to commit once the records are acknowledged, and
    /// the frontier their partition record saves.
    pending_commit: Option<PendingCommit>,
    /// The offsets last committed, and when they were last sent: sent again every
    /// `commit_interval` ([`Core::commit_acknowledged`]).
    committed: Option<(Vec<(usize, i64)>, Instant)>,
    /// The years outside the holiday calendar already logged (the engine's
    /// `uncovered_years`, by count).
    uncovered_logged: usize,
    /// The state topic's records of remembered ids (`live.reread_input = false`) not yet
    /// tombstoned, by number, with the latest expiry in each.
    id_records: BTreeMap<u64, i64>,
    /// The frontier of the last partition record known acknowledged: where a restore now
    /// would start event time from, at the least.
    saved_frontier: i64,
    /// The last partition record sent for event time that moved on alone
    /// ([`Core::save_frontiers`]).
    frontier_sent: FrontierSent,
    /// Dead letters of events late only against event time that moved by itself since that
    /// record (an idle advance, which no input gives again): a restore would find such an
    /// event on time and apply it. Each is sent once a partition record naming it is
    /// acknowledged ([`Core::checkpoint`]), so that a restore from then on finds it late too.
    late_held: Vec<LateLetter>,
    /// Whether the hold was found full since it was last emptied: logged once per filling.
    late_full: bool,
    /// Per input topic, the offsets the restored partition record names as late: their dead
    /// letters may never have been acknowledged, so they are sent again when read again.
    late_again: Vec<BTreeSet<i64>>,
}

/// A checkpoint's offsets, to commit once every record up to its partition record (at `mark`)
/// is acknowledged.
struct PendingCommit {
    mark: u64,
    /// The next input offset per topic (by index).
    offsets: Vec<(usize, i64)>,
    /// The frontier its partition record saves.
    frontier: i64,
}

/// A late event's dead letter, held ([`Part::late_held`]): the message's key and payload, each
/// cut to its bound, and what was cut.
struct LateLetter {
    index: usize,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    truncated: Option<String>,
    detail: String,
}

impl LateLetter {
    /// The bytes of its key and payload, which [`LATE_HELD_BYTES`] bounds.
    fn bytes(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.payload.len()
    }
}

/// A partition record waiting for the records before it.
struct UnsentMeta {
    key: Vec<u8>,
    value: Vec<u8>,
    /// The next input offset per topic (by index) it saves, to commit once it is acknowledged.
    offsets: Vec<(usize, i64)>,
    /// The frontier it saves.
    frontier: i64,
    /// How many of the late events' dead letters held it names: the first so many.
    named: usize,
}

impl Part {
    /// A partition of `n` input topics with nothing read yet, its idle clocks at `polled`.
    fn new(engine: Engine, n: usize, polled: Duration) -> Part {
        Part {
            engine,
            reread_below: vec![0; n],
            next: vec![None; n],
            topic_last: vec![polled; n],
            topic_max: vec![i64::MIN; n],
            paused: vec![false; n],
            handled_below: vec![None; n],
            last_message: polled,
            changed: false,
            unsettled: false,
            last_checkpoint: Instant::now(),
            reports: BTreeMap::new(),
            held: (0..n).map(|_| Held::default()).collect(),
            unsent_meta: None,
            pending_commit: None,
            committed: None,
            uncovered_logged: 0,
            id_records: BTreeMap::new(),
            saved_frontier: crate::engine::NEVER,
            frontier_sent: FrontierSent {
                frontier: crate::engine::NEVER,
                at: Instant::now(),
                mark: 0,
            },
            late_held: Vec::new(),
            late_full: false,
            late_again: vec![BTreeSet::new(); n],
        }
    }

    /// Nothing to save or commit since the last partition record, and no late dead letter
    /// held: such a partition may save where its event time stands alone
    /// ([`Core::save_frontiers`]).
    fn unchanged(&self) -> bool {
        !self.changed
            && self.pending_commit.is_none()
            && self.unsent_meta.is_none()
            && self.late_held.is_empty()
    }

    /// Input topic `index` delivered, at idle clock `polled`, a message that keeps the
    /// partition from being idle (an applied event, or input read again after a restore).
    fn active(&mut self, index: usize, polled: Duration) {
        self.last_message = polled;
        self.topic_last[index] = polled;
    }
}

/// A partition record sent for event time that moved on alone ([`Core::save_frontiers`]).
struct FrontierSent {
    frontier: i64,
    at: Instant,
    /// The sink's mark after it: sent with nothing else in flight, it is all its partition has
    /// in flight while every record in flight is before the mark.
    mark: u64,
}

/// Everything the loop owns, locked by the loop and by the callbacks it runs (same thread).
struct LoopState {
    parts: BTreeMap<i32, Part>,
    /// Partitions assigned by the group, as the callbacks last saw them.
    assigned: BTreeSet<i32>,
    /// Time spent polling for messages (the idle clock; time blocked on own work excluded).
    polled: Duration,
    /// Time spent in own blocking work (callbacks, checkpoints) since the last poll returned.
    own_work: Duration,
    /// An error that stops the loop, found by a callback.
    fatal: Option<anyhow::Error>,
    /// `quota_p90` alerts sent (the mark after them) and the days to mark done once they are
    /// acknowledged.
    quota_sent: Vec<(u64, Vec<i32>)>,
    /// When the loop last dropped its partitions after a stall, until a rebalance or
    /// [`Core::retake`] gives it partitions again.
    fenced_at: Option<Instant>,
    /// Rebalances so far: messages polled before one are not processed after it.
    rebalances: u64,
    /// The brokers are away: set by a consumer error, cleared by the next message or by
    /// librdkafka's statistics reporting up the brokers leading the partitions. Meanwhile no
    /// partition counts as idle: librdkafka reports a failing connection at intervals of
    /// seconds (and suppresses repeats), so resetting the idle clocks at each error let event
    /// time move on between them, and what the platforms' producers delivered once the
    /// brokers were back was late.
    away: bool,
    /// The brokers leading the held partitions have answered nothing for a while with their
    /// connections open ([`Liveness`]): as `away`, no partition counts as idle meanwhile.
    hung: bool,
    /// [`Liveness::unanswered`] when the loop last looked.
    unanswered: u64,
}

impl LoopState {
    fn new() -> LoopState {
        LoopState {
            parts: BTreeMap::new(),
            assigned: BTreeSet::new(),
            polled: Duration::ZERO,
            own_work: Duration::ZERO,
            fatal: None,
            quota_sent: Vec::new(),
            fenced_at: None,
            rebalances: 0,
            away: false,
            hung: false,
            unanswered: 0,
        }
    }

    /// The brokers cannot be reached (a consumer error): silence is no evidence of quiet
    /// input, so every partition's idle clock starts again, and stays still until
    /// [`LoopState::back`].
    fn away(&mut self) {
        self.away = true;
        self.restart_idle_clocks();
    }

    /// The brokers answer again (`how`: a message, or the partitions' leaders reported up):
    /// the idle clocks start from now, so that what the producers kept during the outage has
    /// `idle_timeout` to arrive before event time moves on.
    fn back(&mut self, how: &str) {
        if std::mem::take(&mut self.away) {
            tracing::info!(how, "The brokers answer again: event time moves on again.");
            self.restart_idle_clocks();
        }
    }

    /// What the liveness probe says when the loop looks: the brokers are `hung` now, and
    /// `unanswered` questions so far. A change of either restarts the idle clocks: also a
    /// question that went unanswered since the loop last looked where the brokers answer
    /// again by now (the loop was busy through the whole hang, a checkpoint waiting for
    /// acknowledgements: audit AN), as the silence meanwhile is no evidence of quiet input.
    /// Gives what changed, for the log.
    fn probed(&mut self, hung: bool, unanswered: u64) -> Option<Probed> {
        let asked_in_vain = std::mem::replace(&mut self.unanswered, unanswered) != unanswered;
        let changed = std::mem::replace(&mut self.hung, hung) != hung;
        if asked_in_vain || changed {
            self.restart_idle_clocks();
        }
        changed.then_some(match hung {
            true => Probed::Hung,
            // With no partition held the probe asks nothing and counts that as an answer
            // (audit BA: after the partitions went in a freeze the log said the brokers
            // answered while they were still frozen).
            false if self.parts.is_empty() => Probed::Unasked,
            false => Probed::Answered,
        })
    }

    fn restart_idle_clocks(&mut self) {
        let polled = self.polled;
        for part in self.parts.values_mut() {
            part.last_message = polled;
            part.topic_last.iter_mut().for_each(|last| *last = polled);
        }
    }
}

/// What the liveness probe's verdict turned to ([`LoopState::probed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probed {
    /// The leaders of the partitions held answer nothing.
    Hung,
    /// They answer again.
    Answered,
    /// No partition is held: nobody is asked, which says nothing of the brokers.
    Unasked,
}

/// Everything the loop and the callbacks need.
pub struct Core {
    config: Config,
    shared: Arc<Shared>,
    sink: Sink,
    topics: Vec<String>,
    clock: Clock,
    running: Arc<AtomicBool>,
    /// Set once the loop has ended: the revocation librdkafka runs when the consumer closes
    /// writes nothing (the last checkpoint is taken before, or must not be, after an error).
    closing: AtomicBool,
    /// librdkafka said the group session timed out (or the poll interval was exceeded): the
    /// group takes our partitions. Its revocation reaches us only when the coordinator
    /// answers again, which a hung broker delays; set from librdkafka's log, taken by the
    /// loop ([`Core::fence_session`]).
    session_lost: AtomicBool,
    zone: String,
    state: Mutex<LoopState>,
    /// A gap between two polls longer than this (own work excluded) means the group may have
    /// moved our partitions meanwhile (session or poll interval expired).
    stall_limit: Duration,
    /// The least gap between two polls, own work excluded, taken for a stop
    /// ([`stop_gap`]).
    stop_gap: Duration,
    /// Threads a poll batch's partitions are processed on at most (the loop's own included).
    lanes: usize,
    /// The other lanes' threads (`lanes - 1` of them), kept for the life of the loop: a thread
    /// started per batch cost more than it saved (its start, and its allocator's caches
    /// filled and freed every time).
    pool: Option<rayon_core::ThreadPool>,
    /// Whether the brokers answer, live on the wall clock (none for the demo's clock).
    liveness: Option<Arc<Liveness>>,
}

/// The consumer's context: forwards librdkafka's logs to tracing and handles rebalances.
pub struct LiveContext {
    core: Arc<Core>,
    errors: super::kafka::ErrorLog,
}

impl ClientContext for LiveContext {
    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition,
    /// and whether the brokers are back after an outage ([`LoopState::back`]).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let up: Vec<i32> = statistics
            .brokers
            .values()
            .filter(|broker| broker.state == "UP")
            .map(|broker| broker.nodeid)
            .collect();
        // The brokers are back once those leading the partitions fetched are up (the first
        // one up is often the bootstrap or the coordinator, the leader's connection still in
        // its backoff); a spare member fetches nothing: any broker up.
        let (mut fetched, mut leaders_up) = (false, true);
        // The partitions this instance holds: librdkafka still reports a lost or revoked one
        // for a while (statistics gathered before the loss, a fetch state not yet "none"),
        // which gave a series of frozen lag beside its new holder's (audit AE).
        let held: Vec<i32> = self.core.state().parts.keys().copied().collect();
        for (topic, stats) in &statistics.topics {
            if !self.core.topics.contains(topic) {
                continue;
            }
            for (&partition, p) in &stats.partitions {
                // -1 is librdkafka's "unassigned" pseudo-partition; a partition this member
                // does not fetch (revoked) gets no series again.
                if partition < 0 || p.fetch_state == "none" {
                    continue;
                }
                fetched = true;
                leaders_up &= up.contains(&p.leader);
                if !held.contains(&partition) {
                    continue;
                }
                // Before its first message, from the committed offset (-1: unknown yet).
                let lag = position_lag(p.app_offset, p.hi_offset, p.ls_offset)
                    .or((p.consumer_lag >= 0).then_some(p.consumer_lag));
                if let Some(lag) = lag {
                    self.core
                        .shared
                        .metrics
                        .set_consumer_lag(topic, partition, lag);
                }
            }
        }
        let back = if fetched { leaders_up } else { !up.is_empty() };
        if back {
            self.core
                .state()
                .back("the brokers leading the partitions are up");
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // A failed asynchronous commit is reported only here (no commit callback is set);
        // its offsets are sent again (`Core::commit_acknowledged`).
        if facility == "COMMITFAIL" {
            self.core.shared.metrics.commit_failed();
        }
        if facility == "SESSTMOUT" || facility == "MAXPOLL" {
            self.core.session_lost.store(true, Ordering::Release);
        }
        super::kafka::forward_log(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

/// Messages between the consumer's position (`app_offset`: the next after the last message
/// given to the monitor) and the partition's end (the last stable offset, else the high
/// watermark); `None` while either is unknown (-1). Not librdkafka's `consumer_lag`, which
/// counts from the committed offset: the monitor commits a message only once the watermark
/// has passed it, so that lag is the lateness times the input rate even with nothing to read.
fn position_lag(app_offset: i64, hi_offset: i64, ls_offset: i64) -> Option<i64> {
    let end = if ls_offset >= 0 { ls_offset } else { hi_offset };
    (app_offset >= 0 && end >= 0).then(|| (end - app_offset).max(0))
}

impl ConsumerContext for LiveContext {
    /// Assignments restore state first; revocations checkpoint first (unless the assignment
    /// was lost, when nothing may be written). Both are timed as own work, and a panic in
    /// either becomes the loop's error instead of unwinding through librdkafka.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.handle_rebalance(consumer, err, tpl)
        }));
        let mut state = self.core.state();
        state.own_work += started.elapsed();
        state.rebalances += 1;
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            state
                .fatal
                .get_or_insert(anyhow::anyhow!("a rebalance failed unexpectedly: {what}"));
        }
    }
}

impl LiveContext {
    fn handle_rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let core = &self.core;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions = partitions_of(tpl);
                // A session timeout said before this assignment is about the last one: the
                // loop must not drop this one for it.
                core.session_lost.store(false, Ordering::Release);
                // The state is read back before the partitions are taken, so that no message
                // arrives before its partition's state. (Pausing the partitions instead costs
                // librdkafka's offset query a 500 ms retry, every time.)
                match core.restore_until_done(consumer, &partitions) {
                    Ok(Restore::Done) => {}
                    Ok(Restore::Stopped) => return,
                    Err(error) => {
                        core.state().fatal.get_or_insert(error);
                        return;
                    }
                }
                if core.config.live.reread_input
                    && let Err(error) = tpl.set_all_offsets(Offset::Beginning)
                {
                    tracing::error!(%error, "Cannot set assigned partitions to their beginning.");
                }
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "Cannot take the assigned partitions.");
                }
                {
                    let mut state = core.state();
                    state.assigned = partitions.iter().copied().collect();
                    state.fenced_at = None;
                }
                tracing::info!(?partitions, "Partitions assigned and restored: consuming.");
                core.shared.ready.store(true, Ordering::Relaxed);
                core.shared.metrics.set_ready(true);
                core.publish(&core.state());
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions = partitions_of(tpl);
                if core.closing.load(Ordering::Relaxed) {
                    tracing::debug!(?partitions, "Partitions revoked while closing.");
                } else if consumer.assignment_lost() {
                    tracing::warn!(
                        ?partitions,
                        "Partitions lost to the group: dropping their state without writing."
                    );
                    // Counted once: a timed-out session's fence may have dropped them already.
                    let held = core.state().parts.keys().any(|p| partitions.contains(p));
                    if held {
                        core.shared.metrics.fenced("lost");
                    }
                } else {
                    tracing::info!(?partitions, "Partitions revoked: saving their state.");
                    // Unfinished, the partitions' next owner reads their input again from the
                    // last commit.
                    if let Err(error) = core.checkpoint(consumer, &partitions, true) {
                        core.state().fatal.get_or_insert(error.into());
                    }
                }
                core.drop_parts(&partitions);
                core.state().assigned.clear();
                core.shared.ready.store(false, Ordering::Relaxed);
                core.shared.metrics.set_ready(false);
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "Cannot give the revoked partitions up.");
                }
            }
            other => tracing::error!(error = ?other, "Rebalance failed."),
        }
    }
}

/// How a restore ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restore {
    Done,
    /// The service is stopping: nothing was taken.
    Stopped,
}

fn partitions_of(list: &TopicPartitionList) -> Vec<i32> {
    let mut partitions: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
    partitions.sort_unstable();
    partitions.dedup();
    partitions
}

/// Merges a re-closed day into the report read back at the restore: per worker, the newer
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

impl Core {
    fn state(&self) -> MutexGuard<'_, LoopState> {
        lock(&self.state)
    }

    fn topic_index(&self, topic: &str) -> Option<usize> {
        self.topics.iter().position(|t| t == topic)
    }

    fn send(&self, out: Out<'_>) -> Result<(), SinkError> {
        self.sink.send(out)
    }

    fn emit(&self, owner: i32, alerts: Vec<Alert>) -> Result<(), SinkError> {
        let zone = self.config.time.zone;
        for alert in alerts {
            self.shared
                .metrics
                .alert_emitted(&alert.rule, alert.phase.as_str(), &alert.platform);
            let value = alert.to_json(&zone);
            self.send(Out {
                owner,
                topic: &self.config.kafka.alerts_topic,
                partition: None,
                key: Some(alert.key().as_bytes()),
                payload: Some(value.as_bytes()),
                headers: None,
            })?;
        }
        Ok(())
    }

    /// Dispatch holds (SPEC section 7), keyed by the worker (a person's id for a person),
    /// delivered like alerts.
    fn emit_holds(&self, owner: i32, holds: Vec<crate::alert::Hold>) -> Result<(), SinkError> {
        let zone = self.config.time.zone;
        for hold in holds {
            self.shared.metrics.hold_emitted(&hold.rule, &hold.platform);
            let value = hold.to_json(&zone);
            self.send(Out {
                owner,
                topic: &self.config.kafka.holds_topic,
                partition: None,
                key: Some(hold.key().as_bytes()),
                payload: Some(value.as_bytes()),
                headers: None,
            })?;
        }
        Ok(())
    }

    fn observe(&self, observations: Vec<NamedObservation>) {
        for named in observations {
            let (platform, role, city) = (&named.platform, &named.role, &named.city);
            match named.observation {
                Observation::EpisodeEnded { work } => {
                    self.shared
                        .metrics
                        .episode_ended(platform, role, city, work as f64 / 1000.0)
                }
                Observation::DayClosed { work } => {
                    self.shared
                        .metrics
                        .day_closed(platform, role, city, work as f64 / 1000.0)
                }
                Observation::GroupSeen => self.shared.metrics.group_seen(platform, role, city),
            }
        }
    }

    fn dead_letter(
        &self,
        origin: &Origin<'_>,
        reason: &str,
        detail: &str,
    ) -> Result<(), SinkError> {
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
        let (key, payload, truncated) = dead_letter_body(origin.key, origin.payload);
        let body = (key, payload, truncated.as_deref());
        self.send_letter(
            origin.topic,
            origin.partition,
            origin.offset,
            body,
            reason,
            detail,
        )
    }

    /// Sends a dead letter of the message at `offset` of `topic` and `partition`: its key and
    /// payload as [`dead_letter_body`] cut them, and what was cut.
    fn send_letter(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        (key, payload, truncated): (Option<&[u8]>, &[u8], Option<&str>),
        reason: &str,
        detail: &str,
    ) -> Result<(), SinkError> {
        let headers = dead_letter_headers(reason, detail, topic, partition, offset, truncated);
        self.send(Out {
            owner: partition,
            topic: &self.config.kafka.dead_letter_topic,
            partition: None,
            key,
            payload: Some(payload),
            headers: Some(headers),
        })
    }

    /// Holds the dead letter of an event late only against event time that moved by itself
    /// since the last partition record acknowledged ([`Part::late_held`]), if there is room;
    /// whether it did.
    fn hold_late(part: &mut Part, index: usize, origin: &Origin<'_>, detail: String) -> bool {
        let (key, payload, truncated) = dead_letter_body(origin.key, origin.payload);
        let held: usize = part.late_held.iter().map(LateLetter::bytes).sum();
        let bytes = key.map_or(0, <[u8]>::len) + payload.len();
        if part.late_held.len() >= LATE_HELD || held + bytes > LATE_HELD_BYTES {
            return false;
        }
        part.late_held.push(LateLetter {
            index,
            offset: origin.offset,
            key: key.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            truncated,
            detail,
        });
        true
    }

    /// Sends the first `named` dead letters a partition held ([`Part::late_held`]), now that a
    /// partition record naming them is acknowledged.
    fn send_late_held(
        &self,
        partition: i32,
        part: &mut Part,
        named: usize,
    ) -> Result<(), SinkError> {
        let named = named.min(part.late_held.len());
        if named > 0 {
            part.late_full = false;
        }
        for letter in part.late_held.drain(..named) {
            let body = (
                letter.key.as_deref(),
                letter.payload.as_slice(),
                letter.truncated.as_deref(),
            );
            let topic = &self.topics[letter.index];
            self.send_letter(
                topic,
                partition,
                letter.offset,
                body,
                "late",
                &letter.detail,
            )?;
        }
        Ok(())
    }

    /// What the engine produced since the last call: alerts, measurements, no-ops counted, and
    /// order starts it refused (dead-lettered with their bytes). Held order starts now applied
    /// are let go.
    fn drain(&self, partition: i32, part: &mut Part) -> Result<(), SinkError> {
        self.emit(partition, part.engine.take_alerts())?;
        self.emit_holds(partition, part.engine.take_holds())?;
        self.observe(part.engine.take_observations());
        self.shared.metrics.noop_events(part.engine.take_noops());
        let uncovered = &part.engine.stats().uncovered_years;
        if uncovered.len() > part.uncovered_logged {
            part.uncovered_logged = uncovered.len();
            tracing::warn!(
                partition,
                years = ?uncovered,
                "The holiday calendar ([time] holidays) has no table for these years of days \
                 with work: holiday_pay judges no day of them. Add the year's notice to the file."
            );
        }
        for (seq, reason) in part.engine.take_rejected() {
            let (index, offset) = origin_of(seq, self.topics.len());
            let Some(held) = part.held[index].get(offset) else {
                tracing::warn!(
                    partition,
                    seq,
                    "A refused event is no longer held; not dead-lettered."
                );
                continue;
            };
            let detail = match reason {
                BadReason::TooManyOrders => format!(
                    "the worker already has {} active orders",
                    crate::engine::MAX_ACTIVE_ORDERS
                ),
                _ => "refused when applied".to_owned(),
            };
            let origin = Origin {
                topic: &self.topics[index],
                partition,
                offset: held.offset,
                key: held.key,
                payload: held.payload,
                sent: None,
            };
            self.dead_letter(&origin, reason.code(), &detail)?;
        }
        // Held order starts older than the watermark have been applied or refused (the engine
        // applies the instants before it): they are let go.
        let watermark = part.engine.watermark();
        part.held
            .iter_mut()
            .for_each(|held| held.release(watermark));
        Ok(())
    }

    /// Feeds one message, of input topic `index`, to its partition's engine.
    fn process(
        &self,
        part: &mut Part,
        index: usize,
        origin: &Origin<'_>,
        parsed: Parsed<'_>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<(), SinkError> {
        let now = tick.ms;
        part.next[index] = Some(origin.offset + 1);
        // SPEC sections 5 and 8: the key is the worker_id, or for a regulator's instance
        // (`subject = "person"`) the person_id where the event has one. An event without one
        // of a worker id that belongs to a person may also be keyed by that person: its later
        // events then reach the person's partition (SPEC: it belongs to the person "also for
        // its later events without one"), where keyed by the worker_id they would not.
        let persons = self.config.subject == crate::config::Subject::Person;
        let key_matches = |engine: &Engine, event: &event::Event<'_>| match &event.person_id {
            Some(person) if persons => origin.key == Some(person.as_bytes()),
            _ => {
                origin.key == Some(event.worker_id.as_bytes())
                    || (persons
                        && origin.key.is_some_and(|key| {
                            engine
                                .person_of(&event.worker_id)
                                .is_some_and(|person| person.as_bytes() == key)
                        }))
            }
        };
        // Every message read moves the offsets to commit: a checkpoint is due, also for input
        // read again (the idle clock no longer marks a partition changed, so a restored
        // instance in a new group committed nothing until new input came).
        part.changed = true;
        // Offsets are read in order: one named late and passed by is gone (retention).
        let again = &mut part.late_again[index];
        while again.first().is_some_and(|&first| first < origin.offset) {
            again.pop_first();
        }
        if again.first() == Some(&origin.offset) {
            again.pop_first();
            // Named late by the restored partition record, which was acknowledged before its
            // dead letter was sent: that may never have been acknowledged. Sent again, its
            // id remembered as when it was first read (late events' ids are).
            if let Ok((event, _)) = parsed
                && key_matches(&part.engine, &event)
            {
                part.engine
                    .remember_id(&event, seq_of(index, origin.offset, self.topics.len()));
            }
            let detail = format!(
                "`ts` is older than the partition's watermark (at least {} when restored; \
                 allowed lateness {} ms); sent again after a restore",
                crate::timefmt::format_rfc3339(part.engine.watermark(), &self.config.time.zone),
                self.config.time.allowed_lateness
            );
            return self.dead_letter(origin, "late", &detail);
        }
        if part.handled_below[index].is_some_and(|below| origin.offset < below) {
            // Input read again after a restore: the partition is catching up, not idle.
            part.active(index, tick.polled);
            if let Ok((event, _)) = parsed
                && key_matches(&part.engine, &event)
            {
                part.engine
                    .remember_id(&event, seq_of(index, origin.offset, self.topics.len()));
            }
            return Ok(());
        }
        // Read before the restored checkpoint (LIVE.md "Delivery": its records, dead letters
        // included, were acknowledged before it was written): a message that is bad now was
        // bad then, and was dead-lettered and counted then. Not again. (A state of an older
        // release does not say how far it read: its input is judged afresh.)
        let read_before =
            part.reread_below[index] != i64::MAX && origin.offset < part.reread_below[index];
        let bad = |part: &mut Part, reason: &str, detail: &str| {
            if read_before {
                part.active(index, tick.polled);
                Ok(())
            } else {
                self.dead_letter(origin, reason, detail)
            }
        };
        let (event, digest) = match parsed {
            Ok(parsed) => parsed,
            Err(bad_event) => return bad(part, bad_event.reason.code(), &bad_event.detail),
        };
        // The key must be the worker_id (or person_id), or the worker's events split across
        // partitions and both halves undercount.
        if !key_matches(&part.engine, &event) {
            let field = if persons && event.person_id.is_some() {
                "person_id"
            } else {
                "worker_id"
            };
            let detail = match origin.key {
                None => format!("the message has no key; it must be the event's `{field}`"),
                Some(_) => format!("the message key is not the event's `{field}`"),
            };
            return bad(part, BadReason::KeyMismatch.code(), &detail);
        }
        // The wall clock only grows: an event too far ahead of it now was so when first read.
        if let Err(bad_event) = event::check_future(&event, now, self.config.time.max_future_skew) {
            return bad(part, bad_event.reason.code(), &bad_event.detail);
        }
        // A valid event: its topic is not silent. Only one that is applied keeps the partition
        // from going idle (below): bad, late and duplicate messages move no event time, and a
        // steady stream of them (one broken device) held the partition's event time still,
        // with every silent worker's alerts on it.
        part.topic_last[index] = tick.polled;
        let seq = seq_of(index, origin.offset, self.topics.len());
        batch.event(index, event.kind);
        // SPEC section 5 caps the `ts` that moves event time at the wall clock, so that a
        // producer whose clock is fast makes no other producer's events late. Read from a
        // backlog (after a restart, an outage, a lag), the wall clock is long past when the
        // message was sent, and a fast event moved event time past the honest events sent
        // with it. So the cap is also the message's timestamp, when the event is ahead of it
        // by `max_future_skew` at most (a fast clock); a timestamp further behind (a producer
        // that sets its own, or none) is not used. The demo's clock is not the wall clock.
        let cap = match origin.sent {
            Some(sent)
                if matches!(self.clock, Clock::Wall)
                    && event.ts.saturating_sub(self.config.time.max_future_skew) <= sent =>
            {
                now.min(sent)
            }
            _ => now,
        };
        part.topic_max[index] = part.topic_max[index].max(event.ts.min(cap));
        if self.topics.len() > 1 {
            let idle = Duration::from_millis(self.config.live.idle_timeout as u64);
            part.engine.set_sources(&sources(part, tick.polled, idle));
        }
        let reread = origin.offset < part.reread_below[index];
        let pushed = part
            .engine
            .push_read(&event, digest, seq, index, cap, reread);
        if pushed == Pushed::Replaced {
            // Accepted in place of a copy read before, which now counts as the duplicate.
            self.shared.metrics.duplicate_event();
        }
        match pushed {
            Pushed::Accepted | Pushed::Replaced => {
                part.last_message = tick.polled;
                // The platform's freshness: event time, capped as it moves event time (a
                // platform sending only stale or late events is not fresh). The demo's clock
                // is not the wall clock that `time()` minus it is read against: its reads.
                let at = match self.clock {
                    Clock::Wall => event.ts.min(cap),
                    Clock::Scaled { .. } => tick.ms,
                };
                batch.fresh(&event.platform, at);
                if matches!(event.kind, Kind::OrderAccepted | Kind::OrderPickedUp) {
                    part.held[index].push(event.ts, origin.offset, cap, origin.key, origin.payload);
                }
            }
            Pushed::Duplicate => self.shared.metrics.duplicate_event(),
            Pushed::Late => {
                self.shared.metrics.late_event();
                let detail = format!(
                    "`ts` is older than the partition's watermark {} (allowed lateness {} ms)",
                    crate::timefmt::format_rfc3339(part.engine.watermark(), &self.config.time.zone),
                    self.config.time.allowed_lateness
                );
                // Late only against event time that moved by itself since the last partition
                // record acknowledged (an idle advance): read again after a crash now, the
                // event would be on time, and applied. Its dead letter waits for a record that
                // names it (LIVE.md "Delivery").
                let saved = part.saved_frontier.max(part.engine.events_watermark());
                if event.ts >= saved {
                    if Self::hold_late(part, index, origin, detail.clone()) {
                        return Ok(());
                    }
                    self.shared.metrics.late_dead_letter_unheld();
                    if !part.late_full {
                        part.late_full = true;
                        tracing::warn!(
                            partition = origin.partition,
                            held = part.late_held.len(),
                            "Late events' dead letters held for the next partition record are at \
                             their bound: the next go out at once, and a crash before that \
                             record can have such an event both dead-lettered and applied."
                        );
                    }
                }
                return self.dead_letter(origin, "late", &detail);
            }
            Pushed::AlreadyApplied => {
                part.active(index, tick.polled);
                return Ok(());
            }
        }
        if self.topics.len() > 1 {
            // Which topics hold event time back may change with the next event: run now.
            part.engine.advance();
            return self.drain(origin.partition, part);
        }
        // One topic: the watermark only grows with the events pushed, so running the engine
        // once for the batch applies the same events at the same instants, in the same order,
        // as running it after each (the late check reads the watermark from the largest `ts`,
        // run or not).
        part.unsettled = true;
        Ok(())
    }

    /// Runs a partition's engine up to its watermark and sends what that produced, if events
    /// were pushed since it last ran: at the end of every poll batch, and before anything
    /// that reads or saves the engine (checkpoints).
    fn settle(&self, partition: i32, part: &mut Part) -> Result<(), SinkError> {
        if !std::mem::take(&mut part.unsettled) {
            return Ok(());
        }
        part.engine.advance();
        self.drain(partition, part)
    }

    /// [`Core::settle`] for every partition held.
    fn settle_all(&self) -> Result<(), SinkError> {
        let mut guard = self.state();
        for (&partition, part) in guard.parts.iter_mut() {
            self.settle(partition, part)?;
        }
        Ok(())
    }

    /// Moves the event time of idle partitions to the wall clock minus the allowed lateness,
    /// so that deadlines fire without new events while an event that arrives within the
    /// lateness is still on time (SPEC section 5). Idleness is time spent polling without a
    /// message for the partition: not time this thread spent on its own work, nor time it was
    /// stopped (both leave the idle clock alone). Nothing happens for a partition not held.
    fn advance_idle(&self, state: &mut LoopState, writable: bool) -> Result<(), SinkError> {
        let idle = Duration::from_millis(self.config.live.idle_timeout as u64);
        let now = self.clock.now_ms();
        let mut target = now - self.config.time.allowed_lateness;
        if let Some(liveness) = &self.liveness {
            liveness.hold(state.parts.keys().copied());
            // No further than the brokers are known to have answered: what producers send
            // during a hang reaches no broker until it ends.
            target = target.min(liveness.alive_ms() - self.config.time.allowed_lateness);
            match state.probed(liveness.hung(now), liveness.unanswered()) {
                Some(Probed::Hung) => tracing::warn!(
                    "The brokers leading the partitions answer nothing (their connections \
                     open): event time stands still until they do."
                ),
                Some(Probed::Answered) => {
                    tracing::info!("The brokers answer again: event time moves on again.")
                }
                Some(Probed::Unasked) => tracing::info!(
                    "No partition is held any more: the brokers are no longer asked, so an \
                     end of their hang is not known."
                ),
                None => {}
            }
        }
        let polled = state.polled;
        let assigned = state.assigned.clone();
        let several = self.topics.len() > 1;
        let away = state.away || state.hung;
        for (&partition, part) in state.parts.iter_mut() {
            // Events that leave the reorder buffer move the offsets to commit, also those
            // refused when applied (`too_many_orders`), which change no worker's state.
            let decided = |engine: &Engine| engine.stats().applied + engine.stats().rejected;
            let before = decided(&part.engine);
            if several && writable && assigned.contains(&partition) {
                // A topic falls silent without a message to say so: which topics hold event
                // time back is decided here too, and the events the others allow applied.
                part.engine.set_sources(&sources(part, polled, idle));
                part.engine.advance();
                self.drain(partition, part)?;
            }
            if writable
                && !away
                && assigned.contains(&partition)
                && !part.paused.iter().any(|&p| p)
                && polled.saturating_sub(part.last_message) >= idle
                && part.engine.watermark() < target
            {
                let from = part.engine.watermark();
                part.engine.advance_to(target);
                self.drain(partition, part)?;
                // Event time moving on alone saves nothing: only what it changed (timers that
                // fired, days that closed, workers forgotten, id records to tombstone). It
                // marked the partition changed every second, and an idle partition wrote its
                // state record every second for ever.
                // A local day's end passed is saved too, also where no worker's day closed
                // (a partition that never had a message): its frontier, in the partition
                // record, is what the `quota_p90` aggregator waits for from every partition.
                let watermark = part.engine.watermark();
                part.changed |= part.engine.unsaved()
                    || part.id_records.values().any(|&latest| latest < watermark)
                    || day_end_passed(self.config.time.zone, from, watermark);
            }
            part.changed |= decided(&part.engine) != before;
            let watermark = part.engine.watermark();
            if watermark != crate::engine::NEVER {
                let lag = now.saturating_sub(watermark).max(0) as f64 / 1000.0;
                self.shared.metrics.set_watermark_lag(partition, lag);
            }
        }
        Ok(())
    }

    /// Bounds a partition's reorder buffer when it reads several input topics: at
    /// [`REORDER_LIMIT`] buffered events, every topic but the one furthest behind (the one
    /// holding event time back) is paused, so that the buffer stops growing while that topic
    /// catches up; no event is dropped. Paused topics are resumed once the buffer is down to
    /// half, when the topic furthest behind is itself paused (the lead changed hands), or when
    /// no unpaused topic still holds event time back (a pause can then only stall).
    fn bound_buffers(&self, consumer: &BaseConsumer<LiveContext>, state: &mut LoopState) {
        let n = self.topics.len();
        if n < 2 {
            return;
        }
        let idle = Duration::from_millis(self.config.live.idle_timeout as u64);
        let polled = state.polled;
        let mut paused = 0;
        for (&partition, part) in state.parts.iter_mut() {
            let buffered = part.engine.sizes().buffered;
            let active = sources(part, polled, idle);
            let behind = (0..n)
                .filter(|&i| active[i])
                .min_by_key(|&i| part.topic_max[i]);
            let holding = (0..n).any(|i| active[i] && !part.paused[i]);
            let mut want = part.paused.clone();
            if buffered >= REORDER_LIMIT
                && let Some(behind) = behind
            {
                for (i, slot) in want.iter_mut().enumerate() {
                    *slot = i != behind;
                }
            } else if buffered <= REORDER_LIMIT / 2
                || !holding
                || behind.is_some_and(|b| part.paused[b])
            {
                want = vec![false; n];
            }
            for pause in [true, false] {
                let which: Vec<usize> = (0..n)
                    .filter(|&i| want[i] == pause && part.paused[i] != pause)
                    .collect();
                if which.is_empty() {
                    continue;
                }
                let mut list = TopicPartitionList::new();
                for &i in &which {
                    list.add_partition(&self.topics[i], partition);
                }
                let result = if pause {
                    consumer.pause(&list)
                } else {
                    consumer.resume(&list)
                };
                match result {
                    Ok(()) => {
                        for &i in &which {
                            part.paused[i] = pause;
                            if !pause {
                                // Its silence while paused was ours, not its producers': it
                                // starts its idle clock again, as does the partition.
                                part.topic_last[i] = polled;
                                part.last_message = polled;
                            }
                        }
                        tracing::info!(partition, buffered, pause, topics = ?which, "Reorder buffer bound: input topics paused or resumed.");
                    }
                    Err(error) => {
                        tracing::warn!(partition, %error, "Cannot pause or resume input.")
                    }
                }
            }
            paused += part.paused.iter().filter(|&&p| p).count();
        }
        self.shared.metrics.set_input_paused(paused);
    }

    /// Whether this instance may still write for `partition`: assigned, not lost.
    fn holds(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        state: &LoopState,
        partition: i32,
    ) -> bool {
        state.assigned.contains(&partition) && !consumer.assignment_lost()
    }

    /// Saves the state of `partitions` and commits their offsets, once everything their events
    /// caused is acknowledged. Blocks at most [`FLUSH_DEADLINE`] (or [`FINAL_DEADLINE`] when
    /// `last`) for acknowledgements; a partition whose output is not acknowledged by then is
    /// left for the next checkpoint. State records are written only after every alert and
    /// dead letter before them is acknowledged, and offsets committed only after the state is:
    /// a crash can never leave saved state or offsets past an undelivered record. The offsets
    /// of records still in flight are committed later, by [`Core::commit_acknowledged`].
    ///
    /// Returns whether it finished: every partition held had its output acknowledged and
    /// (when `last`) its state too.
    pub fn checkpoint(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        partitions: &[i32],
        last: bool,
    ) -> Result<bool, SinkError> {
        let started = Instant::now();
        let deadline = started + if last { FINAL_DEADLINE } else { FLUSH_DEADLINE };
        let result = self.checkpoint_inner(consumer, partitions, last, deadline);
        self.state().own_work += started.elapsed();
        result
    }

    fn checkpoint_inner(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        partitions: &[i32],
        last: bool,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        // Phase 0: the events read so far are run through the engines (a revocation can come
        // in the middle of a poll batch).
        {
            let mut guard = self.state();
            for &partition in partitions {
                if let Some(part) = guard.parts.get_mut(&partition) {
                    self.settle(partition, part)?;
                }
            }
        }
        // Phase 1: what the partitions produced so far is acknowledged (retrying failures).
        let mark = self.sink.mark();
        let ready = self.wait_acked(partitions, mark, deadline, last)?;
        let mut finished = ready.len() == partitions.len() || {
            // A stop does not count a partition whose only record in flight is where its
            // event time stood (`save_frontiers`, best effort): it has nothing to commit, and
            // with the brokers just gone the stop exited 2 for it (audit BD).
            let stopping = last && !self.running.load(Ordering::Relaxed);
            let state = self.state();
            stopping
                && partitions.iter().all(|&partition| {
                    ready.contains(&partition)
                        || state.parts.get(&partition).is_some_and(|part| {
                            part.unchanged()
                                && part.frontier_sent.mark > 0
                                && self.sink.unacked_before(partition, part.frontier_sent.mark)
                        })
                })
        };
        // Phase 2: their state, then (once acknowledged) their offsets. Nothing is processed
        // in between: this thread does both.
        let zone = self.zone.clone();
        let state_topic = self.config.kafka.state_topic.clone();
        let mut written = Vec::new();
        {
            let mut guard = self.state();
            let state = &mut *guard;
            for &partition in &ready {
                if !self.holds(consumer, state, partition) {
                    continue;
                }
                let Some(part) = state.parts.get_mut(&partition) else {
                    continue;
                };
                if !part.changed && part.pending_commit.is_none() && part.unsent_meta.is_none() {
                    continue;
                }
                let send = |key: &[u8], value: Option<&[u8]>| {
                    self.send(Out {
                        owner: partition,
                        topic: &state_topic,
                        partition: Some(partition),
                        key: Some(key),
                        payload: value,
                        headers: None,
                    })
                };
                if part.changed {
                    part.changed = false;
                    // Tombstones first: a worker forgotten and seen again since the last
                    // checkpoint gets its new record after its tombstone.
                    let evicted = part.engine.take_evicted();
                    self.shared.metrics.workers_evicted(evicted.len());
                    for id in evicted {
                        send(&state::worker_key(&id), None)?;
                    }
                    loop {
                        let records = part.engine.take_dirty_up_to(RECORDS_PER_STEP);
                        if records.is_empty() {
                            break;
                        }
                        for record in records {
                            // A slot freed since it changed has no worker any more.
                            if record.worker.id.is_empty() {
                                continue;
                            }
                            let (key, value) = state::encode_worker(&record, &zone);
                            send(&key, Some(&value))?;
                        }
                    }
                    for report in part.engine.take_reports() {
                        let merged = merge_report(part.reports.remove(&report.day), report);
                        for (key, value) in state::encode_report(&merged, &zone) {
                            send(&key, Some(&value))?;
                        }
                    }
                    let offsets = next_offsets(part, self.topics.len());
                    self.save_ids(part, &offsets, &send)?;
                    let meta = self.partition_meta(part, &offsets);
                    let (key, value) = state::encode_meta(&meta, &zone);
                    // A newer one replaces a partition record still waiting.
                    part.unsent_meta = Some(UnsentMeta {
                        key,
                        value,
                        offsets,
                        frontier: meta.frontier,
                        named: part.late_held.len(),
                    });
                }
                part.last_checkpoint = Instant::now();
                written.push(partition);
            }
        }
        // Phase 3: the partition record, the restore's starting point, once every record
        // before it is acknowledged: a record refused or failed (too large for
        // `message.max.bytes`, say) never lies below a partition record that was written
        // (audit AI: a restart skipped the events of a worker whose record was refused).
        let waiting: Vec<i32> = {
            let state = self.state();
            written
                .iter()
                .copied()
                .filter(|p| {
                    state
                        .parts
                        .get(p)
                        .is_some_and(|part| part.unsent_meta.is_some())
                })
                .collect()
        };
        // Partitions holding late events' dead letters: the partition record naming them, its
        // offsets and frontier.
        let mut releasing = Vec::new();
        if !waiting.is_empty() {
            let acked = self.wait_acked(&waiting, self.sink.mark(), deadline, last)?;
            finished &= acked.len() == waiting.len();
            let mut guard = self.state();
            let state = &mut *guard;
            for partition in acked {
                if !self.holds(consumer, state, partition) {
                    continue;
                }
                let Some(part) = state.parts.get_mut(&partition) else {
                    continue;
                };
                let Some(meta) = part.unsent_meta.take() else {
                    continue;
                };
                self.send(Out {
                    owner: partition,
                    topic: &state_topic,
                    partition: Some(partition),
                    key: Some(&meta.key),
                    payload: Some(&meta.value),
                    headers: None,
                })?;
                if meta.named == 0 {
                    part.pending_commit = Some(PendingCommit {
                        mark: self.sink.mark(),
                        offsets: meta.offsets,
                        frontier: meta.frontier,
                    });
                } else {
                    releasing.push((partition, meta.offsets, meta.frontier, meta.named));
                }
            }
        }
        // Phase 4: once the partition record naming them is acknowledged, the late events'
        // dead letters it held; the offsets past them are committed once those are too. Not
        // acknowledged in time: they wait for the next checkpoint, which names them again.
        if !releasing.is_empty() {
            let partitions: Vec<i32> = releasing.iter().map(|&(p, ..)| p).collect();
            let acked = self.wait_acked(&partitions, self.sink.mark(), deadline, last)?;
            finished &= acked.len() == partitions.len();
            let mut guard = self.state();
            let state = &mut *guard;
            for (partition, offsets, frontier, named) in releasing {
                let ours = self.holds(consumer, state, partition);
                let Some(part) = state.parts.get_mut(&partition) else {
                    continue;
                };
                if !ours || !acked.contains(&partition) {
                    part.changed = true;
                    continue;
                }
                part.saved_frontier = part.saved_frontier.max(frontier);
                self.send_late_held(partition, part, named)?;
                part.pending_commit = Some(PendingCommit {
                    mark: self.sink.mark(),
                    offsets,
                    frontier,
                });
                // A restore from that record would send them again: the next one does not
                // name them.
                part.changed = true;
            }
        }
        if last {
            let acked = self.wait_acked(&written, self.sink.mark(), deadline, last)?;
            finished &= acked.len() == written.len();
        }
        self.commit_acknowledged(
            consumer,
            if last {
                CommitMode::Sync
            } else {
                CommitMode::Async
            },
        );
        if last
            && !self.running.load(Ordering::Relaxed)
            && let Err(error) = self.save_frontiers(consumer, partitions, None)
        {
            tracing::warn!(%error, "Where event time stands not saved for the partitions that changed nothing: a restart's rule values apply from their last change.");
        }
        Ok(finished)
    }

    /// A partition that changed nothing since its last partition record gets one for where
    /// its event time stands now. Event time moving on alone saves nothing otherwise, so an
    /// idle partition's record would keep the frontier of its last change; rule values
    /// changed at a restart apply from the saved frontier on
    /// ([`crate::engine::Cx::rules_from`], SPEC section 5), which is then the stop (or, after
    /// a crash, at most `commit_interval` before it), not the last change. The record is what
    /// a checkpoint of a changed partition would write now; nothing is committed after it
    /// (nothing new was applied). Best effort, and not with `live.reread_input = false`, whose
    /// ids would have to be saved first.
    ///
    /// - `every: None`, the stop's last checkpoint, after the rest: waited for
    ///   [`FRONTIER_WAIT`] at most, and a stop that cannot deliver it (brokers away, a
    ///   producer error, logged) is as clean as before, the restore starting from the record
    ///   before.
    /// - `every: Some(interval)`, while running: at most once an `interval` per partition, a
    ///   partition whose records are all acknowledged; not waited for (a record that cannot be
    ///   delivered stops the monitor after `delivery_timeout`, as any other).
    fn save_frontiers(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        partitions: &[i32],
        every: Option<Duration>,
    ) -> Result<(), SinkError> {
        if !self.config.live.reread_input {
            return Ok(());
        }
        let mut sent = Vec::new();
        {
            let mut guard = self.state();
            let state = &mut *guard;
            for &partition in partitions {
                if !self.holds(consumer, state, partition) {
                    continue;
                }
                let Some(part) = state.parts.get_mut(&partition) else {
                    continue;
                };
                let settled = part.unchanged() && self.sink.idle(partition);
                // While running, only for workers held: the saved frontier is when a restore
                // applies its rule values to them.
                let due = every.is_none_or(|every| {
                    !(state.away || state.hung)
                        && part.engine.held() > 0
                        && part.frontier_sent.at.elapsed() >= every
                        && part.last_checkpoint.elapsed() >= every
                });
                if !settled || !due {
                    continue;
                }
                let meta = self.partition_meta(part, &next_offsets(part, self.topics.len()));
                if meta.frontier <= part.saved_frontier.max(part.frontier_sent.frontier) {
                    continue;
                }
                let (key, value) = state::encode_meta(&meta, &self.zone);
                self.send(Out {
                    owner: partition,
                    topic: &self.config.kafka.state_topic,
                    partition: Some(partition),
                    key: Some(&key),
                    payload: Some(&value),
                    headers: None,
                })?;
                part.frontier_sent = FrontierSent {
                    frontier: meta.frontier,
                    at: Instant::now(),
                    mark: self.sink.mark(),
                };
                sent.push(partition);
            }
        }
        if every.is_none() && !sent.is_empty() {
            let deadline = Instant::now() + FRONTIER_WAIT;
            let acked = self.wait_acked(&sent, self.sink.mark(), deadline, true)?;
            tracing::debug!(
                ?sent,
                ?acked,
                "Where event time stands saved for the partitions that changed nothing."
            );
        }
        Ok(())
    }

    /// A partition's record as a checkpoint writes it now: the engine's meta with the
    /// `offsets` the partition restarts from, what it had read and the late events it names.
    fn partition_meta(&self, part: &Part, offsets: &[(usize, i64)]) -> PartitionMeta {
        let mut meta = part.engine.meta();
        for &(index, next) in offsets {
            meta.next_offsets.insert(self.topics[index].clone(), next);
        }
        meta.read_to = read_to(part, &self.topics);
        meta.late = late_offsets(part, &self.topics);
        meta
    }

    /// With `live.reread_input = false`, which reads nothing again after a restart: the ids
    /// remembered since the last checkpoint, of the events below the `offsets` it restarts
    /// from, go to the state topic; records whose every id the watermark has forgotten are
    /// tombstoned.
    fn save_ids(
        &self,
        part: &mut Part,
        offsets: &[(usize, i64)],
        send: &impl Fn(&[u8], Option<&[u8]>) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let topics = self.topics.len();
        let ids = part.engine.take_ids(|seq| {
            let (index, offset) = origin_of(seq, topics);
            offsets
                .iter()
                .any(|&(topic, next)| topic == index && offset < next)
        });
        for chunk in ids.chunks(state::IDS_PER_RECORD) {
            let number = part.id_records.last_key_value().map_or(0, |(&n, _)| n + 1);
            let latest = state::latest_expiry(chunk);
            let (key, value) = state::encode_ids(number, chunk, &self.zone);
            send(&key, Some(&value))?;
            part.id_records.insert(number, latest);
        }
        let watermark = part.engine.watermark();
        let forgotten: Vec<u64> = part
            .id_records
            .iter()
            .filter(|&(_, &latest)| latest < watermark)
            .map(|(&number, _)| number)
            .collect();
        for number in forgotten {
            send(&state::ids_key(number), None)?;
            part.id_records.remove(&number);
        }
        Ok(())
    }

    /// Waits until every record of each of `partitions` before `mark` is acknowledged, sending
    /// failed ones again meanwhile, until `deadline`; returns the partitions that got there.
    /// Unless `last`, it also gives up once a stop is asked for: the stop's own last checkpoint
    /// waits next, and both waits in a row outlasted the 9 s a stop may take (exit 2 with "did
    /// not stop in time" instead of a last checkpoint that could not finish).
    fn wait_acked(
        &self,
        partitions: &[i32],
        mark: u64,
        deadline: Instant,
        last: bool,
    ) -> Result<Vec<i32>, SinkError> {
        loop {
            self.sink.service()?;
            let done: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|&p| self.sink.acked_below(p, mark))
                .collect();
            // The broker may take seconds: HTTP's look-ups do not wait for it (SPEC
            // section 6).
            self.answer_lookups();
            let stopping = !last && !self.running.load(Ordering::Relaxed);
            if done.len() == partitions.len() || Instant::now() >= deadline || stopping {
                if done.len() < partitions.len() {
                    tracing::warn!(
                        waiting = partitions.len() - done.len(),
                        "Checkpoint: not every record acknowledged yet; those partitions' state and offsets wait."
                    );
                }
                return Ok(done);
            }
            self.sink.flush(Duration::from_millis(20));
        }
    }

    /// Answers the worker look-ups waiting (`/v1/workers/{id}`) from the partitions held.
    /// Never call it with the state locked.
    fn answer_lookups(&self) {
        let mut state = self.state();
        let mut engines: Vec<&mut Engine> = state
            .parts
            .values_mut()
            .map(|part| &mut part.engine)
            .collect();
        self.shared.views.answer(&mut engines, self.clock.now_ms());
    }

    /// Commits the offsets of partitions whose last state write is acknowledged, while they
    /// are still held. The offsets last committed are sent again every `commit_interval` (at
    /// least a second) by the loop's asynchronous commits: one that fails is only logged by
    /// librdkafka (`COMMITFAIL`, counted in `workhours_commit_failures_total`), and once the
    /// input has run dry no later checkpoint would carry its offsets. Not by a synchronous
    /// commit (a revocation's or a stop's last checkpoint), which would wait for a broker that
    /// is away although there may be nothing new to commit.
    fn commit_acknowledged(&self, consumer: &BaseConsumer<LiveContext>, mode: CommitMode) {
        let mut offsets = TopicPartitionList::new();
        {
            let mut guard = self.state();
            let state = &mut *guard;
            let lost = consumer.assignment_lost();
            let now = Instant::now();
            let again = Duration::from_millis(self.config.live.commit_interval.max(1_000) as u64);
            for (&partition, part) in state.parts.iter_mut() {
                if lost || !state.assigned.contains(&partition) {
                    continue;
                }
                if let Some(pending) = &part.pending_commit
                    && self.sink.acked_below(partition, pending.mark)
                    && let Some(pending) = part.pending_commit.take()
                {
                    part.saved_frontier = part.saved_frontier.max(pending.frontier);
                    part.committed = Some((pending.offsets, now));
                } else if let Some((_, sent)) = &mut part.committed
                    && matches!(mode, CommitMode::Async)
                    && now.duration_since(*sent) >= again
                {
                    *sent = now;
                } else {
                    continue;
                }
                if let Some((list, _)) = &part.committed {
                    for &(index, next) in list {
                        let _ = offsets.add_partition_offset(
                            &self.topics[index],
                            partition,
                            Offset::Offset(next),
                        );
                    }
                }
            }
        }
        if offsets.count() > 0
            && let Err(error) = consumer.commit(&offsets, mode)
        {
            match mode {
                CommitMode::Async => {
                    tracing::warn!(%error, "Commit failed; the offsets are sent again.")
                }
                CommitMode::Sync => tracing::warn!(
                    %error,
                    "Commit failed; the partitions' next owner reads their input again from the last commit."
                ),
            }
        }
    }

    /// Reads partitions' state back, retrying (from where it got to) while it makes progress
    /// or the failure is the broker's; an error for state that cannot be used (or the service
    /// stopping). `/readyz` says not ready meanwhile.
    fn restore_until_done(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        partitions: &[i32],
    ) -> anyhow::Result<Restore> {
        tracing::info!(?partitions, "Partitions assigned: restoring their state.");
        self.shared.ready.store(false, Ordering::Relaxed);
        self.shared.metrics.set_ready(false);
        let metrics = &self.shared.metrics;
        for &partition in partitions {
            metrics.set_restoring(partition, true);
        }
        let started = Instant::now();
        let mut restored: BTreeMap<i32, Restored> = partitions
            .iter()
            .map(|&p| (p, Restored::default()))
            .collect();
        let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
        let running = || self.running.load(Ordering::Relaxed);
        loop {
            let skip = reached.clone();
            let read = read_state_partitions(
                &self.config.kafka,
                consumer,
                partitions,
                &skip,
                RESTORE_STALL,
                &running,
                |partition, offset, key, value| {
                    metrics.restore_progress(partition, 1);
                    if let Some(saved) = restored.get_mut(&partition) {
                        saved.add(key, value, &self.zone, At { partition, offset });
                    }
                    reached.insert(partition, offset + 1);
                },
            );
            match read {
                Ok(()) => break,
                Err(error) => {
                    if !running() {
                        tracing::info!(?partitions, "Stopping while restoring.");
                        return Ok(Restore::Stopped);
                    }
                    tracing::error!(?partitions, %error, "Cannot restore the partitions' state; retrying from where it got to.");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        let records: u64 = restored.values().map(|r| r.read).sum();
        tracing::info!(?partitions, records, elapsed = ?started.elapsed(), "State read back.");
        for (partition, saved) in restored {
            let saved = saved.finish().map_err(|(error, count)| {
                anyhow::Error::new(error).context(format!(
                    "cannot restore partition {partition} of the state topic `{}` ({count} records cannot be used)",
                    self.config.kafka.state_topic
                ))
            })?;
            // A record this release wrote can hold nothing out of range (checked on decode);
            // a panic in the engine on restored state is still an error, not an abort.
            let part = catch_unwind(AssertUnwindSafe(|| self.part_of(saved))).map_err(|_| {
                anyhow::Error::new(StateError::Corrupt {
                    partition,
                    offset: -1,
                    key: "(the partition's workers)".into(),
                    detail: "the engine could not take the restored state".into(),
                })
            })?;
            self.restore_freshness(&part.engine);
            self.sink.adopt(partition);
            self.state().parts.insert(partition, part);
            metrics.set_restoring(partition, false);
        }
        metrics.set_partitions_assigned(self.state().parts.len());
        Ok(Restore::Done)
    }

    /// Each platform's freshness from the restored workers' last events, so that a platform
    /// silent since before a restart stays stale (WorkhoursPlatformDataStopped kept firing
    /// until the restart, then resolved).
    fn restore_freshness(&self, engine: &Engine) {
        if !matches!(self.clock, Clock::Wall) {
            return;
        }
        let now = self.clock.now_ms();
        let mut newest: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        for worker in engine.workers() {
            if worker.last_event == crate::engine::NEVER || worker.since == crate::engine::NEVER {
                continue;
            }
            let at = newest
                .entry(engine.name(worker.platform))
                .or_insert(i64::MIN);
            *at = (*at).max(worker.last_event);
        }
        for (platform, at) in newest {
            self.shared
                .metrics
                .last_event(platform, at.min(now) as f64 / 1000.0);
        }
    }

    fn part_of(&self, saved: Restored) -> Part {
        let meta = saved.meta.clone().unwrap_or_default();
        let reports = saved.open_reports(meta.frontier);
        let saved_any = !saved.is_empty();
        // Worker records without a partition record (a crash before the first one was
        // acknowledged): nothing says how far the input was read, and none of it counts as
        // read again. The events the records hold are known by their workers' last applied
        // events ([`Engine::push_read`]); any other is judged afresh, a late one late.
        let older_record = saved.meta.is_some();
        let mut engine = if saved_any {
            Engine::restore_live(self.config.clone(), &meta, saved.workers)
        } else {
            Engine::live(self.config.clone())
        };
        engine.restore_ids(saved.ids.values().flatten().copied());
        let id_records = saved
            .ids
            .iter()
            .map(|(&number, ids)| (number, state::latest_expiry(ids)))
            .collect();
        let handled_below = self
            .topics
            .iter()
            .map(|topic| meta.next_offsets.get(topic).copied())
            .collect();
        let reread_below = self
            .topics
            .iter()
            .map(|topic| match &meta.read_to {
                Some(read_to) => read_to.get(topic).copied().unwrap_or(0),
                None if older_record => i64::MAX,
                None => 0,
            })
            .collect();
        let late_again = self
            .topics
            .iter()
            .map(|topic| {
                meta.late
                    .get(topic)
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect()
            })
            .collect();
        let saved_frontier = if saved_any {
            meta.frontier
        } else {
            crate::engine::NEVER
        };
        let n = self.topics.len();
        let polled = self.state().polled;
        Part {
            reread_below,
            handled_below,
            reports,
            id_records,
            saved_frontier,
            late_again,
            ..Part::new(engine, n, polled)
        }
    }

    /// Forgets partitions: their engines, their records' tracking, their metrics.
    fn drop_parts(&self, partitions: &[i32]) {
        let mut state = self.state();
        for partition in partitions {
            state.parts.remove(partition);
            self.sink.forget(*partition);
            self.shared.metrics.forget_partition(*partition);
        }
        self.shared
            .metrics
            .set_partitions_assigned(state.parts.len());
        self.publish(&state);
    }

    /// The loop stood still longer than the group allows (a stop, a starved machine): the
    /// group has probably given our partitions to another instance, which restores them from
    /// the last checkpoint. Write nothing more for them and drop their state. librdkafka
    /// notices too (its heartbeat is refused, or the poll interval was exceeded) and rejoins:
    /// the revocation it brings finds nothing to save, and the next assignment is restored
    /// from the state topic like any other. If no rebalance comes (the group had not given
    /// up on us), [`Core::retake`] restores the partitions still assigned.
    fn fence(&self, gap: Duration) {
        let partitions: Vec<i32> = self.state().parts.keys().copied().collect();
        tracing::warn!(?gap, limit = ?self.stall_limit, ?partitions, "The loop stood still longer than the group session: dropping the partitions' state without writing; the group decides who holds them now.");
        self.drop_unwritten("stall", &partitions);
        self.state().fenced_at = Some(Instant::now());
    }

    /// A fence's work: the partitions' state dropped without writing, counted by `reason`,
    /// and the instance not ready until it is assigned partitions again.
    fn drop_unwritten(&self, reason: &'static str, partitions: &[i32]) {
        self.shared.metrics.fenced(reason);
        self.drop_parts(partitions);
        self.shared.ready.store(false, Ordering::Relaxed);
        self.shared.metrics.set_ready(false);
    }

    /// librdkafka said the group session timed out: SPEC section 5, an instance that has lost a
    /// partition writes nothing more for it. Its revocation (lost) comes once the coordinator
    /// answers again, which a hung broker can delay for minutes, while the wall clock makes
    /// timers fall due: drop the partitions' state now, without writing. Unlike a stall, no
    /// [`Core::retake`]: librdkafka has given the assignment up itself and rejoins; the next
    /// assignment is restored as any. Whether there were partitions to drop.
    fn fence_session(&self) -> bool {
        let partitions: Vec<i32> = self.state().parts.keys().copied().collect();
        if partitions.is_empty() {
            return false;
        }
        tracing::warn!(
            ?partitions,
            "The group session timed out: dropping the partitions' state without writing; the group decides who holds them now."
        );
        self.drop_unwritten("lost", &partitions);
        true
    }

    /// After a fence that brought no rebalance within the session timeout: the partitions are
    /// still ours; restore them and read them again, as an assignment does.
    fn retake(&self, consumer: &BaseConsumer<LiveContext>) -> anyhow::Result<()> {
        let due = {
            let state = self.state();
            state
                .fenced_at
                .is_some_and(|at| at.elapsed() > self.stall_limit + Duration::from_secs(3))
        };
        if !due {
            return Ok(());
        }
        let mut assignment = consumer.assignment()?;
        let partitions = partitions_of(&assignment);
        tracing::info!(
            ?partitions,
            "No rebalance after the stall: the partitions are still ours; restoring them."
        );
        let started = Instant::now();
        if self.restore_until_done(consumer, &partitions)? == Restore::Stopped {
            return Ok(());
        }
        let offset = if self.config.live.reread_input {
            Offset::Beginning
        } else {
            Offset::Stored
        };
        assignment.set_all_offsets(offset)?;
        consumer.assign(&assignment)?;
        let mut state = self.state();
        // An assignment ends the partitions' own queues: they are split again.
        state.rebalances += 1;
        state.fenced_at = None;
        state.assigned = partitions.iter().copied().collect();
        state.own_work += started.elapsed();
        self.shared.ready.store(true, Ordering::Relaxed);
        self.shared.metrics.set_ready(true);
        Ok(())
    }

    fn publish(&self, state: &LoopState) {
        let engines: Vec<&Engine> = state.parts.values().map(|part| &part.engine).collect();
        self.shared.views.publish(&engines);
    }

    fn publish_gauges(&self, state: &LoopState) {
        let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut open: BTreeMap<String, u64> = BTreeMap::new();
        let (mut workers, mut names, mut ids, mut buffered) = (0, 0, 0, 0);
        let (mut late_held, mut starts, mut start_bytes) = (0, 0, 0);
        for part in state.parts.values() {
            late_held += part.late_held.len();
            for held in &part.held {
                let (n, bytes) = held.size();
                starts += n;
                start_bytes += bytes;
            }
            for (key, (online, working)) in part.engine.group_counts() {
                let entry = groups.entry(key).or_default();
                entry.0 += online;
                entry.1 += working;
            }
            for (platform, n) in part.engine.open_violations() {
                *open.entry(platform).or_default() += n;
            }
            let sizes = part.engine.sizes();
            workers += sizes.workers;
            names += sizes.names;
            ids += sizes.ids;
            buffered += sizes.buffered;
        }
        let metrics = &self.shared.metrics;
        let rows: Vec<_> = groups
            .into_iter()
            .map(|((p, r, c), (online, working))| (p, r, c, online, working))
            .collect();
        metrics.set_workers(&rows);
        let rows: Vec<_> = open.into_iter().collect();
        metrics.set_open_violations(&rows);
        metrics.set_held(workers, names, ids, buffered);
        metrics.set_late_held(late_held);
        metrics.set_order_starts_held(starts, start_bytes);
        self.sink.publish_gauges();
        self.publish(state);
    }

    /// `quota_p90`: the owner of partition 0 computes complete days; their alerts go out, and
    /// the days are marked done once those are acknowledged.
    fn aggregate(
        &self,
        consumer: &BaseConsumer<LiveContext>,
        aggregator: &mut Option<Aggregator>,
        partitions: usize,
        writable: bool,
    ) -> Result<(), SinkError> {
        let holds_zero = writable && {
            let state = self.state();
            state.parts.contains_key(&0) && self.holds(consumer, &state, 0)
        };
        match (&aggregator, holds_zero) {
            (None, true) => match Aggregator::new(&self.config, partitions) {
                Ok(created) => *aggregator = Some(created),
                Err(error) => tracing::error!(%error, "Cannot start the quota aggregator."),
            },
            (Some(_), false) => {
                *aggregator = None;
                self.state().quota_sent.clear();
                self.sink.forget(GLOBAL);
            }
            _ => {}
        }
        let Some(aggregator) = aggregator.as_mut() else {
            return Ok(());
        };
        let (alerts, days) = aggregator.poll(&self.config);
        if !days.is_empty() {
            self.emit(GLOBAL, alerts)?;
            let mark = self.sink.mark();
            self.state().quota_sent.push((mark, days));
        }
        let done: Vec<i32> = {
            let mut state = self.state();
            let (acked, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.quota_sent)
                .into_iter()
                .partition(|(mark, _)| self.sink.acked_below(GLOBAL, *mark));
            state.quota_sent = waiting;
            acked.into_iter().flat_map(|(_, days)| days).collect()
        };
        for day in done {
            let (key, value) = state::encode_done(day, &self.zone);
            self.send(Out {
                owner: GLOBAL,
                topic: &self.config.kafka.state_topic,
                partition: Some(0),
                key: Some(&key),
                payload: Some(&value),
                headers: None,
            })?;
        }
        Ok(())
    }

    /// Processes a poll batch: each partition's messages in order, on its partition's engine,
    /// the partitions spread over up to [`Core::lanes`] threads (an engine is only ever
    /// touched by one). The loop waits for all of them: checkpoints, rebalances and timers
    /// see every engine at rest, as with one thread. The messages are freed by the lane that
    /// processed them (freeing librdkafka's messages is a visible share of the cost).
    fn process_batch(
        &self,
        messages: Vec<BorrowedMessage<'_>>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<(), SinkError> {
        if messages.is_empty() {
            return Ok(());
        }
        let total = messages.len();
        let mut by_partition: BTreeMap<i32, Vec<BorrowedMessage<'_>>> = BTreeMap::new();
        for message in messages {
            by_partition
                .entry(message.partition())
                .or_default()
                .push(message);
        }
        let mut guard = self.state();
        let mut work: Vec<Work<'_, '_>> = Vec::with_capacity(by_partition.len());
        for (&partition, part) in guard.parts.iter_mut() {
            if let Some(messages) = by_partition.remove(&partition) {
                work.push((partition, part, messages));
            }
        }
        // Partitions are restored before they are assigned, so these are messages of a
        // partition already revoked: its next owner reads them.
        for (partition, messages) in by_partition {
            tracing::debug!(
                partition,
                messages = messages.len(),
                "Messages of a partition not held; skipped."
            );
        }
        let lanes = self.lanes.min(work.len());
        let Some(pool) = self
            .pool
            .as_ref()
            .filter(|_| lanes > 1 && total >= LANE_MIN_MESSAGES)
        else {
            return self.run_lane(work, tick, batch);
        };
        // The largest partitions first, each to the first lane free.
        work.sort_by_key(|(_, _, messages)| std::cmp::Reverse(messages.len()));
        self.on_lanes(pool, work, lanes, tick, batch, Self::run_lane, |(), ()| ())
    }

    /// Runs `run` over `items` on `lanes` lanes: the loop's thread and `lanes - 1` threads of
    /// the pool, each taking the next item (a partition) as soon as it is done with one, so
    /// that a lane the machine does not schedule leaves its partitions to the others instead
    /// of holding the loop up (a fixed share per lane made the loop wait for it). Waits for
    /// them all, merges their counts into `batch` and their results with `join` (the first
    /// error wins, the loop's own first; after an error no lane takes another item).
    #[allow(clippy::too_many_arguments)]
    fn on_lanes<W: Send, T: Send + Default>(
        &self,
        pool: &rayon_core::ThreadPool,
        items: Vec<W>,
        lanes: usize,
        tick: Tick,
        batch: &mut BatchMetrics,
        run: fn(&Self, Vec<W>, Tick, &mut BatchMetrics) -> Result<T, SinkError>,
        join: fn(T, T) -> T,
    ) -> Result<T, SinkError> {
        let queue = Mutex::new(items.into_iter());
        let failed = AtomicBool::new(false);
        let lane = |counted: &mut BatchMetrics| -> Result<T, SinkError> {
            let mut done = T::default();
            while !failed.load(Ordering::Relaxed) {
                let Some(item) = lock(&queue).next() else {
                    break;
                };
                match run(self, vec![item], tick, counted) {
                    Ok(result) => done = join(done, result),
                    Err(error) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(error);
                    }
                }
            }
            Ok(done)
        };
        let mut outcomes: Vec<Option<(Result<T, SinkError>, BatchMetrics)>> =
            (1..lanes).map(|_| None).collect();
        // A panic in a lane is raised again here, when the scope ends.
        let mut result = pool.in_place_scope(|scope| {
            for slot in outcomes.iter_mut() {
                let lane = &lane;
                scope.spawn(move |_| {
                    let mut counted = BatchMetrics::default();
                    let outcome = lane(&mut counted);
                    *slot = Some((outcome, counted));
                });
            }
            lane(batch)
        });
        for (outcome, counted) in outcomes.into_iter().flatten() {
            batch.merge(counted);
            result = match (result, outcome) {
                (Ok(a), Ok(b)) => Ok(join(a, b)),
                (Err(error), _) | (_, Err(error)) => Err(error),
            };
        }
        result
    }

    /// Processes partitions' messages, then runs their engines ([`Core::settle`]).
    fn run_lane(
        &self,
        lane: Vec<Work<'_, '_>>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<(), SinkError> {
        for (partition, part, messages) in lane {
            self.process_messages(partition, part, &messages, tick, batch)?;
            self.settle(partition, part)?;
        }
        Ok(())
    }

    /// Processes a partition's messages in order, each parsed up to [`PARSE_AHEAD`] messages
    /// ahead of its processing, so that the cache misses of their `event_id` slots and
    /// workers overlap (as in replay's batches) instead of coming one after another. Returns
    /// how many there were.
    fn process_messages<'m, M: Input + 'm>(
        &self,
        partition: i32,
        part: &mut Part,
        messages: impl IntoIterator<Item = &'m M>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<usize, SinkError> {
        let mut messages = messages.into_iter().peekable();
        let mut ahead = Vec::with_capacity(PARSE_AHEAD);
        let mut hashes = Vec::with_capacity(PARSE_AHEAD);
        let mut count = 0;
        while messages.peek().is_some() {
            for message in messages.by_ref().take(PARSE_AHEAD) {
                let payload = message.payload().unwrap_or_default();
                ahead.push((message, part.engine.parse_ahead(payload)));
            }
            // The workers' look-ups in loops of their own, so that their cache misses overlap
            // too: the ids hashed and their index buckets asked for, then the workers found
            // and asked for (as replay's batches do).
            hashes.extend(ahead.iter().map(|(_, parsed)| match parsed {
                Ok((event, _)) => part.engine.hint_hash(&event.worker_id),
                Err(_) => None,
            }));
            for hash in hashes.drain(..) {
                part.engine.prefetch_worker_by(hash);
            }
            count += ahead.len();
            for (message, parsed) in ahead.drain(..) {
                self.process_message(partition, part, message, parsed, tick, batch)?;
            }
        }
        Ok(count)
    }

    fn process_message(
        &self,
        partition: i32,
        part: &mut Part,
        message: &impl Input,
        parsed: Parsed<'_>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<(), SinkError> {
        // One input topic (the usual case): every message is of it, and its name need not be
        // read from the message (a UTF-8 check per message).
        let index = match self.topics.len() {
            1 => 0,
            _ => match self.topic_index(message.topic_name()) {
                Some(index) => index,
                None => return Ok(()),
            },
        };
        let origin = Origin {
            topic: &self.topics[index],
            partition,
            offset: message.offset(),
            key: message.key(),
            payload: message.payload().unwrap_or_default(),
            sent: message.sent(),
        };
        self.process(part, index, &origin, parsed, tick, batch)
    }

    /// Reads the partitions' own queues ([`Queues`]), each partition on its lane, and
    /// processes what they hold (at most [`QUEUE_MESSAGES`] a partition and topic); returns
    /// how many messages were read. As with [`Core::process_batch`], the loop waits for the
    /// lanes.
    fn process_queues(
        &self,
        queues: &Queues,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<usize, SinkError> {
        if queues.by_partition.is_empty() {
            return Ok(0);
        }
        let mut guard = self.state();
        let mut work: Vec<QueueWork<'_, '_>> = Vec::with_capacity(queues.by_partition.len());
        for (&partition, part) in guard.parts.iter_mut() {
            if let Some(list) = queues.by_partition.get(&partition) {
                work.push((partition, part, list.as_slice()));
            }
        }
        let lanes = self.lanes.min(work.len());
        let Some(pool) = self.pool.as_ref().filter(|_| lanes > 1) else {
            return self.run_queue_lane(work, tick, batch);
        };
        self.on_lanes(
            pool,
            work,
            lanes,
            tick,
            batch,
            Self::run_queue_lane,
            |a, b| a + b,
        )
    }

    fn run_queue_lane(
        &self,
        lane: Vec<QueueWork<'_, '_>>,
        tick: Tick,
        batch: &mut BatchMetrics,
    ) -> Result<usize, SinkError> {
        let mut read = 0;
        let mut fetched = Vec::with_capacity(QUEUE_MESSAGES);
        for (partition, part, list) in lane {
            for (_, _, reader) in list {
                // A message taken is processed or, on an error that stops the monitor,
                // dropped uncommitted.
                reader.read(QUEUE_MESSAGES, &mut fetched);
                let messages = fetched.iter().filter(|message| match message.error() {
                    None => true,
                    Some(RDKafkaErrorCode::PartitionEOF) => false,
                    Some(error) => {
                        tracing::debug!(partition, %error, "Partition queue error.");
                        false
                    }
                });
                let processed = self.process_messages(partition, part, messages, tick, batch);
                fetched.clear();
                read += processed?;
            }
            self.settle(partition, part)?;
        }
        Ok(read)
    }
}

/// Rung by librdkafka's threads when the consumer's queue or a partition's own queue gets a
/// message while empty. The loop waits on it between batches, not in a poll of the consumer's
/// queue, which the messages of a split partition queue never reach: such a wait lasted its
/// whole 100 ms whenever the lanes had emptied the partitions' queues, a visible share of the
/// run while the input streams in.
#[derive(Default)]
struct Doorbell {
    rung: Mutex<bool>,
    bell: Condvar,
}

impl Doorbell {
    fn ring(&self) {
        *lock(&self.rung) = true;
        self.bell.notify_one();
    }

    /// Waits until it rings (or rang since the last wait), at most `timeout`.
    fn wait(&self, timeout: Duration) {
        let guard = lock(&self.rung);
        let (mut guard, _) = self
            .bell
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(PoisonError::into_inner);
        *guard = false;
    }
}

/// One partition's own queues, per input topic (by index), and the rebalance count they were
/// split at: an assignment ends them ([`Consumer::assign`]), so they are split again after
/// every rebalance. Messages fetched before a split still come through the consumer's queue:
/// freshly split queues are read only from the next iteration on, after the consumer's queue
/// has been emptied once more, and always after it (order within a partition).
struct Queues {
    rebalances: Option<u64>,
    by_partition: BTreeMap<i32, Vec<QueueOf>>,
}

impl Queues {
    /// Splits the queues again after a rebalance; true when it did.
    fn refresh(
        &mut self,
        core: &Core,
        consumer: &Arc<BaseConsumer<LiveContext>>,
        doorbell: &Arc<Doorbell>,
    ) -> bool {
        let rebalances = core.state().rebalances;
        if self.rebalances == Some(rebalances) {
            return false;
        }
        self.rebalances = Some(rebalances);
        self.by_partition.clear();
        let assignment = match consumer.assignment() {
            Ok(assignment) => assignment,
            Err(error) => {
                tracing::warn!(%error, "Cannot read the assignment; partitions read through the consumer's queue.");
                return true;
            }
        };
        for element in assignment.elements() {
            let Some(index) = core.topic_index(element.topic()) else {
                continue;
            };
            // Both look the partition's queue up the same way: the reader first, so that a
            // queue split (its messages no longer forwarded) always has one.
            let reader = BatchQueue::new(consumer, element.topic(), element.partition());
            match reader.and_then(|reader| {
                let queue = consumer.split_partition_queue(element.topic(), element.partition());
                queue.map(|queue| (queue, reader))
            }) {
                Some((mut queue, reader)) => {
                    let doorbell = doorbell.clone();
                    queue.set_nonempty_callback(move || doorbell.ring());
                    self.by_partition
                        .entry(element.partition())
                        .or_default()
                        .push((index, queue, reader))
                }
                None => tracing::warn!(
                    topic = element.topic(),
                    partition = element.partition(),
                    "Cannot split the partition's queue; read through the consumer's queue."
                ),
            }
        }
        true
    }
}

/// One partition's share of the queue reading: its number, its state, its queues.
type QueueWork<'a, 'q> = (i32, &'a mut Part, &'q [QueueOf]);

/// One input topic's queue of a partition: the topic's index, the split queue (which rings
/// the doorbell) and the handle it is read through in batches.
type QueueOf = (usize, PartitionQueue<LiveContext>, BatchQueue<LiveContext>);

/// A message's event parsed ahead of its processing, with its `event_id`'s digest
/// ([`Engine::parse_ahead`]), or why it is bad.
type Parsed<'a> = Result<(event::Event<'a>, Option<u64>), event::BadEvent>;

/// One partition's share of a poll batch: its number, its state, its messages in order.
type Work<'a, 'm> = (i32, &'a mut Part, Vec<BorrowedMessage<'m>>);

/// Whether event time moving from watermark `from` to `to` (every instant before it processed)
/// processed the end of a local day in `zone`: the first instant of the next day, which the
/// `quota_p90` aggregator needs a frontier past. From no event time at all
/// ([`crate::engine::NEVER`]) it did.
fn day_end_passed(zone: chrono_tz::Tz, from: i64, to: i64) -> bool {
    if from == crate::engine::NEVER {
        return to != crate::engine::NEVER;
    }
    let mut calendar = crate::calendar::Calendar::new(zone);
    calendar.day_at(from - 1).end < to
}

/// Co-partitioned topics: which of a partition's input topics hold its event time back. A
/// topic silent for the idle timeout does not; a paused one still does (it is not silent, the
/// monitor stopped reading it).
fn sources(part: &Part, polled: Duration, idle: Duration) -> Vec<bool> {
    part.topic_last
        .iter()
        .zip(&part.paused)
        .map(|(&last, &paused)| paused || polled.saturating_sub(last) < idle)
        .collect()
}

/// Per input topic, the next offset unread: below it, input read again after a restore from
/// this checkpoint was read before. Unknown (`None`) while a topic's bound is an older
/// release's unknown one and nothing was read from it since.
fn read_to(part: &Part, topics: &[String]) -> Option<BTreeMap<String, i64>> {
    topics
        .iter()
        .enumerate()
        .map(|(index, topic)| {
            let restored = Some(part.reread_below[index]).filter(|&below| below != i64::MAX);
            let next = part.next[index].max(restored)?;
            Some((topic.clone(), next))
        })
        .collect()
}

/// An event's sequence in its partition's engine: its offset in input topic `index` of
/// `topics`, interleaved so that each topic's offsets keep their order.
fn seq_of(index: usize, offset: i64, topics: usize) -> u64 {
    offset as u64 * topics as u64 + index as u64
}

/// The input topic (by index) and offset of the event at `seq` ([`seq_of`]).
fn origin_of(seq: u64, topics: usize) -> (usize, i64) {
    let n = topics as u64;
    ((seq % n) as usize, (seq / n) as i64)
}

/// Per input topic, the offsets a partition record names late: those the restored record named
/// and not read again yet (below `read_to`, a restore from this record would otherwise take
/// them for events handled before it, their dead letters perhaps never acknowledged; audit AU),
/// and those whose dead letters the partition holds.
fn late_offsets(part: &Part, topics: &[String]) -> BTreeMap<String, Vec<i64>> {
    let mut late: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (index, again) in part.late_again.iter().enumerate() {
        if !again.is_empty() {
            late.entry(topics[index].clone())
                .or_default()
                .extend(again.iter().copied());
        }
    }
    for letter in &part.late_held {
        let offsets = late.entry(topics[letter.index].clone()).or_default();
        offsets.push(letter.offset);
    }
    late
}

/// Per input topic, the offset to restart from: the next unread one, or the smallest one
/// still in the reorder buffer (its event is not applied yet).
fn next_offsets(part: &Part, topics: usize) -> Vec<(usize, i64)> {
    let mut buffered: Vec<Option<i64>> = vec![None; topics];
    for seq in part.engine.buffered_seqs() {
        let (index, offset) = origin_of(seq, topics);
        buffered[index] = Some(buffered[index].map_or(offset, |o: i64| o.min(offset)));
    }
    (0..topics)
        .filter_map(|index| {
            let next = match (part.next[index], buffered[index]) {
                (Some(next), Some(held)) => Some(next.min(held)),
                (next, held) => next.or(held),
            };
            next.map(|next| (index, next))
        })
        .collect()
}

/// The least gap in the loop (own work and waiting excluded) taken for a stop (SIGSTOP, a
/// paused VM, a thread not scheduled): silence seen before it is no evidence that the input
/// is quiet after it, when the wall clock has jumped and what was produced meanwhile is not
/// fetched yet. Every idle clock starts again (LIVE.md "Time": stopped time does not count;
/// audit AJ: a partition idle before a 15 s stop moved event time to the resume less
/// `allowed_lateness` at once, and the events sent during the stop were late). A stop
/// shorter than `allowed_lateness` cannot make an event sent during it late; from 250 ms to
/// 1 s, so that a busy loop's longer batches do not hold idle partitions still.
fn stop_gap(config: &Config) -> Duration {
    Duration::from_millis(config.time.allowed_lateness.clamp(250, 1_000) as u64)
}

/// The largest gap between two polls, own work excluded, that cannot have cost the group
/// membership: the session timeout less a heartbeat interval (the last heartbeat may have
/// been that long before the gap), and the poll interval.
fn stall_limit(config: &Config) -> Duration {
    let property = |key: &str, default: u64| {
        config
            .kafka
            .properties
            .get(key)
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let session = property("session.timeout.ms", 45_000);
    let heartbeat = property("heartbeat.interval.ms", 3_000);
    let poll = property("max.poll.interval.ms", 300_000);
    Duration::from_millis(session.saturating_sub(heartbeat).min(poll).max(1_000))
}

/// `workhours run --reset-state`: tombstones every record of the state topic, so that the
/// next start begins from empty state on purpose (a changed `time.zone`, state of an older
/// format). Every instance must be stopped meanwhile.
pub fn reset_state(
    config: &Config,
    runtime: &tokio::runtime::Handle,
    running: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let is_running = || running.load(Ordering::Relaxed);
    // A one-off command, not a service: brokers that do not answer within
    // `live.delivery_timeout` end it with an error, where it retried for ever (audit BF).
    let wait = Duration::from_millis(config.live.delivery_timeout as u64);
    let deadline = Instant::now() + wait;
    let waiting = || is_running() && Instant::now() < deadline;
    let Some(partitions) = prepare_topics(&config.kafka, &waiting, runtime)? else {
        anyhow::ensure!(
            !is_running(),
            "the brokers ({}) did not answer within live.delivery_timeout = {}: nothing was reset",
            config.kafka.brokers,
            crate::duration::format_duration(config.live.delivery_timeout)
        );
        return Ok(());
    };
    let keys = state_keys(&config.kafka, partitions, &is_running)?;
    let sink = Sink::new(
        without_consumer_properties(client_config(&config.kafka)),
        Duration::from_millis(config.live.delivery_timeout as u64),
        Arc::new(Metrics::new()),
    )?;
    let mut total = 0;
    for (partition, records) in keys {
        let doomed = state::reset_keys(records.iter().map(|(key, value)| (key.as_slice(), *value)));
        total += doomed.len();
        for key in doomed {
            sink.send(Out {
                owner: partition,
                topic: &config.kafka.state_topic,
                partition: Some(partition),
                key: Some(&key),
                payload: None,
                headers: None,
            })?;
        }
    }
    loop {
        sink.service()?;
        if sink.idle(GLOBAL) && (0..partitions as i32).all(|p| sink.idle(p)) {
            break;
        }
        sink.flush(Duration::from_millis(100));
    }
    tracing::info!(topic = %config.kafka.state_topic, records = total, "State reset: every record tombstoned; the next start begins from empty state.");
    Ok(())
}

/// Runs the pipeline until `running` turns false; then saves, flushes and commits. An error
/// (undeliverable records, a fatal producer error, state that cannot be used) stops it.
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
    let kafka = &config.kafka;
    let (phases, holds) = config.alert_kinds();
    shared.metrics.rules_known(phases, holds);
    shared.metrics.topics_known(
        &kafka.input_topics,
        &[
            &kafka.alerts_topic,
            &kafka.dead_letter_topic,
            &kafka.state_topic,
            &kafka.holds_topic,
        ],
    );
    let (checked_tx, checked) = std::sync::mpsc::channel();
    if !matches!(clock, Clock::Wall) {
        // The demo: librdkafka's mock cluster never describes topic configs, and its state
        // topic is its own; a warning about it would be noise on the README's first command.
        let _ = checked_tx.send(Ok(()));
    } else {
        let (kafka, runtime) = (config.kafka.clone(), runtime.clone());
        std::thread::Builder::new()
            .name("state-topic-check".into())
            .spawn(move || {
                let _ = checked_tx.send(check_state_topic(&kafka, &runtime));
            })?;
    }
    let mut sink = Sink::new(
        without_consumer_properties(client_config(&config.kafka)),
        Duration::from_millis(config.live.delivery_timeout as u64),
        shared.metrics.clone(),
    )?;
    sink.report_blocked(shared.views.blocked_flag());
    shared.metrics.set_reorder_limit(REORDER_LIMIT);
    shared.metrics.set_late_held_limit(LATE_HELD);
    let topics = config.kafka.input_topics.clone();
    let lanes = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, MAX_LANES));
    let pool = match lanes {
        1 => None,
        _ => Some(
            rayon_core::ThreadPoolBuilder::new()
                .num_threads(lanes - 1)
                .thread_name(|i| format!("pipeline-lane-{i}"))
                .build()?,
        ),
    };
    // librdkafka's mock cluster (the demo) needs no probe, and its clock is not the wall's.
    let liveness = matches!(clock, Clock::Wall)
        .then(|| Arc::new(Liveness::new(hang_after(config.time.allowed_lateness))));
    let core = Arc::new(Core {
        zone: config.time.zone.name().to_owned(),
        stall_limit: stall_limit(&config),
        stop_gap: stop_gap(&config),
        lanes,
        pool,
        config,
        shared: shared.clone(),
        sink,
        topics,
        clock,
        running: running.clone(),
        closing: AtomicBool::new(false),
        session_lost: AtomicBool::new(false),
        state: Mutex::new(LoopState::new()),
        liveness,
    });
    let mut client = client_config(&core.config.kafka);
    client.set("group.id", &core.config.kafka.group_id);
    client.set("enable.auto.commit", "false");
    set_default(&mut client, "auto.offset.reset", "earliest");
    set_default(&mut client, "statistics.interval.ms", "5000");
    // A partition's queue past `queued.min.messages` stops its fetches for this long; with
    // librdkafka's 1 s the lanes emptied the queue, then waited for input most of that second.
    set_default(&mut client, "fetch.queue.backoff.ms", "10");
    // Co-partitioned topics must be assigned together: the range assignor does that.
    client.set("partition.assignment.strategy", "range");
    let mut consumer: BaseConsumer<LiveContext> = client.create_with_context(LiveContext {
        core: core.clone(),
        errors: Default::default(),
    })?;
    let doorbell = Arc::new(Doorbell::default());
    {
        let doorbell = doorbell.clone();
        consumer.set_nonempty_callback(move || doorbell.ring());
    }
    {
        // A look-up does not wait for the loop's idle poll (up to 100 ms).
        let doorbell = doorbell.clone();
        shared.views.on_ask(move || doorbell.ring());
    }
    let consumer = Arc::new(consumer);
    let topic_names: Vec<&str> = core.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_names)?;
    tracing::info!(group = %core.config.kafka.group_id, "Consuming.");
    let prober = match &core.liveness {
        Some(liveness) => Some(liveness::spawn(
            liveness.clone(),
            &without_consumer_properties(client_config(&core.config.kafka)),
            core.topics.clone(),
        )?),
        None => None,
    };
    let mut outcome = run_loop(&core, &consumer, &doorbell, partitions, &checked);
    if outcome.is_ok() {
        tracing::info!("Stopping: saving state and committing offsets.");
        let held: Vec<i32> = core.state().parts.keys().copied().collect();
        // LIVE.md "Signals": a last checkpoint that cannot finish (a broker away) exits 2, and
        // the next start reads the input again from the last commit.
        match core.checkpoint(&consumer, &held, true) {
            Ok(true) => {}
            Ok(false) => {
                outcome = Err(anyhow::anyhow!(
                    "the last checkpoint did not finish within {FINAL_DEADLINE:?} (brokers \
                     unreachable?): state and offsets not saved; the next start reads the input \
                     again from the last commit"
                ));
            }
            Err(error) => {
                outcome = Err(anyhow::Error::new(error).context("the last checkpoint failed"));
            }
        }
    }
    // After the last checkpoint, which may wait for the brokers longer than a question does.
    if let (Some(liveness), Some(prober)) = (&core.liveness, prober) {
        liveness::stop(liveness, prober);
    }
    core.closing.store(true, Ordering::Relaxed);
    shared.ready.store(false, Ordering::Relaxed);
    shared.metrics.set_ready(false);
    tracing::info!(ok = outcome.is_ok(), "Stopped.");
    close_consumer(consumer);
    outcome
}

/// How long closing the consumer may take: leaving the group needs the brokers, and a stop
/// must not wait for them (an audit saw a monitor that had given up on delivery hang there
/// until the brokers came back, alive and healthy to its liveness probe).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Closes the consumer (leaving the group, so that its partitions move at once), waiting
/// at most [`CLOSE_WAIT`]; past that the process ends without it and the group notices the
/// member gone at its session timeout.
fn close_consumer(consumer: Arc<BaseConsumer<LiveContext>>) {
    let (closed, done) = std::sync::mpsc::channel();
    let closing = std::thread::Builder::new()
        .name("consumer-close".into())
        .spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
    if closing.is_ok() && done.recv_timeout(CLOSE_WAIT).is_err() {
        tracing::warn!(
            wait = ?CLOSE_WAIT,
            "The consumer did not close in time (brokers unreachable?): leaving without it."
        );
    }
}

fn run_loop(
    core: &Arc<Core>,
    consumer: &Arc<BaseConsumer<LiveContext>>,
    doorbell: &Arc<Doorbell>,
    partitions: usize,
    state_topic_checked: &std::sync::mpsc::Receiver<Result<(), super::kafka::SourceError>>,
) -> anyhow::Result<()> {
    let shared = &core.shared;
    let mut aggregator: Option<Aggregator> = None;
    let checkpoint_every = Duration::from_millis(core.config.live.commit_interval.max(1) as u64);
    let mut last_gauges = Instant::now();
    let mut last_sample = Instant::now();
    let mut last_frontiers = Instant::now();
    let mut last_error: Option<Instant> = None;
    let mut batch = BatchMetrics::default();
    let mut last_return = Instant::now();
    let wait = Duration::from_millis(100);
    let mut queues = Queues {
        rebalances: None,
        by_partition: BTreeMap::new(),
    };
    // Whether the partitions' queues gave messages last time, or the consumer's queue more than
    // a batch: the next poll does not wait.
    let mut busy = false;
    while core.running.load(Ordering::Relaxed) {
        // When the batch's work began: after the waiting poll, which is no part of it.
        let mut started = Instant::now();
        let mut dry = false;
        let mut drained = false;
        let mut stalled = false;
        // Wait for the first message at most 100 ms (timers and checkpoints need the loop),
        // then take what is already there.
        let mut tick = Tick {
            ms: core.clock.now_ms(),
            polled: Duration::ZERO,
        };
        let mut messages: Vec<BorrowedMessage<'_>> = Vec::new();
        let mut rebalances = 0;
        let mut full = true;
        for round in 0..BATCH_MESSAGES {
            let polled = if round == 0 {
                // The waiting poll: the clocks, the idle clock and the stall check, once per
                // batch (clock reads per message were a visible share of its cost).
                let before = Instant::now();
                let own_before = core.state().own_work;
                if !busy {
                    doorbell.wait(wait);
                }
                let polled = consumer.poll(Duration::ZERO);
                let now = Instant::now();
                let mut state = core.state();
                // Own work since the last poll returned (checkpoints, and callbacks in this
                // poll), and the part of it inside this poll.
                let own = std::mem::take(&mut state.own_work);
                let own_in_poll = own.saturating_sub(own_before);
                // The idle clock moves by the time spent waiting for messages, never by more
                // than was asked (a stop inside the poll is no evidence of quiet input).
                let waited = now.duration_since(before).saturating_sub(own_in_poll);
                state.polled += waited.min(wait + Duration::from_millis(20));
                // A gap that is neither waiting nor own work: this thread was stopped.
                let gap = now
                    .duration_since(last_return)
                    .saturating_sub(own)
                    .saturating_sub(wait);
                if gap > core.stall_limit {
                    stalled = true;
                    tracing::warn!(?gap, "Poll returned after a stall.");
                } else if gap >= core.stop_gap {
                    tracing::debug!(
                        ?gap,
                        "Poll returned after a stop: the idle clocks start again."
                    );
                    state.restart_idle_clocks();
                }
                if let Some(error) = state.fatal.take() {
                    return Err(error);
                }
                rebalances = state.rebalances;
                tick = Tick {
                    ms: core.clock.now_ms(),
                    polled: state.polled,
                };
                drop(state);
                last_return = now;
                started = now;
                if stalled {
                    core.fence(now.duration_since(before));
                    full = false;
                    break;
                }
                if core.session_lost.swap(false, Ordering::AcqRel) && core.fence_session() {
                    full = false;
                    break;
                }
                polled
            } else {
                let polled = consumer.poll(Duration::ZERO);
                let mut state = core.state();
                if let Some(error) = state.fatal.take() {
                    return Err(error);
                }
                if state.rebalances != rebalances {
                    // The partitions those messages came from were revoked (and saved without
                    // them): their next owner, maybe this instance again, reads them again.
                    rebalances = state.rebalances;
                    messages.clear();
                }
                polled
            };
            match polled {
                Some(Ok(message)) => messages.push(message),
                Some(Err(KafkaError::PartitionEOF(_))) => core.state().back("end of a partition"),
                Some(Err(error)) => {
                    // While the brokers cannot be reached, silence is no evidence of quiet
                    // input (LoopState::away).
                    let mut state = core.state();
                    state.away();
                    if last_error.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
                        tracing::warn!(%error, "Consumer error; librdkafka retries.");
                        last_error = Some(Instant::now());
                    }
                    full = false;
                    break;
                }
                None => {
                    dry = round == 0;
                    drained = true;
                    full = false;
                    break;
                }
            }
        }
        let mut consumed = messages.len();
        if consumed > 0 {
            core.state().back("a message");
        }
        core.process_batch(messages, tick, &mut batch)?;
        // A full batch may have left messages in the consumer's queue, which rings no more.
        busy = full;
        if drained {
            // The consumer's queue is empty: what the partitions' own queues hold comes after
            // anything it held for them (for queues split just now, once it is emptied again).
            if queues.refresh(core, consumer, doorbell) {
                busy = true;
                dry = false;
            } else {
                let read = core.process_queues(&queues, tick, &mut batch)?;
                if read > 0 {
                    core.state().back("a message");
                }
                consumed += read;
                busy = read > 0;
                dry = dry && read == 0;
            }
        }
        core.settle_all()?;
        if let Ok(Err(error)) = state_topic_checked.try_recv() {
            return Err(error.into());
        }
        batch.flush(&shared.metrics, &core.topics);
        // Only batches of messages: a poll that found none (the loop turns every 100 ms for
        // timers and checkpoints) was counted as a batch of its waiting time.
        if consumed > 0 {
            shared
                .metrics
                .observe_batch(started.elapsed().as_secs_f64());
        }
        core.sink.service()?;
        // Writes for timers and checkpoints only while this thread has not stood still since
        // its last poll (a stop between two polls is caught at the next one).
        let writable = !stalled && last_return.elapsed() < core.stall_limit;
        {
            let mut state = core.state();
            // A stop since the poll (processing the batch) is caught here, before event time
            // moves on by it; the next poll's gap would come too late.
            let since_poll = last_return.elapsed().saturating_sub(state.own_work);
            if since_poll >= core.stop_gap {
                state.restart_idle_clocks();
            }
            core.advance_idle(&mut state, writable)?;
            core.bound_buffers(consumer, &mut state);
        }
        core.aggregate(consumer, &mut aggregator, partitions, writable)?;
        if writable {
            core.retake(consumer)?;
        }
        // Besides every `commit_interval`, a partition is checkpointed as soon as the input
        // runs dry after it changed (at most once a second), so that committed offsets, and
        // the consumer lag that tools read from them, follow the processing.
        let due: Vec<i32> = {
            let state = core.state();
            state
                .parts
                .iter()
                .filter(|(_, part)| {
                    let since = part.last_checkpoint.elapsed();
                    (part.changed || part.pending_commit.is_some() || part.unsent_meta.is_some())
                        && (since >= checkpoint_every
                            || (dry && since >= EARLY_CHECKPOINT_GAP.min(checkpoint_every)))
                })
                .map(|(&p, _)| p)
                .collect()
        };
        if writable && !due.is_empty() {
            let started = Instant::now();
            core.checkpoint(consumer, &due, false)?;
            tracing::debug!(elapsed = ?started.elapsed(), partitions = ?due, "Checkpoint done.");
        } else if writable {
            core.commit_acknowledged(consumer, CommitMode::Async);
        }
        if writable
            && core.running.load(Ordering::Relaxed)
            && last_frontiers.elapsed() >= FRONTIERS_EVERY
        {
            last_frontiers = Instant::now();
            let held: Vec<i32> = core.state().parts.keys().copied().collect();
            core.save_frontiers(consumer, &held, Some(checkpoint_every))?;
        }
        core.answer_lookups();
        let state = core.state();
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            let engines: Vec<&Engine> = state.parts.values().map(|part| &part.engine).collect();
            for sampler in lock(&shared.samplers).iter_mut() {
                sampler(&engines);
            }
        }
        if last_gauges.elapsed() >= PUBLISH_EVERY {
            core.publish_gauges(&state);
            last_gauges = Instant::now();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_local_day_end_is_passed_once_event_time_is_past_it() {
        let zone = chrono_tz::Asia::Shanghai;
        // 2025-12-04T00:00:00+08:00.
        let midnight = 1_764_777_600_000;
        assert!(!day_end_passed(zone, midnight - 5_000, midnight));
        assert!(day_end_passed(zone, midnight - 5_000, midnight + 1));
        assert!(day_end_passed(zone, midnight, midnight + 1));
        assert!(!day_end_passed(zone, midnight + 1, midnight + 86_400_000));
        assert!(day_end_passed(zone, midnight + 1, midnight + 86_400_001));
        assert!(day_end_passed(zone, crate::engine::NEVER, midnight));
        assert!(!day_end_passed(
            zone,
            crate::engine::NEVER,
            crate::engine::NEVER
        ));
    }

    use super::{LoopState, Part, Probed, day_end_passed, origin_of, position_lag, seq_of};
    use crate::config::Config;
    use crate::engine::Engine;
    use std::time::Duration;

    /// A loop holding partition 0, idle since its idle clock read 1 s, now at 9 s.
    fn idle_loop() -> LoopState {
        let mut state = LoopState::new();
        let engine = Engine::live(Config::default());
        state
            .parts
            .insert(0, Part::new(engine, 1, Duration::from_secs(1)));
        state.polled = Duration::from_secs(9);
        state
    }

    fn idle_since(state: &LoopState) -> Duration {
        state.parts[&0].last_message
    }

    /// Audit AN: a checkpoint waiting for acknowledgements held the loop through a whole
    /// hang; when it looked again the brokers answered, so it never saw them hung, and the
    /// silence of the hang counted as idleness (what producers held back was late). A
    /// question unanswered meanwhile restarts the idle clocks by itself.
    #[test]
    fn a_question_unanswered_since_the_loop_last_looked_restarts_the_idle_clocks() {
        let mut state = idle_loop();
        assert_eq!(state.probed(false, 0), None);
        assert_eq!(idle_since(&state), Duration::from_secs(1));
        // Two questions went unanswered while the loop was busy; answered again by now.
        assert_eq!(state.probed(false, 2), None);
        assert_eq!(idle_since(&state), Duration::from_secs(9));
        // Nothing new: the clocks run on.
        state.polled = Duration::from_secs(12);
        assert_eq!(state.probed(false, 2), None);
        assert_eq!(idle_since(&state), Duration::from_secs(9));
    }

    #[test]
    fn a_hang_seen_begin_and_end_restarts_the_idle_clocks_each_time() {
        let mut state = idle_loop();
        assert_eq!(state.probed(true, 1), Some(Probed::Hung));
        assert_eq!(idle_since(&state), Duration::from_secs(9));
        state.polled = Duration::from_secs(15);
        assert_eq!(state.probed(true, 1), None);
        assert_eq!(idle_since(&state), Duration::from_secs(9));
        assert_eq!(state.probed(false, 1), Some(Probed::Answered));
        assert_eq!(idle_since(&state), Duration::from_secs(15));
    }

    /// Audit BA: the partitions went during a freeze; the probe, with nothing left to ask,
    /// counted that as an answer, and the log said the brokers answered again.
    #[test]
    fn a_hang_that_ends_with_no_partition_held_is_not_an_answer() {
        let mut state = idle_loop();
        assert_eq!(state.probed(true, 1), Some(Probed::Hung));
        state.parts.clear();
        assert_eq!(state.probed(false, 1), Some(Probed::Unasked));
    }

    #[test]
    fn lag_counts_from_the_position_to_the_stable_end() {
        assert_eq!(position_lag(90, 100, -1), Some(10));
        assert_eq!(position_lag(90, 100, 95), Some(5));
        assert_eq!(position_lag(100, 100, -1), Some(0));
        assert_eq!(position_lag(-1, 100, -1), None);
        assert_eq!(position_lag(5, -1, -1), None);
    }

    /// Sequences give back their topic and offset, and keep each topic's offsets in order.
    #[test]
    fn sequences_give_back_topic_and_offset() {
        for topics in [1, 2, 3] {
            for index in 0..topics {
                for offset in [0, 1, 41, 1 << 40] {
                    let seq = seq_of(index, offset, topics);
                    assert_eq!(origin_of(seq, topics), (index, offset));
                    assert!(seq < seq_of(index, offset + 1, topics));
                }
            }
        }
    }
}
