"""Randomized differential test of persons with rule packs that hold: `workhours run` with
`[rules] subject = "person"` and a shipped pack whose rules hold (or a `pack_file`), on a Tansu
broker, against `workhours replay --holds FILE` and `workhours status --at` of the same events
with the same config (SPEC sections 2-5, 7 and 8; docs/persons.md, docs/rules.md sections 5
and 6, docs/pack-format.md "Holds").

Each case is generated from one seed: `subject = "person"`; the pack as `[rules] pack`, or a
`pack_file` (a shipped pack copied under another name), sometimes overridden by
`[rules.person] pack`; now and then `[rules.platform.NAME]` / `[rules.role.NAME]` tables that
name other packs and `cn-mohrss-2024` limits (persons.md: they apply neither to persons nor to
a worker id standing alone), and `cn-mohrss-2024` limits in `[rules]` or `[rules.person]`
(which do); a random zone and `allowed_lateness`. One to three persons (a 64-hex `person_id`),
each with one to three worker ids on different platforms whose sessions overlap in time, made
by test_live_packs_model.py (orders or declared driving, hours long, over days); each worker
id of one of test_live_persons_model.py's sorts (`all`, `first`, `some`, `late_join`: alone up
to an event in its stream, then the person's), keyed as that model keys them, on the person's
partition; one or two plain workers never seen with a `person_id`; a probe person anchored to
the wall clock: worker id A's measure from `violation - limit` to past half the limit, worker id
B's from half the limit on, B alone at first and joining the person 10 min later (heartbeats
every 20 to 40 min against a `session_timeout`), so that the
person's first `continuous` rule (neither worker id's alone) was violated 5 minutes before the
case was made and its hold, naming both, is still open when the views are read. Shuffled within
the lateness (test_live_model.py), the worker ids of the last three sorts kept in `ts` order,
exact copies while remembered, late events and bad lines.

Scenarios (seed N: the (N-1) mod 6-th), monitors, idle timeouts and clock heartbeats as
test_live_model.py (`run_against_replay`): all_first, fed, sigterm, kill9, two, two_handover.
Checks:
- the alerts topic against `replay --until` (bracketed as test_live_model.py; copies only
  after a crash or with two monitors, byte-identical), each keyed by its `person_id`, else its
  `worker_id`; a person's alert has `person_id` and `by_platform`, no `worker_id`; the dead
  letters (test_live_model.py);
- the holds topic against `replay --holds --until` the same bracket, field for field, keyed
  by `person_id` (a person's hold) or `worker_id` (a worker id standing alone); a person's
  hold has exactly `hold_id`, `person_id`, `worker_ids`, `rule`, `from`, `until`, `reason`,
  `worker_ids` the person's worker ids whose join (first event naming the person) is at or
  before `from`, sorted (persons.md); a worker's hold has `worker_id` and neither; copies
  byte-identical, only after a crash or with two monitors;
- replay's holds against its alerts: a hold is a violation of a rule with `hold = true` of
  the subject's pack at `from`, every such violation has one, `until` fixed where
  pack-format.md fixes it; every rule id of an alert or hold is of the pack for persons
  (`[rules.person]` over `[rules]`), whatever the platform and role tables say;
- the probe's person hold: replay has it at the computed instant naming both worker ids, and
  the person's live view lists it open;
- `/v1/workers/{id}` of every person, the probe and each plain worker (with nothing buffered)
  equals its line of `workhours status --at AS_OF` (whole object: `holds`, `rules`,
  `worker_ids`, `pack`, ...), and its `pack` is the pack for persons.
A hand case (a worker id's hold alone, its join during that hold, then the person's hold
naming both) checks the holds against hand-computed values, live and replay.

Run: `python3 -m pytest tests/live/test_live_person_packs_model.py -q` (LIVE_PERSON_PACKS_CASES
cases, default 6, one per scenario, and the hand case; seeds LIVE_PERSON_PACKS_FIRST_SEED on,
default 1). Rerun one: `MODEL_SEED=N`; the anchor is test_live_model.py's (LIVE_MODEL_ANCHOR).
PERSON_PACKS_MUTATE=drop_hold|drop_worker_id|key_by_worker|shift_status perturbs the
expectations (each must make a case fail: a self-test of the checks). A failure prints the
seed, scenario, config, persons and the tmp dir (produced.jsonl, replay.jsonl, replay.toml,
the monitors' logs).
"""

