//! The default pack gives exactly the alerts of the engine before rule packs (SPEC section 7:
//! "the default pack gives exactly the alerts of section 4, byte for byte"), with one engine
//! and with workers sharded over several (`replay --threads`): any change to the default
//! pack's output fails here. The streams are simulated: weeks, a DST zone, platform and role
//! overrides, session timeouts with heartbeats, duplicates, bad lines and jitter.
//!
//! The SHA-256 of `replay`'s output for each stream was first recorded with the release
//! before packs (commit e2805a8), with each run of alerts of equal `at` stably sorted by key
//! (SPEC section 5: alerts at one instant are written in the order of their key, which is
//! what `replay` writes). The hashes below were re-recorded, by the same procedure, at the
//! change of the simulator's seed mixing (`rng::mix`, audit AB), which changed every simulated
//! stream; the engine was unchanged, and the old hashes (9bdaffab…, 24f8f607…, c0406ea3…,
//! 9777babd… and b98e4fee…) held at the base commit e2cea1c on the old streams.

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

/// (name, simulate options, config, SHA-256 of the alerts, ties by key; see the top).
const CASES: [(&str, &str, &str, &str); 5] = [
    (
        "two weeks",
        "--workers 300 --days 14 --seed 11",
        "",
        "0d92c1ab1d6de6f79b1ffcd86b6346dc13e2f154dc88cf123dab6333b0dfab03",
    ),
    (
        "two weeks with overrides",
        "--workers 300 --days 14 --seed 11",
        OVERRIDES,
        "f997cba224acedd80e91e32e8e6554df2219a6fd2452129ce40586b67cb9c813",
    ),
    (
        "Berlin across the spring DST change",
        "--workers 200 --days 10 --seed 12 --start 2026-03-23",
        "[time]\nzone = \"Europe/Berlin\"\n",
        "ae08b7098357303063e57244a1606261ec2607eb9fba67957adcd7a5eb4ad1c5",
    ),
    (
        "heartbeats, jitter and session timeouts",
        "--workers 80 --days 5 --seed 13 --heartbeat 60s --jitter 5s",
        "[rules]\nsession_timeout = \"3m\"\nquota_min_workers = 5\n",
        "c22ada9cb523d03657be62682b3ab4ed30518501780c5480832e8db748382add",
    ),
    (
        "duplicates, bad lines and jitter with overrides",
        "--workers 200 --days 9 --seed 14 --duplicates 0.01 --bad-lines 0.01 --jitter 20s",
        OVERRIDES,
        "97e6adc8a79e66c03ff58a7c1d4914e49d59132a4a047db4191b4eb8f00cb792",
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
                    "{name}, {threads} threads: sha256 {got}, recorded {want}"
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
