"""An independent model of the rule kinds `continuous` and `rest_deadline` of SPEC section 7,
with their dispatch holds, to check replay against.

Written from SPEC section 7 and docs/pack-format.md ("Measures", "Thresholds", "Kinds:
continuous", "Kinds: rest_deadline", "Holds") alone, in the plainest way, like reference.py:
one worker's measure intervals first (measures.py), then the rule's counted time and its rests
as whole lists of intervals, then one pass over them in time order. No event time, no
incremental state: every instant the model reports is computed from the whole input, and
whatever falls after the end of replay (the last `ts`, or `--until`) is dropped.

A rule is a dict of its pack keys (as `pack_case.replay_pack` writes them): `id`, `kind`,
`measure` (default `work`), `rest_unless`, `hours` (`"HH:MM-HH:MM"`), `hold`, and the kind's
parameters, durations in milliseconds (`split_break` a list of two).

Alerts are tuples (at, worker_id, rule, phase, value_seconds, limit_seconds, period_start),
holds (worker_id, rule, from, until), instants in epoch milliseconds.

Readings the model takes where the docs leave room (each said where it is used):
- a rule's counted time is its measure within `hours`; its rest is the absence of its
  `rest_unless` measure (default: the measure) within `hours` (docs/pack-format.md, `hours`:
  "outside them the rule's measure (and `rest_unless`) is false");
- a measure is paired only with a `rest_unless` that holds whenever the measure does
  (driving/duty, orders/work, carrying/orders, carrying/work): replay refuses the others for
  these kinds (docs/pack-format.md "Measures"), so that no stretch is both counted and rest;
- under `subject = "person"` (SPEC section 8) a person's measure holds when it holds for any
  of their worker ids, and their first instant is the first `ts` of any of them.
"""

from measures import (FOREVER, SECOND, every_worker, first_instant, reaches, rests,
                      rule_measure)


def rule_time(measures, rule):
    """(counted, resting-on): the intervals of the rule's measure, and of the measure whose
    absence is the rule's rest (`rest_unless`, default the measure), both within the rule's
    `hours` when it has them (docs/pack-format.md, "Parameters every rule may have" and
    "Measures")."""
    measure = rule.get("measure", "work")
    counted = rule_measure(measures, measure, rule)
    resting_on = rule_measure(measures, rule.get("rest_unless", measure), rule)
    return counted, resting_on


