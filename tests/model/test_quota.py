"""`workhours replay` against model_quota.py: pack rules of the kind `quota_p90` (SPEC
sections 4 and 7, docs/pack-format.md), with `hours` (wrapping midnight and narrow), either
name of each parameter, session timeouts and `--until`, over random streams of 6 to 15 workers
in 2 or 3 groups (platform, role, city on the events, changing now and then and at midnights,
so that the group of a worker's last event strictly before midnight matters) over one to
three days; a third of them under `subject = "person"` (the quota stays per worker id).
Replay's alerts must be the model's, every field the tuple carries: at, key
`platform/role/city`, rule id, phase, value, limit, period_start; none may carry a
`worker_id`, `person_id` or `by_platform`, and replay writes them in order of `at`, then key
byte by byte, then pack order (docs/rules.md section 4).

First the cases worked by hand from the docs (a wrapping `hours` window, a worker with no time
in the hours not counted in the group, the percentile's rank and its strict comparison, the
last event strictly before midnight, a person's worker ids counted apart), each through the
model and through replay; and the pack shapes replay refuses at start: a second `quota_p90`
rule (replay judged only the first) and `roles` on one (replay counted a worker of an
unlisted first role, with the whole day's time outside the rule's `hours`).

A mismatch names the seed: rerun it with
`MODEL_SEED=N python3 -m pytest test_quota.py -q -p no:cacheprovider`. `MODEL_CASES`
(default 300) sets how many random streams run.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import json
import random
import subprocess

import pytest

from measures import DAY, HOUR, MINUTE, day_start, local_day
from model_quota import model
from pack_case import (BIN, instant, local, maybe_persons, random_events, replay_lines, seeds,
                       write_case)


def replay_quota(tmp_path, events, rules, until=None, session_timeout=0, persons=False):
    """Replay's alerts of `events` under a pack of `rules`, as model_quota's tuples, in
    replay's order; each is a `quota_p90` alert of a group, without `worker_id` or
    `person_id`."""
    lines, _ = replay_lines(tmp_path, events, rules, until, session_timeout, persons)
    found = []
    for line in lines:
        alert = json.loads(line)
        assert "worker_id" not in alert and "person_id" not in alert, line
        assert "by_platform" not in alert, line
        key = f"{alert['platform']}/{alert['role']}/{alert['city']}"
        found.append((instant(alert["at"]), key, alert["rule"], alert["phase"],
                      alert["value_seconds"], alert["limit_seconds"],
                      instant(alert["period_start"])))
    return found


def check(tmp_path, events, rules, until=None, session_timeout=0, seed=None, persons=False):
    """Replay's alerts are the model's, in order of `at`, then key (bytes), then pack order;
    returns them."""
    end = until if until is not None else events[-1]["ts"]
    want = model(events, rules, end, session_timeout, persons)
    got = replay_quota(tmp_path, events, rules, until, session_timeout, persons)
    name = f"seed {seed} (MODEL_SEED={seed}): " if seed is not None else ""
    order = [r["id"] for r in rules]
    assert got == sorted(got, key=lambda a: (a[0], a[1].encode(), order.index(a[2]))), (
        f"{name}alerts out of order: {got}")
    if sorted(got) != want:
        raise AssertionError(
            f"{name}rules {rules}, until {until}, session_timeout {session_timeout}, "
            f"persons {persons}\n"
            f"alerts only in the model: {sorted(set(want) - set(got))}\n"
            f"alerts only in replay: {sorted(set(got) - set(want))}")
    return got


def shift(worker, start, stop, **fields):
    """A login at local `start` and a logout at local `stop` (pack_case.local's text), with
    `fields` on both."""
    return [dict(worker_id=worker, kind="login", ts=local(start), **fields),
            dict(worker_id=worker, kind="logout", ts=local(stop), **fields)]


def in_ts_order(events):
    """`events` sorted by `ts` (stable: equal `ts` keep their order)."""
    return sorted(events, key=lambda e: e["ts"])


MEITUAN = {"platform": "meituan", "role": "rider", "city": "371000"}


def test_a_wrapping_window_counts_only_the_workers_with_time_in_it(tmp_path):
    """`hours = "22:00-06:00"`, a standard of 2 h (docs/pack-format.md: the rule reads the
    working time within the hours; a worker without such time is not in the group).

    a works 20:00 2 March to 02:00 3 March: 2 h in the hours on the 2nd (22:00-24:00), 2 h on
    the 3rd (00:00-02:00); b 05:00-07:00 on the 3rd: 1 h (05:00-06:00); c 23:00 on the 2nd
    to 05:30 on the 3rd: 1 h and 5 h 30 min; d 08:00-20:00 on the 3rd: 12 h, none in the
    hours. The 2nd has two workers in the hours: under `q3`'s 3, skipped. The 3rd has a, b, c
    (d is not in the group): n = 3, the 3rd smallest, 5 h 30 min, is above 2 h; `q4` wants 4
    workers and so skips it (d counted would make 4, and a percentile of 12 h)."""
    events = in_ts_order(
        shift("a", "2026-03-02 20:00", "2026-03-03 02:00", **MEITUAN)
        + shift("b", "2026-03-03 05:00", "2026-03-03 07:00", **MEITUAN)
        + shift("c", "2026-03-02 23:00", "2026-03-03 05:30", **MEITUAN)
        + shift("d", "2026-03-03 08:00", "2026-03-03 20:00", **MEITUAN)
        + [dict(worker_id="d", kind="heartbeat", ts=local("2026-03-04 00:00"), **MEITUAN)])
    rules = [{"id": "q3", "kind": "quota_p90", "hours": "22:00-06:00", "standard": 2 * HOUR,
              "min_workers": 3},
             {"id": "q4", "kind": "quota_p90", "hours": "22:00-06:00", "standard": 2 * HOUR,
              "min_workers": 4}]
    want = [(local("2026-03-04 00:00"), "meituan/rider/371000", "q3", "violation",
             19800, 7200, local("2026-03-03 00:00"))]
    assert model(events, rules, events[-1]["ts"]) == want
    # One rule a pack: replay judges only the first (test_a_second_quota_rule_fires_too).
    for rule in rules:
        assert check(tmp_path, events, [rule]) == [a for a in want if a[2] == rule["id"]]


def test_the_rank_is_the_ceiling_of_nine_tenths_and_the_standard_is_not_a_violation(tmp_path):
    """SPEC section 4: nearest rank, the ceil(0.9 n)-th of n sorted values, strictly above
    the standard. On 2 March ten workers work 1, 2, ... 10 h: the 9th, 9 h, equals `q`'s 9 h
    standard, no violation; on the 3rd eleven work 1 ... 11 h: the 10th, 10 h. `q`'s
    `min_workers` is left out (10, the default `quota_min_workers`); `q8` names its
    parameters `daily_standard` (8 h) and `quota_min_workers` (11: the 2nd is skipped).
    Events without platform, role or city: the group `unknown/rider/unknown`."""
    events = []
    for day, workers in (("2026-03-02", 10), ("2026-03-03", 11)):
        for k in range(1, workers + 1):
            start = local(f"{day} 00:30")
            events += [{"worker_id": f"w{k}", "kind": "login", "ts": start},
                       {"worker_id": f"w{k}", "kind": "logout", "ts": start + k * HOUR}]
    events.append({"worker_id": "w1", "kind": "heartbeat", "ts": local("2026-03-04 00:00")})
    events = in_ts_order(events)
    rules = [{"id": "q", "kind": "quota_p90", "standard": 9 * HOUR},
             {"id": "q8", "kind": "quota_p90", "daily_standard": 8 * HOUR,
              "quota_min_workers": 11}]
    at, since = local("2026-03-04 00:00"), local("2026-03-03 00:00")
    want = [(at, "unknown/rider/unknown", "q", "violation", 36000, 32400, since),
            (at, "unknown/rider/unknown", "q8", "violation", 36000, 28800, since)]
    assert model(events, rules, events[-1]["ts"]) == want
    for rule in rules:
        assert check(tmp_path, events, [rule]) == [a for a in want if a[2] == rule["id"]]


def test_a_worker_is_in_the_group_of_their_last_event_strictly_before_midnight(tmp_path):
    """SPEC section 4: a worker belongs to the group of their last event strictly before the
    day ends. a and b work 09:00-12:00 on 2 March for meituan; a's heartbeat at midnight names
    eleme, too late for the 2nd; b's at 23:59:59.999 is in time. One worker a group, each 3 h
    above a 1 h standard; replay runs to that midnight, whose alerts fire (at or before the
    end)."""
    events = (shift("a", "2026-03-02 09:00", "2026-03-02 12:00", platform="meituan")
              + shift("b", "2026-03-02 09:00", "2026-03-02 12:00", platform="meituan")
              + [{"worker_id": "b", "kind": "heartbeat", "platform": "eleme",
                  "ts": local("2026-03-02 23:59:59.999")},
                 {"worker_id": "a", "kind": "heartbeat", "platform": "eleme",
                  "ts": local("2026-03-03 00:00")}])
    events = in_ts_order(events)
    rules = [{"id": "q", "kind": "quota_p90", "standard": HOUR, "min_workers": 1}]
    at, since = local("2026-03-03 00:00"), local("2026-03-02 00:00")
    want = [(at, "eleme/rider/unknown", "q", "violation", 10800, 3600, since),
            (at, "meituan/rider/unknown", "q", "violation", 10800, 3600, since)]
    assert model(events, rules, events[-1]["ts"]) == want
    assert check(tmp_path, events, rules) == want
    # One millisecond before midnight, the day has not ended: nothing.
    assert check(tmp_path, events, rules, until=at - 1) == []


def person_events():
    """Person P's worker ids a (meituan rider) and b (eleme driver, first seen at 07:00 by a
    heartbeat), and c (meituan rider, standing alone), on 2 March: a 08:00-12:00 and
    13:00-15:00, b 10:00-13:30, c 08:00-10:00; a heartbeat of c at midnight ends the replay
    there."""
    a = {"person_id": "P", "platform": "meituan", "role": "rider"}
    b = {"person_id": "P", "platform": "eleme", "role": "driver"}
    c = {"platform": "meituan", "role": "rider"}
    return in_ts_order(
        [dict(worker_id="b", kind="heartbeat", ts=local("2026-03-02 07:00"), **b)]
        + shift("a", "2026-03-02 08:00", "2026-03-02 12:00", **a)
        + shift("a", "2026-03-02 13:00", "2026-03-02 15:00", **a)
        + shift("b", "2026-03-02 10:00", "2026-03-02 13:30", **b)
        + shift("c", "2026-03-02 08:00", "2026-03-02 10:00", **c)
        + [dict(worker_id="c", kind="heartbeat", ts=local("2026-03-03 00:00"), **c)])


def test_a_persons_worker_ids_count_apart_within_the_hours(tmp_path):
    """SPEC section 8: `quota_p90` stays per worker id; docs/pack-format.md: a worker id's
    time within the hours counts for its group. With `hours = "00:00-14:00"` and a 3 h
    standard: a has 4 h + 1 h = 5 h, c 2 h (meituan, n = 2: the 2nd, 5 h), b 3 h 30 min
    (eleme, alone). P's union, 08:00-14:00 = 6 h, appears nowhere. Without persons the same."""
    events = person_events()
    rules = [{"id": "q", "kind": "quota_p90", "hours": "00:00-14:00", "standard": 3 * HOUR,
              "min_workers": 1}]
    at, since = local("2026-03-03 00:00"), local("2026-03-02 00:00")
    want = [(at, "eleme/driver/unknown", "q", "violation", 12600, 10800, since),
            (at, "meituan/rider/unknown", "q", "violation", 18000, 10800, since)]
    for persons in (True, False):
        assert model(events, rules, events[-1]["ts"], persons=persons) == want
        assert check(tmp_path, events, rules, persons=persons) == want


