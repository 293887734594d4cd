//! The hand-computed cases of every shipped pack (`tests/packs/*.toml`, format in the files'
//! headers and `docs/pack-format.md`), run through the engine as replay runs it: each case's
//! events in order, event time to `until`, then its rules' alerts and holds compared exactly.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::path::Path;
use workhours::alert::{Alert, Amount, Hold};
use workhours::config::Config;
use workhours::engine::Engine;
use workhours::event;

struct File {
    name: String,
    pack: String,
    zone: Tz,
    date: NaiveDate,
    role: String,
}

/// `[YYYY-MM-DD ]HH:MM[:SS[.mmm]]` in the file's zone, epoch ms.
fn instant(file: &File, text: &str) -> i64 {
    let (date, time) = match text.split_once(' ') {
        Some((date, time)) => (date.parse().expect("a date"), time),
        None => (file.date, text),
    };
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .unwrap_or_else(|_| panic!("{}: bad time {text:?}", file.name));
    let local = NaiveDateTime::new(date, time);
    file.zone
        .from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| panic!("{}: {text:?} does not exist in the zone", file.name))
        .timestamp_millis()
}

/// Splits `[DATE ]TIME rest...` into the instant and the rest of the words.
fn timed<'a>(file: &File, line: &'a str) -> (i64, Vec<&'a str>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let dated = words[0].len() == 10 && words[0].as_bytes()[4] == b'-';
    let (time, rest) = if dated {
        (format!("{} {}", words[0], words[1]), words[2..].to_vec())
    } else {
        (words[0].to_owned(), words[1..].to_vec())
    };
    (instant(file, &time), rest)
}

/// A `key=value` word's value, where the value may be `[DATE ]TIME` split over two words.
fn kv(words: &[&str], key: &str) -> Option<String> {
    let at = words
        .iter()
        .position(|w| w.starts_with(&format!("{key}=")))?;
    let value = &words[at][key.len() + 1..];
    let next = words
        .get(at + 1)
        .filter(|w| !w.contains('=') && w.contains(':'));
    Some(match next {
        Some(time) if value.len() == 10 => format!("{value} {time}"),
        _ => value.to_owned(),
    })
}

fn event_line(file: &File, line: &str) -> String {
    let (ts, words) = timed(file, line);
    let kind = words[0];
    let mut json = serde_json::Map::new();
    json.insert("worker_id".into(), "w1".into());
    json.insert("kind".into(), kind.into());
    json.insert("ts".into(), ts.into());
    json.insert("platform".into(), "p1".into());
    json.insert("role".into(), file.role.clone().into());
    json.insert("city".into(), "c1".into());
    for word in &words[1..] {
        match word.split_once('=') {
            None if kind == "activity" => {
                json.insert("activity".into(), (*word).into());
            }
            None => {
                json.insert("order_id".into(), (*word).into());
            }
            Some((key, value)) => {
                let field = match key {
                    "worker" => "worker_id",
                    "fee" => "fee_cents",
                    "id" => "event_id",
                    "person" => "person_id",
                    other => other,
                };
                let value: serde_json::Value = match key {
                    "fee" => value.parse::<u64>().expect("a fee").into(),
                    _ => value.into(),
                };
                json.insert(field.into(), value);
            }
        }
    }
    serde_json::Value::Object(json).to_string()
}

/// `(at, rule, phase, value, limit, start, worker)` with the optional parts left as `None`
/// when the expectation does not give them.
type Expected = (
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
);

fn expected_alert(file: &File, line: &str) -> Expected {
    let (at, words) = timed(file, line);
    let number = |key: &str| kv(&words, key).map(|v| v.parse::<i64>().expect("seconds"));
    (
        at,
        words[0].to_owned(),
        words[1].to_owned(),
        number("value"),
        number("limit"),
        kv(&words, "start").map(|t| instant(file, &t)),
        kv(&words, "worker").unwrap_or_else(|| "w1".into()),
    )
}

fn actual_alert(a: &Alert, want: &Expected) -> Expected {
    let (value, limit) = match a.amount {
        Amount::Seconds { value, limit } => (value, limit),
        Amount::CentsPerHour { value, limit } => (value as i64, limit as i64),
    };
    (
        a.at,
        a.rule.to_string(),
        a.phase.as_str().to_owned(),
        want.3.map(|_| value),
        want.4.map(|_| limit),
        want.5.map(|_| a.period_start),
        a.worker_id.clone().unwrap_or_default(),
    )
}

