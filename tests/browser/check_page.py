#!/usr/bin/env python3
"""Browser test of the demo page (standard library only).

Starts `workhours demo` on a free port for a bounded run, waits until the monitor has raised
continuous-work violations and put workers on dispatch hold, loads the page in Debian's
headless Chromium driven over the DevTools pipe (tests/browser/devtools.py), checks in the
rendered DOM that the charts, the alert list, the worker timeline, the rule pack of every
platform and the holds (the count, and on the card of a worker on hold) are shown, saves the
DOM and a screenshot, then stops the demo with SIGINT and checks it exits 0.

    tests/browser/check_page.py [--bin target/debug/workhours] [--out target/browser-test]
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from devtools import Chromium, DevToolsError, default_browser

# Counts of what the page has drawn, read in the page.
PAGE_PROBE = r"""
(() => {
  const html = document.documentElement.outerHTML;
  const count = (re) => (html.match(re) || []).length;
  return {
    "platform bars": count(/id="chart-platforms"[^>]*data-filled="yes"/g),
    "continuous-work chart": count(/id="chart-continuous"[^>]*data-filled="yes"/g),
    "continuous-work lines": count(/class="series"/g),
    "daily-hours histograms": count(/id="chart-hours"[^>]*data-filled="yes"/g),
    "alert rows": count(/class="alert-row"/g),
    "worker timeline": count(/id="chart-timeline"[^>]*data-filled="yes"/g),
    "timeline segments": count(/class="segment"/g),
    "bars": count(/class="bar"/g),
    "pack rows": document.querySelectorAll("#packs-body tr.pack-row").length,
  };
})()
"""
MINIMUM = {
    "platform bars": 1,
    "continuous-work chart": 1,
    "continuous-work lines": 2,
    "daily-hours histograms": 1,
    "alert rows": 10,
    "worker timeline": 1,
    "timeline segments": 2,
    "bars": 10,
    "pack rows": 5,
}
PACKS_SHOWN = r"""
Object.fromEntries([...document.querySelectorAll("#packs-body tr.pack-row")].map((tr) =>
  [tr.dataset.platform, [...tr.querySelectorAll(".pack-name")].map((s) => s.textContent)]))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def fail(message):
    print(f"browser test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(target, "debug", "workhours"))
    parser.add_argument("--out", default=os.path.join(target, "browser-test"))
    parser.add_argument("--browser", default=default_browser())
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(args.out, "demo.log"), "w")
    demo = subprocess.Popen(
        [args.bin, "demo", "--workers", "600", "--speed", "3600", "--hours", "40",
         "--start", "2026-03-02", "--seed", "3", "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Wait for the afternoon of the first simulated day: violations, long days, holds.
        deadline = time.time() + 90
        status = None
        while time.time() < deadline:
            if demo.poll() is not None:
                fail(f"the demo exited early with {demo.returncode}; see {log.name}")
            try:
                status = get_json(f"{base}/api/demo/status")
            except OSError:
                status = None
            if (status and status["simulated_hours"] >= 9.5
                    and status["alerts"]["by_rule"].get("continuous_work", {}).get("violation", 0) > 0
                    and any(rule.startswith("didi2018_") for rule in status["alerts"]["by_rule"])):
                break
            time.sleep(0.5)
        else:
            fail(f"no continuous_work violation and no didi-2018 alert within 90 s: {status}")
        packs = status["packs"]
        want = {"meituan": ["cn-mohrss-2024"], "didi": ["didi-2018"], "eleme": ["cn-weihai-2022"]}
        if any(packs.get(platform) != pack for platform, pack in want.items()):
            fail(f"the demo's packs are {packs}; expected {want} and the default elsewhere")

        browser = Chromium(args.browser, os.path.join(args.out, "chromium.log"))
        try:
            page = browser.page(1440, 2350)
            page.navigate(f"{base}/")
            found = {}

            def drawn():
                found.update(page.evaluate(PAGE_PROBE))
                return all(found[name] >= minimum for name, minimum in MINIMUM.items())
            deadline = time.time() + 30
            while not drawn() and time.time() < deadline:
                time.sleep(0.5)
            for name, minimum in MINIMUM.items():
                if found[name] < minimum:
                    fail(f"{name}: {found[name]}, expected at least {minimum}")
                print(f"browser test: {name}: {found[name]}")
            dom = page.evaluate("document.documentElement.outerHTML")
            if "Waiting for data" in dom:
                fail("a chart still waits for data")

            # The pack of every platform, as the monitor reports it.
            shown = page.evaluate(PACKS_SHOWN)
            if shown != packs:
                fail(f"the page shows the packs {shown}, the monitor {packs}")
            print(f"browser test: packs: {shown}")

            # The holds: a count, and on the card of a worker on hold. A hold lasts from a
            # few seconds of wall time (20 simulated minutes) on: try the workers on hold now
            # until one's card shows it.
            card = None
            deadline = time.time() + 60
            while time.time() < deadline and card is None:
                held = get_json(f"{base}/api/demo/status")["holds"]
                for worker in held["sample"]:
                    page.evaluate(f"$('lookup-id').value = {json.dumps(worker)}; lookup({json.dumps(worker)})")
                    try:
                        card = page.wait_for(
                            f"currentWorker === {json.dumps(worker)}"
                            " && document.querySelector('#worker-state .hold-row')"
                            " && document.querySelector('#worker-state .worker-holds').innerText", 2, "a hold")
                    except DevToolsError:
                        continue
                    print(f"browser test: worker {worker} on hold: {card!r}")
                    break
                else:
                    time.sleep(0.5)
            if card is None:
                fail("no worker card showed a dispatch hold within 60 s")
            # A worker whose pack has no weekly rule (meituan's cn-mohrss-2024): `week_seconds`
            # is null, and "This week" shows "–", not "0 min" (audit AB).
            alerts = get_json(f"{base}/api/demo/alerts?limit=200")["alerts"]
            rider = next((a["worker_id"] for a in alerts if a.get("platform") == "meituan"
                          and a.get("worker_id")), None)
            if rider is None:
                fail("no alert of a meituan worker to look up")
            page.evaluate(f"$('lookup-id').value = {json.dumps(rider)}; lookup({json.dumps(rider)})")
            week = page.wait_for(
                f"currentWorker === {json.dumps(rider)} && [...document.querySelectorAll("
                "'#worker-state .fact')].filter((f) => f.querySelector('.k').textContent === "
                "'This week').map((f) => f.querySelector('.v').textContent)[0]", 10, "the week fact")
            if week != "–":
                fail(f"meituan worker {rider}: 'This week' shows {week!r}, expected '–' (no weekly rule)")
            print(f"browser test: meituan worker {rider}: this week {week}")
            holds_count = page.evaluate("document.getElementById('card-holds').textContent")
            if not re.fullmatch(r"[0-9,]+", holds_count or ""):
                fail(f"the holds card shows {holds_count!r}")
            print(f"browser test: workers on hold: {holds_count}")

            with open(os.path.join(args.out, "page.html"), "w") as f:
                f.write(page.evaluate("document.documentElement.outerHTML"))
            shot = os.path.join(args.out, "demo.png")
            size, _ = page.screenshot(shot)
            if size < 20_000:
                fail(f"no screenshot at {shot}")
            print(f"browser test: screenshot {shot}")
            errors = page.console_errors()
            if errors:
                failed = [(e["params"]["response"]["status"], e["params"]["response"]["url"])
                          for e in page.events("Network.responseReceived")
                          if e["params"]["response"]["status"] >= 400]
                fail(f"console errors: {errors[:5]}; failed requests: {failed[:5]}")
        except DevToolsError as error:
            fail(str(error))
        finally:
            browser.close()
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=20)
            except subprocess.TimeoutExpired:
                demo.kill()
                fail("the demo did not stop within 20 s of SIGINT")
    if demo.returncode != 0:
        fail(f"the demo exited {demo.returncode} after SIGINT; see {log.name}")
    print("browser test: ok")


if __name__ == "__main__":
    main()