def test_a_second_rule_and_roles_are_refused_at_start(tmp_path):
    """A pack with two `quota_p90` rules, or one with `roles`, is refused with a clear error
    (docs/pack-format.md): a group's quota is judged once a day, by the pack of the group's
    platform and role. Replay judged only the first rule, and with `roles = ["driver"]` it
    counted in a driver group a worker whose first event was a rider's, with the whole day's
    time outside the rule's `hours`."""
    events = shift("w", "2026-03-02 08:00", "2026-03-02 18:00")
    for rules, said in [
        ([{"id": "q1", "kind": "quota_p90", "standard": HOUR, "min_workers": 1},
          {"id": "q2", "kind": "quota_p90", "standard": 2 * HOUR, "min_workers": 1}],
         "a pack has at most one `quota_p90` rule (`q1` is one)"),
        ([{"id": "q", "kind": "quota_p90", "standard": HOUR, "min_workers": 2,
           "roles": ["driver"], "hours": "00:00-06:00"}],
         "`roles` on a `quota_p90` rule"),
    ]:
        config, read = write_case(tmp_path, events, rules)
        done = subprocess.run([BIN, "replay", "--config", str(config), str(read)],
                              capture_output=True, text=True, check=False)
        assert done.returncode != 0 and said in done.stderr, done.stderr


