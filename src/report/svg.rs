//! Inline SVG charts, drawn here as text: a histogram of daily hours with the limits marked,
//! and horizontal bars with one or two series. The page's CSS colours them by class
//! (the demo page's palette); every bar carries a `<title>` with its exact figure.

use std::fmt::Write;

use super::format::{duration_words, html, thousands, truncate};
use super::summary::{HOUR_BINS, HoursHistogram};

const HOUR_MS: f64 = 3_600_000.0;

/// A round axis maximum at or above `value` (1, 2, 2.5, 5 times a power of ten; at least 5).
pub fn nice_max(value: f64) -> f64 {
    if value <= 5.0 {
        return 5.0;
    }
    let power = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * power >= value {
            return step * power;
        }
    }
    10.0 * power
}

/// How many intervals to divide an axis of `max` into: 5 when that gives round steps
/// (0, 10, ... 50), else 4 (0, 50, ... 200).
fn ticks(max: f64) -> u32 {
    let step = max / 5.0;
    let mantissa = step / 10f64.powf(step.log10().floor());
    if [1.0, 2.0, 2.5, 5.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-9)
    {
        5
    } else {
        4
    }
}

/// An axis tick: integers plainly (from 10,000 in thousands: "25k"), others with one decimal.
fn tick(value: f64) -> String {
    if value >= 10_000.0 && (value / 1000.0).fract() == 0.0 {
        format!("{}k", thousands((value / 1000.0) as u64))
    } else if value.fract() == 0.0 {
        thousands(value as u64)
    } else {
        format!("{value:.1}")
    }
}

/// Daily hours as bars per one-hour bin (`days` names what is counted: "worker-days"), stacked by each day's own limits, with dashed lines
/// at the most common standard day and maximum.
pub fn histogram(h: &HoursHistogram, days: &str, label: &str) -> String {
    let (width, height, left, right, top, bottom) = (300.0, 190.0, 40.0, 8.0, 22.0, 34.0);
    let plot_w = width - left - right;
    let bw = plot_w / HOUR_BINS as f64;
    let x = |hours: f64| left + hours * bw;
    let max = nice_max(
        h.bins
            .iter()
            .map(|b| b.iter().sum::<u64>())
            .max()
            .unwrap_or(0) as f64,
    );
    let y = |v: f64| top + (1.0 - v / max) * (height - top - bottom);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        html(label)
    );
    for t in [0.0, max / 2.0, max] {
        let _ = write!(
            out,
            r#"<line class="grid-line" x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            width - right,
            y(t),
            y(t),
            left - 4.0,
            y(t) + 4.0,
            tick(t)
        );
    }
    let classes = ["under", "over-standard", "over-max"];
    for (bin, counts) in h.bins.iter().enumerate() {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            continue;
        }
        let span = if bin + 1 == HOUR_BINS {
            format!("{bin} h or more")
        } else {
            format!("{bin} to {} h", bin + 1)
        };
        let _ = write!(
            out,
            "<g><title>{span}: {} {days} ({} over the standard day, {} over the maximum)</title>",
            thousands(total),
            thousands(counts[1] + counts[2]),
            thousands(counts[2])
        );
        let mut base = 0.0;
        for (class, &count) in classes.iter().zip(counts) {
            if count == 0 {
                continue;
            }
            let (y0, y1) = (y(base + count as f64), y(base));
            let _ = write!(
                out,
                r#"<rect class="bar {class}" x="{:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}"/>"#,
                x(bin as f64) + 0.5,
                bw - 1.0,
                (y1 - y0).max(0.5)
            );
            base += count as f64;
        }
        out.push_str("</g>");
    }
    for hours in [0, 4, 8, 12, 16, 20, 24] {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{hours}</text>"#,
            x(f64::from(hours)),
            height - bottom + 13.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">hours worked in the day</text>"#,
        width - right,
        height - 4.0
    );
    let _ = write!(out, r#"<text x="{left}" y="11">{days}</text>"#);
    // The standard day's label left of its line, the maximum's right of it.
    let lines = [
        (h.standard_ms, "mark-standard", "end", -3.0),
        (h.max_ms, "mark-max", "start", 3.0),
    ];
    for (ms, class, anchor, dx) in lines {
        let at = x((ms as f64 / HOUR_MS).min(HOUR_BINS as f64));
        let _ = write!(
            out,
            r#"<line class="{class}" x1="{at:.1}" x2="{at:.1}" y1="{:.1}" y2="{:.1}"/><text class="{class}" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            top - 6.0,
            height - bottom,
            at + dx,
            top + 2.0,
            duration_words(ms)
        );
    }
    out.push_str("</svg>");
    out
}

