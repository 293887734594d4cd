//! The statutory-holiday calendar (SPEC section 8): which dates are statutory holidays, which
//! are the other days off of a break, and which weekends are swapped working days, read
//! from a user-editable TOML file (`config/holidays/cn.toml`, its format in its header).
//!
//! Pure apart from [`Holidays::load`]: the engine asks [`Holidays::kind`] about a local date,
//! and [`Holidays::covers`] whether the file knows that date's year at all, so that it can
//! warn instead of silently treating an unlisted year as one without holidays.

use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// What a date is in the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A statutory holiday itself (法定节假日): the days rule `holiday_pay` looks at.
    Statutory,
    /// Another day off of a break (调休, 补休): not statutory.
    RestDay,
    /// A swapped working day (调休上班), a Saturday or Sunday: an ordinary working day.
    WorkingDay,
    /// Any other date, including every date of a year the file does not cover.
    Ordinary,
}

impl DayKind {
    /// The key that lists this kind in the file.
    fn key(self) -> &'static str {
        match self {
            DayKind::Statutory => "holidays",
            DayKind::RestDay => "rest_days",
            DayKind::WorkingDay => "working_days",
            DayKind::Ordinary => "",
        }
    }
}

/// The calendar file is unreadable or wrong. Messages name the file, the year table and the
/// value at fault.
#[derive(Debug, thiserror::Error)]
pub enum HolidaysError {
    #[error("cannot read holiday calendar {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("holiday calendar{}: {problem}", in_file(path.as_deref()))]
    Invalid {
        /// `None` from [`Holidays::parse`], the file from [`Holidays::load`].
        path: Option<PathBuf>,
        problem: String,
    },
}

fn in_file(path: Option<&Path>) -> String {
    path.map(|path| format!(" {}", path.display()))
        .unwrap_or_default()
}

fn invalid(problem: String) -> HolidaysError {
    HolidaysError::Invalid {
        path: None,
        problem,
    }
}

/// A loaded calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    days: BTreeMap<NaiveDate, DayKind>,
    years: BTreeSet<i32>,
}

/// Where a date was listed, for the duplicate message.
struct Place {
    year: i32,
    kind: DayKind,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.year, self.kind.key())
    }
}

/// The calendars shipped under `config/holidays/`, built in: SPEC section 8's
/// `holidays = "config/holidays/cn.toml"` works from any directory, as pack names do.
pub const SHIPPED: &[(&str, &str)] = &[(
    "config/holidays/cn.toml",
    include_str!("../config/holidays/cn.toml"),
)];

/// The built-in text of a shipped calendar's path (`./` before it allowed).
pub fn shipped(path: &str) -> Option<&'static str> {
    let path = path.strip_prefix("./").unwrap_or(path);
    SHIPPED
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

impl Holidays {
    /// Reads and checks a calendar file.
    pub fn load(path: &Path) -> Result<Holidays, HolidaysError> {
        let text =
            crate::files::read_text(path, crate::files::MAX_TEXT_BYTES).map_err(|error| {
                HolidaysError::Read {
                    path: path.to_owned(),
                    error,
                }
            })?;
        Holidays::parse(&text).map_err(|error| match error {
            HolidaysError::Invalid { problem, .. } => HolidaysError::Invalid {
                path: Some(path.to_owned()),
                problem,
            },
            other => other,
        })
    }

