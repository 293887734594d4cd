"""`workhours replay` reading its config against an independent model (model_config.py) of
SPEC section 6 and docs/config.md, with reference.py for the alerts.

- Durations: random valid spellings of one value (parts largest first, zero parts, spaces or
  none between them, any whitespace around, up to 36600d) in a random duration key give
  byte-identical alerts to the plain `"Nms"`, and for rule keys the model's alerts; the
  spellings docs/config.md calls errors (bare numbers, quoted or not, other units, a unit
  twice or out of order, a tab between parts, more than 36600d, wrong TOML types) stop replay
  with a message naming the key (or the variable), never a panic; the spellings the docs
  leave open are only required not to panic and, if taken, to mean what they plainly say.
- Resolution: random configs overriding random rule keys in `[rules]`, in platform tables
  (quoted names, case-sensitive names) and in role tables, some from the environment
  (`WORKHOURS_RULES__PLATFORM__NAME__KEY`, any case), over streams whose workers change
  platform and role after their first event: replay's alerts are reference.py's with each
  worker's rules resolved by the model (role over platform over `[rules]`, the first event's
  platform and role; `quota_p90` by its group's), or, when some rule set an event could select
  is inconsistent, replay refuses to start naming a key.
- `[time] zone` and `allowed_lateness`, from the file or the environment, on streams read out
  of order: the late count of replay's summary and the alerts in that zone.
- `pack` and `pack_file` per platform and role (docs/config.md `rules.pack_file`).
- Hand cases: the start-up checks of docs/config.md, one by one.

A mismatch names the seed: `MODEL_SEED=N python3 -m pytest test_config.py -q`; `MODEL_CASES`
(default 300) sets how many random cases each random test checks (split in blocks).

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import json
import os
import random
import re
import subprocess

import pytest

from model_config import (DURATION_KEYS, INTEGER_KEYS, LIVE_KEYS, NOT_ZERO, RULE_KEYS,
                          TIME_KEYS, Invalid, Raw, Unstated, check, config_toml, env_name,
                          merged, pack_in_force, parse_duration, resolve, spell, toml_key)
from pack_case import BASE_MS, BIN, seeds
from reference import DAY, HOUR, MINUTE, alerts, in_zone
from test_reference import as_model

KINDS = (["login"] * 5 + ["logout"] * 4 + ["break_start", "break_end"]
         + ["order_accepted"] * 2 + ["order_picked_up", "order_delivered", "order_delivered",
                                     "order_cancelled", "heartbeat"])
# Platforms and roles of the events (None: the field left out) and of the config's tables:
# "didi" and "Driver" name no table (names match exactly), "mei.tuan" needs quoting.
EVENT_PLATFORMS = [None, "p1", "p2", "mei.tuan", "DiDi", "didi"]
EVENT_ROLES = [None, "rider", "driver", "trucker", "Driver"]
TABLE_PLATFORMS = ["p1", "p2", "mei.tuan", "DiDi", "unknown"]
TABLE_ROLES = ["rider", "driver", "trucker"]


def run(tmp_path, config_text, events, env=None, cwd=None, read=None):
    """`workhours replay --config` of `config_text` (None: no `--config`) over `events` (as
    read: `read`, else `events`), with `env` (name → value) as the only `WORKHOURS_`
    variables; the finished process."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in read or events))
    command = [BIN, "replay"]
    if config_text is not None:
        (tmp_path / "config.toml").write_text(config_text)
        command += ["--config", str(tmp_path / "config.toml")]
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("WORKHOURS_")}
    environ.update(env or {})
    return subprocess.run(command + [str(tmp_path / "in.jsonl")], capture_output=True,
                          text=True, check=False, env=environ, cwd=cwd)


def refused(done, *names):
    """`done` stopped at start with a clear message naming one of `names`: non-zero, not a
    panic."""
    assert done.returncode not in (0, 101), (done.returncode, done.stderr[-2000:])
    assert "panicked" not in done.stderr, done.stderr
    assert any(name in done.stderr for name in names), (names, done.stderr)


def ran(done):
    """`done` ran through; its alerts as the model's tuples."""
    assert done.returncode == 0, done.stderr
    return [as_model(json.loads(line)) for line in done.stdout.splitlines()]


