"""Harness for the live-pipeline tests and benchmark: a Tansu broker, topics, a producer
and an independent consumer (confluent-kafka), `workhours run` processes, and the expected
alerts from `workhours replay`.

Every wait polls with a deadline and fails with a message that says what was awaited.
Nothing here sleeps longer than a poll interval.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]

INPUT_TOPIC = "workhours.events"
ALERTS_TOPIC = "workhours.alerts"
DEAD_LETTER_TOPIC = "workhours.dead-letter"
STATE_TOPIC = "workhours.state"
PARTITIONS = 6

# Consumers must not wait long on an empty fetch: Tansu holds a fetch for the full
# fetch.wait.max.ms.
FETCH_WAIT_MS = 20


class HarnessError(AssertionError):
    """A harness step failed (broker, topic, producer, monitor); the message says which."""


def wait_until(what: str, predicate, timeout: float, interval: float = 0.05):
    """Poll `predicate` until it returns a truthy value; return it, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - report the last one on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise HarnessError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text[-lines:])


def quiet_logger():
    """librdkafka logs every failed reconnect to stderr; keep only errors in the tests' output."""
    import logging

    logger = logging.getLogger("rdkafka")
    logger.setLevel(logging.ERROR)
    return logger


# Client properties that a bootstrap address needs (TLS, SASL), added by `client_conf`: a
# test that puts a broker behind a secure front registers them (test_security.py).
BOOTSTRAP_PROPERTIES: dict[str, dict] = {}


def client_conf(bootstrap: str, **extra) -> dict:
    conf = {"bootstrap.servers": bootstrap, "log_level": 3, "logger": quiet_logger()}
    conf.update(BOOTSTRAP_PROPERTIES.get(bootstrap, {}))
    conf.update(extra)
    return conf


# --------------------------------------------------------------------------------------
# Time

