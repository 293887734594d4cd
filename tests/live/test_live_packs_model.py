"""Randomized differential test of rule packs with dispatch holds: `workhours run` (live, on a
Tansu broker) against `workhours replay --holds FILE` of the same events (SPEC sections 5
and 7, docs/packs.md, docs/pack-format.md "Holds").

Each case is generated from one seed: a pack configuration among the shipped packs whose rules
hold (`cn-mohrss-2024`, `didi-2018`, `cn-road-traffic`, `eu-561`, `us-fmcsa-property`,
`us-fmcsa-property-60`), as `[rules] pack` and/or `[rules.platform.NAME] pack` /
`[rules.role.NAME] pack` (a platform or role left to the default `cn-weihai-2022`, which holds
nothing, now and then), sometimes `cn-mohrss-2024`'s limits overridden through the rule keys
it reads (`continuous_limit`, `warn_before`, `min_break`, `daily_standard`, `daily_max`,
globally or per table), sometimes a `session_timeout`; a random zone and `allowed_lateness`;
2 to 6 workers with the packs' real thresholds in mind, timestamps one to two weeks in the
past: under an order pack, sessions of 2 to 13 hours of orders accepted, picked up and
delivered or cancelled with short gaps between (rests of exactly 10 min, 20 min, 1 ms less,
a few seconds, ...), breaks, heartbeats; under a driving pack, shifts of 5 to 16 hours of
`activity` events (driving stretches of minutes to 9 hours, stops of `other_work`,
`available` or `rest` of a few seconds, of exactly 15, 20, 30, 45 min or 1 ms less, ...)
with rests of 7 to 34 hours between them, over one to six days. One more worker, the probe,
is anchored to the wall clock: their pack's first `continuous` rule is violated 5 minutes
before the case is made, so its hold is still open when the views are read. Events go out
keyed by `worker_id`, to an input topic of 1 to 4 partitions, shuffled within
`allowed_lateness`, with exact copies of some events (duplicates while the id is remembered)
and a few late events (older than their worker's newest less the lateness: dead-lettered,
left out of replay's input).

Scenarios (seed N: the (N-1) mod 6-th), as in test_live_model.py: the whole stream before the
monitor starts (`idle_timeout` 2 s fires the tail); the monitor first and fed in chunks; a
SIGTERM or a `kill -9` (once or twice) mid-stream and a restart; two monitors in one group,
and the same with one stopped by SIGTERM mid-stream (handover). Except in the first, monitors
run with `idle_timeout` 60 s and the stream ends with a heartbeat of a `clock-P` worker on each
partition P, stamped with the wall clock (input of replay too).

The check, once every hold and alert replay gives up to LO has arrived (waited for with
deadlines, not slept), LO the instant every partition's event time has surely passed (the
clock heartbeats' less the lateness and 1 s, or the read's start less the lateness and 3 s):
- the holds topic, read in full with confluent-kafka, holds every hold of `workhours replay
  --holds FILE --until LO` of the valid events sorted by `ts` (stably), and nothing replay
  does not give `--until` the end of the read; each hold as replay has it, field for field,
  keyed by its `worker_id`; copies of one `hold_id` byte-identical, and copies only after a
  crash or with two monitors;
- the alerts topic likewise (by `alert_id`, key `worker_id`);
- replay's own holds against its alerts: each hold is a violation of its rule at `from`, every
  violation of a holding rule has its hold, and `until` is `from` plus the rest the kind asks
  for where pack-format.md fixes it (continuous without a split, since_rest, rest_deadline);
- `/v1/workers/{id}` of every worker (asked of every running monitor: one answers 200) equals
  the worker's line of `workhours status --at AS_OF` of the same events, AS_OF the view's
  `as_of`; the probe's view must list its open hold.

Run: `python3 -m pytest tests/live/test_live_packs_model.py -q` (LIVE_PACKS_CASES cases,
default 6, one per scenario, about 55 s on 2 cores; seeds LIVE_PACKS_FIRST_SEED on, default
1). Rerun one case: `MODEL_SEED=N`. The stream is anchored to the start of the current ISO
week (UTC) less 8 days, so a seed gives the same events all week (LIVE_PACKS_ANCHOR, RFC 3339,
printed with each case, reproduces another week's); the probe worker follows the wall clock.
A failure prints the seed, scenario, config and the case's tmp dir (`produced.jsonl`:
messages in production order with partition, key and sort; `replay.jsonl`, `replay.toml`;
the monitors' logs).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

import harness
from harness import ALERTS_TOPIC
from test_live_model import (CaseProducer, Msg, clock_heartbeats, drive_scenario,
                             encode_and_shuffle, fmt_ts, scenario_monitors,
                             sorted_for_replay)
from test_subjects import HOLDS_TOPIC

FIRST_SEED = int(os.environ.get("LIVE_PACKS_FIRST_SEED", "1"))
CASES = int(os.environ.get("LIVE_PACKS_CASES", "6"))
SEEDS = ([int(os.environ["MODEL_SEED"])] if os.environ.get("MODEL_SEED")
         else list(range(FIRST_SEED, FIRST_SEED + CASES)))

SCENARIOS = ["all_first", "fed", "sigterm", "kill9", "two", "two_handover"]
ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"]
PLATFORMS = ["meituan", "didi", "eleme"]
ROLES = ["rider", "driver", "trucker"]
CITIES = ["371000", "110000", "310000"]
SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN

DEFAULT_PACK = "cn-weihai-2022"
# The shipped packs whose rules hold, and what their workers do: orders or declared driving.
STYLE = {"cn-mohrss-2024": "orders", "didi-2018": "orders", "cn-road-traffic": "driving",
         "eu-561": "driving", "us-fmcsa-property": "driving",
         "us-fmcsa-property-60": "driving", DEFAULT_PACK: "orders"}
HOLD_PACKS = [p for p in STYLE if p != DEFAULT_PACK]
# Each pack's first `continuous` rule: (id, limit, break); None: the `[rules]` key it reads.
CONTINUOUS = {
    "cn-mohrss-2024": ("mohrss2024_continuous", "continuous_limit", "min_break"),
    "didi-2018": ("didi2018_continuous", "3h", "20m"),
    "cn-road-traffic": ("cnroad_continuous", "4h", "20m"),
    "eu-561": ("eu561_break", "4h30m", "45m"),
    "us-fmcsa-property": ("fmcsa_break", "8h", "30m"),
    "us-fmcsa-property-60": ("fmcsa_break", "8h", "30m"),
}
# Rules whose hold `until` is `from` plus a fixed rest (pack-format.md "Kinds"): a continuous
# rule without a split break (its break), since_rest (reset_rest), rest_deadline (rest).
FIXED_UNTIL = {"cnroad_continuous": "20m", "cnroad_night": "20m", "fmcsa_break": "30m",
               "didi2018_billed": "6h", "eu561_daily": "9h", "fmcsa_driving": "10h",
               "fmcsa_window": "10h", "eu561_daily_rest": "9h", "eu561_weekly_rest": "24h"}
MOHRSS_KEYS = {"continuous_limit": ["3h", "3h30m", "4h", "2h45m"],
               "warn_before": ["10m", "15m", "30m"], "min_break": ["15m", "20m", "30m"],
               "daily_standard": ["7h", "8h"], "daily_max": ["10h", "11h", "9h30m"]}
RULE_DEFAULTS = {"continuous_limit": "4h", "warn_before": "15m", "min_break": "20m",
                 "daily_standard": "8h", "daily_max": "11h"}


def parse_dur(text: str) -> int:
    units = {"ms": 1, "s": SEC, "m": MIN, "h": HOUR, "d": 24 * HOUR}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


def epoch_ms(text: str) -> int:
    t = harness.parse_rfc3339(text)
    return int(t.timestamp()) * 1000 + t.microsecond // 1000


def anchor_ms() -> int:
    if os.environ.get("LIVE_PACKS_ANCHOR"):
        return epoch_ms(os.environ["LIVE_PACKS_ANCHOR"])
    now = harness.now_utc()
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    return int((monday - timedelta(days=8)).timestamp() * 1000)


# --------------------------------------------------------------------------------------
# The pack configuration

@dataclass
class Packs:
    rules: dict  # [rules]
    tables: dict  # {("platform" | "role", NAME): {key: value}}

    def key(self, platform: str, role: str, key: str, default=None):
        """A rule key in force for a platform and role: role over platform over [rules]."""
        for table in (self.tables.get(("role", role)), self.tables.get(("platform", platform)),
                      self.rules):
            if table and key in table:
                return table[key]
        return default

    def pack(self, platform: str, role: str) -> str:
        return self.key(platform, role, "pack", DEFAULT_PACK)

    def extra(self) -> str:
        out = ""
        for (kind, name), keys in sorted(self.tables.items()):
            out += f"[rules.{kind}.{name}]\n" + "".join(
                f"{k} = {harness.toml_value(v)}\n" for k, v in keys.items())
        return out

    def continuous(self, platform: str, role: str) -> tuple[str, int, int] | None:
        """(rule id, limit ms, break ms) of the first continuous rule of the pack in force."""
        pack = self.pack(platform, role)
        if pack not in CONTINUOUS:
            return None
        rule, limit, brk = CONTINUOUS[pack]
        if pack == "cn-mohrss-2024":
            limit = self.key(platform, role, limit, RULE_DEFAULTS[limit])
            brk = self.key(platform, role, brk, RULE_DEFAULTS[brk])
        return rule, parse_dur(limit), parse_dur(brk)


def make_packs(rng: random.Random) -> Packs:
    rules: dict = {}
    tables: dict = {}
    if rng.random() < 0.8:
        rules["pack"] = rng.choice(HOLD_PACKS)
    for _ in range(rng.choice([0, 1, 1, 2, 3] if rules else [1, 2, 3])):
        kind = rng.choice(["platform", "role"])
        name = rng.choice(PLATFORMS if kind == "platform" else ROLES)
        tables.setdefault((kind, name), {})["pack"] = rng.choice(HOLD_PACKS)
    # cn-mohrss-2024 reads its limits from rule keys: override some, globally or in a table.
    if rng.random() < 0.5:
        for key in rng.sample(sorted(MOHRSS_KEYS), rng.randint(1, 3)):
            value = rng.choice(MOHRSS_KEYS[key])
            if tables and rng.random() < 0.4:
                tables[rng.choice(sorted(tables))][key] = value
            else:
                rules[key] = value
    if rng.random() < 0.2:
        rules["session_timeout"] = rng.choice(["2h", "5h"])
    return Packs(rules, tables)


# --------------------------------------------------------------------------------------
# The workers

def pick(rng: random.Random, table):
    """One of `table`'s (weight, make) entries, made."""
    r = rng.random() * sum(w for w, _ in table)
    for w, make in table:
        r -= w
        if r < 0:
            return make()
    return table[-1][1]()


