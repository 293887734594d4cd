//! One worker's day in event time: shift blocks, orders, platform breaks and heartbeats.

use super::profile::{Behaviour, Role, WorkerProfile};
use super::rng::Rng;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// Event kinds of SPEC section 2: the engine's own type, so the two cannot drift apart.
pub use crate::event::Kind;

/// An event before it gets its id, wire format and noise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEvent {
    pub ts: i64,
    pub kind: Kind,
    /// Per-worker order number (order kinds only).
    pub order: u32,
    /// Pay in fen (`order_delivered` only).
    pub fee: u32,
}

/// A worker and the generators and counters that carry over from one day to the next.
pub(crate) struct WorkerState {
    pub profile: WorkerProfile,
    /// Draws the schedule; kept apart from `noise` so that duplicates, bad lines and jitter
    /// never change the underlying working days of a seed.
    rng: Rng,
    pub noise: Rng,
    next_order: u32,
    pub next_seq: u32,
    /// The last event of the previous shift: the next shift starts at least 6 h later.
    busy_until: i64,
}

impl WorkerState {
    pub(crate) fn new(seed: u64, index: u32) -> WorkerState {
        let profile = WorkerProfile::draw(index, &mut Rng::from_words(&[seed, index.into(), 0]));
        WorkerState {
            profile,
            rng: Rng::from_words(&[seed, index.into(), 1]),
            noise: Rng::from_words(&[seed, index.into(), 2]),
            next_order: 1,
            next_seq: 1,
            busy_until: i64::MIN / 2,
        }
    }

    /// Fills `out` with the worker's shift starting on the local day that begins at
    /// `midnight` (`weekday` 0 = Monday), sorted by `ts` (ties in causal order). Every event
    /// is at or after `midnight`; a night shift runs into the next day. Returns whether the
    /// worker works that day.
    pub(crate) fn plan_day(
        &mut self,
        weekday: u32,
        midnight: i64,
        heartbeat: Option<i64>,
        out: &mut Vec<RawEvent>,
    ) -> bool {
        out.clear();
        let behaviour = self.profile.behaviour;
        if self.profile.days_off & (1 << weekday) != 0 {
            return false;
        }
        // A sick or personal day now and then, except for those who never stop.
        if behaviour != Behaviour::SevenDays && self.rng.chance(0.03) {
            return false;
        }
        let rng = &mut self.rng;
        let start_minute = match behaviour {
            Behaviour::Night => rng.range(19 * 60 + 30, 22 * 60 + 30),
            Behaviour::LongDays => rng.range(5 * 60 + 30, 7 * 60 + 30),
            Behaviour::PartTime => rng.range(9 * 60, 17 * 60),
            _ => rng.range(6 * 60 + 30, 10 * 60 + 30),
        };
        // Elapsed time since midnight, not wall-clock time: on a DST change day the shift
        // starts an hour off on the clock, which is harmless for a simulation.
        let start = midnight + start_minute * MINUTE + rng.range(0, MINUTE - 1);
        if start < self.busy_until + 6 * HOUR {
            return false;
        }

        // Blocks of online work (minutes) and the rest after each but the last (minutes).
        let mut blocks: Vec<(i64, i64)> = Vec::with_capacity(4);
        let mut add = |rng: &mut Rng, len: (i64, i64), rest: (i64, i64)| {
            blocks.push((rng.range(len.0, len.1), rng.range(rest.0, rest.1)));
        };
        match behaviour {
            Behaviour::Steady | Behaviour::SevenDays | Behaviour::LowPay => {
                add(rng, (150, 215), (21, 50));
                add(rng, (150, 215), (21, 45));
                if rng.chance(0.3) {
                    add(rng, (60, 150), (0, 0));
                }
            }
            Behaviour::NoRest => {
                // The rests inside this block are short breaks only (see `fill_block`).
                add(rng, (300, 420), (30, 60));
                if rng.chance(0.5) {
                    add(rng, (120, 220), (0, 0));
                }
            }
            Behaviour::LongDays => {
                for _ in 0..3 {
                    add(rng, (190, 234), (21, 40));
                }
                if rng.chance(0.5) {
                    add(rng, (45, 120), (0, 0));
                }
            }
            Behaviour::Night => {
                add(rng, (170, 215), (21, 40));
                add(rng, (170, 215), (0, 0));
            }
            Behaviour::PartTime => add(rng, (120, 210), (0, 0)),
        }
        let short_break_chance = if behaviour == Behaviour::NoRest {
            0.06
        } else {
            0.015
        };

        let mut sessions: Vec<(i64, i64)> = Vec::with_capacity(3);
        let mut t = start;
        let mut session_start = start;
        out.push(raw(start, Kind::Login));
        for (index, &(length, rest)) in blocks.iter().enumerate() {
            let end = t + length * MINUTE;
            let last = index + 1 == blocks.len();
            self.fill_block(t, end, last, short_break_chance, out);
            let next = end + rest * MINUTE + self.rng.range(0, MINUTE - 1);
            if last {
                out.push(raw(end, Kind::Logout));
                sessions.push((session_start, end));
            } else if self.rng.chance(0.7) {
                out.push(raw(end, Kind::BreakStart));
                out.push(raw(next, Kind::BreakEnd));
            } else {
                out.push(raw(end, Kind::Logout));
                sessions.push((session_start, end));
                out.push(raw(next, Kind::Login));
                session_start = next;
            }
            t = next;
        }
        if let Some(interval) = heartbeat {
            for (from, to) in sessions {
                let mut at = from + interval;
                while at < to {
                    out.push(raw(at, Kind::Heartbeat));
                    at += interval;
                }
            }
        }
        // Stable: events at the same instant keep the causal order in which they were made.
        out.sort_by_key(|event| event.ts);
        self.busy_until = out.last().map_or(self.busy_until, |event| event.ts);
        true
    }

