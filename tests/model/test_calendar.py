"""`workhours replay` against model_calendar.py: pack rules of the kinds `streak` and
`overtime` over every measure, and `minimum_wage`, with `hours`, `roles`, holds and session
timeouts, on random streams of up to three weeks; a third of them under `subject = "person"`.

A mismatch names the seed: rerun it with `MODEL_SEED=N python3 -m pytest
tests/model/test_calendar.py -q`. `MODEL_CASES` (default 300) sets how many streams run.
"""

import random

import pytest

from measures import DAY, HOUR, MINUTE, MEASURES
from model_calendar import model
from pack_case import BASE_MS, check_replay, maybe_persons, maybe_roles, random_events, seeds


def random_rules(rng):
    """One to three `streak` and `overtime` rules with random parameters."""
    rules = []
    for n in range(rng.randrange(1, 4)):
        rule = {"id": f"r{n}", "measure": rng.choice(MEASURES)}
        kind = rng.random()
        if kind < 0.4:
            rule.update(kind="streak", days=rng.choice([1, 2, 3, 7]))
        elif kind < 0.8:
            rule.update(kind="overtime", standard=rng.choice([15, 30, 60, 120]) * MINUTE,
                        limit=rng.choice([1, 30, 90, 240]) * MINUTE)
        else:
            # No measure: it reads working time.
            rule = {"id": f"r{n}", "kind": "minimum_wage",
                    "cents_per_hour": rng.choice([100, 2100, 5000])}
        if rng.random() < 0.3:
            start, end = rng.sample([0, 6, 9, 18, 22], 2)
            rule["hours"] = f"{start:02}:00-{end:02}:{rng.choice(['00', '30'])}"
        if rng.random() < 0.5 and rule["kind"] != "minimum_wage":
            rule["hold"] = True
        rules.append(rule)
    return rules


def check(tmp_path, events, rules, until=None, session_timeout=0, seed=None, persons=False):
    """Replay's alerts and holds are the model's, its alerts in order of `at`."""
    end = until if until is not None else events[-1]["ts"]
    want = model(events, rules, end, session_timeout, persons)
    check_replay(tmp_path, events, rules, want, until, session_timeout, seed, persons)


def test_a_streak_and_overtime_by_hand(tmp_path):
    """Driving 3 h on three days in a row from 2 March: a 3-day streak fires at the third
    day's first driving, held to midnight; 2 h of daily standard leaves 1 h of overtime a day,
    so the overtime reaches a 2 h limit just as the second day's driving stops, and fires when
    driving resumes on the third (section 4: work that stops at a threshold fires nothing),
    held to 1 April."""
    events = []
    for day in range(3):
        start = BASE_MS + 4 * HOUR + day * DAY + 8 * HOUR  # 08:00 local, 2 to 4 March
        events.append({"worker_id": "w", "kind": "activity", "activity": "driving", "ts": start})
        events.append({"worker_id": "w", "kind": "activity", "activity": "rest",
                       "ts": start + 3 * HOUR})
    rules = [{"id": "s", "kind": "streak", "measure": "driving", "days": 3, "hold": True},
             {"id": "o", "kind": "overtime", "measure": "driving", "standard": 2 * HOUR,
              "limit": 2 * HOUR, "hold": True}]
    third = BASE_MS + 4 * HOUR + 2 * DAY + 8 * HOUR
    alerts, holds = model(events, rules, events[-1]["ts"])
    march = BASE_MS - 20 * HOUR  # 1 March, 00:00 local
    assert alerts == sorted([
        (third, "w", "o", "violation", 7200, 7200, march),
        (third, "w", "s", "violation", 3 * 86400, 3 * 86400, third - 8 * HOUR),
    ])
    assert holds == sorted([("w", "o", third, march + 31 * DAY),
                            ("w", "s", third, third + 16 * HOUR)])
    check(tmp_path, events, rules)


@pytest.mark.parametrize("block", range(4))
def test_replay_gives_the_models_streaks_and_overtime(tmp_path, block):
    for seed in seeds(block):
        rng = random.Random(seed)
        events = random_events(rng, workers=rng.randrange(1, 3),
                               events=rng.randrange(20, 300),
                               span_minutes=rng.choice([3000, 10000, 30000]))
        rules = random_rules(rng)
        for event in events:
            if event["kind"] == "order_delivered" and rng.random() < 0.8:
                event["fee_cents"] = rng.randrange(5000)
        until = None
        if rng.random() < 0.3:
            until = events[-1]["ts"] + rng.randrange(3 * DAY // MINUTE) * MINUTE
        timeout = rng.choice([0, 0, 30 * MINUTE, 2 * HOUR])
        # Persons (SPEC section 8) in a third of the streams; `roles` on some rules.
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        check(tmp_path, events, rules, until, timeout, seed, persons)
