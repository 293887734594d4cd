//! `since_rest`: the measure accumulated in a shift, from the end of the last rest of at least
//! `reset_rest` (EU 561's daily driving, 9 h or 10 h twice a week; FMCSA's 11 h of driving;
//! the shift starts there, at the first instant of `rest_unless`, which defaults to the measure),
//! or, with `elapsed_from`, the wall time since the shift's first instant of that measure
//! (FMCSA's 14-hour window: short rests do not stop the clock).
//!
//! A shift that reaches `limit` while extensions remain in the local ISO week in which it
//! started uses one and goes on to `extended_limit`.

use serde::{Deserialize, Serialize};

use super::{AUX, ON, REST_ON, RuleDef, Split, Standing, label, seconds};
use crate::alert::{Phase, human_duration, human_limit};
use crate::engine::{Cx, Me, NEVER, NONE};
use crate::pack::{PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub reset_rest: i64,
    pub limit: i64,
    pub warning: Option<i64>,
    pub extended_limit: Option<i64>,
    pub extensions_per_week: u32,
    /// Counts wall time from the shift's start instead of the measure (`elapsed_from`).
    pub elapsed: bool,
}

impl Params {
    /// Reads `reset_rest`, `limit`, `warning`, `extended_limit` and `extensions_per_week`
    /// (`elapsed_from`, `rest_unless` and `allowance` are common keys).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let reset_rest = r.positive("reset_rest")?;
        let limit = r.positive("limit")?;
        let warning = r.positive_opt("warning")?;
        if warning.is_some_and(|w| w > limit) {
            return Err(r.error("`warning` must not exceed `limit`"));
        }
        let extended_limit = r.positive_opt("extended_limit")?;
        if extended_limit.is_some_and(|e| e <= limit) {
            return Err(r.error("`extended_limit` must be more than `limit`"));
        }
        let extensions = r.integer("extensions_per_week")?.unwrap_or(0);
        if !(0..=7).contains(&extensions) {
            return Err(r.error("`extensions_per_week` must be 0 to 7"));
        }
        if (extensions > 0) != extended_limit.is_some() {
            return Err(r.error("`extended_limit` and `extensions_per_week` (above 0) go together"));
        }
        Ok(Params {
            reset_rest,
            limit,
            warning,
            extended_limit,
            extensions_per_week: extensions as u32,
            elapsed: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub start: i64,
    /// The measure's time in the shift, ms (not used with `elapsed_from`).
    pub amount: i64,
    pub warned: bool,
    pub violated: bool,
    /// The shift uses an extension: its violation threshold is `extended_limit`.
    pub extended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub shift: Option<Shift>,
    pub rest_start: i64,
    /// The ISO week (day number of its Monday) whose extensions `ext_used` counts.
    pub ext_week: i32,
    pub ext_used: u32,
    /// Persons: the shift's time of the measure per platform.
    #[serde(default, skip_serializing_if = "Split::is_empty")]
    pub split: Split,
}

impl Default for State {
    fn default() -> Self {
        State {
            shift: None,
            rest_start: NEVER,
            ext_week: i32::MIN,
            ext_used: 0,
            split: Split::default(),
        }
    }
}

impl State {
    fn amount(&self, p: &Params, t: i64) -> i64 {
        match self.shift {
            Some(shift) if p.elapsed => t - shift.start,
            Some(shift) => shift.amount,
            None => 0,
        }
    }

    /// The current shift's violation threshold (SPEC section 7): `extended_limit` once it uses
    /// an extension, and also before it reaches `limit` while its week has one left (it will
    /// use it there); otherwise `limit`.
    fn threshold(&self, p: &Params) -> i64 {
        match (self.shift, p.extended_limit) {
            (Some(shift), Some(extended)) if shift.extended => extended,
            (Some(shift), Some(extended))
                if !shift.violated && self.ext_used < p.extensions_per_week =>
            {
                extended
            }
            _ => p.limit,
        }
    }

    pub fn integrate(&mut self, p: &Params, on: bool, span: i64, platforms: &[&str]) {
        if let (true, Some(shift)) = (on, &mut self.shift) {
            if !p.elapsed {
                shift.amount += span;
            }
            self.split.add(platforms, span);
        }
    }

    pub fn next_crossing(&self, p: &Params, flags: u8, since: i64) -> i64 {
        let Some(shift) = self.shift else {
            return NONE;
        };
        if flags & ON == 0 {
            return NONE;
        }
        let mut targets = [NONE; 3];
        if let Some(warning) = p.warning
            && !shift.warned
        {
            targets[0] = warning;
        }
        if !shift.violated {
            targets[1] = p.limit;
            if shift.extended {
                targets[2] = p.extended_limit.unwrap_or(NONE);
            }
        }
        let amount = self.amount(p, since);
        let base = if p.elapsed {
            shift.start
        } else {
            since - amount
        };
        targets
            .into_iter()
            .filter(|&target| target != NONE && amount < target)
            .map(|target| base + target)
            .min()
            .unwrap_or(NONE)
    }

    pub fn next_completion(&self, p: &Params) -> i64 {
        match self.shift {
            Some(_) => self.rest_start.saturating_add(p.reset_rest),
            None => NONE,
        }
    }

    pub fn resolves(&self) -> bool {
        self.shift.is_some_and(|s| s.violated)
    }

    /// The reset rest completed at `t`: the shift ends.
    pub fn complete(&mut self, def: &RuleDef, p: &Params, t: i64, me: &Me<'_>, cx: &mut Cx<'_>) {
        let amount = self.amount(p, self.rest_start.max(self.shift.map_or(t, |s| s.start)));
        let Some(shift) = self.shift.take() else {
            return;
        };
        if shift.violated {
            let message = if p.elapsed {
                format!(
                    "{} completed a rest of {} after a shift of {}.",
                    me.who(),
                    human_limit(p.reset_rest),
                    human_duration(amount),
                )
            } else {
                format!(
                    "{} completed a rest of {} after {} {} in the shift.",
                    me.who(),
                    human_limit(p.reset_rest),
                    def.doing(),
                    human_duration(amount),
                )
            };
            let value = seconds(amount, self.threshold_of(p, &shift));
            let split = self.split.parts();
            cx.emit(
                me,
                def,
                Phase::Resolved,
                t,
                value,
                shift.start,
                message,
                split,
            );
        }
    }

    fn threshold_of(&self, p: &Params, shift: &Shift) -> i64 {
        match p.extended_limit {
            Some(extended) if shift.extended => extended,
            _ => p.limit,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn instant(
        &mut self,
        def: &RuleDef,
        p: &Params,
        before: u8,
        flags: u8,
        t: i64,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
    ) {
        if before & REST_ON != 0 && flags & REST_ON == 0 {
            self.rest_start = t;
        }
        let starts = if p.elapsed { AUX } else { REST_ON };
        // A shift starts where the last reset rest ends: with `elapsed_from`, whose measure
        // can be on during the rule's rest (on duty, not driving, under a driving rule's own
        // rest), not inside a rest that already is a reset rest, which would complete it at
        // once.
        let in_reset_rest =
            flags & REST_ON == 0 && self.rest_start.saturating_add(p.reset_rest) <= t;
        if flags & starts != 0 && self.shift.is_none() && !(p.elapsed && in_reset_rest) {
            self.split.clear();
            self.shift = Some(Shift {
                start: t,
                amount: 0,
                warned: false,
                violated: false,
                extended: false,
            });
            if self.ext_week != me.day.week {
                self.ext_week = me.day.week;
                self.ext_used = 0;
            }
        }
        if flags & ON == 0 {
            return;
        }
        let Some(mut shift) = self.shift else {
            return;
        };
        let amount = self.amount(p, t);
        let words = |threshold: i64, phase: Phase| {
            let default = match phase {
                Phase::Warning => "the warning threshold",
                _ => "the limit",
            };
            let what = if p.elapsed {
                format!(
                    "{} is {} {} after the start of the shift",
                    me.who(),
                    def.doing(),
                    human_duration(amount)
                )
            } else {
                format!(
                    "{} has {} {} since a rest of at least {}",
                    me.who(),
                    def.done(),
                    human_duration(amount),
                    human_limit(p.reset_rest)
                )
            };
            format!(
                "{what}, reaching {} of {}.",
                label(def, phase, default),
                human_limit(threshold)
            )
        };
        if let Some(warning) = p.warning
            && !shift.warned
            && amount >= warning
        {
            shift.warned = true;
            let message = words(warning, Phase::Warning);
            let split = self.split.parts();
            cx.emit(
                me,
                def,
                Phase::Warning,
                t,
                seconds(amount, warning),
                shift.start,
                message,
                split,
            );
        }
        if !shift.violated && !shift.extended && amount >= p.limit {
            // An extension of the shift's week, if one remains.
            if p.extended_limit.is_some() && self.ext_used < p.extensions_per_week {
                shift.extended = true;
                self.ext_used += 1;
            } else {
                shift.violated = true;
                self.violate(def, p, &shift, amount, p.limit, t, me, cx, &words);
            }
        }
        if let Some(extended) = p.extended_limit
            && shift.extended
            && !shift.violated
            && amount >= extended
        {
            shift.violated = true;
            self.violate(def, p, &shift, amount, extended, t, me, cx, &words);
        }
        self.shift = Some(shift);
    }

    #[allow(clippy::too_many_arguments)]
    fn violate(
        &self,
        def: &RuleDef,
        p: &Params,
        shift: &Shift,
        amount: i64,
        threshold: i64,
        t: i64,
        me: &Me<'_>,
        cx: &mut Cx<'_>,
        words: &dyn Fn(i64, Phase) -> String,
    ) {
        let message = words(threshold, Phase::Violation);
        let value = seconds(amount, threshold);
        let split = self.split.parts();
        cx.emit(
            me,
            def,
            Phase::Violation,
            t,
            value,
            shift.start,
            message.clone(),
            split,
        );
        cx.hold(me, def, t, t + p.reset_rest, message);
    }

    /// Where the rule stands at `since`, in the local ISO week starting on day `week`.
    pub fn standing(&self, p: &Params, since: i64, week: i32) -> Standing {
        let used = self.amount(p, since);
        let limit = match (self.shift, p.extended_limit) {
            // Between shifts: the threshold of a shift started now, which uses an extension
            // while this week has one left (it showed `limit` until the shift began).
            (None, Some(extended)) => {
                let used_this_week = if self.ext_week == week {
                    self.ext_used
                } else {
                    0
                };
                if used_this_week < p.extensions_per_week {
                    extended
                } else {
                    p.limit
                }
            }
            _ => self.threshold(p),
        };
        Standing {
            used,
            limit,
            left: (limit - used).max(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    /// EU 561's daily driving: 9 h, 10 h twice a week. Between shifts the threshold is that of
    /// a shift started now (it showed 9 h until the shift began, then 10 h).
    #[test]
    fn between_shifts_the_limit_is_that_of_a_shift_started_now() {
        let p = Params {
            reset_rest: 9 * H,
            limit: 9 * H,
            warning: None,
            extended_limit: Some(10 * H),
            extensions_per_week: 2,
            elapsed: false,
        };
        let week = 20_513;
        let limit = |ext_week: i32, ext_used: u32| {
            let state = State {
                ext_week,
                ext_used,
                ..State::default()
            };
            let standing = state.standing(&p, 0, week);
            (standing.used, standing.limit, standing.left)
        };
        // A new worker, one extension used this week, both used, both used a week before.
        assert_eq!(limit(i32::MIN, 0), (0, 10 * H, 10 * H));
        assert_eq!(limit(week, 1), (0, 10 * H, 10 * H));
        assert_eq!(limit(week, 2), (0, 9 * H, 9 * H));
        assert_eq!(limit(week - 7, 2), (0, 10 * H, 10 * H));
        // In a shift: its own threshold, as before.
        let state = State {
            shift: Some(Shift {
                start: 0,
                amount: 2 * H,
                warned: false,
                violated: false,
                extended: false,
            }),
            ext_week: week,
            ext_used: 2,
            ..State::default()
        };
        assert_eq!(state.standing(&p, 0, week).limit, 9 * H);
    }
}
