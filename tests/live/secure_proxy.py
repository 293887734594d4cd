"""A TLS + SASL (PLAIN, SCRAM-SHA-256/512) front for a plain Tansu broker, for the live
security tests.

Tansu 0.6.0 cannot serve TLS to librdkafka (its `--cert` refuses `--key`; a `tls://`
listener gives librdkafka "early eof") and its `--authentication` breaks `tansu user
create`. So the tests put this proxy in front of a plain broker that advertises the proxy's
address: every connection of a client then goes through here.

Per connection: TLS is terminated with Python's `ssl` (a server certificate signed by a CA
made at test time with the `openssl` CLI); then the Kafka requests are read frame by frame
(4-byte big-endian size, api_key int16, api_version int16, correlation_id int32, client_id,
...) until the client has authenticated:

- ApiVersions (18) is forwarded to the broker, and its answer made to list SaslHandshake
  (17) at versions 0-1 and SaslAuthenticate (36) at 0-2, the versions answered here;
- SaslHandshake and SaslAuthenticate are answered here against `users`: the handshake lists
  `MECHANISMS` and accepts any of them; PLAIN takes one SaslAuthenticate, SCRAM-SHA-256 and
  SCRAM-SHA-512 (RFC 5802 / RFC 7677, `ScramServer`) take two (client-first then
  client-final). A wrong password or unknown user gets SASL_AUTHENTICATION_FAILED (58) and
  the connection is closed;
- any other request before authentication closes the connection (as a Kafka broker does).

After a successful SaslAuthenticate the bytes go both ways unchanged. What happened is
counted in `stats` (TLS handshakes, authentications per user and per (mechanism, user),
mechanisms asked for, request versions seen) so that a test can prove its clients came through
here.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
# The versions this proxy answers; the ApiVersions answer is made to say so.
SASL_VERSIONS = {SASL_HANDSHAKE: (0, 1), SASL_AUTHENTICATE: (0, 2)}

# The SASL mechanisms answered here, as SaslHandshake lists them.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}

NONE = 0
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

MAX_FRAME = 100 * 1024 * 1024


class ProxyError(AssertionError):
    """The proxy or its certificates could not be set up; the message says which step."""


# --------------------------------------------------------------------------------------
# Certificates (openssl CLI)

@dataclass
class Tls:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path):
    exe = shutil.which("openssl")
    if exe is None:
        raise ProxyError("the openssl command is not installed (Debian package `openssl`)")
    out = subprocess.run([exe, *args], cwd=cwd, capture_output=True, check=False)
    if out.returncode != 0:
        raise ProxyError(f"openssl {' '.join(args)} failed ({out.returncode}): "
                         f"{out.stderr.decode(errors='replace')}")


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA (P-256, valid one day): (certificate, key) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key.name, "-out", cert.name, "-days", "1",
             "-subj", f"/CN=workhours test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return cert, key


def make_tls(directory: Path, ca_name: str = "ca") -> Tls:
    """A CA and a server certificate it signed (SAN IP:127.0.0.1, DNS:localhost): librdkafka
    checks the broker's name (`ssl.endpoint.identification.algorithm` = https by default)."""
    ca, ca_key = make_ca(directory, ca_name)
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key.name, "-out", csr.name, "-subj", "/CN=localhost", cwd=directory)
    _openssl("x509", "-req", "-in", csr.name, "-CA", ca.name, "-CAkey", ca_key.name,
             "-CAcreateserial", "-out", cert.name, "-days", "1", "-extfile", ext.name, cwd=directory)
    return Tls(ca=ca, cert=cert, key=key)


# --------------------------------------------------------------------------------------
# Kafka wire format (only what the handshake needs)

