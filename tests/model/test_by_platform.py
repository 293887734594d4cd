"""`workhours replay`'s `by_platform` on rule pack alerts under `subject = "person"` (SPEC
section 8, docs/persons.md) against model_by_platform.py (its docstring gives the readings).

First cases worked by hand from docs/persons.md (driving on two platforms at once, a `rolling`
window's span, `since_rest` shifts, one timed with `elapsed_from`, an `allowance` shared by
two platforms), each through the model and through replay. Then random streams
(test_status_packs.random_case: one to four rules of every kind the pack models cover, every
measure, `rest_unless`, `hours`, `allowance`, `elapsed_from`, extensions, split breaks, a
session timeout), every one of them under persons (pack_case.maybe_persons: most worker ids
name one of two persons, the others stand alone), some rules with `roles`, and events naming
a random platform (a worker id's own mostly, another now and then, none on some: `unknown`),
so that a worker id's time moves between platforms. Replay's alerts must be the models'
(model_*.py), every alert of a person named by a `person_id` must carry the model's
`by_platform`, and no other alert may carry one; a person's hold names the person and the
worker ids they have at its `from`, sorted.

Two hand cases record what this test found: under an `allowance`, replay counted a worker
id's waiting beside another's order for its platform (fixed in the engine), and a `period`
rule of several periods or with a reset rest splits its amount's window, which
docs/persons.md's "the same span as `period_start` to `at`" did not say (docs fixed).

A mismatch names the seed: rerun it with
`MODEL_SEED=N python3 -m pytest test_by_platform.py -q -p no:cacheprovider`.
`MODEL_CASES` (default 300) sets how many random streams run.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import json
import random

import pytest

from measures import HOUR, MINUTE
from model_by_platform import by_platform
from pack_case import instant, local, maybe_persons, maybe_roles, replay_lines, seeds
from test_status_packs import model_holds, random_case

PLATFORMS = ["meituan", "eleme", "didi"]


def check_hold_ids(events, holds, name):
    """A person's hold names the person and the worker ids the person has at its `from`,
    sorted (docs/persons.md: one whose first event comes later is not named), and no
    `worker_id`; a worker id standing alone's names the worker id only (SPEC section 8)."""
    first = {}
    for event in events:
        first.setdefault(event["worker_id"], event)
    for hold in holds:
        if "person_id" in hold:
            assert "worker_id" not in hold, f"{name}\n{hold}"
            want = sorted(w for w, e in first.items()
                          if e.get("person_id") == hold["person_id"]
                          and e["ts"] <= instant(hold["from"]))
            assert hold["worker_ids"] == want, f"{name}\n{hold}: worker ids {want}"
        else:
            assert "worker_ids" not in hold and "person_id" not in first[hold["worker_id"]], (
                f"{name}\n{hold}")


def as_tuple(alert):
    """An alert of replay's as the models' tuple (pack_case.replay_pack's)."""
    value = alert.get("value_seconds", alert.get("value_cents_per_hour"))
    limit = alert.get("limit_seconds", alert.get("limit_cents_per_hour"))
    return (instant(alert["at"]), alert.get("person_id", alert.get("worker_id")),
            alert["rule"], alert["phase"], value, limit, instant(alert["period_start"]))


def check(tmp_path, events, rules, until=None, session_timeout=0, seed=None):
    """Replay's alerts are the models' and its person alerts' `by_platform` the model's;
    returns the model's {alert: by_platform} of the person alerts. A failure names `seed`."""
    end = until if until is not None else events[-1]["ts"]
    want, _ = model_holds(events, rules, end, session_timeout, True)
    want_splits = by_platform(events, rules, want, True, session_timeout)
    found, holds = ([json.loads(line) for line in lines] for lines in
                    replay_lines(tmp_path, events, rules, until, session_timeout, persons=True))
    name = (f"seed {seed} (MODEL_SEED={seed}): " if seed is not None else "") + (
        f"rules {rules}, until {until}, session_timeout {session_timeout}")
    got = sorted(as_tuple(alert) for alert in found)
    assert got == want, (f"{name}\nalerts only in the models: {sorted(set(want) - set(got))}"
                         f"\nalerts only in replay: {sorted(set(got) - set(want))}")
    got_splits = {}
    for alert in found:
        if "person_id" in alert:
            assert "by_platform" in alert, f"{name}\n{alert}"
            got_splits[as_tuple(alert)] = alert["by_platform"]
        else:
            assert "by_platform" not in alert, f"{name}\n{alert}"
    assert set(got_splits) == set(want_splits), f"{name}\nperson alerts differ"
    differ = {a: (want_splits[a], got_splits[a]) for a in sorted(want_splits)
              if want_splits[a] != got_splits[a]}
    assert not differ, f"{name}\nby_platform (the model's, replay's): {differ}"
    check_hold_ids(events, holds, name)
    return want_splits


