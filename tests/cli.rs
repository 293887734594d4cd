//! The built binary: `simulate` piped into `replay`, with bad lines and duplicates mixed in.

mod common;

use common::{bin, run, run_within, scratch, stderr, stdout};
use std::collections::BTreeSet;
use std::process::Output;

/// Bad lines of every kind, with the reason replay must give.
const BAD: [(&[u8], &str); 8] = [
    (b"{not json", "not_json"),
    (b"[1,2]", "not_object"),
    (b"\xff\xfe\xfd", "not_utf8"),
    (br#"{"kind":"login","ts":1772409600000}"#, "missing_field"),
    (
        br#"{"worker_id":"x","kind":"nap","ts":1772409600000}"#,
        "unknown_kind",
    ),
    (
        br#"{"worker_id":"x","kind":"login","ts":"1999-12-31T23:59:59Z"}"#,
        "timestamp_out_of_range",
    ),
    (
        br#"{"worker_id":"x","kind":"login","ts":1772409600000,"fee_cents":-5}"#,
        "invalid_value",
    ),
    (
        br#"{"worker_id":"x","kind":"login","ts":1772409600000,"platform":5}"#,
        "wrong_type",
    ),
];

fn simulate(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("clean.jsonl");
    simulate_to(&path, "60", "3");
    std::fs::read(&path).unwrap()
}

/// `workhours simulate --workers WORKERS --days DAYS --seed 11` into `path`.
fn simulate_to(path: &std::path::Path, workers: &str, days: &str) {
    let output = run(bin()
        .args(["simulate", "--workers", workers, "--days", days])
        .args(["--seed", "11", "--output"])
        .arg(path));
    assert!(
        output.status.success(),
        "simulate failed: {}",
        stderr(&output)
    );
}

#[test]
fn replay_reports_bad_lines_and_keeps_every_good_event() {
    let dir = scratch("cli-bad-lines");
    let clean = simulate(&dir);
    let clean_path = dir.join("clean.jsonl");
    let good_lines: Vec<&[u8]> = clean
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        good_lines.len() > 1000,
        "the simulated stream is too small: {}",
        good_lines.len()
    );

    // Mix bad lines and exact duplicates into the clean stream at fixed places.
    let mut mixed: Vec<u8> = Vec::new();
    let mut expected_bad = Vec::new();
    let mut duplicates = 0;
    let mut line_number = 0;
    for (i, line) in good_lines.iter().enumerate() {
        mixed.extend_from_slice(line);
        mixed.push(b'\n');
        line_number += 1;
        if i % 97 == 5 {
            let (bad, reason) = BAD[(i / 97) % BAD.len()];
            mixed.extend_from_slice(bad);
            mixed.push(b'\n');
            line_number += 1;
            expected_bad.push(format!("line {line_number}: bad event: {reason}:"));
        }
        if i % 131 == 7 && line.windows(10).any(|w| w == b"\"event_id\"") {
            mixed.extend_from_slice(line);
            mixed.push(b'\n');
            line_number += 1;
            duplicates += 1;
        }
    }
    let mixed_path = dir.join("mixed.jsonl");
    std::fs::write(&mixed_path, &mixed).unwrap();

    let clean_run = run(bin().arg("replay").arg(&clean_path));
    assert!(clean_run.status.success(), "{}", stderr(&clean_run));
    let mixed_run = run(bin().arg("replay").arg(&mixed_path));
    assert!(
        mixed_run.status.success(),
        "bad lines must not fail the run: {}",
        stderr(&mixed_run)
    );

    // Same alerts, byte for byte: bad lines and duplicates change nothing.
    let alerts = stdout(&clean_run);
    assert_eq!(stdout(&mixed_run), alerts);
    let rules: BTreeSet<String> = alerts
        .lines()
        .map(|line| {
            let alert: serde_json::Value =
                serde_json::from_str(line).expect("alert lines are JSON");
            for field in [
                "alert_id",
                "rule",
                "phase",
                "platform",
                "role",
                "city",
                "at",
                "period_start",
                "message",
            ] {
                assert!(alert.get(field).is_some(), "alert without {field}: {line}");
            }
            alert["rule"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        rules.contains("continuous_work") && rules.contains("daily_hours"),
        "rules seen: {rules:?}"
    );

    // Every bad line is reported with its line number and reason, and nothing else is.
    let report = stderr(&mixed_run);
    let reported: Vec<&str> = report.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(reported.len(), expected_bad.len(), "{report}");
    for (line, expected) in reported.iter().zip(&expected_bad) {
        assert!(
            line.starts_with(expected.as_str()),
            "{line} should start with {expected}"
        );
    }
    let summary_value = |name: &str| -> u64 {
        let row = report
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {report}"));
        row.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert_eq!(summary_value("bad events"), expected_bad.len() as u64);
    assert_eq!(summary_value("duplicates"), duplicates);
    assert_eq!(summary_value("lines read"), line_number);
    assert_eq!(summary_value("alerts"), alerts.lines().count() as u64);
    assert_eq!(
        summary_value("not_utf8"),
        expected_bad
            .iter()
            .filter(|l| l.contains("not_utf8"))
            .count() as u64
    );

    // Deterministic: a second run gives the same bytes, also from stdin.
    let again = run(bin()
        .arg("replay")
        .stdin(std::fs::File::open(&mixed_path).unwrap()));
    assert_eq!(stdout(&again), alerts);
}

#[test]
fn replay_until_runs_timers_to_that_instant() {
    let dir = scratch("cli-until");
    let input = dir.join("one.jsonl");
    std::fs::write(
        &input,
        "{\"worker_id\":\"w1\",\"kind\":\"login\",\"ts\":\"2026-03-02T08:00:00+08:00\"}\n",
    )
    .unwrap();
    let output = run(bin()
        .args(["replay", "--until", "2026-03-02T13:00:00+08:00"])
        .arg(&input));
    assert!(output.status.success());
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].contains(r#""at":"2026-03-02T12:00:00.000+08:00""#),
        "{}",
        lines[1]
    );
    // Without --until, time ends at the last event: nothing fires.
    let output = run(bin().arg("replay").arg(&input));
    assert_eq!(stdout(&output), "");
}

/// `replay` of `input` in a fresh directory `name`, with the user pack `pack` (`pack_file`)
/// and zone UTC; expects it to succeed. Gives the directory (`cfg.toml`, `in.jsonl`) too.
fn replay_with_pack(name: &str, pack: &str, input: &str) -> (std::path::PathBuf, Output) {
    let dir = scratch(name);
    std::fs::write(dir.join("mypack.toml"), pack).unwrap();
    std::fs::write(
        dir.join("cfg.toml"),
        "[rules]\npack_file = \"mypack.toml\"\n[time]\nzone = \"UTC\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("in.jsonl"), input).unwrap();
    let output = run_within(
        bin()
            .current_dir(&dir)
            .args(["replay", "--config", "cfg.toml", "in.jsonl"]),
        20,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    (dir, output)
}

/// SPEC section 5: `worker_ttl` (40 days by default) is longer than any rule period. A
/// user's `rolling` rule over 60 days: 8 h of driving on 2 March, 2 h on 16 April, 45 days
/// later. The worker was forgotten in between, and the 8 h 30 min limit never fired (audit
/// BB); the default now covers the longest window.
#[test]
fn a_window_longer_than_forty_days_keeps_a_silent_worker() {
    let mut input = String::new();
    for (activity, at) in [
        ("driving", "2026-03-02T06:00:00"),
        ("rest", "2026-03-02T14:00:00"),
        ("driving", "2026-04-16T06:00:00"),
        ("rest", "2026-04-16T08:00:00"),
    ] {
        input.push_str(&format!(
            "{{\"worker_id\":\"w\",\"kind\":\"activity\",\"activity\":\"{activity}\",\"ts\":\"{at}Z\"}}\n"
        ));
    }
    let (_, output) = replay_with_pack(
        "cli-long-window",
        "[[rules]]\nid = \"long_roll\"\nkind = \"rolling\"\nmeasure = \"driving\"\n\
         window = \"60d\"\nlimit = \"8h30m\"\n",
        &input,
    );
    let alerts: Vec<(String, String, u64)> = stdout(&output)
        .lines()
        .map(|line| {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                a["phase"].as_str().unwrap().to_owned(),
                a["at"].as_str().unwrap().to_owned(),
                a["value_seconds"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        alerts,
        [(
            "violation".to_owned(),
            "2026-04-16T06:30:00.000+00:00".to_owned(),
            30_600
        )],
        "{}",
        stderr(&output)
    );
}

/// A `since_rest` rule timed from another measure (`elapsed_from`) whose rest is its own
/// measure (no `rest_unless`): on duty but not driving is that rule's rest. A shift may not
/// start within a rest that is already a reset rest: it did, its rest completed at once, and
/// the engine started and ended it again for ever (replay and `status` hung at 100 % CPU).
#[test]
fn a_shift_timed_from_another_measure_never_starts_inside_a_reset_rest() {
    let event = |worker: &str, kind: &str, activity: &str, at: &str| {
        let activity = match activity {
            "" => String::new(),
            a => format!(",\"activity\":\"{a}\""),
        };
        format!(
            "{{\"worker_id\":\"{worker}\",\"kind\":\"{kind}\"{activity},\"ts\":\"2026-03-02T{at}Z\"}}\n"
        )
    };
    // d: on duty at 08:00, driving 09:00 to 12:00, then on duty without driving until 15:00,
    // driving again at 16:00. r: the shift starts with the driving at 09:00 (the rest before
    // it, since ever, ends there), its 2 h fall at 11:00, the rest from 12:00 completes at
    // 14:00 while still on duty; no new shift until the driving at 16:00.
    // w: logged in without orders (rule o's rest, since ever) at 08:00.
    let mut input = String::new();
    for (worker, kind, activity, at) in [
        ("d", "activity", "other_work", "08:00:00"),
        ("w", "login", "", "08:00:00"),
        ("w", "heartbeat", "", "08:00:00.001"),
        ("d", "activity", "driving", "09:00:00"),
        ("d", "activity", "other_work", "12:00:00"),
        ("d", "activity", "rest", "15:00:00"),
        ("d", "activity", "driving", "16:00:00"),
        ("d", "heartbeat", "", "16:30:00"),
    ] {
        input.push_str(&event(worker, kind, activity, at));
    }
    let (dir, output) = replay_with_pack(
        "cli-elapsed-from",
        "[[rules]]\nid = \"r\"\nkind = \"since_rest\"\nmeasure = \"driving\"\n\
         reset_rest = \"2h\"\nlimit = \"2h\"\nelapsed_from = \"duty\"\n\
         [[rules]]\nid = \"o\"\nkind = \"since_rest\"\nmeasure = \"orders\"\n\
         reset_rest = \"2h\"\nlimit = \"2h\"\nelapsed_from = \"work\"\n",
        &input,
    );
    let alerts: Vec<(String, String, String, u64, String)> = stdout(&output)
        .lines()
        .map(|line| {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = |k: &str| a[k].as_str().unwrap().to_owned();
            (
                text("worker_id"),
                text("phase"),
                text("at"),
                a["value_seconds"].as_u64().unwrap(),
                text("period_start"),
            )
        })
        .collect();
    let want = |phase: &str, at: &str, value: u64| {
        (
            "d".to_owned(),
            phase.to_owned(),
            format!("2026-03-02T{at}.000+00:00"),
            value,
            "2026-03-02T09:00:00.000+00:00".to_owned(),
        )
    };
    assert_eq!(
        alerts,
        [
            want("violation", "11:00:00", 7200),
            want("resolved", "14:00:00", 3 * 3600)
        ]
    );
    let status = run_within(
        bin().current_dir(&dir).args([
            "status",
            "--config",
            "cfg.toml",
            "--at",
            "2026-03-02T16:30:00Z",
            "in.jsonl",
        ]),
        20,
    );
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(stdout(&status).lines().count(), 2);
}

#[test]
fn unreadable_input_or_config_fails_with_a_clear_message() {
    let dir = scratch("cli-errors");
    let output = run(bin().arg("replay").arg(dir.join("missing.jsonl")));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read input"),
        "{}",
        stderr(&output)
    );

    // A folder opens but cannot be read: the message names it too.
    let output = run(bin().arg("replay").arg(&dir));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot read input {}", dir.display())),
        "{}",
        stderr(&output)
    );

    // The reason once, not once more as the error's cause.
    let output = run(bin()
        .args(["replay", "--config"])
        .arg(dir.join("missing.toml"))
        .arg(dir.join("missing.jsonl")));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("cannot read config file"), "{message}");
    assert_eq!(message.matches("No such file").count(), 1, "{message}");

    let config = dir.join("bad.toml");
    std::fs::write(&config, "[rules]\nmin_break = \"20\"\n").unwrap();
    let output = run(bin()
        .args(["replay", "--config"])
        .arg(&config)
        .arg(dir.join("missing.jsonl")));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("rules.min_break"),
        "{}",
        stderr(&output)
    );

    // A duration near i64::MAX ms overflowed the instants computed from it (alerts at
    // `-9223370264471151616`): refused, with the key named.
    std::fs::write(&config, "[rules]\ndaily_max = \"106751991167d\"\n").unwrap();
    let output = run(bin().args(["replay", "--config"]).arg(&config).arg(&config));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("rules.daily_max") && message.contains("too large"),
        "{message}"
    );

    // Not TOML: the message names the file, as every other config error names its key.
    std::fs::write(&config, "[rules\n").unwrap();
    let output = run(bin().args(["replay", "--config"]).arg(&config));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("not valid TOML: {}", config.display())),
        "{}",
        stderr(&output)
    );

    let output = run(bin()
        .arg("replay")
        .arg(dir.join("missing.jsonl"))
        .env("WORKHOURS_RULES__NOPE", "1"));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("WORKHOURS_RULES__NOPE"),
        "{}",
        stderr(&output)
    );
}