def random_stream(rng, workers=None, count=None):
    """Valid events in `ts` order: a few workers over hours to days, each first event's
    platform and role random, later events carrying other ones now and then."""
    workers = workers or rng.randrange(1, 9)
    home = {w: (rng.choice(EVENT_PLATFORMS), rng.choice(EVENT_ROLES)) for w in range(workers)}
    span = rng.choice([300, 1500, 3000, 6000])
    events = []
    for _ in range(count or rng.randrange(5, 120)):
        worker = rng.randrange(workers)
        ts = (BASE_MS + rng.randrange(span) * MINUTE
              + rng.choice([0, 0, 0, 1, 999, rng.randrange(MINUTE)]))
        event = {"worker_id": f"w{worker}", "kind": rng.choice(KINDS), "ts": ts}
        if event["kind"].startswith("order"):
            event["order_id"] = f"o{rng.randrange(3)}"
        if event["kind"] == "order_delivered" and rng.random() < 0.8:
            event["fee_cents"] = rng.randrange(3000)
        platform, role = home[worker]
        if rng.random() < 0.3:
            platform, role = rng.choice(EVENT_PLATFORMS), rng.choice(EVENT_ROLES)
        if platform is not None:
            event["platform"] = platform
        if role is not None:
            event["role"] = role
        if rng.random() < 0.3:
            event["city"] = "c1"
        events.append(event)
    events.sort(key=lambda e: e["ts"])
    return events


def model_alerts(events, config, zone=None, end=None):
    """reference.py's alerts of `events` (in `ts` order) with each worker's rules resolved by
    model_config.py from `config` (file and environment merged)."""
    with in_zone(None if zone in (None, "Asia/Shanghai") else zone):
        return alerts(events, lambda p, r: resolve(config, p, r),
                      end if end is not None else events[-1]["ts"])


def compare(got, want, what):
    """The alerts are the same (as sets of tuples, replay's in order of `at`)."""
    assert [a[0] for a in got] == sorted(a[0] for a in got), f"{what}: out of order"
    if sorted(got) != want:
        raise AssertionError(f"{what}\nonly in the model: {sorted(set(want) - set(got))}\n"
                             f"only in replay: {sorted(set(got) - set(want))}")


def random_rule_value(rng, key):
    """A random value of a rule key: durations in ms (sometimes off the minute), rarely 0."""
    if key == "minimum_wage_cents_per_hour":
        return rng.choice([0, 1000, 2100, 5000])
    if key == "quota_min_workers":
        return rng.choice([0, 1, 2, 3, 10])
    if key in NOT_ZERO and rng.random() < 0.02:
        return 0
    table = {"min_break": [5, 10, 20, 30, 45], "continuous_limit": [30, 60, 90, 120, 240],
               "warn_before": [1, 10, 15, 29, 59], "session_timeout": [0, 0, 15, 30, 60],
               "daily_standard": [60, 120, 180, 300, 480],
               "daily_max": [120, 180, 240, 360, 660], "weekly_max": [300, 600, 1200, 2640],
               "monthly_overtime_max": [60, 120, 240, 2160]}
    value = rng.choice(table[key]) * MINUTE
    if value and rng.random() < 0.3:
        value += rng.choice([1, 999, rng.randrange(MINUTE)])
    return value


def random_overrides(rng, share):
    """Some rule keys, each with probability `share`, with random values."""
    return {key: random_rule_value(rng, key) for key in RULE_KEYS if rng.random() < share}


# --- Durations ------------------------------------------------------------------------------

# Where a duration can go: (dotted path as a list, whether it is a rule key of the workers).
def duration_places():
    """Every duration key of docs/config.md the tests write: the rule keys in `[rules]`, in a
    platform's and in a role's table, and `[time]`'s and `[live]`'s."""
    places = [["rules", key] for key in DURATION_KEYS]
    places += [["rules", "platform", "p1", key] for key in DURATION_KEYS]
    places += [["rules", "role", "driver", key] for key in DURATION_KEYS]
    places += [["time", key] for key in TIME_KEYS] + [["time", "worker_ttl"]]
    places += [["live", key] for key in LIVE_KEYS]
    return places


PLACES = duration_places()


