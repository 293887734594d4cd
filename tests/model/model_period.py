"""An independent model of the `period` and `rolling` rule kinds of SPEC section 7, with their
dispatch holds, to check replay against.

Written from SPEC section 7 and docs/pack-format.md ("Measures", "Allowance", "Thresholds",
"`period`", "`rolling`", "Holds") alone, in the plainest way, like reference.py: each worker's
measure intervals first (measures.py), then the rule's own measure (`allowance`, `hours`), its
rests, and then the alerts by whole-input passes over the instants where the amount can change
its course. No incremental state, no event time.

A rule is a dict of pack keys, as pack_case.replay_pack writes them: durations in
milliseconds (ints), `period` a string, `count` an int, `hours` a string "HH:MM-HH:MM",
`hold` a bool. Alerts are tuples (at, worker_id, rule, phase, value_seconds, limit_seconds,
period_start) and holds (worker_id, rule, from, until), instants in epoch milliseconds.

Readings taken where SPEC and docs/pack-format.md are open:
- `value_seconds` is the amount at `at` (docs: "the measured amount at `at`"), which is above
  the threshold when the threshold was reached before `at` (a new period whose window already
  holds that much, or work resumed after stopping at the threshold).
- `period`'s reset: the amount at `t` leaves out the measure's time before the end of the
  last rest of at least `reset_rest`; a rest still going on at `t` that has lasted
  `reset_rest` already counts, its end so far being `t` (so the measure's time inside such a
  rest, possible when `rest_unless` is not implied by the measure, never counts).
- A `period` phase fires again in the same current period once a reset rest has completed
  (its start + `reset_rest`) since the phase last fired.
- `period` hold `until`: (a) the first period boundary after `from` at which the window's
  amount, with the measure stopped at `from`, is below `limit`; (b) `from + reset_rest`
  (literally, also where a `rest_unless` rest began before `from`); the earlier of the two.
- `rolling` hold `until`: the first millisecond after `from` at which the window's amount,
  with the measure stopped at `from`, is below `limit` (docs' example: 14:00:00.001).
- The time before a worker's first instant of `rest_unless` is a reset rest that has
  completed (as `since_rest` reads it, docs/pack-format.md): where the measure is true before
  that instant (a measure not within `rest_unless`), it counts nothing.
- `rest_unless = "orders"` on a rule with an `allowance` names the measure as it is: the
  allowance's idle time is a rest of `orders`.
- `hours` restrict the rule's measure before its `allowance`: idle time outside the hours is
  false for the rule, so it uses none of the day's allowance (replay's reading too; the other,
  the allowance used up by idle time outside the hours, is as plausible from the text).
"""

from measures import (FOREVER, SECOND, day_start, first_of_month, local_day,
                      every_worker, monday_of, rests, rule_measure)


def measured(intervals, start, stop):
    """Time of `intervals` within [start, stop)."""
    return sum(max(0, min(b, stop) - max(a, start)) for a, b in intervals)


def holds_at(intervals, t):
    """Whether instant `t` lies in one of `intervals` ([start, stop))."""
    return any(a <= t < b for a, b in intervals)


def thresholds(rule):
    """The rule's phases and their thresholds, in ms: `warning` when set, `violation`."""
    found = []
    if rule.get("warning"):
        found.append(("warning", rule["warning"]))
    found.append(("violation", rule["limit"]))
    return found


# ----------------------------------------------------------------------------- period

def months_back(day, n):
    """The local day starting the month `n` months before the month starting on `day`."""
    for _ in range(n):
        day = first_of_month(day - 1)
    return day


def period_of(day, period):
    """The local day starting the `period` (day, ISO week, month) that holds local `day`."""
    if period == "day":
        return day
    if period == "week":
        return monday_of(day)
    return first_of_month(day)


def window_of(day, period, count):
    """The local day starting the window of the current period holding `day` and the
    `count - 1` periods before it (docs: "`period`")."""
    start = period_of(day, period)
    if period == "day":
        return start - (count - 1)
    if period == "week":
        return start - 7 * (count - 1)
    return months_back(start, count - 1)


def next_period(day, period):
    """The local day starting the period after the one holding `day`."""
    start = period_of(day, period)
    if period == "day":
        return start + 1
    if period == "week":
        return start + 7
    return first_of_month(start + 31)


def reset_rests(intervals, measure, rule, first, end):
    """A `period` rule's reset rests up to `end`, as (completes, ends): a rest (absence of
    `rest_unless`, default the rule's `measure` intervals) of at least `reset_rest`,
    completing at its start + `reset_rest`; one still going on at `end` ends at `end + 1`.
    Empty without `reset_rest`."""
    reset = rule.get("reset_rest")
    resets = []
    if reset:
        unless = measure
        if rule.get("rest_unless"):
            unless = rule_measure(intervals, rule["rest_unless"], rule, allowance=False)
        # The time before the worker's first instant of `rest_unless` is a reset rest, as
        # for `since_rest`: the rest before the first event is taken to have lasted already.
        for start, stop in rests(unless, first - reset, end + 1):
            if stop - start >= reset:
                resets.append((start + reset, stop))
    return resets


