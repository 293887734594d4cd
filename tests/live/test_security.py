"""`workhours run` through a broker that requires TLS and SASL/PLAIN, configured as a platform
would: `[kafka.properties]` with `security.protocol` SASL_SSL, `sasl.mechanism` PLAIN,
`sasl.username`, `ssl.ca.location`, and the password from
`WORKHOURS_KAFKA__PROPERTIES__SASL_PASSWORD` (docs/config.md).

Tansu 0.6.0 serves neither TLS to librdkafka nor a usable SASL, so a proxy
(`secure_proxy.py`) in front of a plain Tansu terminates TLS and answers the SASL handshake
itself; Tansu advertises the proxy's address, so every connection of every client (the
monitor's, and the harness's producer and consumers, which authenticate as another user)
goes through it. The proxy counts what it saw, which the tests check: a test cannot pass by
going around it. The proxy also answers SCRAM-SHA-256/512 (README.md's example mechanism):
test 4 runs a monitor with SCRAM-SHA-512, and a unit test checks the SCRAM server without a
broker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
from secure_proxy import (SASL_AUTHENTICATE, SASL_HANDSHAKE, ScramError, ScramServer, SecureProxy,
                          Tls, api_versions_keys, api_versions_with_sasl, make_ca, make_tls,
                          uvarint)

PASSWORD_ENV = "WORKHOURS_KAFKA__PROPERTIES__SASL_PASSWORD"
MONITOR_USER, MONITOR_PASSWORD = "workhours", "s3cret-monitor-pw"
# The harness's own clients (producer, checks), told apart from the monitor by their user.
HARNESS_USER, HARNESS_PASSWORD = "harness", "s3cret-harness-pw"

# A small stream in the past that makes alerts fire (test_live's simulation, fewer workers).
WORKERS, DAYS, SEED = 30, 2, 7


@dataclass
class Secure:
    """A plain Tansu behind the TLS + SASL proxy; `broker.bootstrap` is the proxy."""

    proxy: SecureProxy
    broker: harness.Broker
    tls: Tls
    workdir: Path

    def monitor_properties(self, ca: Path | None = None, mechanism: str = "PLAIN") -> dict:
        """`[kafka.properties]` of a monitor: everything but the password (from the
        environment)."""
        return {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
                "sasl.username": MONITOR_USER, "ssl.ca.location": str(ca or self.tls.ca)}


@pytest.fixture
def secure(stack, tmp_path) -> Iterator[Secure]:
    """A test CA and server certificate, the proxy on a free port, and a Tansu (topics made)
    that advertises the proxy; the harness's clients registered to reach it as `harness`."""
    tls = make_tls(tmp_path / "tls")
    upstream = harness.free_port()
    proxy = SecureProxy(upstream, tls, {MONITOR_USER: MONITOR_PASSWORD, HARNESS_USER: HARNESS_PASSWORD},
                        log_path=tmp_path / "proxy.log").start()
    harness.BOOTSTRAP_PROPERTIES[proxy.bootstrap] = {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": HARNESS_USER,
        "sasl.password": HARNESS_PASSWORD, "ssl.ca.location": str(tls.ca)}
    try:
        broker = harness.Broker(tmp_path / "broker0", port=upstream, advertised_port=proxy.port)
        stack.brokers.append(broker)
        broker.start()
        broker.create_pipeline_topics()
        yield Secure(proxy, broker, tls, tmp_path)
    finally:
        # The clients first (they talk through the proxy), then the proxy.
        stack.close()
        proxy.close()
        harness.BOOTSTRAP_PROPERTIES.pop(proxy.bootstrap, None)


