"""NOT IN THE DEFAULT RUN (set `LIVE_OUTAGE=1`): not reliable yet against Tansu 0.6, for two
causes in the test, none found in the monitor (2026-12-08):
- with `idle_timeout` 2 or 3 s, seed 46 (`pause(4.4s busy) term-after | restart(0.0s) |
  pause(6.1s)`) failed 3 of 4 runs: after the broker's restart no keep-alive reached
  partition 0 within `idle_timeout` while the brokers answered, so the partition went idle
  and its event time moved to the last answered round less the lateness (LIVE.md "Time"),
  past the whole week-old stream, whose later events were then `late`. Documented behaviour
  for a partition silent while the brokers answer; SPEC 5 protects only events that reach the
  monitor within `allowed_lateness` of their `ts` (the real-time workers' never were late).
  Now `idle_timeout` is 5 or 6 s: seed 46 passed 3 of 3, seeds 1-12 and 40-51 all but one;
- seed 41 (`pause(4.0s busy) kill9-during`, 5 partitions): the monitor started again after
  the killed member's session got an empty assignment from Tansu (DESIGN.md, Tansu quirks)
  and wrote nothing: the driver must wait for every partition to be assigned, as
  test_live_scale_model.py's does, before the model can run by default.

Randomized model of broker outages (SPEC sections 5 and 6: "Live delivery", the watermark
through an outage, `/healthz`): `workhours run` on a sqlite-backed Tansu broker that is
killed and restarted, or frozen (SIGSTOP), between chunks of the input, checked against
`workhours replay` of the same events.

Each case comes from one seed: test_live_model.py's case (`make_case`: config, workers,
copies, variants, late and bad messages, a wrong key, a future event, a stream a week in the
past), on its 1 to 4 partitions, plus one partition more for 2 or 3 real-time workers
(platform `outage`, role `courier`, `[rules.platform.outage]` continuous work of seconds:
a warning 3 s into work, a violation at 6 s, resolved by a 2 s rest; sessions of 2 to 9 s),
whose events are stamped with the wall clock when they are sent, also while the broker is
away (the producer keeps them; a client that reconnects within 200 ms). The monitor runs with
`idle_timeout` 5 or 6 s, shorter than many outages, so that event time would move on during
one if the monitor took the outage for quiet input; the past partitions are kept busy
meanwhile by a heartbeat of a `keep-P` worker on each every 0.25 s, stamped with the
largest `ts` of the chunks already delivered (so it makes no later event of the stream
late; LIVE.md: a partition silent for `idle_timeout` jumps to the wall clock). These
heartbeats and the real-time events are input of replay too.

The plan (seed N, printed as e.g. `restart(2.4s busy) | pause(6.1s) kill9-during`): 1 to 3
outages between chunks: the broker killed (SIGKILL) and restarted on its sqlite file after
0 to 5 s, or stopped (SIGSTOP) for 1 to 8 s and continued (below the group session of
10 s: DESIGN.md, Tansu quirks, a freeze past it can break the group); `busy`: at once
after a chunk is delivered, while the monitor reads it and writes its checkpoint, else once
the monitor has read it; and at most one monitor stop per case: SIGTERM or `kill -9`
during the outage or right after it, the monitor started again once the broker is back (a
stop that cannot leave the group: after its session expired). `[live] delivery_timeout`
is 30 s: the monitor must ride every outage out (it is never restarted but where the plan
stops it). During each outage `/healthz` is asked every 0.1 s and must answer 200 within
100 ms (SPEC 6).

The check is test_live_model's `run_against_replay` (its monitors and driver replaced by
this module's): every alert of replay bracketed by event time on the alerts topic, with its
fields and key, nothing else, copies of an `alert_id` byte-identical, and copies only when
the plan stopped the monitor during an outage or killed it (SPEC 5: at most once in normal
operation); every bad and late message dead-lettered with its reason, key, value and
source, and nothing else: no event of the real-time workers may be `late` (SPEC 5: an event
that reaches the monitor within `allowed_lateness` of its `ts` is never late; LIVE.md,
"Time": what producers kept during an outage is not late). Here also: the input topic holds
exactly what the producers had acknowledged (else the fault is Tansu's or the client's, not
the monitor's), the monitor's exits are the plan's, and `/healthz` answered in time.

Hand case: `delivery_timeout` 2 s, the broker killed while the monitor sends the dead
letters of 1,500 bad lines: it must exit non-zero (SPEC 5), and, started again once the
broker is back, lose nothing (same check; copies allowed).

Run: `python3 -m pytest tests/live/test_live_outage_model.py -q` (LIVE_OUTAGE_CASES cases,
default 4, seeds LIVE_OUTAGE_FIRST_SEED on, default 1; 15 to 35 s a case). Rerun one:
`MODEL_SEED=N` (LIVE_MODEL_ANCHOR as in test_live_model.py for another week's stream). A
failure prints the seed, the plan and its log, the config and the case's tmp dir
(produced.jsonl, replay.jsonl, replay.toml, monitor0.log, broker0/tansu-PORT.log).
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

import harness
from harness import DEAD_LETTER_TOPIC, INPUT_TOPIC
from test_live_model import (CaseProducer, Msg, group_or_worker_key, make_case,
                             run_against_replay, soft_wait)

pytestmark = pytest.mark.skipif(os.environ.get("LIVE_OUTAGE") != "1",
                                reason="not reliable yet (module docstring): LIVE_OUTAGE=1 runs it")
FIRST_SEED = int(os.environ.get("LIVE_OUTAGE_FIRST_SEED", "1"))
CASES = int(os.environ.get("LIVE_OUTAGE_CASES", "4"))
SEEDS = ([int(os.environ["MODEL_SEED"])] if os.environ.get("MODEL_SEED")
         else list(range(FIRST_SEED, FIRST_SEED + CASES)))
SESSION_MS = 10_000
LIVE_RULES = ('[rules.platform.outage]\ncontinuous_limit = "6s"\nwarn_before = "3s"\n'
              'min_break = "2s"\n')
TICK = 0.25  # seconds between the feeder's keep-alive heartbeats and real-time events
HEALTH_LIMIT = 0.1  # SPEC 6: /healthz within 100 ms


# --------------------------------------------------------------------------------------
# The plan

@dataclass
class Outage:
    kind: str  # restart (SIGKILL, then start on the same sqlite file) or pause (SIGSTOP)
    seconds: float  # down or frozen for
    busy: bool  # at once after a chunk, while the monitor reads it
    monitor: str | None = None  # None, term or kill9: the monitor stopped too
    during: bool = True  # the monitor's stop in the middle of the outage, else right after
    until_exit: bool = False  # hand case: down until the monitor exits

    def __str__(self):
        s = f"{self.kind}({'until exit' if self.until_exit else f'{self.seconds:.1f}s'}"
        s += " busy)" if self.busy else ")"
        if self.monitor:
            s += f" {self.monitor}-{'during' if self.during else 'after'}"
        return s


def make_plan(rng: random.Random) -> list[Outage]:
    plan = []
    stop_at = rng.randrange(3) if rng.random() < 0.45 else None
    for i in range(rng.randint(1, 3)):
        if rng.random() < 0.5:
            o = Outage("restart", round(rng.choice([0, rng.uniform(0, 5)]), 1), rng.random() < 0.5)
        else:
            o = Outage("pause", round(rng.uniform(1, 8), 1), rng.random() < 0.5)
        if i == stop_at:
            o.monitor = rng.choice(["term", "kill9", "kill9"])
            o.during = rng.random() < 0.6
        plan.append(o)
    return plan


def plan_text(plan) -> str:
    return " | ".join(str(o) for o in plan)


def make_outage_case(seed: int, plan=None):
    """test_live_model's case for `seed`, one partition more (the real-time workers'), the
    rules of platform `outage`, an outage plan and the monitor's settings."""
    case = make_case(seed)
    rng = random.Random(seed * 7919 + 5)
    case.plan = plan if plan is not None else make_plan(rng)
    case.past_partitions = case.partitions
    case.partitions += 1
    case.extra += LIVE_RULES
    case.idle_timeout = rng.choice(["5s", "6s"])
    case.backoff_max = rng.choice([None, "1000"])
    case.live_workers = [f"live{seed}-{i}" for i in range(rng.randint(2, 3))]
    case.scenario = "outage " + plan_text(case.plan)
    case.stops = len(case.plan)
    case.stop_waits = [str(o) for o in case.plan]
    n = len(case.msgs)
    case.splits = sorted(rng.randint(1, n - 1) for _ in range(len(case.plan) + 1))
    return case


