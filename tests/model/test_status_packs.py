"""`workhours status --at TS` against the rule pack models: where each subject stands against
each rule at an instant (SPEC section 7, end; docs/rules.md section 5 and its table of the
`/v1/workers/{id}` object).

Random streams (pack_case.random_events: every kind of event, `activity` included, some
instants off the minute; in some streams every instant and duration on a coarse grid, so that
amounts meet thresholds exactly) under packs of one to four random rules of the kinds
`continuous`, `rest_deadline`, `period`, `rolling`, `since_rest`, `streak`, `overtime` (and
now and then `minimum_wage`), drawn by the generators of test_continuous.py, test_period.py,
test_since_rest.py and test_calendar.py (every measure, `rest_unless`, `hours`, `allowance`,
`reset_rest`, `elapsed_from`, extensions, split breaks, holds, `roles`), with a random
`session_timeout`; a third of them under `subject = "person"`, a third read out of order
within `allowed_lateness` with copies of some events. Each goes through `status --at` at a
few instants (random ones, event instants, and the model's alert and hold instants, exactly
and 1 ms either side). For each subject with an event at or before the instant, the view's
`rules` (`{"rule", "used_seconds", "limit_seconds", "left_seconds"}`, in pack order, one per
rule of the subject's that measures time), `rule_kinds`, the `left_seconds` map,
`open_violations` and `holds` must be the models' (model_*.py, `rule_status`), and its
subject keys (`worker_id`, or `person_id` and the sorted `worker_ids`) the stream's; the holds
a view lists are, byte for byte, those `replay --until TS --holds` wrote that are still open.

Readings taken where SPEC and the docs leave room (each model's `rule_status` says its own):
- A view stands at `--at` after every event stamped at or before it, and after every timer
  at or before it (replay `--until` reads them so: SPEC section 5); amounts count the
  measure's time before the instant (`used_seconds` at the instant a measure starts is the
  amount before it).
- A hold is open at `TS` when `from <= TS < until`.
- `open_violations`: the rules whose violation fired (at or before `TS`) in the episode,
  deadline, shift or current period still under way (docs: "fired and still holds"): a
  `continuous` episode not yet ended by its break, a `rest_deadline` deadline still running
  (its violation counted from the end of the last qualifying rest, and no rest under way
  has lasted `rest` yet: then used is 0, the whole of `within` is left, and the deadline
  no longer holds), a `since_rest` shift whose reset rest
  has not completed, a `period` violation of the current period with no reset rest completed
  since, an `overtime` violation of the current month, a `streak` violation of today (docs);
  for `rolling`, whose sliding window is none of those, a "kind that does not track it":
  open when its used time is at the limit (so also where the measure stopped exactly at the
  limit and nothing fired). In pack order.
- `continuous`: used the open episode's measure time (0 once a qualifying break has
  completed: at its start + `break`); `rest_deadline`: the wall time since the end of the last
  qualifying rest (the docs' own words); both with `limit - used` left.
- `period`: the window's amount after the last reset rest (0 inside a completed reset rest);
  left the limit less it (docs).
- `rolling`: left the least measure that, running from `TS` without a pause, brings the
  window's sum to `limit` while older time leaves it (a pause only lets more leave); with
  `hours`, counted as if the hours were on ("whether or not the hours are on now").
- `since_rest`: used the shift's measure time, with `elapsed_from` the wall time since its
  start, until its reset rest completes (a rest under way that has not lasted `reset_rest`
  leaves the shift going); limit `extended_limit` while the shift's ISO week (between shifts
  the current week) has an extension left, or the shift took one; 0 used between shifts.
- `streak`: as docs/rules.md section 5 words it; a day counts from its first instant of the
  measure, also when that instant is `TS` itself.
- `overtime`: the month's sum over its days of max(0, the day's measure - `standard`).

A mismatch names the seed: rerun it with
`MODEL_SEED=N python3 -m pytest test_status_packs.py -q -p no:cacheprovider`.
`MODEL_CASES` (default 300) sets how many random streams run.
"""

