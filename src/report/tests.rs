//! Hand-computed months: every figure of `summarize`, and what the CSV and HTML show of them.

use chrono::NaiveDate;

use super::*;

const H: i64 = 3_600_000;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn wd(platform: &str, city: &str, worker: &str, d: u32, work_ms: i64) -> WorkerDay {
    WorkerDay {
        platform: platform.to_string(),
        role: "rider".to_string(),
        city: city.to_string(),
        worker_id: worker.to_string(),
        person_id: None,
        day: day(d),
        work_ms,
        person_work_ms: None,
        daily_standard_ms: 8 * H,
        daily_max_ms: 11 * H,
        holiday: false,
    }
}

fn person(mut w: WorkerDay, person: &str) -> WorkerDay {
    w.person_id = Some(person.to_string());
    w
}

fn alert(
    rule: &str,
    kind: &str,
    phase: &str,
    platform: &str,
    city: &str,
    worker: Option<&str>,
) -> AlertRow {
    AlertRow {
        rule: rule.to_string(),
        kind: kind.to_string(),
        phase: phase.to_string(),
        platform: platform.to_string(),
        role: "rider".to_string(),
        city: city.to_string(),
        worker_id: worker.map(str::to_string),
        person_id: None,
        at: 1_772_409_600_000,
    }
}

fn month(subject: Subject, worker_days: Vec<WorkerDay>, alerts: Vec<AlertRow>) -> MonthData {
    MonthData {
        month: "2026-03".to_string(),
        zone: "Asia/Shanghai".to_string(),
        subject,
        worker_days,
        alerts,
        packs: vec![("*".to_string(), "cn-weihai-2022".to_string())],
        source: "made 2026-04-01 from march.jsonl".to_string(),
        holidays_unknown: false,
        continuous: vec![(4 * 3_600_000, 20 * 60_000)],
        holiday_ratios: vec![1_000_000],
        input: InputCounts::default(),
    }
}

/// Three groups with worker-days, one with an alert only.
fn sample() -> MonthData {
    let days = vec![
        wd("mt", "A", "w1", 1, 9 * H),
        wd("mt", "A", "w1", 2, 12 * H),
        wd("mt", "A", "w2", 1, 11 * H), // exactly the maximum: not over
        wd("mt", "A", "w3", 3, 4 * H),
        wd("mt", "B", "w4", 1, 11 * H + 1),
        wd("dd", "A", "w5", 1, 10 * H),
        wd("dd", "A", "w5", 2, 8 * H),
        wd("dd", "A", "w6", 4, 0), // no working time: ignored
    ];
    let alerts = vec![
        alert(
            "continuous_work",
            "continuous",
            "violation",
            "mt",
            "A",
            Some("w1"),
        ),
        alert(
            "continuous_work",
            "continuous",
            "violation",
            "mt",
            "A",
            Some("w1"),
        ),
        alert(
            "continuous_work",
            "continuous",
            "warning",
            "mt",
            "A",
            Some("w2"),
        ),
        alert(
            "continuous_work",
            "continuous",
            "resolved",
            "mt",
            "A",
            Some("w1"),
        ),
        // w3 is not active in mt/B; w9 is not active at all.
        alert(
            "continuous_work",
            "continuous",
            "violation",
            "mt",
            "B",
            Some("w3"),
        ),
        alert(
            "continuous_work",
            "continuous",
            "violation",
            "mt",
            "A",
            Some("w9"),
        ),
        alert("daily_hours", "period", "violation", "mt", "A", Some("w1")),
        alert(
            "minimum_wage",
            "minimum_wage",
            "violation",
            "mt",
            "A",
            Some("w2"),
        ),
        alert(
            "holiday_pay",
            "holiday_pay",
            "violation",
            "dd",
            "A",
            Some("w5"),
        ),
        alert(
            "holiday_pay",
            "holiday_pay",
            "violation",
            "xx",
            "Z",
            Some("w7"),
        ),
        alert("quota_p90", "quota_p90", "violation", "mt", "A", None),
    ];
    month(Subject::Worker, days, alerts)
}