def period_rule(worker, intervals, first, end, rule):
    """Alerts and holds of one `period` rule for one worker up to `end`.

    `intervals` are measures.measure_intervals of the worker; `first` is the `ts` of their
    first event (their rests start there). docs/pack-format.md "`period`": the amount at `t`
    is the measure's time within the window (the current local day, ISO week or month and
    the `count - 1` before it), not counting time before the end of the last rest of at least
    `reset_rest`; each phase fires at the first instant with the measure true and the amount
    at or above its threshold ("Thresholds"), at most once per current period, and again
    after a reset rest completes."""
    name = rule.get("measure", "work")
    measure = rule_measure(intervals, name, rule)
    period, count = rule["period"], rule.get("count", 1)
    resets = reset_rests(intervals, measure, rule, first, end)

    def reset_end(t):
        """Where the time counted at `t` starts after the reset rests: the end (so far) of
        the last rest of at least `reset_rest` by `t`."""
        ends = [min(stop, t) for done, stop in resets if done <= t]
        return max(ends, default=-FOREVER)

    def in_reset(t):
        return any(done <= t < stop for done, stop in resets)

    def resets_by(t):
        return sum(1 for done, _ in resets if done <= t)

    alerts, holds = [], []
    fired = set()
    for a, b in measure:
        if a > end:
            break
        b = min(b, end + 1)
        # Pieces of [a, b) in which the window and the reset point stay put.
        cuts = {a, b}
        day = local_day(a) + 1
        while day_start(day) < b:
            cuts.add(day_start(day))
            day += 1
        for done, stop in resets:
            cuts.update(x for x in (done, stop) if a < x < b)
        cuts = sorted(cuts)
        for p, q in zip(cuts, cuts[1:]):
            if in_reset(p):
                continue
            day = local_day(p)
            current = period_of(day, period)
            low = max(day_start(window_of(day, period, count)), reset_end(p))
            amount = measured(measure, low, p)
            for phase, threshold in thresholds(rule):
                key = (phase, current, resets_by(p))
                if key in fired:
                    continue
                at = p + max(0, threshold - amount)
                if at >= q or at > end:
                    continue
                fired.add(key)
                alerts.append((at, worker, rule["id"], phase,
                               max(amount, threshold) // SECOND, threshold // SECOND,
                               day_start(current)))
                if phase == "violation" and rule.get("hold"):
                    holds.append((worker, rule["id"], at,
                                  period_until(measure, rule, at, reset_end(at))))
    return alerts, holds


def period_until(measure, rule, start, counted_from):
    """A `period` hold's `until` for a violation at `start` (docs: "Hold `until`"): resting
    from `start`, the earliest of the first period boundary after it at which the window's
    amount is below `limit`, and `start + reset_rest`. `counted_from` is where the amount
    counts from after the reset rests at `start`."""
    period, count = rule["period"], rule.get("count", 1)
    boundary = next_period(local_day(start), period)
    while True:
        low = max(day_start(window_of(boundary, period, count)), counted_from)
        if measured(measure, low, start) < rule["limit"]:
            break
        boundary = next_period(boundary, period)
    until = day_start(boundary)
    if rule.get("reset_rest"):
        until = min(until, start + rule["reset_rest"])
    return until


# ---------------------------------------------------------------------------- rolling