/// `replay`, `status` and `report` draw a progress line on stderr when it is a terminal (run
/// under `script`, which gives the command a pseudo-terminal), and write none to a pipe.
#[test]
fn progress_shows_on_a_terminal_only() {
    let dir = scratch("progress");
    simulate(&dir);
    let input = dir.join("clean.jsonl");
    let lines = std::fs::read(&input)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let commands: [(&str, Vec<&str>); 3] = [
        ("replay", vec!["replay"]),
        (
            "status",
            vec!["status", "--at", "2026-03-09T00:00:00+08:00"],
        ),
        (
            "report",
            vec!["report", "--month", "2026-03", "--format", "csv"],
        ),
    ];
    for (what, args) in &commands {
        // A pipe: the same stderr as ever, no control characters.
        let output = run(bin().args(args).arg(&input));
        assert!(output.status.success(), "{what}: {}", stderr(&output));
        let text = stderr(&output);
        assert!(!text.contains(['\x1b', '\r']), "{what}: {text}");
    }
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("this test needs `script` (util-linux) for a pseudo-terminal");
    }
    for (what, args) in &commands {
        let mut line = String::from(env!("CARGO_BIN_EXE_workhours"));
        for arg in args {
            line.push_str(&format!(" '{arg}'"));
        }
        line.push_str(&format!(" '{}' >/dev/null", input.display()));
        let output = run(std::process::Command::new("script").args(["-qec", &line, "/dev/null"]));
        let text = stdout(&output);
        assert!(output.status.success(), "{what}: {text}");
        let drawn = format!("\r\x1b[K{what}: ");
        assert!(
            text.contains(&drawn),
            "{what}: no progress line in {text:?}"
        );
        // The last line drawn counts every line of the input once it is read (status stops
        // at --at, so it may show fewer).
        if *what != "status" {
            assert!(
                text.contains(&format!("{} events", group(lines))),
                "{what}: {lines} lines not counted in {text:?}"
            );
        }
        assert!(text.contains("% of "), "{what}: no share in {text:?}");
    }
}

fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A line longer than any event (1 MiB) is a `too_large` bad event, also when it would be a
/// valid event; the lines around it are read as usual, with one thread and with several.
#[test]
fn a_line_longer_than_any_event_is_too_large() {
    let dir = scratch("cli-too-large");
    let input = dir.join("long.jsonl");
    let pad = "x".repeat(3 << 20);
    let text = format!(
        "{}\n{}\n{}\n",
        r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
        format_args!(
            r#"{{"worker_id":"w1","kind":"logout","ts":"2026-03-02T09:00:00+08:00","pad":"{pad}"}}"#
        ),
        r#"{"worker_id":"w2","kind":"heartbeat","ts":"2026-03-02T13:00:00+08:00"}"#,
    );
    std::fs::write(&input, text).unwrap();
    for threads in ["1", "2"] {
        let output = run(bin().args(["replay", "--threads", threads]).arg(&input));
        assert!(output.status.success(), "{}", stderr(&output));
        let report = stderr(&output);
        assert!(
            report.contains("line 2: bad event: too_large: longer than 1048576 bytes"),
            "--threads {threads}: {report}"
        );
        // The logout was refused, so w1 worked from 08:00 to 13:00.
        let alerts = stdout(&output);
        let at: Vec<&str> = alerts
            .lines()
            .map(|l| {
                l.split(r#""at":""#)
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            at,
            [
                "2026-03-02T11:45:00.000+08:00",
                "2026-03-02T12:00:00.000+08:00"
            ],
            "--threads {threads}"
        );
    }
}

/// `workhours status --config CONFIG --at AT INPUT`, which must succeed.
fn status_run(config: &std::path::Path, at: &str, input: &std::path::Path) -> std::process::Output {
    let output = run(bin()
        .args(["status", "--config"])
        .arg(config)
        .args(["--at", at])
        .arg(input));
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// [`status_run`]'s views, one per line.
fn status(config: &std::path::Path, at: &str, input: &std::path::Path) -> Vec<serde_json::Value> {
    stdout(&status_run(config, at, input))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `DIR/in.jsonl`: six lines on 2 March of which three are dropped (a duplicate by
/// `event_id`, a logout 30 min behind the largest `ts`, an unknown kind), then a heartbeat of
/// `w1` at `last` (after `--at` or after the month).
fn with_dropped_lines(dir: &std::path::Path, last: &str) -> std::path::PathBuf {
    let input = dir.join("in.jsonl");
    let lines = [
        r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00","event_id":"a"}"#,
        r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00","event_id":"a"}"#,
        r#"{"worker_id":"w2","kind":"login","ts":"2026-03-02T09:00:00+08:00"}"#,
        r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T08:30:00+08:00"}"#,
        r#"{"worker_id":"w1","kind":"bogus","ts":"2026-03-02T09:00:00+08:00"}"#,
        &format!(r#"{{"worker_id":"w1","kind":"heartbeat","ts":"{last}"}}"#),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    input
}

/// `status` says on stderr what it read but did not apply: a late or duplicate event leaves a
/// view as if it had not been sent, and the user is told so (audit O).
#[test]
fn status_counts_what_it_dropped() {
    let dir = scratch("status-dropped");
    let config = dir.join("default.toml");
    std::fs::write(&config, "").unwrap();
    let input = with_dropped_lines(&dir, "2026-03-02T11:00:00+08:00");
    let output = status_run(&config, "2026-03-02T10:00:00+08:00", &input);
    assert_eq!(
        stderr(&output).lines().last(),
        Some(
            "workhours status: 2 workers at 2026-03-02T10:00:00.000+08:00 (6 lines read, 1 bad events, 1 duplicates and 1 late events dropped, 1 events after --at)"
        )
    );
}

/// `report` says on stderr, and in the page's footer, what it read but left out of every
/// figure: a late or duplicate event is dropped as `replay` drops it (SPEC section 5), and the
/// report of input not sorted by `ts` lost workers without a word (audit BE).
#[test]
fn report_counts_what_it_dropped() {
    let dir = scratch("report-dropped");
    let input = with_dropped_lines(&dir, "2026-04-01T11:00:00+08:00");
    let counts = "6 lines read, 1 bad events, 1 duplicates and 1 late events dropped";
    for format in ["csv", "html"] {
        let output = run(bin()
            .args(["report", "--month", "2026-03", "--format", format])
            .arg(&input));
        assert!(output.status.success(), "{}", stderr(&output));
        let diag = stderr(&output);
        let said =
            format!("workhours report: 2026-03 ({counts}, 1 events after the month not applied)");
        assert!(diag.lines().any(|line| line == said), "{format}: {diag}");
        assert!(diag.contains("line 5: bad event: "), "{format}: {diag}");
        if format == "html" {
            let page = stdout(&output);
            assert!(
                page.contains(&format!(
                    "<p>Input: {counts}; those dropped count in no figure.</p>"
                )),
                "{page}"
            );
        }
    }
}

/// SPEC section 4: "work that stops exactly at the threshold fires nothing". `status` listed
/// `daily_hours` among the open violations of a worker who stopped at exactly 11 h (its
/// amount at the limit), as for one who went 1 ms past it and got the violation.
#[test]
fn status_lists_a_violation_open_only_when_it_fired() {
    let dir = scratch("status-open");
    let config = dir.join("default.toml");
    std::fs::write(&config, "").unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
            "\n",
            r#"{"worker_id":"w2","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
            "\n",
            r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T19:00:00+08:00"}"#,
            "\n",
            r#"{"worker_id":"w2","kind":"logout","ts":"2026-03-02T19:00:00.001+08:00"}"#,
            "\n",
        ),
    )
    .unwrap();
    let views = status(&config, "2026-03-02T20:00:00+08:00", &input);
    let open: Vec<(&str, &serde_json::Value)> = views
        .iter()
        .map(|v| (v["worker_id"].as_str().unwrap(), &v["open_violations"]))
        .collect();
    assert_eq!(
        open,
        [
            ("w1", &serde_json::json!([])),
            ("w2", &serde_json::json!(["daily_hours"]))
        ]
    );
}

/// docs/rules.md: a `rest_deadline` violation is open while its deadline is, and a rest under
/// way that has lasted `rest` already met it (the rule then shows 0 used and the whole of
/// `within` left). `status` kept the rule among the open violations until work resumed
/// (found by tests/model/test_status_packs.py).
#[test]
fn status_closes_a_rest_deadline_violation_once_its_rest_has_lasted_rest() {
    let dir = scratch("status-rest-deadline");
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"p\"\ntitle = \"p\"\nsource = \"test\"\n\n[[rules]]\nid = \"r\"\nkind = \"rest_deadline\"\nrest = \"10m\"\nwithin = \"1h\"\n",
    )
    .unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[rules]\npack_file = {:?}\n", dir.join("pack.toml")),
    )
    .unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
            "\n",
            r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T09:30:00+08:00"}"#,
            "\n",
        ),
    )
    .unwrap();
    // The violation fired at 09:00; the rest from 09:30 has lasted 10 min at 09:40.
    for (at, open) in [
        ("09:35:00", true),
        ("09:39:59.999", true),
        ("09:40:00", false),
        ("10:00:00", false),
    ] {
        let views = status(&config, &format!("2026-03-02T{at}+08:00"), &input);
        let view = &views[0];
        assert_eq!(
            view["open_violations"],
            if open {
                serde_json::json!(["r"])
            } else {
                serde_json::json!([])
            },
            "at {at}: {view}"
        );
    }
}

/// SPEC section 7: `status` (the `/v1/workers/{id}` object) lists each open hold as the holds
/// topic has it, and per rule exactly `{"rule", "used_seconds", "limit_seconds",
/// "left_seconds"}`.
#[test]
fn status_shows_open_holds_as_written_and_rules_with_their_four_keys() {
    let dir = scratch("status-holds");
    let config = dir.join("mohrss.toml");
    std::fs::write(&config, "[rules]\npack = \"cn-mohrss-2024\"\n").unwrap();
    let input = dir.join("in.jsonl");
    let event = |kind: &str, at: &str, order: &str| {
        format!(
            r#"{{"worker_id":"w1","kind":"{kind}","ts":"2026-03-02T{at}:00+08:00","order_id":"{order}"}}"#
        )
    };
    // Four hours of order time from 08:00: a violation and a hold at 12:00, until 12:20.
    let lines = [
        event("order_accepted", "08:00", "o1"),
        event("order_delivered", "12:10", "o1"),
        r#"{"worker_id":"w2","kind":"heartbeat","ts":"2026-03-02T12:30:00+08:00"}"#.to_owned(),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let holds_file = dir.join("holds.jsonl");
    let output = run(bin()
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--holds")
        .arg(&holds_file)
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&holds_file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["until"], "2026-03-02T12:20:00.000+08:00");

    let views = status(&config, "2026-03-02T12:05:00+08:00", &input);
    let view = views.iter().find(|v| v["worker_id"] == "w1").unwrap();
    assert_eq!(
        view["holds"],
        serde_json::json!([written[0].clone()]),
        "{view}"
    );
    let rules = view["rules"].as_array().unwrap();
    assert!(!rules.is_empty(), "{view}");
    for rule in rules {
        let keys: BTreeSet<&str> = rule.as_object().unwrap().keys().map(|k| &**k).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["rule", "used_seconds", "limit_seconds", "left_seconds"]),
            "{rule}"
        );
    }
}