fn row(platform: &str, city: &str) -> GroupRow {
    GroupRow {
        platform: platform.to_string(),
        city: city.to_string(),
        ..GroupRow::default()
    }
}

/// The total row counts an active subject's continuous-work violation wherever its alert
/// names: also a (platform, city) in which no one has a worker-day (audit W: a worker whose
/// logout carried no city, so the day went to `unknown`, had 0 violators in the total).
#[test]
fn the_total_counts_violations_that_name_a_group_without_worker_days() {
    let s = summarize(&month(
        Subject::Worker,
        vec![wd("mt", "unknown", "m1", 10, 5 * H)],
        vec![alert(
            "continuous_work",
            "continuous",
            "violation",
            "mt",
            "A",
            Some("m1"),
        )],
    ));
    assert_eq!(s.total.active_workers, 1);
    assert_eq!(s.total.continuous_violators, 1);
    assert_eq!(s.total.continuous_share(), Some("100.0".to_string()));
    // Per group: the group the alert names has no active worker, so no violator either.
    assert!(s.groups.iter().all(|g| g.continuous_violators == 0));
}

/// A group with no worker-day has a row when a breach names it, and its `top_by_violations`
/// counts every violation naming it (docs/reports.md: "active there or not"). A violation
/// read before the breach that made the row was left out (tests/model/test_report.py).
#[test]
fn a_groups_top_list_counts_violations_read_before_the_breach_that_made_its_row() {
    let s = summarize(&month(
        Subject::Worker,
        vec![wd("a", "c", "w1", 2, 12 * H)],
        vec![
            alert("daily_hours", "period", "violation", "b", "c", Some("w1")),
            alert(
                "minimum_wage",
                "minimum_wage",
                "violation",
                "b",
                "c",
                Some("w1"),
            ),
        ],
    ));
    let b = s.groups.iter().find(|g| g.platform == "b").unwrap();
    assert_eq!(b.worker_days, 0);
    assert_eq!(b.minimum_wage_breaches, 1);
    assert_eq!(b.top_text(), "w1 (2)");
}

#[test]
fn every_group_figure() {
    let s = summarize(&sample());
    let want = vec![
        GroupRow {
            active_workers: 1,
            worker_days: 2,
            p90_daily_ms: Some(10 * H), // [8, 10]: the 2nd
            holiday_pay_breaches: 1,
            top: vec![("w5".into(), 1)],
            ..row("dd", "A")
        },
        GroupRow {
            active_workers: 3,
            worker_days: 4,
            continuous_violators: 1,    // w1 (twice)
            days_over_max: 1,           // 12 h; 11 h exactly is not over
            p90_daily_ms: Some(12 * H), // [4, 9, 11, 12]: the ⌈3.6⌉ = 4th
            minimum_wage_breaches: 1,
            // Violations naming mt/A, of every rule: w1 twice continuous and once daily, w2
            // minimum wage, w9 (not active) continuous; the quota has no subject.
            top: vec![("w1".into(), 3), ("w2".into(), 1), ("w9".into(), 1)],
            ..row("mt", "A")
        },
        GroupRow {
            active_workers: 1,
            worker_days: 1,
            days_over_max: 1,
            p90_daily_ms: Some(11 * H + 1),
            top: vec![("w3".into(), 1)],
            ..row("mt", "B")
        },
        GroupRow {
            holiday_pay_breaches: 1,
            top: vec![("w7".into(), 1)],
            ..row("xx", "Z")
        },
    ];
    assert_eq!(s.groups, want);
    assert_eq!(
        s.total,
        GroupRow {
            active_workers: 5,
            worker_days: 7,
            continuous_violators: 2, // w1 and w3, active somewhere; not w9
            days_over_max: 2,
            p90_daily_ms: Some(12 * H), // the ⌈6.3⌉ = 7th of 7
            minimum_wage_breaches: 1,
            holiday_pay_breaches: 2,
            // The month's first three: ties by id.
            top: vec![("w1".into(), 3), ("w2".into(), 1), ("w3".into(), 1)],
            ..row("", "")
        }
    );
    let shares: Vec<_> = s
        .groups
        .iter()
        .map(|g| (g.continuous_share(), g.over_max_share()))
        .collect();
    let pct = |p: &str| Some(p.to_string());
    assert_eq!(
        shares,
        vec![
            (pct("0.0"), pct("0.0")),
            (pct("33.3"), pct("25.0")),
            (pct("0.0"), pct("100.0")),
            (None, None)
        ]
    );
    assert_eq!(s.total.continuous_share(), pct("40.0"));
    assert_eq!(s.total.over_max_share(), pct("28.6"));
    assert_eq!(s.total.p90_hours(), pct("12.00"));
    assert!(s.cross.is_none());
}

