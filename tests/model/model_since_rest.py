"""An independent model of the `since_rest` rule kind (SPEC section 7, docs/pack-format.md
"since_rest"), to check replay against.

Written from SPEC section 7 and docs/pack-format.md alone, in the plainest way, like
reference.py: whole-input passes over one worker's intervals (measures.py), no event time, no
incremental state. For each worker and each rule:

1. the rule's intervals (`rule_intervals`): its measure `M` (with `allowance`, `orders` plus the
   day's first `allowance` of idle time), the measure `R` whose absence is its rest
   (`rest_unless`, default `M`) and, with `elapsed_from`, the measure `E` the shift is timed
   from; `hours` makes them false outside the local wall-clock hours;
2. its shifts (`shifts`): maximal runs of `R` joined across rests shorter than `reset_rest`,
   each ended by a **reset rest** (a rest of at least `reset_rest`; the time before the
   worker's first instant of `R` is one, "since ever"); with `elapsed_from`, a shift starts at
   the first instant of `E` from there;
3. per shift, in time order (`rule_alerts`): `warning` and `violation` at the first instant of
   `M` with the shift's amount already at the threshold, the weekly extensions (counted
   against the local ISO week in which the shift started), `resolved` when the reset rest
   completes, and the hold (`from + reset_rest`).

Alerts are tuples (at, worker_id, rule, phase, value_seconds, limit_seconds, period_start) and
holds (worker_id, rule, from, until), instants in epoch milliseconds, as pack_case.replay_pack
gives them. The zone is Asia/Shanghai (+08:00 all year).

Readings taken where SPEC and docs are open or silent:

- Rules as the docs' examples write them keep `M` within `R` within `E` (a measure is never
  true in its rule's rest, and `E` holds at the instant a rest ends): `carrying` within
  `orders` within `work`, `driving` within `duty`, `orders` with an allowance within `work`.
  Then a shift timed from `E` starts where the reset rest ends, as one without it does, and
  the next two readings change nothing. test_since_rest.py's first random test keeps to such
  rules; its second takes any measures.
- Where `M` is true in the rule's rest: until that rest has lasted `reset_rest` it is not a
  reset rest, so `M` in it still counts for the shift and may fire its phases (SPEC: "the
  measure accumulated since the end of the last rest of at least `reset_rest`"); once the rest
  completes, `M` counts for nothing until the next shift. `resolved` carries the shift's
  amount, `M`'s time in the rest included (docs/pack-format.md: "the shift's amount up to the
  rest's start" until the model found replay counting the rest's `M` too: the docs now say
  so, since a violation reached in the rest carries that time as well).
- Where `E` does not hold when a reset rest ends: the shift starts at the first instant of `E`
  from the end of the reset rest up to the completion of the next one (docs: "`M` within a
  rest that already is a reset rest starts no shift"); a run of `R` without one has no shift.
  Should that instant fall inside the shift's closing rest, `resolved`'s wall time "from the
  shift's first instant ... to the rest's start" is negative: the model gives 0.
- The time before a worker's first instant of `R` is a reset rest, however recent their first
  event (SPEC: "or the worker's first such instant"; tests/cli.rs's hand case agrees).
- An extension is taken at the instant the violation would fire at `limit` (the first instant
  of `M` with the amount at `limit` already): a shift that stops exactly at `limit` uses none
  (as tests/packs/eu-561.toml reads it). It counts against the ISO week of the shift's start,
  whether or not that week is already past; the violation then fires at `extended_limit`,
  possibly at that same instant (with `elapsed_from`, when the measure resumes past both).
- `hours` with an `allowance`: the hours cut `orders` and the idle time first, and the
  allowance counts the idle time within them (idle time outside the hours is the rule's rest,
  uncounted, so it uses none of the allowance). The other reading (the day's first idle time
  uses the allowance wherever it falls, then the hours cut) fits the docs' words as well;
  replay takes this one.
- `hours` cuts `elapsed_from` too (the docs name only the measure and `rest_unless`; replay
  agrees); it matters only where `E` does not hold when a rest ends.
- `allowance` belongs to the measure: a `rest_unless` or `elapsed_from` naming `orders` reads
  plain `orders`.
- A warning's value is the amount at its instant, its limit the `warning` threshold.
"""

from measures import (FOREVER, SECOND, every_worker, first_instant, local_day, monday_of,
                      rule_measure)