# ------------------------------------------------------------------------------ by hand

D = "2026-03-02"  # a Monday


def ev(worker, clock, kind, platform=None, arg=None, person="P"):
    """An event of `worker` (of `person`, unless None) at local `clock` ("HH:MM", or a date
    and a clock) on `platform` (none: `unknown`); `arg` the activity or the order id."""
    event = {"worker_id": worker, "kind": kind,
             "ts": local(clock if " " in clock else f"{D} {clock}")}
    if person:
        event["person_id"] = person
    if platform:
        event["platform"] = platform
    if kind == "activity":
        event["activity"] = arg
    elif arg:
        event["order_id"] = arg
    return event


def at(clock):
    return local(clock if " " in clock else f"{D} {clock}")


def splits_of(found, rule=None):
    """The model's (at, phase, value, period_start, by_platform) in order, of `rule`."""
    return [(a[0], a[3], a[4], a[6], split) for a, split in sorted(found.items())
            if rule is None or a[2] == rule]


def test_driving_on_two_platforms_at_once_counts_under_each(tmp_path):
    """docs/persons.md: "an overlap across platforms is counted under each". A continuous
    driving rule of 2 h (15 min warning before): `a` drives on meituan 08:00-09:30, `b` on
    didi 09:00-10:30; `c`, on meituan too, drives 08:30-09:00 beside `a` (meituan's time once).
    The person drives from 08:00: the warning at 09:45 (1 h 45 min), the violation at 10:00;
    `resolved` when the 20 min break from 10:30 completes, at 10:50. `z` stands alone (no
    `person_id`): its alerts carry no `by_platform`."""
    rule = {"id": "drive", "kind": "continuous", "measure": "driving", "limit": 2 * HOUR,
            "warn_before": 15 * MINUTE, "break": 20 * MINUTE}
    events = sorted([
        ev("a", "08:00", "activity", "meituan", "driving"),
        ev("c", "08:30", "activity", "meituan", "driving"),
        ev("c", "09:00", "activity", "meituan", "rest"),
        ev("b", "09:00", "activity", "didi", "driving"),
        ev("a", "09:30", "activity", "meituan", "rest"),
        ev("b", "10:30", "activity", "didi", "rest"),
        ev("z", "08:00", "activity", "didi", "driving", person=None),
        ev("z", "11:00", "activity", "didi", "rest", person=None),
    ], key=lambda e: e["ts"])
    found = check(tmp_path, events, [rule], until=at("12:00"))
    assert splits_of(found) == [
        (at("09:45"), "warning", 6300, at("08:00"), {"meituan": 5400, "didi": 2700}),
        (at("10:00"), "violation", 7200, at("08:00"), {"meituan": 5400, "didi": 3600}),
        (at("10:50"), "resolved", 9000, at("08:00"), {"meituan": 5400, "didi": 5400}),
    ]


