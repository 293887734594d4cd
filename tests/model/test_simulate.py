"""`workhours simulate` against its contract: SPEC section 6 ("a realistic synthetic event
stream, seeded, to a file or Kafka"), section 2's event table (an independent validator,
`event_problem`), the README's and `simulate --help`'s promises for each option.

Small streams (`--workers 50 --days 2`, a few seeds): every line is a valid event; the same
seed gives the same bytes and nearby seeds other workers; `--output FILE`, `--output -` and
stdout agree; `workhours replay` reads the stream with no bad, duplicate or late event; each
worker's events are plausible in file order (a session opens with `login`, breaks and orders
inside it, every order accepted before it is picked up and picked up before it is delivered,
fees only on deliveries, `ts` non-decreasing). Options: `--start` and the config's zone (the
local days), `--heartbeat` (none without it; while online, no gap longer than it),
`--duplicates` and `--bad-lines` (their share, replay's counts, bad lines exactly those the
validator rejects), `--jitter` (the same events, out of order within it, the same alerts),
`--activity` (the other events and the alerts unchanged; activities follow the worker's
state), `--mix` (`standard` is the default's bytes; `packs` makes every rule of every shipped
pack fire over a week while most of the workers each pack is for comply), `--persons`
(`person_id`s of 64 hex digits, that share of persons with two worker ids on two platforms
working the same days), every option at once, the bounds of the options (exit 2, no panic),
`--kafka` without a broker (exit 2 after `live.delivery_timeout`) and, with `SIMULATE_KAFKA=1`
(tests/run.sh sets it, Tansu being installed by then), against a Tansu broker
(tests/live/harness.py): the file's lines, keyed as `run` requires.

The binary is `TEST_WORKHOURS_BIN` (tests/run.sh builds it), else target/release/workhours.
"""

import collections
import datetime
import functools
import json
import os
import pathlib
import re
import subprocess
import tomllib
import zoneinfo

import pytest

from reference import state_after

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TEST_WORKHOURS_BIN", str(ROOT / "target" / "release" / "workhours"))
SMALL = ("--workers", "50", "--days", "2")
SEEDS = (1, 2, 7)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
KINDS = {"login", "logout", "break_start", "break_end", "order_accepted", "order_picked_up",
         "order_delivered", "order_cancelled", "heartbeat", "activity"}
ORDER_KINDS = {"order_accepted", "order_picked_up", "order_delivered", "order_cancelled"}
ACTIVITIES = {"driving", "other_work", "available", "rest"}
TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                r"(?:([Zz])|([+-])(\d\d):(\d\d))$")
MIN_MS = 946684800000  # 2000-01-01T00:00:00Z
MAX_MS = 4102444800000  # 2100-01-01T00:00:00Z
HOUR = 3600 * 1000
PACKS = ["cn-mohrss-2024", "didi-2018", "cn-road-traffic", "eu-561", "us-fmcsa-property",
         "us-fmcsa-property-60"]
# The workers each pack's behaviours are drawn for (`simulate --help`, `--mix packs`).
PACK_ROLES = {"cn-mohrss-2024": "rider", "didi-2018": "driver", "cn-road-traffic": "driver",
              "eu-561": "trucker", "us-fmcsa-property": "trucker",
              "us-fmcsa-property-60": "trucker"}


class Float(float):
    """A JSON number with a fraction or an exponent."""


class NegativeZero(int):
    """`-0`."""


def parse(line):
    """The JSON object of a line (bytes), or raises ValueError with a reason."""
    if len(line) > 1 << 20:
        raise ValueError("too_large")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not_utf8") from None

    def pairs(items):
        names = [k for k, _ in items]
        if len(set(names)) != len(names):
            raise ValueError("duplicate_field")
        return dict(items)

    def constant(name):
        raise ValueError("not_json")

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_float=Float,
                           parse_constant=constant,
                           parse_int=lambda s: NegativeZero(0) if s == "-0" else int(s))
    except json.JSONDecodeError:
        raise ValueError("not_json") from None
    if not isinstance(value, dict):
        raise ValueError("not_object")
    return value


