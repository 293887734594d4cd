//! The one producer of the monitor, with delivery tracked per record: alerts, dead letters,
//! holds and state records all go through [`Sink::send`], each with a ticket naming its
//! *owner* (the input partition whose events caused it, or [`GLOBAL`]) and a sequence number.
//!
//! A checkpoint asks [`Sink::acked_below`]: "has every record of this owner sent before this
//! mark been acknowledged?". A record that fails is kept and sent again (same bytes) by
//! [`Sink::service`], never skipped, so nothing is committed past it. A record still not
//! acknowledged `live.delivery_timeout` after it was first sent, or a fatal producer error,
//! is a [`SinkError`], on which the monitor exits non-zero (its supervisor restarts it from
//! the last commit).

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::live::views::Blocked;
use crate::metrics::Metrics;

/// Owner of records that belong to no input partition (the quota aggregator's).
pub const GLOBAL: i32 = -1;

/// Least and most time between two attempts of a failed record.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often the delivery gauges are set while a send waits for room in librdkafka's queue
/// (the loop, which sets them otherwise, waits with it).
const GAUGES_WHILE_WAITING: Duration = Duration::from_millis(500);

/// Why the monitor must stop: nothing more can be delivered, so nothing more can be committed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "a record for topic `{topic}` was not delivered within live.delivery_timeout ({timeout:?}; last error: {error}); exiting so that the monitor restarts from its last commit"
    )]
    Timeout {
        topic: String,
        timeout: Duration,
        error: String,
    },
    #[error(
        "fatal producer error {code:?}: {reason}; exiting so that the monitor restarts from its last commit"
    )]
    Fatal {
        code: RDKafkaErrorCode,
        reason: String,
    },
    /// Not the error's `source` (its text is in this one's): an error chain prints it once.
    #[error("cannot create the producer: {0}")]
    Create(KafkaError),
}

impl From<KafkaError> for SinkError {
    fn from(error: KafkaError) -> SinkError {
        SinkError::Create(error)
    }
}

/// What travels with each record through librdkafka and back to the delivery callback.
pub struct Ticket {
    owner: i32,
    seq: u64,
    first_sent: Instant,
    /// The partition the record was sent to when it was chosen (state records), to send it
    /// there again; `None` when the partitioner placed it by its key.
    partition: Option<i32>,
}

/// A record that failed, waiting to be sent again.
struct Failed {
    topic: String,
    partition: Option<i32>,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
    ticket: Box<Ticket>,
    error: String,
    attempts: u32,
    retry_at: Instant,
}

#[derive(Default)]
struct Book {
    /// Sequence of the next record, across owners.
    next: u64,
    /// Per owner, the sequences sent and not acknowledged yet (failed ones included).
    outstanding: FxHashMap<i32, BTreeSet<u64>>,
    failed: VecDeque<Failed>,
    /// (the first sequence sent at or after, instant), one every [`SENT_MARK_EVERY`] at most:
    /// when the oldest record not acknowledged was sent, to that precision, without an entry
    /// per record.
    sent: VecDeque<(u64, Instant)>,
}

/// The precision of [`Book::oldest_unacknowledged`].
const SENT_MARK_EVERY: Duration = Duration::from_millis(100);

impl Book {
    /// Takes sequence `seq`, sent now.
    fn note_sent(&mut self, seq: u64, now: Instant) {
        if self
            .sent
            .back()
            .is_none_or(|&(_, at)| now.duration_since(at) >= SENT_MARK_EVERY)
        {
            self.sent.push_back((seq, now));
        }
        // Marks of records all acknowledged go (a mark a tenth of a second otherwise).
        if self.sent.len() > 64 {
            self.oldest_unacknowledged(now);
        }
    }

    /// How long ago the oldest record not acknowledged (in flight, or failed and waiting to be
    /// sent again) was first sent, to within [`SENT_MARK_EVERY`] (never less than its age);
    /// zero when every record is acknowledged. Records of owners given up do not count.
    fn oldest_unacknowledged(&mut self, now: Instant) -> Duration {
        let oldest = self
            .outstanding
            .values()
            .filter_map(|set| set.first().copied())
            .min();
        let Some(oldest) = oldest else {
            self.sent.clear();
            return Duration::ZERO;
        };
        // The last mark at or before the oldest record's sequence: it was sent then or later.
        while self.sent.get(1).is_some_and(|&(seq, _)| seq <= oldest) {
            self.sent.pop_front();
        }
        match self.sent.front() {
            Some(&(seq, at)) if seq <= oldest => now.saturating_duration_since(at),
            _ => Duration::ZERO,
        }
    }
}

