//! One worker's state (SPEC sections 3 and 7) and the protocol that drives its rules.
//!
//! Time only moves forward, through two steps the engine calls in this order at an instant:
//! [`Worker::advance`] integrates the state that held before the instant (firing thresholds
//! crossed strictly inside, completing rests, midnights, session timeouts), events at the
//! instant change the raw state ([`Worker::apply`]), then [`Worker::settle`] reads the state
//! that holds from the instant on and fires what is due at the instant itself. Because a
//! threshold reached exactly when work stops is only checked after the events of that instant,
//! work that stops at a limit fires nothing, as SPEC says.
//!
//! The worker keeps the measures of SPEC section 7 as bits (`work`, `orders`, `carrying`,
//! `driving`, `duty`) and one state per rule of its pack (`rules/`), which read those bits.

use serde::{Deserialize, Serialize};

use super::key::IdKey;
use super::measure::{Bits, Measure};
use super::rules::{self, ClosedDay, RuleState, States};
use super::{Cx, Me, Names, Observation, Pending, RuleSet};
use crate::calendar::Day;
use crate::event::{Activity, Kind};

/// Most active orders a worker may have (SPEC section 5); an order start beyond it is bad.
pub const MAX_ACTIVE_ORDERS: usize = 64;
/// Most orders remembered as delivered in a local day (a fee counts on an order's first
/// delivery of the day). Beyond it every delivery's fee counts: no honest worker delivers
/// this many orders a day, and memory stays bounded whatever the input.
const MAX_DELIVERED_PER_DAY: usize = 256;
/// A spare slot of a worker's `delivered` list (no order's key: see `Worker::count_delivery`).
const NO_ORDER: u64 = 0;

/// The orders of a `delivered` list, without its spare room.
#[allow(clippy::borrowed_box)] // `serialize_with` passes the field as it is
fn delivered_orders<S: serde::Serializer>(
    list: &Box<[u64]>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().take_while(|&&order| order != NO_ORDER))
}

/// Most open holds shown per worker.
const MAX_OPEN_HOLDS: usize = 16;

pub const NEVER: i64 = i64::MIN;
pub const NONE: i64 = i64::MAX;

fn never() -> i64 {
    NEVER
}

fn none() -> i64 {
    NONE
}

/// An active order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Hash of the `order_id` (orders are scoped per worker).
    pub id: u64,
    /// Picked up (billed time, the `carrying` measure).
    pub picked: bool,
}

/// Appends `item` to a boxed slice that is full, making it `room` long (more than its
/// length), the rest `spare`. Lists a worker holds for long but changes seldom (the active
/// orders beyond the first, the day's deliveries) are boxed slices rather than vectors: 16
/// bytes instead of 24 in every worker, no capacity beyond what their owner counts (the
/// session's `more_len`, the spare `NO_ORDER`s of `delivered`), and nothing allocated once
/// empty (memory per worker is a target). A growth reallocates, which costs little beside an
/// event.
fn grow<T: Clone>(list: &mut Box<[T]>, item: T, room: usize, spare: T) {
    let mut items = std::mem::take(list).into_vec();
    items.reserve_exact(room.saturating_sub(items.len()));
    items.push(item);
    items.resize(room.max(items.len()), spare);
    *list = items.into_boxed_slice();
}

/// Most worker ids one person may have; a further worker id stands for a person of its own.
pub const MAX_MEMBERS: usize = 32;

/// A worker id's raw state: what its events say (SPEC section 3), before settling.
///
/// Its active orders are a list, `[first] + more[..more_len]`. The first is held in the
/// session itself, so that one order at a time allocates nothing; the others in `more`, which
/// keeps its length while any order is active and is freed with the last one. A rider's orders
/// go from one to two or three and back many times a shift: a boxed slice of exactly the
/// active orders reallocated at each of those steps, and those reallocations (with the
/// allocation and free of every order) were 3 to 5 % of a replay on one core.
///
/// Memory: the session is 32 bytes instead of 24 (the first order's id is 8 bytes more; its
/// `picked` and `more_len` take the padding the flags left), while one active order no longer
/// takes a 32-byte allocation (the allocator's least), and `more` holds as many orders as the
/// most that were active at once since the worker last had none. Saved as before:
/// `SessionRecord`'s fields, in its order.
#[derive(Clone, Default, Deserialize)]
#[serde(from = "SessionRecord")]
pub struct Session {
    pub online: bool,
    pub on_break: bool,
    pub activity: Activity,
    /// The first active order's `picked`; `None` when no order is active.
    first_picked: Option<bool>,
    /// How many of `more` are active orders (fewer than [`MAX_ACTIVE_ORDERS`] once a restored
    /// record passed its check).
    more_len: u8,
    /// The first active order's id (0 when none is active).
    first_id: u64,
    /// The active orders after the first, then spare room (empty when no order is active).
    more: Box<[Order]>,
}

/// A [`Session`] as the state topic holds it: its active orders one list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SessionRecord {
    online: bool,
    on_break: bool,
    orders: Vec<Order>,
    activity: Activity,
}

impl From<SessionRecord> for Session {
    fn from(record: SessionRecord) -> Session {
        let mut session = Session {
            online: record.online,
            on_break: record.on_break,
            activity: record.activity,
            ..Session::default()
        };
        // A record with more than MAX_ACTIVE_ORDERS is refused once read (`Worker::check`);
        // beyond what `more_len` can count, it is cut here (and still refused).
        for order in record.orders.into_iter().take(1 + usize::from(u8::MAX)) {
            session.add_order(order);
        }
        session
    }
}

/// A [`SessionRecord`]'s fields, written from the session as it is (a checkpoint writes every
/// changed worker: no copy of its orders on the way).
impl Serialize for Session {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Orders<'a>(&'a Session);
        impl Serialize for Orders<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.orders())
            }
        }
        let mut record = serializer.serialize_struct("SessionRecord", 4)?;
        record.serialize_field("online", &self.online)?;
        record.serialize_field("on_break", &self.on_break)?;
        record.serialize_field("orders", &Orders(self))?;
        record.serialize_field("activity", &self.activity)?;
        record.end()
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        self.online == other.online
            && self.on_break == other.on_break
            && self.activity == other.activity
            && self.orders().eq(other.orders())
    }
}

impl Eq for Session {}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("online", &self.online)
            .field("on_break", &self.on_break)
            .field("orders", &self.orders().collect::<Vec<_>>())
            .field("activity", &self.activity)
            .finish()
    }
}

