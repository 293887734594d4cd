//! `rolling`: the measure summed over the sliding window `(t - window, t]` (China's passenger
//! transport: at most 8 h of driving in any 24 h).
//!
//! The worker's time of the measure within the window is kept as intervals, oldest first;
//! intervals that can no longer reach a window are dropped, so memory follows the number of
//! on/off changes within one window. A hostile stream of changes is bounded too: past
//! [`MAX_INTERVALS`] the two intervals with the smallest gap between them merge (the gap then
//! counts as measured time: the sum can only grow, never hide time).
//!
//! Each phase fires when the sum reaches its threshold, and again only after the sum has
//! fallen below it. The sum never decreases while the measure is true (time enters the window
//! at least as fast as it leaves), so whether it fell below is known at the instant the measure
//! becomes true again: the sum is then at its lowest since it went false.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::{ByPlatform, ON, PlatformName, RuleDef, Standing, Threshold, label, seconds};
use crate::alert::{Phase, human_duration, human_limit};
use crate::engine::{Cx, Me, NONE};
use crate::pack::{PackError, Reader};

/// Most intervals kept per worker and rule: exact for up to this many stretches of the
/// measure in one window (in 24 h, one every 21 s: a city driver whose recorder reports every
/// stop at a traffic light has one a minute or two). It was 512, and a bus driving 20 s of each
/// minute crossed it within 9 hours: false `cnroad_24h` violations and holds.
pub const MAX_INTERVALS: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub window: i64,
    pub limit: i64,
    pub warning: Option<i64>,
    pub table: Vec<Threshold>,
}

