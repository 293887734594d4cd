"""Restore benchmark (issue 12): a state topic of --workers worker records, once with one
record per worker and once with --versions records per worker (the older ones superseded, as
a topic holds them until it is compacted; Tansu 0.6 never compacts), restored by `workhours
run` until /readyz answers 200. Run through bench/live.sh --restore, or alone:

    python3 bench/live_restore.py [--workers 1000000] [--versions 11]

Needs the release binary and examples/state_fill (bench/live.sh builds both), tansu and
confluent-kafka. Prints the seconds to ready, the records read per second and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "live"))

import harness  # noqa: E402


def fill(broker, workers: int, versions: int) -> dict:
    binary = Path(os.environ.get("STATE_FILL_BIN") or
                  Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release/examples/state_fill")
    out = subprocess.run([str(binary), broker.bootstrap, harness.STATE_TOPIC, str(harness.PARTITIONS),
                          str(workers), str(versions)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"state_fill failed: {out.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in out.stdout.split())}


def restore(workdir: Path, workers: int, versions: int) -> dict:
    broker = harness.Broker(workdir / f"broker-{versions}", "memory").start()
    monitor = None
    try:
        broker.create_pipeline_topics()
        filled = fill(broker, workers, versions)
        print(f"state topic: {filled['records']:.0f} records ({filled['bytes'] / 2**20:.0f} MiB before "
              f"compression) written in {filled['seconds']:.1f}s", flush=True)
        monitor = harness.Monitor(workdir, broker, f"bench-restore-{uuid.uuid4().hex[:8]}",
                                  name=f"restore-{versions}")
        t0 = time.monotonic()
        monitor.start()
        peak = 0

        def ready():
            nonlocal peak
            peak = max(peak, monitor.memory()[1])
            return monitor.ready()
        harness.wait_until("the restored monitor ready", ready, timeout=3600, interval=0.1)
        seconds = time.monotonic() - t0
        harness.wait_until("every worker restored", lambda: monitor.metric("workhours_workers_held") == workers,
                           60, interval=0.2)
        peak = max(peak, monitor.memory()[1])
        code, _ = monitor.terminate()
        return {"workers": workers, "versions": versions, "records": filled["records"],
                "seconds_to_ready": seconds, "records_per_second": filled["records"] / seconds,
                "peak_rss_mib": peak / 2**20, "sigterm_exit": code}
    finally:
        if monitor:
            monitor.close()
        broker.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=1_000_000)
    ap.add_argument("--versions", type=int, default=11, help="records per worker in the second run (10 superseded)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out"))
    args = ap.parse_args()
    workdir = Path(args.out) / f"restore-{time.strftime('%Y%m%d-%H%M%S')}"
    workdir.mkdir(parents=True)
    results = []
    for versions in (1, args.versions):
        result = restore(workdir, args.workers, versions)
        results.append(result)
        print(f"restore of {args.workers} workers x {versions} record(s) each ({result['records']:.0f} records): "
              f"ready after {result['seconds_to_ready']:.1f}s ({result['records_per_second']:.0f} records/s), "
              f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results and logs: {workdir}")


if __name__ == "__main__":
    main()