def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339_utc(t: datetime) -> str:
    """Whole seconds, UTC, `Z`: the form `workhours replay --until` takes."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ms(t: datetime) -> str:
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    text = text.replace("t", "T").replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"  # fromisoformat takes `Z` only from Python 3.11
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise ValueError(f"RFC 3339 time without an offset: {text!r}")
    return t


# --------------------------------------------------------------------------------------
# Broker

class Broker:
    """One Tansu broker on a free port, storage `memory` or `sqlite` (file under workdir).
    With `advertised_port`, the broker advertises that port instead of its own (a proxy in
    front of it), and `bootstrap` is that address: clients go through the proxy."""

    def __init__(self, workdir: Path, storage: str = "memory", port: int | None = None,
                 advertised_port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log_path = self.workdir / f"tansu-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.tansu = shutil.which("tansu") or str(Path.home() / ".cargo/bin/tansu")
        self.starts = 0
        self._admin: AdminClient | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def advertised_url(self) -> str:
        return f"tcp://127.0.0.1:{self.advertised_port}"

    def storage_url(self) -> str:
        if self.storage == "memory":
            return "memory://tansu/"
        if self.storage == "sqlite":
            # Tansu 0.6.0 resolves the path after `sqlite://` against its working directory
            # (`sqlite:///abs/x.db` becomes `$PWD/abs/x.db`), so run it in workdir with a
            # relative name.
            return "sqlite://tansu.db"
        raise ValueError(f"unknown storage {self.storage!r}")

    def start(self, timeout: float = 20.0) -> "Broker":
        if not Path(self.tansu).exists():
            raise HarnessError(f"tansu not found (PATH or {self.tansu}); install it: "
                               "cargo install tansu --locked --version 0.6.0 --features dynostore,libsql")
        if self.proc and self.proc.poll() is None:
            raise HarnessError("broker already running")
        wait_until(f"port {self.port} to be free", lambda: not port_open(self.port), 10)
        log = open(self.log_path, "ab")
        log.write(f"\n--- start #{self.starts + 1} at {now_utc().isoformat()}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [self.tansu, "broker", "--listener-url", self.url, "--advertised-listener-url", self.advertised_url,
             "--storage-engine", self.storage_url()],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        self.starts += 1
        t0 = time.monotonic()
        self.wait_ready(timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def wait_ready(self, timeout: float = 20.0):
        def ready():
            if self.proc.poll() is not None:
                raise HarnessError(f"tansu exited with {self.proc.returncode} while starting:\n"
                                   f"{tail(self.log_path)}")
            if not port_open(self.port):
                return False
            return self.admin().list_topics(timeout=1).brokers
        wait_until(f"tansu on {self.bootstrap} to answer metadata", ready, timeout)

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int | None:
        """Stops the broker, by default with SIGKILL (a crash; sqlite storage keeps what it
        acknowledged). Tansu 0.6.0 takes 5 s to exit on SIGTERM and, meanwhile, answers
        produce requests with UNKNOWN_SERVER_ERROR, which clients do not retry (messages
        lost); an idempotent producer caught in that window leaves the sqlite storage in a
        state where the restarted broker panics in `idempotent_message_check` ("more or less
        than one row") and fails every produce request after."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def pause(self):
        """SIGSTOP: the broker accepts connections (the kernel does) but answers nothing."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def delete_topic(self, name: str, timeout: float = 15.0):
        futures = self.admin().delete_topics([name], operation_timeout=timeout)
        futures[name].result(timeout)
        wait_until(f"topic {name} gone from metadata", lambda: self.partitions(name) == 0, timeout)

    def restart(self, down_seconds: float = 0.0, timeout: float = 20.0):
        self.stop()
        if down_seconds:
            time.sleep(down_seconds)
        self.start(timeout)

    def admin(self) -> AdminClient:
        # Kept: a collected AdminClient fails its pending futures with _DESTROY.
        if self._admin is None:
            self._admin = AdminClient(client_conf(self.bootstrap))
        return self._admin

    def create_topic(self, name: str, partitions: int = PARTITIONS, config: dict | None = None,
                     timeout: float = 15.0):
        futures = self.admin().create_topics(
            [NewTopic(name, partitions, 1, config=config or {})], operation_timeout=timeout)
        try:
            futures[name].result(timeout)
        except Exception as exc:  # noqa: BLE001
            err = exc.args[0] if exc.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise HarnessError(f"creating topic {name} ({partitions} partitions): {exc}") from exc
        wait_until(f"topic {name} with {partitions} partitions in metadata",
                   lambda: self.partitions(name) == partitions, timeout)

    def create_pipeline_topics(self, input_topic: str = INPUT_TOPIC, partitions: int = PARTITIONS):
        self.create_topic(input_topic, partitions)
        self.create_topic(ALERTS_TOPIC, partitions)
        self.create_topic(DEAD_LETTER_TOPIC, 2)
        self.create_topic(STATE_TOPIC, partitions, {"cleanup.policy": "compact"})

    def partitions(self, topic: str) -> int:
        md = self.admin().list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return 0
        return len(t.partitions)

    def high_watermarks(self, topic: str, timeout: float = 10.0) -> dict[int, int]:
        """The end offset of each partition, as fetch responses report it.

        Not from ListOffsets: Tansu 0.6.0 answers ListOffsets(latest) with the base offset
        of the partition's last record batch + 1, short of the end whenever that batch holds
        more than one record. A fetch response carries the right high watermark, so this
        fetches from that offset and reads the watermark the fetch brought back."""
        n = self.partitions(topic)
        if n == 0:
            raise HarnessError(f"topic {topic} does not exist")
        c = Consumer(client_conf(self.bootstrap, **{
            "group.id": f"hw-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "fetch.wait.max.ms": FETCH_WAIT_MS, "auto.offset.reset": "latest"}))
        try:
            tps = [TopicPartition(topic, p) for p in range(n)]
            c.assign([TopicPartition(topic, p, OFFSET_END) for p in range(n)])
            high: dict[int, int] = {}

            def known():
                c.consume(10000, 0.02)
                for tp in tps:
                    h = c.get_watermark_offsets(tp, cached=True)[1]
                    if h >= 0:
                        high[tp.partition] = h
                return len(high) == n
            wait_until(f"fetch high watermarks of {topic}", known, timeout, interval=0)
            return high
        finally:
            c.close()

    def count(self, topic: str) -> int:
        return sum(self.high_watermarks(topic).values())

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offsets (-1001 when none), read without joining the group."""
        c = Consumer(client_conf(self.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
        try:
            tps = [TopicPartition(topic, p) for p in range(self.partitions(topic))]
            return {tp.partition: tp.offset for tp in c.committed(tps, timeout=5)}
        finally:
            c.close()

    def lag(self, group: str, topic: str) -> int:
        high = self.high_watermarks(topic)
        committed = self.committed(group, topic)
        return sum(h - max(committed.get(p, 0), 0) for p, h in high.items())

    def wait_caught_up(self, group: str, topic: str = INPUT_TOPIC, timeout: float = 60.0,
                       monitors=()):
        """Wait until `group` has committed the end of every partition of `topic`."""
        def caught_up():
            for m in monitors:
                m.check_alive()
            return self.lag(group, topic) == 0
        try:
            wait_until(f"group {group} to commit the end of {topic}", caught_up, timeout, interval=0.2)
        except HarnessError as exc:
            raise HarnessError(f"{exc}; committed {self.committed(group, topic)}, "
                               f"end {self.high_watermarks(topic)}"
                               + "".join(f"\n{m.name}: {m.pipeline_figures()}" for m in monitors)) from None

    def close(self):
        self.stop(signal.SIGKILL)


# --------------------------------------------------------------------------------------
# Producing

def key_of(line: bytes) -> bytes | None:
    """Kafka key of an input line: its `worker_id` when it is a JSON object with a string
    `worker_id`, else none (bad lines go keyless)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("worker_id"), str):
        return obj["worker_id"].encode()
    return None


def read_lines(path: Path) -> list[bytes]:
    return [l for l in Path(path).read_bytes().split(b"\n") if l.strip()]


@dataclass
class Delivered:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class InputProducer:
    """Produces lines to a topic, keyed by worker_id; records where each one landed."""

    def __init__(self, broker: Broker, topic: str = INPUT_TOPIC, **conf):
        base = {"linger.ms": 5, "batch.num.messages": 10000, "enable.idempotence": True,
                "message.timeout.ms": 120000}
        base.update(conf)
        self.topic = topic
        self.producer = Producer(client_conf(broker.bootstrap, **base))
        self.delivered: list[Delivered] = []
        self.errors: list[str] = []

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(f"{err} (key {msg.key()!r})")
        else:
            self.delivered.append(Delivered(msg.partition(), msg.offset(), msg.key(), msg.value()))

    def send(self, lines, key_fn=key_of):
        for line in lines:
            while True:
                try:
                    self.producer.produce(self.topic, value=line, key=key_fn(line),
                                          on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self.producer.poll(0.01)
            self.producer.poll(0)

    def flush(self, timeout: float = 60.0):
        left = self.producer.flush(timeout)
        if left:
            raise HarnessError(f"{left} messages to {self.topic} not delivered within {timeout}s")
        if self.errors:
            raise HarnessError(f"delivery to {self.topic} failed: {self.errors[:5]}")

    def produce(self, lines, timeout: float = 60.0):
        self.send(lines)
        self.flush(timeout)

    def produce_paced(self, lines, chunks: int, pause: float, on_chunk=None, flush_each: bool = True):
        """Produce `lines` in `chunks` pieces with `pause` seconds between them, so that the
        stream is ongoing for about chunks*pause seconds. `on_chunk(i, n)` runs after chunk i
        (0-based) is flushed; it must return quickly so that no partition goes idle."""
        lines = list(lines)
        size = max(1, -(-len(lines) // chunks))
        pieces = [lines[i:i + size] for i in range(0, len(lines), size)]
        for i, piece in enumerate(pieces):
            self.send(piece)
            if flush_each:
                self.producer.poll(0)
            if on_chunk:
                on_chunk(i, len(pieces))
            if i + 1 < len(pieces):
                time.sleep(pause)
        self.flush()


# --------------------------------------------------------------------------------------
# Consuming

@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    arrived: float  # time.time() when the harness read it

    def json(self):
        return json.loads(self.value)

    def header(self, name: str) -> str | None:
        v = self.headers.get(name)
        return v.decode() if v is not None else None


def _record(msg) -> Record:
    return Record(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                  {k: v for k, v in (msg.headers() or [])}, time.time())


def consume_all(broker: Broker, topic: str, quiet: float = 2.0, timeout: float = 60.0) -> list[Record]:
    """Everything in `topic`, read from the beginning with a fresh group: stops once every
    partition's position has reached its high watermark and nothing new arrived for `quiet`
    seconds."""
    n = broker.partitions(topic)
    if n == 0:
        raise HarnessError(f"topic {topic} does not exist")
    c = Consumer(client_conf(broker.bootstrap, **{
        "group.id": f"check-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": FETCH_WAIT_MS,
        "enable.partition.eof": False}))
    tps = [TopicPartition(topic, p, 0) for p in range(n)]
    records: list[Record] = []
    try:
        c.assign(tps)
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while True:
            msgs = c.consume(10000, 0.1)
            for m in msgs:
                if m.error():
                    raise HarnessError(f"consuming {topic}: {m.error()}")
                records.append(_record(m))
            if msgs:
                last_new = time.monotonic()
            if time.monotonic() - last_new >= quiet:
                # Watermarks of this consumer's own fetch responses (see high_watermarks).
                high = {p: c.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
                        for p in range(n)}
                pos = {tp.partition: tp.offset for tp in c.position(tps)}
                if all(h >= 0 and (h == 0 or pos.get(p, -1) >= h) for p, h in high.items()):
                    return records
            if time.monotonic() > deadline:
                raise HarnessError(f"consuming {topic}: not at the end after {timeout}s "
                                   f"({len(records)} records read)")
    finally:
        c.close()


class Watcher:
    """A background consumer of a topic from the beginning; records each message with its
    arrival time, for latency measurements and 'has anything arrived yet' checks."""

    def __init__(self, broker: Broker, topic: str):
        self.records: list[Record] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._consumer = Consumer(client_conf(broker.bootstrap, **{
            "group.id": f"watch-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10}))
        n = broker.partitions(topic)
        if n == 0:
            raise HarnessError(f"topic {topic} does not exist")
        self._consumer.assign([TopicPartition(topic, p, 0) for p in range(n)])
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for m in self._consumer.consume(1000, 0.05):
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        self.error = str(m.error())
                    continue
                with self._lock:
                    self.records.append(_record(m))
        self._consumer.close()

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def __len__(self):
        with self._lock:
            return len(self.records)

    def close(self):
        self._stop.set()
        self._thread.join(10)


# --------------------------------------------------------------------------------------
# The monitor

def child_env(**extra) -> dict:
    """The environment for `workhours`. The binary path travels as TEST_WORKHOURS_BIN: a
    WORKHOURS_* variable would be read as a config override and refused as an unknown key."""
    env = dict(os.environ)
    env.update(extra)
    return env


def workhours_bin() -> Path:
    if os.environ.get("TEST_WORKHOURS_BIN"):
        return Path(os.environ["TEST_WORKHOURS_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "release" / "workhours"


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def write_config(path: Path, broker: Broker, group: str, http_port: int,
                 idle_timeout: str = "2s",
                 properties: dict | None = None, input_topic=INPUT_TOPIC,
                 commit_interval: str | None = None, extra: str = "",
                 live: dict | None = None, time: dict | None = None, rules: dict | None = None,
                 http: dict | None = None, topics: dict | None = None) -> Path:
    """The monitor's config: the harness's topics on `broker`, plus any keys given per
    section (`live`, `time`, `rules`, `http`; `topics` overrides `kafka.*_topic`). Only the
    keys given are written, so that the config also suits an older release."""
    props = {"fetch.wait.max.ms": str(FETCH_WAIT_MS)}
    props.update(properties or {})
    names = {"alerts_topic": ALERTS_TOPIC, "dead_letter_topic": DEAD_LETTER_TOPIC,
             "state_topic": STATE_TOPIC}
    names.update(topics or {})
    live = {"idle_timeout": idle_timeout, **({"commit_interval": commit_interval} if commit_interval else {}),
            **(live or {})}
    lines = [
        "[kafka]",
        f'brokers = "{broker.bootstrap}"',
        f'group_id = "{group}"',
        # One topic name, or several (co-partitioned) as a list.
        "input_topics = [" + ", ".join(f'"{t}"' for t in ([input_topic] if isinstance(input_topic, str) else input_topic)) + "]",
        *(f"{k} = {toml_value(v)}" for k, v in names.items()),
        "[kafka.properties]",
        *(f'"{k}" = "{v}"' for k, v in props.items()),
        "[live]",
        *(f"{k} = {toml_value(v)}" for k, v in live.items()),
        "[http]",
        f'listen = "127.0.0.1:{http_port}"',
        *(f"{k} = {toml_value(v)}" for k, v in (http or {}).items()),
    ]
    if time:
        lines += ["[time]", *(f"{k} = {toml_value(v)}" for k, v in time.items())]
    if rules:
        lines += ["[rules]", *(f"{k} = {toml_value(v)}" for k, v in rules.items())]
    lines.append(extra)
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def rules_config(path: Path, time: dict | None = None, rules: dict | None = None) -> Path:
    """A config with only `[time]` and `[rules]` keys, for `workhours replay --config`."""
    lines = []
    if time:
        lines += ["[time]", *(f"{k} = {toml_value(v)}" for k, v in time.items())]
    if rules:
        lines += ["[rules]", *(f"{k} = {toml_value(v)}" for k, v in rules.items())]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def http_get(port: int, path: str, token: str | None = None, scheme: str = "Bearer",
             timeout: float = 5.0) -> tuple[int, bytes]:
    """GET `path` from a monitor's HTTP port, with `Authorization: <scheme> <token>` when a
    token is given: the status and the body (of an error status too)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"{scheme} {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Monitor:
    """One `workhours run --config FILE` process, stderr and stdout to a log file."""

    def __init__(self, workdir: Path, broker: Broker, group: str, name: str = "monitor", **config):
        self.workdir = Path(workdir)
        self.name = name
        self.http_port = free_port()
        self.group = group
        self.config_path = write_config(self.workdir / f"{name}.toml", broker, group,
                                        self.http_port, **config)
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Monitor":
        binary = workhours_bin()
        if not binary.exists():
            raise HarnessError(f"workhours binary not found at {binary}; build it with "
                               "`cargo build --release` or set TEST_WORKHOURS_BIN")
        log = open(self.log_path, "ab")
        log.write(f"\n--- start #{self.starts + 1} at {now_utc().isoformat()}\n".encode())
        log.flush()
        env = child_env()
        env.setdefault("RUST_LOG", "info")
        self.proc = subprocess.Popen([str(binary), "run", "--config", str(self.config_path)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        log.close()
        self.starts += 1
        self.started_at = time.monotonic()
        return self

    def check_alive(self):
        if self.proc is None:
            raise HarnessError(f"{self.name} was never started")
        if self.proc.poll() is not None:
            raise HarnessError(f"{self.name} (`workhours run`) exited with code {self.proc.returncode}; "
                               f"log {self.log_path}:\n{tail(self.log_path, 30)}")

    def get(self, path: str, timeout: float = 1.0) -> tuple[int, bytes]:
        return http_get(self.http_port, path, timeout=timeout)

    def ready(self) -> bool:
        self.check_alive()
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for /readyz 200; returns the seconds since start."""
        wait_until(f"{self.name} /readyz on 127.0.0.1:{self.http_port} to return 200", self.ready,
                   timeout, interval=0.05)
        return time.monotonic() - self.started_at

    def kill9(self):
        self.check_alive()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit code or None if it did not exit within timeout, seconds)."""
        self.check_alive()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - t0

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def memory(self) -> tuple[int, int]:
        """(resident, peak resident) bytes of the process, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        kib = lambda name: int(fields[name].split()[0]) * 1024  # noqa: E731
        return kib("VmRSS"), kib("VmHWM")

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics: {'name{labels}': value}."""
        status, body = self.get("/metrics", timeout=5)
        if status != 200:
            raise HarnessError(f"/metrics answered {status}")
        samples = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def pipeline_figures(self) -> str:
        """What says where a monitor's pipeline stands (for a failure's message): its input
        read, buffered, lagging and undelivered, from its metrics."""
        try:
            metrics = self.metrics()
        except Exception as exc:  # noqa: BLE001 - a message, whatever happened
            return f"no metrics ({exc!r})"
        names = ("workhours_events_total", "workhours_consumer_lag_messages",
                 "workhours_watermark_lag_seconds", "workhours_reorder_buffer_events",
                 "workhours_input_partitions_paused", "workhours_producer_undelivered_messages",
                 "workhours_producer_undelivered_oldest_seconds", "workhours_producer_queue_messages",
                 "workhours_partitions_assigned", "workhours_ready", "workhours_fenced_total",
                 "workhours_commit_failures_total")
        return ", ".join(f"{k} {v:g}" for k, v in sorted(metrics.items())
                         if k.split("{")[0] in names)

    def metric(self, name: str) -> float:
        """The sum of every series of a metric family (0 when absent)."""
        return sum(v for k, v in self.metrics().items() if k == name or k.startswith(name + "{"))

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{self.name} did not exit within {timeout}s; log:\n{tail(self.log_path, 30)}") from None

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


# --------------------------------------------------------------------------------------
# Events in real time

def event_line(worker: str, kind: str, ts_ms: int, n: int, **extra) -> bytes:
    """One input line, `ts` as epoch ms, a unique `event_id`."""
    fields = {"worker_id": worker, "kind": kind, "ts": ts_ms, "event_id": f"{worker}-{n}",
              "platform": "meituan", "role": "rider", "city": "371000"}
    fields.update(extra)
    return json.dumps(fields).encode()


def now_ms() -> int:
    return int(time.time() * 1000)


def sorted_by_ts(lines) -> list[bytes]:
    """Lines in `ts` order (stable): replay of "all events sorted by ts"."""
    return sorted(lines, key=lambda line: json.loads(line)["ts"])


# --------------------------------------------------------------------------------------
# Expected alerts

def simulate(path: Path, workers: int, days: int, seed: int = 1, *args: str) -> Path:
    subprocess.run([str(workhours_bin()), "simulate", "--workers", str(workers), "--days", str(days),
                    "--seed", str(seed), "--output", str(path), *args],
                   check=True, capture_output=True, env=child_env())
    return Path(path)


def replay(path: Path, until: datetime | None = None, config: Path | None = None) -> tuple[dict[str, dict], str]:
    """Alerts of `workhours replay [--config] [--until]`: ({alert_id: alert}, stderr)."""
    cmd = [str(workhours_bin()), "replay"]
    if config is not None:
        cmd += ["--config", str(config)]
    if until is not None:
        cmd += ["--until", rfc3339_utc(until)]
    cmd.append(str(path))
    out = subprocess.run(cmd, capture_output=True, check=False, env=child_env())
    if out.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    alerts = {}
    for line in out.stdout.splitlines():
        if line.strip():
            a = json.loads(line)
            alerts[a["alert_id"]] = a
    return alerts, out.stderr.decode(errors="replace")


def replay_bad_reasons(path: Path) -> dict[int, str]:
    """{1-based line number: reason code} from replay's bad-event report."""
    _, err = replay(path)
    reasons = {}
    for line in err.splitlines():
        # line 2: bad event: not_json: not JSON: ...
        if line.startswith("line ") and ": bad event: " in line:
            head, rest = line.split(": bad event: ", 1)
            reasons[int(head.split()[1])] = rest.split(":", 1)[0]
    return reasons


def describe(a: dict) -> str:
    who = a.get("worker_id") or "/".join(str(a.get(k)) for k in ("platform", "role", "city"))
    return f"{a.get('rule')}/{a.get('phase')} {who} at {a.get('at')} ({a.get('alert_id')})"


@dataclass
class AlertCheck:
    """Live alerts against replay: every alert replay gives up to `lo` must be there, and no
    alert may be there that replay does not give up to `hi` (live time runs to about now -
    allowed_lateness, so alerts between lo and hi may or may not have fired yet)."""

    records: list[Record]
    expected_lo: dict[str, dict]
    expected_hi: dict[str, dict]
    by_id: dict[str, list[Record]] = field(default_factory=dict)

    def __post_init__(self):
        for r in self.records:
            self.by_id.setdefault(json.loads(r.value)["alert_id"], []).append(r)

    @property
    def ids(self) -> set[str]:
        return set(self.by_id)

    def missing(self) -> list[dict]:
        return [a for i, a in self.expected_lo.items() if i not in self.by_id]

    def extra(self) -> list[dict]:
        return [json.loads(rs[0].value) for i, rs in self.by_id.items() if i not in self.expected_hi]

    def repeated(self) -> dict[str, list[Record]]:
        return {i: rs for i, rs in self.by_id.items() if len(rs) > 1}

    def assert_complete(self):
        missing, extra = self.missing(), self.extra()
        msg = []
        if missing:
            msg.append(f"{len(missing)} of replay's {len(self.expected_lo)} alerts missing on the alerts topic, e.g.\n  "
                       + "\n  ".join(describe(a) for a in missing[:10]))
        if extra:
            msg.append(f"{len(extra)} alerts on the topic that replay does not give, e.g.\n  "
                       + "\n  ".join(describe(a) for a in extra[:10]))
        assert not msg, "\n".join(msg)
        assert self.expected_lo, "replay gives no alert at all: the test stream is too small to test anything"

    def assert_repeats_identical(self):
        bad = {i: rs for i, rs in self.repeated().items() if len({r.value for r in rs}) > 1}
        assert not bad, (f"{len(bad)} alert_ids repeated with different bytes, e.g. "
                         + "; ".join(f"{i}: {[r.value.decode() for r in rs][:2]}" for i, rs in list(bad.items())[:3]))


def check_alerts(broker: Broker, input_file: Path, quiet: float = 2.0, lateness: float = 30.0,
                 config: Path | None = None, records: list[Record] | None = None) -> AlertCheck:
    """Reads the whole alerts topic (or takes `records`) and brackets it with replay at the
    times around the read: live event time runs to about now - `lateness`."""
    lo = now_utc() - timedelta(seconds=3 + lateness)
    if records is None:
        records = consume_all(broker, ALERTS_TOPIC, quiet=quiet)
    hi = now_utc() + timedelta(seconds=2)
    expected_lo, _ = replay(input_file, lo, config)
    expected_hi, _ = replay(input_file, hi, config)
    return AlertCheck(records, expected_lo, expected_hi)


def settle(broker: Broker, group: str, monitors=(), idle_timeout: float = 2.0,
           timeout: float = 120.0):
    """Waits until the monitors' group has committed the whole input, then for the idle
    watermark advance (idle_timeout + 1.5 s) to fire the remaining timers (of a stream in the
    past: an idle partition jumps to now - allowed_lateness, past every event)."""
    broker.wait_caught_up(group, INPUT_TOPIC, timeout, monitors)
    deadline = time.monotonic() + idle_timeout + 1.5
    while time.monotonic() < deadline:
        for m in monitors:
            m.check_alive()
        time.sleep(0.1)