@functools.lru_cache(maxsize=1 << 16)
def ts_ms(value):
    """Epoch milliseconds of a valid `ts` (SPEC section 2), or raises ValueError."""
    if isinstance(value, (bool, Float, NegativeZero)) or not isinstance(value, (int, str)):
        raise ValueError("wrong_type" if not isinstance(value, (Float, NegativeZero))
                         else "bad_timestamp")
    if isinstance(value, int):
        ms = value
    else:
        match = TS.match(value)
        if not match:
            raise ValueError("bad_timestamp")
        y, mo, d, h, mi, s, frac, z, sign, oh, om = match.groups()
        if int(oh or 0) > 23 or int(om or 0) > 59:
            raise ValueError("bad_timestamp")
        offset = 0 if z else (1 if sign == "+" else -1) * (int(oh) * 60 + int(om))
        try:
            local = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                                      tzinfo=datetime.timezone.utc)
        except ValueError:
            raise ValueError("bad_timestamp") from None
        ms = int(local.timestamp()) * 1000 - offset * 60000 + int((frac or "0")[:3].ljust(3, "0"))
    if not MIN_MS <= ms < MAX_MS:
        raise ValueError("timestamp_out_of_range")
    return ms


def is_string(value):
    """A JSON string of Unicode scalar values (no lone surrogate escape)."""
    return isinstance(value, str) and not any(0xD800 <= ord(c) < 0xE000 for c in value)


def event_problem(line):
    """None when `line` (bytes) is a valid event of SPEC section 2 (with section 5's bounds on
    `platform`, `role` and `city`), else why not."""
    try:
        event = parse(line)
        for name in ("worker_id", "kind", "ts"):
            if name not in event:
                return "missing_field"
        for name in ("worker_id", "kind", "event_id", "platform", "role", "city", "order_id",
                     "person_id", "activity"):
            if name in event and not is_string(event[name]):
                return "wrong_type"
        if not 1 <= len(event["worker_id"]) <= 128:
            return "invalid_value"
        if "person_id" in event and not 1 <= len(event["person_id"]) <= 128:
            return "invalid_value"
        for name in ("platform", "role", "city"):
            if name in event and (len(event[name]) > 64 or "/" in event[name]):
                return "invalid_value"
        if "fee_cents" in event:
            fee = event["fee_cents"]
            if isinstance(fee, (bool, Float)) or not isinstance(fee, int):
                return "wrong_type"
            if fee < 0 or isinstance(fee, NegativeZero):
                return "invalid_value"
        ts_ms(event["ts"])
        if event["kind"] not in KINDS:
            return "unknown_kind"
        if event["kind"] in ORDER_KINDS and not event.get("order_id"):
            return "missing_order_id"
        if event["kind"] == "activity" and event.get("activity") not in ACTIVITIES:
            return "invalid_value"
    except ValueError as why:
        return str(why)
    return None


@functools.lru_cache(maxsize=None)
def simulate(*args):
    """`workhours simulate ARGS`: (stdout, stderr), exit 0 required."""
    proc = subprocess.run([BIN, "simulate"] + list(args), capture_output=True, timeout=120)
    assert proc.returncode == 0, (args, proc.returncode, proc.stderr[-500:])
    assert b"panicked" not in proc.stderr
    return proc.stdout, proc.stderr


