//! The monthly report (SPEC section 8, "Reports"): a pure renderer over the month's
//! worker-days and alerts, gathered by replaying the month, to CSV and to one
//! self-contained HTML page with charts.
//!
//! - [`summarize`]: the figures per (platform, city) and in total, the hours distribution,
//!   the top list and persons across platforms ([`summary`]);
//! - [`render_csv`]: the per-group table as CSV ([`csv`]);
//! - [`render_html`]: the page, with inline CSS and inline SVG charts drawn here ([`html`],
//!   [`svg`]): no script, no network, no external font.
//!
//! What each figure means (subjects, subject-days, strict `>` on `daily_max`, nearest-rank
//! p90, groups of alerts, ties of the top list) is written for users in `docs/reports.md`;
//! [`summary`] computes them.

pub mod csv;
mod format;
pub mod html;
pub mod summary;
pub mod svg;
#[cfg(test)]
mod tests;

pub use csv::render_csv;
pub use html::render_html;
pub use summary::{
    CrossPlatform, GroupRow, HoursHistogram, MAX_CHART_GROUPS, PlatformPair, Summary, TOP_N,
    TopEntry, summarize,
};

use chrono::NaiveDate;

/// Everything a monthly report shows, gathered by replaying the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthData {
    /// "2026-03".
    pub month: String,
    /// IANA zone of the local days, e.g. "Asia/Shanghai".
    pub zone: String,
    /// "worker" or "person" (SPEC 8 `[rules] subject`): whom the top list names.
    pub subject: Subject,
    /// Every (worker, local day of the month) with working time above zero.
    pub worker_days: Vec<WorkerDay>,
    /// Every alert whose `at` falls in the month (aggregates included).
    pub alerts: Vec<AlertRow>,
    /// The pack(s) in force, for the report's explanation: (platform, pack name).
    pub packs: Vec<(String, String)>,
    /// When the report was made and from what (input file name or "stdin"), for the footer.
    pub source: String,
    /// A holiday calendar is configured but has no table for the month's year: its holidays
    /// are unknown and holiday pay was not checked (said in the report, not read as a month
    /// without holidays).
    pub holidays_unknown: bool,
    /// The continuous-work limits of the rule sets the month's days were held to, each once,
    /// ascending: (`limit`, `break`), ms, of each set's first `continuous` rule.
    pub continuous: Vec<(i64, i64)>,
    /// Their `holiday_pay` ratios, in millionths, each once, ascending.
    pub holiday_ratios: Vec<u64>,
    /// What of the input counts in no figure, for the footer.
    pub input: InputCounts,
}

/// The input's lines and what of them no figure counts: bad events (each reported on stderr),
/// duplicates and late events (dropped as `replay` drops them, SPEC section 5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounts {
    pub lines: u64,
    pub bad: u64,
    pub duplicates: u64,
    pub late: u64,
}

impl InputCounts {
    fn of(read: &crate::replay::Report) -> InputCounts {
        InputCounts {
            lines: read.lines,
            bad: read.bad_total(),
            duplicates: read.engine.duplicates,
            late: read.engine.late,
        }
    }

    /// "N lines read, B bad events, D duplicates and L late events dropped".
    pub fn describe(&self) -> String {
        format!(
            "{} lines read, {} bad events, {} duplicates and {} late events dropped",
            self.lines, self.bad, self.duplicates, self.late
        )
    }
}

/// Whom the rules, and so the report, count (SPEC 8 `[rules] subject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Worker,
    Person,
}

impl Subject {
    /// The config value: "worker" or "person".
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Worker => "worker",
            Subject::Person => "person",
        }
    }
}

/// One worker's working time on one local day of the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerDay {
    pub platform: String,
    pub role: String,
    pub city: String,
    pub worker_id: String,
    /// The person (SPEC 8), when events carried one.
    pub person_id: Option<String>,
    pub day: NaiveDate,
    /// Working time (SPEC section 3) that local day, ms.
    pub work_ms: i64,
    /// Under `subject = "person"`: the person's working time that local day over all their
    /// worker ids (concurrent sessions count once), ms, the same on each of the person's
    /// worker-days of that day. The person-day figures (days over the maximum, percentile,
    /// histogram) use it; without it they fall back to the largest `work_ms` of the person's
    /// worker-days that day. `None` under `subject = "worker"`.
    pub person_work_ms: Option<i64>,
    /// The worker's `daily_standard` and `daily_max` (their rules; under `subject =
    /// "person"`, the person's rules), ms.
    pub daily_standard_ms: i64,
    pub daily_max_ms: i64,
    /// Whether the day is a statutory holiday (calendar configured and day listed).
    pub holiday: bool,
}

