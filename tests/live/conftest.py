"""Fixtures of the live tests: one Tansu broker per test, monitors that are always killed
at the end, and the logs of both printed when a test fails."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "live_stack", None)
    if report.failed and report.when == "call" and stack is not None:
        # Shown under the failure, next to the captured output.
        report.sections.append(("logs of the brokers and monitors", stack.logs()))


class Stack:
    """What a test started: closed in reverse order; logs shown when the test failed."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.brokers: list[harness.Broker] = []
        self.monitors: list[harness.Monitor] = []
        self.watchers: list[harness.Watcher] = []

    def broker(self, storage: str = "memory", topics: bool = True) -> harness.Broker:
        b = harness.Broker(self.workdir / f"broker{len(self.brokers)}", storage)
        self.brokers.append(b)
        b.start()
        if topics:
            b.create_pipeline_topics()
        return b

    def monitor(self, broker: harness.Broker, group: str | None = None, **config) -> harness.Monitor:
        group = group or f"wh-test-{uuid.uuid4().hex[:12]}"
        m = harness.Monitor(self.workdir, broker, group, name=f"monitor{len(self.monitors)}", **config)
        self.monitors.append(m)
        return m

    def watcher(self, broker: harness.Broker, topic: str = harness.ALERTS_TOPIC) -> harness.Watcher:
        w = harness.Watcher(broker, topic)
        self.watchers.append(w)
        return w

    def close(self):
        for w in self.watchers:
            w.close()
        for m in self.monitors:
            m.close()
        for b in self.brokers:
            if b.proc and b.proc.poll() is None:
                b.resume()
            b.close()

    def logs(self) -> str:
        parts = []
        for m in self.monitors:
            parts.append(f"----- {m.name} log ({m.log_path}), last lines:\n{harness.tail(m.log_path, 80)}")
        for b in self.brokers:
            parts.append(f"----- broker log ({b.log_path}), last lines:\n{harness.tail(b.log_path, 20)}")
        return "\n".join(parts)


@pytest.fixture
def stack(request, tmp_path):
    s = Stack(tmp_path)
    request.node.live_stack = s
    yield s
    s.close()
