//! `--persons`: pseudonyms, the fraction of persons with two worker ids, and their shared days.

use super::packs::{Intervals, day_start, longest_episode, timeline, within};
use super::*;
use std::collections::BTreeSet;

fn with_persons(workers: u32, days: u32, fraction: f64) -> SimOptions {
    SimOptions {
        persons: Some(fraction),
        ..options(workers, days)
    }
}

#[test]
fn the_fraction_of_persons_with_two_ids_is_respected() {
    for fraction in [0.0, 0.1, 0.3, 1.0] {
        let profiles = worker_profiles(&with_persons(4000, 1, fraction));
        let mut ids: HashMap<&str, Vec<&WorkerProfile>> = HashMap::new();
        for profile in &profiles {
            ids.entry(profile.person_id.as_deref().unwrap())
                .or_default()
                .push(profile);
        }
        let two = ids.values().filter(|p| p.len() == 2).count();
        assert!(ids.values().all(|p| p.len() <= 2));
        let share = two as f64 / ids.len() as f64;
        assert!(
            (share - fraction).abs() < 0.02,
            "{fraction}: {two} of {} persons",
            ids.len()
        );
        if fraction == 0.1 {
            let stats = generate(&with_persons(4000, 1, fraction), &mut |_| Ok(())).unwrap();
            assert_eq!(stats.persons as usize, ids.len());
            assert_eq!(stats.two_platform_persons as usize, two);
        }
    }
    // No person_id at all without the option.
    let profiles = worker_profiles(&options(100, 1));
    assert!(profiles.iter().all(|p| p.person_id.is_none()));
}

#[test]
fn person_ids_are_stable_pseudonyms() {
    let a = worker_profiles(&with_persons(50, 1, 0.2));
    let b = worker_profiles(&with_persons(80, 3, 0.2));
    // The same seed and person: the same id, whatever the other options.
    assert!(
        a.iter()
            .zip(&b)
            .take(48)
            .all(|(x, y)| x.person_id == y.person_id)
    );
    let other = worker_profiles(&SimOptions {
        seed: 2,
        ..with_persons(50, 1, 0.2)
    });
    let seen: HashSet<_> = a.iter().map(|p| p.person_id.clone()).collect();
    assert!(other.iter().all(|p| !seen.contains(&p.person_id)));
}

#[test]
fn two_ids_of_a_person_work_on_two_platforms_on_the_same_days() {
    let opts = with_persons(600, 7, 0.2);
    let profiles = worker_profiles(&opts);
    let (lines, _) = collect(&opts);
    let (events, _) = valid_events(&lines);
    let mut by_worker: HashMap<&str, Vec<&Event>> = HashMap::new();
    for event in &events {
        assert_eq!(
            event.person_id.as_deref(),
            profiles
                .iter()
                .find(|p| p.id == event.worker_id)
                .unwrap()
                .person_id
                .as_deref()
        );
        by_worker.entry(&event.worker_id).or_default().push(event);
    }
    let login_days = |worker: &str| -> BTreeSet<i64> {
        by_worker[worker]
            .iter()
            .filter(|e| e.kind == "login")
            .map(|e| local_day(e.ts))
            .collect()
    };
    let (mut pairs, mut sequential_over_11h, mut overlapping, mut person_over_4h) = (0, 0, 0, 0);
    for pair in profiles.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.person_id != b.person_id {
            continue;
        }
        pairs += 1;
        assert_ne!(a.platform, b.platform);
        assert_eq!((a.role, a.city), (b.role, b.city));
        assert_eq!(a.behaviour, Behaviour::TwoPlatforms);
        let events_a: Vec<&Event> = by_worker[a.id.as_str()].clone();
        let events_b: Vec<&Event> = by_worker[b.id.as_str()].clone();
        assert!(events_a.iter().all(|e| e.platform == a.platform));
        assert!(events_b.iter().all(|e| e.platform == b.platform));
        // Both work on the same local days.
        assert_eq!(login_days(&a.id), login_days(&b.id), "{} {}", a.id, b.id);

        let (line_a, line_b) = (timeline(&events_a), timeline(&events_b));
        let person = union(&line_a.work, &line_b.work);
        let days: BTreeSet<i64> = person.iter().map(|&(from, _)| day_start(from)).collect();
        for day in days {
            let (wa, wb) = (
                within(&line_a.work, day, day + DAY),
                within(&line_b.work, day, day + DAY),
            );
            let both = within(&person, day, day + DAY);
            // Each platform alone stays within the daily standard.
            assert!(
                wa < 8 * HOUR && wb < 8 * HOUR,
                "{} {}: {wa} {wb}",
                a.id,
                b.id
            );
            // One session after the other: over 11 h as a person, under 8 h on each platform.
            if both > 11 * HOUR && both == wa + wb {
                sequential_over_11h += 1;
            }
            if both < wa + wb {
                overlapping += 1;
            }
        }
        let alone = longest_episode(&line_a.work, 20 * MINUTE, None).max(longest_episode(
            &line_b.work,
            20 * MINUTE,
            None,
        ));
        if alone <= 4 * HOUR && longest_episode(&person, 20 * MINUTE, None) > 4 * HOUR {
            person_over_4h += 1;
        }
    }
    let persons = profiles
        .iter()
        .map(|p| p.person_id.clone())
        .collect::<HashSet<_>>()
        .len();
    println!(
        "{pairs} of {persons} persons with two ids: {sequential_over_11h} days over 11 h \
         one after the other, {overlapping} with concurrent sessions, {person_over_4h} over \
         4 h only as persons"
    );
    assert!(pairs > persons / 10, "{pairs} of {persons}");
    assert!(
        sequential_over_11h > pairs,
        "{sequential_over_11h} days over 11 h"
    );
    assert!(
        overlapping > pairs,
        "{overlapping} days with concurrent sessions"
    );
    assert!(person_over_4h > pairs / 4, "{person_over_4h} of {pairs}");
}

/// The union of two interval lists (the person works when either id works).
fn union(a: &[(i64, i64)], b: &[(i64, i64)]) -> Intervals {
    let mut all: Intervals = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut out: Intervals = Vec::new();
    for (from, to) in all {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}