def test_1_sasl_ssl_monitor_consumes_and_alerts(stack, secure, tmp_path, monkeypatch):
    """Through TLS + SASL/PLAIN only, the monitor becomes ready, reads a stream and writes
    the alerts replay gives; the proxy saw the monitor's user authenticate, every connection
    it served was TLS, and nothing was refused."""
    broker, proxy = secure.broker, secure.proxy
    stream = harness.simulate(tmp_path / "sim.jsonl", WORKERS, DAYS, SEED)
    harness.InputProducer(broker).produce(harness.read_lines(stream))

    monkeypatch.setenv(PASSWORD_ENV, MONITOR_PASSWORD)
    monitor = stack.monitor(broker, properties=secure.monitor_properties()).start()
    config = monitor.config_path.read_text()
    assert MONITOR_PASSWORD not in config and "sasl.password" not in config
    assert f'brokers = "{proxy.bootstrap}"' in config, "the monitor is not pointed at the proxy"
    ready = monitor.wait_ready(30)
    harness.settle(broker, monitor.group, [monitor], timeout=60)

    check = harness.check_alerts(broker, stream)
    check.assert_complete()
    repeated = check.repeated()
    assert not repeated, f"{len(repeated)} alert_ids more than once: {list(repeated)[:5]}"
    # A clean stop checkpoints (flush, save, commit) through the proxy too: exit 0 (LIVE.md).
    code, seconds = monitor.terminate()
    assert code == 0, f"exit code {code} after SIGTERM ({seconds:.1f}s)"

    s = proxy.snapshot()
    # The monitor's consumer and producer are two clients: each authenticated at least once.
    assert s.authenticated[MONITOR_USER] >= 2, proxy.describe()
    assert s.authenticated[HARNESS_USER] >= 1, proxy.describe()
    assert not s.rejected and not s.refused_before_auth, proxy.describe()
    # Every connection was TLS: none failed its handshake (a plaintext client would have),
    # and each served one was authenticated first.
    assert not s.tls_failures, proxy.describe()
    assert s.connections == s.tls_handshakes + s.handshaking, proxy.describe()
    assert s.tls_handshakes >= sum(s.authenticated.values()), proxy.describe()
    assert s.mechanisms.keys() == {"PLAIN"}, proxy.describe()
    assert not s.upstream_failures, proxy.describe()
    print(f"ready after {ready:.1f}s; {len(check.ids)} alerts; {proxy.describe()}; "
          f"broker's ApiVersions listed {s.broker_sasl_versions}, rewritten {s.api_versions_rewritten}x")


def refused_monitor(stack, secure: Secure, password: str, ca: Path | None, monkeypatch) -> harness.Monitor:
    monkeypatch.setenv(PASSWORD_ENV, password)
    return stack.monitor(secure.broker, properties=secure.monitor_properties(ca)).start()


def assert_stays_unready(monitor: harness.Monitor, proxy: SecureProxy, what: str, attempts,
                         min_seconds: float = 6.0, timeout: float = 30.0):
    """Polls until `attempts()` holds (the proxy saw the monitor try, and be refused, several
    times) and `min_seconds` have passed since the start (test 1's monitor is ready within
    about a second), failing at once if the monitor becomes ready or exits meanwhile. Then
    checks what docs/LIVE.md gives for a monitor that cannot reach its brokers: it stays up
    (no exit is documented for it) and answers `/healthz`, while `/readyz` says 503 (200 only
    once partitions are assigned and their state restored) and `workhours_ready` is 0."""
    def settled():
        monitor.check_alive()
        if monitor.ready():
            raise harness.HarnessError(f"the monitor became ready despite {what}; {proxy.describe()}")
        return time.monotonic() - monitor.started_at >= min_seconds and attempts()
    harness.wait_until(f"the proxy to refuse the monitor repeatedly ({what})", settled, timeout,
                       interval=0.1)
    assert monitor.get("/healthz")[0] == 200
    assert monitor.get("/readyz")[0] == 503
    assert monitor.metric("workhours_ready") == 0
    monitor.check_alive()


def assert_log_says(monitor: harness.Monitor, proxy: SecureProxy, *phrases: str):
    """The monitor's log names the cause, in librdkafka's words (as a librdkafka client
    reports them against this proxy: "SASL authentication error: Authentication failed:
    Invalid username or password", "SSL handshake failed: ...: certificate verify failed")."""
    log = monitor.log_path.read_text(errors="replace")
    missing = [p for p in phrases if p.lower() not in log.lower()]
    assert not missing, (f"the monitor's log does not say why it is not ready: {missing} not in "
                         f"{monitor.log_path}:\n{harness.tail(monitor.log_path, 15)}\n"
                         f"(what the proxy saw: {proxy.describe()})")


