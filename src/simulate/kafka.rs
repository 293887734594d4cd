//! `workhours simulate --kafka`: the stream produced to the input topic instead of a file
//! (SPEC section 6), keyed as `workhours run` requires, every record acknowledged before the
//! command succeeds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::{SimLine, SimOptions, SimStats, generate};
use crate::config::{Config, Subject};
use crate::live::{client_config, send_waiting, set_default, without_consumer_properties};

/// Counts the records the broker did not take, with the first reason.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(|| error.to_string());
        }
    }
}

/// Produces the stream to the first input topic; returns what was written and the topic.
pub fn produce(opts: &SimOptions, config: &Config) -> anyhow::Result<(SimStats, String)> {
    let topic = config
        .kafka
        .input_topics
        .first()
        .context("kafka.input_topics is empty: no topic to produce the stream to")?
        .clone();
    let mut client = without_consumer_properties(client_config(&config.kafka));
    // A record not acknowledged within the monitor's own delivery bound fails the command.
    let timeout = Duration::from_millis(config.live.delivery_timeout.max(1) as u64);
    set_default(
        &mut client,
        "message.timeout.ms",
        &timeout.as_millis().to_string(),
    );
    set_default(&mut client, "linger.ms", "5");
    // The Java client's partitioner: other producers of the topic put a key where this does.
    set_default(&mut client, "partitioner", "murmur2_random");
    let producer: ThreadedProducer<Deliveries> = client
        .create_with_context(Deliveries::default())
        .with_context(|| {
            format!(
                "cannot create a Kafka producer for {}",
                config.kafka.brokers
            )
        })?;
    let persons = config.subject == Subject::Person;
    let stats = generate(opts, &mut |line: SimLine<'_>| {
        let key = match line.person_id {
            Some(person) if persons => person,
            _ => line.worker_id,
        };
        let mut record = BaseRecord::<[u8], [u8]>::to(&topic).payload(line.bytes);
        // Bad lines that name no worker go without a key (the monitor dead-letters them).
        if !key.is_empty() {
            record = record.key(key.as_bytes());
        }
        send_waiting(&producer, record).map_err(std::io::Error::other)
    })
    .with_context(|| format!("cannot produce the simulated stream to topic {topic}"))?;
    // Every record is reported by `message.timeout.ms`: the flush waits for that, not more.
    producer
        .flush(timeout + Duration::from_secs(10))
        .with_context(|| format!("the simulated stream to topic {topic} was not all sent"))?;
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let error = context
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        anyhow::bail!(
            "{failed} of {} records were not delivered to topic {topic} (first error: {error})",
            stats.lines
        );
    }
    Ok((stats, topic))
}
