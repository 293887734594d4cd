"""`workhours replay`'s admission of events (SPEC section 5: watermark, `allowed_lateness`, late
events, duplicates by `event_id` within `dedup_window`, `worker_ttl`, `too_many_orders`; with
section 3's `session_timeout`) against an independent model (model_admission.py), whose
applied events go to reference.py for the alerts.

Random streams of a few workers over hours to two days reach replay out of order, within and
beyond `allowed_lateness` (0 s, 30 s or 5 min), with copies of some events: re-sent at
delays inside and past `dedup_window` (1 ms, 10 min or 1 h), under another `worker_id` (no
duplicate), with another `ts` or kind (still a duplicate), or without `event_id` (never one);
some with a short `worker_ttl` (2 h or 3 h) and a worker silent for exactly it, 1 ms less or
1 ms more; some with a burst of order starts past 64 active orders; some with bad lines (a
far `ts` among them, which must move no watermark); some cut by `--until`. Replay's alerts must
be the model's (reference.py's tuples, in order of `at`, each carrying the platform, role and
city of its worker's last applied event; `quota_p90` over every life's ended days, groups of 1
to 10 workers), and its summary's counts the model's (lines, valid, bad by reason, duplicates,
late, after `--until`, applied, no-op state changes, session timeouts, workers forgotten,
alerts). A third of the streams write every other `ts` as RFC 3339 (+08:00).

A mismatch names the seed: rerun it with `MODEL_SEED=N`; `MODEL_CASES` (default 300) sets
how many random streams the run checks. The hand cases below each state one rule by itself;
those marked `xfail(strict=True)` are disagreements of the binary with the docs.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import datetime
import json
import random
import re
import subprocess

import pytest

from model_admission import Bad, Time, admit, applied_events, life_alerts
from pack_case import BASE, BASE_MS, BIN, instant, seeds
from reference import (DAY, HOUR, MINUTE, SECOND, Rules, day_start, group_of, local_day,
                       overrides_toml)

# Logins weigh more, so that there is work to measure.
KINDS = (["login"] * 5 + ["logout"] * 3 + ["break_start", "break_end"]
         + ["order_accepted"] * 2 + ["order_picked_up", "order_delivered", "order_delivered",
                                     "order_cancelled"] + ["heartbeat"] * 2)
# The counts of replay's summary the model gives.
COUNTED = ("lines read", "valid events", "bad events", "duplicates (dropped)", "late (dropped)",
           "after --until (not applied)", "applied", "no-op state changes", "session timeouts",
           "workers forgotten (ttl)", "alerts")


class Config:
    """Rules under [rules] and [rules.platform.p2], and the [time] keys with `--until`."""

    def __init__(self, default=None, p2=None, time=None):
        self.default = default or Rules()
        self.p2 = p2 or {}
        self.time = time or Time()
        # Every other line's `ts` written as RFC 3339.
        self.rfc3339 = False

    def rules_of(self, platform, _role):
        """The rules of a worker whose life's first event names this platform."""
        return self.default.over(self.p2) if platform == "p2" else self.default

    def session_timeout_of(self, platform, role):
        """A worker's `session_timeout` (0: off)."""
        return self.rules_of(platform, role).session_timeout

    def toml(self):
        """The config file's text."""
        text = self.default.toml("rules")
        if self.p2:
            text += overrides_toml("rules.platform.p2", self.p2)
        return text + self.time.toml()


def line_text(line, rfc3339=False):
    """One input line as written; with `rfc3339`, its `ts` as an RFC 3339 string in +08:00
    (SPEC 2: either form is the same instant)."""
    if isinstance(line, Bad):
        return line.text
    if rfc3339:
        seconds, millis = divmod(line["ts"], SECOND)
        stamp = datetime.datetime.fromtimestamp(seconds, BASE.tzinfo).replace(microsecond=0)
        text = stamp.isoformat().replace("+08:00", f".{millis:03d}+08:00")
        line = dict(line, ts=text)
    return json.dumps(line)