/// One alert of the month, as much of it as the report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// The pack rule id (the alert's `rule`), e.g. "continuous_work".
    pub rule: String,
    /// The rule's kind: "continuous", "period", "rolling", "since_rest", "rest_deadline",
    /// "streak", "overtime", "minimum_wage", "quota_p90", "holiday_pay".
    pub kind: String,
    /// "warning", "violation" or "resolved".
    pub phase: String,
    pub platform: String,
    pub role: String,
    pub city: String,
    /// Absent for aggregates (`quota_p90`) and under subject = person.
    pub worker_id: Option<String>,
    pub person_id: Option<String>,
    /// Epoch ms.
    pub at: i64,
}

/// `workhours report`: replays the input up to the end of `--month` and renders the month.
pub fn run(args: &crate::cli::ReportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;

    let config = crate::config::Config::load(args.config.as_deref())?;
    let (first, next) = month_days(&args.month)?;
    let html = match args.format.as_str() {
        "html" => true,
        "csv" => false,
        other => anyhow::bail!("--format {other:?}: expected `html` or `csv`"),
    };
    let zone = config.time.zone;
    let subject = match config.subject {
        crate::config::Subject::Worker => Subject::Worker,
        crate::config::Subject::Person => Subject::Person,
    };
    let mut cal = crate::calendar::Calendar::new(zone);
    let (start, end) = (cal.start_of(first), cal.start_of(next));
    if let Some(output) = args.output.as_deref().filter(|p| p.as_os_str() != "-") {
        crate::files::refuse_overwriting_input(args.input.as_deref(), output, "--output")?;
        crate::files::refuse_overwriting(
            args.config.as_deref(),
            "the config file",
            output,
            "--output",
        )?;
    }
    let input = crate::replay::open_input(args.input.as_deref(), "report")?;
    let mut engine = crate::engine::Engine::new(config);
    engine.track_days();
    let mut gather = Gather {
        start,
        end,
        first,
        next,
        alerts: Vec::new(),
        days: Vec::new(),
    };
    let mut diag = std::io::BufWriter::new(std::io::stderr().lock());
    // Event time runs through the midnight ending the day of the last event read (at most
    // the month's last midnight), so that its last day closes (pay rules and quotas fire
    // then), but no further: input that stops on the 15th reports no work after the 15th.
    // Events after the month are not applied, but one read says that the input covers the
    // whole month (SPEC section 5: replay time runs to the largest `ts`): event time runs
    // then to the month's end (a session on through the last days counted them in no month).
    let until_midnight = |max_ts: Option<i64>, past_the_month: bool| {
        if past_the_month {
            Some(end)
        } else {
            max_ts.map(|ts| cal.day_at(ts).end.min(end))
        }
    };
    let read = crate::replay::replay_until(
        &mut engine,
        Some(end),
        until_midnight,
        input,
        &mut gather,
        &mut diag,
    )
    .context("report failed")?;
    // As `status` does: a late or duplicate event is left out of every figure, and the user
    // is told how many (a report of input not sorted by `ts` lost events without a word: audit
    // BE). Events after the month are read to learn that the input covers it, not applied.
    let input_counts = InputCounts::of(&read);
    writeln!(
        diag,
        "workhours report: {} ({}, {} events after the month not applied)",
        args.month,
        input_counts.describe(),
        read.after_until
    )
    .context("cannot write to stderr")?;
    let sets = engine.rule_sets();
    let holidays = engine.config().holidays.clone();
    let year = chrono::Datelike::year(&crate::calendar::Calendar::date(first));
    let holidays_unknown = holidays.as_ref().is_some_and(|h| !h.covers(year));
    if holidays_unknown {
        writeln!(
            diag,
            "workhours report: the holiday calendar has no table for {year}: the month's \
             statutory holidays are unknown and holiday pay was not checked"
        )
        .context("cannot write to stderr")?;
    }
    let mut packs: Vec<(String, String)> = Vec::new();
    let (mut continuous, mut holiday_ratios) = (Vec::new(), Vec::new());
    let mut sets_used = vec![false; sets.len()];
    let worker_days = gather
        .days
        .into_iter()
        .map(|day| {
            let set = &sets[usize::from(day.rules)];
            let entry = (day.platform.clone(), set.pack.to_string());
            if !packs.contains(&entry) {
                packs.push(entry);
            }
            if !std::mem::replace(&mut sets_used[usize::from(day.rules)], true) {
                let params = set.rules().iter().map(|def| &def.params);
                if let Some((limit, brk)) = params.clone().find_map(|p| match p {
                    crate::engine::rules::Params::Continuous(c) => Some((c.limit, c.brk)),
                    _ => None,
                }) {
                    continuous.push((limit, brk));
                }
                holiday_ratios.extend(params.filter_map(|p| match p {
                    crate::engine::rules::Params::HolidayPay(h) => Some(h.ratio_ppm),
                    _ => None,
                }));
            }
            let date = crate::calendar::Calendar::date(day.day);
            WorkerDay {
                platform: day.platform,
                role: day.role,
                city: day.city,
                worker_id: day.worker_id,
                person_id: day.person_id,
                day: date,
                work_ms: day.work,
                person_work_ms: day.person_work,
                daily_standard_ms: set.daily_standard,
                daily_max_ms: set.daily_max,
                holiday: holidays.as_ref().is_some_and(|h| h.is_statutory(date)),
            }
        })
        .collect();
    packs.sort();
    continuous.sort_unstable();
    continuous.dedup();
    holiday_ratios.sort_unstable();
    holiday_ratios.dedup();
    let data = MonthData {
        month: args.month.clone(),
        zone: zone.name().to_owned(),
        subject,
        worker_days,
        alerts: gather.alerts,
        packs,
        source: match args.input.as_deref() {
            Some(path) if path.as_os_str() != "-" => path.display().to_string(),
            _ => "stdin".into(),
        },
        holidays_unknown,
        continuous,
        holiday_ratios,
        input: input_counts,
    };
    let text = if html {
        render_html(&data)
    } else {
        render_csv(&data)
    };
    match args.output.as_deref() {
        Some(path) if path.as_os_str() != "-" => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("cannot write the report")?;
        }
    }
    diag.flush()?;
    Ok(())
}