def test_2_wrong_password_not_ready_and_says_why(stack, secure, monkeypatch):
    """A wrong SASL password: the proxy refuses it (SASL_AUTHENTICATION_FAILED); the monitor
    stays up but never ready, keeps trying (several refusals, not one attempt and silence),
    and its log names the authentication failure."""
    proxy = secure.proxy
    monitor = refused_monitor(stack, secure, "not-the-password", None, monkeypatch)
    assert_stays_unready(monitor, proxy, "a wrong password",
                         lambda: proxy.snapshot().rejected[MONITOR_USER] >= 3)
    s = proxy.snapshot()
    assert s.authenticated[MONITOR_USER] == 0, proxy.describe()
    assert not s.tls_failures and s.connections == s.tls_handshakes + s.handshaking, proxy.describe()
    assert_log_says(monitor, proxy, "Authentication failed", "Invalid username or password")


def test_3_untrusted_ca_not_ready_and_says_why(stack, secure, monkeypatch):
    """`ssl.ca.location` names a CA that did not sign the broker's certificate: the TLS
    handshake fails on the monitor's side (the proxy sees it aborted with "unknown ca", and
    no authentication), the monitor stays up but never ready, and its log says the
    certificate was not verified."""
    proxy = secure.proxy
    other_ca, _ = make_ca(secure.workdir / "other-ca", "other-ca")
    monitor = refused_monitor(stack, secure, MONITOR_PASSWORD, other_ca, monkeypatch)
    assert_stays_unready(monitor, proxy, "an untrusted CA",
                         lambda: len(proxy.snapshot().tls_failures) >= 3)
    s = proxy.snapshot()
    assert s.authenticated[MONITOR_USER] == 0 and not s.rejected, proxy.describe()
    assert all("UNKNOWN_CA" in f for f in s.tls_failures), proxy.describe()
    assert_log_says(monitor, proxy, "certificate verify failed")


def test_4_sasl_scram_sha_512_monitor_consumes(stack, secure, tmp_path, monkeypatch):
    """README.md's example, `sasl.mechanism` = "SCRAM-SHA-512" over SASL_SSL: the monitor
    becomes ready and writes the alerts replay gives (a smaller stream than test 1's); the
    proxy saw the monitor's user log in with SCRAM-SHA-512 (two SaslAuthenticate round trips
    each, the client's proof checked), and refused nothing. The harness's clients keep PLAIN."""
    broker, proxy = secure.broker, secure.proxy
    stream = harness.simulate(tmp_path / "sim.jsonl", 10, 1, SEED)
    harness.InputProducer(broker).produce(harness.read_lines(stream))

    monkeypatch.setenv(PASSWORD_ENV, MONITOR_PASSWORD)
    props = secure.monitor_properties(mechanism="SCRAM-SHA-512")
    monitor = stack.monitor(broker, properties=props).start()
    assert 'sasl.mechanism" = "SCRAM-SHA-512"' in monitor.config_path.read_text()
    ready = monitor.wait_ready(30)
    harness.settle(broker, monitor.group, [monitor], timeout=60)

    check = harness.check_alerts(broker, stream)
    check.assert_complete()
    assert not check.repeated(), list(check.repeated())[:5]

    s = proxy.snapshot()
    # The monitor's consumer and producer: each logged in with SCRAM-SHA-512, never PLAIN.
    assert s.logins[("SCRAM-SHA-512", MONITOR_USER)] >= 2, proxy.describe()
    assert s.logins[("PLAIN", MONITOR_USER)] == 0, proxy.describe()
    assert s.authenticated[MONITOR_USER] == s.logins[("SCRAM-SHA-512", MONITOR_USER)], proxy.describe()
    assert s.mechanisms.keys() == {"PLAIN", "SCRAM-SHA-512"}, proxy.describe()
    assert not s.rejected and not s.refused_before_auth and not s.tls_failures, proxy.describe()
    print(f"ready after {ready:.1f}s; {len(check.ids)} alerts; {proxy.describe()}")


