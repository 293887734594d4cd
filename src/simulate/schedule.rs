//! One worker's day in event time: shift blocks, orders, platform breaks and heartbeats; with
//! `--mix packs`, long-haul trucker days planned with their activity; with `--persons`, the
//! shared days of a person with two worker ids.

use super::activity;
use super::profile::{Behaviour, Mix, Person, Role, WorkerProfile};
use super::rng::Rng;
use crate::event::Activity;

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
    /// The declared activity (`activity` events only).
    pub activity: Activity,
}

/// What every worker's plan of one local day shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    pub seed: u64,
    /// 0 = Monday.
    pub weekday: u32,
    pub midnight: i64,
    pub heartbeat: Option<i64>,
    /// Drivers and truckers send `activity` events.
    pub activity: bool,
    pub mix: Mix,
}

/// A person with two worker ids: both draw the person's days from the same generator, in
/// the same order, so that they agree without looking at each other.
#[derive(Debug)]
struct Pair {
    rng: Rng,
    second: bool,
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
    /// Boxed: only a few workers have one.
    pair: Option<Box<Pair>>,
}

impl WorkerState {
    pub(crate) fn new(seed: u64, index: u32, mix: Mix, person: Person) -> WorkerState {
        let profile = WorkerProfile::build(seed, index, mix, person);
        let pair = match person {
            Person::First | Person::Second => {
                let first = if person == Person::First {
                    index
                } else {
                    index - 1
                };
                Some(Box::new(Pair {
                    // Stream 5 of the first index: shared by both worker ids.
                    rng: Rng::from_words(&[seed, first.into(), 5]),
                    second: person == Person::Second,
                }))
            }
            Person::Absent | Person::Single => None,
        };
        WorkerState {
            profile,
            rng: Rng::from_words(&[seed, index.into(), 1]),
            noise: Rng::from_words(&[seed, index.into(), 2]),
            next_order: 1,
            next_seq: 1,
            busy_until: i64::MIN / 2,
            pair,
        }
    }

    /// Fills `out` with the worker's shift starting on `day`, sorted by `ts` (ties in causal
    /// order). Every event is at or after `day.midnight`; a night shift runs into the next
    /// day. Returns whether the worker works that day. `scratch` is a buffer of the caller's,
    /// reused from day to day.
    pub(crate) fn plan_day(
        &mut self,
        day: &Day,
        out: &mut Vec<RawEvent>,
        scratch: &mut Vec<RawEvent>,
    ) -> bool {
        out.clear();
        let behaviour = self.profile.behaviour;
        let worked = if behaviour.is_haul() {
            // Planned with their activity.
            return self.plan_haul_day(day, out);
        } else if behaviour == Behaviour::TwoPlatforms {
            self.plan_pair_day(day, out)
        } else {
            self.plan_standard_day(day, out)
        };
        if worked && day.activity && self.profile.role != Role::Rider {
            activity::derive(
                self.profile.role,
                [day.seed, self.profile.index.into()],
                out,
                scratch,
            );
            std::mem::swap(out, scratch);
        }
        worked
    }

