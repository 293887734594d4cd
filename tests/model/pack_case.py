"""Random streams and replay runs for the rule pack models (SPEC section 7): the pieces every
kind's test shares.

`random_events` makes a stream of every kind of SPEC section 2, `activity` included;
`replay_pack` runs `workhours replay` with a pack file of the given rules and returns its
alerts and holds as tuples the models give; `status_pack` runs `workhours status --at` with the
same files and returns its views.

The binary is `TEST_WORKHOURS_BIN` (tests/run.sh builds it), else target/release/workhours.
"""

import datetime
import json
import os
import pathlib
import subprocess

from reference import MINUTE

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TEST_WORKHOURS_BIN", str(ROOT / "target" / "release" / "workhours"))
CASES = int(os.environ.get("MODEL_CASES", "300"))
# 2026-03-01 20:00 local (a Sunday): a midnight and a new ISO week early in every stream.
BASE = datetime.datetime(2026, 3, 1, 20, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
BASE_MS = int(BASE.timestamp()) * 1000
# Logins and activities weigh more, so that every measure has time to count.
KINDS = (["login"] * 5 + ["logout"] * 3 + ["break_start", "break_end"]
         + ["order_accepted"] * 2 + ["order_picked_up"] * 2 + ["order_delivered"] * 2
         + ["order_cancelled", "heartbeat"] + ["activity"] * 5)
ACTIVITIES = ["driving", "driving", "other_work", "available", "rest"]
# Integer parameters that are not durations (every other integer is milliseconds).
COUNTS = {"count", "extensions_per_week", "days", "cents_per_hour", "min_workers",
          "minimum_wage_cents_per_hour", "quota_min_workers"}


def seeds(block, blocks=4):
    """The seeds of test block `block` of `blocks` (`MODEL_SEED` picks one seed instead)."""
    if "MODEL_SEED" in os.environ:
        return [int(os.environ["MODEL_SEED"])] if block == 0 else []
    return range(block, CASES, blocks)


def random_events(rng, workers=None, events=None, span_minutes=None, millis=True):
    """A random stream in `ts` order: `workers` worker ids (default 1 to 4), `events` events
    (default 5 to 200) over `span_minutes` (default 5 hours to 3 weeks) from `BASE`; with
    `millis`, some instants off the minute."""
    workers = workers or rng.randrange(1, 5)
    count = events or rng.randrange(5, 200)
    span = span_minutes or rng.choice([300, 1500, 3000, 10000, 30000])
    stream = []
    for _ in range(count):
        ts = BASE_MS + rng.randrange(span) * MINUTE
        if millis:
            ts += rng.choice([0, 0, 0, 1, 999, rng.randrange(MINUTE)])
        event = {"worker_id": f"w{rng.randrange(workers)}", "kind": rng.choice(KINDS), "ts": ts}
        if event["kind"].startswith("order"):
            event["order_id"] = f"o{rng.randrange(3)}"
        if event["kind"] == "activity":
            event["activity"] = rng.choice(ACTIVITIES)
        stream.append(event)
    stream.sort(key=lambda e: e["ts"])
    return stream


def maybe_persons(rng, events, share=1 / 3):
    """With probability `share`, puts `events` under persons (SPEC section 8): most worker ids
    name one of two persons on every event, the others stand for persons of their own.
    Returns whether it did."""
    if rng.random() >= share:
        return False
    workers = sorted({e["worker_id"] for e in events})
    person = {w: f"P{rng.randrange(2)}" for w in workers if rng.random() < 0.7}
    for event in events:
        if event["worker_id"] in person:
            event["person_id"] = person[event["worker_id"]]
    return True


def maybe_roles(rng, events, rules):
    """Gives some events a `role` and some rules `roles` (docs/pack-format.md: a rule with
    `roles` applies to the workers whose first event's role is listed; under persons, the
    person's first event)."""
    for event in events:
        role = rng.choice([None, None, "rider", "driver"])
        if role:
            event["role"] = role
    for rule in rules:
        if rng.random() < 0.2:
            rule["roles"] = rng.choice([["driver"], ["rider"], ["driver", "trucker"]])


def toml_value(key, value):
    """A rule parameter as TOML: integers are milliseconds but for `COUNTS`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if key in COUNTS else f'"{value}ms"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(key, v) for v in value) + "]"
    return json.dumps(value)


def pack_toml(rules):
    """A pack file of `rules` (dicts of rule keys)."""
    text = 'name = "model"\ntitle = "model"\nsource = "tests/model"\n'
    for rule in rules:
        text += "\n[[rules]]\n" + "".join(f"{k} = {toml_value(k, v)}\n" for k, v in rule.items())
    return text


def local(text):
    """Epoch ms of a local (Asia/Shanghai, +08:00) `YYYY-MM-DD HH:MM[:SS[.mmm]]`."""
    return round(datetime.datetime.fromisoformat(text).replace(tzinfo=BASE.tzinfo).timestamp()
                 * 1000)


def instant(text):
    """Epoch milliseconds of an RFC 3339 instant of replay's output."""
    return round(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def write_case(tmp_path, events, rules, session_timeout=0, persons=False, zone=None):
    """Writes `events` to `tmp_path/in.jsonl`, a pack of `rules` and a config selecting it
    (`session_timeout` in ms when set; `subject = "person"` with `persons`; `[time] zone`
    with `zone`); returns the paths of the config and of the input."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "pack.toml").write_text(pack_toml(rules))
    config = f'[rules]\npack_file = "{tmp_path / "pack.toml"}"\n'
    if session_timeout:
        config += f'session_timeout = "{session_timeout}ms"\n'
    if persons:
        config += 'subject = "person"\n'
    if zone:
        config += f'[time]\nzone = "{zone}"\n'
    (tmp_path / "config.toml").write_text(config)
    return tmp_path / "config.toml", tmp_path / "in.jsonl"


def replay_lines(tmp_path, events, rules, until=None, session_timeout=0, persons=False,
                 zone=None):
    """`workhours replay --holds` of `events` under a pack of `rules` (the files `write_case`
    writes, with `--until` when given): its alert lines and hold lines, as written."""
    config, read = write_case(tmp_path, events, rules, session_timeout, persons, zone)
    holds_file = tmp_path / "holds.jsonl"
    command = [BIN, "replay", "--config", str(config), "--holds", str(holds_file), str(read)]
    if until is not None:
        command += ["--until", str(until)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), holds_file.read_text().splitlines()


def replay_pack(tmp_path, events, rules, until=None, session_timeout=0, persons=False,
                zone=None):
    """Replay's alerts, as (at, key, rule, phase, value_seconds, limit_seconds, period_start)
    in replay's order (fen an hour for `minimum_wage`), and holds, as (key, rule, from,
    until), of `events` under a pack of `rules` (instants in epoch milliseconds). The key is
    the `worker_id`; with `persons` (`subject = "person"`, SPEC section 8), the `person_id`
    where the alert or hold has one (a worker id standing alone has none). `zone`: the
    config's `[time] zone`, else the default."""
    alert_lines, hold_lines = replay_lines(tmp_path, events, rules, until, session_timeout,
                                           persons, zone)
    alerts = []
    for line in alert_lines:
        alert = json.loads(line)
        # `minimum_wage` and `holiday_pay` carry fen an hour instead of seconds.
        value = alert.get("value_seconds", alert.get("value_cents_per_hour"))
        limit = alert.get("limit_seconds", alert.get("limit_cents_per_hour"))
        key = alert.get("person_id", alert.get("worker_id"))
        alerts.append((instant(alert["at"]), key, alert["rule"], alert["phase"], value, limit,
                       instant(alert["period_start"])))
    holds = []
    for line in hold_lines:
        hold = json.loads(line)
        holds.append((hold.get("person_id", hold.get("worker_id")), hold["rule"],
                      instant(hold["from"]), instant(hold["until"])))
    return alerts, holds


def status_pack(tmp_path, events, rules, at, session_timeout=0, persons=False):
    """`workhours status --at AT` (SPEC section 7) of `events` (as read, in any order) under a
    pack of `rules`, `at` in epoch milliseconds: the views (the `/v1/workers/{id}` objects)
    as parsed JSON, by subject: the `worker_id`, or with `persons` the `person_id` where the
    view has one (a worker id standing alone has none)."""
    return run_status(*write_case(tmp_path, events, rules, session_timeout, persons), at)


def run_status(config, read, at):
    """`status_pack`'s views of the files `write_case` wrote (config, input)."""
    command = [BIN, "status", "--config", str(config), "--at", str(at), str(read)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    views = {}
    for line in done.stdout.splitlines():
        view = json.loads(line)
        views[view.get("person_id", view.get("worker_id"))] = view
    return views


def check_replay(tmp_path, read, rules, want, until=None, session_timeout=0, seed=None,
                 persons=False, zone=None):
    """Replay's alerts, in order of `at`, and holds, of the stream `read` under `rules`, are
    `want`, a model's (alerts, holds), each sorted; returns them. A failure names `seed` and
    shows the case and what only one of them has."""
    alerts, holds = replay_pack(tmp_path, read, rules, until, session_timeout, persons, zone)
    name = f"seed {seed} (MODEL_SEED={seed}): " if seed is not None else ""
    assert [a[0] for a in alerts] == sorted(a[0] for a in alerts), f"{name}alerts out of order"
    got = (sorted(alerts), sorted(holds))
    if got != want:
        raise AssertionError(
            f"{name}rules {rules}, until {until}, session_timeout {session_timeout}, "
            f"zone {zone}\n"
            f"alerts only in the model: {sorted(set(want[0]) - set(got[0]))}\n"
            f"alerts only in replay: {sorted(set(got[0]) - set(want[0]))}\n"
            f"holds only in the model: {sorted(set(want[1]) - set(got[1]))}\n"
            f"holds only in replay: {sorted(set(got[1]) - set(want[1]))}")
    return got