def parse_summary(stderr):
    """The counts of replay's summary on stderr, and the bad events by reason."""
    counts, reasons, section = {}, {}, None
    lines = stderr.splitlines()
    start = lines.index("workhours replay summary") + 1
    for line in lines[start:]:
        found = re.match(r"^( +)(.+?) {2,}(\d+)$", line)
        if not found:
            continue
        indent, name, number = len(found[1]), found[2], int(found[3])
        if indent <= 2:
            counts[name], section = number, name
        elif section == "bad events":
            reasons[name] = number
    counts["reasons"] = reasons
    return counts


def run(tmp_path, lines, config):
    """Replay of `lines` (in arrival order) under `config`: its alerts (JSON objects) and the
    counts of its summary."""
    (tmp_path / "in.jsonl").write_text("".join(line_text(x, config.rfc3339 and n % 2) + "\n"
                                               for n, x in enumerate(lines)))
    (tmp_path / "config.toml").write_text(config.toml())
    command = [BIN, "replay", "--config", str(tmp_path / "config.toml"),
               str(tmp_path / "in.jsonl")]
    if config.time.until is not None:
        command += ["--until", str(config.time.until)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(x) for x in done.stdout.splitlines()], parse_summary(done.stderr)


def as_model(alert):
    """A worker's alert of replay's as reference.py's tuple."""
    value = alert.get("value_seconds", alert.get("value_cents_per_hour"))
    limit = alert.get("limit_seconds", alert.get("limit_cents_per_hour"))
    key = alert.get("worker_id") or "/".join(alert[k] for k in ("platform", "role", "city"))
    return (instant(alert["at"]), key, alert["rule"], alert["phase"], value, limit,
            instant(alert["period_start"]))


def carried(applied, alert):
    """The (platform, role, city) a worker's alert must carry (docs/rules.md section 4): of
    the worker's last applied event at or before `at`, strictly before for the alerts a local
    midnight brings before that instant's events (`minimum_wage`, a `resolved` at midnight)."""
    at = instant(alert["at"])
    strict = alert["rule"] == "minimum_wage" or (
        alert["phase"] == "resolved" and day_start(local_day(at)) == at)
    seen = [e for e in applied if e["worker_id"] == alert["worker_id"]
            and (e["ts"] < at if strict else e["ts"] <= at)]
    return group_of(seen[-1])


def check(tmp_path, lines, config, name=""):
    """Replay's alerts and summary counts of `lines` are the model's; returns the model's
    `Admitted` and replay's alert tuples."""
    admitted = admit(lines, config.time, config.session_timeout_of)
    want = life_alerts(admitted, config.rules_of)
    found, counts = run(tmp_path, lines, config)
    got = [as_model(a) for a in found]
    assert [a[0] for a in got] == sorted(a[0] for a in got), f"{name}alerts out of order"
    if sorted(got) != want:
        only_model = sorted(set(want) - set(got))
        only_replay = sorted(set(got) - set(want))
        raise AssertionError(f"{name}alerts: only the model: {only_model}; "
                             f"only replay: {only_replay}")
    applied = applied_events(admitted)
    for alert in (a for a in found if "worker_id" in a):
        assert (alert["platform"], alert["role"], alert["city"]) == carried(applied, alert), \
            f"{name}{alert}"
    model_counts = dict(admitted.counts, alerts=len(want))
    differ = {key: (model_counts[key], counts.get(key)) for key in COUNTED
              if model_counts[key] != counts.get(key)}
    if model_counts["reasons"] != counts["reasons"]:
        differ["reasons"] = (model_counts["reasons"], counts["reasons"])
    assert not differ, f"{name}summary (the model's, replay's): {differ}"
    return admitted, got


# ---------------------------------------------------------------------------------------------
# Random streams


