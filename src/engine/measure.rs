//! What counts as time (SPEC section 7, "Measures"): `work`, `orders`, `carrying`, `driving`
//! and `duty`, as bits of a worker's settled state, and local wall-clock hour windows
//! (`hours = "22:00-06:00"`) outside which a rule's measure is false.

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;

/// A measure: one bit of [`Bits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Online and not on a platform break, or at least one active order (section 3).
    Work,
    /// At least one active order.
    Orders,
    /// At least one active order that has been picked up (billed time).
    Carrying,
    /// Activity `driving`.
    Driving,
    /// Activity `driving` or `other_work`.
    Duty,
}

/// The measures true at an instant, one bit per [`Measure`].
pub type Bits = u8;

impl Measure {
    pub const ALL: [Measure; 5] = [
        Measure::Work,
        Measure::Orders,
        Measure::Carrying,
        Measure::Driving,
        Measure::Duty,
    ];

    pub fn bit(self) -> Bits {
        1 << (self as u8)
    }

    pub fn is_on(self, bits: Bits) -> bool {
        bits & self.bit() != 0
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Work => "work",
            Measure::Orders => "orders",
            Measure::Carrying => "carrying",
            Measure::Driving => "driving",
            Measure::Duty => "duty",
        }
    }

    pub fn parse(text: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether `other` is true whenever this measure is (an active order picked up is an
    /// active order, which is work; driving is duty).
    pub fn within(self, other: Measure) -> bool {
        use Measure::*;
        self == other
            || matches!(
                (self, other),
                (Carrying, Orders) | (Carrying, Work) | (Orders, Work) | (Driving, Duty)
            )
    }

    /// "has worked 4h", "has driven 4h": the past participle for messages.
    pub fn done(self) -> &'static str {
        match self {
            Measure::Work => "worked",
            Measure::Orders => "had orders for",
            Measure::Carrying => "carried orders for",
            Measure::Driving => "driven",
            Measure::Duty => "been on duty for",
        }
    }

    /// "after working 4h": the present participle for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Measure::Work => "working",
            Measure::Orders => "having orders for",
            Measure::Carrying => "carrying orders for",
            Measure::Driving => "driving",
            Measure::Duty => "being on duty for",
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Local wall-clock hours `[start, end)`, wrapping midnight when `end <= start`, as ms of the
/// local day. Around a DST change a wall-clock time is taken at its first instant, and a time
/// that does not exist at the end of the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub start: u32,
    pub end: u32,
}

impl Hours {
    /// Parses `"22:00-06:00"` (minutes precision; `24:00` allowed as an end).
    pub fn parse(text: &str) -> Option<Hours> {
        let (a, b) = text.split_once('-')?;
        let clock = |s: &str| -> Option<u32> {
            let (h, m) = s.trim().split_once(':')?;
            if h.is_empty() || h.len() > 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some((h * 60 + m) * 60_000)
        };
        let (start, end) = (clock(a)?, clock(b)?);
        (start < DAY_MS as u32 && start != end).then_some(Hours { start, end })
    }

    /// The window that opens on local day `day`: `[open, close)` in epoch ms.
    fn window(&self, cal: &mut Calendar, day: i32) -> (i64, i64) {
        let open = cal.local_instant(day, self.start);
        let close = if self.end > self.start {
            cal.local_instant(day, self.end)
        } else {
            cal.local_instant(day + 1, self.end)
        };
        (open, close)
    }

    /// Whether instant `t` is inside the hours.
    pub fn contains(&self, cal: &mut Calendar, t: i64) -> bool {
        let day = cal.day_at(t).number;
        [day - 1, day].into_iter().any(|d| {
            let (open, close) = self.window(cal, d);
            open <= t && t < close
        })
    }

    /// The first instant after `t` at which [`Hours::contains`] changes.
    pub fn next_boundary(&self, cal: &mut Calendar, t: i64) -> i64 {
        let day = cal.day_at(t).number;
        let mut best = i64::MAX;
        for d in day - 1..=day + 1 {
            let (open, close) = self.window(cal, d);
            for edge in [open, close] {
                if edge > t {
                    best = best.min(edge);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::parse_rfc3339;

    fn ts(text: &str) -> i64 {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn parses_hours() {
        assert_eq!(
            Hours::parse("22:00-06:00"),
            Some(Hours {
                start: 22 * 3_600_000,
                end: 6 * 3_600_000
            })
        );
        assert_eq!(Hours::parse("08:30-24:00").unwrap().end, 24 * 3_600_000);
        for bad in [
            "",
            "22-06",
            "22:00",
            "25:00-01:00",
            "10:00-10:00",
            "1:5-2:00",
        ] {
            assert_eq!(Hours::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn night_window_wraps_midnight() {
        let mut cal = Calendar::new(chrono_tz::Asia::Shanghai);
        let night = Hours::parse("22:00-06:00").unwrap();
        assert!(!night.contains(&mut cal, ts("2026-03-02T21:59:59.999+08:00")));
        assert!(night.contains(&mut cal, ts("2026-03-02T22:00:00+08:00")));
        assert!(night.contains(&mut cal, ts("2026-03-03T05:59:59.999+08:00")));
        assert!(!night.contains(&mut cal, ts("2026-03-03T06:00:00+08:00")));
        assert_eq!(
            night.next_boundary(&mut cal, ts("2026-03-02T12:00:00+08:00")),
            ts("2026-03-02T22:00:00+08:00")
        );
        assert_eq!(
            night.next_boundary(&mut cal, ts("2026-03-02T22:00:00+08:00")),
            ts("2026-03-03T06:00:00+08:00")
        );
    }

    #[test]
    fn windows_follow_dst() {
        // Berlin springs forward on 2026-03-29 at 02:00: 22:00-06:00 lasts 7 hours that night.
        let mut cal = Calendar::new(chrono_tz::Europe::Berlin);
        let night = Hours::parse("22:00-06:00").unwrap();
        let open = ts("2026-03-28T22:00:00+01:00");
        assert_eq!(
            night.next_boundary(&mut cal, open),
            ts("2026-03-29T06:00:00+02:00")
        );
        assert_eq!(ts("2026-03-29T06:00:00+02:00") - open, 7 * 3_600_000);
    }
}
