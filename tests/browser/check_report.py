#!/usr/bin/env python3
"""Browser test of the monthly report (standard library only).

Opens the HTML report in Debian's headless Chromium, driven over the DevTools protocol on a
pipe (`--remote-debugging-pipe`, fds 3 and 4; tests/browser/devtools.py), and checks in the rendered page that:

- no request left the page: every request the page made is the report's own file (or a
  `data:` URL), and the console has no error (a Content-Security-Policy violation is one);
- the charts are drawn: each chart holds an SVG of non-zero size with visible bars;
- the tables are filled: the per-group table has a row per CSV row, with the same figures,
  and the top list has rows;

then saves a full-page screenshot. The CSV is read with Python's `csv` module: header,
no byte-order mark, CRLF line ends, and its figures consistent with themselves (shares and
totals) and equal to the HTML table's.

    tests/browser/check_report.py --dir DIR           # DIR/report.html and DIR/report.csv
    tests/browser/check_report.py --html FILE --csv FILE [--out DIR]
    tests/browser/check_report.py --bin target/debug/workhours --month 2026-03 \
        --input events.jsonl [--config FILE] --out DIR  # runs `workhours report` twice first

With `--bin`, the report is made by `workhours report --month M --format html|csv [--config
FILE] INPUT`, which is expected to write to stdout (SPEC section 8).

To make a sample month before `workhours report` exists:

    cargo run --example report_sample -- target/report-sample
    tests/browser/check_report.py --dir target/report-sample
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from devtools import Chromium, DevToolsError, default_browser

COLUMNS = [
    "scope", "month", "subject", "platform", "city", "active_workers", "worker_days",
    "continuous_violation_workers", "continuous_violation_workers_pct",
    "worker_days_over_daily_max", "worker_days_over_daily_max_pct", "p90_daily_hours",
    "minimum_wage_breaches", "holiday_pay_breaches", "holiday_worker_days",
    "cross_platform_workers", "top_by_violations",
]
COUNTS = [
    "active_workers", "worker_days", "continuous_violation_workers",
    "worker_days_over_daily_max", "minimum_wage_breaches", "holiday_pay_breaches",
    "holiday_worker_days", "cross_platform_workers",
]
FIGURES = COUNTS + [
    "continuous_violation_workers_pct", "worker_days_over_daily_max_pct", "p90_daily_hours",
]
CHARTS = ["chart-hours", "chart-shares", "chart-breaches", "chart-cross"]

# Read in the rendered page: charts, tables, and whether text is laid out at all.
PAGE_PROBE = r"""
(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  const charts = {};
  for (const id of %s) {
    const el = document.getElementById(id);
    if (!el) { charts[id] = null; continue; }
    const visible = [...el.querySelectorAll("svg .bar")].filter((b) => {
      const [w, h] = box(b); return w > 0 && h > 0;
    });
    charts[id] = {
      filled: el.dataset.filled,
      svgs: [...el.querySelectorAll("svg")].map(box),
      bars: visible.length,
      paths: el.querySelectorAll("svg line, svg path").length,
    };
  }
  const rows = [...document.querySelectorAll("#groups tr.group-row, #groups tr.total-row")].map((tr) => {
    const cells = { scope: tr.classList.contains("total-row") ? "total" : "group" };
    for (const c of tr.querySelectorAll("[data-col]")) cells[c.dataset.col] = c.dataset.full ?? c.textContent.trim();
    return cells;
  });
  const top = [...document.querySelectorAll("#top tr.top-row")].map((tr) =>
    Object.fromEntries([...tr.querySelectorAll("[data-col]")].map((c) => [c.dataset.col, c.textContent.trim()])));
  return {
    title: document.title,
    scripts: document.scripts.length,
    height: document.documentElement.scrollHeight,
    how_to_read: (document.getElementById("how-to-read") || { innerText: "" }).innerText.length,
    charts, rows, top,
  };
})()
""" % json.dumps(CHARTS)


def fail(message):
    print(f"report browser test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def say(message):
    print(f"report browser test: {message}")


def read_csv(path):
    raw = Path(path).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        fail("the CSV starts with a byte-order mark")
    if not raw.endswith(b"\r\n"):
        fail("the CSV does not end with CRLF")
    raw.decode("utf-8")
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f, strict=True))
    if not records or records[0] != COLUMNS:
        fail(f"CSV header {records[0] if records else None} is not {COLUMNS}")
    rows = [dict(zip(COLUMNS, record)) for record in records[1:]]
    for number, (record, row) in enumerate(zip(records[1:], rows), start=2):
        if len(record) != len(COLUMNS):
            fail(f"CSV record {number} has {len(record)} fields")
    if not rows or rows[-1]["scope"] != "total" or any(r["scope"] != "group" for r in rows[:-1]):
        fail("the CSV must have group rows then one total row")
    return rows


def pct(part, whole):
    if whole == 0:
        return ""
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def check_csv_figures(rows):
    """The CSV agrees with itself: shares from counts, totals against groups."""
    groups, total = rows[:-1], rows[-1]
    keys = [(r["platform"], r["city"]) for r in groups]
    if keys != sorted(keys, key=lambda k: (k[0].encode(), k[1].encode())):
        fail("CSV group rows are not ordered by platform and city")
    if len(set(keys)) != len(keys):
        fail("a (platform, city) appears twice in the CSV")
    for r in rows:
        n = {k: int(r[k]) for k in COUNTS}
        if r["continuous_violation_workers_pct"] != pct(n["continuous_violation_workers"], n["active_workers"]):
            fail(f"continuous share of {r['platform']}/{r['city']} does not follow from its counts")
        if r["worker_days_over_daily_max_pct"] != pct(n["worker_days_over_daily_max"], n["worker_days"]):
            fail(f"daily-maximum share of {r['platform']}/{r['city']} does not follow from its counts")
        if not n["continuous_violation_workers"] <= n["active_workers"] <= n["worker_days"]:
            fail(f"{r['platform']}/{r['city']}: violators <= active <= worker-days does not hold")
        if (r["p90_daily_hours"] == "") != (n["worker_days"] == 0):
            fail(f"{r['platform']}/{r['city']}: a percentile without days, or days without one")
    for key in ["minimum_wage_breaches", "holiday_pay_breaches"]:
        if sum(int(r[key]) for r in groups) != int(total[key]):
            fail(f"the groups' {key} do not add up to the total")
    for key in ["active_workers", "worker_days", "holiday_worker_days", "cross_platform_workers"]:
        if int(total[key]) > sum(int(r[key]) for r in groups):
            fail(f"the total's {key} is above the groups' sum")
        if groups and int(total[key]) < max(int(r[key]) for r in groups):
            fail(f"the total's {key} is below a group's")


def shown(text):
    """A figure as the HTML shows it, as the CSV writes it: "1,234" → "1234",
    "12.5 %" → "12.5", "9.50 h" → "9.50", "–" → ""."""
    text = text.replace(",", "").replace("\u00a0", " ").strip()
    if text in ("–", "-"):
        return ""
    return re.sub(r"\s*(%|h)$", "", text)


def check_table(csv_rows, html_rows):
    if len(html_rows) != len(csv_rows):
        fail(f"the HTML table has {len(html_rows)} rows, the CSV {len(csv_rows)}")
    for c, h in zip(csv_rows, html_rows):
        where = f"{c['platform']}/{c['city']}" if c["scope"] == "group" else "total"
        if h["scope"] != c["scope"]:
            fail(f"{where}: row kinds differ")
        if c["scope"] == "group" and (h["platform"], h["city"]) != (c["platform"], c["city"]):
            fail(f"{where}: the HTML row is {h['platform']}/{h['city']}")
        for key in FIGURES:
            if key not in h:
                if key == "cross_platform_workers" and c[key] == "0":
                    continue
                fail(f"{where}: the HTML row has no {key}")
            if shown(h[key]) != c[key]:
                fail(f"{where}: {key} is {h[key]!r} in the HTML, {c[key]!r} in the CSV")
        top = h.get("top_by_violations")
        if top is None:
            fail(f"{where}: the HTML row has no top_by_violations")
        if top != c["top_by_violations"]:
            fail(f"{where}: top_by_violations is {top!r} in the HTML, {c['top_by_violations']!r} in the CSV")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", help="a directory with report.html and report.csv")
    parser.add_argument("--html")
    parser.add_argument("--csv")
    parser.add_argument("--out", help="where the screenshot goes (default: beside the HTML)")
    parser.add_argument("--browser", default=default_browser())
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--bin", help="make the report with this workhours binary first")
    parser.add_argument("--month", help="with --bin: the month, YYYY-MM")
    parser.add_argument("--input", help="with --bin: the events, JSON lines")
    parser.add_argument("--config", help="with --bin: the config file")
    args = parser.parse_args()
    if args.bin:
        if not (args.month and args.input and args.out):
            fail("--bin needs --month, --input and --out")
        os.makedirs(args.out, exist_ok=True)
        for fmt in ("html", "csv"):
            command = [args.bin, "report", "--month", args.month, "--format", fmt]
            command += ["--config", args.config] if args.config else []
            with open(os.path.join(args.out, f"report.{fmt}"), "wb") as f:
                result = subprocess.run(command + [args.input], stdout=f, stderr=subprocess.PIPE, timeout=600)
            if result.returncode != 0:
                fail(f"{' '.join(command)} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
        args.dir = args.out
    html_path = Path(args.html or os.path.join(args.dir or ".", "report.html")).resolve()
    csv_path = Path(args.csv or os.path.join(args.dir or ".", "report.csv")).resolve()
    out = Path(args.out or html_path.parent)
    out.mkdir(parents=True, exist_ok=True)
    for path in (html_path, csv_path):
        if not path.is_file():
            fail(f"no file {path}")

    csv_rows = read_csv(csv_path)
    check_csv_figures(csv_rows)
    say(f"CSV: {len(csv_rows) - 1} groups and a total, consistent")

    url = html_path.as_uri()
    browser = Chromium(args.browser, out / "chromium.log")
    try:
        page_tab = browser.page(args.width, 1000)
        page_tab.navigate(url)
        page = page_tab.evaluate(PAGE_PROBE)
        shot_path = out / "report.png"
        size, height = page_tab.screenshot(shot_path)
        png_size = size
        events = page_tab.events()
        errors = page_tab.console_errors()
    finally:
        browser.close()

    # No network: the page's only request is its own file.
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    foreign = [u for u in requests if u != url and not u.startswith("data:")]
    if foreign:
        fail(f"the page made requests: {foreign[:5]}")
    if url not in requests:
        fail(f"the request log is empty or misses the page itself: {requests[:5]}")
    sockets = [e for e in events if e["method"] == "Network.webSocketCreated"]
    if sockets:
        fail("the page opened a WebSocket")
    if errors:
        fail(f"console errors: {errors[:5]}")
    say(f"network: {len(requests)} request(s), all the page's own file")

    if page["scripts"]:
        fail(f"the page has {page['scripts']} script(s); it should need none")
    if "Working hours report" not in page["title"]:
        fail(f"title {page['title']!r}")
    if page["how_to_read"] < 1500:
        fail(f"the explanation is {page['how_to_read']} characters; expected a real one")

    # Charts: drawn, with bars of non-zero size.
    for chart in CHARTS:
        info = page["charts"][chart]
        if info is None:
            if chart == "chart-cross" and all(r["cross_platform_workers"] == "0" for r in csv_rows):
                say(f"{chart}: absent (no persons)")
                continue
            fail(f"no chart {chart}")
        if info["filled"] != "yes":
            fail(f"{chart} is not filled: {info}")
        if not info["svgs"] or any(w <= 0 or h <= 0 for w, h in info["svgs"]):
            fail(f"{chart}: an SVG has no size: {info['svgs']}")
        if info["bars"] < 2:
            fail(f"{chart}: {info['bars']} visible bars")
        say(f"{chart}: {len(info['svgs'])} SVG(s), {info['bars']} visible bars, {info['paths']} lines")

    check_table(csv_rows, page["rows"])
    say(f"group table: {len(page['rows'])} rows, the CSV's figures")
    if not page["top"]:
        fail("the top list is empty")
    say(f"top list: {len(page['top'])} rows, first {page['top'][0]}")

    if png_size < 50_000:
        fail(f"the screenshot {shot_path} is only {png_size} bytes")
    say(f"screenshot {shot_path} ({args.width}×{height} px, {png_size} bytes)")
    say("ok")


if __name__ == "__main__":
    try:
        main()
    except DevToolsError as error:
        fail(str(error))
