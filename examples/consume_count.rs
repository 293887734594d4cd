//! Raw consume rate of a topic: an rdkafka consumer that only counts messages, the
//! baseline of the live throughput benchmark (`bench/live.sh`).
//!
//! ```text
//! cargo run --release --example consume_count -- BROKERS TOPIC COUNT [-X key=value]...
//! ```
//!
//! Subscribes with a fresh consumer group from the earliest offset, with the fetch settings
//! of the live tests (`fetch.wait.max.ms` = 20, overridable with `-X`), and counts messages
//! until it has COUNT. Prints one line of `key=value` figures: the time from start (group
//! join included) and from the first message, and events per second for both.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let mut properties = vec![("fetch.wait.max.ms".to_owned(), "20".to_owned())];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-X" {
            let pair = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("-X needs key=value"))?;
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("-X {pair}: expected key=value"))?;
            properties.push((key.to_owned(), value.to_owned()));
        } else {
            positional.push(arg);
        }
    }
    let [brokers, topic, count] = positional.as_slice() else {
        anyhow::bail!("usage: consume_count BROKERS TOPIC COUNT [-X key=value]...");
    };
    let count: u64 = count.parse()?;

    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("consume-count-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in &properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create()?;

    let start = Instant::now();
    consumer.subscribe(&[topic])?;
    let mut seen = 0u64;
    let mut bytes = 0u64;
    let mut first = None;
    while seen < count {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                first.get_or_insert_with(Instant::now);
                bytes += rdkafka::Message::payload(&message).map_or(0, |p| p.len() as u64);
                seen += 1;
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(error)) => eprintln!("consume_count: {error}"),
        }
    }
    let total = start.elapsed().as_secs_f64();
    let streaming = first.map_or(total, |t| t.elapsed().as_secs_f64());
    println!(
        "events={seen} bytes={bytes} seconds_from_start={total:.3} seconds_from_first={streaming:.3} \
         events_per_second_from_start={:.0} events_per_second_from_first={:.0}",
        seen as f64 / total,
        seen as f64 / streaming,
    );
    Ok(())
}