    /// Orders and short breaks of one block of online time `[from, to]`. Orders end by `to`,
    /// except that the last block sometimes has one delivered a few minutes after logout.
    fn fill_block(
        &mut self,
        from: i64,
        to: i64,
        last: bool,
        short_break: f64,
        out: &mut Vec<RawEvent>,
    ) {
        let role = self.profile.role;
        let low_pay = self.profile.behaviour == Behaviour::LowPay;
        // Riders carry up to three orders at once; drivers and truckers one, now and then two.
        let (capacity, chained) = match role {
            Role::Rider => (3, false),
            Role::Driver | Role::Trucker => (2, true),
        };
        let mut active: Vec<i64> = Vec::with_capacity(4);
        let mut t = from + self.rng.range(20 * SECOND, 5 * MINUTE);
        // No accept may come before this (the last accept, or the end of a short break).
        let mut floor = from;
        loop {
            active.retain(|&finish| finish > t);
            if active.len() >= capacity {
                let first_free = active.iter().copied().min().unwrap_or(t);
                t = first_free + self.rng.range(10 * SECOND, 3 * MINUTE);
                continue;
            }
            if self.rng.chance(short_break) {
                // Under 20 minutes and taken with no order in hand, so it is a real rest that
                // does not qualify as a break.
                let break_start = active.iter().copied().fold(t, i64::max);
                let break_end = break_start + self.rng.range(5 * MINUTE, 19 * MINUTE + 59 * SECOND);
                if break_end + 10 * MINUTE > to {
                    break;
                }
                out.push(raw(break_start, Kind::BreakStart));
                out.push(raw(break_end, Kind::BreakEnd));
                active.clear();
                floor = break_end;
                t = break_end + self.rng.range(10 * SECOND, 3 * MINUTE);
                continue;
            }
            let pickup = self.rng.range(3 * MINUTE, 15 * MINUTE);
            let trip = match role {
                Role::Trucker => self.rng.range_high(8 * MINUTE, 40 * MINUTE),
                Role::Rider | Role::Driver => self.rng.range_low(8 * MINUTE, 40 * MINUTE),
            };
            if t + pickup + trip > to {
                break;
            }
            let finish = self.order(t, pickup, trip, low_pay, out);
            active.push(finish);
            floor = t;
            let overlap = !chained || self.rng.chance(0.1);
            t = if overlap {
                let (lo, hi) = match (role, low_pay) {
                    (Role::Rider, false) => (3 * MINUTE, 15 * MINUTE),
                    (Role::Rider, true) => (12 * MINUTE, 35 * MINUTE),
                    _ => (2 * MINUTE, 10 * MINUTE),
                };
                t + self.rng.range(lo, hi)
            } else {
                let (lo, hi) = match (role, low_pay) {
                    (Role::Driver, false) => (30 * SECOND, 6 * MINUTE),
                    (Role::Driver, true) => (6 * MINUTE, 20 * MINUTE),
                    (_, false) => (5 * MINUTE, 25 * MINUTE),
                    (_, true) => (20 * MINUTE, 45 * MINUTE),
                };
                finish + self.rng.range(lo, hi)
            };
        }
        if last && self.rng.chance(0.12) {
            // Accepted shortly before logging out, delivered 1-10 minutes after.
            let accept = (floor + MINUTE).max(to - self.rng.range(8 * MINUTE, 20 * MINUTE));
            if accept < to - MINUTE {
                let order = self.take_order();
                let picked_up = accept + self.rng.range(3 * MINUTE, 12 * MINUTE);
                let delivered =
                    (picked_up + 5 * MINUTE).max(to + self.rng.range(MINUTE, 10 * MINUTE));
                let fee = self.fee(low_pay);
                out.push(order_event(accept, Kind::OrderAccepted, order, 0));
                out.push(order_event(picked_up, Kind::OrderPickedUp, order, 0));
                out.push(order_event(delivered, Kind::OrderDelivered, order, fee));
            }
        }
    }

