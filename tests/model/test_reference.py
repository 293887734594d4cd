"""`workhours replay` against an independent model of SPEC sections 3 and 4, and of section
8's persons and holiday pay (reference.py).

Random streams of a few workers over hours to weeks (every kind, equal and millisecond
`ts`, orders of three ids, fees, rule keys overridden by platform and by role, session
timeouts, `--until`; in a third of them a holiday calendar, so `holiday_pay`; in a third
`subject = "person"`, most worker ids naming one of a few persons) go through the release
binary and through the model; the alerts must be the same, and replay's must come in order
of `at`, each worker's carrying the platform, role and city it last sent, and each person's
its `by_platform` (section 8: the seconds per platform, as the model's docstring reads
docs/persons.md; compared apart from the tuples, keyed by them). Half the streams
reach replay out of order within `allowed_lateness` and with copies of some events (same
`event_id`), while the model reads them sorted and once: SPEC section 5 says the alerts are
the same. A quarter as many streams again run in Europe/Berlin or America/New_York
(`[time] zone`) over a DST change.

A mismatch names the seed: rerun it with `MODEL_SEED=N python3 -m pytest tests/model -q`.
`MODEL_CASES` (default 400) sets how many random streams the run checks.

The binary is `TEST_WORKHOURS_BIN` (tests/run.sh builds it), else target/release/workhours.
"""

import datetime
import json
import os
import random
import subprocess
import zoneinfo

import pytest

from pack_case import BASE, BASE_MS, BIN, instant
from reference import (DAY, HOUR, MINUTE, Rules, alerts, day_start, group_of, in_zone, local_day,
                       overrides_toml, platform_split)

CASES = int(os.environ.get("MODEL_CASES", "400"))
# `holiday_pay_ratio`s, in millionths: 0.5, 1.0, 1.5, 3.0 (exact in binary).
RATIOS = [500_000, 1_000_000, 1_500_000, 3_000_000]
# Logins weigh more, so that there is work to measure.
KINDS = (["login"] * 5 + ["logout"] * 4 + ["break_start"] * 2 + ["break_end"] * 2
         + ["order_accepted"] * 2 + ["order_picked_up", "order_delivered", "order_delivered",
                                     "order_cancelled", "heartbeat"])