/// The producer's context: settles tickets as librdkafka reports deliveries.
pub struct Tracking {
    book: Mutex<Book>,
    metrics: Arc<Metrics>,
    /// When a failure was last logged, and the failures not logged since: one line a second
    /// at most, however many records fail.
    last_warning: Mutex<(Option<Instant>, u64)>,
    errors: super::kafka::ErrorLog,
}

impl Tracking {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed(&self, topic: &str, error: &dyn std::fmt::Display) {
        self.metrics.delivery_error(topic);
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last
            .0
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            last.1 += 1;
            return;
        }
        let also = std::mem::take(&mut last.1);
        *last = (Some(Instant::now()), 0);
        tracing::warn!(topic, %error, more_since_last_warning = also, "Delivery failed; the record will be sent again.");
    }
}

impl ClientContext for Tracking {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::kafka::forward_log(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

impl ProducerContext for Tracking {
    type DeliveryOpaque = Box<Ticket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Box<Ticket>) {
        let mut book = self.book();
        let Some(outstanding) = book.outstanding.get_mut(&ticket.owner) else {
            // The owner was given up (partition revoked or fenced): its records no longer
            // matter to this instance, and it is not sent again. A failure is still counted:
            // it says the broker is in trouble.
            if let Err((_, message)) = result {
                self.metrics.delivery_error(message.topic());
            }
            return;
        };
        match result {
            Ok(_) => {
                outstanding.remove(&ticket.seq);
            }
            Err((error, message)) => {
                if !outstanding.contains(&ticket.seq) {
                    return;
                }
                self.failed(message.topic(), error);
                let failed = Failed {
                    topic: message.topic().to_owned(),
                    partition: ticket.partition,
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                    headers: message
                        .headers()
                        .map(rdkafka::message::BorrowedHeaders::detach),
                    ticket,
                    error: error.to_string(),
                    attempts: 1,
                    retry_at: Instant::now() + FIRST_RETRY,
                };
                book.failed.push_back(failed);
            }
        }
    }
}

/// One record to send.
pub struct Out<'a> {
    pub owner: i32,
    pub topic: &'a str,
    /// Set for state records (the state partition is the input partition); `None` lets the
    /// partitioner place the record by its key.
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    /// `None`: a tombstone.
    pub payload: Option<&'a [u8]>,
    pub headers: Option<OwnedHeaders>,
}

pub struct Sink {
    producer: ThreadedProducer<Tracking>,
    delivery_timeout: Duration,
    /// The sends waiting for room in librdkafka's queue now ([`Sink::report_blocked`]).
    blocked: Arc<Blocked>,
}

