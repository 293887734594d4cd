//! The month's figures per (platform, city) and in total, the hours distribution, the top
//! list and persons across platforms; what each figure means is in [`crate::report`].
//!
//! One sorted index over the worker-days (by subject, day, group) gives every subject-day and
//! every group's distinct subjects in one scan, without a hash set per group; the alerts are
//! read twice (counts, then the top list's rules).

use crate::keyed::KeyedMap;
use chrono::{Datelike, NaiveDate};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::{AlertRow, MonthData, Subject, WorkerDay};

/// Length of each group's list of its subjects with the most violations.
pub const GROUP_TOP_N: usize = 3;
/// Length of the top list.
pub const TOP_N: usize = 10;
/// Groups drawn in the per-group charts (the largest by active workers; the table has all).
pub const MAX_CHART_GROUPS: usize = 30;
/// Platforms with their own hours histogram (the largest by worker-days).
pub const MAX_HISTOGRAMS: usize = 12;
/// Platform pairs drawn in the persons-across-platforms chart.
pub const MAX_PAIRS: usize = 20;
/// One-hour bins of daily working time; the last one also holds longer days.
pub const HOUR_BINS: usize = 24;

const HOUR_MS: i64 = 3_600_000;

/// The report's figures, sorted and ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub month: String,
    pub zone: String,
    pub subject: Subject,
    /// One row per (platform, city), by platform then city.
    pub groups: Vec<GroupRow>,
    /// Every subject and subject-day once; `platform` and `city` are empty.
    pub total: GroupRow,
    /// Daily working time: every platform first, then per platform by name (at most
    /// [`MAX_HISTOGRAMS`], the largest by worker-days).
    pub hours: Vec<HoursHistogram>,
    /// Platforms with worker-days left out of `hours` for space.
    pub hours_platforms_omitted: usize,
    /// At most [`TOP_N`] subjects, most violations first, ties by id.
    pub top: Vec<TopEntry>,
    /// The rules counted in `top`, most violations first, ties by id.
    pub top_rules: Vec<String>,
    /// Present when some worker-day carries a `person_id`.
    pub cross: Option<CrossPlatform>,
    /// The statutory holidays of the month on which someone worked, ascending.
    pub holidays: Vec<NaiveDate>,
    /// The holiday calendar has no table for the month's year ([`MonthData::holidays_unknown`]).
    pub holidays_unknown: bool,
}

/// The figures of one (platform, city), or of the whole month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRow {
    pub platform: String,
    pub city: String,
    /// Distinct subjects (workers, or persons) with working time in the group.
    pub active_workers: u64,
    /// Subject-days: worker-days, or person-days under `subject = "person"`.
    pub worker_days: u64,
    /// Active subjects with a `continuous` violation naming the group.
    pub continuous_violators: u64,
    /// Worker-days with working time strictly above `daily_max`.
    pub days_over_max: u64,
    /// The nearest-rank 90th percentile of the worker-days' working time, ms.
    pub p90_daily_ms: Option<i64>,
    /// `violation` alerts of kind `minimum_wage`.
    pub minimum_wage_breaches: u64,
    /// `violation` alerts of kind `holiday_pay`.
    pub holiday_pay_breaches: u64,
    /// Worker-days on a statutory holiday.
    pub holiday_worker_days: u64,
    /// Active subjects who, on a day they worked here, also worked on another platform.
    pub cross_platform_workers: u64,
    /// At most [`GROUP_TOP_N`] subjects with the most `violation` alerts naming the group
    /// (every rule), with their counts, most first, ties by id; in the total row, the top
    /// list's first [`GROUP_TOP_N`].
    pub top: Vec<(String, u64)>,
}