def valid_value(rng, path):
    """A value (ms) that the start-up checks accept at `path` with the other keys at their
    defaults, small or large."""
    key = path[-1]
    large = rng.random() < 0.2
    if key == "warn_before":
        return rng.randrange(1, 4 * HOUR)
    if key == "continuous_limit":
        return rng.randrange(15 * MINUTE + 1, 36600 * DAY if large else 6 * HOUR)
    if key == "daily_standard":
        return rng.randrange(1, 11 * HOUR + 1)
    if key == "daily_max":
        return rng.randrange(8 * HOUR, 36600 * DAY + 1 if large else 16 * HOUR)
    if key in ("dedup_window", "worker_ttl", "idle_timeout", "commit_interval",
               "delivery_timeout"):
        return rng.randrange(1, 36600 * DAY + 1 if large else 3 * DAY)
    low = 1 if key in NOT_ZERO else 0
    return rng.randrange(low, 36600 * DAY + 1 if large else 50 * HOUR)


def nested(path, value):
    """A config dict setting the key at `path` (a list) to `value`."""
    config = value
    for part in reversed(path):
        config = {part: config}
    return config


def with_spelling(path, text):
    """TOML text setting `path` to the string `text` (escaped), nothing else."""
    table = ".".join(toml_key(p) for p in path[:-1])
    escaped = json.dumps(text)
    return f"[{table}]\n{path[-1]} = {escaped}\n"


@pytest.mark.parametrize("block", range(4))
def test_spellings_of_one_duration_give_the_same_alerts(tmp_path, block):
    """Two random valid spellings of one value, at a random duration key (in the file or the
    environment), give byte-identical alerts to the plain `"Nms"` spelling, and for a rule key
    the model's alerts."""
    for seed in seeds(block):
        rng = random.Random(seed)
        path = rng.choice(PLACES)
        value = valid_value(rng, path)
        events = random_stream(rng)
        plain = run(tmp_path, with_spelling(path, f"{value}ms"), events)
        assert plain.returncode == 0, f"seed {seed}: {path} {value}ms: {plain.stderr}"
        for _ in range(2):
            text = spell(rng, value)
            if rng.random() < 0.3:
                # From the environment, as written in TOML (docs/config.md, step 4).
                done = run(tmp_path, None, events, {env_name(path, rng): text})
            else:
                done = run(tmp_path, with_spelling(path, text), events)
            assert done.returncode == 0, f"seed {seed}: {path} = {text!r}: {done.stderr}"
            assert done.stdout == plain.stdout, f"seed {seed}: {path} = {text!r} vs {value}ms"
        if path[0] == "rules":
            config = nested(path, value)
            compare(ran(plain), model_alerts(events, config), f"seed {seed}: {path} {value}")


def invalid_spelling(rng):
    """A duration docs/config.md calls an error, as TOML (a `Raw` for a wrong type)."""
    number = rng.choice([0, 1, 20, 90, 3600])
    unit = rng.choice(["ms", "s", "m", "h", "d"])
    choices = [
        str(number),                                       # bare, quoted
        Raw(str(number)),                                  # bare, a TOML integer
        Raw(rng.choice(["1.5", "true", '["20m"]', "20.0"])),  # not a string
        f"{number} minutes", f"{number}min", f"{number}H", f"{number}y", f"{number}us",
        f"{number}{unit}{number}{unit}",                   # a unit twice
        f"{number}m {number}h", f"5ms {number}s", f"{number}s{number}m",  # out of order
        "1h\t30m", "1h\n30m",                             # not spaces between parts
        f"{36600 + rng.randrange(1, 10**6)}d", "36600d 1ms", f"{36600 * 24 + 1}h",
        "99999999999999999999999s", "1h30",
    ]
    return rng.choice(choices)


def unstated_spelling(rng):
    """A duration on which docs/config.md is silent."""
    return rng.choice(["", " ", "\t", "-5m", "+5m", "1.5h", "0.5m", "0020m", "00s", "20 m",
                       "1 h 30 m", "２０m", "1_000s", "1h,30m"])


