"""The console (SPEC section 8): `workhours run` serves the demo's page at `/` on live data,
behind `http.token_file` when set. The page is opened in headless Chromium over the DevTools
pipe (tests/browser/devtools.py) against a monitor fed a simulated morning that ends now.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from devtools import Chromium, default_browser  # noqa: E402

# Didi under its own pack, whose limits stop dispatch: packs and holds on the page.
DIDI_PACK = '[rules.platform.didi]\npack = "didi-2018"\n'
# The simulated day is shifted so that this local time of it is now: workers are online,
# some past 4 h of continuous work.
NOW_OF_DAY_HOURS = 14
OUT = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "browser-test"

DRAWN = r"""
(() => ({
  auth: document.body.dataset.auth || "",
  mode: document.body.dataset.mode,
  platforms: document.getElementById("chart-platforms").dataset.filled,
  bars: document.querySelectorAll("#chart-platforms svg .bar").length,
  working: document.getElementById("card-working").textContent,
  alerts: document.querySelectorAll("#alerts-body tr.alert-row").length,
  packs: Object.fromEntries([...document.querySelectorAll("#packs-body tr.pack-row")].map((tr) =>
    [tr.dataset.platform, [...tr.querySelectorAll(".pack-name")].map((s) => s.textContent)])),
  holds: document.getElementById("card-holds").textContent,
  facts: document.querySelectorAll("#worker-state .fact").length,
  workerHolds: document.querySelectorAll("#worker-state .worker-holds").length,
  hoursDegraded: !document.getElementById("hours-degraded").hidden,
  timelineDegraded: !document.getElementById("timeline-degraded").hidden,
  authShown: !document.getElementById("auth").hidden,
  tag: document.querySelector("h1 .tag").textContent,
  clock: document.getElementById("sim-time").textContent,
  hash: location.hash,
  alertsNote: document.getElementById("alerts-degraded").hidden ? "" : document.getElementById("alerts-degraded").textContent,
  footer: document.getElementById("footer-status").textContent,
}))()
"""


def ts_ms(value) -> int:
    """An event's `ts` (RFC 3339 or epoch ms, as the simulator mixes them) in epoch ms."""
    if isinstance(value, int):
        return value
    return int(harness.parse_rfc3339(value).timestamp() * 1000)


def shifted_morning(tmp_path: Path) -> list[bytes]:
    """A simulated day up to NOW_OF_DAY_HOURS local (Asia/Shanghai, the default zone), shifted
    so that that instant is now, in `ts` order (`ts` as epoch ms)."""
    stream = harness.simulate(tmp_path / "day.jsonl", 300, 1, 5)
    events = [json.loads(line) for line in harness.read_lines(stream)]
    first = min(ts_ms(event["ts"]) for event in events)
    local = datetime.fromtimestamp(first / 1000, timezone(timedelta(hours=8)))
    cut = local.replace(hour=NOW_OF_DAY_HOURS, minute=0, second=0, microsecond=0)
    cut_ms = int(cut.timestamp() * 1000)
    shift_ms = harness.now_ms() - 2_000 - cut_ms
    out = []
    for event in events:
        ts = ts_ms(event["ts"])
        if ts > cut_ms:
            continue
        event["ts"] = ts + shift_ms
        out.append(json.dumps(event).encode())
    return harness.sorted_by_ts(out)


def get(port: int, path: str, token: str | None = None) -> int:
    return harness.http_get(port, path, token)[0]


@pytest.fixture
def browser(tmp_path):
    binary = default_browser()
    if not shutil.which(binary) and not Path(binary).exists():
        pytest.skip("no chromium")
    b = Chromium(binary, tmp_path / "chromium.log")
    yield b
    b.close()


def fed_monitor(stack, tmp_path, **config):
    lines = shifted_morning(tmp_path)
    broker = stack.broker()
    harness.InputProducer(broker).produce(lines)
    monitor = stack.monitor(broker, extra=DIDI_PACK, **config).start()
    monitor.wait_ready()
    broker.wait_caught_up(monitor.group, timeout=60, monitors=[monitor])
    return monitor, len(lines)


