"""The measures of SPEC section 7, as a rule pack's model reads them: for one worker, the
intervals in which each measure is true.

Written from SPEC sections 3 and 7 and docs/pack-format.md ("Measures") alone, in the plainest
way, like reference.py: the worker's state after each instant's events, then the intervals.

- `work`: section 3's working (online and not on break, or at least one active order);
- `orders`: at least one active order (accepted or picked up, not yet delivered or cancelled);
- `carrying`: at least one active order that has been picked up (an order picked up and then
  accepted again is still picked up);
- `driving`, `duty`: the activity is `driving`, or `driving` or `other_work`; the activity is
  `rest` before the first `activity` event, holds until the next, and returns to `rest` at
  `logout` and at a session timeout;
- `idle`: `work` but not `orders` (online, off break, no active order): what an `allowance`
  may count.

A session timeout (`session_timeout` after an instant's events, when no later event of the
worker comes at or before it) applies to a worker who is working or whose activity is not
`rest` (docs/pack-format.md): a working worker goes offline, off break and without orders;
every worker's activity returns to `rest`; a worker who is not working keeps their login and
break.
"""

from reference import (DAY, FOREVER, HOUR, MINUTE, OFFSET, SECOND, by_instant,  # noqa: F401
                       day_start, first_of_month, local_day, local_instant, monday_of, reaches,
                       union)

MEASURES = ("work", "orders", "carrying", "driving", "duty")
# Periodic pieces (wall-clock hours, a day's allowance) of an interval open at the end are
# listed this far past the last finite instant: beyond any instant a test reads.
HORIZON = 400 * DAY


class State:
    """A worker's state (section 3 and the activity of section 7)."""

    def __init__(self):
        self.online = False
        self.on_break = False
        # Active orders: id -> picked up.
        self.orders = {}
        self.activity = "rest"

    def apply(self, event):
        kind = event["kind"]
        if kind == "login":
            self.online, self.on_break = True, False
        elif kind == "logout":
            self.online, self.on_break = False, False
            self.activity = "rest"
        elif kind == "break_start":
            self.on_break = True
        elif kind == "break_end":
            self.on_break = False
        elif kind == "order_accepted":
            self.orders[event["order_id"]] = self.orders.get(event["order_id"], False)
        elif kind == "order_picked_up":
            self.orders[event["order_id"]] = True
        elif kind in ("order_delivered", "order_cancelled"):
            self.orders.pop(event["order_id"], None)
        elif kind == "activity":
            self.activity = event["activity"]

    def working(self):
        return (self.online and not self.on_break) or bool(self.orders)

    def time_out(self):
        if self.working():
            self.online, self.on_break, self.orders = False, False, {}
        self.activity = "rest"

    def measures(self):
        """Which measures (and `idle`) are true in this state."""
        return {
            "work": self.working(),
            "orders": bool(self.orders),
            "carrying": any(self.orders.values()),
            "driving": self.activity == "driving",
            "duty": self.activity in ("driving", "other_work"),
            "idle": self.online and not self.on_break and not self.orders,
        }


def measure_intervals(events, session_timeout=0):
    """Each measure's (and `idle`'s) sorted, disjoint [start, stop) intervals for one worker's
    `events` (in `ts` order; those of one `ts` take effect together, in input order, and a
    state that lasts no time is none); one still true at the end runs to `FOREVER`."""
    groups = by_instant(events)
    state = State()
    changes = []
    for n, (t, group) in enumerate(groups):
        for event in group:
            state.apply(event)
        changes.append((t, state.measures()))
        if session_timeout and (state.working() or state.activity != "rest"):
            deadline = t + session_timeout
            if n + 1 == len(groups) or groups[n + 1][0] > deadline:
                state.time_out()
                changes.append((deadline, state.measures()))
    intervals = {}
    for name in MEASURES + ("idle",):
        found = []
        start = None
        for t, measures in changes:
            if measures[name] and start is None:
                start = t
            elif not measures[name] and start is not None:
                if t > start:
                    found.append([start, t])
                start = None
        if start is not None:
            found.append([start, FOREVER])
        intervals[name] = union(found)
    return intervals


def _horizon(intervals):
    """Where periodic pieces of `intervals` stop being listed."""
    finite = [t for interval in intervals for t in interval if t != FOREVER]
    return (max(finite) if finite else 0) + HORIZON


def within_hours(intervals, start_minute, end_minute):
    """`intervals` within the local wall-clock hours [start, end) of every day (minutes after
    local midnight; start > end wraps midnight: 22:00-06:00 is 1320, 360), each bound at the
    first instant the zone's clock shows it (`reference.local_instant`). Pieces of an
    interval open at the end are listed up to `HORIZON` past the last finite instant."""
    if start_minute == end_minute:
        raise ValueError("empty hours")
    horizon = _horizon(intervals)
    pieces = []
    for start, stop in intervals:
        stop = min(stop, horizon)
        # The window that may hold `start` began on its day or the day before.
        day = local_day(start) - 1
        while day_start(day) < stop:
            open_at = local_instant(day, start_minute)
            close_at = local_instant(day + (end_minute < start_minute), end_minute)
            a, b = max(start, open_at), min(stop, close_at)
            if a < b:
                pieces.append([a, b])
            day += 1
    return union(pieces)


