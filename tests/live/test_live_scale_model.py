"""Randomized model of scale-out (SPEC section 5, "Scale-out" and "Live delivery"):
`workhours run` instances joining and leaving one consumer group while the input is fed in
chunks, checked against `workhours replay` of the same events.

Each case comes from one seed: test_live_model.py's case (`make_case`: config, workers,
copies, variants, late and bad messages, a wrong key, a future event) plus 4 to 10 more
workers (its `worker_events`, `encode_and_shuffle`, merged so that every valid event still
comes at most `allowed_lateness` behind the newest before it), on an input topic of 4 to 8
partitions, each worker on a partition of its own choosing (keyed by `worker_id`). Up to
three instances (`m0`..`m2`, one group, `session.timeout.ms` 6 s) follow a plan drawn from
the seed, e.g. `m0 | +m1 | +m2 | -m1(term) | +m1` or `m0 m1 m2 | -m0 -m2(kill9) | +m0`:
the group starts with 1 instance (or 3 at once), grows to 2 and 3 while fed (scale out),
loses one by SIGTERM (a clean handover) or by `kill -9` (one, or two at once), gets one
restarted or a new one, and ends with 1 or 2 running. The input is split into chunks: one
before the first start, one after each change. Before every change except a "busy" kill -9
the group is let settle (waited on, not slept): every running instance `/readyz` 200, their
`workhours_partitions_assigned` summing to the partition count, and the group's committed
offsets and the instances' `workhours_events_total` unchanged for 1 s. A busy kill -9
comes while a chunk is being read: once every instance is ready and the partitions are all
assigned, and the chunk has brought a new alert (or 3 s have passed). After a kill -9 the next
chunk is produced at once and the next start waits for the killed member's session to
expire (DESIGN.md, Tansu quirks: a member joining while a killed member's session is open
can be left with nothing; the survivor may get back only its own partitions until another
member joins, so every kill -9 is followed by a start). No plan stops the last instance
(after every member stopped, Tansu can leave a fresh one unassigned for minutes).

The instances run with `idle_timeout` 600 s (a plan takes up to a minute; an idle advance
would make the rest of a past stream late) and the stream ends with test_live_model's clock
heartbeats. The check is test_live_model's `run_against_replay` (its scenario driver and
monitors replaced by this module's): every alert of replay (bracketed by event time) on the
alerts topic with its fields and key, nothing else, copies of an `alert_id` byte-identical;
every bad and late message dead-lettered with its reason, key, value and source, nothing
else; and here, copies of an alert (by `alert_id`) or of a dead letter (by source partition
and offset) only on a partition that a killed instance held when it was killed, or that two
instances held at once (both read from the instances' logs, below), and a copied
aggregate (`quota_p90`) only in such a plan; and the final group holds every partition once.

Held at once: Tansu 0.6 can assign a partition to a member before its old owner has revoked
it (DESIGN.md, Tansu quirks, audit AE), here up to a few hundred ms after a SIGTERM or a
join while the next chunk is read; both then read the chunk and write its alerts and dead
letters, byte-identical. The overlaps are read from the instances' logs ("Partitions
assigned: restoring" to "Partitions revoked", "Stopped" or the kill), printed with each case
("held twice"), and only their partitions may repeat: a copy after clean stops elsewhere
fails. (Seen: seed 14, `m0 m1 m2 | -m0(term) | +m0 | -m2(term) | ...`, 6 partitions, 1 run
in 4: partition 2 assigned to m1 178 ms before m0 revoked it, after m2's SIGTERM; two
`daily_hours` warnings and two dead letters of that partition twice.)

Run: `python3 -m pytest tests/live/test_live_scale_model.py -q` (LIVE_SCALE_CASES cases,
default 3, seeds LIVE_SCALE_FIRST_SEED on, default 1; 20 to 45 s a case). Rerun one case:
`MODEL_SEED=N` (LIVE_MODEL_ANCHOR as in test_live_model.py for another week's stream). A
failure prints the seed, the plan, the config and the case's tmp dir (produced.jsonl,
replay.jsonl, replay.toml, the monitors' logs m0..m2 as monitor0..monitor2).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass

import pytest

import harness
from harness import ALERTS_TOPIC, DEAD_LETTER_TOPIC, INPUT_TOPIC
from test_live import FAST_GROUP
from test_live_model import (MIN, Msg, encode_and_shuffle, group_or_worker_key, make_case,
                             run_against_replay, soft_wait, worker_events)

FIRST_SEED = int(os.environ.get("LIVE_SCALE_FIRST_SEED", "1"))
CASES = int(os.environ.get("LIVE_SCALE_CASES", "3"))
SEEDS = ([int(os.environ["MODEL_SEED"])] if os.environ.get("MODEL_SEED")
         else list(range(FIRST_SEED, FIRST_SEED + CASES)))
INSTANCES = 3
SESSION_S = int(FAST_GROUP["session.timeout.ms"]) / 1000


# --------------------------------------------------------------------------------------
# The plan

@dataclass
class Op:
    kind: str  # start, term, kill
    who: list[int]
    busy: bool = False  # a kill -9 while a chunk is read (module docstring)

    def __str__(self):
        names = " ".join(("+" if self.kind == "start" else "-") + f"m{i}" for i in self.who)
        return names + {"start": "", "term": "(term)",
                        "kill": "(kill9 busy)" if self.busy else "(kill9)"}[self.kind]


def make_plan(rng: random.Random) -> list[Op]:
    """Group changes (module docstring): never the last instance stopped, a start after
    every kill -9, 1 or 2 running at the end."""
    first = [0, 1, 2] if rng.random() < 0.25 else [0]
    plan = [Op("start", first)]
    running = set(first)
    kills = rng.random() < 0.6  # else clean stops only: a copy only where held twice

    def start():
        stopped = sorted(set(range(INSTANCES)) - running)
        i = rng.choice(stopped)
        running.add(i)
        plan.append(Op("start", [i]))

    for _ in range(rng.randint(2, 4)):
        choices = ["start"] * (len(running) < INSTANCES) * 2
        if len(running) >= 2:
            choices += ["term"] + ["kill"] * kills * 2
        kind = rng.choice(choices)
        if kind == "start":
            start()
            continue
        n = 2 if kind == "kill" and len(running) == 3 and rng.random() < 0.4 else 1
        who = rng.sample(sorted(running), n)
        running -= set(who)
        plan.append(Op(kind, who, busy=kind == "kill" and rng.random() < 0.5))
        if kind == "kill":
            start()
    while len(running) == INSTANCES:
        who = rng.choice(sorted(running))
        running.discard(who)
        plan.append(Op("term", [who]))
    return plan


def plan_text(plan: list[Op]) -> str:
    return " | ".join(" ".join(f"m{i}" for i in plan[0].who) if n == 0 else str(op)
                      for n, op in enumerate(plan))


# --------------------------------------------------------------------------------------
# The case

def more_workers(case, rng: random.Random) -> list[Msg]:
    """test_live_model's messages of `case` merged with the good events of 4 to 10 more
    workers (`x{seed}-{i}`), both in order of their running maximum `ts`: an event of
    either then comes after no valid event of more than its own `ts` + lateness (a merge of
    two sequences with that property has it), and each copy, late or bad message follows
    no event newer than those it followed before (its event id is still remembered, or still
    forgotten)."""
    base = min(m.ts for m in case.msgs if m.sort == "good")
    special = [int(case.rules[k][:-1]) * MIN for k in ("min_break", "session_timeout")
               if case.rules[k] != "0s"]
    extra = []
    for i in range(rng.randint(4, 10)):
        w = f"x{case.seed}-{i}"
        for ts, fields in worker_events(rng, w, base + rng.randint(0, 40) * MIN, special):
            extra.append(Msg(b"", w.encode(), 0, "good", ts, None, fields))
    extra = encode_and_shuffle(rng, extra, case.lateness_ms)

    def keyed(msgs):
        out, top = [], -10**15
        for m in msgs:
            if m.ts is not None:
                top = max(top, m.ts)
            out.append((top, m))
        return out
    a, b = keyed(case.msgs), keyed(extra)
    merged, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        if j == len(b) or (i < len(a) and a[i][0] <= b[j][0]):
            merged.append(a[i][1])
            i += 1
        else:
            merged.append(b[j][1])
            j += 1
    top = -10**15
    for m in merged:
        if m.sort == "good":
            assert m.ts >= top - case.lateness_ms
            top = max(top, m.ts)
    return merged


def make_scale_case(seed: int):
    """test_live_model's case for `seed`, with more workers, 4 to 8 partitions and a plan
    (its `scenario` names the plan; `stops`, `stop_waits` and `splits` describe it)."""
    case = make_case(seed)
    rng = random.Random(seed * 1009 + 17)
    case.msgs = more_workers(case, rng)
    case.partitions = rng.randint(4, 8)
    workers = sorted({m.key for m in case.msgs if m.sort == "good"})
    home = {w: rng.randrange(case.partitions) for w in workers}
    for m in case.msgs:
        m.partition = home[m.key] if m.key in home else rng.randrange(case.partitions)
    plan = make_plan(rng)
    case.scenario = "scale " + plan_text(plan)
    case.stops = len(plan) - 1
    case.stop_waits = [str(op) for op in plan]
    case.splits = sorted(rng.randint(1, len(case.msgs) - 1) for _ in range(len(plan)))
    case.plan = plan
    case.home = home
    return case


# --------------------------------------------------------------------------------------
# Running it

def held_partitions(m: harness.Monitor) -> set[int]:
    """The input partitions an instance holds: its `workhours_watermark_lag_seconds`
    series' `partition` labels (LIVE.md, HTTP)."""
    out = set()
    for k in m.metrics():
        if k.startswith("workhours_watermark_lag_seconds{"):
            found = re.search(r'partition="(\d+)"', k)
            if found:
                out.add(int(found.group(1)))
    return out


