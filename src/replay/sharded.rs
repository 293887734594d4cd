//! Sharded replay (`replay --threads N`): workers spread over several engines, outputs merged
//! into the bytes and order of one engine.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::{Blocks, Report, Sink, is_blank, lines};
use crate::alert::Phase;
use crate::config::Config;
use crate::engine::{Engine, Stats};
use crate::event;

/// Replays `input` on `threads` engines, each holding the workers whose key hashes to it
/// (persons: whose person does), to event time `until` (else the largest `ts`).
///
/// Parsing runs on every thread; the one serial step decides, in input order, what each event
/// is (bad, after `--until`, a duplicate, late, or admitted, and to which engine) from its
/// worker, id and `ts` only, and moves the watermark as one engine would. After each block of
/// input every engine runs to that watermark; their alerts and holds are merged in the
/// processing order one engine would have emitted them in ([`crate::engine::Step`]) and
/// `quota_p90` is computed over their day reports. So the output is byte for byte that of
/// one thread, in the same order.
pub fn replay_sharded(
    config: Config,
    until: Option<i64>,
    input: impl Read,
    threads: usize,
    track_days: bool,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
) -> io::Result<Report> {
    use crate::engine::{DayReport, id_digest};
    use crate::event::Event;
    use std::hash::{Hash, Hasher};

    let threads = threads.max(1);
    let lateness = config.time.allowed_lateness;
    let window = config.time.dedup_window;
    let persons = config.subject == crate::config::Subject::Person;
    let mut engines: Vec<Engine> = (0..threads)
        .map(|_| {
            let mut engine = Engine::new(config.clone()).sharded();
            if track_days {
                engine.track_days();
            }
            engine
        })
        .collect();
    let mut report = Report::default();
    let mut stats = Stats::default();
    let mut dedup = crate::engine::Dedup::default();
    let mut person_of: rustc_hash::FxHashMap<Box<str>, Box<str>> = Default::default();
    let mut max_ts: Option<i64> = None;
    let mut reports: BTreeMap<i32, DayReport> = BTreeMap::new();
    let shard_of = |key: &str| -> usize {
        let mut hasher = rustc_hash::FxHasher::default();
        key.hash(&mut hasher);
        (hasher.finish() % threads as u64) as usize
    };
    let mut blocks = Blocks::new(input);
    while let Some(block) = blocks.next()? {
        // Lines of the block, numbered; blank ones counted and dropped.
        let mut numbered: Vec<(u64, &[u8])> = Vec::new();
        for line in lines(block) {
            report.lines += 1;
            if is_blank(line) {
                report.blank += 1;
            } else {
                numbered.push((report.lines, line));
            }
        }
        // Parse on every thread.
        let parse = parse_chunk;
        let chunk = numbered.len().div_ceil(threads).max(1);
        let parsed: Vec<Result<Event<'_>, event::BadEvent>> = if threads == 1 {
            parse(&numbered)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = numbered
                    .chunks(chunk)
                    .map(|c| scope.spawn(move || parse(c)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("a parse thread panicked"))
                    .collect()
            })
        };
        // Admission, in input order: what one engine's push would decide.
        let mut routed: Vec<Vec<usize>> = vec![Vec::new(); threads];
        for (i, parsed) in parsed.iter().enumerate() {
            let line_number = numbered[i].0;
            let event = match parsed {
                Ok(event) => event,
                Err(bad) => {
                    *report.bad.entry(bad.reason).or_default() += 1;
                    writeln!(diag, "line {line_number}: bad event: {bad}")?;
                    continue;
                }
            };
            if until.is_some_and(|end| event.ts > end) {
                report.after_until += 1;
                continue;
            }
            let watermark = max_ts.map_or(crate::engine::NEVER, |max| max - lateness);
            if let Some(id) = event.event_id.as_deref() {
                let digest = id_digest(&event.worker_id, id);
                if !dedup.insert(digest, event.ts.saturating_add(window), watermark) {
                    stats.duplicates += 1;
                    continue;
                }
            }
            if event.ts < watermark {
                stats.late += 1;
                continue;
            }
            max_ts = Some(max_ts.map_or(event.ts, |max| max.max(event.ts)));
            stats.accepted += 1;
            let shard = if persons {
                let worker: &str = &event.worker_id;
                let key = match (&event.person_id, person_of.get(worker)) {
                    (_, Some(person)) => format!("p{person}"),
                    (Some(person), None) => {
                        person_of.insert(worker.into(), person.as_ref().into());
                        format!("p{person}")
                    }
                    (None, None) => format!("w{worker}"),
                };
                shard_of(&key)
            } else {
                shard_of(&event.worker_id)
            };
            routed[shard].push(i);
        }
        let watermark = max_ts.map_or(crate::engine::NEVER, |max| max - lateness);
        // Every engine takes its events and runs to the watermark.
        let run = |engine: &mut Engine, indices: &[usize]| {
            for &i in indices {
                if let Ok(event) = &parsed[i] {
                    engine.push_admitted(event, numbered[i].0);
                }
            }
            engine.advance_to(watermark);
        };
        if threads == 1 {
            run(&mut engines[0], &routed[0]);
        } else {
            std::thread::scope(|scope| {
                for (engine, indices) in engines.iter_mut().zip(&routed) {
                    let run = &run;
                    scope.spawn(move || run(engine, indices));
                }
            });
        }
        drain_sharded(
            &config,
            &mut engines,
            &mut reports,
            Some(watermark),
            sink,
            diag,
            &mut report,
        )?;
    }
    if let Some(end) = until.or(max_ts) {
        for engine in &mut engines {
            engine.finish(end);
        }
    }
    drain_sharded(
        &config,
        &mut engines,
        &mut reports,
        None,
        sink,
        diag,
        &mut report,
    )?;
    for engine in &engines {
        stats.merge(engine.stats());
    }
    // The sharded engines count their own admitted events too.
    stats.accepted -= engines.iter().map(|e| e.stats().accepted).sum::<u64>();
    stats.duplicates -= engines.iter().map(|e| e.stats().duplicates).sum::<u64>();
    stats.late -= engines.iter().map(|e| e.stats().late).sum::<u64>();
    for (rule, counts) in &report.quota_counts {
        let mine = stats.alerts.entry(rule.clone()).or_default();
        mine[Phase::Violation as usize] += counts;
    }
    report.engine = stats;
    Ok(report)
}

