"""Rule packs with dispatch holds, and persons across platforms, through `workhours run` on
a real broker (issues 9 and 10): what the holds and alerts topics hold, read back with
confluent-kafka, equals what `workhours replay` gives on the same events.
"""

from __future__ import annotations

import json
import subprocess

import harness
from harness import DEAD_LETTER_TOPIC

HOLDS_TOPIC = "workhours.holds"


def replay_holds(path, config):
    """Holds of `workhours replay --config CONFIG --holds FILE PATH`: {hold_id: hold}."""
    holds_file = path.with_suffix(".holds")
    cmd = [str(harness.workhours_bin()), "replay", "--config", str(config), "--holds",
           str(holds_file), str(path)]
    out = subprocess.run(cmd, capture_output=True, check=False, env=harness.child_env())
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    holds = {}
    for line in holds_file.read_text().splitlines():
        hold = json.loads(line)
        holds[hold["hold_id"]] = hold
    return holds


def test_a_pack_with_holds_gives_replays_holds_on_the_holds_topic(stack, tmp_path):
    """cn-mohrss-2024 stops dispatch at its limits: every hold replay gives is on the holds
    topic once, byte for byte the same object, keyed by its worker."""
    stream = harness.simulate(tmp_path / "packs.jsonl", 150, 2, 7, "--mix", "packs")
    rules = {"pack": "cn-mohrss-2024"}
    config = harness.rules_config(tmp_path / "replay.toml", rules=rules)
    want = replay_holds(stream, config)
    assert len(want) >= 20, f"only {len(want)} holds in replay: the stream tests too little"

    broker = stack.broker()
    harness.InputProducer(broker).produce(harness.read_lines(stream))
    monitor = stack.monitor(broker, rules=rules).start()
    monitor.wait_ready()
    harness.settle(broker, monitor.group, [monitor])

    # The stream is months old: once the idle partitions' watermarks jump to the wall
    # clock, every hold has fired.
    records = harness.consume_all(broker, HOLDS_TOPIC)
    got = {}
    problems = []
    for r in records:
        hold = r.json()
        if hold["hold_id"] in got and got[hold["hold_id"]] != hold:
            problems.append(f"hold {hold['hold_id']} twice with different payloads")
        got[hold["hold_id"]] = hold
        if r.key != hold["worker_id"].encode():
            problems.append(f"key {r.key!r} of hold {hold['hold_id']}, want its worker_id")
    missing = [h for i, h in want.items() if i not in got]
    extra = [h for i, h in got.items() if i not in want]
    differ = [(got[i], h) for i, h in want.items() if i in got and got[i] != h]
    if missing:
        problems.append(f"{len(missing)} of replay's {len(want)} holds missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} holds replay does not give, e.g. {extra[:3]}")
    if differ:
        problems.append(f"{len(differ)} holds differ from replay's, e.g. {differ[:2]}")
    assert not problems, "\n".join(problems)
    assert monitor.metric("workhours_holds_total") >= len(want)
    # The alerts of the pack equal replay's too.
    check = harness.check_alerts(broker, stream, config=config)
    check.assert_complete()
    monitor.check_alive()


def person_key(line: bytes) -> bytes | None:
    """A regulator's topic is keyed by `person_id` (the `worker_id` where there is none)."""
    obj = json.loads(line)
    return (obj.get("person_id") or obj["worker_id"]).encode()


def test_persons_across_platforms_on_person_keyed_topics(stack, tmp_path):
    """`subject = "person"` live: alerts per person with `by_platform`, equal to replay's;
    an event keyed by its worker_id while it carries a person_id is `key_mismatch`."""
    stream = harness.simulate(tmp_path / "persons.jsonl", 120, 2, 5, "--persons", "0.4")
    lines = harness.read_lines(stream)
    rules = {"subject": "person"}
    config = harness.rules_config(tmp_path / "replay.toml", rules=rules)
    expected, _ = harness.replay(stream, config=config)
    across = [a for a in expected.values() if len(a.get("by_platform") or {}) >= 2]
    assert across, "no alert of a person working on two platforms: the stream tests too little"

    # One event keyed by its worker_id: on a person-keyed topic it would split the person.
    wrong = json.loads(lines[-1])
    assert "person_id" in wrong
    wrong["event_id"] = "wrong-key-1"
    wrong_line = json.dumps(wrong).encode()

    broker = stack.broker()
    producer = harness.InputProducer(broker)
    producer.send(lines, key_fn=person_key)
    producer.send([wrong_line], key_fn=lambda line: wrong["worker_id"].encode())
    producer.flush()
    monitor = stack.monitor(broker, rules=rules).start()
    monitor.wait_ready()
    harness.settle(broker, monitor.group, [monitor])

    check = harness.check_alerts(broker, stream, config=config)
    check.assert_complete()
    assert not check.repeated()
    differ = []
    for alert_id, [record] in check.by_id.items():
        live, want = record.json(), check.expected_hi[alert_id]
        if live != want:
            differ.append(f"live {live}\n  replay {want}")
        key = (want.get("person_id") or want.get("worker_id") or "").encode()
        if "person_id" in want and record.key != key:
            differ.append(f"key {record.key!r} of {harness.describe(want)}, want {key!r}")
    assert not differ, f"{len(differ)} alerts differ from replay's:\n" + "\n".join(differ[:5])

    dead = harness.consume_all(broker, DEAD_LETTER_TOPIC)
    assert [(r.value, r.header("reason")) for r in dead] == [(wrong_line, "key_mismatch")], \
        [(r.value[:80], r.header("reason"), r.header("detail")) for r in dead]
    assert "person_id" in dead[0].header("detail")
    monitor.check_alive()