impl Session {
    /// The active orders, in the order they are saved in.
    pub fn orders(&self) -> impl Iterator<Item = Order> + '_ {
        let first = self.first_picked.map(|picked| Order {
            id: self.first_id,
            picked,
        });
        first.into_iter().chain(self.more_orders().iter().copied())
    }

    /// How many orders are active.
    pub fn order_count(&self) -> usize {
        usize::from(self.first_picked.is_some()) + usize::from(self.more_len)
    }

    fn has_orders(&self) -> bool {
        self.first_picked.is_some()
    }

    /// The active orders after the first (held apart): for the cache.
    pub fn more_orders(&self) -> &[Order] {
        &self.more[..usize::from(self.more_len)]
    }

    /// Where order `id` is in [`Session::orders`].
    fn order_position(&self, id: u64) -> Option<usize> {
        if self.first_picked.is_some() && self.first_id == id {
            return Some(0);
        }
        self.more_orders()
            .iter()
            .position(|o| o.id == id)
            .map(|at| at + 1)
    }

    /// Marks the order at `at` of [`Session::orders`] picked up when `picked`.
    fn pick(&mut self, at: usize, picked: bool) {
        match at {
            0 => self.first_picked = self.first_picked.map(|p| p | picked),
            at => self.more[at - 1].picked |= picked,
        }
    }

    /// Appends an order to [`Session::orders`] (the caller keeps to [`MAX_ACTIVE_ORDERS`]).
    fn add_order(&mut self, order: Order) {
        if self.first_picked.is_none() {
            self.first_picked = Some(order.picked);
            self.first_id = order.id;
            return;
        }
        let len = usize::from(self.more_len);
        if len == self.more.len() {
            grow(&mut self.more, order, len + 1, order);
        } else {
            self.more[len] = order;
        }
        self.more_len += 1;
    }

    /// Removes the order at `at` of [`Session::orders`], the last one taking its place (as
    /// `Vec::swap_remove` on the whole list).
    fn remove_order(&mut self, at: usize) {
        let Some(last) = usize::from(self.more_len).checked_sub(1) else {
            // The first and only one.
            self.clear_orders();
            return;
        };
        let moved = self.more[last];
        match at {
            0 => {
                self.first_id = moved.id;
                self.first_picked = Some(moved.picked);
            }
            at => self.more[at - 1] = moved,
        }
        self.more_len -= 1;
    }

    fn clear_orders(&mut self) {
        self.first_picked = None;
        self.first_id = 0;
        self.more_len = 0;
        self.more = Box::default();
    }

    /// The measures of this state.
    pub fn bits(&self) -> Bits {
        let orders = self.has_orders();
        let work = (self.online && !self.on_break) || orders;
        let carrying = self.orders().any(|o| o.picked);
        let driving = self.activity == Activity::Driving;
        let duty = driving || self.activity == Activity::OtherWork;
        [
            (work, Measure::Work),
            (orders, Measure::Orders),
            (carrying, Measure::Carrying),
            (driving, Measure::Driving),
            (duty, Measure::Duty),
        ]
        .into_iter()
        .filter(|&(on, _)| on)
        .fold(0, |bits, (_, measure)| bits | measure.bit())
    }

    fn working(&self) -> bool {
        (self.online && !self.on_break) || self.has_orders()
    }

    /// Whether a session timeout applies: working (SPEC section 3), or with an activity other
    /// than `rest` (section 7: activity "returns to rest ... at a session timeout"; a driver
    /// whose device only sends `activity` events is not working in section 3's sense, and
    /// their `driving` never ended without one).
    fn times_out(&self) -> bool {
        self.working() || self.activity != Activity::Rest
    }

    /// Whether `event` would break the bound on active orders.
    fn refuses(&self, event: &Pending) -> bool {
        matches!(event.kind, Kind::OrderAccepted | Kind::OrderPickedUp)
            && self.order_count() >= MAX_ACTIVE_ORDERS
            && self.order_position(event.order).is_none()
    }

    /// `session_timeout`: a working worker is offline, off break, with no active orders and
    /// at rest (SPEC section 3); one who is not working only returns to rest (section 7's
    /// activity: section 2 says `activity` does not change section 3's working time, so a
    /// worker on a break, or logged out with an activity, keeps that state).
    fn time_out(&mut self) {
        if self.working() {
            self.online = false;
            self.on_break = false;
            self.clear_orders();
        }
        self.activity = Activity::Rest;
    }

    /// Applies an event's change of state; false when it changes nothing of SPEC section 3's
    /// state (online, break, active orders) or, for an `activity`, the activity: a no-op.
    fn apply(&mut self, event: &Pending) -> bool {
        match event.kind {
            Kind::Login => {
                let changed = !self.online || self.on_break;
                self.online = true;
                self.on_break = false;
                changed
            }
            Kind::Logout => {
                // Returning a declared activity to rest is not a change of section 3's state.
                let changed = self.online || self.on_break;
                self.online = false;
                self.on_break = false;
                self.activity = Activity::Rest;
                changed
            }
            Kind::BreakStart => !std::mem::replace(&mut self.on_break, true),
            Kind::BreakEnd => std::mem::replace(&mut self.on_break, false),
            Kind::OrderAccepted | Kind::OrderPickedUp => {
                let picked = event.kind == Kind::OrderPickedUp;
                match self.order_position(event.order) {
                    // Accepting or picking up an active order changes nothing of SPEC
                    // section 3's state (online, break, active orders), so it counts as a no-op;
                    // a pick-up still starts the billed time (`carrying`).
                    Some(at) => {
                        self.pick(at, picked);
                        false
                    }
                    None => {
                        self.add_order(Order {
                            id: event.order,
                            picked,
                        });
                        true
                    }
                }
            }
            Kind::OrderDelivered | Kind::OrderCancelled => match self.order_position(event.order) {
                Some(at) => {
                    self.remove_order(at);
                    true
                }
                None => false,
            },
            Kind::Heartbeat => true,
            Kind::Activity => {
                let before = std::mem::replace(&mut self.activity, event.activity);
                before != event.activity
            }
        }
    }
}

/// What a worker id takes from where it stood alone to its person ([`Worker::take_member`]).
#[derive(Debug)]
pub struct Taken {
    session: Session,
    last_event: i64,
    day_work: i64,
    hours_work: i64,
}

/// One worker id of a person (`subject = "person"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    pub id: Box<str>,
    /// Interned platform, role and city of its last applied event (names held).
    pub platform: u32,
    pub role: u32,
    pub city: u32,
    /// Whether `platform`, `role`, `city` are set (and held).
    pub grouped: bool,
    pub session: Session,
    pub last_event: i64,
    /// Its working time in the person's current local day, and in the last closed one
    /// (`quota_p90` stays per worker id; reports).
    pub day_work: i64,
    pub closed_work: i64,
    /// Its share of the person's time on its platform in the current local day: the spans in
    /// which it works and no worker id before it on the same platform does. Summed per
    /// platform, it is the day's `by_platform` (SPEC section 8: concurrent sessions on one
    /// platform count once; only two platforms at once count for each).
    #[serde(skip_serializing_if = "is_zero")]
    pub platform_work: i64,
    /// Its `platform_work` of the current local day on platforms it has left that day (an
    /// event naming another platform, or none: `unknown`), by name: the day's `by_platform`
    /// counts time on the platform the worker id had when it worked it. At most
    /// [`rules::MAX_SPLIT_PLATFORMS`] names and `other`: each event may name a new platform.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_platforms: Vec<(Box<str>, i64)>,
    /// With a `quota_p90` rule that has `hours`: its working time within them in the current
    /// local day, and in the last closed one (`day_work` and `closed_work` within the hours).
    #[serde(skip_serializing_if = "is_zero")]
    pub hours_work: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub closed_hours_work: i64,
}