/// `YYYY-MM`: the month's first day and the next month's first day, as day numbers.
fn month_days(text: &str) -> anyhow::Result<(i32, i32)> {
    let parsed = text
        .split_once('-')
        .filter(|(y, m)| {
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            y.len() == 4 && m.len() == 2 && digits(y) && digits(m)
        })
        .and_then(|(y, m)| Some((y.parse::<i64>().ok()?, m.parse::<u32>().ok()?)))
        .filter(|&(_, m)| (1..=12).contains(&m));
    let Some((year, month)) = parsed else {
        anyhow::bail!("--month {text:?}: expected YYYY-MM, e.g. 2026-03");
    };
    if !(2000..2100).contains(&year) {
        anyhow::bail!("--month {text:?} is outside 2000-01 to 2099-12");
    }
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Ok((
        crate::timefmt::days_from_civil(year, month, 1) as i32,
        crate::timefmt::days_from_civil(ny, nm, 1) as i32,
    ))
}

/// Keeps the month's alerts and worker-days as the replay goes.
struct Gather {
    start: i64,
    end: i64,
    first: i32,
    next: i32,
    alerts: Vec<AlertRow>,
    days: Vec<crate::engine::ClosedWorkerDay>,
}

impl crate::replay::Sink for Gather {
    fn alert(&mut self, alert: crate::alert::Alert) -> std::io::Result<()> {
        // Day rules fire at the midnight ending their day: they belong to the day's month.
        let when = match alert.kind {
            "minimum_wage" | "holiday_pay" | "quota_p90" => alert.period_start,
            _ => alert.at,
        };
        if self.start <= when && when < self.end {
            self.alerts.push(AlertRow {
                rule: alert.rule.to_string(),
                kind: alert.kind.to_owned(),
                phase: alert.phase.as_str().to_owned(),
                platform: alert.platform,
                role: alert.role,
                city: alert.city,
                worker_id: alert.worker_id,
                person_id: alert.person_id,
                at: alert.at,
            });
        }
        Ok(())
    }

    fn day(&mut self, day: crate::engine::ClosedWorkerDay) {
        if (self.first..self.next).contains(&day.day) {
            self.days.push(day);
        }
    }
}