def rolling_rule(worker, intervals, end, rule):
    """Alerts and holds of one `rolling` rule for one worker up to `end`.

    docs/pack-format.md "`rolling`": the amount at `t` is the measure's time within
    `(t - window, t]`; each phase fires at the first instant with the measure true and the
    amount at or above its threshold, and fires again only after the amount has fallen below
    it. Between consecutive instants where the measure starts or stops, now or `window`
    earlier, the amount moves at a constant rate (+1, 0 or -1 ms a ms)."""
    measure = rule_measure(intervals, rule.get("measure", "work"), rule)
    window = rule["window"]
    points = {end + 1}
    for a, b in measure:
        points.update(x for x in (a, b, a + window, b + window) if x <= end)
    points = sorted(points)

    def amount(t):
        return sum(max(0, min(b, t) - max(a, t - window)) for a, b in measure)

    alerts, holds = [], []
    armed = {phase: True for phase, _ in thresholds(rule)}
    for p, q in zip(points, points[1:]):
        on = holds_at(measure, p)
        rate = int(on) - int(holds_at(measure, p - window))
        start = amount(p)
        for phase, threshold in thresholds(rule):
            t = p
            if not armed[phase]:
                # The first millisecond with the amount below the threshold.
                if start < threshold:
                    t = p
                elif rate < 0:
                    t = p + (start - threshold) + 1
                else:
                    continue
                if t >= q:
                    continue
                armed[phase] = True
            if not on:
                continue
            now = start + rate * (t - p)
            if now >= threshold:
                at = t
            elif rate > 0:
                at = t + (threshold - now)
            else:
                continue
            if at >= q or at > end:
                continue
            armed[phase] = False
            alerts.append((at, worker, rule["id"], phase, amount(at) // SECOND,
                           threshold // SECOND, at - window))
            if phase == "violation" and rule.get("hold"):
                holds.append((worker, rule["id"], at, rolling_until(measure, rule, at)))
    return alerts, holds


def rolling_until(measure, rule, start):
    """A `rolling` hold's `until` for a violation at `start`: resting from `start`, the
    amount at `t` is the measure's time in [t - window, start); the first millisecond at
    which it is below `limit` is `window` + 1 ms after the latest `x` with the time in
    [x, start) still at `limit` (docs: driving from 06:00, 8 h window, 4 h limit: 14:00:00.001).
    """
    limit = rule["limit"]
    total = 0
    for a, b in reversed([(a, min(b, start)) for a, b in measure if a < start]):
        if total + b - a >= limit:
            return b - (limit - total) + 1 + rule["window"]
        total += b - a
    raise AssertionError("a violation without the limit's time before it")


# ------------------------------------------------------------------------------ whole

def alerts_and_holds(events, rules, end, session_timeout=0, persons=False):
    """Every alert and hold of the `period` and `rolling` `rules` over `events` (valid, in
    `ts` order) up to `end`, sorted; with `persons`, per person (measures.every_worker)."""
    def one(worker, own, intervals, rule, end):
        if rule["kind"] == "period":
            return period_rule(worker, intervals, own[0]["ts"], end, rule)
        return rolling_rule(worker, intervals, end, rule)

    return every_worker(events, rules, end, session_timeout, one, persons)


# ------------------------------------------------------------------ where a rule stands at t

def period_amount(intervals, first, rule, t):
    """A `period` rule's amount at instant `t` (docs/pack-format.md "period"): the measure's
    time within the window of the current period before `t`, not counting time before the
    end of the last reset rest; 0 inside a reset rest that has completed by `t` (whose end so
    far is `t`). `intervals` are the subject's measures up to `t`, `first` its first `ts`.
    Also gives the reset rests (`reset_rests`)."""
    measure = rule_measure(intervals, rule.get("measure", "work"), rule)
    resets = reset_rests(intervals, measure, rule, first, t)
    if any(done <= t < stop for done, stop in resets):
        return 0, resets
    low = day_start(window_of(local_day(t), rule["period"], rule.get("count", 1)))
    low = max([low] + [min(stop, t) for done, stop in resets if done <= t])
    return measured(measure, low, t), resets


def rolling_amount(intervals, rule, t):
    """A `rolling` rule's (amount, left) at instant `t`: the measure's time in the window
    `(t - window, t]`, and the least measure from `t` on that brings the amount to `limit`,
    the measure running without a pause from `t` while the time before `t` leaves the window
    (docs/rules.md section 5: "how much more of the measure, from now on, reaches the
    limit"; a pause would only let more leave). With `hours`, the measure from `t` on is
    counted as if the hours were on ("whether or not the hours are on now")."""
    measure = rule_measure(intervals, rule.get("measure", "work"), rule)
    window, limit = rule["window"], rule["limit"]
    amount = measured(measure, t - window, t)
    if amount >= limit:
        return amount, 0
    # x + the old time still in the window at t + x grows with x (by 1 - what leaves).
    low, high = 0, limit
    while low < high:
        x = (low + high) // 2
        if x + measured(measure, t + x - window, t) >= limit:
            high = x
        else:
            low = x + 1
    return amount, low


def rule_status(key, own, intervals, rule, t):
    """Where one `period` or `rolling` rule stands at instant `t` for one subject (the `rules`
    entry of `/v1/workers/{id}`, docs/rules.md section 5), in milliseconds: (used, limit,
    left, open, holds), `holds` the rule's up to `t`. `own` and `intervals` are the
    subject's events and measures up to `t` (measures.every_worker's arguments).

    - `period`: used is `period_amount`, left `limit - used` (the budget of the current
      window); open while a violation fired in the current period and no reset rest has
      completed since;
    - `rolling`: used and left are `rolling_amount`'s; open while used is at `limit` or
      above: a sliding window is none of the "open episode, shift, period or deadline" of
      docs/rules.md's `open_violations`, so rolling is a kind "that does not track it", whose
      violation is open when its "used time is at the limit" (also where the measure stopped
      exactly at the limit and the rule did not fire).

    left is never below 0; limit is `limit`."""
    if rule["kind"] == "period":
        alerts, holds = period_rule(key, intervals, own[0]["ts"], t, rule)
        used, resets = period_amount(intervals, own[0]["ts"], rule, t)
        current = day_start(period_of(local_day(t), rule["period"]))
        is_open = any(a[3] == "violation" and a[6] == current
                      and not any(a[0] < done <= t for done, _ in resets) for a in alerts)
        return used, rule["limit"], max(0, rule["limit"] - used), is_open, holds
    _, holds = rolling_rule(key, intervals, t, rule)
    used, left = rolling_amount(intervals, rule, t)
    return used, rule["limit"], left, used >= rule["limit"], holds