#[cfg(test)]
thread_local! {
    /// Tests: rules whose flags an instant read, on this thread.
    pub static RULES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Tests: steps of integration ([`Worker::step`]), on this thread.
    pub static STEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn is_zero(ms: &i64) -> bool {
    *ms == 0
}

impl Member {
    pub fn new(id: &str) -> Member {
        Member {
            id: id.into(),
            last_event: NEVER,
            ..Member::default()
        }
    }
}

/// A list most workers never fill (a person's worker ids, open holds), behind one pointer: 8
/// bytes in every worker, where a `Vec` would take 24, and only the few allocate. Saved as a
/// list.
#[derive(Debug, Clone, PartialEq, Eq)]
// Boxed for its size in every worker (memory per worker is a target).
#[allow(clippy::box_collection)]
pub struct Rare<T>(Option<Box<Vec<T>>>);

/// A person's worker ids (`subject = "person"`); empty for a worker.
pub type Members = Rare<Member>;

impl<T> Default for Rare<T> {
    fn default() -> Self {
        Rare(None)
    }
}

impl<T> Rare<T> {
    pub fn push(&mut self, item: T) {
        self.0.get_or_insert_with(Default::default).push(item);
    }

    /// Changes the list as a vector; an empty one frees its allocation.
    pub fn edit(&mut self, change: impl FnOnce(&mut Vec<T>)) {
        let items = self.0.get_or_insert_with(Default::default);
        change(items);
        if items.is_empty() {
            self.0 = None;
        }
    }
}

impl<T> std::ops::Deref for Rare<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], |items| items)
    }
}

impl<T> std::ops::DerefMut for Rare<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.0.as_deref_mut().map_or(&mut [], |items| items)
    }
}

impl<'a, T> IntoIterator for &'a Rare<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Rare<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T> FromIterator<T> for Rare<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Rare<T> {
        let items: Vec<T> = items.into_iter().collect();
        Rare((!items.is_empty()).then(|| Box::new(items)))
    }
}

impl<T: Serialize> Serialize for Rare<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Rare<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Rare::from_iter)
    }
}

/// (`ts`, sequence) of a worker's last applied event, in 16 bytes where an `Option` takes 24:
/// no event has `ts = i64::MIN`, which stands for none. Saved as an optional pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied(i64, u64);

impl Applied {
    pub const NONE: Applied = Applied(i64::MIN, 0);

    pub fn get(self) -> Option<(i64, u64)> {
        (self != Applied::NONE).then_some((self.0, self.1))
    }
}

impl Serialize for Applied {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Applied {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<(i64, u64)>::deserialize(deserializer)?
            .map_or(Applied::NONE, |(ts, seq)| Applied(ts, seq)))
    }
}

/// A dispatch hold not yet over, for `/v1/workers/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenHold {
    pub rule: String,
    pub from: i64,
    pub until: i64,
    /// The hold's `reason`, as written to the holds topic (empty in state saved before it
    /// was kept, and then not saved: such a record reads as before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A person's hold: the worker ids it names, as written to the holds topic (sorted; empty
    /// for a worker, and in state saved before they were kept: the view then lists the
    /// person's worker ids as they are now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker_ids: Vec<Box<str>>,
}

/// Saved as is in the state topic (`src/live/state.rs`): every field not marked otherwise is
/// required, so a record that lost one fails to decode instead of restoring a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    /// Held inline when short (most ids): no allocation per worker.
    pub id: IdKey,
    /// Index of the rule set, fixed by the first applied event.
    pub rules: u16,
    /// Interned platform, role and city of the last applied event.
    pub platform: u32,
    pub role: u32,
    pub city: u32,

    /// The raw state of a worker (unused for a person: see `members`).
    pub session: Session,
    /// A person's worker ids, each with its raw state; empty for a worker.
    #[serde(default, skip_serializing_if = "<[Member]>::is_empty")]
    pub members: Members,
    /// `id` is a `person_id` (SPEC section 8).
    pub person: bool,

    /// The measures that hold from `since` on (the settled state).
    pub bits: Bits,
    /// Every counter is integrated up to this instant; `NEVER` before the first event.
    pub since: i64,
    pub last_event: i64,

    /// The local day that contains `since`.
    pub day: Day,
    /// Working time (section 3) in the day, ms: at most the day's length (25 hours), which 32
    /// bits hold (memory per worker is a target).
    pub day_work: u32,
    pub day_has_work: bool,
    pub day_fees: u64,
    pub day_has_fee: bool,
    /// Orders delivered on the current local day: a fee counts on an order's first delivery
    /// of the day only (SPEC: "the first order_delivered of each order on the local day").
    /// A person's are keyed by worker id and order (see `count_delivery`). Then spare room,
    /// [`NO_ORDER`] (see [`Worker::count_delivery`]); saved without it.
    #[serde(serialize_with = "delivered_orders")]
    pub delivered: Box<[u64]>,
    /// The last closed day and its working time, for `quota_p90`.
    pub closed_day: i32,
    pub closed_work: u32,

    /// One state per rule of the worker's rule set that keeps one, in its order
    /// ([`rules::stateful`]).
    pub states: States,
    /// Holds whose `until` may not have passed.
    pub holds: Rare<OpenHold>,

    /// The instant of this worker's live timer, `NONE` when none.
    #[serde(default = "none")]
    pub wake_at: i64,
    /// The events of the current instant touched this worker (transient: marks it for settling
    /// once per instant; cleared when the instant's touched workers are settled).
    #[serde(skip)]
    pub touched: bool,
    /// Interned platform, role and city of the last pushed event, with `pushed_rules`, when
    /// `has_pushed` (transient: a cache for `Engine::push`, [`Worker::pushed_group`]). Three
    /// fields rather than an `Option` of a tuple: 15 bytes instead of 20, part of what keeps a
    /// worker at 256 bytes (memory per worker is a target).
    #[serde(skip)]
    pushed_names: [u32; 3],
    #[serde(skip)]
    pushed_rules: u16,
    #[serde(skip)]
    has_pushed: bool,
    /// (`ts`, sequence) of the last applied event. Events are applied in that order, so after a
    /// restore an event at or below it has been applied already (live re-reads are idempotent).
    pub last_applied: Applied,
    /// Changed since the state was last saved (transient).
    #[serde(skip)]
    pub dirty: bool,
    /// Events of this worker waiting in the reorder buffer.
    pub pending: u32,
    /// The arrival (sequence) of this worker's first event: timers at one instant run in this
    /// order.
    pub rank: u64,
    /// The first instant after `since` at which anything happens to this worker without an
    /// event (a threshold, a completing rest, a midnight, a timeout), computed when it was
    /// last settled; `NEVER` when unknown. Until then its state integrates in one step.
    #[serde(skip, default = "never")]
    pub next_point: i64,
    /// The `since` at which `next_point` was computed: something may be due at that very
    /// instant (a threshold reached exactly then), never strictly between it and the point.
    #[serde(skip, default = "never")]
    pub point_at: i64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new("")
    }
}

