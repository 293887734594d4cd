//! JSON lines written by hand: the simulator writes tens of millions of them, and a fixed
//! field order makes the bytes of a seed easy to compare.

use super::profile::WorkerProfile;
use super::schedule::Kind;
use crate::event::Activity;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// How an event writes its `ts` (SPEC section 2 allows all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TsForm {
    /// `2026-03-02T08:01:02.345+08:00`, the offset of the configured zone.
    Local,
    /// `2026-03-02T00:01:02.345Z`.
    Utc,
    /// `1772409662345`.
    EpochMillis,
}

/// The assorted bad lines of SPEC section 2, one of each kind in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum BadKind {
    NotJson,
    NotObject,
    NotUtf8,
    MissingWorkerId,
    UnknownKind,
    TsOutOfRange,
    NegativeFee,
    PlatformNotString,
    OrderWithoutId,
    TsFloat,
}

impl BadKind {
    pub(crate) const COUNT: u8 = 10;

    pub(crate) fn from_index(index: u8) -> BadKind {
        match index % Self::COUNT {
            0 => BadKind::NotJson,
            1 => BadKind::NotObject,
            2 => BadKind::NotUtf8,
            3 => BadKind::MissingWorkerId,
            4 => BadKind::UnknownKind,
            5 => BadKind::TsOutOfRange,
            6 => BadKind::NegativeFee,
            7 => BadKind::PlatformNotString,
            8 => BadKind::OrderWithoutId,
            _ => BadKind::TsFloat,
        }
    }

    /// Whether a Kafka producer can key the line by the worker (the line names one).
    pub(crate) fn has_worker(self) -> bool {
        !matches!(
            self,
            BadKind::NotJson | BadKind::NotObject | BadKind::MissingWorkerId
        )
    }
}

/// What one line says; good and bad lines share the writer.
pub(crate) struct LineFields<'a> {
    pub worker: &'a WorkerProfile,
    pub seq: u32,
    pub ts: i64,
    pub form: TsForm,
    pub kind: Kind,
    pub order: u32,
    pub fee: u32,
    pub activity: Activity,
}

/// Appends a valid event line (no newline).
pub(crate) fn write_event(buf: &mut Vec<u8>, zone: Tz, line: &LineFields<'_>) {
    write_object(buf, zone, line, None);
}

/// Appends a bad line of the given kind, built around an event of the worker.
pub(crate) fn write_bad(buf: &mut Vec<u8>, zone: Tz, line: &LineFields<'_>, bad: BadKind) {
    match bad {
        BadKind::NotJson => {
            if line.seq % 2 == 0 {
                // A line cut short, as by a crashed writer.
                buf.extend_from_slice(b"{\"worker_id\":\"");
                buf.extend_from_slice(line.worker.id.as_bytes());
                buf.extend_from_slice(b"\",\"kind\":\"log");
            } else {
                buf.extend_from_slice(b"worker ");
                buf.extend_from_slice(line.worker.id.as_bytes());
                buf.extend_from_slice(b" logged in");
            }
        }
        BadKind::NotObject => buf.extend_from_slice(b"[1,2]"),
        _ => write_object(buf, zone, line, Some(bad)),
    }
}

fn write_object(buf: &mut Vec<u8>, zone: Tz, line: &LineFields<'_>, bad: Option<BadKind>) {
    let id = line.worker.id.as_bytes();
    buf.extend_from_slice(b"{\"event_id\":\"");
    buf.extend_from_slice(id);
    buf.push(b'-');
    push_u64(buf, line.seq.into());
    if bad.is_some() {
        // Never the id of a good event, so a bad line cannot hide one as a duplicate.
        buf.push(b'x');
    }
    buf.push(b'"');
    if bad != Some(BadKind::MissingWorkerId) {
        buf.extend_from_slice(b",\"worker_id\":\"");
        buf.extend_from_slice(id);
        buf.push(b'"');
    }
    let kind: &[u8] = match bad {
        None
        | Some(BadKind::TsOutOfRange)
        | Some(BadKind::TsFloat)
        | Some(BadKind::MissingWorkerId) => line.kind.as_str().as_bytes(),
        Some(BadKind::NotUtf8) => b"heart\xFF\xFEbeat",
        Some(BadKind::UnknownKind) => b"teleport",
        Some(BadKind::NegativeFee) => b"order_delivered",
        Some(BadKind::OrderWithoutId) => b"order_picked_up",
        Some(_) => b"heartbeat",
    };
    buf.extend_from_slice(b",\"kind\":\"");
    buf.extend_from_slice(kind);
    buf.extend_from_slice(b"\",\"ts\":");
    match bad {
        Some(BadKind::TsOutOfRange) => buf.extend_from_slice(b"\"1999-12-31T23:59:59Z\""),
        Some(BadKind::TsFloat) => {
            push_i64(buf, line.ts);
            buf.extend_from_slice(b".5");
        }
        _ => push_ts(buf, zone, line.ts, line.form),
    }
    if bad == Some(BadKind::PlatformNotString) {
        buf.extend_from_slice(b",\"platform\":5");
    } else {
        buf.extend_from_slice(b",\"platform\":\"");
        buf.extend_from_slice(line.worker.platform.as_bytes());
        buf.push(b'"');
    }
    buf.extend_from_slice(b",\"role\":\"");
    buf.extend_from_slice(line.worker.role.name().as_bytes());
    buf.extend_from_slice(b"\",\"city\":\"");
    buf.extend_from_slice(line.worker.city.as_bytes());
    buf.push(b'"');
    // Only with `--persons` and `--activity`, so the default lines keep their bytes.
    if let Some(person) = &line.worker.person_id {
        buf.extend_from_slice(b",\"person_id\":\"");
        buf.extend_from_slice(person.as_bytes());
        buf.push(b'"');
    }
    let kind_kept = matches!(
        bad,
        None | Some(BadKind::TsOutOfRange | BadKind::TsFloat | BadKind::MissingWorkerId)
    );
    if kind_kept && line.kind == Kind::Activity {
        buf.extend_from_slice(b",\"activity\":\"");
        buf.extend_from_slice(line.activity.as_str().as_bytes());
        buf.push(b'"');
    }
    let kind_is_order = match bad {
        None
        | Some(BadKind::TsOutOfRange)
        | Some(BadKind::TsFloat)
        | Some(BadKind::MissingWorkerId) => line.kind.is_order(),
        Some(BadKind::NegativeFee) => true,
        _ => false,
    };
    if kind_is_order {
        buf.extend_from_slice(b",\"order_id\":\"o-");
        push_u64(buf, line.order.into());
        buf.push(b'"');
    }
    match bad {
        Some(BadKind::NegativeFee) => buf.extend_from_slice(b",\"fee_cents\":-5"),
        _ if line.kind == Kind::OrderDelivered && kind_is_order => {
            buf.extend_from_slice(b",\"fee_cents\":");
            push_u64(buf, line.fee.into());
        }
        _ => {}
    }
    buf.push(b'}');
}

