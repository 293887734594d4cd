"""SPEC section 4's `alert_id` and section 5's determinism on random packs (every kind, one
to four rules, persons, roles, holds): replay's output, byte for byte, is that of the events
sorted by `ts` whatever their order within `allowed_lateness` and whatever copies arrive;
`--until T` gives exactly the whole run's alerts and holds up to `T` (an alert is the same
line whether or not later input exists, so a consumer can drop duplicates by `alert_id`);
and no two alerts (or holds) of a run share an id.

Streams are test_status_packs.py's. A mismatch names the seed:
`MODEL_SEED=N python3 -m pytest tests/model/test_determinism.py -q`.
"""

import json
import random

import pytest

from pack_case import instant, maybe_persons, maybe_roles, replay_lines, seeds
from reference import MINUTE
from test_reference import disorder
from test_status_packs import random_case


@pytest.mark.parametrize("block", range(4))
def test_alerts_are_the_same_lines_whatever_the_order_and_the_until(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, rules, session_timeout, _ = random_case(rng)
        persons = maybe_persons(rng, events)
        maybe_roles(rng, events, rules)
        name = f"seed {seed} (MODEL_SEED={seed}), rules {rules}"
        # Replay time runs to the last `ts` or a little past it (`--until`).
        end = events[-1]["ts"] + rng.choice([0, rng.randrange(600) * MINUTE])
        alerts, holds = replay_lines(tmp_path, events, rules, end, session_timeout, persons)
        ids = [json.loads(line)["alert_id"] for line in alerts]
        assert len(set(ids)) == len(ids), f"{name}: two alerts share an alert_id"
        hold_ids = [json.loads(line)["hold_id"] for line in holds]
        assert len(set(hold_ids)) == len(hold_ids), f"{name}: two holds share a hold_id"
        # Out of order within the lateness, with copies: the same bytes.
        shuffled = replay_lines(tmp_path, disorder(rng, events), rules, end, session_timeout,
                                persons)
        assert shuffled == (alerts, holds), f"{name}: out of order, other output"
        # Up to an earlier instant: the lines up to it.
        until = rng.randrange(events[0]["ts"], end + 1)
        cut = replay_lines(tmp_path, events, rules, until, session_timeout, persons)
        want = ([line for line in alerts if instant(json.loads(line)["at"]) <= until],
                [line for line in holds if instant(json.loads(line)["from"]) <= until])
        assert cut == want, f"{name}: --until {until} is not the run's prefix"