def continuous(worker, counted, rule_rests, rule, end):
    """docs/pack-format.md "continuous": alerts and holds of one worker's rule.

    An episode starts at the first instant of the measure after a qualifying break (or the
    worker's first); its amount is the measure's time in it. A rest (a stretch of
    `rule_rests`) of at least `break` ends it at the rest's start + `break`; with
    `split_break = [A, B]`, once the episode had a rest of at least A, a later rest of at
    least B ends it at its start + B (+ `break` if that comes first: a part of at least
    `break` never takes effect). Shorter rests neither count nor end it. `warning` at `limit -
    warn_before` (when set), `violation` at `limit`, each at the first instant of the measure
    with the amount already at the threshold, once per episode; `resolved` after a violation,
    when the ending break completes (value the episode's amount, limit `limit`);
    `period_start` the episode's start. Hold at the violation: until `from + break`, or `from
    + min(B, break)` when the episode already had a rest of at least A.
    """
    rule_id, limit, brk = rule["id"], rule["limit"], rule["break"]
    split = rule.get("split_break")
    thresholds = []
    if rule.get("warn_before") is not None:
        thresholds.append(("warning", limit - rule["warn_before"]))
    thresholds.append(("violation", limit))
    alerts, holds = [], []
    episode = None  # the open episode's start
    amount = 0
    fired = set()
    first_part = False

    def rest(start, stop):
        nonlocal episode, first_part
        if episode is None:
            return  # no episode open: nothing to end (rests before it are not in it)
        due = min(split[1], brk) if split and first_part else brk
        if stop - start >= due:
            done = start + due
            if "violation" in fired and done <= end:
                alerts.append((done, worker, rule_id, "resolved", amount // SECOND,
                               limit // SECOND, episode))
            episode = None
        elif split and stop - start >= split[0]:
            first_part = True

    pending = list(rule_rests)
    for start, stop in counted:
        # Rests are where the rest measure is false; the counted time lies outside them.
        while pending and pending[0][0] < start:
            rest(*pending.pop(0))
        if episode is None:
            episode, amount, fired, first_part = start, 0, set(), False
        for phase, threshold in thresholds:
            at = reaches(start, stop, amount, threshold)
            if phase in fired or at is None:
                continue
            fired.add(phase)
            if at > end:
                continue
            alerts.append((at, worker, rule_id, phase, (amount + at - start) // SECOND,
                           threshold // SECOND, episode))
            if phase == "violation" and rule.get("hold"):
                due = min(split[1], brk) if split and first_part else brk
                holds.append((worker, rule_id, at, at + due))
        amount += stop - start
    for start, stop in pending:
        rest(start, stop)
    return alerts, holds


def rest_deadline(worker, counted, rule_rests, first, rule, end):
    """docs/pack-format.md "rest_deadline": alerts and holds of one worker's rule.

    A qualifying rest is a rest (a stretch of `rule_rests`, which start at the worker's first
    event's `ts`, `first`) of at least `rest`. After the end of one (`first` counts as one),
    the next must start by `end + within`; if none has started by then, a violation at the
    first instant of the measure at or after the deadline (before the next qualifying rest
    starts: after it, its end sets the next deadline), once per deadline: value `at` - the
    last end, limit `within`, period_start the last end. Hold: until `from + rest`.
    """
    rule_id, need, within = rule["id"], rule["rest"], rule["within"]
    alerts, holds = [], []
    qualifying = [r for r in rule_rests if r[1] - r[0] >= need]
    last_end = first
    while True:
        deadline = last_end + within
        following = [r for r in qualifying if r[0] >= last_end]
        next_start = following[0][0] if following else FOREVER
        if next_start > deadline:
            at = first_instant(counted, deadline, next_start)
            if at is not None and at <= end:
                alerts.append((at, worker, rule_id, "violation", (at - last_end) // SECOND,
                               within // SECOND, last_end))
                if rule.get("hold"):
                    holds.append((worker, rule_id, at, at + need))
        if not following:
            break
        last_end = following[0][1]
    return alerts, holds


def rule_alerts(key, own, measures, rule, end):
    """Alerts and holds of one `continuous` or `rest_deadline` rule for one subject up to
    `end`: a worker, or a person (SPEC section 8) whose measures hold when they hold for any of
    their worker ids (measures.every_worker), their events `own` (their first instant is the
    first `ts` of any of their worker ids)."""
    first = own[0]["ts"]
    counted, resting_on = rule_time(measures, rule)
    # A rule's rests: where its rest measure is false, from the subject's first instant.
    rule_rests = rests(resting_on, first, end)
    if rule["kind"] == "continuous":
        return continuous(key, counted, rule_rests, rule, end)
    if rule["kind"] == "rest_deadline":
        return rest_deadline(key, counted, rule_rests, first, rule, end)
    raise ValueError(f"not modelled here: {rule['kind']}")


def pack_alerts(events, rules, end, session_timeout=0, persons=False):
    """Every alert and hold of `rules` for `events` (valid, in `ts` order) up to `end`,
    each list sorted, keyed by worker id; with `persons` (`subject = "person"`), by the
    `person_id` a worker id's events carry (the model's input gives every event of a worker
    id the same one, or none: a person of its own, keyed by the worker id)."""
    return every_worker(events, rules, end, session_timeout, rule_alerts, persons)


# ------------------------------------------------------------------ where a rule stands at t

def open_episode(counted, rule_rests, rule, t):
    """The `continuous` episode open at instant `t`, as (start, amount), or None when none is
    (docs/pack-format.md "continuous", as `continuous` reads it): `counted` and `rule_rests`
    are those of the stream up to `t` (`rule_rests` ending at `t` at the latest, the last one
    possibly still under way). The amount is the measure's time in the episode before `t`; a
    rest under way that has lasted its due break by `t` has ended the episode (the break
    completes at its start + `break`, "before the events stamped with its end")."""
    brk = rule["break"]
    split = rule.get("split_break")
    episode, amount, first_part = None, 0, False

    def rest(start, stop):
        nonlocal episode, first_part
        if episode is None:
            return
        due = min(split[1], brk) if split and first_part else brk
        if stop - start >= due:
            episode = None
        elif split and stop - start >= split[0]:
            first_part = True

    pending = list(rule_rests)
    for start, stop in counted:
        if start > t:
            break
        while pending and pending[0][0] < start:
            rest(*pending.pop(0))
        if episode is None:
            episode, amount, first_part = start, 0, False
        amount += min(stop, t) - start
    for start, stop in pending:
        rest(start, stop)
    return None if episode is None else (episode, amount)


def deadline_end(rule_rests, first, rule, t, resting):
    """The end of the last qualifying rest of a `rest_deadline` rule at `t` (the subject's
    first instant `first` counts as one), or None while a rest under way at `t` (`resting`:
    the rest measure is false at `t`) has lasted `rest` already (docs/rules.md section 5:
    then `used_seconds` is 0 and work resumed starts a new deadline). `rule_rests` end at `t`
    at the latest; a qualifying rest that ends at `t` exactly (its measure resuming at `t`)
    ends there: `t`."""
    last = first
    for start, stop in rule_rests:
        if stop - start >= rule["rest"]:
            if stop == t and resting:
                return None
            last = stop
    return last


def rule_status(key, own, measures, rule, t):
    """Where one `continuous` or `rest_deadline` rule stands at instant `t` for one subject
    (the `rules` entry of `/v1/workers/{id}`, docs/rules.md section 5), in milliseconds:
    (used, limit, left, open, holds). `own` and `measures` are the subject's events and
    measures up to `t` (measures.every_worker's arguments); `open` says whether the rule's
    violation fired and its episode or deadline is still the current one; `holds` are the
    rule's holds up to `t` (`rule_alerts`').

    - `continuous`: used is the open episode's amount (0 without one), limit `limit`, left
      `limit - used`;
    - `rest_deadline`: used is the wall time since the end of the last qualifying rest (0
      while a rest under way has lasted `rest`), limit `within`, left `within - used`;
    left never below 0."""
    first = own[0]["ts"]
    counted, resting_on = rule_time(measures, rule)
    rule_rests = rests(resting_on, first, t)
    alerts, holds = rule_alerts(key, own, measures, rule, t)
    fired = {a[6] for a in alerts if a[3] == "violation"}
    if rule["kind"] == "continuous":
        episode = open_episode(counted, rule_rests, rule, t)
        used = episode[1] if episode else 0
        limit = rule["limit"]
        is_open = episode is not None and episode[0] in fired
    else:
        resting = not any(a <= t < b for a, b in resting_on)
        last = deadline_end(rule_rests, first, rule, t, resting)
        used = 0 if last is None else t - last
        limit = rule["within"]
        is_open = last is not None and last in fired
    return used, limit, max(0, limit - used), is_open, holds
