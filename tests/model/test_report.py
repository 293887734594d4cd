"""`workhours report --month YYYY-MM --format csv` against an independent model of SPEC section
8's reports (model_report.py, over reference.py), with docs/reports.md's meaning of each
figure.

Random streams of test_reference.random_case (a few worker ids over hours to three weeks from
1 March 2026 20:00 local, rule keys by platform and by role, session timeouts; in a third of
them `[time] holidays`, so `holiday_pay`; in a third `subject = "person"`), moved by whole
days so that they also straddle the end of March or of 2026 (a month the stream covers only
in part, its first and last days, sessions across the month's end, the year without a
holiday table), sometimes with an event exactly at the month's end, go through the release
binary and through the model, for two months each: every row and column of the CSV must
be the model's, and stderr's count of lines read, events dropped and events after the month
too. Half the streams reach the binary out of order within `allowed_lateness` and with
copies (test_reference.disorder), while the model reads them sorted and once. A few
streams are checked for a month before they start (nothing applied). For a fifth of the
seeds the HTML page's table must carry the CSV's figures. The readings the model takes
where SPEC and the docs are open are in model_report.py's docstring.

A mismatch names the seed: rerun it with `MODEL_SEED=N python3 -m pytest test_report.py -q`.
`MODEL_CASES` (default 300) sets how many random streams the run checks.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import csv
import datetime
import html.parser
import io
import json
import random
import re
import subprocess

import pytest

from model_report import HEADER, counts_line, figures, month_days
from pack_case import BASE_MS, BIN, seeds
from reference import DAY, HOUR, MINUTE, Rules, day_start
from test_reference import Layers, disorder, random_case

COUNTS = re.compile(r"workhours report: (\d{4}-\d{2}) \((\d+) lines read, (\d+) bad events, "
                    r"(\d+) duplicates and (\d+) late events dropped, (\d+) events after the "
                    r"month not applied\)")


def run_report(tmp_path, read, layers, month, form="csv"):
    """The binary's report of `read` (events, in the order read) under `layers`: its
    stdout (bytes) and stderr."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in read))
    calendar_file = tmp_path / "holidays.toml"
    if layers.holidays:
        calendar_file.write_text(layers.calendar())
    (tmp_path / "config.toml").write_text(layers.toml(calendar_file))
    done = subprocess.run([BIN, "report", "--month", month, "--config",
                           str(tmp_path / "config.toml"), "--format", form,
                           str(tmp_path / "in.jsonl")], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout, done.stderr.decode()


def parse_csv(output):
    """The CSV's rows (header included), after checking its framing (docs/reports.md, CSV):
    UTF-8 without a byte-order mark, CRLF line ends."""
    assert not output.startswith(b"\xef\xbb\xbf"), "a byte-order mark"
    text = output.decode("utf-8")
    assert text.endswith("\r\n"), "the last line does not end with CRLF"
    assert "\n" not in text.replace("\r\n", ""), "a line end other than CRLF"
    return list(csv.reader(io.StringIO(text, newline="")))


class TableCells(html.parser.HTMLParser):
    """The HTML page's table of groups as rows of {data-col: text}: a cell's text, or its
    `data-full` when it has one (the top list, whose text may be shortened)."""

    def __init__(self):
        super().__init__()
        self.rows, self.column, self.depth, self.in_table = [], None, 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "groups":
            self.in_table = True
        if not self.in_table:
            return
        if tag == "tr" and attrs.get("class") in ("group-row", "total-row"):
            self.rows.append({})
        elif "data-col" in attrs and self.rows:
            self.column, self.depth = attrs["data-col"], 0
            self.rows[-1][self.column] = attrs.get("data-full", "")
            self.full = "data-full" in attrs
        elif self.column:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_table = False
        if self.column:
            if self.depth == 0:
                self.column = None
            else:
                self.depth -= 1

    def handle_data(self, data):
        if self.column and not self.full:
            self.rows[-1][self.column] += data


def check_html(tmp_path, read, layers, month, rows):
    """The HTML page's table carries the CSV's figures (`rows`, without the header): the
    same rows, each column the same figure ('–' for an empty one, ' %' and ' h' after
    shares and hours; "also on another platform" may be left out where it is 0)."""
    output, _ = run_report(tmp_path, read, layers, month, form="html")
    cells = TableCells()
    cells.feed(output.decode("utf-8"))
    assert len(cells.rows) == len(rows), (cells.rows, rows)
    for shown, row in zip(cells.rows, rows):
        for column, value in zip(HEADER[3:], row[3:]):
            if column == "cross_platform_workers" and column not in shown and value == "0":
                # Shown only where persons exist (docs/reports.md).
                continue
            text = shown.get(column, "").strip()
            text = "" if text == "–" else text.removesuffix(" %").removesuffix(" h")
            if row[0] == "total" and column == "platform":
                text = "" if text == "Total" else text
            assert text == value, f"HTML {column}: {text!r}, CSV {value!r} in {row}"


def check(tmp_path, events, layers, month, read=None):
    """The binary's CSV report of `read` (by default `events`) for `month` is the model's,
    row by row, and its stderr counts are right; returns the rows."""
    read = read or events
    output, stderr = run_report(tmp_path, read, layers, month)
    rows = parse_csv(output)
    assert rows[0] == HEADER
    want = figures(events, layers, month)
    got = [list(row) for row in rows[1:]]
    for n in range(max(len(got), len(want))):
        mine = want[n] if n < len(want) else None
        theirs = got[n] if n < len(got) else None
        if mine != theirs:
            diff = ([f"{k}: model {a!r}, binary {b!r}" for k, a, b in zip(HEADER, mine, theirs)
                     if a != b] if mine and theirs else [])
            raise AssertionError(f"{month} row {n + 1}: model {mine}, binary {theirs}; {diff}")
    counts = COUNTS.search(stderr)
    assert counts, stderr
    assert counts.group(1) == month
    lines, bad, duplicates, late, after = map(int, counts.groups()[1:])
    assert (lines, bad, duplicates + late, after) == counts_line(month, read, events), stderr
    return rows[1:]


def shifted(events, layers, days):
    """`events` and `layers`' holidays moved `days` local days later (the holiday table is
    2026's: dates past 2026 are left out of it)."""
    moved = [dict(e, ts=e["ts"] + days * DAY) for e in events]
    delta = datetime.timedelta(days=days)
    layers.holidays = [d + delta for d in layers.holidays if (d + delta).year == 2026]
    layers.rest_days = [d + delta for d in layers.rest_days if (d + delta).year == 2026]
    return moved


def month_of(ts):
    """The local month ("YYYY-MM") of instant `ts`."""
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=(ts + 8 * HOUR) // DAY)
    return f"{date.year}-{date.month:02d}"


def next_month(month):
    """The month after `month`."""
    year, number = map(int, month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def at_month_end(rng, events, month):
    """`events` with one more of a worker of theirs (and its person) exactly at the end of
    `month` (the next month's first midnight), after those of that instant."""
    end = day_start(month_days(month)[1])
    worker = rng.choice(events)
    extra = {"worker_id": worker["worker_id"], "kind": rng.choice(["login", "logout",
                                                                    "heartbeat"]),
             "ts": end, "platform": rng.choice(["p2", "unknown"])}
    if "person_id" in worker:
        extra["person_id"] = worker["person_id"]
    events = events + [extra]
    events.sort(key=lambda e: e["ts"])
    return events


def random_report_case(seed):
    """Seed `seed`'s stream (in `ts` order), its `Layers`, the months to report and the
    stream as the binary reads it."""
    rng = random.Random(seed)
    events, layers, _ = random_case(rng)
    where = rng.random()
    if where < 0.4:
        # From 1 March: March in full, April not reached (and at times February, before).
        months = ["2026-03", "2026-04"] if rng.random() < 0.8 else ["2026-03", "2026-02"]
    else:
        # Across the end of March (from 20 March to 1 April), or of 2026 (from 15 to 31
        # December): the first month from the stream's start, the next to its end.
        days = rng.randrange(19, 32) if where < 0.8 else rng.randrange(289, 306)
        events = shifted(events, layers, days)
        first = month_of(events[0]["ts"])
        months = [first, next_month(first)]
        if rng.random() < 0.3:
            events = at_month_end(rng, events, first)
    read = disorder(rng, events) if seed % 2 else events
    return events, layers, months, read


def hand_case():
    """The hand case's events (`test_the_model_gives_the_docs_figures_by_hand`'s docstring),
    in `ts` order."""
    d = BASE_MS + 12 * HOUR  # 2 March 08:00 local
    events = [
        {"worker_id": "w1", "kind": "login", "ts": d},
        {"worker_id": "w1", "kind": "logout", "ts": d + 12 * HOUR},
        {"worker_id": "w3", "kind": "login", "ts": d},
        {"worker_id": "w3", "kind": "order_delivered", "order_id": "o", "fee_cents": 1000,
         "ts": d + HOUR},
        {"worker_id": "w3", "kind": "logout", "ts": d + 90 * MINUTE},
    ]
    # w2: 3 h 30 min on, 30 min off, three times, then 30 min: 11 h of work by 20:30.
    start = d
    for work in [210, 210, 210, 30]:
        events += [{"worker_id": "w2", "kind": "login", "ts": start},
                   {"worker_id": "w2", "kind": "logout", "ts": start + work * MINUTE}]
        start += (work + 30) * MINUTE
    return sorted(events, key=lambda e: e["ts"])


def test_the_model_gives_the_docs_figures_by_hand():
    """The model against figures worked out by hand from docs/reports.md's wording: 3
    workers in one group, 2 March: w1 12 h (a continuous violation at 4 h, the daily
    violation at 11 h: over `daily_max` strictly), w2 exactly 11 h with a 30-minute rest
    every 3 h 30 min (neither violation: not strictly above), w3 1 h 30 min paid 1,000 fen
    (a minimum-wage breach, judged 2 March, at 3 March 00:00). p90 of 1.5, 11, 12 h is the
    3rd value: 12.00; shares 1/3 = 33.3 % (half up)."""
    events = hand_case()
    layers = Layers(Rules())
    assert figures(events, layers, "2026-03") == [
        ["group", "2026-03", "worker", "unknown", "unknown", "3", "3", "1", "33.3", "1", "33.3",
         "12.00", "1", "0", "0", "0", "w1 (2); w3 (1)"],
        ["total", "2026-03", "worker", "", "", "3", "3", "1", "33.3", "1", "33.3", "12.00", "1",
         "0", "0", "0", "w1 (2); w3 (1)"],
    ]


def test_hand_case_against_the_binary(tmp_path):
    """The same case through the binary (CSV and HTML); read again after an event of April
    (and a copy of it); and the month before it (nothing applied: a total row of zeros with
    empty shares)."""
    d = BASE_MS + 12 * HOUR
    events = hand_case()
    got = check(tmp_path, events, Layers(Rules()), "2026-03")
    check_html(tmp_path, events, Layers(Rules()), "2026-03", got)
    assert got[-1][5:] == ["3", "3", "1", "33.3", "1", "33.3", "12.00", "1", "0", "0", "0",
                           "w1 (2); w3 (1)"]
    # docs/reports.md: an event after the month is counted as such and moves nothing, so
    # the month's events read after it (an hour and a month behind it) are not late.
    april = {"worker_id": "w9", "kind": "heartbeat", "ts": d + 40 * DAY}
    assert check(tmp_path, events + [april], Layers(Rules()), "2026-03",
                 read=[april] + events + [april]) == got
    assert check(tmp_path, events, Layers(Rules()), "2026-02") == [
        ["total", "2026-02", "worker", "", "", "0", "0", "0", "", "0", "", "", "0", "0", "0",
         "0", ""]]


def test_persons_across_platforms_and_the_months_edges(tmp_path):
    """docs/reports.md by hand, under `subject = "person"`: P works 31 March 22:00 to 1 April
    02:00 on platform a (city x) as w1 and 31 March 23:00-23:30 on platform b (city y) as
    w2: a person-day of 2 h on 31 March in both groups (once in the total), cross-platform in
    both; 1 April's 2 h are April's. w3 alone (a person of its own) works on 31 March in b/y
    at 1 h paid 500 fen: a minimum-wage breach judged 31 March, at 1 April 00:00, counted in
    March. An event of w3 in April makes the March replay run to the month's end."""
    day = BASE_MS + 4 * HOUR + 29 * DAY  # 31 March 00:00 local (BASE is 1 March 20:00)
    a = {"platform": "a", "city": "x", "person_id": "P"}
    b = {"platform": "b", "city": "y", "person_id": "P"}
    events = [
        dict(a, worker_id="w1", kind="login", ts=day + 22 * HOUR),
        dict(b, worker_id="w2", kind="login", ts=day + 23 * HOUR),
        dict(b, worker_id="w2", kind="logout", ts=day + 23 * HOUR + 30 * MINUTE),
        dict(a, worker_id="w1", kind="logout", ts=day + 26 * HOUR),
        {"worker_id": "w3", "kind": "login", "ts": day + 8 * HOUR, "platform": "b",
         "city": "y"},
        {"worker_id": "w3", "kind": "order_delivered", "order_id": "o", "fee_cents": 500,
         "ts": day + 8 * HOUR + 30 * MINUTE, "platform": "b", "city": "y"},
        {"worker_id": "w3", "kind": "logout", "ts": day + 9 * HOUR, "platform": "b",
         "city": "y"},
        {"worker_id": "w3", "kind": "heartbeat", "ts": day + 30 * HOUR, "platform": "b",
         "city": "y"},
    ]
    events.sort(key=lambda e: e["ts"])
    layers = Layers(Rules(), person={})
    march = [
        ["group", "2026-03", "person", "a", "x", "1", "1", "0", "0.0", "0", "0.0", "2.00", "0",
         "0", "0", "1", ""],
        ["group", "2026-03", "person", "b", "y", "2", "2", "0", "0.0", "0", "0.0", "2.00", "1",
         "0", "0", "1", "w3 (1)"],
        ["total", "2026-03", "person", "", "", "2", "2", "0", "0.0", "0", "0.0", "2.00", "1",
         "0", "0", "1", "w3 (1)"],
    ]
    assert figures(events, layers, "2026-03") == march
    assert check(tmp_path, events, layers, "2026-03") == march
    april = [
        ["group", "2026-04", "person", "a", "x", "1", "1", "0", "0.0", "0", "0.0", "2.00", "0",
         "0", "0", "0", ""],
        ["total", "2026-04", "person", "", "", "1", "1", "0", "0.0", "0", "0.0", "2.00", "0",
         "0", "0", "0", ""],
    ]
    assert figures(events, layers, "2026-04") == april
    assert check(tmp_path, events, layers, "2026-04") == april


def test_hostile_names_are_quoted_and_defused(tmp_path):
    """docs/reports.md, CSV: a field holding a comma or a quote is quoted with quotes doubled;
    a text field starting with `=`, `+`, `-` or `@` gets a `'` in front."""
    d = BASE_MS + 12 * HOUR
    events = [
        {"worker_id": "w1", "kind": "login", "ts": d, "platform": "=HYPERLINK(1)",
         "city": 'a,"b"'},
        {"worker_id": "w1", "kind": "logout", "ts": d + HOUR, "platform": "=HYPERLINK(1)",
         "city": 'a,"b"'},
    ]
    output, _ = run_report(tmp_path, events, Layers(Rules()), "2026-03")
    assert b"\r\ngroup,2026-03,worker,'=HYPERLINK(1),\"a,\"\"b\"\"\",1,1," in output, output
    assert parse_csv(output)[1][3:5] == ["'=HYPERLINK(1)", 'a,"b"']


@pytest.mark.parametrize("block", range(4))
def test_report_gives_the_models_figures_on_random_streams(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        events, layers, months, read = random_report_case(seed)
        for month in months:
            try:
                rows = check(tmp_path, events, layers, month, read)
                if seed % 5 == 0:
                    check_html(tmp_path, read, layers, month, rows)
            except AssertionError as error:
                raise AssertionError(f"seed {seed} (MODEL_SEED={seed}), month {month}: "
                                     f"{error}") from None


def test_a_groups_top_list_counts_violations_of_the_inactive(tmp_path):
    """Person P works 08:00-20:00 on 2 March as w1 on platform a (1 h order paid 100 fen);
    w2, on platform b, sends heartbeats at 18:30 and 20:30 and never works. The daily
    violation at 19:00 and the minimum-wage breach at 3 March 00:00 name b (P's last event:
    w2's); the continuous violation at 12:00 names a. b's row has no person-day, and P has 2
    violation alerts naming it: "P (2)" (docs/reports.md: "active there or not"). The report
    left out the violation read before the breach that gave b its row (src/report/tests.rs:
    a_groups_top_list_counts_violations_read_before_the_breach_that_made_its_row)."""
    d = BASE_MS + 12 * HOUR  # 2 March 08:00 local
    a = {"worker_id": "w1", "person_id": "P", "platform": "a"}
    b = {"worker_id": "w2", "person_id": "P", "platform": "b"}
    events = [
        dict(a, kind="login", ts=d),
        dict(a, kind="order_accepted", order_id="o", ts=d + 30 * MINUTE),
        dict(a, kind="order_delivered", order_id="o", fee_cents=100, ts=d + HOUR),
        dict(b, kind="heartbeat", ts=d + 10 * HOUR + 30 * MINUTE),
        dict(a, kind="logout", ts=d + 12 * HOUR),
        dict(b, kind="heartbeat", ts=d + 12 * HOUR + 30 * MINUTE),
    ]
    layers = Layers(Rules(), person={})
    want = [
        ["group", "2026-03", "person", "a", "unknown", "1", "1", "1", "100.0", "1", "100.0",
         "12.00", "0", "0", "0", "0", "P (1)"],
        ["group", "2026-03", "person", "b", "unknown", "0", "0", "0", "", "0", "", "", "1", "0",
         "0", "0", "P (2)"],
        ["total", "2026-03", "person", "", "", "1", "1", "1", "100.0", "1", "100.0", "12.00",
         "1", "0", "0", "0", "P (3)"],
    ]
    assert figures(events, layers, "2026-03") == want
    output, _ = run_report(tmp_path, events, layers, "2026-03")
    assert parse_csv(output)[1:] == want