impl Sink {
    /// `config`: the producer's client config. Idempotent, with librdkafka's own retries up
    /// to `delivery_timeout` (unless `message.timeout.ms` is set).
    pub fn new(
        mut config: ClientConfig,
        delivery_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Sink, SinkError> {
        config.set("enable.idempotence", "true");
        if config.get("message.timeout.ms").is_none() {
            config.set(
                "message.timeout.ms",
                delivery_timeout.as_millis().max(1).to_string(),
            );
        }
        if config.get("linger.ms").is_none() {
            config.set("linger.ms", "5");
        }
        if config.get("partitioner").is_none() {
            config.set("partitioner", "murmur2_random");
        }
        // JSON state records shrink about tenfold: less to store, and faster restores.
        if config.get("compression.type").is_none() {
            config.set("compression.type", "lz4");
        }
        let context = Tracking {
            book: Mutex::new(Book::default()),
            metrics,
            last_warning: Mutex::new((None, 0)),
            errors: Default::default(),
        };
        let producer = config.create_with_context(context)?;
        Ok(Sink {
            producer,
            delivery_timeout,
            blocked: Arc::new(Blocked::default()),
        })
    }

    /// Counts in `flag` the sends waiting for room in librdkafka's queue, so that what asks
    /// the loop for answers (HTTP look-ups) can tell it will not answer soon.
    pub fn report_blocked(&mut self, flag: Arc<Blocked>) {
        self.blocked = flag;
    }

    /// The mark a checkpoint takes now: records sent from here on have this sequence or more.
    pub fn mark(&self) -> u64 {
        self.producer.context().book().next
    }

    /// Whether every record of `owner` sent before `mark` has been acknowledged.
    pub fn acked_below(&self, owner: i32, mark: u64) -> bool {
        let book = self.producer.context().book();
        book.outstanding
            .get(&owner)
            .and_then(|set| set.first())
            .is_none_or(|&first| first >= mark)
    }

    /// Whether every record of `owner` not acknowledged yet was sent before `mark`.
    pub fn unacked_before(&self, owner: i32, mark: u64) -> bool {
        let book = self.producer.context().book();
        book.outstanding
            .get(&owner)
            .and_then(|set| set.last())
            .is_none_or(|&last| last < mark)
    }

    /// Whether `owner` has any record not acknowledged yet.
    pub fn idle(&self, owner: i32) -> bool {
        self.acked_below(owner, u64::MAX)
    }

    /// Starts tracking `owner` afresh (a partition assigned): earlier reports are ignored.
    pub fn adopt(&self, owner: i32) {
        self.producer
            .context()
            .book()
            .outstanding
            .insert(owner, BTreeSet::new());
    }

    /// Stops tracking `owner` (a partition revoked or fenced): its records still in flight or
    /// failed no longer hold anything back, and failed ones are not sent again.
    pub fn forget(&self, owner: i32) {
        let mut book = self.producer.context().book();
        book.outstanding.remove(&owner);
        book.failed.retain(|failed| failed.ticket.owner != owner);
    }

    /// Queues one record. Waits while librdkafka's queue is full; fails only when the
    /// monitor must stop ([`Sink::service`]'s errors).
    pub fn send(&self, out: Out<'_>) -> Result<(), SinkError> {
        let ticket = {
            let mut book = self.producer.context().book();
            let seq = book.next;
            book.next += 1;
            book.outstanding.entry(out.owner).or_default().insert(seq);
            let now = Instant::now();
            book.note_sent(seq, now);
            Box::new(Ticket {
                owner: out.owner,
                seq,
                first_sent: now,
                partition: out.partition,
            })
        };
        self.produce(
            out.topic,
            out.partition,
            out.key,
            out.payload,
            out.headers,
            ticket,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        ticket: Box<Ticket>,
    ) -> Result<(), SinkError> {
        let mut record = BaseRecord::<[u8], [u8], Box<Ticket>>::with_opaque_to(topic, ticket);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        let mut waited: Option<Instant> = None;
        let result = loop {
            match self.producer.send(record) {
                Ok(()) => break Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The brokers are slower than the input, or away: wait for room, but not
                    // past the point where the monitor must stop anyway. The loop that sets
                    // the delivery gauges waits here, so they are set here meanwhile: the age
                    // of the oldest record is what pages on a hung broker.
                    match waited {
                        None => {
                            waited = Some(Instant::now());
                            self.blocked.enter();
                        }
                        Some(at) if at.elapsed() >= GAUGES_WHILE_WAITING => {
                            waited = Some(Instant::now());
                            self.publish_gauges();
                        }
                        Some(_) => {}
                    }
                    if let Err(error) = self.check_fatal().and_then(|()| self.check_timeouts()) {
                        break Err(error);
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, back)) => {
                    // Refused before it was queued (too large for `message.max.bytes`, an
                    // unknown partition): handled like a failed delivery, sent again later.
                    self.producer.context().failed(topic, &error);
                    let failed = Failed {
                        topic: topic.to_owned(),
                        partition,
                        key: back.key.map(<[u8]>::to_vec),
                        payload: back.payload.map(<[u8]>::to_vec),
                        headers: back.headers,
                        ticket: back.delivery_opaque,
                        error: error.to_string(),
                        attempts: 1,
                        retry_at: Instant::now() + FIRST_RETRY,
                    };
                    self.producer.context().book().failed.push_back(failed);
                    break Ok(());
                }
            }
        };
        if waited.is_some() {
            self.blocked.leave();
        }
        result
    }

    /// Sets the delivery gauges: messages in librdkafka's queues, records waiting to be sent
    /// again, and the age of the oldest record not acknowledged.
    pub fn publish_gauges(&self) {
        let metrics = &self.producer.context().metrics;
        metrics.set_producer_queue(i64::from(self.queued()));
        let (undelivered, oldest) = self.undelivered();
        metrics.set_undelivered(undelivered, oldest.as_secs_f64());
    }

    fn check_fatal(&self) -> Result<(), SinkError> {
        match self.producer.client().fatal_error() {
            Some((code, reason)) => Err(SinkError::Fatal { code, reason }),
            None => Ok(()),
        }
    }

    fn check_timeouts(&self) -> Result<(), SinkError> {
        let book = self.producer.context().book();
        match book
            .failed
            .iter()
            .find(|failed| failed.ticket.first_sent.elapsed() >= self.delivery_timeout)
        {
            Some(failed) => Err(SinkError::Timeout {
                topic: failed.topic.clone(),
                timeout: self.delivery_timeout,
                error: failed.error.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Sends failed records again when their backoff is over; errors when the monitor must
    /// stop: a fatal producer error, or a record undelivered for `delivery_timeout`.
    pub fn service(&self) -> Result<(), SinkError> {
        self.check_fatal()?;
        self.check_timeouts()?;
        let now = Instant::now();
        let due: Vec<Failed> = {
            let mut book = self.producer.context().book();
            let (due, later): (VecDeque<Failed>, VecDeque<Failed>) =
                std::mem::take(&mut book.failed)
                    .into_iter()
                    .partition(|failed| failed.retry_at <= now);
            book.failed = later;
            due.into()
        };
        for failed in due {
            let attempts = failed.attempts + 1;
            let backoff = (FIRST_RETRY * 2u32.saturating_pow(attempts.min(16))).min(MAX_RETRY);
            let before = self.producer.context().book().failed.len();
            self.produce(
                &failed.topic,
                failed.partition,
                failed.key.as_deref(),
                failed.payload.as_deref(),
                failed.headers,
                failed.ticket,
            )?;
            // Refused again at once: back off further.
            let mut book = self.producer.context().book();
            if book.failed.len() > before
                && let Some(again) = book.failed.back_mut()
            {
                again.attempts = attempts;
                again.retry_at = now + backoff;
            }
        }
        Ok(())
    }

    /// Records waiting to be sent again after a failure, and how long ago the oldest record
    /// not acknowledged yet was first sent: in flight or failed. librdkafka retries most
    /// failures itself (broker away, leader elections) and reports them only at
    /// `message.timeout.ms`, so the age of failed records alone stayed 0 through an outage.
    fn undelivered(&self) -> (usize, Duration) {
        let mut book = self.producer.context().book();
        let oldest = book.oldest_unacknowledged(Instant::now());
        (book.failed.len(), oldest)
    }

    /// Messages in librdkafka's queues (not yet acknowledged).
    fn queued(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Lets librdkafka send what it holds, for at most `timeout`.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(book: &mut Book, owner: i32, at: Instant) -> u64 {
        let seq = book.next;
        book.next += 1;
        book.outstanding.entry(owner).or_default().insert(seq);
        book.note_sent(seq, at);
        seq
    }

    /// The age of the oldest record not acknowledged counts records in flight, not only
    /// failed ones (a broker that is away fails nothing until `message.timeout.ms`).
    #[test]
    fn the_oldest_record_in_flight_has_an_age() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut book = Book::default();
        assert_eq!(book.oldest_unacknowledged(t0), Duration::ZERO);
        let first = sent(&mut book, 0, t0);
        assert_eq!(book.oldest_unacknowledged(t0 + s(30)), s(30));
        book.outstanding.get_mut(&0).unwrap().remove(&first);
        assert_eq!(book.oldest_unacknowledged(t0 + s(30)), Duration::ZERO);
        // Two records within one mark's span: the second is aged from the mark before it,
        // never younger than it is.
        let a = sent(&mut book, 1, t0 + s(40));
        let b = sent(&mut book, 2, t0 + s(40) + Duration::from_millis(50));
        book.outstanding.get_mut(&1).unwrap().remove(&a);
        assert_eq!(book.oldest_unacknowledged(t0 + s(100)), s(60));
        // Many records, the old one acknowledged: the marks before the oldest go.
        for i in 0..200 {
            sent(&mut book, 2, t0 + s(100 + i));
        }
        book.outstanding.get_mut(&2).unwrap().remove(&b);
        assert_eq!(book.oldest_unacknowledged(t0 + s(400)), s(300));
        assert!(book.sent.len() <= 200);
        // An owner given up no longer counts.
        book.outstanding.remove(&2);
        assert_eq!(book.oldest_unacknowledged(t0 + s(400)), Duration::ZERO);
        assert!(book.sent.is_empty());
    }
}