@pytest.mark.parametrize("block", range(2))
def test_invalid_durations_stop_replay_naming_the_key(tmp_path, block):
    """A duration the docs call an error, in the file or in the environment, at a random
    duration key: replay exits non-zero (no panic) naming the key's dotted path or the
    variable. Spellings the docs leave open: no panic, and if taken, their plain value."""
    events = random_stream(random.Random(0), workers=3, count=60)
    for seed in seeds(block, 8):
        rng = random.Random(seed)
        path = rng.choice(PLACES)
        from_env = rng.random() < 0.3
        text = invalid_spelling(rng) if rng.random() < 0.7 else unstated_spelling(rng)
        if from_env and isinstance(text, Raw):
            text = str(text)
        try:
            parse_duration(text)
            stated = True
        except Invalid:
            stated = False
        except Unstated as open_:
            stated = None
            natural = open_.natural
        if isinstance(text, Raw):
            stated = False
        assert stated is not True, text
        if from_env:
            name = env_name(path, rng)
            done = run(tmp_path, None, events, {name: text})
            names = (name,)
        else:
            table = ".".join(toml_key(p) for p in path[:-1])
            value = text if isinstance(text, Raw) else json.dumps(text)
            done = run(tmp_path, f"[{table}]\n{path[-1]} = {value}\n", events)
            names = (".".join(path),)
        what = f"seed {seed}: {path} = {text!r}{' (env)' if from_env else ''}"
        if stated is False:
            refused(done, *names)
            continue
        assert done.returncode != 101 and "panicked" not in done.stderr, what
        if done.returncode == 0 and natural is not None:
            plain = run(tmp_path, with_spelling(path, f"{natural}ms"), events)
            assert plain.returncode != 0 or done.stdout == plain.stdout, what


# --- Resolution -----------------------------------------------------------------------------

def random_config(rng):
    """Random rules: `[rules]` and some platform and role tables overriding random keys."""
    rules = random_overrides(rng, 0.4)
    platforms = {name: random_overrides(rng, 0.3)
                 for name in rng.sample(TABLE_PLATFORMS, rng.randrange(len(TABLE_PLATFORMS)))}
    roles = {name: random_overrides(rng, 0.3)
             for name in rng.sample(TABLE_ROLES, rng.randrange(len(TABLE_ROLES) + 1))}
    if platforms:
        rules["platform"] = platforms
    if roles:
        rules["role"] = roles
    return {"rules": rules}


def split_env(rng, config):
    """Moves some keys of `config` to the environment (some also left in the file with
    another value, which the environment's replaces): (file config, env)."""
    env = {}
    rules = config["rules"]
    tables = [(["rules"], rules)]
    for kind in ("platform", "role"):
        for name, keys in rules.get(kind, {}).items():
            if name != "mei.tuan":
                tables.append((["rules", kind, name], keys))
    for path, table in tables:
        for key in [k for k in table if k in RULE_KEYS]:
            if rng.random() < 0.25:
                value = table[key]
                env[env_name(path + [key], rng)] = (
                    str(value) if key in INTEGER_KEYS else spell(rng, value))
                if rng.random() < 0.5:
                    table[key] = random_rule_value(rng, key)
                else:
                    del table[key]
    # A table only the environment names (docs/config.md: a variable may create one).
    if rng.random() < 0.2 and "p2" not in rules.get("platform", {}):
        env[env_name(["rules", "platform", "p2", "continuous_limit"], rng)] = "45m"
    return config, env


@pytest.mark.parametrize("block", range(4))
def test_each_worker_gets_the_rules_of_their_first_events_platform_and_role(tmp_path, block):
    """Random configs (some keys from the environment) over random streams: replay's alerts are
    the model's with each worker's resolved rules, or replay refuses a config whose rule sets
    the model finds inconsistent, naming a key."""
    for seed in seeds(block):
        rng = random.Random(seed)
        for _ in range(5):
            config = random_config(rng)
            if not check(config) or rng.random() < 0.2:
                break
        events = random_stream(rng)
        file_config, env = split_env(rng, json.loads(json.dumps(config)))
        text = config_toml(file_config, rng)
        full = merged(file_config, env)
        assert resolve(full, "p1", "driver") == resolve(config, "p1", "driver")
        done = run(tmp_path, text, events, env)
        what = f"seed {seed}: env {env}\n{text}"
        problems = check(full)
        if problems:
            refused(done, *[key for keys, _ in problems for key in keys])
            continue
        compare(ran(done), model_alerts(events, full), what)


# --- [time] zone and allowed_lateness -------------------------------------------------------

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"]


def late_count(events, lateness):
    """SPEC section 5: events read with `ts` below the largest `ts` read before, minus
    `lateness`, are late; the others, in `ts` order (stable), and how many were late."""
    largest, late, kept = None, 0, []
    for event in events:
        if largest is not None and event["ts"] < largest - lateness:
            late += 1
            continue
        kept.append(event)
        largest = event["ts"] if largest is None else max(largest, event["ts"])
    return sorted(kept, key=lambda e: e["ts"]), late