def settle(broker, group: str, running: list[harness.Monitor], partitions: int,
           about: str, quiet: bool = True) -> float:
    """Waits until the group has settled (module docstring; with `quiet` false, only until
    every instance is ready and the partitions are all assigned); returns the seconds."""
    t0 = time.monotonic()
    last, since = None, 0.0

    def settled():
        nonlocal last, since
        for m in running:
            m.check_alive()
        if not all(m.ready() for m in running):
            last = None
            return False
        assigned = sum(m.metric("workhours_partitions_assigned") for m in running)
        if assigned != partitions:
            last = None
            return False
        if not quiet:
            return True
        state = (sorted(broker.committed(group, INPUT_TOPIC).items()),
                 [m.metric("workhours_events_total") for m in running])
        now = time.monotonic()
        if state != last:
            last, since = state, now
            return False
        return now - since >= 1.0
    try:
        harness.wait_until("the group to settle", settled, 60, interval=0.2)
    except harness.HarnessError as exc:
        raise harness.HarnessError(
            f"{exc}\n{about}\n" + "\n".join(f"{m.name}: {m.pipeline_figures()}"
                                            for m in running)) from None
    return time.monotonic() - t0


class Driver:
    """Replaces test_live_model's `scenario_monitors` and `drive_scenario` for one case:
    three instances in one group, driven by the case's plan."""

    def __init__(self, stack):
        self.stack = stack
        self.killed_held: set[int] = set()  # partitions held by instances when killed
        self.kills: dict[str, list[float]] = {}  # monitor name: kill -9 times (epoch s)
        self.double: dict[int, list[str]] = {}
        self.log: list[str] = []
        self.monitors: list[harness.Monitor] = []
        self.group = ""
        self.broker = None

    def scenario_monitors(self, stack, broker, case, prefix: str, **config):
        config["idle_timeout"] = "600s"
        config["properties"] = FAST_GROUP
        self.group = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.broker = broker
        self.monitors = [stack.monitor(broker, group=self.group, **config)
                         for _ in range(INSTANCES)]
        return self.monitors, self.group

    def drive_scenario(self, case, seed, broker, producer, monitors, group, first_out, about):
        msgs, pos = case.msgs, 0
        chunks = case.splits + [len(msgs)]
        crashed, killed_at = False, None
        t0 = time.monotonic()
        out_before = 0

        def produce_to(end):
            nonlocal pos, out_before
            out_before = len(first_out)
            if end > pos:
                producer.send_msgs(msgs[pos:end])
                pos = end

        def running():
            return [m for m in monitors if m.proc and m.proc.poll() is None]

        produce_to(chunks[0])
        for n, op in enumerate(case.plan):
            if n and killed_at is None:
                # (after a kill -9 the group cannot settle before the next start)
                took = settle(broker, group, running(), case.partitions, about,
                              quiet=not op.busy)
                self.log.append(f"settled in {took:.1f}s")
            if op.kind == "start":
                if killed_at is not None:
                    harness.wait_until("the killed members' group session to expire",
                                       lambda: time.monotonic() >= killed_at + SESSION_S + 1,
                                       SESSION_S + 5, interval=0.1)
                    killed_at = None
                for i in op.who:
                    monitors[i].start()
            elif op.kind == "term":
                for i in op.who:
                    code, seconds = monitors[i].terminate()
                    assert code == 0, f"SIGTERM: exit code {code} after {seconds:.1f}s\n{about}"
            else:
                if op.busy:  # a moment with alerts written since the last chunk, if any
                    soft_wait(lambda: len(first_out) > out_before, 3)
                for i in op.who:
                    monitors[i].kill9()
                    self.kills.setdefault(monitors[i].name, []).append(time.time())
                crashed, killed_at = True, time.monotonic()
            self.log.append(f"{op} at {time.monotonic() - t0:.1f}s")
            produce_to(chunks[n + 1])
        took = settle(broker, group, running(), case.partitions, about)
        self.log.append(f"settled in {took:.1f}s; plan done at {time.monotonic() - t0:.1f}s")
        # Copies (alerts, dead letters) are checked per partition in run_scale_case: here,
        # any copy passes where a crash or a partition held twice can explain one.
        held = holdings(monitors, self.kills)
        self.double = double_holds(held)
        self.killed_held = {p for p, spans in held.items() if any(s[3] for s in spans)}
        return [f"{op}" for op in case.plan], crashed or bool(self.double)


