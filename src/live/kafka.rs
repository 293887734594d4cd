//! Kafka plumbing: client configs from `[kafka]`, start-up topic checks and creation (with
//! the state topic's compaction settings), and reading partitions of the state topic back.
//! The producer is in [`super::sink`].

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::KafkaConfig;

/// The state topic's settings, created with it and checked at start. Compaction keeps about
/// one record per live worker (tombstones remove forgotten ones); `cleanup.policy=delete`
/// would lose state after the retention time, so it stops the start.
pub const STATE_TOPIC_CONFIG: [(&str, &str, &str); 4] = [
    (
        "cleanup.policy",
        "compact",
        "keep the latest record of each key, for ever",
    ),
    (
        "segment.ms",
        "3600000",
        "roll segments hourly: only closed segments are compacted (default 7 days)",
    ),
    (
        "min.cleanable.dirty.ratio",
        "0.1",
        "compact once a tenth of the log is superseded (default half)",
    ),
    (
        "delete.retention.ms",
        "86400000",
        "keep tombstones a day: longer than any restore reads",
    ),
];

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
    #[error(
        "state topic `{topic}` has cleanup.policy={policy}: its records would be deleted after the topic's retention and workers' state lost; set cleanup.policy=compact on it (kafka-configs.sh --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact)"
    )]
    StateNotCompacted { topic: String, policy: String },
    #[error(
        "the state restore made no progress for {stalled:?} (partitions {partitions:?}; last error: {error})"
    )]
    RestoreStalled {
        partitions: Vec<i32>,
        stalled: Duration,
        error: String,
    },
    /// Not the error's `source` (its text is in this one's): an error chain prints it once.
    #[error("Kafka: {0}")]
    Kafka(rdkafka::error::KafkaError),
}

impl From<rdkafka::error::KafkaError> for SourceError {
    fn from(error: rdkafka::error::KafkaError) -> SourceError {
        SourceError::Kafka(error)
    }
}

/// The base client config: brokers plus every `[kafka.properties]` entry as is, and the
/// level of librdkafka's log ([`log_level`]).
///
/// `reconnect.backoff.ms` is 10 unless set there. A new client connects to the bootstrap
/// address, then, once the first metadata names the brokers, to each broker by its id, and
/// librdkafka spaces those first connections by half the backoff: with its default of 100 ms
/// each client's start (the topic check, the consumer's group coordinator, the restore's
/// client) waited about 50 ms for it. Against a broker that is down, the retries still back
/// off exponentially to `reconnect.backoff.max.ms` (10 s).
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    set_default(&mut config, "reconnect.backoff.ms", "10");
    config.set_log_level(log_level(&kafka.properties));
    config
}

/// The level up to which librdkafka logs ([`forward_log`]): the `log_level` property (syslog
/// levels 0 to 7) when set, else its debug lines too when the `debug` property asks for
/// them, else warnings and errors. rdkafka would take it from the `log` crate, which has no
/// logger here, and override the property: only errors reached the log, and a failed
/// commit's warning did not.
fn log_level(properties: &BTreeMap<String, String>) -> RDKafkaLogLevel {
    match properties.get("log_level").map(|level| level.trim()) {
        Some("0") => RDKafkaLogLevel::Emerg,
        Some("1") => RDKafkaLogLevel::Alert,
        Some("2") => RDKafkaLogLevel::Critical,
        Some("3") => RDKafkaLogLevel::Error,
        Some("4") => RDKafkaLogLevel::Warning,
        Some("5") => RDKafkaLogLevel::Notice,
        Some("6") => RDKafkaLogLevel::Info,
        Some("7") => RDKafkaLogLevel::Debug,
        _ if properties.contains_key("debug") => RDKafkaLogLevel::Debug,
        _ => RDKafkaLogLevel::Warning,
    }
}

/// A librdkafka log line, as a tracing event: errors as errors, warnings as warnings, the
/// rest as debug lines.
pub fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
        _ => tracing::debug!(facility, "librdkafka: {message}"),
    }
}

/// How long a global librdkafka error, once logged, is only counted when it comes again.
const ERROR_REPEAT: Duration = Duration::from_secs(30);