def scram_client(mechanism: str, user: str, password: str, server: ScramServer,
                 cnonce: str = "fyko+d2lbbFgONRv9qkxdawL") -> tuple[ScramServer, bytes]:
    """A SCRAM client computed here (RFC 5802 section 3) against `server`: returns the
    server and its server-final message, after checking the server's signature."""
    h = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={cnonce}"
    server_first = server.step(f"n,,{first_bare}".encode()).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    assert attrs["r"].startswith(cnonce) and len(attrs["r"]) > len(cnonce)
    salted = hashlib.pbkdf2_hmac(h, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    final_bare = f"c=biws,r={attrs['r']}"
    auth = f"{first_bare},{server_first},{final_bare}".encode()
    client_key = hmac.new(salted, b"Client Key", h).digest()
    signature = hmac.new(hashlib.new(h, client_key).digest(), auth, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_final = server.step(f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
    server_key = hmac.new(salted, b"Server Key", h).digest()
    expected = hmac.new(server_key, auth, h).digest()
    assert server_final == b"v=" + base64.b64encode(expected)
    return server, server_final


def test_scram_server_exchange():
    """The proxy's SCRAM server without a broker: RFC 7677's SCRAM-SHA-256 test vector byte
    for byte; a SCRAM-SHA-512 (and -256) client computed here logs in, also with a username
    that needs escaping; a wrong password, a changed nonce, an unknown user and a malformed
    message are refused (ScramError, which the proxy answers with error 58)."""
    # RFC 7677 section 3.
    server = ScramServer("SCRAM-SHA-256", {"user": "pencil"}, salts={"user": base64.b64decode(
        "W22ZaJ0SNY7soEsUEjb6gQ==")}, nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    assert server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert server.step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                       b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") == (
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    assert server.done and server.user == "user"

    users = {MONITOR_USER: MONITOR_PASSWORD, "odd,name=x": "pw"}
    for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
        for user in users:
            server, _ = scram_client(mechanism, user, users[user], ScramServer(mechanism, users))
            assert server.done and server.user == user
        with pytest.raises(ScramError, match="wrong password") as refused:
            scram_client(mechanism, MONITOR_USER, "not-the-password", ScramServer(mechanism, users))
        assert refused.value.user == MONITOR_USER
    # SHA-512 makes a 64-byte signature.
    _, final = scram_client("SCRAM-SHA-512", MONITOR_USER, MONITOR_PASSWORD, ScramServer("SCRAM-SHA-512", users))
    assert len(base64.b64decode(final[2:])) == 64

    server = ScramServer("SCRAM-SHA-512", users)
    first = server.step(b"n,,n=workhours,r=abc").decode()
    with pytest.raises(ScramError, match="nonce mismatch"):
        server.step(f"c=biws,r={first.split(',')[0][2:]}X,p=AAAA".encode())
    with pytest.raises(ScramError, match="unknown user"):
        ScramServer("SCRAM-SHA-512", users).step(b"n,,n=nobody,r=abc")
    with pytest.raises(ScramError, match="channel binding"):
        ScramServer("SCRAM-SHA-512", users).step(b"p=tls-unique,,n=workhours,r=abc")
    with pytest.raises(ScramError, match="malformed"):
        ScramServer("SCRAM-SHA-512", users).step(b"n,,garbage")


def test_api_versions_answer_gets_the_sasl_keys():
    """The proxy's rewrite of ApiVersions (Tansu 0.6.0 lists keys 17 and 36 already, so the
    live tests do not exercise it): a v0 and a v3 answer without them get SaslHandshake 0-1
    and SaslAuthenticate 0-2, everything else kept byte for byte; an answer that lists them
    at those versions is left alone."""
    entries = [(0, 0, 9), (1, 0, 12), (3, 0, 12)]
    v0 = struct.pack(">hi", 0, len(entries)) + b"".join(struct.pack(">hhh", *e) for e in entries)
    tail_v3 = struct.pack(">i", 0) + bytes.fromhex("0101030100")  # throttle, one tagged field
    v3 = (struct.pack(">h", 0) + uvarint(len(entries) + 1)
          + b"".join(struct.pack(">hhh", *e) + b"\x00" for e in entries) + tail_v3)
    for version, body in ((0, v0), (3, v3)):
        out, changed = api_versions_with_sasl(body, version)
        assert changed
        keys = api_versions_keys(out, version)
        assert keys == {**{k: (lo, hi) for k, lo, hi in entries},
                        SASL_HANDSHAKE: (0, 1), SASL_AUTHENTICATE: (0, 2)}
        if version >= 3:
            assert out.endswith(tail_v3)
        again, changed = api_versions_with_sasl(out, version)
        assert again == out and not changed
    # An error answer (UNSUPPORTED_VERSION) passes unchanged.
    assert api_versions_with_sasl(struct.pack(">hi", 35, 0), 3) == (struct.pack(">hi", 35, 0), False)