impl Worker {
    pub fn new(id: &str) -> Worker {
        Worker {
            id: id.into(),
            rules: 0,
            platform: 0,
            role: 0,
            city: 0,
            session: Session::default(),
            members: Members::default(),
            person: false,
            bits: 0,
            since: NEVER,
            last_event: NEVER,
            day: Day::default(),
            day_work: 0,
            day_has_work: false,
            day_fees: 0,
            day_has_fee: false,
            delivered: Box::default(),
            closed_day: i32::MIN,
            closed_work: 0,
            states: States::default(),
            holds: Rare::default(),
            wake_at: NONE,
            touched: false,
            pushed_names: [0; 3],
            pushed_rules: 0,
            has_pushed: false,
            last_applied: Applied::NONE,
            dirty: false,
            pending: 0,
            rank: 0,
            next_point: NEVER,
            point_at: NEVER,
        }
    }

    /// The placeholder of a freed slot.
    pub fn free() -> Worker {
        Worker::new("")
    }

    /// A freed slot: no id, no state, nothing waiting.
    pub fn is_free(&self) -> bool {
        self.since == NEVER && self.pending == 0 && self.id.is_empty()
    }

    /// Interned (platform, role, city) and rule set of the last pushed event, if any.
    #[inline]
    pub fn pushed_group(&self) -> Option<(u32, u32, u32, u16)> {
        let [platform, role, city] = self.pushed_names;
        self.has_pushed
            .then_some((platform, role, city, self.pushed_rules))
    }

    /// Sets (or, with `None`, clears) what [`Worker::pushed_group`] gives.
    #[inline]
    pub fn set_pushed_group(&mut self, group: Option<(u32, u32, u32, u16)>) {
        let (platform, role, city, rules) = group.unwrap_or_default();
        self.pushed_names = [platform, role, city];
        self.pushed_rules = rules;
        self.has_pushed = group.is_some();
    }

    /// What [`Engine::prefetch_push`](super::Engine::prefetch_push) loads: the group cache.
    pub fn pushed_line(&self) -> &[u32; 3] {
        &self.pushed_names
    }

    /// Interned (platform, role, city) of the last applied event.
    pub fn group(&self) -> (u32, u32, u32) {
        (self.platform, self.role, self.city)
    }

    /// The episode of the pack's first `continuous` rule and the start of that rule's current
    /// rest; `None` when the pack has no such rule.
    pub fn continuous(&self) -> Option<(Option<super::Episode>, i64)> {
        self.states.iter().find_map(|state| match &state.state {
            super::rules::KindState::Continuous(_, _, s) => Some((s.episode(), s.rest_start)),
            _ => None,
        })
    }

    /// Online now (a person: on any worker id).
    pub fn online(&self) -> bool {
        self.sessions().any(|s| s.online)
    }

    /// On a platform break (a person: on any worker id).
    pub fn on_break(&self) -> bool {
        self.sessions().any(|s| s.on_break)
    }

    /// Active orders (a person: over all worker ids).
    pub fn active_orders(&self) -> usize {
        self.sessions().map(Session::order_count).sum()
    }

    /// The activity now (a person: the busiest of their worker ids').
    pub fn activity(&self) -> Activity {
        let rank = |a: &Activity| match a {
            Activity::Driving => 3,
            Activity::OtherWork => 2,
            Activity::Available => 1,
            Activity::Rest => 0,
        };
        self.sessions()
            .map(|s| s.activity)
            .max_by_key(rank)
            .unwrap_or_default()
    }

    fn sessions(&self) -> impl Iterator<Item = &Session> {
        std::iter::once(&self.session)
            .filter(|_| self.members.is_empty())
            .chain(self.members.iter().map(|m| &m.session))
    }

    /// Working (section 3) from `since` on.
    pub fn working(&self) -> bool {
        Measure::Work.is_on(self.bits)
    }

    /// The measures of the raw state (after the events applied so far): a person's are those
    /// of any of their worker ids (concurrent sessions count once).
    fn raw_bits(&self) -> Bits {
        if self.members.is_empty() {
            self.session.bits()
        } else {
            self.members
                .iter()
                .fold(0, |bits, member| bits | member.session.bits())
        }
    }