/// librdkafka's global errors (its `error_cb`: brokers down, authentication or TLS handshake
/// failed), as tracing errors (authentication, TLS and fatal errors) or warnings (the rest).
/// rdkafka's default gives them to the `log` crate, which has no logger here: a monitor that
/// could not log in to its brokers said only "Brokers not reachable". An error of the same
/// kind (code) again within [`ERROR_REPEAT`] of its last line is counted and logged with the
/// next one of that kind (a failing TLS handshake is retried every few tens of milliseconds).
#[derive(Default)]
pub struct ErrorLog {
    /// Each kind of error logged (its code), when it last was, and how often it came since.
    /// librdkafka's codes are a few hundred at most: bounded.
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

/// What makes two errors the same for [`ErrorLog`]: their code (the text after it varies:
/// "1/1 brokers are down", "0/1 brokers are down"), or the whole error without one.
fn repeat_key(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => error.to_string(),
    }
}

/// How a librdkafka global error is logged: an error when only a change of configuration or
/// credentials mends it; debug for the end of a partition, which the state and quota readers
/// ask for (`enable.partition.eof`) and which is no fault (it was a warning on every restore);
/// else (brokers down, timeouts, which librdkafka retries) a warning.
fn severity(error: &KafkaError) -> tracing::Level {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::SSL
            | RDKafkaErrorCode::Fatal,
        ) => tracing::Level::ERROR,
        Some(RDKafkaErrorCode::PartitionEOF) => tracing::Level::DEBUG,
        _ => tracing::Level::WARN,
    }
}

impl ErrorLog {
    pub fn report(&self, error: &KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        let level = severity(error);
        if level == tracing::Level::DEBUG {
            tracing::debug!("librdkafka: {text}");
            return;
        }
        let Some(repeated) = self.admit(&repeat_key(error), Instant::now()) else {
            return;
        };
        if level == tracing::Level::ERROR {
            tracing::error!(repeated_since_last_logged = repeated, "librdkafka: {text}");
        } else {
            tracing::warn!(repeated_since_last_logged = repeated, "librdkafka: {text}");
        }
    }

    /// Whether an error of kind `key`, coming at `now`, is logged, and then how often that
    /// kind came since it last was (`None`: only counted).
    fn admit(&self, key: &str, now: Instant) -> Option<u64> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let repeated = match last.get_mut(key) {
            Some((at, count)) => {
                if now.duration_since(*at) < ERROR_REPEAT {
                    *count += 1;
                    return None;
                }
                *count
            }
            None => 0,
        };
        last.insert(key.to_owned(), (now, 0));
        Some(repeated)
    }
}

/// The context of the clients that are neither the consumer of the input nor the producer:
/// the start-up probe, the admin client, the restore and quota readers. Their librdkafka logs
/// and errors go to tracing as the consumer's do (an authentication failure at start-up is
/// seen by the probe only).
#[derive(Default)]
pub struct Logging {
    errors: ErrorLog,
}

impl ClientContext for Logging {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.report(&error, reason);
    }
}

impl ConsumerContext for Logging {}

/// Sets `key` unless `[kafka.properties]` set it already.
pub fn set_default(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// Properties that only make sense for a consumer: dropped from producer and admin configs,
/// so that librdkafka does not warn about them on every start.
const CONSUMER_ONLY: [&str; 9] = [
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
];

pub fn without_consumer_properties(mut config: ClientConfig) -> ClientConfig {
    for key in CONSUMER_ONLY {
        config.remove(key);
    }
    config
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

/// The most of a message's payload a dead letter carries. librdkafka's producer refuses a
/// record over its `message.max.bytes` (1,000,000 bytes by default), while a broker with its
/// defaults delivers messages up to 1,048,588 bytes: a dead letter of such a message, copied
/// whole, would be retried until `live.delivery_timeout` stopped the monitor, and read again
/// after every restart. A longer payload is cut, and the letter says so (header `truncated`).
pub const DEAD_LETTER_MAX_PAYLOAD: usize = 512 * 1024;
/// The most of a message's key a dead letter carries (keys are ids, at most 128 characters
/// when they match).
pub const DEAD_LETTER_MAX_KEY: usize = 16 * 1024;

/// A dead letter's key and payload: the message's own, each cut to its bound, and when either
/// was cut the value of the `truncated` header (the original lengths).
pub fn dead_letter_body<'a>(
    key: Option<&'a [u8]>,
    payload: &'a [u8],
) -> (Option<&'a [u8]>, &'a [u8], Option<String>) {
    let key_len = key.map_or(0, <[u8]>::len);
    if key_len <= DEAD_LETTER_MAX_KEY && payload.len() <= DEAD_LETTER_MAX_PAYLOAD {
        return (key, payload, None);
    }
    let note = format!(
        "key {key_len} bytes, payload {} bytes; the first {} and {} kept",
        payload.len(),
        key_len.min(DEAD_LETTER_MAX_KEY),
        payload.len().min(DEAD_LETTER_MAX_PAYLOAD)
    );
    (
        key.map(|key| &key[..key.len().min(DEAD_LETTER_MAX_KEY)]),
        &payload[..payload.len().min(DEAD_LETTER_MAX_PAYLOAD)],
        Some(note),
    )
}

/// Dead-letter headers: the reason and where the message came from, and what was cut from it
/// ([`dead_letter_body`]).
pub fn dead_letter_headers(
    reason: &str,
    detail: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    truncated: Option<&str>,
) -> OwnedHeaders {
    let headers = OwnedHeaders::new()
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
        });
    match truncated {
        Some(note) => headers.insert(Header {
            key: "truncated",
            value: Some(note),
        }),
        None => headers,
    }
}