@functools.lru_cache(maxsize=None)
def replay(data, env=()):
    """`workhours replay` of `data` from stdin: (alert lines, summary counts, bad line
    numbers)."""
    proc = subprocess.run([BIN, "replay", "--threads", "1"], input=data, capture_output=True,
                          env=dict(os.environ, **dict(env)), timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert b"panicked" not in proc.stderr
    counts, bad = {}, []
    for line in proc.stderr.decode().splitlines():
        match = re.match(r"^\s+(\S.*?)\s{2,}(\d+)$", line)
        if match:
            counts[match.group(1)] = int(match.group(2))
        match = re.match(r"^line (\d+): bad event: ", line)
        if match:
            bad.append(int(match.group(1)))
    return proc.stdout.splitlines(), counts, bad


def count(counts, prefix):
    """A replay summary count by the start of its label (`bad`, `duplicates`, `late`)."""
    found = [v for k, v in counts.items() if k.startswith(prefix)]
    assert len(found) == 1, (prefix, counts)
    return found[0]


def events_of(data):
    return [json.loads(line) for line in data.splitlines()]


def canonical(event, drop=("event_id",)):
    """An event with `ts` as epoch ms and without `drop`, as a sortable key."""
    out = {k: v for k, v in event.items() if k not in drop}
    out["ts"] = ts_ms(event["ts"])
    return json.dumps(out, sort_keys=True)


def by_worker(events):
    workers = collections.defaultdict(list)
    for event in events:
        workers[event["worker_id"]].append(event)
    return workers


def check_sequence(name, events, lateness=0):
    """Each worker's events, in file order, are a plausible life: `ts` never goes back by more
    than `lateness` (per worker and over the file); a worker starts with `login`, logs in only
    when out and out only when in; breaks start and end inside a session; an order is
    accepted once, while online and off break, picked up after that, delivered after the
    pick-up or cancelled after either; fees only on deliveries; heartbeats only online."""
    latest = 0
    for i, event in enumerate(events):
        ts = ts_ms(event["ts"])
        assert ts >= latest - lateness, f"{name}: line {i + 1} goes back {latest - ts} ms"
        latest = max(latest, ts)
    for worker, mine in by_worker(events).items():
        online = on_break = False
        orders = {}
        latest = 0
        for event in mine:
            kind, ts = event["kind"], ts_ms(event["ts"])
            where = f"{name}: worker {worker} at {event['ts']} ({kind})"
            assert ts >= latest - lateness, f"{where}: ts goes back"
            latest = max(latest, ts)
            assert "fee_cents" not in event or kind == "order_delivered", where
            if kind == "login":
                assert not online, f"{where}: already online"
                online, on_break = True, False
            elif kind == "logout":
                assert online and not on_break, f"{where}: not online, or on a break"
                online = False
            elif kind == "break_start":
                assert online and not on_break, f"{where}: offline or on a break"
                on_break = True
            elif kind == "break_end":
                assert on_break, f"{where}: not on a break"
                on_break = False
            elif kind == "heartbeat":
                assert online, f"{where}: heartbeat while offline"
            elif kind == "order_accepted":
                assert event["order_id"] not in orders, f"{where}: order id used again"
                assert online and not on_break, f"{where}: accepted offline or on a break"
                orders[event["order_id"]] = "accepted"
            elif kind == "order_picked_up":
                assert orders.get(event["order_id"]) == "accepted", f"{where}: not accepted"
                orders[event["order_id"]] = "picked"
            elif kind == "order_delivered":
                assert orders.get(event["order_id"]) == "picked", f"{where}: not picked up"
                orders[event["order_id"]] = "done"
            elif kind == "order_cancelled":
                assert orders.get(event["order_id"]) in ("accepted", "picked"), where
                orders[event["order_id"]] = "done"
        assert mine[0]["kind"] == "login", f"{name}: worker {worker} starts without a login"


def intervals(events):
    """SPEC section 3's working stretches `[start, end)` (ms) of one worker's events."""
    online = on_break = False
    active = frozenset()
    out, start = [], None
    groups = collections.defaultdict(list)
    for event in events:
        groups[ts_ms(event["ts"])].append(event)
    for ts in sorted(groups):
        was = (online and not on_break) or bool(active)
        for event in groups[ts]:
            online, on_break, active = state_after((online, on_break, active), event)
        now = (online and not on_break) or bool(active)
        if now and not was:
            start = ts
        elif was and not now:
            out.append((start, ts))
    return out


def local_day(ms, zone=SHANGHAI):
    return datetime.datetime.fromtimestamp(ms / 1000, zone).date()


def per_day(stretches, zone=SHANGHAI):
    """Working ms per local day, stretches split at midnight."""
    days = collections.Counter()
    for start, end in stretches:
        while start < end:
            day = local_day(start, zone)
            midnight = datetime.datetime.combine(day + datetime.timedelta(days=1),
                                                 datetime.time(), zone)
            cut = min(end, int(midnight.timestamp() * 1000))
            days[day] += cut - start
            start = cut
    return days


# -- every line, the seed, the output ---------------------------------------------------------

@pytest.mark.parametrize("seed,extra", [(seed, ()) for seed in SEEDS] + [
    (2, ("--activity",)), (7, ("--persons", "0.3")), (1, ("--mix", "packs")),
    (2, ("--heartbeat", "5m"))])
def test_every_line_is_a_valid_event(seed, extra):
    """SPEC section 2: every line a valid event, `event_id`s unique, plausible workers."""
    data, _ = simulate(*SMALL, "--seed", str(seed), *extra)
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) > 100
    for n, line in enumerate(lines[:-1], 1):
        assert event_problem(line) is None, f"line {n}: {event_problem(line)}: {line!r}"
    events = events_of(data)
    ids = [e["event_id"] for e in events if "event_id" in e]
    assert len(set(ids)) == len(ids), "an event_id twice without --duplicates"
    check_sequence(f"seed {seed} {extra}", events)
    if "--activity" not in extra and "--mix" not in extra:
        assert not any(e["kind"] == "activity" for e in events)
    if "--persons" not in extra:
        assert not any("person_id" in e for e in events)


