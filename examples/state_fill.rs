//! Fills a state topic for the restore benchmark (`bench/live_restore.py`): worker records in
//! this release's format, each written VERSIONS times (the older ones superseded, as a topic
//! that is not compacted yet holds them), then one partition record per partition.
//!
//! ```text
//! cargo run --release --example state_fill -- BROKERS TOPIC PARTITIONS WORKERS VERSIONS
//! ```
//!
//! Worker `i` goes to partition `i % PARTITIONS`. Records are produced with lz4, as the
//! monitor's own producer does. Prints one line of `key=value` figures.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use workhours::config::Config;
use workhours::engine::{Engine, PartitionMeta, WorkerRecord};
use workhours::live::state;

/// A realistic record: a worker logged in, with an order, an hour into their shift.
fn template() -> anyhow::Result<WorkerRecord> {
    let mut engine = Engine::live(Config::default());
    for (offset, line) in [
        r#"{"worker_id":"t","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"meituan","role":"rider","city":"371000"}"#,
        r#"{"worker_id":"t","kind":"order_accepted","ts":"2026-03-02T08:10:00+08:00","platform":"meituan","role":"rider","city":"371000","order_id":"o-1"}"#,
    ]
    .iter()
    .enumerate()
    {
        let event = workhours::event::parse(line.as_bytes())
            .map_err(|bad| anyhow::anyhow!("template event: {bad}"))?;
        engine.push_live(&event, offset as u64, 0, i64::MAX);
    }
    engine.advance_to(workhours::timefmt::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap_or(0));
    engine
        .take_dirty()
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no template record"))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, topic, partitions, workers, versions] = args.as_slice() else {
        anyhow::bail!("usage: state_fill BROKERS TOPIC PARTITIONS WORKERS VERSIONS");
    };
    let (partitions, workers, versions): (u64, u64, u64) =
        (partitions.parse()?, workers.parse()?, versions.parse()?);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let zone = Config::default().time.zone.name().to_owned();
    let template = template()?;
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut send = |partition: u64, key: &[u8], value: &[u8]| {
        bytes += (key.len() + value.len()) as u64;
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(partition as i32)
            .key(key)
            .payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => return,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    };
    for version in 0..versions {
        for i in 0..workers {
            let mut record = template.clone();
            record.worker.id = format!("w{i:08}").into();
            // Each version a minute later than the one before.
            let later = version as i64 * 60_000;
            record.worker.last_event += later;
            record.worker.since += later;
            let (key, value) = state::encode_worker(&record, &zone);
            send(i % partitions, &key, &value);
        }
    }
    for partition in 0..partitions {
        let meta = PartitionMeta {
            max_ts: Some(template.worker.last_event),
            frontier: template.worker.since,
            ..PartitionMeta::default()
        };
        let (key, value) = state::encode_meta(&meta, &zone);
        send(partition, &key, &value);
    }
    producer.flush(Duration::from_secs(600))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "records={} bytes={bytes} seconds={seconds:.2}",
        workers * versions + partitions
    );
    Ok(())
}