impl GroupRow {
    /// `top` as text: `w1 (5); w2 (3)`; empty when no one has a violation.
    pub fn top_text(&self) -> String {
        self.top
            .iter()
            .map(|(id, count)| format!("{id} ({count})"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Share of active workers with a continuous-work violation, percent with one decimal.
    pub fn continuous_share(&self) -> Option<String> {
        super::format::percent(self.continuous_violators, self.active_workers)
    }

    /// Share of worker-days over `daily_max`, percent with one decimal.
    pub fn over_max_share(&self) -> Option<String> {
        super::format::percent(self.days_over_max, self.worker_days)
    }

    /// The 90th percentile in hours with two decimals.
    pub fn p90_hours(&self) -> Option<String> {
        self.p90_daily_ms.map(super::format::hours)
    }
}

/// Worker-days by daily working time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursHistogram {
    /// `None` for every platform together.
    pub platform: Option<String>,
    /// Worker-days per bin `[h, h + 1)` hours (the last bin holds 23 h and more), split by
    /// each day's own limits: `[at most daily_standard, above it but at most daily_max,
    /// above daily_max]`.
    pub bins: [[u64; 3]; HOUR_BINS],
    pub days: u64,
    /// Days above `daily_standard` (those above `daily_max` included).
    pub over_standard: u64,
    pub over_max: u64,
    /// The most common (daily_standard, daily_max) of the days, ms: where the lines are drawn
    /// (8 h and 11 h, SPEC's defaults, when there are no days).
    pub standard_ms: i64,
    pub max_ms: i64,
    /// Every (daily_standard, daily_max, days) seen, most days first: roles or platforms with
    /// rules of their own add entries.
    pub limits: Vec<(i64, i64, u64)>,
}

impl HoursHistogram {
    /// Whether some days had other limits than the most common.
    pub fn limits_vary(&self) -> bool {
        self.limits.len() > 1
    }

    /// Whether every day had the same `daily_max`.
    pub fn one_max(&self) -> bool {
        self.limits.iter().all(|l| l.1 == self.max_ms)
    }

    /// Whether every day had the same `daily_standard`.
    pub fn one_standard(&self) -> bool {
        self.limits.iter().all(|l| l.0 == self.standard_ms)
    }
}

/// One subject of the top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    /// The worker id, or the person id under `subject = "person"`.
    pub id: String,
    /// `violation` alerts in the month.
    pub violations: u64,
    /// The same per rule id, by rule id.
    pub by_rule: Vec<(String, u64)>,
    /// Subject-days and their working time in the month.
    pub days: u64,
    pub work_ms: i64,
    /// (platform, city) of their worker-days (of their alerts when they have none), sorted.
    pub places: Vec<(String, String)>,
}

/// Persons (`person_id`) working on two or more platforms on the same local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossPlatform {
    /// Distinct persons with a worker-day in the month.
    pub persons: u64,
    /// Persons with worker-days on two or more platforms on at least one local day.
    pub persons_across: u64,
    /// (person, local day) pairs with worker-days on two or more platforms.
    pub person_days_across: u64,
    /// Per pair of platforms, most persons first, then by names.
    pub pairs: Vec<PlatformPair>,
}

/// Persons who worked on both platforms (`a` < `b`) on the same local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPair {
    pub a: String,
    pub b: String,
    /// Distinct persons, and (person, day) pairs.
    pub persons: u64,
    pub person_days: u64,
}

/// A worker-day in the sorted index: subject, day, group, position in `worker_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    s: u32,
    day: i32,
    g: u32,
    i: u32,
}

/// A worker-day with a person, for persons across platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PersonRow {
    person: u32,
    day: i32,
    p: u32,
    g: u32,
    s: u32,
}

/// Dense ids for names borrowed from the data.
#[derive(Default)]
struct Names<'a> {
    index: KeyedMap<&'a str, u32>,
    names: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn id(&mut self, name: &'a str) -> u32 {
        let next = self.names.len() as u32;
        *self.index.entry(name).or_insert_with(|| {
            self.names.push(name);
            next
        })
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
}

/// A top-list subject's days, hours and places, gathered in the scan.
#[derive(Clone, Default)]
struct TopDays<'a> {
    days: u64,
    work_ms: i64,
    places: BTreeSet<(&'a str, &'a str)>,
}

/// A group's running counts.
#[derive(Default)]
struct Acc {
    row: GroupRow,
    values: Vec<i64>,
}

struct Groups<'a> {
    index: KeyedMap<(&'a str, &'a str), u32>,
    keys: Vec<(&'a str, &'a str)>,
    platform: Vec<u32>,
    accs: Vec<Acc>,
    platforms: Names<'a>,
}

impl<'a> Groups<'a> {
    fn id(&mut self, platform: &'a str, city: &'a str) -> u32 {
        if let Some(&g) = self.index.get(&(platform, city)) {
            return g;
        }
        let g = self.keys.len() as u32;
        self.index.insert((platform, city), g);
        self.keys.push((platform, city));
        self.platform.push(self.platforms.id(platform));
        self.accs.push(Acc::default());
        g
    }
}

/// Whom a worker-day counts for.
fn day_subject(subject: Subject, day: &WorkerDay) -> &str {
    match subject {
        Subject::Worker => &day.worker_id,
        Subject::Person => day.person_id.as_deref().unwrap_or(&day.worker_id),
    }
}