fn hold_line(file: &File, line: &str) -> (String, i64, i64, String) {
    let words: Vec<&str> = line.split_whitespace().collect();
    (
        words[0].to_owned(),
        instant(file, &kv(&words, "from").expect("from=")),
        instant(file, &kv(&words, "until").expect("until=")),
        kv(&words, "worker").unwrap_or_else(|| "w1".into()),
    )
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// TOML text of a table of tables of scalars (the config of a case).
fn render(table: &toml::Table, prefix: &str, out: &mut String) {
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => serde_json::Value::from(s.as_str()).to_string(),
        other => format!("{other:?}")
            .replace("Integer(", "")
            .replace(')', ""),
    };
    for (key, value) in table {
        if !matches!(value, toml::Value::Table(_)) {
            let text = match value {
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => format!("{f:?}"),
                toml::Value::Boolean(b) => b.to_string(),
                other => scalar(other),
            };
            out.push_str(&format!("{key} = {text}\n"));
        }
    }
    for (key, value) in table {
        if let toml::Value::Table(inner) = value {
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.push_str(&format!("[{name}]\n"));
            render(inner, &name, out);
        }
    }
}

fn show(file: &File, ms: i64) -> String {
    workhours::timefmt::format_rfc3339(ms, &file.zone)
}

/// Runs one file's cases; returns the failures, described.
fn run_file(path: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let string = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let file = File {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        pack: string(&doc, "pack").expect("pack"),
        zone: string(&doc, "zone")
            .unwrap_or_else(|| "Asia/Shanghai".into())
            .parse()
            .expect("a zone"),
        date: string(&doc, "date")
            .unwrap_or_else(|| "2026-03-02".into())
            .parse()
            .expect("a date"),
        role: string(&doc, "role").unwrap_or_else(|| "rider".into()),
    };
    let cases = doc["case"].as_array().expect("[[case]]");
    let mut failures = Vec::new();
    for case in cases {
        let case = case.as_table().unwrap();
        let name = string(case, "name").unwrap();
        let mut config: toml::Table = format!(
            "[rules]\npack = \"{}\"\n[time]\nzone = \"{}\"\n",
            file.pack, file.zone
        )
        .parse()
        .unwrap();
        if let Some(extra) = string(case, "config") {
            merge(&mut config, extra.parse().expect("case config"));
        }
        let mut text = String::new();
        render(&config, "", &mut text);
        let config = Config::from_toml_str(&text, Vec::new())
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", file.name));
        let lines = |key: &str| -> Vec<String> {
            case.get(key)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        let rules = lines("rules");
        let mut engine = Engine::new(config);
        for line in lines("events") {
            let json = event_line(&file, &line);
            let parsed = event::parse(json.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {name}: {line}: {e}", file.name));
            engine.push(&parsed);
            engine.advance();
        }
        engine.finish(instant(&file, &string(case, "until").expect("until")));
        let alerts: Vec<Alert> = engine
            .take_alerts()
            .into_iter()
            .filter(|a| rules.iter().any(|r| **r == *a.rule))
            .collect();
        let holds: Vec<Hold> = engine
            .take_holds()
            .into_iter()
            .filter(|h| rules.iter().any(|r| **r == *h.rule))
            .collect();
        let want: Vec<Expected> = lines("expect")
            .iter()
            .map(|l| expected_alert(&file, l))
            .collect();
        let got: Vec<Expected> = alerts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let pattern = want.get(i).cloned().unwrap_or((
                    0,
                    String::new(),
                    String::new(),
                    Some(0),
                    Some(0),
                    Some(0),
                    String::new(),
                ));
                actual_alert(a, &pattern)
            })
            .collect();
        let fmt = |e: &Expected| {
            format!(
                "{} {} {} value={:?} limit={:?} start={:?} worker={}",
                show(&file, e.0),
                e.1,
                e.2,
                e.3,
                e.4,
                e.5.map(|s| show(&file, s)),
                e.6
            )
        };
        if got != want {
            failures.push(format!(
                "{} / {name}\n  want alerts:\n    {}\n  got:\n    {}",
                file.name,
                want.iter().map(fmt).collect::<Vec<_>>().join("\n    "),
                got.iter().map(fmt).collect::<Vec<_>>().join("\n    ")
            ));
        }
        let want_holds: Vec<(String, i64, i64, String)> =
            lines("holds").iter().map(|l| hold_line(&file, l)).collect();
        let got_holds: Vec<(String, i64, i64, String)> = holds
            .iter()
            .map(|h| (h.rule.to_string(), h.from, h.until, h.worker_id.clone()))
            .collect();
        if case.contains_key("holds") && got_holds != want_holds {
            let fmt = |h: &(String, i64, i64, String)| {
                format!(
                    "{} from={} until={} worker={}",
                    h.0,
                    show(&file, h.1),
                    show(&file, h.2),
                    h.3
                )
            };
            failures.push(format!(
                "{} / {name}\n  want holds:\n    {}\n  got:\n    {}",
                file.name,
                want_holds
                    .iter()
                    .map(fmt)
                    .collect::<Vec<_>>()
                    .join("\n    "),
                got_holds.iter().map(fmt).collect::<Vec<_>>().join("\n    ")
            ));
        }
    }
    (cases.len(), failures)
}

