"""Live pipeline benchmark (issue 3): throughput of `workhours run` next to the raw consume
rate of the same topic, and alert latency. Run through bench/live.sh.

1. A simulated stream of --events events (default 1,000,000) is produced to a fresh local
   Tansu broker (memory storage), input topic of 6 partitions.
2. Raw rate: examples/consume_count (rdkafka, subscribe, count only, fetch.wait.max.ms 20)
   reads all of it.
3. Live rate: `workhours run` with a fresh group, same fetch settings; the time from the
   process start (and from /readyz) until every event was read and handed to its engine
   (`workhours_events_total` = COUNT: the throughput figure), and until the group's committed
   offsets reach the end of every partition (lag 0, read with confluent-kafka; this includes
   the wait for the idle partitions to release the reorder buffer's tail).
4. Latency: on a second fresh broker, --latency-workers logins stamped so that their 4 h
   continuous_work instant falls a few seconds apart after the monitor is up; latency is
   the wall-clock time the violation is read from the alerts topic minus its `at`. The
   partitions are idle (the workers send nothing more), so their event time is the wall
   clock minus allowed_lateness: the target is p99 <= allowed_lateness + idle_timeout + 1 s
   (SPEC section 5).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "live"))

import harness  # noqa: E402


def log(*args):
    print(*args, flush=True)


def percentile(values, q):
    """Nearest rank: the ceil(q * n)-th smallest."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def make_stream(out: Path, events: int, workers: int, days: int) -> Path:
    path = out / f"live-{workers}x{days}-{events}.jsonl"
    if path.exists() and sum(1 for _ in path.open("rb")) == events:
        return path
    full = out / f"live-sim-{workers}x{days}.jsonl"
    if not full.exists():
        harness.simulate(full, workers, days, 1)
    n = 0
    with full.open("rb") as src, path.open("wb") as dst:
        for line in src:
            if n == events:
                break
            dst.write(line)
            n += 1
    if n < events:
        path.unlink()
        raise SystemExit(f"{workers} workers x {days} days give only {n} events; raise --workers")
    return path


def produce_file(broker, path: Path, topic: str = harness.INPUT_TOPIC) -> float:
    producer = harness.InputProducer(broker, topic, **{"linger.ms": 20, "enable.idempotence": False})
    t0 = time.monotonic()
    with path.open("rb") as f:
        batch = []
        for line in f:
            batch.append(line.rstrip(b"\n"))
            if len(batch) == 10000:
                producer.send(batch)
                batch = []
        producer.send(batch)
    producer.flush(600)
    return time.monotonic() - t0


