from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.missing import missing
from tests.support.nats import NatsMissingError, NatsServer
from tests.support.postgres import TEMPLATE, Cluster, PostgresMissingError, in_thread, run_sync
from tests.support.push import PushReceiver
from tests.support.server import ServerProcess
from tryvoha.data import region_tree
from tryvoha.domain.regions import RegionId, RegionTree

LVIV = RegionId("UA46000000000026241")
KYIV_CITY = RegionId("UA80000000000093317")
KYIV_OBLAST = RegionId("UA32000000000030281")
KHARKIV = RegionId("UA63000000000041885")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tree() -> RegionTree:
    return region_tree()


STORES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the session, with a migrated template database."""
    try:
        cluster = Cluster().start()
    except PostgresMissingError as e:
        missing(str(e))
    try:
        from tryvoha.store.schema import upgrade

        run_sync(cluster.admin(f"CREATE DATABASE {TEMPLATE}"))
        in_thread(upgrade, cluster.url(TEMPLATE))
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every test that uses a store runs on each backend."""
    return str(request.param)


class StoreMaker:
    """New, migrated stores of one kind: SQLite files in a folder, or PostgreSQL databases
    copied from the migrated template (each with an epoch of its own, as a migration gives)."""

    def __init__(self, kind: str, folder: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.folder = folder
        self.request = request
        self.made: list[str] = []

    def __call__(self, name: str = "tryvoha") -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / name}.db"
        cluster: Cluster = self.request.getfixturevalue("postgres")
        epoch = secrets.token_hex(4)
        url = cluster.database(TEMPLATE, f"UPDATE meta SET value = '{epoch}' WHERE key = 'epoch'")
        self.made.append(url)
        return url

    def drop(self) -> None:
        if self.made:
            cluster: Cluster = self.request.getfixturevalue("postgres")
            for url in self.made:
                cluster.drop_database(url)


@pytest.fixture
def make_store_url(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StoreMaker]:
    """More stores of this test's kind (a test that compares two servers)."""
    maker = StoreMaker(store_kind, tmp_path, request)
    yield maker
    maker.drop()


@pytest.fixture
def store_url(make_store_url: StoreMaker) -> str:
    """A new, migrated store of this test's own."""
    return make_store_url()


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `tryvoha serve` on 127.0.0.1, a free port, its own SQLite file."""
    proc = ServerProcess(store_url, cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A nats-server with JetStream of this test's own, on a free port, storage in a temp dir."""
    try:
        server = NatsServer()
    except NatsMissingError as e:
        missing(str(e))
    try:
        yield server.start()
    finally:
        server.remove()


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    """A browser's push service on loopback: it decrypts what it is sent."""
    with PushReceiver() as rx:
        yield rx


@pytest.fixture
def push_server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose Web Push may go to loopback (the receiver above)."""
    proc = ServerProcess(store_url, ["--push-allow-private"], cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()