def jitter(rng: random.Random) -> int:
    return rng.choice([0, 0, 0, rng.randint(1, 59999)])


def order_rest(rng: random.Random, min_break: int) -> int:
    """Time without an order: mostly short, sometimes exactly a break of some pack."""
    return pick(rng, [
        (15, lambda: rng.randint(0, 6 * SEC)),  # within the lateness: reordered in transit
        (35, lambda: rng.randint(0, 5 * MIN)),
        (10, lambda: rng.randint(5 * MIN, 10 * MIN - 1)),
        (15, lambda: rng.choice([10 * MIN, 10 * MIN - 1, 15 * MIN, 20 * MIN, 20 * MIN - 1,
                                 30 * MIN, min_break, min_break - 1])),
        (15, lambda: rng.randint(10, 19) * MIN + jitter(rng)),
        (10, lambda: rng.randint(20, 60) * MIN + jitter(rng)),
    ])


def order_sessions(rng, emit, t: int, sessions: int, min_break: int, last_open: bool) -> int:
    """Sessions of orders (login, accepted, picked up, delivered or cancelled, breaks)."""
    n = 0
    for s in range(sessions):
        if s:
            t += pick(rng, [(3, lambda: rng.randint(30, 180) * MIN),
                            (2, lambda: rng.choice([6 * HOUR, 6 * HOUR - 1, 7 * HOUR])),
                            (4, lambda: rng.randint(8, 16) * HOUR + jitter(rng))])
        emit(t, "login")
        end = t + rng.randint(2 * 60, 13 * 60) * MIN
        active, picked = [], set()
        while True:
            if not active:
                if t >= end:
                    break
                gap = order_rest(rng, min_break)
                if gap >= 5 * MIN and rng.random() < 0.2:
                    emit(t + rng.randint(0, MIN), "break_start")
                    t += gap
                    emit(t, "break_end")
                else:
                    t += gap
                    if rng.random() < 0.1:
                        emit(t, "heartbeat")
                n += 1
                active.append(f"o{n}")
                emit(t, "order_accepted", order_id=active[-1])
                continue
            r = rng.random()
            unpicked = [o for o in active if o not in picked]
            if r < 0.1 and len(active) < 3 and t < end:
                t += rng.randint(0, 10 * MIN)
                n += 1
                active.append(f"o{n}")
                emit(t, "order_accepted", order_id=active[-1])
            elif r < 0.55 and unpicked:
                t += rng.choice([rng.randint(0, 6 * SEC), rng.randint(1 * MIN, 15 * MIN)])
                picked.add(unpicked[0])
                emit(t, "order_picked_up", order_id=unpicked[0])
            elif r < 0.6:
                t += rng.randint(1 * MIN, 20 * MIN)
                if r < 0.58:
                    emit(t, "heartbeat")
                else:  # a worker of an order pack may declare activities too
                    emit(t, "activity", activity=rng.choice(["driving", "rest"]))
            else:
                t += rng.randint(3 * MIN, 45 * MIN) + jitter(rng)
                order = rng.choice(sorted(picked & set(active)) or active)
                active.remove(order)
                if rng.random() < 0.9:
                    emit(t, "order_delivered", order_id=order, fee_cents=rng.randint(0, 3000))
                else:
                    emit(t, "order_cancelled", order_id=order)
        if last_open and s == sessions - 1 and rng.random() < 0.3:
            break  # left online
        t += rng.randint(0, 5 * MIN)
        emit(t, "logout")
    return t