#[test]
fn every_pack_case_gives_the_hand_computed_alerts_and_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "the case files of the shipped packs");
    let mut total = 0;
    let mut failures = Vec::new();
    for path in &paths {
        let (n, f) = run_file(path);
        total += n;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// SPEC section 7 via the simulator: every rule of every shipped pack fires on a simulated
/// week of `--mix packs` (the EU's fortnightly rule on two weeks), with holds where the pack
/// holds.
#[test]
fn every_rule_of_every_pack_fires_on_a_simulated_week() {
    let bin = env!("CARGO_BIN_EXE_workhours");
    let dir = std::env::temp_dir().join(format!("workhours-packs-week-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = |days: u32| {
        let path = dir.join(format!("week-{days}.jsonl"));
        if !path.exists() {
            let out = std::process::Command::new(bin)
                .args([
                    "simulate",
                    "--workers",
                    "700",
                    "--seed",
                    "1",
                    "--mix",
                    "packs",
                ])
                .args(["--days", &days.to_string(), "--output"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        path
    };
    let mut missing = Vec::new();
    for (pack, text) in workhours::pack::SHIPPED {
        if pack == workhours::pack::DEFAULT_PACK {
            continue;
        }
        let days = if pack == "eu-561" { 14 } else { 7 };
        let config = dir.join(format!("{pack}.toml"));
        std::fs::write(&config, format!("[rules]\npack = \"{pack}\"\n")).unwrap();
        let holds = dir.join(format!("{pack}.holds"));
        let out = std::process::Command::new(bin)
            .arg("replay")
            .arg("--config")
            .arg(&config)
            .arg("--holds")
            .arg(&holds)
            .arg(stream(days))
            .output()
            .unwrap();
        assert!(out.status.success(), "{pack}: {out:?}");
        let alerts = String::from_utf8(out.stdout).unwrap();
        let holds = std::fs::read_to_string(&holds).unwrap();
        // Messages read "reaching <label> of <limit>": a label that gives the number itself
        // ("56 hours of weekly driving") said it twice.
        for line in alerts.lines() {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            let message = alert["message"].as_str().unwrap();
            if let Some((_, after)) = message.split_once("reaching ")
                && after.starts_with(|c: char| c.is_ascii_digit())
            {
                missing.push(format!(
                    "{pack}: {} says the number twice: {message}",
                    alert["rule"]
                ));
            }
        }
        let parsed = workhours::pack::Pack::parse(text, pack).unwrap();
        for rule in &parsed.rules {
            let fired = format!(r#""rule":"{}","phase":"violation""#, rule.id);
            if !alerts.contains(&fired) {
                missing.push(format!("{pack}: {} never fired", rule.id));
            }
            let hold = rule.params.get("hold").and_then(|v| v.as_bool()) == Some(true);
            if hold && !holds.contains(&format!(r#""rule":"{}""#, rule.id)) {
                missing.push(format!("{pack}: {} never held", rule.id));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
