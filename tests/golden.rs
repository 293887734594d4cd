//! The default pack gives exactly the alerts of the engine before rule packs (SPEC section 7:
//! "the default pack gives exactly the alerts of section 4, byte for byte"), with one engine
//! and with workers sharded over several (`replay --threads`). The SHA-256 of
//! `replay`'s output for simulated streams was recorded with the release before packs
//! (commit e2805a8: weeks, a DST zone, platform and role overrides, session timeouts with
//! heartbeats, duplicates, bad lines and jitter); any change to the default pack's output fails
//! here.

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

/// (name, simulate options, config, SHA-256 of the alerts of the release before packs).
const CASES: [(&str, &str, &str, &str); 5] = [
    (
        "two weeks",
        "--workers 300 --days 14 --seed 11",
        "",
        "4c0f73966e1573a10f8bd2a1554c41b9fe0c2fd7a8de88ed359aa494cb7088c6",
    ),
    (
        "two weeks with overrides",
        "--workers 300 --days 14 --seed 11",
        OVERRIDES,
        "9eee7b0b0811d25b2ddc9cc911c8229f00af507bfe55c1933ef0a52cfb2d4ff4",
    ),
    (
        "Berlin across the spring DST change",
        "--workers 200 --days 10 --seed 12 --start 2026-03-23",
        "[time]\nzone = \"Europe/Berlin\"\n",
        "bc22863b75d51a3fae2c95ea8cbf81c831b4e91ed7348c02fe8f2265a4dfe838",
    ),
    (
        "heartbeats, jitter and session timeouts",
        "--workers 80 --days 5 --seed 13 --heartbeat 60s --jitter 5s",
        "[rules]\nsession_timeout = \"3m\"\nquota_min_workers = 5\n",
        "b7f120e5ab89be872c4a4295b8f9f9eb68f2c29ee6dfd42bfc161ae73a9b266a",
    ),
    (
        "duplicates, bad lines and jitter with overrides",
        "--workers 200 --days 9 --seed 14 --duplicates 0.01 --bad-lines 0.01 --jitter 20s",
        OVERRIDES,
        "149285b20920d0465af4e332ee670b88c9cb6ea50b68bec608bec0566279591f",
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
