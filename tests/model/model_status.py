"""An independent model of `workhours status --at TS` (SPEC section 7, last item) for the
default pack, `cn-weihai-2022`: each worker's `/v1/workers/{id}` view at an instant.

Written from SPEC sections 3, 4 and 7 and docs/rules.md (section 5, "Dispatch holds", and its
table "The whole object ... key by key") alone, on top of the plain models of reference.py
(working intervals, calendar days) and measures.py (the state and its measures). The input
is valid events in `ts` order (epoch milliseconds), without duplicates; the rules are the
defaults but for `session_timeout`; the zone is Asia/Shanghai (+08:00).

The view at `at` stands on the events with `ts` at or before `at` (docs/rules.md section 8:
"events stamped after `TS` are not applied"), all of those of `at` included, and on the
timers at or before `at` (a session timeout at `at` has happened; a rest that reaches
`min_break` at `at` has completed, so the episode is closed). A worker with no such event
is not in the output.

Readings where SPEC and the docs leave a detail open (each checked by a test by hand):

- A threshold "has fired" in a period at `at` when the worker was working at some instant
  at or before `at` with the amount at or past it: for an amount that grows only while
  working, when the amount at `at` is above the threshold, or equal to it while working at
  `at` (section 4: work that stops exactly at the threshold fires nothing). `warned` and
  `violated` of the episode, and `open_violations`, follow from that.
- `monthly_overtime` (kind `overtime`) tracks its period, the month: it is among
  `open_violations` when its violation fired in the current month, not merely when its used
  time is at the limit (`daily_hours` is, by docs/rules.md's "whose violation fired").
- `weekly_rest`'s run: the past days with work above zero, back from yesterday, and today
  when it has a working instant at or before `at` (the docs: "each counted from its first
  working instant"); so today not yet worked leaves the run at yesterday's. Its
  `limit_seconds` is the smallest multiple of 7 days above the run, or the run itself on the
  day it fired (today counted and the run a multiple of 7); it is open on that day only.
- `continuous_work` measures the open episode's work, 0 when none is open; `limit_seconds`
  is `continuous_limit` (its violation threshold), whatever the warning.
- `daily_hours`' limit is `daily_max` (the violation's threshold, not the warning's).

Under `[rules] subject = "person"` (SPEC section 8, docs/persons.md) the subject is the person
of the `person_id` a worker id's events carry (the input gives every event of a worker id the
same one, or none: a person of its own, viewed as under `subject = "worker"`, keyed by the
`worker_id`). A person's view names `person_id` and `worker_ids` (those with an event at or
before `at`, sorted) instead of `worker_id` (docs/rules.md section 5). The person works when
any of their worker ids works, each with its own session timeout (docs/persons.md), and their
working time is the union of their worker ids' (concurrent sessions once): `episode`,
`today_seconds`, `week_seconds`, `consecutive_work_days`, `rules` and `open_violations` are
read from it, the person's rules being `[rules]`'s. `platform`, `role`, `city` are of the
person's last event at or before `at` (at one `ts`, the last in input order). `measures` hold
when they hold for any worker id (docs/DESIGN.md, "Persons": "the person's measures are the
union of the members'"). `online`, `on_break`, `active_orders` and `activity` of a person
are over their worker ids as docs/rules.md's table says: online or on break when any of them
is (so a person can be working and on break at once, one worker id on each), the sum of
their active orders, the busiest of their activities.
"""

from measures import MEASURES, State
from reference import (DAY, Rules, by_instant, day_start, first_of_month, group_of,
                       local_day, monday_of, union, working_intervals)

PACK = "cn-weihai-2022"
# A person's `activity`: the first of these any of their worker ids has (docs/rules.md).
BUSIEST = ["driving", "other_work", "available", "rest"]
# The default pack's rules that measure time, and their kinds (docs/rules.md section 3: the
# section 4 rules are `continuous`, `period`, `streak` and `overtime` rules).
KINDS = {"continuous_work": "continuous", "daily_hours": "period", "weekly_hours": "period",
         "monthly_overtime": "overtime", "weekly_rest": "streak"}
STREAK_DAYS = 7
# The keys of the object (docs/rules.md section 5, "key by key"), for a worker.
KEYS = {"worker_id", "platform", "role", "city", "pack", "as_of", "buffered_events",
        "online", "on_break", "active_orders", "working", "activity", "measures", "episode",
        "today_seconds", "week_seconds", "consecutive_work_days", "rules", "rule_kinds",
        "left_seconds", "open_violations", "holds"}
# A person's (`subject = "person"`): the person and their worker ids instead of `worker_id`.
PERSON_KEYS = KEYS - {"worker_id"} | {"person_id", "worker_ids"}


def state_at(own, at, session_timeout):
    """Section 3's state (measures.State) of a worker after their events `own` (in `ts`
    order, all at or before `at`) and the session timeouts due at or before `at`."""
    groups = by_instant(own)
    state = State()
    for n, (t, group) in enumerate(groups):
        for event in group:
            state.apply(event)
        if session_timeout and (state.working() or state.activity != "rest"):
            deadline = t + session_timeout
            later = groups[n + 1][0] if n + 1 < len(groups) else None
            if deadline <= at and (later is None or later > deadline):
                state.time_out()
    return state


def work_between(intervals, start, stop):
    """Working time of sorted `intervals` within [start, stop)."""
    return sum(max(0, min(b, stop) - max(a, start)) for a, b in intervals)


def fired(amount, threshold, working):
    """Whether an amount that grows only while working, `amount` at the view's instant, has
    met `threshold` at a working instant by then (section 4's "reaches")."""
    return amount > threshold or (amount == threshold and working)