    /// One order accepted at `at`; returns when it ends (delivered or cancelled).
    fn order(
        &mut self,
        at: i64,
        pickup: i64,
        trip: i64,
        low_pay: bool,
        out: &mut Vec<RawEvent>,
    ) -> i64 {
        let order = self.take_order();
        out.push(order_event(at, Kind::OrderAccepted, order, 0));
        if self.rng.chance(0.05) {
            // Cancelled: mostly before pickup, sometimes by the customer on the way.
            let cancelled = if self.rng.chance(0.8) {
                at + self.rng.range(30 * SECOND, pickup - SECOND)
            } else {
                out.push(order_event(at + pickup, Kind::OrderPickedUp, order, 0));
                at + pickup + self.rng.range(MINUTE, trip)
            };
            out.push(order_event(cancelled, Kind::OrderCancelled, order, 0));
            return cancelled;
        }
        let delivered = at + pickup + trip;
        let fee = self.fee(low_pay);
        out.push(order_event(at + pickup, Kind::OrderPickedUp, order, 0));
        out.push(order_event(delivered, Kind::OrderDelivered, order, fee));
        delivered
    }

    fn take_order(&mut self) -> u32 {
        let order = self.next_order;
        self.next_order += 1;
        order
    }

    /// The worker's pay for one order, in fen.
    fn fee(&mut self, low_pay: bool) -> u32 {
        let (lo, hi) = match (self.profile.role, low_pay) {
            (Role::Rider, false) => (300, 2500),
            (Role::Rider, true) => (300, 600),
            (Role::Driver, false) => (1000, 6000),
            (Role::Driver, true) => (500, 1200),
            (Role::Trucker, false) => (5000, 30000),
            (Role::Trucker, true) => (800, 2500),
        };
        // The mean of two uniforms: most fees near the middle of the range.
        ((self.rng.range(lo, hi) + self.rng.range(lo, hi)) / 2) as u32
    }
}

fn raw(ts: i64, kind: Kind) -> RawEvent {
    RawEvent {
        ts,
        kind,
        order: 0,
        fee: 0,
    }
}

fn order_event(ts: i64, kind: Kind, order: u32, fee: u32) -> RawEvent {
    RawEvent {
        ts,
        kind,
        order,
        fee,
    }
}
