"""A real Mosquitto broker on a free loopback port, in a temporary folder of its own, and
the little MQTT client the tests read it with.

Debian's `mosquitto` (the Makefile installs it when missing). Each broker has its own
config: persistence off unless asked (a fresh broker holds nothing), its log in its
folder (connections are logged: a test counts who connected). Under CI=true a missing
mosquitto is a failure, never a skip (the fixture in tests/channels/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import orjson
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.support.server import timeout

BINARY = "/usr/sbin/mosquitto"


class MosquittoMissingError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    """A listener's certificate and key, and the authority that signed it (PEM files)."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def make(cls, folder: Path) -> Tls:
        """A throwaway authority and a certificate for 127.0.0.1 signed by it."""
        from datetime import UTC, datetime, timedelta
        from ipaddress import IPv4Address

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)

        def name(text: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(name("tryvoha test CA"))
            .issuer_name(name("tryvoha test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name("127.0.0.1"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        tls = cls(folder / "cert.pem", folder / "key.pem", folder / "ca.pem")
        tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tls.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return tls


class Mosquitto:
    def __init__(
        self,
        folder: Path,
        persistence: bool = False,
        tls: Tls | None = None,
        port: int | None = None,
    ) -> None:
        if not os.path.exists(BINARY) and shutil.which("mosquitto") is None:
            raise MosquittoMissingError("mosquitto is not installed (apt-get install mosquitto)")
        self.folder = folder
        self.persistence = persistence
        self.tls = tls
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "mosquitto.log"

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "user root" if os.geteuid() == 0 else "",
        ]
        if self.tls is not None:
            lines += [f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
        path = self.folder / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> Mosquitto:
        binary = BINARY if os.path.exists(BINARY) else str(shutil.which("mosquitto"))
        self.proc = subprocess.Popen(
            [binary, "-c", str(self._config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout(10)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}{self._log_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.02)
        raise TimeoutError("mosquitto did not listen")

    def _log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def connections(self, prefix: str) -> int:
        """How many clients whose id starts with `prefix` connected so far (its log)."""
        return sum(f" as {prefix}" in line for line in self._log_text().splitlines())

    def kill(self) -> None:
        """SIGKILL: the broker and everything it held in memory are gone."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


# -- reading the broker ------------------------------------------------------------------


def client(broker: Mosquitto, **kwargs: object) -> aiomqtt.Client:
    """A client of the broker (over TLS, trusting its authority, when it has TLS)."""
    if broker.tls is not None:
        kwargs["tls_context"] = ssl.create_default_context(cafile=str(broker.tls.ca))
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=f"test-{secrets.token_hex(4)}",
        protocol=aiomqtt.ProtocolVersion.V5,
        **kwargs,  # type: ignore[arg-type]
    )


async def retained(broker: Mosquitto, *filters: str) -> dict[str, bytes]:
    """Every retained message under these filters, as a new subscriber gets them: read up
    to a marker published after subscribing (the broker sends retained messages first)."""
    async with client(broker) as c:
        marker = f"test/marker/{secrets.token_hex(4)}"
        subs = [(f, SubscribeOptions(qos=0)) for f in (*filters, marker)]
        await c.subscribe(subs)
        await c.publish(marker, b"m", qos=1)
        found: dict[str, bytes] = {}
        async with asyncio.timeout(timeout(10)):
            async for message in c.messages:
                topic = message.topic.value
                if topic == marker:
                    return found
                payload = message.payload
                assert isinstance(payload, bytes)
                if payload:
                    found[topic] = payload
    raise AssertionError("unreachable")


@dataclass
class Heard:
    """Every message a subscriber got after subscribing, in order: (topic, payload, arrival
    time); the retained messages it got for subscribing are apart."""

    messages: list[tuple[str, bytes, float]] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]


@contextlib.asynccontextmanager
async def listening(broker: Mosquitto, *filters: str) -> AsyncIterator[Heard]:
    """A subscriber that records everything under the filters until the block ends."""
    heard = Heard()
    async with client(broker) as c:
        await c.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])

        async def read() -> None:
            async for message in c.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                if message.retain:  # sent for subscribing: what the broker held then
                    heard.retained[message.topic.value] = payload
                else:
                    heard.messages.append((message.topic.value, payload, time.monotonic()))

        task = asyncio.create_task(read())
        try:
            yield heard
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


# -- what the broker holds, against what the server says ---------------------------------


def region_states(held: dict[str, bytes], prefix: str = "tryvoha") -> dict[str, dict[str, str]]:
    """The retained region payloads as GET /api/v1/state lists regions: the non-clear
    states of each region that has any."""
    from tryvoha.protocol import mqtt as wire

    topics = wire.Topics(prefix)
    found: dict[str, dict[str, str]] = {}
    for topic, payload in held.items():
        region_id = topics.region_of(topic)
        if region_id is None:
            continue
        body = orjson.loads(payload)
        assert body["region_id"] == region_id
        states = {t: s for t, s in body["states"].items() if s != "clear"}
        if states:
            found[region_id] = states
    return found


def mismatch(held: dict[str, bytes], state: dict[str, object], prefix: str = "tryvoha") -> str:
    """Why the broker's retained state is not the server's (`GET /api/v1/state`'s body);
    empty when it is: every non-clear region equal, every oblast and the country present,
    `status` online, and `oblasts.json` at the state's seq or later."""
    from tryvoha.data import region_tree
    from tryvoha.domain.regions import Level
    from tryvoha.protocol import mqtt as wire

    topics = wire.Topics(prefix)
    tree = region_tree()
    problems = []
    if region_states(held, prefix) != state["regions"]:
        problems.append(f"regions {region_states(held, prefix)} != {state['regions']}")
    top = [r.id for r in tree if r.level in (Level.COUNTRY, Level.OBLAST)]
    missing = [r for r in top if topics.region(r) not in held]
    if missing:
        problems.append(f"{len(missing)} oblast-level topics missing")
    if held.get(topics.status) != b"online":
        problems.append(f"status {held.get(topics.status)!r}")
    oblasts = held.get(topics.oblasts_json)
    if (
        oblasts is None
        or orjson.loads(oblasts)["oblasts"] != held.get(topics.oblasts, b"").decode()
    ):
        problems.append("oblasts and oblasts.json differ")
    return "; ".join(problems)


async def until_right(
    broker: Mosquitto, state: Callable[[], dict[str, object]], seconds: float = 10
) -> dict[str, bytes]:
    """What the broker holds, once it matches the server's state (polled)."""
    deadline = time.monotonic() + timeout(seconds)
    why = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(aiomqtt.MqttError):
            held = await retained(broker, "tryvoha/#")
            why = mismatch(held, state())
            if not why:
                return held
        await asyncio.sleep(0.1)
    raise AssertionError(f"the broker's retained state is not the server's: {why}")
