"""An independent model of `workhours report --month YYYY-MM --format csv` (SPEC section 8,
"Reports"; docs/reports.md says what each figure means where SPEC is silent), over
reference.py's alerts and working time.

Written from SPEC and docs/reports.md alone, in the plainest way: the month's end of replay,
the events applied, every alert of them (reference.alerts), each worker id's working
intervals (reference.working_intervals), then the subject-days and the figures by plain
counting. The input is valid events in `ts` order (integer epoch milliseconds) in the
default zone, each worker id naming the same `person_id` on every event or none
(test_reference.random_case's streams): reading them out of order within
`allowed_lateness`, and copies, change no figure (docs/reports.md: the month is replayed as
`replay` replays it).

Readings chosen where SPEC and docs/reports.md leave it open:

- The end of replay: through the midnight that ends the local day of the last event at or
  before the month's end, or through the month's end when an event comes after the month;
  never past the month's end (an event exactly at the month's end is read as the month's
  last and adds no time to it). With no event at all at or before the month's end, nothing
  is applied. Events after the month are not applied.
- An alert is "in the month" by its `at` (`[month start, month end)`), but `minimum_wage`
  and `holiday_pay` by the day they judge (their `period_start`), for every figure: the
  breach columns as the docs say, and the top lists likewise ("the most `violation` alerts
  in the month"), so that the breach of the month's last day, at the next month's first
  midnight, is in both.
- An alert's platform and city are those of its subject's (worker id's, or person's: any of
  their worker ids') last event at or before `at`, strictly before for `minimum_wage` and
  `holiday_pay` (docs/rules.md, as test_reference.named_group checks on replay).
- A group (platform, city) has a row when it has a subject-day in the month, or a
  minimum-wage or holiday-pay breach that it counts (the subject's last event before the
  judged day's end may be in a group where no worker id of theirs worked that day); such a
  row has 0 active workers, empty shares and its own top list (every violation naming it,
  breaches or not: "active there or not"). A group named only by other violations (a daily
  maximum reached before a move to another city that day) has no row, those alerts
  counting in the total row's top list only: docs/reports.md does not say which groups have
  rows, but says of continuous-work violations that one "in the city they left counts in no
  group's row unless they also have a day there".
- The total row's breaches are all the month's breaches; its `cross_platform_workers` the
  distinct subjects with a day on two platforms.
- A subject's rules (for `daily_max`) are those of its worker id's first event under
  `subject = "worker"`, `[rules.person]` over `[rules]` under `"person"` (reference.py).
"""

import datetime

from reference import (EPOCH, HOUR, alerts, by_day, day_start, local_day,
                       working_intervals)

HEADER = ["scope", "month", "subject", "platform", "city", "active_workers", "worker_days",
          "continuous_violation_workers", "continuous_violation_workers_pct",
          "worker_days_over_daily_max", "worker_days_over_daily_max_pct", "p90_daily_hours",
          "minimum_wage_breaches", "holiday_pay_breaches", "holiday_worker_days",
          "cross_platform_workers", "top_by_violations"]
TOP = 3