# ------------------------------------------------------------------------- random streams

PLATFORMS = ["meituan", "eleme", "didi"]
ROLES = ["rider", "rider", "driver"]
CITIES = ["371000", "370100"]
HOURS = ["22:00-06:00", "23:50-00:10", "12:00-12:30", "06:00-22:00", "00:00-06:00",
         "18:00-09:30", "09:00-09:01"]


def random_rules(rng):
    """A `quota_p90` rule, as a pack's one: standards from a minute to 20 h (some off the
    second), small `min_workers` (so that groups fire) or the default 10, either parameter
    name, `hours` on some."""
    rule = {"id": "q", "kind": "quota_p90"}
    standard = rng.choice([MINUTE, 30 * MINUTE, 2 * HOUR, 2 * HOUR, 5 * HOUR, 5 * HOUR,
                           8 * HOUR, 12 * HOUR, 20 * HOUR, 3 * HOUR + 1500,
                           "$daily_standard", None])
    if standard is not None:
        rule[rng.choice(["standard", "standard", "daily_standard"])] = standard
    workers = rng.choice([1, 1, 2, 2, 2, 3, 3, 4, 5, "$quota_min_workers", None])
    if workers is not None:
        rule[rng.choice(["min_workers", "min_workers", "quota_min_workers"])] = workers
    if rng.random() < 0.4:
        if rng.random() < 0.5:
            rule["hours"] = rng.choice(HOURS)
        else:
            start, end = rng.sample([0, 6, 9, 18, 22], 2)
            rule["hours"] = f"{start:02}:00-{end:02}:{rng.choice(['00', '30'])}"
    return [rule]


