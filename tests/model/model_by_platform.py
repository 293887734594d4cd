"""A model of the `by_platform` of the rule packs' person alerts (SPEC section 8, docs/persons.md),
for every pack kind the other models cover (model_continuous.py, model_period.py,
model_since_rest.py, model_calendar.py), to check replay against.

Written from SPEC sections 7 and 8, docs/persons.md and docs/pack-format.md alone, like
reference.py's `platform_split` (the default pack's), whose platform rule it reuses
(`reference.platform_intervals`): whole-input passes, no event time.

For each alert of a person named by a `person_id` (not a worker id standing for a person of
its own, whose alerts carry no `by_platform`; not `quota_p90`, which stays per worker id),
`by_platform` is the time the alert's rule measures from the alert's `period_start` to its
`at`, split by the platform of the worker id that worked it (docs/persons.md: "the time the
alert's rule measures in its episode or period up to `at` (the same span as `period_start` to
`at`) by the platform of the worker id that worked it"):

- the rule's measure is its `measure` (default `work`) as the rule reads it
  (measures.rule_measure): within its `hours`, and for `orders` with an `allowance` the
  person's order time plus the day's first `allowance` of the person's idle time;
- a worker id worked an instant of that measure when its own measure holds then (each
  worker id's measure intervals, with its own `session_timeout`), and that instant goes to
  the platform of the worker id's latest event at or before it (`platform_intervals`: of one
  `ts` the last in input order, `unknown` without a platform);
- a platform's time is the union over its worker ids (two at once count once there); an
  overlap across platforms counts under each, so the entries may add up to more than the
  rule's amount;
- whole seconds cut down per platform; a platform is listed when it has more than 0 ms in
  the span (under a second: `0`), and not at all without.

Readings taken where the docs leave room (each follows from the sentence above):

- The span is the time the alert's amount measures, up to `at`: `[period_start, at)` for
  every kind but `period`, whose amount is its window's (the `count` periods up to `at`,
  after the last reset rest), so its span starts there (docs/persons.md). `continuous`
  the episode up to `at` (`resolved`: the whole episode, its closing break included, which
  holds none of the measure); `rolling`
  `[at - window, at)`, the window; `since_rest` the shift (`resolved`: up to the reset rest's
  completion, so the measure's time inside that rest, where the measure can be true in its
  rule's rest, counts as it does for `resolved`'s value); `rest_deadline` from the end of
  the last qualifying rest; `streak` `{}` (it fires at its day's first instant of the
  measure); `overtime` the month's measure (not the overtime, as `monthly_overtime`);
  `minimum_wage` the day's (its `at` is the closing midnight).
- `elapsed_from` rules: the amount is wall time, which no worker id works and no platform
  owns; `by_platform` gives the rule's `measure` (not the `elapsed_from` measure, nor the
  wall time) in the shift up to `at`, as `monthly_overtime` gives working time rather than
  the overtime (docs/persons.md): the measured time, not the alert's value.
- `allowance`: the allowance is the person's (the rule's measure is the person's: their
  idle time is their work without any worker id's order, capped per local day), so an
  instant the rule counts as order time goes to the platforms of the worker ids with an
  active order then, and an instant it counts as allowance (the person idle, the day's
  allowance not used up) to the platforms of the worker ids working then (all of them idle,
  none having an order). A worker id waiting online while another carries an order works
  no measured time: the rule measures order time then, which the other worker id worked.
  So without overlap across platforms the entries add up to the measure's time in the span.
  The other readings (each worker id's own allowance, or every worker id working within the
  rule's measure) would count time the rule does not measure, or measure it twice. (Replay
  counted a worker id's waiting beside another's order under its platform, until this model
  found it.)
"""

from measures import SECOND, day_start, local_day, measure_intervals, minus, rule_measure, union
from model_period import reset_rests, window_of
from reference import platform_intervals


def intersect(left, right):
    """The instants in both sorted, disjoint interval lists."""
    found = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if a < b:
            found.append([a, b])
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return found


def worked_by(person, own, rule):
    """The instants of `rule`'s measure (of a person whose measures are `person`) that one
    of their worker ids, whose measures are `own`, worked (the readings above)."""
    name = rule.get("measure", "work")
    if name == "orders" and rule.get("allowance"):
        counted = rule_measure(person, name, rule)
        person_orders = rule_measure(person, "orders", rule, allowance=False)
        allowance = minus(counted, person_orders)
        return union(rule_measure(own, "orders", rule, allowance=False)
                     + intersect(rule_measure(own, "work", rule), allowance))
    return rule_measure(own, name, rule)


def split_seconds(platforms, start, stop):
    """{platform: whole seconds of its intervals within [start, stop)}, platforms with more
    than 0 ms only."""
    split = {}
    for platform, pieces in platforms.items():
        time = sum(max(0, min(b, stop) - max(a, start)) for a, b in pieces)
        if time > 0:
            split[platform] = time // SECOND
    return split


def span_start(person, rule, alert, first):
    """Where the time `by_platform` splits starts for `alert` of `rule`: its `period_start`,
    but for a `period` rule the start of its amount, the window of `count` periods holding
    `at` after the last reset rest (`model_period`'s window and reset rests of the person's
    measures `person`, whose first event is at `first`)."""
    if rule["kind"] != "period":
        return alert[6]
    at = alert[0]
    measure = rule_measure(person, rule.get("measure", "work"), rule)
    low = day_start(window_of(local_day(at), rule["period"], rule.get("count", 1)))
    for done, stop in reset_rests(person, measure, rule, first, at):
        if done <= at:
            low = max(low, min(stop, at))
    return low


def by_platform(events, rules, alerts, persons=True, session_timeout=0):
    """{alert: {platform: seconds}} for every alert among `alerts` (the models' tuples (at,
    key, rule, phase, value, limit, period_start)) of a person named by a `person_id`, under
    `rules` (the pack's rule dicts) over `events` (valid, in `ts` order; every event of a
    worker id carries the same `person_id`, or none). Empty without `persons` (`subject =
    "worker"`: no alert has `by_platform`)."""
    if not persons:
        return {}
    rules = {rule["id"]: rule for rule in rules}
    members = {}
    for event in events:
        if "person_id" in event:
            members.setdefault(event["person_id"], {}).setdefault(
                event["worker_id"], []).append(event)
    people = {}
    for person, by_worker in members.items():
        own = {worker: measure_intervals(mine, session_timeout)
               for worker, mine in by_worker.items()}
        # The person's measures, as measures.every_worker forms them.
        union_of = {name: union([i for m in own.values() for i in m[name]])
                    for name in next(iter(own.values()))}
        union_of["idle"] = minus(union_of["work"], union_of["orders"])
        people[person] = (by_worker, own, union_of)
    # A rule's platform intervals per person, made once.
    cache = {}
    splits = {}
    for alert in alerts:
        at, key, rule_id = alert[0], alert[1], alert[2]
        if key not in people or rule_id == "quota_p90":
            continue
        if (key, rule_id) not in cache:
            by_worker, own, person = people[key]
            platforms = {}
            for worker, mine in by_worker.items():
                worked = worked_by(person, own[worker], rules[rule_id])
                for platform, pieces in platform_intervals(mine, worked).items():
                    platforms.setdefault(platform, []).extend(pieces)
            cache[key, rule_id] = {p: union(pieces) for p, pieces in platforms.items()}
        by_worker, _, person = people[key]
        first = min(e["ts"] for mine in by_worker.values() for e in mine)
        start = span_start(person, rules[rule_id], alert, first)
        splits[alert] = split_seconds(cache[key, rule_id], start, at)
    return splits