    /// Persons: the platforms whose worker ids have `def`'s measure at `t`, into `out`.
    fn platforms_on<'n>(
        &self,
        def: &super::rules::RuleDef,
        state: &RuleState,
        t: i64,
        cal: &mut crate::calendar::Calendar,
        names: &'n Names,
        out: &mut Vec<&'n str>,
    ) {
        out.clear();
        // An allowance rule's instant is order time while the person has an order: it goes to
        // the worker ids with one (a worker id waiting beside another's order is not idle).
        let orders_only = def.allowance.is_some() && Measure::Orders.is_on(self.bits);
        for member in &self.members {
            let bits = member.session.bits();
            let flags = state.eval(def, bits, t, cal);
            if flags & super::rules::ON != 0
                && (!orders_only || def.measure.is_on(bits))
                && member.grouped
            {
                let platform = names.get(member.platform);
                if !out.contains(&platform) {
                    out.push(platform);
                }
            }
        }
    }

    /// When the next session timeout falls: the worker's, or the first of a person's working
    /// worker ids (each times out on its own last event).
    fn timeout_at(&self, set: &RuleSet) -> i64 {
        if set.session_timeout <= 0 {
            return NONE;
        }
        if self.members.is_empty() {
            return if self.session.times_out() {
                self.last_event.saturating_add(set.session_timeout)
            } else {
                NONE
            };
        }
        self.members
            .iter()
            .filter(|m| m.session.times_out())
            .map(|m| m.last_event.saturating_add(set.session_timeout))
            .min()
            .unwrap_or(NONE)
    }

    /// Whether applying `event` would break a bound of SPEC section 5 (an order start beyond
    /// the most active orders allowed): the event is then bad and changes nothing.
    pub fn refuses(&self, event: &Pending) -> bool {
        match self.members.get(event.member as usize) {
            Some(member) => member.session.refuses(event),
            None => self.session.refuses(event),
        }
    }

    /// Integrates the settled state from `since` up to `to` (exclusive of what events at
    /// `to` will change).
    ///
    /// Inline: a worker is advanced again when it is settled, nearly always to where it is.
    #[inline]
    pub fn advance(&mut self, index: u32, to: i64, cx: &mut Cx<'_>) {
        if self.since != NEVER && to > self.since {
            self.advance_past(index, to, cx);
        }
    }

    /// [`Worker::advance`] of a worker that has started, to an instant after `since`.
    fn advance_past(&mut self, index: u32, to: i64, cx: &mut Cx<'_>) {
        // The table outlives `cx`'s borrow: no copy of the rules per call.
        let sets = cx.sets;
        let set = &sets[usize::from(self.rules)];
        let mut platforms = Vec::new();
        if cx.shortcuts && to < self.next_point {
            // Nothing happens before `to`: one step, no instant to look at (and `next_point`
            // still holds).
            self.step(set, self.since, to, cx, &mut platforms);
            return;
        }
        self.next_point = NEVER;
        while self.since < to {
            let from = self.since;
            let timeout_at = self.timeout_at(set);
            let mut x = to.min(self.day.end).min(timeout_at);
            let mut completion = NONE;
            for (def, state) in set.stateful().zip(self.states.iter()) {
                if state.flags() != 0 || def.hours.is_some() {
                    let crossing = state.next_crossing(def, self.bits, from, &self.day, cx.cal);
                    x = x.min(state.crossing_from(def, crossing, cx.rules_from));
                }
                completion = completion.min(state.next_completion(def).max(from));
            }
            // A rest that completes at `to` itself completes before the events of `to`.
            x = x.min(completion);
            self.step(set, from, x, cx, &mut platforms);
            if completion == x {
                let me = Me {
                    index,
                    id: &self.id,
                    group: (self.platform, self.role, self.city),
                    day: self.day,
                    person: self.person,
                    members: &self.members,
                };
                for (def, state) in set.stateful().zip(self.states.iter_mut()) {
                    if state.next_completion(def).max(from) == x {
                        state.complete(def, x, &me, cx);
                    }
                }
            }
            if x == self.day.end {
                let next = cx.cal.day(self.day.number + 1);
                self.rollover(index, next, set, cx);
            }
            if x < to {
                if x == timeout_at {
                    self.time_out(x, set, cx);
                }
                let _ = self.instant(index, x, set, cx, NEVER);
            }
        }
    }

    /// Integrates the settled state from `from` (= `since`) to `x`, across which nothing
    /// changes.
    fn step<'n>(
        &mut self,
        set: &RuleSet,
        from: i64,
        x: i64,
        cx: &mut Cx<'n>,
        platforms: &mut Vec<&'n str>,
    ) {
        #[cfg(test)]
        STEPS.with(|steps| steps.set(steps.get() + 1));
        if self.working() {
            // `from` and `x` lie in the local day (its end closes it): the span fits.
            self.day_work += (x - from) as u32;
        }
        // A `quota_p90` rule with `hours` keeps state, so a span never crosses their edges.
        let quota_hours = if self.members.is_empty() {
            None
        } else {
            set.quota().and_then(|(def, _)| def.hours)
        };
        let in_hours = quota_hours.is_some_and(|hours| hours.contains(cx.cal, from));
        for i in 0..self.members.len() {
            let (before, rest) = self.members.split_at_mut(i);
            let member = &mut rest[0];
            if member.session.working() {
                member.day_work += x - from;
                if in_hours {
                    member.hours_work += x - from;
                }
                let platform = member.platform;
                if !before
                    .iter()
                    .any(|m| m.session.working() && m.platform == platform)
                {
                    member.platform_work += x - from;
                }
            }
        }
        for (i, def) in set.stateful().enumerate() {
            if !self.members.is_empty() {
                self.platforms_on(def, &self.states[i], from, cx.cal, cx.names, platforms);
            }
            self.states[i].integrate(def, self.bits, from, x, platforms);
        }
        self.since = x;
    }

    /// Closes the current local day at its end and opens `next`.
    fn rollover(&mut self, index: u32, next: Day, set: &RuleSet, cx: &mut Cx<'_>) {
        let old = self.day;
        let mut by_platform: rules::ByPlatform = Vec::new();
        for member in &mut self.members {
            let current = (member.platform_work > 0 && member.grouped)
                .then(|| (cx.names.get(member.platform), member.platform_work));
            let left = member.left_platforms.iter().map(|(p, ms)| (&**p, *ms));
            for (platform, work) in left.chain(current) {
                rules::add_platform_time(&mut by_platform, platform, work);
            }
            member.left_platforms = Vec::new();
            member.closed_work = member.day_work;
            member.day_work = 0;
            member.closed_hours_work = std::mem::take(&mut member.hours_work);
            member.platform_work = 0;
        }
        let closed = ClosedDay {
            work: i64::from(self.day_work),
            fees: self.day_fees,
            has_fee: self.day_has_fee,
            by_platform,
        };
        let me = Me {
            index,
            id: &self.id,
            group: (self.platform, self.role, self.city),
            day: old,
            person: self.person,
            members: &self.members,
        };
        let mut states = self.states.iter_mut();
        for def in &set.rules {
            if !def.keeps_state() {
                rules::rollover_stateless(def, &old, &me, &closed, cx);
            } else if let Some(state) = states.next() {
                state.rollover(def, &old, &next, &me, &closed, cx);
            }
        }
        if self.day_work > 0 {
            let work = i64::from(self.day_work);
            cx.observe(self.group(), Observation::DayClosed { work });
            if self.members.is_empty() {
                cx.day_closed(
                    &self.id,
                    self.group(),
                    self.rules,
                    old.number,
                    i64::from(self.day_work),
                    None,
                );
            } else if cx.tracks_days() {
                let person = self.person.then_some((&*self.id, i64::from(self.day_work)));
                for member in self
                    .members
                    .iter()
                    .filter(|m| m.grouped && m.closed_work > 0)
                {
                    let group = (member.platform, member.role, member.city);
                    cx.day_closed(
                        &member.id,
                        group,
                        self.rules,
                        old.number,
                        member.closed_work,
                        person,
                    );
                }
            }
        }
        self.closed_day = old.number;
        self.closed_work = self.day_work;
        self.open_day(next);
    }

    /// The working time of its last closed day within the `hours` of its `quota_p90` rule,
    /// which counts for that rule (SPEC 7: outside them the rule's measure is false).
    pub fn closed_hours_work(&self, set: &RuleSet) -> i64 {
        set.stateful()
            .zip(self.states.iter())
            .find_map(|(def, state)| match (&def.params, &state.state) {
                (rules::Params::QuotaP90(_), rules::KindState::Hours(_, _, s)) => Some(s.closed),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn open_day(&mut self, day: Day) {
        self.day = day;
        self.day_work = 0;
        self.day_has_work = false;
        self.day_fees = 0;
        self.day_has_fee = false;
        // Freed: a worker who stops working keeps no allocation.
        self.delivered = Box::default();
    }

    /// Persons: the event's worker id takes the event's group (platform, role, city). `None`
    /// for a worker (no members); else its previous group, if it had one. Its time on a
    /// platform it leaves stays that platform's in the day's `by_platform`.
    pub(super) fn group_member(
        &mut self,
        event: &Pending,
        names: &Names,
    ) -> Option<Option<[u32; 3]>> {
        let member = self.members.get_mut(event.member as usize)?;
        let before = member
            .grouped
            .then_some([member.platform, member.role, member.city]);
        if member.grouped && member.platform != event.platform && member.platform_work > 0 {
            // At most 32 platforms and `other`: each event may name a new platform.
            let work = std::mem::take(&mut member.platform_work);
            rules::add_platform_time(&mut member.left_platforms, names.get(member.platform), work);
        }
        (member.platform, member.role, member.city) = (event.platform, event.role, event.city);
        member.grouped = true;
        Some(before)
    }

    /// Persons: member `member` leaves this subject for a person (`Engine::push_move`): its
    /// state and last event, which stop here (it is offline, off break, with no active
    /// orders and at rest here from now on).
    /// Its working time in the current local day goes too: `quota_p90` counts a worker id's
    /// day once, whole, where it ends.
    pub fn take_member(&mut self, member: u32) -> Option<Taken> {
        let member = self.members.get_mut(member as usize)?;
        let taken = Taken {
            session: std::mem::take(&mut member.session),
            last_event: member.last_event,
            day_work: std::mem::take(&mut member.day_work),
            hours_work: std::mem::take(&mut member.hours_work),
        };
        self.bits = self.raw_bits();
        // The measures changed outside `settle`, which would take them as those its point was
        // computed with: the rules see them afresh.
        self.next_point = NEVER;
        Some(taken)
    }

    /// Persons: member `member` arrives from where it stood alone with this state.
    pub fn give_member(&mut self, member: u32, taken: Taken) {
        if let Some(member) = self.members.get_mut(member as usize) {
            member.session = taken.session;
            member.last_event = member.last_event.max(taken.last_event);
            member.day_work += taken.day_work;
            member.hours_work += taken.hours_work;
        }
    }

    /// `session_timeout` after the last event, at `at`: offline, off break, no active orders,
    /// at rest (a person's worker ids each on their own last event).
    fn time_out(&mut self, at: i64, set: &RuleSet, cx: &mut Cx<'_>) {
        if self.members.is_empty() {
            self.session.time_out();
            cx.stats.session_timeouts += 1;
        } else {
            for member in &mut self.members {
                if member.session.times_out()
                    && member.last_event.saturating_add(set.session_timeout) <= at
                {
                    member.session.time_out();
                    cx.stats.session_timeouts += 1;
                }
            }
        }
        self.bits = self.raw_bits();
    }

    /// The state at instant `t` is `self.bits`: mark the day's work, then let each rule see
    /// its flags at `t` and fire what is due.
    /// Before `quiet` (the worker's `next_point` when it still holds: the measures the rules
    /// read are those of the last instant), nothing is due and no rule's flags change: every
    /// rule's step is skipped, without reading their flags (but before the rules hold,
    /// [`Cx::rules_from`], whose crossings the point leaves for then: there a rule whose flags
    /// change takes its step).
    ///
    /// Returns whether every rule was skipped so.
    fn instant(&mut self, index: u32, t: i64, set: &RuleSet, cx: &mut Cx<'_>, quiet: i64) -> bool {
        if self.working() && !self.day_has_work {
            self.day_has_work = true;
            let step = *cx.step;
            cx.day_lists
                .entry(self.day.number)
                .or_default()
                .push(super::DayMark::new(step, index));
        }
        if t < quiet && t >= cx.rules_from {
            // A rule's hours' edges and the end of its allowance are points of their own.
            debug_assert!(
                set.stateful()
                    .zip(self.states.iter())
                    .all(|(def, state)| state.eval(def, self.bits, t, cx.cal) == state.flags()),
                "a rule's flags changed before the worker's next point"
            );
            return true;
        }
        let holds_before = cx.holds.len();
        let me = Me {
            index,
            id: &self.id,
            group: (self.platform, self.role, self.city),
            day: self.day,
            person: self.person,
            members: &self.members,
        };
        let mut all_skipped = true;
        for (def, state) in set.stateful().zip(self.states.iter_mut()) {
            #[cfg(test)]
            RULES_READ.with(|read| read.set(read.get() + 1));
            let flags = state.eval(def, self.bits, t, cx.cal);
            if flags == state.flags() && t < quiet {
                continue;
            }
            all_skipped = false;
            state.instant(def, flags, t, &me, cx);
        }
        if cx.holds.len() > holds_before {
            self.holds.edit(|holds| {
                holds.retain(|hold| hold.until > t);
                holds.extend(cx.holds[holds_before..].iter().map(|hold| {
                    OpenHold {
                        rule: hold.rule.to_string(),
                        from: hold.from,
                        until: hold.until,
                        reason: hold.reason.clone(),
                        worker_ids: hold
                            .worker_ids
                            .iter()
                            .map(|id| id.as_str().into())
                            .collect(),
                    }
                }));
                let excess = holds.len().saturating_sub(MAX_OPEN_HOLDS);
                holds.drain(..excess);
            });
        }
        all_skipped
    }

    /// Applies one event at `event.ts`; the caller has advanced the worker to that instant
    /// (or this is the worker's first event, or [`Worker::may_skip_advance`]) and settles
    /// after the instant's last event.
    pub fn apply(&mut self, event: &Pending, cx: &mut Cx<'_>) {
        if self.since == NEVER {
            self.rules = event.rules;
            self.since = event.ts;
            let day = cx.cal.day_at(event.ts);
            self.open_day(day);
            let set = &cx.sets[usize::from(self.rules)];
            self.states = States::new(set.stateful().map(|def| {
                let mut state = RuleState::new(def);
                state.open(def, &day);
                state
            }));
        }
        self.last_applied = Applied(event.ts, event.seq);
        self.platform = event.platform;
        self.role = event.role;
        self.city = event.city;
        self.last_event = event.ts;
        let changed = match self.members.get_mut(event.member as usize) {
            Some(member) => {
                member.last_event = event.ts;
                member.session.apply(event)
            }
            None => self.session.apply(event),
        };
        if event.kind == Kind::OrderDelivered {
            self.count_delivery(event);
        }
        if !changed {
            cx.stats.noops += 1;
        }
    }

    fn count_delivery(&mut self, event: &Pending) {
        // Orders are scoped per worker id: a person's worker ids on two platforms may both
        // have an order "o1", two orders. A worker's only member is 0, its key the order's.
        let order = match event
            .order
            .wrapping_add(u64::from(event.member).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        {
            // 0 marks a spare slot: the one key 0 is taken as 1.
            NO_ORDER => 1,
            order => order,
        };
        // The list is the day's orders, then spare room: a delivery reallocated it every time
        // (a quarter of a rider's events are deliveries); now at most every other delivery
        // does. Its sizes, 3, 5, 7, ... keys, fill glibc's chunks, which hold 8 + 16 n bytes:
        // an exact list took the same chunk, so the room costs no memory.
        let first = match self
            .delivered
            .iter()
            .position(|&held| held == order || held == NO_ORDER)
        {
            Some(at) if self.delivered[at] == order => false,
            Some(at) => {
                self.delivered[at] = order;
                true
            }
            None => {
                let len = self.delivered.len();
                if len < MAX_DELIVERED_PER_DAY {
                    let room = ((len + 1) | 1).clamp(3, MAX_DELIVERED_PER_DAY);
                    grow(&mut self.delivered, order, room, NO_ORDER);
                }
                true
            }
        };
        if let Some(fee) = event.fee() {
            self.day_has_fee = true;
            if first {
                self.day_fees = self.day_fees.saturating_add(fee);
            }
        }
    }

    /// Brings the worker to `at` (after every event at `at`), reads the state that holds from
    /// then on and fires what is due at `at`. Idempotent at the same instant.
    ///
    /// Returns true when nothing changed for any rule and nothing is due before the worker's
    /// known next point, which then still holds (its timer too): the caller need not
    /// reschedule. Then the worker may stay where it was ([`Worker::defers`]).
    pub fn settle(&mut self, index: u32, at: i64, cx: &mut Cx<'_>) -> bool {
        if self.since == NEVER {
            self.next_point = NEVER;
            return false;
        }
        let sets = cx.sets;
        let set = &sets[usize::from(self.rules)];
        if self.defers(at, set, cx) {
            return true;
        }
        self.advance(index, at, cx);
        let quiet = std::mem::replace(&mut self.next_point, NEVER);
        if self.timeout_at(set) <= at {
            self.time_out(at, set, cx);
        }
        let had_work = self.day_has_work;
        let bits = self.raw_bits();
        let quiet = if self.point_holds(at, bits, set, cx) {
            quiet
        } else {
            NEVER
        };
        self.bits = bits;
        let all_skipped = self.instant(index, at, set, cx, quiet);
        // A session timeout moves with every event: then the points are computed afresh.
        let unchanged =
            all_skipped && at < quiet && set.session_timeout <= 0 && had_work == self.day_has_work;
        if unchanged {
            self.next_point = quiet;
        }
        unchanged
    }

    /// Whether settling at `at` changes nothing at all: a worker (not a person, whose worker
    /// ids' own sessions count its time) before its next point (strictly after the instant it
    /// was computed at, and once the rules hold, [`Cx::rules_from`]), the measures the rules
    /// read unchanged by the events of `at`, no session timeout (it moves with every event)
    /// and no day's work to mark. Then not even the worker's time is integrated to `at`: over
    /// a span in which nothing changes that is one step whenever it comes (the worker's next
    /// event, timer or midnight, before any of which nothing reads its counters), and each
    /// rule's integration is linear in the span.
    fn defers(&mut self, at: i64, set: &RuleSet, cx: &Cx<'_>) -> bool {
        if !self.members.is_empty()
            || set.session_timeout > 0
            || at >= self.next_point
            || at < cx.rules_from
        {
            return false;
        }
        let bits = self.raw_bits();
        if !self.point_holds(at, bits, set, cx) || (Measure::Work.is_on(bits) && !self.day_has_work)
        {
            return false;
        }
        // Only measures no rule reads changed: the span from `since` integrates the same.
        self.bits = bits;
        true
    }

    /// Whether the worker's next point still holds at `at` with the measures `bits` from `at`
    /// on: only strictly after the instant it was computed at is nothing due before it, and
    /// only while the measures the rules read are those it was computed with (a rule's points
    /// also depend on them: the edges of its hours, its allowance).
    fn point_holds(&self, at: i64, bits: Bits, set: &RuleSet, cx: &Cx<'_>) -> bool {
        cx.shortcuts && at > self.point_at && (bits ^ self.bits) & set.relevant == 0
    }

    /// Whether the worker's events at `t` may be applied without bringing it to `t` first:
    /// [`Worker::settle`] does it after them, if anything changes ([`Worker::defers`]). Only
    /// before the worker's next point (no midnight, whose day the events would count in, comes
    /// first), and not for a person (the step to `t` reads its worker ids' sessions, which
    /// the events change).
    pub fn may_skip_advance(&self, t: i64, cx: &Cx<'_>) -> bool {
        cx.shortcuts && self.members.is_empty() && t < self.next_point
    }

    /// The next instant at which this worker needs the engine without a new event (its
    /// timer), and the first at which anything happens to it (`next_point`, which it keeps).
    pub fn next_wake(&mut self, set: &RuleSet, cx: &mut Cx<'_>) -> i64 {
        self.next_point = NEVER;
        if self.since == NEVER {
            return NONE;
        }
        let timeout = self.timeout_at(set);
        let mut wake = timeout;
        let mut point = self.day.end.min(timeout);
        let observing = cx.observations.is_some();
        for (def, state) in set.stateful().zip(self.states.iter()) {
            let (mut crossing, completion, mut rule_wake) =
                state.points(def, self.bits, self.since, &self.day, cx.cal, observing);
            if self.since < cx.rules_from {
                // Restored as of an instant before the save (see `Cx::rules_from`): the wake
                // is the earlier of the crossing (or period's end) taken from then on and the
                // completion.
                crossing = state.crossing_from(def, crossing, cx.rules_from);
                rule_wake = rule_wake.max(cx.rules_from.min(completion));
            }
            point = point.min(crossing).min(completion);
            wake = wake.min(rule_wake);
        }
        self.next_point = point;
        self.point_at = self.since;
        if self.working() && !self.day_has_work {
            // Rolled into a new day at `since` and not settled there yet.
            return self.since;
        }
        wake
    }

    /// Fits restored rule states to the worker's rule set (the pack may have changed since the
    /// state was saved: a rule's state is kept when a rule of the same kind sits at its place
    /// among the rules that keep one; others start afresh from the worker's current day).
    pub fn fit_states(&mut self, set: &RuleSet) {
        if self.since == NEVER {
            return;
        }
        let fits = self.states.len() == set.stateful().count()
            && self
                .states
                .iter()
                .zip(set.stateful())
                .all(|(state, def)| state.fits(def));
        if fits {
            return;
        }
        let old = std::mem::take(&mut self.states);
        self.states = States::new(set.stateful().enumerate().map(|(i, def)| match old.get(i) {
            Some(state) if state.fits(def) => state.clone(),
            _ => {
                let mut state = RuleState::new(def);
                state.open(def, &self.day);
                state
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pending(kind: Kind, order: u64) -> Pending {
        Pending {
            ts: 0,
            seq: 0,
            worker: 0,
            kind,
            rules: 0,
            platform: 0,
            role: 0,
            city: 0,
            order,
            fee_cents: 0,
            has_fee: false,
            activity: Activity::Rest,
            member: 0,
            id: 0,
        }
    }

    /// A session's active orders as they were kept before the first moved into the session:
    /// one list, found by id, appended to, `swap_remove`d, cleared at a timeout.
    #[derive(Default)]
    struct Model {
        online: bool,
        orders: Vec<Order>,
    }

    impl Model {
        fn apply(&mut self, kind: Kind, id: u64) -> bool {
            match kind {
                Kind::Login => !std::mem::replace(&mut self.online, true),
                Kind::OrderAccepted | Kind::OrderPickedUp => {
                    let picked = kind == Kind::OrderPickedUp;
                    match self.orders.iter_mut().find(|o| o.id == id) {
                        Some(order) => {
                            order.picked |= picked;
                            false
                        }
                        None => {
                            self.orders.push(Order { id, picked });
                            true
                        }
                    }
                }
                Kind::OrderDelivered | Kind::OrderCancelled => {
                    match self.orders.iter().position(|o| o.id == id) {
                        Some(at) => {
                            self.orders.swap_remove(at);
                            true
                        }
                        None => false,
                    }
                }
                _ => unreachable!(),
            }
        }
    }

    /// What each step does: 0 to 5 an order event, 6 a login, 7 a session timeout; with an
    /// order id of 0 to 4, or one with every bit set.
    fn step() -> impl Strategy<Value = (u8, u64)> {
        (0u8..8, prop_oneof![5 => 0u64..5, 1 => Just(u64::MAX)])
    }

    /// Steps that crowd the session: mostly order accepts among 90 ids and timeouts seldom,
    /// so that the active orders reach the limit ([`MAX_ACTIVE_ORDERS`]) and order starts
    /// are refused, as [`step`]'s six ids never do.
    fn crowded_step() -> impl Strategy<Value = (u8, u64)> {
        (
            prop_oneof![150 => Just(0u8), 30 => 1u8..7, 1 => Just(7u8)],
            0u64..90,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The first order held in the session, the others in a list that keeps its room while
        /// any is active: the same orders in the same order as one list, the same changes,
        /// measures, refusals and saved JSON, and nothing left allocated once none is active.
        #[test]
        fn orders_are_kept_as_in_one_list(steps in prop::collection::vec(step(), 0..120)) {
            orders_as_in_one_list(steps)?;
        }
    }

    proptest! {
        // Longer runs of larger sessions, each step checked through the saved JSON: fewer
        // cases (about half of them reach the limit), so that the debug build's test run
        // does not wait on them.
        #![proptest_config(ProptestConfig::with_cases(250))]

        /// The same at the limit of active orders: an order start beyond it is refused (and
        /// not applied, as the engine does), other events are not.
        #[test]
        fn orders_at_the_limit_are_kept_as_in_one_list(
            steps in prop::collection::vec(crowded_step(), 100..300)
        ) {
            orders_as_in_one_list(steps)?;
        }
    }

    fn orders_as_in_one_list(steps: Vec<(u8, u64)>) -> Result<(), TestCaseError> {
        let mut session = Session::default();
        let mut model = Model::default();
        for (what, id) in steps {
            match what {
                0..=5 => {
                    let kind = [
                        Kind::OrderAccepted,
                        Kind::OrderPickedUp,
                        Kind::OrderDelivered,
                        Kind::OrderCancelled,
                        Kind::OrderAccepted,
                        Kind::OrderDelivered,
                    ][usize::from(what)];
                    let event = pending(kind, id);
                    let refused = session.refuses(&event);
                    prop_assert_eq!(
                        refused,
                        matches!(kind, Kind::OrderAccepted | Kind::OrderPickedUp)
                            && model.orders.len() >= MAX_ACTIVE_ORDERS
                            && !model.orders.iter().any(|o| o.id == id)
                    );
                    if !refused {
                        prop_assert_eq!(session.apply(&event), model.apply(kind, id));
                    }
                }
                6 => prop_assert_eq!(
                    session.apply(&pending(Kind::Login, 0)),
                    model.apply(Kind::Login, 0)
                ),
                _ => {
                    if session.working() {
                        model.online = false;
                        model.orders.clear();
                    }
                    session.time_out();
                }
            }
            prop_assert_eq!(session.orders().collect::<Vec<_>>(), model.orders.clone());
            prop_assert_eq!(session.order_count(), model.orders.len());
            prop_assert_eq!(
                session.bits() & Measure::Carrying.bit() != 0,
                model.orders.iter().any(|o| o.picked)
            );
            prop_assert_eq!(session.working(), model.online || !model.orders.is_empty());
            if model.orders.is_empty() {
                prop_assert!(session.more.is_empty(), "room kept with no active order");
            }
            let json = serde_json::to_value(&session).unwrap();
            let expected = serde_json::json!({
                "online": model.online,
                "on_break": false,
                "orders": model.orders,
                "activity": "rest",
            });
            prop_assert_eq!(&json, &expected);
            let back: Session = serde_json::from_value(json).unwrap();
            prop_assert_eq!(back.orders().collect::<Vec<_>>(), model.orders.clone());
            prop_assert_eq!(&back, &session);
        }
        Ok(())
    }

    /// A saved session with more active orders than allowed still restores with all it can
    /// count, so that the restore's check refuses it (`Worker::check`) rather than cut it.
    #[test]
    fn a_record_with_too_many_orders_keeps_them_for_the_check() {
        let orders: Vec<Order> = (0..MAX_ACTIVE_ORDERS as u64 + 5)
            .map(|id| Order { id, picked: false })
            .collect();
        let json = serde_json::json!({ "online": true, "orders": orders });
        let session: Session = serde_json::from_value(json).unwrap();
        assert_eq!(session.order_count(), MAX_ACTIVE_ORDERS + 5);
        assert!(
            session
                .orders()
                .map(|o| o.id)
                .eq(0..MAX_ACTIVE_ORDERS as u64 + 5)
        );
    }
}