from __future__ import annotations

import json
import os
import random
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import harness
import test_live_persons_model as persons_model
from test_live import bad_lines
from test_live_model import (MIN, SCENARIOS, SEC, ZONES, CaseProducer, Msg, anchor_ms,
                             encode_and_shuffle, fmt_ts, run_against_replay)
from test_live_packs_model import (CONTINUOUS, FIXED_UNTIL, HOLD_PACKS, HOUR, MOHRSS_KEYS,
                                   PLATFORMS, ROLES, RULE_DEFAULTS, STYLE, epoch_ms,
                                   parse_dur, replay_both)
from test_live_packs_model import worker_events as pack_events
from test_live_persons_model import SORTS, alert_key, person_of, shape_problems, view_problems
from test_subjects import HOLDS_TOPIC

FIRST_SEED = int(os.environ.get("LIVE_PERSON_PACKS_FIRST_SEED", "1"))
CASES = int(os.environ.get("LIVE_PERSON_PACKS_CASES", "6"))
SEEDS = ([int(os.environ["MODEL_SEED"])] if os.environ.get("MODEL_SEED")
         else list(range(FIRST_SEED, FIRST_SEED + CASES)))
MUTATE = os.environ.get("PERSON_PACKS_MUTATE", "")
PACKS_DIR = Path(__file__).resolve().parents[2] / "config" / "packs"
PERSON_HOLD = {"hold_id", "person_id", "worker_ids", "rule", "from", "until", "reason"}
WORKER_HOLD = {"hold_id", "worker_id", "rule", "from", "until", "reason"}


def pack_rules(name: str) -> tuple[set, set]:
    """(every rule id, the ids of rules with `hold = true`) of a shipped pack."""
    pack = tomllib.loads((PACKS_DIR / f"{name}.toml").read_text())
    rules = pack.get("rules", [])
    return {r["id"] for r in rules}, {r["id"] for r in rules if r.get("hold")}


# --------------------------------------------------------------------------------------
# The case

@dataclass
class Case:
    seed: int
    scenario: str
    partitions: int
    time: dict
    rules: dict
    extra: str
    lateness_ms: int
    msgs: list[Msg]
    stops: int
    stop_waits: list[str]
    splits: list[int]
    persons: dict  # person_id -> {worker_id: sort}
    plain: list[str]
    joins: dict  # worker id of a person -> ts of its join (epoch ms)
    person_pack: str  # the shipped pack persons use (a pack_file is a copy of it)
    pack_file: str | None  # name of the copy, when `[rules] pack_file` is what persons use
    probe: str  # the probe's person_id
    probe_workers: list[str]
    probe_rule: str
    probe_violation: int

    def describe(self) -> str:
        count: dict = {}
        for m in self.msgs:
            count[m.sort] = count.get(m.sort, 0) + 1
        persons = {p[:8]: ws for p, ws in self.persons.items()}
        return (f"seed {self.seed}: {self.scenario}, {self.partitions} partition(s), "
                f"stops {self.stops} {self.stop_waits}, splits {self.splits}, messages {count}"
                f"\n  persons {persons}, plain {self.plain}, pack for persons "
                f"{self.person_pack} (file {self.pack_file})\n  probe {self.probe[:8]} "
                f"{self.probe_workers}: {self.probe_rule} at {self.probe_violation}"
                f"\n  time {self.time}, rules {self.rules}, extra {self.extra!r}")

    def pack_name(self) -> str:
        return self.pack_file or self.person_pack