LOG_LINE = re.compile(r"^(\S+Z) +\w+ +\S+ (Partitions assigned: restoring|Partitions revoked"
                      r"|Partitions lost|Stopped)(?:.*?partitions=\[([\d, ]*)\])?")


def holdings(monitors: list[harness.Monitor], kills: dict[str, list[float]]) \
        -> dict[int, list[tuple[float, float, str, bool]]]:
    """Who held which input partition when, from the instances' logs: {partition: [(from,
    to, "mN", ended by a kill -9)]}, epoch seconds, from "Partitions assigned: restoring" to
    "Partitions revoked", "Stopped" or a kill -9 at `kills` (monitor name: times)."""
    held = {}
    for n, m in enumerate(monitors):
        name, since, ends = f"m{n}", {}, sorted(kills.get(m.name, []))

        def close(p, t, killed=False):
            held.setdefault(p, []).append((since.pop(p), t, name, killed))
        try:
            text = m.log_path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("--- start #"):
                t = harness.parse_rfc3339(line.split(" at ")[1]).timestamp()
                for p in list(since):  # a process that died without a word: killed
                    close(p, min([k for k in ends if k >= since[p]] or [t]), True)
                continue
            found = LOG_LINE.match(line)
            if not found:
                continue
            t = harness.parse_rfc3339(found.group(1)).timestamp()
            parts = [int(x) for x in (found.group(3) or "").replace(" ", "").split(",") if x]
            if found.group(2).startswith("Partitions assigned"):
                for p in parts:
                    since.setdefault(p, t)
            else:
                for p in (parts if found.group(2) != "Stopped" else list(since)):
                    if p in since:
                        close(p, t)
        for p in list(since):
            kill = [k for k in ends if k >= since[p]]
            close(p, min(kill or [float("inf")]), bool(kill))
    return held


