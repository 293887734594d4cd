//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no
//! request of any kind (a Content-Security-Policy of `default-src 'none'` says so to the
//! browser), system fonts only (Chinese names render with the system's CJK font).
//!
//! Every string from the data goes through `format::html`. Table cells carry `data-col` with the
//! CSV column they show, so that a test can compare the two.

use chrono::{Datelike, Months, NaiveDate};
use std::fmt::Write;

use super::format::{duration_words, hours, html, percent, thousands};
use super::summary::{GroupRow, HoursHistogram, MAX_CHART_GROUPS, MAX_PAIRS, Summary, TOP_N};
use super::svg::{self, BarRow, Series};
use super::{MonthData, Subject, summarize};

const STYLE: &str = include_str!("report.css");
/// Group tables longer than this scroll within the page.
const TALL_TABLE: usize = 40;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The month's report as one HTML page.
pub fn render_html(data: &MonthData) -> String {
    summary_html(&summarize(data), data)
}

/// The page for an already computed summary of `data` (which gives the footer).
pub fn summary_html(s: &Summary, data: &MonthData) -> String {
    let words = Words::new(s);
    let mut out = String::with_capacity(64 * 1024 + 600 * s.groups.len());
    head(&mut out, s, &words);
    out.push_str("<main>\n");
    cards(&mut out, s, &words);
    how_to_read(&mut out, s, data, &words);
    group_table(&mut out, s, &words);
    hours_panel(&mut out, s, &words);
    out.push_str("<div class=\"grid\">\n");
    shares_panel(&mut out, s, &words);
    breaches_panel(&mut out, s);
    out.push_str("</div>\n");
    cross_panel(&mut out, s);
    top_panel(&mut out, s, &words);
    out.push_str("</main>\n");
    footer(&mut out, data);
    out.push_str("</body>\n</html>\n");
    out
}

/// The words that depend on the data: the month, the subject, the limits.
struct Words {
    /// "March 2026", or the month as given when it is not YYYY-MM.
    month: String,
    /// "1 to 31 March 2026".
    span: String,
    /// "worker" or "person", and their plural.
    one: &'static str,
    many: &'static str,
    /// "worker-days" or "person-days".
    days: &'static str,
    /// The most common limits, "8 h" and "11 h".
    standard: String,
    max: String,
    /// What "over the maximum" means: "11 h" when every day had that maximum, else "the
    /// daily maximum".
    over: String,
    /// A sentence on limits other than the most common ("" when every day had the same).
    other_limits: String,
}

impl Words {
    fn new(s: &Summary) -> Self {
        let (month, span) = match NaiveDate::parse_from_str(&format!("{}-01", s.month), "%Y-%m-%d")
        {
            Ok(first) => {
                let name = MONTHS[first.month0() as usize];
                let last = first
                    .checked_add_months(Months::new(1))
                    .and_then(|next| next.pred_opt())
                    .map_or(28, |d| d.day());
                (
                    format!("{name} {}", first.year()),
                    format!("1 to {last} {name} {}", first.year()),
                )
            }
            Err(_) => (s.month.clone(), s.month.clone()),
        };
        let (one, many, days) = match s.subject {
            Subject::Worker => ("worker", "workers", "worker-days"),
            Subject::Person => ("person", "persons", "person-days"),
        };
        let all = &s.hours[0];
        let over = if all.one_max() {
            duration_words(all.max_ms)
        } else {
            "the daily maximum".to_string()
        };
        let other_limits = if all.limits_vary() {
            let others: Vec<String> = all.limits[1..]
                .iter()
                .map(|&(standard, max, n)| {
                    format!(
                        "a standard day of {} and a maximum of {} on {} {days}",
                        duration_words(standard),
                        duration_words(max),
                        thousands(n)
                    )
                })
                .collect();
            format!(
                "Not every {one} has the same limits (roles and platforms may have rules of their \
                 own): {}. Each day is held to its own {one}'s limits.",
                others.join("; ")
            )
        } else {
            String::new()
        };
        Words {
            month,
            span,
            one,
            many,
            days,
            standard: duration_words(all.standard_ms),
            max: duration_words(all.max_ms),
            over,
            other_limits,
        }
    }
}