#[test]
fn percentile_is_nearest_rank() {
    for (n, want) in [
        (1, 1),
        (2, 2),
        (9, 9),
        (10, 9),
        (11, 10),
        (20, 18),
        (21, 19),
    ] {
        // In descending order, so that the input order is not the sorted one.
        let days = (1..=n)
            .rev()
            .map(|k| wd("mt", "A", &format!("w{k:02}"), 1, k * H))
            .collect();
        let s = summarize(&month(Subject::Worker, days, vec![]));
        assert_eq!(s.groups[0].p90_daily_ms, Some(want * H), "n = {n}");
        assert_eq!(s.total.p90_daily_ms, Some(want * H), "n = {n}");
    }
}

#[test]
fn over_the_maximum_is_strictly_above() {
    let days = vec![
        wd("mt", "A", "a", 1, 11 * H - 1),
        wd("mt", "A", "b", 1, 11 * H),
        wd("mt", "A", "c", 1, 11 * H + 1),
        wd("mt", "A", "d", 1, 8 * H),
        wd("mt", "A", "e", 1, 8 * H + 1),
        WorkerDay {
            daily_max_ms: 10 * H,
            ..wd("mt", "A", "f", 1, 10 * H + 1)
        },
    ];
    let s = summarize(&month(Subject::Worker, days, vec![]));
    assert_eq!(s.groups[0].days_over_max, 2); // c, and f over its own 10 h
    let all = &s.hours[0];
    assert_eq!((all.days, all.over_standard, all.over_max), (6, 5, 2));
    assert_eq!(all.bins[8], [1, 1, 0]); // d at 8 h exactly, e just over
    assert_eq!(all.bins[10], [0, 1, 1]); // a within 11 h; f over its 10 h
    assert_eq!(all.bins[11], [0, 1, 1]); // b at 11 h exactly; c over
    assert_eq!(
        (all.standard_ms, all.max_ms, all.limits.clone()),
        (8 * H, 11 * H, vec![(8 * H, 11 * H, 5), (8 * H, 10 * H, 1)])
    );
    assert_eq!(s.hours.len(), 2);
    assert_eq!(s.hours[1].platform.as_deref(), Some("mt"));
}

#[test]
fn top_list_ranks_by_violations_then_id() {
    let s = summarize(&sample());
    let ids: Vec<(&str, u64)> = s
        .top
        .iter()
        .map(|e| (e.id.as_str(), e.violations))
        .collect();
    assert_eq!(
        ids,
        [
            ("w1", 3),
            ("w2", 1),
            ("w3", 1),
            ("w5", 1),
            ("w7", 1),
            ("w9", 1)
        ]
    );
    let w1 = &s.top[0];
    assert_eq!(
        w1.by_rule,
        [
            ("continuous_work".to_string(), 2),
            ("daily_hours".to_string(), 1)
        ]
    );
    assert_eq!((w1.days, w1.work_ms), (2, 21 * H));
    assert_eq!(w1.places, [("mt".to_string(), "A".to_string())]);
    // No worker-days: the place comes from the alert.
    let w7 = &s.top[4];
    assert_eq!(
        (w7.days, w7.places.clone()),
        (0, vec![("xx".to_string(), "Z".to_string())])
    );
    assert_eq!(
        s.top_rules,
        [
            "continuous_work",
            "holiday_pay",
            "daily_hours",
            "minimum_wage"
        ]
    );

    // Bounded, ties by id.
    let alerts = (0..TOP_N + 5)
        .rev()
        .map(|k| {
            alert(
                "daily_hours",
                "period",
                "violation",
                "mt",
                "A",
                Some(&format!("w{k:02}")),
            )
        })
        .collect();
    let s = summarize(&month(Subject::Worker, vec![], alerts));
    assert_eq!(s.top.len(), TOP_N);
    assert_eq!(s.top[0].id, "w00");
    assert_eq!(s.top[TOP_N - 1].id, format!("w{:02}", TOP_N - 1));
}