def rule_intervals(intervals, rule):
    """The rule's (M, R, E): the intervals of its measure, of the measure whose absence is its
    rest, and of its `elapsed_from` measure (None without one), from a worker's `intervals`
    (measures.measure_intervals). docs/pack-format.md "Measures", "Allowance" and `hours`."""
    measure = rule_measure(intervals, rule.get("measure", "work"), rule)
    rest_unless = (rule_measure(intervals, rule["rest_unless"], rule, allowance=False)
                   if rule.get("rest_unless") else measure)
    elapsed = (rule_measure(intervals, rule["elapsed_from"], rule, allowance=False)
               if rule.get("elapsed_from") else None)
    return measure, rest_unless, elapsed


def shifts(rest_unless, elapsed, reset_rest):
    """The shifts of a rule whose rest is the absence of `rest_unless`: (start, stop), `stop`
    the start of the reset rest that ends the shift (`FOREVER` while none has begun).

    A shift runs from the end of a reset rest (the worker's first instant of `R`) to the start
    of the next reset rest; the rests inside it are shorter than `reset_rest`. With
    `elapsed_from`, it starts at the first instant of `E` from that end until the next reset
    rest completes (E within a rest already a reset rest starts nothing); a stretch of `R`
    without such an instant has no shift.
    """
    found = []
    # Runs of R, joined across rests shorter than `reset_rest`.
    pieces = []
    for start, stop in rest_unless:
        if pieces and start - pieces[-1][1] < reset_rest:
            pieces[-1][1] = stop
        else:
            pieces.append([start, stop])
    for start, stop in pieces:
        if elapsed is None:
            found.append((start, stop))
            continue
        completes = stop + reset_rest if stop < FOREVER else FOREVER
        first = first_instant(elapsed, start, completes)
        if first is not None:
            found.append((first, stop))
    return found


def clip(intervals, start, stop):
    """`intervals` within [start, stop)."""
    out = []
    for a, b in intervals:
        a, b = max(a, start), min(b, stop)
        if a < b:
            out.append((a, b))
    return out


def first_at(pieces, start, threshold, elapsed):
    """The first instant of the measure (`pieces`, the shift's, in order) at which the shift's
    amount has already reached `threshold`, and the amount then; None when there is none.

    The amount at `t` is the measure's time in [start, t), or with `elapsed` the wall time
    t - start (SPEC section 7 "since_rest"; section 4's thresholds)."""
    before = 0
    for a, b in pieces:
        if elapsed:
            at = max(a, start + threshold)
            if at < b:
                return at, at - start
        else:
            at = a + max(0, threshold - before)
            if at < b:
                return at, before + at - a
            before += b - a
    return None


def resolved_value(pieces, start, stop, elapsed):
    """`resolved`'s value: with `elapsed`, the wall time from the shift's start to `stop`, the
    start of its reset rest; else the measure's time in the shift, `pieces` (up to the reset
    rest's completion: the measure's time in that rest counts, as it did for the phases, where
    the measure can be true in its rule's rest)."""
    if elapsed:
        return max(0, stop - start)
    return sum(b - a for a, b in pieces)


def rule_alerts(worker, intervals, rule, end):
    """One rule's alerts and holds for one worker up to `end` (docs/pack-format.md
    "since_rest": warning, violation with weekly extensions, resolved; hold until `from +
    reset_rest`)."""
    measure, rest_unless, elapsed = rule_intervals(intervals, rule)
    reset_rest = rule["reset_rest"]
    limit = rule["limit"]
    warning = rule.get("warning")
    extended = rule.get("extended_limit")
    per_week = rule.get("extensions_per_week", 0) if extended is not None else 0
    timed = elapsed is not None
    used = {}
    alerts, holds = [], []

    def emit(phase, at, value, threshold, start):
        if at <= end:
            alerts.append((at, worker, rule["id"], phase, value // SECOND, threshold // SECOND,
                           start))

    for start, stop in shifts(rest_unless, elapsed, reset_rest):
        # The measure counts until the reset rest completes: a rest shorter than `reset_rest`
        # is inside the shift, and one of `reset_rest` is not a reset rest before it has
        # lasted that long (it matters only where the measure is true in its rule's rest).
        completes = stop + reset_rest if stop < FOREVER else FOREVER
        pieces = clip(measure, start, completes)
        if warning is not None:
            found = first_at(pieces, start, warning, timed)
            if found:
                emit("warning", found[0], found[1], warning, start)
        found = first_at(pieces, start, limit, timed)
        threshold = limit
        if found and per_week:
            week = monday_of(local_day(start))
            if used.get(week, 0) < per_week:
                used[week] = used.get(week, 0) + 1
                threshold = extended
                found = first_at(pieces, start, extended, timed)
        if not found:
            continue
        at, value = found
        emit("violation", at, value, threshold, start)
        if rule.get("hold") and at <= end:
            holds.append((worker, rule["id"], at, at + reset_rest))
        if stop < FOREVER:
            emit("resolved", stop + reset_rest, resolved_value(pieces, start, stop, timed),
                 threshold, start)
    return alerts, holds


