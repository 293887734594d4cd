"""An independent model of SPEC sections 3 and 4 for the default pack, and of section 8's
persons and holiday pay, to check replay against.

Written from SPEC's text alone, in the plainest way (whole-input passes, no event time, no
incremental state), so that it shares no design with the engine: each worker's working
intervals first (section 3, `session_timeout` included), then each subject's (a worker, or a
person: the union of their worker ids' intervals), then each rule over them (section 4's
table and the paragraphs under it, and section 8's `holiday_pay`), then `quota_p90` over the
closed days, per worker id.
The input is valid events in `ts` order (integer epoch milliseconds), without `event_id`s,
so that lateness and duplicates (section 5) play no part; the zone is the default
`Asia/Shanghai`, whose offset has been +08:00 since 1991, or within `in_zone(NAME)` a zone
with DST, whose local days last 23 or 25 hours across a change.

Alerts are tuples (at, key, rule, phase, value, limit, period_start): instants in epoch
milliseconds, `key` the worker id or `person_id` (the group `platform/role/city` for
`quota_p90`), `value` and `limit` as the alert's whole seconds (fen an hour for
`minimum_wage`).

Choices the model shares with docs/DESIGN.md and docs/persons.md where SPEC is open: a
`continuous_work` warning's value and limit are its threshold (`continuous_limit -
warn_before`); `resolved` carries the episode's work and `continuous_limit`; `weekly_rest`
carries days × 86,400 and 7 × 86,400; an order's fee counts on its first delivery of the
local day; a person's rules (and a worker id's standing for a person of its own) are
[rules.person] over [rules], `session_timeout` applying to each worker id by its own events.

`by_platform` (section 8; docs/persons.md where SPEC is silent), for each alert of a person
named by a `person_id` (not `quota_p90`, nor a worker id standing for a person of its own,
whose alerts have none), is `platform_split`'s: the rule's measured time (section 3's working
time, for every rule of the default pack) from the alert's `period_start` to its `at`, by
platform. Readings the model takes:
- one span for every rule: docs/persons.md's "the same span as `period_start` to `at`". Its
  words per rule follow from it: `continuous_work` the episode's work up to `at` (`resolved`:
  the whole episode, the rest that ends it holding no work), `daily_hours` and
  `weekly_hours` the day's or week's up to `at`, `monthly_overtime` the month's working time
  (not the overtime), `minimum_wage` and `holiday_pay` the whole day (`at` is its closing
  midnight), and `weekly_rest` `{}` (it fires at its day's first working instant, so the span
  holds no work);
- a worker id's time goes to the platform of its latest event at or before the instant: from
  an event's `ts` on, that event's platform (`unknown` without one), every kind counting (a
  bare heartbeat too); of events with one `ts`, the last in input order (they take effect
  together, section 3), so the work that starts at that instant is already the new platform's;
- a platform's time is the union of the work of its worker ids there (two at once count
  once); each platform counts its own, so an overlap across platforms counts under each and the
  entries can add up to more than `value_seconds`;
- whole seconds cut down per platform from milliseconds; a platform is listed when it has more
  than 0 ms in the span (under a second: `0`), and not at all without;
- time after a worker id's own `session_timeout` is no work, so no platform's.
The bound of 32 platforms (the rest under `other`) plays no part: the tests name at most four.
"""

from dataclasses import dataclass
import datetime
import zoneinfo

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
OFFSET = 8 * HOUR
# Later than any instant of a test: an interval still open at the end of the input.
FOREVER = 10**15


@dataclass
class Rules:
    """The rule keys of SPEC section 6, in milliseconds (fen an hour for the wage)."""

    min_break: int = 20 * MINUTE
    continuous_limit: int = 4 * HOUR
    warn_before: int = 15 * MINUTE
    session_timeout: int = 0
    daily_standard: int = 8 * HOUR
    daily_max: int = 11 * HOUR
    weekly_max: int = 44 * HOUR
    monthly_overtime_max: int = 36 * HOUR
    minimum_wage_cents_per_hour: int = 2100
    quota_min_workers: int = 10
    # `holiday_pay_ratio` in millionths, so that the model compares exactly.
    holiday_pay_ratio_ppm: int = 1_000_000

    def toml(self, table):
        """The rules as a TOML table `table` of a workhours config."""
        return overrides_toml(table, vars(self))

    def over(self, keys):
        """These rules with `keys` (a dict of some of them) in place of their own."""
        return Rules(**dict(vars(self), **keys))


