"""Issue 4, end to end: a real Prometheus (Debian's package) scrapes the monitor while a
simulated stream flows through it, with the shipped rules loaded; then every expression the
dashboards use (deploy/prometheus/expressions.txt) and every recording rule must return at
least one series."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
import urllib.request
from pathlib import Path

import pytest

import harness

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")


def query(port: int, expression: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", f"{expression}: {body}"
    return body["data"]["result"]


def recording_rules() -> list[str]:
    names = []
    for line in (REPO / "deploy/prometheus/rules.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- record:"):
            names.append(line.split(":", 1)[1].strip())
    return names


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed (tests/run.sh installs it)")
def test_every_dashboard_and_recording_expression_has_series(stack, tmp_path):
    broker = stack.broker()
    stream = tmp_path / "stream.jsonl"
    # Days that ended before today, so that no worker is older than time.worker_ttl (40
    # days; the workers would be forgotten) and no event is in the future.
    start = (datetime.now(timezone.utc) - timedelta(days=4)).date().isoformat()
    harness.simulate(stream, 150, 3, 4, "--bad-lines", "0.002", "--duplicates", "0.002", "--start", start)
    # The simulated days are in the past: the stream goes in before the monitor starts (an
    # idle partition follows the wall clock, and older events would then be late).
    harness.InputProducer(broker).produce(harness.read_lines(stream))
    monitor = stack.monitor(broker)

    prom_port = harness.free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {REPO / 'deploy/prometheus/rules.yml'}\n"
        "scrape_configs:\n  - job_name: workhours\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{monitor.http_port}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=log, stderr=subprocess.STDOUT)
    prometheus_started = time.monotonic()
    try:
        harness.wait_until("Prometheus is up", lambda: query(prom_port, "vector(1)"), timeout=60, interval=0.5)
        # Prometheus watches while the monitor works through the stream.
        monitor.start()
        monitor.wait_ready()
        harness.wait_until("Prometheus scrapes the monitor",
                           lambda: any(r["value"][1] == "1" for r in query(prom_port, 'up{job="workhours"}')),
                           timeout=60, interval=0.5)
        harness.settle(broker, monitor.group, [monitor])
        expressions = [e for e in (REPO / "deploy/prometheus/expressions.txt").read_text().splitlines()
                       if e.strip() and not e.startswith("#")]
        checks = expressions + recording_rules()
        assert len(checks) > 20

        def empty():
            return [e for e in checks if not query(prom_port, e)]

        # Rates need two scrapes after the last change, recording rules one evaluation: the
        # regulator group runs every minute (its first run staggered by up to that minute).
        missing = empty()
        deadline = max(time.monotonic() + 30, prometheus_started + 150)
        while missing and time.monotonic() < deadline:
            time.sleep(1)
            missing = empty()
        if missing:
            status, body = monitor.get("/metrics", timeout=5)
            counts = [l for l in body.decode().splitlines() if l.startswith("workhours_") and "_count" in l][:10]
            pytest.fail(f"{len(missing)} of {len(checks)} expressions return no series:\n" + "\n".join(missing)
                        + "\nthe monitor's histogram counts (first 10):\n" + "\n".join(counts))
        monitor.check_alive()
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prometheus.kill()
        log.close()