#[test]
fn persons_across_platforms() {
    let days = vec![
        // p1: mt and dd on day 1, mt alone on day 2.
        person(wd("mt", "A", "a", 1, 5 * H), "p1"),
        person(wd("dd", "A", "b", 1, 6 * H), "p1"),
        person(wd("mt", "A", "a", 2, 5 * H), "p1"),
        // p2: two worker ids, one platform.
        person(wd("mt", "A", "c", 1, 5 * H), "p2"),
        person(wd("mt", "B", "d", 1, 5 * H), "p2"),
        // p3: three platforms on day 3.
        person(wd("mt", "B", "e", 3, 2 * H), "p3"),
        person(wd("dd", "A", "f", 3, 2 * H), "p3"),
        person(wd("el", "A", "g", 3, 2 * H), "p3"),
        // No person.
        wd("el", "A", "h", 3, 9 * H),
    ];
    let s = summarize(&month(Subject::Worker, days, vec![]));
    let c = s.cross.as_ref().expect("persons exist");
    assert_eq!(
        (c.persons, c.persons_across, c.person_days_across),
        (3, 2, 2)
    );
    let pairs: Vec<(&str, &str, u64, u64)> = c
        .pairs
        .iter()
        .map(|p| (p.a.as_str(), p.b.as_str(), p.persons, p.person_days))
        .collect();
    assert_eq!(
        pairs,
        [("dd", "mt", 2, 2), ("dd", "el", 1, 1), ("el", "mt", 1, 1)]
    );
    let cross: Vec<(&str, &str, u64)> = s
        .groups
        .iter()
        .map(|g| {
            (
                g.platform.as_str(),
                g.city.as_str(),
                g.cross_platform_workers,
            )
        })
        .collect();
    assert_eq!(
        cross,
        [
            ("dd", "A", 2),
            ("el", "A", 1),
            ("mt", "A", 1),
            ("mt", "B", 1)
        ]
    );
    assert_eq!(s.total.cross_platform_workers, 5); // a, b, e, f, g
    assert_eq!(s.total.active_workers, 8);
}

