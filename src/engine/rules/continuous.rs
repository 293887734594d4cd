//! `continuous`: time of the measure in an episode that ends at a qualifying break (SPEC 4's
//! `continuous_work`; EU 561's 4.5 h with a 45 min or 15 + 30 min break; art. 62's 4 h of
//! driving with a 20 min stop).
//!
//! An episode starts at the first instant of the measure after a qualifying break. A
//! qualifying break is a rest of at least `break`, or, with `split_break = [A, B]`, a rest of
//! at least `B` after an earlier rest of at least `A` in the same episode. The episode ends
//! when that break completes; `resolved` fires then if the episode had a violation.

use serde::{Deserialize, Serialize};

use super::{ON, REST_ON, RuleDef, Split, Standing, Threshold, crossing, seconds};
use crate::alert::{Phase, human_duration, human_limit};
use crate::engine::{Cx, Me, NEVER, NONE, Observation};
use crate::pack::{PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub limit: i64,
    pub warn_before: Option<i64>,
    /// `break`.
    pub brk: i64,
    /// `split_break = [A, B]`.
    pub split: Option<(i64, i64)>,
    /// Warning at `limit - warn_before`, violation at `limit`.
    pub table: Vec<Threshold>,
}

impl Params {
    /// Reads `limit`, `warn_before`, `break` and `split_break`.
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let limit = r.positive("limit")?;
        let warn_before = r.positive_opt("warn_before")?;
        let brk = r.positive("break")?;
        let split = r.split("split_break")?;
        if warn_before.is_some_and(|before| before >= limit) {
            return Err(r.error("`warn_before` must be shorter than `limit`"));
        }
        Ok(Params::new(limit, warn_before, brk, split))
    }

    pub fn new(
        limit: i64,
        warn_before: Option<i64>,
        brk: i64,
        split: Option<(i64, i64)>,
    ) -> Params {
        let mut table = Vec::new();
        if let Some(before) = warn_before {
            table.push(Threshold {
                phase: Phase::Warning,
                amount: limit - before,
            });
        }
        table.push(Threshold {
            phase: Phase::Violation,
            amount: limit,
        });
        Params {
            limit,
            warn_before,
            brk,
            split,
            table,
        }
    }

    /// The rest that completes a break once the episode already had a first part (or not).
    fn break_due(&self, first_part: bool) -> i64 {
        match self.split {
            Some((_, second)) if first_part => self.brk.min(second),
            _ => self.brk,
        }
    }
}

/// An episode of continuous work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub start: i64,
    /// Time of the measure in the episode, ms (short rests do not count).
    pub work: i64,
    pub warned: bool,
    pub violated: bool,
    /// The episode had a rest of at least the first part of the split break.
    #[serde(default)]
    pub first_part: bool,
}

const WARNED: i64 = 1;
const VIOLATED: i64 = 2;
const FIRST_PART: i64 = 4;
/// `work` is held times this, its low bits the episode's flags.
const SCALE: i64 = 8;

/// The rule's state: 32 bytes (an [`Episode`] unpacked would take 40: every worker holds one,
/// read by every event). Saved as `{"episode": {...} | null, "rest_start", "split"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Saved")]
pub struct State {
    /// Start of the current episode; `NEVER` without one.
    start: i64,
    /// The episode's time of the measure times [`SCALE`], plus its flags.
    work: i64,
    /// Start of the current rest (valid while the rest measure is false).
    pub rest_start: i64,
    /// Persons: the episode's time per platform.
    pub split: Split,
}

/// The saved shape of [`State`].
#[derive(Deserialize)]
struct Saved {
    episode: Option<Episode>,
    rest_start: i64,
    #[serde(default)]
    split: Split,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    episode: Option<Episode>,
    rest_start: i64,
    #[serde(skip_serializing_if = "Split::is_empty")]
    split: &'a Split,
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SavedRef {
            episode: self.episode(),
            rest_start: self.rest_start,
            split: &self.split,
        }
        .serialize(serializer)
    }
}

impl TryFrom<Saved> for State {
    type Error = String;
    fn try_from(saved: Saved) -> Result<State, String> {
        let mut state = State {
            rest_start: saved.rest_start,
            split: saved.split,
            ..State::default()
        };
        if let Some(episode) = saved.episode {
            if !(0..=i64::MAX / SCALE).contains(&episode.work) || episode.start == NEVER {
                return Err(format!("continuous episode out of range: {episode:?}"));
            }
            state.set(episode);
        }
        Ok(state)
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            start: NEVER,
            work: 0,
            rest_start: NEVER,
            split: Split::default(),
        }
    }
}