def with_allowance(orders, idle, allowance):
    """`orders` and, in each local day, the first `allowance` ms of `idle` time in time order
    (docs/pack-format.md "Allowance": the rest of the day's idle time counts as nothing)."""
    horizon = _horizon(idle)
    counted = [list(interval) for interval in orders]
    used = {}
    for start, stop in idle:
        stop = min(stop, horizon)
        while start < stop:
            day = local_day(start)
            cut = min(stop, day_start(day + 1))
            take = min(cut - start, allowance - used.get(day, 0))
            if take > 0:
                counted.append([start, start + take])
                used[day] = used.get(day, 0) + take
            start = cut
    return union(counted)


def minus(intervals, taken):
    """The parts of sorted, disjoint `intervals` outside sorted, disjoint `taken`."""
    left = []
    for start, stop in intervals:
        for a, b in taken:
            if b <= start or a >= stop:
                continue
            if a > start:
                left.append([start, a])
            start = max(start, b)
            if start >= stop:
                break
        if start < stop:
            left.append([start, stop])
    return left


def first_instant(intervals, start, stop):
    """The first instant of sorted `intervals` in [start, stop), or None."""
    for a, b in intervals:
        if b > start and a < stop:
            return max(a, start)
    return None


def rests(intervals, first, end):
    """The stretches of [first, end) outside `intervals` (a rule's rests, where `intervals`
    is its measure, or its `rest_unless`), as [start, stop) with stop at most `end`."""
    gaps = []
    at = first
    for start, stop in intervals:
        if stop <= at:
            continue
        if start >= end:
            break
        if start > at:
            gaps.append([at, start])
        at = max(at, stop)
    if at < end:
        gaps.append([at, end])
    return gaps


def hours_of(text):
    """A rule's `hours`, `"22:00-06:00"`, as (start, end) minutes after local midnight."""
    start, end = text.split("-")

    def minutes(clock):
        hour, minute = clock.split(":")
        return int(hour) * 60 + int(minute)

    return minutes(start), minutes(end)


def rule_measure(intervals, name, rule, allowance=True):
    """Measure `name`'s intervals (of a worker's `measure_intervals`) as pack rule `rule`
    reads them: `orders` with the rule's `allowance` (with `allowance`; a `rest_unless` or
    `elapsed_from` names the measure as it is), within the rule's `hours` (outside them the
    measure is false), which cut the idle time before the allowance counts it."""
    def hours(found):
        if rule.get("hours"):
            return within_hours(found, *hours_of(rule["hours"]))
        return found

    if name == "orders" and rule.get("allowance") and allowance:
        return with_allowance(hours(intervals["orders"]), hours(intervals["idle"]),
                              rule["allowance"])
    return hours(intervals[name])


def every_worker(events, rules, end, session_timeout, rule_alerts, persons=False):
    """The alerts and holds of `rules` over `events` (valid, in `ts` order) up to `end`, each
    list sorted: `rule_alerts(key, own, intervals, rule, end)` gives one rule's (alerts,
    holds) for one subject, whose events are `own` and measures `intervals`. The subject is
    the worker id; with `persons` (`subject = "person"`, SPEC section 8), the `person_id` its
    events carry (the models' input gives every event of a worker id the same one, or none:
    a person of its own, keyed by the worker id), whose measure holds when it holds for any
    of their worker ids (each with its own session timeout)."""
    subjects = {}
    for n, event in enumerate(events):
        key = event.get("person_id", event["worker_id"]) if persons else event["worker_id"]
        subjects.setdefault(key, {}).setdefault(event["worker_id"], []).append((n, event))
    alerts, holds = [], []
    for key, by_worker in subjects.items():
        per_worker = [measure_intervals([e for _, e in own], session_timeout)
                      for own in by_worker.values()]
        intervals = {name: union([i for m in per_worker for i in m[name]])
                     for name in MEASURES}
        # A person's idle time is their work without their orders: a worker id waiting while
        # another carries an order is not idle.
        intervals["idle"] = minus(intervals["work"], intervals["orders"])
        # The subject's events in input order (equal `ts` too).
        own = [e for _, e in sorted((x for w in by_worker.values() for x in w),
                                    key=lambda x: (x[1]["ts"], x[0]))]
        # A rule with `roles` watches the subjects whose first event's role is listed
        # (docs/pack-format.md): a person's first event of any of their worker ids.
        role = own[0].get("role", "rider")
        for rule in rules:
            if role not in rule.get("roles", [role]):
                continue
            found, held = rule_alerts(key, own, intervals, rule, end)
            alerts += found
            holds += held
    return sorted(alerts), sorted(holds)