def double_holds(held) -> dict[int, list[str]]:
    """Partitions that two instances held at once, of `holdings`: {partition: ["m0 and m1
    for 180 ms", ...]} (DESIGN.md, Tansu quirks: a partition can be assigned to a member
    before its old owner has revoked it)."""
    out = {}
    for p, spans in held.items():
        for i, (a0, a1, an, _) in enumerate(spans):
            for b0, b1, bn, _ in spans[i + 1:]:
                if an != bn and max(a0, b0) < min(a1, b1):
                    out.setdefault(p, []).append(
                        f"{an} and {bn} for {(min(a1, b1) - max(a0, b0)) * 1000:.0f} ms")
    return out


def unexplained_copies(records, dead, case, allowed: set[int], why: str) -> list[str]:
    """Copies of an alert (by `alert_id`) or of a dead letter (by source partition and
    offset) outside the partitions in `allowed` (an aggregate alert: any copy when
    `allowed` is not empty)."""
    out = []
    by_id = {}
    for r in records:
        by_id.setdefault(json.loads(r.value)["alert_id"], []).append(r)
    for rs in by_id.values():
        a = rs[0].json()
        w = a.get("worker_id")
        p = case.home.get(w.encode()) if w is not None else None
        if len(rs) > 1 and not (p in allowed if w is not None else allowed):
            out.append(f"{len(rs)} copies of {harness.describe(a)} (partition {p}; {why})")
    by_src = {}
    for r in dead:
        by_src.setdefault((r.header("source_partition"), r.header("source_offset")), []).append(r)
    for (p, offset), rs in by_src.items():
        if len(rs) > 1 and not (p is not None and int(p) in allowed):
            out.append(f"{len(rs)} dead letters of partition {p} offset {offset} "
                       f"({rs[0].header('reason')}: {rs[0].value[:80]!r}; {why})")
    return out