def random_config(rng):
    """Rules small enough for alerts within hours, maybe a `session_timeout`, and [time]."""
    default = Rules(continuous_limit=60 * MINUTE, warn_before=10 * MINUTE,
                    daily_standard=3 * HOUR, daily_max=5 * HOUR, weekly_max=10 * HOUR,
                    monthly_overtime_max=4 * HOUR, min_break=rng.choice([10, 20]) * MINUTE,
                    quota_min_workers=rng.choice([1, 2, 3, 10]))
    if rng.random() < 0.5:
        default.session_timeout = rng.choice([15, 45]) * MINUTE
    p2 = {"continuous_limit": 30 * MINUTE, "warn_before": 5 * MINUTE,
          "session_timeout": rng.choice([0, 20 * MINUTE])}
    time = Time(allowed_lateness=rng.choice([0, 30 * SECOND, 5 * MINUTE]),
                dedup_window=rng.choice([1, 10 * MINUTE, HOUR, HOUR, 3 * HOUR]),
                worker_ttl=rng.choice([None, 30 * MINUTE, 2 * HOUR, 2 * HOUR, 3 * HOUR]))
    return Config(default, p2, time)


def base_events(rng, config):
    """A stream in `ts` order, with a silent gap of about `worker_ttl` and a burst of order
    starts past 64 in some."""
    workers = rng.randrange(1, rng.choice([6, 12]))
    span = rng.choice([300, 900, 1500, 3000])
    events = []
    for _ in range(rng.randrange(10, 200)):
        ts = (BASE_MS + rng.randrange(span) * MINUTE // rng.choice([1, 1, 2])
              + rng.choice([0, 0, 0, 1, 999, rng.randrange(MINUTE)]))
        event = {"worker_id": f"w{rng.randrange(workers)}", "kind": rng.choice(KINDS), "ts": ts}
        if event["kind"].startswith("order"):
            event["order_id"] = f"o{rng.randrange(3)}"
        if event["kind"] == "order_delivered" and rng.random() < 0.5:
            event["fee_cents"] = rng.randrange(3000)
        if rng.random() < 0.3:
            event["platform"] = "p2"
        if rng.random() < 0.3:
            event["city"] = rng.choice(["c1", "c2"])
        events.append(event)
    if rng.random() < 0.3:
        # w0 starts 60 to 75 orders, re-starting some active ones and ending a few.
        ts = BASE_MS + rng.randrange(span) * MINUTE
        starts = []
        for k in range(rng.randrange(62, 80)):
            ts += rng.choice([0, 1, 1000, rng.randrange(MINUTE)])
            kind = rng.choice(["order_accepted"] * 4 + ["order_picked_up"])
            order = f"b{k}"
            if starts and rng.random() < 0.1:
                order = rng.choice(starts)
                if rng.random() < 0.4:
                    kind = rng.choice(["order_delivered", "order_cancelled"])
            starts.append(order)
            events.append({"worker_id": "w0", "kind": kind, "ts": ts, "order_id": order})
        for order in sorted(set(starts)):
            ts += rng.randrange(MINUTE)
            events.append({"worker_id": "w0", "kind": "order_delivered", "ts": ts,
                           "order_id": order})
    events.sort(key=lambda e: e["ts"])
    ttl = config.time.worker_ttl
    if ttl and rng.random() < 0.6:
        # A worker silent for worker_ttl exactly, 1 ms less or 1 ms more, then an event.
        pick = rng.choice(events)
        again = pick["ts"] + ttl + rng.choice([-1, 0, 0, 1])
        events = [e for e in events if e["worker_id"] != pick["worker_id"]
                  or not pick["ts"] < e["ts"] < again]
        events.append({"worker_id": pick["worker_id"], "kind": rng.choice(["heartbeat", "login"]),
                       "ts": again})
        events.sort(key=lambda e: e["ts"])
    for n, event in enumerate(events):
        if rng.random() < 0.85:
            event["event_id"] = f"e{n}"
    return events