    /// Parses and checks the text of a calendar file.
    pub fn parse(text: &str) -> Result<Holidays, HolidaysError> {
        let table: toml::Table = text
            .parse()
            .map_err(|error: toml::de::Error| invalid(format!("not valid TOML: {error}")))?;
        let mut holidays = Holidays::default();
        let mut places: BTreeMap<NaiveDate, Place> = BTreeMap::new();
        for (name, section) in &table {
            let year = parse_year(name)?;
            let toml::Value::Table(section) = section else {
                return Err(invalid(format!(
                    "`{name}` must be a table of dates, `[{name}]`"
                )));
            };
            if let Some(key) = section
                .keys()
                .find(|key| !matches!(key.as_str(), "holidays" | "rest_days" | "working_days"))
            {
                return Err(invalid(format!(
                    "[{year}] has an unknown key `{key}`; the keys are holidays, rest_days and working_days"
                )));
            }
            for kind in [DayKind::Statutory, DayKind::RestDay, DayKind::WorkingDay] {
                for date in dates(section, year, kind)? {
                    let place = Place { year, kind };
                    if let Some(first) = places.get(&date) {
                        return Err(invalid(format!(
                            "{place}: \"{date}\" is listed twice, also in {first}"
                        )));
                    }
                    holidays.days.insert(date, kind);
                    places.insert(date, place);
                }
            }
            if !places
                .values()
                .any(|place| place.year == year && place.kind == DayKind::Statutory)
            {
                return Err(invalid(format!(
                    "[{year}] lists no holidays; a year without its statutory holidays would \
                     read as a year without any (delete the table instead)"
                )));
            }
            holidays.years.insert(year);
        }
        Ok(holidays)
    }

    /// What `date` is; [`DayKind::Ordinary`] for any date the file does not list, including
    /// every date of a year it does not cover (ask [`Holidays::covers`]).
    pub fn kind(&self, date: NaiveDate) -> DayKind {
        self.days.get(&date).copied().unwrap_or(DayKind::Ordinary)
    }

    /// Whether `date` is a statutory holiday itself (not a rest day around one).
    pub fn is_statutory(&self, date: NaiveDate) -> bool {
        self.kind(date) == DayKind::Statutory
    }

    /// Whether the file has a table for `year`, so that its ordinary days are known to be
    /// ordinary.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The years covered, ascending.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    /// The dates of one kind, ascending, over the whole file.
    pub fn dates_of(&self, kind: DayKind) -> impl Iterator<Item = NaiveDate> + '_ {
        self.days
            .iter()
            .filter(move |(_, k)| **k == kind)
            .map(|(date, _)| *date)
    }
}

/// A TOML value for a message: scalars as written, the rest by their type.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

fn parse_year(name: &str) -> Result<i32, HolidaysError> {
    if name.len() == 4 && name.bytes().all(|b| b.is_ascii_digit()) {
        let year: i32 = name.parse().expect("four digits");
        if (1949..=2200).contains(&year) {
            return Ok(year);
        }
    }
    Err(invalid(format!(
        "`{name}` is not a year: tables are named by a year, as in `[2026]`"
    )))
}