/// Appends `ts` in the given form, quoted when it is a string.
pub(crate) fn push_ts(buf: &mut Vec<u8>, zone: Tz, ts: i64, form: TsForm) {
    match form {
        TsForm::EpochMillis => push_i64(buf, ts),
        TsForm::Utc => {
            buf.push(b'"');
            push_datetime(buf, ts);
            buf.extend_from_slice(b"Z\"");
        }
        TsForm::Local => {
            let offset = offset_seconds(zone, ts);
            buf.push(b'"');
            push_datetime(buf, ts + i64::from(offset) * 1000);
            buf.push(if offset < 0 { b'-' } else { b'+' });
            let minutes = offset.unsigned_abs() / 60;
            push_padded(buf, (minutes / 60).into(), 2);
            buf.push(b':');
            push_padded(buf, (minutes % 60).into(), 2);
            buf.push(b'"');
        }
    }
}

/// The zone's UTC offset at instant `ts` (milliseconds since the epoch), in seconds.
pub(crate) fn offset_seconds(zone: Tz, ts: i64) -> i32 {
    let utc = chrono::DateTime::from_timestamp_millis(ts)
        .expect("simulated instants are within 2000..2100")
        .naive_utc();
    zone.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

/// `YYYY-MM-DDTHH:MM:SS.mmm` of a wall-clock instant given as milliseconds since 1970-01-01.
fn push_datetime(buf: &mut Vec<u8>, wall_ms: i64) {
    let days = wall_ms.div_euclid(86_400_000);
    let ms_of_day = wall_ms.rem_euclid(86_400_000) as u64;
    let (year, month, day) = civil_from_days(days);
    push_padded(buf, year as u64, 4);
    buf.push(b'-');
    push_padded(buf, month.into(), 2);
    buf.push(b'-');
    push_padded(buf, day.into(), 2);
    buf.push(b'T');
    push_padded(buf, ms_of_day / 3_600_000, 2);
    buf.push(b':');
    push_padded(buf, ms_of_day / 60_000 % 60, 2);
    buf.push(b':');
    push_padded(buf, ms_of_day / 1000 % 60, 2);
    buf.push(b'.');
    push_padded(buf, ms_of_day % 1000, 3);
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push_padded(buf: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while value > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    buf.extend_from_slice(&digits[at..]);
}

fn push_u64(buf: &mut Vec<u8>, value: u64) {
    push_padded(buf, value, 1);
}

fn push_i64(buf: &mut Vec<u8>, value: i64) {
    if value < 0 {
        buf.push(b'-');
    }
    push_u64(buf, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_instants_like_chrono() {
        let zone: Tz = chrono_tz::Asia::Shanghai;
        for ts in [
            0,
            946_684_800_000,
            1_772_409_662_345,
            1_772_467_199_999,
            4_102_444_799_999,
        ] {
            let mut buf = Vec::new();
            push_ts(&mut buf, zone, ts, TsForm::Local);
            let expected = zone
                .timestamp_millis_opt(ts)
                .unwrap()
                .format("\"%Y-%m-%dT%H:%M:%S%.3f%:z\"")
                .to_string();
            assert_eq!(String::from_utf8(buf).unwrap(), expected);
            let mut buf = Vec::new();
            push_ts(&mut buf, zone, ts, TsForm::Utc);
            let expected = chrono::DateTime::from_timestamp_millis(ts)
                .unwrap()
                .format("\"%Y-%m-%dT%H:%M:%S%.3fZ\"")
                .to_string();
            assert_eq!(String::from_utf8(buf).unwrap(), expected);
        }
        let mut buf = Vec::new();
        push_ts(
            &mut buf,
            chrono_tz::America::St_Johns,
            1_772_409_662_345,
            TsForm::Local,
        );
        assert_eq!(buf, b"\"2026-03-01T20:31:02.345-03:30\"");
    }
}