def make_config(rng: random.Random, seed: int) -> tuple[dict, str, str, str | None]:
    """(`[rules]`, the tables after it, the pack for persons, the pack file's name or None)."""
    rules: dict = {"subject": "person"}
    person: dict = {}
    tables: dict = {}
    base_pack = rng.choice(HOLD_PACKS)
    pack_file = None
    if rng.random() < 0.25:
        pack_file = f"my-{base_pack}-{seed}"
        rules["pack_file"] = f"{pack_file}.toml"  # written beside the config by the test
    else:
        rules["pack"] = base_pack
    person_pack = base_pack
    if rng.random() < 0.3:
        person_pack = rng.choice(HOLD_PACKS)
        person["pack"] = person_pack
        pack_file = None  # a more specific table that sets `pack` drops the file
    # Tables persons ignore (persons.md): other packs, other limits.
    for _ in range(rng.choice([0, 0, 1, 2])):
        kind = rng.choice(["platform", "role"])
        name = rng.choice(PLATFORMS if kind == "platform" else ROLES)
        tables.setdefault((kind, name), {})["pack"] = rng.choice(HOLD_PACKS)
        if rng.random() < 0.5:
            tables[(kind, name)]["continuous_limit"] = "1h"
    if rng.random() < 0.5:
        for key in rng.sample(sorted(MOHRSS_KEYS), rng.randint(1, 3)):
            (person if rng.random() < 0.4 else rules)[key] = rng.choice(MOHRSS_KEYS[key])
    if rng.random() < 0.2:
        rules["session_timeout"] = rng.choice(["2h", "5h"])
    extra = ""
    if person:
        extra += "[rules.person]\n" + "".join(f"{k} = {harness.toml_value(v)}\n"
                                              for k, v in person.items())
    for (kind, name), keys in sorted(tables.items()):
        extra += f"[rules.{kind}.{name}]\n" + "".join(
            f"{k} = {harness.toml_value(v)}\n" for k, v in keys.items())
    rules["_person"] = person
    rules["_file_base"] = base_pack
    return rules, extra, person_pack, pack_file


def person_key(rules: dict, key: str):
    """A rule key for persons: `[rules.person]` over `[rules]` over the default."""
    return rules["_person"].get(key, rules.get(key, RULE_DEFAULTS.get(key)))


def keep_in_order(msgs: list[Msg], workers: set, rank: dict) -> None:
    """Puts each of `workers`' messages in `ts` order (ties in generation order, `rank` by
    `id`) over the positions they hold:
    the lateness bound of the shuffle still holds (the k-th smallest `ts` of a worker moved
    to its k-th position is at least one that was at or after that position)."""
    for w in workers:
        pos = [i for i, m in enumerate(msgs) if m.fields and m.fields["worker_id"] == w]
        mine = sorted((msgs[i] for i in pos), key=lambda m: (m.ts, rank[id(m)]))
        for i, m in zip(pos, mine):
            msgs[i] = m


def probe_events(rng, pa: str, pb: str, pid: str, platforms, style: str, violation: int,
                 limit: int) -> list[tuple[str, int, dict]]:
    """The probe person (module docstring): (key, ts, fields)."""
    start = violation - limit
    half = start + limit // 2
    out = []

    def emit(w, platform, t, kind, named=True, **extra):
        fields = {"worker_id": w, "kind": kind, "event_id": f"{w}#{len(out)}",
                  "platform": platform, "role": "driver", "city": "371000", **extra}
        if named:
            fields["person_id"] = pid
        out.append((pid if named else w, t, fields))

    a, b = platforms
    if style == "orders":
        emit(pa, a, start - rng.randint(0, 10) * MIN, "login")
        emit(pa, a, start, "order_accepted", order_id="p1")
        emit(pa, a, start + rng.randint(0, 5) * MIN, "order_picked_up", order_id="p1")
        emit(pa, a, half + 15 * MIN, "order_delivered", order_id="p1", fee_cents=900)
        emit(pa, a, half + 15 * MIN, "logout")
        emit(pb, b, half, "login", named=False)
        emit(pb, b, half, "order_accepted", named=False, order_id="q1")
        emit(pb, b, half + MIN, "order_picked_up", named=False, order_id="q1")
    else:
        emit(pa, a, start, "activity", activity="driving")
        emit(pa, a, half + 15 * MIN, "activity", activity="rest")
        emit(pb, b, half, "activity", named=False, activity="driving")
    t = start + rng.randint(20, 40) * MIN
    while t < half + 10 * MIN:  # A's heartbeats: a `session_timeout` does not end its time
        emit(pa, a, t, "heartbeat")
        t += rng.randint(20, 40) * MIN
    t = half + 10 * MIN
    emit(pb, b, t, "heartbeat")  # the join
    t += rng.randint(20, 40) * MIN
    while t < violation - 10 * MIN:
        emit(pb, b, t, "heartbeat")
        t += rng.randint(20, 40) * MIN
    return sorted(out, key=lambda e: e[1])