/// The working time of the subject on that day, as far as this worker-day tells.
fn day_work(subject: Subject, day: &WorkerDay) -> i64 {
    match subject {
        Subject::Worker => day.work_ms,
        Subject::Person => day.person_work_ms.unwrap_or(day.work_ms),
    }
}

/// Whom an alert names; `None` for aggregates.
fn alert_subject(subject: Subject, alert: &AlertRow) -> Option<&str> {
    match subject {
        Subject::Worker => alert.worker_id.as_deref(),
        Subject::Person => alert.person_id.as_deref().or(alert.worker_id.as_deref()),
    }
}

/// Nearest rank: the ⌈0.9·n⌉-th of the values sorted ascending.
fn p90(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * 9).div_ceil(10);
    Some(*values.select_nth_unstable(rank - 1).1)
}

/// Distinct values of a short unsorted run, sorted.
fn distinct(scratch: &mut Vec<u32>, values: impl Iterator<Item = u32>) {
    scratch.clear();
    scratch.extend(values);
    scratch.sort_unstable();
    scratch.dedup();
}

/// Builds a histogram, and the counts of the limits it saw.
struct HistAcc {
    hist: HoursHistogram,
    limits: BTreeMap<(i64, i64), u64>,
}

impl HistAcc {
    fn new(platform: Option<String>) -> Self {
        HistAcc {
            hist: HoursHistogram {
                platform,
                bins: [[0; 3]; HOUR_BINS],
                days: 0,
                over_standard: 0,
                over_max: 0,
                standard_ms: 0,
                max_ms: 0,
                limits: Vec::new(),
            },
            limits: BTreeMap::new(),
        }
    }

    fn add(&mut self, work: i64, (standard, max): (i64, i64)) {
        let bin = ((work / HOUR_MS) as usize).min(HOUR_BINS - 1);
        let class = if work > max {
            2
        } else if work > standard {
            1
        } else {
            0
        };
        let h = &mut self.hist;
        h.bins[bin][class] += 1;
        h.days += 1;
        h.over_standard += u64::from(class >= 1);
        h.over_max += u64::from(class == 2);
        *self.limits.entry((standard, max)).or_default() += 1;
    }

    fn finish(mut self) -> HoursHistogram {
        let mut limits: Vec<(i64, i64, u64)> = self
            .limits
            .into_iter()
            .map(|((s, m), n)| (s, m, n))
            .collect();
        // The most common first; ties go to the smaller limits.
        limits.sort_by_key(|&(s, m, n)| (Reverse(n), s, m));
        (self.hist.standard_ms, self.hist.max_ms) = limits
            .first()
            .map_or((8 * HOUR_MS, 11 * HOUR_MS), |l| (l.0, l.1));
        self.hist.limits = limits;
        self.hist
    }
}