def drive_len(rng: random.Random) -> int:
    return pick(rng, [
        (40, lambda: rng.randint(20, 120) * MIN + jitter(rng)),
        (30, lambda: rng.randint(120, 270) * MIN + jitter(rng)),
        (18, lambda: rng.choice([2 * HOUR, 4 * HOUR, 270 * MIN, 4 * HOUR + 1, 8 * HOUR])),
        (12, lambda: rng.randint(270, 540) * MIN + jitter(rng)),
    ])


def stop_len(rng: random.Random) -> int:
    return pick(rng, [
        (12, lambda: rng.randint(0, 6 * SEC)),  # within the lateness: reordered in transit
        (23, lambda: rng.randint(1 * SEC, 14 * MIN)),
        (25, lambda: rng.choice([15 * MIN, 20 * MIN, 30 * MIN, 45 * MIN, 15 * MIN - 1,
                                 20 * MIN - 1, 30 * MIN - 1, 45 * MIN - 1, 10 * MIN])),
        (25, lambda: rng.randint(15, 44) * MIN + jitter(rng)),
        (15, lambda: rng.randint(45, 150) * MIN + jitter(rng)),
    ])


def driving_shifts(rng, emit, t: int, shifts: int, last_open: bool) -> int:
    """Shifts of declared activities (driving, other work, available, rest)."""
    for s in range(shifts):
        if s:
            t += pick(rng, [(5, lambda: rng.randint(7 * 60, 12 * 60) * MIN + jitter(rng)),
                            (3, lambda: rng.choice([9 * HOUR, 10 * HOUR, 9 * HOUR - 1,
                                                    10 * HOUR - 1, 24 * HOUR])),
                            (1, lambda: rng.choice([34 * HOUR, 30 * HOUR, 34 * HOUR - 1]))])
        session = rng.random() < 0.5
        if session:
            emit(t, "login")
        end = t + rng.randint(5 * 60, 16 * 60) * MIN
        if rng.random() < 0.3:
            emit(t, "activity", activity="other_work")
            t += rng.randint(5, 60) * MIN
        while t < end:
            emit(t, "activity", activity="driving")
            t += drive_len(rng)
            if rng.random() < 0.15:
                emit(t, "heartbeat")
            emit(t, "activity", activity=rng.choice(["other_work", "available", "rest",
                                                     "rest"]))
            t += stop_len(rng)
        if last_open and s == shifts - 1 and rng.random() < 0.3:
            emit(t, "activity", activity="driving")
            break  # still driving at the end of the stream
        if session and rng.random() < 0.7:
            emit(t, "logout")
        else:
            emit(t, "activity", activity="rest")
    return t


