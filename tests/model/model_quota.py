"""A model of SPEC section 7's `quota_p90` kind (section 4's aggregate rule, with its
parameters), with `hours`, under `subject = "worker"` and `"person"`, to check replay
against.

Written from SPEC sections 4, 7 and 8 and docs/pack-format.md alone, in the plainest way
(whole-input passes, no event time), like reference.py's `quota_p90`, which it follows for
the default pack:

- Parameters (docs/pack-format.md, "Section 4's kinds"): `standard` (default
  `$daily_standard`, 8 h), also written `daily_standard`; `min_workers` (default
  `$quota_min_workers`, 10), also written `quota_min_workers`. No `measure` (a `quota_p90`
  rule measures working time), no `hold` and no `roles`; at most one in a pack (replay
  refuses the others at start: test_quota.py).
- At each local midnight up to the end of replay (`at` at or before the end), for each group
  (platform, role, city): the workers (worker ids) who worked the day ending there, each in
  the group of their last event strictly before that midnight (every kind counts, a bare
  heartbeat too; a missing field is its default on that event, section 2). A group with
  fewer than `min_workers` of them is skipped; else the nearest-rank 90th percentile of
  their day's working time (with the n values sorted ascending, the ceil(0.9 n)-th) is a
  `violation` when strictly above `standard`. The alert: `at` the midnight, key
  `platform/role/city`, the rule's id, value the percentile and limit `standard` in whole
  seconds cut down, `period_start` the day's start.
- Working time is SPEC section 3's, per worker id (measures.measure_intervals' `work`, with
  the worker id's own `session_timeout`).
- `hours` (docs/pack-format.md: "On ... `quota_p90` ... it limits the working time they read
  to the hours ... a worker without such time did not work for the rule: no check, not in
  the quota's group"): a worker's day is their working time within the hours on that local
  day (a window wrapping midnight is cut there: the 22:00-24:00 of one day and the
  00:00-06:00 of the next count for their own days); a worker with none that day is not in
  any group of it, and does not count toward `min_workers`. The group is still that of the
  worker's last event before midnight, whenever in the day it came.
- `subject = "person"` (SPEC section 8: "`quota_p90` stays per `worker_id`"): still each
  worker id's own working time and own group, never the person's union (two worker ids of
  one person working at once count each in their own group), within the hours of the
  person's rule set (docs/pack-format.md; here every subject has the one pack).

The input is valid events in `ts` order (integer epoch milliseconds), where every event of
one worker id carries the same `person_id` or none (pack_case.maybe_persons), in the default
zone.
"""

from measures import HOUR, SECOND, day_start, hours_of, measure_intervals, within_hours
from reference import by_day, group_of


def standard_of(rule):
    """The rule's `standard` in milliseconds (either name; left out or `"$daily_standard"`:
    the config's, here the default 8 h)."""
    value = rule.get("standard", rule.get("daily_standard", "$daily_standard"))
    return 8 * HOUR if value == "$daily_standard" else value


def min_workers_of(rule):
    """The rule's `min_workers` (either name; left out or `"$quota_min_workers"`: the
    config's, here the default 10)."""
    value = rule.get("min_workers", rule.get("quota_min_workers", "$quota_min_workers"))
    return 10 if value == "$quota_min_workers" else value


def nearest_rank_p90(values):
    """The ceil(0.9 n)-th smallest of `values` (n > 0), counting from 1."""
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)
    return ordered[rank - 1]


def rule_day_work(work, rule, end):
    """A worker's working time by local day (days ending at or before `end`, and the days
    after, which no alert reads) as `rule` reads it: within its `hours`."""
    if rule.get("hours"):
        work = within_hours(work, *hours_of(rule["hours"]))
    days = {}
    for start, stop, day in by_day(work, end):
        days[day] = days.get(day, 0) + stop - start
    return days


def model(events, rules, end, session_timeout=0, persons=False):
    """Every `quota_p90` alert of `rules` (a pack's, each a dict of its keys) over `events`
    up to `end`, sorted, as (at, `platform/role/city`, rule id, "violation", value seconds,
    limit seconds, period_start)."""
    by_worker = {}
    for event in events:
        by_worker.setdefault(event["worker_id"], []).append(event)
    work = {worker: measure_intervals(own, session_timeout)["work"]
            for worker, own in by_worker.items()}
    found = []
    for rule in rules:
        if rule["kind"] != "quota_p90":
            continue
        standard = standard_of(rule)
        # (day, group) -> the day's times of the workers in it.
        groups = {}
        for worker, own in by_worker.items():
            for day, amount in rule_day_work(work[worker], rule, end).items():
                midnight = day_start(day + 1)
                if amount <= 0 or midnight > end:
                    continue
                group = group_of([e for e in own if e["ts"] < midnight][-1])
                groups.setdefault((day, group), []).append(amount)
        for (day, group), amounts in groups.items():
            if len(amounts) < min_workers_of(rule):
                continue
            p90 = nearest_rank_p90(amounts)
            if p90 > standard:
                found.append((day_start(day + 1), "/".join(group), rule["id"], "violation",
                              p90 // SECOND, standard // SECOND, day_start(day)))
    return sorted(found)