def copy_of(rng, event, workers, lateness, window):
    """Another line carrying `event`'s `event_id` (or none), and how long after it it comes."""
    delay = rng.choice([0, 1, rng.randrange(lateness + 1), lateness, lateness + 1,
                        window - rng.randrange(MINUTE), window + lateness + rng.choice([0, 1]),
                        rng.randrange(2 * HOUR)])
    copy = dict(event)
    if rng.random() < 0.3:
        # The copy's own group: a duplicate's changes nothing, not the group alerts carry.
        copy["city"] = rng.choice(["c1", "c2", "c3"])
    variant = rng.random()
    if variant < 0.15 and len(workers) > 1:
        copy["worker_id"] = rng.choice([w for w in workers if w != event["worker_id"]])
    elif variant < 0.35:
        copy["ts"] += rng.choice([-1, 1]) * rng.choice([1, SECOND, rng.randrange(10 * MINUTE)])
    elif variant < 0.45:
        copy["kind"] = rng.choice(KINDS)
        if copy["kind"].startswith("order"):
            copy.setdefault("order_id", "o0")
    elif variant < 0.55:
        copy.pop("event_id")
    return copy, delay


def random_case(rng):
    """A random config and its input lines in arrival order."""
    config = random_config(rng)
    config.rfc3339 = rng.random() < 0.3
    time = config.time
    events = base_events(rng, config)
    lateness = time.allowed_lateness
    spread = rng.choice([0, lateness, 2 * lateness + 1, lateness + 5 * MINUTE])
    arrivals = [(e["ts"] + rng.randrange(spread + 1), n, e) for n, e in enumerate(events)]
    workers = sorted({e["worker_id"] for e in events} | {"w9"})
    with_ids = [a for a in arrivals if "event_id" in a[2]]
    for k in range(rng.randrange(30) if with_ids else 0):
        arrival, _, event = rng.choice(with_ids)
        copy, delay = copy_of(rng, event, workers, lateness, time.dedup_window)
        arrivals.append((arrival + delay, len(events) + k, copy))
    arrivals.sort(key=lambda a: a[:2])
    lines = [e for _, _, e in arrivals]
    if rng.random() < 0.3:
        far = max(e["ts"] for e in events) + DAY
        for _ in range(rng.randrange(1, 4)):
            bad = rng.choice([
                Bad("timestamp_out_of_range",
                    json.dumps({"worker_id": "w0", "kind": "login", "ts": 4102444800000})),
                Bad("wrong_type", json.dumps({"worker_id": "w0", "kind": "login", "ts": far,
                                              "platform": 5})),
                Bad("unknown_kind", json.dumps({"worker_id": "w1", "kind": "nap", "ts": far})),
                Bad("not_json", '{"worker_id": "w0", "kind": "login", "ts": ' + str(far)),
            ])
            lines.insert(rng.randrange(len(lines) + 1), bad)
    if rng.random() < 0.3:
        stamps = sorted(e["ts"] for e in events)
        time.until = (rng.choice(stamps[len(stamps) // 3:])
                      + rng.choice([0, -1, 1, rng.randrange(HOUR)]))
    return config, lines


@pytest.mark.parametrize("block", range(4))
def test_replay_admits_as_the_model_on_random_streams(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        config, lines = random_case(rng)
        check(tmp_path, lines, config, f"seed {seed} (MODEL_SEED={seed}): ")


# ---------------------------------------------------------------------------------------------
# Hand cases: each rule by itself, the model's answer checked by hand, then replay's.

T0 = BASE_MS + 14 * HOUR  # 2 March 2026, 10:00 local


def ev(worker, kind, at, **fields):
    """An event of `worker` at `at` (ms)."""
    return dict({"worker_id": worker, "kind": kind, "ts": at}, **fields)


def short_rules(**keys):
    """Continuous work of 1 h (warning at 50 min), so that an hour's work shows."""
    return Rules(continuous_limit=HOUR, warn_before=10 * MINUTE, **keys)


def phases(got):
    """(at, worker, phase) of continuous-work alerts."""
    return [(a[0], a[1], a[3]) for a in got if a[2] == "continuous_work"]


def test_an_event_at_the_watermark_counts_and_one_below_is_late(tmp_path):
    """SPEC 5: an event with `ts` = the watermark still counts; 1 ms below is late. With 30 s
    of lateness, after an event at T0 + 30 s, a login at T0 counts and a logout at T0 - 1 ms
    is late, so the worker works on to the warning at T0 + 50 min."""
    lines = [ev("a", "heartbeat", T0 + 30 * SECOND), ev("a", "login", T0),
             ev("a", "logout", T0 - 1), ev("a", "heartbeat", T0 + HOUR)]
    admitted, got = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["late (dropped)"] == 1
    assert phases(got) == [(T0 + 50 * MINUTE, "a", "warning"), (T0 + HOUR, "a", "violation")]


def test_zero_lateness_makes_any_earlier_ts_late(tmp_path):
    """`allowed_lateness = "0s"`: the watermark is the largest `ts`, equal `ts` still counts."""
    lines = [ev("a", "login", T0), ev("b", "login", T0), ev("a", "logout", T0 - 1),
             ev("a", "heartbeat", T0 + HOUR)]
    admitted, _ = check(tmp_path, lines, Config(short_rules(), time=Time(allowed_lateness=0)))
    assert admitted.counts["late (dropped)"] == 1


def test_a_bad_line_with_a_far_ts_moves_no_watermark(tmp_path):
    """SPEC 2: a bad event changes nothing, so it makes no later event late."""
    far = T0 + DAY
    lines = [ev("a", "login", T0),
             Bad("wrong_type", json.dumps(ev("a", "login", far, platform=5))),
             Bad("timestamp_out_of_range", json.dumps(ev("a", "login", 4102444800000))),
             ev("a", "logout", T0 + 2 * HOUR)]
    admitted, got = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["late (dropped)"] == 0 and len(phases(got)) == 2


def test_a_copy_changes_nothing_not_even_the_last_seen_time(tmp_path):
    """SPEC 5: a duplicate does not refresh the worker's last event: with a 30 min session
    timeout, a login at T0, a heartbeat at T0 + 20 min and its copy re-stamped at T0 + 45 min
    (same id, other `ts`: still a duplicate) leave the timeout at T0 + 50 min, and the
    worker works 50 min, not 75: a warning at 50 min exactly is no work (no alert)."""
    lines = [ev("a", "login", T0), ev("a", "heartbeat", T0 + 20 * MINUTE, event_id="h"),
             ev("a", "heartbeat", T0 + 45 * MINUTE, event_id="h"),
             ev("b", "heartbeat", T0 + 2 * HOUR)]
    admitted, got = check(tmp_path, lines, Config(short_rules(session_timeout=30 * MINUTE)))
    assert admitted.counts["duplicates (dropped)"] == 1
    assert admitted.counts["session timeouts"] == 1 and phases(got) == []


def test_the_same_event_id_of_another_worker_is_no_duplicate(tmp_path):
    """rules.md 7: the id is per `worker_id`."""
    lines = [ev("a", "login", T0, event_id="x"), ev("b", "login", T0, event_id="x"),
             ev("c", "heartbeat", T0 + HOUR)]
    admitted, got = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["duplicates (dropped)"] == 0
    assert {w for _, w, _ in phases(got)} == {"a", "b"}


def test_an_event_without_id_is_never_a_duplicate(tmp_path):
    """SPEC 2: `event_id` is optional; two equal lines without one are two events (a no-op)."""
    lines = [ev("a", "login", T0), ev("a", "login", T0), ev("a", "heartbeat", T0 + HOUR)]
    admitted, _ = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["duplicates (dropped)"] == 0 and admitted.counts["applied"] == 3


def test_a_copy_past_the_window_is_late_and_one_inside_is_a_duplicate(tmp_path):
    """SPEC 5: an id is remembered until the watermark passes its `ts` + `dedup_window`
    (10 min); a copy read then is a duplicate; once forgotten, the copy is late anyway. The
    watermark after the event at T0 + 10 min 30 s is T0 + 10 min: not past T0 + 10 min."""
    window = 10 * MINUTE
    lines = [ev("a", "login", T0, event_id="x"),
             ev("a", "heartbeat", T0 + window + 30 * SECOND),
             ev("a", "login", T0, event_id="x"),
             ev("a", "heartbeat", T0 + window + 30 * SECOND + 1),
             ev("a", "login", T0, event_id="x"),
             ev("a", "heartbeat", T0 + HOUR)]
    admitted, _ = check(tmp_path, lines, Config(short_rules(), time=Time(dedup_window=window)))
    assert admitted.counts["duplicates (dropped)"] == 1
    assert admitted.counts["late (dropped)"] == 1


def test_a_late_event_remembers_its_id(tmp_path):
    """DESIGN "Time and order": a late event's id is remembered; a later copy of it with a
    `ts` that is not late is a duplicate, and the worker never logs in."""
    lines = [ev("b", "heartbeat", T0 + MINUTE), ev("a", "login", T0, event_id="x"),
             ev("a", "login", T0 + 2 * MINUTE, event_id="x"), ev("b", "heartbeat", T0 + HOUR)]
    admitted, got = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["late (dropped)"] == 1
    assert admitted.counts["duplicates (dropped)"] == 1 and got == []


def test_of_two_copies_within_the_lateness_the_earlier_ts_counts(tmp_path):
    """rules.md 7 "Duplicates": a logout read first at T0 + 62 min and a copy with its id
    stamped T0 + 61 min read next: the second counts, the first is dropped (one duplicate),
    and the end of event time is the copy's (no timer runs to T0 + 62 min)."""
    lines = [ev("a", "login", T0), ev("a", "logout", T0 + 62 * MINUTE, event_id="x"),
             ev("a", "logout", T0 + 61 * MINUTE, event_id="x")]
    admitted, got = check(tmp_path, lines, Config(short_rules(), time=Time(
        allowed_lateness=5 * MINUTE)))
    assert admitted.counts["duplicates (dropped)"] == 1 and admitted.end == T0 + 61 * MINUTE
    assert phases(got) == [(T0 + 50 * MINUTE, "a", "warning"), (T0 + HOUR, "a", "violation")]


def test_an_id_reused_past_window_and_lateness_is_a_new_event(tmp_path):
    """DESIGN: an id is judged with the larger of the watermark before the event and its own
    `ts - allowed_lateness`: reused more than `dedup_window` + `allowed_lateness` later, it is
    a new event even when nothing moved the watermark between."""
    window = 10 * MINUTE
    lines = [ev("a", "login", T0, event_id="x"),
             ev("a", "logout", T0 + window + 30 * SECOND + 1, event_id="x"),
             ev("b", "heartbeat", T0 + HOUR)]
    admitted, _ = check(tmp_path, lines, Config(short_rules(), time=Time(dedup_window=window)))
    assert admitted.counts["duplicates (dropped)"] == 0 and admitted.counts["applied"] == 3


@pytest.mark.parametrize("gap, fresh", [(-1, False), (0, False), (1, True)])
def test_a_worker_silent_for_worker_ttl_is_forgotten(tmp_path, gap, fresh):
    """config.md `worker_ttl`: an event exactly `worker_ttl` (2 h) after the last still finds
    the worker; 1 ms later it starts afresh: a p2 worker (30 min limit) logs in at T0 and
    works, forgotten at T0 + 2 h (no work after); the heartbeat then, on no platform, starts a
    new life with the default rules, not working."""
    ttl = 2 * HOUR
    p2 = {"continuous_limit": 30 * MINUTE, "warn_before": 5 * MINUTE}
    lines = [ev("a", "login", T0, platform="p2"), ev("a", "heartbeat", T0 + ttl + gap),
             ev("b", "heartbeat", T0 + 5 * HOUR)]
    admitted, got = check(tmp_path, lines, Config(Rules(continuous_limit=HOUR + HOUR // 2,
                                                        warn_before=MINUTE), p2,
                                                  Time(worker_ttl=ttl)))
    assert len(admitted.lives["a"]) == (2 if fresh else 1)
    assert admitted.counts["workers forgotten (ttl)"] == (2 if fresh else 1)
    assert [p for _, w, p in phases(got) if w == "a"] == ["warning", "violation"]


def test_too_many_orders_refuses_the_65th_start_but_not_a_restart(tmp_path):
    """SPEC 5: an order start beyond 64 active orders is bad (`too_many_orders`); starting an
    order already active goes beyond nothing; a refused start changes nothing and its id is
    remembered (DESIGN), so its copy after a delivery is a duplicate."""
    lines = [ev("a", "order_accepted", T0 + k, order_id=f"o{k}") for k in range(64)]
    lines += [ev("a", "order_accepted", T0 + 100, order_id="o64", event_id="x"),
              ev("a", "order_picked_up", T0 + 101, order_id="o3"),
              ev("a", "order_delivered", T0 + 102, order_id="o0"),
              ev("a", "order_accepted", T0 + 103, order_id="o64", event_id="x"),
              ev("a", "order_accepted", T0 + 104, order_id="o65")]
    admitted, _ = check(tmp_path, lines, Config(short_rules()))
    assert admitted.counts["reasons"] == {"too_many_orders": 1}
    assert admitted.counts["duplicates (dropped)"] == 1


def test_until_leaves_out_later_events_so_they_make_none_late(tmp_path):
    """README and DESIGN: events after `--until T` move no watermark, so an event that they
    would make late is applied."""
    lines = [ev("a", "login", T0), ev("a", "heartbeat", T0 + 3 * HOUR),
             ev("a", "logout", T0 + 20 * MINUTE)]
    admitted, got = check(tmp_path, lines, Config(short_rules(), time=Time(until=T0 + HOUR)))
    assert admitted.counts["after --until (not applied)"] == 1
    assert admitted.counts["late (dropped)"] == 0 and phases(got) == []


def test_forgetting_comes_after_the_timers_of_its_instant(tmp_path):
    """DESIGN ("a worker without an event for `worker_ttl` is forgotten at that instant, after
    the events and timers of the instant"): a worker logged in at T0 and silent reaches a 2 h
    limit at T0 + 2 h, the instant a 2 h `worker_ttl` forgets them: the violation fires."""
    rules = Rules(continuous_limit=2 * HOUR, warn_before=MINUTE)
    lines = [ev("a", "login", T0), ev("b", "heartbeat", T0 + 3 * HOUR)]
    admitted, got = check(tmp_path, lines, Config(rules, time=Time(worker_ttl=2 * HOUR)))
    assert phases(got)[-1] == (T0 + 2 * HOUR, "a", "violation")
    assert admitted.counts["workers forgotten (ttl)"] == 1


def test_a_session_timeout_past_worker_ttl_never_comes(tmp_path):
    """A worker forgotten at T0 + 2 h (`worker_ttl`) has no state left to time out at T0 + 3 h
    (`session_timeout`): no session timeout is counted, and work stops at T0 + 2 h."""
    rules = Rules(continuous_limit=150 * MINUTE, warn_before=MINUTE, session_timeout=3 * HOUR)
    lines = [ev("a", "login", T0), ev("b", "heartbeat", T0 + 5 * HOUR)]
    admitted, got = check(tmp_path, lines, Config(rules, time=Time(worker_ttl=2 * HOUR)))
    assert admitted.counts["session timeouts"] == 0 and phases(got) == []
