"""Self-test of the harness against Tansu, with no `workhours run`: brokers, topics,
keyed production, reading back with headers, committed offsets, and a file-backed broker
that keeps its data and its groups' offsets across a restart on the same port."""

import json
import uuid

import harness
from confluent_kafka import Consumer, Producer, TopicPartition


def lines(n, workers=50):
    return [json.dumps({"worker_id": f"w-{i % workers:03d}", "kind": "heartbeat",
                        "ts": "2026-03-02T08:00:00+08:00", "event_id": f"e{i}"}).encode()
            for i in range(n)]


def test_memory_broker_topics_produce_consume(stack):
    broker = stack.broker("memory")
    assert broker.startup_seconds < 10, f"tansu took {broker.startup_seconds:.1f}s to answer"
    for topic, n in [(harness.INPUT_TOPIC, 6), (harness.ALERTS_TOPIC, 6),
                     (harness.DEAD_LETTER_TOPIC, 2), (harness.STATE_TOPIC, 6)]:
        assert broker.partitions(topic) == n, topic

    data = lines(3000) + [b"not json", b'["an", "array"]']
    p = harness.InputProducer(broker)
    p.produce(data)
    assert len(p.delivered) == len(data)
    assert sum(broker.high_watermarks(harness.INPUT_TOPIC).values()) == len(data)

    got = harness.consume_all(broker, harness.INPUT_TOPIC, quiet=0.5)
    assert sorted(r.value for r in got) == sorted(data)
    by_key = {}
    for r in got:
        by_key.setdefault(r.key, set()).add(r.partition)
    # Keyed records only: librdkafka spreads records without a key at random (sticky for
    # `sticky.partitioning.linger.ms`, so the two here usually, not always, share one).
    spread = [k for k, ps in by_key.items() if k is not None and len(ps) > 1]
    assert not spread, f"keys spread over partitions: {spread}"
    assert len([k for k in by_key if k is not None]) == 50
    assert {r.value for r in got if r.key is None} == {b"not json", b'["an", "array"]'}
    # Offsets the producer saw are the ones the consumer reads.
    seen = {(d.partition, d.offset): d.value for d in p.delivered}
    assert all(seen[(r.partition, r.offset)] == r.value for r in got)

    # Headers round-trip (the dead-letter contract is carried in headers).
    prod = Producer(harness.client_conf(broker.bootstrap))
    prod.produce(harness.DEAD_LETTER_TOPIC, key=b"k", value=b"\xff\xfe raw",
                 headers=[("reason", b"not_utf8"), ("source_offset", b"17")])
    assert prod.flush(10) == 0
    [dl] = harness.consume_all(broker, harness.DEAD_LETTER_TOPIC, quiet=0.5)
    assert (dl.key, dl.value, dl.header("reason"), dl.header("source_offset")) == \
        (b"k", b"\xff\xfe raw", "not_utf8", "17")

    # Committed offsets of a group, read from outside the group, and the lag derived from them.
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = Consumer(harness.client_conf(broker.bootstrap, **{
        "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 20}))
    c.subscribe([harness.INPUT_TOPIC])
    n = 0
    while n < len(data):
        for m in c.consume(1000, 0.1):
            assert not m.error(), m.error()
            n += 1
    c.commit(asynchronous=False)
    c.close()
    assert broker.lag(group, harness.INPUT_TOPIC) == 0
    assert broker.committed(group, harness.INPUT_TOPIC) == broker.high_watermarks(harness.INPUT_TOPIC)


def test_sqlite_broker_survives_restart(stack):
    broker = stack.broker("sqlite")
    port = broker.port
    first = lines(500)
    harness.InputProducer(broker).produce(first)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = Consumer(harness.client_conf(broker.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[TopicPartition(harness.INPUT_TOPIC, 0, 3)], asynchronous=False)
    c.close()

    # A producer that keeps running across the restart delivers what it was given while the
    # broker was down.
    p = harness.InputProducer(broker)
    broker.stop()
    assert not harness.port_open(port)
    second = lines(300, workers=7)
    p.send(second)
    broker.start()
    assert broker.port == port and broker.starts == 2
    p.flush(60)

    got = harness.consume_all(broker, harness.INPUT_TOPIC, quiet=0.5)
    assert len(got) == len(first) + len(second)
    assert sorted(r.value for r in got) == sorted(first + second)
    assert broker.committed(group, harness.INPUT_TOPIC)[0] == 3
    assert broker.partitions(harness.STATE_TOPIC) == 6


def test_replay_window_brackets_now(tmp_path):
    """The expected-alert helpers: replay until a time, and the bad-line reasons."""
    path = harness.simulate(tmp_path / "s.jsonl", 20, 1)
    alerts, _ = harness.replay(path, harness.now_utc())
    assert alerts and all(a["alert_id"] == i for i, a in alerts.items())
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'not json\n{"worker_id":"a","kind":"fly","ts":"2026-03-02T00:00:00Z"}\n')
    assert harness.replay_bad_reasons(bad) == {1: "not_json", 2: "unknown_kind"}
