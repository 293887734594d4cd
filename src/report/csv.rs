//! The per-group table as CSV: one table per file, for spreadsheets and scripts. The format
//! (RFC 4180, CRLF, the columns, quoting, the `'` before a would-be formula, the number
//! formats, the top list) is written for users in `docs/reports.md`, section "CSV".

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

/// The month's per-group table as CSV (the format: `docs/reports.md`).
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
