//! Event-time instants: strict RFC 3339 parsing to epoch milliseconds, and formatting in
//! the configured zone with millisecond precision (SPEC sections 2 and 4).

use chrono::{SecondsFormat, TimeZone};
use chrono_tz::Tz;

/// 2000-01-01T00:00:00Z, the first valid instant.
pub const MIN_TS: i64 = 946_684_800_000;
/// 2100-01-01T00:00:00Z, the first instant out of range.
pub const MAX_TS: i64 = 4_102_444_800_000;

/// Whether an instant is inside the valid range of SPEC section 5.
pub fn in_range(ms: i64) -> bool {
    (MIN_TS..MAX_TS).contains(&ms)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)` (separator `T` or `t`, zone `Z` or
/// `z`) to epoch milliseconds; fraction digits beyond milliseconds are truncated.
/// Leap seconds (`:60`) are rejected. The range check is the caller's.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    // The fixed-width head as an array: constant indices, no bounds checks (every event's
    // `ts` comes through here).
    let head: &[u8; 19] = b.first_chunk()?;
    let digit = |i: usize| {
        let d = head[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let pair = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    if head[4] != b'-'
        || head[7] != b'-'
        || !matches!(head[10], b'T' | b't')
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let year = i64::from(pair(0)? * 100 + pair(2)?);
    let (month, day) = (pair(5)?, pair(8)?);
    let (hour, minute, second) = (pair(11)?, pair(14)?, pair(17)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return None;
        }
        for _ in count..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let zone: &[u8; 6] = b[i..].first_chunk()?;
            let digit = |i: usize| {
                let d = zone[i].wrapping_sub(b'0');
                (d < 10).then_some(u32::from(d))
            };
            if zone[3] != b':' {
                return None;
            }
            let oh = digit(1)? * 10 + digit(2)?;
            let om = digit(4)? * 10 + digit(5)?;
            if oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let minutes = i64::from(oh * 60 + om);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Whether `text` has the form of RFC 3339 with a `T` and an offset, whatever its numbers:
/// the digits and separators where [`parse_rfc3339`] wants them. Tells a date or time that
/// does not exist (`2025-02-29`, hour 24, offset `+24:00`) from text of another form.
pub fn has_rfc3339_form(text: &str) -> bool {
    let b = text.as_bytes();
    let form = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < form.len()
        || !form.iter().zip(b).all(|(&f, &c)| match f {
            b'd' => c.is_ascii_digit(),
            b'T' => matches!(c, b'T' | b't'),
            _ => f == c,
        })
    {
        return false;
    }
    let mut rest = &b[form.len()..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Formats an instant as RFC 3339 with the zone's offset at that instant and milliseconds,
/// e.g. `2026-03-02T12:00:00.000+08:00`.
pub fn format_rfc3339(ms: i64, zone: &Tz) -> String {
    match zone.timestamp_millis_opt(ms).single() {
        Some(local) => local.to_rfc3339_opts(SecondsFormat::Millis, false),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digits(bytes: &[u8], at: usize, count: usize) -> Option<u32> {
        let slice = bytes.get(at..at + count)?;
        let mut value = 0u32;
        for &b in slice {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        Some(value)
    }

    /// The former parser, the reference of `agrees_with_the_reference`.
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)` (separator `T` or `t`, zone `Z` or
    /// `z`) to epoch milliseconds; fraction digits beyond milliseconds are truncated.
    /// Leap seconds (`:60`) are rejected. The range check is the caller's.
    fn parse_rfc3339_reference(text: &str) -> Option<i64> {
        let b = text.as_bytes();
        let year = digits(b, 0, 4)? as i64;
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        if !matches!(b.get(10), Some(b'T' | b't')) {
            return None;
        }
        let hour = digits(b, 11, 2)?;
        if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let count = i - start;
            if count == 0 {
                return None;
            }
            for _ in count..3 {
                millis *= 10;
            }
        }
        let offset_minutes: i64 = match b.get(i)? {
            b'Z' | b'z' => {
                i += 1;
                0
            }
            sign @ (b'+' | b'-') => {
                let oh = digits(b, i + 1, 2)?;
                if b.get(i + 3) != Some(&b':') {
                    return None;
                }
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                i += 6;
                let minutes = i64::from(oh * 60 + om);
                if *sign == b'-' { -minutes } else { minutes }
            }
            _ => return None,
        };
        if i != b.len() {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let seconds =
            days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
        Some(seconds * 1000 + millis)
    }

    #[test]
    fn parses_valid_forms() {
        let cases = [
            ("2026-03-02T08:00:00Z", 1_772_438_400_000),
            ("2026-03-02t08:00:00z", 1_772_438_400_000),
            ("2026-03-02T16:00:00+08:00", 1_772_438_400_000),
            ("2026-03-02T03:00:00-05:00", 1_772_438_400_000),
            ("2026-03-02T08:00:00.5Z", 1_772_438_400_500),
            ("2026-03-02T08:00:00.123Z", 1_772_438_400_123),
            ("2026-03-02T08:00:00.123999999Z", 1_772_438_400_123),
            ("2000-01-01T00:00:00Z", MIN_TS),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_rfc3339(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn rejects_invalid_forms() {
        for text in [
            "2026-03-02 08:00:00Z",
            "2026-03-02T08:00:00",
            "2026-03-02T08:00Z",
            "2026-13-02T08:00:00Z",
            "2026-02-29T08:00:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T08:00:60Z",
            "2026-03-02T08:00:00.Z",
            "2026-03-02T08:00:00+0800",
            "2026-03-02T08:00:00+08:00x",
            "20260302T080000Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn range_is_half_open() {
        assert!(in_range(MIN_TS));
        assert!(!in_range(MIN_TS - 1));
        assert!(in_range(MAX_TS - 1));
        assert!(!in_range(MAX_TS));
    }

    #[test]
    fn formats_with_zone_offset() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            format_rfc3339(1_772_438_400_000, &zone),
            "2026-03-02T16:00:00.000+08:00"
        );
        let utc: Tz = "UTC".parse().unwrap();
        assert_eq!(
            format_rfc3339(1_772_438_400_007, &utc),
            "2026-03-02T08:00:00.007+00:00"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// Instants of the right shape with any bytes swapped in: the same result as the
        /// former byte-at-a-time parser.
        #[test]
        fn agrees_with_the_reference(
            ms in -100_000_000_000_000i64..100_000_000_000_000,
            fraction in 0usize..10,
            zone in prop::sample::select(&["Z", "z", "+08:00", "-05:30", "+23:59", "+24:00", "-00:60", "+0800", "+08:0", ""][..]),
            edits in prop::collection::vec((any::<usize>(), prop::sample::select(&b"0123456789-:Tt .Zz+\x00\xff"[..])), 0..3),
            cut in prop::option::of(any::<usize>()),
        ) {
            let base = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
            let mut text = base.format("%Y-%m-%dT%H:%M:%S").to_string();
            if fraction > 0 {
                text.push('.');
                text.push_str(&"1234567890"[..fraction]);
            }
            text.push_str(zone);
            let mut bytes = text.into_bytes();
            for (at, byte) in edits {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                prop_assert_eq!(parse_rfc3339(text), parse_rfc3339_reference(text), "{:?}", text);
            }
        }
    }
}