import json
import random
import subprocess

import pytest

import model_calendar
import model_continuous
import model_period
import model_since_rest
from measures import DAY, HOUR, MINUTE, SECOND, every_worker
from pack_case import (BASE_MS, BIN, instant, local, maybe_persons, maybe_roles,
                       random_events, run_status, seeds, status_pack, write_case)
from reference import in_zone
from test_calendar import random_rules as calendar_rules
from test_continuous import random_rule as continuous_rule
from test_continuous import stream
from test_period import random_rule as period_rule
from test_reference import disorder
from test_since_rest import on_grid
from test_since_rest import random_rule as since_rest_rule

D = "2026-03-02"

# Each kind's model: `rule_status` (where a rule stands at an instant) and the whole-stream
# alerts and holds.
MODELS = {
    "continuous": (model_continuous, model_continuous.pack_alerts),
    "rest_deadline": (model_continuous, model_continuous.pack_alerts),
    "period": (model_period, model_period.alerts_and_holds),
    "rolling": (model_period, model_period.alerts_and_holds),
    "since_rest": (model_since_rest, model_since_rest.alerts_and_holds),
    "streak": (model_calendar, model_calendar.model),
    "overtime": (model_calendar, model_calendar.model),
    "minimum_wage": (model_calendar, model_calendar.model),
}


def model_holds(events, rules, end, session_timeout, persons):
    """Every hold of `rules` up to `end` (the models' tuples, sorted), and their alerts."""
    alerts, holds = [], []
    for whole in {whole for _, whole in MODELS.values()}:
        mine = [rule for rule in rules if MODELS[rule["kind"]][1] is whole]
        if mine:
            found, held = whole(events, mine, end, session_timeout, persons)
            alerts += found
            holds += held
    return sorted(alerts), sorted(holds)