def wait_drawn(page, timeout=40):
    """The page's state once it has drawn live data (or the last state seen)."""
    deadline = time.time() + timeout
    state = {}
    while time.time() < deadline:
        state = page.evaluate(DRAWN)
        if (state["platforms"] == "yes" and state["alerts"] > 0 and state["packs"]
                and state["facts"] > 0):
            break
        time.sleep(0.5)
    return state


def screenshot(page, name):
    OUT.mkdir(parents=True, exist_ok=True)
    size, height = page.screenshot(OUT / name)
    print(f"console screenshot {OUT / name} ({height} px, {size} bytes)")


def test_console_draws_live_data(stack, tmp_path, browser):
    monitor, produced = fed_monitor(stack, tmp_path)
    port = monitor.http_port
    assert get(port, "/") == 200
    assert get(port, "/v1/console/status") == 200

    page = browser.page(1440, 1000)
    page.navigate(f"http://127.0.0.1:{port}/")
    state = wait_drawn(page)
    assert state["mode"] == "console" and state["tag"] == "live console", state
    assert state["auth"] == "ok", state
    assert state["platforms"] == "yes" and state["bars"] >= 3, state
    assert int(state["working"].replace(",", "")) > 0, state
    assert state["alerts"] > 0, (state, monitor.get("/v1/console/alerts?limit=3"), monitor.metric("workhours_alerts_total"))
    assert state["packs"].get("didi") == ["didi-2018"], state
    assert state["packs"].get("meituan") == ["cn-weihai-2022"], state
    assert state["holds"].replace(",", "").isdigit(), state
    # The worker the page opened by itself: the monitor's view, with its holds (or none).
    assert state["facts"] >= 5 and state["workerHolds"] == 1, state
    # What only the demo has is said to be absent, not left blank.
    assert state["hoursDegraded"] and state["timelineDegraded"], state
    assert ":" in state["clock"], state
    assert not page.events("Runtime.exceptionThrown")
    screenshot(page, "console.png")
    print(f"console: {produced} events; {state}")


def test_console_behind_a_token(stack, tmp_path, browser):
    token_file = tmp_path / "token"
    token_file.write_text("console-s3cret\n")
    monitor, _ = fed_monitor(stack, tmp_path, http={"token_file": str(token_file)})
    port = monitor.http_port
    # SPEC section 8: the console behind the token. The page is answered 401 without it (its
    # body is the page, which asks for the token in a browser), its data too; the probes open.
    assert get(port, "/") == 401
    assert get(port, "/", "wrong") == 401
    assert get(port, "/", "console-s3cret") == 200
    for path in ["/v1/console/status", "/v1/console/alerts", "/v1/console/series", "/v1/summary"]:
        assert get(port, path) == 401, path
        assert get(port, path, "wrong") == 401, path
        assert get(port, path, "console-s3cret") == 200, path
    for path in ["/healthz", "/readyz", "/metrics"]:
        assert get(port, path) == 200, path

    # Without the token: refused, and the page says so instead of drawing.
    page = browser.page(1440, 1000)
    page.navigate(f"http://127.0.0.1:{port}/")
    state = page.wait_for(f"(() => {{ const s = {DRAWN}; return s.auth === 'refused' && s; }})()", 20,
                          "the page showing the refusal")
    assert state["authShown"] and state["platforms"] == "no" and state["alerts"] == 0, state
    time.sleep(2.5)  # another poll: still refused, still nothing drawn
    state = page.evaluate(DRAWN)
    assert state["auth"] == "refused" and state["platforms"] == "no", state
    screenshot(page, "console-refused.png")

    # The token typed in the form: the page draws.
    page.evaluate("document.getElementById('auth-token').value = 'console-s3cret';"
                  "document.getElementById('auth-form').requestSubmit(); true")
    state = wait_drawn(page)
    assert state["auth"] == "ok" and not state["authShown"], state
    assert state["platforms"] == "yes" and state["alerts"] > 0 and state["facts"] > 0, state

    # Or given once in the address's fragment (never sent to the server), then dropped from it.
    fresh = browser.page(1440, 1000)
    fresh.navigate(f"http://127.0.0.1:{port}/#token=console-s3cret")
    state = wait_drawn(fresh)
    assert state["auth"] == "ok" and state["platforms"] == "yes", state
    assert "token" not in state["hash"], state