#[test]
fn subject_person_counts_person_days() {
    let both = |w: WorkerDay| WorkerDay {
        person_work_ms: Some(12 * H),
        ..person(w, "p1")
    };
    let days = vec![
        both(wd("mt", "A", "a", 1, 5 * H)),
        both(wd("dd", "A", "b", 1, 7 * H)),
        // No total given: the largest of the worker-days.
        person(wd("mt", "A", "c", 1, 6 * H), "p2"),
        person(wd("mt", "A", "d", 1, 4 * H), "p2"),
        // A worker without a person is a person of their own.
        wd("mt", "A", "e", 2, 3 * H),
    ];
    let mut violation = alert(
        "continuous_work",
        "continuous",
        "violation",
        "mt",
        "A",
        None,
    );
    violation.person_id = Some("p1".to_string());
    let mut s = summarize(&month(Subject::Person, days, vec![violation]));
    let mt = s.groups.pop().unwrap();
    let dd = s.groups.pop().unwrap();
    assert_eq!(
        (
            dd.active_workers,
            dd.worker_days,
            dd.days_over_max,
            dd.p90_daily_ms
        ),
        (1, 1, 1, Some(12 * H))
    );
    assert_eq!(
        (
            mt.active_workers,
            mt.worker_days,
            mt.days_over_max,
            mt.continuous_violators
        ),
        (3, 3, 1, 1)
    );
    assert_eq!(mt.p90_daily_ms, Some(12 * H)); // [3, 6, 12]
    assert_eq!(
        (
            s.total.active_workers,
            s.total.worker_days,
            s.total.days_over_max
        ),
        (3, 3, 1)
    );
    assert_eq!(
        (s.total.continuous_violators, s.total.cross_platform_workers),
        (1, 1)
    );
    assert_eq!(s.top[0].id, "p1");
    assert_eq!((s.top[0].days, s.top[0].work_ms), (1, 12 * H));
    let mt_hist = s
        .hours
        .iter()
        .find(|h| h.platform.as_deref() == Some("mt"))
        .unwrap();
    assert_eq!(mt_hist.days, 3);
    assert_eq!(s.hours[0].days, 3);

    let page = render_html(&month(
        Subject::Person,
        vec![wd("mt", "A", "e", 2, 3 * H)],
        vec![],
    ));
    assert!(page.contains("Active persons") && page.contains("Person-days"));
    assert!(!page.to_lowercase().contains("worker-day"));
}