def alerts_and_holds(events, rules, end, session_timeout=0, persons=False):
    """Every alert and hold of `rules` (dicts of rule keys, durations in ms, all of kind
    `since_rest`) over `events` (valid, in `ts` order) up to `end`, each list sorted; with
    `persons`, per person (measures.every_worker)."""
    return every_worker(events, rules, end, session_timeout,
                        lambda worker, _, intervals, rule, end:
                        rule_alerts(worker, intervals, rule, end), persons)


# ------------------------------------------------------------------ where a rule stands at t

def shift_at(intervals, rule, t):
    """A `since_rest` rule at instant `t`, from the subject's measures up to `t`: (start, used,
    threshold) of the shift under way at `t`, `start` None between shifts (used 0).

    A shift is under way from its start until its reset rest completes (its start +
    `reset_rest`): in a rest that has not lasted `reset_rest` yet the shift goes on, and so
    does the wall time of an `elapsed_from` shift. With `elapsed_from`, a run of the rest
    measure before its first instant of `E` has no shift yet. Used is the measure's time in
    the shift before `t`, or with `elapsed_from` the wall time `t - start`.

    The threshold is the violation's: `extended_limit` when the shift uses an extension, i.e.
    when fewer than `extensions_per_week` earlier shifts started in the local ISO week of its
    start used one (it takes one on reaching `limit`, or will); else `limit`. Between shifts,
    that of a shift started at `t` (docs/rules.md section 5: `extended_limit` while the
    current local ISO week has an extension left)."""
    measure, rest_unless, elapsed = rule_intervals(intervals, rule)
    reset_rest, limit = rule["reset_rest"], rule["limit"]
    extended = rule.get("extended_limit")
    per_week = rule.get("extensions_per_week", 0) if extended is not None else 0
    timed = elapsed is not None
    used = {}

    def threshold(day):
        week = monday_of(day)
        return extended if per_week and used.get(week, 0) < per_week else limit

    for start, stop in shifts(rest_unless, elapsed, reset_rest):
        if start > t:
            break
        completes = stop + reset_rest if stop < FOREVER else FOREVER
        pieces = clip(measure, start, completes)
        if t < completes:
            amount = t - start if timed else sum(b - a for a, b in clip(pieces, start, t))
            return start, amount, threshold(local_day(start))
        # A past shift: did it use an extension (as rule_alerts counts them)?
        if per_week and first_at(pieces, start, limit, timed):
            week = monday_of(local_day(start))
            if used.get(week, 0) < per_week:
                used[week] = used.get(week, 0) + 1
    return None, 0, threshold(local_day(t))


def rule_status(key, own, intervals, rule, t):
    """Where one `since_rest` rule stands at instant `t` for one subject (the `rules` entry of
    `/v1/workers/{id}`, docs/rules.md section 5), in milliseconds: (used, limit, left, open,
    holds), from `shift_at`: left is `threshold - used` (wall time with `elapsed_from`),
    never below 0; open while the shift under way had its violation; `holds` the rule's up
    to `t`. `intervals` are the subject's measures up to `t` (measures.every_worker's
    arguments)."""
    # Nothing after `t` changes the alerts up to `t` or the shift at `t`; cut there, the
    # measures open at `t` list no `hours` pieces far past it.
    intervals = {name: clip(found, -FOREVER, t + 1) for name, found in intervals.items()}
    alerts, holds = rule_alerts(key, intervals, rule, t)
    start, amount, threshold = shift_at(intervals, rule, t)
    is_open = start is not None and any(a[3] == "violation" and a[6] == start for a in alerts)
    return amount, threshold, max(0, threshold - amount), is_open, holds
