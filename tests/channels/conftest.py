from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.missing import missing
from tests.support.mosquitto import Mosquitto, MosquittoMissingError


def new_broker(folder: Path, **kwargs: object) -> Mosquitto:
    """A broker of the test's own; a missing mosquitto fails under CI, else skips."""
    try:
        return Mosquitto(folder, **kwargs)  # type: ignore[arg-type]
    except MosquittoMissingError as e:
        missing(str(e))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto (no persistence) on a free port."""
    b = new_broker(tmp_path / "broker").start()
    yield b
    b.stop()
