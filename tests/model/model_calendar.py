"""A model of SPEC section 7's `streak`, `overtime` and `minimum_wage` kinds (section 4's
`weekly_rest`, `monthly_overtime` and `minimum_wage`, with their parameters): the first two
over any measure, all three with `hours` (docs/pack-format.md: `minimum_wage` then reads the
working time within the hours, against the whole day's fees), with holds.

The rules themselves are reference.py's (`streak_alerts`, `overtime_alerts`, `wage_alerts`),
checked there against section 4; here they read a pack rule's measure (measures.py) instead of
working time, and give docs/pack-format.md's holds: `streak` until the next local midnight
(resting from the violation, that day is the rest day), `overtime` until the start of the next
local month (`minimum_wage` has none). Alert values as section 4's: `streak` the run's days and
`days` times 86,400 s, `overtime` its limit for both, `minimum_wage` fen an hour.
"""

from measures import (DAY, SECOND, day_start, every_worker, first_of_month, local_day,
                      rule_measure)
from reference import by_day, day_fees, overtime_alerts, streak_alerts, wage_alerts


def next_month(day):
    """The first local day of the month after local `day`'s."""
    return first_of_month(first_of_month(day) + 31)


def rule_alerts(worker, events, intervals, rule, end):
    """One rule's alerts and holds (as pack_case's tuples) for one worker, whose events are
    `events` and measures `intervals`, up to `end`."""
    pieces = by_day(rule_measure(intervals, rule.get("measure", "work"), rule), end)
    if rule["kind"] == "minimum_wage":
        day_work = {}
        for start, stop, day in pieces:
            day_work[day] = day_work.get(day, 0) + stop - start
        rate = rule.get("cents_per_hour", 2100)
        # Values in fen an hour, as they are; no hold.
        return [(at, worker, rule["id"], "violation", value, rate, day_start(day))
                for at, value, day in wage_alerts(day_work, *day_fees(events), rate, end)], []
    if rule["kind"] == "streak":
        days = rule.get("days", 7)
        found = [(at, run * DAY, days * DAY, day_start(day), day_start(day + 1))
                 for at, run, day in streak_alerts(pieces, days)]
    else:
        limit = rule["limit"]
        found = [(at, limit, limit, day_start(month), day_start(next_month(month)))
                 for at, month in overtime_alerts(pieces, rule["standard"], limit)]
    alerts, holds = [], []
    for at, value, limit, period_start, until in found:
        if at > end:
            continue
        alerts.append((at, worker, rule["id"], "violation", value // SECOND,
                       limit // SECOND, period_start))
        if rule.get("hold"):
            holds.append((worker, rule["id"], at, until))
    return alerts, holds


def model(events, rules, end, session_timeout=0, persons=False):
    """Every worker's (with `persons`, every person's) alerts and holds, each list sorted."""
    return every_worker(events, rules, end, session_timeout, rule_alerts, persons)


# ------------------------------------------------------------------ where a rule stands at t

def streak_run(measure, t):
    """A `streak` rule's run at instant `t`: (days, today counted). A local day counts from
    its first instant of the measure (`measure`, the rule's intervals), at or before `t`
    (docs/rules.md section 5: "each counted from its first working instant"); the run is the
    consecutive days with the measure ending today, or, while today has none yet, yesterday
    (a day without the measure before today ends the run: 0)."""
    days = set()
    for start, stop in measure:
        if start > t:
            break
        for day in range(local_day(start), local_day(min(stop, t + 1) - 1) + 1):
            days.add(day)
    today = local_day(t)
    last = today if today in days else today - 1
    run = 0
    while last - run in days:
        run += 1
    return run, today in days


def rule_status(key, own, intervals, rule, t):
    """Where one `streak` or `overtime` rule stands at instant `t` for one subject (the `rules`
    entry of `/v1/workers/{id}`, docs/rules.md section 5), in milliseconds: (used, limit,
    left, open, holds), `holds` the rule's up to `t`; None for `minimum_wage`, which
    measures no time. `own` and `intervals` are the subject's events and measures up to `t`
    (every_worker's arguments).

    - `streak`: used the run's days (`streak_run`) x 24 h; limit the next multiple of `days`
      x 24 h, or on the day a violation fired (today counted, the run a multiple of `days`)
      that day's; left the days still to count; open on the day the violation fired;
    - `overtime`: used the month's sum over its days of max(0, the day's measure before
      `t` less `standard`), limit `limit`, left `limit - used` (never below 0); open while a
      violation fired in the current month."""
    if rule["kind"] == "minimum_wage":
        return None
    alerts, holds = rule_alerts(key, own, intervals, rule, t)
    fired = {a[6] for a in alerts if a[3] == "violation"}
    measure = rule_measure(intervals, rule.get("measure", "work"), rule)
    today = local_day(t)
    if rule["kind"] == "streak":
        days = rule.get("days", 7)
        run, counted = streak_run(measure, t)
        target = run if counted and run and run % days == 0 else (run // days + 1) * days
        return (run * DAY, target * DAY, (target - run) * DAY, day_start(today) in fired,
                holds)
    month = first_of_month(today)
    by_day = {}
    for start, stop in measure:
        start, stop = max(start, day_start(month)), min(stop, t)
        while start < stop:
            cut = min(stop, day_start(local_day(start) + 1))
            by_day[local_day(start)] = by_day.get(local_day(start), 0) + cut - start
            start = cut
    used = sum(max(0, amount - rule["standard"]) for amount in by_day.values())
    return used, rule["limit"], max(0, rule["limit"] - used), day_start(month) in fired, holds