/// SPEC section 7: a `since_rest` rule's `limit_seconds` is its violation threshold, which is
/// `extended_limit` for a shift that will use an extension of its week when it reaches
/// `limit`, and `limit` once none is left (EU 561: 9 h, 10 h twice a week).
#[test]
fn status_gives_the_extended_limit_while_an_extension_remains() {
    let dir = scratch("status-extended");
    let config = dir.join("eu.toml");
    std::fs::write(&config, "[rules]\npack = \"eu-561\"\n").unwrap();
    let input = dir.join("in.jsonl");
    let activity = |what: &str, at: &str| {
        format!(
            r#"{{"worker_id":"w1","kind":"activity","activity":"{what}","ts":"2026-03-{at}:00+08:00"}}"#
        )
    };
    // Sunday 18:00 to Monday 04:00 (the week of 2 March), then three shifts from Monday 9
    // March: 10 h, 10 h (both extensions of that week), and one still driving.
    let lines = [
        activity("driving", "08T18:00"),
        activity("rest", "09T04:00"),
        activity("driving", "09T14:00"),
        activity("rest", "10T00:00"),
        activity("driving", "10T10:00"),
        activity("rest", "10T20:00"),
        activity("driving", "11T06:00"),
        activity("rest", "11T16:00"),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let daily = |at: &str| {
        let views = status(&config, at, &input);
        let rule = views[0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "eu561_daily")
            .unwrap()
            .clone();
        (
            rule["used_seconds"].as_i64().unwrap(),
            rule["limit_seconds"].as_i64().unwrap(),
            rule["left_seconds"].as_i64().unwrap(),
        )
    };
    // 8 h into a shift whose week has both extensions left: the violation is at 10 h.
    assert_eq!(daily("2026-03-09T02:00:00+08:00"), (28_800, 36_000, 7_200));
    // Past 9 h, the extension in use.
    assert_eq!(daily("2026-03-09T03:30:00+08:00"), (34_200, 36_000, 1_800));
    // The third shift of the week of 9 March: no extension left, the violation is at 9 h.
    assert_eq!(daily("2026-03-11T14:00:00+08:00"), (28_800, 32_400, 3_600));
}

/// A scratch folder `name` holding `in.jsonl`: worker a's login at `ts` (platform p, city c).
fn one_login(name: &str, ts: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(name);
    let input = dir.join("in.jsonl");
    let line =
        format!(r#"{{"worker_id":"a","kind":"login","ts":"{ts}","platform":"p","city":"c"}}"#);
    std::fs::write(&input, line + "\n").unwrap();
    (dir, input)
}

/// `report --month 2026-03 --format csv INPUT`: the CSV and the fields of its total row.
fn march_total(input: &std::path::Path) -> (String, Vec<String>) {
    let output = run(bin()
        .args(["report", "--month", "2026-03", "--format", "csv"])
        .arg(input));
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = stdout(&output);
    let total = csv
        .lines()
        .find(|line| line.starts_with("total,"))
        .unwrap_or_else(|| panic!("no total row: {csv}"));
    let fields = total.split(',').map(str::to_owned).collect();
    (csv, fields)
}

/// `report` runs event time through the midnight ending the last event's day, not to the end
/// of the month: input that stops on the 2nd says nothing of the 3rd to the 31st (a login
/// without its logout counted 30 days of 24 h and 41 violations).
#[test]
fn report_runs_to_the_midnight_after_the_last_event_not_to_the_months_end() {
    let (_, input) = one_login("report-end", "2026-03-02T08:00:00+08:00");
    let (csv, fields) = march_total(&input);
    // worker_days, p90_daily_hours, top_by_violations: 16 h on the 2nd (08:00 to midnight),
    // two violations (continuous_work at 12:00, daily_hours at 19:00).
    assert_eq!(
        (&*fields[6], &*fields[11], &*fields[16]),
        ("1", "16.00", "a (2)"),
        "{csv}"
    );
}

/// Input that runs past the month covers the whole month: SPEC section 5's replay time runs to
/// the largest `ts`, here the logout on 1 April. The report stopped at the midnight ending the
/// last event dated in March (the 30th), so a session on through the 31st counted that day in
/// neither March nor April (audit AZ 1: 1 worker-day and P90 16 h, not 2 and 24 h).
#[test]
fn report_of_a_month_the_input_runs_past_covers_its_last_days() {
    let (dir, input) = one_login("report-past", "2026-03-30T08:00:00+08:00");
    let logout = r#"{"worker_id":"a","kind":"logout","ts":"2026-04-01T10:00:00+08:00","platform":"p","city":"c"}"#;
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str(logout);
    text.push('\n');
    let input = dir.join("past.jsonl");
    std::fs::write(&input, text).unwrap();
    let (csv, fields) = march_total(&input);
    // worker_days, p90_daily_hours, top_by_violations: 16 h on the 30th and 24 h on the 31st;
    // continuous_work at 12:00 and daily_hours at 19:00 on the 30th, daily_hours at 11:00 on
    // the 31st.
    assert_eq!(
        (&*fields[6], &*fields[11], &*fields[16]),
        ("2", "24.00", "a (3)"),
        "{csv}"
    );
}

/// The HTML report explains the rules with the values in force, not the default pack's: a
/// 2 h limit with 30 min breaks, a 10 h day and a holiday ratio of 1.5 read as such (it said
/// 4 h, 20 min, "the standard day plus at most 3 h" and "not above the pay on normal days").
#[test]
fn the_html_report_explains_the_rules_with_the_values_in_force() {
    let (dir, input) = one_login("report-rules", "2026-03-15T20:00:00+08:00");
    let page = dir.join("report.html");
    let output = run(bin()
        .args(["report", "--month", "2026-03", "--output"])
        .arg(&page)
        .arg(&input)
        .env("WORKHOURS_RULES__CONTINUOUS_LIMIT", "2h")
        .env("WORKHOURS_RULES__MIN_BREAK", "30m")
        .env("WORKHOURS_RULES__DAILY_MAX", "10h")
        .env("WORKHOURS_RULES__HOLIDAY_PAY_RATIO", "1.5"));
    assert!(output.status.success(), "{}", stderr(&output));
    let page = std::fs::read_to_string(&page).unwrap();
    for words in [
        "Working 2 h without a break of at least 30 min is a violation (as configured here",
        "Daily maximum: 10 h</dt><dd>As configured here",
        "is not above 1.5 times the worker's pay",
    ] {
        assert!(page.contains(words), "{words:?} not in the page");
    }
    assert!(!page.contains("working 4 h without"), "the default's limit");
}

/// With a standard day per platform (7 h on eleme, 8 h elsewhere), the histogram's note
/// counted each day against its own standard but said "1 over 7 h" of two days both over 7 h,
/// and the key figure said the standard day was 7 h.
#[test]
fn the_html_report_does_not_name_one_standard_day_when_platforms_differ() {
    let dir = scratch("report-standards");
    let input = dir.join("in.jsonl");
    let mut events = Vec::new();
    for (worker, platform, out) in [("e1", "eleme", "17:00"), ("m1", "meituan", "14:00")] {
        for (kind, at) in [
            ("login", "06:00"),
            ("break_start", "10:00"),
            ("break_end", "10:30"),
            ("logout", out),
        ] {
            events.push((at, format!(
                r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-05-12T{at}:00+08:00","platform":"{platform}"}}"#
            )));
        }
    }
    events.sort();
    let lines: String = events.into_iter().map(|(_, line)| line + "\n").collect();
    std::fs::write(&input, lines).unwrap();
    let config = dir.join("standards.toml");
    std::fs::write(
        &config,
        "[rules.platform.eleme]\ndaily_standard = \"7h\"\ndaily_max = \"10h\"\n",
    )
    .unwrap();
    let page = dir.join("report.html");
    let output = run(bin()
        .args(["report", "--month", "2026-05", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&page)
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(
        page.contains("2 worker-days · <b>1</b> over the standard day (50.0 %)"),
        "{page}"
    );
    assert!(page.contains("for most worker-days, each day held to its own"));
}

/// A `[kafka.properties]` value librdkafka refuses stops `run` at once with a message naming
/// it, also while the brokers cannot be reached (it waited for them first, retrying for ever,
/// when the property was a consumer's).
#[test]
fn run_refuses_a_bad_consumer_property_before_waiting_for_the_brokers() {
    let dir = scratch("run-bad-property");
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        "[kafka]\nbrokers = \"127.0.0.1:1\"\n[kafka.properties]\n\"fetch.wait.max.ms\" = \"abc\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let output = run_within(bin().args(["run", "--config"]).arg(&config), 20);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // Said once (librdkafka's text was printed twice, as the error and as its source).
    assert_eq!(
        stderr(&output)
            .matches("Invalid value for configuration property \"fetch.wait.max.ms\"")
            .count(),
        1,
        "{}",
        stderr(&output)
    );
}

/// `run --reset-state` is a one-off command: brokers that do not answer end it with an error
/// after `live.delivery_timeout`, nothing reset (it retried for ever: audit BF).
#[test]
fn reset_state_gives_up_on_brokers_that_do_not_answer() {
    let dir = scratch("run-reset-unreachable");
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        "[kafka]\nbrokers = \"127.0.0.1:1\"\n[live]\ndelivery_timeout = \"1s\"\n",
    )
    .unwrap();
    let output = run_within(
        bin()
            .args(["run", "--reset-state", "--config"])
            .arg(&config),
        30,
    );
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "the brokers (127.0.0.1:1) did not answer within live.delivery_timeout = 1s: nothing was reset"
        ),
        "{}",
        stderr(&output)
    );
}

/// A start refused for the token file names the environment variable that set it, as the
/// config's own errors do (docs/config.md; audit BF).
#[test]
fn a_token_file_from_the_environment_is_named_when_refused() {
    let dir = scratch("run-token-env");
    let token = dir.join("empty-token");
    std::fs::write(&token, " \n").unwrap();
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        "[kafka]\nbrokers = \"127.0.0.1:1\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let output = run_within(
        bin()
            .args(["run", "--config"])
            .arg(&config)
            .env("WORKHOURS_HTTP__TOKEN_FILE", &token),
        20,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = format!(
        "http.token_file = {} (set by WORKHOURS_HTTP__TOKEN_FILE) holds no token",
        token.display()
    );
    assert!(stderr(&output).contains(&said), "{}", stderr(&output));
}

/// Odd arguments end in a clear refusal (exit 2), never a panic, a hang or memory that grows
/// until the process is killed: an endless config or key file, an output that is the input,
/// more threads than can be made.
#[test]
fn odd_arguments_are_refused_clearly() {
    let dir = scratch("cli-odd-arguments");
    let input = dir.join("in.jsonl");
    let events = concat!(
        r#"{"worker_id":"w","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
        "\n",
        r#"{"worker_id":"w","kind":"logout","ts":"2026-03-02T09:00:00+08:00"}"#,
        "\n"
    );
    std::fs::write(&input, events).unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let refused = |args: Vec<std::ffi::OsString>, says: &str| {
        let output = run_within(bin().args(&args), 10);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(message.contains(says), "{args:?}: {message}");
        assert!(!message.contains("panicked"), "{args:?}: {message}");
    };
    let i = || input.clone().into_os_string();
    refused(
        vec!["replay".into(), "--config".into(), "/dev/zero".into(), i()],
        "larger than 4194304 bytes",
    );
    refused(
        vec![
            "pseudonymize".into(),
            "--key-file".into(),
            "/dev/zero".into(),
            i(),
        ],
        "more than the 1024 bytes",
    );
    refused(vec!["replay".into(), "--holds".into(), i(), i()], "--holds");
    // `-` is no file: standard output carries the alerts (a file named `-` was written).
    refused(
        vec!["replay".into(), "--holds".into(), "-".into(), i()],
        "standard output carries the alerts",
    );
    refused(
        vec!["replay".into(), "--holds".into(), link.clone().into(), i()],
        "is the input file",
    );
    refused(
        vec![
            "report".into(),
            "--month".into(),
            "2026-03".into(),
            "--output".into(),
            link.into(),
            i(),
        ],
        "is the input file",
    );
    // The output file on standard input (`--output f < f`): it was emptied, exit 0.
    let key = input.with_file_name("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let key = key.to_str().unwrap();
    for args in [
        vec!["replay", "--holds"],
        vec!["pseudonymize", "--key-file", key, "--output"],
        vec!["report", "--month", "2026-03", "--output"],
    ] {
        let output = run_within(
            bin()
                .args(&args)
                .arg(&input)
                .stdin(std::fs::File::open(&input).unwrap()),
            30,
        );
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains("is the file on standard input"),
            "{args:?}: {message}"
        );
        assert_eq!(std::fs::read_to_string(&input).unwrap(), events, "{args:?}");
    }
    // The key or config file as the output: it was replaced, exit 0 (audit AZ).
    let config = dir.join("config.toml");
    let config_text = "[rules]\ncontinuous_limit = \"3h\"\n";
    std::fs::write(&config, config_text).unwrap();
    let config = config.to_str().unwrap();
    let key_text = std::fs::read_to_string(key).unwrap();
    for (args, says) in [
        (
            vec!["pseudonymize", "--key-file", key, "--output", key],
            "is the key file",
        ),
        (
            vec!["replay", "--config", config, "--holds", config],
            "is the config file",
        ),
        (
            vec![
                "report", "--month", "2026-03", "--config", config, "--output", config,
            ],
            "is the config file",
        ),
    ] {
        refused(
            args.iter()
                .map(std::ffi::OsString::from)
                .chain([i()])
                .collect(),
            says,
        );
        assert_eq!(std::fs::read_to_string(key).unwrap(), key_text, "{args:?}");
        assert_eq!(
            std::fs::read_to_string(config).unwrap(),
            config_text,
            "{args:?}"
        );
    }
    // 1e15 hours overflowed the simulated days: an end before the start, exit 0 at once.
    refused(
        vec!["demo".into(), "--hours".into(), "1e15".into()],
        "--hours: must be above 0 and at most 876000",
    );
    // Standard input that cannot be read names the command (it said "replay failed").
    for (args, says) in [
        (
            vec!["status", "--at", "2026-03-03T00:00:00+08:00"],
            "status failed",
        ),
        (vec!["report", "--month", "2026-03"], "report failed"),
    ] {
        let output = run_within(
            bin().args(&args).stdin(std::fs::File::open("/").unwrap()),
            30,
        );
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(message.contains(says), "{args:?}: {message}");
    }
    for threads in ["20000", "18446744073709551615"] {
        refused(
            vec!["replay".into(), "--threads".into(), threads.into(), i()],
            "must be 1 to 256",
        );
    }
    // The input is whole, and a replay of it still works.
    assert_eq!(std::fs::read_to_string(&input).unwrap(), events);
    let output = run_within(bin().args(["replay", "--threads", "256"]).arg(&input), 30);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `replay | head`: once the reader of the alerts has gone, the rest is dropped quietly with
/// exit 0, as Unix tools do (it exited 2 with "replay failed: Broken pipe"); so do `status`
/// and `report`.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("cli-closed-pipe");
    let input = dir.join("events.jsonl");
    // More output than a pipe holds (about 230 KB of alerts, 580 KB of views).
    simulate_to(&input, "500", "2");
    for args in [
        vec!["replay"],
        vec!["status", "--at", "2026-03-03T12:00:00+08:00"],
    ] {
        let mut child = bin()
            .args(&args)
            .arg(&input)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with('{'), "{args:?}: {first}");
        // The read end is closed here; what the program writes next fails.
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && !stderr(&output).contains("Broken pipe"),
            "{args:?}: {:?}\n{}",
            output.status,
            stderr(&output)
        );
    }
}

