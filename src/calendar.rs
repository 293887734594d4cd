//! Local calendar of the configured zone: days (which can last 23 or 25 hours across a DST
//! change), ISO weeks starting Monday and months, as half-open instant ranges.
//!
//! A day is numbered by its local date (days since 1970-01-01) and starts at the first
//! instant whose local date is that date. Lookups are cached: the engine asks about the same
//! few days millions of times.

use chrono::{Datelike, LocalResult, NaiveDate, TimeZone};
use chrono_tz::Tz;
use rustc_hash::FxHashMap;

use crate::timefmt::days_from_civil;

/// One local day.
///
/// Packed to 4-byte alignment: 28 bytes instead of 32 in every worker (memory per worker is a
/// target), its fields in the order of its saved record. Read its fields by value: a reference
/// to `start` or `end` would be unaligned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C, packed(4))]
pub struct Day {
    /// Local date as days since 1970-01-01.
    pub number: i32,
    /// First instant of the day, epoch ms.
    pub start: i64,
    /// First instant of the next day, epoch ms.
    pub end: i64,
    /// Day number of the Monday that starts this day's ISO week.
    pub week: i32,
    /// Day number of the first day of this day's month.
    pub month: i32,
}

#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    starts: FxHashMap<i32, i64>,
    last: Option<Day>,
}

fn date_of(number: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch")
        + chrono::TimeDelta::days(i64::from(number))
}

impl Calendar {
    pub fn new(zone: Tz) -> Calendar {
        Calendar {
            zone,
            starts: FxHashMap::default(),
            last: None,
        }
    }

    /// First instant of the local date `number`.
    pub fn start_of(&mut self, number: i32) -> i64 {
        if let Some(&start) = self.starts.get(&number) {
            return start;
        }
        let start = self.compute_start(number);
        self.starts.insert(number, start);
        start
    }

    fn compute_start(&self, number: i32) -> i64 {
        let midnight = date_of(number)
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
        match self.zone.from_local_datetime(&midnight) {
            LocalResult::Single(t) => t.timestamp_millis(),
            LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
            LocalResult::None => {
                // Midnight falls in a DST gap: the day starts at the end of the gap, the first
                // local time that exists (transitions fall on whole minutes).
                let mut local = midnight;
                for _ in 0..(26 * 60) {
                    local += chrono::TimeDelta::minutes(1);
                    if let Some(t) = self.zone.from_local_datetime(&local).earliest() {
                        return t.timestamp_millis();
                    }
                }
                // No zone has a gap this long; fall back to the UTC reading.
                midnight.and_utc().timestamp_millis()
            }
        }
    }

    /// The local day number `number`.
    pub fn day(&mut self, number: i32) -> Day {
        if let Some(last) = self.last
            && last.number == number
        {
            return last;
        }
        let start = self.start_of(number);
        let end = self.start_of(number + 1);
        let date = date_of(number);
        let weekday = date.weekday().num_days_from_monday() as i32;
        let month = days_from_civil(i64::from(date.year()), date.month(), 1) as i32;
        Day {
            number,
            start,
            end,
            week: number - weekday,
            month,
        }
    }

    /// The local day that contains instant `ms`.
    pub fn day_at(&mut self, ms: i64) -> Day {
        if let Some(last) = self.last
            && last.start <= ms
            && ms < last.end
        {
            return last;
        }
        let guess = match self.zone.timestamp_millis_opt(ms) {
            LocalResult::Single(local) => {
                let date = local.date_naive();
                days_from_civil(i64::from(date.year()), date.month(), date.day()) as i32
            }
            _ => ms.div_euclid(86_400_000) as i32,
        };
        let mut day = self.day(guess);
        // Where local time steps back across midnight the local date is not monotonic:
        // the half-open ranges between day starts decide.
        while ms < day.start {
            day = self.day(day.number - 1);
        }
        while ms >= day.end {
            day = self.day(day.number + 1);
        }
        self.last = Some(day);
        day
    }