/// Waits `backoff`, looking every 100 ms whether the monitor is still `running`; false as soon
/// as it is not. A signal during the start-up's wait for the brokers then stops the monitor at
/// once: a backoff slept whole (up to 10 s, after a metadata request of up to 5 s) outlasted
/// the stop's deadline, and a clean stop exited 2 (audit AY F4).
fn pause(backoff: Duration, running: &dyn Fn() -> bool) -> bool {
    let until = Instant::now() + backoff;
    loop {
        if !running() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// Start-up: waits for the brokers (with backoff, logging, never giving up while `running`),
/// checks the input topics are there and co-partitioned, creates missing output topics.
/// Returns the number of partitions.
pub fn prepare_topics(
    kafka: &KafkaConfig,
    running: &dyn Fn() -> bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<usize>, SourceError> {
    // The probe carries every property, so that librdkafka refuses a bad value when it is
    // made, before the brokers are waited for (without the consumer's properties, a bad one
    // was found only once the brokers answered).
    let probe: BaseConsumer<Logging> =
        client_config(kafka).create_with_context(Logging::default())?;
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
        // The reason (a failed authentication or TLS handshake, a refused connection) comes as
        // an error event on the probe's queue: serving it logs it (`Logging`).
        while let Some(Err(_)) = probe.poll(Duration::ZERO) {}
        if !pause(backoff, running) {
            return Ok(None);
        }
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
    for topic in [
        &kafka.alerts_topic,
        &kafka.dead_letter_topic,
        &kafka.holds_topic,
    ] {
        if partitions_of(topic).is_none() {
            missing.push((topic.as_str(), expected, false));
        }
    }
    if !missing.is_empty() {
        let admin: AdminClient<Logging> = without_consumer_properties(client_config(kafka))
            .create_with_context(Logging::default())?;
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|&(name, partitions, state)| {
                let mut topic = NewTopic::new(name, partitions as i32, TopicReplication::Fixed(-1));
                if state {
                    for (key, value, _) in STATE_TOPIC_CONFIG {
                        topic = topic.set(key, value);
                    }
                }
                topic
            })
            .collect();
        // A topic that cannot be created is no reason not to start: records for it fail
        // and, if that lasts, stop the monitor with the topic's name (live.delivery_timeout).
        match runtime.block_on(admin.create_topics(&topics, &options)) {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(name) => tracing::info!(topic = %name, "Created topic."),
                        Err((name, code)) => {
                            tracing::warn!(topic = %name, error = %code, "Could not create topic (it may exist already).")
                        }
                    }
                }
            }
            Err(error) => {
                let names: Vec<&str> = missing.iter().map(|&(name, _, _)| name).collect();
                tracing::warn!(topics = ?names, %error, "Could not create the missing output topics.");
            }
        }
    }
    Ok(Some(expected))
}