def month_days(month):
    """The local days (days since 1970-01-01) that start month `month` ("YYYY-MM") and the
    next one."""
    year, number = map(int, month.split("-"))
    following = datetime.date(year + number // 12, number % 12 + 1, 1)
    return ((datetime.date(year, number, 1) - EPOCH).days, (following - EPOCH).days)


def report_end(events, month):
    """Where the report's replay of `events` (in `ts` order) ends, and the events it
    applies: through the midnight ending the day of the last event up to the month's end,
    or through the month's end when an event comes after it."""
    _, next_first = month_days(month)
    month_end = day_start(next_first)
    applied = [e for e in events if e["ts"] <= month_end]
    if len(applied) < len(events) or not applied:
        return month_end, applied
    return min(month_end, day_start(local_day(applied[-1]["ts"]) + 1)), applied


def place(event):
    """An event's (platform, city), with SPEC section 2's defaults."""
    return (event.get("platform", "unknown"), event.get("city", "unknown"))


def percent(part, whole):
    """`part` of `whole` as a percentage with one decimal, rounded half up; empty with
    nothing to divide."""
    if whole == 0:
        return ""
    tenths = (2000 * part + whole) // (2 * whole)
    return f"{tenths // 10}.{tenths % 10}"


def hours(millis):
    """Milliseconds as decimal hours with two decimals, rounded half up."""
    hundredths = (200 * millis + HOUR) // (2 * HOUR)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def p90(works):
    """Nearest rank: with the n values sorted ascending, the ceil(0.9 n)-th."""
    works = sorted(works)
    return works[(9 * len(works) + 9) // 10 - 1]


def top(counts):
    """`w1 (5); w2 (3)`: the first `TOP` subjects of {subject: violations}, most first, ties
    by id ascending."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return "; ".join(f"{subject} ({count})" for subject, count in ranked)


def figures(events, layers, month):
    """What the model says `report --month month --format csv` shows for `events` (valid, in
    `ts` order) under `layers` (test_reference.Layers): rows as lists of strings (the
    header's columns), the groups' ordered by platform and city, then the total row."""
    first, next_first = month_days(month)
    month_start, month_end = day_start(first), day_start(next_first)
    end, applied = report_end(events, month)
    person_rules = layers.person_rules()
    holidays = layers.holiday_days()
    persons = person_rules is not None
    subject_name = "person" if persons else "worker"

    by_worker = {}
    for event in applied:
        by_worker.setdefault(event["worker_id"], []).append(event)

    def subject_of(worker):
        return by_worker[worker][0].get("person_id", worker) if persons else worker

    def rules_of_worker(worker):
        first_event = by_worker[worker][0]
        return person_rules or layers.rules_of(first_event.get("platform", "unknown"),
                                               first_event.get("role", "rider"))

    # Worker-days of the month: work above zero on a local day that ends by `end`.
    intervals = {w: working_intervals(own, rules_of_worker(w)) for w, own in by_worker.items()}
    worker_days = {}  # (worker, day) -> (work, group)
    for worker, own in by_worker.items():
        work = {}
        for start, stop, day in by_day(intervals[worker], end):
            if first <= day < next_first and day_start(day + 1) <= end:
                work[day] = work.get(day, 0) + stop - start
        for day, amount in work.items():
            if amount > 0:
                last = [e for e in own if e["ts"] < day_start(day + 1)][-1]
                worker_days[(worker, day)] = (amount, place(last))

    # Subject-days: the subject's working time that day (concurrent worker ids once), the
    # groups and platforms of its worker-days, and its daily maximum.
    subject_workers = {}
    for worker in by_worker:
        subject_workers.setdefault(subject_of(worker), []).append(worker)
    subject_days = {}  # (subject, day) -> (work, groups, platforms)
    for (worker, day), (_, group) in worker_days.items():
        subject = subject_of(worker)
        groups = subject_days.setdefault((subject, day), (0, set(), set()))
        groups[1].add(group)
        groups[2].add(group[0])
    for (subject, day), (_, groups, platforms) in list(subject_days.items()):
        low, high = day_start(day), day_start(day + 1)
        pieces = []
        for worker in subject_workers[subject]:
            pieces += [[max(s, low), min(e, high)] for s, e in intervals[worker]
                       if s < high and e > low]
        subject_days[(subject, day)] = (union_length(pieces), groups, platforms)
    daily_max = {s: rules_of_worker(ws[0]).daily_max for s, ws in subject_workers.items()}

    # The month's violation alerts of subjects, with the group each names.
    def in_month(alert):
        at, _, rule, _, _, _, period_start = alert
        if rule in ("minimum_wage", "holiday_pay"):
            return first <= local_day(period_start) < next_first
        return month_start <= at < month_end

    def named(alert):
        at, subject, rule = alert[:3]
        strict = rule in ("minimum_wage", "holiday_pay")
        own = [e for e in applied if subject_of(e["worker_id"]) == subject
               and (e["ts"] < at if strict else e["ts"] <= at)]
        return place(own[-1])

    found = alerts(applied, layers.rules_of, end, person_rules, holidays) if applied else []
    violations = [(a, named(a)) for a in found
                  if a[3] == "violation" and a[2] != "quota_p90" and in_month(a)]

    groups = ({g for _, gs, _ in subject_days.values() for g in gs}
              | {g for a, g in violations if a[2] in ("minimum_wage", "holiday_pay")})

    def row(scope, group):
        def here(groups_of):
            return group is None or group in groups_of

        days = [(s, d, work, platforms) for (s, d), (work, gs, platforms)
                in subject_days.items() if here(gs)]
        active = {s for s, _, _, _ in days}
        mine = [(a, g) for a, g in violations if here({g})]
        continuous = {a[1] for a, _ in mine if a[2] == "continuous_work"} & active
        over = sum(1 for s, _, work, _ in days if work > daily_max[s])
        counts = {}
        for alert, _ in mine:
            counts[alert[1]] = counts.get(alert[1], 0) + 1
        cross = {s for s, _, _, platforms in days if len(platforms) > 1} if persons else set()
        platform, city = group or ("", "")
        return [scope, month, subject_name, platform, city, str(len(active)), str(len(days)),
                str(len(continuous)), percent(len(continuous), len(active)), str(over),
                percent(over, len(days)), hours(p90([w for _, _, w, _ in days])) if days else "",
                str(sum(1 for a, _ in mine if a[2] == "minimum_wage")),
                str(sum(1 for a, _ in mine if a[2] == "holiday_pay")),
                str(sum(1 for _, d, _, _ in days if d in holidays)), str(len(cross)),
                top(counts)]

    return [row("group", g) for g in sorted(groups)] + [row("total", None)]


def union_length(intervals):
    """The time covered by `intervals` ([start, end) lists), overlaps once."""
    total, reach = 0, None
    for start, stop in sorted(intervals):
        if reach is None or start > reach:
            total += stop - start
            reach = stop
        elif stop > reach:
            total += stop - reach
            reach = stop
    return total


def counts_line(month, read, events):
    """The totals the report's stderr line must show for input `read` (the lines as they
    reach the binary: `events` out of order, with copies): lines read, bad events, the
    duplicates and late events together, and the events after the month."""
    month_end = day_start(month_days(month)[1])
    after = sum(1 for e in read if e["ts"] > month_end)
    dropped = (len(read) - after) - sum(1 for e in events if e["ts"] <= month_end)
    return len(read), 0, dropped, after