def test_a_rolling_windows_span_is_the_window(tmp_path):
    """SPEC section 7: a `rolling` alert's `period_start` is `at - window`, so its
    `by_platform` is the window's. 3 h of driving in any 4 h: `a` drives on meituan 01:00-02:00
    and 06:00-07:00, `b` on didi from 07:00 to 10:00. At 09:00 the window (05:00, 09:00] holds
    3 h, meituan's 01:00 hour having left it: {meituan: 3600, didi: 7200}."""
    rule = {"id": "roll", "kind": "rolling", "measure": "driving", "window": 4 * HOUR,
            "limit": 3 * HOUR}
    events = [
        ev("a", "01:00", "activity", "meituan", "driving"),
        ev("a", "02:00", "activity", "meituan", "rest"),
        ev("a", "06:00", "activity", "meituan", "driving"),
        ev("a", "07:00", "activity", "meituan", "rest"),
        ev("b", "07:00", "activity", "didi", "driving"),
        ev("b", "10:00", "activity", "didi", "rest"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [
        (at("09:00"), "violation", 10800, at("05:00"), {"meituan": 3600, "didi": 7200})]


def test_a_since_rest_shift_timed_from_duty_splits_its_driving(tmp_path):
    """FMCSA's window (docs/packs.md), 3 h here: elapsed from `duty` after 10 h off duty,
    fired on `driving`. The day before, `a` drove 1 h on meituan (a shift of its own, closed
    by the night's rest). On the day `a` is on duty (other work) on meituan from 06:00 and
    drives 06:30-07:30; `b` drives on didi from 08:00 to 10:00. 3 h have elapsed at 09:00,
    while `b` drives: the violation, period_start 06:00, value 10,800 s of wall time. Its
    `by_platform` is the rule's measure, driving, in the shift up to 09:00: meituan 3,600 s,
    didi 3,600 s (the model's reading: wall time belongs to no platform, and the day before
    is another shift). `resolved` comes when 10 h off duty complete, 10:00 + 10 h: the shift's
    driving, 3 h, 1 h of it meituan's."""
    rule = {"id": "window", "kind": "since_rest", "measure": "driving", "rest_unless": "duty",
            "elapsed_from": "duty", "reset_rest": 10 * HOUR, "limit": 3 * HOUR}
    events = [
        ev("a", "2026-03-01 12:00", "activity", "meituan", "driving"),
        ev("a", "2026-03-01 13:00", "activity", "meituan", "rest"),
        ev("a", "06:00", "activity", "meituan", "other_work"),
        ev("a", "06:30", "activity", "meituan", "driving"),
        ev("a", "07:30", "activity", "meituan", "rest"),
        ev("b", "08:00", "activity", "didi", "driving"),
        ev("b", "10:00", "activity", "didi", "rest"),
    ]
    found = check(tmp_path, events, [rule], until=at("2026-03-03 00:00"))
    assert splits_of(found) == [
        (at("09:00"), "violation", 10800, at("06:00"), {"meituan": 3600, "didi": 3600}),
        (at("20:00"), "resolved", 14400, at("06:00"), {"meituan": 3600, "didi": 7200}),
    ]


def test_a_since_rest_shift_leaves_the_shift_before_it_out(tmp_path):
    """A `since_rest` rule on `work` (2 h after a 1 h rest): `a` works on meituan 06:00-07:00,
    then a rest of 1 h, so the shift from 08:00 starts afresh: `b` on eleme 08:00-09:00, `a`
    again 09:00-11:00, moved to didi by a heartbeat at 09:30 (the platform of its latest
    event). The violation at 10:00: {eleme: 3600, meituan: 1800, didi: 1800}; 06:00-07:00 is
    not in the shift."""
    rule = {"id": "shift", "kind": "since_rest", "measure": "work", "reset_rest": HOUR,
            "limit": 2 * HOUR}
    events = [
        ev("a", "06:00", "login", "meituan"),
        ev("a", "07:00", "logout", "meituan"),
        ev("b", "08:00", "login", "eleme"),
        ev("b", "09:00", "logout", "eleme"),
        ev("a", "09:00", "login", "meituan"),
        ev("a", "09:30", "heartbeat", "didi"),
        ev("a", "11:00", "logout", "didi"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [
        (at("10:00"), "violation", 7200, at("08:00"),
         {"eleme": 3600, "meituan": 1800, "didi": 1800})]


def test_an_allowance_goes_to_the_platform_that_used_it(tmp_path):
    """docs/pack-format.md "Allowance" under persons: a daily `period` on `orders` with 1 h of
    allowance and a 2 h limit. `a` is online on meituan from 08:00 and carries an order
    09:00-10:00; `b` is online on eleme from 08:30, waiting, and carries an order from 10:30.
    The person's idle time 08:00-09:00 uses the allowance (meituan 1 h, eleme the half hour it
    was waiting too); 09:00-10:00 is order time, `a`'s: `b` waiting beside it works no
    measured time; from 10:00 the allowance is used up. 2 h are reached at 10:00 with no
    measure, so the violation fires at 10:30, when `b`'s order starts: {meituan: 7200,
    eleme: 1800}."""
    rule = {"id": "day", "kind": "period", "measure": "orders", "period": "day",
            "limit": 2 * HOUR, "allowance": HOUR}
    events = [
        ev("a", "08:00", "login", "meituan"),
        ev("b", "08:30", "login", "eleme"),
        ev("a", "09:00", "order_accepted", "meituan", "o1"),
        ev("a", "10:00", "order_delivered", "meituan", "o1"),
        ev("b", "10:30", "order_accepted", "eleme", "o2"),
        ev("b", "11:00", "order_delivered", "eleme", "o2"),
        ev("a", "12:00", "logout", "meituan"),
        ev("b", "12:00", "logout", "eleme"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [
        (at("10:30"), "violation", 7200, at("00:00"), {"meituan": 7200, "eleme": 1800})]


def test_a_period_of_days_splits_its_whole_window(tmp_path):
    """docs/persons.md: `by_platform` splits the time the rule measures, for a `period` rule
    of `count = 2` days both days, although its `period_start` is the current day's start:
    `a` works 3 h on meituan on 2 March, `b` 2 h on eleme from 08:00 on 3 March; 4 h in two
    days are reached at 09:00 on 3 March, and `by_platform` is {meituan: 10800, eleme:
    3600}."""
    rule = {"id": "two_days", "kind": "period", "measure": "work", "period": "day",
            "count": 2, "limit": 4 * HOUR}
    events = [
        ev("a", "08:00", "login", "meituan"),
        ev("a", "11:00", "logout", "meituan"),
        ev("b", "2026-03-03 08:00", "login", "eleme"),
        ev("b", "2026-03-03 10:00", "logout", "eleme"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [
        (at("2026-03-03 09:00"), "violation", 14400, at("2026-03-03 00:00"),
         {"meituan": 10800, "eleme": 3600})]


def test_a_period_with_a_reset_rest_splits_the_time_after_it(tmp_path):
    """A weekly `period` rule with a `reset_rest` of 2 h (limit 3 h): `a` works on meituan
    08:00-10:00 on Monday, rests 3 h, and `b` works on eleme 13:00-17:00. The count starts
    again at 13:00, so 3 h are reached at 16:00 (value 10,800 s); `period_start` is the
    week's start, Monday 00:00, but the rule measures only the time after the reset rest:
    {eleme: 10800} (docs/persons.md)."""
    rule = {"id": "week", "kind": "period", "measure": "work", "period": "week",
            "reset_rest": 2 * HOUR, "limit": 3 * HOUR}
    events = [
        ev("a", "08:00", "login", "meituan"),
        ev("a", "10:00", "logout", "meituan"),
        ev("b", "13:00", "login", "eleme"),
        ev("b", "17:00", "logout", "eleme"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [
        (at("16:00"), "violation", 10800, at("00:00"), {"eleme": 10800})]


def test_waiting_beside_another_worker_ids_order_is_not_measured_time(tmp_path):
    """A daily `period` on `orders` with 1 h of allowance and a 30 min limit: `a` carries an
    order on meituan 08:00-09:00, `b` is online on eleme 08:00-08:30 with no order. The
    person has an order all along, so the rule measures order time, `a`'s, and `b`'s
    waiting uses none of the allowance (it is not the person's idle time: measures.py, and
    replay's alerts agree); 30 min are reached at 08:30: {meituan: 1800}, no eleme. Replay
    gave eleme 1,800 s too (src/engine/tests.rs:
    an_allowance_rules_by_platform_gives_order_time_to_the_platform_with_the_order)."""
    rule = {"id": "day", "kind": "period", "measure": "orders", "period": "day",
            "limit": 30 * MINUTE, "allowance": HOUR}
    events = [
        ev("a", "08:00", "order_accepted", "meituan", "o1"),
        ev("b", "08:00", "login", "eleme"),
        ev("b", "08:30", "logout", "eleme"),
        ev("a", "09:00", "order_delivered", "meituan", "o1"),
    ]
    found = check(tmp_path, events, [rule])
    assert splits_of(found) == [(at("08:30"), "violation", 1800, at("00:00"), {"meituan": 1800})]


# ------------------------------------------------------------------------- random streams

def give_platforms(rng, events):
    """Gives events random platforms: each worker id its own mostly, another now and then,
    none on some (`unknown`), so that a worker id's time moves between platforms."""
    home = {}
    for event in events:
        mine = home.setdefault(event["worker_id"], rng.choice(PLATFORMS))
        pick = rng.random()
        if pick < 0.55:
            event["platform"] = mine
        elif pick < 0.8:
            event["platform"] = rng.choice(PLATFORMS)


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_by_platform(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, session_timeout, _ = random_case(rng)
        maybe_persons(rng, events, share=1)
        maybe_roles(rng, events, rules)
        give_platforms(rng, events)
        until = None
        if rng.random() < 0.3:
            until = events[-1]["ts"] + rng.randrange(3 * 24 * 60) * MINUTE
        check(tmp_path, events, rules, until, session_timeout, seed)