/// Start-up: the state topic's settings against [`STATE_TOPIC_CONFIG`]. A policy without
/// compaction is an error (the caller stops); other differences, or a broker that cannot
/// describe topic configs (librdkafka's mock cluster never answers), are warnings: the monitor
/// works, the topic just grows or compacts late. Runs beside the start, not before it.
pub fn check_state_topic(
    kafka: &KafkaConfig,
    runtime: &tokio::runtime::Handle,
) -> Result<(), SourceError> {
    let admin: AdminClient<Logging> =
        without_consumer_properties(client_config(kafka)).create_with_context(Logging::default())?;
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)));
    let topic = kafka.state_topic.as_str();
    let described =
        runtime.block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &options));
    let resource = match described.map(|mut list| list.pop()) {
        Ok(Some(Ok(resource))) => resource,
        Ok(Some(Err(code))) => {
            tracing::warn!(topic, error = %code, "Cannot read the state topic's settings; not checked.");
            return Ok(());
        }
        Ok(None) => return Ok(()),
        Err(error) => {
            tracing::warn!(topic, %error, "Cannot read the state topic's settings; not checked.");
            return Ok(());
        }
    };
    let entries = resource.entry_map();
    let value_of = |key: &str| entries.get(key).and_then(|entry| entry.value.clone());
    if let Some(policy) = value_of("cleanup.policy")
        && !policy.split(',').any(|p| p.trim() == "compact")
    {
        return Err(SourceError::StateNotCompacted {
            topic: topic.to_owned(),
            policy,
        });
    }
    for (key, want, why) in STATE_TOPIC_CONFIG {
        match value_of(key) {
            Some(found) if found == want || (key == "cleanup.policy") => {}
            found => tracing::warn!(
                topic,
                key,
                found = found.as_deref().unwrap_or("(not set)"),
                recommended = want,
                why,
                "State topic setting differs from the recommended one."
            ),
        }
    }
    Ok(())
}

/// Reads partitions of the state topic from their start to their current end, calling
/// `each(partition, offset, key, value)` in offset order within each partition (`value` is
/// `None` for a tombstone). Records below `skip_below[partition]` (read by an earlier attempt)
/// are fetched but not handed on. The end is where the client reports end of partition, not a
/// high watermark asked for up front: some Kafka-protocol brokers (Tansu 0.6) report the base
/// offset of the last batch plus one there, which would cut the read short. All partitions are
/// read at once, so a rebalance waits for one read, not one per partition.
///
/// There is no deadline on the whole read, which grows with the topic: it fails only when no
/// record and no end of partition arrived for `stall` (or `running` turns false).
///
/// An empty partition (low = high watermark) has nothing to read. The watermarks are asked
/// through `connected`, a client of the same cluster that is already up (the service's
/// consumer), and the restore's own client is made only when a partition has records: a new
/// client costs its connections and, once dropped, librdkafka's winding down of its threads
/// (103 ms for six empty partitions against Tansu, 2 ms through the consumer), which the first
/// start of a deployment and every rebalance onto empty state would otherwise pay.
/// (Tansu 0.6 reports a high watermark that can be short of the true end, but never equal to
/// the low one while a record is there.)
pub fn read_state_partitions<C: ConsumerContext>(
    kafka: &KafkaConfig,
    connected: &BaseConsumer<C>,
    partitions: &[i32],
    skip_below: &BTreeMap<i32, i64>,
    stall: Duration,
    running: &dyn Fn() -> bool,
    mut each: impl FnMut(i32, i64, &[u8], Option<&[u8]>),
) -> Result<(), SourceError> {
    let mut open = with_records(connected, &kafka.state_topic, partitions)?;
    if open.is_empty() {
        return Ok(());
    }
    let mut config = client_config(kafka);
    config.set("group.id", format!("{}-restore", kafka.group_id));
    config.set("enable.auto.commit", "false");
    config.set("enable.partition.eof", "true");
    // A restore reads whole partitions: large fetches, fewer round trips.
    set_default(&mut config, "max.partition.fetch.bytes", "16777216");
    set_default(&mut config, "fetch.max.bytes", "104857600");
    set_default(&mut config, "queued.max.messages.kbytes", "262144");
    // The read ends at each partition's end, where a fetch would only wait for records that
    // nobody writes meanwhile: with the input's `fetch.wait.max.ms` (librdkafka's default
    // 500 ms) a dozen records took 1.1 s to read back against Tansu, and every rebalance waited.
    config.set("fetch.wait.max.ms", "10");
    let consumer = CloseAside(Some(
        config.create_with_context::<_, BaseConsumer<Logging>>(Logging::default())?,
    ));
    // Knowing the partitions' leaders before the assignment saves librdkafka's offset query
    // a 500 ms retry timer; a failure here only costs that time.
    if let Err(error) = consumer.fetch_metadata(Some(&kafka.state_topic), Duration::from_secs(10)) {
        tracing::debug!(%error, "State topic metadata not fetched before the restore.");
    }
    // From the start even when resuming: a broker may not serve a fetch that starts inside a
    // record batch (Tansu 0.6), and fetching is cheap next to decoding, which is skipped.
    let mut assignment = TopicPartitionList::new();
    for &partition in &open {
        assignment.add_partition_offset(&kafka.state_topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut progress = Instant::now();
    let mut last_error = String::from("none");
    while !open.is_empty() {
        if !running() {
            return Err(SourceError::RestoreStalled {
                partitions: open,
                stalled: progress.elapsed(),
                error: "the service is stopping".into(),
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                progress = Instant::now();
                let partition = message.partition();
                if skip_below
                    .get(&partition)
                    .is_some_and(|&below| message.offset() < below)
                {
                    continue;
                }
                each(
                    partition,
                    message.offset(),
                    message.key().unwrap_or_default(),
                    message.payload(),
                );
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                progress = Instant::now();
                open.retain(|&p| p != partition)
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "Error while reading state back; retrying.");
                last_error = error.to_string();
            }
            None => {}
        }
        if progress.elapsed() > stall {
            return Err(SourceError::RestoreStalled {
                partitions: open,
                stalled: stall,
                error: last_error,
            });
        }
    }
    Ok(())
}

/// The partitions of `topic` that hold records (low watermark below the high one), asked
/// through `client`.
fn with_records<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<i32>, SourceError> {
    let mut open = Vec::new();
    for &partition in partitions {
        let (low, high) = client.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        if low != high {
            open.push(partition);
        }
    }
    Ok(open)
}

/// A client closed on a thread of its own when dropped: librdkafka takes about 100 ms to wind
/// a client's threads down, which a restore (and the rebalance waiting for it) need not wait.
struct CloseAside<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> std::ops::Deref for CloseAside<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("a client until dropped")
    }
}