    /// First instant of the day numbered `number`'s ISO week.
    pub fn week_start(&mut self, week: i32) -> i64 {
        self.start_of(week)
    }

    /// The first instant at or after local wall-clock time `ms_of_day` on local date `number`:
    /// that time itself, the earlier of two when the clock goes back, or the end of the gap
    /// when it does not exist. `24:00` is the start of the next day.
    pub fn local_instant(&mut self, number: i32, ms_of_day: u32) -> i64 {
        if ms_of_day == 0 {
            return self.start_of(number);
        }
        if ms_of_day >= 86_400_000 {
            return self.start_of(number + 1);
        }
        let local = date_of(number)
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            + chrono::TimeDelta::milliseconds(i64::from(ms_of_day));
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.timestamp_millis(),
            LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
            LocalResult::None => {
                let mut later = local;
                for _ in 0..(26 * 60) {
                    later += chrono::TimeDelta::minutes(1);
                    if let Some(t) = self.zone.from_local_datetime(&later).earliest() {
                        // The gap ends on a whole minute: its first instant.
                        let minute = t.timestamp_millis();
                        return minute - minute.rem_euclid(60_000);
                    }
                }
                local.and_utc().timestamp_millis()
            }
        }
    }

    /// Local date of a day number, for messages.
    pub fn date(number: i32) -> NaiveDate {
        date_of(number)
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
    fn shanghai_days_are_24_hours_from_local_midnight() {
        let mut cal = Calendar::new(chrono_tz::Asia::Shanghai);
        let day = cal.day_at(ts("2026-03-02T08:00:00+08:00"));
        assert_eq!({ day.start }, ts("2026-03-02T00:00:00+08:00"));
        assert_eq!({ day.end }, ts("2026-03-03T00:00:00+08:00"));
        assert_eq!(Calendar::date(day.number).to_string(), "2026-03-02");
        // 2026-03-02 is a Monday: its week starts that day; its month on the 1st.
        assert_eq!(day.week, day.number);
        assert_eq!(Calendar::date(day.month).to_string(), "2026-03-01");
        let sunday = cal.day_at(ts("2026-03-08T23:59:59.999+08:00"));
        assert_eq!(sunday.week, day.number);
        let next = cal.day_at(ts("2026-03-09T00:00:00+08:00"));
        assert_eq!(next.week, day.number + 7);
    }

    #[test]
    fn dst_days_last_23_and_25_hours() {
        let mut cal = Calendar::new(chrono_tz::Europe::Berlin);
        let spring = cal.day_at(ts("2026-03-29T12:00:00+02:00"));
        assert_eq!(spring.end - spring.start, 23 * 3_600_000);
        let autumn = cal.day_at(ts("2026-10-25T12:00:00+01:00"));
        assert_eq!(autumn.end - autumn.start, 25 * 3_600_000);
        assert_eq!({ autumn.start }, ts("2026-10-25T00:00:00+02:00"));
    }

    #[test]
    fn a_midnight_gap_starts_the_day_at_the_transition() {
        // America/Havana springs forward at 00:00 to 01:00 (2026-03-08).
        let mut cal = Calendar::new(chrono_tz::America::Havana);
        let day = cal.day_at(ts("2026-03-08T12:00:00-04:00"));
        assert_eq!({ day.start }, ts("2026-03-08T01:00:00-04:00"));
        assert_eq!(day.end - day.start, 23 * 3_600_000);
    }

    #[test]
    fn every_instant_is_in_exactly_its_day() {
        let mut cal = Calendar::new(chrono_tz::Europe::Berlin);
        let mut t = ts("2026-10-24T00:00:00Z");
        while t < ts("2026-10-27T00:00:00Z") {
            let day = cal.day_at(t);
            assert!(day.start <= t && t < day.end);
            t += 17 * 60_000;
        }
    }
}