def model_views(events, rules, at, session_timeout=0, persons=False):
    """What the models say of the views at `at`: per subject, (worker ids, `rules` entries as
    (rule, used_seconds, limit_seconds, left_seconds) in pack order, the kinds by rule, open
    violations in pack order, open holds as (key, rule, from, until) sorted)."""
    known = [e for e in events if e["ts"] <= at]
    views = {}
    for event in known:
        key = event.get("person_id", event["worker_id"]) if persons else event["worker_id"]
        views.setdefault(key, (set(), [], {}, [], []))[0].add(event["worker_id"])

    def one(key, own, intervals, rule, end):
        found = MODELS[rule["kind"]][0].rule_status(key, own, intervals, rule, end)
        if found is not None:
            used, limit, left, is_open, holds = found
            _, entries, kinds, violations, held = views[key]
            held += [h for h in holds if h[2] <= end < h[3]]
            entries.append((rule["id"], used // SECOND, limit // SECOND, left // SECOND))
            kinds[rule["id"]] = rule["kind"]
            if is_open:
                violations.append(rule["id"])
        return [], []

    every_worker(known, rules, at, session_timeout, one, persons)
    return {key: (sorted(ids), entries, kinds, violations, sorted(held))
            for key, (ids, entries, kinds, violations, held) in views.items()}


def binary_views(views, name=""):
    """`status_pack`'s views in `model_views`' terms; each view's `left_seconds` map must be
    its `rules` entries' (a failure starts with `name`)."""
    found = {}
    for key, view in views.items():
        ids = view["worker_ids"] if "person_id" in view else [view["worker_id"]]
        entries = [(r["rule"], r["used_seconds"], r["limit_seconds"], r["left_seconds"])
                   for r in view["rules"]]
        assert view["left_seconds"] == {r[0]: r[3] for r in entries}, f"{name}\n{view}"
        holds = sorted((h.get("person_id", h.get("worker_id")), h["rule"], instant(h["from"]),
                        instant(h["until"])) for h in view["holds"])
        found[key] = (ids, entries, view["rule_kinds"], view["open_violations"], holds)
    return found


def replay_holds(tmp_path, files, until):
    """The hold objects `replay --until UNTIL --holds` writes of the config and input `files`
    (pack_case.write_case's), as parsed JSON."""
    config, path = files
    holds_file = tmp_path / "holds.jsonl"
    done = subprocess.run([BIN, "replay", "--config", str(config), "--until", str(until),
                           "--holds", str(holds_file), str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in holds_file.read_text().splitlines()]


def describe(seed, rules, at, session_timeout, persons):
    return (f"seed {seed} (MODEL_SEED={seed}): at {at}, rules {rules}, "
            f"session_timeout {session_timeout}, persons {persons}")


def check_status(tmp_path, events, rules, at, session_timeout=0, persons=False, read=None,
                 seed=None, holds_too=False, files=None, zone=None):
    """`status --at AT` of the stream `read` (by default `events`, sorted and once) gives the
    models' views of `events`; with `holds_too`, the holds it lists are those replay wrote
    up to `at` that are open at it, as written. `files`: the config and input
    pack_case.write_case wrote for them already. `zone`: the config's `[time] zone`."""
    if files is None:
        files = write_case(tmp_path, read or events, rules, session_timeout, persons, zone)
    views = run_status(*files, at)
    with in_zone(zone):
        want = model_views(events, rules, at, session_timeout, persons)
    name = describe(seed, rules, at, session_timeout, persons)
    got = binary_views(views, name)
    assert sorted(got) == sorted(want), (
        f"{name}\nsubjects: model {sorted(want)}, status {sorted(got)}")
    for key in want:
        if got[key] != want[key]:
            labels = ["worker ids", "rules", "rule_kinds", "open_violations", "holds"]
            diff = "\n".join(f"  {label}: model {w}\n  {' ' * len(label)}  status {g}"
                             for label, w, g in zip(labels, want[key], got[key]) if w != g)
            raise AssertionError(f"{name}\nsubject {key}:\n{diff}")
    if holds_too:
        written = replay_holds(tmp_path, files, at)
        shown = sorted((h for view in views.values() for h in view["holds"]),
                       key=lambda h: h["hold_id"])
        open_ones = sorted((h for h in written
                            if instant(h["from"]) <= at < instant(h["until"])),
                           key=lambda h: h["hold_id"])
        assert shown == open_ones, f"{name}\nholds shown {shown}\nopen in replay {open_ones}"


# ------------------------------------------------------------------------------ by hand

# (name, rule, event lines as test_continuous.stream reads them (on 2 March 2026), `--at`,
# its `rules` entry as (used, limit, left) seconds, whether its violation is open); every
# figure worked out by hand, most of them the docs' own.
EXAMPLES = [
    ("rules.md: 13,499 used and 900 left of 14,400 at 3 h 44 min 59.999 s",
     {"id": "r", "kind": "continuous", "limit": 4 * HOUR, "warn_before": 15 * MINUTE,
      "break": 20 * MINUTE}, ["08:00 login"], "11:44:59.999", (13499, 14400, 900), False),
    ("continuous: a break that completed leaves no episode, and no open violation",
     {"id": "r", "kind": "continuous", "limit": HOUR, "break": 20 * MINUTE, "hold": True},
     ["08:00 login", "09:30 logout"], "09:50", (0, 3600, 3600), False),
    ("continuous: a break 1 ms short of completing leaves the episode and its violation",
     {"id": "r", "kind": "continuous", "limit": HOUR, "break": 20 * MINUTE, "hold": True},
     ["08:00 login", "09:30 logout"], "09:49:59.999", (5400, 3600, 0), True),
    ("rules.md: after the first day of 7, 6 days",
     {"id": "r", "kind": "streak", "days": 7}, ["08:00 login", "09:00 logout"], "10:00",
     (86400, 604800, 518400), False),
    ("streak: the 2nd day of 2 shows 2 days used of 2 as it begins, and its violation",
     {"id": "r", "kind": "streak", "days": 2},
     ["08:00 login", "09:00 logout", "2026-03-03 08:00 login"], "2026-03-03 08:00",
     (172800, 172800, 0), True),
    ("streak: a day without work before today ends the run",
     {"id": "r", "kind": "streak", "days": 2}, ["08:00 login", "09:00 logout"],
     "2026-03-04 07:00", (0, 172800, 172800), False),
    ("rolling: left can be more than limit - used, as time leaves the window",
     {"id": "r", "kind": "rolling", "measure": "driving", "window": 4 * HOUR,
      "limit": 3 * HOUR},
     ["06:00 login", "06:00 activity driving", "09:00 activity rest"], "11:00",
     (7200, 10800, 10800), False),
    ("rolling: a violation (09:00) stays open while the sum is at the limit",
     {"id": "r", "kind": "rolling", "measure": "driving", "window": 4 * HOUR,
      "limit": 3 * HOUR},
     ["06:00 login", "06:00 activity driving", "09:30 activity rest"], "10:30",
     (10800, 10800, 0), True),
    ("rolling: open at the limit also where nothing fired (it stopped exactly there)",
     {"id": "r", "kind": "rolling", "measure": "driving", "window": 4 * HOUR,
      "limit": 3 * HOUR},
     ["06:00 login", "06:00 activity driving", "09:00 activity rest"], "09:30",
     (10800, 10800, 0), True),
    ("rolling: and closes as the sum falls below; 3 h more are then needed, not 1 ms",
     {"id": "r", "kind": "rolling", "measure": "driving", "window": 4 * HOUR,
      "limit": 3 * HOUR},
     ["06:00 login", "06:00 activity driving", "09:30 activity rest"], "10:30:00.001",
     (10799, 10800, 10800), False),
    ("rest_deadline: used is the time since the first instant, past the deadline",
     {"id": "r", "kind": "rest_deadline", "rest": 10 * MINUTE, "within": HOUR},
     ["08:00 login", "09:30 logout"], "09:35", (5700, 3600, 0), True),
    ("period: the day's amount from local midnight",
     {"id": "r", "kind": "period", "period": "day", "limit": 2 * HOUR},
     ["23:00 login"], "2026-03-03 00:30", (1800, 7200, 5400), False),
    ("period: a reset rest that completed leaves nothing counted, and no open violation",
     {"id": "r", "kind": "period", "period": "week", "limit": HOUR, "reset_rest": HOUR},
     ["08:00 login", "10:00 logout"], "11:00", (0, 3600, 3600), False),
    ("since_rest with elapsed_from: wall time, the rest short of reset_rest included",
     {"id": "r", "kind": "since_rest", "measure": "driving", "rest_unless": "duty",
      "elapsed_from": "duty", "reset_rest": HOUR, "limit": 2 * HOUR},
     ["08:00 login", "08:00 activity other_work", "08:30 activity driving",
      "09:00 activity rest"], "09:45", (6300, 7200, 900), False),
    ("overtime: the month's sum of each day's time beyond the standard",
     {"id": "r", "kind": "overtime", "standard": HOUR, "limit": 3 * HOUR},
     ["08:00 login", "10:30 logout", "2026-03-03 08:00 login"], "2026-03-03 09:15",
     (6300, 10800, 4500), False),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_hand_examples(tmp_path, example):
    """The model and status both give the figures worked out by hand."""
    _, rule, lines, at, (used, limit, left), is_open = example
    events = stream(D, lines)
    at = local(at if " " in at else f"{D} {at}")
    want = (["w1"], [("r", used, limit, left)], {"r": rule["kind"]}, ["r"] if is_open else [])
    assert model_views(events, [rule], at)["w1"][:4] == want
    assert binary_views(status_pack(tmp_path, events, [rule], at))["w1"][:4] == want


def test_a_rest_deadline_violation_closes_once_its_rest_has_lasted_rest(tmp_path):
    """Login 08:00, logout 09:30 under `rest = 10m`, `within = 1h`: the violation fired at
    09:00 (no rest started by then); at 10:00 the rest from 09:30 has lasted 30 min, the rule
    shows 0 used of 3,600 s and 3,600 s left, and the violation no longer holds (docs/rules.md
    section 5: open violations "still hold"). Status kept it open until the measure resumed
    (tests/cli.rs: status_closes_a_rest_deadline_violation_once_its_rest_has_lasted_rest)."""
    rule = {"id": "r", "kind": "rest_deadline", "rest": 10 * MINUTE, "within": HOUR}
    events = stream(D, ["08:00 login", "09:30 logout"])
    view = status_pack(tmp_path, events, [rule], local(f"{D} 10:00"))["w1"]
    assert view["rules"] == [{"rule": "r", "used_seconds": 0, "limit_seconds": 3600,
                              "left_seconds": 3600}]
    assert view["open_violations"] == []


# ------------------------------------------------------------------------- random streams

def random_rules(rng, span, grid):
    """One to four rules of the kinds this file covers, ids `r0`, `r1`, ...; on `grid` (ms)
    where the generator has one."""
    rules = []
    for n in range(rng.randrange(1, 5)):
        family = rng.choice(["continuous", "continuous", "period", "period", "since_rest",
                             "since_rest", "calendar"])
        if family == "continuous":
            rule = continuous_rule(rng, n, grid)
        elif family == "period":
            rule = period_rule(rng, n, span, any_unless=rng.random() < 0.3)
        elif family == "since_rest":
            rule = since_rest_rule(rng, n, within=rng.random() < 0.7)
            if grid:
                rule = on_grid(rule, grid)
        else:
            rule = calendar_rules(rng)[0]
        rule["id"] = f"r{n}"
        rules.append(rule)
    return rules


def random_case(rng):
    """Events, rules and session timeout of one random stream."""
    span = rng.choice([300, 1500, 3000, 10000, 30000])
    events = random_events(rng, span_minutes=span, millis=rng.random() < 0.5)
    grid = None
    if rng.random() < 0.3:
        grid = rng.choice([5, 10, 15, 30]) * MINUTE
        for event in events:
            event["ts"] -= (event["ts"] - BASE_MS) % grid
    for event in events:
        if event["kind"] == "order_delivered" and rng.random() < 0.5:
            event["fee_cents"] = rng.randrange(5000)
    rules = random_rules(rng, span * MINUTE, grid)
    session_timeout = rng.choice([0, 0, 15 * MINUTE, 30 * MINUTE, 2 * HOUR])
    return events, rules, session_timeout, grid


def random_instants(rng, events, rules, session_timeout, persons, grid, count=3):
    """`count` instants to look at: random ones within the stream (or a little past it, on
    the grid when there is one), event instants, and the models' alert and hold instants
    (to the end of the stream), exactly or 1 ms either side."""
    first, last = events[0]["ts"], events[-1]["ts"]
    alerts, holds = model_holds(events, rules, last, session_timeout, persons)
    marks = [a[0] for a in alerts] + [h[3] for h in holds if h[3] <= last + DAY]
    chosen = []
    for _ in range(count):
        pick = rng.random()
        if pick < 0.35 and marks:
            at = rng.choice(marks) + rng.choice([0, 0, -1, 1])
        elif pick < 0.55:
            at = rng.choice(events)["ts"] + rng.choice([0, 0, -1, 1])
        else:
            at = rng.randrange(first, last + 6 * HOUR)
            if grid:
                at -= (at - BASE_MS) % grid
        chosen.append(max(at, BASE_MS - HOUR))
    return chosen


@pytest.mark.parametrize("block", range(4))
def test_status_gives_the_models_rules_entries(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, session_timeout, grid = random_case(rng)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        # A third of the streams reach status out of order within `allowed_lateness`, some
        # events twice (SPEC section 5: the views are those of the events sorted, once).
        read = disorder(rng, events) if seed % 3 == 1 else None
        instants = random_instants(rng, events, rules, session_timeout, persons, grid)
        files = write_case(tmp_path, read or events, rules, session_timeout, persons)
        for n, at in enumerate(instants):
            check_status(tmp_path, events, rules, at, session_timeout, persons, read, seed,
                         holds_too=n == 0, files=files)