/// The month's figures. See [`crate::report`] for their definitions.
pub fn summarize(data: &MonthData) -> Summary {
    let days = &data.worker_days;
    let mut groups = Groups {
        index: KeyedMap::default(),
        keys: Vec::new(),
        platform: Vec::new(),
        accs: Vec::new(),
        platforms: Names::default(),
    };
    let mut subjects = Names::default();
    let mut persons = Names::default();
    let mut rows = Vec::with_capacity(days.len());
    let mut person_rows = Vec::new();
    let mut holidays = BTreeSet::new();

    for (i, wd) in days.iter().enumerate() {
        if wd.work_ms <= 0 {
            continue;
        }
        let g = groups.id(&wd.platform, &wd.city);
        let s = subjects.id(day_subject(data.subject, wd));
        let day = wd.day.num_days_from_ce();
        rows.push(Row {
            s,
            day,
            g,
            i: i as u32,
        });
        if let Some(person) = &wd.person_id {
            person_rows.push(PersonRow {
                person: persons.id(person),
                day,
                p: groups.platform[g as usize],
                g,
                s,
            });
        }
        if wd.holiday {
            holidays.insert(wd.day);
        }
    }

    // A breach gives its group a row (worker-days or not): all such rows first, so that a
    // violation naming one counts in it whichever of them comes first.
    for alert in &data.alerts {
        if alert.phase == "violation"
            && matches!(alert.kind.as_str(), "minimum_wage" | "holiday_pay")
        {
            groups.id(&alert.platform, &alert.city);
        }
    }
    // Alerts: breaches per group, continuous violators, violations per subject.
    let mut violations: Vec<u64> = Vec::new();
    let mut continuous: Vec<(u32, u32)> = Vec::new();
    let mut continuous_subjects: Vec<u32> = Vec::new();
    // (group, subject) of every violation with a subject, in the group the alert names.
    let mut in_group: Vec<(u32, u32)> = Vec::new();
    let mut total = GroupRow::default();
    for alert in &data.alerts {
        if alert.phase != "violation" {
            continue;
        }
        let s = alert_subject(data.subject, alert).map(|name| subjects.id(name));
        match alert.kind.as_str() {
            "minimum_wage" => {
                let g = groups.id(&alert.platform, &alert.city);
                groups.accs[g as usize].row.minimum_wage_breaches += 1;
                total.minimum_wage_breaches += 1;
            }
            "holiday_pay" => {
                let g = groups.id(&alert.platform, &alert.city);
                groups.accs[g as usize].row.holiday_pay_breaches += 1;
                total.holiday_pay_breaches += 1;
            }
            "continuous" => {
                if let Some(s) = s {
                    // The total counts it wherever it names (once the subject is active).
                    continuous_subjects.push(s);
                    // A group counts only its active subjects, so it need not exist yet.
                    if let Some(&g) = groups
                        .index
                        .get(&(alert.platform.as_str(), alert.city.as_str()))
                    {
                        continuous.push((g, s));
                    }
                }
            }
            _ => {}
        }
        if let Some(s) = s {
            if let Some(&g) = groups
                .index
                .get(&(alert.platform.as_str(), alert.city.as_str()))
            {
                in_group.push((g, s));
            }
            let s = s as usize;
            if violations.len() <= s {
                violations.resize(s + 1, 0);
            }
            violations[s] += 1;
        }
    }

    // The top list is known before the scan, which fills in its days and places.
    let mut ranked: Vec<(u64, &str, u32)> = violations
        .iter()
        .enumerate()
        .filter(|&(_, &count)| count > 0)
        .map(|(s, &count)| (count, subjects.names[s], s as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| (Reverse(a.0), a.1).cmp(&(Reverse(b.0), b.1)));
    ranked.truncate(TOP_N);
    let top_slot: FxHashMap<u32, usize> = ranked
        .iter()
        .enumerate()
        .map(|(k, &(_, _, s))| (s, k))
        .collect();
    let mut top_days = vec![TopDays::default(); ranked.len()];

    // The scan over subjects and their days.
    rows.sort_unstable();
    let mut active: Vec<(u32, u32)> = Vec::new();
    let mut active_subject = vec![false; subjects.names.len()];
    let mut all_values = Vec::with_capacity(rows.len());
    let mut all_hist = HistAcc::new(None);
    let mut platform_hist: Vec<HistAcc> = groups
        .platforms
        .names
        .iter()
        .map(|p| HistAcc::new(Some((*p).to_string())))
        .collect();
    let mut scratch = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let s = rows[start].s;
        let end = start + rows[start..].partition_point(|r| r.s == s);
        let runs = &rows[start..end];
        distinct(&mut scratch, runs.iter().map(|r| r.g));
        for &g in &scratch {
            groups.accs[g as usize].row.active_workers += 1;
            active.push((s, g));
        }
        total.active_workers += 1;
        active_subject[s as usize] = true;
        let slot = top_slot.get(&s).copied();
        if let Some(k) = slot {
            top_days[k]
                .places
                .extend(scratch.iter().map(|&g| groups.keys[g as usize]));
        }

        let mut d = 0;
        while d < runs.len() {
            let day = runs[d].day;
            let n = runs[d..].partition_point(|r| r.day == day);
            let run = &runs[d..d + n];
            d += n;
            let first = &days[run.iter().map(|r| r.i).min().unwrap_or(run[0].i) as usize];
            let work = run
                .iter()
                .map(|r| day_work(data.subject, &days[r.i as usize]))
                .max()
                .unwrap_or(0);
            let limits = (first.daily_standard_ms, first.daily_max_ms);
            let over = u64::from(work > limits.1);
            let holiday = u64::from(run.iter().any(|r| days[r.i as usize].holiday));
            total.worker_days += 1;
            total.days_over_max += over;
            total.holiday_worker_days += holiday;
            all_values.push(work);
            all_hist.add(work, limits);
            if let Some(k) = slot {
                top_days[k].days += 1;
                top_days[k].work_ms += work;
            }
            distinct(&mut scratch, run.iter().map(|r| r.g));
            for &g in &scratch {
                let acc = &mut groups.accs[g as usize];
                acc.row.worker_days += 1;
                acc.row.days_over_max += over;
                acc.row.holiday_worker_days += holiday;
                acc.values.push(work);
            }
            distinct(
                &mut scratch,
                run.iter().map(|r| groups.platform[r.g as usize]),
            );
            for &p in &scratch {
                platform_hist[p as usize].add(work, limits);
            }
        }
        start = end;
    }

    // Continuous violators: active in the group their alert names.
    continuous.sort_unstable();
    continuous.dedup();
    for &(g, s) in &continuous {
        if active.binary_search(&(s, g)).is_ok() {
            groups.accs[g as usize].row.continuous_violators += 1;
        }
    }
    continuous_subjects.sort_unstable();
    continuous_subjects.dedup();
    total.continuous_violators = continuous_subjects
        .iter()
        .filter(|&&s| active_subject[s as usize])
        .count() as u64;

    let cross = (!persons.names.is_empty())
        .then(|| cross_platform(&mut person_rows, &persons, &mut groups, &mut total));

    // Each group's subjects with the most violations.
    in_group.sort_unstable();
    let mut group_top: Vec<Vec<(u64, &str)>> = vec![Vec::new(); groups.keys.len()];
    for run in in_group.chunk_by(|a, b| a == b) {
        let (g, s) = run[0];
        group_top[g as usize].push((run.len() as u64, subjects.names[s as usize]));
    }
    total.top = ranked
        .iter()
        .take(GROUP_TOP_N)
        .map(|&(count, name, _)| (name.to_string(), count))
        .collect();

    // Rows in order of names, with their percentiles.
    let mut order: Vec<u32> = (0..groups.keys.len() as u32).collect();
    order.sort_unstable_by_key(|&g| groups.keys[g as usize]);
    let mut rows_out = Vec::with_capacity(order.len());
    for g in order {
        let (platform, city) = groups.keys[g as usize];
        let acc = &mut groups.accs[g as usize];
        let mut row = std::mem::take(&mut acc.row);
        row.platform = platform.to_string();
        row.city = city.to_string();
        row.p90_daily_ms = p90(&mut acc.values);
        let top = &mut group_top[g as usize];
        top.sort_unstable_by(|a, b| (Reverse(a.0), a.1).cmp(&(Reverse(b.0), b.1)));
        row.top = top
            .iter()
            .take(GROUP_TOP_N)
            .map(|&(count, name)| (name.to_string(), count))
            .collect();
        rows_out.push(row);
    }
    total.p90_daily_ms = p90(&mut all_values);

    // Histograms: every platform, then the largest platforms by name.
    let mut platform_hist: Vec<HoursHistogram> = platform_hist
        .into_iter()
        .map(HistAcc::finish)
        .filter(|h| h.days > 0)
        .collect();
    let with_days = platform_hist.len();
    platform_hist
        .sort_by(|a, b| (Reverse(a.days), &a.platform).cmp(&(Reverse(b.days), &b.platform)));
    platform_hist.truncate(MAX_HISTOGRAMS);
    platform_hist.sort_by(|a, b| a.platform.cmp(&b.platform));
    let mut hours = vec![all_hist.finish()];
    let hours_platforms_omitted = with_days - platform_hist.len();
    hours.extend(platform_hist);

    let (top, top_rules) = top_list(data, &subjects, &ranked, top_days);

    Summary {
        month: data.month.clone(),
        zone: data.zone.clone(),
        subject: data.subject,
        groups: rows_out,
        total,
        hours,
        hours_platforms_omitted,
        top,
        top_rules,
        cross,
        holidays: holidays.into_iter().collect(),
        holidays_unknown: data.holidays_unknown,
    }
}