def random_groups(rng, events):
    """Puts 2 or 3 groups (platform, role, city) on the events: each worker starts in one and
    moves to another now and then; a group may leave a field out (its default)."""
    groups = []
    while len(groups) < rng.choice([2, 3]):
        group = {"platform": rng.choice(PLATFORMS), "role": rng.choice(ROLES),
                 "city": rng.choice(CITIES)}
        for field in ("platform", "city"):
            if rng.random() < 0.15:
                del group[field]
        if group not in groups:
            groups.append(group)
    current = {}
    move = rng.choice([0.02, 0.05, 0.15])
    for event in events:
        worker = event["worker_id"]
        # An event at a midnight moves its worker more often: too late for the day it ends.
        midnight = event["ts"] == day_start(local_day(event["ts"]))
        if worker not in current or rng.random() < (0.7 if midnight else move):
            current[worker] = rng.choice(groups)
        event.update(current[worker])


def random_case(rng):
    """A random stream, its rule (`random_rules`), an `--until` or None, a session timeout
    and persons."""
    workers = rng.randrange(6, 16)
    events = random_events(rng, workers=workers, events=rng.randrange(workers * 8, workers * 30),
                           span_minutes=rng.choice([1500, 3000, 4500]))
    if rng.random() < 0.5:
        # Events at midnights and a millisecond before (SPEC section 4: the group is that of
        # the last event strictly before the day ends).
        days = range(local_day(events[0]["ts"]), local_day(events[-1]["ts"]) + 1)
        for _ in range(rng.randrange(1, 2 * workers)):
            ts = day_start(rng.choice(days)) - rng.choice([0, 0, 1])
            if events[0]["ts"] <= ts <= events[-1]["ts"]:
                events.append({"worker_id": f"w{rng.randrange(workers)}",
                               "kind": rng.choice(["heartbeat", "login", "logout"]), "ts": ts})
        events = in_ts_order(events)
    random_groups(rng, events)
    rules = random_rules(rng)
    until = None
    if rng.random() < 0.3:
        last = events[-1]["ts"]
        until = rng.choice([last + rng.randrange(2 * DAY // MINUTE) * MINUTE,
                            day_start(local_day(last) + 1), day_start(local_day(last) + 1) - 1])
    timeout = rng.choice([0, 0, 0, 30 * MINUTE, 2 * HOUR])
    persons = maybe_persons(rng, events)
    return events, rules, until, timeout, persons


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_quota_alerts(tmp_path, block):
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, until, timeout, persons = random_case(rng)
        check(tmp_path, events, rules, until, timeout, seed, persons)


def test_the_random_cases_fire(tmp_path):
    """The random cases are worth their time: most of the first hundred have alerts, some
    with several groups at one midnight, some with `hours`, some under persons."""
    fired = with_hours = several = with_persons = 0
    for seed in range(100):
        events, rules, until, timeout, persons = random_case(random.Random(seed))
        end = until if until is not None else events[-1]["ts"]
        found = model(events, rules, end, timeout, persons)
        fired += bool(found)
        with_hours += bool(found) and any("hours" in r for r in rules)
        with_persons += bool(found) and persons
        at_once = {}
        for alert in found:
            at_once.setdefault(alert[0], set()).add(alert[1])
        several += any(len(keys) > 1 for keys in at_once.values())
    assert fired >= 40 and with_hours >= 8 and several >= 20 and with_persons >= 10, (
        fired, with_hours, several, with_persons)