@pytest.mark.parametrize("block", range(2))
def test_zone_and_lateness_from_the_file_or_the_environment(tmp_path, block):
    """`[time] zone` and `allowed_lateness` in the file, the environment, or both (the
    environment's winning), on a stream read with delays: the summary's late count and the
    alerts (in the zone, of the events not late) are the model's."""
    for seed in seeds(block, 4):
        rng = random.Random(seed)
        zone_file, zone_env = rng.choice(ZONES + [None]), rng.choice(ZONES + [None] * 3)
        late_file = rng.choice([None, rng.randrange(0, 10 * MINUTE)])
        late_env = rng.choice([None, None, rng.randrange(0, 10 * MINUTE)])
        events = random_stream(rng)
        read = sorted(events, key=lambda e: e["ts"] + rng.choice([0, 0, rng.randrange(
            15 * MINUTE)]))
        time_table = {}
        if zone_file:
            time_table["zone"] = zone_file
        if late_file is not None:
            time_table["allowed_lateness"] = late_file
        config = {"rules": {"continuous_limit": HOUR, "warn_before": 10 * MINUTE,
                            "daily_standard": 2 * HOUR, "daily_max": 3 * HOUR,
                            "quota_min_workers": 1}, "time": time_table}
        env = {}
        if zone_env:
            env[env_name(["time", "zone"], rng)] = zone_env
        if late_env is not None:
            env[env_name(["time", "allowed_lateness"], rng)] = spell(rng, late_env)
        zone = zone_env or zone_file or "Asia/Shanghai"
        lateness = late_env if late_env is not None else (
            late_file if late_file is not None else 30_000)
        kept, late = late_count(read, lateness)
        done = run(tmp_path, config_toml(config, rng), events, env, read=read)
        what = f"seed {seed}: zone {zone}, lateness {lateness}, env {env}"
        got = ran(done)
        found = re.search(r"late \(dropped\)\s+(\d+)", done.stderr)
        assert found and int(found.group(1)) == late, f"{what}: {found and found.group(0)}"
        if kept:
            compare(got, model_alerts(kept, config, zone, kept[-1]["ts"]), what)


# --- pack and pack_file ---------------------------------------------------------------------

def pack_file_text(name, rule_id, limit):
    """A pack of one `continuous` rule on work, `rule_id`, limit `limit`."""
    return (f'name = "{name}"\ntitle = "{name}"\nsource = "tests/model"\n\n[[rules]]\n'
            f'id = "{rule_id}"\nkind = "continuous"\nmeasure = "work"\nlimit = "{limit}"\n'
            f'break = "20m"\n')


# The rule ids a worker logged in for 5 h gets under each pack: didi-2018 measures orders
# and billed time (none here), the files one rule each.
PACK_RULES = {("pack", "cn-weihai-2022"): {"continuous_work"}, ("pack", "didi-2018"): set(),
              ("file", "pa.toml"): {"ra"}, ("file", "pb.toml"): {"rb"}}


