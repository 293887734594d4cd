//! The per-group table as CSV: one table per file, for spreadsheets and scripts.
//!
//! RFC 4180: UTF-8 without a byte-order mark, CRLF line ends, a header row, then one row per
//! (platform, city) ordered by platform and city, then one total row (`scope` = `total`,
//! `platform` and `city` empty). Fields holding a comma, a quote or a line break are quoted,
//! with quotes doubled. A text field starting with `=`, `+`, `-`, `@`, a tab or a carriage
//! return (a hostile platform or city name that a spreadsheet would run as a formula) is
//! written with a `'` in front. Counts are integers; `*_pct` are percentages with one decimal;
//! `p90_daily_hours` is decimal hours with two decimals (9.50 = 9 h 30 min); a share or
//! percentile with nothing to divide (no worker-days) is empty. `subject` says what
//! `active_workers` counts: worker ids (`worker`) or persons (`person`). `top_by_violations`
//! names the group's (at most 3) workers, or persons, with the most `violation` alerts naming
//! the group, each with its count, most first, ties by id: `w1 (5); w2 (3)`; in the total row,
//! the month's first 3. The whole top list and the persons across platforms are in the HTML
//! report only.

use super::format::csv;
use super::{GroupRow, MonthData, Summary, summarize};

/// The header row's columns, in order.
pub const COLUMNS: [&str; 17] = [
    "scope",
    "month",
    "subject",
    "platform",
    "city",
    "active_workers",
    "worker_days",
    "continuous_violation_workers",
    "continuous_violation_workers_pct",
    "worker_days_over_daily_max",
    "worker_days_over_daily_max_pct",
    "p90_daily_hours",
    "minimum_wage_breaches",
    "holiday_pay_breaches",
    "holiday_worker_days",
    "cross_platform_workers",
    "top_by_violations",
];

/// The month's per-group table as CSV (see the module doc for the format).
pub fn render_csv(data: &MonthData) -> String {
    summary_csv(&summarize(data))
}

/// The CSV of an already computed summary.
pub fn summary_csv(summary: &Summary) -> String {
    let mut out = String::with_capacity(160 * (summary.groups.len() + 2));
    out.push_str(&COLUMNS.join(","));
    out.push_str("\r\n");
    for row in &summary.groups {
        line(&mut out, summary, "group", row);
    }
    line(&mut out, summary, "total", &summary.total);
    out
}

fn line(out: &mut String, summary: &Summary, scope: &str, row: &GroupRow) {
    let fields = [
        scope.to_string(),
        csv(&summary.month).into_owned(),
        summary.subject.as_str().to_string(),
        csv(&row.platform).into_owned(),
        csv(&row.city).into_owned(),
        row.active_workers.to_string(),
        row.worker_days.to_string(),
        row.continuous_violators.to_string(),
        row.continuous_share().unwrap_or_default(),
        row.days_over_max.to_string(),
        row.over_max_share().unwrap_or_default(),
        row.p90_hours().unwrap_or_default(),
        row.minimum_wage_breaches.to_string(),
        row.holiday_pay_breaches.to_string(),
        row.holiday_worker_days.to_string(),
        row.cross_platform_workers.to_string(),
        csv(&row.top_text()).into_owned(),
    ];
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}
