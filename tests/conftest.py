from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tryvoha.db'}"


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `tryvoha serve` on 127.0.0.1, a free port, its own SQLite file."""
    proc = ServerProcess(store_url, cwd=tmp_path)
    proc.start()
    yield proc
    proc.stop()