    /// The standard behaviours, and the packs' riders and drivers: a start and blocks of
    /// online time with orders. The draws of the standard behaviours are those the simulator
    /// has always made (their streams are pinned by a test).
    fn plan_standard_day(&mut self, day: &Day, out: &mut Vec<RawEvent>) -> bool {
        let (weekday, midnight, heartbeat) = (day.weekday, day.midnight, day.heartbeat);
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
            Behaviour::NightDriver => rng.range(17 * 60 + 30, 19 * 60 + 30),
            Behaviour::DidiLong => rng.range(5 * 60 + 30, 7 * 60 + 30),
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
            Behaviour::OrderHeavy => {
                add(rng, (250, 330), (20, 35));
                add(rng, (200, 320), (20, 35));
                if rng.chance(0.6) {
                    add(rng, (90, 200), (0, 0));
                }
            }
            Behaviour::NightDriver => {
                add(rng, (175, 215), (20, 30));
                add(rng, (175, 215), (20, 30));
                add(rng, (175, 215), (0, 0));
            }
            Behaviour::DidiLong => {
                for _ in 0..3 {
                    add(rng, (195, 235), (20, 35));
                }
                if rng.chance(0.7) {
                    add(rng, (120, 200), (0, 0));
                }
            }
            Behaviour::Haul
            | Behaviour::HaulNoBreak
            | Behaviour::HaulLong
            | Behaviour::HaulWeek
            | Behaviour::TwoPlatforms => unreachable!("planned elsewhere"),
        }
        if day.mix == Mix::Packs
            && self.profile.role == Role::Driver
            && matches!(
                behaviour,
                Behaviour::Steady
                    | Behaviour::SevenDays
                    | Behaviour::LowPay
                    | Behaviour::Night
                    | Behaviour::PartTime
            )
        {
            // Under 3 h of continuous service (didi-2018) for the drivers who keep the rules.
            for block in &mut blocks {
                block.0 = block.0.min(170);
            }
        }
        let short_break_chance = if behaviour == Behaviour::NoRest {
            0.06
        } else {
            0.015
        };
        let mut sessions: Vec<(i64, i64)> = Vec::with_capacity(3);
        self.run_blocks(start, &blocks, short_break_chance, out, &mut sessions);
        self.finish_day(heartbeat, &sessions, out);
        true
    }

    /// Logs in at `start` and works the blocks (minutes of work, minutes of rest after it);
    /// between blocks a platform break or a logout and a new login. Pushes each session.
    fn run_blocks(
        &mut self,
        start: i64,
        blocks: &[(i64, i64)],
        short_break_chance: f64,
        out: &mut Vec<RawEvent>,
        sessions: &mut Vec<(i64, i64)>,
    ) {
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
    }

    /// Heartbeats in the sessions, the events in `ts` order, and the end of the shift.
    fn finish_day(
        &mut self,
        heartbeat: Option<i64>,
        sessions: &[(i64, i64)],
        out: &mut Vec<RawEvent>,
    ) {
        if let Some(interval) = heartbeat {
            for &(from, to) in sessions {
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
    }

    /// A person with two worker ids (`--persons`): both ids draw the person's day from the
    /// shared generator, then each works its own session with its own generator. Either one
    /// session after the other (a switch of 5-45 minutes; each session 2.5-7 h of online
    /// time, so each platform stays within 8 h while the person often passes 11 h), or the second
    /// session starting 2.5-5 h into the first (overlapping sessions).
    fn plan_pair_day(&mut self, day: &Day, out: &mut Vec<RawEvent>) -> bool {
        if self.profile.days_off & (1 << day.weekday) != 0 {
            return false;
        }
        let pair = self.pair.as_mut().expect("a person with two worker ids");
        let shared = &mut pair.rng;
        if shared.chance(0.03) {
            return false;
        }
        let overlap = shared.chance(0.4);
        let first_goes_first = shared.chance(0.5);
        let start = day.midnight
            + shared.range(6 * 60 + 30, 9 * 60 + 30) * MINUTE
            + shared.range(0, MINUTE - 1);
        let early = [
            (shared.range(170, 215), shared.range(21, 40)),
            (shared.range(160, 210), 0),
        ];
        let early_end = start + (early[0].0 + early[0].1 + early[1].0) * MINUTE;
        let late_start = if overlap {
            start + shared.range(150, 300) * MINUTE
        } else {
            early_end + shared.range(5, 45) * MINUTE
        };
        let late = [
            (shared.range(150, 215), shared.range(21, 40)),
            (shared.range(100, 210), 0),
        ];
        let late_blocks: &[(i64, i64)] = if shared.chance(0.2) {
            &late[..1]
        } else {
            &late
        };
        let mine_is_early = pair.second != first_goes_first;
        let (my_start, my_blocks): (i64, &[(i64, i64)]) = if mine_is_early {
            (start, &early)
        } else {
            (late_start, late_blocks)
        };
        let mut sessions: Vec<(i64, i64)> = Vec::with_capacity(2);
        self.run_blocks(my_start, my_blocks, 0.015, out, &mut sessions);
        self.finish_day(day.heartbeat, &sessions, out);
        true
    }

    /// A long-haul trucker's day (`--mix packs`), planned segment by segment with its
    /// activity: pre-trip loading (`other_work`) under the day's first freight order,
    /// stretches of `driving` (now and then a short `available` stop in one), a platform
    /// break with `rest` between stretches, sometimes a delivery and the next order's
    /// loading between them, the last unloading and a post-trip check, `rest` and logout.
    /// The parameters of each behaviour are in [`Behaviour`].
    fn plan_haul_day(&mut self, day: &Day, out: &mut Vec<RawEvent>) -> bool {
        let behaviour = self.profile.behaviour;
        if self.profile.days_off & (1 << day.weekday) != 0 {
            return false;
        }
        if self.rng.chance(0.03) {
            return false;
        }
        let haul = Haul::of(behaviour);
        let rng = &mut self.rng;
        let late = behaviour == Behaviour::HaulLong && rng.chance(0.3);
        let (lo, hi) = if late { (9 * 60, 11 * 60) } else { haul.start };
        let planned = day.midnight + rng.range(lo, hi) * MINUTE + rng.range(0, MINUTE - 1);
        let min_rest = rng.range(haul.min_rest.0, haul.min_rest.1) * MINUTE;
        let start = planned.max(self.busy_until + min_rest);
        if start > day.midnight + 16 * HOUR {
            return false;
        }
        let mut target = rng.range(haul.drive.0, haul.drive.1) * MINUTE;
        // HaulNoBreak: a day with one stretch over 4.5 h, or one with two stretches of over
        // 4 h each and only a short stop between them.
        let long_stretch =
            (behaviour == Behaviour::HaulNoBreak && rng.chance(0.45)).then(|| rng.range(0, 1));
        let no_half_hour =
            behaviour == Behaviour::HaulNoBreak && long_stretch.is_none() && rng.chance(0.4);
        if no_half_hour {
            target = rng.range(515, 535) * MINUTE;
        }
        // The duty span ends by this, the last unloading and check included.
        let end_by = start + haul.max_span * MINUTE;
        let final_reserve = 60 * MINUTE;

        out.push(raw(start, Kind::Login));
        out.push(act(start, Activity::OtherWork));
        let mut order = self.take_order();
        out.push(order_event(
            start + self.rng.range(MINUTE, 4 * MINUTE),
            Kind::OrderAccepted,
            order,
            0,
        ));
        let mut t = start + self.rng.range(haul.pre.0, haul.pre.1) * MINUTE;
        out.push(order_event(t, Kind::OrderPickedUp, order, 0));
        let mut driven = 0;
        let mut stretch = 0;
        loop {
            let rng = &mut self.rng;
            let planned = if long_stretch == Some(stretch) {
                rng.range(276, 336)
            } else if no_half_hour && stretch < 2 {
                rng.range(250, 262)
            } else {
                rng.range(haul.stretch.0, haul.stretch.1)
            } * MINUTE;
            let length = planned.min(target - driven).min(end_by - final_reserve - t);
            if length < 20 * MINUTE {
                break;
            }
            out.push(act(t, Activity::Driving));
            if length > 100 * MINUTE && rng.chance(0.35) {
                // A queue, a toll, fuel: under 15 minutes, neither a break nor its first part.
                let at = t + rng.range(length / 3, 2 * length / 3);
                let stop = rng.range(5 * MINUTE, 14 * MINUTE);
                out.push(act(at, Activity::Available));
                out.push(act(at + stop, Activity::Driving));
                t += stop;
            }
            t += length;
            driven += length;
            stretch += 1;
            if driven + 20 * MINUTE >= target || end_by - final_reserve - t < 50 * MINUTE {
                break;
            }
            let short_stop = no_half_hour && stretch == 1;
            if !short_stop && self.rng.chance(0.35) {
                // A delivery on the way and the next order's loading.
                out.push(act(t, Activity::OtherWork));
                t += self.rng.range(20 * MINUTE, 45 * MINUTE);
                let fee = self.fee(false);
                out.push(order_event(t, Kind::OrderDelivered, order, fee));
                order = self.take_order();
                out.push(order_event(t, Kind::OrderAccepted, order, 0));
                t += self.rng.range(15 * MINUTE, 35 * MINUTE);
                out.push(order_event(t, Kind::OrderPickedUp, order, 0));
            }
            if short_stop {
                out.push(act(t, Activity::Available));
                t += self.rng.range(15 * MINUTE, 25 * MINUTE);
            } else {
                out.push(act(t, Activity::Rest));
                out.push(raw(t, Kind::BreakStart));
                t += self.rng.range(haul.rest.0, haul.rest.1) * MINUTE;
                out.push(raw(t, Kind::BreakEnd));
            }
        }
        out.push(act(t, Activity::OtherWork));
        t += self.rng.range(20 * MINUTE, 45 * MINUTE);
        let fee = self.fee(false);
        out.push(order_event(t, Kind::OrderDelivered, order, fee));
        t += self.rng.range(5 * MINUTE, 15 * MINUTE);
        out.push(act(t, Activity::Rest));
        out.push(raw(t, Kind::Logout));
        self.finish_day(day.heartbeat, &[(start, t)], out);
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
            let behaviour = self.profile.behaviour;
            let (pickup, trip) = if behaviour == Behaviour::DidiLong {
                // Long rides (airports, intercity), picked up close by.
                let pickup = self.rng.range(2 * MINUTE, 8 * MINUTE);
                (pickup, self.rng.range(20 * MINUTE, 60 * MINUTE))
            } else {
                let pickup = self.rng.range(3 * MINUTE, 15 * MINUTE);
                let trip = match role {
                    Role::Trucker => self.rng.range_high(8 * MINUTE, 40 * MINUTE),
                    Role::Rider | Role::Driver => self.rng.range_low(8 * MINUTE, 40 * MINUTE),
                };
                (pickup, trip)
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
                    // Back to back: the next order before the last is delivered.
                    _ if behaviour == Behaviour::OrderHeavy => (2 * MINUTE, 8 * MINUTE),
                    (Role::Rider, false) => (3 * MINUTE, 15 * MINUTE),
                    (Role::Rider, true) => (12 * MINUTE, 35 * MINUTE),
                    _ => (2 * MINUTE, 10 * MINUTE),
                };
                t + self.rng.range(lo, hi)
            } else {
                let (lo, hi) = match (role, low_pay) {
                    _ if behaviour == Behaviour::DidiLong => (20 * SECOND, 3 * MINUTE),
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

/// The day shape of each long-haul behaviour (minutes).
struct Haul {
    /// Range of the start's minute of the day.
    start: (i64, i64),
    /// The next start is at least this long after the previous shift's end.
    min_rest: (i64, i64),
    /// The day's driving, aimed at.
    drive: (i64, i64),
    /// One stretch of driving between rests.
    stretch: (i64, i64),
    /// The rest between stretches.
    rest: (i64, i64),
    /// Pre-trip inspection and loading.
    pre: (i64, i64),
    /// The longest duty span (first to last event).
    max_span: i64,
}

impl Haul {
    fn of(behaviour: Behaviour) -> Haul {
        let compliant = Haul {
            start: (5 * 60 + 30, 6 * 60 + 30),
            min_rest: (630, 660),
            drive: (420, 510),
            stretch: (150, 234),
            rest: (45, 55),
            pre: (20, 45),
            max_span: 750,
        };
        match behaviour {
            Behaviour::HaulNoBreak => Haul {
                max_span: 780,
                ..compliant
            },
            Behaviour::HaulLong => Haul {
                start: (5 * 60, 7 * 60),
                min_rest: (420, 510),
                drive: (570, 708),
                stretch: (180, 234),
                rest: (45, 60),
                pre: (20, 45),
                max_span: 930,
            },
            Behaviour::HaulWeek => Haul {
                drive: (510, 537),
                pre: (45, 75),
                max_span: 780,
                ..compliant
            },
            _ => compliant,
        }
    }
}

pub(crate) fn raw(ts: i64, kind: Kind) -> RawEvent {
    RawEvent {
        ts,
        kind,
        order: 0,
        fee: 0,
        activity: Activity::Rest,
    }
}

pub(crate) fn act(ts: i64, activity: Activity) -> RawEvent {
    RawEvent {
        activity,
        ..raw(ts, Kind::Activity)
    }
}

fn order_event(ts: i64, kind: Kind, order: u32, fee: u32) -> RawEvent {
    RawEvent {
        order,
        fee,
        ..raw(ts, kind)
    }
}