def overrides_toml(table, keys):
    """`keys` (rule keys and values as in `Rules`) as a TOML table `table`."""
    lines = [f"[{table}]"]
    for key, value in keys.items():
        if key in ("minimum_wage_cents_per_hour", "quota_min_workers"):
            lines.append(f"{key} = {value}")
        elif key == "holiday_pay_ratio_ppm":
            lines.append(f"holiday_pay_ratio = {value / 1_000_000}")
        else:
            lines.append(f'{key} = "{value}ms"')
    return "\n".join(lines) + "\n"


# The configured zone (`[time] zone`) as a `zoneinfo.ZoneInfo`, or None for the default
# Asia/Shanghai (see `in_zone`).
ZONE = None
EPOCH = datetime.date(1970, 1, 1)


class in_zone:
    """`with in_zone("Europe/Berlin"):` the model's calendar is that zone's: local days from
    the zone's wall clock, lasting 23 or 25 hours across a DST change (SPEC section 4: calendar
    rules use the config's zone)."""

    def __init__(self, name):
        self.zone = zoneinfo.ZoneInfo(name) if name else None

    def __enter__(self):
        global ZONE
        self.saved, ZONE = ZONE, self.zone

    def __exit__(self, *_):
        global ZONE
        ZONE = self.saved


def local_day(t):
    """The local day (days since 1970-01-01, local) holding instant `t`."""
    if ZONE is None:
        return (t + OFFSET) // DAY
    seconds, millis = divmod(t, SECOND)
    wall = datetime.datetime.fromtimestamp(seconds, ZONE) + datetime.timedelta(milliseconds=millis)
    return (wall.date() - EPOCH).days


def day_start(day):
    """The instant local `day` starts: its midnight, or where a DST change skips the midnight,
    the end of the gap."""
    return local_instant(day, 0)