def entry(used, limit):
    """A `rules` entry's (used_seconds, limit_seconds, left_seconds) from milliseconds: each
    rounded down on its own, left never below 0 (docs/rules.md section 5)."""
    return used // 1000, limit // 1000, max(0, limit - used) // 1000


def episode_at(intervals, at, rules, working):
    """The open `continuous_work` episode at `at` as (start, worked ms), or None: episodes
    are split by rests of at least `min_break`; one whose rest has lasted `min_break` by
    `at` is closed (the rest completes before the events stamped with its end)."""
    episode = None
    last_stop = None
    for start, stop in intervals:
        if start > at:
            break
        if last_stop is None or start - last_stop >= rules.min_break:
            episode = [start, 0]
        episode[1] += min(stop, at) - start
        last_stop = stop
    if episode is None:
        return None
    if not working and at - last_stop >= rules.min_break:
        return None
    return tuple(episode)


def subject_view(key, own, at, rules, person=False):
    """The model's view of one subject (their events `own`, at or before `at`, in `ts`
    order): a worker, or with `person` the person `key` of the worker ids of `own`, in the
    shape `normalise` gives the binary's."""
    members = {}
    for event in own:
        members.setdefault(event["worker_id"], []).append(event)
    states = [state_at(events, at, rules.session_timeout) for events in members.values()]
    intervals = union([i for events in members.values()
                       for i in working_intervals(events, rules)])
    working = any(a <= at < b for a, b in intervals)
    # Two independent models of section 3 must agree before either is believed.
    assert working == any(state.working() for state in states), (key, at, intervals)
    today = local_day(at)
    today_ms = work_between(intervals, day_start(today), at)
    week_ms = work_between(intervals, day_start(monday_of(today)), at)
    overtime = 0
    for day in range(first_of_month(today), today + 1):
        overtime += max(0, work_between(intervals, day_start(day), min(at, day_start(day + 1)))
                        - rules.daily_standard)

    # weekly_rest: the run of days with work, today once it has had a working instant.
    today_counts = any(a <= at and b > day_start(today) for a, b in intervals)
    run = 1 if today_counts else 0
    day = today - 1
    while work_between(intervals, day_start(day), day_start(day + 1)) > 0:
        run += 1
        day -= 1
    streak_fired = today_counts and run % STREAK_DAYS == 0
    limit_days = run if streak_fired else (run // STREAK_DAYS + 1) * STREAK_DAYS

    episode = episode_at(intervals, at, rules, working)
    worked = episode[1] if episode else 0
    warning = rules.continuous_limit - rules.warn_before
    table = {
        "weekly_rest": entry(run * DAY, limit_days * DAY),
        "continuous_work": entry(worked, rules.continuous_limit),
        "daily_hours": entry(today_ms, rules.daily_max),
        "weekly_hours": entry(week_ms, rules.weekly_max),
        "monthly_overtime": entry(overtime, rules.monthly_overtime_max),
    }
    open_violations = set()
    if episode and fired(worked, rules.continuous_limit, working):
        open_violations.add("continuous_work")
    if fired(today_ms, rules.daily_max, working):
        open_violations.add("daily_hours")
    if fired(week_ms, rules.weekly_max, working):
        open_violations.add("weekly_hours")
    if fired(overtime, rules.monthly_overtime_max, working):
        open_violations.add("monthly_overtime")
    if streak_fired:
        open_violations.add("weekly_rest")
    platform, role, city = group_of(own[-1])
    each = [state.measures() for state in states]
    view = {
        "platform": platform,
        "role": role,
        "city": city,
        "pack": PACK,
        "as_of": at,
        "buffered_events": 0,
        "working": working,
        "measures": {name: any(m[name] for m in each) for name in MEASURES},
        "episode": None if episode is None else {
            "start": episode[0],
            "worked_seconds": worked // 1000,
            "warned": fired(worked, warning, working),
            "violated": fired(worked, rules.continuous_limit, working),
        },
        "today_seconds": today_ms // 1000,
        "week_seconds": week_ms // 1000,
        "consecutive_work_days": run,
        "rules": table,
        "rule_kinds": dict(KINDS),
        "left_seconds": {rule: value[2] for rule, value in table.items()},
        "open_violations": sorted(open_violations),
        "holds": [],
    }
    if person:
        view.update(person_id=key, worker_ids=sorted(members))
    else:
        view["worker_id"] = key
    # A person's over their worker ids (docs/rules.md): any of them online or on break, the
    # sum of their active orders (order ids are per worker id), the busiest activity.
    view.update(online=any(state.online for state in states),
                on_break=any(state.on_break for state in states),
                active_orders=sum(len(state.orders) for state in states),
                activity=min((state.activity for state in states), key=BUSIEST.index))
    return view


def subject_of(event, persons=False):
    """The key of the subject an event counts for: its `worker_id`, or with `persons` its
    `person_id` where it has one."""
    return event.get("person_id", event["worker_id"]) if persons else event["worker_id"]


def views(events, at, session_timeout=0, persons=False):
    """Every subject's view at `at`, by key (sorted), of `events` (valid, in `ts` order,
    each once) under the default pack with `session_timeout`: every worker's, or with
    `persons` (`subject = "person"`) every person's and stand-alone worker id's."""
    rules = Rules(session_timeout=session_timeout)
    by_subject = {}
    for event in events:
        if event["ts"] <= at:
            by_subject.setdefault(subject_of(event, persons), []).append(event)
    return {key: subject_view(key, own, at, rules, persons and "person_id" in own[0])
            for key, own in sorted(by_subject.items())}
