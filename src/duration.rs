//! Human durations of the config and the CLI: `20m`, `4h`, `3h 45m`, `1h30m`, `90s`, `0s`.
//!
//! Hand-written rather than `humantime` on purpose: SPEC allows exactly the units
//! `ms`, `s`, `m`, `h`, `d` and rejects a bare number, while `humantime` also takes
//! `min`, `hours`, months and years, which would make configs ambiguous.

/// The unit a word after a number most likely means (`h`, `hours`, `min`, ...), for a hint.
fn unit_meant(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    let unit = match word.as_str() {
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => "ms",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => "d",
        _ => return None,
    };
    Some(unit)
}

/// The longest duration taken: 36,600 days, more than the whole range of event time (the years
/// 2000 to 2099). Longer ones mean nothing, and near `i64::MAX` they overflowed the instants
/// computed from them (an alert at `-9223370264471151616`).
pub const MAX_DURATION_MS: i64 = 36_600 * 86_400_000;

/// Parses a duration into whole milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("`` (empty): write e.g. `20m`, `4h`, `3h 45m`, `0s`".into());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    // The factor of the last unit: each unit at most once, largest first (as Prometheus's
    // durations), so that `1h1h` or `30m 1h` is refused rather than summed.
    let mut last = i64::MAX;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "`{s}`: expected a number at position {}",
                start + 1
            ));
        }
        let number: i64 = s[start..i]
            .parse()
            .map_err(|_| format!("`{s}`: number too large"))?;
        if bytes.get(i) == Some(&b'_') {
            return Err(format!(
                "`{s}`: write numbers without separators (`1000s`, not `1_000s`)"
            ));
        }
        if bytes.get(i).is_some_and(|&b| b == b'.' || b == b',') {
            return Err(format!(
                "`{s}`: numbers are whole; write a fraction in a smaller unit (`1h 30m`, not `1.5h`)"
            ));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &s[unit_start..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                // `4 h`, `5 minutes`: a unit after a space; the hint names the unit meant.
                let word = s[i..].trim_start_matches(' ');
                let word = &word[..word
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(word.len())];
                return Err(match unit_meant(word) {
                    Some(unit) if i < bytes.len() && bytes[i] == b' ' => format!(
                        "`{s}`: write the unit right after its number (ms, s, m, h or d), e.g. `{number}{unit}`"
                    ),
                    _ => {
                        format!("`{s}`: a number needs a unit (ms, s, m, h or d), e.g. `{number}s`")
                    }
                });
            }
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use ms, s, m, h or d)"
                ));
            }
        };
        if factor >= last {
            return Err(format!(
                "`{s}`: each unit at most once, largest first (e.g. `1h 30m`)"
            ));
        }
        last = factor;
        total = number
            .checked_mul(factor)
            .and_then(|ms| total.checked_add(ms))
            .filter(|&ms| ms <= MAX_DURATION_MS)
            .ok_or_else(|| {
                format!("`{s}`: duration too large (at most 36600d, about 100 years)")
            })?;
    }
    Ok(total)
}

/// Formats milliseconds the way the config writes them (`3h 45m`, `90s`, `0s`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut parts = Vec::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if rest > 0 {
        parts.push(format!("{rest}ms"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_separator_is_named() {
        let error = parse_duration("1_000s").unwrap_err();
        assert!(error.contains("without separators"), "{error}");
    }

    #[test]
    fn durations_longer_than_event_time_are_refused() {
        assert_eq!(parse_duration("36600d"), Ok(MAX_DURATION_MS));
        assert_eq!(
            parse_duration("36599d 23h 59m 59s 999ms").map(|ms| ms + 1),
            Ok(MAX_DURATION_MS)
        );
        for text in [
            "36600d 1ms",
            "36601d",
            "106751991167d",
            "9223372036854775807ms",
            "2562047788015h",
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains("too large"), "{text}: {error}");
        }
    }

    #[test]
    fn parses_the_forms_of_the_spec() {
        let cases = [
            ("20m", 1_200_000),
            ("4h", 14_400_000),
            ("3h 45m", 13_500_000),
            ("1h30m", 5_400_000),
            ("90s", 90_000),
            ("0s", 0),
            ("250ms", 250),
            ("1d", 86_400_000),
            (" 2h  5m ", 7_500_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn rejects_bare_numbers_and_unknown_units() {
        for text in [
            "", "20", "5 m", "4hours", "1.5h", "-3m", "m", "3h 45", "1h1h", "30m 1h", "5s 5s",
        ] {
            assert!(parse_duration(text).is_err(), "{text} should be rejected");
        }
        // Each message says what is wrong with that form.
        for (text, says) in [
            ("1.5h", "numbers are whole"),
            ("1h 2,5m", "numbers are whole"),
            ("", "(empty)"),
            ("20", "needs a unit"),
            (
                "4 h",
                "right after its number (ms, s, m, h or d), e.g. `4h`",
            ),
            ("5 minutes", "e.g. `5m`"),
            ("3h 45 min", "e.g. `45m`"),
            ("90 fortnights", "e.g. `90s`"),
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1, 90_000, 13_500_000, 86_400_000 + 1_000] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
    }
}
