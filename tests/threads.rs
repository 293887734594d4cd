//! `replay --threads N` writes the bytes of `--threads 1`, stdout and stderr, on a stream with
//! everything the serial step and the merge must get right: duplicates, late events, bad and
//! blank lines, refused order starts, several platforms with `quota_p90`, and a DST change.

mod common;

use common::{bin, run, scratch, stderr};

const CONFIG: &str = r#"
[time]
zone = "Europe/Berlin"
[rules]
quota_min_workers = 3
[rules.platform.meituan]
daily_standard = "6h"
"#;

/// A summary row's count (`  late (dropped)      12`).
fn count(summary: &str, row: &str) -> u64 {
    summary
        .lines()
        .find(|line| line.trim_start().starts_with(row))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row {row:?} in {summary}"))
}

#[test]
fn threads_write_the_bytes_of_one_thread() {
    let dir = scratch("threads-bytes");
    let config = dir.join("config.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let clean = dir.join("clean.jsonl");
    let out = run(bin()
        .args([
            "simulate",
            "--workers",
            "150",
            "--days",
            "8",
            "--seed",
            "31",
        ])
        .args(["--start", "2026-03-25", "--duplicates", "0.01"])
        .args(["--bad-lines", "0.01", "--jitter", "20s", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&clean));
    assert!(out.status.success(), "{}", stderr(&out));
    // Bytes: some bad lines are not UTF-8.
    let bytes = std::fs::read(&clean).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.pop_if(|line| line.is_empty());
    // Late events: every 499th line moved 3,000 lines on, hours after its `ts`.
    let mut i = 1000;
    while i + 3000 < lines.len() {
        let line = lines.remove(i);
        lines.insert(i + 3000, line);
        i += 499;
    }
    // Refused order starts: one worker with more active orders than allowed, early on.
    let ts = "2026-03-25T09:00:00+01:00";
    let orders = (0..70).map(|n| {
        format!(
            r#"{{"worker_id":"hoarder","kind":"order_accepted","ts":"{ts}","order_id":"o{n}"}}"#
        )
        .into_bytes()
    });
    lines.splice(10..10, orders);
    // A blank line, a CRLF line, and no newline after the last line.
    lines.insert(20, b"   ".to_vec());
    lines[30].push(b'\r');
    let input = dir.join("input.jsonl");
    std::fs::write(&input, lines.join(&b'\n')).unwrap();

    let replay = |threads: &str| {
        let out = run(bin()
            .args(["replay", "--threads", threads, "--config"])
            .arg(&config)
            .arg(&input));
        assert!(out.status.success(), "{threads}: {}", stderr(&out));
        out
    };
    let one = replay("1");
    let summary = stderr(&one);
    for row in [
        "duplicates",
        "late",
        "bad events",
        "too_many_orders",
        "blank",
    ] {
        assert!(count(&summary, row) > 0, "no {row}: {summary}");
    }
    let alerts = String::from_utf8(one.stdout.clone()).unwrap();
    assert!(alerts.contains(r#""rule":"quota_p90""#), "no quota_p90");
    for platform in ["meituan", "didi"] {
        assert!(alerts.contains(&format!(r#""platform":"{platform}""#)));
    }
    for threads in ["2", "3"] {
        let many = replay(threads);
        assert!(
            many.stdout == one.stdout,
            "alerts differ with {threads} threads"
        );
        assert_eq!(
            stderr(&many),
            summary,
            "stderr differs with {threads} threads"
        );
    }
}