def worker_events(rng: random.Random, wid: str, platform: str, role: str, style: str,
                  start: int, min_break: int) -> list[tuple[int, dict]]:
    """One worker's events in time order: (ts ms, fields without `ts`)."""
    city = rng.choice(CITIES)
    events: list[tuple[int, dict]] = []

    def emit(t, kind, **extra):
        fields = {"worker_id": wid, "kind": kind}
        if rng.random() < 0.9:
            fields["event_id"] = f"{wid}#{len(events)}"
        fields.update(platform=platform, role=role)
        if rng.random() < 0.95:
            fields["city"] = city
        fields.update(extra)
        events.append((t, fields))

    if style == "orders":
        order_sessions(rng, emit, start, rng.randint(1, 5), min_break, True)
    else:
        driving_shifts(rng, emit, start, rng.randint(1, 6), True)
    return sorted(events, key=lambda e: e[0])  # stable: breaks inside a rest are emitted late


def probe_events(rng: random.Random, wid: str, platform: str, role: str, style: str,
                 violation: int, limit: int) -> list[tuple[int, dict]]:
    """The probe: its measure on without a stop from `violation - limit`, heartbeats every
    20 to 40 min (a session timeout does not end it), an earlier shift a day before."""
    start = violation - limit
    events: list[tuple[int, dict]] = []

    def emit(t, kind, **extra):
        events.append((t, {"worker_id": wid, "kind": kind, "event_id": f"{wid}#{len(events)}",
                           "platform": platform, "role": role, "city": "371000", **extra}))

    if rng.random() < 0.5:
        t = start - rng.randint(20, 30) * HOUR
        if style == "orders":
            emit(t, "login")
            emit(t + MIN, "order_accepted", order_id="p0")
            emit(t + 2 * MIN, "order_picked_up", order_id="p0")
            emit(t + rng.randint(60, 200) * MIN, "order_delivered", order_id="p0", fee_cents=900)
            emit(t + 210 * MIN, "logout")
        else:
            emit(t, "activity", activity="driving")
            emit(t + rng.randint(60, 200) * MIN, "activity", activity="rest")
    if style == "orders":
        emit(start - rng.randint(0, 10) * MIN, "login")
        emit(start, "order_accepted", order_id="p1")
        emit(start + rng.randint(0, 10) * MIN, "order_picked_up", order_id="p1")
    else:
        emit(start, "activity", activity="driving")
    t = start + rng.randint(20, 40) * MIN
    while t < violation - 10 * MIN:
        emit(t, "heartbeat")
        t += rng.randint(20, 40) * MIN
    return sorted(events, key=lambda e: e[0])