#[test]
fn empty_month() {
    let data = month(Subject::Worker, vec![], vec![]);
    let s = summarize(&data);
    assert!(s.groups.is_empty() && s.top.is_empty() && s.cross.is_none() && s.holidays.is_empty());
    assert_eq!(s.total, row("", ""));
    assert_eq!(s.total.continuous_share(), None);
    assert_eq!(s.hours.len(), 1);
    assert_eq!(s.hours[0].days, 0);

    let csv = render_csv(&data);
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], "total,2026-03,worker,,,0,0,0,,0,,,0,0,0,0,");

    let page = render_html(&data);
    assert!(page.contains("No one worked in this month."));
    assert!(page.contains("No violation this month."));
    assert!(page.contains(r#"id="chart-hours" data-filled="no""#));
    assert!(!page.contains("panel-cross"));
}

#[test]
fn csv_format() {
    let csv = render_csv(&sample());
    assert!(!csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert!(!csv.replace("\r\n", "").contains('\n'));
    assert_eq!(lines[0], csv::COLUMNS.join(","));
    assert_eq!(
        lines[1..],
        [
            "group,2026-03,worker,dd,A,1,2,0,0.0,0,0.0,10.00,0,1,0,0,w5 (1)",
            "group,2026-03,worker,mt,A,3,4,1,33.3,1,25.0,12.00,1,0,0,0,w1 (3); w2 (1); w9 (1)",
            "group,2026-03,worker,mt,B,1,1,0,0.0,1,100.0,11.00,0,0,0,0,w3 (1)",
            "group,2026-03,worker,xx,Z,0,0,0,,0,,,0,1,0,0,w7 (1)",
            "total,2026-03,worker,,,5,7,2,40.0,2,28.6,12.00,1,2,0,0,w1 (3); w2 (1); w3 (1)",
        ]
    );
    // The HTML table shows the same lists (SPEC section 8: the top workers per platform and
    // city).
    let page = render_html(&sample());
    assert!(
        page.contains(r#"data-col="top_by_violations" data-full="w1 (3); w2 (1); w9 (1)""#),
        "{page}"
    );
}

#[test]
fn names_are_escaped() {
    let nasty_platform = "<b>&\"x\"";
    let nasty_city = "a,\"b\" <i>";
    let days = vec![wd(nasty_platform, nasty_city, "<w&1>", 1, 12 * H)];
    let alerts = vec![alert(
        "daily_hours",
        "period",
        "violation",
        nasty_platform,
        nasty_city,
        Some("<w&1>"),
    )];
    let mut data = month(Subject::Worker, days, alerts);
    data.source = "from <stdin> & co".to_string();
    data.packs = vec![("<pl>".to_string(), "pack\"q".to_string())];
    let page = render_html(&data);
    for raw in [
        "<b>&", "<w&1>", "<i>", "<stdin>", "<pl>", "pack\"q", "\"x\"",
    ] {
        assert!(!page.contains(raw), "{raw} unescaped");
    }
    for escaped in [
        "&lt;b&gt;&amp;&quot;x&quot;",
        "a,&quot;b&quot; &lt;i&gt;",
        "&lt;w&amp;1&gt;",
        "from &lt;stdin&gt; &amp; co",
    ] {
        assert!(page.contains(escaped), "{escaped} missing");
    }
    let csv = render_csv(&data);
    assert!(csv.contains(r#"<b>&""x"""#));
    assert!(csv.contains(r#","a,""b"" <i>","#));
}

#[test]
fn page_is_self_contained_and_filled() {
    let page = render_html(&sample());
    for forbidden in [
        "<script", "src=", "href=", "url(", "@import", "http://", "https://",
    ] {
        assert!(!page.contains(forbidden), "{forbidden}");
    }
    assert!(page.contains("<title>Working hours report · March 2026 · Asia/Shanghai</title>"));
    assert!(page.contains("1 to 31 March 2026"));
    assert!(page.contains("How to read this report"));
    assert_eq!(page.matches(r#"<tr class="group-row">"#).count(), 4);
    assert_eq!(page.matches(r#"<tr class="total-row">"#).count(), 1);
    assert_eq!(page.matches(r#"<tr class="top-row">"#).count(), 6);
    for chart in ["chart-hours", "chart-shares", "chart-breaches"] {
        assert!(
            page.contains(&format!(r#"id="{chart}" data-filled="yes""#)),
            "{chart}"
        );
    }
    assert!(page.contains("made 2026-04-01 from march.jsonl"));
    assert!(page.contains("<code>cn-weihai-2022</code>"));
}

#[test]
fn output_does_not_depend_on_input_order() {
    let data = sample();
    let mut reversed = data.clone();
    reversed.worker_days.reverse();
    reversed.alerts.reverse();
    assert_eq!(render_csv(&data), render_csv(&reversed));
    assert_eq!(render_html(&data), render_html(&reversed));
}

/// A month whose year the holiday calendar has no table for says so: read as a month without
/// holidays, it told a regulator that no one worked on one.
#[test]
fn a_month_the_holiday_calendar_does_not_cover_says_so() {
    let mut data = sample();
    data.holidays_unknown = true;
    let page = render_html(&data);
    assert!(
        page.contains("The holiday calendar has no table for 2026")
            && !page.contains("No one worked on a statutory holiday"),
        "{page}"
    );
}

/// A month outside the years the program knows is refused for that, not for its form.
#[test]
fn a_month_outside_the_known_years_is_refused_as_such() {
    for month in ["1999-12", "2100-01"] {
        let error = month_days(month).unwrap_err().to_string();
        assert!(error.contains("is outside 2000-01 to 2099-12"), "{error}");
    }
    // Digits only: Rust's integer parser takes a sign (audit W: `2026-+3` was March).
    for month in [
        "2026-13", "2026-3", "26-03", "march", "2026-+3", "+026-03", "-026-03",
    ] {
        let error = month_days(month).unwrap_err().to_string();
        assert!(error.contains("expected YYYY-MM"), "{error}");
    }
    assert!(month_days("2099-12").is_ok() && month_days("2000-01").is_ok());
}

/// Days held to packs without a `continuous` rule: "The rules" said the default 4 h rule
/// applied (audit AF); it says none does. A month without days keeps the default's words.
#[test]
fn the_rules_say_when_no_pack_in_force_has_a_continuous_rule() {
    let mut data = sample();
    data.continuous = Vec::new();
    let page = render_html(&data);
    assert!(
        !page.contains("under the default rules")
            && page.contains("No rule pack in force here has a continuous-work rule"),
        "{page}"
    );
    let mut empty = month(Subject::Worker, Vec::new(), Vec::new());
    empty.continuous = Vec::new();
    assert!(render_html(&empty).contains("under the default rules"));
}