/// Persons with worker-days on two or more platforms on one local day; also fills each
/// group's (and the total's) `cross_platform_workers`.
fn cross_platform(
    rows: &mut [PersonRow],
    persons: &Names<'_>,
    groups: &mut Groups<'_>,
    total: &mut GroupRow,
) -> CrossPlatform {
    rows.sort_unstable();
    let mut across = vec![false; persons.names.len()];
    let mut person_days_across = 0;
    let mut pair_days: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut pair_persons: Vec<(&str, &str, u32)> = Vec::new();
    let mut marked: Vec<(u32, u32)> = Vec::new();
    let mut platforms = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let (person, day) = (rows[start].person, rows[start].day);
        let n = rows[start..].partition_point(|r| (r.person, r.day) == (person, day));
        let run = &rows[start..start + n];
        start += n;
        distinct(&mut platforms, run.iter().map(|r| r.p));
        if platforms.len() < 2 {
            continue;
        }
        across[person as usize] = true;
        person_days_across += 1;
        let mut names: Vec<&str> = platforms
            .iter()
            .map(|&p| groups.platforms.names[p as usize])
            .collect();
        names.sort_unstable();
        for (k, &a) in names.iter().enumerate() {
            for &b in &names[k + 1..] {
                *pair_days.entry((a, b)).or_default() += 1;
                pair_persons.push((a, b, person));
            }
        }
        marked.extend(run.iter().map(|r| (r.g, r.s)));
    }

    marked.sort_unstable();
    marked.dedup();
    for &(g, _) in &marked {
        groups.accs[g as usize].row.cross_platform_workers += 1;
    }
    let mut subjects: Vec<u32> = marked.iter().map(|&(_, s)| s).collect();
    subjects.sort_unstable();
    subjects.dedup();
    total.cross_platform_workers = subjects.len() as u64;

    pair_persons.sort_unstable();
    pair_persons.dedup();
    let mut pairs: Vec<PlatformPair> = pair_days
        .into_iter()
        .map(|((a, b), person_days)| PlatformPair {
            a: a.to_string(),
            b: b.to_string(),
            persons: 0,
            person_days,
        })
        .collect();
    for pair in &mut pairs {
        let from =
            pair_persons.partition_point(|&(a, b, _)| (a, b) < (pair.a.as_str(), pair.b.as_str()));
        let to =
            pair_persons.partition_point(|&(a, b, _)| (a, b) <= (pair.a.as_str(), pair.b.as_str()));
        pair.persons = (to - from) as u64;
    }
    pairs.sort_by(|x, y| (Reverse(x.persons), &x.a, &x.b).cmp(&(Reverse(y.persons), &y.a, &y.b)));

    CrossPlatform {
        persons: persons.names.len() as u64,
        persons_across: across.iter().filter(|&&a| a).count() as u64,
        person_days_across,
        pairs,
    }
}