class Cursor:
    """Reads Kafka primitive types from a bytes buffer."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"truncated: {n} bytes wanted at {self.pos} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("unsigned varint too long")

    def nullable_string(self) -> str | None:
        n = self.int16()
        return None if n < 0 else self.take(n).decode()

    def bytes32(self) -> bytes:
        return self.take(self.int32())

    def compact_bytes(self) -> bytes:
        n = self.uvarint()
        if n == 0:
            raise ValueError("null compact bytes")
        return self.take(n - 1)

    def tagged_fields(self) -> bytes:
        """Skips a tagged-field section; returns its raw bytes."""
        start = self.pos
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())
        return self.data[start:self.pos]

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string16(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def compact_nullable_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


@dataclass
class Request:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body: Cursor


def flexible(api_key: int, version: int) -> bool:
    """Whether a request of these uses header v2 (tagged fields): only the keys met here."""
    return (api_key == API_VERSIONS and version >= 3) or (api_key == SASL_AUTHENTICATE and version >= 2)


def parse_request(frame: bytes) -> Request:
    c = Cursor(frame)
    api_key, api_version, correlation_id = c.int16(), c.int16(), c.int32()
    client_id = c.nullable_string()
    if flexible(api_key, api_version):
        c.tagged_fields()
    return Request(api_key, api_version, correlation_id, client_id, c)


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def api_versions_with_sasl(response: bytes, version: int) -> tuple[bytes, bool]:
    """An ApiVersions response (after its 4-byte correlation id; the header is v0 at every
    version) made to list SaslHandshake and SaslAuthenticate at `SASL_VERSIONS`: (bytes,
    whether anything changed). v3+ bodies use a compact array whose entries end with tagged
    fields; the bytes after the array (throttle time, the body's tagged fields) are kept as
    they are. An answer with an error (e.g. UNSUPPORTED_VERSION, sent in the v0 form) is
    left alone."""
    c = Cursor(response)
    error = c.int16()
    if error != NONE:
        return response, False
    compact = version >= 3
    count = c.uvarint() - 1 if compact else c.int32()
    entries: list[tuple[int, int, int, bytes]] = []
    for _ in range(count):
        key, lo, hi = struct.unpack(">hhh", c.take(6))
        tags = c.tagged_fields() if compact else b""
        entries.append((key, lo, hi, tags))
    rest = c.rest()
    wanted = dict(SASL_VERSIONS)
    changed = False
    out: list[tuple[int, int, int, bytes]] = []
    for key, lo, hi, tags in entries:
        if key in wanted:
            want = wanted.pop(key)
            if (lo, hi) != want:
                changed = True
                lo, hi = want
        out.append((key, lo, hi, tags))
    for key, (lo, hi) in wanted.items():
        out.append((key, lo, hi, b"\x00" if compact else b""))
        changed = True
    if not changed:
        return response, False
    body = struct.pack(">h", error)
    body += uvarint(len(out) + 1) if compact else struct.pack(">i", len(out))
    for key, lo, hi, tags in out:
        body += struct.pack(">hhh", key, lo, hi) + tags
    return body + rest, True


def api_versions_keys(response: bytes, version: int) -> dict[int, tuple[int, int]]:
    """{api_key: (min, max)} of an ApiVersions response body (after the correlation id)."""
    c = Cursor(response)
    c.int16()
    compact = version >= 3
    keys = {}
    for _ in range(c.uvarint() - 1 if compact else c.int32()):
        key, lo, hi = struct.unpack(">hhh", c.take(6))
        if compact:
            c.tagged_fields()
        keys[key] = (lo, hi)
    return keys


def sasl_handshake_response(correlation_id: int, error: int) -> bytes:
    """The answer to SaslHandshake v0/v1 (same body): error and the mechanisms enabled."""
    return (struct.pack(">ih", correlation_id, error) + struct.pack(">i", len(MECHANISMS))
            + b"".join(string16(m) for m in MECHANISMS))


def sasl_authenticate_response(correlation_id: int, version: int, error: int,
                               message: str | None, auth_bytes: bytes = b"") -> bytes:
    if version >= 2:  # response header v1, compact fields, tagged fields
        return (struct.pack(">i", correlation_id) + b"\x00" + struct.pack(">h", error)
                + compact_nullable_string(message) + uvarint(len(auth_bytes) + 1) + auth_bytes
                + struct.pack(">q", 0) + b"\x00")
    out = (struct.pack(">ih", correlation_id, error) + string16(message)
           + struct.pack(">i", len(auth_bytes)) + auth_bytes)
    if version >= 1:
        out += struct.pack(">q", 0)  # session_lifetime_ms: no re-authentication
    return out


def plain_credentials(token: bytes) -> tuple[str, str] | None:
    """(username, password) of a SASL/PLAIN message `authzid NUL authcid NUL passwd`."""
    parts = token.split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        return parts[1].decode(), parts[2].decode()
    except UnicodeDecodeError:
        return None


# --------------------------------------------------------------------------------------
# SCRAM (RFC 5802, RFC 7677), server side

class ScramError(Exception):
    """A SCRAM exchange failed; `user` is the username if the client-first message named one."""

    def __init__(self, reason: str, user: str | None = None):
        super().__init__(reason)
        self.user = user


def scram_attributes(message: str) -> list[tuple[str, str]]:
    """`a=1,b=2` as [(a, 1), (b, 2)] (a name is a letter, or a word for an extension such
    as Kafka's `tokenauth=true`)."""
    out = []
    for part in message.split(","):
        name, eq, value = part.partition("=")
        if not eq or not name.isalnum():
            raise ScramError(f"malformed SCRAM attribute {part!r}")
        out.append((name, value))
    return out


def scram_unescape(saslname: str) -> str:
    """RFC 5802's saslname: `=2C` is a comma, `=3D` an equals sign, any other `=` an error."""
    out, i = [], 0
    while i < len(saslname):
        if saslname[i] == "=":
            code = saslname[i + 1:i + 3]
            if code not in ("2C", "3D"):
                raise ScramError(f"bad escape in username {saslname!r}")
            out.append("," if code == "2C" else "=")
            i += 3
        else:
            out.append(saslname[i])
            i += 1
    return "".join(out)


def scram_keys(hash_name: str, password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of a password: what a server keeps instead of the password."""
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    server_key = hmac.new(salted, b"Server Key", hash_name).digest()
    return hashlib.new(hash_name, client_key).digest(), server_key


class ScramServer:
    """One SCRAM-SHA-256/512 exchange, server side: `first(client_first)` gives the
    server-first message, `final(client_final)` the server-final one (`v=ServerSignature`)
    once the client's proof checks out; either raises `ScramError` otherwise. `salts` and
    `nonce` may be given (for RFC 7677's test vector); by default a random salt per user per
    proxy and a random server nonce per exchange."""

    def __init__(self, mechanism: str, users: dict[str, str], salts: dict[str, bytes] | None = None,
                 iterations: int = 4096, nonce: str | None = None):
        if mechanism not in SCRAM_HASHES:
            raise ValueError(f"not a SCRAM mechanism: {mechanism}")
        self.mechanism, self.hash = mechanism, SCRAM_HASHES[mechanism]
        self.users, self.salts = users, salts if salts is not None else {}
        self.iterations = iterations
        self.server_nonce = nonce
        self.user: str | None = None
        self.done = False
        self._first_bare = self._server_first = self._nonce = self._gs2 = None
        self._stored_key = self._server_key = None

    def step(self, token: bytes) -> bytes:
        """The answer to the client's next message."""
        if self.done:
            raise ScramError("SCRAM exchange already over", self.user)
        if self._server_first is None:
            return self.first(token)
        return self.final(token)

    def first(self, client_first: bytes) -> bytes:
        try:
            text = client_first.decode()
        except UnicodeDecodeError:
            raise ScramError("client-first message is not UTF-8") from None
        # gs2-header: cbind-flag "," [authzid] ","; then client-first-message-bare.
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise ScramError(f"malformed client-first message {text!r}")
        flag, authzid, bare = parts
        if flag.startswith("p="):
            raise ScramError("channel binding is not supported")
        if flag not in ("n", "y") or (authzid and not authzid.startswith("a=")):
            raise ScramError(f"malformed GS2 header {flag},{authzid},")
        attrs = scram_attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ScramError(f"client-first message without n= and r=: {bare!r}")
        user = scram_unescape(attrs[0][1])
        self.user = user
        if authzid and scram_unescape(authzid[2:]) != user:
            raise ScramError(f"authorization id {authzid[2:]!r} is not the user", user)
        if user not in self.users:
            raise ScramError("unknown user", user)
        salt = self.salts.setdefault(user, secrets.token_bytes(16))
        self._stored_key, self._server_key = scram_keys(self.hash, self.users[user], salt,
                                                        self.iterations)
        nonce = attrs[1][1] + (self.server_nonce or base64.b64encode(secrets.token_bytes(18)).decode())
        self._gs2, self._first_bare, self._nonce = f"{flag},{authzid},", bare, nonce
        self._server_first = (f"r={nonce},s={base64.b64encode(salt).decode()},"
                              f"i={self.iterations}")
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        try:
            text = client_final.decode()
        except UnicodeDecodeError:
            raise ScramError("client-final message is not UTF-8", self.user) from None
        attrs = scram_attributes(text)
        if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
            raise ScramError(f"malformed client-final message {text!r}", self.user)
        if attrs[0][1] != base64.b64encode(self._gs2.encode()).decode():
            raise ScramError("channel binding data does not match the GS2 header", self.user)
        if attrs[1][1] != self._nonce:
            raise ScramError("nonce mismatch", self.user)
        try:
            proof = base64.b64decode(attrs[-1][1], validate=True)
        except ValueError:
            raise ScramError("proof is not base64", self.user) from None
        without_proof = text[:text.rindex(",p=")]
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        client_signature = hmac.new(self._stored_key, auth_message, self.hash).digest()
        if len(proof) != len(client_signature):
            raise ScramError("proof of the wrong length", self.user)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
        if not hmac.compare_digest(hashlib.new(self.hash, client_key).digest(), self._stored_key):
            raise ScramError("wrong password", self.user)
        self.done = True
        server_signature = hmac.new(self._server_key, auth_message, self.hash).digest()
        return f"v={base64.b64encode(server_signature).decode()}".encode()


# --------------------------------------------------------------------------------------
# The proxy

@dataclass
class Stats:
    """What the proxy saw. Read it under `SecureProxy.lock` (or through `snapshot`)."""

    connections: int = 0  # accepted
    handshaking: int = 0  # accepted, TLS handshake not over yet
    tls_handshakes: int = 0  # TLS handshakes completed
    tls_failures: list[str] = field(default_factory=list)
    authenticated: Counter = field(default_factory=Counter)  # username -> successes
    logins: Counter = field(default_factory=Counter)  # (mechanism, username) -> successes
    rejected: Counter = field(default_factory=Counter)  # username -> wrong passwords
    mechanisms: Counter = field(default_factory=Counter)  # asked for in SaslHandshake
    versions: dict[int, set[int]] = field(default_factory=dict)  # api_key -> versions before auth
    refused_before_auth: list[int] = field(default_factory=list)  # api keys
    broker_sasl_versions: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    api_versions_rewritten: int = 0
    upstream_failures: list[str] = field(default_factory=list)
    forwarding: int = 0  # connections authenticated and piped to the broker

    def copy(self) -> "Stats":
        return copy.deepcopy(self)


class SecureProxy:
    """TLS + SASL (`MECHANISMS`) in front of a plain Kafka broker on 127.0.0.1:`upstream_port`.

    Runs its own asyncio loop in a daemon thread; `close()` stops the server, cancels every
    connection and joins the thread."""

    def __init__(self, upstream_port: int, tls: Tls, users: dict[str, str],
                 log_path: Path | None = None):
        self.upstream_port = upstream_port
        self.users = dict(users)
        self.scram_salts: dict[str, bytes] = {}  # username -> salt, made at its first SCRAM login
        self.log_path = log_path
        self.port: int | None = None
        self.lock = threading.Lock()
        self.stats = Stats()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(tls.cert), str(tls.key))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._lines: list[str] = []
        self._t0 = time.monotonic()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def snapshot(self) -> Stats:
        with self.lock:
            return self.stats.copy()

    def describe(self) -> str:
        s = self.snapshot()
        return (f"proxy on {self.bootstrap}: {s.connections} connections, {s.tls_handshakes} TLS "
                f"handshakes ({s.handshaking} under way), TLS failures {s.tls_failures[:3]}, authenticated {dict(s.authenticated)}, "
                f"logins {dict(s.logins)}, mechanisms {dict(s.mechanisms)}, "
                f"rejected {dict(s.rejected)}, refused before auth {s.refused_before_auth[:5]}, "
                f"upstream failures {s.upstream_failures[:3]}, versions "
                f"{ {k: sorted(v) for k, v in s.versions.items()} }")

    def log(self) -> str:
        with self.lock:
            return "\n".join(self._lines)

    def _note(self, text: str):
        line = f"{time.monotonic() - self._t0:8.3f} {text}"
        with self.lock:
            self._lines.append(line)
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write(line + "\n")

    # ---- lifecycle

    def start(self, timeout: float = 10.0) -> "SecureProxy":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", 0))
                sock.listen(64)
                sock.setblocking(False)
                self._listener = sock
                self.port = sock.getsockname()[1]
                self._accepting = loop.create_task(self._accept())
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="secure-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            raise ProxyError(f"the proxy did not start: {failure[0] if failure else 'timeout'}")
        self._note(f"listening on {self.bootstrap}, broker 127.0.0.1:{self.upstream_port}")
        return self

    def close(self, timeout: float = 10.0):
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shutdown():
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
            self._listener.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        if thread.is_alive():
            raise ProxyError("the proxy's thread did not stop")

    # ---- per connection

    def _count(self, fn):
        with self.lock:
            fn(self.stats)

    async def _accept(self):
        """Accepts connections; each is served by its own task. (Not `asyncio.start_server`:
        its `ssl=` hides failed handshakes, and a later `start_tls` races the client's
        ClientHello, which the plain stream may have read already.)"""
        loop = asyncio.get_running_loop()
        while True:
            sock, peer = await loop.sock_accept(self._listener)
            def accepted(s: Stats):
                s.connections += 1
                s.handshaking += 1
            self._count(accepted)
            task = loop.create_task(self._serve(sock, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket, peer):
        loop = asyncio.get_running_loop()
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        reader = asyncio.StreamReader(limit=MAX_FRAME)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=self._ctx, ssl_handshake_timeout=10)
        except (ssl.SSLError, OSError, asyncio.TimeoutError, ConnectionError) as exc:
            reason = f"{type(exc).__name__}: {exc}"

            def failed(s: Stats):
                s.handshaking -= 1
                s.tls_failures.append(reason)
            self._count(failed)
            self._note(f"{peer}: TLS handshake failed: {reason}")
            sock.close()
            return
        except asyncio.CancelledError:
            sock.close()
            raise
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)

        def handshaken(s: Stats):
            s.handshaking -= 1
            s.tls_handshakes += 1
        self._count(handshaken)
        try:
            user, upstream = await self._authenticate(peer, reader, writer)
            if user is None:
                return
            if upstream is None:
                upstream = await self._connect_upstream(peer)
                if upstream is None:
                    return
            self._count(lambda s: setattr(s, "forwarding", s.forwarding + 1))
            await self._pipe(reader, writer, *upstream)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except ValueError as exc:  # a request the proxy cannot read
            self._note(f"{peer}: unreadable request: {exc}")
        finally:
            for w in ([writer] + ([upstream[1]] if upstream else [])):
                w.close()

    async def _connect_upstream(self, peer):
        try:
            return await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError as exc:
            self._count(lambda s: s.upstream_failures.append(repr(exc)))
            self._note(f"{peer}: cannot reach the broker: {exc!r}")
            return None

    async def _authenticate(self, peer, reader, writer):
        """Serves the connection's requests until SASL succeeds: (username, upstream
        connection if ApiVersions opened one), or (None, upstream) when it was refused."""
        upstream = None
        mechanism: str | None = None  # accepted by SaslHandshake
        scram: ScramServer | None = None
        legacy = False  # SaslHandshake v0: the tokens follow as bare size-prefixed frames
        while True:
            data = await read_frame(reader)
            if data is None:
                return None, upstream
            if legacy:
                user, answer, done = self._sasl_step(peer, mechanism, scram, data, "handshake v0")
                if answer is None:  # refused: a v0 client only learns it from the close
                    return None, upstream
                await send_frame(writer, answer)
                if done:
                    return user, upstream
                continue
            req = parse_request(data)
            self._count(lambda s: s.versions.setdefault(req.api_key, set()).add(req.api_version))
            if req.api_key == API_VERSIONS:
                if upstream is None:
                    upstream = await self._connect_upstream(peer)
                    if upstream is None:
                        return None, None
                up_reader, up_writer = upstream
                await send_frame(up_writer, data)
                answer = await read_frame(up_reader)
                if answer is None:
                    return None, upstream
                body, changed = answer[4:], False
                try:
                    keys = api_versions_keys(body, req.api_version) if body[:2] == b"\x00\x00" else {}
                    body, changed = api_versions_with_sasl(body, req.api_version)
                except ValueError as exc:
                    self._note(f"{peer}: cannot read the broker's ApiVersions v{req.api_version}: {exc}")
                    keys = {}

                def seen(s, keys=keys, changed=changed):
                    for k in SASL_VERSIONS:
                        s.broker_sasl_versions[k] = keys.get(k)
                    s.api_versions_rewritten += changed
                self._count(seen)
                await send_frame(writer, answer[:4] + body)
            elif req.api_key == SASL_HANDSHAKE:
                asked = req.body.nullable_string()
                self._count(lambda s: s.mechanisms.update([asked]))
                ok = asked in MECHANISMS and mechanism is None
                error = NONE if ok else UNSUPPORTED_SASL_MECHANISM
                await send_frame(writer, sasl_handshake_response(req.correlation_id, error))
                if not ok:
                    self._note(f"{peer}: mechanism {asked!r} refused")
                    return None, upstream
                mechanism = asked
                if mechanism in SCRAM_HASHES:
                    scram = ScramServer(mechanism, self.users, self.scram_salts)
                legacy = req.api_version == 0
            elif req.api_key == SASL_AUTHENTICATE:
                if mechanism is None:
                    await send_frame(writer, sasl_authenticate_response(
                        req.correlation_id, req.api_version, ILLEGAL_SASL_STATE,
                        "SaslAuthenticate before SaslHandshake"))
                    return None, upstream
                token = req.body.compact_bytes() if req.api_version >= 2 else req.body.bytes32()
                user, answer, done = self._sasl_step(peer, mechanism, scram, token,
                                                     f"SaslAuthenticate v{req.api_version}")
                if answer is None:
                    await send_frame(writer, sasl_authenticate_response(
                        req.correlation_id, req.api_version, SASL_AUTHENTICATION_FAILED,
                        "Authentication failed: Invalid username or password"))
                    return None, upstream
                await send_frame(writer, sasl_authenticate_response(
                    req.correlation_id, req.api_version, NONE, None, answer))
                if done:
                    return user, upstream
            else:
                self._count(lambda s: s.refused_before_auth.append(req.api_key))
                self._note(f"{peer}: api key {req.api_key} v{req.api_version} before authentication: closed")
                return None, upstream

    def _sasl_step(self, peer, mechanism: str, scram: ScramServer | None, token: bytes,
                   how: str) -> tuple[str | None, bytes | None, bool]:
        """One client token of `mechanism`: (username, the server's answer, whether the
        exchange is over and succeeded); the answer is None when the client is refused."""
        how = f"{mechanism}, {how}"
        if scram is None:
            user = self._check(peer, token, how)
            return user, (b"" if user else None), user is not None
        try:
            answer = scram.step(token)
        except ScramError as exc:
            name = exc.user if exc.user is not None else "<malformed SCRAM message>"
            self._count(lambda s: s.rejected.update([name]))
            self._note(f"{peer}: {name} refused: {exc} ({how})")
            return None, None, False
        if not scram.done:
            return scram.user, answer, False
        self._succeeded(peer, mechanism, scram.user, how)
        return scram.user, answer, True

    def _succeeded(self, peer, mechanism: str, user: str, how: str):
        def counted(s: Stats):
            s.authenticated.update([user])
            s.logins.update([(mechanism, user)])
        self._count(counted)
        self._note(f"{peer}: {user} authenticated ({how})")

    def _check(self, peer, token: bytes, how: str) -> str | None:
        creds = plain_credentials(token)
        if creds is not None and creds[0] in self.users and self.users[creds[0]] == creds[1]:
            self._succeeded(peer, "PLAIN", creds[0], how)
            return creds[0]
        name = creds[0] if creds else "<malformed PLAIN token>"
        self._count(lambda s: s.rejected.update([name]))
        self._note(f"{peer}: {name} refused: wrong username or password ({how})")
        return None

    @staticmethod
    async def _pipe(c_reader, c_writer, u_reader, u_writer):
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter):
            while True:
                data = await src.read(65536)
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        tasks = [asyncio.ensure_future(copy(c_reader, u_writer)),
                 asyncio.ensure_future(copy(u_reader, c_writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def send_frame(writer: asyncio.StreamWriter, payload: bytes):
    """Writes `payload` as one size-prefixed frame and waits until it is sent."""
    writer.write(frame(payload))
    await writer.drain()


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One size-prefixed frame, or None at a clean end of stream."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    size = struct.unpack(">i", head)[0]
    if not 0 <= size <= MAX_FRAME:
        raise ConnectionError(f"frame size {size}")
    return await reader.readexactly(size)