def local_instant(day, minute):
    """The instant local `day`'s wall clock shows `minute` (minutes after midnight, 1440 the
    next midnight) first (docs/pack-format.md, `hours`): where the clock goes back, its first
    instant; where it skips that time, the instant it jumps past it."""
    if ZONE is None:
        return day * DAY - OFFSET + minute * MINUTE
    day, minute = day + minute // 1440, minute % 1440
    wall = datetime.datetime.combine(EPOCH + datetime.timedelta(days=day),
                                     datetime.time(minute // 60, minute % 60))

    def shown(seconds):
        return datetime.datetime.fromtimestamp(seconds, ZONE).replace(tzinfo=None)

    first = int(wall.replace(tzinfo=ZONE).timestamp())
    if shown(first) == wall:
        return first * SECOND
    # In a gap: fold 1 reads `wall` with the offset after the change, an instant before it.
    low, high = int(wall.replace(tzinfo=ZONE, fold=1).timestamp()), first
    while low < high:
        middle = (low + high) // 2
        if shown(middle) >= wall:
            high = middle
        else:
            low = middle + 1
    return low * SECOND


def monday_of(day):
    """The Monday starting the ISO week of local `day` (1970-01-01 was a Thursday)."""
    return day - (day + 3) % 7


def first_of_month(day):
    """The local day that starts the month of local `day`."""
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
    return (date.replace(day=1) - datetime.date(1970, 1, 1)).days


def union(intervals):
    """Sorted, disjoint intervals covering those given (time worked by any of them once)."""
    merged = []
    for start, stop in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def by_instant(events):
    """`events` (in `ts` order) as (ts, the events of that `ts` in input order): those of one
    `ts` take effect together (section 3)."""
    groups = []
    for event in events:
        if groups and groups[-1][0] == event["ts"]:
            groups[-1][1].append(event)
        else:
            groups.append((event["ts"], [event]))
    return groups


def state_after(state, event):
    """Section 3's (online, on_break, orders) after `event`: a login or logout ends any break,
    an order start makes its order active, an order end ends it."""
    online, on_break, orders = state
    kind = event["kind"]
    if kind in ("login", "logout"):
        online, on_break = kind == "login", False
    elif kind == "break_start":
        on_break = True
    elif kind == "break_end":
        on_break = False
    elif kind in ("order_accepted", "order_picked_up"):
        orders = orders | {event["order_id"]}
    elif kind in ("order_delivered", "order_cancelled"):
        orders = orders - {event["order_id"]}
    return online, on_break, orders


def working_intervals(events, rules):
    """Section 3: the worker's working time as sorted, disjoint [start, end) intervals.

    `events` are one worker's, in `ts` order; those with equal `ts` take effect together.
    """
    groups = by_instant(events)
    online = on_break = False
    orders = frozenset()
    changes = []
    for n, (t, group) in enumerate(groups):
        for event in group:
            online, on_break, orders = state_after((online, on_break, orders), event)
        working = (online and not on_break) or bool(orders)
        changes.append((t, working))
        if working and rules.session_timeout:
            deadline = t + rules.session_timeout
            if n + 1 == len(groups) or groups[n + 1][0] > deadline:
                online, on_break, orders = False, False, frozenset()
                changes.append((deadline, False))
    intervals = []
    start = None
    for t, working in changes:
        if working and start is None:
            start = t
        elif not working and start is not None:
            if t > start:
                intervals.append([start, t])
            start = None
    if start is not None:
        intervals.append([start, FOREVER])
    # A stop and a start at one instant leave no rest: joined.
    return union(intervals)


def by_day(intervals, end):
    """The intervals cut at local midnights, as (start, end, day), up to past `end`."""
    pieces = []
    for start, stop in intervals:
        while start < stop and start <= end + DAY:
            day = local_day(start)
            cut = min(stop, day_start(day + 1))
            pieces.append((start, cut, day))
            start = cut
    return pieces


def reaches(start, stop, before, threshold):
    """The first instant of work [start, stop) at which time measured from `before` reaches
    `threshold` (section 4: at the start if already reached), or None within it."""
    at = start + max(0, threshold - before)
    return at if at < stop else None


def overtime_alerts(pieces, standard, limit):
    """`monthly_overtime` over `pieces` (`by_day`'s) of a measure: (at, the month's first local
    day) where the month's sum over days of max(0, the day's amount - `standard`) reaches
    `limit`, at most once a month."""
    day_amount, month_overtime, fired, found = {}, {}, set(), []
    for start, stop, day in pieces:
        before = day_amount.get(day, 0)
        month = first_of_month(day)
        overtime = month_overtime.get(month, 0)
        if month not in fired:
            if overtime >= limit:
                at = start
            else:
                # Overtime grows once the day's amount passes the standard.
                grows_from = start + max(0, standard - before)
                at = reaches(min(grows_from, stop), stop, overtime, limit)
            if at is not None:
                found.append((at, month))
                fired.add(month)
        after = before + stop - start
        day_amount[day] = after
        month_overtime[month] = overtime + max(0, after - standard) - max(0, before - standard)
    return found


def streak_alerts(pieces, days):
    """`weekly_rest` over `pieces` (`by_day`'s) of a measure: (at, run, day) at the first
    instant of the measure on the `days`-th, 2×`days`-th, ... consecutive local day with it,
    `run` days long by then (days before the first count as rest)."""
    first_instant, amount = {}, {}
    for start, stop, day in pieces:
        first_instant.setdefault(day, start)
        amount[day] = amount.get(day, 0) + stop - start
    found = []
    run = 0
    previous = None
    for day in sorted(d for d, a in amount.items() if a > 0):
        run = run + 1 if previous == day - 1 else 1
        previous = day
        if run % days == 0:
            found.append((first_instant[day], run, day))
    return found


def day_fees(events):
    """`minimum_wage`'s fees: by local day, the `fee_cents` of each order's first
    `order_delivered` of that day; and the days with a delivery carrying `fee_cents`."""
    fees, carries_fee, delivered = {}, set(), {}
    for event in events:
        if event["kind"] != "order_delivered":
            continue
        day = local_day(event["ts"])
        # Order ids are scoped per worker id (section 2).
        order = (event["worker_id"], event["order_id"])
        first = order not in delivered.setdefault(day, set())
        delivered[day].add(order)
        if "fee_cents" in event:
            carries_fee.add(day)
            if first:
                fees[day] = fees.get(day, 0) + event["fee_cents"]
    return fees, carries_fee


def wage_alerts(day_work, fees, carries_fee, rate, end):
    """`minimum_wage` (at, fen an hour earned, day): at the midnight ending a day with 1 h of
    `day_work` and a delivery carrying a fee, up to `end`, when fees × 1 h < rate × work."""
    found = []
    for day, work in day_work.items():
        at = day_start(day + 1)
        fee = fees.get(day, 0)
        if at <= end and work >= HOUR and day in carries_fee and fee * HOUR < rate * work:
            found.append((at, fee * HOUR // work, day))
    return found


def subject_alerts(key, intervals, events, rules, end, holidays):
    """The alerts of one subject's rules up to `end`: a worker, or a person (section 8) whose
    `intervals` are those of any of their worker ids and whose `events` are theirs, in `ts`
    order. `holidays` are the statutory holidays' local days (none: no `holiday_pay`)."""
    alerts = []

    def emit(rule, phase, at, value, limit, period_start):
        if at <= end:
            alerts.append((at, key, rule, phase, value // SECOND, limit // SECOND, period_start))

    limit = rules.continuous_limit
    thresholds = [("warning", limit - rules.warn_before), ("violation", limit)]
    # continuous_work: episodes split by rests of at least min_break.
    episode = worked = last_stop = None
    fired = set()
    for start, stop in intervals:
        if last_stop is None or start - last_stop >= rules.min_break:
            if "violation" in fired:
                emit("continuous_work", "resolved", last_stop + rules.min_break, worked, limit,
                     episode)
            episode, worked, fired = start, 0, set()
        for phase, threshold in thresholds:
            at = reaches(start, stop, worked, threshold)
            if phase not in fired and at is not None:
                emit("continuous_work", phase, at, threshold, threshold, episode)
                fired.add(phase)
        worked += stop - start
        last_stop = stop
    if "violation" in fired and last_stop < FOREVER:
        emit("continuous_work", "resolved", last_stop + rules.min_break, worked, limit, episode)

    pieces = by_day(intervals, end)
    # daily_hours, weekly_hours: amounts within their period.
    day_work, week_work = {}, {}
    fired = set()
    for start, stop, day in pieces:
        before = day_work.get(day, 0)
        for phase, threshold in [("warning", rules.daily_standard),
                                 ("violation", rules.daily_max)]:
            at = reaches(start, stop, before, threshold)
            if (day, phase) not in fired and at is not None:
                emit("daily_hours", phase, at, threshold, threshold, day_start(day))
                fired.add((day, phase))
        monday = monday_of(day)
        week_before = week_work.get(monday, 0)
        at = reaches(start, stop, week_before, rules.weekly_max)
        if ("week", monday) not in fired and at is not None:
            emit("weekly_hours", "violation", at, rules.weekly_max, rules.weekly_max,
                 day_start(monday))
            fired.add(("week", monday))
        day_work[day] = before + stop - start
        week_work[monday] = week_before + stop - start
    for at, month in overtime_alerts(pieces, rules.daily_standard, rules.monthly_overtime_max):
        emit("monthly_overtime", "violation", at, rules.monthly_overtime_max,
             rules.monthly_overtime_max, day_start(month))
    for at, run, day in streak_alerts(pieces, 7):
        emit("weekly_rest", "violation", at, run * DAY, 7 * DAY, day_start(day))

    # minimum_wage: at the midnight ending a day with 1 h of work and a delivery with a fee.
    fees, carries_fee = day_fees(events)
    rate = rules.minimum_wage_cents_per_hour
    for at, value, day in wage_alerts(day_work, fees, carries_fee, rate, end):
        # value and limit in fen an hour: not divided by SECOND.
        alerts.append((at, key, "minimum_wage", "violation", value, rate, day_start(day)))

    # holiday_pay (section 8): at the midnight ending a statutory holiday with 1 h of work and
    # a delivery with a fee, when its fees an hour are not above the ratio times the pooled
    # rate of the 28 days before that are not statutory holidays, with 1 h of work and fees.
    def paid(day):
        return day_work.get(day, 0) >= HOUR and day in carries_fee

    ratio = rules.holiday_pay_ratio_ppm
    for day in sorted(holidays):
        at = day_start(day + 1)
        if at > end or not paid(day):
            continue
        pooled = [d for d in range(day - 28, day) if d not in holidays and paid(d)]
        pooled_work = sum(day_work[d] for d in pooled)
        pooled_fees = sum(fees.get(d, 0) for d in pooled)
        if pooled_work == 0:
            continue
        fee, work = fees.get(day, 0), day_work[day]
        if fee * pooled_work * 1_000_000 <= ratio * pooled_fees * work:
            alerts.append((at, key, "holiday_pay", "violation", fee * HOUR // work,
                           ratio * pooled_fees * HOUR // (pooled_work * 1_000_000),
                           day_start(day)))
    return alerts


def group_of(event):
    """An event's (platform, role, city), with section 2's defaults."""
    return (event.get("platform", "unknown"), event.get("role", "rider"),
            event.get("city", "unknown"))


def day_work_of(intervals, end):
    """Working time by local day, the days up to past `end`."""
    work = {}
    for start, stop, day in by_day(intervals, end):
        work[day] = work.get(day, 0) + stop - start
    return work


def alerts(events, rules_of, end, person_rules=None, holidays=frozenset()):
    """Every alert of `events` (valid, in `ts` order) up to `end`, sorted.

    `rules_of(platform, role)` gives the rules of a platform and role; a worker's are those
    of their first event. With `person_rules`, the subject is the person (section 8): a
    worker id belongs to the person of the `person_id` its events carry (the model's input
    gives every event of a worker id the same one, or none: a person of its own, named by
    the worker id), and every subject's rules are `person_rules`; `quota_p90` stays per
    worker id, with the rules of its group's platform and role. `holidays` are the local
    days of the statutory holidays of `[time] holidays` (none: `holiday_pay` is off).
    """
    by_worker = {}
    for event in events:
        by_worker.setdefault(event["worker_id"], []).append(event)
    subjects = {}
    for worker, own in by_worker.items():
        key = own[0].get("person_id", worker) if person_rules else worker
        subjects.setdefault(key, []).append(worker)
    found = []
    days = {}
    worked = {}
    for worker, own in by_worker.items():
        rules = person_rules or rules_of(*group_of(own[0])[:2])
        worked[worker] = working_intervals(own, rules)
        for day, work in day_work_of(worked[worker], end).items():
            if work > 0:
                before_end = [e for e in own if e["ts"] < day_start(day + 1)]
                days.setdefault(day, []).append((work, group_of(before_end[-1])))
    for key, workers in subjects.items():
        own = [e for e in events if e["worker_id"] in workers]
        rules = person_rules or rules_of(*group_of(own[0])[:2])
        intervals = union([i for w in workers for i in worked[w]])
        found += subject_alerts(key, intervals, own, rules, end, holidays)
    # quota_p90: nearest rank over the group's workers who worked that day.
    for day, works_of_day in days.items():
        at = day_start(day + 1)
        if at > end:
            continue
        groups = {}
        for work, group in works_of_day:
            groups.setdefault(group, []).append(work)
        for group, works in groups.items():
            rules = rules_of(group[0], group[1])
            if len(works) < rules.quota_min_workers:
                continue
            works.sort()
            p90 = works[(9 * len(works) + 9) // 10 - 1]
            if p90 > rules.daily_standard:
                found.append((at, "/".join(group), "quota_p90", "violation", p90 // SECOND,
                              rules.daily_standard // SECOND, day_start(day)))
    return sorted(found)


def platform_intervals(events, intervals):
    """One worker id's working `intervals` by platform (docs/persons.md): a dict platform →
    intervals, each instant's work going to the platform of the worker id's latest event at or
    before it (of one `ts`, the last in input order; `unknown` for an event without one).

    `events` are the worker id's, in `ts` order."""
    changes = [(t, group_of(group[-1])[0]) for t, group in by_instant(events)]
    split = {}
    for start, stop in intervals:
        for n, (since, platform) in enumerate(changes):
            until = changes[n + 1][0] if n + 1 < len(changes) else FOREVER
            low, high = max(start, since), min(stop, until)
            if low < high:
                split.setdefault(platform, []).append([low, high])
    return split


def platform_split(events, found, person_rules):
    """Section 8's `by_platform` of each person alert among `found` (`alerts`'s tuples of
    `events` under `subject = "person"` with `person_rules`): a dict alert → {platform: whole
    seconds}, the person's working time on each platform from the alert's `period_start` to
    its `at` (the readings in this module's docstring). Alerts of persons of their own (worker
    ids without a `person_id`) and `quota_p90`'s are not in it: they carry no `by_platform`."""
    by_worker = {}
    for event in events:
        by_worker.setdefault(event["worker_id"], []).append(event)
    persons = {}
    for worker, own in by_worker.items():
        person = own[0].get("person_id")
        if person is None:
            continue
        worked = working_intervals(own, person_rules)
        platforms = persons.setdefault(person, {})
        for platform, pieces in platform_intervals(own, worked).items():
            platforms.setdefault(platform, []).extend(pieces)
    # Two worker ids on one platform at once: that platform's time once.
    persons = {person: {platform: union(pieces) for platform, pieces in platforms.items()}
               for person, platforms in persons.items()}
    splits = {}
    for alert in found:
        at, key, rule, period_start = alert[0], alert[1], alert[2], alert[6]
        if rule == "quota_p90" or key not in persons:
            continue
        split = {}
        for platform, pieces in persons[key].items():
            time = sum(max(0, min(stop, at) - max(start, period_start)) for start, stop in pieces)
            if time > 0:
                split[platform] = time // SECOND
        splits[alert] = split
    return splits