/// The dates under one key of a year table, each checked.
fn dates(section: &toml::Table, year: i32, kind: DayKind) -> Result<Vec<NaiveDate>, HolidaysError> {
    let key = kind.key();
    let Some(value) = section.get(key) else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(items) = value else {
        return Err(invalid(format!(
            "[{year}] {key} must be a list of dates such as [\"{year}-01-01\"], not {}",
            show(value)
        )));
    };
    items
        .iter()
        .map(|item| {
            let Some(text) = item.as_str() else {
                return Err(invalid(format!(
                    "[{year}] {key}: {} is not a date string such as \"{year}-01-01\"",
                    show(item)
                )));
            };
            // Round-tripping refuses `2026-1-1` and other spellings that parse loosely.
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .filter(|date| date.format("%Y-%m-%d").to_string() == text)
                .ok_or_else(|| {
                    invalid(format!(
                        "[{year}] {key}: \"{text}\" is not a valid date written YYYY-MM-DD"
                    ))
                })?;
            let in_reach = date.year() == year
                || (date.year() == year - 1 && date.month() == 12)
                || (date.year() == year + 1 && date.month() == 1);
            if !in_reach {
                return Err(invalid(format!(
                    "[{year}] {key}: \"{text}\" is not in {year} (a year's notice may reach into \
                     the December before or the January after, no further)"
                )));
            }
            if kind == DayKind::WorkingDay && !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            {
                return Err(invalid(format!(
                    "[{year}] {key}: \"{text}\" is a {}; a swapped working day is a Saturday or \
                     a Sunday (a weekday is a working day anyway)",
                    date.format("%A")
                )));
            }
            Ok(date)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Holidays {
        Holidays::parse(super::shipped("config/holidays/cn.toml").unwrap())
            .expect("the shipped calendar is valid")
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn shipped_years() {
        let calendar = shipped();
        assert_eq!(
            calendar.years().collect::<Vec<_>>(),
            (2020..=2026).collect::<Vec<_>>()
        );
        assert!(!calendar.covers(2019));
        assert!(!calendar.covers(2027));
    }

    /// Per year: statutory dates (11 a year under the 2013 text, 13 from 2025; 2020 has 10
    /// because 中秋节 fell on 1 October), days off (holidays and rest days, with the days of
    /// the notice that fall in the year before counted with the notice's year) and working
    /// days. The last two agree with the notices' own spans.
    #[test]
    fn shipped_counts_per_year() {
        let calendar = shipped();
        let expected = [
            (2020, 10, 30, 6),
            (2021, 11, 31, 7),
            (2022, 11, 31, 7),
            (2023, 11, 27, 7),
            (2024, 11, 28, 8),
            (2025, 13, 28, 5),
            (2026, 13, 33, 6),
        ];
        // The notice's year of a date: December dates near the New Year belong to the next
        // notice only when that notice listed them, which only 2022-12-31 is here.
        let notice_year = |d: NaiveDate| {
            if d == date("2022-12-31") {
                2023
            } else {
                d.year()
            }
        };
        for (year, statutory, off, working) in expected {
            let count = |kinds: &[DayKind]| {
                calendar
                    .days
                    .iter()
                    .filter(|(d, k)| notice_year(**d) == year && kinds.contains(k))
                    .count()
            };
            assert_eq!(count(&[DayKind::Statutory]), statutory, "{year} statutory");
            assert_eq!(
                count(&[DayKind::Statutory, DayKind::RestDay]),
                off,
                "{year} days off"
            );
            assert_eq!(
                count(&[DayKind::WorkingDay]),
                working,
                "{year} working days"
            );
        }
    }

    /// The fixed-date statutory holidays of article 2, every year shipped.
    #[test]
    fn shipped_fixed_statutory_days() {
        let calendar = shipped();
        for year in calendar.years() {
            for (month, day) in [(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)] {
                let d = NaiveDate::from_ymd_opt(year, month, day).unwrap();
                assert!(calendar.is_statutory(d), "{d}");
            }
            let may_2 = NaiveDate::from_ymd_opt(year, 5, 2).unwrap();
            assert_eq!(calendar.is_statutory(may_2), year >= 2025, "{may_2}");
        }
    }

    #[test]
    fn shipped_known_dates() {
        let calendar = shipped();
        let cases = [
            // 除夕: statutory from 2025 only; in 2024 an ordinary Friday.
            ("2025-01-28", DayKind::Statutory),
            ("2026-02-16", DayKind::Statutory),
            ("2024-02-09", DayKind::Ordinary),
            ("2023-01-21", DayKind::RestDay),
            // 正月初一
            ("2020-01-25", DayKind::Statutory),
            ("2024-02-10", DayKind::Statutory),
            // 清明, 端午, 中秋
            ("2022-04-05", DayKind::Statutory),
            ("2022-04-04", DayKind::RestDay),
            ("2025-05-31", DayKind::Statutory),
            ("2025-10-06", DayKind::Statutory),
            ("2020-10-01", DayKind::Statutory),
            // Rest days around holidays, and the 2020 extension.
            ("2026-02-15", DayKind::RestDay),
            ("2020-02-01", DayKind::RestDay),
            ("2020-02-02", DayKind::RestDay),
            ("2022-12-31", DayKind::RestDay),
            ("2023-01-02", DayKind::RestDay),
            ("2024-05-02", DayKind::RestDay),
            ("2025-05-02", DayKind::Statutory),
            // Swapped working days: Sundays and Saturdays.
            ("2026-01-04", DayKind::WorkingDay),
            ("2026-02-14", DayKind::WorkingDay),
            ("2025-04-27", DayKind::WorkingDay),
            ("2020-01-19", DayKind::WorkingDay),
            // Ordinary: the day after a break, a plain weekend, the weekend "与周末连休".
            ("2026-10-08", DayKind::Ordinary),
            ("2026-03-07", DayKind::Ordinary),
            ("2024-06-08", DayKind::Ordinary),
            // A year not covered.
            ("2027-01-01", DayKind::Ordinary),
            ("2019-10-01", DayKind::Ordinary),
        ];
        for (text, kind) in cases {
            assert_eq!(calendar.kind(date(text)), kind, "{text}");
        }
        assert!(calendar.is_statutory(date("2025-01-28")));
        assert!(!calendar.is_statutory(date("2026-02-15")));
    }

    #[test]
    fn working_days_are_weekends() {
        for d in shipped().dates_of(DayKind::WorkingDay) {
            assert!(matches!(d.weekday(), Weekday::Sat | Weekday::Sun), "{d}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let path = Path::new("no/such/holidays.toml");
        let error = Holidays::load(path).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot read holiday calendar no/such/holidays.toml"),
            "{error}"
        );
        let dir = std::env::temp_dir().join(format!("workhours-holidays-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[2026]\nholidays = [\"2026-02-30\"]\n").unwrap();
        let error = Holidays::load(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "holiday calendar {}: [2026] holidays: \"2026-02-30\" is not a valid date written YYYY-MM-DD",
                path.display()
            )
        );
        std::fs::write(&path, super::shipped("config/holidays/cn.toml").unwrap()).unwrap();
        assert_eq!(Holidays::load(&path).unwrap(), shipped());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_refused_naming_year_and_value() {
        let cases = [
            ("[2026\n", "not valid TOML"),
            (
                "[abc]\nholidays = [\"2026-01-01\"]\n",
                "`abc` is not a year",
            ),
            ("[26]\nholidays = [\"2026-01-01\"]\n", "`26` is not a year"),
            ("2026 = 5\n", "`2026` must be a table"),
            (
                "[2026]\nholiday = [\"2026-01-01\"]\n",
                "[2026] has an unknown key `holiday`",
            ),
            (
                "[2026]\nholidays = \"2026-01-01\"\n",
                "[2026] holidays must be a list",
            ),
            (
                "[2026]\nholidays = [20260101]\n",
                "[2026] holidays: 20260101 is not a date",
            ),
            (
                "[2026]\nholidays = [\"2026-1-1\"]\n",
                "[2026] holidays: \"2026-1-1\" is not a valid date",
            ),
            (
                "[2026]\nholidays = [\"2026-02-29\"]\n",
                "[2026] holidays: \"2026-02-29\" is not a valid date",
            ),
            (
                "[2026]\nholidays = [\"2025-05-01\"]\n",
                "[2026] holidays: \"2025-05-01\" is not in 2026",
            ),
            (
                "[2026]\nholidays = [\"2026-01-01\"]\nrest_days = [\"2026-01-01\"]\n",
                "[2026] rest_days: \"2026-01-01\" is listed twice, also in [2026] holidays",
            ),
            (
                "[2026]\nholidays = [\"2026-01-01\", \"2026-01-01\"]\n",
                "[2026] holidays: \"2026-01-01\" is listed twice",
            ),
            (
                "[2025]\nholidays = [\"2025-01-01\", \"2026-01-02\"]\n\
                 [2026]\nholidays = [\"2026-01-01\"]\nrest_days = [\"2026-01-02\"]\n",
                "[2026] rest_days: \"2026-01-02\" is listed twice, also in [2025] holidays",
            ),
            (
                "[2026]\nholidays = [\"2026-01-01\"]\nworking_days = [\"2026-01-05\"]\n",
                "[2026] working_days: \"2026-01-05\" is a Monday;",
            ),
            (
                "[2026]\nrest_days = [\"2026-01-02\"]\n",
                "[2026] lists no holidays",
            ),
        ];
        for (text, expected) in cases {
            let error = Holidays::parse(text).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("holiday calendar: {expected}")),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn a_notice_may_reach_into_the_neighbouring_year() {
        let calendar = Holidays::parse(
            "[2023]\nholidays = [\"2023-01-01\"]\nrest_days = [\"2022-12-31\", \"2023-01-02\"]\n",
        )
        .unwrap();
        assert_eq!(calendar.kind(date("2022-12-31")), DayKind::RestDay);
        assert!(calendar.covers(2023));
        assert!(!calendar.covers(2022));
        assert_eq!(Holidays::parse("").unwrap(), Holidays::default());
    }
}
