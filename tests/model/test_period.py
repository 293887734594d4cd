"""`workhours replay` against an independent model of the `period` and `rolling` rule kinds of
SPEC section 7 and their holds (model_period.py).

First the docs' own examples worked by hand, checked against the model and the binary; then
random streams (every event kind of SPEC section 2, `activity` included, over hours to weeks,
some `ts` off the minute, some session timeouts and `--until`s) under packs of one to three
random `period` and `rolling` rules (every measure; `period` by day, week and month with
`count`, `reset_rest`, `rest_unless`, `allowance`; `hours`; warnings; holds): the alerts and
holds must be the same. The first random test keeps each `rest_unless` false whenever the
rule's measure is (`driving` and `duty`, `carrying` and `orders` or `work`), where the docs
leave no doubt; the second lets it be any measure, so that the measure's time can fall
inside a reset rest (the two `..._inside_a_...` tests work such cases by hand; replay
departed from the docs there until this test found it).

A mismatch names the seed: rerun it with `MODEL_SEED=N python3 -m pytest test_period.py -q`.
`MODEL_CASES` (default 300) sets how many random streams the run checks.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import random

import pytest

from measures import DAY, HOUR, MINUTE, SECOND
from model_period import alerts_and_holds
from pack_case import check_replay, local, maybe_persons, maybe_roles, random_events, seeds


def stream(lines, worker="w1"):
    """Events from `"YYYY-MM-DD HH:MM kind [order_id|activity]"` lines."""
    events = []
    for line in lines:
        day, clock, kind, *rest = line.split()
        event = {"worker_id": worker, "kind": kind, "ts": local(f"{day} {clock}")}
        if kind == "activity":
            event["activity"] = rest[0]
        elif rest:
            event["order_id"] = rest[0]
        events.append(event)
    return events


def check(tmp_path, events, rules, until=None, session_timeout=0, seed=None, persons=False):
    """Replay's alerts and holds are the model's; returns them."""
    end = until if until is not None else max(e["ts"] for e in events)
    want = alerts_and_holds(events, rules, end, session_timeout, persons)
    return check_replay(tmp_path, events, rules, want, until, session_timeout, seed, persons)


# --------------------------------------------------------------- hand-worked examples

def test_rolling_docs_example(tmp_path):
    """docs/pack-format.md "`rolling`": an 8 h window and a 4 h limit, driving from 06:00
    fires at 10:00 (period_start 02:00); resting from then, until 14:00:00.001."""
    rules = [{"id": "r", "kind": "rolling", "measure": "driving", "window": 8 * HOUR,
              "limit": 4 * HOUR, "hold": True}]
    events = stream(["2026-03-02 06:00 activity driving", "2026-03-02 11:00 activity rest"])
    until = local("2026-03-02 15:00")
    assert check(tmp_path, events, rules, until) == (
        [(local("2026-03-02 10:00"), "w1", "r", "violation", 14400, 14400,
          local("2026-03-02 02:00"))],
        [("w1", "r", local("2026-03-02 10:00"), local("2026-03-02 14:00:00.001"))])


def test_rolling_fires_again_after_falling_below(tmp_path):
    """tests/packs/cn-road-traffic.toml, `cnroad_24h` (8 h in any 24 h): driving 06:00-10:00
    and 10:30-14:45 fires at 14:30; the sum is 8 h 15 min until 03-03 06:00 and then falls,
    below 8 h from 06:15:00.001; driving again from then keeps it at 8 h - 1 ms until 10:00
    (yesterday's driving leaves as today's enters) and reaches 8 h at 10:00:00.001."""
    rules = [{"id": "cnroad_24h", "kind": "rolling", "measure": "driving", "window": DAY,
              "limit": 8 * HOUR, "hold": True}]
    events = stream([
        "2026-03-02 06:00 login", "2026-03-02 06:00 activity driving",
        "2026-03-02 10:00 activity rest", "2026-03-02 10:30 activity driving",
        "2026-03-02 14:45 activity rest", "2026-03-02 14:45 logout",
        "2026-03-03 06:15:00.001 login", "2026-03-03 06:15:00.001 activity driving",
        "2026-03-03 12:00 activity rest", "2026-03-03 12:00 logout"])
    first, second = local("2026-03-02 14:30"), local("2026-03-03 10:00:00.001")
    assert check(tmp_path, events, rules, local("2026-03-03 13:00")) == (
        [(first, "w1", "cnroad_24h", "violation", 28800, 28800, first - DAY),
         (second, "w1", "cnroad_24h", "violation", 28800, 28800, second - DAY)],
        [("w1", "cnroad_24h", first, local("2026-03-03 06:00:00.001")),
         ("w1", "cnroad_24h", second, local("2026-03-03 10:30:00.001"))])


def test_period_allowance_docs_example(tmp_path):
    """docs/pack-format.md "Allowance" and tests/packs/cn-mohrss-2024.toml: online 06:00-08:00
    without an order, then an order to 18:30; 06:00-07:00 uses the 1 h allowance, 07:00-08:00
    counts nothing: 8 h at 15:00, 11 h at 18:00; hold until the next local midnight."""
    rules = [{"id": "daily", "kind": "period", "measure": "orders", "period": "day",
              "allowance": HOUR, "warning": 8 * HOUR, "limit": 11 * HOUR, "hold": True}]
    events = stream(["2026-03-02 06:00 login", "2026-03-02 08:00 order_accepted o1",
                     "2026-03-02 18:30 order_delivered o1", "2026-03-02 18:30 logout"])
    midnight = local("2026-03-02 00:00")
    assert check(tmp_path, events, rules, local("2026-03-03 01:00")) == (
        [(local("2026-03-02 15:00"), "w1", "daily", "warning", 28800, 28800, midnight),
         (local("2026-03-02 18:00"), "w1", "daily", "violation", 39600, 39600, midnight)],
        [("w1", "daily", local("2026-03-02 18:00"), midnight + DAY)])


FMCSA = {"id": "cycle", "kind": "period", "measure": "duty", "period": "day", "count": 8,
         "limit": 70 * HOUR, "reset_rest": 34 * HOUR, "hold": True}


def test_period_eight_days_fires_again_on_a_new_day(tmp_path):
    """SPEC section 7 (count 8 days: FMCSA's 70 h in 8 days) as in
    tests/packs/us-fmcsa-property.toml, in Shanghai's calendar: Mon-Thu 06:00-20:00 = 56 h,
    Fri 06:00 + 14 h = 70 h at 20:00; on duty to 21:00, then Sat 06:00: a new current period
    whose window holds 71 h fires again at once, value 71 h. Holds: 20:00 + 34 h; Sat 06:00 +
    34 h (the window falls below 70 h only when Mon 03-02 leaves it, at Tue 03-10 00:00)."""
    lines = []
    for day in range(2, 6):
        lines += [f"2026-03-0{day} 06:00 activity driving", f"2026-03-0{day} 20:00 activity rest"]
    lines += ["2026-03-06 06:00 activity driving", "2026-03-06 21:00 activity rest",
              "2026-03-07 06:00 activity driving", "2026-03-07 07:00 activity rest"]
    fri, sat = local("2026-03-06 20:00"), local("2026-03-07 06:00")
    assert check(tmp_path, stream(lines), [FMCSA], local("2026-03-07 08:00")) == (
        [(fri, "w1", "cycle", "violation", 252000, 252000, local("2026-03-06 00:00")),
         (sat, "w1", "cycle", "violation", 255600, 252000, local("2026-03-07 00:00"))],
        [("w1", "cycle", fri, fri + 34 * HOUR), ("w1", "cycle", sat, sat + 34 * HOUR)])


def test_period_reset_rest_restarts_the_count(tmp_path):
    """The same, with 34 h off duty Thu 20:00 - Sat 06:00 (FMCSA's restart): Sat and Sun
    14 h each count alone, nothing fires; 1 ms short of 34 h, Sat reaches 70 h at
    19:59:59.999 (hold until 34 h later: the window still holds 70 h at every midnight
    before that)."""
    lines = []
    for day in range(2, 6):
        lines += [f"2026-03-0{day} 06:00 activity driving", f"2026-03-0{day} 20:00 activity rest"]
    restart = lines + ["2026-03-07 06:00 activity driving", "2026-03-07 20:00 activity rest",
                       "2026-03-08 06:00 activity driving", "2026-03-08 20:00 activity rest"]
    assert check(tmp_path, stream(restart), [FMCSA], local("2026-03-08 21:00")) == ([], [])
    short = lines + ["2026-03-07 05:59:59.999 activity driving",
                     "2026-03-07 21:00 activity rest"]
    at = local("2026-03-07 19:59:59.999")
    assert check(tmp_path, stream(short), [FMCSA], local("2026-03-07 22:00")) == (
        [(at, "w1", "cycle", "violation", 252000, 252000, local("2026-03-07 00:00"))],
        [("w1", "cycle", at, at + 34 * HOUR)])


def test_period_fortnight(tmp_path):
    """SPEC section 7 (count 2 weeks: a fortnight, EU 561's 90 h): 10 h a day Mon 03-02 to Sun
    03-08 (70 h), then Mon 03-09 from 06:00: 90 h at 02:00 on Tue 03-10 (70 + 18 + 2), still
    driving; period_start Mon 03-09. Hold: at Mon 03-16 the window (03-09..03-16) holds 20 h;
    at Mon 03-16 00:00 it is below 90 h."""
    lines = []
    for day in range(2, 9):
        lines += [f"2026-03-0{day} 06:00 activity driving", f"2026-03-0{day} 16:00 activity rest"]
    lines += ["2026-03-09 06:00 activity driving", "2026-03-10 03:00 activity rest"]
    rules = [{"id": "fortnight", "kind": "period", "measure": "driving", "period": "week",
              "count": 2, "limit": 90 * HOUR, "hold": True}]
    at = local("2026-03-10 02:00")
    assert check(tmp_path, stream(lines), rules, local("2026-03-10 04:00")) == (
        [(at, "w1", "fortnight", "violation", 324000, 324000, local("2026-03-09 00:00"))],
        [("w1", "fortnight", at, local("2026-03-16 00:00"))])


def test_period_measure_inside_a_reset_rest(tmp_path):
    """docs/pack-format.md "`period`": the amount leaves out the measure's time "before the
    end of the last rest of at least `reset_rest`", the rest being the absence of
    `rest_unless`; each phase fires "at most once per current period, and again after a
    reset rest completes". With a `rest_unless` that can be false while the measure is true
    (`work` with `rest_unless = "driving"`), the measure's time can lie inside a rest: it
    counts while the rest is shorter than `reset_rest`, and nothing once the rest has lasted
    that long, until it ends; the time before the worker's first driving is such a rest (as
    for `since_rest`).

    Logged in and driving from 07:00, driving stops at 08:00, at 10:00 driving again: 1 h 30
    min of work is reached at 08:30, inside the rest before it has lasted `reset_rest` (1 h);
    the rest completes at 09:00, the count starts again, and the work in the rest from then
    counts nothing; from 10:00 it counts again, 1 h 30 min at 11:30, in the same week after
    a reset rest: a violation again. This model found replay counting, dropping or repeating
    such time by when it happened to look (a warning every 20 minutes and never the
    violation, the count lost at midnight or when work stopped in the rest).

    A login at 08:00 and no driving: the work lies in the rest before the first driving,
    which counts nothing.
    """
    rule = {"id": "r", "kind": "period", "period": "week", "measure": "work",
            "reset_rest": HOUR, "rest_unless": "driving", "limit": 90 * MINUTE, "hold": True}
    monday = "2026-03-02"
    week = local(f"{monday} 00:00")
    lines = [f"{monday} 07:00 login", f"{monday} 07:00 activity driving",
             f"{monday} 08:00 activity rest", f"{monday} 10:00 activity driving"]
    first, again = local(f"{monday} 08:30"), local(f"{monday} 11:30")
    assert check(tmp_path, stream(lines), [rule], local(f"{monday} 12:00")) == (
        [(first, "w1", "r", "violation", 5400, 5400, week),
         (again, "w1", "r", "violation", 5400, 5400, week)],
        [("w1", "r", first, first + HOUR), ("w1", "r", again, again + HOUR)])
    rule = dict(rule, reset_rest=10 * HOUR, warning=20 * MINUTE)
    assert check(tmp_path, stream([f"{monday} 08:00 login"]), [rule],
                 local(f"{monday} 12:00")) == ([], [])


def test_period_allowance_inside_a_rest_of_orders(tmp_path):
    """The same with `allowance` and `rest_unless = "orders"` (the allowance's idle time is
    not `orders`): `login` 08:16, `order_accepted` 08:29, allowance 10 or 13 min, `reset_rest`
    1 h, limit 1 h by the day. The idle time before the first order lies in the rest before
    the worker's first instant of `orders`, and counts nothing: 1 h at 09:29 with either
    allowance (replay gave 09:29 with 10 min and 09:16 with 13)."""
    rule = {"id": "r", "kind": "period", "period": "day", "measure": "orders",
            "allowance": 10 * MINUTE, "reset_rest": HOUR, "rest_unless": "orders",
            "limit": HOUR}
    events = stream(["2026-03-02 08:16 login", "2026-03-02 08:29 order_accepted o1"])
    until = local("2026-03-02 12:00")
    day = local("2026-03-02 00:00")
    for allowance in (10, 13):
        assert check(tmp_path, events, [dict(rule, allowance=allowance * MINUTE)], until) == (
            [(local("2026-03-02 09:29"), "w1", "r", "violation", 3600, 3600, day)], [])


# ----------------------------------------------------------------- random differential

MEASURES = ["work", "work", "orders", "carrying", "driving", "driving", "duty"]
# Measures that are false whenever the key's measure is (a rest of theirs is one of the key's).
SUPERSETS = {"work": ["work"], "orders": ["orders", "work"], "carrying": ["orders", "work"],
             "driving": ["duty", "driving"], "duty": ["duty"]}
PERIOD_LENGTH = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY}


def duration(rng, low, high, millis=False):
    """A random duration in [low, high] ms on the minute grid (or the second grid, or with
    `millis` sometimes the millisecond)."""
    value = rng.randint(low, high)
    grain = rng.choice([MINUTE, MINUTE, SECOND] + ([1] if millis else []))
    return max(grain, value // grain * grain)


def random_hours(rng):
    start = rng.randrange(96) * 15
    end = rng.randrange(96) * 15
    while end == start:
        end = rng.randrange(96) * 15
    return f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"


def random_rule(rng, n, span, any_unless=False):
    """A random `period` or `rolling` rule with id `r<n>` for a stream of `span` ms. Its
    `rest_unless`, if any, is false whenever its measure is (`SUPERSETS`: the measure's time
    is never inside its rests), or with `any_unless` any measure, on every `period` rule with
    a `reset_rest` (then the measure may be true inside a rest)."""
    measure = rng.choice(MEASURES)
    rule = {"id": f"r{n}", "measure": measure}
    if rng.random() < (0.8 if any_unless else 0.5):
        rule["kind"] = "period"
        period = rng.choice(["day", "day", "week", "month"])
        rule["period"] = period
        count = rng.choice([1, 1, 2, 3] + ([5, 8] if period == "day" else []))
        if count > 1 or rng.random() < 0.5:
            rule["count"] = count
        reach = min(count * PERIOD_LENGTH[period], span)
        rule["limit"] = duration(rng, 10 * MINUTE, max(20 * MINUTE, int(reach * 0.6)))
        if measure == "orders" and rng.random() < 0.5:
            rule["allowance"] = rng.choice([10 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR])
        if rng.random() < (0.9 if any_unless else 0.4):
            rule["reset_rest"] = rng.choice([10 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR,
                                             6 * HOUR, 10 * HOUR, 34 * HOUR])
            if any_unless:
                rule["rest_unless"] = rng.choice(MEASURES)
            elif rng.random() < 0.5:
                # The allowance's idle time is `work`, not `orders`.
                supersets = ["work"] if "allowance" in rule else SUPERSETS[measure]
                rule["rest_unless"] = rng.choice(supersets)
    else:
        rule["kind"] = "rolling"
        window = rng.choice([30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, DAY, 3 * DAY,
                             7 * DAY])
        rule["window"] = window
        rule["limit"] = duration(rng, MINUTE, int(window * 0.9))
    if rng.random() < 0.4:
        rule["warning"] = duration(rng, 1, rule["limit"] - 1)
        if rule["warning"] >= rule["limit"]:
            del rule["warning"]
    if rng.random() < (0.25 if "allowance" not in rule else 0.1):
        rule["hours"] = random_hours(rng)
    rule["hold"] = rng.random() < 0.6
    return rule


def random_case(rng, any_unless=False):
    """A random stream, rules, `until` and session timeout."""
    span = rng.choice([300, 1500, 3000, 10000, 30000, 60000])
    events = random_events(rng, span_minutes=span, millis=rng.random() < 0.3)
    rules = [random_rule(rng, n, span * MINUTE, any_unless) for n in range(rng.randint(1, 3))]
    until = None
    if rng.random() < 0.4:
        until = events[-1]["ts"] + rng.randrange(3 * 24 * 60) * MINUTE
    session_timeout = rng.choice([0, 0, 0, 15 * MINUTE, 2 * HOUR])
    return events, rules, until, session_timeout


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_alerts_and_holds(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, until, session_timeout = random_case(rng)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        check(tmp_path, events, rules, until, session_timeout, seed, persons)


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_alerts_with_any_rest_unless(tmp_path, block):
    """As above, with `period` rules whose `rest_unless` may be true while their measure is
    false (`measure = "work"`, `rest_unless = "driving"`), so that the measure's time can lie
    inside a reset rest: it counts while the rest is shorter than `reset_rest`, and none of
    it from then to the rest's end (docs/pack-format.md "period"; replay reset its count by
    when it looked until this test found it)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, until, session_timeout = random_case(rng, any_unless=True)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        check(tmp_path, events, rules, until, session_timeout, seed, persons)