def make_case(seed: int) -> Case:
    rng = random.Random(seed * 104729 + 7)
    scenario = SCENARIOS[(seed - 1) % len(SCENARIOS)]
    partitions = rng.randint(1, 4)
    lateness_ms = rng.choice([1000, 2000, 3000, 5000, 10000])
    time_cfg = {"allowed_lateness": f"{lateness_ms}ms", "zone": rng.choice(ZONES)}
    rules, extra, person_pack, pack_file = make_config(rng, seed)
    style = STYLE[person_pack]
    min_break = parse_dur(person_key(rules, "min_break"))
    base = anchor_ms() + rng.randint(0, 24 * 60) * MIN

    persons: dict = {}
    home: dict = {}
    joins: dict = {}
    good: list[Msg] = []
    in_order: set = set()
    for n in range(rng.randint(1, 3)):
        pid = person_of(seed + 5000, n)
        home[pid] = rng.randrange(partitions)
        persons[pid] = {}
        start = base + rng.randint(0, 6 * 60) * MIN
        for platform in rng.sample(PLATFORMS, rng.randint(1, 3)):
            wid = (f"{platform[:2]}{seed}-{n}" if rng.random() < 0.85
                   else f"骑手{seed}-{n}{platform}")
            sort = rng.choice(SORTS)
            persons[pid][wid] = sort
            events = pack_events(rng, wid, platform, rng.choice(ROLES),
                                 style if rng.random() < 0.9 else rng.choice(["orders", "driving"]),
                                 start + rng.randint(0, 3 * 60) * MIN, min_break)
            j = rng.randint(1, max(1, len(events) - 1)) if sort == "late_join" else 0
            p_with = {"all": 1.0, "first": 0.0, "some": 0.5, "late_join": 0.5}[sort]
            by_person = rng.random() < 0.5
            if sort != "all":
                in_order.add(wid)
            joins[wid] = events[j][0]
            for i, (ts, fields) in enumerate(events):
                if i == j or (i > j and rng.random() < p_with):
                    fields["person_id"] = pid
                if "person_id" in fields:
                    key = pid
                elif i < j:
                    key = wid
                else:
                    key = pid if (by_person if rng.random() < 0.8 else not by_person) else wid
                good.append(Msg(b"", key.encode(), home[pid], "good", ts, None, fields))
    plain = []
    for i in range(rng.randint(1, 2)):
        w = f"w{seed}-{i}"
        plain.append(w)
        home[w] = rng.randrange(partitions)
        for ts, fields in pack_events(rng, w, rng.choice(PLATFORMS), rng.choice(ROLES), style,
                                      base + rng.randint(0, 6 * 60) * MIN, min_break):
            good.append(Msg(b"", w.encode(), home[w], "good", ts, None, fields))

    # The probe person.
    rule, limit, _ = CONTINUOUS[person_pack]
    if person_pack == "cn-mohrss-2024":
        limit = person_key(rules, limit)
    limit_ms = parse_dur(limit)
    probe = person_of(seed + 9000, 0)
    pa, pb = f"pa{seed}", f"pb{seed}"
    persons[probe] = {pa: "all", pb: "late_join"}
    in_order.update([pa, pb])
    home[probe] = rng.randrange(partitions)
    violation = (harness.now_ms() // SEC - 5 * 60) * SEC
    for key, ts, fields in probe_events(rng, pa, pb, probe, rng.sample(PLATFORMS, 2), style,
                                        violation, limit_ms):
        good.append(Msg(b"", key.encode(), home[probe], "good", ts, None, fields))
        if "person_id" in fields:
            joins.setdefault(fields["worker_id"], ts)

    rank = {id(m): i for i, m in enumerate(good)}
    msgs = encode_and_shuffle(rng, good, lateness_ms)
    keep_in_order(msgs, in_order, rank)
    top = -10**15
    for m in msgs:
        assert m.ts >= top - lateness_ms
        top = max(top, m.ts)
    for w in in_order:  # nothing of an in-order worker id read before its join
        mine = [m for m in msgs if m.fields["worker_id"] == w]
        first = next(i for i, m in enumerate(mine) if "person_id" in m.fields)
        assert all(m.key == w.encode() for m in mine[:first]), w

    # Exact copies while the id is surely remembered (test_live_packs_model.py).
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
    # Late events: older than their partition's newest less the lateness, after an event of
    # their worker id that names its person (for a person's).
    owner = {w: p for p, ws in persons.items() for w in ws}
    for k in range(rng.choice([0, 1, 1, 2])):
        w = rng.choice(sorted(owner) + plain)
        positions = [i for i, m in enumerate(msgs) if m.sort == "good"
                     and m.fields["worker_id"] == w
                     and (w not in owner or "person_id" in m.fields)]
        i = rng.choice(positions)
        part = msgs[i].partition
        newest = max(m.ts for m in msgs[:i + 1] if m.partition == part and m.sort == "good")
        ts = newest - lateness_ms - rng.choice([1, 1000, rng.randint(1, 600) * SEC])
        fields = {"worker_id": w, "kind": rng.choice(["logout", "login", "activity"]),
                  "ts": fmt_ts(rng, ts), "event_id": f"{w}#late{k}", "activity": "driving"}
        key = w
        if w in owner:
            fields["person_id"] = key = owner[w]
        msgs.insert(rng.randint(i + 1, len(msgs)),
                    Msg(json.dumps(fields).encode(), key.encode(), part, "late", None, "late"))
    future = harness.rfc3339_ms(harness.now_utc() + timedelta(hours=1))
    for _ in range(rng.randint(0, 2)):
        w = rng.choice(plain)
        line, reason = rng.choice(bad_lines(w, base, future))
        key = harness.key_of(line)
        part = home[key.decode()] if key and key.decode() in home else rng.randrange(partitions)
        sort = "future" if reason == "timestamp_in_future" else "bad"
        msgs.insert(rng.randint(0, len(msgs)), Msg(line, key, part, sort, None, reason))

    stops = {"sigterm": 1, "kill9": rng.randint(1, 2), "two_handover": 1}.get(scenario, 0)
    points = sorted(rng.randint(1, max(1, len(msgs) - 1)) for _ in range(stops + 1))
    waits = [rng.choice(["at_once", "ready", "applied", "alerts", "committed"])
             for _ in range(stops)]
    return Case(seed, scenario, partitions, time_cfg, rules, extra, lateness_ms, msgs, stops,
                waits, points, persons, plain, joins, person_pack, pack_file, probe, [pa, pb],
                rule, violation)


# --------------------------------------------------------------------------------------
# Checking

def hold_key(h: dict) -> bytes:
    """SPEC 8, rules.md section 5: a person's hold by `person_id`, else by `worker_id`."""
    return (h.get("person_id") or h["worker_id"]).encode()


def compare_holds(records, want_lo: dict, want_hi: dict, repeats_allowed: bool,
                  key_of=hold_key) -> list[str]:
    """The holds topic against replay: every hold up to LO there, none that replay does not
    give up to HI, each as replay has it and keyed as `key_of` says; copies byte-identical
    and only where allowed."""
    by_id: dict = {}
    for r in records:
        by_id.setdefault(r.json()["hold_id"], []).append(r)
    problems = []
    missing = [h for i, h in want_lo.items() if i not in by_id]
    extra = [rs[0].json() for i, rs in by_id.items() if i not in want_hi]
    if missing:
        problems.append(f"{len(missing)} of replay's {len(want_lo)} holds missing live:\n"
                        + "\n".join(f"  {json.dumps(h)}" for h in missing[:8]))
    if extra:
        problems.append(f"{len(extra)} holds live that replay does not give:\n"
                        + "\n".join(f"  {json.dumps(h)}" for h in extra[:8]))
    repeated = [i for i, rs in by_id.items() if len(rs) > 1]
    for i, rs in by_id.items():
        if len({r.value for r in rs}) > 1:
            problems.append(f"hold {i} repeated with different bytes: "
                            f"{[r.value.decode() for r in rs]}")
        want = want_hi.get(i)
        if want is None:
            continue
        if rs[0].json() != want:
            problems.append(f"live hold {rs[0].value.decode()}\n  replay {json.dumps(want)}")
        for r in rs:
            if r.key != key_of(want):
                problems.append(f"key {r.key!r} of hold {json.dumps(want)}, "
                                f"want {key_of(want)!r}")
    if repeated and not repeats_allowed:
        problems.append(f"{len(repeated)} holds more than once with no crash and no second "
                        f"monitor: {repeated[:5]}")
    return problems


def hold_problems(case: Case, alerts: dict, holds: dict) -> list[str]:
    """Replay's holds on their own, against SPEC 7-8 and the docs (module docstring)."""
    problems = []
    rule_ids, holding = pack_rules(case.person_pack)
    owner = {w: p for p, ws in case.persons.items() for w in ws}
    for h in holds.values():
        if "person_id" in h:
            if set(h) != PERSON_HOLD:
                problems.append(f"a person's hold with fields {sorted(h)}: {json.dumps(h)}")
                continue
            members = case.persons.get(h["person_id"])
            if members is None:
                problems.append(f"hold of an unknown person: {json.dumps(h)}")
                continue
            want = sorted(w for w in members if case.joins[w] <= epoch_ms(h["from"]))
            if h["worker_ids"] != want:
                problems.append(f"hold {h['hold_id']} from {h['from']} lists worker_ids "
                                f"{h['worker_ids']}, the person's joined by then: {want}")
        elif set(h) != WORKER_HOLD:
            problems.append(f"a worker's hold with fields {sorted(h)}: {json.dumps(h)}")
        elif h["worker_id"] in owner and case.joins[h["worker_id"]] <= epoch_ms(h["from"]):
            problems.append(f"a hold by worker_id of a worker id that joined its person at "
                            f"{case.joins[h['worker_id']]}: {json.dumps(h)}")
        if h["rule"] not in holding:
            problems.append(f"hold of rule {h['rule']}, not a holding rule of "
                            f"{case.person_pack}: {json.dumps(h)}")
        start, end = epoch_ms(h["from"]), epoch_ms(h["until"])
        if end <= start:
            problems.append(f"hold ends before it starts: {json.dumps(h)}")
        if h["rule"] in FIXED_UNTIL and end - start != parse_dur(FIXED_UNTIL[h["rule"]]):
            problems.append(f"hold {json.dumps(h)} lasts {end - start} ms, pack-format.md: "
                            f"{FIXED_UNTIL[h['rule']]}")
    for a in alerts.values():
        if a["rule"] != "quota_p90" and a["rule"] not in rule_ids:
            problems.append(f"alert of rule {a['rule']}, not of the pack for persons "
                            f"{case.person_pack}: {harness.describe(a)}")

    def subject(x):
        return x.get("person_id") or x.get("worker_id")
    violations = {(a["rule"], subject(a), a["at"]) for a in alerts.values()
                  if a["phase"] == "violation" and a["rule"] in holding}
    held = {(h["rule"], subject(h), h["from"]) for h in holds.values()}
    if held - violations:
        problems.append(f"holds without a violation at `from`: {sorted(held - violations)[:5]}")
    if violations - held:
        problems.append(f"violations of holding rules without a hold: "
                        f"{sorted(violations - held)[:5]}")
    return problems


def mutate(holds_lo: dict, holds_hi: dict) -> None:
    """PERSON_PACKS_MUTATE: perturbs replay's holds (a self-test of the checks)."""
    if MUTATE == "drop_hold":
        victims = [i for i, h in holds_hi.items() if "person_id" in h] or list(holds_hi)
        for i in victims[:1]:
            holds_lo.pop(i, None)
            holds_hi.pop(i, None)
    elif MUTATE == "drop_worker_id":
        for holds in (holds_lo, holds_hi):
            for h in holds.values():
                if len(h.get("worker_ids", [])) >= 2:
                    h["worker_ids"] = h["worker_ids"][:-1]


def mutated_key(h: dict) -> bytes:
    return (h["worker_ids"][0] if "worker_ids" in h else h["worker_id"]).encode()


def shifted_status_views(replay_file, config, at_ms: int) -> dict:
    """`status --at` a minute later, `as_of` as asked (PERSON_PACKS_MUTATE=shift_status)."""
    asked = ORIGINAL_STATUS_VIEWS(replay_file, config, at_ms)
    later = ORIGINAL_STATUS_VIEWS(replay_file, config, at_ms + 60 * SEC)
    for sid, v in later.items():
        if sid in asked:
            v["as_of"] = asked[sid]["as_of"]
    return later


ORIGINAL_STATUS_VIEWS = persons_model.status_views


def settled_lo(run, lateness_ms: int, read_start: datetime) -> datetime:
    """The instant every partition's event time surely passed: the clock heartbeats' less the
    lateness and 1 s, else the read's start less the lateness and 3 s (test_live_model.py)."""
    clocks = [json.loads(line)["ts"] for line in run.replay_file.read_bytes().splitlines()
              if line.startswith(b'{"worker_id": "clock-')]
    if clocks:
        return datetime.fromtimestamp(min(clocks) / 1000 - lateness_ms / 1000 - 1,
                                      timezone.utc)
    return read_start - timedelta(seconds=lateness_ms / 1000 + 3)


# --------------------------------------------------------------------------------------
# Running it

@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_person_packs_live_equal_replay(stack, tmp_path, seed, monkeypatch):
    case = make_case(seed)
    case.rules.pop("_person")
    base = case.rules.pop("_file_base")
    if "pack_file" in case.rules:  # a shipped pack under another name
        name = case.rules["pack_file"][:-len(".toml")]
        path = tmp_path / case.rules["pack_file"]
        path.write_text((PACKS_DIR / f"{base}.toml").read_text()
                        .replace(f'name = "{base}"', f'name = "{name}"', 1))
        case.rules["pack_file"] = str(path)
    if MUTATE == "shift_status":
        monkeypatch.setattr(persons_model, "status_views", shifted_status_views)
    run = run_against_replay(stack, tmp_path, case, seed, "wh-person-packs", alert_key)
    problems = list(run.problems)
    for a in run.expected_hi.values():
        problems += shape_problems(a, case)

    # The holds topic (created by the monitor when missing: config.md).
    broker = stack.brokers[0]
    repeats_allowed = case.scenario.startswith("two") or case.scenario == "kill9"
    read_start = harness.now_utc()
    lo = settled_lo(run, case.lateness_ms, read_start)
    _, want = replay_both(run.replay_file, lo, run.replay_config)
    try:
        harness.wait_until("replay's holds on the holds topic", lambda: set(want) <= {
            r.json()["hold_id"] for r in harness.consume_all(broker, HOLDS_TOPIC, quiet=0.3)},
            30, interval=0.5)
    except harness.HarnessError as exc:
        problems.append(str(exc))
    records = harness.consume_all(broker, HOLDS_TOPIC, quiet=0.5)
    hi = harness.now_utc() + timedelta(seconds=2)
    _, holds_lo = replay_both(run.replay_file, lo, run.replay_config)
    alerts_hi, holds_hi = replay_both(run.replay_file, hi, run.replay_config)
    mutate(holds_lo, holds_hi)
    of_persons = [h for h in holds_hi.values() if "person_id" in h]
    print(f"holds: {len({r.json()['hold_id'] for r in records})} ids live ({len(records)} "
          f"messages), replay {len(holds_lo)} to {len(holds_hi)}, {len(of_persons)} of persons"
          f" ({sum(len(h['worker_ids']) >= 2 for h in of_persons)} naming 2+ worker ids), "
          f"rules {sorted({h['rule'] for h in holds_hi.values()})}")
    problems += compare_holds(records, holds_lo, holds_hi, repeats_allowed,
                              mutated_key if MUTATE == "key_by_worker" else hold_key)
    problems += hold_problems(case, alerts_hi, holds_hi)
    probe_holds = [h for h in holds_lo.values() if h.get("person_id") == case.probe]
    if not any(h["rule"] == case.probe_rule and epoch_ms(h["from"]) == case.probe_violation
               and h["worker_ids"] == sorted(case.probe_workers) for h in probe_holds):
        problems.append(f"replay gives the probe person no {case.probe_rule} hold from "
                        f"{case.probe_violation} naming {case.probe_workers}: {probe_holds}")

    # The views of persons, the probe and the plain workers against `status --at`.
    subjects = list(case.persons) + case.plain
    problems += view_problems(case, run.alive, run.replay_file, run.replay_config, subjects)
    for sid in subjects:
        for m in run.alive:
            code, body = harness.http_get(m.http_port, persons_model.path_of(sid))
            if code != 200:
                continue
            view = json.loads(body)
            if view.get("pack") != case.pack_name():
                problems.append(f"/v1/workers/{sid[:12]}: pack {view.get('pack')}, the pack "
                                f"for persons is {case.pack_name()}")
            if sid == case.probe:
                at = epoch_ms(view["as_of"])
                wanted = {h["hold_id"] for h in probe_holds
                          if epoch_ms(h["from"]) <= at < epoch_ms(h["until"])}
                listed = {h["hold_id"] for h in view.get("holds", [])}
                if not wanted or not wanted <= listed:
                    problems.append(f"the probe's view at {view['as_of']} lists holds "
                                    f"{listed}, replay's open then: {wanted}")
    run.finish(problems)


# --------------------------------------------------------------------------------------
# A hand case: a worker id's hold alone, its join during that hold, the person's hold

def test_a_hold_alone_then_the_persons_hold_after_a_join_mid_session(stack, tmp_path):
    """`didi-2018` (continuous order time 3 h -> 20 min; holds), UTC, lateness 5 s. Worker id
    `wa` (didi) alone: login and an order at T0, picked up at T0 + 1 min: its 3 h of orders
    at T0 + 3 h, a hold {worker_id wa, T0 + 3 h, until T0 + 3 h 20 min}. At T0 + 3 h 5 min a
    heartbeat of `wa` names P (keyed by P): its order moves to P, whose episode starts there
    (persons.md); `wa` stops working alone (resolved at T0 + 3 h 25 min). `wb` (meituan) with
    P from T0 + 4 h 30 min, an order to T0 + 7 h; `wa` delivers at T0 + 5 h. P's 3 h of
    orders at T0 + 6 h 5 min: a hold {person_id P, worker_ids [wa, wb], until + 20 min}, keyed
    by P. Live (one partition, fed, a clock heartbeat) must equal these and replay."""
    t0 = anchor_ms() + 3 * 24 * 60 * MIN + 2 * 60 * MIN
    p = person_of(0, 4242)

    def ev(w, kind, t, n, person=None, platform="didi", **extra):
        fields = {"worker_id": w, "kind": kind, "ts": t, "event_id": f"{w}#{n}",
                  "platform": platform, "role": "rider", "city": "371000", **extra}
        if person:
            fields["person_id"] = person
        return json.dumps(fields).encode(), (person or w).encode()
    events = [ev("wa", "login", t0, 1), ev("wa", "order_accepted", t0, 2, order_id="o1"),
              ev("wa", "order_picked_up", t0 + MIN, 3, order_id="o1"),
              ev("wa", "heartbeat", t0 + 185 * MIN, 4, p),
              ev("wb", "login", t0 + 270 * MIN, 1, p, "meituan"),
              ev("wb", "order_accepted", t0 + 270 * MIN, 2, p, "meituan", order_id="x1"),
              ev("wa", "order_delivered", t0 + 300 * MIN, 5, p, order_id="o1", fee_cents=100),
              ev("wa", "logout", t0 + 300 * MIN, 6, p),
              ev("wb", "order_delivered", t0 + 420 * MIN, 3, p, "meituan", order_id="x1",
                 fee_cents=100),
              ev("wb", "logout", t0 + 420 * MIN, 4, p, "meituan")]
    time_cfg = {"allowed_lateness": "5s", "zone": "UTC"}
    rules = {"subject": "person", "pack": "didi-2018"}
    broker = stack.broker(topics=False)
    broker.create_pipeline_topics(partitions=1)
    producer = CaseProducer(broker)
    monitor = stack.monitor(broker, time=time_cfg, rules=rules, idle_timeout="60s")
    monitor.start()
    monitor.wait_ready()
    now = harness.now_ms()
    clock = json.dumps({"worker_id": "clock-0", "kind": "heartbeat", "ts": now,
                        "event_id": "clock-0#1"}).encode()
    producer.send_msgs([Msg(v, k, 0, "good") for v, k in events]
                       + [Msg(clock, b"clock-0", 0, "clock")])
    replay_file = tmp_path / "replay.jsonl"
    replay_file.write_bytes(b"\n".join([v for v, _ in events] + [clock]) + b"\n")
    config = harness.rules_config(tmp_path / "replay.toml", time_cfg, rules)

    def utc(ms):
        return harness.rfc3339_ms(datetime.fromtimestamp(ms / 1000, timezone.utc)) \
            .replace("Z", "+00:00")
    hand = [("wa", None, t0 + 180 * MIN), (p, ["wa", "wb"], t0 + 365 * MIN)]
    _, holds = replay_both(replay_file, None, config)
    got = sorted(((h.get("person_id") or h["worker_id"]), h.get("worker_ids"), h["from"],
                  h["until"], h["rule"]) for h in holds.values())
    assert got == sorted((s, ws, utc(t), utc(t + 20 * MIN), "didi2018_continuous")
                         for s, ws, t in hand), f"replay's holds {got}"
    harness.wait_until("both holds live", lambda: len(
        harness.consume_all(broker, HOLDS_TOPIC, quiet=0.3)) >= 2, 30, interval=0.5)
    records = harness.consume_all(broker, HOLDS_TOPIC, quiet=0.5)
    key = mutated_key if MUTATE == "key_by_worker" else hold_key
    if MUTATE:
        mutate(holds, holds)
    problems = compare_holds(records, holds, holds, False, key)
    assert not problems, "\n".join(problems)