# --------------------------------------------------------------------------------------
# The case

@dataclass
class Case:
    seed: int
    scenario: str
    partitions: int
    time: dict
    packs: Packs
    lateness_ms: int
    msgs: list[Msg]  # production order, without the clock heartbeats
    workers: dict  # worker id: (platform, role, pack)
    probe: str
    probe_rule: str  # the first continuous rule of the probe's pack
    probe_violation: int  # epoch ms: that rule's violation
    stops: int
    stop_waits: list[str]
    splits: list[int]

    def describe(self) -> str:
        count: dict = {}
        for m in self.msgs:
            count[m.sort] = count.get(m.sort, 0) + 1
        probe = harness.rfc3339_ms(datetime.fromtimestamp(self.probe_violation / 1000,
                                                          timezone.utc))
        return (f"seed {self.seed}: {self.scenario}, {self.partitions} partition(s), "
                f"stops {self.stops} {self.stop_waits}, splits {self.splits}, messages {count}"
                f"\n  time {self.time}, rules {self.packs.rules}, tables "
                f"{self.packs.extra()!r}\n  workers {self.workers}\n  probe {self.probe}: "
                f"{self.probe_rule} violated at {probe}")


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    scenario = SCENARIOS[(seed - 1) % len(SCENARIOS)]
    partitions = rng.randint(1, 4)
    lateness_ms = rng.choice([1000, 2000, 3000, 5000, 10000])
    time_cfg = {"allowed_lateness": f"{lateness_ms}ms", "zone": rng.choice(ZONES)}
    packs = make_packs(rng)
    base = anchor_ms() + rng.randint(0, 24 * 60) * MIN

    workers: dict = {}
    good: list[Msg] = []
    home: dict = {}
    for i in range(rng.randint(2, 6)):
        wid = f"p{seed}-{i}" if rng.random() < 0.85 else f"司机{seed}-{i}"
        platform, role = rng.choice(PLATFORMS), rng.choice(ROLES)
        pack = packs.pack(platform, role)
        style = STYLE[pack] if rng.random() < 0.9 else rng.choice(["orders", "driving"])
        workers[wid] = (platform, role, pack)
        home[wid] = rng.randrange(partitions)
        min_break = parse_dur(packs.key(platform, role, "min_break", "20m"))
        for ts, fields in worker_events(rng, wid, platform, role, style,
                                        base + rng.randint(0, 12 * 60) * MIN, min_break):
            good.append(Msg(b"", wid.encode(), home[wid], "good", ts, None, fields))

    # The probe: a pack that holds, its continuous rule violated 5 minutes ago.
    combos = [(p, r) for p in PLATFORMS for r in ROLES if packs.pack(p, r) in CONTINUOUS]
    platform, role = rng.choice(combos)
    rule, limit, _ = packs.continuous(platform, role)
    probe = f"probe{seed}"
    pack = packs.pack(platform, role)
    workers[probe] = (platform, role, pack)
    home[probe] = rng.randrange(partitions)
    violation = (harness.now_ms() // SEC - 5 * 60) * SEC
    for ts, fields in probe_events(rng, probe, platform, role, STYLE[pack], violation, limit):
        good.append(Msg(b"", probe.encode(), home[probe], "good", ts, None, fields))

    msgs = encode_and_shuffle(rng, good, lateness_ms)

    # Exact copies while the id is surely remembered: the newest `ts` read on any partition,
    # less the lateness, short of the first's `ts` + `dedup_window` (1 h) less a minute.
    for m in rng.sample([m for m in msgs if b'"event_id"' in m.value], rng.randint(0, 4)):
        i = msgs.index(m)
        newest = max(x.ts for x in msgs[:i + 1] if x.ts is not None)
        remembered = []
        for j in range(i + 1, len(msgs) + 1):
            if newest - lateness_ms >= m.ts + HOUR - MIN:
                break
            remembered.append(j)
            if j < len(msgs) and msgs[j].ts is not None:
                newest = max(newest, msgs[j].ts)
        msgs.insert(rng.choice(remembered), Msg(m.value, m.key, m.partition, "copy", m.ts))
    # Late events: older than their worker's newest event less the lateness, so older than
    # their partition's watermark however the rest is read.
    for k in range(rng.choice([0, 0, 1, 2])):
        w = rng.choice(sorted(workers))
        positions = [i for i, m in enumerate(msgs) if m.key == w.encode() and m.sort == "good"]
        i = rng.choice(positions)
        newest = max(m.ts for m in msgs[:i + 1] if m.key == w.encode() and m.sort == "good")
        ts = newest - lateness_ms - rng.choice([1, 1000, rng.randint(1, 600) * SEC])
        fields = {"worker_id": w, "kind": rng.choice(["logout", "login", "activity"]),
                  "ts": fmt_ts(rng, ts), "event_id": f"{w}#late{k}", "activity": "driving"}
        msgs.insert(rng.randint(i + 1, len(msgs)),
                    Msg(json.dumps(fields).encode(), w.encode(), home[w], "late", None, "late"))

    stops = {"sigterm": 1, "kill9": rng.randint(1, 2), "two_handover": 1}.get(scenario, 0)
    points = sorted(rng.randint(1, max(1, len(msgs) - 1)) for _ in range(stops + 1))
    waits = [rng.choice(["at_once", "ready", "applied", "holds", "committed"])
             for _ in range(stops)]
    return Case(seed, scenario, partitions, time_cfg, packs, lateness_ms, msgs, workers, probe,
                rule, violation, stops, waits, points)


# --------------------------------------------------------------------------------------
# Replay, status and the checks

def replay_both(path, until: datetime | None, config) -> tuple[dict, dict]:
    """`workhours replay --config CONFIG --holds FILE [--until UNTIL] PATH`:
    ({alert_id: alert}, {hold_id: hold})."""
    holds_file = path.with_name(f"{path.stem}-{uuid.uuid4().hex[:6]}.holds")
    cmd = [str(harness.workhours_bin()), "replay", "--config", str(config), "--holds",
           str(holds_file)]
    if until is not None:
        cmd += ["--until", harness.rfc3339_utc(until)]
    out = subprocess.run(cmd + [str(path)], capture_output=True, check=False,
                         env=harness.child_env())
    assert out.returncode == 0, f"{cmd}: {out.stderr.decode(errors='replace')}"
    alerts = {}
    for line in out.stdout.splitlines():
        if line.strip():
            a = json.loads(line)
            alerts[a["alert_id"]] = a
    holds = {}
    for line in holds_file.read_text().splitlines():
        h = json.loads(line)
        holds[h["hold_id"]] = h
    holds_file.unlink()
    return alerts, holds


def status_at(path, at: str, config) -> dict:
    """`workhours status --config CONFIG --at AT PATH`: {worker_id: view}."""
    cmd = [str(harness.workhours_bin()), "status", "--config", str(config), "--at", at,
           str(path)]
    out = subprocess.run(cmd, capture_output=True, check=False, env=harness.child_env())
    assert out.returncode == 0, f"{cmd}: {out.stderr.decode(errors='replace')}"
    views = {}
    for line in out.stdout.splitlines():
        if line.strip():
            v = json.loads(line)
            views[v.get("worker_id")] = v
    return views


def compare(what: str, id_field: str, records, want_lo: dict, want_hi: dict,
            repeats_allowed: bool) -> list[str]:
    """Live records of a topic against replay's objects: every one up to LO there, none that
    replay does not give up to HI, each as replay has it, keyed by its worker; copies only
    where allowed, and byte-identical."""
    by_id: dict = {}
    for r in records:
        by_id.setdefault(r.json()[id_field], []).append(r)
    problems = []
    missing = [x for i, x in want_lo.items() if i not in by_id]
    extra = [rs[0].json() for i, rs in by_id.items() if i not in want_hi]
    if missing:
        problems.append(f"{len(missing)} of replay's {len(want_lo)} {what} missing live:\n"
                        + "\n".join(f"  {json.dumps(x)}" for x in missing[:8]))
    if extra:
        problems.append(f"{len(extra)} {what} live that replay does not give:\n"
                        + "\n".join(f"  {json.dumps(x)}" for x in extra[:8]))
    repeated = []
    for i, rs in by_id.items():
        if len({r.value for r in rs}) > 1:
            problems.append(f"{what} {i} repeated with different bytes: "
                            f"{[r.value.decode() for r in rs]}")
        if len(rs) > 1:
            repeated.append(i)
        want = want_hi.get(i)
        if want is None:
            continue
        if rs[0].json() != want:
            problems.append(f"live {rs[0].value.decode()}\n  replay {json.dumps(want)}")
        key = want.get("worker_id") or "/".join(want[k] for k in ("platform", "role", "city"))
        if rs[0].key != key.encode():
            problems.append(f"key {rs[0].key!r} of {what} {json.dumps(want)}")
    if repeated and not repeats_allowed:
        problems.append(f"{len(repeated)} {what} more than once with no crash and no "
                        f"second monitor: {repeated[:5]}")
    return problems


def replay_holds_consistent(alerts: dict, holds: dict, case: Case) -> list[str]:
    """Replay's holds against its alerts and pack-format.md: a hold is a violation of a
    holding rule at `from`, every such violation has one, and `until` is fixed for some."""
    problems = []
    holding = {w for w, (_, _, pack) in case.workers.items() if pack in HOLD_PACKS}
    violations = {(a["rule"], a["worker_id"], a["at"]) for a in alerts.values()
                  if a["phase"] == "violation" and a.get("worker_id") in holding
                  and a["rule"] not in ("holiday_pay",)}
    held = {(h["rule"], h["worker_id"], h["from"]) for h in holds.values()}
    if held - violations:
        problems.append(f"replay's holds without a violation at `from`: "
                        f"{sorted(held - violations)[:5]}")
    if violations - held:
        problems.append(f"replay's violations of holding rules without a hold: "
                        f"{sorted(violations - held)[:5]}")
    for h in holds.values():
        start, end = epoch_ms(h["from"]), epoch_ms(h["until"])
        if end <= start:
            problems.append(f"replay's hold ends before it starts: {h}")
        if h["rule"] in FIXED_UNTIL and end - start != parse_dur(FIXED_UNTIL[h["rule"]]):
            problems.append(f"replay's hold {h} lasts {end - start} ms, pack-format.md: "
                            f"{FIXED_UNTIL[h['rule']]}")
    return problems


# --------------------------------------------------------------------------------------
# Running it

@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_live_packs_equal_replay(stack, tmp_path, seed):
    case = make_case(seed)
    anchor = harness.rfc3339_utc(datetime.fromtimestamp(anchor_ms() / 1000, timezone.utc))
    about = f"{case.describe()}\n  anchor {anchor}, files {tmp_path}"
    print(about)
    (tmp_path / "produced.jsonl").write_bytes(b"".join(
        json.dumps({"partition": m.partition, "key": m.key.decode(), "sort": m.sort}).encode()
        + b"\t" + m.value + b"\n" for m in case.msgs))

    broker = stack.broker(topics=False)
    broker.create_pipeline_topics(partitions=case.partitions)
    broker.create_topic(HOLDS_TOPIC, 3)
    producer = CaseProducer(broker)
    alerts_w = stack.watcher(broker)
    holds_w = stack.watcher(broker, HOLDS_TOPIC)
    clocked = case.scenario != "all_first"
    config = {"time": case.time, "rules": case.packs.rules, "extra": case.packs.extra()}
    monitors, group = scenario_monitors(stack, broker, case, "wh-packs", **config)
    msgs = case.msgs
    stopped_how, crashed = drive_scenario(case, seed, broker, producer, monitors, group,
                                          holds_w, about)
    alive = [m for m in monitors if m.proc and m.proc.poll() is None]
    assert alive, "no monitor left running"

    valid = [m for m in msgs if m.sort in ("good", "copy")]
    clocks = clock_heartbeats(producer, case.partitions) if clocked else []
    replay_file = tmp_path / "replay.jsonl"
    replay_file.write_bytes(b"\n".join(sorted_for_replay(valid + clocks)) + b"\n")
    replay_config = harness.rules_config(tmp_path / "replay.toml", case.time, case.packs.rules)
    with open(replay_config, "a") as f:
        f.write(case.packs.extra())
    lateness = case.lateness_ms / 1000

    def settled_lo():
        if clocks:
            return datetime.fromtimestamp(clocks[0].ts / 1000 - lateness - 1, timezone.utc)
        return harness.now_utc() - timedelta(seconds=lateness + 3)

    def hold_ids(records):
        return {r.json()["hold_id"] for r in records}

    def alert_ids(records):
        return {r.json()["alert_id"] for r in records}

    timed_out = None
    try:
        def arrived():
            for m in alive:
                m.check_alive()
            alerts, holds = replay_both(replay_file, settled_lo(), replay_config)
            return (set(holds) <= hold_ids(holds_w.snapshot())
                    and set(alerts) <= alert_ids(alerts_w.snapshot()))
        harness.wait_until("replay's holds and alerts on their topics", arrived, 90,
                           interval=0.3)
    except harness.HarnessError as exc:
        timed_out = str(exc)
        for m in alive:
            m.check_alive()

    lo = settled_lo()
    hold_records = harness.consume_all(broker, HOLDS_TOPIC, quiet=0.5)
    alert_records = harness.consume_all(broker, ALERTS_TOPIC, quiet=0.5)
    hi = harness.now_utc() + timedelta(seconds=2)
    alerts_lo, holds_lo = replay_both(replay_file, lo, replay_config)
    alerts_hi, holds_hi = replay_both(replay_file, hi, replay_config)
    summary = (f"holds: {len(hold_ids(hold_records))} ids live ({len(hold_records)} messages),"
               f" replay {len(holds_lo)} to {len(holds_hi)}; alerts: "
               f"{len(alert_ids(alert_records))} ids live ({len(alert_records)} messages), "
               f"replay {len(alerts_lo)} to {len(alerts_hi)}; stops {stopped_how}")
    print(summary)
    about += "\n  " + summary

    repeats_allowed = crashed or case.scenario.startswith("two")
    problems = compare("holds", "hold_id", hold_records, holds_lo, holds_hi, repeats_allowed)
    problems += compare("alerts", "alert_id", alert_records, alerts_lo, alerts_hi,
                        repeats_allowed)
    problems += replay_holds_consistent(alerts_hi, holds_hi, case)
    probe_holds = [h for h in holds_lo.values() if h["worker_id"] == case.probe]
    if not any(h["rule"] == case.probe_rule and epoch_ms(h["from"]) == case.probe_violation
               for h in probe_holds):
        problems.append(f"replay gives the probe {case.probe} no {case.probe_rule} hold from "
                        f"{case.probe_violation} up to LO: {probe_holds}")

    # The views: every worker's /v1/workers/{id} from the monitor that holds it, against
    # `status --at` its `as_of` of the same events.
    if not problems:
        views = {}
        for w in case.workers:
            path = "/v1/workers/" + urllib.parse.quote(w, safe="")
            answers = [(m.name, *m.get(path, timeout=5)) for m in alive]
            found = [(name, body) for name, code, body in answers if code == 200]
            others = [(name, code) for name, code, _ in answers if code != 200]
            if len(found) != 1 or any(code != 404 for _, code in others):
                problems.append(f"/v1/workers/{w}: {[(n, c) for n, c, _ in answers]}")
                continue
            views[w] = json.loads(found[0][1])
        by_at: dict = {}
        for w, view in views.items():
            by_at.setdefault(view["as_of"], []).append(w)
        for at, ws in sorted(by_at.items()):
            offline = status_at(replay_file, at, replay_config)
            for w in ws:
                want = offline.get(w) or {}
                if want != views[w]:
                    diff = {k: (views[w].get(k), want.get(k)) for k in set(views[w]) | set(want)
                            if views[w].get(k) != want.get(k)}
                    problems.append(f"/v1/workers/{w} differs from status --at {at} "
                                    f"(live, status): {json.dumps(diff)}")
        probe_view = views.get(case.probe)
        if probe_view is not None:
            open_ids = {h["hold_id"] for h in probe_view.get("holds", [])}
            wanted = {h["hold_id"] for h in probe_holds
                      if epoch_ms(h["until"]) > epoch_ms(probe_view["as_of"])}
            if not wanted or not wanted <= open_ids:
                problems.append(f"the probe's view lists holds {open_ids}, replay's open at "
                                f"{probe_view['as_of']}: {wanted}")
        about += f"\n  views of {len(views)} workers at {sorted(by_at)}"
        print(f"views of {len(views)} workers at {sorted(by_at)}, the probe's holds "
              f"{[h['rule'] for h in (probe_view or {}).get('holds', [])]}")
    if timed_out and not problems:
        problems.append(timed_out)
    assert not problems, f"{about}\n" + "\n".join(problems)
    for m in alive:
        m.check_alive()
