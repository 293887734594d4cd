//! `workhours simulate --kafka` (SPEC section 6: the stream "to a file or Kafka"): the lines
//! the same seed writes to a file go to the input topic, each keyed by its `worker_id` (its
//! `person_id` under `subject = "person"`). librdkafka's mock cluster, in this process, is the
//! broker.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

const PARTITIONS: i32 = 3;

/// The seed's lines, as `simulate --output` writes them.
fn lines_of(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Vec<String> {
    let dir = common::scratch(&format!("simulate-kafka-{name}"));
    let path = dir.join("stream.jsonl");
    let output = common::run(
        common::bin()
            .args(["simulate", "--output"])
            .arg(&path)
            .args(args)
            .envs(envs.iter().copied()),
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    // Some bad lines are not UTF-8: compared as the reader below sees them.
    std::fs::read(&path)
        .unwrap()
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// Every (key, payload) of `topic`, once `want` messages are read (or a minute has passed, so
/// that a missing message fails the test rather than hanging it).
fn read(brokers: &str, topic: &str, want: usize) -> Vec<(String, String)> {
    let consumer = common::reader(brokers, topic, PARTITIONS, "simulate-test-reader");
    let mut read = Vec::new();
    let started = Instant::now();
    while read.len() < want && started.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let text = |bytes: Option<&[u8]>| {
                String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
            };
            read.push((text(message.key()), text(message.payload())));
        }
    }
    read
}

/// How many times each line occurs (a stream with duplicates repeats lines).
fn counted(lines: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        *counts.entry(line).or_default() += 1;
    }
    counts
}

fn simulate_to_kafka(subject: &str, args: &[&str]) {
    let cluster = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let topic = format!("sim-{subject}.events");
    cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
    let envs = [
        ("WORKHOURS_KAFKA__BROKERS", brokers.as_str()),
        ("WORKHOURS_KAFKA__INPUT_TOPICS", topic.as_str()),
        ("WORKHOURS_RULES__SUBJECT", subject),
    ];
    let want = lines_of(subject, args, &envs);
    assert!(want.len() > 100, "the stream tests too little");

    let output = common::run(
        common::bin()
            .args(["simulate", "--kafka"])
            .args(args)
            .envs(envs),
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(
        common::stderr(&output).contains(&topic),
        "the summary names the topic: {}",
        common::stderr(&output)
    );

    let got = read(&brokers, &topic, want.len());
    assert_eq!(
        counted(got.iter().map(|(_, line)| line.clone())),
        counted(want),
        "the topic holds the file's lines"
    );
    // Every valid event is keyed as `workhours run` requires (SPEC sections 5 and 8).
    for (key, line) in &got {
        let Ok(event) = workhours::event::parse(line.as_bytes()) else {
            continue;
        };
        let expected = match &event.person_id {
            Some(person) if subject == "person" => person.as_ref(),
            _ => event.worker_id.as_ref(),
        };
        assert_eq!(key, expected, "the key of {line}");
    }
}

#[test]
fn simulate_writes_the_stream_to_the_input_topic_keyed_by_worker() {
    simulate_to_kafka(
        "worker",
        &[
            "--workers",
            "30",
            "--days",
            "1",
            "--seed",
            "4",
            "--duplicates",
            "0.01",
            "--bad-lines",
            "0.01",
        ],
    );
}

#[test]
fn simulate_keys_by_person_under_subject_person() {
    simulate_to_kafka(
        "person",
        &[
            "--workers",
            "30",
            "--days",
            "1",
            "--seed",
            "5",
            "--persons",
            "0.5",
        ],
    );
}

#[test]
fn simulate_to_kafka_and_to_a_file_at_once_is_an_error() {
    let output = common::run(common::bin().args([
        "simulate",
        "--kafka",
        "--output",
        "x.jsonl",
        "--workers",
        "1",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
}