/// SPEC section 8's own line, `holidays = "config/holidays/cn.toml"`, in a config outside the
/// project, run from a directory without `config/`: the shipped calendar is built in, as the
/// packs are (it failed with "cannot read holiday calendar"). A path that names no shipped
/// calendar and no file is still an error.
#[test]
fn the_shipped_holiday_calendar_is_found_from_any_directory() {
    let dir = scratch("holidays-anywhere");
    let config = dir.join("w.toml");
    std::fs::write(&config, "[time]\nholidays = \"config/holidays/cn.toml\"\n").unwrap();
    // 2026-10-01, National Day: 2 h of work paid 1,000 fen against 10,000 fen for 2 h on each
    // of the days before: below the pay of normal days.
    let mut lines = Vec::new();
    for (day, fee) in [
        ("2026-09-28", 10_000),
        ("2026-09-29", 10_000),
        ("2026-10-01", 1_000),
    ] {
        for (kind, time) in [
            ("login", "08:00"),
            ("order_delivered", "09:00"),
            ("logout", "10:00"),
        ] {
            lines.push(format!(
                r#"{{"worker_id":"a","kind":"{kind}","ts":"{day}T{time}:00+08:00","order_id":"o{day}","fee_cents":{fee}}}"#
            ));
        }
    }
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let output = run(bin()
        .current_dir(&dir)
        .args(["replay", "--until", "2026-10-02T00:00:00+08:00", "--config"])
        .arg(&config)
        .arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let alerts = stdout(&output);
    assert!(
        alerts.contains(r#""rule":"holiday_pay""#)
            && alerts.contains("2026-10-02T00:00:00.000+08:00"),
        "{alerts}"
    );
    std::fs::write(&config, "[time]\nholidays = \"config/holidays/xx.toml\"\n").unwrap();
    let output = run(bin()
        .current_dir(&dir)
        .args(["replay", "--config"])
        .arg(&config)
        .arg(&input));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot read holiday calendar"),
        "{}",
        stderr(&output)
    );
}

/// SPEC section 5: an id is remembered until the watermark passes its event's `ts` +
/// `dedup_window`, "so they [replay and live] give the same alerts". A login reusing the
/// `event_id` of a logout 2 h before, with no event between, was dropped by replay as a
/// duplicate (decided with the watermark before it, still at the logout), where live, whose
/// idle partition's watermark had moved on with the wall clock, applied it.
#[test]
fn an_event_id_reused_past_the_window_is_not_a_duplicate_in_replay() {
    let dir = scratch("reused-id");
    let input = dir.join("in.jsonl");
    let lines = [
        r#"{"worker_id":"a","kind":"login","ts":"2026-03-02T08:00:00+08:00","event_id":"x"}"#,
        r#"{"worker_id":"a","kind":"logout","ts":"2026-03-02T09:00:00+08:00","event_id":"y"}"#,
        r#"{"worker_id":"a","kind":"login","ts":"2026-03-02T11:00:00+08:00","event_id":"y"}"#,
        r#"{"worker_id":"a","kind":"heartbeat","ts":"2026-03-02T15:00:00+08:00","event_id":"z"}"#,
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let output = run(bin().args(["replay"]).arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let alerts = stdout(&output);
    // Work from 11:00: 3 h 45 min at 14:45, 4 h at 15:00 (08:00-09:00 was another episode).
    assert!(
        alerts.contains(r#""phase":"warning""#) && alerts.contains("2026-03-02T14:45:00.000+08:00"),
        "{alerts}\n{}",
        stderr(&output)
    );
    assert_duplicates(&output, 0);
}

/// Asserts that the replay summary on stderr counts `count` duplicates.
fn assert_duplicates(output: &Output, count: u64) {
    let summary = stderr(output);
    let duplicates = summary
        .lines()
        .find(|line| line.contains("duplicates (dropped)"))
        .unwrap_or_else(|| panic!("no duplicates line: {summary}"));
    assert!(
        duplicates.trim_end().ends_with(&format!(" {count}")),
        "{summary}"
    );
}

/// SPEC section 5: duplicates are judged on the events sorted by `ts`. A logout read 10 s
/// after a heartbeat with its `event_id` but stamped 10 s before it counts, and the heartbeat
/// is the duplicate, with one engine and with several (the copy read first waits in another
/// block's buffer). Judged in arrival order, the logout was dropped, the worker stayed online
/// and `continuous_work` fired at 11:45 and 12:00 (audit AR).
#[test]
fn of_two_copies_read_within_the_lateness_the_earlier_ts_counts() {
    let dir = scratch("copies-ts-order");
    let line = |worker: &str, kind: &str, ts: &str, id: &str| {
        format!(
            r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-03-02T{ts}+08:00","event_id":"{id}"}}"#
        )
    };
    let read = [
        line("a", "login", "08:00:00", "l"),
        line("b", "login", "08:00:05", "l"),
        line("a", "heartbeat", "08:00:20", "x"),
        line("a", "logout", "08:00:10", "x"),
        line("b", "logout", "13:00:00", "m"),
    ];
    let mut sorted = read.clone();
    sorted.swap(2, 3);
    let replay = |name: &str, lines: &[String], threads: &str| {
        let input = dir.join(name);
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        let output = run(bin().args(["replay", "--threads", threads]).arg(&input));
        assert!(output.status.success(), "{}", stderr(&output));
        assert_duplicates(&output, 1);
        stdout(&output)
    };
    let expected = replay("sorted.jsonl", &sorted, "1");
    // b worked 08:00:05 to 13:00: its warning and violation, and no alert of a.
    assert_eq!(expected.lines().count(), 2, "{expected}");
    assert!(!expected.contains(r#""worker_id":"a""#), "{expected}");
    for threads in ["1", "2", "4"] {
        assert_eq!(
            replay("read.jsonl", &read, threads),
            expected,
            "--threads {threads}"
        );
    }
}

/// SPEC section 5: a duplicate changes nothing, not even the end of event time. A copy read
/// first and replaced by one with an earlier `ts` left its `ts` as replay's end of time (a
/// warning the sorted input does not reach) and as the day the report closes (a day of 24 h
/// of work after it).
#[test]
fn a_replaced_copy_moves_neither_replays_end_of_time_nor_the_reports_last_day() {
    let dir = scratch("copies-end");
    let line = |kind: &str, ts: &str, id: &str| {
        format!(
            r#"{{"worker_id":"a","kind":"{kind}","ts":"2026-03-{ts}+08:00","event_id":"{id}","platform":"p","city":"c"}}"#
        )
    };
    let write = |name: &str, lines: &[String]| {
        let input = dir.join(name);
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        input
    };
    // The warning of continuous work comes at 11:45; the input, sorted, ends at 11:44:50.
    let read = [
        line("login", "02T08:00:00", "l"),
        line("heartbeat", "02T11:45:10", "x"),
        line("heartbeat", "02T11:44:50", "x"),
    ];
    let sorted = [read[0].clone(), read[2].clone(), read[1].clone()];
    let (read, sorted) = (write("read.jsonl", &read), write("sorted.jsonl", &sorted));
    for threads in ["1", "2", "4"] {
        for input in [&read, &sorted] {
            let output = run(bin().args(["replay", "--threads", threads]).arg(input));
            assert!(output.status.success(), "{}", stderr(&output));
            assert_eq!(stdout(&output), "", "--threads {threads}, {input:?}");
            assert_duplicates(&output, 1);
        }
    }
    // The report: the copy read first is stamped just after midnight, the one counted just
    // before: the month's last day with work is the 2nd, 4 h of it.
    let read = [
        line("login", "02T20:00:00", "l"),
        line("heartbeat", "03T00:00:10", "x"),
        line("heartbeat", "02T23:59:50", "x"),
    ];
    let sorted = [read[0].clone(), read[2].clone(), read[1].clone()];
    let report = |input: &std::path::Path| {
        let output = run(bin()
            .args(["report", "--month", "2026-03", "--format", "csv"])
            .arg(input));
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let expected = report(&write("report-sorted.jsonl", &sorted));
    let total = expected.lines().find(|l| l.starts_with("total,")).unwrap();
    assert!(total.contains(",1,1,1,100.0,0,0.0,4.00,"), "{expected}");
    assert_eq!(report(&write("report-read.jsonl", &read)), expected);
}

/// SPEC section 5: within the lateness, the alerts are those of the events sorted by `ts`, and
/// replay's output is deterministic: a shuffle within the lateness gives the same bytes. At
/// one instant alerts (and holds) come in the order of their key, not in the order in which
/// the workers' first events arrived.
#[test]
fn a_shuffle_within_the_lateness_gives_the_same_bytes() {
    let dir = scratch("shuffle-ties");
    let config = dir.join("mohrss.toml");
    std::fs::write(&config, "[rules]\npack = \"cn-mohrss-2024\"\n").unwrap();
    let line = |worker: &str, kind: &str, ts: &str| {
        format!(
            r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-03-02T{ts}+08:00","order_id":"o1"}}"#
        )
    };
    // Three workers log in and take an order at 08:00; w1's first event is a heartbeat 5 s
    // earlier. Sorted by `ts`, w1 comes first; as read, w3 then w2.
    let sorted = [
        line("w1", "heartbeat", "07:59:55"),
        line("w3", "login", "08:00:00"),
        line("w2", "login", "08:00:00"),
        line("w1", "login", "08:00:00"),
        line("w3", "order_accepted", "08:00:00"),
        line("w2", "order_accepted", "08:00:00"),
        line("w1", "order_accepted", "08:00:00"),
        line("w9", "heartbeat", "12:30:00"),
    ];
    let mut shuffled = sorted.clone();
    shuffled[..4].rotate_left(1);
    let outputs: Vec<(String, String)> = [&sorted, &shuffled]
        .into_iter()
        .enumerate()
        .flat_map(|(n, lines)| {
            let input = dir.join(format!("in{n}.jsonl"));
            std::fs::write(&input, lines.join("\n") + "\n").unwrap();
            ["1", "2"].map(|threads| {
                let holds = dir.join(format!("holds{n}-{threads}.jsonl"));
                let output = run(bin()
                    .args(["replay", "--threads", threads, "--config"])
                    .arg(&config)
                    .arg("--holds")
                    .arg(&holds)
                    .arg(&input));
                assert!(output.status.success(), "{}", stderr(&output));
                (stdout(&output), std::fs::read_to_string(&holds).unwrap())
            })
        })
        .collect();
    for other in &outputs[1..] {
        assert_eq!(other, &outputs[0]);
    }
    let (alerts, holds) = &outputs[0];
    let workers = |text: &str| -> Vec<String> {
        text.lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                format!(
                    "{} {}",
                    value["at"].as_str().or(value["from"].as_str()).unwrap(),
                    value["worker_id"]
                )
            })
            .collect()
    };
    let alerts = workers(alerts);
    assert!(alerts.len() >= 6, "{alerts:?}");
    let mut in_order = alerts.clone();
    in_order.sort();
    assert_eq!(alerts, in_order);
    let holds = workers(holds);
    assert_eq!(
        holds,
        ["w1", "w2", "w3"].map(|w| format!("2026-03-02T12:00:00.000+08:00 \"{w}\""))
    );
}

/// A `person_id` spelled as a stand-alone worker id shares its Kafka key: at one instant
/// their alerts came in the order in which each subject's first event arrived, so a swap
/// within the lateness changed replay's bytes (audit P D3). Now the worker id's come first.
#[test]
fn a_person_and_a_worker_id_of_one_spelling_keep_their_order_under_a_shuffle() {
    let dir = scratch("same-key");
    let config = dir.join("persons.toml");
    std::fs::write(
        &config,
        "[rules]\nsubject = \"person\"\ncontinuous_limit = \"30m\"\nwarn_before = \"5m\"\nmin_break = \"3m\"\n",
    )
    .unwrap();
    let lines = [
        r#"{"worker_id":"w1","kind":"heartbeat","ts":"2026-03-02T09:59:50+08:00","platform":"meituan"}"#,
        r#"{"worker_id":"zz","kind":"heartbeat","ts":"2026-03-02T09:59:55+08:00","platform":"didi","person_id":"w1"}"#,
        r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T10:00:00+08:00","platform":"meituan"}"#,
        r#"{"worker_id":"zz","kind":"login","ts":"2026-03-02T10:00:00+08:00","platform":"didi"}"#,
        r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T10:40:00+08:00","platform":"meituan"}"#,
        r#"{"worker_id":"zz","kind":"logout","ts":"2026-03-02T10:40:00+08:00","platform":"didi"}"#,
    ];
    let mut outputs = Vec::new();
    for order in [[0, 1, 2, 3, 4, 5], [1, 0, 2, 3, 4, 5]] {
        let input = dir.join(format!("in-{}.jsonl", order[0]));
        let text: String = order.iter().map(|&i| format!("{}\n", lines[i])).collect();
        std::fs::write(&input, text).unwrap();
        let output = run(bin().args(["replay", "--config"]).arg(&config).arg(&input));
        assert!(output.status.success(), "{}", stderr(&output));
        outputs.push(stdout(&output));
    }
    let subjects: Vec<(String, String)> = outputs[0]
        .lines()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            let subject = if alert["worker_id"].is_string() {
                "worker_id"
            } else {
                "person_id"
            };
            (
                alert["at"].as_str().unwrap()[11..16].to_owned(),
                subject.to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("10:25", "worker_id"),
        ("10:25", "person_id"),
        ("10:30", "worker_id"),
        ("10:30", "person_id"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(subjects, expected);
    assert_eq!(outputs[0], outputs[1]);
}

/// A `WORKHOURS_` variable whose name is not UTF-8 names no key: it stops the program as
/// another such variable does (audit X: it was silently ignored).
#[test]
fn a_variable_name_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    // The config is read before the input, and an empty input replays fine.
    let name = std::ffi::OsStr::from_bytes(b"WORKHOURS_RULES__MIN_BR\xffEAK");
    let output = run_within(bin().args(["replay", "/dev/null"]).env(name, "25m"), 10);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("not valid UTF-8"), "{message}");
}

/// The replay summary's counts stand in one column, also when a pack's rule id with its phase
/// is longer than the default label width (`didi2018_continuous/violation`, 29 characters).
#[test]
fn the_summary_counts_stay_in_one_column_with_long_rule_ids() {
    let dir = scratch("summary-columns");
    let config = dir.join("didi.toml");
    std::fs::write(&config, "[rules]\npack = \"didi-2018\"\n").unwrap();
    let input = dir.join("in.jsonl");
    let lines = [
        r#"{"worker_id":"a","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"didi"}"#,
        r#"{"worker_id":"a","kind":"order_accepted","ts":"2026-03-02T08:00:00+08:00","order_id":"o1"}"#,
        r#"{"worker_id":"a","kind":"order_delivered","ts":"2026-03-02T13:00:00+08:00","order_id":"o1","fee_cents":9000}"#,
        "not json",
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let output = run(bin().arg("replay").arg("--config").arg(&config).arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stderr(&output);
    assert!(
        summary.contains("didi2018_continuous/violation"),
        "{summary}"
    );
    let rows: Vec<&str> = summary
        .lines()
        .skip_while(|line| *line != "workhours replay summary")
        .skip(1)
        .collect();
    assert!(rows.len() > 10, "{summary}");
    let ends: std::collections::BTreeSet<usize> = rows
        .iter()
        .map(|row| row.trim_end().chars().count())
        .collect();
    assert_eq!(ends.len(), 1, "counts end in different columns:\n{summary}");
    // Each label and its count stay apart.
    assert!(rows.iter().all(|row| row.trim().contains(' ')), "{summary}");
}

/// `run` raises its soft limit on open files to the hard one, so that a few hundred held HTTP
/// connections cannot take the last descriptor from `/healthz` and librdkafka under a shell's
/// default soft limit of 1,024.
#[cfg(target_os = "linux")]
#[test]
fn run_raises_its_open_files_limit_to_the_hard_one() {
    let dir = scratch("run-nofile");
    let config = dir.join("run.toml");
    let port = common::free_port();
    std::fs::write(
        &config,
        format!("[kafka]\nbrokers = \"127.0.0.1:1\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 64 && exec \"$0\" run --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_workhours"))
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_200(&mut child, port, "/healthz");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    common::signal_and_wait(&mut child, "TERM", std::time::Duration::from_secs(15));
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    let hard: u64 = numbers[1].parse().unwrap_or(u64::MAX);
    assert!(hard > 64, "the hard limit here is too low to tell: {line}");
    assert_eq!(
        numbers[0].parse::<u64>().unwrap(),
        hard.min(1 << 20),
        "{line}"
    );
}

/// A limit configured with milliseconds reads with them in the alert's message
/// (`min_break = "500ms"` read "a break of at least 0s", a value the config refuses).
#[test]
fn messages_give_a_configured_limit_to_the_millisecond() {
    let dir = scratch("limit-ms");
    let config = dir.join("ms.toml");
    std::fs::write(
        &config,
        "[rules]\nmin_break = \"500ms\"\ncontinuous_limit = \"1h 500ms\"\n",
    )
    .unwrap();
    let input = dir.join("in.jsonl");
    let lines = [
        r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00"}"#,
        r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T12:30:00+08:00"}"#,
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let output = run(bin().arg("replay").arg("--config").arg(&config).arg(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let alerts = stdout(&output);
    let violation = alerts
        .lines()
        .find(|line| line.contains(r#""phase":"violation""#))
        .unwrap_or_else(|| panic!("no violation: {alerts}"));
    assert!(
        violation.contains("without a break of at least 500ms (limit 1h 500ms)"),
        "{violation}"
    );
}