/// Parses numbered lines.
fn parse_chunk<'a>(chunk: &[(u64, &'a [u8])]) -> Vec<Result<event::Event<'a>, event::BadEvent>> {
    chunk.iter().map(|&(_, line)| event::parse(line)).collect()
}

/// Merges what the engines produced: alerts and holds in processing order, `quota_p90` of the
/// days every engine has closed (all, at the end: `before = None`), refused events by line.
#[allow(clippy::too_many_arguments)]
fn drain_sharded(
    config: &Config,
    engines: &mut [Engine],
    reports: &mut BTreeMap<i32, crate::engine::DayReport>,
    before: Option<i64>,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
    report: &mut Report,
) -> io::Result<()> {
    let mut rejected = Vec::new();
    let mut alerts = Vec::new();
    let mut holds = Vec::new();
    for engine in engines.iter_mut() {
        rejected.extend(engine.take_rejected());
        alerts.extend(engine.take_alerts());
        holds.extend(engine.take_holds());
        for day in engine.take_reports() {
            match reports.get_mut(&day.day) {
                Some(merged) => merged.entries.extend(day.entries),
                None => {
                    reports.insert(day.day, day);
                }
            }
        }
        for day in engine.take_days() {
            sink.day(day);
        }
    }
    // A day ending before the watermark is closed by every engine that had work on it.
    let done: Vec<i32> = reports
        .iter()
        .filter(|(_, r)| before.is_none_or(|w| r.end < w))
        .map(|(&day, _)| day)
        .collect();
    for day in done {
        let mut merged = reports.remove(&day).expect("listed");
        // The order one engine lists them in does not matter: groups are sorted.
        merged.entries.sort();
        for (n, mut alert) in crate::engine::quota_alerts(config, &merged)
            .into_iter()
            .enumerate()
        {
            alert.order = crate::engine::Place(crate::engine::Step::quota(merged.end), n as u32);
            *report
                .quota_counts
                .entry(alert.rule.to_string())
                .or_default() += 1;
            alerts.push(alert);
        }
    }
    rejected.sort_unstable();
    for (line, reason) in rejected {
        *report.bad.entry(reason).or_default() += 1;
        writeln!(
            diag,
            "line {line}: bad event: {}: an order start while the worker already has {} active orders",
            reason.code(),
            crate::engine::MAX_ACTIVE_ORDERS
        )?;
    }
    alerts.sort_by_key(|a| a.order.key());
    holds.sort_by_key(|h| h.order.key());
    for alert in alerts {
        report.alerts += 1;
        sink.alert(alert)?;
    }
    for hold in holds {
        sink.hold(hold)?;
    }
    Ok(())
}
