//! Kafka plumbing: client configs from `[kafka]`, start-up topic checks and creation, the
//! producer (one place for all delivery, so that a transactional mode can be added here), and
//! reading a partition of the state topic back.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::KafkaConfig;
use crate::metrics::Metrics;

/// Errors at the Kafka boundary that stop the program with a message.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "input topic `{0}` does not exist (create it; the monitor creates only its output topics)"
    )]
    MissingInput(String),
    #[error("input topics are not co-partitioned: {0}")]
    NotCoPartitioned(String),
    #[error(
        "state topic `{topic}` has {found} partitions, the input has {expected}: they must be equal"
    )]
    StatePartitions {
        topic: String,
        found: usize,
        expected: usize,
    },
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// The base client config: brokers plus every `[kafka.properties]` entry as is.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    config
}

/// Sets `key` unless `[kafka.properties]` set it already.
pub fn set_default(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// Properties that only make sense for a consumer: dropped from producer and admin configs,
/// so that librdkafka does not warn about them on every start.
const CONSUMER_ONLY: [&str; 8] = [
    "fetch.wait.max.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
];

fn without_consumer_properties(mut config: ClientConfig) -> ClientConfig {
    for key in CONSUMER_ONLY {
        config.remove(key);
    }
    config
}

/// Counts delivery outcomes; the checkpoint compares them before it commits.
#[derive(Default)]
pub struct DeliveryContext {
    pub failed: AtomicU64,
    pub metrics: Option<Arc<Metrics>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = &self.metrics {
                metrics.delivery_error(message.topic());
            }
            tracing::error!(topic = message.topic(), %error, "Delivery failed for good.");
        }
    }
}

/// The one producer of the monitor: alerts, dead letters and state all go through `send`.
pub struct Sink {
    producer: ThreadedProducer<DeliveryContext>,
}

impl Sink {
    pub fn new(kafka: &KafkaConfig, metrics: Arc<Metrics>) -> Result<Sink, SourceError> {
        let mut config = without_consumer_properties(client_config(kafka));
        // Idempotent, and retried until delivered (a broker outage only delays): a message
        // that is never acknowledged keeps its offset uncommitted instead of being dropped.
        config.set("enable.idempotence", "true");
        set_default(&mut config, "message.timeout.ms", "0");
        set_default(&mut config, "linger.ms", "5");
        set_default(&mut config, "partitioner", "murmur2_random");
        let context = DeliveryContext {
            failed: AtomicU64::new(0),
            metrics: Some(metrics),
        };
        let producer = config.create_with_context(context)?;
        Ok(Sink { producer })
    }

