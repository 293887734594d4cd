#!/usr/bin/env python3
"""Browser test of the demo page (standard library only).

Starts `workhours demo` on a free port for a bounded run, waits until the monitor has raised
continuous-work violations, loads the page in Debian's headless Chromium, checks in the
rendered DOM that the charts, the alert list and the worker timeline are filled, saves a
screenshot, then stops the demo with SIGINT and checks it exits 0.

    tests/browser/check_page.py [--bin target/debug/workhours] [--out target/browser-test]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1440,2350",
    # Virtual time waits for the page's fetches; 7 s of it covers three polls.
    "--virtual-time-budget=7000",
]


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


def chromium(browser, url, *extra):
    profile = tempfile.mkdtemp(prefix="workhours-chromium-")
    try:
        result = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if result.returncode != 0:
        fail(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(target, "debug", "workhours"))
    parser.add_argument("--out", default=os.path.join(target, "browser-test"))
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
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
        # Wait for the afternoon of the first simulated day: violations, long days.
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
                    and status["alerts"]["by_rule"].get("continuous_work", {}).get("violation", 0) > 0):
                break
            time.sleep(0.5)
        else:
            fail(f"no continuous_work violation within 90 s: {status}")

        dom = chromium(args.browser, f"{base}/", "--dump-dom")
        with open(os.path.join(args.out, "page.html"), "w") as f:
            f.write(dom)
        checks = {
            "platform bars": (r'id="chart-platforms"[^>]*data-filled="yes"', 1),
            "continuous-work chart": (r'id="chart-continuous"[^>]*data-filled="yes"', 1),
            "continuous-work lines": (r'class="series"', 2),
            "daily-hours histograms": (r'id="chart-hours"[^>]*data-filled="yes"', 1),
            "alert rows": (r'class="alert-row"', 10),
            "worker timeline": (r'id="chart-timeline"[^>]*data-filled="yes"', 1),
            "timeline segments": (r'class="segment"', 2),
            "bars": (r'class="bar"', 10),
        }
        for name, (pattern, minimum) in checks.items():
            found = len(re.findall(pattern, dom))
            if found < minimum:
                fail(f"{name}: {found} matches of {pattern!r}, expected at least {minimum}")
            print(f"browser test: {name}: {found}")
        if "Waiting for data" in dom:
            fail("a chart still waits for data")

        shot = os.path.join(args.out, "demo.png")
        chromium(args.browser, f"{base}/", f"--screenshot={shot}")
        if not os.path.exists(shot) or os.path.getsize(shot) < 20_000:
            fail(f"no screenshot at {shot}")
        print(f"browser test: screenshot {shot}")
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
