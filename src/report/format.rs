//! Fixed-precision numbers from integers, and escaping for HTML and CSV.

use std::borrow::Cow;

const HOUR_MS: i64 = 3_600_000;

/// `num / den` with `decimals` decimals, rounded half up; `num`, `den` non-negative, `den > 0`.
fn fixed(num: u128, den: u128, decimals: u32) -> String {
    let scale = 10u128.pow(decimals);
    let scaled = (num * scale * 2 + den) / (den * 2);
    if decimals == 0 {
        return scaled.to_string();
    }
    format!(
        "{}.{:0width$}",
        scaled / scale,
        scaled % scale,
        width = decimals as usize
    )
}

/// `part / whole` as a percentage with one decimal ("12.5"), `None` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> Option<String> {
    (whole > 0).then(|| fixed(u128::from(part) * 100, u128::from(whole), 1))
}

/// Milliseconds as decimal hours with two decimals ("9.50"); negative values count as 0.
pub fn hours(ms: i64) -> String {
    fixed(ms.max(0) as u128, HOUR_MS as u128, 2)
}

/// A duration for prose: "8 h", "3 h 45 min", "20 min" (whole minutes, rounded down).
pub fn duration_words(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// An integer with thousands separators: "12,345".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text for HTML content and quoted attribute values.
pub fn html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One CSV text field (RFC 4180): quoted when it holds a comma, a quote or a line break, with
/// quotes doubled. A field that a spreadsheet would take for a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return: a hostile platform or city name) gets a `'`
/// in front, which spreadsheets show as text (OWASP's advice on CSV injection).
pub fn csv(field: &str) -> Cow<'_, str> {
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    };
    if field.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        field
    }
}

/// `text` cut to about `max` columns of chart label, with "…" when cut: ASCII counts one
/// column, anything else (CJK) two.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    let width = |c: char| if c.is_ascii() { 1 } else { 2 };
    if text.chars().map(width).sum::<usize>() <= max {
        return Cow::Borrowed(text);
    }
    let mut used = 1; // the ellipsis
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += width(c);
        if used > max {
            break;
        }
        end = i + c.len_utf8();
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up() {
        let cases = [
            (0, 3, "0.0"),
            (1, 3, "33.3"),
            (2, 3, "66.7"),
            (1, 8, "12.5"),
            (1, 16, "6.3"), // 6.25 rounds up
            (1, 1, "100.0"),
            (1, 2000, "0.1"), // 0.05 rounds up
            (1, 2001, "0.0"),
        ];
        for (part, whole, want) in cases {
            assert_eq!(
                percent(part, whole).as_deref(),
                Some(want),
                "{part}/{whole}"
            );
        }
        assert_eq!(percent(0, 0), None);
    }

    #[test]
    fn hours_with_two_decimals() {
        assert_eq!(hours(0), "0.00");
        assert_eq!(hours(8 * HOUR_MS), "8.00");
        assert_eq!(hours(9 * HOUR_MS + 30 * 60_000), "9.50");
        assert_eq!(hours(18_000), "0.01"); // 0.005 h rounds up
        assert_eq!(hours(17_999), "0.00");
        assert_eq!(hours(-5), "0.00");
    }

    #[test]
    fn words_and_separators() {
        assert_eq!(duration_words(8 * HOUR_MS), "8 h");
        assert_eq!(duration_words(3 * HOUR_MS + 45 * 60_000), "3 h 45 min");
        assert_eq!(duration_words(20 * 60_000), "20 min");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert!(matches!(html("美团 371000"), Cow::Borrowed(_)));
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("two\nlines"), "\"two\nlines\"");
        // A text field a spreadsheet would read as a formula (a hostile platform or city
        // name) starts with a quote; one that would not is left as it is.
        assert_eq!(csv("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv("+1"), "'+1");
        assert_eq!(csv("-2+3"), "'-2+3");
        assert_eq!(csv("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv("\tx"), "'\tx");
        assert_eq!(csv("a=b"), "a=b");
        assert_eq!(csv("美团"), "美团");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("威海市环翠区", 12), "威海市环翠区");
        assert_eq!(truncate("威海市环翠区", 8), "威海市…");
    }
}