# --------------------------------------------------------------------------------------
# Helpers while it runs

class Feeder:
    """A thread that sends, every TICK, a heartbeat of `keep-P` to every past partition P
    (stamped with the largest `ts` of the chunks delivered so far) and the real-time
    workers' events (stamped with the wall clock), through its own producer, which keeps
    them while the broker is away. `msgs`: what it sent, as test_live_model's Msg."""

    def __init__(self, producer: CaseProducer, case, seed: int):
        self.producer = producer
        self.case = case
        self.rng = random.Random(seed * 31 + 1)
        self.top: int | None = None
        self.msgs: list[Msg] = []
        self.n = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.workers = {w: {"online": False, "next": time.monotonic() + self.rng.uniform(0, 2),
                            "order": None, "since": 0.0} for w in case.live_workers}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def send_chunk(self, msgs: list[Msg]):
        """Produces a chunk of the stream and then delivers it. Heartbeats of `keep-P` go
        into the same producer, so, per partition, in the order produced: one produced
        before the chunk has the `ts` of before it (no event of the chunk is older than it
        less the lateness), one produced after the chunk has the chunk's largest `ts`."""
        ts = [m.ts for m in msgs if m.ts is not None and m.sort in ("good", "copy", "variant")]
        with self._lock:
            for m in msgs:
                self._produce(m)
            if ts:
                self.top = max([self.top or ts[0]] + ts)
        self.producer.flush()

    def _produce(self, m: Msg):
        while True:
            try:
                self.producer.producer.produce(INPUT_TOPIC, value=m.value, key=m.key,
                                               partition=m.partition,
                                               on_delivery=self.producer._on_delivery)
                return
            except BufferError:
                self.producer.producer.poll(0.01)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def _send(self, key: str, partition: int, fields: dict, ts: int):
        self.n += 1
        fields = {"worker_id": key, **fields, "ts": ts, "event_id": f"{key}#{self.n}"}
        m = Msg(json.dumps(fields).encode(), key.encode(), partition, "good", ts)
        self._produce(m)
        self.msgs.append(m)

    def _live(self, w: str, st: dict, now: float):
        base = {"platform": "outage", "role": "courier", "city": "live"}
        r = self.rng.random()
        if not st["online"]:
            if now >= st["next"]:
                self._send(w, self.case.past_partitions, {"kind": "login", **base},
                           harness.now_ms())
                st.update(online=True, since=now, next=now + self.rng.uniform(2, 9))
            return
        if now >= st["next"]:
            self._send(w, self.case.past_partitions, {"kind": "logout", **base},
                       harness.now_ms())
            st.update(online=False, next=now + self.rng.uniform(1, 5))
        elif r < 0.05 and st["order"] is None:
            st["order"] = f"o{self.n}"
            self._send(w, self.case.past_partitions,
                       {"kind": "order_accepted", "order_id": st["order"], **base},
                       harness.now_ms())
        elif r < 0.1 and st["order"] is not None:
            self._send(w, self.case.past_partitions,
                       {"kind": "order_delivered", "order_id": st["order"], **base},
                       harness.now_ms())
            st["order"] = None
        elif r < 0.4:
            self._send(w, self.case.past_partitions, {"kind": "heartbeat", **base},
                       harness.now_ms())
        # else silent this tick (a worker online and quiet: the idle advance fires them)

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                if self.top is not None:
                    for p in range(self.case.past_partitions):
                        self._send(f"keep-{p}", p, {"kind": "heartbeat"}, self.top)
            for w, st in self.workers.items():
                self._live(w, st, now)
            self.producer.producer.poll(0)
            self._stop.wait(TICK)


