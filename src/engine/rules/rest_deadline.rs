//! `rest_deadline`: after the end of a rest of at least `rest` (the worker's first instant
//! counts as such an end), the next one must start within `within` (EU 561: a daily rest of
//! 9 h within 15 h of the last; a weekly rest of 24 h within 144 h).

use serde::{Deserialize, Serialize};

use super::{ON, REST_ON, RuleDef, Split, Standing, seconds};
use crate::alert::{Phase, human_duration, human_limit};
use crate::engine::{Cx, Me, NEVER, NONE};
use crate::pack::{PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub rest: i64,
    pub within: i64,
}

impl Params {
    /// Reads `rest` and `within`.
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        Ok(Params {
            rest: r.positive("rest")?,
            within: r.positive("within")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// End of the last qualifying rest (or the worker's first instant); `NEVER` before it.
    pub last_end: i64,
    pub rest_start: i64,
    /// The violation of the current deadline fired.
    pub fired: bool,
    /// Persons: the measure's time since `last_end` per platform.
    #[serde(default, skip_serializing_if = "Split::is_empty")]
    pub split: Split,
}

impl Default for State {
    fn default() -> Self {
        State {
            last_end: NEVER,
            rest_start: NEVER,
            fired: false,
            split: Split::default(),
        }
    }
}

impl State {
    fn deadline(&self, p: &Params) -> i64 {
        self.last_end.saturating_add(p.within)
    }

    pub fn integrate(&mut self, on: bool, span: i64, platforms: &[&str]) {
        if on {
            self.split.add(platforms, span);
        }
    }

    pub fn next_crossing(&self, p: &Params, on: bool, since: i64) -> i64 {
        let deadline = self.deadline(p);
        if on && !self.fired && self.last_end != NEVER && deadline > since {
            deadline
        } else {
            NONE
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
        let rest_on = flags & REST_ON != 0;
        if self.last_end == NEVER {
            // The worker's first instant ends a rest; resting from it starts a new one.
            self.last_end = t;
            self.rest_start = t;
        } else if before & REST_ON != 0 && !rest_on {
            self.rest_start = t;
        } else if before & REST_ON == 0 && rest_on && t.saturating_sub(self.rest_start) >= p.rest {
            self.last_end = t;
            self.fired = false;
            self.split.clear();
        }
        if flags & ON == 0 || self.fired || t < self.deadline(p) {
            return;
        }
        self.fired = true;
        let value = t - self.last_end;
        let message = format!(
            "{} has not started a rest of at least {} within {} of the end of the last one ({} ago).",
            me.who(),
            human_limit(p.rest),
            human_limit(p.within),
            human_duration(value),
        );
        let amount = seconds(value, p.within);
        let split = self.split.parts();
        cx.emit(
            me,
            def,
            Phase::Violation,
            t,
            amount,
            self.last_end,
            message.clone(),
            split,
        );
        cx.hold(me, def, t, t + p.rest, message);
    }

    /// Whether a rest under way at `since` (`flags` held) has lasted `rest`: a qualifying one,
    /// which met the deadline (the state learns it when the rest ends).
    fn rested(&self, p: &Params, flags: u8, since: i64) -> bool {
        flags & REST_ON == 0
            && self.rest_start != NEVER
            && since.saturating_sub(self.rest_start) >= p.rest
    }

    /// Whether the current deadline's violation fired and still holds at `since`: not once a
    /// rest under way has lasted `rest`.
    pub fn in_violation(&self, p: &Params, flags: u8, since: i64) -> bool {
        self.fired && !self.rested(p, flags, since)
    }

    /// Where the worker stands at `since`, `flags` held from then on. A rest under way that
    /// has lasted `rest` already is a qualifying one: work resumed now starts a new deadline,
    /// so nothing is used (`left` stayed 0 through it, keeping a rested worker blocked).
    pub fn standing(&self, p: &Params, flags: u8, since: i64) -> Standing {
        if self.last_end == NEVER || self.rested(p, flags, since) {
            return Standing {
                used: 0,
                limit: p.within,
                left: p.within,
            };
        }
        let used = since - self.last_end;
        Standing {
            used,
            limit: p.within,
            left: (p.within - used).max(0),
        }
    }
}
