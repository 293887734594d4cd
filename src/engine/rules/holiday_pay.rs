//! `holiday_pay` (SPEC 8, measure 2: work on statutory holidays is paid more than normal
//! working time). Evaluated only when `[time] holidays` names a calendar.

use super::{ClosedDay, RuleDef};
use crate::calendar::Day;
use crate::engine::{Cx, Me};
use crate::pack::{KeyValue, PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `holiday_pay_ratio`, in millionths (1.0 = 1,000,000), so that rule sets compare exactly.
    pub ratio_ppm: u64,
}

impl Params {
    /// Reads `ratio` (default `$holiday_pay_ratio`).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let ratio = match r.number("ratio")? {
            Some(ratio) => ratio,
            None => match r.key("holiday_pay_ratio")? {
                KeyValue::Number(n) => n,
                KeyValue::Integer(n) => n as f64,
                _ => return Err(r.error("rule key `holiday_pay_ratio` is not a number")),
            },
        };
        if !(0.0..=100.0).contains(&ratio) {
            return Err(r.error("`ratio` must be 0 to 100"));
        }
        Ok(Params {
            ratio_ppm: (ratio * 1_000_000.0).round() as u64,
        })
    }
}

/// The local day `day` closed with `closed`.
pub fn close_day(
    _def: &RuleDef,
    _p: &Params,
    _day: &Day,
    _closed: &ClosedDay,
    _me: &Me<'_>,
    _cx: &mut Cx<'_>,
) {
}