impl Params {
    /// Reads `window`, `limit` and `warning`.
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let window = r.positive("window")?;
        let limit = r.positive("limit")?;
        if limit > window {
            return Err(r.error("`limit` must not exceed `window` (it could never be reached)"));
        }
        let warning = r.positive_opt("warning")?;
        if warning.is_some_and(|w| w > limit) {
            return Err(r.error("`warning` must not exceed `limit`"));
        }
        Ok(Params::new(window, limit, warning))
    }

    pub fn new(window: i64, limit: i64, warning: Option<i64>) -> Params {
        let mut table = Vec::new();
        if let Some(amount) = warning {
            table.push(Threshold {
                phase: Phase::Warning,
                amount,
            });
        }
        table.push(Threshold {
            phase: Phase::Violation,
            amount: limit,
        });
        Params {
            window,
            limit,
            warning,
            table,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// `[start, end)` of the measure's time, oldest first, not overlapping.
    pub intervals: VecDeque<(i64, i64)>,
    /// Phases whose threshold the sum is at or above since they fired.
    pub above: u8,
    /// Persons: per platform, its own intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Box<Vec<(PlatformName, State)>>>,
}

impl State {
    pub fn integrate(&mut self, window: i64, on: bool, from: i64, to: i64, platforms: &[&str]) {
        if !on || to <= from {
            return;
        }
        if !platforms.is_empty() {
            let split = self.split.get_or_insert_with(Default::default);
            for &platform in platforms {
                match split.iter_mut().find(|(p, _)| **p == *platform) {
                    Some((_, state)) => state.integrate(window, true, from, to, &[]),
                    None => {
                        let mut state = State::default();
                        state.integrate(window, true, from, to, &[]);
                        split.push((platform.into(), state));
                    }
                }
            }
        }
        match self.intervals.back_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => self.intervals.push_back((from, to)),
        }
        // No window at or after `to` reaches an interval that ended by `to - window`.
        while self
            .intervals
            .front()
            .is_some_and(|&(_, end)| end <= to - window)
        {
            self.intervals.pop_front();
        }
        if self.intervals.len() > MAX_INTERVALS {
            self.merge_closest();
        }
    }

    fn merge_closest(&mut self) {
        let Some(i) = (1..self.intervals.len())
            .min_by_key(|&i| self.intervals[i].0 - self.intervals[i - 1].1)
        else {
            return;
        };
        let end = self.intervals[i].1;
        self.intervals[i - 1].1 = end;
        self.intervals.remove(i);
    }

    /// Persons: the time per platform within `[t - window, t]`.
    fn split_parts(&self, window: i64, t: i64) -> ByPlatform {
        self.split
            .as_deref()
            .map(|split| {
                split
                    .iter()
                    .map(|(platform, state)| (platform.clone(), state.amount_at(window, t)))
                    .filter(|&(_, ms)| ms > 0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The measure's time within `[t - window, t]`.
    pub fn amount_at(&self, window: i64, t: i64) -> i64 {
        let start = t - window;
        self.intervals
            .iter()
            .map(|&(s, e)| (e.min(t) - s.max(start)).max(0))
            .sum()
    }

    /// With the measure true from `since` on, the first instant at which the sum reaches
    /// `target` (`NONE` if never: the sum stops growing once the window's start enters the
    /// time measured from `since`).
    fn reach(&self, window: i64, since: i64, target: i64) -> i64 {
        let mut need = target - self.amount_at(window, since);
        if need <= 0 {
            return NONE;
        }
        // The window's start walks forward from `since - window`: across gaps the sum grows,
        // across measured time it stays (one ms in, one ms out).
        let mut pos = since - window;
        for &(s, e) in &self.intervals {
            if e <= pos {
                continue;
            }
            let gap = (s - pos).max(0);
            if need <= gap {
                return pos + need + window;
            }
            need -= gap;
            pos = e.max(pos);
        }
        let gap = (since - pos).max(0);
        if need <= gap {
            return pos + need + window;
        }
        NONE
    }

    /// With the measure false from `from` on, the first instant at which the sum is below
    /// `target`.
    fn fall_below(&self, window: i64, from: i64, target: i64) -> i64 {
        let mut lose = self.amount_at(window, from) - target + 1;
        if lose <= 0 {
            return from;
        }
        let mut pos = from - window;
        for &(s, e) in &self.intervals {
            if e <= pos {
                continue;
            }
            pos = pos.max(s);
            let len = e - pos;
            if lose <= len {
                return pos + lose + window;
            }
            lose -= len;
            pos = e;
        }
        NONE
    }

    pub fn next_crossing(&self, p: &Params, on: bool, since: i64) -> i64 {
        if !on {
            return NONE;
        }
        p.table
            .iter()
            .filter(|t| self.above & bit(t.phase) == 0)
            .map(|t| self.reach(p.window, since, t.amount))
            .min()
            .unwrap_or(NONE)
    }

    pub fn instant(
        &mut self,
        def: &RuleDef,
        p: &Params,
        flags: u8,
        t: i64,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
    ) {
        if flags & ON == 0 {
            return;
        }
        let amount = self.amount_at(p.window, t);
        for threshold in &p.table {
            let b = bit(threshold.phase);
            if self.above & b != 0 && amount < threshold.amount {
                self.above &= !b;
            }
            if self.above & b != 0 || amount < threshold.amount {
                continue;
            }
            self.above |= b;
            let default = match threshold.phase {
                Phase::Warning => "the warning threshold",
                _ => "the limit",
            };
            let message = format!(
                "{} has {} {} in the last {}, reaching {} of {}.",
                me.who(),
                def.done(),
                human_duration(amount),
                human_limit(p.window),
                label(def, threshold.phase, default),
                human_limit(threshold.amount)
            );
            let value = seconds(amount, threshold.amount);
            let start = t - p.window;
            if threshold.phase == Phase::Violation {
                let until = self.fall_below(p.window, t, p.limit);
                let split = self.split_parts(p.window, t);
                cx.emit(
                    me,
                    def,
                    Phase::Violation,
                    t,
                    value,
                    start,
                    message.clone(),
                    split,
                );
                cx.hold(me, def, t, until, message);
            } else {
                let split = self.split_parts(p.window, t);
                cx.emit(me, def, threshold.phase, t, value, start, message, split);
            }
        }
    }

    /// `left` is how much more of the measure, from `since` on, reaches the limit (SPEC
    /// section 7): in a sliding window time also leaves meanwhile, so it can be more than
    /// `limit - used`. A limit the window can never reach keeps `limit - used`.
    pub fn standing(&self, p: &Params, since: i64) -> Standing {
        let used = self.amount_at(p.window, since);
        let left = if used >= p.limit {
            0
        } else {
            match self.reach(p.window, since, p.limit) {
                NONE => p.limit - used,
                at => at - since,
            }
        };
        Standing {
            used,
            limit: p.limit,
            left,
        }
    }
}

fn bit(phase: Phase) -> u8 {
    match phase {
        Phase::Warning => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn sums_slide_and_crossings_account_for_time_leaving() {
        let mut s = State::default();
        // On 0-6 h, off 6-10 h, on again from 10 h.
        s.integrate(24 * H, true, 0, 6 * H, &[]);
        assert_eq!(s.amount_at(24 * H, 6 * H), 6 * H);
        // From 10 h on: 8 h reached at 12 h.
        assert_eq!(s.reach(24 * H, 10 * H, 8 * H), 12 * H);
        // Window of 8 h: at 10 h only [2, 6) = 4 h is inside; from 10 h to 14 h time leaves
        // as it enters (the window's start crosses [2, 6)), then the sum grows again: 5 h at
        // 15 h. 8 h is never reached (at 18 h the window's start meets the time from 10 h).
        assert_eq!(s.amount_at(8 * H, 10 * H), 4 * H);
        assert_eq!(s.reach(8 * H, 10 * H, 5 * H), 15 * H);
        assert_eq!(s.reach(8 * H, 10 * H, 8 * H), 18 * H);
        assert_eq!(s.reach(8 * H, 10 * H, 8 * H + 1), NONE);
        // Resting from 6 h, the sum in a 24 h window falls below 5 h when 1 h + 1 ms has left.
        assert_eq!(s.fall_below(24 * H, 6 * H, 5 * H), 24 * H + H + 1);
    }

    /// SPEC section 7: `left_seconds` is "how much more of its measure ... reaches that
    /// threshold". Half an hour at 8 h, a window of 3 h, a limit of 1 h: at 10:50 it said 30
    /// min were left, but that half hour leaves the window from 11:00 to 11:30 while new time
    /// comes in, and the limit is reached at 11:50, after 1 h.
    #[test]
    fn left_counts_the_time_that_leaves_the_window_meanwhile() {
        let mut s = State::default();
        let m = 60_000;
        s.integrate(3 * H, true, 8 * H, 8 * H + 30 * m, &[]);
        let p = Params::new(3 * H, H, None);
        let at = 10 * H + 50 * m;
        let standing = s.standing(&p, at);
        assert_eq!((standing.used, standing.left), (30 * m, H));
        // Nothing leaves before the limit: limit - used.
        assert_eq!(s.standing(&Params::new(24 * H, H, None), at).left, 30 * m);
    }

    #[test]
    fn intervals_stay_bounded() {
        let mut s = State::default();
        for i in 0..10_000i64 {
            s.integrate(24 * H, true, i * 10, i * 10 + 5, &[]);
        }
        assert!(s.intervals.len() <= MAX_INTERVALS);
        // Merging only adds gaps: the sum is at least the true one.
        assert!(s.amount_at(24 * H, 100_000) >= 50_000);
    }
}