fn head(out: &mut String, s: &Summary, w: &Words) {
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Working hours report · {month} · {zone}</title>
<style>
{STYLE}</style>
</head>
<body>
<header>
  <div class="title">
    <h1>Working hours of platform workers, {month} <span class="tag">monthly report</span></h1>
    <p class="lead">{span}, in local days of {zone}. For each platform and city: how many {many}
    worked, how long their days were, and how often they went past the legal limits on working
    time and pay. The figures come from replaying the platforms' login, break and order events
    through the same rules as the live monitor.</p>
  </div>
  <div class="period">
    <div class="period-label">Month</div>
    <div class="period-month" id="month">{raw_month}</div>
    <div class="period-zone">{zone}</div>
  </div>
</header>
"#,
        month = html(&w.month),
        zone = html(&s.zone),
        span = html(&w.span),
        many = w.many,
        raw_month = html(&s.month),
    );
}

/// "12.5 %", or "–" when there is nothing to divide.
fn pct_text(share: Option<String>) -> String {
    share.map_or_else(|| "–".to_string(), |p| format!("{p} %"))
}

/// A share as a number for a chart's bar (0 when undefined).
fn pct_value(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn cards(out: &mut String, s: &Summary, w: &Words) {
    let t = &s.total;
    let p90 = t
        .p90_hours()
        .map_or_else(|| "–".to_string(), |h| format!("{h} h"));
    let cards = [
        (
            "",
            format!("Active {}", w.many),
            thousands(t.active_workers),
            format!("{} with any working time in the month", w.many),
        ),
        (
            "",
            capital(w.days),
            thousands(t.worker_days),
            format!("one {} working on one day", w.one),
        ),
        (
            "cont",
            "Continuous-work violations".to_string(),
            pct_text(t.continuous_share()),
            format!(
                "of {} ({}) worked past the continuous-work limit at least once",
                w.many,
                thousands(t.continuous_violators)
            ),
        ),
        (
            "bad",
            format!("Days over {}", w.over),
            pct_text(t.over_max_share()),
            format!(
                "of {} ({}) went past the daily maximum",
                w.days,
                thousands(t.days_over_max)
            ),
        ),
        (
            "warn",
            "90% of days within".to_string(),
            p90,
            if s.hours[0].one_standard() {
                format!(
                    "the 90th percentile of daily hours; the standard day is {}",
                    w.standard
                )
            } else {
                format!(
                    "the 90th percentile of daily hours; the standard day is {} for most {}, \
                     each day held to its own",
                    w.standard, w.days
                )
            },
        ),
        (
            "wage",
            "Pay breaches".to_string(),
            thousands(t.minimum_wage_breaches + t.holiday_pay_breaches),
            format!(
                "{} below the minimum wage, {} without holiday pay",
                thousands(t.minimum_wage_breaches),
                thousands(t.holiday_pay_breaches)
            ),
        ),
    ];
    out.push_str("<section class=\"cards\" aria-label=\"Key figures of the month\">\n");
    for (class, label, value, note) in cards {
        let _ = writeln!(
            out,
            r#"  <div class="card {class}"><div class="card-label">{}</div><div class="card-value">{}</div><div class="card-note">{}</div></div>"#,
            html(&label),
            html(&value),
            html(&note)
        );
    }
    out.push_str("</section>\n");
}

fn how_to_read(out: &mut String, s: &Summary, data: &MonthData, w: &Words) {
    let who = match s.subject {
        Subject::Worker => "A <b>worker</b> is one account (worker id) on one platform: a person who \
            rides for two platforms is two workers here, and each platform sees only its own hours."
            .to_string(),
        Subject::Person => "This report counts <b>persons</b>: a person may work for several platforms, \
            each under its own worker id; the platforms send the same pseudonymous person id, so the \
            rules add up the person's hours on every platform (time on two platforms at once counts \
            once). A worker id sent without a person id counts as a person of its own."
            .to_string(),
    };
    let holidays = if s.holidays_unknown {
        format!(
            "The holiday calendar has no table for {}: this month's statutory holidays are \
             unknown, and holiday pay was not checked.",
            &s.month[..4]
        )
    } else if s.holidays.is_empty() {
        "No one worked on a statutory holiday this month (or no holiday calendar was configured)."
            .to_string()
    } else {
        let days: Vec<String> = s
            .holidays
            .iter()
            .map(|d| d.format("%-d %B").to_string())
            .collect();
        format!("Statutory holidays worked this month: {}.", days.join(", "))
    };
    let cross = if s.cross.is_some() {
        format!(
            "<dt>Also on another platform</dt><dd>{many} of the group who, on a day they worked here, \
             also worked for another platform (the same person id). Each platform's hours may look \
             legal on their own while the person's day adds up to more.</dd>",
            many = capital(w.many)
        )
    } else {
        String::new()
    };
    let all = &s.hours[0];
    let max_source = if all.max_ms - all.standard_ms == 3 * HOUR {
        "The standard day plus at most 3 h of overtime (Labour Law art. 41).".to_string()
    } else {
        "As configured here; Labour Law art. 41 allows the standard day plus at most 3 h of \
         overtime."
            .to_string()
    };
    let weihai = "威人社字〔2022〕15号 measure 3; Road Traffic Safety Law regulations art. 62";
    // Days held to rule sets of which none has a `continuous` rule (an empty month keeps the
    // default's words).
    let no_rule = data.continuous.is_empty() && !data.worker_days.is_empty();
    let continuous = match &data.continuous[..] {
        _ if no_rule => "No rule pack in force here has a continuous-work \
             rule: the continuous-work figures count none."
            .to_string(),
        [] => format!(
            "Working 4 h without a break of at least 20 min is a violation under the default \
             rules ({weihai})."
        ),
        &[(limit, brk)] => format!(
            "Working {} without a break of at least {} is a violation ({}).",
            duration_words(limit),
            duration_words(brk),
            if (limit, brk) == (4 * HOUR, 20 * MINUTE) {
                weihai.to_string()
            } else {
                format!("as configured here; the Weihai notice says 4 h and 20 min: {weihai}")
            }
        ),
        limits => format!(
            "Working past the limit without a break of at least its length is a violation; \
             the limits differ between {many} (roles and platforms may have rules of their \
             own): {}. The Weihai notice says 4 h and 20 min ({weihai}).",
            limits
                .iter()
                .map(|&(limit, brk)| format!(
                    "{} with a break of {}",
                    duration_words(limit),
                    duration_words(brk)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            many = w.many
        ),
    };
    let continuous = if no_rule {
        continuous
    } else {
        continuous + " Pauses shorter than the break do not restart the count."
    };
    let ratio = |ppm: u64| format!("{}", ppm as f64 / 1e6);
    let holiday_ratio = match &data.holiday_ratios[..] {
        [] | [1_000_000] => String::new(),
        &[ppm] => format!("{} times ", ratio(ppm)),
        ratios => format!(
            "a multiple ({}, by the {one}'s rules) of ",
            ratios
                .iter()
                .map(|&ppm| ratio(ppm))
                .collect::<Vec<_>>()
                .join(", "),
            one = w.one
        ),
    };
    let _ = write!(
        out,
        r#"<section class="panel" id="how-to-read">
<h2>How to read this report</h2>
<div class="read">
<div>
<h3>What is counted</h3>
<p>{who} <b>Working time</b> is the time a {one} is logged in to the platform and not on a declared
break, or has an active order (accepted and not yet delivered or cancelled). Days are calendar days in {zone}; a shift across midnight counts toward
both days.</p>
<h3>The rules</h3>
<dl>
<dt>Standard day: {standard}</dt><dd>Labour Law art. 36. Time beyond it is overtime (orange in the charts).</dd>
<dt>Daily maximum: {max}</dt><dd>{max_source} A day longer than this is a violation (red). {other_limits}</dd>
<dt>Continuous work</dt><dd>{continuous} The rule packs in force
are listed at the bottom.</dd>
<dt>Minimum wage</dt><dd>A day of at least 1 h whose pay from delivered orders, per hour worked, is below the local
minimum wage (measure 2).</dd>
<dt>Holiday pay</dt><dd>A statutory holiday worked at least 1 h whose pay per hour is not above {holiday_ratio}the {one}'s pay on the
normal days of the previous 28 days (measure 2; Labour Law art. 44). {holidays}</dd>
</dl>
</div>
<div>
<h3>The figures, per platform and city</h3>
<dl>
<dt>Active {many}</dt><dd>How many different {many} worked at all in the month.</dd>
<dt>{days_cap}</dt><dd>One {one} working on one day: 20 {many} working 25 days each make 500 {days}.</dd>
<dt>Continuous-work violation</dt><dd>The share of active {many} who at least once went past the continuous-work
limit, counted in the platform and city where they were at that moment (the count in brackets).</dd>
<dt>Days over {over}</dt><dd>The share of {days} with more than {over} of work. A day that ends exactly at
the maximum is not counted: the rule fires only when work goes on past the limit.</dd>
<dt>90th percentile of daily hours</dt><dd>9 in 10 {days} were this long or shorter (the ⌈0.9·n⌉-th of the n
days sorted by length). Above {standard}, fewer than 90% of days stayed within the standard day, while measure 3
asks that quotas be set so that 90% of workers can meet them within legal hours.</dd>
<dt>Minimum-wage and holiday-pay breaches</dt><dd>How many days broke each pay rule (one per {one} and day), with the
{days} that fell on a holiday in brackets.</dd>
{cross}</dl>
<p>The <b>total</b> row counts each {one} and each {one}-day once, even when they appear under two cities or
platforms. Hours are decimal (9.50 h is 9 h 30 min); percentages have one decimal; a dash (–) means there was
nothing to divide by.</p>
</div>
</div>
</section>
"#,
        who = who,
        one = w.one,
        many = w.many,
        zone = html(&s.zone),
        standard = html(&w.standard),
        max = html(&w.max),
        holidays = html(&holidays),
        max_source = html(&max_source),
        continuous = html(&continuous),
        holiday_ratio = html(&holiday_ratio),
        cross = cross,
        over = html(&w.over),
        other_limits = html(&w.other_limits),
        days = w.days,
        days_cap = capital(w.days),
    );
}

fn capital(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn group_table(out: &mut String, s: &Summary, w: &Words) {
    let cross = s.cross.is_some();
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-groups">
<h2>By platform and city</h2>
<p class="explain">One row per platform and city, then the month's total. The same table is in the CSV report
(<code>--format csv</code>).</p>
<div class="table-wrap{tall}">
<table id="groups">
<thead><tr><th>Platform</th><th>City</th><th class="num">Active {many}</th><th class="num">{days_cap}</th><th class="num">Continuous-work violation<br>(% of {many})</th><th class="num">Days over <span class="nowrap">{max}</span><br>(% of days)</th><th class="num">90th percentile of daily hours</th><th class="num">Minimum-wage breaches</th><th class="num">Holiday-pay breaches<br>(holiday days)</th>{cross_head}<th>Most violations</th></tr></thead>
<tbody>
"#,
        days_cap = capital(w.days),
        // Long tables scroll under their header; short ones show whole (screens, print).
        tall = if s.groups.len() > TALL_TABLE {
            " tall"
        } else {
            ""
        },
        many = w.many,
        max = html(&w.over),
        cross_head = if cross {
            r#"<th class="num">Also on another platform</th>"#
        } else {
            ""
        },
    );
    if s.groups.is_empty() {
        let _ = writeln!(
            out,
            r#"<tr><td colspan="{}" class="empty">No one worked in this month.</td></tr>"#,
            if cross { 11 } else { 10 }
        );
    }
    for row in &s.groups {
        group_row(out, row, "group-row", cross);
    }
    out.push_str("</tbody>\n<tfoot>\n");
    group_row(out, &s.total, "total-row", cross);
    out.push_str("</tfoot>\n</table>\n</div>\n</section>\n");
}

fn group_row(out: &mut String, row: &GroupRow, class: &str, cross: bool) {
    let total = class == "total-row";
    let (platform, city) = if total {
        ("Total".into(), "".into())
    } else {
        (html(&row.platform), html(&row.city))
    };
    let hot = |part: u64| if part > 0 { "hot" } else { "" };
    let _ = write!(
        out,
        r#"<tr class="{class}"><td data-col="platform">{platform}</td><td data-col="city">{city}</td><td class="num" data-col="active_workers">{}</td><td class="num" data-col="worker_days">{}</td><td class="num"><span data-col="continuous_violation_workers_pct" class="{}">{}</span><span class="n">(<span data-col="continuous_violation_workers">{}</span>)</span></td><td class="num"><span data-col="worker_days_over_daily_max_pct" class="{}">{}</span><span class="n">(<span data-col="worker_days_over_daily_max">{}</span>)</span></td><td class="num" data-col="p90_daily_hours">{}</td><td class="num {}" data-col="minimum_wage_breaches">{}</td><td class="num"><span data-col="holiday_pay_breaches" class="{}">{}</span><span class="n">(<span data-col="holiday_worker_days">{}</span>)</span></td>"#,
        thousands(row.active_workers),
        thousands(row.worker_days),
        hot(row.continuous_violators),
        pct_text(row.continuous_share()),
        thousands(row.continuous_violators),
        hot(row.days_over_max),
        pct_text(row.over_max_share()),
        thousands(row.days_over_max),
        row.p90_hours()
            .map_or_else(|| "–".to_string(), |h| format!("{h} h")),
        hot(row.minimum_wage_breaches),
        thousands(row.minimum_wage_breaches),
        hot(row.holiday_pay_breaches),
        thousands(row.holiday_pay_breaches),
        thousands(row.holiday_worker_days),
    );
    if cross {
        let _ = write!(
            out,
            r#"<td class="num" data-col="cross_platform_workers">{}</td>"#,
            thousands(row.cross_platform_workers)
        );
    }
    // One subject a line; a long id (a person's 64 hex digits) shortened, whole in its title
    // and, with the counts, in `data-full` (the CSV's text).
    let shown: Vec<String> = row
        .top
        .iter()
        .map(|(id, count)| {
            let short = if id.chars().count() > 16 {
                format!("{}…", id.chars().take(12).collect::<String>())
            } else {
                id.clone()
            };
            format!(
                r#"<span class="id" title="{}">{}</span> ({count})"#,
                html(id),
                html(&short)
            )
        })
        .collect();
    let _ = write!(
        out,
        r#"<td data-col="top_by_violations" data-full="{}">{}</td>"#,
        html(&row.top_text()),
        if shown.is_empty() {
            "–".to_string()
        } else {
            shown.join("<br>")
        }
    );
    out.push_str("</tr>\n");
}

fn hours_panel(out: &mut String, s: &Summary, w: &Words) {
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-hours">
<h2>How long a day's work was</h2>
<p class="explain">{days_cap} by hours worked that day, in one-hour bars (the last bar holds 23 h and more). The dashed
lines are the <b>{standard}</b> standard day and the <b>{max}</b> maximum. Colours follow each day's own limits: blue
within the standard day, orange overtime, red over the maximum. {other}</p>
<div class="small-multiples" id="chart-hours" data-filled="{}">
"#,
        if s.total.worker_days > 0 { "yes" } else { "no" },
        standard = html(&w.standard),
        max = html(&w.max),
        other = html(&w.other_limits),
        days_cap = capital(w.days),
    );
    for h in &s.hours {
        histogram_multiple(out, h, w.days);
    }
    out.push_str("</div>\n");
    out.push_str(
        r#"<div class="legend"><span><i class="sw under"></i>within the standard day</span><span><i class="sw over-standard"></i>overtime, within the maximum</span><span><i class="sw over-max"></i>over the daily maximum</span></div>
"#,
    );
    if s.hours_platforms_omitted > 0 {
        let _ = writeln!(
            out,
            r#"<p class="note">{} smaller platforms have no chart of their own; they are in "All platforms".</p>"#,
            s.hours_platforms_omitted
        );
    }
    out.push_str("</section>\n");
}

fn histogram_multiple(out: &mut String, h: &HoursHistogram, days: &str) {
    let name = h.platform.as_deref().unwrap_or("All platforms");
    let _ = write!(out, "<div class=\"multiple\"><h3>{}</h3>", html(name));
    if h.days == 0 {
        out.push_str(r#"<p class="note">No working time recorded in the month.</p></div>"#);
        out.push('\n');
        return;
    }
    let _ = write!(
        out,
        r#"<p class="note">{} {days} · <b>{}</b> over {} ({}) · <b class="hot">{}</b> over {} ({})"#,
        thousands(h.days),
        thousands(h.over_standard),
        if h.one_standard() {
            duration_words(h.standard_ms)
        } else {
            "the standard day".to_string()
        },
        pct_text(percent(h.over_standard, h.days)),
        thousands(h.over_max),
        if h.one_max() {
            duration_words(h.max_ms)
        } else {
            "the maximum".to_string()
        },
        pct_text(percent(h.over_max, h.days)),
    );
    out.push_str("</p><div class=\"chart\">");
    out.push_str(&svg::histogram(h, days, &format!("Daily hours, {name}")));
    out.push_str("</div></div>\n");
}

/// The groups drawn in the charts: at most [`MAX_CHART_GROUPS`], the largest by active
/// workers (ties by name), in the table's order.
fn chart_groups(s: &Summary) -> Vec<&GroupRow> {
    let mut chosen: Vec<(usize, &GroupRow)> = s.groups.iter().enumerate().collect();
    chosen.sort_by_key(|&(i, g)| (std::cmp::Reverse(g.active_workers), i));
    chosen.truncate(MAX_CHART_GROUPS);
    chosen.sort_by_key(|&(i, _)| i);
    chosen.into_iter().map(|(_, g)| g).collect()
}

fn group_label(g: &GroupRow) -> String {
    format!("{} · {}", g.platform, g.city)
}

fn omitted_note(out: &mut String, s: &Summary, shown: usize) {
    if s.groups.len() > shown {
        let _ = writeln!(
            out,
            r#"<p class="note">The {shown} groups with the most active workers of {}; the table has them all.</p>"#,
            s.groups.len()
        );
    }
}

fn shares_panel(out: &mut String, s: &Summary, w: &Words) {
    let groups: Vec<&GroupRow> = chart_groups(s)
        .into_iter()
        .filter(|g| g.worker_days > 0)
        .collect();
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-shares">
<h2>{title} over the limits</h2>
<p class="explain">Per platform and city: the share of active {many} who went past the continuous-work limit at
least once, and the share of {days} longer than {max}.</p>
<div class="chart" id="chart-shares" data-filled="{}">"#,
        if groups.is_empty() { "no" } else { "yes" },
        title = capital(w.many),
        many = w.many,
        max = html(&w.over),
        days = w.days,
    );
    if groups.is_empty() {
        out.push_str(r#"<p class="note">No one worked in this month.</p>"#);
    } else {
        let rows: Vec<BarRow> = groups
            .iter()
            .map(|g| BarRow {
                label: group_label(g),
                values: vec![
                    (
                        pct_value(g.continuous_violators, g.active_workers),
                        pct_text(g.continuous_share()),
                    ),
                    (
                        pct_value(g.days_over_max, g.worker_days),
                        pct_text(g.over_max_share()),
                    ),
                ],
            })
            .collect();
        let cont = format!("{} with a continuous-work violation", w.many);
        let over = format!("{} over {}", w.days, w.over);
        let series = [
            Series {
                class: "cont",
                name: &cont,
            },
            Series {
                class: "over",
                name: &over,
            },
        ];
        out.push_str(&svg::bars(
            &rows,
            &series,
            Some(100.0),
            "Shares over the limits, per platform and city",
        ));
    }
    out.push_str("</div>\n");
    let _ = writeln!(
        out,
        r#"<div class="legend"><span><i class="sw cont"></i>% of {many} with a continuous-work violation</span><span><i class="sw over"></i>% of {days} over {max}</span></div>"#,
        many = w.many,
        max = html(&w.over),
        days = w.days,
    );
    omitted_note(out, s, groups.len());
    out.push_str("</section>\n");
}

fn breaches_panel(out: &mut String, s: &Summary) {
    let groups = chart_groups(s);
    let any = s.total.minimum_wage_breaches + s.total.holiday_pay_breaches > 0;
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-breaches">
<h2>Pay breaches</h2>
<p class="explain">Per platform and city: days paid below the minimum wage, and statutory holidays paid no more
than normal days (number of days, one per worker, or person, and day).</p>
<div class="chart" id="chart-breaches" data-filled="{}">"#,
        if any { "yes" } else { "no" }
    );
    if any {
        let rows: Vec<BarRow> = groups
            .iter()
            .map(|g| BarRow {
                label: group_label(g),
                values: vec![
                    (
                        g.minimum_wage_breaches as f64,
                        thousands(g.minimum_wage_breaches),
                    ),
                    (
                        g.holiday_pay_breaches as f64,
                        thousands(g.holiday_pay_breaches),
                    ),
                ],
            })
            .collect();
        let series = [
            Series {
                class: "wage",
                name: "minimum-wage breaches",
            },
            Series {
                class: "holiday",
                name: "holiday-pay breaches",
            },
        ];
        out.push_str(&svg::bars(
            &rows,
            &series,
            None,
            "Pay breaches, per platform and city",
        ));
    } else {
        out.push_str(r#"<p class="note">No minimum-wage or holiday-pay breach this month.</p>"#);
    }
    out.push_str("</div>\n");
    out.push_str(
        r#"<div class="legend"><span><i class="sw wage"></i>minimum-wage breaches</span><span><i class="sw holiday"></i>holiday-pay breaches</span></div>
"#,
    );
    omitted_note(out, s, groups.len());
    out.push_str("</section>\n");
}

fn cross_panel(out: &mut String, s: &Summary) {
    let Some(c) = &s.cross else { return };
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-cross">
<h2>Persons working for several platforms on the same day</h2>
<p class="explain">Platforms send a pseudonymous person id, the same on every platform. Of <b>{persons}</b> persons
with a person id who worked this month, <b>{across}</b> ({share}) worked for two or more platforms on the same day, on
<b>{days}</b> person-days in all. Each platform sees only its own part of such a day{note}. Per pair of platforms:</p>
<div class="chart narrow" id="chart-cross" data-filled="{filled}">"#,
        persons = thousands(c.persons),
        across = thousands(c.persons_across),
        share = pct_text(percent(c.persons_across, c.persons)),
        days = thousands(c.person_days_across),
        note = match s.subject {
            Subject::Worker => "; the rules in force here count each worker id on its own",
            Subject::Person => "; the rules in force here add the person's platforms up",
        },
        filled = if c.pairs.is_empty() { "no" } else { "yes" },
    );
    if c.pairs.is_empty() {
        out.push_str(r#"<p class="note">No person worked for two platforms on the same day.</p>"#);
    } else {
        let rows: Vec<BarRow> = c
            .pairs
            .iter()
            .take(MAX_PAIRS)
            .map(|p| BarRow {
                label: format!("{} + {}", p.a, p.b),
                values: vec![(
                    p.persons as f64,
                    format!(
                        "{} ({} day{})",
                        thousands(p.persons),
                        thousands(p.person_days),
                        if p.person_days == 1 { "" } else { "s" }
                    ),
                )],
            })
            .collect();
        let series = [Series {
            class: "persons",
            name: "persons (person-days)",
        }];
        out.push_str(&svg::bars(
            &rows,
            &series,
            None,
            "Persons on two platforms the same day, per pair",
        ));
    }
    out.push_str("</div>\n");
    out.push_str(
        r#"<div class="legend"><span><i class="sw persons"></i>persons who worked for both platforms on the same day (in brackets: on how many person-days)</span></div>
"#,
    );
    if c.pairs.len() > MAX_PAIRS {
        let _ = writeln!(
            out,
            r#"<p class="note">The {MAX_PAIRS} pairs with the most persons of {}.</p>"#,
            c.pairs.len()
        );
    }
    out.push_str("</section>\n");
}

fn top_panel(out: &mut String, s: &Summary, w: &Words) {
    let _ = write!(
        out,
        r#"<section class="panel" id="panel-top">
<h2>{title} with the most violations</h2>
<p class="explain">The {TOP_N} {many} with the most violation alerts in the month, of every rule (ties in order of
id), with their count per rule. Warnings and resolutions are not counted. Hours are those of the whole month.</p>
<div class="table-wrap">
<table id="top">
<thead><tr><th class="num">#</th><th>{one}</th><th>Platform · city</th><th class="num">Days worked</th><th class="num">Hours worked</th><th class="num">Violations</th>"#,
        title = capital(w.many),
        many = w.many,
        one = capital(w.one),
    );
    for rule in &s.top_rules {
        // Rule ids break after their underscores, so that many rules fit.
        let _ = write!(
            out,
            r#"<th class="num rule"><code>{}</code></th>"#,
            html(rule).replace('_', "_<wbr>")
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    if s.top.is_empty() {
        let _ = writeln!(
            out,
            r#"<tr><td colspan="{}" class="empty">No violation this month.</td></tr>"#,
            6 + s.top_rules.len()
        );
    }
    for (rank, e) in s.top.iter().enumerate() {
        let places: Vec<String> = e
            .places
            .iter()
            .take(3)
            .map(|(p, c)| format!("{} · {}", html(p), html(c)))
            .collect();
        let more = if e.places.len() > 3 {
            format!(" +{}", e.places.len() - 3)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"<tr class="top-row"><td class="num">{}</td><td class="id" data-col="id">{}</td><td class="places">{}{}</td><td class="num" data-col="days">{}</td><td class="num" data-col="hours">{}</td><td class="num hot" data-col="violations">{}</td>"#,
            rank + 1,
            html(&e.id),
            places.join("<br>"),
            more,
            thousands(e.days),
            hours(e.work_ms),
            thousands(e.violations),
        );
        for rule in &s.top_rules {
            let count = e
                .by_rule
                .iter()
                .find(|(r, _)| r == rule)
                .map_or(0, |(_, c)| *c);
            let _ = write!(
                out,
                r#"<td class="num">{}</td>"#,
                if count == 0 {
                    "–".to_string()
                } else {
                    thousands(count)
                }
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn footer(out: &mut String, data: &MonthData) {
    let mut packs: Vec<String> = data
        .packs
        .iter()
        .map(|(platform, pack)| format!("{}: <code>{}</code>", html(platform), html(pack)))
        .collect();
    packs.sort();
    packs.dedup();
    let packs = if packs.is_empty() {
        "not recorded".to_string()
    } else {
        packs.join(", ")
    };
    let _ = write!(
        out,
        r#"<footer>
<p>Made by <code>workhours report</code> (SPEC section 8) · {} · subject: {}</p>
<p>Input: {}; those dropped count in no figure.</p>
<p>Rule packs in force: {packs}</p>
</footer>
"#,
        html(&data.source),
        data.subject.as_str(),
        html(&data.input.describe()),
    );
}
