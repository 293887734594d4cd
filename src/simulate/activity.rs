//! `--activity` for drivers and truckers of the order-based behaviours: the duty status
//! (`activity` events, SPEC section 7) that their login, break and order events imply.
//!
//! At every instant the activity is, in this order of precedence:
//!
//! - `rest` while logged out or on a platform break (also when an order is still being
//!   delivered after logout: a logged-out worker never drives in the stream);
//! - `other_work` while a trucker loads (the first 2-8 minutes after pick-up) or unloads (the
//!   last 2-6 minutes before delivery), each at most a third of the ride;
//! - `driving` while an order is active: to the pick-up and with the passenger or the load;
//! - `available` otherwise: online, waiting for an order.
//!
//! One `activity` event at each change. A change to `rest` comes before the events of its
//! instant (the worker declares rest, then logs out or starts the break); any other change
//! comes after them (logs in, then declares). The durations are hashes of (seed, worker,
//! order), not draws, so that the schedule's generators are untouched: with `--activity`
//! the other events of a seed are exactly those without it.

use super::profile::Role;
use super::rng::mix;
use super::schedule::{Kind, RawEvent, act};
use crate::event::Activity;

const MINUTE: i64 = 60_000;

/// An order in hand and the instants its loading ends and its unloading starts.
#[derive(Debug, Clone, Copy)]
struct Open {
    order: u32,
    load_until: i64,
    unload_from: i64,
}

/// Writes `events` (one worker's day, sorted by `ts`) with their `activity` events into
/// `out`. `key` is (seed, worker index).
pub(crate) fn derive(role: Role, key: [u64; 2], events: &[RawEvent], out: &mut Vec<RawEvent>) {
    out.clear();
    let trucker = role == Role::Trucker;
    // A handful at most (riders carry three, drivers and truckers two).
    let mut open: [Option<Open>; 4] = [None; 4];
    let (mut online, mut on_break) = (false, false);
    let mut current = Activity::Rest;
    // The last instant evaluated.
    let mut now = i64::MIN;
    let desired = |t: i64, online: bool, on_break: bool, open: &[Option<Open>; 4]| {
        if !online || on_break {
            return Activity::Rest;
        }
        let mut any = false;
        for o in open.iter().flatten() {
            if t < o.load_until || t >= o.unload_from {
                return Activity::OtherWork;
            }
            any = true;
        }
        if any {
            Activity::Driving
        } else {
            Activity::Available
        }
    };
    let mut i = 0;
    while i < events.len() {
        let ts = events[i].ts;
        // Loading and unloading boundaries strictly between the last instant and this one.
        loop {
            let next = open
                .iter()
                .flatten()
                .flat_map(|o| [o.load_until, o.unload_from])
                .filter(|&at| at > now && at < ts)
                .min();
            let Some(at) = next else { break };
            now = at;
            let wanted = desired(at, online, on_break, &open);
            if wanted != current {
                out.push(act(at, wanted));
                current = wanted;
            }
        }
        let mut end = i;
        while end < events.len() && events[end].ts == ts {
            let event = &events[end];
            match event.kind {
                Kind::Login | Kind::Logout => {
                    online = event.kind == Kind::Login;
                    on_break = false;
                }
                Kind::BreakStart => on_break = true,
                Kind::BreakEnd => on_break = false,
                Kind::OrderAccepted => {
                    if let Some(slot) = open.iter_mut().find(|o| o.is_none()) {
                        *slot = Some(Open {
                            order: event.order,
                            load_until: i64::MIN,
                            unload_from: i64::MAX,
                        });
                    }
                }
                Kind::OrderPickedUp if trucker => {
                    let finish = events[end..]
                        .iter()
                        .find(|e| {
                            e.order == event.order
                                && matches!(e.kind, Kind::OrderDelivered | Kind::OrderCancelled)
                        })
                        .map(|e| (e.ts, e.kind == Kind::OrderDelivered));
                    if let (Some(o), Some((finish, delivered))) = (
                        open.iter_mut().flatten().find(|o| o.order == event.order),
                        finish,
                    ) {
                        let hash = mix(&[key[0], key[1], event.order.into(), 6]);
                        let third = (finish - ts) / 3;
                        let load = (2 * MINUTE + (hash % (6 * MINUTE as u64)) as i64).min(third);
                        let unload =
                            (2 * MINUTE + ((hash >> 32) % (4 * MINUTE as u64)) as i64).min(third);
                        o.load_until = ts + load;
                        if delivered {
                            o.unload_from = finish - unload;
                        }
                    }
                }
                Kind::OrderDelivered | Kind::OrderCancelled => {
                    if let Some(slot) = open
                        .iter_mut()
                        .find(|o| o.is_some_and(|o| o.order == event.order))
                    {
                        *slot = None;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        now = ts;
        let wanted = desired(ts, online, on_break, &open);
        let change = wanted != current;
        if change && wanted == Activity::Rest {
            out.push(act(ts, wanted));
        }
        out.extend_from_slice(&events[i..end]);
        if change && wanted != Activity::Rest {
            out.push(act(ts, wanted));
        }
        current = wanted;
        i = end;
    }
}