def run_scale_case(stack, tmp_path, case, seed: int, key_of=group_or_worker_key):
    driver = Driver(stack)
    t0 = time.monotonic()
    run = run_against_replay(stack, tmp_path, case, seed, "wh-scale", key_of,
                             monitors_of=driver.scenario_monitors, drive=driver.drive_scenario)
    problems = list(run.problems)
    records = harness.consume_all(driver.broker, ALERTS_TOPIC, quiet=0.3)
    dead = harness.consume_all(driver.broker, DEAD_LETTER_TOPIC, quiet=0.2)
    allowed = driver.killed_held | set(driver.double)
    why = (f"killed instances held {sorted(driver.killed_held)}, partitions held twice "
           f"{driver.double}")
    problems += unexplained_copies(records, dead, case, allowed, why)
    held = [held_partitions(m) for m in run.alive]  # each has a clock heartbeat by now
    if sorted(p for h in held for p in h) != list(range(case.partitions)):
        problems.append(f"the final group holds {held}, want each of "
                        f"{case.partitions} partitions once")
    repeated = len(records) - len({json.loads(r.value)["alert_id"] for r in records})
    print(f"plan: {'; '.join(driver.log)}; held twice {driver.double}; {repeated} repeated "
          f"alert messages; {time.monotonic() - t0:.1f}s")
    run.about += "\n  plan log: " + "; ".join(driver.log) + f"; held twice {driver.double}"
    run.finish(problems)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_scale_out_equals_replay(stack, tmp_path, seed):
    run_scale_case(stack, tmp_path, make_scale_case(seed), seed)