class HealthProbe:
    """Asks a monitor's /healthz every 0.1 s in a thread; `slow()`: answers not 200 within
    HEALTH_LIMIT."""

    def __init__(self, port: int):
        self.port = port
        self.samples: list[tuple[object, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        url = f"http://127.0.0.1:{self.port}/healthz"
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                status = type(e).__name__
            self.samples.append((status, time.monotonic() - t0))
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def slow(self) -> list[tuple[object, float]]:
        return [(s, round(t, 3)) for s, t in self.samples if s != 200 or t > HEALTH_LIMIT]


class Driver:
    """Replaces test_live_model's `scenario_monitors` and `drive_scenario`: one monitor, the
    case's outage plan (module docstring)."""

    def __init__(self, stack, delivery_timeout: str = "30s"):
        self.stack = stack
        self.delivery_timeout = delivery_timeout
        self.log: list[str] = []
        self.problems: list[str] = []
        self.broker = None
        self.fast: CaseProducer | None = None
        self.starts = 0
        self.copies_allowed = False
        self.exit_code = None

    def monitors_of(self, stack, broker, case, prefix: str, **config):
        config["idle_timeout"] = case.idle_timeout
        props = {"session.timeout.ms": str(SESSION_MS), "heartbeat.interval.ms": "500"}
        if case.backoff_max:
            props["reconnect.backoff.max.ms"] = case.backoff_max
        config["properties"] = props
        config["live"] = {"delivery_timeout": self.delivery_timeout}
        group = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.broker = broker
        return [stack.monitor(broker, group=group, **config)], group

    def note(self, t0: float, text: str):
        self.log.append(f"{time.monotonic() - t0:.1f}s {text}")

    def drive(self, case, seed, broker, producer, monitors, group, first_out, about):
        m = monitors[0]
        t0 = time.monotonic()
        msgs = list(case.msgs)  # the stream's own messages (the feeder's go after them)
        chunks = case.splits[1:] + [len(msgs)]
        self.fast = CaseProducer(broker, **{"reconnect.backoff.ms": "10",
                                            "reconnect.backoff.max.ms": "200",
                                            "linger.ms": "5"})
        feeder = Feeder(self.fast, case, seed)
        pos = 0

        def chunk(end):
            nonlocal pos
            if end > pos:
                feeder.send_chunk(msgs[pos:end])
                pos = end

        chunk(case.splits[0])
        m.start()
        self.starts += 1
        m.wait_ready()
        feeder.start()
        self.note(t0, "monitor ready, feeder on")
        for n, o in enumerate(case.plan):
            chunk(chunks[n])
            if not o.busy:
                read = soft_wait(lambda: m.metric("workhours_consumer_lag_messages") == 0, 10)
                self.note(t0, "chunk read" if read else "chunk read (not reached)")
            self.outage(case, o, m, t0)
        chunk(len(msgs))
        feeder.stop()
        self.fast.flush(60)
        producer.delivered.extend(self.fast.delivered)
        self.run_producer = producer
        case.msgs.extend(feeder.msgs)  # in place: run_against_replay's `msgs` is this list
        self.note(t0, f"plan done, feeder sent {len(feeder.msgs)}")
        m.check_alive()
        if m.starts != self.starts:
            self.problems.append(f"monitor started {m.starts} times, the plan {self.starts}")
        return [str(o) for o in case.plan], self.copies_allowed

    def outage(self, case, o: Outage, m: harness.Monitor, t0: float):
        b = self.broker
        m.check_alive()
        if o.monitor == "term":
            # A SIGTERM before the handler is installed kills the process (test_live_model).
            soft_wait(m.ready, 30)
        probe = HealthProbe(m.http_port)
        stopped = None  # (how, monotonic time) of the monitor's stop
        term_code = None

        def stop_monitor():
            nonlocal stopped
            probe.stop()
            if o.monitor == "kill9":
                m.kill9()
            else:
                m.proc.send_signal(signal.SIGTERM)
            stopped = (o.monitor, time.monotonic())
            self.note(t0, f"monitor {o.monitor} ({'during' if o.during else 'after'})")

        if o.until_exit:  # hand case: while dead letters are being sent
            soft_wait(lambda: m.metric("workhours_bad_events_total") > 0, 10)
        begin = time.monotonic()
        if o.kind == "restart":
            b.stop()
        else:
            b.pause()
        self.note(t0, f"broker {'killed' if o.kind == 'restart' else 'stopped'} ({o})")
        if o.until_exit:
            code = m.wait_exit(float(o.seconds))
            self.note(t0, f"monitor exited {code} after {time.monotonic() - begin:.1f}s")
            self.exit_code = code
            probe.stop()
            stopped = ("exit", time.monotonic())
        else:
            if o.monitor and o.during:
                time.sleep(o.seconds / 2)  # half the outage: what the test is about
                stop_monitor()
                time.sleep(o.seconds / 2)
            else:
                time.sleep(o.seconds)  # the outage itself
        if o.kind == "restart":
            b.start()
        else:
            b.resume()
        self.note(t0, "broker back")
        if o.monitor and not o.during:
            stop_monitor()
        if stopped is None:
            probe.stop()
        slow = probe.slow()
        if slow:
            self.problems.append(f"/healthz during {o}: {len(slow)} of {len(probe.samples)} "
                                 f"answers not 200 within {HEALTH_LIMIT}s: {slow[:8]}")
        if stopped is None:
            m.check_alive()
            return
        if o.monitor == "term":
            code = m.wait_exit(30)
            term_code = code
            self.note(t0, f"SIGTERM exit {code}")
            if not o.during and code != 0:
                self.problems.append(f"SIGTERM with the broker up ({o}): exit code {code}")
        # A stop during an outage cannot leave the group; a kill -9 never does: start again
        # once that session is over (DESIGN.md, Tansu quirks).
        clean = o.monitor == "term" and not o.during and term_code == 0
        if not clean:
            self.copies_allowed = True
            harness.wait_until("the stopped member's group session to expire",
                               lambda: time.monotonic() >= stopped[1] + SESSION_MS / 1000 + 1,
                               SESSION_MS / 1000 + 5, interval=0.1)
        m.start()
        self.starts += 1
        m.wait_ready(60)
        self.note(t0, "monitor started again, ready")


def input_integrity(broker, delivered, path) -> list[str]:
    """The input topic against what the producers had acknowledged: a difference is the
    broker's (or the client's), not the monitor's. The topic goes to `path` (partition,
    offset, value), for a failure's reader."""
    records = harness.consume_all(broker, INPUT_TOPIC, quiet=0.3)
    with open(path, "wb") as f:
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            f.write(b"%d\t%d\t" % (r.partition, r.offset) + r.value + b"\n")
    got = collections.Counter((r.partition, r.key, r.value) for r in records)
    want = collections.Counter((d.partition, d.key, d.value) for d in delivered)
    if got == want:
        return []
    more, less = got - want, want - got
    return [f"Tansu/client: the input topic differs from what was acknowledged: "
            f"{sum(more.values())} more, e.g. {list(more)[:3]}; {sum(less.values())} "
            f"missing, e.g. {list(less)[:3]}"]


def run_outage_case(stack, tmp_path, case, seed: int, driver: Driver):
    orig = stack.broker
    stack.broker = lambda storage="sqlite", topics=True: orig("sqlite", topics)
    t0 = time.monotonic()
    try:
        run = run_against_replay(stack, tmp_path, case, seed, "wh-outage", group_or_worker_key,
                                 monitors_of=driver.monitors_of, drive=driver.drive)
    finally:
        stack.broker = orig
    problems = list(run.problems) + driver.problems
    problems += input_integrity(driver.broker, driver.run_producer.delivered,
                                tmp_path / "input-topic.tsv")
    with open(tmp_path / "dead-letters.tsv", "wb") as f:  # for a failure's reader
        for r in harness.consume_all(driver.broker, DEAD_LETTER_TOPIC, quiet=0.2):
            f.write(b"\t".join([(r.header(h) or "").encode() for h in
                                ("source_partition", "source_offset", "reason", "detail")])
                    + b"\t" + r.value + b"\n")
    live = sum(1 for a in run.expected_hi.values() if a.get("platform") == "outage")
    print(f"plan log: {'; '.join(driver.log)}; {time.monotonic() - t0:.1f}s; "
          f"{live} alerts of the real-time workers")
    run.about += "\n  plan log: " + "; ".join(driver.log)
    run.finish(problems)
    return run


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={s}" for s in SEEDS])
def test_outages_equal_replay(stack, tmp_path, seed):
    run_outage_case(stack, tmp_path, make_outage_case(seed), seed, Driver(stack))


def test_short_delivery_timeout_exits_nonzero_and_a_restart_loses_nothing(stack, tmp_path):
    """SPEC 5: delivery failing for `delivery_timeout` (here 2 s) makes the monitor exit
    non-zero; started again from its last commit it loses nothing. The broker is killed
    while the monitor sends the dead letters of 1,500 bad lines and stays down until the
    monitor has exited (at most 2 s + about 5 s for the consumer's close, LIVE.md)."""
    plan = [Outage("restart", 30, busy=True, until_exit=True)]
    case = make_outage_case(7, plan)
    at = case.splits[1]
    bad = [Msg(b"not json, outage %d" % i, None, i % case.past_partitions, "bad", None,
               "not_json") for i in range(1500)]
    case.msgs[at:at] = bad
    case.splits = [s if s <= at else s + len(bad) for s in case.splits]
    case.splits[1] = at + len(bad)
    driver = Driver(stack, delivery_timeout="2s")
    run_outage_case(stack, tmp_path, case, 7, driver)
    code = driver.exit_code
    assert code is not None and code > 0, f"exit code {code} after delivery failed for 2 s"
