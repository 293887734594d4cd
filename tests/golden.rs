//! The default pack gives exactly the alerts of the engine before rule packs (SPEC section 7:
//! "the default pack gives exactly the alerts of section 4, byte for byte"), with one engine
//! and with workers sharded over several (`replay --threads`). The SHA-256 of
//! `replay`'s output for simulated streams was recorded with the release before packs
//! (commit e2805a8: weeks, a DST zone, platform and role overrides, session timeouts with
//! heartbeats, duplicates, bad lines and jitter); any change to the default pack's output fails
//! here.
//!
//! Since alerts at one instant are written in the order of their key (SPEC section 5: a
//! shuffle within the lateness gives the same bytes), the hashes are those of that release's
//! output with each run of alerts of equal `at` stably sorted by key: the same alerts, with
//! the same bytes each, in that order. (Its own output's hashes, in its tie order, were
//! 4c0f7396…, 9eee7b0b…, bc22863b…, b7f120e5… and 149285b2…; both were checked against the
//! binary of b3d180a, whose output was still byte-identical to it.)

use sha2::{Digest, Sha256};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_workhours");

const OVERRIDES: &str = r#"
[rules]
quota_min_workers = 3
[rules.platform.meituan]
continuous_limit = "3h"
warn_before = "30m"
daily_standard = "7h"
[rules.platform.didi]
min_break = "30m"
minimum_wage_cents_per_hour = 2500
[rules.role.trucker]
daily_max = "10h"
weekly_max = "40h"
monthly_overtime_max = "20h"
"#;

/// (name, simulate options, config, SHA-256 of the alerts of the release before packs, ties
/// by key).
const CASES: [(&str, &str, &str, &str); 5] = [
    (
        "two weeks",
        "--workers 300 --days 14 --seed 11",
        "",
        "9bdaffab36023d01cf8fbc767ab75d3ea29d776eb55ba6885e49bed583ba0d42",
    ),
    (
        "two weeks with overrides",
        "--workers 300 --days 14 --seed 11",
        OVERRIDES,
        "24f8f607d17b93f88b1836fb04a838e977c870e46c8f607629351c7d87dcf373",
    ),
    (
        "Berlin across the spring DST change",
        "--workers 200 --days 10 --seed 12 --start 2026-03-23",
        "[time]\nzone = \"Europe/Berlin\"\n",
        "c0406ea3eda664d64efc26f9d7eef6af5a685710afe0f93ccaf6dc37b91f2ceb",
    ),
    (
        "heartbeats, jitter and session timeouts",
        "--workers 80 --days 5 --seed 13 --heartbeat 60s --jitter 5s",
        "[rules]\nsession_timeout = \"3m\"\nquota_min_workers = 5\n",
        "9777babd1de77300f4a7bd971a8a89f2ed3da83fad5765200dce0a7042bc3acc",
    ),
    (
        "duplicates, bad lines and jitter with overrides",
        "--workers 200 --days 9 --seed 14 --duplicates 0.01 --bad-lines 0.01 --jitter 20s",
        OVERRIDES,
        "b98e4fee4d3a70a5eb3bb7c32acf20feb2297b168529fe6b55f02416a9b6c3a6",
    ),
];

#[test]
fn the_default_pack_replays_byte_for_byte_as_before_packs() {
    let dir = std::env::temp_dir().join(format!("workhours-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (i, (name, options, config, want)) in CASES.iter().enumerate() {
        let config_path = dir.join(format!("config-{i}.toml"));
        std::fs::write(&config_path, config).unwrap();
        let stream = dir.join(format!("stream-{i}.jsonl"));
        let mut simulate = Command::new(BIN);
        simulate.arg("simulate").args(options.split_whitespace());
        simulate.arg("--output").arg(&stream);
        if options.contains("--start") {
            simulate.arg("--config").arg(&config_path);
        }
        let status = simulate.output().unwrap();
        assert!(
            status.status.success(),
            "{name}: simulate failed: {status:?}"
        );
        // One engine, and workers sharded over three: the same bytes.
        for threads in ["1", "3"] {
            let replay = Command::new(BIN)
                .arg("replay")
                .args(["--threads", threads])
                .arg("--config")
                .arg(&config_path)
                .arg(&stream)
                .output()
                .unwrap();
            assert!(replay.status.success(), "{name}: replay failed");
            assert!(!replay.stdout.is_empty(), "{name}: no alert at all");
            let got = format!("{:x}", Sha256::digest(&replay.stdout));
            if got != *want {
                failures.push(format!(
                    "{name}, {threads} threads: sha256 {got}, before packs {want}"
                ));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sharded replay gives one engine's bytes with every kind of rule, holds and persons too.
#[test]
fn threads_change_no_byte_with_packs_holds_and_persons() {
    let dir = std::env::temp_dir().join(format!("workhours-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = dir.join("stream.jsonl");
    let out = Command::new(BIN)
        .args([
            "simulate",
            "--workers",
            "300",
            "--days",
            "9",
            "--seed",
            "21",
        ])
        .args(["--mix", "packs", "--persons", "0.3", "--duplicates", "0.01"])
        .args(["--bad-lines", "0.01", "--jitter", "20s", "--output"])
        .arg(&stream)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let configs = [
        "[rules.role.trucker]\npack = \"eu-561\"\n[rules.role.driver]\npack = \"cn-road-traffic\"\n[rules.platform.eleme]\npack = \"cn-mohrss-2024\"\n",
        "[rules]\nsubject = \"person\"\nquota_min_workers = 2\n[rules.person]\npack = \"cn-mohrss-2024\"\n",
    ];
    for (i, config) in configs.iter().enumerate() {
        let path = dir.join(format!("config-{i}.toml"));
        std::fs::write(&path, config).unwrap();
        let run = |threads: &str| {
            let holds = dir.join(format!("holds-{i}-{threads}"));
            let out = Command::new(BIN)
                .arg("replay")
                .args(["--threads", threads, "--config"])
                .arg(&path)
                .arg("--holds")
                .arg(&holds)
                .arg(&stream)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            (out.stdout, std::fs::read(&holds).unwrap())
        };
        let (alerts, holds) = run("1");
        assert!(!alerts.is_empty() && !holds.is_empty(), "config {i}");
        for threads in ["2", "4"] {
            let (a, h) = run(threads);
            assert!(
                a == alerts,
                "config {i}: alerts differ with {threads} threads"
            );
            assert!(
                h == holds,
                "config {i}: holds differ with {threads} threads"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