def replay(tmp_path, events, config, until=None):
    """Replay's alerts (JSON objects), in replay's order."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "config.toml").write_text(config)
    command = [BIN, "replay", "--config", str(tmp_path / "config.toml"),
               str(tmp_path / "in.jsonl")]
    if until is not None:
        command += ["--until", str(until)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def as_model(alert):
    """An alert of replay's as the model's tuple."""
    key = (alert.get("worker_id") or alert.get("person_id")
           or "/".join(alert[k] for k in ("platform", "role", "city")))
    value = alert.get("value_seconds", alert.get("value_cents_per_hour"))
    limit = alert.get("limit_seconds", alert.get("limit_cents_per_hour"))
    return (instant(alert["at"]), key, alert["rule"], alert["phase"], value, limit,
            instant(alert["period_start"]))


def named_group(events, alert):
    """The (platform, role, city) a worker's or person's alert must carry (SPEC section 4: the
    worker's, last seen; section 8: of the person's last event), as docs/rules.md states it:
    of the subject's last event at or before `at`, but strictly before for the alerts a local
    midnight brings before that instant's events (the ending day's `minimum_wage` and
    `holiday_pay`, a `resolved` whose rest completes at the midnight)."""
    at = instant(alert["at"])
    midnight = day_start(local_day(at)) == at
    strict = (alert["rule"] in ("minimum_wage", "holiday_pay")
              or (alert["phase"] == "resolved" and midnight))
    if "person_id" in alert:
        own = [e for e in events if e.get("person_id") == alert["person_id"]]
    else:
        own = [e for e in events if e["worker_id"] == alert["worker_id"]]
    seen = [e for e in own if (e["ts"] < at if strict else e["ts"] <= at)]
    return group_of(seen[-1])


class Layers:
    """A config's rules: `default` under [rules], and some keys over them by platform and by
    role (dicts of name to a dict of keys), the role's winning (SPEC section 6); with
    `person` (a dict of keys, maybe empty), `subject = "person"` and [rules.person]."""

    def __init__(self, default, platforms=None, roles=None, person=None):
        self.default = default
        self.platforms = platforms or {}
        self.roles = roles or {}
        self.person = person
        # A holiday calendar's statutory holidays and other days off (dates), or none.
        self.holidays = []
        self.rest_days = []
        # `[time] zone`, or None for the default Asia/Shanghai.
        self.zone = None

    def calendar(self):
        """The holiday calendar file's text (config/holidays/cn.toml's format)."""
        def dates(days):
            return ", ".join(f'"{day}"' for day in days)

        return (f"[2026]\nholidays = [{dates(self.holidays)}]\n"
                f"rest_days = [{dates(self.rest_days)}]\nworking_days = []\n")

    def holiday_days(self):
        """The statutory holidays as local day numbers (the model's days)."""
        return frozenset((day - datetime.date(1970, 1, 1)).days for day in self.holidays)

    def toml(self, calendar_file=None):
        """The rules as a workhours config, with the holiday calendar at `calendar_file`."""
        text = self.default.toml("rules")
        if self.person is not None:
            text += 'subject = "person"\n' + overrides_toml("rules.person", self.person)
        for name, keys in self.platforms.items():
            text += overrides_toml(f"rules.platform.{name}", keys)
        for name, keys in self.roles.items():
            text += overrides_toml(f"rules.role.{name}", keys)
        if self.holidays or self.zone:
            text += "[time]\n"
        if self.holidays:
            text += f'holidays = "{calendar_file}"\n'
        if self.zone:
            text += f'zone = "{self.zone}"\n'
        return text

    def rules_of(self, platform, role):
        """The rules of a worker whose first event has this platform and role."""
        return self.default.over(self.platforms.get(platform, {})).over(self.roles.get(role, {}))

    def person_rules(self):
        """Every subject's rules when the subject is the person, else None."""
        return None if self.person is None else self.default.over(self.person)


def random_keys(rng):
    """Some rule keys with values other than those of `random_case`'s [rules]."""
    keys = {
        "continuous_limit": rng.choice([30, 90]) * MINUTE,
        "min_break": rng.choice([5, 20]) * MINUTE,
        "quota_min_workers": rng.choice([1, 3]),
        "weekly_max": rng.choice([7, 12]) * HOUR,
        "monthly_overtime_max": rng.choice([1, 3]) * HOUR,
        "minimum_wage_cents_per_hour": rng.choice([0, 5000]),
        "session_timeout": rng.choice([0, 20]) * MINUTE,
        "holiday_pay_ratio_ppm": rng.choice(RATIOS),
    }
    keys = {key: value for key, value in keys.items() if rng.random() < 0.6}
    if rng.random() < 0.6:
        # The day's standard and maximum together: one layer never inverts them.
        keys["daily_standard"] = rng.choice([2, 4]) * HOUR
        keys["daily_max"] = keys["daily_standard"] + rng.choice([0, 1]) * HOUR
    return keys


# Zones with DST, and the local days before which they change in 2026 (Europe/Berlin: 29
# March and 25 October; America/New_York: 8 March and 1 November, at 02:00 local).
DST_CHANGES = {
    "Europe/Berlin": [datetime.date(2026, 3, 29), datetime.date(2026, 10, 25)],
    "America/New_York": [datetime.date(2026, 3, 8), datetime.date(2026, 11, 1)],
}


def random_case(rng, zone=None):
    """A random stream (in `ts` order), its rules (`Layers`) and maybe an `--until`; with
    `zone`, in that zone from a day or two before one of its DST changes."""
    default = Rules(continuous_limit=60 * MINUTE, warn_before=10 * MINUTE,
                    daily_standard=3 * HOUR, daily_max=5 * HOUR, weekly_max=10 * HOUR,
                    monthly_overtime_max=4 * HOUR, quota_min_workers=2,
                    min_break=rng.choice([10, 20, 30]) * MINUTE)
    if rng.random() < 0.4:
        default.session_timeout = rng.choice([15, 30, 45]) * MINUTE
    default.holiday_pay_ratio_ppm = rng.choice(RATIOS)
    layers = Layers(default, {"p2": random_keys(rng)},
                    {"driver": random_keys(rng)} if rng.random() < 0.5 else {})
    workers = rng.randrange(1, 14)
    # Persons (section 8) in a third of the streams: most worker ids name one of a few
    # persons on every event, the others stand for persons of their own.
    persons = {}
    if rng.random() < 1 / 3:
        layers.person = random_keys(rng)
        persons = {f"w{n}": f"P{rng.randrange(4)}" for n in range(workers) if rng.random() < 0.7}
    span = rng.choice([300, 1500, 3000, 6000, 15000, 30000])
    base = BASE_MS
    if zone:
        # From 20:00 local one or two days before the change, over it.
        layers.zone = zone
        day = rng.choice(DST_CHANGES[zone]) - datetime.timedelta(days=rng.choice([1, 2]))
        base = int(datetime.datetime.combine(day, datetime.time(20), zoneinfo.ZoneInfo(zone))
                   .timestamp()) * 1000
        span = rng.choice([3000, 6000, 15000])
    events = []
    for _ in range(rng.randrange(5, 250)):
        ts = (base + rng.randrange(span) * MINUTE // rng.choice([1, 1, 1, 2])
              + rng.choice([0, 0, 0, 1, 999, rng.randrange(MINUTE)]))
        event = {"worker_id": f"w{rng.randrange(workers)}", "kind": rng.choice(KINDS), "ts": ts}
        if event["kind"].startswith("order"):
            event["order_id"] = f"o{rng.randrange(3)}"
        if event["kind"] == "order_delivered" and rng.random() < 0.8:
            event["fee_cents"] = rng.randrange(3000)
        if rng.random() < 0.5:
            event["city"] = rng.choice(["c1", "c2"])
        if rng.random() < 0.5:
            event["platform"] = "p2"
        role = rng.random()
        if role < 0.3:
            event["role"] = "driver"
        elif role < 0.5:
            event["role"] = "rider"
        if event["worker_id"] in persons:
            event["person_id"] = persons[event["worker_id"]]
        events.append(event)
    events.sort(key=lambda e: e["ts"])
    # A holiday calendar in half the streams that reach 3 March (a third of all): statutory
    # holidays and another day off among the stream's days after its first (1 March), so that
    # there are ordinary days to pool.
    if not zone:
        last = datetime.datetime.fromtimestamp(events[-1]["ts"] / 1000, BASE.tzinfo).date()
        if rng.random() < 0.5 and last.day >= 3:
            days = rng.sample(range(2, last.day + 1), min(4, last.day - 1))
            layers.holidays = sorted(datetime.date(2026, 3, d) for d in days[:-1])
            layers.rest_days = [datetime.date(2026, 3, days[-1])]
    elif rng.random() < 0.5:
        # Holidays among the local days after the first, the change's day among them.
        tz = zoneinfo.ZoneInfo(zone)
        first, last = (datetime.datetime.fromtimestamp(events[i]["ts"] / 1000, tz).date()
                       for i in (0, -1))
        after = [first + datetime.timedelta(days=n) for n in range(1, (last - first).days + 1)]
        if len(after) >= 2:
            days = rng.sample(after, min(4, len(after)))
            layers.holidays = sorted(days[:-1])
            layers.rest_days = [days[-1]]
    until = None
    if rng.random() < 0.3:
        until = events[-1]["ts"] + rng.randrange(600) * MINUTE
    return events, layers, until


def disorder(rng, events):
    """`events` as they might reach replay: each with an `event_id`, delayed by up to the
    default `allowed_lateness` (30 s), and some read again later (a copy never before its
    original). A subject's events of one `ts` keep their order (SPEC section 5: they apply in
    input order): a worker's, or a person's, share a delay."""
    lateness = 30_000
    delays = {}
    arrivals = []
    for n, event in enumerate(events):
        event = dict(event, event_id=f"e{n}")
        subject = event.get("person_id", event["worker_id"])
        delay = delays.setdefault((subject, event["ts"]), rng.randrange(lateness + 1))
        arrivals.append((event["ts"] + delay, n, event))
    for k in range(rng.randrange(20)):
        arrival, _, event = rng.choice(arrivals[:len(events)])
        # Some copies come after the window of lateness: late, and still no change.
        extra = rng.choice([0, 1, rng.randrange(lateness), rng.randrange(2 * HOUR)])
        arrivals.append((arrival + extra, len(events) + k, event))
    arrivals.sort(key=lambda a: a[:2])
    return [event for _, _, event in arrivals]


def model_splits(events, layers, until=None):
    """The model's alerts of `events` under `layers` up to `until` (else the last event), and
    the `by_platform` of each person alert among them (none unless `subject = "person"`)."""
    end = until if until is not None else events[-1]["ts"]
    with in_zone(layers.zone):
        want = alerts(events, layers.rules_of, end, layers.person_rules(), layers.holiday_days())
        splits = (platform_split(events, want, layers.person_rules())
                  if layers.person is not None else {})
    return want, splits


def check(tmp_path, events, layers, until=None, read=None):
    """Replay's alerts are the model's, in order of `at`, and its person alerts' `by_platform`
    the model's; returns them. Replay reads `read` (by default `events`), the model
    `events`."""
    want, want_splits = model_splits(events, layers, until)
    calendar_file = tmp_path / "holidays.toml"
    if layers.holidays:
        calendar_file.write_text(layers.calendar())
    found = replay(tmp_path, read or events, layers.toml(calendar_file), until)
    got = [as_model(alert) for alert in found]
    assert [a[0] for a in got] == sorted(a[0] for a in got), "replay's alerts out of order"
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert sorted(got) == want, f"only the model: {missing}; only replay: {extra}"
    # by_platform: on a person's alerts only (not a worker id's standing alone, nor a group's).
    got_splits = {}
    for alert in found:
        if "person_id" in alert:
            assert "by_platform" in alert, alert
            got_splits[as_model(alert)] = alert["by_platform"]
        else:
            assert "by_platform" not in alert, alert
    differ = {a: (want_splits.get(a), got_splits.get(a))
              for a in sorted(set(want_splits) | set(got_splits))
              if want_splits.get(a) != got_splits.get(a)}
    assert not differ, f"by_platform (the model's, replay's): {differ}"
    for alert in found:
        if "worker_id" in alert or "person_id" in alert:
            carried = (alert["platform"], alert["role"], alert["city"])
            with in_zone(layers.zone):
                assert carried == named_group(events, alert), alert
    return got


def test_the_model_gives_sections_examples_by_hand(tmp_path):
    """The model itself against figures worked out from SPEC by hand: a login and nothing
    for 5 hours gives the warning at 3 h 45 min and the violation at 4 h (section 4); a
    20-minute break then resolves it; 1 h 30 min paid 3,000 fen is under 2,100 fen an hour.
    """
    login = BASE_MS + 2 * HOUR  # 22:00 local
    events = [
        {"worker_id": "w", "kind": "login", "ts": login},
        {"worker_id": "w", "kind": "logout", "ts": login + 5 * HOUR},
        {"worker_id": "v", "kind": "login", "ts": login + 3 * HOUR},
        {"worker_id": "v", "kind": "order_delivered", "ts": login + 4 * HOUR, "order_id": "o",
         "fee_cents": 3000},
        {"worker_id": "v", "kind": "order_delivered", "ts": login + 4 * HOUR + 1,
         "order_id": "o", "fee_cents": 9000},
        {"worker_id": "v", "kind": "logout", "ts": login + 4 * HOUR + 30 * MINUTE},
    ]
    events.sort(key=lambda e: e["ts"])
    midnight = BASE_MS + 4 * HOUR
    defaults = Layers(Rules())
    got = check(tmp_path, events, defaults)
    assert got == alerts(events, defaults.rules_of, login + 5 * HOUR) == [
        (login + 3 * HOUR + 45 * MINUTE, "w", "continuous_work", "warning", 13500, 13500,
         login),
        (login + 4 * HOUR, "w", "continuous_work", "violation", 14400, 14400, login),
    ], "replay runs to the last event only: no midnight after it, nothing resolved yet"
    until = midnight + DAY
    model = alerts(events, defaults.rules_of, until)
    assert model[-2:] == [
        (login + 5 * HOUR + 20 * MINUTE, "w", "continuous_work", "resolved", 5 * 3600, 14400,
         login),
        # v works 01:00 to 02:30 on 2 March; the second delivery repeats the order's.
        (until, "v", "minimum_wage", "violation", 3000 * 3600 // 5400, 2100, midnight),
    ], model
    check(tmp_path, events, defaults, until=until)


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_alerts_on_random_streams(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    if "MODEL_SEED" in os.environ:
        seeds = [int(os.environ["MODEL_SEED"])] if block == 0 else []
    else:
        per = (CASES + 3) // 4
        seeds = range(block * per, min(CASES, (block + 1) * per))
    for seed in seeds:
        rng = random.Random(seed)
        events, layers, until = random_case(rng)
        read = disorder(rng, events) if seed % 2 else None
        try:
            check(tmp_path, events, layers, until, read)
        except AssertionError as error:
            raise AssertionError(f"seed {seed} (MODEL_SEED={seed}): {error}") from None


@pytest.mark.parametrize("block", range(2))
def test_replay_gives_the_models_alerts_across_dst_changes(tmp_path, block):
    """As above in zones with DST (`[time] zone`), over a change: local days of 23 and 25
    hours for the daily, weekly and monthly rules, `weekly_rest`, `minimum_wage` and
    `quota_p90` at the midnights. A quarter as many streams."""
    if "MODEL_SEED" in os.environ:
        seeds = [int(os.environ["MODEL_SEED"])] if block == 0 else []
    else:
        per = (CASES // 4 + 1) // 2
        seeds = range(block * per, (block + 1) * per)
    for seed in seeds:
        rng = random.Random(seed)
        events, layers, until = random_case(rng, rng.choice(sorted(DST_CHANGES)))
        read = disorder(rng, events) if seed % 2 else None
        try:
            check(tmp_path, events, layers, until, read)
        except AssertionError as error:
            raise AssertionError(f"seed {seed} (MODEL_SEED={seed}), zone {layers.zone}: "
                                 f"{error}") from None


# Monday 2 March 2026, 00:00 local: the hand-computed `by_platform` cases' day.
MONDAY = BASE_MS + 4 * HOUR
# 1 March 2026, 00:00 local: the month's start.
MARCH = BASE_MS - 20 * HOUR


def event(worker, kind, ts, platform=None, **fields):
    """An event of person `P` (unless `person_id=None`) on `platform` (none: `unknown`)."""
    made = {"worker_id": worker, "kind": kind, "ts": ts, "person_id": "P"}
    if platform is not None:
        made["platform"] = platform
    made.update(fields)
    return {key: value for key, value in made.items() if value is not None}


def test_by_platform_splits_an_episode_by_the_platform_of_each_worker_ids_latest_event(
        tmp_path):
    """docs/persons.md by hand: person P works 08:00 to 13:00 on worker ids `a` (meituan),
    `c` (meituan, 08:30 to 09:30, beside `a`: meituan's time once), `b` (eleme, 09:00 to
    10:00, beside `a`: under each platform) and `d` (didi, 400 ms: listed, `0`); `a`'s bare
    heartbeat at 11:00 moves its later time to `unknown` (the latest event's platform, not the
    first's). So the entries add up to more than `value_seconds` (one hour more: eleme's
    overlap), and `z`, never seen with a `person_id`, stands alone: its alerts name it and
    carry no `by_platform` (checked by `check`)."""
    at = MONDAY + 8 * HOUR
    events = [
        event("a", "login", at, "meituan"),
        event("z", "login", at, "meituan", person_id=None),
        event("c", "login", at + 30 * MINUTE, "meituan"),
        event("b", "login", at + HOUR, "eleme"),
        event("c", "logout", at + 90 * MINUTE, "meituan"),
        event("b", "logout", at + 2 * HOUR, "eleme"),
        event("d", "login", at + 150 * MINUTE, "didi"),
        event("d", "logout", at + 150 * MINUTE + 400, "didi"),
        event("a", "heartbeat", at + 3 * HOUR),
        event("z", "logout", at + 270 * MINUTE, "meituan", person_id=None),
        event("a", "logout", at + 5 * HOUR),
    ]
    layers = Layers(Rules(), person={})
    until = at + 6 * HOUR
    want, splits = model_splits(events, layers, until)
    person = [(a, splits[a]) for a in want if a[1] == "P"]
    assert person == [
        ((at + 225 * MINUTE, "P", "continuous_work", "warning", 13500, 13500, at),
         {"meituan": 10800, "eleme": 3600, "didi": 0, "unknown": 2700}),
        ((at + 4 * HOUR, "P", "continuous_work", "violation", 14400, 14400, at),
         {"meituan": 10800, "eleme": 3600, "didi": 0, "unknown": 3600}),
        # The rest from 13:00 completes at 13:20: the whole episode, its rest holding none.
        ((at + 5 * HOUR + 20 * MINUTE, "P", "continuous_work", "resolved", 18000, 14400, at),
         {"meituan": 10800, "eleme": 3600, "didi": 0, "unknown": 7200}),
    ], person
    assert [a[1:4] for a in want if a[1] == "z"] == [
        ("z", "continuous_work", "warning"), ("z", "continuous_work", "violation"),
        ("z", "continuous_work", "resolved")]
    assert set(splits) == {a for a, _ in person}
    check(tmp_path, events, layers, until)


def test_by_platform_of_the_day_rules_is_the_days_work_and_weekly_rest_has_none(tmp_path):
    """docs/persons.md by hand: P works 2 to 8 March, each day 10:00 to 11:00 on meituan and
    10:30 to 12:00 on eleme (2 h as a person), paid 100 fen for an order delivered at 11:45.
    Each midnight's `minimum_wage` (50 fen an hour) and 8 March's `holiday_pay` (a statutory
    holiday paid 50 fen an hour, as the six days before) give the day's working time per
    platform, {meituan: 3600, eleme: 5400}; `weekly_rest` fires at the first working instant
    of the 7th day, which holds no time yet: `{}`."""
    events = []
    for n in range(7):
        day = MONDAY + n * DAY
        events += [
            event("a", "login", day + 10 * HOUR, "meituan"),
            event("b", "login", day + 10 * HOUR + 30 * MINUTE, "eleme"),
            event("a", "logout", day + 11 * HOUR, "meituan"),
            event("b", "order_delivered", day + 11 * HOUR + 45 * MINUTE, "eleme",
                  order_id=f"o{n}", fee_cents=100),
            event("b", "logout", day + 12 * HOUR, "eleme"),
        ]
    layers = Layers(Rules(), person={})
    layers.holidays = [datetime.date(2026, 3, 8)]
    until = MONDAY + 7 * DAY + HOUR
    want, splits = model_splits(events, layers, until)
    day_split = {"meituan": 3600, "eleme": 5400}
    assert [(a, splits[a]) for a in want] == sorted(
        [((MONDAY + (n + 1) * DAY, "P", "minimum_wage", "violation", 50, 2100,
           MONDAY + n * DAY), day_split) for n in range(7)]
        + [((MONDAY + 6 * DAY + 10 * HOUR, "P", "weekly_rest", "violation", 7 * 86400,
             7 * 86400, MONDAY + 6 * DAY), {}),
           ((MONDAY + 7 * DAY, "P", "holiday_pay", "violation", 50, 50, MONDAY + 6 * DAY),
            day_split)])
    check(tmp_path, events, layers, until)


def test_by_platform_of_monthly_overtime_is_the_months_work(tmp_path):
    """docs/persons.md by hand: with a daily standard of 1 h and 1 h 30 min of overtime a
    month, P works 2 h on meituan on 2 March and 2 h on eleme on 3 March; the overtime reaches
    1 h 30 min at 09:30 on 3 March, and `by_platform` gives the month's working time up to
    then (7,200 s meituan, 5,400 s eleme), not the overtime, which belongs to no platform. Each
    day's `daily_hours` warning at 09:00 has its own day's platform only."""
    first, second = MONDAY + 8 * HOUR, MONDAY + DAY + 8 * HOUR
    events = [
        event("a", "login", first, "meituan"),
        event("a", "logout", first + 2 * HOUR, "meituan"),
        event("b", "login", second, "eleme"),
        event("b", "logout", second + 2 * HOUR, "eleme"),
    ]
    layers = Layers(Rules(), person={"daily_standard": HOUR, "monthly_overtime_max": 90 * MINUTE})
    want, splits = model_splits(events, layers)
    assert [(a, splits[a]) for a in want] == [
        ((first + HOUR, "P", "daily_hours", "warning", 3600, 3600, MONDAY), {"meituan": 3600}),
        ((second + HOUR, "P", "daily_hours", "warning", 3600, 3600, MONDAY + DAY),
         {"eleme": 3600}),
        ((second + 90 * MINUTE, "P", "monthly_overtime", "violation", 5400, 5400, MARCH),
         {"meituan": 7200, "eleme": 5400}),
    ]
    check(tmp_path, events, layers)


def test_by_platform_takes_an_instants_last_event_and_each_worker_ids_own_timeout(tmp_path):
    """By hand, with a 30-minute `session_timeout`: `a` logs in on meituan at 08:00 and sends
    two heartbeats at 08:10, on eleme then on meituan (of one instant the last in input order
    names the platform: SPEC section 5, equal `ts` apply in input order), then nothing, so it
    stops at 08:40 even though `b` (eleme, 08:20 to 09:30) sends heartbeats meanwhile
    (docs/persons.md: a lost logout on one platform is not kept alive by another's events)."""
    at = MONDAY + 8 * HOUR
    events = [
        event("a", "login", at, "meituan"),
        event("a", "heartbeat", at + 10 * MINUTE, "eleme"),
        event("a", "heartbeat", at + 10 * MINUTE, "meituan"),
        event("b", "login", at + 20 * MINUTE, "eleme"),
        event("b", "heartbeat", at + 45 * MINUTE, "eleme"),
        event("b", "heartbeat", at + 70 * MINUTE, "eleme"),
        event("b", "logout", at + 90 * MINUTE, "eleme"),
    ]
    layers = Layers(Rules(continuous_limit=HOUR, warn_before=10 * MINUTE,
                          session_timeout=30 * MINUTE), person={})
    until = at + 2 * HOUR
    want, splits = model_splits(events, layers, until)
    assert [(a, splits[a]) for a in want] == [
        ((at + 50 * MINUTE, "P", "continuous_work", "warning", 3000, 3000, at),
         {"meituan": 2400, "eleme": 1800}),
        ((at + HOUR, "P", "continuous_work", "violation", 3600, 3600, at),
         {"meituan": 2400, "eleme": 2400}),
        ((at + 110 * MINUTE, "P", "continuous_work", "resolved", 5400, 3600, at),
         {"meituan": 2400, "eleme": 4200}),
    ]
    check(tmp_path, events, layers, until)