@pytest.mark.parametrize("block", range(2))
def test_pack_and_pack_file_by_platform_and_role(tmp_path, block):
    """Random `pack` and `pack_file` settings in `[rules]`, platform and role tables (relative
    files beside the config, replay run elsewhere): each worker gets the rules of the pack the
    model puts in force, or replay refuses a table that sets both."""
    (tmp_path / "pa.toml").write_text(pack_file_text("pa", "ra", "1h"))
    (tmp_path / "pb.toml").write_text(pack_file_text("pb", "rb", "2h"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    for seed in seeds(block, 4):
        rng = random.Random(seed)

        def table():
            keys = {}
            if rng.random() < 0.5:
                keys["pack"] = rng.choice(["cn-weihai-2022", "didi-2018"])
            if rng.random() < 0.5:
                keys["pack_file"] = rng.choice(["pa.toml", "pb.toml", ""])
            return keys

        rules = table()
        rules["platform"] = {p: table() for p in ["p1", "p2"]}
        rules["role"] = {r: table() for r in ["driver"]}
        config = {"rules": rules}
        env = {}
        if rng.random() < 0.3:
            env[env_name(["rules", "role", "driver", "pack_file"], rng)] = rng.choice(
                ["pa.toml", "pb.toml", ""])
        full = merged(config, env)
        events = []
        groups = [(p, r) for p in ["p1", "p2", "p3"] for r in ["driver", "rider"]]
        for n, (platform, role) in enumerate(groups):
            for kind, at in (("login", 0), ("logout", 5 * HOUR)):
                events.append({"worker_id": f"w{n}", "kind": kind, "ts": BASE_MS + at,
                               "platform": platform, "role": role})
        events.sort(key=lambda e: e["ts"])
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        done = run(tmp_path, config_toml(config, rng), events, env, cwd=elsewhere)
        what = f"seed {seed}: env {env}\n{config_toml(config)}"
        want, unsure = {}, False
        try:
            for n, (platform, role) in enumerate(groups):
                want[f"w{n}"] = PACK_RULES[pack_in_force(full, platform, role)]
            for platform, role in [(None, None), (None, "driver")] + [
                    (p, r) for p in ["p1", "p2"] for r in [None, "driver"]]:
                pack_in_force(full, platform, role)
        except Invalid:
            refused(done, "pack")
            continue
        except Unstated:
            unsure = True
        if unsure:
            assert done.returncode != 101 and "panicked" not in done.stderr, what
            continue
        assert done.returncode == 0, f"{what}\n{done.stderr}"
        got = {f"w{n}": set() for n in range(len(groups))}
        for line in done.stdout.splitlines():
            alert = json.loads(line)
            got[alert["worker_id"]].add(alert["rule"])
        assert got == want, what


# --- Start-up checks by hand ----------------------------------------------------------------

# docs/config.md "Start-up checks" and "Environment variables": (file, env, a word the message
# must hold).
REFUSED = [
    ("[rules]\nmin_brake = \"20m\"\n", {}, "min_brake"),
    ("[time]\nzone_name = \"UTC\"\n", {}, "zone_name"),
    ("[rules.platform.p1]\nsubject = \"person\"\n", {}, "subject"),
    ("[rules.platform.mei.tuan]\nmin_break = \"5m\"\n", {}, "rules.platform.mei"),
    ("[live]\nmax_delay = \"2s\"\n", {}, "max_delay"),
    ("", {"WORKHOURS_RULES__MIN_BRAKE": "20m"}, "WORKHOURS_RULES__MIN_BRAKE"),
    ("", {"WORKHOURS_KAFKA_BROKERS": "k:9092"}, "WORKHOURS_KAFKA_BROKERS"),
    ("", {"WORKHOURS_RULES__DAILY_MAX": "9h", "workhours_rules__daily_max": "10h"},
     "daily_max"),
    ("[rules]\nmin_break = 20\n", {}, "rules.min_break"),
    ("[rules]\nmin_break = 1.5\n", {}, "rules.min_break"),
    ("[rules]\nquota_min_workers = \"10\"\n", {}, "rules.quota_min_workers"),
    ("[rules]\nminimum_wage_cents_per_hour = 21.5\n", {}, "rules.minimum_wage_cents_per_hour"),
    ("", {"WORKHOURS_RULES__QUOTA_MIN_WORKERS": "ten"}, "WORKHOURS_RULES__QUOTA_MIN_WORKERS"),
    ("[time]\nzone = \"Mars/Olympus\"\n", {}, "time.zone"),
    ("[time]\nzone = \"+08:00\"\n", {}, "time.zone"),
    ("", {"WORKHOURS_TIME__ZONE": "Asia/Shanghia"}, "WORKHOURS_TIME__ZONE"),
    ("[rules]\nwarn_before = \"4h\"\n", {}, "warn_before"),
    ("[rules]\nwarn_before = \"5h\"\n", {}, "warn_before"),
    ("[rules]\ndaily_standard = \"12h\"\n", {}, "daily_standard"),
    ("[rules.role.driver]\ndaily_max = \"7h\"\n", {}, "daily_max"),
    ("[rules.platform.p1]\ncontinuous_limit = \"2h\"\n[rules.role.driver]\nwarn_before = \"3h\"\n",
     {}, "warn_before"),
    ("", {"WORKHOURS_RULES__PLATFORM__P1__CONTINUOUS_LIMIT": "10m"}, "continuous_limit"),
    ("[rules]\nweekly_max = \"0s\"\n", {}, "weekly_max"),
    ("[rules.role.x]\nmin_break = \"0ms\"\n", {}, "min_break"),
    ("[time]\ndedup_window = \"0s\"\n", {}, "dedup_window"),
    (f"[rules.platform.{'x' * 65}]\nmin_break = \"5m\"\n", {}, "x" * 65),
    ("[rules.platform.\"a/b\"]\nmin_break = \"5m\"\n", {}, "a/b"),
    ("[rules]\npack = \"didi-2018\"\npack_file = \"pa.toml\"\n", {}, "pack"),
    ("[rules]\npack = \"no-such-pack\"\n", {}, "no-such-pack"),
    ("[rules]\npack_file = \"pa.toml\"\n", {"WORKHOURS_RULES__PACK": "eu-561"}, "pack"),
    ("[rules]\nmin_break = \"20m\"\n[rules]\n", {}, "rules"),
]

# Edges the docs call valid.
ACCEPTED = [
    ("[rules]\ndaily_standard = \"11h\"\ndaily_max = \"11h\"\n", {}),
    ("[rules]\nsession_timeout = \"0s\"\nminimum_wage_cents_per_hour = 0\n"
     "quota_min_workers = 0\n", {}),
    ("[rules]\nweekly_max = \"36600d\"\nmonthly_overtime_max = \"36599d 24h\"\n", {}),
    ("[rules]\nwarn_before = \"3h 59m 59s 999ms\"\n", {}),
    ("", {"WORKHOURS_RULES__PLATFORM__nobody__MIN_BREAK": "5m"}),
    ("[rules]\npack = \"cn-weihai-2022\"\npack_file = \"pa.toml\"\n", {}),
    ("[rules]\npack = \"didi-2018\"\npack_file = \"\"\n", {}),
    ("[rules]\npack_file = \"pa.toml\"\n",
     {"WORKHOURS_RULES__PACK": "eu-561", "WORKHOURS_RULES__PACK_FILE": ""}),
    ("[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\n", {"WORKHOURS_PROGRESS": "0"}),
]


@pytest.mark.parametrize("case", range(len(REFUSED)))
def test_start_up_checks_refuse_with_a_message_naming_the_key(tmp_path, case):
    """Each refusal docs/config.md lists: non-zero, no panic, the key or variable named."""
    text, env, word = REFUSED[case]
    (tmp_path / "pa.toml").write_text(pack_file_text("pa", "ra", "1h"))
    events = random_stream(random.Random(1), workers=2, count=20)
    refused(run(tmp_path, text, events, env), word)


@pytest.mark.parametrize("case", range(len(ACCEPTED)))
def test_edges_the_docs_allow_are_accepted(tmp_path, case):
    """Values at the edge of the checks, which the docs allow, start."""
    text, env = ACCEPTED[case]
    (tmp_path / "pa.toml").write_text(pack_file_text("pa", "ra", "1h"))
    events = random_stream(random.Random(1), workers=2, count=20)
    ran(run(tmp_path, text, events, env))


def test_the_model_resolves_role_over_platform_over_rules():
    """The model by hand: SPEC section 6's order, names matched exactly."""
    config = {"rules": {"min_break": "30m", "platform": {"p1": {"min_break": "10m",
                                                                 "daily_max": "9h"}},
                        "role": {"driver": {"min_break": "5m"}}}}
    assert resolve(config, "p1", "driver").min_break == 5 * MINUTE
    assert resolve(config, "p1", "driver").daily_max == 9 * HOUR
    assert resolve(config, "p1", "rider").min_break == 10 * MINUTE
    assert resolve(config, "P1", "Driver").min_break == 30 * MINUTE
    assert parse_duration(" 3h 45m\n") == parse_duration("1h165m") == 225 * MINUTE
    assert parse_duration("1d") == 24 * HOUR


def test_a_workers_rules_come_from_the_first_event_not_a_later_one(tmp_path):
    """By hand: w logs in on p1 (continuous_limit 1 h), then sends events on p2 (2 h): the
    violation comes at 1 h, and carries p2, the platform last seen."""
    config = "[rules.platform.p1]\ncontinuous_limit = \"1h\"\n" \
             "[rules.platform.p2]\ncontinuous_limit = \"2h\"\n"
    events = [{"worker_id": "w", "kind": "login", "ts": BASE_MS, "platform": "p1"},
              {"worker_id": "w", "kind": "heartbeat", "ts": BASE_MS + 1, "platform": "p2"},
              {"worker_id": "w", "kind": "logout", "ts": BASE_MS + 3 * HOUR, "platform": "p2"}]
    done = run(tmp_path, config, events)
    assert done.returncode == 0, done.stderr
    violations = [json.loads(line) for line in done.stdout.splitlines()
                  if '"violation"' in line and "continuous_work" in line]
    assert [(v["limit_seconds"], v["platform"]) for v in violations] == [(3600, "p2")]


def test_default_pack_beside_a_file(tmp_path):
    """docs/config.md `rules.pack_file`: in `[rules]`, `pack = "cn-weihai-2022"` beside a file
    counts as not set (the file is the pack); in a platform's table it names the default pack
    on purpose, so beside a file there it is an error, naming the table's key."""
    (tmp_path / "pa.toml").write_text(pack_file_text("pa", "ra", "1h"))
    file = f'pack_file = "{tmp_path / "pa.toml"}"\n'
    events = [{"worker_id": "w", "kind": "login", "ts": BASE_MS, "platform": "p1"},
              {"worker_id": "w", "kind": "logout", "ts": BASE_MS + 2 * HOUR, "platform": "p1"}]
    top = '[rules]\npack = "cn-weihai-2022"\n' + file
    assert [a[2] for a in ran(run(tmp_path, top, events))] == ["ra"]
    below = '[rules.platform.p1]\npack = "cn-weihai-2022"\n' + file
    refused(run(tmp_path, below, events), "rules.platform.p1.pack_file")


def hand_rules_case(tmp_path, events, read=None):
    """The `continuous_work` violations' limits of `events` (read as `read`) under a config
    whose p1 workers have a 1 h limit and p2 workers 2 h."""
    config = "[rules.platform.p1]\ncontinuous_limit = \"1h\"\n" \
             "[rules.platform.p2]\ncontinuous_limit = \"2h\"\n"
    done = run(tmp_path, config, events, read=read)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["limit_seconds"] for line in done.stdout.splitlines()
            if '"violation"' in line and "continuous_work" in line]


def test_a_bad_first_event_does_not_choose_the_rules(tmp_path):
    """SPEC section 2: a bad event never changes a worker's state; the first valid event (p2)
    chooses the rules, not a bad one before it carrying p1 (with `fee_cents` -5)."""
    events = [{"worker_id": "w", "kind": "heartbeat", "ts": BASE_MS, "platform": "p1",
               "fee_cents": -5},
              {"worker_id": "w", "kind": "login", "ts": BASE_MS + 1, "platform": "p2"},
              {"worker_id": "w", "kind": "logout", "ts": BASE_MS + 3 * HOUR, "platform": "p1"}]
    assert hand_rules_case(tmp_path, events) == [7200]


def test_the_first_event_is_the_first_by_ts_and_of_one_ts_the_first_read(tmp_path):
    """SPEC section 5: within `allowed_lateness` the alerts are those of the events sorted by
    `ts` (equal `ts` in input order): w's event on p1 read 10 s after its later one on p2 is
    still its first; v's two events of one `ts` choose by input order."""
    events = [{"worker_id": "w", "kind": "login", "ts": BASE_MS, "platform": "p1"},
              {"worker_id": "w", "kind": "heartbeat", "ts": BASE_MS + 10_000, "platform": "p2"},
              {"worker_id": "w", "kind": "logout", "ts": BASE_MS + 3 * HOUR, "platform": "p2"}]
    assert hand_rules_case(tmp_path, events, [events[1], events[0], events[2]]) == [3600]
    events = [{"worker_id": "v", "kind": "login", "ts": BASE_MS, "platform": "p2"},
              {"worker_id": "v", "kind": "heartbeat", "ts": BASE_MS, "platform": "p1"},
              {"worker_id": "v", "kind": "logout", "ts": BASE_MS + 3 * HOUR, "platform": "p1"}]
    assert hand_rules_case(tmp_path, events) == [7200]


def test_rules_daily_max_from_the_environment_wins_over_the_file(tmp_path):
    """`WORKHOURS_RULES__DAILY_MAX=9h` beside the file's `daily_max = "11h"`: the daily
    violation comes after 9 h of work (docs/config.md: the environment is applied last)."""
    events = [{"worker_id": "w", "kind": "login", "ts": BASE_MS + 4 * HOUR},
              {"worker_id": "w", "kind": "logout", "ts": BASE_MS + 14 * HOUR}]
    done = run(tmp_path, '[rules]\ndaily_max = "11h"\n', events,
               {"WORKHOURS_RULES__DAILY_MAX": "9h"})
    daily = [a for a in ran(done) if a[2:4] == ("daily_hours", "violation")]
    assert daily == [(BASE_MS + 13 * HOUR, "w", "daily_hours", "violation", 32400, 32400,
                      BASE_MS + 4 * HOUR)]