/// The top list's entries with their counts per rule (a second pass over the alerts).
fn top_list(
    data: &MonthData,
    subjects: &Names<'_>,
    ranked: &[(u64, &str, u32)],
    top_days: Vec<TopDays<'_>>,
) -> (Vec<TopEntry>, Vec<String>) {
    let slot: FxHashMap<u32, usize> = ranked
        .iter()
        .enumerate()
        .map(|(k, &(_, _, s))| (s, k))
        .collect();
    let mut by_rule: Vec<BTreeMap<&str, u64>> = vec![BTreeMap::new(); ranked.len()];
    let mut alert_places: Vec<BTreeSet<(&str, &str)>> = vec![BTreeSet::new(); ranked.len()];
    for alert in &data.alerts {
        if alert.phase != "violation" {
            continue;
        }
        let Some(k) = alert_subject(data.subject, alert)
            .and_then(|name| subjects.get(name))
            .and_then(|s| slot.get(&s).copied())
        else {
            continue;
        };
        *by_rule[k].entry(alert.rule.as_str()).or_default() += 1;
        alert_places[k].insert((alert.platform.as_str(), alert.city.as_str()));
    }

    let mut rule_totals: BTreeMap<&str, u64> = BTreeMap::new();
    for rules in &by_rule {
        for (&rule, &count) in rules {
            *rule_totals.entry(rule).or_default() += count;
        }
    }
    let mut top_rules: Vec<(&str, u64)> = rule_totals.into_iter().collect();
    top_rules.sort_by(|a, b| (Reverse(a.1), a.0).cmp(&(Reverse(b.1), b.0)));

    let entries = ranked
        .iter()
        .zip(top_days)
        .zip(by_rule)
        .zip(alert_places)
        .map(
            |(
                (
                    (
                        (count, id, _),
                        TopDays {
                            days,
                            work_ms,
                            places,
                        },
                    ),
                    rules,
                ),
                alert_places,
            )| TopEntry {
                id: (*id).to_string(),
                violations: *count,
                by_rule: rules.into_iter().map(|(r, c)| (r.to_string(), c)).collect(),
                days,
                work_ms,
                places: if places.is_empty() {
                    alert_places
                } else {
                    places
                }
                .into_iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect(),
            },
        )
        .collect();
    (
        entries,
        top_rules.into_iter().map(|(r, _)| r.to_string()).collect(),
    )
}
