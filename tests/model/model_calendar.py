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

from measures import DAY, SECOND, day_start, every_worker, first_of_month, rule_measure
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
