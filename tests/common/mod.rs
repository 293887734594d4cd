//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The built `workhours` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_workhours"))
}

/// A fresh folder for one test's files, under cargo's target temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs a command, panicking with its stderr if it could not start.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

/// Runs a command with its output captured, killing it and failing the test if it has not
/// ended within `seconds` (a hang is the defect some tests look for). Its output must be
/// small: it is read once the command has ended.
pub fn run_within(command: &mut Command, seconds: u64) -> Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().expect("the command's status").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("the command is killed");
            let output = child.wait_with_output().expect("the command's output");
            panic!(
                "{command:?} still running after {seconds} s:\n{}",
                stderr(&output)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("the command's output")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A consumer assigned to every partition of `topic` from its beginning, without committing:
/// reads a topic as an independent client would.
pub fn reader(
    brokers: &str,
    topic: &str,
    partitions: i32,
    group: &str,
) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("reader consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("partition offset");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// A TCP port free now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET on 127.0.0.1: (status, body); `None` when it cannot be made.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Polls `path` on 127.0.0.1:`port` until it answers 200; fails the test when `child` exits
/// first or 30 s pass.
pub fn wait_for_200(child: &mut std::process::Child, port: u16, path: &str) {
    let started = std::time::Instant::now();
    while http_get(port, path).is_none_or(|(status, _)| status != 200) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "stopped before {path} answered 200"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no 200 from {path} within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends `signal` (`TERM`, `INT`) to `child` and waits for it to exit: its status and how long
/// that took. Kills it and fails the test when it is still running after `limit`.
pub fn signal_and_wait(
    child: &mut std::process::Child,
    signal: &str,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, std::time::Duration) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} failed");
    let stopping = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return (status, stopping.elapsed());
        }
        if stopping.elapsed() > limit {
            child.kill().expect("the child is killed");
            panic!("still running {limit:?} after SIG{signal}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