def raw_rate(broker, events: int) -> dict:
    binary = Path(os.environ.get("CONSUME_COUNT_BIN") or
                  Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release/examples/consume_count")
    out = subprocess.run([str(binary), broker.bootstrap, harness.INPUT_TOPIC, str(events)],
                         capture_output=True, text=True, timeout=900, env=harness.child_env())
    if out.returncode != 0:
        raise SystemExit(f"consume_count failed: {out.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in out.stdout.split())}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_rate(broker, workdir: Path, events: int, binary: str | None = None, name: str = "bench-throughput") -> dict:
    from confluent_kafka import Consumer, TopicPartition

    group = f"bench-{uuid.uuid4().hex[:8]}"
    end = broker.high_watermarks(harness.INPUT_TOPIC)
    assert sum(end.values()) == events, (end, events)
    reader = Consumer(harness.client_conf(broker.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    tps = [TopicPartition(harness.INPUT_TOPIC, p) for p in end]

    def lag_now():
        return sum(end[tp.partition] - max(tp.offset, 0) for tp in reader.committed(tps, timeout=5))
    def processed_now():
        # The monitor's own count of the events it has read (workhours_events_total).
        try:
            code, body = monitor.get("/metrics", timeout=2)
        except Exception:  # noqa: BLE001
            return 0
        if code != 200:
            return 0
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                       if line.startswith("workhours_events_total{")))

    # Topics of its own: a run restoring the state an earlier run saved would skip most of its
    # work (the events below the saved offsets only refill duplicate detection).
    # The holds topic too: a monitor that finds its holds topic missing creates it, and the
    # first round of a run paid for that (about 0.1 s of its start, and 0.1 s more for the
    # restore's first metadata after it), the others not.
    topics = {"alerts_topic": f"{harness.ALERTS_TOPIC}.{group}",
              "dead_letter_topic": f"{harness.DEAD_LETTER_TOPIC}.{group}",
              "state_topic": f"{harness.STATE_TOPIC}.{group}",
              "holds_topic": f"workhours.holds.{group}"}
    broker.create_topic(topics["alerts_topic"], len(end))
    broker.create_topic(topics["holds_topic"], len(end))
    broker.create_topic(topics["dead_letter_topic"], 2)
    broker.create_topic(topics["state_topic"], len(end), {"cleanup.policy": "compact"})
    monitor = harness.Monitor(workdir, broker, group, name=name, topics=topics)
    saved_bin = os.environ.get("TEST_WORKHOURS_BIN")
    if binary:
        os.environ["TEST_WORKHOURS_BIN"] = binary
    try:
        t0 = time.monotonic()
        try:
            monitor.start()
        finally:
            if binary:
                if saved_bin is None:
                    os.environ.pop("TEST_WORKHOURS_BIN", None)
                else:
                    os.environ["TEST_WORKHOURS_BIN"] = saved_bin
        cpu_processed = None
        ready = None
        processed_at = None
        lag = events
        samples = []
        while True:
            monitor.check_alive()
            if ready is None and monitor.ready():
                ready = time.monotonic() - t0
            if processed_at is None and ready is not None and processed_now() >= events:
                processed_at = time.monotonic() - t0
                cpu_processed = cpu_seconds(monitor.proc.pid)
            lag = lag_now()
            samples.append((time.monotonic() - t0, lag))
            if lag == 0:
                break
            if time.monotonic() - t0 > 1800:
                raise SystemExit(f"workhours run did not catch up in 30 min (lag {lag}); log {monitor.log_path}")
            # Finer sampling until every event is processed: the figure is read to ~30 ms.
            time.sleep(0.1 if processed_at else 0.03)
        total = time.monotonic() - t0
        first = next((t for t, l in samples if l < events), total)
        cpu_lag0 = cpu_seconds(monitor.proc.pid)
        code, secs = monitor.terminate()
        processed_at = processed_at or total
        return {"processed_after": processed_at,
                "processed_per_second_from_start": events / processed_at,
                "processed_per_second_from_ready": events / max(processed_at - (ready or 0.0), 1e-9),
                "seconds_from_start": total, "seconds_from_ready": total - (ready or 0.0),
                "ready_after": ready or float("nan"), "first_commit_after": first,
                "events_per_second_from_start": events / total,
                "events_per_second_from_ready": events / (total - (ready or 0.0)),
                "sigterm_exit": code, "sigterm_seconds": secs,
                "cpu_seconds_processed": cpu_processed or cpu_lag0, "cpu_seconds_lag0": cpu_lag0,
                "cpu_us_per_event": (cpu_processed or cpu_lag0) / events * 1e6,
                "alerts": broker.count(topics["alerts_topic"])}
    finally:
        monitor.close()
        reader.close()


def latency(workdir: Path, workers: int, lead: float, spacing: float, lateness: float) -> list[float]:
    broker = harness.Broker(workdir / "latency-broker", "memory").start()
    watcher = None
    monitor = None
    try:
        broker.create_pipeline_topics()
        base = harness.now_utc() + timedelta(seconds=lead)
        instants = {}
        lines = []
        for i in range(workers):
            instant = base + timedelta(seconds=i * spacing)
            instant = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
            worker = f"lat-{i:04d}"
            instants[worker] = instant
            lines.append(json.dumps({"event_id": f"{worker}-1", "worker_id": worker, "kind": "login",
                                     "ts": harness.rfc3339_ms(instant - timedelta(hours=4))}).encode())
        # Before the monitor starts: an idle partition's watermark is the wall clock.
        harness.InputProducer(broker).produce(lines)
        watcher = harness.Watcher(broker, harness.ALERTS_TOPIC)
        monitor = harness.Monitor(workdir, broker, f"bench-lat-{uuid.uuid4().hex[:8]}",
                                  name="bench-latency",
                                  time={"allowed_lateness": f"{lateness:g}s"}).start()
        ready = monitor.wait_ready(lead)
        log(f"latency: monitor ready after {ready:.1f}s; first instant {lead - ready:.1f}s later")
        last = max(instants.values()).timestamp()

        def violations():
            monitor.check_alive()
            got = {}
            for r in watcher.snapshot():
                a = r.json()
                if a["rule"] == "continuous_work" and a["phase"] == "violation" and a.get("worker_id") in instants:
                    got.setdefault(a["worker_id"], (r, a))
            return got if len(got) == workers else None
        got = harness.wait_until(f"{workers} continuous_work violations",
                                 violations, timeout=last - time.time() + lateness + 30, interval=0.05)
        out = []
        for worker, (r, a) in got.items():
            at = harness.parse_rfc3339(a["at"])
            if at != instants[worker]:
                raise SystemExit(f"{worker}: at {a['at']}, want {instants[worker].isoformat()}")
            out.append(r.arrived - at.timestamp())
        return out
    finally:
        if watcher:
            watcher.close()
        if monitor:
            monitor.close()
        broker.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=9000)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=harness.PARTITIONS, help="of the input topic")
    ap.add_argument("--bin", action="append", default=[],
                    help="a workhours binary to measure (repeat to compare several on the same broker; "
                         "default: TEST_WORKHOURS_BIN)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="raw, then each --bin in turn, this many times (ratios within one round)")
    ap.add_argument("--latency-workers", type=int, default=100)
    ap.add_argument("--latency-spacing", type=float, default=0.2, help="seconds between instants")
    ap.add_argument("--latency-lead", type=float, default=20.0, help="seconds from start to the first instant")
    ap.add_argument("--lateness", type=float, default=30.0,
                    help="time.allowed_lateness of the latency monitor, seconds (default 30, as config/workhours.toml)")
    ap.add_argument("--idle-timeout", type=float, default=2.0, help="live.idle_timeout, seconds (the harness's default)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out"))
    ap.add_argument("--skip", default="", help="comma list of phases to skip: raw,live,latency")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = out / f"live-{time.strftime('%Y%m%d-%H%M%S')}"
    workdir.mkdir()
    results = {}

    if not {"raw", "live"} <= skip:
        stream = make_stream(out, args.events, args.workers, args.days)
        size = stream.stat().st_size
        broker = harness.Broker(workdir / "broker", "memory").start()
        try:
            broker.create_pipeline_topics(partitions=args.partitions)
            secs = produce_file(broker, stream)
            log(f"produced {args.events} events ({size / 2**20:.0f} MiB) in {secs:.1f}s: {args.events / secs:.0f} events/s")
            bins = args.bin or [None]
            results["rounds"] = []
            for round_ in range(args.rounds):
                entry = {}
                results["rounds"].append(entry)
                if "raw" not in skip:
                    before = cpu_seconds(broker.proc.pid)
                    raw = raw_rate(broker, args.events)
                    raw["broker_cpu_us_per_event"] = (cpu_seconds(broker.proc.pid) - before) / args.events * 1e6
                    entry["raw"] = results["raw"] = raw
                    log(f"raw consume (rdkafka, count only): {raw['events_per_second_from_start']:.0f} events/s "
                        f"from start ({raw['seconds_from_start']:.2f}s), "
                        f"{raw['events_per_second_from_first']:.0f} events/s from the first message; "
                        f"broker CPU {raw['broker_cpu_us_per_event']:.2f} us/event")
                if "live" in skip:
                    continue
                for i, binary in enumerate(bins):
                    label = binary or os.environ.get("TEST_WORKHOURS_BIN") or "workhours"
                    before = cpu_seconds(broker.proc.pid)
                    live = live_rate(broker, workdir, args.events, binary, name=f"bench-throughput-{round_}-{i}")
                    # The broker's CPU from the monitor's start to its exit: the reads, and the
                    # alerts, state and commits written.
                    live["broker_cpu_us_per_event"] = (cpu_seconds(broker.proc.pid) - before) / args.events * 1e6
                    entry[label] = results["live"] = live
                    log(f"[{label}] workhours run: every event processed after {live['processed_after']:.2f}s: "
                        f"{live['processed_per_second_from_start']:.0f} events/s from start, "
                        f"{live['processed_per_second_from_ready']:.0f} events/s from /readyz (workhours_events_total); "
                        f"CPU {live['cpu_us_per_event']:.2f} us/event ({live['cpu_seconds_processed']:.2f}s); "
                        f"broker CPU {live['broker_cpu_us_per_event']:.2f} us/event (to exit)")
                    log(f"[{label}] workhours run: {live['events_per_second_from_start']:.0f} events/s from start "
                        f"({live['seconds_from_start']:.2f}s to lag 0), "
                        f"{live['events_per_second_from_ready']:.0f} events/s from /readyz "
                        f"(ready after {live['ready_after']:.2f}s); {live['alerts']} alerts; "
                        f"SIGTERM: exit {live['sigterm_exit']} in {live['sigterm_seconds']:.2f}s")
                    if "raw" in entry:
                        raw = entry["raw"]
                        r1 = live["events_per_second_from_start"] / raw["events_per_second_from_start"]
                        r2 = live["events_per_second_from_ready"] / raw["events_per_second_from_first"]
                        r3 = live["processed_per_second_from_start"] / raw["events_per_second_from_start"]
                        log(f"[{label}] ratio to raw, events processed (both from process start): {r3:.0%}; target >= 90%")
                        log(f"[{label}] ratio to raw, lag 0: {r1:.0%} (both from process start), {r2:.0%} (live from "
                            f"/readyz, raw from its first message). Not a throughput figure: the last "
                            f"allowed_lateness of event time waits in the reorder buffer until the partitions are "
                            f"idle for live.idle_timeout, and the alerts it causes are acknowledged before the commit")
        finally:
            broker.close()

    if "latency" not in skip:
        lat = latency(workdir, args.latency_workers, args.latency_lead, args.latency_spacing, args.lateness)
        results["latency"] = lat
        target = args.lateness + args.idle_timeout + 1
        log(f"alert latency over {len(lat)} silent workers (allowed_lateness {args.lateness:g}s, "
            f"idle_timeout {args.idle_timeout:g}s): p50 {percentile(lat, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(lat, 0.99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms, "
            f"min {min(lat) * 1000:.0f} ms; target p99 <= {target * 1000:.0f} ms")

    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    log(f"results and logs: {workdir}")


if __name__ == "__main__":
    main()