impl State {
    /// The current episode.
    #[inline]
    pub fn episode(&self) -> Option<Episode> {
        (self.start != NEVER).then_some(Episode {
            start: self.start,
            work: self.work / SCALE,
            warned: self.work & WARNED != 0,
            violated: self.work & VIOLATED != 0,
            first_part: self.work & FIRST_PART != 0,
        })
    }

    fn set(&mut self, e: Episode) {
        self.start = e.start;
        self.work = e.work * SCALE
            + if e.warned { WARNED } else { 0 }
            + if e.violated { VIOLATED } else { 0 }
            + if e.first_part { FIRST_PART } else { 0 };
    }

    fn mark(&mut self, bit: i64) {
        self.work |= bit;
    }

    #[inline]
    pub fn integrate(&mut self, on: bool, span: i64, platforms: &[&str]) {
        if on && self.start != NEVER {
            self.work += span * SCALE;
            self.split.add(platforms, span);
        }
    }

    pub fn next_crossing(&self, p: &Params, on: bool, since: i64) -> i64 {
        match (self.episode(), on) {
            (Some(e), true) => crossing(&p.table, |phase| fired(&e, phase), e.work, since),
            _ => NONE,
        }
    }

    pub fn next_completion(&self, p: &Params) -> i64 {
        match self.episode() {
            Some(e) => self.rest_start.saturating_add(p.break_due(e.first_part)),
            None => NONE,
        }
    }

    /// Whether a completing break would resolve a violation (the worker's timer waits for it).
    pub fn resolves(&self) -> bool {
        self.start != NEVER && self.work & VIOLATED != 0
    }

    /// The qualifying break completed at `t`: the episode ends.
    pub fn complete(&mut self, def: &RuleDef, p: &Params, t: i64, me: &Me<'_>, cx: &mut Cx<'_>) {
        let Some(episode) = self.episode() else {
            return;
        };
        self.start = NEVER;
        self.work = 0;
        if def.observe {
            let ended = Observation::EpisodeEnded { work: episode.work };
            cx.observe(me.group, ended);
        }
        if episode.violated {
            let brk = match p.split {
                Some((first, second)) if episode.first_part && second < p.brk => format!(
                    "a split break of {} and {}",
                    human_limit(first),
                    human_limit(second)
                ),
                _ => format!("a break of {}", human_limit(p.brk)),
            };
            let message = format!(
                "{} completed {brk} after {} {} without one.",
                me.who(),
                def.doing(),
                human_duration(episode.work),
            );
            let amount = seconds(episode.work, p.limit);
            let split = self.split.parts();
            cx.emit(
                me,
                def,
                Phase::Resolved,
                t,
                amount,
                episode.start,
                message,
                split,
            );
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
        let (was_rest_on, rest_on) = (before & REST_ON != 0, flags & REST_ON != 0);
        if was_rest_on && !rest_on {
            self.rest_start = t;
        }
        if !was_rest_on
            && rest_on
            && self.start != NEVER
            && let Some((first, _)) = p.split
            && t.saturating_sub(self.rest_start) >= first
        {
            self.mark(FIRST_PART);
        }
        if flags & ON == 0 {
            return;
        }
        if self.start == NEVER {
            self.split.clear();
            self.start = t;
            self.work = 0;
        }
        for threshold in &p.table {
            let Some(e) = self.episode() else { break };
            if fired(&e, threshold.phase) || e.work < threshold.amount {
                continue;
            }
            let (done, work) = (def.done(), human_duration(e.work));
            let (brk, limit) = (human_limit(p.brk), human_limit(p.limit));
            let amount = seconds(e.work, threshold.amount);
            match threshold.phase {
                Phase::Warning => {
                    self.mark(WARNED);
                    let message = format!(
                        "{} has {done} {work} without a break of at least {brk}; the limit is {limit}.",
                        me.who()
                    );
                    let split = self.split.parts();
                    cx.emit(me, def, Phase::Warning, t, amount, e.start, message, split);
                }
                _ => {
                    self.mark(VIOLATED);
                    let message = format!(
                        "{} has {done} {work} without a break of at least {brk} (limit {limit}).",
                        me.who()
                    );
                    let until = t + p.break_due(e.first_part);
                    let split = self.split.parts();
                    cx.emit(
                        me,
                        def,
                        Phase::Violation,
                        t,
                        amount,
                        e.start,
                        message.clone(),
                        split,
                    );
                    cx.hold(me, def, t, until, message);
                }
            }
        }
    }

    pub fn standing(&self, p: &Params) -> Standing {
        let used = self.episode().map_or(0, |e| e.work);
        Standing {
            used,
            limit: p.limit,
            left: (p.limit - used).max(0),
        }
    }
}

fn fired(episode: &Episode, phase: Phase) -> bool {
    match phase {
        Phase::Warning => episode.warned,
        _ => episode.violated,
    }
}