/// One row of a bar chart: a label and one value per series.
pub struct BarRow {
    pub label: String,
    /// Per series: the bar's length in axis units and its printed value.
    pub values: Vec<(f64, String)>,
}

/// A series of a bar chart: its CSS class and its name (for the bars' titles).
pub struct Series<'a> {
    pub class: &'a str,
    pub name: &'a str,
}

/// Horizontal bars, one band per row with a bar per series; `cap` bounds the axis (100 for
/// percentages).
pub fn bars(rows: &[BarRow], series: &[Series<'_>], cap: Option<f64>, label: &str) -> String {
    let (width, left, right, bar_h, gap, pad) = (640.0, 200.0, 96.0, 13.0, 2.0, 10.0);
    let band = series.len() as f64 * (bar_h + gap) - gap + pad;
    let height = rows.len() as f64 * band + 28.0;
    let data_max = rows
        .iter()
        .flat_map(|r| r.values.iter().map(|v| v.0))
        .fold(0.0, f64::max);
    let mut max = nice_max(data_max);
    if let Some(cap) = cap {
        max = max.min(cap).max(data_max);
    }
    let scale = |v: f64| v / max * (width - left - right);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {width} {height:.0}" role="img" aria-label="{}">"#,
        html(label)
    );
    let steps = ticks(max);
    for k in 0..=steps {
        let t = max * f64::from(k) / f64::from(steps);
        let xt = left + scale(t);
        let _ = write!(
            out,
            r#"<line class="grid-line" x1="{xt:.1}" x2="{xt:.1}" y1="0" y2="{:.1}"/><text x="{xt:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            height - 20.0,
            height - 6.0,
            tick(t)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = i as f64 * band + pad / 2.0;
        let mid = y + (band - pad) / 2.0 + 4.0;
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{mid:.1}" text-anchor="end"><title>{}</title>{}</text>"#,
            left - 8.0,
            html(&row.label),
            html(&truncate(&row.label, 28))
        );
        for (k, ((value, text), s)) in row.values.iter().zip(series).enumerate() {
            let yb = y + k as f64 * (bar_h + gap);
            let w = scale(*value);
            let _ = write!(
                out,
                r#"<g><title>{}: {}: {}</title>"#,
                html(&row.label),
                html(s.name),
                html(text)
            );
            if w > 0.0 {
                let _ = write!(
                    out,
                    r#"<rect class="bar {}" x="{left}" y="{yb:.1}" width="{:.1}" height="{bar_h}" rx="2"/>"#,
                    s.class,
                    w.max(1.0)
                );
            }
            let _ = write!(
                out,
                r#"<text class="value" x="{:.1}" y="{:.1}">{}</text></g>"#,
                left + w + 5.0,
                yb + bar_h - 3.0,
                html(text)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        for (max, want) in [
            (5.0, 5),
            (10.0, 5),
            (25.0, 5),
            (50.0, 5),
            (100.0, 5),
            (200.0, 4),
            (2500.0, 5),
            (20.0, 4),
        ] {
            assert_eq!(ticks(max), want, "{max}");
        }
    }

    #[test]
    fn nice_axis_maxima() {
        for (value, want) in [
            (0.0, 5.0),
            (4.0, 5.0),
            (7.0, 10.0),
            (12.0, 20.0),
            (23.0, 25.0),
            (60.0, 100.0),
            (100.0, 100.0),
            (1234.0, 2000.0),
        ] {
            assert_eq!(nice_max(value), want, "{value}");
        }
    }

    #[test]
    fn bars_escape_labels_and_skip_zero_bars() {
        let rows = [BarRow {
            label: "a<b & \"c\"".to_string(),
            values: vec![(0.0, "0.0 %".to_string()), (50.0, "50.0 %".to_string())],
        }];
        let series = [
            Series {
                class: "s1",
                name: "one",
            },
            Series {
                class: "s2",
                name: "two",
            },
        ];
        let svg = bars(&rows, &series, Some(100.0), "test");
        assert!(svg.contains("a&lt;b &amp; &quot;c&quot;"));
        assert!(!svg.contains("a<b"));
        assert_eq!(svg.matches(r#"class="bar "#).count(), 1);
        assert!(svg.contains(r#"class="bar s2""#));
    }
}
