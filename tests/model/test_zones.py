"""The rule pack models (every kind of SPEC section 7) against `workhours replay` in zones
with DST (`[time] zone`), over a change: local days of 23 and 25 hours for `period`, the
extensions' ISO weeks of `since_rest`, the midnights of `streak`, `overtime` and
`minimum_wage`, and wall-clock `hours` whose bounds the clock skips or shows twice
(docs/pack-format.md: a bound is the first instant the clock shows it, or where it jumps
past it).

`workhours status --at` too, on the same streams, against the models' amounts at an instant.

Each stream is one of test_status_packs.py's (one to four rules of any kind, persons, roles,
a grid, copies out of order) moved in time so that its first instant is 20:00 local a few
days before one of the zone's 2026 changes; moving by whole hours keeps its grid and its
wall-clock times. The models run in that zone (`reference.in_zone`).

A mismatch names the seed: `MODEL_SEED=N python3 -m pytest tests/model/test_zones.py -q`.
"""

import datetime
import random
import zoneinfo

import pytest

from pack_case import BASE_MS, check_replay, maybe_persons, maybe_roles, seeds
from reference import MINUTE, in_zone
from test_reference import DST_CHANGES, disorder
from test_status_packs import check_status, model_holds, random_case, random_instants


def moved(rng, events, zone):
    """`events` moved so that the first instant `BASE_MS` (20:00 local) falls at 20:00 local
    zero to three days before a DST change of `zone`."""
    day = rng.choice(DST_CHANGES[zone]) - datetime.timedelta(days=rng.randrange(1, 4))
    start = datetime.datetime.combine(day, datetime.time(20), zoneinfo.ZoneInfo(zone))
    shift = int(start.timestamp()) * 1000 - BASE_MS
    return [dict(event, ts=event["ts"] + shift) for event in events]


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_alerts_and_holds_across_dst_changes(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        zone = rng.choice(sorted(DST_CHANGES))
        events, rules, session_timeout, _ = random_case(rng)
        events = moved(rng, events, zone)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        until = None
        if rng.random() < 0.3:
            until = events[-1]["ts"] + rng.randrange(3000) * MINUTE
        end = until if until is not None else events[-1]["ts"]
        with in_zone(zone):
            want = model_holds(events, rules, end, session_timeout, persons)
        read = disorder(rng, events) if seed % 2 else events
        check_replay(tmp_path, read, rules, want, until, session_timeout, seed, persons, zone)


@pytest.mark.parametrize("block", range(2))
def test_status_gives_the_models_rules_entries_across_dst_changes(tmp_path, block):
    """Half the random streams per block; three instants each, the holds once."""
    for seed in seeds(block, 2):
        rng = random.Random(seed)
        zone = rng.choice(sorted(DST_CHANGES))
        events, rules, session_timeout, grid = random_case(rng)
        events = moved(rng, events, zone)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        read = disorder(rng, events) if seed % 3 == 1 else None
        with in_zone(zone):
            instants = random_instants(rng, events, rules, session_timeout, persons, None)
        for n, at in enumerate(instants):
            check_status(tmp_path, events, rules, at, session_timeout, persons, read, seed,
                         holds_too=n == 0, zone=zone)