impl<T: Send + 'static> Drop for CloseAside<T> {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            // Without a thread, the closure (and the client with it) is dropped here.
            let _ = std::thread::Builder::new()
                .name("client-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// Per partition, every record's key and whether it has a value, in offset order.
pub type KeysRead = BTreeMap<i32, Vec<(Vec<u8>, bool)>>;

/// Reads every partition of the state topic whole, returning each record's key and whether
/// it has a value (for `--reset-state`).
pub fn state_keys(
    kafka: &KafkaConfig,
    partitions: usize,
    running: &dyn Fn() -> bool,
) -> Result<KeysRead, SourceError> {
    let all: Vec<i32> = (0..partitions as i32).collect();
    let mut keys = KeysRead::new();
    // A one-off command: a client of its own asks the watermarks.
    let probe: BaseConsumer<Logging> =
        client_config(kafka).create_with_context(Logging::default())?;
    read_state_partitions(
        kafka,
        &probe,
        &all,
        &BTreeMap::new(),
        Duration::from_secs(60),
        running,
        |partition, _, key, value| {
            keys.entry(partition)
                .or_default()
                .push((key.to_vec(), value.is_some()))
        },
    )?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wait between two tries at the brokers ends when the monitor stops, not when the
    /// backoff is over: a minute's backoff, stopped at the third look, ends within the
    /// looks' 100 ms steps.
    #[test]
    fn a_stop_ends_the_wait_for_the_brokers() {
        let looks = std::cell::Cell::new(0);
        let running = || {
            looks.set(looks.get() + 1);
            looks.get() < 3
        };
        let started = Instant::now();
        assert!(!pause(Duration::from_secs(60), &running));
        assert_eq!(looks.get(), 3);
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(30), "waited {waited:?}");
        // Running on, the wait lasts the backoff.
        let started = Instant::now();
        assert!(pause(Duration::from_millis(250), &|| true));
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    /// An error repeated within `ERROR_REPEAT` is counted, not logged; the next line after it
    /// says how often it came; another error is logged at once.
    #[test]
    fn a_repeated_librdkafka_error_is_logged_once_per_period() {
        let log = ErrorLog::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(log.admit("auth failed", at(0)), Some(0));
        assert_eq!(log.admit("auth failed", at(1)), None);
        assert_eq!(log.admit("auth failed", at(29)), None);
        assert_eq!(log.admit("auth failed", at(30)), Some(2), "twice since");
        assert_eq!(log.admit("auth failed", at(31)), None);
        assert_eq!(
            log.admit("connection refused", at(32)),
            Some(0),
            "another: at once"
        );
        assert_eq!(
            log.admit("auth failed", at(33)),
            None,
            "its own period goes on"
        );
        assert_eq!(log.admit("auth failed", at(61)), Some(2));
    }

    /// Two errors that alternate (librdkafka's "1/1 brokers are down" and "0/1 brokers are
    /// down", or a transport failure and all brokers down) each keep their own period: they
    /// were logged at every turn, 62 lines in 12 s with no broker (audit AD: 277 in 45 s).
    #[test]
    fn alternating_librdkafka_errors_are_each_logged_once_per_period() {
        let log = ErrorLog::default();
        let start = Instant::now();
        let mut logged = 0;
        for i in 0..200u64 {
            let kind = if i % 2 == 0 {
                "AllBrokersDown"
            } else {
                "BrokerTransportFailure"
            };
            logged += usize::from(
                log.admit(kind, start + Duration::from_millis(50 * i))
                    .is_some(),
            );
        }
        assert_eq!(logged, 2);
        let key = |code| repeat_key(&KafkaError::Global(code));
        assert_eq!(
            key(RDKafkaErrorCode::AllBrokersDown),
            key(RDKafkaErrorCode::AllBrokersDown)
        );
        assert_ne!(
            key(RDKafkaErrorCode::AllBrokersDown),
            key(RDKafkaErrorCode::BrokerTransportFailure)
        );
    }

    /// The end of a partition is no fault; authentication is one no retry mends.
    #[test]
    fn librdkafka_errors_are_logged_by_severity() {
        let global = |code| KafkaError::Global(code);
        assert_eq!(
            severity(&global(RDKafkaErrorCode::PartitionEOF)),
            tracing::Level::DEBUG
        );
        assert_eq!(
            severity(&global(RDKafkaErrorCode::SaslAuthenticationFailed)),
            tracing::Level::ERROR
        );
        assert_eq!(
            severity(&global(RDKafkaErrorCode::BrokerTransportFailure)),
            tracing::Level::WARN
        );
    }

    /// librdkafka logs warnings unless the properties say otherwise.
    #[test]
    fn librdkafka_log_level_follows_the_properties() {
        let level = |pairs: &[(&str, &str)]| {
            log_level(
                &pairs
                    .iter()
                    .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ) as i32
        };
        assert_eq!(level(&[]), RDKafkaLogLevel::Warning as i32);
        assert_eq!(level(&[("debug", "cgrp")]), RDKafkaLogLevel::Debug as i32);
        assert_eq!(level(&[("log_level", "3")]), RDKafkaLogLevel::Error as i32);
        assert_eq!(
            level(&[("debug", "all"), ("log_level", "6")]),
            RDKafkaLogLevel::Info as i32
        );
    }

    /// A dead letter carries the message's key and payload as they are up to their bounds, and
    /// cut past them, saying so.
    #[test]
    fn dead_letters_cut_long_keys_and_payloads() {
        let (key, payload) = (
            vec![b'k'; DEAD_LETTER_MAX_KEY],
            vec![b'p'; DEAD_LETTER_MAX_PAYLOAD],
        );
        assert_eq!(
            dead_letter_body(Some(&key), &payload),
            (Some(&key[..]), &payload[..], None)
        );
        assert_eq!(dead_letter_body(None, b"x"), (None, &b"x"[..], None));
        let long = vec![b'p'; 1_000_100];
        let (k, p, note) = dead_letter_body(Some(b"w1"), &long);
        assert_eq!((k, p.len()), (Some(&b"w1"[..]), DEAD_LETTER_MAX_PAYLOAD));
        assert_eq!(
            note.as_deref(),
            Some("key 2 bytes, payload 1000100 bytes; the first 2 and 524288 kept")
        );
        let long_key = vec![b'k'; DEAD_LETTER_MAX_KEY + 1];
        let (k, p, note) = dead_letter_body(Some(&long_key), b"x");
        assert_eq!(
            (k.map(<[u8]>::len), p),
            (Some(DEAD_LETTER_MAX_KEY), &b"x"[..])
        );
        assert!(note.is_some());
    }

    /// README "Kafka clients": the codecs and SASL mechanisms librdkafka was built with.
    #[test]
    fn librdkafka_has_every_codec_and_the_documented_sasl_mechanisms() {
        let native = ClientConfig::new().create_native_config().unwrap();
        let features = native.get("builtin.features").unwrap();
        let features: Vec<&str> = features.split(',').collect();
        for feature in [
            "gzip",
            "snappy",
            "lz4",
            "zstd",
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
        ] {
            assert!(
                features.contains(&feature),
                "{feature} missing: {features:?}"
            );
        }
        // Kerberos needs Cyrus SASL, which the build does not link.
        assert!(!features.contains(&"sasl_gssapi"), "{features:?}");
    }
}