    /// Queues one message; waits for room when librdkafka's queue is full.
    pub fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Err(error) = send_waiting(&self.producer, record) {
            tracing::error!(topic, %error, "Cannot queue a message.");
            self.producer
                .context()
                .failed
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every queued message is acknowledged, or `deadline` passes.
    pub fn flush_until(&self, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self
                .producer
                .flush(left.min(Duration::from_millis(500)))
                .is_ok()
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    pub fn failed(&self) -> u64 {
        self.producer.context().failed.load(Ordering::Relaxed)
    }

    pub fn queued(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

/// Queues a record, waiting while librdkafka's queue is full; other errors are returned.
pub fn send_waiting<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), rdkafka::error::KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// Dead-letter headers: the reason and where the message came from.
pub fn dead_letter_headers(
    reason: &str,
    detail: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "detail",
            value: Some(detail),
        })
        .insert(Header {
            key: "source_topic",
            value: Some(topic),
        })
        .insert(Header {
            key: "source_partition",
            value: Some(&partition.to_string()),
        })
        .insert(Header {
            key: "source_offset",
            value: Some(&offset.to_string()),
        })
}

/// Start-up: waits for the brokers (with backoff, logging, never giving up while `running`),
/// checks the input topics are there and co-partitioned, creates missing output topics.
/// Returns the number of partitions.
pub fn prepare_topics(
    kafka: &KafkaConfig,
    running: &dyn Fn() -> bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<usize>, SourceError> {
    let probe: BaseConsumer = without_consumer_properties(client_config(kafka)).create()?;
    let mut backoff = Duration::from_millis(500);
    let metadata = loop {
        if !running() {
            return Ok(None);
        }
        match probe.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(metadata) if !metadata.brokers().is_empty() => break metadata,
            Ok(_) => {
                tracing::warn!(brokers = %kafka.brokers, "No broker in the metadata yet; retrying.")
            }
            Err(error) => {
                tracing::warn!(brokers = %kafka.brokers, %error, retry_in = ?backoff, "Brokers not reachable; retrying.")
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(10));
    };
    let partitions_of = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none())
            .map(|t| t.partitions().len())
    };
    let mut counts = Vec::new();
    for topic in &kafka.input_topics {
        match partitions_of(topic) {
            Some(n) if n > 0 => counts.push((topic.clone(), n)),
            _ => return Err(SourceError::MissingInput(topic.clone())),
        }
    }
    let expected = counts[0].1;
    if counts.iter().any(|&(_, n)| n != expected) {
        let list = counts
            .iter()
            .map(|(t, n)| format!("{t}: {n} partitions"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SourceError::NotCoPartitioned(list));
    }
    if let Some(found) = partitions_of(&kafka.state_topic)
        && found != expected
    {
        return Err(SourceError::StatePartitions {
            topic: kafka.state_topic.clone(),
            found,
            expected,
        });
    }
    let mut missing = Vec::new();
    if partitions_of(&kafka.state_topic).is_none() {
        missing.push((kafka.state_topic.as_str(), expected, true));
    }
    for topic in [&kafka.alerts_topic, &kafka.dead_letter_topic] {
        if partitions_of(topic).is_none() {
            missing.push((topic.as_str(), expected, false));
        }
    }
    if !missing.is_empty() {
        let admin: AdminClient<DefaultClientContext> =
            without_consumer_properties(client_config(kafka)).create()?;
        let topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|&(name, partitions, compact)| {
                let topic = NewTopic::new(name, partitions as i32, TopicReplication::Fixed(-1));
                if compact {
                    topic.set("cleanup.policy", "compact")
                } else {
                    topic
                }
            })
            .collect();
        let results = runtime.block_on(admin.create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, "Created topic."),
                Err((name, code)) => {
                    tracing::warn!(topic = %name, error = %code, "Could not create topic (it may exist already).")
                }
            }
        }
    }
    Ok(Some(expected))
}

/// Reads whole partitions of the state topic (from the start to their current end) and calls
/// `each(partition, key, payload)` in order within each partition. The end is where the client
/// reports end of partition, not a high watermark asked for up front: some Kafka-protocol
/// brokers (Tansu 0.6) report the base offset of the last batch plus one there, which would cut
/// the read short. All partitions are read at once, so a rebalance waits for one read, not one
/// per partition.
pub fn read_state_partitions(
    kafka: &KafkaConfig,
    partitions: &[i32],
    deadline: Duration,
    mut each: impl FnMut(i32, &[u8], &[u8]),
) -> Result<u64, SourceError> {
    let mut config = client_config(kafka);
    config.set("group.id", format!("{}-restore", kafka.group_id));
    config.set("enable.auto.commit", "false");
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer = config.create()?;
    // An empty partition (low = high watermark) has nothing to read: the first start of a new
    // deployment then waits for no fetch. (Tansu 0.6 reports a high watermark that can be
    // short of the true end, but never equal to the low one while a record is there.)
    let mut open: Vec<i32> = Vec::new();
    for &partition in partitions {
        let (low, high) =
            consumer.fetch_watermarks(&kafka.state_topic, partition, Duration::from_secs(10))?;
        if low != high {
            open.push(partition);
        }
    }
    if open.is_empty() {
        return Ok(0);
    }
    // Knowing the partitions' leaders before the assignment saves librdkafka's offset query
    // a 500 ms retry timer; a failure here only costs that time.
    if let Err(error) = consumer.fetch_metadata(Some(&kafka.state_topic), Duration::from_secs(10)) {
        tracing::debug!(%error, "State topic metadata not fetched before the restore.");
    }
    let mut assignment = TopicPartitionList::new();
    for &partition in &open {
        assignment.add_partition_offset(&kafka.state_topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let mut read = 0;
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                read += 1;
                each(
                    message.partition(),
                    message.key().unwrap_or_default(),
                    message.payload().unwrap_or_default(),
                );
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                open.retain(|&p| p != partition)
            }
            Some(Err(error)) => tracing::warn!(%error, "Error while reading state back; retrying."),
            None => {}
        }
        if started.elapsed() > deadline {
            return Err(SourceError::Kafka(
                rdkafka::error::KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                ),
            ));
        }
    }
    Ok(read)
}