def test_realistic_mix():
    """README: riders, drivers and truckers of several platforms and cities, orders with
    fees, breaks of varied length, some workers over the limits."""
    events = [e for seed in SEEDS for e in events_of(simulate(*SMALL, "--seed", str(seed))[0])]
    assert {e["role"] for e in events} >= {"rider", "driver", "trucker"}
    assert len({e["platform"] for e in events}) >= 3
    assert len({e["city"] for e in events}) >= 3
    fees = [e["fee_cents"] for e in events if "fee_cents" in e]
    assert len(fees) > 100 and len(set(fees)) > 20
    breaks = set()
    for mine in by_worker(events).values():
        start = None
        for event in mine:
            if event["kind"] == "break_start":
                start = ts_ms(event["ts"])
            elif event["kind"] == "break_end":
                breaks.add((ts_ms(event["ts"]) - start) // 60000)
    assert len(breaks) >= 5, f"break lengths in minutes: {sorted(breaks)}"
    violations = 0
    for seed in SEEDS:
        alerts, _, _ = replay(simulate(*SMALL, "--seed", str(seed))[0])
        violations += sum(json.loads(a)["phase"] == "violation" for a in alerts)
    assert violations > 0, "no worker over a limit"


def test_seeded():
    """The same seed gives the same bytes (also from a second process); other seeds, nearby
    ones included, give other workers (no worker's life repeated under another id)."""
    first = subprocess.run([BIN, "simulate", *SMALL, "--seed", "7"], capture_output=True)
    second = subprocess.run([BIN, "simulate", *SMALL, "--seed", "7"], capture_output=True)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout and len(first.stdout) > 1000

    def lives(seed):
        data = simulate(*SMALL, "--seed", str(seed))[0]
        return {tuple((e["kind"], ts_ms(e["ts"])) for e in mine)
                for mine in by_worker(events_of(data)).values()}
    for a, b in [(1, 2), (2, 3), (7, 8), (1, 1001)]:
        assert simulate(*SMALL, "--seed", str(a))[0] != simulate(*SMALL, "--seed", str(b))[0]
        assert not lives(a) & lives(b), f"seeds {a} and {b} share a worker's events"


def test_output_file_and_stdout_agree(tmp_path):
    """`--output FILE`, `--output -` and stdout write the same bytes."""
    data, _ = simulate(*SMALL, "--seed", "2")
    out = tmp_path / "s.jsonl"
    proc = subprocess.run([BIN, "simulate", *SMALL, "--seed", "2", "--output", str(out)],
                          capture_output=True)
    assert proc.returncode == 0 and proc.stdout == b"" and out.read_bytes() == data
    dash, _ = simulate(*SMALL, "--seed", "2", "--output", "-")
    assert dash == data


def test_summary_line_counts():
    """simulate's own summary on stderr (where it has this form) counts what it wrote."""
    data, err = simulate(*SMALL, "--seed", "1", "--heartbeat", "5m", "--duplicates", "0.02",
                         "--bad-lines", "0.02", "--activity")
    match = re.search(rb"(\d+) lines \((\d+) events of which (\d+) heartbeats, (?:(\d+) "
                      rb"activity events, )?(\d+) duplicates, (\d+) bad lines\)", err)
    if not match:
        pytest.skip("no summary of this form")
    lines, events, beats, activities, copies, bad = [int(g or 0) for g in match.groups()]
    rows = data.splitlines()
    assert lines == len(rows) == events + copies + bad
    valid = [r for r in rows if event_problem(r) is None]
    assert bad == len(rows) - len(valid)
    good = list({e["event_id"]: e for e in map(json.loads, valid)}.values())
    assert len(good) == events
    assert beats == sum(e["kind"] == "heartbeat" for e in good)
    assert activities == sum(e["kind"] == "activity" for e in good)


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_reads_it_whole(seed):
    """`workhours replay`: no bad, duplicate or late event; the alerts it counts are the
    lines it writes."""
    data, _ = simulate(*SMALL, "--seed", str(seed))
    alerts, counts, bad = replay(data)
    lines = len(data.splitlines())
    assert bad == [] and count(counts, "bad ") == 0
    assert count(counts, "duplicates") == 0 and count(counts, "late") == 0
    assert count(counts, "lines read") == lines and count(counts, "valid") == lines
    assert count(counts, "alerts") == len(alerts)
    by_rule = sum(v for k, v in counts.items() if re.match(r"^[a-z_0-9]+/[a-z]+$", k))
    assert by_rule == len(alerts)
    for alert in alerts:
        json.loads(alert)


# -- days and zones -------------------------------------------------------------------------

@pytest.mark.parametrize("zone,start,days", [("Asia/Shanghai", None, 2),
                                             ("Asia/Shanghai", "2026-05-10", 3),
                                             ("Europe/Berlin", "2026-03-28", 2),
                                             ("America/New_York", "2026-11-01", 1)])
def test_local_days(tmp_path, zone, start, days):
    """`--start` (default 2026-03-02) and `--days` in the config's zone: every one of those
    local days has sessions, and no event comes before the first; a night shift may spill into
    the morning after the last day, nothing later."""
    config = tmp_path / "c.toml"
    config.write_text(f'[time]\nzone = "{zone}"\n')
    args = ("--workers", "60", "--days", str(days), "--seed", "3", "--config", str(config))
    args += ("--start", start) if start else ()
    data, _ = simulate(*args)
    tz = zoneinfo.ZoneInfo(zone)
    first = datetime.date.fromisoformat(start or "2026-03-02")
    allowed = {first + datetime.timedelta(days=i) for i in range(days)}
    after = first + datetime.timedelta(days=days)
    stamps = [datetime.datetime.fromtimestamp(ts_ms(e["ts"]) / 1000, tz)
              for e in events_of(data) if e["kind"] == "login"]
    assert {s.date() for s in stamps} - {after} == allowed, sorted({s.date() for s in stamps})
    assert all(s.hour < 12 for s in stamps if s.date() == after), "logins on the day after"
    assert min(local_day(ts_ms(e["ts"]), tz) for e in events_of(data)) == first
    check_sequence(f"{zone} {start}", events_of(data))
    assert replay(data)[2] == []


def test_range_of_days(tmp_path):
    """Days whose events would leave SPEC's range are refused (exit 2, no panic); the
    extreme ones allowed are valid events."""
    for args in [("--start", "1999-12-31"), ("--start", "2100-01-01"),
                 ("--start", "2099-12-31", "--days", "5"), ("--days", "0"),
                 ("--workers", "0"), ("--workers", "10000001"), ("--start", "2026-02-30")]:
        if args[0] != "--workers":
            args = ("--workers", "5") + args
        proc = subprocess.run([BIN, "simulate", *args], capture_output=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == b"", (args, proc.returncode)
        assert b"panicked" not in proc.stderr and proc.stderr.strip(), args
    for start, zone in [("2000-01-02", "Pacific/Kiritimati"), ("2099-12-28", "Pacific/Pago_Pago")]:
        config = tmp_path / "z.toml"
        config.write_text(f'[time]\nzone = "{zone}"\n')
        data, _ = simulate("--workers", "100", "--days", "1", "--start", start, "--config",
                           str(config), "--jitter", "30s")
        problems = [event_problem(line) for line in data.splitlines()]
        assert problems == [None] * len(problems), collections.Counter(problems)


@pytest.mark.parametrize("args", [("--duplicates", "1.5"), ("--duplicates", "-0.1"),
                                  ("--bad-lines", "2"), ("--persons", "1.5"),
                                  ("--jitter", "20"), ("--heartbeat", "60"),
                                  ("--heartbeat", "0s"), ("--mix", "other"),
                                  ("--seed", "-1"), ("--days", "x")])
def test_bad_options(args):
    """Out-of-range or malformed options (a bare duration is an error, SPEC section 6):
    a non-zero exit with a message, no panic, nothing written."""
    proc = subprocess.run([BIN, "simulate", "--workers", "5", *args], capture_output=True,
                          timeout=60)
    assert proc.returncode not in (0, 101), (args, proc.returncode)
    assert b"panicked" not in proc.stderr and proc.stderr.strip() and proc.stdout == b""


# -- options ----------------------------------------------------------------------------------

def test_heartbeats():
    """No heartbeat without `--heartbeat`; with it, heartbeats only while online and no
    online gap between a worker's events longer than the interval."""
    plain, _ = simulate(*SMALL, "--seed", "1")
    assert b'"heartbeat"' not in plain
    for interval, ms in [("60s", 60000), ("5m", 300000), ("90s", 90000)]:
        data, _ = simulate("--workers", "15", "--days", "2", "--seed", "1", "--heartbeat",
                           interval)
        events = events_of(data)
        assert sum(e["kind"] == "heartbeat" for e in events) > 50
        check_sequence(f"--heartbeat {interval}", events)
        for worker, mine in by_worker(events).items():
            online, last = False, None
            for event in mine:
                ts = ts_ms(event["ts"])
                if online:
                    assert ts - last <= ms, f"{worker}: {ts - last} ms online without an event"
                online = event["kind"] != "logout" and (online or event["kind"] == "login")
                last = ts
        assert replay(data)[2] == []


def test_duplicates():
    """`--duplicates F`: about that share of events written twice, byte for byte, with the
    same `event_id`; replay drops exactly those copies and alerts as without them."""
    data, _ = simulate(*SMALL, "--seed", "1", "--duplicates", "0.05")
    lines = data.splitlines()
    seen = {}
    copies = 0
    for line in lines:
        event_id = json.loads(line)["event_id"]
        if event_id in seen:
            assert seen[event_id] == line, "a copy differs from its original"
            copies += 1
        seen[event_id] = line
    share = copies / (len(lines) - copies)
    assert 0.035 <= share <= 0.065, share
    alerts, counts, bad = replay(data)
    assert count(counts, "duplicates") == copies and bad == []
    unique = b"".join(line + b"\n" for line in dict.fromkeys(lines))
    assert alerts == replay(unique)[0]


@pytest.mark.parametrize("seed", [1, 5])
def test_bad_lines(seed):
    """`--bad-lines F`: about that share of extra lines, of assorted kinds; replay reports
    as bad exactly the lines SPEC section 2 makes bad, and only those."""
    data, _ = simulate(*SMALL, "--seed", str(seed), "--bad-lines", "0.05")
    lines = data.split(b"\n")[:-1]
    mine = [n for n, line in enumerate(lines, 1) if event_problem(line) is not None]
    share = len(mine) / (len(lines) - len(mine))
    assert 0.035 <= share <= 0.065, share
    kinds = collections.Counter(event_problem(lines[n - 1]) for n in mine)
    assert len(kinds) >= 5, kinds
    _, counts, reported = replay(data)
    assert reported == mine, sorted(set(reported) ^ set(mine))[:10]
    assert count(counts, "bad ") == len(mine)
    good = [json.loads(line) for line in lines if event_problem(line) is None]
    check_sequence(f"--bad-lines seed {seed}", good)


def test_jitter():
    """`--jitter 20s`: the same events as without it, each at most 20 s behind an earlier
    line; replay finds none late and gives the same alerts (SPEC section 5)."""
    plain, _ = simulate(*SMALL, "--seed", "1")
    data, _ = simulate(*SMALL, "--seed", "1", "--jitter", "20s")
    assert data != plain
    events = events_of(data)
    assert sorted(map(canonical, events)) == sorted(map(canonical, events_of(plain)))
    check_sequence("--jitter 20s", sorted(events, key=lambda e: ts_ms(e["ts"])))
    latest = 0
    for event in events:
        assert ts_ms(event["ts"]) >= latest - 20000
        latest = max(latest, ts_ms(event["ts"]))
    alerts, counts, bad = replay(data)
    assert count(counts, "late") == 0 and bad == []
    assert alerts == replay(plain)[0]


def activity_states(events):
    """For each worker of an `--activity` stream, after each instant: (role, state, activity)
    with state `off` (offline or on a break), `idle` (online, no order) or `order`."""
    out = []
    for mine in by_worker(events).values():
        online = on_break = False
        active = frozenset()
        activity = "rest"
        groups = collections.defaultdict(list)
        for event in mine:
            groups[ts_ms(event["ts"])].append(event)
        for ts in sorted(groups):
            for event in groups[ts]:
                online, on_break, active = state_after((online, on_break, active), event)
                if event["kind"] == "activity":
                    activity = event["activity"]
            state = "off" if not online or on_break else "order" if active else "idle"
            kinds = [e["kind"] for e in groups[ts]]
            out.append((mine[0]["role"], state, activity, kinds))
    return out


def test_activity():
    """`--activity`: drivers and truckers send `activity` events, riders none; the other
    events keep their instants and fields (not their `event_id` or the form of `ts`) and the
    alerts are the same; `available` online without an order, `driving` with one (a
    trucker's `other_work` too), `rest` on a break and at every logout."""
    for seed in SEEDS[1:]:
        plain, _ = simulate(*SMALL, "--seed", str(seed))
        data, _ = simulate(*SMALL, "--seed", str(seed), "--activity")
        events = events_of(data)
        roles = collections.Counter(e["role"] for e in events if e["kind"] == "activity")
        assert roles["driver"] > 0 and roles["trucker"] > 0 and roles["rider"] == 0, roles
        others = [canonical(e) for e in events if e["kind"] != "activity"]
        assert others == [canonical(e) for e in events_of(plain)]
        assert replay(data)[0] == replay(plain)[0]
        for role, state, activity, kinds in activity_states(events):
            if role == "rider":
                continue
            allowed = {"off": {"rest"}, "idle": {"available"},
                       "order": {"driving", "other_work"} if role == "trucker"
                       else {"driving"}}[state]
            assert activity in allowed, (seed, role, state, activity, kinds)
            if "logout" in kinds:
                assert "activity" in kinds and activity == "rest", (seed, kinds)


def test_mix_standard_is_the_default():
    """`--mix standard` is byte for byte the stream without `--mix`."""
    for seed in SEEDS:
        assert simulate(*SMALL, "--seed", str(seed), "--mix", "standard")[0] == \
            simulate(*SMALL, "--seed", str(seed))[0]


def pack_rules(pack):
    with open(ROOT / "config" / "packs" / f"{pack}.toml", "rb") as f:
        return {rule["id"] for rule in tomllib.load(f)["rules"]}


def test_mix_packs():
    """`--mix packs` (implies `--activity`): over a week every rule of every shipped pack
    fires (eu-561's 90 h fortnight over two weeks), while most of the workers each pack's
    behaviours are for (riders, drivers, truckers) have no violation of it."""
    week, _ = simulate("--workers", "150", "--days", "7", "--seed", "1", "--mix", "packs")
    events = events_of(week)
    role = {e["worker_id"]: e["role"] for e in events}
    assert {e["role"] for e in events if e["kind"] == "activity"} == {"driver", "trucker"}
    for pack in PACKS:
        alerts, counts, bad = replay(week, (("WORKHOURS_RULES__PACK", pack),))
        assert bad == []
        alerts = [json.loads(a) for a in alerts]
        fired = {a["rule"] for a in alerts}
        wanted = pack_rules(pack) - ({"eu561_fortnight"} if pack == "eu-561" else set())
        assert wanted <= fired, f"{pack}: never fired: {sorted(wanted - fired)}"
        target = [w for w in role if role[w] == PACK_ROLES[pack]]
        over = {a["worker_id"] for a in alerts if a["phase"] == "violation"
                and role.get(a.get("worker_id")) == PACK_ROLES[pack]}
        assert len(over) < len(target) / 2, f"{pack}: {len(over)} of {len(target)} over"
    fortnight, _ = simulate("--workers", "150", "--days", "14", "--seed", "1", "--mix", "packs")
    alerts, _, _ = replay(fortnight, (("WORKHOURS_RULES__PACK", "eu-561"),))
    assert any(json.loads(a)["rule"] == "eu561_fortnight" for a in alerts)


def test_persons():
    """`--persons F`: every event carries a `person_id` of 64 hex digits; a worker id has one;
    about that share of persons have two worker ids, on two platforms, working the same
    days, one session after the other (then each platform under 8 h a day, the person often
    over 11 h) or overlapping."""
    for fraction, low, high in [("0", 0, 0), ("0.3", 0.2, 0.4), ("1", 1, 1)]:
        data, _ = simulate("--workers", "150", "--days", "2", "--seed", "5",
                           "--persons", fraction)
        events = events_of(data)
        assert all(re.fullmatch(r"[0-9a-f]{64}", e.get("person_id", "")) for e in events)
        person_of = {}
        for event in events:
            assert person_of.setdefault(event["worker_id"], event["person_id"]) == \
                event["person_id"], "a worker id with two person_ids"
        persons = collections.defaultdict(set)
        for worker, person in person_of.items():
            persons[person].add(worker)
        assert all(len(ws) <= 2 for ws in persons.values())
        pairs = [sorted(ws) for ws in persons.values() if len(ws) == 2]
        assert low <= len(pairs) / len(persons) <= high, (fraction, len(pairs), len(persons))
        workers = by_worker(events)
        sequential = long_days = 0
        for a, b in pairs:
            assert workers[a][0]["platform"] != workers[b][0]["platform"]
            days_a = {local_day(ts_ms(e["ts"])) for e in workers[a] if e["kind"] == "login"}
            days_b = {local_day(ts_ms(e["ts"])) for e in workers[b] if e["kind"] == "login"}
            assert days_a == days_b, (a, b, sorted(days_a), sorted(days_b))
            stretches_a, stretches_b = intervals(workers[a]), intervals(workers[b])
            hours_a, hours_b = per_day(stretches_a), per_day(stretches_b)
            for day in days_a:
                overlap = any(s < f and t < e for s, e in stretches_a for t, f in stretches_b
                              if local_day(s) == day or local_day(t) == day)
                if not overlap:
                    sequential += 1
                    assert hours_a[day] < 8 * HOUR and hours_b[day] < 8 * HOUR, (a, b, day)
                    long_days += hours_a[day] + hours_b[day] > 11 * HOUR
        if pairs:
            assert sequential and long_days >= sequential / 10, (sequential, long_days)
        assert replay(data, (("WORKHOURS_RULES__SUBJECT", "person"),))[2] == []


def test_all_options_together():
    """Every option at once: the good lines are valid events carrying `person_id`s, the bad
    ones exactly replay's, nothing late within `allowed_lateness` (`--jitter 20s`)."""
    data, _ = simulate("--workers", "30", "--days", "1", "--seed", "9", "--persons", "0.3",
                       "--mix", "packs", "--heartbeat", "2m", "--duplicates", "0.01",
                       "--bad-lines", "0.01", "--jitter", "20s")
    lines = data.split(b"\n")[:-1]
    mine = [n for n, line in enumerate(lines, 1) if event_problem(line) is not None]
    good = [json.loads(line) for line in lines if event_problem(line) is None]
    assert mine and all(re.fullmatch(r"[0-9a-f]{64}", e["person_id"]) for e in good)
    _, counts, reported = replay(data, (("WORKHOURS_RULES__SUBJECT", "person"),))
    assert reported == mine and count(counts, "late") == 0


def test_kafka_without_a_broker():
    """`--kafka` with no broker: exit 2 once `live.delivery_timeout` passes (README), with a
    message and no panic; `--kafka` with `--output` is refused."""
    env = dict(os.environ, WORKHOURS_KAFKA__BROKERS="127.0.0.1:1",
               WORKHOURS_LIVE__DELIVERY_TIMEOUT="500ms")
    proc = subprocess.run([BIN, "simulate", "--workers", "3", "--kafka"], capture_output=True,
                          env=env, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() and b"panicked" not in proc.stderr
    proc = subprocess.run([BIN, "simulate", "--workers", "3", "--kafka", "--output", "x"],
                          capture_output=True, timeout=60)
    assert proc.returncode not in (0, 101) and b"panicked" not in proc.stderr


@pytest.mark.skipif(not os.environ.get("SIMULATE_KAFKA"),
                    reason="set SIMULATE_KAFKA=1 to start a Tansu broker (tests/live harness)")
@pytest.mark.parametrize("subject", ["worker", "person"])
def test_kafka_round_trip(tmp_path, subject):
    """`--kafka`: the lines the file gets, each keyed by its `worker_id` (its `person_id`
    under `subject = "person"`), on the first of `kafka.input_topics`; exit 0."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "live"))
    import harness
    broker = harness.Broker(tmp_path / "broker").start()
    try:
        broker.create_topic("sim.events", 3)
        args = ("--workers", "20", "--days", "1", "--seed", "4", "--persons", "0.5")
        env = dict(os.environ, WORKHOURS_KAFKA__BROKERS=broker.bootstrap,
                   WORKHOURS_KAFKA__INPUT_TOPICS="sim.events,other",
                   WORKHOURS_RULES__SUBJECT=subject)
        proc = subprocess.run([BIN, "simulate", *args, "--kafka"], capture_output=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        records = harness.consume_all(broker, "sim.events", quiet=1.0)
        data, _ = simulate(*args)
        key = "person_id" if subject == "person" else "worker_id"
        want = sorted((json.loads(line)[key].encode(), line) for line in data.splitlines())
        assert sorted((r.key, r.value) for r in records) == want
    finally:
        broker.stop()
